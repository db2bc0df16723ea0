/* test_chain_send.c: weights sent to a chain (src/chain/chainsend.c,
 * events.c; src/validator/chainsink.c; `karpa chain weights`; `validator
 * serve --chain`) against the local subtensor-like node (chain_node.h).
 * The node's submit hook plays the runtime: it decodes each extrinsic,
 * checks its signature over the payload the runtime would rebuild, keeps
 * commits and checks that a reveal hashes to one, and writes the block's
 * System.Events from the metadata fixture's types (success, or a scripted
 * module error), which the sender must decode. The dry run's bytes are
 * also compared with polkadot-js's (tests/chain_polkadot.mjs). */
#include "testutil.h"

#include "chain_send_fixture.h"
#include "corpus_rows.h"
#include "service_fixture.h"

#include "chain/chainkey.h"
#include "chain/chainsend.h"
#include "chain/events.h"
#include "chain/extrinsic.h"
#include "chain/metadata.h"
#include "chain/scale.h"
#include "chain/sr25519.h"
#include "chain/storage.h"
#include "util/log.h"
#include "validator/chainsink.h"
#include "validator/ledger.h"
#include "validator/weights.h"

/* ---------------------------------------------------------------- tests */

/* set_weights end to end: the unregistered miner dropped, uids in order,
 * values max-normalised, the signature good over the runtime's payload,
 * the block's events read back as success. */
static void test_set_weights(void **state)
{
	struct fx *f = *state;
	struct chain_send_report rep;

	set_commit_reveal(0);
	if (send_w(f, 0, &rep) < 0)
		fail_msg("send: %s: %s", f->e.code, f->e.msg);
	assert_string_equal(rep.call, "set_weights");
	assert_int_equal(rep.dropped, 1);
	assert_true(rep.submitted && rep.landed);
	assert_int_equal(rep.block, 101);
	assert_int_equal(rep.index, 1);
	assert_int_equal(rep.dispatch.outcome, CHAIN_OUTCOME_SUCCESS);
	assert_int_equal(rep.dispatch.nevents, 3);
	assert_int_equal(g_rt.nseen, 1);
	assert_string_equal(g_rt.seen[0].call, "set_weights");
	assert_true(g_rt.seen[0].sig_ok);
	assert_memory_equal(g_rt.seen[0].signer, f->key.pub, 32);
	assert_int_equal(g_rt.seen[0].netuid, NETUID);
	assert_int_equal(g_rt.seen[0].n, 2);
	assert_int_equal(g_rt.seen[0].uids[0], 2); /* miners[2], score 3 */
	assert_int_equal(g_rt.seen[0].vals[0], 65535);
	assert_int_equal(g_rt.seen[0].uids[1], 5); /* miners[0], score 1 */
	assert_int_equal(g_rt.seen[0].vals[1], 21845);
	assert_int_equal(g_rt.seen[0].version_key, 2000);
	/* the era was born at the finalised head, the nonce is the node's */
	assert_true(cn_count(&g_node, "chain_getFinalizedHead") >= 1);
	assert_true(cn_count(&g_node, "system_accountNextIndex") >= 1);
	assert_int_equal(cn_count(&g_node, "state_getMetadata"), 1);
	chain_send_report_free(&rep);
}

/* The same with an sr25519 hotkey: the runtime's side verifies it with
 * the project's sr25519. */
static void test_set_weights_sr25519(void **state)
{
	struct fx *f = *state;
	struct chain_send_report rep;
	uint8_t seed[32];
	struct kerr e;

	memset(seed, 0x07, sizeof seed);
	chain_key_wipe(&f->key);
	assert_int_equal(chain_key_from_seed(CHAIN_SCHEME_SR25519, seed, &f->key, &e), 0);
	assert_int_equal(chain_key_signer(&f->key, &f->signer), 0);
	set_commit_reveal(0);
	if (send_w(f, 0, &rep) < 0)
		fail_msg("send: %s: %s", f->e.code, f->e.msg);
	assert_true(rep.landed);
	assert_string_equal(g_rt.seen[0].call, "set_weights");
	assert_true(g_rt.seen[0].sig_ok);
	chain_send_report_free(&rep);
}

/* A dry run builds and signs and submits nothing; its extrinsic decodes
 * to the same call. */
static void test_dry_run(void **state)
{
	struct fx *f = *state;
	struct chain_send_report rep;
	struct seen s;

	set_commit_reveal(0);
	assert_int_equal(send_w(f, 1, &rep), 0);
	assert_int_equal(cn_count(&g_node, "author_submitExtrinsic"), 0);
	assert_false(rep.submitted);
	assert_non_null(rep.xt);
	decode_xt(rep.xt, rep.xt_len, &s);
	assert_string_equal(s.call, "set_weights");
	assert_true(s.sig_ok);
	assert_int_equal(s.n, 2);
	assert_int_equal(rep.n, 2);
	assert_int_equal(rep.uids[0], 2);
	assert_int_equal(rep.vals[1], 21845);
	chain_send_report_free(&rep);
	/* commit-reveal on: a dry commit keeps nothing either */
	set_commit_reveal(1);
	assert_int_equal(send_w(f, 1, &rep), 0);
	assert_string_equal(rep.call, "commit_weights");
	assert_int_equal(cn_count(&g_node, "author_submitExtrinsic"), 0);
	assert_int_equal(commits_kept(f), 0);
	chain_send_report_free(&rep);
}

/* The node's refusals and failed dispatches become reason codes; a refused
 * commit is not kept. */
static void test_errors(void **state)
{
	struct fx *f = *state;
	struct chain_send_report rep;

	set_commit_reveal(0);
	cn_fail_rpc(&g_node, "author_submitExtrinsic", 1, 1010, "Invalid Transaction", "Custom error: 6");
	assert_int_equal(send_w(f, 0, &rep), -1);
	assert_string_equal(f->e.code, "chain.setting_weights_too_fast");
	assert_false(rep.submitted);
	chain_send_report_free(&rep);
	cn_fail_rpc(&g_node, "author_submitExtrinsic", 1, 1010, "Invalid Transaction", "Transaction is outdated");
	assert_int_equal(send_w(f, 0, &rep), -1);
	assert_string_equal(f->e.code, "chain.nonce_stale");
	chain_send_report_free(&rep);
	/* in a block, failed: the module error named from the metadata */
	snprintf(g_rt.fail_error, sizeof g_rt.fail_error, "NeuronNoValidatorPermit");
	assert_int_equal(send_w(f, 0, &rep), -1);
	assert_string_equal(f->e.code, "chain.no_validator_permit");
	assert_true(rep.landed);
	assert_int_equal(rep.dispatch.outcome, CHAIN_OUTCOME_FAILED);
	assert_string_equal(rep.dispatch.error_variant, "Module");
	assert_non_null(strstr(f->e.msg, "NeuronNoValidatorPermit"));
	chain_send_report_free(&rep);
	snprintf(g_rt.fail_error, sizeof g_rt.fail_error, "BadOrigin");
	assert_int_equal(send_w(f, 0, &rep), -1);
	assert_string_equal(f->e.code, "chain.dispatch_error");
	assert_non_null(strstr(f->e.msg, "BadOrigin"));
	chain_send_report_free(&rep);
	/* commit-reveal: a refused commit leaves nothing to reveal */
	set_commit_reveal(1);
	cn_fail_rpc(&g_node, "author_submitExtrinsic", 1, 1010, "Invalid Transaction", "Custom error: 6");
	assert_int_equal(send_w(f, 0, &rep), -1);
	assert_int_equal(commits_kept(f), 0);
	chain_send_report_free(&rep);
	/* a commit whose submission's fate is unknown (the connection dropped
	 * after sending) stays kept: it may have landed */
	cn_fail(&g_node, "author_submitExtrinsic", CN_DROP, 1);
	assert_int_equal(send_w(f, 0, &rep), -1);
	assert_string_equal(f->e.code, "chain.submit_unknown");
	assert_int_equal(commits_kept(f), 1);
	chain_send_report_free(&rep);
	/* a node that is down: a transport code, nothing more kept */
	f->o.endpoint = "http://127.0.0.1:1/";
	{
		struct chain_rpc_opts ro;

		chain_rpc_opts_default(&ro);
		ro.tries = 1;
		f->o.rpc = &ro;
		assert_int_equal(send_w(f, 0, &rep), -1);
		f->o.rpc = NULL;
	}
	assert_string_equal(f->e.code, "chain.rpc_connect");
	assert_int_equal(commits_kept(f), 1);
	chain_send_report_free(&rep);
}

/* The node takes the extrinsic into its pool and never puts it in a
 * block: its inclusion table is filled with entries for no block, and
 * chain_node.h includes nothing once it is full. */
static void pool_never_includes(void)
{
	pthread_mutex_lock(&g_node.mu);
	for (; g_node.nincluded < CN_INCLUDED_MAX; g_node.nincluded++) {
		g_node.included[g_node.nincluded].block = UINT32_MAX;
		g_node.included[g_node.nincluded].hex = NULL;
		g_node.included[g_node.nincluded].events = NULL;
	}
	pthread_mutex_unlock(&g_node.mu);
}

/* Accepted but never seen in a block: after follow_ms the sender says so
 * instead of waiting on or taking it as landed; a commit sent that way
 * stays kept, since it may still land. */
static void test_not_included(void **state)
{
	struct fx *f = *state;
	struct chain_send_report rep;

	pool_never_includes();
	f->o.follow_ms = 300;
	set_commit_reveal(0);
	assert_int_equal(send_w(f, 0, &rep), -1);
	assert_string_equal(f->e.code, "chain.not_included");
	assert_true(rep.submitted);
	assert_false(rep.landed);
	assert_int_equal(cn_count(&g_node, "author_submitExtrinsic"), 1);
	chain_send_report_free(&rep);
	set_commit_reveal(1);
	assert_int_equal(send_w(f, 0, &rep), -1);
	assert_string_equal(f->e.code, "chain.not_included");
	assert_string_equal(rep.call, "commit_weights");
	assert_int_equal(commits_kept(f), 1);
	chain_send_report_free(&rep);
}

/* In a block, but the block's events say nothing of it (none stored, or
 * only another extrinsic's): its outcome is unknown, never success. */
static void test_dispatch_unknown(void **state)
{
	struct fx *f = *state;
	struct chain_send_report rep;

	set_commit_reveal(0);
	set_events(EVENTS_NONE);
	assert_int_equal(send_w(f, 0, &rep), -1);
	assert_string_equal(f->e.code, "chain.dispatch_unknown");
	assert_true(rep.landed);
	assert_int_equal(rep.block, 101);
	chain_send_report_free(&rep);
	set_events(EVENTS_OTHERS);
	assert_int_equal(send_w(f, 0, &rep), -1);
	assert_string_equal(f->e.code, "chain.dispatch_unknown");
	assert_true(rep.landed);
	assert_int_equal(rep.dispatch.outcome, CHAIN_OUTCOME_NONE);
	assert_int_equal(rep.dispatch.nevents, 1);
	chain_send_report_free(&rep);
}

/* With KARPA_CHAIN_SEED_DIR set, events are also written there as fuzz
 * seeds (the index byte, then the value): how
 * tests/fuzz/corpus/chain_events/ was made. */
static void maybe_save_seed(const char *name, const char *hex)
{
	const char *dir = getenv("KARPA_CHAIN_SEED_DIR");
	char path[FS_PATH_MAX];
	size_t n = (strlen(hex) - 2) / 2;
	uint8_t *b = malloc(n + 1);
	FILE *f;

	if (!dir || !*dir) {
		free(b);
		return;
	}
	b[0] = 1;
	sodium_hex2bin(b + 1, n, hex + 2, 2 * n, NULL, NULL, NULL);
	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, n + 1, f), n + 1);
	assert_int_equal(fclose(f), 0);
	free(b);
}

/* ------------------------------------------------- against polkadot-js */

static json_t *u16s(const uint16_t *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_integer(v[i]));
	return a;
}

static void hexs(const uint8_t *b, size_t n, char *out)
{
	cn_hex(b, n, out);
}

/* One case of tests/chain_polkadot.mjs from a dry run: the chain state is
 * what the node served (genesis = block 0, the era born at the finalised
 * head 100, nonce 7, spec 351/1). */
static json_t *polkadot_case(const struct chain_send_report *r, const char *call)
{
	uint8_t seed[32], genesis[32], birth[32];
	char seed_h[80], gen_h[80], birth_h[80], hash_h[80];
	json_t *args = json_object(), *j;

	memset(seed, 0x42, sizeof seed);
	cn_block_hash(0, genesis);
	cn_block_hash(100, birth);
	hexs(seed, 32, seed_h);
	hexs(genesis, 32, gen_h);
	hexs(birth, 32, birth_h);
	hexs(r->commit_hash, 32, hash_h);
	json_object_set_new(args, "netuid", json_integer(NETUID));
	if (!strcmp(call, "set_weights")) {
		json_object_set_new(args, "dests", u16s(r->uids, r->n));
		json_object_set_new(args, "weights", u16s(r->vals, r->n));
		json_object_set_new(args, "version_key", json_integer((json_int_t)r->version_key));
	} else {
		json_object_set_new(args, "commit_hash", json_string(hash_h));
	}
	j = json_pack("{s:s, s:s, s:o, s:i, s:i, s:s, s:i, s:s, s:i, s:i, s:i}", "seed", seed_h, "call", call, "args",
		      args, "spec", CN_SPEC_VERSION, "txv", CN_TX_VERSION, "genesis", gen_h, "block", 100, "block_hash",
		      birth_h, "period", (int)CHAIN_ERA_PERIOD_DEFAULT, "nonce", 7, "tip", 0);
	if (strcmp(call, "set_weights"))
		json_object_set_new(j, "commit",
				    json_pack("{s:i, s:o, s:o, s:o, s:I}", "netuid", NETUID, "uids", u16s(r->uids, r->n),
					      "values", u16s(r->vals, r->n), "salt", u16s(r->salt, CHAIN_SALT_LEN),
					      "version_key", (json_int_t)r->version_key));
	return j;
}

/* What the sender builds from the node's state is byte for byte what
 * polkadot-js builds from the same state: set_weights, and commit_weights
 * with the commit hash over the report's salt. Fails, never skips, when
 * node or the packages are missing (scripts/setup.sh installs them). */
static void test_dry_run_matches_polkadot_js(void **state)
{
	struct fx *f = *state;
	struct chain_send_report set, commit;
	char npm[FS_PATH_MAX], probe[FS_PATH_MAX + 64], in[FS_PATH_MAX], *out = malloc(1 << 20), xt[8192];
	const char *src = getenv("KARPA_SRC");
	json_t *root, *res;
	struct kerr e;

	assert_non_null(out);
	set_commit_reveal(0);
	assert_int_equal(send_w(f, 1, &set), 0);
	set_commit_reveal(1);
	assert_int_equal(send_w(f, 1, &commit), 0);
	assert_int_equal(cn_count(&g_node, "author_submitExtrinsic"), 0);
	assert_int_equal(fs_cache_dir(npm, sizeof npm, &e), 0);
	strncat(npm, "/npm", sizeof npm - strlen(npm) - 1);
	snprintf(probe, sizeof probe, "%s/node_modules/@polkadot/types/package.json", npm);
	if (!fs_exists(probe))
		fail_msg("@polkadot/types is not installed in %s: run scripts/setup.sh", npm);
	root = json_pack("{s:s, s:[o, o]}", "metadata", "", "cases", polkadot_case(&set, "set_weights"),
			 polkadot_case(&commit, "commit_weights"));
	{
		char path[FS_PATH_MAX];

		cn_metadata_path(path, sizeof path);
		json_object_set_new(root, "metadata", json_string(path));
	}
	snprintf(in, sizeof in, "%s/cases.json", f->st.tmp);
	assert_int_equal(json_dump_file(root, in, 0), 0);
	json_decref(root);
	tu_run_want(out, 1 << 20, 0, "KARPA_NPM_DIR='%s' timeout 120 node '%s/tests/chain_polkadot.mjs' '%s'", npm,
		    src && *src ? src : ".", in);
	{
		size_t len = strlen(out);
		char *last;

		while (len && out[len - 1] == '\n')
			out[--len] = '\0';
		last = strrchr(out, '\n');
		res = json_loads(last ? last + 1 : out, 0, NULL);
	}
	if (!json_is_array(res) || json_array_size(res) != 2)
		fail_msg("chain_polkadot.mjs printed no 2 results:\n%s", out);
	hexs(set.xt, set.xt_len, xt);
	assert_string_equal(xt, tu_jstr(json_array_get(res, 0), "extrinsic"));
	hexs(commit.xt, commit.xt_len, xt);
	assert_string_equal(xt, tu_jstr(json_array_get(res, 1), "extrinsic"));
	hexs(commit.commit_hash, 32, xt);
	assert_string_equal(xt, tu_jstr(json_array_get(res, 1), "commit_hash"));
	json_decref(res);
	chain_send_report_free(&set);
	chain_send_report_free(&commit);
	free(out);
}

/* Events that do not follow the types: a reason code, never a crash. */
static void test_events_hostile(void **state)
{
	struct chain_dispatch d;
	struct kerr e;
	char *hex = enc_events(NULL, 0);
	size_t n = (strlen(hex) - 2) / 2;
	uint8_t *b = malloc(n);

	(void)state;
	maybe_save_seed("success.scale", hex);
	{
		char *failed = enc_events("NeuronNoValidatorPermit", 0);

		maybe_save_seed("failed.scale", failed);
		free(failed);
	}
	sodium_hex2bin(b, n, hex + 2, 2 * n, NULL, NULL, NULL);
	assert_int_equal(chain_events_outcome(g_meta, b, n, 1, &d, &e), 0);
	assert_int_equal(d.outcome, CHAIN_OUTCOME_SUCCESS);
	assert_int_equal(chain_events_outcome(g_meta, b, n, 9, &d, &e), 0);
	assert_int_equal(d.outcome, CHAIN_OUTCOME_NONE);
	for (size_t cut = 0; cut < n; cut++) {
		assert_int_equal(chain_events_outcome(g_meta, b, cut, 1, &d, &e), -1);
		assert_string_equal(e.code, "chain.events_decode");
	}
	for (size_t i = 0; i < n; i++) { /* every byte flipped: decoded or refused */
		uint8_t keep = b[i];

		b[i] ^= 0xff;
		if (chain_events_outcome(g_meta, b, n, 1, &d, &e) < 0)
			assert_string_equal(e.code, "chain.events_decode");
		b[i] = keep;
	}
	{ /* a dispatch error other than Module: named, no indices */
		char *bo = enc_events("BadOrigin", 0);
		size_t nb = (strlen(bo) - 2) / 2;
		uint8_t *bb = malloc(nb);

		sodium_hex2bin(bb, nb, bo + 2, 2 * nb, NULL, NULL, NULL);
		assert_int_equal(chain_events_outcome(g_meta, bb, nb, 1, &d, &e), 0);
		assert_int_equal(d.outcome, CHAIN_OUTCOME_FAILED);
		assert_false(d.is_module);
		assert_string_equal(d.error_variant, "BadOrigin");
		free(bb);
		free(bo);
	}
	{ /* two outcomes for one extrinsic (the fuzz target's first finding,
	   * corpus/chain_events/two_outcomes.scale): refused, whichever order */
		struct scale_writer w2;

		scale_writer_init(&w2, 1 << 16, &e);
		scale_put_compact(&w2, 2);
		enc_record(&w2, 1, "System", "ExtrinsicFailed", "SubtensorModule", error_index("NeuronNoValidatorPermit"));
		enc_record(&w2, 1, "System", "ExtrinsicSuccess", NULL, 0);
		assert_int_equal(chain_events_outcome(g_meta, w2.buf, w2.len, 1, &d, &e), -1);
		assert_string_equal(e.code, "chain.events_decode");
		assert_non_null(strstr(e.msg, "two dispatch outcomes"));
		scale_writer_free(&w2);
	}
	b[0] = 0xfe; /* a count far past the bytes */
	assert_int_equal(chain_events_outcome(g_meta, b, n, 1, &d, &e), -1);
	free(b);
	free(hex);
}

/* alice's king change, crowned five seconds ago, consistent with git as validator_open
 * checks it: the new tag names the first king's commit. */
static void crown_alice(struct cr_state *c)
{
	char now[VSTATE_TIME_BYTES], out[1024];
	time_t t = time(NULL) - 5;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", &tm);
	cr_sub(&c->s, "s1", "alice", "accepted_king", NULL, NULL);
	cr_king(&c->s, "recipe-v0.1.1", "s1", "alice", 0.02, 1.0, now);
	cr_exec(&c->s, "UPDATE kings SET commit_id = (SELECT commit_id FROM kings WHERE tag = 'recipe-v0.1.0')"
		       " WHERE tag = 'recipe-v0.1.1'");
	tu_run_want(out, sizeof out, 0, "git -C %s/recipe tag recipe-v0.1.1 recipe-v0.1.0", c->state);
}

/* alice crowned and registered at uid, the hotkey saved to keyf,
 * commit-reveal off. */
static void chain_ready(struct fx *f, uint16_t uid, char keyf[FS_PATH_MAX])
{
	uint8_t acct[32];
	struct kerr e;

	crown_alice(&f->st);
	assert_int_equal(keys_hex_decode(cr_miner("alice"), acct, 32), 0);
	register_uid(acct, uid);
	snprintf(keyf, FS_PATH_MAX, "%s/hot.key", f->st.tmp);
	assert_int_equal(chain_key_save(keyf, &f->key, &e), 0);
	set_commit_reveal(0);
}

/* `karpa chain weights`: a dry run prints the call and submits nothing;
 * a real run lands. */
static void test_cli(void **state)
{
	struct fx *f = *state;
	struct weights w = { 0 };
	struct weights_sink sink = ledger_sink(&f->st.s);
	char out[16384], keyf[FS_PATH_MAX];
	struct kerr e;

	chain_ready(f, 9, keyf);
	if (weights_close_epoch(&f->st.s, 1, 3600, &sink, &w, &e) < 0)
		fail_msg("close: %s: %s", e.code, e.msg);
	assert_int_equal(w.n, 1);
	weights_free(&w);
	vstate_close(&f->st.s);
	tu_run_want(out, sizeof out, 0, "%s chain weights %s --endpoint %s --netuid %d --hotkey %s --dry-run",
		    tu_karpa_san(), f->st.state, g_node.url, NETUID, keyf);
	assert_non_null(strstr(out, "call set_weights"));
	assert_non_null(strstr(out, "uids 9"));
	assert_non_null(strstr(out, "values 65535"));
	assert_non_null(strstr(out, "version_key "));
	assert_non_null(strstr(out, "\n0x"));
	assert_int_equal(cn_count(&g_node, "author_submitExtrinsic"), 0);
	tu_run_want(out, sizeof out, 0, "%s chain weights %s --endpoint %s --netuid %d --hotkey %s --epoch 1",
		    tu_karpa_san(), f->st.state, g_node.url, NETUID, keyf);
	assert_non_null(strstr(out, "landed"));
	assert_int_equal(cn_count(&g_node, "author_submitExtrinsic"), 1);
	assert_string_equal(g_rt.seen[0].call, "set_weights");
	assert_int_equal(g_rt.seen[0].uids[0], 9);
	/* an epoch the ledger does not have */
	tu_run_want(out, sizeof out, 1, "%s chain weights %s --endpoint %s --netuid %d --hotkey %s --epoch 5",
		    tu_karpa_san(), f->st.state, g_node.url, NETUID, keyf);
	assert_non_null(strstr(out, "ledger.not_found"));
	if (validator_open(f->st.state, &f->st.s, &e) < 0)
		fail_msg("reopen: %s", e.msg);
	/* a ledger entry whose miner key was edited in the database, into a
	 * key that is no key and into another miner's (weights sent to bob
	 * that the ledger signed for alice): refused, naming the epoch,
	 * before anything is signed or sent */
	{
		char to[2][HASH_HEX_BYTES]; /* cr_miner's buffers are reused */

		snprintf(to[0], sizeof to[0], "%s", cr_miner("alice"));
		to[0][63] = 'z';
		snprintf(to[1], sizeof to[1], "%s", cr_miner("bob"));
		for (int i = 0; i < 2; i++) {
			char sql[512];

			snprintf(sql, sizeof sql, "UPDATE ledger SET body = replace(body, '%s', '%s') WHERE epoch = 1",
				 cr_miner("alice"), to[i]);
			cr_exec(&f->st.s, sql);
			vstate_close(&f->st.s);
			tu_run_want(out, sizeof out, 1,
				    "%s chain weights %s --endpoint %s --netuid %d --hotkey %s --epoch 1",
				    tu_karpa_san(), f->st.state, g_node.url, NETUID, keyf);
			assert_non_null(strstr(out, "karpa: ledger.tampered: "));
			assert_non_null(strstr(out, "ledger epoch 1: body"));
			assert_int_equal(cn_count(&g_node, "author_submitExtrinsic"), 1);
			if (validator_open(f->st.state, &f->st.s, &e) < 0)
				fail_msg("reopen: %s", e.msg);
			snprintf(sql, sizeof sql, "UPDATE ledger SET body = replace(body, '%s', '%s') WHERE epoch = 1",
				 to[i], cr_miner("alice"));
			cr_exec(&f->st.s, sql);
		}
	}
}

/* The service's sink turns each closed epoch's vector into chain miners:
 * a key that is not 64 hex digits (a vector damaged on its way) fails the
 * whole vector, not just its entry. */
static void test_sink_refuses_bad_miners(void **state)
{
	struct weights_entry e[2] = { { .score = 1.0 }, { .score = 2.0 } };
	struct weights w = { .epoch = 7, .n = 2, .e = e };
	struct chain_miner *m = NULL;
	size_t n = 0;
	struct kerr err;

	(void)state;
	snprintf(e[0].miner, sizeof e[0].miner, "%s", cr_miner("alice"));
	snprintf(e[1].miner, sizeof e[1].miner, "%s", cr_miner("bob"));
	assert_int_equal(chainsink_miners(&w, &m, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_true(m[1].score == 2.0);
	free(m);
	e[1].miner[63] = 'g';
	assert_int_equal(chainsink_miners(&w, &m, &n, &err), -1);
	assert_string_equal(err.code, "chainsink.bad_miner");
	assert_non_null(strstr(err.msg, "epoch 7"));
	assert_null(m);
	assert_int_equal(n, 0);
	e[1].miner[63] = '\0'; /* 63 digits */
	assert_int_equal(chainsink_miners(&w, &m, &n, &err), -1);
	assert_string_equal(err.code, "chainsink.bad_miner");
	assert_null(m);
}

/* `validator serve --chain`: epochs close into the ledger whatever the
 * chain says; the first send is refused (too fast: counted by code in
 * /metrics), a later epoch's lands. */
static void test_serve(void **state)
{
	struct fx *f = *state;
	struct sf_service sv;
	char out[16384], keyf[FS_PATH_MAX], dir[FS_PATH_MAX];
	struct kerr e;
	const char *extra[12];
	int landed = 0;

	chain_ready(f, 3, keyf);
	cn_fail_rpc(&g_node, "author_submitExtrinsic", 1, 1010, "Invalid Transaction", "Custom error: 6");
	vstate_close(&f->st.s);
	snprintf(dir, sizeof dir, "%s", f->st.tmp);
	extra[0] = "--epoch-seconds";
	extra[1] = "1";
	extra[2] = "--chain";
	extra[3] = g_node.url;
	extra[4] = "--netuid";
	extra[5] = "16";
	extra[6] = "--hotkey";
	extra[7] = keyf;
	extra[8] = NULL;
	sf_start(&sv, dir, f->st.state, extra);
	for (int i = 0; i < 200 && !landed; i++) {
		usleep(50 * 1000);
		pthread_mutex_lock(&g_rt.mu);
		for (int j = 0; j < g_rt.nseen; j++)
			landed |= !strcmp(g_rt.seen[j].call, "set_weights");
		pthread_mutex_unlock(&g_rt.mu);
	}
	assert_true(landed);
	assert_true(g_rt.seen[0].sig_ok);
	assert_int_equal(g_rt.seen[0].uids[0], 3);
	tu_run_want(out, sizeof out, 0, "curl -s %s/metrics", sv.url);
	assert_non_null(strstr(out, "karpa_chain_failures_total{code=\"chain.setting_weights_too_fast\"} 1"));
	assert_non_null(strstr(out, "karpa_chain_submissions_total"));
	sf_stop(&sv, SIGTERM);
	/* the ledger has every epoch closed, the refused one included */
	tu_run_want(out, sizeof out, 0, "%s ledger %s verify", tu_karpa_san(), f->st.state);
	if (validator_open(f->st.state, &f->st.s, &e) < 0)
		fail_msg("reopen: %s", e.msg);
	{
		long long last = 0;

		assert_int_equal(ledger_last_epoch(&f->st.s, &last, &e), 0);
		assert_true(last >= 2);
	}
}

/* The service's sink counts a commit it kept after a failure (it landed in
 * a block with no events: its outcome unknown) as pending, which is what
 * wakes its worker for reveals between epochs. */
static void test_sink_counts_kept_commit(void **state)
{
	struct fx *f = *state;
	struct weights_entry e[1] = { { .score = 1.0 } };
	struct weights w = { .epoch = 7, .n = 1, .e = e };
	struct chainsink_opts o = { 0 };
	struct chainsink *c = NULL;
	char keyf[FS_PATH_MAX], *text = NULL;
	size_t len = 0;
	struct kerr err;
	int done = 0;

	keys_hex_encode(f->miners[0].account, 32, e[0].miner);
	snprintf(keyf, sizeof keyf, "%s/hot.key", f->st.tmp);
	assert_int_equal(chain_key_save(keyf, &f->key, &err), 0);
	set_tempo(9);
	set_events(EVENTS_NONE);
	o.endpoint = g_node.url;
	o.netuid = NETUID;
	o.hotkey = keyf;
	o.version_key = 2000;
	o.follow_ms = 2000;
	o.poll_ms = 5;
	if (chainsink_start(&c, &o, &f->st.s, NULL, &err) < 0)
		fail_msg("start: %s: %s", err.code, err.msg);
	chainsink_offer(c, &w);
	for (int i = 0; i < 400 && !done; i++) {
		FILE *mf = open_memstream(&text, &len);

		assert_non_null(mf);
		chainsink_metrics(c, mf);
		fclose(mf);
		done = strstr(text, "karpa_chain_failures_total{code=\"chain.dispatch_unknown\"} 1") != NULL;
		if (!done) {
			free(text);
			text = NULL;
			usleep(25 * 1000);
		}
	}
	chainsink_stop(c);
	assert_true(done);
	assert_non_null(strstr(text, "\nkarpa_chain_pending_commits 1\n"));
	free(text);
	assert_int_equal(commits_kept(f), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_set_weights, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_weights_sr25519, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dry_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dry_run_matches_polkadot_js, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_included, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dispatch_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cli, setup, teardown),
		cmocka_unit_test_setup_teardown(test_serve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sink_counts_kept_commit, setup, teardown),
		cmocka_unit_test(test_sink_refuses_bad_miners),
	};
	int rc;

	if (sodium_init() < 0)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	meta_free(g_meta);
	return rc;
}
