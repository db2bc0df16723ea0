/* test_train.c: the training loop end to end. First through the library
 * with a small fake recipe (a bigram counter, so the run is fast and its
 * state is easy to reason about), then through the CLI with the real recipe:
 * karpa data prepare -> karpa train -> karpa eval, and every refusal. */
#include "fixtures.h"

#include <jansson.h>
#include <math.h>

#include "harness/checkpoint.h"
#include "harness/train.h"
#include "harness/trainlog.h"
#include "sandbox/recipe_build.h"
#include "sandbox/recipe_pipe.h"
#include "util/hash.h"
#include "util/progress.h"

static char *work;
static char data[FS_PATH_MAX];

/* ---- a fake recipe: bigram counts ------------------------------------- */

struct bigram {
	struct fx_bigram fx; /* first: the shared bigram functions see this */
	const char *name;
	int nan_at;    /* step whose loss is NaN; -1 never */
	int64_t steps, ckpt_every;
	int pinned;    /* created with a gemm table (kr_env.gemm) */
	int evaluated; /* a logits call happened */
};

/* What the fake reports as its gemm table (bg_gemm): gemm_a after a
 * training step, gemm_b (one row more) once it has scored logits, or
 * gemm_cut when gemm_broken is set. */
static const char gemm_a[] =
	"karpa-gemm-1 cublaslt=7\n"
	"fwd TN m=8 n=64 k=8 lda=8 ldb=8 ldd=8 ab=f32 d=f32 epi=none compute=f32 algo=1 tile=2 stages=3 "
	"splitk=1 red=0 swizzle=0 custom=0 inner=0 cluster=0\n";
static const char gemm_b[] =
	"karpa-gemm-1 cublaslt=7\n"
	"fwd TN m=8 n=48 k=8 lda=8 ldb=8 ldd=8 ab=f32 d=f32 epi=none compute=f32 algo=4 tile=2 stages=3 "
	"splitk=1 red=0 swizzle=0 custom=0 inner=0 cluster=0\n"
	"fwd TN m=8 n=64 k=8 lda=8 ldb=8 ldd=8 ab=f32 d=f32 epi=none compute=f32 algo=1 tile=2 stages=3 "
	"splitk=1 red=0 swizzle=0 custom=0 inner=0 cluster=0\n";
static int gemm_broken;
/* >= 0: the restart after that many more fails its create */
static int restart_fails_after = -1;
/* creates seen: without a table, with gemm_a, with anything else */
static int creates_unpinned, creates_pinned_a, creates_other;

static struct bigram proto = { .name = "fake-bigram", .nan_at = -1, .steps = 12, .ckpt_every = 4 };

static int bg_create(struct recipe_host *h, const struct kr_env *env, struct kr_plan *p,
		     struct kerr *err)
{
	struct bigram *b = malloc(sizeof *b);

	if (strcmp(env->scale, "tiny") != 0) {
		free(b);
		return kerr_set(err, "recipe.create", "recipe create failed: unknown scale '%s'",
				env->scale);
	}
	if (env->state_follows && restart_fails_after >= 0 && restart_fails_after-- == 0) {
		free(b);
		return kerr_set(err, "recipe.create", "the fake's create fails on this restart");
	}
	*b = proto;
	b->pinned = env->gemm && env->gemm[0];
	creates_unpinned += !b->pinned;
	creates_pinned_a += b->pinned && !strcmp(env->gemm, gemm_a);
	creates_other += b->pinned && strcmp(env->gemm, gemm_a);
	fx_bigram_init(&b->fx, env->vocab_size);
	h->impl = b;
	snprintf(p->name, sizeof p->name, "%s", b->name);
	snprintf(p->version, sizeof p->version, "1.0.0");
	p->batch = 4;
	p->seq_len = 16;
	p->eval_batch = 3;
	p->steps = b->steps;
	p->ckpt_every = b->ckpt_every;
	p->params = (int64_t)b->fx.V * b->fx.V;
	return 0;
}

static int bg_train(struct recipe_host *h, int64_t step, const uint16_t *t, float *loss, float *lr,
		    struct kerr *err)
{
	struct bigram *b = h->impl;
	double nll = fx_bigram_step(&b->fx, t, 4, 16);

	(void)err;
	*loss = step == b->nan_at ? NAN : (float)(nll / 64);
	*lr = 0.01f;
	return 0;
}

static void fake_host(struct recipe_host *h)
{
	fx_bigram_host(h, bg_create, bg_train);
}

static int bg_logits(struct recipe_host *h, const uint16_t *t, int rows, int T, float *out, struct kerr *err)
{
	((struct bigram *)h->impl)->evaluated = 1;
	return fx_bigram_logits(h, t, rows, T, out, err);
}

static int bg_gemm(struct recipe_host *h, char *buf, size_t cap, size_t *n, struct kerr *err)
{
	struct bigram *b = h->impl;
	const char *t = gemm_broken ? "karpa-gemm-1 cublaslt=7\nfwd TN" : b->evaluated ? gemm_b : gemm_a;

	(void)err;
	*n = strlen(t) < cap ? strlen(t) : cap - 1;
	memcpy(buf, t, *n);
	buf[*n] = '\0';
	return 0;
}

/* The fake with a gemm table, as a GPU recipe has. */
static void gemm_host(struct recipe_host *h)
{
	fake_host(h);
	h->logits = bg_logits;
	h->gemm = bg_gemm;
}

/* ---- fixtures --------------------------------------------------------- */

static const char *const vocab_words[] = {
	"river", "stone", "light", "garden", "winter", "paper", "window", "music", "market",
	"letter", "horse", "silver", "morning", "village", "engine", "harbor", "teacher", "orange",
	"the", "a", "of", "and", "to", "in", "was", "is", "on", "with", "by", "under", "near", "old",
};

static int setup(void **s)
{
	const struct fx_texts t = { vocab_words, sizeof vocab_words / sizeof vocab_words[0], 88172645463325252ull,
				    60, 300, 12, "text" };
	char out[4096];

	(void)s;
	hash_init_lib();
	work = tu_mkdtemp();
	if (fx_prepare_tiny(work, &t, data, sizeof data, out, sizeof out) != 0) {
		print_message("data prepare failed: %s\n", out);
		return -1;
	}
	return 0;
}

static int teardown(void **s)
{
	(void)s;
	tu_rmdir(work);
	return 0;
}

static void opts_for(struct train_opts *o, const char *out, int threads)
{
	memset(o, 0, sizeof *o);
	o->data_dir = data;
	o->scale = "tiny";
	o->out_dir = out;
	o->seed = 5;
	o->threads = threads;
}

/* Every checkpoint record's digest is the digest of the file it names. */
static void check_log_against_files(const char *rundir, int want_ckpts)
{
	char path[FS_PATH_MAX], *text, *line;
	size_t n;
	struct trainlog_summary sum;
	struct kerr err;
	int seen = 0;

	snprintf(path, sizeof path, "%s/train.log", rundir);
	assert_int_equal(trainlog_verify(path, &sum, &err), 0);
	if (want_ckpts >= 0)
		assert_int_equal(sum.checkpoints, want_ckpts);
	else
		assert_true(sum.checkpoints >= 1);
	assert_int_equal(fs_read_all(path, 1 << 24, &text, &n, &err), 0);
	for (line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		json_t *o = json_loads(line, 0, NULL), *f = json_object_get(o, "file");
		if (f) {
			char p[FS_PATH_MAX], sha[HASH_HEX_BYTES];
			snprintf(p, sizeof p, "%s/%s", rundir, json_string_value(f));
			assert_int_equal(hash_file_hex(p, sha, NULL, &err), 0);
			assert_string_equal(sha, json_string_value(json_object_get(o, "sha256")));
			seen++;
		}
		json_decref(o);
	}
	assert_int_equal(seen, sum.checkpoints);
	free(text);
}

/* ---- library tests with the fake recipe -------------------------------- */

static void run_leaves_complete_rundir(void **s)
{
	struct train_opts o;
	struct train_result r;
	struct recipe_host h;
	struct kerr err;
	struct eval_report rep;
	char out[FS_PATH_MAX], p[FS_PATH_MAX];
	json_t *res;

	(void)s;
	snprintf(out, sizeof out, "%s/run1", work);
	opts_for(&o, out, 1);
	fake_host(&h);
	if (train_run(&o, &h, &r, &err) < 0)
		fail_msg("%s: %s", err.code, err.msg);
	assert_int_equal(r.steps, 12);
	assert_int_equal(r.tokens, 12 * 4 * 16);
	assert_true(r.val.val_bpb > 0 && isfinite(r.val.val_bpb));
	/* The recipe asks for every 4 steps; the harness's largest gap for 12
	 * steps is ceil(12 / 8) = 2, so it checkpoints at 2, 4, ..., 10, and 12
	 * is the final one. */
	assert_int_equal(train_ckpt_gap_max(12), 2);
	for (int st = 2; st <= 12; st += 2) {
		snprintf(p, sizeof p, "%s/checkpoints/step_%06d.ckpt", out, st);
		assert_int_equal(fs_exists(p), st < 12);
	}
	check_log_against_files(out, 6);
	snprintf(p, sizeof p, "%s/result.json", out);
	res = tu_load_json(p);
	assert_string_equal(json_string_value(json_object_get(res, "format")), TRAIN_RESULT_FORMAT);
	assert_true(json_real_value(json_object_get(res, "val_bpb")) == r.val.val_bpb);
	assert_string_equal(json_string_value(json_object_get(res, "recipe")), "fake-bigram");
	assert_string_equal(json_string_value(json_object_get(res, "final_sha256")), r.final_sha256);
	assert_int_equal(json_integer_value(json_object_get(res, "seed")), 5);
	json_decref(res);
	/* The final checkpoint, loaded into a fresh recipe, scores the same. */
	snprintf(p, sizeof p, "%s/final.ckpt", out);
	fake_host(&h);
	if (train_eval_checkpoint(p, data, SPLIT_VAL, 2, 0, &h, &rep, &err) < 0)
		fail_msg("%s: %s", err.code, err.msg);
	assert_true(rep.res.val_bpb == r.val.val_bpb);
	assert_int_equal(rep.step, 12);
	assert_string_equal(rep.ckpt_sha256, r.final_sha256);
	/* A staging folder never outlives the run. */
	assert_int_equal(tu_run(NULL, 0, "ls -d %s/run1.tmp.* >/dev/null 2>&1", work), 2);
}

static void same_seed_same_bytes_any_threads(void **s)
{
	struct train_opts o;
	struct train_result a, b;
	struct recipe_host h;
	struct kerr err;
	char out[FS_PATH_MAX];

	(void)s;
	snprintf(out, sizeof out, "%s/det1", work);
	opts_for(&o, out, 1);
	fake_host(&h);
	assert_int_equal(train_run(&o, &h, &a, &err), 0);
	snprintf(out, sizeof out, "%s/det2//", work); /* trailing slashes are harmless */
	opts_for(&o, out, 2);
	fake_host(&h);
	assert_int_equal(train_run(&o, &h, &b, &err), 0);
	assert_int_equal(tu_run(NULL, 0, "test -f %s/det2/result.json", work), 0);
	assert_string_equal(a.final_sha256, b.final_sha256);
	assert_true(a.val.val_bpb == b.val.val_bpb);
	/* Another seed is another data order, so another model. */
	snprintf(out, sizeof out, "%s/det3", work);
	opts_for(&o, out, 1);
	o.seed = 6;
	fake_host(&h);
	assert_int_equal(train_run(&o, &h, &b, &err), 0);
	assert_string_not_equal(a.final_sha256, b.final_sha256);
}

/* A screening run (final_only) skips the intermediate checkpoints and the
 * restarts from them, and ends in the very bits of the run that made them;
 * its result.json says what it is, a proof's keeps the keys it had. */
static void final_only_same_bits_no_segments(void **s)
{
	struct train_opts o;
	struct train_result a, b;
	struct recipe_host h;
	struct kerr err;
	char out[FS_PATH_MAX], p[FS_PATH_MAX];
	json_t *res;

	(void)s;
	snprintf(out, sizeof out, "%s/fo-full", work);
	opts_for(&o, out, 1);
	fake_host(&h);
	if (train_run(&o, &h, &a, &err) < 0)
		fail_msg("%s: %s", err.code, err.msg);
	snprintf(out, sizeof out, "%s/fo-screen", work);
	opts_for(&o, out, 2);
	o.final_only = 1;
	fake_host(&h);
	if (train_run(&o, &h, &b, &err) < 0)
		fail_msg("%s: %s", err.code, err.msg);
	assert_string_equal(a.final_sha256, b.final_sha256);
	assert_true(a.val.val_bpb == b.val.val_bpb);
	assert_int_equal(b.steps, 12);
	/* only the final checkpoint, in the files and in the log */
	check_log_against_files(out, 1);
	assert_int_equal(tu_run(NULL, 0, "test -z \"$(ls -A %s/checkpoints)\"", out), 0);
	snprintf(p, sizeof p, "%s/result.json", out);
	res = tu_load_json(p);
	assert_true(json_is_true(json_object_get(res, "final_only")));
	json_decref(res);
	snprintf(p, sizeof p, "%s/fo-full/result.json", work);
	res = tu_load_json(p);
	assert_null(json_object_get(res, "final_only"));
	json_decref(res);
}

/* A restart that fails while the checkpoint's file is being written on its
 * thread: the run fails with the restart's reason and leaves nothing, no
 * RUNDIR and no staging folder or temporary beside it. */
static void restart_failure_leaves_nothing(void **s)
{
	struct train_opts o;
	struct train_result r;
	struct recipe_host h;
	struct kerr err;
	char out[FS_PATH_MAX];

	(void)s;
	snprintf(out, sizeof out, "%s/restart-fails", work);
	opts_for(&o, out, 1);
	fake_host(&h);
	restart_fails_after = 2; /* the third checkpoint's restart */
	assert_int_equal(train_run(&o, &h, &r, &err), -1);
	restart_fails_after = -1;
	assert_string_equal(err.code, "recipe.create");
	assert_int_equal(fs_exists(out), 0);
	assert_int_equal(tu_run(NULL, 0, "ls -d %s/restart-fails* >/dev/null 2>&1", work), 2);
}

/* The sandbox tests' bigram recipe, with attack's hook file (NULL: none),
 * built into the work folder's own cache; its runner's path into runner. */
static void build_bigram(const char *attack, char runner[FS_PATH_MAX])
{
	const char *src = getenv("KARPA_SRC"), *was = getenv("KARPA_CACHE");
	char dir[FS_PATH_MAX], cache[FS_PATH_MAX], from[FS_PATH_MAX], keep[FS_PATH_MAX] = "";
	struct recipe_build_info bi;
	struct kerr err;

	src = src && *src ? src : recipe_build_src_dir();
	snprintf(dir, sizeof dir, "%s/recipe-%s", work, attack ? attack : "bigram");
	snprintf(cache, sizeof cache, "%s/cache", work);
	assert_int_equal(fs_mkdir_p(dir, &err), 0);
	snprintf(from, sizeof from, "%s/tests/hostile/recipes/bigram/bigram.c", src);
	snprintf(runner, FS_PATH_MAX, "%s/bigram.c", dir);
	assert_int_equal(fs_copy_file(from, runner, &err), 0);
	if (attack) {
		snprintf(from, sizeof from, "%s/tests/hostile/recipes/%s/attack.c", src, attack);
		snprintf(runner, FS_PATH_MAX, "%s/attack.c", dir);
		assert_int_equal(fs_copy_file(from, runner, &err), 0);
	}
	if (was)
		snprintf(keep, sizeof keep, "%s", was);
	setenv("KARPA_CACHE", cache, 1);
	/* a stall uses nanosleep, which a validator's check 1 refuses; the
	 * harness bounds it whatever the recipe calls */
	recipe_build_test_skip_symcheck(attack != NULL);
	if (recipe_build(dir, &bi, &err) < 0)
		fail_msg("build %s: %s: %s", dir, err.code, err.msg);
	recipe_build_test_skip_symcheck(0);
	if (keep[0])
		setenv("KARPA_CACHE", keep, 1);
	else
		unsetenv("KARPA_CACHE");
	snprintf(runner, FS_PATH_MAX, "%s", bi.runner);
}

/* Runs o on the runner under a host limit of host_ms, which must stop with
 * recipe.timeout saying want, within [min_ms, max_ms), leaving nothing. */
static void expect_stall(const struct train_opts *o, const char *runner, int64_t host_ms, const char *want,
			 double min_ms, double max_ms)
{
	struct train_result r;
	struct recipe_host h;
	struct kerr err;
	double t0, ms;

	assert_int_equal(recipe_host_pipe(&h, runner, NULL, NULL, &err), 0);
	assert_int_equal(recipe_pipe_set_timeout(&h, host_ms), 0);
	t0 = progress_now_ms();
	assert_int_equal(train_run(o, &h, &r, &err), -1);
	ms = progress_now_ms() - t0;
	print_message("    %s: %s (%.1f s)\n", err.code, err.msg, ms / 1e3);
	assert_string_equal(err.code, "recipe.timeout");
	assert_non_null(strstr(err.msg, want));
	assert_true(ms >= min_ms && ms < max_ms);
	assert_int_equal(fs_exists(o->out_dir), 0);
}

/* A step that never returns is stopped at TRAIN_STALL_FACTOR times the
 * slowest step before it (here the floor, shortened to 1 s, since the
 * bigram's steps take about a millisecond), not at the host's own limit
 * (20 s here, 10 minutes in the sandbox), and the run leaves nothing.
 * The first step of a fresh process warms up and has the host's limit:
 * with a checkpoint and a restart before every step, the stall at step 2
 * runs to the host's 4 s. A scoring call of the evaluation after training
 * is bounded the same way. The honest bigram runs its four steps, each
 * checkpointed and restarted from, under the same bound. */
static void stalled_step_is_stopped(void **s)
{
	struct train_opts o;
	struct train_result r;
	struct recipe_host h;
	struct kerr err;
	char runner[FS_PATH_MAX], out[FS_PATH_MAX];

	(void)s;
	snprintf(out, sizeof out, "%s/stalled", work);
	opts_for(&o, out, 1);
	o.stall_floor_ms = 1000;
	o.final_only = 1;
	build_bigram("stall_step", runner);
	expect_stall(&o, runner, 20000, "step 2: no reply within 1.0 s, the larger of 50 times", 1000, 15000);
	o.final_only = 0;
	expect_stall(&o, runner, 4000, "within 4000 ms", 4000, 15000);
	/* the sandbox tests' sleeper never returns from a scoring call: the
	 * evaluation after training has the bound too */
	build_bigram("sleeper", runner);
	expect_stall(&o, runner, 20000, "the evaluation's scoring call: no reply within 1.0 s", 1000, 15000);

	build_bigram(NULL, runner);
	assert_int_equal(recipe_host_pipe(&h, runner, NULL, NULL, &err), 0);
	assert_int_equal(recipe_pipe_set_timeout(&h, 20000), 0);
	if (train_run(&o, &h, &r, &err) < 0)
		fail_msg("%s: %s", err.code, err.msg);
	assert_int_equal(r.steps, 4);
}

/* A failed run lets its caller explain the failure while the host lives;
 * a run that succeeds never calls it. */
static void failure_is_explained_before_the_host_goes(void **s)
{
	struct train_opts o;
	struct train_result r;
	struct recipe_host h;
	struct kerr err;
	char out[FS_PATH_MAX];
	struct fx_fail seen = { .h = &h };

	(void)s;
	snprintf(out, sizeof out, "%s/explained", work);
	opts_for(&o, out, 1);
	o.on_fail = fx_on_fail;
	o.on_fail_arg = &seen;
	fake_host(&h);
	proto.nan_at = 6; /* a failure past a restart, with a recipe in the host */
	assert_int_equal(train_run(&o, &h, &r, &err), -1);
	proto.nan_at = -1;
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.saw_live_host, 1);
	assert_string_equal(err.code, "sandbox.violation");
	assert_string_equal(err.msg, "explained (was train.nonfinite)");
	assert_int_equal(fs_exists(out), 0);
	fake_host(&h);
	assert_int_equal(train_run(&o, &h, &r, &err), 0);
	assert_int_equal(seen.calls, 1);
	fs_rm_rf(out);
}

static void refusals_leave_nothing(void **s)
{
	struct train_opts o;
	struct train_result r;
	struct recipe_host h;
	struct kerr err;
	char out[FS_PATH_MAX], p[FS_PATH_MAX];

	(void)s;
	snprintf(out, sizeof out, "%s/nan", work);
	opts_for(&o, out, 1);
	proto.nan_at = 6;
	fake_host(&h);
	assert_int_equal(train_run(&o, &h, &r, &err), -1);
	proto.nan_at = -1;
	assert_string_equal(err.code, "train.nonfinite");
	assert_non_null(strstr(err.msg, "step 6"));
	assert_false(fs_exists(out));
	assert_int_equal(tu_run(NULL, 0, "ls -d %s/nan.tmp.* >/dev/null 2>&1", work), 2);

	opts_for(&o, out, 1);
	o.scale = "huge";
	fake_host(&h);
	assert_int_equal(train_run(&o, &h, &r, &err), -1);
	assert_string_equal(err.code, "train.bad_scale");
	assert_false(fs_exists(out));

	/* a seed past what a JSON number holds exactly: the log and the
	 * checkpoints could not record it */
	opts_for(&o, out, 1);
	o.seed = TRAIN_SEED_MAX + 1;
	fake_host(&h);
	assert_int_equal(train_run(&o, &h, &r, &err), -1);
	assert_string_equal(err.code, "train.bad_seed");
	assert_false(fs_exists(out));
	opts_for(&o, out, 1);
	o.seed = TRAIN_SEED_MAX; /* the largest is a seed like any other */
	fake_host(&h);
	if (train_run(&o, &h, &r, &err) < 0)
		fail_msg("seed %llu: %s: %s", (unsigned long long)o.seed, err.code, err.msg);
	fs_rm_rf(out);

	snprintf(p, sizeof p, "%s/nodata", work);
	opts_for(&o, out, 1);
	o.data_dir = p;
	fake_host(&h);
	assert_int_equal(train_run(&o, &h, &r, &err), -1);
	assert_int_equal(strncmp(err.code, "dataset.", 8) == 0 || strncmp(err.code, "fs.", 3) == 0, 1);
	assert_false(fs_exists(out));

	/* An existing non-empty folder is never overwritten. */
	snprintf(out, sizeof out, "%s/run1", work);
	opts_for(&o, out, 1);
	fake_host(&h);
	assert_int_equal(train_run(&o, &h, &r, &err), -1);
	assert_string_equal(err.code, "train.out_exists");
	snprintf(p, sizeof p, "%s/run1/result.json", work);
	assert_true(fs_exists(p));
}

/* A recipe with a gemm table: the harness asks for it after the first
 * step and pins it in every later segment's create (one table for the
 * whole run), and the result carries the table asked for at the end, with
 * the evaluation's rows. A table the recipe garbles fails the run with
 * recipe.bad_gemm and leaves no folder. A recipe without one (the fake
 * above) gives "". */
static int train_fake(const char *name, void (*host)(struct recipe_host *), struct train_result *r,
		      struct kerr *err)
{
	struct train_opts o;
	struct recipe_host h;
	char out[FS_PATH_MAX];

	snprintf(out, sizeof out, "%s/%s", work, name);
	opts_for(&o, out, 1);
	host(&h);
	return train_run(&o, &h, r, err);
}

static void gemm_table_pinned_and_recorded(void **s)
{
	struct train_result r;
	struct kerr err;
	char out[FS_PATH_MAX];

	(void)s;
	creates_unpinned = creates_pinned_a = creates_other = 0;
	if (train_fake("gemm1", gemm_host, &r, &err) < 0)
		fail_msg("%s: %s", err.code, err.msg);
	/* checkpoints at 2, 4, ..., 10: five restarts, each pinned */
	assert_int_equal(creates_unpinned, 1);
	assert_int_equal(creates_pinned_a, 5);
	assert_int_equal(creates_other, 0);
	assert_string_equal(r.gemm, gemm_b);

	gemm_broken = 1;
	assert_int_equal(train_fake("gemm2", gemm_host, &r, &err), -1);
	gemm_broken = 0;
	assert_string_equal(err.code, "recipe.bad_gemm");
	snprintf(out, sizeof out, "%s/gemm2", work);
	assert_false(fs_exists(out));

	assert_int_equal(train_fake("gemm3", fake_host, &r, &err), 0);
	assert_string_equal(r.gemm, "");
}

static void eval_refuses_other_recipe(void **s)
{
	struct recipe_host h;
	struct eval_report rep;
	struct kerr err;
	char p[FS_PATH_MAX];
	struct fx_fail seen = { .h = &h };

	(void)s;
	snprintf(p, sizeof p, "%s/run1/final.ckpt", work);
	proto.name = "other-recipe";
	fake_host(&h);
	/* explained while the host lives, as a failed training run is */
	assert_int_equal(train_eval_checkpoint_data(p, NULL, data, SPLIT_VAL, 1, 0, NULL, &h, fx_on_fail, &seen, &rep,
						    &err),
			 -1);
	proto.name = "fake-bigram";
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.saw_live_host, 1);
	assert_string_equal(err.msg, "explained (was ckpt.recipe_mismatch)");
	proto.name = "other-recipe";
	fake_host(&h);
	assert_int_equal(train_eval_checkpoint(p, data, SPLIT_VAL, 1, 0, &h, &rep, &err), -1);
	proto.name = "fake-bigram";
	assert_string_equal(err.code, "ckpt.recipe_mismatch");
	/* The hidden split lives only in the validator's folder. */
	fake_host(&h);
	assert_int_equal(train_eval_checkpoint(p, data, SPLIT_HIDDEN, 1, 0, &h, &rep, &err), -1);
	assert_string_equal(err.code, "train.no_split");
	snprintf(data + strlen(data), sizeof data - strlen(data), "/../hidden");
	fake_host(&h);
	if (train_eval_checkpoint(p, data, SPLIT_HIDDEN, 1, 0, &h, &rep, &err) < 0)
		fail_msg("%s: %s", err.code, err.msg);
	assert_true(rep.res.val_bpb > 0);
	*strstr(data, "/../hidden") = '\0';
}

/* ---- the CLI with the real recipe -------------------------------------- */

static double json_num(const char *text, const char *key)
{
	json_t *o = json_loads(text, 0, NULL);
	double v;

	assert_non_null(o);
	v = json_number_value(json_object_get(o, key));
	json_decref(o);
	return v;
}

static void cli_train_then_eval(void **s)
{
	static char out[1 << 16], out2[1 << 16];
	char run[FS_PATH_MAX], p[FS_PATH_MAX], *res_text;
	size_t n;
	struct kerr err;
	double bpb;

	(void)s;
	snprintf(run, sizeof run, "%s/cli", work);
	if (tu_run(out, sizeof out,
		   "%s train --scale tiny --data %s --seed 1 --threads 2 --out %s --json 2>/dev/null",
		   tu_karpa(), data, run) != 0)
		fail_msg("karpa train failed: %s", out);
	bpb = json_num(out, "val_bpb");
	assert_true(bpb > 0 && isfinite(bpb));
	snprintf(p, sizeof p, "%s/result.json", run);
	assert_int_equal(fs_read_all(p, 1 << 16, &res_text, &n, &err), 0);
	assert_true(json_num(res_text, "val_bpb") == bpb);
	free(res_text);
	check_log_against_files(run, -1);
	/* karpa eval on the final checkpoint reproduces result.json's val_bpb
	 * exactly, at another thread count. */
	snprintf(p, sizeof p, "%s/final.ckpt", run);
	if (tu_run(out2, sizeof out2, "%s eval --ckpt %s --data %s --split val --threads 1 --json 2>/dev/null",
		   tu_karpa(), p, data) != 0)
		fail_msg("karpa eval failed: %s", out2);
	assert_true(json_num(out2, "val_bpb") == bpb);
	assert_non_null(strstr(out2, "\"sandbox\":\"sandboxed: "));
	/* Unconfined, to the same bits. */
	assert_int_equal(tu_run(out2, sizeof out2, "%s eval --ckpt %s --data %s --split val --no-sandbox --json",
				tu_karpa(), p, data), 0);
	assert_true(json_num(out2, "val_bpb") == bpb);
	assert_non_null(strstr(out2, "\"sandbox\":\"not sandboxed (--no-sandbox)\""));
	/* The hidden split, from the validator's folder. */
	assert_int_equal(tu_run(out2, sizeof out2, "%s eval --ckpt %s --data %s/hidden --split hidden",
				tu_karpa(), p, work), 0);
	assert_non_null(strstr(out2, "val_bpb"));
	/* karpa train says how its recipe ran */
	snprintf(run, sizeof run, "%s/cli-text", work);
	assert_int_equal(tu_run(out2, sizeof out2, "%s train --scale tiny --data %s --seed 1 --threads 2 --out %s 2>/dev/null",
				tu_karpa(), data, run), 0);
	assert_non_null(strstr(out2, "\nrecipe ran sandboxed: "));
	fs_rm_rf(run);
}

/* The real recipe behind its runner: a --final-only run, with no restart
 * from a checkpoint, ends in the same final checkpoint and val_bpb as the
 * run that restarted from one every few steps (what makes a miner's
 * screening runs tell the truth about its proofs). */
static void cli_final_only_same_bits(void **s)
{
	static char out[1 << 16], out2[1 << 16];
	char run[FS_PATH_MAX], run2[FS_PATH_MAX];
	json_t *a, *b;

	(void)s;
	snprintf(run, sizeof run, "%s/cli-fo-full", work);
	snprintf(run2, sizeof run2, "%s/cli-fo-screen", work);
	if (tu_run(out, sizeof out, "%s train --scale tiny --data %s --seed 3 --threads 2 --out %s --json 2>/dev/null",
		   tu_karpa(), data, run) != 0 ||
	    tu_run(out2, sizeof out2,
		   "%s train --scale tiny --data %s --seed 3 --threads 1 --final-only --out %s --json 2>/dev/null",
		   tu_karpa(), data, run2) != 0)
		fail_msg("karpa train failed: %s %s", out, out2);
	a = json_loads(out, 0, NULL);
	b = json_loads(out2, 0, NULL);
	assert_non_null(a);
	assert_non_null(b);
	assert_string_equal(json_string_value(json_object_get(a, "final_sha256")),
			    json_string_value(json_object_get(b, "final_sha256")));
	assert_true(json_real_value(json_object_get(a, "val_bpb")) == json_real_value(json_object_get(b, "val_bpb")));
	assert_true(json_is_true(json_object_get(b, "final_only")));
	json_decref(a);
	json_decref(b);
	check_log_against_files(run, -1);
	check_log_against_files(run2, 1);
	/* the run compared against did restart from checkpoints */
	assert_int_equal(tu_run(NULL, 0, "test -n \"$(ls -A %s/checkpoints)\"", run), 0);
}

/* --per-window-out: one line per window under a '#' header, and the lines
 * add up, in split order, to the very bits of the evaluation's val_bpb. */
static void cli_eval_per_window(void **s)
{
	static char out[1 << 16];
	char p[FS_PATH_MAX], *text, *save = NULL;
	size_t n, rows = 0, windows = 0, tail = 1, targets = 0, bytes = 0;
	struct kerr err;
	double total = 0, bpb;
	int T = 0;

	(void)s;
	if (tu_run(out, sizeof out, "%s eval --ckpt %s/cli/final.ckpt --data %s/hidden --split hidden --threads 1 "
		   "--per-window-out %s/hidden.win --json 2>/dev/null", tu_karpa_san(), work, work, work) != 0)
		fail_msg("karpa eval --per-window-out failed: %s", out);
	bpb = json_num(out, "val_bpb");
	snprintf(p, sizeof p, "%s/hidden.win", work);
	assert_int_equal(fs_read_all(p, 1 << 20, &text, &n, &err), 0);
	assert_true(!strncmp(text, "# karpa-window-losses-1\n", 24));
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *end;
		if (l[0] == '#') {
			sscanf(l, "# seq_len %d", &T);
			sscanf(l, "# targets %zu", &targets);
			sscanf(l, "# bytes %zu", &bytes);
			sscanf(l, "# full_windows %zu", &windows);
			sscanf(l, "# tail_targets %zu", &tail);
			continue;
		}
		total += strtod(l, &end);
		assert_true(*end == '\0' && end != l);
		rows++;
	}
	free(text);
	assert_true(T > 0 && targets == (size_t)json_num(out, "targets") && bytes == (size_t)json_num(out, "bytes"));
	assert_int_equal(windows * (size_t)T + tail, targets);
	assert_int_equal(rows, windows + (tail > 0));
	assert_true(total / (M_LN2 * (double)bytes) == bpb);
	/* No split, no file. */
	assert_int_equal(tu_run(out, sizeof out, "%s eval --ckpt %s/cli/final.ckpt --data %s --split hidden "
				"--per-window-out %s/none.win", tu_karpa(), work, data, work), 1);
	assert_non_null(strstr(out, "karpa: dataset.no_split: "));
	snprintf(p, sizeof p, "%s/none.win", work);
	assert_int_equal(access(p, F_OK), -1);
}

/* Copies final.ckpt with one edit and returns karpa eval's output. */
static int eval_damaged(const char *how, char *out, size_t cap)
{
	char src[FS_PATH_MAX], dst[FS_PATH_MAX];

	snprintf(src, sizeof src, "%s/cli/final.ckpt", work);
	snprintf(dst, sizeof dst, "%s/damaged.ckpt", work);
	assert_int_equal(tu_run(NULL, 0, "cp %s %s && %s", src, dst, how), 0);
	return tu_run(out, cap, "%s eval --ckpt %s --data %s --split val", tu_karpa(), dst, data);
}

static void cli_refuses_bad_checkpoints(void **s)
{
	char out[4096], cmd[FS_PATH_MAX * 2];
	char dst[FS_PATH_MAX];

	(void)s;
	snprintf(dst, sizeof dst, "%s/damaged.ckpt", work);
	snprintf(cmd, sizeof cmd, "truncate -s -100 %s", dst);
	assert_int_equal(eval_damaged(cmd, out, sizeof out), 1);
	assert_non_null(strstr(out, "karpa: ckpt.truncated: "));
	snprintf(cmd, sizeof cmd, "printf 'X' | dd of=%s bs=1 seek=2000 conv=notrunc 2>/dev/null", dst);
	assert_int_equal(eval_damaged(cmd, out, sizeof out), 1);
	assert_non_null(strstr(out, "karpa: ckpt.digest_mismatch: "));
	snprintf(cmd, sizeof cmd, "printf 'NOTKARPA' | dd of=%s bs=1 conv=notrunc 2>/dev/null", dst);
	assert_int_equal(eval_damaged(cmd, out, sizeof out), 1);
	assert_non_null(strstr(out, "karpa: ckpt.bad_magic: "));
	/* A checkpoint written by another recipe (the fake one above). */
	assert_int_equal(tu_run(out, sizeof out, "%s eval --ckpt %s/run1/final.ckpt --data %s --split val",
				tu_karpa(), work, data), 1);
	assert_non_null(strstr(out, "karpa: ckpt.recipe_mismatch: "));
}

static void cli_usage_and_refusals(void **s)
{
	char out[4096];

	(void)s;
	assert_int_equal(tu_run(out, sizeof out, "%s train --help", tu_karpa()), 0);
	assert_non_null(strstr(out, "usage: karpa train"));
	assert_int_equal(tu_run(out, sizeof out, "%s eval --help", tu_karpa()), 0);
	assert_non_null(strstr(out, "usage: karpa eval"));
	assert_int_equal(tu_run(NULL, 0, "%s train --scale tiny --data %s --seed 1", tu_karpa(), data), 2);
	assert_int_equal(tu_run(NULL, 0, "%s train --scale tiny --data %s --seed x --out %s/u", tu_karpa(),
				data, work), 2);
	assert_int_equal(tu_run(NULL, 0, "%s train --bogus", tu_karpa()), 2);
	assert_int_equal(tu_run(NULL, 0, "%s eval --ckpt a --data b --split test", tu_karpa()), 2);
	assert_int_equal(tu_run(out, sizeof out, "%s train --scale galaxy --data %s --seed 1 --out %s/u",
				tu_karpa(), data, work), 1);
	if (!strstr(out, "karpa: train.bad_scale: "))
		fail_msg("expected train.bad_scale, got: %s", out);
	assert_int_equal(tu_run(out, sizeof out, "%s train --scale tiny --data %s --seed 1 --out %s/u --recipe %s",
				tu_karpa(), data, work, work), 1);
	/* A --recipe folder without sources cannot be built. */
	assert_non_null(strstr(out, "karpa: recipe.no_sources: "));
	/* A data folder that fails verification: exit 1, nothing created. */
	assert_int_equal(tu_run(out, sizeof out, "%s train --scale tiny --data %s/txt --seed 1 --out %s/u --json",
				tu_karpa(), work, work), 1);
	assert_non_null(strstr(out, "\"ok\":false"));
	assert_false(tu_run(NULL, 0, "test -e %s/u", work) == 0);
	assert_int_equal(tu_run(NULL, 0, "mkdir -p %s/full && touch %s/full/x", work, work), 0);
	assert_int_equal(tu_run(out, sizeof out, "%s train --scale tiny --data %s --seed 1 --out %s/full",
				tu_karpa(), data, work), 1);
	assert_non_null(strstr(out, "karpa: train.out_exists: "));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(run_leaves_complete_rundir),
		cmocka_unit_test(same_seed_same_bytes_any_threads),
		cmocka_unit_test(final_only_same_bits_no_segments),
		cmocka_unit_test(restart_failure_leaves_nothing),
		cmocka_unit_test(stalled_step_is_stopped),
		cmocka_unit_test(failure_is_explained_before_the_host_goes),
		cmocka_unit_test(refusals_leave_nothing),
		cmocka_unit_test(eval_refuses_other_recipe),
		cmocka_unit_test(gemm_table_pinned_and_recorded),
		cmocka_unit_test(cli_train_then_eval),
		cmocka_unit_test(cli_final_only_same_bits),
		cmocka_unit_test(cli_eval_per_window),
		cmocka_unit_test(cli_refuses_bad_checkpoints),
		cmocka_unit_test(cli_usage_and_refusals),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
