/* service_int.h: what service.c (life, workers, epochs) and service_api.c
 * (the HTTP handlers) share. Private to the service. */
#ifndef KARPA_SERVICE_INT_H
#define KARPA_SERVICE_INT_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "net/http.h"
#include "proof/reciperepo.h"
#include "validator/chainsink.h"
#include "validator/queue.h"
#include "validator/service.h"
#include "validator/vstate.h"

#define SVC_SAMPLE_FAILED_MAX 64
/* How long a corpus search waits for the one before it (then 503). */
#define SVC_SEARCH_WAIT_S 3

struct svc {
	struct service_opts o;
	struct vstate vs;            /* guarded by db: handlers run on several threads */
	pthread_mutex_t db;
	/* One `git bundle create` at a time for GET /v1/recipe.bundle: the
	 * first fetches after a king change would each run one on a worker. */
	pthread_mutex_t bundle;
	/* Corpus searches: on a connection of their own, outside db (WAL lets
	 * them read while others write), one at a time (search: a second waits
	 * up to SVC_SEARCH_WAIT_S, then 503), each within
	 * EXPCORPUS_SEARCH_OPS_MAX steps. Under db, a
	 * search ranking every row of a large corpus held every other handler,
	 * and every worker thread, behind it. */
	struct vstate search_vs;
	pthread_mutex_t search;
	struct http_server *http;
	struct http_sse *events;
	/* STATE/uploads/tmp: uploads land here, and a bundle is unpacked
	 * here to be verified (the disk whose room the server counts) */
	char store_tmp[FS_PATH_MAX];
	char work[FS_PATH_MAX];      /* STATE/work/service: judgment outputs */
	char self_exe[FS_PATH_MAX];
	time_t started;
	uint64_t judged;             /* judgments finished by this process */
	double judge_wall_s;
	struct chainsink *chain;     /* NULL without --chain */
	/* a judgment that could not be started (fork, pipe, its log) holds
	 * every start until then, twice as long each time in a row */
	struct timespec start_after;
	double start_backoff_s;
	/* the submission those failures were all for, since when, how many */
	char start_fail_id[QUEUE_ID_BYTES];
	struct timespec start_fail_t0;
	int start_fails;
	/* kings whose sample failed in this run: not tried again until the
	 * next start (a sample is for reading; a failure is logged) */
	char sample_failed[SVC_SAMPLE_FAILED_MAX][RECIPEREPO_TAG_MAX];
	size_t nsample_failed;
};

void svc_lock(struct svc *s);
void svc_unlock(struct svc *s);
/* Where a submission's held checkpoints go: its tar's path with .held for
 * .tar (STATE/uploads/<sha256>.held). */
int svc_held_dir(const char *tar_path, char *out, size_t cap, struct kerr *err);
/* One event to every /v1/events stream and one line to the log. */
void svc_event(struct svc *s, const char *event, json_t *data);

/* 1 when making king tag's sample failed in this run (caller holds db). */
int svc_sample_failed(const struct svc *s, const char *tag);

/* GET /: the dashboard page, built into the binary (dashboard.c). */
int svc_get_dashboard(struct http_req *rq, void *ctx);

/* The route table (service_api.c). */
extern const struct http_route svc_routes[];
extern const size_t svc_nroutes;

#endif
