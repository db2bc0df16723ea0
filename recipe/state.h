/* state.h: the recipe's state blob (kr_state_save/load): a header naming
 * the recipe, its version and the model's shape, then the fp32 parameters
 * and AdamW moments. Owns the format, shared by the CPU recipe (recipe.c)
 * and the GPU recipe (cuda/recipe_cuda.c), so a state written by one loads
 * in the other: the same model, whichever engine trained it. */
#ifndef RECIPE_STATE_H
#define RECIPE_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Little-endian:
 *   magic     16 bytes  RECIPE_NAME, zero-padded
 *   version   16 bytes  RECIPE_VERSION, zero-padded
 *   format    u32       GPT_STATE_FORMAT
 *   shape     u32 x 5   V, C, L, NH, T
 *   nparams   u64
 *   step      i64       optimizer steps taken
 *   params, AdamW m, AdamW v: nparams float32 each */
#define GPT_STATE_FORMAT 1u
#define GPT_STATE_TAG_BYTES 16
#define GPT_STATE_HEADER_BYTES (2 * GPT_STATE_TAG_BYTES + 4 + 5 * 4 + 8 + 8)

size_t gpt_state_bytes(size_t nparams);
/* Writes the GPT_STATE_HEADER_BYTES header for this model at step. */
void gpt_state_header(const struct gpt_config *c, size_t nparams, int64_t step, uint8_t *h);
/* Checks a blob of n bytes against this model; on success writes its step.
 * Returns 0, or -1 with a one-line reason in err (KR_ERR_MAX bytes). */
int gpt_state_check(const struct gpt_config *c, size_t nparams, const void *buf, size_t n,
		    int64_t *step, char *err);

#endif
