/* search.h: the built-in proposer (`--proposer search`, docs/miner.md, "The
 * search"). Owns which point of the knob space is tried next: a coordinate
 * search around the best point found so far on the current king, screened
 * by short runs (the recipe's steps divided by SEARCH_SHORT_DIV) against the
 * king's own short run, and full runs only for the screened points that beat
 * it (successive halving with two rungs). It learns from its own results:
 * arms (a knob moved one way) whose moves helped (full runs when there are
 * any, else short runs, on any king) are tried first, a
 * full run that improves on the king moves the centre of the search there,
 * and the state is rebuilt from the journal, so a restarted miner goes on
 * where it was. Never trains nor talks to a validator: the caller's skip
 * callback says what the validator's corpus already judged. */
#ifndef KARPA_MINER_SEARCH_H
#define KARPA_MINER_SEARCH_H

#include <stdint.h>

#include "miner/journal.h"
#include "miner/knobs.h"

#define SEARCH_SHORT_DIV 4
/* The prior gain of an untried "steps up" (search.c, arm_prior). */
#define SEARCH_PRIOR_STEPS 0.01
#define SEARCH_BASELINE_TRIES 3

struct search_king {
	const char *commit;             /* the king commit (journal rows carry it) */
	const struct knob_values *king; /* its knob values */
	double public_bpb;              /* the king's public val_bpb (from the validator) */
	double margin;                  /* the validator's noise margin (0 when unknown) */
	size_t since;                   /* journal rows from this index on are this start's: only
					   their crashed baselines count (SEARCH_BASELINE_TRIES) */
};

/* 1: skip p (the corpus judged it not decisive on this king). */
typedef int (*search_skip_fn)(void *arg, const struct knob_point *p);

struct proposal {
	struct knob_point point; /* the idea: what a full run and a proof use */
	struct knob_point run;   /* what this experiment trains (point, or its short variant) */
	char rung[8];            /* short | full */
	char point_s[256];       /* knob_point_format(point): the journal's key */
	char why[256];           /* one line: why the search picked it */
};

/* Fills *p with the next experiment: the king's short baseline first, then
 * the best screened point's full run, then the next untried neighbour of the
 * best point. Returns 1, or 0 when no untried neighbour is left, or -1
 * (p->why says so) when the king's own baseline run crashed
 * SEARCH_BASELINE_TRIES times since k->since: a baseline that crashed is
 * run again, but one that always does is this machine's trouble, not a
 * point's, until the miner starts again. */
int search_next(uint64_t seed, const struct journal *j, const struct search_king *k, search_skip_fn skip,
		void *skip_arg, struct proposal *p);
/* The king's own short run's val_bpb, the first that finished (NAN while
 * none has): what screened points are compared with. */
double search_short_base(const struct journal *j, const char *commit);
/* The king's public val_bpb: the validator's, else the journal's full run
 * of the king (NAN when neither). */
double search_king_bpb(const struct journal *j, const struct search_king *k);
/* The best full-run point on this king (the empty point when none beats the
 * king's public val_bpb) and its val_bpb (the king's when none). */
void search_best(const struct journal *j, const struct search_king *k, struct knob_point *best, double *bpb);

#endif
