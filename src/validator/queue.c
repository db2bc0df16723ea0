/* queue.c: the validator service's durable judging queue, the `queue`
 * table of the state database (defined with the rest of the schema in
 * vstate.c). Owns every change of a queue row: each is one short
 * transaction (vstate_tx, BEGIN IMMEDIATE), so a crash leaves a row as it
 * was or as it became and no two workers ever hold the same row. Never
 * judges and never writes the corpus; queue_recover only reads it. */
#include "validator/queue.h"

#include "validator/heldwait.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define COLS                                                                                                  \
	"seq, id, sha256, manifest_sha256, bytes, miner, king_tag, path, remote, state, attempts, worker_pid," \
	" check_name, received_at, started_at, finished_at, submission_id, verdict, reason_code"
#define SELECT_ITEM "SELECT " COLS " FROM queue"
/* The id is "q-" + this many hex digits of the tar's digest. */
#define ID_HEX_DIGITS (QUEUE_ID_BYTES - 3)

/* ---------------------------------------------------------------- errors */

/* vstate's SQL codes as the queue's own, so the service can tell a busy
 * database (answer 503, retry) from a broken one without knowing where the
 * queue lives. */
static int recode(struct kerr *err)
{
	if (!strcmp(err->code, "vstate.db"))
		snprintf(err->code, sizeof err->code, "%s", "queue.db");
	else if (!strcmp(err->code, "vstate.busy"))
		snprintf(err->code, sizeof err->code, "%s", "queue.busy");
	return -1;
}

static int sql_fail(struct vstate *s, const char *what, struct kerr *err)
{
	vstate_sql_error(s, what, err);
	return recode(err);
}

static int tx(struct vstate *s, int (*fn)(struct vstate *s, void *arg, struct kerr *err), void *arg,
	      struct kerr *err)
{
	return vstate_tx(s, fn, arg, err) < 0 ? recode(err) : 0;
}

static int prepare(struct vstate *s, const char *sql, sqlite3_stmt **st, const char *what, struct kerr *err)
{
	if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
		return sql_fail(s, what, err);
	return 0;
}

/* ---------------------------------------------------------------- fields */

/* A caller's string: NUL-terminated inside its buffer of cap bytes (the
 * fixed fields of struct queue_item may come straight from the network)
 * and, unless it may be empty, not empty. */
static int text_ok(const char *v, size_t cap, int may_be_empty)
{
	size_t n;

	if (!v)
		return 0;
	n = strnlen(v, cap);
	return n < cap && (may_be_empty || n > 0);
}

static int item_ok(const struct queue_item *q, struct kerr *err)
{
	const char *bad = NULL;

	if (!hash_is_hex(q->sha256, HASH_HEX_BYTES - 1))
		bad = "sha256 is not 64 lowercase hex digits";
	else if (!hash_is_hex(q->manifest_sha256, HASH_HEX_BYTES - 1))
		bad = "manifest_sha256 is not 64 lowercase hex digits";
	else if (!hash_is_hex(q->miner, KEYS_PK_HEX_BYTES - 1))
		bad = "miner is not a public key in lowercase hex";
	else if (!text_ok(q->king_tag, sizeof q->king_tag, 0))
		bad = "king_tag is empty or unterminated";
	else if (!text_ok(q->path, sizeof q->path, 0))
		bad = "path is empty or unterminated";
	else if (!text_ok(q->remote, sizeof q->remote, 1))
		bad = "remote is unterminated";
	else if (q->bytes > INT64_MAX)
		bad = "bytes is beyond what the database holds";
	return bad ? kerr_set(err, "queue.bad_item", "queue item: %s", bad) : 0;
}

/* One text column into a fixed field. Longer than the field means the row
 * was not written by this file: refuse it rather than cut it. */
static int col_text(sqlite3_stmt *st, int col, char *out, size_t cap, struct kerr *err)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	size_t n = (size_t)sqlite3_column_bytes(st, col);

	out[0] = '\0';
	if (!t)
		return 0;
	if (n >= cap)
		return kerr_set(err, "queue.corrupt", "queue row %lld: %s has %zu bytes, at most %zu",
				(long long)sqlite3_column_int64(st, 0), sqlite3_column_name(st, col), n, cap - 1);
	memcpy(out, t, n + 1);
	return 0;
}

/* The row st is on (selected with COLS) into *q. */
static int item_row(sqlite3_stmt *st, struct queue_item *q, struct kerr *err)
{
	memset(q, 0, sizeof *q);
	q->seq = sqlite3_column_int64(st, 0);
	q->bytes = (uint64_t)sqlite3_column_int64(st, 4); /* CHECK (bytes >= 0) */
	q->attempts = sqlite3_column_int(st, 10);
	q->worker_pid = sqlite3_column_int64(st, 11); /* NULL reads as 0 */
	if (col_text(st, 1, q->id, sizeof q->id, err) < 0 || col_text(st, 2, q->sha256, sizeof q->sha256, err) < 0 ||
	    col_text(st, 3, q->manifest_sha256, sizeof q->manifest_sha256, err) < 0 ||
	    col_text(st, 5, q->miner, sizeof q->miner, err) < 0 ||
	    col_text(st, 6, q->king_tag, sizeof q->king_tag, err) < 0 ||
	    col_text(st, 7, q->path, sizeof q->path, err) < 0 || col_text(st, 8, q->remote, sizeof q->remote, err) < 0 ||
	    col_text(st, 9, q->state, sizeof q->state, err) < 0 || col_text(st, 12, q->check, sizeof q->check, err) < 0 ||
	    col_text(st, 13, q->received_at, sizeof q->received_at, err) < 0 ||
	    col_text(st, 14, q->started_at, sizeof q->started_at, err) < 0 ||
	    col_text(st, 15, q->finished_at, sizeof q->finished_at, err) < 0 ||
	    col_text(st, 16, q->submission_id, sizeof q->submission_id, err) < 0 ||
	    col_text(st, 17, q->verdict, sizeof q->verdict, err) < 0 ||
	    col_text(st, 18, q->reason_code, sizeof q->reason_code, err) < 0)
		return -1;
	return 0;
}

/* The one row `where` selects, keyed by key (text) or else by seq; *found
 * is 0 when there is none. */
static int find(struct vstate *s, const char *where, const char *key, long long seq, struct queue_item *out,
		int *found, struct kerr *err)
{
	char sql[512];
	sqlite3_stmt *st = NULL;
	int rc = -1, r;

	*found = 0;
	snprintf(sql, sizeof sql, "%s WHERE %s", SELECT_ITEM, where);
	if (prepare(s, sql, &st, "read queue", err) < 0)
		goto out;
	if (key)
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 1, seq);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		if (item_row(st, out, err) < 0)
			goto out;
		*found = 1;
	} else if (r != SQLITE_DONE) {
		sql_fail(s, "read queue", err);
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Runs a prepared change of one row; 0 when it changed exactly one. */
static int step_change(struct vstate *s, sqlite3_stmt *st, const char *what, int *changed, struct kerr *err)
{
	*changed = 0;
	if (sqlite3_step(st) != SQLITE_DONE)
		return sql_fail(s, what, err);
	*changed = sqlite3_changes(s->db);
	return 0;
}

/* Why a change guarded by "AND state = 'judging'" touched no row. */
static int not_judging(struct vstate *s, const char *id, struct kerr *err)
{
	struct queue_item q;
	int found;

	if (find(s, "id = ?1", id, 0, &q, &found, err) < 0)
		return -1;
	if (!found)
		return kerr_set(err, "queue.not_found", "queue: no item %s", id);
	return kerr_set(err, "queue.not_judging", "queue: item %s is %s, not judging", id, q.state);
}

/* An id handed in (from a URL, say): anything longer than an id names no
 * row, so it is not found rather than malformed. */
static int id_ok(const char *id, struct kerr *err)
{
	if (!text_ok(id, QUEUE_ID_BYTES, 0))
		return kerr_set(err, "queue.not_found", "queue: no item with an id of that length");
	return 0;
}

/* ---------------------------------------------------------------- schema */

static int ensure_fn(struct vstate *s, void *arg, struct kerr *err)
{
	(void)arg;
	return vstate_queue_schema(s, err);
}

int queue_ensure(struct vstate *s, struct kerr *err)
{
	return tx(s, ensure_fn, NULL, err);
}

/* ---------------------------------------------------------------- enqueue */

struct enqueue_args {
	const struct queue_item *in;
	const struct heldwait_need *held;
	int nheld;
	struct queue_item *out;
	int *existed;
};

static int enqueue_fn(struct vstate *s, void *arg, struct kerr *err)
{
	struct enqueue_args *a = arg;
	const struct queue_item *in = a->in;
	char id[QUEUE_ID_BYTES], now[VSTATE_TIME_BYTES];
	sqlite3_stmt *st = NULL;
	int rc = -1, found, changed = 0;

	/* Under the write lock: two uploads of the same tar cannot both miss
	 * here and both insert. */
	if (find(s, "sha256 = ?1", in->sha256, 0, a->out, &found, err) < 0)
		return -1;
	if (found) {
		*a->existed = 1;
		return 0;
	}
	/* Two different tars sharing these 96 bits fail the id's UNIQUE
	 * (queue.db): only the uploader can make that happen, to itself. */
	snprintf(id, sizeof id, "q-%.*s", ID_HEX_DIGITS, in->sha256);
	vstate_now_iso(now);
	if (prepare(s,
		    "INSERT INTO queue(id, sha256, manifest_sha256, bytes, miner, king_tag, path, remote, state,"
		    " attempts, received_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'queued', 0, ?9)",
		    &st, "enqueue", err) < 0)
		goto out;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, in->sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, in->manifest_sha256, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)in->bytes);
	sqlite3_bind_text(st, 5, in->miner, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, in->king_tag, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, in->path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, in->remote, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, now, -1, SQLITE_STATIC);
	if (step_change(s, st, "enqueue", &changed, err) < 0)
		goto out;
	if (find(s, "seq = ?1", NULL, sqlite3_last_insert_rowid(s->db), a->out, &found, err) < 0)
		goto out;
	/* the wait with the row: never claimable before its checkpoints are in */
	if (found && a->nheld && heldwait_insert_locked(s, id, a->held, a->nheld, err) < 0)
		goto out;
	if (!found) {
		kerr_set(err, "queue.db", "queue: the row just inserted for %s is missing", id);
		goto out;
	}
	*a->existed = 0;
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

int queue_enqueue(struct vstate *s, const struct queue_item *in, struct queue_item *out, int *existed,
		  struct kerr *err)
{
	return queue_enqueue_held(s, in, NULL, 0, out, existed, err);
}

int queue_enqueue_held(struct vstate *s, const struct queue_item *in, const struct heldwait_need *held, int nheld,
		       struct queue_item *out, int *existed, struct kerr *err)
{
	struct enqueue_args a = { in, held, nheld, out, existed };

	*existed = 0;
	if (item_ok(in, err) < 0)
		return -1;
	return tx(s, enqueue_fn, &a, err);
}

int queue_pending_for(struct vstate *s, const char *miner, int *n, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	*n = 0;
	if (!hash_is_hex(miner, KEYS_PK_HEX_BYTES - 1))
		return kerr_set(err, "queue.bad_item", "queue: miner is not a public key in lowercase hex");
	/* One statement: one consistent read, no transaction needed. */
	if (prepare(s, "SELECT count(*) FROM queue WHERE miner = ?1 AND state IN ('queued', 'judging')", &st,
		    "count pending", err) < 0)
		goto out;
	sqlite3_bind_text(st, 1, miner, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sql_fail(s, "count pending", err);
		goto out;
	}
	*n = sqlite3_column_int(st, 0);
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

int queue_pending_counts(struct vstate *s, const char *remote, struct queue_counts *c, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	memset(c, 0, sizeof *c);
	if (prepare(s,
		    "SELECT coalesce(sum(NOT waiting), 0), coalesce(sum(NOT waiting AND remote = ?1), 0),"
		    " coalesce(sum(waiting), 0), coalesce(sum(waiting AND remote = ?1), 0) FROM"
		    " (SELECT q.remote AS remote, coalesce(w.ready = 0, 0) AS waiting FROM queue AS q"
		    " LEFT JOIN held_wait AS w ON w.queue_id = q.id WHERE q.state IN ('queued', 'judging'))",
		    &st, "count pending", err) < 0)
		goto out;
	if (remote)
		sqlite3_bind_text(st, 1, remote, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sql_fail(s, "count pending", err);
		goto out;
	}
	c->total = sqlite3_column_int(st, 0);
	c->by_remote = sqlite3_column_int(st, 1);
	c->held = sqlite3_column_int(st, 2);
	c->held_by_remote = sqlite3_column_int(st, 3);
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

int queue_ended_by_miner(struct vstate *s, const char *code, const char *after, size_t limit,
			 struct queue_miner_count **out, size_t *n,
			 struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	struct queue_miner_count *a = NULL;
	size_t cap = 0;
	int rc = -1, step;

	*out = NULL;
	*n = 0;
	/* done with this code and no corpus id: nothing was judged */
	if (prepare(s,
		    "SELECT miner, count(*), max(received_at) FROM queue WHERE state = 'done' AND reason_code = ?1"
		    " AND coalesce(submission_id, '') = '' AND (?2 IS NULL OR miner > ?2) GROUP BY miner ORDER BY miner"
		    " LIMIT ?3",
		    &st, "count by miner", err) < 0)
		goto out;
	sqlite3_bind_text(st, 1, code, -1, SQLITE_STATIC);
	if (after)
		sqlite3_bind_text(st, 2, after, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, limit ? (sqlite3_int64)limit : -1);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			struct queue_miner_count *b = realloc(a, (cap = cap ? 2 * cap : 16) * sizeof *a);

			if (!b) {
				kerr_set(err, "queue.db", "out of memory counting by miner");
				goto out;
			}
			a = b;
		}
		memset(&a[*n], 0, sizeof a[*n]);
		if (col_text(st, 0, a[*n].miner, sizeof a[*n].miner, err) < 0 ||
		    col_text(st, 2, a[*n].last_at, sizeof a[*n].last_at, err) < 0)
			goto out;
		a[*n].n = sqlite3_column_int64(st, 1);
		(*n)++;
	}
	if (step != SQLITE_DONE) {
		sql_fail(s, "count by miner", err);
		goto out;
	}
	*out = a;
	a = NULL;
	rc = 0;
out:
	if (rc < 0)
		*n = 0;
	free(a);
	sqlite3_finalize(st);
	return rc;
}

/* ---------------------------------------------------------------- claim */

struct claim_args {
	long long worker_pid;
	struct queue_item *out;
	int *got;
};

/* BEGIN IMMEDIATE takes the write lock before the SELECT, so no other
 * connection can claim between our read of the oldest row and our update
 * of it: each row goes to exactly one worker. */
static int claim_fn(struct vstate *s, void *arg, struct kerr *err)
{
	struct claim_args *a = arg;
	char now[VSTATE_TIME_BYTES];
	sqlite3_stmt *st = NULL;
	long long seq;
	int rc = -1, r, changed = 0, found = 0;

	/* a row waiting for its miner's held checkpoints is not judged yet */
	if (prepare(s,
		    "SELECT seq FROM queue WHERE state = 'queued' AND id NOT IN (SELECT queue_id FROM held_wait WHERE ready = 0)"
		    " ORDER BY seq LIMIT 1",
		    &st, "claim", err) < 0)
		goto out;
	r = sqlite3_step(st);
	if (r == SQLITE_DONE) {
		rc = 0;
		goto out;
	}
	if (r != SQLITE_ROW) {
		sql_fail(s, "claim", err);
		goto out;
	}
	seq = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	vstate_now_iso(now);
	if (prepare(s,
		    "UPDATE queue SET state = 'judging', attempts = attempts + 1, worker_pid = ?1, started_at = ?2,"
		    " check_name = NULL WHERE seq = ?3 AND state = 'queued'",
		    &st, "claim", err) < 0)
		goto out;
	sqlite3_bind_int64(st, 1, a->worker_pid);
	sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, seq);
	if (step_change(s, st, "claim", &changed, err) < 0)
		goto out;
	if (changed == 1 && find(s, "seq = ?1", NULL, seq, a->out, &found, err) < 0)
		goto out;
	if (changed != 1 || !found) {
		kerr_set(err, "queue.db", "queue: row %lld changed under the write lock", seq);
		goto out;
	}
	*a->got = 1;
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

int queue_claim(struct vstate *s, long long worker_pid, struct queue_item *out, int *got, struct kerr *err)
{
	struct claim_args a = { worker_pid, out, got };

	*got = 0;
	return tx(s, claim_fn, &a, err);
}

/* ---------------------------------------------------------------- judging -> */

/* A change of one judging row: sql binds ?1 = id and up to four texts
 * ?2..?5 (NULL or "" binds SQL NULL). Rows in another state are refused
 * (queue.not_judging): a worker that lost its row to recovery must not
 * write over the new owner's. */
struct judging_args {
	const char *sql, *what, *id;
	const char *text[4];
};

static int judging_fn(struct vstate *s, void *arg, struct kerr *err)
{
	const struct judging_args *a = arg;
	sqlite3_stmt *st = NULL;
	int rc = -1, changed = 0;

	if (prepare(s, a->sql, &st, a->what, err) < 0)
		goto out;
	sqlite3_bind_text(st, 1, a->id, -1, SQLITE_STATIC);
	for (int i = 0; i < 4; i++)
		if (a->text[i] && a->text[i][0])
			sqlite3_bind_text(st, i + 2, a->text[i], -1, SQLITE_STATIC);
	if (step_change(s, st, a->what, &changed, err) < 0)
		goto out;
	if (changed != 1) {
		not_judging(s, a->id, err);
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

int queue_progress(struct vstate *s, const char *id, const char *check, struct kerr *err)
{
	struct judging_args a = { "UPDATE queue SET check_name = ?2 WHERE id = ?1 AND state = 'judging'", "progress",
				  id, { check } };

	if (id_ok(id, err) < 0)
		return -1;
	if (!text_ok(check, QUEUE_CHECK_MAX, 0))
		return kerr_set(err, "queue.bad_item", "queue: check name is empty or over %d bytes",
				QUEUE_CHECK_MAX - 1);
	return tx(s, judging_fn, &a, err);
}

int queue_finish(struct vstate *s, const char *id, const char *verdict, const char *reason_code,
		 const char *submission_id, struct kerr *err)
{
	char now[VSTATE_TIME_BYTES];
	struct judging_args a = {
		"UPDATE queue SET state = 'done', verdict = ?2, reason_code = ?3, submission_id = ?4,"
		" finished_at = ?5 WHERE id = ?1 AND state = 'judging'",
		"finish", id, { verdict, reason_code, submission_id, now }
	};

	if (id_ok(id, err) < 0)
		return -1;
	if (!text_ok(verdict, QUEUE_VERDICT_MAX, 0))
		return kerr_set(err, "queue.bad_item", "queue: verdict is empty or over %d bytes", QUEUE_VERDICT_MAX - 1);
	if (reason_code && !text_ok(reason_code, KERR_CODE_MAX, 1))
		return kerr_set(err, "queue.bad_item", "queue: reason code over %d bytes", KERR_CODE_MAX - 1);
	if (submission_id && !text_ok(submission_id, VSTATE_ID_BYTES, 1))
		return kerr_set(err, "queue.bad_item", "queue: submission id over %d bytes", VSTATE_ID_BYTES - 1);
	vstate_now_iso(now);
	return tx(s, judging_fn, &a, err);
}

int queue_requeue(struct vstate *s, const char *id, struct kerr *err)
{
	/* attempts stays: it counts how often the item was started, which the
	 * service may cap. */
	struct judging_args a = { "UPDATE queue SET state = 'queued', worker_pid = NULL, started_at = NULL,"
				  " check_name = NULL WHERE id = ?1 AND state = 'judging'",
				  "requeue", id, { NULL } };

	if (id_ok(id, err) < 0)
		return -1;
	return tx(s, judging_fn, &a, err);
}

int queue_unclaim(struct vstate *s, const char *id, struct kerr *err)
{
	struct judging_args a = { "UPDATE queue SET state = 'queued', attempts = max(attempts - 1, 0),"
				  " worker_pid = NULL, started_at = NULL, check_name = NULL"
				  " WHERE id = ?1 AND state = 'judging'",
				  "unclaim", id, { NULL } };

	if (id_ok(id, err) < 0)
		return -1;
	return tx(s, judging_fn, &a, err);
}

/* ---------------------------------------------------------------- recovery */

static int exec_count(struct vstate *s, const char *sql, const char *what, int *changed, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (prepare(s, sql, &st, what, err) < 0)
		return -1;
	rc = step_change(s, st, what, changed, err);
	sqlite3_finalize(st);
	return rc;
}

/* Runs only while no worker is alive (the service's start), so every
 * judging row is an orphan. The verdict is in the corpus when the worker
 * died after recording it and before finishing the row: judging it again
 * would be refused as a replay (expcorpus.duplicate), so the row takes the
 * recorded verdict instead, unless it is a challenge answer whose
 * settlement was cut short: judged again, that one resumes at the merge.
 * Otherwise nothing of the judgment survived and the item starts over. */
static int recover_fn(struct vstate *s, void *arg, struct kerr *err)
{
	struct queue_recovery *r = arg;
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (exec_count(s,
		       "UPDATE queue SET state = 'done', submission_id = c.id, verdict = c.verdict,"
		       " reason_code = c.reason_code, finished_at = c.judged_at FROM submissions AS c"
		       " WHERE queue.state = 'judging' AND c.manifest_sha256 = queue.manifest_sha256"
		       /* expcorpus_settlement_interrupted: requeued below, it resumes */
		       " AND NOT (c.verdict = 'challenge_pending' AND c.challenge_of IS NOT NULL AND EXISTS"
		       " (SELECT 1 FROM submissions AS o WHERE o.id = c.challenge_of AND o.verdict = 'challenge_pending'))",
		       "recover finished", &r->finished, err) < 0 ||
	    exec_count(s,
		       "UPDATE queue SET state = 'queued', worker_pid = NULL, started_at = NULL, check_name = NULL"
		       " WHERE state = 'judging'",
		       "recover requeued", &r->requeued, err) < 0)
		goto out;
	if (prepare(s, "SELECT count(*) FROM queue WHERE state = 'queued'", &st, "recover count", err) < 0)
		goto out;
	if (sqlite3_step(st) != SQLITE_ROW) {
		sql_fail(s, "recover count", err);
		goto out;
	}
	r->queued = sqlite3_column_int(st, 0);
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

int queue_recover(struct vstate *s, struct queue_recovery *r, struct kerr *err)
{
	memset(r, 0, sizeof *r);
	if (tx(s, recover_fn, r, err) < 0) {
		memset(r, 0, sizeof *r); /* rolled back: nothing was done */
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- reading */

/* Reads are single statements: each is one consistent snapshot (WAL), and
 * none takes the write lock the workers need. */

int queue_get(struct vstate *s, const char *id, struct queue_item *out, struct kerr *err)
{
	int found;

	memset(out, 0, sizeof *out);
	if (id_ok(id, err) < 0 || find(s, "id = ?1", id, 0, out, &found, err) < 0)
		return -1;
	if (!found)
		return kerr_set(err, "queue.not_found", "queue: no item %s", id);
	return 0;
}

int queue_depth(struct vstate *s, int *queued, int *judging, int *done, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	*queued = *judging = *done = 0;
	/* Counts over the (state, seq) index, not a scan of the whole table. */
	if (prepare(s,
		    "SELECT (SELECT count(*) FROM queue WHERE state = 'queued'),"
		    " (SELECT count(*) FROM queue WHERE state = 'judging'),"
		    " (SELECT count(*) FROM queue WHERE state = 'done')",
		    &st, "depth", err) < 0)
		goto out;
	if (sqlite3_step(st) != SQLITE_ROW) {
		sql_fail(s, "depth", err);
		goto out;
	}
	*queued = sqlite3_column_int(st, 0);
	*judging = sqlite3_column_int(st, 1);
	*done = sqlite3_column_int(st, 2);
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

int queue_each_done_refusal(struct vstate *s, int (*fn)(const struct queue_item *it, void *arg), void *arg,
			    struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	struct queue_item it;
	int rc = -1, r;

	if (prepare(s, SELECT_ITEM " WHERE state = 'done' AND verdict IN ('rejected', 'error')"
			" ORDER BY verdict = 'error' DESC, finished_at DESC, seq DESC",
		    &st, "kept", err) < 0)
		goto out;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		if (item_row(st, &it, err) < 0)
			goto out;
		if (fn(&it, arg))
			break;
	}
	if (r != SQLITE_DONE && r != SQLITE_ROW) {
		sql_fail(s, "kept", err);
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

int queue_recent(struct vstate *s, struct queue_item *out, int cap, int *n, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	int rc = -1, r = SQLITE_DONE;

	*n = 0;
	if (cap < 0)
		return kerr_set(err, "queue.bad_item", "queue: recent: negative cap %d", cap);
	if (prepare(s, SELECT_ITEM " ORDER BY seq DESC LIMIT ?1", &st, "recent", err) < 0)
		goto out;
	sqlite3_bind_int(st, 1, cap);
	while (*n < cap && (r = sqlite3_step(st)) == SQLITE_ROW)
		if (item_row(st, &out[(*n)++], err) < 0)
			goto out;
	if (r != SQLITE_DONE && r != SQLITE_ROW) {
		sql_fail(s, "recent", err);
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}
