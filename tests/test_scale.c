/* test_scale.c: the scale table (PROTOCOL 8). The figures are protocol
 * config: a proof made at a scale is judged against them, so changing one is
 * a protocol change and must change this test with it. */
#include "testutil.h"

#include "harness/scale.h"

static void test_tiny(void **state)
{
	struct kerr err = { 0 };
	const struct scale *s = scale_find("tiny", &err);

	assert_non_null(s);
	assert_string_equal(s->name, "tiny");
	assert_int_equal(s->vocab, 320);
	assert_int_equal(s->brown_docs_max, 60);
	assert_int_equal(s->shard_tokens, 16384);
	assert_true(s->budget_units == 60.0);
	assert_int_equal(s->eval_targets, 0);
	assert_string_equal(err.code, ""); /* a hit leaves err alone */
}

static void test_cpu(void **state)
{
	struct kerr err = { 0 };
	const struct scale *s = scale_find("cpu", &err);

	assert_non_null(s);
	assert_int_equal(s->vocab, 4096);
	assert_int_equal(s->brown_docs_max, 0);
	assert_int_equal(s->shard_tokens, 1 << 20);
	assert_true(s->budget_units == 240.0);
	assert_int_equal(s->eval_targets, 65536);
}

/* Names match whole and case-sensitively; unknown and NULL are scale.unknown
 * with the list of scales in the message. */
static void test_unknown(void **state)
{
	const char *bad[] = { "huge", "Tiny", "tin", "tiny ", "", NULL };

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct kerr err = { 0 };
		assert_null(scale_find(bad[i], &err));
		assert_string_equal(err.code, "scale.unknown");
		assert_non_null(strstr(err.msg, scale_names()));
		assert_int_equal(scale_eval_targets(bad[i]), 0);
	}
}

static void test_eval_targets(void **state)
{
	assert_int_equal(scale_eval_targets("tiny"), 0);
	assert_int_equal(scale_eval_targets("cpu"), 65536);
}

/* scale_names lists exactly the scales scale_find knows. */
static void test_names_match_table(void **state)
{
	char names[256], *save = NULL;
	int n = 0;

	snprintf(names, sizeof names, "%s", scale_names());
	for (char *t = strtok_r(names, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		struct kerr err = { 0 };
		const struct scale *s = scale_find(t, &err);
		assert_non_null(s);
		assert_string_equal(s->name, t);
		assert_true(s->budget_units > 0 && s->vocab > 256 && s->shard_tokens > 0);
		n++;
	}
	assert_int_equal(n, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tiny),          cmocka_unit_test(test_cpu),
		cmocka_unit_test(test_unknown),       cmocka_unit_test(test_eval_targets),
		cmocka_unit_test(test_names_match_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
