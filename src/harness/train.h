/* train.h: the training run and checkpoint evaluation as the harness drives
 * them (fixed harness, PROTOCOL 2-4). Owns the run folder: its layout, that
 * it appears only when complete, and what result.json says. Never computes a
 * loss or picks data itself: those are evaluate.c and loader.c.
 *
 * RUNDIR/train.log          hash-chained log (trainlog.h)
 * RUNDIR/checkpoints/step_NNNNNN.ckpt   every train_ckpt_interval() steps
 *                                       (none with final_only)
 * RUNDIR/final.ckpt         after the last step
 * RUNDIR/result.json        val_bpb and what produced it */
#ifndef KARPA_TRAIN_H
#define KARPA_TRAIN_H

#include <stdint.h>

#include "data/dataset.h"
#include "harness/evaluate.h"
#include "sandbox/recipe_host.h"
#include "util/hash.h"
#include "util/kerr.h"

#define TRAIN_RESULT_FORMAT "karpa-result-1"
/* Seeds are JSON integers in logs and headers; above 2^53 JSON readers
 * lose digits. */
#define TRAIN_SEED_MAX (((uint64_t)1 << 53) - 1)
#define TRAIN_THREADS_MAX 256
#define TRAIN_SCALE_MAX 31

/* Binding (PROTOCOL 5.5): kept checkpoints are at most a harness-fixed gap
 * apart, so a run has at least TRAIN_SEGMENTS_MIN segments and a validator
 * that replays one segment replays at most 1/TRAIN_SEGMENTS_MIN of it. The
 * recipe may checkpoint more often (plan.ckpt_every), never less. */
#define TRAIN_SEGMENTS_MIN 8
/* ... and at most this many, so that every kept checkpoint fits in a bundle
 * (BUNDLE_FILES_MAX) however often a recipe asks to checkpoint. */
#define TRAIN_SEGMENTS_MAX 48

/* A training step's call may take at most TRAIN_STALL_FACTOR times the
 * slowest step before it, and never less than the floor, nor more than the
 * host's own per-call limit: a recipe that stalls mid-run (a deadlock among
 * its threads, a lost wake-up) is stopped within seconds at tiny, where a
 * step takes milliseconds, instead of at the sandbox's 10-minute cap, and
 * an unconfined run (--no-sandbox), which has no cap, is stopped at all.
 * The first step of each process (step 0, and the step after each
 * checkpoint's restart) warms up (allocation, a GPU's context and module
 * loading) and has only the host's limit. Honest steps vary by a few times
 * (load, a longer context later in a run); 50 leaves room for that.
 * The evaluation after training has the same bound, times eval_batch /
 * batch when its calls score more windows than a step trains;
 * checkpoints and restarts keep the host's limit. */
#define TRAIN_STALL_FACTOR 50.0
#define TRAIN_STALL_FLOOR_MS 30000

/* The largest gap, in steps, between consecutive checkpoints (step 0, the
 * kept intermediates, the final) of a run of `steps` steps: ceil(steps / 8). */
int64_t train_ckpt_gap_max(int64_t steps);
/* The interval the harness checkpoints at: plan.ckpt_every clamped to
 * [ceil(steps / TRAIN_SEGMENTS_MAX), gap_max]; 0 (final only) is gap_max. */
int64_t train_ckpt_interval(const struct kr_plan *p);

struct train_opts {
	const char *data_dir;
	/* The folder already opened (and so verified) by the caller, whose
	 * tokens the run uses; NULL: data_dir is opened here. Lets several
	 * runs share one verification (the noise floor). */
	const struct dataset *data;
	const char *scale;
	const char *out_dir;
	uint64_t seed;
	int threads;
	int progress;              /* progress lines even when stderr is not a terminal */
	int plot;                  /* draw the loss curve on stderr at the end */
	uint64_t eval_targets_max; /* 0: the whole val split */
	/* Nothing between step 0 and the final checkpoint: no intermediate
	 * checkpoint and no restart from one. A screening run (the miner's
	 * trials): its log binds no segments, so it can never be proved, and
	 * at the gpu-* scales it skips what dominates a short run (a 1.5 GB
	 * checkpoint written, hashed and restarted from every few steps). For
	 * a recipe that keeps nothing outside its state, the same bits. */
	int final_only;
	/* The stall bound's floor (TRAIN_STALL_FLOOR_MS when 0): tests shorten it. */
	int64_t stall_floor_ms;
	/* Called when the run fails, before it destroys the host; NULL: none. */
	recipe_host_fail_fn on_fail;
	void *on_fail_arg;
};

struct train_result {
	char recipe[KR_NAME_MAX], recipe_version[KR_NAME_MAX], scale[TRAIN_SCALE_MAX + 1];
	uint64_t seed;
	int64_t steps, params;
	uint64_t tokens;
	double train_ms;           /* the step loop, checkpoints included */
	double wall_ms;            /* the whole run, data loading and eval included */
	double final_loss;         /* training loss of the last step */
	struct eval_result val;
	char data_digest[HASH_HEX_BYTES], tokenizer_digest[HASH_HEX_BYTES];
	char final_sha256[HASH_HEX_BYTES]; /* of final.ckpt */
	char log_head[HASH_HEX_BYTES];     /* SHA-256 of train.log's last line */
	/* The matrix-product algorithms the recipe ran with (recipe_host_gemm,
	 * asked at the end): "" for a recipe that picks none (the CPU one). */
	char gemm[KR_GEMM_MAX];
	int final_only; /* the options' final_only; result.json says so */
};

/* Runs the recipe behind h (a host whose function table is filled, not yet
 * created; destroyed before return, success or not) and leaves a complete
 * RUNDIR or none. Reason codes: train.out_exists,
 * train.bad_scale, train.bad_seed, train.bad_threads, train.no_split,
 * train.nonfinite, dataset.*, recipe.*, ckpt.*, log.*, eval.*, fs.*. */
int train_run(const struct train_opts *o, struct recipe_host *h, struct train_result *r,
	      struct kerr *err);

/* result.json's object (also what `karpa train --json` prints); caller
 * decrefs. Returns NULL on allocation failure. */
struct json_t *train_result_json(const struct train_result *r);

struct eval_report {
	char recipe[KR_NAME_MAX], recipe_version[KR_NAME_MAX], scale[TRAIN_SCALE_MAX + 1];
	int64_t step;
	uint64_t seed;
	char ckpt_sha256[HASH_HEX_BYTES], data_digest[HASH_HEX_BYTES];
	enum dataset_split_id split;
	int seq_len; /* the windows it was scored in (the recipe's plan) */
	int eval_batch; /* windows per scoring call (the recipe's plan) */
	struct eval_result res;
};

/* A checkpoint's state (ckpt_read's meta and bytes) loaded into the recipe
 * behind h: creates the recipe as the checkpoint's run did (its seed and
 * scale, the vocabulary of d's tokenizer), checks that the checkpoint may
 * be loaded into it (ckpt_check: recipe name and version, vocabulary,
 * tokenizer; its state size) and loads it. Fills plan. The one way a
 * checkpoint enters a recipe outside training (eval, sample); h stays
 * created and the caller destroys it. ckpt.*, recipe.* */
struct ckpt_meta;
int train_load_state(struct recipe_host *h, const struct dataset *d, int threads, const struct ckpt_meta *m,
		     const void *state, size_t n, struct kr_plan *plan, struct kerr *err);

/* Verifies a checkpoint (ckpt.*), checks it against the recipe behind h and
 * the data's tokenizer, loads it and evaluates a split. h is destroyed
 * before return. */
int train_eval_checkpoint(const char *ckpt_path, const char *data_dir, enum dataset_split_id split,
			  int threads, uint64_t targets_max, struct recipe_host *h,
			  struct eval_report *rep, struct kerr *err);
/* The same on a folder the caller opened (data; NULL: data_dir is opened).
 * target_nats: NULL, or room for every scored target's loss (evaluate.h).
 * on_fail (NULL: none) is called as train_opts.on_fail is. */
int train_eval_checkpoint_data(const char *ckpt_path, const struct dataset *data, const char *data_dir,
			       enum dataset_split_id split, int threads, uint64_t targets_max, double *target_nats,
			       struct recipe_host *h, recipe_host_fail_fn on_fail, void *on_fail_arg,
			       struct eval_report *rep, struct kerr *err);

#endif
