/* test_weights.c: the epoch weight rule (docs/weights.md) on hand-made
 * corpora in a real validator state: who earns (accepted king changes
 * only, once each, credit to the earliest submission), how much
 * (improvement x alpha, halving every WEIGHTS_HALF_LIFE_EPOCHS), the u16
 * normalisation (max 65535, half to even, zeros dropped), the epoch grid,
 * the canonical bytes and their independence from row order, and an epoch
 * close that commits whole or not at all. */
#include "corpus_rows.h"

#include "validator/weights.h"

/* Grid: epoch 0 is [T0, T0 + 1 h); a close at T0 + (n+1) h ends epoch n. */
#define T0 "2026-01-01T00:00:00Z"
#define HOUR 3600
#define CLOSE_E0 "2026-01-01T01:00:00Z"

static int setup(void **state)
{
	struct cr_state *c = calloc(1, sizeof *c);
	struct kerr err = { 0 };

	cr_open(c);
	if (weights_grid_ensure(&c->s, HOUR, CLOSE_E0, &err) < 0)
		fail_msg("weights_grid_ensure: %s: %s", err.code, err.msg);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct cr_state *c = *state;

	cr_close(c);
	free(c);
	return 0;
}

static void compute(struct cr_state *c, const char *closed_at, struct weights *w)
{
	struct kerr err = { 0 };

	if (weights_compute(&c->s, 1, closed_at, w, &err) < 0)
		fail_msg("weights_compute: %s: %s", err.code, err.msg);
}

/* The entry of miner `name`, or NULL when it earns nothing. */
static const struct weights_entry *entry_of(const struct weights *w, const char *name)
{
	const char *pk = cr_miner(name);

	for (size_t i = 0; i < w->n; i++)
		if (!strcmp(w->e[i].miner, pk))
			return &w->e[i];
	return NULL;
}

/* Times parse strictly (calendar arithmetic, leap days), and the first
 * close fixes the grid: epoch0_start is the close minus one epoch; a later
 * close asking for another length is refused. */
static void test_time_and_grid(void **state)
{
	struct cr_state *c = *state;
	struct kerr err = { 0 };
	char v[64];
	long long t, len, start;

	assert_int_equal(weights_time_parse("1970-01-01T00:00:00Z", &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(weights_time_parse("2000-03-01T00:00:00Z", &t), 0);
	assert_int_equal(t, 951868800);
	assert_int_equal(weights_time_parse("2024-02-29T23:59:59Z", &t), 0);
	assert_int_equal(t, 1709251199);
	assert_int_equal(weights_time_parse("2023-02-29T00:00:00Z", &t), -1);
	assert_int_equal(weights_time_parse("2026-01-01 00:00:00Z", &t), -1);
	assert_int_equal(weights_time_parse("2026-01-01T00:00:00", &t), -1);
	assert_int_equal(weights_time_parse("2026-01-01T24:00:00Z", &t), -1);
	assert_int_equal(weights_time_parse("2026-1a-01T00:00:00Z", &t), -1);
	assert_int_equal(weights_time_parse("2026-01-01T00:00:00Z ", &t), -1);
	assert_int_equal(weights_time_parse(NULL, &t), -1);

	assert_int_equal(vstate_meta_get(&c->s, WEIGHTS_META_EPOCH0_START, v, sizeof v, &err), 0);
	assert_string_equal(v, T0);
	assert_int_equal(vstate_meta_get(&c->s, WEIGHTS_META_EPOCH_SECONDS, v, sizeof v, &err), 0);
	assert_string_equal(v, "3600");
	assert_int_equal(weights_grid_get(&c->s, &len, &start, &err), 0);
	assert_int_equal(len, HOUR);
	/* Fixed: the same length or none is fine; another is refused. */
	assert_int_equal(weights_grid_ensure(&c->s, 0, "2027-01-01T00:00:00Z", &err), 0);
	assert_int_equal(weights_grid_ensure(&c->s, HOUR, "2027-01-01T00:00:00Z", &err), 0);
	assert_int_equal(weights_grid_ensure(&c->s, 60, "2027-01-01T00:00:00Z", &err), -1);
	assert_string_equal(err.code, "weights.grid");
	assert_int_equal(vstate_meta_get(&c->s, WEIGHTS_META_EPOCH0_START, v, sizeof v, &err), 0);
	assert_string_equal(v, T0);
	/* Before any close there is no grid to measure ages on. */
	cr_exec(&c->s, "DELETE FROM meta WHERE key = 'epoch0_start'");
	{
		struct weights w;
		assert_int_equal(weights_compute(&c->s, 1, CLOSE_E0, &w, &err), -1);
		assert_string_equal(err.code, "weights.no_grid");
	}
	cr_exec(&c->s, "INSERT INTO meta VALUES('epoch0_start', 'yesterday')");
	assert_int_equal(weights_grid_get(&c->s, &len, &start, &err), -1);
	assert_string_equal(err.code, "weights.corrupt");
}

/* An empty corpus (only the first king, which no submission earned) gives
 * an empty vector. */
static void test_empty(void **state)
{
	struct cr_state *c = *state;
	struct weights w;

	compute(c, CLOSE_E0, &w);
	assert_int_equal(w.n, 0);
	assert_int_equal(w.epoch, 1);
	assert_string_equal(w.closed_at, CLOSE_E0);
	weights_free(&w);
}

/* One accepted king change: its miner gets the maximum, score exactly
 * improvement x alpha in the epoch it was crowned. */
static void test_single_king(void **state)
{
	struct cr_state *c = *state;
	struct weights w;

	cr_accepted(&c->s, "k-a1", "alice", 0.03, 0.5, "2026-01-01T00:30:00Z");
	compute(c, CLOSE_E0, &w);
	assert_int_equal(w.n, 1);
	assert_string_equal(w.e[0].miner, cr_miner("alice"));
	assert_true(w.e[0].score == 0.03 * 0.5);
	assert_int_equal(w.e[0].u16, 65535);
	weights_free(&w);
}

/* Two miners: scores in proportion to improvement x alpha, a miner's
 * changes summed, entries sorted by key bytewise. */
static void test_two_miners(void **state)
{
	struct cr_state *c = *state;
	const struct weights_entry *a, *b;
	struct weights w;

	cr_accepted(&c->s, "k-a1", "alice", 0.02, 1.0, "2026-01-01T00:10:00Z");
	cr_accepted(&c->s, "k-b1", "bob", 0.01, 1.0, "2026-01-01T00:20:00Z");
	cr_accepted(&c->s, "k-b2", "bob", 0.04, 0.5, "2026-01-01T00:40:00Z");
	compute(c, CLOSE_E0, &w);
	assert_int_equal(w.n, 2);
	assert_true(strcmp(w.e[0].miner, w.e[1].miner) < 0);
	a = entry_of(&w, "alice");
	b = entry_of(&w, "bob");
	assert_non_null(a);
	assert_non_null(b);
	assert_true(a->score == 0.02);
	assert_true(b->score == 0.01 + 0.04 * 0.5);
	assert_int_equal(b->u16, 65535);
	assert_int_equal(a->u16, (int)rint(0.02 / (0.01 + 0.04 * 0.5) * 65535.0));
	weights_free(&w);
}

/* A confirmed challenge: the original and its answer are both
 * accepted_king, the answer carries the kings row (and credited_to the
 * original, same patch): the miner earns once. */
static void test_confirmed_challenge_counts_once(void **state)
{
	struct cr_state *c = *state;
	struct weights w;

	cr_sub(&c->s, "k-orig", "alice", "accepted_king", NULL, NULL);
	cr_sub(&c->s, "k-answer", "alice", "accepted_king", "k-orig", "k-orig");
	cr_king(&c->s, "recipe-v0.1.1", "k-answer", "alice", 0.05, 1.0, "2026-01-01T00:30:00Z");
	compute(c, CLOSE_E0, &w);
	assert_int_equal(w.n, 1);
	assert_string_equal(w.e[0].miner, cr_miner("alice"));
	assert_true(w.e[0].score == 0.05);
	weights_free(&w);
}

/* A copy re-signed by another key: credited_to names the earliest
 * submission of the patch, and its miner earns, never the copier, even
 * when the kings row names the copier. */
static void test_copy_credits_earliest(void **state)
{
	struct cr_state *c = *state;
	struct weights w;

	cr_sub(&c->s, "k-first", "alice", "not_decisive", NULL, NULL);
	cr_sub(&c->s, "k-copy", "mallory", "accepted_king", "k-first", NULL);
	cr_king(&c->s, "recipe-v0.1.1", "k-copy", "mallory", 0.05, 1.0, "2026-01-01T00:30:00Z");
	compute(c, CLOSE_E0, &w);
	assert_int_equal(w.n, 1);
	assert_string_equal(w.e[0].miner, cr_miner("alice"));
	assert_null(entry_of(&w, "mallory"));
	weights_free(&w);
}

/* Nothing else earns: submissions of every other verdict, with or without
 * a kings row naming them, and kings crowned at or after the close. */
static void test_nothing_else_earns(void **state)
{
	static const char *const verdicts[] = { "rejected", "not_decisive", "challenge_pending", "challenge_failed" };
	struct cr_state *c = *state;
	struct weights w;

	for (size_t i = 0; i < sizeof verdicts / sizeof verdicts[0]; i++) {
		char id[32], tag[32];
		snprintf(id, sizeof id, "k-v%zu", i);
		snprintf(tag, sizeof tag, "recipe-v0.2.%zu", i);
		cr_sub(&c->s, id, verdicts[i], verdicts[i], NULL, NULL);
		cr_king(&c->s, tag, id, verdicts[i], 0.05, 1.0, "2026-01-01T00:30:00Z");
		cr_sub(&c->s, tag, verdicts[i], verdicts[i], NULL, NULL); /* and one without a kings row */
	}
	cr_sub(&c->s, "k-nokingrow", "carol", "accepted_king", NULL, NULL);
	cr_accepted(&c->s, "k-late", "dave", 0.05, 1.0, CLOSE_E0); /* crowned at the close: next epoch */
	compute(c, CLOSE_E0, &w);
	assert_int_equal(w.n, 0);
	weights_free(&w);
	compute(c, "2026-01-01T01:00:01Z", &w);
	assert_int_equal(w.n, 1);
	assert_string_equal(w.e[0].miner, cr_miner("dave"));
	weights_free(&w);
}

/* Decay: the same improvement crowned WEIGHTS_HALF_LIFE_EPOCHS epochs
 * earlier scores exactly half (and gets 32768 = 32767.5 rounded to even);
 * half a half-life is 2^-1/2. */
static void test_decay_halves(void **state)
{
	struct cr_state *c = *state;
	const struct weights_entry *old, *mid, *now;
	struct weights w;

	assert_int_equal(WEIGHTS_HALF_LIFE_EPOCHS, 8);
	cr_accepted(&c->s, "k-old", "alice", 0.04, 1.0, "2026-01-01T00:59:59Z");  /* epoch 0 */
	cr_accepted(&c->s, "k-mid", "bob", 0.04, 1.0, "2026-01-01T04:00:00Z");    /* epoch 4 */
	cr_accepted(&c->s, "k-now", "carol", 0.04, 1.0, "2026-01-01T08:00:00Z");  /* epoch 8 */
	compute(c, "2026-01-01T09:00:00Z", &w); /* ends epoch 8 */
	old = entry_of(&w, "alice");
	mid = entry_of(&w, "bob");
	now = entry_of(&w, "carol");
	assert_non_null(old);
	assert_non_null(mid);
	assert_non_null(now);
	assert_true(now->score == 0.04);
	assert_true(old->score == 0.02);
	assert_true(mid->score == 0.04 * 0x1.6a09e667f3bcdp-1);
	assert_int_equal(now->u16, 65535);
	assert_int_equal(old->u16, 32768);
	weights_free(&w);
	/* One epoch later, all three are one epoch older: ratios unchanged. */
	compute(c, "2026-01-01T10:00:00Z", &w);
	assert_true(entry_of(&w, "alice")->score == 0.02 * 0x1.d5818dcfba487p-1);
	assert_int_equal(entry_of(&w, "alice")->u16, 32768);
	weights_free(&w);
	/* Very old credit underflows to zero and is dropped, not an error. */
	compute(c, "2226-01-01T00:00:00Z", &w);
	assert_int_equal(w.n, 0);
	weights_free(&w);
}

/* Half to even: ties crafted so score / max * 65535 is exactly 2.5, 3.5
 * and 32766.5 in double; half-up would give 3 and 32767. */
static void test_round_half_even(void **state)
{
	struct cr_state *c = *state;
	const double x25 = 2.5 / 65535.0, x35 = 3.5 / 65535.0, x665 = 32766.5 / 65535.0;
	struct weights w;

	/* The preconditions: each is an exact tie in the computation. */
	assert_true(x25 / 1.0 * 65535.0 == 2.5);
	assert_true(x35 / 1.0 * 65535.0 == 3.5);
	assert_true(x665 / 1.0 * 65535.0 == 32766.5);
	cr_accepted(&c->s, "k-max", "alice", 1.0, 1.0, "2026-01-01T00:10:00Z");
	cr_accepted(&c->s, "k-25", "bob", x25, 1.0, "2026-01-01T00:10:00Z");
	cr_accepted(&c->s, "k-35", "carol", x35, 1.0, "2026-01-01T00:10:00Z");
	cr_accepted(&c->s, "k-665", "dave", x665, 1.0, "2026-01-01T00:10:00Z");
	compute(c, CLOSE_E0, &w);
	assert_int_equal(entry_of(&w, "alice")->u16, 65535);
	assert_int_equal(entry_of(&w, "bob")->u16, 2);
	assert_int_equal(entry_of(&w, "carol")->u16, 4);
	assert_int_equal(entry_of(&w, "dave")->u16, 32766);
	weights_free(&w);
}

/* A miner whose share rounds to 0 is dropped from the vector. */
static void test_zeros_dropped(void **state)
{
	struct cr_state *c = *state;
	struct weights w;
	char *canon;

	cr_accepted(&c->s, "k-big", "alice", 0.05, 1.0, "2026-01-01T00:10:00Z");
	cr_accepted(&c->s, "k-tiny", "bob", 0.05 * 0.4 / 65535.0, 1.0, "2026-01-01T00:10:00Z");
	compute(c, CLOSE_E0, &w);
	assert_int_equal(w.n, 1);
	assert_null(entry_of(&w, "bob"));
	assert_non_null(canon = weights_canonical(&w));
	assert_null(strstr(canon, cr_miner("bob")));
	free(canon);
	weights_free(&w);
}

/* A kings row no merge could write (no improvement, alpha out of range,
 * a bad time, a credit loop) stops the computation and names the row. */
static void test_corrupt_rows_refused(void **state)
{
	struct cr_state *c = *state;
	struct kerr err = { 0 };
	struct weights w;

	cr_accepted(&c->s, "k-bad", "alice", 0.05, 1.0, "2026-01-01T00:10:00Z");
	cr_exec(&c->s, "UPDATE kings SET alpha = 2 WHERE submission_id = 'k-bad'");
	assert_int_equal(weights_compute(&c->s, 1, CLOSE_E0, &w, &err), -1);
	assert_string_equal(err.code, "weights.corrupt");
	assert_non_null(strstr(err.msg, "alpha 2"));
	cr_exec(&c->s, "UPDATE kings SET alpha = 1, improvement = NULL WHERE submission_id = 'k-bad'");
	assert_int_equal(weights_compute(&c->s, 1, CLOSE_E0, &w, &err), -1);
	assert_string_equal(err.code, "weights.corrupt");
	cr_exec(&c->s, "UPDATE kings SET improvement = 0.05, created_at = 'soon' WHERE submission_id = 'k-bad'");
	assert_int_equal(weights_compute(&c->s, 1, CLOSE_E0, &w, &err), -1);
	assert_string_equal(err.code, "weights.corrupt");
	cr_exec(&c->s, "UPDATE kings SET created_at = '2026-01-01T00:10:00Z' WHERE submission_id = 'k-bad'");
	cr_sub(&c->s, "k-loop", "bob", "not_decisive", "k-bad", NULL);
	cr_exec(&c->s, "UPDATE submissions SET credited_to = 'k-loop' WHERE id = 'k-bad'");
	assert_int_equal(weights_compute(&c->s, 1, CLOSE_E0, &w, &err), -1);
	assert_string_equal(err.code, "weights.corrupt");
	assert_non_null(strstr(err.msg, "hops"));
	assert_int_equal(weights_compute(&c->s, 0, CLOSE_E0, &w, &err), -1);
	assert_int_equal(weights_compute(&c->s, 1, "now", &w, &err), -1);
}

/* The canonical bytes, exactly. */
static void test_canonical_bytes(void **state)
{
	struct cr_state *c = *state;
	struct weights w;
	char want[1024], *canon;

	cr_accepted(&c->s, "k-a", "alice", 0.02, 1.0, "2026-01-01T00:10:00Z");
	cr_accepted(&c->s, "k-b", "bob", 0.01, 1.0, "2026-01-01T00:10:00Z");
	compute(c, CLOSE_E0, &w);
	w.epoch = 7;
	assert_non_null(canon = weights_canonical(&w));
	{
		const char *a = cr_miner("alice"), *b = cr_miner("bob");
		int a_first = strcmp(a, b) < 0;
		snprintf(want, sizeof want,
			 "{\"closed_at\":\"" CLOSE_E0 "\",\"epoch\":7,\"half_life_epochs\":8,\"version\":1,\"weights\":["
			 "{\"miner\":\"%s\",\"score\":%s,\"u16\":%s},{\"miner\":\"%s\",\"score\":%s,\"u16\":%s}]}",
			 a_first ? a : b, a_first ? "0.02" : "0.01", a_first ? "65535" : "32768", a_first ? b : a,
			 a_first ? "0.01" : "0.02", a_first ? "32768" : "65535");
	}
	assert_string_equal(canon, want);
	{
		json_t *j = json_loads(canon, 0, NULL);
		assert_non_null(j);
		json_decref(j);
	}
	free(canon);
	/* A vector that is not one (a bad key) has no canonical form. */
	snprintf(w.e[0].miner, sizeof w.e[0].miner, "%s", "not-a-key");
	assert_null(weights_canonical(&w));
	weights_free(&w);
}

/* Determinism: two states holding the same rows, inserted in opposite
 * orders (so rowids and kings ids differ), give identical bytes. alice's
 * three changes in one epoch sum to 0.6000000000000001 in the sorted
 * order and to 0.6 in the reverse one: summing in row order would show. */
static void fill(struct vstate *s, int reverse)
{
	static const struct {
		const char *id, *miner, *at;
		double imp, alpha;
	} rows[] = {
		{ "k-01", "alice", "2026-01-01T05:10:00Z", 0.1, 1.0 },
		{ "k-02", "alice", "2026-01-01T05:10:00Z", 0.2, 1.0 },
		{ "k-03", "alice", "2026-01-01T05:10:00Z", 0.3, 1.0 },
		{ "k-04", "bob", "2026-01-01T02:10:00Z", 0.5, 1.0 },
		{ "k-05", "bob", "2026-01-01T03:10:00Z", 0.25, 0.5 },
		{ "k-07", "carol", "2026-01-01T01:10:00Z", 0.7, 0.5 },
	};
	size_t n = sizeof rows / sizeof rows[0];

	for (size_t k = 0; k < n; k++) {
		size_t i = reverse ? n - 1 - k : k;
		cr_accepted(s, rows[i].id, rows[i].miner, rows[i].imp, rows[i].alpha, rows[i].at);
	}
}

static void test_determinism_across_states(void **state)
{
	struct cr_state *c = *state, other = { 0 };
	struct kerr err = { 0 };
	struct weights w1, w2;
	char *b1, *b2;

	cr_open(&other);
	assert_int_equal(weights_grid_ensure(&other.s, HOUR, CLOSE_E0, &err), 0);
	fill(&c->s, 0);
	fill(&other.s, 1);
	assert_int_equal(weights_compute(&c->s, 3, "2026-01-01T06:00:00Z", &w1, &err), 0);
	assert_int_equal(weights_compute(&other.s, 3, "2026-01-01T06:00:00Z", &w2, &err), 0);
	assert_int_equal(w1.n, 3);
	assert_true(w1.e[0].score == 0.1 + 0.2 + 0.3 || w1.e[1].score == 0.1 + 0.2 + 0.3 ||
		    w1.e[2].score == 0.1 + 0.2 + 0.3);
	assert_non_null(b1 = weights_canonical(&w1));
	assert_non_null(b2 = weights_canonical(&w2));
	assert_string_equal(b1, b2);
	/* And again on the same state: the same bytes. */
	weights_free(&w2);
	free(b2);
	assert_int_equal(weights_compute(&c->s, 3, "2026-01-01T06:00:00Z", &w2, &err), 0);
	assert_non_null(b2 = weights_canonical(&w2));
	assert_string_equal(b1, b2);
	free(b1);
	free(b2);
	weights_free(&w1);
	weights_free(&w2);
	cr_close(&other);
}

/* An epoch close whose sink fails leaves nothing behind: on a fresh
 * state, not even the grid. */
static int failing_submit(void *ctx, const struct weights *w, struct kerr *err)
{
	*(int *)ctx += 1;
	return kerr_set(err, "vstate.busy", "sink refused epoch %lld", w->epoch);
}

static void test_close_is_atomic(void **state)
{
	struct cr_state *c = *state;
	struct kerr err = { 0 };
	struct weights w;
	int calls = 0;
	struct weights_sink sink = { "failing", failing_submit, &calls };
	char v[64];

	cr_exec(&c->s, "DELETE FROM meta WHERE key IN ('epoch_seconds', 'epoch0_start')");
	assert_int_equal(weights_close_epoch(&c->s, 1, 0, &sink, &w, &err), -1);
	assert_string_equal(err.code, "vstate.busy");
	assert_int_equal(calls, 1);
	assert_null(w.e);
	assert_int_equal(vstate_meta_get(&c->s, WEIGHTS_META_EPOCH_SECONDS, v, sizeof v, &err), -1);
	assert_string_equal(err.code, "vstate.meta_missing");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_time_and_grid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_single_king, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_miners, setup, teardown),
		cmocka_unit_test_setup_teardown(test_confirmed_challenge_counts_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_credits_earliest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nothing_else_earns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_decay_halves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_half_even, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zeros_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_rows_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_canonical_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_determinism_across_states, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_is_atomic, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
