/* keccak.h: the Keccak-f[1600] permutation (FIPS 202, section 3), the core
 * under Strobe-128 and so under Merlin transcripts and sr25519. Owns only
 * the permutation: no padding, no sponge, no hash; never allocates. */
#ifndef KARPA_CHAIN_KECCAK_H
#define KARPA_CHAIN_KECCAK_H

#include <stdint.h>

#define KECCAK_STATE_BYTES 200 /* 25 lanes of 64 bits */

/* Permutes the state in place. The state is bytes, lane i at bytes 8i..8i+7
 * little-endian, as Strobe addresses it; the byte order of the host does
 * not matter. */
void keccak_f1600(uint8_t state[KECCAK_STATE_BYTES]);

#endif
