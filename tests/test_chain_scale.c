/* test_chain_scale.c: the SCALE codec (src/chain/scale.c). Compact
 * integers in all four modes against the encodings Substrate documents,
 * both directions; a non-canonical or overflowing compact refused; every
 * read bounded by the bytes left (a length prefix past the end refused
 * before anything is allocated); the writer's cap; sticky failures. */
#include "testutil.h"

#include "chain/scale.h"

struct compact_case {
	uint64_t v;
	const char *hex;
};

/* From the SCALE documentation's table and the mode boundaries. */
static const struct compact_case compacts[] = {
	{ 0, "00" },
	{ 1, "04" },
	{ 42, "a8" },
	{ 63, "fc" },
	{ 64, "0101" },
	{ 69, "1501" },
	{ 16383, "fdff" },
	{ 16384, "02000100" },
	{ 1073741823, "feffffff" },
	{ 1073741824, "0300000040" },
	{ 4294967295u, "03ffffffff" },
	{ 4294967296u, "070000000001" },
	{ 100000000000000ull, "0b00407a10f35a" },
	{ UINT64_MAX, "13ffffffffffffffff" },
};

static size_t unhex(const char *s, uint8_t *out)
{
	size_t n = 0;
	unsigned v;

	for (; s[0] && s[1]; s += 2) {
		assert_int_equal(sscanf(s, "%2x", &v), 1);
		out[n++] = (uint8_t)v;
	}
	return n;
}

static void compact_encodes_as_documented(void **state)
{
	for (size_t i = 0; i < sizeof compacts / sizeof compacts[0]; i++) {
		uint8_t want[16], got[SCALE_COMPACT_BYTES_MAX];
		size_t n = unhex(compacts[i].hex, want);

		assert_int_equal(scale_compact_encode(compacts[i].v, got), n);
		assert_memory_equal(got, want, n);
	}
}

static void compact_decodes_what_it_encodes(void **state)
{
	for (size_t i = 0; i < sizeof compacts / sizeof compacts[0]; i++) {
		uint8_t buf[16];
		size_t n = unhex(compacts[i].hex, buf);
		struct scale_reader r;
		struct kerr e = { 0 };
		uint64_t v;

		scale_reader_init(&r, buf, n, &e);
		assert_int_equal(scale_read_compact(&r, &v), 0);
		assert_true(v == compacts[i].v);
		assert_int_equal(scale_remaining(&r), 0);
	}
	/* and every value near each mode's edge round-trips */
	for (int shift = 0; shift < 64; shift++)
		for (int64_t d = -2; d <= 2; d++) {
			uint64_t x = ((uint64_t)1 << shift) + (uint64_t)d, y;
			uint8_t b[SCALE_COMPACT_BYTES_MAX];
			size_t n = scale_compact_encode(x, b);
			struct scale_reader r;
			struct kerr e = { 0 };

			scale_reader_init(&r, b, n, &e);
			assert_int_equal(scale_read_compact(&r, &y), 0);
			assert_true(x == y);
		}
}

static void expect_fail(const char *hex, const char *code)
{
	uint8_t buf[32];
	size_t n = unhex(hex, buf);
	struct scale_reader r;
	struct kerr e = { 0 };
	uint64_t v;

	scale_reader_init(&r, buf, n, &e);
	if (scale_read_compact(&r, &v) == 0)
		fail_msg("compact %s decoded as %llu, want %s", hex, (unsigned long long)v, code);
	assert_string_equal(e.code, code);
}

static void compact_refuses_noncanonical_overflow_and_truncation(void **state)
{
	expect_fail("0100", "scale.noncanonical");               /* 0 in two bytes */
	expect_fail("fd00", "scale.noncanonical");               /* 63 in two bytes */
	expect_fail("02000000", "scale.noncanonical");           /* 0 in four */
	expect_fail("feff0000", "scale.noncanonical");           /* 16383 in four */
	expect_fail("03ffffff3f", "scale.noncanonical");         /* 2^30-1 in big mode */
	expect_fail("070000000000", "scale.noncanonical");       /* zero top byte */
	expect_fail("17000000000000000001", "scale.overflow");   /* 9 bytes: 2^64 */
	expect_fail("", "scale.truncated");
	expect_fail("01", "scale.truncated");
	expect_fail("02ffff", "scale.truncated");
	expect_fail("13ffffffffffffff", "scale.truncated");
	expect_fail("ff", "scale.truncated");                    /* 67 bytes announced */
}

static void integers_are_little_endian(void **state)
{
	const uint8_t b[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
			      0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16,
			      0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f };
	struct scale_reader r;
	struct kerr e = { 0 };
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64, lo, hi;

	scale_reader_init(&r, b, sizeof b, &e);
	assert_int_equal(scale_read_u8(&r, &u8), 0);
	assert_int_equal(scale_read_u16(&r, &u16), 0);
	assert_int_equal(scale_read_u32(&r, &u32), 0);
	assert_int_equal(scale_read_u64(&r, &u64), 0);
	assert_int_equal(u8, 0x01);
	assert_int_equal(u16, 0x0302);
	assert_int_equal(u32, 0x07060504u);
	assert_true(u64 == 0x0f0e0d0c0b0a0908ull);
	assert_int_equal(scale_read_u128(&r, &lo, &hi), 0);
	assert_true(lo == 0x1716151413121110ull && hi == 0x1f1e1d1c1b1a1918ull);
	assert_int_equal(scale_read_u8(&r, &u8), -1);
	assert_string_equal(e.code, "scale.truncated");
	assert_int_equal(scale_remaining(&r), 0);
	assert_int_equal(scale_read_u16(&r, &u16), -1); /* sticky */

	{
		struct scale_writer w;
		struct kerr we = { 0 };

		scale_writer_init(&w, 64, &we);
		scale_put_u8(&w, 0x01);
		scale_put_u16(&w, 0x0302);
		scale_put_u32(&w, 0x07060504u);
		scale_put_u64(&w, 0x0f0e0d0c0b0a0908ull);
		scale_put_u128(&w, 0x1716151413121110ull, 0x1f1e1d1c1b1a1918ull);
		assert_int_equal(w.len, 31);
		assert_memory_equal(w.buf, b, 31);
		scale_writer_free(&w);
	}
}

static void bool_and_option_tags_are_checked(void **state)
{
	const uint8_t b[] = { 0x00, 0x01, 0x02 };
	struct scale_reader r;
	struct kerr e = { 0 };
	bool v;

	scale_reader_init(&r, b, sizeof b, &e);
	assert_int_equal(scale_read_bool(&r, &v), 0);
	assert_false(v);
	assert_int_equal(scale_read_bool(&r, &v), 0);
	assert_true(v);
	assert_int_equal(scale_read_bool(&r, &v), -1);
	assert_string_equal(e.code, "scale.bad_bool");

	scale_reader_init(&r, b, sizeof b, &e);
	assert_int_equal(scale_read_option(&r, &v), 0);
	assert_false(v);
	assert_int_equal(scale_read_option(&r, &v), 0);
	assert_true(v);
	assert_int_equal(scale_read_option(&r, &v), -1);
	assert_string_equal(e.code, "scale.bad_option");
}

static void vector_length_is_checked_before_allocation(void **state)
{
	/* 3 u16 items announced, 4 bytes present */
	const uint8_t short_vec[] = { 0x0c, 0x01, 0x00, 0x02, 0x00 };
	/* 2^62 - 1 items announced in five bytes */
	const uint8_t huge[] = { 0x13, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f };
	const uint8_t good[] = { 0x0c, 0x00, 0x00, 0xff, 0xff, 0x00, 0x80 };
	struct scale_reader r;
	struct kerr e = { 0 };
	uint16_t *v;
	size_t n;

	scale_reader_init(&r, short_vec, sizeof short_vec, &e);
	assert_int_equal(scale_read_vec_u16(&r, 100, &v, &n), -1);
	assert_string_equal(e.code, "scale.length");
	assert_null(v);

	scale_reader_init(&r, huge, sizeof huge, &e);
	assert_int_equal(scale_read_len(&r, 0, &n), -1);
	assert_string_equal(e.code, "scale.length");

	scale_reader_init(&r, good, sizeof good, &e);
	assert_int_equal(scale_read_vec_u16(&r, 2, &v, &n), -1);
	assert_string_equal(e.code, "scale.too_long");

	scale_reader_init(&r, good, sizeof good, &e);
	assert_int_equal(scale_read_vec_u16(&r, 3, &v, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(v[0], 0);
	assert_int_equal(v[1], 65535);
	assert_int_equal(v[2], 32768);
	free(v);

	{
		const uint8_t s[] = { 0x14, 'h', 'e', 'l', 'l', 'o', 0x08, 'x' };
		const uint8_t *view;

		scale_reader_init(&r, s, sizeof s, &e);
		assert_int_equal(scale_read_str(&r, &view, &n), 0);
		assert_int_equal(n, 5);
		assert_memory_equal(view, "hello", 5);
		assert_int_equal(scale_read_str(&r, &view, &n), -1);
		assert_string_equal(e.code, "scale.length");
	}
}

static void writer_encodes_vectors_options_and_enums(void **state)
{
	const uint16_t v[] = { 0, 1, 5 };
	const uint8_t want[] = { 0x0c, 0x00, 0x00, 0x01, 0x00, 0x05, 0x00, 0x00, 0x01, 0x2a, 0x03,
				 0x01, 0x14, 'h', 'e', 'l', 'l', 'o' };
	struct scale_writer w;
	struct kerr e = { 0 };

	scale_writer_init(&w, 1024, &e);
	scale_put_vec_u16(&w, v, 3);
	scale_put_option_none(&w);
	scale_put_option_some(&w);
	scale_put_u8(&w, 42);
	scale_put_enum(&w, 3);
	scale_put_bool(&w, true);
	scale_put_str(&w, "hello", 5);
	assert_false(w.failed);
	assert_int_equal(w.len, sizeof want);
	assert_memory_equal(w.buf, want, sizeof want);
	scale_writer_free(&w);
}

static void writer_stops_at_its_cap(void **state)
{
	struct scale_writer w;
	struct kerr e = { 0 };

	scale_writer_init(&w, 10, &e);
	assert_int_equal(scale_put_u64(&w, 1), 0);
	assert_int_equal(scale_put_u16(&w, 2), 0);
	assert_int_equal(scale_put_u8(&w, 3), -1);
	assert_string_equal(e.code, "scale.too_large");
	assert_int_equal(w.len, 10);
	assert_int_equal(scale_put_u8(&w, 3), -1); /* sticky */
	scale_writer_reset(&w);
	assert_int_equal(scale_put_u8(&w, 3), 0);
	scale_writer_free(&w);

	/* growth across many doublings keeps every byte */
	scale_writer_init(&w, 1u << 20, &e);
	for (uint32_t i = 0; i < 100000; i++)
		assert_int_equal(scale_put_u32(&w, i), 0);
	for (uint32_t i = 0; i < 100000; i += 997) {
		uint32_t x;
		memcpy(&x, w.buf + 4 * i, 4);
		assert_int_equal(x, i);
	}
	scale_writer_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(compact_encodes_as_documented),
		cmocka_unit_test(compact_decodes_what_it_encodes),
		cmocka_unit_test(compact_refuses_noncanonical_overflow_and_truncation),
		cmocka_unit_test(integers_are_little_endian),
		cmocka_unit_test(bool_and_option_tags_are_checked),
		cmocka_unit_test(vector_length_is_checked_before_allocation),
		cmocka_unit_test(writer_encodes_vectors_options_and_enums),
		cmocka_unit_test(writer_stops_at_its_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
