/* test_corpus.c: the user's own documents: .txt files, .jsonl files and
 * folders of them, the strict UTF-8 check, and every refusal with its code. */
#include "testutil.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "data/texts.h"

static void put(const char *dir, const char *rel, const void *data, size_t n)
{
	char path[FS_PATH_MAX], parent[FS_PATH_MAX];
	struct kerr err = { 0 };
	FILE *f;
	char *slash;

	snprintf(path, sizeof path, "%s/%s", dir, rel);
	snprintf(parent, sizeof parent, "%s", path);
	slash = strrchr(parent, '/');
	*slash = '\0';
	assert_int_equal(fs_mkdir_p(parent, &err), 0);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	fclose(f);
}

static void puts_file(const char *dir, const char *rel, const char *text)
{
	put(dir, rel, text, strlen(text));
}

/* Loads dir/rel expecting failure with `code`; the message must name the
 * file and contain `needle`. */
static void expect_fail(const char *dir, const char *rel, const char *code, const char *needle)
{
	char path[FS_PATH_MAX];
	struct corpus c = { 0 };
	struct kerr err = { 0 };

	snprintf(path, sizeof path, "%s/%s", dir, rel);
	assert_int_equal(texts_load_path(&c, path, &err), -1);
	assert_string_equal(err.code, code);
	if (!strstr(err.msg, needle) || !strstr(err.msg, rel))
		fail_msg("message \"%s\" lacks \"%s\" or \"%s\"", err.msg, needle, rel);
	assert_null(strchr(err.msg, '\n'));
	assert_int_equal(c.n, 0);
	texts_free(&c);
}

/* A folder: .txt and .jsonl taken recursively in bytewise order, hidden
 * entries and other extensions ignored, blank jsonl lines skipped. */
static void test_folder(void **state)
{
	char *dir = tu_mkdtemp();
	struct corpus c = { 0 };
	struct kerr err = { 0 };

	puts_file(dir, "b.txt", "bee\n");
	puts_file(dir, "a.txt", "first file");
	puts_file(dir, "sub/c.jsonl",
		  "{\"text\": \"line one\", \"source\": \"x\"}\n\n{\"text\": \"caf\\u00e9 \\ud83d\\ude00\"}\n");
	puts_file(dir, "notes.md", "ignored");
	puts_file(dir, ".hidden.txt", "ignored");
	puts_file(dir, ".git/x.txt", "ignored");
	assert_int_equal(texts_load_path(&c, dir, &err), 0);
	assert_int_equal(c.n, 4);
	assert_string_equal(c.docs[0].id, "a.txt");
	assert_string_equal(c.docs[0].text, "first file");
	assert_int_equal(c.docs[0].len, 10);
	assert_string_equal(c.docs[1].id, "b.txt");
	assert_string_equal(c.docs[1].text, "bee\n");
	assert_string_equal(c.docs[2].id, "sub/c.jsonl:1");
	assert_string_equal(c.docs[2].text, "line one");
	assert_string_equal(c.docs[3].id, "sub/c.jsonl:3");
	assert_string_equal(c.docs[3].text, "caf\xc3\xa9 \xf0\x9f\x98\x80");
	assert_int_equal(c.docs[3].len, 10);
	texts_free(&c);
	tu_rmdir(dir);
}

/* A single .txt file: its name is its id; a UTF-8 BOM is not text. Loads
 * append to what the corpus already holds. */
static void test_single_files_append(void **state)
{
	char *dir = tu_mkdtemp(), path[FS_PATH_MAX];
	struct corpus c = { 0 };
	struct kerr err = { 0 };

	puts_file(dir, "one.txt", "\xef\xbb\xbfhello");
	puts_file(dir, "two.jsonl", "{\"text\":\"x\"}\r\n{\"text\":\"y\"}");
	snprintf(path, sizeof path, "%s/one.txt", dir);
	assert_int_equal(texts_load_path(&c, path, &err), 0);
	snprintf(path, sizeof path, "%s/two.jsonl", dir);
	assert_int_equal(texts_load_path(&c, path, &err), 0);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.docs[0].id, "one.txt");
	assert_string_equal(c.docs[0].text, "hello");
	assert_int_equal(c.docs[0].len, 5);
	assert_string_equal(c.docs[1].id, "two.jsonl:1");
	assert_string_equal(c.docs[2].id, "two.jsonl:2");
	assert_string_equal(c.docs[2].text, "y");
	texts_free(&c);
	tu_rmdir(dir);
}

/* Entries are visited in bytewise name order whatever order they were
 * created in: uppercase before lowercase, a folder "a" before "a.txt". */
static void test_order_deterministic(void **state)
{
	static const char *const created[] = { "b.txt", "a.txt", "a/z.txt", "B.txt", "a/b/y.txt",
					       "10.txt", "9.txt" };
	static const char *const want[] = { "10.txt", "9.txt", "B.txt", "a/b/y.txt", "a/z.txt",
					    "a.txt", "b.txt" };
	char *dir = tu_mkdtemp();
	struct corpus c1 = { 0 }, c2 = { 0 };
	struct kerr err = { 0 };

	for (size_t i = 0; i < sizeof created / sizeof *created; i++)
		puts_file(dir, created[i], created[i]);
	assert_int_equal(texts_load_path(&c1, dir, &err), 0);
	assert_int_equal(texts_load_path(&c2, dir, &err), 0);
	assert_int_equal(c1.n, sizeof want / sizeof *want);
	for (size_t i = 0; i < c1.n; i++) {
		assert_string_equal(c1.docs[i].id, want[i]);
		assert_string_equal(c1.docs[i].text, want[i]);
		assert_string_equal(c2.docs[i].id, want[i]);
	}
	texts_free(&c1);
	texts_free(&c2);
	tu_rmdir(dir);
}

static void test_utf8_validator(void **state)
{
	static const struct {
		const char *s;
		int ok;
		size_t bad;
	} cases[] = {
		{ "plain ascii", 1, 0 },
		{ "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf", 1, 0 }, /* up to U+10FFFF */
		{ "ab\xff", 0, 2 },
		{ "a\xc0\xaf", 0, 1 },          /* overlong '/' */
		{ "\xe0\x80\xaf", 0, 0 },       /* overlong, 3 bytes */
		{ "\xf0\x82\x82\xac", 0, 0 },   /* overlong, 4 bytes */
		{ "xy\xed\xa0\x80", 0, 2 },     /* surrogate U+D800 */
		{ "\xf4\x90\x80\x80", 0, 0 },   /* U+110000 */
		{ "abc\xe2\x82", 0, 3 },        /* truncated at the end */
		{ "\xe2\x28\xa1", 0, 0 },       /* bad continuation */
		{ "\x80", 0, 0 },               /* lone continuation */
		{ "\xf8\x88\x80\x80\x80", 0, 0 }, /* 5-byte form */
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		size_t bad = 99;
		int r = texts_utf8_check(cases[i].s, strlen(cases[i].s), &bad);
		if ((r == 0) != cases[i].ok)
			fail_msg("case %zu: got %d", i, r);
		if (!cases[i].ok)
			assert_int_equal(bad, cases[i].bad);
	}
}

static void test_not_utf8(void **state)
{
	char *dir = tu_mkdtemp();

	puts_file(dir, "bad.txt", "fine text, then Latin-1 caf\xe9");
	expect_fail(dir, "bad.txt", "texts.not_utf8", "byte offset 27");
	puts_file(dir, "sur.txt", "ok \xed\xb0\x80");
	expect_fail(dir, "sur.txt", "texts.not_utf8", "byte offset 3");
	puts_file(dir, "bad.jsonl", "{\"text\":\"a\"}\n{\"text\":\"\xff\"}\n");
	expect_fail(dir, "bad.jsonl", "texts.not_utf8", ":2");
	put(dir, "nul.txt", "ab\0cd", 5);
	expect_fail(dir, "nul.txt", "texts.nul_byte", "byte offset 2");
	tu_rmdir(dir);
}

static void test_empty_doc(void **state)
{
	char *dir = tu_mkdtemp();

	puts_file(dir, "zero.txt", "");
	expect_fail(dir, "zero.txt", "texts.empty_doc", "empty");
	puts_file(dir, "ws.txt", " \n\t\r\n");
	expect_fail(dir, "ws.txt", "texts.empty_doc", "empty");
	puts_file(dir, "e.jsonl", "{\"text\":\"ok\"}\n{\"text\":\"  \\n\"}\n");
	expect_fail(dir, "e.jsonl", "texts.empty_doc", "e.jsonl:2");
	tu_rmdir(dir);
}

static void test_bad_jsonl(void **state)
{
	static const char *const lines[] = {
		"[1, 2]",                    /* not an object */
		"{\"text\": 5}",             /* not a string */
		"{\"txt\": \"x\"}",          /* no text */
		"{\"text\": \"a\"",          /* not JSON */
		"{\"text\": \"a\"} {}",      /* two values on a line */
		"{\"text\": \"a\", \"text\": \"b\"}", /* duplicate key */
		"{\"text\": \"a\\u0000b\"}", /* NUL inside */
		"\"just a string\"",
	};
	char *dir = tu_mkdtemp(), body[256];

	for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
		snprintf(body, sizeof body, "{\"text\":\"good\"}\n\n%s\n", lines[i]);
		puts_file(dir, "x.jsonl", body);
		expect_fail(dir, "x.jsonl", "texts.jsonl", "x.jsonl:3");
	}
	tu_rmdir(dir);
}

static void test_nothing_found_and_unsupported(void **state)
{
	char *dir = tu_mkdtemp(), path[FS_PATH_MAX];
	struct corpus c = { 0 };
	struct kerr err = { 0 };

	assert_int_equal(texts_load_path(&c, dir, &err), -1);
	assert_string_equal(err.code, "texts.no_documents");
	puts_file(dir, "readme.md", "not a corpus file");
	assert_int_equal(texts_load_path(&c, dir, &err), -1);
	assert_string_equal(err.code, "texts.no_documents");
	assert_non_null(strstr(err.msg, dir));
	expect_fail(dir, "readme.md", "texts.unsupported", "readme.md");
	puts_file(dir, "blank.jsonl", "\n\n");
	expect_fail(dir, "blank.jsonl", "texts.no_documents", "blank.jsonl");
	snprintf(path, sizeof path, "%s/missing", dir);
	assert_int_equal(texts_load_path(&c, path, &err), -1);
	assert_string_equal(err.code, "texts.open");
	assert_int_equal(c.n, 0);
	texts_free(&c);
	tu_rmdir(dir);
}

/* Size is checked before reading: a sparse file one byte over the limit. */
static void test_too_large(void **state)
{
	char *dir = tu_mkdtemp(), path[FS_PATH_MAX];
	int fd;

	snprintf(path, sizeof path, "%s/big.txt", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)CORPUS_DOC_BYTES_MAX + 1), 0);
	close(fd);
	expect_fail(dir, "big.txt", "texts.too_large", "big.txt");
	tu_rmdir(dir);
}

/* A failing load leaves the corpus as it was: all documents or none. */
static void test_failed_load_adds_nothing(void **state)
{
	char *dir = tu_mkdtemp(), path[FS_PATH_MAX];
	struct corpus c = { 0 };
	struct kerr err = { 0 };

	puts_file(dir, "keep/k.txt", "kept");
	puts_file(dir, "load/a.txt", "good");
	puts_file(dir, "load/b.jsonl", "{\"text\":\"good\"}\n{\"nope\":1}\n");
	snprintf(path, sizeof path, "%s/keep", dir);
	assert_int_equal(texts_load_path(&c, path, &err), 0);
	snprintf(path, sizeof path, "%s/load", dir);
	assert_int_equal(texts_load_path(&c, path, &err), -1);
	assert_string_equal(err.code, "texts.jsonl");
	assert_non_null(strstr(err.msg, "b.jsonl:2"));
	assert_int_equal(c.n, 1);
	assert_string_equal(c.docs[0].text, "kept");
	texts_free(&c);
	tu_rmdir(dir);
}

/* Folders nested past the limit are refused, not walked until the stack or
 * the path length gives out; a document taken before the deep branch is
 * dropped again (the load adds nothing). */
static void test_folders_nested_too_deep(void **state)
{
	char *dir = tu_mkdtemp(), rel[FS_PATH_MAX] = "deep", needle[64];

	puts_file(dir, "deep/0.txt", "taken before the deep branch");
	for (int depth = 1; depth <= CORPUS_DEPTH_MAX + 1; depth++)
		strcat(rel, "/a");
	strcat(rel, "/bottom.txt");
	puts_file(dir, rel, "out of reach");
	snprintf(needle, sizeof needle, "nested deeper than %d", CORPUS_DEPTH_MAX);
	expect_fail(dir, "deep", "texts.too_deep", needle);
	/* from one level down the same file is at the limit, and read: the
	 * limit is where it says */
	{
		char path[FS_PATH_MAX];
		struct corpus c = { 0 };
		struct kerr err = { 0 };

		snprintf(path, sizeof path, "%s/deep/a", dir);
		if (texts_load_path(&c, path, &err) < 0)
			fail_msg("%s: %s", err.code, err.msg);
		assert_int_equal(c.n, 1);
		texts_free(&c);
	}
	tu_rmdir(dir);
}

/* A symbolic link back to its own folder makes an endless tree out of one
 * file; the depth limit is what ends the walk. */
static void test_symlink_loop_is_too_deep(void **state)
{
	char *dir = tu_mkdtemp(), link[FS_PATH_MAX];

	puts_file(dir, "loop/a.txt", "one document, seen through every level of the loop");
	snprintf(link, sizeof link, "%s/loop/again", dir);
	assert_int_equal(symlink(".", link), 0);
	expect_fail(dir, "loop", "texts.too_deep", "loop/again/again");
	tu_rmdir(dir);
}

/* One record a line is the least costly way to the document limit (still
 * about 20 s and 1.8 GB under ASan): one more than CORPUS_DOCS_MAX tiny
 * records, 130 MB, in a single .jsonl. */
static void test_more_documents_than_the_limit(void **state)
{
	static const char line[] = "{\"text\":\"a\"}\n";
	char *dir = tu_mkdtemp(), path[FS_PATH_MAX], want[64];
	size_t n = (size_t)CORPUS_DOCS_MAX + 1, len = n * (sizeof line - 1);
	char *body = malloc(len);
	struct kerr err = { 0 };

	assert_non_null(body);
	for (size_t i = 0; i < n; i++)
		memcpy(body + i * (sizeof line - 1), line, sizeof line - 1);
	snprintf(path, sizeof path, "%s/many.jsonl", dir);
	assert_int_equal(fs_write_atomic(path, body, len, &err), 0);
	free(body);
	/* The record that would be one too many names itself. */
	snprintf(want, sizeof want, "many.jsonl:%zu", n);
	expect_fail(dir, "many.jsonl", "texts.too_many", want);
	tu_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_folder),
		cmocka_unit_test(test_single_files_append),
		cmocka_unit_test(test_order_deterministic),
		cmocka_unit_test(test_utf8_validator),
		cmocka_unit_test(test_not_utf8),
		cmocka_unit_test(test_empty_doc),
		cmocka_unit_test(test_bad_jsonl),
		cmocka_unit_test(test_nothing_found_and_unsupported),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_failed_load_adds_nothing),
		cmocka_unit_test(test_folders_nested_too_deep),
		cmocka_unit_test(test_symlink_loop_is_too_deep),
		cmocka_unit_test(test_more_documents_than_the_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
