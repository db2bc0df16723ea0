/* adamw.c: the optimizer: AdamW with decoupled weight decay, the same update
 * as torch.optim.AdamW (decay first, then bias-corrected Adam). Owns nothing
 * but the update rule; every element is independent, so any split of the
 * elements over threads gives the same bits. */
#include <math.h>
#include <omp.h>

#include "gpt.h"

static void adamw_tensor(float *p, const float *gr, float *m, float *v, size_t n, float lr,
			 float b1, float b2, float eps, float wd, float bc1, float bc2_sqrt)
{
	float step_size = lr / bc1;

#pragma omp parallel for schedule(static)
	for (size_t i = 0; i < n; i++) {
		float g = gr[i];
		p[i] *= 1.0f - lr * wd;
		m[i] += (1.0f - b1) * (g - m[i]);
		v[i] = v[i] * b2 + (1.0f - b2) * g * g;
		p[i] -= step_size * m[i] / (sqrtf(v[i]) / bc2_sqrt + eps);
	}
}

void gpt_adamw(struct gpt *g, float lr, int64_t t)
{
	const struct gpt_config *c = &g->cfg;
	float bc1 = 1.0f - (float)pow(c->beta1, (double)t);
	float bc2_sqrt = (float)sqrt(1.0 - pow(c->beta2, (double)t));
	size_t off = 0;

	for (int i = 0; i < GPT_NUM_TENSORS; i++) {
		float wd = gpt_tensor_decays(i) ? c->weight_decay : 0.0f;
		adamw_tensor(g->params + off, g->grads + off, g->m + off, g->v + off, g->sizes[i], lr,
			     c->beta1, c->beta2, c->eps, wd, bc1, bc2_sqrt);
		off += g->sizes[i];
	}
}
