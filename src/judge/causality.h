/* causality.h: the causality audit (PROTOCOL 5.4). Owns the probe that
 * changes the future of sampled sequences and requires the logits of their
 * past not to move by a single bit. Never computes a loss and never trusts
 * the recipe's answer beyond comparing it with its own earlier answer.
 *
 * Why bitwise: position t of a causal model must not read tokens after t at
 * all. Given the same weights, the same call shape and the same tokens
 * 0..t, every operation that produces position t's logits sees the same
 * operands in the same order, so its floats are identical, not merely close.
 * Any difference, however small, is information from the future (or from
 * another row) reaching position t, which is exactly the leak that would let
 * a recipe score better on the hidden split than it deserves. A tolerance
 * would let a recipe leak a little. The same argument makes an honest
 * recipe's rows independent of each other, so the audit also replaces every
 * other row of the call and catches a recipe that reads across rows (for
 * example the next evaluation window, whose first token is this window's
 * last target). */
#ifndef KARPA_CAUSALITY_H
#define KARPA_CAUSALITY_H

#include <stddef.h>
#include <stdint.h>

#include "sandbox/recipe_host.h"
#include "util/kerr.h"

/* Probes per audit. Each costs two logits calls shaped like one of the
 * evaluator's calls; four probes are a few percent of a hidden eval. */
#define CAUSALITY_PROBES 4
#define CAUSALITY_PROBES_MAX 64
#define CAUSALITY_PURPOSE "causality" /* rng_stream purpose: probe k draws from stream k */

struct causality_opts {
	int vocab_size;
	int T;         /* sequence length of the rows (plan.seq_len) */
	int call_rows; /* rows per logits call (plan.eval_batch): the audit's calls are
			  shaped like the evaluator's, so a recipe cannot tell them apart
			  by shape; halved like the evaluator's above EVAL_LOGITS_BYTES_MAX */
	int probes;    /* 0: CAUSALITY_PROBES */
	uint64_t seed; /* the validator's choice: which windows, rows, cut positions */
};

struct causality_report {
	int probes; /* probes run (all passed when the audit returns 0) */
	int calls;  /* logits calls made */
	int rows_per_call;
	int64_t positions_compared;
	int aimed;       /* aimed probes run (causality_watch_aim), all passed */
	int aimed_calls; /* twin calls they took */
	double aimed_s;  /* their wall seconds, the twin child's answers included */
	double wall_s; /* including the recipe's time in a pipe child */
	double cpu_s;  /* this process only: a pipe child's CPU is not in it */
};

/* Runs the audit. h has a checkpoint loaded; the unchanged rows go to h and
 * the changed ones to h_alt, which should be a second host with the same
 * checkpoint loaded (a fresh sandboxed child), so a recipe cannot memoise
 * its first answer and replay it for the shared prefix; h_alt may be NULL
 * (same host) where that attack is out of scope. tokens is a split the
 * validator holds.
 *
 * Probe k (rng_stream(seed, "causality", k)) takes call_rows consecutive
 * evaluation windows of T tokens, picks one probe row and a cut p (probe 0:
 * p = T-1 on a row that has a next row, so only the other rows change;
 * others: any row, p uniform in [0, T-2]), then
 * builds a second call where every token after p of the probe row and every
 * token of every other row is replaced by natural text from another window
 * (forced to differ from the original token). Logits of the probe row at
 * positions 0..p must be bit-identical. Reason codes: judge.causality
 * (naming probe, row, position and the largest difference),
 * causality.bad_shape, causality.too_short, causality.bad_token,
 * causality.nomem, recipe.* from the host. */
int causality_audit(struct recipe_host *h, struct recipe_host *h_alt, const struct causality_opts *o,
		    const uint16_t *tokens, size_t ntokens, struct causality_report *r, struct kerr *err);

/* ---- the audit inside the scored evaluation (what the judge runs) ---- */

/* The judge's audit rides on the hidden evaluation itself: the probed calls
 * ARE scoring calls, drawn by the validator's seed among the evaluation's
 * calls, so a recipe cannot answer the audit honestly and the scoring
 * dishonestly. For each probed call the watcher builds the twin (probe row
 * kept up to a cut p, everything after it and every other row replaced by
 * natural text from the same split) and sends it to h_alt, a second fresh
 * host with the same checkpoint that sees only twins; the scored logits of
 * the probe row at positions 0..p must equal the twin's bit for bit. The
 * host that scores has only ever seen the scored split, so nothing tells
 * it which split it is looking at.
 *
 * The twins run after the scoring (causality_watch_finish), not beside it:
 * a twin started or called between two scoring calls would lengthen that
 * gap, and a recipe that times its calls could then answer honestly until
 * it had counted the probes and leak on every call after them. During the
 * scoring the watcher only records what it needs: the twin's tokens and a
 * digest of each of the probe row's scored positions 0..p. */
struct causality_watch {
	struct recipe_host *h_alt;
	/* NULL, or called once before h_alt's first call and must make it
	 * ready (the judge starts the twin child only when a probe is due: an
	 * evaluation the sequential test stops early usually reaches none). */
	int (*start_alt)(void *arg, struct kerr *err);
	void *start_arg;
	int alt_started;
	struct causality_opts o;
	const uint16_t *tokens; /* the scored split: twins take their text from it */
	size_t ntokens;
	uint64_t *calls;        /* the probed call indexes, ascending */
	int nprobes, next;
	/* Per probe recorded during the scoring: its call, shape, row and cut,
	 * its twin's tokens (cap_tokens each) and the digest of each scored
	 * position 0..p of its probe row (o.T digests each). */
	struct causality_rec {
		uint64_t call;
		int rows, T, pr, p;
	} *rec;
	int recorded;
	uint16_t *twins;
	uint8_t *digests;
	float *lt;
	size_t cap_tokens;      /* rows x T the buffers hold */
	struct causality_report rep;
};

/* ---- aimed probes, after the scoring --------------------------------- */

/* The probes above are drawn before the scoring, so a recipe that leaks
 * the future on a fraction f of its rows passes them with odds (1-f)^4;
 * f of 1 to 4% already gains the margin. The aimed probes are drawn after
 * the scoring, where that gain shows: a leaked position's loss falls to
 * about nothing where the king's did not, so each probe draws one scored
 * position with weight (king's loss - candidate's loss)^2 there (zero where
 * the candidate is no better), cuts its window there and compares what
 * the scoring recorded for positions 0..cut with the twin's. What is
 * compared is each position's scored loss (xent.h, computed here from the
 * twin's logits against the original targets), bit for bit: the scoring
 * keeps every position's loss, so no digest of every call's logits is
 * needed, and a change the loss does not see scored nothing. Probes whose
 * windows sat at different rows of different calls share one twin call,
 * each at its own row: 64 probes cost about a dozen calls of 8 rows
 * (docs/judging-checks.md, "Aimed probes", sets out the odds). */
#define CAUSALITY_AIMED 64
#define CAUSALITY_AIMED_MAX 256
#define CAUSALITY_AIM_PURPOSE "causality-aim"
/* A gain above this many nats weighs as this much: a recipe cannot make
 * one absurd position (a loss near the float range) soak up every draw. */
#define CAUSALITY_GAIN_CAP 64.0

struct causality_aim {
	const double *nats;     /* the candidate's loss per scored target, split order (eval_opts.target_nats) */
	const double *ref_nats; /* the king's on the same targets, or NULL: then the gain is measured from the
				   candidate's own mean loss */
	const uint32_t *order;  /* the scoring's window order (NULL: split order) */
	size_t full;            /* full windows, every one scored */
	int rows;               /* rows per scoring call (evaluate_calls) */
	int probes;             /* 0: CAUSALITY_AIMED; never more than full */
};

/* ncalls and rows: evaluate_calls() for the split. o->call_rows is ignored
 * (the calls are the evaluator's). Codes: causality.bad_shape,
 * causality.nomem. */
int causality_watch_init(struct causality_watch *w, struct recipe_host *h_alt, const struct causality_opts *o,
			 uint64_t ncalls, int rows, const uint16_t *tokens, size_t ntokens, struct kerr *err);
/* The eval_observer callback (arg: the watch): records a probed call. */
int causality_watch_call(void *arg, uint64_t call, const uint16_t *in, int rows, int T, const float *logits,
			 struct kerr *err);
/* After the scoring: sends each recorded twin to h_alt (starting it first
 * with start_alt) and compares. judge.causality on a leak, naming the
 * probe, the split offset, the row and the first position that moved. */
int causality_watch_finish(struct causality_watch *w, struct kerr *err);
/* After causality_watch_finish, on an evaluation that scored every full
 * window: draws the aimed probes from rng_stream(seed, "causality-aim", 0)
 * and sends their twins to h_alt (starting it if no drawn probe did).
 * judge.causality names the probe, its window, row, cut and the first
 * position whose loss moved; causality.bad_shape, causality.nomem,
 * recipe.* from h_alt. rep.aimed and rep.aimed_calls say what ran. */
int causality_watch_aim(struct causality_watch *w, const struct causality_aim *a, struct kerr *err);
void causality_watch_free(struct causality_watch *w);

#endif
