/* test_seqtest.c: the sequential test of the hidden evaluation (seqtest.h):
 * a clearly worse candidate stops early, a better or borderline one never
 * does, and over many secret orders a candidate exactly at the margin is
 * stopped at most at the stated error rate. */
#include "testutil.h"

#include <math.h>

#include "judge/seqtest.h"
#include "util/rng.h"

#define N 512           /* windows: the cpu scale's 65536 targets of 128 */
#define BYTES_PER_WIN 400.0
#define MARGIN 0.01

/* Per-window candidate-minus-king nats with bpb mean `mean` and a spread
 * sd (bpb) per window; heavy: a Student-t-like tail from a ratio. */
static void population(double *d, uint64_t seed, double mean, double sd, int heavy)
{
	struct rng g;
	double s = 0, to_nats = M_LN2 * BYTES_PER_WIN;

	rng_init(&g, seed, "seqtest population", 0);
	for (int w = 0; w < N; w++) {
		double u1 = rng_uniform(&g) + 1e-300, u2 = rng_uniform(&g), z;
		z = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
		if (heavy)
			z /= sqrt(0.25 + rng_uniform(&g)); /* a few windows far out */
		d[w] = z * sd;
		s += d[w];
	}
	/* exactly the mean asked for, so "at the margin" is exact */
	for (int w = 0; w < N; w++)
		d[w] = (d[w] - s / N + mean) * to_nats;
}

/* Runs the test over the windows in a random order, calls of 8; returns
 * the windows scored when it stops, N when it runs to the end. */
static int run_order(const double *d, uint64_t seed)
{
	struct seqtest q;
	struct rng g;
	uint32_t p[N];

	for (int i = 0; i < N; i++)
		p[i] = (uint32_t)i;
	rng_init(&g, seed, "seqtest order", 0);
	for (int i = N; i > 1; i--) {
		int k = (int)rng_below(&g, (uint64_t)i);
		uint32_t t = p[i - 1];
		p[i - 1] = p[k];
		p[k] = t;
	}
	seqtest_init(&q, N, (uint64_t)(BYTES_PER_WIN * N), MARGIN, 0, 0);
	for (int w = 0; w < N; w++) {
		seqtest_add(&q, d[p[w]]);
		if ((w + 1) % 8 == 0 && w + 1 < N && seqtest_stop(&q))
			return w + 1;
	}
	return N;
}

static void test_worse_stops_early(void **unused)
{
	double d[N];

	(void)unused;
	/* worse than the king by two margins, per-window spread 5 margins */
	population(d, 1, 2 * MARGIN, 5 * MARGIN, 0);
	for (uint64_t k = 0; k < 50; k++)
		assert_true(run_order(d, k) <= N / 4);
	/* the king itself: every difference 0, stops at the minimum */
	memset(d, 0, sizeof d);
	assert_int_equal(run_order(d, 7), N / SEQTEST_MIN_FRACTION > SEQTEST_MIN_WINDOWS ? N / SEQTEST_MIN_FRACTION
										      : SEQTEST_MIN_WINDOWS);
}

static void test_better_never_stops(void **unused)
{
	double d[N];

	(void)unused;
	for (uint64_t pop = 0; pop < 10; pop++) {
		population(d, 100 + pop, -2 * MARGIN, 5 * MARGIN, (int)(pop & 1));
		for (uint64_t k = 0; k < 100; k++)
			assert_int_equal(run_order(d, k), N);
	}
}

/* The error rate: a candidate exactly at the boundary of decisive (its
 * full-split difference is -margin: a hair better and it would be
 * decisive) is stopped in at most alpha of the orders, for Gaussian and
 * heavy-tailed windows and spreads from small to large. */
static void test_error_rate_at_the_margin(void **unused)
{
	static const double sds[] = { 1, 5, 20 };
	double d[N];

	(void)unused;
	for (size_t i = 0; i < sizeof sds / sizeof sds[0]; i++)
		for (int heavy = 0; heavy < 2; heavy++) {
			int stops = 0, runs = 2000;
			population(d, 1000 + i * 2 + (size_t)heavy, -MARGIN, sds[i] * MARGIN, heavy);
			for (int k = 0; k < runs; k++)
				stops += run_order(d, (uint64_t)k) < N;
			print_message("   spread %4.0f margins, %s: stopped %d of %d (%.2f%%, allowed %.0f%%)\n", sds[i],
				      heavy ? "heavy tails" : "gaussian   ", stops, runs, 100.0 * stops / runs,
				      100 * SEQTEST_ALPHA);
			assert_true(stops <= SEQTEST_ALPHA * runs);
		}
}

/* The lower bound is a bound on the full split's mean once every window
 * is in: the estimate then is exact. */
static void test_estimate_is_the_mean(void **unused)
{
	struct seqtest q;
	double d[N], s = 0;

	(void)unused;
	population(d, 9, 0.003, MARGIN, 0);
	seqtest_init(&q, N, (uint64_t)(BYTES_PER_WIN * N), MARGIN, 0, 0);
	for (int w = 0; w < N; w++) {
		seqtest_add(&q, d[w]);
		s += d[w];
	}
	assert_true(fabs(seqtest_estimate(&q) - s / (M_LN2 * BYTES_PER_WIN * N)) < 1e-12);
	assert_true(seqtest_lower(&q) == seqtest_estimate(&q));
	assert_int_equal(seqtest_stop(&q), 0); /* nothing is left to stop */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_worse_stops_early),
		cmocka_unit_test(test_better_never_stops),
		cmocka_unit_test(test_error_rate_at_the_margin),
		cmocka_unit_test(test_estimate_is_the_mean),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
