/* test_attest_snp.c: forged SEV-SNP evidence must not earn the verified
 * tier, and genuine evidence must. A real report published with its VCEK
 * (see docs/attestation.md, "Test data") verifies against the shipped AMD
 * Milan root; each flipped byte in it (body, signature, certificate) is
 * refused with the code of the part it breaks; a report fully signed under
 * an attacker's own ARK is refused for its root alone; a VCEK for another
 * TCB or chip, a VLEK-signed report, random bytes with the right header
 * and malformed certificate tables are refused. Before this, every SEV-SNP
 * evidence was refused as attest.unverifiable, genuine or not. */
#include "../testutil.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "proof/attest.h"
#include "proof/attest_chain.h"
#include "proof/keys.h"
#include "util/hash.h"
#include "../tdx_forge.h"
#include "../snp_forge.h"

/* SHA-256 fingerprints of AMD's ARKs as AMD's key distribution service
 * serves them (cert_chain for Milan and Genoa). */
#define ARK_MILAN_SHA256 "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd"
#define ARK_GENOA_SHA256 "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1"
/* The sample's VCEK is valid 2023-04-03 .. 2030-04-03; pinned to
 * 2025-01-01 so the test does not rot, and 2031-01-01 to see it expire. */
#define SAMPLE_VALID_AT ((time_t)1735689600)
#define SAMPLE_EXPIRED_AT ((time_t)1924992000)

static char digest[HASH_HEX_BYTES], rd_hex[129];
static uint8_t rd[64];
static uint8_t sample[SNP_REPORT_BYTES];
static uint8_t *vcek_der;
static size_t vcek_der_len;
static X509 *milan_ark, *milan_ask, *sample_vcek;
static struct snp_forge f;
static const struct attest_anchor at_sample = { .at = SAMPLE_VALID_AT };

static char *read_data(const char *name, size_t *len)
{
	const char *src = getenv("KARPA_SRC") ? getenv("KARPA_SRC") : ".";
	char path[FS_PATH_MAX], *buf;
	struct kerr err;

	snprintf(path, sizeof path, "%s/tests/data/attest/%s", src, name);
	if (fs_read_all(path, 1 << 16, &buf, len, &err) < 0)
		fail_msg("%s: %s", path, err.msg);
	return buf;
}

static X509 *pem_x509(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *c = PEM_read_bio_X509(b, NULL, NULL, NULL);

	BIO_free(b);
	assert_non_null(c);
	return c;
}

static int setup(void **s)
{
	char *hex;
	size_t len, bin = 0;

	(void)s;
	assert_int_equal(hash_init_lib(), 0);
	hash_buf_hex("a manifest", 10, digest);
	forge_report_data(digest, rd, rd_hex);
	hex = read_data("snp_report_milan.hex", &len);
	assert_int_equal(sodium_hex2bin(sample, sizeof sample, hex, len, "\n", &bin, NULL), 0);
	assert_int_equal(bin, SNP_REPORT_BYTES);
	free(hex);
	vcek_der = (uint8_t *)read_data("snp_vcek_milan.der", &vcek_der_len);
	{
		const unsigned char *p = vcek_der;
		sample_vcek = d2i_X509(NULL, &p, (long)vcek_der_len);
		assert_non_null(sample_vcek);
	}
	milan_ark = pem_x509(attest_amd_roots[0].ark_pem);
	milan_ask = pem_x509(attest_amd_roots[0].ask_pem);
	snp_forge_init(&f);
	return 0;
}

static int teardown(void **s)
{
	(void)s;
	free(vcek_der);
	X509_free(milan_ark);
	X509_free(milan_ask);
	X509_free(sample_vcek);
	snp_forge_free(&f);
	return 0;
}

static void verify_code(const uint8_t *r, const uint8_t *t, size_t tn, const struct attest_anchor *a,
			const char *code, const char *what)
{
	struct kerr err;

	kerr_clear(&err);
	forge_expect(attest_snp_verify_sig(r, SNP_REPORT_BYTES, t, tn, a, &err), &err, code, what);
}

static void evidence_code(const uint8_t *r, const uint8_t *t, size_t tn, const struct attest_anchor *a,
			  const char *code)
{
	char *json = snp_forge_evidence(r, t, tn, digest, rd_hex);
	struct attest_result res;
	struct kerr err;

	kerr_clear(&err);
	int rc = attest_verify_with(json, strlen(json), digest, "sev-snp", a, &res, &err);
	if (code == NULL) {
		if (rc != 0)
			fail_msg("expected verified evidence, got %s: %s", err.code, err.msg);
		assert_int_equal(res.tier, ATTEST_VERIFIED);
		assert_int_equal(res.vendor_chain_checked, 1);
	} else if (rc != -1 || strcmp(err.code, code) != 0) {
		fail_msg("expected %s, got rc %d (tier %d) %s: %s", code, rc, (int)res.tier, err.code, err.msg);
	}
	free(json);
}

/* The sample's table: its VCEK, with or without Milan's ASK and ARK. */
static size_t sample_table(int with_ask_ark, uint8_t *out)
{
	return snp_forge_chain_table(sample_vcek, with_ask_ark ? milan_ask : NULL, with_ask_ark ? milan_ark : NULL, out);
}

static void shipped_roots_are_amds(void **s)
{
	char hex[65];
	const char *want[ATTEST_AMD_ROOTS] = { ARK_MILAN_SHA256, ARK_GENOA_SHA256 };

	(void)s;
	for (int i = 0; i < ATTEST_AMD_ROOTS; i++) {
		X509 *ark = pem_x509(attest_amd_roots[i].ark_pem), *ask = pem_x509(attest_amd_roots[i].ask_pem);
		uint8_t *der = NULL, md[32];
		size_t n = snp_der(ark, &der);

		crypto_hash_sha256(md, der, n);
		keys_hex_encode(md, sizeof md, hex);
		assert_string_equal(hex, want[i]);
		assert_string_equal(attest_amd_roots[i].ark_sha256, want[i]);
		/* each shipped ASK is its ARK's */
		assert_int_equal(X509_verify(ask, X509_get0_pubkey(ark)), 1);
		assert_int_equal(X509_verify(ark, X509_get0_pubkey(ark)), 1);
		free(der);
		X509_free(ark);
		X509_free(ask);
	}
}

/* A genuine Milan report and its VCEK: verified up to the shipped ARK,
 * whether the host gives the VCEK alone (ASK and ARK shipped) or the whole
 * chain, DER or PEM. Its REPORT_DATA is not a Karpa binding, so through
 * attest_verify it is refused for that, before any signature. */
static void published_sample_verifies(void **s)
{
	uint8_t t[SNP_TABLE_CAP];
	size_t n;

	(void)s;
	n = sample_table(0, t);
	verify_code(sample, t, n, &at_sample, NULL, "the sample with its VCEK alone");
	n = sample_table(1, t);
	verify_code(sample, t, n, &at_sample, NULL, "the sample with VCEK, ASK and ARK");
	{
		char *pem = forge_pem(&sample_vcek, 1);
		struct snp_entry e = { SNP_GUID_VCEK, (const uint8_t *)pem, strlen(pem) };
		n = snp_forge_table(&e, 1, t);
		verify_code(sample, t, n, &at_sample, NULL, "the sample with its VCEK in PEM");
		free(pem);
	}
	assert_int_equal(attest_check_snp_report(sample, sizeof sample, sample + 0x50, &(struct kerr){ 0 }), 0);
	n = sample_table(0, t);
	evidence_code(sample, t, n, &at_sample, "attest.bad_quote");
	/* out of the VCEK's validity */
	verify_code(sample, t, n, &(struct attest_anchor){ .at = SAMPLE_EXPIRED_AT }, "attest.chain", "expired VCEK");
	{
		/* the reason is the sample's own line's (Milan: expired), not
		 * the next line's (Genoa: no issuer) */
		struct kerr err;
		assert_int_equal(attest_snp_verify_sig(sample, SNP_REPORT_BYTES, t, n,
						       &(struct attest_anchor){ .at = SAMPLE_EXPIRED_AT }, &err),
				 -1);
		if (!strstr(err.msg, "expired"))
			fail_msg("expected the expiry as the reason, got: %s", err.msg);
	}
	/* under another root */
	verify_code(sample, t, n, &(struct attest_anchor){ .snp_root_pem = f.ark_pem, .at = SAMPLE_VALID_AT },
		    "attest.chain", "the sample under the test root");
}

/* One flipped byte anywhere in the genuine evidence is refused: in the
 * signed body and in the signature by the report signature; in the VCEK
 * by its chain; in a carried ARK because it is no longer AMD's. */
static void flipped_bytes_are_refused(void **s)
{
	static const struct {
		size_t off;
		const char *what;
	} report_flips[] = {
		{ 0x04, "GUEST_SVN" },        { 0x50, "REPORT_DATA" },      { 0x90, "MEASUREMENT" },
		{ 0x180, "REPORTED_TCB" },    { 0x1a0, "CHIP_ID" },         { 0x29f, "last signed byte" },
		{ 0x2a0, "signature r" },     { 0x2a0 + 47, "signature r, top byte" },
		{ 0x2a0 + 48, "signature r, zero extension" }, { 0x2a0 + 72, "signature s" },
		{ 0x2a0 + 72 + 47, "signature s, top byte" },
	};
	uint8_t r[SNP_REPORT_BYTES], t[SNP_TABLE_CAP];
	size_t n = sample_table(1, t);

	(void)s;
	for (size_t i = 0; i < sizeof report_flips / sizeof report_flips[0]; i++) {
		memcpy(r, sample, sizeof r);
		r[report_flips[i].off] ^= 0x01;
		verify_code(r, t, n, &at_sample, "attest.quote_sig", report_flips[i].what);
	}
	/* the table's entries: VCEK first, then ASK, then ARK, in that order
	 * after the 4-entry header; flip inside each certificate's signature
	 * (its last bytes) and inside the VCEK's public key */
	size_t vcek_off = 4 * 24, ask_off = vcek_off + vcek_der_len;
	size_t ark_off = ask_off + (size_t)i2d_X509(milan_ask, NULL);
	const struct {
		size_t off;
		const char *what;
	} cert_flips[] = {
		{ ask_off - 10, "VCEK signature" },
		{ vcek_off + 300, "VCEK body" },
		{ ark_off - 10, "ASK signature" },
		{ n - 10, "carried ARK signature" },
		{ ark_off + 300, "carried ARK body" },
	};
	for (size_t i = 0; i < sizeof cert_flips / sizeof cert_flips[0]; i++) {
		uint8_t t2[SNP_TABLE_CAP];
		memcpy(t2, t, n);
		t2[cert_flips[i].off] ^= 0x01;
		verify_code(sample, t2, n, &at_sample, "attest.chain", cert_flips[i].what);
	}
}

/* A report signed end to end by the attacker's ARK, ASK and VCEK, with
 * our report data: verified under that root (the construction is right),
 * refused under the shipped ones however the chain is presented. */
static void chain_under_another_root_is_refused(void **s)
{
	uint8_t r[SNP_REPORT_BYTES], t[SNP_TABLE_CAP];
	struct attest_anchor mine = { .snp_root_pem = f.ark_pem };
	size_t n;

	(void)s;
	snp_forge_report(&f, rd, r);
	n = snp_forge_chain_table(f.vcek, f.ask, f.ark, t);
	verify_code(r, t, n, &mine, NULL, "forged report under its own root");
	evidence_code(r, t, n, &mine, NULL);
	verify_code(r, t, n, NULL, "attest.chain", "forged chain with its own ARK");
	evidence_code(r, t, n, NULL, "attest.chain");
	/* without its ARK: the VCEK's ASK is not signed by any shipped ARK */
	n = snp_forge_chain_table(f.vcek, f.ask, NULL, t);
	verify_code(r, t, n, NULL, "attest.chain", "forged chain without an ARK");
	/* VCEK alone: the shipped ASKs did not sign it */
	n = snp_forge_chain_table(f.vcek, NULL, NULL, t);
	verify_code(r, t, n, NULL, "attest.chain", "forged VCEK alone");
	/* AMD's genuine ARK and ASK around the forged VCEK */
	n = snp_forge_chain_table(f.vcek, milan_ask, milan_ark, t);
	verify_code(r, t, n, NULL, "attest.chain", "forged VCEK under AMD's ASK");
	/* the forged ASK presented under AMD's genuine ARK */
	n = snp_forge_chain_table(f.vcek, f.ask, milan_ark, t);
	verify_code(r, t, n, NULL, "attest.chain", "forged ASK under AMD's ARK");
	/* with the test anchor, no ASK in the table and none shipped for it */
	n = snp_forge_chain_table(f.vcek, NULL, NULL, t);
	verify_code(r, t, n, &mine, "attest.chain", "no ASK under the test root");
	/* the genuine VCEK carried beside a forged report: its key did not sign it */
	n = sample_table(1, t);
	verify_code(r, t, n, &at_sample, "attest.quote_sig", "forged report with AMD's genuine VCEK");
	/* the structural checks still come first: a debug guest, re-signed */
	r[0x08 + 2] |= 0x08;
	snp_forge_sign_report(f.vcek_key, r);
	n = snp_forge_chain_table(f.vcek, f.ask, f.ark, t);
	evidence_code(r, t, n, &mine, "attest.debug");
	/* and a guest with a migration agent (POLICY bit 18), re-signed */
	r[0x08 + 2] &= (uint8_t)~0x08;
	r[0x08 + 2] |= 0x04;
	snp_forge_sign_report(f.vcek_key, r);
	{
		struct kerr err;
		assert_int_equal(attest_check_snp_report(r, SNP_REPORT_BYTES, rd, &err), -1);
		assert_string_equal(err.code, "attest.migratable");
	}
	evidence_code(r, t, n, &mine, "attest.migratable");
}

struct report {
	const uint8_t *r, *t;
	size_t n;
	const struct attest_anchor *a;
};

static int vcek_refused(void *arg)
{
	const struct report *x = arg;
	struct kerr err;

	kerr_clear(&err);
	return attest_snp_verify_sig(x->r, SNP_REPORT_BYTES, x->t, x->n, x->a, &err) == -1 &&
			       !strncmp(err.code, "attest.", 7)
		       ? 0
		       : 1;
}

/* A VCEK entry in PEM marked as encrypted: refused without asking anyone
 * for a pass phrase (OpenSSL's default asks the terminal or reads stdin). */
static void encrypted_vcek_asks_for_no_pass_phrase(void **s)
{
	struct attest_anchor mine = { .snp_root_pem = f.ark_pem };
	uint8_t r[SNP_REPORT_BYTES], t[SNP_TABLE_CAP];
	struct snp_entry e = { SNP_GUID_VCEK, (const uint8_t *)FORGE_ENCRYPTED_PEM, strlen(FORGE_ENCRYPTED_PEM) };
	struct report x = { r, t, 0, &mine };

	(void)s;
	snp_forge_report(&f, rd, r);
	x.n = snp_forge_table(&e, 1, t);
	forge_asks_nobody(vcek_refused, &x);
}

/* A VCEK is issued for one chip at one TCB; a genuinely signed report
 * naming another TCB or chip is refused, as is a VCEK without those
 * extensions. */
static void vcek_for_another_tcb_or_chip_is_refused(void **s)
{
	struct attest_anchor mine = { .snp_root_pem = f.ark_pem };
	static const struct {
		int byte;
		const char *what;
	} spl[] = { { 0, "boot loader" }, { 1, "TEE" }, { 6, "SNP" }, { 7, "microcode" } };
	uint8_t r[SNP_REPORT_BYTES], t[SNP_TABLE_CAP], tcb[8], chip[64];
	X509 *v;
	size_t n;

	(void)s;
	snp_forge_report(&f, rd, r);
	for (size_t i = 0; i < sizeof spl / sizeof spl[0]; i++) {
		memcpy(tcb, f.tcb, 8);
		tcb[spl[i].byte] ^= 0x81; /* also crosses the DER sign boundary */
		v = snp_forge_vcek(&f, tcb, f.chip_id, SNP_VCEK_GOOD);
		n = snp_forge_chain_table(v, f.ask, f.ark, t);
		verify_code(r, t, n, &mine, "attest.tcb_mismatch", spl[i].what);
		X509_free(v);
	}
	memcpy(chip, f.chip_id, 64);
	chip[63] ^= 1;
	v = snp_forge_vcek(&f, f.tcb, chip, SNP_VCEK_GOOD);
	n = snp_forge_chain_table(v, f.ask, f.ark, t);
	verify_code(r, t, n, &mine, "attest.tcb_mismatch", "another chip");
	evidence_code(r, t, n, &mine, "attest.tcb_mismatch");
	X509_free(v);
	v = snp_forge_vcek(&f, f.tcb, f.chip_id, SNP_VCEK_NO_HWID);
	n = snp_forge_chain_table(v, f.ask, f.ark, t);
	verify_code(r, t, n, &mine, "attest.tcb_mismatch", "no hwID");
	X509_free(v);
	v = snp_forge_vcek(&f, f.tcb, f.chip_id, SNP_VCEK_NO_SNP_SPL);
	n = snp_forge_chain_table(v, f.ask, f.ark, t);
	verify_code(r, t, n, &mine, "attest.tcb_mismatch", "no SNP SPL");
	X509_free(v);
	/* a VCEK the ASK signed with PKCS#1 v1.5: AMD signs with PSS only */
	v = snp_forge_vcek(&f, f.tcb, f.chip_id, SNP_VCEK_PKCS1);
	n = snp_forge_chain_table(v, f.ask, f.ark, t);
	verify_code(r, t, n, &mine, "attest.chain", "PKCS#1 v1.5 VCEK");
	X509_free(v);
	/* a guest that masks its chip id: CHIP_ID is zero, the VCEK names one */
	memset(r + 0x1a0, 0, 64);
	snp_forge_sign_report(f.vcek_key, r);
	n = snp_forge_chain_table(f.vcek, f.ask, f.ark, t);
	verify_code(r, t, n, &mine, "attest.tcb_mismatch", "masked chip id");
}

/* The attack as for TDX: random bytes with the right header, report data
 * and a non-zero signature; with AMD's genuine VCEK beside them, without a
 * table, and with a table that is noise. */
static void random_bytes_report_is_refused(void **s)
{
	uint8_t r[SNP_REPORT_BYTES], t[SNP_TABLE_CAP];
	size_t n;

	(void)s;
	randombytes_buf_deterministic(r, sizeof r, (const unsigned char *)"karpa forged snp report seed, 32");
	forge_put32(r, 2);
	forge_put32(r + 0x08, 0x30000);
	forge_put32(r + 0x30, 0);
	forge_put32(r + 0x34, 1);
	forge_put32(r + 0x48, 0); /* KEY_INFO: signed by the VCEK */
	memcpy(r + 0x50, rd, 64);
	assert_int_equal(attest_check_snp_report(r, sizeof r, rd, &(struct kerr){ 0 }), 0); /* structurally fine */
	n = sample_table(1, t);
	evidence_code(r, t, n, &at_sample, "attest.quote_sig");
	evidence_code(r, t, 0, NULL, "attest.chain");
	randombytes_buf_deterministic(t, 2048, (const unsigned char *)"karpa forged snp table seed, 32b");
	evidence_code(r, t, 2048, NULL, "attest.bad_quote");
	/* a table whose one entry is our VCEK GUID over noise */
	struct snp_entry e = { SNP_GUID_VCEK, r, 600 };
	n = snp_forge_table(&e, 1, t);
	evidence_code(r, t, n, NULL, "attest.chain");
}

/* Certificate tables that do not add up, and reports the VCEK did not
 * sign by design. */
static void malformed_tables_and_other_keys_are_refused(void **s)
{
	struct attest_anchor mine = { .snp_root_pem = f.ark_pem };
	uint8_t r[SNP_REPORT_BYTES], t[SNP_TABLE_CAP];
	size_t n;

	(void)s;
	snp_forge_report(&f, rd, r);
	n = snp_forge_chain_table(f.vcek, f.ask, f.ark, t);
	verify_code(r, t, n, &mine, NULL, "the forged chain");
	/* no terminator within the table */
	verify_code(r, t, 3 * 24, &mine, "attest.bad_quote", "table cut before its terminator");
	/* an entry that runs past the end */
	verify_code(r, t, n - 1, &mine, "attest.bad_quote", "last certificate cut short");
	/* two VCEK entries */
	{
		uint8_t t2[SNP_TABLE_CAP];
		memcpy(t2, t, n);
		memcpy(t2 + 24, SNP_GUID_VCEK, 16);
		verify_code(r, t2, n, &mine, "attest.bad_quote", "two VCEKs");
	}
	/* no VCEK entry: ASK and ARK alone */
	n = snp_forge_chain_table(NULL, f.ask, f.ark, t);
	verify_code(r, t, n, &mine, "attest.chain", "no VCEK");
	/* signed by a VLEK: a version 2 report from firmware that knows VLEKs
	 * names it too (SIGNING_KEY 1) */
	n = snp_forge_chain_table(f.vcek, f.ask, f.ark, t);
	forge_put32(r + 0x48, 1u << 2);
	snp_forge_sign_report(f.vcek_key, r);
	verify_code(r, t, n, &mine, "attest.chain", "VLEK-signed version 2 report");
	/* and version 3 */
	forge_put32(r, 3);
	forge_put32(r + 0x48, 1u << 2);
	snp_forge_sign_report(f.vcek_key, r);
	verify_code(r, t, n, &mine, "attest.chain", "VLEK-signed report");
	forge_put32(r + 0x48, 0);
	snp_forge_sign_report(f.vcek_key, r);
	verify_code(r, t, n, &mine, NULL, "version 3, VCEK-signed");
	/* an unknown signature algorithm is a structural refusal */
	forge_put32(r + 0x34, 2);
	snp_forge_sign_report(f.vcek_key, r);
	evidence_code(r, t, n, &mine, "attest.bad_quote");
	/* evidence without its auxblob field */
	{
		char *json = snp_forge_evidence(r, t, n, digest, rd_hex);
		json_t *doc = json_loads(json, 0, NULL);
		struct attest_result res;
		struct kerr err;
		char *t2;

		json_object_del(doc, "auxblob");
		t2 = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
		assert_int_equal(attest_verify_with(t2, strlen(t2), digest, "sev-snp", &mine, &res, &err), -1);
		assert_string_equal(err.code, "attest.parse");
		free(t2);
		free(json);
		json_decref(doc);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(shipped_roots_are_amds),
		cmocka_unit_test(published_sample_verifies),
		cmocka_unit_test(flipped_bytes_are_refused),
		cmocka_unit_test(chain_under_another_root_is_refused),
		cmocka_unit_test(vcek_for_another_tcb_or_chip_is_refused),
		cmocka_unit_test(random_bytes_report_is_refused),
		cmocka_unit_test(malformed_tables_and_other_keys_are_refused),
		cmocka_unit_test(encrypted_vcek_asks_for_no_pass_phrase),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
