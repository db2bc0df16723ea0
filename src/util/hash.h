/* hash.h: the one digest of the protocol, SHA-256, as bytes or lowercase
 * hex: libsodium's for small and incremental data, OpenSSL's for bulk data
 * (hash_bulk: files, a bundle as it is taken). Owns nothing else; never
 * reads files it is not given. */
#ifndef KARPA_HASH_H
#define KARPA_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "util/kerr.h"

#define HASH_BYTES 32
#define HASH_HEX_BYTES 65 /* 64 hex digits + NUL */

struct hash_ctx {
	unsigned char state[128]; /* crypto_hash_sha256_state, opaque here */
};

int hash_init_lib(void); /* sodium_init; idempotent */
void hash_begin(struct hash_ctx *c);
void hash_update(struct hash_ctx *c, const void *p, size_t n);
void hash_end(struct hash_ctx *c, uint8_t out[HASH_BYTES]);
void hash_buf(const void *p, size_t n, uint8_t out[HASH_BYTES]);
void hash_hex(const uint8_t d[HASH_BYTES], char out[HASH_HEX_BYTES]);
void hash_buf_hex(const void *p, size_t n, char out[HASH_HEX_BYTES]);
int hash_file_hex(const char *path, char out[HASH_HEX_BYTES], uint64_t *bytes, struct kerr *err);

/* SHA-256 of bulk data through OpenSSL, which uses the CPU's SHA or vector
 * instructions where libsodium's SHA-256 is portable C (1.8x on an AVX-512
 * machine without SHA extensions, several times more with them): the same
 * digests as hash_*. md is a heap context: every hash_bulk_begin that
 * succeeds is ended by hash_bulk_end or hash_bulk_drop. */
struct hash_bulk {
	void *md; /* EVP_MD_CTX */
};
int hash_bulk_begin(struct hash_bulk *b, struct kerr *err); /* hash.nomem */
void hash_bulk_update(struct hash_bulk *b, const void *p, size_t n);
void hash_bulk_end(struct hash_bulk *b, uint8_t out[HASH_BYTES]);
void hash_bulk_drop(struct hash_bulk *b); /* no digest; a dropped or zeroed b is fine */
/* dst begins as src's copy (both then ended or dropped on their own): the
 * digest of a prefix and of the prefix plus more, in one pass. hash.nomem. */
int hash_bulk_copy(struct hash_bulk *dst, const struct hash_bulk *src, struct kerr *err);
/* 1 when s is exactly n lowercase hex digits (0-9, a-f) and then its end,
 * else 0 (NULL included). The one spelling check for what the protocol
 * writes in hex: digests (HASH_HEX_BYTES - 1), keys, git commit ids. Upper
 * case is refused: a second spelling of the same value would be a second
 * name for it. */
int hash_is_hex(const char *s, size_t n);

#endif
