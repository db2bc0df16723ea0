/* scale.c: the scale table. Budgets are written in calibrated seconds
 * (calibrate.h): on the reference machine they are wall seconds. Each is a
 * generous ceiling over what recipe v0.1.0 takes there (docs/calibration.md),
 * leaving miners room to declare more steps. They are the verified tier's:
 * an unverified proof's compute counts double (PROTOCOL 4), so it has half
 * of each, which is what the ceilings were sized for (60 s at tiny, 240 at
 * cpu, one H100 hour at gpu-125m) before the tiers entered the budget. */
#include "harness/scale.h"

#include <string.h>

static const struct scale scales[] = {
	/* tiny: tests. 320 tokens, 60 Brown documents, 16K-token shards so
	 * tests cross shard boundaries. */
	{ "tiny", 320, SCALE_TOK_TRAINED, 60, (size_t)1 << 14, 120.0, 0 },
	/* cpu: the demonstration scale, the whole Brown Corpus at 4096 tokens.
	 * val_bpb scores the first 65536 targets of a split (about 18 whole
	 * documents of ~50): a validator evaluates two splits per judgment, and
	 * at this scale the whole splits would cost more than the proof's
	 * training (docs/data.md has the measured trade-off). */
	{ "cpu", 4096, SCALE_TOK_TRAINED, 0, (size_t)1 << 20, 480.0, 65536 },
	/* The GPU scales (PROTOCOL 8): GPT-2's vocabulary, so their folders are
	 * llm.c data and llm.c corpora come in through --from unchanged. By
	 * default the whole Brown Corpus, ~1.2M GPT-2 tokens (docs/data.md).
	 * Both scales prepare identical data: same tokenizer, split and shards.
	 * Shards of 2^24 tokens (32 MiB) stay under llm.c's 100M and are the
	 * unit a streaming reader verifies at a time; Brown's splits fit one
	 * each. val_bpb scores the first 2^20 targets: all of Brown's val and
	 * hidden splits (~0.12M each), and for an llm.c corpus about what llm.c
	 * evaluates (20 batches of 64 x 1024), a few seconds on an H100.
	 * Budgets are PROVISIONAL (docs/calibration.md): one H100 hour for
	 * GPT-2 small, two for the 254M model, at the unverified tier (so two
	 * and four verified), until a GPU recipe baseline sizes them. */
	{ "gpu-125m", 50257, SCALE_TOK_GPT2, 0, (size_t)1 << 24, 7200.0, (uint64_t)1 << 20 },
	{ "gpu-254m", 50257, SCALE_TOK_GPT2, 0, (size_t)1 << 24, 14400.0, (uint64_t)1 << 20 },
};

const struct scale *scale_find(const char *name, struct kerr *err)
{
	for (size_t i = 0; i < sizeof scales / sizeof scales[0]; i++)
		if (name && !strcmp(name, scales[i].name))
			return &scales[i];
	kerr_set(err, "scale.unknown", "unknown scale '%s' (scales: %s)", name ? name : "", scale_names());
	return NULL;
}

uint64_t scale_eval_targets(const char *name)
{
	for (size_t i = 0; i < sizeof scales / sizeof scales[0]; i++)
		if (name && !strcmp(name, scales[i].name))
			return scales[i].eval_targets;
	return 0;
}

int scale_on_gpu(const char *name)
{
	return name && !strncmp(name, "gpu-", 4);
}

const char *scale_names(void)
{
	return "tiny, cpu, gpu-125m, gpu-254m";
}
