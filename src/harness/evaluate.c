/* evaluate.c: the val_bpb evaluator. Cross-entropy per target is
 * log-sum-exp(logits) - logit[target], in double, with the max subtracted
 * first so exp never overflows. Rows are scored in parallel into per-row
 * sums that are added in row order, so the result is bit-identical for any
 * thread count; exp and log are kmath's (recipe/kmath.h, compiled into the
 * harness from this tree), so it is bit-identical on any C library too. */
#include "harness/evaluate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kmath.h"

/* Scores one row of T positions. Returns -1 on a non-finite logit. */
static int score_row(const float *lg, const uint16_t *targets, int T, int vocab, double *nats)
{
	double sum_row = 0;

	for (int t = 0; t < T; t++) {
		const float *l = lg + (size_t)t * vocab;
		double m = l[0], s = 0;
		for (int v = 0; v < vocab; v++) {
			if (!isfinite(l[v]))
				return -1;
			if (l[v] > m)
				m = l[v];
		}
		for (int v = 0; v < vocab; v++)
			s += kexp((double)l[v] - m);
		sum_row += m + klog(s) - (double)l[targets[t]];
	}
	*nats = sum_row;
	return 0;
}

struct ebuf {
	uint16_t *in;
	float *logits;
	double *row_nats;
	int *row_bad;
};

/* Scores `rows` windows of T inputs starting at tokens[first*stride...]. */
static int score_call(struct recipe_host *h, const uint16_t *tokens, size_t first_start, int rows,
		      int T, int vocab, const uint32_t *token_bytes, struct ebuf *b, int threads,
		      const struct eval_observer *ob, uint64_t call, struct eval_result *res, struct kerr *err)
{
	for (int r = 0; r < rows; r++)
		memcpy(b->in + (size_t)r * T, tokens + first_start + (size_t)r * T,
		       (size_t)T * sizeof *tokens);
	if (h->logits(h, b->in, rows, T, b->logits, err) < 0)
		return -1;
	if (ob && ob->after_call && ob->after_call(ob->arg, call, b->in, rows, T, b->logits, err) < 0)
		return -1;
#pragma omp parallel for num_threads(threads) schedule(static)
	for (int r = 0; r < rows; r++)
		b->row_bad[r] = score_row(b->logits + (size_t)r * T * vocab,
					  tokens + first_start + (size_t)r * T + 1, T, vocab,
					  &b->row_nats[r]);
	for (int r = 0; r < rows; r++) {
		const uint16_t *tg = tokens + first_start + (size_t)r * T + 1;
		if (b->row_bad[r])
			return kerr_set(err, "eval.nonfinite",
					"recipe returned a non-finite logit for the window at token %zu",
					first_start + (size_t)r * T);
		res->nats += b->row_nats[r];
		for (int t = 0; t < T; t++)
			res->bytes += token_bytes[tg[t]];
		res->targets += (uint64_t)T;
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

int evaluate_calls(const struct kr_plan *plan, int vocab, size_t n, uint64_t targets_max, uint64_t *calls,
		   int *rows, struct kerr *err)
{
	size_t nt = scored_tokens(n, targets_max), full;
	int rpc;

	if (nt < 2)
		return kerr_set(err, "eval.too_short", "split has %zu tokens; scoring needs at least 2", n);
	if ((rpc = rows_per_call(plan, vocab, err)) < 0)
		return -1;
	full = (nt - 1) / (size_t)plan->seq_len;
	*calls = (full + (size_t)rpc - 1) / (size_t)rpc + ((nt - 1) % (size_t)plan->seq_len > 0);
	*rows = rpc;
	return 0;
}

int evaluate_tokens(struct recipe_host *h, const struct kr_plan *plan, const uint32_t *token_bytes,
		    int vocab, const uint16_t *tokens, size_t n, const struct eval_opts *o,
		    struct eval_result *res, struct kerr *err)
{
	struct ebuf b = { 0 };
	int T = plan->seq_len, rpc, threads = o && o->threads > 0 ? o->threads : 1, rc = -1;
	const struct eval_observer *ob = o ? o->observer : NULL;
	size_t nt = scored_tokens(n, o ? o->targets_max : 0), full, rem, w = 0;
	uint64_t call = 0;

	memset(res, 0, sizeof *res);
	if (nt < 2)
		return kerr_set(err, "eval.too_short", "split has %zu tokens; scoring needs at least 2", n);
	if (vocab <= 0 || vocab != h->vocab_size)
		return kerr_set(err, "eval.bad_vocab", "token table has %d entries, recipe logits %d",
				vocab, h->vocab_size);
	for (size_t i = 0; i < nt; i++)
		if (tokens[i] >= vocab)
			return kerr_set(err, "eval.bad_token", "token %zu has id %u >= vocab %d", i,
					tokens[i], vocab);
	if ((rpc = rows_per_call(plan, vocab, err)) < 0)
		return -1;
	full = (nt - 1) / (size_t)T;
	rem = (nt - 1) % (size_t)T;
	b.in = malloc((size_t)rpc * T * sizeof *b.in);
	b.logits = malloc((size_t)rpc * T * (size_t)vocab * sizeof *b.logits);
	b.row_nats = malloc((size_t)rpc * sizeof *b.row_nats);
	b.row_bad = malloc((size_t)rpc * sizeof *b.row_bad);
	if (!b.in || !b.logits || !b.row_nats || !b.row_bad) {
		kerr_set(err, "eval.nomem", "out of memory for %d rows of %d x %d logits", rpc, T, vocab);
		goto out;
	}
	while (w < full) {
		int rows = full - w < (size_t)rpc ? (int)(full - w) : rpc;
		if (score_call(h, tokens, w * (size_t)T, rows, T, vocab, token_bytes, &b, threads, ob, call++,
			       res, err) < 0)
			goto out;
		w += (size_t)rows;
	}
	if (rem > 0 && score_call(h, tokens, full * (size_t)T, 1, (int)rem, vocab, token_bytes, &b,
				  threads, ob, call++, res, err) < 0)
		goto out;
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
	free(b.row_bad);
	return rc;
}
