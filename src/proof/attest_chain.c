/* attest_chain.c: the vendor signatures over a TDX quote, checked offline
 * against the Intel root certificate shipped here.
 * Owns the shipped root, the layout of a quote's ECDSA signature data
 * (Intel TDX DCAP Quoting Library API, "Quote Format", ECDSA 256-bit quote
 * signature data), the PCK chain walk (OpenSSL, a store holding only the
 * shipped root, no network), the pinned identity of Intel's TD quoting
 * enclave, and the three ECDSA P-256 checks. Never trusts a certificate
 * because the quote carries it: the quote's own copy of a root is only an
 * untrusted intermediate. */
#include "proof/attest_chain.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/x509_vfy.h>
#include <string.h>

#include "proof/attest.h"

/* Intel SGX Root CA, as published at
 * https://certificates.trustedservices.intel.com/IntelSGXRootCA.der
 * (converted to PEM). Valid 2018-05-21 to 2049-12-31. Every PCK
 * certificate, for SGX and TDX platforms alike, chains to it. */
const char attest_intel_sgx_root_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIICjzCCAjSgAwIBAgIUImUM1lqdNInzg7SVUr9QGzknBqwwCgYIKoZIzj0EAwIw\n"
	"aDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENv\n"
	"cnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJ\n"
	"BgNVBAYTAlVTMB4XDTE4MDUyMTEwNDUxMFoXDTQ5MTIzMTIzNTk1OVowaDEaMBgG\n"
	"A1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENvcnBvcmF0\n"
	"aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJBgNVBAYT\n"
	"AlVTMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC6nEwMDIYZOj/iPWsCzaEKi7\n"
	"1OiOSLRFhWGjbnBVJfVnkY4u3IjkDYYL0MxO4mqsyYjlBalTVYxFP2sJBK5zlKOB\n"
	"uzCBuDAfBgNVHSMEGDAWgBQiZQzWWp00ifODtJVSv1AbOScGrDBSBgNVHR8ESzBJ\n"
	"MEegRaBDhkFodHRwczovL2NlcnRpZmljYXRlcy50cnVzdGVkc2VydmljZXMuaW50\n"
	"ZWwuY29tL0ludGVsU0dYUm9vdENBLmRlcjAdBgNVHQ4EFgQUImUM1lqdNInzg7SV\n"
	"Ur9QGzknBqwwDgYDVR0PAQH/BAQDAgEGMBIGA1UdEwEB/wQIMAYBAf8CAQEwCgYI\n"
	"KoZIzj0EAwIDSQAwRgIhAOW/5QkR+S9CiSDcNoowLuPRLsWGf/Yi7GSX94BgwTwg\n"
	"AiEA4J0lrHoMs+Xo5o/sX6O9QWxHRAvZUGOdRQ7cvqRXaqI=\n"
	"-----END CERTIFICATE-----\n";

/* ---------------------------------------------------------------- layout */

/* Signature data: quote signature r||s, attestation key x||y (both raw,
 * big-endian), then certification data (u16 type, u32 size, data). */
#define SIG_RS_BYTES 64
#define SIG_AK_BYTES 64
#define CERT_HDR_BYTES 6
#define CERT_QE_REPORT 6u   /* QE report certification data: wraps the PCK chain */
#define CERT_PCK_CHAIN 5u   /* PEM: PCK leaf, intermediate CA, root CA */
/* Inside type 6: QE report (an SGX REPORT body), its signature by the PCK
 * key, u16 auth data size, auth data, then the inner certification data. */
#define QE_REPORT_BYTES 384
#define QE_SIG_BYTES 64
#define QE_AUTH_LEN_BYTES 2
#define QE_OFF_MISCSELECT 16
#define QE_OFF_ATTRIBUTES 48
#define QE_OFF_MRSIGNER 128
#define QE_OFF_ISVPRODID 256
#define QE_OFF_REPORTDATA 320
#define CHAIN_CERTS_MAX 8   /* Intel's chains have 3; anything past a few is not a PCK chain */

/* Intel's TD quoting enclave, as its identity is published by Intel's
 * provisioning certification service (TDX QE identity, id "TD_QE"): the
 * signer of the enclave, the product id, and the attribute bits that must
 * hold under the mask (no DEBUG). The PCK key certifies any enclave with
 * the provisioning attribute on that platform, so the chain alone does not
 * say that Intel's QE made the attestation key; these pins do. */
static const uint8_t td_qe_mrsigner[32] = {
	0xdc, 0x9e, 0x2a, 0x7c, 0x6f, 0x94, 0x8f, 0x17, 0x47, 0x4e, 0x34, 0xa7, 0xfc, 0x43, 0xed, 0x03,
	0x0f, 0x7c, 0x15, 0x63, 0xf1, 0xba, 0xbd, 0xdf, 0x63, 0x40, 0xc8, 0x2e, 0x0e, 0x54, 0xa8, 0xc5,
};
#define TD_QE_ISVPRODID 2u
static const uint8_t td_qe_attr_want[8] = { 0x11, 0, 0, 0, 0, 0, 0, 0 };
static const uint8_t td_qe_attr_mask[8] = { 0xfb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static uint32_t le(const uint8_t *p, int bytes)
{
	uint32_t v = 0;

	for (int i = bytes - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* The pieces of the signature data, as pointers into the quote. */
struct sigdata {
	const uint8_t *sig, *ak;       /* quote signature, attestation key */
	const uint8_t *qe, *qe_sig;    /* QE report and its PCK signature */
	const uint8_t *auth;           /* QE auth data */
	size_t auth_len;
	const uint8_t *pem;            /* PCK chain */
	size_t pem_len;
	size_t signed_len;             /* header + body: what the quote signature covers */
};

/* One certification data header at *p (u16 type, u32 size): the type must
 * be want and the data must run exactly to the end of the quote, since the
 * chain is the last thing in it. Leaves *p at the data. */
static int cert_data(const uint8_t *q, size_t end, size_t *p, uint32_t want, size_t *size, struct kerr *err)
{
	uint32_t type = le(q + *p, 2);

	*size = le(q + *p + 2, 4);
	*p += CERT_HDR_BYTES;
	if (type != want)
		return kerr_set(err, "attest.chain", "TDX quote: certification data type %u where %u belongs; only quotes "
				"that carry their PCK chain (type 6 around type 5) can be verified offline", type, want);
	if (*size != end - *p)
		return kerr_set(err, "attest.bad_quote", "TDX quote: certification data of %zu bytes does not fill the "
				"%zu bytes left in the quote", *size, end - *p);
	return 0;
}

static int split(const uint8_t *q, size_t n, struct sigdata *d, struct kerr *err)
{
	size_t body_off, sig_off, p, end = n, outer;

	if (attest_tdx_layout(q, n, &body_off, &sig_off, err) < 0)
		return -1;
	d->signed_len = sig_off;
	p = sig_off + 4; /* the layout check made the signature data end the blob */
	if (end - p < SIG_RS_BYTES + SIG_AK_BYTES + CERT_HDR_BYTES)
		return kerr_set(err, "attest.bad_quote", "TDX quote: signature data of %zu bytes is shorter than an "
				"ECDSA signature, key and certification header", end - p);
	d->sig = q + p;
	d->ak = q + p + SIG_RS_BYTES;
	p += SIG_RS_BYTES + SIG_AK_BYTES;
	if (cert_data(q, end, &p, CERT_QE_REPORT, &outer, err) < 0)
		return -1;
	if (outer < QE_REPORT_BYTES + QE_SIG_BYTES + QE_AUTH_LEN_BYTES)
		return kerr_set(err, "attest.bad_quote", "TDX quote: QE report certification data of %zu bytes is too "
				"short for a QE report and its signature", outer);
	d->qe = q + p;
	d->qe_sig = d->qe + QE_REPORT_BYTES;
	p += QE_REPORT_BYTES + QE_SIG_BYTES;
	d->auth_len = le(q + p, 2);
	p += QE_AUTH_LEN_BYTES;
	d->auth = q + p;
	if (end - p < d->auth_len + CERT_HDR_BYTES)
		return kerr_set(err, "attest.bad_quote", "TDX quote: QE auth data of %zu bytes overruns the quote",
				d->auth_len);
	p += d->auth_len;
	if (cert_data(q, end, &p, CERT_PCK_CHAIN, &d->pem_len, err) < 0)
		return -1;
	d->pem = q + p;
	return 0;
}

/* ---------------------------------------------------------------- crypto */

/* 1: the raw r||s signature verifies over msg with SHA-256; 0: it does not
 * (or is not a signature at all); -1: out of memory. */
static int ecdsa_verify(EVP_PKEY *pk, const uint8_t *msg, size_t n, const uint8_t rs[SIG_RS_BYTES])
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(rs, SIG_RS_BYTES / 2, NULL), *s = BN_bin2bn(rs + SIG_RS_BYTES / 2, SIG_RS_BYTES / 2, NULL);
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	unsigned char *der = NULL;
	int der_len, rc = -1;

	if (!sig || !r || !s || !mctx)
		goto out;
	ECDSA_SIG_set0(sig, r, s); /* sig owns r and s now */
	r = s = NULL;
	der_len = i2d_ECDSA_SIG(sig, &der);
	if (der_len <= 0)
		goto out;
	rc = EVP_DigestVerifyInit(mctx, NULL, EVP_sha256(), NULL, pk) == 1 &&
	     EVP_DigestVerify(mctx, der, (size_t)der_len, msg, n) == 1;
out:
	ERR_clear_error(); /* a bad signature leaves errors on the queue; they are ours to drop */
	OPENSSL_free(der);
	EVP_MD_CTX_free(mctx);
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(sig);
	return rc;
}

/* The attestation key, 64 raw bytes x||y, as a P-256 public key; NULL when
 * the point is not on the curve. */
static EVP_PKEY *p256_key(const uint8_t xy[SIG_AK_BYTES])
{
	uint8_t point[1 + SIG_AK_BYTES];
	char group[] = "prime256v1";
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *pk = NULL;

	point[0] = 0x04; /* uncompressed */
	memcpy(point + 1, xy, SIG_AK_BYTES);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point);
	params[2] = OSSL_PARAM_construct_end();
	if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pk = NULL;
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return pk;
}

static int is_p256(EVP_PKEY *pk)
{
	char group[32];

	return pk && EVP_PKEY_is_a(pk, "EC") &&
	       EVP_PKEY_get_group_name(pk, group, sizeof group, NULL) == 1 && !strcmp(group, "prime256v1");
}

int attest_pem_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return -1;
}

static X509 *pem_cert(const void *pem, size_t n)
{
	BIO *b = BIO_new_mem_buf(pem, (int)n);
	X509 *c = b ? PEM_read_bio_X509(b, NULL, attest_pem_no_passphrase, NULL) : NULL;

	BIO_free(b);
	ERR_clear_error();
	return c;
}

/* ---------------------------------------------------------------- PCK chain */

/* Intel's PCK certificates: leaf, Platform or Processor CA, root; the leaf
 * carries the SGX extension (FMSPC, TCB levels, PPID) under this OID. */
#define PCK_CHAIN_CERTS 3
#define SGX_EXTENSION_OID "1.2.840.113741.1.13.1"

/* The chain the quote carries, leaf first, verified up to the anchor's root
 * and nothing else. On success *leaf is the PCK certificate (caller frees). */
static int verify_chain(const struct sigdata *d, const struct attest_anchor *a, X509 **leaf, struct kerr *err)
{
	const char *root_pem = a && a->tdx_root_pem ? a->tdx_root_pem : attest_intel_sgx_root_pem;
	BIO *b = BIO_new_mem_buf(d->pem, (int)d->pem_len);
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509 *root = pem_cert(root_pem, strlen(root_pem)), *c = NULL;
	int rc = -1, certs = 0;

	*leaf = NULL;
	if (!b || !untrusted || !store || !ctx) {
		kerr_set(err, "attest.nomem", "out of memory verifying the PCK chain");
		goto out;
	}
	if (!root || X509_STORE_add_cert(store, root) != 1) {
		kerr_set(err, "attest.chain", "the trust root for TDX quotes is not a PEM certificate");
		goto out;
	}
	while ((c = PEM_read_bio_X509(b, NULL, attest_pem_no_passphrase, NULL)) != NULL) {
		if (++certs > CHAIN_CERTS_MAX) {
			X509_free(c);
			kerr_set(err, "attest.chain", "TDX quote: PCK chain of more than %d certificates", CHAIN_CERTS_MAX);
			goto out;
		}
		if (!*leaf) {
			*leaf = c;
		} else if (!sk_X509_push(untrusted, c)) {
			X509_free(c);
			kerr_set(err, "attest.nomem", "out of memory reading the PCK chain");
			goto out;
		}
	}
	ERR_clear_error(); /* the reader ends on "no start line": that is the end of the chain */
	if (!*leaf) {
		kerr_set(err, "attest.chain", "TDX quote: the certification data holds no PEM certificate");
		goto out;
	}
	if (X509_STORE_CTX_init(ctx, store, *leaf, untrusted) != 1) {
		kerr_set(err, "attest.nomem", "cannot set up the PCK chain verification");
		goto out;
	}
	if (a && a->at)
		X509_STORE_CTX_set_time(ctx, 0, a->at);
	if (X509_verify_cert(ctx) != 1) {
		kerr_set(err, "attest.chain", "TDX quote: the PCK certificate chain does not verify to %s: %s",
			 a && a->tdx_root_pem ? "the given root" : "the shipped Intel SGX Root CA",
			 X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
		goto out;
	}
	if (!is_p256(X509_get0_pubkey(*leaf))) {
		kerr_set(err, "attest.chain", "TDX quote: the PCK certificate's key is not ECDSA P-256");
		goto out;
	}
	/* What Intel issues, and nothing else the root signs: a PCK
	 * certificate (not a CA, with Intel's SGX extension) under one
	 * platform or processor CA under the root. */
	if (sk_X509_num(X509_STORE_CTX_get0_chain(ctx)) != PCK_CHAIN_CERTS) {
		kerr_set(err, "attest.chain", "TDX quote: a PCK chain of %d certificates where Intel's is %d (PCK, its "
			 "CA, the root)", sk_X509_num(X509_STORE_CTX_get0_chain(ctx)), PCK_CHAIN_CERTS);
		goto out;
	}
	if (X509_check_ca(*leaf) != 0) {
		kerr_set(err, "attest.chain", "TDX quote: the PCK certificate is a CA certificate");
		goto out;
	}
	{
		ASN1_OBJECT *sgx = OBJ_txt2obj(SGX_EXTENSION_OID, 1);
		int has = sgx && X509_get_ext_by_OBJ(*leaf, sgx, -1) >= 0;

		ASN1_OBJECT_free(sgx);
		if (!has) {
			kerr_set(err, "attest.chain", "TDX quote: the PCK certificate has no SGX extension (%s)",
				 SGX_EXTENSION_OID);
			goto out;
		}
	}
	rc = 0;
out:
	if (rc < 0) {
		X509_free(*leaf);
		*leaf = NULL;
	}
	ERR_clear_error();
	X509_free(root);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	sk_X509_pop_free(untrusted, X509_free);
	BIO_free(b);
	return rc;
}

/* ---------------------------------------------------------------- quoting enclave */

static int check_qe_identity(const uint8_t *qe, struct kerr *err)
{
	if (memcmp(qe + QE_OFF_MRSIGNER, td_qe_mrsigner, sizeof td_qe_mrsigner) != 0)
		return kerr_set(err, "attest.qe_identity", "TDX quote: the quoting enclave is not signed by Intel "
				"(MRSIGNER differs from Intel's TD QE)");
	if (le(qe + QE_OFF_ISVPRODID, 2) != TD_QE_ISVPRODID)
		return kerr_set(err, "attest.qe_identity", "TDX quote: quoting enclave product id %u, expected %u (TD QE)",
				le(qe + QE_OFF_ISVPRODID, 2), TD_QE_ISVPRODID);
	if (le(qe + QE_OFF_MISCSELECT, 4) != 0)
		return kerr_set(err, "attest.qe_identity", "TDX quote: quoting enclave MISCSELECT is not 0");
	for (size_t i = 0; i < sizeof td_qe_attr_mask; i++)
		if ((qe[QE_OFF_ATTRIBUTES + i] & td_qe_attr_mask[i]) != td_qe_attr_want[i])
			return kerr_set(err, "attest.qe_identity", "TDX quote: quoting enclave attributes are not Intel's "
					"TD QE's (a debug enclave?)");
	return 0;
}

/* The QE report's first 32 report-data bytes are SHA-256(attestation key
 * || QE auth data) and the other 32 are zero: that is how the QE says "I
 * made this attestation key", under the PCK signature. */
static int check_qe_binding(const struct sigdata *d, struct kerr *err)
{
	uint8_t want[32], zero[32] = { 0 };
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	int ok = m && EVP_DigestInit_ex(m, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(m, d->ak, SIG_AK_BYTES) == 1 &&
		 EVP_DigestUpdate(m, d->auth, d->auth_len) == 1 && EVP_DigestFinal_ex(m, want, NULL) == 1;

	EVP_MD_CTX_free(m);
	if (!ok)
		return kerr_set(err, "attest.nomem", "cannot hash the attestation key");
	if (memcmp(d->qe + QE_OFF_REPORTDATA, want, sizeof want) != 0 ||
	    memcmp(d->qe + QE_OFF_REPORTDATA + sizeof want, zero, sizeof zero) != 0)
		return kerr_set(err, "attest.qe_binding", "TDX quote: the quoting enclave's report does not certify this "
				"attestation key (report data is not SHA-256 of key and auth data)");
	return 0;
}

/* ---------------------------------------------------------------- the whole walk */

int attest_tdx_verify_sig(const uint8_t *q, size_t n, const struct attest_anchor *a, struct kerr *err)
{
	struct sigdata d = { 0 };
	X509 *leaf = NULL;
	EVP_PKEY *ak = NULL;
	int rc = -1, v;

	if (split(q, n, &d, err) < 0 || verify_chain(&d, a, &leaf, err) < 0)
		return -1;
	v = ecdsa_verify(X509_get0_pubkey(leaf), d.qe, QE_REPORT_BYTES, d.qe_sig);
	if (v != 1) {
		kerr_set(err, v < 0 ? "attest.nomem" : "attest.qe_sig",
			 "TDX quote: the quoting enclave's report is not signed by the PCK certificate's key");
		goto out;
	}
	if (check_qe_identity(d.qe, err) < 0 || check_qe_binding(&d, err) < 0)
		goto out;
	ak = p256_key(d.ak);
	if (!ak) {
		kerr_set(err, "attest.quote_sig", "TDX quote: the attestation key is not a P-256 point");
		goto out;
	}
	v = ecdsa_verify(ak, q, d.signed_len, d.sig);
	if (v != 1) {
		kerr_set(err, v < 0 ? "attest.nomem" : "attest.quote_sig",
			 "TDX quote: the quote signature over header and TD report does not verify with the attestation key");
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_free(ak);
	X509_free(leaf);
	return rc;
}
