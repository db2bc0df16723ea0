/* http_sse.c: Server-Sent Events for http.c. Owns the hub (the streams,
 * publishing to all of them, the keep-alive ticker) and each stream's
 * bounded backlog. A stream with nothing to send is a suspended connection,
 * so it pins no worker thread; publishing resumes it. Never buffers without
 * bound: a stream that falls SSE_BACKLOG_MAX events behind is closed.
 *
 * Locks: hub->mu before stream->mu; srv->streams_mu before stream->mu; a
 * stream's free callback takes hub->mu and srv->streams_mu one after the
 * other, never with stream->mu held. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "net/http_internal.h"

#define SSE_BACKLOG_MAX 256       /* events a stream may fall behind before it is closed */
#define SSE_KEEPALIVE_S 15        /* a comment this often keeps proxies and clients from timing out */
#define SSE_KEEPALIVE_ENV "KARPA_TEST_SSE_KEEPALIVE_MS" /* test build only, see keepalive_ms */
#define SSE_STOP_WAIT_MS 2000     /* http_stop waits this long for streams to let go */
#define SSE_EVENT_NAME_MAX 64
#define SSE_DATA_BYTES_MAX (1u << 20) /* one event's data; larger ones are dropped */

static const char SSE_HELLO[] = ": connected\n\n";
static const char SSE_PING[] = ": keep-alive\n\n";

struct http_stream {
	struct http_sse *hub;
	struct http_server *srv;
	struct MHD_Connection *conn;
	MHD_socket fd; /* the connection's socket, for hang_up */
	unsigned char addr[16]; /* the client's (http_req.addr), for max_streams_per_ip */
	pthread_mutex_t mu;
	char *q[SSE_BACKLOG_MAX]; /* formatted events waiting, oldest at head */
	size_t head, n;
	char *cur; /* the event being written, and how much of it went */
	size_t cur_len, cur_off;
	int suspended, closing;
	struct http_stream *hub_prev, *hub_next, *srv_prev, *srv_next;
};

struct http_sse {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct http_stream *streams;
	size_t nstreams;
	uint64_t next_id;
	int quit, ticker_started;
	long keepalive_ms;
	pthread_t ticker;
};

/* The keep-alive period. The test build (KARPA_TEST_HOOKS) lets a test
 * shorten it through the environment; a release server always uses 15 s. */
static long keepalive_ms(void)
{
#ifdef KARPA_TEST_HOOKS
	const char *v = getenv(SSE_KEEPALIVE_ENV);

	if (v && atol(v) > 0)
		return atol(v);
#endif
	return SSE_KEEPALIVE_S * 1000L;
}

/* With s->mu held: wakes a stream that waits for data. */
static void wake(struct http_stream *s)
{
	if (s->suspended) {
		s->suspended = 0;
		MHD_resume_connection(s->conn);
	}
}

/* With s->mu held, and hub->mu or srv->streams_mu (either keeps stream_free,
 * and so the socket's close, from running): ends the stream. A parked
 * stream is woken to end itself; one that is not parked may be stuck on a
 * socket its client stopped reading, where MHD would not call stream_read
 * again until the idle timeout, so its socket is shut down as well. */
static void hang_up(struct http_stream *s)
{
	s->closing = 1;
	if (s->suspended)
		wake(s);
	else
		shutdown(s->fd, SHUT_RDWR);
}

/* With s->mu held (see hang_up): appends an event (taken); closes the
 * stream when its backlog is full rather than buffering without bound. */
static void push(struct http_stream *s, char *ev)
{
	if (s->closing) {
		free(ev);
		return;
	}
	if (s->n == SSE_BACKLOG_MAX) {
		free(ev);
		hang_up(s);
		return;
	} else {
		s->q[(s->head + s->n) % SSE_BACKLOG_MAX] = ev;
		s->n++;
	}
	wake(s);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct http_stream *s = cls;
	size_t n = 0;

	pthread_mutex_lock(&s->mu);
	if (s->closing) {
		pthread_mutex_unlock(&s->mu);
		return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	while (n < max) {
		size_t k;

		if (!s->cur) {
			if (!s->n)
				break;
			s->cur = s->q[s->head];
			s->head = (s->head + 1) % SSE_BACKLOG_MAX;
			s->n--;
			s->cur_len = strlen(s->cur);
			s->cur_off = 0;
		}
		k = s->cur_len - s->cur_off;
		if (k > max - n)
			k = max - n;
		memcpy(buf + n, s->cur + s->cur_off, k);
		n += k;
		s->cur_off += k;
		if (s->cur_off == s->cur_len) {
			free(s->cur);
			s->cur = NULL;
		}
	}
	if (!n) { /* nothing to send: park the connection until publish wakes it */
		s->suspended = 1;
		MHD_suspend_connection(s->conn);
	}
	pthread_mutex_unlock(&s->mu);
	return (ssize_t)n;
}

/* The response is gone (connection closed, or queueing failed). */
static void stream_free(void *cls)
{
	struct http_stream *s = cls;

	pthread_mutex_lock(&s->hub->mu);
	if (s->hub_prev)
		s->hub_prev->hub_next = s->hub_next;
	else
		s->hub->streams = s->hub_next;
	if (s->hub_next)
		s->hub_next->hub_prev = s->hub_prev;
	s->hub->nstreams--;
	pthread_mutex_unlock(&s->hub->mu);

	pthread_mutex_lock(&s->srv->streams_mu);
	if (s->srv_prev)
		s->srv_prev->srv_next = s->srv_next;
	else
		s->srv->streams = s->srv_next;
	if (s->srv_next)
		s->srv_next->srv_prev = s->srv_prev;
	s->srv->nstreams--;
	pthread_cond_broadcast(&s->srv->streams_cv);
	pthread_mutex_unlock(&s->srv->streams_mu);

	while (s->n) {
		free(s->q[s->head]);
		s->head = (s->head + 1) % SSE_BACKLOG_MAX;
		s->n--;
	}
	free(s->cur);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

int http_reply_sse(struct http_req *rq, struct http_sse *h)
{
	struct http_server *srv = rq->srv;
	const union MHD_ConnectionInfo *ci;
	struct http_stream *s = calloc(1, sizeof *s);
	struct MHD_Response *r;
	char *hello = strdup(SSE_HELLO);

	if (!s || !hello) {
		free(s);
		free(hello);
		return http_reply_error(rq, 500, "http.internal", "out of memory for a stream");
	}
	s->hub = h;
	s->srv = srv;
	s->conn = rq->conn;
	ci = MHD_get_connection_info(rq->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	s->fd = ci ? ci->connect_fd : MHD_INVALID_SOCKET;
	pthread_mutex_init(&s->mu, NULL);
	s->q[0] = hello; /* first bytes out: the client knows it is subscribed */
	s->n = 1;

	memcpy(s->addr, rq->addr, sizeof s->addr);

	pthread_mutex_lock(&srv->streams_mu);
	{
		const char *busy = NULL;
		int mine = 0;

		for (struct http_stream *o = srv->streams; o; o = o->srv_next)
			mine += !memcmp(o->addr, s->addr, sizeof s->addr);
		if (srv->stopping)
			busy = "the server is stopping";
		else if (srv->nstreams >= (size_t)srv->lim.max_streams)
			busy = "too many event streams open";
		else if (mine >= srv->lim.max_streams_per_ip)
			busy = "too many event streams open from this address";
		if (busy) {
			pthread_mutex_unlock(&srv->streams_mu);
			free(hello);
			pthread_mutex_destroy(&s->mu);
			free(s);
			http_reply_header(rq, "Retry-After", "5");
			return http_reply_error(rq, 503, "http.busy", "%s", busy);
		}
	}
	s->srv_next = srv->streams;
	if (srv->streams)
		srv->streams->srv_prev = s;
	srv->streams = s;
	srv->nstreams++;
	pthread_mutex_unlock(&srv->streams_mu);

	pthread_mutex_lock(&h->mu);
	s->hub_next = h->streams;
	if (h->streams)
		h->streams->hub_prev = s;
	h->streams = s;
	h->nstreams++;
	pthread_mutex_unlock(&h->mu);

	/* From here the response owns s: stream_free runs when it is destroyed. */
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, s, stream_free);
	if (!r) {
		stream_free(s);
		return http_reply_error(rq, 500, "http.internal", "cannot create a stream");
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	return http_queue(rq, MHD_HTTP_OK, r);
}

/* Sends a keep-alive comment to every stream with nothing queued. */
static void *ticker(void *arg)
{
	struct http_sse *h = arg;
	struct timespec until;

	pthread_mutex_lock(&h->mu);
	while (!h->quit) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += h->keepalive_ms / 1000;
		until.tv_nsec += (h->keepalive_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (!h->quit && pthread_cond_timedwait(&h->cv, &h->mu, &until) != ETIMEDOUT)
			;
		if (h->quit)
			break;
		for (struct http_stream *s = h->streams; s; s = s->hub_next) {
			char *ping;

			pthread_mutex_lock(&s->mu);
			if (!s->n && !s->cur && (ping = strdup(SSE_PING)))
				push(s, ping);
			pthread_mutex_unlock(&s->mu);
		}
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

struct http_sse *http_sse_new(void)
{
	struct http_sse *h = calloc(1, sizeof *h);

	if (!h)
		return NULL;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	h->next_id = 1;
	h->keepalive_ms = keepalive_ms();
	if (pthread_create(&h->ticker, NULL, ticker, h) != 0) {
		pthread_mutex_destroy(&h->mu);
		pthread_cond_destroy(&h->cv);
		free(h);
		return NULL;
	}
	h->ticker_started = 1;
	return h;
}

void http_sse_free(struct http_sse *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->mu);
	h->quit = 1;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
	if (h->ticker_started)
		pthread_join(h->ticker, NULL);
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cv);
	free(h);
}

/* Appends "data: line\n" for each line of text (the SSE framing has no
 * escape for a newline inside a field). Returns the new length. */
static size_t put_data(char *out, size_t off, const char *text)
{
	const char *p = text;

	for (;;) {
		size_t n = strcspn(p, "\r\n");

		memcpy(out + off, "data: ", 6);
		memcpy(out + off + 6, p, n);
		off += 6 + n;
		out[off++] = '\n';
		p += n;
		if (!*p)
			break;
		p += (p[0] == '\r' && p[1] == '\n') ? 2 : 1;
	}
	return off;
}

void http_sse_publish(struct http_sse *h, const char *event, const char *json_data)
{
	char name[SSE_EVENT_NAME_MAX];
	size_t dl, lines = 1, cap, off;
	char *ev;

	if (!json_data)
		json_data = "null";
	dl = strlen(json_data);
	if (dl > SSE_DATA_BYTES_MAX)
		return;
	for (const char *p = json_data; *p; p++)
		lines += *p == '\n' || *p == '\r';
	snprintf(name, sizeof name, "%s", event ? event : "message");
	name[strcspn(name, "\r\n")] = '\0';
	cap = 64 + sizeof name + dl + 7 * lines;
	pthread_mutex_lock(&h->mu);
	if (!(ev = malloc(cap))) {
		pthread_mutex_unlock(&h->mu);
		return;
	}
	off = (size_t)snprintf(ev, cap, "id: %llu\nevent: %s\n", (unsigned long long)h->next_id++, name);
	off = put_data(ev, off, json_data);
	ev[off++] = '\n';
	ev[off] = '\0';
	for (struct http_stream *s = h->streams; s; s = s->hub_next) {
		char *copy = strdup(ev);

		pthread_mutex_lock(&s->mu);
		if (copy)
			push(s, copy);
		else
			hang_up(s);
		pthread_mutex_unlock(&s->mu);
	}
	pthread_mutex_unlock(&h->mu);
	free(ev);
}

size_t http_sse_clients(struct http_sse *h)
{
	size_t n;

	pthread_mutex_lock(&h->mu);
	n = h->nstreams;
	pthread_mutex_unlock(&h->mu);
	return n;
}

void http_sse_close_server(struct http_server *srv)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += SSE_STOP_WAIT_MS / 1000;
	until.tv_nsec += (long)(SSE_STOP_WAIT_MS % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&srv->streams_mu);
	srv->stopping = 1;
	for (struct http_stream *s = srv->streams; s; s = s->srv_next) {
		pthread_mutex_lock(&s->mu);
		hang_up(s);
		pthread_mutex_unlock(&s->mu);
	}
	while (srv->nstreams && pthread_cond_timedwait(&srv->streams_cv, &srv->streams_mu, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&srv->streams_mu);
}
