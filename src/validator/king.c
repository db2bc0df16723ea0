/* king.c: the one place that changes the king (PROTOCOL 6). Never merges
 * without a decisive judgment; every change is journaled in SQLite before
 * git's refs move and recorded in one more transaction after, so a crash at
 * any instant leaves the old king or the new one (docs/king.md). Never
 * moves a ref without naming the value it replaces. */
#include "validator/king.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/recipe_build.h"
#include "validator/expcorpus.h"
#include "util/crash.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/proc.h"

#define MAIN_REF "refs/heads/" RECIPEREPO_BRANCH
/* A commit message: the rationale, a subject and the metric trailers. */
#define MESSAGE_BYTES_MAX (KING_RATIONALE_BYTES_MAX + 4096)
/* merge refuses to start while any row is pending, so more than one
 * pending row means someone else wrote the journal. */
#define PENDING_MAX 16
#define JOURNAL_PREPARED "prepared"
#define JOURNAL_DONE "done"
#define JOURNAL_ABORTED "aborted"
#define TRAILER_PREFIX "Karpa-"

/* -------------------------------------------------------------------- git */

/* One git call in a repository of this state. */
struct gitc {
	const char *repo;      /* run in this repository */
	const char *index;     /* GIT_INDEX_FILE (absolute), or NULL */
	const char *work_tree; /* --work-tree (absolute), or NULL */
	const void *in;        /* stdin bytes, or NULL */
	size_t in_len;
};

/* Runs git under reciperepo's pinned configuration and environment, so the
 * repository the king moves is written exactly as reciperepo reads it;
 * failures carry king.git. -1 only when git could not run. */
static int git_run(const struct gitc *c, const char *const *args, struct proc_result *res, struct kerr *err)
{
	const struct reciperepo_git_opts o = { .work_tree = c->work_tree, .index_file = c->index, .in = c->in,
					       .in_len = c->in_len, .reason = "king.git" };

	return reciperepo_git(c->repo, args, &o, res, err);
}

/* Runs git, requires exit 0, and copies the first line of stdout into out
 * (when out is not NULL). */
static int git_line(const struct gitc *c, const char *const *args, char *out, size_t cap, struct kerr *err)
{
	struct proc_result res;
	char line[512];
	int rc = -1;

	if (git_run(c, args, &res, err) < 0)
		goto out;
	if (res.exit_code != 0) {
		proc_first_line(res.err, line, sizeof line);
		kerr_set(err, "king.git", "%s: git %s failed (exit %d): %s", c->repo, args[0], res.exit_code, line);
		goto out;
	}
	if (out)
		proc_first_line(res.out, out, cap);
	rc = 0;
out:
	proc_result_free(&res);
	return rc;
}

/* What a full ref names as a commit; *found is 0 when it does not exist. */
static int ref_commit(const char *repo, const char *ref, char commit[RECIPEREPO_COMMIT_HEX], int *found,
		      struct kerr *err)
{
	char spec[FS_PATH_MAX];
	const char *args[] = { "rev-parse", "-q", "--verify", spec, NULL };
	struct gitc c = { .repo = repo };
	struct proc_result res;
	int rc = -1;

	*found = 0;
	commit[0] = '\0';
	if (fs_join(spec, sizeof spec, err, "%s^{commit}", ref) < 0)
		return -1;
	if (git_run(&c, args, &res, err) < 0)
		goto out;
	if (res.exit_code == 0) {
		proc_first_line(res.out, commit, RECIPEREPO_COMMIT_HEX);
		if (!hash_is_hex(commit, RECIPEREPO_COMMIT_HEX - 1)) {
			kerr_set(err, "king.git", "%s: %s: not a SHA-1 commit id", repo, ref);
			goto out;
		}
		*found = 1;
	}
	rc = 0;
out:
	proc_result_free(&res);
	return rc;
}

static int tag_commit(const char *repo, const char *tag, char commit[RECIPEREPO_COMMIT_HEX], int *found,
		      struct kerr *err)
{
	char ref[RECIPEREPO_TAG_MAX + 16];

	snprintf(ref, sizeof ref, "refs/tags/%s", tag);
	return ref_commit(repo, ref, commit, found, err);
}

/* Moves main from old to new; git refuses if main is not at old, so a
 * concurrent or confused writer can never be overwritten. */
static int move_main(const char *repo, const char *to_tag, const char *new_commit, const char *old_commit,
		     struct kerr *err)
{
	char msg[RECIPEREPO_TAG_MAX + 32];
	const char *args[] = { "update-ref", "-m", msg, MAIN_REF, new_commit, old_commit, NULL };
	struct gitc c = { .repo = repo };

	snprintf(msg, sizeof msg, "karpa: king %s", to_tag);
	return git_line(&c, args, NULL, 0, err);
}

/* The checked-out files of STATE/recipe are a view for people; refs are
 * the truth and exports never read the checkout. Refreshing it keeps
 * `git status` there from showing the old king as staged changes. */
static int refresh_checkout(const char *repo)
{
	const char *args[] = { "reset", "-q", "--hard", MAIN_REF, NULL };
	struct gitc c = { .repo = repo };
	struct kerr ignored;

	return git_line(&c, args, NULL, 0, &ignored);
}

/* ---------------------------------------------------------------- reading */

static double real_col(sqlite3_stmt *st, int col)
{
	return sqlite3_column_type(st, col) == SQLITE_NULL ? NAN : sqlite3_column_double(st, col);
}

static void text_col(sqlite3_stmt *st, int col, char *out, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(out, cap, "%s", t ? (const char *)t : "");
}

static int prepare(struct vstate *s, const char *sql, sqlite3_stmt **st, const char *what, struct kerr *err)
{
	if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
		return vstate_sql_error(s, what, err);
	return 0;
}

/* The king's score, set only on the current king: a merge that landed
 * while its floor was measured makes the measurement stale. */
struct record_score {
	long long king_id;
	double hidden_bpb, public_bpb;
};

static int record_score_tx(struct vstate *s, void *arg, struct kerr *err)
{
	const struct record_score *a = arg;
	struct vstate_king k;
	sqlite3_stmt *st = NULL;
	int rc = -1;

	/* Inside the transaction: the king cannot change between this check
	 * and the write. */
	if (vstate_king_current(s, &k, err) < 0)
		return -1;
	if (k.id != a->king_id)
		return kerr_set(err, "king.stale", "the king changed to %s while its noise floor was measured", k.tag);
	/* A king crowned by a merge keeps the public score its proof claimed
	 * and the judge measured; the genesis king has none until this run. */
	if (prepare(s, "UPDATE kings SET hidden_bpb = ?, public_bpb = COALESCE(public_bpb, ?) WHERE id = ?", &st,
		    "store king score", err) < 0)
		return -1;
	sqlite3_bind_double(st, 1, a->hidden_bpb);
	if (isfinite(a->public_bpb))
		sqlite3_bind_double(st, 2, a->public_bpb);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_int64(st, 3, a->king_id);
	if (sqlite3_step(st) != SQLITE_DONE) {
		vstate_sql_error(s, "store king score", err);
		goto out;
	}
	if (sqlite3_changes(s->db) != 1) {
		kerr_set(err, "king.stale", "%s: king row %lld is gone", s->dir, a->king_id);
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

int king_noise_in_force(struct vstate *s, const char *tag, struct vstate_noise *n, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	int rc = -1, r;

	memset(n, 0, sizeof *n);
	n->sigma = n->margin = NAN;
	if (prepare(s, "SELECT king_tag, scale, seeds, sigma, margin, created_at FROM noise WHERE scale = ?"
		       " ORDER BY (king_tag = ?) DESC, id DESC LIMIT 1", &st, "read noise floor", err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, s->scale, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, tag, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		n->present = 1;
		text_col(st, 0, n->king_tag, sizeof n->king_tag);
		text_col(st, 1, n->scale, sizeof n->scale);
		n->seeds = sqlite3_column_int(st, 2);
		n->sigma = real_col(st, 3);
		n->margin = real_col(st, 4);
		/* a floor stored before the least margin existed (sigma 0) is
		 * in force at it, for the judge and for what is published */
		if (isfinite(n->margin) && n->margin >= 0 && n->margin < KING_MARGIN_MIN)
			n->margin = KING_MARGIN_MIN;
		text_col(st, 5, n->created_at, sizeof n->created_at);
	} else if (r != SQLITE_DONE) {
		vstate_sql_error(s, "read noise floor", err);
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

/* The king's own seed-1 final checkpoint (king_info.baseline): the
 * latest noise floor measured on it that recorded one, else the final
 * checkpoint of the original proof it was crowned from (its kings row
 * names the answer that confirmed it; seed 1 of the same recipe, which
 * the binding replay reproduced on this validator). "" when neither is
 * known. */
static int king_baseline(struct vstate *s, const char *tag, char out[HASH_HEX_BYTES], struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	int r;

	out[0] = '\0';
	if (sqlite3_prepare_v2(s->db,
			       "SELECT coalesce((SELECT final_sha256 FROM noise WHERE king_tag = ?1 AND scale = ?2"
			       " AND final_sha256 IS NOT NULL ORDER BY id DESC LIMIT 1),"
			       " (SELECT o.final_sha256 FROM kings k JOIN submissions a ON a.id = k.submission_id"
			       " JOIN submissions o ON o.id = coalesce(a.challenge_of, a.id) WHERE k.tag = ?1))",
			       -1, &st, NULL) != SQLITE_OK)
		return vstate_sql_error(s, "king baseline", err);
	sqlite3_bind_text(st, 1, tag, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, s->scale, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT &&
	    hash_is_hex((const char *)sqlite3_column_text(st, 0), HASH_HEX_BYTES - 1))
		snprintf(out, HASH_HEX_BYTES, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		return vstate_sql_error(s, "king baseline", err);
	return 0;
}

int king_current(struct vstate *s, struct king_info *out, struct kerr *err)
{
	struct vstate_king k;
	struct vstate_noise n;

	memset(out, 0, sizeof *out);
	out->hidden_bpb = out->margin = out->sigma = NAN;
	if (vstate_king_current(s, &k, err) < 0)
		return -1;
	snprintf(out->tag, sizeof out->tag, "%s", k.tag);
	snprintf(out->commit, sizeof out->commit, "%s", k.commit);
	out->hidden_bpb = k.hidden_bpb;
	if (king_noise_in_force(s, k.tag, &n, err) < 0)
		return -1;
	if (!n.present)
		return kerr_set(err, "king.no_noise_floor", "%s: no noise floor at scale %s (karpa noise-floor)",
				k.tag, s->scale);
	snprintf(out->noise_tag, sizeof out->noise_tag, "%s", n.king_tag);
	out->noise_seeds = n.seeds;
	out->sigma = n.sigma;
	out->margin = n.margin;
	if (!isfinite(out->margin) || out->margin < 0)
		return kerr_set(err, "king.no_noise_floor", "%s: the noise floor's margin is not a number", k.tag);
	if (!isfinite(out->hidden_bpb))
		return kerr_set(err, "king.no_score", "%s: the king has no hidden score (karpa noise-floor)", k.tag);
	return king_baseline(s, k.tag, out->baseline, err);
}

int king_final_names_model(const struct king_info *k, const char *final_sha256_hex)
{
	return k->baseline[0] && final_sha256_hex && final_sha256_hex[0] && strcmp(k->baseline, final_sha256_hex);
}

int king_record_noise_score(struct vstate *s, long long king_id, double hidden_bpb, double public_bpb,
			    struct kerr *err)
{
	struct record_score a = { king_id, hidden_bpb, public_bpb };

	if (!isfinite(hidden_bpb) || hidden_bpb <= 0 || hidden_bpb > KING_BPB_MAX)
		return kerr_set(err, "king.bad_metrics", "hidden score %g: not a finite bpb in (0, %g]", hidden_bpb,
				KING_BPB_MAX);
	return vstate_tx(s, record_score_tx, &a, err);
}

/* ----------------------------------------------------------- decide, seed */

int king_decide(double king_bpb, double cand_bpb, double margin, double *improvement)
{
	*improvement = NAN;
	if (!isfinite(king_bpb) || !isfinite(cand_bpb) || !isfinite(margin) || margin < 0)
		return 0;
	*improvement = king_bpb - cand_bpb;
	return *improvement > margin;
}

int king_challenge_seed(const uint8_t secret[VSTATE_SECRET_BYTES], const char *king_tag, const char *final_sha256_hex,
			const double *hidden_bpb, uint64_t *seed, struct kerr *err)
{
	static const char context[] = KING_SEED_CONTEXT;
	crypto_generichash_state st;
	uint8_t h[crypto_generichash_BYTES], score[9] = { 0 };
	uint64_t x = 0, bits;

	*seed = 0;
	if (!final_sha256_hex || !hash_is_hex(final_sha256_hex, HASH_HEX_BYTES - 1))
		return kerr_set(err, "king.bad_digest", "final checkpoint digest: not 64 lowercase hex digits");
	if (!king_tag || !*king_tag || strlen(king_tag) >= RECIPEREPO_TAG_MAX)
		return kerr_set(err, "king.bad_tag", "challenge seed: no king tag, or one too long");
	if (hidden_bpb && !isfinite(*hidden_bpb))
		return kerr_set(err, "king.bad_score", "challenge seed: the candidate's hidden score is not finite");
	/* 0, or 1 and the score's IEEE bits, little-endian whatever the
	 * host's order */
	if (hidden_bpb) {
		memcpy(&bits, hidden_bpb, sizeof bits);
		score[0] = 1;
		for (int i = 0; i < 8; i++)
			score[1 + i] = (uint8_t)(bits >> (8 * i));
	}
	crypto_generichash_init(&st, secret, VSTATE_SECRET_BYTES, sizeof h);
	/* Each NUL ends a field (the tag has none; the digest and the score
	 * have fixed lengths, the score's first byte says whether it is
	 * there): no other (context, tag, digest, score) hashes the same
	 * bytes. */
	crypto_generichash_update(&st, (const uint8_t *)context, sizeof context);
	crypto_generichash_update(&st, (const uint8_t *)king_tag, strlen(king_tag) + 1);
	crypto_generichash_update(&st, (const uint8_t *)final_sha256_hex, HASH_HEX_BYTES - 1);
	crypto_generichash_update(&st, score, sizeof score);
	crypto_generichash_final(&st, h, sizeof h);
	for (int i = 0; i < 8; i++)
		x |= (uint64_t)h[i] << (8 * i);
	/* 2^64 values onto 2^53 - 2: the modulo bias is below 2^-10 of one
	 * part in 2^53, immaterial for a seed. */
	*seed = KING_SEED_MIN + x % (KING_SEED_MAX - KING_SEED_MIN + 1);
	sodium_memzero(h, sizeof h);
	return 0;
}

/* ------------------------------------------------------------------- lock */

/* One merge at a time, and no recovery while a live process is merging:
 * between the journal row and the last transaction the journal says
 * 'prepared' and git is ahead of the database, which looks exactly like a
 * crash to anyone else. flock is released by the kernel when its holder
 * dies, so a crashed merger never blocks recovery. Returns the fd (>= 0),
 * KING_LOCK_BUSY when wait is 0 and another process holds it, or -1. */
#define KING_LOCK_BUSY (-2)
static int lock_take(struct vstate *s, int wait, struct kerr *err)
{
	char path[FS_PATH_MAX];
	int fd;

	if (fs_join(path, sizeof path, err, "%s/%s", s->dir, KING_LOCK_NAME) < 0)
		return -1;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return kerr_errno(err, "king.lock", path);
	while (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
		if (errno == EINTR)
			continue;
		close(fd);
		if (errno == EWOULDBLOCK)
			return KING_LOCK_BUSY;
		return kerr_errno(err, "king.lock", path);
	}
	return fd;
}

static void lock_drop(int fd)
{
	if (fd >= 0)
		close(fd); /* closing the only descriptor releases the flock */
}

/* ---------------------------------------------------------------- journal */

struct journal_row {
	long long id;
	char submission_id[EXPCORPUS_ID_BYTES];
	char from_tag[RECIPEREPO_TAG_MAX], to_tag[RECIPEREPO_TAG_MAX];
	char commit[RECIPEREPO_COMMIT_HEX];
};

static int pending_rows(struct vstate *s, struct journal_row *rows, size_t cap, size_t *n, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	int rc = -1, r;

	*n = 0;
	if (prepare(s, "SELECT id, submission_id, from_tag, to_tag, commit_id FROM merges WHERE state = ?"
		       " ORDER BY id", &st, "read merges journal", err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, JOURNAL_PREPARED, -1, SQLITE_STATIC);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		struct journal_row *j;
		if (*n == cap) {
			kerr_set(err, "king.inconsistent", "%s: more than %zu pending merges in the journal", s->dir,
				 cap);
			goto out;
		}
		j = &rows[(*n)++];
		j->id = sqlite3_column_int64(st, 0);
		text_col(st, 1, j->submission_id, sizeof j->submission_id);
		text_col(st, 2, j->from_tag, sizeof j->from_tag);
		text_col(st, 3, j->to_tag, sizeof j->to_tag);
		text_col(st, 4, j->commit, sizeof j->commit);
	}
	if (r != SQLITE_DONE) {
		vstate_sql_error(s, "read merges journal", err);
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

static int journal_insert(struct vstate *s, void *arg, struct kerr *err)
{
	struct journal_row *j = arg;
	sqlite3_stmt *st = NULL;
	char now[VSTATE_TIME_BYTES];
	int rc = -1;

	vstate_now_iso(now);
	if (prepare(s, "INSERT INTO merges(submission_id, from_tag, to_tag, commit_id, state, created_at)"
		       " VALUES(?, ?, ?, ?, ?, ?)", &st, "journal merge", err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, j->submission_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, j->from_tag, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, j->to_tag, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, j->commit, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, JOURNAL_PREPARED, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, now, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		vstate_sql_error(s, "journal merge", err);
		goto out;
	}
	j->id = sqlite3_last_insert_rowid(s->db);
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

/* prepared -> state; fails unless exactly that row was still prepared. */
static int journal_set(struct vstate *s, long long id, const char *state, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (prepare(s, "UPDATE merges SET state = ? WHERE id = ? AND state = ?", &st, "update merges journal",
		    err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, id);
	sqlite3_bind_text(st, 3, JOURNAL_PREPARED, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		vstate_sql_error(s, "update merges journal", err);
		goto out;
	}
	if (sqlite3_changes(s->db) != 1) {
		kerr_set(err, "king.inconsistent", "%s: merges row %lld is no longer prepared", s->dir, id);
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

static int journal_abort_tx(struct vstate *s, void *arg, struct kerr *err)
{
	return journal_set(s, ((const struct journal_row *)arg)->id, JOURNAL_ABORTED, err);
}

/* The submission a merged challenge answer confirms (its challenge_of)
 * is accepted with it: both runs cleared the margin, and the original is
 * the protocol-seed proof the king's score comes from. Done here, in the
 * transaction that records the king, so roll-forward after a crash
 * settles it exactly as an uninterrupted merge does. */
static int settle_answered(struct vstate *s, const struct journal_row *j, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	char orig[EXPCORPUS_ID_BYTES] = "", reason[KERR_MSG_MAX];
	int r;

	if (prepare(s, "SELECT challenge_of FROM submissions WHERE id = ? AND challenge_of IS NOT NULL", &st,
		    "read challenge", err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, j->submission_id, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		text_col(st, 0, orig, sizeof orig);
	sqlite3_finalize(st);
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		return vstate_sql_error(s, "read challenge", err);
	if (!orig[0])
		return 0;
	snprintf(reason, sizeof reason, "confirmed under the challenge seed by %s: king %s", j->submission_id,
		 j->to_tag);
	return expcorpus_update_verdict(s, orig, EXPCORPUS_ACCEPTED_KING, "", reason, err);
}

/* Every other challenge still pending against the old king can no longer
 * be merged (its base is gone, PROTOCOL 6 Merge): it is settled stale now
 * rather than left pending forever. */
static int settle_stale(struct vstate *s, const struct journal_row *j, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	char (*ids)[EXPCORPUS_ID_BYTES] = NULL, reason[KERR_MSG_MAX];
	size_t n = 0, cap = 0;
	int r, rc = -1;

	if (prepare(s, "SELECT id FROM submissions WHERE verdict = ? AND king_tag = ? ORDER BY seq", &st,
		    "read pending challenges", err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, EXPCORPUS_CHALLENGE_PENDING, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, j->from_tag, -1, SQLITE_STATIC);
	/* Collected first: the updates below rewrite the rows being read. */
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			void *p = realloc(ids, (cap = cap ? 2 * cap : 8) * sizeof *ids);
			if (!p) {
				kerr_set(err, "king.nomem", "out of memory");
				goto out;
			}
			ids = p;
		}
		text_col(st, 0, ids[n++], sizeof ids[0]);
	}
	if (r != SQLITE_DONE) {
		vstate_sql_error(s, "read pending challenges", err);
		goto out;
	}
	snprintf(reason, sizeof reason, "measured against %s, but %s became king first: rebase on it and prove again",
		 j->from_tag, j->to_tag);
	for (size_t i = 0; i < n; i++)
		if (expcorpus_update_verdict(s, ids[i], EXPCORPUS_CHALLENGE_FAILED, "king.stale", reason, err) < 0)
			goto out;
	rc = 0;
out:
	sqlite3_finalize(st);
	free(ids);
	return rc;
}

/* Step (d): the new king row, the journal row done, the verdict, in one
 * transaction. Shared by merge and roll-forward. */
struct finish {
	const struct journal_row *j;
	struct king_metrics m;
};

static int finish_tx(struct vstate *s, void *arg, struct kerr *err)
{
	const struct finish *f = arg;
	sqlite3_stmt *st = NULL;
	char now[VSTATE_TIME_BYTES], reason[KERR_MSG_MAX];
	int rc = -1;

	vstate_now_iso(now);
	if (prepare(s, "INSERT INTO kings(tag, commit_id, hidden_bpb, public_bpb, submission_id, miner, improvement,"
		       " alpha, created_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)", &st, "record king", err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, f->j->to_tag, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, f->j->commit, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 3, f->m.hidden_bpb);
	sqlite3_bind_double(st, 4, f->m.public_bpb);
	sqlite3_bind_text(st, 5, f->j->submission_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, f->m.miner, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 7, f->m.improvement);
	sqlite3_bind_double(st, 8, f->m.alpha);
	sqlite3_bind_text(st, 9, now, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		vstate_sql_error(s, "record king", err);
		goto out;
	}
	if (journal_set(s, f->j->id, JOURNAL_DONE, err) < 0)
		goto out;
	snprintf(reason, sizeof reason, "decisive: improvement %.6f > margin %.6f; merged as %s", f->m.improvement,
		 f->m.margin, f->j->to_tag);
	if (expcorpus_update_verdict(s, f->j->submission_id, EXPCORPUS_ACCEPTED_KING, "", reason, err) < 0 ||
	    settle_answered(s, f->j, err) < 0 || settle_stale(s, f->j, err) < 0)
		goto out;
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

/* --------------------------------------------------------- commit message */

/* Control bytes (but newline and tab) become '?': the message stays text
 * git keeps verbatim whatever a miner wrote. */
static void clean_text(char *t)
{
	for (; *t; t++)
		if ((unsigned char)*t < 0x20 && *t != '\n' && *t != '\t')
			*t = '?';
		else if (*t == 0x7f)
			*t = '?';
}

/* The first non-blank line of the rationale, at most KING_SUBJECT_MAX. */
static void subject_of(const char *r, char out[KING_SUBJECT_MAX + 1])
{
	size_t n;

	while (*r == '\n' || *r == ' ' || *r == '\t')
		r++;
	n = strcspn(r, "\n");
	if (n > KING_SUBJECT_MAX)
		n = KING_SUBJECT_MAX;
	memcpy(out, r, n);
	out[n] = '\0';
	if (!out[0])
		snprintf(out, KING_SUBJECT_MAX + 1, "(no rationale given)");
}

/* The commit message: subject, rationale, then the trailers. The trailers
 * come last, so a rationale that imitates one is always overridden by the
 * real one below it (readers take the last occurrence). %.17g: doubles
 * survive the round trip exactly. Caller frees. */
static char *commit_message(const char *to_tag, const char *from_tag, const char *submission_id,
			    const char *rationale, const struct king_metrics *m, struct kerr *err)
{
	char subject[KING_SUBJECT_MAX + 1], *r = strdup(rationale), *msg = NULL;
	size_t cap = MESSAGE_BYTES_MAX;

	if (!r || !(msg = malloc(cap))) {
		kerr_set(err, "king.nomem", "out of memory");
		goto out;
	}
	clean_text(r);
	subject_of(r, subject);
	snprintf(msg, cap,
		 "%s: %s\n\n%s%s\n" TRAILER_PREFIX "Submission: %s\n" TRAILER_PREFIX "From: %s\n" TRAILER_PREFIX
		 "Hidden-Bpb: %.17g\n" TRAILER_PREFIX "Public-Bpb: %.17g\n" TRAILER_PREFIX
		 "Improvement: %.17g\n" TRAILER_PREFIX "Margin: %.17g\n" TRAILER_PREFIX "Alpha: %.17g\n" TRAILER_PREFIX
		 "Miner: %s\n",
		 to_tag, subject, r, r[0] && r[strlen(r) - 1] != '\n' ? "\n" : "", submission_id, from_tag,
		 m->hidden_bpb, m->public_bpb, m->improvement, m->margin, m->alpha, m->miner);
out:
	free(r);
	return msg;
}

/* The value of the last "Karpa-<key>: " line of a message, or NULL. */
static const char *trailer(const char *msg, const char *key, char *out, size_t cap)
{
	char pat[64];
	const char *p = msg, *hit = NULL;

	snprintf(pat, sizeof pat, "\n" TRAILER_PREFIX "%s: ", key);
	while ((p = strstr(p, pat))) {
		hit = p + strlen(pat);
		p = hit;
	}
	if (!hit)
		return NULL;
	snprintf(out, cap, "%.*s", (int)strcspn(hit, "\n"), hit);
	return out;
}

static int trailer_real(const char *msg, const char *key, double *v, struct kerr *err)
{
	char buf[64], *end;

	if (!trailer(msg, key, buf, sizeof buf))
		return kerr_set(err, "king.inconsistent", "commit message: no " TRAILER_PREFIX "%s trailer", key);
	*v = strtod(buf, &end);
	if (end == buf || *end)
		return kerr_set(err, "king.inconsistent", "commit message: " TRAILER_PREFIX "%s '%s' is not a number",
				key, buf);
	return 0;
}

/* Reads back the metrics a merge wrote into its commit: the commit is the
 * durable record roll-forward needs. */
static int metrics_from_commit(const char *repo, const char *commit, struct king_metrics *m,
			       char miner[KEYS_PK_HEX_BYTES], struct kerr *err)
{
	const char *args[] = { "cat-file", "commit", commit, NULL };
	struct gitc c = { .repo = repo };
	struct proc_result res;
	const char *body;
	int rc = -1;

	if (git_run(&c, args, &res, err) < 0)
		goto out;
	if (res.exit_code != 0 || !(body = strstr(res.out, "\n\n"))) {
		kerr_set(err, "king.inconsistent", "%s: commit %s cannot be read", repo, commit);
		goto out;
	}
	body++; /* keep one '\n' so the first trailer search can match a line start */
	if (trailer_real(body, "Hidden-Bpb", &m->hidden_bpb, err) < 0 ||
	    trailer_real(body, "Public-Bpb", &m->public_bpb, err) < 0 ||
	    trailer_real(body, "Improvement", &m->improvement, err) < 0 ||
	    trailer_real(body, "Margin", &m->margin, err) < 0 || trailer_real(body, "Alpha", &m->alpha, err) < 0)
		goto out;
	if (!trailer(body, "Miner", miner, KEYS_PK_HEX_BYTES)) {
		kerr_set(err, "king.inconsistent", "%s: commit %s has no miner trailer", repo, commit);
		goto out;
	}
	m->miner = miner;
	rc = 0;
out:
	proc_result_free(&res);
	return rc;
}

/* ------------------------------------------------------------------ merge */

static int metrics_ok(const struct king_metrics *m, struct kerr *err)
{
	double imp;

	if (!isfinite(m->hidden_bpb) || m->hidden_bpb <= 0 || m->hidden_bpb > KING_BPB_MAX ||
	    !isfinite(m->public_bpb) || m->public_bpb <= 0 || m->public_bpb > KING_BPB_MAX)
		return kerr_set(err, "king.bad_metrics", "hidden/public bpb must be finite, in (0, %g]", KING_BPB_MAX);
	if (!isfinite(m->alpha) || m->alpha <= 0 || m->alpha > 1)
		return kerr_set(err, "king.bad_metrics", "alpha %g: not in (0, 1]", m->alpha);
	if (!m->miner || !hash_is_hex(m->miner, KEYS_PK_HEX_BYTES - 1))
		return kerr_set(err, "king.bad_metrics", "miner: not a 64-hex public key");
	/* The improvement stands in for the judgment: never merge on numbers
	 * that do not clear the margin. */
	if (!king_decide(m->improvement, 0.0, m->margin, &imp))
		return kerr_set(err, "king.not_decisive", "improvement %g does not exceed margin %g", m->improvement,
				m->margin);
	return 0;
}

static int submission_exists(struct vstate *s, const char *id, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (prepare(s, "SELECT 1 FROM submissions WHERE id = ?", &st, "read submission", err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	sqlite3_finalize(st);
	if (r == SQLITE_ROW)
		return 0;
	if (r != SQLITE_DONE)
		return vstate_sql_error(s, "read submission", err);
	return kerr_set(err, "king.no_submission", "%.80s: not recorded in the corpus", id);
}

/* A challenge answer's original must still be pending when the answer
 * merges: with several workers, another answer to the same challenge may
 * have settled it (failed) meanwhile. Read under the king lock, which that
 * settlement takes too (king_settle_challenge). An answer to nothing (a
 * merge not made by the judge) passes. */
static int original_pending(struct vstate *s, const char *id, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	char orig[EXPCORPUS_ID_BYTES] = "", verdict[EXPCORPUS_VERDICT_MAX] = "";
	int r;

	if (prepare(s,
		    "SELECT o.id, o.verdict FROM submissions a JOIN submissions o ON o.id = a.challenge_of WHERE a.id = ?",
		    &st, "read challenge", err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		text_col(st, 0, orig, sizeof orig);
		text_col(st, 1, verdict, sizeof verdict);
	}
	sqlite3_finalize(st);
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		return vstate_sql_error(s, "read challenge", err);
	if (r == SQLITE_ROW && strcmp(verdict, EXPCORPUS_CHALLENGE_PENDING))
		return kerr_set(err, "king.challenge_settled",
				"%s answers %s, whose challenge is settled already (%s): another answer to it was judged first",
				id, orig, verdict);
	return 0;
}

int king_settle_challenge(struct vstate *s, const char *original_id, const char *verdict, const char *reason_code,
			  const char *reason, struct kerr *err)
{
	int lock = lock_take(s, 1, err), rc;

	if (lock < 0)
		return -1;
	rc = expcorpus_settle_pending(s, original_id, verdict, reason_code, reason, err);
	lock_drop(lock);
	return rc;
}

static int next_tag(const char *tag, char out[RECIPEREPO_TAG_MAX], struct kerr *err)
{
	unsigned v[3];

	if (reciperepo_parse_tag(tag, v) < 0)
		return kerr_set(err, "king.inconsistent", "king tag '%.64s' is not recipe-vX.Y.Z", tag);
	if (v[2] >= 999999999u) /* reciperepo_parse_tag's nine-digit limit */
		return kerr_set(err, "king.version_exhausted", "%s: no next patch version", tag);
	snprintf(out, RECIPEREPO_TAG_MAX, "recipe-v%u.%u.%u", v[0], v[1], v[2] + 1);
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collects the regular files of dir as prefix + name into names. At the
 * top (prefix ""), the recipe's CUDA part is a folder of regular files
 * (RECIPEREPO_CUDA_DIR, carried from the king and patched like the flat
 * files); anything else that is not a regular file is refused. */
static int collect_names(const char *dir, const char *prefix, char **names, size_t cap, size_t *n, size_t *total,
			 struct kerr *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[FS_PATH_MAX];
	int rc = -1;

	if (!d)
		return kerr_errno(err, "king.tree", dir);
	while ((de = readdir(d))) {
		struct stat sb;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fs_join(path, sizeof path, err, "%s/%s", dir, de->d_name) < 0)
			goto out;
		if (lstat(path, &sb) < 0) {
			kerr_errno(err, "king.tree", path);
			goto out;
		}
		if (S_ISDIR(sb.st_mode) && !prefix[0] && !strcmp(de->d_name, RECIPEREPO_CUDA_DIR)) {
			if (collect_names(path, RECIPEREPO_CUDA_DIR "/", names, cap, n, total, err) < 0)
				goto out;
			continue;
		}
		if (!S_ISREG(sb.st_mode)) {
			kerr_set(err, "king.tree", "%s: not a regular file", path);
			goto out;
		}
		if (*n == cap) {
			kerr_set(err, "king.tree", "%s: too many files", dir);
			goto out;
		}
		if (asprintf(&names[*n], "%s%s", prefix, de->d_name) < 0) {
			names[*n] = NULL;
			kerr_set(err, "king.nomem", "out of memory");
			goto out;
		}
		*total += strlen(names[(*n)++]) + 1;
	}
	rc = 0;
out:
	closedir(d);
	return rc;
}

/* The names of the tree's files, NUL-separated, sorted, for update-index
 * -z --stdin: the flat recipe files and its CUDA part's. */
static int tree_names(const char *tree, char **buf, size_t *len, struct kerr *err)
{
	char *names[RECIPEREPO_TREE_FILES_MAX], *b = NULL;
	size_t n = 0, total = 0, at = 0;
	int rc = -1;

	*buf = NULL;
	*len = 0;
	if (collect_names(tree, "", names, sizeof names / sizeof names[0], &n, &total, err) < 0)
		goto out;
	if (n == 0) {
		kerr_set(err, "king.tree", "%s: the patched recipe is empty", tree);
		goto out;
	}
	qsort(names, n, sizeof names[0], cmp_name);
	if (!(b = malloc(total))) {
		kerr_set(err, "king.nomem", "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(names[i]) + 1;
		memcpy(b + at, names[i], l);
		at += l;
	}
	*buf = b;
	*len = total;
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	return rc;
}

/* Step (a): the patched tree as a commit object on top of the king. Refs
 * stay where they are, so the object is unreachable and harmless until the
 * tag names it. */
static int make_commit(struct vstate *s, const char *work, const char *king_commit, const char *message,
		       char commit[RECIPEREPO_COMMIT_HEX], struct kerr *err)
{
	char tree[FS_PATH_MAX], index[FS_PATH_MAX], tree_id[RECIPEREPO_COMMIT_HEX], base_tree[RECIPEREPO_COMMIT_HEX];
	char base_spec[RECIPEREPO_COMMIT_HEX + 16], *names = NULL;
	size_t names_len = 0;
	int rc = -1;

	if (fs_join(tree, sizeof tree, err, "%s/tree", work) < 0 ||
	    fs_join(index, sizeof index, err, "%s/index", work) < 0 || tree_names(tree, &names, &names_len, err) < 0)
		goto out;
	{
		/* A fresh private index: the repository's own is never touched. */
		struct gitc c = { .repo = s->recipe, .index = index, .work_tree = tree, .in = names,
				  .in_len = names_len };
		const char *add[] = { "update-index", "--add", "-z", "--stdin", NULL };
		const char *write[] = { "write-tree", NULL };
		if (git_line(&c, add, NULL, 0, err) < 0)
			goto out;
		c.in = NULL;
		c.in_len = 0;
		if (git_line(&c, write, tree_id, sizeof tree_id, err) < 0)
			goto out;
	}
	{
		struct gitc c = { .repo = s->recipe };
		const char *base[] = { "rev-parse", "--verify", base_spec, NULL };
		snprintf(base_spec, sizeof base_spec, "%s^{tree}", king_commit);
		if (git_line(&c, base, base_tree, sizeof base_tree, err) < 0)
			goto out;
		if (!strcmp(base_tree, tree_id)) {
			kerr_set(err, "king.no_change", "the patch leaves the king's tree unchanged");
			goto out;
		}
		const char *ct[] = { "commit-tree", tree_id, "-p", king_commit, NULL };
		c.in = message;
		c.in_len = strlen(message);
		if (git_line(&c, ct, commit, RECIPEREPO_COMMIT_HEX, err) < 0)
			goto out;
		if (!hash_is_hex(commit, RECIPEREPO_COMMIT_HEX - 1)) {
			kerr_set(err, "king.git", "%s: commit-tree gave no commit id", s->recipe);
			goto out;
		}
	}
	rc = 0;
out:
	free(names);
	return rc;
}

/* Step (c): the annotated tag, then main. */
/* A git killed at its timeout (reciperepo_git) can leave its lock file
 * behind (NAME.lock beside what it was changing): the new tag's, main's,
 * the packed refs', the checkout's index. Under the king lock no other git
 * writes this repository, so such a file is stale; left, it would refuse
 * every later merge (the same next tag) or checkout refresh. tag: the
 * pending merge's tag, or NULL. */
static void drop_stale_locks(const struct vstate *s, const char *tag)
{
	const char *fixed[] = { ".git/" MAIN_REF ".lock", ".git/packed-refs.lock", ".git/index.lock" };
	char path[FS_PATH_MAX];
	struct kerr err;

	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		if (fs_join(path, sizeof path, &err, "%s/%s", s->recipe, fixed[i]) == 0 && unlink(path) == 0)
			log_msg(LOG_WARN, "king", "removed %s, left by a git that did not finish", path);
	if (tag && fs_join(path, sizeof path, &err, "%s/.git/refs/tags/%s.lock", s->recipe, tag) == 0 &&
	    unlink(path) == 0)
		log_msg(LOG_WARN, "king", "removed %s, left by a git that did not finish", path);
}

static int publish(struct vstate *s, const struct journal_row *j, const char *old_commit, struct kerr *err)
{
	char msg[RECIPEREPO_TAG_MAX * 2 + EXPCORPUS_ID_BYTES + 32];
	const char *tag[] = { "tag", "-a", "-m", msg, j->to_tag, j->commit, NULL };
	struct gitc c = { .repo = s->recipe };

	snprintf(msg, sizeof msg, "%s: king after %s (submission %s)", j->to_tag, j->from_tag, j->submission_id);
	drop_stale_locks(s, j->to_tag);
	if (git_line(&c, tag, NULL, 0, err) < 0)
		return -1;
	crash_point("after_tag");
	if (move_main(s->recipe, j->to_tag, j->commit, old_commit, err) < 0)
		return -1;
	crash_point("after_main_ref");
	return 0;
}

/* Everything a merge checks before it writes anything. */
static int merge_preconditions(struct vstate *s, const char *submission_id, const char *base_tag,
			       const char *base_commit, const struct king_metrics *m, struct vstate_king *k,
			       struct journal_row *j, struct kerr *err)
{
	struct journal_row pend[1];
	size_t npend;
	char c[RECIPEREPO_COMMIT_HEX];
	int found;

	if (metrics_ok(m, err) < 0)
		return -1;
	if (!submission_id || strlen(submission_id) >= sizeof j->submission_id)
		return kerr_set(err, "king.no_submission", "submission id missing or too long");
	if (submission_exists(s, submission_id, err) < 0 || original_pending(s, submission_id, err) < 0)
		return -1;
	if (pending_rows(s, pend, 1, &npend, err) < 0)
		return -1;
	if (npend)
		return kerr_set(err, "king.recovery_needed", "%s: merge %lld is pending; run king_recover first",
				s->dir, pend[0].id);
	if (king_check_invariant(s, err) < 0 || vstate_king_current(s, k, err) < 0)
		return -1;
	/* Read under the lock: a candidate measured against a king that was
	 * replaced meanwhile (another confirmation merged first) would
	 * otherwise land on top of a recipe nobody trained or measured. */
	if (!base_tag || !base_commit || strcmp(base_tag, k->tag) || strcmp(base_commit, k->commit))
		return kerr_set(err, "king.stale", "the candidate was measured against %.64s (%.12s), the king is now %s (%.12s):"
				" rebase on it and prove again", base_tag ? base_tag : "?", base_commit ? base_commit : "?",
				k->tag, k->commit);
	/* The king's score and the margin in force now, read under the lock
	 * too: a noise floor measured while the candidate was judged can
	 * raise either for the same king (king_record_noise_score rewrites
	 * its score), and a candidate that no longer clears them is not
	 * crowned. */
	{
		struct vstate_noise n;
		double imp;

		if (king_noise_in_force(s, k->tag, &n, err) < 0)
			return -1;
		if (n.present && isfinite(k->hidden_bpb) && !king_decide(k->hidden_bpb, m->hidden_bpb, n.margin, &imp))
			return kerr_set(err, "king.not_decisive", "hidden bpb %.6f against the king's %.6f and the margin %.6f "
					"in force now (a noise floor measured since it was judged): not decisive",
					m->hidden_bpb, k->hidden_bpb, n.margin);
	}
	if (next_tag(k->tag, j->to_tag, err) < 0)
		return -1;
	if (tag_commit(s->recipe, j->to_tag, c, &found, err) < 0)
		return -1;
	if (found)
		return kerr_set(err, "king.inconsistent", "%s: tag %s already exists above the king %s", s->recipe,
				j->to_tag, k->tag);
	snprintf(j->submission_id, sizeof j->submission_id, "%s", submission_id);
	snprintf(j->from_tag, sizeof j->from_tag, "%s", k->tag);
	return 0;
}

static int recover_locked(struct vstate *s, struct kerr *err);

/* A failure after the journal row: settle it now the way a restart would.
 * Returns 0 when the king changed: rolled forward now, or, once the tag
 * (the commit point) names the journaled commit, left for the next
 * recovery to record (out->record_pending). Else -1 with err saying
 * whether it was rolled back or is still pending. */
static int settle(struct vstate *s, const struct journal_row *j, struct king_merge_result *out, struct kerr *err)
{
	struct kerr rerr = { { 0 }, { 0 } };
	struct vstate_king k;
	char c[RECIPEREPO_COMMIT_HEX];
	int found;

	if (recover_locked(s, &rerr) == 0 && vstate_king_current(s, &k, &rerr) == 0) {
		if (!strcmp(k.tag, j->to_tag))
			return 0;
		kerr_prefix(err, "merge rolled back");
		return -1;
	}
	if (tag_commit(s->recipe, j->to_tag, c, &found, &rerr) == 0 && found && !strcmp(c, j->commit)) {
		out->record_pending = 1;
		snprintf(out->record_warning, sizeof out->record_warning,
			 "king %s stands, but recording it failed (%s: %s); the next open of the state records it",
			 j->to_tag, err->code, err->msg);
		return 0;
	}
	kerr_prefix(err, "merge %lld left pending, settled at the next open (%s)", j->id, rerr.code);
	snprintf(err->code, sizeof err->code, "king.incomplete");
	return -1;
}

int king_merge(struct vstate *s, const char *submission_id, const char *base_tag, const char *base_commit,
	       const char *patch_path, const char *rationale, const struct king_metrics *m,
	       struct king_merge_result *out, struct kerr *err)
{
	char *patch = NULL;
	size_t len = 0;
	int rc;

	memset(out, 0, sizeof *out);
	if (fs_read_all(patch_path, RECIPEREPO_PATCH_BYTES_MAX, &patch, &len, err) < 0) {
		if (!strcmp(err->code, "fs.too_large"))
			snprintf(err->code, sizeof err->code, "patch.too_large");
		return -1;
	}
	rc = king_merge_bytes(s, submission_id, base_tag, base_commit, patch, len, rationale, m, out, err);
	free(patch);
	return rc;
}

int king_merge_bytes(struct vstate *s, const char *submission_id, const char *base_tag, const char *base_commit,
		     const char *patch, size_t patch_len, const char *rationale, const struct king_metrics *m,
		     struct king_merge_result *out, struct kerr *err)
{
	char work[FS_PATH_MAX] = "", tree[FS_PATH_MAX], *msg = NULL;
	struct journal_row j = { 0 };
	struct vstate_king k;
	struct finish f;
	int rc = -1, journaled = 0, lock;

	memset(out, 0, sizeof *out);
	if (!rationale)
		rationale = "";
	if (strlen(rationale) > KING_RATIONALE_BYTES_MAX)
		return kerr_set(err, "king.bad_metrics", "rationale: over %u bytes", KING_RATIONALE_BYTES_MAX);
	if ((lock = lock_take(s, 1, err)) < 0)
		return -1;
	if (merge_preconditions(s, submission_id, base_tag, base_commit, m, &k, &j, err) < 0 ||
	    fs_join(work, sizeof work, err, "%s/work/merge-XXXXXX", s->dir) < 0) {
		work[0] = '\0';
		goto out;
	}
	if (!mkdtemp(work)) {
		kerr_errno(err, "king.work", work);
		work[0] = '\0';
		goto out;
	}
	if (fs_join(tree, sizeof tree, err, "%s/tree", work) < 0 ||
	    reciperepo_export(s->recipe, k.tag, tree, err) < 0 ||
	    reciperepo_apply_bytes(tree, patch, patch_len, "patch.diff", err) < 0)
		goto out;
	if (!(msg = commit_message(j.to_tag, k.tag, submission_id, rationale, m, err)) ||
	    make_commit(s, work, k.commit, msg, j.commit, err) < 0)
		goto out;
	crash_point("after_commit_object");
	if (vstate_tx(s, journal_insert, &j, err) < 0)
		goto out;
	journaled = 1;
	crash_point("after_journal");
	f.j = &j;
	f.m = *m;
	if (publish(s, &j, k.commit, err) < 0 || vstate_tx(s, finish_tx, &f, err) < 0)
		goto out;
	crash_point("after_kings_row");
	out->checkout_stale = refresh_checkout(s->recipe) < 0;
	rc = 0;
out:
	if (rc < 0 && journaled)
		rc = settle(s, &j, out, err);
	if (rc == 0) {
		snprintf(out->from_tag, sizeof out->from_tag, "%s", j.from_tag);
		snprintf(out->to_tag, sizeof out->to_tag, "%s", j.to_tag);
		snprintf(out->commit, sizeof out->commit, "%s", j.commit);
	}
	if (work[0])
		fs_rm_rf(work);
	free(msg);
	lock_drop(lock);
	return rc;
}

/* --------------------------------------------------------------- recovery */

static int roll_forward(struct vstate *s, const struct journal_row *j, struct kerr *err)
{
	char from[RECIPEREPO_COMMIT_HEX], main_at[RECIPEREPO_COMMIT_HEX], miner[KEYS_PK_HEX_BYTES];
	struct finish f = { .j = j };
	int found;

	if (tag_commit(s->recipe, j->from_tag, from, &found, err) < 0)
		return -1;
	if (!found)
		return kerr_set(err, "king.inconsistent", "%s: merge %lld: the old king's tag %s is gone", s->recipe,
				j->id, j->from_tag);
	if (ref_commit(s->recipe, MAIN_REF, main_at, &found, err) < 0)
		return -1;
	if (found && !strcmp(main_at, from)) {
		if (move_main(s->recipe, j->to_tag, j->commit, from, err) < 0)
			return -1;
		crash_point("recover_after_main_ref");
	} else if (!found || strcmp(main_at, j->commit)) {
		return kerr_set(err, "king.inconsistent", "%s: merge %lld: main is at neither %s nor %s", s->recipe,
				j->id, j->from_tag, j->to_tag);
	}
	if (metrics_from_commit(s->recipe, j->commit, &f.m, miner, err) < 0 || vstate_tx(s, finish_tx, &f, err) < 0)
		return -1;
	crash_point("recover_after_kings_row");
	refresh_checkout(s->recipe);
	return 0;
}

static int roll_back(struct vstate *s, const struct journal_row *j, struct kerr *err)
{
	char from[RECIPEREPO_COMMIT_HEX], main_at[RECIPEREPO_COMMIT_HEX];
	int found_from, found_main;

	/* main moves only after the tag exists, so without the tag it must
	 * still be at the old king. */
	if (tag_commit(s->recipe, j->from_tag, from, &found_from, err) < 0 ||
	    ref_commit(s->recipe, MAIN_REF, main_at, &found_main, err) < 0)
		return -1;
	if (!found_from || !found_main || strcmp(from, main_at))
		return kerr_set(err, "king.inconsistent", "%s: merge %lld: tag %s absent but main is not at %s",
				s->recipe, j->id, j->to_tag, j->from_tag);
	if (vstate_tx(s, journal_abort_tx, (void *)j, err) < 0)
		return -1;
	crash_point("recover_after_abort");
	return 0;
}

int king_recover(struct vstate *s, struct kerr *err)
{
	int lock = lock_take(s, 0, err), rc;

	if (lock == KING_LOCK_BUSY)
		return 0; /* a live merge owns the journal and finishes it itself */
	if (lock < 0)
		return -1;
	rc = recover_locked(s, err);
	lock_drop(lock);
	return rc;
}

static int recover_locked(struct vstate *s, struct kerr *err)
{
	struct journal_row rows[PENDING_MAX];
	char c[RECIPEREPO_COMMIT_HEX];
	size_t n;
	int found;

	drop_stale_locks(s, NULL);
	if (pending_rows(s, rows, PENDING_MAX, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct journal_row *j = &rows[i];

		drop_stale_locks(s, j->to_tag);
		if (tag_commit(s->recipe, j->to_tag, c, &found, err) < 0)
			return -1;
		if (found && strcmp(c, j->commit))
			return kerr_set(err, "king.inconsistent", "%s: merge %lld: tag %s names %.12s, the journal %.12s",
					s->recipe, j->id, j->to_tag, c, j->commit);
		if ((found ? roll_forward(s, j, err) : roll_back(s, j, err)) < 0)
			return -1;
	}
	return king_check_invariant(s, err);
}

int king_check_invariant(struct vstate *s, struct kerr *err)
{
	struct vstate_king k;
	char latest[RECIPEREPO_TAG_MAX], tagc[RECIPEREPO_COMMIT_HEX], main_at[RECIPEREPO_COMMIT_HEX];
	int found;

	if (vstate_king_current(s, &k, err) < 0 || reciperepo_latest_tag(s->recipe, latest, err) < 0)
		return -1;
	if (strcmp(k.tag, latest))
		return kerr_set(err, "king.inconsistent", "%s: the database's king is %s, git's highest tag %s", s->dir,
				k.tag, latest);
	if (tag_commit(s->recipe, k.tag, tagc, &found, err) < 0 || ref_commit(s->recipe, MAIN_REF, main_at, &found, err) < 0)
		return -1;
	if (strcmp(tagc, k.commit))
		return kerr_set(err, "king.inconsistent", "%s: tag %s names %.12s, the database %.12s", s->dir, k.tag,
				tagc, k.commit);
	if (!found || strcmp(main_at, k.commit))
		return kerr_set(err, "king.inconsistent", "%s: main is at %.12s, the king %s at %.12s", s->dir,
				found ? main_at : "(none)", k.tag, k.commit);
	return 0;
}
