/* evaluate.c: the val_bpb evaluator. Cross-entropy per target is
 * log-sum-exp(logits) - logit[target], in double, with the max subtracted
 * first so exp never overflows. Rows are scored in parallel into per-row
 * sums that are added in row order, so the result is bit-identical for any
 * thread count; each target's cross-entropy is xent.h's, whose bits do not
 * depend on the CPU's vector width or the C library either. */
#include "harness/evaluate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/xent.h"

/* Scores one row of T positions into *nats and each target's cross-entropy
 * into pt[0..T-1] (xent.h; the sum adds the same doubles in position
 * order). Returns -1 on a non-finite logit. */
/* A row's positions are scored in this many pieces at once, so that a call
 * of a few long rows (gpu-125m's evaluation: 2 rows of 1024 positions at
 * 50257 entries) keeps every thread busy. A position's nats do not depend
 * on the piece it falls in (xent.h), and a row's sum is still added in
 * position order, so the pieces change no bit. */
#define EVAL_PIECES 8

struct ebuf {
	uint16_t *in;
	float *logits;
	double *row_nats;
	double *pos_nats;  /* per row of the call, T each: where targets' losses go when not kept */
	int *row_bad;      /* per piece of each row (EVAL_PIECES a row) */
	uint32_t *win;     /* the windows of the current call */
	double *win_nats;  /* per window, split order */
	uint8_t *scored;   /* per window */
};

/* Scores the `rows` windows b->win[0..rows-1] of T targets each (window w
 * feeds tokens[wT'..wT'+T-1], T' = the full windows' length). */
static int score_call(struct recipe_host *h, const uint16_t *tokens, int Tfull, int rows, int T, int vocab,
		      struct ebuf *b, int threads, const struct eval_opts *o, uint64_t call, struct kerr *err)
{
	const struct eval_observer *ob = o ? o->observer : NULL;
	double *pt = o ? o->target_nats : NULL;

	for (int r = 0; r < rows; r++)
		memcpy(b->in + (size_t)r * T, tokens + (size_t)b->win[r] * Tfull, (size_t)T * sizeof *tokens);
	if (h->logits(h, b->in, rows, T, b->logits, err) < 0)
		return -1;
	if (ob && ob->after_call && ob->after_call(ob->arg, call, b->in, rows, T, b->logits, err) < 0)
		return -1;
#pragma omp parallel for num_threads(threads) schedule(static)
	for (int job = 0; job < rows * EVAL_PIECES; job++) {
		int r = job / EVAL_PIECES, k = job % EVAL_PIECES;
		int t0 = (int)((int64_t)T * k / EVAL_PIECES), t1 = (int)((int64_t)T * (k + 1) / EVAL_PIECES);
		size_t at = (size_t)b->win[r] * Tfull;
		double *nats = pt ? pt + at : b->pos_nats + (size_t)r * T;

		b->row_bad[job] = t1 > t0 && xent_positions(b->logits + ((size_t)r * T + (size_t)t0) * (size_t)vocab,
							     tokens + at + 1 + t0, t1 - t0, vocab, nats + t0) < 0;
	}
	for (int r = 0; r < rows; r++) {
		size_t at = (size_t)b->win[r] * Tfull;
		const double *nats = pt ? pt + at : b->pos_nats + (size_t)r * T;
		double sum_row = 0;

		for (int k = 0; k < EVAL_PIECES; k++)
			if (b->row_bad[r * EVAL_PIECES + k])
				return kerr_set(err, "eval.nonfinite",
						"recipe returned a non-finite logit for the window at token %zu", at);
		for (int t = 0; t < T; t++)
			sum_row += nats[t];
		b->row_nats[r] = sum_row;
		b->win_nats[b->win[r]] = sum_row;
		b->scored[b->win[r]] = 1;
	}
	return 0;
}

static int rows_per_call(const struct kr_plan *plan, int vocab, struct kerr *err)
{
	size_t row_bytes = (size_t)plan->seq_len * (size_t)vocab * sizeof(float);
	int rows = plan->eval_batch;

	if (row_bytes > EVAL_LOGITS_BYTES_MAX)
		return kerr_set(err, "eval.too_large", "one row of logits (%zu bytes) exceeds %zu",
				row_bytes, EVAL_LOGITS_BYTES_MAX);
	while ((size_t)rows * row_bytes > EVAL_LOGITS_BYTES_MAX)
		rows /= 2;
	return rows;
}

/* Targets scored from a split of n tokens: all, or the first targets_max. */
static size_t scored_tokens(size_t n, uint64_t targets_max)
{
	return targets_max && targets_max < n - (n > 0) ? (size_t)targets_max + 1 : n;
}

int evaluate_windows(const struct kr_plan *plan, size_t n, uint64_t targets_max, size_t *full, int *tail,
		     size_t *tail_len, struct kerr *err)
{
	size_t nt = scored_tokens(n, targets_max);

	if (nt < 2)
		return kerr_set(err, "eval.too_short", "split has %zu tokens; scoring needs at least 2", n);
	*full = (nt - 1) / (size_t)plan->seq_len;
	*tail_len = (nt - 1) % (size_t)plan->seq_len;
	*tail = *tail_len > 0;
	return 0;
}

int evaluate_calls(const struct kr_plan *plan, int vocab, size_t n, uint64_t targets_max, uint64_t *calls,
		   int *rows, struct kerr *err)
{
	size_t full = 0, rem = 0;
	int rpc, tail = 0;

	if (evaluate_windows(plan, n, targets_max, &full, &tail, &rem, err) < 0)
		return -1;
	if ((rpc = rows_per_call(plan, vocab, err)) < 0)
		return -1;
	*calls = (full + (size_t)rpc - 1) / (size_t)rpc + (uint64_t)tail;
	*rows = rpc;
	return 0;
}

/* The sums over the scored windows, added in split order: the same
 * operations, in the same order, as scoring every window in split order. */
static void add_up(const struct ebuf *b, const uint16_t *tokens, size_t nwin, int T, size_t rem,
		   const uint32_t *token_bytes, struct eval_result *res)
{
	for (size_t w = 0; w < nwin; w++) {
		size_t len = w < nwin - (rem > 0) || rem == 0 ? (size_t)T : rem;
		const uint16_t *tg = tokens + w * (size_t)T + 1;
		if (!b->scored[w])
			continue;
		res->nats += b->win_nats[w];
		for (size_t t = 0; t < len; t++)
			res->bytes += token_bytes[tg[t]];
		res->targets += (uint64_t)len;
		res->windows++;
	}
}

int evaluate_tokens(struct recipe_host *h, const struct kr_plan *plan, const uint32_t *token_bytes,
		    int vocab, const uint16_t *tokens, size_t n, const struct eval_opts *o,
		    struct eval_result *res, struct kerr *err)
{
	struct ebuf b = { 0 };
	int T = plan->seq_len, rpc, threads = o && o->threads > 0 ? o->threads : 1, rc = -1, tail = 0, stop = 0;
	const struct eval_stopper *sp = o ? o->stopper : NULL;
	const uint32_t *order = o ? o->order : NULL;
	size_t nt = scored_tokens(n, o ? o->targets_max : 0), full = 0, rem = 0, w = 0, nwin;
	uint64_t call = 0;

	memset(res, 0, sizeof *res);
	if (evaluate_windows(plan, n, o ? o->targets_max : 0, &full, &tail, &rem, err) < 0)
		return -1;
	if (vocab <= 0 || vocab != h->vocab_size)
		return kerr_set(err, "eval.bad_vocab", "token table has %d entries, recipe logits %d",
				vocab, h->vocab_size);
	for (size_t i = 0; i < nt; i++)
		if (tokens[i] >= vocab)
			return kerr_set(err, "eval.bad_token", "token %zu has id %u >= vocab %d", i,
					tokens[i], vocab);
	if ((rpc = rows_per_call(plan, vocab, err)) < 0)
		return -1;
	nwin = full + (size_t)tail;
	b.in = malloc((size_t)rpc * T * sizeof *b.in);
	b.logits = malloc((size_t)rpc * T * (size_t)vocab * sizeof *b.logits);
	b.row_nats = malloc((size_t)rpc * sizeof *b.row_nats);
	b.pos_nats = malloc((size_t)rpc * T * sizeof *b.pos_nats);
	b.row_bad = malloc((size_t)rpc * EVAL_PIECES * sizeof *b.row_bad);
	b.win = malloc((size_t)rpc * sizeof *b.win);
	b.win_nats = calloc(nwin, sizeof *b.win_nats);
	b.scored = calloc(nwin, 1);
	if (!b.in || !b.logits || !b.row_nats || !b.pos_nats || !b.row_bad || !b.win || !b.win_nats || !b.scored) {
		kerr_set(err, "eval.nomem", "out of memory for %d rows of %d x %d logits", rpc, T, vocab);
		goto out;
	}
	while (w < full && !stop) {
		int rows = full - w < (size_t)rpc ? (int)(full - w) : rpc;
		for (int r = 0; r < rows; r++) {
			b.win[r] = order ? order[w + (size_t)r] : (uint32_t)(w + (size_t)r);
			if (b.win[r] >= full || b.scored[b.win[r]]) {
				kerr_set(err, "eval.bad_order", "the window order is not a permutation of the %zu windows",
					 full);
				goto out;
			}
		}
		if (score_call(h, tokens, T, rows, T, vocab, &b, threads, o, call++, err) < 0)
			goto out;
		w += (size_t)rows;
		if (sp && sp->after_scored && w < nwin &&
		    (stop = sp->after_scored(sp->arg, b.win, rows, b.row_nats, err)) < 0)
			goto out;
	}
	b.win[0] = (uint32_t)full;
	if ((!stop || (o && o->tail_always)) && tail &&
	    score_call(h, tokens, T, 1, (int)rem, vocab, &b, threads, o, call++, err) < 0)
		goto out;
	add_up(&b, tokens, nwin, T, rem, token_bytes, res);
	res->stopped = stop > 0;
	res->tail_scored = tail && b.scored[full];
	res->tail_nats = res->tail_scored ? b.win_nats[full] : 0;
	if (res->bytes == 0) {
		kerr_set(err, "eval.no_bytes", "the %llu scored targets decode to 0 bytes",
			 (unsigned long long)res->targets);
		goto out;
	}
	res->val_bpb = res->nats / (M_LN2 * (double)res->bytes);
	res->loss = res->nats / (double)res->targets;
	rc = 0;
out:
	free(b.in);
	free(b.logits);
	free(b.row_nats);
	free(b.pos_nats);
	free(b.row_bad);
	free(b.win);
	free(b.win_nats);
	free(b.scored);
	return rc;
}
