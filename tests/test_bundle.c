/* test_bundle.c: a sealed bundle verifies as a directory and as a ustar
 * file; the checkpoint selection follows its documented rule; each check of
 * bundle_verify fires with its own code; the loss plot draws in braille and
 * SVG; `karpa bundle verify|show` report what the library says. */
#include "testutil.h"

#include <fcntl.h>
#include <math.h>
#include <stdint.h>

#include "bundle_fixture.h"
#include "util/plot.h"

/* ---- selection ------------------------------------------------------------ */

/* ---- sealing and verifying ----------------------------------------------- */

static void seal_then_verify(void **s)
{
	struct fx f;
	struct bundle_report r;
	struct kerr err;
	char p[FS_PATH_MAX], *text, hex[HASH_HEX_BYTES];
	size_t len;
	json_t *files;

	(void)s;
	fx_build(&f);
	assert_int_equal(bundle_verify(f.dir, &r, &err), 0);
	fx_path(&f, BUNDLE_MANIFEST, p);
	assert_int_equal(fs_read_all(p, BUNDLE_MANIFEST_BYTES_MAX, &text, &len, &err), 0);
	hash_buf_hex(text, len, hex);
	assert_string_equal(r.manifest_sha256, hex);
	assert_string_equal(r.miner, f.k.pk_hex);
	assert_string_equal(r.attest_kind, "mock");
	assert_int_equal(r.tier, ATTEST_UNVERIFIED);
	assert_true(fabs(r.alpha - 0.5) < 1e-12);
	assert_string_equal(r.log_head, f.head);
	/* files lists every file but the three that cannot list themselves. */
	files = json_object_get(r.manifest, "files");
	assert_int_equal(json_object_size(files), 5 + f.nint);
	assert_non_null(json_object_get(files, "train.log"));
	assert_non_null(json_object_get(files, BUNDLE_FINAL_CKPT));
	assert_null(json_object_get(files, BUNDLE_MANIFEST));
	assert_null(json_object_get(files, ATTEST_FILE));
	assert_string_equal(json_string_value(json_object_get(json_object_get(r.manifest, "attestation"), "kind")),
			    "mock");
	assert_int_not_equal(text[len - 1], '\n');
	free(text);
	bundle_report_free(&r);
	fx_free(&f);
}

static void seal_refuses_foreign_miner_and_symlinks(void **s)
{
	struct fx f;
	struct kerr err;
	char p[FS_PATH_MAX];
	json_t *m;

	(void)s;
	fx_build(&f);
	m = fx_load_manifest(&f);
	/* The manifest names f.k; sealing with another key is a bug, not a bundle. */
	assert_int_equal(bundle_seal(f.dir, m, &f.other, &f.ao, &err), -1);
	assert_string_equal(err.code, "bundle.miner_mismatch");
	fx_path(&f, "link", p);
	assert_int_equal(symlink("/etc/hostname", p), 0);
	assert_int_equal(bundle_seal(f.dir, m, &f.k, &f.ao, &err), -1);
	assert_string_equal(err.code, "bundle.file_type");
	json_decref(m);
	fx_free(&f);
}

static void pack_unpack_roundtrip(void **s)
{
	struct fx f;
	struct kerr err;
	struct bundle_files a, b;
	char tar[FS_PATH_MAX], tar2[FS_PATH_MAX], out[FS_PATH_MAX], p[FS_PATH_MAX], *t1, *t2;
	size_t n1, n2;
	struct stat sb;

	(void)s;
	fx_build(&f);
	snprintf(tar, sizeof tar, "%s/b.tar", f.tmp);
	snprintf(tar2, sizeof tar2, "%s/b2.tar", f.tmp);
	snprintf(out, sizeof out, "%s/out", f.tmp);
	assert_int_equal(bundle_pack(f.dir, tar, &err), 0);
	fx_expect(tar, NULL);
	/* Packing is deterministic: same directory, same bytes. */
	assert_int_equal(bundle_pack(f.dir, tar2, &err), 0);
	assert_int_equal(fs_read_all(tar, 1 << 24, &t1, &n1, &err), 0);
	assert_int_equal(fs_read_all(tar2, 1 << 24, &t2, &n2, &err), 0);
	assert_int_equal(n1, n2);
	assert_memory_equal(t1, t2, n1);
	free(t1);
	free(t2);
	assert_int_equal(bundle_unpack(tar, out, &err), 0);
	assert_int_equal(bundle_list(f.dir, &a, &err), 0);
	assert_int_equal(bundle_list(out, &b, &err), 0);
	assert_int_equal(a.n, b.n);
	for (int i = 0; i < a.n; i++) {
		char h1[HASH_HEX_BYTES], h2[HASH_HEX_BYTES];
		assert_string_equal(a.name[i], b.name[i]);
		snprintf(p, sizeof p, "%s/%s", f.dir, a.name[i]);
		assert_int_equal(hash_file_hex(p, h1, NULL, &err), 0);
		snprintf(p, sizeof p, "%s/%s", out, b.name[i]);
		assert_int_equal(hash_file_hex(p, h2, NULL, &err), 0);
		assert_string_equal(h1, h2);
		assert_int_equal(stat(p, &sb), 0);
		assert_int_equal(sb.st_mode & 07777, 0644);
	}
	snprintf(p, sizeof p, "%s/checkpoints", out);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0755);
	fx_expect(out, NULL);
	/* Unpacking never merges into an existing tree. */
	assert_int_equal(bundle_unpack(tar, out, &err), -1);
	assert_string_equal(err.code, "fs.exists");
	fx_free(&f);
}

/* A folder's sizes are its filesystem's, and sparse files can claim
 * nearly 2^63 bytes each (tmpfs allows it): two of them and a third of two
 * bytes sum to 2^64, which wrapped to 0 and passed the 16 GiB bound, so
 * the take began copying zeros until its running bound stopped it. Now
 * refused at the listing, before anything is copied. */
static void sizes_that_wrap_are_too_large(void **s)
{
	char dir[] = "/dev/shm/karpa-test-XXXXXX", p[FS_PATH_MAX], tar[FS_PATH_MAX];
	static const char *const names[] = { "a.bin", "b.bin", "c.bin" };
	const off_t sizes[] = { INT64_MAX, INT64_MAX, 2 };
	struct bundle_report r;
	struct kerr err;

	(void)s;
	if (!mkdtemp(dir))
		skip(); /* no tmpfs here */
	for (int i = 0; i < 3; i++) {
		int fd;

		snprintf(p, sizeof p, "%s/%s", dir, names[i]);
		fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
		assert_true(fd >= 0);
		if (ftruncate(fd, sizes[i]) < 0) {
			close(fd);
			fs_rm_rf(dir);
			skip(); /* a filesystem that caps a file's size lower */
		}
		close(fd);
	}
	assert_int_equal(bundle_verify(dir, &r, &err), -1);
	bundle_report_free(&r);
	assert_string_equal(err.code, "bundle.too_large");
	/* at the listing, not after 16 GiB copied (the copy's own bound says
	 * bundle.too_large too) */
	assert_non_null(strstr(err.msg, "18446744073709551615 bytes exceeds"));
	snprintf(tar, sizeof tar, "%s.tar", dir);
	assert_int_equal(bundle_pack(dir, tar, &err), -1);
	assert_string_equal(err.code, "bundle.too_large");
	assert_int_equal(access(tar, F_OK), -1);
	fs_rm_rf(dir);
}

static void verify_codes_for_missing_parts(void **s)
{
	struct fx f;
	char p[FS_PATH_MAX];

	(void)s;
	fx_build(&f);
	snprintf(p, sizeof p, "%s/nothing-here", f.tmp);
	fx_expect(p, "bundle.not_found");
	fx_path(&f, ATTEST_FILE, p);
	assert_int_equal(unlink(p), 0);
	fx_expect(f.dir, "bundle.file_missing");
	fx_path(&f, BUNDLE_SIG, p);
	assert_int_equal(unlink(p), 0);
	fx_expect(f.dir, "bundle.sig_missing");
	fx_write_str(&f, BUNDLE_MANIFEST, "{\"protocol\":1,");
	fx_expect(f.dir, "bundle.manifest_parse");
	fx_write_str(&f, BUNDLE_MANIFEST, "{\"a\":1,\"a\":2}");
	fx_expect(f.dir, "bundle.manifest_parse");
	fx_path(&f, BUNDLE_MANIFEST, p);
	assert_int_equal(unlink(p), 0);
	fx_expect(f.dir, "bundle.manifest_missing");
	fx_free(&f);
}

static void verify_protocol_and_fields(void **s)
{
	struct fx f;
	json_t *m;

	(void)s;
	fx_build(&f);
	m = fx_load_manifest(&f);
	json_object_set_new(m, "protocol", json_integer(2));
	fx_sign(&f, m, &f.k);
	fx_expect(f.dir, "bundle.protocol");
	json_object_set_new(m, "protocol", json_integer(1));
	json_object_set_new(m, "kind", json_string("something-else"));
	fx_sign(&f, m, &f.k);
	fx_expect(f.dir, "bundle.protocol");
	json_object_set_new(m, "kind", json_string("karpa-bundle"));
	json_object_set_new(json_object_get(m, "files"), "../escape",
			    json_pack("{s:i, s:s}", "bytes", 0, "sha256", f.head));
	fx_sign(&f, m, &f.k);
	fx_expect(f.dir, "bundle.manifest_field");
	json_object_del(json_object_get(m, "files"), "../escape");
	json_object_set_new(m, "miner", json_string("not-a-key"));
	fx_sign(&f, m, &f.k);
	fx_expect(f.dir, "bundle.manifest_field");
	json_decref(m);
	fx_free(&f);
}

static void verify_log_head_and_selection(void **s)
{
	struct fx f;
	char p[FS_PATH_MAX];
	json_t *m;

	(void)s;
	fx_build(&f);
	/* A manifest claiming another head (signed by its own miner) is caught. */
	m = fx_load_manifest(&f);
	json_object_set_new(json_object_get(m, "log"), "head", json_string(TRAINLOG_GENESIS));
	fx_sign(&f, m, &f.k);
	fx_expect(f.dir, "bundle.log_head");
	json_decref(m);
	fx_free(&f);

	/* Dropping any intermediate (and re-signing): a bundle keeps them all. */
	fx_build(&f);
	snprintf(p, sizeof p, "%s/checkpoints/step_%06d.ckpt", f.dir, (f.keep[0] + 1) * FX_EVERY);
	assert_int_equal(unlink(p), 0);
	fx_reseal(&f, &f.k);
	fx_expect(f.dir, "bundle.ckpt_selection");
	fx_free(&f);

}

/* Seals f's bundle again with manifest m (taken), as the prover would:
 * files listed from disk, a fresh attestation, signed. What it seals is
 * whatever m says, lies included. */
static void seal_again(struct fx *f, json_t *m)
{
	struct kerr err;

	json_object_del(m, "files");
	json_object_del(m, "attestation");
	if (bundle_seal(f->dir, m, &f->k, &f->ao, &err) < 0)
		fail_msg("bundle_seal: %s: %s", err.code, err.msg);
	json_decref(m);
}

/* Holds intermediate idx back: its file leaves the bundle (for the miner to
 * hand over on request), keep loses it, held lists it with its size and
 * digest (sha, when given, replaces the true one), and the bundle is
 * re-sealed. keep_file leaves the file in the bundle too. */
static void hold(struct fx *f, int idx, const char *sha, int keep_file)
{
	char name[64], p[FS_PATH_MAX], hex[HASH_HEX_BYTES];
	uint64_t bytes;
	struct kerr err;
	json_t *m = fx_load_manifest(f), *keep = json_array(), *held;
	size_t i;
	json_t *v;

	snprintf(name, sizeof name, "checkpoints/step_%06d.ckpt", (idx + 1) * FX_EVERY);
	fx_path(f, name, p);
	assert_int_equal(hash_file_hex(p, hex, &bytes, &err), 0);
	json_array_foreach(json_object_get(m, "keep"), i, v)
		if (json_integer_value(v) != idx || keep_file)
			json_array_append(keep, v);
	json_object_set_new(m, "keep", keep);
	if (!(held = json_object_get(m, "held"))) {
		held = json_object();
		json_object_set_new(m, "held", held);
	}
	json_object_set_new(held, name, json_pack("{s:I, s:s}", "bytes", (json_int_t)bytes, "sha256", sha ? sha : hex));
	if (!keep_file)
		assert_int_equal(unlink(p), 0);
	seal_again(f, m);
}

/* n bytes of i * mul at path: a stand-in for a held checkpoint. */
static void write_pattern(const char *path, int n, int mul)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	for (int i = 0; i < n; i++)
		fputc(i * mul, fp);
	assert_int_equal(fclose(fp), 0);
}

/* Taking a held checkpoint: copied (a file of its own) or, for the
 * validator's own files, hard-linked (the same inode, nothing written
 * again); either way held to the manifest's size and digest, and a refusal
 * leaves nothing at dst and the source as it was. */
static void held_take_copies_or_links(void **unused)
{
	char *dir = tu_mkdtemp();
	char src[FS_PATH_MAX], dst[FS_PATH_MAX], hex[HASH_HEX_BYTES], other[FS_PATH_MAX];
	const char *name = "checkpoints/step_000004.ckpt";
	struct stat a, b;
	struct kerr err = { 0 };
	json_t *m;
	FILE *fp;

	(void)unused;
	snprintf(src, sizeof src, "%s/held.ckpt", dir);
	snprintf(other, sizeof other, "%s/other.ckpt", dir);
	write_pattern(src, 5000, 13);
	write_pattern(other, 5000, 7);
	assert_int_equal(hash_file_hex(src, hex, NULL, &err), 0);
	m = json_pack("{s:{s:{s:I, s:s}}}", "held", name, "bytes", (json_int_t)5000, "sha256", hex);
	/* a filesystem without hard links: the take copies instead */
	snprintf(dst, sizeof dst, "%s/probe", dir);
	int can_link = link(src, dst) == 0;

	unlink(dst);

	for (int may_link = 0; may_link <= 1; may_link++) {
		snprintf(dst, sizeof dst, "%s/taken-%d.ckpt", dir, may_link);
		assert_int_equal(bundle_held_take(m, name, src, dst, may_link, &err), 0);
		assert_int_equal(stat(src, &a), 0);
		assert_int_equal(stat(dst, &b), 0);
		assert_int_equal(b.st_size, 5000);
		/* linked: one inode, two names; copied: a file of its own */
		assert_int_equal(a.st_ino == b.st_ino, may_link && can_link);
		/* dst exists: not ours to touch */
		assert_int_equal(bundle_held_take(m, name, src, dst, may_link, &err), -1);
		assert_string_equal(err.code, "fs.exists");
		assert_int_equal(access(dst, F_OK), 0);
		/* the same size, other bytes: refused, nothing left at dst */
		snprintf(dst, sizeof dst, "%s/bad-%d.ckpt", dir, may_link);
		assert_int_equal(bundle_held_take(m, name, other, dst, may_link, &err), -1);
		assert_string_equal(err.code, "bundle.held_digest");
		assert_int_equal(access(dst, F_OK), -1);
		assert_int_equal(access(other, F_OK), 0);
		/* a larger file: refused without reading it all */
		assert_non_null(fp = fopen(other, "ab"));
		fputs("more", fp);
		fclose(fp);
		assert_int_equal(bundle_held_take(m, name, other, dst, may_link, &err), -1);
		assert_string_equal(err.code, "bundle.held_digest");
		assert_int_equal(access(dst, F_OK), -1);
		assert_int_equal(truncate(other, 5000), 0);
	}
	/* not in the manifest */
	assert_int_equal(bundle_held_take(m, "checkpoints/step_000008.ckpt", src, dst, 1, &err), -1);
	assert_string_equal(err.code, "bundle.held_bad");
	json_decref(m);
	tu_rmdir(dir);
}

/* A held checkpoint taken into a take: its digest then stands for it
 * (bundle_taken_sha256) as a listed file's does, and only once it is in;
 * other bytes, a name taken twice or one the listing has are refused and
 * leave the take as it was. */
static void taken_held_joins_the_take(void **unused)
{
	char *dir = tu_mkdtemp();
	char src[FS_PATH_MAX], other[FS_PATH_MAX], path[FS_PATH_MAX], hex[HASH_HEX_BYTES];
	const char *name = "checkpoints/step_000004.ckpt";
	struct bundle_taken *t = calloc(1, sizeof *t);
	struct kerr err = { 0 };
	json_t *m;

	(void)unused;
	assert_non_null(t);
	snprintf(src, sizeof src, "%s/held.ckpt", dir);
	snprintf(other, sizeof other, "%s/other.ckpt", dir);
	write_pattern(src, 3000, 11);
	write_pattern(other, 3000, 5);
	assert_int_equal(hash_file_hex(src, hex, NULL, &err), 0);
	m = json_pack("{s:{s:{s:I, s:s}}}", "held", name, "bytes", (json_int_t)3000, "sha256", hex);
	/* a take of one listed file, as bundle_take leaves it */
	snprintf(t->dir, sizeof t->dir, "%s/take", dir);
	snprintf(path, sizeof path, "%s/checkpoints", t->dir);
	assert_int_equal(fs_mkdir_p(path, &err), 0);
	t->f.n = 1;
	snprintf(t->f.name[0], sizeof t->f.name[0], "checkpoints/final.ckpt");
	memset(t->sha256[0], 'a', HASH_HEX_BYTES - 1);

	assert_null(bundle_taken_sha256(t, name));
	assert_int_equal(bundle_taken_held(t, m, name, other, 1, &err), -1);
	assert_string_equal(err.code, "bundle.held_digest");
	assert_int_equal(t->n_held, 0);
	snprintf(path, sizeof path, "%s/%s", t->dir, name);
	assert_int_equal(access(path, F_OK), -1); /* nothing left in the take */
	assert_null(bundle_taken_sha256(t, name));
	assert_int_equal(bundle_taken_held(t, m, name, src, 1, &err), 0);
	assert_non_null(bundle_taken_sha256(t, name));
	assert_string_equal(bundle_taken_sha256(t, name), hex);
	assert_string_equal(bundle_taken_sha256(t, "checkpoints/final.ckpt"), t->sha256[0]);
	snprintf(path, sizeof path, "%s/%s", t->dir, name);
	assert_int_equal(access(path, F_OK), 0);
	/* twice, or a name the listing has: refused, the take unchanged */
	assert_int_equal(bundle_taken_held(t, m, name, src, 1, &err), -1);
	assert_string_equal(err.code, "bundle.held_bad");
	assert_int_equal(bundle_taken_held(t, m, "checkpoints/final.ckpt", src, 1, &err), -1);
	assert_string_equal(err.code, "bundle.held_bad");
	assert_int_equal(t->n_held, 1);
	assert_string_equal(bundle_taken_sha256(t, name), hex);
	json_decref(m);
	free(t);
	tu_rmdir(dir);
}

/* Held checkpoints (docs/bundle.md): what a bundle may hold back, and every
 * way a manifest can lie about it. */
static void verify_held_checkpoints(void **s)
{
	struct fx f;
	json_t *m;

	(void)s;
	/* two held, the rest kept: valid */
	fx_build(&f);
	hold(&f, 0, NULL, 0);
	hold(&f, 2, NULL, 0);
	fx_expect(f.dir, NULL);
	fx_free(&f);

	/* the final segment's start is never held */
	fx_build(&f);
	hold(&f, f.nint - 1, NULL, 0);
	fx_expect(f.dir, "bundle.ckpt_selection");
	fx_free(&f);

	/* both held and kept */
	fx_build(&f);
	hold(&f, 1, NULL, 1);
	fx_expect(f.dir, "bundle.ckpt_selection");
	fx_free(&f);

	/* a held digest that is not the log's */
	fx_build(&f);
	hold(&f, 1, "0000000000000000000000000000000000000000000000000000000000000000", 0);
	fx_expect(f.dir, "bundle.ckpt_digest");
	fx_free(&f);

	/* a held size no checkpoint of this run can have: the validator would
	 * take gigabytes for it */
	fx_build(&f);
	hold(&f, 1, NULL, 0);
	m = fx_load_manifest(&f);
	json_object_set_new(json_object_get(json_object_get(m, "held"), "checkpoints/step_000008.ckpt"), "bytes",
			    json_integer((json_int_t)1 << 34));
	seal_again(&f, m);
	fx_expect(f.dir, "bundle.ckpt_selection");
	fx_free(&f);

	/* held names that are no checkpoint's, or a step the log has none at */
	fx_build(&f);
	m = fx_load_manifest(&f);
	json_object_set_new(m, "held", json_pack("{s:{s:i, s:s}}", "checkpoints/extra.ckpt", "bytes", 1, "sha256",
						 "0000000000000000000000000000000000000000000000000000000000000000"));
	seal_again(&f, m);
	fx_expect(f.dir, "bundle.ckpt_selection");
	m = fx_load_manifest(&f);
	json_object_set_new(m, "held", json_pack("{s:{s:i, s:s}}", "checkpoints/step_000005.ckpt", "bytes", 1,
						 "sha256", "0000000000000000000000000000000000000000000000000000000000000000"));
	seal_again(&f, m);
	fx_expect(f.dir, "bundle.ckpt_digest");
	/* not an object of {bytes, sha256} */
	m = fx_load_manifest(&f);
	json_object_set_new(m, "held", json_pack("[s]", "checkpoints/step_000004.ckpt"));
	seal_again(&f, m);
	fx_expect(f.dir, "bundle.manifest_field");
	fx_free(&f);

	/* a file dropped and not said to be held: still a missing checkpoint */
	fx_build(&f);
	hold(&f, 0, NULL, 0);
	{
		char p[FS_PATH_MAX];

		snprintf(p, sizeof p, "%s/checkpoints/step_%06d.ckpt", f.dir, 2 * FX_EVERY);
		assert_int_equal(unlink(p), 0);
	}
	seal_again(&f, fx_load_manifest(&f));
	fx_expect(f.dir, "bundle.ckpt_selection");
	fx_free(&f);
}

/* ---- plot ----------------------------------------------------------------- */

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void plot_term_draws(void **s)
{
	double x[100], y[100], marks[2] = { 25, 75 };
	struct plot_curve c = { .x = x, .y = y, .n = 100, .marks = marks, .nmarks = 2, .title = "loss",
				.xlabel = "step", .ylabel = "nats" };
	struct kerr err;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)s;
	for (int i = 0; i < 100; i++) {
		x[i] = i;
		y[i] = 4.0 / (1.0 + 0.1 * i) + 1.0;
	}
	f = open_memstream(&buf, &len);
	assert_int_equal(plot_term(f, &c, PLOT_TERM_WIDTH, PLOT_TERM_HEIGHT, &err), 0);
	fclose(f);
	/* title + rows + axis + x labels + legend */
	assert_int_equal(count(buf, "\n"), 1 + PLOT_TERM_HEIGHT + 3);
	assert_int_equal(count(buf, "┴"), 3); /* two ticks and the legend */
	assert_non_null(strstr(buf, "step"));
	assert_non_null(strstr(buf, "99"));
	/* Every plot cell is one braille character (U+2800..U+28FF). */
	assert_int_equal(count(buf, "\xE2\xA0") + count(buf, "\xE2\xA1") + count(buf, "\xE2\xA2") +
				 count(buf, "\xE2\xA3"),
			 PLOT_TERM_WIDTH * PLOT_TERM_HEIGHT);
	/* The top row is labelled with the value at its centre line. */
	{
		double lo = 4.0 / (1.0 + 9.9) + 1.0, hi = 5.0;
		char want[64];
		snprintf(want, sizeof want, "%8.4g ┤", hi - 1.5 / (4.0 * PLOT_TERM_HEIGHT - 1) * (hi - lo));
		assert_non_null(strstr(buf, want));
		snprintf(want, sizeof want, "%8.4g ┤", lo + 1.5 / (4.0 * PLOT_TERM_HEIGHT - 1) * (hi - lo));
		assert_non_null(strstr(buf, want));
	}
	free(buf);
	for (int i = 0; i < 100; i++)
		y[i] = NAN;
	f = open_memstream(&buf, &len);
	assert_int_equal(plot_term(f, &c, PLOT_TERM_WIDTH, PLOT_TERM_HEIGHT, &err), -1);
	assert_string_equal(err.code, "plot.empty");
	assert_int_equal(plot_term(f, &c, 2, 2, &err), -1);
	assert_string_equal(err.code, "plot.size");
	/* A range that overflows to infinity still draws, and quickly. */
	x[0] = -1e308, y[0] = -1e308;
	x[1] = 1e308, y[1] = 1e308;
	c.n = 2;
	assert_int_equal(plot_term(f, &c, PLOT_TERM_WIDTH, PLOT_TERM_HEIGHT, &err), 0);
	fclose(f);
	free(buf);
}

static void plot_svg_writes(void **s)
{
	double x[5000], y[5000], marks[3] = { 1000, 2000, 9e9 };
	struct plot_curve c = { .x = x, .y = y, .n = 5000, .marks = marks, .nmarks = 3, .title = "loss <&> run",
				.xlabel = "step", .ylabel = "loss" };
	struct kerr err;
	char *svg, *dir = tu_mkdtemp(), path[FS_PATH_MAX], *back;
	size_t n;

	(void)s;
	for (int i = 0; i < 5000; i++) {
		x[i] = i;
		y[i] = i >= 2500 && i < 2520 ? INFINITY : 3.0 + sin(i / 100.0);
	}
	svg = plot_svg_render(&c, &err);
	assert_non_null(svg);
	assert_true(!strncmp(svg, "<?xml", 5));
	assert_non_null(strstr(svg, "</svg>\n"));
	assert_non_null(strstr(svg, "loss &lt;&amp;&gt; run"));
	assert_int_equal(count(svg, "class=\"ckpt\""), 2); /* the out-of-range mark is dropped */
	assert_int_equal(count(svg, "<polyline"), 2);    /* a run of infinite points splits the curve */
	assert_true(count(svg, ",") <= PLOT_SVG_POINTS_MAX + 10);
	snprintf(path, sizeof path, "%s/c.svg", dir);
	assert_int_equal(plot_svg(path, &c, &err), 0);
	assert_int_equal(fs_read_all(path, 1 << 20, &back, &n, &err), 0);
	assert_string_equal(back, svg);
	free(back);
	free(svg);
	tu_rmdir(dir);
}

/* ---- CLI -------------------------------------------------------------------- */

static int cli_has_bundle(void)
{
	return tu_run(NULL, 0, "%s bundle --help", tu_karpa()) == 0;
}

static void cli_verify_and_show(void **s)
{
	struct fx f;
	struct kerr err;
	char out[1 << 16], tar[FS_PATH_MAX], svg[FS_PATH_MAX], p[FS_PATH_MAX];

	(void)s;
	if (!cli_has_bundle())
		fail_msg("the karpa binary has no `bundle` command");
	fx_build(&f);
	assert_int_equal(tu_run(out, sizeof out, "%s bundle verify --json %s", tu_karpa(), f.dir), 0);
	assert_non_null(strstr(out, "\"ok\":true"));
	assert_non_null(strstr(out, f.k.pk_hex));
	snprintf(tar, sizeof tar, "%s/b.tar", f.tmp);
	assert_int_equal(bundle_pack(f.dir, tar, &err), 0);
	assert_int_equal(tu_run(out, sizeof out, "%s bundle show %s", tu_karpa(), tar), 0);
	assert_non_null(strstr(out, "verified    ok"));
	assert_non_null(strstr(out, "MOCK"));
	assert_non_null(strstr(out, "recipe-v0.1.0"));
	assert_non_null(strstr(out, "val_bpb     1.875"));
	assert_non_null(strstr(out, BUNDLE_FINAL_CKPT));
	assert_non_null(strstr(out, "\xE2\xA0")); /* braille */
	snprintf(svg, sizeof svg, "%s.loss.svg", tar);
	assert_true(fs_exists(svg));
	snprintf(svg, sizeof svg, "%s/x.svg", f.tmp);
	assert_int_equal(tu_run(out, sizeof out, "%s bundle show %s --svg %s", tu_karpa(), f.dir, svg), 0);
	assert_true(fs_exists(svg));
	/* A failing bundle: reason on stderr, exit 1, and show says so first. */
	fx_write_str(&f, "rationale.md", "edited\n");
	assert_int_equal(tu_run(out, sizeof out, "%s bundle verify --json %s", tu_karpa(), f.dir), 1);
	assert_non_null(strstr(out, "\"code\":\"bundle.file_digest\""));
	assert_int_equal(tu_run(out, sizeof out, "%s bundle show %s --svg %s", tu_karpa(), f.dir, svg), 1);
	assert_non_null(strstr(out, "FAILED  bundle.file_digest"));
	snprintf(p, sizeof p, "%s/none", f.tmp);
	assert_int_equal(tu_run(out, sizeof out, "%s bundle verify %s", tu_karpa(), p), 1);
	assert_non_null(strstr(out, "bundle.not_found"));
	assert_int_equal(tu_run(out, sizeof out, "%s bundle frobnicate", tu_karpa()), 2);
	fx_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(seal_then_verify),
		cmocka_unit_test(seal_refuses_foreign_miner_and_symlinks),
		cmocka_unit_test(pack_unpack_roundtrip),
		cmocka_unit_test(sizes_that_wrap_are_too_large),
		cmocka_unit_test(verify_codes_for_missing_parts),
		cmocka_unit_test(verify_protocol_and_fields),
		cmocka_unit_test(verify_log_head_and_selection),
		cmocka_unit_test(verify_held_checkpoints),
		cmocka_unit_test(held_take_copies_or_links),
		cmocka_unit_test(taken_held_joins_the_take),
		cmocka_unit_test(plot_term_draws),
		cmocka_unit_test(plot_svg_writes),
		cmocka_unit_test(cli_verify_and_show),
	};

	hash_init_lib();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
