/* kernels.c: packed AVX2/FMA gemm for the recipe (see kernels.h), and its
 * portable plain-C twin (fmaf) for the KARPA_PORTABLE build.
 * Owns the only floating-point reduction order that matters for speed:
 * C[i,j] = C0 + fma-chain over k = 0..K-1 in one accumulator. Never splits a
 * reduction over k, so tiling and threads cannot change a bit; the scalar
 * reference uses fmaf in the same order and matches exactly. */
#include "kernels.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "kmath.h" /* KM_AVX2: the one switch between the AVX2 and the portable build */

#ifdef KM_AVX2
#include <immintrin.h>
#endif

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

#ifdef KM_AVX2
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
#else
/* The portable micro-kernel (KARPA_PORTABLE, or a CPU without AVX2): the
 * same 6x16 block, each element one accumulator chained through fmaf over
 * k in ascending order, exactly what each lane of _mm256_fmadd_ps does, so
 * it gives the AVX2 build's bits. Padding rows and columns are never
 * computed, which cannot change the others. */
static void micro(int K, const float *pa, const float *pb, float *C, int ldc, int rows, int cols,
		  int accumulate)
{
	float acc[KN_MR][KN_NR];

	for (int i = 0; i < rows; i++)
		for (int j = 0; j < cols; j++)
			acc[i][j] = accumulate ? C[(size_t)i * ldc + j] : 0.0f;
	for (int k = 0; k < K; k++) {
		const float *a = pa + (size_t)k * KN_MR, *b = pb + (size_t)k * KN_NR;
		for (int i = 0; i < rows; i++)
			for (int j = 0; j < cols; j++)
				acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
	}
	for (int i = 0; i < rows; i++)
		for (int j = 0; j < cols; j++)
			C[(size_t)i * ldc + j] = acc[i][j];
}
#endif

#ifdef KM_AVX2
/* The AVX-512 micro-kernel, chosen at run time where the CPU has it: a full
 * 6 x 32 block from one A panel and two adjacent B panels, in 12 zmm
 * accumulators. Each element is still one accumulator chained through FMA
 * over k in ascending order, as in the AVX2 kernel, so the width of the
 * register cannot change a bit. Edge blocks stay with the AVX2 kernel. */
__attribute__((target("avx512f"))) static void micro2_avx512(int K, const float *pa, const float *pb0,
							     const float *pb1, float *C, int ldc,
							     int accumulate)
{
	size_t ld = (size_t)ldc;
	__m512 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;

	if (accumulate) {
		c00 = _mm512_loadu_ps(C + 0 * ld); c01 = _mm512_loadu_ps(C + 0 * ld + 16);
		c10 = _mm512_loadu_ps(C + 1 * ld); c11 = _mm512_loadu_ps(C + 1 * ld + 16);
		c20 = _mm512_loadu_ps(C + 2 * ld); c21 = _mm512_loadu_ps(C + 2 * ld + 16);
		c30 = _mm512_loadu_ps(C + 3 * ld); c31 = _mm512_loadu_ps(C + 3 * ld + 16);
		c40 = _mm512_loadu_ps(C + 4 * ld); c41 = _mm512_loadu_ps(C + 4 * ld + 16);
		c50 = _mm512_loadu_ps(C + 5 * ld); c51 = _mm512_loadu_ps(C + 5 * ld + 16);
	} else {
		c00 = c01 = c10 = c11 = c20 = c21 = _mm512_setzero_ps();
		c30 = c31 = c40 = c41 = c50 = c51 = _mm512_setzero_ps();
	}
	for (int k = 0; k < K; k++) {
		const float *a = pa + (size_t)k * KN_MR;
		__m512 b0 = _mm512_loadu_ps(pb0 + (size_t)k * KN_NR);
		__m512 b1 = _mm512_loadu_ps(pb1 + (size_t)k * KN_NR);
		__m512 x;
		x = _mm512_set1_ps(a[0]); c00 = _mm512_fmadd_ps(x, b0, c00); c01 = _mm512_fmadd_ps(x, b1, c01);
		x = _mm512_set1_ps(a[1]); c10 = _mm512_fmadd_ps(x, b0, c10); c11 = _mm512_fmadd_ps(x, b1, c11);
		x = _mm512_set1_ps(a[2]); c20 = _mm512_fmadd_ps(x, b0, c20); c21 = _mm512_fmadd_ps(x, b1, c21);
		x = _mm512_set1_ps(a[3]); c30 = _mm512_fmadd_ps(x, b0, c30); c31 = _mm512_fmadd_ps(x, b1, c31);
		x = _mm512_set1_ps(a[4]); c40 = _mm512_fmadd_ps(x, b0, c40); c41 = _mm512_fmadd_ps(x, b1, c41);
		x = _mm512_set1_ps(a[5]); c50 = _mm512_fmadd_ps(x, b0, c50); c51 = _mm512_fmadd_ps(x, b1, c51);
	}
	_mm512_storeu_ps(C + 0 * ld, c00); _mm512_storeu_ps(C + 0 * ld + 16, c01);
	_mm512_storeu_ps(C + 1 * ld, c10); _mm512_storeu_ps(C + 1 * ld + 16, c11);
	_mm512_storeu_ps(C + 2 * ld, c20); _mm512_storeu_ps(C + 2 * ld + 16, c21);
	_mm512_storeu_ps(C + 3 * ld, c30); _mm512_storeu_ps(C + 3 * ld + 16, c31);
	_mm512_storeu_ps(C + 4 * ld, c40); _mm512_storeu_ps(C + 4 * ld + 16, c41);
	_mm512_storeu_ps(C + 5 * ld, c50); _mm512_storeu_ps(C + 5 * ld + 16, c51);
}

/* The AVX-512 kernel runs where the CPU has it unless a test turned it off. */
static int avx512_allowed = 1;

void kn_set_avx512(int allowed)
{
	avx512_allowed = allowed;
}

static int avx512_on(void)
{
	return avx512_allowed && __builtin_cpu_supports("avx512f");
}

const char *kn_isa(void)
{
	return avx512_on() ? "avx512" : "avx2";
}
#else
void kn_set_avx512(int allowed)
{
	(void)allowed;
}

static int avx512_on(void)
{
	return 0;
}

const char *kn_isa(void)
{
	return "portable";
}
#endif

/* One tile: row panels [pm0, pm1) x column panels [pn0, pn1). With
 * AVX-512, full column panels go in pairs (micro2_avx512); everything else
 * through micro. Which kernel computes an element never changes its bits. */
static void tile(int M, int N, int K, const float *pa, const float *pb, float *C, int ldc,
		 int accumulate, int pm0, int pm1, int pn0, int pn1)
{
	int wide = avx512_on();

	for (int pn = pn0; pn < pn1;) {
		int j0 = pn * KN_NR, cols = N - j0 < KN_NR ? N - j0 : KN_NR;
		int pair = wide && pn + 1 < pn1 && N - j0 >= 2 * KN_NR;
		const float *b = pb + (size_t)pn * KN_NR * K;
		for (int pm = pm0; pm < pm1; pm++) {
			int i0 = pm * KN_MR, rows = M - i0 < KN_MR ? M - i0 : KN_MR;
			const float *a = pa + (size_t)pm * KN_MR * K;
			float *c = C + (size_t)i0 * ldc + j0;
#ifdef KM_AVX2
			if (pair && rows == KN_MR) {
				micro2_avx512(K, a, b, b + (size_t)KN_NR * K, c, ldc, accumulate);
				continue;
			}
#endif
			micro(K, a, b, c, ldc, rows, cols, accumulate);
			if (pair)
				micro(K, a, b + (size_t)KN_NR * K, c + KN_NR, ldc, rows, KN_NR, accumulate);
		}
		pn += pair ? 2 : 1;
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
