/* test_log.c: the library's one way to speak. Messages reach the sink the
 * program installed, one bounded line each, control bytes replaced (a
 * message may carry text from a bundle); NULL restores the default. */
#include "testutil.h"

#include "util/log.h"

struct seen {
	int n;
	enum log_level level;
	char component[32];
	char line[LOG_LINE_MAX + 1];
};

static void capture(void *arg, enum log_level level, const char *component, const char *line)
{
	struct seen *s = arg;

	s->n++;
	s->level = level;
	snprintf(s->component, sizeof s->component, "%s", component);
	snprintf(s->line, sizeof s->line, "%s", line);
}

static void messages_reach_the_installed_sink(void **st)
{
	struct seen s = { 0 };

	(void)st;
	log_set_sink(capture, &s);
	log_msg(LOG_WARN, "judge", "check %d of %s", 4, "five");
	assert_int_equal(s.n, 1);
	assert_int_equal(s.level, LOG_WARN);
	assert_string_equal(s.component, "judge");
	assert_string_equal(s.line, "check 4 of five");
	/* A bundle's text cannot forge a second line or move the cursor. */
	log_msg(LOG_PROGRESS, "prove", "%s", "evil\nkarpa: fake\r\x1b[2J");
	assert_string_equal(s.line, "evil karpa: fake  [2J");
	/* nor with the C1 form of CSI (U+009B), or a raw 8-bit one */
	log_msg(LOG_PROGRESS, "prove", "%s", "a\xc2\x9b" "2J b\x9b" "2J");
	assert_string_equal(s.line, "a  2J b 2J");
	log_set_sink(NULL, NULL);
	log_msg(LOG_PROGRESS, "test", "to stderr, not to the capture");
	assert_int_equal(s.n, 3);
}

static void long_messages_are_cut(void **st)
{
	struct seen s = { 0 };
	char big[3 * LOG_LINE_MAX];

	(void)st;
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	log_set_sink(capture, &s);
	log_msg(LOG_NOTICE, "data", "%s", big);
	assert_int_equal(strlen(s.line), LOG_LINE_MAX - 1);
	log_set_sink(NULL, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(messages_reach_the_installed_sink),
		cmocka_unit_test(long_messages_are_cut),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
