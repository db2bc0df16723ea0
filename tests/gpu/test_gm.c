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

/* One matmul context for both tests, as a run has one: the table printed
 * at the end holds every product either test ran. */
struct fixture {
	cudaStream_t s;
	struct gm *g;
};

static int gm_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	char err[GM_ERR_MAX] = "";

	if (!f || cudaStreamCreate(&f->s) != cudaSuccess || !(f->g = gm_create(f->s, err))) {
		fprintf(stderr, "test_gm: no matmul context: %s\n", f && *err ? err : "CUDA stream or memory");
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int gm_teardown(void **state)
{
	struct fixture *f = *state;

	/* the algorithms each product ran (gemmtab rows), for the log */
	printf("   algorithms (%d rebuilt with other bytes than the heuristic's, %d not rebuilt):\n%s",
	       gm_rebuilt_differs(f->g), gm_unrebuilt(f->g), gm_record(f->g));
	gm_destroy(f->g);
	cudaStreamDestroy(f->s);
	free(f);
	return 0;
}

static void products_match_reference(void **state)
{
	struct fixture *f = *state;

	g_rng = 7;
	g_fails = 0;
	for (int prec = 0; prec < 2; prec++) {
		enum gk_prec p = prec ? GK_BF16 : GK_F32;
		/* the parity test's lm head (V 1000 padded to 1024), a square
		 * layer, and GPT-2's vocabulary padded to 50304 at a small N */
		check_shape(f->g, p, 2048, 256, 1000, 1024);
		check_shape(f->g, p, 2048, 256, 256, 256);
		check_shape(f->g, p, 256, 64, 50257, 50304);
	}
	if (g_fails)
		fail_msg("%d product checks failed", g_fails);
}

/* The recipe's GELU (the tanh form, recipe/layers.c and gk_gelu_fwd) and
 * its derivative, in double; and the erf form, the GELU cuBLASLt's
 * epilogue must not be. */
static double gelu_ref(double x)
{
	const double k = 0.7978845608028654; /* sqrt(2 / pi) */
	return 0.5 * x * (1.0 + tanh(k * (x + 0.044715 * x * x * x)));
}

static double dgelu_ref(double x)
{
	const double k = 0.7978845608028654;
	double th = tanh(k * (x + 0.044715 * x * x * x));
	return 0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * k * (1.0 + 3.0 * 0.044715 * x * x);
}

static double gelu_erf(double x)
{
	return 0.5 * x * (1.0 + erf(x * 0.7071067811865476));
}

static double dgelu_erf(double x)
{
	return 0.5 * (1.0 + erf(x * 0.7071067811865476)) + x * 0.3989422804014327 * exp(-0.5 * x * x);
}

/* Which GELU a fused product computed: its error against the tanh form's
 * reference, and beta, the projection of that error on the direction from
 * the tanh form to the erf form (0: tanh, 1: erf). The two forms differ
 * by at most 4.7e-4 in the GELU and 8.7e-4 in its derivative, about what
 * an fp32 epilogue with the GPU's approximate tanh may err by, so no bound
 * on the error alone tells them apart; the projection averages that noise
 * out over the matrix. Passes in fp32 when beta is under 0.2 and the
 * error within the fast tanh's bound, in bf16 within the output's
 * rounding (beta printed: rounding hides the difference). */
static void report_gelu(const char *what, enum gk_prec p, int N, int IC, int OC, const float *got,
			const double *tanh_ref, const double *erf_ref, size_t n, double tol32, const struct gm *g)
{
	double num = 0, den = 0, proj = 0, dist = 0, beta, e;
	int bad = 0;

	for (size_t i = 0; i < n; i++) {
		double d = got[i] - tanh_ref[i], de = erf_ref[i] - tanh_ref[i];
		bad |= isnan(got[i]);
		num += d * d;
		den += tanh_ref[i] * tanh_ref[i];
		proj += d * de;
		dist += de * de;
	}
	e = bad ? INFINITY : sqrt(num / (den > 0 ? den : 1));
	beta = dist > 0 ? proj / dist : 0;
	int ok = p == GK_BF16 ? e < 8e-3 : e < tol32 && fabs(beta) < 0.2;
	printf("%s gm %s %s N=%d IC=%d OC=%d: rel err %.3g against the tanh GELU (tol %.0e), beta %.3f "
	       "(0 tanh, 1 erf), %d algorithms so far\n",
	       ok ? "PASS" : "FAIL", what, p == GK_BF16 ? "bf16" : "f32", N, IC, OC, e,
	       p == GK_BF16 ? 8e-3 : tol32, beta, gm_algos(g));
	g_fails += !ok;
}

/* The fc layer's fused products as the model runs them (gg.c): the
 * forward inp[N, C] -> GELU(inp fcw^T + fcb)[N, 4C] keeping the GELU's
 * input, then the fc projection's backward-data [N, C] -> [N, 4C] with
 * the GELU's derivative taken at that kept input, read from where the
 * forward wrote it. References in double, in both GELU forms. */
static void check_fused_gelu(struct gm *g, enum gk_prec p, int N, int C)
{
	const int H = 4 * C;
	int bf = p == GK_BF16;
	size_t esz = bf ? 2 : 4;
	float *inp = host_matrix(p, N, C, C), *w = host_matrix(p, H, C, C), *bias = host_matrix(p, 1, H, H);
	float *w2 = host_matrix(p, C, H, H), *dout = host_matrix(p, N, C, C);
	float *got = malloc((size_t)N * H * 4), *pre = malloc((size_t)N * H * 4);
	double *ref = malloc((size_t)N * H * sizeof *ref), *ref_erf = malloc((size_t)N * H * sizeof *ref_erf);
	double *ref_pre = malloc((size_t)N * H * sizeof *ref_pre);
	void *d_inp, *d_w, *d_bias, *d_w2, *d_dout, *d_out, *d_aux, *d_dpre;
	/* inputs scaled so that the GELU's inputs spread over about (-4, 4)
	 * (a standard deviation near 2), where the two forms differ most */
	const float scale = 6.0f / sqrtf((float)C);

	assert_true(got && pre && ref && ref_erf && ref_pre);
	for (size_t i = 0; i < (size_t)N * C; i++)
		inp[i] = bf ? gt_bf2f(gt_f2bf(scale * inp[i])) : scale * inp[i];
	d_inp = to_device(p, inp, (size_t)N * C, 0);
	d_w = to_device(p, w, (size_t)H * C, 0);
	d_bias = to_device(p, bias, H, 0);
	d_w2 = to_device(p, w2, (size_t)C * H, 0);
	d_dout = to_device(p, dout, (size_t)N * C, 0);
	d_out = poisoned((size_t)N * H, esz);
	d_aux = poisoned((size_t)N * H, esz);
	d_dpre = poisoned((size_t)N * H, esz);

	if (gm_linear_fwd_gelu(g, p, d_out, d_aux, d_inp, d_w, d_bias, N, C, H) < 0) {
		printf("FAIL gm forward+gelu %s N=%d C=%d: %s\n", bf ? "bf16" : "f32", N, C, gm_error(g));
		g_fails++;
		goto out;
	}
	for (int n = 0; n < N; n++)
		for (int o = 0; o < H; o++) {
			double acc = bias[o];
			for (int i = 0; i < C; i++)
				acc += (double)inp[(size_t)n * C + i] * w[(size_t)o * C + i];
			ref_pre[(size_t)n * H + o] = acc;
			ref[(size_t)n * H + o] = gelu_ref(acc);
			ref_erf[(size_t)n * H + o] = gelu_erf(acc);
		}
	from_device(pre, d_aux, (size_t)N * H, bf);
	report("forward+gelu (the GELU's input kept)", p, N, C, H, H, rel_err(pre, H, ref_pre, H, N, H),
	       bf ? 8e-3 : 1e-5, g);
	from_device(got, d_out, (size_t)N * H, bf);
	report_gelu("forward+gelu", p, N, C, H, got, ref, ref_erf, (size_t)N * H, 5e-4, g);

	/* the backward reads the kept input as the forward stored it */
	if (gm_linear_bwd_data_dgelu(g, p, d_dpre, d_dout, C, d_w2, d_aux, N, H, C) < 0) {
		printf("FAIL gm backward-data+dgelu %s N=%d C=%d: %s\n", bf ? "bf16" : "f32", N, C, gm_error(g));
		g_fails++;
		goto out;
	}
	for (int n = 0; n < N; n++)
		for (int i = 0; i < H; i++) {
			double acc = 0, x = pre[(size_t)n * H + i];
			for (int o = 0; o < C; o++)
				acc += (double)dout[(size_t)n * C + o] * w2[(size_t)o * H + i];
			ref[(size_t)n * H + i] = acc * dgelu_ref(x);
			ref_erf[(size_t)n * H + i] = acc * dgelu_erf(x);
		}
	from_device(got, d_dpre, (size_t)N * H, bf);
	report_gelu("backward-data+dgelu", p, N, H, C, got, ref, ref_erf, (size_t)N * H, 3e-3, g);
out:
	CK(cudaFree(d_inp));
	CK(cudaFree(d_w));
	CK(cudaFree(d_bias));
	CK(cudaFree(d_w2));
	CK(cudaFree(d_dout));
	CK(cudaFree(d_out));
	CK(cudaFree(d_aux));
	CK(cudaFree(d_dpre));
	free(inp);
	free(w);
	free(bias);
	free(w2);
	free(dout);
	free(got);
	free(pre);
	free(ref);
	free(ref_erf);
	free(ref_pre);
}

static void fused_gelu_matches_reference(void **state)
{
	struct fixture *f = *state;

	g_rng = 11;
	g_fails = 0;
	for (int prec = 0; prec < 2; prec++) {
		enum gk_prec p = prec ? GK_BF16 : GK_F32;
		/* the parity shape's MLP (C 256) and GPT-2 small's at N 256 */
		check_fused_gelu(f->g, p, 2048, 256);
		check_fused_gelu(f->g, p, 256, 768);
	}
	if (g_fails)
		fail_msg("%d fused-GELU checks failed", g_fails);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(products_match_reference),
		cmocka_unit_test(fused_gelu_matches_reference),
	};
	return cmocka_run_group_tests(tests, gm_setup, gm_teardown);
}
