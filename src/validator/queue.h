/* queue.h: the validator service's durable judging queue (a table in the
 * state database, vstate.h). Owns the life of an acknowledged submission:
 * queued -> judging -> done, exactly once. A row is committed before the
 * service answers 202, so an acknowledged submission survives any crash;
 * a row left 'judging' by a crash is settled on start (queue_recover):
 * finished if its verdict reached the corpus, queued again (judged from
 * the start) if not. Nothing here judges: the service's workers do. */
#ifndef KARPA_QUEUE_H
#define KARPA_QUEUE_H

#include <stdint.h>

#include "proof/keys.h"
#include "proof/reciperepo.h"
#include "util/hash.h"
#include "util/kerr.h"
#include "validator/vstate.h"

/* "q-" + the first 24 hex of the tar's SHA-256 + NUL */
#define QUEUE_ID_BYTES (2 + 24 + 1)
#define QUEUE_STATE_MAX 16
#define QUEUE_CHECK_MAX 32
#define QUEUE_VERDICT_MAX 32

struct queue_item {
	long long seq;
	char id[QUEUE_ID_BYTES];
	char sha256[HASH_HEX_BYTES];          /* of the uploaded tar */
	char manifest_sha256[HASH_HEX_BYTES]; /* of the bundle's manifest: links to the corpus */
	uint64_t bytes;
	char miner[KEYS_PK_HEX_BYTES];
	char king_tag[RECIPEREPO_TAG_MAX];    /* the king the patch is based on */
	char path[FS_PATH_MAX];               /* the tar in the content store */
	char remote[64];                      /* the client's address (an IPv6 client's /64: http_req_remote_group) */
	char state[QUEUE_STATE_MAX];          /* queued | judging | done */
	int attempts;
	long long worker_pid;
	char check[QUEUE_CHECK_MAX];          /* the check a judging row is at */
	char received_at[VSTATE_TIME_BYTES], started_at[VSTATE_TIME_BYTES],
		finished_at[VSTATE_TIME_BYTES];
	char submission_id[VSTATE_ID_BYTES];  /* the corpus id once judged */
	char verdict[QUEUE_VERDICT_MAX];      /* once done */
	char reason_code[KERR_CODE_MAX];
};

/* Errors: queue.db (SQLite), queue.busy (another process held the database
 * past VSTATE_BUSY_TIMEOUT_MS; retry), queue.bad_item (a field handed in is
 * malformed), queue.not_found, queue.not_judging (the row is not in the
 * state the call needs), queue.corrupt (a row this file did not write). */

/* Creates the queue's table when the state has none (states made before
 * the service existed; vstate_open's migration does the same); idempotent.
 * queue.db */
int queue_ensure(struct vstate *s, struct kerr *err);

/* Adds an item (id, seq, state, attempts and times are set here) in one
 * transaction, unless a row with the same sha256 exists: then *out is that
 * row and *existed is 1. queue.db */
int queue_enqueue(struct vstate *s, const struct queue_item *in, struct queue_item *out,
		  int *existed, struct kerr *err);
/* queue_enqueue of a bundle whose judgment draws nheld held checkpoints
 * (heldwait.h): its wait is added in the same transaction, and the row is
 * not claimed until they all arrived. */
struct heldwait_need;
int queue_enqueue_held(struct vstate *s, const struct queue_item *in, const struct heldwait_need *held, int nheld,
		       struct queue_item *out, int *existed, struct kerr *err);
/* Items of a miner that are queued or judging (the per-miner cap). */
int queue_pending_for(struct vstate *s, const char *miner, int *n, struct kerr *err);
/* Items queued or judging, the caps a flood of fresh miner keys meets:
 * total and by_remote, those that are judged or can be; held and
 * held_by_remote, those waiting for held checkpoints their miner has not
 * sent (a held wait not ready), which take no judge's time and are capped
 * apart. by_remote: of them, those received from remote (the client
 * address a row records; NULL: not counted, 0). One consistent read. */
struct queue_counts {
	int total, by_remote, held, held_by_remote;
};
int queue_pending_counts(struct vstate *s, const char *remote, struct queue_counts *c, struct kerr *err);
/* The oldest queued item (not waiting for held checkpoints) becomes judging (attempts + 1, worker_pid, started_at);
 * *got is 0 when none is queued. */
int queue_claim(struct vstate *s, long long worker_pid, struct queue_item *out, int *got,
		struct kerr *err);
/* A judging item is at this check now (for status and the dashboard). */
int queue_progress(struct vstate *s, const char *id, const char *check, struct kerr *err);
/* A judging item is done: its verdict, reason code and corpus id. */
int queue_finish(struct vstate *s, const char *id, const char *verdict, const char *reason_code,
		 const char *submission_id, struct kerr *err);
/* A judging item goes back to queued (its worker died; it is judged again
 * from the start). */
int queue_requeue(struct vstate *s, const char *id, struct kerr *err);
/* A judging item the service claimed and could not start (a fork, a pipe
 * or its log file failed: the machine's trouble, not the submission's)
 * goes back to queued, and the claim's attempt with it, so that the cap
 * on attempts counts judgments that ran. */
int queue_unclaim(struct vstate *s, const char *id, struct kerr *err);

/* On start: every judging row (its worker died with the old service) is
 * finished from the corpus when a submission with its manifest_sha256 is
 * recorded there, else queued again. Counts what it did. */
struct queue_recovery {
	int finished, requeued, queued; /* queued: rows waiting after recovery */
};
int queue_recover(struct vstate *s, struct queue_recovery *r, struct kerr *err);

/* Per miner key, the submissions the service itself ended with reason
 * code `code` and no judgment (service.held_missing: a miner that did not
 * hand over the held checkpoints asked for), which the corpus, holding
 * judgments only, does not count; by key, with the last one's receipt
 * time. Caller frees *out. */
struct queue_miner_count {
	char miner[KEYS_PK_HEX_BYTES];
	long long n;
	char last_at[VSTATE_TIME_BYTES];
};
/* after and limit as expcorpus_miners': the keys after `after` (NULL: from
 * the first), at most limit (0: all). */
int queue_ended_by_miner(struct vstate *s, const char *code, const char *after, size_t limit,
			 struct queue_miner_count **out, size_t *n,
			 struct kerr *err);
/* One item by id (queue.not_found). */
int queue_get(struct vstate *s, const char *id, struct queue_item *out, struct kerr *err);
/* Counts by state. */
int queue_depth(struct vstate *s, int *queued, int *judging, int *done, struct kerr *err);
/* The newest (at most cap) items, newest first. */
int queue_recent(struct vstate *s, struct queue_item *out, int cap, int *n, struct kerr *err);
/* Every done item whose verdict is `rejected` or `error` (the verdicts an
 * upload may be kept for), the `error` ones first, then the latest
 * finished first, to fn until it returns nonzero. */
int queue_each_done_refusal(struct vstate *s, int (*fn)(const struct queue_item *it, void *arg), void *arg,
			    struct kerr *err);

#endif
