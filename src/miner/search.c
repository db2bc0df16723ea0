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

static double short_base(const struct journal *j, const char *commit)
{
	const struct journal_row *r = journal_find(j, commit, "short", "king");

	return r && ok_row(r) ? r->val_bpb : NAN;
}

double search_king_bpb(const struct journal *j, const struct search_king *k)
{
	const struct journal_row *r;

	if (isfinite(k->public_bpb))
		return k->public_bpb;
	r = journal_find(j, k->commit, "full", "king");
	return r && ok_row(r) ? r->val_bpb : NAN;
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

/* What the short runs taught, per knob: the mean improvement over the
 * king's short baseline of the screened points that set it, on any king. */
static void learn(const struct journal *j, double score[KNOB_COUNT], int tries[KNOB_COUNT])
{
	struct kerr err;

	memset(score, 0, KNOB_COUNT * sizeof *score);
	memset(tries, 0, KNOB_COUNT * sizeof *tries);
	for (size_t i = 0; i < j->n; i++) {
		const struct journal_row *r = &j->rows[i];
		double base = short_base(j, r->commit);
		struct knob_point p;
		if (strcmp(r->rung, "short") || !strcmp(r->point, "king") || knob_point_parse(r->point, &p, &err) < 0)
			continue;
		for (int s = 0; s < p.n; s++) {
			/* A crash teaches as much as a bad result. */
			score[p.set[s].k] += ok_row(r) && isfinite(base) ? base - r->val_bpb : -1.0;
			tries[p.set[s].k]++;
		}
	}
	for (int k = 0; k < KNOB_COUNT; k++)
		if (tries[k])
			score[k] /= tries[k];
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
	double best_bpb, base = short_base(j, k->commit), score[KNOB_COUNT], key[KNOB_COUNT], promo = INFINITY;
	int tries[KNOB_COUNT], order[KNOB_COUNT], promo_i = -1;
	struct kerr err;
	char why[256];

	/* 0. No public score from the validator: the king's own full run. */
	if (!isfinite(k->public_bpb) && !journal_find(j, k->commit, "full", "king")) {
		fill(p, &empty, k->king, 0, "the validator has no public score for the king: its own full run");
		return 1;
	}
	/* 1. The king's own short run: what screened points are compared with. */
	if (!journal_find(j, k->commit, "short", "king")) {
		fill(p, &empty, k->king, 1, "the king's short run: the baseline screened points must beat");
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
	/* 3. The next untried neighbour of the best point, knobs in the order
	 *    of what they taught (untried knobs in a seeded random order). */
	search_best(j, k, &best, &best_bpb);
	learn(j, score, tries);
	for (int i = 0; i < KNOB_COUNT; i++) {
		double jitter = (double)(rng_stream(seed, "miner search order", (uint64_t)i) >> 11) / 9007199254740992.0;
		key[i] = (tries[i] ? score[i] : 0.0) + 1e-6 * jitter;
		order[i] = i;
	}
	for (int a = 1; a < KNOB_COUNT; a++)
		for (int b = a; b > 0 && key[order[b]] > key[order[b - 1]]; b--) {
			int t = order[b];
			order[b] = order[b - 1];
			order[b - 1] = t;
		}
	for (int i = 0; i < KNOB_COUNT; i++) {
		enum knob_id kn = (enum knob_id)order[i];
		double v = knob_point_value(&best, k->king, kn);
		/* The direction first that the seed prefers; a move that helped
		 * is followed further from the new centre. */
		int first = (rng_stream(seed, "miner search direction", (uint64_t)kn) & 1) ? 1 : -1;
		if (!k->king->avail[kn])
			continue;
		for (int d = 0; d < 2; d++) {
			int dir = d ? -first : first;
			double nv = knob_step_in(kn, v, dir, k->king);
			struct knob_point cand = best;
			char s[256];
			if (nv == v)
				continue;
			knob_point_with(&cand, k->king, kn, nv);
			if (knob_point_check(&cand, k->king, &err) < 0 || knob_point_format(&cand, s, sizeof s) < 0 ||
			    journal_find(j, k->commit, "short", s) || (skip && skip(skip_arg, &cand)))
				continue;
			snprintf(why, sizeof why, "%s %s from the best point (%s, learned score %+.4f)",
				 knob_get(kn)->name, dir > 0 ? "up" : "down", best.n ? "improved" : "the king",
				 tries[kn] ? score[kn] : 0.0);
			fill(p, &cand, k->king, 1, why);
			return 1;
		}
	}
	return 0;
}
