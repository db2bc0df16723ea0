/* replay.h: spot replay and binding (PROTOCOL 5.5). Owns re-running a
 * segment of a proof's training, from a kept checkpoint or from the
 * recipe's initialisation, and the rule that it must reproduce the log bit
 * for bit: every step's loss and learning rate, and, when the replay
 * reaches the segment's end, that checkpoint's SHA-256. Never writes into
 * the bundle; never picks the segment itself (the judge draws it from its
 * secret).
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

#include "sandbox/recipe_host.h"
#include "proof/bundle.h"
#include "judge/plausible.h"
#include "judge/trace.h"
#include "util/kerr.h"

/* Steps of a spot replay: three steps are enough to exercise load,
 * optimizer state and data order together, and cost 3/steps of a proof's
 * training. The binding replay of a decisive candidate runs whole segments
 * instead (replay_opts.steps = 0). */
#define REPLAY_STEPS 3
#define REPLAY_STEPS_MAX 1000000 /* an explicit request above this is a mistake */

/* A run of n checkpoint records has n segments: segment 0 runs from the
 * recipe's fresh initialisation (kr_create with the run's seed) to record 0,
 * segment j from record j-1 to record j; the last one ends in final.ckpt.
 * The harness restarts the recipe at every checkpoint
 * (recipe_host_restart_spawn, then recipe_host_restart_load), so each
 * segment is a function of its start alone and can be re-run by itself. */
struct replay_opts {
	const char *bundle_dir;
	/* The take of bundle_dir (bundle.h), whose digests stand for its files:
	 * NULL hashes each checkpoint read here. */
	struct bundle_taken *taken;
	int segment;             /* 0 .. pr->nckpt - 1 */
	int steps;               /* 0: the whole segment, ending in the digest check;
				    else at most this many steps (clipped at the segment's end) */
	struct trace_doc *trace; /* non-NULL: every replayed step is traced into it (a dispute) */
	int keep_going;          /* a step that differs from the log does not stop the replay:
				    the first one is reported and the call still fails at the end */
};

struct replay_report {
	char ckpt_file[PLAUSIBLE_FILE_MAX]; /* the checkpoint replayed from ("init" for segment 0) */
	int64_t from_step, to_step;         /* replayed steps from_step .. to_step-1 */
	int steps;
	int digest_checked;               /* the segment reached its end checkpoint */
	char next_sha256[HASH_HEX_BYTES]; /* the recomputed digest when checked */
	double wall_s, cpu_s;             /* cpu_s: this process (a pipe child is not in it) */
	int64_t mismatch_step;            /* the first replayed step whose loss or lr differs from
					     the log; with mismatch_what "digest", the segment's end; -1: none */
	char mismatch_what[16];           /* "loss", "lr", "loss+lr", "digest" */
};

/* held: the manifest's held checkpoints (NULL: none): a record whose file
 * the bundle does not keep because the miner holds it is not missing; one
 * copied in for a replay is checked like the others.
 * Checks every checkpoint file present in bundle_dir against the log: its
 * SHA-256 equals the record's and its header (step, seed, scale, data and
 * tokenizer digests, recipe and version, vocabulary) is the one the
 * harness writes for that record (judge.ckpt_meta). Every record but the
 * final one's must have its file present (judge.ckpt_missing): the final is
 * checked by the bundle's own digests and loaded by the evaluator. With
 * taken (bundle_dir's take), a file's digest is the take's and only its
 * header is read: the take hashed every byte once already (or, for a file
 * it left unhashed, the digest is the verified manifest's, and the file is
 * held to it when its state is read). NULL: every file is read and hashed
 * here. */
int replay_check_headers(const char *bundle_dir, struct bundle_taken *taken, const struct plausible_report *pr,
			 int vocab_size, const json_t *held, struct kerr *err);

/* Replays segment o->segment (o->steps of it, or all of it). h is a FRESH
 * host (nothing created yet beyond its process) whose recipe the caller
 * created for the proof's scale and seed (pr->seed), with plan its checked
 * plan; train is the public train split. Reason codes:
 *   judge.replay_digest    the start checkpoint is not the one the log
 *                          recorded, or the replayed state's checkpoint
 *                          differs from the log's record at the segment's end
 *   judge.replay_mismatch  a replayed step's loss or lr differs from the log
 *   judge.replay_meta      checkpoint header or the recipe's plan disagrees
 *                          with the log header
 *   replay.no_checkpoint, replay.bad_opts, replay.nomem,
 *   ckpt.*, loader.*, recipe.*, fs.* */
int replay_run(struct recipe_host *h, const struct kr_plan *plan, const struct plausible_report *pr,
	       const uint16_t *train, size_t ntrain, const struct replay_opts *o, struct replay_report *r,
	       struct kerr *err);

#endif
