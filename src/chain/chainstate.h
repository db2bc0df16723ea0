/* chainstate.h: what an offline signer is told about the chain, and the
 * operator's text inputs. Owns the chain-state file (JSON: metadata path,
 * spec and transaction versions, genesis hash, the era's birth block and
 * its hash, nonce; era_period and tip optional) and the parsing of
 * "UID=W,..." weight lists and commit salts. Never touches the network. */
#ifndef KARPA_CHAIN_STATE_H
#define KARPA_CHAIN_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "chain/extrinsic.h"
#include "chain/metadata.h"
#include "util/kerr.h"

#define CHAIN_STATE_BYTES_MAX (64u << 10)

struct chain_state {
	struct meta *meta; /* the runtime's metadata, loaded */
	struct chain_tx tx;
};

/* Loads path and the metadata it names (relative to path's folder unless
 * absolute). chain.state for a missing or malformed field (the message
 * names it); meta.* from the metadata. Free with chain_state_free. */
int chain_state_load(const char *path, struct chain_state *st, struct kerr *e);
void chain_state_free(struct chain_state *st);

/* "UID=W,UID=W,...": uids 0..65535, W finite and >= 0 (decimal), at most
 * cap entries. chain.weights_syntax otherwise. */
int chain_weights_parse(const char *text, uint16_t *uids, double *weights, size_t cap, size_t *n, struct kerr *e);
/* A commit salt in hex, four digits per u16 item as the number reads
 * ("0001002a" is [1, 42]), 1..cap items. chain.salt otherwise. */
int chain_salt_parse(const char *hex, uint16_t *salt, size_t cap, size_t *n, struct kerr *e);

#endif
