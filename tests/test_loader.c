/* test_loader.c: the data order is a pure function of (seed, step, B, T,
 * tokens), stays in bounds, and the rng streams under it are separated by
 * purpose and index. */
#include "testutil.h"

#include "harness/loader.h"
#include "util/hash.h"
#include "util/rng.h"

#define NTOK 1000

static uint16_t toks[NTOK];

static int setup(void **s)
{
	(void)s;
	hash_init_lib();
	for (int i = 0; i < NTOK; i++)
		toks[i] = (uint16_t)i; /* token value == its position: starts are visible */
	return 0;
}

static void test_rng_streams(void **s)
{
	struct rng a, b;
	uint64_t x;

	(void)s;
	/* Pinned value: the stream definition is part of the protocol, so a
	 * change to it must show up here (update docs/harness.md with it). */
	x = rng_stream(0, "data", 0);
	/* = first 8 bytes, little-endian, of
	 * printf 'karpa-rng-1\0data\0' + 16 zero bytes | sha256sum */
	assert_int_equal(x, 0x0406f7d88e9d9d6cULL);
	rng_init(&a, 0, "data", 0);
	assert_int_equal(rng_next_u64(&a), 0x3c8dfd1f23c5191bULL);
	assert_int_equal(x, rng_stream(0, "data", 0));
	assert_int_not_equal(x, rng_stream(1, "data", 0));
	assert_int_not_equal(x, rng_stream(0, "data", 1));
	assert_int_not_equal(x, rng_stream(0, "dat", 0));
	assert_int_not_equal(x, rng_stream(0, "dropout", 0));
	/* Purpose and index do not run together ("da"+"ta" framing). */
	assert_int_not_equal(rng_stream(0, "data1", 0), rng_stream(0, "data", 1));
	rng_init(&a, 42, "data", 3);
	rng_init(&b, 42, "data", 3);
	for (int i = 0; i < 100; i++)
		assert_int_equal(rng_next_u64(&a), rng_next_u64(&b));
}

static void test_rng_ranges(void **s)
{
	struct rng r;
	int hist[10] = { 0 };
	double lo = 1, hi = 0;

	(void)s;
	rng_init(&r, 9, "test", 0);
	for (int i = 0; i < 20000; i++) {
		double u = rng_uniform(&r);
		assert_true(u >= 0 && u < 1);
		lo = u < lo ? u : lo;
		hi = u > hi ? u : hi;
		uint64_t k = rng_below(&r, 10);
		assert_true(k < 10);
		hist[k]++;
	}
	assert_true(lo < 0.01 && hi > 0.99);
	/* Each bucket expects 2000; 5 sigma is about 212. */
	for (int i = 0; i < 10; i++)
		assert_true(hist[i] > 1780 && hist[i] < 2220);
	assert_int_equal(rng_below(&r, 1), 0);
}

static void test_batch_deterministic(void **s)
{
	uint16_t a[4 * 17], b[4 * 17], c[4 * 17];
	struct kerr err;

	(void)s;
	assert_int_equal(loader_batch(5, 12, 4, 16, toks, NTOK, a, &err), 0);
	assert_int_equal(loader_batch(5, 12, 4, 16, toks, NTOK, b, &err), 0);
	assert_memory_equal(a, b, sizeof a);
	/* Other steps and seeds give other windows. */
	assert_int_equal(loader_batch(5, 13, 4, 16, toks, NTOK, c, &err), 0);
	assert_memory_not_equal(a, c, sizeof a);
	assert_int_equal(loader_batch(6, 12, 4, 16, toks, NTOK, c, &err), 0);
	assert_memory_not_equal(a, c, sizeof a);
	/* Row r does not depend on B: a larger batch extends, never reshuffles. */
	{
		uint16_t big[8 * 17];
		assert_int_equal(loader_batch(5, 12, 8, 16, toks, NTOK, big, &err), 0);
		assert_memory_equal(a, big, sizeof a);
	}
	/* The rows are the stream's draws: row 0 starts at rng_below(NTOK-16). */
	{
		struct rng r;
		rng_init(&r, 5, "data", 12);
		assert_int_equal(a[0], rng_below(&r, NTOK - 16));
		assert_int_equal(a[17], rng_below(&r, NTOK - 16));
	}
}

static void test_batch_bounds(void **s)
{
	enum { T = 7 };
	uint16_t out[64 * (T + 1)];
	int seen_first = 0, seen_last = 0;
	struct kerr err;

	(void)s;
	/* With 10 tokens and rows of 8, starts are 0, 1 or 2: all must occur,
	 * and every row must be 8 consecutive tokens. */
	for (int step = 0; step < 20; step++) {
		assert_int_equal(loader_batch(1, step, 64, T, toks, 10, out, &err), 0);
		for (int r = 0; r < 64; r++) {
			uint16_t *row = out + r * (T + 1);
			assert_true(row[0] <= 2);
			for (int t = 1; t <= T; t++)
				assert_int_equal(row[t], row[0] + t);
			seen_first |= row[0] == 0;
			seen_last |= row[0] == 2;
		}
	}
	assert_true(seen_first && seen_last);
	/* Exactly one row fits: start is always 0. */
	assert_int_equal(loader_batch(1, 0, 3, 9, toks, 10, out, &err), 0);
	assert_int_equal(out[0], 0);
	assert_int_equal(out[10], 0);
	assert_int_equal(loader_batch(1, 0, 1, 10, toks, 10, out, &err), -1);
	assert_string_equal(err.code, "loader.too_short");
	assert_int_equal(loader_batch(1, 0, 0, 4, toks, 10, out, &err), -1);
	assert_string_equal(err.code, "loader.bad_shape");
	assert_int_equal(loader_batch(1, -1, 1, 4, toks, 10, out, &err), -1);
	assert_string_equal(err.code, "loader.bad_shape");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rng_streams),
		cmocka_unit_test(test_rng_ranges),
		cmocka_unit_test(test_batch_deterministic),
		cmocka_unit_test(test_batch_bounds),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
