/* replay.c: spot replay. The checkpoint's state buffer is reused to save
 * the replayed state (the recipe copies what it loads), so a replay holds
 * one state in memory, like the training loop. The re-wrapped checkpoint
 * goes through ckpt_write, the training loop's own writer, so its bytes are
 * produced by the same code that produced the miner's. */
#include "protocol/replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness/checkpoint.h"
#include "harness/loader.h"
#include "util/fsutil.h"

static double now_s(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int replay_kept(const char *bundle_dir, const struct plausible_report *pr, int *idx_out, int max)
{
	char path[FS_PATH_MAX];
	int n = 0;

	for (int i = 0; i < pr->nckpt && n < max; i++) {
		if (pr->ckpt[i].step >= pr->steps)
			continue; /* the final checkpoint: nothing follows it */
		if (fs_join(path, sizeof path, NULL, "%s/%s", bundle_dir, pr->ckpt[i].file) == 0 && fs_exists(path))
			idx_out[n++] = i;
	}
	return n;
}

/* The checkpoint, the recipe's plan and the log must describe one run. */
static int check_meta(const struct ckpt_meta *m, const struct plausible_ckpt *c, const struct kr_plan *plan,
		      const struct plausible_report *pr, struct kerr *err)
{
	if (m->step != c->step || m->seed != pr->seed || strcmp(m->scale, pr->scale) ||
	    strcmp(m->data_digest, pr->data_digest) || strcmp(m->recipe, pr->recipe) ||
	    strcmp(m->recipe_version, pr->recipe_version))
		return kerr_set(err, "judge.replay_meta",
				"%s: header (step %lld, seed, scale, data, recipe) does not match the log's run",
				c->file, (long long)m->step);
	if (strcmp(plan->name, pr->recipe) || strcmp(plan->version, pr->recipe_version) || plan->batch != pr->batch ||
	    plan->seq_len != pr->seq_len || plan->steps != pr->steps || plan->params != pr->params)
		return kerr_set(err, "judge.replay_meta",
				"the recipe's plan (%s %s, batch %d, seq_len %d, %lld steps, %lld params) is not the "
				"logged run's",
				plan->name, plan->version, plan->batch, plan->seq_len, (long long)plan->steps,
				(long long)plan->params);
	return 0;
}

static int load_kept(struct recipe_host *h, const struct kr_plan *plan, const struct plausible_report *pr,
		     const struct plausible_ckpt *c, const char *dir, struct ckpt_meta *m, void **state, size_t *n,
		     struct kerr *err)
{
	char path[FS_PATH_MAX], sha[HASH_HEX_BYTES];
	size_t want;

	if (fs_join(path, sizeof path, err, "%s/%s", dir, c->file) < 0 || ckpt_read(path, m, state, n, sha, err) < 0)
		return -1;
	if (strcmp(sha, c->sha256))
		return kerr_set(err, "judge.replay_digest",
				"%s: SHA-256 %.16s..., the log recorded %.16s... for step %lld", c->file, sha,
				c->sha256, (long long)c->step);
	if (check_meta(m, c, plan, pr, err) < 0 || ckpt_check(m, plan, h->vocab_size, pr->tokenizer_digest, err) < 0 ||
	    recipe_host_state_bytes(h, &want, err) < 0)
		return -1;
	if (want != *n)
		return kerr_set(err, "ckpt.recipe_mismatch", "%s: state is %zu bytes, the recipe's state is %zu",
				c->file, *n, want);
	return h->load(h, *state, *n, err);
}

static int bits_equal(float a, float b)
{
	return !memcmp(&a, &b, sizeof a);
}

static int run_steps(struct recipe_host *h, const struct plausible_report *pr, const uint16_t *train, size_t ntrain,
		     struct replay_report *r, struct kerr *err)
{
	size_t row = (size_t)pr->seq_len + 1;
	uint16_t *batch = malloc((size_t)pr->batch * row * sizeof *batch);
	int rc = -1;

	if (!batch)
		return kerr_set(err, "replay.nomem", "out of memory for a batch of %d x %zu tokens", pr->batch, row);
	for (int64_t s = r->from_step; s < r->to_step; s++) {
		float loss = 0, lr = 0, want_loss = (float)pr->loss[s], want_lr = (float)pr->lr[s];
		if (loader_batch(pr->seed, s, pr->batch, pr->seq_len, train, ntrain, batch, err) < 0 ||
		    h->train_step(h, s, batch, &loss, &lr, err) < 0)
			goto out;
		if (!bits_equal(loss, want_loss) || !bits_equal(lr, want_lr)) {
			kerr_set(err, "judge.replay_mismatch",
				 "step %lld: replay gives loss %.17g lr %.17g, the log says loss %.17g lr %.17g",
				 (long long)s, (double)loss, (double)lr, pr->loss[s], pr->lr[s]);
			goto out;
		}
		r->steps++;
	}
	rc = 0;
out:
	free(batch);
	return rc;
}

/* Wraps the replayed state exactly as the training loop would have and
 * compares the container's digest with the log's record. */
static int check_next(struct recipe_host *h, const struct ckpt_meta *m0, void *state, size_t n,
		      const struct plausible_ckpt *next, const char *scratch, struct replay_report *r, struct kerr *err)
{
	struct ckpt_meta m = *m0;
	char dir[FS_PATH_MAX], path[FS_PATH_MAX];
	size_t now;
	int rc = -1;

	if (recipe_host_state_bytes(h, &now, err) < 0)
		return -1;
	if (now != n)
		return kerr_set(err, "judge.replay_digest", "the recipe's state changed size from %zu to %zu bytes", n,
				now);
	if (h->save(h, state, n, err) < 0)
		return -1;
	m.step = next->step;
	if (fs_join(dir, sizeof dir, err, "%s/karpa-replay-XXXXXX", scratch) < 0)
		return -1;
	if (!mkdtemp(dir))
		return kerr_errno(err, "fs.create", dir);
	if (fs_join(path, sizeof path, err, "%s/next.ckpt", dir) < 0 ||
	    ckpt_write(path, &m, state, n, r->next_sha256, err) < 0)
		goto out;
	r->digest_checked = 1;
	if (strcmp(r->next_sha256, next->sha256)) {
		kerr_set(err, "judge.replay_digest",
			 "replayed state at step %lld wraps to SHA-256 %.16s..., the log recorded %.16s... for %s",
			 (long long)next->step, r->next_sha256, next->sha256, next->file);
		goto out;
	}
	rc = 0;
out:
	fs_rm_rf(dir);
	return rc;
}

int replay_run(struct recipe_host *h, const struct kr_plan *plan, const struct plausible_report *pr,
	       const uint16_t *train, size_t ntrain, const struct replay_opts *o, struct replay_report *r,
	       struct kerr *err)
{
	int kept[REPLAY_KEPT_MAX], nkept, steps = o->steps ? o->steps : REPLAY_STEPS;
	double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
	const char *scratch = o->scratch_dir ? o->scratch_dir : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	const struct plausible_ckpt *c, *next;
	struct ckpt_meta m;
	void *state = NULL;
	size_t n = 0;
	int rc = -1;

	memset(r, 0, sizeof *r);
	if (steps < 1 || steps > REPLAY_STEPS_MAX || !pr->loss || !pr->lr)
		return kerr_set(err, "replay.bad_opts", "replay of %d steps (1..%d) needs a plausibility report", steps,
				REPLAY_STEPS_MAX);
	nkept = replay_kept(o->bundle_dir, pr, kept, REPLAY_KEPT_MAX);
	if (o->kept_index < 0 || o->kept_index >= nkept)
		return kerr_set(err, "replay.no_checkpoint", "%s: kept checkpoint %d asked, the bundle keeps %d",
				o->bundle_dir, o->kept_index, nkept);
	/* plausible_check guarantees the final checkpoint closes the records,
	 * so an intermediate always has a successor; a hand-made report may not. */
	if (kept[o->kept_index] + 1 >= pr->nckpt)
		return kerr_set(err, "replay.no_checkpoint", "no checkpoint record follows %s",
				pr->ckpt[kept[o->kept_index]].file);
	c = &pr->ckpt[kept[o->kept_index]];
	next = c + 1;
	snprintf(r->ckpt_file, sizeof r->ckpt_file, "%s", c->file);
	r->from_step = c->step;
	r->to_step = c->step + steps < next->step ? c->step + steps : next->step;
	if (load_kept(h, plan, pr, c, o->bundle_dir, &m, &state, &n, err) < 0 ||
	    run_steps(h, pr, train, ntrain, r, err) < 0)
		goto out;
	if (r->to_step == next->step && check_next(h, &m, state, n, next, scratch, r, err) < 0)
		goto out;
	rc = 0;
out:
	free(state);
	r->wall_s = now_s(CLOCK_MONOTONIC) - w0;
	r->cpu_s = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
	return rc;
}
