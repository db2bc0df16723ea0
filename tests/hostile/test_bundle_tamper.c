/* test_bundle_tamper.c: attacks on a sealed bundle, each asserting the one
 * reason code bundle_verify must give. The tamperer edits files, the log,
 * the checkpoints, the manifest and the signature, sometimes re-hashing and
 * re-signing with the miner's own key (a cheating miner), sometimes with
 * another key (a thief). */
#include "../testutil.h"

#include "../bundle_fixture.h"

#include <fcntl.h>

static void append(const struct fx *f, const char *name, const char *text)
{
	char p[FS_PATH_MAX], *old;
	size_t n;
	struct kerr err;
	char *both;

	fx_path(f, name, p);
	assert_int_equal(fs_read_all(p, 1 << 20, &old, &n, &err), 0);
	both = malloc(n + strlen(text));
	memcpy(both, old, n);
	memcpy(both + n, text, strlen(text));
	fx_write(p, both, n + strlen(text));
	free(both);
	free(old);
}

/* ---- edited files: the digest in the signed manifest no longer holds ---- */

static void edit_patch(void **state)
{
	struct fx *f = *state;

	append(f, "patch.diff", "+sneaky extra line\n");
	fx_expect(f->dir, "bundle.file_digest");
}

static void edit_rationale(void **state)
{
	struct fx *f = *state;

	fx_write_str(f, "rationale.md", "A different story.\n");
	fx_expect(f->dir, "bundle.file_digest");
}

static void edit_calibration(void **state)
{
	struct fx *f = *state;

	/* Claims a slower machine (more allowed time): same length, other bytes. */
	fx_write_str(f, "calibration.json", "{\"before_ms\":90.25,\"after_ms\":90.5}\n");
	fx_expect(f->dir, "bundle.file_digest");
}

static void edit_checkpoint(void **state)
{
	struct fx *f = *state;
	char p[FS_PATH_MAX], *b;
	size_t n;
	struct kerr err;

	fx_path(f, BUNDLE_FINAL_CKPT, p);
	assert_int_equal(fs_read_all(p, 1 << 20, &b, &n, &err), 0);
	b[n / 2] ^= 0x01; /* one bit */
	fx_write(p, b, n);
	free(b);
	fx_expect(f->dir, "bundle.file_digest");
}

/* ---- the log: editing it is caught by the chain even when re-signed ---- */

/* Lines of train.log; caller frees *text. */
static int log_lines(const struct fx *f, char **text, char *line[128], size_t len[128])
{
	char p[FS_PATH_MAX], *q;
	size_t n;
	struct kerr err;
	int k = 0;

	fx_path(f, "train.log", p);
	assert_int_equal(fs_read_all(p, 1 << 20, text, &n, &err), 0);
	for (q = *text; *q && k < 128; k++) {
		char *nl = strchr(q, '\n');
		assert_non_null(nl);
		line[k] = q;
		len[k] = (size_t)(nl - q) + 1;
		q = nl + 1;
	}
	return k;
}

static void write_log(const struct fx *f, char **line, size_t *len, int k)
{
	char p[FS_PATH_MAX], *buf = malloc(1 << 20);
	size_t n = 0;

	for (int i = 0; i < k; i++) {
		memcpy(buf + n, line[i], len[i]);
		n += len[i];
	}
	fx_path(f, "train.log", p);
	fx_write(p, buf, n);
	free(buf);
}

static void edit_log_line(void **state)
{
	struct fx *f = *state;
	char *text, *line[128], *at;
	size_t len[128];
	int k = log_lines(f, &text, line, len);

	/* Line 4 is step 2 (header, steps 0 and 1 before it): claim one more
	 * token. The line stays canonical JSON and the tokens still increase. */
	assert_true(k > 6);
	at = strstr(line[3], "\"tokens\":192,");
	assert_non_null(at);
	assert_true(at < line[3] + len[3]);
	at[strlen("\"tokens\":19")] = '3';
	write_log(f, line, len, k);
	free(text);
	fx_expect(f->dir, "bundle.file_digest");
	/* The miner re-hashes train.log into the manifest and re-signs: the
	 * signature is fine now, the chain is not. */
	fx_reseal(f, &f->k);
	fx_expect(f->dir, "log.chain_broken");
}

static void swap_log_lines(void **state)
{
	struct fx *f = *state;
	char *text, *line[128], *t;
	size_t len[128], tl;
	int k = log_lines(f, &text, line, len);

	t = line[5], line[5] = line[6], line[6] = t;
	tl = len[5], len[5] = len[6], len[6] = tl;
	write_log(f, line, len, k);
	free(text);
	fx_reseal(f, &f->k);
	fx_expect(f->dir, "log.chain_broken");
}

static void delete_log_line(void **state)
{
	struct fx *f = *state;
	char *text, *line[128];
	size_t len[128];
	int k = log_lines(f, &text, line, len);

	memmove(line + 4, line + 5, (size_t)(k - 5) * sizeof *line);
	memmove(len + 4, len + 5, (size_t)(k - 5) * sizeof *len);
	write_log(f, line, len, k - 1);
	free(text);
	fx_reseal(f, &f->k);
	fx_expect(f->dir, "log.chain_broken");
}

/* ---- checkpoints: files must be the ones the chain recorded ----------- */

static void swap_checkpoints(void **state)
{
	struct fx *f = *state;
	char a[FS_PATH_MAX], b[FS_PATH_MAX], t[FS_PATH_MAX];

	snprintf(a, sizeof a, "%s/checkpoints/step_%06d.ckpt", f->dir, (f->keep[0] + 1) * FX_EVERY);
	snprintf(b, sizeof b, "%s/checkpoints/step_%06d.ckpt", f->dir, (f->keep[1] + 1) * FX_EVERY);
	snprintf(t, sizeof t, "%s/swap", f->tmp);
	assert_int_equal(rename(a, t), 0);
	assert_int_equal(rename(b, a), 0);
	assert_int_equal(rename(t, b), 0);
	fx_expect(f->dir, "bundle.file_digest");
	fx_reseal(f, &f->k);
	fx_expect(f->dir, "bundle.ckpt_digest");
}

static void final_replaced_by_intermediate(void **state)
{
	struct fx *f = *state;
	char p[FS_PATH_MAX], sha[HASH_HEX_BYTES];

	/* A genuine checkpoint from the chain, but not the final one. */
	fx_path(f, BUNDLE_FINAL_CKPT, p);
	fx_ckpt(p, (f->keep[0] + 1) * FX_EVERY, sha);
	fx_reseal(f, &f->k);
	fx_expect(f->dir, "bundle.ckpt_digest");
}

/* ---- keys and signatures ------------------------------------------------ */

/* A thief takes the bundle, puts their key in manifest.miner and signs: the
 * signature verifies for them, but the attestation binds the digest of the
 * original manifest. */
static void resign_by_another_key(void **state)
{
	struct fx *f = *state;
	json_t *m = fx_load_manifest(f);

	json_object_set_new(m, "miner", json_string(f->other.pk_hex));
	fx_sign(f, m, &f->other);
	json_decref(m);
	fx_expect(f->dir, "attest.binding");
}

/* Signing with another key without claiming to be that miner. */
static void signature_by_wrong_key(void **state)
{
	struct fx *f = *state;
	json_t *m = fx_load_manifest(f);

	fx_sign(f, m, &f->other);
	json_decref(m);
	fx_expect(f->dir, "bundle.sig_invalid");
}

static void signature_bit_flip(void **state)
{
	struct fx *f = *state;
	char p[FS_PATH_MAX], *s;
	size_t n;
	struct kerr err;

	fx_path(f, BUNDLE_SIG, p);
	assert_int_equal(fs_read_all(p, 1024, &s, &n, &err), 0);
	/* Flip the low bit of hex digit 10: one bit of the signature. */
	int v = s[10] <= '9' ? s[10] - '0' : s[10] - 'a' + 10;
	s[10] = "0123456789abcdef"[v ^ 1];
	fx_write(p, s, n);
	free(s);
	fx_expect(f->dir, "bundle.sig_invalid");
	fx_write_str(f, BUNDLE_SIG, "not hex at all\n");
	fx_expect(f->dir, "bundle.sig_invalid");
}

/* ---- the manifest and the directory ------------------------------------- */

static void unlisted_extra_file(void **state)
{
	struct fx *f = *state;

	fx_write_str(f, "checkpoints/step_000012.ckpt.bak", "extra\n");
	fx_expect(f->dir, "bundle.file_unlisted");
}

static void manifest_whitespace(void **state)
{
	struct fx *f = *state;
	char p[FS_PATH_MAX], *s;
	size_t n;
	struct kerr err;

	/* Same JSON value, one more byte: the signature would still be over
	 * other bytes, but the canonical check comes first and names it. */
	fx_path(f, BUNDLE_MANIFEST, p);
	assert_int_equal(fs_read_all(p, BUNDLE_MANIFEST_BYTES_MAX, &s, &n, &err), 0);
	s = realloc(s, n + 2);
	memmove(s + 2, s + 1, n - 1);
	s[1] = ' ';
	fx_write(p, s, n + 1);
	fx_expect(f->dir, "bundle.manifest_not_canonical");
	/* A trailing newline is not canonical either. */
	memmove(s + 1, s + 2, n - 1);
	s[n] = '\n';
	fx_write(p, s, n + 1);
	fx_expect(f->dir, "bundle.manifest_not_canonical");
	free(s);
}

static void planted_symlink(void **state)
{
	struct fx *f = *state;
	char p[FS_PATH_MAX];

	fx_path(f, "notes.md", p);
	assert_int_equal(symlink("/etc/hostname", p), 0);
	fx_expect(f->dir, "bundle.file_type");
}

/* ---- non-regular files: refused at once, never waited on ---------------- */

/* A FIFO where a bundle file should be: every reader of bundle files
 * refuses it without waiting for a writer (an old reader blocked forever,
 * and alarm() ends the test instead). */
static void fifo_in_bundle(void **state)
{
	struct fx *f = *state;
	char p[FS_PATH_MAX], hex[HASH_HEX_BYTES], *t = NULL, tarp[FS_PATH_MAX], outp[FS_PATH_MAX];
	struct kerr err = { { 0 }, { 0 } };
	size_t n;

	fx_fifo_guard(1);
	fx_path(f, "rationale.md", p);
	unlink(p);
	assert_int_equal(mkfifo(p, 0644), 0);
	assert_int_equal(fs_read_all(p, 1024, &t, &n, &err), -1);
	assert_string_equal(err.code, "fs.not_regular");
	assert_int_equal(hash_file_hex(p, hex, NULL, &err), -1);
	assert_string_equal(err.code, "fs.not_regular");
	fx_expect(f->dir, "bundle.file_type");
	/* The manifest itself: the first file the validator reads. */
	fx_path(f, BUNDLE_MANIFEST, p);
	unlink(p);
	assert_int_equal(mkfifo(p, 0644), 0);
	assert_int_equal(fs_read_file(p, 1024, O_NOFOLLOW, &t, &n, &err), -1);
	assert_string_equal(err.code, "fs.not_regular");
	/* Refused when the bundle is taken, before any file is read. */
	fx_expect(f->dir, "bundle.file_type");
	/* A FIFO given as the bundle's transport file. */
	snprintf(tarp, sizeof tarp, "%s/bundle.tar", f->tmp);
	snprintf(outp, sizeof outp, "%s/unpacked", f->tmp);
	assert_int_equal(mkfifo(tarp, 0644), 0);
	assert_int_equal(bundle_unpack(tarp, outp, &err), -1);
	assert_string_equal(err.code, "bundle.not_regular");
	fx_expect(tarp, "bundle.not_regular");
	fx_fifo_guard(0);
}

/* ---- transport: the archive a person makes by hand --------------------- */

/* An honest bundle re-tarred with `tar -C DIR -cf X.tar .` (entries "./",
 * "./name") verifies as the directory does. */
static void retarred_with_dot(void **state)
{
	struct fx *f = *state;
	char tarp[FS_PATH_MAX], out[4096];

	snprintf(tarp, sizeof tarp, "%s/by-hand.tar", f->tmp);
	if (tu_run(out, sizeof out, "tar -C %s -cf %s .", f->dir, tarp) != 0)
		fail_msg("tar: %s", out);
	fx_expect(tarp, NULL);
}

/* Evidence lifted from another bundle binds another manifest. */
static void attestation_from_another_bundle(void **state)
{
	struct fx *f = *state, g;
	char p[FS_PATH_MAX], q[FS_PATH_MAX], *s;
	size_t n;
	struct kerr err;

	fx_build(&g);
	fx_path(&g, ATTEST_FILE, q);
	assert_int_equal(fs_read_all(q, 1 << 20, &s, &n, &err), 0);
	fx_path(f, ATTEST_FILE, p);
	fx_write(p, s, n);
	free(s);
	fx_free(&g);
	fx_expect(f->dir, "attest.binding");
}

/* A byte flipped inside the transport file lands in a file's data. */
static void tar_payload_flip(void **state)
{
	struct fx *f = *state;
	char tar[FS_PATH_MAX], *b, *at;
	size_t n;
	struct kerr err;

	snprintf(tar, sizeof tar, "%s/b.tar", f->tmp);
	assert_int_equal(bundle_pack(f->dir, tar, &err), 0);
	assert_int_equal(fs_read_all(tar, 1 << 24, &b, &n, &err), 0);
	at = memmem(b, n, "higher learning rate", 20);
	assert_non_null(at);
	at[0] = 'H';
	fx_write(tar, b, n);
	free(b);
	fx_expect(tar, "bundle.file_digest");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(edit_patch, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(edit_rationale, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(edit_calibration, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(edit_checkpoint, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(edit_log_line, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(swap_log_lines, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(delete_log_line, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(swap_checkpoints, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(final_replaced_by_intermediate, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(resign_by_another_key, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(signature_by_wrong_key, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(signature_bit_flip, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(unlisted_extra_file, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(manifest_whitespace, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(planted_symlink, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(fifo_in_bundle, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(retarred_with_dot, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(attestation_from_another_bundle, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(tar_payload_flip, fx_setup, fx_teardown),
	};

	hash_init_lib();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
