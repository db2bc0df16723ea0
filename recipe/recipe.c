/* recipe.c: the recipe API (src/sandbox/recipe_api.h) over the GPT of
 * gpt.c: plan, training step, logits, and the state blob. Owns input
 * checking at the boundary (every token id and shape from the harness is
 * checked before use) and the blob format; never opens a file. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "gpt.h"
#include "sandbox/recipe_api.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the state blob stores floats as little-endian memory images"
#endif

/* State blob, little-endian:
 *   magic     16 bytes  "karpa-gpt\0..." (RECIPE_NAME, zero-padded)
 *   version   16 bytes  "0.1.0\0..."     (RECIPE_VERSION, zero-padded)
 *   format    u32       STATE_FORMAT
 *   shape     u32 x 5   V, C, L, NH, T
 *   nparams   u64
 *   step      i64       optimizer steps taken
 *   params, AdamW m, AdamW v: nparams float32 each */
#define STATE_FORMAT 1u
#define STATE_TAG_BYTES 16
#define STATE_HEADER_BYTES (2 * STATE_TAG_BYTES + 4 + 5 * 4 + 8 + 8)

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
	if (!(r->g = gpt_create(&cfg, env->seed, env->threads, err))) {
		free(r);
		return -1;
	}
	memset(plan, 0, sizeof *plan);
	snprintf(plan->name, sizeof plan->name, "%s", RECIPE_NAME);
	snprintf(plan->version, sizeof plan->version, "%s", RECIPE_VERSION);
	plan->batch = cfg.B;
	plan->seq_len = cfg.T;
	plan->eval_batch = cfg.B;
	plan->steps = cfg.steps;
	plan->ckpt_every = cfg.ckpt_every;
	plan->params = (int64_t)r->g->nparams;
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

static int tokens_ok(const uint16_t *tok, size_t n, int V, char *err)
{
	for (size_t i = 0; i < n; i++)
		if (tok[i] >= V) {
			snprintf(err, KR_ERR_MAX, "token %zu has id %u >= vocab %d", i, tok[i], V);
			return -1;
		}
	return 0;
}

int kr_train_step(struct kr_recipe *r, int64_t step, const uint16_t *tokens, float *loss,
		  float *lr, char *err)
{
	struct gpt *g = r->g;
	const struct gpt_config *c = &g->cfg;
	int B = c->B, T = c->T;
	float rate, l;

	if (step < 0) {
		snprintf(err, KR_ERR_MAX, "step %lld is negative", (long long)step);
		return -1;
	}
	if (tokens_ok(tokens, (size_t)B * (T + 1), c->V, err) < 0)
		return -1;
	omp_set_num_threads(r->threads);
	for (int b = 0; b < B; b++)
		for (int t = 0; t < T; t++) {
			g->inputs[b * T + t] = tokens[(size_t)b * (T + 1) + t];
			g->targets[b * T + t] = tokens[(size_t)b * (T + 1) + t + 1];
		}
	gpt_forward(g, g->inputs, B, T, NULL);
	l = gpt_backward(g, g->targets);
	rate = gpt_lr(c, step);
	gpt_adamw(g, rate, step + 1);
	g->step = step + 1;
	*loss = l;
	*lr = rate;
	return 0;
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
	if (tokens_ok(tokens, (size_t)rows * T, c->V, err) < 0)
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
	return STATE_HEADER_BYTES + 3 * r->g->nparams * sizeof(float);
}

static void header(const struct gpt *g, uint8_t h[STATE_HEADER_BYTES])
{
	const struct gpt_config *c = &g->cfg;
	uint32_t u32[6] = { STATE_FORMAT, (uint32_t)c->V, (uint32_t)c->C, (uint32_t)c->L,
			    (uint32_t)c->NH, (uint32_t)c->T };
	uint64_t np = g->nparams;
	size_t o = 0;

	memset(h, 0, STATE_HEADER_BYTES);
	memcpy(h, RECIPE_NAME, strlen(RECIPE_NAME));
	memcpy(h + STATE_TAG_BYTES, RECIPE_VERSION, strlen(RECIPE_VERSION));
	o = 2 * STATE_TAG_BYTES;
	memcpy(h + o, u32, sizeof u32);
	o += sizeof u32;
	memcpy(h + o, &np, 8);
	/* the step goes in the last 8 bytes, written by the caller */
}

int kr_state_save(const struct kr_recipe *r, void *buf, size_t n, char *err)
{
	const struct gpt *g = r->g;
	size_t pb = g->nparams * sizeof(float);
	uint8_t *p = buf;
	int64_t step = g->step;

	if (n != kr_state_bytes(r)) {
		snprintf(err, KR_ERR_MAX, "state buffer is %zu bytes, the state is %zu", n,
			 kr_state_bytes(r));
		return -1;
	}
	header(g, p);
	memcpy(p + STATE_HEADER_BYTES - 8, &step, 8);
	p += STATE_HEADER_BYTES;
	memcpy(p, g->params, pb);
	memcpy(p + pb, g->m, pb);
	memcpy(p + 2 * pb, g->v, pb);
	return 0;
}

int kr_state_load(struct kr_recipe *r, const void *buf, size_t n, char *err)
{
	struct gpt *g = r->g;
	const uint8_t *p = buf;
	uint8_t want[STATE_HEADER_BYTES];
	size_t pb = g->nparams * sizeof(float);
	int64_t step;

	header(g, want);
	if (n < STATE_HEADER_BYTES || memcmp(p, want, STATE_TAG_BYTES)) {
		snprintf(err, KR_ERR_MAX, "state is not a %s state (bad magic)", RECIPE_NAME);
		return -1;
	}
	if (memcmp(p + STATE_TAG_BYTES, want + STATE_TAG_BYTES, STATE_TAG_BYTES + 4)) {
		snprintf(err, KR_ERR_MAX, "state is from %s %.16s format %u, this is %s format %u",
			 RECIPE_NAME, (const char *)p + STATE_TAG_BYTES,
			 (unsigned)(p[32] | p[33] << 8 | p[34] << 16 | (unsigned)p[35] << 24),
			 RECIPE_VERSION, STATE_FORMAT);
		return -1;
	}
	if (memcmp(p, want, STATE_HEADER_BYTES - 8) || n != kr_state_bytes(r)) {
		uint32_t s[5];
		memcpy(s, p + 36, sizeof s);
		snprintf(err, KR_ERR_MAX,
			 "state shape V %u C %u L %u NH %u T %u (%zu bytes) does not match the model's "
			 "V %d C %d L %d NH %d T %d (%zu bytes)",
			 s[0], s[1], s[2], s[3], s[4], n, g->cfg.V, g->cfg.C, g->cfg.L, g->cfg.NH,
			 g->cfg.T, kr_state_bytes(r));
		return -1;
	}
	memcpy(&step, p + STATE_HEADER_BYTES - 8, 8);
	if (step < 0) {
		snprintf(err, KR_ERR_MAX, "state step %lld is negative", (long long)step);
		return -1;
	}
	p += STATE_HEADER_BYTES;
	memcpy(g->params, p, pb);
	memcpy(g->m, p + pb, pb);
	memcpy(g->v, p + 2 * pb, pb);
	g->step = step;
	return 0;
}
