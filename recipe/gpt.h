/* gpt.h: the model: parameter layout, activations, init, forward, backward
 * and the optimizer step. Owns every training buffer, all allocated once in
 * gpt_create; nothing here allocates after that. */
#ifndef RECIPE_GPT_H
#define RECIPE_GPT_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "layers.h"

#define GPT_NUM_TENSORS 16

/* Parameters (and, with the same layout, gradients and AdamW moments) in one
 * contiguous block, in this order. */
struct gpt_tensors {
	float *wte;      /* [V,C] token embedding, also the lm head (tied) */
	float *wpe;      /* [T,C] */
	float *ln1w, *ln1b;         /* [L,C] */
	float *qkvw;     /* [L,3C,C] */
	float *qkvb;     /* [L,3C] */
	float *attprojw; /* [L,C,C] */
	float *attprojb; /* [L,C] */
	float *ln2w, *ln2b;         /* [L,C] */
	float *fcw;      /* [L,4C,C] */
	float *fcb;      /* [L,4C] */
	float *fcprojw;  /* [L,C,4C] */
	float *fcprojb;  /* [L,C] */
	float *lnfw, *lnfb;         /* [C] */
};

/* Forward activations kept for backward; per-layer slots are sized for the
 * config's B*T rows (N), and a call with fewer rows uses each slot's prefix. */
struct gpt_acts {
	float *encoded;                       /* [N,C] */
	float *ln1, *ln1_mean, *ln1_rstd;     /* [L,N,C], [L,N], [L,N] */
	float *qkv;                           /* [L,N,3C] */
	float *atty;                          /* [L,N,C] */
	float *att;                           /* [L,B,NH,T,T] */
	float *attproj, *residual2;           /* [L,N,C] */
	float *ln2, *ln2_mean, *ln2_rstd;     /* [L,N,C], [L,N], [L,N] */
	float *fch, *fch_gelu;                /* [L,N,4C] */
	float *fcproj, *residual3;            /* [L,N,C] */
	float *lnf, *lnf_mean, *lnf_rstd;     /* [N,C], [N], [N] */
	float *logits;                        /* [N,V], dlogits after the loss */
	float *losses;                        /* [N] */
	/* backward scratch */
	float *dres, *dc;                     /* [N,C] */
	float *dqkv;                          /* [N,3C] */
	float *d4c;                           /* [N,4C] */
};

struct gpt {
	struct gpt_config cfg;
	int threads;
	size_t nparams;
	size_t sizes[GPT_NUM_TENSORS];
	float *params, *grads, *m, *v;
	struct gpt_tensors p, g;
	struct gpt_acts a;
	int *inputs, *targets;      /* [N] */
	struct kn_scratch ks;       /* packing space for the parallel gemm */
	struct ly_att_scratch *as;  /* one per thread */
	float *partial;             /* row-reduction partial sums */
	int64_t step;               /* optimizer steps taken */
};

/* Allocates everything and initialises the weights from seed. Returns NULL
 * with a reason in err (KR_ERR_MAX bytes). */
struct gpt *gpt_create(const struct gpt_config *cfg, uint64_t seed, int threads, char *err);
/* gpt_create without the init: every buffer zero, for a model whose state
 * is loaded next (kr_env.state_follows). */
struct gpt *gpt_alloc(const struct gpt_config *cfg, int threads, char *err);
void gpt_destroy(struct gpt *g);

/* Element counts of the GPT_NUM_TENSORS tensors, in layout order. */
void gpt_tensor_sizes(const struct gpt_config *c, size_t s[GPT_NUM_TENSORS]);
/* GPT-2 initialisation of a whole parameter block (gpt_tensor_sizes' sum of
 * floats) from seed; the GPU recipe uses it too, so both start from the
 * same bits. */
void gpt_init_params(const struct gpt_config *c, uint64_t seed, float *params);

/* Which tensors get weight decay (the 2-D ones). */
int gpt_tensor_decays(int i);

/* Forward over B rows of T tokens (B <= cfg.B, T <= cfg.T) writing logits
 * [B*T,V] to out (NULL: the model's own buffer). */
void gpt_forward(struct gpt *g, const int *inputs, int B, int T, float *out);
/* Loss of the last training-shape forward (cfg.B x cfg.T) against targets,
 * and every parameter gradient (overwritten). Returns the mean loss. */
float gpt_backward(struct gpt *g, const int *targets);
/* Learning rate of the schedule at step (counted from 0). */
float gpt_lr(const struct gpt_config *c, int64_t step);
/* One AdamW update with lr at optimizer step t (1-based). */
void gpt_adamw(struct gpt *g, float lr, int64_t t);

/* Deterministic random streams: splitmix64 keyed by (seed, purpose, index). */
uint64_t gpt_rng_key(uint64_t seed, const char *purpose, uint64_t index);
uint64_t gpt_rng_next(uint64_t *state);

#endif
