/* http.c: the HTTP server under every Karpa service (libmicrohttpd, internal
 * epoll thread pool). Owns routing, the per-request lifecycle (headers, body
 * streamed to memory or to an upload file hashed as it arrives, handler,
 * reply, cleanup), the limits a hostile client cannot get around, and the
 * JSON error shape. Never holds an upload in memory; never leaves an upload
 * file behind that no handler took. SSE streams live in http_sse.c. */
#include "net/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "net/http_internal.h"
#include "util/termtext.h"

/* After an upload passes max_body its bytes are discarded so that the 413
 * can be sent once the body ends (libmicrohttpd queues a reply only before
 * or after the body, never during it); a client still sending after this
 * many more bytes has its connection closed instead. */
#define HTTP_DRAIN_BYTES_MAX (1u << 20)
/* Retry-After for 503 http.busy: an upload slot frees within seconds. */
#define HTTP_BUSY_RETRY_S 1
/* Retry-After for 507 http.disk_full: room comes back as uploads are
 * judged and removed, minutes rather than seconds. */
#define HTTP_DISK_RETRY_S 60
/* Rate limiter: a fixed table (memory bounded whatever the number of
 * addresses); an address probes this many slots and, when all are taken by
 * others, evicts the one seen least recently. */
#define RL_SLOTS 4096
#define RL_PROBES 8
/* libmicrohttpd's per-connection pool holds the read buffer (it starts at
 * half the pool) as well as the request line and headers, so the pool is
 * twice the header limit plus room for the reply's headers. */
#define HTTP_POOL_SLACK_BYTES 4096

/* Seconds this worker thread has spent in route handlers and prechecks
 * (fsync, a bundle's verification, a database query). A connection stays
 * on one worker, which reads none of its connections meanwhile: an
 * upload's pace is not charged for that time. */
static _Thread_local double worker_busy_s;

/* What a reply that jansson cannot encode becomes (no allocation needed). */
static const char REPLY_UNENCODABLE[] =
	"{\"error\":{\"code\":\"http.internal\",\"message\":\"the reply could not be encoded\"}}";

void http_limits_default(struct http_limits *l)
{
	memset(l, 0, sizeof *l); /* a field added later is not left to chance */
	l->max_body = 256ull << 20;
	l->max_small_body = 64u << 10;
	l->max_uploads = 16;
	l->max_uploads_per_ip = 4;
	l->upload_min_rate = 32 << 10;
	l->upload_grace_s = 60;
	l->upload_cut_burst = 8;
	l->upload_cut_every_s = 60;
	l->max_streams = 128;
	l->max_streams_per_ip = 4;
	l->max_conns = 512;
	l->max_conns_per_ip = 32;
	l->timeout_s = 30;
	l->max_header_bytes = 16u << 10;
	l->rate_per_s = 20;
	l->rate_burst = 40;
	l->threads = 4;
	l->offload_threads = 2;
	l->disk_reserve = 64ull << 20;
	l->trusted_proxy[0] = '\0';
}

/* ------------------------------------------------------- rate limiter */

struct rl_slot {
	unsigned char addr[16];
	int used;
	double tokens, t_s;
};

struct http_ratelimit {
	pthread_mutex_t mu;
	double rate_per_s, burst;
	struct rl_slot slot[RL_SLOTS];
};

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

enum rl_mode {
	RL_TAKE,   /* take a token if there is one */
	RL_PEEK,   /* only say whether there is one */
	RL_CHARGE, /* take one, or what is left */
};

/* addr's bucket in mode; 0 when it had a token, else the seconds until it
 * has one. */
static int rl_use(struct http_ratelimit *rl, const unsigned char addr[16], enum rl_mode mode)
{
	uint32_t h = 2166136261u;
	struct rl_slot *s = NULL, *oldest = NULL;
	double now = now_s();
	int wait_s = 0;

	if (rl->rate_per_s <= 0)
		return 0;
	for (int i = 0; i < 16; i++)
		h = (h ^ addr[i]) * 16777619u;
	pthread_mutex_lock(&rl->mu);
	for (int i = 0; i < RL_PROBES && !s; i++) {
		struct rl_slot *c = &rl->slot[(h + (uint32_t)i) % RL_SLOTS];

		if (c->used && !memcmp(c->addr, addr, 16))
			s = c;
		else if (!oldest || !c->used || (oldest->used && c->t_s < oldest->t_s))
			oldest = c;
	}
	if (!s) {
		s = oldest;
		memcpy(s->addr, addr, 16);
		s->used = 1;
		s->tokens = rl->burst;
		s->t_s = now;
	}
	s->tokens = fmin(rl->burst, s->tokens + (now - s->t_s) * rl->rate_per_s);
	s->t_s = now;
	if (s->tokens >= 1.0 && mode != RL_PEEK)
		s->tokens -= 1.0;
	else if (s->tokens < 1.0)
		wait_s = (int)ceil((1.0 - s->tokens) / rl->rate_per_s);
	if (mode == RL_CHARGE && wait_s)
		s->tokens = 0;
	pthread_mutex_unlock(&rl->mu);
	return wait_s > 0 ? wait_s : 0;
}

static int rl_take(struct http_ratelimit *rl, const unsigned char addr[16])
{
	return rl_use(rl, addr, RL_TAKE);
}

/* The client's address as 16 bytes (IPv4 mapped) and as text. */
static void client_addr(struct MHD_Connection *c, unsigned char key[16], char *text, size_t cap)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	memset(key, 0, 16);
	snprintf(text, cap, "?");
	if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		key[10] = key[11] = 0xff;
		memcpy(key + 12, &in->sin_addr, 4);
		inet_ntop(AF_INET, &in->sin_addr, text, (socklen_t)cap);
	} else if (sa && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		memcpy(key, &in6->sin6_addr, 16);
		inet_ntop(AF_INET6, &in6->sin6_addr, text, (socklen_t)cap);
	}
}

/* An address as text (IPv4 or IPv6) into the 16-byte key client_addr
 * makes; -1 when it is neither. */
static int addr_key(const char *text, unsigned char key[16])
{
	struct in_addr a4;

	memset(key, 0, 16);
	if (inet_pton(AF_INET, text, &a4) == 1) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &a4, 4);
		return 0;
	}
	return inet_pton(AF_INET6, text, key) == 1 ? 0 : -1;
}

/* The value of the last X-Forwarded-For header line: a proxy may add its
 * own line after the client's rather than append to it, and
 * MHD_lookup_connection_value gives the first. */
static enum MHD_Result last_xff(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	if (key && value && !strcasecmp(key, "X-Forwarded-For"))
		*(const char **)cls = value;
	return MHD_YES;
}

/* Behind the trusted proxy: the client is the last X-Forwarded-For entry
 * (what the proxy appended). Without a well-formed one the request stays
 * the proxy's own. */
static void forwarded_addr(struct http_server *s, struct http_req *rq)
{
	const char *xff = NULL, *last;
	char text[64];
	unsigned char key[16];
	size_t n;

	if (!s->proxy_set || memcmp(rq->addr, s->proxy_addr, 16))
		return;
	MHD_get_connection_values(rq->conn, MHD_HEADER_KIND, last_xff, &xff);
	if (!xff)
		return;
	last = strrchr(xff, ',');
	last = last ? last + 1 : xff;
	last += strspn(last, " \t");
	n = strcspn(last, " \t");
	if (n == 0 || n >= sizeof text || last[n + strspn(last + n, " \t")] != '\0')
		return;
	memcpy(text, last, n);
	text[n] = '\0';
	if (addr_key(text, key) < 0)
		return;
	memcpy(rq->addr, key, 16);
	snprintf(rq->remote, sizeof rq->remote, "%s", text);
}

/* What the per-address limits count by: an IPv4 address, or an IPv6
 * address's /64 (one subscriber is commonly handed a whole /64, so a
 * full-address key would give one client 2^64 of them). rq->addr becomes
 * the key and rq->group its text. */
static void group_addr(struct http_req *rq)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	char t[INET6_ADDRSTRLEN];

	if (!memcmp(rq->addr, mapped, sizeof mapped) || !strcmp(rq->remote, "?")) {
		snprintf(rq->group, sizeof rq->group, "%s", rq->remote);
		return;
	}
	memset(rq->addr + 8, 0, 8);
	if (!inet_ntop(AF_INET6, rq->addr, t, sizeof t))
		snprintf(t, sizeof t, "?");
	snprintf(rq->group, sizeof rq->group, "%s/64", t);
}

/* ------------------------------------------------------------- replies */

int http_queue(struct http_req *rq, unsigned status, struct MHD_Response *r)
{
	enum MHD_Result ok = MHD_NO;

	if (!r)
		return -1;
	for (int i = 0; i < rq->nhdr; i++)
		MHD_add_response_header(r, rq->hdr_name[i], rq->hdr_value[i]);
	if (rq->offloaded && !rq->replied) {
		/* queued by on_request once the connection is resumed */
		rq->kept = r;
		rq->kept_status = status;
		rq->replied = 1;
		return 0;
	}
	if (!rq->replied)
		ok = MHD_queue_response(rq->conn, status, r);
	MHD_destroy_response(r);
	rq->replied = 1;
	return ok == MHD_YES ? 0 : -1;
}

void http_reply_header(struct http_req *rq, const char *name, const char *value)
{
	char *n, *v;

	if (rq->nhdr >= HTTP_REPLY_HEADERS_MAX)
		return;
	n = strdup(name);
	v = strdup(value);
	if (!n || !v) {
		free(n);
		free(v);
		return;
	}
	rq->hdr_name[rq->nhdr] = n;
	rq->hdr_value[rq->nhdr++] = v;
}

int http_reply_bytes(struct http_req *rq, int status, const char *content_type, const void *buf, size_t n)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(n, (void *)buf, MHD_RESPMEM_MUST_COPY);

	if (r && content_type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	return http_queue(rq, (unsigned)status, r);
}

int http_reply_json(struct http_req *rq, int status, json_t *body)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	int rc;

	json_decref(body);
	if (!text)
		return http_reply_bytes(rq, 500, "application/json", REPLY_UNENCODABLE, strlen(REPLY_UNENCODABLE));
	rc = http_reply_bytes(rq, status, "application/json", text, strlen(text));
	free(text);
	return rc;
}

static int reply_errorv(struct http_req *rq, int status, const char *code, const char *fmt, va_list ap)
{
	char msg[KERR_MSG_MAX];

	vsnprintf(msg, sizeof msg, fmt, ap);
	kerr_hide_path(msg, sizeof msg, rq->srv ? rq->srv->lim.hide_path : NULL);
	/* A message may quote what a client sent (a path unescaped from %FF)
	 * or be cut inside a character; a JSON string must be UTF-8, and
	 * jansson refuses the rest, which made any such error a 500. */
	termtext_utf8(msg, '?');
	return http_reply_json(rq, status, json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg));
}

int http_reply_error(struct http_req *rq, int status, const char *code, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = reply_errorv(rq, status, code, fmt, ap);
	va_end(ap);
	return rc;
}

int http_reply_kerr(struct http_req *rq, int status, const struct kerr *e)
{
	return http_reply_error(rq, status, e->code[0] ? e->code : "http.internal", "%s", e->msg);
}

/* 1 when the If-None-Match list names tag (quoted) or is "*"; weak tags
 * compare equal to strong ones, as RFC 9110 asks for If-None-Match. */
static int etag_matches(const char *inm, const char *tag)
{
	size_t tl = strlen(tag);
	const char *p = inm;

	while (*p) {
		const char *e;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return 1;
		if (!strncmp(p, "W/", 2))
			p += 2;
		e = p;
		while (*e && *e != ',')
			e++;
		while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if ((size_t)(e - p) == tl && !memcmp(p, tag, tl))
			return 1;
		p = e;
		while (*p && *p != ',')
			p++;
	}
	return 0;
}

int http_reply_file(struct http_req *rq, const char *content_type, const char *path, const char *etag)
{
	char tag[256] = "";
	struct stat sb;
	struct kerr err;
	struct MHD_Response *r;
	int fd;

	if (etag) {
		snprintf(tag, sizeof tag, etag[0] == '"' ? "%s" : "\"%s\"", etag);
		const char *inm = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND,
							      MHD_HTTP_HEADER_IF_NONE_MATCH);
		if (inm && etag_matches(inm, tag)) {
			http_reply_header(rq, MHD_HTTP_HEADER_ETAG, tag);
			return http_reply_bytes(rq, MHD_HTTP_NOT_MODIFIED, NULL, "", 0);
		}
	}
	if ((fd = fs_open_regular(path, 0, &sb, &err)) < 0)
		return http_reply_kerr(rq, 500, &err);
	r = MHD_create_response_from_fd((uint64_t)sb.st_size, fd); /* owns fd */
	if (!r) {
		close(fd);
		return http_reply_error(rq, 500, "http.internal", "cannot stream %s", path);
	}
	if (content_type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	if (tag[0])
		MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, tag);
	return http_queue(rq, MHD_HTTP_OK, r);
}

/* ------------------------------------------------------------ requests */

const char *http_req_method(const struct http_req *rq)
{
	return rq->method;
}

const char *http_req_path(const struct http_req *rq)
{
	return rq->path;
}

const char *http_req_query(const struct http_req *rq, const char *key)
{
	return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *http_req_header(const struct http_req *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

const char *http_req_remote(const struct http_req *rq)
{
	return rq->remote;
}

const char *http_req_tail(const struct http_req *rq)
{
	return rq->tail ? rq->tail : "";
}

const char *http_req_body(const struct http_req *rq, size_t *len)
{
	if (len)
		*len = rq->body.len;
	return rq->body.buf;
}

const char *http_req_remote_group(const struct http_req *rq)
{
	return rq->group;
}

const char *http_req_upload_path(const struct http_req *rq)
{
	return rq->upload_path[0] ? rq->upload_path : NULL;
}

const char *http_req_upload_sha256(const struct http_req *rq)
{
	return rq->sha256;
}

uint64_t http_req_upload_bytes(const struct http_req *rq)
{
	return rq->bytes;
}

int http_req_upload_take(struct http_req *rq, const char *dst, struct kerr *err)
{
	char dir[FS_PATH_MAX];

	if (!rq->upload_path[0])
		return kerr_set(err, "fs.rename", "no upload file to take (already taken?)");
	if (rename(rq->upload_path, dst) < 0)
		return kerr_errno(err, "fs.rename", dst);
	rq->upload_path[0] = '\0';
	snprintf(dir, sizeof dir, "%s", dst);
	return fs_fsync_dir(dirname(dir), err);
}

static void drop_upload(struct http_req *rq)
{
	if (rq->fd >= 0)
		close(rq->fd);
	rq->fd = -1;
	if (rq->upload_path[0])
		unlink(rq->upload_path);
	rq->upload_path[0] = '\0';
}

/* Gives back the part of the disk room this upload spoke for and has not
 * written (all of it when it ends early). */
static void owe_less(struct http_req *rq, uint64_t n)
{
	if (n > rq->owed)
		n = rq->owed;
	rq->owed -= n;
	atomic_fetch_sub(&rq->srv->upload_owed, n);
}

/* An upload slot for the client at rq->addr: 0, or the refusal's reason
 * (all slots taken, or max_uploads_per_ip of them by this address). */
static const char *slot_take(struct http_server *s, struct http_req *rq)
{
	const char *why = NULL;
	int mine = 0, free_at = -1;

	pthread_mutex_lock(&s->slots_mu);
	for (int i = 0; i < s->lim.max_uploads; i++) {
		if (!s->slots[i].used)
			free_at = free_at < 0 ? i : free_at;
		else if (!memcmp(s->slots[i].addr, rq->addr, 16))
			mine++;
	}
	if (free_at < 0)
		why = "too many uploads in flight";
	else if (mine >= s->lim.max_uploads_per_ip)
		why = "too many uploads in flight from this address";
	else {
		s->slots[free_at].used = 1;
		memcpy(s->slots[free_at].addr, rq->addr, 16);
		rq->upload_slot = free_at + 1;
		atomic_fetch_add(&s->uploads_in_flight, 1);
	}
	pthread_mutex_unlock(&s->slots_mu);
	return why;
}

static void slot_give(struct http_server *s, struct http_req *rq)
{
	if (!rq->upload_slot)
		return;
	pthread_mutex_lock(&s->slots_mu);
	s->slots[rq->upload_slot - 1].used = 0;
	pthread_mutex_unlock(&s->slots_mu);
	rq->upload_slot = 0;
	atomic_fetch_sub(&s->uploads_in_flight, 1);
}

static void req_free(struct http_req *rq)
{
	owe_less(rq, rq->owed);
	drop_upload(rq);
	hash_bulk_drop(&rq->hash);
	slot_give(rq->srv, rq);
	for (int i = 0; i < rq->nhdr; i++) {
		free(rq->hdr_name[i]);
		free(rq->hdr_value[i]);
	}
	if (rq->kept) {
		MHD_destroy_response(rq->kept);
		atomic_fetch_sub(&rq->srv->off_kept, 1);
	}
	growbuf_free(&rq->body);
	free(rq->method);
	free(rq->path);
	free(rq);
}

/* Remembers an error to send once the body has ended (see HTTP_DRAIN_BYTES_MAX). */
static void set_pending(struct http_req *rq, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void set_pending(struct http_req *rq, int status, const char *code, const char *fmt, ...)
{
	va_list ap;

	if (rq->pending_status)
		return;
	owe_less(rq, rq->owed); /* the rest of the body is dropped, not written */
	rq->pending_status = status;
	snprintf(rq->pending_code, sizeof rq->pending_code, "%s", code);
	va_start(ap, fmt);
	vsnprintf(rq->pending_msg, sizeof rq->pending_msg, fmt, ap);
	va_end(ap);
	drop_upload(rq);
}

static enum MHD_Result mhd_result(int rc)
{
	return rc == 0 ? MHD_YES : MHD_NO;
}

static int reply_retry_after(struct http_req *rq, int status, const char *code, int wait_s, const char *msg)
{
	char v[24];

	snprintf(v, sizeof v, "%d", wait_s > 0 ? wait_s : 1);
	http_reply_header(rq, MHD_HTTP_HEADER_RETRY_AFTER, v);
	return http_reply_error(rq, status, code, "%s; retry after %s s", msg, v);
}

struct hdr_sum {
	size_t bytes;
};

static enum MHD_Result sum_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct hdr_sum *s = cls;

	s->bytes += strlen(key) + (value ? strlen(value) : 0) + 4; /* ": " and CRLF */
	return MHD_YES;
}

/* The route for method+path (its tail in *tail); NULL otherwise, with the
 * methods the path does take in allow ("" when none: 404, else 405). */
static const struct http_route *route_find(const struct http_server *s, const char *method, const char *path,
					   const char **tail, char *allow, size_t allow_cap)
{
	allow[0] = '\0';
	for (size_t i = 0; i < s->nroutes; i++) {
		const struct http_route *r = &s->routes[i];
		size_t n = strlen(r->path);
		const char *t = NULL;

		if (!strcmp(path, r->path))
			t = path + n;
		else if (r->prefix && !strncmp(path, r->path, n) && path[n] == '/')
			t = path + n + 1;
		if (!t)
			continue;
		if (!strcmp(method, r->method)) {
			*tail = t;
			return r;
		}
		if (!strstr(allow, r->method)) {
			size_t used = strlen(allow);

			snprintf(allow + used, allow_cap - used, "%s%s", used ? ", " : "", r->method);
		}
	}
	return NULL;
}

/* Content-Length when present and well formed; else -1 (chunked or absent). */
static int64_t content_length(struct MHD_Connection *c)
{
	const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	char *end;
	unsigned long long n;

	if (!v || !*v)
		return -1;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || *end || n > INT64_MAX)
		return INT64_MAX;
	return (int64_t)n;
}

void http_disk_owe(struct http_server *s, int64_t delta)
{
	if (delta >= 0)
		atomic_fetch_add(&s->upload_owed, (uint64_t)delta);
	else
		atomic_fetch_sub(&s->upload_owed, (uint64_t)-delta);
}

int64_t http_req_content_length(const struct http_req *rq)
{
	return content_length(rq->conn);
}

int http_disk_claim(struct http_server *s, uint64_t bytes, char *why, size_t cap)
{
	struct statvfs v;
	uint64_t before, avail;

	/* the claim before the reading: bytes another upload writes in
	 * between are then counted twice (safe), never not at all */
	before = atomic_fetch_add(&s->upload_owed, bytes);
	if (statvfs(s->upload_dir, &v) < 0)
		return 0; /* nothing known */
	avail = (uint64_t)v.f_bavail * (uint64_t)v.f_frsize;
	if (before + bytes + s->lim.disk_reserve <= avail)
		return 0;
	atomic_fetch_sub(&s->upload_owed, bytes); /* refused: its claim must not refuse others */
	atomic_fetch_add(&s->rejected_disk, 1);
	snprintf(why, cap,
		 "%" PRIu64 " bytes do not fit: %" PRIu64 " bytes free, %" PRIu64
		 " owed to uploads in flight and bundles being checked, %" PRIu64
		 " kept free (retry later, or send it to another validator)",
		 bytes, avail, before, s->lim.disk_reserve);
	return -1;
}

/* Speaks for cl bytes of room on the upload folder's filesystem
 * (http_disk_claim): refused at once rather than after gigabytes that
 * cannot be kept. 0, or 1 when it replied 507. */
static int room_claim(struct http_server *s, struct http_req *rq, int64_t cl)
{
	char msg[320];

	if (cl <= 0)
		return 0; /* an empty body: nothing to claim */
	if (http_disk_claim(s, (uint64_t)cl, msg, sizeof msg) == 0) {
		rq->owed = (uint64_t)cl;
		return 0;
	}
	reply_retry_after(rq, 507, "http.disk_full", HTTP_DISK_RETRY_S, msg);
	return 1;
}

/* The first call for a request: its headers are in. Replies at once to
 * what is refused before any body byte is read. */
static enum MHD_Result req_begin(struct http_server *s, struct http_req *rq)
{
	char allow[64];
	struct hdr_sum hs = { strlen(rq->method) + strlen(rq->path) + 12 };
	const char *busy;
	int64_t cl;
	int wait_s;

	client_addr(rq->conn, rq->addr, rq->remote, sizeof rq->remote);
	forwarded_addr(s, rq);
	group_addr(rq);
	MHD_get_connection_values(rq->conn, MHD_HEADER_KIND | MHD_GET_ARGUMENT_KIND, sum_header, &hs);
	if (hs.bytes > s->lim.max_header_bytes)
		return mhd_result(http_reply_error(rq, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE,
						   "http.header_too_large",
						   "request line and headers of %zu bytes exceed %zu", hs.bytes,
						   s->lim.max_header_bytes));
	if ((wait_s = rl_take(s->rl, rq->addr)) > 0) {
		atomic_fetch_add(&s->rejected_rate, 1);
		return mhd_result(reply_retry_after(rq, MHD_HTTP_TOO_MANY_REQUESTS, "http.rate", wait_s,
						    "too many requests from this address"));
	}
	rq->route = route_find(s, rq->method, rq->path, &rq->tail, allow, sizeof allow);
	if (!rq->route && allow[0]) {
		http_reply_header(rq, MHD_HTTP_HEADER_ALLOW, allow);
		return mhd_result(http_reply_error(rq, MHD_HTTP_METHOD_NOT_ALLOWED, "http.method",
						   "%s is not allowed on %s (allowed: %s)", rq->method, rq->path,
						   allow));
	}
	if (!rq->route)
		return mhd_result(http_reply_error(rq, MHD_HTTP_NOT_FOUND, "http.not_found", "no route for %s",
						   rq->path));
	cl = content_length(rq->conn);
	/* an upload says its length: the disk claim is reckoned from it, and
	 * a chunked body would escape it. With Transfer-Encoding present
	 * libmicrohttpd reads the body chunked whatever Content-Length says,
	 * so a length beside it is no length at all. */
	if (rq->route->upload &&
	    (cl < 0 || MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING)))
		return mhd_result(http_reply_error(rq, MHD_HTTP_LENGTH_REQUIRED, "http.length_required",
						   "an upload needs a Content-Length and no Transfer-Encoding "
						   "(chunked bodies are not taken)"));
	if (cl > (int64_t)(rq->route->upload ? s->lim.max_body : s->lim.max_small_body)) {
		atomic_fetch_add(&s->rejected_size, 1);
		return mhd_result(http_reply_error(rq, MHD_HTTP_CONTENT_TOO_LARGE, "http.too_large",
						   "body of %" PRId64 " bytes exceeds the limit of %" PRIu64, cl,
						   rq->route->upload ? s->lim.max_body : s->lim.max_small_body));
	}
	if (rq->route->precheck) {
		int rc = rq->route->precheck(rq, s->ctx);

		if (rq->replied)
			return MHD_YES;
		if (rc < 0)
			return mhd_result(http_reply_error(rq, 500, "http.internal", "the handler's precheck failed"));
	}
	if (!rq->route->upload)
		return MHD_YES;
	if ((wait_s = rl_use(s->cut, rq->addr, RL_PEEK)) > 0) {
		atomic_fetch_add(&s->rejected_cut, 1);
		return mhd_result(reply_retry_after(rq, MHD_HTTP_SERVICE_UNAVAILABLE, "http.upload_cut", wait_s,
						    "uploads from this address ended unfinished too often lately (each "
						    "holds a slot and disk room while it lasts): send whole bodies"));
	}
	if ((busy = slot_take(s, rq)))
		return mhd_result(reply_retry_after(rq, MHD_HTTP_SERVICE_UNAVAILABLE, "http.busy", HTTP_BUSY_RETRY_S,
						    busy));
	rq->pace_from_s = now_s() + s->lim.upload_grace_s;
	rq->busy_from_s = worker_busy_s;
	rq->announced = (uint64_t)cl;
	if (room_claim(s, rq, cl))
		return rq->replied ? MHD_YES : MHD_NO;
	snprintf(rq->upload_path, sizeof rq->upload_path, "%s/upload-XXXXXX", s->upload_dir);
	if ((rq->fd = mkostemp(rq->upload_path, O_CLOEXEC)) < 0) {
		int e = errno;

		rq->upload_path[0] = '\0';
		return mhd_result(http_reply_error(rq, 500, "http.internal", "cannot create an upload file in %s: %s",
						   s->upload_dir, strerror(e)));
	}
	{
		struct kerr e;

		if (hash_bulk_begin(&rq->hash, &e) < 0)
			return mhd_result(http_reply_error(rq, 500, "http.internal", "%s", e.msg));
	}
	return MHD_YES;
}

/* A piece of the body: to the upload file (hashed) or the small body. */
static enum MHD_Result req_data(struct http_server *s, struct http_req *rq, const char *data, size_t n)
{
	uint64_t max = rq->route->upload ? s->lim.max_body : s->lim.max_small_body;

	atomic_fetch_add(&s->bytes_received, n);
	/* checked as bytes arrive, a body being drained included: a client
	 * that sends nothing at all is the idle timeout's */
	if (rq->route->upload && s->lim.upload_min_rate > 0) {
		double behind = now_s() - rq->pace_from_s - (worker_busy_s - rq->busy_from_s);

		if (behind > 0 && (double)(rq->bytes + rq->discarded + n) < s->lim.upload_min_rate * behind) {
			atomic_fetch_add(&s->rejected_slow, 1);
			return MHD_NO; /* no reply can go out mid-body: the connection ends */
		}
	}
	if (rq->pending_status) {
		rq->discarded += n;
		return rq->discarded > HTTP_DRAIN_BYTES_MAX ? MHD_NO : MHD_YES;
	}
	/* more than the length its disk claim was reckoned from (libmicrohttpd
	 * stops at Content-Length; this holds should that ever change) */
	if (rq->route->upload && rq->bytes + n > rq->announced) {
		atomic_fetch_add(&s->rejected_size, 1);
		return MHD_NO;
	}
	rq->bytes += n;
	if (rq->bytes > max) {
		atomic_fetch_add(&s->rejected_size, 1);
		set_pending(rq, MHD_HTTP_CONTENT_TOO_LARGE, "http.too_large",
			    "body exceeds the limit of %" PRIu64 " bytes", max);
		rq->discarded = n;
		return MHD_YES;
	}
	if (!rq->route->upload) {
		struct kerr e;

		/* within max (checked above), so only memory can fail */
		if (growbuf_append(&rq->body, data, n, &e) < 0)
			set_pending(rq, 500, "http.internal", "the body: %s", e.msg);
		return MHD_YES;
	}
	for (size_t off = 0; off < n;) {
		ssize_t w = write(rq->fd, data + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == ENOSPC || errno == EDQUOT)) {
			/* set_pending removes what was written at once, not when
			 * the client gives up */
			atomic_fetch_add(&s->rejected_disk, 1);
			set_pending(rq, 507, "http.disk_full",
				    "the disk holding uploads filled after %" PRIu64 " bytes; retry later or on another validator",
				    rq->bytes - n + off);
			return MHD_YES;
		}
		if (w <= 0) {
			set_pending(rq, 500, "http.internal", "cannot write the upload: %s",
				    w < 0 ? strerror(errno) : "short write");
			return MHD_YES;
		}
		off += (size_t)w;
	}
	owe_less(rq, n);
	hash_bulk_update(&rq->hash, data, n);
	return MHD_YES;
}

/* The body is complete: make the upload durable and run the handler. */
static enum MHD_Result req_end(struct http_server *s, struct http_req *rq)
{
	uint8_t d[HASH_BYTES];
	int rc;

	if (rq->pending_status)
		return mhd_result(http_reply_error(rq, rq->pending_status, rq->pending_code, "%s", rq->pending_msg));
	if (rq->route->upload) {
		if (fsync(rq->fd) < 0)
			return mhd_result(http_reply_error(rq, 500, "http.internal", "fsync of the upload: %s",
							   strerror(errno)));
		close(rq->fd);
		rq->fd = -1;
		hash_bulk_end(&rq->hash, d);
		hash_hex(d, rq->sha256);
	}
	/* an upload's handler does the heavy work: not on this worker */
	if (rq->route->upload == HTTP_UPLOAD && http_offload_submit(s, rq))
		return MHD_YES;
	rc = rq->route->fn(rq, s->ctx);
	if (!rq->replied)
		return mhd_result(http_reply_error(rq, 500, "http.internal",
						   rc < 0 ? "the handler failed" : "the handler did not reply"));
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct http_server *s = cls;
	struct http_req *rq = *con_cls;
	enum MHD_Result r;
	double t0;

	if (!rq) {
		if (!(rq = calloc(1, sizeof *rq)))
			return MHD_NO;
		rq->srv = s;
		rq->conn = conn;
		rq->fd = -1;
		growbuf_init(&rq->body, (size_t)s->lim.max_small_body);
		*con_cls = rq; /* freed in on_completed whatever happens next */
		atomic_fetch_add(&s->requests, 1);
		if (!(rq->method = strdup(method)) || !(rq->path = strdup(url)))
			return MHD_NO;
		t0 = now_s();
		r = req_begin(s, rq);
		worker_busy_s += now_s() - t0;
		return r;
	}
	if (rq->kept) { /* back from an offload thread */
		enum MHD_Result q = MHD_queue_response(conn, rq->kept_status, rq->kept);

		MHD_destroy_response(rq->kept);
		rq->kept = NULL;
		atomic_fetch_sub(&rq->srv->off_kept, 1);
		return q;
	}
	if (rq->replied) { /* not expected: MHD stops calling once a reply is queued */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		return req_data(s, rq, upload_data, n);
	}
	t0 = now_s();
	r = req_end(s, rq);
	worker_busy_s += now_s() - t0;
	return r;
}

/* Every request ends here, replied or not, completed or cut off: the upload
 * file no handler took is removed and the upload slot is given back. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_req *rq = *con_cls;

	/* an upload that had its slot and whose body did not end, with no
	 * refusal of ours to blame: a reply before the body ended (507 on
	 * the headers, a file that could not be made) or a disk that filled
	 * under it */
	if (rq && rq->upload_slot && rq->bytes + rq->discarded < rq->announced && !rq->pending_status &&
	    !rq->replied && toe != MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN) {
		atomic_fetch_add(&rq->srv->uploads_cut, 1);
		rl_use(rq->srv->cut, rq->addr, RL_CHARGE);
	}
	if (rq)
		req_free(rq);
	*con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct http_server *s = cls;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		atomic_fetch_add(&s->connections, 1);
	else
		atomic_fetch_sub(&s->connections, 1);
}

/* ------------------------------------------------------------- server */

/* "127.0.0.1:PORT" or "[::1]:PORT" into a socket address. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, int *v6, struct kerr *err)
{
	char host[64];
	const char *colon = strrchr(listen, ':');
	char *end;
	long port;
	size_t hl;

	if (!colon)
		return kerr_set(err, "http.bind", "listen address %s lacks :PORT", listen);
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port < 0 || port > 65535)
		return kerr_set(err, "http.bind", "bad port in %s", listen);
	hl = (size_t)(colon - listen);
	if (hl >= sizeof host)
		return kerr_set(err, "http.bind", "listen address %s too long", listen);
	memcpy(host, listen, hl);
	host[hl] = '\0';
	memset(ss, 0, sizeof *ss);
	*v6 = host[0] == '[';
	if (*v6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		if (hl < 3 || host[hl - 1] != ']')
			return kerr_set(err, "http.bind", "bad IPv6 address in %s", listen);
		host[hl - 1] = '\0';
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host + 1, &in6->sin6_addr) != 1)
			return kerr_set(err, "http.bind", "bad IPv6 address in %s", listen);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
			return kerr_set(err, "http.bind", "bad IPv4 address in %s", listen);
	}
	return 0;
}

static void server_free(struct http_server *s)
{
	if (!s)
		return;
	http_offload_free(s); /* after the daemon: its workers may still look */
	if (s->rl)
		pthread_mutex_destroy(&s->rl->mu);
	free(s->rl);
	if (s->cut)
		pthread_mutex_destroy(&s->cut->mu);
	free(s->cut);
	free(s->slots);
	pthread_mutex_destroy(&s->slots_mu);
	free(s->routes);
	pthread_mutex_destroy(&s->streams_mu);
	pthread_cond_destroy(&s->streams_cv);
	free(s);
}

int http_start(struct http_server **out, const char *listen, const struct http_route *routes, size_t nroutes,
	       const struct http_limits *lim, const char *upload_dir, void *ctx, struct kerr *err)
{
	struct http_server *s = calloc(1, sizeof *s);
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *di;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
	int v6 = 0;

	*out = NULL;
	if (!s)
		return kerr_set(err, "http.start", "out of memory");
	pthread_mutex_init(&s->streams_mu, NULL);
	pthread_cond_init(&s->streams_cv, NULL);
	pthread_mutex_init(&s->slots_mu, NULL);
	if (parse_listen(listen, &ss, &v6, err) < 0)
		goto fail;
	if (lim->threads < 1 || lim->offload_threads < 0 || lim->offload_threads > 64 || lim->max_uploads < 1 || lim->max_uploads_per_ip < 1 || lim->max_conns < 1 ||
	    lim->max_streams < 1 || lim->max_streams_per_ip < 1 ||
	    /* streams and uploads hold connections: others must remain */
	    (int64_t)lim->max_streams + lim->max_uploads >= lim->max_conns ||
	    lim->timeout_s < 1 || lim->max_header_bytes < 256 || lim->max_header_bytes > (64u << 20) ||
	    !(lim->upload_min_rate >= 0) || lim->upload_grace_s < 1) {
		kerr_set(err, "http.start",
			 "limits out of range (threads, offload threads (0..64), uploads, uploads per address, streams, connections (more than "
			 "streams and uploads together), timeout, headers, upload rate and grace)");
		goto fail;
	}
	if (strlen(upload_dir) + 16 >= sizeof s->upload_dir) {
		kerr_set(err, "http.start", "upload folder path too long");
		goto fail;
	}
	snprintf(s->upload_dir, sizeof s->upload_dir, "%s", upload_dir);
	if (lim->trusted_proxy[0]) {
		if (!memchr(lim->trusted_proxy, '\0', sizeof lim->trusted_proxy) ||
		    addr_key(lim->trusted_proxy, s->proxy_addr) < 0) {
			kerr_set(err, "http.start", "the trusted proxy %.64s is not an IPv4 or IPv6 address",
				 lim->trusted_proxy);
			goto fail;
		}
		/* the per-address connection cap is lifted for the proxy's sake
		 * (libmicrohttpd applies one cap to every peer): only a local
		 * proxy may then reach the server, or one peer could take every
		 * connection */
		if (!(v6 ? IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&ss)->sin6_addr)
			 : (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127)) {
			kerr_set(err, "http.start",
				 "a trusted proxy needs a loopback listen address (not %s): run the proxy on this "
				 "machine, in front of 127.0.0.1",
				 listen);
			goto fail;
		}
		s->proxy_set = 1;
	}
	s->lim = *lim;
	s->ctx = ctx;
	s->nroutes = nroutes;
	if (!(s->routes = calloc(nroutes ? nroutes : 1, sizeof *s->routes)) || !(s->rl = calloc(1, sizeof *s->rl)) ||
	    !(s->cut = calloc(1, sizeof *s->cut)) ||
	    !(s->slots = calloc((size_t)lim->max_uploads, sizeof *s->slots))) {
		kerr_set(err, "http.start", "out of memory");
		goto fail;
	}
	memcpy(s->routes, routes, nroutes * sizeof *routes);
	pthread_mutex_init(&s->rl->mu, NULL);
	s->rl->rate_per_s = lim->rate_per_s;
	s->rl->burst = lim->rate_burst < 1 ? 1 : lim->rate_burst;
	pthread_mutex_init(&s->cut->mu, NULL);
	s->cut->rate_per_s = lim->upload_cut_burst > 0 && lim->upload_cut_every_s > 0 ? 1.0 / lim->upload_cut_every_s : 0;
	s->cut->burst = lim->upload_cut_burst;
	if (v6)
		flags |= MHD_USE_IPv6;
	if (http_offload_start(s, lim->offload_threads, err) < 0)
		goto fail;
	s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
				MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&ss,
				MHD_OPTION_THREAD_POOL_SIZE, (unsigned)lim->threads,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)lim->timeout_s,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)lim->max_conns,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT,
				(unsigned)(s->proxy_set ? lim->max_conns : lim->max_conns_per_ip),
				MHD_OPTION_CONNECTION_MEMORY_LIMIT,
				(size_t)(2 * lim->max_header_bytes + HTTP_POOL_SLACK_BYTES),
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
				MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
				MHD_OPTION_END);
	if (!s->d) {
		kerr_set(err, "http.bind", "cannot listen on %s (address in use, or not local?)", listen);
		goto fail;
	}
	di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = di ? di->port : 0;
	*out = s;
	return 0;
fail:
	server_free(s);
	return -1;
}

int http_port(const struct http_server *s)
{
	return s->port;
}

void http_stop(struct http_server *s)
{
	if (!s)
		return;
	/* End the streams first (a suspended connection must be resumed
	 * before MHD_stop_daemon; once stopping, no new one is opened: 503),
	 * then stop, which closes the listening socket and every connection.
	 * Not MHD_quiesce_daemon: with a thread pool on epoll it takes the
	 * listening socket out of each worker's epoll set from this thread, and
	 * aborts the process ("Failed to remove listen FD from epoll set") when
	 * a worker has just done the same at its connection limit, which a
	 * test run here hit once. */
	http_sse_close_server(s);
	http_offload_stop(s);
	MHD_stop_daemon(s->d);
	server_free(s);
}

void http_stats(const struct http_server *s, struct http_stats *out)
{
	struct http_server *m = (struct http_server *)s; /* atomics read through a non-const lvalue */

	out->requests = atomic_load(&m->requests);
	out->bytes_received = atomic_load(&m->bytes_received);
	out->uploads_in_flight = (uint64_t)atomic_load(&m->uploads_in_flight);
	out->connections = atomic_load(&m->connections);
	out->rejected_rate = atomic_load(&m->rejected_rate);
	out->rejected_size = atomic_load(&m->rejected_size);
	out->rejected_disk = atomic_load(&m->rejected_disk);
	out->rejected_slow = atomic_load(&m->rejected_slow);
	out->rejected_cut = atomic_load(&m->rejected_cut);
	out->uploads_cut = atomic_load(&m->uploads_cut);
	out->upload_owed = atomic_load(&m->upload_owed);
}
