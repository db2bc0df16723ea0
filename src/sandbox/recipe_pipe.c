/* recipe_pipe.c: the pipe-backed recipe host. The child is untrusted: a
 * response's type and length must be exactly what the request implies, an
 * error text is bounded and sanitised, a call may be held to a wall-clock
 * limit, and a dead, silent or misbehaving child is a clean error
 * (recipe.protocol, recipe.died, recipe.timeout), never a crash or a hang of
 * the host. Our ends of the pipes are non-blocking so that every wait is a
 * poll() with a deadline, including a write the child refuses to read. */
#include "sandbox/recipe_pipe.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/recipe_wire.h"

/* A runner that got QUIT and EOF exits at once; this is how long it may take
 * before destroy ends it (200 x 10 ms). */
#define PIPE_QUIT_POLLS 200
#define PIPE_QUIT_POLL_US 10000

/* A child whose stderr is captured may write without limit; this much of
 * it is read per wakeup before the wait goes back to the call's own fd. */
#define TAIL_READ_BYTES 4096
/* The pipes' buffer: the most an unprivileged process may set by default
 * (/proc/sys/fs/pipe-max-size). */
#define RECIPE_PIPE_BUFFER_BYTES (1 << 20)

enum { IO_OK = 0, IO_CLOSED = -1, IO_TIMEOUT = -2 };

struct pipe_impl {
	pid_t pid;
	int to_child;   /* requests */
	int from_child; /* responses */
	int err_child;  /* the child's stderr when captured; -1 otherwise */
	uint64_t train_tokens; /* batch*(seq_len+1) from the plan the child declared */
	int64_t timeout_ms;    /* per call; 0 none */
	int64_t until_ms;      /* the host's overall deadline (monotonic ms); -1 none */
	int64_t deadline_ms;   /* of the call in progress; -1 none */
	int by_until;          /* the call's deadline is the overall one */
	char tail[RECIPE_PIPE_TAIL_BYTES]; /* ring of the last captured stderr bytes */
	size_t tail_pos;                    /* next write position */
	uint64_t tail_total;                /* bytes captured in all */
	int grown_to, grown_from; /* the pipe buffer was enlarged (grow) */
	int bulk_fd;           /* the bulk region (recipe_wire.h); -1 none */
	void *bulk;            /* our mapping of it, bulk_cap bytes; NULL none yet */
	size_t bulk_cap;
	uint64_t bulk_min;     /* payloads from this size go through it */
	int bulk_off;          /* it could not grow: the pipe carries everything */
	uint64_t bulk_calls;   /* payloads it carried */
	/* errno of a failed exec, written by the child between fork and exec
	 * into this shared page (gone from a runner that did exec): exit 127
	 * alone is also what a recipe may exit with itself. */
	int *exec_errno;
	int reaped;            /* wait4 collected the child: pid is no longer ours */
	int timed_out;
	int wstatus;
	struct rusage ru;
	/* what a respawn needs to start the same runner the same way again */
	char runner[4096];
	char launch[RECIPE_PIPE_LAUNCH_MAX][4096]; /* words before the runner's path; "" ends them */
	recipe_pipe_prepare_fn prepare;
	void *prepare_arg;
};

static struct pipe_impl *P(struct recipe_host *h)
{
	return h->impl;
}

int64_t recipe_pipe_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t now_ms(void)
{
	return recipe_pipe_now_ms();
}

/* Reads what the child's stderr holds now into the ring, keeping only the
 * newest RECIPE_PIPE_TAIL_BYTES: whatever a recipe prints costs the host
 * a read, never memory, and never reaches the host's own stderr. */
static void drain_tail(struct pipe_impl *pi)
{
	char buf[TAIL_READ_BYTES];

	for (int rounds = 0; pi->err_child >= 0 && rounds < 16; rounds++) {
		ssize_t r = read(pi->err_child, buf, sizeof buf);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0) {
			close(pi->err_child);
			pi->err_child = -1;
			return;
		}
		for (ssize_t i = 0; i < r; i++) {
			pi->tail[pi->tail_pos] = buf[i];
			pi->tail_pos = (pi->tail_pos + 1) % sizeof pi->tail;
		}
		pi->tail_total += (uint64_t)r;
	}
}

/* Waits until fd is ready for ev or the deadline (-1: none) passes,
 * draining a captured stderr meanwhile (a child blocked on a full stderr
 * pipe would otherwise never answer). */
static int wait_fd(struct pipe_impl *pi, int fd, short ev, int64_t deadline_ms)
{
	struct pollfd pfd[2] = { { .fd = fd, .events = ev }, { .fd = pi->err_child, .events = POLLIN } };

	for (;;) {
		int left = -1, r;

		if (deadline_ms >= 0) {
			int64_t d = deadline_ms - now_ms();
			if (d <= 0)
				return IO_TIMEOUT;
			left = d > 1000000 ? 1000000 : (int)d;
		}
		pfd[1].fd = pi->err_child;
		r = poll(pfd, pi->err_child >= 0 ? 2 : 1, left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return IO_CLOSED;
		if (pi->err_child >= 0 && pfd[1].revents)
			drain_tail(pi);
		if (pfd[0].revents)
			return IO_OK; /* readable, writable, or hung up: the read/write says which */
	}
}

/* Moves exactly n bytes over a non-blocking fd before the deadline. */
static int io_full(struct pipe_impl *pi, int fd, void *buf, size_t n, int writing, int64_t deadline_ms)
{
	char *p = buf;

	while (n > 0) {
		ssize_t r = writing ? write(fd, p, n) : read(fd, p, n);

		if (r > 0) {
			p += r;
			n -= (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			return IO_CLOSED;
		r = wait_fd(pi, fd, writing ? POLLOUT : POLLIN, deadline_ms);
		if (r != IO_OK)
			return (int)r;
	}
	return IO_OK;
}

static void reap(struct pipe_impl *pi, int options)
{
	int st;

	if (pi->reaped)
		return;
	if (wait4(pi->pid, &st, options, &pi->ru) == pi->pid) {
		pi->reaped = 1;
		pi->wstatus = st;
	}
}

/* The child overran its call: it is ours to end. */
static void kill_child(struct pipe_impl *pi)
{
	if (pi->reaped)
		return;
	kill(pi->pid, SIGKILL);
	reap(pi, 0);
}

/* The child's exec failed: its errno, else 0. Only once it is reaped:
 * before, the page may still be written. */
static int exec_failed(const struct pipe_impl *pi)
{
	if (!pi->reaped || !WIFEXITED(pi->wstatus) || WEXITSTATUS(pi->wstatus) != RECIPE_PIPE_EXIT_EXEC)
		return 0;
	return pi->exec_errno ? *pi->exec_errno : 0;
}

/* How long a child whose pipe just closed may take to become reapable
 * before a failed exec is told from a recipe that died. */
#define EXEC_REAP_WAIT_MS 200

static int io_fail(struct pipe_impl *pi, int rc, const char *what, const char *stage, struct kerr *err)
{
	int e;

	if (rc == IO_TIMEOUT) {
		pi->timed_out = 1;
		kill_child(pi);
		if (pi->by_until)
			return kerr_set(err, "recipe.deadline",
					"recipe %s: no %s before the overall deadline; the recipe process was killed",
					what, stage);
		return kerr_set(err, "recipe.timeout", "recipe %s: no %s within %lld ms; the recipe process was killed",
				what, stage, (long long)pi->timeout_ms);
	}
	for (int64_t until = now_ms() + EXEC_REAP_WAIT_MS; !pi->reaped && now_ms() < until; usleep(1000))
		reap(pi, WNOHANG);
	if ((e = exec_failed(pi)))
		return kerr_set(err, "recipe.exec", "recipe %s: the runner %s could not be executed: %s", what,
				pi->runner, strerror(e));
	return kerr_set(err, "recipe.died", "recipe %s: the recipe process exited or closed its pipe (%s)", what,
			stage);
}

/* States and logits cross these pipes by the GB at the GPU scales, and a
 * larger buffer takes fewer wake-ups per GB (bench/bench_ckpt, docs/gpu.md).
 * Enlarged only for a payload that large, once per pipe: the pages count
 * against the user's pipe allowance, which many small runners (tests, a
 * service) would otherwise use up. Best effort: 64 KiB works. */
static void grow(int fd, uint64_t n, int *grown)
{
	if (*grown || n < RECIPE_PIPE_BUFFER_BYTES)
		return;
	*grown = 1;
	(void)fcntl(fd, F_SETPIPE_SZ, RECIPE_PIPE_BUFFER_BYTES);
}

/* Header and up to two payload pieces, all before the call's deadline. */
static int send_req(struct pipe_impl *pi, uint32_t type, const void *a, uint64_t alen, const void *b,
		    uint64_t blen)
{
	struct wire_hdr hd = { WIRE_MAGIC, type, alen + blen };
	int rc;

	grow(pi->to_child, alen + blen, &pi->grown_to);
	rc = io_full(pi, pi->to_child, &hd, sizeof hd, 1, pi->deadline_ms);

	if (rc == IO_OK && alen)
		rc = io_full(pi, pi->to_child, (void *)a, alen, 1, pi->deadline_ms);
	if (rc == IO_OK && blen)
		rc = io_full(pi, pi->to_child, (void *)b, blen, 1, pi->deadline_ms);
	return rc;
}

/* Sends a request and reads the response header; on an error response the
 * reason is read and turned into err. *len receives the payload length. The
 * call's deadline starts here and covers expect() too. */
static int exchange(struct recipe_host *h, uint32_t type, const void *a, uint64_t alen, const void *b,
		    uint64_t blen, uint64_t *len, const char *what, struct kerr *err)
{
	struct pipe_impl *pi = P(h);
	struct wire_hdr hd;
	int64_t t0;
	int rc;

	if (pi->reaped)
		return kerr_set(err, "recipe.died", "recipe %s: the recipe process has already ended", what);
	/* The call's deadline: its own limit, or the host's overall deadline
	 * when that comes first; past the overall one no call starts at all. */
	t0 = now_ms();
	pi->deadline_ms = pi->timeout_ms > 0 ? t0 + pi->timeout_ms : -1;
	pi->by_until = pi->until_ms >= 0 && (pi->deadline_ms < 0 || pi->until_ms <= pi->deadline_ms);
	if (pi->by_until)
		pi->deadline_ms = pi->until_ms;
	if (pi->by_until && t0 >= pi->until_ms)
		return io_fail(pi, IO_TIMEOUT, what, "call started", err);
	if ((rc = send_req(pi, type, a, alen, b, blen)) != IO_OK)
		return io_fail(pi, rc, what, "request accepted", err);
	if ((rc = io_full(pi, pi->from_child, &hd, sizeof hd, 0, pi->deadline_ms)) != IO_OK)
		return io_fail(pi, rc, what, "response", err);
	if (hd.magic != WIRE_MAGIC)
		return kerr_set(err, "recipe.protocol", "recipe %s: response without the wire magic", what);
	if (hd.type == WIRE_ERR) {
		char msg[KR_ERR_MAX] = "";
		if (hd.len >= KR_ERR_MAX)
			return kerr_set(err, "recipe.protocol", "recipe %s: error reason of %llu bytes", what,
					(unsigned long long)hd.len);
		if ((rc = io_full(pi, pi->from_child, msg, hd.len, 0, pi->deadline_ms)) != IO_OK)
			return io_fail(pi, rc, what, "error reason", err);
		recipe_host_err(err, "recipe.failed", what, msg);
		return -1;
	}
	if (hd.type != (WIRE_OK | type))
		return kerr_set(err, "recipe.protocol", "recipe %s: response type %u to request %u", what, hd.type,
				type);
	grow(pi->from_child, hd.len, &pi->grown_from);
	*len = hd.len;
	return 0;
}

static int expect(struct recipe_host *h, uint64_t got, uint64_t want, void *buf, const char *what,
		  struct kerr *err)
{
	int rc;

	if (got != want)
		return kerr_set(err, "recipe.protocol", "recipe %s: %llu response bytes, expected %llu", what,
				(unsigned long long)got, (unsigned long long)want);
	if (want && (rc = io_full(P(h), P(h)->from_child, buf, want, 0, P(h)->deadline_ms)) != IO_OK)
		return io_fail(P(h), rc, what, "full response", err);
	return 0;
}

static int pp_create(struct recipe_host *h, const struct kr_env *env, struct kr_plan *plan, struct kerr *err)
{
	struct wire_create c;
	struct wire_plan wp;
	uint64_t len;
	char *texts;
	int rc;

	if (wire_create_encode(env, &c, err) < 0)
		return -1;
	/* the scale and the gemm table follow the head as one piece */
	if (!(texts = malloc((size_t)c.scale_len + c.gemm_len + 1)))
		return kerr_set(err, "recipe.nomem", "out of memory for the create request");
	memcpy(texts, env->scale, c.scale_len);
	if (c.gemm_len)
		memcpy(texts + c.scale_len, env->gemm, c.gemm_len);
	rc = exchange(h, WIRE_CREATE, &c, sizeof c, texts, (uint64_t)c.scale_len + c.gemm_len, &len, "create", err);
	free(texts);
	if (rc < 0 || expect(h, len, sizeof wp, &wp, "create", err) < 0)
		return -1;
	memcpy(plan->name, wp.name, sizeof plan->name);
	memcpy(plan->version, wp.version, sizeof plan->version);
	plan->batch = wp.batch;
	plan->seq_len = wp.seq_len;
	plan->eval_batch = wp.eval_batch;
	plan->steps = wp.steps;
	plan->ckpt_every = wp.ckpt_every;
	plan->params = wp.params;
	/* Bounded by recipe_host_create's plan check before any step is sent. */
	P(h)->train_tokens = (uint64_t)(wp.batch > 0 ? wp.batch : 0) * (uint64_t)(wp.seq_len > 0 ? wp.seq_len + 1 : 0);
	return 0;
}

static int pp_train_step(struct recipe_host *h, int64_t step, const uint16_t *tokens, float *loss, float *lr,
			 struct kerr *err)
{
	/* The count rides along so the runner can check it against its shape. */
	struct wire_train t = { step, P(h)->train_tokens };
	struct wire_train_resp r;
	uint64_t len;

	if (exchange(h, WIRE_TRAIN, &t, sizeof t, tokens, t.ntokens * 2, &len, "train_step", err) < 0 ||
	    expect(h, len, sizeof r, &r, "train_step", err) < 0)
		return -1;
	*loss = r.loss;
	*lr = r.lr;
	return 0;
}

static int pp_train_traced(struct recipe_host *h, int64_t step, const uint16_t *tokens, float *loss, float *lr,
			   struct recipe_trace_rec *recs, uint32_t cap, uint32_t *n, int *overflow, struct kerr *err)
{
	struct wire_train t = { step, P(h)->train_tokens };
	struct wire_trace_head hd;
	uint64_t len, body;
	int rc;

	if (exchange(h, WIRE_TRAIN_TRACED, &t, sizeof t, tokens, t.ntokens * 2, &len, "train_step_traced", err) < 0)
		return -1;
	/* The length bounds the records before any is read, and the count
	 * inside must agree with it. */
	body = len >= sizeof hd ? len - sizeof hd : 0;
	if (len < sizeof hd || body % sizeof *recs || body / sizeof *recs > cap)
		return kerr_set(err, "recipe.protocol",
				"recipe train_step_traced: %llu response bytes, not a head and at most %u records",
				(unsigned long long)len, cap);
	if ((rc = io_full(P(h), P(h)->from_child, &hd, sizeof hd, 0, P(h)->deadline_ms)) != IO_OK)
		return io_fail(P(h), rc, "train_step_traced", "full response", err);
	if (hd.c.count != body / sizeof *recs)
		return kerr_set(err, "recipe.protocol", "recipe train_step_traced: %u records announced, %llu sent",
				hd.c.count, (unsigned long long)(body / sizeof *recs));
	if (body && (rc = io_full(P(h), P(h)->from_child, recs, body, 0, P(h)->deadline_ms)) != IO_OK)
		return io_fail(P(h), rc, "train_step_traced", "full response", err);
	*loss = hd.r.loss;
	*lr = hd.r.lr;
	*n = hd.c.count;
	*overflow = hd.c.overflow != 0;
	return 0;
}

/* ---- the bulk region ---------------------------------------------------- */

/* Whether a payload of n bytes goes through the region: it is large enough,
 * and the region holds it, grown (never shrunk) in whole 2 MiB steps so
 * that alternating logits and states do not remap every call. Growing
 * allocates the pages (fallocate), so that a shortage of memory is an
 * error here rather than a SIGBUS in the copy that would first touch them.
 * The region is an optimisation: where it cannot grow (a file-size limit,
 * which would also raise SIGXFSZ, or no memory for it) the pipe carries
 * this payload and every later one. */
static int use_bulk(struct pipe_impl *pi, uint64_t n)
{
	const uint64_t step = (uint64_t)2 << 20;
	uint64_t cap = (n + step - 1) / step * step;
	struct rlimit fs;
	void *m;

	if (n == 0 || pi->bulk_fd < 0 || pi->bulk_off || n < pi->bulk_min)
		return 0;
	if (n <= pi->bulk_cap) {
		pi->bulk_calls++;
		return 1;
	}
	pi->bulk_off = 1; /* until all below succeeds */
	if (cap > (uint64_t)SIZE_MAX || cap > (uint64_t)INT64_MAX || getrlimit(RLIMIT_FSIZE, &fs) < 0 ||
	    (fs.rlim_cur != RLIM_INFINITY && cap > (uint64_t)fs.rlim_cur) ||
	    fallocate(pi->bulk_fd, 0, 0, (off_t)cap) < 0)
		return 0;
	if (pi->bulk)
		munmap(pi->bulk, pi->bulk_cap);
	pi->bulk = NULL;
	pi->bulk_cap = 0;
	m = mmap(NULL, (size_t)cap, PROT_READ | PROT_WRITE, MAP_SHARED, pi->bulk_fd, 0);
	if (m == MAP_FAILED)
		return 0;
	pi->bulk = m;
	pi->bulk_cap = (size_t)cap;
	pi->bulk_off = 0;
	pi->bulk_calls++;
	return 1;
}

/* The response to a bulk request: exactly a wire_bulk that names want. */
static int bulk_answer(struct recipe_host *h, uint64_t len, uint64_t want, const char *what, struct kerr *err)
{
	struct wire_bulk b;

	if (expect(h, len, sizeof b, &b, what, err) < 0)
		return -1;
	if (b.bytes != want)
		return kerr_set(err, "recipe.protocol", "recipe %s: %llu bytes in the bulk region, expected %llu", what,
				(unsigned long long)b.bytes, (unsigned long long)want);
	return 0;
}

int recipe_pipe_set_bulk_min(struct recipe_host *h, uint64_t bytes)
{
	if (!h || !h->impl || strcmp(h->kind, "pipe") || P(h)->bulk_fd < 0)
		return -1;
	P(h)->bulk_min = bytes;
	return 0;
}

int64_t recipe_pipe_bulk_calls(const struct recipe_host *h)
{
	if (!h || !h->impl || strcmp(h->kind, "pipe"))
		return -1;
	return (int64_t)((const struct pipe_impl *)h->impl)->bulk_calls;
}

static int pp_logits(struct recipe_host *h, const uint16_t *tokens, int rows, int T, float *logits,
		     struct kerr *err)
{
	struct pipe_impl *pi = P(h);
	struct wire_logits l = { rows, T };
	uint64_t len, want = (uint64_t)rows * (uint64_t)T * (uint64_t)h->vocab_size * sizeof(float);
	uint64_t ntok = (uint64_t)rows * (uint64_t)T * 2;

	if (!use_bulk(pi, want)) {
		if (exchange(h, WIRE_LOGITS, &l, sizeof l, tokens, ntok, &len, "logits", err) < 0)
			return -1;
		return expect(h, len, want, logits, "logits", err);
	}
	if (exchange(h, WIRE_LOGITS_BULK, &l, sizeof l, tokens, ntok, &len, "logits", err) < 0 ||
	    bulk_answer(h, len, want, "logits", err) < 0)
		return -1;
	memcpy(logits, pi->bulk, (size_t)want);
	return 0;
}

/* The length bounds the text before any byte of it is read. */
static int pp_gemm(struct recipe_host *h, char *buf, size_t cap, size_t *n, struct kerr *err)
{
	uint64_t len;

	if (exchange(h, WIRE_GEMM, NULL, 0, NULL, 0, &len, "gemm_record", err) < 0)
		return -1;
	if (len >= cap)
		return kerr_set(err, "recipe.protocol", "recipe gemm_record: %llu response bytes, at most %zu",
				(unsigned long long)len, cap - 1);
	if (expect(h, len, len, buf, "gemm_record", err) < 0)
		return -1;
	buf[len] = '\0';
	*n = (size_t)len;
	return 0;
}

static int pp_state_bytes(struct recipe_host *h, size_t *n, struct kerr *err)
{
	uint64_t len, v;

	if (exchange(h, WIRE_STATE_BYTES, NULL, 0, NULL, 0, &len, "state_bytes", err) < 0 ||
	    expect(h, len, sizeof v, &v, "state_bytes", err) < 0)
		return -1;
	if (v > RECIPE_STATE_BYTES_MAX)
		return kerr_set(err, "recipe.bad_state_size", "recipe state of %llu bytes", (unsigned long long)v);
	*n = (size_t)v;
	return 0;
}

static int pp_save(struct recipe_host *h, void *buf, size_t n, struct kerr *err)
{
	struct pipe_impl *pi = P(h);
	struct wire_bulk b = { n };
	uint64_t len, want = n;

	if (!use_bulk(pi, n)) {
		if (exchange(h, WIRE_SAVE, &want, sizeof want, NULL, 0, &len, "state_save", err) < 0)
			return -1;
		return expect(h, len, n, buf, "state_save", err);
	}
	if (exchange(h, WIRE_SAVE_BULK, &b, sizeof b, NULL, 0, &len, "state_save", err) < 0 ||
	    bulk_answer(h, len, n, "state_save", err) < 0)
		return -1;
	memcpy(buf, pi->bulk, n);
	return 0;
}

static int pp_load(struct recipe_host *h, const void *buf, size_t n, struct kerr *err)
{
	struct pipe_impl *pi = P(h);
	struct wire_bulk b = { n };
	uint64_t len;

	if (!use_bulk(pi, n)) {
		if (exchange(h, WIRE_LOAD, buf, n, NULL, 0, &len, "state_load", err) < 0)
			return -1;
		return expect(h, len, 0, NULL, "state_load", err);
	}
	memcpy(pi->bulk, buf, n);
	if (exchange(h, WIRE_LOAD_BULK, &b, sizeof b, NULL, 0, &len, "state_load", err) < 0)
		return -1;
	return expect(h, len, 0, NULL, "state_load", err);
}

static void pp_destroy(struct recipe_host *h)
{
	struct pipe_impl *pi = P(h);

	if (!pi)
		return;
	if (!pi->reaped)
		wire_send(pi->to_child, WIRE_QUIT, NULL, 0); /* best effort: the fd is non-blocking */
	close(pi->to_child);
	close(pi->from_child);
	/* A well-behaved runner exits on QUIT or EOF; one that does not is
	 * ended, since it is ours to end. */
	for (int i = 0; i < PIPE_QUIT_POLLS && !pi->reaped; i++) {
		drain_tail(pi);
		reap(pi, WNOHANG);
		if (!pi->reaped)
			usleep(PIPE_QUIT_POLL_US);
	}
	kill_child(pi);
	if (pi->err_child >= 0)
		close(pi->err_child);
	if (pi->bulk)
		munmap(pi->bulk, pi->bulk_cap);
	if (pi->bulk_fd >= 0)
		close(pi->bulk_fd);
	if (pi->exec_errno)
		munmap(pi->exec_errno, sizeof *pi->exec_errno);
	free(pi);
	h->impl = NULL;
}

/* A fresh child in place of the old one: the old runner is ended (QUIT,
 * then killed) and the same runner is started the same way, under the same
 * sandbox and per-call limit. Nothing the old process held survives. */
static int spawn_pipe(struct recipe_host *h, const char *const *launch, const char *runner_path,
		      recipe_pipe_prepare_fn prepare, void *prepare_arg, int capture, struct kerr *err);

static int pp_respawn(struct recipe_host *h, struct kerr *err)
{
	struct pipe_impl *pi = P(h);
	char runner[sizeof pi->runner], launch[RECIPE_PIPE_LAUNCH_MAX][sizeof pi->launch[0]];
	const char *words[RECIPE_PIPE_LAUNCH_MAX + 1];
	recipe_pipe_prepare_fn prepare = pi->prepare;
	void *arg = pi->prepare_arg;
	int64_t timeout_ms = pi->timeout_ms, until_ms = pi->until_ms;
	uint64_t bulk_min = pi->bulk_min;
	int capture = pi->err_child >= 0, nw = 0;

	memcpy(runner, pi->runner, sizeof runner);
	memcpy(launch, pi->launch, sizeof launch);
	while (nw < RECIPE_PIPE_LAUNCH_MAX && launch[nw][0]) {
		words[nw] = launch[nw];
		nw++;
	}
	words[nw] = NULL;
	pp_destroy(h);
	if (spawn_pipe(h, words, runner, prepare, arg, capture, err) < 0)
		return -1;
	P(h)->timeout_ms = timeout_ms;
	P(h)->until_ms = until_ms;
	if (P(h)->bulk_fd >= 0)
		P(h)->bulk_min = bulk_min;
	return 0;
}

int recipe_pipe_set_timeout(struct recipe_host *h, int64_t timeout_ms)
{
	if (!h->kind || strcmp(h->kind, "pipe") || !h->impl || timeout_ms < 0)
		return -1;
	P(h)->timeout_ms = timeout_ms;
	return 0;
}

int64_t recipe_pipe_timeout(const struct recipe_host *h)
{
	if (!h->kind || strcmp(h->kind, "pipe") || !h->impl)
		return -1;
	return ((const struct pipe_impl *)h->impl)->timeout_ms;
}

int recipe_pipe_set_deadline(struct recipe_host *h, int64_t until_ms)
{
	if (!h->kind || strcmp(h->kind, "pipe") || !h->impl)
		return -1;
	P(h)->until_ms = until_ms > 0 ? until_ms : -1;
	return 0;
}

size_t recipe_pipe_stderr_tail(struct recipe_host *h, char *buf, size_t cap)
{
	struct pipe_impl *pi;
	size_t have, n = 0, start;

	if (cap == 0)
		return 0;
	buf[0] = '\0';
	if (!h->kind || strcmp(h->kind, "pipe") || !h->impl)
		return 0;
	pi = P(h);
	drain_tail(pi);
	have = pi->tail_total < sizeof pi->tail ? (size_t)pi->tail_total : sizeof pi->tail;
	if (have > cap - 1)
		have = cap - 1;
	start = (pi->tail_pos + sizeof pi->tail - have) % sizeof pi->tail;
	/* Printable ASCII only: the text goes into one-line messages. */
	for (size_t i = 0; i < have; i++) {
		unsigned char ch = (unsigned char)pi->tail[(start + i) % sizeof pi->tail];
		buf[n++] = ch >= 0x20 && ch < 0x7f ? (char)ch : ' ';
	}
	buf[n] = '\0';
	return n;
}

static const char *sig_name(int sig)
{
	switch (sig) {
	case SIGSYS: return "SIGSYS";
	case SIGKILL: return "SIGKILL";
	case SIGXCPU: return "SIGXCPU";
	case SIGXFSZ: return "SIGXFSZ";
	case SIGSEGV: return "SIGSEGV";
	case SIGBUS: return "SIGBUS";
	case SIGABRT: return "SIGABRT";
	case SIGTERM: return "SIGTERM";
	case SIGPIPE: return "SIGPIPE";
	case SIGILL: return "SIGILL";
	case SIGFPE: return "SIGFPE";
	default: return "signal";
	}
}

int recipe_pipe_child_status(struct recipe_host *h, int wait_ms, struct recipe_child_exit *out,
			     struct kerr *err)
{
	struct pipe_impl *pi;
	int64_t until = now_ms() + (wait_ms > 0 ? wait_ms : 0);

	memset(out, 0, sizeof *out);
	if (!h->kind || strcmp(h->kind, "pipe") || !h->impl)
		return kerr_set(err, "recipe.not_pipe", "child status asked of a %s host", h->kind ? h->kind : "closed");
	pi = P(h);
	for (reap(pi, WNOHANG); !pi->reaped && now_ms() < until; reap(pi, WNOHANG)) {
		drain_tail(pi);
		usleep(1000);
	}
	out->timed_out = pi->timed_out;
	if (!pi->reaped) {
		out->state = RECIPE_CHILD_RUNNING;
		snprintf(out->desc, sizeof out->desc, "running");
		return 0;
	}
	out->cpu_seconds = (double)pi->ru.ru_utime.tv_sec + pi->ru.ru_utime.tv_usec / 1e6 +
			   (double)pi->ru.ru_stime.tv_sec + pi->ru.ru_stime.tv_usec / 1e6;
	out->maxrss_kb = pi->ru.ru_maxrss;
	if (WIFSIGNALED(pi->wstatus)) {
		out->state = RECIPE_CHILD_SIGNALED;
		out->code = WTERMSIG(pi->wstatus);
		snprintf(out->desc, sizeof out->desc, "killed by %s (%d)", sig_name(out->code), out->code);
	} else {
		out->state = RECIPE_CHILD_EXITED;
		out->code = WEXITSTATUS(pi->wstatus);
		out->exec_errno = exec_failed(pi);
		if (out->exec_errno)
			snprintf(out->desc, sizeof out->desc, "exec failed: %s", strerror(out->exec_errno));
		else
			snprintf(out->desc, sizeof out->desc, "exited %d", out->code);
	}
	return 0;
}


/* Both ends of a pipe moved above the bulk region's number: a validator
 * started with 0, 1 or 2 closed gets those numbers from pipe2, and the
 * child's dup2 onto 0..2 would then leave an end close-on-exec or
 * overwrite another before it is moved. */
static int pipe_high(int p[2])
{
	for (int i = 0; i < 2; i++)
		if (p[i] <= WIRE_BULK_FD) {
			int high = fcntl(p[i], F_DUPFD_CLOEXEC, WIRE_BULK_FD + 1);

			if (high < 0)
				return -1;
			close(p[i]);
			p[i] = high;
		}
	return 0;
}
/* The bulk region: an empty shared-memory file, sealed so that neither side
 * can shrink it under the other's mapping (a runner that could would turn
 * the host's next copy into a SIGBUS) nor add seals of its own. -1 where
 * the kernel has no memfd: the pipe then carries everything. */
static int bulk_open(void)
{
	int fd = memfd_create("karpa-bulk", MFD_CLOEXEC | MFD_ALLOW_SEALING), high = -1;

	/* above the numbers the child's dup2s write, so none clobbers it */
	if (fd >= 0 && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_SEAL) == 0)
		high = fcntl(fd, F_DUPFD_CLOEXEC, WIRE_BULK_FD + 1);
	if (fd >= 0)
		close(fd);
	return high;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int spawn_pipe(struct recipe_host *h, const char *const *launch, const char *runner_path,
		      recipe_pipe_prepare_fn prepare, void *prepare_arg, int capture, struct kerr *err)
{
	int req[2] = { -1, -1 }, resp[2] = { -1, -1 }, errp[2] = { -1, -1 }, nl = 0;
	struct pipe_impl *pi = calloc(1, sizeof *pi);
	const char *argv[RECIPE_PIPE_LAUNCH_MAX + 2];
	pid_t pid;

	memset(h, 0, sizeof *h);
	if (!pi)
		return kerr_set(err, "recipe.nomem", "out of memory");
	if (strlen(runner_path) >= sizeof pi->runner) {
		free(pi);
		return kerr_set(err, "recipe.spawn", "runner path of %zu bytes is too long", strlen(runner_path));
	}
	snprintf(pi->runner, sizeof pi->runner, "%s", runner_path);
	/* argv is built here, before the fork: the child only execs it. */
	for (; launch && launch[nl]; nl++) {
		if (nl == RECIPE_PIPE_LAUNCH_MAX || (nl == 0 && launch[0][0] != '/') || !launch[nl][0] ||
		    strlen(launch[nl]) >= sizeof pi->launch[nl]) {
			free(pi);
			return kerr_set(err, "recipe.spawn", "a launcher of at most %d words, the first an absolute path",
					RECIPE_PIPE_LAUNCH_MAX);
		}
		snprintf(pi->launch[nl], sizeof pi->launch[nl], "%s", launch[nl]);
		argv[nl] = pi->launch[nl];
	}
	argv[nl] = pi->runner;
	argv[nl + 1] = NULL;
	pi->prepare = prepare;
	pi->prepare_arg = prepare_arg;
	pi->bulk_fd = bulk_open();
	pi->bulk_min = pi->bulk_fd >= 0 ? RECIPE_PIPE_BULK_MIN_BYTES : UINT64_MAX;
	pi->exec_errno = mmap(NULL, sizeof *pi->exec_errno, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (pi->exec_errno == MAP_FAILED) {
		pi->exec_errno = NULL;
		kerr_errno(err, "recipe.spawn", "mmap");
		goto fail;
	}
	if (pipe2(req, O_CLOEXEC) < 0 || pipe2(resp, O_CLOEXEC) < 0 || (capture && pipe2(errp, O_CLOEXEC) < 0) ||
	    pipe_high(req) < 0 || pipe_high(resp) < 0 || (capture && pipe_high(errp) < 0)) {
		kerr_errno(err, "recipe.spawn", "pipe");
		goto fail;
	}
	/* A dead child must be an error on write, not a signal that kills us. */
	signal(SIGPIPE, SIG_IGN);
	pid = fork();
	if (pid < 0) {
		kerr_errno(err, "recipe.spawn", "fork");
		goto fail;
	}
	if (pid == 0) {
		if (dup2(req[0], 0) < 0 || dup2(resp[1], 1) < 0 || (capture && dup2(errp[1], 2) < 0))
			_exit(126);
		/* The region at its fixed number, kept across exec. Without one,
		 * /dev/null holds the number: the sandbox keeps it open, so
		 * nothing of ours may land there. */
		if (pi->bulk_fd < 0) {
			int z = open("/dev/null", O_RDONLY | O_CLOEXEC);
			if (z < 0 || (z == WIRE_BULK_FD ? fcntl(z, F_SETFD, 0) : dup2(z, WIRE_BULK_FD)) < 0)
				_exit(126);
		} else if (dup2(pi->bulk_fd, WIRE_BULK_FD) < 0) {
			_exit(126);
		}
		/* Between calls the runner waits on its pipe while the host works
		 * (loss, logging); OpenMP workers spinning meanwhile would take the
		 * host's cores. Measured: eval at 2 threads 29 s spinning, 1.7 s
		 * passive (docs/recipe-api.md). */
		setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
		if (prepare && prepare(prepare_arg) < 0)
			_exit(RECIPE_PIPE_EXIT_PREPARE);
		execv(argv[0], (char *const *)argv);
		*pi->exec_errno = errno ? errno : ENOEXEC;
		_exit(RECIPE_PIPE_EXIT_EXEC);
	}
	close(req[0]);
	close(resp[1]);
	if (capture)
		close(errp[1]);
	pi->pid = pid;
	pi->to_child = req[1];
	pi->from_child = resp[0];
	pi->err_child = capture ? errp[0] : -1;
	pi->deadline_ms = -1;
	pi->until_ms = -1;
	h->kind = "pipe";
	h->impl = pi;
	if (set_nonblock(pi->to_child) < 0 || set_nonblock(pi->from_child) < 0 ||
	    (capture && set_nonblock(pi->err_child) < 0)) {
		kerr_errno(err, "recipe.spawn", "fcntl O_NONBLOCK");
		pp_destroy(h);
		return -1;
	}
	h->create = pp_create;
	h->train_step = pp_train_step;
	h->train_traced = pp_train_traced;
	h->logits = pp_logits;
	h->gemm = pp_gemm;
	h->state_bytes = pp_state_bytes;
	h->save = pp_save;
	h->load = pp_load;
	h->destroy = pp_destroy;
	h->respawn = pp_respawn;
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (req[i] >= 0)
			close(req[i]);
		if (resp[i] >= 0)
			close(resp[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	if (pi->bulk_fd >= 0)
		close(pi->bulk_fd);
	if (pi->exec_errno)
		munmap(pi->exec_errno, sizeof *pi->exec_errno);
	free(pi);
	return -1;
}

int recipe_host_pipe(struct recipe_host *h, const char *runner_path, recipe_pipe_prepare_fn prepare,
		     void *prepare_arg, struct kerr *err)
{
	return spawn_pipe(h, NULL, runner_path, prepare, prepare_arg, 0, err);
}

int recipe_host_pipe_captured(struct recipe_host *h, const char *runner_path, recipe_pipe_prepare_fn prepare,
			      void *prepare_arg, struct kerr *err)
{
	return spawn_pipe(h, NULL, runner_path, prepare, prepare_arg, 1, err);
}

int recipe_host_pipe_launched(struct recipe_host *h, const char *const *launcher, const char *runner_path,
			      struct kerr *err)
{
	return spawn_pipe(h, launcher, runner_path, NULL, NULL, 0, err);
}
