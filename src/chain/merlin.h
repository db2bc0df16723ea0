/* merlin.h: Merlin transcripts (merlin.cool, "Merlin v1.0") over Strobe-128:
 * labelled messages in, challenge bytes out, and the transcript RNG that
 * schnorrkel draws witness nonces from (rekeyed with secret seeds, then
 * with 32 bytes of external randomness). Owns the transcript state; a
 * transcript or RNG that has seen a secret is wiped by its owner. Labels
 * are NUL-terminated; message lengths are at most UINT32_MAX (asserted:
 * callers bound what they append). */
#ifndef KARPA_CHAIN_MERLIN_H
#define KARPA_CHAIN_MERLIN_H

#include <stddef.h>
#include <stdint.h>

#include "chain/strobe.h"

#define MERLIN_RNG_RANDOM_BYTES 32

struct merlin_transcript {
	struct strobe128 s;
};

/* A transcript derived from one, rekeyed with witnesses: its output is
 * bound to everything the transcript saw, the witnesses and the randomness. */
struct merlin_rng {
	struct strobe128 s;
};

void merlin_init(struct merlin_transcript *t, const char *label);
void merlin_append(struct merlin_transcript *t, const char *label, const uint8_t *msg, size_t len);
void merlin_challenge(struct merlin_transcript *t, const char *label, uint8_t *out, size_t len);
void merlin_wipe(struct merlin_transcript *t);

/* Builds the RNG from a copy of t (t is not changed). */
void merlin_rng_begin(const struct merlin_transcript *t, struct merlin_rng *r);
void merlin_rng_rekey(struct merlin_rng *r, const char *label, const uint8_t *witness, size_t len);
void merlin_rng_finalize(struct merlin_rng *r, const uint8_t random[MERLIN_RNG_RANDOM_BYTES]);
void merlin_rng_fill(struct merlin_rng *r, uint8_t *out, size_t len);
void merlin_rng_wipe(struct merlin_rng *r);

#endif
