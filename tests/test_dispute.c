/* test_dispute.c: disputes that locate (issue 17, docs/dispute.md). Two
 * recipes that compute differently at one thread than at two are proved at
 * two threads and replayed at one, as a validator with fewer cores would:
 * one scales the optimizer's step by the thread count without reporting it,
 * the other perturbs one layer's activation. The validator's dispute must
 * find the first step whose logged result differs, the miner's trace of the
 * same steps at two threads must reproduce its own log, and comparing the
 * two must name the optimizer's update in the first case and that layer
 * and operation in the second. An honest proof gives no dispute, and hostile
 * or mismatched trace documents are refused with their reason codes. */
#include "testutil.h"

#include <jansson.h>

#include "judge/trace.h"

#define OUT_CAP (256u << 10)

struct fx {
	char *tmp;
	char data[FS_PATH_MAX], hidden[FS_PATH_MAX], state[FS_PATH_MAX], clone[FS_PATH_MAX], key[FS_PATH_MAX];
	char lr_tar[FS_PATH_MAX], lr_vtrace[FS_PATH_MAX], lr_mtrace[FS_PATH_MAX];
	char *out;
};

static struct fx g;

#define run(want, ...) tu_run_want(g.out, OUT_CAP, (want), __VA_ARGS__)

static void fx_file(char *out, const char *name)
{
	snprintf(out, FS_PATH_MAX, "%s/%s", g.tmp, name);
}

/* A patch made by a sed edit of one recipe file in the miner's clone,
 * proved at two threads into NAME.tar with prove's extra flags. */
static void prove_patched_with(const char *flags, const char *name, const char *file, const char *sed,
			       char tar[FS_PATH_MAX])
{
	char patch[FS_PATH_MAX], why[FS_PATH_MAX], dir[FS_PATH_MAX];

	snprintf(patch, sizeof patch, "%s/%s.diff", g.tmp, name);
	snprintf(why, sizeof why, "%s/%s.md", g.tmp, name);
	snprintf(dir, sizeof dir, "%s/%s", g.tmp, name);
	snprintf(tar, FS_PATH_MAX, "%s/%s.tar", g.tmp, name);
	run(0, "cd %s && sed -i -e '%s' %s && git diff > %s && git checkout -q -- . && test -s %s && echo '%s' > %s",
	    g.clone, sed, file, patch, patch, name, why);
	run(0, "%s prove --recipe %s/recipe --king recipe-v0.1.0 --patch %s --rationale %s --key %s --data %s"
	       " --scale tiny --out %s --tar %s --mock-attestation --threads 2 --json %s",
	    tu_karpa(), g.state, patch, why, g.key, g.data, dir, tar, flags);
}

static void prove_patched(const char *name, const char *file, const char *sed, char tar[FS_PATH_MAX])
{
	prove_patched_with("", name, file, sed, tar);
}

static json_t *dispute_validator(const char *tar, const char *trace)
{
	run(0, "%s dispute %s %s --threads 1 --out %s --json", tu_karpa_san(), g.state, tar, trace);
	return tu_out_json(g.out);
}

static json_t *dispute_miner(const char *tar, int seg, long long to, const char *trace)
{
	run(0, "%s dispute trace %s --recipe %s/recipe --data %s --segment %d --to %lld --threads 2 --out %s --json",
	    tu_karpa_san(), tar, g.state, g.data, seg, to, trace);
	return tu_out_json(g.out);
}

static json_t *compare(const char *a, const char *b)
{
	run(0, "%s dispute compare %s %s --json", tu_karpa_san(), a, b);
	return tu_out_json(g.out);
}

static int setup_group(void **unused)
{
	(void)unused;
	memset(&g, 0, sizeof g);
	g.tmp = tu_mkdtemp();
	g.out = malloc(OUT_CAP);
	assert_non_null(g.out);
	fx_file(g.data, "data");
	fx_file(g.hidden, "hidden");
	fx_file(g.state, "state");
	fx_file(g.clone, "clone");
	fx_file(g.key, "miner.key");
	run(0, "%s data prepare --scale tiny --out %s --hidden-out %s", tu_karpa(), g.data, g.hidden);
	run(0, "%s validator init %s --data %s --hidden %s --scale tiny", tu_karpa(), g.state, g.data, g.hidden);
	run(0, "%s keygen --out %s", tu_karpa(), g.key);
	run(0, "git clone -q %s/recipe %s", g.state, g.clone);
	return 0;
}

static int teardown_group(void **unused)
{
	(void)unused;
	tu_rmdir(g.tmp);
	free(g.out);
	return 0;
}

/* The update's step is halved at one thread and the reported lr is the
 * schedule's: step 0's loss and lr match the log, its update does not, so
 * the log first differs at step 1 and only the traces can say why. */
static void test_hidden_lr_is_the_optimizer(void **unused)
{
	json_t *v, *m, *c, *first;

	(void)unused;
	prove_patched("lr", "recipe.c", "s/gpt_adamw(g, rate, step + 1);/gpt_adamw(g, r->threads > 1 ? rate : 0.5f * rate, step + 1);/",
		      g.lr_tar);
	fx_file(g.lr_vtrace, "lr.validator.json");
	fx_file(g.lr_mtrace, "lr.miner.json");
	v = dispute_validator(g.lr_tar, g.lr_vtrace);
	assert_false(json_is_true(json_object_get(v, "agrees")));
	assert_int_equal((int)tu_jnum(v, "segment"), 0);
	assert_int_equal((int)tu_jnum(v, "from_step"), 0);
	assert_int_equal((int)tu_jnum(json_object_get(v, "mismatch"), "step"), 1);
	assert_string_equal(tu_jstr(json_object_get(v, "mismatch"), "what"), "loss");
	assert_int_equal((int)tu_jnum(v, "trace_steps"), 2);

	m = dispute_miner(g.lr_tar, 0, 1, g.lr_mtrace);
	assert_true(json_is_true(json_object_get(m, "agrees"))); /* the miner's machine reproduces its own log */
	assert_int_equal((int)tu_jnum(m, "trace_steps"), 2);

	c = compare(g.lr_vtrace, g.lr_mtrace);
	first = json_object_get(c, "first");
	assert_true(json_is_true(json_object_get(c, "differ")));
	assert_int_equal((int)tu_jnum(first, "step"), 0);
	assert_string_equal(tu_jstr(first, "phase"), "opt");
	assert_false(json_is_true(json_object_get(first, "lr_differs")));
	print_message("   %s\n", tu_jstr(c, "summary"));
	json_decref(v);
	json_decref(m);
	json_decref(c);

	/* A trace compared with itself agrees on every step. */
	c = compare(g.lr_vtrace, g.lr_vtrace);
	assert_false(json_is_true(json_object_get(c, "differ")));
	assert_int_equal((int)tu_jnum(c, "steps_compared"), 2);
	json_decref(c);
}

/* `dispute trace` of the first bundle with opts after the usual ones
 * (later options win): refused with code, no trace written and no work
 * folder left in its TMPDIR. */
static void expect_trace_refused(const char *opts, const char *code)
{
	char tmp[FS_PATH_MAX], trace[FS_PATH_MAX];
	json_t *j;

	fx_file(tmp, "refused.tmp");
	fx_file(trace, "refused.json");
	run(0, "rm -rf %s && mkdir %s", tmp, tmp);
	run(1, "TMPDIR=%s %s dispute trace %s --recipe %s/recipe --data %s --segment 0 --to 1 --threads 2 --out %s"
	       " --json %s",
	    tmp, tu_karpa_san(), g.lr_tar, g.state, g.data, trace, opts);
	j = tu_out_json(g.out);
	if (strcmp(tu_jstr(j, "code"), code))
		fail_msg("%s: got %s (%s), want %s", opts, tu_jstr(j, "code"), tu_jstr(j, "message"), code);
	json_decref(j);
	assert_false(fs_exists(trace));
	assert_int_equal(tu_entries(tmp), 0);
}

/* A dispute that cannot be about this bundle is refused before any replay:
 * a segment or step the proof does not have, a side name that would not
 * fit a file name, data other than the proof trained on (the validator's
 * hidden split, here), and a recipe repository whose king tag is missing
 * or names another commit than the bundle's base, even one with the same
 * tree. */
static void test_mismatched_disputes_are_refused(void **unused)
{
	char opts[4 * FS_PATH_MAX];

	(void)unused;
	expect_trace_refused("--side 'Ev il'", "dispute.bad_opts");
	expect_trace_refused("--segment 1000", "dispute.bad_opts");
	expect_trace_refused("--to 100000", "dispute.bad_opts");
	snprintf(opts, sizeof opts, "--data %s", g.hidden);
	expect_trace_refused(opts, "dispute.data_mismatch");
	run(0, "git clone -q %s/recipe %s/moved && cd %s/moved && git -c user.name=t -c user.email=t@t commit -q"
	       " --allow-empty -m moved && git tag -f recipe-v0.1.0 >/dev/null",
	    g.state, g.tmp, g.tmp);
	snprintf(opts, sizeof opts, "--recipe %s/moved", g.tmp);
	expect_trace_refused(opts, "dispute.king");
	run(0, "git clone -q %s/recipe %s/untagged && git -C %s/untagged tag -d recipe-v0.1.0 >/dev/null", g.state,
	    g.tmp, g.tmp);
	snprintf(opts, sizeof opts, "--recipe %s/untagged", g.tmp);
	expect_trace_refused(opts, "dispute.king");
}

/* Layer 1's GELU output moves by a part in a thousand at one thread: too
 * little to change a logged loss's bits for the first steps of any
 * segment, so the short replays pass where they should not, and the whole
 * replays of the bisection catch the first segment by its end checkpoint.
 * The trace names that layer and operation at the segment's first step,
 * not layer 0 and not the loss. */
static void test_one_layer_is_named(void **unused)
{
	char tar[FS_PATH_MAX], vt[FS_PATH_MAX], mt[FS_PATH_MAX];
	json_t *v, *m, *c, *first, *mis;

	(void)unused;
	prove_patched("layer", "gpt.c",
		      "s/gelu_forward(fchg, fch, (size_t)N \\* 4 \\* C);/&\\n\\t\\tif (l == 1 \\&\\& g->threads == 1) fchg[7] *= 1.001f;/",
		      tar);
	fx_file(vt, "layer.validator.json");
	fx_file(mt, "layer.miner.json");
	v = dispute_validator(tar, vt);
	mis = json_object_get(v, "mismatch");
	print_message("   replays: %s\n", tu_jstr(v, "checked"));
	assert_non_null(strstr(tu_jstr(v, "checked"), "0:whole:differ"));
	assert_int_equal((int)tu_jnum(v, "segment"), 0);
	assert_string_equal(tu_jstr(mis, "what"), "digest");
	assert_int_equal((int)tu_jnum(v, "to_step"), (int)tu_jnum(mis, "step"));
	m = dispute_miner(tar, 0, (long long)tu_jnum(v, "to_step") - 1, mt);
	assert_true(json_is_true(json_object_get(m, "agrees")));
	c = compare(vt, mt);
	first = json_object_get(c, "first");
	assert_int_equal((int)tu_jnum(first, "step"), 0);
	assert_string_equal(tu_jstr(first, "phase"), "fwd");
	assert_string_equal(tu_jstr(first, "where"), "L1");
	assert_string_equal(tu_jstr(first, "op"), "gelu");
	print_message("   %s\n", tu_jstr(c, "summary"));
	json_decref(v);
	json_decref(m);
	json_decref(c);
}

/* An honest proof: every replay the search runs reproduces the log (a few
 * steps of every segment, then the bisection's whole segments). */
static void test_honest_proof_has_no_dispute(void **unused)
{
	char tar[FS_PATH_MAX], vt[FS_PATH_MAX];
	json_t *v;

	(void)unused;
	prove_patched("honest", "recipe.c", "1s|^|/* an honest comment */\\n|", tar);
	fx_file(vt, "honest.validator.json");
	v = dispute_validator(tar, vt);
	assert_true(json_is_true(json_object_get(v, "agrees")));
	assert_int_equal((int)tu_jnum(v, "segment"), -1);
	assert_true(tu_jnum(v, "replays") > tu_jnum(v, "segments"));
	assert_null(strstr(tu_jstr(v, "checked"), "differ"));
	json_decref(v);
}

/* A bundle whose patch check 1 refuses is not built by a dispute either:
 * an include by absolute path (harmless here, /dev/null; STATE/secret in
 * an attack) is refused before any compiler reads it, and nothing was
 * replayed. The miner's own prove does not scan, so the bundle exists. */
static void test_scan_comes_before_any_build(void **unused)
{
	char tar[FS_PATH_MAX], vt[FS_PATH_MAX];

	(void)unused;
	prove_patched("absinc", "recipe.c", "1s|^|#include \"/dev/null\"\\n|", tar);
	fx_file(vt, "absinc.validator.json");
	run(1, "%s dispute %s %s --threads 1 --out %s --json", tu_karpa_san(), g.state, tar, vt);
	assert_non_null(strstr(g.out, "judge.forbidden_include"));
	assert_non_null(strstr(g.out, "/dev/null"));
	assert_false(fs_exists(vt));
}

/* A bundle whose miner holds its checkpoints back (docs/bundle.md): a
 * dispute may replay any segment, so it needs them all, and with them it
 * searches as for any bundle. */
static void test_held_bundle_is_disputed_with_its_checkpoints(void **unused)
{
	char tar[FS_PATH_MAX], vt[FS_PATH_MAX];
	json_t *v;

	(void)unused;
	prove_patched_with("--hold", "held", "recipe.c", "1s|^|/* a comment, held */\\n|", tar);
	fx_file(vt, "held.validator.json");
	run(1, "%s dispute %s %s --threads 1 --out %s --json", tu_karpa_san(), g.state, tar, vt);
	assert_non_null(strstr(g.out, "dispute.held_needed"));
	run(0, "%s dispute %s %s --held %s/held.held --threads 1 --out %s --json", tu_karpa_san(), g.state, tar, g.tmp, vt);
	v = tu_out_json(g.out);
	assert_true(json_is_true(json_object_get(v, "agrees")));
	assert_true(tu_jnum(v, "replays") > tu_jnum(v, "segments"));
	json_decref(v);
	/* one segment needs only its start: with segment 2's start alone (what
	 * a validator keeps of a rejection it drew), segment 2 runs and the
	 * search does not */
	run(0, "mkdir -p %s/held-one/checkpoints && cp %s/held.held/checkpoints/step_000008.ckpt %s/held-one/checkpoints/",
	    g.tmp, g.tmp, g.tmp);
	run(1, "%s dispute %s %s --held %s/held-one --threads 1 --out %s --json", tu_karpa_san(), g.state, tar, g.tmp, vt);
	assert_non_null(strstr(g.out, "dispute.held_needed"));
	run(0, "%s dispute %s %s --held %s/held-one --segment 2 --threads 1 --out %s --json", tu_karpa_san(), g.state, tar,
	    g.tmp, vt);
	run(1, "%s dispute %s %s --held %s/held-one --segment 3 --threads 1 --out %s --json", tu_karpa_san(), g.state, tar,
	    g.tmp, vt);
	assert_non_null(strstr(g.out, "step_000012.ckpt"));
}

/* The judge, replaying the first bundle at one thread, rejects it as
 * before and keeps its own trace of the failing segment in the store, named
 * in the verdict's message, for the miner to compare with. */
static void test_judge_keeps_its_trace(void **unused)
{
	char path[FS_PATH_MAX], *hex;
	struct trace_doc d;
	struct kerr err = { { 0 }, { 0 } };
	json_t *j;

	(void)unused;
	tu_fix_secret(g.out, OUT_CAP, g.state);
	run(0, "%s noise-floor %s --seeds 2 --threads 2 --json", tu_karpa(), g.state);
	run(0, "%s judge %s %s --threads 1 --json", tu_karpa_san(), g.state, g.lr_tar);
	j = tu_out_json(g.out);
	assert_string_equal(tu_jstr(j, "code"), "judge.replay_mismatch");
	print_message("   %s\n", tu_jstr(j, "reason"));
	hex = strstr(tu_jstr(j, "reason"), "trace is kept as ");
	assert_non_null(hex);
	snprintf(path, sizeof path, "%s/store/%.64s", g.state, hex + strlen("trace is kept as "));
	assert_int_equal(trace_doc_read(path, &d, &err), 0);
	assert_string_equal(d.side, "validator");
	assert_int_equal(d.threads, 1);
	assert_true(d.nsteps >= 1 && d.nsteps <= 3);
	trace_doc_free(&d);
	json_decref(j);
}

/* ---- hostile and mismatched documents (in process) ------------------- */

static char *dump(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);

	assert_non_null(s);
	return s;
}

static void expect_parse(const char *text, const char *code)
{
	struct trace_doc d;
	struct kerr err = { { 0 }, { 0 } };
	int rc = trace_doc_parse(text, strlen(text), &d, &err);

	if (!code) {
		if (rc < 0)
			fail_msg("parse failed: %s: %s", err.code, err.msg);
		trace_doc_free(&d);
		return;
	}
	if (rc == 0)
		fail_msg("parsed a document that should fail with %s", code);
	assert_string_equal(err.code, code);
}

/* Parses mut (taking it) and compares a with it: it must fail with code. */
static void expect_compare(const struct trace_doc *a, json_t *mut, const char *code)
{
	struct trace_doc b;
	struct trace_diff d;
	struct kerr err = { { 0 }, { 0 } };
	char *s = dump(mut);

	assert_int_equal(trace_doc_parse(s, strlen(s), &b, &err), 0);
	assert_int_equal(trace_compare(a, &b, &d, &err), -1);
	assert_string_equal(err.code, code);
	trace_doc_free(&b);
	free(s);
	json_decref(mut);
}

static void test_hostile_traces_are_refused(void **unused)
{
	struct trace_doc a;
	struct kerr err = { { 0 }, { 0 } };
	json_error_t je;
	json_t *o, *t0, *mut;
	char *text, *s;
	size_t len;

	(void)unused;
	assert_int_equal(fs_read_all(g.lr_mtrace, TRACE_FILE_BYTES_MAX, &text, &len, &err), 0);
	expect_parse(text, NULL);
	/* truncated anywhere */
	for (size_t cut = 0; cut < len; cut += len / 17 + 1) {
		char *p = strndup(text, cut);
		expect_parse(p, "trace.bad");
		free(p);
	}
	o = json_loads(text, 0, &je);
	assert_non_null(o);
	t0 = json_array_get(json_object_get(json_array_get(json_object_get(o, "steps"), 0), "tensors"), 0);
	{
		const struct {
			const char *path, *value; /* a top-level key or a tensor field index */
		} muts[] = {
			{ "format", "\"karpa-trace/9\"" }, { "manifest_sha256", "\"xyz\"" }, { "threads", "0" },
			{ "segment", "-1" },		   { "from_step", "\"0\"" },	     { "side", "\"Ev il\"" },
			{ "steps", "{}" },		   { "t0", "\"../../etc\"" },	     { "t1", "-5" },
			{ "t3", "\"00\"" },		   { "t0", "\"fwd.L0..out\"" },	     { "t2", "\"big\"" },
		};
		for (size_t i = 0; i < sizeof muts / sizeof *muts; i++) {
			json_t *val = json_loads(muts[i].value, JSON_DECODE_ANY, &je);
			mut = json_deep_copy(o);
			if (muts[i].path[0] == 't' && muts[i].path[1] >= '0' && muts[i].path[1] <= '9') {
				json_t *t = json_array_get(
					json_object_get(json_array_get(json_object_get(mut, "steps"), 0), "tensors"), 0);
				json_array_set_new(t, (size_t)(muts[i].path[1] - '0'), val);
			} else {
				json_object_set_new(mut, muts[i].path, val);
			}
			s = dump(mut);
			expect_parse(s, "trace.bad");
			free(s);
			json_decref(mut);
		}
	}
	/* steps not consecutive */
	mut = json_deep_copy(o);
	json_object_set_new(json_array_get(json_object_get(mut, "steps"), 1), "step", json_integer(7));
	s = dump(mut);
	expect_parse(s, "trace.bad");
	free(s);
	json_decref(mut);
	/* a duplicated key */
	expect_parse("{\"format\":\"karpa-trace/1\",\"format\":\"karpa-trace/1\"}", "trace.bad");
	(void)t0;

	/* Documents that parse but do not belong together. */
	assert_int_equal(trace_doc_parse(text, len, &a, &err), 0);
	mut = json_deep_copy(o);
	json_object_set_new(mut, "manifest_sha256", json_string("0000000000000000000000000000000000000000000000000000000000000000"));
	expect_compare(&a, mut, "trace.other_bundle");
	mut = json_deep_copy(o);
	json_object_set_new(mut, "segment", json_integer(3));
	expect_compare(&a, mut, "trace.other_segment");
	mut = json_deep_copy(o);
	json_array_set_new(json_array_get(json_object_get(json_array_get(json_object_get(mut, "steps"), 0), "tensors"), 0),
			   0, json_string("fwd.model.embed.other"));
	expect_compare(&a, mut, "trace.layout");

	trace_doc_free(&a);
	json_decref(o);
	free(text);
}

/* The bound on a trace holds both ways: a reader refuses a document one
 * byte past TRACE_FILE_BYTES_MAX (whitespace after a valid one, so only
 * its size is wrong) before jansson builds anything from it, and a writer
 * refuses to make a document its reader would refuse, writing nothing.
 * The records are as long as a recipe can make them, about 126 bytes of
 * JSON each: 64 full steps stay under the bound and are written, 65 reach
 * it, 72 pass it with room. */
static void test_trace_size_bound(void **unused)
{
	static const char manifest[] = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";
	enum { NEAR_STEPS = 64, BIG_STEPS = 72 };
	char *tmp = tu_mkdtemp(), path[FS_PATH_MAX], *text, *padded = malloc(TRACE_FILE_BYTES_MAX + 1);
	struct recipe_trace_rec *recs = calloc(RECIPE_TRACE_MAX, sizeof *recs);
	struct trace_doc d;
	struct kerr err = { { 0 }, { 0 } };
	size_t len;

	(void)unused;
	assert_non_null(padded);
	assert_non_null(recs);
	for (size_t i = 0; i < RECIPE_TRACE_MAX; i++) {
		snprintf(recs[i].name, sizeof recs[i].name, "fwd.h%05zu.attention_out_projection.grad_weight", i);
		recs[i].n = RECIPE_TRACE_ELEMS_MAX - 1 - i;
		recs[i].l2 = -1.2345678901234567e-300;
		memset(recs[i].digest, 0xab, sizeof recs[i].digest);
	}
	snprintf(path, sizeof path, "%s/small.json", tmp);
	trace_doc_init(&d, manifest, "miner", 0, 0, 1);
	assert_int_equal(trace_doc_add(&d, 0, 3.5f, 1e-3f, recs, 4, &err), 0);
	assert_int_equal(trace_doc_write(path, &d, &err), 0);
	trace_doc_free(&d);
	assert_int_equal(fs_read_all(path, TRACE_FILE_BYTES_MAX, &text, &len, &err), 0);
	memcpy(padded, text, len);
	memset(padded + len, ' ', TRACE_FILE_BYTES_MAX + 1 - len);
	assert_int_equal(trace_doc_parse(padded, TRACE_FILE_BYTES_MAX, &d, &err), 0);
	assert_int_equal(d.nsteps, 1);
	trace_doc_free(&d);
	assert_int_equal(trace_doc_parse(padded, TRACE_FILE_BYTES_MAX + 1, &d, &err), -1);
	assert_string_equal(err.code, "trace.too_large");
	assert_int_equal(d.nsteps, 0);
	assert_null(d.steps);
	free(padded);
	free(text);

	/* under the byte bound but holding more values than a trace within
	 * the step and record bounds can: refused before it is parsed; one
	 * value fewer is parsed (and is no trace) */
	{
		size_t nv = TRACE_VALUES_MAX, blen = 2 * nv + 1;
		char *body = malloc(blen);

		assert_non_null(body);
		body[0] = '[';
		for (size_t v = 0; v < nv; v++) /* the array and nv zeros */
			memcpy(body + 1 + 2 * v, v + 1 < nv ? "0," : "0]", 2);
		assert_true(blen < TRACE_FILE_BYTES_MAX);
		assert_int_equal(trace_doc_parse(body, blen, &d, &err), -1);
		assert_string_equal(err.code, "trace.too_large");
		assert_non_null(strstr(err.msg, "JSON values"));
		memcpy(body + blen - 3, "]", 1); /* nv - 1 zeros */
		assert_int_equal(trace_doc_parse(body, blen - 2, &d, &err), -1);
		assert_string_equal(err.code, "trace.bad");
		free(body);
	}

	/* one a little under the bound is written, and read back whole */
	snprintf(path, sizeof path, "%s/near.json", tmp);
	trace_doc_init(&d, manifest, "miner", 0, 0, 1);
	for (int s = 0; s < NEAR_STEPS; s++)
		assert_int_equal(trace_doc_add(&d, s, 3.5f, 1e-3f, recs, RECIPE_TRACE_MAX, &err), 0);
	if (trace_doc_write(path, &d, &err) < 0)
		fail_msg("%d full steps: %s: %s", NEAR_STEPS, err.code, err.msg);
	trace_doc_free(&d);
	assert_int_equal(trace_doc_read(path, &d, &err), 0);
	assert_int_equal(d.nsteps, NEAR_STEPS);
	trace_doc_free(&d);
	assert_int_equal(unlink(path), 0);

	snprintf(path, sizeof path, "%s/big.json", tmp);
	trace_doc_init(&d, manifest, "miner", 0, 0, 1);
	for (int s = 0; s < BIG_STEPS; s++)
		assert_int_equal(trace_doc_add(&d, s, 3.5f, 1e-3f, recs, RECIPE_TRACE_MAX, &err), 0);
	assert_int_equal(trace_doc_write(path, &d, &err), -1);
	assert_string_equal(err.code, "trace.too_large");
	trace_doc_free(&d);
	assert_false(fs_exists(path));
	{
		char out[4096];

		tu_run_want(out, sizeof out, 0, "ls -A '%s'", tmp); /* no temporary left behind */
		assert_string_equal(out, "small.json\n");
	}
	free(recs);
	tu_rmdir(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hidden_lr_is_the_optimizer),
		cmocka_unit_test(test_mismatched_disputes_are_refused),
		cmocka_unit_test(test_one_layer_is_named),
		cmocka_unit_test(test_honest_proof_has_no_dispute),
		cmocka_unit_test(test_scan_comes_before_any_build),
		cmocka_unit_test(test_held_bundle_is_disputed_with_its_checkpoints),
		cmocka_unit_test(test_hostile_traces_are_refused),
		cmocka_unit_test(test_trace_size_bound),
		cmocka_unit_test(test_judge_keeps_its_trace),
	};

	return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
