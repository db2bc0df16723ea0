/* recipe_host.h: the handle through which the harness drives a recipe.
 * Owns the boundary's trust rules: every answer from the recipe (its plan,
 * sizes, error text) is checked here before harness code relies on it. The
 * first implementation calls the recipe in-process (kr_* from recipe_api.h);
 * a pipe-backed one (recipe in a sandboxed child, docs/harness.md) fills the
 * same function table, so train.c and evaluate.c never change. */
#ifndef KARPA_RECIPE_HOST_H
#define KARPA_RECIPE_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "sandbox/recipe_api.h"
#include "sandbox/recipe_trace.h"
#include "util/kerr.h"

/* Limits on what a recipe may declare. They bound the harness's own
 * allocations (batch buffers, logits) before it trusts a plan. */
#define RECIPE_BATCH_MAX 4096
#define RECIPE_SEQ_LEN_MAX 65536
#define RECIPE_EVAL_BATCH_MAX 4096
#define RECIPE_STEPS_MAX ((int64_t)100 * 1000 * 1000)
/* gpu-254m with fp32 master weights and two Adam moments is about 4 GiB;
 * four times that leaves room without letting a recipe ask for anything. */
#define RECIPE_STATE_BYTES_MAX ((size_t)16 << 30)

struct recipe_host {
	const char *kind; /* "inproc"; later "pipe" */
	void *impl;       /* the implementation's own state */
	int vocab_size;   /* from the env given to create: logits columns */
	int (*create)(struct recipe_host *h, const struct kr_env *env, struct kr_plan *plan,
		      struct kerr *err);
	int (*train_step)(struct recipe_host *h, int64_t step, const uint16_t *tokens, float *loss,
			  float *lr, struct kerr *err);
	/* A training step with its trace (recipe_host_train_traced checks it). */
	int (*train_traced)(struct recipe_host *h, int64_t step, const uint16_t *tokens, float *loss, float *lr,
			    struct recipe_trace_rec *recs, uint32_t cap, uint32_t *n, int *overflow,
			    struct kerr *err);
	int (*logits)(struct recipe_host *h, const uint16_t *tokens, int rows, int T, float *logits,
		      struct kerr *err);
	int (*state_bytes)(struct recipe_host *h, size_t *n, struct kerr *err);
	int (*save)(struct recipe_host *h, void *buf, size_t n, struct kerr *err);
	int (*load)(struct recipe_host *h, const void *buf, size_t n, struct kerr *err);
	/* The recipe's algorithm table as it sent it: at most cap-1 bytes into
	 * buf, NUL-terminated, *len of them; NULL for a host that has none
	 * (recipe_host_gemm checks the text). */
	int (*gemm)(struct recipe_host *h, char *buf, size_t cap, size_t *len, struct kerr *err);
	void (*destroy)(struct recipe_host *h);
	/* Ends the recipe and starts it again with nothing in memory (a fresh
	 * process for the pipe host); create must follow. */
	int (*respawn)(struct recipe_host *h, struct kerr *err);
};

/* Called when a run on h (training, an evaluation, a sample) fails, with
 * its error, before the run destroys h: where a sandbox reads how the
 * child ended and rewrites the code (sandbox_on_fail, runbox_explain). */
typedef void (*recipe_host_fail_fn)(void *arg, struct recipe_host *h, struct kerr *err);

/* Fills h with the in-process implementation (recipe_inproc.c: calls kr_*
 * directly; only for programs that link the recipe, never karpa). */
void recipe_host_inproc(struct recipe_host *h);

/* Creates the recipe and checks its plan (recipe.bad_plan): positive shapes
 * within the limits above, a printable name and version, steps >= 1,
 * 0 <= ckpt_every <= steps. Codes from create pass through (recipe.create).
 * An env.gemm that is not "" must be a canonical table (gemmtab_parse)
 * within KR_GEMM_MAX: else recipe.bad_gemm, and nothing reaches the
 * recipe. */
int recipe_host_create(struct recipe_host *h, const struct kr_env *env, struct kr_plan *plan,
		       struct kerr *err);
/* state_bytes, checked against RECIPE_STATE_BYTES_MAX (recipe.bad_state_size). */
int recipe_host_state_bytes(struct recipe_host *h, size_t *n, struct kerr *err);
/* A fresh recipe resumed from state, in two halves: the respawn alone (a
 * fork and exec, done while the caller has no other thread), then the
 * create with env, the check that the plan is still want
 * (recipe.plan_changed) and the load of the n bytes of state, which the
 * harness overlaps with writing the checkpoint's file. The harness
 * restarts at every checkpoint, so a run is a chain of segments each a
 * function of its starting checkpoint alone, exactly what spot replay
 * re-runs (docs/judging-checks.md, "Binding"). recipe.restart when the
 * host cannot respawn its recipe. */
int recipe_host_restart_spawn(struct recipe_host *h, struct kerr *err);
int recipe_host_restart_load(struct recipe_host *h, const struct kr_env *env, const struct kr_plan *want,
			     const void *state, size_t n, struct kerr *err);
/* One training step with its trace: at most cap records in recs, *n of
 * them filled. recipe.trace_overflow when the recipe named more than cap
 * tensors, recipe.bad_trace when a record's name breaks recipe_trace_check
 * (the names crossed the boundary). */
int recipe_host_train_traced(struct recipe_host *h, int64_t step, const uint16_t *tokens, float *loss, float *lr,
			     struct recipe_trace_rec *recs, uint32_t cap, uint32_t *n, struct kerr *err);
/* The recipe's matrix-product algorithms (kr_gemm_record) as canonical
 * text, NUL-terminated in text (KR_GEMM_MAX bytes); "" when it reports
 * none or the host cannot ask. recipe.bad_gemm when what it sent is not a
 * canonical table (a NUL inside, a last line cut, a malformed row); text
 * is written only on success. */
int recipe_host_gemm(struct recipe_host *h, char text[KR_GEMM_MAX], struct kerr *err);
void recipe_host_destroy(struct recipe_host *h);

/* Copies a recipe's error text into a kerr: NUL-terminated at KR_ERR_MAX,
 * control bytes replaced, so untrusted text stays one printable line. */
void recipe_host_err(struct kerr *err, const char *code, const char *what, const char *kr_err);

#endif
