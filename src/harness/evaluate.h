/* evaluate.h: val_bpb (fixed harness, PROTOCOL 3). Owns the metric: which
 * targets are scored, how cross-entropy is accumulated and what it is divided
 * by. The recipe only supplies logits; the loss is computed here, never by
 * recipe code, so a recipe cannot misreport its own score.
 *
 * Windows: the split's tokens x[0..n-1] are cut into windows of T+1 tokens
 * starting at 0, T, 2T, ... (T = plan.seq_len): window w feeds x[wT..wT+T-1]
 * and scores targets x[wT+1..wT+T]. Consecutive windows share one token
 * (the last target of one is the first input of the next), so every token
 * x[1..n-1] is scored exactly once and each window starts with a fresh
 * context. The last window may be shorter; it is scored if it has at least
 * 2 tokens (one input, one target). */
#ifndef KARPA_EVALUATE_H
#define KARPA_EVALUATE_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "data/bpe.h"
#include "sandbox/recipe_host.h"
#include "util/kerr.h"

/* Logits buffers above this are split into smaller calls (same result: rows
 * are independent). 512 MiB = 8 rows x 1024 x 16384 floats. */
#define EVAL_LOGITS_BYTES_MAX ((size_t)512 << 20)

/* Sees every scoring call as it happens: its index (0, 1, ... in split
 * order), its input rows and the recipe's logits for them. The causality
 * audit hangs here, so that what it probes is the very calls that are
 * scored (PROTOCOL 5.4). A failure stops the evaluation with its code. */
struct eval_observer {
	int (*after_call)(void *arg, uint64_t call, const uint16_t *in, int rows, int T, const float *logits,
			  struct kerr *err);
	void *arg;
};

/* Sees every call once it is scored: the windows it held (their indexes in
 * split order) and each window's cross-entropy. Returns 1 to stop the
 * evaluation there (the sequential judge, docs/judging-checks.md), 0 to go
 * on, -1 to fail with err. */
struct eval_stopper {
	int (*after_scored)(void *arg, const uint32_t *windows, int rows, const double *row_nats,
			    struct kerr *err);
	void *arg;
};

struct eval_opts {
	uint64_t targets_max; /* 0: the whole split (the protocol's default) */
	int threads;          /* for the loss reduction; the result does not depend on it */
	const struct eval_observer *observer; /* NULL: none */
	/* NULL: the full windows in split order. Else a permutation of the
	 * full windows 0..full-1 (evaluate_windows), scored in that order, rows
	 * of a call taken consecutively from it; the short last window, if
	 * any, is still the last call. The totals are added in split order
	 * whatever the order, so for a recipe whose rows are independent (the
	 * causality audit's requirement) the result is the same bits. */
	const uint32_t *order;
	double *target_nats;  /* NULL, or one per scored target (split order): its cross-entropy */
	const struct eval_stopper *stopper; /* NULL: none */
	/* 1: the short last window is scored even after the stopper stopped,
	 * so its nats are known exactly (the judge's public claim on a share:
	 * an estimate from full windows plus the tail's own). 0: a stop ends
	 * the scoring, the tail unscored (the hidden evaluation's rule). */
	int tail_always;
};

struct eval_result {
	double val_bpb;   /* nats / (ln 2 * bytes) */
	double loss;      /* mean nats per scored target */
	double nats;      /* total cross-entropy */
	uint64_t targets; /* scored target tokens */
	uint64_t bytes;   /* UTF-8 bytes of the scored targets */
	int stopped;      /* 1 when the stopper ended it early: the sums cover the scored windows only */
	uint64_t windows; /* windows scored, the short last one included when scored */
	int tail_scored;  /* 1 when the split has a short last window and it was scored */
	double tail_nats; /* its cross-entropy then, else 0 */
};

/* The byte-length table bpe_token_len gives for every id; caller frees.
 * Inline so that the evaluator itself links without the tokenizer (its tests
 * use a hand-made table). */
static inline int evaluate_token_bytes(const struct bpe *tok, uint32_t **table, int *vocab,
				       struct kerr *err)
{
	int v = bpe_vocab_size(tok);
	uint32_t *t;

	*table = NULL;
	if (v <= 0 || v > BPE_VOCAB_MAX)
		return kerr_set(err, "eval.bad_vocab", "tokenizer vocab size %d outside 1..%d", v,
				BPE_VOCAB_MAX);
	if (!(t = malloc((size_t)v * sizeof *t)))
		return kerr_set(err, "eval.nomem", "out of memory for the token byte table");
	for (int i = 0; i < v; i++)
		t[i] = bpe_token_len(tok, (uint16_t)i);
	*table = t;
	*vocab = v;
	return 0;
}

/* How evaluate_tokens will call the recipe on a split of n tokens: the
 * number of logits calls (*calls) and the rows of a full call (*rows).
 * Codes as evaluate_tokens for a split too short or a row too large. */
int evaluate_calls(const struct kr_plan *plan, int vocab, size_t n, uint64_t targets_max, uint64_t *calls,
		   int *rows, struct kerr *err);

/* The windows of a split of n tokens: *full of plan.seq_len targets, and
 * *tail (0 or 1) short last one of *tail_len targets. eval.too_short. */
int evaluate_windows(const struct kr_plan *plan, size_t n, uint64_t targets_max, size_t *full, int *tail,
		     size_t *tail_len, struct kerr *err);

/* Scores tokens[0..n-1] with h's logits. plan gives seq_len and eval_batch.
 * token_bytes has vocab entries. Reason codes: eval.nonfinite (a logit is
 * NaN/inf), eval.bad_token (an id >= vocab), eval.too_short (fewer than 2
 * tokens), eval.no_bytes (targets decode to 0 bytes), recipe.*. */
int evaluate_tokens(struct recipe_host *h, const struct kr_plan *plan, const uint32_t *token_bytes,
		    int vocab, const uint16_t *tokens, size_t n, const struct eval_opts *o,
		    struct eval_result *res, struct kerr *err);

#endif
