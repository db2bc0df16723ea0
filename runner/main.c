/* main.c (runner): wraps one recipe in its own process and serves the
 * recipe API over pipes (src/sandbox/recipe_wire.h). Fixed harness code,
 * linked with a recipe's objects into `karpa-recipe`. It trusts the host;
 * the host does not trust it. The recipe's own stdout is redirected to
 * stderr so nothing it prints can corrupt the protocol stream. Under the
 * validator's sandbox (KARPA_SANDBOX=1) the runner locks itself into the
 * inner seccomp allowlist before any recipe code is called. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/recipe_api.h"
#include "sandbox/recipe_trace.h"
#include "sandbox/recipe_wire.h"
#include "sandbox/sandbox_inner.h"

/* Requests come from the trusted host, but a bound keeps a confused host
 * from making the runner allocate without limit. */
#define RUNNER_REQUEST_BYTES_MAX ((uint64_t)16 << 30)

static int out_fd = -1;
static struct kr_recipe *recipe;
static int vocab;
/* Our mapping of the bulk region (recipe_wire.h), the whole file as the
 * host last sized it. */
static void *bulk;
static size_t bulk_len;

static int fail(const char *msg)
{
	size_t n = strnlen(msg, KR_ERR_MAX - 1);

	return wire_send(out_fd, WIRE_ERR, msg, n);
}

static int do_create(const char *p, uint64_t len)
{
	/* static: the gemm text is 48 KiB, and create comes once per process */
	static struct wire_create_text txt;
	struct wire_plan wp;
	struct kr_plan plan;
	struct kr_env env;
	struct kerr why = { "", "" };
	char err[KR_ERR_MAX] = "";

	if (recipe)
		return fail("runner: a second create request");
	if (wire_create_decode(p, len, &env, &txt, &why) < 0)
		return fail(why.msg);
	memset(&plan, 0, sizeof plan);
	if (kr_create(&env, &recipe, &plan, err) < 0) {
		recipe = NULL;
		return fail(err);
	}
	vocab = env.vocab_size;
	memset(&wp, 0, sizeof wp);
	memcpy(wp.name, plan.name, sizeof wp.name);
	memcpy(wp.version, plan.version, sizeof wp.version);
	wp.batch = plan.batch;
	wp.seq_len = plan.seq_len;
	wp.eval_batch = plan.eval_batch;
	wp.steps = plan.steps;
	wp.ckpt_every = plan.ckpt_every;
	wp.params = plan.params;
	return wire_send(out_fd, WIRE_OK | WIRE_CREATE, &wp, sizeof wp);
}

static int do_train(const char *p, uint64_t len)
{
	struct wire_train t;
	struct wire_train_resp r;
	char err[KR_ERR_MAX] = "";

	if (!recipe || len < sizeof t)
		return fail("runner: bad train request");
	memcpy(&t, p, sizeof t);
	if (len != sizeof t + t.ntokens * 2)
		return fail("runner: train request length mismatch");
	if (kr_train_step(recipe, t.step, (const uint16_t *)(p + sizeof t), &r.loss, &r.lr, err) < 0)
		return fail(err);
	return wire_send(out_fd, WIRE_OK | WIRE_TRAIN, &r, sizeof r);
}

/* A recipe written before the API's 1.2 has no traced step: the weak
 * reference is then NULL and the request is answered with a reason. */
#pragma weak kr_train_step_traced

/* A traced step: the records follow the step's answer in one response. */
static int do_train_traced(const char *p, uint64_t len)
{
	static struct recipe_trace_rec recs[RECIPE_TRACE_MAX];
	struct recipe_trace tr;
	struct kr_tracer kt = recipe_trace_begin(&tr, recs, RECIPE_TRACE_MAX);
	struct wire_train t;
	struct wire_trace_head head;
	char err[KR_ERR_MAX] = "";

	if (!recipe || len < sizeof t)
		return fail("runner: bad traced train request");
	if (!kr_train_step_traced)
		return fail("this recipe does not implement kr_train_step_traced (recipe API 1.2): it cannot be traced");
	memcpy(&t, p, sizeof t);
	if (len != sizeof t + t.ntokens * 2)
		return fail("runner: traced train request length mismatch");
	memset(&head, 0, sizeof head);
	if (kr_train_step_traced(recipe, t.step, (const uint16_t *)(p + sizeof t), &head.r.loss, &head.r.lr, &kt,
				 err) < 0)
		return fail(err);
	head.c.count = tr.n;
	head.c.overflow = (uint32_t)tr.overflow;
	return wire_send2(out_fd, WIRE_OK | WIRE_TRAIN_TRACED, &head, sizeof head, recs, (uint64_t)tr.n * sizeof *recs);
}

/* Optional since API 1.3: a recipe without it reports no table. */
#pragma weak kr_gemm_record

static int do_gemm(uint64_t len)
{
	static char text[KR_GEMM_MAX];
	char err[KR_ERR_MAX] = "";

	if (!recipe || len)
		return fail("runner: bad gemm request");
	text[0] = '\0';
	if (kr_gemm_record && kr_gemm_record(recipe, text, sizeof text, err) < 0)
		return fail(err);
	/* the host checks the text; the length only must not run past it */
	return wire_send(out_fd, WIRE_OK | WIRE_GEMM, text, strnlen(text, sizeof text - 1));
}

/* The region mapped with at least need bytes: the host grew the file before
 * its request, so a smaller file is its mistake or no region at all. mmap
 * and munmap are on the inner allowlist (no executable pages). */
static void *bulk_at_least(uint64_t need)
{
	struct stat st;
	void *m;

	if (bulk && bulk_len >= need)
		return bulk;
	if (fstat(WIRE_BULK_FD, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < need || st.st_size == 0)
		return NULL;
	if (bulk)
		munmap(bulk, bulk_len);
	bulk = NULL;
	bulk_len = 0;
	m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, WIRE_BULK_FD, 0);
	if (m == MAP_FAILED)
		return NULL;
	bulk = m;
	bulk_len = (size_t)st.st_size;
	return bulk;
}

static int do_logits(const char *p, uint64_t len, int in_bulk)
{
	struct wire_logits l;
	char err[KR_ERR_MAX] = "";
	float *out;
	size_t n;
	int rc;

	if (!recipe || len < sizeof l)
		return fail("runner: bad logits request");
	memcpy(&l, p, sizeof l);
	if (l.rows <= 0 || l.T <= 0 || len != sizeof l + (uint64_t)l.rows * (uint64_t)l.T * 2)
		return fail("runner: logits request length mismatch");
	n = (size_t)l.rows * (size_t)l.T * (size_t)vocab;
	if (in_bulk) {
		struct wire_bulk b = { n * sizeof *out };

		if (!(out = bulk_at_least(b.bytes)))
			return fail("runner: the bulk region is missing or too small for the logits");
		if (kr_logits(recipe, (const uint16_t *)(p + sizeof l), l.rows, l.T, out, err) < 0)
			return fail(err);
		return wire_send(out_fd, WIRE_OK | WIRE_LOGITS_BULK, &b, sizeof b);
	}
	out = malloc(n * sizeof *out);
	if (!out)
		return fail("runner: out of memory for logits");
	if (kr_logits(recipe, (const uint16_t *)(p + sizeof l), l.rows, l.T, out, err) < 0)
		rc = fail(err);
	else
		rc = wire_send(out_fd, WIRE_OK | WIRE_LOGITS, out, n * sizeof *out);
	free(out);
	return rc;
}

/* SAVE_BULK and LOAD_BULK: the state in the region, its size on the wire. */
static int do_state_bulk(uint32_t type, const char *p, uint64_t len)
{
	char err[KR_ERR_MAX] = "";
	struct wire_bulk b;
	void *m;

	if (!recipe || len != sizeof b)
		return fail("runner: bad bulk state request");
	memcpy(&b, p, sizeof b);
	if (!(m = bulk_at_least(b.bytes)))
		return fail("runner: the bulk region is missing or too small for the state");
	if (type == WIRE_LOAD_BULK) {
		if (kr_state_load(recipe, m, (size_t)b.bytes, err) < 0)
			return fail(err);
		return wire_send(out_fd, WIRE_OK | type, NULL, 0);
	}
	if (b.bytes != kr_state_bytes(recipe))
		return fail("runner: save size mismatch");
	if (kr_state_save(recipe, m, (size_t)b.bytes, err) < 0)
		return fail(err);
	return wire_send(out_fd, WIRE_OK | type, &b, sizeof b);
}

static int do_state(uint32_t type, const char *p, uint64_t len)
{
	char err[KR_ERR_MAX] = "";
	uint64_t n;
	void *buf;
	int rc;

	if (!recipe)
		return fail("runner: no recipe");
	if (type == WIRE_STATE_BYTES) {
		n = kr_state_bytes(recipe);
		return wire_send(out_fd, WIRE_OK | type, &n, sizeof n);
	}
	if (type == WIRE_LOAD) {
		if (kr_state_load(recipe, p, len, err) < 0)
			return fail(err);
		return wire_send(out_fd, WIRE_OK | type, NULL, 0);
	}
	if (len != sizeof n)
		return fail("runner: bad save request");
	memcpy(&n, p, sizeof n);
	if (n != kr_state_bytes(recipe) || !(buf = malloc(n ? n : 1)))
		return fail("runner: save size mismatch or out of memory");
	rc = kr_state_save(recipe, buf, n, err) < 0 ? fail(err) : wire_send(out_fd, WIRE_OK | type, buf, n);
	free(buf);
	return rc;
}

int main(void)
{
	struct wire_hdr h;
	char *p = NULL, why[KR_ERR_MAX];
	int rc = 0;

	out_fd = dup(1);
	if (out_fd < 0 || dup2(2, 1) < 0)
		return 3;
	/* libsodium picks its implementations (and may read the kernel's
	 * random source) here, before the allowlist forbids it. */
	if (sodium_init() < 0)
		return 3;
	/* After the fd shuffle (dup is not on the allowlist), before any kr_*. */
	if (sandbox_inner_apply(why, sizeof why) < 0) {
		fprintf(stderr, "karpa-recipe: %s\n", why);
		return 2;
	}
	for (;;) {
		if (wire_read_full(0, &h, sizeof h) < 0)
			break; /* host closed the pipe: done */
		if (h.magic != WIRE_MAGIC || h.len > RUNNER_REQUEST_BYTES_MAX) {
			rc = 4;
			break;
		}
		free(p);
		p = malloc(h.len ? h.len : 1);
		if (!p || wire_read_full(0, p, h.len) < 0) {
			rc = 5;
			break;
		}
		switch (h.type) {
		case WIRE_CREATE: rc = do_create(p, h.len); break;
		case WIRE_TRAIN: rc = do_train(p, h.len); break;
		case WIRE_TRAIN_TRACED: rc = do_train_traced(p, h.len); break;
		case WIRE_LOGITS: rc = do_logits(p, h.len, 0); break;
		case WIRE_LOGITS_BULK: rc = do_logits(p, h.len, 1); break;
		case WIRE_SAVE_BULK:
		case WIRE_LOAD_BULK: rc = do_state_bulk(h.type, p, h.len); break;
		case WIRE_GEMM: rc = do_gemm(h.len); break;
		case WIRE_STATE_BYTES:
		case WIRE_SAVE:
		case WIRE_LOAD: rc = do_state(h.type, p, h.len); break;
		case WIRE_QUIT: goto out;
		default: rc = fail("runner: unknown request");
		}
		if (rc < 0) {
			rc = 6;
			break;
		}
	}
out:
	free(p);
	if (recipe)
		kr_destroy(recipe);
	if (bulk)
		munmap(bulk, bulk_len);
	return rc;
}
