/* recipe_pipe.c: the pipe-backed recipe host. The child is untrusted: a
 * response's type and length must be exactly what the request implies, an
 * error text is bounded and sanitised, and a dead or misbehaving child is a
 * clean error (recipe.protocol, recipe.died), never a crash of the host. */
#include "harness/recipe_pipe.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness/recipe_wire.h"

struct pipe_impl {
	pid_t pid;
	int to_child;   /* requests */
	int from_child; /* responses */
	uint64_t train_tokens; /* batch*(seq_len+1) from the plan the child declared */
};

static struct pipe_impl *P(struct recipe_host *h)
{
	return h->impl;
}

/* Sends a request and reads the response header; on an error response the
 * reason is read and turned into err. *len receives the payload length. */
static int exchange(struct recipe_host *h, uint32_t type, const void *a, uint64_t alen, const void *b,
		    uint64_t blen, uint64_t *len, const char *what, struct kerr *err)
{
	struct pipe_impl *pi = P(h);
	struct wire_hdr hd;

	if (wire_send2(pi->to_child, type, a, alen, b, blen) < 0 ||
	    wire_read_full(pi->from_child, &hd, sizeof hd) < 0)
		return kerr_set(err, "recipe.died", "recipe %s: the recipe process exited or closed its pipe", what);
	if (hd.magic != WIRE_MAGIC)
		return kerr_set(err, "recipe.protocol", "recipe %s: response without the wire magic", what);
	if (hd.type == WIRE_ERR) {
		char msg[KR_ERR_MAX] = "";
		if (hd.len >= KR_ERR_MAX || wire_read_full(pi->from_child, msg, hd.len) < 0)
			return kerr_set(err, "recipe.protocol", "recipe %s: error reason of %llu bytes", what,
					(unsigned long long)hd.len);
		recipe_host_err(err, "recipe.failed", what, msg);
		return -1;
	}
	if (hd.type != (WIRE_OK | type))
		return kerr_set(err, "recipe.protocol", "recipe %s: response type %u to request %u", what, hd.type,
				type);
	*len = hd.len;
	return 0;
}

static int expect(struct recipe_host *h, uint64_t got, uint64_t want, void *buf, const char *what,
		  struct kerr *err)
{
	if (got != want)
		return kerr_set(err, "recipe.protocol", "recipe %s: %llu response bytes, expected %llu", what,
				(unsigned long long)got, (unsigned long long)want);
	if (want && wire_read_full(P(h)->from_child, buf, want) < 0)
		return kerr_set(err, "recipe.died", "recipe %s: response cut short", what);
	return 0;
}

static int pp_create(struct recipe_host *h, const struct kr_env *env, struct kr_plan *plan, struct kerr *err)
{
	struct wire_create c = { 0 };
	struct wire_plan wp;
	uint64_t len;
	size_t sl = strlen(env->scale);

	if (sl > WIRE_SCALE_MAX)
		return kerr_set(err, "recipe.bad_scale", "scale name too long");
	c.seed = env->seed;
	c.threads = env->threads;
	c.vocab_size = env->vocab_size;
	c.scale_len = (uint32_t)sl;
	if (exchange(h, WIRE_CREATE, &c, sizeof c, env->scale, sl, &len, "create", err) < 0 ||
	    expect(h, len, sizeof wp, &wp, "create", err) < 0)
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

static int pp_logits(struct recipe_host *h, const uint16_t *tokens, int rows, int T, float *logits,
		     struct kerr *err)
{
	struct wire_logits l = { rows, T };
	uint64_t len, want = (uint64_t)rows * (uint64_t)T * (uint64_t)h->vocab_size * sizeof(float);

	if (exchange(h, WIRE_LOGITS, &l, sizeof l, tokens, (uint64_t)rows * (uint64_t)T * 2, &len, "logits",
		     err) < 0)
		return -1;
	return expect(h, len, want, logits, "logits", err);
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
	uint64_t len, want = n;

	if (exchange(h, WIRE_SAVE, &want, sizeof want, NULL, 0, &len, "state_save", err) < 0)
		return -1;
	return expect(h, len, n, buf, "state_save", err);
}

static int pp_load(struct recipe_host *h, const void *buf, size_t n, struct kerr *err)
{
	uint64_t len;

	if (exchange(h, WIRE_LOAD, buf, n, NULL, 0, &len, "state_load", err) < 0)
		return -1;
	return expect(h, len, 0, NULL, "state_load", err);
}

static void pp_destroy(struct recipe_host *h)
{
	struct pipe_impl *pi = P(h);
	int st;

	if (!pi)
		return;
	wire_send(pi->to_child, WIRE_QUIT, NULL, 0);
	close(pi->to_child);
	close(pi->from_child);
	/* A well-behaved runner exits on QUIT or EOF; one that does not is
	 * ended, since it is ours to end. */
	for (int i = 0; i < 200; i++) {
		if (waitpid(pi->pid, &st, WNOHANG) == pi->pid)
			goto done;
		usleep(10000);
	}
	kill(pi->pid, SIGKILL);
	waitpid(pi->pid, &st, 0);
done:
	free(pi);
	h->impl = NULL;
}

int recipe_host_pipe(struct recipe_host *h, const char *runner_path, recipe_pipe_prepare_fn prepare,
		     void *prepare_arg, struct kerr *err)
{
	int req[2] = { -1, -1 }, resp[2] = { -1, -1 };
	struct pipe_impl *pi = calloc(1, sizeof *pi);
	pid_t pid;

	memset(h, 0, sizeof *h);
	if (!pi)
		return kerr_set(err, "recipe.nomem", "out of memory");
	if (pipe2(req, O_CLOEXEC) < 0 || pipe2(resp, O_CLOEXEC) < 0) {
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
		if (dup2(req[0], 0) < 0 || dup2(resp[1], 1) < 0)
			_exit(126);
		if (prepare && prepare(prepare_arg) < 0)
			_exit(125);
		execl(runner_path, runner_path, (char *)NULL);
		_exit(127);
	}
	close(req[0]);
	close(resp[1]);
	pi->pid = pid;
	pi->to_child = req[1];
	pi->from_child = resp[0];
	h->kind = "pipe";
	h->impl = pi;
	h->create = pp_create;
	h->train_step = pp_train_step;
	h->logits = pp_logits;
	h->state_bytes = pp_state_bytes;
	h->save = pp_save;
	h->load = pp_load;
	h->destroy = pp_destroy;
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (req[i] >= 0)
			close(req[i]);
		if (resp[i] >= 0)
			close(resp[i]);
	}
	free(pi);
	return -1;
}
