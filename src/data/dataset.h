/* dataset.h: a prepared data folder (fixed harness): manifest.json, the
 * tokenizer, and llm.c shards per split, each pinned by SHA-256.
 * Owns `data prepare` (corpus -> split -> tokenizer -> shards, written to a
 * staging folder and renamed into place), `data verify` and `data show`.
 * A miner's folder holds train and val only; the hidden split is written
 * only to the validator's folder. */
#ifndef KARPA_DATASET_H
#define KARPA_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "util/hash.h"
#include "util/kerr.h"

#define DATASET_FORMAT "karpa-data-1"
#define DATASET_MANIFEST "manifest.json"
#define DATASET_TOKENIZER "tokenizer.json"
#define DATASET_SPLITS_MAX 3
#define DATASET_SHARDS_MAX 4096
/* A split is held in memory, as verified, for the whole run: 2^30 tokens
 * (2 GiB) is far above the cpu scale's 1.3M train tokens; a GPU scale's
 * corpus (billions of tokens) needs the streaming reader docs/data.md
 * describes, which verifies each shard as it reads it. */
#define DATASET_SPLIT_TOKENS_MAX ((uint64_t)1 << 30)

enum dataset_split_id { SPLIT_TRAIN = 0, SPLIT_VAL = 1, SPLIT_HIDDEN = 2 };

struct dataset_split_info {
	int present;
	uint64_t documents;
	uint64_t tokens;
	uint64_t bytes; /* UTF-8 bytes of the split's text (sum of token byte lengths) */
	size_t nshards;
};

struct bpe;
struct dataset {
	char dir[4096];
	char digest[HASH_HEX_BYTES];           /* SHA-256 of manifest.json: names the data */
	char tokenizer_digest[HASH_HEX_BYTES];
	struct bpe *tok;                       /* owned */
	struct dataset_split_info split[DATASET_SPLITS_MAX];
	/* Each present split's tokens, every shard in order, decoded from the
	 * very bytes dataset_open hashed (owned): the only copy training,
	 * evaluation and judging read. */
	uint16_t *tokens[DATASET_SPLITS_MAX];
};

struct dataset_prepare_opts {
	const char *scale;          /* a scale_find name: tiny, cpu, gpu-125m, gpu-254m */
	const char *const *from;    /* NULL-terminated; NULL or empty: the Brown Corpus */
	const char *out;            /* miner folder: train + val */
	const char *hidden_out;     /* validator folder: hidden (may be NULL) */
	const char *split_key;      /* keyed-hash key; NULL: the protocol's public key */
	int threads;
	int progress;               /* print progress lines on stderr */
};

int dataset_prepare(const struct dataset_prepare_opts *o, struct kerr *err);
/* Opens a folder, recomputing every digest, and keeps every split's tokens
 * in memory: each file is read once, hashed, checked and decoded from the
 * same bytes, so what a run uses is what was verified, and nothing reads
 * the folder again. Reason codes dataset.*, shard.*, bpe.*. */
int dataset_open(const char *dir, struct dataset *d, struct kerr *err);
/* Whether the data folder dir was prepared from a published corpus (the
 * Brown Corpus package): then any split of it is public by subtraction,
 * whatever the split key (docs/data.md, "The split key and what hidden
 * means"). Reads the manifest alone: 1, 0, or -1 when it cannot. */
int dataset_public_source(const char *dir);
void dataset_close(struct dataset *d);
/* One split's verified tokens, all shards concatenated in order: borrowed
 * from d, valid until dataset_close. dataset.no_split when absent. */
int dataset_tokens(const struct dataset *d, enum dataset_split_id s, const uint16_t **tokens, size_t *n,
		   struct kerr *err);
const char *dataset_split_name(enum dataset_split_id s);

#endif
