/* plot.h: a loss curve drawn two ways, in the terminal (Unicode braille,
 * 2x4 dots per character cell, with axis labels and checkpoint ticks) and
 * as a standalone SVG file. Pure C, no dependencies; never reads the log
 * itself: callers hand it the points. */
#ifndef KARPA_PLOT_H
#define KARPA_PLOT_H

#include <stddef.h>
#include <stdio.h>

#include "util/kerr.h"

#define PLOT_TERM_WIDTH 64  /* plot area in character cells: fits an 80-column terminal with labels */
#define PLOT_TERM_HEIGHT 14
#define PLOT_TERM_CELLS_MAX 512 /* either dimension; a wider plot is a caller bug */
#define PLOT_SVG_WIDTH 720
#define PLOT_SVG_HEIGHT 400
/* More points than pixels only bloats the file: longer curves are averaged
 * into this many buckets. */
#define PLOT_SVG_POINTS_MAX 1200

struct plot_curve {
	const double *x, *y;    /* n points; x nondecreasing; non-finite y breaks the line */
	size_t n;
	const double *marks;    /* x of checkpoint markers (may be NULL) */
	size_t nmarks;
	const char *title;      /* e.g. "train loss" */
	const char *xlabel, *ylabel;
};

/* Draws the curve in width x height cells plus labels. plot.empty when no
 * point has a finite y; plot.size for a degenerate size. */
int plot_term(FILE *f, const struct plot_curve *c, int width, int height, struct kerr *err);

/* The SVG document as a string (caller frees) / written atomically to path. */
char *plot_svg_render(const struct plot_curve *c, struct kerr *err);
int plot_svg(const char *path, const struct plot_curve *c, struct kerr *err);

#endif
