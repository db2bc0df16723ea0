/* test_judge_credit.c: who gets a decisive idea, end to end through
 * `karpa judge` at the tiny scale. A discoverer proves a decisive patch;
 * before its genuine bundle is judged, someone who saw it in transit
 * submits a copy with one checkpoint byte flipped (the manifest untouched);
 * while its challenge is pending, a thief re-signs a copy with their own key
 * (and a fresh attestation, which a thief can always make), and another
 * retrains the patch with a comment added (the same model under another
 * patch text). The damaged copy must not block the genuine bundle, neither
 * thief may get a challenge seed,
 * the discoverer's confirmation must merge and name the discoverer even when
 * keeping the bundle fails after the merge, and a true replay is still
 * refused.
 *
 * One fixture for the group; the cases run in order and build on each
 * other (the same fixture as test_judge_e2e: a two-seed noise floor, and
 * five times the steps, which clears the margin at every seed tried). */
#include "../testutil.h"

#include <fcntl.h>
#include <jansson.h>
#include <sys/stat.h>

#include "proof/bundle.h"
#include "proof/keys.h"
#include "util/crash.h"
#include "validator/vstate.h"

#define OUT_CAP (256u << 10)
#define NOISE_SEEDS 2
#define THREADS 2

struct fx {
	char *tmp;
	char data[FS_PATH_MAX], hidden[FS_PATH_MAX], state[FS_PATH_MAX], clone[FS_PATH_MAX];
	char key[FS_PATH_MAX], thief_key[FS_PATH_MAX], patch[FS_PATH_MAX], why[FS_PATH_MAX];
	char genuine[FS_PATH_MAX]; /* the discoverer's seed-1 bundle */
	char genuine_id[64];
	unsigned long long seed; /* its challenge seed */
	char segments[64];       /* and the segments its judgment replayed */
	struct keys k, thief;
	char *out;
};

static struct fx g;

#define run(want, ...) tu_run_want(g.out, OUT_CAP, (want), __VA_ARGS__)

static void fx_file(char *out, const char *name)
{
	snprintf(out, FS_PATH_MAX, "%s/%s", g.tmp, name);
}

static void prove_as(const char *key, const char *patch, unsigned long long seed, const char *out)
{
	run(0, "%s prove --recipe %s/recipe --king recipe-v0.1.0 --patch %s --rationale %s --key %s --data %s"
	       " --scale tiny --out %s --mock-attestation --threads %d --seed %llu --json",
	    tu_karpa(), g.state, patch, g.why, key, g.data, out, THREADS, seed);
}

/* Another miner: a new key in keyname, and the discoverer's patch with the
 * tiny scale's steps set to steps instead (an idea of its own). */
static void other_miner(const char *keyname, int steps, char key[FS_PATH_MAX], char patch[FS_PATH_MAX])
{
	char name[64];
	struct keys k;
	struct kerr err;

	fx_file(key, keyname);
	snprintf(name, sizeof name, "steps-%d.diff", steps);
	fx_file(patch, name);
	assert_int_equal(keys_generate(key, &k, &err), 0);
	keys_wipe(&k);
	run(0, "sed 's/{ \"tiny\", 64, 2, 2, 64, 4, 150, 5, 10, 3e-3f }/{ \"tiny\", 64, 2, 2, 64, 4, %d, 5, 10, 3e-3f }/' %s > %s"
	       " && grep -c ' %d, 5' %s",
	    steps, g.patch, patch, steps, patch);
}

static void prove(unsigned long long seed, const char *out)
{
	prove_as(g.key, g.patch, seed, out);
}

static json_t *judge(const char *bundle)
{
	json_t *j;

	run(0, "%s judge %s %s --json --threads %d", tu_karpa(), g.state, bundle, THREADS);
	j = tu_out_json(g.out);
	print_message("   %-10s %-17s %s\n", strrchr(bundle, '/') + 1, tu_jstr(j, "verdict"), tu_jstr(j, "code"));
	return j;
}

/* `corpus show ID --json`'s entry; caller decrefs the document. */
static json_t *corpus_entry(const char *id, json_t **doc)
{
	run(0, "%s corpus %s show %s --json", tu_karpa(), g.state, id);
	*doc = tu_out_json(g.out);
	return json_object_get(*doc, "entry");
}

static int setup_group(void **unused)
{
	struct kerr err;
	struct stat sb;
	static const char why[] = "Train five times longer at the tiny scale.\n";

	memset(&g, 0, sizeof g);
	hash_init_lib();
	g.tmp = tu_mkdtemp();
	g.out = malloc(OUT_CAP);
	assert_non_null(g.out);
	{
		char *const paths[] = { g.data, g.hidden, g.state, g.clone, g.key, g.thief_key, g.patch, g.why,
					g.genuine };
		static const char *const names[] = { "data", "hidden", "state", "miner-recipe", "discoverer.key",
						      "thief.key", "steps.diff", "steps.md", "genuine" };
		for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
			fx_file(paths[i], names[i]);
	}
	tu_validator(g.out, OUT_CAP, g.data, g.hidden, g.state, NOISE_SEEDS, THREADS);
	assert_int_equal(keys_generate(g.key, &g.k, &err), 0);
	assert_int_equal(keys_generate(g.thief_key, &g.thief, &err), 0);
	run(0, "git clone -q %s/recipe %s && sed -i -e 's/{ \"tiny\", 64, 2, 2, 64, 4, 30, 5, 10, 3e-3f }/"
	       "{ \"tiny\", 64, 2, 2, 64, 4, 150, 5, 10, 3e-3f }/' %s/config.c && git -C %s diff > %s",
	    g.state, g.clone, g.clone, g.clone, g.patch);
	assert_int_equal(stat(g.patch, &sb), 0);
	assert_true(sb.st_size > 0);
	if (fs_write_atomic(g.why, why, strlen(why), &err) < 0)
		fail_msg("%s: %s", g.why, err.msg);
	prove(1, g.genuine);
	return 0;
}

static int teardown_group(void **unused)
{
	keys_wipe(&g.k);
	keys_wipe(&g.thief);
	tu_rmdir(g.tmp);
	free(g.out);
	return 0;
}

/* Flips one byte in the middle of a file. */
static void flip_byte(const char *path)
{
	struct stat sb;
	unsigned char b;
	int fd = open(path, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	assert_int_equal(pread(fd, &b, 1, sb.st_size / 2), 1);
	b ^= 0x5a;
	assert_int_equal(pwrite(fd, &b, 1, sb.st_size / 2), 1);
	close(fd);
}

/* A copy damaged in transit (its manifest untouched, so its manifest digest
 * is the genuine one's) is refused, and the genuine bundle is then judged
 * normally, not refused as a replay of it. */
static void test_damaged_copy_does_not_block(void **unused)
{
	char b[FS_PATH_MAX], p[FS_PATH_MAX];
	json_t *j;

	fx_file(b, "damaged");
	run(0, "cp -r %s %s", g.genuine, b);
	snprintf(p, sizeof p, "%s/checkpoints/final.ckpt", b);
	flip_byte(p);
	j = judge(b);
	assert_string_equal(tu_jstr(j, "verdict"), "rejected");
	assert_int_equal(strncmp(tu_jstr(j, "code"), "bundle.", 7), 0);
	json_decref(j);
	/* the same damaged bytes again are a replay */
	run(1, "%s judge %s %s --json --threads %d", tu_karpa(), g.state, b, THREADS);
	assert_non_null(strstr(g.out, "judge.duplicate"));

	j = judge(g.genuine);
	assert_string_equal(tu_jstr(j, "verdict"), "challenge_pending");
	g.seed = (unsigned long long)json_integer_value(json_object_get(j, "challenge_seed"));
	assert_true(g.seed >= 2);
	snprintf(g.segments, sizeof g.segments, "%s", tu_jstr(json_object_get(j, "replay"), "segments"));
	assert_true(g.segments[0] != '\0');
	snprintf(g.genuine_id, sizeof g.genuine_id, "%s", tu_jstr(j, "id"));
	json_decref(j);
}

/* The thief's copy: the discoverer's files, the thief's key in the manifest,
 * the thief's signature and a fresh attestation. It is decisive (it is the
 * same model) but earns nothing: no challenge seed, the credit named. */
static void test_copier_gets_no_challenge(void **unused)
{
	char b[FS_PATH_MAX], p[FS_PATH_MAX];
	struct attest_opts ao = { .force_mock = 1 };
	struct kerr err = { { 0 }, { 0 } };
	json_error_t je;
	json_t *m, *j, *doc, *e;

	if (!g.genuine_id[0])
		fail_msg("the genuine bundle was not judged by the case before");
	fx_file(b, "thief");
	run(0, "cp -r %s %s", g.genuine, b);
	snprintf(p, sizeof p, "%s/%s", b, BUNDLE_MANIFEST);
	m = json_load_file(p, JSON_REJECT_DUPLICATES, &je);
	assert_non_null(m);
	json_object_set_new(m, "miner", json_string(g.thief.pk_hex));
	if (bundle_seal(b, m, &g.thief, &ao, &err) < 0)
		fail_msg("bundle_seal: %s: %s", err.code, err.msg);
	json_decref(m);
	j = judge(b);
	assert_string_equal(tu_jstr(j, "verdict"), "not_decisive");
	assert_string_equal(tu_jstr(j, "code"), "judge.copy");
	assert_null(json_object_get(j, "challenge_seed"));
	assert_non_null(strstr(tu_jstr(j, "reason"), g.genuine_id));
	assert_true(tu_jnum(j, "king_bpb") - tu_jnum(j, "hidden_bpb") > tu_jnum(j, "margin"));
	e = corpus_entry(tu_jstr(j, "id"), &doc);
	assert_string_equal(tu_jstr(e, "credited_to"), g.genuine_id);
	json_decref(doc);
	json_decref(j);
}

/* The discoverer re-signs the same trained model with another rationale
 * (a new manifest, no new training): it gets the same challenge seed and
 * the same replayed segments, not a second draw at confirming the model
 * or at escaping a replay. */
static void test_resigned_model_gets_the_same_seed(void **unused)
{
	char b[FS_PATH_MAX], p[FS_PATH_MAX];
	static const char other[] = "The same run, told another way.\n";
	struct attest_opts ao = { .force_mock = 1 };
	struct kerr err = { { 0 }, { 0 } };
	json_error_t je;
	json_t *m, *j;

	if (!g.seed)
		fail_msg("the genuine bundle was not judged by the case before");
	fx_file(b, "resigned");
	run(0, "cp -r %s %s", g.genuine, b);
	snprintf(p, sizeof p, "%s/rationale.md", b);
	assert_int_equal(fs_write_atomic(p, other, strlen(other), &err), 0);
	snprintf(p, sizeof p, "%s/%s", b, BUNDLE_MANIFEST);
	m = json_load_file(p, JSON_REJECT_DUPLICATES, &je);
	assert_non_null(m);
	if (bundle_seal(b, m, &g.k, &ao, &err) < 0)
		fail_msg("bundle_seal: %s: %s", err.code, err.msg);
	json_decref(m);
	j = judge(b);
	assert_string_equal(tu_jstr(j, "verdict"), "challenge_pending");
	assert_int_equal((unsigned long long)json_integer_value(json_object_get(j, "challenge_seed")), g.seed);
	assert_string_equal(tu_jstr(json_object_get(j, "replay"), "segments"), g.segments);
	assert_string_not_equal(tu_jstr(j, "id"), g.genuine_id);
	json_decref(j);
}

/* j judged a copy of the genuine bundle: no challenge seed, the reason
 * and the credit name the genuine one. */
static void expect_copy(json_t *j)
{
	json_t *doc, *e;

	assert_string_equal(tu_jstr(j, "verdict"), "not_decisive");
	assert_string_equal(tu_jstr(j, "code"), "judge.copy");
	assert_null(json_object_get(j, "challenge_seed"));
	assert_non_null(strstr(tu_jstr(j, "reason"), g.genuine_id));
	e = corpus_entry(tu_jstr(j, "id"), &doc);
	assert_string_equal(tu_jstr(e, "credited_to"), g.genuine_id);
	json_decref(doc);
}

/* A thief retrains the published patch with a comment added: another patch
 * digest, the same model (the same final checkpoint). Judged by patch
 * digest alone it would be a first claim, and its challenge seed, a
 * function of that model, is the discoverer's, public before the thief
 * submits: it could train the confirmation while it proves and race the
 * discoverer's answer. It is a copy by its checkpoint. */
static void test_retrained_copy_gets_no_challenge(void **unused)
{
	char b[FS_PATH_MAX], clone[FS_PATH_MAX], patch[FS_PATH_MAX], patch_hex[80], final_hex[80];
	json_t *j, *doc, *e;

	if (!g.genuine_id[0])
		fail_msg("the genuine bundle was not judged by the case before");
	fx_file(b, "retrained");
	fx_file(clone, "thief-recipe");
	fx_file(patch, "steps-commented.diff");
	run(0, "git clone -q %s/recipe %s && cd %s && git apply %s && sed -i '1i /* found it myself */' config.c"
	       " && git diff > %s",
	    g.state, clone, clone, g.patch, patch);
	run(1, "cmp -s %s %s", g.patch, patch);
	prove_as(g.thief_key, patch, 1, b);
	run(0, "cmp %s/checkpoints/final.ckpt %s/checkpoints/final.ckpt", g.genuine, b);
	j = judge(b);
	expect_copy(j);
	e = corpus_entry(tu_jstr(j, "id"), &doc);
	snprintf(patch_hex, sizeof patch_hex, "%s", tu_jstr(e, "patch_sha256"));
	snprintf(final_hex, sizeof final_hex, "%s", tu_jstr(e, "final_sha256"));
	json_decref(doc);
	e = corpus_entry(g.genuine_id, &doc);
	assert_string_equal(tu_jstr(e, "verdict"), "challenge_pending");
	assert_string_not_equal(tu_jstr(e, "patch_sha256"), patch_hex);
	assert_string_equal(tu_jstr(e, "final_sha256"), final_hex);
	assert_int_equal(strlen(final_hex), 64);
	json_decref(doc);
	json_decref(j);
}

/* A thief who keeps the discoverer's training and changes how the model
 * is evaluated (its logits scaled a little): the same final checkpoint,
 * another hidden score. That checkpoint is not the king's own model, so it
 * names the model alone: a copy, whatever the evaluation. Judged by
 * checkpoint and score it would be a new claim, with a seed of its own to
 * race the discoverer's answer with, on the discoverer's training. */
static void test_evaluation_tweak_is_a_copy(void **unused)
{
	char b[FS_PATH_MAX], clone[FS_PATH_MAX], patch[FS_PATH_MAX];
	json_t *j, *doc, *e;
	double genuine_bpb;

	if (!g.genuine_id[0])
		fail_msg("the genuine bundle was not judged by the case before");
	fx_file(b, "tweaked");
	fx_file(clone, "tweak-recipe");
	fx_file(patch, "steps-tweaked.diff");
	run(0, "git clone -q %s/recipe %s && cd %s && git apply %s && sed -i -e '/gpt_forward(g, g->inputs, n, T, logits/a\\\t\tfor"
	       " (size_t k = 0; k < (size_t)n * T * c->V; k++) logits[(size_t)r0 * T * c->V + k] *= 1.0009765625f;' recipe.c"
	       " && git diff > %s",
	    g.state, clone, clone, g.patch, patch);
	run(0, "grep -c 1.0009765625f %s", patch);
	prove_as(g.thief_key, patch, 1, b);
	run(0, "cmp %s/checkpoints/final.ckpt %s/checkpoints/final.ckpt", g.genuine, b);
	e = corpus_entry(g.genuine_id, &doc);
	genuine_bpb = tu_jnum(e, "hidden_bpb");
	json_decref(doc);
	j = judge(b);
	assert_true(tu_jnum(j, "hidden_bpb") != genuine_bpb);
	expect_copy(j);
	json_decref(j);
}

/* A challenge answer refused by a check after its signature held (here a
 * budget that is not the scale's: check 3) settles its original
 * challenge_failed: left pending, the same run re-signed would get another
 * draw of the probes and the binding replay until one passed. A second
 * miner's own decisive idea on the same king (four times the steps, a
 * patch and a model of its own), so the discoverer's challenge stands. */
static void test_refused_answer_ends_the_challenge(void **unused)
{
	char key[FS_PATH_MAX], patch[FS_PATH_MAX], orig[FS_PATH_MAX], bad[FS_PATH_MAX], id[64];
	unsigned long long seed;
	json_t *j, *doc, *e;

	other_miner("second.key", 120, key, patch);
	fx_file(orig, "second");
	fx_file(bad, "second-answer");
	prove_as(key, patch, 1, orig);
	j = judge(orig);
	assert_string_equal(tu_jstr(j, "verdict"), "challenge_pending");
	seed = (unsigned long long)json_integer_value(json_object_get(j, "challenge_seed"));
	snprintf(id, sizeof id, "%s", tu_jstr(j, "id"));
	json_decref(j);
	assert_true(seed >= 2);
	run(0, "%s prove --recipe %s/recipe --king recipe-v0.1.0 --patch %s --rationale %s --key %s --data %s"
	       " --scale tiny --out %s --mock-attestation --threads %d --seed %llu --budget 1e9 --json",
	    tu_karpa(), g.state, patch, g.why, key, g.data, bad, THREADS, seed);
	/* killed after the refusal is recorded, before the original is
	 * settled: the original is still pending ... */
	run(CRASH_EXIT, "KARPA_CRASH_AT=judge_before_settle %s judge %s %s --json --threads %d", tu_karpa_san(), g.state, bad,
	    THREADS);
	e = corpus_entry(id, &doc);
	assert_string_equal(tu_jstr(e, "verdict"), "challenge_pending");
	json_decref(doc);
	/* ... until the next answer (the same run, re-signed with another
	 * rationale) comes: it finds the refusal, settles the original and is
	 * no answer to anything */
	{
		char why2[FS_PATH_MAX], again[FS_PATH_MAX], locked[FS_PATH_MAX];

		fx_file(why2, "second-why.md");
		fx_file(again, "second-again");
		fx_file(locked, "state-locked");
		run(0, "printf 'The same run, said again.\\n' > %s", why2);
		run(0, "%s prove --recipe %s/recipe --king recipe-v0.1.0 --patch %s --rationale %s --key %s --data %s"
		       " --scale tiny --out %s --mock-attestation --threads %d --seed %llu --budget 1e9 --json",
		    tu_karpa(), g.state, patch, why2, key, g.data, again, THREADS, seed);
		/* the settlement's write meets a database another process holds
		 * past the busy timeout: the state's trouble, no verdict and
		 * nothing recorded (before, the answer was rejected for good
		 * under its manifest with vstate.busy) */
		run(0, "(/usr/bin/python3 -c \"import os, sqlite3, time; c = sqlite3.connect('%s/%s', isolation_level=None,"
		       " timeout=30); c.execute('BEGIN IMMEDIATE'); open('%s', 'w').close(); t = time.time();"
		       " [time.sleep(0.1) for _ in iter(lambda: os.path.exists('%s.release') or time.time() - t > 300,"
		       " True)]\" >/dev/null 2>&1 &); while [ ! -e %s ]; do sleep 0.1; done",
		    g.state, VSTATE_DB, locked, locked, locked);
		/* held until the judge has given up waiting, however long it
		 * took to reach the write */
		run(1, "%s judge %s %s --json --threads %d", tu_karpa(), g.state, again, THREADS);
		if (!strstr(g.out, "vstate.busy") || !strstr(g.out, "no verdict: this validator could not run check attest_verify"))
			fail_msg("expected no verdict with vstate.busy:\n%s", g.out);
		run(0, "touch %s.release", locked);
		e = corpus_entry(id, &doc);
		assert_string_equal(tu_jstr(e, "verdict"), "challenge_pending");
		json_decref(doc);
		j = judge(again);
		assert_string_equal(tu_jstr(j, "verdict"), "rejected");
		assert_string_equal(tu_jstr(j, "code"), "judge.bad_seed");
		json_decref(j);
	}
	e = corpus_entry(id, &doc);
	assert_string_equal(tu_jstr(e, "verdict"), "challenge_failed");
	assert_string_equal(tu_jstr(e, "reason_code"), "judge.budget_units");
	json_decref(doc);
	/* the discoverer's challenge is another's, and stands */
	e = corpus_entry(g.genuine_id, &doc);
	assert_string_equal(tu_jstr(e, "verdict"), "challenge_pending");
	json_decref(doc);
}

/* Judges bundle with the sanitizer build in the background, held at
 * crash point `point` (crash.h) until gate exists: returns once it is
 * there. Its JSON goes to gate.json, its exit status to gate.rc. */
static void judge_held_at(const char *bundle, const char *point, const char *gate, const char *env)
{
	run(0, "(%s KARPA_WAIT_AT=%s:%s %s judge %s %s --json --threads %d > %s.json 2>%s.err; echo $? > %s.rc)"
	       " >/dev/null 2>&1 & i=0; while [ ! -e %s.reached ] && [ ! -e %s.rc ] && [ $i -lt 3000 ]; do"
	       " sleep 0.1; i=$((i+1)); done; [ -e %s.reached ]",
	    env, point, gate, tu_karpa_san(), g.state, bundle, THREADS, gate, gate, gate, gate, gate, gate);
}

/* Lets the judgment held at gate go on; its JSON once it ended (exit 0). */
static json_t *judge_released(const char *gate)
{
	run(0, "touch %s && i=0; while [ ! -e %s.rc ] && [ $i -lt 3000 ]; do sleep 0.1; i=$((i+1)); done;"
	       " [ \"$(cat %s.rc)\" = 0 ] || cat %s.err >&2; cat %s.rc %s.json",
	    gate, gate, gate, gate, gate, gate);
	return tu_out_json(strchr(g.out, '\n') + 1);
}

/* The discoverer's confirmation merges and names the discoverer. Keeping
 * the bundle fails after the merge (the store is broken): the king changed,
 * so the verdict is still reported, with a warning.
 *
 * Around it, two judgments interleaved by the test hooks. The same
 * confirmation judged twice at once (a retry, a second upload): the first
 * held after recording the answer, the second resumes the settlement and
 * merges; the first then finds the challenge settled and must leave the
 * crowned answer as it is (it made it challenge_failed, and the new king
 * paid nobody). And another miner's decisive original measured against
 * the old king, recorded only after the merge: it is stale, as the merge
 * settled every challenge pending on the old king (it was recorded
 * challenge_pending, and nothing ever settled it). */
static void test_confirmation_merges_despite_store_failure(void **unused)
{
	char b[FS_PATH_MAX], store[FS_PATH_MAX], key[FS_PATH_MAX], patch[FS_PATH_MAX], late[FS_PATH_MAX];
	char gate_a[FS_PATH_MAX], gate_b[FS_PATH_MAX], gate_c[FS_PATH_MAX], again[FS_PATH_MAX], answer[64];
	json_t *j, *st, *doc, *e;

	if (!g.seed)
		fail_msg("no challenge seed from the cases before");
	fx_file(b, "confirm");
	prove(g.seed, b);
	other_miner("third.key", 140, key, patch);
	fx_file(late, "third");
	fx_file(gate_a, "gate-answer");
	fx_file(gate_b, "gate-late");
	fx_file(gate_c, "gate-again");
	fx_file(again, "confirm-again");
	prove_as(key, patch, 1, late);
	/* the same answer re-signed (another rationale), held before it is
	 * recorded, and then killed before its own settlement: recorded after
	 * the crowning settled the challenge, it must not be left pending */
	run(0, "printf 'The same confirmation, said again.\\n' > %s.md && %s prove --recipe %s/recipe --king recipe-v0.1.0"
	       " --patch %s --rationale %s.md --key %s --data %s --scale tiny --out %s --mock-attestation --threads %d"
	       " --seed %llu --json",
	    again, tu_karpa(), g.state, g.patch, again, g.key, g.data, again, THREADS, g.seed);
	judge_held_at(late, "judge_before_record", gate_b, "");
	judge_held_at(again, "judge_before_record", gate_c, "KARPA_CRASH_AT=judge_before_settle");
	judge_held_at(b, "judge_before_settle", gate_a, "");
	snprintf(store, sizeof store, "%s/store", g.state);
	run(0, "mv %s %s.away && touch %s", store, store, store);
	j = judge(b);
	run(0, "rm %s && mv %s.away %s", store, store, store);
	assert_string_equal(tu_jstr(j, "verdict"), "accepted_king");
	assert_string_equal(tu_jstr(j, "new_king"), "recipe-v0.1.1");
	assert_true(strlen(tu_jstr(j, "warning")) > 0);
	snprintf(answer, sizeof answer, "%s", tu_jstr(j, "id"));
	json_decref(j);
	j = judge_released(gate_a);
	assert_string_equal(tu_jstr(j, "verdict"), "accepted_king");
	json_decref(j);
	j = judge_released(gate_b);
	assert_string_equal(tu_jstr(j, "verdict"), "challenge_failed");
	assert_string_equal(tu_jstr(j, "code"), "king.stale");
	assert_null(json_object_get(j, "challenge_seed"));
	e = corpus_entry(tu_jstr(j, "id"), &doc);
	assert_true(json_is_null(json_object_get(e, "challenge_seed"))); /* none in the corpus either */
	json_decref(doc);
	json_decref(j);
	run(0, "touch %s && i=0; while [ ! -e %s.rc ] && [ $i -lt 3000 ]; do sleep 0.1; i=$((i+1)); done; cat %s.rc",
	    gate_c, gate_c, gate_c);
	assert_int_equal(atoi(g.out), CRASH_EXIT);
	run(0, "sha256sum < %s/manifest.json | cut -c1-64", again);
	g.out[64] = '\0';
	{
		char manifest[65];

		snprintf(manifest, sizeof manifest, "%s", g.out);
		e = corpus_entry(manifest, &doc);
		assert_string_equal(tu_jstr(e, "verdict"), "challenge_failed");
		assert_string_equal(tu_jstr(e, "reason_code"), "king.challenge_settled");
		json_decref(doc);
	}
	/* the answer that crowned recipe-v0.1.1 stays accepted_king */
	e = corpus_entry(answer, &doc);
	assert_string_equal(tu_jstr(e, "verdict"), "accepted_king");
	json_decref(doc);

	run(0, "%s validator status %s --json", tu_karpa(), g.state);
	st = tu_out_json(g.out);
	assert_string_equal(tu_jstr(json_object_get(st, "king"), "tag"), "recipe-v0.1.1");
	json_decref(st);
	run(0, "git -C %s/recipe log -1 --format=%%B recipe-v0.1.1", g.state);
	assert_non_null(strstr(g.out, g.k.pk_hex));
	assert_null(strstr(g.out, g.thief.pk_hex));
	e = corpus_entry(g.genuine_id, &doc);
	assert_string_equal(tu_jstr(e, "verdict"), "accepted_king");
	json_decref(doc);
}

/* The genuine bundle, judged, is a replay when it comes again. */
static void test_true_replay_is_refused(void **unused)
{
	if (!g.genuine_id[0])
		fail_msg("the genuine bundle was not judged by the case before");
	run(1, "%s judge %s %s --json --threads %d", tu_karpa(), g.state, g.genuine, THREADS);
	assert_non_null(strstr(g.out, "judge.duplicate"));
	assert_non_null(strstr(g.out, g.genuine_id));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_damaged_copy_does_not_block),
		cmocka_unit_test(test_copier_gets_no_challenge),
		cmocka_unit_test(test_resigned_model_gets_the_same_seed),
		cmocka_unit_test(test_retrained_copy_gets_no_challenge),
		cmocka_unit_test(test_evaluation_tweak_is_a_copy),
		cmocka_unit_test(test_refused_answer_ends_the_challenge),
		cmocka_unit_test(test_confirmation_merges_despite_store_failure),
		cmocka_unit_test(test_true_replay_is_refused),
	};

	return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
