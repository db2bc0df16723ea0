/* gpt.c: model assembly: parameter layout, GPT-2 initialisation, forward
 * and backward through the layers of layers.c. Owns every buffer of a run,
 * allocated once in gpt_create; forward and backward never allocate. */
#include "gpt.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmath.h"
#include "sandbox/recipe_api.h"

/* 64-byte alignment: the packed gemm loads with aligned AVX loads (32) and
 * whole cache lines keep threads from sharing one. */
#define GPT_ALIGN 64
/* Refuse a config whose buffers would need more than this (16 GiB). */
#define GPT_FLOATS_MAX ((size_t)4 << 30)

/* ------------------------------------------------------------------ rng */

/* splitmix64 (Steele, Lea, Flood 2014): a 64-bit counter through a fixed
 * mixing function; simple, fast and the same on every platform. */
uint64_t gpt_rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A stream's starting state: FNV-1a of the purpose, mixed with the seed and
 * the index through splitmix64, so streams for different purposes or layers
 * never share a counter. */
uint64_t gpt_rng_key(uint64_t seed, const char *purpose, uint64_t index)
{
	uint64_t h = 0xcbf29ce484222325ull, s;

	for (const char *p = purpose; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
	s = seed;
	s = gpt_rng_next(&s) ^ h;
	s = gpt_rng_next(&s) ^ index;
	return gpt_rng_next(&s);
}

/* N(0, std) by Box-Muller on two 24-bit uniforms in (0, 1], in double,
 * with kmath's log and cos so the initial weights are the same bits on
 * every C library. */
static void fill_normal(float *x, size_t n, float std, uint64_t key)
{
	uint64_t st = key;

	for (size_t i = 0; i < n; i++) {
		double u1 = (double)((gpt_rng_next(&st) >> 40) + 1) / 16777216.0;
		double u2 = (double)((gpt_rng_next(&st) >> 40) + 1) / 16777216.0;
		x[i] = (float)(std * sqrt(-2.0 * klog(u1)) * kcos2pi(u2));
	}
}

static void fill(float *x, size_t n, float val)
{
	for (size_t i = 0; i < n; i++)
		x[i] = val;
}

/* -------------------------------------------------------------- layout */

int gpt_tensor_decays(int i)
{
	/* wte, wpe, qkvw, attprojw, fcw, fcprojw */
	return i == 0 || i == 1 || i == 4 || i == 6 || i == 10 || i == 12;
}

void gpt_tensor_sizes(const struct gpt_config *c, size_t s[GPT_NUM_TENSORS])
{
	size_t V = c->V, C = c->C, L = c->L, T = c->T;

	s[0] = V * C;         s[1] = T * C;
	s[2] = L * C;         s[3] = L * C;
	s[4] = L * 3 * C * C; s[5] = L * 3 * C;
	s[6] = L * C * C;     s[7] = L * C;
	s[8] = L * C;         s[9] = L * C;
	s[10] = L * 4 * C * C; s[11] = L * 4 * C;
	s[12] = L * C * 4 * C; s[13] = L * C;
	s[14] = C;            s[15] = C;
}

static void point_tensors(float *base, const size_t s[GPT_NUM_TENSORS], struct gpt_tensors *t)
{
	float **ptrs[GPT_NUM_TENSORS] = { &t->wte, &t->wpe, &t->ln1w, &t->ln1b, &t->qkvw, &t->qkvb,
					  &t->attprojw, &t->attprojb, &t->ln2w, &t->ln2b, &t->fcw,
					  &t->fcb, &t->fcprojw, &t->fcprojb, &t->lnfw, &t->lnfb };

	for (int i = 0; i < GPT_NUM_TENSORS; i++) {
		*ptrs[i] = base;
		base += s[i];
	}
}

/* GPT-2 init: every matrix and embedding N(0, std), the two projections
 * that write into the residual stream N(0, std / sqrt(2L)), biases 0,
 * LayerNorm gains 1. Each tensor (and layer) has its own stream. */
void gpt_init_params(const struct gpt_config *c, uint64_t seed, float *params)
{
	size_t sizes[GPT_NUM_TENSORS], n = 0;
	struct gpt_tensors t;
	size_t C = c->C;
	float std = c->init_std, rstd = std / sqrtf(2.0f * (float)c->L);

	gpt_tensor_sizes(c, sizes);
	for (int i = 0; i < GPT_NUM_TENSORS; i++)
		n += sizes[i];
	point_tensors(params, sizes, &t);
	memset(params, 0, n * sizeof *params);
	fill_normal(t.wte, sizes[0], std, gpt_rng_key(seed, "init.wte", 0));
	fill_normal(t.wpe, sizes[1], std, gpt_rng_key(seed, "init.wpe", 0));
	for (int l = 0; l < c->L; l++) {
		fill_normal(t.qkvw + l * 3 * C * C, 3 * C * C, std, gpt_rng_key(seed, "init.qkvw", l));
		fill_normal(t.attprojw + l * C * C, C * C, rstd, gpt_rng_key(seed, "init.attprojw", l));
		fill_normal(t.fcw + l * 4 * C * C, 4 * C * C, std, gpt_rng_key(seed, "init.fcw", l));
		fill_normal(t.fcprojw + l * 4 * C * C, 4 * C * C, rstd,
			    gpt_rng_key(seed, "init.fcprojw", l));
	}
	fill(t.ln1w, sizes[2], 1.0f);
	fill(t.ln2w, sizes[8], 1.0f);
	fill(t.lnfw, sizes[14], 1.0f);
}

/* ---------------------------------------------------------- allocation */

static float *falloc(size_t n, size_t *total)
{
	size_t bytes = (n * sizeof(float) + GPT_ALIGN - 1) / GPT_ALIGN * GPT_ALIGN;

	*total += n;
	return aligned_alloc(GPT_ALIGN, bytes ? bytes : GPT_ALIGN);
}

static size_t maxz(size_t a, size_t b)
{
	return a > b ? a : b;
}

static int alloc_acts(struct gpt *g, size_t *total)
{
	const struct gpt_config *c = &g->cfg;
	struct gpt_acts *a = &g->a;
	size_t N = (size_t)c->B * c->T, C = c->C, L = c->L, V = c->V;
	size_t att = (size_t)c->B * c->NH * c->T * c->T;

	a->encoded = falloc(N * C, total);
	a->ln1 = falloc(L * N * C, total);
	a->ln1_mean = falloc(L * N, total);
	a->ln1_rstd = falloc(L * N, total);
	a->qkv = falloc(L * N * 3 * C, total);
	a->atty = falloc(L * N * C, total);
	a->att = falloc(L * att, total);
	a->attproj = falloc(L * N * C, total);
	a->residual2 = falloc(L * N * C, total);
	a->ln2 = falloc(L * N * C, total);
	a->ln2_mean = falloc(L * N, total);
	a->ln2_rstd = falloc(L * N, total);
	a->fch = falloc(L * N * 4 * C, total);
	a->fch_gelu = falloc(L * N * 4 * C, total);
	a->fcproj = falloc(L * N * C, total);
	a->residual3 = falloc(L * N * C, total);
	a->lnf = falloc(N * C, total);
	a->lnf_mean = falloc(N, total);
	a->lnf_rstd = falloc(N, total);
	a->logits = falloc(N * V, total);
	a->losses = falloc(N, total);
	a->dres = falloc(N * C, total);
	a->dc = falloc(N * C, total);
	a->dqkv = falloc(N * 3 * C, total);
	a->d4c = falloc(N * 4 * C, total);
	float *all[] = { a->encoded, a->ln1, a->ln1_mean, a->ln1_rstd, a->qkv, a->atty, a->att,
			 a->attproj, a->residual2, a->ln2, a->ln2_mean, a->ln2_rstd, a->fch,
			 a->fch_gelu, a->fcproj, a->residual3, a->lnf, a->lnf_mean, a->lnf_rstd,
			 a->logits, a->losses, a->dres, a->dc, a->dqkv, a->d4c };
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		if (!all[i])
			return -1;
	return 0;
}

/* Packing space for the largest gemm of forward and backward (layers.c:
 * forward out = x W^T, backward dx = dy W and dW = dy^T x), with W up to
 * [max(V,4C), 4C] and x up to [N, max(V,4C)]. */
static int alloc_scratch(struct gpt *g, size_t *total)
{
	const struct gpt_config *c = &g->cfg;
	int N = c->B * c->T, W = c->V > 4 * c->C ? c->V : 4 * c->C, hs = c->C / c->NH;
	size_t pa = maxz(kn_pack_a_floats(N, W), kn_pack_a_floats(W, N));
	size_t pb = maxz(kn_pack_b_floats(W, 4 * c->C), kn_pack_b_floats(4 * c->C, N));
	size_t apack = ly_att_pack_floats(c->T, hs);

	g->ks.pa = falloc(pa, total);
	g->ks.pb = falloc(pb, total);
	g->ks.pa_floats = pa;
	g->ks.pb_floats = pb;
	g->partial = falloc(ly_partial_floats(N, 4 * c->C), total);
	g->inputs = calloc((size_t)N, sizeof *g->inputs);
	g->targets = calloc((size_t)N, sizeof *g->targets);
	g->as = calloc((size_t)g->threads, sizeof *g->as);
	if (!g->ks.pa || !g->ks.pb || !g->partial || !g->inputs || !g->targets || !g->as)
		return -1;
	for (int t = 0; t < g->threads; t++) {
		g->as[t].ks.pa = falloc(apack, total);
		g->as[t].ks.pb = falloc(apack, total);
		g->as[t].ks.pa_floats = g->as[t].ks.pb_floats = apack;
		g->as[t].dp = falloc((size_t)c->T * c->T, total);
		if (!g->as[t].ks.pa || !g->as[t].ks.pb || !g->as[t].dp)
			return -1;
	}
	return 0;
}

void gpt_destroy(struct gpt *g)
{
	if (!g)
		return;
	struct gpt_acts *a = &g->a;
	float *all[] = { a->encoded, a->ln1, a->ln1_mean, a->ln1_rstd, a->qkv, a->atty, a->att,
			 a->attproj, a->residual2, a->ln2, a->ln2_mean, a->ln2_rstd, a->fch,
			 a->fch_gelu, a->fcproj, a->residual3, a->lnf, a->lnf_mean, a->lnf_rstd,
			 a->logits, a->losses, a->dres, a->dc, a->dqkv, a->d4c };
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		free(all[i]);
	if (g->as)
		for (int t = 0; t < g->threads; t++) {
			free(g->as[t].ks.pa);
			free(g->as[t].ks.pb);
			free(g->as[t].dp);
		}
	free(g->as);
	free(g->ks.pa);
	free(g->ks.pb);
	free(g->partial);
	free(g->inputs);
	free(g->targets);
	free(g->params);
	free(g->grads);
	free(g->m);
	free(g->v);
	free(g);
}

static int config_ok(const struct gpt_config *c, int threads, char *err)
{
	if (c->V < 2 || c->C < 1 || c->L < 1 || c->NH < 1 || c->C % c->NH || c->T < 1 || c->B < 1 ||
	    c->C > 65536 || c->T > 65536 || c->B > 65536 || c->L > 1024) {
		snprintf(err, KR_ERR_MAX, "config V %d C %d L %d NH %d T %d B %d is not a valid shape",
			 c->V, c->C, c->L, c->NH, c->T, c->B);
		return -1;
	}
	if (threads < 1 || threads > 1024) {
		snprintf(err, KR_ERR_MAX, "threads %d outside 1..1024", threads);
		return -1;
	}
	/* the largest single buffer: logits, attention, or the 4C activations */
	double n = (double)c->B * c->T;
	if (n * c->V > (double)GPT_FLOATS_MAX || n * c->NH * c->T * c->L > (double)GPT_FLOATS_MAX ||
	    n * 4 * c->C * c->L > (double)GPT_FLOATS_MAX) {
		snprintf(err, KR_ERR_MAX, "config needs buffers over %zu floats", GPT_FLOATS_MAX);
		return -1;
	}
	return 0;
}

struct gpt *gpt_alloc(const struct gpt_config *cfg, int threads, char *err)
{
	struct gpt *g;
	size_t total = 0, np = 0;

	if (config_ok(cfg, threads, err) < 0)
		return NULL;
	if (!(g = calloc(1, sizeof *g))) {
		snprintf(err, KR_ERR_MAX, "out of memory for the model");
		return NULL;
	}
	g->cfg = *cfg;
	g->threads = threads;
	gpt_tensor_sizes(cfg, g->sizes);
	for (int i = 0; i < GPT_NUM_TENSORS; i++)
		np += g->sizes[i];
	g->nparams = np;
	g->params = falloc(np, &total);
	g->grads = falloc(np, &total);
	g->m = falloc(np, &total);
	g->v = falloc(np, &total);
	if (!g->params || !g->grads || !g->m || !g->v || alloc_acts(g, &total) < 0 ||
	    alloc_scratch(g, &total) < 0) {
		snprintf(err, KR_ERR_MAX, "out of memory for %zu floats of model buffers", total);
		gpt_destroy(g);
		return NULL;
	}
	point_tensors(g->params, g->sizes, &g->p);
	point_tensors(g->grads, g->sizes, &g->g);
	memset(g->grads, 0, np * sizeof(float));
	memset(g->m, 0, np * sizeof(float));
	memset(g->v, 0, np * sizeof(float));
	memset(g->params, 0, np * sizeof(float));
	return g;
}

struct gpt *gpt_create(const struct gpt_config *cfg, uint64_t seed, int threads, char *err)
{
	struct gpt *g = gpt_alloc(cfg, threads, err);

	if (g)
		gpt_init_params(cfg, seed, g->params);
	return g;
}

/* ------------------------------------------------------ forward/backward */

/* Layer l's slices of the parameters (or gradients). */
struct layer_w {
	float *ln1w, *ln1b, *qkvw, *qkvb, *attprojw, *attprojb;
	float *ln2w, *ln2b, *fcw, *fcb, *fcprojw, *fcprojb;
};

static struct layer_w layer_slice(const struct gpt_tensors *t, int l, size_t C)
{
	struct layer_w w = {
		t->ln1w + l * C, t->ln1b + l * C, t->qkvw + l * 3 * C * C, t->qkvb + l * 3 * C,
		t->attprojw + l * C * C, t->attprojb + l * C, t->ln2w + l * C, t->ln2b + l * C,
		t->fcw + l * 4 * C * C, t->fcb + l * 4 * C, t->fcprojw + l * 4 * C * C,
		t->fcprojb + l * C,
	};
	return w;
}

void gpt_forward(struct gpt *g, const int *inputs, int B, int T, float *out)
{
	const struct gpt_config *c = &g->cfg;
	struct gpt_acts *a = &g->a;
	size_t Nmax = (size_t)c->B * c->T, C = c->C, attmax = Nmax * c->NH * c->T;
	int N = B * T;

	encoder_forward(a->encoded, inputs, g->p.wte, g->p.wpe, B, T, c->C);
	for (int l = 0; l < c->L; l++) {
		struct layer_w w = layer_slice(&g->p, l, C);
		float *res = l == 0 ? a->encoded : a->residual3 + (l - 1) * Nmax * C;
		float *ln1 = a->ln1 + l * Nmax * C, *qkv = a->qkv + l * Nmax * 3 * C;
		float *atty = a->atty + l * Nmax * C, *att = a->att + l * attmax;
		float *attproj = a->attproj + l * Nmax * C, *res2 = a->residual2 + l * Nmax * C;
		float *ln2 = a->ln2 + l * Nmax * C, *fch = a->fch + l * Nmax * 4 * C;
		float *fchg = a->fch_gelu + l * Nmax * 4 * C, *fcproj = a->fcproj + l * Nmax * C;
		float *res3 = a->residual3 + l * Nmax * C;

		layernorm_forward(ln1, a->ln1_mean + l * Nmax, a->ln1_rstd + l * Nmax, res, w.ln1w,
				  w.ln1b, N, c->C);
		matmul_forward(qkv, ln1, w.qkvw, w.qkvb, N, c->C, 3 * c->C, &g->ks);
		attention_forward(atty, att, qkv, B, T, c->C, c->NH, g->as);
		matmul_forward(attproj, atty, w.attprojw, w.attprojb, N, c->C, c->C, &g->ks);
		residual_forward(res2, res, attproj, (size_t)N * C);
		layernorm_forward(ln2, a->ln2_mean + l * Nmax, a->ln2_rstd + l * Nmax, res2, w.ln2w,
				  w.ln2b, N, c->C);
		matmul_forward(fch, ln2, w.fcw, w.fcb, N, c->C, 4 * c->C, &g->ks);
		gelu_forward(fchg, fch, (size_t)N * 4 * C);
		matmul_forward(fcproj, fchg, w.fcprojw, w.fcprojb, N, 4 * c->C, c->C, &g->ks);
		residual_forward(res3, res2, fcproj, (size_t)N * C);
	}
	layernorm_forward(a->lnf, a->lnf_mean, a->lnf_rstd, a->residual3 + (c->L - 1) * Nmax * C,
			  g->p.lnfw, g->p.lnfb, N, c->C);
	matmul_forward(out ? out : a->logits, a->lnf, g->p.wte, NULL, N, c->C, c->V, &g->ks);
}

float gpt_backward(struct gpt *g, const int *targets)
{
	const struct gpt_config *c = &g->cfg;
	struct gpt_acts *a = &g->a;
	size_t Nmax = (size_t)c->B * c->T, C = c->C, attmax = Nmax * c->NH * c->T;
	int N = c->B * c->T;
	float loss = crossentropy_forward_backward(a->logits, a->losses, targets, N, c->V);

	/* lm head (tied): dlnf = dlogits wte, dwte = dlogits^T lnf (the encoder adds later) */
	matmul_backward(a->dc, g->g.wte, NULL, a->logits, a->lnf, g->p.wte, N, c->C, c->V, &g->ks,
			g->partial);
	memset(a->dres, 0, (size_t)N * C * sizeof *a->dres);
	layernorm_backward(a->dres, g->g.lnfw, g->g.lnfb, a->dc, a->residual3 + (c->L - 1) * Nmax * C,
			   g->p.lnfw, a->lnf_mean, a->lnf_rstd, N, c->C, g->partial);
	for (int l = c->L - 1; l >= 0; l--) {
		struct layer_w w = layer_slice(&g->p, l, C), dw = layer_slice(&g->g, l, C);
		float *res = l == 0 ? a->encoded : a->residual3 + (l - 1) * Nmax * C;
		float *ln1 = a->ln1 + l * Nmax * C, *qkv = a->qkv + l * Nmax * 3 * C;
		float *atty = a->atty + l * Nmax * C, *att = a->att + l * attmax;
		float *res2 = a->residual2 + l * Nmax * C, *ln2 = a->ln2 + l * Nmax * C;
		float *fch = a->fch + l * Nmax * 4 * C, *fchg = a->fch_gelu + l * Nmax * 4 * C;

		/* dres holds d(residual3): the MLP branch, then LN2 adds into it */
		matmul_backward(a->d4c, dw.fcprojw, dw.fcprojb, a->dres, fchg, w.fcprojw, N,
				4 * c->C, c->C, &g->ks, g->partial);
		gelu_backward(a->d4c, fch, a->d4c, (size_t)N * 4 * C);
		matmul_backward(a->dc, dw.fcw, dw.fcb, a->d4c, ln2, w.fcw, N, c->C, 4 * c->C, &g->ks,
				g->partial);
		layernorm_backward(a->dres, dw.ln2w, dw.ln2b, a->dc, res2, w.ln2w,
				   a->ln2_mean + l * Nmax, a->ln2_rstd + l * Nmax, N, c->C, g->partial);
		/* dres holds d(residual2): the attention branch, then LN1 adds */
		matmul_backward(a->dc, dw.attprojw, dw.attprojb, a->dres, atty, w.attprojw, N, c->C,
				c->C, &g->ks, g->partial);
		attention_backward(a->dqkv, a->dc, qkv, att, c->B, c->T, c->C, c->NH, g->as);
		matmul_backward(a->dc, dw.qkvw, dw.qkvb, a->dqkv, ln1, w.qkvw, N, c->C, 3 * c->C,
				&g->ks, g->partial);
		layernorm_backward(a->dres, dw.ln1w, dw.ln1b, a->dc, res, w.ln1w,
				   a->ln1_mean + l * Nmax, a->ln1_rstd + l * Nmax, N, c->C, g->partial);
	}
	encoder_backward(g->g.wte, g->g.wpe, a->dres, g->inputs, c->B, c->T, c->C, c->V);
	return loss;
}

float gpt_lr(const struct gpt_config *c, int64_t step)
{
	if (step < c->warmup_steps)
		return c->lr * (float)(step + 1) / (float)c->warmup_steps;
	return c->lr;
}
