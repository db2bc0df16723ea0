/* test_portable.c: the portable recipe (plain C, KARPA_PORTABLE) trains to
 * the AVX2 build's bits (docs/determinism.md). The same tiny-scale run goes
 * through both runners; every step's loss and learning rate, every kept
 * checkpoint's digest, the final checkpoint and val_bpb must be equal.
 * Says in its output which builds ran. */
#include "testutil.h"
#include "fixtures.h"

#include "util/hash.h"

/* The two runners: $KARPA_RUNNER (the pinned build, AVX2 on x86-64) and
 * $KARPA_RUNNER_PORTABLE, by default the karpa-recipe-portable beside it. */
#define PORTABLE_SUFFIX "-portable"

static char *work;
static char data[FS_PATH_MAX];

static const char *const words[] = {
	"river", "stone", "light", "garden", "winter", "paper", "window", "music", "market",
	"letter", "horse", "silver", "morning", "the", "a", "of", "and", "to", "in", "was",
};

static void runners(char *avx2, char *portable, size_t cap)
{
	const char *r = getenv("KARPA_RUNNER"), *p = getenv("KARPA_RUNNER_PORTABLE");

	assert_non_null(r);
	snprintf(avx2, cap, "%s", r);
	if (p && *p)
		snprintf(portable, cap, "%s", p);
	else
		snprintf(portable, cap, "%s%s", r, PORTABLE_SUFFIX);
	if (access(portable, X_OK) < 0)
		fail_msg("%s: the portable runner is missing (make builds it)", portable);
}

/* Trains the tiny scale with one runner into work/name; returns the log's
 * numeric trail: one line per step (loss, lr bits) and per checkpoint
 * (digest), then the final digest and val_bpb (caller frees). */
static char *train_trail(const char *runner, const char *name, int threads)
{
	char run[FS_PATH_MAX], path[FS_PATH_MAX], line[4096];
	static char out[1 << 16];
	size_t cap = 1 << 16, n = 0;
	char *trail = malloc(cap);
	json_t *res;
	FILE *f;

	assert_non_null(trail);
	trail[0] = '\0';
	snprintf(run, sizeof run, "%s/%s", work, name);
	if (tu_run(out, sizeof out, "KARPA_RUNNER=%s %s train --scale tiny --data %s --seed 3 --threads %d --out %s --json",
		   runner, tu_karpa(), data, threads, run) != 0)
		fail_msg("karpa train with %s failed: %s", runner, out);
	snprintf(path, sizeof path, "%s/train.log", run);
	assert_non_null(f = fopen(path, "r"));
	while (fgets(line, sizeof line, f)) {
		json_t *j = json_loads(line, 0, NULL);
		const char *ev;
		assert_non_null(j);
		ev = tu_jstr(j, "event");
		if (!strcmp(ev, "step"))
			n += (size_t)snprintf(trail + n, cap - n, "step %lld loss %a lr %a\n",
					      (long long)tu_jnum(j, "step"), tu_jnum(j, "loss"), tu_jnum(j, "lr"));
		else if (!strcmp(ev, "checkpoint"))
			n += (size_t)snprintf(trail + n, cap - n, "ckpt %lld %s\n", (long long)tu_jnum(j, "step"),
					      tu_jstr(j, "sha256"));
		json_decref(j);
		assert_true(n < cap);
	}
	fclose(f);
	assert_non_null(res = tu_out_json(out));
	n += (size_t)snprintf(trail + n, cap - n, "final %s val_bpb %a\n", tu_jstr(res, "final_sha256"),
			      tu_jnum(res, "val_bpb"));
	assert_true(n < cap);
	json_decref(res);
	return trail;
}

static void portable_gives_avx2_bits(void **s)
{
	char avx2[FS_PATH_MAX], portable[FS_PATH_MAX];
	char *a, *p;
	double t0, t1, t2;
	int ckpts = 0, steps = 0;

	const struct fx_texts t = { words, sizeof words / sizeof words[0], 0x9e3779b97f4a7c15ull, 40, 300,
				    10, "text" };
	char out[4096];

	(void)s;
	runners(avx2, portable, sizeof avx2);
	hash_init_lib();
	work = tu_mkdtemp();
	if (fx_prepare_tiny(work, &t, data, sizeof data, out, sizeof out) != 0)
		fail_msg("data prepare failed: %s", out);
	t0 = tu_now_s();
	a = train_trail(avx2, "avx2", 2);
	t1 = tu_now_s();
	p = train_trail(portable, "portable", 2);
	t2 = tu_now_s();
	for (const char *c = strstr(a, "ckpt "); c; c = strstr(c + 1, "ckpt "))
		ckpts++;
	for (const char *c = strstr(a, "step "); c; c = strstr(c + 1, "step "))
		steps++;
	print_message("ran: pinned build (%s, gemm kernel %s, %.1fs) and portable build (%s, plain C, %.1fs)\n",
		      avx2, __builtin_cpu_supports("avx512f") ? "avx512" : "avx2", t1 - t0, portable, t2 - t1);
	print_message("%d step losses, %d checkpoint digests, final digest, val_bpb: %s\n",
		      steps, ckpts, strcmp(a, p) ? "DIFFER" : "equal");
	if (strcmp(a, p))
		fail_msg("pinned build:\n%s\nportable build:\n%s", a, p);
	assert_true(ckpts > 0 && steps > 0);
	free(a);
	free(p);
	tu_rmdir(work);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(portable_gives_avx2_bits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
