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
 * Three code paths (gk_attn_set_path picks the fastest allowed): a plain
 * one (fp32 FMAs out of shared memory, any T, fp32 or bf16 storage, hs 32
 * or 64) and, where they apply (bf16, hs 64, T a multiple of the tile),
 * two tensor-core ones: one built on nvcuda::wmma, here, and one on
 * mma.sync with every score tile in registers (gk_attn_mma.cu). */
#include "gk.h"
#include "gk_attn_mma.cuh"

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <mma.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

namespace {

/* Tile sizes of the plain path: 64 queries x 64 keys per step, 256
 * threads arranged 16 x 16; each thread owns 4 rows x 4 columns of a
 * score tile and 4 rows x hs/16 columns of an output tile. */
constexpr int TILE = 64;
constexpr int NTHR = 256;
/* Score tiles use a row stride of 68 floats: the two row groups a warp
 * touches (4 rows apart) then land in disjoint bank halves. */
constexpr int LDS = TILE + 4;

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

/* ------------------------------------------- tensor-core path (bf16, hs 64) */

/* Four warps per block, each owning 16 rows of the 64-row tile, so that
 * inside a tile step a warp only syncs with itself. Operand tiles are bf16
 * with a 72-element row stride (the 16-byte skew spreads wmma's row loads
 * over the banks and keeps every fragment pointer 32-byte aligned);
 * fragment results go through fp32 scratch rows of 68 floats. Products are
 * exact in the fp32 accumulators; P and dS are rounded to bf16 before
 * their second product, the only precision cost relative to the plain
 * path. */
constexpr int TC_THR = 128;
constexpr int LDB = 72; /* bf16 operand row stride */
constexpr int LDF = 68; /* fp32 scratch row stride */
constexpr int TC_OP = TILE * LDB;  /* one 64-row bf16 operand tile */
constexpr int TC_F = 16 * LDF;     /* one warp's 16-row fp32 scratch */
constexpr int TC_B = 16 * LDB;     /* one warp's 16-row bf16 scratch */

using bf16 = __nv_bfloat16;
namespace wm = nvcuda::wmma;
using frag_a = wm::fragment<wm::matrix_a, 16, 16, 16, bf16, wm::row_major>;
using frag_bt = wm::fragment<wm::matrix_b, 16, 16, 16, bf16, wm::col_major>;
using frag_b = wm::fragment<wm::matrix_b, 16, 16, 16, bf16, wm::row_major>;
using frag_c = wm::fragment<wm::accumulator, 16, 16, 16, float>;

/* 64 rows x 64 bf16 (one head) into a [64][LDB] tile, 16 bytes at a time;
 * the dispatcher checked that every row start is 16-byte aligned. */
__device__ __forceinline__ void tc_load(bf16 *dst, const bf16 *src, int ld_src, int t0)
{
	for (int i = threadIdx.x; i < TILE * 8; i += TC_THR) {
		int r = i / 8, c = i % 8;
		*reinterpret_cast<uint4 *>(dst + r * LDB + c * 8) =
			*reinterpret_cast<const uint4 *>(src + (size_t)(t0 + r) * ld_src + c * 8);
	}
}

/* acc[n] (16 x 16, n = 0..3) = A (16 x 64, rows of a) times B^T where B is
 * a [64][LDB] tile read as its transpose (scores: Q K^T and friends). */
__device__ __forceinline__ void tc_abt(frag_c acc[4], const bf16 *a, const bf16 *b)
{
	frag_a fa[4];
	for (int kk = 0; kk < 4; kk++)
		wm::load_matrix_sync(fa[kk], a + kk * 16, LDB);
	for (int n = 0; n < 4; n++) {
		wm::fill_fragment(acc[n], 0.0f);
		for (int kk = 0; kk < 4; kk++) {
			frag_bt fb;
			wm::load_matrix_sync(fb, b + n * 16 * LDB + kk * 16, LDB);
			wm::mma_sync(acc[n], fa[kk], fb, acc[n]);
		}
	}
}

/* acc[n] += A (16 x 64 bf16, stride LDB) times B (a [64][LDB] tile). */
__device__ __forceinline__ void tc_ab(frag_c acc[4], const bf16 *a, const bf16 *b)
{
	frag_a fa[4];
	for (int kk = 0; kk < 4; kk++)
		wm::load_matrix_sync(fa[kk], a + kk * 16, LDB);
	for (int n = 0; n < 4; n++)
		for (int kk = 0; kk < 4; kk++) {
			frag_b fb;
			wm::load_matrix_sync(fb, b + kk * 16 * LDB + n * 16, LDB);
			wm::mma_sync(acc[n], fa[kk], fb, acc[n]);
		}
}

__device__ __forceinline__ void tc_store(float *dst, frag_c acc[4])
{
	for (int n = 0; n < 4; n++)
		wm::store_matrix_sync(dst + n * 16, acc[n], LDF, wm::mem_row_major);
}

__global__ void __launch_bounds__(TC_THR)
	attn_fwd_tc(bf16 *out, float *lse, const bf16 *qkv, int T, int C, int NH, float scale)
{
	extern __shared__ __align__(128) unsigned char smraw[];
	bf16 *Qs = reinterpret_cast<bf16 *>(smraw), *Ks = Qs + TC_OP, *Vs = Ks + TC_OP;
	const int tid = threadIdx.x, lane = tid % 32, w = tid / 32;
	float *Sw = reinterpret_cast<float *>(Vs + TC_OP) + w * TC_F;
	float *Ow = reinterpret_cast<float *>(Vs + TC_OP) + 4 * TC_F + w * TC_F;
	bf16 *Pw = reinterpret_cast<bf16 *>(reinterpret_cast<float *>(Vs + TC_OP) + 8 * TC_F) +
		   w * TC_B;
	float *m_s = reinterpret_cast<float *>(reinterpret_cast<bf16 *>(
			     reinterpret_cast<float *>(Vs + TC_OP) + 8 * TC_F) + 4 * TC_B),
	      *l_s = m_s + TILE;

	const int qt = gridDim.x - 1 - blockIdx.x, h = blockIdx.y, b = blockIdx.z;
	const int C3 = 3 * C, q0 = qt * TILE;
	const bf16 *qb = qkv + (size_t)b * T * C3 + (size_t)h * 64, *kb = qb + C, *vb = qb + 2 * C;

	tc_load(Qs, qb, C3, q0);
	if (tid < TILE) {
		m_s[tid] = -INFINITY;
		l_s[tid] = 0.0f;
	}
	for (int i = lane; i < TC_F; i += 32)
		Ow[i] = 0.0f;

	for (int kt = 0; kt <= qt; kt++) {
		const int k0 = kt * TILE;
		__syncthreads();
		tc_load(Ks, kb, C3, k0);
		tc_load(Vs, vb, C3, k0);
		__syncthreads();

		frag_c acc[4];
		tc_abt(acc, Qs + w * 16 * LDB, Ks);
		tc_store(Sw, acc);
		__syncwarp();

		for (int r = 0; r < 16; r++) {
			const int rl = w * 16 + r, row = q0 + rl;
			float x0 = k0 + lane <= row ? Sw[r * LDF + lane] * scale : -INFINITY;
			float x1 = k0 + lane + 32 <= row ? Sw[r * LDF + lane + 32] * scale : -INFINITY;
			float m_old = m_s[rl], m_new = fmaxf(m_old, warp_max(fmaxf(x0, x1)));
			float base = m_new == -INFINITY ? 0.0f : m_new;
			/* sum what the product will use: the bf16-rounded p */
			bf16 p0 = __float2bfloat16_rn(expf(x0 - base));
			bf16 p1 = __float2bfloat16_rn(expf(x1 - base));
			float sum = warp_sum(__bfloat162float(p0) + __bfloat162float(p1));
			float alpha = expf(m_old - base);
			Pw[r * LDB + lane] = p0;
			Pw[r * LDB + lane + 32] = p1;
			Ow[r * LDF + lane] *= alpha;
			Ow[r * LDF + lane + 32] *= alpha;
			if (lane == 0) {
				l_s[rl] = l_s[rl] * alpha + sum;
				m_s[rl] = m_new;
			}
		}
		__syncwarp();

		for (int n = 0; n < 4; n++)
			wm::load_matrix_sync(acc[n], Ow + n * 16, LDF, wm::mem_row_major);
		tc_ab(acc, Pw, Vs);
		tc_store(Ow, acc);
		__syncwarp();
	}

	for (int r = 0; r < 16; r++) {
		const int rl = w * 16 + r, row = q0 + rl;
		float inv = 1.0f / l_s[rl];
		bf16 *o = out + ((size_t)b * T + row) * C + (size_t)h * 64;
		o[lane] = __float2bfloat16_rn(Ow[r * LDF + lane] * inv);
		o[lane + 32] = __float2bfloat16_rn(Ow[r * LDF + lane + 32] * inv);
		if (lane == 0)
			lse[((size_t)b * NH + h) * T + row] = m_s[rl] + logf(l_s[rl]);
	}
}

/* Writes a warp's 16 x 64 result (acc times mul) to rows t of dst. */
__device__ __forceinline__ void tc_write(bf16 *dst, size_t ld, float *scr, frag_c acc[4],
					 float mul)
{
	const int lane = threadIdx.x % 32;
	for (int n = 0; n < 4; n++)
		for (int i = 0; i < acc[n].num_elements; i++)
			acc[n].x[i] *= mul;
	tc_store(scr, acc);
	__syncwarp();
	for (int r = 0; r < 16; r++) {
		dst[r * ld + lane] = __float2bfloat16_rn(scr[r * LDF + lane]);
		dst[r * ld + lane + 32] = __float2bfloat16_rn(scr[r * LDF + lane + 32]);
	}
	__syncwarp();
}

__global__ void __launch_bounds__(TC_THR)
	attn_bwd_dkdv_tc(bf16 *dqkv, const bf16 *dout, const bf16 *qkv, const float *lse,
			 const float *D, int T, int C, int NH, float scale)
{
	extern __shared__ __align__(128) unsigned char smraw[];
	bf16 *Ks = reinterpret_cast<bf16 *>(smraw), *Vs = Ks + TC_OP, *Qs = Vs + TC_OP;
	bf16 *dOs = Qs + TC_OP;
	const int tid = threadIdx.x, lane = tid % 32, w = tid / 32;
	float *fbase = reinterpret_cast<float *>(dOs + TC_OP);
	float *St = fbase + w * TC_F, *dPt = fbase + 4 * TC_F + w * TC_F;
	bf16 *bbase = reinterpret_cast<bf16 *>(fbase + 8 * TC_F);
	bf16 *Pb = bbase + w * TC_B, *dSb = bbase + 4 * TC_B + w * TC_B;
	float *lse_s = reinterpret_cast<float *>(bbase + 8 * TC_B), *D_s = lse_s + TILE;

	const int kt = blockIdx.x, h = blockIdx.y, b = blockIdx.z, nt = gridDim.x;
	const int C3 = 3 * C, k0 = kt * TILE;
	const bf16 *qb = qkv + (size_t)b * T * C3 + (size_t)h * 64, *kb = qb + C, *vb = qb + 2 * C;
	const bf16 *dob = dout + (size_t)b * T * C + (size_t)h * 64;
	const float *lseb = lse + ((size_t)b * NH + h) * T, *Db = D + ((size_t)b * NH + h) * T;

	tc_load(Ks, kb, C3, k0);
	tc_load(Vs, vb, C3, k0);
	frag_c dk[4], dv[4];
	for (int n = 0; n < 4; n++) {
		wm::fill_fragment(dk[n], 0.0f);
		wm::fill_fragment(dv[n], 0.0f);
	}

	for (int qt = kt; qt < nt; qt++) {
		const int q0 = qt * TILE;
		__syncthreads();
		tc_load(Qs, qb, C3, q0);
		tc_load(dOs, dob, C, q0);
		if (tid < TILE) {
			lse_s[tid] = lseb[q0 + tid];
			D_s[tid] = Db[q0 + tid];
		}
		__syncthreads();

		frag_c acc[4];
		tc_abt(acc, Ks + w * 16 * LDB, Qs);
		tc_store(St, acc);
		tc_abt(acc, Vs + w * 16 * LDB, dOs);
		tc_store(dPt, acc);
		__syncwarp();
		for (int r = 0; r < 16; r++) {
			const int key = k0 + w * 16 + r;
			for (int c = lane; c < TILE; c += 32) {
				bool ok = key <= q0 + c;
				float p = ok ? expf(St[r * LDF + c] * scale - lse_s[c]) : 0.0f;
				float ds = ok ? p * (dPt[r * LDF + c] - D_s[c]) : 0.0f;
				Pb[r * LDB + c] = __float2bfloat16_rn(p);
				dSb[r * LDB + c] = __float2bfloat16_rn(ds);
			}
		}
		__syncwarp();
		tc_ab(dv, Pb, dOs);
		tc_ab(dk, dSb, Qs);
	}

	bf16 *g = dqkv + ((size_t)b * T + k0 + w * 16) * C3 + (size_t)h * 64;
	tc_write(g + C, (size_t)C3, St, dk, scale);
	tc_write(g + 2 * C, (size_t)C3, St, dv, 1.0f);
}

__global__ void __launch_bounds__(TC_THR)
	attn_bwd_dq_tc(bf16 *dqkv, const bf16 *dout, const bf16 *qkv, const float *lse,
		       const float *D, int T, int C, int NH, float scale)
{
	extern __shared__ __align__(128) unsigned char smraw[];
	bf16 *Qs = reinterpret_cast<bf16 *>(smraw), *dOs = Qs + TC_OP, *Ks = dOs + TC_OP;
	bf16 *Vs = Ks + TC_OP;
	const int tid = threadIdx.x, lane = tid % 32, w = tid / 32;
	float *fbase = reinterpret_cast<float *>(Vs + TC_OP);
	float *Sw = fbase + w * TC_F, *dPw = fbase + 4 * TC_F + w * TC_F;
	bf16 *bbase = reinterpret_cast<bf16 *>(fbase + 8 * TC_F);
	bf16 *dSb = bbase + w * TC_B;
	float *lse_s = reinterpret_cast<float *>(bbase + 4 * TC_B), *D_s = lse_s + TILE;

	const int qt = gridDim.x - 1 - blockIdx.x, h = blockIdx.y, b = blockIdx.z;
	const int C3 = 3 * C, q0 = qt * TILE;
	const bf16 *qb = qkv + (size_t)b * T * C3 + (size_t)h * 64, *kb = qb + C, *vb = qb + 2 * C;
	const bf16 *dob = dout + (size_t)b * T * C + (size_t)h * 64;
	const float *lseb = lse + ((size_t)b * NH + h) * T, *Db = D + ((size_t)b * NH + h) * T;

	tc_load(Qs, qb, C3, q0);
	tc_load(dOs, dob, C, q0);
	if (tid < TILE) {
		lse_s[tid] = lseb[q0 + tid];
		D_s[tid] = Db[q0 + tid];
	}
	frag_c dq[4];
	for (int n = 0; n < 4; n++)
		wm::fill_fragment(dq[n], 0.0f);

	for (int kt = 0; kt <= qt; kt++) {
		const int k0 = kt * TILE;
		__syncthreads();
		tc_load(Ks, kb, C3, k0);
		tc_load(Vs, vb, C3, k0);
		__syncthreads();

		frag_c acc[4];
		tc_abt(acc, Qs + w * 16 * LDB, Ks);
		tc_store(Sw, acc);
		tc_abt(acc, dOs + w * 16 * LDB, Vs);
		tc_store(dPw, acc);
		__syncwarp();
		for (int r = 0; r < 16; r++) {
			const int rl = w * 16 + r, q = q0 + rl;
			for (int c = lane; c < TILE; c += 32) {
				bool ok = k0 + c <= q;
				float p = ok ? expf(Sw[r * LDF + c] * scale - lse_s[rl]) : 0.0f;
				float ds = ok ? p * (dPw[r * LDF + c] - D_s[rl]) : 0.0f;
				dSb[r * LDB + c] = __float2bfloat16_rn(ds);
			}
		}
		__syncwarp();
		tc_ab(dq, dSb, Ks);
	}

	bf16 *g = dqkv + ((size_t)b * T + q0 + w * 16) * C3 + (size_t)h * 64;
	tc_write(g, (size_t)C3, Sw, dq, scale);
}

constexpr size_t TC_FWD_SMEM = 3 * TC_OP * 2 + 8 * TC_F * 4 + 4 * TC_B * 2 + 2 * TILE * 4;
constexpr size_t TC_DKDV_SMEM = 4 * TC_OP * 2 + 8 * TC_F * 4 + 8 * TC_B * 2 + 2 * TILE * 4;
constexpr size_t TC_DQ_SMEM = 4 * TC_OP * 2 + 8 * TC_F * 4 + 4 * TC_B * 2 + 2 * TILE * 4;

bool aligned16(const void *p)
{
	return (reinterpret_cast<uintptr_t>(p) & 15) == 0;
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

template <typename TS, int HS>
void fwd_plain(void *out, float *lse, const void *qkv, int B, int T, int C, int NH,
	       cudaStream_t s)
{
	dim3 grid((T + TILE - 1) / TILE, NH, B);
	size_t sh = fwd_smem<HS>();
	gk_attn_allow_smem(attn_fwd_plain<TS, HS>, sh);
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
	gk_attn_allow_smem(attn_bwd_dkdv_plain<TS, HS>, sh1);
	gk_attn_allow_smem(attn_bwd_dq_plain<TS, HS>, sh2);
	attn_bwd_dkdv_plain<TS, HS><<<grid, NTHR, sh1, s>>>(
		(TS *)dqkv, (const TS *)dout, (const TS *)qkv, lse, D, T, C, NH, scale);
	attn_bwd_dq_plain<TS, HS><<<grid, NTHR, sh2, s>>>(
		(TS *)dqkv, (const TS *)dout, (const TS *)qkv, lse, D, T, C, NH, scale);
}

/* The fastest path allowed (gk_attn_set_path). */
enum gk_attn_path g_path = GK_ATTN_MMA;

/* Both tensor-core paths have no edge handling (whole tiles) and move rows
 * 16 bytes at a time; C % 8 == 0 holds for hs 64, so aligned base pointers
 * give aligned rows. */
enum gk_attn_path path_for(enum gk_prec p, int T, int C, int NH, const void *a, const void *b,
			   const void *c)
{
	enum gk_attn_path ap = gk_attn_path_for(p, T, C, NH);
	return aligned16(a) && aligned16(b) && aligned16(c) ? ap : GK_ATTN_PLAIN;
}

void fwd_tc(void *out, float *lse, const void *qkv, int B, int T, int C, int NH, cudaStream_t s)
{
	dim3 grid(T / TILE, NH, B);
	gk_attn_allow_smem(attn_fwd_tc, TC_FWD_SMEM);
	attn_fwd_tc<<<grid, TC_THR, TC_FWD_SMEM, s>>>((bf16 *)out, lse, (const bf16 *)qkv, T, C, NH,
						       1.0f / sqrtf(64.0f));
}

/* D = rowsum(dO * O) for both tensor-core paths' backward. */
void dvec_bf16(float *D, const void *dout, const void *out, int B, int T, int C, int NH,
	       cudaStream_t s)
{
	long rows = (long)B * NH * T;
	attn_dvec<bf16, 64><<<(unsigned)((rows + NTHR / 32 - 1) / (NTHR / 32)), NTHR, 0, s>>>(
		D, (const bf16 *)dout, (const bf16 *)out, B, T, C, NH);
}

void bwd_tc(void *dqkv, const void *dout, const void *qkv, const void *out, const float *lse,
	    int B, int T, int C, int NH, float *D, cudaStream_t s)
{
	const float scale = 1.0f / sqrtf(64.0f);
	dvec_bf16(D, dout, out, B, T, C, NH, s);
	dim3 grid(T / TILE, NH, B);
	gk_attn_allow_smem(attn_bwd_dkdv_tc, TC_DKDV_SMEM);
	gk_attn_allow_smem(attn_bwd_dq_tc, TC_DQ_SMEM);
	attn_bwd_dkdv_tc<<<grid, TC_THR, TC_DKDV_SMEM, s>>>(
		(bf16 *)dqkv, (const bf16 *)dout, (const bf16 *)qkv, lse, D, T, C, NH, scale);
	attn_bwd_dq_tc<<<grid, TC_THR, TC_DQ_SMEM, s>>>(
		(bf16 *)dqkv, (const bf16 *)dout, (const bf16 *)qkv, lse, D, T, C, NH, scale);
}

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

static const char *const k_path_names[] = { "plain", "wmma", "mma" };

void gk_attn_set_path(enum gk_attn_path path)
{
	g_path = path;
}

int gk_attn_set_path_name(const char *name)
{
	for (int i = 0; i < 3; i++)
		if (name && strcmp(name, k_path_names[i]) == 0) {
			g_path = (enum gk_attn_path)i;
			return 0;
		}
	return -1;
}

const char *gk_attn_path_name(enum gk_attn_path path)
{
	return path >= GK_ATTN_PLAIN && path <= GK_ATTN_MMA ? k_path_names[path] : "?";
}

enum gk_attn_path gk_attn_path_for(enum gk_prec p, int T, int C, int NH)
{
	bool tc = p == GK_BF16 && NH > 0 && C == 64 * NH;
	if (g_path == GK_ATTN_MMA && tc && T % GK_ATTN_MMA_TILE == 0)
		return GK_ATTN_MMA;
	if (g_path != GK_ATTN_PLAIN && tc && T % TILE == 0)
		return GK_ATTN_WMMA;
	return GK_ATTN_PLAIN;
}

size_t gk_attn_scratch_floats(int B, int T, int NH)
{
	return (size_t)B * NH * T;
}

void gk_attn_fwd(enum gk_prec p, void *out, float *lse, const void *qkv, int B, int T, int C,
		 int NH, cudaStream_t s)
{
	int hs = check_args("fwd", B, T, C, NH);
	enum gk_attn_path ap = path_for(p, T, C, NH, qkv, out, qkv);
	if (ap == GK_ATTN_MMA)
		gk_attn_mma_fwd(out, lse, qkv, B, T, C, NH, s);
	else if (ap == GK_ATTN_WMMA)
		fwd_tc(out, lse, qkv, B, T, C, NH, s);
	else if (p == GK_BF16) {
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
	enum gk_attn_path ap = path_for(p, T, C, NH, qkv, dout, dqkv);
	if (ap == GK_ATTN_MMA) {
		dvec_bf16(scratch, dout, out, B, T, C, NH, s);
		gk_attn_mma_bwd(dqkv, dout, qkv, lse, scratch, B, T, C, NH, s);
	} else if (ap == GK_ATTN_WMMA)
		bwd_tc(dqkv, dout, qkv, out, lse, B, T, C, NH, scratch, s);
	else if (p == GK_BF16) {
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
