/* progress.h: progress lines on stderr for long work, and the terminal loss
 * plot. Owns when to speak: quiet unless stderr is a terminal or the caller
 * forces it. Never writes to stdout (stdout carries --json contracts). */
#ifndef KARPA_PROGRESS_H
#define KARPA_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

#define PROGRESS_INTERVAL_MS 500.0 /* twice a second is readable and cheap */

struct progress {
	int enabled;
	int tty;          /* redraw one line with \r; else one line per report */
	int64_t total;
	double t0_ms, last_ms;
	const char *what; /* "train", "eval" */
};

double progress_now_ms(void); /* monotonic clock */
/* Enabled when stderr is a terminal, or when force is set. */
void progress_init(struct progress *p, const char *what, int64_t total, int force);
/* Prints "<what> step 12/300 loss 4.1234 lr 3.0e-04 5120 tok/s ETA 0:42"
 * at most every PROGRESS_INTERVAL_MS (and always for the last step). */
void progress_step(struct progress *p, int64_t done, double loss, double lr, double tok_per_s);
void progress_done(struct progress *p);

/* Draws y against x as a width x height character plot with axis labels. */
void progress_plot(FILE *f, const char *title, const double *x, const double *y, int n, int width,
		   int height);

#endif
