/* test_gm.c: recipe/cuda/gm.h's three matrix products against a CPU
 * reference in double, in both precisions, on the shapes the model uses:
 * the lm head with its vocabulary padded (an output or dout row stride
 * larger than OC) and a square layer as a control. Operands are random;
 * the padding columns of dout hold NaN so a product that reads them fails,
 * and the outputs are poisoned with NaN before each call so a product that
 * skips an element fails. Each case prints a PASS/FAIL line with its
 * relative error (in norm), the table of algorithms cuBLASLt chose is
 * printed at the end, and the test goes on, so one GPU run reports every
 * failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "gm.h"
#include "gpu_test.h"

static int g_fails;

#define CK(call) GT_CK(call)

static uint64_t g_rng;

/* rows x cols values in (-1, 1) with row stride ld; columns cols..ld-1 NaN.
 * In bf16 the values are rounded, so the reference sees what the GPU does. */
static float *host_matrix(enum gk_prec p, int rows, int cols, int ld)
{
	float *x = malloc((size_t)rows * ld * sizeof *x);

	assert_non_null(x);
	for (int r = 0; r < rows; r++)
		for (int c = 0; c < ld; c++) {
			float v = c < cols ? (float)(2 * gt_urand(&g_rng) - 1) : NAN;
			x[(size_t)r * ld + c] = p == GK_BF16 ? gt_bf2f(gt_f2bf(v)) : v;
		}
	return x;
}

/* A device copy in the activation type (or fp32 when f32 is set). */
static void *to_device(enum gk_prec p, const float *x, size_t n, int f32)
{
	void *d = NULL;

	if (p == GK_BF16 && !f32) {
		uint16_t *h = malloc(n * 2);
		assert_non_null(h);
		for (size_t i = 0; i < n; i++)
			h[i] = gt_f2bf(x[i]);
		CK(cudaMalloc(&d, n * 2));
		CK(cudaMemcpy(d, h, n * 2, cudaMemcpyHostToDevice));
		free(h);
	} else {
		CK(cudaMalloc(&d, n * 4));
		CK(cudaMemcpy(d, x, n * 4, cudaMemcpyHostToDevice));
	}
	return d;
}

/* A device output of n elements, every byte 0xff (NaN in both types). */
static void *poisoned(size_t n, size_t esz)
{
	void *d = NULL;

	CK(cudaMalloc(&d, n * esz));
	CK(cudaMemset(d, 0xff, n * esz));
	return d;
}

static void from_device(float *h, const void *d, size_t n, int bf16)
{
	if (bf16) {
		uint16_t *t = malloc(n * 2);
		assert_non_null(t);
		CK(cudaMemcpy(t, d, n * 2, cudaMemcpyDeviceToHost));
		for (size_t i = 0; i < n; i++)
			h[i] = gt_bf2f(t[i]);
		free(t);
	} else {
		CK(cudaMemcpy(h, d, n * 4, cudaMemcpyDeviceToHost));
	}
}

/* ||got - ref|| / ||ref|| over rows x cols of strided arrays; NaN -> inf. */
static double rel_err(const float *got, int ldg, const double *ref, int ldr, int rows, int cols)
{
	double num = 0, den = 0;

	for (int r = 0; r < rows; r++)
		for (int c = 0; c < cols; c++) {
			double g = got[(size_t)r * ldg + c], x = ref[(size_t)r * ldr + c];
			if (isnan(g))
				return INFINITY;
			num += (g - x) * (g - x);
			den += x * x;
		}
	return sqrt(num / (den > 0 ? den : 1));
}

static void report(const char *what, enum gk_prec p, int N, int IC, int OC, int ld, double e,
		   double tol, const struct gm *g)
{
	int ok = e < tol;

	printf("%s gm %s %s N=%d IC=%d OC=%d ld=%d: rel err %.3g (tol %.0e), %d algorithms so far\n",
	       ok ? "PASS" : "FAIL", what, p == GK_BF16 ? "bf16" : "f32", N, IC, OC, ld, e, tol, gm_algos(g));
	g_fails += !ok;
}

/* All three products of one shape; ld is the output / dout row stride. */
static void check_shape(struct gm *g, enum gk_prec p, int N, int IC, int OC, int ld)
{
	/* bf16 outputs are rounded once: 2^-8 relative per element at most */
	double tol = p == GK_BF16 ? 8e-3 : 1e-5;
	int bf = p == GK_BF16;
	float *inp = host_matrix(p, N, IC, IC), *w = host_matrix(p, OC, IC, IC);
	float *dout = host_matrix(p, N, OC, ld), *got = malloc((size_t)N * ld * 4 + (size_t)OC * IC * 4);
	double *ref = malloc(((size_t)N * (ld > IC ? ld : IC) + (size_t)OC * IC) * sizeof *ref);
	void *d_inp = to_device(p, inp, (size_t)N * IC, 0), *d_w = to_device(p, w, (size_t)OC * IC, 0);
	void *d_dout = to_device(p, dout, (size_t)N * ld, 0), *d_out;

	assert_true(got && ref);
	/* forward, fp32 output (the lm head's logits) with row stride ld */
	d_out = poisoned((size_t)N * ld, 4);
	if (gm_linear_fwd(g, p, d_out, 1, ld, d_inp, d_w, NULL, N, IC, OC) < 0)
		fail_msg("gm_linear_fwd: %s", gm_error(g));
	CK(cudaDeviceSynchronize());
	from_device(got, d_out, (size_t)N * ld, 0);
	for (int n = 0; n < N; n++)
		for (int o = 0; o < OC; o++) {
			double s = 0;
			for (int i = 0; i < IC; i++)
				s += (double)inp[(size_t)n * IC + i] * w[(size_t)o * IC + i];
			ref[(size_t)n * OC + o] = s;
		}
	report("forward->f32", p, N, IC, OC, ld, rel_err(got, ld, ref, OC, N, OC), 1e-5, g);
	CK(cudaFree(d_out));

	/* backward, data: dinp[N, IC] = dout[N, OC (ld)] w */
	d_out = poisoned((size_t)N * IC, bf ? 2 : 4);
	if (gm_linear_bwd_data(g, p, d_out, d_dout, ld, d_w, N, IC, OC) < 0)
		fail_msg("gm_linear_bwd_data: %s", gm_error(g));
	CK(cudaDeviceSynchronize());
	from_device(got, d_out, (size_t)N * IC, bf);
	for (int n = 0; n < N; n++)
		for (int i = 0; i < IC; i++) {
			double s = 0;
			for (int o = 0; o < OC; o++)
				s += (double)dout[(size_t)n * ld + o] * w[(size_t)o * IC + i];
			ref[(size_t)n * IC + i] = s;
		}
	report("backward-data", p, N, IC, OC, ld, rel_err(got, IC, ref, IC, N, IC), tol, g);
	CK(cudaFree(d_out));

	/* backward, weight: dw[OC, IC] = dout^T inp, fp32 */
	d_out = poisoned((size_t)OC * IC, 4);
	if (gm_linear_bwd_weight(g, p, d_out, d_dout, ld, d_inp, N, IC, OC) < 0)
		fail_msg("gm_linear_bwd_weight: %s", gm_error(g));
	CK(cudaDeviceSynchronize());
	from_device(got, d_out, (size_t)OC * IC, 0);
	for (int o = 0; o < OC; o++)
		for (int i = 0; i < IC; i++) {
			double s = 0;
			for (int n = 0; n < N; n++)
				s += (double)dout[(size_t)n * ld + o] * inp[(size_t)n * IC + i];
			ref[(size_t)o * IC + i] = s;
		}
	report("backward-weight", p, N, IC, OC, ld, rel_err(got, IC, ref, IC, OC, IC), 1e-5, g);
	CK(cudaFree(d_out));

	CK(cudaFree(d_inp));
	CK(cudaFree(d_w));
	CK(cudaFree(d_dout));
	free(inp);
	free(w);
	free(dout);
	free(got);
	free(ref);
}

static void products_match_reference(void **state)
{
	char err[GM_ERR_MAX] = "";
	cudaStream_t s;
	struct gm *g;

	(void)state;
	g_rng = 7;
	CK(cudaStreamCreate(&s));
	g = gm_create(s, err);
	if (!g)
		fail_msg("gm_create: %s", err);
	for (int prec = 0; prec < 2; prec++) {
		enum gk_prec p = prec ? GK_BF16 : GK_F32;
		/* the parity test's lm head (V 1000 padded to 1024), a square
		 * layer, and GPT-2's vocabulary padded to 50304 at a small N */
		check_shape(g, p, 2048, 256, 1000, 1024);
		check_shape(g, p, 2048, 256, 256, 256);
		check_shape(g, p, 256, 64, 50257, 50304);
	}
	/* the algorithms each product ran (gemmtab rows), for the log */
	printf("   algorithms (%d rebuilt with other bytes than the heuristic's, %d not rebuilt):\n%s",
	       gm_rebuilt_differs(g), gm_unrebuilt(g),
	       gm_record(g));
	gm_destroy(g);
	CK(cudaStreamDestroy(s));
	if (g_fails)
		fail_msg("%d product checks failed", g_fails);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(products_match_reference),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
