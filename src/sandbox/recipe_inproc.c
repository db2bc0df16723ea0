/* recipe_inproc.c: the in-process recipe host, calling kr_* directly. For
 * tests and benchmarks that link the project's recipe (librecipe.a) into
 * their own process; the karpa binary never does, it reaches every recipe
 * through the pipe host. In-process the recipe shares our address space, so
 * the host's checks guard against mistakes, not attacks. */
#include "sandbox/recipe_host.h"

#include <stdlib.h>
#include <string.h>

static struct kr_recipe *R(struct recipe_host *h)
{
	return (struct kr_recipe *)h->impl;
}

static int ip_create(struct recipe_host *h, const struct kr_env *env, struct kr_plan *plan,
		     struct kerr *err)
{
	char e[KR_ERR_MAX] = "";
	struct kr_recipe *r = NULL;

	if (kr_create(env, &r, plan, e) < 0 || !r) {
		e[KR_ERR_MAX - 1] = '\0';
		recipe_host_err(err, "recipe.create", "create", e);
		if (r)
			kr_destroy(r);
		return -1;
	}
	h->impl = r;
	return 0;
}

static int ip_train_step(struct recipe_host *h, int64_t step, const uint16_t *tokens, float *loss,
			 float *lr, struct kerr *err)
{
	char e[KR_ERR_MAX] = "";

	if (kr_train_step(R(h), step, tokens, loss, lr, e) < 0) {
		e[KR_ERR_MAX - 1] = '\0';
		recipe_host_err(err, "recipe.train_step", "train_step", e);
		return -1;
	}
	return 0;
}

/* Optional for a recipe (recipe_api.h): absent, the weak reference is NULL. */
#pragma weak kr_train_step_traced

static int ip_train_traced(struct recipe_host *h, int64_t step, const uint16_t *tokens, float *loss, float *lr,
			   struct recipe_trace_rec *recs, uint32_t cap, uint32_t *n, int *overflow, struct kerr *err)
{
	char e[KR_ERR_MAX] = "";
	struct recipe_trace tr;
	struct kr_tracer kt = recipe_trace_begin(&tr, recs, cap);

	if (!kr_train_step_traced)
		return kerr_set(err, "recipe.no_trace", "this recipe does not implement kr_train_step_traced");
	if (kr_train_step_traced(R(h), step, tokens, loss, lr, &kt, e) < 0) {
		e[KR_ERR_MAX - 1] = '\0';
		recipe_host_err(err, "recipe.train_step", "train_step_traced", e);
		return -1;
	}
	*n = tr.n;
	*overflow = tr.overflow;
	return 0;
}

static int ip_logits(struct recipe_host *h, const uint16_t *tokens, int rows, int T, float *logits,
		     struct kerr *err)
{
	char e[KR_ERR_MAX] = "";

	if (kr_logits(R(h), tokens, rows, T, logits, e) < 0) {
		e[KR_ERR_MAX - 1] = '\0';
		recipe_host_err(err, "recipe.logits", "logits", e);
		return -1;
	}
	return 0;
}

/* Optional for a recipe (API 1.3): absent, nothing is reported. */
#pragma weak kr_gemm_record

static int ip_gemm(struct recipe_host *h, char *buf, size_t cap, size_t *n, struct kerr *err)
{
	char e[KR_ERR_MAX] = "";

	buf[0] = '\0';
	if (kr_gemm_record && kr_gemm_record(R(h), buf, cap, e) < 0) {
		e[KR_ERR_MAX - 1] = '\0';
		recipe_host_err(err, "recipe.gemm", "gemm_record", e);
		return -1;
	}
	*n = strnlen(buf, cap);
	return 0;
}

static int ip_state_bytes(struct recipe_host *h, size_t *n, struct kerr *err)
{
	(void)err;
	*n = kr_state_bytes(R(h));
	return 0;
}

static int ip_save(struct recipe_host *h, void *buf, size_t n, struct kerr *err)
{
	char e[KR_ERR_MAX] = "";

	if (kr_state_save(R(h), buf, n, e) < 0) {
		e[KR_ERR_MAX - 1] = '\0';
		recipe_host_err(err, "recipe.save", "state_save", e);
		return -1;
	}
	return 0;
}

static int ip_load(struct recipe_host *h, const void *buf, size_t n, struct kerr *err)
{
	char e[KR_ERR_MAX] = "";

	if (kr_state_load(R(h), buf, n, e) < 0) {
		e[KR_ERR_MAX - 1] = '\0';
		recipe_host_err(err, "recipe.load", "state_load", e);
		return -1;
	}
	return 0;
}

static void ip_destroy(struct recipe_host *h)
{
	if (h->impl)
		kr_destroy(R(h));
	h->impl = NULL;
}

/* In-process a restart can only drop the recipe object: file-scope state
 * of the recipe survives in our address space. The pipe host's respawn is
 * the one that gives a clean process. */
static int ip_respawn(struct recipe_host *h, struct kerr *err)
{
	(void)err;
	ip_destroy(h);
	return 0;
}

void recipe_host_inproc(struct recipe_host *h)
{
	memset(h, 0, sizeof *h);
	h->kind = "inproc";
	h->create = ip_create;
	h->train_step = ip_train_step;
	h->train_traced = ip_train_traced;
	h->logits = ip_logits;
	h->gemm = ip_gemm;
	h->state_bytes = ip_state_bytes;
	h->save = ip_save;
	h->load = ip_load;
	h->destroy = ip_destroy;
	h->respawn = ip_respawn;
}

