/* chainkey.h: a validator's chain key (an sr25519 or ed25519 hotkey) and
 * its file: scheme, public key and 32-byte seed, 0600, written whole or
 * not at all and never overwritten (docs/chain-keys.md). Owns the one
 * place a chain secret is held in memory (struct chain_key, wiped by
 * chain_key_wipe) and the signer seam (signer.h) over it. Never prints a
 * secret. */
#ifndef KARPA_CHAIN_CHAINKEY_H
#define KARPA_CHAIN_CHAINKEY_H

#include <stdint.h>

#include "chain/signer.h"
#include "chain/sr25519.h"
#include "util/kerr.h"

#define CHAIN_KEY_SEED_BYTES 32
#define CHAIN_KEY_PUB_BYTES 32

struct chain_key {
	enum chain_scheme scheme;
	uint8_t pub[CHAIN_KEY_PUB_BYTES];
	uint8_t seed[CHAIN_KEY_SEED_BYTES]; /* ed25519 seed or sr25519 mini secret */
	struct sr25519_secret sr;           /* sr25519: the expanded secret */
	uint8_t ed_sk[64];                  /* ed25519: libsodium's seed || public key */
};

/* "sr25519" / "ed25519"; NULL for an unknown value. */
const char *chain_scheme_name(enum chain_scheme scheme);
/* 0 and *out for "sr25519" or "ed25519", else -1 with chainkey.bad_scheme. */
int chain_scheme_parse(const char *name, enum chain_scheme *out, struct kerr *err);

/* Derives the key pair: sr25519 as Substrate's Pair::from_seed (schnorrkel,
 * ExpandMode::Ed25519), ed25519 as RFC 8032 (libsodium, and Substrate's). */
int chain_key_from_seed(enum chain_scheme scheme, const uint8_t seed[CHAIN_KEY_SEED_BYTES], struct chain_key *k,
			struct kerr *err);
/* Writes k to path (mode 0600, temp + fsync + link, never replacing:
 * chainkey.exists; chainkey.create for other failures). */
int chain_key_save(const char *path, const struct chain_key *k, struct kerr *err);
/* Loads path: chainkey.missing, chainkey.open, chainkey.bad_permissions
 * (any group or other bit), chainkey.parse, chainkey.bad_scheme,
 * chainkey.mismatch (the public key is not the seed's). */
int chain_key_load(const char *path, struct chain_key *k, struct kerr *err);
/* Fills out to sign with k; k must outlive every sign call. Returns 0, or
 * -1 for a scheme outside enum chain_scheme. */
int chain_key_signer(const struct chain_key *k, struct chain_signer *out);
void chain_key_wipe(struct chain_key *k);

#endif
