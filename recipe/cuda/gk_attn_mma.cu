/* gk_attn_mma.cu: the mma path of causal attention (gk_attn.cu dispatches
 * here for bf16, head size 64, T a multiple of 64), in the style of
 * FlashAttention-2 on warp-level tensor-core instructions.
 *
 * Every product is mma.sync m16n8k16 (bf16 operands, fp32 accumulators)
 * with operands moved from shared memory by ldmatrix; score, probability
 * and gradient tiles never leave registers: the accumulator fragment of
 * one product is, after rounding to bf16, the A operand of the next (the
 * layouts line up, see to_a). The online softmax (row max, row sum, rescale
 * of O) runs on those registers with shuffles inside the four lanes that
 * share a row. Key, value, query and output-gradient tiles are fetched
 * with cp.async, the next tile while the current one is used.
 *
 * The backward keeps the plain path's three-kernel structure and sum
 * orders: D = rowsum(dO * O) (gk_attn.cu), dK and dV per key tile over the
 * query tiles in ascending order, dQ per query tile over the key tiles in
 * ascending order. Each product's k-steps run in a fixed order, no atomics
 * anywhere: results are bitwise reproducible for a given launch shape.
 *
 * Precision is the wmma path's: exact products into fp32, P and dS rounded
 * to bf16 before their second product, the forward's row sum taken over
 * the rounded P that the product uses. Exponentials are exp2f of scores
 * prescaled by scale * log2(e). */
#include "gk_attn_mma.cuh"

#include <cuda_bf16.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

namespace {

using bf16 = __nv_bfloat16;

/* Four warps per block; warp w owns rows 16w..16w+15 of the block's 64-row
 * tile (queries in the forward and dQ kernels, keys in the dK/dV kernel),
 * so outside the tile loads a warp only ever waits for itself. */
constexpr int MT = GK_ATTN_MMA_TILE;
constexpr int HD = 64;
constexpr int NTHR = 128;
/* Row stride of a bf16 tile in shared memory: 72 elements = 144 bytes. The
 * eight 16-byte row reads of one ldmatrix matrix then start 36 words apart,
 * in eight distinct groups of four banks (conflict free), and every row
 * start stays 16-byte aligned for cp.async and ldmatrix. */
constexpr int LDS = 72;
constexpr int TILE_E = MT * LDS; /* elements of one tile */
constexpr float LOG2E = 1.4426950408889634f;
constexpr float LN2 = 0.6931471805599453f;

static_assert(HD == 64 && MT == 64, "fragment loops below assume 64 x 64 tiles");
static_assert((LDS * 2) % 16 == 0, "tile rows must stay 16-byte aligned");

/* ------------------------------------------------ PTX building blocks */

__device__ __forceinline__ uint32_t smem_u32(const void *p)
{
	return (uint32_t)__cvta_generic_to_shared(p);
}

/* 16 bytes global -> shared, bypassing L1 (.cg). */
__device__ __forceinline__ void cp16(void *dst, const void *src)
{
	asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smem_u32(dst)),
		     "l"(__cvta_generic_to_global(src)));
}
/* 4 bytes global -> shared (lse and D: only 4-byte aligned in general). */
__device__ __forceinline__ void cp4(void *dst, const void *src)
{
	asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(smem_u32(dst)),
		     "l"(__cvta_generic_to_global(src)));
}
__device__ __forceinline__ void cp_commit()
{
	asm volatile("cp.async.commit_group;\n" ::: "memory");
}
/* This thread's copies have landed; a __syncthreads() after it makes every
 * thread's visible to all. */
__device__ __forceinline__ void cp_wait_all()
{
	asm volatile("cp.async.wait_group 0;\n" ::: "memory");
}

/* ldmatrix .x4: lanes 8i..8i+7 give the row addresses (16 bytes each) of
 * 8 x 8 matrix i, and r[i] of every lane receives a fragment of matrix i:
 * lane l holds row l/4, columns 2(l%4) (low half) and 2(l%4)+1 (high half).
 * With .trans the matrix is read transposed: lane l holds stored row
 * 2(l%4) (low) and 2(l%4)+1 (high) of stored column l/4. */
__device__ __forceinline__ void ldsm4(uint32_t r[4], const bf16 *p)
{
	asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
		     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
		     : "r"(smem_u32(p)));
}
__device__ __forceinline__ void ldsm4t(uint32_t r[4], const bf16 *p)
{
	asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
		     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
		     : "r"(smem_u32(p)));
}

/* d += A B for one m16n8k16 product (PTX ISA, "Matrix Fragments for
 * mma.m16n8k16 with floating point type"). With g = lane / 4 and
 * t = lane % 4, each lane holds:
 *   A (16 x 16, row): a[0] = (g,   2t..2t+1)    a[1] = (g+8, 2t..2t+1)
 *                     a[2] = (g,   2t+8..2t+9)  a[3] = (g+8, 2t+8..2t+9)
 *                     (row, k), lower k in the low half of each register;
 *   B (16 x 8, col):  b[0] = (k 2t..2t+1, n g)  b[1] = (k 2t+8..2t+9, n g);
 *   C, D (16 x 8):    d[0], d[1] = (g, 2t), (g, 2t+1);
 *                     d[2], d[3] = (g+8, 2t), (g+8, 2t+1). */
__device__ __forceinline__ void mma16816(float d[4], const uint32_t a[4], const uint32_t b[2])
{
	asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, "
	    "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
	    : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
	    : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi)
{
	__nv_bfloat162 v = __floats2bfloat162_rn(lo, hi); /* .x = lo is the low half */
	uint32_t u;
	memcpy(&u, &v, 4);
	return u;
}
__device__ __forceinline__ float lo_f(uint32_t u)
{
	return __uint_as_float(u << 16);
}
__device__ __forceinline__ float hi_f(uint32_t u)
{
	return __uint_as_float(u & 0xffff0000u);
}

/* ------------------------------------------------ fragments of a tile */

/* A operand of rows r0..r0+15, k = c0..c0+15 of a tile stored row-major,
 * element (row, k) at t[row * LDS + k]. Lanes 0-7 address rows r0+0..7 at
 * c0 (matrix 0 -> a[0]: row g, k 2t), lanes 8-15 rows r0+8..15 at c0
 * (-> a[1]: row g+8), lanes 16-23 rows r0+0..7 at c0+8 (-> a[2]: row g,
 * k 2t+8), lanes 24-31 rows r0+8..15 at c0+8 (-> a[3]). */
__device__ __forceinline__ void ld_a(uint32_t a[4], const bf16 *t, int r0, int c0)
{
	const int lane = threadIdx.x & 31;
	ldsm4(a, t + (r0 + (lane & 15)) * LDS + c0 + 8 * (lane >> 4));
}

/* B operands of two products, n = n0..n0+7 (b[0]) and n0+8..n0+15 (b[1]),
 * k = k0..k0+15, from a tile stored with n as its row, element (k, n) at
 * t[n * LDS + k] (K, Q, V or dO as [position][dim] when the product sums
 * over dim). Untransposed, lane l receives row g, columns 2t, 2t+1 of a
 * matrix, which is (n g, k 2t..2t+1): b[.][0] of the 8 x 8 block at (k
 * offset 0) and b[.][1] of the one at k offset 8. Lanes 0-7: rows n0+0..7
 * at k0 (-> b[0][0]); 8-15: rows n0+0..7 at k0+8 (-> b[0][1]); 16-23: rows
 * n0+8..15 at k0 (-> b[1][0]); 24-31: rows n0+8..15 at k0+8 (-> b[1][1]). */
__device__ __forceinline__ void ld_bt(uint32_t b[2][2], const bf16 *t, int n0, int k0)
{
	const int lane = threadIdx.x & 31;
	uint32_t r[4];
	ldsm4(r, t + (n0 + (lane & 7) + 8 * (lane >> 4)) * LDS + k0 + 8 * ((lane >> 3) & 1));
	b[0][0] = r[0];
	b[0][1] = r[1];
	b[1][0] = r[2];
	b[1][1] = r[3];
}

/* B operands of two products as ld_bt, from a tile stored with k as its
 * row, element (k, n) at t[k * LDS + n] (V, dO, Q or K as [position][dim]
 * when the product sums over positions). Transposed, lane l receives
 * stored rows 2t, 2t+1 of stored column g: (k 2t..2t+1, n g), again b[.][0]
 * of the block. Lanes 0-7: rows k0+0..7 at n0 (-> b[0][0]); 8-15: rows
 * k0+8..15 at n0 (-> b[0][1]); 16-23: rows k0+0..7 at n0+8 (-> b[1][0]);
 * 24-31: rows k0+8..15 at n0+8 (-> b[1][1]). */
__device__ __forceinline__ void ld_b(uint32_t b[2][2], const bf16 *t, int k0, int n0)
{
	const int lane = threadIdx.x & 31;
	uint32_t r[4];
	ldsm4t(r, t + (k0 + (lane & 15)) * LDS + n0 + 8 * (lane >> 4));
	b[0][0] = r[0];
	b[0][1] = r[1];
	b[1][0] = r[2];
	b[1][1] = r[3];
}

/* ------------------------------------------------ warp-level products */

__device__ __forceinline__ void zero(float acc[8][4])
{
#pragma unroll
	for (int n = 0; n < 8; n++)
#pragma unroll
		for (int e = 0; e < 4; e++)
			acc[n][e] = 0.0f;
}

/* acc (16 x 64) += A times B, A the warp's 16 x 64 operand as fragments
 * a[kk] (k = 16kk..16kk+15), B a 64 x 64 tile stored [k][n] (KN, read
 * with ld_b) or [n][k] (read with ld_bt). acc[j] holds columns 8j..8j+7 in
 * the C layout; each element sums its k-steps in ascending order. */
template <bool KN>
__device__ __forceinline__ void mma_tile(float acc[8][4], const uint32_t a[4][4], const bf16 *t)
{
#pragma unroll
	for (int kk = 0; kk < 4; kk++)
#pragma unroll
		for (int np = 0; np < 4; np++) {
			uint32_t b[2][2];
			if (KN)
				ld_b(b, t, 16 * kk, 16 * np);
			else
				ld_bt(b, t, 16 * np, 16 * kk);
			mma16816(acc[2 * np], a[kk], b[0]);
			mma16816(acc[2 * np + 1], a[kk], b[1]);
		}
}

/* acc = A B^T for B stored [n][k]: scores and their gradients, Q K^T and
 * friends. */
__device__ __forceinline__ void mma_abt(float acc[8][4], const uint32_t a[4][4], const bf16 *t)
{
	zero(acc);
	mma_tile<false>(acc, a, t);
}

/* The C fragments of columns 16kk..16kk+15 (c[2kk], c[2kk+1]) rounded to
 * bf16 are the A fragment of k-step kk of a product over those columns:
 *   a[0] = (g,   16kk+2t..)   = c[2kk][0..1]
 *   a[1] = (g+8, 16kk+2t..)   = c[2kk][2..3]
 *   a[2] = (g,   16kk+8+2t..) = c[2kk+1][0..1]
 *   a[3] = (g+8, 16kk+8+2t..) = c[2kk+1][2..3]
 * so P and dS go from one product to the next without leaving registers. */
__device__ __forceinline__ void to_a(uint32_t a[4][4], const float c[8][4])
{
#pragma unroll
	for (int kk = 0; kk < 4; kk++) {
		a[kk][0] = pack_bf16(c[2 * kk][0], c[2 * kk][1]);
		a[kk][1] = pack_bf16(c[2 * kk][2], c[2 * kk][3]);
		a[kk][2] = pack_bf16(c[2 * kk + 1][0], c[2 * kk + 1][1]);
		a[kk][3] = pack_bf16(c[2 * kk + 1][2], c[2 * kk + 1][3]);
	}
}

/* ------------------------------------------------ moving tiles */

/* Rows t0..t0+63 of one head (64 bf16 = 8 chunks of 16 bytes) into a
 * [64][LDS] tile; 4 chunks per thread, a warp's 32 chunks are 4 whole
 * rows. Asynchronous: the caller commits and waits. */
__device__ __forceinline__ void load_tile(bf16 *dst, const bf16 *src, int ld, int t0)
{
#pragma unroll
	for (int k = 0; k < MT * 8 / NTHR; k++) {
		int i = threadIdx.x + k * NTHR, r = i >> 3, c = i & 7;
		cp16(dst + r * LDS + c * 8, src + (size_t)(t0 + r) * ld + c * 8);
	}
}

/* Key tile k1's K and V into buffer buf of the two-tile Ks and Vs. */
__device__ __forceinline__ void load_kv(bf16 *Ks, bf16 *Vs, const bf16 *kb, const bf16 *vb, int ld,
					int k1, int buf)
{
	load_tile(Ks + buf * TILE_E, kb, ld, k1);
	load_tile(Vs + buf * TILE_E, vb, ld, k1);
}

/* Start of step kt of a loop over key tiles 0..last (forward, dQ): tile
 * kt has landed and every warp is done with step kt-1, whose buffers the
 * prefetch of tile kt+1 then overwrites. */
__device__ __forceinline__ void kv_step(bf16 *Ks, bf16 *Vs, const bf16 *kb, const bf16 *vb, int ld,
					int kt, int last)
{
	cp_wait_all();
	__syncthreads();
	if (kt < last) {
		load_kv(Ks, Vs, kb, vb, ld, (kt + 1) * MT, (kt + 1) & 1);
		cp_commit();
	}
}

/* The warp's 16 x 64 fp32 result acc * mul as bf16 into rows r0..r0+15 of
 * dst: staged through rows of a shared tile that only this warp reads
 * (stage, 16 rows of LDS), so the global stores are whole 16-byte chunks,
 * each row 128 contiguous bytes. */
__device__ __forceinline__ void store_rows(bf16 *dst, size_t ld, bf16 *stage,
					   const float acc[8][4], float mul)
{
	const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
#pragma unroll
	for (int n = 0; n < 8; n++) {
		uint32_t top = pack_bf16(acc[n][0] * mul, acc[n][1] * mul);
		uint32_t bot = pack_bf16(acc[n][2] * mul, acc[n][3] * mul);
		*reinterpret_cast<uint32_t *>(stage + g * LDS + 8 * n + 2 * t) = top;
		*reinterpret_cast<uint32_t *>(stage + (g + 8) * LDS + 8 * n + 2 * t) = bot;
	}
	__syncwarp();
#pragma unroll
	for (int k = 0; k < 4; k++) {
		int i = lane + 32 * k, r = i >> 3, c = i & 7;
		*reinterpret_cast<uint4 *>(dst + r * ld + c * 8) =
			*reinterpret_cast<const uint4 *>(stage + r * LDS + c * 8);
	}
}

/* ------------------------------------------------------------ forward */

/* One block per (query tile, head, batch), heaviest query tiles (most key
 * tiles) first. Each lane holds, for its rows g and g+8 of the warp's 16,
 * the running max m (log2 domain), its own part l of the row sum (the four
 * lanes of a row add theirs at the end) and O in the C layout. */
__global__ void __launch_bounds__(NTHR)
	attn_fwd_mma(bf16 *out, float *lse, const bf16 *qkv, int T, int C, int NH, float sl2)
{
	extern __shared__ __align__(128) unsigned char smraw[];
	bf16 *Qs = reinterpret_cast<bf16 *>(smraw), *Ks = Qs + TILE_E, *Vs = Ks + 2 * TILE_E;
	const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
	const int qt = gridDim.x - 1 - blockIdx.x, h = blockIdx.y, b = blockIdx.z;
	const int C3 = 3 * C, q0 = qt * MT, r0 = 16 * w;
	const bf16 *qb = qkv + (size_t)b * T * C3 + (size_t)h * HD, *kb = qb + C, *vb = qb + 2 * C;

	load_tile(Qs, qb, C3, q0);
	load_kv(Ks, Vs, kb, vb, C3, 0, 0);
	cp_commit();

	uint32_t qf[4][4];
	float o[8][4], m[2] = { -INFINITY, -INFINITY }, l[2] = { 0.0f, 0.0f };
	zero(o);

	for (int kt = 0; kt <= qt; kt++) {
		const int cur = kt & 1;
		kv_step(Ks, Vs, kb, vb, C3, kt, qt);
		if (kt == 0)
#pragma unroll
			for (int kk = 0; kk < 4; kk++)
				ld_a(qf[kk], Qs, r0, 16 * kk);

		float s[8][4];
		mma_abt(s, qf, Ks + cur * TILE_E);
		/* s[j][e] is (row r0 + g + 8(e/2), key 8j + 2t + e%2) of the
		 * tile; only the diagonal tile (k0 == q0) has keys past a row */
#pragma unroll
		for (int j = 0; j < 8; j++)
#pragma unroll
			for (int e = 0; e < 4; e++) {
				int key = 8 * j + 2 * t + (e & 1), row = r0 + g + 8 * (e >> 1);
				s[j][e] = kt == qt && key > row ? -INFINITY : s[j][e] * sl2;
			}
		float mx[2] = { m[0], m[1] };
#pragma unroll
		for (int j = 0; j < 8; j++) {
			mx[0] = fmaxf(mx[0], fmaxf(s[j][0], s[j][1]));
			mx[1] = fmaxf(mx[1], fmaxf(s[j][2], s[j][3]));
		}
		/* Key 0 is in every row, so from the first tile on mx is finite
		 * and alpha = exp2(-inf) = 0 clears the empty start. */
		float alpha[2];
#pragma unroll
		for (int i = 0; i < 2; i++) {
			mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 1));
			mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 2));
			alpha[i] = exp2f(m[i] - mx[i]);
			m[i] = mx[i];
		}
#pragma unroll
		for (int j = 0; j < 8; j++)
#pragma unroll
			for (int e = 0; e < 4; e++)
				s[j][e] = exp2f(s[j][e] - m[e >> 1]);
		uint32_t pa[4][4];
		to_a(pa, s);
		/* the row sum of what the product uses: the bf16-rounded p */
		float rs[2] = { 0.0f, 0.0f };
#pragma unroll
		for (int kk = 0; kk < 4; kk++) {
			rs[0] += lo_f(pa[kk][0]) + hi_f(pa[kk][0]) + lo_f(pa[kk][2]) + hi_f(pa[kk][2]);
			rs[1] += lo_f(pa[kk][1]) + hi_f(pa[kk][1]) + lo_f(pa[kk][3]) + hi_f(pa[kk][3]);
		}
#pragma unroll
		for (int i = 0; i < 2; i++)
			l[i] = l[i] * alpha[i] + rs[i];
#pragma unroll
		for (int n = 0; n < 8; n++) {
			o[n][0] *= alpha[0];
			o[n][1] *= alpha[0];
			o[n][2] *= alpha[1];
			o[n][3] *= alpha[1];
		}
		mma_tile<true>(o, pa, Vs + cur * TILE_E);
	}

	/* the four lanes of a row: same two-step tree on each, same bits */
#pragma unroll
	for (int i = 0; i < 2; i++) {
		l[i] += __shfl_xor_sync(0xffffffffu, l[i], 1);
		l[i] += __shfl_xor_sync(0xffffffffu, l[i], 2);
	}
	float inv[2] = { 1.0f / l[0], 1.0f / l[1] };
#pragma unroll
	for (int n = 0; n < 8; n++)
#pragma unroll
		for (int e = 0; e < 4; e++)
			o[n][e] *= inv[e >> 1];
	/* the warp's own rows of the Q tile are free: its Q is in registers */
	store_rows(out + ((size_t)b * T + q0 + r0) * C + (size_t)h * HD, (size_t)C,
		   Qs + r0 * LDS, o, 1.0f);
	if (t == 0) {
		float *lr = lse + ((size_t)b * NH + h) * T + q0 + r0;
		lr[g] = m[0] * LN2 + logf(l[0]);
		lr[g + 8] = m[1] * LN2 + logf(l[1]);
	}
}

/* ----------------------------------------------------------- backward */

/* One block per (key tile, head, batch): dV = sum_q P^T dO and dK = scale
 * sum_q dS^T Q over query tiles kt..last, ascending (key tile 0 visits
 * every query tile: heaviest first). Computed transposed, keys as rows:
 * S^T = K Q^T, dP^T = V dO^T, so P^T and dS^T come out in the C layout
 * with keys as rows, which is the A layout of the dV and dK products. */
__global__ void __launch_bounds__(NTHR)
	attn_bwd_dkdv_mma(bf16 *dqkv, const bf16 *dout, const bf16 *qkv, const float *lse,
			  const float *D, int T, int C, int NH, float sl2, float scale)
{
	extern __shared__ __align__(128) unsigned char smraw[];
	bf16 *Ks = reinterpret_cast<bf16 *>(smraw), *Vs = Ks + TILE_E, *Qs = Vs + TILE_E;
	bf16 *dOs = Qs + 2 * TILE_E;
	float *lse_s = reinterpret_cast<float *>(dOs + 2 * TILE_E), *D_s = lse_s + 2 * MT;
	const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5, g = lane >> 2, t = lane & 3;
	const int kt = blockIdx.x, h = blockIdx.y, b = blockIdx.z, nt = gridDim.x;
	const int C3 = 3 * C, k0 = kt * MT, r0 = 16 * w;
	const bf16 *qb = qkv + (size_t)b * T * C3 + (size_t)h * HD, *kb = qb + C, *vb = qb + 2 * C;
	const bf16 *dob = dout + (size_t)b * T * C + (size_t)h * HD;
	const float *lseb = lse + ((size_t)b * NH + h) * T, *Db = D + ((size_t)b * NH + h) * T;

	/* query tile q1's Q, dO, lse and D into buffer set `buf` */
	auto load_q = [&](int q1, int buf) {
		load_tile(Qs + buf * TILE_E, qb, C3, q1);
		load_tile(dOs + buf * TILE_E, dob, C, q1);
		if (tid < MT)
			cp4(lse_s + buf * MT + tid, lseb + q1 + tid);
		else
			cp4(D_s + buf * MT + tid - MT, Db + q1 + tid - MT);
	};
	static_assert(NTHR == 2 * MT, "one lse or D element per thread");
	load_tile(Ks, kb, C3, k0);
	load_tile(Vs, vb, C3, k0);
	load_q(k0, 0);
	cp_commit();

	uint32_t kf[4][4], vf[4][4];
	float dk[8][4], dv[8][4];
	zero(dk);
	zero(dv);

	for (int qt = kt; qt < nt; qt++) {
		const int cur = (qt - kt) & 1;
		/* as kv_step, for query tiles */
		cp_wait_all();
		__syncthreads();
		if (qt == kt)
#pragma unroll
			for (int kk = 0; kk < 4; kk++) {
				ld_a(kf[kk], Ks, r0, 16 * kk);
				ld_a(vf[kk], Vs, r0, 16 * kk);
			}
		if (qt + 1 < nt) {
			load_q((qt + 1) * MT, cur ^ 1);
			cp_commit();
		}
		const bf16 *Qc = Qs + cur * TILE_E, *dOc = dOs + cur * TILE_E;
		const float *lc = lse_s + cur * MT, *Dc = D_s + cur * MT;

		float s[8][4], dp[8][4];
		mma_abt(s, kf, Qc);
		mma_abt(dp, vf, dOc);
		/* s[j][e], dp[j][e]: (key r0 + g + 8(e/2), query 8j + 2t + e%2)
		 * of the tiles; on the diagonal tile (q0 == k0) a key past the
		 * query is masked */
#pragma unroll
		for (int j = 0; j < 8; j++)
#pragma unroll
			for (int e = 0; e < 4; e++) {
				int q = 8 * j + 2 * t + (e & 1), key = r0 + g + 8 * (e >> 1);
				bool ok = qt > kt || key <= q;
				float p = ok ? exp2f(s[j][e] * sl2 - lc[q] * LOG2E) : 0.0f;
				s[j][e] = p;
				dp[j][e] = ok ? p * (dp[j][e] - Dc[q]) : 0.0f;
			}
		uint32_t pa[4][4];
		to_a(pa, s);
		mma_tile<true>(dv, pa, dOc);
		to_a(pa, dp);
		mma_tile<true>(dk, pa, Qc);
	}

	/* each warp's own rows of the K and V tiles are free: their
	 * fragments are in registers */
	bf16 *gk = dqkv + ((size_t)b * T + k0 + r0) * C3 + (size_t)h * HD;
	store_rows(gk + C, (size_t)C3, Ks + r0 * LDS, dk, scale);
	store_rows(gk + 2 * C, (size_t)C3, Vs + r0 * LDS, dv, 1.0f);
}

/* One block per (query tile, head, batch): dQ = scale sum_k dS K over key
 * tiles 0..qt, ascending, heaviest query tiles first. */
__global__ void __launch_bounds__(NTHR)
	attn_bwd_dq_mma(bf16 *dqkv, const bf16 *dout, const bf16 *qkv, const float *lse,
			const float *D, int T, int C, int NH, float sl2, float scale)
{
	extern __shared__ __align__(128) unsigned char smraw[];
	bf16 *Qs = reinterpret_cast<bf16 *>(smraw), *dOs = Qs + TILE_E, *Ks = dOs + TILE_E;
	bf16 *Vs = Ks + 2 * TILE_E;
	const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
	const int qt = gridDim.x - 1 - blockIdx.x, h = blockIdx.y, b = blockIdx.z;
	const int C3 = 3 * C, q0 = qt * MT, r0 = 16 * w;
	const bf16 *qb = qkv + (size_t)b * T * C3 + (size_t)h * HD, *kb = qb + C, *vb = qb + 2 * C;
	const bf16 *dob = dout + (size_t)b * T * C + (size_t)h * HD;

	load_tile(Qs, qb, C3, q0);
	load_tile(dOs, dob, C, q0);
	load_kv(Ks, Vs, kb, vb, C3, 0, 0);
	cp_commit();

	/* this lane's rows g and g+8: lse (log2 domain) and D */
	const size_t rb = ((size_t)b * NH + h) * T + q0 + r0;
	const float l2[2] = { lse[rb + g] * LOG2E, lse[rb + g + 8] * LOG2E };
	const float dd[2] = { D[rb + g], D[rb + g + 8] };
	uint32_t qf[4][4], df[4][4];
	float dq[8][4];
	zero(dq);

	for (int kt = 0; kt <= qt; kt++) {
		const int cur = kt & 1;
		kv_step(Ks, Vs, kb, vb, C3, kt, qt);
		if (kt == 0)
#pragma unroll
			for (int kk = 0; kk < 4; kk++) {
				ld_a(qf[kk], Qs, r0, 16 * kk);
				ld_a(df[kk], dOs, r0, 16 * kk);
			}
		const bf16 *Kc = Ks + cur * TILE_E;

		float s[8][4], dp[8][4];
		mma_abt(s, qf, Kc);
		mma_abt(dp, df, Vs + cur * TILE_E);
		/* (row r0 + g + 8(e/2), key 8j + 2t + e%2) of the tiles */
#pragma unroll
		for (int j = 0; j < 8; j++)
#pragma unroll
			for (int e = 0; e < 4; e++) {
				int key = 8 * j + 2 * t + (e & 1), row = r0 + g + 8 * (e >> 1);
				bool ok = kt < qt || key <= row;
				float p = ok ? exp2f(s[j][e] * sl2 - l2[e >> 1]) : 0.0f;
				dp[j][e] = ok ? p * (dp[j][e] - dd[e >> 1]) : 0.0f;
			}
		uint32_t pa[4][4];
		to_a(pa, dp);
		mma_tile<true>(dq, pa, Kc);
	}

	store_rows(dqkv + ((size_t)b * T + q0 + r0) * C3 + (size_t)h * HD, (size_t)C3,
		   Qs + r0 * LDS, dq, scale);
}

/* Dynamic shared memory: Q + 2 x (K, V) forward; K, V + 2 x (Q, dO, lse,
 * D) for dK/dV; Q, dO + 2 x (K, V) for dQ. All under the 227 KB a block
 * may have on Hopper; past 48 KB they need the opt-in. */
constexpr size_t FWD_SMEM = 5 * TILE_E * sizeof(bf16);
constexpr size_t DKDV_SMEM = 6 * TILE_E * sizeof(bf16) + 4 * MT * sizeof(float);
constexpr size_t DQ_SMEM = 6 * TILE_E * sizeof(bf16);

float sl2_for_hs64()
{
	return (1.0f / sqrtf((float)HD)) * LOG2E;
}

} /* namespace */

void gk_attn_mma_fwd(void *out, float *lse, const void *qkv, int B, int T, int C, int NH,
		     cudaStream_t s)
{
	dim3 grid(T / MT, NH, B);
	gk_attn_allow_smem(attn_fwd_mma, FWD_SMEM);
	attn_fwd_mma<<<grid, NTHR, FWD_SMEM, s>>>((bf16 *)out, lse, (const bf16 *)qkv, T, C, NH,
						   sl2_for_hs64());
}

void gk_attn_mma_bwd(void *dqkv, const void *dout, const void *qkv, const float *lse,
		     const float *D, int B, int T, int C, int NH, cudaStream_t s)
{
	const float scale = 1.0f / sqrtf((float)HD), sl2 = sl2_for_hs64();
	dim3 grid(T / MT, NH, B);
	gk_attn_allow_smem(attn_bwd_dkdv_mma, DKDV_SMEM);
	gk_attn_allow_smem(attn_bwd_dq_mma, DQ_SMEM);
	attn_bwd_dkdv_mma<<<grid, NTHR, DKDV_SMEM, s>>>((bf16 *)dqkv, (const bf16 *)dout,
							 (const bf16 *)qkv, lse, D, T, C, NH, sl2,
							 scale);
	attn_bwd_dq_mma<<<grid, NTHR, DQ_SMEM, s>>>((bf16 *)dqkv, (const bf16 *)dout,
						     (const bf16 *)qkv, lse, D, T, C, NH, sl2, scale);
}
