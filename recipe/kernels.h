/* kernels.h: the recipe's matrix multiply, the one hot loop of training.
 * Owns packing and the micro-kernels (AVX2/FMA, AVX-512 chosen at run
 * time, plain C with fmaf in the portable build). Never lets the thread count
 * change a result: every output element is one accumulator summed over k in
 * ascending order, and work is split into tiles fixed by the shape alone. */
#ifndef RECIPE_KERNELS_H
#define RECIPE_KERNELS_H

#include <stddef.h>

/* Micro-kernel shape: MR rows x NR columns of C held in 12 ymm registers. */
#define KN_MR 6
#define KN_NR 16

/* A strided view of a matrix: element (i, j) is p[i*rs + j*cs]. Transposes
 * are just swapped strides; packing makes every view contiguous. */
struct kn_view {
	const float *p;
	ptrdiff_t rs, cs;
};

/* Packing space for one gemm: A as MR-row panels, B as NR-column panels. */
struct kn_scratch {
	float *pa, *pb;
	size_t pa_floats, pb_floats;
};

/* Floats of packing space a gemm of this shape needs. */
size_t kn_pack_a_floats(int M, int K);
size_t kn_pack_b_floats(int N, int K);

/* C[M,N] (ldc) = (accumulate ? C : 0) + A[M,K] * B[K,N].
 * kn_gemm splits the tiles over the OpenMP team; kn_gemm_serial runs on the
 * calling thread only (used inside an already parallel loop). Both give the
 * same bits. */
void kn_gemm(int M, int N, int K, struct kn_view A, struct kn_view B, float *C, int ldc,
	     int accumulate, struct kn_scratch *s);
void kn_gemm_serial(int M, int N, int K, struct kn_view A, struct kn_view B, float *C, int ldc,
		    int accumulate, struct kn_scratch *s);

/* The micro-kernel the gemm uses on this CPU: "avx512" (chosen at run time
 * where the CPU has AVX-512F), "avx2", or "portable" (KARPA_PORTABLE). All
 * give the same bits. kn_set_avx512(0) keeps the AVX2 kernel (tests compare
 * the two); call it only while no gemm runs. */
const char *kn_isa(void);
void kn_set_avx512(int allowed);

/* Plain triple loop with the same summation order: the reference the tests
 * compare the fast path against. */
void kn_gemm_ref(int M, int N, int K, struct kn_view A, struct kn_view B, float *C, int ldc,
		 int accumulate);

#endif
