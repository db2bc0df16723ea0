/* tdx_forge.h: fully signed TDX v4/v5 quotes under a test-made certificate
 * authority, for the attestation tests. Everything an attacker without
 * Intel's keys can build: a root, an intermediate and a PCK leaf of their
 * own, a quoting-enclave report that names Intel's TD QE and certifies an
 * attestation key, and a quote signed by that key. Built from the published
 * layout (Intel TDX DCAP Quoting Library API, "Quote Format"), not from
 * attest_chain.c. Include after testutil.h. */
#ifndef KARPA_TDX_FORGE_H
#define KARPA_TDX_FORGE_H

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>
#include <sys/wait.h>
#include <unistd.h>

#define FORGE_QUOTE_CAP 8192

struct forge {
	EVP_PKEY *root_key, *ca_key, *pck_key, *ak_key;
	X509 *root, *ca, *pck;
	char *root_pem;         /* the test anchor */
	char *chain_pem;        /* leaf, intermediate, root: what a quote carries */
	uint16_t qe_prodid;     /* 2, Intel's TD QE; tests change it */
	uint32_t td_attributes; /* TDATTRIBUTES' low half: bit 0 DEBUG, bit 29 MIGRATABLE */
};

static inline void forge_put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
}

static inline void forge_put32(uint8_t *p, uint32_t v)
{
	forge_put16(p, v), forge_put16(p + 2, v >> 16);
}

/* An extension oid holding der (non-critical) added to c. */
static inline void forge_ext(X509 *c, const char *oid, const uint8_t *der, int len)
{
	ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
	ASN1_OCTET_STRING *v = ASN1_OCTET_STRING_new();
	X509_EXTENSION *e;

	assert_true(o && v && ASN1_OCTET_STRING_set(v, der, len) == 1);
	e = X509_EXTENSION_create_by_OBJ(NULL, o, 0, v);
	assert_non_null(e);
	assert_int_equal(X509_add_ext(c, e, -1), 1);
	X509_EXTENSION_free(e);
	ASN1_OCTET_STRING_free(v);
	ASN1_OBJECT_free(o);
}

/* Intel's SGX extension (1.2.840.113741.1.13.1) on a PCK certificate:
 * the verifier asks that it be there; its content (an empty SEQUENCE
 * here) is Intel's business. */
static inline void forge_sgx_extension(X509 *c)
{
	static const uint8_t empty_seq[] = { 0x30, 0x00 };

	forge_ext(c, "1.2.840.113741.1.13.1", empty_seq, sizeof empty_seq);
}

/* A certificate named cn over key, issued by issuer (NULL: itself), valid
 * from an hour ago for a year, a CA when ca; not signed yet. */
static inline X509 *forge_cert_unsigned(const char *cn, EVP_PKEY *key, X509 *issuer, int ca)
{
	static long serial = 1;
	X509 *c = X509_new();
	X509_NAME *name;
	X509V3_CTX v;
	X509_EXTENSION *e;

	assert_non_null(c);
	X509_set_version(c, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c), serial++);
	X509_gmtime_adj(X509_getm_notBefore(c), -3600);
	X509_gmtime_adj(X509_getm_notAfter(c), 86400L * 365);
	name = X509_get_subject_name(c);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name);
	X509_set_pubkey(c, key);
	X509V3_set_ctx(&v, issuer ? issuer : c, c, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	assert_non_null(e);
	X509_add_ext(c, e, -1);
	X509_EXTENSION_free(e);
	if (ca) {
		e = X509V3_EXT_conf_nid(NULL, &v, NID_key_usage, "critical,keyCertSign,cRLSign");
		X509_add_ext(c, e, -1);
		X509_EXTENSION_free(e);
	} else {
		forge_sgx_extension(c);
	}
	return c;
}

static inline X509 *forge_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, int ca)
{
	X509 *c = forge_cert_unsigned(cn, key, issuer, ca);

	assert_true(X509_sign(c, issuer_key, EVP_sha256()) > 0);
	return c;
}

/* The 64 report-data bytes binding digest, as the tests compute them
 * (independently of attest.c), and their hex. */
static inline void forge_report_data(const char *digest, uint8_t rd[64], char rd_hex[129])
{
	char m[128];

	snprintf(m, sizeof m, "karpa-attest-v1:%s", digest);
	crypto_hash_sha512(rd, (const unsigned char *)m, strlen(m));
	sodium_bin2hex(rd_hex, 129, rd, 64);
}

static inline char *forge_pem(X509 *const *certs, int n)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out;
	long len;

	for (int i = 0; i < n; i++)
		assert_int_equal(PEM_write_bio_X509(b, certs[i]), 1);
	len = BIO_get_mem_data(b, &data);
	out = malloc((size_t)len + 1);
	memcpy(out, data, (size_t)len);
	out[len] = 0;
	BIO_free(b);
	return out;
}

static inline void forge_init(struct forge *f)
{
	memset(f, 0, sizeof *f);
	f->root_key = EVP_EC_gen("P-256");
	f->ca_key = EVP_EC_gen("P-256");
	f->pck_key = EVP_EC_gen("P-256");
	f->ak_key = EVP_EC_gen("P-256");
	assert_true(f->root_key && f->ca_key && f->pck_key && f->ak_key);
	f->root = forge_cert("Intel SGX Root CA", f->root_key, NULL, f->root_key, 1);
	f->ca = forge_cert("Intel SGX PCK Platform CA", f->ca_key, f->root, f->root_key, 1);
	f->pck = forge_cert("Intel SGX PCK Certificate", f->pck_key, f->ca, f->ca_key, 0);
	f->root_pem = forge_pem(&f->root, 1);
	X509 *chain[3] = { f->pck, f->ca, f->root };
	f->chain_pem = forge_pem(chain, 3);
	f->qe_prodid = 2;
}

static inline void forge_free(struct forge *f)
{
	EVP_PKEY_free(f->root_key), EVP_PKEY_free(f->ca_key), EVP_PKEY_free(f->pck_key), EVP_PKEY_free(f->ak_key);
	X509_free(f->root), X509_free(f->ca), X509_free(f->pck);
	free(f->root_pem), free(f->chain_pem);
}

/* An ECDSA signature by key over msg with md (caller frees). */
static inline ECDSA_SIG *forge_ecdsa(EVP_PKEY *key, const EVP_MD *md, const uint8_t *msg, size_t n)
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	unsigned char der[160];
	const unsigned char *p = der;
	size_t der_len = sizeof der;
	ECDSA_SIG *sig;

	assert_int_equal(EVP_DigestSignInit(m, NULL, md, NULL, key), 1);
	assert_int_equal(EVP_DigestSign(m, der, &der_len, msg, n), 1);
	sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	assert_non_null(sig);
	EVP_MD_CTX_free(m);
	return sig;
}

/* ECDSA P-256 / SHA-256 over msg, as the raw 64 bytes r||s a quote holds. */
static inline void forge_sign(EVP_PKEY *key, const uint8_t *msg, size_t n, uint8_t rs[64])
{
	ECDSA_SIG *sig = forge_ecdsa(key, EVP_sha256(), msg, n);

	BN_bn2binpad(ECDSA_SIG_get0_r(sig), rs, 32);
	BN_bn2binpad(ECDSA_SIG_get0_s(sig), rs + 32, 32);
	ECDSA_SIG_free(sig);
}

/* Fails the test unless a verification ended as wanted: rc 0 when code is
 * NULL, else rc -1 with that reason code. */
static inline void forge_expect(int rc, const struct kerr *err, const char *code, const char *what)
{
	if (code == NULL) {
		if (rc != 0)
			fail_msg("%s: expected to verify, got %s: %s", what, err->code, err->msg);
		return;
	}
	if (rc != -1 || strcmp(err->code, code) != 0)
		fail_msg("%s: expected %s, got rc %d %s: %s", what, code, rc, err->code, err->msg);
}

/* A certificate's PEM block marked as encrypted (RFC 1421 headers): reading
 * it needs a pass phrase, which a verifier must never ask anyone for. */
#define FORGE_ENCRYPTED_PEM                                                  \
	"-----BEGIN CERTIFICATE-----\n"                                      \
	"Proc-Type: 4,ENCRYPTED\n"                                           \
	"DEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\n"         \
	"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVm\n" \
	"-----END CERTIFICATE-----\n"

/* Runs check(arg) in a child with no controlling terminal and a line
 * waiting on its standard input, as a validator under a service manager or
 * a pipe would: passes when check returns 0 and the line is still unread
 * (nothing asked for a pass phrase, on the terminal or on stdin). */
static inline void forge_asks_nobody(int (*check)(void *), void *arg)
{
	static const char line[] = "hunter2\n";
	int p[2], status = -1;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], line, sizeof line - 1), (ssize_t)(sizeof line - 1));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char got[sizeof line] = { 0 };
		int ok;

		close(p[1]);
		setsid();
		dup2(p[0], 0);
		alarm(30);
		ok = check(arg) == 0;
		ok = ok && read(0, got, sizeof got) == (ssize_t)(sizeof line - 1) && !memcmp(got, line, sizeof line - 1);
		_exit(ok ? 0 : 1);
	}
	close(p[0]);
	close(p[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("the check asked for a pass phrase or did not refuse (status %d)", status);
}

/* A quote of the given version (4, or 5 with a TDX 1.5 body) carrying rd,
 * signed all the way down by f's keys, carrying chain_pem (NULL: f's own
 * chain) as its PCK chain. Returns the length written to out. */
static inline size_t forge_quote(const struct forge *f, int version, const uint8_t rd[64], const char *chain_pem,
				 uint8_t *out)
{
	static const uint8_t td_qe_mrsigner[32] = {
		0xdc, 0x9e, 0x2a, 0x7c, 0x6f, 0x94, 0x8f, 0x17, 0x47, 0x4e, 0x34, 0xa7, 0xfc, 0x43, 0xed, 0x03,
		0x0f, 0x7c, 0x15, 0x63, 0xf1, 0xba, 0xbd, 0xdf, 0x63, 0x40, 0xc8, 0x2e, 0x0e, 0x54, 0xa8, 0xc5,
	};
	const char *pem = chain_pem ? chain_pem : f->chain_pem;
	size_t pem_len = strlen(pem) + 1; /* quotes carry the chain NUL-terminated */
	size_t body, sig_off, p, qe, ak_len = 65, cert6;
	uint8_t ak[65], auth[32];
	crypto_hash_sha256_state h;

	memset(out, 0, FORGE_QUOTE_CAP);
	forge_put16(out, (uint32_t)version);
	forge_put16(out + 2, 2);     /* ECDSA-256-with-P-256 */
	forge_put32(out + 4, 0x81);  /* TDX */
	if (version == 4) {
		body = 48;
		sig_off = body + 584;
	} else {
		forge_put16(out + 48, 3);   /* TDX 1.5 TD report */
		forge_put32(out + 50, 648);
		body = 54;
		sig_off = body + 648;
	}
	memset(out + body + 136, 0x4d, 48);  /* MRTD: something to flip */
	forge_put32(out + body + 120, f->td_attributes);
	memcpy(out + body + 520, rd, 64);    /* REPORTDATA */
	p = sig_off + 4;
	assert_int_equal(EVP_PKEY_get_octet_string_param(f->ak_key, OSSL_PKEY_PARAM_PUB_KEY, ak, sizeof ak, &ak_len), 1);
	assert_int_equal(ak_len, 65);
	memcpy(out + p + 64, ak + 1, 64);    /* x||y, no 0x04 */
	cert6 = 384 + 64 + 2 + sizeof auth + 6 + pem_len;
	assert_true(p + 134 + cert6 <= FORGE_QUOTE_CAP);
	forge_put16(out + p + 128, 6);
	forge_put32(out + p + 130, (uint32_t)cert6);
	qe = p + 134;
	/* QE report: Intel's TD QE identity, report data = SHA-256(ak || auth) */
	out[qe + 48] = 0x11;                 /* INIT | PROVISIONKEY */
	memcpy(out + qe + 128, td_qe_mrsigner, 32);
	forge_put16(out + qe + 256, f->qe_prodid);
	for (size_t i = 0; i < sizeof auth; i++)
		auth[i] = (uint8_t)i;
	crypto_hash_sha256_init(&h);
	crypto_hash_sha256_update(&h, out + p + 64, 64);
	crypto_hash_sha256_update(&h, auth, sizeof auth);
	crypto_hash_sha256_final(&h, out + qe + 320);
	forge_sign(f->pck_key, out + qe, 384, out + qe + 384);
	forge_put16(out + qe + 448, sizeof auth);
	memcpy(out + qe + 450, auth, sizeof auth);
	forge_put16(out + qe + 450 + sizeof auth, 5);
	forge_put32(out + qe + 452 + sizeof auth, (uint32_t)pem_len);
	memcpy(out + qe + 456 + sizeof auth, pem, pem_len);
	forge_put32(out + sig_off, (uint32_t)(134 + cert6));
	forge_sign(f->ak_key, out, sig_off, out + p);
	return p + 134 + cert6;
}

/* The evidence document a TDX machine would write around blob, for the
 * manifest digest whose report data (hex) is rd_hex. Caller frees. */
static inline char *forge_evidence(const uint8_t *blob, size_t n, const char *digest, const char *rd_hex)
{
	size_t b64_len = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
	char *b64 = malloc(b64_len), *t;
	json_t *doc;

	sodium_bin2base64(b64, b64_len, blob, n, sodium_base64_VARIANT_ORIGINAL);
	doc = json_pack("{s:f, s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "alpha", 1.0, "format", "karpa-attest-1",
			"generation", (json_int_t)1, "kind", "tdx", "manifest_sha256", digest, "outblob", b64,
			"provider", "tdx_guest", "report_data", rd_hex, "tier", "verified");
	assert_non_null(doc);
	t = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(doc);
	free(b64);
	return t;
}

#endif
