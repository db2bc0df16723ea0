/* attest.c: attestation evidence documents (attestation.json) and their
 * tiers. Owns detection order (configfs-tsm, then /dev/tdx_guest, then
 * /dev/sev-guest, else mock), the binding of a manifest digest into 64 bytes
 * of report data, the canonical evidence JSON, the mock path with its local
 * Ed25519 key, and verification. Never labels mock evidence anything but
 * "mock"/unverified/0.5, and never falls back to mock quietly. */
#include "proof/attest.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proof/attest_chain.h"
#include "proof/keys.h"
#include "util/fsutil.h"
#include "util/jsonmem.h"
#include "util/log.h"

#define ATTEST_FORMAT "karpa-attest-1"
#define ATTEST_RD_PREFIX "karpa-attest-v1:" /* domain separation: no other hash of a digest collides */
#define ATTEST_MOCK_KEY_NAME "attest-mock.key"
#define ATTEST_MOCK_WARNING "mock attestation: not hardware evidence"
#define ATTEST_ALPHA_VERIFIED 1.0
#define ATTEST_ALPHA_UNVERIFIED 0.5
#define ATTEST_DUMP_FLAGS (JSON_COMPACT | JSON_SORT_KEYS)
#define RD_HEX_BYTES (2 * ATTEST_REPORT_DATA_BYTES + 1)

_Static_assert(ATTEST_REPORT_DATA_BYTES == crypto_hash_sha512_BYTES, "report data is one SHA-512");

/* Every field an evidence document of each family carries, sorted; a
 * document with more or fewer is refused, so nothing unsigned or unchecked
 * can ride along. */
static const char *const mock_fields[] = { "alpha", "attestation_key", "format", "kind", "manifest_sha256",
					   "report_data", "signature", "tier", "warning" };
static const char *const hw_fields[] = { "alpha", "format", "generation", "kind", "manifest_sha256",
					 "outblob", "provider", "report_data", "tier" };
/* SEV-SNP adds the host's certificate table, which the report's signature
 * needs (its VCEK chain) and which TDX quotes carry inside themselves. */
static const char *const snp_fields[] = { "alpha", "auxblob", "format", "generation", "kind", "manifest_sha256",
					  "outblob", "provider", "report_data", "tier" };
#define FIELDS_N 9
#define SNP_FIELDS_N 10

/* ---------------------------------------------------------------- binding */

static int digest_ok(const char *d)
{
	return hash_is_hex(d, HASH_HEX_BYTES - 1);
}

int attest_report_data(const char *manifest_sha256, uint8_t rd[ATTEST_REPORT_DATA_BYTES], struct kerr *err)
{
	char msg[sizeof ATTEST_RD_PREFIX + HASH_HEX_BYTES];

	if (!digest_ok(manifest_sha256))
		return kerr_set(err, "attest.bad_digest", "manifest digest is not 64 lowercase hex digits");
	snprintf(msg, sizeof msg, "%s%s", ATTEST_RD_PREFIX, manifest_sha256);
	crypto_hash_sha512(rd, (const unsigned char *)msg, strlen(msg));
	return 0;
}

/* ---------------------------------------------------------------- detection */

enum via { VIA_MOCK, VIA_TSM, VIA_DEV };

struct found {
	enum via via;
	char kind[32];
	int tsm_failed;      /* the report directory exists but could not be used */
	struct kerr tsm_err; /* why, for the message a later failure shows */
};

static int dev_kind(const struct attest_opts *o, char kind[32])
{
	const char *root = o && o->dev_root ? o->dev_root : "/dev";
	char p[FS_PATH_MAX];

	if (snprintf(p, sizeof p, "%s/tdx_guest", root) < (int)sizeof p && fs_exists(p)) {
		snprintf(kind, 32, "tdx");
		return 1;
	}
	if (snprintf(p, sizeof p, "%s/sev-guest", root) < (int)sizeof p && fs_exists(p)) {
		snprintf(kind, 32, "sev-snp");
		return 1;
	}
	return 0;
}

static void find_hw(const struct attest_opts *o, struct found *f)
{
	int r;

	memset(f, 0, sizeof *f);
	snprintf(f->kind, sizeof f->kind, "mock");
	if (o && o->force_mock)
		return;
	r = attest_tsm_probe(o, f->kind, &f->tsm_err);
	if (r == 1) {
		f->via = VIA_TSM;
		return;
	}
	f->tsm_failed = r < 0;
	snprintf(f->kind, sizeof f->kind, "mock");
	if (dev_kind(o, f->kind))
		f->via = VIA_DEV;
}

int attest_detect(const struct attest_opts *o, char kind[32], struct kerr *err)
{
	struct found f;

	(void)err; /* absence of hardware is the mock path, not an error */
	find_hw(o, &f);
	snprintf(kind, 32, "%s", f.kind);
	return 0;
}

/* ---------------------------------------------------------------- evidence */

static int dump(json_t *doc, char **out, size_t *len, struct kerr *err)
{
	*out = json_dumps(doc, ATTEST_DUMP_FLAGS);
	if (!*out)
		return kerr_set(err, "attest.nomem", "cannot serialise the evidence");
	*len = strlen(*out);
	return 0;
}

static void result_set(struct attest_result *r, const char *kind)
{
	int mock = !strcmp(kind, "mock");

	snprintf(r->kind, sizeof r->kind, "%s", kind);
	r->tier = mock ? ATTEST_UNVERIFIED : ATTEST_VERIFIED;
	r->alpha = mock ? ATTEST_ALPHA_UNVERIFIED : ATTEST_ALPHA_VERIFIED;
	r->vendor_chain_checked = !mock; /* hardware evidence is verified only through its chain */
}

/* The vendor signatures over a hardware blob that passed its structural
 * check: a TDX quote carries its chain, an SEV-SNP report relies on the
 * host's certificate table (aux) beside it. */
static int hw_chain(const struct attest_hw *hw, const struct attest_anchor *a, struct kerr *err)
{
	if (!strcmp(hw->kind, "tdx"))
		return attest_tdx_verify_sig(hw->blob, hw->blob_len, a, err);
	return attest_snp_verify_sig(hw->blob, hw->blob_len, hw->aux, hw->aux_len, a, err);
}

/* Standard base64 with padding, as the evidence spells binary fields. */
static char *b64_encode(const uint8_t *bin, size_t n)
{
	size_t len = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
	char *b64 = malloc(len);

	if (b64)
		sodium_bin2base64(b64, len, bin, n, sodium_base64_VARIANT_ORIGINAL);
	return b64;
}

/* The evidence field name, base64, decoded into a fresh buffer of at most
 * max bytes. */
static int b64_field(json_t *doc, const char *name, size_t max, uint8_t **out, size_t *out_len, struct kerr *err)
{
	const char *b64 = json_string_value(json_object_get(doc, name)), *end = NULL;
	size_t b64_len = strlen(b64), cap = b64_len / 4 * 3 + 3;

	*out = NULL;
	if (cap > max + 3)
		return kerr_set(err, "attest.bad_quote", "%s larger than %zu bytes", name, max);
	*out = malloc(cap);
	if (!*out)
		return kerr_set(err, "attest.nomem", "out of memory decoding the %s", name);
	if (sodium_base642bin(*out, cap, b64, b64_len, NULL, out_len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != b64 + b64_len) {
		free(*out);
		*out = NULL;
		return kerr_set(err, "attest.parse", "%s is not base64", name);
	}
	return 0;
}

static int hw_evidence(const char *digest, const char *rd_hex, const struct attest_hw *hw, struct attest_result *r,
		       struct kerr *err)
{
	char *b64 = b64_encode(hw->blob, hw->blob_len);
	char *aux = strcmp(hw->kind, "sev-snp") ? NULL : b64_encode(hw->aux, hw->aux_len);
	json_t *doc = NULL;
	int rc = -1;

	if (!b64 || (!strcmp(hw->kind, "sev-snp") && !aux)) {
		kerr_set(err, "attest.nomem", "out of memory encoding the outblob");
		goto out;
	}
	doc = json_pack("{s:s, s:s, s:s, s:f, s:s, s:s, s:s, s:I, s:s}", "format", ATTEST_FORMAT, "kind", hw->kind,
			"tier", "verified", "alpha", ATTEST_ALPHA_VERIFIED, "report_data", rd_hex, "manifest_sha256",
			digest, "provider", hw->provider, "generation", (json_int_t)hw->generation, "outblob", b64);
	if (!doc || (aux && json_object_set_new(doc, "auxblob", json_string(aux)) < 0)) {
		kerr_set(err, "attest.nomem", "cannot build the evidence document");
		goto out;
	}
	if (dump(doc, &r->json, &r->json_len, err) < 0)
		goto out;
	result_set(r, hw->kind);
	rc = 0;
out:
	json_decref(doc);
	free(b64);
	free(aux);
	return rc;
}

/* The mock key lives in its own file so it can never be mistaken for (or
 * leak as) the miner's identity. Created on first use. */
static int mock_key(const struct attest_opts *o, struct keys *k, struct kerr *err)
{
	char path[FS_PATH_MAX], dir[FS_PATH_MAX];
	char code[KERR_CODE_MAX];

	if (o && o->mock_key) {
		if (fs_join(path, sizeof path, err, "%s", o->mock_key) < 0)
			return -1;
	} else if (fs_cache_dir(dir, sizeof dir, err) < 0 || fs_mkdir_p(dir, err) < 0 ||
		   fs_join(path, sizeof path, err, "%s/%s", dir, ATTEST_MOCK_KEY_NAME) < 0) {
		return -1;
	}
	if (!fs_exists(path)) {
		if (keys_generate(path, k, err) == 0)
			return 0;
		if (strcmp(err->code, "keys.exists") != 0)
			goto fail;
		/* another process created it first: use theirs */
	}
	if (keys_load(path, k, err) == 0)
		return 0;
fail:
	snprintf(code, sizeof code, "%s", err->code);
	snprintf(err->code, sizeof err->code, "attest.mock_key");
	kerr_prefix(err, "mock attestation key (%s)", code);
	return -1;
}

static int mock_evidence(const struct attest_opts *o, const char *digest, const char *rd_hex,
			 struct attest_result *r, struct kerr *err)
{
	struct keys k;
	uint8_t sig[KEYS_SIG_BYTES];
	char sig_hex[KEYS_SIG_HEX_BYTES];
	char *body = NULL;
	size_t body_len = 0;
	json_t *doc = NULL;
	int rc = -1;

	if (mock_key(o, &k, err) < 0)
		return -1;
	doc = json_pack("{s:s, s:s, s:s, s:f, s:s, s:s, s:s, s:s}", "format", ATTEST_FORMAT, "kind", "mock", "tier",
			"unverified", "alpha", ATTEST_ALPHA_UNVERIFIED, "warning", ATTEST_MOCK_WARNING,
			"manifest_sha256", digest, "report_data", rd_hex, "attestation_key", k.pk_hex);
	if (!doc) {
		kerr_set(err, "attest.nomem", "cannot build the evidence document");
		goto out;
	}
	/* Signed bytes: the canonical document without its signature field. */
	if (dump(doc, &body, &body_len, err) < 0)
		goto out;
	if (keys_sign(&k, body, body_len, sig) < 0) {
		kerr_set(err, "attest.mock_key", "signing the mock evidence failed");
		goto out;
	}
	keys_hex_encode(sig, sizeof sig, sig_hex);
	if (json_object_set_new(doc, "signature", json_string(sig_hex)) < 0 ||
	    dump(doc, &r->json, &r->json_len, err) < 0)
		goto out;
	result_set(r, "mock");
	rc = 0;
out:
	keys_wipe(&k);
	free(body);
	json_decref(doc);
	return rc;
}

static void warn_mock(const struct attest_opts *o, const struct found *f)
{
	if (!o || !o->progress)
		return;
	if (o->force_mock)
		log_msg(LOG_NOTICE, "karpa", "MOCK ATTESTATION: hardware detection skipped on request; "
						     "this bundle is tier unverified (alpha 0.5)");
	else
		log_msg(LOG_NOTICE, "karpa", "MOCK ATTESTATION: no confidential-compute hardware found; "
						     "this bundle is tier unverified (alpha 0.5)");
	if (f->tsm_failed)
		log_msg(LOG_NOTICE, "karpa", "(configfs-tsm is present but unusable: %s)", f->tsm_err.msg);
}

int attest_produce(const struct attest_opts *o, const char *manifest_sha256, struct attest_result *r,
		   struct kerr *err)
{
	uint8_t rd[ATTEST_REPORT_DATA_BYTES];
	char rd_hex[RD_HEX_BYTES];
	struct attest_hw hw;
	struct found f;
	int rc = -1;

	memset(r, 0, sizeof *r);
	memset(&hw, 0, sizeof hw);
	if (attest_report_data(manifest_sha256, rd, err) < 0)
		return -1;
	keys_hex_encode(rd, sizeof rd, rd_hex);
	find_hw(o, &f);
	switch (f.via) {
	case VIA_MOCK:
		warn_mock(o, &f);
		return mock_evidence(o, manifest_sha256, rd_hex, r, err);
	case VIA_TSM:
		if (attest_tsm_report(o, rd, &hw, err) < 0)
			goto out;
		break;
	case VIA_DEV:
		if (attest_dev_report(o, f.kind, rd, &hw, err) < 0) {
			if (f.tsm_failed)
				kerr_prefix(err, "configfs-tsm unusable (%s); device path", f.tsm_err.msg);
			goto out;
		}
		break;
	}
	/* A validator would refuse this evidence: say so now, with the way out. */
	if (hw_chain(&hw, o ? o->anchor : NULL, err) < 0) {
		kerr_prefix(err, "this machine's %s evidence would be refused (rerun with --mock-attestation for the "
			    "unverified tier)", hw.kind);
		goto out;
	}
	rc = hw_evidence(manifest_sha256, rd_hex, &hw, r, err);
out:
	free(hw.blob);
	free(hw.aux);
	return rc;
}

void attest_result_free(struct attest_result *r)
{
	if (!r)
		return;
	free(r->json);
	r->json = NULL;
	r->json_len = 0;
}

/* ---------------------------------------------------------------- verification */

static const char *str_field(json_t *doc, const char *name)
{
	return json_string_value(json_object_get(doc, name));
}

/* Exactly the expected fields, each present once (duplicates are refused
 * at parse time). */
static int fields_exact(json_t *doc, const char *const *names, size_t n, struct kerr *err)
{
	const char *key;
	json_t *v;

	if (json_object_size(doc) != n) {
		for (size_t i = 0; i < n; i++)
			if (!json_object_get(doc, names[i]))
				return kerr_set(err, "attest.parse", "evidence lacks the field \"%s\"", names[i]);
	}
	json_object_foreach(doc, key, v) {
		size_t i = 0;
		while (i < n && strcmp(key, names[i]) != 0)
			i++;
		if (i == n)
			return kerr_set(err, "attest.parse", "evidence has an unexpected field \"%.64s\"", key);
		if (strcmp(key, "alpha") && strcmp(key, "generation") && !json_is_string(v))
			return kerr_set(err, "attest.parse", "evidence field \"%s\" is not a string", key);
	}
	return 0;
}

static int parse_canonical(const char *json, size_t len, json_t **out, struct kerr *err)
{
	json_error_t jerr;
	char *again = NULL;
	size_t body_len = len;
	json_t *doc;
	int rc = -1;

	*out = NULL;
	if (!json || len > ATTEST_EVIDENCE_BYTES_MAX)
		return kerr_set(err, "attest.parse", "evidence is missing or larger than %u bytes",
				ATTEST_EVIDENCE_BYTES_MAX);
	if (jsonmem_loadb(json, len, &doc, &jerr, "attest.nomem", err) < 0) {
		kerr_prefix(err, "evidence");
		goto out;
	}
	if (!doc)
		return kerr_set(err, "attest.parse", "evidence is not JSON: line %d: %s", jerr.line, jerr.text);
	if (!json_is_object(doc)) {
		kerr_set(err, "attest.parse", "evidence is not a JSON object");
		goto out;
	}
	/* One spelling per document, so its digest is a property of its content. */
	if (body_len > 0 && json[body_len - 1] == '\n')
		body_len--;
	if (!(again = jsonmem_dumps(doc, ATTEST_DUMP_FLAGS, "attest.nomem", err))) {
		kerr_prefix(err, "evidence");
		goto out;
	}
	if (strlen(again) != body_len || memcmp(again, json, body_len) != 0) {
		kerr_set(err, "attest.parse", "evidence is not in canonical form (compact, sorted keys)");
		goto out;
	}
	*out = doc;
	doc = NULL;
	rc = 0;
out:
	free(again);
	json_decref(doc);
	return rc;
}

static int verify_mock(json_t *doc, struct kerr *err)
{
	uint8_t pk[KEYS_PK_BYTES], sig[KEYS_SIG_BYTES];
	json_t *unsigned_doc = NULL;
	char *body = NULL;
	size_t body_len = 0;
	int rc = -1;

	if (strcmp(str_field(doc, "warning"), ATTEST_MOCK_WARNING) != 0)
		return kerr_set(err, "attest.parse", "mock evidence without its warning text");
	if (keys_hex_decode(str_field(doc, "attestation_key"), pk, sizeof pk) < 0 ||
	    keys_hex_decode(str_field(doc, "signature"), sig, sizeof sig) < 0)
		return kerr_set(err, "attest.parse", "mock evidence: attestation_key or signature is not lowercase hex "
				"of the right length");
	/* a copy made short of memory may lack members, and fail the signature */
	const unsigned long jm = jsonmem_begin();
	unsigned_doc = json_copy(doc);
	if (!unsigned_doc || json_object_del(unsigned_doc, "signature") < 0 ||
	    dump(unsigned_doc, &body, &body_len, err) < 0 || jsonmem_failed(jm)) {
		kerr_set(err, "attest.nomem", "cannot rebuild the signed evidence bytes");
		goto out;
	}
	if (keys_verify(pk, body, body_len, sig, err) < 0) {
		snprintf(err->code, sizeof err->code, "attest.bad_signature");
		kerr_prefix(err, "mock evidence");
		goto out;
	}
	rc = 0;
out:
	free(body);
	json_decref(unsigned_doc);
	return rc;
}

static int verify_hw(json_t *doc, const char *kind, const uint8_t rd[ATTEST_REPORT_DATA_BYTES],
		     const struct attest_anchor *a, struct kerr *err)
{
	const char *provider = str_field(doc, "provider");
	json_t *gen = json_object_get(doc, "generation");
	struct attest_hw hw = { 0 };
	int tdx = !strcmp(kind, "tdx"), rc = -1;

	if (tdx ? strcmp(provider, "tdx_guest") != 0
		: strcmp(provider, "sev_guest") != 0 && strcmp(provider, "sev-guest-ioctl") != 0)
		return kerr_set(err, "attest.bad_quote", "provider \"%.64s\" does not produce %s evidence", provider, kind);
	if (!json_is_integer(gen) || json_integer_value(gen) < 0)
		return kerr_set(err, "attest.parse", "evidence field \"generation\" is not a non-negative integer");
	snprintf(hw.kind, sizeof hw.kind, "%s", kind);
	if (b64_field(doc, "outblob", ATTEST_TDX_QUOTE_BYTES_MAX, &hw.blob, &hw.blob_len, err) < 0 ||
	    (!tdx && b64_field(doc, "auxblob", ATTEST_SNP_CERTS_BYTES_MAX, &hw.aux, &hw.aux_len, err) < 0))
		goto out;
	if (tdx ? attest_check_tdx_quote(hw.blob, hw.blob_len, rd, err) < 0
		: attest_check_snp_report(hw.blob, hw.blob_len, rd, err) < 0)
		goto out;
	if (hw_chain(&hw, a, err) < 0)
		goto out;
	rc = 0;
out:
	free(hw.blob);
	free(hw.aux);
	return rc;
}

static int check_tier(json_t *doc, const char *kind, struct kerr *err)
{
	int mock = !strcmp(kind, "mock");
	const char *tier = str_field(doc, "tier");
	json_t *alpha = json_object_get(doc, "alpha");
	double want = mock ? ATTEST_ALPHA_UNVERIFIED : ATTEST_ALPHA_VERIFIED;

	if (strcmp(tier, mock ? "unverified" : "verified") != 0)
		return kerr_set(err, "attest.parse", "%s evidence claims tier \"%.32s\"", kind, tier);
	if (!json_is_real(alpha) || json_real_value(alpha) != want)
		return kerr_set(err, "attest.parse", "%s evidence must carry alpha %.1f", kind, want);
	return 0;
}

int attest_tier_for_run(struct attest_result *r, int on_gpu)
{
	if (!on_gpu || r->tier != ATTEST_VERIFIED)
		return 0;
	r->tier = ATTEST_UNVERIFIED;
	r->alpha = ATTEST_ALPHA_UNVERIFIED;
	return 1;
}

double attest_kind_alpha(const char *kind, int on_gpu)
{
	if (on_gpu || !kind || (strcmp(kind, "tdx") && strcmp(kind, "sev-snp")))
		return ATTEST_ALPHA_UNVERIFIED;
	return ATTEST_ALPHA_VERIFIED;
}

int attest_verify(const char *json, size_t len, const char *manifest_sha256, const char *claimed_kind,
		  struct attest_result *r, struct kerr *err)
{
	return attest_verify_with(json, len, manifest_sha256, claimed_kind, NULL, r, err);
}

int attest_verify_with(const char *json, size_t len, const char *manifest_sha256, const char *claimed_kind,
		       const struct attest_anchor *a, struct attest_result *r, struct kerr *err)
{
	uint8_t rd[ATTEST_REPORT_DATA_BYTES];
	char rd_hex[RD_HEX_BYTES];
	const char *kind, *format;
	json_t *doc = NULL;
	int rc = -1, mock;

	memset(r, 0, sizeof *r);
	if (attest_report_data(manifest_sha256, rd, err) < 0)
		return -1;
	keys_hex_encode(rd, sizeof rd, rd_hex);
	if (parse_canonical(json, len, &doc, err) < 0)
		return -1;
	format = str_field(doc, "format");
	kind = str_field(doc, "kind");
	if (!format || strcmp(format, ATTEST_FORMAT) != 0) {
		kerr_set(err, "attest.parse", "evidence format is not \"%s\"", ATTEST_FORMAT);
		goto out;
	}
	if (!kind || (strcmp(kind, "mock") && strcmp(kind, "tdx") && strcmp(kind, "sev-snp"))) {
		kerr_set(err, "attest.parse", "evidence kind is not mock, tdx or sev-snp");
		goto out;
	}
	if (!claimed_kind || strcmp(kind, claimed_kind) != 0) {
		kerr_set(err, "attest.kind_mismatch", "evidence is %s but the manifest claims %.32s", kind,
			 claimed_kind ? claimed_kind : "nothing");
		goto out;
	}
	mock = !strcmp(kind, "mock");
	if (fields_exact(doc, mock ? mock_fields : !strcmp(kind, "tdx") ? hw_fields : snp_fields,
			 mock ? FIELDS_N : !strcmp(kind, "tdx") ? FIELDS_N : SNP_FIELDS_N, err) < 0 ||
	    check_tier(doc, kind, err) < 0)
		goto out;
	if (strcmp(str_field(doc, "manifest_sha256"), manifest_sha256) != 0 ||
	    strcmp(str_field(doc, "report_data"), rd_hex) != 0) {
		kerr_set(err, "attest.binding", "evidence binds another manifest (manifest_sha256 or report_data differ)");
		goto out;
	}
	if (mock ? verify_mock(doc, err) < 0 : verify_hw(doc, kind, rd, a, err) < 0)
		goto out;
	result_set(r, kind);
	rc = 0;
out:
	json_decref(doc);
	return rc;
}
