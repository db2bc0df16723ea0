/* chainsink.c: commits kept in the state database, and the service's chain
 * worker (chainsink.h). The worker owns its own RPC client and sender; the
 * database is reached only through the store, under the service's lock. */
#include "validator/chainsink.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chain/chainkey.h"
#include "proof/keys.h"
#include "util/log.h"

/* Additive, like the ledger's table: created before each use, outside the
 * versioned schema. */
static const char table_sql[] = "CREATE TABLE IF NOT EXISTS chain_commits(hash TEXT PRIMARY KEY, netuid INTEGER NOT "
				"NULL, body TEXT NOT NULL, created_at TEXT NOT NULL)";

static void lock(struct chainsink_store *c)
{
	if (c->lock)
		pthread_mutex_lock(c->lock);
}

static void unlock(struct chainsink_store *c)
{
	if (c->lock)
		pthread_mutex_unlock(c->lock);
}

static int prepare(struct chainsink_store *c, const char *sql, sqlite3_stmt **st, struct kerr *e)
{
	if (sqlite3_exec(c->s->db, table_sql, NULL, NULL, NULL) != SQLITE_OK)
		return vstate_sql_error(c->s, "create chain_commits", e);
	if (sqlite3_prepare_v2(c->s->db, sql, -1, st, NULL) != SQLITE_OK)
		return vstate_sql_error(c->s, "chain_commits", e);
	return 0;
}

/* One write: key, then netuid, body and time when body is given. */
static int write_row(struct chainsink_store *c, const char *sql, const char *what, const char *key, uint16_t netuid,
		     const char *body, struct kerr *e)
{
	sqlite3_stmt *st = NULL;
	char now[VSTATE_TIME_BYTES];
	int rc = -1;

	vstate_now_iso(now);
	lock(c);
	if (prepare(c, sql, &st, e) < 0)
		goto out;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
	if (body) {
		sqlite3_bind_int(st, 2, netuid);
		sqlite3_bind_text(st, 3, body, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 4, now, -1, SQLITE_TRANSIENT);
	}
	if (sqlite3_step(st) != SQLITE_DONE) {
		vstate_sql_error(c->s, what, e);
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	unlock(c);
	return rc;
}

static int store_put(void *ctx, const char *key, uint16_t netuid, const char *body, struct kerr *e)
{
	return write_row(ctx,
			 "INSERT INTO chain_commits(hash, netuid, body, created_at) VALUES(?1, ?2, ?3, ?4) "
			 "ON CONFLICT(hash) DO UPDATE SET body = excluded.body",
			 "keep a chain commit", key, netuid, body, e);
}

static int store_del(void *ctx, const char *key, struct kerr *e)
{
	return write_row(ctx, "DELETE FROM chain_commits WHERE hash = ?1", "drop a chain commit", key, 0, NULL, e);
}

static int store_list(void *ctx, uint16_t netuid, char ***bodies, size_t *n, struct kerr *e)
{
	struct chainsink_store *c = ctx;
	sqlite3_stmt *st = NULL;
	char **b = NULL;
	int r, rc = -1;

	*bodies = NULL;
	*n = 0;
	lock(c);
	if (prepare(c, "SELECT body FROM chain_commits WHERE netuid = ?1 ORDER BY created_at, rowid LIMIT ?2", &st, e) < 0)
		goto out;
	sqlite3_bind_int(st, 1, netuid);
	sqlite3_bind_int(st, 2, CHAIN_COMMITS_MAX);
	if (!(b = calloc(CHAIN_COMMITS_MAX, sizeof *b))) {
		kerr_set(e, "chainsink.nomem", "out of memory");
		goto out;
	}
	while ((r = sqlite3_step(st)) == SQLITE_ROW && *n < CHAIN_COMMITS_MAX) {
		const char *t = (const char *)sqlite3_column_text(st, 0);

		if (!t || strlen(t) > CHAIN_COMMIT_BODY_BYTES_MAX || !(b[*n] = strdup(t))) {
			kerr_set(e, "chain.commit_store", "a kept commit is empty, too long, or out of memory");
			goto out;
		}
		(*n)++;
	}
	if (r != SQLITE_ROW && r != SQLITE_DONE) {
		vstate_sql_error(c->s, "read chain commits", e);
		goto out;
	}
	*bodies = b;
	b = NULL;
	rc = 0;
out:
	if (b) {
		for (size_t i = 0; i < *n; i++)
			free(b[i]);
		free(b);
		*n = 0;
	}
	sqlite3_finalize(st);
	unlock(c);
	return rc;
}

void chainsink_store_init(struct chainsink_store *cs, struct vstate *s, pthread_mutex_t *lk)
{
	cs->s = s;
	cs->lock = lk;
	cs->st.put = store_put;
	cs->st.del = store_del;
	cs->st.list = store_list;
	cs->st.ctx = cs;
}

int chainsink_miners(const struct weights *w, struct chain_miner **out, size_t *n, struct kerr *e)
{
	struct chain_miner *m = calloc(w->n ? w->n : 1, sizeof *m);

	*out = NULL;
	*n = 0;
	if (!m)
		return kerr_set(e, "chainsink.nomem", "out of memory");
	for (size_t i = 0; i < w->n; i++) {
		if (strlen(w->e[i].miner) != 64 || keys_hex_decode(w->e[i].miner, m[i].account, 32) != 0) {
			free(m);
			return kerr_set(e, "chainsink.bad_miner", "epoch %lld: miner key \"%.80s\" is not 64 hex digits",
					w->epoch, w->e[i].miner);
		}
		m[i].score = w->e[i].score;
	}
	*out = m;
	*n = w->n;
	return 0;
}

/* ------------------------------------------------------------- worker */

struct code_count {
	char code[KERR_CODE_MAX];
	uint64_t n;
};

struct chainsink {
	struct chainsink_opts o;
	struct vstate *vs;
	struct chain_key key;
	struct chain_signer signer;
	struct chainsink_store store;
	struct chain_sender *sender;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop, busy, has_next;
	struct weights next;
	/* counters, under mu */
	uint64_t submitted, landed, dropped, revealed, nothing;
	struct code_count codes[CHAINSINK_CODES_MAX];
	int pending;
};

static void weights_copy_free(struct weights *w)
{
	free(w->e);
	memset(w, 0, sizeof *w);
}

static void count_failure(struct chainsink *c, const struct kerr *e)
{
	const char *code = e->code[0] ? e->code : "none";
	size_t i;

	for (i = 0; i < CHAINSINK_CODES_MAX && c->codes[i].code[0]; i++)
		if (!strcmp(c->codes[i].code, code))
			break;
	if (i == CHAINSINK_CODES_MAX)
		i = CHAINSINK_CODES_MAX - 1; /* the last slot takes the overflow */
	if (!c->codes[i].code[0])
		snprintf(c->codes[i].code, sizeof c->codes[i].code, "%s", code);
	c->codes[i].n++;
}

/* Reveals due: between epochs too, so that a window shorter than the
 * service's epoch is not missed. */
static void reveal_pass(struct chainsink *c)
{
	struct chain_reveal_report rr;
	struct kerr e = { { 0 }, { 0 } };
	int rc = chain_send_reveals(c->sender, &rr, &e);

	pthread_mutex_lock(&c->mu);
	c->revealed += (uint64_t)rr.revealed;
	c->pending = rr.pending - rr.revealed - rr.expired - rr.moved - rr.lost;
	if (rc < 0)
		count_failure(c, &e);
	pthread_mutex_unlock(&c->mu);
	if (rc < 0)
		log_msg(LOG_WARN, "chain", "reveals: %s (%s); tried again later", e.msg, e.code);
}

static int open_sender(struct chainsink *c, struct kerr *e)
{
	struct chain_send_opts so = { 0 };

	if (c->sender)
		return 0;
	so.endpoint = c->o.endpoint;
	so.netuid = c->o.netuid;
	so.version_key = c->o.version_key;
	so.follow_ms = c->o.follow_ms;
	so.poll_ms = c->o.poll_ms;
	so.store = &c->store.st;
	return chain_sender_open(&c->sender, &so, &c->signer, e);
}

static void work_once(struct chainsink *c, struct weights *w)
{
	struct chain_send_report rep;
	struct chain_miner *m = NULL;
	size_t n = 0;
	struct kerr e = { { 0 }, { 0 } };
	int rc;

	if (open_sender(c, &e) < 0) {
		log_msg(LOG_WARN, "chain", "epoch %lld: %s (%s); retried at the next epoch", w->epoch, e.msg, e.code);
		pthread_mutex_lock(&c->mu);
		count_failure(c, &e);
		pthread_mutex_unlock(&c->mu);
		return;
	}
	/* reveals first: a window that is open now may close by the next tick */
	reveal_pass(c);
	kerr_clear(&e);
	if (chainsink_miners(w, &m, &n, &e) == 0) {
		rc = chain_send_weights(c->sender, w->epoch, m, n, 0, &rep, &e);
		free(m);
	} else {
		memset(&rep, 0, sizeof rep);
		rc = -1;
	}
	pthread_mutex_lock(&c->mu);
	c->dropped += rep.dropped;
	c->submitted += (uint64_t)rep.submitted;
	c->landed += (uint64_t)(rc == 0 && rep.landed);
	c->nothing += (uint64_t)(rc == 0 && !rep.call);
	if (rc < 0)
		count_failure(c, &e);
	/* a commit the sender kept after a failure (its fate unknown: not
	 * seen in a block, or in one whose outcome could not be read) waits
	 * for a reveal too; one too many is harmless, the next pass counts
	 * the store */
	if (rep.commit_reveal && rep.call &&
	    (rc == 0 || rep.landed || rep.submitted || !strcmp(e.code, "chain.submit_unknown")))
		c->pending++;
	pthread_mutex_unlock(&c->mu);
	if (rc < 0)
		log_msg(LOG_WARN, "chain", "epoch %lld: %s failed: %s (%s); the next epoch sends again", w->epoch,
			rep.call ? rep.call : "weights", e.msg, e.code);
	else if (rep.call)
		log_msg(LOG_NOTICE, "chain", "epoch %lld: %s of %zu uids %s block %llu", w->epoch, rep.call, rep.n,
			rep.landed ? "landed in" : "submitted at", (unsigned long long)rep.block);
	chain_send_report_free(&rep);
}

static void *worker(void *arg)
{
	struct chainsink *c = arg;
	struct kerr e = { { 0 }, { 0 } };

	/* commits kept by an earlier run are revealed without waiting for an epoch */
	if (open_sender(c, &e) == 0)
		reveal_pass(c);
	else
		log_msg(LOG_WARN, "chain", "%s (%s)", e.msg, e.code);
	pthread_mutex_lock(&c->mu);
	for (;;) {
		struct weights w;

		while (!c->stop && !c->has_next) {
			struct timespec until;

			if (c->pending <= 0 || !c->sender) {
				pthread_cond_wait(&c->cv, &c->mu);
				continue;
			}
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += CHAINSINK_REVEAL_EVERY_S;
			if (pthread_cond_timedwait(&c->cv, &c->mu, &until) == ETIMEDOUT && !c->stop && !c->has_next) {
				c->busy = 1;
				pthread_mutex_unlock(&c->mu);
				reveal_pass(c);
				pthread_mutex_lock(&c->mu);
				c->busy = 0;
			}
		}
		if (c->stop)
			break;
		w = c->next;
		memset(&c->next, 0, sizeof c->next);
		c->has_next = 0;
		c->busy = 1;
		pthread_mutex_unlock(&c->mu);
		work_once(c, &w);
		weights_copy_free(&w);
		pthread_mutex_lock(&c->mu);
		c->busy = 0;
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

int chainsink_start(struct chainsink **out, const struct chainsink_opts *o, struct vstate *vs, pthread_mutex_t *db,
		    struct kerr *e)
{
	struct chainsink *c = calloc(1, sizeof *c);

	*out = NULL;
	if (!c)
		return kerr_set(e, "chainsink.nomem", "out of memory");
	c->o = *o;
	c->vs = vs;
	if (chain_key_load(o->hotkey, &c->key, e) < 0) {
		free(c);
		return -1;
	}
	if (chain_key_signer(&c->key, &c->signer) < 0) {
		chain_key_wipe(&c->key);
		free(c);
		return kerr_set(e, "chain.sign", "%s: a key scheme this build cannot sign with", o->hotkey);
	}
	chainsink_store_init(&c->store, vs, db);
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	if (pthread_create(&c->th, NULL, worker, c) != 0) {
		chain_key_wipe(&c->key);
		pthread_mutex_destroy(&c->mu);
		pthread_cond_destroy(&c->cv);
		free(c);
		return kerr_set(e, "chainsink.thread", "cannot start the chain worker thread");
	}
	*out = c;
	return 0;
}

void chainsink_offer(struct chainsink *c, const struct weights *w)
{
	struct weights copy = *w;

	copy.e = malloc((w->n ? w->n : 1) * sizeof *copy.e);
	if (!copy.e) {
		log_msg(LOG_WARN, "chain", "epoch %lld: out of memory handing the weights to the chain worker", w->epoch);
		return;
	}
	if (w->n)
		memcpy(copy.e, w->e, w->n * sizeof *copy.e);
	pthread_mutex_lock(&c->mu);
	if (c->has_next)
		weights_copy_free(&c->next); /* the newer epoch supersedes it */
	c->next = copy;
	c->has_next = 1;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

void chainsink_metrics(struct chainsink *c, FILE *f)
{
	pthread_mutex_lock(&c->mu);
	fprintf(f, "# HELP karpa_chain_submissions_total Weight extrinsics submitted to the chain.\n"
		   "# TYPE karpa_chain_submissions_total counter\nkarpa_chain_submissions_total %" PRIu64 "\n",
		c->submitted);
	fprintf(f, "# HELP karpa_chain_landed_total Weight extrinsics that succeeded in a block.\n"
		   "# TYPE karpa_chain_landed_total counter\nkarpa_chain_landed_total %" PRIu64 "\n", c->landed);
	fprintf(f, "# HELP karpa_chain_reveals_total Commits revealed with success.\n"
		   "# TYPE karpa_chain_reveals_total counter\nkarpa_chain_reveals_total %" PRIu64 "\n", c->revealed);
	fprintf(f, "# HELP karpa_chain_pending_commits Commits waiting for their reveal window.\n"
		   "# TYPE karpa_chain_pending_commits gauge\nkarpa_chain_pending_commits %d\n", c->pending);
	fprintf(f, "# HELP karpa_chain_dropped_miners_total Miners with weight but no uid on the subnet.\n"
		   "# TYPE karpa_chain_dropped_miners_total counter\nkarpa_chain_dropped_miners_total %" PRIu64 "\n",
		c->dropped);
	fprintf(f, "# HELP karpa_chain_failures_total Chain sends and reveals that failed, by reason code.\n"
		   "# TYPE karpa_chain_failures_total counter\n");
	for (size_t i = 0; i < CHAINSINK_CODES_MAX && c->codes[i].code[0]; i++)
		fprintf(f, "karpa_chain_failures_total{code=\"%s\"} %" PRIu64 "\n", c->codes[i].code, c->codes[i].n);
	pthread_mutex_unlock(&c->mu);
}

void chainsink_stop(struct chainsink *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	c->stop = 1;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->th, NULL);
	if (c->has_next)
		weights_copy_free(&c->next);
	chain_sender_close(c->sender);
	chain_key_wipe(&c->key);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c);
}
