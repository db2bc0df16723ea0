/* knobs.h: the miner's documented space of recipe knobs (docs/miner.md,
 * "The knob space"). Owns what each knob is, its bounds and step, how its
 * current value is read from a recipe checkout, and how a point of the space
 * (a few knobs set to new values) becomes real edits of the recipe's files,
 * a `git diff` and a rationale that says what changed and why. Never trains
 * or judges: that is search.c and miner.c. Edits are anchored on the
 * recipe's own text (config.c's scale rows and hyperparameter lines, two
 * functions of gpt.c), so a king whose text moved makes a knob unavailable
 * (miner.knob_anchor) instead of producing a wrong patch. */
#ifndef KARPA_MINER_KNOBS_H
#define KARPA_MINER_KNOBS_H

#include <stddef.h>

#include "util/kerr.h"

enum knob_id {
	KNOB_LR,           /* peak learning rate (the scale's row) */
	KNOB_WARMUP,       /* warmup steps (the scale's row) */
	KNOB_LR_DECAY,     /* schedule shape: lr fraction reached at the last step (gpt.c gpt_lr; 1 = constant) */
	KNOB_STEPS,        /* training steps (the scale's row; more costs budget) */
	KNOB_BATCH,        /* sequences per step, steps traded to keep tokens equal */
	KNOB_CONTEXT,      /* context length, steps traded to keep tokens equal */
	KNOB_WIDTH,        /* d_model, a multiple of 8 * heads */
	KNOB_DEPTH,        /* layers */
	KNOB_WD,           /* weight decay (config.c) */
	KNOB_WD_EMBED,     /* whether the embeddings decay (gpt.c gpt_tensor_decays; 1 = yes) */
	KNOB_INIT_STD,     /* init scale (config.c) */
	KNOB_BETA1,
	KNOB_BETA2,
	KNOB_EPS,
	KNOB_COUNT
};

/* A knob moves by a factor (mul > 1), by a fixed amount (add > 0), or, for
 * betas, by a factor on 1 - beta (one_minus). */
struct knob {
	const char *name;
	const char *file; /* recipe file it edits */
	double lo, hi;    /* bounds, inclusive */
	int integer;
	double mul, add;
	int one_minus;
	const char *why_up, *why_down; /* the rationale's "why" for each direction */
};

const struct knob *knob_get(enum knob_id id);
/* KNOB_COUNT when name is no knob. */
enum knob_id knob_by_name(const char *name);

/* The king's value of every knob, read from a checkout at a scale. A knob
 * whose anchor is missing (the king rewrote that code) is unavailable. */
struct knob_values {
	double v[KNOB_COUNT];
	int avail[KNOB_COUNT];
	int heads; /* not a knob, but the width's grid (8 x heads) */
	int vocab; /* the scale's tokenizer size, for the cost estimate */
	double budget_units;
	double ref_gflops; /* the scale's reference rate: a budget unit is a second of it */
	/* the prover's tier (attest_kind_alpha): the scale's FLOPs cap counts a
	 * point's FLOPs 1 / alpha, as the judge does (PROTOCOL 4); knob_read
	 * sets the unverified tier's, the miner the tier its machine earns */
	double alpha;
};
/* A value outside its knob's bounds makes the knob unavailable; the
 * row's shape outside them is miner.knob_range (knobs.c, check_range). */
#define KNOB_HEADS_MAX 256
int knob_read(const char *checkout, const char *scale, struct knob_values *kv, struct kerr *err);
/* The same from the texts of config.c and gpt.c. */
int knob_read_texts(const char *cfg, const char *gpt, const char *scale, struct knob_values *kv, struct kerr *err);

#define KNOB_POINT_MAX KNOB_COUNT
/* A point: knobs set away from the king's values, in knob order, each knob
 * at most once. The empty point is the king itself. */
struct knob_point {
	int n;
	struct {
		enum knob_id k;
		double v;
	} set[KNOB_POINT_MAX];
};
/* The point with knob k at v (replacing or adding; removing it when v is the
 * king's value). */
void knob_point_with(struct knob_point *p, const struct knob_values *king, enum knob_id k, double v);
/* p's value of k, else the king's. */
double knob_point_value(const struct knob_point *p, const struct knob_values *king, enum knob_id k);
/* "lr=0.0045,warmup=10" (knob order; "king" for the empty point), and back. */
int knob_point_format(const struct knob_point *p, char *out, size_t cap);
int knob_point_parse(const char *s, struct knob_point *p, struct kerr *err);

/* The neighbour of value v of knob k one step up (dir > 0) or down, rounded
 * to what the recipe's text holds; v itself when the step leaves the bounds
 * or rounds back to v. */
double knob_step_in(enum knob_id k, double v, int dir, const struct knob_values *king);
/* The same without a king (width on a grid of 8). */
double knob_step(enum knob_id k, double v, int dir);

/* Checks p against the space: every value within its knob's bounds, the
 * knob available, the shape valid (width a multiple of 8 * heads, warmup at
 * most half the steps), and the cost: the model FLOPs 6 * params * tokens
 * within the scale's budget in FLOPs and at most KNOB_COST_MAX times the
 * king's own. miner.knob_bounds, miner.knob_anchor, miner.knob_budget. */
#define KNOB_COST_MAX 1.5
int knob_point_check(const struct knob_point *p, const struct knob_values *king, struct kerr *err);
/* The point's model FLOPs estimate (6 * params * B * T * steps). */
double knob_point_flops(const struct knob_point *p, const struct knob_values *king);
/* The unverified tier's alpha (attest.h), knob_values.alpha's default. */
#define KNOB_ALPHA_UNVERIFIED 0.5
/* The prover's alpha: king->alpha, or the unverified tier's when it is
 * outside (0, 1]. */
double knob_alpha(const struct knob_values *king);
/* The scale's budget in model FLOPs at that alpha: budget_units x
 * ref_gflops x 1e9 x alpha. */
double knob_flops_cap(const struct knob_values *king);

/* A variant of p for the short rung: steps (and warmup) divided by div, the
 * rest unchanged. Used by the search to screen proposals cheaply. */
void knob_point_shorten(struct knob_point *p, const struct knob_values *king, int div);

/* Edits the checkout's files to p (from the king's text: call knob_reset
 * first when the checkout may be dirty), then sets *diff to `git diff` of
 * the checkout (caller frees) and writes the rationale into rat (cap bytes):
 * one line per change, its old and new value, the file, and why. */
int knob_apply(const char *checkout, const char *scale, const struct knob_point *p,
	       const struct knob_values *king, char **diff, size_t *diff_len, char *rat, size_t rat_cap,
	       struct kerr *err);
/* knob_apply's edits on the texts of config.c and gpt.c (each replaced by
 * its edited copy, the caller's to free), without a checkout. */
int knob_edit(char **cfg, char **gpt, const char *scale, const struct knob_point *p, const struct knob_values *king,
	      struct kerr *err);
/* The rationale alone (knob_apply's). */
void knob_rationale(char *rat, size_t cap, const char *scale, const struct knob_point *p,
		    const struct knob_values *king);
/* Restores the checkout's tracked files to its HEAD (git checkout -- .). */
int knob_reset(const char *checkout, struct kerr *err);

#endif
