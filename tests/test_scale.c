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
	assert_int_equal(s->tokenizer, SCALE_TOK_TRAINED);
	assert_int_equal(s->brown_docs_max, 60);
	assert_int_equal(s->shard_tokens, 16384);
	assert_true(s->budget_units == 120.0);
	assert_int_equal(s->eval_targets, 0);
	assert_string_equal(err.code, ""); /* a hit leaves err alone */
}

static void test_cpu(void **state)
{
	struct kerr err = { 0 };
	const struct scale *s = scale_find("cpu", &err);

	assert_non_null(s);
	assert_int_equal(s->vocab, 4096);
	assert_int_equal(s->tokenizer, SCALE_TOK_TRAINED);
	assert_int_equal(s->brown_docs_max, 0);
	assert_int_equal(s->shard_tokens, 1 << 20);
	assert_true(s->budget_units == 480.0);
	assert_int_equal(s->eval_targets, 65536);
}

/* The GPU scales: GPT-2's tokenizer and vocabulary, the whole Brown
 * Corpus by default, 2^24-token shards (under llm.c's 100M), 2^20 eval
 * targets, provisional budgets of one and two H100 hours
 * (docs/calibration.md). The two differ only in budget: same data. */
static void test_gpu(void **state)
{
	const char *names[] = { "gpu-125m", "gpu-254m" };
	const double budgets[] = { 7200.0, 14400.0 };

	for (int i = 0; i < 2; i++) {
		struct kerr err = { 0 };
		const struct scale *s = scale_find(names[i], &err);

		assert_non_null(s);
		assert_string_equal(s->name, names[i]);
		assert_int_equal(s->vocab, 50257);
		assert_int_equal(s->tokenizer, SCALE_TOK_GPT2);
		assert_int_equal(s->brown_docs_max, 0);
		assert_int_equal(s->shard_tokens, 1 << 24);
		assert_true(s->budget_units == budgets[i]);
		assert_int_equal(s->eval_targets, 1 << 20);
		assert_int_equal(scale_eval_targets(names[i]), 1 << 20);
	}
	assert_non_null(strstr(scale_names(), "gpu-125m"));
	assert_non_null(strstr(scale_names(), "gpu-254m"));
}

/* Names match whole and case-sensitively; unknown and NULL are scale.unknown
 * with the list of scales in the message. */
static void test_unknown(void **state)
{
	const char *bad[] = { "huge", "Tiny", "tin", "tiny ", "", "gpu", "gpu-125M", "gpu-124m", NULL };

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
	assert_int_equal(n, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tiny),          cmocka_unit_test(test_cpu),
		cmocka_unit_test(test_gpu),           cmocka_unit_test(test_unknown),       cmocka_unit_test(test_eval_targets),
		cmocka_unit_test(test_names_match_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
