/* client.h: the HTTP client side of Karpa's services (libcurl): what
 * `karpa submit`, `karpa status` and the miner use to talk to a validator.
 * Owns retries (connection errors and 5xx, with exponential backoff and
 * jitter, at most a fixed number of tries; an upload whose body went out
 * is not sent again on a 5xx), timeouts, upload progress, and
 * turning a service's error shape back into a kerr. */
#ifndef KARPA_CLIENT_H
#define KARPA_CLIENT_H

#include <jansson.h>
#include <stdint.h>

#include "util/kerr.h"

/* The request header naming the sender's miner key (64 hex digits). */
#define CLIENT_MINER_HEADER "X-Karpa-Miner"
#define CLIENT_MINER_HEX 64

struct client_opts {
	int tries;          /* attempts in all (default 5) */
	/* Per attempt, whole transfer (default 600); an upload gets its
	 * length at 256 KiB/s on top. Any transfer under 1 KiB/s for 300 s
	 * ends (client.connect, after the retries). */
	double timeout_s;
	int progress;       /* upload progress on stderr */
	/* The sender's miner key (64 hex digits) for client_post_file's
	 * X-Karpa-Miner header, so that a validator can refuse a key whose
	 * queue is full on the headers, before the body; NULL: not sent. A
	 * hint only: the verified manifest's key is the one counted. */
	const char *miner;
	/* The most client_get_file writes (default CLIENT_FILE_BYTES_MAX; 0: no cap):
	 * what a service sends is not the client's to trust, and a reply
	 * without end would fill the disk. Beyond it: client.too_large. */
	uint64_t file_bytes_max;
};
/* A king's recipe as a git bundle is a few MiB; a whole history of kings,
 * far less than this. */
#define CLIENT_FILE_BYTES_MAX ((uint64_t)1 << 30)
/* An upload this small is sent again on a 5xx as any request is; a larger
 * one that went out whole is not (client_post_file). */
#define CLIENT_RESEND_FREE_BYTES ((uint64_t)1 << 20)
/* The longest URL the client builds from a validator's URL and a path. */
#define CLIENT_URL_MAX 2048
void client_opts_default(struct client_opts *o);
/* base (a validator's URL as libcurl reads it, trailing slashes dropped)
 * joined with path: client.bad_url for anything but http:// or https://
 * with a host, for a user, query or fragment in it, or past cap. */
int client_url(char *out, size_t cap, const char *base, const char *path, struct kerr *err);

/* GET url, parse a JSON reply. 2xx: *out (caller decrefs), *status.
 * A service error reply becomes err with the service's code and message
 * (and *status); a transport failure after the retries client.connect
 * (client.bad_url, fs.read, client.nomem or client.aborted when trying
 * again could not help); a reply that is not JSON client.bad_reply. */
int client_get_json(const char *url, const struct client_opts *o, json_t **out, long *status,
		    struct kerr *err);
/* GET url into a file (atomically: temp, fsync, rename). */
int client_get_file(const char *url, const struct client_opts *o, const char *path, long *status,
		    struct kerr *err);
/* POST a file as the body (streamed from disk, application/x-tar), parse
 * the JSON reply as client_get_json does. A 5xx after a body of more than
 * CLIENT_RESEND_FREE_BYTES went out whole is returned at once, not
 * retried: the caller waits and sends again (client_later). So is a
 * transport failure after such a body went out whole, as
 * client.unanswered: the server may have taken it, and the caller asks
 * (client_find_submission) before sending it again. */
int client_post_file(const char *url, const char *path, const struct client_opts *o,
		     json_t **out, long *status, struct kerr *err);

/* After client.unanswered on POST submissions_url: the validator's item
 * for the bundle at tar_path, found by the id it gives a submission (q-
 * and the first 24 hex digits of the tar's SHA-256). 1 with *item (the
 * caller decrefs) when the validator has it, 0 when it does not (404),
 * -1 with err when it cannot say. */
int client_find_submission(const char *submissions_url, const char *tar_path, const struct client_opts *o,
			   json_t **item, struct kerr *err);
/* client_post_file of a bundle to submissions_url, and after
 * client.unanswered, client_find_submission: a bundle the validator took
 * is its item (*status 200, as for one it already had); one it did not is
 * client.unanswered still, a "later" (client_later). */
int client_post_submission(const char *submissions_url, const char *tar_path, const struct client_opts *o,
			   json_t **item, long *status, struct kerr *err);

/* How many times one submission's held checkpoints are sent: an honest
 * validator asks once, and again only when a reply was lost on the way. */
#define CLIENT_HELD_ROUNDS_MAX 3
/* How many uploads' worth of held checkpoints (bytes read for sending, in
 * units of each file's size) one submission may cost, whatever the
 * replies: a validator that takes every byte and answers
 * "busy" would otherwise have them uploaded on every poll until the verdict
 * timeout (gigabytes each at the gpu-* scales). An honest validator
 * refuses a full house before the body (the upload slot is checked at the
 * headers), so this counts what refusals after the body cost. */
#define CLIENT_HELD_UPLOADS_MAX 12
/* The most held checkpoints one ask may name: what a judgment draws and
 * what asking again may add (heldwait.h's HELDWAIT_NEEDS_MAX). */
#define CLIENT_HELD_NEEDS_MAX 4

/* Hands a validator the held checkpoints it asked for (docs/bundle.md,
 * "Held checkpoints"): for each need in item's held.needs (a submission as
 * POST or GET /v1/submissions returns it) that has not arrived, POSTs
 * held_dir/NAME to submissions_url/ID/held/NAME (submissions_url: the
 * service's .../v1/submissions). *sent counts the ones sent. A need the
 * folder lacks is client.held_missing, a need name that is no checkpoint's
 * client.bad_reply, as is an ask naming one twice or more than
 * CLIENT_HELD_NEEDS_MAX; the service's refusals come back as they are,
 * with the HTTP status in *status (0: none came).
 * *t (the caller's, zeroed for a new submission) counts what the
 * submission's held checkpoints cost so far:
 * - rounds: the calls that delivered any (an upload the service took). A
 *   call after CLIENT_HELD_ROUNDS_MAX of them is client.held_again, with
 *   nothing sent (a validator that never marks them arrived would have the
 *   miner upload gigabytes on every poll); a failed upload is no delivery,
 *   so a busy service may be asked again;
 * - uploads: the bytes read for sending, taken or not, the client's own
 *   retries and bodies cut short included, in whole uploads of the file
 *   each was part of. Reaching CLIENT_HELD_UPLOADS_MAX, even in the middle
 *   of a body (which is then aborted), is client.held_again too. */
struct client_held_tally {
	int rounds;
	double uploads;
};
int client_send_held(const char *submissions_url, const json_t *item, const char *held_dir,
		     const struct client_opts *o, struct client_held_tally *t, int *sent, long *status,
		     struct kerr *err);
/* Whether item (a submission) waits for held checkpoints it was not sent. */
int client_held_wanted(const json_t *item);

/* A validator's "no room" (its queue caps in all, per address, per key,
 * its upload slots, its disk room): try again later. */
int client_no_room(const struct kerr *e);
/* A busy refusal of any module (http.busy, vstate.busy, heldwait.busy,
 * queue.busy): room, not a fault. */
int client_busy(const struct kerr *e);
/* A failure that says "not now" rather than "no": the validator down,
 * slow, busy, full or failing (any 5xx: its own fault, not the upload's),
 * once the client's own retries are spent. status: the reply's HTTP
 * status (0: none came). */
int client_later(const struct kerr *e, long status);

#endif
