/* test_attest_forged.c: forged TDX evidence must not earn the verified
 * tier. A quote of random bytes with the right header, size and report data
 * (accepted as verified before the vendor chain was checked) is refused; a
 * quote fully signed by an attacker's own certificate authority is refused
 * for its root alone; a real quote published by a third party (see
 * docs/attestation.md, "Test data") verifies against the shipped Intel root,
 * and each flipped byte in it is refused with the code of the part it
 * breaks. */
#include "../testutil.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>

#include "proof/attest.h"
#include "proof/attest_chain.h"
#include "proof/keys.h"
#include "util/hash.h"
#include "../tdx_forge.h"

/* Published SHA-256 fingerprint of the Intel SGX Root CA. */
#define INTEL_ROOT_SHA256 "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"
/* Instants when the samples' PCK certificates were valid (v4: 2024-08-02
 * .. 2031-08-02, v5: 2026-01-27 .. 2033-01-27), pinned so the test does not
 * rot when they expire: 2025-01-01 and 2026-06-01. */
#define SAMPLE_VALID_AT ((time_t)1735689600)
#define SAMPLE5_VALID_AT ((time_t)1780272000)
#define SAMPLE_EXPIRED_AT ((time_t)1956528000) /* 2032-01-01 */
#define V4_SIG_OFF 632                          /* 48-byte header + 584-byte TD report */
#define V5_BODY_OFF 54                          /* header + body descriptor (u16 type, u32 size) */

static char digest[HASH_HEX_BYTES], rd_hex[129];
static uint8_t rd[64];
static uint8_t sample[FORGE_QUOTE_CAP], sample5[FORGE_QUOTE_CAP];
static size_t sample_len, sample5_len;
static struct forge f;

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A published quote, as hex (the v4 one starts with "0x" and ends with 70
 * zero bytes of padding: the buffer it was read into). Padding is not part
 * of a quote, so the quote is cut where its signature data ends. */
static size_t load_sample(const char *name, uint8_t *q)
{
	const char *src = getenv("KARPA_SRC") ? getenv("KARPA_SRC") : ".";
	char path[FS_PATH_MAX], *hex, *h;
	size_t len, bin = 0, sig_off;
	struct kerr err;
	const char *end;

	snprintf(path, sizeof path, "%s/tests/data/attest/%s", src, name);
	if (fs_read_all(path, 1 << 16, &hex, &len, &err) < 0)
		fail_msg("%s: %s", path, err.msg);
	h = strncmp(hex, "0x", 2) ? hex : hex + 2;
	assert_int_equal(sodium_hex2bin(q, FORGE_QUOTE_CAP, h, len - (size_t)(h - hex), "\n", &bin, &end), 0);
	free(hex);
	sig_off = q[0] == 4 ? V4_SIG_OFF : V5_BODY_OFF + rd32(q + V5_BODY_OFF - 4);
	assert_true(sig_off + 4 + rd32(q + sig_off) <= bin);
	return sig_off + 4 + rd32(q + sig_off);
}

static int setup(void **s)
{
	(void)s;
	assert_int_equal(hash_init_lib(), 0);
	hash_buf_hex("a manifest", 10, digest);
	forge_report_data(digest, rd, rd_hex);
	sample_len = load_sample("tdx_quote_v4.hex", sample);
	sample5_len = load_sample("tdx_quote_v5.hex", sample5);
	assert_int_equal(sample5[0], 5);
	forge_init(&f);
	return 0;
}

static int teardown(void **s)
{
	(void)s;
	forge_free(&f);
	return 0;
}

static void verify_code(const uint8_t *q, size_t n, const struct attest_anchor *a, const char *code,
			const char *what)
{
	struct kerr err;

	kerr_clear(&err);
	forge_expect(attest_tdx_verify_sig(q, n, a, &err), &err, code, what);
}

static void evidence_refused(const uint8_t *q, size_t n, const struct attest_anchor *a, const char *code)
{
	char *json = forge_evidence(q, n, digest, rd_hex);
	struct attest_result r;
	struct kerr err;

	kerr_clear(&err);
	int rc = attest_verify_with(json, strlen(json), digest, "tdx", a, &r, &err);
	if (rc != -1 || strcmp(err.code, code) != 0)
		fail_msg("expected %s, got rc %d (tier %d) %s: %s", code, rc, (int)r.tier, err.code, err.msg);
	assert_int_not_equal(r.tier, ATTEST_VERIFIED);
	free(json);
}

/* (a) The attack as reported: random bytes, right header fields, size and
 * report data. Before, this earned tier verified and alpha 1.0. */
static void random_bytes_quote_is_refused(void **s)
{
	uint8_t q[4096];
	size_t n = 48 + 584 + 4 + 1000;

	(void)s;
	randombytes_buf_deterministic(q, sizeof q, (const unsigned char *)"karpa forged quote seed, 32 byte");
	forge_put16(q, 4);
	forge_put16(q + 2, 2);
	forge_put32(q + 4, 0x81);
	/* a production TD on Intel's production TDX module, not migratable:
	 * the refusal must come from the signatures */
	memset(q + 48 + 64, 0, 56); /* MRSIGNERSEAM, SEAMATTRIBUTES */
	q[48 + 120] = 0;
	q[48 + 123] = 0;
	memcpy(q + 48 + 520, rd, 64);
	forge_put32(q + 632, 1000);
	assert_int_equal(attest_check_tdx_quote(q, n, rd, &(struct kerr){ 0 }), 0); /* structurally fine */
	evidence_refused(q, n, NULL, "attest.chain");
	/* the same with every length and type in the signature data right:
	 * the PEM chain is noise, so still no chain */
	forge_put16(q + 636 + 128, 6);          /* QE report certification data */
	forge_put32(q + 636 + 130, 1000 - 134);
	forge_put16(q + 770 + 448, 32);         /* QE auth data size */
	forge_put16(q + 770 + 482, 5);          /* PCK chain */
	forge_put32(q + 770 + 484, (uint32_t)(n - (770 + 488)));
	evidence_refused(q, n, NULL, "attest.chain");
}

/* A quote signed end to end by the attacker's own root, intermediate, PCK
 * key and attestation key: everything verifies except the root. */
static void self_signed_chain_is_refused(void **s)
{
	uint8_t q[FORGE_QUOTE_CAP];
	struct attest_anchor mine = { .tdx_root_pem = f.root_pem };
	struct attest_result r;
	struct kerr err;
	char *json;
	size_t n;

	(void)s;
	for (int version = 4; version <= 5; version++) {
		n = forge_quote(&f, version, rd, NULL, q);
		verify_code(q, n, &mine, NULL, "forged quote under its own root");
		verify_code(q, n, NULL, "attest.chain", "forged quote under the shipped root");
		evidence_refused(q, n, NULL, "attest.chain");
		/* the construction is right: with the forger's root it is verified */
		json = forge_evidence(q, n, digest, rd_hex);
		assert_int_equal(attest_verify_with(json, strlen(json), digest, "tdx", &mine, &r, &err), 0);
		assert_int_equal(r.tier, ATTEST_VERIFIED);
		assert_int_equal(r.vendor_chain_checked, 1);
		free(json);
	}
}

/* Under the forger's own root (so that only the shape is at stake), a
 * chain that is not what Intel issues: a PCK certificate without Intel's
 * SGX extension, one signed by the root itself, one that is a CA. Each is
 * refused, where the well-formed chain verifies (above). */
static void chain_shape_is_intel_s(void **s)
{
	uint8_t q[FORGE_QUOTE_CAP];
	struct attest_anchor mine = { .tdx_root_pem = f.root_pem };
	ASN1_OBJECT *sgx = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
	X509 *bare = forge_cert_unsigned("Intel SGX PCK Certificate", f.pck_key, f.ca, 0);
	X509 *direct = forge_cert("Intel SGX PCK Certificate", f.pck_key, f.root, f.root_key, 0);
	X509 *calike = forge_cert("Intel SGX PCK Certificate", f.pck_key, f.ca, f.ca_key, 1);
	X509 *c1[3] = { bare, f.ca, f.root }, *c2[2] = { direct, f.root }, *c3[3] = { calike, f.ca, f.root };
	const struct {
		X509 **certs;
		int n;
		const char *what;
	} cases[] = { { c1, 3, "no SGX extension" }, { c2, 2, "a PCK chain of 2" }, { c3, 3, "is a CA" } };

	(void)s;
	assert_non_null(sgx);
	X509_EXTENSION_free(X509_delete_ext(bare, X509_get_ext_by_OBJ(bare, sgx, -1)));
	assert_true(X509_get_ext_by_OBJ(bare, sgx, -1) < 0);
	assert_true(X509_sign(bare, f.ca_key, EVP_sha256()) > 0);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *pem = forge_pem(cases[i].certs, cases[i].n);
		struct kerr err;
		size_t n = forge_quote(&f, 4, rd, pem, q);

		kerr_clear(&err);
		assert_int_equal(attest_tdx_verify_sig(q, n, &mine, &err), -1);
		assert_string_equal(err.code, "attest.chain");
		if (!strstr(err.msg, cases[i].what))
			fail_msg("%s: %s", cases[i].what, err.msg);
		free(pem);
	}
	X509_free(bare), X509_free(direct), X509_free(calike);
	ASN1_OBJECT_free(sgx);
}

/* Intel's real PCK chain, copied from a genuine quote, under signatures the
 * attacker made: the chain verifies, the QE report's signature does not. */
static void borrowed_intel_chain_is_refused(void **s)
{
	uint8_t q[FORGE_QUOTE_CAP];
	const char *b = memmem(sample, sample_len, "-----BEGIN", 10);
	char *chain;
	size_t n;

	(void)s;
	assert_non_null(b);
	chain = strndup(b, sample_len - (size_t)(b - (const char *)sample));
	n = forge_quote(&f, 4, rd, chain, q);
	evidence_refused(q, n, NULL, "attest.qe_sig");
	free(chain);
}

/* (b) A genuine quote: its chain ends in the shipped root and every
 * signature holds. Its report data is not ours, so through attest_verify
 * it is refused as another manifest's; the binding is checked apart. */
static void published_sample_verifies(void **s)
{
	struct attest_anchor at = { .at = SAMPLE_VALID_AT };
	struct kerr err;

	(void)s;
	verify_code(sample, sample_len, &at, NULL, "the published v4 sample");
	assert_int_equal(attest_check_tdx_quote(sample, sample_len, sample + 48 + 520, &err), 0);
	assert_int_equal(attest_check_tdx_quote(sample, sample_len, rd, &err), -1);
	assert_string_equal(err.code, "attest.bad_quote");
	evidence_refused(sample, sample_len, NULL, "attest.bad_quote");

	/* v5 (TDX 1.5 body): the signature also covers the body descriptor */
	uint8_t q[FORGE_QUOTE_CAP];
	at.at = SAMPLE5_VALID_AT;
	verify_code(sample5, sample5_len, &at, NULL, "the published v5 sample");
	assert_int_equal(attest_check_tdx_quote(sample5, sample5_len, sample5 + V5_BODY_OFF + 520, &err), 0);
	memcpy(q, sample5, sample5_len);
	q[V5_BODY_OFF + 600] ^= 0x80; /* MRSERVICETD, past the TDX 1.0 body */
	verify_code(q, sample5_len, &at, "attest.quote_sig", "v5 body byte");
}

/* The root compiled in is the one Intel publishes. */
static void shipped_root_is_intels(void **s)
{
	BIO *b = BIO_new_mem_buf(attest_intel_sgx_root_pem, -1);
	X509 *root = PEM_read_bio_X509(b, NULL, NULL, NULL);
	unsigned char md[32];
	unsigned int md_len = 0;
	char hex[65];

	(void)s;
	assert_non_null(root);
	assert_int_equal(X509_digest(root, EVP_sha256(), md, &md_len), 1);
	keys_hex_encode(md, sizeof md, hex);
	assert_string_equal(hex, INTEL_ROOT_SHA256);
	X509_free(root);
	BIO_free(b);
}

/* (c) One flipped byte at a time in the genuine quote. */
static void flipped_bytes_are_refused(void **s)
{
	struct attest_anchor at = { .at = SAMPLE_VALID_AT };
	size_t sd = V4_SIG_OFF + 4, qe = sd + 134, auth = qe + 384 + 64 + 2;
	const uint8_t *pem = memmem(sample, sample_len, "-----BEGIN", 10);
	const struct {
		size_t off;
		const char *code, *what;
	} cases[] = {
		{ 28, "attest.quote_sig", "header user data" },
		{ 48 + 136, "attest.quote_sig", "TD report body (MRTD)" },
		{ 48 + 520, "attest.quote_sig", "TD report body (REPORTDATA)" },
		{ sd + 5, "attest.quote_sig", "quote signature" },
		{ sd + 64 + 7, "attest.qe_binding", "attestation key" },
		{ qe + 2, "attest.qe_sig", "QE report" },
		{ qe + 384 + 9, "attest.qe_sig", "QE report signature" },
		{ auth + 3, "attest.qe_binding", "QE auth data" },
		{ (size_t)(pem - sample) + 400, "attest.chain", "PCK leaf certificate" },
	};
	uint8_t q[FORGE_QUOTE_CAP];

	(void)s;
	assert_non_null(pem);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		memcpy(q, sample, sample_len);
		q[cases[i].off] ^= 0x01;
		verify_code(q, sample_len, &at, cases[i].code, cases[i].what);
	}
	/* outside the certificates' validity, and under another root */
	at.at = SAMPLE_EXPIRED_AT;
	verify_code(sample, sample_len, &at, "attest.chain", "PCK certificate expired");
	at.at = SAMPLE_VALID_AT;
	at.tdx_root_pem = f.root_pem;
	verify_code(sample, sample_len, &at, "attest.chain", "a root that is not Intel's");
	/* trailing or missing bytes change the layout */
	verify_code(sample, sample_len - 1, NULL, "attest.bad_quote", "one byte short");
}

/* A quote whose quoting enclave is not Intel's TD QE, a debug TD and a
 * migratable one. */
static void wrong_enclave_and_debug_td_are_refused(void **s)
{
	uint8_t q[FORGE_QUOTE_CAP];
	struct attest_anchor mine = { .tdx_root_pem = f.root_pem };
	struct kerr err;
	size_t n;

	(void)s;
	f.qe_prodid = 1; /* the SGX QE, not the TD QE */
	n = forge_quote(&f, 4, rd, NULL, q);
	verify_code(q, n, &mine, "attest.qe_identity", "SGX QE product id");
	f.qe_prodid = 2;
	f.td_attributes = 0x01;
	n = forge_quote(&f, 4, rd, NULL, q);
	assert_int_equal(attest_check_tdx_quote(q, n, rd, &err), -1);
	assert_string_equal(err.code, "attest.debug");
	evidence_refused(q, n, &mine, "attest.debug");
	/* a migratable TD: a migration TD the host chose holds its state */
	f.td_attributes = 1u << 29;
	n = forge_quote(&f, 4, rd, NULL, q);
	assert_int_equal(attest_check_tdx_quote(q, n, rd, &err), -1);
	assert_string_equal(err.code, "attest.migratable");
	evidence_refused(q, n, &mine, "attest.migratable");
	n = forge_quote(&f, 5, rd, NULL, q);
	evidence_refused(q, n, &mine, "attest.migratable");
	f.td_attributes = 0;
	/* under a debug TDX module (SEAMATTRIBUTES bit 0), or one Intel did
	 * not sign (MRSIGNERSEAM not zero): the real samples have both zero */
	n = forge_quote(&f, 4, rd, NULL, q);
	q[48 + 112] = 0x01;
	assert_int_equal(attest_check_tdx_quote(q, n, rd, &err), -1);
	assert_string_equal(err.code, "attest.debug");
	evidence_refused(q, n, &mine, "attest.debug");
	q[48 + 112] = 0;
	q[48 + 64 + 47] = 0x5a;
	assert_int_equal(attest_check_tdx_quote(q, n, rd, &err), -1);
	assert_string_equal(err.code, "attest.bad_quote");
	evidence_refused(q, n, &mine, "attest.bad_quote");
}

struct quote {
	const uint8_t *q;
	size_t n;
	const struct attest_anchor *a;
};

static int chain_refused(void *arg)
{
	const struct quote *x = arg;
	struct kerr err;

	kerr_clear(&err);
	return attest_tdx_verify_sig(x->q, x->n, x->a, &err) == -1 && !strcmp(err.code, "attest.chain") ? 0 : 1;
}

/* A PCK chain whose PEM block says it is encrypted: OpenSSL's default
 * would ask the terminal, or read stdin, for its pass phrase, so a
 * miner's quote could stop a validator until someone typed a line. */
static void encrypted_chain_asks_for_no_pass_phrase(void **s)
{
	uint8_t q[FORGE_QUOTE_CAP];
	struct attest_anchor mine = { .tdx_root_pem = f.root_pem };
	struct quote x = { q, 0, &mine };
	char *chain = malloc(strlen(FORGE_ENCRYPTED_PEM) + strlen(f.chain_pem) + 1);

	(void)s;
	assert_non_null(chain);
	strcpy(chain, FORGE_ENCRYPTED_PEM);
	strcat(chain, f.chain_pem);
	x.n = forge_quote(&f, 4, rd, chain, q);
	forge_asks_nobody(chain_refused, &x);
	free(chain);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(random_bytes_quote_is_refused),
		cmocka_unit_test(self_signed_chain_is_refused),
		cmocka_unit_test(chain_shape_is_intel_s),
		cmocka_unit_test(borrowed_intel_chain_is_refused),
		cmocka_unit_test(published_sample_verifies),
		cmocka_unit_test(shipped_root_is_intels),
		cmocka_unit_test(flipped_bytes_are_refused),
		cmocka_unit_test(wrong_enclave_and_debug_td_are_refused),
		cmocka_unit_test(encrypted_chain_asks_for_no_pass_phrase),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
