/* adamw.c: the optimizer: AdamW with decoupled weight decay, the same update
 * as torch.optim.AdamW (decay first, then bias-corrected Adam). Owns nothing
 * but the update rule; every element is independent, so any split of the
 * elements over threads gives the same bits. */
#include <math.h>
#include <omp.h>

#include "gpt.h"
#include "kmath.h"

/* One element's update; the AVX2 loop below does the same operations in the
 * same order on 8 elements (mul, add, sub, div and sqrt are all correctly
 * rounded in IEEE fp32, and contraction is off), so both give equal bits. */
static inline void adamw_one(float *p, float g, float *m, float *v, float decay, float b1c,
			     float b2, float b2c, float step_size, float bc2_sqrt, float eps)
{
	*p *= decay;
	*m += b1c * (g - *m);
	*v = *v * b2 + b2c * g * g;
	*p -= step_size * *m / (sqrtf(*v) / bc2_sqrt + eps);
}

/* Vectorised by hand: the compiler keeps sqrtf scalar (errno semantics),
 * which made this memory-bound loop cost ~4% of a cpu-scale step. The
 * portable build (KARPA_PORTABLE) runs adamw_one on every element. */
static void adamw_tensor(float *p, const float *gr, float *m, float *v, size_t n, float lr,
			 float b1, float b2, float eps, float wd, float bc1, float bc2_sqrt)
{
	float step_size = lr / bc1, decay = 1.0f - lr * wd, b1c = 1.0f - b1, b2c = 1.0f - b2;
#ifdef KM_AVX2
	size_t nv = n / 8 * 8;

#pragma omp parallel for schedule(static)
	for (size_t i = 0; i < nv; i += 8) {
		__m256 g = _mm256_loadu_ps(gr + i), mm = _mm256_loadu_ps(m + i);
		__m256 vv = _mm256_loadu_ps(v + i), pp = _mm256_loadu_ps(p + i), den;
		pp = _mm256_mul_ps(pp, _mm256_set1_ps(decay));
		mm = _mm256_add_ps(mm, _mm256_mul_ps(_mm256_set1_ps(b1c), _mm256_sub_ps(g, mm)));
		vv = _mm256_add_ps(_mm256_mul_ps(vv, _mm256_set1_ps(b2)),
				   _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(b2c), g), g));
		den = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vv), _mm256_set1_ps(bc2_sqrt)),
				    _mm256_set1_ps(eps));
		pp = _mm256_sub_ps(pp, _mm256_div_ps(_mm256_mul_ps(_mm256_set1_ps(step_size), mm), den));
		_mm256_storeu_ps(m + i, mm);
		_mm256_storeu_ps(v + i, vv);
		_mm256_storeu_ps(p + i, pp);
	}
	for (size_t i = nv; i < n; i++)
		adamw_one(p + i, gr[i], m + i, v + i, decay, b1c, b2, b2c, step_size, bc2_sqrt, eps);
#else
#pragma omp parallel for schedule(static)
	for (size_t i = 0; i < n; i++)
		adamw_one(p + i, gr[i], m + i, v + i, decay, b1c, b2, b2c, step_size, bc2_sqrt, eps);
#endif
}

void gpt_adamw(struct gpt *g, float lr, int64_t t)
{
	const struct gpt_config *c = &g->cfg;
	/* kpowi, not pow: pow's last bit belongs to the C library (kmath.h) */
	float bc1 = 1.0f - (float)kpowi(c->beta1, t);
	float bc2_sqrt = (float)sqrt(1.0 - kpowi(c->beta2, t));
	size_t off = 0;

	for (int i = 0; i < GPT_NUM_TENSORS; i++) {
		float wd = gpt_tensor_decays(i) ? c->weight_decay : 0.0f;
		adamw_tensor(g->params + off, g->grads + off, g->m + off, g->v + off, g->sizes[i], lr,
			     c->beta1, c->beta2, c->eps, wd, bc1, bc2_sqrt);
		off += g->sizes[i];
	}
}
