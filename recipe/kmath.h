/* kmath.h: the transcendental functions of the recipe and the evaluator,
 * each a fixed sequence of IEEE-754 operations (add, sub, mul, div, compare,
 * integer bit moves), so every CPU and compiler gives the same bits. Never
 * calls libm and never uses FMA: a libm's last bit is its own business
 * (docs/determinism.md), and FMA would make the scalar and plain-C builds
 * depend on the hardware. Needs round-to-nearest and no flush-to-zero (the
 * C default; -ffast-math is never used, PROTOCOL 4.2).
 *
 * Float: kexpf, klogf, ktanhf; AVX2 twins (kexpf8, klogf8, ktanhf8) that
 * perform the same operations lane by lane, hence the same bits; and array
 * helpers that use the widest path built. Double (the evaluator, the
 * initialisation): kexp, klog, kcos2pi, kpowi. Error bounds, measured
 * against glibc: docs/determinism.md; tests/test_kmath.c checks them. */
#ifndef RECIPE_KMATH_H
#define RECIPE_KMATH_H

#include <math.h> /* INFINITY only: nothing here calls libm */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__AVX2__) && !defined(KARPA_PORTABLE)
#include <immintrin.h>
#define KM_AVX2 1
#endif

/* ------------------------------------------------------------- bit moves */

static inline uint32_t km_fbits(float x)
{
	uint32_t u;

	memcpy(&u, &x, sizeof u);
	return u;
}

static inline float km_ffrom(uint32_t u)
{
	float x;

	memcpy(&x, &u, sizeof x);
	return x;
}

static inline uint64_t km_dbits(double x)
{
	uint64_t u;

	memcpy(&u, &x, sizeof u);
	return u;
}

static inline double km_dfrom(uint64_t u)
{
	double x;

	memcpy(&x, &u, sizeof x);
	return x;
}

/* ------------------------------------------------------------ float exp */

/* exp(x) = 2^k e^r, k = round(x / ln 2), |r| <= ln2 / 2. k comes from the
 * shifter trick (adding 1.5 * 2^23 leaves round-to-nearest(x log2e) in the
 * low mantissa bits), r from a two-part ln 2 whose high part has 16
 * significant bits, so k * KM_LN2F_HI is exact. e^r is its Taylor
 * polynomial to r^7 (remainder below 2^-27 on |r| <= 0.347), summed as
 * 1 + (r + r^2 q(r)) so the rounding of the large terms comes last (0.2 ulp
 * better than plain Horner, measured). 2^k is applied
 * as two exact powers of two, 2^k1 * 2^k2, so results near overflow and in
 * the subnormal range round once, like any multiply. Inputs are clamped to
 * [-104, 89]: e^-104 rounds to 0 and e^89 to +inf either way. A NaN passes
 * the clamps (the comparisons are written so) and comes out NaN. */
#define KM_EXPF_LO (-104.0f)
#define KM_EXPF_HI 89.0f
#define KM_LOG2EF 0x1.715476p+0f
#define KM_LN2F_HI 0x1.62e4p-1f
#define KM_LN2F_LO 0x1.7f7d1cp-20f
#define KM_SHIFTF 0x1.8p23f
#define KM_EXPF_BIAS 150u /* -k_min for the clamped range, so the split works on unsigned */
#define KM_EXPF_C2 0x1p-1f
#define KM_EXPF_C3 0x1.555556p-3f
#define KM_EXPF_C4 0x1.555556p-5f
#define KM_EXPF_C5 0x1.111112p-7f
#define KM_EXPF_C6 0x1.6c16c2p-10f
#define KM_EXPF_C7 0x1.a01a02p-13f

static inline float kexpf(float x)
{
	float t, kf, r, p;
	uint32_t kb, k1, k2;

	x = KM_EXPF_LO > x ? KM_EXPF_LO : x;
	x = KM_EXPF_HI < x ? KM_EXPF_HI : x;
	t = x * KM_LOG2EF + KM_SHIFTF;
	kf = t - KM_SHIFTF;
	/* k + bias in [0, 278]; k1 = floor((k + bias) / 2) - bias / 2, k2 = k - k1,
	 * both in [-75, 64]: normal exponents */
	kb = km_fbits(t) - km_fbits(KM_SHIFTF) + KM_EXPF_BIAS;
	k1 = (kb >> 1) - KM_EXPF_BIAS / 2;
	k2 = kb - KM_EXPF_BIAS - k1;
	r = (x - kf * KM_LN2F_HI) - kf * KM_LN2F_LO;
	p = KM_EXPF_C6 + r * KM_EXPF_C7;
	p = KM_EXPF_C5 + r * p;
	p = KM_EXPF_C4 + r * p;
	p = KM_EXPF_C3 + r * p;
	p = KM_EXPF_C2 + r * p;
	p = 1.0f + (r + (r * r) * p);
	return p * km_ffrom((k1 + 127u) << 23) * km_ffrom((k2 + 127u) << 23);
}

/* ------------------------------------------------------------ float log */

/* log(x) = e ln 2 + log(m), x = 2^e m, m in [sqrt(1/2), sqrt(2)) (the
 * mantissa is re-centred by one integer add on the bits; subnormals are
 * first scaled by 2^23). With f = m - 1 (exact) and s = f / (2 + f):
 * log(m) = 2 atanh(s) = f - s (f - R), R = 2 s^2/3 + 2 s^4/5 + ... (to s^10;
 * s^2 <= 0.0295). Summed as f - (h - s (h + R)) with h = f^2 / 2 (the same
 * value: s f = h (1 - s)), small terms first and e ln 2's high part last:
 * measured 0.4 ulp better than f - s (f - R) in double.
 * x < 0 or NaN -> NaN, 0 -> -inf, +inf -> +inf. */
#define KM_SQRTHALF_BITS 0x3f3504f3u
#define KM_ONEF_BITS 0x3f800000u
#define KM_FLT_MIN 0x1p-126f
#define KM_LOGF_SUB_SCALE 0x1p23f
#define KM_LOGF_R1 0x1.555556p-1f
#define KM_LOGF_R2 0x1.99999ap-2f
#define KM_LOGF_R3 0x1.24924ap-2f
#define KM_LOGF_R4 0x1.c71c72p-3f
#define KM_LOGF_R5 0x1.745d18p-3f

static inline float klogf(float x)
{
	int sub = x < KM_FLT_MIN;
	float xs = sub ? x * KM_LOGF_SUB_SCALE : x, m, f, s, z, R, e, h, y;
	uint32_t u = km_fbits(xs) + (KM_ONEF_BITS - KM_SQRTHALF_BITS);

	e = (float)((int32_t)(u >> 23) - 127) - (sub ? 23.0f : 0.0f);
	m = km_ffrom((u & 0x007fffffu) + KM_SQRTHALF_BITS);
	f = m - 1.0f;
	s = f / (2.0f + f);
	z = s * s;
	R = KM_LOGF_R4 + z * KM_LOGF_R5;
	R = KM_LOGF_R3 + z * R;
	R = KM_LOGF_R2 + z * R;
	R = KM_LOGF_R1 + z * R;
	R = z * R;
	h = 0.5f * f * f;
	y = e * KM_LN2F_HI - ((h - (s * (h + R) + e * KM_LN2F_LO)) - f);
	y = x == 0.0f ? -INFINITY : y;
	y = x < 0.0f ? km_ffrom(0x7fc00000u) : y;
	y = x == INFINITY ? x : y;
	y = x != x ? x : y;
	return y;
}

/* ----------------------------------------------------------- float tanh */

/* |x| < 0.55: the odd Taylor series to x^19 (its terms shrink by about
 * (x / (pi/2))^2 <= 0.123 each, so the remainder is below 2^-27 relative).
 * Otherwise sign(x) (1 - 2 / (e^2|x| + 1)), which saturates to +-1 cleanly
 * when e^2|x| overflows. */
#define KM_TANHF_SMALL 0.55f
#define KM_TANHF_T3 (-0x1.555556p-2f)
#define KM_TANHF_T5 0x1.111112p-3f
#define KM_TANHF_T7 (-0x1.ba1ba2p-5f)
#define KM_TANHF_T9 0x1.664f48p-6f
#define KM_TANHF_T11 (-0x1.226e36p-7f)
#define KM_TANHF_T13 0x1.d6d3dp-9f
#define KM_TANHF_T15 (-0x1.7da364p-10f)
#define KM_TANHF_T17 0x1.355824p-11f
#define KM_TANHF_T19 (-0x1.f57d78p-13f)
#define KM_SIGNF 0x80000000u

static inline float ktanhf(float x)
{
	uint32_t sign = km_fbits(x) & KM_SIGNF;
	float a = km_ffrom(km_fbits(x) & ~KM_SIGNF), z = x * x, p, big;

	p = KM_TANHF_T17 + z * KM_TANHF_T19;
	p = KM_TANHF_T15 + z * p;
	p = KM_TANHF_T13 + z * p;
	p = KM_TANHF_T11 + z * p;
	p = KM_TANHF_T9 + z * p;
	p = KM_TANHF_T7 + z * p;
	p = KM_TANHF_T5 + z * p;
	p = KM_TANHF_T3 + z * p;
	p = x + x * (z * p);
	big = 1.0f - 2.0f / (kexpf(a + a) + 1.0f);
	big = km_ffrom(km_fbits(big) | sign);
	return a < KM_TANHF_SMALL ? p : big;
}

/* ------------------------------------------------------ float, 8 lanes */

#ifdef KM_AVX2
/* The same operations as kexpf, lane by lane. */
static inline __m256 kexpf8(__m256 x)
{
	const __m256 shift = _mm256_set1_ps(KM_SHIFTF);
	__m256 t, kf, r, p;
	__m256i kb, k1, k2;

	x = _mm256_max_ps(_mm256_set1_ps(KM_EXPF_LO), x);
	x = _mm256_min_ps(_mm256_set1_ps(KM_EXPF_HI), x);
	t = _mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(KM_LOG2EF)), shift);
	kf = _mm256_sub_ps(t, shift);
	kb = _mm256_add_epi32(_mm256_sub_epi32(_mm256_castps_si256(t), _mm256_castps_si256(shift)),
			      _mm256_set1_epi32((int)KM_EXPF_BIAS));
	k1 = _mm256_sub_epi32(_mm256_srli_epi32(kb, 1), _mm256_set1_epi32((int)(KM_EXPF_BIAS / 2)));
	k2 = _mm256_sub_epi32(_mm256_sub_epi32(kb, _mm256_set1_epi32((int)KM_EXPF_BIAS)), k1);
	r = _mm256_sub_ps(_mm256_sub_ps(x, _mm256_mul_ps(kf, _mm256_set1_ps(KM_LN2F_HI))),
			  _mm256_mul_ps(kf, _mm256_set1_ps(KM_LN2F_LO)));
	p = _mm256_add_ps(_mm256_set1_ps(KM_EXPF_C6), _mm256_mul_ps(r, _mm256_set1_ps(KM_EXPF_C7)));
	p = _mm256_add_ps(_mm256_set1_ps(KM_EXPF_C5), _mm256_mul_ps(r, p));
	p = _mm256_add_ps(_mm256_set1_ps(KM_EXPF_C4), _mm256_mul_ps(r, p));
	p = _mm256_add_ps(_mm256_set1_ps(KM_EXPF_C3), _mm256_mul_ps(r, p));
	p = _mm256_add_ps(_mm256_set1_ps(KM_EXPF_C2), _mm256_mul_ps(r, p));
	p = _mm256_add_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(r, _mm256_mul_ps(_mm256_mul_ps(r, r), p)));
	k1 = _mm256_slli_epi32(_mm256_add_epi32(k1, _mm256_set1_epi32(127)), 23);
	k2 = _mm256_slli_epi32(_mm256_add_epi32(k2, _mm256_set1_epi32(127)), 23);
	return _mm256_mul_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(k1)), _mm256_castsi256_ps(k2));
}

/* The same operations as klogf, lane by lane; the scalar ?: become blends. */
static inline __m256 klogf8(__m256 x)
{
	const __m256 zero = _mm256_setzero_ps();
	__m256 sub = _mm256_cmp_ps(x, _mm256_set1_ps(KM_FLT_MIN), _CMP_LT_OQ);
	__m256 xs = _mm256_blendv_ps(x, _mm256_mul_ps(x, _mm256_set1_ps(KM_LOGF_SUB_SCALE)), sub);
	__m256i u = _mm256_add_epi32(_mm256_castps_si256(xs),
				     _mm256_set1_epi32((int)(KM_ONEF_BITS - KM_SQRTHALF_BITS)));
	__m256 e, m, f, s, z, R, h, y;

	e = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(u, 23), _mm256_set1_epi32(127)));
	e = _mm256_sub_ps(e, _mm256_and_ps(sub, _mm256_set1_ps(23.0f)));
	m = _mm256_castsi256_ps(_mm256_add_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x007fffff)),
						 _mm256_set1_epi32((int)KM_SQRTHALF_BITS)));
	f = _mm256_sub_ps(m, _mm256_set1_ps(1.0f));
	s = _mm256_div_ps(f, _mm256_add_ps(_mm256_set1_ps(2.0f), f));
	z = _mm256_mul_ps(s, s);
	R = _mm256_add_ps(_mm256_set1_ps(KM_LOGF_R4), _mm256_mul_ps(z, _mm256_set1_ps(KM_LOGF_R5)));
	R = _mm256_add_ps(_mm256_set1_ps(KM_LOGF_R3), _mm256_mul_ps(z, R));
	R = _mm256_add_ps(_mm256_set1_ps(KM_LOGF_R2), _mm256_mul_ps(z, R));
	R = _mm256_add_ps(_mm256_set1_ps(KM_LOGF_R1), _mm256_mul_ps(z, R));
	R = _mm256_mul_ps(z, R);
	h = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), f), f);
	y = _mm256_add_ps(_mm256_mul_ps(s, _mm256_add_ps(h, R)), _mm256_mul_ps(e, _mm256_set1_ps(KM_LN2F_LO)));
	y = _mm256_sub_ps(_mm256_sub_ps(h, y), f);
	y = _mm256_sub_ps(_mm256_mul_ps(e, _mm256_set1_ps(KM_LN2F_HI)), y);
	y = _mm256_blendv_ps(y, _mm256_set1_ps(-INFINITY), _mm256_cmp_ps(x, zero, _CMP_EQ_OQ));
	y = _mm256_blendv_ps(y, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fc00000)),
			     _mm256_cmp_ps(x, zero, _CMP_LT_OQ));
	y = _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, _mm256_set1_ps(INFINITY), _CMP_EQ_OQ));
	y = _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
	return y;
}

/* The same operations as ktanhf, lane by lane. */
static inline __m256 ktanhf8(__m256 x)
{
	const __m256 signbit = _mm256_castsi256_ps(_mm256_set1_epi32((int)KM_SIGNF));
	__m256 sign = _mm256_and_ps(x, signbit), a = _mm256_andnot_ps(signbit, x);
	__m256 z = _mm256_mul_ps(x, x), p, big;

	p = _mm256_add_ps(_mm256_set1_ps(KM_TANHF_T17), _mm256_mul_ps(z, _mm256_set1_ps(KM_TANHF_T19)));
	p = _mm256_add_ps(_mm256_set1_ps(KM_TANHF_T15), _mm256_mul_ps(z, p));
	p = _mm256_add_ps(_mm256_set1_ps(KM_TANHF_T13), _mm256_mul_ps(z, p));
	p = _mm256_add_ps(_mm256_set1_ps(KM_TANHF_T11), _mm256_mul_ps(z, p));
	p = _mm256_add_ps(_mm256_set1_ps(KM_TANHF_T9), _mm256_mul_ps(z, p));
	p = _mm256_add_ps(_mm256_set1_ps(KM_TANHF_T7), _mm256_mul_ps(z, p));
	p = _mm256_add_ps(_mm256_set1_ps(KM_TANHF_T5), _mm256_mul_ps(z, p));
	p = _mm256_add_ps(_mm256_set1_ps(KM_TANHF_T3), _mm256_mul_ps(z, p));
	p = _mm256_add_ps(x, _mm256_mul_ps(x, _mm256_mul_ps(z, p)));
	big = _mm256_add_ps(kexpf8(_mm256_add_ps(a, a)), _mm256_set1_ps(1.0f));
	big = _mm256_sub_ps(_mm256_set1_ps(1.0f), _mm256_div_ps(_mm256_set1_ps(2.0f), big));
	big = _mm256_or_ps(big, sign);
	return _mm256_blendv_ps(big, p, _mm256_cmp_ps(a, _mm256_set1_ps(KM_TANHF_SMALL), _CMP_LT_OQ));
}
#endif

/* ------------------------------------------------------- array helpers */

/* x[i] = kexpf(x[i] - sub), i < n: the softmax's exponentials. */
static inline void kexpf_shift(float *x, size_t n, float sub)
{
	size_t i = 0;

#ifdef KM_AVX2
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(x + i, kexpf8(_mm256_sub_ps(_mm256_loadu_ps(x + i), _mm256_set1_ps(sub))));
#endif
	for (; i < n; i++)
		x[i] = kexpf(x[i] - sub);
}

/* out[i] = ktanhf(in[i]), i < n (out may equal in). */
static inline void ktanhf_n(float *out, const float *in, size_t n)
{
	size_t i = 0;

#ifdef KM_AVX2
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(out + i, ktanhf8(_mm256_loadu_ps(in + i)));
#endif
	for (; i < n; i++)
		out[i] = ktanhf(in[i]);
}

/* ----------------------------------------------------------- double exp */

/* As kexpf in double: Taylor to r^13 (remainder below 2^-57 on
 * |r| <= 0.347), ln 2 in two parts (high part 32 bits, exact times k),
 * clamp to [-746, 710], 2^k as two exact powers of two. */
#define KM_EXP_LO (-746.0)
#define KM_EXP_HI 710.0
#define KM_LOG2E 0x1.71547652b82fep+0
#define KM_LN2_HI 0x1.62e42ffp-1
#define KM_LN2_LO (-0x1.718432a1b0e26p-35)
#define KM_SHIFT 0x1.8p52
#define KM_EXP_BIAS 1076u

static const double km_exp_c[14] = {
	1.0, 1.0, 0x1p-1, 0x1.5555555555555p-3, 0x1.5555555555555p-5, 0x1.1111111111111p-7,
	0x1.6c16c16c16c17p-10, 0x1.a01a01a01a01ap-13, 0x1.a01a01a01a01ap-16, 0x1.71de3a556c734p-19,
	0x1.27e4fb7789f5cp-22, 0x1.ae64567f544e4p-26, 0x1.1eed8eff8d898p-29, 0x1.6124613a86d09p-33,
};

static inline double kexp(double x)
{
	double t, kf, r, p;
	uint64_t kb, k1, k2;

	x = KM_EXP_LO > x ? KM_EXP_LO : x;
	x = KM_EXP_HI < x ? KM_EXP_HI : x;
	t = x * KM_LOG2E + KM_SHIFT;
	kf = t - KM_SHIFT;
	kb = km_dbits(t) - km_dbits(KM_SHIFT) + KM_EXP_BIAS;
	k1 = (kb >> 1) - KM_EXP_BIAS / 2;
	k2 = kb - KM_EXP_BIAS - k1;
	r = (x - kf * KM_LN2_HI) - kf * KM_LN2_LO;
	p = km_exp_c[13];
	for (int i = 12; i >= 2; i--)
		p = km_exp_c[i] + r * p;
	p = 1.0 + (r + (r * r) * p);
	return p * km_dfrom((k1 + 1023u) << 52) * km_dfrom((k2 + 1023u) << 52);
}

/* ----------------------------------------------------------- double log */

/* As klogf in double: R to s^20 (s^2 <= 0.0295). */
#define KM_SQRTHALF_DBITS 0x3fe6a09e667f3bcdull
#define KM_ONE_DBITS 0x3ff0000000000000ull
#define KM_DBL_MIN 0x1p-1022
#define KM_LOG_SUB_SCALE 0x1p52

static const double km_log_r[10] = {
	0x1.5555555555555p-1, 0x1.999999999999ap-2, 0x1.2492492492492p-2, 0x1.c71c71c71c71cp-3,
	0x1.745d1745d1746p-3, 0x1.3b13b13b13b14p-3, 0x1.1111111111111p-3, 0x1.e1e1e1e1e1e1ep-4,
	0x1.af286bca1af28p-4, 0x1.8618618618618p-4,
};

static inline double klog(double x)
{
	int sub = x < KM_DBL_MIN;
	double xs = sub ? x * KM_LOG_SUB_SCALE : x, m, f, s, z, R, e, h, y;
	uint64_t u = km_dbits(xs) + (KM_ONE_DBITS - KM_SQRTHALF_DBITS);

	e = (double)((int64_t)(u >> 52) - 1023) - (sub ? 52.0 : 0.0);
	m = km_dfrom((u & 0x000fffffffffffffull) + KM_SQRTHALF_DBITS);
	f = m - 1.0;
	s = f / (2.0 + f);
	z = s * s;
	R = km_log_r[9];
	for (int i = 8; i >= 0; i--)
		R = km_log_r[i] + z * R;
	R = z * R;
	h = 0.5 * f * f;
	y = e * KM_LN2_HI - ((h - (s * (h + R) + e * KM_LN2_LO)) - f);
	y = x == 0.0 ? -(double)INFINITY : y;
	y = x < 0.0 ? km_dfrom(0x7ff8000000000000ull) : y;
	y = x == (double)INFINITY ? x : y;
	y = x != x ? x : y;
	return y;
}

/* --------------------------------------------------------- double cos */

/* cos(2 pi u), for the initialisation's Box-Muller. The reduction is on u,
 * where it is exact: n = round(4u), r = u - n/4 in [-1/8, 1/8] (exact for
 * |u| < 2^50), then cos or sin of x = 2 pi r (|x| <= pi/4) by Taylor to
 * x^16 / x^17 (remainders below 2^-58), chosen and signed by n mod 4. */
#define KM_2PI 0x1.921fb54442d18p+2
#define KM_SHIFT_Q 0x1.8p52

static const double km_cos_c[9] = {
	1.0, -0x1p-1, 0x1.5555555555555p-5, -0x1.6c16c16c16c17p-10, 0x1.a01a01a01a01ap-16,
	-0x1.27e4fb7789f5cp-22, 0x1.1eed8eff8d898p-29, -0x1.93974a8c07c9dp-37, 0x1.ae7f3e733b81fp-45,
};
static const double km_sin_c[9] = {
	1.0, -0x1.5555555555555p-3, 0x1.1111111111111p-7, -0x1.a01a01a01a01ap-13, 0x1.71de3a556c734p-19,
	-0x1.ae64567f544e4p-26, 0x1.6124613a86d09p-33, -0x1.ae7f3e733b81fp-41, 0x1.952c77030ad4ap-49,
};

static inline double kcos2pi(double u)
{
	double t = u * 4.0 + KM_SHIFT_Q, nf = t - KM_SHIFT_Q, r = u - nf * 0.25, x = KM_2PI * r,
	       z = x * x, c, s;
	uint64_t q = (km_dbits(t) - km_dbits(KM_SHIFT_Q)) & 3u;

	c = km_cos_c[8];
	s = km_sin_c[8];
	for (int i = 7; i >= 0; i--) {
		c = km_cos_c[i] + z * c;
		s = km_sin_c[i] + z * s;
	}
	s = x * s;
	return q == 0 ? c : q == 1 ? -s : q == 2 ? -c : s;
}

/* base^n for n >= 0 by binary powering: the multiplies are fixed by n
 * alone (pow()'s last bit belongs to the libm). */
static inline double kpowi(double base, int64_t n)
{
	double acc = 1.0;

	for (; n > 0; n >>= 1) {
		if (n & 1)
			acc *= base;
		base *= base;
	}
	return acc;
}

#endif
