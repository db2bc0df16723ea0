/* calibrate.h: the compute calibration (fixed harness, PROTOCOL 4.3).
 * Owns the one fixed matrix multiply that measures a machine (fp32 SGEMM,
 * CALIB_N cubed, OpenBLAS at the run's thread count), its median over
 * repeats, the GPU calibration's constants (a bf16 GEMM timed by the
 * harness's own CUDA program, gpucalib.h), and the budget rule built on
 * either:
 *   allowed_wall_s = budget_units * (calib_ms / ref_ms).
 * A slower machine gets proportionally more wall time for the same budget.
 * It also gives the machine's measured throughput, the physical limit a
 * log's claimed step rate is checked against.
 *
 * Nobody can check a miner's calibration, so what a proof may spend must not
 * grow with it (PROTOCOL 4.3): the run's model FLOPs are capped by a figure
 * no calibration enters (flops_max). Within that cap calib_budget, the one
 * rule prove and the judge share, gives the miner the benefit of the doubt
 * on its own machine's noise: the time budget from the slower median, the
 * physical limit from the faster, and the two must agree within
 * CALIB_AGREE_MAX. A CPU proof is measured against the reference machine's
 * SGEMM (calib_ref_cpu), a GPU proof against the reference GPU's GEMM
 * (calib_ref_gpu): the same rule, another unit. */
#ifndef KARPA_CALIBRATE_H
#define KARPA_CALIBRATE_H

#include "util/kerr.h"

#define CALIB_N 512        /* 512^3 SGEMM: 268 MFLOP, ms-scale on a CPU core */
#define CALIB_REPEATS 15   /* odd, for a true median */
/* The reference machine's median for one 512^3 SGEMM at 2 threads
 * (docs/calibration.md): the unit in which budgets are written. */
#define CALIB_REF_MS 4.6
/* The reference machine's calibrated rate, GFLOPS (58.4). */
#define CALIB_REF_GFLOPS (2.0 * CALIB_N * CALIB_N * (double)CALIB_N / (CALIB_REF_MS * 1e6))
/* The GPU calibration (docs/calibration.md, "The GPU calibration"): one
 * bf16 GEMM through cuBLASLt, CALIB_GPU_N cubed with fp32 accumulation, on
 * fixed pseudo-random inputs, timed with CUDA events by the harness's
 * program (src/harness/gpucalib_tool.cu) after CALIB_GPU_WARMUP untimed
 * calls. */
#define CALIB_GPU_N 8192      /* 1.1e12 FLOPs: about 1.4 ms on an H100 */
#define CALIB_GPU_WARMUP 10
#define CALIB_GPU_REPEATS 51  /* odd, for a true median */
/* The reference GPU's median for that GEMM: the unit in which the gpu-*
 * budgets are written (one budget unit is one reference-GPU second). The
 * reference is an H100 (80GB HBM3): the median of the four medians this
 * program gave in two runs of test_gpucalib on one, 1.3635 to 1.4985 ms
 * (docs/calibration.md, "The reference"). */
#define CALIB_GPU_REF_MS 1.42
/* The reference GPU's calibrated rate, GFLOPS (774,304: 774 TFLOP/s). */
#define CALIB_GPU_REF_GFLOPS (2.0 * CALIB_GPU_N * CALIB_GPU_N * (double)CALIB_GPU_N / (CALIB_GPU_REF_MS * 1e6))
/* The most the slower median may exceed the faster one by. Only the faster
 * counts (calib_budget), so disagreement buys nothing and this is a sanity
 * bound: it refuses a pair no one machine gives. It sits above what a badly
 * overloaded honest machine gives (6.3x measured between calibrations 2 s
 * apart, medians over a 10x range in two minutes; docs/calibration.md). */
#define CALIB_AGREE_MAX 16.0

struct calib {
	int threads;
	double median_ms, min_ms, max_ms;
	double gflops; /* 2*N^3 / median */
};

/* What a calibration times and the reference machine's figure for it: the
 * unit budgets are written in. */
struct calib_ref {
	const char *device; /* "cpu" (the SGEMM) or "cuda" (the GPU GEMM) */
	int n;              /* the product's side: 2 n^3 FLOPs a call */
	int repeats;        /* timed calls; the median is the calibration */
	double ref_ms;      /* the reference machine's median */
};

extern const struct calib_ref calib_ref_cpu; /* CALIB_N, CALIB_REPEATS, CALIB_REF_MS */
extern const struct calib_ref calib_ref_gpu; /* CALIB_GPU_N, CALIB_GPU_REPEATS, CALIB_GPU_REF_MS */

/* GFLOPS of one product of ref's shape taking ms milliseconds. */
double calib_gflops(const struct calib_ref *ref, double ms);

int calib_measure(int threads, struct calib *c, struct kerr *err);
/* Wall seconds a budget allows on a machine calibrated at calib_ms. */
double calib_allowed_s(const struct calib_ref *ref, double budget_units, double calib_ms);

/* What a budget allows a proof whose calibrations had these medians. */
struct calib_budget {
	double calib_ms;  /* the time budget's figure: the slower median */
	double limit_ms;  /* the physical limit's figure: the faster median */
	double ratio;     /* slower / faster median; refused above CALIB_AGREE_MAX */
	double allowed_s; /* calib_allowed_s(budget_units, calib_ms) */
	double gflops;    /* 2 n^3 / limit_ms: the physical limit's base */
	double flops_max; /* model FLOPs: budget_units x the reference rate (GFLOPS) x 1e9 */
};

/* Fills b for medians measured against ref. The allowed wall time times the
 * physical limit is a constant number of FLOPs, whatever calib_ms says;
 * flops_max (one reference second of ref's product per unit) does not
 * depend on the calibration at all. The faster median, because load only
 * ever slows the product: it is the better estimate of the machine, and a
 * transient load on one calibration changes nothing. */
void calib_budget(const struct calib_ref *ref, double budget_units, double before_ms, double after_ms,
		  struct calib_budget *b);

#endif
