/* bpe.c: the byte-level BPE model: building and validating a vocabulary,
 * its canonical file form and digest, encoding (pre-tokenize, then merge
 * each piece by lowest rank) and decoding. The trainer is in bpe_train.c,
 * GPT-2's files are read by gpt2_vocab.c. A built struct bpe is immutable,
 * so any number of threads may encode with it at once; the only mutable
 * state is a per-thread cache of recently encoded pieces. */
#include "data/bpe.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "data/bpe_internal.h"
#include "data/pretok.h"
#include "util/fsutil.h"

/* Pieces up to this many bytes use the JS encoder's own loop, which is the
 * fastest for the short pieces of ordinary text; longer ones use the heap
 * so a hostile megabyte-long piece costs n log n, not n^2. The two agree
 * on every proper merge list (checked in bpe_build, tested). */
#define SCAN_PIECE_MAX 64u
#define RANK_NONE UINT32_MAX

/* ------------------------------------------------------------------ */
/* Token buffers. */

static int tokens_reserve(struct bpe_tokens *t, size_t extra)
{
	size_t need, cap;
	uint16_t *p;

	if (t->cap - t->n >= extra)
		return 0;
	need = t->n + extra;
	if (need < t->n)
		return -1;
	cap = t->cap ? t->cap : 1024;
	while (cap < need) {
		if (cap > SIZE_MAX / 2 / sizeof *p)
			return -1;
		cap *= 2;
	}
	p = realloc(t->ids, cap * sizeof *p);
	if (!p)
		return -1;
	t->ids = p;
	t->cap = cap;
	return 0;
}

int bpe_tokens_push(struct bpe_tokens *t, uint16_t id)
{
	if (tokens_reserve(t, 1) < 0)
		return -1;
	t->ids[t->n++] = id;
	return 0;
}

void bpe_tokens_free(struct bpe_tokens *t)
{
	free(t->ids);
	t->ids = NULL;
	t->n = t->cap = 0;
}

/* ------------------------------------------------------------------ */
/* The pair -> merge map (open addressing, load kept at most 1/2). */

static inline uint32_t pair_key(uint16_t l, uint16_t r)
{
	return (uint32_t)l << 16 | r;
}

static inline uint32_t pair_slot(uint32_t key, uint32_t mask)
{
	uint32_t h = key * 0x9E3779B1u;

	return (h ^ (h >> 15)) & mask;
}

static inline const struct bpe_pair *pair_find(const struct bpe *b, uint16_t l, uint16_t r)
{
	uint32_t key = pair_key(l, r), i = pair_slot(key, b->pairs_mask);

	for (;;) {
		const struct bpe_pair *p = &b->pairs[i];
		if (p->rank1 == 0)
			return NULL;
		if (p->key == key)
			return p;
		i = (i + 1) & b->pairs_mask;
	}
}

struct pairmap {
	struct bpe_pair *v;
	uint32_t mask, n;
};

static int pairmap_init(struct pairmap *m, size_t expect)
{
	size_t cap = 16;

	while (cap < 2 * expect + 2)
		cap *= 2;
	m->v = calloc(cap, sizeof *m->v);
	m->mask = (uint32_t)(cap - 1);
	m->n = 0;
	return m->v ? 0 : -1;
}

/* Returns 1 if the pair was already present (left unchanged), 0 if
 * inserted, -1 when out of memory. */
static int pairmap_put(struct pairmap *m, uint16_t l, uint16_t r, uint32_t rank, uint16_t out)
{
	uint32_t key = pair_key(l, r), i;

	if (2 * ((size_t)m->n + 1) > (size_t)m->mask + 1) {
		struct pairmap g;
		if (pairmap_init(&g, (size_t)m->mask + 1) < 0)
			return -1;
		for (uint32_t j = 0; j <= m->mask; j++) {
			struct bpe_pair *p = &m->v[j];
			uint32_t s;
			if (!p->rank1)
				continue;
			for (s = pair_slot(p->key, g.mask); g.v[s].rank1; s = (s + 1) & g.mask)
				;
			g.v[s] = *p;
			g.n++;
		}
		free(m->v);
		*m = g;
	}
	for (i = pair_slot(key, m->mask); m->v[i].rank1; i = (i + 1) & m->mask)
		if (m->v[i].key == key)
			return 1;
	m->v[i].key = key;
	m->v[i].rank1 = rank + 1;
	m->v[i].out = out;
	m->n++;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Token bytes -> id, used while building table-form vocabularies. */

struct bytemap {
	int32_t *slot; /* id or -1 */
	size_t mask;
	const uint32_t *off;
	const uint8_t *bytes;
};

static uint64_t bytes_hash(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull ^ n;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h ^ (h >> 31);
}

static int32_t bytemap_get(const struct bytemap *m, const uint8_t *p, size_t n)
{
	for (size_t i = bytes_hash(p, n) & m->mask;; i = (i + 1) & m->mask) {
		int32_t id = m->slot[i];
		if (id < 0)
			return -1;
		if (m->off[id + 1] - m->off[id] == n && memcmp(m->bytes + m->off[id], p, n) == 0)
			return id;
	}
}

/* Fills the map with every non-empty token; returns the id that repeats an
 * earlier token's bytes (>= 0), -1 when all are distinct, -2 on no memory. */
static int32_t bytemap_build(struct bytemap *m, const uint32_t *off, const uint8_t *bytes, int n)
{
	size_t cap = 16;

	while (cap < 2 * (size_t)n + 2)
		cap *= 2;
	m->slot = malloc(cap * sizeof *m->slot);
	if (!m->slot)
		return -2;
	memset(m->slot, 0xff, cap * sizeof *m->slot);
	m->mask = cap - 1;
	m->off = off;
	m->bytes = bytes;
	for (int id = 0; id < n; id++) {
		size_t len = off[id + 1] - off[id], i;
		if (len == 0)
			continue;
		if (bytemap_get(m, bytes + off[id], len) >= 0)
			return id;
		for (i = bytes_hash(bytes + off[id], len) & m->mask; m->slot[i] >= 0; i = (i + 1) & m->mask)
			;
		m->slot[i] = id;
	}
	return -1;
}

/* ------------------------------------------------------------------ */
/* Building: validation, merge outputs, aliases, canonical form. */

static atomic_uint_fast64_t next_serial = 1;

void bpe_free(struct bpe *b)
{
	if (!b)
		return;
	free(b->tok_off);
	free(b->tok_bytes);
	free(b->merges);
	free(b->pairs);
	free(b->canon);
	free(b);
}

static inline uint32_t tok_len(const struct bpe *b, uint32_t id)
{
	return b->tok_off[id + 1] - b->tok_off[id];
}

/* Trained form: every token is a byte or the concatenation of a merge of
 * earlier ids; merge k may only use ids below 256 + k. */
static int build_trained_table(struct bpe *b, const struct bpe_spec *s, struct kerr *err)
{
	size_t total = BPE_BYTE_IDS;
	uint32_t pos;

	if (s->eot != s->vocab_size - 1 || s->nmerges != (size_t)(s->vocab_size - BPE_VOCAB_MIN))
		return kerr_set(err, "bpe.bad_vocab_size",
				"vocab_size %d needs %d merges and eot %d, got %zu merges and eot %d",
				s->vocab_size, s->vocab_size - BPE_VOCAB_MIN, s->vocab_size - 1,
				s->nmerges, s->eot);
	b->tok_off = calloc((size_t)s->vocab_size + 1, sizeof *b->tok_off);
	if (!b->tok_off)
		return kerr_set(err, "bpe.nomem", "out of memory for %d tokens", s->vocab_size);
	for (uint32_t i = 0; i <= BPE_BYTE_IDS; i++)
		b->tok_off[i] = i;
	for (size_t k = 0; k < s->nmerges; k++) {
		uint32_t id = BPE_BYTE_IDS + (uint32_t)k, l = s->merges[k][0], r = s->merges[k][1];
		size_t len;
		if (l >= id || r >= id)
			return kerr_set(err, "bpe.bad_merge",
					"merge %zu [%u,%u] uses id %u, which no earlier merge made", k,
					l, r, l >= id ? l : r);
		len = tok_len(b, l) + tok_len(b, r);
		if (len > BPE_TOKEN_BYTES_MAX)
			return kerr_set(err, "bpe.bad_merge",
					"merge %zu makes a token of %zu bytes (max %u)", k, len,
					BPE_TOKEN_BYTES_MAX);
		total += len;
		b->tok_off[id + 1] = (uint32_t)total;
	}
	b->tok_off[s->vocab_size] = (uint32_t)total; /* eot: empty */
	b->tok_bytes = malloc(total ? total : 1);
	if (!b->tok_bytes)
		return kerr_set(err, "bpe.nomem", "out of memory for %zu token bytes", total);
	for (uint32_t i = 0; i < BPE_BYTE_IDS; i++) {
		b->tok_bytes[i] = (uint8_t)i;
		b->byte_id[i] = (uint16_t)i;
	}
	pos = BPE_BYTE_IDS;
	for (size_t k = 0; k < s->nmerges; k++) {
		uint32_t l = s->merges[k][0], r = s->merges[k][1];
		memcpy(b->tok_bytes + pos, b->tok_bytes + b->tok_off[l], tok_len(b, l));
		pos += tok_len(b, l);
		memcpy(b->tok_bytes + pos, b->tok_bytes + b->tok_off[r], tok_len(b, r));
		pos += tok_len(b, r);
	}
	return 0;
}

/* Table form: the eot is the one empty token, every other token is
 * distinct, at most BPE_TOKEN_BYTES_MAX long, and all 256 bytes exist. */
static int build_given_table(struct bpe *b, const struct bpe_spec *s, struct bytemap *bm,
			     struct kerr *err)
{
	size_t v = (size_t)s->vocab_size;
	int32_t dup;

	if (s->tok_off[0] != 0)
		return kerr_set(err, "bpe.bad_token", "token table does not start at offset 0");
	for (size_t i = 0; i < v; i++) {
		size_t len;
		if (s->tok_off[i + 1] < s->tok_off[i])
			return kerr_set(err, "bpe.bad_token", "token %zu: offsets go backwards", i);
		len = s->tok_off[i + 1] - s->tok_off[i];
		if (len > BPE_TOKEN_BYTES_MAX)
			return kerr_set(err, "bpe.bad_token", "token %zu has %zu bytes (max %u)", i,
					len, BPE_TOKEN_BYTES_MAX);
		if ((len == 0) != (i == (size_t)s->eot))
			return kerr_set(err, "bpe.bad_token",
					len ? "token %zu (eot) must be empty"
					    : "token %zu is empty but is not eot",
					i);
	}
	b->tok_off = malloc((v + 1) * sizeof *b->tok_off);
	b->tok_bytes = malloc(s->tok_off[v] ? s->tok_off[v] : 1);
	if (!b->tok_off || !b->tok_bytes)
		return kerr_set(err, "bpe.nomem", "out of memory for %zu tokens", v);
	memcpy(b->tok_off, s->tok_off, (v + 1) * sizeof *b->tok_off);
	memcpy(b->tok_bytes, s->tok_bytes, s->tok_off[v]);
	dup = bytemap_build(bm, b->tok_off, b->tok_bytes, s->vocab_size);
	if (dup == -2)
		return kerr_set(err, "bpe.nomem", "out of memory indexing tokens");
	if (dup >= 0)
		return kerr_set(err, "bpe.bad_token", "token %d repeats the bytes of an earlier token",
				dup);
	for (int c = 0; c < 256; c++) {
		uint8_t byte = (uint8_t)c;
		int32_t id = bytemap_get(bm, &byte, 1);
		if (id < 0)
			return kerr_set(err, "bpe.bad_token", "no token for the single byte 0x%02x", c);
		b->byte_id[c] = (uint16_t)id;
	}
	return 0;
}

/* The reference JS encoder looks a pair's rank up by the string
 * left + "," + right, so a pair whose joined string equals a merge's (the
 * comma in a different place: '",' + '"' versus '"' + ',"') gets that
 * merge's rank too and merges into left + right. These are added as
 * aliases with the original's rank; 11 exist in GPT-2's vocabulary. */
static int add_aliases(struct bpe *b, struct pairmap *pm, const struct bytemap *bm,
		       struct kerr *err)
{
	uint8_t key[2 * BPE_TOKEN_BYTES_MAX + 1], cat[2 * BPE_TOKEN_BYTES_MAX];

	for (size_t k = 0; k < b->nmerges; k++) {
		uint16_t l = b->merges[k][0], r = b->merges[k][1];
		size_t ll = tok_len(b, l), lr = tok_len(b, r), n = ll + 1 + lr;

		if (!memchr(b->tok_bytes + b->tok_off[l], ',', ll) &&
		    !memchr(b->tok_bytes + b->tok_off[r], ',', lr))
			continue;
		memcpy(key, b->tok_bytes + b->tok_off[l], ll);
		key[ll] = ',';
		memcpy(key + ll + 1, b->tok_bytes + b->tok_off[r], lr);
		for (size_t j = 1; j + 1 < n; j++) {
			int32_t x, y, o;
			if (key[j] != ',' || j == ll)
				continue;
			x = bytemap_get(bm, key, j);
			y = bytemap_get(bm, key + j + 1, n - j - 1);
			if (x < 0 || y < 0)
				continue;
			memcpy(cat, key, j);
			memcpy(cat + j, key + j + 1, n - j - 1);
			/* The JS encoder would emit `undefined` for a result that is
			 * not a token; such an alias is left out. */
			o = bytemap_get(bm, cat, n - 1);
			if (o < 0)
				continue;
			if (pairmap_put(pm, (uint16_t)x, (uint16_t)y, (uint32_t)k, (uint16_t)o) < 0)
				return kerr_set(err, "bpe.nomem", "out of memory for merge aliases");
			/* more than the list holds: every piece with a comma
			 * takes the scan loop, as before the list existed */
			if (b->naliases >= 0 && b->naliases < BPE_ALIASES_MAX)
				b->alias_out[b->naliases++] = (uint16_t)o;
			else
				b->naliases = -1;
		}
	}
	return 0;
}

/* Every merge (and alias) of rank r must use tokens that only merges of
 * rank < r make. Then merging all occurrences of the best pair at once
 * (the JS loop) and merging the leftmost best pair one at a time (the
 * heap loop) give the same result, since a merge never creates a pair
 * that outranks the one being merged. */
static int check_proper(const struct bpe *b, const struct pairmap *pm, struct kerr *err)
{
	int64_t *made = malloc((size_t)b->vocab_size * sizeof *made);
	int rc = -1;

	if (!made)
		return kerr_set(err, "bpe.nomem", "out of memory checking merges");
	for (int i = 0; i < b->vocab_size; i++)
		made[i] = -1;
	for (uint32_t i = 0; i <= pm->mask; i++) {
		const struct bpe_pair *p = &pm->v[i];
		if (p->rank1 && (int64_t)p->rank1 - 1 > made[p->out])
			made[p->out] = (int64_t)p->rank1 - 1;
	}
	for (uint32_t i = 0; i <= pm->mask; i++) {
		const struct bpe_pair *p = &pm->v[i];
		uint32_t l = p->key >> 16, r = p->key & 0xffff;
		int64_t rank = (int64_t)p->rank1 - 1;
		if (p->rank1 && (made[l] >= rank || made[r] >= rank)) {
			kerr_set(err, "bpe.bad_merge",
				 "merge %lld [%u,%u] uses a token made by merge %lld, which ranks after it",
				 (long long)rank, l, r, (long long)(made[l] >= rank ? made[l] : made[r]));
			goto out;
		}
	}
	rc = 0;
out:
	free(made);
	return rc;
}

static int build_merges(struct bpe *b, const struct bpe_spec *s, const struct bytemap *bm,
			struct kerr *err)
{
	struct pairmap pm = { 0 };
	uint8_t cat[2 * BPE_TOKEN_BYTES_MAX];
	int rc = -1;

	b->merges = malloc((s->nmerges ? s->nmerges : 1) * sizeof *b->merges);
	if (!b->merges || pairmap_init(&pm, s->nmerges) < 0) {
		kerr_set(err, "bpe.nomem", "out of memory for %zu merges", s->nmerges);
		goto out;
	}
	b->nmerges = s->nmerges;
	for (size_t k = 0; k < s->nmerges; k++) {
		uint16_t l = s->merges[k][0], r = s->merges[k][1];
		int32_t o;
		int put;
		if (l >= s->vocab_size || r >= s->vocab_size || l == b->eot || r == b->eot) {
			kerr_set(err, "bpe.bad_merge", "merge %zu [%u,%u] uses an id that is not a token",
				 k, l, r);
			goto out;
		}
		b->merges[k][0] = l;
		b->merges[k][1] = r;
		if (s->table_form) {
			memcpy(cat, b->tok_bytes + b->tok_off[l], tok_len(b, l));
			memcpy(cat + tok_len(b, l), b->tok_bytes + b->tok_off[r], tok_len(b, r));
			o = bytemap_get(bm, cat, tok_len(b, l) + tok_len(b, r));
			if (o < 0) {
				kerr_set(err, "bpe.bad_merge",
					 "merge %zu [%u,%u] makes bytes that are no token", k, l, r);
				goto out;
			}
		} else {
			o = BPE_BYTE_IDS + (int32_t)k;
		}
		put = pairmap_put(&pm, l, r, (uint32_t)k, (uint16_t)o);
		if (put < 0) {
			kerr_set(err, "bpe.nomem", "out of memory for merges");
			goto out;
		}
		if (put > 0) {
			kerr_set(err, "bpe.bad_merge", "merge %zu [%u,%u] repeats an earlier merge", k, l,
				 r);
			goto out;
		}
	}
	if (b->js_comma_keys && add_aliases(b, &pm, bm, err) < 0)
		goto out;
	if (check_proper(b, &pm, err) < 0)
		goto out;
	b->pairs = pm.v;
	b->pairs_mask = pm.mask;
	pm.v = NULL;
	rc = 0;
out:
	free(pm.v);
	return rc;
}

static json_t *json_pair(unsigned a, unsigned c)
{
	json_t *p = json_array();

	if (p && (json_array_append_new(p, json_integer(a)) < 0 ||
		  json_array_append_new(p, json_integer(c)) < 0)) {
		json_decref(p);
		return NULL;
	}
	return p;
}

/* The canonical form: compact JSON, keys in this fixed order, token bytes
 * as lowercase hex, one trailing newline. Same tokenizer, same bytes. */
static int build_canon(struct bpe *b, struct kerr *err)
{
	static const char hex[] = "0123456789abcdef";
	json_t *root = json_object(), *merges = json_array(), *toks = NULL;
	char *text = NULL, *hx = malloc(2 * BPE_TOKEN_BYTES_MAX + 1);
	int bad = !root || !merges || !hx;
	size_t n;

	bad |= json_object_set_new(root, "format", json_string(BPE_FORMAT)) < 0;
	bad |= json_object_set_new(root, "vocab_size", json_integer(b->vocab_size)) < 0;
	bad |= json_object_set_new(root, "eot", json_integer(b->eot)) < 0;
	if (b->table_form && !bad) {
		bad |= json_object_set_new(root, "merge_keys",
					   json_string(b->js_comma_keys ? BPE_JS_KEYS : "exact")) < 0;
		toks = json_array();
		bad |= !toks;
		for (int i = 0; i < b->vocab_size && !bad; i++) {
			const uint8_t *p = b->tok_bytes + b->tok_off[i];
			uint32_t len = tok_len(b, (uint32_t)i);
			for (uint32_t j = 0; j < len; j++) {
				hx[2 * j] = hex[p[j] >> 4];
				hx[2 * j + 1] = hex[p[j] & 15];
			}
			bad |= json_array_append_new(toks, json_stringn(hx, 2 * (size_t)len)) < 0;
		}
		bad |= json_object_set(root, "tokens", toks) < 0;
	}
	for (size_t k = 0; k < b->nmerges && !bad; k++)
		bad |= json_array_append_new(merges, json_pair(b->merges[k][0], b->merges[k][1])) < 0;
	bad |= json_object_set(root, "merges", merges) < 0;
	if (!bad)
		text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!text)
		bad = 1;
	if (!bad) {
		n = strlen(text);
		b->canon = malloc(n + 2);
		bad = !b->canon;
	}
	if (!bad) {
		memcpy(b->canon, text, n);
		b->canon[n] = '\n';
		b->canon[n + 1] = '\0';
		b->canon_len = n + 1;
		hash_buf_hex(b->canon, b->canon_len, b->digest);
	}
	free(text);
	free(hx);
	json_decref(toks);
	json_decref(merges);
	json_decref(root);
	return bad ? kerr_set(err, "bpe.nomem", "out of memory serializing the tokenizer") : 0;
}

int bpe_build(const struct bpe_spec *s, struct bpe **out, struct kerr *err)
{
	struct bpe *b = NULL;
	struct bytemap bm = { 0 };
	int rc = -1;

	*out = NULL;
	if (s->vocab_size < BPE_VOCAB_MIN || s->vocab_size > BPE_VOCAB_MAX)
		return kerr_set(err, "bpe.bad_vocab_size", "vocab_size %d outside [%d, %d]",
				s->vocab_size, BPE_VOCAB_MIN, BPE_VOCAB_MAX);
	if (s->eot < 0 || s->eot >= s->vocab_size)
		return kerr_set(err, "bpe.bad_vocab_size", "eot %d outside [0, %d)", s->eot,
				s->vocab_size);
	if (s->nmerges > BPE_VOCAB_MAX)
		return kerr_set(err, "bpe.bad_merge", "%zu merges (max %d)", s->nmerges,
				BPE_VOCAB_MAX);
	b = calloc(1, sizeof *b);
	if (!b)
		return kerr_set(err, "bpe.nomem", "out of memory");
	b->vocab_size = s->vocab_size;
	b->eot = (uint16_t)s->eot;
	b->table_form = s->table_form;
	b->js_comma_keys = s->table_form && s->js_comma_keys;
	if (s->table_form ? build_given_table(b, s, &bm, err) < 0
			  : build_trained_table(b, s, err) < 0)
		goto out;
	if (build_merges(b, s, &bm, err) < 0 || build_canon(b, err) < 0)
		goto out;
	b->serial = atomic_fetch_add(&next_serial, 1);
	*out = b;
	b = NULL;
	rc = 0;
out:
	free(bm.slot);
	bpe_free(b);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Accessors, save, load. */

int bpe_vocab_size(const struct bpe *b)
{
	return b->vocab_size;
}

uint16_t bpe_eot(const struct bpe *b)
{
	return b->eot;
}

uint32_t bpe_token_len(const struct bpe *b, uint16_t id)
{
	return id < b->vocab_size ? tok_len(b, id) : 0;
}

const uint8_t *bpe_token_data(const struct bpe *b, uint16_t id)
{
	return b->tok_bytes + b->tok_off[id < b->vocab_size ? id : b->eot];
}

void bpe_digest(const struct bpe *b, char out[HASH_HEX_BYTES])
{
	memcpy(out, b->digest, HASH_HEX_BYTES);
}

int bpe_save(const struct bpe *b, const char *path, struct kerr *err)
{
	return fs_write_atomic(path, b->canon, b->canon_len, err);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Reads "tokens" (lowercase hex strings) into an offset table. */
static int parse_tokens(json_t *arr, int vocab_size, uint32_t **off_out, uint8_t **bytes_out,
			struct kerr *err)
{
	size_t n = json_array_size(arr), total = 0;
	uint32_t *off = NULL;
	uint8_t *bytes = NULL;
	int rc = -1;

	if (!json_is_array(arr) || n != (size_t)vocab_size) {
		kerr_set(err, "bpe.parse", "\"tokens\" must be an array of %d hex strings", vocab_size);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		total += json_string_length(json_array_get(arr, i)) / 2;
	off = malloc((n + 1) * sizeof *off);
	bytes = malloc(total + 1);
	total = 0;
	if (!off || !bytes) {
		kerr_set(err, "bpe.nomem", "out of memory for %zu tokens", n);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *t = json_array_get(arr, i);
		const char *h = json_string_value(t);
		size_t len = json_is_string(t) ? json_string_length(t) : 1;
		off[i] = (uint32_t)total;
		if (!h || len % 2 || len / 2 > BPE_TOKEN_BYTES_MAX) {
			kerr_set(err, "bpe.bad_token",
				 "tokens[%zu] is not a hex string of at most %u bytes", i,
				 BPE_TOKEN_BYTES_MAX);
			goto out;
		}
		for (size_t j = 0; j < len; j += 2) {
			int hi = hexval(h[j]), lo = hexval(h[j + 1]);
			if (hi < 0 || lo < 0) {
				kerr_set(err, "bpe.bad_token", "tokens[%zu] is not lowercase hex", i);
				goto out;
			}
			bytes[total++] = (uint8_t)(hi << 4 | lo);
		}
	}
	off[n] = (uint32_t)total;
	*off_out = off;
	*bytes_out = bytes;
	off = NULL;
	bytes = NULL;
	rc = 0;
out:
	free(off);
	free(bytes);
	return rc;
}

static int parse_merges(json_t *arr, uint16_t (**out)[2], size_t *n_out, struct kerr *err)
{
	size_t n = json_array_size(arr);
	uint16_t(*m)[2];

	if (!json_is_array(arr))
		return kerr_set(err, "bpe.parse", "\"merges\" must be an array");
	if (n > BPE_VOCAB_MAX)
		return kerr_set(err, "bpe.bad_merge", "%zu merges (max %d)", n, BPE_VOCAB_MAX);
	m = malloc((n ? n : 1) * sizeof *m);
	if (!m)
		return kerr_set(err, "bpe.nomem", "out of memory for %zu merges", n);
	for (size_t k = 0; k < n; k++) {
		json_t *p = json_array_get(arr, k);
		for (size_t j = 0; j < 2; j++) {
			json_t *v = json_array_get(p, j);
			json_int_t id = json_integer_value(v);
			if (!json_is_array(p) || json_array_size(p) != 2 || !json_is_integer(v)) {
				free(m);
				return kerr_set(err, "bpe.parse", "merges[%zu] is not a pair of integers",
						k);
			}
			if (id < 0 || id >= BPE_VOCAB_MAX) {
				free(m);
				return kerr_set(err, "bpe.bad_merge", "merges[%zu] has id %lld out of range",
						k, (long long)id);
			}
			m[k][j] = (uint16_t)id;
		}
	}
	*out = m;
	*n_out = n;
	return 0;
}

static int parse_int_field(json_t *root, const char *name, int *out, struct kerr *err)
{
	json_t *v = json_object_get(root, name);

	if (!json_is_integer(v))
		return kerr_set(err, "bpe.parse", "\"%s\" missing or not an integer", name);
	if (json_integer_value(v) < 0 || json_integer_value(v) > BPE_VOCAB_MAX)
		return kerr_set(err, "bpe.bad_vocab_size", "\"%s\" = %lld out of range [0, %d]", name,
				(long long)json_integer_value(v), BPE_VOCAB_MAX);
	*out = (int)json_integer_value(v);
	return 0;
}

static int parse_doc(json_t *root, struct bpe **out, struct kerr *err)
{
	static const char *const known[] = { "format", "vocab_size", "eot", "merge_keys", "tokens",
					     "merges" };
	struct bpe_spec s = { 0 };
	uint16_t(*merges)[2] = NULL;
	uint32_t *off = NULL;
	uint8_t *bytes = NULL;
	const char *key, *fmt, *mk;
	json_t *v, *toks;
	int rc = -1;

	if (!json_is_object(root))
		return kerr_set(err, "bpe.parse", "not a JSON object");
	json_object_foreach (root, key, v) {
		size_t i = 0;
		while (i < sizeof known / sizeof *known && strcmp(known[i], key))
			i++;
		if (i == sizeof known / sizeof *known)
			return kerr_set(err, "bpe.parse", "unknown field \"%.64s\"", key);
	}
	fmt = json_string_value(json_object_get(root, "format"));
	if (!fmt || strcmp(fmt, BPE_FORMAT))
		return kerr_set(err, "bpe.bad_format", "\"format\" is not \"%s\"", BPE_FORMAT);
	if (parse_int_field(root, "vocab_size", &s.vocab_size, err) < 0 ||
	    parse_int_field(root, "eot", &s.eot, err) < 0)
		return -1;
	toks = json_object_get(root, "tokens");
	mk = json_string_value(json_object_get(root, "merge_keys"));
	if (!toks != !json_object_get(root, "merge_keys") || (toks && !mk) ||
	    (mk && strcmp(mk, "exact") && strcmp(mk, BPE_JS_KEYS)))
		return kerr_set(err, "bpe.parse",
				"\"tokens\" and \"merge_keys\" (\"exact\" or \"%s\") go together",
				BPE_JS_KEYS);
	if (s.vocab_size < BPE_VOCAB_MIN || s.vocab_size > BPE_VOCAB_MAX)
		return kerr_set(err, "bpe.bad_vocab_size", "vocab_size %d outside [%d, %d]",
				s.vocab_size, BPE_VOCAB_MIN, BPE_VOCAB_MAX);
	if (parse_merges(json_object_get(root, "merges"), &merges, &s.nmerges, err) < 0)
		goto out;
	if (toks) {
		if (parse_tokens(toks, s.vocab_size, &off, &bytes, err) < 0)
			goto out;
		s.table_form = 1;
		s.js_comma_keys = !strcmp(mk, BPE_JS_KEYS);
		s.tok_off = off;
		s.tok_bytes = bytes;
	}
	s.merges = (const uint16_t(*)[2])merges;
	rc = bpe_build(&s, out, err);
out:
	free(merges);
	free(off);
	free(bytes);
	return rc;
}

int bpe_load_buf(const char *text, size_t len, const char *name, struct bpe **out, struct kerr *err)
{
	json_error_t je;
	json_t *root;
	int rc = -1;

	*out = NULL;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return kerr_set(err, "bpe.parse", "%s: line %d: %s", name, je.line, je.text);
	if (parse_doc(root, out, err) < 0) {
		kerr_prefix(err, "%s", name);
		goto out;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

int bpe_load(const char *path, struct bpe **out, struct kerr *err)
{
	char *text = NULL;
	size_t len;
	int rc = -1;

	*out = NULL;
	if (fs_read_all(path, BPE_FILE_BYTES_MAX, &text, &len, err) == 0)
		rc = bpe_load_buf(text, len, path, out, err);
	free(text);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Per-thread cache of encoded pieces and merge scratch. */

/* Sizes: ~1 MiB per encoding thread. English text has a few tens of
 * thousands of distinct pieces, most under 16 bytes, so 16384 entries
 * catch nearly every repeat; when full the cache simply starts over. */
#define CACHE_SLOTS (1u << 15)
#define CACHE_ENTRIES (1u << 14)
#define CACHE_PIECE_BYTES_MAX 32u
#define CACHE_KEY_BYTES (CACHE_ENTRIES * 16u)
#define CACHE_IDS (CACHE_ENTRIES * 8u)
/* Scratch above this is released after each call: a rare giant piece must
 * not pin its memory in every thread. */
#define SCRATCH_KEEP_BYTES (1u << 20)

struct centry {
	uint64_t hash;
	uint32_t key_off, ids_off;
	uint16_t key_len, nids;
};

struct tcache {
	uint64_t serial; /* of the tokenizer the entries belong to */
	uint32_t nent, key_used, ids_used;
	uint32_t slot[CACHE_SLOTS]; /* entry index + 1, 0 empty */
	struct centry ent[CACHE_ENTRIES];
	uint8_t keys[CACHE_KEY_BYTES];
	uint16_t ids[CACHE_IDS];
	void *scratch;
	size_t scratch_bytes;
};

static pthread_once_t tcache_once = PTHREAD_ONCE_INIT;
static pthread_key_t tcache_key;
static int tcache_key_ok;

static void tcache_destroy(void *p)
{
	struct tcache *c = p;

	if (c) {
		free(c->scratch);
		free(c);
	}
}

static void tcache_key_init(void)
{
	tcache_key_ok = pthread_key_create(&tcache_key, tcache_destroy) == 0;
}

static void tcache_reset(struct tcache *c, uint64_t serial)
{
	memset(c->slot, 0, sizeof c->slot);
	c->nent = c->key_used = c->ids_used = 0;
	c->serial = serial;
}

/* NULL when no cache can be had (then encoding allocates its scratch). */
static struct tcache *tcache_get(const struct bpe *b)
{
	struct tcache *c;

	pthread_once(&tcache_once, tcache_key_init);
	if (!tcache_key_ok)
		return NULL;
	c = pthread_getspecific(tcache_key);
	if (!c) {
		c = malloc(sizeof *c);
		if (!c)
			return NULL;
		c->scratch = NULL;
		c->scratch_bytes = 0;
		tcache_reset(c, b->serial);
		if (pthread_setspecific(tcache_key, c) != 0) {
			free(c);
			return NULL;
		}
	}
	if (c->serial != b->serial)
		tcache_reset(c, b->serial);
	return c;
}

static inline uint64_t piece_hash(const uint8_t *p, size_t n)
{
	uint64_t h = 0x9E3779B97F4A7C15ull ^ n, w;

	while (n >= 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
		p += 8;
		n -= 8;
	}
	w = 0;
	memcpy(&w, p, n);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 29);
}

static const struct centry *cache_find(const struct tcache *c, uint64_t h, const uint8_t *p,
				       size_t n)
{
	for (uint32_t i = (uint32_t)h & (CACHE_SLOTS - 1);; i = (i + 1) & (CACHE_SLOTS - 1)) {
		const struct centry *e;
		if (!c->slot[i])
			return NULL;
		e = &c->ent[c->slot[i] - 1];
		if (e->hash == h && e->key_len == n && !memcmp(c->keys + e->key_off, p, n))
			return e;
	}
}

static void cache_put(struct tcache *c, uint64_t h, const uint8_t *p, size_t n,
		      const uint16_t *ids, size_t nids)
{
	struct centry *e;
	uint32_t i;

	if (c->nent == CACHE_ENTRIES || c->key_used + n > CACHE_KEY_BYTES ||
	    c->ids_used + nids > CACHE_IDS)
		tcache_reset(c, c->serial);
	for (i = (uint32_t)h & (CACHE_SLOTS - 1); c->slot[i]; i = (i + 1) & (CACHE_SLOTS - 1))
		;
	e = &c->ent[c->nent];
	e->hash = h;
	e->key_off = c->key_used;
	e->key_len = (uint16_t)n;
	e->ids_off = c->ids_used;
	e->nids = (uint16_t)nids;
	memcpy(c->keys + c->key_used, p, n);
	memcpy(c->ids + c->ids_used, ids, nids * sizeof *ids);
	c->key_used += (uint32_t)n;
	c->ids_used += (uint32_t)nids;
	c->slot[i] = ++c->nent;
}

/* Scratch memory from the thread cache, or a private block in *own. */
static void *scratch_get(struct tcache *c, void **own, size_t bytes)
{
	void *p;

	if (!c) {
		*own = malloc(bytes ? bytes : 1);
		return *own;
	}
	if (c->scratch_bytes < bytes) {
		p = realloc(c->scratch, bytes);
		if (!p)
			return NULL;
		c->scratch = p;
		c->scratch_bytes = bytes;
	}
	return c->scratch;
}

/* ------------------------------------------------------------------ */
/* Merge loops. Both work in place on w[0..n) and return the new length. */

static inline uint32_t rank_of(const struct bpe *b, uint16_t l, uint16_t r, uint16_t *out)
{
	const struct bpe_pair *p = pair_find(b, l, r);

	if (!p)
		return RANK_NONE;
	*out = p->out;
	return p->rank1 - 1;
}

/* The JS encoder's loop: find the lowest rank among adjacent pairs (on a
 * tie the rightmost, as its object of ranks keeps the last pair written),
 * merge every occurrence of that pair left to right, repeat. rk holds n
 * ranks, ro n output ids. */
static size_t merge_scan(const struct bpe *b, uint16_t *w, size_t n, uint32_t *rk, uint16_t *ro)
{
	while (n > 1) {
		uint32_t best = RANK_NONE;
		size_t bi = 0, i, k;
		uint16_t l, r, o;

		for (i = 0; i + 1 < n; i++) {
			rk[i] = rank_of(b, w[i], w[i + 1], &ro[i]);
			if (rk[i] != RANK_NONE && rk[i] <= best) {
				best = rk[i];
				bi = i;
			}
		}
		if (best == RANK_NONE)
			break;
		l = w[bi];
		r = w[bi + 1];
		o = ro[bi];
		for (i = 0, k = 0; i < n; k++) {
			if (i + 1 < n && w[i] == l && w[i + 1] == r) {
				w[k] = o;
				i += 2;
			} else {
				w[k] = w[i++];
			}
		}
		n = k;
	}
	return n;
}

static void heap_push(uint64_t *h, size_t *n, uint64_t v)
{
	size_t i = (*n)++;

	while (i > 0 && h[(i - 1) / 2] > v) {
		h[i] = h[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h[i] = v;
}

static uint64_t heap_pop(uint64_t *h, size_t *n)
{
	uint64_t top = h[0], v = h[--(*n)];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= *n)
			break;
		if (c + 1 < *n && h[c + 1] < h[c])
			c++;
		if (h[c] >= v)
			break;
		h[i] = h[c];
		i = c;
	}
	if (*n)
		h[i] = v;
	return top;
}

static inline void push_pair(const struct bpe *b, const uint16_t *w, uint64_t *h, size_t *hn,
			     int32_t left, int32_t right)
{
	uint16_t o = 0;
	uint32_t rank = rank_of(b, w[left], w[right], &o);

	if (rank != RANK_NONE)
		heap_push(h, hn, (uint64_t)rank << 32 | (uint32_t)left);
}

/* Lowest rank first, leftmost on a tie, one occurrence at a time, over a
 * linked list of positions. Heap keys are rank << 32 | left position;
 * stale entries (a side merged away since) are skipped when popped. */
static size_t merge_heap(const struct bpe *b, uint16_t *w, size_t n, void *scratch)
{
	int32_t *nxt = scratch, *prv = nxt + n;
	uint64_t *h = (uint64_t *)(void *)(prv + n); /* 8n bytes in: aligned */
	size_t hn = 0, k = 0;

	for (size_t i = 0; i < n; i++) {
		nxt[i] = i + 1 < n ? (int32_t)i + 1 : -1;
		prv[i] = (int32_t)i - 1;
	}
	for (size_t i = 0; i + 1 < n; i++)
		push_pair(b, w, h, &hn, (int32_t)i, (int32_t)i + 1);
	while (hn) {
		uint64_t top = heap_pop(h, &hn);
		int32_t pos = (int32_t)(uint32_t)top, j = nxt[pos];
		uint16_t o = 0;

		if (prv[pos] == -2 || j < 0 || rank_of(b, w[pos], w[j], &o) != (uint32_t)(top >> 32))
			continue;
		w[pos] = o;
		nxt[pos] = nxt[j];
		if (nxt[j] >= 0)
			prv[nxt[j]] = pos;
		prv[j] = -2;
		if (prv[pos] >= 0)
			push_pair(b, w, h, &hn, prv[pos], pos);
		if (nxt[pos] >= 0)
			push_pair(b, w, h, &hn, pos, nxt[pos]);
	}
	for (int32_t i = 0; i >= 0; i = nxt[i])
		w[k++] = w[i];
	return k;
}

/* Bytes of scratch each loop needs for a piece of n bytes. Heap: next and
 * prev links, then at most n initial + 2 per merge entries (< 3n). */
static size_t scratch_bytes(size_t n, int heap)
{
	if (!heap)
		return n * (sizeof(uint32_t) + sizeof(uint16_t));
	return 2 * n * sizeof(int32_t) + 3 * n * sizeof(uint64_t);
}

/* Whether an alias can merge in piece p: its two tokens side by side are
 * the bytes of the token it makes, so a piece without those bytes never
 * meets it. */
static int alias_possible(const struct bpe *b, const uint8_t *p, size_t n)
{
	if (!memchr(p, ',', n))
		return 0;
	if (b->naliases < 0)
		return 1;
	for (int i = 0; i < b->naliases; i++) {
		uint16_t o = b->alias_out[i];

		if (memmem(p, n, b->tok_bytes + b->tok_off[o], tok_len(b, o)))
			return 1;
	}
	return 0;
}

static int use_heap(const struct bpe *b, const uint8_t *p, size_t n, enum bpe_merge_mode mode)
{
	if (mode != BPE_MERGE_AUTO)
		return mode == BPE_MERGE_HEAP;
	/* Aliases share their original's rank, where only the scan loop
	 * reproduces the JS order: a piece one can merge in takes the scan
	 * loop whatever its length (O(n) per round; a long such piece is
	 * slow, one without them, punctuation with commas, is not). */
	if (b->naliases && alias_possible(b, p, n))
		return 0;
	return n > SCAN_PIECE_MAX;
}

#ifdef KARPA_TEST_HOOKS
int bpe_test_uses_heap(const struct bpe *b, const uint8_t *p, size_t n)
{
	return use_heap(b, p, n, BPE_MERGE_AUTO);
}
#endif

/* Appends the ids of one piece. */
static int encode_piece(const struct bpe *b, struct tcache *c, const uint8_t *p, size_t n,
			enum bpe_merge_mode mode, struct bpe_tokens *out, struct kerr *err)
{
	uint64_t h = 0;
	const struct centry *e;
	uint16_t *w;
	void *own = NULL, *s;
	int heap;
	size_t m;

	if (n > INT32_MAX / 4)
		return kerr_set(err, "bpe.too_long", "a piece of %zu bytes is too long to encode", n);
	if (tokens_reserve(out, n) < 0)
		return kerr_set(err, "bpe.nomem", "out of memory for %zu more tokens", n);
	if (n == 1) {
		out->ids[out->n++] = b->byte_id[p[0]];
		return 0;
	}
	if (c && n <= CACHE_PIECE_BYTES_MAX) {
		h = piece_hash(p, n);
		e = cache_find(c, h, p, n);
		if (e) {
			memcpy(out->ids + out->n, c->ids + e->ids_off, e->nids * sizeof *w);
			out->n += e->nids;
			return 0;
		}
	}
	w = out->ids + out->n;
	for (size_t i = 0; i < n; i++)
		w[i] = b->byte_id[p[i]];
	heap = use_heap(b, p, n, mode);
	s = scratch_get(c, &own, scratch_bytes(n, heap));
	if (!s)
		return kerr_set(err, "bpe.nomem", "out of memory encoding a %zu-byte piece", n);
	m = heap ? merge_heap(b, w, n, s)
		 : merge_scan(b, w, n, s, (uint16_t *)(void *)((uint32_t *)s + n));
	free(own);
	if (c && n <= CACHE_PIECE_BYTES_MAX)
		cache_put(c, h, p, n, w, m);
	out->n += m;
	return 0;
}

int bpe_encode_piece_mode(const struct bpe *b, const uint8_t *piece, size_t n,
			  enum bpe_merge_mode mode, struct bpe_tokens *out, struct kerr *err)
{
	if (n == 0)
		return 0;
	return encode_piece(b, NULL, piece, n, mode, out, err);
}

int bpe_encode(const struct bpe *b, const char *text, size_t len, struct bpe_tokens *out,
	       struct kerr *err)
{
	const uint8_t *s = (const uint8_t *)text;
	struct tcache *c = tcache_get(b);
	int rc = 0;

	for (size_t pos = 0, n; pos < len && rc == 0; pos += n) {
		n = pretok_piece(s, len, pos);
		rc = encode_piece(b, c, s + pos, n, BPE_MERGE_AUTO, out, err);
	}
	if (c && c->scratch_bytes > SCRATCH_KEEP_BYTES) {
		free(c->scratch);
		c->scratch = NULL;
		c->scratch_bytes = 0;
	}
	return rc;
}

int bpe_decode(const struct bpe *b, const uint16_t *ids, size_t n, char **out, size_t *len,
	       struct kerr *err)
{
	size_t total = 0;
	char *p;

	*out = NULL;
	*len = 0;
	for (size_t i = 0; i < n; i++) {
		if (ids[i] >= b->vocab_size)
			return kerr_set(err, "bpe.bad_id", "token %zu: id %u outside vocabulary of %d",
					i, ids[i], b->vocab_size);
		total += tok_len(b, ids[i]);
	}
	p = malloc(total + 1);
	if (!p)
		return kerr_set(err, "bpe.nomem", "out of memory decoding %zu bytes", total);
	total = 0;
	for (size_t i = 0; i < n; i++) {
		memcpy(p + total, b->tok_bytes + b->tok_off[ids[i]], tok_len(b, ids[i]));
		total += tok_len(b, ids[i]);
	}
	p[total] = '\0';
	*out = p;
	*len = total;
	return 0;
}
