/* chainsend.c: weights to a subtensor node (chainsend.h): one sender per
 * endpoint and key, the runtime's metadata cached until spec_version
 * changes, and the submit-then-follow loop every call goes through. */
#include "chain/chainsend.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chain/chainweights.h"
#include "chain/metadata.h"
#include "chain/ss58.h"
#include "chain/storage.h"
#include "util/log.h"

struct chain_sender {
	struct chain_send_opts o;
	struct chain_signer signer;
	char ss58[SS58_ADDRESS_MAX];
	struct chain_rpc *rpc;
	struct meta *meta;        /* cached for spec_version */
	uint32_t spec_version;
	uint8_t genesis[CHAIN_HASH_BYTES];
	int have_genesis;
};

void chain_send_report_free(struct chain_send_report *r)
{
	free(r->uids);
	free(r->vals);
	free(r->call_bytes);
	free(r->xt);
	memset(r, 0, sizeof *r);
}

uint64_t chain_subnet_epoch(uint16_t netuid, uint16_t tempo, uint64_t block)
{
	return (block + (uint64_t)netuid + 1) / ((uint64_t)tempo + 1);
}

int chain_sender_open(struct chain_sender **out, const struct chain_send_opts *o, const struct chain_signer *signer,
		      struct kerr *e)
{
	struct chain_sender *s = calloc(1, sizeof *s);

	*out = NULL;
	if (!s)
		return kerr_set(e, "chain.nomem", "out of memory");
	s->o = *o;
	if (!s->o.era_period)
		s->o.era_period = CHAIN_ERA_PERIOD_DEFAULT;
	if (!s->o.follow_ms)
		s->o.follow_ms = CHAIN_FOLLOW_MS_DEFAULT;
	if (s->o.poll_ms <= 0)
		s->o.poll_ms = CHAIN_POLL_MS_DEFAULT;
	s->signer = *signer;
	if (ss58_encode(signer->pub, SS58_PREFIX_SUBSTRATE, s->ss58, sizeof s->ss58, e) < 0 ||
	    chain_rpc_open(&s->rpc, o->endpoint, o->rpc, e) < 0) {
		free(s);
		return -1;
	}
	*out = s;
	return 0;
}

void chain_sender_close(struct chain_sender *s)
{
	if (!s)
		return;
	chain_rpc_close(s->rpc);
	meta_free(s->meta);
	free(s);
}

static void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&t, NULL);
}

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void hex_of(const uint8_t *b, size_t n, char *out)
{
	sodium_bin2hex(out, 2 * n + 1, b, n);
}

/* ------------------------------------------------------------ runtime */

/* The runtime at the best block: metadata fetched again only when the
 * spec version moved (a runtime upgrade can move calls and errors). */
static int runtime(struct chain_sender *s, struct chain_tx *tx, struct kerr *e)
{
	struct chain_runtime_version rv;
	uint8_t *blob = NULL;
	size_t len = 0;

	if (chain_rpc_runtime_version(s->rpc, NULL, &rv, e) < 0)
		return -1;
	if (!s->meta || rv.spec_version != s->spec_version) {
		struct meta *m = NULL;

		if (chain_rpc_metadata(s->rpc, NULL, &blob, &len, e) < 0)
			return -1;
		if (meta_parse(blob, len, &m, e) < 0) {
			free(blob);
			kerr_prefix(e, "the node's metadata (spec %u)", rv.spec_version);
			return -1;
		}
		free(blob);
		meta_free(s->meta);
		s->meta = m;
		s->spec_version = rv.spec_version;
		log_msg(LOG_PROGRESS, "chain", "runtime spec %u: metadata v%u read", rv.spec_version, m->version);
	}
	if (!s->have_genesis) {
		if (chain_rpc_block_hash(s->rpc, 0, s->genesis, e) < 0)
			return -1;
		s->have_genesis = 1;
	}
	memset(tx, 0, sizeof *tx);
	tx->spec_version = rv.spec_version;
	tx->tx_version = rv.transaction_version;
	memcpy(tx->genesis_hash, s->genesis, CHAIN_HASH_BYTES);
	tx->era_period = s->o.era_period;
	return 0;
}

/* The era is born at the latest finalised block: a best block could be
 * reorganised away, and an extrinsic born on it would be invalid. */
static int finalized(struct chain_sender *s, uint8_t fin[CHAIN_HASH_BYTES], struct chain_header *h, struct kerr *e)
{
	json_t *res = NULL;
	int rc;

	if (chain_rpc_call(s->rpc, "chain_getFinalizedHead", NULL, CHAIN_RPC_IDEMPOTENT, 0, &res, e) < 0)
		return -1;
	rc = chain_rpc_decode_hash(res, "chain_getFinalizedHead", fin, e);
	json_decref(res);
	return rc < 0 ? -1 : chain_rpc_header(s->rpc, fin, h, e);
}

static int era_and_nonce(struct chain_sender *s, struct chain_tx *tx, struct kerr *e)
{
	struct chain_header h;
	uint8_t fin[CHAIN_HASH_BYTES];
	uint64_t birth;

	if (finalized(s, fin, &h, e) < 0)
		return -1;
	birth = chain_era_birth(tx->era_period, h.number);
	tx->block_number = h.number;
	if (birth == h.number)
		memcpy(tx->block_hash, fin, CHAIN_HASH_BYTES);
	else if (chain_rpc_block_hash(s->rpc, birth, tx->block_hash, e) < 0)
		return -1;
	return chain_rpc_account_next_index(s->rpc, s->ss58, &tx->nonce, e);
}

/* A storage value the adapter reads (a bool, a u16, a u64, an account)
 * into out; a longer value is refused rather than truncated. */
#define VALUE_BYTES_MAX 64

static int fetch(struct chain_sender *s, const struct chain_storage_key *k, uint8_t out[VALUE_BYTES_MAX], size_t *n,
		 int *present, struct kerr *e)
{
	uint8_t *v = NULL;

	*n = 0;
	if (chain_rpc_storage(s->rpc, k->b, k->len, NULL, &v, n, present, e) < 0)
		return -1;
	if (*present && *n > VALUE_BYTES_MAX) {
		free(v);
		return kerr_set(e, "chain.storage_value", "a %zu-byte storage value where at most %d are due", *n,
				VALUE_BYTES_MAX);
	}
	if (*present && *n)
		memcpy(out, v, *n);
	free(v);
	return 0;
}

static int commit_reveal_on(struct chain_sender *s, int *on, struct kerr *e)
{
	struct chain_storage_key k;
	uint8_t v[VALUE_BYTES_MAX];
	size_t n;
	int present;

	if (chain_storage_key_commit_reveal(s->o.netuid, &k, e) < 0 || fetch(s, &k, v, &n, &present, e) < 0)
		return -1;
	return chain_storage_commit_reveal_value(v, n, present, on, e);
}

static int uid_of(struct chain_sender *s, const uint8_t account[32], int *registered, uint16_t *uid, struct kerr *e)
{
	struct chain_storage_key k;
	uint8_t v[VALUE_BYTES_MAX];
	size_t n;
	int present;

	if (chain_storage_key_uids(s->o.netuid, account, &k, e) < 0 || fetch(s, &k, v, &n, &present, e) < 0)
		return -1;
	return chain_storage_uid_value(v, n, present, registered, uid, e);
}

static int holder_of(struct chain_sender *s, uint16_t uid, uint8_t account[32], int *assigned, struct kerr *e)
{
	struct chain_storage_key k;
	uint8_t v[VALUE_BYTES_MAX];
	size_t n;
	int present;

	if (chain_storage_key_keys(s->o.netuid, uid, &k, e) < 0 || fetch(s, &k, v, &n, &present, e) < 0)
		return -1;
	return chain_storage_hotkey_value(v, n, present, account, assigned, e);
}

/* The subnet's tempo and reveal period (defaults when unset). */
static int reveal_params(struct chain_sender *s, uint16_t *tempo, uint64_t *period, struct kerr *e)
{
	struct chain_storage_key k;
	uint8_t v[VALUE_BYTES_MAX];
	size_t n;
	int present;

	if (chain_storage_key_tempo(s->o.netuid, &k, e) < 0 || fetch(s, &k, v, &n, &present, e) < 0 ||
	    chain_storage_tempo_value(v, n, present, tempo, e) < 0 ||
	    chain_storage_key_reveal_period(s->o.netuid, &k, e) < 0 || fetch(s, &k, v, &n, &present, e) < 0)
		return -1;
	return chain_storage_reveal_period_value(v, n, present, period, e);
}

/* ------------------------------------------------------------- follow */

static int meta_lookup(void *ctx, uint8_t pallet_index, uint8_t error_index, char *pallet, size_t pallet_cap,
		       char *name, size_t name_cap)
{
	const struct meta *m = ctx;
	const struct meta_pallet *p = meta_pallet_by_index(m, pallet_index);
	const char *n = meta_error_name(m, pallet_index, error_index);

	if (!p || !n)
		return -1;
	snprintf(pallet, pallet_cap, "%s", p->name);
	snprintf(name, name_cap, "%s", n);
	return 0;
}

/* How the landed extrinsic's dispatch ended: 0 for ExtrinsicSuccess, else
 * the failure's reason code. */
static int outcome(struct chain_sender *s, const uint8_t block[CHAIN_HASH_BYTES], struct chain_send_report *rep,
		   struct kerr *e)
{
	struct chain_storage_key k;
	uint8_t *v = NULL;
	size_t n = 0;
	int present = 0, rc;

	if (chain_storage_key_system_events(&k, e) < 0 ||
	    chain_rpc_storage(s->rpc, k.b, k.len, block, &v, &n, &present, e) < 0)
		return -1;
	rc = chain_events_outcome(s->meta, v, present ? n : 0, (uint32_t)rep->index, &rep->dispatch, e);
	free(v);
	/* events that did not decode to the end say nothing for sure, an
	 * outcome read before the failure included: the commit's keeping
	 * (chain_send_weights) must not turn on how far the decoding got */
	if (rc < 0)
		rep->dispatch.outcome = CHAIN_OUTCOME_NONE;
	if (rc < 0 && !present)
		return kerr_set(e, "chain.dispatch_unknown", "%s landed in block %llu but the block has no events",
				rep->call, (unsigned long long)rep->block);
	if (rc < 0)
		return -1;
	switch (rep->dispatch.outcome) {
	case CHAIN_OUTCOME_SUCCESS: return 0;
	case CHAIN_OUTCOME_FAILED:
		if (rep->dispatch.is_module) {
			chain_rpc_dispatch_error(rep->dispatch.pallet_index, rep->dispatch.error_index, meta_lookup, s->meta,
						 e);
			kerr_prefix(e, "%s in block %llu", rep->call, (unsigned long long)rep->block);
			return -1;
		}
		return kerr_set(e, "chain.dispatch_error", "%s in block %llu failed: DispatchError::%s", rep->call,
				(unsigned long long)rep->block, rep->dispatch.error_variant);
	case CHAIN_OUTCOME_NONE: break;
	}
	return kerr_set(e, "chain.dispatch_unknown", "%s landed in block %llu (extrinsic %ld) with no outcome event",
			rep->call, (unsigned long long)rep->block, rep->index);
}

/* Looks for the submission in each block after `from` until it is found or
 * follow_ms passes. */
static int follow(struct chain_sender *s, uint64_t from, struct chain_send_report *rep, struct kerr *e)
{
	long deadline = now_ms() + s->o.follow_ms;
	uint64_t next = from + 1, looked = 0;

	if (s->o.follow_ms < 0)
		return 0;
	for (;;) {
		struct chain_header h;

		if (chain_rpc_header(s->rpc, NULL, &h, e) < 0)
			return -1;
		for (; next <= h.number && looked < CHAIN_FOLLOW_BLOCKS_MAX; next++, looked++) {
			uint8_t bh[CHAIN_HASH_BYTES];
			long idx = -1;

			if (chain_rpc_block_hash(s->rpc, next, bh, e) < 0 ||
			    chain_rpc_find_extrinsic(s->rpc, bh, rep->tx_hash, &idx, e) < 0)
				return -1;
			if (idx >= 0) {
				rep->landed = 1;
				rep->block = next;
				rep->index = idx;
				return outcome(s, bh, rep, e);
			}
		}
		if (looked >= CHAIN_FOLLOW_BLOCKS_MAX || now_ms() >= deadline)
			break;
		sleep_ms(s->o.poll_ms);
	}
	{
		char hx[2 * CHAIN_HASH_BYTES + 1];

		hex_of(rep->tx_hash, CHAIN_HASH_BYTES, hx);
		return kerr_set(e, "chain.not_included",
				"%s 0x%s was accepted by the node but not seen in a block within %ld ms", rep->call, hx,
				s->o.follow_ms);
	}
}

/* Signs call and keeps the bytes in rep, with the extrinsic's hash, the
 * best block now and the block its era ends at: what it takes to find it
 * later in whichever block it lands. */
static int sign(struct chain_sender *s, struct chain_tx *tx, struct scale_writer *call, struct chain_send_report *rep,
		struct kerr *e)
{
	struct scale_writer xt;
	struct chain_header h;
	int rc = -1;

	scale_writer_init(&xt, CHAIN_EXTRINSIC_BYTES_MAX, e);
	if (chain_rpc_header(s->rpc, NULL, &h, e) < 0 || era_and_nonce(s, tx, e) < 0 ||
	    chain_extrinsic_signed(s->meta, tx, call->buf, call->len, &s->signer, &xt, e) < 0)
		goto out;
	free(rep->call_bytes);
	free(rep->xt);
	rep->call_bytes = call->buf;
	rep->call_len = call->len;
	rep->xt = xt.buf;
	rep->xt_len = xt.len;
	call->buf = NULL;
	xt.buf = NULL;
	crypto_generichash(rep->tx_hash, CHAIN_HASH_BYTES, rep->xt, rep->xt_len, NULL, 0);
	rep->sent_head = h.number;
	rep->sent_final = tx->block_number;
	rep->block = h.number; /* until it is seen in a block */
	rep->era_death = chain_era_death(tx->era_period, tx->block_number);
	rc = 0;
out:
	scale_writer_free(&xt);
	return rc;
}

/* Submits what sign() made and follows it into a block. */
static int submit(struct chain_sender *s, struct chain_send_report *rep, struct kerr *e)
{
	if (chain_rpc_submit(s->rpc, rep->xt, rep->xt_len, rep->tx_hash, e) < 0)
		return -1;
	rep->submitted = 1;
	return follow(s, rep->sent_head, rep, e);
}

/* Signs call, keeps the bytes in rep and, unless dry, submits and follows. */
static int sign_submit(struct chain_sender *s, struct chain_tx *tx, struct scale_writer *call, int dry,
		       struct chain_send_report *rep, struct kerr *e)
{
	if (sign(s, tx, call, rep, e) < 0)
		return -1;
	return dry ? 0 : submit(s, rep, e);
}

/* ------------------------------------------------------ pending commits */

/* A kept commit. Those this version writes name their extrinsic (tx_hash,
 * sent_final, era_death): a reveal pass finds the block it is in now, which
 * a reorganisation can change. It lands after sent_final (final before it
 * was signed) and before era_death, or never; clear_to is the last final
 * block known not to hold it, so no pass looks there again. */
struct commit {
	long long epoch;
	uint16_t netuid;
	uint64_t commit_block, version_key;
	int landed;
	int named; /* tx_hash, sent_final, era_death and clear_to are set */
	uint8_t tx_hash[CHAIN_HASH_BYTES];
	uint64_t sent_final, era_death, clear_to;
	uint8_t hotkey[32], hash[CHAIN_HASH_BYTES];
	uint16_t salt[CHAIN_SALT_LEN];
	size_t n;
	uint16_t *uids, *vals;
	uint8_t (*accounts)[32];
};

static void commit_free(struct commit *c)
{
	free(c->uids);
	free(c->vals);
	free(c->accounts);
	memset(c, 0, sizeof *c);
}

static json_t *hex_json(const uint8_t *b, size_t n)
{
	char hx[2 * 64 + 1];

	hex_of(b, n, hx);
	return json_string(hx);
}

static char *commit_body(const struct commit *c)
{
	json_t *o = json_object(), *u = json_array(), *v = json_array(), *a = json_array(), *sa = json_array();
	char *body;

	for (size_t i = 0; i < c->n; i++) {
		json_array_append_new(u, json_integer(c->uids[i]));
		json_array_append_new(v, json_integer(c->vals[i]));
		json_array_append_new(a, hex_json(c->accounts[i], 32));
	}
	for (size_t i = 0; i < CHAIN_SALT_LEN; i++)
		json_array_append_new(sa, json_integer(c->salt[i]));
	json_object_set_new(o, "version", json_integer(c->named ? 2 : 1));
	if (c->named) {
		json_object_set_new(o, "tx_hash", hex_json(c->tx_hash, CHAIN_HASH_BYTES));
		json_object_set_new(o, "sent_final", json_integer((json_int_t)c->sent_final));
		json_object_set_new(o, "era_death", json_integer((json_int_t)c->era_death));
		json_object_set_new(o, "clear_to", json_integer((json_int_t)c->clear_to));
	}
	json_object_set_new(o, "epoch", json_integer(c->epoch));
	json_object_set_new(o, "netuid", json_integer(c->netuid));
	json_object_set_new(o, "commit_block", json_integer((json_int_t)c->commit_block));
	json_object_set_new(o, "landed", json_boolean(c->landed));
	json_object_set_new(o, "version_key", json_integer((json_int_t)c->version_key));
	json_object_set_new(o, "hotkey", hex_json(c->hotkey, 32));
	json_object_set_new(o, "commit_hash", hex_json(c->hash, CHAIN_HASH_BYTES));
	json_object_set_new(o, "salt", sa);
	json_object_set_new(o, "uids", u);
	json_object_set_new(o, "values", v);
	json_object_set_new(o, "accounts", a);
	body = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return body;
}

static int hex_field(json_t *o, const char *k, uint8_t *out, size_t n)
{
	const char *s = json_string_value(json_object_get(o, k));
	size_t got = 0;

	return s && strlen(s) == 2 * n && sodium_hex2bin(out, n, s, 2 * n, NULL, &got, NULL) == 0 && got == n ? 0 : -1;
}

static int int_field(json_t *v, json_int_t lo, json_int_t hi, json_int_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return -1;
	*out = json_integer_value(v);
	return 0;
}

/* A stored body back, strictly: anything off is chain.commit_store (the
 * state was edited or is from another version). */
static int commit_parse(const char *body, struct commit *c, struct kerr *e)
{
	json_t *o = json_loads(body, JSON_REJECT_DUPLICATES, NULL), *u, *v, *a, *sa;
	json_int_t x;
	int ok = 0;

	memset(c, 0, sizeof *c);
	u = json_object_get(o, "uids");
	v = json_object_get(o, "values");
	a = json_object_get(o, "accounts");
	sa = json_object_get(o, "salt");
	if (!json_is_object(o) || !json_is_array(u) || !json_is_array(v) || !json_is_array(a) || !json_is_array(sa) ||
	    json_array_size(u) != json_array_size(v) || json_array_size(u) != json_array_size(a) ||
	    json_array_size(u) == 0 || json_array_size(u) > CHAIN_WEIGHTS_MAX || json_array_size(sa) != CHAIN_SALT_LEN)
		goto out;
	if (int_field(json_object_get(o, "epoch"), 0, INT64_MAX, &x) < 0)
		goto out;
	c->epoch = x;
	if (int_field(json_object_get(o, "netuid"), 0, UINT16_MAX, &x) < 0)
		goto out;
	c->netuid = (uint16_t)x;
	if (int_field(json_object_get(o, "commit_block"), 0, INT64_MAX, &x) < 0)
		goto out;
	c->commit_block = (uint64_t)x;
	if (int_field(json_object_get(o, "version_key"), 0, INT64_MAX, &x) < 0)
		goto out;
	c->version_key = (uint64_t)x;
	c->landed = json_is_true(json_object_get(o, "landed"));
	if (int_field(json_object_get(o, "version"), 1, 2, &x) < 0)
		goto out;
	if (x == 2) { /* version 1 (before 0.3) named no extrinsic */
		json_int_t sf, ed, ct;

		c->named = 1;
		if (hex_field(o, "tx_hash", c->tx_hash, CHAIN_HASH_BYTES) < 0 ||
		    int_field(json_object_get(o, "sent_final"), 0, INT64_MAX - 1, &sf) < 0 ||
		    int_field(json_object_get(o, "era_death"), sf + 1, INT64_MAX, &ed) < 0 ||
		    int_field(json_object_get(o, "clear_to"), sf, ed - 1, &ct) < 0 ||
		    c->commit_block <= (uint64_t)sf || c->commit_block >= (uint64_t)ed)
			goto out;
		c->sent_final = (uint64_t)sf;
		c->era_death = (uint64_t)ed;
		c->clear_to = (uint64_t)ct;
	}
	if (hex_field(o, "hotkey", c->hotkey, 32) < 0 || hex_field(o, "commit_hash", c->hash, CHAIN_HASH_BYTES) < 0)
		goto out;
	for (size_t i = 0; i < CHAIN_SALT_LEN; i++) {
		if (int_field(json_array_get(sa, i), 0, UINT16_MAX, &x) < 0)
			goto out;
		c->salt[i] = (uint16_t)x;
	}
	c->n = json_array_size(u);
	c->uids = malloc(c->n * sizeof *c->uids);
	c->vals = malloc(c->n * sizeof *c->vals);
	c->accounts = malloc(c->n * sizeof *c->accounts);
	if (!c->uids || !c->vals || !c->accounts)
		goto out;
	for (size_t i = 0; i < c->n; i++) {
		const char *hx = json_string_value(json_array_get(a, i));
		size_t got = 0;

		if (int_field(json_array_get(u, i), 0, UINT16_MAX, &x) < 0)
			goto out;
		c->uids[i] = (uint16_t)x;
		if (int_field(json_array_get(v, i), 0, UINT16_MAX, &x) < 0)
			goto out;
		c->vals[i] = (uint16_t)x;
		if (!hx || strlen(hx) != 64 || sodium_hex2bin(c->accounts[i], 32, hx, 64, NULL, &got, NULL) || got != 32)
			goto out;
	}
	ok = 1;
out:
	json_decref(o);
	if (ok)
		return 0;
	commit_free(c);
	return kerr_set(e, "chain.commit_store", "a kept commit is not in the form this version writes");
}

static int commit_put(struct chain_sender *s, const struct commit *c, struct kerr *e)
{
	char key[2 * CHAIN_HASH_BYTES + 1], *body = commit_body(c);
	int rc;

	if (!body)
		return kerr_set(e, "chain.nomem", "out of memory");
	hex_of(c->hash, CHAIN_HASH_BYTES, key);
	rc = s->o.store->put(s->o.store->ctx, key, c->netuid, body, e);
	free(body);
	return rc;
}

static int commit_del(struct chain_sender *s, const struct commit *c, struct kerr *e)
{
	char key[2 * CHAIN_HASH_BYTES + 1];

	hex_of(c->hash, CHAIN_HASH_BYTES, key);
	return s->o.store->del(s->o.store->ctx, key, e);
}

/* ------------------------------------------------------------- weights */

struct pick {
	uint16_t uid;
	double score;
	size_t miner;
};

static int by_uid(const void *a, const void *b)
{
	const struct pick *x = a, *y = b;

	return (x->uid > y->uid) - (x->uid < y->uid);
}

/* Registered miners, by uid; the rest are warned about and dropped. */
static int map_uids(struct chain_sender *s, const struct chain_miner *m, size_t n, struct pick *p, size_t *np,
		    size_t *dropped, struct kerr *e)
{
	*np = 0;
	*dropped = 0;
	for (size_t i = 0; i < n; i++) {
		int reg = 0;
		uint16_t uid = 0;

		if (!(m[i].score > 0)) /* nothing to give: no lookup */
			continue;
		if (uid_of(s, m[i].account, &reg, &uid, e) < 0)
			return -1;
		if (!reg) {
			char hx[65];

			hex_of(m[i].account, 32, hx);
			log_msg(LOG_WARN, "chain", "miner %s has no uid on subnet %u (not registered with its Karpa key as "
				"hotkey): its weight is dropped", hx, s->o.netuid);
			(*dropped)++;
			continue;
		}
		p[*np].uid = uid;
		p[*np].score = m[i].score;
		p[*np].miner = i;
		(*np)++;
	}
	qsort(p, *np, sizeof *p, by_uid);
	return 0;
}

int chain_send_weights(struct chain_sender *s, long long epoch, const struct chain_miner *miners, size_t n,
		       int dry_run, struct chain_send_report *rep, struct kerr *e)
{
	struct pick *p = NULL;
	uint16_t *uids = NULL;
	double *w = NULL;
	struct chain_tx tx;
	struct scale_writer call;
	struct commit c;
	size_t np = 0, kept = 0;
	int rc = -1, on = 0;

	memset(rep, 0, sizeof *rep);
	memset(&c, 0, sizeof c);
	rep->epoch = epoch;
	rep->version_key = s->o.version_key;
	scale_writer_init(&call, CHAIN_CALL_BYTES_MAX, e);
	if (n > CHAIN_WEIGHTS_MAX * 4u) {
		kerr_set(e, "chain.weights_length", "%zu miners: more than a subnet can hold", n);
		goto out;
	}
	p = malloc((n ? n : 1) * sizeof *p);
	uids = malloc((n ? n : 1) * sizeof *uids);
	w = malloc((n ? n : 1) * sizeof *w);
	rep->uids = malloc((n ? n : 1) * sizeof *rep->uids);
	rep->vals = malloc((n ? n : 1) * sizeof *rep->vals);
	if (!p || !uids || !w || !rep->uids || !rep->vals) {
		kerr_set(e, "chain.nomem", "out of memory");
		goto out;
	}
	if (runtime(s, &tx, e) < 0 || commit_reveal_on(s, &on, e) < 0 ||
	    map_uids(s, miners, n, p, &np, &rep->dropped, e) < 0)
		goto out;
	rep->commit_reveal = on;
	if (np > CHAIN_WEIGHTS_MAX) {
		kerr_set(e, "chain.weights_length", "%zu uids: more than a u16 can name", np);
		goto out;
	}
	for (size_t i = 0; i < np; i++) {
		uids[i] = p[i].uid;
		w[i] = p[i].score;
	}
	if (np && chain_weights_u16(uids, np, w, np, rep->uids, rep->vals, &kept, e) < 0)
		goto out;
	rep->n = kept;
	if (kept == 0) {
		log_msg(LOG_NOTICE, "chain", "epoch %lld: no registered miner has a weight: nothing to send", epoch);
		rc = 0;
		goto out;
	}
	if (!on) {
		rep->call = "set_weights";
		if (chain_call_set_weights(s->meta, s->o.netuid, rep->uids, rep->vals, kept, s->o.version_key, &call, e) < 0)
			goto out;
		rc = sign_submit(s, &tx, &call, dry_run, rep, e);
		goto out;
	}
	rep->call = "commit_weights";
	if (!dry_run && !s->o.store) {
		kerr_set(e, "chain.commit_store", "subnet %u has commit-reveal on and no store keeps the commit",
			 s->o.netuid);
		goto out;
	}
	randombytes_buf(rep->salt, sizeof rep->salt);
	if (chain_commit_hash(s->signer.pub, s->o.netuid, rep->uids, rep->vals, kept, rep->salt, CHAIN_SALT_LEN,
			      s->o.version_key, rep->commit_hash, e) < 0 ||
	    chain_call_commit_weights(s->meta, s->o.netuid, rep->commit_hash, &call, e) < 0)
		goto out;
	c.epoch = epoch;
	c.netuid = s->o.netuid;
	c.version_key = s->o.version_key;
	memcpy(c.hotkey, s->signer.pub, 32);
	memcpy(c.hash, rep->commit_hash, CHAIN_HASH_BYTES);
	memcpy(c.salt, rep->salt, sizeof c.salt);
	c.n = kept;
	c.uids = malloc(kept * sizeof *c.uids);
	c.vals = malloc(kept * sizeof *c.vals);
	c.accounts = malloc(kept * sizeof *c.accounts);
	if (!c.uids || !c.vals || !c.accounts) {
		kerr_set(e, "chain.nomem", "out of memory");
		goto out;
	}
	memcpy(c.uids, rep->uids, kept * sizeof *c.uids);
	memcpy(c.vals, rep->vals, kept * sizeof *c.vals);
	for (size_t i = 0, j = 0; i < np && j < kept; i++)
		if (p[i].uid == rep->uids[j])
			memcpy(c.accounts[j++], miners[p[i].miner].account, 32);
	if (dry_run) {
		rc = sign_submit(s, &tx, &call, 1, rep, e);
		goto out;
	}
	/* Signed, then kept, then sent: a crash after the submission still
	 * reveals, and the kept commit names its extrinsic, so a reveal pass
	 * finds the block it landed in (or learns that it never did) whatever
	 * happened to this process or to the chain's best blocks. */
	if (sign(s, &tx, &call, rep, e) < 0)
		goto out;
	c.commit_block = rep->sent_final + 1; /* the earliest it can land */
	c.named = 1;
	memcpy(c.tx_hash, rep->tx_hash, CHAIN_HASH_BYTES);
	c.sent_final = rep->sent_final;
	c.era_death = rep->era_death;
	c.clear_to = rep->sent_final;
	if (commit_put(s, &c, e) < 0)
		goto out;
	rc = submit(s, rep, e);
	if (rep->landed) {
		c.commit_block = rep->block;
		c.landed = 1;
	}
	{
		struct kerr e2 = { { 0 }, { 0 } };

		/* refused (never pooled) or failed in its block: nothing to reveal.
		 * A submission whose fate is unknown may still land, and one that
		 * landed in a block whose outcome could not be read (no events,
		 * events that do not decode, the events query failing) may have
		 * succeeded: both stay, and the reveal drops a commit the chain
		 * does not hold (chain.commit_not_found). */
		if (rc < 0 && ((!rep->submitted && strcmp(e->code, "chain.submit_unknown")) ||
			       (rep->landed && rep->dispatch.outcome == CHAIN_OUTCOME_FAILED)))
			commit_del(s, &c, &e2);
		else if (rep->landed && commit_put(s, &c, &e2) < 0)
			log_msg(LOG_WARN, "chain", "keeping the commit's block: %s (%s)", e2.msg, e2.code);
	}
out:
	commit_free(&c);
	scale_writer_free(&call);
	free(p);
	free(uids);
	free(w);
	return rc;
}

/* ------------------------------------------------------------- reveals */

/* Where a commit's extrinsic is on the node's best chain now. */
enum place {
	PLACED,   /* in c->commit_block */
	UNPLACED, /* in no block looked at; it may still land */
	LOST,     /* its era ended, finalised, without it */
};

static int in_block(struct chain_sender *s, uint64_t number, const uint8_t tx_hash[CHAIN_HASH_BYTES], int *found,
		    struct kerr *e)
{
	uint8_t bh[CHAIN_HASH_BYTES];
	long idx = -1;

	if (chain_rpc_block_hash(s->rpc, number, bh, e) < 0 || chain_rpc_find_extrinsic(s->rpc, bh, tx_hash, &idx, e) < 0)
		return -1;
	*found = idx >= 0;
	return 0;
}

/* Finds the block a named commit's extrinsic is in now: where it was seen
 * last first, then each block its era admits, up to the head, that is not
 * known already not to hold it. Keeps what it learns (the block, clear_to)
 * in the store, also when a failure cuts the pass short. A commit written
 * before extrinsics were named (version 1) is taken to be where it was
 * seen. */
static int locate(struct chain_sender *s, struct commit *c, uint64_t head, uint64_t fin, enum place *where,
		  struct kerr *e)
{
	const struct commit before = *c;
	uint64_t from = c->clear_to + 1, to, last, looked = c->clear_to;
	int found = 0, checked = 0, rc = 0;

	*where = PLACED;
	if (!c->named)
		return 0;
	if (c->landed && c->commit_block > head) {
		/* a node behind the block it was seen in, or on a shorter fork:
		 * nothing to learn until it has that block again */
		*where = UNPLACED;
		return 0;
	}
	if (c->landed) {
		if (in_block(s, c->commit_block, c->tx_hash, &found, e) < 0)
			return -1;
		if (found)
			return 0;
		checked = 1;
	}
	last = c->era_death - 1 < head ? c->era_death - 1 : head;
	to = last >= from && last - from >= CHAIN_LOCATE_BLOCKS_MAX ? from + CHAIN_LOCATE_BLOCKS_MAX - 1 : last;
	for (uint64_t b = from; b <= to; b++) {
		if (!(checked && b == before.commit_block)) {
			if (in_block(s, b, c->tx_hash, &found, e) < 0) {
				rc = -1;
				break;
			}
			if (found) {
				c->commit_block = b;
				break;
			}
		}
		looked = b;
	}
	/* final blocks looked through in vain are never looked at again */
	if ((looked < fin ? looked : fin) > c->clear_to)
		c->clear_to = looked < fin ? looked : fin;
	if (rc == 0 && found) {
		log_msg(LOG_WARN, "chain", "epoch %lld's commit is in block %llu now (%s %llu): its reveal window is "
			"that block's (%s)", c->epoch, (unsigned long long)c->commit_block,
			before.landed ? "a reorganisation moved it from block" : "not seen landing; final when sent: block",
			(unsigned long long)(before.landed ? before.commit_block : c->sent_final), "chain.commit_moved");
		c->landed = 1;
	} else if (rc == 0) {
		if (before.landed)
			log_msg(LOG_WARN, "chain", "epoch %lld's commit is no longer in block %llu, nor in any block to "
				"%llu (reorganised away): it waits for where it lands (%s)", c->epoch,
				(unsigned long long)before.commit_block, (unsigned long long)to, "chain.commit_moved");
		c->landed = 0;
		*where = c->clear_to + 1 >= c->era_death ? LOST : UNPLACED;
	}
	if (c->commit_block != before.commit_block || c->landed != before.landed || c->clear_to != before.clear_to) {
		struct kerr e2 = { { 0 }, { 0 } };

		if (commit_put(s, c, rc < 0 ? &e2 : e) < 0 && rc == 0)
			rc = -1;
	}
	return rc;
}

static void expire(struct chain_sender *s, struct commit *c, const char *why, struct chain_reveal_report *rr)
{
	struct kerr e2 = { { 0 }, { 0 } };

	rr->expired++;
	log_msg(LOG_WARN, "chain", "epoch %lld's commit %s: dropped (%s)", c->epoch, why, "chain.reveal_expired");
	commit_del(s, c, &e2);
}

/* One kept commit: 1 revealed (or dropped), 0 waiting, -1 failed. */
static int reveal_one(struct chain_sender *s, struct commit *c, const struct chain_tx *tx0, uint16_t tempo,
		      uint64_t period, uint64_t head, uint64_t fin, struct chain_reveal_report *rr, struct kerr *e)
{
	const uint16_t nu = s->o.netuid;
	uint64_t ce, window_end, now = chain_subnet_epoch(nu, tempo, head),
		 slack = (uint64_t)tempo + 1 >= 8 ? ((uint64_t)tempo + 1) / 4 : 2;
	struct chain_send_report rep;
	struct scale_writer call;
	struct chain_tx tx = *tx0;
	struct kerr e2 = { { 0 }, { 0 } };
	enum place where;
	char why[192];
	int rc;

	/* no window is open before that of the earliest block it could be
	 * in, and every one is past after that of the latest: nothing asked
	 * of the node then */
	if (now < chain_subnet_epoch(nu, tempo, c->named ? c->sent_final + 1 : c->commit_block) + period) {
		rr->waiting++;
		return 0;
	}
	if (c->named && now > chain_subnet_epoch(nu, tempo, c->era_death - 1) + period) {
		snprintf(why, sizeof why, "is past the reveal window of any block its extrinsic could be in (the last, "
			 "%llu, is in subnet epoch %llu; now %llu)", (unsigned long long)(c->era_death - 1),
			 (unsigned long long)chain_subnet_epoch(nu, tempo, c->era_death - 1), (unsigned long long)now);
		expire(s, c, why, rr);
		return 1;
	}
	if (locate(s, c, head, fin, &where, e) < 0)
		return -1;
	if (where == LOST) {
		rr->lost++;
		log_msg(LOG_WARN, "chain", "epoch %lld's commit never landed: its extrinsic's era ended at block %llu, "
			"finalised, and no block of it holds the commit; dropped, nothing to reveal (%s)", c->epoch,
			(unsigned long long)c->era_death, "chain.commit_lost");
		commit_del(s, c, &e2);
		return 1;
	}
	if (where == UNPLACED) {
		rr->waiting++;
		return 0;
	}
	ce = chain_subnet_epoch(nu, tempo, c->commit_block);
	if (now < ce + period) {
		rr->waiting++;
		return 0;
	}
	/* the window's last block: epoch(b) = (b + netuid + 1) / (tempo + 1) */
	window_end = (ce + period + 1) * ((uint64_t)tempo + 1) - nu - 2;
	/* A transaction lands in a block after the head at the earliest: with
	 * the window's last block as head, a reveal sent now lands past it,
	 * fails there and costs its fee. A commit block not final yet may
	 * still move to a later window: it waits. */
	if (now > ce + period || head >= window_end) {
		if (c->commit_block > fin) {
			rr->waiting++;
			return 0;
		}
		snprintf(why, sizeof why, "(block %llu) is past its reveal window (subnet epoch %llu, now %llu%s)",
			 (unsigned long long)c->commit_block, (unsigned long long)(ce + period), (unsigned long long)now,
			 now > ce + period ? "" : ", whose last block is the head: a reveal would land after it");
		expire(s, c, why, rr);
		return 1;
	}
	/* A block that is not final can still be reorganised away, and the
	 * window with it: the reveal waits, finality trailing the head by a
	 * few blocks where a window is an epoch. Finality that stalls into
	 * the window's last quarter is not waited for: a reveal that fails
	 * costs a fee, one never sent the epoch's weights. */
	if (c->commit_block > fin && window_end - head >= slack) {
		rr->waiting++;
		log_msg(LOG_NOTICE, "chain", "epoch %lld's commit: block %llu is not finalised yet (finalised: %llu); its "
			"reveal waits", c->epoch, (unsigned long long)c->commit_block, (unsigned long long)fin);
		return 0;
	}
	if (c->commit_block > fin)
		log_msg(LOG_WARN, "chain", "epoch %lld's commit: block %llu is not finalised (finalised: %llu) and its "
			"window ends at block %llu: revealed on the best chain (%s)", c->epoch,
			(unsigned long long)c->commit_block, (unsigned long long)fin, (unsigned long long)window_end,
			"chain.commit_not_final");
	for (size_t i = 0; i < c->n; i++) {
		uint8_t holder[32];
		int assigned = 0;

		if (holder_of(s, c->uids[i], holder, &assigned, e) < 0)
			return -1;
		if (!assigned || memcmp(holder, c->accounts[i], 32)) {
			rr->moved++;
			log_msg(LOG_WARN, "chain", "epoch %lld's commit: uid %u changed hands since it was committed; the "
				"commit binds it, so it is not revealed and is dropped (%s)", c->epoch, c->uids[i],
				"chain.reveal_uid_moved");
			commit_del(s, c, &e2);
			return 1;
		}
	}
	memset(&rep, 0, sizeof rep);
	rep.call = "reveal_weights";
	rep.epoch = c->epoch;
	scale_writer_init(&call, CHAIN_CALL_BYTES_MAX, e);
	if (chain_call_reveal_weights(s->meta, s->o.netuid, c->uids, c->vals, c->n, c->salt, CHAIN_SALT_LEN,
				      c->version_key, &call, e) < 0) {
		scale_writer_free(&call);
		return -1;
	}
	rc = sign_submit(s, &tx, &call, 0, &rep, e);
	scale_writer_free(&call);
	if (rc == 0) {
		rr->revealed++;
		commit_del(s, c, &e2);
	} else if (!strcmp(e->code, "chain.commit_not_found") || !strcmp(e->code, "chain.commit_mismatch")) {
		commit_del(s, c, &e2); /* nothing on chain will ever take it */
	}
	chain_send_report_free(&rep);
	return rc < 0 ? -1 : 1;
}

int chain_send_reveals(struct chain_sender *s, struct chain_reveal_report *rr, struct kerr *e)
{
	char **bodies = NULL;
	size_t n = 0;
	struct chain_tx tx;
	struct chain_header h, fh;
	uint8_t fin[CHAIN_HASH_BYTES];
	uint16_t tempo = 0;
	uint64_t period = 0;
	int rc = 0;

	memset(rr, 0, sizeof *rr);
	if (!s->o.store)
		return 0;
	if (s->o.store->list(s->o.store->ctx, s->o.netuid, &bodies, &n, e) < 0)
		return -1;
	rr->pending = (int)n;
	if (n == 0)
		goto out;
	if (runtime(s, &tx, e) < 0 || reveal_params(s, &tempo, &period, e) < 0 || chain_rpc_header(s->rpc, NULL, &h, e) < 0 ||
	    finalized(s, fin, &fh, e) < 0) {
		rc = -1;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct commit c;
		struct kerr e1 = { { 0 }, { 0 } };

		if (commit_parse(bodies[i], &c, &e1) < 0) {
			rr->failed++;
			if (rc == 0)
				*e = e1;
			rc = -1;
			continue;
		}
		if (memcmp(c.hotkey, s->signer.pub, 32)) { /* another key's commit: not ours to reveal */
			commit_free(&c);
			continue;
		}
		if (reveal_one(s, &c, &tx, tempo, period, h.number, fh.number, rr, &e1) < 0) {
			rr->failed++;
			log_msg(LOG_WARN, "chain", "revealing epoch %lld's commit: %s (%s)", c.epoch, e1.msg, e1.code);
			if (rc == 0)
				*e = e1;
			rc = -1;
		}
		commit_free(&c);
	}
out:
	for (size_t i = 0; i < n; i++)
		free(bodies[i]);
	free(bodies);
	return rc;
}
