/* test_chain_rpc.c: the chain transport (src/chain/rpc.c, rpc_errors.c)
 * against a local subtensor-like node on loopback (tests/chain_node.h):
 * every typed wrapper, every scripted failure and the reason code it must
 * give, retry counts and backoff bounds, a submission that is never sent
 * twice, junk answers that never crash; and the storage keys
 * (src/chain/storage.c) against published values and polkadot-js. */
#include "testutil.h"

#include "chain_node.h"
#include "chain/metadata.h"
#include "chain/rpc.h"
#include "chain/storage.h"

#define WAITS_MAX 32
#define SS58_ALICE "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
#define ALICE_HEX "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d"
#define OUT_CAP (64 * 1024)

static struct cn_node g_node;

/* The waits the client asked for, recorded instead of slept. */
struct waits {
	long ms[WAITS_MAX];
	int n;
};

static void record_wait(void *ctx, long ms)
{
	struct waits *w = ctx;

	if (w->n < WAITS_MAX)
		w->ms[w->n] = ms;
	w->n++;
}

struct fx {
	struct chain_rpc *r;
	struct chain_rpc_opts o;
	struct waits w;
	struct kerr e;
};

static void open_client(struct fx *f, const char *url)
{
	chain_rpc_opts_default(&f->o);
	f->o.tries = 4;
	f->o.timeout_ms = 3000;
	f->o.connect_timeout_ms = 1000;
	f->o.backoff_base_ms = 100;
	f->o.backoff_max_ms = 1000;
	f->o.sleep_ms = record_wait;
	f->o.sleep_ctx = &f->w;
	if (chain_rpc_open(&f->r, url, &f->o, &f->e) < 0)
		fail_msg("open: %s: %s", f->e.code, f->e.msg);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);

	cn_forget(&g_node);
	g_node.head = 100;
	g_node.nonce = 7;
	g_node.stall_ms = 5000;
	open_client(f, g_node.url);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	chain_rpc_close(f->r);
	free(f);
	return 0;
}

static int group_setup(void **state)
{
	/* a proxy from the environment must not see loopback traffic */
	setenv("no_proxy", "127.0.0.1,localhost", 1);
	setenv("NO_PROXY", "127.0.0.1,localhost", 1);
	cn_start(&g_node);
	return 0;
}

static int group_teardown(void **state)
{
	cn_stop(&g_node);
	return 0;
}

static void want_code(int rc, const struct kerr *e, const char *code)
{
	if (rc != -1 || strcmp(e->code, code))
		fail_msg("want %s, got rc %d %s: %s", code, rc, e->code, e->msg);
}

static void want_ok(int rc, const struct kerr *e)
{
	if (rc != 0)
		fail_msg("want success, got %s: %s", e->code, e->msg);
}

static int attempts(struct fx *f)
{
	struct chain_rpc_stats s;

	chain_rpc_last_stats(f->r, &s);
	return s.attempts;
}

static void hex_of(const uint8_t *b, size_t n, char *out)
{
	sodium_bin2hex(out, 2 * n + 1, b, n);
}

/* ------------------------------------------------------------ wrappers */

/* chain_getBlockHash: by number, the best one, and a block the node lacks. */
static void block_hash_by_number_and_best(void **state)
{
	struct fx *f = *state;
	uint8_t h[32], want[32];
	struct cn_req q;

	want_ok(chain_rpc_block_hash(f->r, 5, h, &f->e), &f->e);
	cn_block_hash(5, want);
	assert_memory_equal(h, want, 32);
	q = cn_req_at(&g_node, 0);
	assert_string_equal(q.method, "chain_getBlockHash");
	assert_string_equal(q.params, "[5]");
	want_ok(chain_rpc_best_hash(f->r, h, &f->e), &f->e);
	cn_block_hash(100, want);
	assert_memory_equal(h, want, 32);
	assert_string_equal(cn_req_at(&g_node, 1).params, "[]");
	want_code(chain_rpc_block_hash(f->r, 101, h, &f->e), &f->e, "chain.block_unknown");
	/* past a u32 block number: refused before any request */
	want_code(chain_rpc_block_hash(f->r, 1ull << 33, h, &f->e), &f->e, "chain.block_unknown");
	assert_int_equal(cn_count(&g_node, "chain_getBlockHash"), 3);
	/* ids grow, one per request */
	assert_true(cn_req_at(&g_node, 1).id > cn_req_at(&g_node, 0).id);
}

/* chain_getHeader: number and parent of a given block and of the best. */
static void header_number_and_parent(void **state)
{
	struct fx *f = *state;
	struct chain_header h;
	uint8_t b10[32], b9[32], b99[32], unknown[32] = { 1 };
	char hex[67];

	cn_block_hash(10, b10);
	cn_block_hash(9, b9);
	cn_block_hash(99, b99);
	want_ok(chain_rpc_header(f->r, b10, &h, &f->e), &f->e);
	assert_int_equal(h.number, 10);
	assert_memory_equal(h.parent, b9, 32);
	cn_hex(b10, 32, hex);
	assert_non_null(strstr(cn_req_at(&g_node, 0).params, hex));
	want_ok(chain_rpc_header(f->r, NULL, &h, &f->e), &f->e);
	assert_int_equal(h.number, 100);
	assert_memory_equal(h.parent, b99, 32);
	want_code(chain_rpc_header(f->r, unknown, &h, &f->e), &f->e, "chain.block_unknown");
}

static void runtime_version_fields(void **state)
{
	struct fx *f = *state;
	struct chain_runtime_version v;
	uint8_t at[32];

	want_ok(chain_rpc_runtime_version(f->r, NULL, &v, &f->e), &f->e);
	assert_int_equal(v.spec_version, CN_SPEC_VERSION);
	assert_int_equal(v.transaction_version, CN_TX_VERSION);
	assert_string_equal(v.spec_name, "node-subtensor");
	cn_block_hash(3, at);
	want_ok(chain_rpc_runtime_version(f->r, at, &v, &f->e), &f->e);
	assert_non_null(strstr(cn_req_at(&g_node, 1).params, "0x"));
}

/* state_getMetadata: the fixture's bytes, whole; and a cap below its size
 * refuses the answer while it streams. */
static void metadata_bytes_and_cap(void **state)
{
	struct fx *f = *state;
	struct chain_rpc *small;
	uint8_t *b = NULL;
	size_t n = 0;

	want_ok(chain_rpc_metadata(f->r, NULL, &b, &n, &f->e), &f->e);
	assert_int_equal(n, 302778);
	assert_int_equal(n, g_node.metadata_len);
	assert_memory_equal(b, "meta", 4);
	assert_int_equal(b[4], 0x10); /* V16 */
	assert_memory_equal(b, g_node.metadata, n);
	free(b);
	f->o.metadata_bytes_max = 100000;
	assert_int_equal(chain_rpc_open(&small, g_node.url, &f->o, &f->e), 0);
	want_code(chain_rpc_metadata(small, NULL, &b, &n, &f->e), &f->e, "chain.rpc_too_large");
	assert_null(b);
	chain_rpc_close(small);
}

static void key_hex(const struct chain_storage_key *k, char *out)
{
	cn_hex(k->b, k->len, out);
}

/* state_getStorage through the subtensor keys: commit-reveal on, off and
 * unset (the default, on), a uid, a hotkey, a value of the wrong size. */
static void storage_subtensor_items(void **state)
{
	struct fx *f = *state;
	struct chain_storage_key k;
	char kh[2 * CHAIN_STORAGE_KEY_BYTES_MAX + 3];
	uint8_t alice[32], hot[32], *v;
	size_t n;
	int present, on, reg, assigned;
	uint16_t uid;

	sodium_hex2bin(alice, 32, ALICE_HEX, 64, NULL, NULL, NULL);
	assert_int_equal(chain_storage_key_commit_reveal(16, &k, &f->e), 0);
	key_hex(&k, kh);
	/* unset: the node answers null, the runtime's default applies */
	want_ok(chain_rpc_storage(f->r, k.b, k.len, NULL, &v, &n, &present, &f->e), &f->e);
	assert_int_equal(present, 0);
	want_ok(chain_storage_commit_reveal_value(v, n, present, &on, &f->e), &f->e);
	assert_int_equal(on, 1);
	{
		char want[sizeof kh + 8];

		snprintf(want, sizeof want, "[\"%s\"]", kh);
		assert_string_equal(cn_req_at(&g_node, 0).params, want);
	}
	cn_storage_set(&g_node, kh, "0x01"); /* commit-reveal on */
	want_ok(chain_rpc_storage(f->r, k.b, k.len, NULL, &v, &n, &present, &f->e), &f->e);
	assert_int_equal(present, 1);
	want_ok(chain_storage_commit_reveal_value(v, n, present, &on, &f->e), &f->e);
	assert_int_equal(on, 1);
	free(v);
	cn_storage_set(&g_node, kh, "0x00");
	want_ok(chain_rpc_storage(f->r, k.b, k.len, NULL, &v, &n, &present, &f->e), &f->e);
	want_ok(chain_storage_commit_reveal_value(v, n, present, &on, &f->e), &f->e);
	assert_int_equal(on, 0);
	free(v);
	cn_storage_set(&g_node, kh, "0x02"); /* not a bool */
	want_ok(chain_rpc_storage(f->r, k.b, k.len, NULL, &v, &n, &present, &f->e), &f->e);
	want_code(chain_storage_commit_reveal_value(v, n, present, &on, &f->e), &f->e, "chain.storage_value");
	free(v);
	cn_storage_set(&g_node, kh, NULL);

	assert_int_equal(chain_storage_key_uids(16, alice, &k, &f->e), 0);
	key_hex(&k, kh);
	want_ok(chain_rpc_storage(f->r, k.b, k.len, NULL, &v, &n, &present, &f->e), &f->e);
	want_ok(chain_storage_uid_value(v, n, present, &reg, &uid, &f->e), &f->e);
	assert_int_equal(reg, 0);
	cn_storage_set(&g_node, kh, "0x0501"); /* uid 261 */
	want_ok(chain_rpc_storage(f->r, k.b, k.len, NULL, &v, &n, &present, &f->e), &f->e);
	want_ok(chain_storage_uid_value(v, n, present, &reg, &uid, &f->e), &f->e);
	assert_int_equal(reg, 1);
	assert_int_equal(uid, 261);
	free(v);
	cn_storage_set(&g_node, kh, "0x050100");
	want_ok(chain_rpc_storage(f->r, k.b, k.len, NULL, &v, &n, &present, &f->e), &f->e);
	want_code(chain_storage_uid_value(v, n, present, &reg, &uid, &f->e), &f->e, "chain.storage_value");
	free(v);

	assert_int_equal(chain_storage_key_keys(16, 261, &k, &f->e), 0);
	key_hex(&k, kh);
	cn_storage_set(&g_node, kh, "0x" ALICE_HEX);
	want_ok(chain_rpc_storage(f->r, k.b, k.len, NULL, &v, &n, &present, &f->e), &f->e);
	want_ok(chain_storage_hotkey_value(v, n, present, hot, &assigned, &f->e), &f->e);
	assert_int_equal(assigned, 1);
	assert_memory_equal(hot, alice, 32);
	free(v);
	want_ok(chain_storage_hotkey_value(NULL, 0, 0, hot, &assigned, &f->e), &f->e);
	assert_int_equal(assigned, 0);
	/* the all-zero default account holds no uid */
	memset(alice, 0, sizeof alice);
	want_ok(chain_storage_hotkey_value(alice, 32, 1, hot, &assigned, &f->e), &f->e);
	assert_int_equal(assigned, 0);
	want_code(chain_storage_hotkey_value(alice, 31, 1, hot, &assigned, &f->e), &f->e, "chain.storage_value");
	/* no key, no request */
	want_code(chain_rpc_storage(f->r, k.b, 0, NULL, &v, &n, &present, &f->e), &f->e, "chain.rpc_params");
}

static void account_next_index(void **state)
{
	struct fx *f = *state;
	uint64_t nonce = 0;

	want_ok(chain_rpc_account_next_index(f->r, SS58_ALICE, &nonce, &f->e), &f->e);
	assert_int_equal(nonce, 7);
	assert_string_equal(cn_req_at(&g_node, 0).params, "[\"" SS58_ALICE "\"]");
	/* 0, O, I and l are not base58: refused before any request */
	want_code(chain_rpc_account_next_index(f->r, "5Grw0OIl", &nonce, &f->e), &f->e, "chain.rpc_params");
	want_code(chain_rpc_account_next_index(f->r, "", &nonce, &f->e), &f->e, "chain.rpc_params");
	assert_int_equal(cn_count(&g_node, "system_accountNextIndex"), 1);
}

/* author_submitExtrinsic: the hash is blake2b-256 of the bytes, and the
 * node received exactly their hex. */
static void submit_returns_the_hash(void **state)
{
	struct fx *f = *state;
	uint8_t xt[300], h[32], want[32];
	char hex[2 * sizeof xt + 3];

	for (size_t i = 0; i < sizeof xt; i++)
		xt[i] = (uint8_t)(i * 7 + 3);
	want_ok(chain_rpc_submit(f->r, xt, sizeof xt, h, &f->e), &f->e);
	crypto_generichash(want, 32, xt, sizeof xt, NULL, 0);
	assert_memory_equal(h, want, 32);
	cn_hex(xt, sizeof xt, hex);
	assert_string_equal(g_node.submitted, hex);
	assert_int_equal(attempts(f), 1);
	assert_int_equal(g_node.nonce, 8);
	want_code(chain_rpc_submit(f->r, xt, 0, h, &f->e), &f->e, "chain.rpc_params");
}

/* After a submission: the block that holds it, found by its hash; a block
 * without it says -1; the System.Events key to read there is System's. */
static void submitted_extrinsic_found_in_its_block(void **state)
{
	struct fx *f = *state;
	uint8_t xt[50], h[32], other[32] = { 7 }, block[32];
	struct chain_storage_key k;
	char hex[2 * CHAIN_STORAGE_KEY_BYTES_MAX + 1];
	long index = 99;

	memset(xt, 0x5a, sizeof xt);
	want_ok(chain_rpc_submit(f->r, xt, sizeof xt, h, &f->e), &f->e);
	want_ok(chain_rpc_best_hash(f->r, block, &f->e), &f->e);
	want_ok(chain_rpc_find_extrinsic(f->r, block, h, &index, &f->e), &f->e);
	assert_int_equal(index, 1); /* after the block's inherent */
	want_ok(chain_rpc_find_extrinsic(f->r, block, other, &index, &f->e), &f->e);
	assert_int_equal(index, -1);
	cn_block_hash(100, block); /* the block before it */
	want_ok(chain_rpc_find_extrinsic(f->r, block, h, &index, &f->e), &f->e);
	assert_int_equal(index, -1);
	memset(block, 0xee, sizeof block);
	want_code(chain_rpc_find_extrinsic(f->r, block, h, &index, &f->e), &f->e, "chain.block_unknown");
	cn_fail(&g_node, "chain_getBlock", CN_WRONG_TYPE, 1);
	want_code(chain_rpc_find_extrinsic(f->r, block, h, &index, &f->e), &f->e, "chain.rpc_bad_type");
	want_ok(chain_storage_key_system_events(&k, &f->e), &f->e);
	hex_of(k.b, k.len, hex);
	/* published: System.Events' key */
	assert_string_equal(hex, "26aa394eea5630e07c48ae0c9558cef780d41e5e16056765bc8461851072c9d7");
}

/* ------------------------------------------------------------ chain errors */

struct chain_case {
	long long code;
	const char *message, *data, *want, *says;
};

/* What a subtensor node answers to a refused submission, and the reason
 * code each must become; none of them is retried. */
static void submit_chain_errors_named(void **state)
{
	static const struct chain_case cases[] = {
		{ 1010, "Invalid Transaction", "Transaction is outdated", "chain.nonce_stale", "outdated" },
		{ 1010, "Invalid Transaction", "Transaction will be valid in the future", "chain.nonce_future", "future" },
		{ 1010, "Invalid Transaction", "Transaction has a bad signature", "chain.bad_signature", "signature" },
		{ 1010, "Invalid Transaction", "Transaction has an ancient birth block", "chain.ancient_birth_block",
		  "ancient" },
		{ 1010, "Invalid Transaction", "Inability to pay some fees (e.g. account balance too low)",
		  "chain.payment", "fees" },
		{ 1010, "Invalid Transaction", "Transaction would exhaust the block limits", "chain.exhausts_resources",
		  "exhaust" },
		{ 1010, "Invalid Transaction", "Transaction call is not expected", "chain.call_invalid", "call" },
		{ 1010, "Invalid Transaction", "Something new", "chain.invalid_tx", "Something new" },
		{ 1010, "Invalid Transaction", NULL, "chain.invalid_tx", "no reason" },
		/* subtensor's CustomTransactionError by number */
		{ 1010, "Invalid Transaction", "Custom error: 6", "chain.setting_weights_too_fast", "RateLimitExceeded" },
		{ 1010, "Invalid Transaction", "Custom error: 1", "chain.stake_too_low", "StakeAmountTooLow" },
		{ 1010, "Invalid Transaction", "Custom error: 0", "chain.coldkey_swap", "ColdkeyInSwapSchedule" },
		{ 1010, "Invalid Transaction", "Custom error: 3", "chain.no_subnet", "SubnetNotExists" },
		{ 1010, "Invalid Transaction", "Custom error: 10", "chain.not_registered", "HotKeyNotRegisteredInNetwork" },
		{ 1010, "Invalid Transaction", "Custom error: 19", "chain.not_registered", "UidNotFound" },
		{ 1010, "Invalid Transaction", "Custom error: 15", "chain.reveal_window", "InvalidRevealRound" },
		{ 1010, "Invalid Transaction", "Custom error: 16", "chain.commit_not_found", "CommitNotFound" },
		{ 1010, "Invalid Transaction", "Custom error: 17", "chain.reveal_window", "CommitBlockNotInRevealRange" },
		{ 1010, "Invalid Transaction", "Custom error: 18", "chain.weights_invalid", "InputLengthsUnequal" },
		{ 1010, "Invalid Transaction", "Custom error: 2", "chain.custom_error", "BalanceTooLow" },
		{ 1010, "Invalid Transaction", "Custom error: 255", "chain.bad_request", "BadRequest" },
		{ 1010, "Invalid Transaction", "Custom error: 200", "chain.custom_error", "200" },
		{ 1010, "Invalid Transaction", "Custom error: 256", "chain.invalid_tx", "256" },
		{ 1010, "Invalid Transaction", "Custom error: -1", "chain.invalid_tx", "-1" },
		{ 1010, "Invalid Transaction", "Custom error: 6x", "chain.invalid_tx", "6x" },
		{ 1011, "Unknown Transaction Validity", "CannotLookup", "chain.unknown_validity", "CannotLookup" },
		{ 1012, "Transaction is temporarily banned", NULL, "chain.tx_banned", "banned" },
		{ 1013, "Transaction Already Imported", "0xab", "chain.tx_already_imported", "Already" },
		{ 1014, "Priority is too low: (10 vs 10)",
		  "The transaction has too low priority to replace another transaction already in the pool.",
		  "chain.priority_too_low", "same nonce" },
		{ 1016, "Immediately Dropped", "The transaction couldn't enter the pool because of the limit",
		  "chain.pool_rejected", "limit" },
		{ 1001, "Extrinsic has invalid format: Could not decode", NULL, "chain.bad_extrinsic", "decode" },
		{ -32601, "Method not found", NULL, "chain.rpc_method", "Method" },
		{ -32602, "Invalid params", "invalid hex", "chain.rpc_refused", "invalid hex" },
		{ 4003, "Client error: Execution failed", "\x01\nline", "chain.rpc_error", "Execution failed" },
	};
	struct fx *f = *state;
	uint8_t xt[8] = { 1, 2, 3 }, h[32];

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const struct chain_case *c = &cases[i];

		cn_fail_rpc(&g_node, "author_submitExtrinsic", 1, c->code, c->message, c->data);
		want_code(chain_rpc_submit(f->r, xt, sizeof xt, h, &f->e), &f->e, c->want);
		if (!strstr(f->e.msg, c->says))
			fail_msg("case %zu (%s): message \"%s\" lacks \"%s\"", i, c->want, f->e.msg, c->says);
		assert_null(strchr(f->e.msg, '\n'));
		assert_int_equal(attempts(f), 1);
	}
	assert_int_equal(cn_count(&g_node, "author_submitExtrinsic"), (int)(sizeof cases / sizeof *cases));
	assert_int_equal(f->w.n, 0);
}

/* A node without a method answers -32601 on reads too: named, not retried. */
static void read_chain_error_not_retried(void **state)
{
	struct fx *f = *state;
	struct chain_runtime_version v;

	cn_fail_rpc(&g_node, "state_getRuntimeVersion", 1, -32601, "Method not found", NULL);
	want_code(chain_rpc_runtime_version(f->r, NULL, &v, &f->e), &f->e, "chain.rpc_method");
	assert_int_equal(attempts(f), 1);
}

/* The runtime metadata's names for module errors, as the metadata reader
 * would give them (subtensor's pallet index 7 in the fixture). */
static int fake_lookup(void *ctx, uint8_t pallet, uint8_t error, char *p, size_t pcap, char *name, size_t ncap)
{
	static const struct {
		uint8_t pallet, error;
		const char *p, *name;
	} names[] = {
		{ 7, 19, "SubtensorModule", "NeuronNoValidatorPermit" },
		{ 7, 32, "SubtensorModule", "SettingWeightsTooFast" },
		{ 7, 60, "SubtensorModule", "CommitRevealEnabled" },
		{ 7, 61, "SubtensorModule", "CommitRevealDisabled" },
		{ 7, 58, "SubtensorModule", "NoWeightsCommitFound" },
		{ 7, 33, "SubtensorModule", "IncorrectWeightVersionKey" },
		{ 7, 90, "SubtensorModule", "StakeUnavailable" },
		{ 7, 59, "SubtensorModule", "InvalidRevealCommitHashNotMatch" },
		{ 7, 80, "SubtensorModule", "TooManyUnrevealedCommits" },
		{ 7, 120, "SubtensorModule", "IncorrectCommitRevealVersion" },
		{ 0, 5, "System", "CallFiltered" },
		{ 9, 9, "Evil\nPallet", "Name\x01" },
	};
	int *calls = ctx;

	(*calls)++;
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (names[i].pallet == pallet && names[i].error == error) {
			snprintf(p, pcap, "%s", names[i].p);
			snprintf(name, ncap, "%s", names[i].name);
			return 0;
		}
	return -1;
}

static void dispatch_errors_named(void **state)
{
	struct kerr e;
	int calls = 0;

	want_code(chain_rpc_dispatch_error(7, 19, fake_lookup, &calls, &e), &e, "chain.no_validator_permit");
	assert_non_null(strstr(e.msg, "SubtensorModule::NeuronNoValidatorPermit"));
	want_code(chain_rpc_dispatch_error(7, 32, fake_lookup, &calls, &e), &e, "chain.setting_weights_too_fast");
	want_code(chain_rpc_dispatch_error(7, 60, fake_lookup, &calls, &e), &e, "chain.commit_reveal_enabled");
	want_code(chain_rpc_dispatch_error(7, 61, fake_lookup, &calls, &e), &e, "chain.commit_reveal_disabled");
	want_code(chain_rpc_dispatch_error(7, 58, fake_lookup, &calls, &e), &e, "chain.commit_not_found");
	want_code(chain_rpc_dispatch_error(7, 33, fake_lookup, &calls, &e), &e, "chain.weights_version_key");
	want_code(chain_rpc_dispatch_error(7, 59, fake_lookup, &calls, &e), &e, "chain.commit_mismatch");
	want_code(chain_rpc_dispatch_error(7, 80, fake_lookup, &calls, &e), &e, "chain.too_many_commits");
	want_code(chain_rpc_dispatch_error(7, 120, fake_lookup, &calls, &e), &e, "chain.commit_reveal_version");
	/* a subtensor error that weights never meet: named, generic code */
	want_code(chain_rpc_dispatch_error(7, 90, fake_lookup, &calls, &e), &e, "chain.dispatch_error");
	assert_non_null(strstr(e.msg, "SubtensorModule::StakeUnavailable"));
	want_code(chain_rpc_dispatch_error(0, 5, fake_lookup, &calls, &e), &e, "chain.dispatch_error");
	assert_non_null(strstr(e.msg, "System::CallFiltered"));
	/* names from a hostile metadata stay on one line */
	want_code(chain_rpc_dispatch_error(9, 9, fake_lookup, &calls, &e), &e, "chain.dispatch_error");
	assert_null(strchr(e.msg, '\n'));
	assert_null(strchr(e.msg, '\x01'));
	want_code(chain_rpc_dispatch_error(7, 250, fake_lookup, &calls, &e), &e, "chain.dispatch_error");
	assert_non_null(strstr(e.msg, "not in the runtime metadata"));
	want_code(chain_rpc_dispatch_error(7, 19, NULL, NULL, &e), &e, "chain.dispatch_error");
	assert_int_equal(calls, 13);
}

/* The lookup the adapter gives chain_rpc_dispatch_error: the runtime
 * metadata's pallet and error names (chain/metadata.h). */
static int meta_lookup(void *ctx, uint8_t pallet, uint8_t error, char *p, size_t pcap, char *name, size_t ncap)
{
	const struct meta *m = ctx;
	const struct meta_pallet *mp = meta_pallet_by_index(m, pallet);
	const char *n = meta_error_name(m, pallet, error);

	if (!mp || !n)
		return -1;
	snprintf(p, pcap, "%s", mp->name);
	snprintf(name, ncap, "%s", n);
	return 0;
}

/* End to end on the devnet runtime: the metadata as the node serves it,
 * parsed, names the weight errors by their real indices. */
static void dispatch_errors_named_from_node_metadata(void **state)
{
	static const struct {
		const char *variant, *code;
	} cases[] = {
		{ "NeuronNoValidatorPermit", "chain.no_validator_permit" },
		{ "SettingWeightsTooFast", "chain.setting_weights_too_fast" },
		{ "CommitRevealEnabled", "chain.commit_reveal_enabled" },
		{ "IncorrectWeightVersionKey", "chain.weights_version_key" },
		{ "NotEnoughStakeToSetWeights", "chain.stake_too_low" },
	};
	struct fx *f = *state;
	const struct meta_pallet *sub;
	const struct meta_type *errs;
	struct meta *m = NULL;
	uint8_t *b;
	size_t n;

	want_ok(chain_rpc_metadata(f->r, NULL, &b, &n, &f->e), &f->e);
	want_ok(meta_parse(b, n, &m, &f->e), &f->e);
	free(b);
	sub = meta_pallet_by_name(m, "SubtensorModule");
	assert_non_null(sub);
	assert_int_equal(sub->index, 7);
	assert_true(sub->has_errors);
	errs = meta_type(m, sub->errors_type);
	assert_non_null(errs);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const struct meta_variant *v = meta_variant_by_name(errs, cases[i].variant);

		assert_non_null(v);
		want_code(chain_rpc_dispatch_error(sub->index, v->index, meta_lookup, m, &f->e), &f->e, cases[i].code);
		assert_non_null(strstr(f->e.msg, cases[i].variant));
	}
	/* System's errors are another pallet's: named, the generic code */
	want_code(chain_rpc_dispatch_error(0, 0, meta_lookup, m, &f->e), &f->e, "chain.dispatch_error");
	assert_non_null(strstr(f->e.msg, "System::"));
	want_code(chain_rpc_dispatch_error(sub->index, 255, meta_lookup, m, &f->e), &f->e, "chain.dispatch_error");
	assert_non_null(strstr(f->e.msg, "not in the runtime metadata"));
	meta_free(m);
}

/* ------------------------------------------------------------ retries */

/* The k-th wait (from 0) lies in [d/2, d], d = min(max, base * 2^k). */
static void assert_waits_bounded(const struct fx *f, int n)
{
	assert_int_equal(f->w.n, n);
	for (int k = 0; k < n; k++) {
		long d = f->o.backoff_base_ms << k;

		if (d > f->o.backoff_max_ms)
			d = f->o.backoff_max_ms;
		if (f->w.ms[k] < d / 2 || f->w.ms[k] > d)
			fail_msg("wait %d is %ld ms, outside [%ld, %ld]", k, f->w.ms[k], d / 2, d);
	}
}

/* Two 500s, then the answer: three attempts, two bounded waits, fresh ids. */
static void http_500_then_success(void **state)
{
	struct fx *f = *state;
	struct chain_header h;
	struct chain_rpc_stats s;

	cn_fail(&g_node, "chain_getHeader", CN_HTTP_500, 2);
	want_ok(chain_rpc_header(f->r, NULL, &h, &f->e), &f->e);
	assert_int_equal(h.number, 100);
	chain_rpc_last_stats(f->r, &s);
	assert_int_equal(s.attempts, 3);
	assert_int_equal(s.http_status, 200);
	assert_int_equal(cn_count(&g_node, "chain_getHeader"), 3);
	assert_waits_bounded(f, 2);
	assert_int_equal(s.waited_ms, f->w.ms[0] + f->w.ms[1]);
	assert_true(cn_req_at(&g_node, 1).id != cn_req_at(&g_node, 0).id);
	assert_true(cn_req_at(&g_node, 2).id != cn_req_at(&g_node, 1).id);
}

/* 5xx on every attempt: chain.rpc_http after exactly opts.tries. */
static void http_500_gives_up(void **state)
{
	struct fx *f = *state;
	uint8_t h[32];

	cn_fail(&g_node, "", CN_HTTP_500, 100);
	want_code(chain_rpc_best_hash(f->r, h, &f->e), &f->e, "chain.rpc_http");
	assert_non_null(strstr(f->e.msg, "500"));
	assert_int_equal(attempts(f), 4);
	assert_int_equal(cn_count(&g_node, "chain_getBlockHash"), 4);
	assert_waits_bounded(f, 3);
}

/* Backoff doubles up to its bound, jittered within [d/2, d], over many tries. */
static void backoff_bounds(void **state)
{
	struct fx *f = *state;
	struct chain_rpc *r;
	uint8_t h[32];

	chain_rpc_close(f->r);
	f->o.tries = 9;
	f->o.backoff_base_ms = 40;
	f->o.backoff_max_ms = 300;
	assert_int_equal(chain_rpc_open(&r, g_node.url, &f->o, &f->e), 0);
	f->r = r;
	for (int round = 0; round < 5; round++) {
		f->w.n = 0;
		cn_fail(&g_node, "", CN_HTTP_500, 9);
		want_code(chain_rpc_best_hash(f->r, h, &f->e), &f->e, "chain.rpc_http");
		assert_waits_bounded(f, 8);
	}
}

static void http_429_retried(void **state)
{
	struct fx *f = *state;
	uint8_t h[32];

	cn_fail(&g_node, "chain_getBlockHash", CN_HTTP_429, 1);
	want_ok(chain_rpc_best_hash(f->r, h, &f->e), &f->e);
	assert_int_equal(attempts(f), 2);
}

/* A 503 with Retry-After: the wait is the server's, within the bound. */
static void retry_after_honoured(void **state)
{
	struct fx *f = *state;
	uint8_t h[32];

	g_node.retry_after_s = 2;
	cn_fail(&g_node, "chain_getBlockHash", CN_HTTP_503_RETRY, 1);
	want_ok(chain_rpc_best_hash(f->r, h, &f->e), &f->e);
	assert_int_equal(f->w.n, 1);
	assert_int_equal(f->w.ms[0], 2000);
	g_node.retry_after_s = 3600; /* a day's wait is cut to retry_after_max_ms */
	f->w.n = 0;
	cn_fail(&g_node, "chain_getBlockHash", CN_HTTP_503_RETRY, 1);
	want_ok(chain_rpc_best_hash(f->r, h, &f->e), &f->e);
	assert_int_equal(f->w.ms[0], f->o.retry_after_max_ms);
}

static void http_404_not_retried(void **state)
{
	struct fx *f = *state;
	uint8_t h[32];

	cn_fail(&g_node, "", CN_HTTP_404, 1);
	want_code(chain_rpc_best_hash(f->r, h, &f->e), &f->e, "chain.rpc_http");
	assert_int_equal(attempts(f), 1);
	assert_int_equal(f->w.n, 0);
}

/* A connection closed without an answer: a read goes again. */
static void dropped_connection_retried(void **state)
{
	struct fx *f = *state;
	struct chain_runtime_version v;

	cn_fail(&g_node, "", CN_DROP, 2);
	want_ok(chain_rpc_runtime_version(f->r, NULL, &v, &f->e), &f->e);
	assert_int_equal(attempts(f), 3);
	cn_fail(&g_node, "", CN_DROP, 100);
	want_code(chain_rpc_runtime_version(f->r, NULL, &v, &f->e), &f->e, "chain.rpc_connect");
	assert_int_equal(attempts(f), 4);
}

/* A port nobody listens on. */
static int dead_port(void)
{
	struct sockaddr_in sa = { 0 };
	socklen_t sl = sizeof sa;
	int s = socket(AF_INET, SOCK_STREAM, 0), port;

	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sa, &sl), 0);
	port = ntohs(sa.sin_port);
	close(s);
	return port;
}

static void connection_refused(void **state)
{
	struct fx *f = *state;
	struct chain_rpc *r;
	char url[64];
	uint8_t h[32], xt[4] = { 4, 1, 2, 3 };

	snprintf(url, sizeof url, "http://127.0.0.1:%d/", dead_port());
	assert_int_equal(chain_rpc_open(&r, url, &f->o, &f->e), 0);
	want_code(chain_rpc_best_hash(r, h, &f->e), &f->e, "chain.rpc_connect");
	assert_non_null(strstr(f->e.msg, "chain_getBlockHash"));
	{
		struct chain_rpc_stats s;

		chain_rpc_last_stats(r, &s);
		assert_int_equal(s.attempts, 4);
	}
	/* nothing reached a node: a submission may go again, and says so plainly */
	want_code(chain_rpc_submit(r, xt, sizeof xt, h, &f->e), &f->e, "chain.rpc_connect");
	chain_rpc_close(r);
}

/* A node that stalls past the timeout: chain.rpc_timeout after the tries,
 * in about tries * timeout, never waiting for the node. */
static void stall_times_out(void **state)
{
	struct fx *f = *state;
	struct chain_rpc *r;
	struct chain_header h;
	double t0;

	g_node.stall_ms = 4000;
	f->o.timeout_ms = 200;
	f->o.tries = 2;
	assert_int_equal(chain_rpc_open(&r, g_node.url, &f->o, &f->e), 0);
	cn_fail(&g_node, "", CN_STALL, 2);
	t0 = tu_now_s();
	want_code(chain_rpc_header(r, NULL, &h, &f->e), &f->e, "chain.rpc_timeout");
	assert_true(tu_now_s() - t0 < 3.0); /* about 0.4 s; far below the stall on a loaded machine */
	{
		struct chain_rpc_stats s;

		chain_rpc_last_stats(r, &s);
		assert_int_equal(s.attempts, 2);
	}
	chain_rpc_close(r);
}

/* Without a sleep hook the client really waits, about the backoff. */
static void real_sleep_between_attempts(void **state)
{
	struct fx *f = *state;
	struct chain_rpc *r;
	uint8_t h[32];
	double t0;

	f->o.sleep_ms = NULL;
	f->o.backoff_base_ms = 80;
	assert_int_equal(chain_rpc_open(&r, g_node.url, &f->o, &f->e), 0);
	cn_fail(&g_node, "", CN_HTTP_500, 1);
	t0 = tu_now_s();
	want_ok(chain_rpc_best_hash(r, h, &f->e), &f->e);
	assert_true(tu_now_s() - t0 >= 0.039);
	chain_rpc_close(r);
}

/* ------------------------------------------------- submission at most once */

/* A 500, a dropped connection or a timeout after the request went out:
 * the node may hold the extrinsic, so it is not sent again. */
static void submit_never_resent_blindly(void **state)
{
	static const enum cn_fault_kind kinds[] = { CN_HTTP_500, CN_DROP, CN_STALL };
	struct fx *f = *state;
	struct chain_rpc *r;
	uint8_t xt[40] = { 0xa0 }, h[32], want[32];
	char hex[65];

	g_node.stall_ms = 1000;
	f->o.timeout_ms = 300;
	assert_int_equal(chain_rpc_open(&r, g_node.url, &f->o, &f->e), 0);
	crypto_generichash(want, 32, xt, sizeof xt, NULL, 0);
	sodium_bin2hex(hex, sizeof hex, want, 32);
	for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
		int before = cn_count(&g_node, "author_submitExtrinsic");

		cn_fail(&g_node, "author_submitExtrinsic", kinds[i], 5);
		want_code(chain_rpc_submit(r, xt, sizeof xt, h, &f->e), &f->e, "chain.submit_unknown");
		assert_non_null(strstr(f->e.msg, hex)); /* the hash to look for */
		assert_int_equal(cn_count(&g_node, "author_submitExtrinsic"), before + 1);
		cn_forget(&g_node);
	}
	assert_int_equal(f->w.n, 0);
	chain_rpc_close(r);
}

/* A 429 is a refusal before the node took it: a submission may go again. */
static void submit_retried_after_429(void **state)
{
	struct fx *f = *state;
	uint8_t xt[10] = { 9 }, h[32];

	cn_fail(&g_node, "author_submitExtrinsic", CN_HTTP_429, 1);
	want_ok(chain_rpc_submit(f->r, xt, sizeof xt, h, &f->e), &f->e);
	assert_int_equal(cn_count(&g_node, "author_submitExtrinsic"), 2);
}

/* A node that names the transaction by another hash is not believed, nor
 * is one that answers unreadably (another id, bad hex, no JSON, too much):
 * it read the request and may hold the extrinsic, so each is
 * chain.submit_unknown, naming the hash and the fault, and nothing is
 * sent again. */
static void submit_wrong_hash_refused(void **state)
{
	static const struct {
		enum cn_fault_kind kind;
		const char *says;
	} cases[] = {
		{ CN_WRONG_HASH, "another hash" }, { CN_WRONG_ID, "id" }, { CN_BAD_HEX, "hex" },
		{ CN_GARBAGE, "JSON" },	   { CN_OVERSIZED, "bytes" },
	};
	struct fx *f = *state;
	uint8_t xt[10] = { 9 }, h[32], want[32];
	char hex[65];

	crypto_generichash(want, 32, xt, sizeof xt, NULL, 0);
	sodium_bin2hex(hex, sizeof hex, want, 32);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		cn_fail(&g_node, "author_submitExtrinsic", cases[i].kind, 1);
		want_code(chain_rpc_submit(f->r, xt, sizeof xt, h, &f->e), &f->e, "chain.submit_unknown");
		if (!strstr(f->e.msg, hex) || !strstr(f->e.msg, cases[i].says))
			fail_msg("case %zu: \"%s\" lacks the hash or \"%s\"", i, f->e.msg, cases[i].says);
	}
	assert_int_equal(cn_count(&g_node, "author_submitExtrinsic"), (int)(sizeof cases / sizeof *cases));
}

/* ------------------------------------------------------------ junk answers */

static void junk_answers_named(void **state)
{
	struct fx *f = *state;
	uint8_t h[32], *b;
	size_t n;
	struct chain_header hd;
	uint64_t nonce;

	cn_fail(&g_node, "", CN_GARBAGE, 1);
	want_code(chain_rpc_best_hash(f->r, h, &f->e), &f->e, "chain.rpc_bad_json");
	assert_int_equal(attempts(f), 1);
	cn_fail(&g_node, "", CN_WRONG_ID, 1);
	want_code(chain_rpc_best_hash(f->r, h, &f->e), &f->e, "chain.rpc_bad_id");
	cn_fail(&g_node, "", CN_WRONG_TYPE, 1);
	want_code(chain_rpc_best_hash(f->r, h, &f->e), &f->e, "chain.rpc_bad_type");
	cn_fail(&g_node, "", CN_WRONG_TYPE, 1);
	want_code(chain_rpc_header(f->r, NULL, &hd, &f->e), &f->e, "chain.rpc_bad_type");
	cn_fail(&g_node, "", CN_BAD_HEX, 1);
	want_code(chain_rpc_metadata(f->r, NULL, &b, &n, &f->e), &f->e, "chain.rpc_bad_hex");
	cn_fail(&g_node, "", CN_BAD_HEX, 1);
	want_code(chain_rpc_account_next_index(f->r, SS58_ALICE, &nonce, &f->e), &f->e, "chain.rpc_bad_type");
	assert_int_equal(f->w.n, 0);
}

/* An answer over the cap is refused as it streams, declared or chunked,
 * and not asked for again. */
static void oversized_answers_refused(void **state)
{
	struct fx *f = *state;
	uint8_t h[32];

	g_node.oversize_bytes = 3u << 20;
	cn_fail(&g_node, "", CN_OVERSIZED, 1);
	want_code(chain_rpc_best_hash(f->r, h, &f->e), &f->e, "chain.rpc_too_large");
	assert_int_equal(attempts(f), 1);
	cn_fail(&g_node, "", CN_OVERSIZED_CHUNKED, 1);
	want_code(chain_rpc_best_hash(f->r, h, &f->e), &f->e, "chain.rpc_too_large");
	assert_int_equal(attempts(f), 1);
	/* under the cap, the same answer shape is read (and is no hash) */
	g_node.oversize_bytes = 1000;
	cn_fail(&g_node, "", CN_OVERSIZED_CHUNKED, 1);
	want_code(chain_rpc_best_hash(f->r, h, &f->e), &f->e, "chain.rpc_too_large");
	assert_non_null(strstr(f->e.msg, "over the 32 allowed"));
	/* the connection still serves */
	want_ok(chain_rpc_best_hash(f->r, h, &f->e), &f->e);
}

static void open_refuses_bad_urls(void **state)
{
	struct chain_rpc *r;
	struct kerr e;

	want_code(chain_rpc_open(&r, "ftp://127.0.0.1/", NULL, &e), &e, "chain.rpc_url");
	want_code(chain_rpc_open(&r, "127.0.0.1:9944", NULL, &e), &e, "chain.rpc_url");
	want_code(chain_rpc_open(&r, NULL, NULL, &e), &e, "chain.rpc_url");
	assert_null(r);
	want_ok(chain_rpc_open(&r, "https://entrypoint-finney.opentensor.ai:443", NULL, &e), &e);
	chain_rpc_close(r);
}

/* The pure answer parser on hostile bodies: a reason code, never a crash. */
static void parse_answer_hostile(void **state)
{
	static const struct {
		const char *body, *want;
	} cases[] = {
		{ "", "chain.rpc_bad_json" },
		/* jansson's error text quotes the bad escape, newline and all (found by fuzz_chain_rpc) */
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"a\\\nb\"}", "chain.rpc_bad_json" },
		{ "null", "chain.rpc_bad_json" },
		{ "[]", "chain.rpc_bad_json" },
		{ "{}", "chain.rpc_bad_json" },
		{ "{\"jsonrpc\":\"1.0\",\"id\":1,\"result\":1}", "chain.rpc_bad_json" },
		{ "{\"jsonrpc\":2,\"id\":1,\"result\":1}", "chain.rpc_bad_json" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1}", "chain.rpc_bad_json" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1,\"error\":{}}", "chain.rpc_bad_json" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1,\"result\":2}", "chain.rpc_bad_json" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1} trailing", "chain.rpc_bad_json" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":\"1\",\"result\":1}", "chain.rpc_bad_id" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":1}", "chain.rpc_bad_id" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":-1,\"result\":1}", "chain.rpc_bad_id" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1.0,\"result\":1}", "chain.rpc_bad_id" },
		{ "{\"jsonrpc\":\"2.0\",\"result\":1}", "chain.rpc_bad_id" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":\"x\"}", "chain.rpc_bad_json" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":\"1010\",\"message\":\"x\"}}", "chain.rpc_bad_json" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1010}}", "chain.rpc_bad_json" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1010,\"message\":\"x\",\"data\":{\"a\":1}}}",
		  "chain.invalid_tx" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"Parse error\"}}",
		  "chain.rpc_refused" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{\"code\":1010,\"message\":\"x\"}}", "chain.rpc_bad_id" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":99999999999999999999,\"message\":\"x\"}}",
		  "chain.rpc_bad_json" },
	};
	json_t *res;
	struct kerr e;
	char *deep = malloc(200001);

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		kerr_clear(&e);
		if (chain_rpc_parse_answer(cases[i].body, strlen(cases[i].body), 1, &res, &e) != -1 ||
		    strcmp(e.code, cases[i].want))
			fail_msg("case %zu %s: want %s, got %s: %s", i, cases[i].body, cases[i].want, e.code, e.msg);
		assert_null(res);
		assert_null(strchr(e.msg, '\n'));
	}
	/* nesting far past jansson's bound */
	memset(deep, '[', 100000);
	memset(deep + 100000, ']', 100000);
	deep[200000] = '\0';
	want_code(chain_rpc_parse_answer(deep, 200000, 1, &res, &e), &e, "chain.rpc_bad_json");
	free(deep);
	/* more values than any answer holds: refused before jansson spends
	 * ~17 bytes of heap per byte of `0,` on it; the same commas inside a
	 * string (an escaped quote before them) are one value */
	{
		size_t n = 2 * (size_t)CHAIN_RPC_JSON_VALUES_MAX, at;
		char *many = malloc(n + 128);

		assert_non_null(many);
		at = (size_t)sprintf(many, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":[");
		for (size_t i = 0; i < n / 2; i++) {
			many[at++] = '0';
			many[at++] = ',';
		}
		memcpy(many + at - 1, "]}", 3);
		want_code(chain_rpc_parse_answer(many, strlen(many), 1, &res, &e), &e, "chain.rpc_too_large");
		assert_non_null(strstr(e.msg, "JSON values"));
		at = (size_t)sprintf(many, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"\\\"");
		memset(many + at, ',', n - 4);
		memcpy(many + at + n - 4, "\"}", 3);
		want_ok(chain_rpc_parse_answer(many, strlen(many), 1, &res, &e), &e);
		assert_true(json_is_string(res) && json_string_length(res) == n - 3);
		json_decref(res);
		free(many);
	}
	/* a NUL inside the body */
	want_code(chain_rpc_parse_answer("{\"jsonrpc\":\"2.0\",\0}", 20, 1, &res, &e), &e, "chain.rpc_bad_json");
	want_ok(chain_rpc_parse_answer("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":null}", 38, 1, &res, &e), &e);
	assert_true(json_is_null(res));
	json_decref(res);
}

static void decoders_hostile(void **state)
{
	struct chain_header h;
	struct chain_runtime_version v;
	uint8_t hash[32], *b;
	size_t n;
	uint64_t nonce;
	struct kerr e;
	json_t *j;

	j = json_string("0xABcd");
	want_ok(chain_rpc_hex_decode(j, "x", 8, &b, &n, &e), &e);
	assert_int_equal(n, 2);
	assert_int_equal(b[0], 0xab);
	free(b);
	json_decref(j);
	j = json_string("0x");
	want_ok(chain_rpc_hex_decode(j, "x", 8, &b, &n, &e), &e);
	assert_int_equal(n, 0);
	free(b);
	json_decref(j);
	j = json_string("0xabc");
	want_code(chain_rpc_hex_decode(j, "x", 8, &b, &n, &e), &e, "chain.rpc_bad_hex");
	json_decref(j);
	j = json_string("abcd");
	want_code(chain_rpc_hex_decode(j, "x", 8, &b, &n, &e), &e, "chain.rpc_bad_hex");
	json_decref(j);
	j = json_stringn("0xab\0d", 6);
	want_code(chain_rpc_hex_decode(j, "x", 8, &b, &n, &e), &e, "chain.rpc_bad_hex");
	json_decref(j);
	j = json_string("0x0000");
	want_code(chain_rpc_hex_decode(j, "x", 1, &b, &n, &e), &e, "chain.rpc_too_large");
	want_code(chain_rpc_decode_hash(j, "x", hash, &e), &e, "chain.rpc_bad_hex");
	json_decref(j);
	want_code(chain_rpc_hex_decode(NULL, "x", 8, &b, &n, &e), &e, "chain.rpc_bad_type");

	j = json_pack("{s:s,s:s}", "number", "0x10000000000000000", "parentHash", "0x00");
	want_code(chain_rpc_decode_header(j, &h, &e), &e, "chain.rpc_bad_hex");
	json_decref(j);
	j = json_pack("{s:i,s:s}", "number", 5, "parentHash", "0x00");
	want_code(chain_rpc_decode_header(j, &h, &e), &e, "chain.rpc_bad_type");
	json_decref(j);
	j = json_pack("{s:s,s:s}", "number", "0x", "parentHash", "0x00");
	want_code(chain_rpc_decode_header(j, &h, &e), &e, "chain.rpc_bad_hex");
	json_decref(j);
	j = json_pack("{s:s,s:s}", "number", "0xffffffffffffffff", "parentHash", "0x12");
	want_code(chain_rpc_decode_header(j, &h, &e), &e, "chain.rpc_bad_hex");
	json_decref(j);

	j = json_pack("{s:I,s:i}", "specVersion", (json_int_t)1 << 32, "transactionVersion", 1);
	want_code(chain_rpc_decode_runtime_version(j, &v, &e), &e, "chain.rpc_bad_type");
	json_decref(j);
	j = json_pack("{s:i,s:i,s:s}", "specVersion", 1, "transactionVersion", -1, "specName", "x");
	want_code(chain_rpc_decode_runtime_version(j, &v, &e), &e, "chain.rpc_bad_type");
	json_decref(j);
	j = json_pack("{s:i,s:i,s:s}", "specVersion", 1, "transactionVersion", 2, "specName",
		      "a-very-long-spec-name-that-goes-on-and-on-past-the-sixty-four-byte-field\n");
	want_ok(chain_rpc_decode_runtime_version(j, &v, &e), &e);
	assert_int_equal(strlen(v.spec_name), CHAIN_SPEC_NAME_BYTES - 1);
	json_decref(j);

	j = json_integer(-3);
	want_code(chain_rpc_decode_nonce(j, &nonce, &e), &e, "chain.rpc_bad_type");
	json_decref(j);
	j = json_real(3.0);
	want_code(chain_rpc_decode_nonce(j, &nonce, &e), &e, "chain.rpc_bad_type");
	json_decref(j);
}

/* ------------------------------------------------------------ storage keys */

/* Values published for Substrate (System.Account's and Timestamp.Now's
 * prefixes appear in Substrate's documentation and countless tools). */
static void storage_published_prefixes(void **state)
{
	struct chain_storage_key k;
	struct kerr e;
	char hex[2 * CHAIN_STORAGE_KEY_BYTES_MAX + 1];
	uint8_t t[16];

	want_ok(chain_storage_prefix(&k, "System", "Account", &e), &e);
	hex_of(k.b, k.len, hex);
	assert_string_equal(hex, "26aa394eea5630e07c48ae0c9558cef7b99d880ec681799c0cf30e8886371da9");
	want_ok(chain_storage_prefix(&k, "Timestamp", "Now", &e), &e);
	hex_of(k.b, k.len, hex);
	assert_string_equal(hex, "f0c365c3cf59d671eb72da0e7a4113c49f1f0515f462cdcf84e0f1d6045dfcbb");
	chain_storage_twox128("Sudo", 4, t);
	hex_of(t, 16, hex);
	assert_string_equal(hex, "5c0d1176a568c1f92944340dbfed9e9c");
	want_code(chain_storage_prefix(&k, "", "Account", &e), &e, "chain.storage_key");
	want_code(chain_storage_prefix(&k, "System", NULL, &e), &e, "chain.storage_key");
	{
		char longname[CHAIN_STORAGE_NAME_BYTES_MAX + 2];

		memset(longname, 'a', sizeof longname - 1);
		longname[sizeof longname - 1] = '\0';
		want_code(chain_storage_prefix(&k, longname, "x", &e), &e, "chain.storage_key");
	}
	want_ok(chain_storage_prefix(&k, "System", "Account", &e), &e);
	{
		uint8_t big[CHAIN_STORAGE_KEY_BYTES_MAX] = { 0 };

		want_code(chain_storage_append(&k, CHAIN_HASHER_BLAKE2_128_CONCAT, big, sizeof big - 40, &e), &e,
			  "chain.storage_key");
		assert_int_equal(k.len, 32); /* unchanged on refusal */
		want_code(chain_storage_append(&k, (enum chain_hasher)9, big, 1, &e), &e, "chain.storage_key");
	}
}

/* The same keys from @polkadot/util-crypto under node, byte for byte. */
static void storage_keys_match_polkadot_js(void **state)
{
	static const char *const modules[] = { "@polkadot/util-crypto", NULL };
	char npm[FS_PATH_MAX], *dir, in[FS_PATH_MAX], out[FS_PATH_MAX], *msg;
	const char *src = getenv("KARPA_SRC") ? getenv("KARPA_SRC") : ".";
	json_t *cases = json_array(), *got;
	json_error_t je;
	struct kerr e = { 0 };
	uint8_t acct[32];
	char ahex[67];
	size_t i;

	msg = malloc(OUT_CAP);
	tu_npm_node(npm, modules);
	dir = tu_mkdtemp();
	json_array_append_new(cases, json_pack("{s:s,s:s,s:s}", "kind", "prefix", "pallet", "SubtensorModule", "item",
					       "CommitRevealWeightsEnabled"));
	json_array_append_new(cases, json_pack("{s:s,s:s,s:s}", "kind", "prefix", "pallet", "System", "item", "Account"));
	for (int netuid = 0; netuid < 70000; netuid += 4099) {
		json_array_append_new(cases, json_pack("{s:s,s:i}", "kind", "commit_reveal", "netuid", netuid & 0xffff));
		for (int j = 0; j < 32; j++)
			acct[j] = (uint8_t)(netuid * 31 + j * 17);
		cn_hex(acct, 32, ahex);
		json_array_append_new(cases,
				      json_pack("{s:s,s:i,s:s}", "kind", "uids", "netuid", netuid & 0xffff, "account", ahex));
		json_array_append_new(cases, json_pack("{s:s,s:i,s:i}", "kind", "keys", "netuid", netuid & 0xffff, "uid",
						       (netuid * 7) & 0xffff));
	}
	for (int len = 0; len < 70; len += 13) {
		for (int j = 0; j < len; j++)
			acct[j % 32] = (uint8_t)(len + j);
		{
			char h[2 * 70 + 3];
			uint8_t part[70];

			for (int j = 0; j < len; j++)
				part[j] = (uint8_t)(len * 3 + j);
			cn_hex(part, (size_t)len, h);
			json_array_append_new(cases, json_pack("{s:s,s:s}", "kind", "twox64concat", "hex", h));
			json_array_append_new(cases, json_pack("{s:s,s:s}", "kind", "blake2_128concat", "hex", h));
		}
	}
	snprintf(in, sizeof in, "%s/cases.json", dir);
	snprintf(out, sizeof out, "%s/keys.json", dir);
	assert_int_equal(json_dump_file(cases, in, JSON_COMPACT), 0);
	if (tu_run(msg, OUT_CAP, "(KARPA_NPM_DIR='%s' node '%s/tests/chain_storage_keys.mjs' '%s' > '%s')", npm, src,
		   in, out) != 0)
		fail_msg("node chain_storage_keys.mjs failed: %s", msg);
	got = json_load_file(out, 0, &je);
	if (!got)
		fail_msg("node output: %s", je.text);
	assert_int_equal(json_array_size(got), json_array_size(cases));
	for (i = 0; i < json_array_size(cases); i++) {
		json_t *c = json_array_get(cases, i);
		const char *kind = json_string_value(json_object_get(c, "kind"));
		struct chain_storage_key k = { .len = 0 };
		char mine[2 * CHAIN_STORAGE_KEY_BYTES_MAX + 3];
		int netuid = (int)json_integer_value(json_object_get(c, "netuid"));

		if (!strcmp(kind, "prefix")) {
			want_ok(chain_storage_prefix(&k, json_string_value(json_object_get(c, "pallet")),
						     json_string_value(json_object_get(c, "item")), &e),
				&e);
		} else if (!strcmp(kind, "commit_reveal")) {
			want_ok(chain_storage_key_commit_reveal((uint16_t)netuid, &k, &e), &e);
		} else if (!strcmp(kind, "uids")) {
			sodium_hex2bin(acct, 32, json_string_value(json_object_get(c, "account")) + 2, 64, NULL, NULL, NULL);
			want_ok(chain_storage_key_uids((uint16_t)netuid, acct, &k, &e), &e);
		} else if (!strcmp(kind, "keys")) {
			want_ok(chain_storage_key_keys((uint16_t)netuid,
						       (uint16_t)json_integer_value(json_object_get(c, "uid")), &k, &e),
				&e);
		} else {
			const char *h = json_string_value(json_object_get(c, "hex"));
			uint8_t part[70];
			size_t pl = (strlen(h) - 2) / 2;

			sodium_hex2bin(part, sizeof part, h + 2, 2 * pl, NULL, NULL, NULL);
			want_ok(chain_storage_append(&k,
						     !strcmp(kind, "twox64concat") ? CHAIN_HASHER_TWOX64_CONCAT
										   : CHAIN_HASHER_BLAKE2_128_CONCAT,
						     part, pl, &e),
				&e);
		}
		cn_hex(k.b, k.len, mine);
		if (strcmp(mine, json_string_value(json_array_get(got, i))))
			fail_msg("case %zu (%s): ours %s, polkadot-js %s", i, kind, mine,
				 json_string_value(json_array_get(got, i)));
	}
	assert_true(i > 40);
	json_decref(got);
	json_decref(cases);
	tu_rmdir(dir);
	free(msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(block_hash_by_number_and_best, setup, teardown),
		cmocka_unit_test_setup_teardown(header_number_and_parent, setup, teardown),
		cmocka_unit_test_setup_teardown(runtime_version_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(metadata_bytes_and_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(storage_subtensor_items, setup, teardown),
		cmocka_unit_test_setup_teardown(account_next_index, setup, teardown),
		cmocka_unit_test_setup_teardown(submit_returns_the_hash, setup, teardown),
		cmocka_unit_test_setup_teardown(submitted_extrinsic_found_in_its_block, setup, teardown),
		cmocka_unit_test_setup_teardown(submit_chain_errors_named, setup, teardown),
		cmocka_unit_test_setup_teardown(read_chain_error_not_retried, setup, teardown),
		cmocka_unit_test(dispatch_errors_named),
		cmocka_unit_test_setup_teardown(dispatch_errors_named_from_node_metadata, setup, teardown),
		cmocka_unit_test_setup_teardown(http_500_then_success, setup, teardown),
		cmocka_unit_test_setup_teardown(http_500_gives_up, setup, teardown),
		cmocka_unit_test_setup_teardown(backoff_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(http_429_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(retry_after_honoured, setup, teardown),
		cmocka_unit_test_setup_teardown(http_404_not_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(dropped_connection_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(connection_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(stall_times_out, setup, teardown),
		cmocka_unit_test_setup_teardown(real_sleep_between_attempts, setup, teardown),
		cmocka_unit_test_setup_teardown(submit_never_resent_blindly, setup, teardown),
		cmocka_unit_test_setup_teardown(submit_retried_after_429, setup, teardown),
		cmocka_unit_test_setup_teardown(submit_wrong_hash_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(junk_answers_named, setup, teardown),
		cmocka_unit_test_setup_teardown(oversized_answers_refused, setup, teardown),
		cmocka_unit_test(open_refuses_bad_urls),
		cmocka_unit_test(parse_answer_hostile),
		cmocka_unit_test(decoders_hostile),
		cmocka_unit_test(storage_published_prefixes),
		cmocka_unit_test(storage_keys_match_polkadot_js),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
