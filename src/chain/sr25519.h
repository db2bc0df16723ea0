/* sr25519.h: Schnorr signatures on ristretto255 as schnorrkel defines them
 * and Substrate uses them (signing context "substrate"), on libsodium's
 * ristretto255 group and scalar arithmetic with Merlin transcripts. Owns key
 * expansion from a 32-byte mini secret (schnorrkel's ExpandMode::Ed25519, as
 * Substrate's Pair::from_seed), signing and verification. Secret halves live
 * only in struct sr25519_secret, wiped by sr25519_wipe; nothing here prints. */
#ifndef KARPA_CHAIN_SR25519_H
#define KARPA_CHAIN_SR25519_H

#include <stddef.h>
#include <stdint.h>

#include "util/kerr.h"

#define SR25519_SEED_BYTES 32   /* schnorrkel's MiniSecretKey */
#define SR25519_PUB_BYTES 32    /* a compressed ristretto255 point */
#define SR25519_SIG_BYTES 64    /* R || s, bit 7 of byte 63 set (the schnorrkel marker) */
#define SR25519_RANDOM_BYTES 32 /* external randomness mixed into the nonce */
#define SR25519_CONTEXT "substrate"

struct sr25519_secret {
	uint8_t key[32];   /* the secret scalar, canonical little-endian */
	uint8_t nonce[32]; /* the seed of every witness nonce */
};

/* SHA-512 of the mini secret; the lower half clamped as Ed25519 does, then
 * divided by the cofactor (so the scalar is already reduced); the upper
 * half is the nonce seed. Fills pub with key * B. Never fails. */
void sr25519_from_seed(const uint8_t seed[SR25519_SEED_BYTES], struct sr25519_secret *sk,
		       uint8_t pub[SR25519_PUB_BYTES]);
/* Signs msg in the "substrate" context. random: 32 bytes of external
 * randomness for the witness nonce (tests pass fixed bytes to match
 * @scure/sr25519; NULL draws fresh bytes from randombytes_buf). pub must be
 * sk's. sr25519.message_too_long past 2^32 - 1 bytes (Merlin's framing). */
int sr25519_sign(const struct sr25519_secret *sk, const uint8_t pub[SR25519_PUB_BYTES], const uint8_t *msg,
		 size_t len, const uint8_t *random, uint8_t sig[SR25519_SIG_BYTES], struct kerr *err);
/* 0 when sig is pub's signature over msg in the "substrate" context, else
 * -1 with sr25519.not_marked (byte 63's marker bit clear: an Ed25519-style
 * or legacy signature), sr25519.noncanonical_scalar (s >= l),
 * sr25519.bad_public_key (not a ristretto255 encoding, or the identity),
 * sr25519.bad_signature (R is not an encoding, or the equation fails), or
 * sr25519.message_too_long. */
int sr25519_verify(const uint8_t pub[SR25519_PUB_BYTES], const uint8_t *msg, size_t len,
		   const uint8_t sig[SR25519_SIG_BYTES], struct kerr *err);
void sr25519_wipe(struct sr25519_secret *sk);

#endif
