/* bpe_train.c: learning a byte-level BPE vocabulary from documents.
 * Owns the deterministic trainer: split every document into GPT-2 pieces,
 * count distinct pieces, then repeatedly merge the most frequent adjacent
 * pair (ties: smallest (left id, right id)), updating pair counts
 * incrementally through an index from each pair to the pieces holding it.
 * Never looks at anything but the documents given; the thread count only
 * changes how fast pieces are counted, never the result. */
#include <stdlib.h>
#include <string.h>

#include "data/bpe.h"
#include "data/bpe_internal.h"
#include "data/pretok.h"

/* ------------------------------------------------------------------ */
/* Distinct pieces and their counts. */

struct piece_map {
	uint32_t *slot; /* entry index + 1, 0 empty */
	size_t mask;
	uint64_t *hash;
	size_t *off, *len; /* into arena */
	int64_t *count;
	size_t n, cap;
	uint8_t *arena;
	size_t used, arena_cap;
	int oom;
};

static uint64_t piece_hash(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull ^ n;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h ^ (h >> 29);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t c = *cap ? *cap : 1024;
	void *q;

	if (need <= *cap)
		return 0;
	while (c < need) {
		if (c > SIZE_MAX / 4 / elem)
			return -1;
		c *= 2;
	}
	q = realloc(*p, c * elem);
	if (!q)
		return -1;
	*p = q;
	*cap = c;
	return 0;
}

static int pmap_rehash(struct piece_map *m, size_t slots)
{
	uint32_t *s = calloc(slots, sizeof *s);

	if (!s)
		return -1;
	for (size_t e = 0; e < m->n; e++) {
		size_t i = m->hash[e] & (slots - 1);
		while (s[i])
			i = (i + 1) & (slots - 1);
		s[i] = (uint32_t)e + 1;
	}
	free(m->slot);
	m->slot = s;
	m->mask = slots - 1;
	return 0;
}

static void pmap_add(struct piece_map *m, const uint8_t *p, size_t n, int64_t count)
{
	uint64_t h = piece_hash(p, n);
	size_t i, cap;

	if (m->oom)
		return;
	if (2 * (m->n + 1) > m->mask + 1 &&
	    pmap_rehash(m, m->slot ? 2 * (m->mask + 1) : 4096) < 0)
		goto oom;
	for (i = h & m->mask; m->slot[i]; i = (i + 1) & m->mask) {
		size_t e = m->slot[i] - 1;
		if (m->hash[e] == h && m->len[e] == n && !memcmp(m->arena + m->off[e], p, n)) {
			m->count[e] += count;
			return;
		}
	}
	if (m->n >= UINT32_MAX - 1)
		goto oom;
	cap = m->cap;
	if (grow((void **)&m->hash, &cap, m->n + 1, sizeof *m->hash) < 0)
		goto oom;
	cap = m->cap;
	if (grow((void **)&m->off, &cap, m->n + 1, sizeof *m->off) < 0)
		goto oom;
	cap = m->cap;
	if (grow((void **)&m->len, &cap, m->n + 1, sizeof *m->len) < 0)
		goto oom;
	cap = m->cap;
	if (grow((void **)&m->count, &cap, m->n + 1, sizeof *m->count) < 0)
		goto oom;
	m->cap = cap;
	if (grow((void **)&m->arena, &m->arena_cap, m->used + n, 1) < 0)
		goto oom;
	memcpy(m->arena + m->used, p, n);
	m->hash[m->n] = h;
	m->off[m->n] = m->used;
	m->len[m->n] = n;
	m->count[m->n] = count;
	m->used += n;
	m->slot[i] = (uint32_t)++m->n;
	return;
oom:
	m->oom = 1;
}

static void pmap_free(struct piece_map *m)
{
	free(m->slot);
	free(m->hash);
	free(m->off);
	free(m->len);
	free(m->count);
	free(m->arena);
	memset(m, 0, sizeof *m);
}

static void count_docs(struct piece_map *m, const char *const *docs, const size_t *lens, size_t lo,
		       size_t hi)
{
	for (size_t d = lo; d < hi && !m->oom; d++) {
		const uint8_t *s = (const uint8_t *)docs[d];
		for (size_t pos = 0, n; pos < lens[d]; pos += n) {
			n = pretok_piece(s, lens[d], pos);
			/* A one-byte piece holds no pair: it cannot matter. */
			if (n > 1)
				pmap_add(m, s + pos, n, 1);
		}
	}
}

/* Counts pieces over all documents. Each thread counts a fixed slice of
 * the documents; slices are summed, so counts do not depend on threads. */
static int count_pieces(const char *const *docs, const size_t *lens, size_t ndocs, int threads,
			struct piece_map *all, struct kerr *err)
{
	struct piece_map *part;
	int t_n = threads < 1 ? 1 : threads, oom = 0;

	if ((size_t)t_n > ndocs)
		t_n = ndocs ? (int)ndocs : 1;
	part = calloc((size_t)t_n, sizeof *part);
	if (!part)
		return kerr_set(err, "bpe.nomem", "out of memory counting pieces");
#pragma omp parallel for schedule(static, 1) num_threads(t_n)
	for (int t = 0; t < t_n; t++)
		count_docs(&part[t], docs, lens, ndocs * (size_t)t / (size_t)t_n,
			   ndocs * (size_t)(t + 1) / (size_t)t_n);
	for (int t = 0; t < t_n; t++) {
		oom |= part[t].oom;
		for (size_t e = 0; e < part[t].n && !oom; e++)
			pmap_add(all, part[t].arena + part[t].off[e], part[t].len[e], part[t].count[e]);
		pmap_free(&part[t]);
	}
	free(part);
	if (oom || all->oom)
		return kerr_set(err, "bpe.nomem", "out of memory counting pieces");
	return 0;
}

/* ------------------------------------------------------------------ */
/* Pairs: counts, the pieces that hold them, and a lazy max-heap. */

struct wlist {
	uint32_t *v;
	uint32_t n, cap;
};

struct heap_ent {
	int64_t count;
	uint32_t key; /* left << 16 | right */
};

struct trainer {
	/* words: distinct pieces as linked lists of symbols */
	size_t nw;
	int64_t *wcount;
	uint32_t *wstart, *stamp;
	uint16_t *sid;
	int32_t *snext, *sprev;
	/* pairs */
	uint32_t *pslot; /* pair index + 1 */
	uint32_t pmask, np, pcap;
	uint32_t *pkey;
	int64_t *pcount;
	struct wlist *plist;
	uint32_t *pstamp; /* last merge that queued the pair, + 1 */
	/* heap */
	struct heap_ent *heap;
	size_t hn, hcap;
	/* new pairs of the current merge */
	uint32_t *touched;
	size_t ntouched, tcap;
	uint32_t toklen[BPE_VOCAB_MAX];
	int oom;
};

static inline uint32_t key_slot(uint32_t key, uint32_t mask)
{
	uint32_t h = key * 0x9E3779B1u;

	return (h ^ (h >> 15)) & mask;
}

static int pairs_rehash(struct trainer *t, uint32_t slots)
{
	uint32_t *s = calloc(slots, sizeof *s);

	if (!s)
		return -1;
	for (uint32_t p = 0; p < t->np; p++) {
		uint32_t i = key_slot(t->pkey[p], slots - 1);
		while (s[i])
			i = (i + 1) & (slots - 1);
		s[i] = p + 1;
	}
	free(t->pslot);
	t->pslot = s;
	t->pmask = slots - 1;
	return 0;
}

/* Index of the pair, created with count 0 when create is set; -1 if absent
 * (or out of memory, which sets t->oom). */
static int64_t pair_index(struct trainer *t, uint32_t key, int create)
{
	uint32_t i;
	size_t cap;

	for (i = key_slot(key, t->pmask); t->pslot[i]; i = (i + 1) & t->pmask)
		if (t->pkey[t->pslot[i] - 1] == key)
			return t->pslot[i] - 1;
	if (!create)
		return -1;
	if (t->np == t->pcap) {
		cap = t->pcap;
		if (grow((void **)&t->pkey, &cap, (size_t)t->np + 1, sizeof *t->pkey) < 0)
			goto oom;
		cap = t->pcap;
		if (grow((void **)&t->pcount, &cap, (size_t)t->np + 1, sizeof *t->pcount) < 0)
			goto oom;
		cap = t->pcap;
		if (grow((void **)&t->plist, &cap, (size_t)t->np + 1, sizeof *t->plist) < 0)
			goto oom;
		cap = t->pcap;
		if (grow((void **)&t->pstamp, &cap, (size_t)t->np + 1, sizeof *t->pstamp) < 0)
			goto oom;
		if (cap > UINT32_MAX / 4)
			goto oom;
		t->pcap = (uint32_t)cap;
	}
	t->pkey[t->np] = key;
	t->pcount[t->np] = 0;
	memset(&t->plist[t->np], 0, sizeof t->plist[t->np]);
	t->pstamp[t->np] = 0;
	t->pslot[i] = ++t->np;
	if (2 * (uint64_t)t->np > (uint64_t)t->pmask + 1 && pairs_rehash(t, 2 * (t->pmask + 1)) < 0)
		goto oom;
	return t->np - 1;
oom:
	t->oom = 1;
	return -1;
}

static void wlist_add(struct trainer *t, struct wlist *l, uint32_t w)
{
	size_t cap = l->cap;

	if (l->n && l->v[l->n - 1] == w)
		return;
	if (grow((void **)&l->v, &cap, (size_t)l->n + 1, sizeof *l->v) < 0) {
		t->oom = 1;
		return;
	}
	l->cap = (uint32_t)cap;
	l->v[l->n++] = w;
}

/* Adds delta occurrences of (l, r) found in word w. Increments index the
 * word and, during a merge (stamp > 0), queue the pair for the heap. */
static void pair_add(struct trainer *t, uint16_t l, uint16_t r, int64_t delta, uint32_t w,
		     uint32_t stamp)
{
	int64_t p = pair_index(t, (uint32_t)l << 16 | r, delta > 0);

	if (p < 0)
		return; /* only on out of memory: a decrement always finds it */
	t->pcount[p] += delta;
	if (delta <= 0)
		return;
	wlist_add(t, &t->plist[p], w);
	if (stamp && t->pstamp[p] != stamp) {
		size_t cap = t->tcap;
		t->pstamp[p] = stamp;
		if (grow((void **)&t->touched, &cap, t->ntouched + 1, sizeof *t->touched) < 0) {
			t->oom = 1;
			return;
		}
		t->tcap = cap;
		t->touched[t->ntouched++] = (uint32_t)p;
	}
}

/* Max-heap order: higher count first, then the smaller key, i.e. the
 * smaller (left id, right id). */
static inline int heap_before(const struct heap_ent *a, const struct heap_ent *b)
{
	return a->count > b->count || (a->count == b->count && a->key < b->key);
}

static void heap_push(struct trainer *t, int64_t count, uint32_t key)
{
	struct heap_ent e = { count, key };
	size_t i;

	if (grow((void **)&t->heap, &t->hcap, t->hn + 1, sizeof *t->heap) < 0) {
		t->oom = 1;
		return;
	}
	for (i = t->hn++; i > 0 && heap_before(&e, &t->heap[(i - 1) / 2]); i = (i - 1) / 2)
		t->heap[i] = t->heap[(i - 1) / 2];
	t->heap[i] = e;
}

static void heap_pop(struct trainer *t)
{
	struct heap_ent e = t->heap[--t->hn];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= t->hn)
			break;
		if (c + 1 < t->hn && heap_before(&t->heap[c + 1], &t->heap[c]))
			c++;
		if (!heap_before(&t->heap[c], &e))
			break;
		t->heap[i] = t->heap[c];
		i = c;
	}
	if (t->hn)
		t->heap[i] = e;
}

/* ------------------------------------------------------------------ */
/* The trainer proper. */

static int cmp_piece(const void *a, const void *b, void *ctx)
{
	const struct piece_map *m = ctx;
	size_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	size_t n = m->len[x] < m->len[y] ? m->len[x] : m->len[y];
	int c = memcmp(m->arena + m->off[x], m->arena + m->off[y], n);

	if (c)
		return c;
	return (m->len[x] > m->len[y]) - (m->len[x] < m->len[y]);
}

/* Lays the distinct pieces out as words (in byte order, so internal
 * layout is the same on every run) and counts every adjacent pair. */
static int load_words(struct trainer *t, const struct piece_map *m, struct kerr *err)
{
	uint32_t *order = malloc((m->n ? m->n : 1) * sizeof *order);
	size_t s = 0;
	int rc = -1;

	t->nw = m->n;
	t->wcount = malloc((m->n + 1) * sizeof *t->wcount);
	t->wstart = malloc((m->n + 1) * sizeof *t->wstart);
	t->stamp = calloc(m->n + 1, sizeof *t->stamp);
	t->sid = malloc((m->used + 1) * sizeof *t->sid);
	t->snext = malloc((m->used + 1) * sizeof *t->snext);
	t->sprev = malloc((m->used + 1) * sizeof *t->sprev);
	if (!order || !t->wcount || !t->wstart || !t->stamp || !t->sid || !t->snext || !t->sprev ||
	    m->used > INT32_MAX || pairs_rehash(t, 1u << 16) < 0) {
		kerr_set(err, "bpe.nomem", "out of memory for %zu pieces", m->n);
		goto out;
	}
	for (size_t e = 0; e < m->n; e++)
		order[e] = (uint32_t)e;
	qsort_r(order, m->n, sizeof *order, cmp_piece, (void *)m);
	for (size_t w = 0; w < m->n; w++) {
		size_t e = order[w], n = m->len[e];
		const uint8_t *p = m->arena + m->off[e];
		t->wcount[w] = m->count[e];
		t->wstart[w] = (uint32_t)s;
		for (size_t i = 0; i < n; i++) {
			t->sid[s + i] = p[i];
			t->sprev[s + i] = i ? (int32_t)(s + i - 1) : -1;
			t->snext[s + i] = i + 1 < n ? (int32_t)(s + i + 1) : -1;
			if (i)
				pair_add(t, p[i - 1], p[i], t->wcount[w], (uint32_t)w, 0);
		}
		s += n;
	}
	for (uint32_t p = 0; p < t->np; p++)
		heap_push(t, t->pcount[p], t->pkey[p]);
	if (t->oom) {
		kerr_set(err, "bpe.nomem", "out of memory counting pairs");
		goto out;
	}
	rc = 0;
out:
	free(order);
	return rc;
}

/* Merges every (l, r) in word w into id nu, left to right, keeping the
 * neighbours' pair counts exact. */
static void merge_word(struct trainer *t, uint32_t w, uint16_t l, uint16_t r, uint16_t nu,
		       uint32_t stamp)
{
	int64_t c = t->wcount[w];

	for (int32_t i = (int32_t)t->wstart[w], j; i >= 0 && (j = t->snext[i]) >= 0;) {
		int32_t p, q;
		if (t->sid[i] != l || t->sid[j] != r) {
			i = j;
			continue;
		}
		p = t->sprev[i];
		q = t->snext[j];
		if (p >= 0) {
			pair_add(t, t->sid[p], l, -c, w, stamp);
			pair_add(t, t->sid[p], nu, c, w, stamp);
		}
		if (q >= 0) {
			pair_add(t, r, t->sid[q], -c, w, stamp);
			pair_add(t, nu, t->sid[q], c, w, stamp);
		}
		pair_add(t, l, r, -c, w, stamp);
		t->sid[i] = nu;
		t->snext[i] = q;
		if (q >= 0)
			t->sprev[q] = i;
		i = q;
	}
}

/* Pops the best pair with a true count >= 2 whose token would fit;
 * returns its index, or -1 when none is left. Heap counts are upper
 * bounds (an existing pair's count only falls), so an entry whose count
 * is still exact is the true maximum. */
static int64_t best_pair(struct trainer *t)
{
	while (t->hn) {
		struct heap_ent top = t->heap[0];
		int64_t p = pair_index(t, top.key, 0);
		int64_t cur = p >= 0 ? t->pcount[p] : 0;

		heap_pop(t);
		if (cur != top.count) {
			if (cur > 0)
				heap_push(t, cur, top.key);
			continue;
		}
		if (cur < 2)
			return -1;
		if (t->toklen[top.key >> 16] + t->toklen[top.key & 0xffff] > BPE_TOKEN_BYTES_MAX)
			continue; /* never eligible again: lengths do not change */
		return p;
	}
	return -1;
}

static void trainer_free(struct trainer *t)
{
	free(t->wcount);
	free(t->wstart);
	free(t->stamp);
	free(t->sid);
	free(t->snext);
	free(t->sprev);
	free(t->pslot);
	free(t->pkey);
	free(t->pcount);
	for (uint32_t p = 0; p < t->np; p++)
		free(t->plist[p].v);
	free(t->plist);
	free(t->pstamp);
	free(t->heap);
	free(t->touched);
	free(t);
}

static int learn(struct trainer *t, size_t nmerges, uint16_t (*merges)[2], struct kerr *err)
{
	for (uint32_t i = 0; i < BPE_BYTE_IDS; i++)
		t->toklen[i] = 1;
	for (size_t k = 0; k < nmerges; k++) {
		int64_t p = best_pair(t);
		uint16_t l, r, nu = (uint16_t)(BPE_BYTE_IDS + k);
		struct wlist words;

		if (t->oom)
			return kerr_set(err, "bpe.nomem", "out of memory at merge %zu", k);
		if (p < 0)
			return kerr_set(err, "bpe.vocab_unreachable",
					"the documents allow only %zu merges (no pair left that occurs "
					"twice), vocab_size %zu needs %zu",
					k, nmerges + BPE_VOCAB_MIN, nmerges);
		l = (uint16_t)(t->pkey[p] >> 16);
		r = (uint16_t)(t->pkey[p] & 0xffff);
		merges[k][0] = l;
		merges[k][1] = r;
		t->toklen[nu] = t->toklen[l] + t->toklen[r];
		/* The pair's own list is never appended to while it merges (new
		 * pairs all contain nu), so it can be taken over as is. */
		words = t->plist[p];
		memset(&t->plist[p], 0, sizeof t->plist[p]);
		t->ntouched = 0;
		for (uint32_t i = 0; i < words.n; i++) {
			uint32_t w = words.v[i];
			if (t->stamp[w] == k + 1)
				continue;
			t->stamp[w] = (uint32_t)k + 1;
			merge_word(t, w, l, r, nu, (uint32_t)k + 1);
		}
		free(words.v);
		for (size_t i = 0; i < t->ntouched; i++)
			if (t->pcount[t->touched[i]] > 0)
				heap_push(t, t->pcount[t->touched[i]], t->pkey[t->touched[i]]);
	}
	if (t->oom)
		return kerr_set(err, "bpe.nomem", "out of memory while merging");
	return 0;
}

int bpe_train(const char *const *docs, const size_t *lens, size_t ndocs, int vocab_size,
	      int threads, struct bpe **out, struct kerr *err)
{
	struct piece_map pieces = { 0 };
	struct trainer *t = NULL;
	uint16_t(*merges)[2] = NULL;
	size_t nmerges;
	struct bpe_spec s = { 0 };
	int rc = -1;

	*out = NULL;
	if (vocab_size < BPE_VOCAB_MIN || vocab_size > BPE_VOCAB_MAX)
		return kerr_set(err, "bpe.bad_vocab_size", "vocab_size %d outside [%d, %d]",
				vocab_size, BPE_VOCAB_MIN, BPE_VOCAB_MAX);
	nmerges = (size_t)(vocab_size - BPE_VOCAB_MIN);
	t = calloc(1, sizeof *t);
	merges = malloc((nmerges ? nmerges : 1) * sizeof *merges);
	if (!t || !merges) {
		kerr_set(err, "bpe.nomem", "out of memory");
		goto out;
	}
	if (count_pieces(docs, lens, ndocs, threads, &pieces, err) < 0 ||
	    load_words(t, &pieces, err) < 0)
		goto out;
	pmap_free(&pieces);
	if (learn(t, nmerges, merges, err) < 0)
		goto out;
	s.vocab_size = vocab_size;
	s.eot = vocab_size - 1;
	s.merges = (const uint16_t(*)[2])merges;
	s.nmerges = nmerges;
	rc = bpe_build(&s, out, err);
out:
	pmap_free(&pieces);
	if (t)
		trainer_free(t);
	free(merges);
	return rc;
}
