/* test_ledger.c: the local ledger (docs/weights.md, "The ledger") in a
 * real validator state: appending closed epochs (hash chain, signatures,
 * the key file created 0600 on first use, epoch order), verification, and
 * one test per way of tampering (an edited body, hash, prev_hash or
 * closing time, a dropped first, middle or last entry, two entries'
 * epochs swapped, a replaced signature, another key file), each caught as
 * ledger.tampered naming the epoch; then the CLI (karpa validator epoch,
 * karpa ledger show|verify|export). */
#include "corpus_rows.h"

#include <sys/stat.h>

#include "proof/keys.h"
#include "validator/ledger.h"
#include "validator/weights.h"

#define CLOSE1 "2026-01-01T01:00:00Z"

static int setup(void **state)
{
	struct cr_state *c = calloc(1, sizeof *c);

	cr_open(c);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct cr_state *c = *state;

	cr_close(c);
	free(c);
	return 0;
}

/* Closes epochs 1..n, one hour apart, with a king change before the
 * first so the bodies carry a weight. */
static void close_epochs(struct cr_state *c, int n)
{
	struct kerr err = { 0 };

	cr_accepted(&c->s, "k-a1", "alice", 0.02, 1.0, "2026-01-01T00:30:00Z");
	assert_int_equal(weights_grid_ensure(&c->s, 3600, CLOSE1, &err), 0);
	for (int e = 1; e <= n; e++) {
		struct weights w;
		char at[VSTATE_TIME_BYTES];
		snprintf(at, sizeof at, "2026-01-01T%02d:00:00Z", e);
		if (weights_compute(&c->s, e, at, &w, &err) < 0 || ledger_append(&c->s, &w, &err) < 0)
			fail_msg("epoch %d: %s: %s", e, err.code, err.msg);
		weights_free(&w);
	}
}

/* Verification fails with ledger.tampered, and the message names the
 * epoch and contains `what`. */
static void assert_tampered(struct cr_state *c, long long epoch, const char *what)
{
	struct kerr err = { 0 };
	char want[64];
	long long n;

	assert_int_equal(ledger_verify(&c->s, &n, &err), -1);
	assert_string_equal(err.code, "ledger.tampered");
	snprintf(want, sizeof want, "ledger epoch %lld:", epoch);
	if (!strstr(err.msg, want) || !strstr(err.msg, what))
		fail_msg("want '%s' and '%s' in: %s", want, what, err.msg);
}

static void key_file(struct cr_state *c, char path[FS_PATH_MAX])
{
	snprintf(path, FS_PATH_MAX, "%s/%s", c->state, LEDGER_KEY_NAME);
}

/* Appends chain and sign: entry 1 follows the zero hash, each hash is
 * SHA-256(prev_hash || body) recomputed here independently, the body is
 * the canonical vector, the key file appears 0600 and its key signs. */
static void test_append_and_verify(void **state)
{
	struct cr_state *c = *state;
	struct kerr err = { 0 };
	char path[FS_PATH_MAX], prev[HASH_HEX_BYTES] = LEDGER_ZERO_HASH;
	struct stat sb;
	struct keys k;
	json_t *arr, *e;
	long long n, last;
	size_t i;

	assert_int_equal(ledger_last_epoch(&c->s, &last, &err), 0);
	assert_int_equal(last, 0);
	assert_int_equal(ledger_verify(&c->s, &n, &err), 0); /* empty: fine */
	assert_int_equal(n, 0);
	close_epochs(c, 3);
	assert_int_equal(ledger_last_epoch(&c->s, &last, &err), 0);
	assert_int_equal(last, 3);
	if (ledger_verify(&c->s, &n, &err) < 0)
		fail_msg("%s: %s", err.code, err.msg);
	assert_int_equal(n, 3);
	key_file(c, path);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(keys_load(path, &k, &err), 0);

	assert_int_equal(ledger_export(&c->s, 0, &arr, &err), 0);
	assert_int_equal(json_array_size(arr), 3);
	json_array_foreach(arr, i, e)
	{
		const char *body = json_string_value(json_object_get(e, "body"));
		char *joined, hex[HASH_HEX_BYTES];
		size_t len = strlen(prev) + strlen(body);
		assert_int_equal(json_integer_value(json_object_get(e, "epoch")), (json_int_t)i + 1);
		assert_string_equal(json_string_value(json_object_get(e, "prev_hash")), prev);
		assert_non_null(joined = malloc(len + 1));
		snprintf(joined, len + 1, "%s%s", prev, body);
		hash_buf_hex(joined, len, hex);
		free(joined);
		assert_string_equal(json_string_value(json_object_get(e, "hash")), hex);
		assert_string_equal(json_string_value(json_object_get(e, "validator_pk")), k.pk_hex);
		assert_int_equal(json_array_size(json_object_get(e, "weights")), 1);
		snprintf(prev, sizeof prev, "%s", hex);
	}
	json_decref(arr);
	/* One epoch alone; an epoch not closed is not found. */
	assert_int_equal(ledger_export(&c->s, 2, &arr, &err), 0);
	assert_int_equal(json_array_size(arr), 1);
	json_decref(arr);
	assert_int_equal(ledger_export(&c->s, 9, &arr, &err), -1);
	assert_string_equal(err.code, "ledger.not_found");
	keys_wipe(&k);
}

/* Epochs are appended in order: a gap, a repeat, or a closing time
 * earlier than the last one's is refused, and nothing is written. */
static void test_epoch_order(void **state)
{
	struct cr_state *c = *state;
	struct kerr err = { 0 };
	struct weights w = { 0 };
	long long n;

	close_epochs(c, 2);
	w.epoch = 4;
	snprintf(w.closed_at, sizeof w.closed_at, "2026-01-01T05:00:00Z");
	assert_int_equal(ledger_append(&c->s, &w, &err), -1);
	assert_string_equal(err.code, "ledger.epoch_order");
	w.epoch = 2;
	assert_int_equal(ledger_append(&c->s, &w, &err), -1);
	assert_string_equal(err.code, "ledger.epoch_order");
	w.epoch = 3;
	snprintf(w.closed_at, sizeof w.closed_at, "2026-01-01T01:30:00Z");
	assert_int_equal(ledger_append(&c->s, &w, &err), -1);
	assert_string_equal(err.code, "ledger.epoch_order");
	assert_int_equal(ledger_verify(&c->s, &n, &err), 0);
	assert_int_equal(n, 2);
	/* Through the sink, the next epoch goes in. */
	{
		struct weights_sink sink = ledger_sink(&c->s);
		snprintf(w.closed_at, sizeof w.closed_at, "2026-01-01T03:00:00Z");
		assert_string_equal(sink.name, "ledger");
		assert_int_equal(sink.submit(sink.ctx, &w, &err), 0);
	}
	assert_int_equal(ledger_verify(&c->s, &n, &err), 0);
	assert_int_equal(n, 3);
}

static void test_tamper_body(void **state)
{
	struct cr_state *c = *state;

	close_epochs(c, 3);
	cr_exec(&c->s, "UPDATE ledger SET body = replace(body, '\"u16\":65535', '\"u16\":65534') WHERE epoch = 2");
	assert_tampered(c, 2, "body (or prev_hash) edited");
}

/* The stored hash replaced: the signature still covers the body's true
 * hash, so the edit is named as the hash's. */
static void test_tamper_hash(void **state)
{
	struct cr_state *c = *state;

	close_epochs(c, 3);
	cr_exec(&c->s, "UPDATE ledger SET hash = '" LEDGER_ZERO_HASH "' WHERE epoch = 2");
	assert_tampered(c, 2, "hash edited");
}

static void test_tamper_prev_hash(void **state)
{
	struct cr_state *c = *state;

	close_epochs(c, 3);
	cr_exec(&c->s, "UPDATE ledger SET prev_hash = (SELECT hash FROM ledger WHERE epoch = 1) WHERE epoch = 3");
	assert_tampered(c, 3, "edited");
}

static void test_tamper_closed_at(void **state)
{
	struct cr_state *c = *state;

	close_epochs(c, 3);
	cr_exec(&c->s, "UPDATE ledger SET closed_at = '2030-01-01T00:00:00Z' WHERE epoch = 1");
	assert_tampered(c, 1, "closed_at");
}

static void test_tamper_drop_middle(void **state)
{
	struct cr_state *c = *state;

	close_epochs(c, 3);
	cr_exec(&c->s, "DELETE FROM ledger WHERE epoch = 2");
	assert_tampered(c, 2, "missing");
}

static void test_tamper_drop_first(void **state)
{
	struct cr_state *c = *state;

	close_epochs(c, 3);
	cr_exec(&c->s, "DELETE FROM ledger WHERE epoch = 1");
	assert_tampered(c, 1, "missing");
}

/* The newest entry dropped: the chain alone cannot tell, the recorded
 * head can. */
static void test_tamper_drop_last(void **state)
{
	struct cr_state *c = *state;

	close_epochs(c, 3);
	cr_exec(&c->s, "DELETE FROM ledger WHERE epoch = 3");
	assert_tampered(c, 3, "dropped from the end");
	cr_exec(&c->s, "DELETE FROM meta WHERE key = '" LEDGER_META_HEAD "'");
	assert_tampered(c, 2, "no ledger head");
}

/* Renumbered entries, moved one by one: a body that names another epoch. */
static void test_tamper_swap_epochs(void **state)
{
	struct cr_state *c = *state;

	close_epochs(c, 3);
	cr_exec(&c->s, "UPDATE ledger SET epoch = -2 WHERE epoch = 2; UPDATE ledger SET epoch = 2 WHERE epoch = 3;"
		       " UPDATE ledger SET epoch = 3 WHERE epoch = -2");
	assert_tampered(c, 2, "reordered");
}

/* Entry 2's body replaced by entry 3's whole row content (body, hash,
 * signature: all genuine): the chain link catches it. */
static void test_tamper_replace_entry(void **state)
{
	struct cr_state *c = *state;

	close_epochs(c, 3);
	cr_exec(&c->s, "UPDATE ledger SET body = replace((SELECT body FROM ledger WHERE epoch = 3), '\"epoch\":3',"
		       " '\"epoch\":2'), closed_at = (SELECT closed_at FROM ledger WHERE epoch = 3) WHERE epoch = 2");
	assert_tampered(c, 2, "edited");
}

static void test_tamper_signature(void **state)
{
	struct cr_state *c = *state;

	close_epochs(c, 3);
	cr_exec(&c->s, "UPDATE ledger SET signature = (SELECT signature FROM ledger WHERE epoch = 3) WHERE epoch = 2");
	assert_tampered(c, 2, "bad signature");
	cr_exec(&c->s, "UPDATE ledger SET signature = 'zz' WHERE epoch = 2");
	assert_tampered(c, 2, "not hex");
}

/* Another key file: every entry is signed by a key that is no longer this
 * validator's; a re-signer would also have to rewrite validator_pk, and
 * then the signatures fail. */
static void test_tamper_key_file(void **state)
{
	struct cr_state *c = *state;
	struct kerr err = { 0 };
	char path[FS_PATH_MAX], sql[256];
	struct keys k;

	close_epochs(c, 3);
	key_file(c, path);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(keys_generate(path, &k, &err), 0);
	assert_tampered(c, 1, "not this validator's key");
	snprintf(sql, sizeof sql, "UPDATE ledger SET validator_pk = '%s'", k.pk_hex);
	cr_exec(&c->s, sql);
	assert_tampered(c, 1, "bad signature");
	keys_wipe(&k);
	/* No key file at all: nothing to check signatures against. */
	assert_int_equal(unlink(path), 0);
	{
		long long n;
		assert_int_equal(ledger_verify(&c->s, &n, &err), -1);
		assert_string_equal(err.code, "ledger.key");
	}
}

/* The CLI end to end: validator epoch closes epochs into the ledger; show,
 * verify and export read it; tampering makes verify exit 1 naming the
 * epoch; bad arguments exit 2. */
static void test_cli(void **state)
{
	struct cr_state *c = *state;
	const char *k = tu_karpa();
	char out[1 << 16], hour_ago[VSTATE_TIME_BYTES];
	time_t t = time(NULL) - 3600;
	struct tm tm;
	json_t *o;

	/* Crowned an hour ago: within an epoch or two of the closes below. */
	gmtime_r(&t, &tm);
	strftime(hour_ago, sizeof hour_ago, "%Y-%m-%dT%H:%M:%SZ", &tm);
	/* The CLI opens through king recovery, which checks the newest kings
	 * row against git: give the hand-made king change a tag there (on
	 * the first king's commit; the weight rule reads only the rows). */
	cr_sub(&c->s, "k-a1", "alice", "accepted_king", NULL, NULL);
	cr_king(&c->s, "recipe-v0.1.1", "k-a1", "alice", 0.02, 1.0, hour_ago);
	cr_exec(&c->s, "UPDATE kings SET commit_id = (SELECT commit_id FROM kings WHERE id = 1) WHERE tag = 'recipe-v0.1.1'");
	tu_run_want(out, sizeof out, 0, "git -C '%s/recipe' tag recipe-v0.1.1 recipe-v0.1.0", c->state);
	tu_run_want(out, sizeof out, 1, "%s ledger '%s' show", k, c->state);
	assert_non_null(strstr(out, "ledger.not_found"));
	tu_run_want(out, sizeof out, 0, "%s validator epoch '%s' --epoch-seconds 600 --json", k, c->state);
	o = tu_out_json(out);
	assert_int_equal(json_integer_value(json_object_get(o, "epoch")), 1);
	assert_int_equal(json_array_size(json_object_get(o, "weights")), 1);
	json_decref(o);
	tu_run_want(out, sizeof out, 1, "%s validator epoch '%s' --epoch-seconds 60", k, c->state);
	assert_non_null(strstr(out, "weights.grid"));
	tu_run_want(out, sizeof out, 0, "%s validator epoch '%s'", k, c->state);
	assert_non_null(strstr(out, "epoch 2 closed"));

	tu_run_want(out, sizeof out, 0, "%s ledger '%s' verify", k, c->state);
	assert_non_null(strstr(out, "ledger ok: 2 entries"));
	tu_run_want(out, sizeof out, 0, "%s ledger '%s' verify --json", k, c->state);
	o = tu_out_json(out);
	assert_int_equal(json_integer_value(json_object_get(o, "entries")), 2);
	assert_true(json_is_true(json_object_get(o, "ok")));
	json_decref(o);
	tu_run_want(out, sizeof out, 0, "%s ledger '%s' show", k, c->state);
	assert_non_null(strstr(out, "epoch       2"));
	assert_non_null(strstr(out, cr_miner("alice")));
	tu_run_want(out, sizeof out, 0, "%s ledger '%s' show --epoch 1 --json", k, c->state);
	o = tu_out_json(out);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "entry"), "epoch")), 1);
	assert_string_equal(tu_jstr(json_object_get(o, "entry"), "prev_hash"), LEDGER_ZERO_HASH);
	json_decref(o);
	tu_run_want(out, sizeof out, 0, "%s ledger '%s' export", k, c->state);
	o = tu_out_json(out);
	assert_int_equal(json_array_size(json_object_get(o, "entries")), 2);
	json_decref(o);
	tu_run_want(out, sizeof out, 1, "%s ledger '%s' show --epoch 7", k, c->state);
	assert_non_null(strstr(out, "ledger.not_found"));

	tu_run_want(out, sizeof out, 2, "%s ledger '%s' show --epoch 0", k, c->state);
	tu_run_want(out, sizeof out, 2, "%s ledger '%s' verify --epoch 1", k, c->state);
	tu_run_want(out, sizeof out, 2, "%s ledger '%s' rewrite", k, c->state);
	tu_run_want(out, sizeof out, 2, "%s ledger '%s'", k, c->state);
	tu_run_want(out, sizeof out, 0, "%s ledger --help", k);
	tu_run_want(out, sizeof out, 2, "%s validator epoch '%s' --epoch-seconds 0", k, c->state);

	cr_exec(&c->s, "UPDATE ledger SET body = replace(body, '\"u16\":65535', '\"u16\":1') WHERE epoch = 2");
	tu_run_want(out, sizeof out, 1, "%s ledger '%s' verify", k, c->state);
	assert_non_null(strstr(out, "ledger.tampered"));
	assert_non_null(strstr(out, "ledger epoch 2:"));
	tu_run_want(out, sizeof out, 1, "%s ledger '%s' verify --json", k, c->state);
	o = tu_out_json(out);
	assert_string_equal(tu_jstr(o, "code"), "ledger.tampered");
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_append_and_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_epoch_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_hash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_prev_hash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_closed_at, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_drop_middle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_drop_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_drop_last, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_swap_epochs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_replace_entry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_signature, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_key_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cli, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
