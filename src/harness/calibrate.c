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
	c->gflops = calib_gflops(&calib_ref_cpu, c->median_ms);
	rc = 0;
out:
	free(a);
	free(b);
	free(o);
	return rc;
}

const struct calib_ref calib_ref_cpu = { "cpu", CALIB_N, CALIB_REPEATS, CALIB_REF_MS };
const struct calib_ref calib_ref_gpu = { "cuda", CALIB_GPU_N, CALIB_GPU_REPEATS, CALIB_GPU_REF_MS };

double calib_gflops(const struct calib_ref *ref, double ms)
{
	return 2.0 * ref->n * ref->n * (double)ref->n / (ms * 1e6);
}

double calib_allowed_s(const struct calib_ref *ref, double budget_units, double calib_ms)
{
	return budget_units * (calib_ms / ref->ref_ms);
}

void calib_budget(const struct calib_ref *ref, double budget_units, double before_ms, double after_ms,
		  struct calib_budget *b)
{
	b->calib_ms = fmax(before_ms, after_ms);
	b->limit_ms = fmin(before_ms, after_ms);
	b->ratio = b->calib_ms / b->limit_ms;
	b->allowed_s = calib_allowed_s(ref, budget_units, b->calib_ms);
	b->gflops = calib_gflops(ref, b->limit_ms);
	b->flops_max = budget_units * calib_gflops(ref, ref->ref_ms) * 1e9;
}
