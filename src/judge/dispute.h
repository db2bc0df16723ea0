/* dispute.h: where a replay disagrees (docs/dispute.md). Owns the search
 * for the first segment of a proof whose replay differs from its log (a
 * few steps of every segment, then a bisection over the kept checkpoints
 * with whole segments), the traced replay of that segment from its kept
 * checkpoint through the first step whose logged result differs, and the
 * trace document that the other party answers with the same segment
 * replayed on its machine (trace_compare then names the first tensor,
 * layer and operation that differ). The recipe runs in the sandbox, as in
 * a judgment; nothing here writes into the validator's state. */
#ifndef KARPA_DISPUTE_H
#define KARPA_DISPUTE_H

#include <stdint.h>

#include "judge/trace.h"
#include "util/kerr.h"

struct dispute_opts {
	const char *bundle;      /* directory or .tar */
	const char *recipe_repo; /* holds the bundle's king tag (a validator's STATE/recipe, a miner's clone) */
	const char *data;        /* the public data folder the proof trained on */
	const char *side;        /* recorded in the trace: "validator", "miner", ... */
	int threads;
	int segment;             /* -1: search for the first segment that disagrees */
	int64_t to_step;         /* -1: trace through the first step that disagrees with the log;
				    else through this step whatever it gives (answering a request) */
	const char *trace_out;   /* where the trace is written; NULL: not written */
	int progress;            /* one line per replay on stderr */
	const char *held;        /* where the miner's held checkpoints are (BUNDLE.held; NULL:
				    none): a dispute may replay any segment, so it takes all */
};

#define DISPUTE_CHECKED_MAX 512

struct dispute_report {
	char manifest[HASH_HEX_BYTES];
	int nseg;
	int64_t steps;                        /* the proof's */
	char checked[DISPUTE_CHECKED_MAX];    /* the search's replays: "seg:steps:agree|differ ..." */
	int replays;                          /* replays the search ran */
	int agrees;                           /* no replay run disagreed with the log */
	int segment;                          /* the segment traced (-1: none) */
	int64_t from_step, to_step;           /* traced steps from_step .. to_step-1 */
	int64_t mismatch_step;                /* first step that differs from the log; -1 none */
	char mismatch_what[16];               /* "loss", "lr", "loss+lr", "digest" */
	char mismatch_msg[KERR_MSG_MAX];
	int trace_steps;
	double wall_s;
};

/* Codes: dispute.data_mismatch (data is not the proof's), dispute.king
 * (the repository lacks the bundle's king or it names another commit),
 * dispute.bad_opts, and what taking, verifying, building and replaying
 * give (bundle.*, judge.*, recipe.*, sandbox.*, replay.*). A replay that
 * differs from the log is not an error: it is the report's finding. */
int dispute_run(const struct dispute_opts *o, struct dispute_report *r, struct kerr *err);

/* Whether a verdict's reason code is a replay that parted from its log
 * (judge.replay_digest, _meta, _mismatch): what a dispute diagnoses, so both parties keep that
 * proof's bundle, which they drop after any other verdict. */
int dispute_subject(const char *reason_code);

#endif
