/* hidden.c: check 4 of a judgment (PROTOCOL 5, docs/judging-checks.md,
 * "The sequential hidden evaluation" and "The public claim"). Fresh
 * sandboxed children score the final checkpoint: one on the hidden split,
 * which has never seen anything else; a twin for the causality audit's
 * probes of those very calls; one for the public claim. Window orders and
 * the audit's seed are keyed by the whole validator secret and this
 * bundle's final checkpoint (judge_draw_key), so no recipe knows them in
 * advance and a re-signed manifest draws the same. */
#include "judge/judgment.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/evaluate.h"
#include "harness/scale.h"
#include "judge/auditeval.h"
#include "judge/causality.h"
#include "judge/seqtest.h"
#include "util/log.h"

/* A 64-bit draw keyed by the whole validator secret and bound to this
 * bundle under `context`, so a recipe cannot know it in advance. */
static uint64_t keyed_seed(const struct judge_ctx *c, const char *context)
{
	return auditeval_keyed_seed(c->s->secret, VSTATE_SECRET_BYTES, context, c->draw_key);
}

/* Which windows the causality audit probes: keyed by the whole validator
 * secret and bound to this bundle, so a recipe cannot know which of its
 * calls are the audit's (two bytes of the secret would leave only 65536
 * candidate probe sets to behave honestly on). */
static uint64_t audit_seed(const struct judge_ctx *c)
{
	return keyed_seed(c, "karpa causality audit v2:");
}

/* The order a split's n full windows are scored in: a permutation drawn
 * from the secret, so the windows scored before any stop are a uniform
 * random sample of the split, whatever its documents' order (seqtest.h). */
static uint32_t *window_order(const struct judge_ctx *c, const char *context, size_t n, struct kerr *err)
{
	uint32_t *p = malloc((n ? n : 1) * sizeof *p);

	if (!p) {
		kerr_set(err, "judge.nomem", "out of memory for the order of %zu windows", n);
		return NULL;
	}
	seqtest_order(p, n, keyed_seed(c, context));
	return p;
}

/* How a split is scored beyond the whole of it in split order: a window
 * order, a stopper, and where each target's loss goes (evaluate.h). */
struct split_plan {
	const uint32_t *order;
	const struct eval_stopper *stop;
	double *target_nats;
	int tail_always; /* eval_opts.tail_always */
	const double *ref_nats; /* the king's losses the aimed probes weigh gains by, or NULL */
};

/* The causality audit's twin child: a fresh one with the final checkpoint,
 * started when the first twin is due (after the scoring; auditeval.h). */
struct twin_child {
	struct auditeval_twin tw; /* first: start's arg is the twin_child */
	struct judge_ctx *c;
	struct sandbox *sb;
};

static int start_twin(void *arg, struct recipe_host *h, struct kr_plan *plan, struct kerr *err)
{
	struct twin_child *t = arg;

	return judge_start_recipe(t->c, t->sb, h, plan, "checkpoints/final.ckpt", 1, err);
}

/* Scores a split on h (auditeval_split). With a twin, the causality audit
 * rides on the scoring calls themselves: the twin sees only the twins of
 * probed calls; an evaluation stopped early has audited the probed calls
 * it made. */
static int eval_split(struct judge_ctx *c, struct sandbox *sb, struct recipe_host *h, struct twin_child *twin,
		      const struct kr_plan *plan, const struct dataset *d, enum dataset_split_id split,
		      const struct split_plan *sp, struct eval_result *res, struct kerr *err)
{
	struct auditeval_opts ao = { .threads = c->o->threads,
				     .targets_max = scale_eval_targets(c->s->scale),
				     .audit_seed = audit_seed(c) };
	struct recipe_host *failed = NULL;
	struct auditeval_audited au;

	if (sp) {
		ao.order = sp->order;
		ao.stop = sp->stop;
		ao.target_nats = sp->target_nats;
		ao.tail_always = sp->tail_always;
		ao.ref_nats = sp->ref_nats;
	}
	if (twin)
		ao.aimed = CAUSALITY_AIMED;
	if (auditeval_split(h, twin ? &twin->tw : NULL, plan, d, split, &ao, res, &au, &failed, err) < 0) {
		if (failed)
			sandbox_explain(sb, failed, err);
		return -1;
	}
	if (twin) {
		c->r->causality_probes = au.probes;
		c->r->causality_aimed = au.aimed;
		c->r->causality_aimed_s = au.aimed_s;
		char say[192];
		snprintf(say, sizeof say,
			 "causality audit: %d drawn probes, %d aimed probes in %d twin calls (%.2f s), all passed",
			 au.probes, au.aimed, au.aimed_calls, au.aimed_s);
		judge_say(c, say);
	}
	return 0;
}

/* ---- the sequential hidden evaluation (docs/judging-checks.md) ------- */

/* The king's side of the paired test, for the candidate's windows. */
struct seq_hidden {
	struct seqtest q;
	double *king_win;  /* the king's nats on each of the candidate's full windows */
	double *king_nats; /* the king's nats per target (split order), for the aimed probes */
	uint32_t *order;
	double king_bpb, margin;
	struct eval_stopper stop;
};

static int seq_hidden_after(void *arg, const uint32_t *win, int rows, const double *row_nats, struct kerr *err)
{
	struct seq_hidden *sh = arg;
	double imp;

	(void)err;
	for (int r = 0; r < rows; r++)
		seqtest_add(&sh->q, row_nats[r] - sh->king_win[win[r]]);
	if (!seqtest_stop(&sh->q))
		return 0;
	/* The score it would be recorded with must not read as decisive. */
	return !king_decide(sh->king_bpb, sh->king_bpb + seqtest_estimate(&sh->q), sh->margin, &imp);
}

static void seq_hidden_free(struct seq_hidden *sh)
{
	free(sh->king_win);
	free(sh->king_nats);
	free(sh->order);
}

/* Sets up the sequential test against the king's recorded losses, or says
 * in c->r->hidden_cache why the candidate is scored in full: "off"
 * (--full-eval), "missing", "stale", "corrupt" (hlosses.h), "short" (too
 * few windows for a stop). Returns 1 when sequential, 0 when full, -1 on a
 * failure that is not the cache's. */
static int seq_hidden_init(struct judge_ctx *c, const struct dataset *hid, const struct kr_plan *plan,
			   struct seq_hidden *sh, struct kerr *err)
{
	char owner[HLOSSES_OWNER_MAX];
	struct hlosses kl = { 0 };
	struct kerr why = { { 0 }, { 0 } };
	const uint16_t *toks;
	uint32_t *tbytes = NULL;
	size_t n, full, rem;
	int vocab, tail, rc = -1;
	uint64_t bytes = 0;
	double ktail = 0;
	const char *state = "off";

	memset(sh, 0, sizeof *sh);
	if (dataset_tokens(hid, SPLIT_HIDDEN, &toks, &n, err) < 0 || evaluate_token_bytes(hid->tok, &tbytes, &vocab, err) < 0)
		goto out;
	c->cand.targets = hlosses_targets(n, scale_eval_targets(c->s->scale));
	c->cand.seq_len = plan->seq_len;
	snprintf(c->cand.hidden_digest, sizeof c->cand.hidden_digest, "%s", hid->digest);
	if (!(c->cand.nats = calloc(c->cand.targets ? c->cand.targets : 1, sizeof *c->cand.nats))) {
		kerr_set(err, "judge.nomem", "out of memory for %llu hidden losses", (unsigned long long)c->cand.targets);
		goto out;
	}
	rc = 0;
	if (c->o->full_eval)
		goto out;
	snprintf(owner, sizeof owner, "king %s %s", c->king.tag, c->king.commit);
	if (hlosses_load(c->s, owner, &kl, &why) < 0 ||
	    hlosses_bind(&kl, hid->digest, toks, c->cand.targets, tbytes, c->king.hidden_bpb, &why) < 0) {
		state = !strcmp(why.code, "hlosses.corrupt") ? "corrupt"
			: !strcmp(why.code, "hlosses.missing") ? "missing" : "stale";
		if (strcmp(state, "missing"))
			log_msg(LOG_WARN, "judge", "%s: %s; scoring in full", why.code, why.msg);
		goto out;
	}
	state = "short";
	if (evaluate_windows(plan, n, scale_eval_targets(c->s->scale), &full, &tail, &rem, err) < 0) {
		rc = -1;
		goto out;
	}
	if (full < 2 * SEQTEST_MIN_WINDOWS)
		goto out;
	if (!(sh->king_win = calloc(full, sizeof *sh->king_win)) ||
	    !(sh->order = window_order(c, "karpa hidden order v2:", full, err))) {
		rc = kerr_set(err, "judge.nomem", "out of memory for %zu windows", full);
		goto out;
	}
	for (size_t t = 0; t < kl.targets; t++) {
		size_t w = t / (size_t)plan->seq_len;
		if (w < full)
			sh->king_win[w] += kl.nats[t];
		else
			ktail += kl.nats[t];
		bytes += tbytes[toks[t + 1]];
	}
	seqtest_init(&sh->q, full, bytes, c->king.margin, ktail, 0);
	sh->king_bpb = c->king.hidden_bpb;
	sh->margin = c->king.margin;
	sh->stop.after_scored = seq_hidden_after;
	sh->stop.arg = sh;
	sh->king_nats = kl.nats; /* bound to these targets above */
	kl.nats = NULL;
	state = "used";
	rc = 1;
out:
	snprintf(c->r->hidden_cache, sizeof c->r->hidden_cache, "%s", state);
	if (rc < 1)
		seq_hidden_free(sh);
	hlosses_free(&kl);
	free(tbytes);
	return rc;
}

/* The public claim, after a hidden evaluation stopped early: the public
 * split is scored in a secret order for as large a share of its windows as
 * the hidden one was (at least the test's minimum), and the claim passes
 * if it lies within the two-sided bound (error SEQTEST_ALPHA) of that
 * estimate, widened by JUDGE_CLAIM_TOL. A short last window is scored
 * whatever the share and counted exactly: the estimate is the full
 * windows' plus its own nats (the GPU scales' splits end in one; scoring
 * them whole was most of a GPU judgment's evaluation). Anything else is
 * scored in full (check_public_claim), so a rejection rests on the full
 * evaluation. */
struct seq_public {
	struct seqtest q;
	uint64_t stop_at;
	struct eval_stopper stop;
};

static int seq_public_after(void *arg, const uint32_t *win, int rows, const double *row_nats, struct kerr *err)
{
	struct seq_public *sp = arg;

	(void)win;
	(void)err;
	for (int r = 0; r < rows; r++)
		seqtest_add(&sp->q, row_nats[r]);
	return sp->q.t >= sp->stop_at;
}

/* 1 when the claim was checked on part of the split and holds there, 0
 * when the full split must decide. */
static int public_claim_partial(struct judge_ctx *c, struct sandbox *sb, struct recipe_host *h, const struct kr_plan *plan,
				double share, struct kerr *err)
{
	const uint16_t *toks;
	uint32_t *tbytes = NULL, *order = NULL;
	size_t n, full, rem;
	int vocab, tail, rc = -1;
	uint64_t bytes = 0, nt;
	struct seq_public sp;
	struct split_plan pl = { 0 };
	struct eval_result res;
	double est, half;

	if (dataset_tokens(&c->pub, SPLIT_VAL, &toks, &n, err) < 0 ||
	    evaluate_token_bytes(c->pub.tok, &tbytes, &vocab, err) < 0 ||
	    evaluate_windows(plan, n, scale_eval_targets(c->s->scale), &full, &tail, &rem, err) < 0)
		goto out;
	rc = 0;
	if (full < 2 * SEQTEST_MIN_WINDOWS)
		goto out;
	nt = hlosses_targets(n, scale_eval_targets(c->s->scale));
	for (uint64_t t = 0; t < nt; t++)
		bytes += tbytes[toks[t + 1]];
	seqtest_init(&sp.q, full, bytes, 0, 0, SEQTEST_ALPHA / 2);
	sp.stop_at = (uint64_t)ceil(share * (double)full);
	if (sp.stop_at < sp.q.t_min)
		sp.stop_at = sp.q.t_min;
	if (sp.stop_at >= full)
		goto out;
	sp.stop.after_scored = seq_public_after;
	sp.stop.arg = &sp;
	if (!(order = window_order(c, "karpa public order v2:", full, err))) {
		rc = -1;
		goto out;
	}
	pl.order = order;
	pl.stop = &sp.stop;
	pl.tail_always = 1;
	if (eval_split(c, sb, h, NULL, plan, &c->pub, SPLIT_VAL, &pl, &res, err) < 0) {
		rc = -1;
		goto out;
	}
	if (tail && !res.tail_scored)
		goto out; /* no exact tail, no estimate: the full split decides */
	half = seqtest_estimate(&sp.q) - seqtest_lower(&sp.q);
	est = seqtest_estimate(&sp.q) + res.tail_nats / (M_LN2 * (double)bytes);
	if (res.stopped && fabs(est - c->pr.val_bpb) <= JUDGE_CLAIM_TOL + half) {
		c->r->public_bpb = est;
		c->r->public_targets = res.targets;
		rc = 1;
	}
out:
	free(order);
	free(tbytes);
	return rc;
}

/* The public claim on the whole public split, as the proof's own eval. */
static int check_public_claim(struct judge_ctx *c, struct sandbox *sb, struct recipe_host *h, const struct kr_plan *plan,
			      struct kerr *err)
{
	struct eval_result res;

	if (eval_split(c, sb, h, NULL, plan, &c->pub, SPLIT_VAL, NULL, &res, err) < 0)
		return -1;
	c->r->public_bpb = res.val_bpb;
	c->r->public_targets = res.targets;
	if (!(fabs(c->r->public_bpb - c->pr.val_bpb) <= JUDGE_CLAIM_TOL))
		return kerr_set(err, "judge.claim_mismatch", "claimed public val_bpb %.6f, recomputed %.6f (tolerance %g)",
				c->pr.val_bpb, c->r->public_bpb, JUDGE_CLAIM_TOL);
	return 0;
}

/* A recipe's own words (its error reason, the tail of its output) from a
 * child that has been fed hidden windows would reach the verdict, the
 * corpus and the service's answers: a channel out of the hidden split, a
 * few hundred bytes a submission. The code stays; the words go. */
static void withhold_recipe_words(struct kerr *err)
{
	/* where the logits went non-finite is the child's choice too: a
	 * window it picked by its content */
	if (!strncmp(err->code, "eval.", 5)) {
		snprintf(err->msg, sizeof err->msg,
			 "the recipe's logits failed the evaluation (%s) while scoring the hidden split; where is "
			 "withheld, as the child chooses it and could choose it by what the hidden windows hold",
			 err->code);
		return;
	}
	if (strncmp(err->code, "recipe.", 7) && strncmp(err->code, "sandbox.", 8))
		return;
	snprintf(err->msg, sizeof err->msg,
		 "the recipe failed (%s) while scoring the hidden split; what it said is withheld, as anything a "
		 "child that has read hidden windows writes could carry them", err->code);
}

/* Fresh children, each with the final checkpoint: one scores the hidden
 * split and has never seen anything else, so it cannot tell which split it
 * is looking at; one, started when the first probe is due, answers only
 * the causality audit's twins of that scoring; one recomputes the public
 * claim. The hidden split goes first.
 * The public claim is checked on a share of the public split (the share
 * the sequential test scored on the hidden one, or JUDGE_PUBLIC_SHARE),
 * and on the whole of it when that does not settle it or --full-eval. */
int judge_hidden_eval(struct judge_ctx *c, struct sandbox *sb, struct kerr *err)
{
	struct recipe_host h;
	struct twin_child tw;
	struct kr_plan plan;
	struct dataset hid;
	struct seq_hidden sh;
	struct split_plan pl = { 0 };
	struct eval_result res;
	struct expcorpus_check *ck = &c->r->checks[3];
	int rc = -1, hid_open = 0, seq = 0, partial = 0;

	memset(&h, 0, sizeof h);
	memset(&tw, 0, sizeof tw);
	tw.tw.start = start_twin;
	tw.tw.arg = &tw;
	tw.c = c;
	tw.sb = sb;
	memset(&sh, 0, sizeof sh);
	judge_say(c, "evaluating on the hidden split, with the causality audit");
	/* The validator's own folder: what is wrong with it is its trouble,
	 * no verdict on the proof (judge.c keeps judge.hidden_data off the
	 * record), and its own code says what to fix. */
	if (dataset_open(c->s->hidden, &hid, err) < 0) {
		if (!kerr_is_nomem(err)) {
			char why[KERR_MSG_MAX];

			snprintf(why, sizeof why, "%s (%s)", err->msg, err->code);
			kerr_set(err, "judge.hidden_data",
				 "this validator's hidden folder could not be read: %s; mend it (karpa data prepare "
				 "--hidden-out, from the same corpus) and judge again",
				 why);
		}
		goto out;
	}
	hid_open = 1;
	if (strcmp(hid.tokenizer_digest, c->pub.tokenizer_digest)) {
		kerr_set(err, "judge.hidden_data",
			 "this validator's hidden folder has another tokenizer than its public one: both must come "
			 "from one karpa data prepare");
		goto out;
	}
	if (judge_start_recipe(c, sb, &h, &plan, "checkpoints/final.ckpt", 1, err) < 0)
		goto out;
	if ((seq = seq_hidden_init(c, &hid, &plan, &sh, err)) < 0)
		goto out;
	pl.target_nats = c->cand.nats;
	if (seq) {
		pl.order = sh.order;
		pl.stop = &sh.stop;
		pl.ref_nats = sh.king_nats;
	}
	if (eval_split(c, sb, &h, &tw, &plan, &hid, SPLIT_HIDDEN, &pl, &res, err) < 0) {
		withhold_recipe_words(err);
		goto out;
	}
	c->r->hidden_partial = res.stopped;
	c->r->hidden_targets = res.targets;
	c->r->hidden_targets_all = c->cand.targets;
	/* Stopped: the paired estimate, the king's score plus the mean
	 * difference on the windows scored. */
	c->r->hidden_bpb = res.stopped ? c->king.hidden_bpb + seqtest_estimate(&sh.q) : res.val_bpb;
	c->e.hidden_bpb = c->r->hidden_bpb;
	if (res.stopped)
		snprintf(ck->message, sizeof ck->message,
			 "hidden evaluation stopped after %llu of %llu targets: cannot clear the margin (sequential test,"
			 " error %g); hidden_bpb is the paired estimate",
			 (unsigned long long)res.targets, (unsigned long long)c->cand.targets, SEQTEST_ALPHA);
	recipe_host_destroy(&h);
	recipe_host_destroy(&tw.tw.h);
	memset(&tw.tw.h, 0, sizeof tw.tw.h);
	judge_say(c, "recomputing the public val_bpb");
	if (judge_start_recipe(c, sb, &h, &plan, "checkpoints/final.ckpt", 1, err) < 0)
		goto out;
	if (!c->o->full_eval &&
	    (partial = public_claim_partial(c, sb, &h, &plan,
					    res.stopped ? (double)res.targets / (double)c->cand.targets : JUDGE_PUBLIC_SHARE,
					    err)) < 0)
		goto out;
	c->r->public_partial = partial;
	if (!partial && check_public_claim(c, sb, &h, &plan, err) < 0)
		goto out;
	c->e.public_bpb = c->r->public_bpb;
	rc = 0;
out:
	seq_hidden_free(&sh);
	if (hid_open)
		dataset_close(&hid);
	recipe_host_destroy(&h);
	recipe_host_destroy(&tw.tw.h);
	return rc;
}
