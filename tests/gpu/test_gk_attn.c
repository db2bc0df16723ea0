/* test_gk_attn.c: gk_attn_fwd / gk_attn_bwd (recipe/cuda/gk_attn.cu) on the
 * GPU against a CPU reference in double: forward (out, lse) from the
 * definition, backward (dq, dk, dv) from the analytic softmax gradient,
 * over head sizes, precisions, sequence lengths that are and are not tile
 * multiples, and every code path (gk_attn_set_path: plain, wmma, mma; a
 * path that does not apply to a case falls back, and the line says which
 * ran). Also checks bitwise determinism and causality, and that the mma
 * path repeats itself bit for bit and agrees with the wmma path. Outputs
 * are poisoned with NaN before every call, so a row a kernel forgets to
 * write fails.
 *
 * Every check prints one PASS/FAIL line naming its path ("path=mma") and
 * the test keeps going, so one run on the device reports every failure.
 * With KARPA_GK_BENCH=1 it also times both passes of every path at the
 * GPT-2 shapes ("bench attn" lines). */
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
#include "gpu_test.h"

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

static float round_prec(enum gk_prec p, float x)
{
	return p == GK_BF16 ? gt_bf2f(gt_f2bf(x)) : x;
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
		tmp[i] = gt_f2bf(src[i]);
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
		dst[i] = gt_bf2f(tmp[i]);
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

/* The code paths a check runs on; the newest last, so that a crash in it
 * (a sticky CUDA error fails every later check) leaves the others'
 * results standing. */
static const enum gk_attn_path k_paths[] = { GK_ATTN_WMMA, GK_ATTN_PLAIN, GK_ATTN_MMA };
#define NPATHS ((int)(sizeof k_paths / sizeof k_paths[0]))

/* "path=mma ran=mma": the path set, and the one a call of this shape runs. */
static const char *path_tag(enum gk_attn_path path, const struct attn_case *c)
{
	static char buf[64];
	snprintf(buf, sizeof buf, "path=%s ran=%s", gk_attn_path_name(path),
		 gk_attn_path_name(gk_attn_path_for(c->p, c->T, c->C, c->NH)));
	return buf;
}

/* ------------------------------------------------------------- tests */

/* out, lse and dqkv of one forward and the backward after it, on the
 * host: what a path gave, and what it is checked against. */
struct attn_got {
	float *out, *lse, *dqkv;
};
struct attn_want {
	double *out, *lse, *dqkv;
};

static void got_run(struct attn_case *c, struct attn_got *r)
{
	r->out = malloc(c->n_out * sizeof *r->out);
	r->lse = malloc(c->n_lse * sizeof *r->lse);
	r->dqkv = malloc(c->n_qkv * sizeof *r->dqkv);
	assert_true(r->out && r->lse && r->dqkv);
	run_fwd(c);
	download(c->p, r->out, c->d_out, c->n_out);
	raw_copy(r->lse, c->d_lse, c->n_lse * sizeof(float));
	run_bwd(c);
	download(c->p, r->dqkv, c->d_dqkv, c->n_qkv);
}

static void got_free(struct attn_got *r)
{
	free(r->out);
	free(r->lse);
	free(r->dqkv);
}

static void want_alloc(const struct attn_case *c, struct attn_want *w)
{
	w->out = malloc(c->n_out * sizeof *w->out);
	w->lse = malloc(c->n_lse * sizeof *w->lse);
	w->dqkv = malloc(c->n_qkv * sizeof *w->dqkv);
	assert_true(w->out && w->lse && w->dqkv);
}

static void want_free(struct attn_want *w)
{
	free(w->out);
	free(w->lse);
	free(w->dqkv);
}

/* One line each for out, lse, dq, dk and dv: "<prefix>fwd out <tag>". */
static void check_all(const struct attn_case *c, const char *prefix, const char *tag,
		      const struct attn_got *g, const struct attn_want *w, double tol)
{
	static const char *part[3] = { "dq", "dk", "dv" };
	size_t rows = (size_t)c->B * c->T, C = (size_t)c->C;
	char what[256];
	snprintf(what, sizeof what, "%sfwd out %s", prefix, tag);
	check_close(what, g->out, w->out, rows, C, C, tol);
	snprintf(what, sizeof what, "%sfwd lse %s", prefix, tag);
	check_close(what, g->lse, w->lse, 1, c->n_lse, 0, tol);
	for (int k = 0; k < 3; k++) {
		snprintf(what, sizeof what, "%sbwd %s %s", prefix, part[k], tag);
		check_close(what, g->dqkv + k * C, w->dqkv + k * C, rows, C, 3 * C, tol);
	}
}

static void check_case(enum gk_prec p, enum gk_attn_path path, int NH, int T, int hs)
{
	const int B = 2;
	struct attn_case c;
	struct attn_got got;
	struct attn_want want;
	char tag[128];
	double tol = p == GK_BF16 ? 2e-2 : 1e-4;
	uint64_t seed = 1000003ull * (uint64_t)T + 1009ull * (uint64_t)NH + (uint64_t)hs + 7ull * p;

	gk_attn_set_path(path);
	case_init(&c, p, B, NH, T, hs, seed);
	snprintf(tag, sizeof tag, "%s %s B=%d NH=%d T=%d hs=%d", pname(p), path_tag(path, &c), B, NH,
		 T, hs);
	got_run(&c, &got);
	want_alloc(&c, &want);
	ref_fwd(c.qkv, B, T, c.C, NH, want.out, want.lse);
	ref_bwd(c.qkv, c.dout, B, T, c.C, NH, want.dqkv);
	check_all(&c, "", tag, &got, &want, tol);
	got_free(&got);
	want_free(&want);
	case_free(&c);
}

static void test_accuracy(void **state)
{
	(void)state;
	static const int Ts[] = { 1, 7, 64, 100, 129, 192, 256 };
	static const int NHs[] = { 1, 3 };
	static const int hss[] = { 32, 64 };
	g_fail = 0;
	for (int pi = 0; pi < NPATHS; pi++)
		for (int p = 0; p < 2; p++)
			for (int a = 0; a < 2; a++)
				for (int n = 0; n < 2; n++)
					for (int t = 0; t < 7; t++)
						check_case((enum gk_prec)p, k_paths[pi], NHs[n], Ts[t],
							   hss[a]);
	assert_int_equal(g_fail, 0);
}

/* Two runs of one path on the same inputs: one line for the forward's
 * bits, one for the backward's (bf16 to float is exact and one to one, so
 * equal floats are equal bits). */
static void report_twice(const struct attn_case *c, const struct attn_got *x,
			 const struct attn_got *y, const char *what, const char *tag)
{
	report(memcmp(x->out, y->out, c->n_out * sizeof(float)) == 0 &&
		       memcmp(x->lse, y->lse, c->n_lse * sizeof(float)) == 0,
	       "%s fwd %s", what, tag);
	report(memcmp(x->dqkv, y->dqkv, c->n_qkv * sizeof(float)) == 0, "%s bwd %s", what, tag);
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
				struct attn_got r1, r2;
				char tag[128];
				gk_attn_set_path(k_paths[pi]);
				case_init(&c, (enum gk_prec)p, 4, 4, 256, hss[a], 77 + (uint64_t)a);
				snprintf(tag, sizeof tag, "%s %s B=4 NH=4 T=256 hs=%d", pname(c.p),
					 path_tag(k_paths[pi], &c), hss[a]);
				got_run(&c, &r1);
				got_run(&c, &r2);
				report_twice(&c, &r1, &r2, "determinism", tag);
				got_free(&r1);
				got_free(&r2);
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
				gk_attn_set_path(k_paths[pi]);
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
				const char *pt = path_tag(k_paths[pi], &c);
				report(same_before, "causality rows < t0 unchanged %s %s T=%d t0=%d hs=%d",
				       pname(c.p), pt, T, t0, hss[a]);
				report(diff_at, "causality row t0 changed %s %s T=%d t0=%d hs=%d", pname(c.p),
				       pt, T, t0, hss[a]);
				free(o1);
				free(o2);
				free(l1);
				free(l2);
				case_free(&c);
			}
	assert_int_equal(g_fail, 0);
}

/* The selector: the fastest path allowed where it applies, else the next
 * simpler one; names round-trip. */
static void test_path_selection(void **state)
{
	(void)state;
	g_fail = 0;
	gk_attn_set_path(GK_ATTN_MMA);
	report(gk_attn_path_for(GK_BF16, 1024, 768, 12) == GK_ATTN_MMA &&
		       gk_attn_path_for(GK_BF16, 64, 64, 1) == GK_ATTN_MMA,
	       "path select mma where it applies path=mma");
	report(gk_attn_path_for(GK_F32, 1024, 768, 12) == GK_ATTN_PLAIN &&
		       gk_attn_path_for(GK_BF16, 1000, 768, 12) == GK_ATTN_PLAIN &&
		       gk_attn_path_for(GK_BF16, 1024, 384, 12) == GK_ATTN_PLAIN,
	       "path select falls back to plain path=mma");
	gk_attn_set_path(GK_ATTN_WMMA);
	report(gk_attn_path_for(GK_BF16, 1024, 768, 12) == GK_ATTN_WMMA, "path select path=wmma");
	gk_attn_set_path(GK_ATTN_PLAIN);
	report(gk_attn_path_for(GK_BF16, 1024, 768, 12) == GK_ATTN_PLAIN, "path select path=plain");
	int names_ok = gk_attn_set_path_name("bogus") == -1 &&
		       gk_attn_path_for(GK_BF16, 1024, 768, 12) == GK_ATTN_PLAIN;
	for (int i = 0; i < NPATHS; i++)
		names_ok = names_ok && gk_attn_set_path_name(gk_attn_path_name(k_paths[i])) == 0 &&
			   gk_attn_path_for(GK_BF16, 1024, 768, 12) == k_paths[i];
	report(names_ok, "path names plain|wmma|mma round-trip");
	gk_attn_set_path(GK_ATTN_MMA);
	assert_int_equal(g_fail, 0);
}

static void to_double(double *dst, const float *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = src[i];
}

/* The mma path at the GPT-2 shapes (T 1024, 16 and 12 heads of 64): the
 * same bits twice, and as close to the wmma path as the wmma path must be
 * to the CPU reference (both round P and dS to bf16; their exponentials
 * and summation orders differ). */
static void test_mma_vs_wmma(void **state)
{
	(void)state;
	static const int NHs[] = { 16, 12 };
	const int B = 2, T = 1024, hs = 64;
	const double tol = 2e-2;
	g_fail = 0;
	for (int n = 0; n < 2; n++) {
		struct attn_case c;
		struct attn_got mma, again, wmma;
		struct attn_want want;
		char tag[128];
		case_init(&c, GK_BF16, B, NHs[n], T, hs, 31337 + (uint64_t)n);
		gk_attn_set_path(GK_ATTN_MMA);
		snprintf(tag, sizeof tag, "bf16 %s B=%d NH=%d T=%d hs=%d", path_tag(GK_ATTN_MMA, &c), B,
			 NHs[n], T, hs);
		report(gk_attn_path_for(c.p, T, c.C, c.NH) == GK_ATTN_MMA, "mma applies %s", tag);
		got_run(&c, &mma);
		got_run(&c, &again);
		report_twice(&c, &mma, &again, "mma twice", tag);
		gk_attn_set_path(GK_ATTN_WMMA);
		got_run(&c, &wmma);
		want_alloc(&c, &want);
		to_double(want.out, wmma.out, c.n_out);
		to_double(want.lse, wmma.lse, c.n_lse);
		to_double(want.dqkv, wmma.dqkv, c.n_qkv);
		check_all(&c, "mma vs wmma ", tag, &mma, &want, tol);
		got_free(&mma);
		got_free(&again);
		got_free(&wmma);
		want_free(&want);
		case_free(&c);
	}
	gk_attn_set_path(GK_ATTN_MMA);
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

/* Both passes of one path at B 16, T 1024, hs 64; FLOPs of the causal
 * half (forward 2 products, backward 5). */
static void bench_path(struct attn_case *c, enum gk_attn_path path)
{
	const double fwd_flops = 2.0 * c->B * c->NH * (double)c->T * c->T * c->hs;
	const double bwd_flops = 2.5 * fwd_flops;
	gk_attn_set_path(path);
	run_fwd(c);
	float f = time_pass(c, 0), g = time_pass(c, 1);
	const char *pt = path_tag(path, c);
	printf("bench attn fwd %s %s B=%d NH=%d T=%d hs=%d: %.3f ms %.2f TFLOP/s\n", pname(c->p), pt,
	       c->B, c->NH, c->T, c->hs, f, fwd_flops / (f * 1e-3) / 1e12);
	printf("bench attn bwd %s %s B=%d NH=%d T=%d hs=%d: %.3f ms %.2f TFLOP/s\n", pname(c->p), pt,
	       c->B, c->NH, c->T, c->hs, g, bwd_flops / (g * 1e-3) / 1e12);
}

/* Every path in bf16 at Karpa-1's 16 heads and GPT-2 small's 12; fp32 has
 * only the plain path. */
static void test_bench(void **state)
{
	(void)state;
	const char *env = getenv("KARPA_GK_BENCH");
	if (!env || strcmp(env, "1") != 0) {
		printf("bench attn: skipped (set KARPA_GK_BENCH=1)\n");
		return;
	}
	static const int NHs[] = { 16, 12 };
	for (int n = 0; n < 2; n++) {
		struct attn_case c;
		case_init(&c, GK_BF16, 16, NHs[n], 1024, 64, 99);
		for (int pi = 0; pi < NPATHS; pi++)
			bench_path(&c, k_paths[pi]);
		case_free(&c);
	}
	struct attn_case c;
	case_init(&c, GK_F32, 16, 16, 1024, 64, 99);
	bench_path(&c, GK_ATTN_PLAIN);
	case_free(&c);
	gk_attn_set_path(GK_ATTN_MMA);
}

int main(void)
{
	struct cudaDeviceProp prop;
	if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess)
		printf("device: %s (sm_%d%d)\n", prop.name, prop.major, prop.minor);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_selection),
		cmocka_unit_test(test_accuracy),
		cmocka_unit_test(test_determinism),
		cmocka_unit_test(test_causality),
		cmocka_unit_test(test_mma_vs_wmma),
		cmocka_unit_test(test_bench),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
