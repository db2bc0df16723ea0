/* recipe.c: the recipe API (src/sandbox/recipe_api.h) over the GPT of
 * gpt.c: plan, training step, logits, and the state blob. Owns input
 * checking at the boundary (every token id and shape from the harness is
 * checked before use); the blob format is state.c's. Never opens a file. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "config.h"
#include "gpt.h"
#include "sandbox/recipe_api.h"
#include "state.h"
#include "trace.h"

struct kr_recipe {
	struct gpt *g;
	int threads;
};

static void seterr(char *err, const char *msg)
{
	if (err)
		snprintf(err, KR_ERR_MAX, "%s", msg);
}

int kr_create(const struct kr_env *env, struct kr_recipe **out, struct kr_plan *plan, char *err)
{
	struct gpt_config cfg;
	struct kr_recipe *r;

	*out = NULL;
	if (!env || !plan) {
		seterr(err, "kr_create: env and plan are required");
		return -1;
	}
	if (gpt_config_for_scale(env->scale, env->vocab_size, &cfg, err) < 0)
		return -1;
	if (!(r = calloc(1, sizeof *r))) {
		seterr(err, "out of memory");
		return -1;
	}
	r->threads = env->threads;
	/* A state loaded next overwrites the init: about a twentieth of a
	 * CPU-second at the cpu scale, in every child a judge starts. */
	r->g = env->state_follows ? gpt_alloc(&cfg, env->threads, err) : gpt_create(&cfg, env->seed, env->threads, err);
	if (!r->g) {
		free(r);
		return -1;
	}
	gpt_plan(&cfg, r->g->nparams, plan);
	*out = r;
	return 0;
}

void kr_destroy(struct kr_recipe *r)
{
	if (!r)
		return;
	gpt_destroy(r->g);
	free(r);
}

int kr_train_step_traced(struct kr_recipe *r, int64_t step, const uint16_t *tokens, float *loss,
			 float *lr, const struct kr_tracer *t, char *err)
{
	struct gpt *g = r->g;
	const struct gpt_config *c = &g->cfg;
	int B = c->B, T = c->T;
	float rate, l;

	if (step < 0) {
		snprintf(err, KR_ERR_MAX, "step %lld is negative", (long long)step);
		return -1;
	}
	if (gpt_tokens_ok(tokens, (size_t)B * (T + 1), c->V, err) < 0)
		return -1;
	omp_set_num_threads(r->threads);
	for (int b = 0; b < B; b++)
		for (int s = 0; s < T; s++) {
			g->inputs[b * T + s] = tokens[(size_t)b * (T + 1) + s];
			g->targets[b * T + s] = tokens[(size_t)b * (T + 1) + s + 1];
		}
	gpt_forward(g, g->inputs, B, T, NULL);
	if (t)
		gpt_trace_forward(g, t);
	l = gpt_backward(g, g->targets);
	if (t)
		gpt_trace_backward(g, t);
	rate = gpt_lr(c, step);
	gpt_adamw(g, rate, step + 1);
	g->step = step + 1;
	if (t)
		gpt_trace_update(g, rate, t);
	*loss = l;
	*lr = rate;
	return 0;
}

/* The untraced step is the traced one with no tracer, so a trace always
 * describes the step that training runs. */
int kr_train_step(struct kr_recipe *r, int64_t step, const uint16_t *tokens, float *loss,
		  float *lr, char *err)
{
	return kr_train_step_traced(r, step, tokens, loss, lr, NULL, err);
}

/* Rows go through the model cfg.B at a time (the buffers' size), each chunk
 * writing its logits straight into the caller's array. */
int kr_logits(struct kr_recipe *r, const uint16_t *tokens, int rows, int T, float *logits,
	      char *err)
{
	struct gpt *g = r->g;
	const struct gpt_config *c = &g->cfg;

	if (rows < 1 || T < 1 || T > c->T) {
		snprintf(err, KR_ERR_MAX, "logits shape rows %d x T %d: need rows >= 1, 1 <= T <= %d",
			 rows, T, c->T);
		return -1;
	}
	if (gpt_tokens_ok(tokens, (size_t)rows * T, c->V, err) < 0)
		return -1;
	omp_set_num_threads(r->threads);
	for (int r0 = 0; r0 < rows; r0 += c->B) {
		int n = rows - r0 < c->B ? rows - r0 : c->B;
		for (size_t i = 0; i < (size_t)n * T; i++)
			g->inputs[i] = tokens[(size_t)r0 * T + i];
		gpt_forward(g, g->inputs, n, T, logits + (size_t)r0 * T * c->V);
	}
	return 0;
}

size_t kr_state_bytes(const struct kr_recipe *r)
{
	return gpt_state_bytes(r->g->nparams);
}

int kr_state_save(const struct kr_recipe *r, void *buf, size_t n, char *err)
{
	const struct gpt *g = r->g;
	size_t pb = g->nparams * sizeof(float);
	uint8_t *p = buf;

	if (n != kr_state_bytes(r)) {
		snprintf(err, KR_ERR_MAX, "state buffer is %zu bytes, the state is %zu", n,
			 kr_state_bytes(r));
		return -1;
	}
	gpt_state_header(&g->cfg, g->nparams, g->step, p);
	p += GPT_STATE_HEADER_BYTES;
	memcpy(p, g->params, pb);
	memcpy(p + pb, g->m, pb);
	memcpy(p + 2 * pb, g->v, pb);
	return 0;
}

int kr_state_load(struct kr_recipe *r, const void *buf, size_t n, char *err)
{
	struct gpt *g = r->g;
	const uint8_t *p = buf;
	size_t pb = g->nparams * sizeof(float);
	int64_t step;

	if (gpt_state_check(&g->cfg, g->nparams, buf, n, &step, err) < 0)
		return -1;
	p += GPT_STATE_HEADER_BYTES;
	memcpy(g->params, p, pb);
	memcpy(g->m, p + pb, pb);
	memcpy(g->v, p + 2 * pb, pb);
	g->step = step;
	return 0;
}
