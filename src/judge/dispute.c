/* dispute.c: locate and trace a disagreement between a proof's log and its
 * replay. The search treats a segment as the unit the log binds: the
 * harness restarted the recipe at every checkpoint, so each segment is a
 * function of its kept start alone and can be replayed by itself. */
#include "judge/dispute.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data/bpe.h"
#include "data/dataset.h"
#include "judge/diffscan.h"
#include "judge/plausible.h"
#include "judge/replay.h"
#include "judge/rundevice.h"
#include "proof/bundle.h"
#include "proof/reciperepo.h"
#include "sandbox/recipe_build.h"
#include "sandbox/sandbox.h"
#include "util/fsutil.h"

struct dctx {
	const struct dispute_opts *o;
	struct dispute_report *r;
	struct bundle_dir bd;
	struct bundle_report br;
	struct dataset d;
	struct plausible_report pr;
	struct sandbox *sb;
	struct rundevice dev; /* the CPU, or the GPU of the proof's model, with its algorithms */
	const uint16_t *train;
	size_t ntrain;
	char work[FS_PATH_MAX], recipe[FS_PATH_MAX];
	int bd_open, d_open, pr_open;
};

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *mstr(json_t *m, const char *a, const char *b)
{
	json_t *v = json_object_get(m, a);

	if (b)
		v = json_object_get(v, b);
	return json_is_string(v) ? json_string_value(v) : "";
}

/* The checkpoints the bundle's miner holds back (docs/bundle.md, "Held
 * checkpoints") that o->held has, into this dispute's copy of the bundle,
 * each held to the verified manifest's size and digest. A search replays
 * every segment and needs them all; one segment (o->segment) needs only
 * its start. A validator holds just the ones its judgment drew, the miner
 * all of them. dispute.held_needed names what is missing. */
static int take_held(struct dctx *c, struct kerr *err)
{
	const json_t *held = json_object_get(c->br.manifest, "held");
	const char *name, *need = NULL;
	json_t *v;
	int missing = 0;

	if (!json_object_size(held))
		return 0;
	if (c->o->segment > 0 && c->o->segment - 1 < c->pr.nckpt)
		need = c->pr.ckpt[c->o->segment - 1].file;
	json_object_foreach((json_t *)held, name, v) {
		char src[FS_PATH_MAX];

		(void)v;
		if (!c->o->held || fs_join(src, sizeof src, err, "%s/%s", c->o->held, name) < 0 || !fs_exists(src)) {
			if (c->o->segment < 0 || (need && !strcmp(need, name)))
				missing++;
			continue;
		}
		if (bundle_taken_held(&c->bd.t, c->br.manifest, name, src, 0, err) < 0)
			return -1;
	}
	if (missing && c->o->segment >= 0)
		return kerr_set(err, "dispute.held_needed",
				"segment %d starts from %s, which the miner holds: pass --held DIR with it (the proof's BUNDLE.held)",
				c->o->segment, need);
	if (missing)
		return kerr_set(err, "dispute.held_needed",
				"the bundle holds %zu checkpoints back, %s%d of them missing, and a search replays every "
				"segment: pass --held DIR with them all (the miner's BUNDLE.held), or --segment N",
				json_object_size(held), c->o->held ? "" : "all ", missing);
	return 0;
}

/* The bundle verified, its data and log checked, its recipe rebuilt from
 * the king it names plus its patch. */
static int prepare(struct dctx *c, struct kerr *err)
{
	const char *tag, *commit;
	char have[RECIPEREPO_COMMIT_HEX], patch[FS_PATH_MAX];
	struct sandbox_config cfg;

	if (bundle_dir_open(c->o->bundle, &c->bd, err) < 0)
		return -1;
	c->bd_open = 1;
	if (bundle_verify_taken(&c->bd.t, &c->br, err) < 0)
		return -1;
	snprintf(c->r->manifest, sizeof c->r->manifest, "%s", c->br.manifest_sha256);
	if (dataset_open(c->o->data, &c->d, err) < 0)
		return -1;
	c->d_open = 1;
	if (strcmp(mstr(c->br.manifest, "config", "data_manifest_sha256"), c->d.digest))
		return kerr_set(err, "dispute.data_mismatch", "%s is data %.16s..., the proof trained on %.16s...",
				c->o->data, c->d.digest, mstr(c->br.manifest, "config", "data_manifest_sha256"));
	if (plausible_check(c->bd.t.dir, bpe_vocab_size(c->d.tok), c->br.alpha, &c->pr, err) < 0)
		return -1;
	c->pr_open = 1;
	if (take_held(c, err) < 0 ||
	    replay_check_headers(c->bd.t.dir, &c->bd.t, &c->pr, bpe_vocab_size(c->d.tok),
				 json_object_get(c->br.manifest, "held"), err) < 0 ||
	    dataset_tokens(&c->d, SPLIT_TRAIN, &c->train, &c->ntrain, err) < 0)
		return -1;
	c->r->nseg = c->pr.nckpt;
	c->r->steps = c->pr.steps;
	tag = mstr(c->br.manifest, "king", "tag");
	commit = mstr(c->br.manifest, "king", "commit");
	if (reciperepo_resolve(c->o->recipe_repo, tag, have, err) < 0 || strcmp(have, commit))
		return kerr_set(err, "dispute.king", "%s: no king %s at commit %.12s (the bundle's base): fetch the "
				"validator's recipe repository", c->o->recipe_repo, *tag ? tag : "?", commit);
	if (fs_join(c->recipe, sizeof c->recipe, err, "%s/recipe", c->work) < 0 ||
	    fs_join(patch, sizeof patch, err, "%s/patch.diff", c->bd.t.dir) < 0 ||
	    reciperepo_export(c->o->recipe_repo, tag, c->recipe, err) < 0 || reciperepo_apply(c->recipe, patch, err) < 0)
		return -1;
	/* Check 1 before any compiler reads the tree, as in a judgment: a
	 * bundle disputed need never have been judged, and a header that
	 * includes STATE/secret or assembly that embeds it would carry it into
	 * the runner, whose output reaches the dispute's report. */
	if (diffscan_tree(c->recipe, err) < 0)
		return -1;
	/* the GPU proof's own model, or no trace at all (rundevice.h) */
	if (rundevice_for_manifest(c->br.manifest, NULL, &c->dev, err) < 0)
		return -1;
	sandbox_config_validator(&cfg, c->o->threads);
	return rundevice_sandbox(&c->dev, c->recipe, &cfg, &c->sb, NULL, err);
}

static int is_disagreement(const struct kerr *e)
{
	return !strcmp(e->code, "judge.replay_mismatch") || !strcmp(e->code, "judge.replay_digest");
}

/* One replay in a fresh sandboxed child. Returns 0 when it reproduces the
 * log, 1 when it differs (rr says where, why holds the message), -1 on any
 * other failure. */
static int replay_one(struct dctx *c, int seg, int steps, struct trace_doc *trace, int keep_going,
		      struct replay_report *rr, struct kerr *why, struct kerr *err)
{
	struct recipe_host h;
	struct kr_plan plan;
	struct kr_env env = { .seed = c->pr.seed, .threads = c->o->threads, .vocab_size = bpe_vocab_size(c->d.tok),
			      .scale = c->pr.scale, .state_follows = seg > 0, .gemm = c->dev.gemm };
	struct replay_opts ro = { .bundle_dir = c->bd.t.dir, .taken = &c->bd.t, .segment = seg, .steps = steps,
				  .trace = trace, .keep_going = keep_going };
	int rc = -1;

	memset(&h, 0, sizeof h);
	if (sandbox_spawn(c->sb, &h, err) < 0)
		return -1;
	if (recipe_host_create(&h, &env, &plan, err) < 0) {
		sandbox_explain(c->sb, &h, err);
		goto out;
	}
	if (replay_run(&h, &plan, &c->pr, c->train, c->ntrain, &ro, rr, why) == 0)
		rc = 0;
	else if (is_disagreement(why))
		rc = 1;
	else {
		*err = *why;
		if (strncmp(err->code, "judge.", 6))
			sandbox_explain(c->sb, &h, err);
	}
out:
	recipe_host_destroy(&h);
	return rc;
}

/* Replays seg for the search and records what it gave. */
static int probe(struct dctx *c, int seg, int steps, struct replay_report *rr, struct kerr *why, struct kerr *err)
{
	size_t len = strlen(c->r->checked);
	int rc = replay_one(c, seg, steps, NULL, 0, rr, why, err);

	if (rc < 0)
		return -1;
	c->r->replays++;
	if (rc)
		c->r->agrees = 0;
	snprintf(c->r->checked + len, sizeof c->r->checked - len, "%s%d:%s:%s", len ? " " : "", seg,
		 steps ? "short" : "whole", rc ? "differ" : "agree");
	if (c->o->progress)
		fprintf(stderr, "dispute: segment %d (%s replay, steps %lld..%lld): %s\n", seg, steps ? "short" : "whole",
			(long long)rr->from_step, (long long)rr->to_step - 1, rc ? why->msg : "reproduces the log");
	return rc;
}

/* The first segment that disagrees. First REPLAY_STEPS of every segment
 * in order: a recipe that computes differently shows at once, and this
 * finds it for a few steps per segment. A short replay that agrees proves
 * less than a whole one (a small difference may not reach the loss's bits
 * within a few steps), so the segments before the first short finding (all
 * of them when there is none) are then bisected with whole replays, which
 * check each segment's end checkpoint: log2(segments) replays find the
 * first bad segment of a run that goes wrong from some step on. */
static int locate(struct dctx *c, int *found, struct kerr *err)
{
	struct replay_report rr;
	struct kerr why;
	int lo = 0, hi, rc;

	*found = -1;
	for (int seg = 0; seg < c->pr.nckpt && *found < 0; seg++) {
		if ((rc = probe(c, seg, REPLAY_STEPS, &rr, &why, err)) < 0)
			return -1;
		if (rc)
			*found = seg;
	}
	hi = (*found >= 0 ? *found : c->pr.nckpt) - 1;
	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		if ((rc = probe(c, mid, 0, &rr, &why, err)) < 0)
			return -1;
		if (rc) {
			*found = mid;
			hi = mid - 1;
		} else {
			lo = mid + 1;
		}
	}
	return 0;
}

static int trace_segment(struct dctx *c, int seg, struct kerr *err)
{
	const struct dispute_opts *o = c->o;
	struct dispute_report *r = c->r;
	int64_t from = seg > 0 ? c->pr.ckpt[seg - 1].step : 0, end = c->pr.ckpt[seg].step;
	struct trace_doc doc;
	struct replay_report rr;
	struct kerr why;
	int steps = 0, rc;

	if (o->to_step >= 0) {
		if (o->to_step < from || o->to_step >= end)
			return kerr_set(err, "dispute.bad_opts", "step %lld is not in segment %d (steps %lld..%lld)",
					(long long)o->to_step, seg, (long long)from, (long long)end - 1);
		steps = (int)(o->to_step - from + 1);
	}
	trace_doc_init(&doc, r->manifest, o->side, seg, from, o->threads);
	rc = replay_one(c, seg, steps, &doc, o->to_step >= 0, &rr, &why, err);
	if (rc < 0)
		goto out;
	r->segment = seg;
	r->from_step = rr.from_step;
	r->to_step = rr.from_step + doc.nsteps;
	r->trace_steps = doc.nsteps;
	r->mismatch_step = rr.mismatch_step;
	snprintf(r->mismatch_what, sizeof r->mismatch_what, "%s", rr.mismatch_what);
	if (rc)
		snprintf(r->mismatch_msg, sizeof r->mismatch_msg, "%s", why.msg);
	r->agrees = r->agrees && !rc;
	rc = o->trace_out ? trace_doc_write(o->trace_out, &doc, err) : 0;
out:
	trace_doc_free(&doc);
	return rc;
}

int dispute_run(const struct dispute_opts *o, struct dispute_report *r, struct kerr *err)
{
	struct dctx c;
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	double t0 = mono_s();
	int seg = o->segment, rc = -1;

	memset(&c, 0, sizeof c);
	memset(r, 0, sizeof *r);
	r->segment = -1;
	r->mismatch_step = -1;
	r->agrees = 1;
	c.o = o;
	c.r = r;
	if (o->threads < 1 || !o->bundle || !o->recipe_repo || !o->data || !o->side)
		return kerr_set(err, "dispute.bad_opts", "a dispute needs a bundle, a recipe repository, data and threads >= 1");
	if (!*o->side || strlen(o->side) >= TRACE_SIDE_MAX || strspn(o->side, "abcdefghijklmnopqrstuvwxyz0123456789_-") !=
							       strlen(o->side))
		return kerr_set(err, "dispute.bad_opts", "--side '%.32s': 1 to %d of [a-z0-9_-]", o->side,
				TRACE_SIDE_MAX - 1);
	if (fs_join(c.work, sizeof c.work, err, "%s/karpa-dispute-XXXXXX", tmp) < 0)
		return -1;
	if (!mkdtemp(c.work))
		return kerr_errno(err, "fs.create", c.work);
	if (prepare(&c, err) < 0)
		goto out;
	if (seg >= c.pr.nckpt) {
		kerr_set(err, "dispute.bad_opts", "segment %d asked, the proof has %d", seg, c.pr.nckpt);
		goto out;
	}
	if (seg < 0 && locate(&c, &seg, err) < 0)
		goto out;
	if (seg < 0) {
		rc = 0; /* every replay agreed: nothing to trace */
		goto out;
	}
	rc = trace_segment(&c, seg, err);
out:
	if (c.sb)
		sandbox_free(c.sb);
	rundevice_free(&c.dev);
	if (c.pr_open)
		plausible_report_free(&c.pr);
	if (c.d_open)
		dataset_close(&c.d);
	bundle_report_free(&c.br);
	if (c.bd_open)
		bundle_dir_close(&c.bd);
	fs_rm_rf(c.work);
	r->wall_s = mono_s() - t0;
	return rc;
}

int dispute_subject(const char *reason_code)
{
	static const char *const parted[] = { "judge.replay_digest", "judge.replay_meta", "judge.replay_mismatch" };

	for (size_t i = 0; reason_code && i < sizeof parted / sizeof *parted; i++)
		if (!strcmp(reason_code, parted[i]))
			return 1;
	return 0;
}
