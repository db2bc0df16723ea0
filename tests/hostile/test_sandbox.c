/* test_sandbox.c: the recipe sandbox against hostile recipes
 * (docs/sandbox.md). Each case builds tests/hostile/recipes/bigram plus one
 * attack file with the real recipe builder into a private cache, runs it
 * behind the pipe host under both sandbox layers, and asserts the reason
 * code it must end with, and that the validator (this process) is unharmed:
 * no file created, no connection to a listening loopback socket, no signal
 * received, no descriptor leaked. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <arpa/inet.h>
#include <linux/landlock.h>
#include <signal.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>

#include "../testutil.h"

#include "sandbox/runbox.h"
#include "sandbox/recipe_build.h"
#include "sandbox/recipe_pipe.h"
#include "sandbox/sandbox.h"

#define VOCAB 256           /* small, and still a GEMM OpenBLAS threads */
#define T_LEN 16            /* the bigram recipe's seq_len */
#define B_ROWS 2            /* and its batch */
#define TEST_CPU_S 1        /* the busy loop ends in about a second of CPU */
#define TEST_MEM ((uint64_t)1 << 30) /* an 8 GiB allocation fails well past this */
#define TEST_TIMEOUT_MS 8000         /* generous: a shared machine may starve the busy loop */
#define SLEEPER_TIMEOUT_MS 600
#define DEADLINE_MS 1500             /* the overall deadline in the deadline cases */
#define DEADLINE_SLACK_S 3.0         /* how far past it the host may end: a kill and a reap */
#define SLOW_CALLS 40                /* 0.25 s each: 10 s without a deadline */
#define NOISE_SEEN_MAX 4096          /* bytes of a recipe's output our stderr may receive: none, in fact */

static char *cache_dir;
static char src_dir[FS_PATH_MAX];
static int listen_fd = -1;
static uint16_t listen_port;
static volatile sig_atomic_t got_sigterm;
static int logits_calls = 1; /* how many logits calls drive() makes */
static int gpu_profile;      /* test_config asks for the GPU runner's profile */
static const char *cuda_visible; /* and passes this CUDA_VISIBLE_DEVICES */

static void on_sigterm(int sig)
{
	(void)sig;
	got_sigterm = 1;
}

struct outcome {
	int ok;
	char stage[16];
	struct kerr err;
	char name[KR_NAME_MAX];
	struct sandbox_report rep;
	float logits[B_ROWS * T_LEN * VOCAB];
};

static void copy(const char *from, const char *to_dir, const char *name)
{
	char dst[FS_PATH_MAX];
	struct kerr err;

	snprintf(dst, sizeof dst, "%s/%s", to_dir, name);
	if (!fs_exists(dst))
		assert_int_equal(fs_copy_file(from, dst, &err), 0);
}

/* Builds bigram.c plus the named attack (NULL: the honest bigram);
 * "base+extra" adds the files of recipes/extra to base's attack. */
static void build_info(const char *attack, struct recipe_build_info *bi)
{
	char dir[FS_PATH_MAX], from[FS_PATH_MAX];
	struct kerr err = { 0 };

	snprintf(dir, sizeof dir, "%s/src-%s", cache_dir, attack ? attack : "bigram");
	assert_int_equal(fs_mkdir_p(dir, &err), 0);
	snprintf(from, sizeof from, "%s/tests/hostile/recipes/bigram/bigram.c", src_dir);
	copy(from, dir, "bigram.c");
	if (attack) {
		/* "base+extra": base's attack.c, and every file of extra's folder */
		const char *plus = strchr(attack, '+');
		char extra[FS_PATH_MAX];
		struct dirent *de;
		DIR *d;

		snprintf(from, sizeof from, "%s/tests/hostile/recipes/%.*s/attack.c", src_dir,
			 plus ? (int)(plus - attack) : (int)strlen(attack), attack);
		copy(from, dir, "attack.c");
		if (plus) {
			snprintf(extra, sizeof extra, "%s/tests/hostile/recipes/%s", src_dir, plus + 1);
			assert_non_null(d = opendir(extra));
			while ((de = readdir(d)))
				if (de->d_name[0] != '.') {
					snprintf(from, sizeof from, "%s/%s", extra, de->d_name);
					copy(from, dir, de->d_name);
				}
			closedir(d);
		}
	}
	if (recipe_build(dir, bi, &err) < 0)
		fail_msg("build %s: %s: %s", attack ? attack : "bigram", err.code, err.msg);
	/* the pin lets go at once: the cases count their descriptors, and
	 * the runner they start next is the cache's newest, which no prune
	 * removes */
	recipe_build_release(bi);
}

static void build(const char *attack, char runner[FS_PATH_MAX])
{
	struct recipe_build_info bi;

	build_info(attack, &bi);
	snprintf(runner, FS_PATH_MAX, "%s", bi.runner);
}

static void tokens_for(uint16_t *tok, size_t n, unsigned salt)
{
	for (size_t i = 0; i < n; i++)
		tok[i] = (uint16_t)((i * 37u + salt * 11u + (i * i) % 7u) % VOCAB);
}

/* create, two training steps, one logits call; stops at the first failure
 * and lets the sandbox explain it. sb NULL: no sandbox at all. */
/* drive() sends every logits call through the bulk region (recipe_wire.h),
 * not only the large ones. */
static int bulk_all;

static void drive(const char *runner, struct sandbox *sb, uint64_t seed, int threads, struct outcome *o)
{
	struct recipe_host h;
	struct kr_env env = { .seed = seed, .threads = threads, .vocab_size = VOCAB, .scale = "tiny" };
	struct kr_plan plan;
	uint16_t train[B_ROWS * (T_LEN + 1)], eval[B_ROWS * T_LEN];
	float loss, lr;
	int rc;

	memset(o, 0, sizeof *o);
	if (sb)
		rc = sandbox_spawn(sb, &h, &o->err);
	else
		rc = recipe_host_pipe(&h, runner, NULL, NULL, &o->err);
	assert_int_equal(rc, 0);
	if (bulk_all)
		assert_int_equal(recipe_pipe_set_bulk_min(&h, 0), 0);
	snprintf(o->stage, sizeof o->stage, "create");
	if (recipe_host_create(&h, &env, &plan, &o->err) < 0)
		goto fail;
	snprintf(o->name, sizeof o->name, "%s", plan.name);
	snprintf(o->stage, sizeof o->stage, "train_step");
	for (int s = 0; s < 2; s++) {
		tokens_for(train, sizeof train / sizeof train[0], (unsigned)s);
		if (h.train_step(&h, s, train, &loss, &lr, &o->err) < 0)
			goto fail;
	}
	snprintf(o->stage, sizeof o->stage, "logits");
	tokens_for(eval, sizeof eval / sizeof eval[0], 9);
	for (int i = 0; i < logits_calls; i++)
		if (h.logits(&h, eval, B_ROWS, T_LEN, o->logits, &o->err) < 0)
			goto fail;
	o->ok = 1;
	goto done;
fail:
	if (sb)
		sandbox_explain(sb, &h, &o->err);
done:
	if (sb)
		sandbox_report(sb, &o->rep);
	recipe_host_destroy(&h);
}

static int count_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

static void test_config(struct sandbox_config *c, int threads)
{
	sandbox_config_default(c, threads);
	c->cpu_seconds = TEST_CPU_S;
	c->memory_bytes = TEST_MEM;
	c->timeout_ms = TEST_TIMEOUT_MS;
	c->gpu = gpu_profile;
	c->cuda_visible_devices = cuda_visible;
}

/* Runs one attack under the sandbox and checks the reason code (NULL: the
 * recipe must work) and the stage it failed at. */
static void attack_case(const char *attack, const char *want_code, const char *want_stage, uint64_t seed,
			int64_t timeout_ms, struct outcome *o)
{
	char runner[FS_PATH_MAX];
	struct sandbox_config cfg;
	struct sandbox *sb;
	struct kerr err;
	int fds = count_fds();
	struct timespec t0, t1;

	build(attack, runner);
	test_config(&cfg, 2);
	if (timeout_ms)
		cfg.timeout_ms = timeout_ms;
	if (sandbox_new(&sb, &cfg, runner, &err) < 0)
		fail_msg("sandbox_new: %s: %s", err.code, err.msg);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	drive(runner, sb, seed, 2, o);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	print_message("   %-15s %s%s%s (%.2fs) %s\n", attack ? attack : "bigram", o->ok ? "ok" : o->err.code, o->ok ? "" : " at ",
		      o->ok ? "" : o->stage, (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
		      o->ok ? "" : o->err.msg);
	if (!want_code) {
		if (!o->ok)
			fail_msg("%s: expected to work, got %s: %s", attack, o->err.code, o->err.msg);
	} else {
		assert_false(o->ok);
		if (strcmp(o->err.code, want_code) || strcmp(o->stage, want_stage))
			fail_msg("%s: expected %s at %s, got %s at %s: %s", attack, want_code, want_stage, o->err.code,
				 o->stage, o->err.msg);
	}
	sandbox_free(sb);
	assert_int_equal(count_fds(), fds);
}

/* ---- the honest recipe ------------------------------------------------- */

/* The bigram gives the same logits with and without the sandbox, with one
 * thread and with two, so neither layer is in OpenMP's or OpenBLAS's way. */
static void test_honest_bigram_same_under_sandbox(void **state)
{
	char runner[FS_PATH_MAX], have[160];
	struct sandbox_config cfg;
	struct sandbox *sb;
	struct kerr err;
	struct outcome *plain = calloc(1, sizeof *plain), *boxed = calloc(1, sizeof *boxed);

	(void)state;
	assert_non_null(plain);
	assert_non_null(boxed);
	build(NULL, runner);
	drive(runner, NULL, 1, 1, plain);
	if (!plain->ok)
		fail_msg("unsandboxed bigram: %s: %s", plain->err.code, plain->err.msg);
	/* the third time with the logits through the bulk region, which the
	 * runner maps under both seccomp layers */
	for (int run = 1; run <= 3; run++) {
		int threads = run == 1 ? 1 : 2;
		test_config(&cfg, threads);
		assert_int_equal(sandbox_new(&sb, &cfg, runner, &err), 0);
		bulk_all = run == 3;
		drive(runner, sb, 1, threads, boxed);
		bulk_all = 0;
		if (!boxed->ok)
			fail_msg("sandboxed bigram, %d threads: %s: %s", threads, boxed->err.code, boxed->err.msg);
		assert_int_equal(boxed->rep.done, 1);
		sandbox_describe(boxed->rep.applied, have, sizeof have);
		print_message("   threads %d%s: applied: %s%s%s\n", threads, run == 3 ? ", bulk region" : "", have,
			      boxed->rep.notes[0] ? "; notes: " : "", boxed->rep.notes);
		/* Both seccomp layers, rlimits, fds and env are never optional. */
		assert_true(boxed->rep.applied & SANDBOX_SECCOMP);
		assert_true(boxed->rep.applied & SANDBOX_RLIMITS);
		assert_true(boxed->rep.applied & SANDBOX_FDS);
		assert_true(boxed->rep.applied & SANDBOX_ENV);
		assert_true(boxed->rep.applied & SANDBOX_NNP);
		assert_memory_equal(plain->logits, boxed->logits, sizeof plain->logits);
		sandbox_free(sb);
	}
	free(plain);
	free(boxed);
}

/* The project's own recipe (the recipe folder: OpenMP and OpenBLAS) gives the same
 * logits inside and outside the sandbox, with one and two threads. */
#define REAL_VOCAB 256
#define REAL_STEPS 2
#define REAL_ROWS 2

static int real_run(const char *runner, struct sandbox *sb, int threads, float **logits, size_t *n,
		    struct kerr *err)
{
	struct recipe_host h;
	struct kr_env env = { .seed = 7, .threads = threads, .vocab_size = REAL_VOCAB, .scale = "tiny" };
	struct kr_plan plan;
	uint16_t *tok = NULL;
	float loss, lr;
	int rc = -1;

	if ((sb ? sandbox_spawn(sb, &h, err) : recipe_host_pipe(&h, runner, NULL, NULL, err)) < 0)
		return -1;
	if (recipe_host_create(&h, &env, &plan, err) < 0)
		goto out;
	tok = malloc((size_t)plan.batch * (size_t)(plan.seq_len + 1) * sizeof *tok);
	*n = (size_t)REAL_ROWS * (size_t)plan.seq_len * REAL_VOCAB;
	*logits = malloc(*n * sizeof **logits);
	assert_non_null(tok);
	assert_non_null(*logits);
	for (int s = 0; s < REAL_STEPS; s++) {
		for (size_t i = 0; i < (size_t)plan.batch * (size_t)(plan.seq_len + 1); i++)
			tok[i] = (uint16_t)((i * 31u + (unsigned)s * 7u) % REAL_VOCAB);
		if (h.train_step(&h, s, tok, &loss, &lr, err) < 0)
			goto out;
	}
	if (h.logits(&h, tok, REAL_ROWS, plan.seq_len, *logits, err) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0 && sb)
		sandbox_explain(sb, &h, err);
	free(tok);
	recipe_host_destroy(&h);
	return rc;
}

static void test_project_recipe_same_under_sandbox(void **state)
{
	char dir[FS_PATH_MAX];
	struct recipe_build_info bi;
	struct sandbox_config cfg;
	struct sandbox *sb;
	struct kerr err = { 0 };

	(void)state;
	snprintf(dir, sizeof dir, "%s/recipe", src_dir);
	if (recipe_build(dir, &bi, &err) < 0)
		fail_msg("the project recipe does not build: %s: %s", err.code, err.msg);
	for (int threads = 1; threads <= 2; threads++) {
		float *plain = NULL, *boxed = NULL;
		size_t n1 = 0, n2 = 0;

		if (real_run(bi.runner, NULL, threads, &plain, &n1, &err) < 0)
			fail_msg("project recipe, no sandbox: %s: %s", err.code, err.msg);
		test_config(&cfg, threads);
		cfg.cpu_seconds = 60; /* the recipe's real work, under ASan's neighbour load */
		assert_int_equal(sandbox_new(&sb, &cfg, bi.runner, &err), 0);
		if (real_run(bi.runner, sb, threads, &boxed, &n2, &err) < 0)
			fail_msg("project recipe, sandboxed, %d threads: %s: %s", threads, err.code, err.msg);
		assert_int_equal(n1, n2);
		assert_memory_equal(plain, boxed, n1 * sizeof *plain);
		sandbox_free(sb);
		free(plain);
		free(boxed);
	}
}

/* ---- attacks ------------------------------------------------------------ */

static void test_open_file_is_violation(void **state)
{
	struct outcome *o = calloc(1, sizeof *o);

	(void)state;
	attack_case("open_file", "sandbox.violation", "create", 1, 0, o);
	free(o);
}

/* A recipe's own seccomp_load, a no-op, does not replace libseccomp's for
 * the harness: the inner layer still stops the open. */
static void test_interposed_seccomp_is_violation(void **state)
{
	struct outcome *o = calloc(1, sizeof *o);

	(void)state;
	attack_case("open_file+interpose", "sandbox.violation", "create", 1, 0, o);
	free(o);
}

/* A recipe file named seccomp.h does not stand in for libseccomp's header
 * when the harness is compiled: the inner layer still stops the open. */
static void test_shadowed_header_is_violation(void **state)
{
	struct outcome *o = calloc(1, sizeof *o);

	(void)state;
	attack_case("open_file+shadow_header", "sandbox.violation", "create", 1, 0, o);
	free(o);
}

static void test_fopen_file_is_violation(void **state)
{
	struct outcome *o = calloc(1, sizeof *o);

	(void)state;
	attack_case("fopen_file", "sandbox.violation", "create", 1, 0, o);
	free(o);
}

static void test_socket_connect_is_violation_and_never_connects(void **state)
{
	struct outcome *o = calloc(1, sizeof *o);
	int c;

	(void)state;
	attack_case("socket_connect", "sandbox.violation", "create", listen_port, 0, o);
	c = accept(listen_fd, NULL, NULL);
	assert_int_equal(c, -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	free(o);
}

static void test_fork_is_violation(void **state)
{
	struct outcome *o = calloc(1, sizeof *o);

	(void)state;
	attack_case("fork", "sandbox.violation", "create", 1, 0, o);
	free(o);
}

static void test_exec_shell_is_violation(void **state)
{
	struct outcome *o = calloc(1, sizeof *o);

	(void)state;
	attack_case("exec_shell", "sandbox.violation", "create", 1, 0, o);
	free(o);
}

static void test_write_file_is_violation_and_creates_nothing(void **state)
{
	struct outcome *o = calloc(1, sizeof *o);
	uint64_t seed = ((uint64_t)getpid() << 20) ^ (uint64_t)time(NULL);
	char path[128];
	struct stat st;

	(void)state;
	snprintf(path, sizeof path, "/tmp/karpa-sandbox-escape-%llu", (unsigned long long)seed);
	attack_case("write_file", "sandbox.violation", "create", seed, 0, o);
	assert_int_equal(stat(path, &st), -1);
	free(o);
}

static void test_memory_hog_is_memory(void **state)
{
	struct outcome *o = calloc(1, sizeof *o);

	(void)state;
	attack_case("memory_hog", "sandbox.memory", "train_step", 1, 0, o);
	free(o);
}

static void test_busy_loop_is_cpu_limit(void **state)
{
	struct outcome *o = calloc(1, sizeof *o);

	(void)state;
	attack_case("busy_loop", "sandbox.cpu_limit", "train_step", 1, 0, o);
	free(o);
}

static void test_sleeper_is_timeout(void **state)
{
	struct outcome *o = calloc(1, sizeof *o);

	(void)state;
	attack_case("sleeper", "recipe.timeout", "logits", 1, SLEEPER_TIMEOUT_MS, o);
	free(o);
}

/* ---- the overall deadline (a judgment's) ------------------------------- */

/* Runs attack under a generous per-call timeout and CPU limit and an
 * overall deadline DEADLINE_MS from now: it must end with recipe.deadline
 * at want_stage, within DEADLINE_SLACK_S of the deadline. */
static void deadline_case(const char *attack, const char *want_stage, int calls)
{
	char runner[FS_PATH_MAX];
	struct sandbox_config cfg;
	struct sandbox *sb;
	struct kerr err;
	struct outcome *o = calloc(1, sizeof *o);
	struct timespec t0, t1;
	double took;

	assert_non_null(o);
	build(attack, runner);
	test_config(&cfg, 2);
	cfg.cpu_seconds = 600;                      /* not the CPU limit: the deadline */
	cfg.timeout_ms = SANDBOX_TIMEOUT_MS_DEFAULT; /* nor the per-call timeout */
	cfg.deadline_ms = recipe_pipe_now_ms() + DEADLINE_MS;
	if (sandbox_new(&sb, &cfg, runner, &err) < 0)
		fail_msg("sandbox_new: %s: %s", err.code, err.msg);
	logits_calls = calls;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	drive(runner, sb, 1, 2, o);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	logits_calls = 1;
	took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	print_message("   %-15s %s at %s (%.2fs) %s\n", attack, o->ok ? "ok" : o->err.code, o->stage, took, o->err.msg);
	assert_false(o->ok);
	if (strcmp(o->err.code, "recipe.deadline") || strcmp(o->stage, want_stage))
		fail_msg("%s: expected recipe.deadline at %s, got %s at %s: %s", attack, want_stage, o->err.code,
			 o->stage, o->err.msg);
	assert_true(took < DEADLINE_MS / 1e3 + DEADLINE_SLACK_S);
	sandbox_free(sb);
	free(o);
}

/* Sleeping forever in one call: the call ends at the deadline, not after
 * the per-call timeout. */
static void test_sleeper_stopped_by_deadline(void **state)
{
	(void)state;
	deadline_case("sleeper", "logits", 1);
}

/* A busy loop under a CPU limit it will not reach in time. */
static void test_busy_loop_stopped_by_deadline(void **state)
{
	(void)state;
	deadline_case("busy_loop", "train_step", 1);
}

/* Many calls, each far under the per-call timeout: only the overall
 * deadline bounds their sum. */
static void test_slow_calls_stopped_by_deadline(void **state)
{
	(void)state;
	deadline_case("slow_logits", "logits", SLOW_CALLS);
}

/* ---- output ---------------------------------------------------------- */

/* A thread started by a constructor, before the inner layer, is under it
 * once main has loaded it (the filter is synchronised to every thread):
 * its forbidden call kills the runner. */
static void test_constructor_thread_is_under_the_inner_layer(void **state)
{
	struct outcome *o = calloc(1, sizeof *o);

	(void)state;
	attack_case("ctor_thread", "sandbox.violation", "create", 1, 0, o);
	free(o);
}

/* No holes punched in shared memory (the bulk region, recipe_wire.h):
 * madvise(MADV_REMOVE) is refused, other advice is not (glibc's free). */
static void test_madv_remove_is_refused(void **state)
{
	struct outcome *o = calloc(1, sizeof *o);

	(void)state;
	attack_case("madv_remove", NULL, NULL, 1, 0, o);
	assert_string_equal(o->name, "refused");
	free(o);
}

/* A num_threads(64) clause overrides OMP_NUM_THREADS; OMP_THREAD_LIMIT in
 * the child's environment holds the recipe to the threads it was given
 * (2 here), as RLIMIT_NPROC would not for a validator running as root. */
static void test_omp_threads_are_capped(void **state)
{
	struct outcome *o = calloc(1, sizeof *o);

	(void)state;
	assert_non_null(o);
	attack_case("omp_threads", NULL, NULL, 1, 0, o);
	assert_string_equal(o->name, "threads2");
	free(o);
}

/* A recipe printing megabytes works, and none of it reaches this
 * process's stderr, which is a pipe here as under a service manager (a
 * regular file would have been swapped for /dev/null by the sandbox). */
static void test_noisy_output_is_dropped(void **state)
{
	struct outcome *o = calloc(1, sizeof *o);
	int p[2], saved = dup(2);
	size_t seen = 0;
	char buf[65536];
	ssize_t r;

	(void)state;
	assert_non_null(o);
	assert_true(saved >= 0);
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	fflush(stderr);
	assert_true(dup2(p[1], 2) >= 0);
	attack_case("noisy", NULL, NULL, 1, 0, o);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(p[1]);
	while ((r = read(p[0], buf, sizeof buf)) > 0)
		seen += (size_t)r;
	close(p[0]);
	print_message("   noisy: %zu bytes reached our stderr\n", seen);
	assert_true(seen <= NOISE_SEEN_MAX);
	free(o);
}

static void test_stdout_garbage_cannot_touch_protocol(void **state)
{
	struct outcome *o = calloc(1, sizeof *o);

	(void)state;
	attack_case("stdout_garbage", NULL, NULL, 1, 0, o);
	free(o);
}

static void test_protocol_fd_garbage_is_protocol(void **state)
{
	struct outcome *o = calloc(1, sizeof *o);

	(void)state;
	attack_case("protocol_fd", "recipe.protocol", "train_step", 1, 0, o);
	free(o);
}

static void test_constructor_socket_is_violation(void **state)
{
	struct outcome *o = calloc(1, sizeof *o);

	(void)state;
	attack_case("ctor_socket", "sandbox.violation", "create", 1, 0, o);
	free(o);
}

/* A constructor runs before the inner layer, where read-only opens must
 * still work for the loader; Landlock, when the kernel has it, is what
 * keeps it out of files. */
static void test_constructor_read_blocked_by_landlock(void **state)
{
	struct outcome *o = calloc(1, sizeof *o);

	(void)state;
	attack_case("ctor_read", NULL, NULL, 1, 0, o);
	if (o->rep.applied & SANDBOX_LANDLOCK)
		assert_string_equal(o->name, "blocked");
	else
		print_message("   Landlock unavailable here: constructor read %s\n", o->name);
	free(o);
}

/* ---- runs outside a judgment (runbox.h) -------------------------------- */

/* Creates attack's recipe (NULL: the honest bigram) through a runbox
 * under mode and returns the plan's name, or the error's code (after
 * runbox_explain when the child had started). */
static void box_create(const char *attack, enum runbox_mode mode, char *out, size_t cap, char *desc, size_t dcap)
{
	struct recipe_build_info bi;
	struct recipe_host h;
	struct runbox rb;
	struct kr_env env = { .seed = 1, .threads = 1, .vocab_size = VOCAB, .scale = "tiny" };
	struct kr_plan plan;
	struct kerr err = { 0 };
	int fds = count_fds();

	build_info(attack, &bi);
	desc[0] = '\0';
	if (runbox_spawn(&rb, &bi, 1, mode, &h, &err) < 0) {
		snprintf(out, cap, "%s", err.code);
		print_message("   %-10s mode %d: %s: %s\n", attack ? attack : "bigram", (int)mode, err.code, err.msg);
		return;
	}
	if (recipe_host_create(&h, &env, &plan, &err) < 0) {
		runbox_explain(&rb, &h, &err);
		snprintf(out, cap, "%s", err.code);
	} else
		snprintf(out, cap, "%s", plan.name);
	runbox_describe(&rb, desc, dcap);
	recipe_host_destroy(&h);
	runbox_free(&rb);
	assert_int_equal(count_fds(), fds);
	print_message("   %-10s mode %d: %s: %s\n", attack ? attack : "bigram", (int)mode, out, desc);
}

/* A miner runs code it did not write (the king's, a proposer's patch):
 * the attacks that reach its files unconfined are stopped by default. */
static void test_miner_runs_are_confined(void **state)
{
	char got[KR_NAME_MAX], desc[320];

	(void)state;
	/* unconfined, the attacks work: what the sandbox stops is real */
	box_create("open_file", RUNBOX_OFF, got, sizeof got, desc, sizeof desc);
	assert_string_equal(got, "leaked");
	assert_string_equal(desc, "not sandboxed (--no-sandbox)");
	box_create("ctor_read", RUNBOX_OFF, got, sizeof got, desc, sizeof desc);
	assert_string_equal(got, "leaked");
	/* confined: the inner layer kills the open, and the code says so */
	box_create("open_file", RUNBOX_ON, got, sizeof got, desc, sizeof desc);
	assert_string_equal(got, "sandbox.violation");
	if (strncmp(desc, "sandboxed: ", 11) || !strstr(desc, "seccomp"))
		fail_msg("described as \"%s\"", desc);
	/* a constructor runs before the inner layer: Landlock's part */
	box_create("ctor_read", RUNBOX_ON, got, sizeof got, desc, sizeof desc);
	if (strstr(desc, "landlock"))
		assert_string_equal(got, "blocked");
	else
		print_message("   Landlock unavailable here: a miner's constructor read %s\n", got);
	/* an honest recipe is unharmed */
	box_create(NULL, RUNBOX_ON, got, sizeof got, desc, sizeof desc);
	assert_string_equal(got, "bigram");
}

/* A validator's own run of a king (its sample) is held to what a judgment
 * requires; a runner under an emulator cannot be, and is refused. */
static void test_validator_runs_require_the_layers(void **state)
{
	struct recipe_build_info bi;
	struct recipe_host h;
	struct runbox rb;
	struct kerr err = { 0 };
	char got[KR_NAME_MAX], desc[320];

	(void)state;
	box_create("ctor_read", RUNBOX_VALIDATOR, got, sizeof got, desc, sizeof desc);
	if (!strcmp(got, "sandbox.unavailable") || !strcmp(got, "sandbox.setup")) {
		/* only a kernel without Landlock (refused before the child) or
		 * without namespaces (refused by the child) may refuse */
		print_message("   this kernel cannot confine a validator's run\n");
	} else {
		assert_string_equal(got, "blocked");
		if (!strstr(desc, " landlock ") || !strstr(desc, " netns "))
			fail_msg("a validator's run was \"%s\"", desc);
	}
	build_info("ctor_read", &bi);
	snprintf(bi.emulator, sizeof bi.emulator, "/usr/bin/qemu-aarch64");
	assert_int_equal(runbox_spawn(&rb, &bi, 1, RUNBOX_VALIDATOR, &h, &err), -1);
	assert_string_equal(err.code, "sandbox.unavailable");
	assert_null(rb.sb);
}

/* A listening Unix socket, non-blocking, at a path or (leading '@') an
 * abstract name, that this process can reach: the GPU profile's socket
 * probe (unix_socket) must not. */
static int unix_listener(const char *name)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	size_t n = strlen(name);
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (name[0] != '@'));
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), c, ok;

	assert_true(s >= 0 && n < sizeof a.sun_path);
	memcpy(a.sun_path, name, n);
	if (name[0] == '@')
		a.sun_path[0] = '\0';
	assert_int_equal(bind(s, (struct sockaddr *)&a, len), 0);
	assert_int_equal(listen(s, 4), 0);
	/* reachable from outside the sandbox: the probe means something */
	c = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	ok = c >= 0 && connect(c, (struct sockaddr *)&a, len) == 0;
	assert_true(ok);
	close(c);
	c = accept(s, NULL, NULL);
	assert_true(c >= 0);
	close(c);
	return s;
}

/* The driver's Unix socket (bound to an abstract name, listened on) works
 * in the GPU profile; reaching the validator's sockets by path or abstract
 * name, binding to a path and other socket families do not. seed is this
 * process's pid, which the recipe's constructor finds as its parent's. */
static void gpu_unix_sockets(uint64_t seed, struct outcome *o)
{
	char path[96], abs[96], bound[96];
	struct stat st;
	int lp, la;

	snprintf(path, sizeof path, "/tmp/karpa-sandbox-unix-%llu", (unsigned long long)seed);
	snprintf(abs, sizeof abs, "@karpa-sandbox-abs-%llu", (unsigned long long)seed);
	snprintf(bound, sizeof bound, "/tmp/karpa-sandbox-bind-%llu", (unsigned long long)seed);
	unlink(path);
	lp = unix_listener(path);
	la = unix_listener(abs);
	attack_case("unix_socket", NULL, NULL, seed, 0, o);
	assert_string_equal(o->name, "sock.bound-early-sock.bound");
	assert_int_equal(accept(lp, NULL, NULL), -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	assert_int_equal(accept(la, NULL, NULL), -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	assert_int_equal(stat(bound, &st), -1);
	close(lp);
	close(la);
	unlink(path);
}

/* The GPU runner's profile (docs/sandbox.md, "A GPU runner") lets opens,
 * ioctls and socket calls past seccomp for the CUDA driver and leaves the
 * paths to Landlock: on a machine without a GPU, the attacks that used to
 * be killed now fail quietly and still reach nothing, and the rest are
 * still killed. */
static void test_gpu_profile_keeps_files_and_network_out(void **state)
{
	struct outcome *o = calloc(1, sizeof *o);
	uint64_t seed = ((uint64_t)getpid() << 20) ^ (uint64_t)time(NULL) ^ 1;
	char path[128], runner[FS_PATH_MAX];
	struct sandbox_config cfg;
	struct sandbox *sb;
	struct kerr err;
	struct stat st;
	int c;

	(void)state;
	assert_non_null(o);
	build(NULL, runner);
	gpu_profile = 1;
	/* the loader's folders are read by their libraries alone: / grants
	 * nothing else, a file in the list is passed over */
	setenv("LD_LIBRARY_PATH", "/:/etc/passwd", 1);
	test_config(&cfg, 2);
	if (sandbox_new(&sb, &cfg, runner, &err) < 0) {
		assert_string_equal(err.code, "sandbox.unavailable");
		print_message("   Landlock unavailable here: %s\n", err.msg);
		gpu_profile = 0;
		free(o);
		skip();
	}
	sandbox_free(sb);
	attack_case(NULL, NULL, NULL, 3, 0, o);
	assert_true(o->rep.applied & SANDBOX_GPU);
	attack_case("open_file", NULL, NULL, 1, 0, o);
	assert_string_not_equal(o->name, "leaked");
	snprintf(path, sizeof path, "/tmp/karpa-sandbox-escape-%llu", (unsigned long long)seed);
	attack_case("write_file", NULL, NULL, seed, 0, o);
	assert_int_equal(stat(path, &st), -1);
	attack_case("socket_connect", NULL, NULL, listen_port, 0, o);
	c = accept(listen_fd, NULL, NULL);
	assert_int_equal(c, -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	attack_case("fd_owner", NULL, NULL, (uint64_t)getpid(), 0, o);
	assert_string_not_equal(o->name, "owner");
	assert_int_equal(got_sigterm, 0);
	/* the driver names its threads through its own task/ files; the
	 * validator's /proc entry, the host's mounts and the runner's
	 * process-wide files stay out */
	attack_case("thread_name", NULL, NULL, (uint64_t)getpid(), 0, o);
	assert_string_equal(o->name, "named");
	/* the profile's environment, and nothing of the validator's */
	setenv("HOME", "/root", 0);
	setenv("CUDA_VISIBLE_DEVICES", "3", 1);
	attack_case("gpu_env", NULL, NULL, 1, 0, o);
	assert_string_equal(o->name, "gpu1.cache1.order1.home-.vis-");
	/* a miner's run passes its pinned GPUs on, and nothing to parse */
	cuda_visible = "1,GPU-7f3e";
	attack_case("gpu_env", NULL, NULL, 1, 0, o);
	assert_string_equal(o->name, "gpu1.cache1.order1.home-.vis1+GPU-7f3e");
	/* nothing else: no shell words, no MIG instance the profile cannot
	 * open */
	for (int i = 0; i < 2; i++) {
		cuda_visible = i ? "MIG-7f3e" : "0;touch /tmp/x";
		test_config(&cfg, 2);
		assert_int_equal(sandbox_new(&sb, &cfg, runner, &err), -1);
		assert_string_equal(err.code, "sandbox.config");
	}
	cuda_visible = NULL;
	unsetenv("CUDA_VISIBLE_DEVICES");
	gpu_unix_sockets((uint64_t)getpid(), o);
	attack_case("fork", "sandbox.violation", "create", 1, 0, o);
	attack_case("exec_shell", "sandbox.violation", "create", 1, 0, o);
	gpu_profile = 0;
	free(o);
}

/* A failed assertion leaves the test early: the next tests must not run
 * under the GPU profile. */
static int gpu_profile_off(void **state)
{
	(void)state;
	cuda_visible = NULL;
	unsetenv("CUDA_VISIBLE_DEVICES");
	gpu_profile = 0;
	unsetenv("LD_LIBRARY_PATH");
	return 0;
}

/* Code before the runner's main meets the outer layer alone: what reaches
 * into the host is refused there (ctor_host: the validator's CPUs and its
 * own by pid, MADV_REMOVE, inotify, the parent-death signal, file_setattr
 * on a file of this process's outside the sandbox, which fails closed with
 * every system call newer than the deny list). This process keeps its
 * CPUs, and the file its flags. */
static void test_constructor_cannot_reach_the_host(void **state)
{
	struct outcome *o = calloc(1, sizeof *o);
	cpu_set_t before, after;
	char victim[64];
	int fd;

	(void)state;
	snprintf(victim, sizeof victim, "/tmp/karpa-ctor-host-%d", (int)getpid());
	fd = open(victim, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(sched_getaffinity(0, sizeof before, &before), 0);
	attack_case("ctor_host", NULL, NULL, 1, 0, o);
	assert_int_equal(sched_getaffinity(0, sizeof after, &after), 0);
	if (!CPU_EQUAL(&before, &after))
		sched_setaffinity(0, sizeof before, &before);
	unlink(victim);
	assert_string_equal(o->name, "rrrrrr");
	assert_true(CPU_EQUAL(&before, &after));
	free(o);
}

static void test_kill_parent_is_refused(void **state)
{
	struct outcome *o = calloc(1, sizeof *o);
	struct sigaction sa = { .sa_handler = on_sigterm }, old;

	(void)state;
	got_sigterm = 0;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGTERM, &sa, &old), 0);
	attack_case("kill_parent", NULL, NULL, (uint64_t)getpid(), 0, o);
	sigaction(SIGTERM, &old, NULL);
	assert_int_equal(got_sigterm, 0);
	free(o);
}

/* A recipe that exits with the preparation's own code, or with the code a
 * failed exec leaves, after exec is a recipe that died, not a sandbox that
 * could not be set up. */
static void test_exit_code_of_setup_is_not_setup(void **state)
{
	struct outcome *o = calloc(1, sizeof *o);

	(void)state;
	attack_case("exit_setup", "recipe.died", "create", 1, 0, o);
	attack_case("exit_exec", "recipe.died", "create", 1, 0, o);
	free(o);
}

/* A runner that cannot be executed once the sandbox is built (its mode
 * changed in between) is sandbox.setup, with the reason. */
static void test_exec_failure_is_setup(void **state)
{
	char runner[FS_PATH_MAX], *dir = tu_mkdtemp(), copy_to[FS_PATH_MAX];
	struct sandbox_config cfg;
	struct sandbox *sb;
	struct kerr err;
	struct outcome *o = calloc(1, sizeof *o);

	(void)state;
	build(NULL, runner);
	snprintf(copy_to, sizeof copy_to, "%s/karpa-recipe", dir);
	tu_run_want(NULL, 0, 0, "cp %s %s", runner, copy_to);
	test_config(&cfg, 1);
	assert_int_equal(sandbox_new(&sb, &cfg, copy_to, &err), 0);
	assert_int_equal(chmod(copy_to, 0644), 0);
	drive(copy_to, sb, 1, 1, o);
	assert_false(o->ok);
	print_message("   not executable  %s: %s\n", o->err.code, o->err.msg);
	assert_string_equal(o->err.code, "sandbox.setup");
	assert_non_null(strstr(o->err.msg, "could not be executed"));
	assert_non_null(strstr(o->err.msg, strerror(EACCES)));
	sandbox_free(sb);
	free(o);
	tu_rmdir(dir);
}

/* A sandbox that is asked for something the runner cannot have fails
 * before exec with sandbox.setup, not later with something vaguer. */
static void test_setup_failure_is_reported(void **state)
{
	char runner[FS_PATH_MAX];
	struct sandbox_config cfg;
	struct sandbox *sb;
	struct kerr err;
	struct outcome *o = calloc(1, sizeof *o);

	(void)state;
	build(NULL, runner);
	test_config(&cfg, 1);
	/* Far above any hard limit a process may raise itself to: refused. */
	cfg.nofile = 1u << 30;
	assert_int_equal(sandbox_new(&sb, &cfg, runner, &err), 0);
	drive(runner, sb, 1, 1, o);
	assert_false(o->ok);
	assert_string_equal(o->err.code, "sandbox.setup");
	sandbox_free(sb);
	free(o);
}

/* ---- setup ---------------------------------------------------------------- */

static int group_setup(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof a;
	const char *s = getenv("KARPA_SRC");

	(void)state;
	cache_dir = tu_mkdtemp();
	setenv("KARPA_CACHE", cache_dir, 1);
	unsetenv("KARPA_SANDBOX");
	snprintf(src_dir, sizeof src_dir, "%s", s && *s ? s : recipe_build_src_dir());
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(listen_fd, 4) < 0 ||
	    getsockname(listen_fd, (struct sockaddr *)&a, &len) < 0)
		return -1;
	listen_port = ntohs(a.sin_port);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (listen_fd >= 0)
		close(listen_fd);
	tu_rmdir(cache_dir);
	return 0;
}

/* A validator misconfigured, or pointed at something that is not a runner,
 * is refused before any child starts: a sandbox it cannot build must never
 * quietly become no sandbox. */
/* A validator with only 0, 1 and 2 open gets descriptor 3 for the first
 * thing it opens, the Landlock ruleset; the child then puts the bulk
 * region at 3 (recipe_wire.h). The ruleset must not be there, or the child
 * would restrict itself with the region (EBADFD) and run without
 * Landlock. Here 3 is freed first, then the bigram runs with its logits
 * through the region: Landlock applied, and the same logits. */
static void test_ruleset_not_at_the_region_fd(void **state)
{
	struct outcome *plain = calloc(1, sizeof *plain), *boxed = calloc(1, sizeof *boxed);
	char runner[FS_PATH_MAX];
	struct sandbox_config cfg;
	struct sandbox *sb;
	struct kerr err;
	int saved = fcntl(3, F_DUPFD_CLOEXEC, 64);

	(void)state;
	assert_non_null(plain);
	assert_non_null(boxed);
	build(NULL, runner);
	drive(runner, NULL, 1, 2, plain);
	assert_true(plain->ok);
	if (saved >= 0)
		close(3);
	assert_int_equal(fcntl(3, F_GETFD), -1);
	test_config(&cfg, 2);
	cfg.require_landlock = 0; /* the default: a missing layer is only noted */
	assert_int_equal(sandbox_new(&sb, &cfg, runner, &err), 0);
	bulk_all = 1;
	drive(runner, sb, 1, 2, boxed);
	bulk_all = 0;
	sandbox_free(sb);
	if (saved >= 0) {
		assert_int_equal(dup2(saved, 3), 3);
		close(saved);
	}
	if (!boxed->ok)
		fail_msg("sandboxed bigram: %s: %s", boxed->err.code, boxed->err.msg);
	if (boxed->rep.applied & SANDBOX_LANDLOCK)
		print_message("   landlock applied with the ruleset opened at the lowest free descriptor\n");
	else if (syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) >= 1)
		fail_msg("Landlock not applied though the kernel has it: %s", boxed->rep.notes);
	else
		print_message("   Landlock unavailable here\n");
	assert_memory_equal(plain->logits, boxed->logits, sizeof plain->logits);
	free(plain);
	free(boxed);
}

static void test_bad_config_and_runner_refused(void **state)
{
	char script[FS_PATH_MAX];
	struct sandbox_config cfg;
	struct sandbox *sb = NULL;
	struct kerr err = { 0 };
	char *dir = tu_mkdtemp();
	FILE *f;

	test_config(&cfg, 1);
	cfg.threads = 0;
	assert_int_equal(sandbox_new(&sb, &cfg, "/bin/true", &err), -1);
	assert_string_equal(err.code, "sandbox.config");
	test_config(&cfg, 1);
	cfg.timeout_ms = -1;
	assert_int_equal(sandbox_new(&sb, &cfg, "/bin/true", &err), -1);
	assert_string_equal(err.code, "sandbox.config");
	test_config(&cfg, 1);
	assert_int_equal(sandbox_new(&sb, &cfg, "bin/true", &err), -1); /* relative */
	assert_string_equal(err.code, "sandbox.runner");
	snprintf(script, sizeof script, "%s/runner.sh", dir);
	f = fopen(script, "w");
	assert_non_null(f);
	fputs("#!/bin/sh\nexit 0\n", f);
	fclose(f);
	assert_int_equal(chmod(script, 0755), 0);
	assert_int_equal(sandbox_new(&sb, &cfg, script, &err), -1); /* not an ELF: no interpreter to allow */
	assert_string_equal(err.code, "sandbox.runner");
	assert_null(sb);
	tu_rmdir(dir);
}

int main(void)
{
	/* the attacks are calls the symbol check refuses at build time: the
	 * sandbox must stop them on its own */
	recipe_build_test_skip_symcheck(1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_honest_bigram_same_under_sandbox),
		cmocka_unit_test(test_project_recipe_same_under_sandbox),
		cmocka_unit_test(test_open_file_is_violation),
		cmocka_unit_test(test_interposed_seccomp_is_violation),
		cmocka_unit_test(test_shadowed_header_is_violation),
		cmocka_unit_test(test_fopen_file_is_violation),
		cmocka_unit_test(test_socket_connect_is_violation_and_never_connects),
		cmocka_unit_test(test_fork_is_violation),
		cmocka_unit_test(test_exec_shell_is_violation),
		cmocka_unit_test(test_write_file_is_violation_and_creates_nothing),
		cmocka_unit_test(test_memory_hog_is_memory),
		cmocka_unit_test(test_busy_loop_is_cpu_limit),
		cmocka_unit_test(test_sleeper_is_timeout),
		cmocka_unit_test(test_sleeper_stopped_by_deadline),
		cmocka_unit_test(test_busy_loop_stopped_by_deadline),
		cmocka_unit_test(test_slow_calls_stopped_by_deadline),
		cmocka_unit_test(test_noisy_output_is_dropped),
		cmocka_unit_test(test_omp_threads_are_capped),
		cmocka_unit_test(test_stdout_garbage_cannot_touch_protocol),
		cmocka_unit_test(test_protocol_fd_garbage_is_protocol),
		cmocka_unit_test(test_constructor_socket_is_violation),
		cmocka_unit_test(test_constructor_thread_is_under_the_inner_layer),
		cmocka_unit_test(test_madv_remove_is_refused),
		cmocka_unit_test(test_constructor_read_blocked_by_landlock),
		cmocka_unit_test(test_miner_runs_are_confined),
		cmocka_unit_test(test_validator_runs_require_the_layers),
		cmocka_unit_test_teardown(test_gpu_profile_keeps_files_and_network_out, gpu_profile_off),
		cmocka_unit_test(test_kill_parent_is_refused),
		cmocka_unit_test(test_constructor_cannot_reach_the_host),
		cmocka_unit_test(test_exit_code_of_setup_is_not_setup),
		cmocka_unit_test(test_setup_failure_is_reported),
		cmocka_unit_test(test_exec_failure_is_setup),
		cmocka_unit_test(test_bad_config_and_runner_refused),
		cmocka_unit_test(test_ruleset_not_at_the_region_fd),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
