/* corpus_rows.h: hand-made corpora for the weights and ledger tests: a
 * validator state in a temporary folder, and submissions and kings rows
 * inserted with SQL (the columns the weight rule reads, the rest left to
 * their defaults), so each test states its corpus in a few lines. */
#ifndef KARPA_CORPUS_ROWS_H
#define KARPA_CORPUS_ROWS_H

#include "fixtures.h"

#include "validator/validator.h"
#include "validator/vstate.h"
#include "util/hash.h"

struct cr_state {
	char *tmp;
	char state[FS_PATH_MAX];
	struct vstate s;
};

/* A fresh state under a new temporary folder, opened. */
static inline void cr_open(struct cr_state *c)
{
	struct kerr err = { 0 };
	char src[FS_PATH_MAX], data[FS_PATH_MAX], hidden[FS_PATH_MAX];

	assert_int_equal(hash_init_lib(), 0);
	c->tmp = tu_mkdtemp();
	fx_state_inputs(c->tmp, src, data, hidden);
	snprintf(c->state, sizeof c->state, "%s/state", c->tmp);
	{
		struct vstate_init_opts o = { c->state, src, data, hidden, "tiny" };
		if (vstate_init(&o, &err) < 0)
			fail_msg("vstate_init: %s: %s", err.code, err.msg);
	}
	if (validator_open(c->state, &c->s, &err) < 0)
		fail_msg("validator_open: %s: %s", err.code, err.msg);
}

static inline void cr_close(struct cr_state *c)
{
	vstate_close(&c->s);
	tu_rmdir(c->tmp);
	c->tmp = NULL;
}

/* A miner's public key: the SHA-256 hex of its name. */
static inline const char *cr_miner(const char *name)
{
	static char hex[4][HASH_HEX_BYTES];
	static int next;
	char *h = hex[next++ % 4];

	hash_buf_hex(name, strlen(name), h);
	return h;
}

static inline void cr_exec(struct vstate *s, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg ? msg : "?");
}

/* A submission `id` by miner `name` with a verdict; credited_to and
 * challenge_of may be NULL. */
static inline void cr_sub(struct vstate *s, const char *id, const char *name, const char *verdict,
			  const char *credited_to, const char *challenge_of)
{
	char sql[1024], manifest[HASH_HEX_BYTES];

	hash_buf_hex(id, strlen(id), manifest);
	snprintf(sql, sizeof sql,
		 "INSERT INTO submissions(id, manifest_sha256, patch_sha256, miner, received_at, judged_at, verdict,"
		 " credited_to, challenge_of) VALUES('%s', '%s', '%s', '%s', '2026-01-01T00:00:00Z',"
		 " '2026-01-01T00:00:00Z', '%s', %s%s%s, %s%s%s)",
		 id, manifest, manifest, cr_miner(name), verdict, credited_to ? "'" : "",
		 credited_to ? credited_to : "NULL", credited_to ? "'" : "", challenge_of ? "'" : "",
		 challenge_of ? challenge_of : "NULL", challenge_of ? "'" : "");
	cr_exec(s, sql);
}

/* A king change crowned at `at`, recorded on submission sub_id (its
 * miner column says `name`; credit follows the submission, not this). */
static inline void cr_king(struct vstate *s, const char *tag, const char *sub_id, const char *name,
			   double improvement, double alpha, const char *at)
{
	char sql[1024];

	snprintf(sql, sizeof sql,
		 "INSERT INTO kings(tag, commit_id, hidden_bpb, public_bpb, submission_id, miner, improvement, alpha,"
		 " created_at) VALUES('%s', 'c0ffee', 1.5, 1.5, '%s', '%s', %.17g, %.17g, '%s')",
		 tag, sub_id, cr_miner(name), improvement, alpha, at);
	cr_exec(s, sql);
}

/* An accepted king change in one call: submission and kings row. */
static inline void cr_accepted(struct vstate *s, const char *id, const char *name, double improvement,
			       double alpha, const char *at)
{
	char tag[64];

	snprintf(tag, sizeof tag, "recipe-v0.1.%s", id);
	cr_sub(s, id, name, "accepted_king", NULL, NULL);
	cr_king(s, tag, id, name, improvement, alpha, at);
}

#endif
