/* attest.h: attestation evidence and its tiers (PROTOCOL 4, "Attestation").
 * Owns detecting confidential-compute hardware, producing evidence that
 * binds a manifest digest, and checking such evidence. Two tiers:
 * verified (alpha 1.0) from TDX / SEV-SNP via Linux configfs-tsm or the
 * guest devices; unverified (alpha 0.5) from a mock signed by a local
 * attestation key, marked "mock" in every field a reader could look at. */
#ifndef KARPA_ATTEST_H
#define KARPA_ATTEST_H

#include <stddef.h>

#include "util/hash.h"
#include "util/kerr.h"

#define ATTEST_FILE "attestation.json"
#define ATTEST_TSM_ROOT_DEFAULT "/sys/kernel/config/tsm/report"
#define ATTEST_EVIDENCE_BYTES_MAX (1u << 20)

enum attest_tier { ATTEST_UNVERIFIED = 0, ATTEST_VERIFIED = 1 };

struct attest_opts {
	const char *tsm_root;   /* configfs-tsm report dir; NULL: default (tests use a fake tree) */
	const char *dev_root;   /* where tdx_guest / sev-guest live; NULL: "/dev" */
	const char *mock_key;   /* mock attestation key file; NULL: <cache>/attest-mock.key (created 0600) */
	int force_mock;         /* skip detection */
	int progress;           /* say loudly on stderr when falling back to mock */
};

struct attest_result {
	char kind[32];          /* "mock", "tdx", "sev-snp" */
	enum attest_tier tier;
	double alpha;           /* 1.0 verified, 0.5 unverified */
	char *json;             /* the evidence document (attestation.json), caller frees */
	size_t json_len;
};

/* What the hardware (or its absence) says. Never fails for lack of
 * hardware: that is the mock path. kind is the value the manifest records. */
int attest_detect(const struct attest_opts *o, char kind[32], struct kerr *err);

/* Produces evidence binding manifest_sha256 (hex): the report data is
 * SHA-512 over the string "karpa-attest-v1:" + manifest_sha256. Reason codes
 * attest.tsm (provider error, garbage outblob), attest.mock_key, fs.*. */
int attest_produce(const struct attest_opts *o, const char *manifest_sha256, struct attest_result *r,
		   struct kerr *err);

/* Checks evidence against a manifest digest and the kind the manifest
 * claims: attest.parse, attest.kind_mismatch, attest.binding (report data is
 * not this manifest's), attest.bad_signature (mock), attest.bad_quote.
 * Fills tier and alpha. */
int attest_verify(const char *json, size_t len, const char *manifest_sha256, const char *claimed_kind,
		  struct attest_result *r, struct kerr *err);

void attest_result_free(struct attest_result *r);

#endif
