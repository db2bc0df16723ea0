/* service.h: `karpa validator serve`: a validator as a network service
 * (docs/validator.md). Owns the service's life: recovery on start (king
 * journal, queue), the HTTP API (service_api.c), the judging workers (one
 * child process per judgment, each `karpa judge` in the existing sandbox),
 * epochs and their weights, and the events the dashboard follows. */
#ifndef KARPA_SERVICE_H
#define KARPA_SERVICE_H

#include <signal.h>

#include "net/http.h"
#include "util/kerr.h"

struct service_opts {
	const char *state_dir;
	const char *listen;          /* "127.0.0.1:PORT" (PORT 0: any free port) */
	int workers;                 /* judgments at once */
	double epoch_s;              /* epoch length in seconds */
	int judge_threads;           /* --threads of each judgment */
	double judge_deadline_s;     /* the operator's cap on a judgment (0: the judge's own) */
	double held_timeout_s;       /* how long a submission waits for its miner's held
					checkpoints before it is rejected (service.held_missing) */
	double start_give_up_s;      /* how long one submission's judgment may fail to start,
					try after try, before it is given up
					(service.start_failed), so that the queue moves on */
	int max_pending_per_miner;   /* queued + judging per miner key; beyond: 429 */
	int max_pending_per_address; /* ... per client address; beyond: 429 */
	int max_queued;              /* ... in all; beyond: 503 */
	double held_share;           /* of each of the two caps above, the share that submissions
					waiting for held checkpoints may take (service_held_caps) */
	const char *self_exe;        /* the karpa binary judgments run (NULL: this one) */
	const char *port_file;       /* when set, the bound port is written here (tests, scripts) */
	struct http_limits limits;   /* limits.max_body 0: service_upload_cap of the state's scale */
	uint64_t keep_bytes;         /* uploads kept for disputes (service_keeps_upload), in all;
					beyond it the oldest are removed (0: SVC_KEEP_UPLOADS x the
					upload cap) */
	/* The chain sink (docs/chain.md): when chain_url is set, every closed
	 * epoch's weights also go to subnet netuid, signed with chain_hotkey. */
	const char *chain_url;
	int netuid;
	const char *chain_hotkey;
};
void service_opts_default(struct service_opts *o);

/* The held waits' own caps, in all and per client address: held_share of
 * max_queued and of max_pending_per_address, rounded down, at least 1.
 * A held wait takes no judge's time and can last hours, so waits nobody
 * means to end must not take a whole cap from everyone. */
#define SERVICE_HELD_SHARE_DEFAULT 0.25
void service_held_caps(const struct service_opts *o, int *all, int *per_address);

/* The largest upload a validator at scale takes when its operator names
 * none: 256 MiB at the cpu scales (a bundle is about 100 MB there), the
 * safe reader's own cap (bundle_tar_bytes_max) at the gpu-* scales, whose
 * checkpoints are 1.5 GB and more each. */
uint64_t service_upload_cap(const char *scale);

/* Whether a judged submission's tar stays in STATE/uploads once its
 * verdict is recorded. A replay that parted from its log (judge.replay_*)
 * is what `karpa dispute STATE BUNDLE` diagnoses, and a judgment that kept
 * failing (verdict error) is the operator's to look into; any other
 * verdict needs no bytes (the corpus holds the judgment, the content store
 * an accepted bundle's files), and the tar is removed; so is one whose
 * judgment never started (service.start_failed: no evidence to keep). */
int service_keeps_upload(const char *verdict, const char *code);
/* Kept uploads' room when the operator names none: this many of the
 * largest upload. */
#define SVC_KEEP_UPLOADS 4

/* Serves until *stop is set (SIGINT, SIGTERM), then stops accepting, lets
 * running judgments finish or be judged again on the next start (a row is
 * done only when its verdict is recorded), and returns 0. Prints one line
 * per event worth an operator's eye (recovery, verdicts, epochs) on stderr.
 * vstate.*, king.*, queue.*, http.* */
int service_run(const struct service_opts *o, volatile sig_atomic_t *stop, struct kerr *err);

#endif
