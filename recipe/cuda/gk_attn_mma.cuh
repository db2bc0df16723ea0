/* gk_attn_mma.cuh: what the attention dispatcher (gk_attn.cu) shares with
 * the mma path (gk_attn_mma.cu): that path's launchers, and the launch
 * error check and shared-memory opt-in both files use. CUDA C++, internal
 * to recipe/cuda; the public contract is gk.h's attention section. */
#ifndef KARPA_GK_ATTN_MMA_CUH
#define KARPA_GK_ATTN_MMA_CUH

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#define GK_ATTN_CHECK(call)                                                              \
	do {                                                                             \
		cudaError_t e_ = (call);                                                 \
		if (e_ != cudaSuccess) {                                                 \
			fprintf(stderr, "gk_attn: %s failed at %s:%d: %s\n", #call, __FILE__,  \
				__LINE__, cudaGetErrorString(e_));                               \
			abort();                                                         \
		}                                                                        \
	} while (0)

/* Opting a kernel into more than 48 KB of dynamic shared memory is a
 * per-function attribute; setting it on every launch is cheap and keeps
 * the code free of init-order state. */
template <typename K>
inline void gk_attn_allow_smem(K kernel, size_t bytes)
{
	GK_ATTN_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
					   (int)bytes));
}

/* Query and key tiles of the mma path are this many rows; T must be a
 * multiple of it. */
constexpr int GK_ATTN_MMA_TILE = 64;

/* The mma path, for bf16 storage, head size 64, T % GK_ATTN_MMA_TILE == 0
 * and 16-byte-aligned qkv, out, dout and dqkv (the dispatcher checks all
 * of it). gk_attn_fwd's contract. The backward takes D [B, NH, T] =
 * rowsum(dO * O), already computed, and writes all of dqkv. */
void gk_attn_mma_fwd(void *out, float *lse, const void *qkv, int B, int T, int C, int NH,
		     cudaStream_t s);
void gk_attn_mma_bwd(void *dqkv, const void *dout, const void *qkv, const float *lse,
		     const float *D, int B, int T, int C, int NH, cudaStream_t s);

#endif
