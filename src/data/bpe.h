/* bpe.h: the byte-level BPE tokenizer (fixed harness, PROTOCOL 2).
 * Owns training a vocabulary from text (deterministic, documented tie
 * breaking), encoding, decoding, each token's UTF-8 byte length (what
 * val_bpb divides by), its own file format, and loading GPT-2's
 * encoder.json + vocab.bpe. Text is split into pieces by GPT-2's
 * pre-tokenization rule before merges apply. Never allocates in the encode
 * hot path beyond growing the caller's buffer. */
#ifndef KARPA_BPE_H
#define KARPA_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "util/hash.h"
#include "util/kerr.h"

#define BPE_VOCAB_MAX 65536       /* ids are uint16 in llm.c shards */
#define BPE_CPU_VOCAB 4096        /* 256 bytes + 3839 merges + end-of-document */
#define BPE_FILE_BYTES_MAX (64u << 20)

struct bpe; /* opaque */

/* A growable array of token ids owned by the caller (free ids). */
struct bpe_tokens {
	uint16_t *ids;
	size_t n, cap;
};

/* Learns merges from docs until vocab_size ids exist (the last id is the
 * end-of-document token). Same input, any thread count: same merges. */
int bpe_train(const char *const *docs, const size_t *lens, size_t ndocs, int vocab_size,
	      int threads, struct bpe **out, struct kerr *err);
/* GPT-2: encoder.json (token string -> id) and vocab.bpe (ranked merges). */
int bpe_load_gpt2(const char *encoder_json_path, const char *vocab_bpe_path, struct bpe **out,
		  struct kerr *err);
int bpe_save(const struct bpe *b, const char *path, struct kerr *err); /* atomic */
int bpe_load(const char *path, struct bpe **out, struct kerr *err);
/* bpe_load of bytes already read (name is for messages). */
int bpe_load_buf(const char *text, size_t len, const char *name, struct bpe **out, struct kerr *err);
void bpe_free(struct bpe *b);

/* Appends the ids of text (any bytes; invalid UTF-8 still round-trips). */
int bpe_encode(const struct bpe *b, const char *text, size_t len, struct bpe_tokens *out,
	       struct kerr *err);
/* Decodes ids to bytes; caller frees *out. EOT decodes to nothing. */
int bpe_decode(const struct bpe *b, const uint16_t *ids, size_t n, char **out, size_t *len,
	       struct kerr *err);

int bpe_vocab_size(const struct bpe *b);
uint16_t bpe_eot(const struct bpe *b);
/* Bytes id decodes to (0 for EOT); the table val_bpb uses. */
uint32_t bpe_token_len(const struct bpe *b, uint16_t id);
const uint8_t *bpe_token_data(const struct bpe *b, uint16_t id);
/* SHA-256 of the canonical serialized form (what bpe_save writes). */
void bpe_digest(const struct bpe *b, char out[HASH_HEX_BYTES]);

int bpe_tokens_push(struct bpe_tokens *t, uint16_t id);
void bpe_tokens_free(struct bpe_tokens *t);

#endif
