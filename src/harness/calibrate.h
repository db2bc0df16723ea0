/* calibrate.h: the compute calibration (fixed harness, PROTOCOL 4.3).
 * Owns the one fixed matrix multiply that measures a machine (fp32 SGEMM,
 * CALIB_N cubed, OpenBLAS at the run's thread count), its median over
 * repeats, and the budget rule built on it:
 *   allowed_wall_s = budget_units * (calib_ms / CALIB_REF_MS).
 * A slower machine gets proportionally more wall time for the same budget.
 * It also gives the machine's measured fp32 throughput, the physical limit
 * a log's claimed step rate is checked against. */
#ifndef KARPA_CALIBRATE_H
#define KARPA_CALIBRATE_H

#include "util/kerr.h"

#define CALIB_N 512        /* 512^3 SGEMM: 268 MFLOP, ms-scale on a CPU core */
#define CALIB_REPEATS 15   /* odd, for a true median */
/* The reference machine's median for one 512^3 SGEMM at 2 threads
 * (docs/calibration.md): the unit in which budgets are written. */
#define CALIB_REF_MS 4.6

struct calib {
	int threads;
	double median_ms, min_ms, max_ms;
	double gflops; /* 2*N^3 / median */
};

int calib_measure(int threads, struct calib *c, struct kerr *err);
/* Wall seconds a budget allows on a machine calibrated at calib_ms. */
double calib_allowed_s(double budget_units, double calib_ms);

#endif
