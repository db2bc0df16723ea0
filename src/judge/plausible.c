/* plausible.c: log plausibility. Reads the three files with bounded sizes,
 * parses each record into fixed fields, then judges in an order where each
 * failure has one clear reason: the manifest and calibration first (cheap,
 * and everything else is measured against them), then the log record by
 * record, then the totals (counts, budget, the claimed score). */
#include "judge/plausible.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/calibrate.h"
#include "harness/gpucalib.h"
#include "sandbox/recipe_host.h"
#include "harness/scale.h"
#include "harness/train.h"
#include "harness/trainlog.h"
#include "proof/bundle.h"
#include "util/fsutil.h"
#include "util/jsonmem.h"

/* The recorded GFLOPS must be 2 N^3 / median; both are doubles written with
 * 17 digits, so only the division's rounding separates them. */
#define CALIB_GFLOPS_REL_TOL 1e-9
/* The shortest record the harness writes (a checkpoint line) is ~190 bytes;
 * 100 is a safe floor for bounding the step count by the file size. */
#define LOG_RECORD_BYTES_MIN 100

/* What the manifest claims, copied out of the JSON. */
struct claims {
	uint64_t seed;
	char scale[PLAUSIBLE_SCALE_MAX];
	int threads;
	double budget_units;
	char data[HASH_HEX_BYTES], tok[HASH_HEX_BYTES];
	double before_ms, after_ms, ref_ms;
	const struct calib_ref *ref; /* calib_ref_gpu when environment.device says the run was on a GPU */
	char gpu[GPUCALIB_NAME_MAX]; /* environment.device.gpu, the model the driver named; "" on a CPU proof */
	int64_t steps, tokens, params;
	double train_s, val_bpb, val_loss;
	char recipe[KR_NAME_MAX], version[KR_NAME_MAX];
};

struct calib_rec {
	int threads;
	double median_ms, min_ms, max_ms, gflops;
};

/* Running state of the log walk. */
struct walk {
	int64_t nsteps;     /* step records seen */
	uint64_t tokens;    /* last step's tokens */
	double wall_ms;     /* last step's wall_ms (0 before step 0) */
	double *wall;       /* every step's wall_ms so far, owned: the windows' ends */
	int64_t lo;         /* the window of the last step is steps lo+1 .. nsteps-1 */
	int have_eval, cap; /* cap: entries allocated in r->ckpt */
};

static int copy_str(char *dst, size_t cap, const char *src, const char *code, const char *what, struct kerr *err)
{
	if (!src || strlen(src) >= cap)
		return kerr_set(err, code, "%s: missing or longer than %zu bytes", what, cap - 1);
	memcpy(dst, src, strlen(src) + 1);
	return 0;
}

/* A value the harness logged from a float widens back to itself. */
static int is_float_value(double x)
{
	return (double)(float)x == x;
}

/* ---- manifest.json and calibration.json ------------------------------- */

static json_t *load_json(const char *dir, const char *name, size_t bytes_max, const char *code, struct kerr *err)
{
	char path[FS_PATH_MAX], *text = NULL;
	size_t len;
	json_error_t je;
	json_t *o;
	int rc;

	if (fs_join(path, sizeof path, err, "%s/%s", dir, name) < 0 ||
	    fs_read_all(path, bytes_max, &text, &len, err) < 0)
		return NULL;
	rc = jsonmem_loadb(text, len, &o, &je, "judge.nomem", err);
	free(text);
	if (rc < 0) {
		kerr_prefix(err, "%s", name);
		return NULL;
	}
	if (!o || !json_is_object(o)) {
		kerr_set(err, code, "%s: not a JSON object (%s)", name, o ? "wrong type" : je.text);
		json_decref(o);
		return NULL;
	}
	return o;
}

/* environment.device is on a GPU proof only; which calibration the proof
 * needs follows from it. */
static int parse_device(json_t *m, struct claims *c, struct kerr *err)
{
	json_t *dev = json_object_get(json_object_get(m, "environment"), "device");
	const char *kind = json_string_value(json_object_get(dev, "kind"));

	c->ref = &calib_ref_cpu;
	if (!dev)
		return 0;
	if (!kind || strcmp(kind, calib_ref_gpu.device))
		return kerr_set(err, "judge.bad_manifest",
				"manifest.json: environment.device is not a device the harness knows (kind \"%s\")",
				calib_ref_gpu.device);
	c->ref = &calib_ref_gpu;
	return copy_str(c->gpu, sizeof c->gpu, json_string_value(json_object_get(dev, "gpu")), "judge.bad_manifest",
			"manifest.json: environment.device.gpu", err);
}

static int parse_manifest(json_t *m, struct claims *c, struct kerr *err)
{
	const char *scale, *data, *tok, *recipe, *version;
	json_int_t seed, steps, tokens, params;
	json_error_t je;

	memset(c, 0, sizeof *c);
	if (json_unpack_ex(m, &je, 0,
			   "{s:{s:I, s:s, s:i, s:F, s:s, s:s}, s:{s:F, s:F, s:F},"
			   " s:{s:I, s:I, s:I, s:F, s:F, s:F, s:s, s:s}}",
			   "config", "seed", &seed, "scale", &scale, "threads", &c->threads, "budget_units",
			   &c->budget_units, "data_manifest_sha256", &data, "tokenizer_sha256", &tok, "calibration",
			   "before_ms", &c->before_ms, "after_ms", &c->after_ms, "ref_ms", &c->ref_ms, "results",
			   "steps", &steps, "tokens", &tokens, "params", &params, "train_s", &c->train_s, "val_bpb",
			   &c->val_bpb, "val_loss", &c->val_loss, "recipe", &recipe, "recipe_version", &version) < 0)
		return kerr_set(err, "judge.bad_manifest", "manifest.json: %s", je.text);
	if (seed < 0)
		return kerr_set(err, "judge.bad_manifest", "manifest.json: config.seed is negative");
	c->seed = (uint64_t)seed;
	c->steps = steps;
	c->tokens = tokens;
	c->params = params;
	if (copy_str(c->scale, sizeof c->scale, scale, "judge.bad_manifest", "manifest.json config.scale", err) < 0 ||
	    copy_str(c->data, sizeof c->data, data, "judge.bad_manifest", "manifest.json config.data_manifest_sha256",
		     err) < 0 ||
	    copy_str(c->tok, sizeof c->tok, tok, "judge.bad_manifest", "manifest.json config.tokenizer_sha256", err) <
		0 ||
	    copy_str(c->recipe, sizeof c->recipe, recipe, "judge.bad_manifest", "manifest.json results.recipe", err) <
		0 ||
	    copy_str(c->version, sizeof c->version, version, "judge.bad_manifest",
		     "manifest.json results.recipe_version", err) < 0)
		return -1;
	if (!isfinite(c->train_s) || c->train_s < 0)
		return kerr_set(err, "judge.bad_manifest", "manifest.json: results.train_s %g is not a duration",
				c->train_s);
	return parse_device(m, c, err);
}

static int calib_one(json_t *o, const char *which, int threads, struct calib_rec *c, struct kerr *err)
{
	json_error_t je;
	double want;

	if (json_unpack_ex(o, &je, 0, "{s:i, s:F, s:F, s:F, s:F}", "threads", &c->threads, "median_ms", &c->median_ms,
			   "min_ms", &c->min_ms, "max_ms", &c->max_ms, "gflops", &c->gflops) < 0)
		return kerr_set(err, "judge.calibration", "calibration.json %s: %s", which, je.text);
	if (c->threads != threads)
		return kerr_set(err, "judge.calibration",
				"calibration.json %s: measured at %d threads, the run used %d", which, c->threads,
				threads);
	if (!isfinite(c->max_ms) || !(c->min_ms > 0) || c->min_ms > c->median_ms || c->median_ms > c->max_ms)
		return kerr_set(err, "judge.calibration",
				"calibration.json %s: min %g, median %g, max %g ms are not ordered positive times",
				which, c->min_ms, c->median_ms, c->max_ms);
	want = calib_gflops(&calib_ref_cpu, c->median_ms);
	if (!(fabs(c->gflops - want) <= CALIB_GFLOPS_REL_TOL * want))
		return kerr_set(err, "judge.calibration",
				"calibration.json %s: gflops %g does not follow from the median (%g)", which, c->gflops,
				want);
	return 0;
}

/* A CPU proof's calibration.json: the fixed SGEMM at the run's threads. */
static int cpu_calibration(json_t *cal, const struct claims *c, double *before_ms, double *after_ms, double *budget,
			   struct kerr *err)
{
	struct calib_rec b, a;
	json_t *before, *after;
	json_int_t n, repeats;
	double ref_ms;
	json_error_t je;

	if (json_unpack_ex(cal, &je, 0, "{s:o, s:o, s:F, s:F, s:I, s:I}", "before", &before, "after", &after, "ref_ms",
			   &ref_ms, "budget_units", budget, "n", &n, "repeats", &repeats) < 0)
		return kerr_set(err, "judge.calibration", "calibration.json: %s", je.text);
	if (n != CALIB_N || repeats != CALIB_REPEATS || ref_ms != CALIB_REF_MS || c->ref_ms != CALIB_REF_MS)
		return kerr_set(err, "judge.calibration",
				"calibration.json: n %lld, repeats %lld, ref_ms %g are not the harness's %d, %d, %g",
				(long long)n, (long long)repeats, ref_ms, CALIB_N, CALIB_REPEATS, CALIB_REF_MS);
	if (calib_one(before, "before", c->threads, &b, err) < 0 || calib_one(after, "after", c->threads, &a, err) < 0)
		return -1;
	*before_ms = b.median_ms;
	*after_ms = a.median_ms;
	return 0;
}

/* One GPU measurement, by the rules the program's own line is read with
 * (gpucalib_from_json), in the judge's terms. */
static int gpu_one(json_t *o, const char *which, const char *gpu, struct gpucalib *g, struct kerr *err)
{
	if (gpucalib_from_json(o, g, err) < 0) {
		char why[KERR_MSG_MAX];
		snprintf(why, sizeof why, "%s", err->msg);
		return kerr_set(err, "judge.calibration", "calibration.json %s: %s", which, why);
	}
	if (strcmp(g->gpu, gpu))
		return kerr_set(err, "judge.calibration", "calibration.json %s: measured on \"%s\", the record says \"%s\"",
				which, g->gpu, gpu);
	return 0;
}

/* A GPU proof's calibration.json: the GPU calibration, both measurements
 * on the one GPU it names. */
static int gpu_calibration(json_t *cal, const struct claims *c, double *before_ms, double *after_ms, double *budget,
			   struct kerr *err)
{
	struct gpucalib b, a;
	json_t *before, *after;
	const char *device, *gpu;
	double ref_ms;
	json_error_t je;

	if (json_unpack_ex(cal, &je, 0, "{s:s, s:s, s:o, s:o, s:F, s:F}", "device", &device, "gpu", &gpu, "before",
			   &before, "after", &after, "ref_ms", &ref_ms, "budget_units", budget) < 0)
		return kerr_set(err, "judge.calibration", "calibration.json: %s", je.text);
	if (ref_ms != CALIB_GPU_REF_MS || c->ref_ms != CALIB_GPU_REF_MS)
		return kerr_set(err, "judge.calibration",
				"calibration.json: ref_ms %g (manifest %g) is not the harness's GPU reference %g", ref_ms,
				c->ref_ms, CALIB_GPU_REF_MS);
	/* The GPU it was calibrated on is the one it trained on: CUDA's name
	 * for it and the driver's (gpuinfo, /proc/driver/nvidia) are the same
	 * string (docs/calibration.md). A calibration on a slower GPU would
	 * stretch the time the budget allows on a faster one. */
	if (strcmp(gpu, c->gpu))
		return kerr_set(err, "judge.calibration",
				"calibration.json was measured on \"%.64s\", but the proof ran on \"%s\" "
				"(environment.device.gpu)",
				gpu, c->gpu);
	if (gpu_one(before, "before", gpu, &b, err) < 0 || gpu_one(after, "after", gpu, &a, err) < 0)
		return -1;
	*before_ms = b.median_ms;
	*after_ms = a.median_ms;
	return 0;
}

/* The calibration as recorded, checked against the harness's constants and
 * the manifest; fills the recomputed figures in r. A GPU proof (the
 * manifest's environment.device) needs the GPU calibration and a CPU proof
 * the SGEMM: each is measured against its own reference. */
static int check_calibration(json_t *cal, const struct claims *c, struct plausible_report *r, struct kerr *err)
{
	struct calib_budget cb;
	const char *device = NULL;
	double before_ms = 0, after_ms = 0, budget = 0;
	json_error_t je;

	if (json_unpack_ex(cal, &je, 0, "{s?s}", "device", &device) < 0)
		return kerr_set(err, "judge.calibration", "calibration.json: %s", je.text);
	if (device && strcmp(device, calib_ref_gpu.device))
		return kerr_set(err, "judge.calibration",
				"calibration.json: device \"%.32s\" is not one the harness calibrates (\"%s\")", device,
				calib_ref_gpu.device);
	if (c->ref == &calib_ref_gpu && !device)
		return kerr_set(err, "judge.calibration",
				"calibration.json is the CPU's SGEMM, but the proof ran on a GPU (environment.device): "
				"a GPU proof needs the GPU calibration (\"device\": \"%s\", docs/calibration.md)",
				calib_ref_gpu.device);
	if (c->ref == &calib_ref_cpu && device)
		return kerr_set(err, "judge.calibration",
				"calibration.json is a GPU calibration, but the manifest names no GPU "
				"(environment.device): a CPU proof needs the CPU's SGEMM calibration");
	if ((device ? gpu_calibration(cal, c, &before_ms, &after_ms, &budget, err)
		    : cpu_calibration(cal, c, &before_ms, &after_ms, &budget, err)) < 0)
		return -1;
	if (before_ms != c->before_ms || after_ms != c->after_ms || budget != c->budget_units)
		return kerr_set(err, "judge.calibration",
				"calibration.json medians (%g, %g ms) or budget %g differ from the manifest's "
				"(%g, %g ms, %g)",
				before_ms, after_ms, budget, c->before_ms, c->after_ms, c->budget_units);
	/* The model-FLOPs cap bounds what any claim buys (PROTOCOL 4.3); the
	 * time budget and the physical limit each take the miner-friendly
	 * median, so a machine's own noise never refuses an honest proof
	 * (docs/judging-checks.md, "What a calibration can buy"). */
	calib_budget(c->ref, c->budget_units, before_ms, after_ms, &cb);
	if (!(cb.ratio <= CALIB_AGREE_MAX))
		return kerr_set(err, "judge.calibration",
				"calibration.json medians %g ms before and %g ms after training differ %.2fx, more "
				"than %.2fx: no one machine gives both; prove again on a machine under steady "
				"load",
				before_ms, after_ms, cb.ratio, CALIB_AGREE_MAX);
	r->gpu = c->ref == &calib_ref_gpu;
	r->ref_ms = c->ref->ref_ms;
	r->calib_ms = cb.calib_ms;
	r->calib_gflops = cb.gflops;
	r->allowed_s = cb.allowed_s;
	r->flops_max = cb.flops_max;
	return 0;
}

/* ---- train.log --------------------------------------------------------- */

static int parse_header(json_t *o, const struct claims *c, int64_t lines_max, struct plausible_report *r,
			struct kerr *err)
{
	const char *ev, *fmt, *harness, *recipe, *version, *scale, *data, *tok;
	json_int_t seed, steps, params;
	json_error_t je;

	if (json_unpack_ex(o, &je, 0, "{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:I, s:I, s:i, s:i}", "event", &ev,
			   "format", &fmt, "harness", &harness, "recipe", &recipe, "recipe_version", &version, "seed",
			   &seed, "scale", &scale, "data", &data, "tokenizer", &tok, "steps", &steps, "params", &params,
			   "batch", &r->batch, "seq_len", &r->seq_len) < 0)
		return kerr_set(err, "judge.log_parse", "train.log line 1: %s", je.text);
	if (strcmp(ev, "header") || strcmp(fmt, TRAINLOG_FORMAT))
		return kerr_set(err, "judge.log_parse", "train.log line 1 is not a %s header", TRAINLOG_FORMAT);
	if (copy_str(r->recipe, sizeof r->recipe, recipe, "judge.log_parse", "train.log header recipe", err) < 0 ||
	    copy_str(r->recipe_version, sizeof r->recipe_version, version, "judge.log_parse",
		     "train.log header recipe_version", err) < 0 ||
	    copy_str(r->scale, sizeof r->scale, scale, "judge.log_parse", "train.log header scale", err) < 0 ||
	    copy_str(r->data_digest, sizeof r->data_digest, data, "judge.log_parse", "train.log header data", err) <
		0 ||
	    copy_str(r->tokenizer_digest, sizeof r->tokenizer_digest, tok, "judge.log_parse",
		     "train.log header tokenizer", err) < 0)
		return -1;
	r->steps = steps;
	r->params = params;
	/* Shapes first: they size what follows. A log cannot hold more step
	 * records than its bytes allow (every record carries a 64-hex prev),
	 * which bounds the per-step arrays by the file. */
	if (steps < 1 || steps > RECIPE_STEPS_MAX || steps > lines_max || params < 1 || r->batch < 1 ||
	    r->batch > RECIPE_BATCH_MAX || r->seq_len < 1 || r->seq_len > RECIPE_SEQ_LEN_MAX)
		return kerr_set(err, "judge.log_shape",
				"train.log header: steps %lld, params %lld, batch %d, seq_len %d are not a run's "
				"shape (the log has room for %lld records)",
				(long long)steps, (long long)params, r->batch, r->seq_len, (long long)lines_max);
	if (steps != c->steps)
		return kerr_set(err, "judge.log_shape",
				"train.log header declares %lld steps, the manifest claims %lld", (long long)steps,
				(long long)c->steps);
	if (seed < 0 || (uint64_t)seed != c->seed || strcmp(scale, c->scale) || strcmp(data, c->data) ||
	    strcmp(tok, c->tok) || strcmp(recipe, c->recipe) || strcmp(version, c->version) || params != c->params)
		return kerr_set(err, "judge.log_claim",
				"train.log header (seed, scale, data, tokenizer, recipe, params) differs from the "
				"manifest's config and results");
	r->seed = (uint64_t)seed;
	if (!hash_is_hex(r->data_digest, HASH_HEX_BYTES - 1) || !hash_is_hex(r->tokenizer_digest, HASH_HEX_BYTES - 1))
		return kerr_set(err, "judge.log_parse", "train.log header: data or tokenizer is not a SHA-256 hex");
	r->flops_per_step = PLAUSIBLE_FLOPS_PER_PARAM_TOKEN * (double)params * (double)r->batch * (double)r->seq_len;
	return 0;
}

static int step_losses(int64_t s, double loss, double lr, int vocab, struct kerr *err)
{
	double lnv = log((double)vocab);

	if (!isfinite(loss) || !(loss > 0) || !is_float_value(loss))
		return kerr_set(err, "judge.log_loss", "step %lld: loss %.17g is not a positive finite float",
				(long long)s, loss);
	if (s == 0 && (loss < lnv - PLAUSIBLE_LOSS0_BELOW_LNV || loss > lnv + PLAUSIBLE_LOSS0_ABOVE_LNV))
		return kerr_set(err, "judge.log_loss",
				"step 0: loss %.4f outside [ln V - %.1f, ln V + %.1f] = [%.4f, %.4f] for V = %d: "
				"the run did not start from a fresh initialisation",
				loss, PLAUSIBLE_LOSS0_BELOW_LNV, PLAUSIBLE_LOSS0_ABOVE_LNV,
				lnv - PLAUSIBLE_LOSS0_BELOW_LNV, lnv + PLAUSIBLE_LOSS0_ABOVE_LNV, vocab);
	if (!isfinite(lr) || lr < 0 || !is_float_value(lr))
		return kerr_set(err, "judge.log_lr", "step %lld: learning rate %.17g is not a finite float >= 0",
				(long long)s, lr);
	return 0;
}

static int on_step(json_t *o, int64_t lineno, int vocab, struct walk *w, struct plausible_report *r, struct kerr *err)
{
	json_int_t step, tokens;
	double lr, loss, wall, tps, dt_ms, gflops, peak = r->gpu ? PLAUSIBLE_PEAK_FACTOR_GPU : PLAUSIBLE_PEAK_FACTOR;
	json_error_t je;
	uint64_t want;

	if (json_unpack_ex(o, &je, 0, "{s:I, s:I, s:F, s:F, s:F, s:F}", "step", &step, "tokens", &tokens, "lr", &lr,
			   "loss", &loss, "wall_ms", &wall, "tok_per_s", &tps) < 0)
		return kerr_set(err, "judge.log_parse", "train.log line %lld: step record: %s", (long long)lineno,
				je.text);
	if (w->have_eval)
		return kerr_set(err, "judge.log_shape", "train.log line %lld: step record after the eval record",
				(long long)lineno);
	if (step != w->nsteps || w->nsteps >= r->steps)
		return kerr_set(err, "judge.log_shape",
				"train.log line %lld: step %lld where step %lld of %lld was due", (long long)lineno,
				(long long)step, (long long)w->nsteps, (long long)r->steps);
	want = (uint64_t)(step + 1) * (uint64_t)r->batch * (uint64_t)r->seq_len;
	if (tokens < 0 || (uint64_t)tokens != want)
		return kerr_set(err, "judge.log_shape",
				"train.log line %lld: step %lld reports %lld tokens, (step+1) x %d x %d = %llu",
				(long long)lineno, (long long)step, (long long)tokens, r->batch, r->seq_len,
				(unsigned long long)want);
	if (!isfinite(wall) || !(wall > w->wall_ms))
		return kerr_set(err, "judge.log_time",
				"train.log line %lld: step %lld wall_ms %.3f does not follow %.3f (time must be "
				"finite and strictly increasing)",
				(long long)lineno, (long long)step, wall, w->wall_ms);
	if (step_losses(step, loss, lr, vocab, err) < 0)
		return -1;
	/* The shortest window ending at this step that spans
	 * PLAUSIBLE_WINDOW_MS, or every step so far when they span less. Times
	 * increase strictly, so its start only moves forward. */
	w->wall[step] = wall;
	while (w->lo + 1 < step && wall - w->wall[w->lo + 1] >= PLAUSIBLE_WINDOW_MS)
		w->lo++;
	dt_ms = wall - (w->lo < 0 ? 0.0 : w->wall[w->lo]);
	gflops = r->flops_per_step * (double)(step - w->lo) / (dt_ms * 1e6);
	if (gflops > r->max_gflops) {
		r->max_gflops = gflops;
		r->max_gflops_step = step;
	}
	if (!(gflops <= peak * r->calib_gflops))
		return kerr_set(err, "judge.log_too_fast",
				"steps %lld to %lld took %.3f ms for %.3g FLOPs (6 x params x batch x seq_len a step): "
				"%.1f GFLOPS, above %.1f x the calibrated %.1f GFLOPS",
				(long long)(w->lo + 1), (long long)step, dt_ms,
				r->flops_per_step * (double)(step - w->lo), gflops, peak, r->calib_gflops);
	r->loss[step] = loss;
	r->lr[step] = lr;
	w->nsteps++;
	w->tokens = (uint64_t)tokens;
	w->wall_ms = wall;
	return 0;
}

static int on_checkpoint(json_t *o, int64_t lineno, struct walk *w, struct plausible_report *r, struct kerr *err)
{
	json_int_t step;
	const char *file, *sha;
	char want[PLAUSIBLE_FILE_MAX];
	struct plausible_ckpt *c;
	json_error_t je;

	if (json_unpack_ex(o, &je, 0, "{s:I, s:s, s:s}", "step", &step, "file", &file, "sha256", &sha) < 0)
		return kerr_set(err, "judge.log_parse", "train.log line %lld: checkpoint record: %s", (long long)lineno,
				je.text);
	/* train.c checkpoints right after the step record that completes it. */
	if (w->have_eval || step != w->nsteps || step < 1 || (r->nckpt > 0 && r->ckpt[r->nckpt - 1].step >= step))
		return kerr_set(err, "judge.log_shape",
				"train.log line %lld: checkpoint of step %lld after %lld step records",
				(long long)lineno, (long long)step, (long long)w->nsteps);
	/* Binding: no segment longer than the harness's gap, so the segment a
	 * validator replays is at most 1/TRAIN_SEGMENTS_MIN of the run. */
	if (step - (r->nckpt > 0 ? r->ckpt[r->nckpt - 1].step : 0) > train_ckpt_gap_max(r->steps))
		return kerr_set(err, "judge.ckpt_gap",
				"train.log line %lld: checkpoint of step %lld comes %lld steps after the previous one;"
				" the harness checkpoints at least every %lld steps of a %lld-step run",
				(long long)lineno, (long long)step,
				(long long)(step - (r->nckpt > 0 ? r->ckpt[r->nckpt - 1].step : 0)),
				(long long)train_ckpt_gap_max(r->steps), (long long)r->steps);
	if (step == r->steps)
		snprintf(want, sizeof want, "final.ckpt");
	else
		snprintf(want, sizeof want, "checkpoints/step_%06lld.ckpt", (long long)step);
	/* The name is checked exactly, so spot replay can open it safely. */
	if (strcmp(file, want) || !hash_is_hex(sha, HASH_HEX_BYTES - 1))
		return kerr_set(err, "judge.log_shape",
				"train.log line %lld: checkpoint of step %lld must name %s with a SHA-256 hex",
				(long long)lineno, (long long)step, want);
	if (r->nckpt == w->cap) {
		int cap = w->cap ? 2 * w->cap : 16;
		struct plausible_ckpt *p = realloc(r->ckpt, (size_t)cap * sizeof *p);
		if (!p)
			return kerr_set(err, "judge.nomem", "out of memory for checkpoint records");
		r->ckpt = p;
		w->cap = cap;
	}
	c = &r->ckpt[r->nckpt++];
	c->step = step;
	snprintf(c->file, sizeof c->file, "%s", file);
	memcpy(c->sha256, sha, HASH_HEX_BYTES);
	return 0;
}

static int on_eval(json_t *o, int64_t lineno, const struct claims *c, struct walk *w, struct plausible_report *r,
		   struct kerr *err)
{
	const char *split;
	json_int_t tokens, bytes;
	json_error_t je;

	if (json_unpack_ex(o, &je, 0, "{s:s, s:F, s:F, s:I, s:I}", "split", &split, "val_bpb", &r->val_bpb, "loss",
			   &r->val_loss, "tokens", &tokens, "bytes", &bytes) < 0)
		return kerr_set(err, "judge.log_parse", "train.log line %lld: eval record: %s", (long long)lineno,
				je.text);
	if (w->have_eval || strcmp(split, "val") || w->nsteps != r->steps || r->nckpt == 0 ||
	    r->ckpt[r->nckpt - 1].step != r->steps)
		return kerr_set(err, "judge.log_shape",
				"train.log line %lld: the one val eval record must follow the last step and the "
				"final checkpoint",
				(long long)lineno);
	w->have_eval = 1;
	if (r->val_bpb != c->val_bpb || r->val_loss != c->val_loss)
		return kerr_set(err, "judge.log_claim",
				"manifest claims val_bpb %.17g (loss %.17g), the log's eval record says %.17g "
				"(loss %.17g)",
				c->val_bpb, c->val_loss, r->val_bpb, r->val_loss);
	return 0;
}

static int on_record(const struct trainlog_rec *rec, int64_t lines_max, int vocab, const struct claims *c,
		     struct walk *w, struct plausible_report *r, struct kerr *err)
{
	json_t *o = rec->obj;
	int64_t lineno = rec->lineno;

	if (!rec->event)
		return kerr_set(err, "judge.log_parse", "train.log line %lld: not a record (no event)", (long long)lineno);
	if (lineno == 1) {
		if (parse_header(o, c, lines_max, r, err) < 0)
			return -1;
		if (!(r->loss = calloc((size_t)r->steps, sizeof *r->loss)) ||
		    !(r->lr = calloc((size_t)r->steps, sizeof *r->lr)) ||
		    !(w->wall = calloc((size_t)r->steps, sizeof *w->wall)))
			return kerr_set(err, "judge.nomem", "out of memory for %lld step records", (long long)r->steps);
		return 0;
	}
	switch (rec->kind) {
	case TRAINLOG_REC_STEP: return on_step(o, lineno, vocab, w, r, err);
	case TRAINLOG_REC_CHECKPOINT: return on_checkpoint(o, lineno, w, r, err);
	case TRAINLOG_REC_EVAL: return on_eval(o, lineno, c, w, r, err);
	default:
		return kerr_set(err, "judge.log_parse", "train.log line %lld: unexpected event '%.32s'",
				(long long)lineno, rec->event);
	}
}

static int walk_log(const char *dir, int vocab, const struct claims *c, struct walk *w, struct plausible_report *r,
		    struct kerr *err)
{
	char path[FS_PATH_MAX];
	struct trainlog_iter it;
	struct trainlog_rec rec;
	int64_t lineno = 0;
	int rc = -1, got;

	if (fs_join(path, sizeof path, err, "%s/train.log", dir) < 0 || trainlog_iter_open(&it, path, err) < 0)
		return -1;
	while ((got = trainlog_iter_next(&it, &rec, err)) == 1) {
		lineno = rec.lineno;
		if (on_record(&rec, (int64_t)(it.size / TRAINLOG_RECORD_BYTES_MIN), vocab, c, w, r, err) < 0)
			goto out;
	}
	if (got < 0 && !kerr_is_nomem(err)) {
		/* The log's framing and JSON, in the judge's terms (memory that
		 * ran out is the reader's, and keeps its code). */
		char why[KERR_MSG_MAX];
		snprintf(why, sizeof why, "%s", err->msg);
		kerr_set(err, "judge.log_parse", "train.log: %s", why);
		goto out;
	}
	if (got < 0)
		goto out;
	if (lineno == 0) {
		kerr_set(err, "judge.log_parse", "train.log is empty");
		goto out;
	}
	if (w->nsteps != r->steps || !w->have_eval)
		kerr_set(err, "judge.log_shape", "train.log has %lld step records%s, its header declares %lld",
			 (long long)w->nsteps, w->have_eval ? "" : " and no eval record", (long long)r->steps);
	else
		rc = 0;
out:
	trainlog_iter_close(&it);
	return rc;
}

/* ---- totals ------------------------------------------------------------ */

/* ", counted as X at alpha A (...)" beside a claim, or "" for the verified
 * tier. */
static const char *tier_note(char *note, size_t cap, double alpha, double counted)
{
	if (alpha >= 1.0)
		return "";
	snprintf(note, cap, ", counted as %.4g at alpha %.2g (an unverified proof's compute counts 1 / alpha)", counted,
		 alpha);
	return note;
}

static int check_totals(const struct claims *c, const struct walk *w, struct plausible_report *r, struct kerr *err)
{
	double claimed_s;
	char note[128];

	r->train_s = w->wall_ms / 1e3;
	if (c->tokens < 0 || (uint64_t)c->tokens != w->tokens)
		return kerr_set(err, "judge.log_claim", "manifest claims %lld tokens, the log's last step says %llu",
				(long long)c->tokens, (unsigned long long)w->tokens);
	/* The manifest's train_s also covers the final checkpoint's write, so
	 * it can only be longer than the last step's wall time. */
	if (c->train_s < r->train_s)
		return kerr_set(err, "judge.log_claim",
				"manifest claims %.3f s of training, the log's last step is at %.3f s", c->train_s,
				r->train_s);
	/* PROTOCOL 4: an unverified proof's compute claims count double
	 * (effective cost = claimed / alpha), in time and in FLOPs alike. */
	claimed_s = fmax(c->train_s, r->train_s);
	if (claimed_s / r->alpha > r->allowed_s)
		return kerr_set(err, "judge.over_budget",
				"training took %.3f s%s; %.0f budget units at the slower calibration (%.3f ms vs "
				"reference %.2f ms) allow %.3f s",
				claimed_s, tier_note(note, sizeof note, r->alpha, claimed_s / r->alpha), r->budget_units, r->calib_ms,
				r->ref_ms, r->allowed_s);
	/* The cap no timing claim enters: what the steps computed, by the same
	 * 6N count as the physical limit. */
	r->flops = r->flops_per_step * (double)r->steps;
	if (r->flops / r->alpha > r->flops_max)
		return kerr_set(err, "judge.over_budget",
				"the run's model FLOPs (6 x params x tokens) are %.4g%s; %.0f budget units allow "
				"%.4g whatever the calibration says: declare fewer steps or a smaller model",
				r->flops, tier_note(note, sizeof note, r->alpha, r->flops / r->alpha), r->budget_units, r->flops_max);
	return 0;
}

int plausible_check(const char *bundle_dir, int vocab_size, double alpha, struct plausible_report *r,
		    struct kerr *err)
{
	json_t *m = NULL, *cal = NULL;
	struct claims c;
	struct walk w = { .lo = -1 };
	const struct scale *sc;
	int rc = -1;
	/* every jansson call of the check, json_unpack_ex's key sets included
	 * (it says "out of memory", or in strict mode "items left unpacked",
	 * and the check would call either the proof's fault) */
	const unsigned long jm = jsonmem_begin();

	memset(r, 0, sizeof *r);
	r->max_gflops_step = -1;
	r->alpha = alpha > 0 && alpha <= 1.0 ? alpha : PLAUSIBLE_ALPHA_UNVERIFIED;
	if (vocab_size < 2 || vocab_size > 65536) {
		kerr_set(err, "judge.bad_vocab", "vocab size %d outside 2..65536", vocab_size);
		goto out;
	}
	if (!(m = load_json(bundle_dir, BUNDLE_MANIFEST, BUNDLE_MANIFEST_BYTES_MAX, "judge.bad_manifest", err)) ||
	    parse_manifest(m, &c, err) < 0)
		goto out;
	if (!(sc = scale_find(c.scale, err))) {
		snprintf(err->code, sizeof err->code, "judge.bad_manifest");
		goto out;
	}
	/* The budget is the scale's: a miner does not choose their own. */
	if (c.budget_units != sc->budget_units) {
		kerr_set(err, "judge.budget_units", "manifest budget_units %g, the %s scale's budget is %g",
			 c.budget_units, sc->name, sc->budget_units);
		goto out;
	}
	r->budget_units = sc->budget_units;
	if (!(cal = load_json(bundle_dir, "calibration.json", PLAUSIBLE_CALIB_BYTES_MAX, "judge.calibration", err)) ||
	    check_calibration(cal, &c, r, err) < 0)
		goto out;
	if (walk_log(bundle_dir, vocab_size, &c, &w, r, err) < 0 || check_totals(&c, &w, r, err) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0 && !kerr_is_nomem(err) && jsonmem_failed(jm)) {
		char was[KERR_MSG_MAX];

		snprintf(was, sizeof was, "%s", err->msg);
		kerr_set(err, "judge.nomem", "out of memory reading the bundle's JSON (what failed then: %.200s)", was);
	}
	json_decref(m);
	json_decref(cal);
	free(w.wall);
	if (rc < 0)
		plausible_report_free(r);
	return rc;
}

void plausible_report_free(struct plausible_report *r)
{
	free(r->loss);
	free(r->lr);
	free(r->ckpt);
	r->loss = r->lr = NULL;
	r->ckpt = NULL;
	r->nckpt = 0;
}
