/* snp_forge.h: fully signed SEV-SNP reports under a test-made AMD-like
 * certificate authority, for the attestation tests. Everything an attacker
 * without AMD's keys can build: an ARK and ASK of their own (RSA,
 * RSASSA-PSS with SHA-384 as AMD signs), a VCEK (ECDSA P-384) carrying the
 * TCB and hwID extensions, a report signed by that VCEK, and the host's
 * GUID-keyed certificate table. Built from the published layouts (SEV-SNP
 * ABI "ATTESTATION_REPORT", AMD's VCEK certificate specification, the GHCB
 * certificate table), not from attest_snp.c. Include after testutil.h and
 * tdx_forge.h (for forge_put32). */
#ifndef KARPA_SNP_FORGE_H
#define KARPA_SNP_FORGE_H

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define SNP_REPORT_BYTES 1184
#define SNP_TABLE_CAP 16384

struct snp_forge {
	EVP_PKEY *ark_key, *ask_key, *vcek_key;
	X509 *ark, *ask, *vcek;
	char *ark_pem;          /* the test anchor */
	uint8_t tcb[8];         /* REPORTED_TCB the VCEK is issued for */
	uint8_t chip_id[64];
};

/* RSASSA-PSS, SHA-384, MGF1-SHA-384, 48-byte salt: AMD's parameters. */
static inline void snp_forge_sign_pss(X509 *c, EVP_PKEY *key)
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;

	assert_int_equal(EVP_DigestSignInit(m, &pctx, EVP_sha384(), NULL, key), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 48), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha384()), 1);
	assert_true(X509_sign_ctx(c, m) > 0);
	EVP_MD_CTX_free(m);
}

/* Which VCEK extensions to spoil, for the TCB tests. */
enum snp_vcek_flaw { SNP_VCEK_GOOD, SNP_VCEK_NO_HWID, SNP_VCEK_NO_SNP_SPL, SNP_VCEK_PKCS1 };

/* A VCEK for tcb and chip_id under f's ASK, with AMD's extensions: each
 * SPL a DER INTEGER, hwID the raw 64 bytes. */
static inline X509 *snp_forge_vcek(const struct snp_forge *f, const uint8_t tcb[8], const uint8_t chip_id[64],
				   enum snp_vcek_flaw flaw)
{
	static const struct {
		const char *oid;
		int byte;
	} spl[] = {
		{ "1.3.6.1.4.1.3704.1.3.1", 0 }, { "1.3.6.1.4.1.3704.1.3.2", 1 }, { "1.3.6.1.4.1.3704.1.3.4", 2 },
		{ "1.3.6.1.4.1.3704.1.3.5", 3 }, { "1.3.6.1.4.1.3704.1.3.6", 4 }, { "1.3.6.1.4.1.3704.1.3.7", 5 },
		{ "1.3.6.1.4.1.3704.1.3.3", 6 }, { "1.3.6.1.4.1.3704.1.3.8", 7 },
	};
	X509 *c = forge_cert_unsigned("SEV-VCEK", f->vcek_key, f->ask, 0);

	for (size_t i = 0; i < sizeof spl / sizeof spl[0]; i++) {
		uint8_t v = tcb[spl[i].byte];
		uint8_t der[4] = { 0x02, 1, v };
		int len = 3;
		if (flaw == SNP_VCEK_NO_SNP_SPL && spl[i].byte == 6)
			continue;
		if (v >= 0x80) { /* DER INTEGER: positive values keep a leading zero */
			der[1] = 2, der[2] = 0, der[3] = v;
			len = 4;
		}
		forge_ext(c, spl[i].oid, der, len);
	}
	if (flaw != SNP_VCEK_NO_HWID)
		forge_ext(c, "1.3.6.1.4.1.3704.1.4", chip_id, 64);
	if (flaw == SNP_VCEK_PKCS1) /* a valid signature, but not how AMD signs */
		assert_true(X509_sign(c, f->ask_key, EVP_sha384()) > 0);
	else
		snp_forge_sign_pss(c, f->ask_key);
	return c;
}

static inline void snp_forge_init(struct snp_forge *f)
{
	memset(f, 0, sizeof *f);
	f->ark_key = EVP_RSA_gen(2048);
	f->ask_key = EVP_RSA_gen(2048);
	f->vcek_key = EVP_EC_gen("P-384");
	assert_true(f->ark_key && f->ask_key && f->vcek_key);
	f->ark = forge_cert_unsigned("ARK-Milan", f->ark_key, NULL, 1);
	snp_forge_sign_pss(f->ark, f->ark_key);
	f->ask = forge_cert_unsigned("SEV-Milan", f->ask_key, f->ark, 1);
	snp_forge_sign_pss(f->ask, f->ark_key);
	f->tcb[0] = 3, f->tcb[6] = 8, f->tcb[7] = 0xd1; /* bl 3, snp 8, microcode 209 */
	for (int i = 0; i < 64; i++)
		f->chip_id[i] = (uint8_t)(0xc0 ^ i);
	f->vcek = snp_forge_vcek(f, f->tcb, f->chip_id, SNP_VCEK_GOOD);
	f->ark_pem = forge_pem(&f->ark, 1);
}

static inline void snp_forge_free(struct snp_forge *f)
{
	EVP_PKEY_free(f->ark_key), EVP_PKEY_free(f->ask_key), EVP_PKEY_free(f->vcek_key);
	X509_free(f->ark), X509_free(f->ask), X509_free(f->vcek);
	free(f->ark_pem);
}

/* Signs the first 0x2a0 bytes of a report with key (ECDSA P-384,
 * SHA-384) into r, s: 72 little-endian bytes each at 0x2a0. */
static inline void snp_forge_sign_report(EVP_PKEY *key, uint8_t *r)
{
	ECDSA_SIG *sig = forge_ecdsa(key, EVP_sha384(), r, 0x2a0);

	memset(r + 0x2a0, 0, 0x200);
	BN_bn2lebinpad(ECDSA_SIG_get0_r(sig), r + 0x2a0, 72);
	BN_bn2lebinpad(ECDSA_SIG_get0_s(sig), r + 0x2a0 + 72, 72);
	ECDSA_SIG_free(sig);
}

/* A version 2 report from a production guest carrying rd, at f's TCB and
 * chip id, signed by f's VCEK key. */
static inline void snp_forge_report(const struct snp_forge *f, const uint8_t rd[64], uint8_t r[SNP_REPORT_BYTES])
{
	memset(r, 0, SNP_REPORT_BYTES);
	forge_put32(r, 2);            /* VERSION */
	forge_put32(r + 0x08, 0x30000); /* POLICY: SMT allowed, reserved bit 17; DEBUG (19) clear */
	forge_put32(r + 0x34, 1);     /* SIGNATURE_ALGO: ECDSA P-384 with SHA-384 */
	memcpy(r + 0x38, f->tcb, 8);  /* CURRENT_TCB */
	memcpy(r + 0x50, rd, 64);     /* REPORT_DATA */
	memset(r + 0x90, 0x6d, 48);   /* MEASUREMENT: something to flip */
	memcpy(r + 0x180, f->tcb, 8); /* REPORTED_TCB */
	memcpy(r + 0x1a0, f->chip_id, 64);
	snp_forge_sign_report(f->vcek_key, r);
}

/* The GUIDs of the host's certificate table, in their byte order. */
#define SNP_GUID_VCEK "\x63\xda\x75\x8d\xe6\x64\x45\x64\xad\xc5\xf4\xb9\x3b\xe8\xac\xcd"
#define SNP_GUID_ASK "\x4a\xb7\xb3\x79\xbb\xac\x4f\xe4\xa0\x2f\x05\xae\xf3\x27\xc7\x82"
#define SNP_GUID_ARK "\xc0\xb4\x06\xa4\xa8\x03\x49\x52\x97\x43\x3f\xb6\x01\x4c\xd0\xae"

struct snp_entry {
	const char *guid; /* 16 bytes */
	const uint8_t *data;
	size_t len;
};

/* The table: entries, an all-zero terminator, then the data. */
static inline size_t snp_forge_table(const struct snp_entry *e, int n, uint8_t *out)
{
	size_t off = (size_t)(n + 1) * 24;

	memset(out, 0, SNP_TABLE_CAP);
	for (int i = 0; i < n; i++) {
		assert_true(off + e[i].len <= SNP_TABLE_CAP);
		memcpy(out + i * 24, e[i].guid, 16);
		forge_put32(out + i * 24 + 16, (uint32_t)off);
		forge_put32(out + i * 24 + 20, (uint32_t)e[i].len);
		memcpy(out + off, e[i].data, e[i].len);
		off += e[i].len;
	}
	return off;
}

/* DER of a certificate, malloc'd. */
static inline size_t snp_der(X509 *c, uint8_t **out)
{
	int n = i2d_X509(c, NULL);
	uint8_t *p;

	assert_true(n > 0);
	*out = p = malloc((size_t)n);
	assert_int_equal(i2d_X509(c, &p), n);
	return (size_t)n;
}

/* The table a host holding vcek, ask, ark (any may be NULL) would give. */
static inline size_t snp_forge_chain_table(X509 *vcek, X509 *ask, X509 *ark, uint8_t *out)
{
	struct snp_entry e[3];
	uint8_t *der[3] = { NULL };
	X509 *c[3] = { vcek, ask, ark };
	const char *g[3] = { SNP_GUID_VCEK, SNP_GUID_ASK, SNP_GUID_ARK };
	int n = 0;
	size_t len;

	for (int i = 0; i < 3; i++) {
		if (!c[i])
			continue;
		e[n].guid = g[i];
		e[n].len = snp_der(c[i], &der[i]);
		e[n].data = der[i];
		n++;
	}
	len = snp_forge_table(e, n, out);
	for (int i = 0; i < 3; i++)
		free(der[i]);
	return len;
}

/* The evidence document an SEV-SNP machine would write around a report
 * and certificate table. Caller frees. */
static inline char *snp_forge_evidence(const uint8_t *report, const uint8_t *table, size_t table_len,
				       const char *digest, const char *rd_hex)
{
	size_t b64_len = sodium_base64_ENCODED_LEN(SNP_REPORT_BYTES, sodium_base64_VARIANT_ORIGINAL);
	size_t aux_len = sodium_base64_ENCODED_LEN(table_len, sodium_base64_VARIANT_ORIGINAL);
	char *b64 = malloc(b64_len), *aux = malloc(aux_len), *t;
	json_t *doc;

	sodium_bin2base64(b64, b64_len, report, SNP_REPORT_BYTES, sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2base64(aux, aux_len, table, table_len, sodium_base64_VARIANT_ORIGINAL);
	doc = json_pack("{s:f, s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "alpha", 1.0, "auxblob", aux, "format",
			"karpa-attest-1", "generation", (json_int_t)1, "kind", "sev-snp", "manifest_sha256", digest,
			"outblob", b64, "provider", "sev_guest", "report_data", rd_hex, "tier", "verified");
	assert_non_null(doc);
	t = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(doc);
	free(b64);
	free(aux);
	return t;
}

#endif
