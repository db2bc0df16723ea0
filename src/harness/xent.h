/* xent.h: the evaluator's cross-entropy of one scored position, the number
 * every val_bpb is a sum of. Owns its definition to the bit and the vector
 * paths that reproduce it:
 *
 *   m = max_v l[v];  s = sum over v = 0, 1, ..., V-1 in that order of
 *   kexp((double)l[v] - m), added one by one in double;
 *   nats = (m - (double)l[target]) + klog(s)
 *
 * (the margin below the max first: both terms are >= 0, so rounding can
 * only overstate a loss; m + klog(s) - l rounds to 0 for logits near
 * 2^57, a uniform prediction scored as a perfect one)
 * (kexp and klog are kmath's fixed operation sequences, recipe/kmath.h).
 * The sum's order is part of the definition, so no path may reassociate
 * it: the vector paths compute the exponentials of one position several
 * lanes at a time and interleave the sums of up to XENT_BLOCK positions,
 * each of which still adds its own terms one by one in v order. Every path
 * gives the scalar path's bits (tests/test_xent.c); which one runs is
 * chosen at run time from what the CPU has. */
#ifndef KARPA_XENT_H
#define KARPA_XENT_H

#include <stdint.h>

/* Positions whose sums are interleaved: eight independent add chains keep
 * a core's adders busy where one chain waits on each add's latency. */
#define XENT_BLOCK 8

enum xent_path {
	XENT_SCALAR = 0, /* plain C, any CPU: the reference */
	XENT_AVX2,       /* 4 doubles a lane group (x86-64 with AVX2) */
	XENT_AVX512,     /* 8 doubles a lane group (x86-64 with AVX-512F) */
};

/* nats[i] for positions i < n, position i's V logits at lg + i * V and its
 * target tg[i] < V. Returns 0, or -1 when a logit of some position is not
 * finite (nats is then unspecified). Thread-safe. */
int xent_positions(const float *lg, const uint16_t *tg, int n, int V, double *nats);

/* The path xent_positions uses: the widest this CPU runs, unless forced. */
enum xent_path xent_path(void);
const char *xent_path_name(enum xent_path p);
/* Whether this CPU (and this build) can run p. */
int xent_path_available(enum xent_path p);
/* Makes xent_positions use p (tests and benchmarks compare the paths).
 * Returns -1, changing nothing, when p is not available. Not thread-safe:
 * call it before any evaluation runs. */
int xent_force(enum xent_path p);

/* out[i] = kmath's kexp(x[i]) computed by path p's exp (lane by lane, so
 * tests can hold every lane to the scalar bits). Returns -1 when p is not
 * available. */
int xent_exp_array(enum xent_path p, const double *x, int n, double *out);

#endif
