/* test_gk_attn.c: gk_attn_fwd / gk_attn_bwd (recipe/cuda/gk_attn.cu) on the
 * GPU against a CPU reference in double: forward (out, lse) from the
 * definition, backward (dq, dk, dv) from the analytic softmax gradient,
 * over head sizes, precisions, sequence lengths that are and are not tile
 * multiples, and both code paths (tensor cores on and off). Also checks
 * bitwise determinism and causality. Outputs are poisoned with NaN before
 * every call, so a row a kernel forgets to write fails.
 *
 * Every check prints one PASS/FAIL line and the test keeps going, so one
 * run on the device reports every failure. With KARPA_GK_BENCH=1 it also
 * times both passes at a GPT-2-small-like shape ("bench attn" lines). */
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

#include "gk.h"

#define CK(call)                                                                         \
	do {                                                                             \
		cudaError_t e_ = (call);                                                 \
		if (e_ != cudaSuccess)                                                   \
			fail_msg("%s:%d: %s: %s", __FILE__, __LINE__, #call,                 \
				 cudaGetErrorString(e_));                                        \
	} while (0)

static int g_fail; /* failed checks in the current test function */

/* ------------------------------------------------------------ helpers */

static uint64_t g_rng;

static double rnd_unit(void) /* splitmix64 -> [0, 1) */
{
	uint64_t z = (g_rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return (double)(z >> 11) / 9007199254740992.0;
}

/* Uniform in [-a, a], kept away from zero so no input is trivially 0. */
static float rnd_val(float a)
{
	float u = (float)(2.0 * rnd_unit() - 1.0);
	if (fabsf(u) < 1e-2f)
		u = u < 0 ? -1e-2f : 1e-2f;
	return a * u;
}

static uint16_t f2bf(float f) /* round to nearest even; inputs are finite */
{
	uint32_t u;
	memcpy(&u, &f, 4);
	u += 0x7fffu + ((u >> 16) & 1u);
	return (uint16_t)(u >> 16);
}

static float bf2f(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;
	memcpy(&f, &u, 4);
	return f;
}

static float round_prec(enum gk_prec p, float x)
{
	return p == GK_BF16 ? bf2f(f2bf(x)) : x;
}

/* Local rather than gk_elt_bytes so that this test links against
 * gk_attn.cu alone. */
static size_t elt(enum gk_prec p)
{
	return p == GK_BF16 ? 2 : 4;
}

static void *dev_alloc(size_t bytes)
{
	void *d = NULL;
	CK(cudaMalloc(&d, bytes));
	return d;
}

static void upload(enum gk_prec p, void *dst, const float *src, size_t n)
{
	if (p == GK_F32) {
		CK(cudaMemcpy(dst, src, n * sizeof(float), cudaMemcpyHostToDevice));
		return;
	}
	uint16_t *tmp = malloc(n * sizeof *tmp);
	assert_non_null(tmp);
	for (size_t i = 0; i < n; i++)
		tmp[i] = f2bf(src[i]);
	CK(cudaMemcpy(dst, tmp, n * sizeof *tmp, cudaMemcpyHostToDevice));
	free(tmp);
}

static void download(enum gk_prec p, float *dst, const void *src, size_t n)
{
	if (p == GK_F32) {
		CK(cudaMemcpy(dst, src, n * sizeof(float), cudaMemcpyDeviceToHost));
		return;
	}
	uint16_t *tmp = malloc(n * sizeof *tmp);
	assert_non_null(tmp);
	CK(cudaMemcpy(tmp, src, n * sizeof *tmp, cudaMemcpyDeviceToHost));
	for (size_t i = 0; i < n; i++)
		dst[i] = bf2f(tmp[i]);
	free(tmp);
}

/* All-ones bytes are NaN in both fp32 and bf16. */
static void poison(void *d, size_t bytes)
{
	CK(cudaMemset(d, 0xff, bytes));
	CK(cudaDeviceSynchronize());
}

static void sync_check(void)
{
	CK(cudaGetLastError());
	CK(cudaDeviceSynchronize());
}

/* Relative error of the norms, ||got - ref|| / ||ref||, over n values read
 * with a stride (to pick one third of dqkv); any non-finite value fails. */
static int check_close(const char *what, const float *got, const double *ref, size_t rows,
		       size_t cols, size_t ld, double tol)
{
	double dn = 0, rn = 0, maxabs = 0;
	size_t bad = 0;
	for (size_t r = 0; r < rows; r++)
		for (size_t c = 0; c < cols; c++) {
			double g = got[r * ld + c], e = ref[r * ld + c], d = g - e;
			if (!isfinite(g)) {
				bad++;
				continue;
			}
			dn += d * d;
			rn += e * e;
			if (fabs(d) > maxabs)
				maxabs = fabs(d);
		}
	double rel = rn > 0 ? sqrt(dn / rn) : sqrt(dn);
	int ok = bad == 0 && rel <= tol;
	printf("%s %s: rel %.3e (tol %.1e) maxabs %.3e nonfinite %zu\n", ok ? "PASS" : "FAIL", what,
	       rel, tol, maxabs, bad);
	if (!ok)
		g_fail++;
	return ok;
}

static void report(int ok, const char *fmt, ...)
{
	va_list ap;
	printf("%s ", ok ? "PASS" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!ok)
		g_fail++;
}

/* ------------------------------------------------- CPU reference (double) */

/* out [B*T, C], lse [B, NH, T] from qkv [B*T, 3C]. */
static void ref_fwd(const float *qkv, int B, int T, int C, int NH, double *out, double *lse)
{
	int hs = C / NH, C3 = 3 * C;
	double scale = 1.0 / sqrt((double)hs);
	double *s = malloc((size_t)T * sizeof *s);
	assert_non_null(s);
	for (int b = 0; b < B; b++)
		for (int h = 0; h < NH; h++)
			for (int t = 0; t < T; t++) {
				const float *q = qkv + ((size_t)b * T + t) * C3 + h * hs;
				double mx = -INFINITY, l = 0;
				for (int j = 0; j <= t; j++) {
					const float *k = qkv + ((size_t)b * T + j) * C3 + C + h * hs;
					double d = 0;
					for (int e = 0; e < hs; e++)
						d += (double)q[e] * k[e];
					s[j] = d * scale;
					if (s[j] > mx)
						mx = s[j];
				}
				for (int j = 0; j <= t; j++) {
					s[j] = exp(s[j] - mx);
					l += s[j];
				}
				double *o = out + ((size_t)b * T + t) * C + h * hs;
				for (int e = 0; e < hs; e++)
					o[e] = 0;
				for (int j = 0; j <= t; j++) {
					const float *v = qkv + ((size_t)b * T + j) * C3 + 2 * C + h * hs;
					for (int e = 0; e < hs; e++)
						o[e] += s[j] / l * v[e];
				}
				lse[((size_t)b * NH + h) * T + t] = mx + log(l);
			}
	free(s);
}

/* dqkv [B*T, 3C] from dout [B*T, C]. With P the softmax row of query t:
 *   dV_j += P_j dO_t,  dP_j = dO_t . V_j,  dS_j = P_j (dP_j - sum_i P_i dP_i),
 *   dQ_t = scale sum_j dS_j K_j,  dK_j += scale dS_j Q_t. */
static void ref_bwd(const float *qkv, const float *dout, int B, int T, int C, int NH,
		    double *dqkv)
{
	int hs = C / NH, C3 = 3 * C;
	double scale = 1.0 / sqrt((double)hs);
	double *P = malloc((size_t)T * sizeof *P), *dP = malloc((size_t)T * sizeof *dP);
	assert_non_null(P);
	assert_non_null(dP);
	memset(dqkv, 0, (size_t)B * T * C3 * sizeof *dqkv);
	for (int b = 0; b < B; b++)
		for (int h = 0; h < NH; h++)
			for (int t = 0; t < T; t++) {
				const float *q = qkv + ((size_t)b * T + t) * C3 + h * hs;
				const float *go = dout + ((size_t)b * T + t) * C + h * hs;
				double mx = -INFINITY, l = 0, dot = 0;
				for (int j = 0; j <= t; j++) {
					const float *k = qkv + ((size_t)b * T + j) * C3 + C + h * hs;
					double d = 0;
					for (int e = 0; e < hs; e++)
						d += (double)q[e] * k[e];
					P[j] = d * scale;
					if (P[j] > mx)
						mx = P[j];
				}
				for (int j = 0; j <= t; j++) {
					P[j] = exp(P[j] - mx);
					l += P[j];
				}
				for (int j = 0; j <= t; j++) {
					const float *v = qkv + ((size_t)b * T + j) * C3 + 2 * C + h * hs;
					double d = 0;
					P[j] /= l;
					for (int e = 0; e < hs; e++)
						d += (double)go[e] * v[e];
					dP[j] = d;
					dot += P[j] * d;
				}
				double *dq = dqkv + ((size_t)b * T + t) * C3 + h * hs;
				for (int j = 0; j <= t; j++) {
					const float *k = qkv + ((size_t)b * T + j) * C3 + C + h * hs;
					double *dk = dqkv + ((size_t)b * T + j) * C3 + C + h * hs;
					double *dv = dk + C, ds = P[j] * (dP[j] - dot) * scale;
					for (int e = 0; e < hs; e++) {
						dq[e] += ds * k[e];
						dk[e] += ds * q[e];
						dv[e] += P[j] * go[e];
					}
				}
			}
	free(P);
	free(dP);
}

/* ----------------------------------------------------------- fixtures */

struct attn_case {
	enum gk_prec p;
	int B, T, NH, hs, C;
	size_t n_qkv, n_out, n_lse;
	float *qkv, *dout;	       /* host inputs, already rounded to p */
	void *d_qkv, *d_out, *d_dout, *d_dqkv; /* device, activation-typed */
	float *d_lse, *d_scratch;
};

static const char *pname(enum gk_prec p)
{
	return p == GK_BF16 ? "bf16" : "f32";
}

static void case_init(struct attn_case *c, enum gk_prec p, int B, int NH, int T, int hs,
		      uint64_t seed)
{
	memset(c, 0, sizeof *c);
	c->p = p;
	c->B = B;
	c->T = T;
	c->NH = NH;
	c->hs = hs;
	c->C = NH * hs;
	c->n_qkv = (size_t)B * T * 3 * c->C;
	c->n_out = (size_t)B * T * c->C;
	c->n_lse = (size_t)B * NH * T;
	c->qkv = malloc(c->n_qkv * sizeof(float));
	c->dout = malloc(c->n_out * sizeof(float));
	assert_non_null(c->qkv);
	assert_non_null(c->dout);
	g_rng = seed;
	/* q and k wider than v so that the softmax is far from uniform */
	for (size_t i = 0; i < c->n_qkv; i++) {
		int part = (int)((i % (3 * (size_t)c->C)) / (size_t)c->C);
		c->qkv[i] = round_prec(p, rnd_val(part < 2 ? 2.0f : 1.0f));
	}
	for (size_t i = 0; i < c->n_out; i++)
		c->dout[i] = round_prec(p, rnd_val(1.0f));
	size_t e = elt(p);
	c->d_qkv = dev_alloc(c->n_qkv * e);
	c->d_out = dev_alloc(c->n_out * e);
	c->d_dout = dev_alloc(c->n_out * e);
	c->d_dqkv = dev_alloc(c->n_qkv * e);
	c->d_lse = dev_alloc(c->n_lse * sizeof(float));
	c->d_scratch = dev_alloc(gk_attn_scratch_floats(B, T, NH) * sizeof(float));
	upload(p, c->d_qkv, c->qkv, c->n_qkv);
	upload(p, c->d_dout, c->dout, c->n_out);
}

static void case_free(struct attn_case *c)
{
	free(c->qkv);
	free(c->dout);
	CK(cudaFree(c->d_qkv));
	CK(cudaFree(c->d_out));
	CK(cudaFree(c->d_dout));
	CK(cudaFree(c->d_dqkv));
	CK(cudaFree(c->d_lse));
	CK(cudaFree(c->d_scratch));
}

static void run_fwd(struct attn_case *c)
{
	poison(c->d_out, c->n_out * elt(c->p));
	poison(c->d_lse, c->n_lse * sizeof(float));
	gk_attn_fwd(c->p, c->d_out, c->d_lse, c->d_qkv, c->B, c->T, c->C, c->NH, 0);
	sync_check();
}

/* Backward from the forward's own out and lse, as the model uses it. */
static void run_bwd(struct attn_case *c)
{
	poison(c->d_dqkv, c->n_qkv * elt(c->p));
	poison(c->d_scratch, gk_attn_scratch_floats(c->B, c->T, c->NH) * sizeof(float));
	gk_attn_bwd(c->p, c->d_dqkv, c->d_dout, c->d_qkv, c->d_out, c->d_lse, c->B, c->T, c->C,
		    c->NH, c->d_scratch, 0);
	sync_check();
}

static void raw_copy(void *host, const void *dev, size_t bytes)
{
	CK(cudaMemcpy(host, dev, bytes, cudaMemcpyDeviceToHost));
}

/* The code paths a check runs on: tensor cores on (where they apply), then
 * the plain path. */
static const int k_paths[] = { 1, 0 };
#define NPATHS ((int)(sizeof k_paths / sizeof k_paths[0]))

/* ------------------------------------------------------------- tests */

static void check_case(enum gk_prec p, int tc, int NH, int T, int hs)
{
	const int B = 2;
	struct attn_case c;
	char tag[128];
	double tol = p == GK_BF16 ? 2e-2 : 1e-4;
	uint64_t seed = 1000003ull * (uint64_t)T + 1009ull * (uint64_t)NH + (uint64_t)hs + 7ull * p;

	gk_attn_set_tensor_cores(tc);
	case_init(&c, p, B, NH, T, hs, seed);
	snprintf(tag, sizeof tag, "%s tc=%d B=%d NH=%d T=%d hs=%d", pname(p), tc, B, NH, T, hs);

	float *out = malloc(c.n_out * sizeof *out), *lse = malloc(c.n_lse * sizeof *lse);
	float *dqkv = malloc(c.n_qkv * sizeof *dqkv);
	double *rout = malloc(c.n_out * sizeof *rout), *rlse = malloc(c.n_lse * sizeof *rlse);
	double *rdqkv = malloc(c.n_qkv * sizeof *rdqkv);
	assert_true(out && lse && dqkv && rout && rlse && rdqkv);

	run_fwd(&c);
	download(p, out, c.d_out, c.n_out);
	raw_copy(lse, c.d_lse, c.n_lse * sizeof(float));
	ref_fwd(c.qkv, B, T, c.C, NH, rout, rlse);
	char what[192];
	snprintf(what, sizeof what, "fwd out %s", tag);
	check_close(what, out, rout, (size_t)B * T, (size_t)c.C, (size_t)c.C, tol);
	snprintf(what, sizeof what, "fwd lse %s", tag);
	check_close(what, lse, rlse, 1, c.n_lse, 0, tol);

	run_bwd(&c);
	download(p, dqkv, c.d_dqkv, c.n_qkv);
	ref_bwd(c.qkv, c.dout, B, T, c.C, NH, rdqkv);
	static const char *part[3] = { "dq", "dk", "dv" };
	for (int k = 0; k < 3; k++) {
		snprintf(what, sizeof what, "bwd %s %s", part[k], tag);
		check_close(what, dqkv + (size_t)k * c.C, rdqkv + (size_t)k * c.C, (size_t)B * T,
			    (size_t)c.C, 3 * (size_t)c.C, tol);
	}
	free(out);
	free(lse);
	free(dqkv);
	free(rout);
	free(rlse);
	free(rdqkv);
	case_free(&c);
}

static void test_accuracy(void **state)
{
	(void)state;
	static const int Ts[] = { 1, 7, 64, 100, 129, 256 };
	static const int NHs[] = { 1, 3 };
	static const int hss[] = { 32, 64 };
	g_fail = 0;
	for (int pi = 0; pi < NPATHS; pi++)
		for (int p = 0; p < 2; p++)
			for (int a = 0; a < 2; a++)
				for (int n = 0; n < 2; n++)
					for (int t = 0; t < 6; t++)
						check_case((enum gk_prec)p, k_paths[pi], NHs[n], Ts[t],
							   hss[a]);
	assert_int_equal(g_fail, 0);
}

/* Same inputs, same launch: the same bits, run after run. */
static void test_determinism(void **state)
{
	(void)state;
	static const int hss[] = { 64, 32 };
	g_fail = 0;
	for (int pi = 0; pi < NPATHS; pi++)
		for (int p = 0; p < 2; p++)
			for (int a = 0; a < 2; a++) {
				struct attn_case c;
				int tc = k_paths[pi];
				gk_attn_set_tensor_cores(tc);
				case_init(&c, (enum gk_prec)p, 4, 4, 256, hss[a], 77 + (uint64_t)a);
				size_t ob = c.n_out * elt(c.p), lb = c.n_lse * sizeof(float);
				size_t gb = c.n_qkv * elt(c.p);
				unsigned char *o1 = malloc(ob), *o2 = malloc(ob), *l1 = malloc(lb);
				unsigned char *l2 = malloc(lb), *g1 = malloc(gb), *g2 = malloc(gb);
				assert_true(o1 && o2 && l1 && l2 && g1 && g2);
				run_fwd(&c);
				raw_copy(o1, c.d_out, ob);
				raw_copy(l1, c.d_lse, lb);
				run_bwd(&c);
				raw_copy(g1, c.d_dqkv, gb);
				run_fwd(&c);
				raw_copy(o2, c.d_out, ob);
				raw_copy(l2, c.d_lse, lb);
				run_bwd(&c);
				raw_copy(g2, c.d_dqkv, gb);
				report(memcmp(o1, o2, ob) == 0 && memcmp(l1, l2, lb) == 0,
				       "determinism fwd %s tc=%d B=4 NH=4 T=256 hs=%d", pname(c.p), tc,
				       hss[a]);
				report(memcmp(g1, g2, gb) == 0, "determinism bwd %s tc=%d B=4 NH=4 T=256 hs=%d",
				       pname(c.p), tc, hss[a]);
				free(o1);
				free(o2);
				free(l1);
				free(l2);
				free(g1);
				free(g2);
				case_free(&c);
			}
	assert_int_equal(g_fail, 0);
}

/* Changing q, k and v at position t0 must leave every output row before t0
 * bit-identical (and change row t0, so the check can tell). */
static void test_causality(void **state)
{
	(void)state;
	static const int hss[] = { 64, 32 };
	const int B = 2, NH = 3, T = 256, t0 = 100;
	g_fail = 0;
	for (int pi = 0; pi < NPATHS; pi++)
		for (int p = 0; p < 2; p++)
			for (int a = 0; a < 2; a++) {
				struct attn_case c;
				int tc = k_paths[pi];
				gk_attn_set_tensor_cores(tc);
				case_init(&c, (enum gk_prec)p, B, NH, T, hss[a], 4242 + (uint64_t)a);
				size_t e = elt(c.p), ob = c.n_out * e, lb = c.n_lse * sizeof(float);
				size_t row = (size_t)c.C * e;
				unsigned char *o1 = malloc(ob), *o2 = malloc(ob);
				float *l1 = malloc(lb), *l2 = malloc(lb);
				assert_true(o1 && o2 && l1 && l2);
				run_fwd(&c);
				raw_copy(o1, c.d_out, ob);
				raw_copy(l1, c.d_lse, lb);
				for (int b = 0; b < B; b++)
					for (int i = 0; i < 3 * c.C; i++) {
						float *x = &c.qkv[((size_t)b * T + t0) * 3 * c.C + i];
						*x = round_prec(c.p, -*x * 1.5f + 0.25f);
					}
				upload(c.p, c.d_qkv, c.qkv, c.n_qkv);
				run_fwd(&c);
				raw_copy(o2, c.d_out, ob);
				raw_copy(l2, c.d_lse, lb);
				int same_before = 1, diff_at = 1;
				for (int b = 0; b < B; b++) {
					size_t r0 = (size_t)b * T * row;
					if (memcmp(o1 + r0, o2 + r0, (size_t)t0 * row) != 0)
						same_before = 0;
					if (memcmp(o1 + r0 + (size_t)t0 * row, o2 + r0 + (size_t)t0 * row,
						   row) == 0)
						diff_at = 0;
					for (int h = 0; h < NH; h++) {
						size_t l0 = ((size_t)b * NH + h) * T;
						if (memcmp(l1 + l0, l2 + l0, (size_t)t0 * sizeof(float)) != 0)
							same_before = 0;
					}
				}
				report(same_before, "causality rows < t0 unchanged %s tc=%d T=%d t0=%d hs=%d",
				       pname(c.p), tc, T, t0, hss[a]);
				report(diff_at, "causality row t0 changed %s tc=%d T=%d t0=%d hs=%d",
				       pname(c.p), tc, T, t0, hss[a]);
				free(o1);
				free(o2);
				free(l1);
				free(l2);
				case_free(&c);
			}
	assert_int_equal(g_fail, 0);
}

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

/* Median milliseconds of 20 timed runs after 3 warm-ups; bwd selects the
 * pass. */
static float time_pass(struct attn_case *c, int bwd)
{
	float ms[20];
	cudaEvent_t e0, e1;
	CK(cudaEventCreate(&e0));
	CK(cudaEventCreate(&e1));
	for (int it = 0; it < 23; it++) {
		CK(cudaEventRecord(e0, 0));
		if (bwd)
			gk_attn_bwd(c->p, c->d_dqkv, c->d_dout, c->d_qkv, c->d_out, c->d_lse, c->B, c->T,
				    c->C, c->NH, c->d_scratch, 0);
		else
			gk_attn_fwd(c->p, c->d_out, c->d_lse, c->d_qkv, c->B, c->T, c->C, c->NH, 0);
		CK(cudaEventRecord(e1, 0));
		sync_check();
		if (it >= 3)
			CK(cudaEventElapsedTime(&ms[it - 3], e0, e1));
	}
	CK(cudaEventDestroy(e0));
	CK(cudaEventDestroy(e1));
	qsort(ms, 20, sizeof ms[0], cmp_float);
	return 0.5f * (ms[9] + ms[10]);
}

static void test_bench(void **state)
{
	(void)state;
	const char *env = getenv("KARPA_GK_BENCH");
	if (!env || strcmp(env, "1") != 0) {
		printf("bench attn: skipped (set KARPA_GK_BENCH=1)\n");
		return;
	}
	const int B = 16, NH = 16, T = 1024, hs = 64;
	const double fwd_flops = 2.0 * B * NH * (double)T * T * hs, bwd_flops = 2.5 * fwd_flops;
	for (int p = 1; p >= 0; p--) {
		struct attn_case c;
		case_init(&c, (enum gk_prec)p, B, NH, T, hs, 99);
		for (int pi = 0; pi < NPATHS; pi++) {
			gk_attn_set_tensor_cores(k_paths[pi]);
			run_fwd(&c);
			float f = time_pass(&c, 0), g = time_pass(&c, 1);
			printf("bench attn fwd %s tc=%d B=%d NH=%d T=%d hs=%d: %.3f ms %.2f TFLOP/s\n",
			       pname(c.p), k_paths[pi], B, NH, T, hs, f, fwd_flops / (f * 1e-3) / 1e12);
			printf("bench attn bwd %s tc=%d B=%d NH=%d T=%d hs=%d: %.3f ms %.2f TFLOP/s\n",
			       pname(c.p), k_paths[pi], B, NH, T, hs, g, bwd_flops / (g * 1e-3) / 1e12);
		}
		case_free(&c);
	}
	gk_attn_set_tensor_cores(1);
}

int main(void)
{
	struct cudaDeviceProp prop;
	if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess)
		printf("device: %s (sm_%d%d)\n", prop.name, prop.major, prop.minor);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accuracy),
		cmocka_unit_test(test_determinism),
		cmocka_unit_test(test_causality),
		cmocka_unit_test(test_bench),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
