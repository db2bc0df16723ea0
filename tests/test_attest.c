/* test_attest.c: mock evidence round-trips and is refused when it binds
 * another manifest, is edited, or claims another kind; a fake configfs-tsm
 * tree (a hook plays the kernel) yields TDX evidence that is verified under
 * the root that signed it and refused under the shipped Intel root, SEV-SNP
 * evidence with its certificate table (auxblob) likewise under a test AMD
 * root and refused without one, and a provider returning garbage is refused
 * with attest.tsm; detection follows configfs-tsm, tdx_guest, sev-guest,
 * mock. Forged evidence is tests/hostile/test_attest_forged.c (TDX) and
 * tests/hostile/test_attest_snp.c (SEV-SNP). */
#include "testutil.h"

#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <sys/stat.h>

#include "proof/attest.h"
#include "proof/attest_chain.h"
#include "proof/keys.h"
#include "util/hash.h"
#include "tdx_forge.h"
#include "snp_forge.h"

static char *dir;
static char digest_a[HASH_HEX_BYTES], digest_b[HASH_HEX_BYTES];
static char mock_key[FS_PATH_MAX], no_tsm[FS_PATH_MAX], no_dev[FS_PATH_MAX];
static struct forge ca;             /* signs the fake hardware's TDX quotes */
static struct snp_forge amd;        /* ... and its SEV-SNP reports */
static struct attest_anchor ca_anchor; /* both roots are the ones the tests trust */

static int setup(void **s)
{
	(void)s;
	assert_int_equal(hash_init_lib(), 0);
	/* Nothing here may touch the user's cache. */
	dir = tu_mkdtemp_own_cache();
	hash_buf_hex("manifest A", 10, digest_a);
	hash_buf_hex("manifest B", 10, digest_b);
	snprintf(mock_key, sizeof mock_key, "%s/mock.key", dir);
	snprintf(no_tsm, sizeof no_tsm, "%s/no-such-tsm", dir);
	snprintf(no_dev, sizeof no_dev, "%s/dev-empty", dir);
	assert_int_equal(mkdir(no_dev, 0755), 0);
	forge_init(&ca);
	snp_forge_init(&amd);
	ca_anchor.tdx_root_pem = ca.root_pem;
	ca_anchor.snp_root_pem = amd.ark_pem;
	return 0;
}

static int teardown(void **s)
{
	(void)s;
	tu_rmdir(dir);
	forge_free(&ca);
	snp_forge_free(&amd);
	return 0;
}

static struct attest_opts no_hw_opts(void)
{
	struct attest_opts o = { .tsm_root = no_tsm, .dev_root = no_dev, .mock_key = mock_key, .anchor = &ca_anchor };
	return o;
}

/* The test's own computation of the binding, independent of attest.c. */
static void expected_rd(const char *digest, uint8_t rd[64])
{
	char m[128];

	snprintf(m, sizeof m, "karpa-attest-v1:%s", digest);
	crypto_hash_sha512(rd, (const unsigned char *)m, strlen(m));
}

static char *reserialize(json_t *doc)
{
	char *t = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(t);
	return t;
}

static void verify_fails(const char *json, const char *digest, const char *kind, const char *code)
{
	struct attest_result r;
	struct kerr err;

	kerr_clear(&err);
	assert_int_equal(attest_verify(json, strlen(json), digest, kind, &r, &err), -1);
	if (strcmp(err.code, code) != 0)
		fail_msg("expected %s, got %s: %s", code, err.code, err.msg);
}

/* ---------------------------------------------------------------- mock */

/* What a prover plans its budget with (PROTOCOL 4): the verified tier's
 * kinds earn 1.0 off a GPU, everything else, a GPU run's CPU evidence
 * included, 0.5. */
static void kind_alpha(void **s)
{
	(void)s;
	assert_true(attest_kind_alpha("tdx", 0) == 1.0);
	assert_true(attest_kind_alpha("sev-snp", 0) == 1.0);
	assert_true(attest_kind_alpha("tdx", 1) == 0.5);
	assert_true(attest_kind_alpha("sev-snp", 1) == 0.5);
	assert_true(attest_kind_alpha("mock", 0) == 0.5);
	assert_true(attest_kind_alpha("TDX", 0) == 0.5);
	assert_true(attest_kind_alpha("", 0) == 0.5);
	assert_true(attest_kind_alpha(NULL, 0) == 0.5);
}

static void mock_round_trip(void **s)
{
	struct attest_opts o = no_hw_opts();
	struct attest_result p, v, p2;
	struct kerr err;
	struct stat sb;
	uint8_t rd[64];
	char rd_hex[129];
	json_t *doc;

	(void)s;
	assert_int_equal(attest_produce(&o, digest_a, &p, &err), 0);
	assert_string_equal(p.kind, "mock");
	assert_int_equal(p.tier, ATTEST_UNVERIFIED);
	assert_true(p.alpha == 0.5);
	assert_int_equal(stat(mock_key, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);

	doc = json_loadb(p.json, p.json_len, 0, NULL);
	assert_non_null(doc);
	expected_rd(digest_a, rd);
	keys_hex_encode(rd, 64, rd_hex);
	assert_string_equal(json_string_value(json_object_get(doc, "report_data")), rd_hex);
	assert_string_equal(json_string_value(json_object_get(doc, "kind")), "mock");
	assert_string_equal(json_string_value(json_object_get(doc, "tier")), "unverified");
	assert_string_equal(json_string_value(json_object_get(doc, "format")), "karpa-attest-1");
	assert_non_null(strstr(json_string_value(json_object_get(doc, "warning")), "mock"));
	assert_true(json_real_value(json_object_get(doc, "alpha")) == 0.5);

	assert_int_equal(attest_verify(p.json, p.json_len, digest_a, "mock", &v, &err), 0);
	assert_string_equal(v.kind, "mock");
	assert_int_equal(v.tier, ATTEST_UNVERIFIED);
	assert_true(v.alpha == 0.5);
	assert_int_equal(v.vendor_chain_checked, 0);

	/* the key is made once and reused */
	assert_int_equal(attest_produce(&o, digest_a, &p2, &err), 0);
	json_t *doc2 = json_loadb(p2.json, p2.json_len, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(doc, "attestation_key")),
			    json_string_value(json_object_get(doc2, "attestation_key")));
	json_decref(doc2);
	json_decref(doc);
	attest_result_free(&p);
	attest_result_free(&p2);
	attest_result_free(&v);
}

static void mock_default_key_lives_in_the_cache(void **s)
{
	struct attest_opts o = no_hw_opts();
	struct attest_result p;
	struct kerr err;
	char path[FS_PATH_MAX];

	(void)s;
	o.mock_key = NULL;
	assert_int_equal(attest_produce(&o, digest_a, &p, &err), 0);
	snprintf(path, sizeof path, "%s/cache/attest-mock.key", dir);
	assert_true(fs_exists(path));
	attest_result_free(&p);
	/* a loose key is refused with the mock-key code, naming the chmod */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(attest_produce(&o, digest_a, &p, &err), -1);
	assert_string_equal(err.code, "attest.mock_key");
	assert_non_null(strstr(err.msg, "chmod 600"));
	assert_int_equal(chmod(path, 0600), 0);
}

static void mock_bound_to_another_manifest_is_refused(void **s)
{
	struct attest_opts o = no_hw_opts();
	struct attest_result p;
	struct kerr err;

	(void)s;
	assert_int_equal(attest_produce(&o, digest_a, &p, &err), 0);
	verify_fails(p.json, digest_b, "mock", "attest.binding");
	attest_result_free(&p);
}

/* Rebinding: edit both binding fields to manifest B and verify against B.
 * Only the signature can catch it. */
static void mock_edited_fields_break_the_signature(void **s)
{
	struct attest_opts o = no_hw_opts();
	struct attest_result p;
	struct kerr err;
	uint8_t rd[64];
	char rd_hex[129], *t;
	json_t *doc;
	struct keys other;
	char other_path[FS_PATH_MAX];

	(void)s;
	assert_int_equal(attest_produce(&o, digest_a, &p, &err), 0);

	doc = json_loadb(p.json, p.json_len, 0, NULL);
	expected_rd(digest_b, rd);
	keys_hex_encode(rd, 64, rd_hex);
	json_object_set_new(doc, "manifest_sha256", json_string(digest_b));
	json_object_set_new(doc, "report_data", json_string(rd_hex));
	t = reserialize(doc);
	verify_fails(t, digest_b, "mock", "attest.bad_signature");
	free(t);
	json_decref(doc);

	/* one signature digit changed */
	doc = json_loadb(p.json, p.json_len, 0, NULL);
	char sig[129];
	snprintf(sig, sizeof sig, "%s", json_string_value(json_object_get(doc, "signature")));
	sig[10] = sig[10] == '0' ? '1' : '0';
	json_object_set_new(doc, "signature", json_string(sig));
	t = reserialize(doc);
	verify_fails(t, digest_a, "mock", "attest.bad_signature");
	free(t);
	json_decref(doc);

	/* someone else's attestation key in place of ours */
	snprintf(other_path, sizeof other_path, "%s/other-mock.key", dir);
	assert_int_equal(keys_generate(other_path, &other, &err), 0);
	doc = json_loadb(p.json, p.json_len, 0, NULL);
	json_object_set_new(doc, "attestation_key", json_string(other.pk_hex));
	t = reserialize(doc);
	verify_fails(t, digest_a, "mock", "attest.bad_signature");
	free(t);
	json_decref(doc);
	keys_wipe(&other);
	attest_result_free(&p);
}

static void mock_claimed_as_hardware_is_refused(void **s)
{
	struct attest_opts o = no_hw_opts();
	struct attest_result p;
	struct kerr err;
	json_t *doc;
	char *t;

	(void)s;
	assert_int_equal(attest_produce(&o, digest_a, &p, &err), 0);
	verify_fails(p.json, digest_a, "tdx", "attest.kind_mismatch");
	verify_fails(p.json, digest_a, "sev-snp", "attest.kind_mismatch");
	verify_fails(p.json, digest_a, NULL, "attest.kind_mismatch");

	/* relabelled as verified: refused before any signature matters */
	doc = json_loadb(p.json, p.json_len, 0, NULL);
	json_object_set_new(doc, "tier", json_string("verified"));
	t = reserialize(doc);
	verify_fails(t, digest_a, "mock", "attest.parse");
	free(t);
	json_object_set_new(doc, "tier", json_string("unverified"));
	json_object_set_new(doc, "alpha", json_real(1.0));
	t = reserialize(doc);
	verify_fails(t, digest_a, "mock", "attest.parse");
	free(t);
	json_decref(doc);
	attest_result_free(&p);
}

static void malformed_evidence_is_a_parse_error(void **s)
{
	struct attest_opts o = no_hw_opts();
	struct attest_result p, v;
	struct kerr err;
	json_t *doc;
	char *t, *spaced;

	(void)s;
	assert_int_equal(attest_produce(&o, digest_a, &p, &err), 0);
	/* truncated */
	assert_int_equal(attest_verify(p.json, p.json_len / 2, digest_a, "mock", &v, &err), -1);
	assert_string_equal(err.code, "attest.parse");
	/* not canonical: a space after the first colon */
	spaced = malloc(p.json_len + 2);
	const char *colon = strchr(p.json, ':');
	size_t at = (size_t)(colon - p.json) + 1;
	memcpy(spaced, p.json, at);
	spaced[at] = ' ';
	memcpy(spaced + at + 1, p.json + at, p.json_len - at + 1);
	verify_fails(spaced, digest_a, "mock", "attest.parse");
	free(spaced);
	/* an extra field */
	doc = json_loadb(p.json, p.json_len, 0, NULL);
	json_object_set_new(doc, "note", json_string("trust me"));
	t = reserialize(doc);
	verify_fails(t, digest_a, "mock", "attest.parse");
	free(t);
	/* a missing field */
	json_object_del(doc, "note");
	json_object_del(doc, "warning");
	t = reserialize(doc);
	verify_fails(t, digest_a, "mock", "attest.parse");
	free(t);
	json_decref(doc);
	/* duplicate keys, and an array */
	verify_fails("{\"format\":\"karpa-attest-1\",\"format\":\"karpa-attest-1\"}", digest_a, "mock", "attest.parse");
	verify_fails("[]", digest_a, "mock", "attest.parse");
	/* a size over the bound is refused before parsing */
	assert_int_equal(attest_verify(p.json, ATTEST_EVIDENCE_BYTES_MAX + 1, digest_a, "mock", &v, &err), -1);
	assert_string_equal(err.code, "attest.parse");
	/* a trailing newline is the one tolerated difference */
	char *nl = malloc(p.json_len + 2);
	memcpy(nl, p.json, p.json_len);
	nl[p.json_len] = '\n';
	nl[p.json_len + 1] = '\0';
	assert_int_equal(attest_verify(nl, p.json_len + 1, digest_a, "mock", &v, &err), 0);
	free(nl);
	/* the digest argument itself must be a digest */
	assert_int_equal(attest_verify(p.json, p.json_len, "ABC", "mock", &v, &err), -1);
	assert_string_equal(err.code, "attest.bad_digest");
	attest_result_free(&p);
}

static void mock_warns_loudly_on_stderr(void **s)
{
	struct attest_opts o = no_hw_opts();
	struct attest_result p;
	struct kerr err;
	char path[FS_PATH_MAX], *text;
	size_t len;
	int saved, fd;

	(void)s;
	snprintf(path, sizeof path, "%s/stderr.txt", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	o.progress = 1;
	int rc = attest_produce(&o, digest_a, &p, &err);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fd);
	assert_int_equal(rc, 0);
	assert_int_equal(fs_read_all(path, 1 << 16, &text, &len, &err), 0);
	assert_non_null(strstr(text, "MOCK ATTESTATION: no confidential-compute hardware found; "
				     "this bundle is tier unverified (alpha 0.5)"));
	free(text);
	attest_result_free(&p);
}

/* ---------------------------------------------------------------- fake hardware */

enum blob_kind { BLOB_SNP, BLOB_TDX4, BLOB_TDX5, BLOB_GARBAGE, BLOB_SNP_BAD_VERSION };

struct fake {
	const char *provider;
	enum blob_kind blob;
	const char *rd_digest;  /* whose report data the outblob carries */
	const char *generation; /* after the inblob write */
	int no_certs;           /* SEV-SNP: the host installed no certificate table */
	int inblob_matched;     /* the hook saw our expected 64 bytes */
	int mkdirs, rmdirs;
};

/* Well-formed blobs of each layout carrying rd, built from the published
 * offsets (not from attest_tsm.c); TDX quotes and SNP reports are signed
 * under the test CAs. Returns the length. */
static size_t make_blob(enum blob_kind k, const uint8_t rd[64], uint8_t *out)
{
	memset(out, 0, FORGE_QUOTE_CAP);
	switch (k) {
	case BLOB_SNP:
	case BLOB_SNP_BAD_VERSION:
		snp_forge_report(&amd, rd, out);
		if (k == BLOB_SNP_BAD_VERSION)
			forge_put32(out, 9); /* VERSION */
		return SNP_REPORT_BYTES;
	case BLOB_TDX4:
	case BLOB_TDX5:
		return forge_quote(&ca, k == BLOB_TDX4 ? 4 : 5, rd, NULL, out);
	case BLOB_GARBAGE:
		for (int i = 0; i < 100; i++)
			out[i] = (uint8_t)(i * 37 + 11);
		return 100;
	}
	return 0;
}

static void put_file(const char *entry, const char *name, const void *buf, size_t n)
{
	char p[FS_PATH_MAX];
	int fd;

	snprintf(p, sizeof p, "%s/%s", entry, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, n), (ssize_t)n);
	close(fd);
}

/* Plays the kernel: attribute files appear on mkdir, outblob and generation
 * follow an inblob write, and everything goes on rmdir. */
static int fake_kernel(enum attest_tsm_event ev, const char *entry, void *arg)
{
	static const char *const names[] = { "inblob", "outblob", "provider", "generation", "auxblob" };
	struct fake *f = arg;
	uint8_t want[64], blob[FORGE_QUOTE_CAP];
	char p[FS_PATH_MAX], *in;
	size_t n;
	struct kerr err;

	switch (ev) {
	case ATTEST_TSM_MKDIR:
		f->mkdirs++;
		put_file(entry, "inblob", "", 0);
		put_file(entry, "outblob", "", 0);
		put_file(entry, "provider", f->provider, strlen(f->provider));
		put_file(entry, "provider", f->provider, strlen(f->provider));
		put_file(entry, "generation", "0\n", 2);
		put_file(entry, "auxblob", "", 0);
		return 0;
	case ATTEST_TSM_INBLOB:
		snprintf(p, sizeof p, "%s/inblob", entry);
		if (fs_read_all(p, 4096, &in, &n, &err) < 0)
			return -1;
		expected_rd(digest_a, want);
		f->inblob_matched = n == 64 && memcmp(in, want, 64) == 0;
		free(in);
		expected_rd(f->rd_digest, want);
		n = make_blob(f->blob, want, blob);
		put_file(entry, "outblob", blob, n);
		if ((f->blob == BLOB_SNP || f->blob == BLOB_SNP_BAD_VERSION) && !f->no_certs) {
			uint8_t table[SNP_TABLE_CAP];
			put_file(entry, "auxblob", table, snp_forge_chain_table(amd.vcek, amd.ask, amd.ark, table));
		}
		put_file(entry, "generation", f->generation, strlen(f->generation));
		return 0;
	case ATTEST_TSM_RMDIR:
		f->rmdirs++;
		for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
			snprintf(p, sizeof p, "%s/%s", entry, names[i]);
			unlink(p);
		}
		return 0;
	}
	return -1;
}

static void fake_tsm_root(char *out, const char *name)
{
	snprintf(out, FS_PATH_MAX, "%s/%s", dir, name);
	fs_rm_rf(out);
	assert_int_equal(mkdir(out, 0755), 0);
}

static int dir_is_empty(const char *p)
{
	char out[64];

	return tu_run(out, sizeof out, "test -z \"$(ls -A '%s')\"", p) == 0;
}

static void produce_with(struct fake *f, const char *root, struct attest_result *r, struct kerr *err, int want_rc)
{
	struct attest_opts o = no_hw_opts();

	o.tsm_root = root;
	o.tsm_hook = fake_kernel;
	o.tsm_hook_arg = f;
	int rc = attest_produce(&o, digest_a, r, err);
	if (rc != want_rc)
		fail_msg("attest_produce returned %d (%s: %s)", rc, err->code, err->msg);
}

static void fake_hardware_yields_verified_evidence(void **s)
{
	static const struct {
		const char *provider;
		enum blob_kind blob;
		const char *kind;
	} cases[] = {
		{ "tdx_guest\n", BLOB_TDX4, "tdx" },
		{ "tdx_guest\n", BLOB_TDX5, "tdx" },
		{ "sev_guest\n", BLOB_SNP, "sev-snp" },
	};
	char root[FS_PATH_MAX];

	(void)s;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct fake f = { .provider = cases[i].provider, .blob = cases[i].blob, .rd_digest = digest_a,
				  .generation = "1\n" };
		struct attest_result p, v;
		struct kerr err;
		json_t *doc;

		fake_tsm_root(root, "tsm");
		produce_with(&f, root, &p, &err, 0);
		assert_true(f.inblob_matched);
		assert_string_equal(p.kind, cases[i].kind);
		assert_int_equal(p.tier, ATTEST_VERIFIED);
		assert_true(p.alpha == 1.0);
		/* the probe and the report each made and removed one entry */
		assert_int_equal(f.mkdirs, 2);
		assert_int_equal(f.rmdirs, 2);
		assert_true(dir_is_empty(root));

		doc = json_loadb(p.json, p.json_len, 0, NULL);
		assert_string_equal(json_string_value(json_object_get(doc, "tier")), "verified");
		assert_int_equal(json_integer_value(json_object_get(doc, "generation")), 1);
		assert_string_equal(json_string_value(json_object_get(doc, "provider")),
				    !strcmp(cases[i].kind, "tdx") ? "tdx_guest" : "sev_guest");

		assert_int_equal(attest_verify_with(p.json, p.json_len, digest_a, cases[i].kind, &ca_anchor, &v, &err), 0);
		assert_int_equal(v.tier, ATTEST_VERIFIED);
		assert_true(v.alpha == 1.0);
		assert_int_equal(v.vendor_chain_checked, 1);
		/* the CPU's evidence verifies a CPU run; a GPU run's is not
		 * enough (no GPU evidence is checked): unverified */
		assert_int_equal(attest_tier_for_run(&v, 0), 0);
		assert_int_equal(v.tier, ATTEST_VERIFIED);
		assert_int_equal(attest_tier_for_run(&v, 1), 1);
		assert_int_equal(v.tier, ATTEST_UNVERIFIED);
		assert_true(v.alpha == 0.5);
		assert_int_equal(attest_tier_for_run(&v, 1), 0);
		/* the test CA is not Intel: under the shipped root it is refused */
		verify_fails(p.json, digest_a, cases[i].kind, "attest.chain");
		verify_fails(p.json, digest_b, cases[i].kind, "attest.binding");
		verify_fails(p.json, digest_a, "mock", "attest.kind_mismatch");

		/* an outblob whose report data is another manifest's, with the
		 * binding fields left claiming ours */
		uint8_t other_rd[64], blob[FORGE_QUOTE_CAP];
		char *b64 = malloc(2 * FORGE_QUOTE_CAP), *t;
		expected_rd(digest_b, other_rd);
		size_t n = make_blob(cases[i].blob, other_rd, blob);
		sodium_bin2base64(b64, 2 * FORGE_QUOTE_CAP, blob, n, sodium_base64_VARIANT_ORIGINAL);
		json_object_set_new(doc, "outblob", json_string(b64));
		t = reserialize(doc);
		verify_fails(t, digest_a, cases[i].kind, "attest.bad_quote");
		free(t);
		/* a provider that cannot make this kind */
		json_object_set_new(doc, "provider", json_string(!strcmp(cases[i].kind, "tdx") ? "sev_guest" : "tdx_guest"));
		t = reserialize(doc);
		verify_fails(t, digest_a, cases[i].kind, "attest.bad_quote");
		free(t);
		free(b64);
		json_decref(doc);
		attest_result_free(&p);
	}
}

/* SEV-SNP reports need the host's certificate table: without it the
 * producer says so at once, and a validator refuses the evidence. */
static void snp_evidence_without_its_chain_is_refused(void **s)
{
	struct fake f = { .provider = "sev_guest\n", .blob = BLOB_SNP, .rd_digest = digest_a, .generation = "1\n",
			  .no_certs = 1 };
	struct attest_result p;
	struct kerr err;
	uint8_t rd[64], blob[FORGE_QUOTE_CAP], table[SNP_TABLE_CAP];
	char root[FS_PATH_MAX], rd_hex[129], *t;

	(void)s;
	fake_tsm_root(root, "tsm-snp");
	produce_with(&f, root, &p, &err, -1);
	assert_string_equal(err.code, "attest.chain");
	assert_non_null(strstr(err.msg, "--mock-attestation"));
	assert_null(p.json);
	assert_int_equal(f.mkdirs, f.rmdirs);
	assert_true(dir_is_empty(root));

	expected_rd(digest_a, rd);
	keys_hex_encode(rd, 64, rd_hex);
	assert_int_equal(make_blob(BLOB_SNP, rd, blob), SNP_REPORT_BYTES);
	t = snp_forge_evidence(blob, table, 0, digest_a, rd_hex);
	verify_fails(t, digest_a, "sev-snp", "attest.chain");
	free(t);
	/* a debuggable guest is refused before anything else about it */
	blob[0x08 + 2] |= 0x08; /* POLICY bit 19 */
	t = snp_forge_evidence(blob, table, snp_forge_chain_table(amd.vcek, amd.ask, amd.ark, table), digest_a, rd_hex);
	verify_fails(t, digest_a, "sev-snp", "attest.debug");
	free(t);
}

static void provider_garbage_is_attest_tsm(void **s)
{
	static const struct {
		const char *provider;
		enum blob_kind blob;
		int foreign_rd;
		const char *generation;
		const char *what;
	} cases[] = {
		{ "sev_guest", BLOB_GARBAGE, 0, "1", "100 bytes of noise as an SNP report" },
		{ "tdx_guest", BLOB_GARBAGE, 0, "1", "100 bytes of noise as a TDX quote" },
		{ "tdx_guest", BLOB_SNP, 0, "1", "an SNP report from the TDX provider" },
		{ "sev_guest", BLOB_TDX4, 0, "1", "a TDX quote from the SEV provider" },
		{ "sev_guest", BLOB_SNP_BAD_VERSION, 0, "1", "an SNP report of unknown version" },
		{ "sev_guest", BLOB_SNP, 1, "1", "someone else's report data" },
		{ "tdx_guest", BLOB_TDX5, 1, "1", "someone else's report data (TDX)" },
		{ "sev_guest", BLOB_SNP, 0, "2", "the entry was written twice" },
		{ "sev_guest", BLOB_SNP, 0, "x", "a generation that is not a number" },
	};
	char root[FS_PATH_MAX];

	(void)s;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct fake f = { .provider = cases[i].provider, .blob = cases[i].blob,
				  .rd_digest = cases[i].foreign_rd ? digest_b : digest_a,
				  .generation = cases[i].generation };
		struct attest_result p;
		struct kerr err;

		fake_tsm_root(root, "tsm-bad");
		produce_with(&f, root, &p, &err, -1);
		if (strcmp(err.code, "attest.tsm") != 0)
			fail_msg("%s: expected attest.tsm, got %s: %s", cases[i].what, err.code, err.msg);
		assert_null(p.json);
		/* the entry is removed even when the request fails */
		assert_int_equal(f.mkdirs, f.rmdirs);
		assert_true(dir_is_empty(root));
	}
}

static void structural_checks_refuse_truncation(void **s)
{
	uint8_t rd[64], blob[FORGE_QUOTE_CAP];
	struct kerr err;
	size_t n;

	(void)s;
	expected_rd(digest_a, rd);
	n = make_blob(BLOB_TDX4, rd, blob);
	assert_int_equal(attest_check_tdx_quote(blob, n, rd, &err), 0);
	for (size_t cut = 1; cut < n; cut += 37) {
		assert_int_equal(attest_check_tdx_quote(blob, n - cut, rd, &err), -1);
		assert_string_equal(err.code, "attest.bad_quote");
	}
	blob[4] = 0x00; /* an SGX quote */
	assert_int_equal(attest_check_tdx_quote(blob, n, rd, &err), -1);
	n = make_blob(BLOB_SNP, rd, blob);
	assert_int_equal(attest_check_snp_report(blob, n, rd, &err), 0);
	assert_int_equal(attest_check_snp_report(blob, n - 1, rd, &err), -1);
	memset(blob + 0x2a0, 0, 144); /* unsigned */
	assert_int_equal(attest_check_snp_report(blob, n, rd, &err), -1);
	assert_string_equal(err.code, "attest.bad_quote");
}

/* ---------------------------------------------------------------- detection */

static void touch(const char *d, const char *name)
{
	put_file(d, name, "", 0);
}

static void detection_order(void **s)
{
	char dev[FS_PATH_MAX], root[FS_PATH_MAX], kind[32];
	struct attest_opts o = no_hw_opts();
	struct fake f = { .provider = "sev_guest\n", .blob = BLOB_SNP, .rd_digest = digest_a, .generation = "1" };
	struct attest_result p;
	struct kerr err;

	(void)s;
	snprintf(dev, sizeof dev, "%s/dev", dir);
	fs_rm_rf(dev);
	assert_int_equal(mkdir(dev, 0755), 0);
	o.dev_root = dev;

	assert_int_equal(attest_detect(&o, kind, &err), 0);
	assert_string_equal(kind, "mock");

	touch(dev, "sev-guest");
	assert_int_equal(attest_detect(&o, kind, &err), 0);
	assert_string_equal(kind, "sev-snp");

	touch(dev, "tdx_guest");
	assert_int_equal(attest_detect(&o, kind, &err), 0);
	assert_string_equal(kind, "tdx");

	/* configfs-tsm wins over the devices, and names the provider's kind */
	fake_tsm_root(root, "tsm-detect");
	o.tsm_root = root;
	o.tsm_hook = fake_kernel;
	o.tsm_hook_arg = &f;
	assert_int_equal(attest_detect(&o, kind, &err), 0);
	assert_string_equal(kind, "sev-snp");
	assert_true(dir_is_empty(root));

	/* an unknown provider is not trusted: fall back to the devices */
	f.provider = "arm_cca_guest";
	assert_int_equal(attest_detect(&o, kind, &err), 0);
	assert_string_equal(kind, "tdx");

	o.force_mock = 1;
	assert_int_equal(attest_detect(&o, kind, &err), 0);
	assert_string_equal(kind, "mock");
	o.force_mock = 0;

	/* devices only: TDX needs configfs-tsm; SEV tries the ioctl, which a
	 * regular file refuses */
	o.tsm_root = no_tsm;
	o.tsm_hook = NULL;
	assert_int_equal(attest_produce(&o, digest_a, &p, &err), -1);
	assert_string_equal(err.code, "attest.device_unsupported");
	assert_non_null(strstr(err.msg, "configfs-tsm"));
	unlink(strcat(strcpy(root, dev), "/tdx_guest"));
	assert_int_equal(attest_produce(&o, digest_a, &p, &err), -1);
	assert_true(!strcmp(err.code, "attest.device") || !strcmp(err.code, "attest.device_unsupported"));
	assert_null(p.json);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(kind_alpha), cmocka_unit_test(mock_round_trip),
		cmocka_unit_test(mock_default_key_lives_in_the_cache),
		cmocka_unit_test(mock_bound_to_another_manifest_is_refused),
		cmocka_unit_test(mock_edited_fields_break_the_signature),
		cmocka_unit_test(mock_claimed_as_hardware_is_refused),
		cmocka_unit_test(malformed_evidence_is_a_parse_error),
		cmocka_unit_test(mock_warns_loudly_on_stderr),
		cmocka_unit_test(fake_hardware_yields_verified_evidence),
		cmocka_unit_test(snp_evidence_without_its_chain_is_refused),
		cmocka_unit_test(provider_garbage_is_attest_tsm),
		cmocka_unit_test(structural_checks_refuse_truncation),
		cmocka_unit_test(detection_order),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
