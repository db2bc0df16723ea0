/* prove.h: the proof test, miner side (PROTOCOL 4). Owns the sequence
 * patch -> build -> calibrate -> train -> calibrate -> budget -> bundle ->
 * the judge's plausibility check on it -> pack -> rename, and
 * the promise that a failed proof leaves no bundle behind. Runs the
 * recipe in a child process through the runner, sandboxed unless told not
 * to (sandbox/runbox.h): the king's code is not the miner's own. */
#ifndef KARPA_PROVE_H
#define KARPA_PROVE_H

#include <stdint.h>

#include "harness/calibrate.h"
#include "harness/gpucalib.h"
#include "util/hash.h"
#include "util/kerr.h"

#define PROVE_SEED_DEFAULT 1        /* the protocol's fixed seed; validators may challenge with another */
#define PROVE_RATIONALE_BYTES_MAX (64u << 10)

struct prove_opts {
	const char *recipe_repo;  /* canonical recipe repository (git) */
	const char *king;         /* tag, e.g. recipe-v0.1.0 */
	const char *patch;        /* unified diff file (non-empty: patch.empty otherwise) */
	const char *rationale;    /* text file */
	const char *key;          /* miner key file */
	const char *data;         /* miner data folder */
	const char *scale;
	const char *out;          /* bundle directory */
	const char *tar;          /* optional: also write the transport ustar here */
	uint64_t seed;
	int threads;
	double budget_units;      /* 0: the scale's budget */
	int progress;
	int force_mock;           /* attestation: skip hardware detection */
	const char *tsm_root;     /* attestation: configfs-tsm root override (tests) */
	const char *runner_isa;   /* NULL: this machine's; else build the runner for this ISA and
				     run it under its emulator (recipe_build_isa) */
	int cuda;                 /* train on this machine's GPU with the recipe's CUDA part
				     (recipe_build_cuda); required at the gpu-* scales */
	/* Intermediate checkpoints held back from the bundle (docs/bundle.md,
	 * "Held checkpoints"): 1 holds all but the last (where the final
	 * segment starts) in OUT.held/, which the miner keeps until the
	 * verdict and hands to a validator on request; 0 keeps every one in
	 * the bundle; -1 (PROVE_HOLD_BY_SCALE) holds at the gpu-* scales. */
	int hold;
	int no_sandbox;           /* run the recipe unconfined (runbox.h) */
};
#define PROVE_HOLD_BY_SCALE (-1)
/* OUT.held, beside a bundle directory OUT: the held checkpoints, under
 * the names the bundle would give them (checkpoints/step_NNNNNN.ckpt). */
#define PROVE_HELD_SUFFIX ".held"

struct prove_result {
	char manifest_sha256[HASH_HEX_BYTES];
	char attest_kind[32];
	double val_bpb;
	int64_t steps;
	/* allowed_s: what the budget gives this proof's training at its tier,
	 * the calibrated allowance times alpha (PROTOCOL 4: an unverified
	 * proof's compute counts double) */
	double train_s, allowed_s, wall_s;
	double alpha; /* the tier this machine's evidence earns (attest_kind_alpha) */
	struct calib before, after;            /* a CPU proof's calibrations: the fixed SGEMM */
	struct gpucalib gpu_before, gpu_after; /* a GPU proof's (--device cuda): the GPU calibration */
	int held;                              /* intermediate checkpoints in OUT.held (0: none) */
	char sandbox[320];                     /* how the recipe ran (runbox_describe) */
};

int prove_run(const struct prove_opts *o, struct prove_result *r, struct kerr *err);

#endif
