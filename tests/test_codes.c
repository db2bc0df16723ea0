/* test_codes.c: the reason-code registry (docs/codes.md) against the source.
 * Scans every C string literal under src/, cli/, runner/ and bench/ for
 * code-shaped strings ("module.reason") and every test under tests/ for the
 * codes it asserts, and fails when the two disagree with the registry. Each
 * failure names the one line to add, fix or remove, so that a branch adding a
 * code merges with a one-line change to docs/codes.md. */
#include "testutil.h"

#include <dirent.h>
#include <sys/stat.h>

#include "util/kerr.h"

#define REGISTRY "docs/codes.md"
#define FILES_MAX 4096          /* source and test files scanned */
#define HITS_MAX 32768          /* (code, file) pairs */
#define ROWS_MAX 2048           /* registry rows */
#define CELL_MAX 2048           /* one cell of a row */
#define SOURCE_BYTES_MAX (8u << 20)
#define NOT_CODES_MAX 64

/* The scanned rooms: everything compiled into karpa, the runner and benches. */
static const char *const source_roots[] = { "src", "cli", "runner", "bench" };

/* "name.ext" with one of these extensions is a file name, not a code. */
static const char *const file_exts[] = {
	"a",   "bin", "c",  "ckpt", "csv", "db",  "diff", "gz",   "h",   "index", "json", "jsonl",
	"lock", "log", "md", "o",    "pem", "py",  "sh",   "sig",  "so",  "svg",   "tar",  "tmp",
	"txt",
};

struct hit {
	char code[KERR_CODE_MAX];
	char file[FS_PATH_MAX]; /* relative to the source root */
	int line;               /* first line in that file */
};

struct hits {
	struct hit *v;
	size_t n;
};

struct row {
	char code[KERR_CODE_MAX];
	char meaning[CELL_MAX];
	char raised[CELL_MAX], documented[CELL_MAX], asserted[CELL_MAX];
	int line;
};

static char root[FS_PATH_MAX];
static struct hits src, tst;
static struct row *rows;
static size_t nrows;
static char not_codes[NOT_CODES_MAX][KERR_CODE_MAX];
static size_t n_not_codes;
static int failures;     /* per test: reset at each test's start */
static int parse_failures; /* malformed rows, found while loading */

/* ---- the literal scanner ---------------------------------------------- */

static int is_code_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* "word.word", lower case, the second word not a file extension. */
static int code_shaped(const char *s, size_t n)
{
	size_t dot = 0, dots = 0;

	if (n == 0 || n >= KERR_CODE_MAX || !(s[0] >= 'a' && s[0] <= 'z'))
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			dots++;
			dot = i;
		} else if (!is_code_char((unsigned char)s[i])) {
			return 0;
		}
	}
	if (dots != 1 || dot == 0 || dot + 1 >= n || !(s[dot + 1] >= 'a' && s[dot + 1] <= 'z'))
		return 0;
	/* A registered code is a code even where its tail reads as a file
	 * extension (queue.db: the queue's database failed). */
	for (size_t i = 0; i < nrows; i++)
		if (strlen(rows[i].code) == n && !memcmp(rows[i].code, s, n))
			return 1;
	for (size_t i = 0; i < sizeof file_exts / sizeof *file_exts; i++)
		if (strlen(file_exts[i]) == n - dot - 1 && !memcmp(file_exts[i], s + dot + 1, n - dot - 1))
			return 0;
	for (size_t i = 0; i < n_not_codes; i++)
		if (strlen(not_codes[i]) == n && !memcmp(not_codes[i], s, n))
			return 0;
	return 1;
}

static void add_hit(struct hits *h, const char *code, size_t n, const char *file, int line)
{
	for (size_t i = 0; i < h->n; i++)
		if (!strncmp(h->v[i].code, code, n) && !h->v[i].code[n] && !strcmp(h->v[i].file, file))
			return;
	assert_true(h->n < HITS_MAX);
	memcpy(h->v[h->n].code, code, n);
	h->v[h->n].code[n] = '\0';
	snprintf(h->v[h->n].file, sizeof h->v[h->n].file, "%s", file);
	h->v[h->n].line = line;
	h->n++;
}

/* Every code-shaped string literal in C text, skipping comments and
 * character constants (so '"' and a quote inside a comment never open a
 * string). A literal with an escape in it is not a code. */
static void scan_text(const char *t, size_t len, const char *file, struct hits *h)
{
	int line = 1;

	for (size_t i = 0; i < len; i++) {
		if (t[i] == '\n') {
			line++;
		} else if (t[i] == '/' && i + 1 < len && t[i + 1] == '/') {
			while (i < len && t[i] != '\n')
				i++;
			line++;
		} else if (t[i] == '/' && i + 1 < len && t[i + 1] == '*') {
			for (i += 2; i + 1 < len && !(t[i] == '*' && t[i + 1] == '/'); i++)
				line += t[i] == '\n';
			i++;
		} else if (t[i] == '\'') {
			for (i++; i < len && t[i] != '\'' && t[i] != '\n'; i++)
				if (t[i] == '\\')
					i++;
		} else if (t[i] == '"') {
			size_t start = ++i;
			int escaped = 0;
			for (; i < len && t[i] != '"' && t[i] != '\n'; i++)
				if (t[i] == '\\') {
					escaped = 1;
					i++;
				}
			if (!escaped && i <= len && code_shaped(t + start, i - start))
				add_hit(h, t + start, i - start, file, line);
		}
	}
}

static void scan_file(const char *rel, struct hits *h)
{
	char path[FS_PATH_MAX], *text = NULL;
	size_t len = 0;
	struct kerr err;

	snprintf(path, sizeof path, "%s/%s", root, rel);
	if (fs_read_file(path, SOURCE_BYTES_MAX, 0, &text, &len, &err) < 0)
		fail_msg("%s: %s", err.code, err.msg);
	scan_text(text, len, rel, h);
	free(text);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every .c and .h under dir (relative to root), in sorted order. */
static void scan_tree(const char *dir, const char *skip, struct hits *h)
{
	char path[FS_PATH_MAX];
	char *names[FILES_MAX];
	size_t n = 0;
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof path, "%s/%s", root, dir);
	if (!(d = opendir(path)))
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		assert_true(n < FILES_MAX);
		names[n] = malloc(FS_PATH_MAX);
		assert_non_null(names[n]);
		snprintf(names[n], FS_PATH_MAX, "%s/%s", dir, de->d_name);
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof *names, cmp_str);
	for (size_t i = 0; i < n; i++) {
		struct stat sb;
		size_t l = strlen(names[i]);
		snprintf(path, sizeof path, "%s/%s", root, names[i]);
		if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
			scan_tree(names[i], skip, h);
		else if (l > 2 && names[i][l - 2] == '.' && (names[i][l - 1] == 'c' || names[i][l - 1] == 'h') &&
			 strcmp(names[i], skip))
			scan_file(names[i], h);
		free(names[i]);
	}
}

/* ---- the registry ------------------------------------------------------- */

/* Splits a table row on unescaped '|' into at most ncells trimmed cells. */
static size_t split_row(char *line, char **cells, size_t ncells)
{
	size_t n = 0;
	char *p = line;

	if (*p != '|')
		return 0;
	p++;
	while (*p && n < ncells) {
		char *start = p, *end;
		while (*p && !(*p == '|' && p[-1] != '\\'))
			p++;
		if (!*p)
			break;
		*p = '\0';
		while (*start == ' ')
			start++;
		end = start + strlen(start);
		while (end > start && end[-1] == ' ')
			*--end = '\0';
		cells[n++] = start;
		p++;
	}
	return n;
}

static void load_registry(void)
{
	char path[FS_PATH_MAX], line[4 * CELL_MAX];
	int lineno = 0, in_not_codes = 0;
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", root, REGISTRY);
	f = fopen(path, "r");
	if (!f)
		fail_msg("%s: cannot open the registry", path);
	while (fgets(line, sizeof line, f)) {
		char *cells[6];
		size_t n;

		lineno++;
		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(line, "## ", 3))
			in_not_codes = !strcmp(line, "## Not codes");
		if (in_not_codes && !strncmp(line, "- `", 3)) {
			size_t l = strcspn(line + 3, "`");
			assert_true(n_not_codes < NOT_CODES_MAX && l < KERR_CODE_MAX);
			memcpy(not_codes[n_not_codes], line + 3, l);
			not_codes[n_not_codes++][l] = '\0';
			continue;
		}
		if (strncmp(line, "| `", 3))
			continue;
		n = split_row(line, cells, 6);
		if (n != 5) {
			print_error("%s:%d: a row needs 5 cells (code, meaning, raised in, documented in, asserted in)\n",
				    REGISTRY, lineno);
			parse_failures++;
			continue;
		}
		assert_true(nrows < ROWS_MAX);
		struct row *r = &rows[nrows++];
		size_t cl = strlen(cells[0]);
		if (cl < 3 || cells[0][cl - 1] != '`' || cl - 2 >= sizeof r->code) {
			print_error("%s:%d: the code cell must be `module.reason`\n", REGISTRY, lineno);
			parse_failures++;
			nrows--;
			continue;
		}
		memcpy(r->code, cells[0] + 1, cl - 2);
		r->code[cl - 2] = '\0';
		snprintf(r->meaning, sizeof r->meaning, "%s", cells[1]);
		snprintf(r->raised, sizeof r->raised, "%s", cells[2]);
		snprintf(r->documented, sizeof r->documented, "%s", cells[3]);
		snprintf(r->asserted, sizeof r->asserted, "%s", cells[4]);
		r->line = lineno;
	}
	fclose(f);
}

static const struct row *find_row(const char *code)
{
	for (size_t i = 0; i < nrows; i++)
		if (!strcmp(rows[i].code, code))
			return &rows[i];
	return NULL;
}

static int holds(const struct hits *h, const char *code, const char *file)
{
	for (size_t i = 0; i < h->n; i++)
		if (!strcmp(h->v[i].code, code) && (!file || !strcmp(h->v[i].file, file)))
			return 1;
	return 0;
}

/* The files of h holding code, ", "-separated, with prefix stripped. */
static void files_of(const struct hits *h, const char *code, const char *strip, char *out, size_t cap)
{
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < h->n; i++) {
		const char *f = h->v[i].file;
		if (strcmp(h->v[i].code, code))
			continue;
		if (!strncmp(f, strip, strlen(strip)))
			f += strlen(strip);
		n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s%s", n ? ", " : "", f);
	}
	if (!n)
		snprintf(out, cap, "—");
}

/* Whether the doc text holds code as a whole token (not inside a longer one). */
static int doc_mentions(const char *doc, const char *code)
{
	char path[FS_PATH_MAX], *text = NULL;
	size_t len = 0, cl = strlen(code);
	struct kerr err;
	int found = 0;

	snprintf(path, sizeof path, "%s/docs/%s", root, doc);
	if (fs_read_file(path, SOURCE_BYTES_MAX, 0, &text, &len, &err) < 0)
		return 0;
	for (const char *p = text; !found && (p = strstr(p, code)); p++) {
		int before = p > text && (is_code_char((unsigned char)p[-1]) || p[-1] == '.');
		int after = is_code_char((unsigned char)p[cl]);
		found = !before && !after;
	}
	free(text);
	return found;
}

/* The ", "-separated items of a cell; none for "—". */
static size_t each_item(const char *cell, char items[][FS_PATH_MAX], size_t max)
{
	size_t n = 0;
	const char *p = cell;

	if (!strcmp(cell, "—") || !*cell)
		return 0;
	while (*p && n < max) {
		size_t l = strcspn(p, ",");
		snprintf(items[n], FS_PATH_MAX, "%.*s", (int)l, p);
		n++;
		p += l;
		while (*p == ',' || *p == ' ')
			p++;
	}
	return n;
}

#define ITEMS_MAX 16

static void check_row(const struct row *r)
{
	char items[ITEMS_MAX][FS_PATH_MAX], want[CELL_MAX], file[FS_PATH_MAX];
	size_t n;

	if (!r->meaning[0] || !strcmp(r->meaning, "—")) {
		print_error("%s:%d: %s has no meaning: write one line an operator can act on\n", REGISTRY, r->line,
			    r->code);
		failures++;
	}
	files_of(&src, r->code, "", want, sizeof want);
	n = each_item(r->raised, items, ITEMS_MAX);
	if (n == 0) {
		print_error("%s:%d: %s: the 'raised in' cell is empty; write: %s\n", REGISTRY, r->line, r->code, want);
		failures++;
	}
	for (size_t i = 0; i < n; i++)
		if (!holds(&src, r->code, items[i])) {
			print_error("%s:%d: %s is not in %s any more; its 'raised in' cell should read: %s\n", REGISTRY,
				    r->line, r->code, items[i], want);
			failures++;
		}
	n = each_item(r->documented, items, ITEMS_MAX);
	for (size_t i = 0; i < n; i++)
		if (!doc_mentions(items[i], r->code)) {
			print_error("%s:%d: docs/%s does not mention %s: drop it from the 'documented in' cell\n",
				    REGISTRY, r->line, items[i], r->code);
			failures++;
		}
	files_of(&tst, r->code, "tests/", want, sizeof want);
	n = each_item(r->asserted, items, ITEMS_MAX);
	for (size_t i = 0; i < n; i++) {
		snprintf(file, sizeof file, "tests/%s", items[i]);
		if (!holds(&tst, r->code, file)) {
			print_error("%s:%d: tests/%s does not assert %s; its 'asserted in' cell should read: %s\n",
				    REGISTRY, r->line, items[i], r->code, want);
			failures++;
		}
	}
	if (n == 0 && holds(&tst, r->code, NULL)) {
		print_error("%s:%d: %s is now asserted in tests (%s): write that into its 'asserted in' cell\n",
			    REGISTRY, r->line, r->code, want);
		failures++;
	}
}

/* ---- tests ---------------------------------------------------------------- */

static int group_setup(void **state)
{
	const char *s = getenv("KARPA_SRC");

	snprintf(root, sizeof root, "%s", s ? s : ".");
	src.v = calloc(HITS_MAX, sizeof *src.v);
	tst.v = calloc(HITS_MAX, sizeof *tst.v);
	rows = calloc(ROWS_MAX, sizeof *rows);
	if (!src.v || !tst.v || !rows)
		return -1;
	/* The registry first: its "Not codes" list shapes the scan. */
	load_registry();
	for (size_t i = 0; i < sizeof source_roots / sizeof *source_roots; i++)
		scan_tree(source_roots[i], "", &src);
	scan_tree("tests", "tests/test_codes.c", &tst);
	return 0;
}

static int group_teardown(void **state)
{
	free(src.v);
	free(tst.v);
	free(rows);
	return 0;
}

/* The scanner itself: codes in calls, ternaries, tables and snprintf are
 * found; comments, character constants, escapes, file names and headers are
 * not. Without this, a scanner that found nothing would pass everything. */
static void test_scanner_finds_codes(void **state)
{
	static const char text[] =
		"#include \"util/kerr.h\"\n"
		"/* \"in.comment\" */ // \"also.comment\"\n"
		"char q = '\"'; const char *s = \"not.code\\n\";\n"
		"kerr_set(err, \"a.direct\", \"%s\", x);\n"
		"kerr_errno(err, e == ENOENT ? \"b.missing\" : \"b.stat\", p);\n"
		"static const char *const t[][2] = { { \"c.table\", \"why it fails\" } };\n"
		"snprintf(err->code, sizeof err->code, \"d.copied\");\n"
		"fs_join(p, n, err, \"%s/train.log\", dir); open(\"state.db\"); x(\"Upper.case\", \"two.dots.x\");\n";
	struct hits h = { calloc(64, sizeof(struct hit)), 0 };
	const char *want[] = { "a.direct", "b.missing", "b.stat", "c.table", "d.copied" };

	assert_non_null(h.v);
	scan_text(text, sizeof text - 1, "x.c", &h);
	assert_int_equal(h.n, 5);
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(h.v[i].code, want[i]);
	assert_int_equal(h.v[0].line, 4);
	assert_int_equal(h.v[4].line, 7);
	free(h.v);
}

/* Codes the scan must see in the real tree, one per way a code is raised. */
static void test_scan_sees_every_form(void **state)
{
	assert_true(holds(&src, "plot.empty", "src/util/plot.c"));           /* kerr_set */
	assert_true(holds(&src, "vstate.busy", "src/validator/vstate.c"));   /* ternary */
	assert_true(holds(&src, "judge.inline_asm", "src/judge/diffscan.c")); /* reasons[][2] */
	assert_true(holds(&src, "texts.integrity", "src/data/texts.c"));     /* recode map */
	assert_true(holds(&src, "king.incomplete", "src/validator/king.c"));  /* snprintf copy */
	assert_true(holds(&src, "sandbox.violation", "src/sandbox/sandbox.c")); /* helper argument */
	assert_false(holds(&src, "train.log", NULL));
	assert_false(holds(&src, "log.head", NULL)); /* "Not codes" */
	assert_true(src.n > 250);
	assert_true(nrows > 250);
}

/* Every code in the source has a row; every row's code is in the source. */
static void test_registry_matches_source(void **state)
{
	failures = 0;
	for (size_t i = 0; i < src.n; i++) {
		const struct hit *h = &src.v[i];
		char asserted[CELL_MAX];
		int first = 1;
		for (size_t j = 0; j < i; j++)
			first &= strcmp(src.v[j].code, h->code) != 0;
		if (!first || find_row(h->code))
			continue;
		files_of(&tst, h->code, "tests/", asserted, sizeof asserted);
		print_error("%s:%d: reason code %s is not in the registry. Add this row to %s, in sorted order:\n"
			    "| `%s` | <what it means and what to do, one line> | %s | — | %s |\n",
			    h->file, h->line, h->code, REGISTRY, h->code, h->file, asserted);
		failures++;
	}
	for (size_t i = 0; i < nrows; i++)
		if (!holds(&src, rows[i].code, NULL)) {
			print_error("%s:%d: %s is in no file under src/, cli/, runner/ or bench/ any more: remove its "
				    "row (or, if it is a code-shaped literal that is not a code, list it under \"Not "
				    "codes\")\n",
				    REGISTRY, rows[i].line, rows[i].code);
			failures++;
		}
	assert_int_equal(failures, 0);
}

/* Each row's cells are true, and the rows are sorted and unique. */
static void test_registry_rows(void **state)
{
	size_t documented = 0, asserted = 0;

	failures = parse_failures;
	for (size_t i = 0; i < nrows; i++) {
		if (i > 0 && strcmp(rows[i - 1].code, rows[i].code) >= 0) {
			print_error("%s:%d: %s comes after %s: keep rows sorted by code, each once\n", REGISTRY,
				    rows[i].line, rows[i].code, rows[i - 1].code);
			failures++;
		}
		check_row(&rows[i]);
		documented += strcmp(rows[i].documented, "—") != 0;
		asserted += strcmp(rows[i].asserted, "—") != 0;
	}
	print_message("%zu codes: %zu discussed in a design note besides the registry, %zu asserted by a test\n",
		      nrows, documented, asserted);
	assert_int_equal(failures, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scanner_finds_codes),
		cmocka_unit_test(test_scan_sees_every_form),
		cmocka_unit_test(test_registry_matches_source),
		cmocka_unit_test(test_registry_rows),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
