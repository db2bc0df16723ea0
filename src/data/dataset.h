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
};

struct dataset_prepare_opts {
	const char *scale;          /* "tiny" or "cpu" */
	const char *const *from;    /* NULL-terminated; NULL or empty: the Brown Corpus */
	const char *out;            /* miner folder: train + val */
	const char *hidden_out;     /* validator folder: hidden (may be NULL) */
	const char *split_key;      /* keyed-hash key; NULL: the protocol's public key */
	int threads;
	int progress;               /* print progress lines on stderr */
};

int dataset_prepare(const struct dataset_prepare_opts *o, struct kerr *err);
/* Opens a folder, recomputing every digest; reason codes dataset.* */
int dataset_open(const char *dir, struct dataset *d, struct kerr *err);
void dataset_close(struct dataset *d);
/* Loads one split's tokens, all shards concatenated in order; caller frees. */
int dataset_load_split(const struct dataset *d, enum dataset_split_id s, uint16_t **tokens,
		       size_t *n, struct kerr *err);
const char *dataset_split_name(enum dataset_split_id s);

#endif
