/* test_chain_weights.c: weights as Bittensor's validators emit them
 * (src/chain/chainweights.c), against values computed by the SDK's
 * convert_weights_and_uids_for_emit arithmetic in Python (float division
 * by the max, times 65535, round()): max to 65535, ties at .5 to even
 * (10922.5 -> 10922, where rounding half up would give 10923), a weight
 * that rounds to 0 dropped, all zero -> nothing to set; and the refusals
 * (unequal lengths, duplicates, negative or not finite). */
#include "testutil.h"

#include "chain/chainweights.h"

static size_t emit(const uint16_t *uids, const double *w, size_t n, uint16_t *ou, uint16_t *ov)
{
	struct kerr e = { 0 };
	size_t k = 99;

	if (chain_weights_u16(uids, n, w, n, ou, ov, &k, &e) < 0)
		fail_msg("%s: %s", e.code, e.msg);
	return k;
}

static void max_weight_becomes_65535_in_input_order(void **state)
{
	const uint16_t uids[] = { 4, 9, 2, 7, 11, 3, 1 };
	const double w[] = { 0.3, 0.1, 0.7, 0.25, 1e-6, 0.0, 0.65 };
	/* python3: [round(float(x) / max(w) * 65535) for x in w] */
	const uint16_t want_uids[] = { 4, 9, 2, 7, 1 };
	const uint16_t want[] = { 28086, 9362, 65535, 23405, 60854 };
	uint16_t ou[7], ov[7];

	assert_int_equal(emit(uids, w, 7, ou, ov), 5);
	assert_memory_equal(ou, want_uids, sizeof want_uids);
	assert_memory_equal(ov, want, sizeof want);
}

static void ties_round_half_to_even(void **state)
{
	const uint16_t uids[] = { 0, 1 };
	uint16_t ou[2], ov[2];
	const double sixth[] = { 6, 1 };       /* 1/6 * 65535 = 10922.5 exactly */
	const double tenth[] = { 10, 3 };      /* 3/10 * 65535 = 19660.5 */
	const double half[] = { 2, 1 };        /* 32767.5: odd below, so up */
	const double to_zero[] = { 131070, 1 }; /* 0.5: to 0, and dropped */
	const double to_two[] = { 43690, 1 };  /* 1.5: to 2 */

	assert_int_equal(emit(uids, sixth, 2, ou, ov), 2);
	assert_int_equal(ov[1], 10922);
	assert_int_equal(emit(uids, tenth, 2, ou, ov), 2);
	assert_int_equal(ov[1], 19660);
	assert_int_equal(emit(uids, half, 2, ou, ov), 2);
	assert_int_equal(ov[1], 32768);
	assert_int_equal(emit(uids, to_zero, 2, ou, ov), 1);
	assert_int_equal(ou[0], 0);
	assert_int_equal(ov[0], 65535);
	assert_int_equal(emit(uids, to_two, 2, ou, ov), 2);
	assert_int_equal(ov[1], 2);
}

static void single_and_all_zero(void **state)
{
	const uint16_t one[] = { 65535 };
	const double w1[] = { 1e-300 };
	const uint16_t three[] = { 1, 2, 3 };
	const double zeros[] = { 0, 0, 0 };
	uint16_t ou[3], ov[3];

	assert_int_equal(emit(one, w1, 1, ou, ov), 1);
	assert_int_equal(ou[0], 65535);
	assert_int_equal(ov[0], 65535);
	assert_int_equal(emit(three, zeros, 3, ou, ov), 0); /* nothing to set */
}

static void bad_vectors_are_refused(void **state)
{
	const uint16_t uids[] = { 1, 2, 1 };
	const double w[] = { 1, 2, 3 };
	const double neg[] = { 1, -0.5, 3 };
	const double nan_[] = { 1, NAN, 3 };
	const double inf[] = { 1, INFINITY, 3 };
	const uint16_t distinct[] = { 1, 2, 3 };
	const struct {
		const uint16_t *uids;
		size_t n_uids;
		const double *w;
		size_t n_w;
		const char *code;
	} bad[] = {
		{ distinct, 3, w, 2, "chain.weights_length" },
		{ distinct, 0, w, 0, "chain.weights_length" },
		{ uids, 3, w, 3, "chain.weights_duplicate" },
		{ distinct, 3, neg, 3, "chain.weights_negative" },
		{ distinct, 3, nan_, 3, "chain.weights_negative" },
		{ distinct, 3, inf, 3, "chain.weights_negative" },
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint16_t ou[3], ov[3];
		struct kerr e = { 0 };
		size_t k;

		assert_int_equal(chain_weights_u16(bad[i].uids, bad[i].n_uids, bad[i].w, bad[i].n_w, ou, ov, &k, &e),
				 -1);
		assert_string_equal(e.code, bad[i].code);
	}
}

static void version_key_is_major_minor_patch(void **state)
{
	struct kerr e = { 0 };
	uint64_t k;

	assert_int_equal(chain_version_key(9, 10, 2, &k, &e), 0);
	assert_true(k == 9010002);
	assert_int_equal(chain_version_key_parse("1.2.3", &k, &e), 0);
	assert_true(k == 1002003);
	assert_int_equal(chain_version_key_parse("0.0.0", &k, &e), 0);
	assert_true(k == 0);
	assert_int_equal(chain_version_key_parse("999.999.999", &k, &e), 0);
	assert_true(k == 999999999);
	assert_int_equal(chain_version_key(1000, 0, 0, &k, &e), -1);
	assert_string_equal(e.code, "chain.version_key");
	const char *bad[] = { "", "1", "1.2", "1.2.3.4", "1.2.x", "1.1000.0", "-1.2.3", "1..3", "a.b.c", "1.2.3 " };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (chain_version_key_parse(bad[i], &k, &e) == 0)
			fail_msg("\"%s\" parsed as %llu", bad[i], (unsigned long long)k);
		assert_string_equal(e.code, "chain.version_key");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(max_weight_becomes_65535_in_input_order),
		cmocka_unit_test(ties_round_half_to_even),
		cmocka_unit_test(single_and_all_zero),
		cmocka_unit_test(bad_vectors_are_refused),
		cmocka_unit_test(version_key_is_major_minor_patch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
