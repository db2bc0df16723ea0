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

#include <jansson.h>

#include "harness/gpuinfo.h"
#include "proof/bundle.h"
#include "validator/expcorpus.h"
#include "validator/vstate.h"
#include "util/kerr.h"

#define JUDGE_CHECKS 5
/* Public val_bpb recomputed by the validator may differ from the miner's
 * claim only by this much: bit-identical on the same machine class, and
 * within fp32 reduction-order noise across CPUs (docs/judging-checks.md). */
#define JUDGE_CLAIM_TOL 1e-4
/* The share of the public split's windows a claim is first checked on when
 * the hidden evaluation ran to its end (a stopped one uses its own share):
 * the claim passes within the bound around that estimate, else the whole
 * split decides (docs/judging-checks.md, "The public claim"). A quarter
 * keeps a decisive judgment within PROTOCOL 5's 25% at the cpu scale. */
#define JUDGE_PUBLIC_SHARE 0.25
/* Segments a decisive candidate's binding replay draws from the validator's
 * secret besides the final one: with at least TRAIN_SEGMENTS_MIN segments,
 * final + 1 is at most 2/8 = 25% of the proof (PROTOCOL 5's cpu-scale bound
 * for a decisive candidate). */
#define JUDGE_BIND_DRAWS 1
/* Held checkpoints (docs/bundle.md, "Held checkpoints") a judgment can ask
 * for: the start of the spot replay's segment and of each drawn binding
 * segment (the final segment's start is always in the bundle). */
#define JUDGE_HELD_NEEDS_MAX (1 + JUDGE_BIND_DRAWS)

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
/* 5 x the scale's (verified) budget: 10 x the unverified tier's half, the
 * cap's figure before the tiers entered the budget (tiny 600 s, cpu 2400 s) */
#define JUDGE_DEADLINE_TRAIN_CAP 5.0
#define JUDGE_CALL_DIVISOR 8.0
#define JUDGE_CALL_MIN_S 5.0

struct judge_opts {
	const char *bundle;   /* directory or .tar */
	int threads;
	int progress;
	double deadline_s;    /* the operator's cap on the computed deadline; 0: none */
	/* 1: score the hidden split in full and check the public claim on the
	 * whole public split, whatever the sequential test would say (the
	 * verdicts are the same; docs/judging-checks.md). */
	int full_eval;
	/* Where the miner's held checkpoints are (NULL: none), under their
	 * names in the bundle (checkpoints/step_NNNNNN.ckpt): the ones this
	 * judgment draws (judge_held_needs) are copied from here, each held to
	 * the manifest's size and digest. */
	const char *held;
	/* 1: the held files are the validator's own (its service wrote them
	 * from verified uploads and nothing else writes there): hard-linked
	 * into the judgment's copy rather than copied (bundle_taken_held).
	 * Either way the take's one hash stands for the file from then on. */
	int held_link;
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
	/* proof_cpu_s: the proof's compute, train_s times its threads; for
	 * a GPU proof proof_gpu_s is train_s on its one GPU (else 0), and the
	 * judgment's cost beside it is its wall time there, judge_wall_s. */
	double judge_cpu_s, proof_cpu_s, proof_gpu_s, judge_wall_s;
	/* What spot replay re-ran: "spot" (a few steps of one drawn segment)
	 * or "binding" (the final segment and JUDGE_BIND_DRAWS drawn ones, whole,
	 * for a decisive candidate); the segments by index; the steps replayed
	 * against the proof's. */
	char replay_mode[16];
	char replay_segments[128];
	/* The ISA the proof's recipe ran on, as its manifest records it
	 * (environment.runner_isa; "unrecorded" when absent; "cuda" for a
	 * proof with environment.device), and the one the replay ran on: this
	 * validator's. Shown, not trusted: the replay's
	 * bits are the check (docs/determinism.md). */
	char proof_isa[16], replay_isa[16];
	/* The GPU the replay ran on ("" on the CPU): the proof's model, which
	 * a GPU proof's replay requires (rundevice.h). */
	char replay_device[GPUINFO_TEXT_MAX];
	int64_t replay_steps, proof_steps;
	int causality_probes;       /* scored calls of the hidden eval that were audited */
	int causality_aimed;        /* aimed probes after it (causality.h), all passed */
	double causality_aimed_s;   /* their wall seconds */
	/* The sequential hidden evaluation: hidden_partial 1 when it stopped
	 * early (the candidate cannot be decisive), after hidden_targets of
	 * hidden_targets_all (hidden_bpb is then the paired estimate); the
	 * king's losses it paired with: "used", or why the candidate was scored
	 * in full ("off", "missing", "stale", "corrupt", "short"). public_partial
	 * 1 when the public claim was checked on public_targets only. */
	int hidden_partial, public_partial;
	/* Intermediate checkpoints of the bundle neither read nor hashed, so
	 * not kept in the store: a candidate that cannot change the king
	 * reads at most two (docs/judging-checks.md, "What is hashed"). */
	int files_unkept;
	int held_taken;             /* held checkpoints copied in from judge_opts.held */
	/* On judge.held_needed: the held checkpoints this judgment draws and
	 * did not find, with the verified manifest's size and digest (what a
	 * validator service asks the miner for again). */
	struct judge_held_need {
		char name[BUNDLE_NAME_MAX + 1];
		uint64_t bytes;
		char sha256[HASH_HEX_BYTES];
	} held_needed[JUDGE_HELD_NEEDS_MAX];
	int n_held_needed;
	uint64_t hidden_targets, hidden_targets_all, public_targets;
	char hidden_cache[16];
	/* "" unless something after the verdict was recorded failed (keeping
	 * the bundle in the store, recording a merge whose tag already
	 * stands): the verdict holds and the operator should look. */
	char warning[KERR_MSG_MAX];
	double deadline_s;          /* the judgment's wall-clock deadline */
};

/* Judges one bundle and records the outcome. Returns 0 whenever a verdict
 * was reached and recorded (including rejections: see r->verdict and
 * r->code), and always once the king changed (failures after that are in
 * r->warning); -1 when nothing could be recorded: judge.unreadable (no
 * manifest to attribute the bundle to), judge.duplicate (the same bundle
 * again: a replay), king.no_noise_floor (measure it first), vstate.*.
 * A bundle rejected before its files were verified against its manifest
 * (checks 1 and 2) is recorded under the digest of what was received, not
 * the manifest's: a damaged copy cannot block the genuine bundle. */
int judge_run(struct vstate *s, const struct judge_opts *o, struct judge_result *r, struct kerr *err);

/* The held checkpoints a judgment of the bundle whose manifest is this
 * needs from the miner: the starts of the segments it draws from the
 * validator's secret that the bundle does not keep (at most
 * JUDGE_HELD_NEEDS_MAX, names as in manifest.held, in replay order).
 * Computed from the manifest alone, so a service can ask for them when the
 * bundle arrives; the draws are the ones the replay makes, whatever the
 * verdict (a candidate's spot segment and its binding segments are both
 * asked for: which one runs is known only after the hidden evaluation).
 * *n is 0 for a bundle that holds nothing. judge.held_bad: a held name
 * that is no checkpoint's; judge.no_final (judge_draw_key). */
int judge_held_needs(const struct vstate *s, const json_t *manifest, char names[JUDGE_HELD_NEEDS_MAX][BUNDLE_NAME_MAX + 1],
		     int *n, struct kerr *err);

/* The key every secret draw of a judgment is bound to (the segments
 * replayed, the window orders, the causality audit's probes, the challenge
 * seed): the digest of checkpoints/final.ckpt as the manifest lists it,
 * which the bundle's verification holds to the file and the log. Bound to
 * the checkpoints, not the manifest: a manifest re-signed around the
 * same model (another rationale, a comment in the patch, another key)
 * draws the same, so a proof caught by one draw cannot buy another by
 * re-signing (a version string that rewraps the checkpoints still can:
 * docs/king.md).
 * judge.no_final when the manifest lists no such digest. */
int judge_draw_key(const json_t *manifest, char out[HASH_HEX_BYTES], struct kerr *err);

#endif
