/* test_plot.c: the loss curve in braille and SVG. Checked: the refusals
 * (plot.size, plot.empty), the terminal plot's shape (one title line, height
 * rows of width braille cells, the axis, the labels, the checkpoint legend),
 * where the dots land, the SVG's escaping of caller text, its polyline
 * breaks and bucketing, checkpoint markers, the atomic file, and that both
 * outputs are a function of the input alone. */
#include "testutil.h"

#include "util/plot.h"

static char *term(const struct plot_curve *c, int w, int h, struct kerr *err, int *rc)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	*rc = plot_term(f, c, w, h, err);
	fclose(f);
	return buf;
}

static size_t count(const char *s, const char *needle)
{
	size_t n = 0;

	for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* The braille cells of one plot row: the 3-byte UTF-8 sequences E2 A0..A3 xx. */
static int braille_cells(const char *line, size_t len, unsigned char *bits, int cap)
{
	int n = 0;

	for (size_t i = 0; i + 2 < len; i++)
		if ((unsigned char)line[i] == 0xE2 && ((unsigned char)line[i + 1] & 0xFC) == 0xA0) {
			if (n < cap)
				bits[n] = (unsigned char)((((unsigned char)line[i + 1] & 3) << 6) |
							  ((unsigned char)line[i + 2] & 0x3F));
			n++;
			i += 2;
		}
	return n;
}

static void test_refusals(void **state)
{
	double x[2] = { 0, 1 }, y[2] = { NAN, INFINITY };
	struct plot_curve c = { .x = x, .y = y, .n = 2 };
	struct kerr err = { 0 };
	char *out;
	int rc;

	out = term(&c, 7, 10, &err, &rc);
	assert_int_equal(rc, -1);
	assert_string_equal(err.code, "plot.size");
	free(out);
	out = term(&c, 10, 2, &err, &rc);
	assert_string_equal(err.code, "plot.size");
	free(out);
	out = term(&c, PLOT_TERM_CELLS_MAX + 1, 10, &err, &rc);
	assert_string_equal(err.code, "plot.size");
	free(out);
	/* No finite point: nothing to scale to. */
	out = term(&c, 10, 5, &err, &rc);
	assert_int_equal(rc, -1);
	assert_string_equal(err.code, "plot.empty");
	free(out);
	memset(&err, 0, sizeof err);
	assert_null(plot_svg_render(&c, &err));
	assert_string_equal(err.code, "plot.empty");
	c.n = 0;
	assert_null(plot_svg_render(&c, &err));
	assert_string_equal(err.code, "plot.empty");
}

/* A falling line from the top-left to the bottom-right corner. */
static void test_term_shape(void **state)
{
	enum { W = 20, H = 6 };
	double x[3] = { 0, 50, 100 }, y[3] = { 4.0, 3.0, 2.0 }, marks[2] = { 50, 1000 };
	struct plot_curve c = { .x = x, .y = y, .n = 3, .marks = marks, .nmarks = 2, .title = "loss",
				.xlabel = "step" };
	struct kerr err = { 0 };
	char *out, *again, *lines[32];
	int rc, n = 0;
	unsigned char bits[W];

	out = term(&c, W, H, &err, &rc);
	assert_int_equal(rc, 0);
	for (char *p = out, *nl; *p && n < 32; p = nl + 1) {
		nl = strchr(p, '\n');
		assert_non_null(nl);
		*nl = '\0';
		lines[n++] = p;
	}
	/* title, H rows, axis, x labels, checkpoint legend */
	assert_int_equal(n, 1 + H + 3);
	assert_non_null(strstr(lines[0], "loss"));
	for (int r = 0; r < H; r++)
		assert_int_equal(braille_cells(lines[1 + r], strlen(lines[1 + r]), bits, W), W);
	/* Top row: the first cell holds the curve's first dot (column 0, row 0:
	 * bit 0x01); bottom row: the last cell holds its last (column 1, row 3:
	 * bit 0x80). */
	braille_cells(lines[1], strlen(lines[1]), bits, W);
	assert_true(bits[0] & 0x01);
	assert_int_equal(bits[W - 1], 0);
	braille_cells(lines[H], strlen(lines[H]), bits, W);
	assert_true(bits[W - 1] & 0x80);
	assert_int_equal(bits[0], 0);
	/* y labels at the top and bottom rows, inside the data range. */
	assert_true(atof(lines[1]) <= 4.0 && atof(lines[1]) > 3.5);
	assert_true(atof(lines[H]) >= 2.0 && atof(lines[H]) < 2.5);
	/* One checkpoint tick (1000 is off the range), in the middle of the axis. */
	assert_int_equal(count(lines[1 + H], "┴"), 1);
	assert_non_null(strstr(lines[2 + H], "0"));
	assert_non_null(strstr(lines[2 + H], "100"));
	assert_non_null(strstr(lines[2 + H], "step"));
	assert_non_null(strstr(lines[3 + H], "checkpoint"));
	/* Deterministic: the same input, the same bytes. */
	free(out);
	out = term(&c, W, H, &err, &rc);
	again = term(&c, W, H, &err, &rc);
	assert_string_equal(out, again);
	free(out);
	free(again);
}

/* A flat curve must not divide by zero; a huge range must not draw a line
 * across billions of dots. */
static void test_term_degenerate(void **state)
{
	double x[3] = { 5, 5, 5 }, y[3] = { 1, 1, 1 }, yb[2] = { -1e308, 1e308 }, xb[2] = { -1e308, 1e308 };
	struct plot_curve c = { .x = x, .y = y, .n = 3 };
	struct kerr err = { 0 };
	char *out;
	int rc;

	out = term(&c, 8, 3, &err, &rc);
	assert_int_equal(rc, 0);
	free(out);
	c.x = xb;
	c.y = yb;
	c.n = 2;
	out = term(&c, PLOT_TERM_CELLS_MAX, PLOT_TERM_CELLS_MAX, &err, &rc);
	assert_int_equal(rc, 0);
	free(out);
}

/* Caller text is escaped: a title can never open a tag. */
static void test_svg_escapes(void **state)
{
	double x[2] = { 0, 1 }, y[2] = { 1, 2 };
	struct plot_curve c = { .x = x, .y = y, .n = 2, .title = "<script>alert(1)</script> & \"q\"\x01\x1b",
				.xlabel = "a<b", .ylabel = "loss > 3" };
	struct kerr err = { 0 };
	char *s = plot_svg_render(&c, &err);

	assert_non_null(s);
	assert_null(strstr(s, "<script"));
	assert_non_null(strstr(s, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot;</text>"));
	assert_non_null(strstr(s, ">a&lt;b</text>"));
	assert_non_null(strstr(s, ">loss &gt; 3</text>"));
	assert_null(strchr(s, '\x01'));
	assert_null(strchr(s, '\x1b'));
	assert_true(!strncmp(s, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg ", 44));
	assert_int_equal(count(s, "<svg "), 1);
	assert_int_equal(count(s, "</svg>"), 1);
	assert_string_equal(s + strlen(s) - 7, "</svg>\n");
	free(s);
}

/* A non-finite point breaks the line; long curves are bucketed. */
static void test_svg_curve(void **state)
{
	enum { N = 5000 };
	double *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), marks[3] = { 10, 2500, 1e9 };
	struct plot_curve c = { .x = x, .y = y, .n = 6 };
	struct kerr err = { 0 };
	char *s, *p, *again;
	size_t pairs = 0;

	assert_non_null(x);
	assert_non_null(y);
	for (int i = 0; i < N; i++) {
		x[i] = i;
		y[i] = 5.0 - i * 1e-3;
	}
	y[3] = NAN;
	s = plot_svg_render(&c, &err);
	assert_non_null(s);
	assert_int_equal(count(s, "<polyline"), 2);
	assert_int_equal(count(s, "class=\"ckpt\""), 0);
	free(s);

	y[3] = 5.0;
	c.n = N;
	c.marks = marks;
	c.nmarks = 3;
	s = plot_svg_render(&c, &err);
	assert_non_null(s);
	assert_int_equal(count(s, "<polyline"), 1);
	p = strstr(s, "points=\"");
	assert_non_null(p);
	for (p += 8; *p != '"'; p++)
		pairs += *p == ',';
	assert_true(pairs >= N / 5 && pairs <= PLOT_SVG_POINTS_MAX);
	assert_int_equal(count(s, "class=\"ckpt\""), 2); /* 1e9 is off the range */
	assert_int_equal(count(s, ">checkpoint</text>"), 1);
	again = plot_svg_render(&c, &err);
	assert_string_equal(s, again);
	free(again);
	free(s);
	free(x);
	free(y);
}

/* plot_svg writes exactly what plot_svg_render returns, and leaves no
 * temporary behind. */
static void test_svg_file(void **state)
{
	double x[2] = { 0, 1 }, y[2] = { 1, 2 };
	struct plot_curve c = { .x = x, .y = y, .n = 2, .title = "t" };
	struct kerr err = { 0 };
	char *dir = tu_mkdtemp(), path[FS_PATH_MAX], tmp[FS_PATH_MAX], *want, *got = NULL;
	size_t len = 0;

	snprintf(path, sizeof path, "%s/loss.svg", dir);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	assert_int_equal(plot_svg(path, &c, &err), 0);
	want = plot_svg_render(&c, &err);
	assert_int_equal(fs_read_file(path, 1 << 20, 0, &got, &len, &err), 0);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(got, want, len);
	assert_int_equal(access(tmp, F_OK), -1);
	free(got);
	free(want);
	tu_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refusals),     cmocka_unit_test(test_term_shape),
		cmocka_unit_test(test_term_degenerate), cmocka_unit_test(test_svg_escapes),
		cmocka_unit_test(test_svg_curve),    cmocka_unit_test(test_svg_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
