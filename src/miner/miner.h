/* miner.h: the miner's loop (`karpa miner run`, docs/miner.md, "The loop").
 * Owns the sequence king -> propose -> train locally -> keep or discard ->
 * prove -> submit -> verdict -> (challenge: prove again with its seed,
 * submit) and the work folder's king checkout. The knobs, the journal, the
 * search and the external agent are their own files; proving and training are the library's
 * (prove.h, train.h), the transfer net/client.h's. */
#ifndef KARPA_MINER_H
#define KARPA_MINER_H

#include <stdint.h>

#include "util/kerr.h"

struct miner_opts {
	const char *validator; /* base URL */
	const char *key;       /* miner key file */
	const char *work;      /* work folder */
	const char *data;      /* the public data folder of the validator's scale */
	int experiments;       /* stop after this many new experiments (0: no limit) */
	double minutes;        /* stop starting experiments after this long (0: no limit) */
	uint64_t seed;         /* the search's seed (tie-breaks), not the training seed */
	int threads;
	int progress;          /* training progress lines */
	double verdict_timeout_s; /* how long to follow one submission */
	const char *proposer;  /* "search" (built in) or "agent" */
	const char *agent;     /* the agent's command line (sh -c), with proposer "agent" */
	int agent_timeout_s;   /* how long one proposal may take */
	const char *program;   /* the agents' instructions (docs/program.md), sent as text */
	int hold;              /* proofs hold their checkpoints back (prove_opts.hold): 1 always,
				  0 never, PROVE_HOLD_BY_SCALE (-1, the default) at the gpu-* scales */
	int no_sandbox;        /* trials and proofs run the recipe unconfined (sandbox/runbox.h) */
};

struct miner_stats {
	int run, kept, crashed, submitted, kings;
	int exhausted; /* the search had nothing left to try */
	/* Wall seconds of this run: short runs and baselines (trained only
	 * here), full runs (each one a proof at the protocol seed) and challenge
	 * answers (the only proofs that are not also experiments). */
	double train_s, prove_s, challenge_s;
};

int miner_run(const struct miner_opts *o, struct miner_stats *st, struct kerr *err);

/* Whether this machine can mine at the king's scale: the gpu-* scales
 * train their trials and proofs on an NVIDIA GPU (miner.no_gpu without
 * one; gpu.info for a driver file that cannot be read). proc_root NULL:
 * "/proc". */
int miner_device_check(const char *scale, const char *proc_root, struct kerr *err);

#endif
