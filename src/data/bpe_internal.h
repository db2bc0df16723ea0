/* bpe_internal.h: what bpe.c, bpe_train.c and gpt2_vocab.c share and no
 * other module may use: the layout of struct bpe and the one constructor
 * that validates a vocabulary before anything can encode with it. Tests may
 * include it to compare the two merge loops. */
#ifndef KARPA_BPE_INTERNAL_H
#define KARPA_BPE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "data/bpe.h"

#define BPE_FORMAT "karpa-bpe-1"
/* Ids 0..255 of a trained vocabulary are the raw bytes. */
#define BPE_BYTE_IDS 256
/* 256 byte ids plus the end-of-document token: the smallest vocabulary. */
#define BPE_VOCAB_MIN (BPE_BYTE_IDS + 1)
/* One token's bytes. GPT-2's longest is 128; the bound keeps a hostile
 * merge list (each merge doubling a token) from asking for gigabytes, and
 * the trainer never learns a merge longer than this. */
#define BPE_TOKEN_BYTES_MAX 1024u
/* "merge_keys" value of vocabularies that look merge ranks up the way the
 * reference JS encoder does (see gpt2_vocab.c). */
#define BPE_JS_KEYS "js-comma-joined"

/* One entry of the pair -> merge map (open addressing). */
struct bpe_pair {
	uint32_t key;   /* left id << 16 | right id */
	uint32_t rank1; /* rank + 1; 0 marks an empty slot */
	uint16_t out;   /* id the pair merges into */
};

/* Aliases a tokenizer may hold (GPT-2's vocabulary makes 11). */
#define BPE_ALIASES_MAX 64

struct bpe {
	int vocab_size;
	uint16_t eot;
	int table_form;    /* 1: token bytes stored in the file (GPT-2) */
	int js_comma_keys; /* 1: extra pairs the JS encoder also merges */
	uint64_t serial;   /* tells thread caches apart; never reused */
	uint32_t *tok_off; /* vocab_size + 1 offsets into tok_bytes */
	uint8_t *tok_bytes;
	uint16_t byte_id[256]; /* id of each single byte */
	uint16_t (*merges)[2]; /* ranked merges as given (aliases excluded) */
	size_t nmerges;
	struct bpe_pair *pairs; /* merges plus aliases */
	uint32_t pairs_mask;
	/* what each alias merges into: a piece holding none of these tokens'
	 * bytes meets no alias, and the heap loop is exact for it; -1: more
	 * aliases than the list holds (any comma may meet one) */
	uint16_t alias_out[BPE_ALIASES_MAX];
	int naliases;
	char *canon; /* canonical serialization (what bpe_save writes) */
	size_t canon_len;
	char digest[HASH_HEX_BYTES];
};

/* Everything needed to build a tokenizer; bpe_build copies what it keeps.
 * Trained form (table_form 0): ids 0..255 are bytes, merge k makes id
 * 256 + k, eot is 256 + nmerges = vocab_size - 1. Table form: tok_off /
 * tok_bytes give every id's bytes (eot's empty), a merge makes the id whose
 * bytes are the concatenation. */
struct bpe_spec {
	int vocab_size;
	int eot;
	int table_form;
	int js_comma_keys;
	const uint32_t *tok_off;
	const uint8_t *tok_bytes;
	const uint16_t (*merges)[2];
	size_t nmerges;
};

/* Validates spec (codes bpe.bad_vocab_size, bpe.bad_token, bpe.bad_merge,
 * bpe.nomem) and builds the tokenizer with its canonical form and digest. */
int bpe_build(const struct bpe_spec *s, struct bpe **out, struct kerr *err);

/* Merge loops, exposed so tests can check they agree. */
enum bpe_merge_mode {
	BPE_MERGE_AUTO = 0, /* what bpe_encode uses */
	BPE_MERGE_SCAN = 1, /* the JS encoder's loop, O(n^2): short pieces */
	BPE_MERGE_HEAP = 2, /* a heap over positions, O(n log n): long pieces */
};
/* Encodes one piece (no pre-tokenization, no cache) with the given loop. */
int bpe_encode_piece_mode(const struct bpe *b, const uint8_t *piece, size_t n,
			  enum bpe_merge_mode mode, struct bpe_tokens *out, struct kerr *err);
#ifdef KARPA_TEST_HOOKS
/* Whether bpe_encode takes the heap loop for this piece. */
int bpe_test_uses_heap(const struct bpe *b, const uint8_t *p, size_t n);
#endif

#endif
