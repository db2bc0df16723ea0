/* heldwait.h: a queued submission's wait for the checkpoints its miner
 * holds (docs/bundle.md, "Held checkpoints"; docs/validator.md). Owns the
 * held_wait table of the state database (vstate.c, schema version 3): one
 * row per submission whose judgment draws held checkpoints, listing what
 * the service asked for (name, size, digest, whether it arrived) and
 * whether all arrived. queue_claim does not hand out a row whose wait is
 * not ready; heldwait_expire ends a wait that outlived its deadline with a
 * rejection (service.held_missing). The files lie in
 * STATE/uploads/<tar sha256>.held/<name>; the service moves each there
 * once its bytes were checked against the entry. Each change is one
 * transaction. */
#ifndef KARPA_HELDWAIT_H
#define KARPA_HELDWAIT_H

#include <stdint.h>

#include "proof/bundle.h"
#include "util/hash.h"
#include "util/kerr.h"
#include "validator/queue.h"
#include "validator/vstate.h"

/* A wait's entries: a judgment asks for at most JUDGE_HELD_NEEDS_MAX
 * (service_api.c asserts it fits). */
#define HELDWAIT_NEEDS_MAX 4

struct heldwait_need {
	char name[BUNDLE_NAME_MAX + 1];
	uint64_t bytes;
	char sha256[HASH_HEX_BYTES];
	int arrived;
};

struct heldwait {
	char queue_id[QUEUE_ID_BYTES];
	char asked_at[VSTATE_TIME_BYTES];
	int ready; /* every need arrived */
	int n;
	struct heldwait_need need[HELDWAIT_NEEDS_MAX];
};

/* Errors: heldwait.db, heldwait.busy (as queue.*), heldwait.not_found (no
 * wait for that submission), heldwait.not_asked (a name it did not ask
 * for), heldwait.closed, heldwait.corrupt (a row this file did not write). */

/* The entries as the JSON the table keeps (and GET /v1/submissions/ID
 * shows): [{"name", "bytes", "sha256", "arrived"}]. NULL: out of memory. */
char *heldwait_json(const struct heldwait *w);

/* Adds the wait of queue row queue_id with needs (n of them, none arrived)
 * inside the caller's transaction: queue_enqueue's, so that no row is ever
 * claimable before its wait exists. */
int heldwait_insert_locked(struct vstate *s, const char *queue_id, const struct heldwait_need *needs, int n,
			   struct kerr *err);

/* The wait of queue_id; *found 0 when it has none. */
int heldwait_get(struct vstate *s, const char *queue_id, struct heldwait *out, int *found, struct kerr *err);

/* Need `name` of queue_id's wait arrived (the caller checked its bytes
 * against the entry and keeps the file once this succeeds); *ready is 1
 * once every need has. heldwait.not_found, heldwait.not_asked,
 * heldwait.closed (the row is no longer queued, or every need is in). */
int heldwait_arrived(struct vstate *s, const char *queue_id, const char *name, int *ready, struct kerr *err);

/* Every wait not ready that was asked, or last had a checkpoint arrive
 * (heldwait_arrived starts the clock again), more than max_age_s ago,
 * while its row is still queued: the row becomes done, verdict rejected, code
 * service.held_missing (the miner did not hand over what the validator's
 * draws need; nothing was judged). Up to cap of their ids in ids, the
 * count in *n. */
int heldwait_expire(struct vstate *s, double max_age_s, char ids[][QUEUE_ID_BYTES], int cap, int *n,
		    struct kerr *err);

/* A judgment of queue_id (a judging row) stopped for held checkpoints it
 * draws and the wait did not have (judge.held_needed: the judge's draws
 * changed since the upload, or a file went missing): the wait is asked
 * again, needs (n) added to it or marked not arrived, not ready, asked
 * now, and the row queued again, in one transaction. heldwait.not_asked
 * when the merged wait would pass HELDWAIT_NEEDS_MAX; queue.* as
 * queue_requeue. */
int heldwait_reask(struct vstate *s, const char *queue_id, const struct heldwait_need *needs, int n,
		   struct kerr *err);

/* Queued submissions still waiting for held checkpoints (GET /v1/queue,
 * `karpa status`). */
int heldwait_waiting(struct vstate *s, int *n, struct kerr *err);

/* At a service's start: every wait not ready is moved later by the time
 * the service was down (since alive_at, the last time it said it was up;
 * NULL or "": not moved), so that a validator that was down does not end
 * the waits of miners who could not reach it, and one that restarts often
 * still ends them. */
int heldwait_restart(struct vstate *s, const char *alive_at, struct kerr *err);

#endif
