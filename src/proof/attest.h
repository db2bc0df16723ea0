/* attest.h: attestation evidence and its tiers (PROTOCOL 4, "Attestation").
 * Owns detecting confidential-compute hardware, producing evidence that
 * binds a manifest digest, and checking such evidence. Two tiers:
 * verified (alpha 1.0) from a TDX quote or an SEV-SNP report, via Linux
 * configfs-tsm, whose vendor chain verifies offline (attest_chain.h; for
 * SEV-SNP the host's certificate table travels with the report);
 * unverified (alpha 0.5) from a mock signed by a local attestation key,
 * marked "mock" in every field a reader could look at. */
#ifndef KARPA_ATTEST_H
#define KARPA_ATTEST_H

#include <stddef.h>
#include <stdint.h>

#include "util/hash.h"
#include "util/kerr.h"

#define ATTEST_FILE "attestation.json"
#define ATTEST_TSM_ROOT_DEFAULT "/sys/kernel/config/tsm/report"
#define ATTEST_EVIDENCE_BYTES_MAX (1u << 20)

enum attest_tier { ATTEST_UNVERIFIED = 0, ATTEST_VERIFIED = 1 };

struct attest_anchor; /* attest_chain.h */

#define ATTEST_REPORT_DATA_BYTES 64 /* TDX REPORTDATA and SNP REPORT_DATA are both 64 bytes */

/* Test seam standing in for the kernel. A plain directory does not grow
 * attribute files on mkdir the way configfs-tsm does, so a test passes a
 * hook that attest_produce / attest_detect call after mkdir of an entry
 * (create inblob, provider, ...), after writing inblob (write outblob,
 * generation) and before rmdir (remove the files). NULL in production. */
enum attest_tsm_event { ATTEST_TSM_MKDIR, ATTEST_TSM_INBLOB, ATTEST_TSM_RMDIR };
typedef int (*attest_tsm_hook_fn)(enum attest_tsm_event ev, const char *entry_dir, void *arg);

struct attest_opts {
	const char *tsm_root;   /* configfs-tsm report dir; NULL: default (tests use a fake tree) */
	const char *dev_root;   /* where tdx_guest / sev-guest live; NULL: "/dev" */
	const char *mock_key;   /* mock attestation key file; NULL: <cache>/attest-mock.key (created 0600) */
	int force_mock;         /* skip detection */
	int progress;           /* say loudly on stderr when falling back to mock */
	attest_tsm_hook_fn tsm_hook; /* tests only: emulates configfs (see above) */
	void *tsm_hook_arg;
	const struct attest_anchor *anchor; /* tests only: another trust root; NULL: the shipped roots */
};

struct attest_result {
	char kind[32];          /* "mock", "tdx", "sev-snp" */
	enum attest_tier tier;
	double alpha;           /* 1.0 verified, 0.5 unverified */
	char *json;             /* the evidence document (attestation.json), caller frees */
	size_t json_len;
	/* 1 when the tier rests on a vendor signature chain checked offline
	 * (every verified result: hardware evidence whose chain cannot be
	 * checked is refused); 0 for mock. */
	int vendor_chain_checked;
};

/* What the hardware (or its absence) says. Never fails for lack of
 * hardware: that is the mock path. kind is the value the manifest records. */
int attest_detect(const struct attest_opts *o, char kind[32], struct kerr *err);

/* Produces evidence binding manifest_sha256 (hex): the report data is
 * SHA-512 over the string "karpa-attest-v1:" + manifest_sha256. Reason codes
 * attest.tsm (provider error, garbage outblob), attest.mock_key, fs.*, and
 * attest_verify's vendor-chain codes when the hardware's evidence would not
 * verify (so a miner learns it now, not from a validator's refusal). */
int attest_produce(const struct attest_opts *o, const char *manifest_sha256, struct attest_result *r,
		   struct kerr *err);

/* Checks evidence against a manifest digest and the kind the manifest
 * claims: attest.parse, attest.kind_mismatch, attest.binding (report data is
 * not this manifest's), attest.bad_signature (mock), attest.bad_quote,
 * attest.debug; for hardware evidence the vendor chain, offline, against
 * the shipped roots: attest.chain, attest.qe_sig, attest.qe_identity,
 * attest.qe_binding, attest.quote_sig, attest.tcb_mismatch (attest_chain.h).
 * Evidence that claims the verified tier and fails any of these is refused,
 * never demoted. Fills tier and alpha. */
int attest_verify(const char *json, size_t len, const char *manifest_sha256, const char *claimed_kind,
		  struct attest_result *r, struct kerr *err);
/* The same against another trust anchor (tests; NULL: the shipped roots). */
int attest_verify_with(const char *json, size_t len, const char *manifest_sha256, const char *claimed_kind,
		       const struct attest_anchor *a, struct attest_result *r, struct kerr *err);

/* The tier of the run the evidence is for: CPU evidence (TDX, SEV-SNP)
 * covers the CPU's confidential VM only. A run on a GPU (on_gpu: its
 * manifest has environment.device) needs the GPU's confidential-computing
 * evidence as well (PROTOCOL 4), which this code neither collects nor
 * checks: such a run is unverified (alpha 0.5) whatever its CPU evidence.
 * 1 when it lowered the tier. */
int attest_tier_for_run(struct attest_result *r, int on_gpu);

/* The alpha evidence of this kind earns once it verifies, for a run on a
 * GPU or not (attest_tier_for_run's rule): "tdx" and "sev-snp" 1.0 off a
 * GPU, anything else 0.5. What a prover plans its budget with before its
 * evidence exists (PROTOCOL 4: an unverified proof's compute counts
 * double); a validator takes alpha from attest_verify instead. */
double attest_kind_alpha(const char *kind, int on_gpu);

void attest_result_free(struct attest_result *r);

/* The 64 report-data bytes binding a manifest digest (64 lowercase hex):
 * SHA-512("karpa-attest-v1:" + manifest_sha256). attest.bad_digest when the
 * digest is not 64 lowercase hex digits. */
int attest_report_data(const char *manifest_sha256, uint8_t rd[ATTEST_REPORT_DATA_BYTES], struct kerr *err);

/* ---- hardware layer (attest_tsm.c), used by attest.c and by tests ---- */

/* Structural checks of a TDX quote (v4 or v5, TEE type 0x81, body and
 * signature lengths consistent with the blob) and of an SEV-SNP attestation
 * report (1184 bytes, known version and signature algorithm), each also
 * requiring that the embedded report data equal rd. attest.bad_quote
 * otherwise; attest.debug when the TD / guest runs in debug mode. No
 * signature or certificate is checked here (attest_chain.h does that). */
#define ATTEST_TDX_QUOTE_BYTES_MAX (64u << 10) /* a v4 quote with its PCK chain is ~5 KiB */
#define ATTEST_SNP_REPORT_BYTES 1184          /* 0x4a0, SEV-SNP ABI "ATTESTATION_REPORT" */
/* The layout alone: where the TD report body and the u32 signature data
 * length start (everything before sig_off is what the quote signature
 * covers). attest.bad_quote when the header or the lengths are wrong. */
int attest_tdx_layout(const uint8_t *q, size_t n, size_t *body_off, size_t *sig_off, struct kerr *err);
int attest_check_tdx_quote(const uint8_t *q, size_t n, const uint8_t rd[ATTEST_REPORT_DATA_BYTES],
			   struct kerr *err);
int attest_check_snp_report(const uint8_t *r, size_t n, const uint8_t rd[ATTEST_REPORT_DATA_BYTES],
			    struct kerr *err);

/* What the hardware returned for one request. */
struct attest_hw {
	char kind[32];     /* "tdx" or "sev-snp" */
	char provider[64]; /* configfs-tsm provider name, or "sev-guest-ioctl" */
	long generation;   /* configfs-tsm generation (1 for a fresh entry); 0 for the ioctl */
	uint8_t *blob;     /* quote or report, malloc'd, caller frees */
	size_t blob_len;
	uint8_t *aux;      /* SEV-SNP: the host's certificate table (auxblob), malloc'd or NULL */
	size_t aux_len;
};

/* Probes configfs-tsm: 1 and kind filled when an entry can be created and
 * names a known provider, 0 when the report directory does not exist, -1
 * (attest.tsm) when it exists but is unusable (no provider, permission). */
int attest_tsm_probe(const struct attest_opts *o, char kind[32], struct kerr *err);
/* One report through configfs-tsm: fresh entry, inblob = rd, outblob,
 * provider, for SEV-SNP auxblob (the host's certificate table; empty or
 * absent when the host provides none), generation, rmdir; the outblob must
 * pass the structural check for the provider's kind (attest.tsm
 * otherwise). */
int attest_tsm_report(const struct attest_opts *o, const uint8_t rd[ATTEST_REPORT_DATA_BYTES],
		      struct attest_hw *hw, struct kerr *err);
/* One report through a guest device under dev_root: SNP_GET_REPORT on
 * sev-guest (attest.device on failure); tdx_guest fails with
 * attest.device_unsupported (TDX quotes need configfs-tsm here). */
int attest_dev_report(const struct attest_opts *o, const char *kind, const uint8_t rd[ATTEST_REPORT_DATA_BYTES],
		      struct attest_hw *hw, struct kerr *err);

#endif
