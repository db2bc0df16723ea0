/* test_causality.c: the causality audit. Fake recipes behind the host table
 * make each attack exact: a causal bigram passes; a recipe whose logits peek
 * at the next token, one that peeks at the next row (the next evaluation
 * window's first token is this window's last target), one whose future leak
 * is a 1e-7 nudge, and one that memoises its first answer are each caught
 * with judge.causality. Then the project's recipe, in-process, passes. */
#include "testutil.h"

#include <math.h>

#include "sandbox/recipe_host.h"
#include "harness/evaluate.h"
#include "judge/causality.h"

#define FV 64
#define FT 32
#define ROWS 4
#define NTOK 4096

enum cheat { HONEST, PEEK_NEXT_TOKEN, PEEK_NEXT_ROW, NUDGE, MEMO, SPLIT_AWARE, SPARSE, SPARSE_ROW, ROW_SHIFT };

/* SPARSE leaks the next token only in windows whose first token is a
 * multiple of 16 (about one in sixteen) and there only at positions 3, 11,
 * 19 and 27: an eighth of their positions, half a percent of the split's.
 * SPARSE_ROW reads the next row's first token (the last target) in the
 * same windows, at their last position only. */
static int sparse_leaks(const uint16_t *row, int t)
{
	return row[0] % 16 == 0 && t % 8 == 3;
}

/* The split the tests call public is split[0 .. NTOK/2), the hidden one
 * split[NTOK/2 .. NTOK); setup gives public windows first tokens below
 * FV/2 and hidden ones first tokens above, as two real splits differ.
 * SPLIT_AWARE carries the public windows' first tokens and peeks at the
 * next token on any row that does not start like a public window. */
#define PUB_NTOK (NTOK / 2)

/* A fixed "model": logits[v] = f(token at t, v), plus whatever the cheat
 * adds. The memoiser remembers every row it answered and, for a new row
 * sharing a prefix with a remembered one, answers the prefix from memory. */
struct fake {
	enum cheat cheat;
	int calls;
	uint16_t seen[ROWS * FT * 8];
	float memo[ROWS * FT * 8 * FV];
	int nseen; /* rows remembered */
};

static uint16_t split[NTOK];

static int is_public_window(const uint16_t *row, int Tn)
{
	(void)Tn;
	for (size_t w = 0; (w + 1) * FT < PUB_NTOK; w++)
		if (split[w * FT] == row[0])
			return 1;
	return 0;
}

static float base_logit(int x, int v)
{
	return (float)(((x * 31 + v * 17) % 97) - 48) / 16.0f;
}

/* Answers one row honestly, then applies the cheat. */
static void row_logits(const struct fake *f, const uint16_t *tok, int r, int rows, int Tn, float *out)
{
	const uint16_t *row = tok + (size_t)r * Tn;

	for (int t = 0; t < Tn; t++) {
		float *o = out + ((size_t)r * Tn + t) * FV;
		for (int v = 0; v < FV; v++)
			o[v] = base_logit(row[t], v);
		if ((f->cheat == PEEK_NEXT_TOKEN || f->cheat == MEMO ||
		     (f->cheat == SPLIT_AWARE && !is_public_window(row, Tn))) &&
		    t + 1 < Tn)
			o[row[t + 1]] += 5.0f;
		if (f->cheat == SPARSE && sparse_leaks(row, t) && t + 1 < Tn)
			o[row[t + 1]] += 5.0f;
		if (f->cheat == SPARSE_ROW && row[0] % 16 == 0 && t == Tn - 1 && r + 1 < rows)
			o[tok[(size_t)(r + 1) * Tn]] += 5.0f;
		/* Causal, but its answer depends on the row a window is
		 * given in: an aimed twin must put a window where it was. */
		if (f->cheat == ROW_SHIFT)
			o[(t + r) % FV] += 0.25f * (float)(r + 1);
		if (f->cheat == PEEK_NEXT_ROW && t == Tn - 1 && r + 1 < rows)
			o[tok[(size_t)(r + 1) * Tn]] += 5.0f;
		if (f->cheat == NUDGE) {
			/* A "normalisation" over the whole row: mathematically
			 * almost nothing, but the future is in it. */
			double mean = 0;
			for (int u = 0; u < Tn; u++)
				mean += row[u];
			for (int v = 0; v < FV; v++)
				o[v] += (float)(1e-7 * mean / Tn);
		}
	}
}

/* The memoiser answers a prefix it has seen before exactly as it did then,
 * hiding that its answers peek, and remembers every row it answers. */
static void memoise(struct fake *f, const uint16_t *tok, int r, int Tn, float *out)
{
	const uint16_t *row = tok + (size_t)r * Tn;

	for (int k = 0; k < f->nseen; k++) {
		const uint16_t *old = f->seen + (size_t)k * Tn;
		int p = 0;
		while (p < Tn && old[p] == row[p])
			p++;
		if (p > 0)
			memcpy(out + (size_t)r * Tn * FV, f->memo + (size_t)k * Tn * FV,
			       (size_t)p * FV * sizeof(float));
	}
	if (f->nseen < ROWS * 8) {
		memcpy(f->seen + (size_t)f->nseen * Tn, row, (size_t)Tn * sizeof *row);
		memcpy(f->memo + (size_t)f->nseen * Tn * FV, out + (size_t)r * Tn * FV,
		       (size_t)Tn * FV * sizeof(float));
		f->nseen++;
	}
}

static int fk_logits(struct recipe_host *h, const uint16_t *tok, int rows, int Tn, float *out, struct kerr *err)
{
	struct fake *f = h->impl;

	(void)err;
	f->calls++;
	for (int r = 0; r < rows; r++) {
		row_logits(f, tok, r, rows, Tn, out);
		if (f->cheat == MEMO)
			memoise(f, tok, r, Tn, out);
	}
	return 0;
}

static void fk_destroy(struct recipe_host *h)
{
	free(h->impl);
	h->impl = NULL;
}

static void fake_host(struct recipe_host *h, enum cheat c)
{
	struct fake *f = calloc(1, sizeof *f);

	assert_non_null(f);
	f->cheat = c;
	memset(h, 0, sizeof *h);
	h->kind = "fake";
	h->impl = f;
	h->vocab_size = FV;
	h->logits = fk_logits;
	h->destroy = fk_destroy;
}

static int setup(void **st)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	(void)st;
	for (int i = 0; i < NTOK; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		split[i] = (uint16_t)(x % FV);
		if (i % FT == 0)
			split[i] = (uint16_t)(split[i] % (FV / 2) + (i < PUB_NTOK ? 0 : FV / 2));
	}
	return 0;
}

static uint64_t audit_seed = 11;

static const char *audit(enum cheat c, struct causality_report *r, struct kerr *err)
{
	struct recipe_host h;
	struct causality_opts o = {.vocab_size = FV, .T = FT, .call_rows = ROWS, .seed = audit_seed};
	int rc;

	fake_host(&h, c);
	kerr_clear(err);
	rc = causality_audit(&h, NULL, &o, split, NTOK, r, err);
	h.destroy(&h);
	if (rc < 0)
		print_message("    refused: %s: %s\n", err->code, err->msg);
	return rc == 0 ? "" : err->code;
}

static void causal_model_passes(void **st)
{
	struct causality_report r;
	struct kerr err;

	(void)st;
	assert_string_equal(audit(HONEST, &r, &err), "");
	assert_int_equal(r.probes, CAUSALITY_PROBES);
	assert_int_equal(r.calls, 2 * CAUSALITY_PROBES);
	assert_int_equal(r.rows_per_call, ROWS);
	/* probe 0 compares the whole row; the others at least position 0 */
	assert_true(r.positions_compared >= FT + CAUSALITY_PROBES - 1);
}

static void peeking_at_next_token_is_caught(void **st)
{
	struct causality_report r;
	struct kerr err;

	(void)st;
	assert_string_equal(audit(PEEK_NEXT_TOKEN, &r, &err), "judge.causality");
	assert_non_null(strstr(err.msg, "probe 1"));
	assert_non_null(strstr(err.msg, "position "));
	assert_non_null(strstr(err.msg, "max |diff| 5"));
}

static void peeking_at_next_row_is_caught(void **st)
{
	struct causality_report r;
	struct kerr err;

	(void)st;
	/* Only position T-1 of each row leaks, and only probe 0 compares it;
	 * whichever row the seed picks, it has a next row to leak from. */
	for (audit_seed = 1; audit_seed <= 24; audit_seed++) {
		assert_string_equal(audit(PEEK_NEXT_ROW, &r, &err), "judge.causality");
		assert_non_null(strstr(err.msg, "probe 0"));
		assert_non_null(strstr(err.msg, "only the other rows"));
	}
	audit_seed = 11;
}

static void tiny_leak_is_caught_bitwise(void **st)
{
	struct causality_report r;
	struct kerr err;

	(void)st;
	assert_string_equal(audit(NUDGE, &r, &err), "judge.causality");
	assert_non_null(strstr(err.msg, "e-0")); /* a difference of order 1e-7 */
}

static void memoising_recipe_needs_a_second_host(void **st)
{
	struct recipe_host h, h2;
	struct causality_opts o = {.vocab_size = FV, .T = FT, .call_rows = ROWS, .seed = 11};
	struct causality_report r;
	struct kerr err;

	(void)st;
	/* One host: the memoiser replays its first answer for the shared
	 * prefix and slips through. This is the documented reason for h_alt. */
	fake_host(&h, MEMO);
	assert_int_equal(causality_audit(&h, NULL, &o, split, NTOK, &r, &err), 0);
	h.destroy(&h);
	/* A fresh host for the changed rows has nothing to replay. */
	fake_host(&h, MEMO);
	fake_host(&h2, MEMO);
	assert_int_equal(causality_audit(&h, &h2, &o, split, NTOK, &r, &err), -1);
	assert_string_equal(err.code, "judge.causality");
	h.destroy(&h);
	h2.destroy(&h2);
}

static void bad_inputs_are_refused(void **st)
{
	struct recipe_host h;
	struct causality_opts o = {.vocab_size = FV, .T = FT, .call_rows = ROWS, .seed = 11};
	struct causality_report r;
	struct kerr err;
	uint16_t bad[NTOK];

	(void)st;
	fake_host(&h, HONEST);
	assert_int_equal(causality_audit(&h, NULL, &o, split, (size_t)FT * ROWS, &r, &err), -1);
	assert_string_equal(err.code, "causality.too_short");
	o.probes = CAUSALITY_PROBES_MAX + 1;
	assert_int_equal(causality_audit(&h, NULL, &o, split, NTOK, &r, &err), -1);
	assert_string_equal(err.code, "causality.bad_shape");
	o.probes = 0;
	for (int i = 0; i < NTOK; i++)
		bad[i] = FV + 3;
	assert_int_equal(causality_audit(&h, NULL, &o, bad, NTOK, &r, &err), -1);
	assert_string_equal(err.code, "causality.bad_token");
	h.destroy(&h);
}

static void same_seed_same_probes(void **st)
{
	struct kerr e1, e2;
	struct causality_report r;

	(void)st;
	/* The report names a probe anyone with the seed can rebuild. */
	assert_string_equal(audit(PEEK_NEXT_TOKEN, &r, &e1), "judge.causality");
	assert_string_equal(audit(PEEK_NEXT_TOKEN, &r, &e2), "judge.causality");
	assert_string_equal(e1.msg, e2.msg);
}

/* ---- the audit inside the scored evaluation -------------------------- */

#define HID_NTOK (NTOK - PUB_NTOK)
#define HID_FULL ((HID_NTOK - 1) / FT)

/* A split scored as the judge scores it (in `order`, or split order),
 * with the watcher: its drawn probes' twins on a second host, then `aimed`
 * aimed probes weighed against ref (NULL: the candidate's own mean). nats
 * gets every target's loss. */
static const char *scored_eval(enum cheat c, const uint16_t *toks, size_t n, const uint32_t *order, const double *ref,
			       int aimed, double *nats, struct causality_watch *w, struct kerr *err)
{
	struct recipe_host h, h_alt;
	struct kr_plan plan = {.seq_len = FT, .eval_batch = ROWS, .batch = ROWS, .steps = 1};
	struct causality_opts o = {.vocab_size = FV, .T = FT, .seed = audit_seed};
	struct eval_observer ob = {.after_call = causality_watch_call, .arg = w};
	struct eval_opts eo = {.threads = 1, .observer = &ob, .order = order, .target_nats = nats};
	struct causality_aim aim = {.nats = nats, .ref_nats = ref, .order = order, .full = (n - 1) / FT, .probes = aimed};
	struct eval_result res;
	uint32_t tbytes[FV];
	uint64_t calls;
	int rc;

	for (int v = 0; v < FV; v++)
		tbytes[v] = 1;
	fake_host(&h, c);
	fake_host(&h_alt, c);
	kerr_clear(err);
	assert_int_equal(evaluate_calls(&plan, FV, n, 0, &calls, &aim.rows, err), 0);
	assert_int_equal(causality_watch_init(w, &h_alt, &o, calls, aim.rows, toks, n, err), 0);
	rc = evaluate_tokens(&h, &plan, tbytes, FV, toks, n, &eo, &res, err);
	/* No twin is asked anything while the scoring runs: a recipe timing
	 * its calls cannot see the probes go by. */
	assert_int_equal(w->rep.calls, 0);
	assert_int_equal(w->rep.aimed_calls, 0);
	if (rc == 0)
		rc = causality_watch_finish(w, err);
	if (rc == 0 && aimed)
		rc = causality_watch_aim(w, &aim, err);
	h.destroy(&h);
	h_alt.destroy(&h_alt);
	if (rc < 0)
		print_message("    refused: %s: %s\n", err->code, err->msg);
	return rc == 0 ? "" : err->code;
}

static const char *watched_eval(enum cheat c, const uint16_t *toks, size_t n, struct causality_watch *w,
				struct kerr *err)
{
	return scored_eval(c, toks, n, NULL, NULL, 0, NULL, w, err);
}

/* The hidden split with aimed probes. */
static const char *aimed_eval(enum cheat c, const uint32_t *order, const double *ref, int aimed, double *nats,
			      struct causality_watch *w, struct kerr *err)
{
	return scored_eval(c, split + PUB_NTOK, HID_NTOK, order, ref, aimed, nats, w, err);
}

/* A recipe that is honest on the public windows it carries and leaks on
 * everything else passes an audit of the public split, which is what the
 * judge ran before; the audit inside the hidden evaluation catches it. */
static void split_aware_leak_is_caught_in_the_scored_split(void **st)
{
	struct causality_report r;
	struct causality_opts o = {.vocab_size = FV, .T = FT, .call_rows = ROWS, .seed = audit_seed};
	struct causality_watch w;
	struct recipe_host h;
	struct kerr err;

	(void)st;
	fake_host(&h, SPLIT_AWARE);
	if (causality_audit(&h, NULL, &o, split, PUB_NTOK, &r, &err) < 0)
		fail_msg("%s: %s", err.code, err.msg);
	h.destroy(&h);
	assert_string_equal(watched_eval(SPLIT_AWARE, split + PUB_NTOK, NTOK - PUB_NTOK, &w, &err), "judge.causality");
	causality_watch_free(&w);
	/* The honest model passes, every drawn call probed. */
	assert_string_equal(watched_eval(HONEST, split + PUB_NTOK, NTOK - PUB_NTOK, &w, &err), "");
	assert_int_equal(w.rep.probes, CAUSALITY_PROBES);
	assert_int_equal(w.rep.calls, CAUSALITY_PROBES);
	causality_watch_free(&w);
	/* Reading across rows is caught there too. */
	assert_string_equal(watched_eval(PEEK_NEXT_ROW, split + PUB_NTOK, NTOK - PUB_NTOK, &w, &err), "judge.causality");
	causality_watch_free(&w);
}

/* ---- aimed probes ------------------------------------------------------ */

/* A leak of half a percent of the split's positions slips past the probes
 * drawn before the scoring; the aimed ones go where it gained. */
static void sparse_leak_is_caught_by_aimed_probes(void **st)
{
	static double king[HID_NTOK], cand[HID_NTOK];
	struct causality_watch w;
	struct kerr err;
	int leaky = 0;

	(void)st;
	for (int i = 0; i < HID_FULL; i++)
		leaky += sparse_leaks(split + PUB_NTOK + (size_t)i * FT, 3);
	print_message("    %d of %d windows leak, at 4 of their %d positions\n", leaky, HID_FULL, FT);
	assert_true(leaky >= 2 && leaky <= HID_FULL / 8);
	/* The king: the same model without the leak. */
	assert_string_equal(aimed_eval(HONEST, NULL, NULL, 0, king, &w, &err), "");
	causality_watch_free(&w);
	/* The drawn probes alone miss it. */
	assert_string_equal(aimed_eval(SPARSE, NULL, king, 0, cand, &w, &err), "");
	assert_int_equal(w.rep.probes, CAUSALITY_PROBES);
	causality_watch_free(&w);
	/* Aimed at the gain over the king, one probe is enough: every
	 * position that gains is a leaked one. */
	assert_string_equal(aimed_eval(SPARSE, NULL, king, 1, cand, &w, &err), "judge.causality");
	assert_non_null(strstr(err.msg, "aimed probe 0"));
	/* nothing the recipe could steer: no window, row or cut */
	assert_null(strstr(err.msg, "window"));
	assert_null(strstr(err.msg, "cut"));
	causality_watch_free(&w);
	/* A sparse leak across rows is found the same way: its gains are at
	 * the last position, where the cut keeps the whole row and the twin
	 * replaces the next one. */
	assert_string_equal(aimed_eval(SPARSE_ROW, NULL, king, 0, cand, &w, &err), "");
	causality_watch_free(&w);
	assert_string_equal(aimed_eval(SPARSE_ROW, NULL, king, 1, cand, &w, &err), "judge.causality");
	assert_non_null(strstr(err.msg, "aimed probe 0"));
	causality_watch_free(&w);
}

/* An honest model passes aimed probes, whatever the order its
 * windows were scored in, even one whose answer depends on the row a
 * window sits in; probes share twin calls. */
static void honest_model_passes_aimed_probes(void **st)
{
	static double king[HID_NTOK], cand[HID_NTOK];
	uint32_t order[HID_FULL];
	struct causality_watch w;
	struct kerr err;

	(void)st;
	for (int i = 0; i < HID_FULL; i++)
		order[i] = (uint32_t)((i * 17 + 5) % HID_FULL); /* 17 is prime to 63 */
	for (int k = 0; k < 2; k++) {
		const uint32_t *ord = k ? order : NULL;
		assert_string_equal(aimed_eval(ROW_SHIFT, ord, NULL, 0, king, &w, &err), "");
		causality_watch_free(&w);
		assert_string_equal(aimed_eval(ROW_SHIFT, ord, king, 16, cand, &w, &err), "");
		assert_int_equal(w.rep.aimed, 16);
		print_message("    %s: %d aimed probes in %d twin calls of %d rows\n", k ? "secret order" : "split order",
			      w.rep.aimed, w.rep.aimed_calls, ROWS);
		assert_true(w.rep.aimed_calls >= 16 / ROWS && w.rep.aimed_calls < 16);
		causality_watch_free(&w);
		/* The judge's count: more than the split has windows, so one
		 * a window. */
		assert_string_equal(aimed_eval(ROW_SHIFT, ord, NULL, CAUSALITY_AIMED, cand, &w, &err), "");
		assert_true(w.rep.aimed > HID_FULL / 2 && w.rep.aimed <= HID_FULL);
		causality_watch_free(&w);
	}
	/* Where every window begins alike (say, each with the same marker), a
	 * probe's kept tokens would be what its twin-mate's neighbour row
	 * held: no two probes share a twin call, or a read of the next row's
	 * first token would see no change. */
	{
		static uint16_t alike[HID_NTOK];
		struct recipe_host h, h_alt;
		struct kr_plan plan = {.seq_len = FT, .eval_batch = ROWS, .batch = ROWS, .steps = 1};
		struct causality_opts o = {.vocab_size = FV, .T = FT, .seed = audit_seed};
		struct eval_observer ob = {.after_call = causality_watch_call, .arg = &w};
		struct eval_opts eo = {.threads = 1, .observer = &ob, .target_nats = cand};
		struct causality_aim aim = {.nats = cand, .full = HID_FULL, .probes = 16};
		struct eval_result res;
		uint32_t tbytes[FV];
		uint64_t calls;

		memcpy(alike, split + PUB_NTOK, sizeof alike);
		for (int i = 0; i < HID_FULL; i++)
			alike[(size_t)i * FT] = 7;
		for (int v = 0; v < FV; v++)
			tbytes[v] = 1;
		fake_host(&h, HONEST);
		fake_host(&h_alt, HONEST);
		assert_int_equal(evaluate_calls(&plan, FV, HID_NTOK, 0, &calls, &aim.rows, &err), 0);
		assert_int_equal(causality_watch_init(&w, &h_alt, &o, calls, aim.rows, alike, HID_NTOK, &err), 0);
		assert_int_equal(evaluate_tokens(&h, &plan, tbytes, FV, alike, HID_NTOK, &eo, &res, &err), 0);
		assert_int_equal(causality_watch_finish(&w, &err), 0);
		assert_int_equal(causality_watch_aim(&w, &aim, &err), 0);
		assert_int_equal(w.rep.aimed, 16);
		assert_int_equal(w.rep.aimed_calls, 16);
		h.destroy(&h);
		h_alt.destroy(&h_alt);
		causality_watch_free(&w);
	}
	/* A window order that is not a permutation is refused. */
	order[1] = order[0];
	assert_string_equal(aimed_eval(HONEST, NULL, NULL, 0, king, &w, &err), "");
	{
		struct causality_aim aim = {.nats = king, .order = order, .full = HID_FULL, .rows = ROWS};
		assert_int_equal(causality_watch_aim(&w, &aim, &err), -1);
		assert_string_equal(err.code, "causality.bad_shape");
	}
	causality_watch_free(&w);
}

/* ---- the project's recipe ---------------------------------------------- */

static void project_recipe_is_causal(void **st)
{
	struct recipe_host h;
	struct kr_env env = {.seed = 3, .threads = 2, .vocab_size = 320, .scale = "tiny"};
	struct kr_plan plan;
	struct causality_opts o = {.vocab_size = 320, .seed = 5};
	struct causality_report r;
	struct kerr err;
	uint16_t *toks = malloc(NTOK * 4 * sizeof *toks);
	uint64_t x = 12345;

	(void)st;
	assert_non_null(toks);
	for (int i = 0; i < NTOK * 4; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		toks[i] = (uint16_t)(x % 320);
	}
	recipe_host_inproc(&h);
	if (recipe_host_create(&h, &env, &plan, &err) < 0)
		fail_msg("%s: %s", err.code, err.msg);
	o.T = plan.seq_len;
	o.call_rows = plan.eval_batch;
	if (causality_audit(&h, NULL, &o, toks, NTOK * 4, &r, &err) < 0)
		fail_msg("%s: %s", err.code, err.msg);
	assert_int_equal(r.probes, CAUSALITY_PROBES);
	print_message("    karpa-gpt tiny: %d probes, %d calls of %d x %d, %.3f s wall\n", r.probes, r.calls,
		      r.rows_per_call, plan.seq_len, r.wall_s);
	recipe_host_destroy(&h);
	free(toks);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(causal_model_passes),
	    cmocka_unit_test(peeking_at_next_token_is_caught),
	    cmocka_unit_test(peeking_at_next_row_is_caught),
	    cmocka_unit_test(tiny_leak_is_caught_bitwise),
	    cmocka_unit_test(memoising_recipe_needs_a_second_host),
	    cmocka_unit_test(bad_inputs_are_refused),
	    cmocka_unit_test(same_seed_same_probes),
	    cmocka_unit_test(split_aware_leak_is_caught_in_the_scored_split),
	    cmocka_unit_test(sparse_leak_is_caught_by_aimed_probes),
	    cmocka_unit_test(honest_model_passes_aimed_probes),
	    cmocka_unit_test(project_recipe_is_causal),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
