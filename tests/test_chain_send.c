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

#include "chain_node.h"
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

#define NETUID 16
#define MINERS 3
#define HOOK_CALLS_MAX 16

static struct cn_node g_node;
static struct meta *g_meta;

/* ------------------------------------------------------ the runtime's side */

struct seen {
	char call[32];
	int sig_ok;
	uint8_t signer[32];
	uint16_t netuid;
	size_t n, n_salt;
	uint16_t uids[64], vals[64], salt[16];
	uint64_t version_key;
	uint8_t hash[32];
	int hash_matched; /* reveal: 1 it hashes to a kept commit */
};

struct runtime {
	pthread_mutex_t mu;
	struct seen seen[HOOK_CALLS_MAX];
	int nseen;
	uint8_t commits[8][32];
	int ncommits;
	char fail_error[64]; /* the next extrinsic fails with SubtensorModule's error of this name */
	int events;          /* what blocks' System.Events say (enum events) */
};

enum events {
	EVENTS_OUTCOME, /* the inherent's success, an event of ours, our outcome */
	EVENTS_NONE,    /* no System.Events value stored at the block */
	EVENTS_OTHERS,  /* only the inherent's success: nothing about ours */
	EVENTS_TWO,     /* ours failed, then succeeded too: decodes to a failure past its outcome */
};

static struct runtime g_rt = { .mu = PTHREAD_MUTEX_INITIALIZER };

static const struct meta_pallet *pallet(const char *name)
{
	const struct meta_pallet *p = meta_pallet_by_name(g_meta, name);

	if (!p)
		abort();
	return p;
}

static uint8_t error_index(const char *name)
{
	const struct meta_variant *v = meta_variant_by_name(meta_type(g_meta, pallet("SubtensorModule")->errors_type), name);

	if (!v)
		abort();
	return v->index;
}

/* The least value of a type: first variants, empty vectors, zeros. */
static void enc_default(uint32_t id, struct scale_writer *w, int depth)
{
	const struct meta_type *t = meta_type(g_meta, id);

	if (!t || depth > 32)
		abort();
	switch (t->def) {
	case META_COMPOSITE:
		for (uint32_t i = 0; i < t->n; i++)
			enc_default(t->fields[i].type, w, depth + 1);
		break;
	case META_VARIANT:
		scale_put_u8(w, t->variants[0].index);
		for (uint32_t i = 0; i < t->variants[0].nfields; i++)
			enc_default(t->variants[0].fields[i].type, w, depth + 1);
		break;
	case META_SEQUENCE: scale_put_compact(w, 0); break;
	case META_ARRAY:
		for (uint32_t i = 0; i < t->n; i++)
			enc_default(t->elem, w, depth + 1);
		break;
	case META_TUPLE:
		for (uint32_t i = 0; i < t->n; i++)
			enc_default(t->items[i], w, depth + 1);
		break;
	case META_PRIMITIVE: {
		static const int sz[] = { 1, 4, 0, 1, 2, 4, 8, 16, 32, 1, 2, 4, 8, 16, 32 };
		uint8_t z[32] = { 0 };

		if (t->prim == META_STR)
			scale_put_compact(w, 0);
		else
			scale_put_bytes(w, z, (size_t)sz[t->prim]);
		break;
	}
	case META_COMPACT: scale_put_compact(w, 0); break;
	case META_BITSEQ: scale_put_compact(w, 0); break;
	}
}

static const struct meta_type *record_type(void)
{
	for (uint32_t i = 0; i < g_meta->ntypes; i++)
		if (!strcmp(g_meta->types[i].path, "frame_system::EventRecord"))
			return &g_meta->types[i];
	abort();
}

/* One record: phase ApplyExtrinsic(idx), event pallet.name; a failure
 * (module != NULL) carries DispatchError::Module { pallet, error }. */
static void enc_record(struct scale_writer *w, uint32_t idx, const char *pal, const char *name, const char *err_pallet,
		       uint8_t err_index)
{
	const struct meta_type *rec = record_type(), *phase = meta_type(g_meta, rec->fields[0].type),
			       *ev = meta_type(g_meta, rec->fields[1].type), *pt;
	const struct meta_variant *pv = meta_variant_by_name(ev, pal), *v;

	scale_put_u8(w, meta_variant_by_name(phase, "ApplyExtrinsic")->index);
	scale_put_u32(w, idx);
	scale_put_u8(w, pv->index);
	pt = meta_type(g_meta, pv->fields[0].type);
	v = meta_variant_by_name(pt, name);
	if (!v)
		abort();
	scale_put_u8(w, v->index);
	for (uint32_t i = 0; i < v->nfields; i++) {
		if (i == 0 && err_pallet && !strcmp(err_pallet, "BadOrigin")) { /* DispatchError::BadOrigin */
			scale_put_u8(w, meta_variant_by_name(meta_type(g_meta, v->fields[0].type), "BadOrigin")->index);
			continue;
		}
		if (i == 0 && err_pallet) {
			const struct meta_type *de = meta_type(g_meta, v->fields[0].type);
			uint8_t err4[4] = { err_index, 0, 0, 0 };

			scale_put_u8(w, meta_variant_by_name(de, "Module")->index);
			scale_put_u8(w, pallet(err_pallet)->index);
			scale_put_bytes(w, err4, 4);
			continue;
		}
		enc_default(v->fields[i].type, w, 1);
	}
	scale_put_compact(w, 0); /* topics */
}

/* The block's events: the inherent's success, an unrelated event of ours
 * (stepped over by type), then our outcome. */
static char *enc_events(const char *fail_error, int then_success)
{
	struct scale_writer w;
	struct kerr e;
	char *hex;

	scale_writer_init(&w, 1 << 16, &e);
	scale_put_compact(&w, 3 + (then_success != 0));
	enc_record(&w, 0, "System", "ExtrinsicSuccess", NULL, 0);
	enc_record(&w, 1, "SubtensorModule", "WeightsSet", NULL, 0);
	if (fail_error && !strcmp(fail_error, "BadOrigin"))
		enc_record(&w, 1, "System", "ExtrinsicFailed", "BadOrigin", 0);
	else if (fail_error && fail_error[0])
		enc_record(&w, 1, "System", "ExtrinsicFailed", "SubtensorModule", error_index(fail_error));
	else
		enc_record(&w, 1, "System", "ExtrinsicSuccess", NULL, 0);
	if (then_success)
		enc_record(&w, 1, "System", "ExtrinsicSuccess", NULL, 0);
	if (w.failed)
		abort();
	hex = malloc(2 * w.len + 3);
	cn_hex(w.buf, w.len, hex);
	scale_writer_free(&w);
	return hex;
}

/* A block's events that name only the inherent (index 0). */
static char *enc_inherent_only(void)
{
	struct scale_writer w;
	struct kerr e;
	char *hex;

	scale_writer_init(&w, 1 << 16, &e);
	scale_put_compact(&w, 1);
	enc_record(&w, 0, "System", "ExtrinsicSuccess", NULL, 0);
	if (w.failed)
		abort();
	hex = malloc(2 * w.len + 3);
	cn_hex(w.buf, w.len, hex);
	scale_writer_free(&w);
	return hex;
}

/* The era's birth block: the newest block at or below the head whose era
 * bytes (period 128) are these. */
static int birth_hash(const uint8_t *era, size_t era_len, uint8_t hash[32])
{
	for (long b = (long)g_node.head; b >= 0 && b > (long)g_node.head - 256; b--) {
		uint8_t enc[2];

		if (chain_era_encode(CHAIN_ERA_PERIOD_DEFAULT, (uint64_t)b, enc) == era_len && !memcmp(enc, era, era_len)) {
			cn_block_hash((uint32_t)b, hash);
			return 0;
		}
	}
	return -1;
}

static int read_vec(struct scale_reader *r, uint16_t *out, size_t cap, size_t *n)
{
	uint16_t *v = NULL;

	if (scale_read_vec_u16(r, cap, &v, n) < 0)
		return -1;
	if (*n)
		memcpy(out, v, *n * sizeof *v);
	free(v);
	return 0;
}

/* Decodes what a runtime would: the signed v4 extrinsic of the fixture's
 * extensions (era, nonce, tip, metadata-hash mode), the signature over the
 * rebuilt payload, and the call's arguments. */
static void decode_xt(const uint8_t *xt, size_t len, struct seen *s)
{
	struct scale_reader r;
	struct kerr e;
	uint32_t body;
	uint8_t b, sig_kind, sig[64], era[2], mode, genesis[32], birth[32];
	const uint8_t *extra, *call;
	size_t extra_len, call_len, era_len;
	uint64_t nonce, tip;
	struct scale_writer p;
	const struct meta_pallet *mp;
	const struct meta_variant *cv;

	memset(s, 0, sizeof *s);
	scale_reader_init(&r, xt, len, &e);
	scale_read_compact_u32(&r, &body);
	scale_read_u8(&r, &b);
	if (b != 0x84)
		return;
	scale_read_u8(&r, &b); /* MultiAddress::Id */
	scale_read_bytes(&r, s->signer, 32);
	scale_read_u8(&r, &sig_kind);
	scale_read_bytes(&r, sig, 64);
	extra = r.buf + r.off;
	scale_read_u8(&r, &era[0]);
	era_len = 1;
	if (era[0]) {
		scale_read_u8(&r, &era[1]);
		era_len = 2;
	}
	scale_read_compact(&r, &nonce);
	scale_read_compact(&r, &tip);
	scale_read_u8(&r, &mode);
	if (r.failed)
		return;
	extra_len = (size_t)(r.buf + r.off - extra);
	call = r.buf + r.off;
	call_len = scale_remaining(&r);
	/* the payload the runtime checks */
	cn_block_hash(0, genesis);
	if (birth_hash(era, era_len, birth) < 0)
		return;
	scale_writer_init(&p, 1 << 20, &e);
	scale_put_bytes(&p, call, call_len);
	scale_put_bytes(&p, extra, extra_len);
	scale_put_u32(&p, CN_SPEC_VERSION);
	scale_put_u32(&p, CN_TX_VERSION);
	scale_put_bytes(&p, genesis, 32);
	scale_put_bytes(&p, birth, 32);
	scale_put_u8(&p, 0);
	if (p.len > 256) {
		uint8_t d[32];

		crypto_generichash(d, 32, p.buf, p.len, NULL, 0);
		scale_writer_reset(&p);
		scale_put_bytes(&p, d, 32);
	}
	if (sig_kind == CHAIN_SCHEME_ED25519)
		s->sig_ok = crypto_sign_verify_detached(sig, p.buf, p.len, s->signer) == 0;
	else
		s->sig_ok = sr25519_verify(s->signer, p.buf, p.len, sig, &e) == 0;
	scale_writer_free(&p);
	/* the call */
	scale_read_u8(&r, &b);
	if (!(mp = meta_pallet_by_index(g_meta, b)) || strcmp(mp->name, "SubtensorModule"))
		return;
	scale_read_u8(&r, &b);
	if (!(cv = meta_variant_by_index(meta_type(g_meta, mp->calls_type), b)))
		return;
	snprintf(s->call, sizeof s->call, "%s", cv->name);
	scale_read_u16(&r, &s->netuid);
	if (!strcmp(cv->name, "commit_weights")) {
		scale_read_bytes(&r, s->hash, 32);
	} else if (!strcmp(cv->name, "set_weights")) {
		size_t nv;

		read_vec(&r, s->uids, 64, &s->n);
		read_vec(&r, s->vals, 64, &nv);
		scale_read_u64(&r, &s->version_key);
	} else if (!strcmp(cv->name, "reveal_weights")) {
		size_t nv;

		read_vec(&r, s->uids, 64, &s->n);
		read_vec(&r, s->vals, 64, &nv);
		read_vec(&r, s->salt, 16, &s->n_salt);
		scale_read_u64(&r, &s->version_key);
	}
	if (r.failed || scale_remaining(&r))
		s->call[0] = '\0';
}

static char *on_submit(void *ctx, const uint8_t *xt, size_t len, uint32_t block)
{
	struct runtime *rt = ctx;
	struct seen s;
	const char *fail = NULL;
	char failbuf[64] = "";
	struct kerr e;

	(void)block;
	decode_xt(xt, len, &s);
	pthread_mutex_lock(&rt->mu);
	if (!strcmp(s.call, "commit_weights") && rt->ncommits < 8)
		memcpy(rt->commits[rt->ncommits++], s.hash, 32);
	if (!strcmp(s.call, "reveal_weights")) {
		uint8_t h[32];

		if (chain_commit_hash(s.signer, s.netuid, s.uids, s.vals, s.n, s.salt, s.n_salt, s.version_key, h, &e) == 0)
			for (int i = 0; i < rt->ncommits; i++)
				s.hash_matched |= !memcmp(h, rt->commits[i], 32);
		if (!s.hash_matched)
			fail = "InvalidRevealCommitHashNotMatch";
	}
	if (rt->fail_error[0]) {
		snprintf(failbuf, sizeof failbuf, "%s", rt->fail_error);
		rt->fail_error[0] = '\0';
		fail = failbuf;
	}
	if (rt->nseen < HOOK_CALLS_MAX)
		rt->seen[rt->nseen++] = s;
	if (rt->events == EVENTS_NONE) {
		pthread_mutex_unlock(&rt->mu);
		return NULL;
	}
	if (rt->events == EVENTS_OTHERS) {
		pthread_mutex_unlock(&rt->mu);
		return enc_inherent_only();
	}
	pthread_mutex_unlock(&rt->mu);
	return rt->events == EVENTS_TWO ? enc_events("NeuronNoValidatorPermit", 1) : enc_events(fail, 0);
}

/* -------------------------------------------------------------- fixture */

struct fx {
	struct chain_key key;
	struct chain_signer signer;
	struct chain_miner miners[MINERS];
	struct cr_state st;
	struct chainsink_store store;
	struct chain_send_opts o;
	struct kerr e;
};

static void set_storage(const struct chain_storage_key *k, const uint8_t *v, size_t n)
{
	char kh[2 * CHAIN_STORAGE_KEY_BYTES_MAX + 3], vh[256];

	cn_hex(k->b, k->len, kh);
	if (v)
		cn_hex(v, n, vh);
	cn_storage_set(&g_node, kh, v ? vh : NULL);
}

static void register_uid(const uint8_t account[32], uint16_t uid)
{
	struct chain_storage_key k;
	struct kerr e;
	uint8_t v[2] = { (uint8_t)uid, (uint8_t)(uid >> 8) };

	assert_int_equal(chain_storage_key_uids(NETUID, account, &k, &e), 0);
	set_storage(&k, v, 2);
	assert_int_equal(chain_storage_key_keys(NETUID, uid, &k, &e), 0);
	set_storage(&k, account, 32);
}

static void set_commit_reveal(int on)
{
	struct chain_storage_key k;
	struct kerr e;
	uint8_t v = (uint8_t)on;

	assert_int_equal(chain_storage_key_commit_reveal(NETUID, &k, &e), 0);
	set_storage(&k, &v, 1);
}

/* What the node's blocks say from now on (enum events); the node's
 * threads read it under the lock. */
static void set_events(int events)
{
	pthread_mutex_lock(&g_rt.mu);
	g_rt.events = events;
	pthread_mutex_unlock(&g_rt.mu);
}

static void set_tempo(uint16_t tempo)
{
	struct chain_storage_key k;
	struct kerr e;
	uint8_t v[2] = { (uint8_t)tempo, (uint8_t)(tempo >> 8) };

	assert_int_equal(chain_storage_key_tempo(NETUID, &k, &e), 0);
	set_storage(&k, v, 2);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	uint8_t seed[32];
	struct kerr e;
	char path[FS_PATH_MAX];

	cn_start(&g_node);
	cn_metadata_path(path, sizeof path);
	if (!g_meta && meta_load(path, &g_meta, &e) < 0)
		fail_msg("metadata: %s", e.msg);
	memset(&g_rt.seen, 0, sizeof g_rt.seen);
	g_rt.nseen = g_rt.ncommits = 0;
	g_rt.fail_error[0] = '\0';
	g_rt.events = EVENTS_OUTCOME;
	g_node.on_submit = on_submit;
	g_node.on_submit_ctx = &g_rt;
	memset(seed, 0x42, sizeof seed);
	assert_int_equal(chain_key_from_seed(CHAIN_SCHEME_ED25519, seed, &f->key, &e), 0);
	assert_int_equal(chain_key_signer(&f->key, &f->signer), 0);
	for (int i = 0; i < MINERS; i++) {
		memset(f->miners[i].account, 0x10 + i, 32);
		f->miners[i].score = 1.0 + i; /* 1, 2, 3 */
	}
	register_uid(f->miners[0].account, 5);
	register_uid(f->miners[2].account, 2); /* miners[1] is not registered */
	cr_open(&f->st);
	chainsink_store_init(&f->store, &f->st.s, NULL);
	f->o.endpoint = g_node.url;
	f->o.netuid = NETUID;
	f->o.version_key = 2000;
	f->o.poll_ms = 5;
	f->o.follow_ms = 2000;
	f->o.store = &f->store.st;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	cn_stop(&g_node);
	chain_key_wipe(&f->key);
	if (f->st.tmp)
		cr_close(&f->st);
	free(f);
	return 0;
}

static long commits_kept(struct fx *f)
{
	sqlite3_stmt *st;
	long n = -1;

	if (sqlite3_prepare_v2(f->st.s.db, "SELECT count(*) FROM chain_commits", -1, &st, NULL) != SQLITE_OK)
		return 0; /* no table yet: nothing kept */
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static int send_w(struct fx *f, int dry, struct chain_send_report *rep)
{
	struct chain_sender *s;
	int rc;

	assert_int_equal(chain_sender_open(&s, &f->o, &f->signer, &f->e), 0);
	rc = chain_send_weights(s, 7, f->miners, MINERS, dry, rep, &f->e);
	chain_sender_close(s);
	return rc;
}

static int reveal(struct fx *f, struct chain_reveal_report *rr)
{
	struct chain_sender *s;
	int rc;

	assert_int_equal(chain_sender_open(&s, &f->o, &f->signer, &f->e), 0);
	rc = chain_send_reveals(s, rr, &f->e);
	chain_sender_close(s);
	return rc;
}

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
	/* too early: kept */
	assert_int_equal(reveal(f, &rr), 0);
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
	assert_non_null(strstr(w.text, "in block 113 now (not seen landing; sent after block 100)"));
	assert_int_equal(cn_count(&g_node, "author_submitExtrinsic"), 1);
	g_node.head = 123; /* epoch 14: block 113's */
	if (reveal_logged(f, &rr, &w) < 0)
		fail_msg("reveal: %s: %s", f->e.code, f->e.msg);
	assert_int_equal(rr.revealed, 1);
	assert_string_equal(g_rt.seen[1].call, "reveal_weights");
	assert_true(g_rt.seen[1].hash_matched);
	assert_int_equal(commits_kept(f), 0);
}

/* A reveal waits until the commit's block is finalised. */
static void test_reveal_waits_for_finality(void **state)
{
	struct fx *f = *state;
	struct chain_send_report rep;
	struct chain_reveal_report rr;

	set_tempo(9);
	assert_int_equal(send_w(f, 0, &rep), 0);
	chain_send_report_free(&rep);
	g_node.head = 105;
	g_node.finalized_lag = 5; /* block 100 */
	assert_int_equal(reveal(f, &rr), 0);
	assert_int_equal(rr.waiting, 1);
	assert_int_equal(cn_count(&g_node, "author_submitExtrinsic"), 1);
	assert_int_equal(commits_kept(f), 1);
	g_node.finalized_lag = 4; /* block 101, the commit's */
	if (reveal(f, &rr) < 0)
		fail_msg("reveal: %s: %s", f->e.code, f->e.msg);
	assert_int_equal(rr.revealed, 1);
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
	json_object_del(o, "sent_head");
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
	{ "sent_head", 0, "-1" },
	{ "era_death", 0, "\"228\"" },
	{ "clear_to", 0, "1.5" },
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
		cmocka_unit_test_setup_teardown(test_commit_reveal_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reveal_needs_a_block_left, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reveal_expired, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uid_moved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_included, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dispatch_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_commit_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_without_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reorg_moves_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reveal_waits_for_finality, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_lost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_v1_reveals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kept_commit_malformed, setup, teardown),
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
