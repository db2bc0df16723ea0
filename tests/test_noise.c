/* test_noise.c: the noise floor end to end at the tiny scale: generated
 * text prepared into public and hidden folders, a validator state whose
 * king is the project's recipe, three seeds trained behind the pipe host
 * and scored on the hidden split; the stored row, the statistics and the
 * king's seed-1 score are checked, and the refusals change nothing. */
#include "testutil.h"

#include <jansson.h>
#include <math.h>

#include <sys/stat.h>

#include "data/dataset.h"
#include "harness/evaluate.h"
#include "sandbox/recipe_build.h"
#include "sandbox/sandbox.h"
#include "validator/king.h"
#include "proof/prove.h"
#include "validator/noise.h"
#include "validator/validator.h"
#include "validator/vstate.h"
#include "util/fsutil.h"
#include "util/hash.h"

#define NDOCS 90
#define SEEDS 3

static char *work;
static char state_dir[FS_PATH_MAX];

static const char *words[] = {
	"the", "of", "and", "to", "a", "in", "that", "is", "was", "he", "for", "it", "with", "as",
	"his", "on", "be", "at", "by", "had", "this", "not", "but", "from", "or", "have", "an",
	"they", "which", "one", "you", "were", "her", "all", "she", "there", "would", "their",
	"river", "stone", "light", "window", "morning", "garden", "letter", "winter", "road",
};

/* Deterministic pseudo-English, one document per file. */
static void write_doc(const char *dir, int k)
{
	char path[FS_PATH_MAX];
	uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)(k + 1);
	FILE *f;

	snprintf(path, sizeof path, "%s/doc%03d.txt", dir, k);
	f = fopen(path, "w");
	assert_non_null(f);
	for (int s = 0; s < 20; s++) {
		int n = 5 + (int)(x % 8);
		for (int w = 0; w < n; w++) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			const char *word = words[(x >> 33) % (sizeof words / sizeof words[0])];
			if (w)
				fprintf(f, " %s", word);
			else
				fprintf(f, "%c%s", word[0] - 32, word + 1);
		}
		fputs(". ", f);
	}
	fputc('\n', f);
	fclose(f);
}

static int group_setup(void **state)
{
	char text[FS_PATH_MAX], data[FS_PATH_MAX], hidden[FS_PATH_MAX];
	const char *from[] = { text, NULL };
	struct kerr err = { 0 };

	(void)state;
	assert_int_equal(hash_init_lib(), 0);
	work = tu_mkdtemp();
	snprintf(text, sizeof text, "%s/text", work);
	snprintf(data, sizeof data, "%s/data", work);
	snprintf(hidden, sizeof hidden, "%s/hidden", work);
	snprintf(state_dir, sizeof state_dir, "%s/state", work);
	assert_int_equal(fs_mkdir_p(text, &err), 0);
	for (int k = 0; k < NDOCS; k++)
		write_doc(text, k);
	struct dataset_prepare_opts po = { .scale = "tiny", .from = from, .out = data, .hidden_out = hidden,
					   .threads = 2 };
	if (dataset_prepare(&po, &err) < 0)
		fail_msg("dataset_prepare: %s: %s", err.code, err.msg);
	/* The king is the project's own recipe, as a real validator's is. */
	struct vstate_init_opts vo = { state_dir, "recipe", data, hidden, "tiny" };
	if (vstate_init(&vo, &err) < 0)
		fail_msg("vstate_init: %s: %s", err.code, err.msg);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	tu_rmdir(work);
	return 0;
}

/* noise_sample_sd divides by n - 1 and needs two values. */
static void test_sample_sd(void **state)
{
	const double v[] = { 1, 2, 3, 4 }, same[] = { 2.5, 2.5, 2.5 };
	double mean;

	(void)state;
	assert_true(fabs(noise_sample_sd(v, 4, &mean) - sqrt(5.0 / 3.0)) < 1e-15);
	assert_true(mean == 2.5);
	assert_true(noise_sample_sd(same, 3, &mean) == 0.0);
	assert_true(isnan(noise_sample_sd(v, 1, &mean)));
	/* the margin: two sigma, never below NOISE_MARGIN_MIN (a king whose
	 * score does not move with the seed would make one ulp decisive) */
	assert_true(noise_margin(0.01) == 0.02);
	assert_true(noise_margin(0.0) == NOISE_MARGIN_MIN);
	assert_true(noise_margin(NOISE_MARGIN_MIN / 4) == NOISE_MARGIN_MIN);
	assert_true(isnan(noise_margin(NAN)) && isnan(noise_margin(-1.0)));
	assert_true(isnan(mean));
}

/* noise_seed: run 1 is the protocol seed; the others are keyed by the
 * secret, the tag and the run, in the challenge seeds' range. */
static void test_noise_seeds_drawn(void **state)
{
	uint8_t a[VSTATE_SECRET_BYTES], b[VSTATE_SECRET_BYTES];

	(void)state;
	memset(a, 7, sizeof a);
	memset(b, 8, sizeof b);
	assert_true(noise_seed(a, "recipe-v0.1.0", PROVE_SEED_DEFAULT) == PROVE_SEED_DEFAULT);
	for (int n = 2; n <= 12; n++) {
		uint64_t v = noise_seed(a, "recipe-v0.1.0", n);

		assert_true(v >= KING_SEED_MIN && v <= KING_SEED_MAX);
		assert_true(v == noise_seed(a, "recipe-v0.1.0", n)); /* a pure function */
		assert_true(v != noise_seed(b, "recipe-v0.1.0", n));
		assert_true(v != noise_seed(a, "recipe-v0.1.1", n));
		assert_true(v != noise_seed(a, "recipe-v0.1.0", n + 1));
	}
}

/* Fewer than two seeds, or a bad thread count: refused before any work,
 * nothing stored. */
static void test_refusals(void **state)
{
	struct noise_opts o = { .seeds = 1, .threads = 1 };
	struct noise_result r;
	struct vstate s;
	struct kerr err = { 0 };
	struct vstate_noise n;

	(void)state;
	assert_int_equal(validator_open(state_dir, &s, &err), 0);
	assert_int_equal(noise_floor(&s, &o, &r, &err), -1);
	assert_string_equal(err.code, "noise.too_few_seeds");
	o.seeds = 2;
	o.threads = 0;
	assert_int_equal(noise_floor(&s, &o, &r, &err), -1);
	assert_string_equal(err.code, "train.bad_threads");
	assert_int_equal(king_noise_in_force(&s, RECIPEREPO_FIRST_TAG, &n, &err), 0);
	assert_int_equal(n.present, 0);
	vstate_close(&s);
}

/* Three seeds of the king at tiny scale: sigma is the sample standard
 * deviation of the hidden scores, margin twice it, the values are stored
 * as JSON, the king's hidden score is its seed-1 value, king_current now
 * answers, and no scratch folder is left. */
/* Flips one byte of a file the store keeps read-only. */
static void flip_byte(const char *path, long at)
{
	FILE *f;
	int ch;

	assert_int_equal(chmod(path, 0644), 0);
	assert_non_null(f = fopen(path, "r+b"));
	assert_int_equal(fseek(f, at, SEEK_SET), 0);
	ch = fgetc(f);
	assert_int_equal(fseek(f, at, SEEK_SET), 0);
	fputc(ch ^ 0x01, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0444), 0);
}

static void test_noise_floor_tiny(void **state)
{
	struct noise_opts o = { .seeds = SEEDS, .threads = 2 };
	struct noise_result r;
	struct vstate_noise n;
	struct vstate_king k;
	struct king_info ki;
	struct vstate s;
	struct kerr err = { 0 };
	char workdir[FS_PATH_MAX];
	double mean;

	(void)state;
	assert_int_equal(validator_open(state_dir, &s, &err), 0);
	if (noise_floor(&s, &o, &r, &err) < 0)
		fail_msg("noise_floor: %s: %s", err.code, err.msg);
	assert_int_equal(r.seeds, SEEDS);
	assert_string_equal(r.king_tag, RECIPEREPO_FIRST_TAG);
	for (int i = 0; i < SEEDS; i++) {
		assert_true(isfinite(r.hidden_bpb[i]) && r.hidden_bpb[i] > 0);
		assert_true(isfinite(r.public_bpb[i]) && r.public_bpb[i] > 0);
	}
	/* different seeds train different models */
	assert_true(r.hidden_bpb[0] != r.hidden_bpb[1] || r.hidden_bpb[1] != r.hidden_bpb[2]);
	assert_true(r.sigma > 0);
	assert_true(r.sigma == noise_sample_sd(r.hidden_bpb, SEEDS, &mean));
	assert_true(r.mean == mean);
	assert_true(r.margin == 2 * r.sigma);
	assert_true(r.king_hidden_bpb == r.hidden_bpb[0]);
	/* Sandboxed although this caller asked for nothing: noise_opts has no
	 * way to run the king (former miner code) outside the sandbox, and
	 * every layer the sandbox cannot start without was applied. */
	{
		/* the validator's profile requires Landlock and the network
		 * namespace: a child without them would not have run */
		const uint32_t required = SANDBOX_NNP | SANDBOX_ENV | SANDBOX_FDS | SANDBOX_RLIMITS | SANDBOX_SECCOMP |
					  SANDBOX_LANDLOCK | SANDBOX_NETNS;
		char layers[256];
		sandbox_describe(r.sandbox_applied, layers, sizeof layers);
		print_message("   the king ran under: %s\n", layers);
		assert_int_equal(r.sandbox_applied & required, required);
	}
	/* every seed's hidden evaluation was audited as a judgment's is */
	print_message("   causality probes over %d seeds: %d\n", SEEDS, r.causality_probes);
	assert_true(r.causality_probes >= SEEDS);
	print_message("   aimed probes over %d seeds: %d\n", SEEDS, r.causality_aimed);
	/* every seed aims its own (the tiny split has a few dozen windows;
	 * the protocol seed's alone would be under half of this) */
	assert_true(r.causality_aimed >= SEEDS * 16);

	assert_int_equal(king_noise_in_force(&s, RECIPEREPO_FIRST_TAG, &n, &err), 0);
	assert_int_equal(n.present, 1);
	assert_int_equal(n.seeds, SEEDS);
	assert_string_equal(n.scale, "tiny");
	assert_true(n.sigma == r.sigma && n.margin == r.margin);
	assert_int_equal(vstate_king_current(&s, &k, &err), 0);
	assert_true(k.hidden_bpb == r.hidden_bpb[0]);
	/* The genesis king's public score is its seed-1 run's: what miners
	 * compare their own runs with (GET /v1/king). */
	assert_true(k.public_bpb == r.public_bpb[0]);
	assert_int_equal(king_current(&s, &ki, &err), 0);
	assert_true(ki.margin == r.margin && ki.hidden_bpb == r.hidden_bpb[0]);
	{
		sqlite3_stmt *st;
		json_error_t je;
		json_t *j, *hid;
		assert_int_equal(sqlite3_prepare_v2(s.db, "SELECT values_json FROM noise ORDER BY id DESC LIMIT 1", -1,
						    &st, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		j = json_loads((const char *)sqlite3_column_text(st, 0), 0, &je);
		sqlite3_finalize(st);
		assert_non_null(j);
		hid = json_object_get(j, "hidden_bpb");
		assert_int_equal(json_array_size(hid), SEEDS);
		for (int i = 0; i < SEEDS; i++)
			assert_true(json_real_value(json_array_get(hid, (size_t)i)) == r.hidden_bpb[i]);
		assert_int_equal(json_integer_value(json_array_get(json_object_get(j, "seeds"), 0)), 1);
		/* the other runs' seeds are the validator's secret draws, in the
		 * challenge seeds' range: no small public integers a king's
		 * recipe could tell its noise runs by */
		for (int i = 1; i < SEEDS; i++) {
			json_int_t v = json_integer_value(json_array_get(json_object_get(j, "seeds"), (size_t)i));

			assert_true((uint64_t)v == noise_seed(s.secret, r.king_tag, i + 1));
			assert_true((uint64_t)v == r.seed[i]);
			assert_true((uint64_t)v >= KING_SEED_MIN && (uint64_t)v <= KING_SEED_MAX && v != i + 1);
		}
		json_decref(j);
	}
	/* The protocol seed's hidden losses are the king's, bound to its
	 * score bit for bit (what the sequential judge pairs with). */
	{
		char owner[HLOSSES_OWNER_MAX], hex[HASH_HEX_BYTES], key[HLOSSES_OWNER_MAX + 32], path[FS_PATH_MAX];
		struct hlosses l;
		struct dataset hid;
		const uint16_t *toks;
		uint32_t *tb;
		size_t ntok;
		int vocab;
		snprintf(owner, sizeof owner, "king %s %s", k.tag, k.commit);
		assert_int_equal(hlosses_load(&s, owner, &l, &err), 0);
		assert_int_equal(dataset_open(s.hidden, &hid, &err), 0);
		assert_int_equal(dataset_tokens(&hid, SPLIT_HIDDEN, &toks, &ntok, &err), 0);
		assert_int_equal(evaluate_token_bytes(hid.tok, &tb, &vocab, &err), 0);
		assert_true(l.targets == hlosses_targets(ntok, 0));
		assert_int_equal(hlosses_bind(&l, hid.digest, toks, l.targets, tb, k.hidden_bpb, &err), 0);
		/* another score, another folder: stale */
		assert_int_equal(hlosses_bind(&l, hid.digest, toks, l.targets, tb, nextafter(k.hidden_bpb, 0), &err), -1);
		assert_string_equal(err.code, "hlosses.stale");
		assert_int_equal(hlosses_bind(&l, k.commit, toks, l.targets, tb, k.hidden_bpb, &err), -1);
		assert_string_equal(err.code, "hlosses.stale");
		l.nats[l.targets / 2] += 1e-9;
		assert_int_equal(hlosses_bind(&l, hid.digest, toks, l.targets, tb, k.hidden_bpb, &err), -1);
		assert_string_equal(err.code, "hlosses.stale");
		hlosses_free(&l);
		/* no losses for a king that was never measured */
		assert_int_equal(hlosses_load(&s, "king recipe-v9.9.9 0", &l, &err), -1);
		assert_string_equal(err.code, "hlosses.missing");
		/* a flipped byte in the stored file is caught, and restored */
		snprintf(key, sizeof key, "%s%s", HLOSSES_META_PREFIX, owner);
		assert_int_equal(vstate_meta_get(&s, key, hex, sizeof hex, &err), 0);
		assert_int_equal(vstate_store_path(&s, hex, path, &err), 0);
		flip_byte(path, 200);
		assert_int_equal(hlosses_load(&s, owner, &l, &err), -1);
		assert_string_equal(err.code, "hlosses.corrupt");
		flip_byte(path, 200);
		assert_int_equal(hlosses_load(&s, owner, &l, &err), 0);
		hlosses_free(&l);
		free(tb);
		dataset_close(&hid);
	}
	snprintf(workdir, sizeof workdir, "%s/work", state_dir);
	assert_int_equal(tu_entries(workdir), 0);
	noise_result_free(&r);
	vstate_close(&s);
}

static long long noise_rows(struct vstate *s)
{
	sqlite3_stmt *st;
	long long n;

	assert_int_equal(sqlite3_prepare_v2(s->db, "SELECT count(*) FROM noise", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* The noise row (noise.c) and the king's score (king.c) commit together or
 * not at all: a stale king, or a refused write of the score after the noise
 * row is in, leaves neither. */
static void test_store_atomic(void **state)
{
	double hid[2] = { 2.5, 2.625 }, pub[2] = { 2.75, 2.875 };
	uint64_t seeds[2] = { 1, 77 };
	struct noise_result r = { .seeds = 2, .hidden_bpb = hid, .public_bpb = pub, .seed = seeds, .sigma = 0.0883883,
				  .margin = 0.1767767, .king_hidden_bpb = 2.5 };
	struct vstate_king k, after;
	struct vstate s;
	struct kerr err = { 0 };
	long long n0;

	(void)state;
	assert_int_equal(validator_open(state_dir, &s, &err), 0);
	assert_int_equal(vstate_king_current(&s, &k, &err), 0);
	snprintf(r.king_tag, sizeof r.king_tag, "%s", k.tag);
	snprintf(r.scale, sizeof r.scale, "%s", s.scale);
	n0 = noise_rows(&s);
	r.seed = NULL; /* a result without its seeds is not stored */
	assert_int_equal(noise_store(&s, k.id, &r, &err), -1);
	assert_string_equal(err.code, "noise.incomplete");
	r.seed = seeds;
	assert_int_equal(noise_store(&s, k.id + 1, &r, &err), -1);
	assert_string_equal(err.code, "king.stale");
	assert_int_equal(noise_rows(&s), n0);
	/* The score's write fails after the noise row was inserted. */
	assert_int_equal(sqlite3_exec(s.db, "CREATE TEMP TRIGGER refuse_score BEFORE UPDATE OF hidden_bpb ON kings"
				      " BEGIN SELECT RAISE(ABORT, 'refused'); END", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(noise_store(&s, k.id, &r, &err), -1);
	assert_int_equal(noise_rows(&s), n0);
	assert_int_equal(vstate_king_current(&s, &after, &err), 0);
	assert_true(after.hidden_bpb == k.hidden_bpb || (isnan(after.hidden_bpb) && isnan(k.hidden_bpb)));
	assert_int_equal(sqlite3_exec(s.db, "DROP TRIGGER refuse_score", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(noise_store(&s, k.id, &r, &err), 0);
	assert_int_equal(noise_rows(&s), n0 + 1);
	assert_int_equal(vstate_king_current(&s, &after, &err), 0);
	assert_true(after.hidden_bpb == 2.5);
	vstate_close(&s);
}

/* A king whose logits read the next token (the attack a judgment's
 * causality audit catches, tests/hostile/test_judge_attacks.c) is caught
 * by the noise floor too, whose run records the king's score and the
 * losses every challenger is paired with: judge.causality, nothing
 * stored. */
/* A validator state under work/NAME-state whose king is the project's
 * recipe with text inserted after the first occurrence of anchor in
 * recipe.c (and head at the file's top), opened into s. */
static void state_with_king(const char *name, const char *head, const char *anchor, const char *text,
			    struct vstate *s)
{
	char rdir[FS_PATH_MAX], sdir[FS_PATH_MAX], src[FS_PATH_MAX], data[FS_PATH_MAX], hidden[FS_PATH_MAX];
	char out[4096], *orig, *at, *patched;
	struct kerr err = { 0 };
	size_t len, hl = strlen(head), tl = strlen(text), off;

	snprintf(rdir, sizeof rdir, "%s/%s-recipe", work, name);
	snprintf(sdir, sizeof sdir, "%s/%s-state", work, name);
	snprintf(src, sizeof src, "%s/recipe.c", rdir);
	snprintf(data, sizeof data, "%s/data", work);
	snprintf(hidden, sizeof hidden, "%s/hidden", work);
	tu_run_want(out, sizeof out, 0, "cp -r recipe %s", rdir);
	assert_int_equal(fs_read_all(src, 1u << 22, &orig, &len, &err), 0);
	assert_non_null(at = strstr(orig, anchor));
	off = (size_t)(at - orig) + strlen(anchor);
	assert_non_null(patched = malloc(hl + len + tl));
	memcpy(patched, head, hl);
	memcpy(patched + hl, orig, off);
	memcpy(patched + hl + off, text, tl);
	memcpy(patched + hl + off + tl, orig + off, len - off);
	assert_int_equal(fs_write_atomic(src, patched, hl + len + tl, &err), 0);
	free(orig);
	free(patched);
	{
		struct vstate_init_opts vo = { sdir, rdir, data, hidden, "tiny" };
		if (vstate_init(&vo, &err) < 0)
			fail_msg("vstate_init: %s: %s", err.code, err.msg);
	}
	assert_int_equal(validator_open(sdir, s, &err), 0);
}

/* The floor fails with code and stores nothing. */
static void floor_fails(struct vstate *s, const char *code)
{
	struct noise_opts o = { .seeds = 2, .threads = 2 };
	struct noise_result r;
	struct vstate_noise n;
	struct kerr err = { 0 };

	assert_int_equal(noise_floor(s, &o, &r, &err), -1);
	if (strcmp(err.code, code))
		fail_msg("want %s, got %s: %s", code, err.code, err.msg);
	assert_int_equal(king_noise_in_force(s, RECIPEREPO_FIRST_TAG, &n, &err), 0);
	assert_int_equal(n.present, 0);
}

static void test_a_king_reading_the_future_is_caught(void **state)
{
	static const char anchor[] = "gpt_forward(g, g->inputs, n, T, logits + (size_t)r0 * T * c->V);\n";
	static const char peek[] = "\t\tfor (int i = 0; i < n; i++)\n"
				   "\t\t\tfor (int t = 0; t + 1 < T; t++)\n"
				   "\t\t\t\tlogits[((size_t)(r0 + i) * T + t) * c->V + tokens[(size_t)(r0 + i) * T + t + 1]] += 2.0f;\n";
	struct vstate s;

	(void)state;
	state_with_king("peek", "", anchor, peek, &s);
	floor_fails(&s, "judge.causality");
	vstate_close(&s);
}

/* A king that breaks the sandbox while it trains for the floor is named
 * for it: the floor reads how the child ended before its training run
 * destroys the host (it said recipe.died). The symbol check, which would
 * refuse the call at the build, is off for this case: the sandbox must
 * hold on its own. */
static void test_a_king_breaking_the_sandbox_is_named(void **state)
{
	static const char anchor[] = "float rate, l;\n";
	static const char call[] = "\tif (step == 3)\n\t\tsyscall(SYS_getppid);\n";
	struct vstate s;

	(void)state;
	state_with_king("getppid", "#include <sys/syscall.h>\n#include <unistd.h>\n", anchor, call, &s);
	recipe_build_test_skip_symcheck(1);
	floor_fails(&s, "sandbox.violation");
	recipe_build_test_skip_symcheck(0);
	vstate_close(&s);
}

/* STATE/work is a file, so the floor's scratch folder cannot be made in
 * it (as root, a mode would not stop mkdtemp): noise.work, before the king
 * is built or trained, nothing stored. Too many seeds is refused before
 * even that. */
static void test_no_work_folder(void **state)
{
	struct noise_opts o = { .seeds = NOISE_SEEDS_MAX + 1, .threads = 2 };
	struct noise_result r;
	char wdir[FS_PATH_MAX];
	struct vstate s;
	struct kerr err = { 0 };

	(void)state;
	state_with_king("nowork", "", "", "", &s); /* the recipe as it is */
	snprintf(wdir, sizeof wdir, "%s/work", s.dir);
	assert_int_equal(rmdir(wdir), 0);
	tu_put(s.dir, "work", "not a folder\n");
	assert_int_equal(noise_floor(&s, &o, &r, &err), -1);
	assert_string_equal(err.code, "noise.too_many_seeds");
	floor_fails(&s, "noise.work");
	vstate_close(&s);
}

/* Four losses in windows of two, a scoring hlosses_save accepts. */
static void whole_losses(struct hlosses *l, double nats[4])
{
	memset(l, 0, sizeof *l);
	snprintf(l->owner, sizeof l->owner, "king refused");
	snprintf(l->hidden_digest, sizeof l->hidden_digest, "%064d", 0);
	l->seq_len = 2;
	l->targets = 4;
	l->bpb = 1.5;
	l->nats = nats;
}

/* Losses that are not a scoring (no owner, no targets, more than a file
 * holds, no windows, no values) are refused before anything is written: no
 * meta entry, no store object, no scratch file; the same losses whole are
 * saved, so each refusal was its one field's. */
static void test_hlosses_refusals(void **state)
{
	double nats[4] = { 1.0, 2.0, 3.0, 4.0 };
	char store[FS_PATH_MAX], wdir[FS_PATH_MAX];
	struct hlosses l, got;
	struct vstate s;
	struct kerr err = { 0 };
	int before;

	(void)state;
	assert_int_equal(validator_open(state_dir, &s, &err), 0);
	snprintf(store, sizeof store, "%s/store", state_dir);
	snprintf(wdir, sizeof wdir, "%s/work", state_dir);
	before = tu_entries(store);
	for (int c = 0; c < 5; c++) {
		whole_losses(&l, nats);
		switch (c) {
		case 0: l.owner[0] = '\0'; break;
		case 1: l.targets = 0; break;
		case 2: l.targets = HLOSSES_TARGETS_MAX + 1; break;
		case 3: l.seq_len = 0; break;
		case 4: l.nats = NULL; break;
		}
		assert_int_equal(hlosses_save(&s, &l, &err), -1);
		assert_string_equal(err.code, "hlosses.bad");
		assert_int_equal(tu_entries(store), before);
		assert_int_equal(tu_entries(wdir), 0);
	}
	assert_int_equal(hlosses_load(&s, "", &got, &err), -1);
	assert_string_equal(err.code, "hlosses.bad");
	assert_int_equal(hlosses_load(&s, "king refused", &got, &err), -1);
	assert_string_equal(err.code, "hlosses.missing");
	whole_losses(&l, nats);
	if (hlosses_save(&s, &l, &err) < 0)
		fail_msg("hlosses_save: %s: %s", err.code, err.msg);
	assert_int_equal(hlosses_load(&s, "king refused", &got, &err), 0);
	assert_true(got.targets == 4 && got.nats[3] == 4.0);
	hlosses_free(&got);
	vstate_close(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_noise_seeds_drawn),
		cmocka_unit_test(test_sample_sd),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_noise_floor_tiny),
		cmocka_unit_test(test_store_atomic),
		cmocka_unit_test(test_a_king_reading_the_future_is_caught),
		cmocka_unit_test(test_a_king_breaking_the_sandbox_is_named),
		cmocka_unit_test(test_no_work_folder),
		cmocka_unit_test(test_hlosses_refusals),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
