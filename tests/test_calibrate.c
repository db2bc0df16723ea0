/* test_calibrate.c: the budget rule's arithmetic (PROTOCOL 4.3) and the
 * measurement's shape. The rule is what prove and the judge share, so its
 * figures are checked by hand: with the reference median of 4.6 ms one
 * budget unit is one wall second, the reference rate is 2*512^3 / 4.6e6 =
 * 58.3555 GFLOPS, and a 100-unit budget caps the run at 5.83555e12 FLOPs.
 * Also that OpenBLAS is loaded only when the calibration first needs it. */
#include "testutil.h"

#include "harness/blas_dl.h"
#include "harness/calibrate.h"
#include "harness/scale.h"

#define EPS 1e-9

static void test_reference_rate(void **state)
{
	assert_true(fabs(CALIB_REF_GFLOPS - 58.35553391304348) < EPS);
}

static void test_allowed_scales_with_the_machine(void **state)
{
	assert_true(fabs(calib_allowed_s(&calib_ref_cpu, 60, CALIB_REF_MS) - 60.0) < EPS);
	/* half as fast: twice the time */
	assert_true(fabs(calib_allowed_s(&calib_ref_cpu, 60, 2 * CALIB_REF_MS) - 120.0) < EPS);
	assert_true(fabs(calib_allowed_s(&calib_ref_cpu, 240, CALIB_REF_MS / 4) - 60.0) < EPS);
	assert_true(calib_allowed_s(&calib_ref_cpu, 0, 9.0) == 0.0);
}

/* The time budget takes the slower median, the physical limit the faster
 * (the miner's own noise never refuses it); the FLOPs cap takes neither.
 * Order does not matter. */
static void test_budget_takes_the_lenient_medians(void **state)
{
	struct calib_budget a, b;

	calib_budget(&calib_ref_cpu, 100, 9.2, 4.6, &a);
	calib_budget(&calib_ref_cpu, 100, 4.6, 9.2, &b);
	assert_true(a.calib_ms == 9.2 && a.limit_ms == 4.6);
	assert_true(fabs(a.ratio - 2.0) < EPS && fabs(b.ratio - 2.0) < EPS);
	assert_true(fabs(a.allowed_s - 200.0) < EPS);
	assert_true(fabs(a.gflops - 58.35553391304348) < 1e-9);
	assert_true(fabs(a.flops_max - 5.835553391304348e12) < 1.0);
	assert_memory_equal(&a, &b, sizeof a);
}

/* Nobody can check a miner's calibration, so what it buys must not grow
 * with it: allowed time x physical rate is the same number of FLOPs at every
 * calibration, and flops_max does not move at all. */
static void test_budget_does_not_grow_with_the_calibration(void **state)
{
	const double ms[] = { 0.5, 1.0, 4.6, 17.0, 300.0 };
	struct calib_budget ref;

	calib_budget(&calib_ref_cpu, 60, CALIB_REF_MS, CALIB_REF_MS, &ref);
	for (size_t i = 0; i < sizeof ms / sizeof *ms; i++) {
		struct calib_budget b;
		calib_budget(&calib_ref_cpu, 60, ms[i], ms[i], &b);
		assert_true(b.ratio == 1.0);
		assert_true(fabs(b.allowed_s * b.gflops - ref.allowed_s * ref.gflops) < 1e-6 * ref.allowed_s * ref.gflops);
		assert_true(b.flops_max == ref.flops_max);
	}
	/* Disagreeing medians buy time, never model FLOPs. */
	{
		struct calib_budget d;
		calib_budget(&calib_ref_cpu, 60, CALIB_REF_MS, CALIB_REF_MS * CALIB_AGREE_MAX, &d);
		assert_true(d.flops_max == ref.flops_max);
	}
	/* ... and equals flops_max: one reference second of SGEMM per unit. */
	assert_true(fabs(ref.allowed_s * ref.gflops * 1e9 - ref.flops_max) < 1e-6 * ref.flops_max);
}

/* The GPU scales' unit is one reference-GPU second: with the reference
 * median of 1.42 ms for the bf16 8192^3 GEMM (an H100's), the reference
 * rate is 2 x 8192^3 / 1.42e6 = 774,303.96 GFLOPS, and gpu-125m's 3600
 * units cap a run at 2.7875e18 model FLOPs. The same rule as the CPU's, with the
 * GPU's reference. */
static void test_gpu_budget(void **state)
{
	const struct scale *sc = scale_find("gpu-125m", NULL);
	const double ms[] = { 0.7, 1.0, CALIB_GPU_REF_MS, 2.0, 13.9 };
	struct calib_budget ref, b, cpu;

	assert_non_null(sc);
	assert_true(fabs(CALIB_GPU_REF_GFLOPS - 774303.9632225352) < 1e-6);
	assert_true(calib_gflops(&calib_ref_gpu, CALIB_GPU_REF_MS) == CALIB_GPU_REF_GFLOPS);
	assert_true(calib_gflops(&calib_ref_cpu, CALIB_REF_MS) == CALIB_REF_GFLOPS);
	calib_budget(&calib_ref_gpu, sc->budget_units, CALIB_GPU_REF_MS, CALIB_GPU_REF_MS, &ref);
	assert_true(fabs(ref.allowed_s - 7200.0) < EPS);
	assert_true(fabs(ref.gflops - 774303.9632225352) < 1e-6);
	assert_true(fabs(ref.flops_max - 5.574988535202254e18) < 1e3);
	/* the slower median for time, the faster for the limit, as on a CPU */
	calib_budget(&calib_ref_gpu, sc->budget_units, 2 * CALIB_GPU_REF_MS, CALIB_GPU_REF_MS, &b);
	assert_true(fabs(b.allowed_s - 14400.0) < 1e-6);
	assert_true(b.gflops == ref.gflops && fabs(b.ratio - 2.0) < EPS);
	for (size_t i = 0; i < sizeof ms / sizeof *ms; i++) {
		calib_budget(&calib_ref_gpu, sc->budget_units, ms[i], ms[i], &b);
		assert_true(fabs(b.allowed_s * b.gflops - ref.allowed_s * ref.gflops) < 1e-9 * ref.allowed_s * ref.gflops);
		assert_true(b.flops_max == ref.flops_max);
	}
	/* The scale's declared work, 300 steps of 16 x 1024 tokens of a 124M
	 * model (3.66e15 model FLOPs), fits the GPU's cap and not the CPU's
	 * (2.1e14), which is why a GPU proof needs the GPU calibration. */
	calib_budget(&calib_ref_cpu, sc->budget_units, CALIB_REF_MS, CALIB_REF_MS, &cpu);
	assert_true(6.0 * 124e6 * 300 * 16 * 1024 > cpu.flops_max);
	assert_true(6.0 * 124e6 * 300 * 16 * 1024 < ref.flops_max / 100);
}

/* Whether libopenblas is mapped into this process. */
static int blas_mapped(void)
{
	char line[1024];
	int found = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	assert_non_null(f);
	while (!found && fgets(line, sizeof line, f))
		found = strstr(line, "libopenblas") != NULL;
	fclose(f);
	return found;
}

/* OpenBLAS's constructor starts a pool that spins on the CPU, so libkarpa
 * loads it only when something calls BLAS: not at start-up (the judge never
 * calls it), and at the first calibration. Runs before test_measure. */
static void test_blas_loads_on_first_use(void **state)
{
	const struct blas_dl *b;
	struct kerr err = { 0 };

	assert_false(blas_mapped());
	assert_int_equal(blas_dl_get(&b, &err), 0);
	assert_true(blas_mapped());
	assert_non_null(b->get_config());
}

/* No library, or a library that is not OpenBLAS: blas.missing, saying what
 * to install. */
static void test_blas_missing(void **state)
{
	const char *none[] = { "libkarpa-no-such-blas.so.0", NULL }, *other[] = { "libm.so.6", NULL };
	struct blas_dl b;
	struct kerr err = { 0 };

	assert_int_equal(blas_dl_open(none, &b, &err), -1);
	assert_string_equal(err.code, "blas.missing");
	assert_non_null(strstr(err.msg, "libkarpa-no-such-blas.so.0"));
	assert_non_null(strstr(err.msg, "libopenblas0-pthread"));
	assert_null(b.sgemm);
	kerr_clear(&err);
	assert_int_equal(blas_dl_open(other, &b, &err), -1);
	assert_string_equal(err.code, "blas.missing");
	assert_non_null(strstr(err.msg, "libm.so.6 is not OpenBLAS"));
}

/* A real measurement: 15 timings, median between min and max, the rate
 * computed from the median, the threads recorded. */
static void test_measure(void **state)
{
	struct calib c;
	struct kerr err = { 0 };

	assert_int_equal(calib_measure(1, &c, &err), 0);
	assert_int_equal(c.threads, 1);
	assert_true(c.min_ms > 0 && c.min_ms <= c.median_ms && c.median_ms <= c.max_ms);
	assert_true(fabs(c.gflops - 2.0 * CALIB_N * CALIB_N * (double)CALIB_N / (c.median_ms * 1e6)) <
		    1e-9 * c.gflops);
	/* A CPU core does 512^3 in well under a second and over 10 us. */
	assert_true(c.median_ms > 0.01 && c.median_ms < 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blas_loads_on_first_use),
		cmocka_unit_test(test_blas_missing),
		cmocka_unit_test(test_reference_rate),
		cmocka_unit_test(test_allowed_scales_with_the_machine),
		cmocka_unit_test(test_gpu_budget),
		cmocka_unit_test(test_budget_takes_the_lenient_medians),
		cmocka_unit_test(test_budget_does_not_grow_with_the_calibration),
		cmocka_unit_test(test_measure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
