/* gk_kernels.cu: the GPU recipe's own kernels (gk.h) except attention:
 * casts, embedding, layernorm, GELU, residual adds, bias column sums, the
 * fused softmax cross entropy and AdamW. Each activation kernel is a
 * template on the storage type (float or __nv_bfloat16) with fp32 math; the
 * C entry points dispatch on enum gk_prec.
 *
 * Determinism: no atomics anywhere. Every sum over rows is two-stage: stage 1
 * sums fixed chunks of GK_ROW_CHUNK rows in row order into a partial row per
 * chunk, stage 2 (colsum_partials_k) sums the partials in a fixed order that
 * depends only on the number of chunks. Launch shapes depend only on the
 * arguments (and on pointer alignment, which selects between a vectorised and
 * a scalar path that do the same arithmetic in the same order per element). */
#include "gk.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <math.h>

namespace {

typedef __nv_bfloat16 bf16;

/* Rows per stage-1 partial in the row reductions: 512 chunks at N = 16384,
 * several blocks per SM, and partials (chunks x width floats) stay small
 * next to the N x width input. */
constexpr int GK_ROW_CHUNK = 32;
constexpr int PW_THREADS = 256;
/* layernorm: one warp per row */
constexpr int LN_WARPS = 8;
constexpr int LNB_WARPS = 4;
/* crossentropy: one block per row; 512 threads cover a 50k row in ~25 float4 each */
constexpr int CE_THREADS = 512;
/* stage 2: 32 columns x 8 interleaved chunk groups per block */
constexpr int S2_COLS = 32, S2_GROUPS = 8;

constexpr float GELU_K = 0.7978845608028654f; /* sqrt(2/pi) */

__device__ __forceinline__ float tof(float x)
{
	return x;
}
__device__ __forceinline__ float tof(bf16 x)
{
	return __bfloat162float(x);
}
template <class S> __device__ __forceinline__ S fromf(float x);
template <> __device__ __forceinline__ float fromf<float>(float x)
{
	return x;
}
template <> __device__ __forceinline__ bf16 fromf<bf16>(float x)
{
	return __float2bfloat16_rn(x);
}

/* W elements moved as one (or two) 16-byte accesses; needs the address
 * aligned to min(16, sizeof(T) * W), which the host checks. */
constexpr size_t pack_align(size_t bytes)
{
	return bytes > 16 ? 16 : bytes;
}
template <class T, int W> struct alignas(pack_align(sizeof(T) * W)) Pack {
	T v[W];
};
template <class T, int W> __device__ __forceinline__ Pack<T, W> ldp(const T *p)
{
	return *reinterpret_cast<const Pack<T, W> *>(p);
}
template <class T, int W> __device__ __forceinline__ void stp(T *p, const Pack<T, W> &x)
{
	*reinterpret_cast<Pack<T, W> *>(p) = x;
}

static bool al(const void *p, size_t bytes)
{
	return ((uintptr_t)p % pack_align(bytes)) == 0;
}

static unsigned blocks_for(size_t work, int per_block)
{
	return (unsigned)((work + (size_t)per_block - 1) / (size_t)per_block);
}

__device__ __forceinline__ float warp_sum(float x)
{
	for (int o = 16; o > 0; o >>= 1)
		x += __shfl_xor_sync(0xffffffffu, x, o);
	return x;
}

/* ------------------------------------------------------- pointwise ops */

struct OpCopy {
	__device__ float operator()(float x, float) const
	{
		return x;
	}
};
struct OpAdd {
	__device__ float operator()(float a, float b) const
	{
		return a + b;
	}
};
struct OpGeluFwd {
	__device__ float operator()(float x, float) const
	{
		float u = GELU_K * (x + 0.044715f * x * x * x);
		return 0.5f * x * (1.0f + tanhf(u));
	}
};
struct OpGeluBwd {
	__device__ float operator()(float x, float d) const
	{
		float u = GELU_K * (x + 0.044715f * x * x * x);
		float th = tanhf(u), sech2 = 1.0f - th * th;
		float g = 0.5f * (1.0f + th) + 0.5f * x * sech2 * GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
		return g * d;
	}
};

/* out[i] = op(a[i], b[i]) (b may be null: 0). Each thread owns W consecutive
 * elements; out may alias a or b since every element is read by the thread
 * that writes it, before it writes it. */
template <class To, class Ti, int W, class Op>
__global__ void pw_k(To *out, const Ti *a, const Ti *b, size_t n, Op op)
{
	size_t i = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * W;
	if (i >= n)
		return;
	if (i + W <= n) {
		Pack<Ti, W> pa = ldp<Ti, W>(a + i), pb = pa;
		Pack<To, W> po;
		if (b)
			pb = ldp<Ti, W>(b + i);
#pragma unroll
		for (int k = 0; k < W; k++)
			po.v[k] = fromf<To>(op(tof(pa.v[k]), b ? tof(pb.v[k]) : 0.0f));
		stp<To, W>(out + i, po);
	} else {
		for (size_t k = i; k < n; k++)
			out[k] = fromf<To>(op(tof(a[k]), b ? tof(b[k]) : 0.0f));
	}
}

template <class To, class Ti, class Op>
static void pw_launch(To *out, const Ti *a, const Ti *b, size_t n, Op op, cudaStream_t s)
{
	constexpr int W = (int)(16 / (sizeof(To) > sizeof(Ti) ? sizeof(To) : sizeof(Ti)));

	if (n == 0)
		return;
	if (al(out, W * sizeof(To)) && al(a, W * sizeof(Ti)) && (!b || al(b, W * sizeof(Ti))))
		pw_k<To, Ti, W, Op><<<blocks_for((n + W - 1) / W, PW_THREADS), PW_THREADS, 0, s>>>(
			out, a, b, n, op);
	else
		pw_k<To, Ti, 1, Op><<<blocks_for(n, PW_THREADS), PW_THREADS, 0, s>>>(out, a, b, n, op);
}

template <class Op>
static void pw_prec(enum gk_prec p, void *out, const void *a, const void *b, size_t n, Op op,
		    cudaStream_t s)
{
	if (p == GK_BF16)
		pw_launch((bf16 *)out, (const bf16 *)a, (const bf16 *)b, n, op, s);
	else
		pw_launch((float *)out, (const float *)a, (const float *)b, n, op, s);
}

/* ------------------------------------------------------------ embedding */

template <class S, int W>
__global__ void encoder_fwd_k(S *out, const int *tok, const S *wte, const S *wpe, int N, int T,
			      int C)
{
	size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
	int cw = C / W;
	if (i >= (size_t)N * cw)
		return;
	int row = (int)(i / cw), c = (int)(i % cw) * W;
	Pack<S, W> e = ldp<S, W>(wte + (size_t)tok[row] * C + c);
	Pack<S, W> q = ldp<S, W>(wpe + (size_t)(row % T) * C + c), o;
#pragma unroll
	for (int k = 0; k < W; k++)
		o.v[k] = fromf<S>(tof(e.v[k]) + tof(q.v[k]));
	stp<S, W>(out + (size_t)row * C + c, o);
}

template <class S>
static void encoder_fwd_t(S *out, const int *tok, const S *wte, const S *wpe, int B, int T, int C,
			  cudaStream_t s)
{
	constexpr int W = 16 / sizeof(S);
	int N = B * T;

	if (N <= 0 || C <= 0)
		return;
	if (C % W == 0 && al(out, 16) && al(wte, 16) && al(wpe, 16))
		encoder_fwd_k<S, W><<<blocks_for((size_t)N * (C / W), PW_THREADS), PW_THREADS, 0, s>>>(
			out, tok, wte, wpe, N, T, C);
	else
		encoder_fwd_k<S, 1><<<blocks_for((size_t)N * C, PW_THREADS), PW_THREADS, 0, s>>>(
			out, tok, wte, wpe, N, T, C);
}

/* dwpe[t,c] = sum over b in order: one thread per (t, c). */
template <class S>
__global__ void encoder_bwd_wpe_k(float *dwpe, const S *dout, int B, int T, int C)
{
	size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
	if (i >= (size_t)T * C)
		return;
	float acc = 0.0f;
	for (int b = 0; b < B; b++)
		acc += tof(dout[(size_t)b * T * C + i]);
	dwpe[i] = acc;
}

/* One block per bucket (distinct ids, so no two blocks share a dwte row). */
template <class S>
__global__ void encoder_bwd_wte_k(float *dwte, const S *dout, const int *ids, const int *start,
				  const int *pos, int C)
{
	int k = blockIdx.x, q0 = start[k], q1 = start[k + 1];
	float *dw = dwte + (size_t)ids[k] * C;
	for (int c = threadIdx.x; c < C; c += blockDim.x) {
		float acc = 0.0f;
		for (int q = q0; q < q1; q++)
			acc += tof(dout[(size_t)pos[q] * C + c]);
		dw[c] += acc;
	}
}

/* ------------------------------------------------- row-reduction stage 2 */

/* out[j] = sum over r = 0..R-1 of part[r*width + j], in the fixed order:
 * group g (0..7) sums r = g, g+8, g+16, ... in order, then the 8 group sums
 * in group order. Columns j < split go to o1[j], the rest to o2[j - split]. */
__global__ void colsum_partials_k(float *o1, float *o2, int split, const float *part, int R,
				  int width)
{
	__shared__ float sh[S2_GROUPS][S2_COLS];
	int cx = threadIdx.x % S2_COLS, g = threadIdx.x / S2_COLS;
	int j = blockIdx.x * S2_COLS + cx;
	float acc = 0.0f;

	if (j < width)
		for (int r = g; r < R; r += S2_GROUPS)
			acc += part[(size_t)r * width + j];
	sh[g][cx] = acc;
	__syncthreads();
	if (g == 0 && j < width) {
		float t = sh[0][cx];
		for (int k = 1; k < S2_GROUPS; k++)
			t += sh[k][cx];
		if (j < split)
			o1[j] = t;
		else
			o2[j - split] = t;
	}
}

static void colsum_partials(float *o1, float *o2, int split, const float *part, int R, int width,
			    cudaStream_t s)
{
	colsum_partials_k<<<blocks_for((size_t)width, S2_COLS), S2_COLS * S2_GROUPS, 0, s>>>(
		o1, o2, split, part, R, width);
}

static int nchunks(int N)
{
	return (N + GK_ROW_CHUNK - 1) / GK_ROW_CHUNK;
}

/* ------------------------------------------------------------ layernorm */

/* One warp per row; lane l owns columns l*W + 32*W*k (+0..W-1), the same in
 * every pass. Two passes (mean, then centred variance) as the CPU engine;
 * the re-reads of the row hit L1. */
template <class S, int W>
__global__ void ln_fwd_k(S *out, float *mean, float *rstd, const S *inp, const float *w,
			 const float *b, int N, int C)
{
	int lane = threadIdx.x & 31, row = blockIdx.x * LN_WARPS + threadIdx.x / 32;
	if (row >= N)
		return;
	const S *x = inp + (size_t)row * C;
	S *o = out + (size_t)row * C;
	float sum = 0.0f, var = 0.0f;

	for (int c = lane * W; c < C; c += 32 * W) {
		Pack<S, W> xv = ldp<S, W>(x + c);
#pragma unroll
		for (int k = 0; k < W; k++)
			sum += tof(xv.v[k]);
	}
	float m = warp_sum(sum) / (float)C;
	for (int c = lane * W; c < C; c += 32 * W) {
		Pack<S, W> xv = ldp<S, W>(x + c);
#pragma unroll
		for (int k = 0; k < W; k++) {
			float d = tof(xv.v[k]) - m;
			var += d * d;
		}
	}
	float rs = 1.0f / sqrtf(warp_sum(var) / (float)C + GK_LN_EPS);
	for (int c = lane * W; c < C; c += 32 * W) {
		Pack<S, W> xv = ldp<S, W>(x + c), ov;
		Pack<float, W> wv = ldp<float, W>(w + c), bv = ldp<float, W>(b + c);
#pragma unroll
		for (int k = 0; k < W; k++)
			ov.v[k] = fromf<S>((tof(xv.v[k]) - m) * rs * wv.v[k] + bv.v[k]);
		stp<S, W>(o + c, ov);
	}
	if (lane == 0) {
		mean[row] = m;
		rstd[row] = rs;
	}
}

/* Stage 1 of layernorm backward: block = one chunk of GK_ROW_CHUNK rows,
 * warp w takes rows r0+w, r0+w+LNB_WARPS, ... in order, accumulating its own
 * dw/db partial in shared memory (lanes own disjoint columns, so no races);
 * then the warps' partials are summed in warp order into part[chunk][2C]
 * (dw in columns 0..C-1, db in C..2C-1). dinp accumulates.
 * Column c's partial sits at (c % W) * (C / W) + c / W: a lane owns W
 * consecutive columns, so storing them in place would put the 32 lanes on 4
 * banks (8-way conflicts at W = 8); transposed, each k hits 32 banks. */
template <class S, int W>
__global__ void ln_bwd_k(S *dinp, float *part, const S *dout, const S *inp, const float *w,
			 const float *mean, const float *rstd, int N, int C)
{
	extern __shared__ float sm[];
	int lane = threadIdx.x & 31, warp = threadIdx.x / 32;
	float *pw = sm + (size_t)warp * 2 * C, *pb = pw + C;
	int r0 = blockIdx.x * GK_ROW_CHUNK, r1 = min(N, r0 + GK_ROW_CHUNK), cw = C / W;

	for (int c = threadIdx.x; c < 2 * LNB_WARPS * C; c += blockDim.x)
		sm[c] = 0.0f;
	__syncthreads();
	for (int r = r0 + warp; r < r1; r += LNB_WARPS) {
		const S *x = inp + (size_t)r * C, *d = dout + (size_t)r * C;
		S *di = dinp + (size_t)r * C;
		float m = mean[r], s = rstd[r], dmean = 0.0f, dnmean = 0.0f;
		for (int c = lane * W; c < C; c += 32 * W) {
			Pack<S, W> xv = ldp<S, W>(x + c), dv = ldp<S, W>(d + c);
			Pack<float, W> wv = ldp<float, W>(w + c);
#pragma unroll
			for (int k = 0; k < W; k++) {
				float n = (tof(xv.v[k]) - m) * s, dn = wv.v[k] * tof(dv.v[k]);
				dmean += dn;
				dnmean += dn * n;
			}
		}
		dmean = warp_sum(dmean) / (float)C;
		dnmean = warp_sum(dnmean) / (float)C;
		for (int c = lane * W; c < C; c += 32 * W) {
			Pack<S, W> xv = ldp<S, W>(x + c), dv = ldp<S, W>(d + c), iv = ldp<S, W>(di + c);
			Pack<float, W> wv = ldp<float, W>(w + c);
#pragma unroll
			for (int k = 0; k < W; k++) {
				float dk = tof(dv.v[k]), n = (tof(xv.v[k]) - m) * s, dn = wv.v[k] * dk;
				pb[k * cw + c / W] += dk;
				pw[k * cw + c / W] += n * dk;
				iv.v[k] = fromf<S>(tof(iv.v[k]) + (dn - dmean - n * dnmean) * s);
			}
			stp<S, W>(di + c, iv);
		}
	}
	__syncthreads();
	float *out = part + (size_t)blockIdx.x * 2 * C;
	for (int c = threadIdx.x; c < 2 * C; c += blockDim.x) {
		int cc = c < C ? c : c - C, at = (c < C ? 0 : C) + (cc % W) * cw + cc / W;
		float t = sm[at];
		for (int k = 1; k < LNB_WARPS; k++)
			t += sm[(size_t)k * 2 * C + at];
		out[c] = t;
	}
}

template <class S>
static void ln_fwd_t(S *out, float *mean, float *rstd, const S *inp, const float *w,
		     const float *b, int N, int C, cudaStream_t s)
{
	constexpr int W = 16 / sizeof(S);
	unsigned g = blocks_for((size_t)N, LN_WARPS);

	if (N <= 0 || C <= 0)
		return;
	if (C % W == 0 && al(out, 16) && al(inp, 16) && al(w, 16) && al(b, 16))
		ln_fwd_k<S, W><<<g, LN_WARPS * 32, 0, s>>>(out, mean, rstd, inp, w, b, N, C);
	else
		ln_fwd_k<S, 1><<<g, LN_WARPS * 32, 0, s>>>(out, mean, rstd, inp, w, b, N, C);
}

template <class S, int W> static void ln_bwd_launch(size_t smem, int nch, cudaStream_t s,
						    S *dinp, float *part, const S *dout,
						    const S *inp, const float *w,
						    const float *mean, const float *rstd, int N,
						    int C)
{
	/* Above the default 48 KiB (C > 1536) opt in; the H100 allows 227 KiB,
	 * i.e. C up to ~7200. A failure here shows up as a launch error. */
	if (smem > 48 * 1024)
		cudaFuncSetAttribute(ln_bwd_k<S, W>, cudaFuncAttributeMaxDynamicSharedMemorySize,
				     (int)smem);
	ln_bwd_k<S, W><<<nch, LNB_WARPS * 32, smem, s>>>(dinp, part, dout, inp, w, mean, rstd, N,
							 C);
}

template <class S>
static void ln_bwd_t(S *dinp, float *dw, float *db, const S *dout, const S *inp, const float *w,
		     const float *mean, const float *rstd, int N, int C, float *scratch,
		     cudaStream_t s)
{
	constexpr int W = 16 / sizeof(S);
	size_t smem = (size_t)LNB_WARPS * 2 * C * sizeof(float);
	int nch = nchunks(N);

	if (N <= 0 || C <= 0)
		return;
	if (C % W == 0 && al(dinp, 16) && al(dout, 16) && al(inp, 16) && al(w, 16))
		ln_bwd_launch<S, W>(smem, nch, s, dinp, scratch, dout, inp, w, mean, rstd, N, C);
	else
		ln_bwd_launch<S, 1>(smem, nch, s, dinp, scratch, dout, inp, w, mean, rstd, N, C);
	colsum_partials(dw, db, C, scratch, nch, 2 * C, s);
}

/* -------------------------------------------------------------- colsum */

/* Stage 1: block (chunk, column block); thread owns one column and sums the
 * chunk's rows in order. */
template <class S>
__global__ void colsum_k(float *part, const S *dy, int N, int OC)
{
	int j = blockIdx.y * blockDim.x + threadIdx.x;
	int r0 = blockIdx.x * GK_ROW_CHUNK, r1 = min(N, r0 + GK_ROW_CHUNK);
	if (j >= OC)
		return;
	float acc = 0.0f;
	for (int r = r0; r < r1; r++)
		acc += tof(dy[(size_t)r * OC + j]);
	part[(size_t)blockIdx.x * OC + j] = acc;
}

template <class S>
static void colsum_t(float *out, const S *dy, int N, int OC, float *scratch, cudaStream_t s)
{
	if (N <= 0 || OC <= 0)
		return;
	dim3 grid((unsigned)nchunks(N), blocks_for((size_t)OC, PW_THREADS));
	colsum_k<S><<<grid, PW_THREADS, 0, s>>>(scratch, dy, N, OC);
	colsum_partials(out, out, OC, scratch, nchunks(N), OC, s);
}

/* ------------------------------------------------------------ the loss */

/* Online (max, sum of exp(x - max)) pair; combining is symmetric, so the
 * fixed shuffle tree gives the same bits every run. */
struct MS {
	float m, s;
};
__device__ __forceinline__ MS ms_combine(MS a, MS b)
{
	if (b.m == -INFINITY)
		return a;
	if (a.m == -INFINITY)
		return b;
	float M = fmaxf(a.m, b.m);
	return MS{ M, a.s * expf(a.m - M) + b.s * expf(b.m - M) };
}
__device__ __forceinline__ void ms_add4(MS &a, float x0, float x1, float x2, float x3)
{
	float mx = fmaxf(fmaxf(x0, x1), fmaxf(x2, x3));
	if (mx > a.m) {
		a.s = a.m == -INFINITY ? 0.0f : a.s * expf(a.m - mx);
		a.m = mx;
	}
	a.s += expf(x0 - a.m) + expf(x1 - a.m) + expf(x2 - a.m) + expf(x3 - a.m);
}
__device__ __forceinline__ void ms_add1(MS &a, float x)
{
	if (x > a.m) {
		a.s = a.m == -INFINITY ? 0.0f : a.s * expf(a.m - x);
		a.m = x;
	}
	a.s += expf(x - a.m);
}

/* One block per row: pass 1 reads the row once for (max, sum) (float4 when
 * aligned), pass 2 reads it again and writes dlogits, W at a time, zeros in
 * the padding columns (never reading them). */
template <class S, bool VEC>
__global__ void __launch_bounds__(CE_THREADS)
	ce_k(S *dl, float *losses, const float *logits, const int *targets, int V, int ldv,
	     float dscale)
{
	constexpr int W = VEC ? 16 / sizeof(S) : 1;
	__shared__ MS sh[CE_THREADS / 32];
	__shared__ MS tot;
	int row = blockIdx.x, tid = threadIdx.x, lane = tid & 31, warp = tid / 32;
	const float *l = logits + (size_t)row * ldv;
	S *d = dl + (size_t)row * ldv;
	MS a = { -INFINITY, 0.0f };

	if (VEC) {
		int n4 = V / 4;
		for (int i = tid; i < n4; i += CE_THREADS) {
			float4 q = reinterpret_cast<const float4 *>(l)[i];
			ms_add4(a, q.x, q.y, q.z, q.w);
		}
		for (int j = n4 * 4 + tid; j < V; j += CE_THREADS)
			ms_add1(a, l[j]);
	} else {
		for (int j = tid; j < V; j += CE_THREADS)
			ms_add1(a, l[j]);
	}
	for (int o = 16; o > 0; o >>= 1) {
		MS b = { __shfl_down_sync(0xffffffffu, a.m, o), __shfl_down_sync(0xffffffffu, a.s, o) };
		a = ms_combine(a, b);
	}
	if (lane == 0)
		sh[warp] = a;
	__syncthreads();
	if (tid == 0) {
		MS t = sh[0];
		for (int k = 1; k < CE_THREADS / 32; k++)
			t = ms_combine(t, sh[k]);
		tot = t;
		int tg = targets[row];
		losses[row] = logf(t.s) - (l[tg] - t.m);
	}
	__syncthreads();
	float mx = tot.m, inv = 1.0f / tot.s;
	int tg = targets[row];

	for (int j0 = tid * W; j0 < ldv; j0 += CE_THREADS * W) {
		Pack<S, W> o;
		if (j0 + W <= V) {
			Pack<float, W> x = ldp<float, W>(l + j0);
#pragma unroll
			for (int k = 0; k < W; k++) {
				float pr = expf(x.v[k] - mx) * inv * dscale;
				o.v[k] = fromf<S>(j0 + k == tg ? pr - dscale : pr);
			}
		} else {
#pragma unroll
			for (int k = 0; k < W; k++) {
				int j = j0 + k;
				float pr = 0.0f;
				if (j < V) {
					pr = expf(l[j] - mx) * inv * dscale;
					if (j == tg)
						pr -= dscale;
				}
				o.v[k] = fromf<S>(pr);
			}
		}
		stp<S, W>(d + j0, o);
	}
}

template <class S>
static void ce_t(S *dl, float *losses, const float *logits, const int *targets, int N, int V,
		 int ldv, float dscale, cudaStream_t s)
{
	constexpr int W = 16 / sizeof(S);

	if (N <= 0 || V <= 0)
		return;
	if (ldv % W == 0 && al(dl, 16) && al(logits, 16))
		ce_k<S, true><<<N, CE_THREADS, 0, s>>>(dl, losses, logits, targets, V, ldv, dscale);
	else
		ce_k<S, false><<<N, CE_THREADS, 0, s>>>(dl, losses, logits, targets, V, ldv, dscale);
}

/* ----------------------------------------------------------- optimizer */

struct AdamS {
	float decay, b1c, b2, b2c, step, bc2s, eps;
};

/* recipe/adamw.c's adamw_one, every operation explicitly rounded so nvcc
 * cannot contract a multiply and an add into an FMA. */
__device__ __forceinline__ void adamw_el(float &p, float g, float &m, float &v, const AdamS &a)
{
	p = __fmul_rn(p, a.decay);
	m = __fadd_rn(m, __fmul_rn(a.b1c, __fsub_rn(g, m)));
	v = __fadd_rn(__fmul_rn(v, a.b2), __fmul_rn(__fmul_rn(a.b2c, g), g));
	p = __fsub_rn(p, __fdiv_rn(__fmul_rn(a.step, m),
				   __fadd_rn(__fdiv_rn(__fsqrt_rn(v), a.bc2s), a.eps)));
}

template <int W>
__global__ void adamw_k(float *p, const float *g, float *m, float *v, size_t n, float lr, float b1,
			float b2, float eps, float wd, float bc1, float bc2_sqrt)
{
	/* the scalars as adamw_tensor forms them, rounded the same way */
	AdamS a = { __fsub_rn(1.0f, __fmul_rn(lr, wd)), __fsub_rn(1.0f, b1), b2,
		    __fsub_rn(1.0f, b2), __fdiv_rn(lr, bc1), bc2_sqrt, eps };
	size_t i = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * W;
	if (i >= n)
		return;
	if (i + W <= n) {
		Pack<float, W> pp = ldp<float, W>(p + i), gg = ldp<float, W>(g + i);
		Pack<float, W> mm = ldp<float, W>(m + i), vv = ldp<float, W>(v + i);
#pragma unroll
		for (int k = 0; k < W; k++)
			adamw_el(pp.v[k], gg.v[k], mm.v[k], vv.v[k], a);
		stp<float, W>(p + i, pp);
		stp<float, W>(m + i, mm);
		stp<float, W>(v + i, vv);
	} else {
		for (size_t k = i; k < n; k++)
			adamw_el(p[k], g[k], m[k], v[k], a);
	}
}

} /* namespace */

/* =================================================== C entry points */

extern "C" {

size_t gk_elt_bytes(enum gk_prec p)
{
	return p == GK_BF16 ? sizeof(bf16) : sizeof(float);
}

void gk_cast_bf16(void *dst, const float *src, size_t n, cudaStream_t s)
{
	pw_launch((bf16 *)dst, src, (const float *)nullptr, n, OpCopy(), s);
}

void gk_to_f32(enum gk_prec p, float *dst, const void *src, size_t n, cudaStream_t s)
{
	if (p == GK_BF16)
		pw_launch(dst, (const bf16 *)src, (const bf16 *)nullptr, n, OpCopy(), s);
	else
		pw_launch(dst, (const float *)src, (const float *)nullptr, n, OpCopy(), s);
}

void gk_encoder_fwd(enum gk_prec p, void *out, const int *tok, const void *wte, const void *wpe,
		    int B, int T, int C, cudaStream_t s)
{
	if (p == GK_BF16)
		encoder_fwd_t((bf16 *)out, tok, (const bf16 *)wte, (const bf16 *)wpe, B, T, C, s);
	else
		encoder_fwd_t((float *)out, tok, (const float *)wte, (const float *)wpe, B, T, C, s);
}

void gk_encoder_bwd(enum gk_prec p, float *dwte, float *dwpe, const void *dout, const int *ids,
		    const int *start, const int *pos, int nbuckets, int B, int T, int C,
		    cudaStream_t s)
{
	if (B <= 0 || T <= 0 || C <= 0)
		return;
	unsigned g = blocks_for((size_t)T * C, PW_THREADS);
	int tb = C < PW_THREADS ? (C + 31) / 32 * 32 : PW_THREADS;
	if (p == GK_BF16) {
		encoder_bwd_wpe_k<<<g, PW_THREADS, 0, s>>>(dwpe, (const bf16 *)dout, B, T, C);
		if (nbuckets > 0)
			encoder_bwd_wte_k<<<nbuckets, tb, 0, s>>>(dwte, (const bf16 *)dout, ids, start,
								  pos, C);
	} else {
		encoder_bwd_wpe_k<<<g, PW_THREADS, 0, s>>>(dwpe, (const float *)dout, B, T, C);
		if (nbuckets > 0)
			encoder_bwd_wte_k<<<nbuckets, tb, 0, s>>>(dwte, (const float *)dout, ids, start,
								  pos, C);
	}
}

void gk_layernorm_fwd(enum gk_prec p, void *out, float *mean, float *rstd, const void *inp,
		      const float *w, const float *b, int N, int C, cudaStream_t s)
{
	if (p == GK_BF16)
		ln_fwd_t((bf16 *)out, mean, rstd, (const bf16 *)inp, w, b, N, C, s);
	else
		ln_fwd_t((float *)out, mean, rstd, (const float *)inp, w, b, N, C, s);
}

void gk_layernorm_bwd(enum gk_prec p, void *dinp, float *dw, float *db, const void *dout,
		      const void *inp, const float *w, const float *mean, const float *rstd,
		      int N, int C, float *scratch, cudaStream_t s)
{
	if (p == GK_BF16)
		ln_bwd_t((bf16 *)dinp, dw, db, (const bf16 *)dout, (const bf16 *)inp, w, mean, rstd,
			 N, C, scratch, s);
	else
		ln_bwd_t((float *)dinp, dw, db, (const float *)dout, (const float *)inp, w, mean,
			 rstd, N, C, scratch, s);
}

size_t gk_layernorm_scratch_floats(int N, int C)
{
	return N <= 0 || C <= 0 ? 0 : (size_t)nchunks(N) * 2 * (size_t)C;
}

void gk_gelu_fwd(enum gk_prec p, void *out, const void *inp, size_t n, cudaStream_t s)
{
	pw_prec(p, out, inp, nullptr, n, OpGeluFwd(), s);
}

void gk_gelu_bwd(enum gk_prec p, void *dinp, const void *inp, const void *dout, size_t n,
		 cudaStream_t s)
{
	pw_prec(p, dinp, inp, dout, n, OpGeluBwd(), s);
}

void gk_residual_fwd(enum gk_prec p, void *out, const void *a, const void *b, size_t n,
		     cudaStream_t s)
{
	pw_prec(p, out, a, b, n, OpAdd(), s);
}

void gk_accumulate(enum gk_prec p, void *acc, const void *x, size_t n, cudaStream_t s)
{
	pw_prec(p, acc, acc, x, n, OpAdd(), s);
}

void gk_colsum(enum gk_prec p, float *out, const void *dy, int N, int OC, float *scratch,
	       cudaStream_t s)
{
	if (p == GK_BF16)
		colsum_t(out, (const bf16 *)dy, N, OC, scratch, s);
	else
		colsum_t(out, (const float *)dy, N, OC, scratch, s);
}

size_t gk_colsum_scratch_floats(int N, int OC)
{
	return N <= 0 || OC <= 0 ? 0 : (size_t)nchunks(N) * (size_t)OC;
}

void gk_crossentropy(enum gk_prec p, void *dlogits, float *losses, const float *logits,
		     const int *targets, int N, int V, int ldv, float dscale, cudaStream_t s)
{
	if (p == GK_BF16)
		ce_t((bf16 *)dlogits, losses, logits, targets, N, V, ldv, dscale, s);
	else
		ce_t((float *)dlogits, losses, logits, targets, N, V, ldv, dscale, s);
}

void gk_adamw(float *p, const float *g, float *m, float *v, size_t n, float lr, float b1,
	      float b2, float eps, float wd, float bc1, float bc2_sqrt, cudaStream_t s)
{
	if (n == 0)
		return;
	if (al(p, 16) && al(g, 16) && al(m, 16) && al(v, 16))
		adamw_k<4><<<blocks_for((n + 3) / 4, PW_THREADS), PW_THREADS, 0, s>>>(
			p, g, m, v, n, lr, b1, b2, eps, wd, bc1, bc2_sqrt);
	else
		adamw_k<1><<<blocks_for(n, PW_THREADS), PW_THREADS, 0, s>>>(p, g, m, v, n, lr, b1, b2,
									  eps, wd, bc1, bc2_sqrt);
}

} /* extern "C" */
