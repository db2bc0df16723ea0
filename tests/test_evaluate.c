/* test_evaluate.c: val_bpb from known logits, worked out by hand; the
 * windowing scores every target once; non-finite logits and bad ids are
 * refused; the result does not depend on threads or call sizes, nor on
 * the order windows are scored in; a stop leaves the tail as asked. */
#include "testutil.h"

#include <math.h>

#include "harness/evaluate.h"

/* A fake recipe whose logits depend only on the input token x at each
 * position: column (x+1) mod 3 gets OFFSET + ln 2, the others OFFSET. So
 * after x the model gives (x+1) mod 3 probability 2/4 and each other id 1/4. */
struct fake {
	float offset;
	int nan_at_call; /* -1: never */
	int fail;
	int calls, rows[16], T[16];
};

static int fake_logits(struct recipe_host *h, const uint16_t *tokens, int rows, int T,
		       float *logits, struct kerr *err)
{
	struct fake *f = h->impl;

	if (f->fail)
		return kerr_set(err, "recipe.logits", "fake failure");
	if (f->calls < 16) {
		f->rows[f->calls] = rows;
		f->T[f->calls] = T;
	}
	for (int i = 0; i < rows * T; i++)
		for (int v = 0; v < 3; v++)
			logits[i * 3 + v] = f->offset + (v == (tokens[i] + 1) % 3 ? (float)M_LN2 : 0.0f);
	if (f->nan_at_call == f->calls)
		logits[rows * T * 3 - 1] = NAN;
	f->calls++;
	return 0;
}

static void host(struct recipe_host *h, struct fake *f)
{
	memset(h, 0, sizeof *h);
	memset(f, 0, sizeof *f);
	f->nan_at_call = -1;
	h->kind = "fake";
	h->impl = f;
	h->vocab_size = 3;
	h->logits = fake_logits;
}

/* Token 0 decodes to 1 byte, token 1 to 3 bytes, token 2 (end of document) to 0. */
static const uint32_t bytes3[3] = { 1, 3, 0 };
static const uint16_t seq[6] = { 0, 1, 2, 0, 0, 1 };

static void test_hand_computed(void **s)
{
	struct recipe_host h;
	struct fake f;
	struct kr_plan p = { .seq_len = 2, .eval_batch = 2 };
	struct eval_result r;
	struct eval_opts o = { 0 };
	struct kerr err;

	(void)s;
	host(&h, &f);
	/* T = 2, 6 tokens, 5 targets. Windows start at 0, 2, 4:
	 *   [0 1 | 2]: pairs 0->1, 1->2      (both favoured: ln 2 each)
	 *   [2 0 | 0]: pairs 2->0, 0->0      (2->0 favoured: ln 2; 0->0 not: ln 4)
	 *   [0 | 1]  : partial, pair 0->1    (favoured: ln 2)
	 * nats  = 4 ln 2 + ln 4 = 6 ln 2
	 * bytes = len(1)+len(2)+len(0)+len(0)+len(1) = 3 + 0 + 1 + 1 + 3 = 8
	 * val_bpb = 6 ln 2 / (ln 2 * 8) = 0.75; mean loss = 6 ln 2 / 5. */
	assert_int_equal(evaluate_tokens(&h, &p, bytes3, 3, seq, 6, &o, &r, &err), 0);
	assert_int_equal(r.targets, 5);
	assert_int_equal(r.bytes, 8);
	assert_true(fabs(r.nats - 6 * M_LN2) < 1e-6);
	assert_true(fabs(r.val_bpb - 0.75) < 1e-6);
	assert_true(fabs(r.loss - 6 * M_LN2 / 5) < 1e-6);
	/* Two full windows in one call of eval_batch rows, then the partial one. */
	assert_int_equal(f.calls, 2);
	assert_int_equal(f.rows[0], 2);
	assert_int_equal(f.T[0], 2);
	assert_int_equal(f.rows[1], 1);
	assert_int_equal(f.T[1], 1);
}

static void test_stable_with_huge_logits(void **s)
{
	struct recipe_host h;
	struct fake f;
	struct kr_plan p = { .seq_len = 2, .eval_batch = 2 };
	struct eval_result r;
	struct kerr err;

	(void)s;
	host(&h, &f);
	/* exp(1000) overflows a double: only a max-subtracted log-sum-exp
	 * survives. Float spacing at 1000 is 6e-5, hence the tolerance. */
	f.offset = 1000.0f;
	assert_int_equal(evaluate_tokens(&h, &p, bytes3, 3, seq, 6, NULL, &r, &err), 0);
	assert_true(isfinite(r.val_bpb));
	assert_true(fabs(r.val_bpb - 0.75) < 1e-4);
}

static void test_cap(void **s)
{
	struct recipe_host h;
	struct fake f;
	struct kr_plan p = { .seq_len = 2, .eval_batch = 2 };
	struct eval_result r;
	struct eval_opts o = { .targets_max = 4 };
	struct kerr err;

	(void)s;
	host(&h, &f);
	/* First 4 targets only: 0->1, 1->2, 2->0, 0->0: nats 5 ln 2, bytes 5: bpb 1. */
	assert_int_equal(evaluate_tokens(&h, &p, bytes3, 3, seq, 6, &o, &r, &err), 0);
	assert_int_equal(r.targets, 4);
	assert_int_equal(r.bytes, 5);
	assert_true(fabs(r.val_bpb - 1.0) < 1e-6);
	assert_int_equal(f.calls, 1);
	/* A cap beyond the split is the whole split. */
	o.targets_max = 1000;
	assert_int_equal(evaluate_tokens(&h, &p, bytes3, 3, seq, 6, &o, &r, &err), 0);
	assert_int_equal(r.targets, 5);
}

static void test_refusals(void **s)
{
	struct recipe_host h;
	struct fake f;
	struct kr_plan p = { .seq_len = 2, .eval_batch = 2 };
	struct eval_result r;
	struct kerr err;
	const uint16_t bad[4] = { 0, 1, 3, 0 };
	const uint16_t eots[3] = { 2, 2, 2 };

	(void)s;
	host(&h, &f);
	f.nan_at_call = 1;
	assert_int_equal(evaluate_tokens(&h, &p, bytes3, 3, seq, 6, NULL, &r, &err), -1);
	assert_string_equal(err.code, "eval.nonfinite");
	host(&h, &f);
	assert_int_equal(evaluate_tokens(&h, &p, bytes3, 3, bad, 4, NULL, &r, &err), -1);
	assert_string_equal(err.code, "eval.bad_token");
	assert_int_equal(f.calls, 0); /* refused before the recipe saw anything */
	assert_int_equal(evaluate_tokens(&h, &p, bytes3, 3, seq, 1, NULL, &r, &err), -1);
	assert_string_equal(err.code, "eval.too_short");
	assert_int_equal(evaluate_tokens(&h, &p, bytes3, 3, eots, 3, NULL, &r, &err), -1);
	assert_string_equal(err.code, "eval.no_bytes");
	assert_int_equal(evaluate_tokens(&h, &p, bytes3, 4, seq, 6, NULL, &r, &err), -1);
	assert_string_equal(err.code, "eval.bad_vocab");
	f.fail = 1;
	assert_int_equal(evaluate_tokens(&h, &p, bytes3, 3, seq, 6, NULL, &r, &err), -1);
	assert_string_equal(err.code, "recipe.logits");
}

static void test_independent_of_threads_and_call_size(void **s)
{
	enum { N = 997 };
	static uint16_t toks[N];
	struct recipe_host h;
	struct fake f;
	struct kr_plan p = { .seq_len = 16, .eval_batch = 8 };
	struct eval_result a, b, c;
	struct eval_opts o1 = { .threads = 1 }, o2 = { .threads = 2 };
	struct kerr err;
	uint32_t x = 12345;

	(void)s;
	for (int i = 0; i < N; i++) {
		x = x * 1103515245u + 12345u;
		toks[i] = (uint16_t)((x >> 16) % 3);
	}
	host(&h, &f);
	f.offset = 0.3f;
	assert_int_equal(evaluate_tokens(&h, &p, bytes3, 3, toks, N, &o1, &a, &err), 0);
	assert_int_equal(evaluate_tokens(&h, &p, bytes3, 3, toks, N, &o2, &b, &err), 0);
	p.eval_batch = 3;
	assert_int_equal(evaluate_tokens(&h, &p, bytes3, 3, toks, N, &o2, &c, &err), 0);
	assert_int_equal(a.targets, N - 1); /* every token after the first, once */
	assert_memory_equal(&a.nats, &b.nats, sizeof a.nats);
	assert_memory_equal(&a.nats, &c.nats, sizeof a.nats);
	assert_int_equal(a.bytes, c.bytes);
}

/* Stops after the first call it sees. */
static int stop_first(void *arg, const uint32_t *windows, int rows, const double *row_nats, struct kerr *err)
{
	int *seen = arg;

	(void)windows;
	(void)row_nats;
	(void)err;
	*seen += rows;
	return 1;
}

/* Windows scored in a given order give the split order's bits; a stopper
 * ends the scoring after its call, the short last window unscored, or,
 * with tail_always, scored with the bits a full evaluation gives it; an
 * order that is not a permutation is refused. */
static void test_order_stop_and_tail(void **s)
{
	enum { N = 200 }; /* T 16: 12 full windows and a short one of 7 targets */
	static uint16_t toks[N];
	uint32_t order[12], dup[12];
	struct recipe_host h;
	struct fake f;
	struct kr_plan p = { .seq_len = 16, .eval_batch = 4 };
	struct eval_result all, ord, st, st_tail;
	int seen = 0;
	struct eval_stopper stop = { stop_first, &seen };
	struct eval_opts o = { .threads = 2 };
	struct kerr err;
	uint32_t x = 777;

	(void)s;
	for (int i = 0; i < N; i++) {
		x = x * 1103515245u + 12345u;
		toks[i] = (uint16_t)((x >> 16) % 3);
	}
	for (int i = 0; i < 12; i++) {
		order[i] = (uint32_t)((i * 5) % 12);
		dup[i] = (uint32_t)i;
	}
	dup[11] = 0;
	host(&h, &f);
	f.offset = -0.7f;
	assert_int_equal(evaluate_tokens(&h, &p, bytes3, 3, toks, N, &o, &all, &err), 0);
	assert_int_equal(all.windows, 13);
	assert_int_equal(all.tail_scored, 1);
	assert_true(all.tail_nats > 0);
	o.order = order;
	assert_int_equal(evaluate_tokens(&h, &p, bytes3, 3, toks, N, &o, &ord, &err), 0);
	assert_memory_equal(&ord.nats, &all.nats, sizeof all.nats);
	assert_memory_equal(&ord.tail_nats, &all.tail_nats, sizeof all.tail_nats);

	o.stopper = &stop;
	f.calls = 0;
	assert_int_equal(evaluate_tokens(&h, &p, bytes3, 3, toks, N, &o, &st, &err), 0);
	assert_int_equal(seen, 4);
	assert_int_equal(f.calls, 1);
	assert_int_equal(st.stopped, 1);
	assert_int_equal(st.windows, 4);
	assert_int_equal(st.targets, 4 * 16);
	assert_int_equal(st.tail_scored, 0);
	assert_true(st.tail_nats == 0);

	o.tail_always = 1;
	f.calls = 0;
	assert_int_equal(evaluate_tokens(&h, &p, bytes3, 3, toks, N, &o, &st_tail, &err), 0);
	assert_int_equal(f.calls, 2);
	assert_int_equal(f.rows[1], 1);
	assert_int_equal(f.T[1], 7);
	assert_int_equal(st_tail.stopped, 1);
	assert_int_equal(st_tail.windows, 5);
	assert_int_equal(st_tail.targets, 4 * 16 + 7);
	assert_int_equal(st_tail.tail_scored, 1);
	assert_memory_equal(&st_tail.tail_nats, &all.tail_nats, sizeof all.tail_nats);

	o.stopper = NULL;
	o.order = dup;
	assert_int_equal(evaluate_tokens(&h, &p, bytes3, 3, toks, N, &o, &st, &err), -1);
	assert_string_equal(err.code, "eval.bad_order");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hand_computed),
		cmocka_unit_test(test_stable_with_huge_logits),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_independent_of_threads_and_call_size),
		cmocka_unit_test(test_order_stop_and_tail),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
