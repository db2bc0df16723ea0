/* fuzz_attest.c: a bundle's hardware attestation as a validator checks it
 * (src/proof/attest*.c): the byte layouts of TDX quotes and SEV-SNP
 * reports and their certificate data are parsed by hand there, and every
 * byte comes from the miner.
 *
 * A forged signature is out of any fuzzer's reach, so the binary modes
 * start from evidence that verifies: at start-up the target makes a test
 * certificate authority of each vendor's shape (tests/tdx_forge.h,
 * tests/snp_forge.h) and fully signed TDX v4 and v5 quotes and an SEV-SNP
 * report with its host's certificate table under it. An input is edits to
 * one of them, so mutations reach the certificate chains, the QE report
 * and the signature checks, not only the first length field:
 *
 *   byte 0   mode: 0 TDX v4, 1 TDX v5, 2 SEV-SNP report + table,
 *            3 the evidence document itself (the rest of the input)
 *   byte 1   flags: bit 0, the length is the u16 at bytes 2-3 (modulo
 *            the base's length + 64; bytes past the base are zero);
 *            in mode 3, the kind the manifest claims (mock, tdx, sev-snp)
 *   then     edits: u16 offset (modulo the length), u8 count, the bytes
 *
 * Invariants: a refusal carries an attest.* code; the unedited bases
 * verify; and evidence that verifies has the signed bytes it was signed
 * with: the quote's body and header (what the attestation key signed),
 * the report's first 0x2a0 bytes (what the VCEK signed).
 *
 * KARPA_FUZZ_ATTEST_SEEDS=DIR writes the seed corpus's evidence documents
 * (mock, TDX, SEV-SNP; signed under this run's authorities, so they verify
 * only here) into DIR and exits: how tests/fuzz/corpus/attest was made. */
#include <jansson.h>
#include <sodium.h>

#include "fuzz.h"
#include "proof/attest.h"
#include "proof/attest_chain.h"
#include "proof/keys.h"
#include "util/hash.h"

/* The forges report a broken set-up through cmocka's assertions; here a
 * broken set-up is a broken target. */
#define assert_true(c) FUZZ_ASSERT(c)
#define assert_non_null(p) FUZZ_ASSERT((p) != NULL)
#define assert_int_equal(a, b) FUZZ_ASSERT((a) == (b))
#define fail_msg(...) (fprintf(stderr, __VA_ARGS__), abort())
#include "../tdx_forge.h"
#include "../snp_forge.h"

/* What the attestation key signs in a quote: header and TD report body,
 * up to the signature data's length (Intel's "Quote Format"). */
#define TDX4_SIGNED 632 /* 48 + 584 */
#define TDX5_SIGNED 702 /* 48 + 6 + 648 */
#define SNP_SIGNED 0x2a0
#define EDIT_SLACK 64
#define BUF_CAP (FORGE_QUOTE_CAP + SNP_TABLE_CAP + EDIT_SLACK)

struct base {
	uint8_t b[BUF_CAP];
	size_t n;
};

static struct forge ca;
static struct snp_forge amd;
static struct attest_anchor anchor;
static char digest[HASH_HEX_BYTES], rd_hex[129];
static uint8_t rd[ATTEST_REPORT_DATA_BYTES];
static struct base tdx4, tdx5, snp; /* snp: the report, then the table */

static void must(int rc, const struct kerr *err, const char *what)
{
	if (rc != 0) {
		fprintf(stderr, "fuzz_attest: the unedited %s does not verify: %s: %s\n", what, err->code, err->msg);
		abort();
	}
}

static int check_tdx(const uint8_t *q, size_t n, struct kerr *err)
{
	if (attest_check_tdx_quote(q, n, rd, err) < 0)
		return -1;
	return attest_tdx_verify_sig(q, n, &anchor, err);
}

static int check_snp(const uint8_t *b, size_t n, struct kerr *err)
{
	size_t rn = n < SNP_REPORT_BYTES ? n : SNP_REPORT_BYTES;

	if (attest_check_snp_report(b, rn, rd, err) < 0)
		return -1;
	return attest_snp_verify_sig(b, rn, b + rn, n - rn, &anchor, err);
}

static void write_seed(const char *dir, const char *name, uint8_t mode, uint8_t kind, const char *json)
{
	char path[1024];
	size_t n = strlen(json);
	uint8_t *buf = malloc(n + 2);

	FUZZ_ASSERT(buf);
	buf[0] = mode;
	buf[1] = kind;
	memcpy(buf + 2, json, n);
	snprintf(path, sizeof path, "%s/%s", dir, name);
	fuzz_write(path, buf, n + 2);
	free(buf);
}

static void write_seeds(const char *dir)
{
	struct attest_opts o = { .force_mock = 1 };
	struct attest_result r;
	char key[1024], *t;
	struct kerr err;

	snprintf(key, sizeof key, "%s/mock.key", fuzz_scratch());
	o.mock_key = key;
	FUZZ_ASSERT(attest_produce(&o, digest, &r, &err) == 0);
	write_seed(dir, "evidence-mock", 3, 0, r.json);
	attest_result_free(&r);
	t = forge_evidence(tdx4.b, tdx4.n, digest, rd_hex);
	write_seed(dir, "evidence-tdx", 3, 1, t);
	free(t);
	t = snp_forge_evidence(snp.b, snp.b + SNP_REPORT_BYTES, snp.n - SNP_REPORT_BYTES, digest, rd_hex);
	write_seed(dir, "evidence-snp", 3, 2, t);
	free(t);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct kerr err;
	const char *seeds = getenv("KARPA_FUZZ_ATTEST_SEEDS");

	(void)argc, (void)argv;
	FUZZ_ASSERT(hash_init_lib() == 0);
	hash_buf_hex("fuzz manifest", 13, digest);
	FUZZ_ASSERT(attest_report_data(digest, rd, &err) == 0);
	keys_hex_encode(rd, sizeof rd, rd_hex);
	forge_init(&ca);
	snp_forge_init(&amd);
	anchor.tdx_root_pem = ca.root_pem;
	anchor.snp_root_pem = amd.ark_pem;
	tdx4.n = forge_quote(&ca, 4, rd, NULL, tdx4.b);
	tdx5.n = forge_quote(&ca, 5, rd, NULL, tdx5.b);
	snp_forge_report(&amd, rd, snp.b);
	snp.n = SNP_REPORT_BYTES + snp_forge_chain_table(amd.vcek, amd.ask, amd.ark, snp.b + SNP_REPORT_BYTES);
	must(check_tdx(tdx4.b, tdx4.n, &err), &err, "TDX v4 quote");
	must(check_tdx(tdx5.b, tdx5.n, &err), &err, "TDX v5 quote");
	must(check_snp(snp.b, snp.n, &err), &err, "SEV-SNP report");
	if (seeds && *seeds) {
		write_seeds(seeds);
		exit(0);
	}
	return 0;
}

/* The evidence document as bundle_verify hands it over. */
static void evidence(const uint8_t *data, size_t size, uint8_t kind_byte)
{
	static const char *const kinds[] = { "mock", "tdx", "sev-snp" };
	struct attest_result r;
	struct kerr err;

	if (attest_verify_with((const char *)data, size, digest, kinds[kind_byte % 3], &anchor, &r, &err) < 0) {
		FUZZ_ASSERT(!strncmp(err.code, "attest.", 7));
		fuzz_note("attest_verify", &err);
		return;
	}
	FUZZ_ASSERT(!strcmp(r.kind, kinds[kind_byte % 3]));
	attest_result_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[BUF_CAP];
	const struct base *b;
	size_t n, signed_len, at = 4;
	struct kerr err;
	int rc;

	if (size < 2)
		return 0;
	if (data[0] % 4 == 3) {
		evidence(data + 2, size - 2, data[1]);
		return 0;
	}
	b = data[0] % 4 == 0 ? &tdx4 : data[0] % 4 == 1 ? &tdx5 : &snp;
	signed_len = b == &tdx4 ? TDX4_SIGNED : b == &tdx5 ? TDX5_SIGNED : SNP_SIGNED;
	n = b->n;
	memset(buf, 0, sizeof buf);
	memcpy(buf, b->b, b->n);
	if ((data[1] & 1) && size >= 4)
		n = (size_t)(data[2] | data[3] << 8) % (b->n + EDIT_SLACK);
	if (size < 4)
		at = size;
	while (n > 0 && at + 3 <= size) {
		size_t off = (size_t)(data[at] | data[at + 1] << 8) % n, cnt = data[at + 2];

		at += 3;
		for (size_t i = 0; i < cnt && at < size; i++, at++)
			buf[(off + i) % n] = data[at];
	}
	rc = b == &snp ? check_snp(buf, n, &err) : check_tdx(buf, n, &err);
	if (rc < 0) {
		FUZZ_ASSERT(!strncmp(err.code, "attest.", 7));
		fuzz_note(b == &snp ? "snp" : "tdx", &err);
		return 0;
	}
	FUZZ_ASSERT(rc == 0 && n >= signed_len && !memcmp(buf, b->b, signed_len));
	return 0;
}
