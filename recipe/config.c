/* config.c: per-scale configurations of recipe v0.1.0. Owns the table;
 * never depends on the thread count (a config must give the same run on
 * any machine size). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "sandbox/recipe_api.h"

/* Bounds that keep every buffer size far from overflow and the state blob
 * within what the harness accepts. */
#define CFG_VOCAB_MAX 65536 /* tokens are uint16 */

struct scale_row {
	const char *name;
	int C, L, NH, T, B;
	int64_t steps, warmup, ckpt_every;
	float lr;
};

/* tiny: seconds under sanitizers. cpu: 0.94M parameters, about a minute on
 * two idle cores (docs/engine.md, "cpu scale": at this budget a narrow,
 * shallow model that takes more steps beats a wider one that takes fewer,
 * and the 4096 x C lm head is already half the work at C = 128). bench: the
 * fixed benchmark shape (bench/bench_engine.py mirrors it) and the GPU
 * parity shape (tests/gpu/). */
static const struct scale_row scales[] = {
	{ "tiny", 64, 2, 2, 64, 4, 30, 5, 10, 3e-3f },
	{ "cpu", 128, 2, 4, 128, 8, 420, 20, 52, 3e-3f },
	{ "bench", 256, 4, 4, 256, 8, 20, 5, 0, 1e-3f },
	/* GPU scales (PROTOCOL 8), run by the CUDA recipe (recipe/cuda/,
	 * docs/gpu.md): GPT-2 small, and Karpa-1 (254M parameters, the
	 * whitepaper's 262M tokens = 16000 steps of 16 x 1024). gpu-125m's
	 * 300 steps are 4.9M tokens, about four passes over Brown in GPT-2
	 * tokens: the scale a short proof runs at. */
	{ "gpu-125m", 768, 12, 12, 1024, 16, 300, 30, 38, 6e-4f },
	{ "gpu-254m", 1024, 16, 16, 1024, 16, 16000, 700, 2000, 3e-4f },
};

int gpt_config_for_scale(const char *scale, int vocab, struct gpt_config *c, char *err)
{
	const struct scale_row *row = NULL;

	for (size_t i = 0; scale && i < sizeof scales / sizeof scales[0]; i++)
		if (!strcmp(scale, scales[i].name))
			row = &scales[i];
	if (!row) {
		snprintf(err, KR_ERR_MAX, "%s %s has no scale '%.40s' (tiny, cpu, bench, gpu-125m, gpu-254m)", RECIPE_NAME,
			 RECIPE_VERSION, scale ? scale : "(null)");
		return -1;
	}
	if (vocab < 2 || vocab > CFG_VOCAB_MAX) {
		snprintf(err, KR_ERR_MAX, "vocab_size %d outside 2..%d", vocab, CFG_VOCAB_MAX);
		return -1;
	}
	memset(c, 0, sizeof *c);
	c->V = vocab;
	c->C = row->C;
	c->L = row->L;
	c->NH = row->NH;
	c->T = row->T;
	c->B = row->B;
	c->steps = row->steps;
	c->warmup_steps = row->warmup;
	c->ckpt_every = row->ckpt_every;
	c->lr = row->lr;
	c->beta1 = 0.9f;
	c->beta2 = 0.95f;
	c->eps = 1e-8f;
	c->weight_decay = 0.1f;
	c->init_std = 0.02f;
	return 0;
}
