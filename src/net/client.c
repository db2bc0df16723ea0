/* client.c: the HTTP client of Karpa's services (libcurl easy API). Owns
 * retries (transport errors and 5xx, exponential backoff with jitter, at
 * most opts.tries attempts; never a 4xx), per-attempt timeouts, upload
 * progress, atomic downloads, and turning the service's error shape back
 * into a kerr. Never trusts a reply's size or its error code's spelling. */
#include "net/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/fsutil.h"
#include "util/growbuf.h"
#include "util/jsonmem.h"
#include "util/hash.h"
#include "util/retry_after.h"
#include "util/termtext.h"

#define CLIENT_REPLY_BYTES_MAX (16u << 20) /* a JSON reply or an error body */
/* ... and its JSON values, counted before parsing (jsonmem_values_over):
 * a hostile validator's 16 MiB of [0,0,...] would cost about 270 MiB of
 * heap; the largest honest reply (a page of the corpus) holds thousands */
#define CLIENT_REPLY_VALUES_MAX (1u << 17)
#define CLIENT_CONNECT_TIMEOUT_S 10
#define CLIENT_BACKOFF_BASE_MS 100
#define CLIENT_BACKOFF_MAX_MS 5000
#define CLIENT_RETRY_AFTER_MAX_S 30 /* a server's Retry-After is honoured up to this */
#define CLIENT_PROGRESS_EVERY_S 0.5
#define CLIENT_TRIES_MAX 100
/* An upload's attempt is given timeout_s and its length at this rate:
 * a 12 GB GPU proof needs 20 MB/s to fit 600 s, and a miner's link may
 * have a tenth of that. */
#define CLIENT_UPLOAD_FLOOR_BPS (256.0 * 1024)
/* What ends a transfer that stalls, whatever its allowance: under
 * CLIENT_STALL_BPS for CLIENT_STALL_S. Longer than a validator takes to
 * verify a large bundle before it replies (nothing flows meanwhile). */
#define CLIENT_STALL_BPS 1024L
#define CLIENT_STALL_S 300L

int client_url(char *out, size_t cap, const char *base, const char *path, struct kerr *err)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *full = NULL, *part = NULL;
	static const CURLUPart extras[] = { CURLUPART_USER, CURLUPART_QUERY, CURLUPART_FRAGMENT };
	size_t n;
	int rc = -1;

	if (!u)
		return kerr_set(err, "client.nomem", "out of memory parsing a URL");
	/* libcurl's own parser, so that what is checked here is what it will
	 * fetch: the scheme's case does not matter, a host must be there */
	if (curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcmp(scheme, "http") && strcmp(scheme, "https")) ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host[0]) {
		kerr_set(err, "client.bad_url", "'%.200s' is not an http:// or https:// URL with a host", base);
		goto out;
	}
	/* Paths are appended to it: a query or fragment would swallow them,
	 * and a password would be printed with every error that names it. */
	for (size_t i = 0; i < sizeof extras / sizeof extras[0]; i++)
		if (curl_url_get(u, extras[i], &part, 0) == CURLUE_OK) {
			kerr_set(err, "client.bad_url", "'%.200s': a validator's URL has no user, query or fragment",
				 base);
			goto out;
		}
	if (curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK) {
		kerr_set(err, "client.bad_url", "'%.200s' cannot be written back as a URL", base);
		goto out;
	}
	n = strlen(full);
	while (n > 0 && full[n - 1] == '/')
		n--;
	if ((size_t)snprintf(out, cap, "%.*s%s", (int)n, full, path) >= cap) {
		kerr_set(err, "client.bad_url", "URL too long");
		goto out;
	}
	rc = 0;
out:
	curl_free(part);
	curl_free(full);
	curl_free(host);
	curl_free(scheme);
	curl_url_cleanup(u);
	return rc;
}

void client_opts_default(struct client_opts *o)
{
	memset(o, 0, sizeof *o); /* a field added later is not left to the stack */
	o->tries = 5;
	o->timeout_s = 600;
	o->file_bytes_max = CLIENT_FILE_BYTES_MAX;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_ok;

static void curl_init_once(void)
{
	curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

static double mono_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* One request's state across its attempts. */
struct xfer {
	CURL *c;
	const char *url;
	const struct client_opts *o;
	/* the reply body: in memory, or (a 2xx of a download) in the file */
	struct growbuf mem;
	int too_big;
	struct fs_atomic *file;
	uint64_t file_bytes; /* written to it in this attempt */
	int file_failed;
	struct kerr file_err;
	long retry_after_s;
	/* upload */
	int up_fd;
	uint64_t up_bytes;
	/* bytes read for sending, every attempt counted (a peer that stops
	 * reading short of the end still costs what it read), and the most
	 * it may cost (0: no limit): past it the transfer is aborted */
	uint64_t up_sent, up_budget;
	double t0_s, last_progress_s;
	int progress_shown;
};

static size_t on_body(char *p, size_t sz, size_t nm, void *cls)
{
	struct xfer *x = cls;
	size_t n = sz * nm;
	long status = 0;
	struct kerr e;

	curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &status);
	if (x->file && status >= 200 && status < 300) {
		if (x->o->file_bytes_max && n > x->o->file_bytes_max - x->file_bytes) {
			kerr_set(&x->file_err, "client.too_large", "%s: the reply passes %llu MiB, the most kept", x->url,
				 (unsigned long long)(x->o->file_bytes_max >> 20));
			x->file_failed = 1;
			return 0;
		}
		x->file_bytes += n;
		if (fs_atomic_write(x->file, p, n, &x->file_err) < 0) {
			x->file_failed = 1;
			return 0;
		}
		return n;
	}
	if (growbuf_append(&x->mem, p, n, &e) < 0) {
		x->too_big = 1;
		return 0;
	}
	return n;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *cls)
{
	struct xfer *x = cls;

	retry_after_line(p, sz * nm, time(NULL), &x->retry_after_s);
	return sz * nm;
}

static size_t on_read(char *buf, size_t sz, size_t nm, void *cls)
{
	struct xfer *x = cls;
	ssize_t r;

	size_t want = sz * nm;

	if (x->up_budget) {
		if (x->up_sent >= x->up_budget)
			return CURL_READFUNC_ABORT;
		if (want > x->up_budget - x->up_sent)
			want = (size_t)(x->up_budget - x->up_sent);
	}
	do
		r = read(x->up_fd, buf, want);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return CURL_READFUNC_ABORT;
	x->up_sent += (uint64_t)r;
	return (size_t)r;
}

static int on_seek(void *cls, curl_off_t off, int origin)
{
	struct xfer *x = cls;

	return lseek(x->up_fd, (off_t)off, origin) < 0 ? CURL_SEEKFUNC_FAIL : CURL_SEEKFUNC_OK;
}

static void show_progress(struct xfer *x, curl_off_t done, curl_off_t total, int final)
{
	double el = mono_s() - x->t0_s;
	double mbs = el > 0 ? (double)done / el / 1e6 : 0;
	int pct = total > 0 ? (int)(100.0 * (double)done / (double)total) : 0;

	fprintf(stderr, "\rupload %3d%%  %.1f / %.1f MB  %.1f MB/s%s", pct, (double)done / 1e6,
		(double)total / 1e6, mbs, final ? "\n" : "");
	x->progress_shown = 1;
}

static int on_progress(void *cls, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	struct xfer *x = cls;
	double now = mono_s();

	if (ultotal > 0 && now - x->last_progress_s >= CLIENT_PROGRESS_EVERY_S) {
		x->last_progress_s = now;
		show_progress(x, ulnow, ultotal, 0);
	}
	return 0;
}

/* A service's reason code is trusted only in its house spelling. */
static int code_shaped(const char *s)
{
	size_t n = strlen(s);
	int dot = 0;

	if (n == 0 || n >= KERR_CODE_MAX || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		dot += ch == '.';
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '.'))
			return 0;
	}
	return dot > 0;
}

/* A non-2xx reply: the service's error shape becomes err with its code. */
static int map_error(struct xfer *x, long status, struct kerr *err)
{
	json_t *j = x->mem.buf && !jsonmem_values_over(x->mem.buf, x->mem.len, CLIENT_REPLY_VALUES_MAX)
			    ? json_loadb(x->mem.buf, x->mem.len, 0, NULL)
			    : NULL;
	json_t *e = json_object_get(j, "error");
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *msg = json_string_value(json_object_get(e, "message"));

	if (code && msg && code_shaped(code)) {
		char line[KERR_MSG_MAX];

		snprintf(line, sizeof line, "%s", msg);
		/* one line, and no terminal commands, whatever the server sent:
		 * the message is printed where the code is */
		termtext_clean(line, ' ');
		kerr_set(err, code, "%s", line);
	} else {
		kerr_set(err, "client.bad_reply", "%s answered HTTP %ld without the error shape", x->url, status);
	}
	json_decref(j);
	return -1;
}

static int retryable(CURLcode rc)
{
	return rc != CURLE_UNSUPPORTED_PROTOCOL && rc != CURLE_URL_MALFORMAT && rc != CURLE_READ_ERROR &&
	       rc != CURLE_ABORTED_BY_CALLBACK && rc != CURLE_OUT_OF_MEMORY;
}

/* The code of a transfer that failed: client.connect only for what may
 * pass (the service down, slow or unreachable), which a caller may try
 * again later; a URL the client cannot use, an upload it cannot read or
 * memory it lacks would fail the same way every time. */
static const char *transfer_code(CURLcode rc)
{
	switch (rc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return "client.bad_url";
	case CURLE_READ_ERROR:
		return "fs.read";
	case CURLE_OUT_OF_MEMORY:
		return "client.nomem";
	default:
		return retryable(rc) ? "client.connect" : "client.aborted";
	}
}

static void backoff(int attempt, long retry_after_s)
{
	long ms = CLIENT_BACKOFF_BASE_MS << (attempt < 16 ? attempt : 16);
	struct timespec t;

	if (ms > CLIENT_BACKOFF_MAX_MS)
		ms = CLIENT_BACKOFF_MAX_MS;
	ms = ms / 2 + (long)arc4random_uniform((uint32_t)(ms / 2 + 1)); /* jitter: many clients do not retry in step */
	if (retry_after_s > CLIENT_RETRY_AFTER_MAX_S)
		retry_after_s = CLIENT_RETRY_AFTER_MAX_S;
	if (retry_after_s * 1000 > ms) /* the server knows better when it will have room */
		ms = retry_after_s * 1000;
	t.tv_sec = ms / 1000;
	t.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&t, &t) < 0 && errno == EINTR)
		;
}

static curl_off_t uploaded(struct xfer *x)
{
	curl_off_t up = 0;

	curl_easy_getinfo(x->c, CURLINFO_SIZE_UPLOAD_T, &up);
	return up;
}

/* Runs the request with retries. 0 with *status on a 2xx (body in x->mem,
 * or in x->file, not yet committed); -1 with err otherwise. */
static int perform(struct xfer *x, const char *download_path, long *status, struct kerr *err)
{
	const struct client_opts *o = x->o;
	int tries = o->tries < 1 ? 1 : (o->tries > CLIENT_TRIES_MAX ? CLIENT_TRIES_MAX : o->tries);
	char errbuf[CURL_ERROR_SIZE];
	CURLcode rc = CURLE_OK;
	long st = 0;

	curl_easy_setopt(x->c, CURLOPT_URL, x->url);
	curl_easy_setopt(x->c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(x->c, CURLOPT_CONNECTTIMEOUT, (long)CLIENT_CONNECT_TIMEOUT_S);
	curl_easy_setopt(x->c, CURLOPT_TIMEOUT_MS,
			 (long)(o->timeout_s > 0 ? (o->timeout_s + (double)x->up_bytes / CLIENT_UPLOAD_FLOOR_BPS) * 1000 : 0));
	curl_easy_setopt(x->c, CURLOPT_LOW_SPEED_LIMIT, CLIENT_STALL_BPS);
	curl_easy_setopt(x->c, CURLOPT_LOW_SPEED_TIME, CLIENT_STALL_S);
	curl_easy_setopt(x->c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(x->c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(x->c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(x->c, CURLOPT_ERRORBUFFER, errbuf);
	for (int attempt = 0; attempt < tries; attempt++) {
		if (attempt)
			backoff(attempt - 1, x->retry_after_s);
		growbuf_reset(&x->mem);
		x->too_big = 0;
		x->retry_after_s = 0;
		errbuf[0] = '\0';
		st = 0;
		if (status)
			*status = 0; /* this attempt's, not an earlier one's */
		if (download_path) {
			x->file_bytes = 0;
			fs_atomic_abort(x->file);
			if (fs_atomic_open(x->file, download_path, 0644, 0, err) < 0)
				return -1;
		}
		if (x->up_fd >= 0) {
			if (lseek(x->up_fd, 0, SEEK_SET) < 0)
				return kerr_errno(err, "fs.read", "rewind of the upload");
			x->t0_s = mono_s();
			x->last_progress_s = 0;
		}
		rc = curl_easy_perform(x->c);
		curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &st);
		if (x->progress_shown) {
			curl_off_t up = 0, total = 0;

			curl_easy_getinfo(x->c, CURLINFO_SIZE_UPLOAD_T, &up);
			curl_easy_getinfo(x->c, CURLINFO_CONTENT_LENGTH_UPLOAD_T, &total);
			show_progress(x, up, total, 1);
			x->progress_shown = 0;
		}
		if (x->file_failed) {
			*err = x->file_err;
			return -1;
		}
		if (x->too_big)
			return kerr_set(err, "client.bad_reply", "%s: reply over %u bytes", x->url,
					CLIENT_REPLY_BYTES_MAX);
		if (rc != CURLE_OK) {
			/* the body went out whole and no answer came: the server
			 * may be checking it still (its queue for checks is first
			 * come, first served) or have taken it; sent again here, a
			 * server that cannot see the client leave checks each copy */
			if (x->up_fd >= 0 && x->up_bytes > CLIENT_RESEND_FREE_BYTES && (uint64_t)uploaded(x) >= x->up_bytes)
				return kerr_set(err, "client.unanswered", "%s: the whole body went out and no answer came (%s)",
						x->url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
			if (!retryable(rc))
				break;
			continue;
		}
		if (status)
			*status = st;
		/* An upload whose body went out whole is not sent again here
		 * on a 5xx: the server read it and said no (busy, a full queue,
		 * a fault), and the caller's own wait governs when to send it
		 * again; retried here, every such answer cost five bodies of
		 * up to gigabytes. Refused on its headers, or small, it costs
		 * little, and is retried. */
		if (st >= 500 && x->up_fd >= 0 && x->up_bytes > CLIENT_RESEND_FREE_BYTES &&
		    (uint64_t)uploaded(x) >= x->up_bytes)
			break;
		if (st >= 500)
			continue;
		if (st < 200 || st >= 300)
			return map_error(x, st, err);
		return 0;
	}
	if (rc != CURLE_OK)
		return kerr_set(err, transfer_code(rc), "%s: %s", x->url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
	return map_error(x, st, err); /* the last try was a 5xx */
}

static int xfer_begin(struct xfer *x, const char *url, const struct client_opts *o, struct kerr *err)
{
	memset(x, 0, sizeof *x);
	x->url = url;
	x->o = o;
	x->up_fd = -1;
	growbuf_init(&x->mem, CLIENT_REPLY_BYTES_MAX);
	pthread_once(&curl_once, curl_init_once);
	if (!curl_ok || !(x->c = curl_easy_init()))
		return kerr_set(err, "client.connect", "libcurl cannot start");
	return 0;
}

static void xfer_end(struct xfer *x)
{
	if (x->c)
		curl_easy_cleanup(x->c);
	if (x->up_fd >= 0)
		close(x->up_fd);
	growbuf_free(&x->mem);
}

static int parse_json(struct xfer *x, json_t **out, struct kerr *err)
{
	json_error_t je;

	if (x->mem.buf && jsonmem_values_over(x->mem.buf, x->mem.len, CLIENT_REPLY_VALUES_MAX))
		return kerr_set(err, "client.bad_reply", "%s: reply holds more than %u JSON values", x->url,
				CLIENT_REPLY_VALUES_MAX);
	if (!x->mem.buf || !(*out = json_loadb(x->mem.buf, x->mem.len, 0, &je)))
		return kerr_set(err, "client.bad_reply", "%s: reply is not JSON%s%s", x->url, x->mem.buf ? ": " : "",
				x->mem.buf ? je.text : "");
	return 0;
}

int client_get_json(const char *url, const struct client_opts *o, json_t **out, long *status, struct kerr *err)
{
	struct xfer x;
	int rc = -1;

	*out = NULL;
	if (status)
		*status = 0;
	if (xfer_begin(&x, url, o, err) < 0)
		goto out;
	curl_easy_setopt(x.c, CURLOPT_HTTPGET, 1L);
	if (perform(&x, NULL, status, err) < 0)
		goto out;
	rc = parse_json(&x, out, err);
out:
	xfer_end(&x);
	return rc;
}

int client_get_file(const char *url, const struct client_opts *o, const char *path, long *status,
		    struct kerr *err)
{
	struct fs_atomic file = { 0 };
	struct xfer x;
	int rc = -1;

	if (status)
		*status = 0;
	if (xfer_begin(&x, url, o, err) < 0)
		goto out;
	x.file = &file;
	curl_easy_setopt(x.c, CURLOPT_HTTPGET, 1L);
	if (perform(&x, path, status, err) < 0)
		goto out;
	rc = fs_atomic_commit(&file, err);
out:
	fs_atomic_abort(&file);
	xfer_end(&x);
	return rc;
}

/* client_post_file reading at most budget bytes of the file over all its
 * tries (0: no limit; past it, client.aborted), and *sent (may be NULL):
 * the bytes it read for sending, whatever the replies. */
static int post_file(const char *url, const char *path, const struct client_opts *o, json_t **out, long *status,
		     uint64_t budget, uint64_t *sent, struct kerr *err)
{
	struct curl_slist *hdrs = NULL;
	struct stat sb;
	struct xfer x;
	int rc = -1;

	*out = NULL;
	if (status)
		*status = 0;
	if (xfer_begin(&x, url, o, err) < 0)
		goto out;
	if ((x.up_fd = fs_open_regular(path, 0, &sb, err)) < 0)
		goto out;
	hdrs = curl_slist_append(hdrs, "Content-Type: application/x-tar");
	if (o->miner && hash_is_hex(o->miner, CLIENT_MINER_HEX)) {
		char h[sizeof CLIENT_MINER_HEADER + CLIENT_MINER_HEX + 2];

		snprintf(h, sizeof h, "%s: %s", CLIENT_MINER_HEADER, o->miner);
		hdrs = curl_slist_append(hdrs, h);
	}
	curl_easy_setopt(x.c, CURLOPT_POST, 1L);
	curl_easy_setopt(x.c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(x.c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)sb.st_size);
	x.up_bytes = (uint64_t)sb.st_size;
	x.up_budget = budget;
	curl_easy_setopt(x.c, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(x.c, CURLOPT_READDATA, &x);
	curl_easy_setopt(x.c, CURLOPT_SEEKFUNCTION, on_seek);
	curl_easy_setopt(x.c, CURLOPT_SEEKDATA, &x);
	if (o->progress) {
		curl_easy_setopt(x.c, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(x.c, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(x.c, CURLOPT_XFERINFODATA, &x);
	}
	if (perform(&x, NULL, status, err) < 0)
		goto out;
	rc = parse_json(&x, out, err);
out:
	if (sent)
		*sent = x.up_sent;
	curl_slist_free_all(hdrs);
	xfer_end(&x);
	return rc;
}

int client_post_file(const char *url, const char *path, const struct client_opts *o, json_t **out, long *status,
		     struct kerr *err)
{
	return post_file(url, path, o, out, status, 0, NULL, err);
}

int client_held_wanted(const json_t *item)
{
	const json_t *held = json_object_get(item, "held"), *e;
	size_t i;

	if (!held || json_is_true(json_object_get(held, "ready")))
		return 0;
	json_array_foreach(json_object_get(held, "needs"), i, e)
		if (!json_is_true(json_object_get(e, "arrived")))
			return 1;
	return 0;
}

/* client.held_again once a submission's held uploads cost the cap. */
static int held_spent(const struct client_held_tally *t, const char *id, struct kerr *err)
{
	return kerr_set(err, "client.held_again",
			"the validator has taken %.1f whole uploads' worth of the held checkpoints of %s without marking "
			"them arrived: they are not sent again",
			t->uploads, id);
}

int client_send_held(const char *submissions_url, const json_t *item, const char *held_dir,
		     const struct client_opts *o, struct client_held_tally *t, int *sent, long *status,
		     struct kerr *err)
{
	const char *id = json_string_value(json_object_get(item, "id"));
	const json_t *needs = json_object_get(json_object_get(item, "held"), "needs"), *e;
	size_t i;

	*sent = 0;
	*status = 0;
	if (!id || !*id || strchr(id, '/'))
		return kerr_set(err, "client.bad_reply", "a submission without an id");
	/* each need is one upload of gigabytes: a reply listing more than a
	 * judgment can draw, or one name twice, is not followed */
	if (json_array_size(needs) > CLIENT_HELD_NEEDS_MAX)
		return kerr_set(err, "client.bad_reply", "the service asks for %zu held checkpoints, more than the %d a validator may",
				json_array_size(needs), CLIENT_HELD_NEEDS_MAX);
	json_array_foreach(needs, i, e) {
		const char *name = json_string_value(json_object_get(e, "name"));

		for (size_t k = 0; name && k < i; k++) {
			const char *seen = json_string_value(json_object_get(json_array_get(needs, k), "name"));

			if (seen && !strcmp(name, seen))
				return kerr_set(err, "client.bad_reply", "the service asks for held checkpoint %.128s twice",
						name);
		}
	}
	json_array_foreach(needs, i, e) {
		const char *name = json_string_value(json_object_get(e, "name"));
		char url[4096], path[FS_PATH_MAX];
		json_t *reply = NULL;
		struct stat sb;
		uint64_t budget, sent_bytes = 0;
		int rc;

		if (json_is_true(json_object_get(e, "arrived")))
			continue;
		/* a name the bundle could give a checkpoint, nothing else: the
		 * service's reply names a file under held_dir */
		if (!name || strncmp(name, "checkpoints/step_", 17) || strstr(name, "..") || strchr(name + 12, '/'))
			return kerr_set(err, "client.bad_reply", "the service asks for '%.128s', which is no checkpoint's name",
					name ? name : "");
		if (fs_join(path, sizeof path, err, "%s/%s", held_dir, name) < 0)
			return -1;
		if (!fs_exists(path))
			return kerr_set(err, "client.held_missing",
					"the validator asks for held checkpoint %s, which %s lacks: the proof's BUNDLE.held", name,
					held_dir);
		if ((size_t)snprintf(url, sizeof url, "%s/%s/held/%s", submissions_url, id, name) >= sizeof url)
			return kerr_set(err, "client.bad_url", "URL too long");
		/* deliveries the validator accepted are counted, not tries: one
		 * that failed (a busy service, a stall) is asked again */
		if (!*sent && t->rounds >= CLIENT_HELD_ROUNDS_MAX)
			return kerr_set(err, "client.held_again",
					"the validator asks for the held checkpoints of %s again, after %d deliveries it "
					"accepted: it is not taking them, and they are not sent again",
					id, CLIENT_HELD_ROUNDS_MAX);
		/* what this file may still cost: the tally counts in whole
		 * uploads of the file at hand, so files of any size share it */
		if (stat(path, &sb) < 0 || sb.st_size <= 0)
			return kerr_errno(err, "fs.read", path);
		if (t->uploads >= CLIENT_HELD_UPLOADS_MAX)
			return held_spent(t, id, err);
		budget = (uint64_t)((CLIENT_HELD_UPLOADS_MAX - t->uploads) * (double)sb.st_size) + 1;
		rc = post_file(url, path, o, &reply, status, budget, &sent_bytes, err);
		t->uploads += (double)sent_bytes / (double)sb.st_size;
		if (rc < 0 && t->uploads >= CLIENT_HELD_UPLOADS_MAX)
			return held_spent(t, id, err);
		if (rc < 0) {
			/* The wait is over (every file arrived, a reply having been
			 * lost on the way, or it ended): the same for every other
			 * name, and the submission's state says which. */
			if (!strcmp(err->code, "service.held_late") || !strcmp(err->code, "heldwait.closed")) {
				kerr_clear(err);
				return 0;
			}
			return -1;
		}
		json_decref(reply);
		if (!(*sent)++)
			t->rounds++;
	}
	return 0;
}

int client_no_room(const struct kerr *e)
{
	return !strcmp(e->code, "service.queue_full") || !strcmp(e->code, "service.address_queue_full") ||
	       !strcmp(e->code, "service.miner_queue_full") || !strcmp(e->code, "http.busy") ||
	       !strcmp(e->code, "http.disk_full");
}

int client_busy(const struct kerr *e)
{
	size_t n = strlen(e->code);

	return n > 5 && !strcmp(e->code + n - 5, ".busy");
}

int client_later(const struct kerr *e, long status)
{
	/* the held-upload cap and a missing file are this client's own no
	 * (client_send_held) */
	if (!strcmp(e->code, "client.held_again") || !strcmp(e->code, "client.held_missing"))
		return 0;
	return client_no_room(e) || status >= 500 || !strcmp(e->code, "client.connect") ||
	       !strcmp(e->code, "client.unanswered") || !strcmp(e->code, "http.rate") ||
	       !strcmp(e->code, "http.upload_cut") || client_busy(e);
}

int client_find_submission(const char *submissions_url, const char *tar_path, const struct client_opts *o,
			   json_t **item, struct kerr *err)
{
	char hex[HASH_HEX_BYTES], u[CLIENT_URL_MAX];
	uint64_t bytes = 0;
	long status = 0;

	*item = NULL;
	if (hash_file_hex(tar_path, hex, &bytes, err) < 0)
		return -1;
	if ((size_t)snprintf(u, sizeof u, "%s/q-%.24s", submissions_url, hex) >= sizeof u)
		return kerr_set(err, "client.bad_url", "%s: too long for a submission's URL", submissions_url);
	if (client_get_json(u, o, item, &status, err) == 0)
		return 1;
	return status == 404 ? 0 : -1;
}

int client_post_submission(const char *submissions_url, const char *tar_path, const struct client_opts *o,
			   json_t **item, long *status, struct kerr *err)
{
	struct kerr e2 = { { 0 }, { 0 } };
	int found;

	if (client_post_file(submissions_url, tar_path, o, item, status, err) == 0)
		return 0;
	if (strcmp(err->code, "client.unanswered"))
		return -1;
	if ((found = client_find_submission(submissions_url, tar_path, o, item, &e2)) == 1) {
		*status = 200; /* as for a bundle the validator already had */
		kerr_clear(err);
		return 0;
	}
	if (found < 0)
		kerr_set(err, "client.unanswered", "%s; asking whether it was taken: %s", err->msg, e2.msg);
	return -1;
}
