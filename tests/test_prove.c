/* test_prove.c: `karpa prove` end to end through the release CLI at the tiny
 * scale: a real patch (the tiny learning rate) proves into a bundle that
 * verifies as a directory and as a tar; the same inputs prove to the same
 * run; and every refusal exits 1 with its reason code on one line and leaves
 * no bundle, work folder or staging folder behind. One fixture (data folder,
 * recipe repository, key, patch, rationale) is built once for the group
 * because a proof costs seconds. */
#include "testutil.h"

#include "harness/calibrate.h"
#include "harness/gpuinfo.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <sys/resource.h>
#include <sys/stat.h>

/* A generated folder instead of the Brown Corpus: its val split is a few
 * thousand tokens, so the evaluation inside each proof takes well under a
 * second instead of tens of seconds, and no cached download is needed. */
#define NDOCS 80
#define SENTENCES 24
#define OUT_MAX 65536
#define LOG_RECORDS_MAX 512

struct fixture {
	char *root;
	char repo[FS_PATH_MAX], data[FS_PATH_MAX], key[FS_PATH_MAX];
	char patch[FS_PATH_MAX], rationale[FS_PATH_MAX];
	char bundle1[FS_PATH_MAX];
	double lr_old, lr_new;
	long long ckpt_bytes, tar_bytes; /* measured by the first proof */
};

static struct fixture F;

/* ---- helpers ------------------------------------------------------------ */

static const char *words[] = {
	"the", "of", "and", "to", "a", "in", "that", "is", "was", "he", "for", "it", "with", "as",
	"his", "on", "be", "at", "by", "had", "this", "not", "but", "from", "or", "have", "an",
	"they", "which", "one", "you", "were", "her", "all", "she", "there", "would", "their",
	"we", "him", "been", "has", "when", "who", "will", "more", "no", "if", "out", "so", "said",
	"what", "up", "its", "about", "into", "than", "them", "can", "only", "other", "new",
};

static void write_doc(const char *dir, int k)
{
	char path[FS_PATH_MAX];
	uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)(k + 1);
	FILE *f;

	snprintf(path, sizeof path, "%s/doc%03d.txt", dir, k);
	assert_non_null(f = fopen(path, "w"));
	for (int s = 0; s < SENTENCES; s++) {
		int n = 6 + (int)(x % 9);
		for (int w = 0; w < n; w++) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			const char *word = words[(x >> 33) % (sizeof words / sizeof words[0])];
			if (w == 0)
				fprintf(f, "%c%s", word[0] - 32, word + 1);
			else
				fprintf(f, " %s", word);
		}
		fputs(s % 8 == 7 ? ".\n\n" : ". ", f);
	}
	fclose(f);
}

static char *slurp(const char *path)
{
	char *buf = NULL;
	size_t len;
	struct kerr err = { 0 };

	if (fs_read_all(path, 16u << 20, &buf, &len, &err) < 0)
		fail_msg("%s: %s", path, err.msg);
	return buf;
}

static void put(const char *path, const char *text)
{
	struct kerr err = { 0 };

	if (fs_write_atomic(path, text, strlen(text), &err) < 0)
		fail_msg("%s: %s", path, err.msg);
}

struct run {
	int status;              /* exit code, -1 on a signal */
	char out[OUT_MAX];       /* stdout */
	char err[OUT_MAX];       /* stderr */
};

/* Runs a shell command with stdout and stderr kept apart (in files under the
 * fixture root) and, when fsize_bytes > 0, RLIMIT_FSIZE set in the child:
 * set directly rather than with the shell's `ulimit -f`, whose unit differs
 * between shells (512 bytes in dash and POSIX sh, 1024 in bash). */
static void run_limited(struct run *r, long long fsize_bytes, const char *fmt, ...)
{
	char cmd[8192], full[9000], po[FS_PATH_MAX], pe[FS_PATH_MAX], *t;
	va_list ap;
	pid_t pid;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	snprintf(po, sizeof po, "%s/run.out", F.root);
	snprintf(pe, sizeof pe, "%s/run.err", F.root);
	snprintf(full, sizeof full, "%s >'%s' 2>'%s'", cmd, po, pe);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (fsize_bytes > 0) {
			struct rlimit rl = { (rlim_t)fsize_bytes, (rlim_t)fsize_bytes };
			if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
				_exit(127);
		}
		execl("/bin/sh", "sh", "-c", full, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		assert_int_equal(errno, EINTR);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	t = slurp(po);
	snprintf(r->out, sizeof r->out, "%s", t);
	free(t);
	t = slurp(pe);
	snprintf(r->err, sizeof r->err, "%s", t);
	free(t);
}

#define run(r, ...) run_limited(r, 0, __VA_ARGS__)

/* The common arguments of a proof from the fixture, up to --out. Proofs
 * whose result is not compared run on one thread: the cheapest setting on
 * a loaded two-core machine, and results do not depend on it. */
#define PROVE_FMT "%s prove --recipe '%s' --king recipe-v0.1.0 --data '%s' --scale tiny --mock-attestation"
#define PROVE_ARGS tu_karpa(), F.repo, F.data

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* The names in dir, space-separated, for messages; returns the count. */
static int list_dir(const char *dir, char *names, size_t cap)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	names[0] = '\0';
	assert_non_null(d);
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		strncat(names, " ", cap - strlen(names) - 1);
		strncat(names, e->d_name, cap - strlen(names) - 1);
		n++;
	}
	closedir(d);
	return n;
}

/* A fresh empty folder under the fixture root for one failing case. */
static void case_dir(char *out, const char *name)
{
	struct kerr err = { 0 };

	snprintf(out, FS_PATH_MAX, "%s/%s", F.root, name);
	fs_rm_rf(out);
	assert_int_equal(fs_mkdir_p(out, &err), 0);
}

/* A refusal: exit 1, nothing on stdout, exactly one line on stderr, "karpa: <code>: <message>" naming `mention`,
 * and the case folder holds exactly `expect_left` entries (what the case put
 * there itself). */
static void expect_refusal(const struct run *r, const char *code, const char *mention, const char *dir,
			   int expect_left)
{
	char want[128], names[4096];

	if (r->status != 1)
		fail_msg("exit %d, want 1 (%s); stderr: %s", r->status, code, r->err);
	assert_string_equal(r->out, "");
	if (count_lines(r->err) != 1)
		fail_msg("want one line on stderr, got: %s", r->err);
	snprintf(want, sizeof want, "karpa: %s: ", code);
	if (strncmp(r->err, want, strlen(want)))
		fail_msg("want '%s...', got: %s", want, r->err);
	if (mention && !strstr(r->err, mention))
		fail_msg("the message does not name '%s': %s", mention, r->err);
	if (list_dir(dir, names, sizeof names) != expect_left)
		fail_msg("%s: want %d entries after a refusal, found:%s", dir, expect_left, names);
}

static double num(const json_t *j, const char *k)
{
	const json_t *v = json_object_get(j, k);

	if (!json_is_number(v))
		fail_msg("'%s' is not a number", k);
	return json_number_value(v);
}

static long long file_bytes(const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	return (long long)sb.st_size;
}

/* ---- fixture ------------------------------------------------------------ */

/* Rewrites the tiny row's learning rate (its last field) in a clone of the
 * recipe repository, read from the repository itself, and saves `git diff`. */
static void make_lr_patch(void)
{
	char clone[FS_PATH_MAX], cfg[FS_PATH_MAX], *text, *row, *end, *lr, *after, *patched;
	size_t cap;

	snprintf(clone, sizeof clone, "%s/clone", F.root);
	assert_int_equal(tu_run(NULL, 0, "git clone -q '%s' '%s'", F.repo, clone), 0);
	snprintf(cfg, sizeof cfg, "%s/config.c", clone);
	text = slurp(cfg);
	assert_non_null(row = strstr(text, "{ \"tiny\","));
	assert_non_null(end = strchr(row, '}'));
	for (lr = end; lr > row && lr[-1] != ','; lr--)
		;
	assert_true(lr > row);
	F.lr_old = strtod(lr, &after);
	assert_true(after > lr && after < end);
	assert_true(F.lr_old > 0 && F.lr_old < 1); /* it is the learning rate, not a shape */
	F.lr_new = F.lr_old * 0.5;
	cap = strlen(text) + 64;
	assert_non_null(patched = malloc(cap));
	snprintf(patched, cap, "%.*s %.6gf%s", (int)(lr - text), text, F.lr_new,
		 after + strspn(after, "fF"));
	put(cfg, patched);
	free(patched);
	free(text);
	/* Explicit prefixes and no color: a user's git config must not change the patch. */
	assert_int_equal(tu_run(NULL, 0, "git -C '%s' diff --no-color --no-ext-diff --src-prefix=a/ --dst-prefix=b/ > '%s'",
				clone, F.patch),
			 0);
	text = slurp(F.patch);
	assert_non_null(strstr(text, "+++ b/config.c"));
	free(text);
}

static int group_setup(void **state)
{
	char txt[FS_PATH_MAX], from[FS_PATH_MAX + 16] = "";
	const char *src = getenv("KARPA_SRC");
	struct kerr err = { 0 };

	(void)state;
	F.root = tu_mkdtemp();
	snprintf(txt, sizeof txt, "%s/text", F.root);
	snprintf(F.repo, sizeof F.repo, "%s/repo", F.root);
	snprintf(F.data, sizeof F.data, "%s/data", F.root);
	snprintf(F.key, sizeof F.key, "%s/miner.key", F.root);
	snprintf(F.patch, sizeof F.patch, "%s/lr.diff", F.root);
	snprintf(F.rationale, sizeof F.rationale, "%s/rationale.md", F.root);
	snprintf(F.bundle1, sizeof F.bundle1, "%s/b1", F.root);
	if (fs_mkdir_p(txt, &err) < 0)
		return -1;
	for (int k = 0; k < NDOCS; k++)
		write_doc(txt, k);
	if (src)
		snprintf(from, sizeof from, "--from '%s/recipe'", src);
	if (tu_run(NULL, 0, "%s data prepare --scale tiny --from '%s' --out '%s'", tu_karpa(), txt, F.data) ||
	    tu_run(NULL, 0, "%s recipe init '%s' %s", tu_karpa(), F.repo, from) ||
	    tu_run(NULL, 0, "%s keygen --out '%s'", tu_karpa(), F.key))
		return -1;
	make_lr_patch();
	put(F.rationale, "Halve the tiny learning rate: the loss curve is noisy after warmup.\n");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	tu_rmdir(F.root);
	return 0;
}

/* ---- 1. a real patch proves --------------------------------------------- */

/* The largest lr any step record of the log reports: the peak of the
 * schedule, which is the configured rate. */
static double log_peak_lr(const char *log_path)
{
	FILE *f = fopen(log_path, "r");
	char line[4096];
	double peak = 0;

	assert_non_null(f);
	while (fgets(line, sizeof line, f)) {
		json_t *j = json_loads(line, 0, NULL);
		assert_non_null(j);
		if (!strcmp(json_string_value(json_object_get(j, "event")), "step"))
			peak = fmax(peak, num(j, "lr"));
		json_decref(j);
	}
	fclose(f);
	return peak;
}

static void real_patch_proves_and_verifies(void **state)
{
	static struct run r;
	char tar[FS_PATH_MAX], svg[FS_PATH_MAX], path[FS_PATH_MAX], names[4096], *t;
	json_t *j, *v, *m;

	(void)state;
	snprintf(tar, sizeof tar, "%s.tar", F.bundle1);
	run(&r, PROVE_FMT " --patch '%s' --rationale '%s' --key '%s' --out '%s' --tar '%s' --threads 2 --json", PROVE_ARGS,
	    F.patch, F.rationale, F.key, F.bundle1, tar);
	if (r.status != 0)
		fail_msg("prove exited %d: %s", r.status, r.err);
	assert_non_null(j = json_loads(r.out, 0, NULL));
	assert_int_equal(strlen(json_string_value(json_object_get(j, "manifest_sha256"))), 64);
	assert_string_equal(json_string_value(json_object_get(j, "attestation")), "mock");
	assert_string_equal(json_string_value(json_object_get(j, "bundle")), F.bundle1);
	assert_true(isfinite(num(j, "val_bpb")) && num(j, "val_bpb") > 0);
	assert_true(num(j, "steps") > 0);
	assert_true(num(j, "train_s") > 0 && num(j, "train_s") <= num(j, "allowed_s"));
	/* mock evidence: the unverified tier, whose compute counts double, so
	 * the allowance is half of what the scale's budget gives at the slower
	 * calibration (PROTOCOL 4) */
	assert_true(num(j, "alpha") == 0.5);
	{
		json_t *cm;

		snprintf(path, sizeof path, "%s/calibration.json", F.bundle1);
		cm = tu_load_json(path);
		assert_true(fabs(num(j, "allowed_s") -
				 0.5 * calib_allowed_s(&calib_ref_cpu, num(cm, "budget_units"),
						       fmax(num(json_object_get(cm, "before"), "median_ms"),
							    num(json_object_get(cm, "after"), "median_ms")))) < 1e-9);
		json_decref(cm);
	}
	/* The king's code ran in the validator's sandbox: the outer seccomp
	 * layer, and the fresh environment that sets the inner one up. */
	t = (char *)json_string_value(json_object_get(j, "sandbox"));
	assert_non_null(t);
	if (strncmp(t, "sandboxed: ", 11) || !strstr(t, "seccomp") || !strstr(t, " env"))
		fail_msg("the proof's recipe ran \"%s\"", t);
	/* Without a terminal there is no progress: stderr stays empty. */
	assert_string_equal(r.err, "");

	/* The manifest says what the summary said, and the patch took effect:
	 * the run trained at the patched rate, not the king's. */
	snprintf(path, sizeof path, "%s/manifest.json", F.bundle1);
	m = tu_load_json(path);
	assert_true(num(json_object_get(m, "results"), "val_bpb") == num(j, "val_bpb"));
	assert_int_equal((long long)num(json_object_get(m, "results"), "steps"), (long long)num(j, "steps"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(m, "king"), "tag")), "recipe-v0.1.0");
	/* The OpenBLAS the calibration loaded at run time is recorded. */
	assert_non_null(strstr(json_string_value(json_object_get(json_object_get(json_object_get(m, "environment"), "libs"),
								 "openblas")),
			       "OpenBLAS "));
	/* A CPU proof records the SGEMM calibration as it always has: these
	 * keys exactly (the GPU calibration's "device" and "gpu" are a GPU
	 * proof's), and no device in its environment. */
	assert_null(json_object_get(json_object_get(m, "environment"), "device"));
	assert_true(num(json_object_get(m, "calibration"), "ref_ms") == CALIB_REF_MS);
	{
		json_t *cal;
		const char *key;
		json_t *val;
		char keys[256] = "";

		snprintf(path, sizeof path, "%s/calibration.json", F.bundle1);
		cal = tu_load_json(path);
		json_object_foreach(cal, key, val)
			snprintf(keys + strlen(keys), sizeof keys - strlen(keys), "%s ", key);
		assert_string_equal(keys, "after allowed_s before budget_units n ref_ms repeats train_s ");
		assert_int_equal((int)num(json_object_get(cal, "before"), "threads"), 2);
		json_decref(cal);
	}
	snprintf(path, sizeof path, "%s/train.log", F.bundle1);
	assert_true(fabs(log_peak_lr(path) - F.lr_new) <= F.lr_new * 1e-5);
	assert_true(fabs(log_peak_lr(path) - F.lr_old) > F.lr_old * 0.1);
	snprintf(path, sizeof path, "%s/patch.diff", F.bundle1);
	t = slurp(path);
	char *orig = slurp(F.patch);
	assert_string_equal(t, orig);
	free(t);
	free(orig);

	/* Verification, directory and transport forms. */
	run(&r, "%s bundle verify '%s' --json", tu_karpa(), F.bundle1);
	assert_int_equal(r.status, 0);
	assert_non_null(v = json_loads(r.out, 0, NULL));
	assert_true(json_is_true(json_object_get(v, "ok")));
	assert_string_equal(json_string_value(json_object_get(v, "manifest_sha256")),
			    json_string_value(json_object_get(j, "manifest_sha256")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(v, "attestation"), "kind")), "mock");
	json_decref(v);
	run(&r, "%s bundle verify '%s'", tu_karpa(), tar);
	if (r.status != 0)
		fail_msg("verify of the tar exited %d: %s", r.status, r.err);
	assert_non_null(strstr(r.out, json_string_value(json_object_get(j, "manifest_sha256"))));

	/* show summarises and draws the loss curve as SVG. */
	snprintf(svg, sizeof svg, "%s/loss.svg", F.root);
	run(&r, "%s bundle show '%s' --svg '%s'", tu_karpa(), F.bundle1, svg);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "val_bpb"));
	t = slurp(svg);
	assert_non_null(strstr(t, "<svg"));
	assert_non_null(strstr(t, "</svg>"));
	free(t);

	/* Nothing but the bundle and its tar beside it: no work or staging folders. */
	list_dir(F.root, names, sizeof names);
	assert_null(strstr(names, ".work."));
	assert_null(strstr(names, ".tmp"));

	/* Sizes for the disk-full cases below. */
	snprintf(path, sizeof path, "%s/checkpoints/final.ckpt", F.bundle1);
	F.ckpt_bytes = file_bytes(path);
	F.tar_bytes = file_bytes(tar);
	json_decref(m);
	json_decref(j);
}

/* ---- 2. determinism ----------------------------------------------------- */

/* What of a run must not depend on when or with how many threads it ran:
 * every step's loss and lr, every checkpoint's step and digest, the eval. */
static void log_fingerprint(const char *log_path, char *out, size_t cap)
{
	FILE *f = fopen(log_path, "r");
	char line[4096], item[256];
	int n = 0;

	out[0] = '\0';
	assert_non_null(f);
	while (fgets(line, sizeof line, f)) {
		json_t *j = json_loads(line, 0, NULL);
		const char *ev;

		assert_non_null(j);
		ev = json_string_value(json_object_get(j, "event"));
		item[0] = '\0';
		if (!strcmp(ev, "step"))
			snprintf(item, sizeof item, "s%lld:%.17g:%.17g ", (long long)num(j, "step"), num(j, "loss"),
				 num(j, "lr"));
		else if (!strcmp(ev, "checkpoint"))
			snprintf(item, sizeof item, "c%lld:%s ", (long long)num(j, "step"),
				 json_string_value(json_object_get(j, "sha256")));
		else if (!strcmp(ev, "eval"))
			snprintf(item, sizeof item, "e:%.17g ", num(j, "val_bpb"));
		strncat(out, item, cap - strlen(out) - 1);
		json_decref(j);
		assert_true(++n < LOG_RECORDS_MAX);
	}
	fclose(f);
	assert_true(strlen(out) < cap - 1);
	assert_non_null(strstr(out, "c")); /* at least one checkpoint record */
}

static void same_inputs_give_the_same_run(void **state)
{
	static struct run r;
	static char fp1[1 << 16], fp2[1 << 16];
	char b2[FS_PATH_MAX], path[FS_PATH_MAX];
	json_t *m1, *m2, *r1, *r2, *f1, *f2;

	(void)state;
	snprintf(path, sizeof path, "%s/manifest.json", F.bundle1);
	if (!fs_exists(path))
		fail_msg("needs the bundle of the first case");
	/* One thread here, two in the first proof: the protocol promises
	 * bit-identical checkpoints whatever the thread count. Unconfined
	 * here, sandboxed there: the sandbox changes nothing computed. */
	snprintf(b2, sizeof b2, "%s/b2", F.root);
	run(&r, PROVE_FMT " --patch '%s' --rationale '%s' --key '%s' --out '%s' --threads 1 --no-sandbox", PROVE_ARGS,
	    F.patch, F.rationale, F.key, b2);
	if (r.status != 0)
		fail_msg("prove exited %d: %s", r.status, r.err);
	/* The text summary never hides the unverified tier, nor an
	 * unconfined run. */
	assert_non_null(strstr(r.out, "UNVERIFIED tier"));
	assert_non_null(strstr(r.out, "\nrecipe    not sandboxed (--no-sandbox)\n"));
	m1 = tu_load_json(path);
	snprintf(path, sizeof path, "%s/manifest.json", b2);
	m2 = tu_load_json(path);
	r1 = json_object_get(m1, "results");
	r2 = json_object_get(m2, "results");
	for (const char *const *k = (const char *const[]){ "steps", "tokens", "params", "val_bpb", "val_loss", NULL };
	     *k; k++)
		if (num(r1, *k) != num(r2, *k))
			fail_msg("results.%s differs: %.17g vs %.17g", *k, num(r1, *k), num(r2, *k));
	f1 = json_object_get(json_object_get(m1, "files"), "checkpoints/final.ckpt");
	f2 = json_object_get(json_object_get(m2, "files"), "checkpoints/final.ckpt");
	assert_non_null(f1);
	assert_non_null(f2);
	assert_string_equal(json_string_value(json_object_get(f1, "sha256")),
			    json_string_value(json_object_get(f2, "sha256")));
	assert_string_equal(json_string_value(json_object_get(m1, "patch_sha256")),
			    json_string_value(json_object_get(m2, "patch_sha256")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(m1, "config"), "data_manifest_sha256")),
			    json_string_value(json_object_get(json_object_get(m2, "config"), "data_manifest_sha256")));
	snprintf(path, sizeof path, "%s/train.log", F.bundle1);
	log_fingerprint(path, fp1, sizeof fp1);
	snprintf(path, sizeof path, "%s/train.log", b2);
	log_fingerprint(path, fp2, sizeof fp2);
	assert_string_equal(fp1, fp2);
	json_decref(m1);
	json_decref(m2);
	fs_rm_rf(b2);
}

/* ---- 3. refusals -------------------------------------------------------- */

/* A copy of the real patch whose removed line no longer matches the king. */
static void make_conflict_patch(const char *path)
{
	char *text = slurp(F.patch), *minus;

	assert_non_null(minus = strstr(text, "\n-\t{ \"tiny\","));
	minus = strchr(minus + 2, '"') + 1; /* the name's opening quote */
	assert_int_equal(*minus, 't');
	*minus = 'T'; /* "Tiny": the hunk's old line is not in config.c */
	put(path, text);
	free(text);
}

/* A one-line edit of path: refused with code before any build, naming
 * the path, with nothing left behind. */
static void refused_path(const char *name, const char *path, const char *code)
{
	static struct run r;
	char dir[FS_PATH_MAX], patch[FS_PATH_MAX], text[1024];

	case_dir(dir, name);
	snprintf(patch, sizeof patch, "%s/../%s.diff", dir, name);
	snprintf(text, sizeof text, "diff --git a/%s b/%s\n--- a/%s\n+++ b/%s\n@@ -1,1 +1,1 @@\n-/* old */\n+/* new */\n",
		 path, path, path, path);
	put(patch, text);
	run(&r, PROVE_FMT " --patch '%s' --rationale '%s' --key '%s' --out '%s/b'", PROVE_ARGS, patch, F.rationale,
	    F.key, dir);
	expect_refusal(&r, code, path, dir, 0);
}

static void patch_refusals(void **state)
{
	static struct run r;
	char dir[FS_PATH_MAX], patch[FS_PATH_MAX];

	(void)state;
	case_dir(dir, "conflict");
	snprintf(patch, sizeof patch, "%s/../conflict.diff", dir);
	make_conflict_patch(patch);
	run(&r, PROVE_FMT " --patch '%s' --rationale '%s' --key '%s' --out '%s/b'", PROVE_ARGS, patch, F.rationale,
	    F.key, dir);
	expect_refusal(&r, "patch.conflict", "config.c line ", dir, 0);

	refused_path("harness", "src/harness/evaluate.c", "patch.touches_harness");
	/* the CUDA part at a CPU scale: no proof here would build it */
	refused_path("untested", "cuda/gk_kernels.cu", "patch.untested_part");

	case_dir(dir, "nopatch");
	run(&r, PROVE_FMT " --patch '%s/none.diff' --rationale '%s' --key '%s' --out '%s/b'", PROVE_ARGS, dir,
	    F.rationale, F.key, dir);
	expect_refusal(&r, "fs.open", "none.diff", dir, 0);
}

static void key_and_rationale_refusals(void **state)
{
	static struct run r;
	char dir[FS_PATH_MAX], key[FS_PATH_MAX], rat[FS_PATH_MAX], *text;

	(void)state;
	case_dir(dir, "nokey");
	run(&r, PROVE_FMT " --patch '%s' --rationale '%s' --key '%s/absent.key' --out '%s/b'", PROVE_ARGS, F.patch,
	    F.rationale, dir, dir);
	expect_refusal(&r, "keys.missing", "absent.key", dir, 0);

	/* A readable copy of a good key: refused before anything is built. */
	case_dir(dir, "openkey");
	snprintf(key, sizeof key, "%s/open.key", dir);
	text = slurp(F.key);
	put(key, text);
	free(text);
	assert_int_equal(chmod(key, 0644), 0);
	run(&r, PROVE_FMT " --patch '%s' --rationale '%s' --key '%s' --out '%s/b'", PROVE_ARGS, F.patch,
	    F.rationale, key, dir);
	expect_refusal(&r, "keys.bad_permissions", "open.key", dir, 1);

	case_dir(dir, "norationale");
	snprintf(rat, sizeof rat, "%s/empty.md", dir);
	put(rat, "");
	run(&r, PROVE_FMT " --patch '%s' --rationale '%s' --key '%s' --out '%s/b'", PROVE_ARGS, F.patch, rat, F.key,
	    dir);
	expect_refusal(&r, "prove.no_rationale", "empty.md", dir, 1);
}

/* The gpu-* scales need --device cuda, which needs a GPU; --device cuda
 * builds for this machine's GPU, so no --runner-isa. Refused before any
 * build, with nothing left behind. */
static void device_refusals(void **state)
{
	static struct run r;
	char dir[FS_PATH_MAX];
	struct gpuinfo gpu;
	struct kerr err;

	(void)state;
	case_dir(dir, "gpuscale");
	run(&r, PROVE_FMT " --scale gpu-125m --patch '%s' --rationale '%s' --key '%s' --out '%s/b'", PROVE_ARGS,
	    F.patch, F.rationale, F.key, dir);
	expect_refusal(&r, "prove.device", "--device cuda", dir, 0);
	case_dir(dir, "cuda-isa");
	run(&r, PROVE_FMT " --device cuda --runner-isa aarch64 --patch '%s' --rationale '%s' --key '%s' --out '%s/b'",
	    PROVE_ARGS, F.patch, F.rationale, F.key, dir);
	expect_refusal(&r, "prove.device", "--runner-isa", dir, 0);
	run(&r, PROVE_FMT " --device tpu --patch '%s' --rationale '%s' --key '%s' --out '%s/b'", PROVE_ARGS, F.patch,
	    F.rationale, F.key, dir);
	assert_int_equal(r.status, 2);
	assert_int_equal(gpuinfo_read(NULL, &gpu, &err), 0);
	if (gpu.count == 0) {
		case_dir(dir, "nogpu");
		run(&r, PROVE_FMT " --device cuda --patch '%s' --rationale '%s' --key '%s' --out '%s/b'", PROVE_ARGS,
		    F.patch, F.rationale, F.key, dir);
		expect_refusal(&r, "prove.no_gpu", "NVIDIA", dir, 0);
	}
}

static void output_and_king_refusals(void **state)
{
	static struct run r;
	char dir[FS_PATH_MAX], path[FS_PATH_MAX];

	(void)state;
	/* --out under a regular file: the work folder beside it cannot exist. */
	case_dir(dir, "unwritable");
	snprintf(path, sizeof path, "%s/plain", dir);
	put(path, "not a folder\n");
	run(&r, PROVE_FMT " --patch '%s' --rationale '%s' --key '%s' --out '%s/b'", PROVE_ARGS, F.patch,
	    F.rationale, F.key, path);
	expect_refusal(&r, "fs.mkdir", "plain/b", dir, 1);

	case_dir(dir, "exists");
	snprintf(path, sizeof path, "%s/b", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	run(&r, PROVE_FMT " --patch '%s' --rationale '%s' --key '%s' --out '%s'", PROVE_ARGS, F.patch, F.rationale,
	    F.key, path);
	expect_refusal(&r, "prove.out_exists", path, dir, 1);
	assert_true(fs_is_dir(path)); /* refused, not replaced */

	case_dir(dir, "tarexists");
	snprintf(path, sizeof path, "%s/b.tar", dir);
	put(path, "an earlier transport file\n");
	run(&r, PROVE_FMT " --patch '%s' --rationale '%s' --key '%s' --out '%s/b' --tar '%s'", PROVE_ARGS, F.patch,
	    F.rationale, F.key, dir, path);
	expect_refusal(&r, "prove.out_exists", "b.tar", dir, 1);
	char *t = slurp(path);
	assert_string_equal(t, "an earlier transport file\n");
	free(t);

	case_dir(dir, "notag");
	run(&r, "%s prove --recipe '%s' --king recipe-v9.9.9 --data '%s' --scale tiny --patch '%s' --rationale '%s' "
		"--key '%s' --out '%s/b'",
	    tu_karpa(), F.repo, F.data, F.patch, F.rationale, F.key, dir);
	expect_refusal(&r, "recipe.unknown_tag", "recipe-v9.9.9", dir, 0);
}

static void usage_errors_exit_2(void **state)
{
	static struct run r;
	static const char *const bad[] = {
		"",                       /* every required flag missing */
		"--threads 0",            "--threads 257", "--seed -1", "--seed 1x",
		"--budget 0",             "--budget 5x",   "--budget inf", "--budget nan",
		"--bogus",                "extra-arg",
	};
	char dir[FS_PATH_MAX];

	(void)state;
	case_dir(dir, "usage");
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (i == 0)
			run(&r, "%s prove", tu_karpa());
		else
			run(&r, PROVE_FMT " --patch '%s' --rationale '%s' --key '%s' --out '%s/b' %s", PROVE_ARGS,
			    F.patch, F.rationale, F.key, dir, bad[i]);
		if (r.status != 2)
			fail_msg("'%s': exit %d, want 2; stderr: %s", bad[i], r.status, r.err);
		assert_string_equal(r.out, "");
		assert_true(strlen(r.err) > 0);
	}
	/* A required flag missing (here --out) is a usage error too. */
	run(&r, PROVE_FMT " --patch '%s' --rationale '%s' --key '%s'", PROVE_ARGS, F.patch, F.rationale, F.key);
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "usage: karpa prove"));
	run(&r, "%s prove --help", tu_karpa());
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "--recipe REPO"));
	char names[4096];
	assert_int_equal(list_dir(dir, names, sizeof names), 0);
}

/* ---- disk full and budget ----------------------------------------------- */

/* RLIMIT_FSIZE is a per-file cap, and every file of the bundle directory is
 * a copy of one the run already wrote at the same size, so no cap lets the
 * run finish and fails the directory. Two cases instead: a cap below one
 * checkpoint fails the run's own first checkpoint (the earliest large
 * write), and a cap between one checkpoint and the whole transport file
 * fails the last write of the proof, the --tar, after the bundle is sealed. */
static void disk_full_while_training(void **state)
{
	static struct run r;
	char dir[FS_PATH_MAX];

	(void)state;
	if (F.ckpt_bytes <= 0)
		fail_msg("needs the checkpoint size measured by the first case");
	case_dir(dir, "full-train");
	run_limited(&r, F.ckpt_bytes / 2,
		    PROVE_FMT " --patch '%s' --rationale '%s' --key '%s' --out '%s/b' --threads 1", PROVE_ARGS,
		    F.patch, F.rationale, F.key, dir);
	expect_refusal(&r, "fs.disk_full", ".ckpt", dir, 0);
	assert_non_null(strstr(r.err, "File too large"));
}

static void disk_full_while_packing(void **state)
{
	static struct run r;
	char dir[FS_PATH_MAX];
	long long cap = F.ckpt_bytes + (256 << 10); /* every single file fits, with room */

	(void)state;
	if (F.ckpt_bytes <= 0 || F.tar_bytes <= 0)
		fail_msg("needs the sizes measured by the first case");
	assert_true(cap < F.tar_bytes);
	case_dir(dir, "full-tar");
	run_limited(&r, cap,
		    PROVE_FMT " --patch '%s' --rationale '%s' --key '%s' --out '%s/b' --threads 1 --tar '%s/b.tar'",
		    PROVE_ARGS, F.patch, F.rationale, F.key, dir, dir);
	/* The code is fs.disk_full once bundle_tar.c maps libarchive's EFBIG
	 * like fs_write_fd does; until then libarchive's own (bundle.pack).
	 * What must hold either way: exit 1, one line naming the failed file,
	 * and neither a bundle nor a partial tar left behind. */
	if (strstr(r.err, "karpa: bundle.pack: "))
		expect_refusal(&r, "bundle.pack", ".ckpt", dir, 0);
	else
		expect_refusal(&r, "fs.disk_full", "b.tar", dir, 0);
}

static void over_budget_leaves_no_bundle(void **state)
{
	static struct run r;
	char dir[FS_PATH_MAX];

	(void)state;
	case_dir(dir, "budget");
	run(&r, PROVE_FMT " --patch '%s' --rationale '%s' --key '%s' --out '%s/b' --threads 1 --budget 0.001", PROVE_ARGS,
	    F.patch, F.rationale, F.key, dir);
	expect_refusal(&r, "prove.over_budget", "budget of 0.001 units", dir, 0);
	assert_non_null(strstr(r.err, "declare fewer steps"));
}

/* A proof the judge's plausibility check would refuse is refused by prove
 * itself, with the judge's reason code, before anything is packed: here a
 * recipe that declares a million times its parameters, so its steps claim
 * more FLOPs per second than the calibrated machine has. Nothing is left. */
static void judge_refusal_leaves_no_bundle(void **state)
{
	static struct run r;
	char dir[FS_PATH_MAX], clone[FS_PATH_MAX], patch[FS_PATH_MAX];

	(void)state;
	case_dir(dir, "judge");
	snprintf(clone, sizeof clone, "%s/clone-params", F.root);
	snprintf(patch, sizeof patch, "%s/params.diff", F.root);
	assert_int_equal(tu_run(NULL, 0, "git clone -q '%s' '%s'", F.repo, clone), 0);
	assert_int_equal(tu_run(NULL, 0,
				"sed -i 's/plan->params = (int64_t)nparams;/plan->params = (int64_t)nparams "
				"* 1000000;/' '%s/api.c' && git -C '%s' diff --no-color --no-ext-diff --src-prefix=a/ "
				"--dst-prefix=b/ > '%s' && grep -q 1000000 '%s'",
				clone, clone, patch, patch),
			 0);
	run(&r, PROVE_FMT " --patch '%s' --rationale '%s' --key '%s' --out '%s/b' --tar '%s/b.tar' --threads 1",
	    PROVE_ARGS, patch, F.rationale, F.key, dir, dir);
	expect_refusal(&r, "judge.log_too_fast", "validators would refuse this proof", dir, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(real_patch_proves_and_verifies),
		cmocka_unit_test(same_inputs_give_the_same_run),
		cmocka_unit_test(patch_refusals),
		cmocka_unit_test(key_and_rationale_refusals),
		cmocka_unit_test(output_and_king_refusals),
		cmocka_unit_test(device_refusals),
		cmocka_unit_test(usage_errors_exit_2),
		cmocka_unit_test(disk_full_while_training),
		cmocka_unit_test(disk_full_while_packing),
		cmocka_unit_test(over_budget_leaves_no_bundle),
		cmocka_unit_test(judge_refusal_leaves_no_bundle),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
