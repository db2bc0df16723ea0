/* chain_send_fixture.h: what test_chain_send.c and test_chain_reveal.c
 * share: the local subtensor-like node (chain_node.h) with a submit hook
 * that plays the runtime (decodes each extrinsic, checks its signature
 * over the payload the runtime would rebuild, keeps commits and checks
 * that a reveal hashes to one, writes the block's System.Events from the
 * metadata fixture's types), and a fixture with a signer, three miners
 * (one unregistered), a validator state keeping commits, and send and
 * reveal helpers. One node per test binary (g_node). */
#ifndef KARPA_TEST_CHAIN_SEND_FIXTURE_H
#define KARPA_TEST_CHAIN_SEND_FIXTURE_H

#include "testutil.h"

#include "chain_node.h"
#include "corpus_rows.h"

#include "chain/chainkey.h"
#include "chain/chainsend.h"
#include "chain/events.h"
#include "chain/extrinsic.h"
#include "chain/metadata.h"
#include "chain/scale.h"
#include "chain/sr25519.h"
#include "chain/storage.h"
#include "validator/chainsink.h"

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

static inline const struct meta_pallet *pallet(const char *name)
{
	const struct meta_pallet *p = meta_pallet_by_name(g_meta, name);

	if (!p)
		abort();
	return p;
}

static inline uint8_t error_index(const char *name)
{
	const struct meta_variant *v = meta_variant_by_name(meta_type(g_meta, pallet("SubtensorModule")->errors_type), name);

	if (!v)
		abort();
	return v->index;
}

/* The least value of a type: first variants, empty vectors, zeros. */
static inline void enc_default(uint32_t id, struct scale_writer *w, int depth)
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

static inline const struct meta_type *record_type(void)
{
	for (uint32_t i = 0; i < g_meta->ntypes; i++)
		if (!strcmp(g_meta->types[i].path, "frame_system::EventRecord"))
			return &g_meta->types[i];
	abort();
}

/* One record: phase ApplyExtrinsic(idx), event pallet.name; a failure
 * (module != NULL) carries DispatchError::Module { pallet, error }. */
static inline void enc_record(struct scale_writer *w, uint32_t idx, const char *pal, const char *name, const char *err_pallet,
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

/* What w holds as 0x-hex (malloc'd), w freed; a server thread cannot fail
 * a cmocka test, so a writer that failed aborts. */
static inline char *writer_hex(struct scale_writer *w)
{
	char *hex;

	if (w->failed || !(hex = malloc(2 * w->len + 3)))
		abort();
	cn_hex(w->buf, w->len, hex);
	scale_writer_free(w);
	return hex;
}

/* The block's events: the inherent's success, an unrelated event of ours
 * (stepped over by type), then our outcome. */
static inline char *enc_events(const char *fail_error, int then_success)
{
	struct scale_writer w;
	struct kerr e;

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
	return writer_hex(&w);
}

/* A block's events that name only the inherent (index 0). */
static inline char *enc_inherent_only(void)
{
	struct scale_writer w;
	struct kerr e;

	scale_writer_init(&w, 1 << 16, &e);
	scale_put_compact(&w, 1);
	enc_record(&w, 0, "System", "ExtrinsicSuccess", NULL, 0);
	return writer_hex(&w);
}

/* The era's birth block: the newest block at or below the head whose era
 * bytes (period 128) are these. */
static inline int birth_hash(const uint8_t *era, size_t era_len, uint8_t hash[32])
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

static inline int read_vec(struct scale_reader *r, uint16_t *out, size_t cap, size_t *n)
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
static inline void decode_xt(const uint8_t *xt, size_t len, struct seen *s)
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

static inline char *on_submit(void *ctx, const uint8_t *xt, size_t len, uint32_t block)
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

static inline void set_storage(const struct chain_storage_key *k, const uint8_t *v, size_t n)
{
	char kh[2 * CHAIN_STORAGE_KEY_BYTES_MAX + 3], vh[256];

	cn_hex(k->b, k->len, kh);
	if (v)
		cn_hex(v, n, vh);
	cn_storage_set(&g_node, kh, v ? vh : NULL);
}

static inline void register_uid(const uint8_t account[32], uint16_t uid)
{
	struct chain_storage_key k;
	struct kerr e;
	uint8_t v[2] = { (uint8_t)uid, (uint8_t)(uid >> 8) };

	assert_int_equal(chain_storage_key_uids(NETUID, account, &k, &e), 0);
	set_storage(&k, v, 2);
	assert_int_equal(chain_storage_key_keys(NETUID, uid, &k, &e), 0);
	set_storage(&k, account, 32);
}

static inline void set_commit_reveal(int on)
{
	struct chain_storage_key k;
	struct kerr e;
	uint8_t v = (uint8_t)on;

	assert_int_equal(chain_storage_key_commit_reveal(NETUID, &k, &e), 0);
	set_storage(&k, &v, 1);
}

/* What the node's blocks say from now on (enum events); the node's
 * threads read it under the lock. */
static inline void set_events(int events)
{
	pthread_mutex_lock(&g_rt.mu);
	g_rt.events = events;
	pthread_mutex_unlock(&g_rt.mu);
}

static inline void set_tempo(uint16_t tempo)
{
	struct chain_storage_key k;
	struct kerr e;
	uint8_t v[2] = { (uint8_t)tempo, (uint8_t)(tempo >> 8) };

	assert_int_equal(chain_storage_key_tempo(NETUID, &k, &e), 0);
	set_storage(&k, v, 2);
}

static inline int setup(void **state)
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

static inline int teardown(void **state)
{
	struct fx *f = *state;

	cn_stop(&g_node);
	chain_key_wipe(&f->key);
	if (f->st.tmp)
		cr_close(&f->st);
	free(f);
	return 0;
}

static inline long commits_kept(struct fx *f)
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

static inline int send_w(struct fx *f, int dry, struct chain_send_report *rep)
{
	struct chain_sender *s;
	int rc;

	assert_int_equal(chain_sender_open(&s, &f->o, &f->signer, &f->e), 0);
	rc = chain_send_weights(s, 7, f->miners, MINERS, dry, rep, &f->e);
	chain_sender_close(s);
	return rc;
}

static inline int reveal(struct fx *f, struct chain_reveal_report *rr)
{
	struct chain_sender *s;
	int rc;

	assert_int_equal(chain_sender_open(&s, &f->o, &f->signer, &f->e), 0);
	rc = chain_send_reveals(s, rr, &f->e);
	chain_sender_close(s);
	return rc;
}

#endif
