/* test_judge_attacks.c: a dishonest miner against a validator, end to end
 * through `karpa judge` at the tiny scale. Each attack must end in verdict
 * `rejected` with one exact reason code (or, for the public-split overfit,
 * must not be accepted). Bundles are made two ways: by `karpa prove` on a
 * patch whose cheat runs inside the recipe, and by surgery on an honest
 * bundle with the library: edit files, re-chain the log the way the harness
 * writes it, and re-seal with the miner's own key (a miner can always do
 * that; what it cannot redo is the validator's recomputation).
 *
 * The fixture is built once: data with a hidden split, a validator state
 * with a 2-seed noise floor, a miner key, the miner's clone of the recipe
 * repository and one honest bundle (a comment-only patch, 30 steps: with two
 * intermediate checkpoints and two kept, the kept set does not depend on the
 * log head, so a re-chained log keeps its checkpoints). */
#include "../testutil.h"

#include <jansson.h>
#include <sqlite3.h>
#include <math.h>
#include <sys/stat.h>
#include <time.h>

#include "harness/calibrate.h"
#include "harness/checkpoint.h"
#include "harness/gpuinfo.h"
#include "data/dataset.h"
#include "harness/train.h"
#include "harness/trainlog.h"
#include "judge/judge.h"
#include "proof/bundle.h"
#include "proof/keys.h"
#include "proof/reciperepo.h"

#define OUT_CAP (256u << 10)
#define NOISE_SEEDS 2 /* the least with a spread: the attacks do not depend on the margin */
#define THREADS 2
#define LOG_LINES_MAX 4096 /* a tiny run logs ~40 lines */

struct fx {
	char *tmp;
	char data[FS_PATH_MAX], hidden[FS_PATH_MAX], state[FS_PATH_MAX], clone[FS_PATH_MAX], key[FS_PATH_MAX];
	char other_key[FS_PATH_MAX], honest[FS_PATH_MAX], why[FS_PATH_MAX];
	struct keys k, other;
	int n;     /* bundles made so far (names) */
	char *out; /* OUT_CAP bytes of captured output */
};

static struct fx g;

/* Short names for the shared helpers in testutil.h, bound to this file's output buffer. */
#define now_s() tu_now_s()
#define run(want, ...) tu_run_want(g.out, OUT_CAP, (want), __VA_ARGS__)
#define out_json() tu_out_json(g.out)
#define jstr tu_jstr
#define jnum tu_jnum

static void fx_file(char *out, const char *name)
{
	snprintf(out, FS_PATH_MAX, "%s/%s", g.tmp, name);
}

static char *slurp(const char *path, size_t *len)
{
	char *t = NULL;
	size_t n = 0;
	struct kerr err;

	if (fs_read_all(path, 64u << 20, &t, &n, &err) < 0)
		fail_msg("%s: %s", path, err.msg);
	if (len)
		*len = n;
	return t;
}

static void spit(const char *path, const char *text, size_t n)
{
	struct kerr err;

	if (fs_write_atomic(path, text, n, &err) < 0)
		fail_msg("%s: %s", path, err.msg);
}

/* Inserts `add` right after the first occurrence of `anchor` in path. */
static void insert_after(const char *path, const char *anchor, const char *add)
{
	size_t n;
	char *t = slurp(path, &n), *at = strstr(t, anchor), *u;

	if (!at)
		fail_msg("%s: anchor not found: %s", path, anchor);
	at += strlen(anchor);
	u = malloc(n + strlen(add) + 1);
	assert_non_null(u);
	memcpy(u, t, (size_t)(at - t));
	strcpy(u + (at - t), add);
	strcat(u, at);
	spit(path, u, strlen(u));
	free(t);
	free(u);
}

/* ---- patches, made in the miner's clone ----------------------------- */

/* Resets the clone to tag; the caller edits files in g.clone, then
 * end_patch writes the diff (new files included). */
static void begin_patch(const char *tag)
{
	run(0, "git -C %s reset -q --hard && git -C %s clean -qfd && git -C %s checkout -q --detach %s", g.clone,
	    g.clone, g.clone, tag);
}

static void end_patch(const char *out)
{
	struct stat sb;

	run(0, "git -C %s add -A && git -C %s diff --cached > %s && git -C %s reset -q --hard", g.clone, g.clone, out,
	    g.clone);
	assert_int_equal(stat(out, &sb), 0);
	assert_true(sb.st_size > 0);
}

static void clone_path(char *out, const char *file)
{
	snprintf(out, FS_PATH_MAX, "%s/%s", g.clone, file);
}

static void prove(const char *patch, const char *rationale, const char *out)
{
	double t0 = now_s();

	run(0, "%s prove --recipe %s/recipe --king recipe-v0.1.0 --patch %s --rationale %s --key %s --data %s"
	       " --scale tiny --out %s --mock-attestation --threads %d --json",
	    tu_karpa(), g.state, patch, rationale, g.key, g.data, out, THREADS);
	print_message("   prove %s: %.1f s wall\n", strrchr(out, '/') + 1, now_s() - t0);
}

/* One edit of the king's config.c (add after anchor), proved as NAME with
 * the rationale given; the bundle's path goes to out. */
static void prove_config_edit(const char *anchor, const char *add, const char *name, const char *rationale,
			      char out[FS_PATH_MAX])
{
	char patch[FS_PATH_MAX], why[FS_PATH_MAX], p[FS_PATH_MAX], file[64];

	begin_patch("recipe-v0.1.0");
	clone_path(p, "config.c");
	insert_after(p, anchor, add);
	snprintf(file, sizeof file, "%s.diff", name);
	fx_file(patch, file);
	end_patch(patch);
	snprintf(file, sizeof file, "%s.md", name);
	fx_file(why, file);
	spit(why, rationale, strlen(rationale));
	fx_file(out, name);
	prove(patch, why, out);
}

/* Judges and returns the result; the verdict must have been recorded. */
static json_t *judge(const char *bundle)
{
	double t0 = now_s();
	json_t *j;

	run(0, "%s judge %s %s --json --threads %d", tu_karpa(), g.state, bundle, THREADS);
	j = out_json();
	print_message("   %-22s %-13s %-24s %6.2f judge-cpu-s (%.1f s wall)\n", strrchr(bundle, '/') + 1,
		      jstr(j, "verdict"), jstr(j, "code"), jnum(j, "judge_cpu_s"), now_s() - t0);
	return j;
}

static void expect_rejected(const char *bundle, const char *code)
{
	json_t *j = judge(bundle);

	if (strcmp(jstr(j, "verdict"), "rejected") || strcmp(jstr(j, "code"), code))
		fail_msg("%s: expected rejected %s, got %s %s: %s", bundle, code, jstr(j, "verdict"), jstr(j, "code"),
			 jstr(j, "reason"));
	json_decref(j);
}

/* ---- bundle surgery -------------------------------------------------- */

/* A copy of the honest bundle at a fresh path. */
static void copy_honest(char *out, const char *name)
{
	char n[64];

	snprintf(n, sizeof n, "%02d-%s", g.n++, name);
	fx_file(out, n);
	run(0, "cp -r %s %s", g.honest, out);
}

static json_t *manifest(const char *dir)
{
	char p[FS_PATH_MAX];
	json_error_t je;
	json_t *m;

	snprintf(p, sizeof p, "%s/%s", dir, BUNDLE_MANIFEST);
	m = json_load_file(p, JSON_REJECT_DUPLICATES, &je);
	if (!m)
		fail_msg("%s: %s", p, je.text);
	return m;
}

/* What a miner does after editing its own bundle: digests of every file,
 * a fresh (mock) attestation over the new manifest, its own signature. */
static void reseal(const char *dir, json_t *m, const struct keys *k)
{
	struct attest_opts ao = { .force_mock = 1 };
	struct kerr err = { { 0 }, { 0 } };

	if (bundle_seal(dir, m, k, &ao, &err) < 0)
		fail_msg("bundle_seal %s: %s: %s", dir, err.code, err.msg);
}

/* Replaces patch.diff and its digest, then re-seals. */
static void swap_patch(const char *dir, const char *patch_file)
{
	char p[FS_PATH_MAX], hex[HASH_HEX_BYTES];
	size_t n;
	char *t = slurp(patch_file, &n);
	json_t *m = manifest(dir);

	snprintf(p, sizeof p, "%s/patch.diff", dir);
	spit(p, t, n);
	hash_buf_hex(t, n, hex);
	json_object_set_new(m, "patch_sha256", json_string(hex));
	reseal(dir, m, &g.k);
	json_decref(m);
	free(t);
}

struct log {
	json_t *rec[LOG_LINES_MAX];
	int n;
};

static void log_read(const char *dir, struct log *l)
{
	char p[FS_PATH_MAX];
	size_t n;
	char *t, *s, *nl;

	snprintf(p, sizeof p, "%s/train.log", dir);
	t = slurp(p, &n);
	l->n = 0;
	for (s = t; *s; s = nl + 1) {
		json_error_t je;
		nl = strchr(s, '\n');
		assert_non_null(nl);
		assert_true(l->n < LOG_LINES_MAX);
		l->rec[l->n] = json_loadb(s, (size_t)(nl - s), 0, &je);
		if (!l->rec[l->n])
			fail_msg("train.log line %d: %s", l->n + 1, je.text);
		l->n++;
	}
	free(t);
}

/* Writes the records back as the harness would: canonical lines, each
 * "prev" the SHA-256 of the line before (rechain = 1), or the prev fields
 * left as they are (rechain = 0: the naive forgery). Updates the manifest's
 * log head and line count and frees the records. */
static void log_write(const char *dir, struct log *l, json_t *m, int rechain)
{
	char p[FS_PATH_MAX], prev[HASH_HEX_BYTES] = TRAINLOG_GENESIS;
	size_t cap = 0, len = 0;
	char *buf = NULL;
	struct trainlog_summary ts;
	struct kerr err = { { 0 }, { 0 } };

	for (int i = 0; i < l->n; i++) {
		char *line;
		size_t ln;
		if (rechain)
			json_object_set_new(l->rec[i], "prev", json_string(prev));
		line = json_dumps(l->rec[i], JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
		assert_non_null(line);
		ln = strlen(line);
		hash_buf_hex(line, ln, prev);
		if (len + ln + 2 > cap) {
			cap = 2 * (len + ln + 2);
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		memcpy(buf + len, line, ln);
		len += ln;
		buf[len++] = '\n';
		free(line);
		json_decref(l->rec[i]);
	}
	snprintf(p, sizeof p, "%s/train.log", dir);
	spit(p, buf, len);
	free(buf);
	if (rechain && trainlog_verify(p, &ts, &err) == 0)
		assert_string_equal(ts.head, prev);
	json_object_set_new(json_object_get(m, "log"), "head", json_string(prev));
	json_object_set_new(json_object_get(m, "log"), "lines", json_integer(l->n));
	l->n = 0;
}

static const char *event(json_t *r)
{
	return jstr(r, "event");
}

/* ---- fixture --------------------------------------------------------- */

static int setup_group(void **unused)
{
	char patch[FS_PATH_MAX], p[FS_PATH_MAX];
	struct kerr err;
	double t0 = now_s();

	memset(&g, 0, sizeof g);
	hash_init_lib();
	g.tmp = tu_mkdtemp();
	g.out = malloc(OUT_CAP);
	assert_non_null(g.out);
	fx_file(g.data, "data");
	fx_file(g.hidden, "hidden");
	fx_file(g.state, "state");
	fx_file(g.clone, "miner-recipe");
	fx_file(g.key, "miner.key");
	fx_file(g.other_key, "thief.key");
	fx_file(g.honest, "honest");
	fx_file(g.why, "why.md");
	run(0, "%s data prepare --scale tiny --out %s --hidden-out %s", tu_karpa(), g.data, g.hidden);
	run(0, "%s validator init %s --data %s --hidden %s --scale tiny", tu_karpa(), g.state, g.data, g.hidden);
	tu_fix_secret(g.out, OUT_CAP, g.state);
	run(0, "%s noise-floor %s --seeds %d --threads %d --json", tu_karpa(), g.state, NOISE_SEEDS, THREADS);
	print_message("   noise floor: %.0f s\n", now_s() - t0);
	assert_int_equal(keys_generate(g.key, &g.k, &err), 0);
	assert_int_equal(keys_generate(g.other_key, &g.other, &err), 0);
	run(0, "git clone -q %s/recipe %s", g.state, g.clone);
	spit(g.why, "A clearer comment on the scale table.\n", strlen("A clearer comment on the scale table.\n"));
	begin_patch("recipe-v0.1.0");
	clone_path(p, "config.c");
	insert_after(p, "/* tiny: seconds under sanitizers.", " (The test scale.)");
	fx_file(patch, "honest.diff");
	end_patch(patch);
	prove(patch, g.why, g.honest);
	return 0;
}

static int teardown_group(void **unused)
{
	keys_wipe(&g.k);
	keys_wipe(&g.other);
	tu_rmdir(g.tmp);
	free(g.out);
	return 0;
}

/* ---- check 1: the diff scan ----------------------------------------- */

/* A patch to the fixed evaluator. prove refuses it, so the bundle is an
 * honest one with its patch replaced and re-sealed. */
static void test_patch_touching_harness(void **unused)
{
	char b[FS_PATH_MAX], patch[FS_PATH_MAX];
	static const char diff[] =
		"diff --git a/src/harness/evaluate.c b/src/harness/evaluate.c\n"
		"--- a/src/harness/evaluate.c\n"
		"+++ b/src/harness/evaluate.c\n"
		"@@ -1,3 +1,3 @@\n"
		" /* evaluate.c */\n"
		"-#define LN2 0.69314718055994531\n"
		"+#define LN2 0.9\n"
		" #include \"harness/evaluate.h\"\n";

	fx_file(patch, "harness.diff");
	spit(patch, diff, sizeof diff - 1);
	copy_honest(b, "harness");
	swap_patch(b, patch);
	expect_rejected(b, "patch.touches_harness");
}

/* A bundle refused at check 1, before its full verification, by a
 * judgment run by hand, whose manifest names another miner than the one
 * who signed it, or whose rationale is not the one its signed manifest
 * lists: recorded under no miner and without its rationale (the words are
 * no one's), while the signed one it was made from keeps its miner. */
static void test_unsigned_refusal_is_no_ones(void **unused)
{
	char b[FS_PATH_MAX], p[FS_PATH_MAX], patch[FS_PATH_MAX];
	static const char diff[] = "diff --git a/src/harness/evaluate.c b/src/harness/evaluate.c\n"
				   "--- a/src/harness/evaluate.c\n"
				   "+++ b/src/harness/evaluate.c\n"
				   "@@ -1,3 +1,3 @@\n"
				   " /* evaluate.c */\n"
				   "-#define LN2 0.69314718055994531\n"
				   "+#define LN2 0.8\n"
				   " #include \"harness/evaluate.h\"\n";
	static const char words[] = "Words written in another miner's name.\n";
	json_t *m;
	char *text;

	fx_file(patch, "unsigned.diff");
	spit(patch, diff, sizeof diff - 1);
	copy_honest(b, "signed-refusal");
	swap_patch(b, patch);
	expect_rejected(b, "patch.touches_harness");
	run(0, "%s corpus %s export --format jsonl | grep -c '\"miner\":\"%s\".*LN2 0.8' || true", tu_karpa(),
	    g.state, g.k.pk_hex);
	assert_int_equal(atoi(g.out), 1);
	copy_honest(b, "unsigned-refusal");
	swap_patch(b, patch);
	m = manifest(b);
	json_object_set_new(m, "miner", json_string(g.other.pk_hex));
	text = bundle_manifest_dump(m);
	assert_non_null(text);
	snprintf(p, sizeof p, "%s/%s", b, BUNDLE_MANIFEST);
	spit(p, text, strlen(text)); /* manifest.sig stays the signer's: not other's */
	snprintf(p, sizeof p, "%s/rationale.md", b);
	spit(p, words, sizeof words - 1);
	free(text);
	json_decref(m);
	expect_rejected(b, "patch.touches_harness");
	run(0, "%s corpus %s export --format jsonl | grep 'LN2 0.8' | grep -c '\"miner\":null' || true", tu_karpa(),
	    g.state);
	assert_int_equal(atoi(g.out), 1);
	/* the miner's own signed manifest kept whole, the rationale beside it
	 * replaced: the signature holds, but not for these words */
	copy_honest(b, "reworded-refusal");
	swap_patch(b, patch);
	snprintf(p, sizeof p, "%s/rationale.md", b);
	spit(p, words, sizeof words - 1);
	expect_rejected(b, "patch.touches_harness");
	run(0, "%s corpus %s export --format jsonl | grep 'LN2 0.8' | grep -c '\"miner\":null' || true", tu_karpa(),
	    g.state);
	assert_int_equal(atoi(g.out), 2);
	run(0, "%s corpus %s export --format jsonl | grep 'LN2 0.8' | grep -c '%s\\|in another miner' || true",
	    tu_karpa(), g.state, g.other.pk_hex);
	assert_int_equal(atoi(g.out), 0);
}

/* An honest bundle, at b, whose patch instead adds text after anchor in
 * the king's file. name labels the patch and the copy. */
static void insert_bundle(char b[FS_PATH_MAX], const char *file, const char *anchor, const char *text,
			  const char *name)
{
	char patch[FS_PATH_MAX], p[FS_PATH_MAX], diff[64];

	begin_patch("recipe-v0.1.0");
	clone_path(p, file);
	insert_after(p, anchor, text);
	snprintf(diff, sizeof diff, "%s.diff", name);
	fx_file(patch, diff);
	end_patch(patch);
	copy_honest(b, name);
	swap_patch(b, patch);
}

/* insert_bundle's bundle, rejected with code. */
static void insert_rejected(const char *file, const char *anchor, const char *text, const char *name,
			    const char *code)
{
	char b[FS_PATH_MAX];

	insert_bundle(b, file, anchor, text, name);
	expect_rejected(b, code);
}

/* A recipe opening a socket (to fetch the hidden split, say). */
static void test_socket_call(void **unused)
{
	insert_rejected("recipe.c", "\tomp_set_num_threads(r->threads);\n",
			"\tif (r->threads == 12345)\n\t\t(void)socket(2, 1, 0);\n", "socket", "judge.forbidden_call");
}

/* The same call behind a macro whose name says nothing. */
static void test_macro_hiding_a_call(void **unused)
{
	char b[FS_PATH_MAX], patch[FS_PATH_MAX], p[FS_PATH_MAX];

	begin_patch("recipe-v0.1.0");
	clone_path(p, "recipe.c");
	insert_after(p, "#include \"sandbox/recipe_api.h\"\n", "#define PREFETCH_HINT socket\n");
	insert_after(p, "\tomp_set_num_threads(r->threads);\n", "\tif (r->threads == 12345)\n\t\t(void)PREFETCH_HINT(2, 1, 0);\n");
	fx_file(patch, "macro.diff");
	end_patch(patch);
	copy_honest(b, "macro");
	swap_patch(b, patch);
	expect_rejected(b, "judge.macro_hides");
}

/* A patch to the CUDA part: host assembly in a kernel file, a system call
 * the GPU runner would make from its launcher. Check 1 reads cuda/ too. */
static void test_cuda_part_host_assembly(void **unused)
{
	insert_rejected("cuda/gk_kernels.cu", "#include <math.h>\n",
			"static long esc_(long x)\n{\n\tasm volatile(\"mov.u32 %0, %0;\\n\\tsyscall\" : \"+a\"(x));\n"
			"\treturn x;\n}\n",
			"cuda_asm", "judge.inline_asm");
}

/* A harmless change to the CUDA part, proved at a CPU scale: the proof's
 * runner never built it, so check 1 refuses to merge it unproved. */
static void test_cuda_part_at_a_cpu_scale(void **unused)
{
	insert_rejected("cuda/gk_kernels.cu", "#include <math.h>\n", "/* a note no CPU proof reads */\n", "cuda_note",
			"patch.untested_part");
}

/* A recipe reading a data shard itself (the public val split, to memorise
 * it), instead of the tokens the harness hands it. */
static void test_recipe_reading_data_files(void **unused)
{
	insert_rejected("recipe.c", "\tomp_set_num_threads(r->threads);\n",
			"\t{\n\t\tFILE *f = fopen(\"../data/val_000.bin\", \"rb\");\n\t\tif (f)\n\t\t\tfclose(f);\n\t}\n",
			"fopen", "judge.forbidden_call");
}

/* A patch over the size limit is refused for its size, naming the limit,
 * not as a missing patch. */
static void test_patch_too_big(void **unused)
{
	char b[FS_PATH_MAX], patch[FS_PATH_MAX];
	size_t n = (RECIPEREPO_PATCH_BYTES_MAX / 64 + 2) * 64;
	char *big = malloc(n);
	json_t *j;

	assert_non_null(big);
	for (size_t i = 0; i < n; i += 64)
		memcpy(big + i, "+/* a comment line that only makes the patch long.......... */\n", 64);
	fx_file(patch, "big.diff");
	spit(patch, big, n);
	free(big);
	copy_honest(b, "big-patch");
	swap_patch(b, patch);
	j = judge(b);
	if (strcmp(jstr(j, "verdict"), "rejected") || strcmp(jstr(j, "code"), "patch.too_large") ||
	    !strstr(jstr(j, "reason"), "262144"))
		fail_msg("expected rejected patch.too_large naming the limit, got %s %s: %s", jstr(j, "verdict"),
			 jstr(j, "code"), jstr(j, "reason"));
	json_decref(j);
}

/* ---- a stranger holding the validator ---------------------------------- */

#define FIFO_JUDGE_LIMIT_S 120 /* `timeout` ends a judge that waits on a FIFO */

/* A FIFO where patch.diff should be: refused when the bundle is taken, at
 * once, instead of waiting for a writer forever. Nothing was judged, so
 * nothing is recorded (as for a .tar, whose reader refuses a FIFO entry). */
static void test_fifo_patch(void **unused)
{
	char b[FS_PATH_MAX], p[FS_PATH_MAX];

	copy_honest(b, "fifo-patch");
	snprintf(p, sizeof p, "%s/patch.diff", b);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkfifo(p, 0644), 0);
	run(1, "timeout %d %s judge %s %s --json --threads %d", FIFO_JUDGE_LIMIT_S, tu_karpa(), g.state, b, THREADS);
	assert_non_null(strstr(g.out, "bundle.file_type"));
}

/* A FIFO for the manifest: the same, before anything is read. */
static void test_fifo_manifest(void **unused)
{
	char b[FS_PATH_MAX], p[FS_PATH_MAX];

	copy_honest(b, "fifo-manifest");
	snprintf(p, sizeof p, "%s/%s", b, BUNDLE_MANIFEST);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkfifo(p, 0644), 0);
	run(1, "timeout %d %s judge %s %s --json --threads %d", FIFO_JUDGE_LIMIT_S, tu_karpa(), g.state, b, THREADS);
	assert_non_null(strstr(g.out, "bundle.file_type"));
}

/* Time of check to time of use: the sender replaces its final checkpoint
 * and removes the rest of its folder as soon as the judge has taken it in
 * (the first progress line comes after intake). A judge that read the
 * sender's folder again later (to verify it, to load its checkpoints) would
 * judge the replaced bytes, or none; one that judges its own copy reaches
 * the honest bundle's verdict. The window is the whole judgment (seconds)
 * against the few milliseconds the test takes to act on the line. */
static void test_bundle_changed_after_intake(void **unused)
{
	char b[FS_PATH_MAX], p[FS_PATH_MAX], out[FS_PATH_MAX], cmd[4 * FS_PATH_MAX], line[512];
	int acted = 0, status;
	json_t *j, *m;
	char *text;
	FILE *fp;

	copy_honest(b, "changed-after-intake");
	/* Its own manifest digest: the honest one is judged elsewhere. */
	m = manifest(b);
	json_object_set_new(m, "note", json_string("changed after intake"));
	reseal(b, m, &g.k);
	json_decref(m);
	fx_file(out, "changed-after-intake.json");
	snprintf(cmd, sizeof cmd, "%s judge %s %s --json --progress --threads %d 2>&1 >%s", tu_karpa(), g.state, b,
		 THREADS, out);
	fp = popen(cmd, "r");
	assert_non_null(fp);
	while (fgets(line, sizeof line, fp)) {
		if (!acted && strstr(line, "judge: ")) {
			snprintf(p, sizeof p, "%s/%s", b, BUNDLE_FINAL_CKPT);
			spit(p, "not a checkpoint\n", 17);
			snprintf(p, sizeof p, "%s/%s", b, BUNDLE_MANIFEST);
			assert_int_equal(unlink(p), 0);
			snprintf(p, sizeof p, "%s/train.log", b);
			assert_int_equal(unlink(p), 0);
			acted = 1;
		}
	}
	status = pclose(fp);
	assert_true(acted);
	assert_int_equal(WEXITSTATUS(status), 0);
	text = slurp(out, NULL);
	j = tu_out_json(text);
	free(text);
	if (strcmp(jstr(j, "verdict"), "not_decisive") || strcmp(jstr(j, "code"), "judge.not_decisive"))
		fail_msg("expected the honest verdict not_decisive, got %s %s: %s", jstr(j, "verdict"),
			 jstr(j, "code"), jstr(j, "reason"));
	json_decref(j);
}

#define DEADLINE_S 10       /* the operator's cap used here: under the per-call limit (19 s at tiny) */
#define DEADLINE_SLACK_S 15 /* killing, reaping, recording under sanitizers on a shared machine */

/* kr_logits spins forever: the per-call timeout alone would let each call
 * run for minutes. The judgment ends at its deadline with judge.deadline
 * naming the check. */
static void test_spinning_logits_hit_the_deadline(void **unused)
{
	char b[FS_PATH_MAX], patch[FS_PATH_MAX], p[FS_PATH_MAX];
	double t0;
	json_t *j;

	begin_patch("recipe-v0.1.0");
	clone_path(p, "recipe.c");
	insert_after(p, "int kr_logits(struct kr_recipe *r, const uint16_t *tokens, int rows, int T, float *logits,\n"
			"\t      char *err)\n{\n",
		     "\tfor (volatile unsigned long spin = 1; spin; spin++)\n\t\t;\n");
	fx_file(patch, "spin.diff");
	end_patch(patch);
	copy_honest(b, "spin");
	swap_patch(b, patch);
	t0 = now_s();
	run(0, "%s judge %s %s --json --threads %d --deadline %d", tu_karpa(), g.state, b, THREADS, DEADLINE_S);
	j = out_json();
	print_message("   spin: %s %s in %.1f s: %s\n", jstr(j, "verdict"), jstr(j, "code"), now_s() - t0,
		      jstr(j, "reason"));
	if (strcmp(jstr(j, "verdict"), "rejected") || strcmp(jstr(j, "code"), "judge.deadline") ||
	    !strstr(jstr(j, "reason"), "hidden_eval"))
		fail_msg("expected rejected judge.deadline in hidden_eval, got %s %s: %s", jstr(j, "verdict"),
			 jstr(j, "code"), jstr(j, "reason"));
	assert_true(now_s() - t0 < DEADLINE_S + DEADLINE_SLACK_S);
	json_decref(j);
}

/* kr_logits returns a non-finite logit in the last row of each call: the
 * window it lands on is the child's choice (it could pick it by what the
 * hidden windows hold), so the refusal keeps its code and names no
 * window. */
static void test_nonfinite_window_is_withheld(void **unused)
{
	char b[FS_PATH_MAX];
	json_t *j;

	insert_bundle(b, "recipe.c", "\t\tgpt_forward(g, g->inputs, n, T, logits + (size_t)r0 * T * c->V);\n\t}\n",
		      "\t{\n\t\tvolatile float z = 0.0f;\n\t\tlogits[(size_t)(rows - 1) * T * c->V] = z / z;\n\t}\n",
		      "nonfinite");
	j = judge(b);
	assert_string_equal(jstr(j, "verdict"), "rejected");
	assert_string_equal(jstr(j, "code"), "eval.nonfinite");
	if (strstr(jstr(j, "reason"), "token") || !strstr(jstr(j, "reason"), "withheld"))
		fail_msg("the window is named: %s", jstr(j, "reason"));
	json_decref(j);
}

/* kr_logits fails with the hidden tokens it was fed spelled in its
 * reason, and writes them to its stderr: a channel out of the hidden
 * split if the judgment published a recipe's words from that child. The
 * code is kept, the words are not. */
static void test_hidden_tokens_in_an_error_are_withheld(void **unused)
{
	char b[FS_PATH_MAX], *text;
	json_t *j;

	insert_bundle(b, "recipe.c",
		      "int kr_logits(struct kr_recipe *r, const uint16_t *tokens, int rows, int T, float *logits,\n"
		      "\t      char *err)\n{\n",
		      "\tsnprintf(err, KR_ERR_MAX, \"LEAKED %u %u %u %u\", tokens[0], tokens[1], tokens[2], tokens[3]);\n"
		      "\tfprintf(stderr, \"LEAKED %u %u\\n\", tokens[4], tokens[5]);\n"
		      "\treturn -1;\n",
		      "leak");
	j = judge(b);
	assert_string_equal(jstr(j, "verdict"), "rejected");
	assert_string_equal(jstr(j, "code"), "recipe.failed");
	text = json_dumps(j, 0);
	assert_non_null(text);
	if (strstr(text, "LEAKED"))
		fail_msg("the recipe's words reached the verdict: %s", text);
	assert_non_null(strstr(jstr(j, "reason"), "withheld"));
	free(text);
	json_decref(j);
}

/* Base not the king: the manifest names an older tag. */
static void test_stale_base(void **unused)
{
	char b[FS_PATH_MAX];
	json_t *m;

	copy_honest(b, "stale");
	m = manifest(b);
	json_object_set_new(json_object_get(m, "king"), "tag", json_string("recipe-v0.0.9"));
	reseal(b, m, &g.k);
	json_decref(m);
	expect_rejected(b, "judge.stale");
}

/* ---- check 2: the bundle itself -------------------------------------- */

/* One loss edited in place, the chain left alone (the next line's prev no
 * longer matches), the bundle re-sealed. */
static void test_forged_loss(void **unused)
{
	char b[FS_PATH_MAX];
	struct log l;
	json_t *m;

	copy_honest(b, "forged-loss");
	m = manifest(b);
	log_read(b, &l);
	for (int i = 0; i < l.n; i++)
		if (!strcmp(event(l.rec[i]), "step") && json_integer_value(json_object_get(l.rec[i], "step")) == 7) {
			json_object_set_new(l.rec[i], "loss", json_real(3.0));
			break;
		}
	log_write(b, &l, m, 0);
	reseal(b, m, &g.k);
	json_decref(m);
	expect_rejected(b, "log.chain_broken");
}

/* Two step records swapped without re-chaining: the chain breaks. */
static void test_reordered_log(void **unused)
{
	char b[FS_PATH_MAX];
	struct log l;
	json_t *m, *t;

	copy_honest(b, "reordered");
	m = manifest(b);
	log_read(b, &l);
	assert_string_equal(event(l.rec[3]), "step");
	assert_string_equal(event(l.rec[4]), "step");
	t = l.rec[3], l.rec[3] = l.rec[4], l.rec[4] = t;
	log_write(b, &l, m, 0);
	reseal(b, m, &g.k);
	json_decref(m);
	expect_rejected(b, "log.chain_broken");
}

/* The same swap with the chain recomputed: every prev is right, but the
 * steps no longer count 0, 1, 2, ... */
static void test_reordered_log_rechained(void **unused)
{
	char b[FS_PATH_MAX];
	struct log l;
	json_t *m, *t;

	copy_honest(b, "reordered-rechained");
	m = manifest(b);
	log_read(b, &l);
	t = l.rec[3], l.rec[3] = l.rec[4], l.rec[4] = t;
	log_write(b, &l, m, 1);
	reseal(b, m, &g.k);
	json_decref(m);
	expect_rejected(b, "log.bad_order");
}

/* The two intermediate checkpoints exchanged. Re-sealed, the file digests
 * agree with the manifest but not with the records in the chain. */
static void test_swapped_checkpoints(void **unused)
{
	char b[FS_PATH_MAX];
	json_t *m;

	copy_honest(b, "swapped-ckpt");
	run(0, "cd %s/checkpoints && mv step_000004.ckpt t && mv step_000008.ckpt step_000004.ckpt && "
	       "mv t step_000008.ckpt", b);
	m = manifest(b);
	reseal(b, m, &g.k);
	json_decref(m);
	expect_rejected(b, "bundle.ckpt_digest");
}

/* The same exchange without re-sealing: the manifest's digests catch it. */
static void test_swapped_checkpoints_unsealed(void **unused)
{
	char b[FS_PATH_MAX];

	copy_honest(b, "swapped-ckpt-unsealed");
	run(0, "cd %s/checkpoints && mv step_000004.ckpt t && mv step_000008.ckpt step_000004.ckpt && "
	       "mv t step_000008.ckpt", b);
	expect_rejected(b, "bundle.file_digest");
}

/* Someone else's bundle with the miner field changed to the thief's key
 * and signed by it; the attestation (which binds the original manifest)
 * cannot be redone without the original machine, so it is left alone. A
 * thief who also re-attests makes a new submission of the same patch, which
 * the corpus credits to the earliest (test_expcorpus covers credit). */
static void test_resigned_by_another_key(void **unused)
{
	char b[FS_PATH_MAX], p[FS_PATH_MAX], hex[KEYS_SIG_HEX_BYTES + 1];
	uint8_t sig[KEYS_SIG_BYTES];
	json_t *m;
	char *text;

	copy_honest(b, "resigned");
	m = manifest(b);
	json_object_set_new(m, "miner", json_string(g.other.pk_hex));
	text = bundle_manifest_dump(m);
	assert_non_null(text);
	snprintf(p, sizeof p, "%s/%s", b, BUNDLE_MANIFEST);
	spit(p, text, strlen(text));
	assert_int_equal(keys_sign(&g.other, text, strlen(text), sig), 0);
	keys_hex_encode(sig, KEYS_SIG_BYTES, hex);
	hex[KEYS_SIG_HEX_BYTES - 1] = '\n';
	snprintf(p, sizeof p, "%s/%s", b, BUNDLE_SIG);
	spit(p, hex, KEYS_SIG_HEX_BYTES);
	free(text);
	json_decref(m);
	expect_rejected(b, "attest.binding");
}

/* A manifest that is no JSON object, one with a key given twice (two
 * readers could take different values from it: the signature would cover
 * both), and none at all: nothing to attribute, so nothing is recorded, and
 * the refusal names the manifest. */
static void test_manifest_unreadable(void **unused)
{
	static const struct {
		const char *name, *text; /* NULL: no manifest.json */
	} cases[] = {
		{ "manifest-array", "[]\n" },
		{ "manifest-twice", "{\"miner\":\"a\",\"miner\":\"b\"}\n" },
		{ "manifest-missing", NULL },
	};
	char b[FS_PATH_MAX], p[FS_PATH_MAX];
	int before;

	run(0, "%s corpus %s export --format jsonl | wc -l", tu_karpa(), g.state);
	before = atoi(g.out);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		copy_honest(b, cases[i].name);
		snprintf(p, sizeof p, "%s/%s", b, BUNDLE_MANIFEST);
		if (cases[i].text)
			spit(p, cases[i].text, strlen(cases[i].text));
		else
			assert_int_equal(unlink(p), 0);
		run(1, "%s judge %s %s --json --threads %d", tu_karpa(), g.state, b, THREADS);
		if (!strstr(g.out, "judge.unreadable") || !strstr(g.out, "manifest.json"))
			fail_msg("%s: expected judge.unreadable naming manifest.json:\n%s", cases[i].name, g.out);
	}
	run(0, "%s corpus %s export --format jsonl | wc -l", tu_karpa(), g.state);
	assert_int_equal(atoi(g.out), before);
}

/* ---- check 2: a manifest its miner signed that misdescribes the bundle -- */

/* The honest bundle with one manifest field set to v and re-sealed by its
 * own miner: signature, attestation and file digests all agree, so only
 * the check that owns the field can refuse it. obj names the field's
 * object (NULL: the top level); v is stolen. */
static void expect_field_rejected(const char *name, const char *obj, const char *key, json_t *v, const char *code)
{
	char b[FS_PATH_MAX];
	json_t *m;

	copy_honest(b, name);
	m = manifest(b);
	json_object_set_new(obj ? json_object_get(m, obj) : m, key, v);
	reseal(b, m, &g.k);
	json_decref(m);
	expect_rejected(b, code);
}

/* patch.diff is listed with its true digest, but patch_sha256 names
 * another patch (the empty one): the diff scanned would not be the diff
 * the manifest claims was trained. */
static void test_patch_digest_names_another_patch(void **unused)
{
	expect_field_rejected("patch-digest", NULL, "patch_sha256",
			      json_string("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
			      "judge.patch_digest");
}

/* A tiny proof that calls itself a cpu proof, to be weighed against
 * another scale's king and margin. */
static void test_manifest_claims_another_scale(void **unused)
{
	expect_field_rejected("other-scale", "config", "scale", json_string("cpu"), "judge.scale_mismatch");
}

/* A proof that names a data manifest other than the protocol's: it would
 * have trained on data the validator cannot replay. */
static void test_manifest_claims_other_data(void **unused)
{
	expect_field_rejected("other-data", "config", "data_manifest_sha256",
			      json_string("5f0b0c6b4d6e6f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192"),
			      "judge.data_mismatch");
}

/* A held checkpoint whose name is no checkpoint's: verification refuses it
 * before anything counts held and kept checkpoints to place the draws. */
static void test_held_name_is_no_checkpoint(void **unused)
{
	expect_field_rejected("held-name", NULL, "held",
			      json_pack("{s:{s:I, s:s}}", "notes.txt", "bytes", (json_int_t)12, "sha256",
					"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
			      "bundle.ckpt_selection");
}

static void expect_held_needs_refused(json_t *m, const char *code, const char *says)
{
	struct vstate s;
	char names[JUDGE_HELD_NEEDS_MAX][BUNDLE_NAME_MAX + 1];
	int n = -1;
	struct kerr err = { { 0 }, { 0 } };

	memset(&s, 0, sizeof s);
	assert_int_equal(judge_held_needs(&s, m, names, &n, &err), -1);
	assert_string_equal(err.code, code);
	if (!strstr(err.msg, says))
		fail_msg("%s: expected the message to say '%s'", err.msg, says);
	assert_int_equal(n, 0);
	json_decref(m);
}

/* The draw's own guards, for a manifest that reaches it unverified (both
 * callers verify first, so the bundle checks above see these first): each
 * list it cannot place the draws from is refused with judge.held_bad, and a
 * manifest without a final checkpoint has nothing to key the draw to. */
static void test_held_needs_guards(void **unused)
{
	static const char sha[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	json_t *held = json_object(), *files, *m;
	char name[64], key[HASH_HEX_BYTES];
	struct kerr err = { { 0 }, { 0 } };

	for (int i = 0; i <= BUNDLE_FILES_MAX; i++) {
		snprintf(name, sizeof name, "checkpoints/step_%06d.ckpt", 4 * (i + 1));
		json_object_set_new(held, name, json_pack("{s:I, s:s}", "bytes", (json_int_t)64, "sha256", sha));
	}
	expect_held_needs_refused(json_pack("{s:o}", "held", held), "judge.held_bad", "at most");
	expect_held_needs_refused(
		json_pack("{s:{s:{s:I, s:s}}}", "held", "checkpoints/step_000004.ckpt", "bytes", (json_int_t)64, "sha256", sha),
		"judge.held_bad", "lists no files");
	files = json_pack("{s:{s:I, s:s}}", BUNDLE_FINAL_CKPT, "bytes", (json_int_t)64, "sha256", sha);
	expect_held_needs_refused(json_pack("{s:o, s:{s:{s:I, s:s}}}", "files", files, "held", "notes.txt", "bytes",
					    (json_int_t)12, "sha256", sha),
				  "judge.held_bad", "notes.txt");
	m = json_pack("{s:{s:{s:I}}}", "files", BUNDLE_FINAL_CKPT, "bytes", (json_int_t)64);
	assert_int_equal(judge_draw_key(m, key, &err), -1);
	assert_string_equal(err.code, "judge.no_final");
	assert_string_equal(key, "");
	json_decref(m);
	m = json_pack("{s:{s:{s:I, s:s}}}", "files", BUNDLE_FINAL_CKPT, "bytes", (json_int_t)64, "sha256", sha);
	assert_int_equal(judge_draw_key(m, key, &err), 0);
	assert_string_equal(key, sha);
	json_decref(m);
}

/* The log with its checkpoint records removed and the chain recomputed:
 * a run that never checkpointed has nothing a replay could start from. */
static void test_log_without_checkpoints(void **unused)
{
	char b[FS_PATH_MAX];
	struct log l;
	json_t *m;
	int k = 0, dropped = 0;

	copy_honest(b, "no-ckpt-records");
	m = manifest(b);
	log_read(b, &l);
	for (int i = 0; i < l.n; i++) {
		if (!strcmp(event(l.rec[i]), "checkpoint")) {
			json_decref(l.rec[i]);
			dropped++;
			continue;
		}
		l.rec[k++] = l.rec[i];
	}
	l.n = k;
	assert_true(dropped >= 2);
	log_write(b, &l, m, 1);
	reseal(b, m, &g.k);
	json_decref(m);
	expect_rejected(b, "bundle.ckpt_chain");
}

/* ---- the validator's own trouble ------------------------------------- */

/* The validator's hidden folder broken (its manifest gone): the honest
 * bundle, re-sealed with another rationale so it is no replay, reaches the
 * hidden evaluation and gets no verdict (judge.hidden_data, saying what to
 * mend) rather than a rejection recorded against its miner. */
static void test_broken_hidden_folder_is_no_verdict(void **unused)
{
	char b[FS_PATH_MAX], p[FS_PATH_MAX], aside[FS_PATH_MAX];
	json_t *m;
	int before;

	copy_honest(b, "hidden-broken");
	snprintf(p, sizeof p, "%s/rationale.md", b);
	spit(p, "The same comment, sent again under another rationale.\n",
	     strlen("The same comment, sent again under another rationale.\n"));
	m = manifest(b);
	reseal(b, m, &g.k);
	json_decref(m);
	run(0, "%s corpus %s export --format jsonl | wc -l", tu_karpa(), g.state);
	before = atoi(g.out);
	snprintf(p, sizeof p, "%s/%s", g.hidden, DATASET_MANIFEST);
	snprintf(aside, sizeof aside, "%s.aside", p);
	assert_int_equal(rename(p, aside), 0);
	run(1, "%s judge %s %s --json --threads %d", tu_karpa(), g.state, b, THREADS);
	assert_int_equal(rename(aside, p), 0);
	if (!strstr(g.out, "judge.hidden_data") || !strstr(g.out, "no verdict") || !strstr(g.out, "mend it"))
		fail_msg("expected no verdict with judge.hidden_data:\n%s", g.out);
	run(0, "%s corpus %s export --format jsonl | wc -l", tu_karpa(), g.state);
	assert_int_equal(atoi(g.out), before);
}

/* ---- check 3: log plausibility --------------------------------------- */

/* Only the manifest's claim improved: the log's eval record disagrees. */
static void test_claim_edited_in_manifest(void **unused)
{
	char b[FS_PATH_MAX];
	json_t *m, *res;

	copy_honest(b, "claim-manifest");
	m = manifest(b);
	res = json_object_get(m, "results");
	json_object_set_new(res, "val_bpb", json_real(json_number_value(json_object_get(res, "val_bpb")) - 0.5));
	reseal(b, m, &g.k);
	json_decref(m);
	expect_rejected(b, "judge.log_claim");
}

/* An honest CPU proof whose manifest, re-sealed by its miner, says it ran
 * on a GPU: its calibration is still the CPU's SGEMM, and a GPU proof is
 * judged against the GPU calibration, so check 3 refuses it
 * (judge.calibration) before any replay is tried. */
static void test_gpu_proof_on_a_cpu_judge(void **unused)
{
	char b[FS_PATH_MAX];
	json_t *m;

	copy_honest(b, "gpu-device");
	m = manifest(b);
	json_object_set_new(json_object_get(m, "environment"), "device",
			    json_pack("{s:s, s:s, s:s, s:i, s:s}", "kind", "cuda", "gpu", "NVIDIA H100 80GB HBM3",
				      "driver", "580.159.04", "gpus", 1, "nvcc", "release 13.0, V13.0.88"));
	reseal(b, m, &g.k);
	json_decref(m);
	expect_rejected(b, "judge.calibration");
}

/* One measurement of the GPU calibration as its program prints it. */
static json_t *gpu_calibration(double median_ms)
{
	return json_pack("{s:i, s:i, s:f, s:f, s:f, s:f, s:s}", "n", CALIB_GPU_N, "repeats", CALIB_GPU_REPEATS,
			 "median_ms", median_ms, "min_ms", median_ms * 0.99, "max_ms", median_ms * 1.02, "tflops",
			 2.0 * CALIB_GPU_N * CALIB_GPU_N * (double)CALIB_GPU_N / (median_ms * 1e9), "gpu",
			 "NVIDIA H100 80GB HBM3");
}

/* The same proof as `karpa prove --device cuda` records one: the device
 * and the GPU calibration, sealed by its miner. Check 3 measures it
 * against the reference GPU and lets it through; check 4 then needs a GPU
 * of its model to replay it on and never replays it on the CPU:
 * device.no_gpu here, device.gpu_model beside another model. */
static void test_gpu_proof_goes_to_its_gpu(void **unused)
{
	char b[FS_PATH_MAX], path[FS_PATH_MAX];
	struct gpuinfo here;
	struct kerr err;
	json_t *m, *cal, *res, *mc;
	double train_s;

	copy_honest(b, "gpu-calibrated");
	m = manifest(b);
	res = json_object_get(m, "results");
	mc = json_object_get(m, "calibration");
	train_s = json_number_value(json_object_get(res, "train_s"));
	json_object_set_new(json_object_get(m, "environment"), "device",
			    json_pack("{s:s, s:s, s:s, s:i, s:s}", "kind", "cuda", "gpu", "NVIDIA H100 80GB HBM3",
				      "driver", "580.159.04", "gpus", 1, "nvcc", "release 13.0, V13.0.88"));
	json_object_set_new(mc, "before_ms", json_real(1.40));
	json_object_set_new(mc, "after_ms", json_real(1.41));
	json_object_set_new(mc, "ref_ms", json_real(CALIB_GPU_REF_MS));
	cal = json_pack("{s:s, s:s, s:o, s:o, s:f, s:f, s:f, s:f}", "device", "cuda", "gpu", "NVIDIA H100 80GB HBM3",
			"before", gpu_calibration(1.40), "after", gpu_calibration(1.41), "ref_ms", CALIB_GPU_REF_MS,
			"budget_units", json_number_value(json_object_get(json_object_get(m, "config"), "budget_units")),
			"allowed_s", json_number_value(json_object_get(mc, "allowed_s")), "train_s", train_s);
	snprintf(path, sizeof path, "%s/calibration.json", b);
	assert_int_equal(json_dump_file(cal, path, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(17)), 0);
	json_decref(cal);
	reseal(b, m, &g.k);
	json_decref(m);
	assert_int_equal(gpuinfo_read(NULL, &here, &err), 0);
	if (here.count && !strcmp(here.model, "NVIDIA H100 80GB HBM3"))
		skip(); /* this machine would replay it: tests/gpu's business */
	expect_rejected(b, here.count == 0 ? "device.no_gpu" : "device.gpu_model");
}

/* Wall times stretched past the calibrated budget (results.train_s moved
 * with them, so only the budget rule can object). */
static void test_over_budget(void **unused)
{
	char b[FS_PATH_MAX];
	struct log l;
	json_t *m;
	double last = 0;

	copy_honest(b, "over-budget");
	m = manifest(b);
	log_read(b, &l);
	for (int i = 0; i < l.n; i++)
		if (!strcmp(event(l.rec[i]), "step")) {
			json_int_t s = json_integer_value(json_object_get(l.rec[i], "step"));
			last = 30000.0 * (double)(s + 1); /* 30 s a step: 900 s for 30 steps */
			json_object_set_new(l.rec[i], "wall_ms", json_real(last));
		}
	log_write(b, &l, m, 1);
	json_object_set_new(json_object_get(m, "results"), "train_s", json_real(last / 1e3 + 0.5));
	reseal(b, m, &g.k);
	json_decref(m);
	expect_rejected(b, "judge.over_budget");
}

/* PROTOCOL 4 through the judge: the honest bundle is mock (alpha 0.5), so
 * a run that takes three quarters of what the budget gives at its
 * calibration, within the verified tier's whole and over the unverified
 * tier's half, is refused, and the reason says why. The calibration's
 * medians are the bundle's own; the wall times are stretched evenly and
 * results.train_s moved with them. */
static void test_unverified_counts_double(void **unused)
{
	char b[FS_PATH_MAX];
	struct log l;
	json_t *m, *mc, *j;
	double allowed, per_step, last = 0;
	int steps = 0;

	copy_honest(b, "counts-double");
	m = manifest(b);
	mc = json_object_get(m, "calibration");
	allowed = json_number_value(json_object_get(json_object_get(m, "config"), "budget_units")) *
		  fmax(json_number_value(json_object_get(mc, "before_ms")),
		       json_number_value(json_object_get(mc, "after_ms"))) /
		  CALIB_REF_MS;
	log_read(b, &l);
	for (int i = 0; i < l.n; i++)
		steps += !strcmp(event(l.rec[i]), "step");
	per_step = 0.75 * allowed * 1e3 / steps;
	for (int i = 0; i < l.n; i++)
		if (!strcmp(event(l.rec[i]), "step")) {
			last = per_step * (double)(json_integer_value(json_object_get(l.rec[i], "step")) + 1);
			json_object_set_new(l.rec[i], "wall_ms", json_real(last));
		}
	log_write(b, &l, m, 1);
	json_object_set_new(json_object_get(m, "results"), "train_s", json_real(last / 1e3 + 0.01));
	reseal(b, m, &g.k);
	json_decref(m);
	j = judge(b);
	if (strcmp(jstr(j, "code"), "judge.over_budget") || !strstr(jstr(j, "reason"), "alpha 0.5"))
		fail_msg("%s: expected judge.over_budget at alpha 0.5, got %s %s: %s", b, jstr(j, "verdict"),
			 jstr(j, "code"), jstr(j, "reason"));
	json_decref(j);
}

/* Wall times divided by 1000: steps faster than the calibrated hardware. */
static void test_faster_than_hardware(void **unused)
{
	char b[FS_PATH_MAX];
	struct log l;
	json_t *m;

	copy_honest(b, "too-fast");
	m = manifest(b);
	log_read(b, &l);
	for (int i = 0; i < l.n; i++)
		if (!strcmp(event(l.rec[i]), "step")) {
			double w = json_number_value(json_object_get(l.rec[i], "wall_ms"));
			json_object_set_new(l.rec[i], "wall_ms", json_real(w / 1000.0));
		}
	log_write(b, &l, m, 1);
	reseal(b, m, &g.k);
	json_decref(m);
	expect_rejected(b, "judge.log_too_fast");
}

/* ---- check 4: the validator's own evaluation ------------------------- */

/* The miner's harness lied: the log's eval record and the manifest agree
 * on a better val_bpb, the chain is recomputed, the bundle re-sealed. Only
 * the validator's recomputation from the final checkpoint can tell. */
static void test_claim_better_than_recomputed(void **unused)
{
	char b[FS_PATH_MAX];
	struct log l;
	json_t *m, *res, *j;
	double bpb = NAN;

	copy_honest(b, "claim-lie");
	m = manifest(b);
	log_read(b, &l);
	for (int i = 0; i < l.n; i++)
		if (!strcmp(event(l.rec[i]), "eval")) {
			bpb = json_number_value(json_object_get(l.rec[i], "val_bpb")) - 0.25;
			json_object_set_new(l.rec[i], "val_bpb", json_real(bpb));
		}
	assert_true(isfinite(bpb));
	log_write(b, &l, m, 1);
	res = json_object_get(m, "results");
	json_object_set_new(res, "val_bpb", json_real(bpb));
	reseal(b, m, &g.k);
	json_decref(m);
	j = judge(b);
	assert_string_equal(jstr(j, "verdict"), "rejected");
	assert_string_equal(jstr(j, "code"), "judge.claim_mismatch");
	assert_true(jnum(j, "public_bpb") - bpb > 0.2);
	json_decref(j);
}

/* Logits that see the next token: position t's logit for the token at t+1
 * is raised. Only kr_logits cheats (training is the king's), so the proof
 * is real, the diff scan has nothing to object to, the claim matches the
 * validator's recomputation (the same cheat runs there), and only the
 * causality audit can catch it. */
static void test_logits_peek_at_future(void **unused)
{
	char b[FS_PATH_MAX], patch[FS_PATH_MAX], p[FS_PATH_MAX], why[FS_PATH_MAX];
	json_t *j;

	begin_patch("recipe-v0.1.0");
	clone_path(p, "recipe.c");
	insert_after(p, "gpt_forward(g, g->inputs, n, T, logits + (size_t)r0 * T * c->V);\n",
		     "\t\t/* A sharper output layer. */\n"
		     "\t\tfor (int i = 0; i < n; i++)\n"
		     "\t\t\tfor (int t = 0; t + 1 < T; t++)\n"
		     "\t\t\t\tlogits[((size_t)(r0 + i) * T + t) * c->V + tokens[(size_t)(r0 + i) * T + t + 1]] += 2.0f;\n");
	fx_file(patch, "peek.diff");
	end_patch(patch);
	fx_file(why, "peek.md");
	spit(why, "Sharper output layer.\n", strlen("Sharper output layer.\n"));
	fx_file(b, "peek");
	prove(patch, why, b);
	j = judge(b);
	assert_string_equal(jstr(j, "verdict"), "rejected");
	assert_string_equal(jstr(j, "code"), "judge.causality");
	/* It got as far as the audit, in the hidden evaluation (which comes
	 * before the public recomputation): the cheat makes it look better,
	 * so the sequential test never stopped it before the drawn calls. */
	{
		json_t *cks = json_object_get(j, "checks"), *last = json_array_get(cks, json_array_size(cks) - 1);
		assert_string_equal(json_string_value(json_object_get(last, "name")), "hidden_eval");
		assert_string_equal(json_string_value(json_object_get(last, "outcome")), "fail");
	}
	json_decref(j);
}

/* A recipe that asks to checkpoint only at the end still gets the
 * harness's checkpoints: at most ceil(steps / 8) steps apart, all kept. */
static void test_final_only_checkpointing_is_overridden(void **unused)
{
	char b[FS_PATH_MAX], p[FS_PATH_MAX];
	json_t *j;

	prove_config_edit("\tc->ckpt_every = row->ckpt_every;\n", "\tc->ckpt_every = 0;\n", "nockpt",
			  "Save disk: checkpoint only at the end.\n", b);
	snprintf(p, sizeof p, "%s/checkpoints/step_%06lld.ckpt", b, (long long)train_ckpt_gap_max(30));
	assert_true(fs_exists(p));
	j = judge(b);
	assert_string_not_equal(jstr(j, "verdict"), "rejected");
	json_decref(j);
}

/* A log whose checkpoints are further apart than the harness writes them:
 * every intermediate record but the last dropped, the chain recomputed,
 * the files and the manifest's keep list made to agree, re-sealed. */
static void test_checkpoint_gap_too_wide(void **unused)
{
	char b[FS_PATH_MAX];
	struct log l;
	json_t *m, *keep = json_array(), *files;
	int w = 0, nrec = 0, last = -1;

	copy_honest(b, "ckpt-gap");
	m = manifest(b);
	files = json_object_get(m, "files");
	log_read(b, &l);
	for (int i = 0; i < l.n; i++)
		if (!strcmp(event(l.rec[i]), "checkpoint") && strcmp(jstr(l.rec[i], "file"), "final.ckpt"))
			last = i;
	for (int i = 0; i < l.n; i++) {
		if (!strcmp(event(l.rec[i]), "checkpoint") && strcmp(jstr(l.rec[i], "file"), "final.ckpt") && i != last) {
			run(0, "rm %s/%s", b, jstr(l.rec[i], "file"));
			json_object_del(files, jstr(l.rec[i], "file"));
			json_decref(l.rec[i]);
			continue;
		}
		if (i == last)
			json_array_append_new(keep, json_integer(nrec++));
		l.rec[w++] = l.rec[i];
	}
	l.n = w;
	json_object_set_new(m, "keep", keep);
	log_write(b, &l, m, 1);
	reseal(b, m, &g.k);
	json_decref(m);
	expect_rejected(b, "judge.ckpt_gap");
}

/* A copy of the validator state whose king scores far worse than it does,
 * so that every candidate is decisive and gets the binding replay. */
static void decisive_state(char *out)
{
	sqlite3 *db;
	char p[FS_PATH_MAX];

	fx_file(out, "state-decisive");
	run(0, "rm -rf %s && cp -r %s %s", out, g.state, out);
	snprintf(p, sizeof p, "%s/state.db", out);
	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE kings SET hidden_bpb = hidden_bpb + 10", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static json_t *judge_in(const char *state, const char *bundle)
{
	run(0, "%s judge %s %s --json --threads %d", tu_karpa(), state, bundle, THREADS);
	return out_json();
}

/* The final model trained elsewhere (another run: seed 2 of the king),
 * re-wrapped with this run's header so every header check passes, its
 * digest and public score written into the log and the manifest, re-signed.
 * The public claim recomputes, the hidden score is decisive; the binding
 * replay of the final segment does not arrive at it. The honest bundle,
 * judged in the same state, passes the binding replay. */
static void test_final_model_from_elsewhere(void **unused)
{
	char st[FS_PATH_MAX], b[FS_PATH_MAX], other[FS_PATH_MAX], p[FS_PATH_MAX], sha[HASH_HEX_BYTES];
	char honest[FS_PATH_MAX];
	struct ckpt_meta m_mine, m_other;
	void *state, *mine;
	size_t n, n2;
	struct kerr err;
	struct log l;
	json_t *m, *j, *ev;
	double bpb, loss;

	decisive_state(st);
	/* A bundle of its own: copies of the fixture's honest bundle may have
	 * been judged already. */
	prove_config_edit("/* tiny: seconds under sanitizers.", " (Binding test.)", "binding-honest",
			  "A comment for the binding test.\n", honest);
	j = judge_in(st, honest);
	assert_string_equal(jstr(j, "verdict"), "challenge_pending");
	assert_string_equal(jstr(json_object_get(j, "replay"), "mode"), "binding");
	json_decref(j);

	fx_file(other, "elsewhere-run");
	run(0, "%s train --scale tiny --data %s --seed 2 --threads %d --out %s", tu_karpa(), g.data, THREADS, other);
	fx_file(b, "final-elsewhere");
	run(0, "cp -r %s %s", honest, b);
	snprintf(p, sizeof p, "%s/checkpoints/final.ckpt", b);
	assert_int_equal(ckpt_read(p, &m_mine, &mine, &n2, NULL, &err), 0);
	free(mine);
	snprintf(p, sizeof p, "%s/final.ckpt", other);
	assert_int_equal(ckpt_read(p, &m_other, &state, &n, NULL, &err), 0);
	snprintf(p, sizeof p, "%s/checkpoints/final.ckpt", b);
	unlink(p);
	assert_int_equal(ckpt_write(p, &m_mine, state, n, sha, &err), 0);
	free(state);
	run(0, "%s eval --ckpt %s --data %s --split val --threads %d --json", tu_karpa(), p, g.data, THREADS);
	ev = out_json();
	bpb = jnum(ev, "val_bpb");
	loss = jnum(ev, "loss");
	json_decref(ev);
	m = manifest(b);
	log_read(b, &l);
	for (int i = 0; i < l.n; i++) {
		if (!strcmp(event(l.rec[i]), "checkpoint") && !strcmp(jstr(l.rec[i], "file"), "final.ckpt"))
			json_object_set_new(l.rec[i], "sha256", json_string(sha));
		if (!strcmp(event(l.rec[i]), "eval")) {
			json_object_set_new(l.rec[i], "val_bpb", json_real(bpb));
			json_object_set_new(l.rec[i], "loss", json_real(loss));
		}
	}
	log_write(b, &l, m, 1);
	json_object_set_new(json_object_get(m, "results"), "val_bpb", json_real(bpb));
	json_object_set_new(json_object_get(m, "results"), "val_loss", json_real(loss));
	reseal(b, m, &g.k);
	json_decref(m);
	j = judge_in(st, b);
	print_message("   %s: %s\n", jstr(j, "code"), jstr(j, "reason"));
	if (strcmp(jstr(j, "verdict"), "rejected") || strcmp(jstr(j, "code"), "judge.replay_digest"))
		fail_msg("expected rejected judge.replay_digest, got %s %s: %s", jstr(j, "verdict"), jstr(j, "code"),
			 jstr(j, "reason"));
	json_decref(j);
}

/* A run tuned to the public split: kr_logits carries a table of the public
 * val split's 16-token contexts and raises the logit of the token that
 * followed each, looking only at past tokens (causal, so the audit passes).
 * Its public val_bpb is far better than the king's; the hidden split shares
 * almost none of those contexts, so its hidden score is the king's. The
 * verdict is decided on the hidden split only, so it must not be accepted:
 * not_decisive is the right verdict (the proof is genuine, nothing in it
 * is forged; it just does not generalise, and the hidden split is what
 * says so). With 6-token contexts (about 9 characters) the table is a real
 * n-gram cache: it improved the hidden split by 0.02 bpb, more than the
 * margin, and was rightly found decisive; 16 tokens (about 24 characters)
 * is memorisation. */
#define MEMO_CTX 16
#define MEMO_POSITIONS 9000 /* keeps the patch near 110 KB, under the 256 KiB limit */
#define MEMO_TOKEN_BITS 9   /* V = 320 < 512 */

static uint32_t memo_hash(const uint16_t *ctx)
{
	uint32_t h = 2166136261u;

	for (int i = 0; i < MEMO_CTX; i++)
		h = (h ^ ctx[i]) * 16777619u;
	return h >> MEMO_TOKEN_BITS;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void write_memo_header(const char *path)
{
	struct dataset d;
	struct kerr err;
	const uint16_t *tok = NULL;
	size_t n, m = 0, at = 0;
	uint32_t *tab;
	char *text;

	assert_int_equal(dataset_open(g.data, &d, &err), 0);
	assert_int_equal(dataset_tokens(&d, SPLIT_VAL, &tok, &n, &err), 0);
	assert_true(n > MEMO_POSITIONS + MEMO_CTX);
	tab = calloc(MEMO_POSITIONS, sizeof *tab);
	assert_non_null(tab);
	for (size_t t = MEMO_CTX - 1; t < MEMO_POSITIONS; t++) {
		assert_true(tok[t + 1] < (1u << MEMO_TOKEN_BITS));
		tab[m++] = memo_hash(tok + t + 1 - MEMO_CTX) << MEMO_TOKEN_BITS | tok[t + 1];
	}
	qsort(tab, m, sizeof *tab, cmp_u32);
	text = malloc(m * 16 + 4096);
	assert_non_null(text);
	at += (size_t)sprintf(text + at,
			      "/* memo.h: output calibration table. */\n"
			      "#include <stddef.h>\n#include <stdint.h>\n\n"
			      "static const uint32_t memo_tab[%zu] = {\n", m);
	for (size_t i = 0; i < m; i++)
		at += (size_t)sprintf(text + at, "%s0x%08x,%s", i % 8 ? " " : "\t", tab[i], i % 8 == 7 ? "\n" : "");
	at += (size_t)sprintf(text + at,
			      "\n};\n\n"
			      "static void memo_boost(const uint16_t *tok, int rows, int T, int V, float *logits)\n"
			      "{\n"
			      "\tfor (int r = 0; r < rows; r++)\n"
			      "\t\tfor (int t = %d; t < T; t++) {\n"
			      "\t\t\tconst uint16_t *c = tok + (size_t)r * T + t + 1 - %d;\n"
			      "\t\t\tuint32_t h = 2166136261u;\n"
			      "\t\t\tsize_t lo = 0, hi = %zu;\n"
			      "\t\t\tfor (int i = 0; i < %d; i++)\n"
			      "\t\t\t\th = (h ^ c[i]) * 16777619u;\n"
			      "\t\t\th >>= %d;\n"
			      "\t\t\twhile (lo < hi) {\n"
			      "\t\t\t\tsize_t mid = lo + (hi - lo) / 2;\n"
			      "\t\t\t\tif ((memo_tab[mid] >> %d) < h)\n"
			      "\t\t\t\t\tlo = mid + 1;\n"
			      "\t\t\t\telse\n"
			      "\t\t\t\t\thi = mid;\n"
			      "\t\t\t}\n"
			      "\t\t\tif (lo < %zu && (memo_tab[lo] >> %d) == h && (int)(memo_tab[lo] & %uu) < V)\n"
			      "\t\t\t\tlogits[((size_t)r * T + t) * V + (memo_tab[lo] & %uu)] += 6.0f;\n"
			      "\t\t}\n"
			      "}\n",
			      MEMO_CTX - 1, MEMO_CTX, m, MEMO_CTX, MEMO_TOKEN_BITS, MEMO_TOKEN_BITS, m, MEMO_TOKEN_BITS,
			      (1u << MEMO_TOKEN_BITS) - 1, (1u << MEMO_TOKEN_BITS) - 1);
	spit(path, text, at);
	free(text);
	free(tab);
	dataset_close(&d);
}

static void test_public_split_overfit_not_accepted(void **unused)
{
	char b[FS_PATH_MAX], patch[FS_PATH_MAX], p[FS_PATH_MAX], why[FS_PATH_MAX];
	json_t *j;

	begin_patch("recipe-v0.1.0");
	clone_path(p, "memo.h");
	write_memo_header(p);
	clone_path(p, "recipe.c");
	insert_after(p, "#include \"sandbox/recipe_api.h\"\n", "#include \"memo.h\"\n");
	insert_after(p, "gpt_forward(g, g->inputs, n, T, logits + (size_t)r0 * T * c->V);\n",
		     "\t\tmemo_boost(tokens + (size_t)r0 * T, n, T, c->V, logits + (size_t)r0 * T * c->V);\n");
	fx_file(patch, "memo.diff");
	end_patch(patch);
	fx_file(why, "memo.md");
	spit(why, "Calibrate the output layer with a context table.\n", strlen("Calibrate the output layer with a context table.\n"));
	fx_file(b, "memo");
	prove(patch, why, b);
	j = judge(b);
	print_message("   overfit: public %.4f, hidden %.4f, king hidden %.4f, margin %.4f\n", jnum(j, "public_bpb"),
		      jnum(j, "hidden_bpb"), jnum(j, "king_bpb"), jnum(j, "margin"));
	assert_string_equal(jstr(j, "verdict"), "not_decisive");
	assert_string_equal(jstr(j, "code"), "judge.not_decisive");
	/* The public score is far better than the king's hidden one (by 0.22
	 * to 1.13 bpb in eight runs: the public check scores a share of the
	 * split drawn from the state's fresh secret, and the memo covers some
	 * windows more than others) ... */
	assert_true(jnum(j, "king_bpb") - jnum(j, "public_bpb") > 0.1);
	/* ... and the hidden one is not better by the margin. */
	assert_false(jnum(j, "king_bpb") - jnum(j, "hidden_bpb") > jnum(j, "margin"));
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_patch_touching_harness),
		cmocka_unit_test(test_socket_call),
		cmocka_unit_test(test_macro_hiding_a_call),
		cmocka_unit_test(test_cuda_part_host_assembly),
		cmocka_unit_test(test_cuda_part_at_a_cpu_scale),
		cmocka_unit_test(test_recipe_reading_data_files),
		cmocka_unit_test(test_stale_base),
		cmocka_unit_test(test_patch_too_big),
		cmocka_unit_test(test_fifo_patch),
		cmocka_unit_test(test_fifo_manifest),
		cmocka_unit_test(test_manifest_unreadable),
		cmocka_unit_test(test_bundle_changed_after_intake),
		cmocka_unit_test(test_spinning_logits_hit_the_deadline),
		cmocka_unit_test(test_hidden_tokens_in_an_error_are_withheld),
		cmocka_unit_test(test_nonfinite_window_is_withheld),
		cmocka_unit_test(test_forged_loss),
		cmocka_unit_test(test_reordered_log),
		cmocka_unit_test(test_reordered_log_rechained),
		cmocka_unit_test(test_swapped_checkpoints),
		cmocka_unit_test(test_swapped_checkpoints_unsealed),
		cmocka_unit_test(test_resigned_by_another_key),
		cmocka_unit_test(test_unsigned_refusal_is_no_ones),
		cmocka_unit_test(test_patch_digest_names_another_patch),
		cmocka_unit_test(test_manifest_claims_another_scale),
		cmocka_unit_test(test_manifest_claims_other_data),
		cmocka_unit_test(test_held_name_is_no_checkpoint),
		cmocka_unit_test(test_held_needs_guards),
		cmocka_unit_test(test_broken_hidden_folder_is_no_verdict),
		cmocka_unit_test(test_log_without_checkpoints),
		cmocka_unit_test(test_claim_edited_in_manifest),
		cmocka_unit_test(test_gpu_proof_on_a_cpu_judge),
		cmocka_unit_test(test_gpu_proof_goes_to_its_gpu),
		cmocka_unit_test(test_over_budget), cmocka_unit_test(test_unverified_counts_double),
		cmocka_unit_test(test_faster_than_hardware),
		cmocka_unit_test(test_claim_better_than_recomputed),
		cmocka_unit_test(test_logits_peek_at_future),
		cmocka_unit_test(test_final_only_checkpointing_is_overridden),
		cmocka_unit_test(test_checkpoint_gap_too_wide),
		cmocka_unit_test(test_final_model_from_elsewhere),
		cmocka_unit_test(test_public_split_overfit_not_accepted),
	};

	return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
