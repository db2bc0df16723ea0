/* sample.c: autoregressive generation from a checkpoint. Each step hands
 * the recipe the last min(context, seq_len) tokens as one row and reads
 * the logits of its last position; buffers are sized once from the plan
 * before the first step. Token i is drawn from its own stream (seed,
 * "sample", i), so a draw never depends on how many came before it. */
#include "harness/sample.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/bpe.h"
#include "data/texts.h"
#include "harness/checkpoint.h"
#include "harness/evaluate.h"
#include "harness/train.h"

static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */

int sample_pick(const float *logits, int vocab, double temperature, struct rng *rng, uint16_t *out,
		struct kerr *err)
{
	double m, sum = 0, target, acc = 0;
	int best = 0, last = 0;

	if (vocab <= 0 || vocab > BPE_VOCAB_MAX)
		return kerr_set(err, "sample.usage", "vocab size %d outside 1..%d", vocab, BPE_VOCAB_MAX);
	for (int v = 0; v < vocab; v++) {
		if (!isfinite(logits[v]))
			return kerr_set(err, "sample.nonfinite", "the recipe returned a non-finite logit for id %d", v);
		if (logits[v] > logits[best])
			best = v;
	}
	if (temperature == 0) {
		*out = (uint16_t)best;
		return 0;
	}
	if (!(temperature > 0 && temperature <= SAMPLE_TEMPERATURE_MAX))
		return kerr_set(err, "sample.usage", "temperature %g outside 0..%g", temperature, SAMPLE_TEMPERATURE_MAX);
	/* The max subtracted first: every exp is at most 1, the largest exactly 1,
	 * so sum >= 1 and the draw below always lands. */
	m = logits[best];
	for (int v = 0; v < vocab; v++)
		sum += exp(((double)logits[v] - m) / temperature);
	target = rng_uniform(rng) * sum;
	for (int v = 0; v < vocab; v++) {
		double p = exp(((double)logits[v] - m) / temperature);
		if (p > 0)
			last = v;
		acc += p;
		if (acc > target) {
			*out = (uint16_t)v;
			return 0;
		}
	}
	*out = (uint16_t)last; /* rounding left target at the very top: the last id with any mass */
	return 0;
}

int sample_utf8(const char *text, size_t n, char **out, struct kerr *err)
{
	size_t cap, used = 0, bad;
	char *b;

	/* Each bad byte grows to 3: the worst case is 3n, checked for overflow. */
	if (n > (SIZE_MAX - 1) / 3)
		return kerr_set(err, "sample.nomem", "text of %zu bytes is too long", n);
	cap = 3 * n + 1;
	if (!(b = malloc(cap)))
		return kerr_set(err, "sample.nomem", "out of memory for %zu bytes of text", cap);
	while (n > 0) {
		size_t good = texts_utf8_check(text, n, &bad) == 0 ? n : bad;
		memcpy(b + used, text, good);
		used += good;
		text += good;
		n -= good;
		if (n > 0) {
			memcpy(b + used, replacement, sizeof replacement - 1);
			used += sizeof replacement - 1;
			text++;
			n--;
		}
	}
	b[used] = '\0';
	*out = b;
	return 0;
}

static int check_opts(const struct sample_opts *o, struct kerr *err)
{
	if (!o->ckpt_path || !o->data || !o->data->tok)
		return kerr_set(err, "sample.usage", "a checkpoint and an opened data folder are required");
	if (o->tokens < 1 || o->tokens > SAMPLE_TOKENS_MAX)
		return kerr_set(err, "sample.usage", "tokens %d outside 1..%d", o->tokens, SAMPLE_TOKENS_MAX);
	if (!(o->temperature >= 0 && o->temperature <= SAMPLE_TEMPERATURE_MAX))
		return kerr_set(err, "sample.usage", "temperature %g outside 0..%g", o->temperature,
				SAMPLE_TEMPERATURE_MAX);
	if (o->prompt_len > SAMPLE_PROMPT_BYTES_MAX || (o->prompt_len && !o->prompt))
		return kerr_set(err, "sample.usage", "prompt of %zu bytes (at most %u)", o->prompt_len,
				SAMPLE_PROMPT_BYTES_MAX);
	if (o->threads < 1 || o->threads > TRAIN_THREADS_MAX)
		return kerr_set(err, "sample.usage", "threads %d outside 1..%d", o->threads, TRAIN_THREADS_MAX);
	return 0;
}

/* The context: the prompt's ids (or the end-of-document token when it has
 * none), with room for every token to come. */
static int encode_prompt(const struct sample_opts *o, struct sample_result *r, uint16_t **ctx, struct kerr *err)
{
	struct bpe_tokens t = { 0 };
	const struct bpe *tok = o->data->tok;

	if (bpe_encode(tok, o->prompt ? o->prompt : "", o->prompt_len, &t, err) < 0)
		goto fail;
	if (t.n == 0 && bpe_tokens_push(&t, bpe_eot(tok)) < 0) {
		kerr_set(err, "sample.nomem", "out of memory for the prompt");
		goto fail;
	}
	r->prompt_ids = t.ids;
	r->n_prompt = t.n;
	if (!(*ctx = malloc((t.n + (size_t)o->tokens) * sizeof **ctx)) ||
	    !(r->ids = malloc((size_t)o->tokens * sizeof *r->ids)))
		return kerr_set(err, "sample.nomem", "out of memory for %zu tokens of context", t.n + (size_t)o->tokens);
	memcpy(*ctx, t.ids, t.n * sizeof **ctx);
	return 0;
fail:
	bpe_tokens_free(&t);
	return -1;
}

/* Generates o->tokens tokens after the n0 ids in ctx. */
static int generate(const struct sample_opts *o, struct recipe_host *h, const struct kr_plan *plan, uint16_t *ctx,
		    size_t n0, struct sample_result *r, struct kerr *err)
{
	int vocab = h->vocab_size, T_max = plan->seq_len, rc = -1;
	size_t row_bytes = (size_t)T_max * (size_t)vocab * sizeof(float), n = n0;
	float *logits;

	if (row_bytes > EVAL_LOGITS_BYTES_MAX)
		return kerr_set(err, "sample.nomem", "one row of logits (%zu bytes) exceeds %zu", row_bytes,
				EVAL_LOGITS_BYTES_MAX);
	if (!(logits = malloc(row_bytes)))
		return kerr_set(err, "sample.nomem", "out of memory for %zu bytes of logits", row_bytes);
	for (int i = 0; i < o->tokens; i++) {
		int T = n < (size_t)T_max ? (int)n : T_max;
		struct rng rng;
		uint16_t id;

		if (h->logits(h, ctx + n - (size_t)T, 1, T, logits, err) < 0)
			goto out;
		rng_init(&rng, o->seed, SAMPLE_RNG_PURPOSE, (uint64_t)i);
		if (sample_pick(logits + (size_t)(T - 1) * (size_t)vocab, vocab, o->temperature, &rng, &id, err) < 0) {
			kerr_prefix(err, "token %d", i);
			goto out;
		}
		ctx[n++] = id;
		r->ids[r->n++] = id;
		if (o->on_token)
			o->on_token(o->arg, id, bpe_token_data(o->data->tok, id), bpe_token_len(o->data->tok, id));
	}
	rc = 0;
out:
	free(logits);
	return rc;
}

int sample_run(const struct sample_opts *o, struct recipe_host *h, struct sample_result *r, struct kerr *err)
{
	struct ckpt_meta m;
	struct kr_plan plan;
	void *state = NULL;
	size_t n = 0;
	uint16_t *ctx = NULL;
	int rc = -1;

	memset(r, 0, sizeof *r);
	if (check_opts(o, err) < 0 || ckpt_read(o->ckpt_path, &m, &state, &n, r->ckpt_sha256, err) < 0)
		goto out;
	if (o->scale && strcmp(o->scale, m.scale)) {
		kerr_set(err, "sample.scale_mismatch", "%s: a checkpoint of scale %s, not %.40s", o->ckpt_path, m.scale,
			 o->scale);
		goto out;
	}
	if (train_load_state(h, o->data, o->threads, &m, state, n, &plan, err) < 0)
		goto out;
	free(state);
	state = NULL;
	if (encode_prompt(o, r, &ctx, err) < 0 || generate(o, h, &plan, ctx, r->n_prompt, r, err) < 0 ||
	    bpe_decode(o->data->tok, r->ids, r->n, &r->text, &r->text_len, err) < 0)
		goto out;
	r->context_max = plan.seq_len;
	snprintf(r->recipe, sizeof r->recipe, "%s", m.recipe);
	snprintf(r->recipe_version, sizeof r->recipe_version, "%s", m.recipe_version);
	snprintf(r->scale, sizeof r->scale, "%s", m.scale);
	r->step = m.step;
	rc = 0;
out:
	if (rc < 0 && o->on_fail)
		o->on_fail(o->on_fail_arg, h, err);
	free(state);
	free(ctx);
	recipe_host_destroy(h);
	if (rc < 0)
		sample_result_free(r);
	return rc;
}

void sample_result_free(struct sample_result *r)
{
	free(r->prompt_ids);
	free(r->ids);
	free(r->text);
	r->prompt_ids = r->ids = NULL;
	r->text = NULL;
	r->n_prompt = r->n = r->text_len = 0;
}
