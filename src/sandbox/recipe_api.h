/* recipe_api.h: the one header a recipe is built against (PROTOCOL 2).
 * Owns the boundary between the fixed harness and the patchable recipe. The
 * harness drives: it asks the recipe for its plan, hands it every batch, and
 * asks for logits to evaluate. Every call is a request/response on plain
 * buffers, so the same API can be carried over pipes to a sandboxed child
 * (docs/recipe-api.md). The recipe never opens files, never sees the data
 * folder, and never computes the metric. */
#ifndef KARPA_RECIPE_API_H
#define KARPA_RECIPE_API_H

#include <stddef.h>
#include <stdint.h>

#define KR_API_VERSION 1
#define KR_NAME_MAX 64
#define KR_ERR_MAX 256
/* kr_env.gemm and kr_gemm_record's text, with its NUL (src/sandbox/gemmtab.h
 * sizes a full table to fit). */
#define KR_GEMM_MAX 49152

/* What the harness tells the recipe when it is created. */
struct kr_env {
	uint64_t seed;      /* run seed; the recipe derives every random stream from it */
	int threads;        /* worker threads the recipe may use (results must not depend on it) */
	int vocab_size;     /* fixed by the tokenizer: logits have this many columns */
	const char *scale;  /* "tiny", "cpu", ... : selects the recipe's own config */
	/* 1 when the harness loads a state right after create (a restart at a
	 * checkpoint, an evaluation, a replay): the recipe may skip its random
	 * init, which the load overwrites. Whatever it does, the state it runs
	 * from is the loaded one. */
	int state_follows;
	/* The matrix-product algorithms to use (API 1.3): NULL or "" for none,
	 * else a table as kr_gemm_record gives it (canonical text of
	 * src/sandbox/gemmtab.h, shorter than KR_GEMM_MAX), checked by the
	 * harness before create. A replay passes the table its proof recorded.
	 * A recipe that picks algorithms through a library must use exactly
	 * these for the products they name, or fail create naming the product
	 * and the reason, never silently pick another; products they do not
	 * name it picks as it would without them. A recipe that picks none
	 * ignores it. */
	const char *gemm;
};

/* What the recipe declares about its run (PROTOCOL 4.3: it declares its
 * own length; the harness enforces the budget as a ceiling). */
struct kr_plan {
	char name[KR_NAME_MAX];    /* e.g. "karpa-gpt" */
	char version[KR_NAME_MAX]; /* e.g. "0.1.0" */
	int batch;                 /* B sequences per step */
	int seq_len;               /* T tokens per sequence (each row reads T+1 tokens) */
	int eval_batch;            /* rows per logits call the recipe prefers */
	int64_t steps;             /* training steps */
	int64_t ckpt_every;        /* checkpoint interval in steps (0: final only) */
	int64_t params;            /* parameter count, for the log */
};

struct kr_recipe; /* opaque, owned by the recipe */

/* Every function returns 0 on success or -1 and writes a one-line reason into
 * err (KR_ERR_MAX bytes). */
int kr_create(const struct kr_env *env, struct kr_recipe **out, struct kr_plan *plan, char *err);
void kr_destroy(struct kr_recipe *r);

/* One optimizer step. tokens holds batch rows of seq_len+1 tokens: inputs are
 * row[0..T-1], targets row[1..T]. Reports the mean training loss and the
 * learning rate used. step counts from 0. */
int kr_train_step(struct kr_recipe *r, int64_t step, const uint16_t *tokens, float *loss,
		  float *lr, char *err);

/* Tracing, for disputes (docs/dispute.md). A tracer receives, in the order
 * they are computed, the tensors of one training step under stable names
 * "phase.where.op.tensor" (phase fwd|bwd|opt; where L0, L1, ... or "model";
 * op the operation that produced it; at most KR_TRACE_NAME_MAX-1 bytes of
 * [A-Za-z0-9_.]). The harness keeps a digest of each, never the data, so
 * two parties who replayed the same step can find the first tensor on
 * which they differ. A trace is a diagnosis between honest parties, not
 * evidence: no verdict depends on it. */
#define KR_TRACE_NAME_MAX 48
struct kr_tracer {
	void (*tensor)(void *arg, const char *name, const float *x, size_t n);
	void *arg;
};

/* kr_train_step, reporting its tensors to t as it goes. The same step must
 * give the same loss, lr and state as kr_train_step. Optional (API 1.2): a
 * recipe without it trains and is judged as before; only a dispute's trace
 * of it is refused. */
int kr_train_step_traced(struct kr_recipe *r, int64_t step, const uint16_t *tokens, float *loss,
			 float *lr, const struct kr_tracer *t, char *err);

/* The matrix-product algorithms the recipe has picked so far (through a
 * library's heuristic, or from kr_env.gemm), as canonical gemmtab text,
 * NUL-terminated in buf (cap = KR_GEMM_MAX bytes); "" when it picks none.
 * The harness asks after the first training step and again at the end of
 * a run, pins the first answer for the run's later segments and records
 * the last in a proof (docs/gpu.md). Optional (API 1.3): a recipe without
 * it reports nothing. */
int kr_gemm_record(const struct kr_recipe *r, char *buf, size_t cap, char *err);

/* Next-token logits for rows of length T (T <= plan.seq_len, rows <= any):
 * logits[(row*T + t)*vocab + v] for the token after position t. Must be
 * causal: position t may depend only on tokens[0..t] of its own row. */
int kr_logits(struct kr_recipe *r, const uint16_t *tokens, int rows, int T, float *logits,
	      char *err);

/* The recipe's opaque state (weights, optimizer moments, step): the harness
 * wraps it in the checkpoint container. save writes exactly state_bytes. */
size_t kr_state_bytes(const struct kr_recipe *r);
int kr_state_save(const struct kr_recipe *r, void *buf, size_t n, char *err);
int kr_state_load(struct kr_recipe *r, const void *buf, size_t n, char *err);

#endif
