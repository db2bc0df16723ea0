/* test_queue.c: the service's durable judging queue against a real
 * validator state (SQLite file, WAL) in a temporary folder: enqueue and its
 * idempotence, refused items, FIFO claims, two forked processes claiming
 * at once (each row once), progress/finish/requeue and their refusals,
 * depth, recent, the per-miner count, recovery (requeued, or finished from
 * the corpus), a process killed with SIGKILL inside a write transaction,
 * and the schema 1 -> 2 migration (data kept, one transaction). */
#include "fixtures.h"

#include <signal.h>
#include <sqlite3.h>

#include "validator/heldwait.h"
#include "validator/queue.h"
#include "validator/vstate.h"
#include "util/fsutil.h"
#include "util/hash.h"

#define WORKER_PID 4242
#define RACE_ITEMS 60
/* Between one child's claims: long enough for the other to get in. */
#define RACE_PAUSE_US 2000
/* A sqlite3 page cache this small makes the killed child's transaction
 * spill pages into the WAL before its commit. */
#define CHILD_CACHE_PAGES "4"
#define CHILD_ROWS 200

struct fixture {
	char *tmp;
	char state[FS_PATH_MAX];
	struct vstate s;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	struct kerr err = { 0 };
	char src[FS_PATH_MAX], data[FS_PATH_MAX], hidden[FS_PATH_MAX];

	assert_int_equal(hash_init_lib(), 0);
	f->tmp = tu_mkdtemp();
	fx_state_inputs(f->tmp, src, data, hidden);
	snprintf(f->state, sizeof f->state, "%s/state", f->tmp);
	{
		struct vstate_init_opts o = { f->state, src, data, hidden, "tiny" };
		if (vstate_init(&o, &err) < 0)
			fail_msg("vstate_init: %s: %s", err.code, err.msg);
	}
	if (vstate_open(f->state, &f->s, &err) < 0)
		fail_msg("vstate_open: %s: %s", err.code, err.msg);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vstate_close(&f->s);
	tu_rmdir(f->tmp);
	free(f);
	return 0;
}

static void reopen(struct fixture *f)
{
	struct kerr err = { 0 };

	vstate_close(&f->s);
	if (vstate_open(f->state, &f->s, &err) < 0)
		fail_msg("vstate_open: %s: %s", err.code, err.msg);
}

static void sql(sqlite3 *db, const char *q)
{
	char *msg = NULL;

	if (sqlite3_exec(db, q, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", q, msg);
}

static long long count(sqlite3 *db, const char *q)
{
	sqlite3_stmt *st;
	long long n;

	assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* Every column of every queue row as one string: "unchanged" means equal. */
static char *dump(sqlite3 *db)
{
	sqlite3_stmt *st;
	char *out;

	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT coalesce(group_concat(r, '\n'), '') FROM (SELECT quote(seq)||','||"
					    "quote(id)||','||quote(sha256)||','||quote(manifest_sha256)||','||quote(bytes)"
					    "||','||quote(miner)||','||quote(state)||','||quote(attempts)||','||"
					    "quote(worker_pid)||','||quote(check_name)||','||quote(started_at)||','||"
					    "quote(finished_at)||','||quote(verdict) AS r FROM queue ORDER BY seq)",
					    -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	out = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	assert_non_null(out);
	return out;
}

/* An item whose tar digest is the hash of "tar:name", manifest digest the
 * hash of "manifest:name", miner the hash of miner. */
static void item(struct queue_item *q, const char *name, const char *miner)
{
	char buf[128];

	memset(q, 0, sizeof *q);
	snprintf(buf, sizeof buf, "tar:%s", name);
	hash_buf_hex(buf, strlen(buf), q->sha256);
	snprintf(buf, sizeof buf, "manifest:%s", name);
	hash_buf_hex(buf, strlen(buf), q->manifest_sha256);
	hash_buf_hex(miner, strlen(miner), q->miner);
	q->bytes = 1000 + strlen(name);
	snprintf(q->king_tag, sizeof q->king_tag, "%s", RECIPEREPO_FIRST_TAG);
	snprintf(q->path, sizeof q->path, "/state/store/%s", q->sha256);
	snprintf(q->remote, sizeof q->remote, "127.0.0.1");
}

static void enq(struct vstate *s, const char *name, const char *miner, struct queue_item *out)
{
	struct queue_item in;
	struct kerr err = { 0 };
	int existed = -1;

	item(&in, name, miner);
	if (queue_enqueue(s, &in, out, &existed, &err) < 0)
		fail_msg("queue_enqueue %s: %s: %s", name, err.code, err.msg);
	assert_int_equal(existed, 0);
}

static void claim(struct vstate *s, struct queue_item *out)
{
	struct kerr err = { 0 };
	int got = -1;

	if (queue_claim(s, WORKER_PID, out, &got, &err) < 0)
		fail_msg("queue_claim: %s: %s", err.code, err.msg);
	assert_int_equal(got, 1);
}

static void depth_is(struct vstate *s, int queued, int judging, int done)
{
	struct kerr err = { 0 };
	int q, j, d;

	assert_int_equal(queue_depth(s, &q, &j, &d, &err), 0);
	assert_int_equal(q, queued);
	assert_int_equal(j, judging);
	assert_int_equal(d, done);
}

/* A corpus row for manifest with this verdict, written directly. */
static void corpus_row(sqlite3 *db, const char *id, const char *manifest, const char *verdict, const char *code)
{
	char q[1024];

	snprintf(q, sizeof q,
		 "INSERT INTO submissions(id, manifest_sha256, patch_sha256, received_at, judged_at, verdict,"
		 " reason_code) VALUES('%s', '%s', '%064d', '2026-01-02T03:04:05Z', '2026-01-02T03:05:06Z', '%s',"
		 " '%s')",
		 id, manifest, 0, verdict, code);
	sql(db, q);
}

/* ---------------------------------------------------------------- enqueue */

/* An enqueued item is queued with its id derived from the tar's digest;
 * the same tar again returns the first row (existed = 1) and adds none. */
static void test_enqueue_and_duplicate(void **state)
{
	struct fixture *f = *state;
	struct queue_item in, a, again;
	struct kerr err = { 0 };
	char want_id[QUEUE_ID_BYTES];
	int existed = -1;

	item(&in, "a", "miner-1");
	assert_int_equal(queue_enqueue(&f->s, &in, &a, &existed, &err), 0);
	assert_int_equal(existed, 0);
	snprintf(want_id, sizeof want_id, "q-%.24s", in.sha256);
	assert_string_equal(a.id, want_id);
	assert_true(a.seq > 0);
	assert_string_equal(a.state, "queued");
	assert_int_equal(a.attempts, 0);
	assert_int_equal(a.worker_pid, 0);
	assert_string_equal(a.sha256, in.sha256);
	assert_string_equal(a.manifest_sha256, in.manifest_sha256);
	assert_string_equal(a.miner, in.miner);
	assert_string_equal(a.king_tag, in.king_tag);
	assert_string_equal(a.path, in.path);
	assert_string_equal(a.remote, "127.0.0.1");
	assert_int_equal(a.bytes, in.bytes);
	assert_int_equal(strlen(a.received_at), VSTATE_TIME_BYTES - 1);
	assert_string_equal(a.started_at, "");
	assert_string_equal(a.verdict, "");

	/* The same tar from elsewhere: the first row, unchanged. */
	snprintf(in.remote, sizeof in.remote, "10.0.0.9");
	existed = -1;
	assert_int_equal(queue_enqueue(&f->s, &in, &again, &existed, &err), 0);
	assert_int_equal(existed, 1);
	assert_int_equal(again.seq, a.seq);
	assert_string_equal(again.id, a.id);
	assert_string_equal(again.remote, "127.0.0.1");
	assert_int_equal(count(f->s.db, "SELECT count(*) FROM queue"), 1);
	/* A duplicate of a row already judged is still that row. */
	claim(&f->s, &again);
	assert_int_equal(queue_finish(&f->s, a.id, "rejected", "judge.stale", NULL, &err), 0);
	assert_int_equal(queue_enqueue(&f->s, &in, &again, &existed, &err), 0);
	assert_int_equal(existed, 1);
	assert_string_equal(again.state, "done");
	assert_int_equal(count(f->s.db, "SELECT count(*) FROM queue"), 1);
}

/* Malformed fields (as a hostile client could make them) are refused
 * before anything is written. */
static void test_enqueue_refuses_bad_items(void **state)
{
	struct fixture *f = *state;
	struct queue_item in, out;
	struct kerr err = { 0 };
	int existed;

	for (int c = 0; c < 8; c++) {
		item(&in, "bad", "miner-1");
		switch (c) {
		case 0: in.sha256[3] = 'A'; break;          /* upper case: a second spelling */
		case 1: in.manifest_sha256[63] = '\0'; break; /* short */
		case 2: in.miner[0] = 'g'; break;           /* not hex */
		case 3: in.king_tag[0] = '\0'; break;
		case 4: memset(in.king_tag, 'k', sizeof in.king_tag); break; /* unterminated */
		case 5: in.path[0] = '\0'; break;
		case 6: memset(in.remote, 'r', sizeof in.remote); break;
		case 7: in.bytes = (uint64_t)INT64_MAX + 1; break;
		}
		existed = -1;
		assert_int_equal(queue_enqueue(&f->s, &in, &out, &existed, &err), -1);
		assert_string_equal(err.code, "queue.bad_item");
		assert_int_equal(existed, 0);
	}
	assert_int_equal(count(f->s.db, "SELECT count(*) FROM queue"), 0);
}

/* A row written behind the queue's back with a value longer than its field
 * is refused on reading, not cut short. */
static void test_reading_refuses_overlong_rows(void **state)
{
	struct fixture *f = *state;
	struct queue_item q, recent[2];
	struct kerr err = { 0 };
	int n;

	sql(f->s.db, "INSERT INTO queue(id, sha256, manifest_sha256, bytes, miner, king_tag, path, remote, state,"
		     " received_at) VALUES('q-1', 'x', 'y', 1, 'm', printf('%.80c', 'v'), 'p', '', 'queued',"
		     " '2026-01-01T00:00:00Z')");
	assert_int_equal(queue_get(&f->s, "q-1", &q, &err), -1);
	assert_string_equal(err.code, "queue.corrupt");
	assert_non_null(strstr(err.msg, "king_tag"));
	assert_int_equal(queue_recent(&f->s, recent, 2, &n, &err), -1);
	assert_string_equal(err.code, "queue.corrupt");
}

/* ---------------------------------------------------------------- claim */

/* Claims take the oldest queued item first; a requeued item keeps its
 * place and its attempt, an unclaimed one (never started) its place and
 * not the attempt; an empty queue gives got = 0. */
static void test_claim_fifo(void **state)
{
	struct fixture *f = *state;
	struct queue_item a, b, c, got_item;
	struct kerr err = { 0 };
	int got = -1;

	enq(&f->s, "a", "m", &a);
	enq(&f->s, "b", "m", &b);
	enq(&f->s, "c", "m", &c);
	claim(&f->s, &got_item);
	assert_string_equal(got_item.id, a.id);
	assert_string_equal(got_item.state, "judging");
	assert_int_equal(got_item.attempts, 1);
	assert_int_equal(got_item.worker_pid, WORKER_PID);
	assert_int_equal(strlen(got_item.started_at), VSTATE_TIME_BYTES - 1);
	claim(&f->s, &got_item);
	assert_string_equal(got_item.id, b.id);
	assert_int_equal(queue_requeue(&f->s, b.id, &err), 0);
	claim(&f->s, &got_item);
	assert_string_equal(got_item.id, b.id); /* before c: older */
	assert_int_equal(got_item.attempts, 2);
	assert_int_equal(queue_unclaim(&f->s, b.id, &err), 0);
	claim(&f->s, &got_item);
	assert_string_equal(got_item.id, b.id);
	assert_int_equal(got_item.attempts, 2);
	claim(&f->s, &got_item);
	assert_string_equal(got_item.id, c.id);
	assert_int_equal(queue_claim(&f->s, WORKER_PID, &got_item, &got, &err), 0);
	assert_int_equal(got, 0);
	depth_is(&f->s, 0, 3, 0);
}

/* A child: opens the state, waits for the start byte, then claims until
 * the queue is empty, writing each claimed id and a newline to out and
 * pausing between claims (as a worker judging would) so that the two
 * children's claims interleave. Exit 0, or the step that failed. Plain
 * checks only: a cmocka assert in a child would run the rest of the suite
 * in it. */
static int race_child(const char *dir, int start_fd, int out_fd)
{
	struct vstate s;
	struct queue_item q;
	struct kerr err = { 0 };
	char go, line[QUEUE_ID_BYTES + 1];
	int got;

	if (vstate_open(dir, &s, &err) < 0)
		return 3;
	if (read(start_fd, &go, 1) != 1)
		return 2;
	for (int i = 0; i <= RACE_ITEMS; i++) {
		if (queue_claim(&s, getpid(), &q, &got, &err) < 0)
			return 4;
		if (!got)
			break;
		snprintf(line, sizeof line, "%s\n", q.id);
		if (write(out_fd, line, strlen(line)) != (ssize_t)strlen(line))
			return 5;
		usleep(RACE_PAUSE_US);
	}
	vstate_close(&s);
	return 0;
}

/* Two processes claiming from the same queue at once: every item is
 * claimed exactly once, by the process whose pid the row records. */
static void test_concurrent_claims(void **state)
{
	struct fixture *f = *state;
	struct queue_item items[RACE_ITEMS], q;
	struct kerr err = { 0 };
	int start[2], out[2][2], total = 0, per[2] = { 0, 0 };
	pid_t pid[2];
	char buf[RACE_ITEMS * (QUEUE_ID_BYTES + 1) + 1];

	for (int i = 0; i < RACE_ITEMS; i++) {
		char name[16];
		snprintf(name, sizeof name, "race-%d", i);
		enq(&f->s, name, "m", &items[i]);
	}
	vstate_close(&f->s); /* no connection across the fork */
	assert_int_equal(pipe(start), 0);
	fflush(NULL);
	for (int c = 0; c < 2; c++) {
		assert_int_equal(pipe(out[c]), 0);
		pid[c] = fork();
		assert_true(pid[c] >= 0);
		if (pid[c] == 0) {
			close(start[1]);
			close(out[c][0]);
			_exit(race_child(f->state, start[0], out[c][1]));
		}
		close(out[c][1]);
	}
	close(start[0]);
	/* One byte each, written together: both start claiming at once. */
	assert_int_equal(write(start[1], "gg", 2), 2);
	close(start[1]);
	for (int c = 0; c < 2; c++) {
		int ws;
		assert_int_equal(waitpid(pid[c], &ws, 0), pid[c]);
		assert_true(WIFEXITED(ws));
		assert_int_equal(WEXITSTATUS(ws), 0);
	}
	reopen(f);
	for (int c = 0; c < 2; c++) {
		ssize_t n, len = 0;
		while ((n = read(out[c][0], buf + len, sizeof buf - 1 - (size_t)len)) > 0)
			len += n;
		close(out[c][0]);
		buf[len] = '\0';
		for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
			assert_int_equal(queue_get(&f->s, line, &q, &err), 0);
			assert_string_equal(q.state, "judging");
			assert_int_equal(q.attempts, 1); /* claimed once, by this child */
			assert_int_equal(q.worker_pid, pid[c]);
			per[c]++;
			total++;
		}
	}
	assert_int_equal(total, RACE_ITEMS);
	assert_int_equal(count(f->s.db, "SELECT count(DISTINCT id) FROM queue WHERE state = 'judging'"), RACE_ITEMS);
	/* Both took part: otherwise nothing raced. */
	if (per[0] == 0 || per[1] == 0)
		fail_msg("claims did not interleave: %d and %d", per[0], per[1]);
}

/* ---------------------------------------------------------------- judging */

/* progress, finish, requeue: only on a judging row; the others are refused
 * with the row untouched. get, depth and recent read what they wrote. */
static void test_lifecycle(void **state)
{
	struct fixture *f = *state;
	struct queue_item a, b, c, q, recent[4];
	struct kerr err = { 0 };
	char longid[QUEUE_ID_BYTES + 8];
	char *before;
	int n;

	enq(&f->s, "a", "m", &a);
	enq(&f->s, "b", "m", &b);
	enq(&f->s, "c", "m", &c);
	depth_is(&f->s, 3, 0, 0);
	claim(&f->s, &q);
	depth_is(&f->s, 2, 1, 0);

	assert_int_equal(queue_progress(&f->s, a.id, "diffscan", &err), 0);
	assert_int_equal(queue_get(&f->s, a.id, &q, &err), 0);
	assert_string_equal(q.check, "diffscan");
	assert_int_equal(queue_progress(&f->s, b.id, "diffscan", &err), -1);
	assert_string_equal(err.code, "queue.not_judging");
	assert_int_equal(queue_progress(&f->s, "q-000000000000000000000000", "diffscan", &err), -1);
	assert_string_equal(err.code, "queue.not_found");
	assert_int_equal(queue_progress(&f->s, a.id, "", &err), -1);
	assert_string_equal(err.code, "queue.bad_item");
	assert_int_equal(queue_progress(&f->s, a.id, "a-check-name-longer-than-32-bytes", &err), -1);
	assert_string_equal(err.code, "queue.bad_item");

	/* A submission id the corpus does not hold: refused, nothing written. */
	before = dump(f->s.db);
	assert_int_equal(queue_finish(&f->s, a.id, "not_decisive", "king.not_decisive", "k-nosuchentry", &err), -1);
	assert_string_equal(err.code, "queue.db");
	{
		char *after = dump(f->s.db);
		assert_string_equal(after, before);
		free(after);
	}
	free(before);

	corpus_row(f->s.db, "k-aaaa", a.manifest_sha256, "not_decisive", "king.not_decisive");
	assert_int_equal(queue_finish(&f->s, a.id, "not_decisive", "king.not_decisive", "k-aaaa", &err), 0);
	assert_int_equal(queue_get(&f->s, a.id, &q, &err), 0);
	assert_string_equal(q.state, "done");
	assert_string_equal(q.verdict, "not_decisive");
	assert_string_equal(q.reason_code, "king.not_decisive");
	assert_string_equal(q.submission_id, "k-aaaa");
	assert_int_equal(strlen(q.finished_at), VSTATE_TIME_BYTES - 1);
	assert_int_equal(q.attempts, 1);
	/* Exactly once: a done row is neither finished again nor requeued. */
	assert_int_equal(queue_finish(&f->s, a.id, "rejected", "x.y", NULL, &err), -1);
	assert_string_equal(err.code, "queue.not_judging");
	assert_int_equal(queue_requeue(&f->s, a.id, &err), -1);
	assert_string_equal(err.code, "queue.not_judging");
	assert_int_equal(queue_unclaim(&f->s, a.id, &err), -1);
	assert_string_equal(err.code, "queue.not_judging");
	assert_int_equal(queue_get(&f->s, a.id, &q, &err), 0);
	assert_int_equal(q.attempts, 1);
	assert_int_equal(queue_finish(&f->s, b.id, "rejected", "x.y", NULL, &err), -1);
	assert_string_equal(err.code, "queue.not_judging");
	assert_int_equal(queue_finish(&f->s, b.id, "", "x.y", NULL, &err), -1);
	assert_string_equal(err.code, "queue.bad_item");
	depth_is(&f->s, 2, 0, 1);

	/* A verdict without a corpus entry (refused before the corpus). */
	claim(&f->s, &q);
	assert_string_equal(q.id, b.id);
	assert_int_equal(queue_finish(&f->s, b.id, "rejected", "bundle.bad_tar", "", &err), 0);
	assert_int_equal(queue_get(&f->s, b.id, &q, &err), 0);
	assert_string_equal(q.submission_id, "");
	depth_is(&f->s, 1, 0, 2);

	assert_int_equal(queue_recent(&f->s, recent, 2, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(recent[0].id, c.id);
	assert_string_equal(recent[1].id, b.id);
	assert_int_equal(queue_recent(&f->s, recent, 4, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(recent[2].id, a.id);
	assert_string_equal(recent[2].verdict, "not_decisive");
	assert_int_equal(queue_recent(&f->s, recent, 0, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(queue_recent(&f->s, recent, -1, &n, &err), -1);
	assert_string_equal(err.code, "queue.bad_item");

	assert_int_equal(queue_get(&f->s, "q-ffffffffffffffffffffffff", &q, &err), -1);
	assert_string_equal(err.code, "queue.not_found");
	memset(longid, 'f', sizeof longid - 1);
	longid[sizeof longid - 1] = '\0';
	assert_int_equal(queue_get(&f->s, longid, &q, &err), -1);
	assert_string_equal(err.code, "queue.not_found");
	assert_int_equal(queue_get(&f->s, "' OR 1=1 --", &q, &err), -1);
	assert_string_equal(err.code, "queue.not_found");
}

/* A miner's pending items are the queued and judging ones. */
static void test_pending_for(void **state)
{
	struct fixture *f = *state;
	struct queue_item a1, a2, b1, q;
	struct kerr err = { 0 };
	char miner_a[KEYS_PK_HEX_BYTES], other[KEYS_PK_HEX_BYTES];
	int n = -1;

	enq(&f->s, "a1", "miner-a", &a1);
	enq(&f->s, "b1", "miner-b", &b1);
	enq(&f->s, "a2", "miner-a", &a2);
	snprintf(miner_a, sizeof miner_a, "%s", a1.miner);
	assert_int_equal(queue_pending_for(&f->s, miner_a, &n, &err), 0);
	assert_int_equal(n, 2);
	claim(&f->s, &q); /* a1: judging still counts */
	assert_int_equal(queue_pending_for(&f->s, miner_a, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(queue_finish(&f->s, a1.id, "rejected", "judge.stale", NULL, &err), 0);
	assert_int_equal(queue_pending_for(&f->s, miner_a, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(queue_pending_for(&f->s, b1.miner, &n, &err), 0);
	assert_int_equal(n, 1);
	hash_buf_hex("nobody", 6, other);
	assert_int_equal(queue_pending_for(&f->s, other, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(queue_pending_for(&f->s, "'; DROP TABLE queue; --", &n, &err), -1);
	assert_string_equal(err.code, "queue.bad_item");
}

/* The caps on a flood of fresh keys: pending items in all and by the
 * address they came from (queued and judging count; done does not). */
static void test_pending_counts(void **state)
{
	struct fixture *f = *state;
	struct queue_item a1, b1, c1, d1, in, q;
	struct queue_counts n;
	struct heldwait_need need;
	struct kerr err = { 0 };
	int existed = -1, ready = -1;

	enq(&f->s, "a1", "miner-a", &a1);
	enq(&f->s, "b1", "miner-b", &b1);
	item(&in, "c1", "miner-c");
	snprintf(in.remote, sizeof in.remote, "192.0.2.7");
	assert_int_equal(queue_enqueue(&f->s, &in, &c1, &existed, &err), 0);
	assert_int_equal(queue_pending_counts(&f->s, a1.remote, &n, &err), 0);
	assert_int_equal(n.total, 3);
	assert_int_equal(n.by_remote, 2);
	assert_int_equal(n.held + n.held_by_remote, 0);
	assert_int_equal(queue_pending_counts(&f->s, "192.0.2.7", &n, &err), 0);
	assert_int_equal(n.by_remote, 1);
	assert_int_equal(queue_pending_counts(&f->s, "' OR 1=1 --", &n, &err), 0);
	assert_int_equal(n.total, 3);
	assert_int_equal(n.by_remote, 0);
	claim(&f->s, &q); /* a1: judging still counts */
	assert_string_equal(q.id, a1.id);
	assert_int_equal(queue_pending_counts(&f->s, a1.remote, &n, &err), 0);
	assert_int_equal(n.total, 3);
	assert_int_equal(queue_finish(&f->s, a1.id, "rejected", "judge.stale", NULL, &err), 0);
	assert_int_equal(queue_pending_counts(&f->s, a1.remote, &n, &err), 0);
	assert_int_equal(n.total, 2);
	assert_int_equal(n.by_remote, 1);
	assert_int_equal(queue_pending_counts(&f->s, NULL, &n, &err), 0);
	assert_int_equal(n.total, 2);
	assert_int_equal(n.by_remote, 0);
	/* one waiting for a held checkpoint is counted apart, until it is in */
	item(&in, "d1", "miner-d");
	memset(&need, 0, sizeof need);
	snprintf(need.name, sizeof need.name, "checkpoints/step_000004.ckpt");
	hash_buf_hex("d1-held", 7, need.sha256);
	need.bytes = 7;
	assert_int_equal(queue_enqueue_held(&f->s, &in, &need, 1, &d1, &existed, &err), 0);
	assert_int_equal(queue_pending_counts(&f->s, d1.remote, &n, &err), 0);
	assert_int_equal(n.total, 2);
	assert_int_equal(n.by_remote, 1);
	assert_int_equal(n.held, 1);
	assert_int_equal(n.held_by_remote, 1);
	assert_int_equal(queue_pending_counts(&f->s, "192.0.2.7", &n, &err), 0);
	assert_int_equal(n.held, 1);
	assert_int_equal(n.held_by_remote, 0);
	assert_int_equal(heldwait_arrived(&f->s, d1.id, need.name, &ready, &err), 0);
	assert_int_equal(ready, 1);
	assert_int_equal(queue_pending_counts(&f->s, d1.remote, &n, &err), 0);
	assert_int_equal(n.total, 3);
	assert_int_equal(n.held, 0);
}

/* ---------------------------------------------------------------- recovery */

/* A judging row whose verdict never reached the corpus is queued again
 * (attempts kept, worker and check cleared) and claimed again first. */
static void test_recover_requeues(void **state)
{
	struct fixture *f = *state;
	struct queue_item a, b, q;
	struct queue_recovery r;
	struct kerr err = { 0 };

	enq(&f->s, "a", "m", &a);
	enq(&f->s, "b", "m", &b);
	claim(&f->s, &q);
	assert_int_equal(queue_progress(&f->s, a.id, "replay", &err), 0);
	reopen(f); /* as a restarted service would */
	assert_int_equal(queue_recover(&f->s, &r, &err), 0);
	assert_int_equal(r.finished, 0);
	assert_int_equal(r.requeued, 1);
	assert_int_equal(r.queued, 2);
	assert_int_equal(queue_get(&f->s, a.id, &q, &err), 0);
	assert_string_equal(q.state, "queued");
	assert_int_equal(q.attempts, 1);
	assert_int_equal(q.worker_pid, 0);
	assert_string_equal(q.check, "");
	assert_string_equal(q.started_at, "");
	claim(&f->s, &q);
	assert_string_equal(q.id, a.id);
	assert_int_equal(q.attempts, 2);
	/* Nothing judging after a requeue and a fresh claim's finish. */
	assert_int_equal(queue_finish(&f->s, a.id, "rejected", "judge.stale", NULL, &err), 0);
	assert_int_equal(queue_recover(&f->s, &r, &err), 0);
	assert_int_equal(r.finished, 0);
	assert_int_equal(r.requeued, 0);
	assert_int_equal(r.queued, 1);
}

/* A judging row whose manifest is in the corpus (the worker died between
 * recording the verdict and finishing the row) takes that verdict. */
static void test_recover_finishes_from_corpus(void **state)
{
	struct fixture *f = *state;
	struct queue_item a, b, c, d, q;
	struct queue_recovery r;
	struct kerr err = { 0 };

	enq(&f->s, "a", "m", &a);
	enq(&f->s, "b", "m", &b);
	enq(&f->s, "c", "m", &c);
	enq(&f->s, "d", "m", &d);
	claim(&f->s, &q);
	claim(&f->s, &q);
	corpus_row(f->s.db, "k-a1a1a1", a.manifest_sha256, "challenge_pending", "king.challenge");
	/* c's manifest in the corpus does not touch c: it is not judging. */
	corpus_row(f->s.db, "k-c1c1c1", c.manifest_sha256, "rejected", "judge.stale");
	/* d, a challenge answer recorded pending while the submission it
	 * answers is still pending: its worker died before the merge, and
	 * judged again it resumes there (done, it was lost) */
	{
		char q2[256];

		snprintf(q2, sizeof q2, "UPDATE queue SET state = 'judging', worker_pid = 1, started_at = '2026-01-02T03:04:05Z' WHERE id = '%s'", d.id);
		sql(f->s.db, q2);
	}
	corpus_row(f->s.db, "k-d1d1d1", d.manifest_sha256, "challenge_pending", "");
	sql(f->s.db, "UPDATE submissions SET challenge_of = 'k-a1a1a1' WHERE id = 'k-d1d1d1'");
	reopen(f);
	assert_int_equal(queue_recover(&f->s, &r, &err), 0);
	assert_int_equal(r.finished, 1);
	assert_int_equal(r.requeued, 2);
	assert_int_equal(r.queued, 3);
	assert_int_equal(queue_get(&f->s, d.id, &q, &err), 0);
	assert_string_equal(q.state, "queued");
	assert_int_equal(queue_get(&f->s, a.id, &q, &err), 0);
	assert_string_equal(q.state, "done");
	assert_string_equal(q.verdict, "challenge_pending");
	assert_string_equal(q.reason_code, "king.challenge");
	assert_string_equal(q.submission_id, "k-a1a1a1");
	assert_string_equal(q.finished_at, "2026-01-02T03:05:06Z");
	assert_int_equal(queue_get(&f->s, b.id, &q, &err), 0);
	assert_string_equal(q.state, "queued");
	assert_int_equal(queue_get(&f->s, c.id, &q, &err), 0);
	assert_string_equal(q.state, "queued");
	assert_string_equal(q.verdict, "");
}

/* The killed child's transaction: many new rows, a claim, a finish and a
 * progress, all under one BEGIN IMMEDIATE (queue calls nest as savepoints);
 * then it reports ready and blocks forever on a pipe. */
struct held {
	int ready_fd, hold_fd;
};

static int held_fn(struct vstate *s, void *arg, struct kerr *err)
{
	const struct held *h = arg;
	struct queue_item in, out;
	int existed, got;
	char name[32], b;

	for (int i = 0; i < CHILD_ROWS; i++) {
		snprintf(name, sizeof name, "child-%d", i);
		item(&in, name, "child");
		if (queue_enqueue(s, &in, &out, &existed, err) < 0)
			return -1;
	}
	if (queue_claim(s, getpid(), &out, &got, err) < 0 || !got ||
	    queue_progress(s, out.id, "replay", err) < 0)
		return -1;
	if (write(h->ready_fd, "r", 1) != 1)
		return -1;
	if (read(h->hold_fd, &b, 1) < 0) /* never written: killed here */
		return -1;
	return kerr_set(err, "test.unreachable", "the child was not killed");
}

static void test_killed_mid_transaction(void **state)
{
	struct fixture *f = *state;
	struct queue_item a, b, q;
	struct queue_recovery r;
	struct kerr err = { 0 };
	int ready[2], hold[2], ws;
	char *before, *after, c;
	pid_t pid;

	enq(&f->s, "a", "m", &a);
	enq(&f->s, "b", "m", &b);
	claim(&f->s, &q);
	before = dump(f->s.db);
	vstate_close(&f->s);
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(hold), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct vstate s;
		struct kerr cerr = { 0 };
		struct held h = { ready[1], hold[0] };
		close(ready[0]);
		close(hold[1]);
		if (vstate_open(f->state, &s, &cerr) < 0)
			_exit(3);
		sqlite3_exec(s.db, "PRAGMA cache_size=" CHILD_CACHE_PAGES, NULL, NULL, NULL);
		vstate_tx(&s, held_fn, &h, &cerr);
		_exit(4); /* only when the transaction failed before blocking */
	}
	close(ready[1]);
	close(hold[0]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_true(WIFSIGNALED(ws));
	assert_int_equal(WTERMSIG(ws), SIGKILL);
	close(ready[0]);
	close(hold[1]);

	reopen(f);
	assert_int_equal(count(f->s.db, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check <> 'ok'"),
			 0);
	after = dump(f->s.db);
	assert_string_equal(after, before);
	free(after);
	free(before);
	depth_is(&f->s, 1, 1, 0);
	/* The dead writer's lock is gone: the queue takes writes again. */
	assert_int_equal(queue_recover(&f->s, &r, &err), 0);
	assert_int_equal(r.requeued, 1);
	claim(&f->s, &q);
	assert_string_equal(q.id, a.id);
	enq(&f->s, "after", "m", &q);
	depth_is(&f->s, 2, 1, 0);
}

/* ---------------------------------------------------------------- held */

/* n checkpoints a wait asks for: step 6, 12, ..., each named by its
 * path's digest, 1000 + i bytes. */
static void held_needs(struct heldwait_need *need, int n)
{
	memset(need, 0, (size_t)n * sizeof *need);
	for (int i = 0; i < n; i++) {
		snprintf(need[i].name, sizeof need[i].name, "checkpoints/step_%06d.ckpt", 6 * (i + 1));
		hash_buf_hex(need[i].name, strlen(need[i].name), need[i].sha256);
		need[i].bytes = 1000u + (unsigned)i;
	}
}

/* A row waiting for held checkpoints (heldwait.h) is not claimed until
 * every one it asked for arrived; a name it did not ask for is refused; a
 * wait past its age is rejected with service.held_missing, as the row's
 * verdict; a needs column this code did not write is corrupt. */
static void test_held_wait(void **state)
{
	struct fixture *f = *state;
	struct heldwait_need need[2];
	struct heldwait w;
	struct queue_item in, a, b, q;
	struct kerr err = { 0 };
	char ids[4][QUEUE_ID_BYTES];
	int existed = -1, got = -1, ready = -1, found = -1, n = -1;

	held_needs(need, 2);
	item(&in, "held", "m");
	assert_int_equal(queue_enqueue_held(&f->s, &in, need, 2, &a, &existed, &err), 0);
	assert_int_equal(existed, 0);
	assert_int_equal(heldwait_get(&f->s, a.id, &w, &found, &err), 0);
	assert_int_equal(found, 1);
	assert_int_equal(w.n, 2);
	assert_int_equal(w.ready, 0);
	assert_int_equal((int)w.need[1].bytes, 1001);
	assert_false(w.need[0].arrived);
	/* a row after it is claimed first; it is not */
	enq(&f->s, "plain", "m", &b);
	claim(&f->s, &q);
	assert_string_equal(q.id, b.id);
	assert_int_equal(queue_claim(&f->s, WORKER_PID, &q, &got, &err), 0);
	assert_int_equal(got, 0);

	assert_int_equal(heldwait_arrived(&f->s, a.id, "checkpoints/step_000099.ckpt", &ready, &err), -1);
	assert_string_equal(err.code, "heldwait.not_asked");
	assert_int_equal(heldwait_arrived(&f->s, b.id, need[0].name, &ready, &err), -1);
	assert_string_equal(err.code, "heldwait.not_found");
	assert_int_equal(heldwait_arrived(&f->s, a.id, need[0].name, &ready, &err), 0);
	assert_int_equal(ready, 0);
	assert_int_equal(heldwait_arrived(&f->s, a.id, need[0].name, &ready, &err), 0); /* a retry */
	assert_int_equal(ready, 0);
	assert_int_equal(queue_claim(&f->s, WORKER_PID, &q, &got, &err), 0);
	assert_int_equal(got, 0);
	assert_int_equal(heldwait_arrived(&f->s, a.id, need[1].name, &ready, &err), 0);
	assert_int_equal(ready, 1);
	claim(&f->s, &q);
	assert_string_equal(q.id, a.id);

	/* its judgment draws what the wait lacks (the judge's draws changed):
	 * asked again, the row queued and waiting */
	{
		struct heldwait_need more[2] = { need[0], need[0] };

		snprintf(more[1].name, sizeof more[1].name, "checkpoints/step_000030.ckpt");
		assert_int_equal(heldwait_reask(&f->s, a.id, more, 2, &err), 0);
		assert_int_equal(heldwait_get(&f->s, a.id, &w, &found, &err), 0);
		assert_int_equal(w.n, 3);
		assert_int_equal(w.ready, 0);
		assert_false(w.need[0].arrived); /* named again: not in after all */
		assert_true(w.need[1].arrived);
		assert_string_equal(w.need[2].name, "checkpoints/step_000030.ckpt");
		assert_int_equal(queue_get(&f->s, a.id, &q, &err), 0);
		assert_string_equal(q.state, "queued");
		assert_int_equal(queue_claim(&f->s, WORKER_PID, &q, &got, &err), 0);
		assert_int_equal(got, 0);
		/* a row that is not being judged: refused, the wait as it was */
		assert_int_equal(heldwait_reask(&f->s, a.id, more, 1, &err), -1);
		assert_string_equal(err.code, "queue.not_judging");
		assert_int_equal(heldwait_get(&f->s, a.id, &w, &found, &err), 0);
		assert_int_equal(w.n, 3);
		/* the plain row, judged without a wait: one is made */
		assert_int_equal(heldwait_reask(&f->s, b.id, need, 1, &err), 0);
		assert_int_equal(heldwait_get(&f->s, b.id, &w, &found, &err), 0);
		assert_int_equal(found, 1);
		assert_int_equal(w.n, 1);
		assert_int_equal(heldwait_arrived(&f->s, b.id, need[0].name, &ready, &err), 0);
		assert_int_equal(ready, 1);
		claim(&f->s, &q);
		assert_string_equal(q.id, b.id);
		/* more than a wait holds: refused, b still judging */
		assert_int_equal(heldwait_reask(&f->s, b.id, more, HELDWAIT_NEEDS_MAX + 1, &err), -1);
		assert_string_equal(err.code, "heldwait.not_asked");
		assert_int_equal(queue_get(&f->s, b.id, &q, &err), 0);
		assert_string_equal(q.state, "judging");
		assert_int_equal(queue_finish(&f->s, b.id, "not_decisive", "judge.not_decisive", NULL, &err), 0);
		/* a's answers come: judged */
		assert_int_equal(heldwait_arrived(&f->s, a.id, need[0].name, &ready, &err), 0);
		assert_int_equal(ready, 0);
		assert_int_equal(heldwait_arrived(&f->s, a.id, "checkpoints/step_000030.ckpt", &ready, &err), 0);
		assert_int_equal(ready, 1);
		claim(&f->s, &q);
		assert_string_equal(q.id, a.id);
		assert_int_equal(queue_finish(&f->s, a.id, "not_decisive", "judge.not_decisive", NULL, &err), 0);
	}

	/* one that waits in vain */
	item(&in, "late", "m");
	assert_int_equal(queue_enqueue_held(&f->s, &in, need, 1, &a, &existed, &err), 0);
	assert_int_equal(heldwait_expire(&f->s, 3600, ids, 4, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(heldwait_expire(&f->s, -5, ids, 4, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], a.id);
	assert_int_equal(queue_get(&f->s, a.id, &q, &err), 0);
	assert_string_equal(q.state, "done");
	assert_string_equal(q.verdict, "rejected");
	assert_string_equal(q.reason_code, "service.held_missing");
	assert_int_equal(heldwait_expire(&f->s, -5, ids, 4, &n, &err), 0);
	assert_int_equal(n, 0);
	/* counted per miner, for /v1/miners (no corpus entry records it) */
	{
		struct queue_miner_count *c = NULL;
		size_t nc = 0;
		char m[KEYS_PK_HEX_BYTES];

		hash_buf_hex("m", 1, m);
		assert_int_equal(queue_ended_by_miner(&f->s, "service.held_missing", NULL, 0, &c, &nc, &err), 0);
		assert_int_equal(nc, 1);
		assert_string_equal(c[0].miner, m);
		assert_int_equal(c[0].n, 1);
		assert_string_equal(c[0].last_at, q.received_at);
		free(c);
		/* a page after the key is empty */
		assert_int_equal(queue_ended_by_miner(&f->s, "service.held_missing", m, 1, &c, &nc, &err), 0);
		assert_int_equal(nc, 0);
		free(c);
		assert_int_equal(queue_ended_by_miner(&f->s, "judge.stale", NULL, 0, &c, &nc, &err), 0);
		assert_int_equal(nc, 0);
		assert_null(c);
	}

	/* an arrival starts the clock again: asked two hours ago, one of two
	 * files in now, it has the whole hour for the other */
	item(&in, "slow", "m");
	assert_int_equal(queue_enqueue_held(&f->s, &in, need, 2, &a, &existed, &err), 0);
	sql(f->s.db, "UPDATE held_wait SET asked_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-2 hours') WHERE ready = 0");
	assert_int_equal(heldwait_arrived(&f->s, a.id, need[0].name, &ready, &err), 0);
	assert_int_equal(ready, 0);
	assert_int_equal(heldwait_expire(&f->s, 3600, ids, 4, &n, &err), 0);
	assert_int_equal(n, 0);
	/* without one, the same wait is over */
	sql(f->s.db, "UPDATE held_wait SET asked_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-2 hours') WHERE ready = 0");
	assert_int_equal(heldwait_expire(&f->s, 3600, ids, 4, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], a.id);

	/* a restart moves a wait by the time the service was down: asked a
	 * day ago, down since then, it is not over */
	item(&in, "down", "m");
	assert_int_equal(queue_enqueue_held(&f->s, &in, need, 1, &a, &existed, &err), 0);
	sql(f->s.db, "UPDATE held_wait SET asked_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-1 day') WHERE ready = 0");
	assert_int_equal(heldwait_restart(&f->s, NULL, &err), 0); /* no record: not moved */
	assert_int_equal(heldwait_get(&f->s, a.id, &w, &found, &err), 0);
	{
		char day_ago[VSTATE_TIME_BYTES];

		snprintf(day_ago, sizeof day_ago, "%s", w.asked_at);
		assert_int_equal(heldwait_restart(&f->s, day_ago, &err), 0);
		assert_int_equal(heldwait_get(&f->s, a.id, &w, &found, &err), 0);
		assert_string_not_equal(w.asked_at, day_ago);
	}
	assert_int_equal(heldwait_expire(&f->s, 3600, ids, 4, &n, &err), 0);
	assert_int_equal(n, 0);

	sql(f->s.db, "UPDATE held_wait SET needs_json = '{\"name\": 1}'");
	assert_int_equal(heldwait_get(&f->s, a.id, &w, &found, &err), -1);
	assert_string_equal(err.code, "heldwait.corrupt");
}

/* ---------------------------------------------------------------- schema */

/* What version 5 added: the index of submissions by miner; and version 4:
 * the final checkpoint's digest on submissions. */
#define UNDO_5 "DROP INDEX submissions_by_miner;"
#define UNDO_4 UNDO_5 " DROP INDEX submissions_by_final; ALTER TABLE submissions DROP COLUMN final_sha256;" \
	" ALTER TABLE noise DROP COLUMN final_sha256;"

/* Makes the state look as a version-1 state does: no queue table, no final
 * digests, schema version 1. */
static void make_version_1(struct fixture *f)
{
	sql(f->s.db, "BEGIN; " UNDO_4 " DROP TABLE held_wait; DROP TABLE queue;"
		     " UPDATE meta SET value = '1' WHERE key = 'schema_version'; COMMIT");
	vstate_close(&f->s);
}

static long long has_column(sqlite3 *db, const char *table, const char *column)
{
	char q[256];

	snprintf(q, sizeof q, "SELECT count(*) FROM pragma_table_info('%s') WHERE name = '%s'", table, column);
	return count(db, q);
}

static sqlite3 *raw_open(const struct fixture *f)
{
	char p[FS_PATH_MAX];
	sqlite3 *db = NULL;

	snprintf(p, sizeof p, "%s/%s", f->state, VSTATE_DB);
	assert_int_equal(sqlite3_open_v2(p, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	return db;
}

static long long has_object(sqlite3 *db, const char *type, const char *name)
{
	char q[256];

	snprintf(q, sizeof q, "SELECT count(*) FROM sqlite_master WHERE type = '%s' AND name = '%s'", type, name);
	return count(db, q);
}

/* Whether SQLite's plan for query names index (EXPLAIN QUERY PLAN's
 * detail column). */
static int plan_uses(sqlite3 *db, const char *query, const char *index)
{
	char q[1024];
	sqlite3_stmt *st = NULL;
	int found = 0;

	snprintf(q, sizeof q, "EXPLAIN QUERY PLAN %s", query);
	assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *d = (const char *)sqlite3_column_text(st, 3);

		found |= d && strstr(d, index) != NULL;
	}
	sqlite3_finalize(st);
	return found;
}

/* vstate_open upgrades a version-1 state: the queue table and its indexes
 * appear, then the held checkpoints' waits, then the final digests'
 * column (NULL on the kept rows), then the miner index, version 5 is
 * recorded, the corpus and
 * kings are kept; queue_ensure after it (and twice) changes nothing. */
static void test_migrates_version_1(void **state)
{
	struct fixture *f = *state;
	struct queue_item a, q;
	struct kerr err = { 0 };
	char ver[16];
	sqlite3 *db;

	corpus_row(f->s.db, "k-kept", "1111111111111111111111111111111111111111111111111111111111111111", "rejected",
		   "judge.stale");
	make_version_1(f);
	db = raw_open(f);
	assert_int_equal(has_object(db, "table", "queue"), 0);
	sqlite3_close(db);

	reopen(f);
	assert_int_equal(vstate_meta_get(&f->s, "schema_version", ver, sizeof ver, &err), 0);
	assert_string_equal(ver, "5");
	assert_int_equal(has_column(f->s.db, "submissions", "final_sha256"), 1);
	assert_int_equal(has_object(f->s.db, "index", "submissions_by_final"), 1);
	assert_int_equal(has_object(f->s.db, "index", "submissions_by_miner"), 1);
	assert_int_equal(count(f->s.db, "SELECT count(*) FROM submissions WHERE id = 'k-kept' AND final_sha256 IS NULL"), 1);
	assert_int_equal(has_object(f->s.db, "table", "queue"), 1);
	assert_int_equal(has_object(f->s.db, "table", "held_wait"), 1);
	assert_int_equal(has_object(f->s.db, "index", "queue_by_state"), 1);
	assert_int_equal(has_object(f->s.db, "index", "queue_by_miner"), 1);
	assert_int_equal(count(f->s.db, "SELECT count(*) FROM submissions WHERE id = 'k-kept'"), 1);
	assert_int_equal(count(f->s.db, "SELECT count(*) FROM kings"), 1);

	enq(&f->s, "a", "m", &a);
	assert_int_equal(queue_ensure(&f->s, &err), 0);
	assert_int_equal(queue_ensure(&f->s, &err), 0);
	assert_int_equal(queue_get(&f->s, a.id, &q, &err), 0);
	claim(&f->s, &q);
	assert_string_equal(q.id, a.id);

	/* queue_ensure creates the tables in a state that lacks them. */
	sql(f->s.db, "DROP TABLE held_wait; DROP TABLE queue");
	assert_int_equal(queue_ensure(&f->s, &err), 0);
	assert_int_equal(has_object(f->s.db, "index", "queue_by_state"), 1);
	assert_int_equal(has_object(f->s.db, "table", "held_wait"), 1);
	depth_is(&f->s, 0, 0, 0);
	/* Reopening a version-5 state migrates nothing. */
	reopen(f);
	assert_int_equal(count(f->s.db, "SELECT count(*) FROM submissions WHERE id = 'k-kept'"), 1);
	/* A version-2 state (a queue, no waits) gains the waits and keeps its rows. */
	enq(&f->s, "b", "m", &a);
	sql(f->s.db, "BEGIN; " UNDO_4 " DROP TABLE held_wait; UPDATE meta SET value = '2' WHERE key = 'schema_version';"
		     " COMMIT");
	reopen(f);
	assert_int_equal(vstate_meta_get(&f->s, "schema_version", ver, sizeof ver, &err), 0);
	assert_string_equal(ver, "5");
	assert_int_equal(has_object(f->s.db, "table", "held_wait"), 1);
	assert_int_equal(queue_get(&f->s, a.id, &q, &err), 0);
	/* A version-3 state gains the column, keeps its rows, and has its
	 * credit re-derived per king: version 3 credited a patch's earliest
	 * proof on any king (k-old0, on the old king, took the new king's). */
	sql(f->s.db, "INSERT INTO submissions(id, manifest_sha256, patch_sha256, king_tag, received_at, judged_at,"
		     " verdict, credited_to, challenge_of) VALUES"
		     " ('k-old0', 'm0', 'px', 'recipe-v0.1.0', 't', 't', 'not_decisive', NULL, NULL),"
		     " ('k-new1', 'm1', 'px', 'recipe-v0.1.1', 't', 't', 'accepted_king', 'k-old0', NULL),"
		     " ('k-ans2', 'm2', 'px', 'recipe-v0.1.1', 't', 't', 'accepted_king', 'k-old0', 'k-new1'),"
		     " ('k-dup3', 'm3', 'px', 'recipe-v0.1.1', 't', 't', 'not_decisive', 'k-old0', NULL),"
		     " ('k-rej4', 'm4', 'py', 'recipe-v0.1.1', 't', 't', 'rejected', NULL, NULL),"
		     " ('k-lat5', 'm5', 'py', 'recipe-v0.1.1', 't', 't', 'not_decisive', 'k-rej4', NULL)");
	sql(f->s.db, "BEGIN; " UNDO_4 " UPDATE meta SET value = '3' WHERE key = 'schema_version'; COMMIT");
	assert_int_equal(has_column(f->s.db, "submissions", "final_sha256"), 0);
	reopen(f);
	assert_int_equal(vstate_meta_get(&f->s, "schema_version", ver, sizeof ver, &err), 0);
	assert_string_equal(ver, "5");
	assert_int_equal(has_column(f->s.db, "submissions", "final_sha256"), 1);
	assert_int_equal(has_column(f->s.db, "noise", "final_sha256"), 1);
	assert_int_equal(count(f->s.db, "SELECT count(*) FROM submissions WHERE id = 'k-kept'"), 1);
	assert_int_equal(count(f->s.db, "SELECT count(*) FROM submissions WHERE id = 'k-old0' AND credited_to IS NULL"), 1);
	assert_int_equal(count(f->s.db, "SELECT count(*) FROM submissions WHERE id = 'k-new1' AND credited_to IS NULL"), 1);
	assert_int_equal(count(f->s.db, "SELECT count(*) FROM submissions WHERE id = 'k-ans2' AND credited_to = 'k-new1'"), 1);
	assert_int_equal(count(f->s.db, "SELECT count(*) FROM submissions WHERE id = 'k-dup3' AND credited_to = 'k-new1'"), 1);
	assert_int_equal(count(f->s.db, "SELECT count(*) FROM submissions WHERE id = 'k-lat5' AND credited_to IS NULL"), 1);
	assert_int_equal(queue_get(&f->s, a.id, &q, &err), 0);
	/* A version-4 state gains the miner index, and a page of miners
	 * reads a range of it rather than every submission. */
	sql(f->s.db, "BEGIN; " UNDO_5 " UPDATE meta SET value = '4' WHERE key = 'schema_version'; COMMIT");
	assert_int_equal(has_object(f->s.db, "index", "submissions_by_miner"), 0);
	reopen(f);
	assert_int_equal(vstate_meta_get(&f->s, "schema_version", ver, sizeof ver, &err), 0);
	assert_string_equal(ver, "5");
	assert_int_equal(has_object(f->s.db, "index", "submissions_by_miner"), 1);
	assert_int_equal(count(f->s.db, "SELECT count(*) FROM submissions WHERE id = 'k-kept'"), 1);
	assert_true(plan_uses(f->s.db,
			      "SELECT miner, count(*), sum(verdict = 'accepted_king'), total(judge_cpu_s), max(received_at)"
			      " FROM submissions WHERE miner > '' GROUP BY miner ORDER BY miner LIMIT 10",
			      "submissions_by_miner"));
}

/* The migration is one transaction: when a step fails (here an object
 * already holds the name of a queue index) the state stays version 1 with
 * no queue table, and opens once the obstacle is gone. Versions this build
 * does not know are refused. */
static void test_migration_is_atomic(void **state)
{
	struct fixture *f = *state;
	struct vstate s;
	struct kerr err = { 0 };
	sqlite3 *db;

	make_version_1(f);
	db = raw_open(f);
	sql(db, "CREATE TABLE queue_by_miner(x)");
	sqlite3_close(db);
	assert_int_equal(vstate_open(f->state, &s, &err), -1);
	assert_string_equal(err.code, "vstate.db");
	assert_non_null(strstr(err.msg, "upgrading schema version 1 to 2"));
	assert_null(s.db);
	db = raw_open(f);
	assert_int_equal(count(db, "SELECT value = '1' FROM meta WHERE key = 'schema_version'"), 1);
	assert_int_equal(has_object(db, "table", "queue"), 0);
	sql(db, "DROP TABLE queue_by_miner");
	sqlite3_close(db);
	reopen(f);
	assert_int_equal(has_object(f->s.db, "table", "queue"), 1);

	for (int i = 0; i < 2; i++) {
		sql(f->s.db, i ? "UPDATE meta SET value = '6' WHERE key = 'schema_version'"
			       : "UPDATE meta SET value = '0' WHERE key = 'schema_version'");
		vstate_close(&f->s);
		assert_int_equal(vstate_open(f->state, &f->s, &err), -1);
		assert_string_equal(err.code, "vstate.schema");
		db = raw_open(f);
		sql(db, "UPDATE meta SET value = '5' WHERE key = 'schema_version'");
		sqlite3_close(db);
		reopen(f);
	}
}

/* ---------------------------------------------------------------- failures */

/* A held checkpoint sent for a wait that is over (every need in, or the
 * row no longer queued) is refused, and the wait is left as it was. */
static void test_held_wait_closed(void **state)
{
	struct fixture *f = *state;
	struct heldwait_need need[2];
	struct heldwait w;
	struct queue_item in, a, q;
	struct kerr err = { 0 };
	char ids[4][QUEUE_ID_BYTES], *before, *after;
	int existed, ready, found, n;

	held_needs(need, 2);
	/* every need in: the row is queued, waiting for nothing */
	item(&in, "full", "m");
	assert_int_equal(queue_enqueue_held(&f->s, &in, need, 1, &a, &existed, &err), 0);
	assert_int_equal(heldwait_arrived(&f->s, a.id, need[0].name, &ready, &err), 0);
	assert_int_equal(ready, 1);
	assert_int_equal(heldwait_arrived(&f->s, a.id, need[0].name, &ready, &err), -1);
	assert_string_equal(err.code, "heldwait.closed");
	assert_int_equal(ready, 0);
	/* claimed: judging, the same */
	claim(&f->s, &q);
	assert_string_equal(q.id, a.id);
	assert_int_equal(heldwait_arrived(&f->s, a.id, need[0].name, &ready, &err), -1);
	assert_string_equal(err.code, "heldwait.closed");
	/* a wait that expired: done, rejected, its needs never marked in */
	item(&in, "expired", "m");
	assert_int_equal(queue_enqueue_held(&f->s, &in, need, 2, &a, &existed, &err), 0);
	assert_int_equal(heldwait_expire(&f->s, -5, ids, 4, &n, &err), 0);
	assert_int_equal(n, 1);
	before = dump(f->s.db);
	assert_int_equal(heldwait_arrived(&f->s, a.id, need[1].name, &ready, &err), -1);
	assert_string_equal(err.code, "heldwait.closed");
	assert_int_equal(heldwait_get(&f->s, a.id, &w, &found, &err), 0);
	assert_false(w.need[0].arrived || w.need[1].arrived);
	assert_int_equal(w.ready, 0);
	after = dump(f->s.db);
	assert_string_equal(after, before);
	free(after);
	free(before);
}

/* Another process holding the write lock past the (shortened) busy
 * timeout is queue.busy or heldwait.busy, the codes the service answers
 * 503 with, not a broken database; the write is not made, and goes
 * through once the lock is gone. SQLite failing otherwise (here a trigger
 * refusing the wait's update) is heldwait.db, with the wait unchanged. */
static void test_busy_and_db_errors(void **state)
{
	struct fixture *f = *state;
	struct heldwait_need need;
	struct heldwait w;
	struct queue_item in, a, out;
	struct kerr err = { 0 };
	char *before, *after;
	int existed, ready, found;
	sqlite3 *other;

	held_needs(&need, 1);
	item(&in, "held", "m");
	assert_int_equal(queue_enqueue_held(&f->s, &in, &need, 1, &a, &existed, &err), 0);
	before = dump(f->s.db);

	sqlite3_busy_timeout(f->s.db, 50);
	other = raw_open(f);
	sql(other, "BEGIN IMMEDIATE");
	item(&in, "blocked", "m");
	assert_int_equal(queue_enqueue(&f->s, &in, &out, &existed, &err), -1);
	assert_string_equal(err.code, "queue.busy");
	assert_int_equal(heldwait_arrived(&f->s, a.id, need.name, &ready, &err), -1);
	assert_string_equal(err.code, "heldwait.busy");
	sql(other, "ROLLBACK");
	sqlite3_close(other);
	after = dump(f->s.db);
	assert_string_equal(after, before);
	free(after);
	assert_int_equal(heldwait_get(&f->s, a.id, &w, &found, &err), 0);
	assert_false(w.need[0].arrived);

	sql(f->s.db, "CREATE TEMP TRIGGER refuse_wait BEFORE UPDATE ON held_wait"
		     " BEGIN SELECT RAISE(ABORT, 'refused'); END");
	assert_int_equal(heldwait_arrived(&f->s, a.id, need.name, &ready, &err), -1);
	assert_string_equal(err.code, "heldwait.db");
	assert_int_equal(heldwait_get(&f->s, a.id, &w, &found, &err), 0);
	assert_false(w.need[0].arrived);
	sql(f->s.db, "DROP TRIGGER refuse_wait");

	assert_int_equal(queue_enqueue(&f->s, &in, &out, &existed, &err), 0);
	assert_int_equal(heldwait_arrived(&f->s, a.id, need.name, &ready, &err), 0);
	assert_int_equal(ready, 1);
	free(before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_enqueue_and_duplicate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enqueue_refuses_bad_items, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reading_refuses_overlong_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_fifo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_claims, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_for, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_requeues, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_finishes_from_corpus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_killed_mid_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_held_wait, setup, teardown),
		cmocka_unit_test_setup_teardown(test_held_wait_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_and_db_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrates_version_1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_is_atomic, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
