/* bigram.c: the honest recipe of the sandbox tests. A count-based bigram
 * model whose logits go through OpenBLAS (one-hot rows times the log-count
 * table) and an OpenMP loop, so that both runtimes start their threads under
 * the sandbox. Each hostile recipe is this file plus one attack file that
 * overrides a weak hook below. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/recipe_api.h"

struct kr_recipe {
	int V;
	float *counts; /* V x V, row = previous token */
	float *logp;   /* V x V log-probabilities, rebuilt after each step */
	float *onehot; /* scratch for kr_logits */
	size_t onehot_rows;
};

/* Attack hooks: no-ops here, replaced by a hostile recipe's attack.c. */
__attribute__((weak)) int attack_create(const struct kr_env *env, char *name) { (void)env; (void)name; return 0; }
__attribute__((weak)) void attack_train(int64_t step) { (void)step; }
__attribute__((weak)) void attack_logits(void) {}

static void rebuild(struct kr_recipe *r)
{
	int V = r->V;

#pragma omp parallel for schedule(static)
	for (int a = 0; a < V; a++) {
		float total = 0;
		for (int b = 0; b < V; b++)
			total += r->counts[(size_t)a * V + b];
		for (int b = 0; b < V; b++)
			r->logp[(size_t)a * V + b] = logf(r->counts[(size_t)a * V + b] / total);
	}
}

int kr_create(const struct kr_env *env, struct kr_recipe **out, struct kr_plan *plan, char *err)
{
	struct kr_recipe *r = calloc(1, sizeof *r);
	int V = env->vocab_size;

	snprintf(plan->name, KR_NAME_MAX, "bigram");
	if (attack_create(env, plan->name) < 0) {
		snprintf(err, KR_ERR_MAX, "attack reported failure");
		free(r);
		return -1;
	}
	if (!r || V < 2 || V > 4096 || !(r->counts = malloc((size_t)V * V * sizeof(float))) ||
	    !(r->logp = malloc((size_t)V * V * sizeof(float)))) {
		snprintf(err, KR_ERR_MAX, "bigram: bad vocab or out of memory");
		if (r) {
			free(r->counts);
			free(r);
		}
		return -1;
	}
	r->V = V;
	for (size_t i = 0; i < (size_t)V * V; i++)
		r->counts[i] = 1.0f; /* add-one smoothing */
	rebuild(r);
	snprintf(plan->version, KR_NAME_MAX, "1");
	plan->batch = 2;
	plan->seq_len = 16;
	plan->eval_batch = 2;
	plan->steps = 4;
	plan->ckpt_every = 0;
	plan->params = (int64_t)V * V;
	*out = r;
	return 0;
}

void kr_destroy(struct kr_recipe *r)
{
	free(r->counts);
	free(r->logp);
	free(r->onehot);
	free(r);
}

int kr_train_step(struct kr_recipe *r, int64_t step, const uint16_t *tokens, float *loss, float *lr, char *err)
{
	const int B = 2, T = 16, V = r->V;
	double nll = 0;

	attack_train(step);
	for (int b = 0; b < B; b++)
		for (int t = 0; t < T; t++) {
			int a = tokens[b * (T + 1) + t], c = tokens[b * (T + 1) + t + 1];
			if (a >= V || c >= V) {
				snprintf(err, KR_ERR_MAX, "bigram: token out of range");
				return -1;
			}
			nll -= r->logp[(size_t)a * V + c];
			r->counts[(size_t)a * V + c] += 1.0f;
		}
	rebuild(r);
	*loss = (float)(nll / (B * T));
	*lr = 1.0f;
	return 0;
}

int kr_logits(struct kr_recipe *r, const uint16_t *tokens, int rows, int T, float *logits, char *err)
{
	size_t n = (size_t)rows * T, V = (size_t)r->V;

	attack_logits();
	if (n > r->onehot_rows) {
		free(r->onehot);
		if (!(r->onehot = malloc(n * V * sizeof(float)))) {
			snprintf(err, KR_ERR_MAX, "bigram: out of memory");
			return -1;
		}
		r->onehot_rows = n;
	}
	memset(r->onehot, 0, n * V * sizeof(float));
	for (size_t i = 0; i < n; i++) {
		if (tokens[i] >= V) {
			snprintf(err, KR_ERR_MAX, "bigram: token out of range");
			return -1;
		}
		r->onehot[i * V + tokens[i]] = 1.0f;
	}
	/* logits (n x V) = onehot (n x V) . logp (V x V): a real GEMM, so
	 * OpenBLAS runs its threaded path at realistic sizes. */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)V, (int)V, 1.0f, r->onehot, (int)V,
		    r->logp, (int)V, 0.0f, logits, (int)V);
	return 0;
}

size_t kr_state_bytes(const struct kr_recipe *r)
{
	return (size_t)r->V * r->V * sizeof(float);
}

int kr_state_save(const struct kr_recipe *r, void *buf, size_t n, char *err)
{
	memcpy(buf, r->counts, n);
	return 0;
}

int kr_state_load(struct kr_recipe *r, const void *buf, size_t n, char *err)
{
	if (n != kr_state_bytes(r)) {
		snprintf(err, KR_ERR_MAX, "bigram: state of %zu bytes", n);
		return -1;
	}
	memcpy(r->counts, buf, n);
	rebuild(r);
	return 0;
}
