/* judgment.h: inside the judge (not for other modules). One judgment's
 * state, shared by the two files that run it: judge.c, the pipeline from
 * intake to the recorded verdict (checks 1 to 3 and 5, the king rule),
 * and hidden.c, check 4 (the hidden evaluation, its causality audit, the
 * sequential tests and the public claim). */
#ifndef KARPA_JUDGMENT_H
#define KARPA_JUDGMENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"
#include "judge/judge.h"
#include "judge/plausible.h"
#include "judge/rundevice.h"
#include "proof/bundle.h"
#include "proof/reciperepo.h"
#include "sandbox/recipe_host.h"
#include "sandbox/sandbox.h"
#include "validator/expcorpus.h"
#include "validator/hlosses.h"
#include "validator/king.h"
#include "util/fsutil.h"
#include "util/kerr.h"

/* Everything one judgment holds; freed by judge.c's ctx_free. */
struct judge_ctx {
	struct vstate *s;
	const struct judge_opts *o;
	struct judge_result *r;
	char work[FS_PATH_MAX], bdir[FS_PATH_MAX], recipe[FS_PATH_MAX], patch_path[FS_PATH_MAX];
	struct bundle_taken taken; /* the validator's copy in bdir: every check reads only it */
	json_t *manifest;
	char manifest_hex[HASH_HEX_BYTES];
	/* the final checkpoint's digest the verified manifest lists: what
	 * the judgment's secret draws are bound to (judge_draw_key) */
	char draw_key[HASH_HEX_BYTES];
	char *patch, *rationale;
	size_t patch_len;
	struct kerr patch_err; /* why patch is NULL */
	struct expcorpus_entry e;
	struct king_info king;
	struct dataset pub;
	int pub_open;
	struct plausible_report pr;
	int pr_open;
	uint64_t seed;
	int64_t deadline_ms; /* recipe_pipe_now_ms() instant the judgment must end by */
	double call_s;       /* the most one recipe call may take */
	struct sandbox *sb;
	struct rundevice dev; /* the CPU, or the GPU of the proof's model (check 4) */
	char pending_id[EXPCORPUS_ID_BYTES]; /* the submission a challenge answer answers */
	int verified; /* 1 once bundle_verify bound every file to the signed manifest */
	int signed_ok; /* 1 when, at intake, the manifest held its miner's signature (bundle_signed) */
	/* 1 when the state failed a check's own lookup (the challenge an
	 * answer answers): the validator's trouble, no verdict */
	int state_fault;
	/* A recorded challenge answer whose settlement was interrupted: only
	 * the settlement runs again, against the king it was judged on. */
	int resumed;
	char resumed_king[RECIPEREPO_TAG_MAX];
	/* The candidate's hidden losses, target by target, once scored in
	 * full: kept for the king's cache if it is crowned (hlosses.h). */
	struct hlosses cand;
};

/* Says what the judgment is doing now, with --progress. */
void judge_say(const struct judge_ctx *c, const char *what);

/* Starts a sandboxed child, creates the recipe and loads checkpoint
 * ckpt_rel (relative to the judgment's copy of the bundle, read as the
 * take hashed it); with none, the caller loads one when state_follows. */
int judge_start_recipe(struct judge_ctx *c, struct sandbox *sb, struct recipe_host *h, struct kr_plan *plan,
		       const char *ckpt_rel, int state_follows, struct kerr *err);

/* Check 4 (hidden.c): the hidden evaluation in a fresh child with the
 * causality audit beside it, sequential against the king's recorded
 * losses where it can be, then the public claim; fills c->r and c->e. */
int judge_hidden_eval(struct judge_ctx *c, struct sandbox *sb, struct kerr *err);

#endif
