/* split.h: which split a document belongs to (fixed harness). Owns the rule
 * and nothing else: a keyed BLAKE2b hash of the document id, read as a
 * fraction in [0,1), compared with fixed thresholds. The decision for one
 * document never depends on any other document, so a corpus can grow
 * without moving documents between splits. */
#ifndef KARPA_SPLIT_H
#define KARPA_SPLIT_H

#include "data/dataset.h"
#include "util/hash.h"

/* The protocol's public key. A network whose hidden split must stay hidden
 * from miners runs `data prepare --split-key` with a secret and hands miners
 * the prepared folder (docs/data.md). */
#define SPLIT_KEY_DEFAULT "karpa-split-v1"
/* Fractions chosen in docs/data.md: about 50 of the Brown Corpus's 500
 * documents each, enough that evaluation noise sits well under the noise floor. */
#define SPLIT_HIDDEN_FRACTION 0.10
#define SPLIT_VAL_FRACTION 0.10

enum dataset_split_id split_of(const char *doc_id, const char *key);
/* SHA-256 of the key, recorded in manifests instead of the key itself. */
void split_key_digest(const char *key, char out[HASH_HEX_BYTES]);

#endif
