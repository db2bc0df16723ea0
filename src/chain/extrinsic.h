/* extrinsic.h: SubtensorModule calls and the signed v4 extrinsic that
 * carries them. Owns the call encodings (set_weights, commit_weights,
 * reveal_weights: indices and argument order from the metadata, never
 * constants), the commit hash, the mortal era, the signing payload and the
 * extrinsic's bytes. Each signed extension is encoded from what the
 * metadata says it is; an extension this file does not know and that
 * carries data is refused, never guessed. Never sees a secret: signing
 * goes through struct chain_signer. */
#ifndef KARPA_CHAIN_EXTRINSIC_H
#define KARPA_CHAIN_EXTRINSIC_H

#include <stddef.h>
#include <stdint.h>

#include "chain/metadata.h"
#include "chain/scale.h"
#include "chain/signer.h"
#include "util/kerr.h"

#define CHAIN_PALLET "SubtensorModule"
#define CHAIN_HASH_BYTES 32
#define CHAIN_EXTRINSIC_V4_SIGNED 0x84     /* bit 7: signed; low bits: version 4 */
#define CHAIN_ERA_PERIOD_DEFAULT 128u      /* blocks, as Bittensor's SDK */
#define CHAIN_ERA_PERIOD_MAX 65536u        /* Substrate clamps the period to [4, 2^16] */
#define CHAIN_PAYLOAD_HASHED_OVER 256u     /* longer payloads are signed by their blake2b-256 */
#define CHAIN_VEC_MAX 65536u               /* uids, values, salt */
#define CHAIN_CALL_BYTES_MAX (1u << 20)
#define CHAIN_EXTRINSIC_BYTES_MAX (2u << 20)

/* What the chain state says about the transaction being built. */
struct chain_tx {
	uint32_t spec_version, tx_version;
	uint8_t genesis_hash[CHAIN_HASH_BYTES];
	uint64_t block_number;                /* the era's birth block */
	uint8_t block_hash[CHAIN_HASH_BYTES]; /* its hash (unused when immortal) */
	uint32_t era_period;                  /* 0: immortal */
	uint64_t nonce;
	uint64_t tip; /* in rao */
};

/* Substrate's Era: immortal is one 0 byte; mortal is two bytes from the
 * period (rounded up to a power of two in [4, 2^16]) and the birth block's
 * phase. Returns the length written to out. */
size_t chain_era_encode(uint32_t period, uint64_t block_number, uint8_t out[2]);
/* The block such an era is born at (Substrate's Era::birth): block_number
 * itself for periods up to 4096; for longer ones the phase is quantised
 * and the birth block is earlier. Its hash is what the payload carries
 * (chain_tx.block_hash). 0 (genesis) when immortal. */
uint64_t chain_era_birth(uint32_t period, uint64_t block_number);
/* The first block such an era no longer admits (Era::death): birth plus
 * the rounded period. A transaction signed with it lands before this block
 * or never. UINT64_MAX when immortal. */
uint64_t chain_era_death(uint32_t period, uint64_t block_number);

/* Calls: pallet index, call index, arguments in the metadata's order.
 * meta.no_pallet / meta.no_call when the runtime lacks them,
 * chain.call_shape when an argument's name or type is not what the call
 * is known to take, chain.weights_length for vectors over CHAIN_VEC_MAX.
 * The writer gets the call appended. */
int chain_call_set_weights(const struct meta *m, uint16_t netuid, const uint16_t *uids, const uint16_t *vals,
			   size_t n, uint64_t version_key, struct scale_writer *call, struct kerr *e);
int chain_call_commit_weights(const struct meta *m, uint16_t netuid, const uint8_t hash[CHAIN_HASH_BYTES],
			      struct scale_writer *call, struct kerr *e);
int chain_call_reveal_weights(const struct meta *m, uint16_t netuid, const uint16_t *uids, const uint16_t *vals,
			      size_t n, const uint16_t *salt, size_t n_salt, uint64_t version_key,
			      struct scale_writer *call, struct kerr *e);

/* subtensor's commit hash: BlakeTwo256 of the SCALE encoding of
 * (account, netuid, uids, values, salt, version_key). */
int chain_commit_hash(const uint8_t account[32], uint16_t netuid, const uint16_t *uids, const uint16_t *vals,
		      size_t n, const uint16_t *salt, size_t n_salt, uint64_t version_key,
		      uint8_t out[CHAIN_HASH_BYTES], struct kerr *e);

/* call ++ each extension's extra ++ each extension's additional data, in
 * the metadata's order: what the signature covers (before hashing).
 * chain.unknown_extension for an extension that carries data this file
 * cannot name. */
int chain_signing_payload(const struct meta *m, const struct chain_tx *tx, const uint8_t *call, size_t call_len,
			  struct scale_writer *payload, struct kerr *e);
/* The signed extrinsic, length prefix included, appended to out.
 * chain.unsupported_address / chain.unsupported_signature when the
 * runtime's types are not MultiAddress / MultiSignature with the signer's
 * scheme; the signer's own code when signing fails. */
int chain_extrinsic_signed(const struct meta *m, const struct chain_tx *tx, const uint8_t *call, size_t call_len,
			   const struct chain_signer *signer, struct scale_writer *out, struct kerr *e);

#endif
