/* plausible.h: judgment check 3, log plausibility (PROTOCOL 5.3). Owns the
 * rules a proof's train.log, calibration.json and manifest.json must satisfy
 * together, judged from the bundle directory alone: no recipe code runs.
 * Never trusts a number the miner wrote when the validator can recompute it
 * (allowed wall time, calibrated GFLOPS, the scale's budget).
 *
 * It assumes bundle_verify has already checked the log's hash chain, but
 * re-parses every value with its own bounds, so a forged file can make it
 * refuse, never crash or over-allocate. docs/judging-checks.md has the rules,
 * formulas and thresholds with their reasons. */
#ifndef KARPA_PLAUSIBLE_H
#define KARPA_PLAUSIBLE_H

#include <stdint.h>

#include "sandbox/recipe_api.h"
#include "util/hash.h"
#include "util/kerr.h"

/* How far a step's throughput may exceed the calibrated GEMM rate.
 * OpenBLAS's 512^3 SGEMM (the CPU calibration) runs at most of the FMA
 * peak of the vectors it uses, so a hand-tuned kernel of the same width
 * beats it by tens of percent, not 2x: one factor of 2 is margin for that
 * and for clock boost between the calibration and a step. The other is
 * for width: the recipe's GEMM runs AVX-512 where the CPU has it
 * (recipe/kernels.c), while OpenBLAS may be held to AVX2 kernels
 * (OPENBLAS_CORETYPE=Haswell, which some builds need on some CPUs), and
 * then an honest tiny proof's first steps ran at 2.01x the calibration
 * (34.0 against 16.9 GFLOPS, measured) and were refused. */
#define PLAUSIBLE_PEAK_FACTOR 4.0
/* The same for a GPU proof: the calibration's bf16 8192^3 GEMM runs at
 * about 80% of the chip's dense bf16 peak, on the units the recipe's
 * products use, and a step's 6N rate sits below any one product's
 * (docs/judging-checks.md). */
#define PLAUSIBLE_PEAK_FACTOR_GPU 2.0
/* The limit holds for the steps of a window at least this long, not for
 * each step: on a loaded machine the calibration and one short step can
 * each catch a different share of the cores, and a 3 ms step at tiny has
 * been seen at 4.5x a calibration taken under the same load. A quarter of a
 * second spans tens of the scheduler's slices, so the load averages out,
 * while a machine faster than its calibration still shows in every window.
 * A GPU step is longer than the window and is judged alone. */
#define PLAUSIBLE_WINDOW_MS 250.0
/* FLOPs of one training step per parameter per token: forward 2, backward 4
 * (the usual 6N estimate; attention's own FLOPs are left out, which only
 * makes the limit more lenient). */
#define PLAUSIBLE_FLOPS_PER_PARAM_TOKEN 6.0
/* A freshly initialised model predicts nearly uniformly, so its first loss
 * is close to ln(V): a little below when init already favours frequent
 * tokens by chance, up to a few nats above with a large init scale. A first
 * loss more than 1 nat below ln(V) means the run did not start from scratch. */
#define PLAUSIBLE_LOSS0_BELOW_LNV 1.0
#define PLAUSIBLE_LOSS0_ABOVE_LNV 2.5
/* The unverified tier's alpha (attest.h): what an alpha outside (0, 1] is
 * taken as, the strictest tier. */
#define PLAUSIBLE_ALPHA_UNVERIFIED 0.5
/* calibration.json is a dozen numbers (~500 bytes). */
#define PLAUSIBLE_CALIB_BYTES_MAX 65536
/* "checkpoints/step_NNNNNN.ckpt" with room for longer step numbers. */
#define PLAUSIBLE_FILE_MAX 64
#define PLAUSIBLE_SCALE_MAX 32

/* One checkpoint record of the log. file is relative to the run folder as
 * train.c wrote it: "checkpoints/step_NNNNNN.ckpt", or "final.ckpt" (which
 * the bundle stores as checkpoints/final.ckpt). */
struct plausible_ckpt {
	int64_t step;
	char file[PLAUSIBLE_FILE_MAX];
	char sha256[HASH_HEX_BYTES];
};

struct plausible_report {
	/* the log header (equal to the manifest's config once the check passes) */
	char recipe[KR_NAME_MAX], recipe_version[KR_NAME_MAX], scale[PLAUSIBLE_SCALE_MAX];
	uint64_t seed;
	char data_digest[HASH_HEX_BYTES], tokenizer_digest[HASH_HEX_BYTES];
	int64_t steps, params;
	int batch, seq_len;
	/* time and budget */
	double train_s;        /* the step loop's wall time: last step record's wall_ms / 1e3 */
	double allowed_s;      /* recomputed: calib_allowed_s(ref, scale budget, calib_ms) */
	double alpha;          /* the proof's attestation tier: its time and FLOPs count 1 / alpha */
	double budget_units;   /* the scale's */
	int gpu;               /* 1: a GPU proof, measured by the GPU calibration */
	double ref_ms;         /* the reference median budgets are written in: CALIB_REF_MS or CALIB_GPU_REF_MS */
	double calib_ms;       /* the slower of the two calibration medians: the time budget's figure */
	double calib_gflops;   /* recomputed from the faster median: the physical limit's base */
	double flops_per_step; /* PLAUSIBLE_FLOPS_PER_PARAM_TOKEN * params * batch * seq_len */
	double flops;          /* flops_per_step * steps: the run's model FLOPs */
	double flops_max;      /* the budget in model FLOPs (calib_budget), no calibration in it */
	double max_gflops;     /* highest throughput of a window of steps (PLAUSIBLE_WINDOW_MS) */
	int64_t max_gflops_step; /* the last step of that window */
	/* the claim */
	double val_bpb, val_loss;
	/* per step, for spot replay: exactly the logged doubles (floats widened) */
	double *loss, *lr;           /* steps entries each, owned */
	struct plausible_ckpt *ckpt; /* every checkpoint record in log order, owned */
	int nckpt;
};

/* Judges bundle_dir/{manifest.json,calibration.json,train.log}. vocab_size is
 * the tokenizer's (the manifest names the data, not its vocabulary). alpha is
 * the tier check 2 gave the proof's evidence (attest_verify, with
 * attest_tier_for_run): an unverified proof's compute claims count double
 * against the budget (PROTOCOL 4, effective cost = claimed / alpha); a value
 * outside (0, 1] is taken as the unverified tier's. On
 * success fills r (free with plausible_report_free); on failure r holds
 * nothing to free. Reason codes:
 *   judge.bad_manifest, judge.calibration  fields missing, malformed or
 *                                          inconsistent with each other,
 *                                          medians more than CALIB_AGREE_MAX
 *                                          apart, or a calibration of the
 *                                          other kind (a GPU proof, one with
 *                                          environment.device, needs the GPU
 *                                          calibration; a CPU proof the SGEMM)
 *   judge.log_parse       a record is not what the harness writes
 *   judge.log_shape       counts, numbering, tokens, checkpoint records
 *   judge.log_time        wall_ms not finite, positive and strictly increasing
 *   judge.log_too_fast    a window of steps above PLAUSIBLE_PEAK_FACTOR x
 *                         calibrated GFLOPS
 *   judge.budget_units    the manifest's budget is not the scale's
 *   judge.over_budget     training took longer than the budget allows, or
 *                         its model FLOPs exceed the budget's FLOPs, each
 *                         counted 1 / alpha
 *   judge.log_loss        a loss non-finite, <= 0, not a float, or a first
 *                         loss outside [ln V - 1, ln V + 2.5]
 *   judge.log_lr          a learning rate non-finite, negative or not a float
 *   judge.log_claim       the manifest claims what the log does not say
 *                         (val_bpb, steps' tokens, seed, data, recipe, ...)
 *   fs.*                  a file missing or too large */
int plausible_check(const char *bundle_dir, int vocab_size, double alpha, struct plausible_report *r,
		    struct kerr *err);
void plausible_report_free(struct plausible_report *r);

#endif
