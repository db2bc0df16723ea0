/* http.h: the HTTP server every Karpa service is built on (libmicrohttpd,
 * internal epoll thread pool). Owns the wire: routing by method and path,
 * the limits a hostile client cannot get around (body size, uploads in
 * flight, connections per address, request rate per address, connection
 * and idle timeouts, header size), streaming uploads to a file while
 * hashing them (a body is never held in memory), JSON replies with the one
 * error shape ({"error": {"code": "...", "message": "..."}}), and
 * Server-Sent Events. Knows nothing of validators: handlers do.
 *
 * Handlers run on the server's worker threads, several at once; whatever a
 * handler shares (a database) it guards itself. */
#ifndef KARPA_HTTP_H
#define KARPA_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util/hash.h"
#include "util/kerr.h"

struct http_server;
struct http_req;
struct http_sse;

/* Returns 0 when the handler replied (every handler must reply exactly
 * once, through one of the http_reply_* functions), -1 on an internal
 * failure (the server replies 500 http.internal). */
typedef int (*http_handler)(struct http_req *rq, void *ctx);

enum { HTTP_UPLOAD = 1, HTTP_UPLOAD_QUICK = 2 };

struct http_route {
	const char *method; /* "GET", "POST", ... */
	const char *path;   /* "/v1/king"; with prefix set, matches "/v1/corpus/..." too */
	int prefix;
	/* The body is streamed to a file (http_req_upload_*): HTTP_UPLOAD,
	 * whose handler then runs on an offload thread (it may take minutes:
	 * a bundle's verification), or HTTP_UPLOAD_QUICK, whose handler is
	 * quick once the body is in (a rename, a row) and runs at once rather
	 * than queued behind those. 0: a small body in memory. */
	int upload;
	http_handler fn;
	/* Optional: runs once the headers are in, before any body byte is
	 * read or an upload slot taken. It refuses by replying (the client,
	 * when it asked with Expect: 100-continue, then sends nothing) and
	 * lets the body come by returning 0 without replying; fn still
	 * decides once the body is in, since what precheck read may change
	 * meanwhile. */
	http_handler precheck;
};

struct http_limits {
	uint64_t max_body;         /* bytes of an upload; beyond: 413 http.too_large */
	uint64_t max_small_body;   /* bytes of a non-upload body (JSON); beyond: 413 */
	int max_uploads;           /* uploads in flight at once; beyond: 503 http.busy + Retry-After */
	int max_uploads_per_ip;    /* of them, from one client address; beyond: 503 http.busy */
	/* Event streams open at once, and from one client address; beyond:
	 * 503 http.busy. A stream is exempt from the idle timeout (its
	 * keep-alives) and a client that never reads it fills no buffer at a
	 * comment per 15 s, so without these a few addresses could hold every
	 * connection for good. */
	int max_streams;
	int max_streams_per_ip;
	/* An upload must keep pace: t seconds after its headers, past the
	 * first upload_grace_s, it must have sent upload_min_rate x (t -
	 * grace) bytes, or it is cut off (a client trickling a byte per idle
	 * timeout would otherwise hold its slot and its disk claim for ever,
	 * or, held only to a deadline reckoned from its length, for hours).
	 * 0: no rate. */
	double upload_min_rate;    /* bytes per second */
	int upload_grace_s;
	/* Uploads that end unfinished (the client closed or stalled, or was
	 * cut off for its pace) are charged to their address: it may leave
	 * upload_cut_burst of them, then one per upload_cut_every_s; beyond,
	 * its next upload is 503 http.upload_cut with Retry-After. Without
	 * it, a client that announces a large body, sends none and
	 * reconnects when the idle timeout closes it holds upload slots and
	 * disk claims for the price of a header every timeout_s. 0: no
	 * charge. */
	int upload_cut_burst;
	int upload_cut_every_s;
	int max_conns;             /* connections in all */
	int max_conns_per_ip;      /* connections per client address */
	int timeout_s;             /* a connection idle this long is closed (slow loris) */
	size_t max_header_bytes;   /* request line + headers; beyond: 431 or closed */
	double rate_per_s;         /* requests per second per address (token bucket) ... */
	double rate_burst;         /* ... with this burst; beyond: 429 http.rate + Retry-After */
	int threads;               /* worker threads */
	/* Threads an upload route's handler runs on once its body is in (a
	 * bundle's verification), so that the workers go on serving every
	 * other request meanwhile; 0: handlers run on the workers. */
	int offload_threads;
	/* A folder whose path no error reply shows (NULL: none): each
	 * occurrence in a message becomes "STATE". A client learns nothing of
	 * the operator's layout from a refusal that names a file in it. */
	const char *hide_path;
	/* Room an upload must leave free on upload_dir's filesystem beyond
	 * what the uploads in flight have announced (Content-Length) and not
	 * yet written; short: 507 http.disk_full before the body. A body
	 * without a length that fills the disk: 507 once a write fails. */
	uint64_t disk_reserve;
	/* The address of a reverse proxy in front of the server (a TLS
	 * terminator), as text; "" for none. A request whose connection comes
	 * from it is counted against the last address its X-Forwarded-For
	 * names (the one the proxy appended: what the client sent before it
	 * is the client's to forge; with several such header lines, the last
	 * line's), so that the per-address limits (rate, uploads, streams)
	 * and http_req_remote are the client's, not the proxy's. Connections
	 * per address are counted by libmicrohttpd before any header is read,
	 * where every client is the proxy: with a trusted proxy that cap is
	 * lifted (max_conns alone holds), and the proxy caps its clients'. */
	char trusted_proxy[64];
};
/* Defaults for a validator on loopback: 256 MiB uploads, 64 KiB JSON,
 * 16 uploads (4 per address, each at least 32 KiB/s after a minute's
 * grace), 128 event streams (4 per address), 512 connections, 32 per
 * address, 30 s idle, 16 KiB headers,
 * 20 requests/s with a burst of 40, 4 threads (2 more for upload
 * handlers), 64 MiB of disk kept free.
 * An upload route's body must have a Content-Length (411 otherwise): the
 * disk claim and the deadline are both reckoned from it. */
void http_limits_default(struct http_limits *l);

/* Starts serving: listen is "127.0.0.1:PORT" or "[::1]:PORT" (PORT 0 picks
 * a free port: http_port says which); upload_dir is where upload bodies go
 * (the caller's content store's temp folder: same filesystem, so handlers
 * can rename). ctx is passed to every handler. http.bind, http.start. */
int http_start(struct http_server **out, const char *listen, const struct http_route *routes,
	       size_t nroutes, const struct http_limits *lim, const char *upload_dir, void *ctx,
	       struct kerr *err);
int http_port(const struct http_server *s);
/* Stops accepting, closes every connection (SSE streams included), joins
 * the threads, removes upload files no handler took. */
void http_stop(struct http_server *s);

/* Disk room on the upload folder's filesystem spoken for by something
 * other than an upload (a judgment extracting a bundle there): counted
 * with what uploads in flight owe, so an upload does not take it. delta
 * claims (> 0) or gives back (< 0) what an earlier call claimed. */
void http_disk_owe(struct http_server *s, int64_t delta);
/* The same claim held to what an upload is held to: 0 when bytes fit
 * beside the reserve and every claim already made (claimed: give it back
 * with http_disk_owe(s, -bytes)), -1 with why (a sentence for a 507
 * http.disk_full) when they do not (nothing claimed). */
int http_disk_claim(struct http_server *s, uint64_t bytes, char *why, size_t cap);

/* Counters for /metrics. */
struct http_stats {
	uint64_t requests, bytes_received, uploads_in_flight, connections, rejected_rate,
		rejected_size, rejected_disk;
	uint64_t rejected_slow; /* uploads cut off at their deadline */
	uint64_t rejected_cut;  /* uploads refused: their address left too many unfinished */
	uint64_t uploads_cut;   /* uploads that ended unfinished, charged to their address */
	uint64_t upload_owed; /* bytes uploads in flight announced and have not written */
};
void http_stats(const struct http_server *s, struct http_stats *out);

/* ------------------------------------------------------------ requests */

const char *http_req_method(const struct http_req *rq);
const char *http_req_path(const struct http_req *rq);      /* without the query */
/* A query parameter (URL-decoded) or a header, NULL when absent. */
const char *http_req_query(const struct http_req *rq, const char *key);
const char *http_req_header(const struct http_req *rq, const char *name);
const char *http_req_remote(const struct http_req *rq);    /* client address, text */
/* The client as the per-address limits count it: its IPv4 address, or its
 * IPv6 address's /64 ("2001:db8:1:2::/64"). What a caller keeping its own
 * per-client counts should key them by. */
const char *http_req_remote_group(const struct http_req *rq);
/* The path after a prefix route's path ("/v1/corpus/k-12" -> "k-12"). */
const char *http_req_tail(const struct http_req *rq);
/* The request's Content-Length; -1 when it has none (chunked). */
int64_t http_req_content_length(const struct http_req *rq);
/* A non-upload body (NUL-terminated) and its length; NULL when none. */
const char *http_req_body(const struct http_req *rq, size_t *len);

/* Upload routes: the body, complete, in a file under upload_dir, with its
 * SHA-256 (computed while it streamed) and size. The file belongs to the
 * server: a handler that keeps it renames it away (http_req_upload_take);
 * otherwise it is removed after the reply. */
const char *http_req_upload_path(const struct http_req *rq);
const char *http_req_upload_sha256(const struct http_req *rq);  /* hex */
uint64_t http_req_upload_bytes(const struct http_req *rq);
/* Moves the upload to dst (rename, same filesystem, then fsync of dst's
 * folder); the server then leaves it alone. fs.* */
int http_req_upload_take(struct http_req *rq, const char *dst, struct kerr *err);

/* ------------------------------------------------------------- replies */

/* body is stolen (decref'd). Compact JSON, Content-Type application/json. */
int http_reply_json(struct http_req *rq, int status, json_t *body);
/* {"error": {"code": code, "message": message}} with the status. */
int http_reply_error(struct http_req *rq, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The error of a failed library call, with the status the caller chose. */
int http_reply_kerr(struct http_req *rq, int status, const struct kerr *e);
int http_reply_bytes(struct http_req *rq, int status, const char *content_type, const void *buf,
		     size_t n);
/* A file streamed from disk; with etag set, sends ETag and answers
 * If-None-Match with 304. */
int http_reply_file(struct http_req *rq, const char *content_type, const char *path,
		    const char *etag);
/* Adds a header to the reply the handler is about to send (call before
 * http_reply_*); at most 8 per reply. */
void http_reply_header(struct http_req *rq, const char *name, const char *value);

/* -------------------------------------------------- server-sent events */

/* A hub of event streams. http_reply_sse turns the request into a stream
 * on the hub (text/event-stream; a comment every 15 s keeps it alive);
 * http_sse_publish sends one event to every stream, from any thread; a
 * slow stream that falls more than 256 events behind is closed rather than
 * buffered without bound. */
struct http_sse *http_sse_new(void);
void http_sse_free(struct http_sse *h); /* after http_stop */
int http_reply_sse(struct http_req *rq, struct http_sse *h);
void http_sse_publish(struct http_sse *h, const char *event, const char *json_data);
size_t http_sse_clients(struct http_sse *h);

#endif
