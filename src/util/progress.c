/* progress.c: terminal progress and the loss plot. Everything here is for
 * humans; nothing is parsed back, so the format may change freely. */
#include "util/progress.h"

#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PLOT_WIDTH_MAX 200
#define PLOT_HEIGHT_MAX 60

double progress_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void progress_init(struct progress *p, const char *what, int64_t total, int force)
{
	memset(p, 0, sizeof *p);
	p->tty = isatty(STDERR_FILENO);
	p->enabled = force || p->tty;
	p->total = total;
	p->what = what;
	p->t0_ms = progress_now_ms();
	p->last_ms = -1e300;
}

static void fmt_eta(char *buf, size_t cap, double sec)
{
	long s = sec > 0 && sec < 1e9 ? (long)(sec + 0.5) : 0;

	if (s >= 3600)
		snprintf(buf, cap, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
	else
		snprintf(buf, cap, "%ld:%02ld", s / 60, s % 60);
}

void progress_step(struct progress *p, int64_t done, double loss, double lr, double tok_per_s)
{
	double now = progress_now_ms(), elapsed_s;
	char eta[32];

	if (!p->enabled || (now - p->last_ms < PROGRESS_INTERVAL_MS && done < p->total))
		return;
	p->last_ms = now;
	elapsed_s = (now - p->t0_ms) / 1e3;
	fmt_eta(eta, sizeof eta, done > 0 ? elapsed_s / (double)done * (double)(p->total - done) : 0);
	fprintf(stderr, "%s%s step %lld/%lld  loss %.4f  lr %.2e  %.0f tok/s  ETA %s%s",
		p->tty ? "\r" : "", p->what, (long long)done, (long long)p->total, loss, lr,
		tok_per_s, eta, p->tty ? "\033[K" : "\n");
	fflush(stderr);
}

void progress_done(struct progress *p)
{
	if (p->enabled && p->tty) {
		fputc('\n', stderr);
		fflush(stderr);
	}
}

void progress_plot(FILE *f, const char *title, const double *x, const double *y, int n, int width,
		   int height)
{
	char grid[PLOT_HEIGHT_MAX][PLOT_WIDTH_MAX + 1];
	double ylo = INFINITY, yhi = -INFINITY, xlo, xhi;

	if (n <= 0 || width < 8 || height < 3)
		return;
	width = width > PLOT_WIDTH_MAX ? PLOT_WIDTH_MAX : width;
	height = height > PLOT_HEIGHT_MAX ? PLOT_HEIGHT_MAX : height;
	for (int i = 0; i < n; i++)
		if (isfinite(y[i])) {
			ylo = y[i] < ylo ? y[i] : ylo;
			yhi = y[i] > yhi ? y[i] : yhi;
		}
	if (!isfinite(ylo))
		return;
	if (yhi - ylo < 1e-12)
		yhi = ylo + 1;
	xlo = x[0];
	xhi = x[n - 1] > xlo ? x[n - 1] : xlo + 1;
	for (int r = 0; r < height; r++) {
		memset(grid[r], ' ', (size_t)width);
		grid[r][width] = '\0';
	}
	for (int i = 0; i < n; i++) {
		if (!isfinite(y[i]))
			continue;
		int c = (int)lround((x[i] - xlo) / (xhi - xlo) * (width - 1));
		int r = (int)lround((yhi - y[i]) / (yhi - ylo) * (height - 1));
		grid[r][c] = '*';
	}
	fprintf(f, "%s\n", title);
	for (int r = 0; r < height; r++) {
		double v = yhi - (yhi - ylo) * r / (height - 1);
		if (r == 0 || r == height - 1 || r == height / 2)
			fprintf(f, "%9.4f |%s\n", v, grid[r]);
		else
			fprintf(f, "%9s |%s\n", "", grid[r]);
	}
	fprintf(f, "%9s +", "");
	for (int c = 0; c < width; c++)
		fputc('-', f);
	fprintf(f, "\n%9s  %-*.0f%*.0f\n", "", width / 2, xlo, width - width / 2, xhi);
}
