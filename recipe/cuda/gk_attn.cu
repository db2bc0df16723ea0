/* gk_attn.cu: causal multi-head attention for the GPU recipe (gk.h's
 * attention part): forward with an online softmax, backward as three
 * deterministic kernels (Dvec, dK/dV per key tile, dQ per query tile).
 *
 * Scores never reach device memory: forward keeps per-row max and sum and
 * leaves lse = max + log(sum) for backward, which recomputes the
 * probabilities tile by tile. Every sum runs in a fixed order (ascending
 * tiles, fixed per-thread loops, fixed shuffle trees) and no atomics are
 * used, so results are bitwise reproducible for a given launch shape.
 *
 * Two code paths: a plain one (fp32 FMAs out of shared memory, any T,
 * fp32 or bf16 storage, hs 32 or 64) and, where it applies (bf16, hs 64,
 * T a multiple of the tile), a tensor-core one built on nvcuda::wmma.
 * gk_attn_set_tensor_cores(0) forces the plain path. */
#include "gk.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

namespace {

/* Tile sizes of the plain path: 64 queries x 64 keys per step, 256
 * threads arranged 16 x 16; each thread owns 4 rows x 4 columns of a
 * score tile and 4 rows x hs/16 columns of an output tile. */
constexpr int TILE = 64;
constexpr int NTHR = 256;
/* Score tiles use a row stride of 68 floats: the two row groups a warp
 * touches (4 rows apart) then land in disjoint bank halves. */
constexpr int LDS = TILE + 4;

#define GK_ATTN_CHECK(call)                                                              \
	do {                                                                             \
		cudaError_t e_ = (call);                                                 \
		if (e_ != cudaSuccess) {                                                 \
			fprintf(stderr, "gk_attn: %s failed at %s:%d: %s\n", #call, __FILE__,  \
				__LINE__, cudaGetErrorString(e_));                               \
			abort();                                                         \
		}                                                                        \
	} while (0)

__device__ __forceinline__ float ld(const float *p)
{
	return *p;
}
__device__ __forceinline__ float ld(const __nv_bfloat16 *p)
{
	return __bfloat162float(*p);
}
__device__ __forceinline__ void st(float *p, float v)
{
	*p = v;
}
__device__ __forceinline__ void st(__nv_bfloat16 *p, float v)
{
	*p = __float2bfloat16_rn(v);
}

/* Butterfly reductions: every lane ends with the same bits (each step adds
 * the same two values, in either order, on both partners). */
__device__ __forceinline__ float warp_sum(float v)
{
	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_xor_sync(0xffffffffu, v, o);
	return v;
}
__device__ __forceinline__ float warp_max(float v)
{
	for (int o = 16; o > 0; o >>= 1)
		v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
	return v;
}

/* Rows t0..t0+TILE-1 of one head's hs columns into a [TILE][HS+1] fp32
 * tile; rows past T become zeros so that padded work adds exact zeros. */
template <typename TS, int HS>
__device__ __forceinline__ void load_tile(float *dst, const TS *src, int ld_src, int t0, int T)
{
	for (int i = threadIdx.x; i < TILE * HS; i += NTHR) {
		int r = i / HS, d = i % HS, t = t0 + r;
		dst[r * (HS + 1) + d] = t < T ? ld(src + (size_t)t * ld_src + d) : 0.0f;
	}
}

/* ------------------------------------------------------------ forward */

template <typename TS, int HS>
__global__ void __launch_bounds__(NTHR)
	attn_fwd_plain(TS *out, float *lse, const TS *qkv, int T, int C, int NH, float scale)
{
	constexpr int LDH = HS + 1, NJ = HS / 16;
	extern __shared__ float sm[];
	float *Qs = sm, *Ks = Qs + TILE * LDH, *Vs = Ks + TILE * LDH, *Ss = Vs + TILE * LDH;
	float *m_s = Ss + TILE * LDS, *l_s = m_s + TILE, *a_s = l_s + TILE;

	/* heaviest query tiles (most key tiles) first */
	const int qt = gridDim.x - 1 - blockIdx.x, h = blockIdx.y, b = blockIdx.z;
	const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16, lane = tid % 32, w = tid / 32;
	const int C3 = 3 * C, q0 = qt * TILE;
	const TS *qb = qkv + (size_t)b * T * C3 + (size_t)h * HS, *kb = qb + C, *vb = qb + 2 * C;

	load_tile<TS, HS>(Qs, qb, C3, q0, T);
	if (tid < TILE) {
		m_s[tid] = -INFINITY;
		l_s[tid] = 0.0f;
	}
	float acc[4][NJ];
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < NJ; j++)
			acc[i][j] = 0.0f;

	for (int kt = 0; kt <= qt; kt++) {
		const int k0 = kt * TILE;
		__syncthreads(); /* the previous step is done with Ks, Vs, Ss */
		load_tile<TS, HS>(Ks, kb, C3, k0, T);
		load_tile<TS, HS>(Vs, vb, C3, k0, T);
		__syncthreads();

		float s[4][4];
		for (int i = 0; i < 4; i++)
			for (int j = 0; j < 4; j++)
				s[i][j] = 0.0f;
		for (int d = 0; d < HS; d++) {
			float qv[4], kv[4];
			for (int i = 0; i < 4; i++)
				qv[i] = Qs[(ty * 4 + i) * LDH + d];
			for (int j = 0; j < 4; j++)
				kv[j] = Ks[(tx + 16 * j) * LDH + d];
			for (int i = 0; i < 4; i++)
				for (int j = 0; j < 4; j++)
					s[i][j] = fmaf(qv[i], kv[j], s[i][j]);
		}
		for (int i = 0; i < 4; i++) {
			int row = q0 + ty * 4 + i;
			for (int j = 0; j < 4; j++) {
				int col = k0 + tx + 16 * j;
				bool ok = col <= row && col < T;
				Ss[(ty * 4 + i) * LDS + tx + 16 * j] = ok ? s[i][j] * scale : -INFINITY;
			}
		}
		__syncthreads();

		/* online softmax: warp w owns rows 8w..8w+7 */
		for (int rr = 0; rr < 8; rr++) {
			int r = w * 8 + rr;
			float x0 = Ss[r * LDS + lane], x1 = Ss[r * LDS + lane + 32];
			float m_old = m_s[r], m_new = fmaxf(m_old, warp_max(fmaxf(x0, x1)));
			/* a row with nothing unmasked yet keeps p = 0 rather than NaN */
			float base = m_new == -INFINITY ? 0.0f : m_new;
			float p0 = expf(x0 - base), p1 = expf(x1 - base);
			float sum = warp_sum(p0 + p1);
			Ss[r * LDS + lane] = p0;
			Ss[r * LDS + lane + 32] = p1;
			__syncwarp();
			if (lane == 0) {
				float alpha = expf(m_old - base);
				a_s[r] = alpha;
				l_s[r] = l_s[r] * alpha + sum;
				m_s[r] = m_new;
			}
		}
		__syncthreads();

		for (int i = 0; i < 4; i++) {
			float alpha = a_s[ty * 4 + i];
			for (int j = 0; j < NJ; j++)
				acc[i][j] *= alpha;
		}
		for (int k = 0; k < TILE; k++) {
			float pv[4], vv[NJ];
			for (int i = 0; i < 4; i++)
				pv[i] = Ss[(ty * 4 + i) * LDS + k];
			for (int j = 0; j < NJ; j++)
				vv[j] = Vs[k * LDH + tx + 16 * j];
			for (int i = 0; i < 4; i++)
				for (int j = 0; j < NJ; j++)
					acc[i][j] = fmaf(pv[i], vv[j], acc[i][j]);
		}
	}

	for (int i = 0; i < 4; i++) {
		int r = ty * 4 + i, row = q0 + r;
		if (row >= T)
			continue;
		float inv = 1.0f / l_s[r];
		TS *o = out + ((size_t)b * T + row) * C + (size_t)h * HS;
		for (int j = 0; j < NJ; j++)
			st(o + tx + 16 * j, acc[i][j] * inv);
	}
	if (tid < TILE && q0 + tid < T)
		lse[((size_t)b * NH + h) * T + q0 + tid] = m_s[tid] + logf(l_s[tid]);
}

/* ----------------------------------------------------------- backward */

/* D[b,h,t] = sum_d dO[b,t,h,d] * O[b,t,h,d] (= rowsum(P * dP)); one warp
 * per row, lanes stride over d, then a fixed shuffle tree. */
template <typename TS, int HS>
__global__ void __launch_bounds__(NTHR)
	attn_dvec(float *D, const TS *dout, const TS *out, int B, int T, int C, int NH)
{
	const int lane = threadIdx.x % 32;
	const long row = (long)blockIdx.x * (NTHR / 32) + threadIdx.x / 32;
	if (row >= (long)B * NH * T)
		return;
	const int t = (int)(row % T), h = (int)((row / T) % NH), b = (int)(row / ((long)T * NH));
	const size_t off = ((size_t)b * T + t) * C + (size_t)h * HS;
	float acc = 0.0f;
	for (int d = lane; d < HS; d += 32)
		acc = fmaf(ld(dout + off + d), ld(out + off + d), acc);
	acc = warp_sum(acc);
	if (lane == 0)
		D[row] = acc;
}

/* One block per (b, h, key tile): dV = sum_q P^T dO, dK = scale sum_q dS^T Q
 * over query tiles kt..last, ascending. Thread (ty, tx) owns keys
 * 4ty..4ty+3 and, in the score tile, queries tx + 16j. */
template <typename TS, int HS>
__global__ void __launch_bounds__(NTHR)
	attn_bwd_dkdv_plain(TS *dqkv, const TS *dout, const TS *qkv, const float *lse,
			    const float *D, int T, int C, int NH, float scale)
{
	constexpr int LDH = HS + 1, NJ = HS / 16;
	extern __shared__ float sm[];
	float *Ks = sm, *Vs = Ks + TILE * LDH, *Qs = Vs + TILE * LDH, *dOs = Qs + TILE * LDH;
	float *Pt = dOs + TILE * LDH, *dSt = Pt + TILE * LDS, *lse_s = dSt + TILE * LDS;
	float *D_s = lse_s + TILE;

	/* key tile 0 visits every query tile: heaviest first */
	const int kt = blockIdx.x, h = blockIdx.y, b = blockIdx.z, nt = gridDim.x;
	const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
	const int C3 = 3 * C, k0 = kt * TILE;
	const TS *qb = qkv + (size_t)b * T * C3 + (size_t)h * HS, *kb = qb + C, *vb = qb + 2 * C;
	const TS *dob = dout + (size_t)b * T * C + (size_t)h * HS;
	const float *lseb = lse + ((size_t)b * NH + h) * T, *Db = D + ((size_t)b * NH + h) * T;

	load_tile<TS, HS>(Ks, kb, C3, k0, T);
	load_tile<TS, HS>(Vs, vb, C3, k0, T);
	float dk[4][NJ], dv[4][NJ];
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < NJ; j++)
			dk[i][j] = dv[i][j] = 0.0f;

	for (int qt = kt; qt < nt; qt++) {
		const int q0 = qt * TILE;
		__syncthreads(); /* the previous step is done with Qs, dOs, Pt, dSt */
		load_tile<TS, HS>(Qs, qb, C3, q0, T);
		load_tile<TS, HS>(dOs, dob, C, q0, T);
		if (tid < TILE) {
			bool in = q0 + tid < T;
			lse_s[tid] = in ? lseb[q0 + tid] : 0.0f;
			D_s[tid] = in ? Db[q0 + tid] : 0.0f;
		}
		__syncthreads();

		float s[4][4], dp[4][4];
		for (int i = 0; i < 4; i++)
			for (int j = 0; j < 4; j++)
				s[i][j] = dp[i][j] = 0.0f;
		for (int d = 0; d < HS; d++) {
			float kv[4], vv[4], qv[4], gv[4];
			for (int i = 0; i < 4; i++) {
				kv[i] = Ks[(ty * 4 + i) * LDH + d];
				vv[i] = Vs[(ty * 4 + i) * LDH + d];
			}
			for (int j = 0; j < 4; j++) {
				qv[j] = Qs[(tx + 16 * j) * LDH + d];
				gv[j] = dOs[(tx + 16 * j) * LDH + d];
			}
			for (int i = 0; i < 4; i++)
				for (int j = 0; j < 4; j++) {
					s[i][j] = fmaf(kv[i], qv[j], s[i][j]);
					dp[i][j] = fmaf(vv[i], gv[j], dp[i][j]);
				}
		}
		for (int i = 0; i < 4; i++) {
			int key = k0 + ty * 4 + i;
			for (int j = 0; j < 4; j++) {
				int ql = tx + 16 * j, q = q0 + ql;
				bool ok = key <= q && q < T && key < T;
				float p = ok ? expf(s[i][j] * scale - lse_s[ql]) : 0.0f;
				Pt[(ty * 4 + i) * LDS + ql] = p;
				dSt[(ty * 4 + i) * LDS + ql] = ok ? p * (dp[i][j] - D_s[ql]) : 0.0f;
			}
		}
		__syncthreads();

		for (int q = 0; q < TILE; q++) {
			float pv[4], sv[4], gv[NJ], qv[NJ];
			for (int i = 0; i < 4; i++) {
				pv[i] = Pt[(ty * 4 + i) * LDS + q];
				sv[i] = dSt[(ty * 4 + i) * LDS + q];
			}
			for (int j = 0; j < NJ; j++) {
				gv[j] = dOs[q * LDH + tx + 16 * j];
				qv[j] = Qs[q * LDH + tx + 16 * j];
			}
			for (int i = 0; i < 4; i++)
				for (int j = 0; j < NJ; j++) {
					dv[i][j] = fmaf(pv[i], gv[j], dv[i][j]);
					dk[i][j] = fmaf(sv[i], qv[j], dk[i][j]);
				}
		}
	}

	for (int i = 0; i < 4; i++) {
		int key = k0 + ty * 4 + i;
		if (key >= T)
			continue;
		TS *g = dqkv + ((size_t)b * T + key) * C3 + (size_t)h * HS;
		for (int j = 0; j < NJ; j++) {
			st(g + C + tx + 16 * j, dk[i][j] * scale);
			st(g + 2 * C + tx + 16 * j, dv[i][j]);
		}
	}
}

/* One block per (b, h, query tile): dQ = scale sum_k dS K over key tiles
 * 0..qt, ascending. Thread (ty, tx) owns queries 4ty..4ty+3. */
template <typename TS, int HS>
__global__ void __launch_bounds__(NTHR)
	attn_bwd_dq_plain(TS *dqkv, const TS *dout, const TS *qkv, const float *lse,
			  const float *D, int T, int C, int NH, float scale)
{
	constexpr int LDH = HS + 1, NJ = HS / 16;
	extern __shared__ float sm[];
	float *Qs = sm, *dOs = Qs + TILE * LDH, *Ks = dOs + TILE * LDH, *Vs = Ks + TILE * LDH;
	float *Ss = Vs + TILE * LDH, *lse_s = Ss + TILE * LDS, *D_s = lse_s + TILE;

	const int qt = gridDim.x - 1 - blockIdx.x, h = blockIdx.y, b = blockIdx.z;
	const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
	const int C3 = 3 * C, q0 = qt * TILE;
	const TS *qb = qkv + (size_t)b * T * C3 + (size_t)h * HS, *kb = qb + C, *vb = qb + 2 * C;
	const TS *dob = dout + (size_t)b * T * C + (size_t)h * HS;
	const float *lseb = lse + ((size_t)b * NH + h) * T, *Db = D + ((size_t)b * NH + h) * T;

	load_tile<TS, HS>(Qs, qb, C3, q0, T);
	load_tile<TS, HS>(dOs, dob, C, q0, T);
	if (tid < TILE) {
		bool in = q0 + tid < T;
		lse_s[tid] = in ? lseb[q0 + tid] : 0.0f;
		D_s[tid] = in ? Db[q0 + tid] : 0.0f;
	}
	float dq[4][NJ];
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < NJ; j++)
			dq[i][j] = 0.0f;

	for (int kt = 0; kt <= qt; kt++) {
		const int k0 = kt * TILE;
		__syncthreads();
		load_tile<TS, HS>(Ks, kb, C3, k0, T);
		load_tile<TS, HS>(Vs, vb, C3, k0, T);
		__syncthreads();

		float s[4][4], dp[4][4];
		for (int i = 0; i < 4; i++)
			for (int j = 0; j < 4; j++)
				s[i][j] = dp[i][j] = 0.0f;
		for (int d = 0; d < HS; d++) {
			float qv[4], gv[4], kv[4], vv[4];
			for (int i = 0; i < 4; i++) {
				qv[i] = Qs[(ty * 4 + i) * LDH + d];
				gv[i] = dOs[(ty * 4 + i) * LDH + d];
			}
			for (int j = 0; j < 4; j++) {
				kv[j] = Ks[(tx + 16 * j) * LDH + d];
				vv[j] = Vs[(tx + 16 * j) * LDH + d];
			}
			for (int i = 0; i < 4; i++)
				for (int j = 0; j < 4; j++) {
					s[i][j] = fmaf(qv[i], kv[j], s[i][j]);
					dp[i][j] = fmaf(gv[i], vv[j], dp[i][j]);
				}
		}
		for (int i = 0; i < 4; i++) {
			int ql = ty * 4 + i, q = q0 + ql;
			for (int j = 0; j < 4; j++) {
				int key = k0 + tx + 16 * j;
				bool ok = key <= q && q < T && key < T;
				float p = ok ? expf(s[i][j] * scale - lse_s[ql]) : 0.0f;
				Ss[ql * LDS + tx + 16 * j] = ok ? p * (dp[i][j] - D_s[ql]) : 0.0f;
			}
		}
		__syncthreads();

		for (int k = 0; k < TILE; k++) {
			float sv[4], kv[NJ];
			for (int i = 0; i < 4; i++)
				sv[i] = Ss[(ty * 4 + i) * LDS + k];
			for (int j = 0; j < NJ; j++)
				kv[j] = Ks[k * LDH + tx + 16 * j];
			for (int i = 0; i < 4; i++)
				for (int j = 0; j < NJ; j++)
					dq[i][j] = fmaf(sv[i], kv[j], dq[i][j]);
		}
	}

	for (int i = 0; i < 4; i++) {
		int row = q0 + ty * 4 + i;
		if (row >= T)
			continue;
		TS *g = dqkv + ((size_t)b * T + row) * C3 + (size_t)h * HS;
		for (int j = 0; j < NJ; j++)
			st(g + tx + 16 * j, dq[i][j] * scale);
	}
}

/* ------------------------------------------------------- host side */

template <int HS>
constexpr size_t fwd_smem()
{
	return sizeof(float) * (3 * TILE * (HS + 1) + TILE * LDS + 3 * TILE);
}
template <int HS>
constexpr size_t dkdv_smem()
{
	return sizeof(float) * (4 * TILE * (HS + 1) + 2 * TILE * LDS + 2 * TILE);
}
template <int HS>
constexpr size_t dq_smem()
{
	return sizeof(float) * (4 * TILE * (HS + 1) + TILE * LDS + 2 * TILE);
}

/* Opting a kernel into more than 48 KB of dynamic shared memory is a
 * per-function attribute; setting it on every launch is cheap and keeps
 * the code free of init-order state. */
template <typename K>
void allow_smem(K kernel, size_t bytes)
{
	GK_ATTN_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
					   (int)bytes));
}

template <typename TS, int HS>
void fwd_plain(void *out, float *lse, const void *qkv, int B, int T, int C, int NH,
	       cudaStream_t s)
{
	dim3 grid((T + TILE - 1) / TILE, NH, B);
	size_t sh = fwd_smem<HS>();
	allow_smem(attn_fwd_plain<TS, HS>, sh);
	attn_fwd_plain<TS, HS><<<grid, NTHR, sh, s>>>((TS *)out, lse, (const TS *)qkv, T, C, NH,
						      1.0f / sqrtf((float)HS));
}

template <typename TS, int HS>
void bwd_plain(void *dqkv, const void *dout, const void *qkv, const void *out, const float *lse,
	       int B, int T, int C, int NH, float *D, cudaStream_t s)
{
	const float scale = 1.0f / sqrtf((float)HS);
	long rows = (long)B * NH * T;
	attn_dvec<TS, HS><<<(unsigned)((rows + NTHR / 32 - 1) / (NTHR / 32)), NTHR, 0, s>>>(
		D, (const TS *)dout, (const TS *)out, B, T, C, NH);
	dim3 grid((T + TILE - 1) / TILE, NH, B);
	size_t sh1 = dkdv_smem<HS>(), sh2 = dq_smem<HS>();
	allow_smem(attn_bwd_dkdv_plain<TS, HS>, sh1);
	allow_smem(attn_bwd_dq_plain<TS, HS>, sh2);
	attn_bwd_dkdv_plain<TS, HS><<<grid, NTHR, sh1, s>>>(
		(TS *)dqkv, (const TS *)dout, (const TS *)qkv, lse, D, T, C, NH, scale);
	attn_bwd_dq_plain<TS, HS><<<grid, NTHR, sh2, s>>>(
		(TS *)dqkv, (const TS *)dout, (const TS *)qkv, lse, D, T, C, NH, scale);
}

/* Process-wide switch for the tensor-core path (gk_attn_set_tensor_cores). */
int g_tensor_cores = 1;

int check_args(const char *who, int B, int T, int C, int NH)
{
	if (B < 1 || T < 1 || NH < 1 || C % NH != 0 || !gk_attn_supported(C / NH)) {
		fprintf(stderr, "gk_attn: %s: unsupported shape B=%d T=%d C=%d NH=%d\n", who, B, T,
			C, NH);
		abort();
	}
	return C / NH;
}

} /* namespace */

extern "C" {

int gk_attn_supported(int hs)
{
	return hs == 32 || hs == 64;
}

void gk_attn_set_tensor_cores(int on)
{
	g_tensor_cores = on != 0;
}

size_t gk_attn_scratch_floats(int B, int T, int NH)
{
	return (size_t)B * NH * T;
}

void gk_attn_fwd(enum gk_prec p, void *out, float *lse, const void *qkv, int B, int T, int C,
		 int NH, cudaStream_t s)
{
	int hs = check_args("fwd", B, T, C, NH);
	if (p == GK_BF16) {
		if (hs == 64)
			fwd_plain<__nv_bfloat16, 64>(out, lse, qkv, B, T, C, NH, s);
		else
			fwd_plain<__nv_bfloat16, 32>(out, lse, qkv, B, T, C, NH, s);
	} else {
		if (hs == 64)
			fwd_plain<float, 64>(out, lse, qkv, B, T, C, NH, s);
		else
			fwd_plain<float, 32>(out, lse, qkv, B, T, C, NH, s);
	}
}

void gk_attn_bwd(enum gk_prec p, void *dqkv, const void *dout, const void *qkv, const void *out,
		 const float *lse, int B, int T, int C, int NH, float *scratch, cudaStream_t s)
{
	int hs = check_args("bwd", B, T, C, NH);
	if (p == GK_BF16) {
		if (hs == 64)
			bwd_plain<__nv_bfloat16, 64>(dqkv, dout, qkv, out, lse, B, T, C, NH, scratch, s);
		else
			bwd_plain<__nv_bfloat16, 32>(dqkv, dout, qkv, out, lse, B, T, C, NH, scratch, s);
	} else {
		if (hs == 64)
			bwd_plain<float, 64>(dqkv, dout, qkv, out, lse, B, T, C, NH, scratch, s);
		else
			bwd_plain<float, 32>(dqkv, dout, qkv, out, lse, B, T, C, NH, scratch, s);
	}
}

} /* extern "C" */
