/* calibrate.c: time the fixed SGEMM. Inputs are a fixed pattern (not
 * random, not zero: denormal-free values in [-1, 1]) so every machine times
 * the same work. */
#include "harness/calibrate.h"

#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "harness/blas_dl.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int calib_measure(int threads, struct calib *c, struct kerr *err)
{
	const size_t n = CALIB_N;
	float *a = malloc(n * n * sizeof *a), *b = malloc(n * n * sizeof *b), *o = malloc(n * n * sizeof *o);
	double t[CALIB_REPEATS];
	const struct blas_dl *bl;
	int rc = -1;

	if (blas_dl_get(&bl, err) < 0)
		goto out;
	if (!a || !b || !o) {
		kerr_set(err, "calib.nomem", "out of memory for the calibration matrices");
		goto out;
	}
	for (size_t i = 0; i < n * n; i++) {
		a[i] = (float)((int)(i * 7919 % 2001) - 1000) / 1000.0f;
		b[i] = (float)((int)(i * 104729 % 2001) - 1000) / 1000.0f;
	}
	bl->set_num_threads(threads > 0 ? threads : 1);
	/* One untimed run warms caches and the thread pool. */
	bl->sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)n, (int)n, 1.0f, a, (int)n, b, (int)n, 0.0f,
		  o, (int)n);
	for (int r = 0; r < CALIB_REPEATS; r++) {
		double t0 = now_ms();
		bl->sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)n, (int)n, 1.0f, a, (int)n, b, (int)n,
			  0.0f, o, (int)n);
		t[r] = now_ms() - t0;
	}
	bl->set_num_threads(1);
	qsort(t, CALIB_REPEATS, sizeof t[0], cmp_d);
	c->threads = threads;
	c->min_ms = t[0];
	c->max_ms = t[CALIB_REPEATS - 1];
	c->median_ms = t[CALIB_REPEATS / 2];
	c->gflops = 2.0 * (double)n * (double)n * (double)n / (c->median_ms * 1e6);
	rc = 0;
out:
	free(a);
	free(b);
	free(o);
	return rc;
}

double calib_allowed_s(double budget_units, double calib_ms)
{
	return budget_units * (calib_ms / CALIB_REF_MS);
}

void calib_budget(double budget_units, double before_ms, double after_ms, struct calib_budget *b)
{
	b->calib_ms = fmax(before_ms, after_ms);
	b->limit_ms = fmin(before_ms, after_ms);
	b->ratio = b->calib_ms / b->limit_ms;
	b->allowed_s = calib_allowed_s(budget_units, b->calib_ms);
	b->gflops = 2.0 * CALIB_N * CALIB_N * (double)CALIB_N / (b->limit_ms * 1e6);
	b->flops_max = budget_units * CALIB_REF_GFLOPS * 1e9;
}
