/* train.c: the training loop and checkpoint evaluation. The run is staged in
 * a sibling folder and renamed into place only after result.json is written,
 * so a failed or interrupted run never leaves a half-written RUNDIR. Large
 * buffers (batch, recipe state) are allocated once before the first step. */
#include "harness/train.h"
#include "harness/scale.h"

#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/bpe.h"
#include "harness/checkpoint.h"
#include "harness/loader.h"
#include "harness/trainlog.h"
#include "sandbox/recipe_pipe.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/progress.h"

#define PLOT_W 60 /* the loss plot: 60 x 12 characters fits any terminal */
#define PLOT_H 12

/* Everything one run holds; freed in one place. */
struct run {
	const struct train_opts *o;
	struct recipe_host *h;
	int created;
	struct kr_env env; /* what the recipe was created with: a restart reuses it */
	/* the algorithms the first segment picked (recipe_host_gemm), pinned
	 * in every later one through env.gemm: one table for the whole run */
	char gemm[KR_GEMM_MAX];
	struct kr_plan plan;
	const struct dataset *d; /* verified once: the caller's, or own */
	struct dataset own;
	int own_open;
	const uint16_t *train, *val; /* borrowed from d: the verified tokens */
	uint16_t *batch;
	size_t ntrain, nval;
	uint32_t *tbytes;
	int vocab;
	void *state;
	size_t state_bytes;
	char out_dir[FS_PATH_MAX]; /* o->out_dir without trailing slashes */
	struct fs_stage st;
	struct trainlog log;
	double plot_sum[PLOT_W];
	int plot_n[PLOT_W];
	double slowest_ms; /* the slowest training step's call so far: the stall bound's base */
};

static int dir_is_empty(const char *path)
{
	DIR *dd = opendir(path);
	struct dirent *e;
	int empty = 1;

	if (!dd)
		return 0;
	while ((e = readdir(dd)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			empty = 0;
	closedir(dd);
	return empty;
}

static int scale_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > TRAIN_SCALE_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

/* The staging folder is "<out>.tmp.<pid>": with a trailing slash it would
 * land inside the output folder, so slashes are stripped first. */
static int out_dir_of(const char *in, char out[FS_PATH_MAX], struct kerr *err)
{
	size_t n;

	if (fs_join(out, FS_PATH_MAX, err, "%s", in) < 0)
		return -1;
	n = strlen(out);
	while (n > 1 && out[n - 1] == '/')
		out[--n] = '\0';
	if (n == 0 || !strcmp(out, "/") || !strcmp(out, ".") || !strcmp(out, ".."))
		return kerr_set(err, "train.out_exists", "--out '%s' must name a new folder", in);
	return 0;
}

static int check_opts(const struct train_opts *o, const char *out_dir, struct kerr *err)
{
	if (!scale_ok(o->scale))
		return kerr_set(err, "train.bad_scale", "scale '%.40s' is not a scale name", o->scale);
	if (o->seed > TRAIN_SEED_MAX)
		return kerr_set(err, "train.bad_seed", "seed %llu above the limit %llu",
				(unsigned long long)o->seed, (unsigned long long)TRAIN_SEED_MAX);
	if (o->threads < 1 || o->threads > TRAIN_THREADS_MAX)
		return kerr_set(err, "train.bad_threads", "threads %d outside 1..%d", o->threads,
				TRAIN_THREADS_MAX);
	if (fs_exists(out_dir) && (!fs_is_dir(out_dir) || !dir_is_empty(out_dir)))
		return kerr_set(err, "train.out_exists",
				"%s already exists and is not an empty folder (remove it or choose another --out)",
				out_dir);
	return 0;
}

/* The recipe's scale list is its own: kr_create refuses a scale it does not
 * have. A create failure whose reason names the scale is reported as
 * train.bad_scale; any other create failure keeps its code (recipe.create
 * in-process, recipe.failed from a runner). */
static int create_recipe(struct run *R, const char *scale, uint64_t seed, int threads,
			 struct kerr *err)
{
	struct kr_env env = { .seed = seed, .threads = threads, .vocab_size = R->vocab, .scale = scale };

	R->env = env;
	if (recipe_host_create(R->h, &env, &R->plan, err) < 0) {
		if ((!strcmp(err->code, "recipe.create") || !strcmp(err->code, "recipe.failed")) &&
		    strstr(err->msg, "scale"))
			snprintf(err->code, sizeof err->code, "train.bad_scale");
		return -1;
	}
	R->created = 1;
	if (recipe_host_state_bytes(R->h, &R->state_bytes, err) < 0)
		return -1;
	if (!(R->state = malloc(R->state_bytes)))
		return kerr_set(err, "train.nomem", "out of memory for %zu bytes of recipe state",
				R->state_bytes);
	return 0;
}

/* The caller's verified folder, or dir opened (and verified) here. */
static int open_data(struct run *R, const struct dataset *given, const char *dir, struct kerr *err)
{
	if (given) {
		R->d = given;
	} else {
		if (dataset_open(dir, &R->own, err) < 0)
			return -1;
		R->own_open = 1;
		R->d = &R->own;
	}
	return evaluate_token_bytes(R->d->tok, &R->tbytes, &R->vocab, err);
}

static int load_split(struct run *R, enum dataset_split_id s, const uint16_t **t, size_t *n,
		      struct kerr *err)
{
	if (!R->d->split[s].present)
		return kerr_set(err, "train.no_split", "%s: data folder has no %s split", R->d->dir,
				dataset_split_name(s));
	return dataset_tokens(R->d, s, t, n, err);
}

static void meta_of(const struct run *R, int64_t step, struct ckpt_meta *m)
{
	memset(m, 0, sizeof *m);
	m->format = CKPT_FORMAT;
	snprintf(m->recipe, sizeof m->recipe, "%s", R->plan.name);
	snprintf(m->recipe_version, sizeof m->recipe_version, "%s", R->plan.version);
	snprintf(m->scale, sizeof m->scale, "%s", R->o->scale);
	m->step = step;
	m->seed = R->o->seed;
	memcpy(m->data_digest, R->d->digest, HASH_HEX_BYTES);
	memcpy(m->tokenizer_digest, R->d->tokenizer_digest, HASH_HEX_BYTES);
	m->vocab_size = R->vocab;
	m->state_bytes = R->state_bytes;
}

/* Gets the recipe's state into R->state; *save_ms is how long that took. */
static int fetch_state(struct run *R, double *save_ms, struct kerr *err)
{
	double t0 = progress_now_ms();
	size_t n;

	if (recipe_host_state_bytes(R->h, &n, err) < 0)
		return -1;
	if (n != R->state_bytes)
		return kerr_set(err, "recipe.bad_state_size", "state size changed from %zu to %zu bytes",
				R->state_bytes, n);
	if (R->h->save(R->h, R->state, n, err) < 0)
		return -1;
	*save_ms = progress_now_ms() - t0;
	return 0;
}

/* One checkpoint file being written from R->state: written, synced and
 * hashed (ckpt_write), on a thread of its own mid-run. Reads R->state and
 * nothing else of the run; the log record is the caller's, after it. */
struct store {
	const struct run *R;
	struct ckpt_meta m;
	char path[FS_PATH_MAX], sha[HASH_HEX_BYTES];
	struct kerr err;
	int rc;
	double ms;
};

static void *store_run(void *arg)
{
	struct store *c = arg;
	double t0 = progress_now_ms();

	c->rc = ckpt_write(c->path, &c->m, c->R->state, c->R->state_bytes, c->sha, &c->err);
	c->ms = progress_now_ms() - t0;
	return NULL;
}

static int store_init(const struct run *R, int64_t step, const char *rel, struct store *c, struct kerr *err)
{
	memset(c, 0, sizeof *c);
	c->R = R;
	meta_of(R, step, &c->m);
	return fs_join(c->path, sizeof c->path, err, "%s/%s", R->st.tmp, rel);
}

/* The final checkpoint: the state saved as rel (relative to RUNDIR), its
 * digest chained in the log. */
static int checkpoint_final(struct run *R, int64_t step, const char *rel, char sha[HASH_HEX_BYTES],
			    struct kerr *err)
{
	struct store c;
	double save_ms;

	if (fetch_state(R, &save_ms, err) < 0 || store_init(R, step, rel, &c, err) < 0)
		return -1;
	store_run(&c);
	if (c.rc < 0) {
		*err = c.err;
		return -1;
	}
	memcpy(sha, c.sha, HASH_HEX_BYTES);
	return trainlog_checkpoint(&R->log, step, rel, sha, err);
}

/* A checkpoint mid-run, and the restart from it: the next segment starts
 * from the checkpoint alone, in a fresh recipe, so whatever the recipe
 * kept outside its state ends here, as it does when a validator replays
 * the segment. At the gpu-* scales the file (write, sync, hash) and the
 * restart (the GPU context, the state loaded) take seconds each
 * (docs/gpu.md), so the file is written on a thread while the new recipe
 * is created and loads the same bytes: both only read R->state. The
 * respawn (the old runner's exit, then a fork) comes before the thread
 * starts, so that no fork copies a lock the writer holds. The log's
 * record follows both. */
static int checkpoint_restart(struct run *R, int64_t step, const char *rel, struct kerr *err)
{
	struct store c;
	pthread_t th;
	double save_ms, t0, restart_ms;
	int threaded, rc;

	if (fetch_state(R, &save_ms, err) < 0 || store_init(R, step, rel, &c, err) < 0)
		return -1;
	t0 = progress_now_ms();
	if (recipe_host_restart_spawn(R->h, err) < 0)
		return -1;
	threaded = pthread_create(&th, NULL, store_run, &c) == 0;
	if (!threaded)
		store_run(&c); /* no thread to be had: one after the other */
	rc = recipe_host_restart_load(R->h, &R->env, &R->plan, R->state, R->state_bytes, err);
	restart_ms = progress_now_ms() - t0;
	if (threaded)
		pthread_join(th, NULL);
	if (rc < 0) {
		if (c.rc < 0) /* the restart's error is the one returned */
			log_msg(LOG_WARN, "train", "checkpoint %lld was not written either: %s: %s", (long long)step,
				c.err.code, c.err.msg);
		return -1;
	}
	if (c.rc < 0) {
		*err = c.err;
		return -1;
	}
	if (trainlog_checkpoint(&R->log, step, rel, c.sha, err) < 0)
		return -1;
	if (R->o->progress)
		log_msg(LOG_PROGRESS, "train",
			"checkpoint %lld: %.1f MB, state from the recipe %.0f ms, then together: written and hashed "
			"%.0f ms, restarted from it %.0f ms; %.0f ms in all",
			(long long)step, (double)R->state_bytes / 1e6, save_ms, c.ms, restart_ms,
			progress_now_ms() - t0 + save_ms);
	return 0;
}

static void plot_add(struct run *R, int64_t step, double loss)
{
	int b = (int)(step * PLOT_W / R->plan.steps);

	R->plot_sum[b] += loss;
	R->plot_n[b]++;
}

static void plot_draw(const struct run *R)
{
	double x[PLOT_W], y[PLOT_W];
	int n = 0;

	for (int b = 0; b < PLOT_W; b++)
		if (R->plot_n[b]) {
			x[n] = (double)b * (double)R->plan.steps / PLOT_W;
			y[n++] = R->plot_sum[b] / R->plot_n[b];
		}
	progress_plot(stderr, "training loss vs step", x, y, n, PLOT_W, PLOT_H);
}

int64_t train_ckpt_gap_max(int64_t steps)
{
	int64_t g = (steps + TRAIN_SEGMENTS_MIN - 1) / TRAIN_SEGMENTS_MIN;

	return g < 1 ? 1 : g;
}

int64_t train_ckpt_interval(const struct kr_plan *p)
{
	int64_t g = train_ckpt_gap_max(p->steps), lo = (p->steps + TRAIN_SEGMENTS_MAX - 1) / TRAIN_SEGMENTS_MAX;

	if (p->ckpt_every <= 0 || p->ckpt_every > g)
		return g;
	return p->ckpt_every < lo ? lo : p->ckpt_every;
}

static int pin_gemm(struct run *R, struct kerr *err)
{
	if (recipe_host_gemm(R->h, R->gemm, err) < 0)
		return -1;
	R->env.gemm = R->gemm[0] ? R->gemm : NULL;
	return 0;
}

static int64_t stall_floor_ms(const struct run *R)
{
	return R->o->stall_floor_ms > 0 ? R->o->stall_floor_ms : TRAIN_STALL_FLOOR_MS;
}

/* The stall bound for a call worth `steps` training steps (TRAIN_STALL_FACTOR),
 * or -1 to leave the host's limit alone: a host that is not a pipe. */
static int64_t stall_ms(const struct run *R, int64_t host_ms, double steps)
{
	double t = fmax((double)stall_floor_ms(R), TRAIN_STALL_FACTOR * R->slowest_ms * steps);

	if (host_ms < 0)
		return -1;
	return host_ms > 0 && (double)host_ms < t ? host_ms : (int64_t)ceil(t);
}

/* err, from a call the stall bound (limit, for a call worth steps) stopped,
 * says so; what names the call. Returns -1. */
static int stall_explain(const struct run *R, int64_t host_ms, int64_t limit, double steps, const char *what,
			 struct kerr *err)
{
	char worth[64] = "";

	if (limit <= 0 || limit == host_ms || strcmp(err->code, "recipe.timeout"))
		return -1;
	if (steps > 1.0)
		snprintf(worth, sizeof worth, " times %.3g, its rows over a step's,", steps);
	return kerr_set(err, "recipe.timeout",
			"%s: no reply within %.1f s, the larger of %.0f times the slowest step (%.1f ms)%s and %.1f s: "
			"the recipe stalled, and its process was killed",
			what, (double)limit / 1e3, TRAIN_STALL_FACTOR, R->slowest_ms, worth,
			(double)stall_floor_ms(R) / 1e3);
}

/* One step through the recipe, under the stall bound unless fresh. */
static int step_call(struct run *R, int64_t s, int fresh, float *loss, float *lr, struct kerr *err)
{
	int64_t host_ms = recipe_pipe_timeout(R->h), limit = fresh ? -1 : stall_ms(R, host_ms, 1.0);
	double t0 = progress_now_ms(), dt;
	char what[48];
	int rc;

	if (limit > 0)
		recipe_pipe_set_timeout(R->h, limit);
	rc = R->h->train_step(R->h, s, R->batch, loss, lr, err);
	dt = progress_now_ms() - t0;
	if (limit > 0)
		recipe_pipe_set_timeout(R->h, host_ms);
	if (rc < 0) {
		snprintf(what, sizeof what, "step %lld", (long long)s);
		return stall_explain(R, host_ms, limit, 1.0, what, err);
	}
	if (dt > R->slowest_ms)
		R->slowest_ms = dt;
	return 0;
}

/* The evaluation after training, each scoring call under the stall bound
 * scaled by its rows: a call scores eval_batch windows forward only, a
 * step batch windows forward and backward, so eval_batch / batch steps'
 * worth bounds it from above. */
static int eval_call(struct run *R, const struct eval_opts *eo, struct eval_result *res, struct kerr *err)
{
	double steps = fmax(1.0, (double)R->plan.eval_batch / (double)R->plan.batch);
	int64_t host_ms = recipe_pipe_timeout(R->h), limit = stall_ms(R, host_ms, steps);
	int rc;

	if (limit > 0)
		recipe_pipe_set_timeout(R->h, limit);
	rc = evaluate_tokens(R->h, &R->plan, R->tbytes, R->vocab, R->val, R->nval, eo, res, err);
	if (limit > 0)
		recipe_pipe_set_timeout(R->h, host_ms);
	return rc < 0 ? stall_explain(R, host_ms, limit, steps, "the evaluation's scoring call", err) : 0;
}

static int step_loop(struct run *R, struct train_result *res, struct kerr *err)
{
	const struct kr_plan *p = &R->plan;
	const int64_t every = train_ckpt_interval(p);
	struct progress pr;
	double t0 = progress_now_ms(), wall = 0;
	int fresh = 1; /* the process has run no step yet: it warms up */
	char rel[64];

	progress_init(&pr, "train", p->steps, R->o->progress);
	for (int64_t s = 0; s < p->steps; s++) {
		float loss = 0, lr = 0;
		if (loader_batch(R->o->seed, s, p->batch, p->seq_len, R->train, R->ntrain, R->batch,
				 err) < 0 ||
		    step_call(R, s, fresh, &loss, &lr, err) < 0)
			return -1;
		fresh = 0;
		if (!isfinite(loss) || !isfinite(lr))
			return kerr_set(err, "train.nonfinite", "step %lld: training loss %g, lr %g",
					(long long)s, (double)loss, (double)lr);
		/* the first step has run every training product: what the
		 * recipe picked for them is what the run keeps */
		if (s == 0 && pin_gemm(R, err) < 0)
			return -1;
		res->tokens += (uint64_t)p->batch * (uint64_t)p->seq_len;
		wall = progress_now_ms() - t0;
		if (trainlog_step(&R->log, s, res->tokens, lr, loss, wall,
				  wall > 0 ? (double)res->tokens / (wall / 1e3) : 0, err) < 0)
			return -1;
		plot_add(R, s, loss);
		res->final_loss = loss;
		progress_step(&pr, s + 1, loss, lr, wall > 0 ? (double)res->tokens / (wall / 1e3) : 0);
		if (!R->o->final_only && (s + 1) % every == 0 && s + 1 < p->steps) {
			snprintf(rel, sizeof rel, "checkpoints/step_%06lld.ckpt", (long long)(s + 1));
			if (checkpoint_restart(R, s + 1, rel, err) < 0)
				return -1;
			fresh = 1;
		}
	}
	progress_done(&pr);
	if (checkpoint_final(R, p->steps, "final.ckpt", res->final_sha256, err) < 0)
		return -1;
	res->train_ms = progress_now_ms() - t0;
	res->steps = p->steps;
	return 0;
}

static int start_log(struct run *R, struct kerr *err)
{
	char path[FS_PATH_MAX];
	struct trainlog_header hd = {
		.recipe = R->plan.name, .recipe_version = R->plan.version, .scale = R->o->scale,
		.seed = R->o->seed, .data_digest = R->d->digest, .tokenizer_digest = R->d->tokenizer_digest,
		.steps = R->plan.steps, .params = R->plan.params, .batch = R->plan.batch,
		.seq_len = R->plan.seq_len,
	};

	if (fs_join(path, sizeof path, err, "%s/checkpoints", R->st.tmp) < 0 ||
	    fs_mkdir_p(path, err) < 0 || fs_join(path, sizeof path, err, "%s/train.log", R->st.tmp) < 0)
		return -1;
	return trainlog_open(&R->log, path, &hd, err);
}

static int write_result(struct run *R, const struct train_result *res, struct kerr *err)
{
	char path[FS_PATH_MAX], *s = NULL;
	json_t *o = train_result_json(res);
	int rc = -1;

	if (!o || !(s = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(17)))) {
		kerr_set(err, "train.nomem", "cannot encode result.json");
		goto out;
	}
	if (fs_join(path, sizeof path, err, "%s/result.json", R->st.tmp) < 0)
		goto out;
	{
		size_t n = strlen(s);
		char *t = realloc(s, n + 2); /* a text file ends with a newline */
		if (!t) {
			kerr_set(err, "train.nomem", "cannot encode result.json");
			goto out;
		}
		s = t;
		memcpy(s + n, "\n", 2);
	}
	rc = fs_write_atomic(path, s, strlen(s), err);
out:
	free(s);
	json_decref(o);
	return rc;
}

static void run_free(struct run *R)
{
	struct kerr ignored;

	if (R->log.fd >= 0)
		trainlog_close(&R->log, &ignored);
	/* The run owns the host from the call on, created or not: a pipe
	 * host has a child process before create. Destroying twice is safe. */
	recipe_host_destroy(R->h);
	fs_stage_abort(&R->st);
	if (R->own_open)
		dataset_close(&R->own);
	free(R->batch);
	free(R->tbytes);
	free(R->state);
}

static void result_init(const struct run *R, struct train_result *res)
{
	snprintf(res->recipe, sizeof res->recipe, "%s", R->plan.name);
	snprintf(res->recipe_version, sizeof res->recipe_version, "%s", R->plan.version);
	snprintf(res->scale, sizeof res->scale, "%s", R->o->scale);
	res->seed = R->o->seed;
	res->final_only = R->o->final_only;
	res->params = R->plan.params;
	memcpy(res->data_digest, R->d->digest, HASH_HEX_BYTES);
	memcpy(res->tokenizer_digest, R->d->tokenizer_digest, HASH_HEX_BYTES);
}

int train_run(const struct train_opts *o, struct recipe_host *h, struct train_result *res,
	      struct kerr *err)
{
	struct run *R = calloc(1, sizeof *R);
	struct eval_opts eo = { .targets_max = o->eval_targets_max ? o->eval_targets_max : scale_eval_targets(o->scale),
				.threads = o->threads };
	double t0 = progress_now_ms();
	int rc = -1;

	memset(res, 0, sizeof *res);
	if (!R) {
		recipe_host_destroy(h); /* the host is the run's, as promised */
		return kerr_set(err, "train.nomem", "out of memory");
	}
	R->o = o;
	R->h = h;
	R->log.fd = -1;
	if (out_dir_of(o->out_dir, R->out_dir, err) < 0 || check_opts(o, R->out_dir, err) < 0 ||
	    open_data(R, o->data, o->data_dir, err) < 0 ||
	    load_split(R, SPLIT_TRAIN, &R->train, &R->ntrain, err) < 0 ||
	    load_split(R, SPLIT_VAL, &R->val, &R->nval, err) < 0 ||
	    create_recipe(R, o->scale, o->seed, o->threads, err) < 0)
		goto out;
	if (!(R->batch = malloc((size_t)R->plan.batch * ((size_t)R->plan.seq_len + 1) * 2))) {
		kerr_set(err, "train.nomem", "out of memory for the batch buffer");
		goto out;
	}
	result_init(R, res);
	if (fs_stage_begin(&R->st, R->out_dir, err) < 0 || start_log(R, err) < 0 ||
	    step_loop(R, res, err) < 0)
		goto out;
	if (eval_call(R, &eo, &res->val, err) < 0 ||
	    trainlog_eval(&R->log, "val", res->val.val_bpb, res->val.loss, res->val.targets,
			  res->val.bytes, err) < 0)
		goto out;
	/* the last segment's table: the pinned rows and the evaluation's */
	if (recipe_host_gemm(h, res->gemm, err) < 0)
		goto out;
	memcpy(res->log_head, R->log.prev, HASH_HEX_BYTES);
	if (trainlog_close(&R->log, err) < 0)
		goto out;
	res->wall_ms = progress_now_ms() - t0;
	if (write_result(R, res, err) < 0 || fs_stage_commit(&R->st, 0, err) < 0)
		goto out;
	if (o->plot)
		plot_draw(R);
	rc = 0;
out:
	if (rc < 0 && o->on_fail)
		o->on_fail(o->on_fail_arg, h, err);
	run_free(R);
	free(R);
	return rc;
}

json_t *train_result_json(const struct train_result *r)
{
	json_t *o = json_pack("{s:s, s:f, s:f, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:I, s:s, s:s, s:s, "
			 "s:I, s:s, s:s, s:s, s:s, s:s}",
			 "format", TRAIN_RESULT_FORMAT, "val_bpb", r->val.val_bpb, "val_loss",
			 r->val.loss, "val_targets", (json_int_t)r->val.targets, "val_bytes",
			 (json_int_t)r->val.bytes, "steps", (json_int_t)r->steps, "tokens",
			 (json_int_t)r->tokens, "train_ms", r->train_ms, "wall_ms", r->wall_ms,
			 "final_loss", r->final_loss, "params", (json_int_t)r->params, "recipe",
			 r->recipe, "recipe_version", r->recipe_version, "scale", r->scale, "seed",
			 (json_int_t)r->seed, "data", r->data_digest, "tokenizer", r->tokenizer_digest,
			 "final_ckpt", "final.ckpt", "final_sha256", r->final_sha256, "log_head",
			 r->log_head);

	/* only when set: a proof's result.json keeps the keys it always had */
	if (o && r->final_only && json_object_set_new(o, "final_only", json_true()) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---- evaluating a checkpoint ------------------------------------------ */

int train_load_state(struct recipe_host *h, const struct dataset *d, int threads, const struct ckpt_meta *m,
		     const void *state, size_t n, struct kr_plan *plan, struct kerr *err)
{
	struct kr_env env = { .seed = m->seed, .threads = threads, .vocab_size = bpe_vocab_size(d->tok),
			      .scale = m->scale, .state_follows = 1 };
	size_t want;

	if (recipe_host_create(h, &env, plan, err) < 0 ||
	    ckpt_check(m, plan, env.vocab_size, d->tokenizer_digest, err) < 0 ||
	    recipe_host_state_bytes(h, &want, err) < 0)
		return -1;
	if (want != n)
		return kerr_set(err, "ckpt.recipe_mismatch",
				"checkpoint state is %zu bytes, the recipe's state is %zu", n, want);
	return h->load(h, state, n, err);
}

int train_eval_checkpoint(const char *ckpt_path, const char *data_dir, enum dataset_split_id split,
			  int threads, uint64_t targets_max, struct recipe_host *h,
			  struct eval_report *rep, struct kerr *err)
{
	return train_eval_checkpoint_data(ckpt_path, NULL, data_dir, split, threads, targets_max, NULL, h, NULL, NULL,
					  rep, err);
}

int train_eval_checkpoint_data(const char *ckpt_path, const struct dataset *data, const char *data_dir,
			       enum dataset_split_id split, int threads, uint64_t targets_max, double *target_nats,
			       struct recipe_host *h, recipe_host_fail_fn on_fail, void *on_fail_arg,
			       struct eval_report *rep, struct kerr *err)
{
	struct run *R = calloc(1, sizeof *R);
	struct ckpt_meta m;
	struct eval_opts eo = { .targets_max = targets_max, .threads = threads, .target_nats = target_nats };
	void *state = NULL;
	size_t n = 0;
	const uint16_t *toks = NULL;
	size_t ntoks = 0;
	int rc = -1;

	memset(rep, 0, sizeof *rep);
	if (!R) {
		recipe_host_destroy(h);
		return kerr_set(err, "train.nomem", "out of memory");
	}
	R->h = h;
	R->log.fd = -1;
	if (ckpt_read(ckpt_path, &m, &state, &n, rep->ckpt_sha256, err) < 0 ||
	    open_data(R, data, data_dir, err) < 0 || load_split(R, split, &toks, &ntoks, err) < 0)
		goto out;
	if (!eo.targets_max)
		eo.targets_max = scale_eval_targets(m.scale);
	if (train_load_state(h, R->d, threads, &m, state, n, &R->plan, err) < 0 ||
	    evaluate_tokens(h, &R->plan, R->tbytes, R->vocab, toks, ntoks, &eo, &rep->res, err) < 0)
		goto out;
	snprintf(rep->recipe, sizeof rep->recipe, "%s", m.recipe);
	snprintf(rep->recipe_version, sizeof rep->recipe_version, "%s", m.recipe_version);
	snprintf(rep->scale, sizeof rep->scale, "%s", m.scale);
	rep->step = m.step;
	rep->seed = m.seed;
	rep->split = split;
	rep->seq_len = R->plan.seq_len;
	rep->eval_batch = R->plan.eval_batch;
	memcpy(rep->data_digest, R->d->digest, HASH_HEX_BYTES);
	rc = 0;
out:
	if (rc < 0 && on_fail)
		on_fail(on_fail_arg, h, err);
	free(state);
	run_free(R);
	free(R);
	return rc;
}
