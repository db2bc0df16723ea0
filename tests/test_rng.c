/* test_rng.c: the counter-based streams against known answers. The expected
 * values were computed independently of this code, in Python from the
 * definition in rng.h: hashlib.sha256(b"karpa-rng-1\0" + purpose + b"\0" +
 * struct.pack("<QQ", seed, index)) read as a little-endian uint64 for the
 * stream, then splitmix64 (state += 0x9e3779b97f4a7c15, the two xor-shift
 * multiplies) for the draws. splitmix64 from state 0 giving
 * 0xe220a8397b1dcdaf is also the published reference sequence of the
 * generator, so that one is checked against a second source. */
#include "testutil.h"

#include "util/rng.h"

static void test_stream_known_answers(void **state)
{
	assert_true(rng_stream(1, "data", 0) == 0x9748eeb45575d9d4ull);
	assert_true(rng_stream(42, "dropout", 3) == 0x26f4f75304d9f7f9ull);
	assert_true(rng_stream(0, "", 0) == 0xc992cc9c9c217867ull);
}

/* Purposes are separate streams; each input changes the start. */
static void test_streams_are_separated(void **state)
{
	uint64_t base = rng_stream(1, "data", 0);

	assert_true(rng_stream(2, "data", 0) != base);
	assert_true(rng_stream(1, "datb", 0) != base);
	assert_true(rng_stream(1, "data", 1) != base);
	/* A prefix of a purpose is a stream of its own (the NUL ends the name). */
	assert_true(rng_stream(1, "dat", 0) != base);
	/* A pure function: the same inputs, the same start, any time. */
	assert_true(rng_stream(1, "data", 0) == base);
}

/* Purposes longer than RNG_PURPOSE_MAX are cut there, as documented. */
static void test_purpose_truncated(void **state)
{
	char p64[RNG_PURPOSE_MAX + 1], p80[81];

	memset(p64, 'p', RNG_PURPOSE_MAX);
	p64[RNG_PURPOSE_MAX] = '\0';
	memset(p80, 'p', 80);
	p80[80] = '\0';
	assert_true(rng_stream(5, p64, 0) == 0x9d810c6842f6e943ull);
	assert_true(rng_stream(5, p80, 0) == 0x9d810c6842f6e943ull);
}

static void test_splitmix_known_answers(void **state)
{
	struct rng r = { 0 };

	assert_true(rng_next_u64(&r) == 0xe220a8397b1dcdafull);
	assert_true(rng_next_u64(&r) == 0x6e789e6aa1b965f4ull);
	assert_true(rng_next_u64(&r) == 0x06c45d188009454full);

	rng_init(&r, 1, "data", 0);
	assert_true(r.state == 0x9748eeb45575d9d4ull);
	assert_true(rng_next_u64(&r) == 0x3f72ddf56cc2b00bull);
	assert_true(rng_next_u64(&r) == 0x07e7677dab7ae091ull);
	assert_true(rng_next_u64(&r) == 0x97deb15ee1b63b2bull);
}

static void test_uniform_known_answers(void **state)
{
	struct rng r;

	rng_init(&r, 42, "dropout", 3);
	/* Top 53 bits times 2^-53: exact in a double, so compared exactly. */
	assert_true(rng_uniform(&r) == 0.9439418989862767);
	assert_true(rng_uniform(&r) == 0.6035750964084483);
	for (int i = 0; i < 10000; i++) {
		double u = rng_uniform(&r);
		assert_true(u >= 0.0 && u < 1.0);
	}
}

static void test_below_known_answers(void **state)
{
	static const uint64_t small[8] = { 0, 0, 0, 1, 0, 7, 9, 7 };
	/* n = 2^63 + 1 rejects every draw below 2^63 - 1: the stream's first
	 * two draws are rejected, so the rejection loop is what is tested. */
	static const uint64_t big[4] = { 0x6a4450c3fc7167c7ull, 0x2108c5218f2d41d8ull, 0x05d6b412b389ff4eull,
					 0x4b62d09d584e8620ull };
	struct rng r;

	rng_init(&r, 7, "order", 1);
	for (int i = 0; i < 8; i++)
		assert_true(rng_below(&r, 10) == small[i]);
	rng_init(&r, 7, "order", 1);
	for (int i = 0; i < 4; i++)
		assert_true(rng_below(&r, (1ull << 63) + 1) == big[i]);
	rng_init(&r, 7, "order", 1);
	for (int i = 0; i < 100; i++)
		assert_true(rng_below(&r, 1) == 0);
}

/* No modulo bias worth the name: 60000 draws below 3 land within 2% of
 * 20000 each (a sigma is about 115). */
static void test_below_roughly_uniform(void **state)
{
	struct rng r;
	int count[3] = { 0 };

	rng_init(&r, 9, "bias", 0);
	for (int i = 0; i < 60000; i++)
		count[rng_below(&r, 3)]++;
	for (int i = 0; i < 3; i++)
		assert_true(count[i] > 19600 && count[i] < 20400);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_known_answers),   cmocka_unit_test(test_streams_are_separated),
		cmocka_unit_test(test_purpose_truncated),      cmocka_unit_test(test_splitmix_known_answers),
		cmocka_unit_test(test_uniform_known_answers),  cmocka_unit_test(test_below_known_answers),
		cmocka_unit_test(test_below_roughly_uniform),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
