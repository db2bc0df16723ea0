/* attest_chain.h: offline verification of the vendor signatures over
 * hardware evidence (docs/attestation.md, "What is checked").
 * Owns the vendor root certificates shipped with Karpa and two walks back
 * to them: from a TDX quote's signature to Intel's root (the PCK chain the
 * quote carries, the quoting enclave's report and identity, the attestation
 * key it certifies, the quote signature; attest_chain.c), and from an
 * SEV-SNP report's signature to AMD's root (the VCEK and its ASK/ARK chain
 * from the host's certificate table, the VCEK's TCB and chip id against
 * the report's; attest_snp.c). Never fetches anything: revocation and TCB
 * currency are not checked (they need collateral from the vendors'
 * servers). */
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
	const char *snp_root_pem; /* NULL: the shipped AMD ARKs (Milan, Genoa) */
	time_t at;                /* certificate validity instant; 0: now */
};

/* The pass-phrase callback for every PEM read of a certificate: it gives
 * none. Without it OpenSSL asks the terminal (or reads stdin) for the
 * pass phrase of a block marked "Proc-Type: 4,ENCRYPTED", which a miner's
 * evidence can carry: a validator would stop and wait for a key press. */
int attest_pem_no_passphrase(char *buf, int size, int rwflag, void *u);

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

/* One AMD product line's shipped certificates, as AMD's key distribution
 * service serves them (cert_chain): the root (ARK, self-signed) and the
 * intermediate (ASK) that signs every VCEK of that product. */
struct attest_amd_root {
	const char *product;  /* "Milan", "Genoa" */
	const char *ark_pem;
	const char *ask_pem;
	const char *ark_sha256; /* SHA-256 of the ARK's DER, lowercase hex */
};
#define ATTEST_AMD_ROOTS 2
extern const struct attest_amd_root attest_amd_roots[ATTEST_AMD_ROOTS];

/* The host's SEV-SNP certificate table (configfs-tsm auxblob, GHCB
 * extended guest request): 24-byte entries (GUID in RFC 4122 byte order,
 * u32 offset, u32 length, little-endian), ended by an all-zero entry;
 * offsets count from the start of the table. */
#define ATTEST_SNP_CERTS_BYTES_MAX (64u << 10)
#define ATTEST_SNP_GUID_VCEK "63da758d-e664-4564-adc5-f4b93be8accd"
#define ATTEST_SNP_GUID_ASK "4ab7b379-bbac-4fe4-a02f-05aef327c782"
#define ATTEST_SNP_GUID_ARK "c0b406a4-a803-4952-9743-3fb6014cd0ae"

/* Verifies an SEV-SNP report that passed attest_check_snp_report against
 * the certificate table certs (certs_len bytes; DER or PEM per entry): the
 * VCEK is signed by the ASK and the ASK by the ARK (RSASSA-PSS, SHA-384),
 * the ARK is a shipped root (or the anchor's), a missing ASK or ARK entry
 * is taken from the shipped ones; the VCEK's TCB (bl, tee, snp, ucode SPL)
 * and hwID extensions equal the report's REPORTED_TCB and CHIP_ID; the
 * report's signature (ECDSA P-384, SHA-384 over bytes 0..0x29f) verifies
 * with the VCEK. Reason codes: attest.bad_quote (table layout), attest.chain
 * (no VCEK, a VLEK-signed report, chain not to the root), attest.tcb_mismatch,
 * attest.quote_sig, attest.nomem. a may be NULL. */
int attest_snp_verify_sig(const uint8_t *report, size_t n, const uint8_t *certs, size_t certs_len,
			  const struct attest_anchor *a, struct kerr *err);

#endif
