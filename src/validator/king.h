/* king.h: the king rule (PROTOCOL 6): the standing recipe, its noise
 * margin, the decisive test, the challenge seed, and the merge that crowns a
 * new king. king.c is the one place that changes the king; a crash at any
 * instant leaves the old king or the new one, never both or neither
 * (docs/king.md). */
#ifndef KARPA_KING_H
#define KARPA_KING_H

#include <stdint.h>

#include "proof/keys.h"
#include "proof/reciperepo.h"
#include "validator/vstate.h"
#include "util/hash.h"
#include "util/crash.h"
#include "util/kerr.h"

/* Crash injection, as SQLite does it: when the environment names a point,
 * the process ends there with _exit(KING_CRASH_EXIT), skipping every
 * cleanup, as a power cut would. Points, in merge order: after_commit_object,
 * after_journal, after_tag, after_main_ref, after_kings_row; in recovery:
 * recover_after_main_ref, recover_after_kings_row, recover_after_abort. */
#define KING_CRASH_ENV CRASH_ENV
#define KING_CRASH_EXIT CRASH_EXIT

/* STATE/king.lock: flock'd by a merge for its whole length, and by
 * recovery; a recovery that finds it held by a live process leaves the
 * journal to that process (docs/king.md). */
#define KING_LOCK_NAME "king.lock"

/* Seeds are JSON integers (TRAIN_SEED_MAX): 2^53 - 1 at most. 0 and 1 are
 * never challenge seeds: 1 is the proof's own seed, 0 reads as "unset". */
#define KING_SEED_MIN 2u
#define KING_SEED_MAX ((((uint64_t)1) << 53) - 1)
/* Domain separation: the validator secret keys other hashes too. */
#define KING_SEED_CONTEXT "karpa challenge seed v3"

/* The metric is bits per byte; a merge's metrics are always finite and
 * positive, and anything past this is a broken evaluation, not a recipe. */
#define KING_BPB_MAX 64.0
/* The least margin in force, in bpb (beyond PROTOCOL 6, docs/king.md):
 * a king whose hidden score does not move with the seed (sigma 0) would
 * otherwise make an improvement of one ulp decisive. Ten times below the
 * smallest margin measured at any scale (tiny's, 0.009). Applied when a
 * floor is measured (noise_margin) and when one stored before it is read. */
#define KING_MARGIN_MIN 1e-3
/* A rationale is prose (prove limits it); a commit message carries it. */
#define KING_RATIONALE_BYTES_MAX (64u << 10)
#define KING_SUBJECT_MAX 72 /* git's customary subject width */

/* The king as a judge needs it. */
struct king_info {
	char tag[RECIPEREPO_TAG_MAX];
	char commit[RECIPEREPO_COMMIT_HEX];
	double hidden_bpb;                     /* the king's seed-1 hidden score (NAN: not measured) */
	double margin, sigma;                  /* from the noise floor in force */
	int noise_seeds;
	char noise_tag[RECIPEREPO_TAG_MAX];    /* the king that noise floor was measured on */
	/* The digest of the king's own seed-1 final checkpoint: what a patch
	 * that changes only the evaluation trains. From a noise floor measured
	 * on this king, else from the crowned original's proof; "" unknown (a
	 * state from before schema version 4). */
	char baseline[HASH_HEX_BYTES];
};

/* The noise floor in force for king `tag` at the state's scale: the latest
 * measured on this king, else the latest measured on an earlier one (a new
 * king inherits it: the protocol re-measures when the scale changes, not at
 * every merge). n->present is 0 when none; n->king_tag names the king it was
 * measured on; its margin is at least KING_MARGIN_MIN. The one rule, used
 * by king_current (the judge) and by `karpa validator status`. */
int king_noise_in_force(struct vstate *s, const char *tag, struct vstate_noise *n, struct kerr *err);

/* Sets the hidden score of the king whose kings row is king_id, from its
 * noise floor's protocol-seed run, and its public score when it has none
 * (public_bpb NAN: left as it is; miners compare their runs with it): the one write to `kings` outside a merge,
 * kept here with the others. Runs in the caller's transaction when there is
 * one (vstate_tx nests), so the noise row and the score commit together.
 * king.stale when king_id is no longer the current king, king.bad_metrics
 * for a score that is not a finite bpb. */
int king_record_noise_score(struct vstate *s, long long king_id, double hidden_bpb, double public_bpb,
			    struct kerr *err);

/* The current king (newest kings row) with the margin of the latest noise
 * floor at the state's scale: the one measured on this king if there is
 * one, else the latest measured on an earlier king (king_noise_in_force).
 * king.no_noise_floor when none exists at this scale; king.no_score when
 * the king's hidden score is missing. */
int king_current(struct vstate *s, struct king_info *out, struct kerr *err);

/* Whether a candidate's final checkpoint alone names its trained model for
 * the copy rule and the challenge seed: 1 when it is known not to be the
 * king's own model (k->baseline); 0 when it is the king's own, or that is
 * unknown, and only the same checkpoint scored the same is the same
 * candidate (every idea that changes only the evaluation trains the
 * king's own model). */
int king_final_names_model(const struct king_info *k, const char *final_sha256_hex);

/* Decisive iff king_bpb - cand_bpb > margin, strictly; non-finite inputs or
 * a negative margin are never decisive. Fills *improvement (king - cand,
 * NAN when not computable). Returns 1 decisive, 0 not. */
int king_decide(double king_bpb, double cand_bpb, double margin, double *improvement);

/* The challenge seed of a decisive submission: BLAKE2b keyed by the
 * validator secret over KING_SEED_CONTEXT, the king's tag, the digest of
 * the proof's final checkpoint (64 lowercase hex) and, when hidden_bpb is
 * not NULL, the bits of the candidate's hidden score (the caller passes it
 * unless king_final_names_model), mapped into [KING_SEED_MIN, KING_SEED_MAX]. It
 * must be derived after the submission is fixed: a miner who could know it
 * in advance could train many seeds and submit only the lucky one; only
 * the validator holds the secret. It is a function of what was measured,
 * not of the manifest: a manifest that differs in anything but the
 * training (a rationale, a comment in the patch, another key) would
 * otherwise buy a fresh draw at confirming the same model. The hidden
 * score is in it because a patch may change only how the model is
 * evaluated: the same checkpoint under another evaluation is another
 * candidate, and its seed must not be the one already public for that
 * checkpoint; the score is computed on the validator's secret split, so
 * nobody knows it before the judgment. king.bad_digest, king.bad_tag,
 * king.bad_score. */
int king_challenge_seed(const uint8_t secret[VSTATE_SECRET_BYTES], const char *king_tag, const char *final_sha256_hex,
			const double *hidden_bpb, uint64_t *seed, struct kerr *err);

/* What the judge measured, carried into the commit message and the kings
 * row. The judgment must be decisive: improvement > margin >= 0. */
struct king_metrics {
	double hidden_bpb, public_bpb, improvement, margin, alpha;
	const char *miner; /* hex public key, KEYS_PK_HEX_BYTES - 1 digits */
};

struct king_merge_result {
	char from_tag[RECIPEREPO_TAG_MAX], to_tag[RECIPEREPO_TAG_MAX];
	char commit[RECIPEREPO_COMMIT_HEX];
	int checkout_stale; /* 1 when STATE/recipe's checked-out files could not be refreshed (refs are the truth) */
	/* 1 when the tag (the commit point) exists but the database could not
	 * record it yet: the new king stands, and the next king_recover (every
	 * validator_open) writes its row; record_warning says why. */
	int record_pending;
	char record_warning[KERR_MSG_MAX];
};

/* Applies the patch to the current king, commits it with the rationale and
 * metrics, tags the next recipe-vX.Y.(Z+1), moves main and records the new
 * king, through the merges journal (docs/king.md). base_tag and base_commit
 * name the king the candidate was measured against; they are checked again
 * under KING_LOCK_NAME, so two confirmations judged at once cannot both
 * merge: the second finds the king moved and gets king.stale. The
 * submission must be recorded in the corpus; its verdict becomes
 * accepted_king, and so does the submission it answers (challenge_of), in
 * the same transaction as the new king; every other challenge_pending
 * submission measured against the old king becomes challenge_failed with
 * king.stale (its base is gone). Returns 0 once the tag exists (the king
 * changed), even if recording it was left to recovery (record_pending).
 * Codes: king.stale, king.not_decisive, king.bad_metrics,
 * king.no_submission, king.recovery_needed, king.inconsistent,
 * king.no_change, king.version_exhausted, king.git, king.lock,
 * king.incomplete (the change is journaled and is settled by king_recover),
 * patch.*, recipe.*, vstate.*. */
int king_merge(struct vstate *s, const char *submission_id, const char *base_tag, const char *base_commit,
	       const char *patch_path, const char *rationale, const struct king_metrics *m,
	       struct king_merge_result *out, struct kerr *err);
/* expcorpus_settle_pending of a challenge's original (its answer failed),
 * under the king lock: a merge of another answer to it, which checks
 * under that lock that the original is still pending, cannot land between
 * that check and its commit with the original settled. */
int king_settle_challenge(struct vstate *s, const char *original_id, const char *verdict, const char *reason_code,
			  const char *reason, struct kerr *err);
/* king_merge of patch bytes already read: the judge merges the bytes it
 * hashed and scanned, not patch.diff read again after the recipe ran. */
int king_merge_bytes(struct vstate *s, const char *submission_id, const char *base_tag, const char *base_commit,
		     const char *patch, size_t patch_len, const char *rationale, const struct king_metrics *m,
		     struct king_merge_result *out, struct kerr *err);

/* Settles every journaled merge left 'prepared' by a crash: rolls forward
 * when the new tag exists and names the journaled commit, rolls back when it
 * does not; then checks the invariant. Idempotent; safe to interrupt.
 * Returns 0 without looking when a live merge holds KING_LOCK_NAME: that
 * merge settles its own journal row. validator_open calls it. king.inconsistent when git and the database
 * disagree in a way no crash of king.c can produce. */
int king_recover(struct vstate *s, struct kerr *err);

/* The invariant: the newest kings row's tag is the highest recipe tag in
 * git, both name the same commit, and refs/heads/main points at it.
 * king.inconsistent names the first disagreement. */
int king_check_invariant(struct vstate *s, struct kerr *err);

#endif
