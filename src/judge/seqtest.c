/* seqtest.c: the sequential test's arithmetic (seqtest.h). */
#include "judge/seqtest.h"

#include <math.h>

#include "util/rng.h"

/* Intrinsic time of the remaining-mean martingale after t of N draws, per
 * unit variance of a window: drawing one of the m windows left moves the
 * remaining mean by (mean - y) / (m - 1), so the variances add up to about
 * the sum of 1 / k^2 for k from N - t to N, that is t / (N (N - t)). */
static double vtime(uint64_t t, uint64_t N)
{
	return (double)t / ((double)N * (double)(N - t));
}

void seqtest_init(struct seqtest *q, uint64_t N, uint64_t bytes, double margin, double tail_king_nats,
		  double alpha)
{
	double l = 0, tune;
	uint64_t t_opt;

	q->N = N;
	q->to_bpb = bytes ? (double)N / (M_LN2 * (double)bytes) : NAN;
	q->threshold = -margin + (bytes ? tail_king_nats / (M_LN2 * (double)bytes) : INFINITY);
	q->alpha = alpha > 0 && alpha < 1 ? alpha : SEQTEST_BOUNDARY_ALPHA;
	q->t_min = N / SEQTEST_MIN_FRACTION > SEQTEST_MIN_WINDOWS ? N / SEQTEST_MIN_FRACTION : SEQTEST_MIN_WINDOWS;
	/* Mixture width for a boundary tightest near t_opt (Howard et al.'s
	 * rule of thumb: rho = v / (2 ln(1/alpha) + ln(1 + 2 ln(1/alpha)))). */
	t_opt = N / SEQTEST_TUNE_FRACTION > q->t_min ? N / SEQTEST_TUNE_FRACTION : q->t_min;
	if (t_opt >= N)
		t_opt = N > 1 ? N - 1 : 1;
	l = log(1 / q->alpha);
	tune = 2 * l + log(1 + 2 * l);
	q->rho = N > 1 ? vtime(t_opt, N) / tune : 1;
	q->t = 0;
	q->mean = q->m2 = 0;
}

void seqtest_add(struct seqtest *q, double delta_nats)
{
	double y = delta_nats * q->to_bpb, d = y - q->mean;

	q->t++;
	q->mean += d / (double)q->t;
	q->m2 += d * (y - q->mean);
}

double seqtest_estimate(const struct seqtest *q)
{
	return q->t ? q->mean : NAN;
}

double seqtest_lower(const struct seqtest *q)
{
	double sd, v, u;

	if (q->t < 2 || q->t >= q->N)
		return q->t >= q->N && q->N ? q->mean : -INFINITY;
	sd = sqrt(q->m2 / (double)(q->t - 1));
	v = vtime(q->t, q->N);
	u = sqrt(2 * (v + q->rho) * log(sqrt((v + q->rho) / q->rho) / q->alpha));
	/* S_t - t mu = (N - t) Z_t: the bound on Z, back on the mean. */
	return q->mean - sd * u * (double)(q->N - q->t) / (double)q->t;
}

int seqtest_stop(const struct seqtest *q)
{
	double lo;

	if (q->t < q->t_min || q->t >= q->N)
		return 0;
	lo = seqtest_lower(q);
	return isfinite(lo) && lo > q->threshold;
}

void seqtest_order(uint32_t *p, size_t n, uint64_t seed)
{
	struct rng g;

	for (size_t i = 0; i < n; i++)
		p[i] = (uint32_t)i;
	rng_init(&g, seed, "window order", 0);
	for (size_t i = n; i > 1; i--) {
		size_t k = (size_t)rng_below(&g, i);
		uint32_t t = p[i - 1];
		p[i - 1] = p[k];
		p[k] = t;
	}
}
