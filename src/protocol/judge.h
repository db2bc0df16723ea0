/* judge.h: a validator's judgment of one proof bundle (PROTOCOL 5, 6).
 * Owns the order of the checks (diff scan, attestation verify, log
 * plausibility, hidden eval with the causality audit, spot replay), stopping
 * at the first hard failure, what each cost, the verdict under the king rule
 * (with the challenge-seed confirmation), and recording it all in the
 * experiment corpus. Untrusted recipe code runs only in sandboxed children;
 * the loss is computed here, from the logits they return. */
#ifndef KARPA_JUDGE_H
#define KARPA_JUDGE_H

#include <stdint.h>

#include "protocol/expcorpus.h"
#include "protocol/vstate.h"
#include "util/kerr.h"

#define JUDGE_CHECKS 5
/* Public val_bpb recomputed by the validator may differ from the miner's
 * claim only by this much: bit-identical on the same machine class, and
 * within fp32 reduction-order noise across CPUs (docs/judging-checks.md). */
#define JUDGE_CLAIM_TOL 1e-4

/* The judgment's wall-clock deadline, fixed when the manifest is read
 * (docs/judging-checks.md, "The deadline"):
 *   deadline_s = FLOOR + FACTOR x min(results.train_s, TRAIN_CAP x budget_units)
 * The floor covers what does not scale with the proof (building the recipe,
 * the two evaluations at the tiny scale); the factor covers an honest
 * judgment's evaluations and replay with room for a loaded machine; the cap
 * keeps a claimed training time the budget could never allow from buying
 * time. Every sandboxed recipe call ends by it (judge.deadline), and each
 * call may also take at most deadline_s / CALL_DIVISOR (between CALL_MIN_S
 * and the sandbox's default per-call cap), from the deadline before the
 * operator's cap (judge_opts.deadline_s) shortens it. */
#define JUDGE_DEADLINE_FLOOR_S 120.0
#define JUDGE_DEADLINE_FACTOR 4.0
#define JUDGE_DEADLINE_TRAIN_CAP 10.0
#define JUDGE_CALL_DIVISOR 8.0
#define JUDGE_CALL_MIN_S 5.0

struct judge_opts {
	const char *bundle;   /* directory or .tar */
	int threads;
	int progress;
	double deadline_s;    /* the operator's cap on the computed deadline; 0: none */
};

struct judge_result {
	char id[EXPCORPUS_ID_BYTES];
	char verdict[EXPCORPUS_VERDICT_MAX];
	char code[KERR_CODE_MAX];   /* reason code of the verdict ("" when accepted) */
	char reason[KERR_MSG_MAX];
	struct expcorpus_check checks[JUDGE_CHECKS];
	int n_checks;
	double claimed_public_bpb, public_bpb, hidden_bpb, king_bpb, margin, improvement;
	uint64_t challenge_seed;    /* set with verdict challenge_pending */
	char challenge_of[EXPCORPUS_ID_BYTES];
	char new_king[RECIPEREPO_TAG_MAX];
	double judge_cpu_s, proof_cpu_s;
	double deadline_s;          /* the judgment's wall-clock deadline */
};

/* Judges one bundle and records the outcome. Returns 0 whenever a verdict
 * was reached and recorded (including rejections: see r->verdict and
 * r->code); -1 when nothing could be recorded: judge.unreadable (no
 * manifest to attribute the bundle to), judge.duplicate (the same bundle
 * again: a replay), king.no_noise_floor (measure it first), vstate.*. */
int judge_run(struct vstate *s, const struct judge_opts *o, struct judge_result *r, struct kerr *err);

#endif
