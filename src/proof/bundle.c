/* bundle.c: sealing and verifying a proof bundle, and the rule choosing
 * which intermediate checkpoints it keeps. Verification runs its checks in
 * a fixed order and stops at the first failure, so each tampering maps to
 * one stable reason code (docs/bundle.md has the table). Never trusts a
 * byte of the bundle before the check that covers it has passed. */
#include "proof/bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/checkpoint.h"
#include "harness/trainlog.h"
#include "util/jsonmem.h"
#include "util/log.h"

#define MANIFEST_DUMP_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17))
#define BUNDLE_KIND "karpa-bundle"
#define SIG_FILE_BYTES_MAX 1024 /* 128 hex digits and a newline */
/* A log holds at most TRAINLOG_BYTES_MAX / ~100 bytes per record; checkpoint
 * records are far fewer, this bounds the table we build from them. */
#define CKPT_RECORDS_MAX (1 << 20)

/* ---- sealing ----------------------------------------------------------- */

char *bundle_manifest_dump(const json_t *manifest)
{
	return json_dumps(manifest, MANIFEST_DUMP_FLAGS);
}

/* Files the manifest cannot list: itself, its signature, the evidence that binds it. */
static int reserved(const char *name)
{
	return !strcmp(name, BUNDLE_MANIFEST) || !strcmp(name, BUNDLE_SIG) || !strcmp(name, ATTEST_FILE);
}

static int check_kind(const json_t *m, struct kerr *err)
{
	json_t *p = json_object_get(m, "protocol");
	const char *kind = json_string_value(json_object_get(m, "kind"));

	if (!json_is_integer(p) || json_integer_value(p) != BUNDLE_PROTOCOL || !kind || strcmp(kind, BUNDLE_KIND))
		return kerr_set(err, "bundle.protocol", "manifest is not a protocol %d \"%s\" manifest",
				BUNDLE_PROTOCOL, BUNDLE_KIND);
	return 0;
}

/* {"name": {"bytes": N, "sha256": hex}} for every file but the reserved ones. */
static json_t *digest_files(const char *dir, struct kerr *err)
{
	struct bundle_files *f = calloc(1, sizeof *f);
	static const char *required[] = BUNDLE_REQUIRED_FILES;
	json_t *files = json_object(), *ret = NULL;

	if (!f || !files) {
		kerr_set(err, "bundle.nomem", "out of memory");
		goto out;
	}
	if (bundle_list(dir, f, err) < 0)
		goto out;
	for (int i = 0; i < f->n; i++) {
		char path[FS_PATH_MAX], hex[HASH_HEX_BYTES];
		uint64_t bytes;

		if (reserved(f->name[i]))
			continue;
		if (fs_join(path, sizeof path, err, "%s/%s", dir, f->name[i]) < 0 ||
		    hash_file_hex(path, hex, &bytes, err) < 0)
			goto out;
		json_object_set_new(files, f->name[i],
				    json_pack("{s:I, s:s}", "bytes", (json_int_t)bytes, "sha256", hex));
	}
	for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
		if (!json_object_get(files, required[i])) {
			kerr_set(err, "bundle.file_missing", "%s: the bundle has no %s", dir, required[i]);
			goto out;
		}
	ret = files;
	files = NULL;
out:
	json_decref(files);
	free(f);
	return ret;
}

int bundle_seal(const char *dir, json_t *manifest, const struct keys *k, const struct attest_opts *ao,
		struct kerr *err)
{
	char kind[32], path[FS_PATH_MAX], mhex[HASH_HEX_BYTES], sighex[KEYS_SIG_HEX_BYTES + 1];
	const char *miner;
	struct attest_result ar;
	uint8_t sig[KEYS_SIG_BYTES];
	json_t *files = NULL;
	char *text = NULL;
	size_t len;
	int rc = -1;

	memset(&ar, 0, sizeof ar);
	if (!json_is_object(manifest)) {
		kerr_set(err, "bundle.protocol", "manifest is not a JSON object");
		goto out;
	}
	if (check_kind(manifest, err) < 0)
		goto out;
	miner = json_string_value(json_object_get(manifest, "miner"));
	if (!miner)
		json_object_set_new(manifest, "miner", json_string(k->pk_hex));
	else if (strcmp(miner, k->pk_hex)) {
		kerr_set(err, "bundle.miner_mismatch", "manifest names miner %.16s..., the key is %.16s...", miner,
			 k->pk_hex);
		goto out;
	}
	if (!(files = digest_files(dir, err)) || attest_detect(ao, kind, err) < 0)
		goto out;
	json_object_set_new(manifest, "files", files);
	files = NULL;
	json_object_set_new(manifest, "attestation", json_pack("{s:s}", "kind", kind));
	if (!(text = bundle_manifest_dump(manifest))) {
		kerr_set(err, "bundle.encode", "cannot serialize the manifest (non-finite number?)");
		goto out;
	}
	len = strlen(text);
	if (len > BUNDLE_MANIFEST_BYTES_MAX) {
		kerr_set(err, "bundle.encode", "manifest of %zu bytes exceeds %u", len, BUNDLE_MANIFEST_BYTES_MAX);
		goto out;
	}
	/* Order matters: the evidence binds these exact bytes, the signature covers them. */
	if (fs_join(path, sizeof path, err, "%s/%s", dir, BUNDLE_MANIFEST) < 0 ||
	    fs_write_atomic(path, text, len, err) < 0)
		goto out;
	hash_buf_hex(text, len, mhex);
	if (attest_produce(ao, mhex, &ar, err) < 0)
		goto out;
	if (strcmp(ar.kind, kind)) {
		kerr_set(err, "bundle.attest_kind", "detected %s but the evidence is %s", kind, ar.kind);
		goto out;
	}
	if (fs_join(path, sizeof path, err, "%s/%s", dir, ATTEST_FILE) < 0 ||
	    fs_write_atomic(path, ar.json, ar.json_len, err) < 0)
		goto out;
	if (keys_sign(k, text, len, sig) < 0) {
		kerr_set(err, "bundle.sign", "signing the manifest failed");
		goto out;
	}
	keys_hex_encode(sig, KEYS_SIG_BYTES, sighex);
	sighex[KEYS_SIG_HEX_BYTES - 1] = '\n';
	if (fs_join(path, sizeof path, err, "%s/%s", dir, BUNDLE_SIG) < 0 ||
	    fs_write_atomic(path, sighex, KEYS_SIG_HEX_BYTES, err) < 0)
		goto out;
	rc = 0;
out:
	attest_result_free(&ar);
	json_decref(files);
	free(text);
	return rc;
}

/* ---- verification: the manifest --------------------------------------- */

/* A file of the bundle that could not be read is the bundle's fault
 * (code), unless memory ran out: that is the reader's, and a judge must
 * not record it against the proof. -1. */
static int read_failed(struct kerr *err, const char *code)
{
	if (!kerr_is_nomem(err))
		snprintf(err->code, sizeof err->code, "%s", code);
	return -1;
}

static int load_manifest(const char *dir, struct bundle_report *r, char **text, size_t *len, struct kerr *err)
{
	char path[FS_PATH_MAX], *again = NULL;
	json_error_t je;
	struct stat sb;
	int rc = -1;

	if (fs_join(path, sizeof path, err, "%s/%s", dir, BUNDLE_MANIFEST) < 0)
		return -1;
	if (lstat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
		return kerr_set(err, "bundle.manifest_missing", "%s: no %s", dir, BUNDLE_MANIFEST);
	if (fs_read_file(path, BUNDLE_MANIFEST_BYTES_MAX, O_NOFOLLOW, text, len, err) < 0)
		return read_failed(err, "bundle.manifest_parse");
	hash_buf_hex(*text, *len, r->manifest_sha256);
	if (jsonmem_loadb(*text, *len, &r->manifest, &je, "bundle.nomem", err) < 0) {
		kerr_prefix(err, "%s", path);
		goto out;
	}
	if (!json_is_object(r->manifest)) {
		kerr_set(err, "bundle.manifest_parse", "%s: %s", path,
			 r->manifest ? "not a JSON object" : je.text);
		goto out;
	}
	if (!(again = jsonmem_dumps(r->manifest, MANIFEST_DUMP_FLAGS, "bundle.nomem", err))) {
		kerr_prefix(err, "%s", path);
		goto out;
	}
	if (strlen(again) != *len || memcmp(again, *text, *len)) {
		kerr_set(err, "bundle.manifest_not_canonical",
			 "%s: bytes differ from the canonical form (compact, sorted keys, no trailing newline)", path);
		goto out;
	}
	rc = check_kind(r->manifest, err);
out:
	free(again);
	return rc;
}

static int field_fail(struct kerr *err, const char *field, const char *want)
{
	return kerr_set(err, "bundle.manifest_field", "manifest field %s: %s", field, want);
}

/* files, or held (field names which): name -> {bytes, sha256} */
static int check_files_field(const json_t *files, const char *field, struct kerr *err)
{
	const char *name;
	json_t *v;

	if (!json_is_object(files) || json_object_size(files) > BUNDLE_FILES_MAX)
		return field_fail(err, field, "an object of at most BUNDLE_FILES_MAX entries");
	json_object_foreach((json_t *)files, name, v) {
		json_t *b = json_object_get(v, "bytes");

		if (bundle_name_check(name, err) < 0 || reserved(name)) {
			snprintf(err->msg, sizeof err->msg,
				 "manifest field %s: \"%.*s\" is not a file name a bundle can list", field,
				 BUNDLE_NAME_MAX, name);
			snprintf(err->code, sizeof err->code, "bundle.manifest_field");
			return -1;
		}
		if (!hash_is_hex(json_string_value(json_object_get(v, "sha256")), HASH_HEX_BYTES - 1) || !json_is_integer(b) ||
		    json_integer_value(b) < 0)
			return kerr_set(err, "bundle.manifest_field", "manifest field %s.%s: wants {bytes, sha256}",
					field, name);
	}
	return 0;
}

/* Shapes the later checks rely on; the rest is informational. */
static int check_fields(const json_t *m, struct bundle_report *r, struct kerr *err)
{
	const char *miner = json_string_value(json_object_get(m, "miner"));
	const char *kind = json_string_value(json_object_get(json_object_get(m, "attestation"), "kind"));
	const char *head = json_string_value(json_object_get(json_object_get(m, "log"), "head"));
	const char *final = json_string_value(json_object_get(json_object_get(m, "results"), "final_ckpt"));
	json_t *keep = json_object_get(m, "keep"), *lines = json_object_get(json_object_get(m, "log"), "lines");
	size_t i;
	json_t *v;

	if (!hash_is_hex(miner, KEYS_PK_HEX_BYTES - 1))
		return field_fail(err, "miner", "64 lowercase hex digits (an Ed25519 public key)");
	if (!kind || !*kind || strlen(kind) >= sizeof r->attest_kind)
		return field_fail(err, "attestation.kind", "a short string");
	if (!hash_is_hex(head, HASH_HEX_BYTES - 1))
		return field_fail(err, "log.head", "64 lowercase hex digits");
	if (lines && !json_is_integer(lines))
		return field_fail(err, "log.lines", "an integer");
	if (!final || strcmp(final, BUNDLE_FINAL_CKPT))
		return field_fail(err, "results.final_ckpt", "\"" BUNDLE_FINAL_CKPT "\"");
	if (!json_is_array(keep) || json_array_size(keep) > BUNDLE_FILES_MAX)
		return field_fail(err, "keep", "an array of checkpoint indexes");
	json_array_foreach(keep, i, v)
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return field_fail(err, "keep", "an array of non-negative integers");
	if (check_files_field(json_object_get(m, "files"), "files", err) < 0 ||
	    (json_object_get(m, "held") && check_files_field(json_object_get(m, "held"), "held", err) < 0))
		return -1;
	memcpy(r->miner, miner, KEYS_PK_HEX_BYTES);
	snprintf(r->attest_kind, sizeof r->attest_kind, "%s", kind);
	memcpy(r->log_head, head, HASH_HEX_BYTES);
	return 0;
}

static int check_sig(const char *dir, const char *text, size_t len, const char *miner, struct kerr *err)
{
	char path[FS_PATH_MAX], *sigtext = NULL;
	uint8_t pk[KEYS_PK_BYTES], sig[KEYS_SIG_BYTES];
	struct stat sb;
	size_t n;
	int rc = -1;

	if (fs_join(path, sizeof path, err, "%s/%s", dir, BUNDLE_SIG) < 0)
		return -1;
	if (lstat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
		return kerr_set(err, "bundle.sig_missing", "%s: no %s", dir, BUNDLE_SIG);
	if (fs_read_file(path, SIG_FILE_BYTES_MAX, O_NOFOLLOW, &sigtext, &n, err) < 0)
		return read_failed(err, "bundle.sig_invalid");
	if (n && sigtext[n - 1] == '\n')
		sigtext[--n] = '\0';
	if (n != 2 * KEYS_SIG_BYTES || keys_hex_decode(sigtext, sig, KEYS_SIG_BYTES) < 0) {
		kerr_set(err, "bundle.sig_invalid", "%s: not %d hex digits", path, 2 * KEYS_SIG_BYTES);
		goto out;
	}
	if (keys_hex_decode(miner, pk, KEYS_PK_BYTES) < 0 || keys_verify(pk, text, len, sig, err) < 0) {
		kerr_set(err, "bundle.sig_invalid", "%s: not the signature of miner %.16s... over %s", path, miner,
			 BUNDLE_MANIFEST);
		goto out;
	}
	rc = 0;
out:
	free(sigtext);
	return rc;
}

/* ---- verification: the files ------------------------------------------ */

static int find(const struct bundle_files *f, const char *name)
{
	for (int i = 0; i < f->n; i++)
		if (!strcmp(f->name[i], name))
			return i;
	return -1;
}

/* The manifest's list against the take: every listed file present with the
 * digest and size of the bytes copied, no file unlisted. No file is read
 * here: the take hashed each one as it copied it, or left it unhashed
 * (bundle_take_deferred), and then its size is checked now and its listed
 * digest kept for bundle_taken_hash. */
static int check_files(struct bundle_taken *t, const json_t *files, struct kerr *err)
{
	static const char *required[] = BUNDLE_REQUIRED_FILES;
	const char *dir = t->dir, *name;
	json_t *v;

	for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
		if (!json_object_get(files, required[i]))
			return kerr_set(err, "bundle.file_missing", "%s: the manifest lists no %s", dir, required[i]);
	json_object_foreach((json_t *)files, name, v) {
		int i = find(&t->f, name);

		if (i < 0)
			return kerr_set(err, "bundle.file_missing", "%s: %s is listed but absent", dir, name);
		if (t->unhashed[i])
			snprintf(t->listed[i], HASH_HEX_BYTES, "%s", json_string_value(json_object_get(v, "sha256")));
		if ((!t->unhashed[i] && strcmp(t->sha256[i], json_string_value(json_object_get(v, "sha256")))) ||
		    (json_int_t)t->f.bytes[i] != json_integer_value(json_object_get(v, "bytes")))
			return kerr_set(err, "bundle.file_digest", "%s: %s does not match its digest in the manifest",
					dir, name);
	}
	for (int i = 0; i < t->f.n; i++)
		if (!reserved(t->f.name[i]) && !json_object_get(files, t->f.name[i]))
			return kerr_set(err, "bundle.file_unlisted", "%s: %s is not in the manifest", dir, t->f.name[i]);
	return 0;
}

/* ---- verification: the log and the checkpoints ------------------------ */

int bundle_log_checkpoints(const char *log, struct bundle_ckpt_rec **out, int *n, struct kerr *err)
{
	struct trainlog_iter it;
	struct trainlog_rec rec;
	int cap = 0, rc = -1, r;

	*out = NULL;
	*n = 0;
	if (trainlog_iter_open(&it, log, err) < 0)
		return -1;
	while ((r = trainlog_iter_next(&it, &rec, err)) == 1) {
		if (rec.kind != TRAINLOG_REC_CHECKPOINT)
			continue;
		if (*n == cap) {
			struct bundle_ckpt_rec *p;
			cap = cap ? 2 * cap : 16;
			if (cap > CKPT_RECORDS_MAX) {
				kerr_set(err, "bundle.ckpt_chain", "%s: more than %d checkpoint records", log,
					 CKPT_RECORDS_MAX);
				goto out;
			}
			if (!(p = realloc(*out, (size_t)cap * sizeof *p))) {
				kerr_set(err, "bundle.nomem", "%s: out of memory for its checkpoint records", log);
				goto out;
			}
			*out = p;
		}
		(*out)[*n].step = rec.step;
		snprintf((*out)[*n].sha, HASH_HEX_BYTES, "%s", rec.sha256 ? rec.sha256 : "");
		(*n)++;
	}
	rc = r < 0 ? -1 : 0;
out:
	trainlog_iter_close(&it);
	return rc;
}

/* "checkpoints/step_NNNNNN.ckpt" -> N; -1 for any other spelling. */
static int64_t step_of(const char *name)
{
	static const char pre[] = "checkpoints/step_", suf[] = ".ckpt";
	char again[BUNDLE_NAME_MAX + 1];
	int64_t s = 0;
	const char *p = name + sizeof pre - 1;

	if (strncmp(name, pre, sizeof pre - 1))
		return -1;
	for (; *p >= '0' && *p <= '9' && s < ((int64_t)1 << 40); p++)
		s = s * 10 + (*p - '0');
	if (strcmp(p, suf))
		return -1;
	snprintf(again, sizeof again, "%s%06lld%s", pre, (long long)s, suf);
	return strcmp(again, name) ? -1 : s;
}

static const char *listed_sha(const json_t *files, const char *name)
{
	return json_string_value(json_object_get(json_object_get(files, name), "sha256"));
}

/* The most a held checkpoint of the run whose records are rec may weigh:
 * the kept last intermediate's size and a header's room. -1 (nothing
 * passes) when the bundle does not list that file. */
static json_int_t held_bytes_max(const json_t *files, const struct bundle_ckpt_rec *rec, int n)
{
	char last[BUNDLE_NAME_MAX + 1];
	const json_t *b;

	if (n < 2)
		return -1;
	snprintf(last, sizeof last, "checkpoints/step_%06lld.ckpt", (long long)rec[n - 2].step);
	b = json_object_get(json_object_get(files, last), "bytes");
	return json_is_integer(b) ? json_integer_value(b) + CKPT_HEADER_BYTES_MAX : -1;
}

/* Every checkpoint file against the chain, then the kept set: every
 * intermediate the log records is in the bundle (files, with its index in
 * keep) or held by the miner (held), never both; the last one, where the
 * final segment starts, is always in the bundle. The validator draws the
 * segments it replays after submission (PROTOCOL 5.5), so each must be
 * replayable: from the bundle, or from a held file it asks the miner for,
 * whose digest here is held to the log. */
static int check_ckpts(const char *dir, const json_t *m, const struct bundle_ckpt_rec *rec, int n, struct kerr *err)
{
	const json_t *files = json_object_get(m, "files"), *keep = json_object_get(m, "keep"),
		     *held = json_object_get(m, "held");
	const char *name;
	int kept = 0, nheld = 0, k = 0;
	json_t *v;

	if (n == 0)
		return kerr_set(err, "bundle.ckpt_chain", "%s: the log records no checkpoint", dir);
	for (int i = 1; i < n; i++)
		if (rec[i].step <= rec[i - 1].step)
			return kerr_set(err, "bundle.ckpt_chain", "%s: checkpoint steps do not increase in the log",
					dir);
	if (strcmp(listed_sha(files, BUNDLE_FINAL_CKPT), rec[n - 1].sha))
		return kerr_set(err, "bundle.ckpt_digest", "%s: %s is not the final checkpoint the log records", dir,
				BUNDLE_FINAL_CKPT);
	for (int pass = 0; pass < 2; pass++)
		json_object_foreach((json_t *)(pass ? held : files), name, v) {
			int64_t s = step_of(name);
			int j;

			if (!pass && (strncmp(name, "checkpoints/", 12) || !strcmp(name, BUNDLE_FINAL_CKPT)))
				continue;
			if (s < 0)
				return kerr_set(err, "bundle.ckpt_selection", "%s: %s is not a checkpoint name", dir, name);
			for (j = 0; j < n - 1 && rec[j].step != s; j++)
				;
			if (j == n - 1)
				return kerr_set(err, "bundle.ckpt_digest",
						"%s: the log records no checkpoint at step %lld (%s)", dir, (long long)s, name);
			if (strcmp(listed_sha(pass ? held : files, name), rec[j].sha))
				return kerr_set(err, "bundle.ckpt_digest",
						"%s: %s is not the checkpoint the log records at step %lld", dir, name,
						(long long)s);
			if (pass && json_object_get(files, name))
				return kerr_set(err, "bundle.ckpt_selection", "%s: %s is both in the bundle and held", dir,
						name);
			if (pass && j == n - 2)
				return kerr_set(err, "bundle.ckpt_selection",
						"%s: %s starts the final segment, which every binding replay runs: a bundle keeps it",
						dir, name);
			/* A run's checkpoints differ in size by their headers only: a
			 * held size is bounded by the kept last intermediate's, so a
			 * miner cannot make a validator take gigabytes of anything. */
			if (pass && held_bytes_max(files, rec, n) < 0)
				return kerr_set(err, "bundle.ckpt_selection",
						"%s: the last intermediate checkpoint is not kept, and a bundle that holds any keeps it",
						dir);
			if (pass && json_integer_value(json_object_get(v, "bytes")) > held_bytes_max(files, rec, n))
				return kerr_set(err, "bundle.ckpt_selection",
						"%s: %s is held as %lld bytes, more than a checkpoint of this run can be", dir,
						name, (long long)json_integer_value(json_object_get(v, "bytes")));
			*(pass ? &nheld : &kept) += 1;
		}
	if (kept + nheld != n - 1 || json_array_size(keep) != (size_t)kept)
		return kerr_set(err, "bundle.ckpt_selection",
				"%s: keeps %d intermediate checkpoints and holds %d, the log records %d: a bundle keeps or holds them all",
				dir, kept, nheld, n - 1);
	for (int i = 0; i < n - 1; i++) {
		char want[BUNDLE_NAME_MAX + 1];

		snprintf(want, sizeof want, "checkpoints/step_%06lld.ckpt", (long long)rec[i].step);
		if (json_object_get(held, want))
			continue;
		if (json_integer_value(json_array_get(keep, (size_t)k++)) != i || !json_object_get(files, want))
			return kerr_set(err, "bundle.ckpt_selection", "%s: %s (index %d) is not kept", dir, want, i);
	}
	return 0;
}

int64_t bundle_ckpt_step(const char *name)
{
	return name ? step_of(name) : -1;
}

static int check_log(const char *dir, const json_t *m, struct kerr *err)
{
	const json_t *lg = json_object_get(m, "log"), *lines = json_object_get(lg, "lines");
	struct trainlog_summary s;
	struct bundle_ckpt_rec *rec = NULL;
	char path[FS_PATH_MAX];
	int n = 0, rc = -1;

	if (fs_join(path, sizeof path, err, "%s/train.log", dir) < 0 || trainlog_verify(path, &s, err) < 0)
		return -1;
	if (strcmp(s.head, json_string_value(json_object_get(lg, "head"))) ||
	    (lines && json_integer_value(lines) != s.lines))
		return kerr_set(err, "bundle.log_head",
				"%s: the log's head %.16s... (%lld lines) is not the manifest's", dir, s.head,
				(long long)s.lines);
	if (bundle_log_checkpoints(path, &rec, &n, err) < 0)
		goto out;
	rc = check_ckpts(dir, m, rec, n, err);
out:
	free(rec);
	return rc;
}

static int check_attest(const char *dir, struct bundle_report *r, struct kerr *err)
{
	char path[FS_PATH_MAX], *text = NULL;
	struct attest_result ar;
	struct stat sb;
	size_t len;
	int rc = -1;

	memset(&ar, 0, sizeof ar);
	if (fs_join(path, sizeof path, err, "%s/%s", dir, ATTEST_FILE) < 0)
		return -1;
	if (lstat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
		return kerr_set(err, "bundle.file_missing", "%s: no %s", dir, ATTEST_FILE);
	if (fs_read_file(path, ATTEST_EVIDENCE_BYTES_MAX, O_NOFOLLOW, &text, &len, err) < 0)
		return read_failed(err, "attest.parse");
	if (attest_verify(text, len, r->manifest_sha256, r->attest_kind, &ar, err) < 0)
		goto out;
	if (attest_tier_for_run(&ar, json_is_object(json_object_get(json_object_get(r->manifest, "environment"),
								     "device"))))
		log_msg(LOG_NOTICE, "bundle", "%s evidence covers the CPU only and this run trained on a GPU, whose "
			"confidential-computing evidence is not checked: tier unverified (alpha %.1f)", ar.kind,
			ar.alpha);
	r->tier = ar.tier;
	r->alpha = ar.alpha;
	rc = 0;
out:
	attest_result_free(&ar);
	free(text);
	return rc;
}

int bundle_signed(const char *dir, struct kerr *err)
{
	struct bundle_report r;
	char *text = NULL;
	size_t len = 0;
	const char *miner;
	int rc = -1;

	memset(&r, 0, sizeof r);
	if (load_manifest(dir, &r, &text, &len, err) < 0)
		goto out;
	miner = json_string_value(json_object_get(r.manifest, "miner"));
	if (!miner || strlen(miner) != KEYS_PK_HEX_BYTES - 1) {
		kerr_set(err, "bundle.manifest_field", "manifest field miner: names no key (%s)", dir);
		goto out;
	}
	if (check_sig(dir, text, len, miner, err) < 0)
		goto out;
	/* the words the corpus keeps beside the miner's key: the signed
	 * manifest must name these bytes, or they are anyone's */
	for (int i = 0; i < 2; i++) {
		static const char *const names[2] = { "patch.diff", "rationale.md" };
		const json_t *f = json_object_get(json_object_get(r.manifest, "files"), names[i]);
		const char *want = json_string_value(json_object_get(f, "sha256"));
		char path[FS_PATH_MAX], hex[HASH_HEX_BYTES];
		uint64_t bytes = 0;

		if (fs_join(path, sizeof path, err, "%s/%s", dir, names[i]) < 0)
			goto out;
		if (!f && !fs_exists(path))
			continue;
		if (!want || hash_file_hex(path, hex, &bytes, err) < 0 || strcmp(hex, want) ||
		    !json_is_integer(json_object_get(f, "bytes")) ||
		    (uint64_t)json_integer_value(json_object_get(f, "bytes")) != bytes) {
			kerr_set(err, "bundle.file_digest", "%s: not the %s the signed manifest names", dir, names[i]);
			goto out;
		}
	}
	rc = 0;
out:
	free(text);
	bundle_report_free(&r);
	return rc;
}

/* The manifest read for verification must be the bytes the take hashed:
 * only a writer inside the validator's own copy could make them differ. */
static int check_copy(const struct bundle_taken *t, const struct bundle_report *r, struct kerr *err)
{
	int i = find(&t->f, BUNDLE_MANIFEST);

	if (i < 0 || strcmp(t->sha256[i], r->manifest_sha256))
		return kerr_set(err, "bundle.copy_changed", "%s: %s is not the one taken", t->dir, BUNDLE_MANIFEST);
	return 0;
}

int bundle_verify_taken(struct bundle_taken *t, struct bundle_report *r, struct kerr *err)
{
	const char *dir = t->dir;
	char *text = NULL;
	size_t len = 0;
	int rc = -1;

	memset(r, 0, sizeof *r);
	r->tier = ATTEST_UNVERIFIED;
	if (load_manifest(dir, r, &text, &len, err) < 0 || check_copy(t, r, err) < 0 ||
	    check_fields(r->manifest, r, err) < 0 || check_sig(dir, text, len, r->miner, err) < 0 ||
	    check_files(t, json_object_get(r->manifest, "files"), err) < 0 || check_log(dir, r->manifest, err) < 0 ||
	    check_attest(dir, r, err) < 0)
		goto out;
	rc = 0;
out:
	free(text);
	return rc;
}

/* The index of name in the take, or -1. */
static int taken_index(const struct bundle_taken *t, const char *name)
{
	int lo = 0, hi = t->f.n - 1;

	/* names are sorted (bundle_list) */
	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2, c = strcmp(t->f.name[mid], name);
		if (!c)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

static int held_index(const struct bundle_taken *t, const char *name)
{
	for (int i = 0; i < t->n_held; i++)
		if (!strcmp(t->held_name[i], name))
			return i;
	return -1;
}

const char *bundle_taken_sha256(const struct bundle_taken *t, const char *name)
{
	int i = taken_index(t, name);

	if (i < 0)
		return (i = held_index(t, name)) < 0 ? NULL : t->held_sha256[i];
	return t->unhashed[i] ? NULL : t->sha256[i];
}

int bundle_taken_has(const struct bundle_taken *t, const char *name)
{
	return taken_index(t, name) >= 0 || held_index(t, name) >= 0;
}

const char *bundle_taken_listed(const struct bundle_taken *t, const char *name)
{
	int i = taken_index(t, name);

	return i < 0 || !t->unhashed[i] || !t->listed[i][0] ? NULL : t->listed[i];
}

static int hash_one(struct bundle_taken *t, int i, struct kerr *err)
{
	char path[FS_PATH_MAX], got[HASH_HEX_BYTES];

	if (!t->unhashed[i])
		return 0;
	if (!t->listed[i][0])
		return kerr_set(err, "bundle.unverified", "%s: %s is hashed against a manifest not yet verified", t->dir,
				t->f.name[i]);
	if (fs_join(path, sizeof path, err, "%s/%s", t->dir, t->f.name[i]) < 0 || hash_file_hex(path, got, NULL, err) < 0)
		return -1;
	if (strcmp(got, t->listed[i]))
		return kerr_set(err, "bundle.file_digest", "%s: %s does not match its digest in the manifest", t->dir,
				t->f.name[i]);
	memcpy(t->sha256[i], got, HASH_HEX_BYTES);
	t->unhashed[i] = 0;
	return 0;
}

int bundle_taken_hash(struct bundle_taken *t, const char *name, struct kerr *err)
{
	int i = taken_index(t, name);

	if (i < 0)
		return kerr_set(err, "bundle.file_missing", "%s: no %s in the take", t->dir, name);
	return hash_one(t, i, err);
}

int bundle_taken_hash_all(struct bundle_taken *t, struct kerr *err)
{
	for (int i = 0; i < t->f.n; i++)
		if (hash_one(t, i, err) < 0)
			return -1;
	return 0;
}

int bundle_taken_unhashed(const struct bundle_taken *t)
{
	int n = 0;

	for (int i = 0; i < t->f.n; i++)
		n += t->unhashed[i];
	return n;
}

int bundle_verify(const char *path, struct bundle_report *r, struct kerr *err)
{
	return bundle_verify_at(path, NULL, r, err);
}

int bundle_verify_at(const char *path, const char *tmp_base, struct bundle_report *r, struct kerr *err)
{
	struct bundle_dir *d = malloc(sizeof *d);
	int rc = -1;

	memset(r, 0, sizeof *r);
	r->tier = ATTEST_UNVERIFIED;
	if (!d)
		return kerr_set(err, "bundle.nomem", "out of memory");
	if (bundle_dir_open_at(path, tmp_base, d, err) == 0) {
		rc = bundle_verify_taken(&d->t, r, err);
		bundle_dir_close(d);
	}
	free(d);
	return rc;
}

void bundle_report_free(struct bundle_report *r)
{
	json_decref(r->manifest);
	r->manifest = NULL;
}

/* dst as a hard link to src, with its size and SHA-256 (a size other than
 * want is not read: *hex is then ""). 1 when linked, 0 when a link cannot
 * be made here (another filesystem, or one without links: the caller
 * copies), -1 (err) otherwise. */
static int held_link(const char *src, const char *dst, uint64_t want, char hex[HASH_HEX_BYTES], uint64_t *got,
		     struct kerr *err)
{
	struct stat st;

	hex[0] = '\0';
	if (link(src, dst) < 0) {
		if (errno == EEXIST)
			return kerr_set(err, "fs.exists", "%s exists", dst);
		if (errno == EXDEV || errno == EPERM || errno == EMLINK || errno == ENOTSUP)
			return 0;
		return kerr_errno(err, "fs.write", dst);
	}
	if (lstat(dst, &st) < 0 || !S_ISREG(st.st_mode)) {
		kerr_set(err, "bundle.held_digest", "%s: not a regular file", src);
		unlink(dst);
		return -1;
	}
	*got = (uint64_t)st.st_size;
	if (*got == want && hash_file_hex(dst, hex, got, err) < 0) {
		unlink(dst);
		return -1;
	}
	return 1;
}

int bundle_held_take(const json_t *manifest, const char *name, const char *src, const char *dst, int may_link,
		     struct kerr *err)
{
	const json_t *e = json_object_get(json_object_get(manifest, "held"), name);
	const char *want = json_string_value(json_object_get(e, "sha256"));
	json_int_t bytes = json_integer_value(json_object_get(e, "bytes"));
	char hex[HASH_HEX_BYTES] = "";
	uint64_t got = 0;
	int linked = 0;

	if (!want || !json_is_integer(json_object_get(e, "bytes")) || bytes < 0)
		return kerr_set(err, "bundle.held_bad", "the manifest holds no checkpoint %.128s with a size and digest", name);
	if (may_link && (linked = held_link(src, dst, (uint64_t)bytes, hex, &got, err)) < 0)
		return -1; /* nothing of ours left at dst */
	if (!linked && fs_copy_file_bounded(src, dst, (uint64_t)bytes, hex, &got, err) < 0) {
		if (!strcmp(err->code, "fs.exists"))
			return -1; /* not ours to remove */
		if (!strcmp(err->code, "fs.too_large"))
			kerr_set(err, "bundle.held_digest", "%s: more than the %lld bytes the manifest holds", src,
				 (long long)bytes);
		unlink(dst);
		return -1;
	}
	if (got != (uint64_t)bytes || strcmp(hex, want)) {
		unlink(dst);
		return kerr_set(err, "bundle.held_digest",
				"%s: %llu bytes with SHA-256 %.16s..., the manifest holds %lld bytes with %.16s...", src,
				(unsigned long long)got, hex[0] ? hex : "(not read)", (long long)bytes, want);
	}
	return 0;
}

int bundle_taken_held(struct bundle_taken *t, const json_t *manifest, const char *name, const char *src,
		      int may_link, struct kerr *err)
{
	const json_t *e = json_object_get(json_object_get(manifest, "held"), name);
	const char *sha = json_string_value(json_object_get(e, "sha256"));
	char dst[FS_PATH_MAX];

	if (strlen(name) > BUNDLE_NAME_MAX || t->n_held >= BUNDLE_FILES_MAX)
		return kerr_set(err, "bundle.held_bad", "%.128s: a name over %d bytes, or more than %d held checkpoints",
				name, BUNDLE_NAME_MAX, BUNDLE_FILES_MAX);
	if (taken_index(t, name) >= 0 || held_index(t, name) >= 0)
		return kerr_set(err, "bundle.held_bad", "%.128s: already in the validator's copy of the bundle", name);
	if (fs_join(dst, sizeof dst, err, "%s/%s", t->dir, name) < 0 ||
	    bundle_held_take(manifest, name, src, dst, may_link, err) < 0)
		return -1;
	/* the bytes taken hashed to this digest, or the take failed */
	snprintf(t->held_name[t->n_held], sizeof t->held_name[t->n_held], "%s", name);
	snprintf(t->held_sha256[t->n_held], sizeof t->held_sha256[t->n_held], "%s", sha);
	t->n_held++;
	return 0;
}
