/* test_bpe.c: the byte-level BPE tokenizer. Pre-tokenization on hand-written
 * strings; round trips of random bytes (invalid UTF-8 included) and English;
 * the trainer against hand-computed merges, a naive recount-everything
 * reference, and itself (threads, repetition); the two merge loops against
 * each other; the file format (canonical bytes, digest, reload) and hostile
 * files, including GPT-2 files written by hand. GPT-2 parity with the
 * reference JS encoder is tests/test_gpt2_node.c. */
#include "testutil.h"

#include <pthread.h>

#include "data/bpe.h"
#include "data/bpe_internal.h"
#include "data/pretok.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void)
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 7;
	g_rng ^= g_rng << 17;
	return (uint32_t)(g_rng >> 11);
}

static void check_ok(int rc, const struct kerr *e)
{
	if (rc != 0)
		fail_msg("unexpected failure: %s: %s", e->code, e->msg);
}

struct buf {
	char *p;
	size_t n, cap;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* English-like text from a fixed word list: sentences with punctuation,
 * numbers, contractions, paragraph breaks and the odd double space. */
static void gen_english(struct buf *b, size_t bytes)
{
	static const char *const words[] = {
		"the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was",
		"with", "be", "by", "on", "not", "he", "this", "are", "or", "his", "from", "at",
		"which", "but", "have", "an", "had", "they", "you", "were", "their", "one", "all",
		"we", "can", "her", "has", "there", "been", "if", "more", "when", "will", "would",
		"who", "so", "no", "river", "morning", "committee", "election", "country", "small",
		"people", "government", "between", "children", "although", "remember", "quickly",
		"don't", "it's", "we'll", "they've", "I'm", "she'd", "you're", "café", "naïve",
	};
	static const char *const punct[] = { ".", ",", ";", "?", "!", ":", "...", " -" };
	int at_start = 1;

	while (b->n < bytes) {
		const char *w = words[rnd() % (sizeof words / sizeof *words)];
		char tmp[64];
		if (!at_start)
			buf_str(b, rnd() % 40 ? " " : "  ");
		if (at_start) {
			snprintf(tmp, sizeof tmp, "%s", w);
			if (tmp[0] >= 'a' && tmp[0] <= 'z')
				tmp[0] = (char)(tmp[0] - 'a' + 'A');
			buf_str(b, tmp);
		} else {
			buf_str(b, w);
		}
		at_start = 0;
		if (rnd() % 23 == 0) {
			snprintf(tmp, sizeof tmp, " %u", rnd() % 5000);
			buf_str(b, tmp);
		}
		if (rnd() % 9 == 0) {
			buf_str(b, punct[rnd() % (sizeof punct / sizeof *punct)]);
			if (rnd() % 3 == 0) {
				buf_str(b, rnd() % 4 ? " " : "\n\n");
				at_start = 1;
			}
		}
	}
}

static struct bpe *train_one(const char *text, size_t len, int vocab, int threads)
{
	struct bpe *b = NULL;
	struct kerr e;
	const char *docs[1] = { text };
	size_t lens[1] = { len };

	check_ok(bpe_train(docs, lens, 1, vocab, threads, &b, &e), &e);
	return b;
}

static struct bpe *g_tok; /* trained once on generated English */
static struct buf g_text;

static int group_setup(void **state)
{
	gen_english(&g_text, 120000);
	g_tok = train_one(g_text.p, g_text.n, 700, 1);
	return 0;
}

static int group_teardown(void **state)
{
	bpe_free(g_tok);
	free(g_text.p);
	return 0;
}

static void roundtrip(const struct bpe *b, const char *s, size_t n)
{
	struct bpe_tokens t = { 0 };
	struct kerr e;
	char *back = NULL;
	size_t blen, bytes = 0;

	check_ok(bpe_encode(b, s, n, &t, &e), &e);
	for (size_t i = 0; i < t.n; i++) {
		assert_true(t.ids[i] < bpe_vocab_size(b));
		assert_true(t.ids[i] != bpe_eot(b));
		bytes += bpe_token_len(b, t.ids[i]);
	}
	assert_int_equal(bytes, n);
	check_ok(bpe_decode(b, t.ids, t.n, &back, &blen, &e), &e);
	assert_int_equal(blen, n);
	assert_memory_equal(back, s, n);
	free(back);
	bpe_tokens_free(&t);
}

static void write_file(const char *path, const char *s, size_t n)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(s, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/* ------------------------------------------------------------------------ */
/* Pre-tokenization                                                         */
/* ------------------------------------------------------------------------ */

struct split_case {
	const char *text;
	const char *pieces[24]; /* NULL-terminated */
};

static const struct split_case split_cases[] = {
	{ "Hello world", { "Hello", " world" } },
	{ "I'm sure we'll see they've won, it's what she'd say; don't",
	  { "I", "'m", " sure", " we", "'ll", " see", " they", "'ve", " won", ",", " it", "'s",
	    " what", " she", "'d", " say", ";", " don", "'t" } },
	/* 're, and the upper-case 'S that is no contraction */
	{ "you're JOHN'S", { "you", "'re", " JOHN", "'", "S" } },
	{ "abc 123 4567x $9.99", { "abc", " 123", " 4567", "x", " $", "9", ".", "99" } },
	{ "Wait...!!! ok?!", { "Wait", "...!!!", " ok", "?!" } },
	/* a run of others swallows the apostrophe: no contraction inside it */
	{ "(?'s)", { "(?'", "s", ")" } },
	/* several spaces before a word: the last one stays with the word */
	{ "a    b", { "a", "   ", " b" } },
	{ "café au lait, naïve", { "café", " au", " lait", ",", " naïve" } },
	{ "line1\nline2\n\n  x", { "line", "1", "\n", "line", "2", "\n\n ", " x" } },
	{ "x \ny", { "x", " ", "\n", "y" } },
	{ "end.  ", { "end", ".", "  " } },
	{ "\t\tindented", { "\t", "\t", "indented" } },
	/* NBSP is \s but not the space that ` ?` takes */
	{ "a\xc2\xa0" "b", { "a", "\xc2\xa0", "b" } },
	/* NEL (U+0085) is White_Space in Unicode but not \s in JavaScript */
	{ "a\xc2\x85" "b", { "a", "\xc2\x85", "b" } },
	/* U+2028 and U+FEFF are \s in JavaScript */
	{ "a\xe2\x80\xa8\xef\xbb\xbf" "b", { "a", "\xe2\x80\xa8", "\xef\xbb\xbf", "b" } },
	/* Arabic-Indic digits are \p{N}; CJK is \p{L} */
	{ "n\xd9\xa3\xd9\xa4 \xe6\x97\xa5\xe6\x9c\xac", { "n", "\xd9\xa3\xd9\xa4", " \xe6\x97\xa5\xe6\x9c\xac" } },
	/* invalid bytes are "other", each on its own */
	{ "ab\xff\xfe" "cd \xc3(", { "ab", "\xff\xfe", "cd", " \xc3(" } },
	{ " ", { " " } },
	{ "", { NULL } },
};

static void test_pretok_pieces(void **state)
{
	for (size_t c = 0; c < sizeof split_cases / sizeof *split_cases; c++) {
		const struct split_case *sc = &split_cases[c];
		const uint8_t *s = (const uint8_t *)sc->text;
		size_t len = strlen(sc->text), pos = 0, k = 0;

		while (pos < len) {
			size_t n = pretok_piece(s, len, pos);
			if (!sc->pieces[k])
				fail_msg("case %zu: extra piece \"%.*s\"", c, (int)n, sc->text + pos);
			if (n != strlen(sc->pieces[k]) || memcmp(s + pos, sc->pieces[k], n))
				fail_msg("case %zu piece %zu: got \"%.*s\", want \"%s\"", c, k, (int)n,
					 sc->text + pos, sc->pieces[k]);
			pos += n;
			k++;
		}
		if (sc->pieces[k])
			fail_msg("case %zu: missing piece \"%s\"", c, sc->pieces[k]);
	}
}

/* ------------------------------------------------------------------------ */
/* Round trips and encoding                                                 */
/* ------------------------------------------------------------------------ */

static void test_roundtrip_random_bytes(void **state)
{
	static const char *const frags[] = { "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
					     "\xed\xa0\x80", "\xc0\xaf", "\xe2\x82", "\xff",
					     " ", "  ", "\n", "'s", "a", "Z", "7", ",", "\xc2\xa0" };
	struct buf b = { 0 };

	for (int round = 0; round < 400; round++) {
		size_t len = rnd() % 300;
		b.n = 0;
		buf_add(&b, "", 0);
		while (b.n < len) {
			if (rnd() % 2) {
				char c = (char)(rnd() & 0xff);
				buf_add(&b, &c, 1);
			} else {
				buf_str(&b, frags[rnd() % (sizeof frags / sizeof *frags)]);
			}
		}
		roundtrip(g_tok, b.p, b.n);
	}
	roundtrip(g_tok, "", 0);
	free(b.p);
}

static void test_roundtrip_english(void **state)
{
	struct buf b = { 0 };
	struct bpe_tokens t = { 0 };
	struct kerr e;

	roundtrip(g_tok, g_text.p, g_text.n);
	gen_english(&b, 30000); /* text the tokenizer did not see */
	roundtrip(g_tok, b.p, b.n);
	/* It compresses: a 700-token vocabulary on its own kind of text. */
	check_ok(bpe_encode(g_tok, b.p, b.n, &t, &e), &e);
	assert_true(t.n * 2 < b.n);
	bpe_tokens_free(&t);
	free(b.p);
}

static void test_eot_never_from_text(void **state)
{
	const char *s = "a<|endoftext|>b <|endoftext|>";
	struct bpe_tokens t = { 0 };
	struct kerr e;

	roundtrip(g_tok, s, strlen(s));
	check_ok(bpe_encode(g_tok, s, strlen(s), &t, &e), &e);
	for (size_t i = 0; i < t.n; i++)
		assert_int_not_equal(t.ids[i], bpe_eot(g_tok));
	bpe_tokens_free(&t);
}

static void test_encode_appends(void **state)
{
	struct bpe_tokens t = { 0 }, whole = { 0 };
	struct kerr e;
	const char *a = "The river.\n", *b = "The morning.";
	char both[64];

	assert_int_equal(bpe_tokens_push(&t, bpe_eot(g_tok)), 0);
	check_ok(bpe_encode(g_tok, a, strlen(a), &t, &e), &e);
	check_ok(bpe_encode(g_tok, b, strlen(b), &t, &e), &e);
	snprintf(both, sizeof both, "%s%s", a, b);
	check_ok(bpe_encode(g_tok, both, strlen(both), &whole, &e), &e);
	/* The split falls on a piece boundary (". " then "The" would not:
	 * the space belongs to " The" in the whole text). */
	assert_int_equal(t.ids[0], bpe_eot(g_tok));
	assert_int_equal(t.n, whole.n + 1);
	assert_memory_equal(t.ids + 1, whole.ids, whole.n * sizeof *whole.ids);
	bpe_tokens_free(&t);
	bpe_tokens_free(&whole);
}

static void test_scan_and_heap_agree(void **state)
{
	static const char alpha[] = "aab the,";
	struct bpe_tokens s = { 0 }, h = { 0 };
	struct kerr e;
	char piece[400];

	for (int round = 0; round < 300; round++) {
		size_t n = 1 + rnd() % sizeof piece;
		for (size_t i = 0; i < n; i++)
			piece[i] = round % 3 ? alpha[rnd() % (sizeof alpha - 1)] : g_text.p[i + round];
		s.n = h.n = 0;
		check_ok(bpe_encode_piece_mode(g_tok, (uint8_t *)piece, n, BPE_MERGE_SCAN, &s, &e), &e);
		check_ok(bpe_encode_piece_mode(g_tok, (uint8_t *)piece, n, BPE_MERGE_HEAP, &h, &e), &e);
		assert_int_equal(s.n, h.n);
		assert_memory_equal(s.ids, h.ids, s.n * sizeof *s.ids);
	}
	bpe_tokens_free(&s);
	bpe_tokens_free(&h);
}

/* A long piece goes through the heap loop in bpe_encode: its result must
 * be what the scan loop gives. */
static void test_long_piece(void **state)
{
	size_t n = 20000;
	char *p = malloc(n);
	struct bpe_tokens a = { 0 }, b = { 0 };
	struct kerr e;

	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = "the"[i % 3];
	check_ok(bpe_encode(g_tok, p, n, &a, &e), &e);
	check_ok(bpe_encode_piece_mode(g_tok, (uint8_t *)p, n, BPE_MERGE_SCAN, &b, &e), &e);
	assert_int_equal(a.n, b.n);
	assert_memory_equal(a.ids, b.ids, a.n * sizeof *a.ids);
	roundtrip(g_tok, p, n);
	bpe_tokens_free(&a);
	bpe_tokens_free(&b);
	free(p);
}

/* A piece longer than the merge loops can index (int32 positions, about 32
 * bytes of scratch a byte) is refused before a token is appended: a run of
 * letters 512 MiB long is a single piece. */
static void test_piece_too_long_to_encode(void **state)
{
	size_t n = (size_t)INT32_MAX / 4 + 1;
	char *p = malloc(n);
	struct bpe_tokens t = { 0 };
	struct kerr e;

	assert_non_null(p);
	memset(p, 'a', n);
	assert_int_equal(bpe_encode(g_tok, p, n, &t, &e), -1);
	assert_string_equal(e.code, "bpe.too_long");
	assert_non_null(strstr(e.msg, "536870912 bytes"));
	assert_int_equal(t.n, 0);
	bpe_tokens_free(&t);
	free(p);
}

struct enc_job {
	const struct bpe *b;
	const char *text;
	size_t len;
	struct bpe_tokens out;
	int rc;
};

static void *enc_thread(void *arg)
{
	struct enc_job *j = arg;
	struct kerr e;

	for (int i = 0; i < 3 && j->rc == 0; i++) {
		j->out.n = 0;
		j->rc = bpe_encode(j->b, j->text, j->len, &j->out, &e);
	}
	return NULL;
}

static void test_concurrent_encode(void **state)
{
	struct enc_job jobs[4];
	pthread_t th[4];
	struct bpe_tokens ref = { 0 };
	struct kerr e;

	check_ok(bpe_encode(g_tok, g_text.p, g_text.n, &ref, &e), &e);
	for (int i = 0; i < 4; i++) {
		jobs[i] = (struct enc_job){ g_tok, g_text.p, g_text.n, { 0 }, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, enc_thread, &jobs[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(jobs[i].rc, 0);
		assert_int_equal(jobs[i].out.n, ref.n);
		assert_memory_equal(jobs[i].out.ids, ref.ids, ref.n * sizeof *ref.ids);
		bpe_tokens_free(&jobs[i].out);
	}
	bpe_tokens_free(&ref);
}

/* A thread's piece cache must not serve one tokenizer's ids for another:
 * " the" is cached by the first, the second has no merge for it. */
static void test_cache_per_tokenizer(void **state)
{
	const char *qx = "qx qx qx qx qx qx";
	struct bpe *other = train_one(qx, strlen(qx), 259, 1);
	const char *s = " the qx";
	struct bpe_tokens a = { 0 }, b = { 0 };
	struct kerr e;

	check_ok(bpe_encode(g_tok, s, strlen(s), &a, &e), &e);
	assert_true(a.n < 5);
	check_ok(bpe_encode(other, s, strlen(s), &b, &e), &e);
	assert_int_equal(b.n, 5);
	assert_int_equal(b.ids[0], ' ');
	assert_int_equal(b.ids[1], 't');
	assert_int_equal(b.ids[2], 'h');
	assert_int_equal(b.ids[3], 'e');
	assert_int_equal(b.ids[4], 257); /* " qx" */
	bpe_tokens_free(&a);
	bpe_tokens_free(&b);
	bpe_free(other);
}

static void test_token_table(void **state)
{
	struct kerr e;
	uint16_t bad[2] = { 5, 9999 };
	char *out = NULL;
	size_t len;

	assert_int_equal(bpe_vocab_size(g_tok), 700);
	assert_int_equal(bpe_eot(g_tok), 699);
	assert_int_equal(bpe_token_len(g_tok, bpe_eot(g_tok)), 0);
	for (int i = 0; i < 256; i++) {
		assert_int_equal(bpe_token_len(g_tok, (uint16_t)i), 1);
		assert_int_equal(bpe_token_data(g_tok, (uint16_t)i)[0], i);
	}
	for (int i = 256; i < 699; i++)
		assert_true(bpe_token_len(g_tok, (uint16_t)i) >= 2);
	/* the eot decodes to nothing */
	uint16_t ids[3] = { 'h', 699, 'i' };
	check_ok(bpe_decode(g_tok, ids, 3, &out, &len, &e), &e);
	assert_int_equal(len, 2);
	assert_memory_equal(out, "hi", 2);
	free(out);
	assert_int_equal(bpe_decode(g_tok, bad, 2, &out, &len, &e), -1);
	assert_string_equal(e.code, "bpe.bad_id");
	assert_null(out);
}

/* ------------------------------------------------------------------------ */
/* Trainer                                                                  */
/* ------------------------------------------------------------------------ */

static void expect_merges(const struct bpe *b, const uint16_t (*want)[2], size_t n)
{
	assert_int_equal(b->nmerges, n);
	for (size_t k = 0; k < n; k++)
		if (b->merges[k][0] != want[k][0] || b->merges[k][1] != want[k][1])
			fail_msg("merge %zu: got [%u,%u], want [%u,%u]", k, b->merges[k][0],
				 b->merges[k][1], want[k][0], want[k][1]);
}

/* Counted by hand. Pieces: "ab" x2, "ac" x2, "bc" x2, "zz" x3. Pairs:
 * (z,z) 3 wins on count; then (a,b) (a,c) (b,c) tie at 2 and go in order
 * of (left, right); document order does not matter. */
static void test_train_tie_breaking(void **state)
{
	const char *docs[] = { "ac", "bc", "zz", "ab", "ac", "zz", "bc", "ab", "zz" };
	size_t lens[9];
	const uint16_t want[][2] = { { 'z', 'z' }, { 'a', 'b' }, { 'a', 'c' }, { 'b', 'c' } };
	struct bpe *b = NULL;
	struct kerr e;

	for (int i = 0; i < 9; i++)
		lens[i] = 2;
	check_ok(bpe_train(docs, lens, 9, 257 + 4, 1, &b, &e), &e);
	expect_merges(b, want, 4);
	assert_int_equal(bpe_eot(b), 260);
	bpe_free(b);
	/* a fifth merge would need a pair seen twice: none is left */
	assert_int_equal(bpe_train(docs, lens, 9, 257 + 5, 1, &b, &e), -1);
	assert_string_equal(e.code, "bpe.vocab_unreachable");
	assert_null(b);
}

/* Counted by hand. "ab cd ab cd": pieces "ab" 1, " cd" 2, " ab" 1.
 * Counts: (a,b) 2, (' ',c) 2, (c,d) 2, (' ',a) 1: (32,99) is smallest.
 * Then " cd" = [256,d]: (a,b) 2 and (256,d) 2 tie: (97,98) first. Then
 * (256,100). Merges never cross pieces: (b,' ') and (d,' ') do not exist. */
static void test_train_by_hand(void **state)
{
	const char *docs[] = { "ab cd ab cd" };
	size_t lens[] = { 11 };
	const uint16_t want[][2] = { { 32, 99 }, { 97, 98 }, { 256, 100 } };
	struct bpe *b = NULL;
	struct kerr e;
	struct bpe_tokens t = { 0 };

	check_ok(bpe_train(docs, lens, 1, 260, 2, &b, &e), &e);
	expect_merges(b, want, 3);
	assert_int_equal(bpe_token_len(b, 258), 3);
	assert_memory_equal(bpe_token_data(b, 258), " cd", 3);
	check_ok(bpe_encode(b, docs[0], lens[0], &t, &e), &e);
	assert_int_equal(t.n, 5); /* ab, " cd", ' ', ab, " cd" */
	assert_int_equal(t.ids[0], 257);
	assert_int_equal(t.ids[1], 258);
	assert_int_equal(t.ids[2], 32);
	assert_int_equal(t.ids[3], 257);
	assert_int_equal(t.ids[4], 258);
	bpe_tokens_free(&t);
	bpe_free(b);
}

/* The reference: recount every pair before each merge. Ids stay below
 * NAIVE_IDS (256 bytes + at most 200 merges), so a pair is l * NAIVE_IDS + r
 * and ordering those numbers orders (left, right). */
#define NAIVE_IDS 512
static size_t naive_train(const char *const *docs, const size_t *lens, size_t ndocs,
			  size_t nmerges, uint16_t (*out)[2])
{
	uint16_t *w[4096];
	size_t wn[4096], nw = 0, k, ntouched;
	int64_t *cnt = calloc((size_t)NAIVE_IDS * NAIVE_IDS, sizeof *cnt);
	uint32_t *touched = malloc((size_t)NAIVE_IDS * NAIVE_IDS * sizeof *touched);

	assert_non_null(cnt);
	assert_non_null(touched);
	assert_true(nmerges + 256 <= NAIVE_IDS);
	for (size_t d = 0; d < ndocs; d++)
		for (size_t pos = 0, n; pos < lens[d]; pos += n) {
			n = pretok_piece((const uint8_t *)docs[d], lens[d], pos);
			assert_true(nw < 4096);
			w[nw] = malloc(n * sizeof **w);
			for (size_t i = 0; i < n; i++)
				w[nw][i] = (uint8_t)docs[d][pos + i];
			wn[nw++] = n;
		}
	for (k = 0; k < nmerges; k++) {
		int64_t best = 1;
		uint32_t bl = 0, br = 0, bkey = UINT32_MAX;
		ntouched = 0;
		for (size_t i = 0; i < nw; i++)
			for (size_t j = 0; j + 1 < wn[i]; j++) {
				uint32_t key = (uint32_t)w[i][j] * NAIVE_IDS + w[i][j + 1];
				if (cnt[key]++ == 0)
					touched[ntouched++] = key;
			}
		for (size_t t = 0; t < ntouched; t++) {
			uint32_t key = touched[t];
			if (cnt[key] > best || (cnt[key] == best && best >= 2 && key < bkey)) {
				best = cnt[key];
				bkey = key;
			}
		}
		for (size_t t = 0; t < ntouched; t++)
			cnt[touched[t]] = 0;
		if (best < 2)
			break;
		bl = bkey / NAIVE_IDS;
		br = bkey % NAIVE_IDS;
		out[k][0] = (uint16_t)bl;
		out[k][1] = (uint16_t)br;
		for (size_t i = 0; i < nw; i++) {
			size_t o = 0;
			for (size_t j = 0; j < wn[i]; o++) {
				if (j + 1 < wn[i] && w[i][j] == bl && w[i][j + 1] == br) {
					w[i][o] = (uint16_t)(256 + k);
					j += 2;
				} else {
					w[i][o] = w[i][j++];
				}
			}
			wn[i] = o;
		}
	}
	for (size_t i = 0; i < nw; i++)
		free(w[i]);
	free(cnt);
	free(touched);
	return k;
}

static void test_train_matches_naive(void **state)
{
	static const char *const alphas[] = { "aab ", "ab \n", "abc, ", "aaaa b" };

	for (int round = 0; round < 12; round++) {
		const char *alpha = alphas[round % 4];
		char text[3][400];
		const char *docs[3] = { text[0], text[1], text[2] };
		size_t lens[3], got;
		uint16_t want[200][2];
		struct bpe *b = NULL;
		struct kerr e;

		for (int d = 0; d < 3; d++) {
			lens[d] = 50 + rnd() % 300;
			for (size_t i = 0; i < lens[d]; i++)
				text[d][i] = alpha[rnd() % strlen(alpha)];
		}
		got = naive_train(docs, lens, 3, 200, want);
		assert_true(got > 0);
		check_ok(bpe_train(docs, lens, 3, 257 + (int)got, 1 + round % 2, &b, &e), &e);
		expect_merges(b, (const uint16_t(*)[2])want, got);
		bpe_free(b);
		if (got < 200) {
			assert_int_equal(bpe_train(docs, lens, 3, 258 + (int)got, 1, &b, &e), -1);
			assert_string_equal(e.code, "bpe.vocab_unreachable");
		}
	}
}

static void test_train_deterministic(void **state)
{
	const char *docs[8];
	size_t lens[8], chunk = g_text.n / 8;
	struct bpe *a = NULL, *b = NULL, *c = NULL;
	struct kerr e;
	char da[HASH_HEX_BYTES], db[HASH_HEX_BYTES], dc[HASH_HEX_BYTES], dg[HASH_HEX_BYTES];

	for (int i = 0; i < 8; i++) {
		docs[i] = g_text.p + i * chunk;
		lens[i] = chunk;
	}
	check_ok(bpe_train(docs, lens, 8, 600, 1, &a, &e), &e);
	check_ok(bpe_train(docs, lens, 8, 600, 2, &b, &e), &e);
	check_ok(bpe_train(docs, lens, 8, 600, 1, &c, &e), &e);
	bpe_digest(a, da);
	bpe_digest(b, db);
	bpe_digest(c, dc);
	assert_string_equal(da, db);
	assert_string_equal(da, dc);
	/* and it is not a constant: other text, other merges */
	bpe_digest(g_tok, dg);
	assert_string_not_equal(da, dg);
	bpe_free(a);
	bpe_free(b);
	bpe_free(c);
}

static void test_train_bad_sizes(void **state)
{
	const char *docs[] = { "abab" };
	size_t lens[] = { 4 };
	struct bpe *b = NULL;
	struct kerr e;

	assert_int_equal(bpe_train(docs, lens, 1, 256, 1, &b, &e), -1);
	assert_string_equal(e.code, "bpe.bad_vocab_size");
	assert_int_equal(bpe_train(docs, lens, 1, BPE_VOCAB_MAX + 1, 1, &b, &e), -1);
	assert_string_equal(e.code, "bpe.bad_vocab_size");
	/* no merges at all: bytes and the eot */
	check_ok(bpe_train(docs, lens, 1, 257, 1, &b, &e), &e);
	assert_int_equal(bpe_eot(b), 256);
	roundtrip(b, "xyz", 3);
	bpe_free(b);
}

/* ------------------------------------------------------------------------ */
/* Files                                                                    */
/* ------------------------------------------------------------------------ */

static void test_save_load_digest(void **state)
{
	char *dir = tu_mkdtemp(), p1[FS_PATH_MAX], p2[FS_PATH_MAX], d1[HASH_HEX_BYTES],
	     d2[HASH_HEX_BYTES], fh[HASH_HEX_BYTES];
	char *t1 = NULL, *t2 = NULL;
	size_t n1, n2;
	struct bpe *back = NULL;
	struct bpe_tokens a = { 0 }, b = { 0 };
	struct kerr e;

	snprintf(p1, sizeof p1, "%s/a.json", dir);
	snprintf(p2, sizeof p2, "%s/b.json", dir);
	check_ok(bpe_save(g_tok, p1, &e), &e);
	check_ok(bpe_load(p1, &back, &e), &e);
	check_ok(bpe_save(back, p2, &e), &e);
	check_ok(fs_read_all(p1, BPE_FILE_BYTES_MAX, &t1, &n1, &e), &e);
	check_ok(fs_read_all(p2, BPE_FILE_BYTES_MAX, &t2, &n2, &e), &e);
	assert_int_equal(n1, n2);
	assert_memory_equal(t1, t2, n1);
	assert_true(strncmp(t1, "{\"format\":\"karpa-bpe-1\",\"vocab_size\":700,\"eot\":699,"
			    "\"merges\":[[",
			    60) == 0);
	assert_int_equal(t1[n1 - 1], '\n');
	bpe_digest(g_tok, d1);
	bpe_digest(back, d2);
	check_ok(hash_file_hex(p1, fh, NULL, &e), &e);
	assert_string_equal(d1, d2);
	assert_string_equal(d1, fh);
	check_ok(bpe_encode(g_tok, g_text.p, 20000, &a, &e), &e);
	check_ok(bpe_encode(back, g_text.p, 20000, &b, &e), &e);
	assert_int_equal(a.n, b.n);
	assert_memory_equal(a.ids, b.ids, a.n * sizeof *a.ids);
	bpe_tokens_free(&a);
	bpe_tokens_free(&b);
	bpe_free(back);
	free(t1);
	free(t2);
	tu_rmdir(dir);
}

/* A table-form file (token bytes spelled out) written by hand: the 256
 * bytes, n_extra more tokens (extra_tok, hex, comma-separated), the eot. */
static void table_file(struct buf *b, int n_extra, const char *merge_keys, const char *extra_tok,
		       const char *merges)
{
	char tmp[96];

	snprintf(tmp, sizeof tmp, "{\"format\":\"karpa-bpe-1\",\"vocab_size\":%d,\"eot\":%d,",
		 257 + n_extra, 256 + n_extra);
	buf_str(b, tmp);
	buf_str(b, "\"merge_keys\":\"");
	buf_str(b, merge_keys);
	buf_str(b, "\",\"tokens\":[");
	for (int i = 0; i < 256; i++) {
		snprintf(tmp, sizeof tmp, "\"%02x\",", i);
		buf_str(b, tmp);
	}
	buf_str(b, extra_tok);
	buf_str(b, ",\"\"],\"merges\":");
	buf_str(b, merges);
	buf_str(b, "}\n");
}

static void test_table_form(void **state)
{
	char *dir = tu_mkdtemp(), path[FS_PATH_MAX], path2[FS_PATH_MAX], *t = NULL;
	struct buf f = { 0 };
	struct bpe *b = NULL, *again = NULL;
	struct bpe_tokens ids = { 0 };
	struct kerr e;
	size_t n;

	snprintf(path, sizeof path, "%s/t.json", dir);
	snprintf(path2, sizeof path2, "%s/t2.json", dir);
	table_file(&f, 2, "exact", "\"6162\",\"616263\"", "[[97,98],[256,99]]");
	write_file(path, f.p, f.n);
	check_ok(bpe_load(path, &b, &e), &e);
	check_ok(bpe_encode(b, "xabcab", 6, &ids, &e), &e);
	assert_int_equal(ids.n, 3);
	assert_int_equal(ids.ids[0], 'x');
	assert_int_equal(ids.ids[1], 257);
	assert_int_equal(ids.ids[2], 256);
	/* canonical: what was read is what is written */
	check_ok(bpe_save(b, path2, &e), &e);
	check_ok(bpe_load(path2, &again, &e), &e);
	check_ok(fs_read_all(path2, BPE_FILE_BYTES_MAX, &t, &n, &e), &e);
	assert_int_equal(n, f.n);
	assert_memory_equal(t, f.p, n);
	free(t);
	bpe_free(again);
	bpe_free(b);
	bpe_tokens_free(&ids);
	free(f.p);
	tu_rmdir(dir);
}

struct hostile {
	const char *what;
	const char *text;
	const char *code;
};

static void test_hostile_files(void **state)
{
	static const struct hostile cases[] = {
		{ "truncated JSON", "{\"format\":\"karpa-bpe-1\",\"vocab_size\":258,\"eot\":257,\"merges\":[[9",
		  "bpe.parse" },
		{ "empty file", "", "bpe.parse" },
		{ "not an object", "[1,2]", "bpe.parse" },
		{ "merge referencing a future id",
		  "{\"format\":\"karpa-bpe-1\",\"vocab_size\":259,\"eot\":258,\"merges\":[[97,257],[1,2]]}",
		  "bpe.bad_merge" },
		{ "merge referencing itself",
		  "{\"format\":\"karpa-bpe-1\",\"vocab_size\":258,\"eot\":257,\"merges\":[[256,1]]}",
		  "bpe.bad_merge" },
		{ "negative id",
		  "{\"format\":\"karpa-bpe-1\",\"vocab_size\":258,\"eot\":257,\"merges\":[[-1,1]]}",
		  "bpe.bad_merge" },
		{ "repeated merge",
		  "{\"format\":\"karpa-bpe-1\",\"vocab_size\":259,\"eot\":258,\"merges\":[[1,2],[1,2]]}",
		  "bpe.bad_merge" },
		{ "vocab over the max",
		  "{\"format\":\"karpa-bpe-1\",\"vocab_size\":65537,\"eot\":65536,\"merges\":[]}",
		  "bpe.bad_vocab_size" },
		{ "vocab under the min",
		  "{\"format\":\"karpa-bpe-1\",\"vocab_size\":100,\"eot\":99,\"merges\":[]}",
		  "bpe.bad_vocab_size" },
		{ "merge count disagrees with vocab_size",
		  "{\"format\":\"karpa-bpe-1\",\"vocab_size\":300,\"eot\":299,\"merges\":[[1,2]]}",
		  "bpe.bad_vocab_size" },
		{ "eot not last",
		  "{\"format\":\"karpa-bpe-1\",\"vocab_size\":258,\"eot\":3,\"merges\":[[1,2]]}",
		  "bpe.bad_vocab_size" },
		{ "other format", "{\"format\":\"karpa-bpe-9\",\"vocab_size\":257,\"eot\":256,\"merges\":[]}",
		  "bpe.bad_format" },
		{ "unknown field",
		  "{\"format\":\"karpa-bpe-1\",\"vocab_size\":257,\"eot\":256,\"merges\":[],\"x\":1}",
		  "bpe.parse" },
		{ "duplicate key",
		  "{\"format\":\"karpa-bpe-1\",\"vocab_size\":257,\"eot\":256,\"eot\":256,\"merges\":[]}",
		  "bpe.parse" },
		{ "merge not a pair",
		  "{\"format\":\"karpa-bpe-1\",\"vocab_size\":258,\"eot\":257,\"merges\":[[1,2,3]]}",
		  "bpe.parse" },
		{ "tokens without merge_keys",
		  "{\"format\":\"karpa-bpe-1\",\"vocab_size\":257,\"eot\":256,\"tokens\":[],\"merges\":[]}",
		  "bpe.parse" },
	};
	char *dir = tu_mkdtemp(), path[FS_PATH_MAX];
	struct bpe *b = NULL;
	struct kerr e;

	snprintf(path, sizeof path, "%s/bad.json", dir);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		write_file(path, cases[i].text, strlen(cases[i].text));
		if (bpe_load(path, &b, &e) == 0)
			fail_msg("%s: loaded", cases[i].what);
		if (strcmp(e.code, cases[i].code))
			fail_msg("%s: code %s (%s), want %s", cases[i].what, e.code, e.msg,
				 cases[i].code);
		assert_null(b);
		assert_non_null(strstr(e.msg, path)); /* the message names the file */
	}
	/* missing file: the file system's code */
	snprintf(path, sizeof path, "%s/absent.json", dir);
	assert_int_equal(bpe_load(path, &b, &e), -1);
	assert_string_equal(e.code, "fs.open");
	tu_rmdir(dir);
}

static void test_hostile_table_files(void **state)
{
	static const struct {
		const char *what, *keys, *tok, *merges, *code;
	} cases[] = {
		{ "duplicate token bytes", "exact", "\"61\"", "[]", "bpe.bad_token" },
		{ "odd hex", "exact", "\"616\"", "[]", "bpe.bad_token" },
		{ "upper-case hex", "exact", "\"6A62\"", "[]", "bpe.bad_token" },
		{ "empty token that is not eot", "exact", "\"\"", "[]", "bpe.bad_token" },
		{ "merge result not a token", "exact", "\"6162\"", "[[97,99]]", "bpe.bad_merge" },
		{ "merge uses eot", "exact", "\"6162\"", "[[257,97]]", "bpe.bad_merge" },
		{ "unknown merge_keys", "fuzzy", "\"6162\"", "[[97,98]]", "bpe.parse" },
	};
	char *dir = tu_mkdtemp(), path[FS_PATH_MAX];
	struct bpe *b = NULL;
	struct kerr e;

	snprintf(path, sizeof path, "%s/bad.json", dir);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct buf f = { 0 };
		table_file(&f, 1, cases[i].keys, cases[i].tok, cases[i].merges);
		write_file(path, f.p, f.n);
		free(f.p);
		if (bpe_load(path, &b, &e) == 0)
			fail_msg("%s: loaded", cases[i].what);
		if (strcmp(e.code, cases[i].code))
			fail_msg("%s: code %s (%s), want %s", cases[i].what, e.code, e.msg,
				 cases[i].code);
	}
	tu_rmdir(dir);
}

/* ------------------------------------------------------------------------ */
/* GPT-2 files written by hand                                              */
/* ------------------------------------------------------------------------ */

/* GPT-2's alphabet character (UTF-8) for byte c. */
static void gpt2_char(int c, char out[4])
{
	int n = 0, cp = c;

	if (!((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF))) {
		cp = 256;
		for (int b = 0; b < c; b++)
			if (!((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) ||
			      (b >= 0xAE && b <= 0xFF)))
				cp++;
	}
	if (cp < 0x80) {
		out[n++] = (char)cp;
	} else {
		out[n++] = (char)(0xC0 | (cp >> 6));
		out[n++] = (char)(0x80 | (cp & 0x3F));
	}
	out[n] = '\0';
}

/* encoder.json with the 256 bytes (id = byte), "Ġt" = 256, "Ġth" = 257,
 * "<|endoftext|>" = 258; extra is spliced in before the closing brace. */
static void gpt2_files(const char *dir, const char *enc_extra, const char *merges, char *enc,
		       char *voc)
{
	struct buf f = { 0 };
	char ch[4], tmp[32];

	buf_str(&f, "{");
	for (int c = 0; c < 256; c++) {
		gpt2_char(c, ch);
		if (c == '"' || c == '\\')
			snprintf(tmp, sizeof tmp, "\"\\%s\": %d, ", ch, c);
		else
			snprintf(tmp, sizeof tmp, "\"%s\": %d, ", ch, c);
		buf_str(&f, tmp);
	}
	buf_str(&f, "\"\xc4\xa0t\": 256, \"\xc4\xa0th\": 257, \"<|endoftext|>\": 258");
	buf_str(&f, enc_extra);
	buf_str(&f, "}");
	snprintf(enc, FS_PATH_MAX, "%s/encoder.json", dir);
	snprintf(voc, FS_PATH_MAX, "%s/vocab.bpe", dir);
	write_file(enc, f.p, f.n);
	write_file(voc, merges, strlen(merges));
	free(f.p);
}

static void test_gpt2_by_hand(void **state)
{
	char *dir = tu_mkdtemp(), enc[FS_PATH_MAX], voc[FS_PATH_MAX], saved[FS_PATH_MAX];
	struct bpe *b = NULL, *back = NULL;
	struct bpe_tokens t = { 0 }, u = { 0 };
	struct kerr e;
	char d1[HASH_HEX_BYTES], d2[HASH_HEX_BYTES];

	gpt2_files(dir, "", "#version: 0.2\n\xc4\xa0 t\n\xc4\xa0t h\n", enc, voc);
	check_ok(bpe_load_gpt2(enc, voc, &b, &e), &e);
	assert_int_equal(bpe_vocab_size(b), 259);
	assert_int_equal(bpe_eot(b), 258);
	assert_int_equal(bpe_token_len(b, 258), 0);
	assert_int_equal(bpe_token_len(b, 257), 3);
	assert_memory_equal(bpe_token_data(b, 257), " th", 3);
	check_ok(bpe_encode(b, "a the\x01", 6, &t, &e), &e);
	assert_int_equal(t.n, 4);
	assert_int_equal(t.ids[0], 'a');
	assert_int_equal(t.ids[1], 257);
	assert_int_equal(t.ids[2], 'e');
	assert_int_equal(t.ids[3], 1);
	roundtrip(b, "a the\x01\xff", 7);
	/* saved in table form and loaded back: same digest, same ids */
	snprintf(saved, sizeof saved, "%s/tok.json", dir);
	check_ok(bpe_save(b, saved, &e), &e);
	check_ok(bpe_load(saved, &back, &e), &e);
	bpe_digest(b, d1);
	bpe_digest(back, d2);
	assert_string_equal(d1, d2);
	check_ok(bpe_encode(back, "a the\x01", 6, &u, &e), &e);
	assert_int_equal(u.n, t.n);
	assert_memory_equal(u.ids, t.ids, t.n * sizeof *t.ids);
	bpe_tokens_free(&t);
	bpe_tokens_free(&u);
	bpe_free(back);
	bpe_free(b);
	tu_rmdir(dir);
}

static void test_gpt2_hostile(void **state)
{
	static const struct {
		const char *what, *enc_extra, *merges;
	} cases[] = {
		{ "truncated encoder.json", ", \"x\":", "#version: 0.2\n" },
		{ "repeated id", ", \"\xc4\xa0x\": 5", "#version: 0.2\n" },
		{ "id out of range", ", \"\xc4\xa0x\": 900", "#version: 0.2\n" },
		{ "key outside the alphabet", ", \"\xe2\x82\xac\": 259", "#version: 0.2\n" },
		{ "no version line", "", "\xc4\xa0 t\n" },
		{ "no final newline", "", "#version: 0.2\n\xc4\xa0 t" },
		{ "three fields", "", "#version: 0.2\n\xc4\xa0 t h\n" },
		{ "empty line", "", "#version: 0.2\n\n\xc4\xa0 t\n" },
		{ "unknown token", "", "#version: 0.2\nq\xc4\xa0 t\n" },
		{ "result not a token", "", "#version: 0.2\nt h\n" },
		{ "merge before its parts", "", "#version: 0.2\n\xc4\xa0t h\n\xc4\xa0 t\n" },
	};
	char *dir = tu_mkdtemp(), enc[FS_PATH_MAX], voc[FS_PATH_MAX];
	struct bpe *b = NULL;
	struct kerr e;

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		gpt2_files(dir, cases[i].enc_extra, cases[i].merges, enc, voc);
		if (bpe_load_gpt2(enc, voc, &b, &e) == 0)
			fail_msg("%s: loaded", cases[i].what);
		if (strcmp(e.code, "bpe.gpt2_parse"))
			fail_msg("%s: code %s (%s)", cases[i].what, e.code, e.msg);
		/* one line naming the file */
		assert_null(strchr(e.msg, '\n'));
		assert_true(strstr(e.msg, "encoder.json") || strstr(e.msg, "vocab.bpe"));
		assert_null(b);
	}
	/* a missing eot */
	{
		struct buf f = { 0 };
		snprintf(enc, sizeof enc, "%s/encoder.json", dir);
		buf_str(&f, "{");
		for (int c = 0; c < 257; c++) {
			char tmp[32];
			snprintf(tmp, sizeof tmp, "%s\"k%d\": %d", c ? ", " : "", c, c);
			buf_str(&f, tmp);
		}
		buf_str(&f, "}");
		write_file(enc, f.p, f.n);
		free(f.p);
		assert_int_equal(bpe_load_gpt2(enc, voc, &b, &e), -1);
		assert_string_equal(e.code, "bpe.gpt2_parse");
	}
	tu_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pretok_pieces),
		cmocka_unit_test(test_roundtrip_random_bytes),
		cmocka_unit_test(test_roundtrip_english),
		cmocka_unit_test(test_eot_never_from_text),
		cmocka_unit_test(test_encode_appends),
		cmocka_unit_test(test_scan_and_heap_agree),
		cmocka_unit_test(test_long_piece),
		cmocka_unit_test(test_piece_too_long_to_encode),
		cmocka_unit_test(test_concurrent_encode),
		cmocka_unit_test(test_cache_per_tokenizer),
		cmocka_unit_test(test_token_table),
		cmocka_unit_test(test_train_tie_breaking),
		cmocka_unit_test(test_train_by_hand),
		cmocka_unit_test(test_train_matches_naive),
		cmocka_unit_test(test_train_deterministic),
		cmocka_unit_test(test_train_bad_sizes),
		cmocka_unit_test(test_save_load_digest),
		cmocka_unit_test(test_table_form),
		cmocka_unit_test(test_hostile_files),
		cmocka_unit_test(test_hostile_table_files),
		cmocka_unit_test(test_gpt2_by_hand),
		cmocka_unit_test(test_gpt2_hostile),
	};

	return cmocka_run_group_tests_name("bpe", tests, group_setup, group_teardown);
}
