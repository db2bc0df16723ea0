/* test_plausible.c: forged logs against judgment check 3 (log plausibility).
 * Each case builds a bundle directory whose train.log is a valid hash chain
 * written through the trainlog API (so the chain check alone would pass it),
 * with calibration.json and manifest.json shaped like the proof writer's,
 * changes one thing a cheating miner would change, and asserts the one
 * reason code plausible_check must give. An honest bundle passes. */
#include "../testutil.h"

#include <jansson.h>
#include <math.h>

#include "harness/calibrate.h"
#include "harness/trainlog.h"
#include "judge/plausible.h"
#include "util/hash.h"

#define V 320 /* the tiny scale's vocabulary */
#define STEPS 20
#define EVERY 2 /* within the harness's largest gap for 20 steps, ceil(20/8) = 3 */
#define B 4
#define T 16
#define PARAMS 10000
#define STEP_MS 10.0 /* 3.84 MFLOP in 10 ms: 0.4 GFLOPS, far under any limit */

#define GPU_NAME "NVIDIA H100 80GB HBM3"
/* A GPU proof's model: 3.84e12 FLOPs a step, 384 TFLOP/s at STEP_MS, far
 * above the CPU's limits and within the GPU's. */
#define GPU_PARAMS 10000000000LL

#define DATA_HEX "1111111111111111111111111111111111111111111111111111111111111111"
#define TOK_HEX "2222222222222222222222222222222222222222222222222222222222222222"

/* One bundle's numbers; each test starts from honest() and changes one. */
struct spec {
	int64_t header_steps, step_records, manifest_steps;
	double step_ms[STEPS]; /* duration of each step */
	float loss[STEPS], lr[STEPS];
	double loss_raw_at;    /* a step whose loss is written as this double (not a float) */
	int64_t raw_at;        /* -1, or the step whose loss is written unrepresentable */
	int64_t tokens_off_at; /* -1, or a step whose tokens are off by one */
	int nan_at;            /* -1, or a step whose record is a hand-written NaN */
	double budget, before_ms, after_ms, manifest_before_ms, gflops_scale;
	double alpha;          /* the tier check 2 gave the proof (judge() passes it on) */
	int64_t params;
	double val_bpb, claimed_bpb, train_s_extra;
	const char *ckpt_name_at_10; /* NULL: the harness's name */
	int every;                   /* checkpoint interval; 0: EVERY */
	int gpu_manifest;            /* the manifest's environment names a CUDA device */
	int gpu_calib;               /* calibration.json is the GPU calibration */
	const char *after_gpu;       /* the GPU the after calibration names; NULL: GPU_NAME */
	const char *calib_gpu;       /* the GPU calibration.json and both measurements name; NULL: GPU_NAME */
};

static char *work;
static int ncase;
static struct kerr last_err; /* the last refusal judge() saw */

/* the tiny scale's budget (scale.c), the verified tier's */
#define TINY_BUDGET 120.0

static void honest(struct spec *s)
{
	memset(s, 0, sizeof *s);
	s->header_steps = s->step_records = s->manifest_steps = STEPS;
	for (int i = 0; i < STEPS; i++) {
		s->step_ms[i] = STEP_MS + 0.25 * (i % 3);
		s->loss[i] = (float)(log(V) + 0.1 - 0.05 * i);
		s->lr[i] = i < 5 ? 3e-3f * (float)(i + 1) / 5 : 3e-3f;
	}
	s->raw_at = s->tokens_off_at = -1;
	s->nan_at = -1;
	s->budget = TINY_BUDGET;
	/* every bundle here is mock: its compute counts double, so the figures
	 * below are sized to half the scale's budget, 60 units */
	s->alpha = PLAUSIBLE_ALPHA_UNVERIFIED;
	s->before_ms = s->manifest_before_ms = 4.6;
	s->after_ms = 4.7;
	s->gflops_scale = 1.0;
	s->params = PARAMS;
	s->val_bpb = s->claimed_bpb = 2.4567891234;
	s->train_s_extra = 0.003;
}

static void sha_of(const char *what, char out[HASH_HEX_BYTES])
{
	hash_buf_hex(what, strlen(what), out);
}

/* A line in the canonical form with the chain's prev, by hand: what a
 * forger would append to a log he wrote himself. */
static void append_raw(const char *path, const char *fields, const char *prev)
{
	FILE *f = fopen(path, "a");

	assert_non_null(f);
	fprintf(f, "{%s,\"prev\":\"%s\"}\n", fields, prev);
	fclose(f);
}

static void write_log(const char *dir, const struct spec *s, double *last_wall)
{
	struct trainlog l;
	struct kerr err;
	struct trainlog_header h = {.recipe = "karpa-gpt",
				    .recipe_version = "0.1.0",
				    .scale = "tiny",
				    .seed = 7,
				    .data_digest = DATA_HEX,
				    .tokenizer_digest = TOK_HEX,
				    .steps = s->header_steps,
				    .params = s->params,
				    .batch = B,
				    .seq_len = T};
	char path[FS_PATH_MAX], sha[HASH_HEX_BYTES], name[64];
	double wall = 0;

	snprintf(path, sizeof path, "%s/train.log", dir);
	assert_int_equal(trainlog_open(&l, path, &h, &err), 0);
	for (int64_t i = 0; i < s->step_records; i++) {
		uint64_t tokens = (uint64_t)(i + 1) * B * T + (i == s->tokens_off_at);
		double loss = i == s->raw_at ? s->loss_raw_at : (double)s->loss[i];
		wall += s->step_ms[i];
		if (i == s->nan_at) {
			char fields[512];
			assert_int_equal(trainlog_close(&l, &err), 0);
			snprintf(fields, sizeof fields,
				 "\"event\":\"step\",\"loss\":NaN,\"lr\":0.003,\"step\":%lld,\"tok_per_s\":1.0,"
				 "\"tokens\":%llu,\"wall_ms\":%.17g",
				 (long long)i, (unsigned long long)tokens, wall);
			append_raw(path, fields, l.prev);
			*last_wall = wall;
			return;
		}
		assert_int_equal(
		    trainlog_step(&l, i, tokens, (double)s->lr[i], loss, wall, tokens / (wall / 1e3), &err), 0);
		if ((i + 1) % (s->every ? s->every : EVERY) == 0 && i + 1 < s->header_steps) {
			snprintf(name, sizeof name, "checkpoints/step_%06lld.ckpt", (long long)(i + 1));
			sha_of(name, sha);
			assert_int_equal(
			    trainlog_checkpoint(
				&l, i + 1, i + 1 == 10 && s->ckpt_name_at_10 ? s->ckpt_name_at_10 : name, sha, &err),
			    0);
		}
	}
	sha_of("final", sha);
	if (s->step_records == s->header_steps)
		assert_int_equal(trainlog_checkpoint(&l, s->header_steps, "final.ckpt", sha, &err), 0);
	assert_int_equal(trainlog_eval(&l, "val", s->val_bpb, 3.25, 1000, 4000, &err), 0);
	assert_int_equal(trainlog_close(&l, &err), 0);
	*last_wall = wall;
}

static json_t *calib_obj(double median_ms, double gflops_scale);

/* A GPU proof: calibrated near the reference GPU's median (1.42 ms). */
static void honest_gpu(struct spec *s)
{
	honest(s);
	s->gpu_manifest = s->gpu_calib = 1;
	s->before_ms = s->manifest_before_ms = 1.40;
	s->after_ms = 1.41;
	s->params = GPU_PARAMS;
}

/* One GPU measurement as the calibration program prints it. */
static json_t *gpu_calib_obj(double median_ms, double tflops_scale, const char *gpu)
{
	double tflops = 2.0 * CALIB_GPU_N * CALIB_GPU_N * (double)CALIB_GPU_N / (median_ms * 1e9);

	return json_pack("{s:i, s:i, s:f, s:f, s:f, s:f, s:s}", "n", CALIB_GPU_N, "repeats", CALIB_GPU_REPEATS,
			 "median_ms", median_ms, "min_ms", median_ms * 0.99, "max_ms", median_ms * 1.02, "tflops",
			 tflops * tflops_scale, "gpu", gpu);
}

static json_t *calibration_json(const struct spec *s, double train_s)
{
	const char *cg = s->calib_gpu ? s->calib_gpu : GPU_NAME;

	if (s->gpu_calib)
		return json_pack("{s:s, s:s, s:o, s:o, s:f, s:f, s:f, s:f}", "device", "cuda", "gpu", cg, "before",
				 gpu_calib_obj(s->before_ms, s->gflops_scale, cg), "after",
				 gpu_calib_obj(s->after_ms, 1.0, s->after_gpu ? s->after_gpu : cg), "ref_ms",
				 CALIB_GPU_REF_MS, "budget_units", s->budget, "allowed_s", 1e9, "train_s", train_s);
	return json_pack("{s:o, s:o, s:f, s:f, s:f, s:f, s:i, s:i}", "before", calib_obj(s->before_ms, s->gflops_scale),
			 "after", calib_obj(s->after_ms, 1.0), "ref_ms", CALIB_REF_MS, "budget_units", s->budget,
			 "allowed_s", 1e9, "train_s", train_s, "n", CALIB_N, "repeats", CALIB_REPEATS);
}

static json_t *calib_obj(double median_ms, double gflops_scale)
{
	double gflops = 2.0 * CALIB_N * CALIB_N * (double)CALIB_N / (median_ms * 1e6);

	return json_pack("{s:i, s:f, s:f, s:f, s:f}", "threads", 2, "median_ms", median_ms, "min_ms", median_ms * 0.97,
			 "max_ms", median_ms * 1.1, "gflops", gflops * gflops_scale);
}

static void write_json(const char *dir, const char *name, json_t *o)
{
	char path[FS_PATH_MAX];

	snprintf(path, sizeof path, "%s/%s", dir, name);
	assert_int_equal(json_dump_file(o, path, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(17)), 0);
	json_decref(o);
}

/* Writes a bundle directory from s and returns its path (static buffer). */
static const char *build(const struct spec *s)
{
	static char dir[FS_PATH_MAX];
	double wall, train_s, calib_ms = fmax(s->before_ms, s->after_ms);
	const struct calib_ref *ref = s->gpu_calib ? &calib_ref_gpu : &calib_ref_cpu;
	json_t *m;

	snprintf(dir, sizeof dir, "%s/b%02d", work, ncase++);
	assert_int_equal(fs_mkdir_p(dir, NULL), 0);
	write_log(dir, s, &wall);
	train_s = wall / 1e3 + s->train_s_extra;
	/* The recorded allowed_s is a lie the judge must not believe. */
	write_json(dir, "calibration.json", calibration_json(s, train_s));
	m = json_pack("{s:i, s:s, s:{s:I, s:s, s:i, s:f, s:s, s:s}, s:{s:f, s:f, s:f, s:f},"
		      " s:{s:I, s:I, s:I, s:f, s:f, s:f, s:s, s:s, s:s}}",
		      "protocol", 1, "kind", "karpa-bundle", "config", "seed", (json_int_t)7, "scale", "tiny", "threads",
		      2, "budget_units", s->budget, "data_manifest_sha256", DATA_HEX, "tokenizer_sha256", TOK_HEX,
		      "calibration", "before_ms", s->manifest_before_ms, "after_ms", s->after_ms, "ref_ms", ref->ref_ms,
		      "allowed_s", calib_allowed_s(ref, s->budget, calib_ms) * 1e6, "results", "steps",
		      (json_int_t)s->manifest_steps, "tokens", (json_int_t)(s->step_records * B * T), "params",
		      (json_int_t)s->params, "train_s", train_s, "val_bpb", s->claimed_bpb, "val_loss", 3.25,
		      "final_ckpt", "checkpoints/final.ckpt", "recipe", "karpa-gpt", "recipe_version", "0.1.0");
	/* what `karpa prove --device cuda` records (prove.c, device_json) */
	if (s->gpu_manifest)
		json_object_set_new(m, "environment",
				    json_pack("{s:{s:s, s:s, s:s, s:i, s:s}}", "device", "kind", "cuda", "gpu", GPU_NAME,
					      "driver", "580.159.04", "gpus", 1, "nvcc", "release 13.0, V13.0.88"));
	write_json(dir, "manifest.json", m);
	return dir;
}

/* Runs the check and returns its reason code ("" when it passed). */
static const char *judge(const struct spec *s, struct plausible_report *r)
{
	struct plausible_report local;

	kerr_clear(&last_err);
	if (plausible_check(build(s), V, s->alpha, r ? r : &local, &last_err) == 0) {
		if (!r)
			plausible_report_free(&local);
		return "";
	}
	print_message("    refused: %s: %s\n", last_err.code, last_err.msg);
	return last_err.code;
}

/* ---- cases -------------------------------------------------------------- */

static void honest_log_passes(void **st)
{
	struct spec s;
	struct plausible_report r;

	(void)st;
	honest(&s);
	assert_string_equal(judge(&s, &r), "");
	assert_int_equal(r.steps, STEPS);
	assert_int_equal(r.batch, B);
	assert_int_equal(r.seq_len, T);
	assert_int_equal(r.params, PARAMS);
	assert_int_equal(r.seed, 7);
	assert_string_equal(r.scale, "tiny");
	assert_true(r.val_bpb == s.val_bpb);
	/* allowed = 120 units x 4.7 / 4.6 ms: the slower calibration, recomputed
	 * (the bundle's own allowed_s says 1e9); the physical limit comes from
	 * the faster one. */
	assert_true(fabs(r.allowed_s - TINY_BUDGET * 4.7 / 4.6) < 1e-9);
	assert_true(r.alpha == PLAUSIBLE_ALPHA_UNVERIFIED);
	assert_true(r.calib_ms == 4.7);
	assert_true(r.calib_gflops > 58 && r.calib_gflops < 59); /* 2 x 512^3 / 4.6 ms */
	assert_true(r.flops_per_step == 6.0 * PARAMS * B * T);
	assert_true(r.flops == 6.0 * PARAMS * B * T * STEPS);
	assert_true(fabs(r.flops_max - TINY_BUDGET * CALIB_REF_GFLOPS * 1e9) < 1.0);
	assert_true(r.max_gflops > 0.3 && r.max_gflops < 0.4);
	{
		double wall = 0;
		for (int i = 0; i < STEPS; i++)
			wall += s.step_ms[i];
		assert_true(r.train_s == wall / 1e3);
	}
	for (int i = 0; i < STEPS; i++) {
		assert_true((float)r.loss[i] == s.loss[i]);
		assert_true((float)r.lr[i] == s.lr[i]);
	}
	/* Checkpoints at 2, 4, ..., 18 and the final one at 20. */
	assert_int_equal(r.nckpt, 10);
	assert_int_equal(r.ckpt[4].step, 10);
	assert_string_equal(r.ckpt[4].file, "checkpoints/step_000010.ckpt");
	assert_string_equal(r.ckpt[9].file, "final.ckpt");
	{
		char sha[HASH_HEX_BYTES];
		sha_of("checkpoints/step_000010.ckpt", sha);
		assert_string_equal(r.ckpt[4].sha256, sha);
	}
	plausible_report_free(&r);
}

static void reordered_time_is_refused(void **st)
{
	struct spec s;

	(void)st;
	/* Two records with the same wall_ms: the chain verifier accepts
	 * nondecreasing time, the judge needs strictly increasing. */
	honest(&s);
	s.step_ms[7] = 0;
	assert_string_equal(judge(&s, NULL), "judge.log_time");
}

/* The limit holds over windows of PLAUSIBLE_WINDOW_MS. With a model of
 * 3.84e9 FLOPs a step and the calibrated 58.4 GFLOPS, the limit is 233.4
 * GFLOPS: a step takes at least 16.5 ms on average over any window. */
#define WIN_PARAMS 10000000LL
static void window_above_physical_limit_is_refused(void **st)
{
	struct spec s;
	const double rate = 2.0 * CALIB_N * CALIB_N * (double)CALIB_N / 4.6e6; /* GFLOPS */

	(void)st;
	/* Steps 0-1 take 100 ms, 2-19 take 14 ms (274 GFLOPS each). The
	 * window ending at step 18 reaches back to step 0 (338 ms for 18
	 * steps, 204.5 GFLOPS); the one ending at step 19 starts at step 1
	 * (252 ms for 18 steps, 274.3 GFLOPS) and is the first over the limit. */
	honest(&s);
	s.params = WIN_PARAMS;
	for (int i = 0; i < STEPS; i++)
		s.step_ms[i] = i < 2 ? 100.0 : 14.0;
	assert_string_equal(judge(&s, NULL), "judge.log_too_fast");
	assert_non_null(strstr(last_err.msg, "steps 2 to 19 took 252.000 ms"));
	/* Every window just under the limit passes, just over it is refused. */
	honest(&s);
	s.params = WIN_PARAMS;
	for (int i = 0; i < STEPS; i++)
		s.step_ms[i] = 6.0 * WIN_PARAMS * B * T / (0.95 * PLAUSIBLE_PEAK_FACTOR * rate) / 1e6;
	assert_string_equal(judge(&s, NULL), "");
	for (int i = 0; i < STEPS; i++)
		s.step_ms[i] = 6.0 * WIN_PARAMS * B * T / (1.005 * PLAUSIBLE_PEAK_FACTOR * rate) / 1e6;
	assert_string_equal(judge(&s, NULL), "judge.log_too_fast");
	/* A step longer than the window is judged alone: at 1e9 parameters
	 * (3.84e11 FLOPs a step) steps of 4 s run at 96 GFLOPS, and one of
	 * 1.5 s at 256 GFLOPS is over the limit by itself. */
	honest(&s);
	s.params = 1000000000LL;
	for (int i = 0; i < STEPS; i++)
		s.step_ms[i] = 4000.0;
	s.step_ms[12] = 1500.0;
	assert_string_equal(judge(&s, NULL), "judge.log_too_fast");
	assert_non_null(strstr(last_err.msg, "steps 12 to 12 took 1500.000 ms"));
	/* Times divided by a thousand: the first step alone is over. */
	honest(&s);
	for (int i = 0; i < STEPS; i++)
		s.step_ms[i] /= 1000.0;
	assert_string_equal(judge(&s, NULL), "judge.log_too_fast");
	assert_non_null(strstr(last_err.msg, "steps 0 to 0 "));
}

/* One short step among long ones is timing noise, not a faster machine:
 * 3.84e9 FLOPs in 10 us would be 384 TFLOP/s alone, but the window ending
 * at it holds three 100 ms steps too (300 ms, 51 GFLOPS). Judged step by
 * step, this honest log was refused. */
static void short_step_in_a_window_passes(void **st)
{
	struct spec s;
	struct plausible_report r;

	(void)st;
	honest(&s);
	s.params = WIN_PARAMS;
	for (int i = 0; i < STEPS; i++)
		s.step_ms[i] = 100.0;
	s.step_ms[12] = 0.01;
	assert_string_equal(judge(&s, &r), "");
	assert_true(r.max_gflops < 2.0 * r.calib_gflops);
	assert_true(r.max_gflops > 51.0 && r.max_gflops < 52.0);
	assert_int_equal(r.max_gflops_step, 12);
	plausible_report_free(&r);
}

static void inflated_calibration_gflops_is_refused(void **st)
{
	struct spec s;

	(void)st;
	/* A bundle claiming a faster machine than its median shows (to raise
	 * the physical limit) is inconsistent. */
	honest(&s);
	s.gflops_scale = 3.0;
	assert_string_equal(judge(&s, NULL), "judge.calibration");
	honest(&s);
	s.manifest_before_ms = 4.5;
	assert_string_equal(judge(&s, NULL), "judge.calibration");
}

static void over_budget_is_refused(void **st)
{
	struct spec s;

	(void)st;
	/* 20 x 3.1 s = 62 s; 60 units (120 at alpha 0.5) at 4.7 / 4.6 ms
	 * allow 61.3 s. */
	honest(&s);
	for (int i = 0; i < STEPS; i++)
		s.step_ms[i] = 3100;
	assert_string_equal(judge(&s, NULL), "judge.over_budget");
	/* A slower machine gets proportionally more time (and a physical limit
	 * lower by as much): 4.9 / 4.6 x 60 s = 63.9 s. */
	s.before_ms = s.manifest_before_ms = s.after_ms = 4.9;
	assert_string_equal(judge(&s, NULL), "");
	/* The manifest's train_s (which includes the final checkpoint) counts
	 * too: within the log's time but over with the final write. */
	honest(&s);
	for (int i = 0; i < STEPS; i++)
		s.step_ms[i] = 3000;
	s.train_s_extra = 2.0;
	assert_string_equal(judge(&s, NULL), "judge.over_budget");
	/* Claiming less time than the log shows is a false claim. */
	s.train_s_extra = -0.5;
	assert_string_equal(judge(&s, NULL), "judge.log_claim");
}

/* A forged slow second calibration buys wall time (the time budget takes
 * the slower median, so a machine's own noise never refuses an honest
 * proof) but never compute: steps at full speed that use the extra time
 * exceed the model-FLOPs cap. Before the cap, an "after" 10x slower bought
 * 600 s of budget for steps at full speed, and that was the whole defence.
 * A pair no one machine gives (beyond CALIB_AGREE_MAX) is refused whichever
 * one is slower. */
static void slow_second_calibration_buys_nothing(void **st)
{
	struct spec s;
	/* 20 steps of 20 s (400 s, within the 600 s a 46 ms "after" allows),
	 * each at 10% over the cap's share of the run: 1.1 x 3.5e12 / 20 FLOPs
	 * per step, 9.6 GFLOPS, far under the physical limit (2 x 58.4). */
	const int64_t params = (int64_t)(1.1 * 60 * CALIB_REF_GFLOPS * 1e9 / STEPS / (6.0 * B * T));

	(void)st;
	honest(&s);
	s.params = params;
	s.after_ms = 4.6 * 10;
	for (int i = 0; i < STEPS; i++)
		s.step_ms[i] = 20000;
	assert_string_equal(judge(&s, NULL), "judge.over_budget");
	assert_non_null(strstr(last_err.msg, "model FLOPs"));
	/* The same the other way round. */
	s.after_ms = 4.7;
	s.before_ms = s.manifest_before_ms = 4.7 * 10;
	assert_string_equal(judge(&s, NULL), "judge.over_budget");
	/* Within the cap the slow claim is a slow machine as far as anyone can
	 * tell: the time passes. */
	s.params = params / 2;
	assert_string_equal(judge(&s, NULL), "");
	/* Just beyond the agreement bound, either way round. */
	honest(&s);
	s.after_ms = 4.6 * CALIB_AGREE_MAX * 1.01;
	assert_string_equal(judge(&s, NULL), "judge.calibration");
	honest(&s);
	s.before_ms = s.manifest_before_ms = 4.7 * CALIB_AGREE_MAX * 1.01;
	assert_string_equal(judge(&s, NULL), "judge.calibration");
	/* Within it passes. */
	honest(&s);
	s.after_ms = 4.6 * CALIB_AGREE_MAX * 0.99;
	assert_string_equal(judge(&s, NULL), "");
}

/* A miner claims a machine 4x slower than the reference (both medians
 * 18.4 ms) while training at the reference's speed with a recipe that
 * reaches 0.375 of the SGEMM rate (tiny's v0.1.0 reaches 0.36). Each step
 * is under the claimed machine's physical limit (2 x 14.6 GFLOPS) and the
 * run (228 s) under the 240 s the claim allows, so time alone lets it
 * through; the same log against the true calibration is 3.8x over budget.
 * Its model FLOPs (85.5 reference seconds' worth) exceed what 60 budget
 * units (tiny's 120 at alpha 0.5) buy whatever the calibration says. */
static void slow_calibration_buys_no_compute(void **st)
{
	struct spec s;
	const double dt_ms = 228.0 / STEPS * 1e3;
	const int64_t params = (int64_t)(0.375 * CALIB_REF_GFLOPS * 1e9 * dt_ms / 1e3 / (6.0 * B * T));

	(void)st;
	honest(&s);
	s.params = params;
	for (int i = 0; i < STEPS; i++)
		s.step_ms[i] = dt_ms;
	s.before_ms = s.manifest_before_ms = s.after_ms = 4.0 * CALIB_REF_MS;
	assert_string_equal(judge(&s, NULL), "judge.over_budget");
	assert_non_null(strstr(last_err.msg, "model FLOPs"));
	/* The truth about the machine does not help either. */
	s.before_ms = s.manifest_before_ms = s.after_ms = CALIB_REF_MS;
	assert_string_equal(judge(&s, NULL), "judge.over_budget");
	/* Half the model is within the FLOPs budget (43 of 60 reference
	 * seconds' worth) and passes: a slow claim cannot be told from a slow
	 * machine, but it can no longer buy more than the budget. */
	honest(&s);
	s.params = params / 2;
	for (int i = 0; i < STEPS; i++)
		s.step_ms[i] = dt_ms;
	s.before_ms = s.manifest_before_ms = s.after_ms = 4.0 * CALIB_REF_MS;
	assert_string_equal(judge(&s, NULL), "");
}

/* PROTOCOL 4: an unverified proof's compute claims count double. The same
 * log passes at the verified tier and is refused at the unverified one, in
 * time and in model FLOPs; an alpha outside (0, 1] is the unverified
 * tier's. */
static void unverified_compute_counts_double(void **st)
{
	struct spec s;
	const double bad_alpha[] = { 0.0, -1.0, 2.0, NAN, INFINITY };
	const int64_t params = (int64_t)(1.1 * 60 * CALIB_REF_GFLOPS * 1e9 / STEPS / (6.0 * B * T));

	(void)st;
	/* 62 s: over 61.3 s at alpha 0.5, within 122.6 s at alpha 1 */
	honest(&s);
	for (int i = 0; i < STEPS; i++)
		s.step_ms[i] = 3100;
	assert_string_equal(judge(&s, NULL), "judge.over_budget");
	assert_non_null(strstr(last_err.msg, "alpha 0.5"));
	s.alpha = 1.0;
	assert_string_equal(judge(&s, NULL), "");
	for (size_t i = 0; i < sizeof bad_alpha / sizeof bad_alpha[0]; i++) {
		s.alpha = bad_alpha[i];
		assert_string_equal(judge(&s, NULL), "judge.over_budget");
	}
	/* 1.1 x 60 units' worth of model FLOPs: within the 120 of the verified
	 * tier, over at alpha 0.5 (time is no bar: 400 s of steps, with a slow
	 * "after" calibration allowing 1200 s) */
	honest(&s);
	s.params = params;
	s.after_ms = 4.6 * 10;
	for (int i = 0; i < STEPS; i++)
		s.step_ms[i] = 20000;
	assert_string_equal(judge(&s, NULL), "judge.over_budget");
	assert_non_null(strstr(last_err.msg, "model FLOPs"));
	assert_non_null(strstr(last_err.msg, "alpha 0.5"));
	s.alpha = 1.0;
	assert_string_equal(judge(&s, NULL), "");
}

/* The trainlog fuzz target walks its inputs beside the fixture bundle's
 * manifest and calibration (tests/fuzz/fixture/proof): its seed log must
 * pass, or every mutation stops at the fixture's first stale field (the
 * scale's budget, say) and the fuzzer never reaches the log walk. */
static void fuzz_fixture_passes(void **st)
{
	const char *src = getenv("KARPA_SRC") ? getenv("KARPA_SRC") : ".";
	char *dir = tu_mkdtemp();
	struct plausible_report r;
	struct kerr err = { { 0 }, { 0 } };

	(void)st;
	assert_int_equal(tu_run(NULL, 0,
				"cp '%s/tests/fuzz/fixture/proof/manifest.json' '%s/tests/fuzz/fixture/proof/calibration.json' "
				"'%s/' && cp '%s/tests/fuzz/corpus/trainlog/proof-train.log' '%s/train.log'",
				src, src, dir, src, dir),
			 0);
	if (plausible_check(dir, V, PLAUSIBLE_ALPHA_UNVERIFIED, &r, &err) < 0)
		fail_msg("the fuzz fixture is refused: %s: %s", err.code, err.msg);
	plausible_report_free(&r);
	tu_rmdir(dir);
}

static void own_budget_is_refused(void **st)
{
	struct spec s;

	(void)st;
	honest(&s);
	s.budget = 2 * TINY_BUDGET;
	assert_string_equal(judge(&s, NULL), "judge.budget_units");
	/* the unverified tier's half of it is not the scale's either */
	s.budget = TINY_BUDGET / 2;
	assert_string_equal(judge(&s, NULL), "judge.budget_units");
}

static void implausible_first_loss_is_refused(void **st)
{
	struct spec s;

	(void)st;
	/* ln 320 = 5.77: a run starting at 1.5 nats was not initialised fresh. */
	honest(&s);
	s.loss[0] = 1.5f;
	assert_string_equal(judge(&s, NULL), "judge.log_loss");
	honest(&s);
	s.loss[0] = (float)(log(V) + 3.0);
	assert_string_equal(judge(&s, NULL), "judge.log_loss");
	/* Just inside the window passes. */
	honest(&s);
	s.loss[0] = (float)(log(V) - 0.9);
	assert_string_equal(judge(&s, NULL), "");
}

static void nonfinite_or_nonpositive_loss_is_refused(void **st)
{
	struct spec s;
	struct trainlog_summary sum;
	struct kerr err;
	char path[FS_PATH_MAX];

	(void)st;
	/* JSON has no NaN: a forged NaN record is not a record at all, and the
	 * chain verifier refuses it as well. */
	honest(&s);
	s.nan_at = 19; /* late enough that the lines can still hold the declared steps */
	assert_string_equal(judge(&s, NULL), "judge.log_parse");
	snprintf(path, sizeof path, "%s/b%02d/train.log", work, ncase - 1);
	assert_int_equal(trainlog_verify(path, &sum, &err), -1);
	assert_string_equal(err.code, "log.parse");
	honest(&s);
	s.loss[9] = 0.0f;
	assert_string_equal(judge(&s, NULL), "judge.log_loss");
	honest(&s);
	s.loss[9] = -1.0f;
	assert_string_equal(judge(&s, NULL), "judge.log_loss");
	/* The harness logs float losses widened to double; 3.1 as a double is
	 * no float's value, so a person typed it. */
	honest(&s);
	s.raw_at = 9;
	s.loss_raw_at = 3.1;
	assert_string_equal(judge(&s, NULL), "judge.log_loss");
}

static void negative_lr_is_refused(void **st)
{
	struct spec s;

	(void)st;
	honest(&s);
	s.lr[3] = -1e-3f;
	assert_string_equal(judge(&s, NULL), "judge.log_lr");
}

static void claimed_bpb_must_match_log(void **st)
{
	struct spec s;

	(void)st;
	honest(&s);
	s.claimed_bpb = nextafter(s.val_bpb, 0); /* one ulp better is still a lie */
	assert_string_equal(judge(&s, NULL), "judge.log_claim");
}

static void step_counts_must_agree(void **st)
{
	struct spec s;

	(void)st;
	honest(&s);
	s.manifest_steps = STEPS + 1;
	assert_string_equal(judge(&s, NULL), "judge.log_shape");
	/* A header that declares more steps than the log holds. */
	honest(&s);
	s.header_steps = STEPS + 5;
	s.manifest_steps = STEPS + 5;
	assert_string_equal(judge(&s, NULL), "judge.log_shape");
	/* Tokens not (step+1) x B x T. */
	honest(&s);
	s.tokens_off_at = 4;
	assert_string_equal(judge(&s, NULL), "judge.log_shape");
}

static void checkpoint_names_are_the_harness_names(void **st)
{
	struct spec s;

	(void)st;
	honest(&s);
	s.ckpt_name_at_10 = "../../elsewhere.ckpt";
	assert_string_equal(judge(&s, NULL), "judge.log_shape");
}

/* Checkpoints further apart than the harness's gap (ceil(20/8) = 3 steps):
 * a segment too long to be replayed within the binding budget. */
static void checkpoint_gap_is_bounded(void **st)
{
	struct spec s;

	(void)st;
	honest(&s);
	s.every = 3;
	assert_string_equal(judge(&s, NULL), "");
	s.every = 4;
	assert_string_equal(judge(&s, NULL), "judge.ckpt_gap");
	s.every = 25; /* final only */
	assert_string_equal(judge(&s, NULL), "judge.ckpt_gap");
}

/* A GPU proof (environment.device) with the GPU calibration is measured
 * against the reference GPU: its steps at 384 TFLOP/s are within twice the
 * calibrated 780 TFLOP/s, its 7.7e13 model FLOPs within 60 reference-GPU
 * seconds (4.6e16), and its time budget is 60 x 1.41 / 1.42 s. Against the
 * CPU's constants every one of its steps would be too fast. */
static void gpu_proof_with_gpu_calibration_passes(void **st)
{
	struct spec s;
	struct plausible_report r;

	(void)st;
	honest_gpu(&s);
	assert_string_equal(judge(&s, &r), "");
	assert_int_equal(r.gpu, 1);
	assert_true(r.ref_ms == CALIB_GPU_REF_MS);
	assert_true(fabs(r.allowed_s - TINY_BUDGET * 1.41 / CALIB_GPU_REF_MS) < 1e-9);
	assert_true(r.calib_ms == 1.41);
	assert_true(fabs(r.calib_gflops - 2.0 * CALIB_GPU_N * CALIB_GPU_N * (double)CALIB_GPU_N / 1.40e6) < 1e-6);
	assert_true(fabs(r.flops_max - TINY_BUDGET * CALIB_GPU_REF_GFLOPS * 1e9) < 1e3);
	assert_true(r.flops > 60.0 * CALIB_REF_GFLOPS * 1e9); /* over the CPU's cap */
	assert_true(r.max_gflops > PLAUSIBLE_PEAK_FACTOR * CALIB_REF_GFLOPS); /* over the CPU's limit */
	plausible_report_free(&r);
	/* the same log and calibration without the device: a CPU proof with a
	 * GPU calibration */
	honest_gpu(&s);
	s.gpu_manifest = 0;
	assert_string_equal(judge(&s, NULL), "judge.calibration");
	assert_non_null(strstr(last_err.msg, "CPU proof needs the CPU's SGEMM"));
	/* a GPU proof's time budget is the GPU's: 20 x 3.1 s = 62 s is over
	 * the 60.9 s that 60 units (120 at alpha 0.5) allow at 1.41 ms */
	honest_gpu(&s);
	for (int i = 0; i < STEPS; i++)
		s.step_ms[i] = 3100;
	assert_string_equal(judge(&s, NULL), "judge.over_budget");
}

/* A GPU proof whose calibration.json is the CPU's SGEMM: the CPU's
 * constants would judge a GPU run, so it is refused before anything is
 * measured against them. */
static void gpu_proof_with_cpu_calibration_is_refused(void **st)
{
	struct spec s;

	(void)st;
	honest(&s);
	s.gpu_manifest = 1;
	assert_string_equal(judge(&s, NULL), "judge.calibration");
	assert_non_null(strstr(last_err.msg, "a GPU proof needs the GPU calibration"));
	/* a device the harness does not know */
	honest_gpu(&s);
	assert_string_equal(judge(&s, NULL), "");
	{
		const char *dir = build(&s);
		char path[FS_PATH_MAX];
		struct plausible_report r;
		json_t *m;

		snprintf(path, sizeof path, "%s/manifest.json", dir);
		m = json_load_file(path, 0, NULL);
		assert_non_null(m);
		json_object_set_new(json_object_get(json_object_get(m, "environment"), "device"), "kind",
				    json_string("tpu"));
		write_json(dir, "manifest.json", m);
		kerr_clear(&last_err);
		assert_int_equal(plausible_check(dir, V, s.alpha, &r, &last_err), -1);
		assert_string_equal(last_err.code, "judge.bad_manifest");
	}
}

/* The GPU calibration's own figures: bounded and consistent like the
 * program's line, both measurements on the GPU the record names, the
 * harness's GPU reference. */
static void gpu_calibration_figures_are_checked(void **st)
{
	struct spec s;

	(void)st;
	honest_gpu(&s);
	s.gflops_scale = 1.5; /* a faster GPU than the median shows */
	assert_string_equal(judge(&s, NULL), "judge.calibration");
	honest_gpu(&s);
	s.after_gpu = "NVIDIA H200";
	assert_string_equal(judge(&s, NULL), "judge.calibration");
	assert_non_null(strstr(last_err.msg, "NVIDIA H200"));
	/* both measurements on one GPU, but not the one the proof ran on */
	honest_gpu(&s);
	s.calib_gpu = "NVIDIA A100-SXM4-80GB";
	assert_string_equal(judge(&s, NULL), "judge.calibration");
	assert_non_null(strstr(last_err.msg, "NVIDIA A100-SXM4-80GB"));
	assert_non_null(strstr(last_err.msg, "environment.device.gpu"));
	honest_gpu(&s);
	s.manifest_before_ms = 1.39;
	assert_string_equal(judge(&s, NULL), "judge.calibration");
	/* a median no GPU gives (0.01 ms: 110 PFLOP/s) */
	honest_gpu(&s);
	s.before_ms = s.manifest_before_ms = 0.01;
	assert_string_equal(judge(&s, NULL), "judge.calibration");
	/* medians further apart than CALIB_AGREE_MAX */
	honest_gpu(&s);
	s.after_ms = 1.40 * CALIB_AGREE_MAX * 1.01;
	assert_string_equal(judge(&s, NULL), "judge.calibration");
}

/* Steps faster than PLAUSIBLE_PEAK_FACTOR_GPU times the calibrated GPU rate: 3.84e12 FLOPs in 1 ms
 * is 3840 TFLOP/s, over 2 x 780; 0.95 x the limit passes. A GPU step at the
 * real scales is longer than the window; here 20 steps of 1 ms are all one
 * window, and one 1 ms step among 10 ms ones is not a window over. */
static void gpu_step_above_physical_limit_is_refused(void **st)
{
	struct spec s;
	const double rate = 2.0 * CALIB_GPU_N * CALIB_GPU_N * (double)CALIB_GPU_N / 1.40e6; /* GFLOPS */

	(void)st;
	honest_gpu(&s);
	for (int i = 0; i < STEPS; i++)
		s.step_ms[i] = 1.0;
	assert_string_equal(judge(&s, NULL), "judge.log_too_fast");
	assert_non_null(strstr(last_err.msg, "steps 0 to 0 "));
	honest_gpu(&s);
	s.step_ms[12] = 1.0;
	assert_string_equal(judge(&s, NULL), "");
	honest_gpu(&s);
	for (int i = 0; i < STEPS; i++)
		s.step_ms[i] = 6.0 * GPU_PARAMS * B * T / (0.95 * PLAUSIBLE_PEAK_FACTOR_GPU * rate) / 1e6;
	assert_string_equal(judge(&s, NULL), "");
	for (int i = 0; i < STEPS; i++)
		s.step_ms[i] = 6.0 * GPU_PARAMS * B * T / (1.005 * PLAUSIBLE_PEAK_FACTOR_GPU * rate) / 1e6;
	assert_string_equal(judge(&s, NULL), "judge.log_too_fast");
}

static void missing_files_are_refused(void **st)
{
	struct spec s;
	struct plausible_report r;
	struct kerr err;
	char p[FS_PATH_MAX];
	const char *dir;

	(void)st;
	honest(&s);
	dir = build(&s);
	snprintf(p, sizeof p, "%s/calibration.json", dir);
	unlink(p);
	assert_int_equal(plausible_check(dir, V, s.alpha, &r, &err), -1);
	assert_int_equal(strncmp(err.code, "fs.", 3), 0);
	assert_int_equal(plausible_check(dir, 1, s.alpha, &r, &err), -1);
	assert_string_equal(err.code, "judge.bad_vocab");
}

static int setup(void **st)
{
	(void)st;
	hash_init_lib();
	work = tu_mkdtemp();
	return 0;
}

static int teardown(void **st)
{
	(void)st;
	tu_rmdir(work);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(honest_log_passes),
	    cmocka_unit_test(reordered_time_is_refused),
	    cmocka_unit_test(window_above_physical_limit_is_refused),
	    cmocka_unit_test(short_step_in_a_window_passes),
	    cmocka_unit_test(inflated_calibration_gflops_is_refused),
	    cmocka_unit_test(over_budget_is_refused), cmocka_unit_test(unverified_compute_counts_double),
	    cmocka_unit_test(fuzz_fixture_passes),
	    cmocka_unit_test(slow_second_calibration_buys_nothing),
	    cmocka_unit_test(slow_calibration_buys_no_compute),
	    cmocka_unit_test(own_budget_is_refused),
	    cmocka_unit_test(implausible_first_loss_is_refused),
	    cmocka_unit_test(nonfinite_or_nonpositive_loss_is_refused),
	    cmocka_unit_test(negative_lr_is_refused),
	    cmocka_unit_test(claimed_bpb_must_match_log),
	    cmocka_unit_test(step_counts_must_agree),
	    cmocka_unit_test(checkpoint_names_are_the_harness_names),
	    cmocka_unit_test(checkpoint_gap_is_bounded),
	    cmocka_unit_test(gpu_proof_with_gpu_calibration_passes),
	    cmocka_unit_test(gpu_proof_with_cpu_calibration_is_refused),
	    cmocka_unit_test(gpu_calibration_figures_are_checked),
	    cmocka_unit_test(gpu_step_above_physical_limit_is_refused),
	    cmocka_unit_test(missing_files_are_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
