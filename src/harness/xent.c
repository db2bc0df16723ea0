/* xent.c: the evaluator's per-position cross-entropy (xent.h), a plain C
 * reference and two x86-64 vector paths with its bits. The vector exp
 * functions are kmath's kexp lane by lane: the same IEEE operations in the
 * same order, no FMA (the project builds with -ffp-contract=off, which also
 * keeps the compiler from fusing the intrinsics' multiplies and adds). The
 * AVX2 and AVX-512 paths are deliberate twins, one per instruction set,
 * each to be read against kexp line by line. */
#include "harness/xent.h"

#include <math.h>
#include <string.h>

#include "kmath.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define XENT_X86 1
#define XENT_TARGET_AVX2 __attribute__((target("avx2")))
#define XENT_TARGET_AVX512 __attribute__((target("avx512f")))
#endif

static int forced = -1;

/* ---------------------------------------------------------- reference */

static int scalar_one(const float *l, int V, int target, double *nats)
{
	double m = l[0], s = 0;

	for (int v = 0; v < V; v++) {
		if (!isfinite(l[v]))
			return -1;
		if (l[v] > m)
			m = l[v];
	}
	for (int v = 0; v < V; v++)
		s += kexp((double)l[v] - m);
	/* the margin to the max first, then the log-sum: both are >= 0, so
	 * rounding cannot cancel the log-sum away (m + log(s) - l rounds to
	 * exactly 0 for logits near 2^57, whatever s is) */
	*nats = (m - (double)l[target]) + klog(s);
	return 0;
}

static int scalar_positions(const float *lg, const uint16_t *tg, int n, int V, double *nats)
{
	for (int i = 0; i < n; i++)
		if (scalar_one(lg + (size_t)i * V, V, tg[i], &nats[i]) < 0)
			return -1;
	return 0;
}

#ifdef XENT_X86
/* ------------------------------------------------------------- AVX2 */

/* The max of l[0..V-1] (exact in any order: max only picks), or -1 when
 * one is not finite (x - x is 0 for a finite x only). */
static XENT_TARGET_AVX2 int max_avx2(const float *l, int V, double *m)
{
	__m256 mx = _mm256_set1_ps(l[0]), ok = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
	float lanes[8], best;
	int v = 0, fine = 1;

	for (; v + 8 <= V; v += 8) {
		__m256 x = _mm256_loadu_ps(l + v);
		ok = _mm256_and_ps(ok, _mm256_cmp_ps(_mm256_sub_ps(x, x), _mm256_setzero_ps(), _CMP_EQ_OQ));
		mx = _mm256_max_ps(mx, x);
	}
	_mm256_storeu_ps(lanes, mx);
	fine = _mm256_movemask_ps(ok) == 0xff;
	best = lanes[0];
	for (int k = 1; k < 8; k++)
		best = lanes[k] > best ? lanes[k] : best;
	for (; v < V; v++) {
		fine &= isfinite(l[v]) != 0;
		best = l[v] > best ? l[v] : best;
	}
	*m = best;
	return fine ? 0 : -1;
}

/* kexp of XENT_BLOCK vectors in place, step by step across them: eight
 * independent chains, so the polynomial's dependent adds and multiplies
 * overlap instead of waiting on each other. */
static inline __attribute__((always_inline)) XENT_TARGET_AVX2 void kexp4d_block(__m256d *x)
{
	const __m256d shift = _mm256_set1_pd(KM_SHIFT);
	__m256d kf[XENT_BLOCK], r[XENT_BLOCK], p[XENT_BLOCK];
	__m256i kb[XENT_BLOCK];

	#pragma GCC unroll 16
	for (int j = 0; j < XENT_BLOCK; j++) {
		__m256d xj = _mm256_min_pd(_mm256_max_pd(x[j], _mm256_set1_pd(KM_EXP_LO)), _mm256_set1_pd(KM_EXP_HI));
		__m256d t = _mm256_add_pd(_mm256_mul_pd(xj, _mm256_set1_pd(KM_LOG2E)), shift);
		kb[j] = _mm256_add_epi64(
			_mm256_sub_epi64(_mm256_castpd_si256(t), _mm256_set1_epi64x((long long)km_dbits(KM_SHIFT))),
			_mm256_set1_epi64x(KM_EXP_BIAS));
		kf[j] = _mm256_sub_pd(t, shift);
		r[j] = _mm256_sub_pd(_mm256_sub_pd(xj, _mm256_mul_pd(kf[j], _mm256_set1_pd(KM_LN2_HI))),
				     _mm256_mul_pd(kf[j], _mm256_set1_pd(KM_LN2_LO)));
		p[j] = _mm256_set1_pd(km_exp_c[13]);
	}
	#pragma GCC unroll 16
	for (int i = 12; i >= 2; i--)
		#pragma GCC unroll 16
		for (int j = 0; j < XENT_BLOCK; j++)
			p[j] = _mm256_add_pd(_mm256_set1_pd(km_exp_c[i]), _mm256_mul_pd(r[j], p[j]));
	#pragma GCC unroll 16
	for (int j = 0; j < XENT_BLOCK; j++) {
		__m256i k1 = _mm256_sub_epi64(_mm256_srli_epi64(kb[j], 1), _mm256_set1_epi64x(KM_EXP_BIAS / 2));
		__m256i k2 = _mm256_sub_epi64(_mm256_sub_epi64(kb[j], _mm256_set1_epi64x(KM_EXP_BIAS)), k1);
		__m256d q = _mm256_add_pd(_mm256_set1_pd(1.0), _mm256_add_pd(r[j], _mm256_mul_pd(_mm256_mul_pd(r[j], r[j]), p[j])));
		q = _mm256_mul_pd(q, _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(k1, _mm256_set1_epi64x(1023)), 52)));
		x[j] = _mm256_mul_pd(q, _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(k2, _mm256_set1_epi64x(1023)), 52)));
	}
}

/* Up to XENT_BLOCK positions: the exponentials four at a time, then each
 * position's sum gains them one by one, in v order. */
static XENT_TARGET_AVX2 int block_avx2(const float *lg, const uint16_t *tg, int nb, int V, double *nats)
{
	double m[XENT_BLOCK], s[XENT_BLOCK] = { 0 }, e[XENT_BLOCK][4];
	int v = 0;

	for (int j = 0; j < nb; j++)
		if (max_avx2(lg + (size_t)j * V, V, &m[j]) < 0)
			return -1;
	for (int j = nb; j < XENT_BLOCK; j++)
		m[j] = m[0];
	for (; v + 4 <= V; v += 4) {
		__m256d x[XENT_BLOCK];
		/* a short block computes its first position again in the spare lanes */
		#pragma GCC unroll 16
		for (int j = 0; j < XENT_BLOCK; j++)
			x[j] = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(lg + (size_t)(j < nb ? j : 0) * V + v)),
					     _mm256_set1_pd(m[j]));
		kexp4d_block(x);
		#pragma GCC unroll 16
		for (int j = 0; j < nb; j++)
			_mm256_storeu_pd(e[j], x[j]);
		#pragma GCC unroll 16
		for (int k = 0; k < 4; k++)
			for (int j = 0; j < nb; j++)
				s[j] += e[j][k];
	}
	for (; v < V; v++)
		for (int j = 0; j < nb; j++)
			s[j] += kexp((double)lg[(size_t)j * V + v] - m[j]);
	for (int j = 0; j < nb; j++)
		nats[j] = (m[j] - (double)lg[(size_t)j * V + tg[j]]) + klog(s[j]); /* as scalar_one */
	return 0;
}

/* ----------------------------------------------------------- AVX-512 */

static XENT_TARGET_AVX512 int max_avx512(const float *l, int V, double *m)
{
	__m512 mx = _mm512_set1_ps(l[0]);
	__mmask16 ok = 0xffff;
	float best;
	int v = 0, fine;

	for (; v + 16 <= V; v += 16) {
		__m512 x = _mm512_loadu_ps(l + v);
		ok &= _mm512_cmp_ps_mask(_mm512_sub_ps(x, x), _mm512_setzero_ps(), _CMP_EQ_OQ);
		mx = _mm512_max_ps(mx, x);
	}
	fine = ok == 0xffff;
	best = _mm512_reduce_max_ps(mx);
	for (; v < V; v++) {
		fine &= isfinite(l[v]) != 0;
		best = l[v] > best ? l[v] : best;
	}
	*m = best;
	return fine ? 0 : -1;
}

static inline __attribute__((always_inline)) XENT_TARGET_AVX512 void kexp8d_block(__m512d *x)
{
	const __m512d shift = _mm512_set1_pd(KM_SHIFT);
	__m512d kf[XENT_BLOCK], r[XENT_BLOCK], p[XENT_BLOCK];
	__m512i kb[XENT_BLOCK];

	#pragma GCC unroll 16
	for (int j = 0; j < XENT_BLOCK; j++) {
		__m512d xj = _mm512_min_pd(_mm512_max_pd(x[j], _mm512_set1_pd(KM_EXP_LO)), _mm512_set1_pd(KM_EXP_HI));
		__m512d t = _mm512_add_pd(_mm512_mul_pd(xj, _mm512_set1_pd(KM_LOG2E)), shift);
		kb[j] = _mm512_add_epi64(
			_mm512_sub_epi64(_mm512_castpd_si512(t), _mm512_set1_epi64((long long)km_dbits(KM_SHIFT))),
			_mm512_set1_epi64(KM_EXP_BIAS));
		kf[j] = _mm512_sub_pd(t, shift);
		r[j] = _mm512_sub_pd(_mm512_sub_pd(xj, _mm512_mul_pd(kf[j], _mm512_set1_pd(KM_LN2_HI))),
				     _mm512_mul_pd(kf[j], _mm512_set1_pd(KM_LN2_LO)));
		p[j] = _mm512_set1_pd(km_exp_c[13]);
	}
	#pragma GCC unroll 16
	for (int i = 12; i >= 2; i--)
		#pragma GCC unroll 16
		for (int j = 0; j < XENT_BLOCK; j++)
			p[j] = _mm512_add_pd(_mm512_set1_pd(km_exp_c[i]), _mm512_mul_pd(r[j], p[j]));
	#pragma GCC unroll 16
	for (int j = 0; j < XENT_BLOCK; j++) {
		__m512i k1 = _mm512_sub_epi64(_mm512_srli_epi64(kb[j], 1), _mm512_set1_epi64(KM_EXP_BIAS / 2));
		__m512i k2 = _mm512_sub_epi64(_mm512_sub_epi64(kb[j], _mm512_set1_epi64(KM_EXP_BIAS)), k1);
		__m512d q = _mm512_add_pd(_mm512_set1_pd(1.0), _mm512_add_pd(r[j], _mm512_mul_pd(_mm512_mul_pd(r[j], r[j]), p[j])));
		q = _mm512_mul_pd(q, _mm512_castsi512_pd(_mm512_slli_epi64(_mm512_add_epi64(k1, _mm512_set1_epi64(1023)), 52)));
		x[j] = _mm512_mul_pd(q, _mm512_castsi512_pd(_mm512_slli_epi64(_mm512_add_epi64(k2, _mm512_set1_epi64(1023)), 52)));
	}
}

static XENT_TARGET_AVX512 int block_avx512(const float *lg, const uint16_t *tg, int nb, int V, double *nats)
{
	double m[XENT_BLOCK], s[XENT_BLOCK] = { 0 }, e[XENT_BLOCK][8];
	int v = 0;

	for (int j = 0; j < nb; j++)
		if (max_avx512(lg + (size_t)j * V, V, &m[j]) < 0)
			return -1;
	for (int j = nb; j < XENT_BLOCK; j++)
		m[j] = m[0];
	for (; v + 8 <= V; v += 8) {
		__m512d x[XENT_BLOCK];

		#pragma GCC unroll 16
		for (int j = 0; j < XENT_BLOCK; j++)
			x[j] = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_loadu_ps(lg + (size_t)(j < nb ? j : 0) * V + v)),
					     _mm512_set1_pd(m[j]));
		kexp8d_block(x);
		#pragma GCC unroll 16
		for (int j = 0; j < nb; j++)
			_mm512_storeu_pd(e[j], x[j]);
		#pragma GCC unroll 16
		for (int k = 0; k < 8; k++)
			for (int j = 0; j < nb; j++)
				s[j] += e[j][k];
	}
	for (; v < V; v++)
		for (int j = 0; j < nb; j++)
			s[j] += kexp((double)lg[(size_t)j * V + v] - m[j]);
	for (int j = 0; j < nb; j++)
		nats[j] = (m[j] - (double)lg[(size_t)j * V + tg[j]]) + klog(s[j]); /* as scalar_one */
	return 0;
}

static XENT_TARGET_AVX2 void exps_avx2(const double *x, int n, double *out)
{
	int i = 0;

	for (; i + 4 * XENT_BLOCK <= n; i += 4 * XENT_BLOCK) {
		__m256d v[XENT_BLOCK];
		#pragma GCC unroll 16
		for (int j = 0; j < XENT_BLOCK; j++)
			v[j] = _mm256_loadu_pd(x + i + 4 * j);
		kexp4d_block(v);
		#pragma GCC unroll 16
		for (int j = 0; j < XENT_BLOCK; j++)
			_mm256_storeu_pd(out + i + 4 * j, v[j]);
	}
	for (; i < n; i++)
		out[i] = kexp(x[i]);
}

static XENT_TARGET_AVX512 void exps_avx512(const double *x, int n, double *out)
{
	int i = 0;

	for (; i + 8 * XENT_BLOCK <= n; i += 8 * XENT_BLOCK) {
		__m512d v[XENT_BLOCK];
		#pragma GCC unroll 16
		for (int j = 0; j < XENT_BLOCK; j++)
			v[j] = _mm512_loadu_pd(x + i + 8 * j);
		kexp8d_block(v);
		#pragma GCC unroll 16
		for (int j = 0; j < XENT_BLOCK; j++)
			_mm512_storeu_pd(out + i + 8 * j, v[j]);
	}
	for (; i < n; i++)
		out[i] = kexp(x[i]);
}
#endif

/* ------------------------------------------------------------ dispatch */

int xent_path_available(enum xent_path p)
{
	switch (p) {
	case XENT_SCALAR:
		return 1;
#ifdef XENT_X86
	case XENT_AVX2:
		return __builtin_cpu_supports("avx2") != 0;
	case XENT_AVX512:
		return __builtin_cpu_supports("avx512f") != 0;
#endif
	default:
		return 0;
	}
}

enum xent_path xent_path(void)
{
	if (forced >= 0)
		return (enum xent_path)forced;
	if (xent_path_available(XENT_AVX512))
		return XENT_AVX512;
	if (xent_path_available(XENT_AVX2))
		return XENT_AVX2;
	return XENT_SCALAR;
}

const char *xent_path_name(enum xent_path p)
{
	return p == XENT_AVX512 ? "avx512" : p == XENT_AVX2 ? "avx2" : "scalar";
}

int xent_force(enum xent_path p)
{
	if (!xent_path_available(p))
		return -1;
	forced = (int)p;
	return 0;
}

int xent_positions(const float *lg, const uint16_t *tg, int n, int V, double *nats)
{
	enum xent_path p = xent_path();

	if (p == XENT_SCALAR)
		return scalar_positions(lg, tg, n, V, nats);
#ifdef XENT_X86
	for (int i = 0; i < n; i += XENT_BLOCK) {
		int nb = n - i < XENT_BLOCK ? n - i : XENT_BLOCK;
		const float *l = lg + (size_t)i * V;
		int rc = p == XENT_AVX512 ? block_avx512(l, tg + i, nb, V, nats + i) : block_avx2(l, tg + i, nb, V, nats + i);
		if (rc < 0)
			return -1;
	}
	return 0;
#else
	return scalar_positions(lg, tg, n, V, nats);
#endif
}

int xent_exp_array(enum xent_path p, const double *x, int n, double *out)
{
	if (!xent_path_available(p))
		return -1;
#ifdef XENT_X86
	if (p == XENT_AVX512) {
		exps_avx512(x, n, out);
		return 0;
	}
	if (p == XENT_AVX2) {
		exps_avx2(x, n, out);
		return 0;
	}
#endif
	for (int i = 0; i < n; i++)
		out[i] = kexp(x[i]);
	return 0;
}
