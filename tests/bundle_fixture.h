/* bundle_fixture.h: a small but complete sealed bundle in a temporary
 * directory, for the bundle tests and the hostile ones: a real hash-chained
 * train.log written through the trainlog API, fake checkpoint files whose
 * digests enter the chain, the kept intermediates the head selects, a
 * manifest shaped like the proof writer's, sealed with a fresh miner key and
 * a mock attestation key. Also the tamperer's tools: rewrite the file
 * digests and re-sign, with the same key or another one. */
#ifndef KARPA_BUNDLE_FIXTURE_H
#define KARPA_BUNDLE_FIXTURE_H

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/trainlog.h"
#include "proof/bundle.h"

#define FX_STEPS 24
#define FX_EVERY 4 /* intermediates at 4, 8, ..., 20: five of them */

struct fx {
	char *tmp;
	char dir[FS_PATH_MAX], run[FS_PATH_MAX], head[HASH_HEX_BYTES];
	struct keys k, other;
	char mock[FS_PATH_MAX];
	struct attest_opts ao;
	int nint, keep[FX_STEPS / FX_EVERY], nkeep; /* every intermediate: keep[i] = i */
	int64_t lines;
};

static inline void fx_path(const struct fx *f, const char *name, char *out)
{
	snprintf(out, FS_PATH_MAX, "%s/%s", f->dir, name);
}

static inline void fx_write(const char *path, const void *data, size_t n)
{
	struct kerr err;

	assert_int_equal(fs_write_atomic(path, data, n, &err), 0);
}

static inline void fx_write_str(const struct fx *f, const char *name, const char *s)
{
	char p[FS_PATH_MAX];

	fx_path(f, name, p);
	fx_write(p, s, strlen(s));
}

/* Fake checkpoint bytes: distinct per step so swaps are visible. */
static inline void fx_ckpt(const char *path, int64_t step, char sha[HASH_HEX_BYTES])
{
	char body[256];
	int n = snprintf(body, sizeof body, "KARPACK1 fake checkpoint for step %lld\n", (long long)step);

	fx_write(path, body, (size_t)n);
	hash_buf_hex(body, (size_t)n, sha);
}

static inline void fx_log(struct fx *f)
{
	struct trainlog l;
	struct kerr err;
	struct trainlog_header h = {
		.recipe = "karpa-gpt", .recipe_version = "0.1.0", .scale = "tiny", .seed = 1,
		.data_digest = "d0", .tokenizer_digest = "t0", .steps = FX_STEPS, .params = 1234,
		.batch = 2, .seq_len = 32,
	};
	char p[FS_PATH_MAX], rel[64], sha[HASH_HEX_BYTES];

	fx_path(f, "train.log", p);
	assert_int_equal(trainlog_open(&l, p, &h, &err), 0);
	f->nint = 0;
	for (int s = 0; s < FX_STEPS; s++) {
		assert_int_equal(trainlog_step(&l, s, (uint64_t)(s + 1) * 64, 1e-3, 5.0 / (1.0 + 0.2 * s) + 0.5,
					       10.0 * (s + 1), 6400.0, &err), 0);
		if ((s + 1) % FX_EVERY == 0 && s + 1 < FX_STEPS) {
			snprintf(rel, sizeof rel, "checkpoints/step_%06d.ckpt", s + 1);
			snprintf(p, sizeof p, "%s/%s", f->run, rel + strlen("checkpoints/"));
			fx_ckpt(p, s + 1, sha);
			assert_int_equal(trainlog_checkpoint(&l, s + 1, rel, sha, &err), 0);
			f->nint++;
		}
	}
	fx_path(f, BUNDLE_FINAL_CKPT, p);
	fx_ckpt(p, FX_STEPS, sha);
	assert_int_equal(trainlog_checkpoint(&l, FX_STEPS, "final.ckpt", sha, &err), 0);
	assert_int_equal(trainlog_eval(&l, "val", 1.875, 1.3, 999, 4321, &err), 0);
	memcpy(f->head, l.prev, HASH_HEX_BYTES);
	f->lines = l.lines;
	assert_int_equal(trainlog_close(&l, &err), 0);
}

static inline json_t *fx_manifest(const struct fx *f)
{
	json_t *keep = json_array();

	for (int i = 0; i < f->nkeep; i++)
		json_array_append_new(keep, json_integer(f->keep[i]));
	return json_pack("{s:i, s:s, s:{s:s, s:s}, s:s, s:s, s:{s:i, s:s, s:i, s:f, s:s, s:s}, s:{s:s, s:s},"
			 " s:{s:f, s:f, s:f}, s:{s:i, s:i, s:f, s:f, s:s}, s:{s:s, s:I}, s:o}",
			 "protocol", BUNDLE_PROTOCOL, "kind", "karpa-bundle", "king", "tag", "recipe-v0.1.0", "commit",
			 "0123456789abcdef0123456789abcdef01234567", "patch_sha256",
			 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "miner", f->k.pk_hex,
			 "config", "seed", 1, "scale", "tiny", "threads", 2, "budget_units", 120.0,
			 "data_manifest_sha256", "d0", "tokenizer_sha256", "t0", "environment", "cc", "cc 12",
			 "cpu", "test cpu", "calibration", "before_ms", 10.25, "after_ms", 10.5, "ref_ms", 10.0,
			 "results", "steps", FX_STEPS, "tokens", FX_STEPS * 64, "wall_s", 0.24, "val_bpb", 1.875,
			 "final_ckpt", BUNDLE_FINAL_CKPT, "log", "head", f->head, "lines", (json_int_t)f->lines,
			 "keep", keep);
}

/* A sealed bundle at f->dir; any failure fails the calling test. */
static inline void fx_build(struct fx *f)
{
	char p[FS_PATH_MAX], src[FS_PATH_MAX], sha[HASH_HEX_BYTES];
	struct kerr err;
	json_t *m;

	memset(f, 0, sizeof *f);
	hash_init_lib();
	f->tmp = tu_mkdtemp();
	snprintf(f->dir, sizeof f->dir, "%s/b", f->tmp);
	snprintf(f->run, sizeof f->run, "%s/run", f->tmp);
	snprintf(f->mock, sizeof f->mock, "%s/mock.key", f->tmp);
	fx_path(f, "checkpoints", p);
	assert_int_equal(fs_mkdir_p(p, &err), 0);
	assert_int_equal(fs_mkdir_p(f->run, &err), 0);
	fx_write_str(f, "patch.diff",
		     "--- a/recipe/config.c\n+++ b/recipe/config.c\n@@ -1 +1 @@\n-lr 1e-3\n+lr 2e-3\n");
	fx_write_str(f, "rationale.md", "A higher learning rate converges faster at this scale.\n");
	fx_write_str(f, "calibration.json", "{\"before_ms\":10.25,\"after_ms\":10.5}\n");
	fx_log(f);
	f->nkeep = f->nint;
	for (int i = 0; i < f->nkeep; i++)
		f->keep[i] = i;
	for (int i = 0; i < f->nkeep; i++) {
		int step = (f->keep[i] + 1) * FX_EVERY;
		snprintf(p, sizeof p, "%s/checkpoints/step_%06d.ckpt", f->dir, step);
		fx_ckpt(p, step, sha);
		snprintf(src, sizeof src, "%s/step_%06d.ckpt", f->run, step);
		assert_true(fs_exists(src));
	}
	snprintf(p, sizeof p, "%s/miner.key", f->tmp);
	assert_int_equal(keys_generate(p, &f->k, &err), 0);
	snprintf(p, sizeof p, "%s/other.key", f->tmp);
	assert_int_equal(keys_generate(p, &f->other, &err), 0);
	f->ao.force_mock = 1;
	f->ao.mock_key = f->mock;
	m = fx_manifest(f);
	assert_non_null(m);
	if (bundle_seal(f->dir, m, &f->k, &f->ao, &err) < 0)
		fail_msg("bundle_seal: %s: %s", err.code, err.msg);
	json_decref(m);
}

static inline void fx_free(struct fx *f)
{
	keys_wipe(&f->k);
	keys_wipe(&f->other);
	tu_rmdir(f->tmp);
	f->tmp = NULL;
}

static inline json_t *fx_load_manifest(const struct fx *f)
{
	char p[FS_PATH_MAX];
	json_error_t je;
	json_t *m;

	fx_path(f, BUNDLE_MANIFEST, p);
	m = json_load_file(p, 0, &je);
	assert_non_null(m);
	return m;
}

/* Writes m canonically and signs it with k: what a tamperer holding k does. */
static inline void fx_sign(const struct fx *f, json_t *m, const struct keys *k)
{
	char p[FS_PATH_MAX], hex[KEYS_SIG_HEX_BYTES + 1];
	uint8_t sig[KEYS_SIG_BYTES];
	char *text = bundle_manifest_dump(m);

	assert_non_null(text);
	fx_path(f, BUNDLE_MANIFEST, p);
	fx_write(p, text, strlen(text));
	assert_int_equal(keys_sign(k, text, strlen(text), sig), 0);
	keys_hex_encode(sig, KEYS_SIG_BYTES, hex);
	hex[KEYS_SIG_HEX_BYTES - 1] = '\n';
	fx_path(f, BUNDLE_SIG, p);
	fx_write(p, hex, KEYS_SIG_HEX_BYTES);
	free(text);
}

/* Recomputes every listed digest from the files on disk and re-signs with k
 * (the attestation is left alone: nobody can redo it for free). */
static inline void fx_reseal(const struct fx *f, const struct keys *k)
{
	json_t *m = fx_load_manifest(f), *files = json_object();
	struct bundle_files *bf = calloc(1, sizeof *bf);
	struct kerr err;

	assert_non_null(bf);
	assert_int_equal(bundle_list(f->dir, bf, &err), 0);
	for (int i = 0; i < bf->n; i++) {
		char p[FS_PATH_MAX], hex[HASH_HEX_BYTES];
		uint64_t bytes;
		if (!strcmp(bf->name[i], BUNDLE_MANIFEST) || !strcmp(bf->name[i], BUNDLE_SIG) ||
		    !strcmp(bf->name[i], ATTEST_FILE))
			continue;
		fx_path(f, bf->name[i], p);
		assert_int_equal(hash_file_hex(p, hex, &bytes, &err), 0);
		json_object_set_new(files, bf->name[i],
				    json_pack("{s:I, s:s}", "bytes", (json_int_t)bytes, "sha256", hex));
	}
	json_object_set_new(m, "files", files);
	fx_sign(f, m, k);
	json_decref(m);
	free(bf);
}

/* Verifies f->dir (or path) and asserts the reason code. */
static inline void fx_expect(const char *path, const char *code)
{
	struct bundle_report r;
	struct kerr err = { { 0 }, { 0 } };
	int rc = bundle_verify(path, &r, &err);

	bundle_report_free(&r);
	if (!code) {
		if (rc != 0)
			fail_msg("expected a valid bundle, got %s: %s", err.code, err.msg);
		return;
	}
	if (rc == 0)
		fail_msg("expected %s, the bundle verified", code);
	if (strcmp(err.code, code))
		fail_msg("expected %s, got %s: %s", code, err.code, err.msg);
}

/* cmocka setup and teardown: a fresh sealed bundle per test. */
static inline int fx_setup(void **state)
{
	struct fx *f = malloc(sizeof *f);

	assert_non_null(f);
	fx_build(f);
	*state = f;
	return 0;
}

static inline int fx_teardown(void **state)
{
	struct fx *f = *state;

	fx_free(f);
	free(f);
	return 0;
}

/* Seconds a reader may take near a FIFO before the test counts it hung. */
#define FX_FIFO_ALARM_S 20

static inline void fx_on_alarm(int sig)
{
	static const char msg[] = "bundle test: blocked on a FIFO\n";

	(void)sig;
	(void)!write(2, msg, sizeof msg - 1);
	_exit(1);
}

/* on: a reader that blocks on a FIFO ends the test (alarm); off: disarmed. */
static inline void fx_fifo_guard(int on)
{
	signal(SIGALRM, on ? fx_on_alarm : SIG_DFL);
	alarm(on ? FX_FIFO_ALARM_S : 0);
}

#endif
