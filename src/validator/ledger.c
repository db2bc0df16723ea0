/* ledger.c: the local ledger (docs/weights.md, "The ledger"): the table,
 * its entry format, appending a closed epoch, and walking the chain to
 * prove nothing was edited, dropped, inserted or reordered. Never updates
 * or deletes a row: the ledger only grows, one transaction per epoch.
 *
 *   ledger(epoch INTEGER PRIMARY KEY, closed_at, body, prev_hash, hash,
 *          signature, validator_pk)
 *     body       weights_canonical's bytes, stored as they were hashed
 *     prev_hash  the previous entry's hash (64 hex), LEDGER_ZERO_HASH first
 *     hash       SHA-256(prev_hash's 64 hex characters || body), hex
 *     signature  Ed25519 over LEDGER_SIG_CONTEXT, NUL, the hash's 32 bytes
 *
 * The table is created here (CREATE TABLE IF NOT EXISTS before every use)
 * rather than in vstate.c's versioned schema: it is additive, old states
 * gain it on their first close, and the schema version stays with the
 * changes that need a migration. */
#include "validator/ledger.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/fsutil.h"
#include "util/hash.h"

static const char table_sql[] =
	"CREATE TABLE IF NOT EXISTS ledger(epoch INTEGER PRIMARY KEY, closed_at TEXT NOT NULL, body TEXT NOT NULL,"
	" prev_hash TEXT NOT NULL, hash TEXT NOT NULL, signature TEXT NOT NULL, validator_pk TEXT NOT NULL)";

#define ENTRY_COLS "SELECT epoch, closed_at, body, prev_hash, hash, signature, validator_pk FROM ledger"
#define HEAD_MAX 96 /* "<epoch> <64 hex>" */

/* ---------------------------------------------------------------- helpers */

static int ensure_table(struct vstate *s, struct kerr *err)
{
	if (sqlite3_exec(s->db, table_sql, NULL, NULL, NULL) != SQLITE_OK)
		return vstate_sql_error(s, "create ledger table", err);
	return 0;
}

static const char *col_text(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	return t ? (const char *)t : "";
}

static int key_path(struct vstate *s, char path[FS_PATH_MAX], struct kerr *err)
{
	return fs_join(path, FS_PATH_MAX, err, "%s/%s", s->dir, LEDGER_KEY_NAME);
}

/* The validator's key; created (0600) on first use when create is set. */
static int key_get(struct vstate *s, int create, struct keys *k, struct kerr *err)
{
	char path[FS_PATH_MAX];
	struct kerr e = { { 0 }, { 0 } };

	if (key_path(s, path, err) < 0)
		return -1;
	if (keys_load(path, k, &e) == 0)
		return 0;
	/* keys.exists: another process created it first; read theirs. */
	if (create && !strcmp(e.code, "keys.missing") &&
	    (keys_generate(path, k, &e) == 0 || (!strcmp(e.code, "keys.exists") && keys_load(path, k, &e) == 0)))
		return 0;
	return kerr_set(err, "ledger.key", "%s: %s: %s", path, e.code, e.msg);
}

static void entry_hash(const char *prev_hex, const char *body, size_t body_len, uint8_t out[HASH_BYTES])
{
	struct hash_ctx h;

	hash_begin(&h);
	hash_update(&h, prev_hex, HASH_HEX_BYTES - 1);
	hash_update(&h, body, body_len);
	hash_end(&h, out);
}

/* The signed message: context, NUL, the hash's bytes. */
static void sig_message(const uint8_t hash[HASH_BYTES], uint8_t msg[sizeof LEDGER_SIG_CONTEXT + HASH_BYTES])
{
	memcpy(msg, LEDGER_SIG_CONTEXT, sizeof LEDGER_SIG_CONTEXT);
	memcpy(msg + sizeof LEDGER_SIG_CONTEXT, hash, HASH_BYTES);
}

static int sig_ok(const uint8_t pk[KEYS_PK_BYTES], const uint8_t hash[HASH_BYTES], const uint8_t sig[KEYS_SIG_BYTES])
{
	uint8_t msg[sizeof LEDGER_SIG_CONTEXT + HASH_BYTES];
	struct kerr e;

	sig_message(hash, msg);
	return keys_verify(pk, msg, sizeof msg, sig, &e) == 0;
}

/* ---------------------------------------------------------------- append */

struct last {
	long long epoch;
	char hash[HASH_HEX_BYTES];
	char closed_at[VSTATE_TIME_BYTES];
};

static int read_last(struct vstate *s, struct last *l, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	int r, rc = -1;

	memset(l, 0, sizeof *l);
	snprintf(l->hash, sizeof l->hash, "%s", LEDGER_ZERO_HASH);
	if (sqlite3_prepare_v2(s->db, "SELECT epoch, hash, closed_at FROM ledger ORDER BY epoch DESC LIMIT 1", -1, &st,
			       NULL) != SQLITE_OK)
		return vstate_sql_error(s, "read ledger", err);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		l->epoch = sqlite3_column_int64(st, 0);
		snprintf(l->hash, sizeof l->hash, "%s", col_text(st, 1));
		snprintf(l->closed_at, sizeof l->closed_at, "%s", col_text(st, 2));
	} else if (r != SQLITE_DONE) {
		vstate_sql_error(s, "read ledger", err);
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

struct append_args {
	const struct weights *w;
	const struct keys *k;
};

static int append_tx(struct vstate *s, void *arg, struct kerr *err)
{
	const struct append_args *a = arg;
	uint8_t hash[HASH_BYTES], msg[sizeof LEDGER_SIG_CONTEXT + HASH_BYTES], sig[KEYS_SIG_BYTES];
	char hex[HASH_HEX_BYTES], sig_hex[KEYS_SIG_HEX_BYTES], head[HEAD_MAX], *body = NULL;
	sqlite3_stmt *st = NULL;
	struct last l;
	int rc = -1;

	if (ensure_table(s, err) < 0 || read_last(s, &l, err) < 0)
		return -1;
	if (a->w->epoch != l.epoch + 1)
		return kerr_set(err, "ledger.epoch_order", "%s: epoch %lld cannot follow epoch %lld (epochs are consecutive)",
				s->dir, a->w->epoch, l.epoch);
	/* Ages are measured from closing times: a clock stepped back must not
	 * make an epoch older than the one before it. */
	if (l.epoch && strcmp(a->w->closed_at, l.closed_at) < 0)
		return kerr_set(err, "ledger.epoch_order", "%s: epoch %lld closes at %s, before epoch %lld (%s)", s->dir,
				a->w->epoch, a->w->closed_at, l.epoch, l.closed_at);
	if (!hash_is_hex(l.hash, HASH_HEX_BYTES - 1))
		return kerr_set(err, "ledger.tampered", "%s: epoch %lld: stored hash is not 64 hex digits", s->dir,
				l.epoch);
	if (!(body = weights_canonical(a->w)))
		return kerr_set(err, "ledger.nomem", "epoch %lld: out of memory (or a malformed vector) writing the body",
				a->w->epoch);
	entry_hash(l.hash, body, strlen(body), hash);
	hash_hex(hash, hex);
	sig_message(hash, msg);
	if (keys_sign(a->k, msg, sizeof msg, sig) < 0) {
		kerr_set(err, "ledger.key", "epoch %lld: signing failed", a->w->epoch);
		goto out;
	}
	keys_hex_encode(sig, sizeof sig, sig_hex);
	if (sqlite3_prepare_v2(s->db,
			       "INSERT INTO ledger(epoch, closed_at, body, prev_hash, hash, signature, validator_pk)"
			       " VALUES(?, ?, ?, ?, ?, ?, ?)",
			       -1, &st, NULL) != SQLITE_OK) {
		vstate_sql_error(s, "append to ledger", err);
		goto out;
	}
	sqlite3_bind_int64(st, 1, a->w->epoch);
	sqlite3_bind_text(st, 2, a->w->closed_at, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, body, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, l.hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, hex, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, sig_hex, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, a->k->pk_hex, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		vstate_sql_error(s, "append to ledger", err);
		goto out;
	}
	snprintf(head, sizeof head, "%lld %s", a->w->epoch, hex);
	if (vstate_meta_set(s, LEDGER_META_HEAD, head, err) < 0)
		goto out;
	rc = 0;
out:
	sqlite3_finalize(st);
	free(body);
	return rc;
}

int ledger_append(struct vstate *s, const struct weights *w, struct kerr *err)
{
	struct keys k;
	struct append_args a = { w, &k };
	int rc;

	if (key_get(s, 1, &k, err) < 0)
		return -1;
	rc = vstate_tx(s, append_tx, &a, err);
	keys_wipe(&k);
	return rc;
}

static int sink_submit(void *ctx, const struct weights *w, struct kerr *err)
{
	return ledger_append(ctx, w, err);
}

struct weights_sink ledger_sink(struct vstate *s)
{
	struct weights_sink k = { "ledger", sink_submit, s };

	return k;
}

int ledger_last_epoch(struct vstate *s, long long *epoch, struct kerr *err)
{
	struct last l;

	*epoch = 0;
	if (ensure_table(s, err) < 0 || read_last(s, &l, err) < 0)
		return -1;
	*epoch = l.epoch;
	return 0;
}

/* ---------------------------------------------------------------- verify */

static int tampered(struct vstate *s, long long epoch, struct kerr *err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int tampered(struct vstate *s, long long epoch, struct kerr *err, const char *fmt, ...)
{
	char what[KERR_MSG_MAX / 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return kerr_set(err, "ledger.tampered", "%s: ledger epoch %lld: %s", s->dir, epoch, what);
}

/* The signed body names its epoch and closing time; the row's columns
 * must agree (an entry moved to another epoch number keeps its body). */
static int body_matches(struct vstate *s, long long epoch, const char *closed_at, const char *body, struct kerr *err)
{
	json_error_t je;
	json_t *j = json_loads(body, 0, &je), *e, *c;
	int rc = -1;

	e = json_object_get(j, "epoch");
	c = json_object_get(j, "closed_at");
	if (!json_is_integer(e) || !json_is_string(c)) {
		tampered(s, epoch, err, "the body is not a weights vector (edited)");
		goto out;
	}
	if (json_integer_value(e) != epoch) {
		tampered(s, epoch, err, "the entry holds epoch %lld's body: entries were reordered or renumbered",
			 (long long)json_integer_value(e));
		goto out;
	}
	if (strcmp(json_string_value(c), closed_at)) {
		tampered(s, epoch, err, "closed_at '%.24s' is not the signed body's '%.24s' (edited)", closed_at,
			 json_string_value(c));
		goto out;
	}
	rc = 0;
out:
	json_decref(j);
	return rc;
}

/* One entry, given the hash before it and the key file's public key. */
static int verify_entry(struct vstate *s, sqlite3_stmt *st, long long epoch, const char *prev,
			const struct keys *k, struct kerr *err)
{
	const char *closed_at = col_text(st, 1), *body = col_text(st, 2), *prev_hash = col_text(st, 3);
	const char *hash = col_text(st, 4), *sig_hex = col_text(st, 5), *pk_hex = col_text(st, 6);
	uint8_t want[HASH_BYTES], have[HASH_BYTES], sig[KEYS_SIG_BYTES], pk[KEYS_PK_BYTES];
	size_t body_len = (size_t)sqlite3_column_bytes(st, 2);

	if (body_len > LEDGER_BODY_BYTES_MAX)
		return tampered(s, epoch, err, "body larger than any vector");
	if (!hash_is_hex(prev_hash, HASH_HEX_BYTES - 1) || keys_hex_decode(hash, have, sizeof have) ||
	    !hash_is_hex(hash, HASH_HEX_BYTES - 1) || keys_hex_decode(sig_hex, sig, sizeof sig) ||
	    keys_hex_decode(pk_hex, pk, sizeof pk))
		return tampered(s, epoch, err, "a hash, signature or key field is not hex of its length (edited)");
	entry_hash(prev_hash, body, body_len, want);
	if (memcmp(want, have, HASH_BYTES)) {
		/* Which was edited: the signature still covers one of them. */
		if (sig_ok(pk, have, sig))
			return tampered(s, epoch, err, "body (or prev_hash) edited: it no longer hashes to the signed hash %.16s...",
					hash);
		if (sig_ok(pk, want, sig))
			return tampered(s, epoch, err, "hash edited: %.16s... is not the signed body's hash", hash);
		return tampered(s, epoch, err, "body and hash edited: the hash is not the body's and is not signed");
	}
	if (body_matches(s, epoch, closed_at, body, err) < 0)
		return -1;
	if (strcmp(prev_hash, prev))
		return tampered(s, epoch, err,
				"broken chain: prev_hash %.16s... is not the previous entry's hash %.16s... (an entry"
				" was dropped, inserted or replaced)",
				prev_hash, prev);
	if (memcmp(pk, k->pk, KEYS_PK_BYTES))
		return tampered(s, epoch, err, "signed by key %.16s..., not this validator's key %.16s...", pk_hex,
				k->pk_hex);
	if (!sig_ok(pk, have, sig))
		return tampered(s, epoch, err, "bad signature: not the validator's signature over hash %.16s...",
				hash);
	return 0;
}

/* The head recorded with the newest entry: a dropped tail leaves it
 * naming an epoch the table no longer has. */
static int verify_head(struct vstate *s, long long last, const char *last_hash, struct kerr *err)
{
	char head[HEAD_MAX], hash[HEAD_MAX];
	long long epoch;

	if (vstate_meta_get(s, LEDGER_META_HEAD, head, sizeof head, err) < 0) {
		if (strcmp(err->code, "vstate.meta_missing"))
			return -1;
		if (last == 0)
			return 0;
		return tampered(s, last, err, "no ledger head recorded for the newest entry (meta %s removed)",
				LEDGER_META_HEAD);
	}
	if (sscanf(head, "%lld %95s", &epoch, hash) != 2 || epoch < 1 || !hash_is_hex(hash, HASH_HEX_BYTES - 1))
		return tampered(s, last ? last : 1, err, "meta %s '%.80s' is malformed", LEDGER_META_HEAD, head);
	if (epoch > last)
		return tampered(s, last + 1, err, "missing: the ledger head names epoch %lld but the entries end at"
				" epoch %lld (entries dropped from the end)", epoch, last);
	if (epoch < last)
		return tampered(s, epoch + 1, err, "appended after the recorded head (meta %s names epoch %.20s)",
				LEDGER_META_HEAD, head);
	if (strcmp(hash, last_hash))
		return tampered(s, last, err, "the newest entry is not the one recorded at the head (%.16s...)", hash);
	return 0;
}

int ledger_verify(struct vstate *s, long long *entries, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	struct keys k;
	char prev[HASH_HEX_BYTES];
	long long expected = 1;
	int r, rc = -1, have_key = 0;

	*entries = 0;
	memset(&k, 0, sizeof k);
	snprintf(prev, sizeof prev, "%s", LEDGER_ZERO_HASH);
	if (ensure_table(s, err) < 0)
		return -1;
	/* one read snapshot for the entries and the head: an epoch appended
	 * meanwhile (the service closes them while an operator verifies) must
	 * not look like a dropped or extra entry. A savepoint nests inside a
	 * caller's transaction and starts a deferred one otherwise. */
	if (sqlite3_exec(s->db, "SAVEPOINT ledger_verify", NULL, NULL, NULL) != SQLITE_OK)
		return vstate_sql_error(s, "read ledger", err);
	if (sqlite3_prepare_v2(s->db, ENTRY_COLS " ORDER BY epoch", -1, &st, NULL) != SQLITE_OK) {
		vstate_sql_error(s, "read ledger", err);
		goto out;
	}
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		long long epoch = sqlite3_column_int64(st, 0);

		if (!have_key) {
			if (key_get(s, 0, &k, err) < 0)
				goto out;
			have_key = 1;
		}
		if (epoch != expected) {
			if (epoch > expected)
				tampered(s, expected, err, "missing: the next entry is epoch %lld (an entry was dropped)",
					 epoch);
			else
				tampered(s, expected, err, "out of order: the next entry is epoch %lld (renumbered)", epoch);
			goto out;
		}
		if (verify_entry(s, st, epoch, prev, &k, err) < 0)
			goto out;
		snprintf(prev, sizeof prev, "%s", col_text(st, 4));
		expected++;
		(*entries)++;
	}
	if (r != SQLITE_DONE) {
		vstate_sql_error(s, "read ledger", err);
		goto out;
	}
	if (verify_head(s, expected - 1, prev, err) < 0)
		goto out;
	rc = 0;
out:
	sqlite3_finalize(st);
	sqlite3_exec(s->db, "RELEASE ledger_verify", NULL, NULL, NULL);
	keys_wipe(&k);
	return rc;
}

/* ---------------------------------------------------------------- export */

static json_t *entry_json(sqlite3_stmt *st)
{
	json_t *body = json_loads(col_text(st, 2), 0, NULL), *w = json_object_get(body, "weights");
	json_t *o = json_pack("{s:I, s:s, s:O?, s:s, s:s, s:s, s:s, s:s}", "epoch",
			      (json_int_t)sqlite3_column_int64(st, 0), "closed_at", col_text(st, 1), "weights", w,
			      "prev_hash", col_text(st, 3), "hash", col_text(st, 4), "signature", col_text(st, 5),
			      "validator_pk", col_text(st, 6), "body", col_text(st, 2));

	json_decref(body);
	return o;
}

int ledger_export(struct vstate *s, long long epoch, json_t **out, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	json_t *arr = NULL;
	int r, rc = -1;

	*out = NULL;
	if (ensure_table(s, err) < 0)
		return -1;
	if (sqlite3_prepare_v2(s->db, ENTRY_COLS " WHERE ?1 <= 0 OR epoch = ?1 ORDER BY epoch", -1, &st, NULL) !=
	    SQLITE_OK)
		return vstate_sql_error(s, "read ledger", err);
	sqlite3_bind_int64(st, 1, epoch);
	if (!(arr = json_array()))
		goto nomem;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o = entry_json(st);
		if (!o || json_array_append_new(arr, o) < 0)
			goto nomem;
	}
	if (r != SQLITE_DONE) {
		vstate_sql_error(s, "read ledger", err);
		goto out;
	}
	if (epoch > 0 && json_array_size(arr) == 0) {
		kerr_set(err, "ledger.not_found", "%s: no ledger entry for epoch %lld", s->dir, epoch);
		goto out;
	}
	*out = arr;
	arr = NULL;
	rc = 0;
	goto out;
nomem:
	kerr_set(err, "ledger.nomem", "out of memory exporting the ledger");
out:
	sqlite3_finalize(st);
	json_decref(arr);
	return rc;
}

int ledger_export_verified(struct vstate *s, long long epoch, json_t **out, struct kerr *err)
{
	long long entries;
	int rc = -1;

	*out = NULL;
	if (ensure_table(s, err) < 0)
		return -1;
	if (sqlite3_exec(s->db, "SAVEPOINT ledger_export_verified", NULL, NULL, NULL) != SQLITE_OK)
		return vstate_sql_error(s, "read ledger", err);
	if (ledger_verify(s, &entries, err) == 0 && ledger_export(s, epoch, out, err) == 0)
		rc = 0;
	sqlite3_exec(s->db, "RELEASE ledger_export_verified", NULL, NULL, NULL);
	return rc;
}
