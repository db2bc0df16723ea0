/* judge.c: one judgment, start to finish (PROTOCOL 5 and 6). The checks run
 * in the protocol's order and stop at the first hard failure; every check's
 * outcome and CPU cost is recorded in the corpus in one transaction, after
 * which the king rule may start a challenge or, for a confirmed challenge,
 * merge through king.c. Recipe code runs only in sandboxed children.
 * Check 4, the hidden evaluation and the public claim, is hidden.c's
 * (judgment.h holds the state both files share). */
#include "judge/judge.h"
#include "judge/judgment.h"

#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "data/bpe.h"
#include "harness/checkpoint.h"
#include "data/dataset.h"
#include "sandbox/recipe_pipe.h"
#include "sandbox/recipe_build.h"
#include "harness/scale.h"
#include "proof/bundle.h"
#include "judge/diffscan.h"
#include "validator/king.h"
#include "judge/plausible.h"
#include "judge/rundevice.h"
#include "proof/prove.h"
#include "proof/reciperepo.h"
#include "judge/replay.h"
#include "sandbox/sandbox.h"
#include "validator/hlosses.h"
#include "util/crash.h"
#include "util/fsutil.h"
#include "util/jsonmem.h"
#include "util/log.h"

#define RATIONALE_BYTES_MAX (64u << 10)

static const char *const check_names[JUDGE_CHECKS] = { "diff_scan", "attest_verify", "log_plausibility",
							"hidden_eval", "spot_replay" };
/* The first check that builds and runs the recipe (the bundle is verified
 * by then) */
#define JUDGE_CHECK_HIDDEN 3

/* CPU seconds of this process and its reaped children (builds, sandboxed
 * recipes): what a judgment costs the validator. */
static double cpu_now(void)
{
	struct rusage a, b;

	getrusage(RUSAGE_SELF, &a);
	getrusage(RUSAGE_CHILDREN, &b);
	return (double)(a.ru_utime.tv_sec + a.ru_stime.tv_sec + b.ru_utime.tv_sec + b.ru_stime.tv_sec) +
	       (double)(a.ru_utime.tv_usec + a.ru_stime.tv_usec + b.ru_utime.tv_usec + b.ru_stime.tv_usec) * 1e-6;
}


void judge_say(const struct judge_ctx *c, const char *what)
{
	if (c->o->progress)
		log_msg(LOG_PROGRESS, "judge", "%s", what);
}

static const char *mstr(json_t *m, const char *a, const char *b)
{
	json_t *v = json_object_get(m, a);

	if (b)
		v = json_object_get(v, b);
	return json_is_string(v) ? json_string_value(v) : "";
}

static double mnum(json_t *m, const char *a, const char *b)
{
	json_t *v = json_object_get(json_object_get(m, a), b);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

/* ---- draws and held checkpoints ------------------------------------- */

int judge_draw_key(const json_t *manifest, char out[HASH_HEX_BYTES], struct kerr *err)
{
	const char *sha = json_string_value(
		json_object_get(json_object_get(json_object_get(manifest, "files"), BUNDLE_FINAL_CKPT), "sha256"));

	out[0] = '\0';
	if (!sha || !hash_is_hex(sha, HASH_HEX_BYTES - 1))
		return kerr_set(err, "judge.no_final", "the manifest lists no %s with a digest: nothing to draw for",
				BUNDLE_FINAL_CKPT);
	memcpy(out, sha, HASH_HEX_BYTES);
	return 0;
}

/* Draw k of `purpose` for the bundle whose draw key (judge_draw_key) is
 * key: keyed by the whole validator secret and bound to the final checkpoint,
 * so a miner cannot know before submitting which segments will be
 * replayed, a re-judgment draws the same, and so does the same model
 * re-signed in another manifest. */
static uint64_t secret_draw(const struct vstate *s, const char *key, const char *purpose, uint32_t k)
{
	crypto_generichash_state st;
	unsigned char kb[4] = { (unsigned char)(k >> 24), (unsigned char)(k >> 16), (unsigned char)(k >> 8),
				(unsigned char)k },
		      out[8];
	uint64_t v = 0;

	crypto_generichash_init(&st, s->secret, VSTATE_SECRET_BYTES, sizeof out);
	crypto_generichash_update(&st, (const unsigned char *)purpose, strlen(purpose) + 1);
	crypto_generichash_update(&st, (const unsigned char *)key, HASH_HEX_BYTES - 1);
	crypto_generichash_update(&st, kb, sizeof kb);
	crypto_generichash_final(&st, out, sizeof out);
	for (int i = 0; i < 8; i++)
		v = v << 8 | out[i];
	return v;
}

/* The segments a judgment replays from nseg (docs/judging-checks.md,
 * "Which segments are replayed"): the spot replay's one, and the binding
 * replay's JUDGE_BIND_DRAWS distinct ones among the first nseg - 1 (the
 * final segment is always replayed besides them). */
static void draw_segments(const struct vstate *s, const char *key, int nseg, int *spot, int bind[JUDGE_BIND_DRAWS],
			  int *nbind)
{
	*spot = (int)(secret_draw(s, key, "karpa spot replay v2", 0) % (uint64_t)nseg);
	*nbind = 0;
	for (uint32_t k = 0; *nbind < JUDGE_BIND_DRAWS && *nbind < nseg - 1 && k < 64 * JUDGE_BIND_DRAWS; k++) {
		int seg = (int)(secret_draw(s, key, "karpa binding replay v2", k) % (uint64_t)(nseg - 1)), dup = 0;

		for (int i = 0; i < *nbind; i++)
			dup |= bind[i] == seg;
		if (!dup)
			bind[(*nbind)++] = seg;
	}
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

int judge_held_needs(const struct vstate *s, const json_t *manifest, char names[JUDGE_HELD_NEEDS_MAX][BUNDLE_NAME_MAX + 1],
		     int *n, struct kerr *err)
{
	const json_t *files = json_object_get(manifest, "files"), *held = json_object_get(manifest, "held");
	char key[HASH_HEX_BYTES];
	int64_t steps[2 * BUNDLE_FILES_MAX];
	int m = 0, nseg, spot, bind[JUDGE_BIND_DRAWS], nbind, starts[1 + JUDGE_BIND_DRAWS], ns = 0;
	const char *name;
	json_t *v;

	*n = 0;
	if (!json_is_object(held) || !json_object_size(held))
		return 0;
	if (json_object_size(held) > BUNDLE_FILES_MAX)
		return kerr_set(err, "judge.held_bad", "the manifest holds %zu checkpoints, at most %d",
				json_object_size(held), BUNDLE_FILES_MAX);
	if (!json_is_object(files))
		return kerr_set(err, "judge.held_bad", "the manifest holds checkpoints and lists no files");
	/* every intermediate, kept or held, in step order: record i */
	for (int pass = 0; pass < 2; pass++)
		json_object_foreach((json_t *)(pass ? held : files), name, v) {
			int64_t st = bundle_ckpt_step(name);

			if (st < 0 && pass)
				return kerr_set(err, "judge.held_bad", "the manifest holds %.128s, which is no checkpoint's name",
						name);
			if (st >= 0 && m < 2 * BUNDLE_FILES_MAX)
				steps[m++] = st;
		}
	qsort(steps, (size_t)m, sizeof *steps, cmp_i64);
	nseg = m + 1;
	if (judge_draw_key(manifest, key, err) < 0)
		return -1;
	draw_segments(s, key, nseg, &spot, bind, &nbind);
	/* segment j starts from record j - 1 (segment 0 from the initialisation) */
	starts[ns++] = spot - 1;
	for (int i = 0; i < nbind; i++)
		starts[ns++] = bind[i] - 1;
	for (int i = 0; i < ns; i++) {
		char want[BUNDLE_NAME_MAX + 1];
		int dup = 0;

		if (starts[i] < 0)
			continue;
		snprintf(want, sizeof want, "checkpoints/step_%06lld.ckpt", (long long)steps[starts[i]]);
		for (int j = 0; j < *n; j++)
			dup |= !strcmp(names[j], want);
		if (!dup && json_object_get(held, want))
			snprintf(names[(*n)++], BUNDLE_NAME_MAX + 1, "%s", want);
	}
	return 0;
}

/* The held checkpoints this judgment draws, copied from judge_opts.held
 * into the validator's copy of the bundle, each held to the verified
 * manifest's size and digest (which check 2 holds to the log). Without
 * all of them the judgment stops after check 2: judge.held_needed names
 * them, and nothing is recorded (the miner has not failed yet; it is
 * asked for them). */
static int take_held(struct judge_ctx *c, struct kerr *err)
{
	char names[JUDGE_HELD_NEEDS_MAX][BUNDLE_NAME_MAX + 1], missing[KERR_MSG_MAX / 2] = "";
	int n = 0;

	if (judge_held_needs(c->s, c->manifest, names, &n, err) < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		char src[FS_PATH_MAX];
		size_t len = strlen(missing);

		if (!c->o->held || fs_join(src, sizeof src, err, "%s/%s", c->o->held, names[i]) < 0 || !fs_exists(src)) {
			const json_t *e = json_object_get(json_object_get(c->manifest, "held"), names[i]);
			const char *sha = json_string_value(json_object_get(e, "sha256"));
			struct judge_held_need *nd = &c->r->held_needed[c->r->n_held_needed++];

			snprintf(missing + len, sizeof missing - len, "%s%s", len ? ", " : "", names[i]);
			/* verified entries (check 2): a size and a digest each */
			snprintf(nd->name, sizeof nd->name, "%s", names[i]);
			nd->bytes = (uint64_t)json_integer_value(json_object_get(e, "bytes"));
			snprintf(nd->sha256, sizeof nd->sha256, "%s", sha ? sha : "");
			continue;
		}
		if (bundle_taken_held(&c->taken, c->manifest, names[i], src, c->o->held_link, err) < 0)
			return -1;
		c->r->held_taken++;
	}
	if (missing[0])
		return kerr_set(err, "judge.held_needed",
				"the miner holds checkpoints this judgment draws: %s; judge again with --held DIR where "
				"they are (docs/bundle.md, \"Held checkpoints\")",
				missing);
	return 0;
}

/* Takes the bundle (a directory or a .tar copied into the work area, each
 * file hashed as it is copied; bundle_take_deferred leaves the intermediate
 * checkpoints to be hashed when read, or all of them before a verdict that
 * can change the king; --full-eval hashes everything at once), then reads
 * from that copy what is needed to attribute it before any check: without
 * a manifest there is nothing to record. From here on nothing reads the
 * sender's files, so nothing the sender changes after this point is
 * judged. */
static int intake(struct judge_ctx *c, struct kerr *err)
{
	char path[FS_PATH_MAX], *text = NULL;
	size_t len;
	json_error_t je;
	json_t *seed;
	int rc;

	if (fs_join(c->bdir, sizeof c->bdir, err, "%s/bundle", c->work) < 0 ||
	    (c->o->full_eval ? bundle_take : bundle_take_deferred)(c->o->bundle, c->bdir, &c->taken, err) < 0)
		return -1;
	if (fs_join(path, sizeof path, err, "%s/%s", c->bdir, BUNDLE_MANIFEST) < 0 ||
	    fs_read_file(path, BUNDLE_MANIFEST_BYTES_MAX, O_NOFOLLOW, &text, &len, err) < 0) {
		kerr_set(err, "judge.unreadable", "%s: no readable manifest.json: %s", c->o->bundle, err->msg);
		return -1;
	}
	hash_buf_hex(text, len, c->manifest_hex);
	rc = jsonmem_loadb(text, len, &c->manifest, &je, "judge.nomem", err);
	free(text);
	if (rc < 0) {
		kerr_prefix(err, "%s: manifest.json", c->o->bundle);
		return -1;
	}
	if (!json_is_object(c->manifest))
		return kerr_set(err, "judge.unreadable", "%s: manifest.json is not a JSON object", c->o->bundle);
	if (fs_join(c->patch_path, sizeof c->patch_path, err, "%s/patch.diff", c->bdir) < 0)
		return -1;
	if (fs_read_file(c->patch_path, RECIPEREPO_PATCH_BYTES_MAX, O_NOFOLLOW, &c->patch, &c->patch_len,
			 &c->patch_err) < 0)
		c->patch = NULL, c->patch_len = 0; /* diff scan reports patch_err */
	if (fs_join(path, sizeof path, err, "%s/rationale.md", c->bdir) < 0 ||
	    fs_read_file(path, RATIONALE_BYTES_MAX, O_NOFOLLOW, &c->rationale, &len, err) < 0)
		c->rationale = NULL; /* optional */
	seed = json_object_get(json_object_get(c->manifest, "config"), "seed");
	c->seed = json_is_integer(seed) && json_integer_value(seed) >= 0 ? (uint64_t)json_integer_value(seed) : 0;
	/* Whether the miner it names signed it: a bundle refused before its
	 * full verification (check 1) is recorded under its miner only when
	 * the signature holds. The service verified it at intake; a judgment
	 * by hand may meet a bundle anyone could have written in a miner's
	 * name. */
	{
		struct kerr e2 = { { 0 }, { 0 } };

		c->signed_ok = bundle_signed(c->bdir, &e2) == 0;
	}
	return 0;
}

/* The judgment's deadline, from the proof's declared compute (judge.h).
 * A missing or absurd train_s counts as none: the floor still holds, and
 * plausibility refuses the manifest before any recipe code runs. */
static void set_deadline(struct judge_ctx *c, int64_t t0_ms)
{
	const struct scale *sc = scale_find(c->s->scale, NULL);
	double train_s = mnum(c->manifest, "results", "train_s"), cap, d;

	cap = sc ? JUDGE_DEADLINE_TRAIN_CAP * sc->budget_units : 0;
	if (!isfinite(train_s) || train_s < 0)
		train_s = 0;
	d = JUDGE_DEADLINE_FLOOR_S + JUDGE_DEADLINE_FACTOR * fmin(train_s, cap);
	/* Per call: a fraction of the proof's own deadline, which the
	 * operator's cap below shortens only as a whole. */
	c->call_s = fmin(SANDBOX_TIMEOUT_MS_DEFAULT / 1000.0, fmax(JUDGE_CALL_MIN_S, d / JUDGE_CALL_DIVISOR));
	if (c->o->deadline_s > 0 && c->o->deadline_s < d)
		d = c->o->deadline_s;
	c->r->deadline_s = d;
	c->deadline_ms = t0_ms + (int64_t)(d * 1000.0);
}

/* A replayed bundle is refused before any check runs: recording would
 * refuse it anyway (the manifest digest is unique in the corpus), but only
 * after a full judgment, so a replay would cost the validator a hidden
 * evaluation for nothing. */
static void resume_from(struct judge_ctx *c, const struct expcorpus_entry *prior)
{
	struct judge_result *r = c->r;

	snprintf(r->id, sizeof r->id, "%s", prior->id);
	snprintf(r->verdict, sizeof r->verdict, "%s", prior->verdict);
	snprintf(r->challenge_of, sizeof r->challenge_of, "%s", prior->challenge_of);
	snprintf(c->pending_id, sizeof c->pending_id, "%s", prior->challenge_of);
	r->claimed_public_bpb = prior->claimed_public_bpb;
	r->public_bpb = prior->public_bpb;
	r->hidden_bpb = prior->hidden_bpb;
	r->king_bpb = prior->king_bpb;
	r->margin = prior->margin;
	r->improvement = prior->king_bpb - prior->hidden_bpb;
	r->proof_cpu_s = prior->proof_cpu_s;
	r->judge_cpu_s = prior->judge_cpu_s;
	r->n_checks = 0;
	for (size_t i = 0; i < prior->n_checks && i < JUDGE_CHECKS; i++)
		r->checks[r->n_checks++] = prior->checks[i];
	c->e.alpha = prior->alpha;
	snprintf(c->e.miner, sizeof c->e.miner, "%s", prior->miner);
	snprintf(c->resumed_king, sizeof c->resumed_king, "%s", prior->king_tag);
	c->resumed = 1;
}

static int refuse_replay(struct judge_ctx *c, struct kerr *err)
{
	struct expcorpus_entry prior;
	struct kerr e2 = { { 0 }, { 0 } };

	if (expcorpus_get(c->s, c->manifest_hex, &prior, &e2) == 0) {
		/* A challenge answer is recorded as challenge_pending before
		 * the merge it leads to (settle_challenge). A judgment killed
		 * between the two leaves the answer recorded and its original
		 * still pending: judged again, the answer resumes at the
		 * settlement instead of being refused as its own replay, so an
		 * acknowledged confirmation is never lost. */
		int resume = expcorpus_settlement_interrupted(c->s, &prior, err);

		if (resume == 1)
			resume_from(c, &prior);
		else if (resume == 0)
			kerr_set(err, "judge.duplicate", "manifest %.16s...: already judged as %s (%s): a replay",
				 c->manifest_hex, prior.id, prior.verdict);
		expcorpus_entry_free(&prior);
		return resume == 1 ? 0 : -1;
	}
	if (strcmp(e2.code, "expcorpus.not_found")) {
		*err = e2;
		return -1;
	}
	return 0;
}

/* ---- check 1: the diff scan ---------------------------------------- */

static int check_diff_scan(struct judge_ctx *c, struct kerr *err)
{
	const char *tag = mstr(c->manifest, "king", "tag"), *commit = mstr(c->manifest, "king", "commit");
	struct reciperepo_parts parts;

	/* Why patch.diff could not be read, in its own words: too big or absent
	 * (the take refused anything but a regular file), or memory ran out
	 * (the reader's trouble: no verdict). */
	if (!c->patch && kerr_is_nomem(&c->patch_err)) {
		*err = c->patch_err;
		return -1;
	}
	if (!c->patch && !strcmp(c->patch_err.code, "fs.too_large"))
		return kerr_set(err, "patch.too_large", "patch.diff exceeds the limit of %u bytes: %s",
				RECIPEREPO_PATCH_BYTES_MAX, c->patch_err.msg);
	if (!c->patch)
		return kerr_set(err, "judge.no_patch", "the bundle has no readable patch.diff: %s", c->patch_err.msg);
	if (reciperepo_patch_check(c->patch, c->patch_len, err) < 0)
		return -1;
	if (strcmp(tag, c->king.tag) || strcmp(commit, c->king.commit))
		return kerr_set(err, "judge.stale", "the patch is based on %s (%.12s), the king is %s (%.12s): rebase and prove again",
				*tag ? tag : "?", commit, c->king.tag, c->king.commit);
	if (reciperepo_export(c->s->recipe, c->king.tag, c->recipe, err) < 0 ||
	    reciperepo_apply_bytes(c->recipe, c->patch, c->patch_len, c->patch_path, err) < 0 ||
	    reciperepo_dir_check(c->recipe, err) < 0 ||
	    diffscan_tree(c->recipe, err) < 0)
		return -1;
	/* after the scan, so that hostile code is named for what it is */
	if (reciperepo_patch_parts(c->patch, c->patch_len, &parts, err) < 0)
		return -1;
	return reciperepo_parts_fit(&parts, mstr(c->manifest, "config", "scale"), err);
}

/* ---- check 2: the bundle itself ------------------------------------ */

/* Whether a refused challenge answer's code is the judge's finding about
 * the proof itself (its log, claims, causality, replay), which settles the
 * challenge: judge.* but the judge's own limits. */
static int answer_settles(const char *code)
{
	static const char *const ours[] = { "judge.deadline", "judge.nomem", "judge.oom", "judge.io", "judge.unreadable" };

	if (strncmp(code, "judge.", 6))
		return 0;
	for (size_t i = 0; i < sizeof ours / sizeof *ours; i++)
		if (!strcmp(code, ours[i]))
			return 0;
	return 1;
}

/* The seed is the protocol's, unless this bundle answers this validator's
 * challenge for the same patch by the same miner on the same king. A
 * challenge an earlier answer's refusal settles is no challenge any more:
 * settled now, if a judgment killed after recording that refusal left it
 * pending. */
static int find_pending_challenge(struct judge_ctx *c, struct kerr *err)
{
	char prior[EXPCORPUS_ID_BYTES], code[KERR_CODE_MAX], reason[KERR_MSG_MAX];

	if (expcorpus_pending_challenge(c->s, mstr(c->manifest, "patch_sha256", NULL), mstr(c->manifest, "miner", NULL),
					c->king.tag, c->seed, c->pending_id, err) < 0)
		return -1;
	if (!c->pending_id[0])
		return 0;
	if (expcorpus_refused_answer(c->s, c->pending_id, answer_settles, prior, code, err) < 0)
		return -1;
	if (!prior[0])
		return 0;
	snprintf(reason, sizeof reason, "its answer %s ended it (%s)", prior, code);
	if (king_settle_challenge(c->s, c->pending_id, EXPCORPUS_CHALLENGE_FAILED, code, reason, err) < 0)
		return -1;
	c->pending_id[0] = '\0';
	return 0;
}

/* The bundle's signature, attestation and every file against the signed
 * manifest, and patch.diff against its patch_sha256 (br filled; the
 * caller frees it). */
static int verify_bundle(struct judge_ctx *c, struct bundle_report *br, struct kerr *err)
{
	char patch_hex[HASH_HEX_BYTES];

	if (bundle_verify_taken(&c->taken, br, err) < 0)
		return -1;
	/* The manifest attributed at intake is the one verified: both are read
	 * from the same copy, so only a writer inside the work area could make
	 * them differ. */
	if (strcmp(br->manifest_sha256, c->manifest_hex))
		return kerr_set(err, "bundle.copy_changed",
				"the manifest verified (%.16s...) is not the one read at intake (%.16s...)",
				br->manifest_sha256, c->manifest_hex);
	c->verified = 1;
	if (!c->patch && kerr_is_nomem(&c->patch_err)) {
		*err = c->patch_err;
		return -1;
	}
	if (!c->patch)
		return kerr_set(err, "judge.no_patch", "the bundle has no readable patch.diff: %s", c->patch_err.msg);
	hash_buf_hex(c->patch, c->patch_len, patch_hex);
	if (strcmp(patch_hex, mstr(c->manifest, "patch_sha256", NULL)))
		return kerr_set(err, "judge.patch_digest", "manifest patch_sha256 is not the digest of patch.diff");
	return 0;
}

/* verify_bundle for a resumed settlement. */
static int verify_files(struct judge_ctx *c, struct kerr *err)
{
	struct bundle_report br;
	int rc;

	memset(&br, 0, sizeof br);
	rc = verify_bundle(c, &br, err);
	bundle_report_free(&br);
	return rc;
}

static int check_attest(struct judge_ctx *c, struct kerr *err)
{
	struct bundle_report br;
	int rc = -1;

	memset(&br, 0, sizeof br);
	if (verify_bundle(c, &br, err) < 0)
		goto out;
	/* every later secret draw is bound to the final checkpoint */
	if (judge_draw_key(c->manifest, c->draw_key, err) < 0)
		goto out;
	snprintf(c->e.attest_kind, sizeof c->e.attest_kind, "%s", br.attest_kind);
	c->e.alpha = br.alpha;
	if (strcmp(mstr(c->manifest, "config", "scale"), c->s->scale)) {
		kerr_set(err, "judge.scale_mismatch", "the proof is at scale '%s', this validator judges '%s'",
			 mstr(c->manifest, "config", "scale"), c->s->scale);
		goto out;
	}
	if (strcmp(mstr(c->manifest, "config", "data_manifest_sha256"), c->pub.digest)) {
		kerr_set(err, "judge.data_mismatch", "the proof trained on data %.16s..., the protocol's data is %.16s...",
			 mstr(c->manifest, "config", "data_manifest_sha256"), c->pub.digest);
		goto out;
	}
	if (c->seed != PROVE_SEED_DEFAULT) {
		/* every failure here is the state's (a busy or broken database,
		 * the king's lock), after the signature held: recorded, it would
		 * refuse a genuine answer for good */
		if (find_pending_challenge(c, err) < 0) {
			c->state_fault = 1;
			goto out;
		}
		if (!c->pending_id[0]) {
			kerr_set(err, "judge.bad_seed",
				 "seed %llu is neither the protocol's (%d) nor a challenge this validator issued for this patch",
				 (unsigned long long)c->seed, PROVE_SEED_DEFAULT);
			goto out;
		}
	}
	rc = 0;
out:
	bundle_report_free(&br);
	return rc;
}

/* ---- check 3: log plausibility ------------------------------------- */

static int check_plausible(struct judge_ctx *c, struct kerr *err)
{
	int rc = plausible_check(c->bdir, bpe_vocab_size(c->pub.tok), c->e.alpha, &c->pr, err);

	c->pr_open = 1;
	if (rc == 0)
		c->e.claimed_public_bpb = c->pr.val_bpb;
	/* Every checkpoint, the final one included, carries the header the
	 * harness writes for its record: a model trained elsewhere shows here
	 * unless it was re-wrapped, and then binding replay catches it. */
	if (rc == 0)
		rc = replay_check_headers(c->bdir, &c->taken, &c->pr, bpe_vocab_size(c->pub.tok),
					  json_object_get(c->manifest, "held"), err);
	return rc;
}

/* ---- checks 4 and 5: untrusted code, sandboxed ---------------------- */

/* Starts a sandboxed child, creates the recipe and loads checkpoint
 * ckpt_rel; with none, the caller loads one when state_follows. */
int judge_start_recipe(struct judge_ctx *c, struct sandbox *sb, struct recipe_host *h, struct kr_plan *plan,
			const char *ckpt_rel, int state_follows, struct kerr *err)
{
	char path[FS_PATH_MAX], sha[HASH_HEX_BYTES];
	struct kr_env env = { .seed = c->seed, .threads = c->o->threads, .vocab_size = bpe_vocab_size(c->pub.tok),
			      .scale = c->s->scale, .state_follows = ckpt_rel || state_follows, .gemm = c->dev.gemm };
	struct ckpt_meta m;
	void *state = NULL;
	size_t n = 0;
	int rc = -1;

	memset(h, 0, sizeof *h);
	if (sandbox_spawn(sb, h, err) < 0)
		return -1;
	if (recipe_host_create(h, &env, plan, err) < 0) {
		sandbox_explain(sb, h, err);
		goto out;
	}
	if (!ckpt_rel) {
		rc = 0;
		goto out;
	}
	/* The take hashed this file (or hashes it now, once) and the checks
	 * held it to the manifest and the log: it is read, not hashed again,
	 * by every child that loads it. */
	if (fs_join(path, sizeof path, err, "%s/%s", c->bdir, ckpt_rel) < 0 ||
	    bundle_taken_hash(&c->taken, ckpt_rel, err) < 0 ||
	    (bundle_taken_sha256(&c->taken, ckpt_rel) ? ckpt_read_known(path, &m, &state, &n, err)
						       : ckpt_read(path, &m, &state, &n, sha, err)) < 0 ||
	    ckpt_check(&m, plan, env.vocab_size, c->pub.tokenizer_digest, err) < 0)
		goto out;
	if (h->load(h, state, n, err) < 0) {
		sandbox_explain(sb, h, err);
		goto out;
	}
	rc = 0;
out:
	free(state);
	return rc;
}

/* One segment in its own fresh sandboxed child: the harness restarted the
 * recipe at every checkpoint of the miner's run, so this is the process
 * the segment ran in. With trace, every replayed step is traced into it. */
static int replay_in_child(struct judge_ctx *c, struct sandbox *sb, const uint16_t *train, size_t ntrain, int seg,
			   int steps, struct trace_doc *trace, struct replay_report *rr, struct kerr *err)
{
	struct recipe_host h;
	struct kr_plan plan;
	struct replay_opts ro = { .bundle_dir = c->bdir, .taken = &c->taken, .segment = seg, .steps = steps,
				  .trace = trace };
	int rc = -1;

	if (judge_start_recipe(c, sb, &h, &plan, NULL, seg > 0, err) < 0)
		goto out;
	if (replay_run(&h, &plan, &c->pr, train, ntrain, &ro, rr, err) < 0) {
		if (strncmp(err->code, "judge.", 6))
			sandbox_explain(sb, &h, err);
		goto out;
	}
	rc = 0;
out:
	recipe_host_destroy(&h);
	return rc;
}

/* A replay that differs from the log: the segment is replayed again with
 * a trace through its first differing step, and the trace is kept in the
 * store, so that the miner can trace the same steps and both learn where
 * their machines part (docs/dispute.md). The verdict stands whatever this
 * gives; its message gains where and the trace's digest. */
static void keep_dispute_trace(struct judge_ctx *c, struct sandbox *sb, const uint16_t *train, size_t ntrain, int seg,
			       const struct replay_report *failed, struct kerr *verdict)
{
	struct trace_doc doc;
	struct replay_report rr;
	struct kerr why = { { 0 }, { 0 } };
	char path[FS_PATH_MAX], sha[HASH_HEX_BYTES] = "", note[KERR_MSG_MAX];
	int steps = !strcmp(failed->mismatch_what, "digest") ? 0 : (int)(failed->mismatch_step - failed->from_step + 1);

	if (failed->mismatch_step < 0)
		return;
	trace_doc_init(&doc, c->manifest_hex, "validator", seg, failed->from_step, c->o->threads);
	if (replay_in_child(c, sb, train, ntrain, seg, steps, &doc, &rr, &why) < 0 &&
	    strcmp(why.code, "judge.replay_mismatch") && strcmp(why.code, "judge.replay_digest"))
		goto out;
	if (fs_join(path, sizeof path, &why, "%s/dispute-trace.json", c->work) < 0 ||
	    trace_doc_write(path, &doc, &why) < 0 || vstate_store_file(c->s, path, sha, &why) < 0)
		sha[0] = '\0';
out:
	snprintf(note, sizeof note, "%.480s [segment %d first differs at step %lld (%s); %s%.160s]", verdict->msg, seg,
		 (long long)failed->mismatch_step, failed->mismatch_what,
		 sha[0] ? "the validator's trace is kept as " : "no trace: ", sha[0] ? sha : why.msg);
	snprintf(verdict->msg, sizeof verdict->msg, "%s", note);
	trace_doc_free(&doc);
}

static int replay_segment(struct judge_ctx *c, struct sandbox *sb, const uint16_t *train, size_t ntrain, int seg,
			  int steps, struct kerr *err)
{
	struct replay_report rr;
	size_t len = strlen(c->r->replay_segments);

	if (replay_in_child(c, sb, train, ntrain, seg, steps, NULL, &rr, err) < 0) {
		if (!strcmp(err->code, "judge.replay_mismatch") || !strcmp(err->code, "judge.replay_digest"))
			keep_dispute_trace(c, sb, train, ntrain, seg, &rr, err);
		return -1;
	}
	c->r->replay_steps += rr.steps;
	snprintf(c->r->replay_segments + len, sizeof c->r->replay_segments - len, "%s%d", len ? " " : "", seg);
	return 0;
}

/* Where the proof's recipe ran, for the report beside rundevice_name:
 * "cuda" for a GPU proof (its runner_isa is only the host's), else the
 * manifest's runner_isa as a short lowercase name or a mark, never
 * arbitrary miner text. */
static void proof_isa(json_t *manifest, char out[16])
{
	const char *v = mstr(manifest, "environment", "runner_isa");
	size_t n = strlen(v);
	int ok = n > 0 && n < 16;

	if (json_is_object(json_object_get(json_object_get(manifest, "environment"), "device"))) {
		snprintf(out, 16, "cuda");
		return;
	}

	for (size_t i = 0; ok && i < n; i++)
		ok = (v[i] >= 'a' && v[i] <= 'z') || (v[i] >= '0' && v[i] <= '9') || v[i] == '_';
	snprintf(out, 16, "%s", ok ? v : n ? "?" : "unrecorded");
}

/* A candidate that cannot be decisive changes nothing: it gets a spot
 * replay of REPLAY_STEPS steps of one drawn segment. A decisive one (an
 * original or a challenge answer) gets the binding replay: the final
 * segment, so the scored model is the run's, and JUDGE_BIND_DRAWS other
 * whole segments drawn from the secret (docs/judging-checks.md, "Binding"). */
static int check_replay(struct judge_ctx *c, struct sandbox *sb, struct kerr *err)
{
	int nseg = c->pr.nckpt, rc = -1, spot, drawn[JUDGE_BIND_DRAWS], ndrawn = 0;
	double improvement;
	const uint16_t *train = NULL;
	size_t ntrain;
	int decisive = king_decide(c->king.hidden_bpb, c->r->hidden_bpb, c->king.margin, &improvement) == 1;

	c->r->proof_steps = c->pr.steps;
	snprintf(c->r->replay_mode, sizeof c->r->replay_mode, "%s", decisive ? "binding" : "spot");
	proof_isa(c->manifest, c->r->proof_isa);
	snprintf(c->r->replay_isa, sizeof c->r->replay_isa, "%s", rundevice_name(&c->dev));
	if (nseg < 1)
		return kerr_set(err, "judge.no_replay", "the log records no checkpoint to replay to");
	if (dataset_tokens(&c->pub, SPLIT_TRAIN, &train, &ntrain, err) < 0)
		goto out;
	draw_segments(c->s, c->draw_key, nseg, &spot, drawn, &ndrawn);
	if (!decisive) {
		rc = replay_segment(c, sb, train, ntrain, spot, REPLAY_STEPS, err);
		goto out;
	}
	/* Whatever can change the king is verified whole: every file of
	 * the take held to the manifest, the checkpoints not read included. */
	if (bundle_taken_hash_all(&c->taken, err) < 0)
		goto out;
	judge_say(c, "binding replay: the final segment and a drawn one, whole");
	if (replay_segment(c, sb, train, ntrain, nseg - 1, 0, err) < 0)
		goto out;
	for (int i = 0; i < ndrawn; i++)
		if (replay_segment(c, sb, train, ntrain, drawn[i], 0, err) < 0)
			goto out;
	rc = 0;
out:
	return rc;
}

/* ---- the pipeline ---------------------------------------------------- */

/* Codes of the validator's own trouble in building or running a recipe
 * whose bundle is verified: its sandbox, memory, disk or build cache, not
 * the miner's proof (a recipe that exceeds its limits or breaks a rule is
 * sandbox.memory, sandbox.violation, ... and a verdict). Recorded as a
 * rejection, they cost an honest miner its proof for good. */
static int fault_is_ours(const char *code)
{
	static const char *const ours[] = {
		"sandbox.unavailable", "sandbox.setup", "sandbox.config", "sandbox.nomem", "sandbox.runner",
		"recipe.nomem", "recipe.spawn", "recipe.exec", "recipe.no_cuda_tools", "recipe.no_build_tools",
		"recipe.no_cross_tools", "recipe.build_slow", "replay.nomem", "judge.nomem", "device.nomem",
		"fs.disk_full", "fs.unwritable", "fs.no_cache_dir", "fs.mkdir", "fs.create", "fs.nomem", "fs.fsync",
		"fs.write", "fs.rename", "fs.atomic", "proc.spawn", "proc.io", "proc.nomem", "judge.hidden_data",
	};

	for (size_t i = 0; i < sizeof ours / sizeof *ours; i++)
		if (!strcmp(code, ours[i]))
			return 1;
	return 0;
}

static int run_check(struct judge_ctx *c, int i, int (*fn)(struct judge_ctx *, struct kerr *), struct kerr *err)
{
	struct expcorpus_check *ck = &c->r->checks[i];
	double t0 = cpu_now();
	int rc;

	snprintf(ck->name, sizeof ck->name, "%s", check_names[i]);
	judge_say(c, check_names[i]);
	if (recipe_pipe_now_ms() >= c->deadline_ms)
		rc = kerr_set(err, "recipe.deadline", "no time left to start it");
	else
		rc = fn(c, err);
	/* The deadline names the check it ended, whichever call it ended in. */
	if (rc < 0 && !strcmp(err->code, "recipe.deadline")) {
		char was[KERR_MSG_MAX];

		snprintf(was, sizeof was, "%s", err->msg);
		kerr_set(err, "judge.deadline", "the judgment's %.0f s deadline passed in check %s (%s)",
			 c->r->deadline_s, check_names[i], was);
	}
	ck->cpu_s = cpu_now() - t0;
	snprintf(ck->outcome, sizeof ck->outcome, "%s", rc == 0 ? "pass" : "fail");
	if (rc < 0) {
		snprintf(ck->code, sizeof ck->code, "%s", err->code[0] ? err->code : "judge.failed");
		snprintf(ck->message, sizeof ck->message, "%s", err->msg);
	}
	c->r->n_checks = i + 1;
	return rc;
}

/* Check 4 builds the patched recipe (compiling is not running it) and
 * makes the sandbox its children start in; check 5 reuses both. */
static int check_hidden(struct judge_ctx *c, struct kerr *err)
{
	struct sandbox_config cfg;

	/* A GPU proof is replayed on a GPU of its model by the recipe's CUDA
	 * part, or refused by name here: never replayed on the CPU, which
	 * would only report a mismatch. */
	if (rundevice_for_manifest(c->manifest, NULL, &c->dev, err) < 0)
		return -1;
	snprintf(c->r->replay_device, sizeof c->r->replay_device, "%s", c->dev.cuda ? c->dev.gpu : "");
	sandbox_config_validator(&cfg, c->o->threads);
	/* Every child of this sandbox ends by the judgment's deadline, and no
	 * single call may take more than a fraction of it. */
	cfg.deadline_ms = c->deadline_ms;
	cfg.timeout_ms = (int64_t)(1000.0 * c->call_s);
	if (rundevice_sandbox(&c->dev, c->recipe, &cfg, &c->sb, NULL, err) < 0)
		return -1;
	c->deadline_ms = cfg.deadline_ms; /* moved on by the build's time */
	return judge_hidden_eval(c, c->sb, err);
}

static int check_spot_replay(struct judge_ctx *c, struct kerr *err)
{
	return check_replay(c, c->sb, err);
}

static void fill_entry(struct judge_ctx *c)
{
	struct expcorpus_entry *e = &c->e;
	int on_gpu;

	snprintf(e->manifest_sha256, sizeof e->manifest_sha256, "%s", c->manifest_hex);
	snprintf(e->patch_sha256, sizeof e->patch_sha256, "%s", mstr(c->manifest, "patch_sha256", NULL));
	snprintf(e->final_sha256, sizeof e->final_sha256, "%s", c->draw_key);
	e->final_alone = king_final_names_model(&c->king, c->draw_key);
	/* unsigned, its words are no miner's: neither name nor rationale */
	snprintf(e->miner, sizeof e->miner, "%s", c->verified || c->signed_ok ? mstr(c->manifest, "miner", NULL) : "");
	snprintf(e->king_tag, sizeof e->king_tag, "%s", mstr(c->manifest, "king", "tag"));
	snprintf(e->scale, sizeof e->scale, "%s", mstr(c->manifest, "config", "scale"));
	e->seed = (int64_t)c->seed;
	e->rationale = c->verified || c->signed_ok ? c->rationale : NULL;
	e->patch = c->patch;
	/* The proof's compute: its training time on all its threads; for a
	 * GPU proof also its time on its one GPU, which the judgment's wall
	 * time on the same kind of GPU is quoted against (the corpus keeps
	 * CPU-seconds only). */
	on_gpu = json_object_get(json_object_get(c->manifest, "environment"), "device") != NULL;
	e->proof_cpu_s = mnum(c->manifest, "results", "train_s") * mnum(c->manifest, "config", "threads");
	c->r->proof_cpu_s = e->proof_cpu_s;
	c->r->proof_gpu_s = on_gpu ? mnum(c->manifest, "results", "train_s") : 0;
	snprintf(e->challenge_of, sizeof e->challenge_of, "%s", c->pending_id);
}

/* A warning: something after the verdict was recorded did not work. The
 * verdict stands; the operator is told. */
static void warn(struct judge_ctx *c, const struct kerr *e)
{
	size_t n = strlen(c->r->warning);

	snprintf(c->r->warning + n, sizeof c->r->warning - n, "%s%s: %s", n ? "; " : "", e->code, e->msg);
}

/* The earliest claim on the candidate `e` (its patch, or its trained
 * model: king_final_names_model) by another key than e's (PROTOCOL 6
 * Credit), recorded before `before` (NULL: any time); see
 * expcorpus_earlier_claim. A copy given its own challenge seed would be a
 * second draw at confirming an idea someone else showed first. The model
 * matters as much as the patch text: a thief who retrains a published
 * patch with a comment added, or takes its checkpoints and changes how
 * they are evaluated, has the discoverer's model (docs/king.md). out is ""
 * when there is none. */
static int earlier_claim(struct judge_ctx *c, const struct expcorpus_entry *e, const char *before,
			 char out[EXPCORPUS_ID_BYTES], struct kerr *err)
{
	return expcorpus_earlier_claim(c->s, e->patch_sha256, e->final_sha256, e->hidden_bpb,
				       king_final_names_model(&c->king, e->final_sha256), c->king.tag, e->miner, before,
				       out, err);
}

static void verdict_copy(struct judge_result *r, const char *claim)
{
	snprintf(r->verdict, sizeof r->verdict, "%s", EXPCORPUS_NOT_DECISIVE);
	snprintf(r->code, sizeof r->code, "judge.copy");
	snprintf(r->reason, sizeof r->reason,
		 "decisive by %.4f bpb, but the same patch, or the same trained model, on the same king was submitted"
		 " first by another key"
		 " as %s: its challenge and credit are that submission's",
		 r->improvement, claim);
}

/* A decisive original's hidden losses, scored in full, kept under its
 * manifest: if its challenge confirms it, they become the new king's
 * (settle_challenge). Without them the next judgments score in full. */
static void keep_losses(struct judge_ctx *c)
{
	struct kerr e = { { 0 }, { 0 } };

	if (!c->cand.nats || c->r->hidden_partial)
		return;
	snprintf(c->cand.owner, sizeof c->cand.owner, "submission %s", c->manifest_hex);
	c->cand.bpb = c->r->hidden_bpb;
	if (hlosses_save(c->s, &c->cand, &e) < 0)
		warn(c, &e);
}

/* The new king's losses are those of the original it was crowned from. */
static void crown_losses(struct judge_ctx *c, const char *orig_manifest, const struct king_merge_result *mr)
{
	struct hlosses l;
	struct kerr e = { { 0 }, { 0 } };
	char owner[HLOSSES_OWNER_MAX];

	snprintf(owner, sizeof owner, "submission %s", orig_manifest);
	if (hlosses_load(c->s, owner, &l, &e) == 0) {
		snprintf(l.owner, sizeof l.owner, "king %s %s", mr->to_tag, mr->commit);
		hlosses_save(c->s, &l, &e);
	}
	hlosses_free(&l);
	if (e.code[0] && strcmp(e.code, "hlosses.missing"))
		warn(c, &e);
}

/* The king rule on a bundle that passed every check. */
static int decide(struct judge_ctx *c, struct kerr *err)
{
	struct judge_result *r = c->r;
	int decisive = king_decide(c->king.hidden_bpb, r->hidden_bpb, c->king.margin, &r->improvement);
	char claim[EXPCORPUS_ID_BYTES];

	r->king_bpb = c->king.hidden_bpb;
	r->margin = c->king.margin;
	c->e.king_bpb = r->king_bpb;
	c->e.margin = r->margin;
	if (c->pending_id[0]) {
		snprintf(r->challenge_of, sizeof r->challenge_of, "%s", c->pending_id);
		snprintf(r->verdict, sizeof r->verdict, "%s",
			 decisive == 1 ? EXPCORPUS_CHALLENGE_PENDING : EXPCORPUS_CHALLENGE_FAILED);
		if (decisive != 1) {
			snprintf(r->code, sizeof r->code, "judge.challenge_failed");
			snprintf(r->reason, sizeof r->reason,
				 "under the challenge seed the improvement %.4f bpb does not clear the margin %.4f",
				 r->improvement, r->margin);
		}
		return 0;
	}
	if (decisive == 1) {
		/* A copy re-signed by another key gets no challenge seed: the
		 * seed is what lets a submission become king. */
		struct expcorpus_entry me = c->e;

		snprintf(me.final_sha256, sizeof me.final_sha256, "%s", c->draw_key);
		me.hidden_bpb = r->hidden_bpb;
		if (earlier_claim(c, &me, NULL, claim, err) < 0)
			return -1;
		if (claim[0]) {
			verdict_copy(r, claim);
			return 0;
		}
		/* of the checkpoints: a re-signed manifest (another
		 * rationale, a comment in the patch) gets the same draw */
		if (king_challenge_seed(c->s->secret, c->king.tag, c->draw_key,
					king_final_names_model(&c->king, c->draw_key) ? NULL : &r->hidden_bpb,
					&r->challenge_seed, err) < 0)
			return -1;
		keep_losses(c);
		snprintf(r->verdict, sizeof r->verdict, "%s", EXPCORPUS_CHALLENGE_PENDING);
		snprintf(r->reason, sizeof r->reason,
			 "decisive by %.4f bpb (margin %.4f): prove again with --seed %llu to confirm", r->improvement,
			 r->margin, (unsigned long long)r->challenge_seed);
		c->e.challenge_seed = (int64_t)r->challenge_seed;
	} else {
		snprintf(r->verdict, sizeof r->verdict, "%s", EXPCORPUS_NOT_DECISIVE);
		snprintf(r->code, sizeof r->code, "judge.not_decisive");
		snprintf(r->reason, sizeof r->reason, "hidden val_bpb %.4f vs the king's %.4f: improvement %.4f within the margin %.4f",
			 r->hidden_bpb, r->king_bpb, r->improvement, r->margin);
	}
	return 0;
}

/* The answer and the submission it answers get the same later verdict,
 * each only while it is still pending: the same answer judged twice at
 * once (a retry, a second upload of it) has one judgment merge, and the
 * other meet king.challenge_settled here; left unconditional, that one
 * turned the crowned answer into challenge_failed, and the king it made
 * paid nobody. The result then reports what the corpus holds. */
static int settle_both(struct judge_ctx *c, struct kerr *err)
{
	struct judge_result *r = c->r;
	struct expcorpus_verdict now;

	if (expcorpus_settle_pending(c->s, r->id, r->verdict, r->code, r->reason, err) < 0 ||
	    king_settle_challenge(c->s, c->pending_id, r->verdict, r->code, r->reason, err) < 0 ||
	    expcorpus_verdict_of(c->s, r->id, &now, err) < 0)
		return -1;
	if (strcmp(now.verdict, r->verdict)) {
		snprintf(r->verdict, sizeof r->verdict, "%s", now.verdict);
		snprintf(r->code, sizeof r->code, "%s", now.reason_code);
		snprintf(r->reason, sizeof r->reason, "%s", now.reason);
	}
	return 0;
}

/* Records the verdict. A verdict still to be settled is recorded
 * challenge_pending only while what would settle it is still to come,
 * read in the same transaction. An original: while the king it was
 * measured against is the newest; a merge that landed while it was judged
 * settled the challenges pending on the old king before this row existed
 * (king.c, settle_stale), and none would settle it later, so it is stale,
 * as that merge would have settled it. An answer: while the challenge it
 * answers is pending; settled meanwhile (crowned by another answer, or
 * stale), a judgment that died before its own settlement would leave the
 * answer pending for good. */
static int record_tx(struct vstate *s, void *arg, struct kerr *err)
{
	struct judge_ctx *c = arg;
	struct judge_result *r = c->r;

	if (!strcmp(r->verdict, EXPCORPUS_CHALLENGE_PENDING) && !c->pending_id[0]) {
		struct vstate_king now;

		if (vstate_king_current(s, &now, err) < 0)
			return -1;
		if (strcmp(now.tag, c->e.king_tag)) {
			snprintf(r->verdict, sizeof r->verdict, "%s", EXPCORPUS_CHALLENGE_FAILED);
			snprintf(r->code, sizeof r->code, "king.stale");
			snprintf(r->reason, sizeof r->reason,
				 "measured against %s, but %s became king first: rebase on it and prove again",
				 c->e.king_tag, now.tag);
			r->challenge_seed = 0;
			c->e.challenge_seed = -1;
		}
	} else if (!strcmp(r->verdict, EXPCORPUS_CHALLENGE_PENDING)) {
		struct expcorpus_verdict orig;

		if (expcorpus_verdict_of(s, c->pending_id, &orig, err) < 0)
			return -1;
		if (strcmp(orig.verdict, EXPCORPUS_CHALLENGE_PENDING)) {
			snprintf(r->verdict, sizeof r->verdict, "%s", EXPCORPUS_CHALLENGE_FAILED);
			snprintf(r->code, sizeof r->code, "king.challenge_settled");
			snprintf(r->reason, sizeof r->reason,
				 "the challenge it answers (%s) was settled while it was judged: %s", c->pending_id,
				 orig.verdict);
		}
	}
	snprintf(c->e.verdict, sizeof c->e.verdict, "%s", r->verdict);
	snprintf(c->e.reason_code, sizeof c->e.reason_code, "%s", r->code);
	snprintf(c->e.reason, sizeof c->e.reason, "%s", r->reason);
	return expcorpus_record(s, &c->e, r->checks, (size_t)r->n_checks, r->id, err);
}

/* A confirmed challenge: merge, which settles the original submission in
 * the same transaction as the new king (king.c). */
static int settle_challenge(struct judge_ctx *c, struct kerr *err)
{
	struct judge_result *r = c->r;
	struct king_metrics km = { .margin = r->margin, .alpha = c->e.alpha, .miner = c->e.miner };
	struct king_merge_result mr;
	struct expcorpus_entry orig;
	char claim[EXPCORPUS_ID_BYTES], orig_manifest[HASH_HEX_BYTES];
	int rc;

	if (strcmp(r->verdict, EXPCORPUS_CHALLENGE_PENDING)) {
		return king_settle_challenge(c->s, c->pending_id, EXPCORPUS_CHALLENGE_FAILED, r->code, r->reason, err);
	}
	if (expcorpus_get(c->s, c->pending_id, &orig, err) < 0)
		return -1;
	/* Two first judgments of the same patch (or model) at once both got
	 * a seed; the one recorded first keeps the credit. The claim is the
	 * original's, as recorded (this run, under another seed, trained
	 * another model; and a resumed settlement has no entry of its own). */
	if (earlier_claim(c, &orig, c->pending_id, claim, err) < 0) {
		expcorpus_entry_free(&orig);
		return -1;
	}
	if (claim[0]) {
		expcorpus_entry_free(&orig);
		verdict_copy(r, claim);
		return settle_both(c, err);
	}
	/* The new king's score is its protocol-seed run, the original
	 * submission: kings and candidates are always compared seed 1 to
	 * seed 1; the challenge run only confirms. */
	km.hidden_bpb = orig.hidden_bpb;
	/* The crowned improvement is the lower of the two runs' gains, and
	 * its tier the lower of the two (an unverified proof confirmed on
	 * verified hardware is still an unverified improvement). The seed-1
	 * run is the one a miner can select, trying variants until one is
	 * lucky at the protocol seed; the answer's seed is the validator's
	 * draw, so the lower gain is what was shown without selection. The
	 * king's score stays the seed-1 run's: kings are compared seed 1 to
	 * seed 1. */
	if (isfinite(orig.alpha) && orig.alpha < km.alpha)
		km.alpha = orig.alpha;
	/* The miner's claim, which the validator checked (within
	 * JUDGE_CLAIM_TOL of its own full recomputation, or within the bound
	 * on a share of the split): an honest claim is the full split's exact
	 * value, which a share's estimate is not. */
	km.public_bpb = isfinite(orig.claimed_public_bpb) ? orig.claimed_public_bpb : orig.public_bpb;
	/* (a decisive answer has a finite score; were it not, NaN here makes
	 * the merge refuse rather than fmax quietly paying the seed-1 gain) */
	km.improvement = isfinite(r->hidden_bpb) ? r->king_bpb - fmax(orig.hidden_bpb, r->hidden_bpb) : NAN;
	snprintf(orig_manifest, sizeof orig_manifest, "%s", orig.manifest_sha256);
	expcorpus_entry_free(&orig);
	/* the bytes check 1 scanned and the manifest names, not patch.diff
	 * read again after the recipe has run */
	rc = king_merge_bytes(c->s, r->id, c->king.tag, c->king.commit, c->patch, c->patch_len,
			      c->rationale ? c->rationale : "", &km, &mr, err);
	if (rc < 0 && (!strcmp(err->code, "king.stale") || !strcmp(err->code, "king.not_decisive") ||
		       !strcmp(err->code, "king.bad_metrics") || !strcmp(err->code, "king.challenge_settled"))) {
		/* Another confirmation merged while this one was judged: judged
		 * one after the other, this one would be stale too. Or the
		 * original's score no longer clears the king's score and margin
		 * in force now (a noise floor measured again since), or its
		 * metrics could never make a king: left pending, every resumed
		 * settlement would fail the same way. */
		snprintf(r->verdict, sizeof r->verdict, "%s", EXPCORPUS_CHALLENGE_FAILED);
		snprintf(r->code, sizeof r->code, "%s", err->code);
		snprintf(r->reason, sizeof r->reason, "%s", err->msg);
		return settle_both(c, err);
	}
	if (rc < 0)
		return -1;
	/* The commit point is behind us: the king changed, and the verdict
	 * says so whatever fails from here on. */
	snprintf(r->new_king, sizeof r->new_king, "%s", mr.to_tag);
	snprintf(r->verdict, sizeof r->verdict, "%s", EXPCORPUS_ACCEPTED_KING);
	snprintf(r->reason, sizeof r->reason, "confirmed under the challenge seed: king %s", mr.to_tag);
	crown_losses(c, orig_manifest, &mr);
	if (mr.record_pending) {
		struct kerr w = { "king.record_pending", { 0 } };
		snprintf(w.msg, sizeof w.msg, "%s", mr.record_warning);
		warn(c, &w);
	}
	return 0;
}

/* What was received, when it could not be verified against its manifest:
 * the digest of every file's name and content (the manifest among them).
 * Such a submission is recorded under this digest, not the manifest's, so
 * a damaged copy of a bundle (a flipped byte, a dropped file: the manifest
 * untouched) does not occupy the genuine bundle's slot, while the same
 * damaged bytes again are still a replay. */
static void received_digest(const struct judge_ctx *c, char out[HASH_HEX_BYTES])
{
	static const char context[] = "karpa received content v1";
	const struct bundle_taken *t = &c->taken;
	struct hash_ctx h;
	uint8_t d[HASH_BYTES];

	hash_begin(&h);
	hash_update(&h, context, sizeof context); /* its NUL ends the context */
	hash_update(&h, c->manifest_hex, HASH_HEX_BYTES - 1);
	/* The take's listing and digests: the bytes judged, not read again. */
	for (int i = 0; i < t->f.n; i++) {
		hash_update(&h, t->f.name[i], strlen(t->f.name[i]) + 1);
		hash_update(&h, t->sha256[i], strlen(t->sha256[i]) + 1);
	}
	hash_end(&h, d);
	hash_hex(d, out);
}

/* Accepted bundles are kept by content, from the validator's copy, under
 * the take's digests: linked into the store, not copied and hashed again.
 * A file never hashed (an intermediate checkpoint of a candidate that
 * cannot change the king, which nothing read) is not kept: the store holds
 * only what was verified. */
static int store_bundle(struct judge_ctx *c, struct kerr *err)
{
	char path[FS_PATH_MAX];

	c->r->files_unkept = bundle_taken_unhashed(&c->taken);
	for (int i = 0; i < c->taken.f.n; i++) {
		if (c->taken.unhashed[i])
			continue;
		if (fs_join(path, sizeof path, err, "%s/%s", c->bdir, c->taken.f.name[i]) < 0 ||
		    vstate_store_known(c->s, path, c->taken.sha256[i], err) < 0)
			return -1;
	}
	return 0;
}

static void ctx_free(struct judge_ctx *c)
{
	if (c->pr_open)
		plausible_report_free(&c->pr);
	if (c->pub_open)
		dataset_close(&c->pub);
	if (c->sb)
		sandbox_free(c->sb);
	rundevice_free(&c->dev);
	hlosses_free(&c->cand);
	json_decref(c->manifest);
	free(c->patch);
	free(c->rationale);
	if (c->work[0])
		fs_rm_rf(c->work);
}

/* The settlement of an interrupted confirmation (interrupted_settlement).
 * A king that moved on since makes it stale, as it would have been had the
 * two been judged one after the other. */
static int resume_settlement(struct judge_ctx *c, struct kerr *err)
{
	struct judge_result *r = c->r;

	judge_say(c, "resuming an interrupted settlement");
	/* The manifest is the one recorded, but the files beside it are
	 * whoever sent them this time: the merge applies this patch.diff and
	 * commits this rationale.md, and the store keeps these files. They
	 * must be the ones the signed manifest names, as check 2 held them
	 * the first time; otherwise any patch would merge, unscanned and
	 * untrained, under the original's score. */
	if (verify_files(c, err) < 0) {
		kerr_prefix(err, "resuming the settlement of %.16s...", c->manifest_hex);
		return -1;
	}
	if (strcmp(c->resumed_king, c->king.tag)) {
		snprintf(r->verdict, sizeof r->verdict, "%s", EXPCORPUS_CHALLENGE_FAILED);
		snprintf(r->code, sizeof r->code, "king.stale");
		snprintf(r->reason, sizeof r->reason, "confirmed against %s, but the king is now %s", c->resumed_king,
			 c->king.tag);
		return settle_both(c, err);
	}
	if (settle_challenge(c, err) < 0)
		return -1;
	/* A settled bundle is kept whole, as its first judgment verified it. */
	if (bundle_taken_hash_all(&c->taken, err) < 0 || store_bundle(c, err) < 0) {
		warn(c, err);
		kerr_clear(err);
	}
	return 0;
}

int judge_run(struct vstate *s, const struct judge_opts *o, struct judge_result *r, struct kerr *err)
{
	static int (*const checks[JUDGE_CHECKS])(struct judge_ctx *, struct kerr *) = {
		check_diff_scan, check_attest, check_plausible, check_hidden, check_spot_replay,
	};
	struct judge_ctx c;
	struct kerr why = { { 0 }, { 0 } };
	double t0 = cpu_now();
	int64_t start_ms = recipe_pipe_now_ms();
	int rc = -1, failed = 0;

	memset(&c, 0, sizeof c);
	memset(r, 0, sizeof *r);
	r->public_bpb = r->hidden_bpb = r->king_bpb = r->margin = r->improvement = NAN;
	c.s = s;
	c.o = o;
	c.r = r;
	expcorpus_entry_blank(&c.e);
	if (king_current(s, &c.king, err) < 0)
		return -1;
	if (!isfinite(c.king.hidden_bpb) || !isfinite(c.king.margin)) {
		return kerr_set(err, "king.no_noise_floor",
				"king %s has no measured hidden score and noise floor: run `karpa noise-floor` first",
				c.king.tag);
	}
	if (fs_join(c.work, sizeof c.work, err, "%s/work/judge-%ld", s->dir, (long)getpid()) < 0 ||
	    fs_join(c.recipe, sizeof c.recipe, err, "%s/recipe", c.work) < 0)
		goto out;
	fs_rm_rf(c.work);
	if (fs_mkdir_p(c.work, err) < 0)
		goto out;
	if (intake(&c, err) < 0 || refuse_replay(&c, err) < 0)
		goto out;
	if (c.resumed) {
		rc = resume_settlement(&c, err);
		goto out;
	}
	set_deadline(&c, start_ms);
	if (dataset_open(s->data, &c.pub, err) < 0)
		goto out;
	c.pub_open = 1;
	for (int i = 0; i < JUDGE_CHECKS && !failed; i++) {
		if (run_check(&c, i, checks[i], &why) < 0) {
			/* The validator's trouble is no verdict on the miner's
			 * proof: memory that ran out, in any check (what a bundle
			 * can make checks 1 to 3 allocate is bounded by their
			 * limits), the state's lookup of the challenge an answer
			 * answers, and past the bundle's own checks the listed
			 * failures of its sandbox, disk and tools. Except, from
			 * check 4 on, a checkpoint's state that could not be held
			 * (ckpt.nomem): it is loaded whole, and its size is the
			 * miner's to choose, so that stays a verdict. */
			int hidden_on = i >= JUDGE_CHECK_HIDDEN;

			if ((kerr_is_nomem(&why) && !(hidden_on && !strcmp(why.code, "ckpt.nomem"))) || c.state_fault ||
			    (hidden_on && fault_is_ours(why.code))) {
				kerr_set(err, why.code, "no verdict: this validator could not run check %s (%s); nothing is"
					 " recorded: fix it and judge the bundle again", check_names[i], why.msg);
				goto out;
			}
			failed = 1;
		}
		/* Once the manifest is verified (check 2), what the draws need of
		 * the checkpoints its miner holds: without them no verdict, and
		 * nothing recorded (the miner has not been asked yet). */
		else if (i == 1 && take_held(&c, err) < 0)
			goto out;
	}
	/* A file hashed only when a later check read it (a judgment by hand
	 * defers the intermediates' digests) that is not the manifest's: the
	 * bundle was not what its signature names after all. Recorded under
	 * what was received, and no challenge is settled by it, so a damaged
	 * copy neither blocks the genuine bundle nor ends its miner's
	 * challenge. */
	if (failed && !strcmp(r->checks[r->n_checks - 1].code, "bundle.file_digest")) {
		c.verified = 0;
		c.pending_id[0] = '\0';
	}
	fill_entry(&c);
	if (failed) {
		snprintf(r->verdict, sizeof r->verdict, "%s", EXPCORPUS_REJECTED);
		snprintf(r->code, sizeof r->code, "%s", r->checks[r->n_checks - 1].code);
		snprintf(r->reason, sizeof r->reason, "%s", why.msg);
		/* Judged only as far as what arrived: the manifest's digest
		 * counts as judged once its content was verified. */
		if (!c.verified)
			received_digest(&c, c.e.manifest_sha256);
	} else if (decide(&c, err) < 0) {
		goto out;
	}
	r->judge_cpu_s = cpu_now() - t0;
	r->judge_wall_s = (double)(recipe_pipe_now_ms() - start_ms) / 1000.0;
	c.e.judge_cpu_s = r->judge_cpu_s;
	crash_point("judge_before_record");
	if (vstate_tx(s, record_tx, &c, err) < 0) {
		if (!strcmp(err->code, "expcorpus.duplicate"))
			snprintf(err->code, sizeof err->code, "judge.duplicate");
		goto out;
	}
	crash_point("judge_before_settle");
	/* A challenge answer refused by a later check for what the judge
	 * found in the proof (pending_id is set once its signature and files
	 * held: it is the miner's own) settles its original too, as
	 * challenge_failed: left pending, a recipe that leaks or forges at
	 * random could send the same run again, re-signed, until the probes
	 * and the binding replay missed it. Any other refusal (the recipe's
	 * build, its sandbox, a device, a file, a deadline: possibly this
	 * validator's trouble) leaves the original pending. */
	if (c.pending_id[0] && (!failed || answer_settles(r->code)) && settle_challenge(&c, err) < 0)
		goto out;
	/* The verdict is recorded (and the king may have changed): a failure
	 * to keep the bundle is the operator's to fix, not a failed judgment,
	 * which would report no verdict for a recorded one. */
	if (!failed && store_bundle(&c, &why) < 0)
		warn(&c, &why);
	rc = 0;
out:
	ctx_free(&c);
	return rc;
}
