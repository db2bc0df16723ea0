/* gpucalib.c: run the GPU calibration program and read what it says. The
 * line is untrusted input like any file a judge reads: every figure is
 * bounded and checked against the others before it is used. */
#include "harness/gpucalib.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util/proc.h"

/* The recorded rate must follow from the median; both are doubles printed
 * with 17 digits, so only the division's rounding separates them. */
#define GPUCALIB_TFLOPS_REL_TOL 1e-9

#define BAD "gpucalib.bad_output"

int gpucalib_check(const struct gpucalib *c, struct kerr *err)
{
	size_t len = strnlen(c->gpu, sizeof c->gpu);
	/* the shortest time GPUCALIB_TFLOPS_MAX allows: 0.055 ms */
	double floor_ms = 2.0 * CALIB_GPU_N * CALIB_GPU_N * (double)CALIB_GPU_N / (GPUCALIB_TFLOPS_MAX * 1e9), want;

	if (len == 0 || len == sizeof c->gpu)
		return kerr_set(err, BAD, "the GPU's name is empty or longer than %d bytes", GPUCALIB_NAME_MAX - 1);
	for (size_t i = 0; i < len; i++)
		if (c->gpu[i] < 0x20 || c->gpu[i] > 0x7e)
			return kerr_set(err, BAD, "the GPU's name has a byte 0x%02x that is not printable ASCII",
					(unsigned char)c->gpu[i]);
	if (!isfinite(c->min_ms) || !isfinite(c->median_ms) || !isfinite(c->max_ms) || !(c->min_ms >= floor_ms) ||
	    c->min_ms > c->median_ms || c->median_ms > c->max_ms || !(c->max_ms <= GPUCALIB_MS_MAX))
		return kerr_set(err, BAD,
				"min %g, median %g, max %g ms are not ordered times within [%.4g, %g] ms (no GPU "
				"computes the product faster than %g TFLOP/s)",
				c->min_ms, c->median_ms, c->max_ms, floor_ms, GPUCALIB_MS_MAX, GPUCALIB_TFLOPS_MAX);
	want = calib_gflops(&calib_ref_gpu, c->median_ms) / 1e3;
	if (!(fabs(c->tflops - want) <= GPUCALIB_TFLOPS_REL_TOL * want))
		return kerr_set(err, BAD, "tflops %.17g does not follow from the median %.17g ms (%.17g)", c->tflops,
				c->median_ms, want);
	return 0;
}

int gpucalib_from_json(json_t *o, struct gpucalib *c, struct kerr *err)
{
	json_int_t n, repeats;
	const char *gpu;
	json_error_t je;

	memset(c, 0, sizeof *c);
	if (json_unpack_ex(o, &je, 0, "{s:I, s:I, s:F, s:F, s:F, s:F, s:s !}", "n", &n, "repeats", &repeats,
			   "median_ms", &c->median_ms, "min_ms", &c->min_ms, "max_ms", &c->max_ms, "tflops",
			   &c->tflops, "gpu", &gpu) < 0)
		return kerr_set(err, BAD, "%s", je.text);
	if (n != CALIB_GPU_N || repeats != CALIB_GPU_REPEATS)
		return kerr_set(err, BAD, "n %lld and repeats %lld are not the harness's %d and %d", (long long)n,
				(long long)repeats, CALIB_GPU_N, CALIB_GPU_REPEATS);
	if (strlen(gpu) >= sizeof c->gpu)
		return kerr_set(err, BAD, "the GPU's name is longer than %d bytes", GPUCALIB_NAME_MAX - 1);
	memcpy(c->gpu, gpu, strlen(gpu) + 1);
	return gpucalib_check(c, err);
}

json_t *gpucalib_json(const struct gpucalib *c)
{
	return json_pack("{s:i, s:i, s:f, s:f, s:f, s:f, s:s}", "n", CALIB_GPU_N, "repeats", CALIB_GPU_REPEATS,
			 "median_ms", c->median_ms, "min_ms", c->min_ms, "max_ms", c->max_ms, "tflops", c->tflops, "gpu",
			 c->gpu);
}

int gpucalib_parse(const char *out, size_t len, struct gpucalib *c, struct kerr *err)
{
	const char *nl = memchr(out, '\n', len);
	json_error_t je;
	json_t *o;
	int rc;

	memset(c, 0, sizeof *c);
	if (len == 0)
		return kerr_set(err, BAD, "the calibration program printed nothing");
	if (len > GPUCALIB_LINE_MAX)
		return kerr_set(err, BAD, "the calibration program printed more than %d bytes: not its one line",
				GPUCALIB_LINE_MAX);
	if (nl && nl != out + len - 1)
		return kerr_set(err, BAD, "the calibration program printed more than one line");
	if (!(o = json_loadb(out, len, JSON_REJECT_DUPLICATES, &je)) || !json_is_object(o)) {
		kerr_set(err, BAD, "the calibration program's line is not a JSON object (%s)", o ? "wrong type" : je.text);
		json_decref(o);
		return -1;
	}
	rc = gpucalib_from_json(o, c, err);
	json_decref(o);
	if (rc < 0)
		kerr_prefix(err, "the calibration program's line");
	return rc;
}

int gpucalib_run(const char *tool, struct gpucalib *c, struct kerr *err)
{
	const char *argv[] = { tool, NULL };
	/* CUDA's device 0 in bus order, as the runner's sandbox orders them:
	 * a CUDA_VISIBLE_DEVICES index names the same GPU for both */
	static const char *const env[] = { "CUDA_DEVICE_ORDER=PCI_BUS_ID", NULL };
	struct proc_opts po = { .env = env, .timeout_ms = GPUCALIB_TIMEOUT_MS,
				.out_bytes_max = GPUCALIB_LINE_MAX + 1,
				.err_bytes_max = 4096 };
	struct proc_result pr;
	char first[512];
	int rc = -1;

	memset(c, 0, sizeof *c);
	if (proc_run(argv, &po, &pr, err) < 0)
		goto out;
	proc_first_line(pr.err_len ? pr.err : "(nothing on stderr)", first, sizeof first);
	if (pr.timed_out)
		kerr_set(err, "gpucalib.failed", "%s ran past %d s", tool, GPUCALIB_TIMEOUT_MS / 1000);
	else if (pr.exit_code != 0)
		kerr_set(err, "gpucalib.failed", "%s %s %d: %s", tool, pr.exit_code < 0 ? "was killed by signal" : "exited",
			 pr.exit_code < 0 ? pr.term_signal : pr.exit_code, first);
	else
		rc = gpucalib_parse(pr.out, pr.out_len, c, err);
out:
	proc_result_free(&pr);
	return rc;
}
