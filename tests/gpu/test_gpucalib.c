/* test_gpucalib.c: the GPU calibration on a GPU (docs/calibration.md). The
 * harness's program, run twice through gpucalib_run as `karpa prove
 * --device cuda` runs it: each line must pass the parser's bounds, and the
 * two medians agree as two calibrations of one proof must. It prints what a
 * budget needs from a real GPU: each line, the GPU's name as CUDA and as
 * the driver's /proc files give it (the manifest records the second, the
 * calibration the first), and the median against the reference
 * CALIB_GPU_REF_MS (an H100's, docs/calibration.md).
 *   KARPA_GPUCALIB=/abs/path/karpa-gpucalib test_gpucalib */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/gpucalib.h"
#include "harness/gpuinfo.h"

/* Two calibrations back to back on an idle GPU: far inside the agreement
 * bound a proof is judged by (CALIB_AGREE_MAX). */
#define BACK_TO_BACK_MAX 1.5

static void calibrates_twice(void **st)
{
	const char *tool = getenv("KARPA_GPUCALIB");
	struct gpucalib c[2];
	struct gpuinfo g = { 0, "", "" };
	struct kerr err;
	double ratio;

	(void)st;
	if (!tool || !*tool)
		fail_msg("set KARPA_GPUCALIB to the calibration program (bench/gpu.sh --pack builds it)");
	for (int i = 0; i < 2; i++) {
		if (gpucalib_run(tool, &c[i], &err) < 0)
			fail_msg("%s: %s", err.code, err.msg);
		printf("gpucalib %d: %s median %.4f ms (min %.4f, max %.4f), %.1f TFLOP/s, %.3f x the "
		       "reference %.2f ms\n",
		       i, c[i].gpu, c[i].median_ms, c[i].min_ms, c[i].max_ms, c[i].tflops,
		       c[i].median_ms / CALIB_GPU_REF_MS, CALIB_GPU_REF_MS);
	}
	if (gpuinfo_read(NULL, &g, &err) < 0)
		fail_msg("%s: %s", err.code, err.msg);
	printf("gpucalib name: CUDA \"%s\", driver \"%s\" (%s)\n", c[0].gpu, g.model,
	       strcmp(c[0].gpu, g.model) ? "differ" : "same");
	assert_string_equal(c[0].gpu, c[1].gpu);
	ratio = c[0].median_ms > c[1].median_ms ? c[0].median_ms / c[1].median_ms : c[1].median_ms / c[0].median_ms;
	assert_true(ratio <= BACK_TO_BACK_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(calibrates_twice),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
