/* attest_chain.h: offline verification of the vendor signatures over
 * hardware evidence (docs/attestation.md, "What is checked").
 * Owns the vendor root certificates shipped with Karpa and the walk from a
 * TDX quote's signature back to Intel's root: the PCK certificate chain the
 * quote carries, the quoting enclave's report and its identity, the
 * attestation key it certifies, and the quote signature. Never fetches
 * anything: revocation and TCB currency are not checked (they need
 * collateral from Intel's servers). */
#ifndef KARPA_ATTEST_CHAIN_H
#define KARPA_ATTEST_CHAIN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util/kerr.h"

/* What a chain must end in, and when it must be valid. Tests pass their own
 * root to check that a fully signed quote under another root is refused
 * only for its root; production passes NULL everywhere. */
struct attest_anchor {
	const char *tdx_root_pem; /* NULL: the shipped Intel SGX Root CA */
	time_t at;                /* certificate validity instant; 0: now */
};

/* The shipped Intel SGX Root CA (PEM), SHA-256 fingerprint
 * 44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3. */
extern const char attest_intel_sgx_root_pem[];

/* Verifies the ECDSA signature data of a TDX quote that passed
 * attest_tdx_layout: the PCK chain in its certification data (type 6
 * wrapping type 5) up to the anchor's root, the QE report's signature by
 * the PCK leaf key, the QE's identity (Intel's TD QE), the QE report data
 * binding the attestation key and QE auth data, and the quote signature by
 * that attestation key over header and body. Reason codes: attest.bad_quote
 * (signature data layout), attest.chain, attest.qe_sig, attest.qe_identity,
 * attest.qe_binding, attest.quote_sig, attest.nomem. a may be NULL. */
int attest_tdx_verify_sig(const uint8_t *q, size_t n, const struct attest_anchor *a, struct kerr *err);

#endif
