/* test_chain_reveal.c: commit-reveal against the local subtensor-like
 * node (chain_send_fixture.h): the commit kept across a restart and
 * revealed in its window with the same salt, expiry, a uid that changed
 * hands, commits whose fate is unknown, reorganisations that move or drop
 * the commit (the window follows its block; the reveal waits for
 * finality; a commit that never lands is dropped unrevealed), rows kept
 * by an earlier version, and malformed kept rows. */
#include "chain_send_fixture.h"

#include "util/log.h"

/* Commit-reveal (the default when the subnet has no value stored): the
 * commit is kept in the state; a restart (the state reopened, a new
 * sender) reveals it in its window with the same salt, and the node finds
 * that the reveal hashes to the commit. */
static void test_commit_reveal_restart(void **state)
{
	struct fx *f = *state;
	struct chain_send_report rep;
	struct chain_reveal_report rr;
	struct kerr e;

	set_tempo(9); /* subnet epochs of 10 blocks: epoch(b) = (b + 17) / 10 */
	if (send_w(f, 0, &rep) < 0)
		fail_msg("send: %s: %s", f->e.code, f->e.msg);
	assert_string_equal(rep.call, "commit_weights");
	assert_true(rep.landed);
	assert_int_equal(rep.block, 101); /* epoch 11: revealed in epoch 12, blocks 103..112 */
	assert_string_equal(g_rt.seen[0].call, "commit_weights");
	assert_true(g_rt.seen[0].sig_ok);
	assert_memory_equal(g_rt.seen[0].hash, rep.commit_hash, 32);
	assert_int_equal(commits_kept(f), 1);
	chain_send_report_free(&rep);
	/* restart */
	vstate_close(&f->st.s);
	if (validator_open(f->st.state, &f->st.s, &e) < 0)
		fail_msg("reopen: %s", e.msg);
	chainsink_store_init(&f->store, &f->st.s, NULL);
	/* too early: kept, and no block asked for */
	{
		int blocks = cn_count(&g_node, "chain_getBlock");

		assert_int_equal(reveal(f, &rr), 0);
		assert_int_equal(cn_count(&g_node, "chain_getBlock"), blocks);
	}
	assert_int_equal(rr.pending, 1);
	assert_int_equal(rr.waiting, 1);
	assert_int_equal(cn_count(&g_node, "author_submitExtrinsic"), 1);
	/* in the window */
	g_node.head = 105;
	if (reveal(f, &rr) < 0)
		fail_msg("reveal: %s: %s", f->e.code, f->e.msg);
	assert_int_equal(rr.revealed, 1);
	assert_int_equal(g_rt.nseen, 2);
	assert_string_equal(g_rt.seen[1].call, "reveal_weights");
	assert_true(g_rt.seen[1].sig_ok);
	assert_true(g_rt.seen[1].hash_matched);
	assert_int_equal(g_rt.seen[1].n_salt, CHAIN_SALT_LEN);
	assert_int_equal(commits_kept(f), 0);
}

/* The chain's warnings, one per line: a dropped commit fails nothing, so
 * its reason code reaches the operator only in the log. */
struct warns {
	char text[8192];
};

static void warn_sink(void *arg, enum log_level level, const char *component, const char *line)
{
	struct warns *w = arg;
	size_t n = strlen(w->text);

	if (level == LOG_WARN && !strcmp(component, "chain"))
		snprintf(w->text + n, sizeof w->text - n, "%s\n", line);
}

/* reveal() with the chain's warnings kept in w. */
static int reveal_logged(struct fx *f, struct chain_reveal_report *rr, struct warns *w)
{
	int rc;

	w->text[0] = '\0';
	log_set_sink(warn_sink, w);
	rc = reveal(f, rr);
	log_set_sink(NULL, NULL);
	return rc;
}

/* A commit made at block 101 (subnet epochs of 10 blocks: revealed in
 * blocks 103..112), then a reveal pass with the head at `head` that drops
 * it as expired, unsent. The warnings in w. */
static void commit_then_expire(struct fx *f, uint32_t head, struct warns *w)
{
	struct chain_send_report rep;
	struct chain_reveal_report rr;

	set_tempo(9);
	assert_int_equal(send_w(f, 0, &rep), 0);
	chain_send_report_free(&rep);
	g_node.head = head;
	assert_int_equal(reveal_logged(f, &rr, w), 0);
	assert_non_null(strstr(w->text, "chain.reveal_expired"));
	assert_null(strstr(w->text, "chain.reveal_uid_moved"));
	assert_int_equal(rr.expired, 1);
	assert_int_equal(cn_count(&g_node, "author_submitExtrinsic"), 1);
	assert_int_equal(commits_kept(f), 0);
}

/* Past the window the commit is dropped, not revealed. */
static void test_reveal_expired(void **state)
{
	struct warns w;

	commit_then_expire(*state, 130, &w);
}

/* The window's last block as the head: a reveal sent now would land
 * after the window, fail there and cost its fee, so the commit is dropped
 * unsent; one block earlier it is revealed. */
static void test_reveal_needs_a_block_left(void **state)
{
	struct fx *f = *state;
	struct chain_send_report rep;
	struct chain_reveal_report rr;
	struct warns w;

	commit_then_expire(f, 112, &w);
	assert_non_null(strstr(w.text, "would land after it"));
	/* committed again at block 111 (epoch 12, revealed in blocks
	 * 113..122), the head one block before the window's last */
	g_node.head = 110;
	if (send_w(f, 0, &rep) < 0)
		fail_msg("send: %s: %s", f->e.code, f->e.msg);
	assert_int_equal(rep.block, 111);
	chain_send_report_free(&rep);
	g_node.head = 121;
	if (reveal(f, &rr) < 0)
		fail_msg("reveal: %s: %s", f->e.code, f->e.msg);
	assert_int_equal(rr.revealed, 1);
	assert_int_equal(commits_kept(f), 0);
}

/* A uid that changed hands between commit and reveal: the commit binds
 * it, so nothing is revealed and the commit is dropped. */
static void test_uid_moved(void **state)
{
	struct fx *f = *state;
	struct chain_send_report rep;
	struct chain_reveal_report rr;
	uint8_t other[32];
	struct chain_storage_key k;
	struct kerr e;
	struct warns w;

	set_tempo(9);
	assert_int_equal(send_w(f, 0, &rep), 0);
	chain_send_report_free(&rep);
	memset(other, 0xee, sizeof other);
	assert_int_equal(chain_storage_key_keys(NETUID, 5, &k, &e), 0);
	set_storage(&k, other, 32);
	g_node.head = 105;
	assert_int_equal(reveal_logged(f, &rr, &w), 0);
	assert_non_null(strstr(w.text, "chain.reveal_uid_moved"));
	assert_null(strstr(w.text, "chain.reveal_expired"));
	assert_int_equal(rr.moved, 1);
	assert_int_equal(rr.revealed, 0);
	assert_int_equal(cn_count(&g_node, "author_submitExtrinsic"), 1);
	assert_int_equal(commits_kept(f), 0);
}

/* A commit in a block whose outcome could not be read (no events, events
 * that do not decode, the node failing the events query) may well have
 * succeeded: it is kept for the reveal, which drops it should the chain
 * hold no such commit, rather than dropped as a failed one is. Here the
 * node did keep it, so the reveal lands. Events that decode a failure and
 * then fail to decode (a second outcome) say no more than none: kept. */
static void test_unknown_commit_kept(void **state)
{
	struct fx *f = *state;
	struct chain_send_report rep;
	struct chain_reveal_report rr;

	set_tempo(9);
	set_events(EVENTS_NONE);
	assert_int_equal(send_w(f, 0, &rep), -1);
	assert_string_equal(f->e.code, "chain.dispatch_unknown");
	assert_string_equal(rep.call, "commit_weights");
	assert_true(rep.landed);
	chain_send_report_free(&rep);
	assert_int_equal(commits_kept(f), 1);
	set_events(EVENTS_OUTCOME);
	g_node.head = 105;
	if (reveal(f, &rr) < 0)
		fail_msg("reveal: %s: %s", f->e.code, f->e.msg);
	assert_int_equal(rr.revealed, 1);
	assert_true(g_rt.seen[1].hash_matched);
	assert_int_equal(commits_kept(f), 0);
	/* and one the chain turns out not to hold is dropped by its reveal */
	set_events(EVENTS_NONE);
	assert_int_equal(send_w(f, 0, &rep), -1);
	assert_string_equal(f->e.code, "chain.dispatch_unknown");
	chain_send_report_free(&rep);
	assert_int_equal(commits_kept(f), 1);
	set_events(EVENTS_OUTCOME);
	g_node.head += 10;
	snprintf(g_rt.fail_error, sizeof g_rt.fail_error, "NoWeightsCommitFound");
	assert_int_equal(reveal(f, &rr), -1);
	assert_string_equal(f->e.code, "chain.commit_not_found");
	assert_int_equal(rr.failed, 1);
	assert_int_equal(rr.expired + rr.waiting, 0);
	assert_int_equal(commits_kept(f), 0);
	set_events(EVENTS_TWO);
	assert_int_equal(send_w(f, 0, &rep), -1);
	assert_string_equal(f->e.code, "chain.events_decode");
	assert_non_null(strstr(f->e.msg, "two dispatch outcomes"));
	assert_true(rep.landed);
	assert_int_equal(rep.dispatch.outcome, CHAIN_OUTCOME_NONE);
	chain_send_report_free(&rep);
	assert_int_equal(commits_kept(f), 1);
}

/* The kept commit's body, parsed (the caller json_decref's it). */
static json_t *kept_body(struct fx *f)
{
	sqlite3_stmt *st;
	json_t *o = NULL;

	assert_int_equal(sqlite3_prepare_v2(f->st.s.db, "SELECT body FROM chain_commits", -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		o = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
	sqlite3_finalize(st);
	assert_non_null(o);
	return o;
}

static long long kept_int(struct fx *f, const char *key)
{
	json_t *o = kept_body(f);
	long long v = json_integer_value(json_object_get(o, key));

	json_decref(o);
	return v;
}

/* A reorganisation moves the commit from block 101 (epoch 11, revealed in
 * epoch 12: blocks 103..112) to block 104 (epoch 12, revealed in epoch 13):
 * a reveal in epoch 12 would land outside the chain's window, so the
 * reveal follows the commit to its block; then back to the pool and into
 * block 113 (epoch 13, revealed in epoch 14: blocks 123..132). */
static void test_reorg_moves_window(void **state)
{
	struct fx *f = *state;
	struct chain_send_report rep;
	struct chain_reveal_report rr;
	struct warns w;

	set_tempo(9);
	if (send_w(f, 0, &rep) < 0)
		fail_msg("send: %s: %s", f->e.code, f->e.msg);
	assert_int_equal(rep.block, 101);
	assert_int_equal(rep.sent_head, 100);
	assert_int_equal(rep.sent_final, 100);
	chain_send_report_free(&rep);
	assert_int_equal(kept_int(f, "commit_block"), 101);
	assert_int_equal(kept_int(f, "version"), 2);
	cn_reorg(&g_node, 101, 104);
	g_node.head = 105;
	assert_int_equal(reveal_logged(f, &rr, &w), 0);
	assert_int_equal(rr.waiting, 1);
	assert_int_equal(rr.revealed, 0);
	assert_int_equal(cn_count(&g_node, "author_submitExtrinsic"), 1);
	assert_non_null(strstr(w.text, "in block 104 now (a reorganisation moved it from block 101)"));
	assert_non_null(strstr(w.text, "chain.commit_moved"));
	assert_int_equal(kept_int(f, "commit_block"), 104);
	/* reorganised away, and in block 113 after it */
	cn_reorg(&g_node, 102, 113);
	assert_int_equal(reveal_logged(f, &rr, &w), 0);
	assert_int_equal(rr.waiting, 1);
	assert_non_null(strstr(w.text, "no longer in block 104"));
	assert_int_equal(kept_int(f, "landed"), 0);
	assert_int_equal(kept_int(f, "clear_to"), 105); /* looked through, final */
	g_node.head = 115; /* epoch 13: block 104's window, not block 113's */
	assert_int_equal(reveal_logged(f, &rr, &w), 0);
	assert_int_equal(rr.waiting, 1);
	assert_non_null(strstr(w.text, "in block 113 now (not seen landing; final when sent: block 100)"));
	assert_int_equal(cn_count(&g_node, "author_submitExtrinsic"), 1);
	g_node.head = 123; /* epoch 14: block 113's */
	if (reveal_logged(f, &rr, &w) < 0)
		fail_msg("reveal: %s: %s", f->e.code, f->e.msg);
	assert_int_equal(rr.revealed, 1);
	assert_string_equal(g_rt.seen[1].call, "reveal_weights");
	assert_true(g_rt.seen[1].hash_matched);
	assert_int_equal(commits_kept(f), 0);
}

/* A reveal waits until the commit's block is finalised, and a window
 * that passes meanwhile does not drop a commit whose block may still move;
 * finality that stalls into the window's last quarter is not waited for.
 * Subnet epochs of 10 blocks: the window is blocks 103..112, its last
 * quarter 111..112. */
static void test_reveal_waits_for_finality(void **state)
{
	struct fx *f = *state;
	struct chain_send_report rep;
	struct chain_reveal_report rr;
	struct warns w;

	set_tempo(9);
	assert_int_equal(send_w(f, 0, &rep), 0);
	chain_send_report_free(&rep);
	g_node.head = 105;
	g_node.finalized_lag = 5; /* block 100 */
	assert_int_equal(reveal(f, &rr), 0);
	assert_int_equal(rr.waiting, 1);
	g_node.head = 110;
	g_node.finalized_lag = 10; /* still 100: two blocks of the window left */
	assert_int_equal(reveal(f, &rr), 0);
	assert_int_equal(rr.waiting, 1);
	assert_int_equal(cn_count(&g_node, "author_submitExtrinsic"), 1);
	g_node.head = 113; /* past the window, the commit's block not final */
	g_node.finalized_lag = 13;
	assert_int_equal(reveal(f, &rr), 0);
	assert_int_equal(rr.waiting, 1);
	assert_int_equal(rr.expired, 0);
	assert_int_equal(commits_kept(f), 1);
	g_node.finalized_lag = 12; /* block 101 final: now it is past */
	assert_int_equal(reveal(f, &rr), 0);
	assert_int_equal(rr.expired, 1);
	assert_int_equal(commits_kept(f), 0);
	/* again, committed at block 114 (epoch 13: the window is blocks
	 * 123..132), finality stalled at 113 */
	assert_int_equal(send_w(f, 0, &rep), 0);
	assert_int_equal(rep.block, 114);
	chain_send_report_free(&rep);
	g_node.head = 130;
	g_node.finalized_lag = 17;
	assert_int_equal(reveal_logged(f, &rr, &w), 0);
	assert_int_equal(rr.waiting, 1);
	g_node.head = 131; /* one block left: revealed on the best chain */
	g_node.finalized_lag = 18;
	if (reveal_logged(f, &rr, &w) < 0)
		fail_msg("reveal: %s: %s", f->e.code, f->e.msg);
	assert_int_equal(rr.revealed, 1);
	assert_non_null(strstr(w.text, "chain.commit_not_final"));
	assert_int_equal(commits_kept(f), 0);
}

/* The commit lands at or below the best block current when it was sent
 * (a fork from below it wins): the blocks after the final one it was
 * signed at are looked through, not only those after that best block. */
static void test_commit_below_sent_head(void **state)
{
	struct fx *f = *state;
	struct chain_send_report rep;
	struct chain_reveal_report rr;
	struct warns w;

	set_tempo(9);
	g_node.finalized_lag = 3; /* block 97 */
	assert_int_equal(send_w(f, 0, &rep), 0);
	assert_int_equal(rep.sent_head, 100);
	assert_int_equal(rep.sent_final, 97);
	assert_int_equal(rep.block, 101);
	chain_send_report_free(&rep);
	assert_int_equal(kept_int(f, "clear_to"), 97);
	cn_reorg(&g_node, 98, 99); /* epoch 11 still: revealed in 103..112 */
	g_node.head = 105;
	g_node.finalized_lag = 0;
	if (reveal_logged(f, &rr, &w) < 0)
		fail_msg("reveal: %s: %s", f->e.code, f->e.msg);
	assert_non_null(strstr(w.text, "in block 99 now (a reorganisation moved it from block 101)"));
	assert_int_equal(rr.revealed, 1);
	assert_int_equal(commits_kept(f), 0);
}

/* A commit past the window of the last block its era admits is dropped
 * without a block asked for (a node that pruned old bodies cannot answer,
 * and a row left by a run long down would look through a whole era). */
static void test_expired_without_looking(void **state)
{
	struct fx *f = *state;
	struct chain_send_report rep;
	struct chain_reveal_report rr;
	struct warns w;
	int blocks;

	set_tempo(9);
	f->o.era_period = 4; /* blocks 101..103: revealed in epoch 13 at the latest */
	assert_int_equal(send_w(f, 0, &rep), 0);
	chain_send_report_free(&rep);
	g_node.head = 140; /* epoch 15 */
	cn_fail(&g_node, "chain_getBlock", CN_HTTP_500, 100);
	blocks = cn_count(&g_node, "chain_getBlock");
	assert_int_equal(reveal_logged(f, &rr, &w), 0);
	assert_int_equal(cn_count(&g_node, "chain_getBlock"), blocks);
	assert_int_equal(rr.expired, 1);
	assert_non_null(strstr(w.text, "past the reveal window of any block its extrinsic could be in"));
	assert_int_equal(commits_kept(f), 0);
}

/* A commit reorganised back into the pool whose era then ends, finalised,
 * never lands: it is dropped unrevealed (a reveal would fail on chain and
 * cost its fee). With a era of 4 blocks born at block 100, it could land
 * in blocks 101..103 only. */
static void test_commit_lost(void **state)
{
	struct fx *f = *state;
	struct chain_send_report rep;
	struct chain_reveal_report rr;
	struct warns w;

	set_tempo(9);
	f->o.era_period = 4;
	assert_int_equal(send_w(f, 0, &rep), 0);
	assert_int_equal(rep.era_death, 104);
	chain_send_report_free(&rep);
	cn_reorg(&g_node, 101, 0);
	g_node.head = 105;
	g_node.finalized_lag = 3; /* block 102: 103 could still hold it */
	assert_int_equal(reveal_logged(f, &rr, &w), 0);
	assert_int_equal(rr.waiting, 1);
	assert_int_equal(rr.lost, 0);
	assert_int_equal(kept_int(f, "clear_to"), 102);
	g_node.finalized_lag = 0;
	assert_int_equal(reveal_logged(f, &rr, &w), 0);
	assert_int_equal(rr.lost, 1);
	assert_int_equal(rr.waiting + rr.revealed + rr.failed, 0);
	assert_non_null(strstr(w.text, "chain.commit_lost"));
	assert_int_equal(cn_count(&g_node, "author_submitExtrinsic"), 1);
	assert_int_equal(commits_kept(f), 0);
}

/* A commit kept by an earlier version (body version 1: no extrinsic named)
 * is revealed in the window of the block it was seen in. */
static void test_commit_v1_reveals(void **state)
{
	struct fx *f = *state;
	struct chain_send_report rep;
	struct chain_reveal_report rr;
	struct kerr e;
	char key[2 * CHAIN_HASH_BYTES + 1], *body;
	json_t *o;
	int blocks;

	set_tempo(9);
	assert_int_equal(send_w(f, 0, &rep), 0);
	sodium_bin2hex(key, sizeof key, rep.commit_hash, CHAIN_HASH_BYTES);
	chain_send_report_free(&rep);
	o = kept_body(f);
	json_object_set_new(o, "version", json_integer(1));
	json_object_del(o, "tx_hash");
	json_object_del(o, "sent_final");
	json_object_del(o, "era_death");
	json_object_del(o, "clear_to");
	body = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	assert_int_equal(f->store.st.put(f->store.st.ctx, key, NETUID, body, &e), 0);
	free(body);
	cn_reorg(&g_node, 101, 104); /* unseen: version 1 cannot look */
	g_node.head = 105;
	blocks = cn_count(&g_node, "chain_getBlock");
	if (reveal(f, &rr) < 0)
		fail_msg("reveal: %s: %s", f->e.code, f->e.msg);
	assert_int_equal(rr.revealed, 1);
	/* the reveal's own following looks at one block, block 106 */
	assert_int_equal(cn_count(&g_node, "chain_getBlock") - blocks, 1);
}

/* Commit-reveal with no store to keep the commit: refused before anything
 * is sent, since a commit nobody can reveal costs the epoch's weights. A
 * dry run keeps nothing, so it needs no store. */
static void test_commit_without_store(void **state)
{
	struct fx *f = *state;
	struct chain_send_report rep;

	f->o.store = NULL;
	set_commit_reveal(1);
	assert_int_equal(send_w(f, 0, &rep), -1);
	assert_string_equal(f->e.code, "chain.commit_store");
	assert_int_equal(cn_count(&g_node, "author_submitExtrinsic"), 0);
	chain_send_report_free(&rep);
	assert_int_equal(send_w(f, 1, &rep), 0);
	assert_string_equal(rep.call, "commit_weights");
	chain_send_report_free(&rep);
}

/* A kept commit edited by hand or left by another version: each way a
 * genuine row can be off is refused as chain.commit_store, nothing is
 * revealed, and the genuine row put back reveals. A key names a member
 * (set to value), "key[0]" its first element; append lengthens an array
 * member by value, past what the other arrays (or the salt length) allow.
 * Hex one byte too long: a reader that decodes what fits would take it. */
static const struct {
	const char *key;
	int append;
	const char *value;
} bad_commits[] = {
	{ "epoch", 0, "-1" },
	{ "netuid", 0, "65536" },
	{ "commit_block", 0, "\"101\"" },
	{ "version_key", 0, "1.5" },
	{ "hotkey", 0, "\"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\"" },
	{ "commit_hash", 0, "\"000000000000000000000000000000000000000000000000000000000000000000\"" },
	{ "uids[0]", 0, "65536" },
	{ "values[0]", 0, "-1" },
	{ "accounts[0]", 0, "\"121212121212121212121212121212121212121212121212121212121212121212\"" },
	{ "salt[0]", 0, "null" },
	{ "salt", 1, "0" },
	{ "values", 1, "1" },
	{ "accounts", 1, "\"1010101010101010101010101010101010101010101010101010101010101010\"" },
	{ "version", 0, "3" },
	{ "tx_hash", 0, "\"00\"" },
	{ "sent_final", 0, "-1" },
	{ "era_death", 0, "\"228\"" },
	{ "era_death", 0, "100" }, /* not after sent_final */
	{ "clear_to", 0, "1.5" },
	{ "clear_to", 0, "99" },  /* before sent_final */
	{ "clear_to", 0, "228" }, /* not before era_death */
	{ "commit_block", 0, "100" }, /* not after sent_final */
	{ "commit_block", 0, "228" }, /* not before era_death */
	{ "sent_final", 0, "9223372036854775807" },
};

static void expect_bad_commit(struct fx *f, const char *key, const char *body)
{
	struct chain_reveal_report rr;
	struct kerr e;
	int rc;

	assert_int_equal(f->store.st.put(f->store.st.ctx, key, NETUID, body, &e), 0);
	memset(&f->e, 0, sizeof f->e);
	rc = reveal(f, &rr);
	if (rc != -1 || strcmp(f->e.code, "chain.commit_store"))
		fail_msg("kept commit %s: want chain.commit_store, got %d \"%s\" (%s)", body, rc, f->e.code, f->e.msg);
	assert_int_equal(rr.failed, 1);
	assert_int_equal(rr.revealed, 0);
	assert_int_equal(cn_count(&g_node, "author_submitExtrinsic"), 1);
}

static void test_kept_commit_malformed(void **state)
{
	struct fx *f = *state;
	struct chain_send_report rep;
	struct chain_reveal_report rr;
	sqlite3_stmt *st;
	char key[2 * CHAIN_HASH_BYTES + 1], *good, *body;
	json_t *o;

	set_tempo(9);
	assert_int_equal(send_w(f, 0, &rep), 0);
	chain_send_report_free(&rep);
	g_node.head = 105; /* in the reveal window */
	assert_int_equal(sqlite3_prepare_v2(f->st.s.db, "SELECT hash, body FROM chain_commits", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	snprintf(key, sizeof key, "%s", (const char *)sqlite3_column_text(st, 0));
	good = strdup((const char *)sqlite3_column_text(st, 1));
	sqlite3_finalize(st);
	assert_non_null(good);
	o = json_loads(good, 0, NULL);
	assert_non_null(o);
	for (size_t i = 0; i < sizeof bad_commits / sizeof *bad_commits; i++) {
		json_t *m = json_deep_copy(o), *v = json_loads(bad_commits[i].value, JSON_DECODE_ANY, NULL);
		char name[32];
		const char *br = strchr(bad_commits[i].key, '[');

		assert_non_null(v);
		snprintf(name, sizeof name, "%.*s", br ? (int)(br - bad_commits[i].key) : 31, bad_commits[i].key);
		assert_non_null(json_object_get(m, name));
		if (br)
			assert_int_equal(json_array_set_new(json_object_get(m, name), 0, v), 0);
		else if (bad_commits[i].append)
			assert_int_equal(json_array_append_new(json_object_get(m, name), v), 0);
		else
			assert_int_equal(json_object_set_new(m, name, v), 0);
		body = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
		expect_bad_commit(f, key, body);
		free(body);
		json_decref(m);
	}
	/* no weights at all */
	json_object_set_new(o, "uids", json_array());
	json_object_set_new(o, "values", json_array());
	json_object_set_new(o, "accounts", json_array());
	body = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	expect_bad_commit(f, key, body);
	free(body);
	json_decref(o);
	/* cut short; a member twice (the first of which a lenient reader
	 * would let the second override) */
	body = strndup(good, strlen(good) / 2);
	expect_bad_commit(f, key, body);
	free(body);
	assert_true(asprintf(&body, "{\"epoch\":0,%s", good + 1) > 0);
	expect_bad_commit(f, key, body);
	free(body);
	/* the genuine row reveals */
	{
		struct kerr e;

		assert_int_equal(f->store.st.put(f->store.st.ctx, key, NETUID, good, &e), 0);
	}
	if (reveal(f, &rr) < 0)
		fail_msg("reveal: %s: %s", f->e.code, f->e.msg);
	assert_int_equal(rr.revealed, 1);
	assert_int_equal(commits_kept(f), 0);
	free(good);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_commit_reveal_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reveal_needs_a_block_left, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reveal_expired, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uid_moved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_commit_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_without_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reorg_moves_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reveal_waits_for_finality, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_below_sent_head, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expired_without_looking, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_lost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_v1_reveals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kept_commit_malformed, setup, teardown),
	};
	int rc;

	if (sodium_init() < 0)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	meta_free(g_meta);
	return rc;
}
