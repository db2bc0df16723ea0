/* signer.h: the one seam between chain keys (ed25519, sr25519) and the
 * extrinsic builder. A signer knows its scheme, its public key and how to
 * sign bytes; the builder never sees a secret. Owned by whoever fills it
 * (chain_key_signer for a loaded key); ctx outlives every sign call. */
#ifndef KARPA_CHAIN_SIGNER_H
#define KARPA_CHAIN_SIGNER_H

#include <stddef.h>
#include <stdint.h>

#include "util/kerr.h"

/* Variant indices of Substrate's MultiSignature / MultiSigner enums. */
enum chain_scheme {
	CHAIN_SCHEME_ED25519 = 0,
	CHAIN_SCHEME_SR25519 = 1,
};

struct chain_signer {
	enum chain_scheme scheme;
	uint8_t pub[32];
	/* Signs msg (the payload, or its blake2b-256 digest when longer than 256
	 * bytes: the builder decides) into sig. Returns 0, or -1 with e set. */
	int (*sign)(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[64], struct kerr *e);
	void *ctx;
};

#endif
