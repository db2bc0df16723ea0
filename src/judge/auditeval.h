/* auditeval.h: scoring a split with an untrusted recipe's checkpoint the
 * way a validator must. Owns the pairing of the evaluator (evaluate.h) with
 * the causality audit riding on its calls (causality.h): a window order the
 * caller draws from its secret, the probed calls recorded as they are
 * scored, and their twins answered by a second fresh child only after the
 * last scoring call. The judgment's hidden evaluation (hidden.c) and the
 * noise floor's (validator/noise.c) both score through here, so the run
 * that records a king's score and the hidden losses challengers are paired
 * with is held to what a challenger's judgment is, and looks the same to
 * the recipe. */
#ifndef KARPA_AUDITEVAL_H
#define KARPA_AUDITEVAL_H

#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"
#include "harness/evaluate.h"
#include "sandbox/recipe_host.h"
#include "util/kerr.h"

/* A 64-bit draw keyed by key (the validator secret) and bound to `bound`
 * (a bundle's manifest digest, a king's tag and seed) under `context`: a
 * recipe cannot know it in advance. Both strings at most 192 bytes. */
uint64_t auditeval_keyed_seed(const uint8_t *key, size_t key_len, const char *context, const char *bound);

/* The causality audit's twin child. start makes h a fresh child with the
 * same checkpoint loaded (filling plan); it is called only when the first
 * twin is due, after the scoring. h is zeroed until then; the caller
 * destroys it either way. */
struct auditeval_twin {
	int (*start)(void *arg, struct recipe_host *h, struct kr_plan *plan, struct kerr *err);
	void *arg;
	struct recipe_host h;
	struct kr_plan plan;
};

struct auditeval_opts {
	int threads;
	uint64_t targets_max;
	uint64_t audit_seed;             /* which calls are probed, and how */
	const uint32_t *order;           /* NULL: split order (evaluate.h) */
	const struct eval_stopper *stop; /* NULL: score every window */
	double *target_nats;             /* NULL, or one per scored target */
	int tail_always;
	/* Aimed probes (causality.h) after a scoring of every window, drawn
	 * from target_nats against ref_nats: 0 none, else how many. Needs a
	 * twin and target_nats. */
	int aimed;
	const double *ref_nats; /* the king's loss per target, split order, or NULL */
};

/* What the audit checked, all of it passed. */
struct auditeval_audited {
	int probes; /* drawn probes: every scoring call drawn that was made */
	int aimed;  /* aimed probes */
	int aimed_calls; /* the twin calls they took */
	double aimed_s;  /* and their wall seconds */
};

/* Scores split of d on h (a checkpoint loaded, plan filled). With twin,
 * the causality audit runs on the scoring calls, then its aimed probes
 * when o->aimed and nothing stopped the scoring, and *au says how many
 * probes it checked (all it was due: judge.causality otherwise, or when a
 * twin's answer differs); without, the split is only scored. On a failure *failed
 * names the host whose child failed (h or &twin->h) for the caller's
 * sandbox_explain, or NULL when no child did (judge.causality, eval.*). */
int auditeval_split(struct recipe_host *h, struct auditeval_twin *twin, const struct kr_plan *plan,
		    const struct dataset *d, enum dataset_split_id split, const struct auditeval_opts *o,
		    struct eval_result *res, struct auditeval_audited *au, struct recipe_host **failed,
		    struct kerr *err);

#endif
