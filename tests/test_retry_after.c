/* test_retry_after.c: Retry-After values (src/util/retry_after.h): whole
 * seconds with blanks around them, huge values saturated rather than
 * overflowed, HTTP dates relative to now (past ones 0), and everything
 * else refused with retry_after.bad: garbage, negative, fractions,
 * trailing text, malformed and impossible dates. retry_after_line as
 * libcurl hands header lines in. */
#include "testutil.h"

#include "util/retry_after.h"

/* Sun, 06 Nov 1994 08:49:37 GMT */
#define T_1994 ((time_t)784111777)

static long ok(const char *v, time_t now)
{
	struct kerr err = { { 0 }, { 0 } };
	long s = -1;

	if (retry_after_parse(v, now, &s, &err) < 0)
		fail_msg("'%s': %s (%s)", v, err.msg, err.code);
	return s;
}

static void bad(const char *v)
{
	struct kerr err = { { 0 }, { 0 } };
	long s = 12345;

	if (retry_after_parse(v, T_1994, &s, &err) == 0)
		fail_msg("'%s' was taken as %ld s", v, s);
	assert_string_equal(err.code, "retry_after.bad");
	assert_int_equal(s, 12345);
}

static void seconds(void **unused)
{
	(void)unused;
	assert_int_equal(ok("0", 0), 0);
	assert_int_equal(ok("120", 0), 120);
	assert_int_equal(ok("  7 \r\n", 0), 7);
	assert_int_equal(ok("007", 0), 7);
	/* huge: saturated, the caller's cap applies */
	assert_int_equal(ok("99999999999999999999999999999", 0), RETRY_AFTER_SATURATE_S);
	assert_int_equal(ok("2147483648", 0), RETRY_AFTER_SATURATE_S);
	assert_int_equal(ok("2147483646", 0), 2147483646L);
}

static void dates(void **unused)
{
	(void)unused;
	assert_int_equal(ok("Sun, 06 Nov 1994 08:49:37 GMT", T_1994 - 30), 30);
	assert_int_equal(ok("Sun, 06 Nov 1994 08:49:37 GMT", T_1994), 0);
	assert_int_equal(ok("Sun, 06 Nov 1994 08:49:37 GMT", T_1994 + 3600), 0); /* past: now */
	assert_int_equal(ok("Mon, 07 Nov 1994 08:49:37 GMT", T_1994), 86400);
	assert_int_equal(ok(" Sun, 06 Nov 1994 08:50:37 GMT\r\n", T_1994), 60);
}

static void garbage_is_refused(void **unused)
{
	static const char *const v[] = {
		"", "   ", "soon", "-5", "+5", "1.5", "5s", "5 6", "0x10", "1e3",
		"Sun, 06 Nov 1994 08:49:37", "Sun, 06 Nov 1994 08:49:37 UTC", "Sunday, 06-Nov-94 08:49:37 GMT",
		"Sun Nov  6 08:49:37 1994", "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT",
		"Xyz, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 GMTx",
		"Sun, 6 Nov 1994 08:49:37 GMT",
		"1234567890123456789012345678901234567890123456789012345678901234567890",
	};

	(void)unused;
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		bad(v[i]);
}

static void header_lines(void **unused)
{
	static const char h1[] = "Retry-After: 5\r\n", h2[] = "retry-after:12\r\n", h3[] = "Content-Type: x\r\n",
			  h4[] = "Retry-After: later\r\n", h5[] = "Retry-After:\r\n";
	long s = 99;

	(void)unused;
	assert_int_equal(retry_after_line(h1, sizeof h1 - 1, 0, &s), 1);
	assert_int_equal(s, 5);
	assert_int_equal(retry_after_line(h2, sizeof h2 - 1, 0, &s), 1);
	assert_int_equal(s, 12);
	s = 99;
	assert_int_equal(retry_after_line(h3, sizeof h3 - 1, 0, &s), 0);
	assert_int_equal(retry_after_line(h4, sizeof h4 - 1, 0, &s), 0);
	assert_int_equal(retry_after_line(h5, sizeof h5 - 1, 0, &s), 0);
	assert_int_equal(retry_after_line(h1, 5, 0, &s), 0); /* cut short: not the header */
	assert_int_equal(s, 99);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(seconds),
		cmocka_unit_test(dates),
		cmocka_unit_test(garbage_is_refused),
		cmocka_unit_test(header_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
