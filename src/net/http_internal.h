/* http_internal.h: what http.c (requests, routing, limits, replies) and
 * http_sse.c (the event hub) share about a server and a request. Private to
 * src/net/http*.c: nothing else includes it. */
#ifndef KARPA_HTTP_INTERNAL_H
#define KARPA_HTTP_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

#include "net/http.h"
#include "util/fsutil.h"
#include "util/growbuf.h"

#define HTTP_REPLY_HEADERS_MAX 8

struct http_stream; /* one SSE stream (http_sse.c) */
struct http_ratelimit;
struct http_offload; /* the threads upload handlers run on (http_offload.c) */

struct http_server {
	struct MHD_Daemon *d;
	struct http_route *routes;
	size_t nroutes;
	struct http_limits lim;
	char upload_dir[FS_PATH_MAX];
	void *ctx;
	int port;
	struct http_ratelimit *rl;
	struct http_ratelimit *cut; /* unfinished uploads per address (upload_cut_*) */
	unsigned char proxy_addr[16]; /* lim.trusted_proxy parsed; proxy_set: there is one */
	int proxy_set;

	_Atomic uint64_t requests, bytes_received, connections, rejected_rate, rejected_size, rejected_disk,
		rejected_slow, rejected_cut, uploads_cut;
	_Atomic int uploads_in_flight;
	/* who holds each of the max_uploads upload slots, so that one address
	 * cannot take them all (max_uploads_per_ip) */
	pthread_mutex_t slots_mu;
	struct http_upload_slot {
		unsigned char addr[16];
		int used;
	} *slots;
	/* bytes the uploads in flight announced and have not written yet:
	 * the disk room already spoken for */
	_Atomic uint64_t upload_owed;

	/* SSE streams on this server, so that http_stop can end them: a
	 * suspended connection must be resumed before MHD_stop_daemon. */
	pthread_mutex_t streams_mu;
	pthread_cond_t streams_cv;
	struct http_stream *streams;
	size_t nstreams;
	int stopping;

	struct http_offload *off; /* NULL: handlers run on the workers */
	_Atomic int off_kept;     /* replies kept for a resumed connection, not yet queued */
};

struct http_req {
	struct http_server *srv;
	struct MHD_Connection *conn;
	const struct http_route *route;
	char *method, *path;
	const char *tail;
	char remote[64];
	/* the client's address, IPv4 mapped into IPv6, and as the
	 * per-address limits count it: an IPv6 address's /64 (zeroed low
	 * half in addr, "PREFIX::/64" in group) */
	unsigned char addr[16];
	char group[80];
	int replied;

	/* non-upload body (capped at max_small_body) */
	struct growbuf body;

	/* upload */
	int upload_slot; /* 1 + the index of the upload slot it holds; 0: none */
	double pace_from_s; /* CLOCK_MONOTONIC seconds from which the body must keep pace */
	double busy_from_s; /* the worker's busy seconds then (http.c, worker_busy_s) */
	uint64_t announced; /* Content-Length: the body may not pass it */
	int fd;
	char upload_path[FS_PATH_MAX]; /* "" once taken or removed */
	struct hash_bulk hash; /* of the upload, as it arrives; dropped in req_free */
	char sha256[HASH_HEX_BYTES];
	uint64_t bytes; /* body bytes seen (upload or not) */
	uint64_t owed;  /* this upload's share of upload_owed */

	/* a rejection decided while the body streamed: MHD allows a reply only
	 * once the body is complete, so the rest is discarded (up to a bound)
	 * and the error goes out then */
	int pending_status;
	char pending_code[KERR_CODE_MAX];
	char pending_msg[256];
	uint64_t discarded;

	char *hdr_name[HTTP_REPLY_HEADERS_MAX];
	char *hdr_value[HTTP_REPLY_HEADERS_MAX];
	int nhdr;

	/* run on an offload thread (http_offload.c): its reply is kept here
	 * until libmicrohttpd calls on_request again after the resume, the
	 * one place a reply may be queued */
	int offloaded;
	struct http_req *off_next;
	struct MHD_Response *kept;
	unsigned kept_status;
};

/* Adds the handler's headers to r, queues it with status and drops our
 * reference to r; marks the request replied. -1 when MHD refused. */
int http_queue(struct http_req *rq, unsigned status, struct MHD_Response *r);
/* Ends every SSE stream of s and waits (bounded) until MHD let them go. */
void http_sse_close_server(struct http_server *s);

/* The offload threads (lim.offload_threads; 0: none, and nothing is
 * offloaded). http.start when they cannot start. */
int http_offload_start(struct http_server *s, int threads, struct kerr *err);
/* From an upload route's last on_request call, its body in: suspends the
 * connection and hands rq to a thread, 1; 0 when there are none or they
 * are stopping (the caller runs the handler itself). */
int http_offload_submit(struct http_server *s, struct http_req *rq);
/* Runs what was handed over, resumes its connections, joins the threads.
 * The state stays (stopping: http_offload_submit hands nothing over) until
 * http_offload_free, after the daemon stopped: a worker finishing an
 * upload meanwhile still reads it. Both may be called twice. */
void http_offload_stop(struct http_server *s);
void http_offload_free(struct http_server *s);

#endif
