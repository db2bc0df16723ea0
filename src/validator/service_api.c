/* service_api.c: the validator service's HTTP API, /v1 (docs/validator.md
 * lists every route with its replies). Owns the mapping from requests to
 * the state's owners (king.c, queue.c, expcorpus.c, ledger.c) and from
 * their reason codes to HTTP statuses. Handlers run on the HTTP server's
 * threads and take the state's lock for each read or write. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness/scale.h"
#include "net/client.h"
#include "proof/bundle.h"
#include "proof/prove.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/proc.h"
#include "judge/judge.h"
#include "validator/expcorpus.h"
#include "validator/heldwait.h"
#include "validator/king.h"
#include "validator/kingsample.h"
#include "validator/ledger.h"
#include "validator/lineage.h"
#include "validator/service_int.h"

#define SVC_LINEAGE_MAX 1024
#define SVC_RECENT_MAX 50
/* Miner keys a /v1/miners page holds at most (and by default): every key
 * ever seen would be an answer, and a walk under the lock, without end. */
#define SVC_MINERS_PAGE_MAX 1000

static json_t *num_or_null(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

/* The status a library failure maps to: the client's fault (4xx) for
 * anything about what it sent, 503 for a busy database, else 500. */
static int status_for(const struct kerr *e)
{
	if (!strncmp(e->code, "bundle.", 7) || !strncmp(e->code, "log.", 4) ||
	    !strncmp(e->code, "attest.", 7) || !strncmp(e->code, "tar.", 4))
		return 422;
	if (!strcmp(e->code, "judge.held_bad") || !strcmp(e->code, "service.held_digest"))
		return 422;
	if (!strcmp(e->code, "heldwait.not_asked") || !strcmp(e->code, "heldwait.closed") ||
	    !strcmp(e->code, "service.held_late"))
		return 409;
	if (!strcmp(e->code, "vstate.busy") || !strcmp(e->code, "heldwait.busy") || !strcmp(e->code, "queue.busy"))
		return 503;
	if (strstr(e->code, "not_found") || !strcmp(e->code, "vstate.no_king") ||
	    !strcmp(e->code, "lineage.no_model"))
		return 404;
	if (!strcmp(e->code, "expcorpus.bad_query") || !strcmp(e->code, "expcorpus.invalid") ||
	    !strcmp(e->code, "expcorpus.query_too_costly"))
		return 400;
	return 500;
}

static int reply_fail(struct http_req *rq, const struct kerr *e)
{
	return http_reply_kerr(rq, status_for(e), e);
}

/* The queue's room for one more submission from this request's address:
 * 0, 1 when the reply (the refusal) went out, -1 (err) when the count
 * failed. Fresh miner keys cost nothing, so the per-key cap alone would
 * let one client queue without end: the address and the whole queue are
 * capped too. The caller holds the lock. One that will wait for held
 * checkpoints (holds) meets the held waits' own caps too
 * (service_held_caps, a quarter of each queue cap by default): waits
 * nobody means to end (a held bundle re-signed at no cost, its
 * checkpoints never sent) could otherwise take the whole queue from
 * everyone. */
static int queue_room(struct svc *s, struct http_req *rq, int holds, struct kerr *err)
{
	struct queue_counts c;
	int held_max, held_addr_max;
	int total, mine;

	service_held_caps(&s->o, &held_max, &held_addr_max);
	if (queue_pending_counts(&s->vs, http_req_remote_group(rq), &c, err) < 0)
		return -1;
	total = c.total + c.held;
	mine = c.by_remote + c.held_by_remote;
	if (total >= s->o.max_queued || (holds && c.held >= held_max)) {
		http_reply_header(rq, "Retry-After", "60");
		if (total >= s->o.max_queued)
			http_reply_error(rq, 503, "service.queue_full",
					 "%d submissions are waiting (at most %d): retry once some are judged", total,
					 s->o.max_queued);
		else
			http_reply_error(rq, 503, "service.queue_full",
					 "%d submissions are waiting for held checkpoints (at most %d, --held-share of"
					 " the queue): retry once some have them",
					 c.held, held_max);
		return 1;
	}
	if (mine >= s->o.max_pending_per_address || (holds && c.held_by_remote >= held_addr_max)) {
		http_reply_header(rq, "Retry-After", "60");
		if (mine >= s->o.max_pending_per_address)
			http_reply_error(rq, 429, "service.address_queue_full",
					 "address %s has %d submissions waiting (at most %d): wait for verdicts",
					 http_req_remote_group(rq), mine, s->o.max_pending_per_address);
		else
			http_reply_error(rq, 429, "service.address_queue_full",
					 "address %s has %d submissions waiting for held checkpoints (at most %d,"
					 " --held-share of its cap): send them, or wait for those waits to end",
					 http_req_remote_group(rq), c.held_by_remote, held_addr_max);
		return 1;
	}
	return 0;
}

/* A key's room for one more submission: 0, 1 when the refusal went out,
 * -1 (err) when the count failed. how: where the key was read. The caller
 * holds the lock. */
static int miner_room(struct svc *s, struct http_req *rq, const char *miner, const char *how, struct kerr *err)
{
	int pending = 0;

	if (queue_pending_for(&s->vs, miner, &pending, err) < 0)
		return -1;
	if (pending < s->o.max_pending_per_miner)
		return 0;
	http_reply_header(rq, "Retry-After", "60");
	http_reply_error(rq, 429, "service.miner_queue_full",
			 "miner %.16s... (%s) has %d submissions waiting (at most %d): wait for verdicts", miner, how,
			 pending, s->o.max_pending_per_miner);
	return 1;
}

/* ------------------------------------------------------------- king */

static int get_king(struct http_req *rq, void *ctx)
{
	struct svc *s = ctx;
	struct vstate_king k;
	struct vstate_noise nf;
	struct kerr err = { 0 };
	const struct scale *sc;
	json_t *o, *noise = json_null();

	svc_lock(s);
	if (vstate_king_current(&s->vs, &k, &err) < 0 ||
	    king_noise_in_force(&s->vs, k.tag, &nf, &err) < 0) {
		svc_unlock(s);
		return reply_fail(rq, &err);
	}
	svc_unlock(s);
	if (nf.present)
		noise = json_pack("{s:f, s:f, s:i, s:s, s:s}", "margin", nf.margin, "sigma", nf.sigma,
				  "seeds", nf.seeds, "measured_on", nf.king_tag, "created_at", nf.created_at);
	sc = scale_find(s->vs.scale, &err);
	o = json_pack("{s:s, s:s, s:o, s:o, s:o, s:s, s:o, s:i, s:s}", "tag", k.tag, "commit", k.commit,
		      "hidden_bpb", num_or_null(k.hidden_bpb), "public_bpb", num_or_null(k.public_bpb),
		      "noise_floor", noise, "scale", s->vs.scale, "budget_s",
		      sc ? json_real(sc->budget_units) : json_null(), "seed", PROVE_SEED_DEFAULT,
		      "crowned_at", k.created_at);
	return http_reply_json(rq, 200, o);
}

static int get_lineage(struct http_req *rq, void *ctx)
{
	struct svc *s = ctx;
	struct vstate_king *k = calloc(SVC_LINEAGE_MAX, sizeof *k);
	struct kerr err = { 0 };
	size_t n = 0;
	json_t *a = json_array();

	if (!k || !a) {
		free(k);
		json_decref(a);
		return http_reply_error(rq, 500, "service.nomem", "out of memory");
	}
	svc_lock(s);
	if (vstate_kings(&s->vs, k, SVC_LINEAGE_MAX, &n, &err) < 0) {
		svc_unlock(s);
		free(k);
		json_decref(a);
		return reply_fail(rq, &err);
	}
	for (size_t i = 0; i < n; i++) {
		int have = 0;

		if (kingsample_have(&s->vs, k[i].tag, &have, &err) < 0) {
			svc_unlock(s);
			free(k);
			json_decref(a);
			return reply_fail(rq, &err);
		}
		json_array_append_new(
			a, json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:s, s:s, s:s, s:b}", "tag", k[i].tag, "commit",
				     k[i].commit, "hidden_bpb", num_or_null(k[i].hidden_bpb), "public_bpb",
				     num_or_null(k[i].public_bpb), "improvement", num_or_null(k[i].improvement),
				     "alpha", num_or_null(k[i].alpha), "submission", k[i].submission_id,
				     "miner", k[i].miner, "crowned_at", k[i].created_at, "sample", have));
	}
	svc_unlock(s);
	free(k);
	return http_reply_json(rq, 200, json_pack("{s:o}", "kings", a));
}

/* GET /v1/kings/TAG/model: the checkpoint that crowned king TAG, streamed
 * from the content store; its digest is the ETag, so a client can check
 * the bytes and a repeat costs a 304. */
static int king_model(struct http_req *rq, struct svc *s, const char *tag)
{
	char path[FS_PATH_MAX], digest[HASH_HEX_BYTES];
	struct kerr err = { 0 };

	svc_lock(s);
	if (lineage_model_path(&s->vs, tag, path, digest, &err) < 0) {
		svc_unlock(s);
		return reply_fail(rq, &err);
	}
	svc_unlock(s);
	return http_reply_file(rq, "application/octet-stream", path, digest);
}

/* GET /v1/kings/TAG/sample: the king's short sample, once the service has
 * made it (kingsample.h); until then why there is none: no such king, no
 * model, a model the store lacks, a failed attempt, or not made yet. */
static int king_sample(struct http_req *rq, struct svc *s, const char *tag)
{
	char path[FS_PATH_MAX], digest[HASH_HEX_BYTES];
	struct kerr err = { 0 };
	json_t *o = NULL;
	int failed;

	svc_lock(s);
	if (kingsample_get(&s->vs, tag, &o, &err) == 0) {
		svc_unlock(s);
		return http_reply_json(rq, 200, o);
	}
	if (strcmp(err.code, "kingsample.pending") || lineage_model_path(&s->vs, tag, path, digest, &err) < 0) {
		svc_unlock(s);
		return reply_fail(rq, &err);
	}
	failed = svc_sample_failed(s, tag);
	svc_unlock(s);
	if (failed)
		return http_reply_error(rq, 500, "kingsample.failed",
					"making the sample of king %s failed (the service's log says why); it is tried"
					" again when the service next starts",
					tag);
	http_reply_header(rq, "Retry-After", "10");
	return http_reply_error(rq, 404, "kingsample.pending",
				"king %s has no sample yet: the service makes one when no judgment is running", tag);
}

/* GET /v1/kings/TAG/model and /v1/kings/TAG/sample. */
static int get_king_part(struct http_req *rq, void *ctx)
{
	static const char *const parts[] = { "/model", "/sample" };
	const char *tail = http_req_tail(rq);
	size_t n = strlen(tail);
	char tag[RECIPEREPO_TAG_MAX];

	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
		size_t k = strlen(parts[i]);

		if (n <= k || n - k >= sizeof tag || strcmp(tail + n - k, parts[i]))
			continue;
		memcpy(tag, tail, n - k);
		tag[n - k] = '\0';
		return i == 0 ? king_model(rq, ctx, tag) : king_sample(rq, ctx, tag);
	}
	return http_reply_error(rq, 404, "http.not_found",
				"no route for %.200s (want /v1/kings/TAG/model or /v1/kings/TAG/sample)",
				http_req_path(rq));
}

/* ------------------------------------------------------- submissions */

static json_t *item_json(const struct queue_item *it)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:i}", "id", it->id, "state", it->state,
			      "sha256", it->sha256, "bytes", (json_int_t)it->bytes, "miner", it->miner,
			      "king_tag", it->king_tag, "received_at", it->received_at, "attempts",
			      it->attempts);

	if (!strcmp(it->state, "judging"))
		json_object_set_new(o, "check", json_string(it->check));
	if (!strcmp(it->state, "done")) {
		json_object_set_new(o, "verdict", json_string(it->verdict));
		json_object_set_new(o, "code", json_string(it->reason_code));
		json_object_set_new(o, "submission", json_string(it->submission_id));
		json_object_set_new(o, "finished_at", json_string(it->finished_at));
	}
	return o;
}

/* item_json with, for a submission whose judgment draws held checkpoints,
 * what the service asked its miner for: held.needs (name, bytes, sha256,
 * arrived), held.ready, held.asked_at. The caller holds the lock. */
static json_t *item_json_held(struct svc *s, const struct queue_item *it)
{
	json_t *o = item_json(it), *needs;
	struct heldwait w;
	struct kerr err = { 0 };
	int found = 0;
	char *text;

	if (heldwait_get(&s->vs, it->id, &w, &found, &err) < 0 || !found || !(text = heldwait_json(&w)))
		return o;
	needs = json_loads(text, 0, NULL);
	free(text);
	json_object_set_new(o, "held", json_pack("{s:o, s:b, s:s}", "needs", needs ? needs : json_array(), "ready",
						 w.ready, "asked_at", w.asked_at));
	return o;
}

/* The needs of a verified bundle whose miner holds checkpoints: the ones
 * this validator's draws start from, with the manifest's size and digest
 * (which verification held to the log). *n 0: none. */
static int held_needs(struct svc *s, const struct bundle_report *br, struct heldwait_need *need, int *n,
		      struct kerr *err)
{
	char names[JUDGE_HELD_NEEDS_MAX][BUNDLE_NAME_MAX + 1];
	const json_t *held = json_object_get(br->manifest, "held");

	*n = 0;
	if (judge_held_needs(&s->vs, br->manifest, names, n, err) < 0)
		return -1;
	for (int i = 0; i < *n; i++) {
		const json_t *e = json_object_get(held, names[i]);

		snprintf(need[i].name, sizeof need[i].name, "%s", names[i]);
		snprintf(need[i].sha256, sizeof need[i].sha256, "%s", json_string_value(json_object_get(e, "sha256")));
		need[i].bytes = (uint64_t)json_integer_value(json_object_get(e, "bytes"));
		need[i].arrived = 0;
	}
	return 0;
}

/* A bundle is acknowledged only once it has passed the safe tar reader
 * and its signature checks (bundle_verify) and its queue row is committed:
 * 202 then means it will be judged, whatever happens to this process. */
static int post_submission(struct http_req *rq, void *ctx)
{
	struct svc *s = ctx;
	struct bundle_report br;
	struct queue_item in, out;
	struct heldwait_need need[JUDGE_HELD_NEEDS_MAX];
	struct kerr err = { 0 };
	char dst[FS_PATH_MAX];
	const char *sha = http_req_upload_sha256(rq), *king;
	int existed = 0, nneed = 0, room;
	json_t *reply;

	memset(&in, 0, sizeof in);
	/* bytes already received were verified then: answer without the
	 * verification's cost (a client retrying an upload pays only transfer) */
	snprintf(in.id, sizeof in.id, "q-%.24s", sha);
	svc_lock(s);
	if (queue_get(&s->vs, in.id, &out, &err) == 0 && !strcmp(out.sha256, sha)) {
		reply = item_json_held(s, &out);
		svc_unlock(s);
		return http_reply_json(rq, 200, reply);
	}
	svc_unlock(s);
	kerr_clear(&err);
	memset(&br, 0, sizeof br);
	/* the check unpacks a copy beside the uploads: room claimed like an
	 * upload's, so that sixteen checks at once cannot fill the disk (or a
	 * memory-backed $TMPDIR) past the reserve */
	{
		uint64_t bytes = http_req_upload_bytes(rq);
		char why[320];
		int rc;

		if (http_disk_claim(s->http, bytes, why, sizeof why) < 0) {
			http_reply_header(rq, "Retry-After", "60");
			return http_reply_error(rq, 507, "http.disk_full", "checking the bundle needs a copy of it: %s",
						why);
		}
		rc = bundle_verify_at(http_req_upload_path(rq), s->store_tmp, &br, &err);
		http_disk_owe(s->http, -(int64_t)bytes);
		if (rc < 0) {
			bundle_report_free(&br);
			return reply_fail(rq, &err);
		}
	}
	snprintf(in.sha256, sizeof in.sha256, "%s", sha);
	snprintf(in.manifest_sha256, sizeof in.manifest_sha256, "%s", br.manifest_sha256);
	snprintf(in.miner, sizeof in.miner, "%s", br.miner);
	king = json_string_value(json_object_get(json_object_get(br.manifest, "king"), "tag"));
	if (!king || !*king || strlen(king) >= sizeof in.king_tag) {
		/* a queue row needs the king it is judged against: refused here,
		 * in the miner's terms, not as the enqueue's internal error */
		const char *how = !king ? "missing" : !*king ? "empty" : "too long";

		bundle_report_free(&br); /* king pointed into it */
		return http_reply_error(rq, 422, "service.bad_king_tag",
					"the manifest's king.tag is %s: a submission names the king it improves on "
					"(GET /v1/king) in at most %zu bytes",
					how, sizeof in.king_tag - 1);
	}
	snprintf(in.king_tag, sizeof in.king_tag, "%s", king);
	/* as the per-address caps count it (an IPv6 client's /64) */
	snprintf(in.remote, sizeof in.remote, "%s", http_req_remote_group(rq));
	in.bytes = http_req_upload_bytes(rq);
	if (held_needs(s, &br, need, &nneed, &err) < 0) {
		bundle_report_free(&br);
		return reply_fail(rq, &err);
	}
	bundle_report_free(&br);
	if (fs_join(dst, sizeof dst, &err, "%s/uploads/%s.tar", s->o.state_dir, sha) < 0)
		return reply_fail(rq, &err);
	snprintf(in.path, sizeof in.path, "%s", dst);

	svc_lock(s);
	if (queue_get(&s->vs, in.id, &out, &err) == 0) {
		reply = item_json_held(s, &out);
		svc_unlock(s);
		return http_reply_json(rq, 200, reply);
	}
	/* only a row known not to exist lets the take below (and its undo on
	 * a failed enqueue) near STATE/uploads/<sha256>.tar: a busy read could
	 * hide the row that names it */
	if (strcmp(err.code, "queue.not_found"))
		goto fail_locked;
	kerr_clear(&err);
	if ((room = queue_room(s, rq, nneed > 0, &err)) != 0) {
		svc_unlock(s);
		return room > 0 ? 0 : reply_fail(rq, &err);
	}
	if ((room = miner_room(s, rq, in.miner, "its signed manifest", &err)) != 0) {
		svc_unlock(s);
		return room > 0 ? 0 : reply_fail(rq, &err);
	}
	/* the file first, then the row: a row always names a file that exists;
	 * a row that is not written takes the file with it (no row can name
	 * it: its id is the file's digest, looked up above under this lock) */
	if (http_req_upload_take(rq, dst, &err) < 0 ||
	    queue_enqueue_held(&s->vs, &in, need, nneed, &out, &existed, &err) < 0) {
		if (unlink(dst) < 0 && errno != ENOENT)
			log_msg(LOG_WARN, "serve", "removing %s after a failed enqueue: %s", dst, strerror(errno));
		goto fail_locked;
	}
	reply = item_json_held(s, &out);
	svc_unlock(s);
	if (!existed)
		svc_event(s, "received", json_pack("{s:s, s:s, s:I, s:i}", "id", out.id, "miner", out.miner,
						   "bytes", (json_int_t)out.bytes, "held", nneed));
	return http_reply_json(rq, existed ? 200 : 202, reply);
fail_locked:
	svc_unlock(s);
	return reply_fail(rq, &err);
}

static int get_submission(struct http_req *rq, void *ctx)
{
	struct svc *s = ctx;
	struct queue_item it;
	struct expcorpus_entry e;
	struct kerr err = { 0 };
	json_t *o;

	svc_lock(s);
	if (queue_get(&s->vs, http_req_tail(rq), &it, &err) < 0) {
		svc_unlock(s);
		return reply_fail(rq, &err);
	}
	o = item_json_held(s, &it);
	if (!strcmp(it.state, "done") && it.submission_id[0]) {
		expcorpus_entry_blank(&e);
		if (expcorpus_get(&s->vs, it.submission_id, &e, &err) == 0)
			json_object_set_new(o, "judgment", expcorpus_entry_json(&e));
		expcorpus_entry_free(&e);
	}
	svc_unlock(s);
	return http_reply_json(rq, 200, o);
}

_Static_assert(JUDGE_HELD_NEEDS_MAX <= HELDWAIT_NEEDS_MAX, "a wait holds every need a judgment can have");

/* fsync of the folder holding path (path has a '/'). */
static int fsync_parent(const char *path, struct kerr *err)
{
	char parent[FS_PATH_MAX];
	char *slash;

	snprintf(parent, sizeof parent, "%s", path);
	if (!(slash = strrchr(parent, '/')))
		return 0;
	*slash = '\0';
	return fs_fsync_dir(parent, err);
}

/* The ID and NAME of POST /v1/submissions/ID/held/NAME; 0, or -1 when the
 * path is not one (no reply sent). */
static int held_target(struct http_req *rq, char id[QUEUE_ID_BYTES], const char **name)
{
	const char *tail = http_req_tail(rq), *slash = strchr(tail, '/');
	size_t idlen = slash ? (size_t)(slash - tail) : 0;

	if (!slash || idlen >= QUEUE_ID_BYTES || strncmp(slash, "/held/", 6) || !*(*name = slash + 6))
		return -1;
	memcpy(id, tail, idlen);
	id[idlen] = '\0';
	return 0;
}

/* Whether ID's wait takes NAME now, and these bytes: 0 with *nd the need
 * (it, w filled), an HTTP status with err set, or -1 (err set) when the
 * state could not be read. Before the body (complete 0) the bytes are the
 * announced Content-Length, when there is one; after it, the body's size
 * and SHA-256. The caller holds the lock. */
static int held_check(struct svc *s, struct http_req *rq, const char *id, const char *name, int complete,
		      struct queue_item *it, struct heldwait *w, const struct heldwait_need **nd, struct kerr *err)
{
	int64_t cl = http_req_content_length(rq);
	int found = 0;

	*nd = NULL;
	if (queue_get(&s->vs, id, it, err) < 0 || heldwait_get(&s->vs, id, w, &found, err) < 0)
		return -1;
	for (int i = 0; found && i < w->n; i++)
		if (!strcmp(w->need[i].name, name))
			*nd = &w->need[i];
	if (!found) {
		kerr_set(err, "heldwait.not_found", "submission %s waits for no held checkpoint", id);
		return 404;
	}
	if (!*nd) {
		kerr_set(err, "heldwait.not_asked", "submission %s was not asked for %.128s", id, name);
		return 409;
	}
	if (strcmp(it->state, "queued") || w->ready) {
		kerr_set(err, "service.held_late", "submission %s is %s%s: it waits for nothing now", id, it->state,
			 strcmp(it->state, "queued") ? "" : " with every held checkpoint in");
		return 409;
	}
	if (!complete && cl >= 0 && (uint64_t)cl != (*nd)->bytes) {
		kerr_set(err, "service.held_digest", "%s: a body of %lld bytes, the manifest holds %llu", name,
			 (long long)cl, (unsigned long long)(*nd)->bytes);
		return 422;
	}
	if (complete && (http_req_upload_bytes(rq) != (*nd)->bytes || strcmp(http_req_upload_sha256(rq), (*nd)->sha256))) {
		kerr_set(err, "service.held_digest",
			 "%s: %llu bytes with SHA-256 %.16s..., the manifest holds %llu bytes with %.16s...", name,
			 (unsigned long long)http_req_upload_bytes(rq), http_req_upload_sha256(rq),
			 (unsigned long long)(*nd)->bytes, (*nd)->sha256);
		return 422;
	}
	return 0;
}

/* Before the body of a held checkpoint: what held_check refuses on the
 * headers alone is refused before gigabytes arrive (a path that is not
 * one, a wait that ended, a name not asked for, a length that is not the
 * manifest's), and a name that already arrived is answered at once (its
 * first copy stands: the body would be dropped). */
static int precheck_held(struct http_req *rq, void *ctx)
{
	struct svc *s = ctx;
	struct queue_item it;
	struct heldwait w;
	const struct heldwait_need *nd;
	struct kerr err = { 0 };
	char id[QUEUE_ID_BYTES];
	const char *name;
	json_t *reply = NULL;
	int st;

	if (held_target(rq, id, &name) < 0)
		return http_reply_error(rq, 404, "http.not_found", "POST /v1/submissions/ID/held/NAME");
	svc_lock(s);
	st = held_check(s, rq, id, name, 0, &it, &w, &nd, &err);
	if (st == 0 && nd->arrived)
		reply = item_json_held(s, &it);
	svc_unlock(s);
	if (st < 0)
		return reply_fail(rq, &err);
	if (st > 0)
		return http_reply_kerr(rq, st, &err);
	return reply ? http_reply_json(rq, 200, reply) : 0;
}

/* POST /v1/submissions, on the headers: a full queue refuses before the
 * body is sent (post_submission counts again once it is in), and so does a
 * full key's, when the sender names its key in X-Karpa-Miner. That header
 * is a hint, not a claim: naming another key only gets the sender
 * refused, and the verified manifest's key is counted again. */
static int precheck_submission(struct http_req *rq, void *ctx)
{
	struct svc *s = ctx;
	struct kerr err = { 0 };
	const char *miner = http_req_header(rq, CLIENT_MINER_HEADER);
	int room;

	svc_lock(s);
	room = queue_room(s, rq, 0, &err);
	if (room == 0 && miner && hash_is_hex(miner, CLIENT_MINER_HEX))
		room = miner_room(s, rq, miner, "as " CLIENT_MINER_HEADER " says", &err);
	svc_unlock(s);
	return room < 0 ? reply_fail(rq, &err) : 0;
}

/* POST /v1/submissions/ID/held/NAME: a held checkpoint the service asked
 * ID's miner for. Its bytes are held to the entry (size and SHA-256, from
 * the verified manifest) before it is kept, beside the bundle's tar in
 * STATE/uploads/<sha256>.held/NAME; when the last one arrives the
 * submission is judged like any other. A name it did not ask for is 409,
 * other bytes 422 (the miner may send the right ones), a submission no
 * longer waiting (judged, or its wait expired) 409 service.held_late.
 * precheck_held refuses the same on the headers, before the body. */
static int post_held(struct http_req *rq, void *ctx)
{
	struct svc *s = ctx;
	const char *name = NULL;
	struct queue_item it;
	struct heldwait w;
	struct kerr err = { 0 };
	char id[QUEUE_ID_BYTES], dst[FS_PATH_MAX] = "", dir[FS_PATH_MAX], sub[FS_PATH_MAX];
	const struct heldwait_need *nd = NULL;
	int ready = 0, status;
	json_t *reply = NULL;

	if (held_target(rq, id, &name) < 0)
		return http_reply_error(rq, 404, "http.not_found", "POST /v1/submissions/ID/held/NAME");
	/* Read, checked, kept and recorded under the lock, which an expiry and
	 * a claim take too: a wait that ended gets no file, and no wait is
	 * recorded ready without its files in place. The rename is quick: the
	 * body is already on this filesystem. */
	svc_lock(s);
	if ((status = held_check(s, rq, id, name, 1, &it, &w, &nd, &err)) != 0)
		goto out;
	/* a name sent twice: the first copy stands, nothing changes */
	if (!nd->arrived) {
		if (svc_held_dir(it.path, dir, sizeof dir, &err) < 0 || fs_join(dst, sizeof dst, &err, "%s/%s", dir, name) < 0 ||
		    fs_join(sub, sizeof sub, &err, "%s/checkpoints", dir) < 0 || fs_mkdir_p(sub, &err) < 0 ||
		    fs_fsync_dir(dir, &err) < 0 || fsync_parent(dir, &err) < 0)
			goto out;
		if (http_req_upload_take(rq, dst, &err) < 0) {
			/* renamed in but not made durable: not recorded, not kept */
			if (unlink(dst) < 0 && errno != ENOENT)
				log_msg(LOG_WARN, "serve", "removing %s after a failed take: %s", dst, strerror(errno));
			goto out;
		}
		if (heldwait_arrived(&s->vs, id, name, &ready, &err) < 0) {
			unlink(dst); /* not recorded: not kept */
			goto out;
		}
	}
	if (queue_get(&s->vs, id, &it, &err) == 0)
		reply = item_json_held(s, &it);
out:
	svc_unlock(s);
	if (!reply)
		return status > 0 ? http_reply_kerr(rq, status, &err) : reply_fail(rq, &err);
	svc_event(s, "held", json_pack("{s:s, s:s, s:b}", "id", id, "name", name, "ready", ready));
	return http_reply_json(rq, 200, reply);
}

static int get_queue(struct http_req *rq, void *ctx)
{
	struct svc *s = ctx;
	struct queue_item *items = calloc(SVC_RECENT_MAX, sizeof *items);
	struct kerr err = { 0 };
	int n = 0, q = 0, j = 0, d = 0, w = 0;
	json_t *a = json_array();

	if (!items || !a) {
		free(items);
		json_decref(a);
		return http_reply_error(rq, 500, "service.nomem", "out of memory");
	}
	svc_lock(s);
	if (queue_depth(&s->vs, &q, &j, &d, &err) < 0 || heldwait_waiting(&s->vs, &w, &err) < 0 ||
	    queue_recent(&s->vs, items, SVC_RECENT_MAX, &n, &err) < 0) {
		svc_unlock(s);
		free(items);
		json_decref(a);
		return reply_fail(rq, &err);
	}
	/* a queued one says what it waits for (held, as GET
	 * /v1/submissions/ID has it): the dashboard shows it */
	for (int i = 0; i < n; i++)
		json_array_append_new(a, strcmp(items[i].state, "queued") ? item_json(&items[i])
									   : item_json_held(s, &items[i]));
	svc_unlock(s);
	free(items);
	/* held_waiting: queued ones still waiting for their miner's held
	 * checkpoints (docs/validator.md) */
	return http_reply_json(rq, 200, json_pack("{s:i, s:i, s:i, s:i, s:o}", "queued", q, "held_waiting", w, "judging",
						  j, "done", d, "recent", a));
}

/* ------------------------------------------------------------ corpus */

/* A query's ?limit= as a whole number in lo..hi, all of it digits: 1 and
 * *out, or 0 (atoi read "10abc" as 10 and overflowed on a long one). */
static int query_limit(const char *text, long lo, long hi, long *out)
{
	char *end;
	long v;

	if (!text || !*text || *text == '-' || *text == '+')
		return 0;
	errno = 0;
	v = strtol(text, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return 0;
	*out = v;
	return 1;
}

static int get_corpus(struct http_req *rq, void *ctx)
{
	struct svc *s = ctx;
	struct expcorpus_query q = { http_req_query(rq, "q"), http_req_query(rq, "verdict"),
				     http_req_query(rq, "since"), 0, 0 };
	struct expcorpus_hit *hits = NULL;
	struct kerr err = { 0 };
	const char *lim = http_req_query(rq, "limit");
	size_t n = 0;
	json_t *a;

	if (lim) {
		long v;
		if (!query_limit(lim, 1, 500, &v))
			return http_reply_error(rq, 400, "service.bad_query", "limit must be 1..500");
		q.limit = (int)v;
	}
	/* a page that searches twice at once (the dashboard's refresh and its
	 * search box) waits its turn; a queue of them does not hold workers
	 * for long: each search is bounded in steps, each wait in time */
	{
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += SVC_SEARCH_WAIT_S;
		if (pthread_mutex_timedlock(&s->search, &until)) {
			http_reply_header(rq, "Retry-After", "1");
			return http_reply_error(rq, 503, "service.busy", "corpus searches are queued past %d s; retry after 1 s",
						SVC_SEARCH_WAIT_S);
		}
	}
	if (expcorpus_search(&s->search_vs, &q, &hits, &n, &err) < 0) {
		pthread_mutex_unlock(&s->search);
		return reply_fail(rq, &err);
	}
	pthread_mutex_unlock(&s->search);
	a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(
			a, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:s}", "id", hits[i].id, "verdict",
				     hits[i].verdict, "code", hits[i].reason_code, "miner", hits[i].miner,
				     "king_tag", hits[i].king_tag, "received_at", hits[i].received_at,
				     "hidden_bpb", num_or_null(hits[i].hidden_bpb), "judge_cpu_s",
				     num_or_null(hits[i].judge_cpu_s), "snippet", hits[i].snippet));
	free(hits);
	return http_reply_json(rq, 200, json_pack("{s:o}", "entries", a));
}

static int get_corpus_entry(struct http_req *rq, void *ctx)
{
	struct svc *s = ctx;
	struct expcorpus_entry e;
	struct kerr err = { 0 };
	json_t *o;

	expcorpus_entry_blank(&e);
	svc_lock(s);
	if (expcorpus_get(&s->vs, http_req_tail(rq), &e, &err) < 0) {
		svc_unlock(s);
		expcorpus_entry_free(&e);
		return reply_fail(rq, &err);
	}
	svc_unlock(s);
	o = expcorpus_entry_json(&e);
	expcorpus_entry_free(&e);
	return o ? http_reply_json(rq, 200, o) : http_reply_error(rq, 500, "service.nomem", "out of memory");
}

/* ----------------------------------------------------- weights, miners */

static int get_weights(struct http_req *rq, void *ctx)
{
	struct svc *s = ctx;
	const char *ep = http_req_query(rq, "epoch");
	long long epoch = 0;
	struct kerr err = { 0 };
	json_t *a = NULL;

	svc_lock(s);
	if (ep) {
		char *end;
		epoch = strtoll(ep, &end, 10);
		if (*end || epoch < 1) {
			svc_unlock(s);
			return http_reply_error(rq, 400, "service.bad_query", "epoch must be a number >= 1");
		}
	} else if (ledger_last_epoch(&s->vs, &epoch, &err) < 0) {
		svc_unlock(s);
		return reply_fail(rq, &err);
	}
	if (epoch == 0) {
		svc_unlock(s);
		return http_reply_json(rq, 200, json_pack("{s:I, s:[]}", "epoch", (json_int_t)0, "entries"));
	}
	if (ledger_export(&s->vs, epoch, &a, &err) < 0) {
		svc_unlock(s);
		return reply_fail(rq, &err);
	}
	svc_unlock(s);
	if (json_array_size(a) != 1) {
		json_decref(a);
		return http_reply_error(rq, 404, "service.not_found", "no epoch %lld in the ledger", epoch);
	}
	{
		json_t *one = json_incref(json_array_get(a, 0));
		json_decref(a);
		return http_reply_json(rq, 200, one);
	}
}

/* Per miner key: what the corpus counts (judged submissions, kings, the
 * judge's CPU) and held_missing, the submissions rejected without a
 * judgment because their held checkpoints never came, from the queue
 * (queue_ended_by_miner). Both lists are by key: one merge. A page holds
 * the keys after ?after=, at most ?limit= (1..SVC_MINERS_PAGE_MAX, the
 * default); "next" is the ?after= of the next page, null on the last. A
 * list cut at the limit may hold keys below a later one of the other list,
 * so the page ends at the smaller of the two cut lists' last keys. */
static int get_miners(struct http_req *rq, void *ctx)
{
	struct svc *s = ctx;
	struct expcorpus_miner *m = NULL;
	struct queue_miner_count *h = NULL;
	struct kerr err = { 0 };
	const char *after = http_req_query(rq, "after"), *lim = http_req_query(rq, "limit"), *bound = NULL;
	char last[KEYS_PK_HEX_BYTES] = "";
	size_t n = 0, nh = 0, i = 0, k = 0, limit = SVC_MINERS_PAGE_MAX, shown = 0;
	json_t *a;

	if (lim) {
		long v;
		if (!query_limit(lim, 1, SVC_MINERS_PAGE_MAX, &v))
			return http_reply_error(rq, 400, "service.bad_query", "limit must be 1..%d", SVC_MINERS_PAGE_MAX);
		limit = (size_t)v;
	}
	if (after && strlen(after) >= KEYS_PK_HEX_BYTES)
		return http_reply_error(rq, 400, "service.bad_query", "after must be a miner key");
	svc_lock(s);
	if (expcorpus_miners(&s->vs, after, limit, &m, &n, &err) < 0 ||
	    queue_ended_by_miner(&s->vs, "service.held_missing", after, limit, &h, &nh, &err) < 0) {
		svc_unlock(s);
		free(m);
		return reply_fail(rq, &err);
	}
	svc_unlock(s);
	if (n == limit)
		bound = m[n - 1].miner;
	if (nh == limit && (!bound || strcmp(h[nh - 1].miner, bound) < 0))
		bound = h[nh - 1].miner;
	a = json_array();
	while ((i < n || k < nh) && shown < limit) {
		int c = i == n ? 1 : k == nh ? -1 : strcmp(m[i].miner, h[k].miner);
		long long missing = c >= 0 ? h[k].n : 0;

		if (bound && strcmp(c > 0 ? h[k].miner : m[i].miner, bound) > 0)
			break;
		snprintf(last, sizeof last, "%s", c > 0 ? h[k].miner : m[i].miner);
		shown++;

		if (c > 0) /* never judged: only refused */
			json_array_append_new(a, json_pack("{s:s, s:I, s:I, s:f, s:s, s:I}", "miner", h[k].miner,
							   "submissions", (json_int_t)0, "kings", (json_int_t)0,
							   "judge_cpu_s", 0.0, "last_at", h[k].last_at, "held_missing",
							   (json_int_t)missing));
		else
			json_array_append_new(
				a, json_pack("{s:s, s:I, s:I, s:f, s:s, s:I}", "miner", m[i].miner, "submissions",
					     (json_int_t)m[i].submissions, "kings", (json_int_t)m[i].kings,
					     "judge_cpu_s", m[i].judge_cpu_s, "last_at",
					     c == 0 && strcmp(h[k].last_at, m[i].last_at) > 0 ? h[k].last_at : m[i].last_at,
					     "held_missing", (json_int_t)missing));
		i += c <= 0;
		k += c >= 0;
	}
	free(m);
	free(h);
	/* more may follow when a list was cut, or the page was */
	return http_reply_json(rq, 200, json_pack("{s:o, s:o}", "miners", a, "next",
						  bound || i < n || k < nh ? json_string(last) : json_null()));
}

/* ---------------------------------------------------- recipe, events */

/* Makes the cached bundle at path (from its tmp) unless it is there:
 * one at a time (s->bundle). A fetch that finds one being made gets 503
 * service.busy at once (the client retries): waiting, each such fetch
 * held a worker thread, and all its connections, for as long as git took.
 * Returns the HTTP status to fail with, or 0. */
static int make_recipe_bundle(struct svc *s, const char *path, const char *tmp, struct kerr *err)
{
	struct proc_result pr;
	int status = 0;

	if (pthread_mutex_trylock(&s->bundle)) {
		kerr_set(err, "service.busy", "the recipe bundle of the new king is being made; retry in a few seconds");
		return 503;
	}
	if (fs_exists(path))
		goto out;
	{
		/* the branch and HEAD too, so a clone of the bundle checks out
		 * the newest merge on its branch instead of warning that the
		 * bundle has no HEAD */
		const char *argv[] = { "git", "-C", s->vs.recipe, "bundle", "create", "-q", tmp,
				       "--tags=recipe-v*", "--branches", "HEAD", NULL };
		if (proc_run(argv, NULL, &pr, err) < 0 || pr.exit_code != 0) {
			if (!err->code[0])
				kerr_set(err, "service.git", "git bundle create failed: %.200s", pr.err ? pr.err : "");
			proc_result_free(&pr);
			unlink(tmp);
			status = 500;
			goto out;
		}
	}
	proc_result_free(&pr);
	/* git does not fsync what it writes; a cached bundle that a crash
	 * left empty would be served, under the king's ETag, for good */
	if (fs_fsync_path(tmp, err) < 0 || rename(tmp, path) < 0 || fs_fsync_dir(s->work, err) < 0) {
		if (!err->code[0])
			kerr_errno(err, "service.io", path);
		unlink(tmp);
		status = 500;
	} else {
		log_msg(LOG_NOTICE, "serve", "made the recipe bundle of king commit %.12s", strrchr(path, '-') + 1);
	}
out:
	pthread_mutex_unlock(&s->bundle);
	return status;
}

/* The canonical recipe repository as a git bundle of every recipe-v* tag
 * (with the branch and HEAD), made once per king (cached under its
 * commit) so repeated fetches cost a file read; the king's commit is the
 * ETag. */
static int get_recipe_bundle(struct http_req *rq, void *ctx)
{
	struct svc *s = ctx;
	struct vstate_king k;
	struct kerr err = { 0 };
	char path[FS_PATH_MAX], tmp[FS_PATH_MAX], etag[RECIPEREPO_COMMIT_HEX + 2];
	int status;

	svc_lock(s);
	if (vstate_king_current(&s->vs, &k, &err) < 0) {
		svc_unlock(s);
		return reply_fail(rq, &err);
	}
	svc_unlock(s);
	if (fs_join(path, sizeof path, &err, "%s/recipe-%s.bundle", s->work, k.commit) < 0 ||
	    fs_join(tmp, sizeof tmp, &err, "%s.%d.tmp", path, (int)gettid()) < 0)
		return reply_fail(rq, &err);
	if (!fs_exists(path) && (status = make_recipe_bundle(s, path, tmp, &err))) {
		if (status == 503)
			http_reply_header(rq, "Retry-After", "2");
		return http_reply_kerr(rq, status, &err);
	}
	snprintf(etag, sizeof etag, "\"%s\"", k.commit);
	return http_reply_file(rq, "application/x-git-bundle", path, etag);
}

static int get_events(struct http_req *rq, void *ctx)
{
	struct svc *s = ctx;

	return http_reply_sse(rq, s->events);
}

/* ----------------------------------------------------------- metrics */

static int get_metrics(struct http_req *rq, void *ctx)
{
	struct svc *s = ctx;
	long long counts[EXPCORPUS_VERDICTS];
	struct http_stats hs;
	struct kerr err = { 0 };
	int q = 0, j = 0, d = 0;
	size_t len = 0;
	double cpu = 0;
	char *buf;
	FILE *f;

	svc_lock(s);
	if (queue_depth(&s->vs, &q, &j, &d, &err) < 0 || expcorpus_counts(&s->vs, counts, NULL, &err) < 0 ||
	    expcorpus_judge_cpu_s(&s->vs, &cpu, &err) < 0) {
		svc_unlock(s);
		return reply_fail(rq, &err);
	}
	svc_unlock(s);
	http_stats(s->http, &hs);
	if (!(f = open_memstream(&buf, &len)))
		return http_reply_error(rq, 500, "service.nomem", "out of memory");
	fprintf(f, "# HELP karpa_queue_depth Submissions by queue state.\n# TYPE karpa_queue_depth gauge\n");
	fprintf(f, "karpa_queue_depth{state=\"queued\"} %d\nkarpa_queue_depth{state=\"judging\"} %d\n"
		   "karpa_queue_depth{state=\"done\"} %d\n", q, j, d);
	fprintf(f, "# HELP karpa_judgments_total Recorded verdicts.\n# TYPE karpa_judgments_total counter\n");
	for (int i = 0; i < EXPCORPUS_VERDICTS; i++)
		fprintf(f, "karpa_judgments_total{verdict=\"%s\"} %lld\n", expcorpus_verdicts[i], counts[i]);
	fprintf(f, "# HELP karpa_judge_cpu_seconds_total CPU seconds the recorded judgments took.\n"
		   "# TYPE karpa_judge_cpu_seconds_total counter\nkarpa_judge_cpu_seconds_total %.3f\n", cpu);
	fprintf(f, "# HELP karpa_uploads_in_flight Uploads being received.\n# TYPE karpa_uploads_in_flight gauge\n"
		   "karpa_uploads_in_flight %" PRIu64 "\n", hs.uploads_in_flight);
	fprintf(f, "# HELP karpa_disk_owed_bytes Disk room spoken for by uploads in flight and judgments' copies of bundles.\n"
		   "# TYPE karpa_disk_owed_bytes gauge\nkarpa_disk_owed_bytes %" PRIu64 "\n", hs.upload_owed);
	fprintf(f, "# HELP karpa_received_bytes_total Request body bytes received.\n"
		   "# TYPE karpa_received_bytes_total counter\nkarpa_received_bytes_total %" PRIu64 "\n",
		hs.bytes_received);
	fprintf(f, "# HELP karpa_http_requests_total Requests served.\n# TYPE karpa_http_requests_total counter\n"
		   "karpa_http_requests_total %" PRIu64 "\n", hs.requests);
	fprintf(f, "# HELP karpa_http_rejected_total Requests refused by a limit.\n"
		   "# TYPE karpa_http_rejected_total counter\n"
		   "karpa_http_rejected_total{limit=\"rate\"} %" PRIu64 "\n"
		   "karpa_http_rejected_total{limit=\"size\"} %" PRIu64 "\n"
		   "karpa_http_rejected_total{limit=\"disk\"} %" PRIu64 "\n"
		   "karpa_http_rejected_total{limit=\"slow\"} %" PRIu64 "\n"
		   "karpa_http_rejected_total{limit=\"cut\"} %" PRIu64 "\n", hs.rejected_rate, hs.rejected_size,
		hs.rejected_disk, hs.rejected_slow, hs.rejected_cut);
	fprintf(f, "# HELP karpa_uploads_cut_total Uploads that ended unfinished, charged to their address.\n"
		   "# TYPE karpa_uploads_cut_total counter\nkarpa_uploads_cut_total %" PRIu64 "\n", hs.uploads_cut);
	fprintf(f, "# HELP karpa_events_clients Open event streams.\n# TYPE karpa_events_clients gauge\n"
		   "karpa_events_clients %zu\n", http_sse_clients(s->events));
	fprintf(f, "# HELP karpa_uptime_seconds Seconds since the service started.\n"
		   "# TYPE karpa_uptime_seconds gauge\nkarpa_uptime_seconds %lld\n",
		(long long)(time(NULL) - s->started));
	if (s->chain)
		chainsink_metrics(s->chain, f);
	fclose(f);
	{
		int rc = http_reply_bytes(rq, 200, "text/plain; version=0.0.4", buf, len);
		free(buf);
		return rc;
	}
}

const struct http_route svc_routes[] = {
	{ "GET", "/", 0, 0, svc_get_dashboard, NULL },
	{ "GET", "/v1/king", 0, 0, get_king, NULL },
	{ "GET", "/v1/lineage", 0, 0, get_lineage, NULL },
	{ "GET", "/v1/kings", 1, 0, get_king_part, NULL },
	{ "GET", "/v1/recipe.bundle", 0, 0, get_recipe_bundle, NULL },
	{ "POST", "/v1/submissions", 0, 1, post_submission, precheck_submission },
	/* quick: a held checkpoint waits on no bundle's verification while
	 * its wait's clock runs */
	{ "POST", "/v1/submissions", 1, HTTP_UPLOAD_QUICK, post_held, precheck_held },
	{ "GET", "/v1/submissions", 1, 0, get_submission, NULL },
	{ "GET", "/v1/queue", 0, 0, get_queue, NULL },
	{ "GET", "/v1/corpus", 0, 0, get_corpus, NULL },
	{ "GET", "/v1/corpus", 1, 0, get_corpus_entry, NULL },
	{ "GET", "/v1/weights", 0, 0, get_weights, NULL },
	{ "GET", "/v1/miners", 0, 0, get_miners, NULL },
	{ "GET", "/v1/events", 0, 0, get_events, NULL },
	{ "GET", "/metrics", 0, 0, get_metrics, NULL },
};
const size_t svc_nroutes = sizeof svc_routes / sizeof svc_routes[0];
