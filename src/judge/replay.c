/* replay.c: spot replay and binding. The header of every checkpoint is
 * rebuilt from the log (meta_for mirrors train.c's meta_of), never taken
 * from a file, and the re-wrapped checkpoint's digest comes from
 * ckpt_digest, the training loop's own writer without the file, so its
 * bytes are produced by the same code that produced the miner's. */
#include "judge/replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness/checkpoint.h"
#include "harness/loader.h"
#include "proof/bundle.h"
#include "util/fsutil.h"

static double now_s(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The header train.c writes for a checkpoint of this run at `step`
 * (train.c meta_of): everything but the step is constant within a run. */
static void meta_for(const struct plausible_report *pr, int64_t step, int vocab, uint64_t state_bytes,
		     struct ckpt_meta *m)
{
	memset(m, 0, sizeof *m);
	m->format = CKPT_FORMAT;
	snprintf(m->recipe, sizeof m->recipe, "%s", pr->recipe);
	snprintf(m->recipe_version, sizeof m->recipe_version, "%s", pr->recipe_version);
	snprintf(m->scale, sizeof m->scale, "%s", pr->scale);
	m->step = step;
	m->seed = pr->seed;
	memcpy(m->data_digest, pr->data_digest, HASH_HEX_BYTES);
	memcpy(m->tokenizer_digest, pr->tokenizer_digest, HASH_HEX_BYTES);
	m->vocab_size = vocab;
	m->state_bytes = state_bytes;
}

static int meta_equal(const struct ckpt_meta *a, const struct ckpt_meta *b)
{
	return a->format == b->format && !strcmp(a->recipe, b->recipe) &&
	       !strcmp(a->recipe_version, b->recipe_version) && !strcmp(a->scale, b->scale) && a->step == b->step &&
	       a->seed == b->seed && !strcmp(a->data_digest, b->data_digest) &&
	       !strcmp(a->tokenizer_digest, b->tokenizer_digest) && a->vocab_size == b->vocab_size &&
	       a->state_bytes == b->state_bytes;
}

/* Where record i's file lies in a bundle: the log names the final one
 * "final.ckpt" (its name in the run folder), the bundle keeps it under
 * checkpoints/. */
static const char *record_file(const struct plausible_report *pr, int i)
{
	return i == pr->nckpt - 1 && pr->ckpt[i].step == pr->steps ? BUNDLE_FINAL_CKPT : pr->ckpt[i].file;
}

/* Reads a checkpoint of the bundle (state NULL: its header only) and gives
 * its digest: the take's when there is one, so no byte is hashed twice;
 * else the whole file is read and hashed here. A file the take left
 * unhashed is hashed against the manifest when its state is read; for its
 * header alone, the digest given is the manifest's, which the bundle's
 * verification held to the log. */
static int read_ckpt(const char *path, const char *rel, struct bundle_taken *taken, struct ckpt_meta *m,
		     void **state, size_t *n, char sha[HASH_HEX_BYTES], struct kerr *err)
{
	const char *listed = taken ? bundle_taken_listed(taken, rel) : NULL, *known;
	void *tmp = NULL;
	size_t tn = 0;

	if (listed && !state) {
		snprintf(sha, HASH_HEX_BYTES, "%s", listed);
		return ckpt_read_header(path, m, err);
	}
	if (listed && bundle_taken_hash(taken, rel, err) < 0)
		return -1;
	known = taken ? bundle_taken_sha256(taken, rel) : NULL;
	if (known) {
		snprintf(sha, HASH_HEX_BYTES, "%s", known);
		return state ? ckpt_read_known(path, m, state, n, err) : ckpt_read_header(path, m, err);
	}
	if (ckpt_read(path, m, state ? state : &tmp, n ? n : &tn, sha, err) < 0)
		return -1;
	free(tmp);
	return 0;
}

/* Whether the bundle holds name: with a take, whether the take copied it
 * (or took it from the held folder), not whatever stands at its path. */
static int bundle_has(const struct bundle_taken *taken, const char *path, const char *name)
{
	if (!taken)
		return fs_exists(path);
	return bundle_taken_has(taken, name);
}

int replay_check_headers(const char *bundle_dir, struct bundle_taken *taken, const struct plausible_report *pr,
			 int vocab_size, const json_t *held, struct kerr *err)
{
	uint64_t state_bytes = 0;
	int first = 1;

	for (int i = 0; i < pr->nckpt; i++) {
		char path[FS_PATH_MAX], sha[HASH_HEX_BYTES];
		struct ckpt_meta m, want;
		int rc, present;

		if (fs_join(path, sizeof path, err, "%s/%s", bundle_dir, record_file(pr, i)) < 0)
			return -1;
		present = bundle_has(taken, path, record_file(pr, i));
		if (!present && held && json_object_get(held, record_file(pr, i)))
			continue;
		if (!present)
			return kerr_set(err, "judge.ckpt_missing",
					"the log records a checkpoint at step %lld (%s) that the bundle does not keep: a"
					" bundle keeps every checkpoint so that any segment can be replayed",
					(long long)pr->ckpt[i].step, pr->ckpt[i].file);
		if (read_ckpt(path, record_file(pr, i), taken, &m, NULL, NULL, sha, err) < 0)
			return -1;
		if (strcmp(sha, pr->ckpt[i].sha256))
			return kerr_set(err, "judge.replay_digest", "%s: SHA-256 %.16s..., the log recorded %.16s...",
					pr->ckpt[i].file, sha, pr->ckpt[i].sha256);
		if (first)
			state_bytes = m.state_bytes;
		first = 0;
		meta_for(pr, pr->ckpt[i].step, vocab_size, state_bytes, &want);
		rc = meta_equal(&m, &want);
		/* A header read from a file the take has not hashed: the file
		 * may simply not be the one listed, which says more. */
		if (!rc && taken && bundle_taken_hash(taken, record_file(pr, i), err) < 0)
			return -1;
		if (!rc)
			return kerr_set(err, "judge.ckpt_meta",
					"%s: header (step %lld, seed %llu, scale %s, recipe %s %s, vocab %d, %llu state bytes)"
					" is not the one the harness writes for step %lld of the logged run",
					pr->ckpt[i].file, (long long)m.step, (unsigned long long)m.seed, m.scale, m.recipe,
					m.recipe_version, m.vocab_size, (unsigned long long)m.state_bytes,
					(long long)pr->ckpt[i].step);
	}
	return 0;
}

/* The recipe's plan must be the logged run's. */
static int check_plan(const struct kr_plan *plan, const struct plausible_report *pr, struct kerr *err)
{
	if (strcmp(plan->name, pr->recipe) || strcmp(plan->version, pr->recipe_version) || plan->batch != pr->batch ||
	    plan->seq_len != pr->seq_len || plan->steps != pr->steps || plan->params != pr->params)
		return kerr_set(err, "judge.replay_meta",
				"the recipe's plan (%s %s, batch %d, seq_len %d, %lld steps, %lld params) is not the "
				"logged run's",
				plan->name, plan->version, plan->batch, plan->seq_len, (long long)plan->steps,
				(long long)plan->params);
	return 0;
}

/* Loads the segment's start checkpoint (record c) into h after checking it
 * is the file the log recorded and carries the header the harness writes. */
static int load_start(struct recipe_host *h, const struct kr_plan *plan, const struct plausible_report *pr,
		      const struct plausible_ckpt *c, const char *dir, struct bundle_taken *taken, void **state,
		      size_t *n, struct kerr *err)
{
	char path[FS_PATH_MAX], sha[HASH_HEX_BYTES];
	struct ckpt_meta m, want;
	size_t have;

	if (fs_join(path, sizeof path, err, "%s/%s", dir, c->file) < 0 ||
	    read_ckpt(path, c->file, taken, &m, state, n, sha, err) < 0)
		return -1;
	if (strcmp(sha, c->sha256))
		return kerr_set(err, "judge.replay_digest",
				"%s: SHA-256 %.16s..., the log recorded %.16s... for step %lld", c->file, sha,
				c->sha256, (long long)c->step);
	meta_for(pr, c->step, h->vocab_size, *n, &want);
	if (!meta_equal(&m, &want))
		return kerr_set(err, "judge.replay_meta",
				"%s: header (step %lld, seed, scale, data, recipe) does not match the log's run",
				c->file, (long long)m.step);
	if (ckpt_check(&m, plan, h->vocab_size, pr->tokenizer_digest, err) < 0 ||
	    recipe_host_state_bytes(h, &have, err) < 0)
		return -1;
	if (have != *n)
		return kerr_set(err, "ckpt.recipe_mismatch", "%s: state is %zu bytes, the recipe's state is %zu",
				c->file, *n, have);
	return h->load(h, *state, *n, err);
}

static int bits_equal(float a, float b)
{
	return !memcmp(&a, &b, sizeof a);
}

static void note_mismatch(struct replay_report *r, int64_t s, const char *what)
{
	if (r->mismatch_step >= 0)
		return;
	r->mismatch_step = s;
	snprintf(r->mismatch_what, sizeof r->mismatch_what, "%s", what);
}

static int run_steps(struct recipe_host *h, const struct plausible_report *pr, const uint16_t *train, size_t ntrain,
		     const struct replay_opts *o, struct replay_report *r, struct kerr *err)
{
	size_t row = (size_t)pr->seq_len + 1;
	uint16_t *batch = malloc((size_t)pr->batch * row * sizeof *batch);
	struct recipe_trace_rec *recs = o->trace ? malloc(RECIPE_TRACE_MAX * sizeof *recs) : NULL;
	struct kerr first = { 0 };
	int rc = -1;

	if (!batch || (o->trace && !recs)) {
		kerr_set(err, "replay.nomem", "out of memory for a batch of %d x %zu tokens", pr->batch, row);
		goto out;
	}
	for (int64_t s = r->from_step; s < r->to_step; s++) {
		float loss = 0, lr = 0, want_loss = (float)pr->loss[s], want_lr = (float)pr->lr[s];
		uint32_t n = 0;
		int bad_loss, bad_lr;

		if (loader_batch(pr->seed, s, pr->batch, pr->seq_len, train, ntrain, batch, err) < 0)
			goto out;
		if (o->trace ? recipe_host_train_traced(h, s, batch, &loss, &lr, recs, RECIPE_TRACE_MAX, &n, err) < 0 ||
				       trace_doc_add(o->trace, s, loss, lr, recs, n, err) < 0
			     : h->train_step(h, s, batch, &loss, &lr, err) < 0)
			goto out;
		bad_loss = !bits_equal(loss, want_loss);
		bad_lr = !bits_equal(lr, want_lr);
		if (bad_loss || bad_lr) {
			if (r->mismatch_step < 0)
				kerr_set(&first, "judge.replay_mismatch",
					 "step %lld: replay gives loss %.17g lr %.17g, the log says loss %.17g lr %.17g",
					 (long long)s, (double)loss, (double)lr, pr->loss[s], pr->lr[s]);
			note_mismatch(r, s, bad_loss && bad_lr ? "loss+lr" : bad_loss ? "loss" : "lr");
			if (!o->keep_going) {
				*err = first;
				goto out;
			}
		}
		r->steps++;
	}
	if (r->mismatch_step >= 0) {
		*err = first;
		goto out;
	}
	rc = 0;
out:
	free(recs);
	free(batch);
	return rc;
}

/* Wraps the replayed state exactly as the training loop would have and
 * compares the container's digest with the log's record. The container is
 * hashed, not written: ckpt_digest is ckpt_write's own pass without the
 * file, which at the GPU scales saves writing and syncing gigabytes. */
static int check_end(struct recipe_host *h, const struct plausible_report *pr, const struct plausible_ckpt *end,
		     const char *bundle_dir, size_t start_n, struct replay_report *r, struct kerr *err)
{
	struct ckpt_meta m;
	void *state = NULL;
	size_t n, want = start_n;
	int rc = -1;

	/* The size is the recipe's to say, and the host allocates it (and
	 * the shared buffer it comes through): held first to the run's own,
	 * the start's state or the final checkpoint's header (every
	 * checkpoint of a run holds the same), so that a recipe cannot make
	 * the validator take 16 GiB its proof never had. */
	if (!want) {
		char path[FS_PATH_MAX];

		if (fs_join(path, sizeof path, err, "%s/%s", bundle_dir, BUNDLE_FINAL_CKPT) < 0 ||
		    ckpt_read_header(path, &m, err) < 0)
			return -1;
		want = (size_t)m.state_bytes;
	}
	if (recipe_host_state_bytes(h, &n, err) < 0)
		return -1;
	if (n != want) {
		kerr_set(err, "judge.replay_digest",
			 "the replayed state at step %lld is %zu bytes, the run's checkpoints hold %zu: not the logged run",
			 (long long)end->step, n, want);
		note_mismatch(r, end->step, "digest");
		return -1;
	}
	if (!(state = malloc(n)))
		return kerr_set(err, "replay.nomem", "out of memory for %zu bytes of recipe state", n);
	if (h->save(h, state, n, err) < 0)
		goto out;
	meta_for(pr, end->step, h->vocab_size, n, &m);
	if (ckpt_digest(&m, state, n, r->next_sha256, err) < 0)
		goto out;
	r->digest_checked = 1;
	if (strcmp(r->next_sha256, end->sha256)) {
		kerr_set(err, "judge.replay_digest",
			 "replayed state at step %lld wraps to SHA-256 %.16s..., the log recorded %.16s... for %s",
			 (long long)end->step, r->next_sha256, end->sha256, end->file);
		note_mismatch(r, end->step, "digest");
		goto out;
	}
	rc = 0;
out:
	free(state);
	return rc;
}

int replay_run(struct recipe_host *h, const struct kr_plan *plan, const struct plausible_report *pr,
	       const uint16_t *train, size_t ntrain, const struct replay_opts *o, struct replay_report *r,
	       struct kerr *err)
{
	double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
	const struct plausible_ckpt *start, *end;
	void *state = NULL;
	size_t n = 0;
	int rc = -1;

	memset(r, 0, sizeof *r);
	r->mismatch_step = -1;
	if (o->steps < 0 || o->steps > REPLAY_STEPS_MAX || !pr->loss || !pr->lr)
		return kerr_set(err, "replay.bad_opts", "replay of %d steps (0..%d) needs a plausibility report",
				o->steps, REPLAY_STEPS_MAX);
	if (o->segment < 0 || o->segment >= pr->nckpt)
		return kerr_set(err, "replay.no_checkpoint", "%s: segment %d asked, the log has %d", o->bundle_dir,
				o->segment, pr->nckpt);
	start = o->segment > 0 ? &pr->ckpt[o->segment - 1] : NULL;
	end = &pr->ckpt[o->segment];
	snprintf(r->ckpt_file, sizeof r->ckpt_file, "%s", start ? start->file : "init");
	r->from_step = start ? start->step : 0;
	r->to_step = o->steps && r->from_step + o->steps < end->step ? r->from_step + o->steps : end->step;
	if (check_plan(plan, pr, err) < 0 ||
	    (start && load_start(h, plan, pr, start, o->bundle_dir, o->taken, &state, &n, err) < 0))
		goto out;
	/* The start's state is the recipe's now. Held on to, the end's copy
	 * (check_end) would make a state of the miner's size twice, and its
	 * replay.nomem is no verdict where the load's ckpt.nomem is one. */
	free(state);
	state = NULL;
	if (run_steps(h, pr, train, ntrain, o, r, err) < 0)
		goto out;
	if (r->to_step == end->step && check_end(h, pr, end, o->bundle_dir, start ? n : 0, r, err) < 0)
		goto out;
	rc = 0;
out:
	free(state);
	r->wall_s = now_s(CLOCK_MONOTONIC) - w0;
	r->cpu_s = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
	return rc;
}
