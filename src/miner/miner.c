/* miner.c: the miner's loop (miner.h). */
#include "miner/miner.h"

#include <dirent.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness/calibrate.h"
#include "harness/gpuinfo.h"
#include "harness/scale.h"
#include "harness/train.h"
#include "judge/diffscan.h"
#include "judge/dispute.h"
#include "miner/agent.h"
#include "miner/journal.h"
#include "miner/knobs.h"
#include "miner/search.h"
#include "net/client.h"
#include "proof/attest.h"
#include "proof/keys.h"
#include "proof/prove.h"
#include "proof/reciperepo.h"
#include "sandbox/runbox.h"
#include "sandbox/recipe_build.h"
#include "util/crash.h"
#include "util/fsutil.h"
#include "util/hash.h"
#include "util/proc.h"
#include "util/termtext.h"

#define MINER_URL_MAX 2048
#define MINER_POLL_S 2
/* How long a miner waits before sending a proof again to a validator that
 * said "later": 15 s, doubling to at most 5 minutes (a per-key cap is met
 * only after the upload and its verification, so a tight loop would cost
 * the validator a full check every time). */
#define MINER_FULL_WAIT_S 15
#define MINER_FULL_WAIT_MAX_S 300
#define MINER_ID_MAX 64 /* a submission id's length (the validator's are 26) */
#define MINER_FAULTS_MAX 4 /* a validator's 5xx failures in a row before the next start */
#define MINER_DIFF_MAX (256u << 10)
#define MINER_AWAITING "proved, awaiting its verdict" /* a submitted row's description until then */
#define MINER_RATIONALE_BYTES_MAX (64u << 10) /* the judge reads at most this much */
#define MINER_AGENT_STREAK 3 /* failed proposals in a row before the agent waits */
#define MINER_IDLE_S 10       /* how often an idle miner looks at the king */

/* The king as the validator describes it, and its checkout. */
struct king {
	char tag[128], commit[48], scale[32];
	double public_bpb, margin;
	uint64_t seed;
	struct knob_values kv;
};

struct miner {
	const struct miner_opts *o;
	struct miner_stats *st;
	struct journal j;
	struct king k;
	struct client_opts co;
	char miner_hex[KEYS_PK_HEX_BYTES]; /* the key's public half, for co.miner */
	char recipe[FS_PATH_MAX], checkout[FS_PATH_MAX];
};

static double wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* One line on stderr. Much of it is the validator's text (tags, ids,
 * codes, messages), which may be hostile: control bytes (C1 and
 * malformed UTF-8 among them) become '?', so that no escape sequence
 * reaches the operator's terminal. */
static void say(const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	termtext_clean(line, '?');
	fprintf(stderr, "miner: %s\n", line);
}

static const char *jstr(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));
	return v ? v : "";
}

/* git args in dir, under reciperepo_git's pinned configuration: what a
 * validator serves (the king's recipe) is checked out and diffed here, and
 * the user's git configuration (filters, hooks, attributes) must not act
 * on it. */
static int git(const char *dir, const char *const *args, struct kerr *err)
{
	const struct reciperepo_git_opts go = { .reason = "miner.git" };
	struct proc_result res;

	if (reciperepo_git(dir, args, &go, &res, err) < 0)
		return -1;
	if (res.exit_code != 0) {
		char line[240];
		proc_first_line(res.err, line, sizeof line);
		proc_result_free(&res);
		return kerr_set(err, "miner.git", "git %s failed: %s", args[0], line);
	}
	proc_result_free(&res);
	return 0;
}

/* ------------------------------------------------------------ king */

/* Fetches /v1/king; on a new king commit, the recipe bundle, a fresh
 * clone of it and a checkout of the king. *changed says so. */
static int king_sync(struct miner *m, int *changed, struct kerr *err)
{
	char u[MINER_URL_MAX], bundle[FS_PATH_MAX];
	json_t *o = NULL, *nf;
	long status;
	struct king k;

	*changed = 0;
	memset(&k, 0, sizeof k);
	if (client_url(u, sizeof u, m->o->validator, "/v1/king", err) < 0 ||
	    client_get_json(u, &m->co, &o, &status, err) < 0)
		return -1;
	snprintf(k.tag, sizeof k.tag, "%s", jstr(o, "tag"));
	snprintf(k.commit, sizeof k.commit, "%s", jstr(o, "commit"));
	snprintf(k.scale, sizeof k.scale, "%s", jstr(o, "scale"));
	k.public_bpb = json_is_number(json_object_get(o, "public_bpb")) ? json_number_value(json_object_get(o, "public_bpb"))
									 : NAN;
	nf = json_object_get(o, "noise_floor");
	/* No noise floor yet: the validator cannot crown anyone; a margin of
	 * 0 still lets the miner find and record its best ideas. */
	k.margin = json_is_object(nf) ? json_number_value(json_object_get(nf, "margin")) : 0.0;
	/* a negative (or NaN) margin would make every run worth sending */
	if (!(k.margin >= 0))
		k.margin = 0;
	k.seed = json_is_integer(json_object_get(o, "seed")) ? (uint64_t)json_integer_value(json_object_get(o, "seed"))
							     : PROVE_SEED_DEFAULT;
	json_decref(o);
	if (!k.tag[0] || strlen(k.commit) != 40 || !hash_is_hex(k.commit, 40) || !k.scale[0])
		return kerr_set(err, "client.bad_reply", "/v1/king: no tag, commit or scale");
	if (!strcmp(k.commit, m->k.commit)) {
		m->k.public_bpb = k.public_bpb;
		m->k.margin = k.margin;
		return 0;
	}
	if (fs_join(bundle, sizeof bundle, err, "%s/recipe.bundle", m->o->work) < 0 ||
	    client_url(u, sizeof u, m->o->validator, "/v1/recipe.bundle", err) < 0 ||
	    client_get_file(u, &m->co, bundle, &status, err) < 0)
		return -1;
	fs_rm_rf(m->recipe);
	fs_rm_rf(m->checkout);
	/* A validator may be hostile, and its king is built here: nothing is
	 * checked out before the tree is plain recipe files
	 * (reciperepo_tree_check), the tag is the commit, and nothing is built
	 * before the sources pass the validator's own scan (check 1): a
	 * header that includes the miner's key, or assembly that embeds it,
	 * would carry it into the checkpoints the miner uploads. */
	{
		char tagged[RECIPEREPO_COMMIT_HEX];
		const char *clone[] = { "clone", "-q", "--no-checkout", "./recipe.bundle", "recipe", NULL };
		const char *co[] = { "clone", "-q", "--no-checkout", "recipe", "king", NULL };
		const char *det[] = { "checkout", "-q", "--detach", k.commit, NULL };

		if (git(m->o->work, clone, err) < 0 || reciperepo_tree_check(m->recipe, k.commit, err) < 0)
			return -1;
		if (reciperepo_resolve(m->recipe, k.tag, tagged, err) < 0 || strcmp(tagged, k.commit))
			return kerr_set(err, "client.bad_reply", "/v1/king: tag %s names %s in the recipe bundle, not %s",
					k.tag, tagged[0] ? tagged : "no commit", k.commit);
		if (git(m->o->work, co, err) < 0 || git(m->checkout, det, err) < 0 || diffscan_tree(m->checkout, err) < 0)
			return -1;
	}
	if (knob_read(m->checkout, k.scale, &k.kv, err) < 0)
		return -1;
	/* the tier the miner's proofs will earn, as prove detects it: an
	 * unverified proof's FLOPs count double against the scale's cap */
	{
		char kind[32];

		if (attest_detect(NULL, kind, err) < 0)
			return -1;
		k.kv.alpha = attest_kind_alpha(kind, scale_on_gpu(k.scale));
	}
	m->k = k;
	*changed = 1;
	return 0;
}

/* ------------------------------------------------------------ corpus */

/* The token a proposal's rationale carries: the same point on the same
 * king gives the same patch, so this names the patch in the corpus's
 * full-text index (the service's search does not index patch digests). */
static void proposal_token(const char *commit, const char *point_s, char out[32])
{
	char buf[400], hex[HASH_HEX_BYTES];

	snprintf(buf, sizeof buf, "%s@%s", point_s, commit);
	hash_buf_hex(buf, strlen(buf), hex);
	snprintf(out, 32, "mk%.24s", hex);
}

/* Skip a point the validator judged not decisive on this king. A failed
 * lookup skips nothing: the corpus is advice, not a gate. */
static int corpus_skip(void *arg, const struct knob_point *p)
{
	struct miner *m = arg;
	char s[256], tok[32], path[128], u[MINER_URL_MAX];
	struct kerr err;
	json_t *o = NULL, *e;
	long status;
	size_t i;
	int hit = 0;

	if (knob_point_format(p, s, sizeof s) < 0)
		return 0;
	proposal_token(m->k.commit, s, tok);
	snprintf(path, sizeof path, "/v1/corpus?q=%s&verdict=not_decisive&limit=20", tok);
	if (client_url(u, sizeof u, m->o->validator, path, &err) < 0 ||
	    client_get_json(u, &m->co, &o, &status, &err) < 0)
		return 0;
	json_array_foreach(json_object_get(o, "entries"), i, e)
		hit |= !strcmp(jstr(e, "king_tag"), m->k.tag);
	json_decref(o);
	if (hit)
		say("skip %s: the corpus has it as not decisive on %s", s, m->k.tag);
	return hit;
}

/* ------------------------------------------------------------ submit */

/* A proof of experiment exp (proof, challenge), no longer of use: a
 * discarded run's, or a submission's once judged, or one a restart proves
 * again. At the gpu-* scales each is 12 GB and more: NAME.tar, the
 * checkpoints it holds (NAME.held), and what a killed proof left (its
 * NAME.work.PID run folder, a NAME.tmp.PID staging folder, a
 * NAME.tar.tmp file), every entry named NAME or NAME.*; the
 * experiment's other files have other names (NAME-id, patch.diff). */
/* The entries of experiment exp's folder named `exact` or starting with
 * `prefix`: how many, each removed when drop. */
static int proof_entries(struct miner *m, int exp, const char *prefix, const char *exact, int drop)
{
	char dir[FS_PATH_MAX], path[FS_PATH_MAX];
	struct kerr err;
	size_t n = strlen(prefix);
	struct dirent *e;
	DIR *d;
	int found = 0;

	/* an empty prefix would take "." and ".." */
	if (!n || journal_path(&m->j, exp, NULL, dir, sizeof dir, &err) < 0 || !(d = opendir(dir)))
		return 0;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, prefix, n) && (!exact || strcmp(e->d_name, exact)))
			continue;
		found++;
		if (drop && fs_join(path, sizeof path, &err, "%s/%s", dir, e->d_name) == 0)
			fs_rm_rf(path);
	}
	closedir(d);
	return found;
}

static void drop_proof(struct miner *m, int exp, const char *name)
{
	char pre[64];

	snprintf(pre, sizeof pre, "%s.", name);
	proof_entries(m, exp, pre, name, 1);
}

/* Proves the experiment's patch with seed into NAME.tar in its folder. */
static int prove_exp(struct miner *m, int exp, uint64_t seed, const char *name, char *tar, size_t cap,
		     struct prove_result *res, struct kerr *err)
{
	char patch[FS_PATH_MAX], rat[FS_PATH_MAX], out[FS_PATH_MAX], log[FS_PATH_MAX], keep[FS_PATH_MAX];
	struct prove_opts po = { 0 };
	struct prove_result r;
	double t0;
	int rc;

	if (journal_path(&m->j, exp, "patch.diff", patch, sizeof patch, err) < 0 ||
	    journal_path(&m->j, exp, "rationale.md", rat, sizeof rat, err) < 0 ||
	    journal_path(&m->j, exp, name, out, sizeof out, err) < 0 || fs_join(tar, cap, err, "%s.tar", out) < 0)
		return -1;
	drop_proof(m, exp, name); /* an interrupted proof's */
	po.recipe_repo = m->recipe;
	po.king = m->k.tag;
	po.patch = patch;
	po.rationale = rat;
	po.key = m->o->key;
	po.data = m->o->data;
	po.scale = m->k.scale;
	po.out = out;
	po.tar = tar;
	po.seed = seed;
	po.threads = m->o->threads;
	po.progress = m->o->progress;
	po.cuda = scale_on_gpu(m->k.scale);
	po.hold = m->o->hold;
	po.no_sandbox = m->o->no_sandbox;
	t0 = wall_s();
	rc = prove_run(&po, &r, err);
	*(seed == m->k.seed ? &m->st->prove_s : &m->st->challenge_s) += wall_s() - t0;
	if (rc < 0)
		return -1;
	*res = r;
	if (r.held)
		say("experiment %04d: its proof holds %d checkpoints in %s%s until its verdict", exp, r.held, out,
		    PROVE_HELD_SUFFIX);
	/* The protocol-seed proof's log is the experiment's train.log. */
	if (seed == m->k.seed && fs_join(log, sizeof log, err, "%s/train.log", out) == 0 &&
	    journal_path(&m->j, exp, "train.log", keep, sizeof keep, err) == 0 && fs_exists(log))
		fs_copy_file(log, keep, err);
	fs_rm_rf(out); /* the tar is the bundle; the directory is a copy */
	return 0;
}

/* Where the held checkpoints of experiment exp's proof NAME (proof,
 * challenge) are: NAME.held beside its tar (prove's BUNDLE.held). */
static int held_path(struct miner *m, int exp, const char *name, char *out, size_t cap, struct kerr *err)
{
	char held[64];

	snprintf(held, sizeof held, "%s%s", name, PROVE_HELD_SUFFIX);
	return journal_path(&m->j, exp, held, out, cap, err);
}

/* After which the proof still stands and the submission is followed, or
 * sent, again on the next start: what follow and submit_follow give up on
 * at the deadline (client.timeout, the last cause in its message) or after
 * the validator failed it again and again (client.server_fault), as
 * opposed to a refusal. Losing the row for these lost a proof (and at the
 * gpu-* scales 12 GB on disk with no row to remove it). */
static int transient(const struct kerr *e)
{
	return client_no_room(e) || !strcmp(e->code, "client.connect") || !strcmp(e->code, "client.timeout") ||
	       !strcmp(e->code, "http.rate") || !strcmp(e->code, "client.server_fault");
}

/* A 5xx that is the validator's own failure rather than a lack of room
 * (503, busy, full): it may fail the same bundle the same way every time,
 * and each try of a proof is an upload of gigabytes, so *faults (in a row)
 * reaching MINER_FAULTS_MAX gives up until the next start
 * (client.server_fault, the last cause in its message). */
static int too_many_faults(int *faults, long status, const char *what, struct kerr *err)
{
	char cause[KERR_MSG_MAX];

	if (status < 500 || status == 503 || client_no_room(err) || client_busy(err)) {
		*faults = 0;
		return 0;
	}
	if (++*faults < MINER_FAULTS_MAX)
		return 0;
	snprintf(cause, sizeof cause, "%s (%s, HTTP %ld)", err->msg, err->code, status);
	kerr_set(err, "client.server_fault", "%s: the validator failed it %d times in a row; last: %s", what, *faults,
		 cause);
	return 1;
}

/* err (a "later" failure) becomes client.timeout once deadline is past. */
static int past_deadline(time_t deadline, const char *what, struct kerr *err)
{
	char cause[KERR_MSG_MAX];

	if (time(NULL) < deadline)
		return 0;
	snprintf(cause, sizeof cause, "%s (%s)", err->msg, err->code);
	kerr_set(err, "client.timeout", "%s: not done by the verdict timeout; last: %s", what, cause);
	return 1;
}

/* How long to wait after the n-th "later" in a row: 15 s, doubling to at
 * most 5 minutes (a per-key cap is met only after the upload and its
 * verification, so a tight loop would cost the validator a full check
 * every time). */
static unsigned later_wait_s(int n)
{
	unsigned s = MINER_FULL_WAIT_S;

	while (n-- > 0 && s < MINER_FULL_WAIT_MAX_S)
		s *= 2;
	return s > MINER_FULL_WAIT_MAX_S ? MINER_FULL_WAIT_MAX_S : s;
}

/* A submission id as the validator makes them ("q-" and hex digits):
 * the miner puts it in a URL and a file, and follows it for hours. */
static int id_ok(const char *id)
{
	size_t n = strlen(id);

	if (n < 3 || n > MINER_ID_MAX || strncmp(id, "q-", 2))
		return 0;
	for (size_t i = 2; i < n; i++)
		if (!strchr("0123456789abcdef", id[i]))
			return 0;
	return 1;
}

/* Follows submission id to its verdict: *item (caller decrefs). When the
 * validator asks for held checkpoints, they are sent from held_dir. A
 * validator that does not answer now is asked again until deadline, held
 * checkpoints included: the validator's wait for them has a deadline of
 * its own, so a follow given up on an outage could lose the proof. */
static int follow(struct miner *m, const char *id, const char *held_dir, time_t deadline, json_t **item,
		  struct kerr *err)
{
	char u[MINER_URL_MAX], subs[MINER_URL_MAX], p[256];
	json_t *it = NULL;
	struct client_held_tally tally = { 0 };
	int sent, fails = 0, faults = 0;

	if (!id_ok(id))
		return kerr_set(err, "client.bad_reply", "'%.64s' is not a submission id (q- and at most %d hex digits)", id,
				MINER_ID_MAX - 2);
	snprintf(p, sizeof p, "/v1/submissions/%s", id);
	if (client_url(u, sizeof u, m->o->validator, p, err) < 0 ||
	    client_url(subs, sizeof subs, m->o->validator, "/v1/submissions", err) < 0)
		return -1;
	for (;;) {
		long status = 0;
		int rc = client_get_json(u, &m->co, &it, &status, err);

		if (rc == 0 && !strcmp(jstr(it, "state"), "done"))
			break;
		if (rc == 0 && client_held_wanted(it)) {
			rc = client_send_held(subs, it, held_dir, &m->co, &tally, &sent, &status, err);
			if (rc == 0)
				say("submission %s: sent the %d held checkpoint%s the validator drew", id, sent,
				    sent == 1 ? "" : "s");
		}
		json_decref(it);
		it = NULL;
		if (rc < 0 && !client_later(err, status))
			return -1;
		if (rc < 0) {
			if (past_deadline(deadline, id, err) || too_many_faults(&faults, status, id, err))
				return -1;
			say("submission %s: the validator did not answer now (%s: %s); asking again in %u s", id, err->code,
			    err->msg, later_wait_s(fails));
			sleep(later_wait_s(fails++));
			continue;
		}
		fails = faults = 0;
		if (time(NULL) >= deadline)
			return kerr_set(err, "client.timeout", "%s: no verdict after %.0f s", id, m->o->verdict_timeout_s);
		sleep(MINER_POLL_S);
	}
	*item = it;
	return 0;
}

/* The row's description when its submission is left for the next start. */
static void still_awaiting(struct journal_row *r, const struct kerr *e)
{
	snprintf(r->desc, sizeof r->desc, "%s (public %.4f; %s, tried again on the next start)", MINER_AWAITING,
		 r->val_bpb, e->code);
}

/* Uploads tar, keeps its id in the experiment's NAME-id (what a restarted
 * miner follows), and follows it to its verdict. A validator that says
 * "later" (full, busy, down) is sent it again, within the verdict timeout
 * shared by the upload and the follow, rather than costing the proof. */
static int submit_follow(struct miner *m, int exp, const char *tar, const char *name, json_t **item, struct kerr *err)
{
	char u[MINER_URL_MAX], path[FS_PATH_MAX], held[FS_PATH_MAX], idf[64], id[MINER_ID_MAX + 1];
	json_t *it = NULL;
	long status = 0;
	time_t deadline = time(NULL) + (time_t)m->o->verdict_timeout_s;
	int fails = 0, faults = 0;

	if (client_url(u, sizeof u, m->o->validator, "/v1/submissions", err) < 0)
		return -1;
	while (client_post_submission(u, tar, &m->co, &it, &status, err) < 0) {
		if (!client_later(err, status) || past_deadline(deadline, tar, err) || too_many_faults(&faults, status, tar, err))
			return -1;
		say("experiment %04d: the validator did not take it now (%s); sending it again in %u s", exp,
		    err->code, later_wait_s(fails));
		kerr_clear(err);
		sleep(later_wait_s(fails++));
		status = 0;
	}
	if (!id_ok(jstr(it, "id"))) {
		kerr_set(err, "client.bad_reply", "the validator took %s and named it '%.64s', which is no submission id",
			 tar, jstr(it, "id"));
		json_decref(it);
		return -1;
	}
	snprintf(id, sizeof id, "%s", jstr(it, "id"));
	json_decref(it);
	say("experiment %04d submitted as %s", exp, id);
	snprintf(idf, sizeof idf, "%s-id", name);
	if (journal_path(&m->j, exp, idf, path, sizeof path, err) < 0 || fs_write_atomic(path, id, strlen(id), err) < 0)
		return -1;
	crash_point("miner_after_submit");
	if (held_path(m, exp, name, held, sizeof held, err) < 0)
		return -1;
	return follow(m, id, held, deadline, item, err);
}

/* The seed a challenge answer is proved with, kept beside it: a restart
 * that finds the answer proved (challenge.tar, written whole or not at
 * all) sends it again rather than proving it a second time, which would
 * make other bytes, a second submission. */
static int challenge_seed_keep(struct miner *m, int exp, uint64_t seed, struct kerr *err)
{
	char path[FS_PATH_MAX], txt[32];

	snprintf(txt, sizeof txt, "%llu", (unsigned long long)seed);
	if (journal_path(&m->j, exp, "challenge-seed", path, sizeof path, err) < 0)
		return -1;
	return fs_write_atomic(path, txt, strlen(txt), err);
}

/* Whether a killed proof left its run folder (NAME.work.PID): prove
 * packs the tar before it moves the held checkpoints out of it, so a tar
 * beside such a folder may lack them. */
static int proof_left_work(struct miner *m, int exp, const char *name)
{
	char pre[64];

	snprintf(pre, sizeof pre, "%s.work.", name);
	return proof_entries(m, exp, pre, NULL, 0) > 0;
}

/* Whether experiment exp's challenge answer for seed is proved: its tar,
 * at tar, the seed it was proved with, and its held checkpoints unless
 * the proof ended cleanly holding none. */
static int challenge_proved(struct miner *m, int exp, uint64_t seed, char *tar, size_t cap)
{
	char path[FS_PATH_MAX], held[FS_PATH_MAX], want[32], *txt = NULL;
	struct kerr err;
	size_t n;
	int ok;

	if (journal_path(&m->j, exp, "challenge.tar", tar, cap, &err) < 0 ||
	    journal_path(&m->j, exp, "challenge-seed", path, sizeof path, &err) < 0 || !fs_exists(tar) ||
	    held_path(m, exp, "challenge", held, sizeof held, &err) < 0 ||
	    (!fs_exists(held) && proof_left_work(m, exp, "challenge")) || fs_read_file(path, 31, 0, &txt, &n, &err) < 0)
		return 0;
	snprintf(want, sizeof want, "%llu", (unsigned long long)seed);
	ok = n == strlen(want) && !memcmp(txt, want, n);
	free(txt);
	return ok;
}

/* From a verdict on: a challenge is answered by proving again with its seed
 * (unless answered already: then that answer is followed), and the row gets
 * the outcome. Takes it. */
static void settle(struct miner *m, struct journal_row *r, json_t *it, struct miner_stats *st)
{
	struct kerr err = { { 0 }, { 0 } };
	char tar[FS_PATH_MAX], vpath[FS_PATH_MAX], idp[FS_PATH_MAX], *vj, *cid = NULL;
	size_t n;
	json_t *jd = json_object_get(it, "judgment");
	struct prove_result pr;

	if (!strcmp(jstr(it, "verdict"), "challenge_pending") && json_is_integer(json_object_get(jd, "challenge_seed"))) {
		uint64_t seed = (uint64_t)json_integer_value(json_object_get(jd, "challenge_seed"));
		json_decref(it);
		it = NULL;
		/* the original is judged and with the validator: room for the answer */
		drop_proof(m, r->exp, "proof");
		if (journal_path(&m->j, r->exp, "challenge-id", idp, sizeof idp, &err) == 0 && fs_exists(idp) &&
		    fs_read_file(idp, 128, 0, &cid, &n, &err) == 0) {
			say("experiment %04d: following its challenge answer %s", r->exp, cid);
			char held[FS_PATH_MAX];

			if (held_path(m, r->exp, "challenge", held, sizeof held, &err) < 0 ||
			    follow(m, cid, held, time(NULL) + (time_t)m->o->verdict_timeout_s, &it, &err) < 0) {
				/* the validator not answering now costs the answer nothing:
				 * it is followed again on the next start */
				if (transient(&err))
					still_awaiting(r, &err);
				else
					snprintf(r->desc, sizeof r->desc, "challenge answer %s: %s: %s", cid, err.code,
						 err.msg);
				free(cid);
				return;
			}
			free(cid);
		} else if (strcmp(r->commit, m->k.commit)) {
			/* the answer names the king the proof improved on, which is
			 * no longer the king: it would be judged stale */
			drop_proof(m, r->exp, "challenge");
			snprintf(r->desc, sizeof r->desc, "challenge lapsed: the king moved on from %.12s before it was answered",
				 r->commit);
			say("experiment %04d: %s", r->exp, r->desc);
			return;
		} else {
			int again = challenge_proved(m, r->exp, seed, tar, sizeof tar);

			if (again)
				say("experiment %04d: sending its challenge answer again, proved before a restart", r->exp);
			else
				say("experiment %04d: challenged, proving again with seed %llu", r->exp,
				    (unsigned long long)seed);
			if (!again)
				drop_proof(m, r->exp, "challenge"); /* no old tar beside the new seed */
			if ((!again && (challenge_seed_keep(m, r->exp, seed, &err) < 0 ||
					prove_exp(m, r->exp, seed, "challenge", tar, sizeof tar, &pr, &err) < 0)) ||
			    submit_follow(m, r->exp, tar, "challenge", &it, &err) < 0) {
				if (transient(&err))
					still_awaiting(r, &err);
				else
					snprintf(r->desc, sizeof r->desc, "challenge answer: %s: %s", err.code, err.msg);
				return;
			}
		}
	}
	if (journal_path(&m->j, r->exp, "verdict.json", vpath, sizeof vpath, &err) == 0 &&
	    (vj = json_dumps(it, JSON_SORT_KEYS | JSON_INDENT(1)))) {
		fs_write_atomic(vpath, vj, strlen(vj), &err);
		free(vj);
	}
	if (!strcmp(jstr(it, "verdict"), "accepted_king")) {
		snprintf(r->status, sizeof r->status, "king");
		st->kings++;
	}
	/* A final verdict needs no bytes here, unless a dispute may: a replay
	 * that parted from the log (the miner answers with `karpa dispute
	 * trace BUNDLE`), or a validator that could not judge it. */
	if (strcmp(jstr(it, "verdict"), "error") && !dispute_subject(jstr(it, "code"))) {
		drop_proof(m, r->exp, "proof");
		drop_proof(m, r->exp, "challenge");
	}
	snprintf(r->desc, sizeof r->desc, "verdict %s%s%s (submission %s)", jstr(it, "verdict"),
		 *jstr(it, "code") ? ": " : "", jstr(it, "code"), jstr(it, "id"));
	say("experiment %04d: %s", r->exp, r->desc);
	json_decref(it);
}

/* Submit the experiment's proof (its full run: proof.tar), follow, settle.
 * Sets the row's status and description, and records it: first as
 * submitted and awaiting its verdict, before a byte is sent, since a
 * restart follows (or sends again) only such rows: a proof sent with no
 * row saying so would never be followed, nor its tar removed. */
static int submit_kept(struct miner *m, struct journal_row *r, struct miner_stats *st, struct kerr *jerr)
{
	struct kerr err = { { 0 }, { 0 } };
	char tar[FS_PATH_MAX];
	json_t *it = NULL;

	if (journal_path(&m->j, r->exp, "proof.tar", tar, sizeof tar, jerr) < 0)
		return -1;
	snprintf(r->status, sizeof r->status, "submitted");
	snprintf(r->desc, sizeof r->desc, "%s (public %.4f)", MINER_AWAITING, r->val_bpb);
	if (journal_record(&m->j, r, jerr) < 0)
		return -1;
	st->submitted++;
	crash_point("miner_before_submit");
	if (submit_follow(m, r->exp, tar, "proof", &it, &err) < 0) {
		if (transient(&err))
			still_awaiting(r, &err);
		else
			snprintf(r->desc, sizeof r->desc, "submit: %s: %s", err.code, err.msg);
		say("experiment %04d: %s: %s", r->exp, err.code, err.msg);
	} else {
		settle(m, r, it, st);
	}
	return journal_record(&m->j, r, jerr);
}

/* A miner killed while it waited for a verdict goes on following it: the
 * rows still awaiting one whose submission id was kept. One killed while
 * it sent the proof (no id yet) sends it again: the same bytes are the
 * same submission to the validator, which answers with its id. */
static int resume_pending(struct miner *m, struct miner_stats *st, struct kerr *err)
{
	for (size_t i = 0; i < m->j.n; i++) {
		struct journal_row r = m->j.rows[i];
		char idp[FS_PATH_MAX], tar[FS_PATH_MAX], held[FS_PATH_MAX], *id = NULL;
		size_t n;
		json_t *it = NULL;
		struct kerr ferr = { { 0 }, { 0 } };
		int rc;

		if (strcmp(r.status, "submitted") || strncmp(r.desc, MINER_AWAITING, strlen(MINER_AWAITING)) ||
		    journal_path(&m->j, r.exp, "proof-id", idp, sizeof idp, err) < 0 ||
		    journal_path(&m->j, r.exp, "proof.tar", tar, sizeof tar, err) < 0)
			continue;
		if (fs_exists(idp)) {
			if (fs_read_file(idp, 128, 0, &id, &n, &ferr) < 0)
				continue;
			say("experiment %04d: following submission %s, made before a restart", r.exp, id);
			rc = held_path(m, r.exp, "proof", held, sizeof held, &ferr);
			if (rc == 0)
				rc = follow(m, id, held, time(NULL) + (time_t)m->o->verdict_timeout_s, &it, &ferr);
		} else if (fs_exists(tar)) {
			say("experiment %04d: sending its proof again, proved before a restart", r.exp);
			rc = submit_follow(m, r.exp, tar, "proof", &it, &ferr);
		} else {
			continue;
		}
		if (rc == 0)
			settle(m, &r, it, st);
		else if (transient(&ferr))
			still_awaiting(&r, &ferr);
		else
			snprintf(r.desc, sizeof r.desc, "follow %s: %s: %s", id ? id : "(not sent)", ferr.code, ferr.msg);
		free(id);
		if (journal_record(&m->j, &r, err) < 0)
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------------ one experiment */

static int write_file(struct miner *m, int exp, const char *name, const char *text, size_t len, struct kerr *err)
{
	char path[FS_PATH_MAX];

	if (journal_path(&m->j, exp, name, path, sizeof path, err) < 0)
		return -1;
	return fs_write_atomic(path, text, len, err);
}

/* 1 when a run failed because this machine cannot set up the sandbox,
 * cannot build or start the runner at all, or was too busy to build it
 * (not the idea's fault: recorded as a crash, it would never be tried
 * again), with the error copied to err for the miner to stop on. */
static int sandbox_refused(const struct kerr *run, struct kerr *err)
{
	static const char *const codes[] = { "sandbox.unavailable",   "sandbox.setup",       "sandbox.config",
					     "sandbox.runner",        "sandbox.nomem",       "recipe.exec",
					     "recipe.no_build_tools", "recipe.no_cuda_tools", "recipe.build_slow" };

	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
		if (!strcmp(run->code, codes[i])) {
			*err = *run;
			return 1;
		}
	return 0;
}

/* Trains the checkout as patched, at the king's scale and seed. */
static int train_exp(struct miner *m, const char *dir, struct train_result *res, struct kerr *err)
{
	struct recipe_build_info bi;
	struct recipe_host h;
	struct runbox rb;
	struct train_opts to = { 0 };
	char out[FS_PATH_MAX], log[FS_PATH_MAX], keep[FS_PATH_MAX];
	double t0;
	int rc;

	/* at the gpu-* scales the trials run where the proof will: the CUDA
	 * part; confined as a proof is, since the patch is the proposer's */
	if (fs_join(out, sizeof out, err, "%s/run", dir) < 0 ||
	    (scale_on_gpu(m->k.scale) ? recipe_build_cuda(m->checkout, &bi, err) : recipe_build(m->checkout, &bi, err)) < 0)
		return -1;
	if (runbox_spawn(&rb, &bi, m->o->threads, m->o->no_sandbox ? RUNBOX_OFF : RUNBOX_ON, &h, err) < 0) {
		recipe_build_release(&bi);
		return -1;
	}
	to.data_dir = m->o->data;
	to.scale = m->k.scale;
	to.out_dir = out;
	to.seed = m->k.seed;
	to.threads = m->o->threads;
	to.progress = m->o->progress;
	to.final_only = 1; /* a trial, never a proof: no segments to bind */
	to.on_fail = runbox_explain;
	to.on_fail_arg = &rb;
	t0 = wall_s();
	rc = train_run(&to, &h, res, err); /* destroys h */
	m->st->train_s += wall_s() - t0;
	runbox_free(&rb);
	/* the miner builds a runner per experiment, for days: each pin goes
	 * once its run is over (the cache may then prune the runner) */
	recipe_build_release(&bi);
	if (fs_join(log, sizeof log, err, "%s/train.log", out) == 0 && fs_join(keep, sizeof keep, err, "%s/train.log", dir) == 0 &&
	    fs_exists(log))
		fs_copy_file(log, keep, err);
	fs_rm_rf(out); /* the final checkpoint: a proof makes its own */
	return rc;
}


/* A full run is a proof at the protocol seed: the same training the king's
 * rule compares, so a kept idea is submitted as it stands instead of being
 * trained a second time to prove it. A run that cannot be proved (over the
 * budget, say) could not have been submitted either: its crash row says
 * why. tokens_per_step: for the throughput column (0: unknown). */
static int full_proof(struct miner *m, struct journal_row *r, double tokens_per_step, struct kerr *err)
{
	struct prove_result pr;
	char tar[FS_PATH_MAX];

	if (prove_exp(m, r->exp, m->k.seed, "proof", tar, sizeof tar, &pr, err) < 0)
		return -1;
	r->val_bpb = pr.val_bpb;
	r->tok_per_s = tokens_per_step > 0 && pr.train_s > 0 ? tokens_per_step * (double)pr.steps / pr.train_s : NAN;
	return 0;
}

/* A full run: kept only when it beats the king's public val_bpb by the
 * validator's margin, then submitted. */
static int full_verdict(struct miner *m, struct journal_row *r, int baseline, const char *what, struct miner_stats *st,
			struct kerr *err)
{
	double kb = search_king_bpb(&m->j, &(struct search_king){ m->k.commit, &m->k.kv, m->k.public_bpb, m->k.margin, 0 });

	if (baseline)
		snprintf(r->status, sizeof r->status, "baseline");
	else
		snprintf(r->status, sizeof r->status, "%s", r->val_bpb < kb - m->k.margin ? "keep" : "discard");
	snprintf(r->desc, sizeof r->desc, "full run: %.4f against the king's public %.4f (margin %.4f)%s%s", r->val_bpb,
		 baseline ? r->val_bpb : kb, m->k.margin, *what ? "; " : "", what);
	say("experiment %04d: %s %.4f (king %.4f, margin %.4f)", r->exp, r->status, r->val_bpb, kb, m->k.margin);
	if (!strcmp(r->status, "keep")) {
		st->kept++;
		return submit_kept(m, r, st, err); /* recorded as submitted, not as keep first */
	}
	if (journal_record(&m->j, r, err) < 0)
		return -1;
	drop_proof(m, r->exp, "proof");
	return 0;
}

static int experiment(struct miner *m, const struct proposal *p, struct miner_stats *st, struct kerr *err)
{
	struct journal_row r;
	struct train_result res;
	struct kerr terr = { { 0 }, { 0 } };
	char dir[FS_PATH_MAX], rat[4096], tok[32], full[4608], *diff = NULL;
	size_t dlen;
	double base = NAN;
	int exp;

	memset(&r, 0, sizeof r);
	if (journal_begin(&m->j, &exp, dir, sizeof dir, err) < 0 || knob_reset(m->checkout, err) < 0)
		return -1;
	r.exp = exp;
	snprintf(r.commit, sizeof r.commit, "%s", m->k.commit);
	snprintf(r.rung, sizeof r.rung, "%s", p->rung);
	snprintf(r.point, sizeof r.point, "%s", p->point_s);
	r.val_bpb = r.tok_per_s = NAN;
	say("experiment %04d: %s run of %s (%s)", exp, p->rung, p->point_s, p->why);
	/* patch.diff: the idea (what a proof carries); short.diff: what a
	 * short run trains. The checkout is left patched for the run. */
	if (p->point.n) {
		if (knob_apply(m->checkout, m->k.scale, &p->point, &m->k.kv, &diff, &dlen, rat, sizeof rat, err) < 0 ||
		    write_file(m, exp, "patch.diff", diff, dlen, err) < 0 || knob_reset(m->checkout, err) < 0)
			goto fail;
		free(diff);
		diff = NULL;
	}
	if (knob_apply(m->checkout, m->k.scale, &p->run, &m->k.kv, &diff, &dlen, rat, sizeof rat, err) < 0 ||
	    (strcmp(p->rung, "full") && write_file(m, exp, "short.diff", diff, dlen, err) < 0))
		goto fail;
	free(diff);
	diff = NULL;
	knob_rationale(rat, sizeof rat, m->k.scale, &p->point, &m->k.kv);
	proposal_token(m->k.commit, p->point_s, tok);
	snprintf(full, sizeof full, "%s\nWhy now: %s.\n\nminer-proposal: %s\n",
		 p->point.n ? rat : "The king's own recipe, run as the search's baseline.\n", p->why, tok);
	if (write_file(m, exp, "rationale.md", full, strlen(full), err) < 0)
		goto fail;
	st->run++;
	if (!strcmp(p->rung, "full") && p->point.n) {
		double tps = knob_point_value(&p->point, &m->k.kv, KNOB_BATCH) * knob_point_value(&p->point, &m->k.kv, KNOB_CONTEXT);
		knob_reset(m->checkout, &terr);
		if (full_proof(m, &r, tps, &terr) < 0) {
			if (sandbox_refused(&terr, err))
				return -1;
			snprintf(r.status, sizeof r.status, "crash");
			snprintf(r.desc, sizeof r.desc, "prove: %s: %s", terr.code, terr.msg);
			st->crashed++;
			say("experiment %04d: crash: %s: %s", exp, terr.code, terr.msg);
			return journal_record(&m->j, &r, err);
		}
		return full_verdict(m, &r, 0, "", st, err);
	}
	if (train_exp(m, dir, &res, &terr) < 0) {
		if (sandbox_refused(&terr, err)) {
			knob_reset(m->checkout, &terr);
			return -1;
		}
		snprintf(r.status, sizeof r.status, "crash");
		snprintf(r.desc, sizeof r.desc, "train: %s: %s", terr.code, terr.msg);
		st->crashed++;
		say("experiment %04d: crash: %s: %s", exp, terr.code, terr.msg);
		knob_reset(m->checkout, &terr);
		return journal_record(&m->j, &r, err);
	}
	knob_reset(m->checkout, &terr);
	r.val_bpb = res.val.val_bpb;
	r.tok_per_s = res.train_ms > 0 ? (double)res.tokens / (res.train_ms / 1e3) : NAN;
	if (!strcmp(p->rung, "short")) {
		base = search_short_base(&m->j, m->k.commit);
		if (!p->point.n)
			snprintf(r.status, sizeof r.status, "baseline");
		else
			snprintf(r.status, sizeof r.status, "%s", r.val_bpb < base ? "keep" : "discard");
		snprintf(r.desc, sizeof r.desc, "short run (1/%d of the steps): %.4f against the king's %.4f; %s",
			 SEARCH_SHORT_DIV, r.val_bpb, p->point.n ? base : r.val_bpb, p->why);
		say("experiment %04d: %s %.4f", exp, r.status, r.val_bpb);
		return journal_record(&m->j, &r, err);
	}
	return full_verdict(m, &r, !p->point.n, "", st, err);
fail:
	/* A proposal that cannot be turned into a patch is that experiment's
	 * crash; the loop goes on. */
	free(diff);
	knob_reset(m->checkout, &terr);
	snprintf(r.status, sizeof r.status, "crash");
	snprintf(r.desc, sizeof r.desc, "patch: %s: %s", err->code, err->msg);
	st->crashed++;
	return journal_record(&m->j, &r, err);
}

/* ------------------------------------------------------------ agent */

/* The corpus entries an agent should read: the latest judged on this king. */
static json_t *corpus_related(struct miner *m)
{
	char u[MINER_URL_MAX];
	struct kerr err;
	json_t *o = NULL, *e, *out = json_array();
	long status;
	size_t i;

	if (client_url(u, sizeof u, m->o->validator, "/v1/corpus?limit=50", &err) < 0 ||
	    client_get_json(u, &m->co, &o, &status, &err) < 0)
		return out;
	json_array_foreach(json_object_get(o, "entries"), i, e)
	{
		if (!strcmp(jstr(e, "king_tag"), m->k.tag) && json_array_size(out) < 20)
			json_array_append(out, e);
	}
	json_decref(o);
	return out;
}

/* What an agent gets (docs/program.md, "The request"). */
static json_t *agent_request(struct miner *m)
{
	struct knob_point king = { 0 };
	json_t *rows = json_array(), *q;
	char *prog = NULL;
	size_t plen = 0;
	struct kerr err;

	for (size_t i = 0; i < m->j.n; i++) {
		const struct journal_row *r = &m->j.rows[i];
		json_array_append_new(rows, json_pack("{s:i, s:s, s:s, s:s, s:o, s:s, s:s}", "exp", r->exp, "commit", r->commit,
						      "rung", r->rung, "point", r->point, "val_bpb",
						      isfinite(r->val_bpb) ? json_real(r->val_bpb) : json_null(), "status",
						      r->status, "description", r->desc));
	}
	if (m->o->program && fs_read_file(m->o->program, 1u << 20, 0, &prog, &plen, &err) < 0)
		prog = NULL;
	q = json_pack("{s:s, s:{s:s, s:s, s:o, s:f}, s:s, s:{s:f, s:f, s:f, s:f}, s:s, s:o, s:o}", "checkout", m->checkout,
		      "king",
		      "tag", m->k.tag, "commit", m->k.commit, "public_bpb",
		      isfinite(m->k.public_bpb) ? json_real(m->k.public_bpb) : json_null(), "margin", m->k.margin, "scale",
		      m->k.scale, "budget", "units", m->k.kv.budget_units * knob_alpha(&m->k.kv), "flops",
		      knob_flops_cap(&m->k.kv), "alpha", knob_alpha(&m->k.kv), "king_flops", knob_point_flops(&king, &m->k.kv),
		      "instructions", prog ? prog : "see docs/program.md", "results", rows, "corpus", corpus_related(m));
	free(prog);
	return q;
}

/* One experiment from the agent: its diff, trained as a full run (an agent
 * decides its own screening), kept and proved like the search's. Anything
 * the agent gets wrong is this experiment's crash; the loop goes on. With
 * carried, the agent is not asked: that answer (an earlier king's best
 * diff, rebased) is the proposal. */
static int experiment_agent(struct miner *m, const struct agent_answer *carried, struct miner_stats *st,
			    struct kerr *err)
{
	struct journal_row r;
	struct agent_answer a = { 0 };
	struct kerr aerr = { { 0 }, { 0 } };
	char dir[FS_PATH_MAX], patch[FS_PATH_MAX], hex[HASH_HEX_BYTES], full[4096];
	const struct journal_row *prev;
	json_t *q;
	int exp, rc;

	memset(&r, 0, sizeof r);
	r.val_bpb = r.tok_per_s = NAN;
	snprintf(r.commit, sizeof r.commit, "%s", m->k.commit);
	snprintf(r.rung, sizeof r.rung, "full");
	if (knob_reset(m->checkout, err) < 0)
		return -1;
	if (carried) {
		rc = (a.diff = malloc(carried->diff_len + 1)) && (a.rationale = strdup(carried->rationale)) ? 0 : -1;
		if (rc == 0) {
			memcpy(a.diff, carried->diff, carried->diff_len + 1);
			a.diff_len = carried->diff_len;
			snprintf(a.desc, sizeof a.desc, "%s", carried->desc);
		} else {
			kerr_set(&aerr, "miner.nomem", "out of memory for a carried diff");
		}
	} else {
		q = agent_request(m);
		rc = agent_propose(m->o->agent, m->o->agent_timeout_s, q, &a, &aerr);
		json_decref(q);
	}
	if (knob_reset(m->checkout, err) < 0 || journal_begin(&m->j, &exp, dir, sizeof dir, err) < 0) {
		agent_answer_free(&a);
		return -1;
	}
	r.exp = exp;
	st->run++;
	if (rc < 0) {
		snprintf(r.point, sizeof r.point, "agent:none");
		goto crash;
	}
	hash_buf_hex(a.diff, a.diff_len, hex);
	snprintf(r.point, sizeof r.point, "agent:%.12s", hex);
	say("experiment %04d: agent proposal %s: %s", exp, r.point, a.desc);
	if ((prev = journal_find(&m->j, m->k.commit, "full", r.point))) {
		kerr_set(&aerr, "miner.agent_repeat", "the same diff as experiment %04d on this king", prev->exp);
		goto crash;
	}
	snprintf(full, sizeof full, "%s", a.rationale);
	if (write_file(m, exp, "patch.diff", a.diff, a.diff_len, &aerr) < 0 ||
	    write_file(m, exp, "rationale.md", full, strlen(full), &aerr) < 0 ||
	    journal_path(&m->j, exp, "patch.diff", patch, sizeof patch, &aerr) < 0)
		goto crash;
	{
		char abs[FS_PATH_MAX], why[KERR_MSG_MAX];
		const char *chk[] = { "apply", "--check", abs, NULL };
		if (!realpath(patch, abs)) {
			kerr_errno(&aerr, "miner.agent_patch", patch);
			goto crash;
		}
		if (git(m->checkout, chk, &aerr) < 0) {
			snprintf(why, sizeof why, "%s", aerr.msg);
			kerr_set(&aerr, "miner.agent_patch", "the diff does not apply to %s: %s", m->k.tag, why);
			goto crash;
		}
	}
	/* An agent may change the batch or the context: no throughput figure.
	 * A sandbox this machine cannot set up stops the miner here as in
	 * experiment(): recorded as the diff's crash, it would refuse the
	 * same diff for good (miner.agent_repeat) and idle the miner. */
	if (full_proof(m, &r, 0, &aerr) < 0) {
		if (sandbox_refused(&aerr, err)) {
			knob_reset(m->checkout, &aerr);
			agent_answer_free(&a);
			return -1;
		}
		goto crash;
	}
	rc = full_verdict(m, &r, 0, a.desc, st, err);
	agent_answer_free(&a);
	return rc;
crash:
	knob_reset(m->checkout, err);
	snprintf(r.status, sizeof r.status, "crash");
	snprintf(r.desc, sizeof r.desc, "agent: %s: %s", aerr.code, aerr.msg);
	say("experiment %04d: crash: %s: %s", exp, aerr.code, aerr.msg);
	st->crashed++;
	agent_answer_free(&a);
	return journal_record(&m->j, &r, err);
}

/* Rebase for the agent: the old king's best agent diff (a full run that
 * beat that king's public val_bpb and was not refused as invalid: a stale
 * one is exactly what a rebase is for) is tried first on the new king when it
 * still applies there. It does not apply when the new king is that very
 * diff, or when the new king changed the lines it touches: then it is
 * dropped and the agent, asked next, sees the new king. */
static int carry_worthy(const struct journal_row *r)
{
	/* A submission refused as invalid (replay, audit, harness) is not an
	 * idea to re-prove; one beaten by time or by the margin may be. */
	if (!strcmp(r->status, "submitted"))
		return strstr(r->desc, "judge.stale") || strstr(r->desc, "judge.not_decisive") ||
		       strstr(r->desc, "judge.challenge_failed");
	return !strcmp(r->status, "keep") || !strcmp(r->status, "discard");
}

static int agent_carry(struct miner *m, const char *old_commit, double old_public, struct miner_stats *st,
		       struct kerr *err)
{
	const struct journal_row *best = NULL;
	struct agent_answer a = { 0 };
	struct kerr why = { { 0 }, { 0 } };
	char patch[FS_PATH_MAX], abs[FS_PATH_MAX], rat[FS_PATH_MAX], point[sizeof best->point];
	size_t len;
	int rc = 0, exp;

	for (size_t i = 0; i < m->j.n; i++) {
		const struct journal_row *r = &m->j.rows[i];
		if (!strcmp(r->commit, old_commit) && !strcmp(r->rung, "full") && !strncmp(r->point, "agent:", 6) &&
		    carry_worthy(r) && isfinite(r->val_bpb) && r->val_bpb < old_public &&
		    (!best || r->val_bpb < best->val_bpb))
			best = r;
	}
	if (!best)
		return 0;
	/* The journal's rows may move once an experiment is recorded. */
	exp = best->exp;
	snprintf(point, sizeof point, "%s", best->point);
	snprintf(a.desc, sizeof a.desc, "rebased onto %s from experiment %04d: %.200s", m->k.tag, exp, best->desc);
	if (journal_find(&m->j, m->k.commit, "full", point)) {
		say("dropped %s: already run on the new king", point);
		return 0;
	}
	if (journal_path(&m->j, exp, "patch.diff", patch, sizeof patch, &why) < 0 ||
	    journal_path(&m->j, exp, "rationale.md", rat, sizeof rat, &why) < 0 ||
	    (!realpath(patch, abs) && kerr_errno(&why, "fs.open", patch)) ||
	    fs_read_all(abs, RECIPEREPO_PATCH_BYTES_MAX, &a.diff, &a.diff_len, &why) < 0 ||
	    fs_read_all(rat, MINER_RATIONALE_BYTES_MAX, &a.rationale, &len, &why) < 0) {
		say("dropped %s: its files are gone (%s)", point, why.msg);
		goto out;
	}
	{
		const char *chk[] = { "apply", "--check", abs, NULL };
		if (knob_reset(m->checkout, err) < 0) {
			rc = -1;
			goto out;
		}
		if (git(m->checkout, chk, &why) < 0) {
			say("dropped %s: it does not apply to %s (the new king has it, or changed what it touches)", point,
			    m->k.tag);
			goto out;
		}
	}
	say("experiment: %s, the old king's best agent diff, rebased onto %s", point, m->k.tag);
	rc = experiment_agent(m, &a, st, err);
out:
	agent_answer_free(&a);
	return rc;
}

/* ------------------------------------------------------------ the loop */

int miner_device_check(const char *scale, const char *proc_root, struct kerr *err)
{
	struct gpuinfo g;

	if (!scale_on_gpu(scale))
		return 0;
	if (gpuinfo_read(proc_root, &g, err) < 0)
		return -1;
	if (g.count == 0)
		return kerr_set(err, "miner.no_gpu",
				"the king is at the %.32s scale, whose trials and proofs train on a GPU, and this machine "
				"has no NVIDIA GPU (no driver in /proc/driver/nvidia): mine on a machine with one, or "
				"against a validator at a CPU scale",
				scale);
	say("scale %s: training on the GPU (%s, driver %s)", scale, g.model, g.driver);
	return 0;
}

int miner_run(const struct miner_opts *o, struct miner_stats *st, struct kerr *err)
{
	struct miner m;
	time_t t0 = time(NULL);
	struct knob_point carry = { 0 };
	char old_commit[48];
	double old_public;
	int rc = -1, changed, streak = 0, resumed = 0;
	size_t started_rows = 0; /* the journal's rows from earlier starts */

	memset(st, 0, sizeof *st);
	memset(&m, 0, sizeof m);
	m.o = o;
	m.st = st;
	client_opts_default(&m.co);
	{
		/* the key's public half names this miner to the validator on
		 * an upload's headers, so a full queue refuses before the body */
		struct keys k;

		if (keys_load(o->key, &k, err) < 0)
			return -1;
		memcpy(m.miner_hex, k.pk_hex, sizeof m.miner_hex);
		keys_wipe(&k);
		m.co.miner = m.miner_hex;
	}
	if (fs_mkdir_p(o->work, err) < 0 || fs_join(m.recipe, sizeof m.recipe, err, "%s/recipe", o->work) < 0 ||
	    fs_join(m.checkout, sizeof m.checkout, err, "%s/king", o->work) < 0 || journal_open(&m.j, o->work, err) < 0)
		return -1;
	if (m.j.n || m.j.dropped)
		say("resuming: %zu experiments recorded%s", m.j.n, m.j.dropped ? ", an interrupted one dropped" : "");
	started_rows = m.j.n;
	for (;;) {
		struct proposal p;
		struct search_king sk;
		double best_bpb;

		if ((o->experiments && st->run >= o->experiments) || (o->minutes > 0 && difftime(time(NULL), t0) > o->minutes * 60))
			break;
		if (m.k.commit[0])
			search_best(&m.j, &(struct search_king){ m.k.commit, &m.k.kv, m.k.public_bpb, m.k.margin, 0 }, &carry, &best_bpb);
		snprintf(old_commit, sizeof old_commit, "%s", m.k.commit);
		old_public = m.k.public_bpb;
		if (king_sync(&m, &changed, err) < 0)
			goto out;
		if (changed) {
			say("king %s (%.12s), scale %s, public val_bpb %.4f, margin %.4f", m.k.tag, m.k.commit, m.k.scale,
			    m.k.public_bpb, m.k.margin);
			if (miner_device_check(m.k.scale, NULL, err) < 0)
				goto out;
		}
		if (!resumed) {
			resumed = 1;
			if (resume_pending(&m, st, err) < 0)
				goto out;
		}
		sk = (struct search_king){ m.k.commit, &m.k.kv, m.k.public_bpb, m.k.margin, started_rows };
		/* Rebase: the old king's best idea, re-expressed on the new king,
		 * gets a full run first; dropped when the new king has no room for it. */
		if (changed && carry.n) {
			char s[256];
			struct kerr cerr = { { 0 }, { 0 } };
			struct knob_point rel = { 0 };
			/* Re-expressed against the new king: what it already has is no
			 * longer a change (the new king may be this very idea). */
			for (int i = 0; i < carry.n; i++)
				knob_point_with(&rel, &m.k.kv, carry.set[i].k, carry.set[i].v);
			knob_point_format(&carry, s, sizeof s);
			carry = rel;
			if (!carry.n) {
				say("dropped %s: the new king already has it", s);
				goto next;
			}
			knob_point_format(&carry, s, sizeof s);
			if (knob_point_check(&carry, &m.k.kv, &cerr) == 0 && !journal_find(&m.j, m.k.commit, "full", s)) {
				memset(&p, 0, sizeof p);
				p.point = p.run = carry;
				snprintf(p.rung, sizeof p.rung, "full");
				snprintf(p.point_s, sizeof p.point_s, "%s", s);
				snprintf(p.why, sizeof p.why, "rebased onto the new king from the old king's best");
				memset(&carry, 0, sizeof carry);
				if (experiment(&m, &p, st, err) < 0)
					goto out;
				continue;
			}
			say("dropped %s: %s", s, cerr.msg[0] ? cerr.msg : "already run on this king");
			memset(&carry, 0, sizeof carry);
		}
next:
		if (o->proposer && !strcmp(o->proposer, "agent")) {
			int crashed = st->crashed;
			/* An agent that keeps failing on this king (out of ideas, or
			 * broken) is asked again only once the king changes. */
			if (changed)
				streak = 0;
			if (changed && old_commit[0]) {
				int before = st->run;
				if (agent_carry(&m, old_commit, old_public, st, err) < 0)
					goto out;
				if (st->run > before)
					continue;
			}
			if (streak >= MINER_AGENT_STREAK) {
				if (streak++ == MINER_AGENT_STREAK)
					say("the agent failed %d times in a row on %s: waiting for a new king", MINER_AGENT_STREAK,
					    m.k.tag);
				sleep(MINER_IDLE_S);
				continue;
			}
			if (experiment_agent(&m, NULL, st, err) < 0)
				goto out;
			streak = st->crashed > crashed ? streak + 1 : 0;
			continue;
		}
		int next = search_next(o->seed, &m.j, &sk, corpus_skip, &m, &p);

		if (next < 0) {
			kerr_set(err, "miner.baseline_failed", "%s on %s", p.why, m.k.tag);
			goto out;
		}
		if (!next) {
			say("the search has no untried neighbour of its best point left");
			st->exhausted = 1;
			break;
		}
		if (experiment(&m, &p, st, err) < 0)
			goto out;
	}
	rc = 0;
out:
	journal_close(&m.j);
	return rc;
}
