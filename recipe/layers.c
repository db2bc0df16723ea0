/* layers.c: forward/backward of every GPT layer (see layers.h for the shape
 * letters and the determinism and gradient conventions). Written to be read:
 * each pair sits side by side; the only fast path is the gemm in kernels.c. */
#include "layers.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "kmath.h"

static int cdiv(int a, int b)
{
	return (a + b - 1) / b;
}

size_t ly_partial_floats(int N, int width)
{
	return (size_t)cdiv(N, LY_ROW_CHUNK) * (size_t)width;
}

size_t ly_att_pack_floats(int T, int hs)
{
	/* The attention's gemms take T and hs in every role: scores (rows x
	 * T, inner hs), P V and dS K (rows x hs, inner T), dK and dV (T x hs,
	 * inner rows). Sized for T alone as the rows and columns, a head
	 * wider than the context (hs 24 at T 16) overran the packing space. */
	int d = T > hs ? T : hs;
	size_t a = kn_pack_a_floats(d, d), b = kn_pack_b_floats(d, d);

	return a > b ? a : b;
}

/* Sums rows of x [N,W] into out [W]: fixed chunks of LY_ROW_CHUNK rows, each
 * summed in row order into partial[chunk], then the chunks in chunk order. */
static void rowsum(float *out, const float *x, int N, int W, float *partial)
{
	int nch = cdiv(N, LY_ROW_CHUNK);

#pragma omp parallel for schedule(static)
	for (int ch = 0; ch < nch; ch++) {
		float *p = partial + (size_t)ch * W;
		int r1 = (ch + 1) * LY_ROW_CHUNK < N ? (ch + 1) * LY_ROW_CHUNK : N;
		memset(p, 0, (size_t)W * sizeof *p);
		for (int r = ch * LY_ROW_CHUNK; r < r1; r++)
			for (int j = 0; j < W; j++)
				p[j] += x[(size_t)r * W + j];
	}
#pragma omp parallel for schedule(static)
	for (int j = 0; j < W; j++) {
		float s = 0.0f;
		for (int ch = 0; ch < nch; ch++)
			s += partial[(size_t)ch * W + j];
		out[j] = s;
	}
}

/* ---------------------------------------------------------------- encoder */

/* out[B,T,C] = wte[inp[b,t]] + wpe[t]; inp [B,T], wte [V,C], wpe [T,C]. */
void encoder_forward(float *out, const int *inp, const float *wte, const float *wpe, int B, int T,
		     int C)
{
#pragma omp parallel for schedule(static)
	for (int bt = 0; bt < B * T; bt++) {
		const float *e = wte + (size_t)inp[bt] * C, *p = wpe + (size_t)(bt % T) * C;
		float *o = out + (size_t)bt * C;
		for (int c = 0; c < C; c++)
			o[c] = e[c] + p[c];
	}
}

/* dwte[V,C] += scatter of dout[B,T,C] by token; dwpe[T,C] = sum over b.
 * Threads own channel ranges and walk every row in order, so a token that
 * repeats always adds its rows in the same order. */
void encoder_backward(float *dwte, float *dwpe, const float *dout, const int *inp, int B, int T,
		      int C, int V)
{
	enum { CH = 16 }; /* channels per work item */
	int nch = cdiv(C, CH);

	(void)V;
#pragma omp parallel for schedule(static)
	for (int ch = 0; ch < nch; ch++) {
		int c0 = ch * CH, c1 = c0 + CH < C ? c0 + CH : C;
		for (int t = 0; t < T; t++) {
			float *dp = dwpe + (size_t)t * C;
			for (int c = c0; c < c1; c++) {
				float s = 0.0f;
				for (int b = 0; b < B; b++)
					s += dout[((size_t)b * T + t) * C + c];
				dp[c] = s;
			}
		}
		for (int bt = 0; bt < B * T; bt++) {
			float *dw = dwte + (size_t)inp[bt] * C;
			const float *d = dout + (size_t)bt * C;
			for (int c = c0; c < c1; c++)
				dw[c] += d[c];
		}
	}
}

/* -------------------------------------------------------------- layernorm */

/* out[N,C] = (inp - mean) * rstd * w + b, per row; mean, rstd [N]. */
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
		       const float *b, int N, int C)
{
#pragma omp parallel for schedule(static)
	for (int r = 0; r < N; r++) {
		const float *x = inp + (size_t)r * C;
		float *o = out + (size_t)r * C;
		float m = 0.0f, v = 0.0f, s;
		for (int c = 0; c < C; c++)
			m += x[c];
		m /= (float)C;
		for (int c = 0; c < C; c++)
			v += (x[c] - m) * (x[c] - m);
		v /= (float)C;
		s = 1.0f / sqrtf(v + LY_LN_EPS);
		for (int c = 0; c < C; c++)
			o[c] = (x[c] - m) * s * w[c] + b[c];
		mean[r] = m;
		rstd[r] = s;
	}
}

/* dinp[N,C] += d(LN)/d(inp); dw, db [C] = sums over rows (via partial,
 * ly_partial_floats(N, 2*C) floats). */
void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
			const float *w, const float *mean, const float *rstd, int N, int C,
			float *partial)
{
	int nch = cdiv(N, LY_ROW_CHUNK);

#pragma omp parallel for schedule(static)
	for (int ch = 0; ch < nch; ch++) {
		float *pw = partial + (size_t)ch * 2 * C, *pb = pw + C;
		int r1 = (ch + 1) * LY_ROW_CHUNK < N ? (ch + 1) * LY_ROW_CHUNK : N;
		memset(pw, 0, 2 * (size_t)C * sizeof *pw);
		for (int r = ch * LY_ROW_CHUNK; r < r1; r++) {
			const float *x = inp + (size_t)r * C, *d = dout + (size_t)r * C;
			float *di = dinp + (size_t)r * C;
			float m = mean[r], s = rstd[r], dmean = 0.0f, dnmean = 0.0f;
			for (int c = 0; c < C; c++) {
				float n = (x[c] - m) * s, dn = w[c] * d[c];
				dmean += dn;
				dnmean += dn * n;
			}
			dmean /= (float)C;
			dnmean /= (float)C;
			for (int c = 0; c < C; c++) {
				float n = (x[c] - m) * s, dn = w[c] * d[c];
				pb[c] += d[c];
				pw[c] += n * d[c];
				di[c] += (dn - dmean - n * dnmean) * s;
			}
		}
	}
#pragma omp parallel for schedule(static)
	for (int c = 0; c < C; c++) {
		float sw = 0.0f, sb = 0.0f;
		for (int ch = 0; ch < nch; ch++) {
			sw += partial[(size_t)ch * 2 * C + c];
			sb += partial[(size_t)ch * 2 * C + C + c];
		}
		dw[c] = sw;
		db[c] = sb;
	}
}

/* ----------------------------------------------------------------- matmul */

/* out[N,OC] = inp[N,C] * w[OC,C]^T + bias[OC] (bias may be NULL). */
void matmul_forward(float *out, const float *inp, const float *w, const float *bias, int N, int C,
		    int OC, struct kn_scratch *ks)
{
	struct kn_view a = { inp, C, 1 }, wt = { w, 1, C };

	kn_gemm(N, OC, C, a, wt, out, OC, 0, ks);
	if (!bias)
		return;
#pragma omp parallel for schedule(static)
	for (int r = 0; r < N; r++)
		for (int o = 0; o < OC; o++)
			out[(size_t)r * OC + o] += bias[o];
}

/* dinp[N,C] = dout[N,OC] * w[OC,C]; dw[OC,C] = dout^T * inp;
 * dbias[OC] = column sums of dout (partial: ly_partial_floats(N, OC)). */
void matmul_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
		     const float *w, int N, int C, int OC, struct kn_scratch *ks, float *partial)
{
	struct kn_view d = { dout, OC, 1 }, dt = { dout, 1, OC };
	struct kn_view wv = { w, C, 1 }, in = { inp, C, 1 };

	if (dinp)
		kn_gemm(N, C, OC, d, wv, dinp, C, 0, ks);
	kn_gemm(OC, C, N, dt, in, dw, C, 0, ks);
	if (dbias)
		rowsum(dbias, dout, N, OC, partial);
}

/* -------------------------------------------------------------- attention */

/* qkv [B,T,3C] holds q | k | v per row; head h uses channels h*hs..; att
 * [B,NH,T,T] keeps the softmax probabilities (zero above the diagonal);
 * out [B,T,C]. Scores are (q.k) * 1/sqrt(hs). One (b, h) pair per work
 * item, computed with the serial gemm on the thread's own scratch. */
void attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH,
		       struct ly_att_scratch *as)
{
	int hs = C / NH, C3 = 3 * C;
	float scale = 1.0f / sqrtf((float)hs);

#pragma omp parallel for schedule(dynamic, 1)
	for (int bh = 0; bh < B * NH; bh++) {
		int b = bh / NH, h = bh % NH;
		struct ly_att_scratch *s = &as[omp_get_thread_num()];
		const float *q = qkv + (size_t)b * T * C3 + (size_t)h * hs;
		const float *k = q + C, *v = q + 2 * C;
		float *P = att + (size_t)bh * T * T;
		for (int i0 = 0; i0 < T; i0 += LY_ATT_QBLOCK) {
			int i1 = i0 + LY_ATT_QBLOCK < T ? i0 + LY_ATT_QBLOCK : T, rows = i1 - i0;
			struct kn_view qv = { q + (size_t)i0 * C3, C3, 1 }, kt = { k, 1, C3 };
			struct kn_view pv = { P + (size_t)i0 * T, T, 1 }, vv = { v, C3, 1 };
			/* scores for rows i0..i1-1 against keys 0..i1-1 */
			kn_gemm_serial(rows, i1, hs, qv, kt, P + (size_t)i0 * T, T, 0, &s->ks);
			for (int t = i0; t < i1; t++) {
				float *p = P + (size_t)t * T, mx = -INFINITY, sum = 0.0f, inv;
				for (int j = 0; j <= t; j++) {
					p[j] *= scale;
					mx = p[j] > mx ? p[j] : mx;
				}
				kexpf_shift(p, (size_t)t + 1, mx);
				for (int j = 0; j <= t; j++)
					sum += p[j];
				inv = 1.0f / sum;
				for (int j = 0; j <= t; j++)
					p[j] *= inv;
				for (int j = t + 1; j < T; j++)
					p[j] = 0.0f;
			}
			kn_gemm_serial(rows, hs, i1, pv, vv, out + ((size_t)b * T + i0) * C + h * hs,
				       C, 0, &s->ks);
		}
	}
}

/* dqkv [B,T,3C] (overwritten) from dout [B,T,C]. Per query block:
 * dP = dY V^T, dS = P * (dP - rowsum(P * dP)) * scale, dQ = dS K,
 * dK += dS^T Q, dV += P^T dY; blocks are added in ascending order. */
void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att, int B,
			int T, int C, int NH, struct ly_att_scratch *as)
{
	int hs = C / NH, C3 = 3 * C;
	float scale = 1.0f / sqrtf((float)hs);

#pragma omp parallel for schedule(dynamic, 1)
	for (int bh = 0; bh < B * NH; bh++) {
		int b = bh / NH, h = bh % NH;
		struct ly_att_scratch *s = &as[omp_get_thread_num()];
		size_t base = (size_t)b * T * C3 + (size_t)h * hs;
		const float *q = qkv + base, *k = q + C, *v = q + 2 * C;
		float *dq = dqkv + base, *dk = dq + C, *dv = dq + 2 * C;
		const float *P = att + (size_t)bh * T * T;
		const float *dy = dout + (size_t)b * T * C + (size_t)h * hs;
		for (int t = 0; t < T; t++) {
			memset(dk + (size_t)t * C3, 0, (size_t)hs * sizeof *dk);
			memset(dv + (size_t)t * C3, 0, (size_t)hs * sizeof *dv);
		}
		for (int i0 = 0; i0 < T; i0 += LY_ATT_QBLOCK) {
			int i1 = i0 + LY_ATT_QBLOCK < T ? i0 + LY_ATT_QBLOCK : T, rows = i1 - i0;
			struct kn_view dyv = { dy + (size_t)i0 * C, C, 1 }, vt = { v, 1, C3 };
			struct kn_view ds = { s->dp, T, 1 }, kv = { k, C3, 1 };
			struct kn_view dst = { s->dp, 1, T }, qv = { q + (size_t)i0 * C3, C3, 1 };
			struct kn_view pt = { P + (size_t)i0 * T, 1, T };
			kn_gemm_serial(rows, i1, hs, dyv, vt, s->dp, T, 0, &s->ks);
			for (int r = 0; r < rows; r++) {
				const float *p = P + (size_t)(i0 + r) * T;
				float *d = s->dp + (size_t)r * T, dot = 0.0f;
				for (int j = 0; j <= i0 + r; j++)
					dot += p[j] * d[j];
				for (int j = 0; j <= i0 + r; j++)
					d[j] = p[j] * (d[j] - dot) * scale;
				for (int j = i0 + r + 1; j < i1; j++)
					d[j] = 0.0f;
			}
			kn_gemm_serial(rows, hs, i1, ds, kv, dq + (size_t)i0 * C3, C3, 0, &s->ks);
			kn_gemm_serial(i1, hs, rows, dst, qv, dk, C3, 1, &s->ks);
			kn_gemm_serial(i1, hs, rows, pt, dyv, dv, C3, 1, &s->ks);
		}
	}
}

/* ------------------------------------------------------------------- gelu */

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_CHUNK 256             /* elements per work item: tanh runs on a stack array */

/* The tanh argument sqrt(2/pi) (x + 0.044715 x^3) of n elements into u. */
static void gelu_arg(float *u, const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		u[i] = GELU_K * (x[i] + 0.044715f * x[i] * x[i] * x[i]);
}

/* out[n] = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): GPT-2's GELU.
 * tanh is kmath's (glibc's tanhf was 15% of a step, and its bits are the
 * C library's), applied a chunk at a time so it runs 8 lanes wide. */
void gelu_forward(float *out, const float *inp, size_t n)
{
	size_t nch = (n + GELU_CHUNK - 1) / GELU_CHUNK;

#pragma omp parallel for schedule(static)
	for (size_t ch = 0; ch < nch; ch++) {
		size_t i0 = ch * GELU_CHUNK, m = n - i0 < GELU_CHUNK ? n - i0 : GELU_CHUNK;
		float th[GELU_CHUNK];
		gelu_arg(th, inp + i0, m);
		ktanhf_n(th, th, m);
		for (size_t i = 0; i < m; i++)
			out[i0 + i] = 0.5f * inp[i0 + i] * (1.0f + th[i]);
	}
}

void gelu_backward(float *dinp, const float *inp, const float *dout, size_t n)
{
	size_t nch = (n + GELU_CHUNK - 1) / GELU_CHUNK;

#pragma omp parallel for schedule(static)
	for (size_t ch = 0; ch < nch; ch++) {
		size_t i0 = ch * GELU_CHUNK, m = n - i0 < GELU_CHUNK ? n - i0 : GELU_CHUNK;
		float th[GELU_CHUNK];
		gelu_arg(th, inp + i0, m);
		ktanhf_n(th, th, m);
		for (size_t i = 0; i < m; i++) {
			float x = inp[i0 + i], sech2 = 1.0f - th[i] * th[i];
			float g = 0.5f * (1.0f + th[i]) +
				  0.5f * x * sech2 * GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
			dinp[i0 + i] = g * dout[i0 + i];
		}
	}
}

/* --------------------------------------------------------------- residual */

/* out = a + b. Its backward is the identity into both inputs, which the
 * model does by sharing one gradient buffer (gpt.c). */
void residual_forward(float *out, const float *a, const float *b, size_t n)
{
#pragma omp parallel for schedule(static)
	for (size_t i = 0; i < n; i++)
		out[i] = a[i] + b[i];
}

/* ---------------------------------------------------- softmax + xentropy */

float crossentropy_forward_backward(float *logits, float *losses, const int *targets, int N, int V)
{
	float inv_n = 1.0f / (float)N, total = 0.0f;

#pragma omp parallel for schedule(static)
	for (int r = 0; r < N; r++) {
		float *l = logits + (size_t)r * V, mx = -INFINITY, sum = 0.0f, inv, lt;
		for (int v = 0; v < V; v++)
			mx = l[v] > mx ? l[v] : mx;
		lt = l[targets[r]];
		kexpf_shift(l, (size_t)V, mx);
		for (int v = 0; v < V; v++)
			sum += l[v];
		inv = 1.0f / sum;
		/* log-sum-exp form: finite even when the target's probability underflows */
		losses[r] = klogf(sum) - (lt - mx);
		for (int v = 0; v < V; v++)
			l[v] = l[v] * inv * inv_n;
		l[targets[r]] -= inv_n;
	}
	for (int r = 0; r < N; r++)
		total += losses[r];
	return total * inv_n;
}
