/* test_seqtest.c: the sequential test of the hidden evaluation (seqtest.h):
 * a clearly worse candidate stops early, a better or borderline one never
 * does, and over many secret orders a candidate exactly at the margin is
 * stopped at most at the stated error rate: on generated windows, and on
 * the recorded windows of real models (tests/data/seqtest-windows-cpu.txt,
 * bench/seqtest_record.sh). */
#include "testutil.h"

#include <inttypes.h>
#include <math.h>

#include "judge/seqtest.h"
#include "util/rng.h"

#define N 512           /* windows: the cpu scale's 65536 targets of 128 */
#define BYTES_PER_WIN 400.0
#define MARGIN 0.01
#define CALL 8          /* windows per scoring call: the cpu scale's eval_batch */

/* A population of windows as the judge sees it: each window's
 * candidate-minus-king nats, the bytes of every scored target, the margin,
 * and the windows per scoring call (the test looks after each call). */
struct pop {
	const double *d;
	size_t n;
	uint64_t bytes;
	double margin;
	int call;
};

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

/* Runs the test over the windows in the order the judge draws from seed
 * (seqtest_order), looking after each call as the judge does; returns the
 * windows scored when it stops, n when it runs to the end. */
static size_t run_pop(const struct pop *x, uint64_t seed)
{
	struct seqtest q;
	uint32_t *p = malloc(x->n * sizeof *p);
	size_t w;

	assert_non_null(p);
	seqtest_order(p, x->n, seed);
	seqtest_init(&q, x->n, x->bytes, x->margin, 0, 0);
	for (w = 0; w < x->n; w++) {
		seqtest_add(&q, x->d[p[w]]);
		if ((w + 1) % (size_t)x->call == 0 && w + 1 < x->n && seqtest_stop(&q))
			break;
	}
	free(p);
	return w < x->n ? w + 1 : x->n;
}

static int run_order(const double *d, uint64_t seed)
{
	struct pop x = { d, N, (uint64_t)(BYTES_PER_WIN * N), MARGIN, CALL };

	return (int)run_pop(&x, seed);
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

/* ---- the recorded windows of real models --------------------------------
 * tests/data/seqtest-windows-cpu.txt (bench/seqtest_record.sh): the hidden
 * nats of each of the cpu scale's 512 windows for a king and candidates
 * proved from it. Each (king, candidate) pair is one real population of
 * paired differences, with whatever skew, tails and correlation with
 * document order real models give; a constant shift moves its full-split
 * difference to where a check wants it without changing its shape. */

#define REC_MODELS_MAX 16
#define REC_ORDERS 20000  /* secret orders per pair at the margin (KARPA_SEQTEST_ORDERS: more) */
#define REC_FAIR 1e-9     /* the chance a test as good as it claims fails a bound */

struct recorded {
	size_t windows;
	int models, call;
	uint64_t bytes;
	double margin;
	char name[REC_MODELS_MAX][32];
	double *nats; /* [windows][models], the king in column 0 */
	double *d;    /* [windows]: one pair's differences, the tests' scratch */
};

static void rec_columns(struct recorded *r, char *names)
{
	char *save = NULL;

	for (char *t = strtok_r(names, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		assert_true(r->models < REC_MODELS_MAX);
		snprintf(r->name[r->models++], sizeof r->name[0], "%s", t);
	}
	assert_true(r->models >= 2 && r->windows >= 2 * SEQTEST_MIN_WINDOWS && r->bytes > 0);
	assert_non_null(r->nats = calloc(r->windows * (size_t)r->models, sizeof *r->nats));
	assert_non_null(r->d = calloc(r->windows, sizeof *r->d));
}

/* The fixture, read once for the tests that use it (group setup). */
static int rec_setup(void **state)
{
	const char *src = getenv("KARPA_SRC") ? getenv("KARPA_SRC") : ".";
	char path[FS_PATH_MAX], *text, *save = NULL;
	size_t len, row = 0;
	struct kerr err;
	struct recorded *r = calloc(1, sizeof *r);

	assert_non_null(r);
	*state = r;
	r->margin = NAN;
	snprintf(path, sizeof path, "%s/tests/data/seqtest-windows-cpu.txt", src);
	if (fs_read_all(path, 1 << 22, &text, &len, &err) < 0)
		fail_msg("%s (bench/seqtest_record.sh writes it)", err.msg);
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *end = l;
		if (l[0] == '#') {
			sscanf(l, "# windows %zu", &r->windows);
			sscanf(l, "# bytes %" SCNu64, &r->bytes);
			sscanf(l, "# margin %lf", &r->margin);
			sscanf(l, "# eval_batch %d", &r->call);
			if (!strncmp(l, "# columns ", 10))
				rec_columns(r, l + 10);
			continue;
		}
		assert_non_null(r->nats);
		assert_true(row < r->windows);
		for (int m = 0; m < r->models; m++) {
			char *at = end;
			r->nats[row * (size_t)r->models + (size_t)m] = strtod(at, &end);
			assert_true(end != at);
		}
		assert_true(*end == '\0');
		row++;
	}
	free(text);
	assert_int_equal(row, r->windows);
	assert_true(isfinite(r->margin) && r->margin > 0 && r->call >= 1);
	return 0;
}

static int rec_teardown(void **state)
{
	struct recorded *r = *state;

	if (r) {
		free(r->nats);
		free(r->d);
		free(r);
	}
	return 0;
}

/* Candidate m minus the king, window by window (nats), shifted so that the
 * full split's difference is `at` bpb (NAN: as recorded). Returns the
 * recorded difference in bpb. */
static double rec_pair(const struct recorded *r, int m, double at, double *d)
{
	double s = 0, to_nats = M_LN2 * (double)r->bytes / (double)r->windows, mean;

	for (size_t w = 0; w < r->windows; w++) {
		d[w] = r->nats[w * (size_t)r->models + (size_t)m] - r->nats[w * (size_t)r->models];
		s += d[w];
	}
	mean = s / (double)r->windows;
	for (size_t w = 0; !isnan(at) && w < r->windows; w++)
		d[w] += at * to_nats - mean;
	return mean / to_nats;
}

/* A seqtest that has seen every window of the pair: its estimate is the
 * full difference, its m2 the windows' spread. */
static struct seqtest rec_full(const struct recorded *r, const double *d)
{
	struct seqtest q;

	seqtest_init(&q, r->windows, r->bytes, r->margin, 0, 0);
	for (size_t w = 0; w < r->windows; w++)
		seqtest_add(&q, d[w]);
	return q;
}

/* The smallest k with P(X > k) <= p for X ~ Binomial(n, a): a test whose
 * true error is at most a stops more than k of n independent orders with
 * chance at most p. */
static int binom_bound(int n, double a, double p)
{
	double above = 0; /* P(X > k) */

	for (int k = n; k >= 0; k--) {
		double pmf = exp(lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0) + k * log(a) +
				 (n - k) * log1p(-a));
		if (above + pmf > p)
			return k;
		above += pmf;
	}
	return 0;
}

static struct pop rec_pop(const struct recorded *r, const double *d)
{
	struct pop x = { d, r->windows, r->bytes, r->margin, r->call };

	return x;
}

/* The error rate on real windows: each candidate, moved to exactly -margin
 * (a hair better would be decisive), is stopped in at most alpha of the
 * secret orders, within a binomial bound a test that keeps alpha exceeds
 * with chance 1e-9; per pair and over all pairs together. */
static void test_recorded_error_rate(void **state)
{
	const struct recorded *r = *state;
	const char *env = getenv("KARPA_SEQTEST_ORDERS");
	double *d = r->d;
	int orders = env && atoi(env) > REC_ORDERS ? atoi(env) : REC_ORDERS;
	int bound = binom_bound(orders, SEQTEST_ALPHA, REC_FAIR), all;
	long total = 0;

	print_message("   %zu windows, margin %.5f bpb, %d secret orders per pair at exactly -margin:\n", r->windows,
		      r->margin, orders);
	for (int m = 1; m < r->models; m++) {
		struct pop x = rec_pop(r, d);
		double raw = rec_pair(r, m, -r->margin, d);
		struct seqtest q = rec_full(r, d);
		int stops = 0;
		const char *note;

		/* the shift put it at the boundary */
		assert_true(fabs(seqtest_estimate(&q) + r->margin) < 1e-9 * r->margin);
		for (int k = 0; k < orders; k++)
			stops += run_pop(&x, (uint64_t)m << 32 | (uint64_t)k) < r->windows;
		note = stops > bound ? ": above the bound" : stops > SEQTEST_ALPHA * orders ? ": above alpha, by chance?" : "";
		print_message("   %-12s (recorded %+6.2f margins, window sd %4.1f margins): stopped %4d of %d (%.3f%%; "
			      "bound %d)%s\n",
			      r->name[m], raw / r->margin, sqrt(q.m2 / (double)(r->windows - 1)) / r->margin, stops, orders,
			      100.0 * stops / orders, bound, note);
		assert_true(stops <= bound);
		total += stops;
	}
	all = binom_bound(orders * (r->models - 1), SEQTEST_ALPHA, REC_FAIR);
	print_message("   all pairs: stopped %ld of %d (%.3f%%; bound %d)\n", total, orders * (r->models - 1),
		      100.0 * (double)total / (orders * (r->models - 1)), all);
	assert_true(total <= all);
}

/* A real candidate moved to two margins better than the king, clearly
 * decisive, is never stopped. */
static void test_recorded_better_never_stops(void **state)
{
	const struct recorded *r = *state;
	double *d = r->d;

	for (int m = 1; m < r->models; m++) {
		struct pop x = rec_pop(r, d);
		int stops = 0;

		rec_pair(r, m, -2 * r->margin, d);
		for (int k = 0; k < REC_ORDERS / 10; k++)
			stops += run_pop(&x, (uint64_t)m << 32 | (uint64_t)k) < r->windows;
		print_message("   %-12s at -2 margins: stopped %d of %d\n", r->name[m], stops, REC_ORDERS / 10);
		assert_int_equal(stops, 0);
	}
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return (x > y) - (x < y);
}

/* The median share of the windows scored over orders. */
static double rec_median_share(const struct recorded *r, const double *d, uint64_t m, size_t *scored, int orders)
{
	struct pop x = rec_pop(r, d);

	for (int k = 0; k < orders; k++)
		scored[k] = run_pop(&x, m << 32 | (uint64_t)k);
	qsort(scored, (size_t)orders, sizeof *scored, cmp_size);
	return (double)scored[orders / 2] / (double)r->windows;
}

/* What the test saves: real candidates as recorded, and each moved to the
 * king's own score (a margin from decisive), scored over secret orders;
 * the median share of the windows scored. One that is no better than the
 * king stops, in the median order, within a quarter of the split. */
static void test_recorded_non_decisive_stop_early(void **state)
{
	const struct recorded *r = *state;
	double *d = r->d;
	size_t scored[REC_ORDERS / 20];
	int orders = REC_ORDERS / 20, worse = 0;

	for (int m = 1; m < r->models; m++) {
		double raw = rec_pair(r, m, NAN, d), as_is, at_king;

		as_is = rec_median_share(r, d, (uint64_t)m, scored, orders);
		rec_pair(r, m, 0, d);
		at_king = rec_median_share(r, d, (uint64_t)m, scored, orders);
		print_message("   %-12s recorded %+6.2f margins: median share scored %5.1f%% as recorded, %5.1f%% at the "
			      "king's score\n",
			      r->name[m], raw / r->margin, 100 * as_is, 100 * at_king);
		assert_true(at_king <= 0.25);
		if (raw >= 0) {
			assert_true(as_is <= 0.25);
			worse++;
		}
	}
	assert_true(worse > 0); /* the fixture holds a candidate worse than its king */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_worse_stops_early),
		cmocka_unit_test(test_better_never_stops),
		cmocka_unit_test(test_error_rate_at_the_margin),
		cmocka_unit_test(test_estimate_is_the_mean),
	};
	const struct CMUnitTest recorded[] = {
		cmocka_unit_test(test_recorded_error_rate),
		cmocka_unit_test(test_recorded_better_never_stops),
		cmocka_unit_test(test_recorded_non_decisive_stop_early),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);

	return failed + cmocka_run_group_tests(recorded, rec_setup, rec_teardown);
}
