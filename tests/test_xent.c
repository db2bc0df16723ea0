/* test_xent.c: every vector path of the evaluator's cross-entropy gives the
 * plain C path's bits (xent.h): its exp lane by lane over a dense sweep of
 * the arguments the evaluator passes (x <= 0, through the underflow and
 * subnormal range) and over the clamps; whole positions over block sizes,
 * vocabularies that leave a tail, ties and signed zeros at the max, huge
 * and tiny logits; and every non-finite logit refused wherever it sits.
 * Prints which paths this CPU ran. */
#include "testutil.h"

#include <float.h>
#include <math.h>

#include "harness/xent.h"
#include "kmath.h"
#include "util/rng.h"

static const enum xent_path paths[] = { XENT_AVX2, XENT_AVX512 };

static int same_bits(double a, double b)
{
	return memcmp(&a, &b, sizeof a) == 0;
}

static void restore(void)
{
	assert_int_equal(xent_force(XENT_SCALAR), 0);
}

static void test_paths_named(void **s)
{
	(void)s;
	assert_true(xent_path_available(XENT_SCALAR));
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
		print_message("xent path %-7s %s\n", xent_path_name(paths[i]),
			      xent_path_available(paths[i]) ? "runs here: tested" : "not on this CPU: skipped");
	print_message("xent default path: %s\n", xent_path_name(xent_path()));
}

/* The exp of every lane against kexp: 2^21 arguments spread over
 * [-800, 0] (the evaluator's domain: l - max), the subnormal and underflow
 * band densely, the clamps, and values above 0 for completeness. */
static void test_exp_lanes(void **s)
{
	enum { N = 1 << 21 };
	double *x = malloc(N * sizeof *x), *want = malloc(N * sizeof *want), *got = malloc(N * sizeof *got);
	struct rng g;
	int checked = 0;

	(void)s;
	assert_non_null(x);
	assert_non_null(want);
	assert_non_null(got);
	rng_init(&g, 7, "xent exp sweep", 0);
	for (int i = 0; i < N; i++) {
		double u = (double)(rng_next_u64(&g) >> 11) * 0x1p-53;
		switch (i % 4) {
		case 0: x[i] = -800.0 * u; break;
		case 1: x[i] = -700.0 - 50.0 * u; break; /* results subnormal, then 0 */
		case 2: x[i] = -20.0 * u; break;
		default: x[i] = 720.0 * u - 10.0; break; /* through the upper clamp */
		}
	}
	x[0] = 0.0;
	x[1] = -0.0;
	x[2] = KM_EXP_LO;
	x[3] = KM_EXP_HI;
	x[4] = -DBL_MAX;
	x[5] = DBL_MAX;
	x[6] = -0x1p-1074;
	for (int i = 0; i < N; i++)
		want[i] = kexp(x[i]);
	for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
		if (xent_exp_array(paths[p], x, N, got) < 0)
			continue;
		for (int i = 0; i < N; i++)
			if (!same_bits(want[i], got[i]))
				fail_msg("%s: kexp(%a) = %a, scalar %a", xent_path_name(paths[p]), x[i], got[i], want[i]);
		checked++;
	}
	print_message("exp lanes: %d vector path(s) x %d arguments, all equal to kexp\n", checked, N);
	free(x);
	free(want);
	free(got);
}

/* Logits of one kind for n positions of V. */
static void fill(float *lg, int n, int V, int kind, struct rng *g)
{
	for (int i = 0; i < n * V; i++) {
		double u = (double)(rng_next_u64(g) >> 11) * 0x1p-53;
		switch (kind) {
		case 0: lg[i] = (float)(8.0 * u - 4.0); break;              /* a trained model's spread */
		case 1: lg[i] = (float)(400.0 * u - 200.0); break;          /* most terms underflow */
		case 2: lg[i] = (float)((u - 0.5) * 6e38); break;           /* differences overflow to the clamp */
		case 3: lg[i] = (float)((u - 0.5) * 1e-40); break;          /* subnormal logits */
		default: lg[i] = (rng_next_u64(g) & 1) ? 0.0f : -0.0f; break;   /* ties of signed zeros */
		}
	}
	/* ties at the max in several lanes of the first position */
	if (kind < 4 && n * V >= 3)
		lg[0] = lg[V / 2] = lg[V - 1] = 5.0f;
}

static void test_positions_equal(void **s)
{
	static const int vocab[] = { 1, 3, 7, 8, 9, 16, 17, 31, 257, 4096, 4099 };
	static const int counts[] = { 1, 7, 8, 9, 17 };
	struct rng g;
	int cases = 0;

	(void)s;
	rng_init(&g, 11, "xent positions", 0);
	for (size_t a = 0; a < sizeof vocab / sizeof vocab[0]; a++)
		for (size_t b = 0; b < sizeof counts / sizeof counts[0]; b++)
			for (int kind = 0; kind < 5; kind++) {
				int V = vocab[a], n = counts[b];
				float *lg = malloc((size_t)n * V * sizeof *lg);
				uint16_t *tg = malloc((size_t)n * sizeof *tg);
				double *want = malloc((size_t)n * sizeof *want), *got = malloc((size_t)n * sizeof *got);

				assert_true(lg && tg && want && got);
				fill(lg, n, V, kind, &g);
				for (int i = 0; i < n; i++)
					tg[i] = (uint16_t)(rng_next_u64(&g) % (uint64_t)V);
				restore();
				assert_int_equal(xent_positions(lg, tg, n, V, want), 0);
				for (int i = 0; i < n; i++)
					assert_true(isfinite(want[i]) && want[i] >= 0.0);
				for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
					if (xent_force(paths[p]) < 0)
						continue;
					assert_int_equal(xent_positions(lg, tg, n, V, got), 0);
					for (int i = 0; i < n; i++)
						if (!same_bits(want[i], got[i]))
							fail_msg("%s, V %d, n %d, kind %d, position %d: %a against %a",
								 xent_path_name(paths[p]), V, n, kind, i, got[i], want[i]);
					cases++;
				}
				free(lg);
				free(tg);
				free(want);
				free(got);
			}
	restore();
	print_message("positions: %d vector cases, every cross-entropy equal to the scalar path's\n", cases);
}

/* A hand-checkable value: V equal logits give ln V whatever the path. */
static void test_uniform_is_ln_v(void **s)
{
	float lg[2 * 4096];
	uint16_t tg[2] = { 0, 4095 };
	double nats[2];

	(void)s;
	for (int i = 0; i < 2 * 4096; i++)
		lg[i] = 1.5f;
	for (int p = XENT_SCALAR; p <= XENT_AVX512; p++) {
		if (xent_force((enum xent_path)p) < 0)
			continue;
		assert_int_equal(xent_positions(lg, tg, 2, 4096, nats), 0);
		assert_true(fabs(nats[0] - log(4096.0)) < 1e-14);
		assert_true(same_bits(nats[0], nats[1]));
	}
	restore();
}

/* Logits so large that m + log(s) rounds back to m (the spacing of doubles
 * near 2^57 is 32): a uniform prediction there is still ln V nats, not 0,
 * and one near-uniform is no less; on every path (a runner's kr_logits
 * returning 1.5e17 everywhere scored val_bpb 0 before). */
static void test_huge_logits_not_free(void **s)
{
	static const float huge[] = { 1.5e17f, 1e30f, -1e30f, 3.4e38f };
	enum { V = 50257 };
	static float lg[2 * V];
	uint16_t tg[2] = { 0, 50256 };
	double nats[2];

	(void)s;
	for (int p = XENT_SCALAR; p <= XENT_AVX512; p++) {
		if (xent_force((enum xent_path)p) < 0)
			continue;
		for (size_t h = 0; h < sizeof huge / sizeof huge[0]; h++) {
			for (int i = 0; i < 2 * V; i++)
				lg[i] = huge[h];
			assert_int_equal(xent_positions(lg, tg, 2, V, nats), 0);
			if (!(fabs(nats[0] - log((double)V)) < 1e-12) || !same_bits(nats[0], nats[1]))
				fail_msg("%s: logits %g give %.17g nats, want ln %d", xent_path_name((enum xent_path)p),
					 (double)huge[h], nats[0], V);
			/* the target a hair under the rest: more than ln V */
			lg[0] = nextafterf(huge[h], -INFINITY);
			assert_int_equal(xent_positions(lg, tg, 1, V, nats), 0);
			assert_true(nats[0] >= log((double)V));
		}
	}
	restore();
}

/* A non-finite logit anywhere (vector body, tail, first or last position
 * of a block) is refused on every path. */
static void test_nonfinite_refused(void **s)
{
	const float bad[3] = { NAN, INFINITY, -INFINITY };
	enum { V = 37, n = 10 };
	static float lg[n * V];
	uint16_t tg[n] = { 0 };
	double nats[n];
	const int spots[] = { 0, 5, 31, 36, V * 7 + 12, V * 8, n * V - 1 };

	(void)s;
	for (int p = XENT_SCALAR; p <= XENT_AVX512; p++) {
		if (xent_force((enum xent_path)p) < 0)
			continue;
		for (size_t k = 0; k < sizeof spots / sizeof spots[0]; k++)
			for (int b = 0; b < 3; b++) {
				for (int i = 0; i < n * V; i++)
					lg[i] = (float)(i % 13) * 0.25f;
				lg[spots[k]] = bad[b];
				if (xent_positions(lg, tg, n, V, nats) != -1)
					fail_msg("%s accepted %f at %d", xent_path_name((enum xent_path)p), (double)bad[b],
						 spots[k]);
			}
	}
	restore();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths_named),
		cmocka_unit_test(test_exp_lanes),
		cmocka_unit_test(test_positions_equal),
		cmocka_unit_test(test_uniform_is_ln_v),
		cmocka_unit_test(test_huge_logits_not_free),
		cmocka_unit_test(test_nonfinite_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
