/* test_bundle_take.c: a sender who changes its bundle after handing it over
 * (time of check to time of use). The validator judges only its own copy
 * (bundle_take): whatever the sender then does to its files (replace a
 * checkpoint, the patch, the manifest, remove them all) changes nothing that
 * is verified, and the digests verified are those of the bytes taken. The
 * take refuses links and FIFOs without blocking, folders past a bundle's
 * bounds while listing them, and a directory and its
 * .tar are taken to the same files and digests. */
#include "../testutil.h"

#include "../bundle_fixture.h"

static int taken_index_of(const struct bundle_taken *t, const char *name)
{
	for (int i = 0; i < t->f.n; i++)
		if (!strcmp(t->f.name[i], name))
			return i;
	fail_msg("%s was not taken", name);
	return -1;
}

static const char *taken_sha(const struct bundle_taken *t, const char *name)
{
	return t->sha256[taken_index_of(t, name)];
}

static void take(const struct fx *f, const char *src, const char *name, struct bundle_taken *t)
{
	char dst[FS_PATH_MAX];
	struct kerr err = { { 0 }, { 0 } };

	snprintf(dst, sizeof dst, "%s/%s", f->tmp, name);
	if (bundle_take(src, dst, t, &err) < 0)
		fail_msg("bundle_take %s: %s: %s", src, err.code, err.msg);
}

static void expect_verified(struct bundle_taken *t)
{
	struct bundle_report r;
	struct kerr err = { { 0 }, { 0 } };
	int rc = bundle_verify_taken(t, &r, &err);

	bundle_report_free(&r);
	if (rc < 0)
		fail_msg("the taken copy should verify: %s: %s", err.code, err.msg);
}

/* Every file of the sender's folder replaced or removed after the take:
 * the copy still verifies, and it holds the bytes taken, not the new ones.
 * Verified in place, the same folder now fails: that is what an in-place
 * judgment would have read. */
static void sender_rewrites_after_take(void **state)
{
	struct fx *f = *state;
	struct bundle_taken *t = malloc(sizeof *t);
	char p[FS_PATH_MAX], before[HASH_HEX_BYTES], after[HASH_HEX_BYTES], *text = NULL;
	struct kerr err = { { 0 }, { 0 } };
	size_t n;

	assert_non_null(t);
	fx_path(f, BUNDLE_FINAL_CKPT, p);
	assert_int_equal(hash_file_hex(p, before, NULL, &err), 0);
	take(f, f->dir, "taken", t);
	assert_string_equal(taken_sha(t, BUNDLE_FINAL_CKPT), before);
	/* The sender swaps its final model and its patch, and re-signs. */
	fx_write(p, "KARPACK1 a better model from elsewhere\n", 39);
	assert_int_equal(hash_file_hex(p, after, NULL, &err), 0);
	fx_write_str(f, "patch.diff", "--- a/recipe/x.c\n+++ b/recipe/x.c\n@@ -1 +1 @@\n-a\n+b\n");
	fx_reseal(f, &f->k);
	expect_verified(t);
	assert_string_equal(taken_sha(t, BUNDLE_FINAL_CKPT), before);
	snprintf(p, sizeof p, "%s/%s", t->dir, BUNDLE_FINAL_CKPT);
	assert_int_equal(hash_file_hex(p, after, NULL, &err), 0);
	assert_string_equal(after, before);
	snprintf(p, sizeof p, "%s/patch.diff", t->dir);
	assert_int_equal(fs_read_all(p, 1 << 16, &text, &n, &err), 0);
	assert_non_null(strstr(text, "lr 2e-3"));
	free(text);
	fx_expect(f->dir, "bundle.ckpt_digest");
	/* Gone altogether. */
	assert_int_equal(fs_rm_rf(f->dir), 0);
	expect_verified(t);
	free(t);
}

/* A directory and its transport file give the same copy: names, sizes and
 * digests, one path for both. */
static void dir_and_tar_agree(void **state)
{
	struct fx *f = *state;
	struct bundle_taken *a = malloc(sizeof *a), *b = malloc(sizeof *b);
	char tar[FS_PATH_MAX], p[FS_PATH_MAX], hex[HASH_HEX_BYTES];
	struct kerr err = { { 0 }, { 0 } };

	assert_non_null(a);
	assert_non_null(b);
	snprintf(tar, sizeof tar, "%s/b.tar", f->tmp);
	assert_int_equal(bundle_pack(f->dir, tar, &err), 0);
	take(f, f->dir, "from-dir", a);
	take(f, tar, "from-tar", b);
	assert_int_equal(a->f.n, b->f.n);
	for (int i = 0; i < a->f.n; i++) {
		assert_string_equal(a->f.name[i], b->f.name[i]);
		assert_true(a->f.bytes[i] == b->f.bytes[i]);
		assert_string_equal(a->sha256[i], b->sha256[i]);
		fx_path(f, a->f.name[i], p);
		assert_int_equal(hash_file_hex(p, hex, NULL, &err), 0);
		assert_string_equal(a->sha256[i], hex);
	}
	expect_verified(a);
	expect_verified(b);
	free(a);
	free(b);
}

/* Something writing into the validator's copy after the take: the manifest
 * verified must be the one taken. */
static void copy_changed_under_the_validator(void **state)
{
	struct fx *f = *state;
	struct bundle_taken *t = malloc(sizeof *t);
	struct bundle_report r;
	struct kerr err = { { 0 }, { 0 } };
	struct fx g = *f;
	json_t *m;

	assert_non_null(t);
	take(f, f->dir, "taken", t);
	/* A new manifest signed in the copy: not the bytes taken. */
	snprintf(g.dir, sizeof g.dir, "%s", t->dir);
	m = fx_load_manifest(&g);
	json_object_set_new(m, "note", json_string("written after the take"));
	fx_sign(&g, m, &f->k);
	json_decref(m);
	assert_int_equal(bundle_verify_taken(t, &r, &err), -1);
	assert_string_equal(err.code, "bundle.copy_changed");
	bundle_report_free(&r);
	free(t);
}

/* The judge's take (bundle_take_deferred) of a bundle whose intermediate
 * checkpoint was corrupted in place, size kept: the eager take refuses it
 * at verification; the deferred one verifies, leaves the intermediate
 * checkpoints unhashed, and holds each to the manifest when it is read:
 * an intact one passes, the corrupt one and the whole take are refused
 * with the eager take's code. Nothing is hashed against a manifest not
 * yet verified. */
static void deferred_take_holds_checkpoints_when_read(void **state)
{
	struct fx *f = *state;
	struct bundle_taken *t = malloc(sizeof *t);
	struct bundle_report r;
	struct kerr err = { { 0 }, { 0 } };
	char p[FS_PATH_MAX], dst[FS_PATH_MAX], *bad = NULL, *good = NULL, *text = NULL;
	int steps = 0;
	size_t n;

	assert_non_null(t);
	take(f, f->dir, "eager-ok", t);
	for (int i = 0; i < t->f.n; i++)
		if (!strncmp(t->f.name[i], "checkpoints/step_", 17)) {
			steps++;
			if (!bad)
				bad = strdup(t->f.name[i]);
			else if (!good)
				good = strdup(t->f.name[i]);
		}
	assert_true(steps >= 2);
	fx_path(f, bad, p);
	assert_int_equal(fs_read_all(p, 1 << 26, &text, &n, &err), 0);
	text[n / 2] ^= 0x40;
	fx_write(p, text, n);
	free(text);
	take(f, f->dir, "eager", t);
	assert_int_equal(bundle_verify_taken(t, &r, &err), -1);
	assert_string_equal(err.code, "bundle.file_digest");
	bundle_report_free(&r);

	snprintf(dst, sizeof dst, "%s/deferred", f->tmp);
	if (bundle_take_deferred(f->dir, dst, t, &err) < 0)
		fail_msg("bundle_take_deferred: %s: %s", err.code, err.msg);
	assert_int_equal(bundle_taken_unhashed(t), steps);
	assert_null(bundle_taken_sha256(t, bad));
	assert_non_null(bundle_taken_sha256(t, BUNDLE_FINAL_CKPT));
	assert_int_equal(bundle_taken_hash(t, good, &err), -1);
	assert_string_equal(err.code, "bundle.unverified");
	assert_null(bundle_taken_listed(t, good));
	expect_verified(t);
	assert_non_null(bundle_taken_listed(t, good));
	assert_null(bundle_taken_listed(t, BUNDLE_FINAL_CKPT));
	assert_int_equal(bundle_taken_hash(t, good, &err), 0);
	assert_non_null(bundle_taken_sha256(t, good));
	assert_string_equal(bundle_taken_sha256(t, good), t->listed[taken_index_of(t, good)]);
	assert_null(bundle_taken_listed(t, good));
	assert_int_equal(bundle_taken_unhashed(t), steps - 1);
	assert_int_equal(bundle_taken_hash(t, bad, &err), -1);
	assert_string_equal(err.code, "bundle.file_digest");
	assert_null(bundle_taken_sha256(t, bad));
	assert_int_equal(bundle_taken_hash_all(t, &err), -1);
	assert_string_equal(err.code, "bundle.file_digest");
	print_message("   deferred take: %d intermediate checkpoints unhashed; %s refused when read\n", steps, bad);
	/* The same bundle as a .tar: extracted, the same files left unhashed. */
	snprintf(p, sizeof p, "%s/deferred.tar", f->tmp);
	assert_int_equal(bundle_pack(f->dir, p, &err), 0);
	snprintf(dst, sizeof dst, "%s/deferred-tar", f->tmp);
	if (bundle_take_deferred(p, dst, t, &err) < 0)
		fail_msg("bundle_take_deferred of a .tar: %s: %s", err.code, err.msg);
	assert_int_equal(bundle_taken_unhashed(t), steps);
	expect_verified(t);
	assert_int_equal(bundle_taken_hash(t, good, &err), 0);
	assert_int_equal(bundle_taken_hash(t, bad, &err), -1);
	assert_string_equal(err.code, "bundle.file_digest");
	free(bad);
	free(good);
	free(t);
}

static void expect_refused(const struct fx *f, const char *code)
{
	struct bundle_taken *t = malloc(sizeof *t);
	char dst[FS_PATH_MAX];
	struct kerr err = { { 0 }, { 0 } };

	assert_non_null(t);
	snprintf(dst, sizeof dst, "%s/refused", f->tmp);
	assert_int_equal(bundle_take(f->dir, dst, t, &err), -1);
	if (strcmp(err.code, code))
		fail_msg("expected %s, got %s: %s", code, err.code, err.msg);
	assert_false(fs_exists(dst));
	free(t);
}

/* A folder a bundle could not be: more files than a manifest may list, a
 * tree of more folders than that, a name outside the bundle's alphabet.
 * Refused while listing, before anything is copied or hashed, each with
 * its own code; the folder as sealed is then taken again. */
static void listings_past_the_bounds_refused(void **state)
{
	struct fx *f = *state;
	char p[FS_PATH_MAX], rel[64];
	struct bundle_taken *t = malloc(sizeof *t);

	assert_non_null(t);
	for (int i = 0; i <= BUNDLE_FILES_MAX; i++) {
		char name[64];

		snprintf(name, sizeof name, "extra/f%03d", i);
		fx_path(f, "extra", p);
		assert_int_equal(fs_mkdir_p(p, &(struct kerr){ { 0 }, { 0 } }), 0);
		fx_write_str(f, name, "x");
	}
	expect_refused(f, "bundle.too_many_files");
	fx_path(f, "extra", p);
	assert_int_equal(fs_rm_rf(p), 0);
	for (int i = 0; i <= BUNDLE_FILES_MAX; i++) { /* empty folders, side by side (a chain is too deep first) */
		snprintf(rel, sizeof rel, "wide/d%03d", i);
		fx_path(f, rel, p);
		assert_int_equal(fs_mkdir_p(p, &(struct kerr){ { 0 }, { 0 } }), 0);
	}
	expect_refused(f, "bundle.too_many_files");
	fx_path(f, "wide", p);
	assert_int_equal(fs_rm_rf(p), 0);
	fx_write_str(f, "notes on the run.md", "a space is not a bundle name's\n");
	expect_refused(f, "bundle.file_name");
	fx_path(f, "notes on the run.md", p);
	assert_int_equal(unlink(p), 0);
	take(f, f->dir, "taken", t);
	expect_verified(t);
	free(t);
}

/* A symlink (to a file or for a directory) or a FIFO anywhere in the
 * folder: refused at once, nothing left behind. */
static void links_and_fifos_refused(void **state)
{
	struct fx *f = *state;
	char p[FS_PATH_MAX], q[FS_PATH_MAX];
	struct kerr err;

	fx_fifo_guard(1);
	fx_path(f, "rationale.md", p);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(symlink("/etc/hostname", p), 0);
	expect_refused(f, "bundle.file_type");
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkfifo(p, 0644), 0);
	expect_refused(f, "bundle.file_type");
	assert_int_equal(unlink(p), 0);
	fx_write_str(f, "rationale.md", "back\n");
	fx_path(f, "checkpoints", p);
	snprintf(q, sizeof q, "%s/elsewhere", f->tmp);
	assert_int_equal(rename(p, q), 0);
	assert_int_equal(symlink(q, p), 0);
	expect_refused(f, "bundle.file_type");
	assert_int_equal(unlink(p), 0);
	assert_int_equal(rename(q, p), 0);
	/* And the bundle path itself a FIFO. */
	snprintf(q, sizeof q, "%s/fifo.tar", f->tmp);
	assert_int_equal(mkfifo(q, 0644), 0);
	snprintf(p, sizeof p, "%s/refused", f->tmp);
	{
		struct bundle_taken *t = malloc(sizeof *t);

		assert_non_null(t);
		assert_int_equal(bundle_take(q, p, t, &err), -1);
		assert_string_equal(err.code, "bundle.not_regular");
		free(t);
	}
	fx_fifo_guard(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(sender_rewrites_after_take, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(dir_and_tar_agree, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(copy_changed_under_the_validator, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(links_and_fifos_refused, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(listings_past_the_bounds_refused, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(deferred_take_holds_checkpoints_when_read, fx_setup, fx_teardown),
	};

	hash_init_lib();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
