/* heldwait.c: the held_wait table (heldwait.h). */
#include "validator/heldwait.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* vstate's SQL codes as this file's own, like queue.c's. */
static int recode(struct kerr *err)
{
	if (!strcmp(err->code, "vstate.db"))
		snprintf(err->code, sizeof err->code, "%s", "heldwait.db");
	else if (!strcmp(err->code, "vstate.busy"))
		snprintf(err->code, sizeof err->code, "%s", "heldwait.busy");
	return -1;
}

static int sql_fail(struct vstate *s, const char *what, struct kerr *err)
{
	vstate_sql_error(s, what, err);
	return recode(err);
}

static int tx(struct vstate *s, int (*fn)(struct vstate *s, void *arg, struct kerr *err), void *arg, struct kerr *err)
{
	return vstate_tx(s, fn, arg, err) < 0 ? recode(err) : 0;
}

char *heldwait_json(const struct heldwait *w)
{
	json_t *a = json_array();
	char *text;

	for (int i = 0; a && i < w->n; i++)
		json_array_append_new(a, json_pack("{s:s, s:I, s:s, s:b}", "name", w->need[i].name, "bytes",
						   (json_int_t)w->need[i].bytes, "sha256", w->need[i].sha256, "arrived",
						   w->need[i].arrived));
	text = a ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	return text;
}

/* The table's JSON back into w's needs; anything else is a row this file
 * did not write. */
static int parse_needs(const char *text, struct heldwait *w, struct kerr *err)
{
	json_t *a = json_loads(text ? text : "", JSON_REJECT_DUPLICATES, NULL), *e;
	size_t i;
	int rc = -1;

	w->n = 0;
	if (!json_is_array(a) || json_array_size(a) > HELDWAIT_NEEDS_MAX)
		goto out;
	json_array_foreach(a, i, e) {
		struct heldwait_need *nd = &w->need[w->n];
		const char *name = json_string_value(json_object_get(e, "name"));
		const char *sha = json_string_value(json_object_get(e, "sha256"));
		json_t *b = json_object_get(e, "bytes"), *arr = json_object_get(e, "arrived");

		if (!name || strlen(name) > BUNDLE_NAME_MAX || !hash_is_hex(sha, HASH_HEX_BYTES - 1) || !json_is_integer(b) ||
		    json_integer_value(b) < 0 || !json_is_boolean(arr))
			goto out;
		snprintf(nd->name, sizeof nd->name, "%s", name);
		snprintf(nd->sha256, sizeof nd->sha256, "%s", sha);
		nd->bytes = (uint64_t)json_integer_value(b);
		nd->arrived = json_is_true(arr);
		w->n++;
	}
	rc = 0;
out:
	json_decref(a);
	return rc < 0 ? kerr_set(err, "heldwait.corrupt", "held_wait of %s: its needs are not this file's JSON", w->queue_id)
		      : 0;
}

/* Writes w: a new row (insert) or its needs and readiness. */
static int store(struct vstate *s, const struct heldwait *w, int insert, struct kerr *err)
{
	static const char *const sql[2] = {
		"UPDATE held_wait SET needs_json = ?2, ready = ?4 WHERE queue_id = ?1 AND asked_at = ?3",
		"INSERT INTO held_wait(queue_id, needs_json, asked_at, ready) VALUES(?1, ?2, ?3, ?4)",
	};
	sqlite3_stmt *st = NULL;
	char *text = heldwait_json(w);
	int rc = -1;

	if (!text)
		return kerr_set(err, "heldwait.db", "out of memory");
	if (sqlite3_prepare_v2(s->db, sql[insert != 0], -1, &st, NULL) != SQLITE_OK) {
		sql_fail(s, "held wait", err);
		goto out;
	}
	sqlite3_bind_text(st, 1, w->queue_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, w->asked_at, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, w->ready);
	if (sqlite3_step(st) != SQLITE_DONE) {
		sql_fail(s, "held wait", err);
		goto out;
	}
	if (sqlite3_changes(s->db) != 1) {
		kerr_set(err, "heldwait.not_found", "no held checkpoints' wait of %s to change", w->queue_id);
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	free(text);
	return rc;
}

int heldwait_insert_locked(struct vstate *s, const char *queue_id, const struct heldwait_need *needs, int n,
			   struct kerr *err)
{
	struct heldwait w;

	if (n < 1 || n > HELDWAIT_NEEDS_MAX)
		return kerr_set(err, "heldwait.not_asked", "a wait asks for 1 to %d checkpoints, not %d", HELDWAIT_NEEDS_MAX,
				n);
	memset(&w, 0, sizeof w);
	snprintf(w.queue_id, sizeof w.queue_id, "%s", queue_id);
	vstate_now_iso(w.asked_at);
	for (int i = 0; i < n; i++) {
		w.need[i] = needs[i];
		w.need[i].arrived = 0;
	}
	w.n = n;
	return store(s, &w, 1, err);
}

int heldwait_get(struct vstate *s, const char *queue_id, struct heldwait *out, int *found, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	int rc = -1, r;

	*found = 0;
	memset(out, 0, sizeof *out);
	if (sqlite3_prepare_v2(s->db, "SELECT needs_json, asked_at, ready FROM held_wait WHERE queue_id = ?1", -1, &st,
			       NULL) != SQLITE_OK) {
		sql_fail(s, "read held wait", err);
		goto out;
	}
	sqlite3_bind_text(st, 1, queue_id, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_DONE) {
		rc = 0;
		goto out;
	}
	if (r != SQLITE_ROW) {
		sql_fail(s, "read held wait", err);
		goto out;
	}
	snprintf(out->queue_id, sizeof out->queue_id, "%s", queue_id);
	snprintf(out->asked_at, sizeof out->asked_at, "%s", (const char *)sqlite3_column_text(st, 1));
	out->ready = sqlite3_column_int(st, 2);
	if (parse_needs((const char *)sqlite3_column_text(st, 0), out, err) < 0)
		goto out;
	*found = 1;
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

struct arrive_args {
	const char *id, *name;
	int *ready;
};

/* A wait's clock starts again at each arrival: each file of gigabytes
 * gets the whole timeout, which a slow but honest uplink needs at the
 * gpu-* scales, and a wait of n needs still ends within n timeouts (at
 * most HELDWAIT_NEEDS_MAX). */
static int restart_clock(struct vstate *s, const char *id, struct kerr *err)
{
	char now[VSTATE_TIME_BYTES];
	sqlite3_stmt *st = NULL;
	int rc = -1;

	vstate_now_iso(now);
	if (sqlite3_prepare_v2(s->db, "UPDATE held_wait SET asked_at = ?2 WHERE queue_id = ?1", -1, &st, NULL) !=
		    SQLITE_OK ||
	    (sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC), sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC),
	     sqlite3_step(st)) != SQLITE_DONE) {
		sql_fail(s, "held wait", err);
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

static int arrive_fn(struct vstate *s, void *arg, struct kerr *err)
{
	struct arrive_args *a = arg;
	struct heldwait w;
	struct queue_item q;
	int found, hit = -1;

	if (heldwait_get(s, a->id, &w, &found, err) < 0)
		return -1;
	if (!found)
		return kerr_set(err, "heldwait.not_found", "submission %s waits for no held checkpoint", a->id);
	for (int i = 0; i < w.n; i++)
		if (!strcmp(w.need[i].name, a->name))
			hit = i;
	if (hit < 0)
		return kerr_set(err, "heldwait.not_asked", "submission %s was not asked for %.128s", a->id, a->name);
	if (queue_get(s, a->id, &q, err) < 0)
		return -1;
	if (strcmp(q.state, "queued") || w.ready)
		return kerr_set(err, "heldwait.closed", "submission %s is %s and waits for nothing now", a->id,
				strcmp(q.state, "queued") ? q.state : "queued with every held checkpoint in");
	w.need[hit].arrived = 1;
	w.ready = 1;
	for (int i = 0; i < w.n; i++)
		w.ready &= w.need[i].arrived;
	*a->ready = w.ready;
	if (store(s, &w, 0, err) < 0)
		return -1;
	return w.ready ? 0 : restart_clock(s, a->id, err);
}

int heldwait_arrived(struct vstate *s, const char *queue_id, const char *name, int *ready, struct kerr *err)
{
	struct arrive_args a = { queue_id, name, ready };

	*ready = 0;
	return tx(s, arrive_fn, &a, err);
}

struct reask_args {
	const char *id;
	const struct heldwait_need *needs;
	int n;
};

static int reask_fn(struct vstate *s, void *arg, struct kerr *err)
{
	struct reask_args *a = arg;
	struct heldwait w;
	sqlite3_stmt *st = NULL;
	char *text = NULL;
	int found, rc = -1;

	if (heldwait_get(s, a->id, &w, &found, err) < 0)
		return -1;
	if (!found) {
		memset(&w, 0, sizeof w);
		snprintf(w.queue_id, sizeof w.queue_id, "%s", a->id);
	}
	for (int i = 0; i < a->n; i++) {
		int hit = -1;

		for (int k = 0; k < w.n; k++)
			if (!strcmp(w.need[k].name, a->needs[i].name))
				hit = k;
		if (hit < 0 && w.n == HELDWAIT_NEEDS_MAX)
			return kerr_set(err, "heldwait.not_asked", "submission %s: asking for %s as well passes %d checkpoints",
					a->id, a->needs[i].name, HELDWAIT_NEEDS_MAX);
		if (hit < 0)
			hit = w.n++;
		w.need[hit] = a->needs[i];
		w.need[hit].arrived = 0;
	}
	w.ready = 0;
	vstate_now_iso(w.asked_at);
	if (!(text = heldwait_json(&w)))
		return kerr_set(err, "heldwait.db", "out of memory");
	/* a new row, or the row with its needs, readiness and time asked */
	if (sqlite3_prepare_v2(s->db,
			       "INSERT INTO held_wait(queue_id, needs_json, asked_at, ready) VALUES(?1, ?2, ?3, 0)"
			       " ON CONFLICT(queue_id) DO UPDATE SET needs_json = excluded.needs_json,"
			       " asked_at = excluded.asked_at, ready = 0",
			       -1, &st, NULL) != SQLITE_OK) {
		sql_fail(s, "ask again", err);
		goto out;
	}
	sqlite3_bind_text(st, 1, a->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, w.asked_at, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		sql_fail(s, "ask again", err);
		goto out;
	}
	rc = queue_requeue(s, a->id, err); /* a savepoint inside this transaction */
out:
	sqlite3_finalize(st);
	free(text);
	return rc;
}

int heldwait_reask(struct vstate *s, const char *queue_id, const struct heldwait_need *needs, int n,
		   struct kerr *err)
{
	struct reask_args a = { queue_id, needs, n };

	if (n < 1 || n > HELDWAIT_NEEDS_MAX)
		return kerr_set(err, "heldwait.not_asked", "asking again for 1 to %d checkpoints, not %d", HELDWAIT_NEEDS_MAX,
				n);
	return tx(s, reask_fn, &a, err);
}

struct expire_args {
	char cutoff[VSTATE_TIME_BYTES];
	char (*ids)[QUEUE_ID_BYTES];
	int cap, *n;
};

static int expire_fn(struct vstate *s, void *arg, struct kerr *err)
{
	struct expire_args *a = arg;
	char now[VSTATE_TIME_BYTES];
	sqlite3_stmt *sel = NULL, *upd = NULL;
	int rc = -1, r = SQLITE_DONE;

	vstate_now_iso(now);
	if (sqlite3_prepare_v2(s->db,
			       "SELECT w.queue_id FROM held_wait w JOIN queue q ON q.id = w.queue_id"
			       " WHERE w.ready = 0 AND w.asked_at < ?1 AND q.state = 'queued' ORDER BY q.seq",
			       -1, &sel, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db,
			       "UPDATE queue SET state = 'done', verdict = 'rejected', reason_code = 'service.held_missing',"
			       " finished_at = ?1 WHERE id = ?2 AND state = 'queued'",
			       -1, &upd, NULL) != SQLITE_OK) {
		sql_fail(s, "expire held waits", err);
		goto out;
	}
	/* the ids first, then the changes: no row changes under the read */
	sqlite3_bind_text(sel, 1, a->cutoff, -1, SQLITE_STATIC);
	while (*a->n < a->cap && (r = sqlite3_step(sel)) == SQLITE_ROW)
		snprintf(a->ids[(*a->n)++], QUEUE_ID_BYTES, "%s", (const char *)sqlite3_column_text(sel, 0));
	if (*a->n < a->cap && r != SQLITE_DONE) {
		sql_fail(s, "expire held waits", err);
		goto out;
	}
	for (int i = 0; i < *a->n; i++) {
		sqlite3_reset(upd);
		sqlite3_bind_text(upd, 1, now, -1, SQLITE_STATIC);
		sqlite3_bind_text(upd, 2, a->ids[i], -1, SQLITE_STATIC);
		if (sqlite3_step(upd) != SQLITE_DONE) {
			sql_fail(s, "expire held waits", err);
			goto out;
		}
	}
	rc = 0;
out:
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	return rc;
}

int heldwait_expire(struct vstate *s, double max_age_s, char ids[][QUEUE_ID_BYTES], int cap, int *n, struct kerr *err)
{
	struct expire_args a = { .ids = ids, .cap = cap, .n = n };
	time_t t = time(NULL) - (time_t)max_age_s;
	struct tm tm;

	*n = 0;
	gmtime_r(&t, &tm);
	strftime(a.cutoff, sizeof a.cutoff, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return tx(s, expire_fn, &a, err);
}

static int restart_fn(struct vstate *s, void *arg, struct kerr *err)
{
	const char *alive_at = arg;
	sqlite3_stmt *st = NULL;
	int rc = -1;

	/* SQLite's date functions read the ISO form with its Z */
	if (sqlite3_prepare_v2(s->db,
			       "UPDATE held_wait SET asked_at = strftime('%Y-%m-%dT%H:%M:%SZ', asked_at,"
			       " (max(0, strftime('%s', 'now') - strftime('%s', ?1))) || ' seconds') WHERE ready = 0",
			       -1, &st, NULL) != SQLITE_OK ||
	    (sqlite3_bind_text(st, 1, alive_at, -1, SQLITE_STATIC), sqlite3_step(st)) != SQLITE_DONE) {
		sql_fail(s, "restart held waits", err);
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

int heldwait_restart(struct vstate *s, const char *alive_at, struct kerr *err)
{
	if (!alive_at || !*alive_at)
		return 0;
	return tx(s, restart_fn, (void *)alive_at, err);
}

int heldwait_waiting(struct vstate *s, int *n, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	*n = 0;
	/* one statement: one consistent read */
	if (sqlite3_prepare_v2(s->db,
			       "SELECT count(*) FROM held_wait w JOIN queue q ON q.id = w.queue_id"
			       " WHERE w.ready = 0 AND q.state = 'queued'",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		sql_fail(s, "count held waits", err);
		goto out;
	}
	*n = sqlite3_column_int(st, 0);
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}
