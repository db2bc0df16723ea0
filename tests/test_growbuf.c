/* test_growbuf.c: the capped, growing buffer (src/util/growbuf.h): bytes
 * in order and NUL-terminated across many appends, exactly the cap
 * accepted, one byte over it refused with growbuf.too_large and nothing
 * appended, reset keeping the memory, and a zero cap. */
#include "testutil.h"

#include "util/growbuf.h"

static void appends_in_order_up_to_the_cap(void **unused)
{
	struct growbuf b;
	struct kerr err = { { 0 }, { 0 } };
	char chunk[1000];

	(void)unused;
	growbuf_init(&b, 10000);
	assert_null(b.buf);
	for (int i = 0; i < 10; i++) {
		memset(chunk, 'a' + i, sizeof chunk);
		assert_int_equal(growbuf_append(&b, chunk, sizeof chunk, &err), 0);
	}
	assert_int_equal(b.len, 10000);
	assert_true(b.cap <= 10001); /* never more than the cap and its NUL */
	assert_int_equal(b.buf[0], 'a');
	assert_int_equal(b.buf[9999], 'j');
	assert_int_equal(b.buf[10000], '\0');
	/* full: one more byte is refused and nothing changes */
	assert_int_equal(growbuf_append(&b, "x", 1, &err), -1);
	assert_string_equal(err.code, "growbuf.too_large");
	assert_int_equal(b.len, 10000);
	assert_int_equal(b.buf[10000], '\0');
	/* an empty append is fine even when full */
	assert_int_equal(growbuf_append(&b, "", 0, &err), 0);
	/* reset keeps the memory for the next attempt */
	growbuf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.buf, "");
	assert_int_equal(growbuf_append(&b, "hello", 5, &err), 0);
	assert_string_equal(b.buf, "hello");
	growbuf_free(&b);
	assert_null(b.buf);
	assert_int_equal(b.max, 10000);
}

static void over_the_cap_at_once_is_refused(void **unused)
{
	struct growbuf b;
	struct kerr err = { { 0 }, { 0 } };
	char big[64];

	(void)unused;
	memset(big, 'z', sizeof big);
	growbuf_init(&b, 63);
	assert_int_equal(growbuf_append(&b, big, 64, &err), -1);
	assert_string_equal(err.code, "growbuf.too_large");
	assert_null(b.buf);
	assert_int_equal(growbuf_append(&b, big, 63, &err), 0);
	assert_int_equal(b.len, 63);
	growbuf_free(&b);
	/* a length that would wrap size_t is refused, not wrapped */
	growbuf_init(&b, 16);
	assert_int_equal(growbuf_append(&b, big, 8, &err), 0);
	assert_int_equal(growbuf_append(&b, big, SIZE_MAX - 4, &err), -1);
	assert_string_equal(err.code, "growbuf.too_large");
	assert_int_equal(b.len, 8);
	growbuf_free(&b);
	/* a zero cap holds nothing */
	growbuf_init(&b, 0);
	assert_int_equal(growbuf_append(&b, "a", 1, &err), -1);
	assert_int_equal(growbuf_append(&b, "", 0, &err), 0);
	assert_int_equal(b.len, 0);
	growbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(appends_in_order_up_to_the_cap),
		cmocka_unit_test(over_the_cap_at_once_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
