/* test_chain_state.c: the offline signer's inputs (src/chain/chainstate.c):
 * the chain-state file (every field checked; the metadata path relative to
 * the file), "UID=W,..." weight lists and commit salts. And a state file
 * through to a signed extrinsic equal to the one polkadot-js 16.5.6 built
 * for the same inputs (kept here as a constant, so this check needs no
 * node). */
#include "chain_tx_fixture.h"

#include "chain/chainstate.h"
#include "chain/extrinsic.h"

/* polkadot-js: seed 0x01 * 32, set_weights(16, [0,1,5], [65535,32768,1],
 * 1234), spec 351, tx version 1, genesis 0xaa * 32, birth block 1000 with
 * hash 0xbb * 32, period 128, nonce 5, tip 0 (tests/chain_polkadot.mjs). */
static const char golden[] =
	"0x090284008a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c0099d49260d2f97bdfba45ac1f4cc38859"
	"58eba10f4212053e42f3a32f092977738a9f1061674075fc5d5ce94cef0054bb8f7400dfe2b97278d42dbc719cf631088606140000"
	"070010000c0000010005000cffff00800100d204000000000000";

static char *g_dir;

static void write_state(const char *name, const char *body)
{
	char path[FS_PATH_MAX];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", g_dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(body, f);
	assert_int_equal(fclose(f), 0);
}

static int load(const char *name, struct chain_state *st, struct kerr *e)
{
	char path[FS_PATH_MAX];

	snprintf(path, sizeof path, "%s/%s", g_dir, name);
	return chain_state_load(path, st, e);
}

static const char good_fmt[] =
	"{\"metadata\": \"%s\", \"spec_version\": 351, \"transaction_version\": 1,\n"
	" \"genesis_hash\": \"0x%s\", \"block_number\": 1000,\n"
	" \"block_hash\": \"0x%s\", \"nonce\": 5%s}\n";

static void write_good(const char *name, const char *meta, const char *extra)
{
	char body[4096], aa[65], bb[65];

	memset(aa, 'a', 64);
	memset(bb, 'B', 64);
	aa[64] = bb[64] = '\0';
	snprintf(body, sizeof body, good_fmt, meta, aa, bb, extra);
	write_state(name, body);
}

static void state_file_to_the_polkadot_js_extrinsic(void **state)
{
	char link[FS_PATH_MAX];
	const uint16_t uids[] = { 0, 1, 5 }, vals[] = { 65535, 32768, 1 };
	uint8_t seed[32];
	struct cf_ed25519 key;
	struct chain_signer s;
	struct chain_state st;
	struct scale_writer call, ext;
	struct kerr e = { 0 };
	char hex[1024];

	g_dir = tu_mkdtemp();
	/* the metadata named relative to the state file */
	snprintf(link, sizeof link, "%s/runtime.scale", g_dir);
	assert_int_equal(symlink(cf_metadata_path(), link), 0);
	write_good("state.json", "runtime.scale", "");
	if (load("state.json", &st, &e) < 0)
		fail_msg("%s: %s", e.code, e.msg);
	assert_int_equal(st.tx.era_period, CHAIN_ERA_PERIOD_DEFAULT);
	assert_int_equal(st.tx.block_hash[0], 0xbb);

	memset(seed, 1, sizeof seed);
	cf_signer(seed, &key, &s);
	scale_writer_init(&call, CHAIN_CALL_BYTES_MAX, &e);
	scale_writer_init(&ext, CHAIN_EXTRINSIC_BYTES_MAX, &e);
	assert_int_equal(chain_call_set_weights(st.meta, 16, uids, vals, 3, 1234, &call, &e), 0);
	assert_int_equal(chain_extrinsic_signed(st.meta, &st.tx, call.buf, call.len, &s, &ext, &e), 0);
	cf_hex(ext.buf, ext.len, hex);
	assert_string_equal(hex, golden);
	scale_writer_free(&call);
	scale_writer_free(&ext);
	chain_state_free(&st);

	/* optional fields */
	write_good("immortal.json", cf_metadata_path(), ", \"era_period\": 0, \"tip\": 7");
	assert_int_equal(load("immortal.json", &st, &e), 0);
	assert_int_equal(st.tx.era_period, 0);
	assert_true(st.tx.tip == 7);
	chain_state_free(&st);
	tu_rmdir(g_dir);
}

static void bad_state_files_are_refused(void **state)
{
	const struct {
		const char *body, *code;
	} bad[] = {
		{ "[]", "chain.state" },
		{ "{\"spec_version\": 1", "chain.state" },
		{ "{\"metadata\": \"x\"}", "chain.state" },
		{ "{\"metadata\": \"x\", \"spec_version\": -1, \"transaction_version\": 1, \"block_number\": 1, "
		  "\"nonce\": 0}", "chain.state" },
		{ "{\"metadata\": \"x\", \"spec_version\": 1, \"transaction_version\": 1, \"block_number\": 1, "
		  "\"nonce\": 0, \"genesis_hash\": \"0x12\"}", "chain.state" },
		{ "{\"metadata\": \"x\", \"spec_version\": 1, \"transaction_version\": 1, \"block_number\": 1, "
		  "\"nonce\": 0, \"era_period\": 70000}", "chain.state" },
	};
	struct chain_state st;
	struct kerr e = { 0 };

	g_dir = tu_mkdtemp();
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		write_state("bad.json", bad[i].body);
		if (load("bad.json", &st, &e) == 0)
			fail_msg("state %zu loaded", i);
		assert_string_equal(e.code, bad[i].code);
		assert_null(st.meta);
	}
	/* a genesis hash with a non-hex digit */
	write_state("bad.json", "{\"metadata\": \"x\", \"spec_version\": 1, \"transaction_version\": 1, "
				"\"block_number\": 1, \"nonce\": 0, \"genesis_hash\": \"0x"
				"zz11111111111111111111111111111111111111111111111111111111111111\"}");
	assert_int_equal(load("bad.json", &st, &e), -1);
	assert_string_equal(e.code, "chain.state");
	/* metadata that is not metadata */
	write_state("junk.scale", "not metadata at all");
	write_good("junk.json", "junk.scale", "");
	assert_int_equal(load("junk.json", &st, &e), -1);
	assert_string_equal(e.code, "meta.bad_magic");
	tu_rmdir(g_dir);
}

static void weight_lists_parse_or_are_refused(void **state)
{
	uint16_t uids[4];
	double w[4];
	size_t n;
	struct kerr e = { 0 };
	const char *bad[] = { "", "1", "1=", "=1", "1=-1", "1=x", "70000=1", "1=1,", "1=1;2=2", "1=1,,2=2",
			      "1=inf", "1=nan", "a=1", "1=1,2=2,3=3,4=4,5=5" };

	assert_int_equal(chain_weights_parse("0=1,1=0.5,65535=2.5e-3", uids, w, 4, &n, &e), 0);
	assert_int_equal(n, 3);
	assert_int_equal(uids[2], 65535);
	assert_true(w[0] == 1 && w[1] == 0.5 && w[2] == 2.5e-3);
	assert_int_equal(chain_weights_parse("7=.25", uids, w, 4, &n, &e), 0);
	assert_true(n == 1 && w[0] == 0.25);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (chain_weights_parse(bad[i], uids, w, 4, &n, &e) == 0)
			fail_msg("\"%s\" parsed", bad[i]);
		assert_string_equal(e.code, "chain.weights_syntax");
	}
}

static void salts_parse_or_are_refused(void **state)
{
	uint16_t salt[4];
	size_t n;
	struct kerr e = { 0 };
	const char *bad[] = { "", "0x", "1", "001", "00010", "000g", "00010002000300040005" };

	assert_int_equal(chain_salt_parse("0001002a", salt, 4, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_int_equal(salt[0], 1);
	assert_int_equal(salt[1], 42);
	assert_int_equal(chain_salt_parse("0xFFFF", salt, 4, &n, &e), 0);
	assert_true(n == 1 && salt[0] == 65535);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (chain_salt_parse(bad[i], salt, 4, &n, &e) == 0)
			fail_msg("\"%s\" parsed", bad[i]);
		assert_string_equal(e.code, "chain.salt");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(state_file_to_the_polkadot_js_extrinsic),
		cmocka_unit_test(bad_state_files_are_refused),
		cmocka_unit_test(weight_lists_parse_or_are_refused),
		cmocka_unit_test(salts_parse_or_are_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
