/* calibrate.h: the compute calibration (fixed harness, PROTOCOL 4.3).
 * Owns the one fixed matrix multiply that measures a machine (fp32 SGEMM,
 * CALIB_N cubed, OpenBLAS at the run's thread count), its median over
 * repeats, and the budget rule built on it:
 *   allowed_wall_s = budget_units * (calib_ms / CALIB_REF_MS).
 * A slower machine gets proportionally more wall time for the same budget.
 * It also gives the machine's measured fp32 throughput, the physical limit
 * a log's claimed step rate is checked against.
 *
 * Nobody can check a miner's calibration, so what a proof may spend must not
 * grow with it (PROTOCOL 4.3): the run's model FLOPs are capped by a figure
 * no calibration enters (flops_max). Within that cap calib_budget, the one
 * rule prove and the judge share, gives the miner the benefit of the doubt
 * on its own machine's noise: the time budget from the slower median, the
 * physical limit from the faster, and the two must agree within
 * CALIB_AGREE_MAX. */
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

int calib_measure(int threads, struct calib *c, struct kerr *err);
/* Wall seconds a budget allows on a machine calibrated at calib_ms. */
double calib_allowed_s(double budget_units, double calib_ms);

/* What a budget allows a proof whose calibrations had these medians. */
struct calib_budget {
	double calib_ms;  /* the time budget's figure: the slower median */
	double limit_ms;  /* the physical limit's figure: the faster median */
	double ratio;     /* slower / faster median; refused above CALIB_AGREE_MAX */
	double allowed_s; /* calib_allowed_s(budget_units, calib_ms) */
	double gflops;    /* 2 N^3 / limit_ms: the physical limit's base */
	double flops_max; /* model FLOPs: budget_units x CALIB_REF_GFLOPS x 1e9 */
};

/* Fills b. The allowed wall time times the physical limit is a constant
 * number of FLOPs, whatever calib_ms says; flops_max (one reference second
 * of SGEMM per unit) does not depend on the calibration at all. The faster
 * median, because load only ever slows the SGEMM: it is the better estimate
 * of the machine, and a transient load on one calibration changes nothing. */
void calib_budget(double budget_units, double before_ms, double after_ms, struct calib_budget *b);

#endif
