/* scale.h: what each scale fixes (PROTOCOL 8): the data it prepares and the
 * compute budget a proof at that scale may spend. "The protocol is identical
 * at every scale; only config and budget differ": this table is that config.
 * The model's own shapes at each scale belong to the recipe, not here. */
#ifndef KARPA_SCALE_H
#define KARPA_SCALE_H

#include <stddef.h>
#include <stdint.h>

#include "util/kerr.h"

/* Where a scale's tokenizer comes from. */
enum scale_tokenizer {
	SCALE_TOK_TRAINED = 0, /* byte-level BPE learned from the train split */
	SCALE_TOK_GPT2 = 1,    /* GPT-2's, from the cache (llm.c-compatible data) */
};

struct scale {
	const char *name;
	int vocab;              /* tokenizer size the data folder is prepared with */
	enum scale_tokenizer tokenizer;
	size_t brown_docs_max;  /* 0: the whole default corpus */
	size_t shard_tokens;    /* tokens per shard file */
	double budget_units;    /* calibrated seconds a proof's training may take */
	uint64_t eval_targets;  /* targets val_bpb scores, from the start of a split; 0: all */
};

/* NULL with dataset.bad_scale-style message for an unknown name. */
const struct scale *scale_find(const char *name, struct kerr *err);
/* The scale's evaluation length (0: the whole split; also 0 for an unknown
 * scale, whose run fails elsewhere with its own code). */
uint64_t scale_eval_targets(const char *name);
/* Whether a scale trains on one GPU (the gpu-* scales, PROTOCOL 8): its
 * proofs are made with the recipe's CUDA part (--device cuda) and replayed
 * on a GPU of their model, and a budget unit is a reference GPU's second
 * (docs/calibration.md). */
int scale_on_gpu(const char *name);
/* "tiny, cpu, gpu-125m, gpu-254m": for usage and error messages. */
const char *scale_names(void);

#endif
