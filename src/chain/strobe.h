/* strobe.h: Strobe-128 (strobe.sourceforge.io, v1.0.2) reduced to what a
 * Merlin transcript uses: meta-AD, AD, PRF and KEY, never the transport
 * directions (T flag). Owns the duplex state; callers wipe it with
 * strobe128_wipe when it has seen a secret. Never allocates. */
#ifndef KARPA_CHAIN_STROBE_H
#define KARPA_CHAIN_STROBE_H

#include <stddef.h>
#include <stdint.h>

#include "chain/keccak.h"

struct strobe128 {
	uint8_t st[KECCAK_STATE_BYTES];
	uint8_t pos, pos_begin, cur_flags;
};

/* A fresh duplex at security 128 with the protocol label absorbed as meta-AD. */
void strobe128_init(struct strobe128 *s, const uint8_t *label, size_t len);
/* The operations, with Strobe's `more` (continue the previous operation,
 * which must have had the same flags: asserted). */
void strobe128_meta_ad(struct strobe128 *s, const uint8_t *data, size_t len, int more);
void strobe128_ad(struct strobe128 *s, const uint8_t *data, size_t len, int more);
void strobe128_prf(struct strobe128 *s, uint8_t *out, size_t len, int more);
void strobe128_key(struct strobe128 *s, const uint8_t *data, size_t len, int more);
void strobe128_wipe(struct strobe128 *s);

#endif
