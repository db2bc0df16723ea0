/* api.c: the boundary both engines share (api.h). */
#include "api.h"

#include <stdio.h>
#include <string.h>

void gpt_plan(const struct gpt_config *c, size_t nparams, struct kr_plan *plan)
{
	memset(plan, 0, sizeof *plan);
	snprintf(plan->name, sizeof plan->name, "%s", RECIPE_NAME);
	snprintf(plan->version, sizeof plan->version, "%s", RECIPE_VERSION);
	plan->batch = c->B;
	plan->seq_len = c->T;
	plan->eval_batch = c->B;
	plan->steps = c->steps;
	plan->ckpt_every = c->ckpt_every;
	plan->params = (int64_t)nparams;
}

int gpt_tokens_ok(const uint16_t *tok, size_t n, int V, char *err)
{
	for (size_t i = 0; i < n; i++)
		if (tok[i] >= V) {
			snprintf(err, KR_ERR_MAX, "token %zu has id %u >= vocab %d", i, tok[i], V);
			return -1;
		}
	return 0;
}
