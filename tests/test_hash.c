/* test_hash.c: hash_is_hex, the one spelling check for hex the protocol
 * writes: exactly n lowercase digits, then the end. */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_is_hex),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
