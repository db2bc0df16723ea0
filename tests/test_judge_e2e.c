/* test_judge_e2e.c: a validator and a miner at the tiny scale, through the
 * CLI only: an honest improvement is proved, judged decisive, confirmed
 * under the validator's challenge seed and crowned recipe-v0.1.1 (a copy
 * with flipped intermediate checkpoints is refused first, and under a wider
 * margin measured before the answer nothing is crowned); a patch that
 * changes nothing the model computes is judged not decisive; a replayed
 * bundle is refused; every judgment's costs are printed for the record.
 *
 * One fixture for the whole group (data with a hidden split, a validator
 * state with a 3-seed noise floor, a miner key and the miner's clone of the
 * recipe repository). The cases run in order and build on each other: the
 * second one proves against whatever king the first one left. */
#include "testutil.h"
#include "service_fixture.h"
#include "judge/judge.h"
#include "util/crash.h"
#include "validator/validator.h"

#include <jansson.h>
#include <math.h>
#include <sys/stat.h>
#include <time.h>

#define OUT_CAP (256u << 10)
/* Seeds of the noise floor: two, the least that has a spread, to fit a
 * loaded machine's time (run 2's seed is drawn from each state's secret,
 * so the margin varies from state to state: about 0.01 bpb at tiny, far
 * under the ~0.2 bpb the candidates here gain); PROTOCOL 6's default of
 * ten is for real validators. */
#define NOISE_SEEDS 2
#define THREADS 2

struct fx {
	char *tmp;
	char data[FS_PATH_MAX], hidden[FS_PATH_MAX], state[FS_PATH_MAX], clone[FS_PATH_MAX], key[FS_PATH_MAX];
	char first_id[64];  /* the honest improvement's submission */
	char first_bundle[FS_PATH_MAX];
	char comment_id[64]; /* the comment-only submission: the king's own model */
	char *out;          /* OUT_CAP bytes of captured output */
};

static struct fx g;

/* Short names for the shared helpers in testutil.h, bound to this file's output buffer. */
#define now_s() tu_now_s()
#define run(want, ...) tu_run_want(g.out, OUT_CAP, (want), __VA_ARGS__)
#define out_json() tu_out_json(g.out)
#define jstr tu_jstr
#define jnum tu_jnum

static void write_text(const char *path, const char *text)
{
	struct kerr err;

	if (fs_write_atomic(path, text, strlen(text), &err) < 0)
		fail_msg("%s: %s", path, err.msg);
}

/* A patch against king `tag`, made in the miner's clone by a sed edit of one
 * file; fails when the edit changed nothing (the recipe moved under us). */
static void make_patch(const char *tag, const char *file, const char *sed, const char *out)
{
	struct stat sb;

	run(0, "git -C %s fetch -q --tags origin && git -C %s checkout -q --detach %s", g.clone, g.clone, tag);
	run(0, "sed -i -e '%s' %s/%s && git -C %s diff > %s && git -C %s checkout -q -- .", sed, g.clone, file,
	    g.clone, out, g.clone);
	assert_int_equal(stat(out, &sb), 0);
	if (sb.st_size == 0)
		fail_msg("sed '%s' did not change %s at %s", sed, file, tag);
}

/* prove with its extra flags */
static void prove_with(const char *flags, const char *tag, const char *patch, const char *rationale, uint64_t seed,
		       const char *out)
{
	double t0 = now_s();

	run(0, "%s prove --recipe %s/recipe --king %s --patch %s --rationale %s --key %s --data %s --scale tiny"
	       " --out %s --mock-attestation --threads %d --seed %llu --json %s",
	    tu_karpa(), g.state, tag, patch, rationale, g.key, g.data, out, THREADS, (unsigned long long)seed, flags);
	print_message("   prove %s (seed %llu): %.1f s wall\n", strrchr(out, '/') + 1, (unsigned long long)seed,
		      now_s() - t0);
}

static void prove(const char *tag, const char *patch, const char *rationale, uint64_t seed, const char *out)
{
	prove_with("", tag, patch, rationale, seed, out);
}

/* Judges a bundle and prints its costs: per check, the judge's and the
 * proof's CPU seconds (the figures quoted for PROTOCOL 5's cost target). */
static json_t *judge_with(const char *bundle, const char *flags)
{
	double t0 = now_s();
	json_t *j, *checks, *ck;
	size_t i;

	run(0, "%s judge %s %s --json --threads %d %s", tu_karpa(), g.state, bundle, THREADS, flags);
	j = out_json();
	checks = json_object_get(j, "checks");
	assert_true(json_is_array(checks));
	print_message("   judge %s: %s %s (%.1f s wall)\n", strrchr(bundle, '/') + 1, jstr(j, "verdict"),
		      jstr(j, "code"), now_s() - t0);
	json_array_foreach(checks, i, ck)
	{
		assert_true(isfinite(jnum(ck, "cpu_s")) && jnum(ck, "cpu_s") >= 0);
		print_message("     %-17s %-4s %8.3f cpu-s %s\n", jstr(ck, "name"), jstr(ck, "outcome"),
			      jnum(ck, "cpu_s"), jstr(ck, "code"));
	}
	print_message("     judge_cpu_s %.3f  proof_cpu_s %.3f  ratio %.1f%%\n", jnum(j, "judge_cpu_s"),
		      jnum(j, "proof_cpu_s"), 100.0 * jnum(j, "judge_cpu_s") / jnum(j, "proof_cpu_s"));
	assert_true(jnum(j, "judge_cpu_s") > 0);
	assert_true(jnum(j, "proof_cpu_s") > 0);
	return j;
}

static json_t *judge(const char *bundle)
{
	return judge_with(bundle, "");
}

/* Judges bundle (with flags) on a copy of the state where a noise floor
 * with the given margin was just measured (NAN: the one in force) and the
 * original submission's hidden score reads orig_hidden (NAN: as judged), and
 * adds to the verdict the original's as the copy then records it
 * ("original_verdict"); a verdict that names no new king must have left
 * no new tag. The copy is removed. */
static json_t *judge_on_copy(const char *bundle, const char *flags, double margin, double orig_hidden)
{
	char copy[FS_PATH_MAX + 8], sql[512];
	json_t *j, *doc;

	snprintf(copy, sizeof copy, "%s-copy", g.state);
	run(0, "rm -rf %s && cp -a %s %s", copy, g.state, copy);
	if (!isnan(orig_hidden)) {
		snprintf(sql, sizeof sql, "UPDATE submissions SET hidden_bpb = %.17g WHERE id = '%s'", orig_hidden,
			 g.first_id);
		sf_state_sql(copy, sql);
	}
	if (!isnan(margin)) {
		snprintf(sql, sizeof sql,
			 "INSERT INTO noise(king_tag, scale, seeds, sigma, margin, values_json, created_at)"
			 " SELECT king_tag, scale, seeds, sigma, %.17g, values_json,"
			 " strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', 'now') FROM noise ORDER BY id DESC LIMIT 1",
			 margin);
		sf_state_sql(copy, sql);
	}
	run(0, "%s judge %s %s --json --threads %d %s", tu_karpa(), copy, bundle, THREADS, flags);
	j = out_json();
	if (!isnan(margin))
		assert_true(jnum(j, "margin") == margin);
	run(0, "%s corpus %s show %s --json", tu_karpa(), copy, g.first_id);
	doc = out_json();
	json_object_set_new(j, "original_verdict", json_string(jstr(json_object_get(doc, "entry"), "verdict")));
	json_decref(doc);
	run(0, "git -C %s/recipe tag", copy);
	if (!strcmp(jstr(j, "new_king"), ""))
		assert_null(strstr(g.out, "recipe-v0.1.1"));
	else {
		/* what the change earns: its kings row's improvement */
		run(0, "/usr/bin/python3 -c \"import sqlite3; print(repr(sqlite3.connect('file:%s/%s?mode=ro', uri=True)"
		       ".execute('SELECT improvement FROM kings WHERE submission_id = ?', ('%s',)).fetchone()[0]))\"",
		    copy, VSTATE_DB, jstr(j, "id"));
		json_object_set_new(j, "paid", json_real(strtod(g.out, NULL)));
	}
	fs_rm_rf(copy);
	return j;
}

static void fx_file(char *out, const char *name)
{
	snprintf(out, FS_PATH_MAX, "%s/%s", g.tmp, name);
}

static int setup_group(void **unused)
{
	double t0 = now_s();

	memset(&g, 0, sizeof g);
	g.tmp = tu_mkdtemp();
	g.out = malloc(OUT_CAP);
	assert_non_null(g.out);
	fx_file(g.data, "data");
	fx_file(g.hidden, "hidden");
	fx_file(g.state, "state");
	fx_file(g.clone, "miner-recipe");
	fx_file(g.key, "miner.key");
	run(0, "%s data prepare --scale tiny --out %s --hidden-out %s", tu_karpa(), g.data, g.hidden);
	run(0, "%s validator init %s --data %s --hidden %s --scale tiny", tu_karpa(), g.state, g.data, g.hidden);
	tu_fix_secret(g.out, OUT_CAP, g.state);
	run(0, "%s noise-floor %s --seeds %d --threads %d --json", tu_karpa(), g.state, NOISE_SEEDS, THREADS);
	{
		json_t *j = out_json();
		print_message("   noise floor: %d seeds, sigma %.5f, margin %.5f, king hidden %.5f (%.0f s)\n",
			      NOISE_SEEDS, jnum(j, "sigma"), jnum(j, "margin"), jnum(j, "king_hidden_bpb"),
			      now_s() - t0);
		assert_true(jnum(j, "margin") > 0);
		assert_true(json_integer_value(json_object_get(j, "causality_aimed")) > 0);
		json_decref(j);
	}
	run(0, "%s keygen --out %s", tu_karpa(), g.key);
	run(0, "git clone -q %s/recipe %s", g.state, g.clone);
	return 0;
}

static int teardown_group(void **unused)
{
	tu_rmdir(g.tmp);
	free(g.out);
	return 0;
}

static int held_needs(const char *b, char names[JUDGE_HELD_NEEDS_MAX][BUNDLE_NAME_MAX + 1]);

/* 1. Five times the steps at tiny (30 -> 150): the baseline stops while the
 * loss still falls steeply, so this helps by ~0.2 bpb against a margin of
 * ~0.013, and by more than the margin at every seed tried by hand (the
 * challenge seed is random per state: the worst of six seeds still gained
 * 0.04). A learning-rate change alone was within the noise at tiny. */
static void test_honest_improvement_becomes_king(void **unused)
{
	char patch[FS_PATH_MAX], why[FS_PATH_MAX], b1[FS_PATH_MAX], b2[FS_PATH_MAX], held[FS_PATH_MAX + 16];
	char names[JUDGE_HELD_NEEDS_MAX][BUNDLE_NAME_MAX + 1];
	int nheld;
	json_t *j, *st;
	uint64_t cseed;
	double orig_gain;
	const char *id2;

	fx_file(patch, "steps.diff");
	fx_file(why, "steps.md");
	fx_file(b1, "bundle-steps");
	fx_file(b2, "bundle-steps-challenge");
	make_patch("recipe-v0.1.0", "config.c",
		   "s/{ \"tiny\", 64, 2, 2, 64, 4, 30, 5, 10, 3e-3f }/{ \"tiny\", 64, 2, 2, 64, 4, 150, 5, 10, 3e-3f }/",
		   patch);
	write_text(why, "Train five times longer at the tiny scale: the baseline stops while the loss is still"
			" falling steeply.\n");
	prove("recipe-v0.1.0", patch, why, 1, b1);
	/* The same bundle with a byte of each intermediate checkpoint flipped
	 * and its manifest untouched: the judgment's take leaves those to be
	 * hashed when read, and a verdict that could change the king reads and
	 * hashes them all first. Recorded under what was received, so the
	 * genuine bundle is still judged on its own (next). */
	{
		char bad[FS_PATH_MAX + 8];
		int flipped = 0;

		snprintf(bad, sizeof bad, "%s-flipped", b1);
		run(0, "cp -r %s %s && ls %s/checkpoints", b1, bad, bad);
		for (char *name = strtok(g.out, "\n"); name; name = strtok(NULL, "\n")) {
			char p[2 * FS_PATH_MAX];
			FILE *f;
			int c;

			if (strncmp(name, "step_", 5))
				continue;
			snprintf(p, sizeof p, "%s/checkpoints/%s", bad, name);
			f = fopen(p, "r+b");
			assert_non_null(f);
			assert_int_equal(fseek(f, -1, SEEK_END), 0);
			c = fgetc(f);
			assert_int_equal(fseek(f, -1, SEEK_END), 0);
			assert_int_equal(fputc(c ^ 0x80, f), c ^ 0x80);
			assert_int_equal(fclose(f), 0);
			flipped++;
		}
		assert_true(flipped > 0);
		j = judge(bad);
		assert_string_equal(jstr(j, "verdict"), "rejected");
		assert_string_equal(jstr(j, "code"), "bundle.file_digest");
		assert_non_null(strstr(jstr(j, "reason"), "checkpoints/step_"));
		json_decref(j);
	}
	j = judge(b1);
	assert_string_equal(jstr(j, "verdict"), "challenge_pending");
	assert_string_equal(jstr(j, "code"), "");
	assert_true(jnum(j, "king_bpb") - jnum(j, "hidden_bpb") > jnum(j, "margin"));
	/* Scored in full against the king's recorded losses: the aimed
	 * probes ran, after the drawn ones. */
	print_message("     causality: %d drawn probes, %d aimed\n",
		      (int)json_integer_value(json_object_get(j, "causality_probes")),
		      (int)json_integer_value(json_object_get(j, "causality_aimed")));
	assert_true(json_integer_value(json_object_get(j, "causality_probes")) > 0);
	assert_true(json_integer_value(json_object_get(j, "causality_aimed")) > 0);
	cseed = (uint64_t)json_integer_value(json_object_get(j, "challenge_seed"));
	assert_true(cseed >= 2);
	orig_gain = jnum(j, "king_bpb") - jnum(j, "hidden_bpb");
	snprintf(g.first_id, sizeof g.first_id, "%s", jstr(j, "id"));
	snprintf(g.first_bundle, sizeof g.first_bundle, "%s", b1);
	json_decref(j);

	/* The answer holds its checkpoints back (--hold): a decisive judgment's
	 * binding replay takes the drawn ones from --held. */
	prove_with("--hold", "recipe-v0.1.0", patch, why, cseed, b2);
	snprintf(held, sizeof held, "--held %s.held", b2);
	/* what this validator's draws need of them, unless both start at the
	 * initialisation or the kept checkpoint (about 1 in 70): without them,
	 * no judgment and nothing recorded */
	if ((nheld = held_needs(b2, names)) > 0) {
		run(1, "%s judge %s %s --json --threads %d", tu_karpa(), g.state, b2, THREADS);
		assert_non_null(strstr(g.out, "judge.held_needed"));
		assert_non_null(strstr(g.out, names[0]));
	}
	print_message("   the answer holds its checkpoints; this validator draws %d of them\n", nheld);
	/* A noise floor measured again before the answer is judged, its margin
	 * between the original's gain and the answer's (on copies of the
	 * state): no king is made, and the challenge is settled
	 * challenge_failed rather than left pending. The answer's seed is
	 * drawn afresh each run, and its gain with it, so it is measured
	 * first: when it gained more than the original, the margin refuses the
	 * merge of the original's numbers (king.not_decisive); when less, the
	 * answer itself (judge.challenge_failed). The merge's refusal is then
	 * shown whatever the seed: an original recorded with a gain below a
	 * margin the answer clears. */
	{
		json_t *f = judge_on_copy(b2, held, NAN, NAN);
		double king_bpb = jnum(f, "king_bpb"), ans_gain = king_bpb - jnum(f, "hidden_bpb"), margin_now;
		const struct {
			double margin, orig_gain;
			const char *want;
		} cases[] = {
			{ (orig_gain + ans_gain) / 2, orig_gain,
			  ans_gain > orig_gain ? "king.not_decisive" : "judge.challenge_failed" },
			{ ans_gain / 2, ans_gain / 4, "king.not_decisive" },
		};

		assert_string_equal(jstr(f, "verdict"), "accepted_king");
		assert_true(fabs(jnum(f, "paid") - fmin(orig_gain, ans_gain)) < 1e-12);
		margin_now = jnum(f, "margin");
		json_decref(f);
		/* What a change earns is the lower of the two runs' gains, the
		 * original's recorded one set on each side of the answer's: a
		 * seed-1 run could be a miner's pick among variants, the drawn
		 * seed's not. */
		{
			const double origs[] = { 2 * ans_gain, (margin_now + ans_gain) / 2 };

			for (size_t i = 0; i < sizeof origs / sizeof origs[0]; i++) {
				f = judge_on_copy(b2, held, NAN, king_bpb - origs[i]);
				print_message("   the original gained %.6f, the answer %.6f: %s, paid %.6f\n", origs[i],
					      ans_gain, jstr(f, "verdict"), jnum(f, "paid"));
				assert_string_equal(jstr(f, "verdict"), "accepted_king");
				assert_true(fabs(jnum(f, "paid") - fmin(origs[i], ans_gain)) < 1e-12);
				json_decref(f);
			}
		}
		for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
			f = judge_on_copy(b2, held, cases[i].margin,
					  cases[i].orig_gain == orig_gain ? NAN : king_bpb - cases[i].orig_gain);
			print_message("   under a margin of %.6f (the original gained %.6f, the answer %.6f): %s %s\n",
				      cases[i].margin, cases[i].orig_gain, ans_gain, jstr(f, "verdict"), jstr(f, "code"));
			assert_string_equal(jstr(f, "verdict"), "challenge_failed");
			if (strcmp(jstr(f, "code"), cases[i].want))
				fail_msg("expected %s, got %s: %s", cases[i].want, jstr(f, "code"), jstr(f, "reason"));
			assert_string_equal(jstr(f, "new_king"), "");
			assert_string_equal(jstr(f, "original_verdict"), "challenge_failed");
			json_decref(f);
		}
	}
	/* Killed after the answer is recorded, before the merge: judged again,
	 * the answer resumes at its settlement rather than being refused as a
	 * replay of itself. */
	run(CRASH_EXIT, "KARPA_CRASH_AT=judge_before_settle %s judge %s %s --json --threads %d %s", tu_karpa_san(), g.state,
	    b2, THREADS, held);
	run(0, "%s corpus %s show %s --json", tu_karpa(), g.state, g.first_id);
	{
		json_t *doc = out_json();
		assert_string_equal(jstr(json_object_get(doc, "entry"), "verdict"), "challenge_pending");
		json_decref(doc);
	}
	/* The same manifest with another patch.diff beside it (anyone who saw
	 * the manifest could send one): the resumed settlement would merge
	 * that patch, unscanned and untrained. Refused, and nothing changes. */
	{
		char forged[FS_PATH_MAX];

		snprintf(forged, sizeof forged, "%s-forged", b2);
		run(0, "cp -r %s %s && sed -i 's/150, 5, 10/151, 5, 10/' %s/patch.diff && ! cmp -s %s/patch.diff %s/patch.diff",
		    b2, forged, forged, b2, forged);
		run(1, "%s judge %s %s --json --threads %d %s", tu_karpa(), g.state, forged, THREADS, held);
		assert_non_null(strstr(g.out, "resuming the settlement"));
		run(0, "git -C %s/recipe tag", g.state);
		assert_null(strstr(g.out, "recipe-v0.1.1"));
		run(0, "%s corpus %s show %s --json", tu_karpa(), g.state, g.first_id);
		json_t *doc = out_json();
		assert_string_equal(jstr(json_object_get(doc, "entry"), "verdict"), "challenge_pending");
		json_decref(doc);
	}
	j = judge_with(b2, held);
	assert_string_equal(jstr(j, "verdict"), "accepted_king");
	assert_string_equal(jstr(j, "new_king"), "recipe-v0.1.1");
	assert_true(jnum(j, "king_bpb") - jnum(j, "hidden_bpb") > jnum(j, "margin"));
	id2 = jstr(j, "id");
	assert_string_not_equal(id2, g.first_id);
	/* the resumed settlement pays the lower gain too, from the answer's
	 * recorded score */
	run(0, "/usr/bin/python3 -c \"import sqlite3; print(repr(sqlite3.connect('file:%s/%s?mode=ro', uri=True)"
	       ".execute('SELECT improvement FROM kings WHERE submission_id = ?', ('%s',)).fetchone()[0]))\"",
	    g.state, VSTATE_DB, id2);
	assert_true(fabs(strtod(g.out, NULL) - fmin(orig_gain, jnum(j, "king_bpb") - jnum(j, "hidden_bpb"))) < 1e-12);

	run(0, "git -C %s/recipe tag", g.state);
	assert_non_null(strstr(g.out, "recipe-v0.1.0\nrecipe-v0.1.1\n"));
	run(0, "git -C %s/recipe log -1 --format=%%B recipe-v0.1.1", g.state);
	assert_non_null(strstr(g.out, "Train five times longer"));
	assert_non_null(strstr(g.out, "Karpa-Hidden-Bpb: "));
	assert_non_null(strstr(g.out, "Karpa-Margin: "));
	assert_non_null(strstr(g.out, "Karpa-From: recipe-v0.1.0"));
	/* The merged tree is the patched one. */
	run(0, "git -C %s/recipe show recipe-v0.1.1:config.c", g.state);
	assert_non_null(strstr(g.out, "{ \"tiny\", 64, 2, 2, 64, 4, 150, 5, 10, 3e-3f }"));

	run(0, "%s validator status %s --json", tu_karpa(), g.state);
	st = out_json();
	assert_string_equal(jstr(json_object_get(st, "king"), "tag"), "recipe-v0.1.1");
	/* The new king's score is its protocol-seed run, the first submission. */
	{
		json_t *k = json_object_get(st, "king");
		double kh = jnum(k, "hidden_bpb");
		run(0, "%s corpus %s show %s --json", tu_karpa(), g.state, g.first_id);
		json_t *doc = out_json(), *e = json_object_get(doc, "entry");
		assert_true(kh == jnum(e, "hidden_bpb"));
		assert_string_equal(jstr(e, "verdict"), "accepted_king");
		json_decref(doc);
	}
	json_decref(st);

	run(0, "%s corpus %s search steeply", tu_karpa(), g.state);
	assert_non_null(strstr(g.out, g.first_id));
	assert_non_null(strstr(g.out, id2));
	assert_non_null(strstr(g.out, "accepted_king"));
	run(0, "%s corpus %s cite %s", tu_karpa(), g.state, g.first_id);
	assert_non_null(strstr(g.out, "Karpa corpus, submission "));
	assert_non_null(strstr(g.out, g.first_id));
	assert_non_null(strstr(g.out, "verdict accepted_king"));
	json_decref(j);
}

/* 2. A comment-only patch trains the very same model: its hidden score is
 * the king's to the bit, so it cannot clear any margin. */
static void test_comment_only_is_not_decisive(void **unused)
{
	char patch[FS_PATH_MAX], why[FS_PATH_MAX], b[FS_PATH_MAX], king[64];
	json_t *j, *st;
	const char *id;

	run(0, "%s validator status %s --json", tu_karpa(), g.state);
	st = out_json();
	snprintf(king, sizeof king, "%s", jstr(json_object_get(st, "king"), "tag"));
	json_decref(st);
	fx_file(patch, "comment.diff");
	fx_file(why, "comment.md");
	fx_file(b, "bundle-comment");
	make_patch(king, "config.c", "s|^/\\* tiny: seconds under sanitizers|/* tiny (the test scale): seconds under sanitizers|",
		   patch);
	write_text(why, "Clarify the comment on the scale table; the trained model is unchanged.\n");
	prove(king, patch, why, 1, b);
	/* The validator's own trouble once the bundle is verified (here its
	 * build cache cannot be made) is no verdict: nothing is recorded, and
	 * the bundle is judged once the trouble is gone (a recorded one would
	 * be judge.duplicate below). */
	run(1, "KARPA_CACHE=/dev/null/cache %s judge %s %s --json --threads %d", tu_karpa(), g.state, b, THREADS);
	assert_non_null(strstr(g.out, "fs.mkdir"));
	assert_non_null(strstr(g.out, "no verdict"));
	j = judge(b);
	assert_string_equal(jstr(j, "verdict"), "not_decisive");
	assert_string_equal(jstr(j, "code"), "judge.not_decisive");
	assert_true(jnum(j, "hidden_bpb") == jnum(j, "king_bpb"));
	/* The king's own model: the sequential test stops the hidden scoring
	 * early, and the public claim is checked on a share of the public
	 * split, whose short last window (tiny: T 64) is scored as well. */
	assert_string_equal(jstr(j, "hidden_cache"), "used");
	assert_true(json_is_true(json_object_get(j, "hidden_partial")));
	assert_true(json_is_true(json_object_get(j, "public_partial")));
	assert_true((long long)jnum(j, "public_targets") % 64 != 0);
	assert_null(json_object_get(j, "challenge_seed"));
	id = jstr(j, "id");
	snprintf(g.comment_id, sizeof g.comment_id, "%s", id);
	run(0, "%s corpus %s search unchanged --verdict not_decisive", tu_karpa(), g.state);
	assert_non_null(strstr(g.out, id));
	run(0, "%s corpus %s show %s --json", tu_karpa(), g.state, id);
	{
		json_t *doc = out_json(), *e = json_object_get(doc, "entry");
		assert_string_equal(jstr(e, "verdict"), "not_decisive");
		assert_string_equal(jstr(e, "reason_code"), "judge.not_decisive");
		json_decref(doc);
	}
	/* The king did not move. */
	run(0, "%s validator status %s --json", tu_karpa(), g.state);
	st = out_json();
	assert_string_equal(jstr(json_object_get(st, "king"), "tag"), king);
	json_decref(st);
	json_decref(j);
}

/* The final checkpoint of a corpus entry. */
static void final_of(const char *id, char out[80])
{
	json_t *doc;

	run(0, "%s corpus %s show %s --json", tu_karpa(), g.state, id);
	doc = out_json();
	snprintf(out, 80, "%s", jstr(json_object_get(doc, "entry"), "final_sha256"));
	json_decref(doc);
	assert_int_equal(strlen(out), 64);
}

/* A patch that changes only how the model is evaluated (its logits scaled)
 * trains the king's own model: the comment-only proof's final checkpoint,
 * which is also the crowned proof's (the king's baseline). It is another
 * idea, not that proof's copy: its credit is its own. */
static void test_eval_only_is_its_own_idea(void **unused)
{
	char patch[FS_PATH_MAX], why[FS_PATH_MAX], b[FS_PATH_MAX], king[64], fin[80], base[80], crowned[80];
	json_t *j, *st, *doc;

	if (!g.comment_id[0] || !g.first_id[0])
		fail_msg("the cases before did not leave a crowned proof and a comment-only one");
	run(0, "%s validator status %s --json", tu_karpa(), g.state);
	st = out_json();
	snprintf(king, sizeof king, "%s", jstr(json_object_get(st, "king"), "tag"));
	json_decref(st);
	final_of(g.comment_id, base);
	final_of(g.first_id, crowned);
	assert_string_equal(base, crowned);
	fx_file(patch, "eval.diff");
	fx_file(why, "eval.md");
	fx_file(b, "bundle-eval");
	make_patch(king, "recipe.c",
		   "/gpt_forward(g, g->inputs, n, T, logits/a\\\t\tfor (size_t k = 0; k < (size_t)n * T * c->V; k++)"
		   " logits[(size_t)r0 * T * c->V + k] *= 1.0009765625f;",
		   patch);
	write_text(why, "Scale the logits a little at evaluation; training is unchanged.\n");
	prove(king, patch, why, 1, b);
	j = judge(b);
	print_message("   evaluation only: %s %s, hidden %.9f against the king's %.9f\n", jstr(j, "verdict"),
		      jstr(j, "code"), jnum(j, "hidden_bpb"), jnum(j, "king_bpb"));
	assert_true(jnum(j, "hidden_bpb") != jnum(j, "king_bpb"));
	assert_string_not_equal(jstr(j, "code"), "judge.copy");
	final_of(jstr(j, "id"), fin);
	assert_string_equal(fin, base);
	run(0, "%s corpus %s show %s --json", tu_karpa(), g.state, jstr(j, "id"));
	doc = out_json();
	assert_true(json_is_null(json_object_get(json_object_get(doc, "entry"), "credited_to")));
	json_decref(doc);
	json_decref(j);
}

/* 3. The same bundle again is a replay: refused before any check runs,
 * nothing new recorded. */
static void test_replay_is_refused(void **unused)
{
	double t0;
	json_t *st;
	json_int_t before;

	if (!g.first_bundle[0])
		fail_msg("an earlier case did not leave a judged bundle to replay");
	run(0, "%s validator status %s --json", tu_karpa(), g.state);
	st = out_json();
	before = json_integer_value(json_object_get(json_object_get(st, "submissions"), "total"));
	json_decref(st);
	t0 = now_s();
	run(1, "%s judge %s %s --json --threads %d", tu_karpa(), g.state, g.first_bundle, THREADS);
	assert_non_null(strstr(g.out, "judge.duplicate"));
	assert_non_null(strstr(g.out, g.first_id));
	print_message("   replay refused in %.2f s\n", now_s() - t0);
	/* Cheap: no build, no evaluation. */
	assert_true(now_s() - t0 < 5.0);
	run(0, "%s validator status %s --json", tu_karpa(), g.state);
	st = out_json();
	assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "submissions"), "total")), before);
	json_decref(st);
}

/* The held checkpoints the validator's draws need from bundle b (the
 * library's own computation, which the judge makes at intake). */
static int held_needs(const char *b, char names[JUDGE_HELD_NEEDS_MAX][BUNDLE_NAME_MAX + 1])
{
	char path[FS_PATH_MAX], *text = NULL;
	struct vstate s;
	struct kerr err = { { 0 }, { 0 } };
	size_t len;
	json_t *m;
	int n = -1;

	snprintf(path, sizeof path, "%s/%s", b, BUNDLE_MANIFEST);
	assert_int_equal(fs_read_file(path, BUNDLE_MANIFEST_BYTES_MAX, 0, &text, &len, &err), 0);
	m = json_loadb(text, len, 0, NULL);
	assert_non_null(m);
	assert_int_equal(validator_open(g.state, &s, &err), 0);
	if (judge_held_needs(&s, m, names, &n, &err) < 0)
		fail_msg("judge_held_needs: %s: %s", err.code, err.msg);
	vstate_close(&s);
	json_decref(m);
	free(text);
	return n;
}

/* 4. A proof that holds its checkpoints back (--hold, the default at the
 * gpu-* scales): the bundle keeps the final segment's start, the miner
 * the rest in BUNDLE.held. The judge asks for the ones it draws and
 * records nothing without them; a held file that is not the logged one is
 * refused by its digest; with them, the judgment runs as for a bundle
 * that keeps everything. A candidate whose two draws both start at the
 * initialisation needs none (about 1 in 70 at tiny): the draws are bound
 * to the final checkpoint, so it is proved again with another model, the
 * learning rate moved by a hundred-thousandth (far inside the noise
 * floor). */
static void test_held_checkpoints(void **unused)
{
	char patch[FS_PATH_MAX], why[FS_PATH_MAX], b[FS_PATH_MAX], bad[FS_PATH_MAX], king[64], text[128];
	char names[JUDGE_HELD_NEEDS_MAX][BUNDLE_NAME_MAX + 1];
	json_t *j, *st;
	json_int_t before, held = 0;
	int n = 0;

	run(0, "%s validator status %s --json", tu_karpa(), g.state);
	st = out_json();
	snprintf(king, sizeof king, "%s", jstr(json_object_get(st, "king"), "tag"));
	before = json_integer_value(json_object_get(json_object_get(st, "submissions"), "total"));
	json_decref(st);
	fx_file(patch, "held.diff");
	for (int attempt = 0; attempt < 4 && n == 0; attempt++) {
		char sed[256];

		snprintf(sed, sizeof sed,
			 "s|^/\\* tiny: seconds under sanitizers|/* tiny, the scale of tests: seconds under sanitizers|;"
			 " s|, 5, 10, 3e-3f }|, 5, 10, 3.0000%de-3f }|",
			 attempt);
		make_patch(king, "config.c", sed, patch);
		snprintf(text, sizeof text, "Reword the comment on the scale table (take %d); the learning rate moves by"
			 " %d in 100000, if at all.\n", attempt, attempt);
		snprintf(why, sizeof why, "%s/held-%d.md", g.tmp, attempt);
		snprintf(b, sizeof b, "%s/bundle-held-%d", g.tmp, attempt);
		write_text(why, text);
		run(0, "%s prove --recipe %s/recipe --king %s --patch %s --rationale %s --key %s --data %s --scale tiny"
		       " --out %s --mock-attestation --threads %d --hold --json",
		    tu_karpa(), g.state, king, patch, why, g.key, g.data, b, THREADS);
		j = out_json();
		held = json_integer_value(json_object_get(j, "held"));
		json_decref(j);
		n = held_needs(b, names);
		print_message("   --hold: %lld checkpoints held, %d drawn by this validator\n", (long long)held, n);
	}
	assert_true(held >= 2);
	assert_true(n >= 1);
	/* the bundle keeps one intermediate; the rest are beside it */
	run(0, "ls %s/checkpoints | wc -l; ls %s.held/checkpoints | wc -l", b, b);
	assert_int_equal(atoi(g.out), 2);
	assert_int_equal(atoi(strchr(g.out, '\n') + 1), (int)held);
	run(0, "%s bundle verify %s", tu_karpa(), b);

	/* without them: no judgment, nothing recorded, the names said */
	run(1, "%s judge %s %s --json --threads %d", tu_karpa(), g.state, b, THREADS);
	assert_non_null(strstr(g.out, "judge.held_needed"));
	for (int i = 0; i < n; i++)
		assert_non_null(strstr(g.out, names[i]));
	/* and for a program (a validator service asks the miner again): each
	 * with the manifest's size and digest */
	{
		json_t *o = tu_out_json(g.out), *a = json_object_get(o, "held_needed"), *e;
		size_t i;

		assert_int_equal(json_array_size(a), (size_t)n);
		json_array_foreach(a, i, e) {
			assert_string_equal(tu_jstr(e, "name"), names[i]);
			assert_true(json_integer_value(json_object_get(e, "bytes")) > 0);
			assert_int_equal(strlen(tu_jstr(e, "sha256")), 64);
		}
		json_decref(o);
	}
	/* another checkpoint's bytes under a drawn name */
	snprintf(bad, sizeof bad, "%s/held-bad", g.tmp);
	run(0, "mkdir -p %s/checkpoints && cp -r %s.held/. %s && cp %s/checkpoints/final.ckpt %s/%s", bad, b, bad, b, bad,
	    names[0]);
	run(1, "%s judge %s %s --held %s --json --threads %d", tu_karpa(), g.state, b, bad, THREADS);
	assert_non_null(strstr(g.out, "bundle.held_digest"));
	run(0, "%s validator status %s --json", tu_karpa(), g.state);
	st = out_json();
	assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "submissions"), "total")), before);
	json_decref(st);

	/* with them: judged like any bundle */
	run(0, "%s judge %s %s --held %s.held --json --threads %d", tu_karpa(), g.state, b, b, THREADS);
	j = out_json();
	print_message("   judge %s --held: %s %s, %lld held checkpoint(s) taken, replay segments %s\n",
		      strrchr(b, '/') + 1, jstr(j, "verdict"), jstr(j, "code"),
		      (long long)json_integer_value(json_object_get(j, "held_taken")),
		      jstr(json_object_get(j, "replay"), "segments"));
	assert_string_equal(jstr(j, "verdict"), "not_decisive");
	assert_int_equal(json_integer_value(json_object_get(j, "held_taken")), n);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_honest_improvement_becomes_king),
		cmocka_unit_test(test_comment_only_is_not_decisive),
		cmocka_unit_test(test_eval_only_is_its_own_idea),
		cmocka_unit_test(test_replay_is_refused),
		cmocka_unit_test(test_held_checkpoints),
	};

	return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
