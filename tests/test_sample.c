/* test_sample.c: the lineage's models. `karpa sample` on a tiny model
 * trained in the fixture (same seed same text, another seed another text,
 * greedy deterministic, tokens that decode, bad arguments exit 2, damaged
 * checkpoints refused with their codes), the draw itself (sample_pick),
 * and the crowning checkpoint of a king found in the content store
 * (lineage_model_path) and served by `karpa validator serve` at
 * GET /v1/kings/TAG/model: the bytes of the bundle's final.ckpt, 404 with
 * a reason for the first king and unknown tags, and each way a damaged
 * store is reported.
 *
 * The king is made as test_king.c makes one (a recorded submission and
 * king_merge on a stand-in recipe), its bundle's files stored as the judge
 * stores them (vstate_store_file), with the trained checkpoint as its
 * final.ckpt: the whole judge would cost minutes, and what is tested here
 * starts where the judge's store_bundle ends. One fixture for the group;
 * the cases run in order (the damage cases come last). */
#include "fixtures.h"
#include "service_fixture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "data/bpe.h"
#include "data/dataset.h"
#include "harness/sample.h"
#include "net/client.h"
#include "proof/bundle.h"
#include "sandbox/recipe_pipe.h"
#include "validator/expcorpus.h"
#include "validator/king.h"
#include "validator/kingsample.h"
#include "validator/lineage.h"
#include "validator/validator.h"

#define OUT_CAP (256u << 10)
#define TOKENS 24

static const char miner_hex[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
static const char patch_text[] = "diff --git a/gpt.c b/gpt.c\n"
				 "--- a/gpt.c\n"
				 "+++ b/gpt.c\n"
				 "@@ -1,2 +1,2 @@\n"
				 " /* gpt.c: a stand-in recipe */\n"
				 "-int gpt_steps = 1;\n"
				 "+int gpt_steps = 2;\n";

struct fx {
	char *tmp;
	char data[FS_PATH_MAX], hidden[FS_PATH_MAX], run[FS_PATH_MAX], ckpt[FS_PATH_MAX], state[FS_PATH_MAX];
	char ckpt_hex[HASH_HEX_BYTES];
	uint64_t ckpt_bytes;
	char crowned_id[EXPCORPUS_ID_BYTES];
	struct sf_service sv;
	char *out;
};

static struct fx g;

#define run(want, ...) tu_run_want(g.out, OUT_CAP, (want), __VA_ARGS__)

#define san_karpa sf_san_karpa

static int setup(void **unused)
{
	double t0 = tu_now_s();
	struct kerr err = { 0 };

	(void)unused;
	assert_int_equal(hash_init_lib(), 0);
	memset(&g, 0, sizeof g);
	g.tmp = tu_mkdtemp_own_cache();
	assert_non_null(g.out = malloc(OUT_CAP));
	snprintf(g.data, sizeof g.data, "%s/data", g.tmp);
	snprintf(g.hidden, sizeof g.hidden, "%s/hidden", g.tmp);
	snprintf(g.run, sizeof g.run, "%s/run", g.tmp);
	snprintf(g.ckpt, sizeof g.ckpt, "%s/run/final.ckpt", g.tmp);
	snprintf(g.state, sizeof g.state, "%s/state", g.tmp);
	run(0, "%s data prepare --scale tiny --out %s --hidden-out %s", tu_karpa(), g.data, g.hidden);
	run(0, "%s train --scale tiny --data %s --seed 1 --out %s --threads 2", tu_karpa(), g.data, g.run);
	assert_int_equal(hash_file_hex(g.ckpt, g.ckpt_hex, &g.ckpt_bytes, &err), 0);
	print_message("   fixture: tiny data and a trained tiny model in %.1f s\n", tu_now_s() - t0);
	return 0;
}

static int teardown(void **unused)
{
	(void)unused;
	sf_stop(&g.sv, SIGKILL);
	tu_rmdir(g.tmp);
	free(g.out);
	return 0;
}

/* ------------------------------------------------------------ the draw */

static void pick_is_greedy_at_zero_and_follows_softmax(void **unused)
{
	float lg[4] = { 0.0f, 1.0986123f /* ln 3 */, -INFINITY, 0.0f };
	float tie[3] = { 2.0f, 5.0f, 5.0f };
	struct kerr err = { 0 };
	struct rng r;
	uint16_t id = 99;
	int ones = 0, zeros = 0;

	(void)unused;
	rng_init(&r, 1, SAMPLE_RNG_PURPOSE, 0);
	assert_int_equal(sample_pick(tie, 3, 0.0, &r, &id, &err), 0);
	assert_int_equal(id, 1); /* the lowest id of a tie */
	/* Two ids with odds 1:3 (ids 2 and 3 held at -inf and 0 would break
	 * the count, so the row is two wide): about 3/4 of the draws are 1. */
	for (uint64_t i = 0; i < 4000; i++) {
		rng_init(&r, 5, SAMPLE_RNG_PURPOSE, i);
		assert_int_equal(sample_pick(lg, 2, 1.0, &r, &id, &err), 0);
		ones += id == 1;
		zeros += id == 0;
	}
	assert_int_equal(ones + zeros, 4000);
	assert_true(ones > 2850 && ones < 3150);
	/* a very low temperature is greedy in effect */
	rng_init(&r, 5, SAMPLE_RNG_PURPOSE, 0);
	assert_int_equal(sample_pick(lg, 2, 1e-6, &r, &id, &err), 0);
	assert_int_equal(id, 1);
	/* a non-finite logit stops the draw with a reason */
	assert_int_equal(sample_pick(lg, 3, 1.0, &r, &id, &err), -1);
	assert_string_equal(err.code, "sample.nonfinite");
	assert_int_equal(sample_pick(lg, 2, -1.0, &r, &id, &err), -1);
	assert_string_equal(err.code, "sample.usage");
	assert_int_equal(sample_pick(lg, 2, NAN, &r, &id, &err), -1);
	assert_string_equal(err.code, "sample.usage");
}

static void utf8_replaces_bad_bytes(void **unused)
{
	struct kerr err = { 0 };
	char *out = NULL;

	(void)unused;
	assert_int_equal(sample_utf8("a\xff" "b\xc3", 4, &out, &err), 0);
	assert_string_equal(out, "a\xef\xbf\xbd" "b\xef\xbf\xbd");
	free(out);
	assert_int_equal(sample_utf8("h\xc3\xa9!", 4, &out, &err), 0);
	assert_string_equal(out, "h\xc3\xa9!");
	free(out);
}

/* ---------------------------------------------------- in the library */

static void sample_in_process(const struct dataset *d, uint64_t seed, double temp, int threads,
			      struct sample_result *r)
{
	struct sample_opts o = { .ckpt_path = g.ckpt, .data = d, .prompt = "The man said", .prompt_len = 12,
				 .tokens = TOKENS, .temperature = temp, .seed = seed, .threads = threads };
	struct recipe_host h;
	struct kerr err = { 0 };
	const char *runner = getenv("KARPA_RUNNER");

	if (recipe_host_pipe(&h, runner ? runner : "build/karpa-recipe", NULL, NULL, &err) < 0 ||
	    sample_run(&o, &h, r, &err) < 0)
		fail_msg("sample: %s: %s", err.code, err.msg);
}

static void same_seed_same_text_in_process(void **unused)
{
	struct dataset d;
	struct sample_result a, b, c, gr1, gr2;
	struct kerr err = { 0 };
	char *text = NULL;
	size_t len = 0;
	double t0 = tu_now_s();

	(void)unused;
	assert_int_equal(dataset_open(g.data, &d, &err), 0);
	sample_in_process(&d, 7, 1.0, 1, &a);
	sample_in_process(&d, 7, 1.0, 2, &b); /* another thread count: the same text */
	sample_in_process(&d, 8, 1.0, 1, &c);
	sample_in_process(&d, 7, 0.0, 1, &gr1);
	sample_in_process(&d, 99, 0.0, 2, &gr2); /* greedy ignores the seed */
	assert_int_equal(a.n, TOKENS);
	assert_int_equal(b.n, TOKENS);
	assert_memory_equal(a.ids, b.ids, TOKENS * sizeof *a.ids);
	assert_int_equal(a.text_len, b.text_len);
	assert_memory_equal(a.text, b.text, a.text_len);
	assert_true(memcmp(a.ids, c.ids, TOKENS * sizeof *a.ids) != 0);
	assert_memory_equal(gr1.ids, gr2.ids, TOKENS * sizeof *gr1.ids);
	/* the tokens decode, to the text reported; the prompt's context is there */
	for (size_t i = 0; i < a.n; i++)
		assert_true(a.ids[i] < bpe_vocab_size(d.tok));
	assert_int_equal(bpe_decode(d.tok, a.ids, a.n, &text, &len, &err), 0);
	assert_int_equal(len, a.text_len);
	assert_memory_equal(text, a.text, len);
	assert_true(a.n_prompt >= 2);
	assert_string_equal(a.ckpt_sha256, g.ckpt_hex);
	assert_string_equal(a.scale, "tiny");
	assert_true(a.context_max > 0);
	free(text);
	sample_result_free(&a);
	sample_result_free(&b);
	sample_result_free(&c);
	sample_result_free(&gr1);
	sample_result_free(&gr2);
	dataset_close(&d);
	print_message("   five samples of %d tokens in %.1f s\n", TOKENS, tu_now_s() - t0);
}

/* A failed sample lets its caller explain the failure while the host
 * lives; one that succeeds never calls it. */
static void failure_is_explained_before_the_host_goes(void **unused)
{
	struct dataset d;
	struct sample_result r;
	struct recipe_host h;
	struct fx_fail seen = { .h = &h };
	struct kerr err = { 0 };
	struct sample_opts o = { .ckpt_path = g.ckpt, .prompt = "The", .prompt_len = 3, .tokens = 2,
				 .temperature = 0, .seed = 1, .threads = 1, .scale = "cpu", .on_fail = fx_on_fail,
				 .on_fail_arg = &seen };
	const char *runner = getenv("KARPA_RUNNER");

	(void)unused;
	assert_int_equal(dataset_open(g.data, &d, &err), 0);
	o.data = &d;
	assert_int_equal(recipe_host_pipe(&h, runner ? runner : "build/karpa-recipe", NULL, NULL, &err), 0);
	assert_int_equal(sample_run(&o, &h, &r, &err), -1);
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.saw_live_host, 1);
	assert_string_equal(err.msg, "explained (was sample.scale_mismatch)");
	o.scale = "tiny";
	assert_int_equal(recipe_host_pipe(&h, runner ? runner : "build/karpa-recipe", NULL, NULL, &err), 0);
	assert_int_equal(sample_run(&o, &h, &r, &err), 0);
	assert_int_equal(seen.calls, 1);
	sample_result_free(&r);
	dataset_close(&d);
}

/* ------------------------------------------------------------- the CLI */

static json_t *cli_sample(const char *ckpt, const char *extra)
{
	run(0, "%s sample --ckpt %s --data %s --prompt 'The man' --tokens %d %s --json", san_karpa(), ckpt, g.data,
	    TOKENS, extra);
	return tu_out_json(g.out);
}

static void cli_seeds_and_greedy(void **unused)
{
	json_t *a, *b, *c, *gr1, *gr2;

	(void)unused;
	a = cli_sample(g.ckpt, "--seed 3");
	b = cli_sample(g.ckpt, "--seed 3 --threads 1");
	c = cli_sample(g.ckpt, "--seed 4");
	gr1 = cli_sample(g.ckpt, "--temperature 0");
	gr2 = cli_sample(g.ckpt, "--temperature 0 --seed 12");
	assert_true(json_is_true(json_object_get(a, "ok")));
	assert_int_equal(json_array_size(json_object_get(a, "tokens")), TOKENS);
	assert_true(json_array_size(json_object_get(a, "prompt_tokens")) >= 1);
	assert_true(json_equal(json_object_get(a, "tokens"), json_object_get(b, "tokens")));
	assert_string_equal(tu_jstr(a, "text"), tu_jstr(b, "text"));
	assert_false(json_equal(json_object_get(a, "tokens"), json_object_get(c, "tokens")));
	assert_true(json_equal(json_object_get(gr1, "tokens"), json_object_get(gr2, "tokens")));
	assert_string_equal(tu_jstr(a, "ckpt_sha256"), g.ckpt_hex);
	assert_string_equal(tu_jstr(a, "prompt"), "The man");
	assert_true(tu_jnum(a, "seed") == 3 && tu_jnum(gr1, "temperature") == 0);
	/* the recipe is anyone's code: sandboxed unless asked, with the same
	 * text either way */
	assert_memory_equal(tu_jstr(a, "sandbox"), "sandboxed: ", 11);
	json_decref(c);
	c = cli_sample(g.ckpt, "--seed 3 --no-sandbox");
	assert_string_equal(tu_jstr(c, "sandbox"), "not sandboxed (--no-sandbox)");
	assert_true(json_equal(json_object_get(a, "tokens"), json_object_get(c, "tokens")));
	json_decref(a);
	json_decref(b);
	json_decref(c);
	json_decref(gr1);
	json_decref(gr2);
	/* plain output: the prompt, then what the model wrote */
	run(0, "%s sample --ckpt %s --data %s --prompt 'Once upon' --tokens 5 --seed 2", san_karpa(), g.ckpt,
	    g.data);
	assert_memory_equal(g.out, "Once upon", 9);
}

static void bad_arguments_exit_2(void **unused)
{
	static const char *const bad[] = {
		"--data D --prompt x",                              /* no --ckpt or --king */
		"--ckpt C --prompt x",                              /* no --data */
		"--ckpt C --data D",                                /* no --prompt */
		"--ckpt C --data D --prompt x --tokens 0",
		"--ckpt C --data D --prompt x --tokens 4097",
		"--ckpt C --data D --prompt x --tokens 3x",
		"--ckpt C --data D --prompt x --temperature -1",
		"--ckpt C --data D --prompt x --temperature nan",
		"--ckpt C --data D --prompt x --temperature 101",
		"--ckpt C --data D --prompt x --temperature warm",
		"--ckpt C --data D --prompt x --seed -1",
		"--ckpt C --data D --prompt x --seed 9007199254740992",
		"--ckpt C --data D --prompt x --threads 0",
		"--ckpt C --data D --prompt x --king recipe-v0.1.1 --state S",
		"--king recipe-v0.1.1 --prompt x",                  /* no --state */
		"--king recipe-v0.1.1 --state S --prompt x --no-sandbox", /* a king is never unconfined */
		"--ckpt C --data D --prompt x --frobnicate",
		"--ckpt C --data D --prompt x extra",
	};

	(void)unused;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (tu_run(g.out, OUT_CAP, "%s sample %s", san_karpa(), bad[i]) != 2)
			fail_msg("`karpa sample %s` did not exit 2:\n%s", bad[i], g.out);
	run(0, "%s sample --help", san_karpa());
	assert_non_null(strstr(g.out, "--temperature"));
}

/* Fails with code `code` (exit 1, one JSON failure object). */
static void cli_refuses(const char *ckpt, const char *extra, const char *code)
{
	json_t *j;

	run(1, "%s sample --ckpt %s --data %s --prompt x --tokens 2 %s --json", san_karpa(), ckpt, g.data, extra);
	j = tu_out_json(g.out);
	assert_false(json_is_true(json_object_get(j, "ok")));
	assert_string_equal(tu_jstr(j, "code"), code);
	json_decref(j);
}

static void damaged_checkpoints_are_refused(void **unused)
{
	char bad[FS_PATH_MAX];

	(void)unused;
	snprintf(bad, sizeof bad, "%s/flipped.ckpt", g.tmp);
	/* one byte of the state flipped: the trailing digest no longer matches */
	run(0, "cp %s %s && printf '\\377' | dd of=%s bs=1 seek=2000 conv=notrunc status=none", g.ckpt, bad, bad);
	cli_refuses(bad, "", "ckpt.digest_mismatch");
	run(0, "head -c 1000 %s > %s", g.ckpt, bad);
	cli_refuses(bad, "", "ckpt.truncated");
	run(0, "printf 'NOTACKPT%%0400d' 0 > %s", bad);
	cli_refuses(bad, "", "ckpt.bad_magic");
	cli_refuses(g.ckpt, "--scale cpu", "sample.scale_mismatch");
	snprintf(bad, sizeof bad, "%s/absent.ckpt", g.tmp);
	run(1, "%s sample --ckpt %s --data %s --prompt x", san_karpa(), bad, g.data);
	assert_non_null(strstr(g.out, "karpa: fs."));
}

/* ------------------------------------------------------ the lineage */

static void store_text(struct vstate *s, const char *name, const char *text, char hex[HASH_HEX_BYTES])
{
	char p[FS_PATH_MAX];
	struct kerr err = { 0 };

	snprintf(p, sizeof p, "%s/%s", g.tmp, name);
	assert_int_equal(fs_write_atomic(p, text, strlen(text), &err), 0);
	if (vstate_store_file(s, p, hex, &err) < 0)
		fail_msg("vstate_store_file: %s: %s", err.code, err.msg);
}

/* A submission recorded with manifest digest manifest_hex (challenge_pending:
 * what a judge records before the merge). */
static void record(struct vstate *s, const char *manifest_hex, char id[EXPCORPUS_ID_BYTES])
{
	struct expcorpus_entry e;
	struct kerr err = { 0 };

	expcorpus_entry_blank(&e);
	snprintf(e.manifest_sha256, sizeof e.manifest_sha256, "%s", manifest_hex);
	hash_buf_hex(manifest_hex, strlen(manifest_hex), e.patch_sha256);
	snprintf(e.miner, sizeof e.miner, "%s", miner_hex);
	snprintf(e.king_tag, sizeof e.king_tag, "%s", RECIPEREPO_FIRST_TAG);
	snprintf(e.verdict, sizeof e.verdict, "%s", EXPCORPUS_CHALLENGE_PENDING);
	snprintf(e.scale, sizeof e.scale, "tiny");
	e.rationale = "Two steps learn more than one.";
	e.patch = (char *)patch_text;
	if (expcorpus_record(s, &e, NULL, 0, id, &err) < 0)
		fail_msg("expcorpus_record: %s: %s", err.code, err.msg);
}

/* A manifest whose files list final.ckpt as {sha, bytes}, stored; its
 * digest in hex. note makes manifests that list the same file distinct. */
static void store_manifest(struct vstate *s, const char *sha, long long bytes, const char *note,
			   char hex[HASH_HEX_BYTES])
{
	char text[1024];

	snprintf(text, sizeof text,
		 "{\"files\":{\"" BUNDLE_FINAL_CKPT "\":{\"bytes\":%lld,\"sha256\":\"%s\"},"
		 "\"patch.diff\":{\"bytes\":1,\"sha256\":\"%s\"}},\"miner\":\"%s\",\"note\":\"%s\"}",
		 bytes, sha, g.ckpt_hex, miner_hex, note);
	store_text(s, "manifest.json", text, hex);
}

static void expect_lineage(struct vstate *s, const char *tag, const char *code)
{
	char path[FS_PATH_MAX], digest[HASH_HEX_BYTES];
	struct kerr err = { 0 };

	assert_int_equal(lineage_model_path(s, tag, path, digest, &err), -1);
	if (strcmp(err.code, code))
		fail_msg("%s: got %s (%s), want %s", tag, err.code, err.msg, code);
	assert_string_equal(path, "");
	assert_string_equal(digest, "");
}

static void serve(void)
{
	const char *const opts[] = { "--workers", "1", NULL };

	sf_start(&g.sv, g.tmp, g.state, opts);
}

/* One raw request on loopback (headers matter here); the status, and the
 * reply's head in out. */
static int raw_get(const char *path, const char *extra_header, char *out, size_t cap)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char req[512];
	size_t n = 0;
	ssize_t r;
	int fd, status = 0;

	a.sin_port = htons((uint16_t)atoi(strrchr(g.sv.url, ':') + 1));
	assert_true((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n", path, extra_header);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	while (n < cap - 1 && (r = read(fd, out + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	close(fd);
	assert_int_equal(sscanf(out, "HTTP/1.1 %d", &status), 1);
	return status;
}

static void king_model_is_served(void **unused)
{
	char src[FS_PATH_MAX], d[FS_PATH_MAX], h[FS_PATH_MAX], patch[FS_PATH_MAX], got[FS_PATH_MAX];
	char man_hex[HASH_HEX_BYTES], stored_ckpt[HASH_HEX_BYTES], path[FS_PATH_MAX], digest[HASH_HEX_BYTES];
	char got_hex[HASH_HEX_BYTES], head[4096], hdr[128];
	struct king_metrics m = { .hidden_bpb = 2.25, .public_bpb = 2.3125, .improvement = 0.125, .margin = 0.0625,
				  .alpha = 0.5, .miner = miner_hex };
	struct king_merge_result mr;
	struct vstate_king k;
	struct client_opts o;
	struct vstate s;
	struct kerr err = { 0 };
	long status = 0;
	json_t *j = NULL;

	(void)unused;
	fx_state_inputs(g.tmp, src, d, h);
	{
		struct vstate_init_opts io = { g.state, src, g.data, g.hidden, "tiny" };
		if (vstate_init(&io, &err) < 0 || validator_open(g.state, &s, &err) < 0)
			fail_msg("state: %s: %s", err.code, err.msg);
	}
	/* the bundle's files, stored as judge.c's store_bundle stores them */
	assert_int_equal(vstate_store_file(&s, g.ckpt, stored_ckpt, &err), 0);
	assert_string_equal(stored_ckpt, g.ckpt_hex);
	store_manifest(&s, g.ckpt_hex, (long long)g.ckpt_bytes, "crowning", man_hex);
	record(&s, man_hex, g.crowned_id);
	snprintf(patch, sizeof patch, "%s/good.diff", g.tmp);
	tu_put(g.tmp, "good.diff", patch_text);
	assert_int_equal(vstate_king_current(&s, &k, &err), 0);
	if (king_merge(&s, g.crowned_id, k.tag, k.commit, patch, "Two steps.", &m, &mr, &err) < 0)
		fail_msg("king_merge: %s: %s", err.code, err.msg);
	assert_string_equal(mr.to_tag, "recipe-v0.1.1");

	/* the library: the crowning checkpoint, and the reasons there is none */
	if (lineage_model_path(&s, "recipe-v0.1.1", path, digest, &err) < 0)
		fail_msg("lineage_model_path: %s: %s", err.code, err.msg);
	assert_string_equal(digest, g.ckpt_hex);
	assert_int_equal(hash_file_hex(path, got_hex, NULL, &err), 0);
	assert_string_equal(got_hex, g.ckpt_hex);
	expect_lineage(&s, "recipe-v0.1.0", "lineage.no_model");
	expect_lineage(&s, "recipe-v0.1.2", "lineage.not_found");
	expect_lineage(&s, "../../etc/passwd", "lineage.not_found");
	expect_lineage(&s, "recipe-v0.1.01", "lineage.not_found");
	expect_lineage(&s, "", "lineage.not_found");
	vstate_close(&s);

	/* the service */
	serve();
	snprintf(got, sizeof got, "%s/downloaded.ckpt", g.tmp);
	client_opts_default(&o);
	o.tries = 1;
	snprintf(path, sizeof path, "%s/v1/kings/recipe-v0.1.1/model", g.sv.url);
	if (client_get_file(path, &o, got, &status, &err) < 0)
		fail_msg("GET %s: %s: %s", path, err.code, err.msg);
	assert_int_equal(status, 200);
	assert_int_equal(hash_file_hex(got, got_hex, NULL, &err), 0);
	assert_string_equal(got_hex, g.ckpt_hex);
	assert_int_equal(raw_get("/v1/kings/recipe-v0.1.1/model", "", head, sizeof head), 200);
	assert_non_null(strstr(head, "\r\nContent-Type: application/octet-stream\r\n"));
	snprintf(hdr, sizeof hdr, "\r\nETag: \"%s\"\r\n", g.ckpt_hex);
	assert_non_null(strstr(head, hdr));
	snprintf(hdr, sizeof hdr, "If-None-Match: \"%s\"\r\n", g.ckpt_hex);
	assert_int_equal(raw_get("/v1/kings/recipe-v0.1.1/model", hdr, head, sizeof head), 304);
	{
		static const struct {
			const char *path, *code;
		} nf[] = {
			{ "/v1/kings/recipe-v0.1.0/model", "lineage.no_model" },
			{ "/v1/kings/recipe-v7.0.0/model", "lineage.not_found" },
			{ "/v1/kings/recipe-v0.1.1", "http.not_found" },
			{ "/v1/kings/recipe-v0.1.1/weights", "http.not_found" },
			{ "/v1/kings/", "http.not_found" },
			{ "/v1/kings/%2e%2e/model", "lineage.not_found" },
		};
		for (size_t i = 0; i < sizeof nf / sizeof nf[0]; i++) {
			snprintf(path, sizeof path, "%s%s", g.sv.url, nf[i].path);
			status = 0;
			assert_int_equal(client_get_json(path, &o, &j, &status, &err), -1);
			if (status != 404 || strcmp(err.code, nf[i].code))
				fail_msg("GET %s: %ld %s, want 404 %s", nf[i].path, status, err.code, nf[i].code);
		}
	}
	sf_stop(&g.sv, SIGTERM);

	/* the downloaded model writes text: the lineage's model is a model */
	run(0, "%s sample --ckpt %s --data %s --prompt 'The' --tokens 4 --json", san_karpa(), got, g.data);
	j = tu_out_json(g.out);
	assert_string_equal(tu_jstr(j, "ckpt_sha256"), g.ckpt_hex);
	json_decref(j);
	/* and so does the king, named by its tag, with the state's data folder
	 * (its recipe: the real one given with --recipe, as the stand-in
	 * repository holds no model code, which the last line shows) */
	run(0, "%s sample --king recipe-v0.1.1 --state %s --recipe %s/recipe --prompt 'The' --tokens 4 --json",
	    san_karpa(), g.state, getenv("KARPA_SRC") ? getenv("KARPA_SRC") : ".");
	j = tu_out_json(g.out);
	assert_string_equal(tu_jstr(j, "ckpt_sha256"), g.ckpt_hex);
	assert_string_equal(tu_jstr(j, "king"), "recipe-v0.1.1");
	/* the service's sample of a king runs it as a judgment would: the
	 * layers a validator requires were applied */
	if (strncmp(tu_jstr(j, "sandbox"), "sandboxed: ", 11) || !strstr(tu_jstr(j, "sandbox"), " landlock ") ||
	    !strstr(tu_jstr(j, "sandbox"), " netns "))
		fail_msg("the king's sample ran %s", tu_jstr(j, "sandbox"));
	json_decref(j);
	run(1, "%s sample --king recipe-v0.1.1 --state %s --prompt 'The' --tokens 4", san_karpa(), g.state);
	assert_non_null(strstr(g.out, "recipe.build_failed"));
	run(1, "%s sample --king recipe-v0.1.0 --state %s --prompt 'The' --tokens 4", san_karpa(), g.state);
	assert_non_null(strstr(g.out, "lineage.no_model"));
}

/* kingsample_put with a child's output: refused as kingsample.bad_output
 * for the reason in_msg names, storing nothing. */
static void expect_bad_sample(struct vstate *s, const char *tag, const char *out, const char *in_msg)
{
	struct kerr err = { 0 };
	int have = 1;

	assert_int_equal(kingsample_put(s, tag, out, strlen(out), &err), -1);
	if (strcmp(err.code, "kingsample.bad_output"))
		fail_msg("%s: got %s (%s), want kingsample.bad_output", tag, err.code, err.msg);
	if (!strstr(err.msg, in_msg))
		fail_msg("%s: '%s' does not say '%s'", tag, err.msg, in_msg);
	assert_int_equal(kingsample_have(s, tag, &have, &err), 0);
	assert_int_equal(have, 0);
}

/* The service keeps a king's sample from what its `karpa sample` child
 * printed: only the draw it asked for. The output of another king or
 * another draw (a mismatched karpa binary), or no JSON at all (a child
 * that failed), is refused; the command's own output is kept. */
static void king_sample_output_is_checked(void **unused)
{
	const char *argv[KINGSAMPLE_ARGV_MAX];
	char nums[64], cmd[2048], *real, *other;
	struct vstate s;
	struct kerr err = { 0 };
	size_t len = 0;
	int have = 0;
	json_t *j;

	(void)unused;
	kingsample_argv(tu_karpa(), g.state, "recipe-v0.1.1", "tiny", 2, nums, argv);
	for (int i = 0; argv[i]; i++)
		len += (size_t)snprintf(cmd + len, sizeof cmd - len, "'%s' ", argv[i]);
	/* the stand-in repository holds no model code: the real recipe */
	run(0, "%s --recipe %s/recipe", cmd, getenv("KARPA_SRC") ? getenv("KARPA_SRC") : ".");
	assert_non_null(real = strdup(g.out));
	j = tu_out_json(real);
	json_object_set_new(j, "seed", json_integer(KINGSAMPLE_SEED + 1));
	assert_non_null(other = json_dumps(j, JSON_COMPACT));
	json_decref(j);
	if (validator_open(g.state, &s, &err) < 0)
		fail_msg("validator_open: %s: %s", err.code, err.msg);
	expect_bad_sample(&s, "recipe-v0.1.0", real, "another sample");
	expect_bad_sample(&s, "recipe-v0.1.1", other, "another sample");
	expect_bad_sample(&s, "recipe-v0.1.1", "karpa: recipe.build_failed: gpt.c:1: error\n", "no JSON");
	if (kingsample_put(&s, "recipe-v0.1.1", real, strlen(real), &err) < 0)
		fail_msg("the command's own output: %s: %s", err.code, err.msg);
	assert_int_equal(kingsample_have(&s, "recipe-v0.1.1", &have, &err), 0);
	assert_int_equal(have, 1);
	vstate_close(&s);
	free(other);
	free(real);
}

/* Each way the store can fail the lookup, on the king of the case above
 * pointed at other submissions. */
static void damaged_store_is_reported(void **unused)
{
	char id[EXPCORPUS_ID_BYTES], man_hex[HASH_HEX_BYTES], path[FS_PATH_MAX], sql[512], junk_hex[HASH_HEX_BYTES];
	struct vstate s;
	struct kerr err = { 0 };

	(void)unused;
	if (validator_open(g.state, &s, &err) < 0)
		fail_msg("validator_open: %s: %s", err.code, err.msg);
#define POINT_KING_AT(sub)                                                                                    \
	do {                                                                                                  \
		snprintf(sql, sizeof sql, "UPDATE kings SET submission_id = '%s' WHERE tag = 'recipe-v0.1.1'", sub); \
		assert_int_equal(sqlite3_exec(s.db, sql, NULL, NULL, NULL), SQLITE_OK);                        \
	} while (0)

	/* a manifest that lists no final checkpoint */
	store_text(&s, "m1.json", "{\"files\":{\"patch.diff\":{\"bytes\":1,\"sha256\":\"00\"}}}", man_hex);
	record(&s, man_hex, id);
	POINT_KING_AT(id);
	expect_lineage(&s, "recipe-v0.1.1", "lineage.bad_manifest");
	/* a manifest whose digest for it is a path, not a digest */
	store_manifest(&s, "../../../etc/passwd", 10, "", man_hex);
	record(&s, man_hex, id);
	POINT_KING_AT(id);
	expect_lineage(&s, "recipe-v0.1.1", "lineage.bad_manifest");
	/* a stored manifest that is not JSON */
	store_text(&s, "m2.json", "[1,2", man_hex);
	record(&s, man_hex, id);
	POINT_KING_AT(id);
	expect_lineage(&s, "recipe-v0.1.1", "lineage.bad_manifest");
	/* a checkpoint the store does not hold */
	hash_buf_hex("never stored", 12, junk_hex);
	store_manifest(&s, junk_hex, 12, "", man_hex);
	record(&s, man_hex, id);
	POINT_KING_AT(id);
	expect_lineage(&s, "recipe-v0.1.1", "lineage.model_missing");
	/* a checkpoint of another size than the manifest says */
	store_manifest(&s, g.ckpt_hex, (long long)g.ckpt_bytes + 1, "", man_hex);
	record(&s, man_hex, id);
	POINT_KING_AT(id);
	expect_lineage(&s, "recipe-v0.1.1", "vstate.store_corrupt");
	/* a manifest the store never held */
	hash_buf_hex("no such manifest", 16, junk_hex);
	record(&s, junk_hex, id);
	POINT_KING_AT(id);
	expect_lineage(&s, "recipe-v0.1.1", "lineage.model_missing");
	/* a stored manifest whose bytes changed under its name */
	store_manifest(&s, g.ckpt_hex, (long long)g.ckpt_bytes, "altered", man_hex);
	record(&s, man_hex, id);
	POINT_KING_AT(id);
	assert_int_equal(vstate_store_path(&s, man_hex, path, &err), 0);
	run(0, "chmod u+w %s && printf ' ' >> %s", path, path);
	expect_lineage(&s, "recipe-v0.1.1", "vstate.store_corrupt");
	/* the store names only digests */
	assert_int_equal(vstate_store_path(&s, "../state.db", path, &err), -1);
	assert_string_equal(err.code, "vstate.bad_digest");
	/* the original crowning submission still resolves */
	POINT_KING_AT(g.crowned_id);
	{
		char digest[HASH_HEX_BYTES];
		assert_int_equal(lineage_model_path(&s, "recipe-v0.1.1", path, digest, &err), 0);
		assert_string_equal(digest, g.ckpt_hex);
	}
#undef POINT_KING_AT
	vstate_close(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pick_is_greedy_at_zero_and_follows_softmax),
		cmocka_unit_test(utf8_replaces_bad_bytes),
		cmocka_unit_test(same_seed_same_text_in_process),
		cmocka_unit_test(failure_is_explained_before_the_host_goes),
		cmocka_unit_test(cli_seeds_and_greedy),
		cmocka_unit_test(bad_arguments_exit_2),
		cmocka_unit_test(damaged_checkpoints_are_refused),
		cmocka_unit_test(king_model_is_served),
		cmocka_unit_test(king_sample_output_is_checked),
		cmocka_unit_test(damaged_store_is_reported),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
