/* replay.h: spot replay (PROTOCOL 5.5). Owns re-running a short segment of
 * a proof's training from one of its kept intermediate checkpoints and the
 * rule that the segment must reproduce the log bit for bit: every step's
 * loss and learning rate, and, when the segment reaches the next checkpoint,
 * that checkpoint's SHA-256. Never writes into the bundle; never picks the
 * checkpoint itself (the judge derives the index from its secret).
 *
 * The data order is the harness's (loader_batch over the validator's own
 * copy of the public train split, whose digest the judge has matched with
 * the manifest's), so the recipe sees exactly the batches the miner's run
 * saw. Bitwise is the bar on the same machine class: the recipe is built
 * with pinned flags and its reductions are fixed by design. */
#ifndef KARPA_REPLAY_H
#define KARPA_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "harness/recipe_host.h"
#include "protocol/plausible.h"
#include "util/kerr.h"

/* Steps replayed per judgment: three steps are enough to exercise load,
 * optimizer state and data order together, and cost 3/steps of a proof's
 * training (under 2% for every scale but the test one). */
#define REPLAY_STEPS 3
#define REPLAY_STEPS_MAX 1000 /* an explicit request above this is a mistake */
#define REPLAY_KEPT_MAX 64

struct replay_opts {
	const char *bundle_dir;
	int kept_index;          /* which kept intermediate: 0 .. replay_kept() - 1 */
	int steps;               /* 0: REPLAY_STEPS; clipped at the next checkpoint */
	const char *scratch_dir; /* where the re-wrapped checkpoint is written, then removed;
				    NULL: $TMPDIR, else /tmp */
};

struct replay_report {
	char ckpt_file[PLAUSIBLE_FILE_MAX]; /* the checkpoint replayed from */
	int64_t from_step, to_step;         /* replayed steps from_step .. to_step-1 */
	int steps;
	int digest_checked;               /* the segment reached the next checkpoint */
	char next_sha256[HASH_HEX_BYTES]; /* the recomputed digest when checked */
	double wall_s, cpu_s;             /* cpu_s: this process (a pipe child is not in it) */
};

/* The kept intermediates: indexes into pr->ckpt of the intermediate
 * checkpoint records whose file is present in bundle_dir, in step order.
 * Returns their count (at most max). */
int replay_kept(const char *bundle_dir, const struct plausible_report *pr, int *idx_out, int max);

/* Replays o->steps steps from kept checkpoint o->kept_index. h is created
 * for the proof's scale and seed (pr->seed) with plan its checked plan;
 * train is the public train split. Reason codes:
 *   judge.replay_digest    the kept checkpoint is not the one the log
 *                          recorded, or the replayed state's checkpoint
 *                          differs from the log's next record
 *   judge.replay_mismatch  a replayed step's loss or lr differs from the log
 *   judge.replay_meta      checkpoint header or the recipe's plan disagrees
 *                          with the log header
 *   replay.no_checkpoint, replay.bad_opts, replay.nomem,
 *   ckpt.*, loader.*, recipe.*, fs.* */
int replay_run(struct recipe_host *h, const struct kr_plan *plan, const struct plausible_report *pr,
	       const uint16_t *train, size_t ntrain, const struct replay_opts *o, struct replay_report *r,
	       struct kerr *err);

#endif
