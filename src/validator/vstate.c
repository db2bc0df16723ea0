/* vstate.c: a validator's state folder: its layout, the one SQLite database
 * and its schema, the secret, and the write-once bundle store. Never changes
 * a row outside a transaction; never opens a database whose schema version
 * it does not know.
 *
 * Schema, version 5 (VSTATE_SCHEMA_VERSION; bump it on any change below
 * and add the step from the old version to `migrations`, so that an older
 * state is upgraded in place, in one transaction, when it is opened; a
 * version newer than this build's is refused):
 *
 *   meta(key TEXT PRIMARY KEY, value TEXT)
 *       schema_version, created_at, scale, data, hidden (absolute paths).
 *   kings(id INTEGER PRIMARY KEY, tag UNIQUE, commit_id, hidden_bpb,
 *         public_bpb, submission_id, miner, improvement, alpha, created_at)
 *       One row per king; the current king is the highest id.
 *   noise(id INTEGER PRIMARY KEY, king_tag, scale, seeds, sigma, margin,
 *         values_json, created_at, final_sha256)
 *       Noise floors; the latest row for a king tag is the one in force.
 *       final_sha256 (since version 4): the digest of the seed-1 run's
 *       final checkpoint, the king's own model (king_current's baseline).
 *   submissions(seq INTEGER PRIMARY KEY, id TEXT UNIQUE, manifest_sha256
 *         UNIQUE, patch_sha256, miner, king_tag, seed, scale, rationale,
 *         patch, received_at, judged_at, verdict, reason_code, reason,
 *         claimed_public_bpb, public_bpb, hidden_bpb, king_bpb, margin,
 *         attest_kind, alpha, proof_cpu_s, judge_cpu_s, credited_to,
 *         challenge_of, challenge_seed, final_sha256), index
 *         submissions_by_final(final_sha256, seq) (final_sha256 since
 *         version 4: the digest of the proof's final checkpoint, which
 *         the judge's copy rule and the credit match as well as the
 *         patch's; NULL for a bundle refused before it was known) and
 *         submissions_by_miner(miner, seq) (since version 5: the service's
 *         pages of miners read a range of it, not the whole table).
 *       The experiment corpus (expcorpus.c). `seq` is an explicit rowid:
 *       without it VACUUM may renumber rowids and break the FTS link.
 *       `id` is the stable public id ("k-" + 12 hex of the manifest digest).
 *   checks(submission_id REFERENCES submissions(id), idx, name, outcome,
 *         code, message, cpu_s, PRIMARY KEY(submission_id, idx))
 *   corpus_fts: FTS5(id UNINDEXED, rationale, patch, verdict, reason_code,
 *         reason), rowid = submissions.seq. A contentful table written
 *         explicitly by expcorpus.c in the same transaction as its row,
 *         rather than external content with triggers: updates need the
 *         old values for an external-content delete, and a contentful table
 *         cannot drift from what it indexes through a missed trigger. It
 *         costs a second copy of the text, which is small next to bundles.
 *   merges(id INTEGER PRIMARY KEY, submission_id, from_tag, to_tag, commit_id, state,
 *         created_at)
 *       The king change journal (king.c).
 *   queue(seq INTEGER PRIMARY KEY AUTOINCREMENT, id UNIQUE, sha256 UNIQUE,
 *         manifest_sha256, bytes, miner, king_tag, path, remote, state,
 *         attempts, worker_pid, check_name, received_at, started_at,
 *         finished_at, submission_id REFERENCES submissions(id), verdict,
 *         reason_code), indexes queue_by_state(state, seq) and
 *         queue_by_miner(miner, state). Since version 2.
 *       The service's judging queue (queue.c): one row per acknowledged
 *       upload, queued -> judging -> done. AUTOINCREMENT: seq is the claim
 *       order and is never handed out twice. `check_name` is struct
 *       queue_item's `check` (CHECK is an SQL keyword).
 *   held_wait(queue_id PRIMARY KEY REFERENCES queue(id), needs_json,
 *         asked_at, ready). Since version 3.
 *       A queued submission's wait for the checkpoints its miner holds
 *       (heldwait.c): a row not ready is not claimed.
 *
 * Migrations: 1 -> 2 adds the queue table and its indexes; 2 -> 3 the
 * held_wait table; 3 -> 4 the final_sha256 columns of submissions (and its
 * index) and noise (rows recorded before keep NULL: they match by patch
 * only) and re-derives credited_to per king; 4 -> 5 the miner index.
 */
#include "validator/vstate.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sodium.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proof/reciperepo.h"

#define SECRET_NAME "secret"
#define STORE_NAME "store"
#define WORK_NAME "work"
#define RECIPE_NAME "recipe"
/* meta values are paths or short labels. */
#define META_VALUE_MAX FS_PATH_MAX

static const char schema_sql[] =
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);\n"
	"CREATE TABLE kings(id INTEGER PRIMARY KEY, tag TEXT UNIQUE NOT NULL, commit_id TEXT NOT NULL,"
	" hidden_bpb REAL, public_bpb REAL, submission_id TEXT, miner TEXT, improvement REAL, alpha REAL,"
	" created_at TEXT NOT NULL);\n"
	"CREATE TABLE noise(id INTEGER PRIMARY KEY, king_tag TEXT NOT NULL, scale TEXT, seeds INTEGER,"
	" sigma REAL, margin REAL, values_json TEXT, created_at TEXT);\n"
	"CREATE INDEX noise_by_king ON noise(king_tag, id);\n"
	"CREATE TABLE submissions(seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL,"
	" manifest_sha256 TEXT UNIQUE NOT NULL, patch_sha256 TEXT NOT NULL, miner TEXT, king_tag TEXT,"
	" seed INTEGER, scale TEXT, rationale TEXT, patch TEXT, received_at TEXT NOT NULL,"
	" judged_at TEXT NOT NULL, verdict TEXT NOT NULL CHECK (verdict IN ('accepted_king','not_decisive',"
	"'challenge_pending','challenge_failed','rejected')), reason_code TEXT, reason TEXT,"
	" claimed_public_bpb REAL, public_bpb REAL, hidden_bpb REAL, king_bpb REAL, margin REAL,"
	" attest_kind TEXT, alpha REAL, proof_cpu_s REAL, judge_cpu_s REAL,"
	" credited_to TEXT REFERENCES submissions(id), challenge_of TEXT REFERENCES submissions(id),"
	" challenge_seed INTEGER);\n"
	"CREATE INDEX submissions_by_patch ON submissions(patch_sha256, received_at, seq);\n"
	"CREATE INDEX submissions_by_time ON submissions(received_at);\n"
	"CREATE INDEX submissions_by_verdict ON submissions(verdict);\n"
	"CREATE TABLE checks(submission_id TEXT NOT NULL REFERENCES submissions(id), idx INTEGER NOT NULL,"
	" name TEXT NOT NULL, outcome TEXT NOT NULL CHECK (outcome IN ('pass','fail','skipped')),"
	" code TEXT, message TEXT, cpu_s REAL, PRIMARY KEY(submission_id, idx));\n"
	"CREATE VIRTUAL TABLE corpus_fts USING fts5(id UNINDEXED, rationale, patch, verdict, reason_code,"
	" reason);\n"
	"CREATE TABLE merges(id INTEGER PRIMARY KEY, submission_id TEXT, from_tag TEXT, to_tag TEXT, commit_id TEXT,"
	" state TEXT, created_at TEXT);\n";

/* The queue (version 2). IF NOT EXISTS: the same text creates it in a new
 * state, in the 1 -> 2 migration and in queue_ensure, so there is one
 * definition and running it twice changes nothing. The CHECKs hold the
 * invariants queue.c keeps, so a bug or a hand edit that breaks one fails
 * loudly instead of leaving a row no worker will ever pick up. */
static const char queue_sql[] =
	"CREATE TABLE IF NOT EXISTS queue(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL,"
	" sha256 TEXT UNIQUE NOT NULL, manifest_sha256 TEXT NOT NULL, bytes INTEGER NOT NULL CHECK (bytes >= 0),"
	" miner TEXT NOT NULL, king_tag TEXT NOT NULL, path TEXT NOT NULL, remote TEXT NOT NULL,"
	" state TEXT NOT NULL CHECK (state IN ('queued','judging','done')),"
	" attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0), worker_pid INTEGER, check_name TEXT,"
	" received_at TEXT NOT NULL, started_at TEXT, finished_at TEXT,"
	" submission_id TEXT REFERENCES submissions(id), verdict TEXT, reason_code TEXT,"
	" CHECK (state <> 'judging' OR (worker_pid IS NOT NULL AND started_at IS NOT NULL)),"
	" CHECK (state <> 'done' OR (verdict IS NOT NULL AND finished_at IS NOT NULL)));\n"
	"CREATE INDEX IF NOT EXISTS queue_by_state ON queue(state, seq);\n"
	"CREATE INDEX IF NOT EXISTS queue_by_miner ON queue(miner, state);\n";

/* The held checkpoints' waits (version 3), created like queue_sql. */
static const char held_sql[] =
	"CREATE TABLE IF NOT EXISTS held_wait(queue_id TEXT PRIMARY KEY REFERENCES queue(id),"
	" needs_json TEXT NOT NULL, asked_at TEXT NOT NULL, ready INTEGER NOT NULL DEFAULT 0 CHECK (ready IN (0, 1)));\n"
	"CREATE INDEX IF NOT EXISTS held_wait_by_ready ON held_wait(ready, asked_at);\n";

/* The final checkpoint's digest on each submission (version 4). An
 * ALTER in new states too, so that a new state and a migrated one have
 * the same table, column order included. */
static const char final_sql[] =
	"ALTER TABLE submissions ADD COLUMN final_sha256 TEXT;\n"
	"CREATE INDEX submissions_by_final ON submissions(final_sha256, seq);\n"
	"ALTER TABLE noise ADD COLUMN final_sha256 TEXT;\n";

/* Submissions by miner key (version 5), for /v1/miners' pages. */
static const char miner_sql[] = "CREATE INDEX submissions_by_miner ON submissions(miner, seq);\n";

/* ---------------------------------------------------------------- helpers */

void vstate_now_iso(char out[VSTATE_TIME_BYTES])
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, VSTATE_TIME_BYTES, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int vstate_sql_error(struct vstate *s, const char *what, struct kerr *err)
{
	int code = s && s->db ? sqlite3_errcode(s->db) : SQLITE_ERROR;
	const char *msg = s && s->db ? sqlite3_errmsg(s->db) : "no database";

	return kerr_set(err, code == SQLITE_BUSY || code == SQLITE_LOCKED ? "vstate.busy" : "vstate.db",
			"%s/%s: %s: %s", s ? s->dir : "?", VSTATE_DB, what, msg);
}

static int exec(struct vstate *s, const char *sql, const char *what, struct kerr *err)
{
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return vstate_sql_error(s, what, err);
	return 0;
}

static void copy_col(sqlite3_stmt *st, int col, char *out, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(out, cap, "%s", t ? (const char *)t : "");
}

static double real_col(sqlite3_stmt *st, int col)
{
	return sqlite3_column_type(st, col) == SQLITE_NULL ? NAN : sqlite3_column_double(st, col);
}

/* Absent or empty: the only folders init may fill (the stage is renamed
 * over an empty one). */
static int empty_or_absent(const char *dir, struct kerr *err)
{
	struct stat sb;
	struct dirent *de;
	DIR *d;
	int entries = 0;

	if (lstat(dir, &sb) < 0)
		return errno == ENOENT ? 0 : kerr_errno(err, "vstate.exists", dir);
	if (!S_ISDIR(sb.st_mode))
		return kerr_set(err, "vstate.exists", "%s: exists and is not a directory", dir);
	d = opendir(dir);
	if (!d)
		return kerr_errno(err, "vstate.exists", dir);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			entries++;
	closedir(d);
	if (entries)
		return kerr_set(err, "vstate.exists", "%s: not empty (a validator state starts in a fresh folder)",
				dir);
	return 0;
}

static int abs_dir(const char *what, const char *path, char out[FS_PATH_MAX], struct kerr *err)
{
	char *r;

	if (!path || !*path)
		return kerr_set(err, "vstate.usage", "no %s folder given", what);
	if (!fs_is_dir(path))
		return kerr_set(err, "vstate.no_data", "%s: %s folder not found", path, what);
	r = realpath(path, NULL);
	if (!r)
		return kerr_errno(err, "vstate.no_data", path);
	if (strlen(r) >= FS_PATH_MAX) {
		free(r);
		return kerr_set(err, "fs.path_too_long", "%s: path too long", path);
	}
	memcpy(out, r, strlen(r) + 1);
	free(r);
	return 0;
}

/* ---------------------------------------------------------------- secret */

static int secret_write(const char *dir, struct kerr *err)
{
	uint8_t key[VSTATE_SECRET_BYTES];
	char path[FS_PATH_MAX];
	int fd, rc = -1;

	if (fs_join(path, sizeof path, err, "%s/%s", dir, SECRET_NAME) < 0)
		return -1;
	randombytes_buf(key, sizeof key);
	/* 0600 from the first byte: never a moment where others may read it. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		kerr_errno(err, "vstate.secret", path);
		goto out;
	}
	if (fs_write_fd(fd, key, sizeof key, path, err) < 0)
		goto out;
	if (fsync(fd) < 0) {
		kerr_errno(err, "fs.fsync", path);
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	sodium_memzero(key, sizeof key);
	return rc;
}

static int secret_read(struct vstate *s, struct kerr *err)
{
	char path[FS_PATH_MAX];
	struct stat sb;
	ssize_t r;
	int fd, rc = -1;

	if (fs_join(path, sizeof path, err, "%s/%s", s->dir, SECRET_NAME) < 0)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return kerr_errno(err, "vstate.secret", path);
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		kerr_set(err, "vstate.secret", "%s: not a regular file", path);
		goto out;
	}
	/* Like ssh with its keys: a secret others can read is no longer one,
	 * and challenge seeds derived from it would be predictable. */
	if (sb.st_mode & 077) {
		kerr_set(err, "vstate.secret_mode", "%s: readable by others (mode %03o; chmod 600)", path,
			 (unsigned)(sb.st_mode & 0777));
		goto out;
	}
	if (sb.st_size != VSTATE_SECRET_BYTES) {
		kerr_set(err, "vstate.secret", "%s: %lld bytes, expected %d", path, (long long)sb.st_size,
			 VSTATE_SECRET_BYTES);
		goto out;
	}
	do
		r = read(fd, s->secret, sizeof s->secret);
	while (r < 0 && errno == EINTR);
	if (r != (ssize_t)sizeof s->secret) {
		kerr_set(err, "vstate.secret", "%s: short read", path);
		goto out;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

/* ---------------------------------------------------------------- database */

static int db_open(struct vstate *s, const char *dir, int create, struct kerr *err)
{
	char path[FS_PATH_MAX];
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);

	if (fs_join(path, sizeof path, err, "%s/%s", dir, VSTATE_DB) < 0)
		return -1;
	if (!create && !fs_exists(path))
		return kerr_set(err, "vstate.not_found", "%s: no validator state here (karpa validator init)", dir);
	if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
		kerr_set(err, "vstate.db", "%s: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
		sqlite3_close(s->db);
		s->db = NULL;
		return -1;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, VSTATE_BUSY_TIMEOUT_MS);
	/* WAL: readers (corpus queries, status) never block the judge's writes.
	 * synchronous=FULL: a verdict reported as recorded survives power loss. */
	if (exec(s, "PRAGMA journal_mode=WAL", "journal_mode", err) < 0 ||
	    exec(s, "PRAGMA synchronous=FULL", "synchronous", err) < 0 ||
	    exec(s, "PRAGMA foreign_keys=ON", "foreign_keys", err) < 0)
		return -1;
	return 0;
}

static int schema_create(struct vstate *s, void *arg, struct kerr *err)
{
	char now[VSTATE_TIME_BYTES], ver[16];

	if (exec(s, schema_sql, "create schema", err) < 0 || exec(s, queue_sql, "create queue", err) < 0 ||
	    exec(s, held_sql, "create held_wait", err) < 0 || exec(s, final_sql, "add final_sha256", err) < 0 ||
	    exec(s, miner_sql, "index miners", err) < 0)
		return -1;
	vstate_now_iso(now);
	snprintf(ver, sizeof ver, "%d", VSTATE_SCHEMA_VERSION);
	if (vstate_meta_set(s, "schema_version", ver, err) < 0 || vstate_meta_set(s, "created_at", now, err) < 0 ||
	    vstate_meta_set(s, "scale", s->scale, err) < 0 || vstate_meta_set(s, "data", s->data, err) < 0 ||
	    vstate_meta_set(s, "hidden", s->hidden, err) < 0)
		return -1;
	return 0;
}

struct first_king {
	char commit[RECIPEREPO_COMMIT_HEX];
};

static int first_king_insert(struct vstate *s, void *arg, struct kerr *err)
{
	const struct first_king *k = arg;
	sqlite3_stmt *st = NULL;
	char now[VSTATE_TIME_BYTES];
	int rc = -1;

	vstate_now_iso(now);
	if (sqlite3_prepare_v2(s->db, "INSERT INTO kings(tag, commit_id, created_at) VALUES(?, ?, ?)", -1, &st,
			       NULL) != SQLITE_OK) {
		vstate_sql_error(s, "insert first king", err);
		goto out;
	}
	sqlite3_bind_text(st, 1, RECIPEREPO_FIRST_TAG, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, k->commit, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		vstate_sql_error(s, "insert first king", err);
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

static int make_link(const char *dir, const char *name, const char *target, struct kerr *err)
{
	char p[FS_PATH_MAX];

	if (fs_join(p, sizeof p, err, "%s/%s", dir, name) < 0)
		return -1;
	if (symlink(target, p) < 0)
		return kerr_errno(err, "vstate.create", p);
	return 0;
}

static int make_dir(const char *dir, const char *name, struct kerr *err)
{
	char p[FS_PATH_MAX];

	if (fs_join(p, sizeof p, err, "%s/%s", dir, name) < 0)
		return -1;
	if (mkdir(p, 0700) < 0)
		return kerr_errno(err, "vstate.create", p);
	return 0;
}

/* The whole folder is built in a staging directory and appears under its
 * name only when complete: a crash during init leaves nothing to open. */
int vstate_init(const struct vstate_init_opts *o, struct kerr *err)
{
	struct fs_stage stg = { 0 };
	struct vstate s = { 0 };
	struct first_king k;
	char repo[FS_PATH_MAX];
	int rc = -1;

	if (!o->dir || !*o->dir || !o->recipe_src || !o->scale)
		return kerr_set(err, "vstate.usage", "vstate_init: dir, recipe_src and scale are required");
	if (strlen(o->scale) >= sizeof s.scale)
		return kerr_set(err, "vstate.usage", "scale '%.32s...': name too long", o->scale);
	if (abs_dir("data", o->data, s.data, err) < 0 || abs_dir("hidden", o->hidden, s.hidden, err) < 0)
		return -1;
	/* The hidden split is the verdict's ground truth; if it were the public
	 * folder, miners would be judged on data they trained against. */
	if (!strcmp(s.data, s.hidden))
		return kerr_set(err, "vstate.hidden_is_public", "%s: the hidden folder is the public data folder",
				s.hidden);
	snprintf(s.scale, sizeof s.scale, "%s", o->scale);
	if (empty_or_absent(o->dir, err) < 0 || fs_stage_begin(&stg, o->dir, err) < 0)
		return -1;
	snprintf(s.dir, sizeof s.dir, "%s", stg.tmp);
	if (fs_join(repo, sizeof repo, err, "%s/%s", stg.tmp, RECIPE_NAME) < 0 ||
	    reciperepo_init(repo, o->recipe_src, err) < 0 || reciperepo_resolve(repo, RECIPEREPO_FIRST_TAG, k.commit, err) < 0)
		goto out;
	if (make_dir(stg.tmp, STORE_NAME, err) < 0 || make_dir(stg.tmp, WORK_NAME, err) < 0 ||
	    make_link(stg.tmp, "data", s.data, err) < 0 || make_link(stg.tmp, "hidden", s.hidden, err) < 0 ||
	    secret_write(stg.tmp, err) < 0)
		goto out;
	if (db_open(&s, stg.tmp, 1, err) < 0 || vstate_tx(&s, schema_create, NULL, err) < 0 ||
	    vstate_tx(&s, first_king_insert, &k, err) < 0)
		goto out;
	/* Closing checkpoints the WAL into the file before the folder moves. */
	if (sqlite3_close(s.db) != SQLITE_OK) {
		vstate_sql_error(&s, "close", err);
		goto out;
	}
	s.db = NULL;
	if (fs_stage_commit(&stg, 0, err) < 0) {
		kerr_prefix(err, "vstate");
		goto out;
	}
	rc = 0;
out:
	if (s.db)
		sqlite3_close(s.db);
	fs_stage_abort(&stg);
	return rc;
}

/* ---------------------------------------------------------------- schema version */

/* The version recorded in meta, as a number this build can read (1 up to
 * VSTATE_SCHEMA_VERSION), else vstate.schema. */
static int schema_version(struct vstate *s, long *v, struct kerr *err)
{
	char ver[32], *end;

	if (vstate_meta_get(s, "schema_version", ver, sizeof ver, err) < 0) {
		if (!strcmp(err->code, "vstate.meta_missing"))
			kerr_set(err, "vstate.schema", "%s/%s: no schema_version", s->dir, VSTATE_DB);
		else if (!strcmp(err->code, "vstate.db"))
			kerr_set(err, "vstate.schema", "%s/%s: not a validator state database", s->dir, VSTATE_DB);
		return -1;
	}
	*v = strtol(ver, &end, 10);
	if (end == ver || *end || *v < 1 || *v > VSTATE_SCHEMA_VERSION)
		return kerr_set(err, "vstate.schema", "%s/%s: schema version '%s', this karpa reads 1 to %d", s->dir,
				VSTATE_DB, ver, VSTATE_SCHEMA_VERSION);
	return 0;
}

static int migrate_1_to_2(struct vstate *s, struct kerr *err)
{
	return exec(s, queue_sql, "create queue", err);
}

static int migrate_2_to_3(struct vstate *s, struct kerr *err)
{
	return exec(s, held_sql, "create held_wait", err);
}

/* Also re-derives the credit of the rows already recorded, as
 * expcorpus_record now does (per king; before, the earliest proof of the
 * patch on any king, so an early proof that was not decisive on an old king
 * took the weight of a later crowning): an answer's is the submission it
 * answers, any other row's the earliest earlier row of its patch on its
 * king that was not rejected. Old rows have no final digest to match. */
static int migrate_3_to_4(struct vstate *s, struct kerr *err)
{
	if (exec(s, final_sql, "add final_sha256", err) < 0)
		return -1;
	return exec(s,
		    "UPDATE submissions AS t SET credited_to = CASE WHEN t.challenge_of IS NOT NULL"
		    " THEN t.challenge_of ELSE (SELECT e.id FROM submissions AS e WHERE e.patch_sha256 = t.patch_sha256"
		    " AND e.king_tag = t.king_tag AND e.verdict <> 'rejected' AND e.seq < t.seq ORDER BY e.seq LIMIT 1)"
		    " END",
		    "re-derive credit", err);
}

static int migrate_4_to_5(struct vstate *s, struct kerr *err)
{
	return exec(s, miner_sql, "index miners", err);
}

/* migrations[v - 1] upgrades version v to v + 1 inside the caller's
 * transaction; a state of any older version walks every step from its own.
 * A step must produce exactly version v + 1's schema: 1 -> 2 shares
 * queue_sql with new states only while that text is the version-2 table;
 * a later change to the queue goes in a new step (ALTER TABLE), and if
 * queue_sql itself changes, this step gets a frozen copy of today's. */
static int (*const migrations[])(struct vstate *s, struct kerr *err) = {
	migrate_1_to_2,
	migrate_2_to_3,
	migrate_3_to_4,
	migrate_4_to_5,
};
_Static_assert(sizeof migrations / sizeof migrations[0] == VSTATE_SCHEMA_VERSION - 1,
	       "every schema version bump needs its migration step");

/* All steps and the new version number in one transaction: a crash leaves
 * the old version with none of the new tables, never a half-upgraded file. */
static int migrate(struct vstate *s, void *arg, struct kerr *err)
{
	char ver[16];
	long v, from;

	(void)arg;
	/* Read again under the write lock: another process opening the same
	 * state may have upgraded it since our first read. */
	if (schema_version(s, &from, err) < 0)
		return -1;
	if (from == VSTATE_SCHEMA_VERSION)
		return 0;
	for (v = from; v < VSTATE_SCHEMA_VERSION; v++)
		if (migrations[v - 1](s, err) < 0) {
			kerr_prefix(err, "upgrading schema version %ld to %ld", v, v + 1);
			return -1;
		}
	snprintf(ver, sizeof ver, "%d", VSTATE_SCHEMA_VERSION);
	return vstate_meta_set(s, "schema_version", ver, err);
}

int vstate_queue_schema(struct vstate *s, struct kerr *err)
{
	if (exec(s, queue_sql, "create queue", err) < 0)
		return -1;
	return exec(s, held_sql, "create held_wait", err);
}

int vstate_open(const char *dir, struct vstate *s, struct kerr *err)
{
	long v;
	char abs[PATH_MAX];

	memset(s, 0, sizeof *s);
	/* Absolute from here on: merges run git inside STATE/recipe, where a
	 * relative state path would name the wrong folder. */
	if (!realpath(dir, abs))
		return kerr_errno(err, "vstate.not_found", dir);
	dir = abs;
	if (fs_join(s->dir, sizeof s->dir, err, "%s", dir) < 0 ||
	    fs_join(s->recipe, sizeof s->recipe, err, "%s/%s", dir, RECIPE_NAME) < 0)
		return -1;
	if (db_open(s, dir, 0, err) < 0)
		goto fail;
	if (schema_version(s, &v, err) < 0)
		goto fail;
	if (vstate_meta_get(s, "data", s->data, sizeof s->data, err) < 0 ||
	    vstate_meta_get(s, "hidden", s->hidden, sizeof s->hidden, err) < 0 ||
	    vstate_meta_get(s, "scale", s->scale, sizeof s->scale, err) < 0 || secret_read(s, err) < 0)
		goto fail;
	/* Last: an open refused for another reason leaves an old file as it was. */
	if (v < VSTATE_SCHEMA_VERSION && vstate_tx(s, migrate, NULL, err) < 0)
		goto fail;
	return 0;
fail:
	vstate_close(s);
	return -1;
}

void vstate_close(struct vstate *s)
{
	if (s->db)
		sqlite3_close(s->db);
	s->db = NULL;
	sodium_memzero(s->secret, sizeof s->secret);
}

/* Nested calls (a module that uses vstate_tx itself, called from inside
 * another transaction) become savepoints, so they compose: the inner work
 * commits only with the outer one. */
int vstate_tx(struct vstate *s, int (*fn)(struct vstate *s, void *arg, struct kerr *err), void *arg,
	      struct kerr *err)
{
	int nested = !sqlite3_get_autocommit(s->db);

	if (exec(s, nested ? "SAVEPOINT vstate_tx" : "BEGIN IMMEDIATE", "begin", err) < 0)
		return -1;
	if (fn(s, arg, err) < 0) {
		if (nested) {
			sqlite3_exec(s->db, "ROLLBACK TO vstate_tx", NULL, NULL, NULL);
			sqlite3_exec(s->db, "RELEASE vstate_tx", NULL, NULL, NULL);
		} else {
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		}
		return -1;
	}
	if (exec(s, nested ? "RELEASE vstate_tx" : "COMMIT", "commit", err) < 0) {
		if (!nested && !sqlite3_get_autocommit(s->db))
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- meta, king, noise */

int vstate_meta_get(struct vstate *s, const char *key, char *out, size_t cap, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	int rc = -1, r;

	if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = ?", -1, &st, NULL) != SQLITE_OK) {
		vstate_sql_error(s, "read meta", err);
		goto out;
	}
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_DONE) {
		kerr_set(err, "vstate.meta_missing", "%s/%s: meta '%s' missing", s->dir, VSTATE_DB, key);
		goto out;
	}
	if (r != SQLITE_ROW) {
		vstate_sql_error(s, "read meta", err);
		goto out;
	}
	if ((size_t)sqlite3_column_bytes(st, 0) >= cap) {
		kerr_set(err, "vstate.meta_too_long", "%s/%s: meta '%s' too long", s->dir, VSTATE_DB, key);
		goto out;
	}
	copy_col(st, 0, out, cap);
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

int vstate_meta_set(struct vstate *s, const char *key, const char *value, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (strlen(value) >= META_VALUE_MAX)
		return kerr_set(err, "vstate.meta_too_long", "meta '%s': value too long", key);
	if (sqlite3_prepare_v2(s->db,
			       "INSERT INTO meta(key, value) VALUES(?, ?)"
			       " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
			       -1, &st, NULL) != SQLITE_OK) {
		vstate_sql_error(s, "write meta", err);
		goto out;
	}
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		vstate_sql_error(s, "write meta", err);
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

static void king_row(sqlite3_stmt *st, struct vstate_king *k)
{
	memset(k, 0, sizeof *k);
	k->id = sqlite3_column_int64(st, 0);
	copy_col(st, 1, k->tag, sizeof k->tag);
	copy_col(st, 2, k->commit, sizeof k->commit);
	k->hidden_bpb = real_col(st, 3);
	k->public_bpb = real_col(st, 4);
	copy_col(st, 5, k->submission_id, sizeof k->submission_id);
	copy_col(st, 6, k->miner, sizeof k->miner);
	k->improvement = real_col(st, 7);
	k->alpha = real_col(st, 8);
	copy_col(st, 9, k->created_at, sizeof k->created_at);
}

#define KING_COLS "SELECT id, tag, commit_id, hidden_bpb, public_bpb, submission_id, miner, improvement, alpha, created_at FROM kings"

int vstate_king_current(struct vstate *s, struct vstate_king *k, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	int rc = -1, r;

	memset(k, 0, sizeof *k);
	if (sqlite3_prepare_v2(s->db, KING_COLS " ORDER BY id DESC LIMIT 1", -1, &st, NULL) != SQLITE_OK) {
		vstate_sql_error(s, "read king", err);
		goto out;
	}
	r = sqlite3_step(st);
	if (r == SQLITE_DONE) {
		kerr_set(err, "vstate.no_king", "%s/%s: no king recorded", s->dir, VSTATE_DB);
		goto out;
	}
	if (r != SQLITE_ROW) {
		vstate_sql_error(s, "read king", err);
		goto out;
	}
	king_row(st, k);
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

int vstate_kings(struct vstate *s, struct vstate_king *out, size_t cap, size_t *n, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	int rc = -1, r;

	*n = 0;
	/* The newest cap kings, oldest first. */
	if (sqlite3_prepare_v2(s->db, "SELECT * FROM (" KING_COLS " ORDER BY id DESC LIMIT ?1) ORDER BY id", -1, &st,
			       NULL) != SQLITE_OK) {
		vstate_sql_error(s, "read kings", err);
		goto out;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)cap);
	while ((r = sqlite3_step(st)) == SQLITE_ROW && *n < cap)
		king_row(st, &out[(*n)++]);
	if (r != SQLITE_DONE && r != SQLITE_ROW) {
		vstate_sql_error(s, "read kings", err);
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

/* ---------------------------------------------------------------- store */

int vstate_store_path(struct vstate *s, const char *sha256_hex, char path[FS_PATH_MAX], struct kerr *err)
{
	if (!hash_is_hex(sha256_hex, HASH_HEX_BYTES - 1))
		return kerr_set(err, "vstate.bad_digest", "'%.80s' is not a SHA-256 digest (64 lowercase hex digits)",
				sha256_hex ? sha256_hex : "");
	return fs_join(path, FS_PATH_MAX, err, "%s/%s/%s", s->dir, STORE_NAME, sha256_hex);
}

/* An existing entry must already be these bytes: a mismatch means the
 * store was damaged, and we stop rather than paper over it. */
static int entry_holds(const char *final, const char *sha256_hex, struct kerr *err)
{
	char have[HASH_HEX_BYTES];

	if (hash_file_hex(final, have, NULL, err) < 0)
		return -1;
	if (strcmp(have, sha256_hex))
		return kerr_set(err, "vstate.store_corrupt", "%s: content digest is %s", final, have);
	return 0;
}

int vstate_store_file(struct vstate *s, const char *path, char sha256_hex[HASH_HEX_BYTES], struct kerr *err)
{
	static unsigned counter; /* distinct tmp names within one process */
	char dir[FS_PATH_MAX], tmp[FS_PATH_MAX], final[FS_PATH_MAX];
	int rc = -1;

	if (fs_join(dir, sizeof dir, err, "%s/%s", s->dir, STORE_NAME) < 0 ||
	    fs_join(tmp, sizeof tmp, err, "%s/.tmp.%ld.%u", dir, (long)getpid(), counter++) < 0)
		return -1;
	/* One pass: the name is the digest of exactly the bytes that landed in
	 * the store, whatever happens to the source meanwhile. */
	if (fs_copy_file_hashed(path, tmp, sha256_hex, err) < 0)
		goto out;
	if (fs_join(final, sizeof final, err, "%s/%s", dir, sha256_hex) < 0)
		goto out;
	if (fs_exists(final)) { /* write once */
		rc = entry_holds(final, sha256_hex, err);
		goto out;
	}
	if (rename(tmp, final) < 0) {
		kerr_errno(err, "fs.rename", final);
		goto out;
	}
	if (fs_fsync_dir(dir, err) < 0)
		goto out;
	rc = 0;
out:
	unlink(tmp); /* absent after a successful rename */
	return rc;
}

int vstate_store_known(struct vstate *s, const char *path, const char *sha256_hex, struct kerr *err)
{
	char final[FS_PATH_MAX], dir[FS_PATH_MAX], got[HASH_HEX_BYTES];

	if (vstate_store_path(s, sha256_hex, final, err) < 0 ||
	    fs_join(dir, sizeof dir, err, "%s/%s", s->dir, STORE_NAME) < 0)
		return -1;
	if (fs_exists(final))
		return entry_holds(final, sha256_hex, err);
	if (link(path, final) == 0)
		return fs_fsync_dir(dir, err);
	if (errno == EEXIST)
		return entry_holds(final, sha256_hex, err);
	if (vstate_store_file(s, path, got, err) < 0)
		return -1;
	if (strcmp(got, sha256_hex))
		return kerr_set(err, "vstate.store_corrupt", "%s: stored as %s, expected %s", path, got, sha256_hex);
	return 0;
}
