/* http_offload.c: the threads an upload route's handler runs on. Such a
 * handler does the heavy work of a request (a validator verifies a bundle
 * it received, gigabytes at the gpu-* scales; a quick one, HTTP_UPLOAD_QUICK,
 * is not handed over), and on one of libmicrohttpd's few workers it would hold every
 * other connection that worker serves, the dashboard's and the king's
 * included, for as long. Here the connection is suspended, the handler
 * runs on an offload thread, its reply is kept on the request, and the
 * connection is resumed: libmicrohttpd then calls on_request again, which
 * queues the kept reply (http.c). */
#include "net/http_internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct http_offload {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct http_req *head, *tail; /* waiting, oldest first (rq->off_next) */
	pthread_t *th;
	int nth;
	int stopping;
};

static void run_one(struct http_server *s, struct http_req *rq)
{
	int rc = rq->route->fn(rq, s->ctx);

	if (!rq->replied)
		http_reply_error(rq, 500, "http.internal", rc < 0 ? "the handler failed" : "the handler did not reply");
	if (rq->kept)
		atomic_fetch_add(&s->off_kept, 1);
	MHD_resume_connection(rq->conn);
}

static void *worker(void *arg)
{
	struct http_server *s = arg;
	struct http_offload *o = s->off;

	pthread_mutex_lock(&o->mu);
	for (;;) {
		struct http_req *rq;

		while (!o->head && !o->stopping)
			pthread_cond_wait(&o->cv, &o->mu);
		/* stopping: what was handed over is still run, every suspended
		 * connection resumed before the daemon stops */
		if (!(rq = o->head))
			break;
		o->head = rq->off_next;
		if (!o->head)
			o->tail = NULL;
		pthread_mutex_unlock(&o->mu);
		run_one(s, rq);
		pthread_mutex_lock(&o->mu);
	}
	pthread_mutex_unlock(&o->mu);
	return NULL;
}

int http_offload_start(struct http_server *s, int threads, struct kerr *err)
{
	struct http_offload *o;

	if (threads <= 0)
		return 0;
	if (!(o = calloc(1, sizeof *o)) || !(o->th = calloc((size_t)threads, sizeof *o->th))) {
		free(o);
		return kerr_set(err, "http.start", "out of memory for %d offload threads", threads);
	}
	pthread_mutex_init(&o->mu, NULL);
	pthread_cond_init(&o->cv, NULL);
	s->off = o;
	for (; o->nth < threads; o->nth++)
		if (pthread_create(&o->th[o->nth], NULL, worker, s) != 0) {
			http_offload_stop(s);
			return kerr_set(err, "http.start", "could not start the offload threads");
		}
	return 0;
}

int http_offload_submit(struct http_server *s, struct http_req *rq)
{
	struct http_offload *o = s->off;

	if (!o)
		return 0;
	pthread_mutex_lock(&o->mu);
	if (o->stopping) {
		pthread_mutex_unlock(&o->mu);
		return 0;
	}
	/* suspended before any thread can see it: run_one's resume always
	 * follows this suspend */
	rq->offloaded = 1;
	MHD_suspend_connection(rq->conn);
	rq->off_next = NULL;
	if (o->tail)
		o->tail->off_next = rq;
	else
		o->head = rq;
	o->tail = rq;
	pthread_cond_signal(&o->cv);
	pthread_mutex_unlock(&o->mu);
	return 1;
}

void http_offload_stop(struct http_server *s)
{
	struct http_offload *o = s->off;

	if (!o)
		return;
	pthread_mutex_lock(&o->mu);
	if (o->stopping) {
		pthread_mutex_unlock(&o->mu);
		return;
	}
	o->stopping = 1;
	pthread_cond_broadcast(&o->cv);
	pthread_mutex_unlock(&o->mu);
	for (int i = 0; i < o->nth; i++)
		pthread_join(o->th[i], NULL);
	/* a reply its handler made is worth sending before the daemon stops
	 * (a client told nothing sends it all again): the workers queue them
	 * at once; bounded, in case one never comes back */
	for (int i = 0; i < 500 && atomic_load(&s->off_kept) > 0; i++)
		usleep(10 * 1000);
}

void http_offload_free(struct http_server *s)
{
	struct http_offload *o = s->off;

	if (!o)
		return;
	http_offload_stop(s);
	pthread_mutex_destroy(&o->mu);
	pthread_cond_destroy(&o->cv);
	free(o->th);
	free(o);
	s->off = NULL;
}
