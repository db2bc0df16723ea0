/* config.h: the recipe's configurations, one per scale, and its
 * hyperparameters. Owns every number a miner is most likely to change;
 * never reads the environment or files. */
#ifndef RECIPE_CONFIG_H
#define RECIPE_CONFIG_H

#include <stdint.h>

#define RECIPE_NAME "karpa-gpt"
#define RECIPE_VERSION "0.1.0"

struct gpt_config {
	int V;  /* vocabulary (from the tokenizer) */
	int C;  /* d_model */
	int L;  /* layers */
	int NH; /* heads; C % NH == 0 */
	int T;  /* context length = training seq_len */
	int B;  /* sequences per step */
	int64_t steps, warmup_steps, ckpt_every;
	float lr;           /* peak learning rate after linear warmup, then constant */
	float beta1, beta2, eps;
	float weight_decay; /* on 2-D tensors only (embeddings and matrices) */
	float init_std;     /* N(0, init_std); residual projections / sqrt(2L) */
};

/* Fills c for a scale name and the tokenizer's vocabulary. Returns 0, or -1
 * with a reason in err (KR_ERR_MAX bytes) naming the scale. */
int gpt_config_for_scale(const char *scale, int vocab, struct gpt_config *c, char *err);

#endif
