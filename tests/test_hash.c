/* test_hash.c: hash_is_hex, the one spelling check for hex the protocol
 * writes: exactly n lowercase digits, then the end; and the bulk SHA-256
 * path, which must give the other path's digests. */
#include "testutil.h"

#include "util/hash.h"

static void test_is_hex(void **state)
{
	char d[HASH_HEX_BYTES];

	(void)state;
	hash_buf_hex("karpa", 5, d);
	assert_true(hash_is_hex(d, HASH_HEX_BYTES - 1));
	assert_false(hash_is_hex(d, HASH_HEX_BYTES - 2)); /* longer than n */
	assert_false(hash_is_hex(d, HASH_HEX_BYTES));     /* shorter than n */
	assert_false(hash_is_hex(NULL, 0));
	assert_true(hash_is_hex("", 0));
	assert_true(hash_is_hex("0123456789abcdef", 16));
	assert_false(hash_is_hex("0123456789ABCDEF", 16)); /* a second spelling */
	assert_false(hash_is_hex("0123456789abcdeg", 16));
	assert_false(hash_is_hex("01234567 9abcdef", 16));
	assert_false(hash_is_hex("0123456789abcdef\n", 16));
}

/* The bulk path (OpenSSL) gives libsodium's digests: the FIPS 180-2
 * vectors, and random data fed whole, in pieces of every size up to 300
 * bytes, and through hash_file_hex. A dropped context and a second drop are
 * harmless. */
static void test_bulk_matches(void **state)
{
	static const char abc_hex[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	unsigned char data[4099];
	uint8_t a[HASH_BYTES], b[HASH_BYTES];
	char hex[HASH_HEX_BYTES], fhex[HASH_HEX_BYTES], path[FS_PATH_MAX], *dir = tu_mkdtemp();
	struct hash_bulk h = { NULL };
	struct kerr err;
	uint64_t n = 0;

	(void)state;
	assert_int_equal(hash_bulk_begin(&h, &err), 0);
	hash_bulk_update(&h, "abc", 3);
	hash_bulk_end(&h, a);
	hash_hex(a, hex);
	assert_string_equal(hex, abc_hex);
	assert_null(h.md);
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (unsigned char)(i * 2654435761u >> 13);
	hash_buf(data, sizeof data, a);
	for (size_t piece = 1; piece <= 300; piece++) {
		assert_int_equal(hash_bulk_begin(&h, &err), 0);
		for (size_t at = 0; at < sizeof data; at += piece)
			hash_bulk_update(&h, data + at, sizeof data - at < piece ? sizeof data - at : piece);
		hash_bulk_end(&h, b);
		assert_memory_equal(a, b, HASH_BYTES);
	}
	assert_int_equal(hash_bulk_begin(&h, &err), 0);
	hash_bulk_update(&h, data, 10);
	hash_bulk_drop(&h);
	hash_bulk_drop(&h);
	snprintf(path, sizeof path, "%s/f", dir);
	assert_int_equal(fs_write_atomic(path, data, sizeof data, &err), 0);
	assert_int_equal(hash_file_hex(path, fhex, &n, &err), 0);
	hash_hex(a, hex);
	assert_string_equal(fhex, hex);
	assert_int_equal(n, sizeof data);
	tu_rmdir(dir);
}

/* A copied context goes on on its own: the digest of a prefix and of the
 * prefix plus more from one pass, as a checkpoint's two digests are. */
static void test_bulk_copy_forks(void **state)
{
	unsigned char data[1000];
	uint8_t prefix[HASH_BYTES], whole[HASH_BYTES], want[HASH_BYTES];
	struct hash_bulk h = { NULL }, c = { NULL };
	struct kerr err;

	(void)state;
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (unsigned char)(i * 40503u >> 5);
	assert_int_equal(hash_bulk_begin(&h, &err), 0);
	hash_bulk_update(&h, data, 600);
	assert_int_equal(hash_bulk_copy(&c, &h, &err), 0);
	assert_ptr_not_equal(c.md, h.md);
	hash_bulk_end(&h, prefix);
	hash_bulk_update(&c, data + 600, sizeof data - 600);
	hash_bulk_end(&c, whole);
	hash_buf(data, 600, want);
	assert_memory_equal(prefix, want, HASH_BYTES);
	hash_buf(data, sizeof data, want);
	assert_memory_equal(whole, want, HASH_BYTES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_is_hex),
		cmocka_unit_test(test_bulk_matches),
		cmocka_unit_test(test_bulk_copy_forks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
