/* recipe_cuda.c: the recipe API (src/sandbox/recipe_api.h) over the GPU
 * model of gg.c. The same recipe as recipe.c (same configs, init, schedule
 * and state blob), run on one CUDA device: the GPU scales in bf16 with fp32
 * master weights, every other scale in fp32, where it is the CPU engine's
 * model up to rounding (docs/gpu.md). Owns input checking at the boundary;
 * never opens a file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "config.h"
#include "gg.h"
#include "sandbox/recipe_api.h"
#include "state.h"

struct kr_recipe {
	struct gg *g;
	int told; /* the gemm record went to stderr */
};

static void seterr(char *err, const char *msg)
{
	if (err)
		snprintf(err, KR_ERR_MAX, "%s", msg);
}

/* bf16 where the protocol says so (PROTOCOL 8: the gpu-* scales). */
static enum gk_prec scale_prec(const char *scale)
{
	return scale && !strncmp(scale, "gpu-", 4) ? GK_BF16 : GK_F32;
}

int kr_create(const struct kr_env *env, struct kr_recipe **out, struct kr_plan *plan, char *err)
{
	struct gpt_config cfg;
	struct kr_recipe *r;
	char gerr[GG_ERR_MAX];

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
	r->g = env->state_follows ? gg_alloc(&cfg, scale_prec(env->scale), gerr)
				  : gg_create(&cfg, scale_prec(env->scale), env->seed, gerr);
	if (!r->g) {
		snprintf(err, KR_ERR_MAX, "GPU recipe: %s", gerr);
		free(r);
		return -1;
	}
	/* a replay's table: every product it names runs its recorded
	 * algorithm, or create fails here naming the product (docs/gpu.md) */
	if (gg_pin_gemm(r->g, env->gemm) < 0) {
		snprintf(err, KR_ERR_MAX, "GPU recipe: %s", gg_error(r->g));
		kr_destroy(r);
		return -1;
	}
	gpt_plan(&cfg, gg_nparams(r->g), plan);
	*out = r;
	return 0;
}

void kr_destroy(struct kr_recipe *r)
{
	if (!r)
		return;
	gg_destroy(r->g);
	free(r);
}

int kr_train_step(struct kr_recipe *r, int64_t step, const uint16_t *tokens, float *loss,
		  float *lr, char *err)
{
	const struct gpt_config *c = gg_config(r->g);

	if (step < 0) {
		snprintf(err, KR_ERR_MAX, "step %lld is negative", (long long)step);
		return -1;
	}
	if (gpt_tokens_ok(tokens, (size_t)c->B * (c->T + 1), c->V, err) < 0)
		return -1;
	if (gg_train_step(r->g, step, tokens, loss, lr) < 0) {
		snprintf(err, KR_ERR_MAX, "GPU step %lld: %s", (long long)step, gg_error(r->g));
		return -1;
	}
	/* the products' algorithms, once, for the run's log (docs/gpu.md) */
	if (!r->told) {
		fprintf(stderr, "karpa-gpt cuda: matmul algorithms\n%s", gg_gemm_record(r->g));
		r->told = 1;
	}
	return 0;
}

int kr_gemm_record(const struct kr_recipe *r, char *buf, size_t cap, char *err)
{
	const char *t = gg_gemm_record(r->g);
	size_t n = strlen(t);

	if (cap == 0 || n >= cap) {
		snprintf(err, KR_ERR_MAX, "the gemm table of %zu bytes does not fit %zu", n, cap);
		return -1;
	}
	/* no product yet: nothing to report */
	if (!gg_gemm_algos(r->g))
		n = 0;
	memcpy(buf, t, n);
	buf[n] = '\0';
	return 0;
}

/* The GPU recipe's tensors live on the device in bf16 and its trace points
 * are not written yet (docs/dispute.md): a traced step says so instead of
 * handing back a trace that would name nothing. */
int kr_train_step_traced(struct kr_recipe *r, int64_t step, const uint16_t *tokens, float *loss,
			 float *lr, const struct kr_tracer *t, char *err)
{
	if (t) {
		snprintf(err, KR_ERR_MAX, "the GPU recipe cannot trace a step yet: replay the dispute on the CPU recipe");
		return -1;
	}
	return kr_train_step(r, step, tokens, loss, lr, err);
}

int kr_logits(struct kr_recipe *r, const uint16_t *tokens, int rows, int T, float *logits,
	      char *err)
{
	const struct gpt_config *c = gg_config(r->g);

	if (rows < 1 || T < 1 || T > c->T) {
		snprintf(err, KR_ERR_MAX, "logits shape rows %d x T %d: need rows >= 1, 1 <= T <= %d",
			 rows, T, c->T);
		return -1;
	}
	if (gpt_tokens_ok(tokens, (size_t)rows * T, c->V, err) < 0)
		return -1;
	if (gg_logits(r->g, tokens, rows, T, logits) < 0) {
		snprintf(err, KR_ERR_MAX, "GPU logits: %s", gg_error(r->g));
		return -1;
	}
	return 0;
}

size_t kr_state_bytes(const struct kr_recipe *r)
{
	return gpt_state_bytes(gg_nparams(r->g));
}

int kr_state_save(const struct kr_recipe *r, void *buf, size_t n, char *err)
{
	size_t np = gg_nparams(r->g), pb = np * sizeof(float);
	float *p = (float *)((uint8_t *)buf + GPT_STATE_HEADER_BYTES);

	if (n != kr_state_bytes(r)) {
		snprintf(err, KR_ERR_MAX, "state buffer is %zu bytes, the state is %zu", n,
			 kr_state_bytes(r));
		return -1;
	}
	gpt_state_header(gg_config(r->g), np, gg_step(r->g), buf);
	/* the blob is byte-addressed: parameters land at offset 88, which
	 * keeps floats 4-byte aligned */
	if (gg_get(r->g, p, NULL, (float *)((uint8_t *)p + pb), (float *)((uint8_t *)p + 2 * pb)) < 0) {
		snprintf(err, KR_ERR_MAX, "GPU state save: %s", gg_error(r->g));
		return -1;
	}
	return 0;
}

int kr_state_load(struct kr_recipe *r, const void *buf, size_t n, char *err)
{
	size_t np = gg_nparams(r->g), pb = np * sizeof(float);
	const uint8_t *p = (const uint8_t *)buf + GPT_STATE_HEADER_BYTES;
	int64_t step;

	if (gpt_state_check(gg_config(r->g), np, buf, n, &step, err) < 0)
		return -1;
	if (gg_set(r->g, (const float *)p, (const float *)(p + pb), (const float *)(p + 2 * pb)) < 0) {
		snprintf(err, KR_ERR_MAX, "GPU state load: %s", gg_error(r->g));
		return -1;
	}
	gg_set_step(r->g, step);
	return 0;
}
