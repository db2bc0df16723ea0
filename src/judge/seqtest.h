/* seqtest.h: the sequential test of the hidden evaluation
 * (docs/judging-checks.md, "The sequential hidden evaluation"). Owns the
 * rule that stops scoring a candidate once it cannot be decisive: a
 * one-sided confidence sequence for the full split's paired difference
 * (candidate minus king, bpb), from windows drawn in a secret random order
 * without replacement. Pure arithmetic: it never sees a recipe.
 *
 * Population: the N full windows of the split. Window w contributes
 * y_w = delta_w * N / (ln 2 * B), delta_w its candidate-minus-king nats and
 * B the bytes of every scored target, so the mean of y over the N windows
 * is the full split's bpb difference over those windows. After t draws the
 * mean of the windows not yet drawn is a martingale; its normal-mixture
 * boundary (Robbins), in the intrinsic time of sampling without
 * replacement, with the windows' sample variance plugged in, gives a lower
 * bound that holds at every t at once with probability 1 - alpha. Owns
 * the permutation the windows are drawn in, given its seed, so that the
 * judge and the test's simulations draw the same kind of order. */
#ifndef KARPA_SEQTEST_H
#define KARPA_SEQTEST_H

#include <stddef.h>
#include <stdint.h>

#define SEQTEST_ALPHA 0.01           /* the chance a decisive candidate is stopped */
/* The level the boundary is computed at, by default: half the stated rate.
 * With the windows' sample variance plugged in, the boundary's level is an
 * approximation, and it is optimistic where the per-window differences are
 * skewed (an improvement held by a minority of windows: early draws that
 * miss them see too small a spread). On recorded real candidates the
 * boundary at 1% stopped one of them 1.05% of the time at exactly minus the
 * margin; at 0.5% every recorded pair stays at or under 0.7%
 * (tests/test_seqtest.c, docs/judging-checks.md). */
#define SEQTEST_BOUNDARY_ALPHA (SEQTEST_ALPHA / 2)
#define SEQTEST_MIN_WINDOWS 32       /* no stop before this many windows ... */
#define SEQTEST_MIN_FRACTION 16      /* ... nor before 1/16 of them */
#define SEQTEST_TUNE_FRACTION 8      /* the boundary is tightest near 1/8 of the split */

struct seqtest {
	uint64_t N;        /* windows in the population */
	double to_bpb;     /* N / (ln 2 * B) */
	double threshold;  /* stop once the lower bound on mean(y) exceeds it */
	double alpha, rho;
	uint64_t t_min;
	uint64_t t;        /* windows seen */
	double mean, m2;   /* Welford's running mean and sum of squares of y */
};

/* N full windows, B bytes of every scored target (the short last window's
 * included), the margin, and the king's nats on the short last window (0
 * when none): it is scored only at the end, so it counts as the largest
 * improvement it could hold. alpha <= 0: SEQTEST_BOUNDARY_ALPHA. */
void seqtest_init(struct seqtest *q, uint64_t N, uint64_t bytes, double margin, double tail_king_nats,
		  double alpha);
/* One window's candidate-minus-king nats. */
void seqtest_add(struct seqtest *q, double delta_nats);
/* The estimate of the full split's difference (bpb) and its lower bound. */
double seqtest_estimate(const struct seqtest *q);
double seqtest_lower(const struct seqtest *q);
/* 1 when the candidate cannot be decisive at the test's error rate. */
int seqtest_stop(const struct seqtest *q);

/* p[0..n-1]: a uniform permutation of 0..n-1 drawn from seed (a
 * Fisher-Yates shuffle on rng stream (seed, "window order", 0)). The judge
 * keys the seed by the validator secret (hidden.c, window_order). */
void seqtest_order(uint32_t *p, size_t n, uint64_t seed);

#endif
