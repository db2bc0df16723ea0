/* trace.c: the recipe's side of a dispute trace. Names follow
 * recipe_api.h: "phase.where.op.tensor", where "where" is a layer (L0, L1,
 * ...) or "model", and "op" is the operation that wrote the tensor, so the
 * first differing name says which computation to look at. */
#include "trace.h"

#include <stdio.h>

/* What each parameter tensor (gpt_tensors order) belongs to. */
static const struct {
	int per_layer;
	const char *op, *tensor;
} param_names[GPT_NUM_TENSORS] = {
	{ 0, "embed", "wte" },	{ 0, "embed", "wpe" },	  { 1, "ln1", "w" },	  { 1, "ln1", "b" },
	{ 1, "qkv", "w" },	{ 1, "qkv", "b" },	  { 1, "attn_proj", "w" }, { 1, "attn_proj", "b" },
	{ 1, "ln2", "w" },	{ 1, "ln2", "b" },	  { 1, "mlp_fc", "w" },	  { 1, "mlp_fc", "b" },
	{ 1, "mlp_proj", "w" }, { 1, "mlp_proj", "b" }, { 0, "ln_f", "w" },	  { 0, "ln_f", "b" },
};

/* Tensor indices in the order gpt_backward finishes their gradients. */
static const int ln_f_grads[] = { 14, 15 };
static const int layer_grads[] = { 12, 13, 10, 11, 8, 9, 6, 7, 4, 5, 2, 3 };
static const int embed_grads[] = { 0, 1 };

static void emit(const struct kr_tracer *t, const char *phase, int layer, const char *op, const char *tensor,
		 const float *x, size_t n)
{
	char name[KR_TRACE_NAME_MAX];

	if (layer >= 0)
		snprintf(name, sizeof name, "%s.L%d.%s.%s", phase, layer, op, tensor);
	else
		snprintf(name, sizeof name, "%s.model.%s.%s", phase, op, tensor);
	t->tensor(t->arg, name, x, n);
}

/* Parameter-shaped block `base` (params, grads or a moment): tensor i,
 * layer l's slice when the tensor is per layer (l < 0: the whole tensor). */
static void emit_param(const struct gpt *g, const struct kr_tracer *t, const char *phase, const float *base,
		       int i, int l, const char *suffix)
{
	size_t off = 0, n = g->sizes[i];
	char tensor[24];

	for (int k = 0; k < i; k++)
		off += g->sizes[k];
	if (param_names[i].per_layer) {
		n /= (size_t)g->cfg.L;
		off += (size_t)l * n;
	}
	snprintf(tensor, sizeof tensor, "%s%s", param_names[i].tensor, suffix);
	emit(t, phase, param_names[i].per_layer ? l : -1, param_names[i].op, tensor, base + off, n);
}

void gpt_trace_forward(const struct gpt *g, const struct kr_tracer *t)
{
	const struct gpt_config *c = &g->cfg;
	const struct gpt_acts *a = &g->a;
	size_t N = (size_t)c->B * c->T, C = (size_t)c->C, att = N * (size_t)c->NH * (size_t)c->T;

	emit(t, "fwd", -1, "embed", "out", a->encoded, N * C);
	for (int l = 0; l < c->L; l++) {
		size_t o = (size_t)l * N * C;
		emit(t, "fwd", l, "ln1", "out", a->ln1 + o, N * C);
		emit(t, "fwd", l, "qkv", "out", a->qkv + 3 * o, 3 * N * C);
		emit(t, "fwd", l, "attn", "probs", a->att + (size_t)l * att, att);
		emit(t, "fwd", l, "attn", "out", a->atty + o, N * C);
		emit(t, "fwd", l, "attn_proj", "out", a->attproj + o, N * C);
		emit(t, "fwd", l, "residual1", "out", a->residual2 + o, N * C);
		emit(t, "fwd", l, "ln2", "out", a->ln2 + o, N * C);
		emit(t, "fwd", l, "mlp_fc", "out", a->fch + 4 * o, 4 * N * C);
		emit(t, "fwd", l, "gelu", "out", a->fch_gelu + 4 * o, 4 * N * C);
		emit(t, "fwd", l, "mlp_proj", "out", a->fcproj + o, N * C);
		emit(t, "fwd", l, "residual2", "out", a->residual3 + o, N * C);
	}
	emit(t, "fwd", -1, "ln_f", "out", a->lnf, N * C);
	emit(t, "fwd", -1, "lm_head", "logits", a->logits, N * (size_t)c->V);
}

void gpt_trace_backward(const struct gpt *g, const struct kr_tracer *t)
{
	const struct gpt_config *c = &g->cfg;
	size_t N = (size_t)c->B * c->T;

	emit(t, "fwd", -1, "loss", "losses", g->a.losses, N);
	emit(t, "bwd", -1, "loss", "dlogits", g->a.logits, N * (size_t)c->V);
	for (size_t k = 0; k < sizeof ln_f_grads / sizeof *ln_f_grads; k++)
		emit_param(g, t, "bwd", g->grads, ln_f_grads[k], -1, "_grad");
	for (int l = c->L - 1; l >= 0; l--)
		for (size_t k = 0; k < sizeof layer_grads / sizeof *layer_grads; k++)
			emit_param(g, t, "bwd", g->grads, layer_grads[k], l, "_grad");
	for (size_t k = 0; k < sizeof embed_grads / sizeof *embed_grads; k++)
		emit_param(g, t, "bwd", g->grads, embed_grads[k], -1, "_grad");
}

void gpt_trace_update(const struct gpt *g, float lr, const struct kr_tracer *t)
{
	int L = g->cfg.L;

	emit(t, "opt", -1, "schedule", "lr", &lr, 1);
	for (int i = 0; i < GPT_NUM_TENSORS; i++)
		for (int l = 0; l < (param_names[i].per_layer ? L : 1); l++) {
			emit_param(g, t, "opt", g->params, i, l, "");
			emit_param(g, t, "opt", g->m, i, l, "_m");
			emit_param(g, t, "opt", g->v, i, l, "_v");
		}
}
