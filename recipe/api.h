/* api.h: what the two engines' recipe APIs (recipe.c on the CPU,
 * cuda/recipe_cuda.c on a GPU) share at the boundary: the plan a config
 * declares, and the check every token id from the harness passes before use. */
#ifndef RECIPE_API_SHARED_H
#define RECIPE_API_SHARED_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "sandbox/recipe_api.h"

/* The plan this recipe declares for config c with nparams parameters. */
void gpt_plan(const struct gpt_config *c, size_t nparams, struct kr_plan *plan);
/* 0 when every id is below V; else -1 naming the first bad one in err. */
int gpt_tokens_ok(const uint16_t *tok, size_t n, int V, char *err);

#endif
