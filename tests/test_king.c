/* test_king.c: the king rule against a real validator state (SQLite file,
 * git repository) in a temporary folder: the decisive test, challenge seed
 * properties, the merge that creates recipe-v0.1.1, refusals that change
 * nothing, and crash injection at every point of the merge and of recovery
 * (each in a forked child that dies with _exit, as a power cut would),
 * after which exactly one of the old and the new king is current. */
#include "fixtures.h"

#include <fcntl.h>
#include <math.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "validator/expcorpus.h"
#include "validator/king.h"
#include "proof/prove.h"
#include "proof/reciperepo.h"
#include "validator/validator.h"
#include "validator/vstate.h"
#include "util/fsutil.h"
#include "util/hash.h"

#define OUT_MAX 16384

static const char miner_hex[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

static const char patch_text[] = "diff --git a/gpt.c b/gpt.c\n"
				 "--- a/gpt.c\n"
				 "+++ b/gpt.c\n"
				 "@@ -1,2 +1,2 @@\n"
				 " /* gpt.c: a stand-in recipe */\n"
				 "-int gpt_steps = 1;\n"
				 "+int gpt_steps = 2;\n";

/* Applies on top of patch_text (for a second merge after the first). */
static const char patch2_text[] = "diff --git a/gpt.h b/gpt.h\n"
				  "--- a/gpt.h\n"
				  "+++ b/gpt.h\n"
				  "@@ -1 +1,2 @@\n"
				  " extern int gpt_steps;\n"
				  "+extern int gpt_width;\n";

static const char conflict_text[] = "diff --git a/gpt.c b/gpt.c\n"
				    "--- a/gpt.c\n"
				    "+++ b/gpt.c\n"
				    "@@ -1,2 +1,2 @@\n"
				    " /* gpt.c: a stand-in recipe */\n"
				    "-int gpt_steps = 7;\n"
				    "+int gpt_steps = 8;\n";

/* Replaces a line with itself: applies cleanly and changes nothing. */
static const char noop_text[] = "diff --git a/gpt.c b/gpt.c\n"
				"--- a/gpt.c\n"
				"+++ b/gpt.c\n"
				"@@ -1,2 +1,2 @@\n"
				" /* gpt.c: a stand-in recipe */\n"
				"-int gpt_steps = 1;\n"
				"+int gpt_steps = 1;\n";

/* Adds a symbolic link (git's mode 120000) to a file outside the recipe:
 * the merge's patch reader refuses the mode before anything is applied. */
static const char link_text[] = "diff --git a/hidden.c b/hidden.c\n"
				"new file mode 120000\n"
				"--- /dev/null\n"
				"+++ b/hidden.c\n"
				"@@ -0,0 +1 @@\n"
				"+/etc/passwd\n"
				"\\ No newline at end of file\n";

/* Deletes every file of the genesis king, its CUDA part too, from a
 * source that brings its own README.md (else reciperepo_init writes a
 * longer one). */
#define EMPTY_README "A stand-in recipe.\n"
static const char empty_text[] = "diff --git a/README.md b/README.md\n"
				 "deleted file mode 100644\n"
				 "--- a/README.md\n"
				 "+++ /dev/null\n"
				 "@@ -1 +0,0 @@\n"
				 "-" EMPTY_README
				 "diff --git a/gpt.c b/gpt.c\n"
				 "deleted file mode 100644\n"
				 "--- a/gpt.c\n"
				 "+++ /dev/null\n"
				 "@@ -1,2 +0,0 @@\n"
				 "-/* gpt.c: a stand-in recipe */\n"
				 "-int gpt_steps = 1;\n"
				 "diff --git a/gpt.h b/gpt.h\n"
				 "deleted file mode 100644\n"
				 "--- a/gpt.h\n"
				 "+++ /dev/null\n"
				 "@@ -1 +0,0 @@\n"
				 "-extern int gpt_steps;\n"
				 "diff --git a/cuda/k.cu b/cuda/k.cu\n"
				 "deleted file mode 100644\n"
				 "--- a/cuda/k.cu\n"
				 "+++ /dev/null\n"
				 "@@ -1 +0,0 @@\n"
				 "-__global__ void k(void) {}\n";

struct fixture {
	char *tmp;
	char src[FS_PATH_MAX], data[FS_PATH_MAX], hidden[FS_PATH_MAX];
	char patch[FS_PATH_MAX], patch2[FS_PATH_MAX], conflict[FS_PATH_MAX];
	int nstate;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	char cuda[FS_PATH_MAX];

	assert_int_equal(hash_init_lib(), 0);
	f->tmp = tu_mkdtemp();
	fx_state_inputs(f->tmp, f->src, f->data, f->hidden);
	/* a CUDA part, which every king carries over from the genesis */
	snprintf(cuda, sizeof cuda, "%s/cuda", f->src);
	assert_int_equal(mkdir(cuda, 0755), 0);
	tu_put(cuda, "k.cu", "__global__ void k(void) {}\n");
	tu_put(f->tmp, "good.diff", patch_text);
	tu_put(f->tmp, "second.diff", patch2_text);
	tu_put(f->tmp, "conflict.diff", conflict_text);
	snprintf(f->patch, sizeof f->patch, "%s/good.diff", f->tmp);
	snprintf(f->patch2, sizeof f->patch2, "%s/second.diff", f->tmp);
	snprintf(f->conflict, sizeof f->conflict, "%s/conflict.diff", f->tmp);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	tu_rmdir(f->tmp);
	free(f);
	return 0;
}

/* A fresh validator state in its own folder; returns its path. */
static void new_state(struct fixture *f, char out[FS_PATH_MAX])
{
	struct kerr err = { 0 };

	snprintf(out, FS_PATH_MAX, "%s/state%d", f->tmp, f->nstate++);
	struct vstate_init_opts o = { out, f->src, f->data, f->hidden, "tiny" };
	if (vstate_init(&o, &err) < 0)
		fail_msg("vstate_init: %s: %s", err.code, err.msg);
}

static void open_state(const char *dir, struct vstate *s)
{
	struct kerr err = { 0 };

	if (validator_open(dir, s, &err) < 0)
		fail_msg("validator_open: %s: %s", err.code, err.msg);
}

/* Records a submission the judge would have recorded before merging; with
 * of, a challenge answer to that submission. */
static void record_answer(struct vstate *s, unsigned salt, const char *of, char id[EXPCORPUS_ID_BYTES])
{
	struct expcorpus_entry e;
	struct kerr err = { 0 };

	expcorpus_entry_blank(&e);
	if (of)
		snprintf(e.challenge_of, sizeof e.challenge_of, "%s", of);
	/* distinct leading digits: distinct 12-hex corpus ids */
	snprintf(e.manifest_sha256, sizeof e.manifest_sha256, "%08x%056x", salt * 2654435761u, salt);
	snprintf(e.patch_sha256, sizeof e.patch_sha256, "%063x1", salt);
	snprintf(e.miner, sizeof e.miner, "%s", miner_hex);
	snprintf(e.king_tag, sizeof e.king_tag, "%s", RECIPEREPO_FIRST_TAG);
	snprintf(e.verdict, sizeof e.verdict, "%s", EXPCORPUS_CHALLENGE_PENDING);
	snprintf(e.scale, sizeof e.scale, "tiny");
	e.rationale = "Two steps learn more than one.";
	e.patch = (char *)patch_text;
	if (expcorpus_record(s, &e, NULL, 0, id, &err) < 0)
		fail_msg("expcorpus_record: %s: %s", err.code, err.msg);
}

static void record(struct vstate *s, unsigned salt, char id[EXPCORPUS_ID_BYTES])
{
	record_answer(s, salt, NULL, id);
}

static struct king_metrics metrics(void)
{
	struct king_metrics m = { .hidden_bpb = 2.25, .public_bpb = 2.3125, .improvement = 0.125,
				  .margin = 0.0625, .alpha = 0.5, .miner = miner_hex };
	return m;
}

/* king_merge on top of the king as it is now: the base a judge would
 * have read when it measured the candidate. */
static int merge_now(struct vstate *s, const char *id, const char *patch, const char *rationale,
		     const struct king_metrics *m, struct king_merge_result *r, struct kerr *err)
{
	struct vstate_king k;

	if (vstate_king_current(s, &k, err) < 0)
		return -1;
	return king_merge(s, id, k.tag, k.commit, patch, rationale, m, r, err);
}

static long long count(struct vstate *s, const char *sql, const char *arg)
{
	sqlite3_stmt *st;
	long long n;

	assert_int_equal(sqlite3_prepare_v2(s->db, sql, -1, &st, NULL), SQLITE_OK);
	if (arg)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void verdict_of(struct vstate *s, const char *id, char out[EXPCORPUS_VERDICT_MAX])
{
	struct expcorpus_entry e;
	struct kerr err = { 0 };

	assert_int_equal(expcorpus_get(s, id, &e, &err), 0);
	snprintf(out, EXPCORPUS_VERDICT_MAX, "%s", e.verdict);
	expcorpus_entry_free(&e);
}

static void git_out(const char *repo, const char *args, char *out, size_t cap)
{
	assert_int_equal(tu_run(out, cap, "git -C '%s' %s", repo, args), 0);
	out[strcspn(out, "\n")] = '\0';
}

/* ------------------------------------------------------------ decide, seed */

/* king_decide: decisive only when the improvement exceeds the margin
 * strictly; equal is not enough; garbage never decides. */
static void test_decide(void **state)
{
	double imp;

	(void)state;
	assert_int_equal(king_decide(2.0, 1.75, 0.125, &imp), 1);
	assert_true(fabs(imp - 0.25) < 1e-15);
	assert_int_equal(king_decide(2.0, 1.875, 0.125, &imp), 0); /* exactly the margin */
	assert_true(fabs(imp - 0.125) < 1e-15);
	assert_int_equal(king_decide(2.0, 2.25, 0.0, &imp), 0); /* worse */
	assert_true(imp < 0);
	assert_int_equal(king_decide(2.0, 1.9, 0.0, &imp), 1); /* zero margin: any gain */
	assert_int_equal(king_decide(NAN, 1.0, 0.1, &imp), 0);
	assert_true(isnan(imp));
	assert_int_equal(king_decide(2.0, NAN, 0.1, &imp), 0);
	assert_int_equal(king_decide(2.0, 1.0, NAN, &imp), 0);
	assert_int_equal(king_decide(2.0, -INFINITY, 0.1, &imp), 0);
	assert_int_equal(king_decide(2.0, 1.0, -0.5, &imp), 0); /* a negative margin is a bug */
}

/* The challenge seed is a keyed function of the king, the trained model
 * (the final checkpoint's digest) and, when given, its hidden score:
 * deterministic, different per model, per score, per king and per secret, within [2, 2^53 - 1], never the proof's own seed;
 * malformed digests and tags are refused. */
static void test_challenge_seed(void **state)
{
	uint8_t key[VSTATE_SECRET_BYTES], key2[VSTATE_SECRET_BYTES];
	char hex[HASH_HEX_BYTES], tag[RECIPEREPO_TAG_MAX + 8];
	uint64_t a, b, c, d, prev = 0;
	struct kerr err = { 0 };
	int differ_secret = 0, differ_king = 0;

	(void)state;
	memset(key, 7, sizeof key);
	memset(key2, 7, sizeof key2);
	key2[31] ^= 1;
	snprintf(hex, sizeof hex, "%064x", 1u);
	assert_int_equal(king_challenge_seed(key, "recipe-v0.1.0", hex, NULL, &a, &err), 0);
	assert_int_equal(king_challenge_seed(key, "recipe-v0.1.0", hex, NULL, &b, &err), 0);
	assert_true(a == b);
	for (unsigned i = 0; i < 2000; i++) {
		snprintf(hex, sizeof hex, "%056x%08x", i * 2654435761u, i);
		assert_int_equal(king_challenge_seed(key, "recipe-v0.1.0", hex, NULL, &a, &err), 0);
		assert_int_equal(king_challenge_seed(key2, "recipe-v0.1.0", hex, NULL, &c, &err), 0);
		assert_int_equal(king_challenge_seed(key, "recipe-v0.1.1", hex, NULL, &d, &err), 0);
		assert_true(a >= KING_SEED_MIN && a <= KING_SEED_MAX);
		assert_true(a != PROVE_SEED_DEFAULT);
		assert_true(a != prev); /* differs per model */
		differ_secret += a != c;
		differ_king += a != d;
		prev = a;
	}
	assert_int_equal(differ_secret, 2000);
	assert_int_equal(differ_king, 2000);
	/* The same checkpoint scored otherwise (a patch that changes only the
	 * evaluation) is another candidate: another seed, down to one ulp. */
	snprintf(hex, sizeof hex, "%064x", 1u);
	{
		const double s1 = 1.5, s2 = nextafter(1.5, 2.0), s3 = 2.25, bad[2] = { NAN, INFINITY };
		uint64_t e;

		assert_int_equal(king_challenge_seed(key, "recipe-v0.1.0", hex, &s1, &a, &err), 0);
		assert_int_equal(king_challenge_seed(key, "recipe-v0.1.0", hex, &s2, &b, &err), 0);
		assert_int_equal(king_challenge_seed(key, "recipe-v0.1.0", hex, &s3, &c, &err), 0);
		assert_int_equal(king_challenge_seed(key, "recipe-v0.1.0", hex, NULL, &e, &err), 0);
		assert_true(a != b && a != c && b != c && e != a && e != b && e != c);
		assert_int_equal(king_challenge_seed(key, "recipe-v0.1.0", hex, &s1, &d, &err), 0);
		assert_true(d == a);
		for (int i = 0; i < 2; i++) {
			assert_int_equal(king_challenge_seed(key, "recipe-v0.1.0", hex, &bad[i], &a, &err), -1);
			assert_string_equal(err.code, "king.bad_score");
		}
	}
	/* Refusals: uppercase, short, non-hex, NULL; no tag, a tag too long. */
	snprintf(hex, sizeof hex, "%064X", 0xabcu);
	assert_int_equal(king_challenge_seed(key, "recipe-v0.1.0", hex, NULL, &a, &err), -1);
	assert_string_equal(err.code, "king.bad_digest");
	assert_int_equal(king_challenge_seed(key, "recipe-v0.1.0", "abcd", NULL, &a, &err), -1);
	assert_int_equal(king_challenge_seed(key, "recipe-v0.1.0", NULL, NULL, &a, &err), -1);
	memset(hex, 'g', 64);
	hex[64] = '\0';
	assert_int_equal(king_challenge_seed(key, "recipe-v0.1.0", hex, NULL, &a, &err), -1);
	assert_string_equal(err.code, "king.bad_digest");
	snprintf(hex, sizeof hex, "%064x", 1u);
	assert_int_equal(king_challenge_seed(key, "", hex, NULL, &a, &err), -1);
	assert_string_equal(err.code, "king.bad_tag");
	memset(tag, 'v', sizeof tag - 1);
	tag[sizeof tag - 1] = '\0';
	assert_int_equal(king_challenge_seed(key, tag, hex, NULL, &a, &err), -1);
	assert_string_equal(err.code, "king.bad_tag");
}

/* ------------------------------------------------------------------ merge */

/* The happy path: recipe-v0.1.1 on top of the king with the rationale and
 * metrics in the commit message, main moved, the kings row, the journal
 * done, the verdict accepted_king; a second merge makes recipe-v0.1.2. */
static void test_merge_happy_path(void **state)
{
	struct fixture *f = *state;
	char dir[FS_PATH_MAX], id[EXPCORPUS_ID_BYTES], id2[EXPCORPUS_ID_BYTES], out[OUT_MAX];
	char old[RECIPEREPO_COMMIT_HEX], verdict[EXPCORPUS_VERDICT_MAX];
	struct king_metrics m = metrics();
	struct king_merge_result r;
	struct vstate_king k;
	struct vstate s;
	struct kerr err = { 0 };

	new_state(f, dir);
	open_state(dir, &s);
	assert_int_equal(king_recover(&s, &err), 0);
	record(&s, 1, id);
	assert_int_equal(reciperepo_resolve(s.recipe, RECIPEREPO_FIRST_TAG, old, &err), 0);
	if (merge_now(&s, id, f->patch, "Two steps learn more than one.\n\nLonger story here.", &m, &r, &err) < 0)
		fail_msg("king_merge: %s: %s", err.code, err.msg);
	assert_string_equal(r.from_tag, "recipe-v0.1.0");
	assert_string_equal(r.to_tag, "recipe-v0.1.1");
	assert_int_equal(r.checkout_stale, 0);
	assert_int_equal(king_check_invariant(&s, &err), 0);
	assert_int_equal(vstate_king_current(&s, &k, &err), 0);
	assert_string_equal(k.tag, "recipe-v0.1.1");
	assert_string_equal(k.commit, r.commit);
	assert_true(k.hidden_bpb == 2.25 && k.public_bpb == 2.3125 && k.improvement == 0.125 && k.alpha == 0.5);
	assert_string_equal(k.miner, miner_hex);
	assert_string_equal(k.submission_id, id);
	verdict_of(&s, id, verdict);
	assert_string_equal(verdict, EXPCORPUS_ACCEPTED_KING);
	assert_int_equal(count(&s, "SELECT count(*) FROM merges WHERE state = 'done'", NULL), 1);

	/* git: the tag is annotated, names the commit, whose parent is the old
	 * king; main points at it; the patched file is in its tree. */
	git_out(s.recipe, "cat-file -t refs/tags/recipe-v0.1.1", out, sizeof out);
	assert_string_equal(out, "tag");
	git_out(s.recipe, "rev-parse main", out, sizeof out);
	assert_string_equal(out, r.commit);
	git_out(s.recipe, "rev-parse main^", out, sizeof out);
	assert_string_equal(out, old);
	assert_int_equal(tu_run(out, sizeof out, "git -C '%s' show main:gpt.c", s.recipe), 0);
	assert_non_null(strstr(out, "gpt_steps = 2"));
	/* and the CUDA part came along */
	assert_int_equal(tu_run(out, sizeof out, "git -C '%s' ls-tree -r --name-only main cuda", s.recipe), 0);
	assert_string_equal(out, "cuda/k.cu\n");
	assert_int_equal(tu_run(out, sizeof out, "git -C '%s' log -1 --format=%%B main", s.recipe), 0);
	assert_non_null(strstr(out, "recipe-v0.1.1: Two steps learn more than one."));
	assert_non_null(strstr(out, "Longer story here."));
	assert_non_null(strstr(out, "Karpa-Hidden-Bpb: 2.25\n"));
	assert_non_null(strstr(out, "Karpa-Public-Bpb: 2.3125\n"));
	assert_non_null(strstr(out, "Karpa-Improvement: 0.125\n"));
	assert_non_null(strstr(out, "Karpa-Margin: 0.0625\n"));
	assert_non_null(strstr(out, "Karpa-Alpha: 0.5\n"));
	assert_non_null(strstr(out, miner_hex));
	assert_non_null(strstr(out, id));
	/* the checkout follows main: nothing staged or modified */
	assert_int_equal(tu_run(out, sizeof out, "git -C '%s' status --porcelain", s.recipe), 0);
	assert_string_equal(out, "");

	record(&s, 2, id2);
	if (merge_now(&s, id2, f->patch2, "Declare the width.", &m, &r, &err) < 0)
		fail_msg("second king_merge: %s: %s", err.code, err.msg);
	assert_string_equal(r.to_tag, "recipe-v0.1.2");
	assert_int_equal(king_check_invariant(&s, &err), 0);
	vstate_close(&s);
}

#define BASE_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define BASE_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define BASE_C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

/* king_current needs a noise floor at the state's scale; the king's own
 * is preferred, an earlier king's carries over until re-measured. The
 * king's own model (baseline) is its noise floor's seed-1 checkpoint, else
 * its crowned proof's, else unknown. */
static void test_current_margin(void **state)
{
	struct fixture *f = *state;
	char dir[FS_PATH_MAX], id[EXPCORPUS_ID_BYTES], orig[EXPCORPUS_ID_BYTES];
	struct king_metrics m = metrics();
	struct king_merge_result r;
	struct king_info ki;
	struct vstate s;
	struct kerr err = { 0 };

	new_state(f, dir);
	open_state(dir, &s);
	assert_int_equal(king_current(&s, &ki, &err), -1);
	assert_string_equal(err.code, "king.no_noise_floor");
	assert_int_equal(sqlite3_exec(s.db, "INSERT INTO noise(king_tag, scale, seeds, sigma, margin) VALUES"
				      " ('recipe-v0.1.0', 'cpu', 10, 0.5, 1.0),"
				      " ('recipe-v0.1.0', 'tiny', 3, 0.01, 0.02)",
				      NULL, NULL, NULL), SQLITE_OK);
	/* a floor without the king's own score (a genesis king before its
	 * noise-floor run wrote it): no score to compare a candidate with */
	assert_int_equal(king_current(&s, &ki, &err), -1);
	assert_string_equal(err.code, "king.no_score");
	assert_int_equal(sqlite3_exec(s.db, "UPDATE kings SET hidden_bpb = 2.5", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(king_current(&s, &ki, &err), 0);
	assert_string_equal(ki.tag, RECIPEREPO_FIRST_TAG);
	assert_true(ki.margin == 0.02 && ki.sigma == 0.01 && ki.noise_seeds == 3 && ki.hidden_bpb == 2.5);
	/* no noise floor that recorded its seed-1 checkpoint: the king's own
	 * model is unknown, and no final checkpoint names a model alone */
	assert_string_equal(ki.baseline, "");
	assert_int_equal(king_final_names_model(&ki, BASE_A), 0);
	assert_int_equal(sqlite3_exec(s.db, "INSERT INTO noise(king_tag, scale, seeds, sigma, margin, final_sha256) VALUES"
				      " ('recipe-v0.1.0', 'tiny', 3, 0.01, 0.02, '" BASE_A "')",
				      NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(king_current(&s, &ki, &err), 0);
	assert_string_equal(ki.baseline, BASE_A);
	assert_int_equal(king_final_names_model(&ki, BASE_A), 0);
	assert_int_equal(king_final_names_model(&ki, BASE_B), 1);
	assert_int_equal(king_final_names_model(&ki, ""), 0);
	/* crowned as a judgment crowns: the kings row names the answer, whose
	 * own checkpoint (another seed's) is not the king's model; the
	 * original it answers holds the seed-1 one */
	record(&s, 3, orig);
	record_answer(&s, 4, orig, id);
	assert_int_equal(sqlite3_exec(s.db,
				      "UPDATE submissions SET final_sha256 = CASE WHEN challenge_of IS NULL THEN '" BASE_B
				      "' ELSE '" BASE_C "' END",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(merge_now(&s, id, f->patch, "r", &m, &r, &err), 0);
	assert_int_equal(king_current(&s, &ki, &err), 0); /* carried over */
	assert_string_equal(ki.tag, "recipe-v0.1.1");
	assert_string_equal(ki.noise_tag, RECIPEREPO_FIRST_TAG);
	assert_true(ki.margin == 0.02 && ki.hidden_bpb == 2.25);
	/* the crowned proof's model is the new king's own */
	assert_string_equal(ki.baseline, BASE_B);
	assert_int_equal(sqlite3_exec(s.db, "INSERT INTO noise(king_tag, scale, seeds, sigma, margin) VALUES"
				      " ('recipe-v0.1.1', 'tiny', 4, 0.03, 0.06)", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(king_current(&s, &ki, &err), 0);
	assert_string_equal(ki.noise_tag, "recipe-v0.1.1");
	assert_true(ki.margin == 0.06);
	assert_string_equal(ki.baseline, BASE_B);
	/* a noise floor measured on it that recorded one comes first */
	assert_int_equal(sqlite3_exec(s.db, "INSERT INTO noise(king_tag, scale, seeds, sigma, margin, final_sha256) VALUES"
				      " ('recipe-v0.1.1', 'tiny', 4, 0.03, 0.06, '" BASE_A "')",
				      NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(king_current(&s, &ki, &err), 0);
	assert_string_equal(ki.baseline, BASE_A);
	/* a floor stored with a margin under the least one (sigma 0, before
	 * the floor existed) is read at the least margin */
	assert_int_equal(sqlite3_exec(s.db, "INSERT INTO noise(king_tag, scale, seeds, sigma, margin) VALUES"
				      " ('recipe-v0.1.1', 'tiny', 4, 0.0, 0.0)", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(king_current(&s, &ki, &err), 0);
	assert_true(ki.margin == KING_MARGIN_MIN);
	{
		struct vstate_noise n;

		/* and so it is published (/v1/king, validator status) */
		assert_int_equal(king_noise_in_force(&s, "recipe-v0.1.1", &n, &err), 0);
		assert_true(n.present && n.margin == KING_MARGIN_MIN);
	}
	vstate_close(&s);
}

/* Refusals leave everything as it was: not decisive, unknown submission,
 * bad metrics, a patch that does not apply. */
static void test_merge_refusals(void **state)
{
	struct fixture *f = *state;
	char dir[FS_PATH_MAX], id[EXPCORPUS_ID_BYTES], tag[RECIPEREPO_TAG_MAX];
	struct king_metrics m = metrics();
	struct king_merge_result r;
	struct vstate s;
	struct kerr err = { 0 };

	new_state(f, dir);
	open_state(dir, &s);
	record(&s, 4, id);
	m.improvement = m.margin; /* equal is not decisive */
	assert_int_equal(merge_now(&s, id, f->patch, "r", &m, &r, &err), -1);
	assert_string_equal(err.code, "king.not_decisive");
	m = metrics();
	m.alpha = 0;
	assert_int_equal(merge_now(&s, id, f->patch, "r", &m, &r, &err), -1);
	assert_string_equal(err.code, "king.bad_metrics");
	m = metrics();
	m.miner = "zz";
	assert_int_equal(merge_now(&s, id, f->patch, "r", &m, &r, &err), -1);
	assert_string_equal(err.code, "king.bad_metrics");
	m = metrics();
	assert_int_equal(merge_now(&s, "k-0123456789ab", f->patch, "r", &m, &r, &err), -1);
	assert_string_equal(err.code, "king.no_submission");
	assert_int_equal(merge_now(&s, id, f->conflict, "r", &m, &r, &err), -1);
	assert_string_equal(err.code, "patch.conflict");
	assert_int_equal(count(&s, "SELECT count(*) FROM merges", NULL), 0);
	assert_int_equal(count(&s, "SELECT count(*) FROM kings", NULL), 1);
	assert_int_equal(reciperepo_latest_tag(s.recipe, tag, &err), 0);
	assert_string_equal(tag, RECIPEREPO_FIRST_TAG);
	assert_int_equal(king_check_invariant(&s, &err), 0);
	vstate_close(&s);
}

/* A refused merge wrote nothing: no journal row, the one king, no tag
 * above it, git and the database agreeing, the submission still pending
 * and no merge folder left behind. */
static void assert_no_merge(struct vstate *s, const char *id, const char *king_tag)
{
	char tag[RECIPEREPO_TAG_MAX], work[FS_PATH_MAX], v[EXPCORPUS_VERDICT_MAX];
	struct kerr err = { 0 };

	assert_int_equal(count(s, "SELECT count(*) FROM merges", NULL), 0);
	assert_int_equal(count(s, "SELECT count(*) FROM kings", NULL), 1);
	assert_int_equal(reciperepo_latest_tag(s->recipe, tag, &err), 0);
	assert_string_equal(tag, king_tag);
	assert_int_equal(king_check_invariant(s, &err), 0);
	verdict_of(s, id, v);
	assert_string_equal(v, EXPCORPUS_CHALLENGE_PENDING);
	snprintf(work, sizeof work, "%s/work", s->dir);
	assert_int_equal(tu_entries(work), 0);
}

/* The king's score and the margin in force are read again under the
 * merge's lock: a noise floor measured while the candidate was judged
 * (a wider margin for the same king) leaves a candidate that cleared the
 * old one uncrowned (king.not_decisive); one that clears the margin now
 * is crowned. */
static void test_merge_uses_the_margin_in_force(void **state)
{
	struct fixture *f = *state;
	char dir[FS_PATH_MAX], id[EXPCORPUS_ID_BYTES];
	struct king_metrics m = metrics(); /* 2.25 against the king's 2.5: 0.25 */
	struct king_merge_result r;
	struct vstate s;
	struct kerr err = { 0 };

	new_state(f, dir);
	open_state(dir, &s);
	record(&s, 5, id);
	assert_int_equal(sqlite3_exec(s.db, "UPDATE kings SET hidden_bpb = 2.5;"
				      " INSERT INTO noise(king_tag, scale, seeds, sigma, margin) VALUES"
				      " ('recipe-v0.1.0', 'tiny', 3, 0.2, 0.4)",
				      NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(merge_now(&s, id, f->patch, "r", &m, &r, &err), -1);
	assert_string_equal(err.code, "king.not_decisive");
	assert_non_null(strstr(err.msg, "in force now"));
	assert_no_merge(&s, id, RECIPEREPO_FIRST_TAG);
	assert_int_equal(sqlite3_exec(s.db, "INSERT INTO noise(king_tag, scale, seeds, sigma, margin) VALUES"
				      " ('recipe-v0.1.0', 'tiny', 3, 0.05, 0.1)",
				      NULL, NULL, NULL), SQLITE_OK);
	if (merge_now(&s, id, f->patch, "r", &m, &r, &err) < 0)
		fail_msg("%s: %s", err.code, err.msg);
	assert_string_equal(r.to_tag, "recipe-v0.1.1");
	vstate_close(&s);
}

/* Refusals the merge meets before its journal row: a patch that changes
 * nothing (the king's tree again), one that empties the recipe, one that
 * adds a symbolic link, a work folder that cannot be made, a king with no
 * next patch version. */
static void test_merge_refusals_before_journal(void **state)
{
	struct fixture *f = *state;
	char dir[FS_PATH_MAX], id[EXPCORPUS_ID_BYTES], noop[FS_PATH_MAX], empty[FS_PATH_MAX], work[FS_PATH_MAX],
		link[FS_PATH_MAX];
	char out[OUT_MAX];
	struct king_metrics m = metrics();
	struct king_merge_result r;
	struct vstate s;
	struct kerr err = { 0 };

	tu_put(f->tmp, "noop.diff", noop_text);
	tu_put(f->tmp, "empty.diff", empty_text);
	tu_put(f->tmp, "link.diff", link_text);
	snprintf(link, sizeof link, "%s/link.diff", f->tmp);
	snprintf(noop, sizeof noop, "%s/noop.diff", f->tmp);
	snprintf(empty, sizeof empty, "%s/empty.diff", f->tmp);
	tu_put(f->src, "README.md", EMPTY_README);
	new_state(f, dir);
	open_state(dir, &s);
	record(&s, 5, id);
	assert_int_equal(merge_now(&s, id, noop, "r", &m, &r, &err), -1);
	assert_string_equal(err.code, "king.no_change");
	assert_no_merge(&s, id, RECIPEREPO_FIRST_TAG);
	assert_int_equal(merge_now(&s, id, empty, "r", &m, &r, &err), -1);
	assert_string_equal(err.code, "king.tree");
	assert_non_null(strstr(err.msg, "the patched recipe is empty"));
	assert_no_merge(&s, id, RECIPEREPO_FIRST_TAG);
	assert_int_equal(merge_now(&s, id, link, "r", &m, &r, &err), -1);
	assert_string_equal(err.code, "patch.bad_mode");
	assert_non_null(strstr(err.msg, "hidden.c"));
	assert_no_merge(&s, id, RECIPEREPO_FIRST_TAG);

	/* STATE/work replaced by a file (as root, a mode would not stop mkdtemp) */
	snprintf(work, sizeof work, "%s/work", dir);
	assert_int_equal(rmdir(work), 0);
	tu_put(dir, "work", "not a folder\n");
	assert_int_equal(merge_now(&s, id, f->patch, "r", &m, &r, &err), -1);
	assert_string_equal(err.code, "king.work");
	assert_false(fs_is_dir(work)); /* the merge made no folder of its own */
	tu_run(out, sizeof out, "cat '%s'", work);
	assert_string_equal(out, "not a folder\n");
	assert_int_equal(unlink(work), 0);
	assert_int_equal(mkdir(work, 0700), 0);
	assert_no_merge(&s, id, RECIPEREPO_FIRST_TAG);

	/* a king at the last patch version a tag can spell: no next tag,
	 * rather than one that reciperepo_parse_tag would not read back */
	assert_int_equal(tu_run(out, sizeof out, "git -C '%s' tag recipe-v0.1.999999999 recipe-v0.1.0^{commit}",
				s.recipe), 0);
	assert_int_equal(sqlite3_exec(s.db, "UPDATE kings SET tag = 'recipe-v0.1.999999999'", NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(merge_now(&s, id, f->patch, "r", &m, &r, &err), -1);
	assert_string_equal(err.code, "king.version_exhausted");
	assert_no_merge(&s, id, "recipe-v0.1.999999999");
	assert_int_equal(tu_run(out, sizeof out, "git -C '%s' tag -l", s.recipe), 0);
	assert_string_equal(out, "recipe-v0.1.0\nrecipe-v0.1.999999999\n");
	vstate_close(&s);
}

/* A git that fails once the merge is journaled (a ref in the way: git
 * cannot create refs/tags/recipe-v0.1.1 while refs/tags/recipe-v0.1.1/
 * holds another) is king.git, rolled back at once: the journal row
 * aborted, the old king, the verdict pending. When the roll-back cannot be
 * written either, the merge is king.incomplete and its row stays prepared;
 * the next open rolls it back. */
static void test_merge_fails_after_journal(void **state)
{
	struct fixture *f = *state;
	char dir[FS_PATH_MAX], id[EXPCORPUS_ID_BYTES], out[OUT_MAX], tag[RECIPEREPO_TAG_MAX];
	char v[EXPCORPUS_VERDICT_MAX], work[FS_PATH_MAX];
	struct king_metrics m = metrics();
	struct king_merge_result r;
	struct vstate s;
	struct kerr err = { 0 };

	new_state(f, dir);
	open_state(dir, &s);
	record(&s, 7, id);
	assert_int_equal(tu_run(out, sizeof out, "git -C '%s' tag recipe-v0.1.1/x main", s.recipe), 0);
	assert_int_equal(merge_now(&s, id, f->patch, "r", &m, &r, &err), -1);
	assert_string_equal(err.code, "king.git");
	assert_non_null(strstr(err.msg, "git tag failed"));
	assert_non_null(strstr(err.msg, "rolled back"));
	assert_int_equal(count(&s, "SELECT count(*) FROM merges WHERE state = 'aborted'", NULL), 1);
	assert_int_equal(count(&s, "SELECT count(*) FROM merges", NULL), 1);
	assert_int_equal(count(&s, "SELECT count(*) FROM kings", NULL), 1);
	assert_int_equal(reciperepo_latest_tag(s.recipe, tag, &err), 0);
	assert_string_equal(tag, RECIPEREPO_FIRST_TAG);
	assert_int_equal(king_check_invariant(&s, &err), 0);
	verdict_of(&s, id, v);
	assert_string_equal(v, EXPCORPUS_CHALLENGE_PENDING);
	snprintf(work, sizeof work, "%s/work", dir);
	assert_int_equal(tu_entries(work), 0);

	/* TEMP: the trigger lives and dies with this connection */
	assert_int_equal(sqlite3_exec(s.db, "CREATE TEMP TRIGGER refuse_abort BEFORE UPDATE OF state ON merges"
				      " WHEN NEW.state = 'aborted' BEGIN SELECT RAISE(ABORT, 'refused'); END",
				      NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(merge_now(&s, id, f->patch, "r", &m, &r, &err), -1);
	assert_string_equal(err.code, "king.incomplete");
	assert_int_equal(count(&s, "SELECT count(*) FROM merges WHERE state = 'prepared'", NULL), 1);
	assert_int_equal(count(&s, "SELECT count(*) FROM kings", NULL), 1);
	verdict_of(&s, id, v);
	assert_string_equal(v, EXPCORPUS_CHALLENGE_PENDING);
	vstate_close(&s);

	assert_int_equal(tu_run(out, sizeof out, "git -C '%s' tag -d recipe-v0.1.1/x", s.recipe), 0);
	open_state(dir, &s);
	assert_int_equal(count(&s, "SELECT count(*) FROM merges WHERE state = 'prepared'", NULL), 0);
	assert_int_equal(count(&s, "SELECT count(*) FROM merges WHERE state = 'aborted'", NULL), 2);
	assert_int_equal(king_check_invariant(&s, &err), 0);
	if (merge_now(&s, id, f->patch, "r", &m, &r, &err) < 0)
		fail_msg("merge after the roll-back: %s: %s", err.code, err.msg);
	assert_string_equal(r.to_tag, "recipe-v0.1.1");
	vstate_close(&s);
}

/* ---------------------------------------------------------------- crashes */

/* Runs fn in a forked child with KARPA_CRASH_AT=point; returns its exit
 * code. The parent holds no database connection across the fork. */
static int in_child(const char *dir, const char *point, int (*fn)(struct vstate *s, void *arg), void *arg)
{
	int st;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct vstate s;
		struct kerr err = { 0 };
		setenv(KING_CRASH_ENV, point, 1);
		if (validator_open(dir, &s, &err) < 0)
			_exit(3);
		_exit(fn(&s, arg) == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

struct merge_job {
	const char *id, *patch;
};

static int child_merge(struct vstate *s, void *arg)
{
	const struct merge_job *j = arg;
	struct king_metrics m = metrics();
	struct king_merge_result r;
	struct kerr err = { 0 };

	/* A rationale imitating the trailers: roll-forward must still read the
	 * real metrics, which the merge writes below it. */
	return merge_now(s, j->id, j->patch, "Crash me.\nKarpa-Hidden-Bpb: 0.001\nKarpa-Miner: ffff\n", &m, &r,
			  &err);
}

static int child_recover(struct vstate *s, void *arg)
{
	struct kerr err = { 0 };

	(void)arg;
	return king_recover(s, &err);
}

/* After recovery: the invariant holds and the king is `want` (old or new),
 * with every trace of the other absent. id is the merged challenge answer,
 * orig the submission it answers: recovery settles both as an
 * uninterrupted merge does. */
static void assert_settled(const char *dir, const char *id, const char *orig, int want_new)
{
	char tag[RECIPEREPO_TAG_MAX], verdict[EXPCORPUS_VERDICT_MAX], c[RECIPEREPO_COMMIT_HEX];
	char orig_verdict[EXPCORPUS_VERDICT_MAX];
	struct vstate_king k;
	struct vstate s;
	struct kerr err = { 0 };

	open_state(dir, &s);
	for (int pass = 0; pass < 2; pass++) { /* recovery is idempotent */
		if (king_recover(&s, &err) < 0)
			fail_msg("king_recover (pass %d): %s: %s", pass, err.code, err.msg);
		assert_int_equal(king_check_invariant(&s, &err), 0);
		assert_int_equal(vstate_king_current(&s, &k, &err), 0);
		assert_int_equal(reciperepo_latest_tag(s.recipe, tag, &err), 0);
		assert_string_equal(k.tag, tag);
		assert_int_equal(count(&s, "SELECT count(*) FROM merges WHERE state = 'prepared'", NULL), 0);
		verdict_of(&s, id, verdict);
		verdict_of(&s, orig, orig_verdict);
		if (want_new) {
			assert_string_equal(orig_verdict, EXPCORPUS_ACCEPTED_KING);
			assert_string_equal(k.tag, "recipe-v0.1.1");
			assert_int_equal(count(&s, "SELECT count(*) FROM kings", NULL), 2);
			assert_int_equal(count(&s, "SELECT count(*) FROM merges WHERE state = 'done'", NULL), 1);
			assert_string_equal(verdict, EXPCORPUS_ACCEPTED_KING);
			assert_true(k.hidden_bpb == 2.25 && k.improvement == 0.125 && k.alpha == 0.5);
			assert_string_equal(k.miner, miner_hex);
		} else {
			assert_string_equal(k.tag, RECIPEREPO_FIRST_TAG);
			assert_int_equal(count(&s, "SELECT count(*) FROM kings", NULL), 1);
			assert_int_equal(count(&s, "SELECT count(*) FROM merges WHERE state = 'done'", NULL), 0);
			assert_int_equal(reciperepo_resolve(s.recipe, "recipe-v0.1.1", c, &err), -1);
			assert_string_equal(verdict, EXPCORPUS_CHALLENGE_PENDING);
			assert_string_equal(orig_verdict, EXPCORPUS_CHALLENGE_PENDING);
		}
	}
	vstate_close(&s);
}

/* A follow-up merge works after any recovery and takes the next tag. */
static void assert_next_merge(const char *dir, const char *patch_after, const char *want_tag)
{
	char id[EXPCORPUS_ID_BYTES];
	struct king_metrics m = metrics();
	struct king_merge_result r;
	struct vstate s;
	struct kerr err = { 0 };

	open_state(dir, &s);
	record(&s, 99, id);
	if (merge_now(&s, id, patch_after, "Next.", &m, &r, &err) < 0)
		fail_msg("merge after recovery: %s: %s", err.code, err.msg);
	assert_string_equal(r.to_tag, want_tag);
	assert_int_equal(king_check_invariant(&s, &err), 0);
	vstate_close(&s);
}

static const struct {
	const char *point;
	int new_king; /* which king recovery must leave */
} merge_points[] = {
	{ "after_commit_object", 0 }, { "after_journal", 0 }, { "after_tag", 1 },
	{ "after_main_ref", 1 },      { "after_kings_row", 1 },
};

/* A crash at every point of the merge leaves, after recovery, exactly the
 * old king (before the tag exists) or exactly the new one (from then on). */
static void test_crash_matrix(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof merge_points / sizeof merge_points[0]; i++) {
		char dir[FS_PATH_MAX], id[EXPCORPUS_ID_BYTES], orig[EXPCORPUS_ID_BYTES];
		struct vstate s;
		struct merge_job j;

		new_state(f, dir);
		open_state(dir, &s);
		record(&s, 10 + (unsigned)i, orig);
		record_answer(&s, 40 + (unsigned)i, orig, id);
		vstate_close(&s);
		j = (struct merge_job){ id, f->patch };
		if (in_child(dir, merge_points[i].point, child_merge, &j) != KING_CRASH_EXIT)
			fail_msg("%s: the child did not crash there", merge_points[i].point);
		/* and the lock files a git killed there could have left: stale
		 * under the king lock, removed by recovery (else the next merge,
		 * which takes the same tag, or main's move, is refused) */
		{
			char lock[FS_PATH_MAX];
			const char *locks[] = { "refs/heads/" RECIPEREPO_BRANCH ".lock", "index.lock",
						merge_points[i].new_king ? NULL : "refs/tags/recipe-v0.1.1.lock" };

			for (size_t l = 0; l < sizeof locks / sizeof locks[0]; l++) {
				if (!locks[l])
					continue;
				snprintf(lock, sizeof lock, "%s/recipe/.git", dir);
				tu_put(lock, locks[l], "stale\n");
			}
		}
		assert_settled(dir, id, orig, merge_points[i].new_king);
		assert_next_merge(dir, merge_points[i].new_king ? f->patch2 : f->patch,
				  merge_points[i].new_king ? "recipe-v0.1.2" : "recipe-v0.1.1");
	}
}

/* A fresh state with one recorded submission (salt) whose merge crashed at
 * point; dir and id name them. */
static void crash_in_merge(struct fixture *f, char dir[FS_PATH_MAX], unsigned salt, const char *point,
			   char id[EXPCORPUS_ID_BYTES])
{
	struct merge_job j;
	struct vstate s;

	new_state(f, dir);
	open_state(dir, &s);
	record(&s, salt, id);
	vstate_close(&s);
	j = (struct merge_job){ id, f->patch };
	assert_int_equal(in_child(dir, point, child_merge, &j), KING_CRASH_EXIT);
}

/* Opening a state for use settles it: after a crash past the commit point
 * (the tag exists), validator_open alone leaves the new king recorded and
 * no journal row pending, with no explicit king_recover. vstate_open, the
 * layer below, settles nothing: the state room does not know the king
 * rule, so the guarantee lives in validator_open and is checked here. */
static void test_open_settles(void **state)
{
	struct fixture *f = *state;
	char dir[FS_PATH_MAX], id[EXPCORPUS_ID_BYTES];
	struct vstate_king k;
	struct vstate s;
	struct kerr err = { 0 };

	crash_in_merge(f, dir, 70, "after_tag", id);
	assert_int_equal(vstate_open(dir, &s, &err), 0);
	assert_int_equal(count(&s, "SELECT count(*) FROM merges WHERE state = 'prepared'", NULL), 1);
	vstate_close(&s);
	open_state(dir, &s);
	assert_int_equal(count(&s, "SELECT count(*) FROM merges WHERE state = 'prepared'", NULL), 0);
	assert_int_equal(vstate_king_current(&s, &k, &err), 0);
	assert_string_equal(k.tag, "recipe-v0.1.1");
	assert_int_equal(king_check_invariant(&s, &err), 0);
	vstate_close(&s);
}

/* A crash during recovery itself is recovered by the next recovery. */
static void test_crash_during_recovery(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *merge_point, *recover_point;
		int new_king;
	} cases[] = {
		{ "after_tag", "recover_after_main_ref", 1 },
		{ "after_main_ref", "recover_after_kings_row", 1 },
		{ "after_journal", "recover_after_abort", 0 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char dir[FS_PATH_MAX], id[EXPCORPUS_ID_BYTES], orig[EXPCORPUS_ID_BYTES];
		struct vstate s;
		struct merge_job j;

		new_state(f, dir);
		open_state(dir, &s);
		record(&s, 20 + (unsigned)i, orig);
		record_answer(&s, 50 + (unsigned)i, orig, id);
		vstate_close(&s);
		j = (struct merge_job){ id, f->patch };
		assert_int_equal(in_child(dir, cases[i].merge_point, child_merge, &j), KING_CRASH_EXIT);
		if (in_child(dir, cases[i].recover_point, child_recover, NULL) != KING_CRASH_EXIT)
			fail_msg("%s: recovery did not crash there", cases[i].recover_point);
		assert_settled(dir, id, orig, cases[i].new_king);
	}
}

/* A merge refuses to start while a journaled merge is pending, and git
 * state no crash of king.c can produce is reported, not repaired. */
static void test_pending_and_inconsistent(void **state)
{
	struct fixture *f = *state;
	char dir[FS_PATH_MAX], id[EXPCORPUS_ID_BYTES], out[OUT_MAX];
	struct king_metrics m = metrics();
	struct king_merge_result r;
	struct vstate s;
	struct kerr err = { 0 };

	crash_in_merge(f, dir, 30, "after_journal", id);
	/* While a live process holds the merge lock, recovery (which every
	 * validator_open runs) leaves the journal row alone: that row is the other
	 * process's work in flight; and a merge refuses to start over it. */
	{
		char lp[FS_PATH_MAX];
		snprintf(lp, sizeof lp, "%s/%s", dir, KING_LOCK_NAME);
		int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		assert_true(fd >= 0);
		assert_int_equal(flock(fd, LOCK_EX), 0);
		open_state(dir, &s);
		assert_int_equal(king_recover(&s, &err), 0);
		assert_int_equal(count(&s, "SELECT count(*) FROM merges WHERE state = 'prepared'", NULL), 1);
		close(fd);
	}
	assert_int_equal(merge_now(&s, id, f->patch, "again", &m, &r, &err), -1);
	assert_string_equal(err.code, "king.recovery_needed");
	/* Someone tags recipe-v0.1.1 at another commit: not ours to fix. */
	assert_int_equal(tu_run(out, sizeof out, "git -C '%s' -c user.name=x -c user.email=y tag recipe-v0.1.1 "
				"recipe-v0.1.0^{commit}", s.recipe), 0);
	assert_int_equal(king_recover(&s, &err), -1);
	assert_string_equal(err.code, "king.inconsistent");
	vstate_close(&s);
}

/* Two confirmations measured against the same king, merged at once (two
 * processes) and one after the other: exactly one merges, the other is
 * refused king.stale under the merge lock, and the canonical recipe is the
 * base plus the winner's patch alone. The winner's merge settles the
 * loser's pending submission stale. */
struct race_job {
	const char *id, *patch, *base_tag, *base_commit;
};

static int child_race(struct vstate *s, void *arg)
{
	const struct race_job *j = arg;
	struct king_metrics m = metrics();
	struct king_merge_result r;
	struct kerr err = { 0 };

	if (king_merge(s, j->id, j->base_tag, j->base_commit, j->patch, "Race.", &m, &r, &err) == 0)
		return 0;
	if (strcmp(err.code, "king.stale")) {
		fprintf(stderr, "king_merge: %s: %s\n", err.code, err.msg);
		return 1;
	}
	return 2;
}

/* An answer whose original another answer settled (failed) meanwhile does
 * not merge (king.challenge_settled), and nothing changes; while the
 * original is pending, the same merge goes through. A settlement leaves an
 * original crowned meanwhile as it is. */
static void test_settled_challenge_does_not_merge(void **state)
{
	struct fixture *f = *state;
	char dir[FS_PATH_MAX], orig[EXPCORPUS_ID_BYTES], ans[EXPCORPUS_ID_BYTES], ans2[EXPCORPUS_ID_BYTES];
	char v[EXPCORPUS_VERDICT_MAX];
	struct king_metrics m = metrics();
	struct king_merge_result r;
	struct vstate_king k;
	struct vstate s;
	struct kerr err = { 0 };

	new_state(f, dir);
	open_state(dir, &s);
	record(&s, 81, orig);
	record_answer(&s, 82, orig, ans);
	record_answer(&s, 83, orig, ans2);
	assert_int_equal(king_settle_challenge(&s, orig, EXPCORPUS_CHALLENGE_FAILED, "judge.replay_mismatch", "a copy",
					       &err),
			 0);
	assert_int_equal(merge_now(&s, ans, f->patch, "Late.", &m, &r, &err), -1);
	assert_string_equal(err.code, "king.challenge_settled");
	assert_int_equal(vstate_king_current(&s, &k, &err), 0);
	assert_string_equal(k.tag, RECIPEREPO_FIRST_TAG);
	verdict_of(&s, orig, v);
	assert_string_equal(v, EXPCORPUS_CHALLENGE_FAILED);
	/* pending again (by hand): the other answer merges, and a late
	 * failure's settlement leaves the crowned original crowned */
	assert_int_equal(expcorpus_update_verdict(&s, orig, EXPCORPUS_CHALLENGE_PENDING, "", "", &err), 0);
	if (merge_now(&s, ans2, f->patch, "On time.", &m, &r, &err) < 0)
		fail_msg("merge: %s: %s", err.code, err.msg);
	assert_int_equal(king_settle_challenge(&s, orig, EXPCORPUS_CHALLENGE_FAILED, "judge.causality", "late", &err), 0);
	verdict_of(&s, orig, v);
	assert_string_equal(v, EXPCORPUS_ACCEPTED_KING);
	vstate_close(&s);
}

static void test_concurrent_confirmations(void **state)
{
	struct fixture *f = *state;

	for (int concurrent = 0; concurrent < 2; concurrent++) {
		char dir[FS_PATH_MAX], a[EXPCORPUS_ID_BYTES], b[EXPCORPUS_ID_BYTES], out[OUT_MAX];
		char va[EXPCORPUS_VERDICT_MAX], vb[EXPCORPUS_VERDICT_MAX];
		struct race_job ja, jb;
		struct vstate_king base, k;
		struct vstate s;
		struct kerr err = { 0 };
		int st[2], won_a;

		new_state(f, dir);
		open_state(dir, &s);
		record(&s, 60 + (unsigned)concurrent, a);
		record(&s, 70 + (unsigned)concurrent, b);
		assert_int_equal(vstate_king_current(&s, &base, &err), 0);
		vstate_close(&s);
		ja = (struct race_job){ a, f->patch, base.tag, base.commit };
		jb = (struct race_job){ b, f->patch2, base.tag, base.commit };
		{
			pid_t p[2];
			const struct race_job *jobs[2] = { &ja, &jb };
			fflush(NULL);
			/* concurrent: both start before either is waited for */
			for (int i = 0; i < 2; i++) {
				p[i] = fork();
				assert_true(p[i] >= 0);
				if (p[i] == 0) {
					struct vstate cs;
					struct kerr cerr = { 0 };
					if (validator_open(dir, &cs, &cerr) < 0)
						_exit(3);
					_exit(child_race(&cs, (void *)jobs[i]));
				}
				if (!concurrent || i == 1)
					for (int w = concurrent ? 0 : i; w <= i; w++) {
						int ws;
						assert_int_equal(waitpid(p[w], &ws, 0), p[w]);
						assert_true(WIFEXITED(ws));
						st[w] = WEXITSTATUS(ws);
					}
			}
		}
		/* exactly one merged, the other is stale */
		if (!((st[0] == 0 && st[1] == 2) || (st[0] == 2 && st[1] == 0)))
			fail_msg("%s: exits %d and %d, want one 0 and one 2 (king.stale)",
				 concurrent ? "concurrent" : "sequential", st[0], st[1]);
		won_a = st[0] == 0;
		if (!concurrent)
			assert_true(won_a);
		open_state(dir, &s);
		assert_int_equal(king_check_invariant(&s, &err), 0);
		assert_int_equal(count(&s, "SELECT count(*) FROM kings", NULL), 2);
		assert_int_equal(vstate_king_current(&s, &k, &err), 0);
		assert_string_equal(k.tag, "recipe-v0.1.1");
		assert_string_equal(k.submission_id, won_a ? a : b);
		/* the canonical recipe is the base plus the winner's patch only */
		assert_int_equal(tu_run(out, sizeof out, "git -C '%s' diff --name-only recipe-v0.1.0 main", s.recipe), 0);
		assert_string_equal(out, won_a ? "gpt.c\n" : "gpt.h\n");
		assert_int_equal(tu_run(out, sizeof out, "git -C '%s' rev-parse main^", s.recipe), 0);
		assert_int_equal(strncmp(out, base.commit, RECIPEREPO_COMMIT_HEX - 1), 0);
		verdict_of(&s, a, va);
		verdict_of(&s, b, vb);
		assert_string_equal(won_a ? va : vb, EXPCORPUS_ACCEPTED_KING);
		assert_string_equal(won_a ? vb : va, EXPCORPUS_CHALLENGE_FAILED);
		vstate_close(&s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_challenge_seed),
		cmocka_unit_test_setup_teardown(test_merge_happy_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_current_margin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_merge_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_merge_refusals_before_journal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_merge_uses_the_margin_in_force, setup, teardown),
		cmocka_unit_test_setup_teardown(test_merge_fails_after_journal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_matrix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_settles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_during_recovery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_and_inconsistent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_confirmations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_settled_challenge_does_not_merge, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
