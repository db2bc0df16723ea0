/* search.c: the built-in proposer (search.h). */
#include "miner/search.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util/rng.h"

static int ok_row(const struct journal_row *r)
{
	return isfinite(r->val_bpb) && strcmp(r->status, "crash");
}

/* The king's own run on a rung that finished (NULL while none has), and
 * in *crashed how many crashed in rows from index since on: a baseline
 * that crashed (a full disk, a killed run) is run again, or every later
 * point would be scored against no baseline at all and discarded. */
static const struct journal_row *baseline(const struct journal *j, const char *commit, const char *rung,
					  size_t since, int *crashed)
{
	int n = 0;

	for (size_t i = 0; i < j->n; i++) {
		const struct journal_row *r = &j->rows[i];

		if (strcmp(r->commit, commit) || strcmp(r->rung, rung) || strcmp(r->point, "king"))
			continue;
		if (ok_row(r)) {
			if (crashed)
				*crashed = n;
			return r;
		}
		n += i >= since;
	}
	if (crashed)
		*crashed = n;
	return NULL;
}

double search_short_base(const struct journal *j, const char *commit)
{
	const struct journal_row *r = baseline(j, commit, "short", 0, NULL);

	return r ? r->val_bpb : NAN;
}

double search_king_bpb(const struct journal *j, const struct search_king *k)
{
	const struct journal_row *r;

	if (isfinite(k->public_bpb))
		return k->public_bpb;
	r = baseline(j, k->commit, "full", 0, NULL);
	return r ? r->val_bpb : NAN;
}

void search_best(const struct journal *j, const struct search_king *k, struct knob_point *best, double *bpb)
{
	struct kerr err;

	memset(best, 0, sizeof *best);
	*bpb = search_king_bpb(j, k);
	for (size_t i = 0; i < j->n; i++) {
		const struct journal_row *r = &j->rows[i];
		struct knob_point p;
		if (strcmp(r->commit, k->commit) || strcmp(r->rung, "full") || !ok_row(r) || !(r->val_bpb < *bpb) ||
		    knob_point_parse(r->point, &p, &err) < 0)
			continue;
		*best = p;
		*bpb = r->val_bpb;
	}
}

/* An arm is one knob moved one way: lowering the steps teaching nothing
 * about raising them is why the search learns per direction, not per knob. */
#define ARMS (2 * KNOB_COUNT)

static int arm(enum knob_id k, int dir)
{
	return 2 * (int)k + (dir > 0);
}

/* What an arm is worth before anything was measured on it. Raising the
 * steps spends budget headroom the recipe leaves unused (PROTOCOL 4.3: the
 * budget is a ceiling, the recipe declares its length), and at a fixed
 * model size more tokens are the most reliable gain that training-length
 * studies report; every other arm starts level, in the seed's order. */
static double arm_prior(int a)
{
	return a == arm(KNOB_STEPS, 1) ? SEARCH_PRIOR_STEPS : 0.0;
}

/* What the runs taught, per arm, on any king (directions read against the
 * current king's values). A full run's gain over its king's full score,
 * less the margin, is the better evidence: short runs flatter whatever
 * learns fast early (a higher learning rate), so an arm with full runs is
 * scored by them, otherwise by its short runs' mean gain over their king's
 * short baseline. A crash teaches as much as a bad result. */
static void learn(const struct journal *j, const struct search_king *k, double score[ARMS], int tries[ARMS])
{
	double sum_s[ARMS] = { 0 }, sum_f[ARMS] = { 0 };
	int n_s[ARMS] = { 0 }, n_f[ARMS] = { 0 };
	struct kerr err;

	for (size_t i = 0; i < j->n; i++) {
		const struct journal_row *r = &j->rows[i];
		int full = !strcmp(r->rung, "full");
		const struct journal_row *kr = baseline(j, r->commit, r->rung, 0, NULL);
		double base = full && !strcmp(r->commit, k->commit) ? search_king_bpb(j, k) : (kr ? kr->val_bpb : NAN);
		struct knob_point p;
		if (!strcmp(r->point, "king") || knob_point_parse(r->point, &p, &err) < 0)
			continue;
		for (int s = 0; s < p.n; s++) {
			int a = arm(p.set[s].k, p.set[s].v > k->king->v[p.set[s].k] ? 1 : -1);
			double gain = ok_row(r) && isfinite(base) ? base - r->val_bpb : -1.0;
			if (full) {
				sum_f[a] += gain - k->margin;
				n_f[a]++;
			} else {
				sum_s[a] += gain;
				n_s[a]++;
			}
		}
	}
	for (int a = 0; a < ARMS; a++) {
		tries[a] = n_s[a] + n_f[a];
		score[a] = n_f[a] ? sum_f[a] / n_f[a] : n_s[a] ? sum_s[a] / n_s[a] : arm_prior(a);
	}
}

static void fill(struct proposal *p, const struct knob_point *point, const struct knob_values *king, int is_short,
		 const char *why)
{
	memset(p, 0, sizeof *p);
	p->point = *point;
	p->run = *point;
	if (is_short)
		knob_point_shorten(&p->run, king, SEARCH_SHORT_DIV);
	snprintf(p->rung, sizeof p->rung, "%s", is_short ? "short" : "full");
	knob_point_format(point, p->point_s, sizeof p->point_s);
	snprintf(p->why, sizeof p->why, "%s", why);
}

int search_next(uint64_t seed, const struct journal *j, const struct search_king *k, search_skip_fn skip,
		void *skip_arg, struct proposal *p)
{
	struct knob_point best, empty = { 0 };
	double best_bpb, base = search_short_base(j, k->commit), score[ARMS], key[ARMS], promo = INFINITY;
	int tries[ARMS], order[ARMS], promo_i = -1;
	struct kerr err;
	char why[256];
	const char *rung = "full";
	int crashed;

	/* 0. No public score from the validator: the king's own full run. */
	if (!isfinite(k->public_bpb) && !baseline(j, k->commit, "full", k->since, &crashed)) {
		if (crashed >= SEARCH_BASELINE_TRIES)
			goto baseline_failed;
		fill(p, &empty, k->king, 0, "the validator has no public score for the king: its own full run");
		return 1;
	}
	/* 1. The king's own short run: what screened points are compared with. */
	rung = "short";
	if (!baseline(j, k->commit, "short", k->since, &crashed)) {
		if (crashed >= SEARCH_BASELINE_TRIES)
			goto baseline_failed;
		fill(p, &empty, k->king, 1,
		     crashed ? "the king's short run again: it crashed" :
			       "the king's short run: the baseline screened points must beat");
		return 1;
	}
	/* 2. Promote the best screened point that beat the baseline and has
	 *    no full run yet. */
	for (size_t i = 0; isfinite(base) && i < j->n; i++) {
		const struct journal_row *r = &j->rows[i];
		if (!strcmp(r->commit, k->commit) && !strcmp(r->rung, "short") && strcmp(r->point, "king") && ok_row(r) &&
		    r->val_bpb < base && r->val_bpb < promo && !journal_find(j, k->commit, "full", r->point)) {
			promo = r->val_bpb;
			promo_i = (int)i;
		}
	}
	if (promo_i >= 0) {
		struct knob_point pt;
		if (knob_point_parse(j->rows[promo_i].point, &pt, &err) == 0 && knob_point_check(&pt, k->king, &err) == 0) {
			snprintf(why, sizeof why, "promoted: its short run %.4f beat the king's %.4f", promo, base);
			fill(p, &pt, k->king, 0, why);
			return 1;
		}
	}
	/* 3. The next untried neighbour of the best point, arms in the order
	 *    of what they taught (untried arms by their prior, then the seed). */
	search_best(j, k, &best, &best_bpb);
	learn(j, k, score, tries);
	for (int a = 0; a < ARMS; a++) {
		double jitter = (double)(rng_stream(seed, "miner search order", (uint64_t)a) >> 11) / 9007199254740992.0;
		key[a] = score[a] + 1e-6 * jitter;
		order[a] = a;
	}
	for (int a = 1; a < ARMS; a++)
		for (int b = a; b > 0 && key[order[b]] > key[order[b - 1]]; b--) {
			int t = order[b];
			order[b] = order[b - 1];
			order[b - 1] = t;
		}
	for (int i = 0; i < ARMS; i++) {
		enum knob_id kn = (enum knob_id)(order[i] / 2);
		int dir = order[i] % 2 ? 1 : -1;
		double v = knob_point_value(&best, k->king, kn), nv = knob_step_in(kn, v, dir, k->king);
		struct knob_point cand = best;
		char s[256];
		if (!k->king->avail[kn] || nv == v)
			continue;
		knob_point_with(&cand, k->king, kn, nv);
		if (knob_point_check(&cand, k->king, &err) < 0 || knob_point_format(&cand, s, sizeof s) < 0 ||
		    journal_find(j, k->commit, "short", s) || (skip && skip(skip_arg, &cand)))
			continue;
		snprintf(why, sizeof why, "%s %s from the best point (%s; %s %+.4f)", knob_get(kn)->name,
			 dir > 0 ? "up" : "down", best.n ? "improved" : "the king",
			 tries[order[i]] ? "learned" : "prior", score[order[i]]);
		fill(p, &cand, k->king, 1, why);
		return 1;
	}
	return 0;
baseline_failed:
	memset(p, 0, sizeof *p);
	snprintf(p->why, sizeof p->why,
		 "the king's own %s run crashed %d times since this start: nothing can be scored against it (its"
		 " rows in results.tsv say why; a start after the trouble is mended tries it again)",
		 rung, crashed);
	return -1;
}
