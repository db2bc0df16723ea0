/* noise.c: the noise floor (PROTOCOL 6). Owns exporting and building the
 * king, the sandbox its runs start in, its N training runs and hidden
 * evaluations, the statistics, and the noise row (the king's score is
 * written by king.c, in the same transaction). Never runs recipe code
 * in-process or unsandboxed: every run is a child of the sandbox made here.
 * Never leaves scratch folders behind. */
#include "validator/noise.h"

#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/checkpoint.h"
#include "judge/auditeval.h"
#include "judge/causality.h"
#include "judge/rundevice.h"
#include "judge/seqtest.h"
#include "sandbox/recipe_build.h"
#include "sandbox/sandbox.h"
#include "harness/scale.h"
#include "harness/train.h"
#include "proof/prove.h"
#include "validator/king.h"
#include "util/fsutil.h"
#include "util/progress.h"
#include "util/log.h"

/* The king's score is its run at the protocol's seed: that index must be
 * among the seeds trained (1..N with N >= NOISE_SEEDS_MIN). */
_Static_assert(PROVE_SEED_DEFAULT >= 1 && PROVE_SEED_DEFAULT <= NOISE_SEEDS_MIN,
	       "the protocol seed must be one of the noise seeds");

double noise_sample_sd(const double *v, int n, double *mean)
{
	double sum = 0, ss = 0, m;

	if (mean)
		*mean = NAN;
	if (n < 2)
		return NAN;
	for (int i = 0; i < n; i++)
		sum += v[i];
	m = sum / n;
	/* Two passes: the values agree to several digits, and the one-pass
	 * formula would cancel exactly those digits. */
	for (int i = 0; i < n; i++)
		ss += (v[i] - m) * (v[i] - m);
	if (mean)
		*mean = m;
	return sqrt(ss / (n - 1));
}

void noise_result_free(struct noise_result *r)
{
	hlosses_free(&r->king_losses);
	free(r->hidden_bpb);
	free(r->public_bpb);
	free(r->seed);
	r->hidden_bpb = r->public_bpb = NULL;
	r->seed = NULL;
}

uint64_t noise_seed(const uint8_t secret[VSTATE_SECRET_BYTES], const char *king_tag, int n)
{
	static const char context[] = NOISE_SEED_CONTEXT;
	crypto_generichash_state st;
	uint8_t h[crypto_generichash_BYTES], idx[8];
	uint64_t x = 0;

	if (n == PROVE_SEED_DEFAULT)
		return PROVE_SEED_DEFAULT;
	for (int i = 0; i < 8; i++)
		idx[i] = (uint8_t)((uint64_t)n >> (8 * i));
	crypto_generichash_init(&st, secret, VSTATE_SECRET_BYTES, sizeof h);
	/* the context's and the tag's NULs end them: no other (tag, n) hashes
	 * the same bytes */
	crypto_generichash_update(&st, (const uint8_t *)context, sizeof context);
	crypto_generichash_update(&st, (const uint8_t *)king_tag, strlen(king_tag) + 1);
	crypto_generichash_update(&st, idx, sizeof idx);
	crypto_generichash_final(&st, h, sizeof h);
	for (int i = 0; i < 8; i++)
		x |= (uint64_t)h[i] << (8 * i);
	sodium_memzero(h, sizeof h);
	return KING_SEED_MIN + x % (KING_SEED_MAX - KING_SEED_MIN + 1);
}

/* ------------------------------------------------------------- one seed */

struct job {
	struct vstate *s;
	const struct noise_opts *o;
	struct sandbox *sb;
	const char *work;
	uint32_t applied; /* layers of the last child that finished preparing */
	const struct dataset *pub, *hidden; /* verified once for every seed */
	const char *king_tag; /* binds the secret draws of its evaluations */
	int probes;           /* causality probes run so far, all passed */
	int aimed;            /* aimed probes run so far, all passed */
	/* The protocol seed's hidden losses once measured (it goes first):
	 * what the other seeds' aimed probes weigh their gains against. */
	const double *ref_nats;
	uint64_t targets;
	/* where the last seed's time went, for --progress: the training run
	 * (its step loop, checkpoints included, and its public evaluation) and
	 * the hidden evaluation */
	double train_s, steps_s, hidden_s;
};

/* A fresh sandboxed child of J's sandbox in h. */
static int spawn(struct job *J, struct recipe_host *h, struct kerr *err)
{
	memset(h, 0, sizeof *h);
	return sandbox_spawn(J->sb, h, err);
}

/* Notes which layers the last child ran under. */
static void note_layers(struct job *J)
{
	struct sandbox_report rep;

	sandbox_report(J->sb, &rep);
	J->applied = rep.applied;
}

/* Why a child that is still ours failed, in sandbox terms when the sandbox
 * ended it. Returns -1. */
static int child_failed(struct job *J, struct recipe_host *h, struct kerr *err)
{
	sandbox_explain(J->sb, h, err);
	note_layers(J);
	return -1;
}

/* The final checkpoint of one seed's run, read once, for the scoring child
 * and, when a twin is due, the audit's twin child. */
struct seed_ckpt {
	struct job *J;
	struct ckpt_meta m;
	void *state;
	size_t n;
};

/* A fresh child of J's sandbox in h with the checkpoint loaded. */
static int load_child(struct seed_ckpt *sc, struct recipe_host *h, struct kr_plan *plan, struct kerr *err)
{
	if (spawn(sc->J, h, err) < 0)
		return -1;
	if (train_load_state(h, sc->J->hidden, sc->J->o->threads, &sc->m, sc->state, sc->n, plan, err) < 0)
		return child_failed(sc->J, h, err);
	return 0;
}

static int start_twin(void *arg, struct recipe_host *h, struct kr_plan *plan, struct kerr *err)
{
	return load_child(arg, h, plan, err);
}

/* The hidden evaluation of one seed's final checkpoint, as a judgment's
 * is made: the windows in an order drawn from the validator secret (bound
 * to the king and the seed), the causality audit on the scoring calls, its
 * twins after them in a second child. In split order a recipe could tell
 * this run from a challenger's judgment (consecutive rows continue one
 * another) and, unaudited, read the next row's tokens here alone: its
 * recorded score, and the losses every challenger is paired with, would be
 * better than it earns. An honest recipe's rows are independent, so the
 * order changes none of its bits (evaluate.h). */
static int eval_hidden(struct job *J, const char *ckpt, uint64_t seed, double *target_nats, const double *ref_nats,
		       struct eval_result *res,
		       int *seq_len, struct kerr *err)
{
	struct seed_ckpt sc = { .J = J };
	struct recipe_host h = { 0 };
	struct auditeval_twin tw = { .start = start_twin, .arg = &sc };
	struct auditeval_opts ao = { .threads = J->o->threads, .targets_max = scale_eval_targets(J->s->scale),
				     .target_nats = target_nats, .aimed = CAUSALITY_AIMED, .ref_nats = ref_nats };
	struct kr_plan plan;
	struct recipe_host *failed = NULL;
	uint32_t *order = NULL;
	const uint16_t *toks;
	char bound[RECIPEREPO_TAG_MAX + 32], sha[HASH_HEX_BYTES];
	size_t n, full, tail_len;
	int tail, rc = -1;
	struct auditeval_audited au;

	snprintf(bound, sizeof bound, "%s seed %llu", J->king_tag, (unsigned long long)seed);
	if (ckpt_read(ckpt, &sc.m, &sc.state, &sc.n, sha, err) < 0 || load_child(&sc, &h, &plan, err) < 0 ||
	    dataset_tokens(J->hidden, SPLIT_HIDDEN, &toks, &n, err) < 0 ||
	    evaluate_windows(&plan, n, ao.targets_max, &full, &tail, &tail_len, err) < 0)
		goto out;
	if (!(order = malloc((full ? full : 1) * sizeof *order))) {
		kerr_set(err, "noise.nomem", "out of memory for the order of %zu windows", full);
		goto out;
	}
	seqtest_order(order, full, auditeval_keyed_seed(J->s->secret, VSTATE_SECRET_BYTES, "karpa noise order v1:", bound));
	ao.order = order;
	ao.audit_seed = auditeval_keyed_seed(J->s->secret, VSTATE_SECRET_BYTES, "karpa noise audit v1:", bound);
	if (auditeval_split(&h, &tw, &plan, J->hidden, SPLIT_HIDDEN, &ao, res, &au, &failed, err) < 0) {
		if (failed)
			child_failed(J, failed, err);
		goto out;
	}
	note_layers(J);
	J->probes += au.probes;
	J->aimed += au.aimed;
	*seq_len = plan.seq_len;
	rc = 0;
out:
	recipe_host_destroy(&h);
	recipe_host_destroy(&tw.h);
	free(order);
	free(sc.state);
	return rc;
}

/* Trains at one seed into a scratch run folder, evaluates its final
 * checkpoint on the hidden split, removes the folder. Each stage gets its
 * own child: train_run ends the one it drives. */
static int one_seed(struct job *J, uint64_t seed, double *hidden, double *public_bpb, struct hlosses *kl,
		    char final_hex[HASH_HEX_BYTES], struct kerr *err)
{
	char run[FS_PATH_MAX], ckpt[FS_PATH_MAX];
	struct train_opts to = { .data_dir = J->s->data, .data = J->pub, .scale = J->s->scale, .seed = seed,
				 .threads = J->o->threads };
	struct train_result tr;
	struct eval_result res;
	struct recipe_host h = { 0 };
	double t0, *mine = NULL;
	int rc = -1, seq_len = 0;

	if (fs_join(run, sizeof run, err, "%s/run-%llu", J->work, (unsigned long long)seed) < 0 ||
	    fs_join(ckpt, sizeof ckpt, err, "%s/final.ckpt", run) < 0)
		return -1;
	to.out_dir = run;
	/* With its checkpoints and restarts, as a proof trains, though only
	 * the end is scored: a screening run (final_only) has the same bits
	 * only for a recipe that keeps nothing outside its state, and a king
	 * is untrusted code that may tell the two apart. Its score and the
	 * hidden losses a challenger is paired with must come from the
	 * conditions its proof and every challenger's ran under. */
	if (spawn(J, &h, err) < 0)
		goto out;
	/* explained before train_run destroys the host, or never */
	to.on_fail = sandbox_on_fail;
	to.on_fail_arg = J->sb;
	if (train_run(&to, &h, &tr, err) < 0) {
		/* explained by on_fail; the host is gone */
		note_layers(J);
		goto out;
	}
	note_layers(J);
	recipe_host_destroy(&h);
	J->train_s = tr.wall_ms / 1e3;
	J->steps_s = tr.train_ms / 1e3;
	t0 = progress_now_ms();
	/* A seed other than the protocol one keeps its losses only for its
	 * aimed probes, weighed against the protocol seed's: a king that
	 * leaked in these runs alone would widen sigma, and the margin every
	 * challenger must clear. */
	if (!kl && J->ref_nats && !(mine = calloc(J->targets ? J->targets : 1, sizeof *mine))) {
		kerr_set(err, "noise.nomem", "out of memory for %llu hidden losses", (unsigned long long)J->targets);
		goto out;
	}
	if (eval_hidden(J, ckpt, seed, kl ? kl->nats : mine, kl ? NULL : J->ref_nats, &res, &seq_len, err) < 0)
		goto out;
	J->hidden_s = (progress_now_ms() - t0) / 1e3;
	if (!isfinite(res.val_bpb)) {
		kerr_set(err, "noise.nonfinite", "seed %llu: hidden val_bpb is not finite", (unsigned long long)seed);
		goto out;
	}
	*hidden = res.val_bpb;
	if (kl)
		kl->seq_len = seq_len;
	*public_bpb = tr.val.val_bpb;
	if (final_hex)
		snprintf(final_hex, HASH_HEX_BYTES, "%s", tr.final_sha256);
	rc = 0;
out:
	if (rc < 0)
		kerr_prefix(err, "noise floor, seed %llu", (unsigned long long)seed);
	/* Safe after train_run and eval ended the child: destroy is then a no-op. */
	recipe_host_destroy(&h);
	fs_rm_rf(run);
	free(mine);
	return rc;
}

static void eta(double s, char out[32])
{
	long t = s > 0 && s < 1e7 ? (long)(s + 0.5) : 0;

	snprintf(out, 32, "%ld:%02ld", t / 60, t % 60);
}

/* ---------------------------------------------------------------- store */

struct store_args {
	long long king_id;
	const struct noise_result *r;
	const char *values_json;
};

/* The noise row, then the king's score through king.c: one transaction, so
 * a king.stale (or any failure) from the second rolls back the first. */
static int store_tx(struct vstate *s, void *arg, struct kerr *err)
{
	const struct store_args *a = arg;
	sqlite3_stmt *st = NULL;
	char now[VSTATE_TIME_BYTES];
	int rc = -1;

	vstate_now_iso(now);
	if (sqlite3_prepare_v2(s->db, "INSERT INTO noise(king_tag, scale, seeds, sigma, margin, values_json,"
				      " created_at, final_sha256) VALUES(?, ?, ?, ?, ?, ?, ?, ?)", -1, &st, NULL) != SQLITE_OK)
		return vstate_sql_error(s, "store noise floor", err);
	sqlite3_bind_text(st, 1, a->r->king_tag, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, a->r->scale, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, a->r->seeds);
	sqlite3_bind_double(st, 4, a->r->sigma);
	sqlite3_bind_double(st, 5, a->r->margin);
	sqlite3_bind_text(st, 6, a->values_json, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, now, -1, SQLITE_STATIC);
	if (a->r->king_final[0])
		sqlite3_bind_text(st, 8, a->r->king_final, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 8);
	if (sqlite3_step(st) != SQLITE_DONE) {
		vstate_sql_error(s, "store noise floor", err);
		goto out;
	}
	if (king_record_noise_score(s, a->king_id, a->r->king_hidden_bpb, a->r->public_bpb[PROVE_SEED_DEFAULT - 1],
				    err) < 0)
		goto out;
	if (a->r->king_losses.nats && hlosses_save(s, &a->r->king_losses, err) < 0)
		goto out;
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

/* {"format", "seeds": [1, noise_seed(2..N)], "hidden_bpb": [...], "public_bpb": [...]};
 * caller frees. */
static char *values_json(const struct noise_result *r)
{
	json_t *o = json_object(), *seeds = json_array(), *hid = json_array(), *pub = json_array();
	char *t = NULL;

	if (!o || !seeds || !hid || !pub)
		goto out;
	for (int i = 0; i < r->seeds; i++) {
		json_array_append_new(seeds, json_integer((json_int_t)r->seed[i]));
		json_array_append_new(hid, json_real(r->hidden_bpb[i]));
		json_array_append_new(pub, json_real(r->public_bpb[i]));
	}
	json_object_set_new(o, "format", json_string(NOISE_FORMAT));
	json_object_set(o, "seeds", seeds);
	json_object_set(o, "hidden_bpb", hid);
	json_object_set(o, "public_bpb", pub);
	t = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
out:
	json_decref(o);
	json_decref(seeds);
	json_decref(hid);
	json_decref(pub);
	return t;
}

int noise_store(struct vstate *s, long long king_id, const struct noise_result *r, struct kerr *err)
{
	struct store_args sa = { .king_id = king_id, .r = r };
	char *vj;
	int rc;

	if (!r->seed || !r->hidden_bpb || !r->public_bpb)
		return kerr_set(err, "noise.incomplete", "a noise result without its seeds or scores is not stored");
	if (!(vj = values_json(r)))
		return kerr_set(err, "noise.nomem", "cannot encode the noise values");
	sa.values_json = vj;
	rc = vstate_tx(s, store_tx, &sa, err);
	free(vj);
	return rc;
}

/* ---------------------------------------------------------------- floor */

static int check_opts(const struct noise_opts *o, struct kerr *err)
{
	if (o->seeds < NOISE_SEEDS_MIN)
		return kerr_set(err, "noise.too_few_seeds", "%d seeds: a spread needs at least %d", o->seeds,
				NOISE_SEEDS_MIN);
	if (o->seeds > NOISE_SEEDS_MAX)
		return kerr_set(err, "noise.too_many_seeds", "%d seeds: at most %d", o->seeds, NOISE_SEEDS_MAX);
	if (o->threads < 1 || o->threads > TRAIN_THREADS_MAX)
		return kerr_set(err, "train.bad_threads", "threads %d: not 1..%d", o->threads, TRAIN_THREADS_MAX);
	return 0;
}

/* Exports the king, builds it, and makes the sandbox for its runner. */
static int build_king(struct vstate *s, const struct noise_opts *o, const char *tag, const char *work,
		      struct sandbox **sb, struct kerr *err)
{
	struct recipe_build_info bi;
	struct sandbox_config cfg;
	struct rundevice dev;
	char dir[FS_PATH_MAX];
	int rc;

	/* the gpu-* scales' kings train on this validator's GPU (rundevice.h) */
	if (rundevice_for_scale(s->scale, NULL, &dev, err) < 0 || fs_join(dir, sizeof dir, err, "%s/recipe", work) < 0 ||
	    reciperepo_export(s->recipe, tag, dir, err) < 0)
		return -1;
	sandbox_config_validator(&cfg, o->threads);
	rc = rundevice_sandbox(&dev, dir, &cfg, sb, &bi, err);
	rundevice_free(&dev);
	if (rc < 0)
		return -1;
	if (o->progress)
		log_msg(LOG_PROGRESS, "noise floor", "king %s built%s for %s (sources %.16s...)", tag,
			bi.cached ? " (cached)" : "", dev.cuda ? dev.gpu : "the CPU", bi.source_digest);
	return 0;
}

double noise_margin(double sigma)
{
	if (!isfinite(sigma) || sigma < 0)
		return NAN;
	return fmax(NOISE_MARGIN_SIGMAS * sigma, NOISE_MARGIN_MIN);
}

/* The king's score is its value at seed PROVE_SEED_DEFAULT, not the mean:
 * a candidate is judged from its own seed-1 proof, so the two numbers
 * compared must come from the same seed; the other seeds only measure how
 * far one seed's result can move by chance, which is what the margin is. */
static int fill_stats(struct noise_result *r, struct kerr *err)
{
	r->sigma = noise_sample_sd(r->hidden_bpb, r->seeds, &r->mean);
	if (!isfinite(r->sigma))
		return kerr_set(err, "noise.nonfinite", "the spread of the hidden scores is not finite");
	r->margin = noise_margin(r->sigma);
	r->king_hidden_bpb = r->hidden_bpb[PROVE_SEED_DEFAULT - 1];
	r->king_losses.bpb = r->king_hidden_bpb;
	return 0;
}

/* Room for the protocol seed's hidden losses, owned by the king they will
 * be stored for (hlosses.h); that run's evaluation fills them and the
 * windows they were added in. */
static int king_losses_init(struct vstate *s, const struct vstate_king *k, const struct dataset *hid,
			    struct hlosses *l, struct kerr *err)
{
	const uint16_t *toks;
	size_t n;

	if (dataset_tokens(hid, SPLIT_HIDDEN, &toks, &n, err) < 0)
		return -1;
	snprintf(l->owner, sizeof l->owner, "king %s %s", k->tag, k->commit);
	snprintf(l->hidden_digest, sizeof l->hidden_digest, "%s", hid->digest);
	l->targets = hlosses_targets(n, scale_eval_targets(s->scale));
	if (!(l->nats = calloc(l->targets ? l->targets : 1, sizeof *l->nats)))
		return kerr_set(err, "noise.nomem", "out of memory for %llu hidden losses", (unsigned long long)l->targets);
	return 0;
}

int noise_floor(struct vstate *s, const struct noise_opts *o, struct noise_result *r, struct kerr *err)
{
	char work[FS_PATH_MAX] = "", left[32];
	struct sandbox *sb = NULL;
	struct vstate_king k;
	struct dataset pub, hid;
	double t0 = progress_now_ms();
	int rc = -1, pub_open = 0, hid_open = 0;

	memset(r, 0, sizeof *r);
	if (check_opts(o, err) < 0 || vstate_king_current(s, &k, err) < 0)
		return -1;
	snprintf(r->king_tag, sizeof r->king_tag, "%s", k.tag);
	snprintf(r->scale, sizeof r->scale, "%s", s->scale);
	r->seeds = o->seeds;
	r->hidden_bpb = calloc((size_t)o->seeds, sizeof *r->hidden_bpb);
	r->public_bpb = calloc((size_t)o->seeds, sizeof *r->public_bpb);
	r->seed = calloc((size_t)o->seeds, sizeof *r->seed);
	if (!r->hidden_bpb || !r->public_bpb || !r->seed) {
		kerr_set(err, "noise.nomem", "out of memory");
		goto out;
	}
	if (fs_join(work, sizeof work, err, "%s/work/noise-XXXXXX", s->dir) < 0)
		goto out;
	if (!mkdtemp(work)) {
		kerr_errno(err, "noise.work", work);
		work[0] = '\0';
		goto out;
	}
	if (build_king(s, o, k.tag, work, &sb, err) < 0)
		goto out;
	/* Both folders verified once, their tokens shared by every seed. */
	if (dataset_open(s->data, &pub, err) < 0)
		goto out;
	pub_open = 1;
	if (dataset_open(s->hidden, &hid, err) < 0)
		goto out;
	hid_open = 1;
	{
		struct job J = { .s = s, .o = o, .sb = sb, .work = work, .pub = &pub, .hidden = &hid, .king_tag = k.tag };
		if (king_losses_init(s, &k, &hid, &r->king_losses, err) < 0)
			goto out;
		for (int i = 0; i < o->seeds; i++) {
			int protocol_seed = i + 1 == PROVE_SEED_DEFAULT;
			r->seed[i] = noise_seed(s->secret, k.tag, i + 1);
			if (one_seed(&J, r->seed[i], &r->hidden_bpb[i], &r->public_bpb[i],
				     protocol_seed ? &r->king_losses : NULL, protocol_seed ? r->king_final : NULL, err) < 0)
				goto out;
			if (protocol_seed) {
				J.ref_nats = r->king_losses.nats;
				J.targets = r->king_losses.targets;
			}
			double el = (progress_now_ms() - t0) / 1e3;
			eta(el / (i + 1) * (o->seeds - i - 1), left);
			if (o->progress)
				log_msg(LOG_PROGRESS, "noise floor",
					"seed %d/%d  public bpb %.6f  hidden bpb %.6f  (%.1fs, ETA %s; this seed: training "
					"%.1fs, %.1fs of it steps and checkpoints, hidden evaluation %.1fs)",
					i + 1, o->seeds, r->public_bpb[i], r->hidden_bpb[i], el, left, J.train_s, J.steps_s,
					J.hidden_s);
		}
		r->sandbox_applied = J.applied;
		r->causality_probes = J.probes;
		r->causality_aimed = J.aimed;
	}
	if (fill_stats(r, err) < 0 || noise_store(s, k.id, r, err) < 0)
		goto out;
	r->wall_s = (progress_now_ms() - t0) / 1e3;
	rc = 0;
out:
	if (pub_open)
		dataset_close(&pub);
	if (hid_open)
		dataset_close(&hid);
	if (work[0])
		fs_rm_rf(work);
	sandbox_free(sb);
	if (rc < 0)
		noise_result_free(r);
	return rc;
}
