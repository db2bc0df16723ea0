/* sample.h: text from a checkpoint (`karpa sample`, docs/sample.md): the
 * prompt encoded with the data folder's tokenizer, then tokens generated
 * one at a time from the recipe's logits on the growing context, each drawn
 * from softmax(logits / temperature) by a seeded stream (greedy at
 * temperature 0). Owns the decoding loop and the draw; the recipe only
 * supplies logits, through the same host and sandbox as every other call.
 * Never scores anything: what it writes is for reading, not judging. */
#ifndef KARPA_SAMPLE_H
#define KARPA_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"
#include "sandbox/recipe_host.h"
#include "util/hash.h"
#include "util/kerr.h"
#include "util/rng.h"

/* Each generated token re-runs the whole context (the recipe API has no
 * KV cache): a bound on the tokens keeps a request a few seconds at the
 * cpu scale. */
#define SAMPLE_TOKENS_MAX 4096
#define SAMPLE_TOKENS_DEFAULT 64
/* A prompt is a line or a paragraph; the context only ever holds the last
 * seq_len tokens of it anyway. */
#define SAMPLE_PROMPT_BYTES_MAX (64u << 10)
/* Above this the distribution is uniform to within float rounding. */
#define SAMPLE_TEMPERATURE_MAX 100.0
#define SAMPLE_TEMPERATURE_DEFAULT 1.0
/* rng_stream purpose: token i is drawn from stream (seed, "sample", i). */
#define SAMPLE_RNG_PURPOSE "sample"

struct sample_opts {
	const char *ckpt_path;
	const struct dataset *data; /* opened by the caller: its tokenizer encodes and decodes */
	const char *prompt;         /* any bytes, prompt_len of them */
	size_t prompt_len;
	int tokens;                 /* to generate: 1..SAMPLE_TOKENS_MAX */
	double temperature;         /* 0: greedy (argmax, lowest id on a tie); else 0 < t <= MAX */
	uint64_t seed;
	int threads;                /* the recipe's threads (results do not depend on it) */
	const char *scale;          /* NULL: any; else the checkpoint must be of this scale */
	/* Called with each generated token as soon as it is drawn (streaming
	 * output); NULL: none. bytes are the token's decoded bytes (none for
	 * the end-of-document token). */
	void (*on_token)(void *arg, uint16_t id, const uint8_t *bytes, size_t n);
	void *arg;
	/* Called when the sample fails, before the host is destroyed (a
	 * sandbox explains the failure there); NULL: none. */
	recipe_host_fail_fn on_fail;
	void *on_fail_arg;
};

struct sample_result {
	uint16_t *prompt_ids;  /* the encoded prompt (owned) */
	size_t n_prompt;
	uint16_t *ids;         /* the generated tokens (owned) */
	size_t n;
	char *text;            /* the generated tokens decoded (owned; any bytes, NUL-terminated) */
	size_t text_len;
	int context_max;       /* the plan's seq_len: tokens of context each step sees */
	char ckpt_sha256[HASH_HEX_BYTES];
	char recipe[KR_NAME_MAX], recipe_version[KR_NAME_MAX], scale[32];
	int64_t step;
};

/* Verifies the checkpoint (ckpt.*), loads it into the recipe behind h
 * (train_load_state: h is created here and destroyed before return,
 * success or not), encodes the prompt (an empty prompt starts from the
 * end-of-document token, the start of a fresh document) and generates
 * o->tokens tokens. sample.usage (an option out of range),
 * sample.scale_mismatch (o->scale names another scale than the checkpoint's),
 * sample.nonfinite (a logit is NaN or infinite), sample.nomem, ckpt.*,
 * recipe.*, bpe.* */
int sample_run(const struct sample_opts *o, struct recipe_host *h, struct sample_result *r, struct kerr *err);
void sample_result_free(struct sample_result *r);

/* One draw from a row of vocab logits: argmax at temperature 0, else the
 * inverse CDF of softmax(logits / temperature) at one uniform draw from
 * rng, summed in double in id order (the same logits and stream give the
 * same token on any machine that computes exp the same). sample.nonfinite. */
int sample_pick(const float *logits, int vocab, double temperature, struct rng *rng, uint16_t *out,
		struct kerr *err);

/* text as valid UTF-8 for JSON: every byte that does not start a valid
 * sequence becomes U+FFFD. Caller frees *out. sample.nomem. */
int sample_utf8(const char *text, size_t n, char **out, struct kerr *err);

#endif
