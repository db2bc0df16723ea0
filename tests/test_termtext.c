/* test_termtext.c: the one rule for text bound for a terminal. Controls of
 * every kind (C0, DEL, C1 as UTF-8, raw 8-bit C1) and malformed UTF-8 are
 * replaced byte for byte; well-formed text in any script is kept. */
#include "testutil.h"

#include "util/termtext.h"

static void expect_clean(const char *in, const char *want)
{
	char buf[64];

	snprintf(buf, sizeof buf, "%s", in);
	assert_ptr_equal(termtext_clean(buf, '?'), buf);
	if (strcmp(buf, want))
		fail_msg("'%s' cleaned to '%s', want '%s'", in, buf, want);
}

static void controls_are_replaced(void **st)
{
	(void)st;
	expect_clean("a\nb\rc\td\x1b[2J", "a?b?c?d?[2J");
	expect_clean("del\x7f", "del?");
	/* U+009B (CSI) and U+0085 (NEL) in UTF-8: commands to some terminals */
	expect_clean("x\xc2\x9b" "31m", "x??31m");
	expect_clean("\xc2\x85next", "??next");
	/* a raw 8-bit CSI, and a lone continuation byte */
	expect_clean("\x9b" "2J", "?2J");
	expect_clean("\x80", "?");
}

static void well_formed_text_is_kept(void **st)
{
	(void)st;
	expect_clean("plain ascii ~", "plain ascii ~");
	/* U+00A0 (the first code point past C1), U+00E9, U+20AC, U+1F600,
	 * U+10FFFF */
	expect_clean("\xc2\xa0\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf",
		     "\xc2\xa0\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf");
}

static void malformed_utf8_is_replaced(void **st)
{
	(void)st;
	/* overlong '/' and NUL forms */
	expect_clean("\xc0\xaf\xc1\xbf", "????");
	expect_clean("\xe0\x80\xaf", "???");
	/* a surrogate half, and past U+10FFFF */
	expect_clean("\xed\xa0\x80", "???");
	expect_clean("\xf4\x90\x80\x80", "????");
	expect_clean("\xf5\x80", "??");
	/* cut short: by the end, and by an ASCII byte (kept) */
	expect_clean("ok\xe2\x82", "ok??");
	expect_clean("\xe2" "a", "?a");
}

/* A right-to-left override would show "exe.txt" as "txt.exe"; the
 * isolates, marks and embeddings reorder text too. Their neighbours on
 * both sides are kept: U+2029 and U+202F, U+200D (the joiner), U+2065
 * (unassigned) and U+206A, U+061B and U+061D, and U+2030. */
static void bidi_controls_are_replaced(void **st)
{
	(void)st;
	expect_clean("a\xe2\x80\xaetxt.exe", "a???txt.exe");
	expect_clean("\xe2\x80\xaa\xe2\x80\x8e\xe2\x80\x8f\xe2\x81\xa6\xe2\x81\xa9\xd8\x9c", "?????????????????");
	expect_clean("\xe2\x80\xa9\xe2\x80\xaf\xe2\x80\x8d\xe2\x81\xa5\xe2\x81\xaa",
		     "\xe2\x80\xa9\xe2\x80\xaf\xe2\x80\x8d\xe2\x81\xa5\xe2\x81\xaa");
	expect_clean("\xd8\x9b\xd8\x9d\xe2\x80\xb0", "\xd8\x9b\xd8\x9d\xe2\x80\xb0");
}

/* termtext_utf8 mends only what is not UTF-8 (what a JSON string cannot
 * hold); controls and bidi marks stay, for a reader's own cleaning. */
static void utf8_only_mends_malformed_bytes(void **st)
{
	char buf[64];

	(void)st;
	snprintf(buf, sizeof buf, "%s", "a\n\x1b[2J\xe2\x80\xae \xc3\xa9 \xff\xc0\xaf ok\xe2\x82");
	assert_ptr_equal(termtext_utf8(buf, '?'), buf);
	assert_string_equal(buf, "a\n\x1b[2J\xe2\x80\xae \xc3\xa9 ??? ok??");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(controls_are_replaced),
		cmocka_unit_test(well_formed_text_is_kept),
		cmocka_unit_test(malformed_utf8_is_replaced),
		cmocka_unit_test(bidi_controls_are_replaced),
		cmocka_unit_test(utf8_only_mends_malformed_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
