/* kernels.c: packed AVX2/FMA gemm for the recipe (see kernels.h).
 * Owns the only floating-point reduction order that matters for speed:
 * C[i,j] = C0 + fma-chain over k = 0..K-1 in one accumulator. Never splits a
 * reduction over k, so tiling and threads cannot change a bit; the scalar
 * reference uses fmaf in the same order and matches exactly. */
#include "kernels.h"

#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <string.h>

/* Tile of C handed to one thread: TM_PANELS x TN_PANELS micro-panels
 * (48 x 256 floats). Fixed constants, never derived from the thread count:
 * 48 rows of A at K=256 (48 KB) stay in L2 while one 16-column B panel
 * (16 KB) is reused from L1 across the 8 row panels. */
#define TM_PANELS 8
#define TN_PANELS 16

static int cdiv(int a, int b)
{
	return (a + b - 1) / b;
}

size_t kn_pack_a_floats(int M, int K)
{
	return (size_t)cdiv(M, KN_MR) * KN_MR * (size_t)K;
}

size_t kn_pack_b_floats(int N, int K)
{
	return (size_t)cdiv(N, KN_NR) * KN_NR * (size_t)K;
}

/* Panel p of A: rows p*MR.., stored k-major (MR values per k), zero-padded. */
static void pack_a_panel(int M, int K, struct kn_view A, int p, float *dst)
{
	int i0 = p * KN_MR, rows = M - i0 < KN_MR ? M - i0 : KN_MR;

	for (int k = 0; k < K; k++) {
		const float *src = A.p + (ptrdiff_t)i0 * A.rs + (ptrdiff_t)k * A.cs;
		int i = 0;
		for (; i < rows; i++)
			dst[(size_t)k * KN_MR + i] = src[(ptrdiff_t)i * A.rs];
		for (; i < KN_MR; i++)
			dst[(size_t)k * KN_MR + i] = 0.0f;
	}
}

/* Panel p of B: columns p*NR.., stored k-major (NR values per k). */
static void pack_b_panel(int N, int K, struct kn_view B, int p, float *dst)
{
	int j0 = p * KN_NR, cols = N - j0 < KN_NR ? N - j0 : KN_NR;

	for (int k = 0; k < K; k++) {
		const float *src = B.p + (ptrdiff_t)k * B.rs + (ptrdiff_t)j0 * B.cs;
		float *d = dst + (size_t)k * KN_NR;
		int j = 0;
		if (B.cs == 1 && cols == KN_NR) {
			memcpy(d, src, KN_NR * sizeof *d);
			continue;
		}
		for (; j < cols; j++)
			d[j] = src[(ptrdiff_t)j * B.cs];
		for (; j < KN_NR; j++)
			d[j] = 0.0f;
	}
}

/* The micro-kernel: a 6x16 block of C from one packed A panel and one
 * packed B panel, in 12 named ymm accumulators (an array would be spilled to
 * the stack by the compiler every iteration). Edge blocks go through a
 * 6x16 buffer so the inner loop is always the full shape. */
static void micro(int K, const float *pa, const float *pb, float *C, int ldc, int rows, int cols,
		  int accumulate)
{
	float buf[KN_MR * KN_NR] __attribute__((aligned(32)));
	int full = rows == KN_MR && cols == KN_NR;
	float *out = full ? C : buf;
	size_t ld = full ? (size_t)ldc : KN_NR;
	__m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;

	if (!full) {
		memset(buf, 0, sizeof buf);
		if (accumulate)
			for (int i = 0; i < rows; i++)
				for (int j = 0; j < cols; j++)
					buf[i * KN_NR + j] = C[(size_t)i * ldc + j];
	}
	if (accumulate) {
		c00 = _mm256_loadu_ps(out + 0 * ld); c01 = _mm256_loadu_ps(out + 0 * ld + 8);
		c10 = _mm256_loadu_ps(out + 1 * ld); c11 = _mm256_loadu_ps(out + 1 * ld + 8);
		c20 = _mm256_loadu_ps(out + 2 * ld); c21 = _mm256_loadu_ps(out + 2 * ld + 8);
		c30 = _mm256_loadu_ps(out + 3 * ld); c31 = _mm256_loadu_ps(out + 3 * ld + 8);
		c40 = _mm256_loadu_ps(out + 4 * ld); c41 = _mm256_loadu_ps(out + 4 * ld + 8);
		c50 = _mm256_loadu_ps(out + 5 * ld); c51 = _mm256_loadu_ps(out + 5 * ld + 8);
	} else {
		c00 = c01 = c10 = c11 = c20 = c21 = _mm256_setzero_ps();
		c30 = c31 = c40 = c41 = c50 = c51 = _mm256_setzero_ps();
	}
	for (int k = 0; k < K; k++) {
		const float *a = pa + (size_t)k * KN_MR;
		__m256 b0 = _mm256_load_ps(pb + (size_t)k * KN_NR);
		__m256 b1 = _mm256_load_ps(pb + (size_t)k * KN_NR + 8);
		__m256 x;
		x = _mm256_broadcast_ss(a + 0); c00 = _mm256_fmadd_ps(x, b0, c00); c01 = _mm256_fmadd_ps(x, b1, c01);
		x = _mm256_broadcast_ss(a + 1); c10 = _mm256_fmadd_ps(x, b0, c10); c11 = _mm256_fmadd_ps(x, b1, c11);
		x = _mm256_broadcast_ss(a + 2); c20 = _mm256_fmadd_ps(x, b0, c20); c21 = _mm256_fmadd_ps(x, b1, c21);
		x = _mm256_broadcast_ss(a + 3); c30 = _mm256_fmadd_ps(x, b0, c30); c31 = _mm256_fmadd_ps(x, b1, c31);
		x = _mm256_broadcast_ss(a + 4); c40 = _mm256_fmadd_ps(x, b0, c40); c41 = _mm256_fmadd_ps(x, b1, c41);
		x = _mm256_broadcast_ss(a + 5); c50 = _mm256_fmadd_ps(x, b0, c50); c51 = _mm256_fmadd_ps(x, b1, c51);
	}
	_mm256_storeu_ps(out + 0 * ld, c00); _mm256_storeu_ps(out + 0 * ld + 8, c01);
	_mm256_storeu_ps(out + 1 * ld, c10); _mm256_storeu_ps(out + 1 * ld + 8, c11);
	_mm256_storeu_ps(out + 2 * ld, c20); _mm256_storeu_ps(out + 2 * ld + 8, c21);
	_mm256_storeu_ps(out + 3 * ld, c30); _mm256_storeu_ps(out + 3 * ld + 8, c31);
	_mm256_storeu_ps(out + 4 * ld, c40); _mm256_storeu_ps(out + 4 * ld + 8, c41);
	_mm256_storeu_ps(out + 5 * ld, c50); _mm256_storeu_ps(out + 5 * ld + 8, c51);
	if (!full)
		for (int i = 0; i < rows; i++)
			for (int j = 0; j < cols; j++)
				C[(size_t)i * ldc + j] = buf[i * KN_NR + j];
}

/* One tile: row panels [pm0, pm1) x column panels [pn0, pn1). */
static void tile(int M, int N, int K, const float *pa, const float *pb, float *C, int ldc,
		 int accumulate, int pm0, int pm1, int pn0, int pn1)
{
	for (int pn = pn0; pn < pn1; pn++) {
		int j0 = pn * KN_NR, cols = N - j0 < KN_NR ? N - j0 : KN_NR;
		const float *b = pb + (size_t)pn * KN_NR * K;
		for (int pm = pm0; pm < pm1; pm++) {
			int i0 = pm * KN_MR, rows = M - i0 < KN_MR ? M - i0 : KN_MR;
			micro(K, pa + (size_t)pm * KN_MR * K, b, C + (size_t)i0 * ldc + j0, ldc, rows,
			      cols, accumulate);
		}
	}
}

void kn_gemm(int M, int N, int K, struct kn_view A, struct kn_view B, float *C, int ldc,
	     int accumulate, struct kn_scratch *s)
{
	int npm = cdiv(M, KN_MR), npn = cdiv(N, KN_NR);
	int tm = cdiv(npm, TM_PANELS), tn = cdiv(npn, TN_PANELS);

	if (M <= 0 || N <= 0)
		return;
	/* Each panel is packed by exactly one thread; which one does not matter. */
#pragma omp parallel
	{
#pragma omp for schedule(static) nowait
		for (int p = 0; p < npm; p++)
			pack_a_panel(M, K, A, p, s->pa + (size_t)p * KN_MR * K);
#pragma omp for schedule(static)
		for (int p = 0; p < npn; p++)
			pack_b_panel(N, K, B, p, s->pb + (size_t)p * KN_NR * K);
#pragma omp for schedule(dynamic, 1)
		for (int t = 0; t < tm * tn; t++) {
			int bm = t % tm, bn = t / tm;
			int pm1 = (bm + 1) * TM_PANELS, pn1 = (bn + 1) * TN_PANELS;
			tile(M, N, K, s->pa, s->pb, C, ldc, accumulate, bm * TM_PANELS,
			     pm1 < npm ? pm1 : npm, bn * TN_PANELS, pn1 < npn ? pn1 : npn);
		}
	}
}

void kn_gemm_serial(int M, int N, int K, struct kn_view A, struct kn_view B, float *C, int ldc,
		    int accumulate, struct kn_scratch *s)
{
	int npm = cdiv(M, KN_MR), npn = cdiv(N, KN_NR);

	if (M <= 0 || N <= 0)
		return;
	for (int p = 0; p < npm; p++)
		pack_a_panel(M, K, A, p, s->pa + (size_t)p * KN_MR * K);
	for (int p = 0; p < npn; p++)
		pack_b_panel(N, K, B, p, s->pb + (size_t)p * KN_NR * K);
	tile(M, N, K, s->pa, s->pb, C, ldc, accumulate, 0, npm, 0, npn);
}

void kn_gemm_ref(int M, int N, int K, struct kn_view A, struct kn_view B, float *C, int ldc,
		 int accumulate)
{
	for (int i = 0; i < M; i++)
		for (int j = 0; j < N; j++) {
			float acc = accumulate ? C[(size_t)i * ldc + j] : 0.0f;
			for (int k = 0; k < K; k++)
				acc = fmaf(A.p[i * A.rs + k * A.cs], B.p[k * B.rs + j * B.cs], acc);
			C[(size_t)i * ldc + j] = acc;
		}
}
