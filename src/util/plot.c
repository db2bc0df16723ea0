/* plot.c: the loss curve in braille and in SVG. Both map the same data
 * range onto their canvas; nothing here allocates per point beyond the dot
 * grid and the SVG text, and nothing is read from disk. */
#include "util/plot.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/fsutil.h"

#define Y_LABEL_WIDTH 9 /* "%8.4g" plus the axis character */
#define SVG_MARGIN_LEFT 70
#define SVG_MARGIN_RIGHT 24
#define SVG_MARGIN_TOP 36
#define SVG_MARGIN_BOTTOM 52
#define SVG_TICKS 5

struct range {
	double x0, x1, y0, y1;
};

/* Data bounds over finite points; a flat range gets some height so the
 * curve sits in the middle instead of dividing by zero. */
static int bounds(const struct plot_curve *c, struct range *r, struct kerr *err)
{
	size_t finite = 0;

	r->x0 = r->y0 = INFINITY;
	r->x1 = r->y1 = -INFINITY;
	for (size_t i = 0; i < c->n; i++) {
		if (!isfinite(c->x[i]) || !isfinite(c->y[i]))
			continue;
		finite++;
		r->x0 = fmin(r->x0, c->x[i]);
		r->x1 = fmax(r->x1, c->x[i]);
		r->y0 = fmin(r->y0, c->y[i]);
		r->y1 = fmax(r->y1, c->y[i]);
	}
	if (!finite)
		return kerr_set(err, "plot.empty", "no finite points to plot");
	if (r->x1 <= r->x0)
		r->x1 = r->x0 + 1;
	if (r->y1 <= r->y0) {
		double pad = fabs(r->y0) > 0 ? fabs(r->y0) * 0.05 : 0.5;
		r->y0 -= pad;
		r->y1 += pad;
	}
	return 0;
}

/* ---- terminal ---------------------------------------------------------- */

/* Braille dot bits, indexed [column][row] within a 2x4 cell (Unicode order). */
static const uint8_t braille_bit[2][4] = { { 0x01, 0x02, 0x04, 0x40 }, { 0x08, 0x10, 0x20, 0x80 } };

static void dot(uint8_t *cells, int w, int h, int dx, int dy)
{
	if (dx < 0 || dy < 0 || dx >= 2 * w || dy >= 4 * h)
		return;
	cells[(dy / 4) * w + dx / 2] |= braille_bit[dx % 2][dy % 4];
}

/* Bresenham between two dots: consecutive points stay connected. */
static void line(uint8_t *cells, int w, int h, int x0, int y0, int x1, int y1)
{
	int dx = abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
	int dy = -abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
	int e = dx + dy;

	for (;;) {
		dot(cells, w, h, x0, y0);
		if (x0 == x1 && y0 == y1)
			break;
		int e2 = 2 * e;
		if (e2 >= dy) {
			e += dy;
			x0 += sx;
		}
		if (e2 <= dx) {
			e += dx;
			y0 += sy;
		}
	}
}

static void put_braille(FILE *f, uint8_t bits)
{
	/* U+2800 + bits in UTF-8: E2 A0+(bits>>6) 80+(bits&63). */
	fputc(0xE2, f);
	fputc(0xA0 | (bits >> 6), f);
	fputc(0x80 | (bits & 0x3F), f);
}

/* Scales v in [lo, hi] onto 0..dots-1, clamped: a range that overflows to
 * infinity must not turn into a line across two billion dots. */
static int scale_to(double v, double lo, double hi, int dots)
{
	double t = (v - lo) / (hi - lo) * (dots - 1);

	if (!(t >= 0))
		t = 0;
	if (t > dots - 1)
		t = dots - 1;
	return (int)lround(t);
}

static int col_of(double x, const struct range *r, int w)
{
	return scale_to(x, r->x0, r->x1, 2 * w);
}

static void term_rows(FILE *f, const uint8_t *cells, int w, int h, const struct range *r)
{
	for (int row = 0; row < h; row++) {
		/* Labels on the top, middle and bottom rows: value at the cell's centre line. */
		if (row == 0 || row == h - 1 || row == h / 2) {
			double frac = (row * 4.0 + 1.5) / (4.0 * h - 1);
			fprintf(f, "%8.4g ┤", r->y1 - frac * (r->y1 - r->y0));
		} else {
			fprintf(f, "%*s│", Y_LABEL_WIDTH, "");
		}
		for (int col = 0; col < w; col++)
			put_braille(f, cells[row * w + col]);
		fputc('\n', f);
	}
}

static void term_axis(FILE *f, const struct plot_curve *c, int w, const struct range *r)
{
	char *tick = calloc((size_t)w, 1);
	char left[32], right[32];
	int pad;

	fprintf(f, "%*s└", Y_LABEL_WIDTH, "");
	for (size_t i = 0; tick && i < c->nmarks; i++)
		if (isfinite(c->marks[i]) && c->marks[i] >= r->x0 && c->marks[i] <= r->x1)
			tick[col_of(c->marks[i], r, w) / 2] = 1;
	for (int col = 0; col < w; col++)
		fputs(tick && tick[col] ? "┴" : "─", f);
	fputc('\n', f);
	snprintf(left, sizeof left, "%.6g", r->x0);
	snprintf(right, sizeof right, "%.6g", r->x1);
	pad = w - (int)strlen(left) - (int)strlen(right);
	fprintf(f, "%*s%s%*s%s  %s\n", Y_LABEL_WIDTH + 1, "", left, pad > 1 ? pad : 1, "", right,
		c->xlabel ? c->xlabel : "");
	if (c->nmarks)
		fprintf(f, "%*s┴ checkpoint\n", Y_LABEL_WIDTH + 1, "");
	free(tick);
}

int plot_term(FILE *f, const struct plot_curve *c, int width, int height, struct kerr *err)
{
	struct range r;
	uint8_t *cells;
	int have = 0, px = 0, py = 0;

	if (width < 8 || height < 3 || width > PLOT_TERM_CELLS_MAX || height > PLOT_TERM_CELLS_MAX)
		return kerr_set(err, "plot.size", "plot of %dx%d cells", width, height);
	if (bounds(c, &r, err) < 0)
		return -1;
	if (!(cells = calloc((size_t)width * (size_t)height, 1)))
		return kerr_set(err, "plot.nomem", "out of memory");
	for (size_t i = 0; i < c->n; i++) {
		if (!isfinite(c->x[i]) || !isfinite(c->y[i])) {
			have = 0;
			continue;
		}
		int x = col_of(c->x[i], &r, width);
		int y = 4 * height - 1 - scale_to(c->y[i], r.y0, r.y1, 4 * height);
		if (have)
			line(cells, width, height, px, py, x, y);
		else
			dot(cells, width, height, x, y);
		px = x;
		py = y;
		have = 1;
	}
	if (c->title || c->ylabel)
		fprintf(f, "%*s%s\n", Y_LABEL_WIDTH - 1, "", c->title ? c->title : c->ylabel);
	term_rows(f, cells, width, height, &r);
	term_axis(f, c, width, &r);
	free(cells);
	return 0;
}

/* ---- SVG ----------------------------------------------------------------- */

static void xml_text(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		default:
			if ((unsigned char)*s >= 0x20 || *s == '\t')
				fputc(*s, f);
		}
	}
}

struct frame {
	struct range r;
	double left, right, top, bottom; /* plot area in SVG user units */
};

static double sx(const struct frame *fr, double x)
{
	return fr->left + (x - fr->r.x0) / (fr->r.x1 - fr->r.x0) * (fr->right - fr->left);
}

static double sy(const struct frame *fr, double y)
{
	return fr->bottom - (y - fr->r.y0) / (fr->r.y1 - fr->r.y0) * (fr->bottom - fr->top);
}

/* A round tick spacing (1, 2 or 5 times a power of ten) giving about
 * SVG_TICKS intervals over span. */
static double nice_step(double span)
{
	double raw = span / SVG_TICKS, mag = pow(10, floor(log10(raw))), f = raw / mag;

	return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

static void svg_ticks(FILE *f, const struct frame *fr, int vertical)
{
	double lo = vertical ? fr->r.y0 : fr->r.x0, hi = vertical ? fr->r.y1 : fr->r.x1;
	double step = nice_step(hi - lo);

	/* nice_step gives about SVG_TICKS intervals; the count bound also stops
	 * a span below the values' precision (v += step changing nothing). */
	int k = 0;
	for (double v = ceil(lo / step) * step; v <= hi + step * 1e-9 && k < 4 * SVG_TICKS; v += step, k++) {
		double t = fabs(v) < step * 1e-9 ? 0 : v; /* no "-0" label */
		if (vertical)
			fprintf(f,
				"<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
				"<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.6g</text>\n",
				fr->left, sy(fr, t), fr->right, sy(fr, t), fr->left - 6, sy(fr, t) + 4, t);
		else
			fprintf(f,
				"<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
				"<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.6g</text>\n",
				sx(fr, t), fr->top, sx(fr, t), fr->bottom, sx(fr, t), fr->bottom + 18, t);
	}
}

static void svg_axes(FILE *f, const struct plot_curve *c, const struct frame *fr)
{
	fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fbfbfd\" stroke=\"#444\"/>\n",
		fr->left, fr->top, fr->right - fr->left, fr->bottom - fr->top);
	svg_ticks(f, fr, 0);
	svg_ticks(f, fr, 1);
	fprintf(f, "<text x=\"%.1f\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">", (fr->left + fr->right) / 2);
	xml_text(f, c->title);
	fprintf(f, "</text>\n<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">", (fr->left + fr->right) / 2,
		PLOT_SVG_HEIGHT - 10);
	xml_text(f, c->xlabel);
	fprintf(f, "</text>\n<text transform=\"translate(16 %.1f) rotate(-90)\" text-anchor=\"middle\">",
		(fr->top + fr->bottom) / 2);
	xml_text(f, c->ylabel);
	fputs("</text>\n", f);
}

/* The curve as polylines (a non-finite point starts a new one), averaged
 * into at most PLOT_SVG_POINTS_MAX buckets. */
static void svg_curve(FILE *f, const struct plot_curve *c, const struct frame *fr)
{
	size_t per = (c->n + PLOT_SVG_POINTS_MAX - 1) / PLOT_SVG_POINTS_MAX, open = 0;

	if (per == 0)
		per = 1;
	for (size_t i = 0; i < c->n; i += per) {
		double mx = 0, my = 0;
		size_t k = 0;

		for (size_t j = i; j < i + per && j < c->n; j++)
			if (isfinite(c->x[j]) && isfinite(c->y[j])) {
				mx += c->x[j];
				my += c->y[j];
				k++;
			}
		if (!k) {
			if (open)
				fputs("\"/>\n", f);
			open = 0;
			continue;
		}
		if (!open)
			fputs("<polyline fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"1.6\" points=\"", f);
		fprintf(f, "%s%.2f,%.2f", open ? " " : "", sx(fr, mx / (double)k), sy(fr, my / (double)k));
		open = 1;
	}
	if (open)
		fputs("\"/>\n", f);
}

static void svg_marks(FILE *f, const struct plot_curve *c, const struct frame *fr)
{
	size_t shown = 0;

	for (size_t i = 0; i < c->nmarks; i++) {
		double x = c->marks[i];
		if (!isfinite(x) || x < fr->r.x0 || x > fr->r.x1)
			continue;
		fprintf(f,
			"<line class=\"ckpt\" x1=\"%.2f\" y1=\"%.1f\" x2=\"%.2f\" y2=\"%.1f\" stroke=\"#c0392b\" "
			"stroke-dasharray=\"3 3\"/><path d=\"M%.2f %.1f l-4 7 h8 z\" fill=\"#c0392b\"/>\n",
			sx(fr, x), fr->top, sx(fr, x), fr->bottom, sx(fr, x), fr->bottom);
		shown++;
	}
	if (shown)
		fprintf(f,
			"<path d=\"M%.1f %.1f l-4 7 h8 z\" fill=\"#c0392b\"/><text x=\"%.1f\" y=\"%.1f\" "
			"text-anchor=\"end\">checkpoint</text>\n",
			fr->right - 4, fr->top - 14, fr->right - 12, fr->top - 7);
}

char *plot_svg_render(const struct plot_curve *c, struct kerr *err)
{
	struct frame fr = { .left = SVG_MARGIN_LEFT, .right = PLOT_SVG_WIDTH - SVG_MARGIN_RIGHT,
			    .top = SVG_MARGIN_TOP, .bottom = PLOT_SVG_HEIGHT - SVG_MARGIN_BOTTOM };
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (bounds(c, &fr.r, err) < 0)
		return NULL;
	if (!(f = open_memstream(&buf, &len))) {
		kerr_set(err, "plot.nomem", "out of memory");
		return NULL;
	}
	fprintf(f,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
		"font-family=\"sans-serif\" font-size=\"12\">\n"
		"<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
		PLOT_SVG_WIDTH, PLOT_SVG_HEIGHT, PLOT_SVG_WIDTH, PLOT_SVG_HEIGHT);
	svg_axes(f, c, &fr);
	svg_marks(f, c, &fr);
	svg_curve(f, c, &fr);
	fputs("</svg>\n", f);
	if (fclose(f) != 0) {
		free(buf);
		kerr_set(err, "plot.nomem", "out of memory");
		return NULL;
	}
	return buf;
}

int plot_svg(const char *path, const struct plot_curve *c, struct kerr *err)
{
	char *s = plot_svg_render(c, err);
	int rc;

	if (!s)
		return -1;
	rc = fs_write_atomic(path, s, strlen(s), err);
	free(s);
	return rc;
}
