/* keys.h: a miner's (or validator's) Ed25519 identity (libsodium).
 * Owns the key file format, its permissions rule (0600, never overwritten),
 * signing and verification of detached signatures. Secret bytes live only in
 * struct keys and are wiped by keys_wipe. */
#ifndef KARPA_KEYS_H
#define KARPA_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "util/kerr.h"

#define KEYS_PK_BYTES 32
#define KEYS_SK_BYTES 64
#define KEYS_SIG_BYTES 64
#define KEYS_PK_HEX_BYTES 65
#define KEYS_SIG_HEX_BYTES 129

struct keys {
	uint8_t pk[KEYS_PK_BYTES];
	uint8_t sk[KEYS_SK_BYTES];
	char pk_hex[KEYS_PK_HEX_BYTES];
};

/* Creates a new identity at path with mode 0600 (keys.exists if present). */
int keys_generate(const char *path, struct keys *k, struct kerr *err);
/* Loads path; keys.missing, keys.bad_permissions (group/other may read),
 * keys.parse (malformed), keys.mismatch (public key does not match secret). */
int keys_load(const char *path, struct keys *k, struct kerr *err);
void keys_wipe(struct keys *k);

int keys_sign(const struct keys *k, const void *msg, size_t n, uint8_t sig[KEYS_SIG_BYTES]);
/* 0 when sig is pk's signature over msg; keys.bad_signature otherwise. */
int keys_verify(const uint8_t pk[KEYS_PK_BYTES], const void *msg, size_t n,
		const uint8_t sig[KEYS_SIG_BYTES], struct kerr *err);

int keys_hex_decode(const char *hex, uint8_t *out, size_t n); /* exact length, 0 ok */
void keys_hex_encode(const uint8_t *in, size_t n, char *out);  /* out has 2n+1 bytes */

#endif
