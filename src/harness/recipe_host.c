/* recipe_host.c: the in-process recipe host and the checks every host's
 * answers go through. In-process the recipe shares our address space, so
 * these checks guard against mistakes, not attacks; the sandboxed pipe host
 * (docs/harness.md) is what makes them a security boundary. */
#include "harness/recipe_host.h"

#include <stdlib.h>
#include <string.h>

void recipe_host_err(struct kerr *err, const char *code, const char *what, const char *kr_err)
{
	char line[KR_ERR_MAX];
	size_t i;

	for (i = 0; i + 1 < sizeof line && kr_err && kr_err[i]; i++) {
		unsigned char c = (unsigned char)kr_err[i];
		line[i] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	line[i] = '\0';
	kerr_set(err, code, "recipe %s failed: %s", what, i ? line : "(no reason given)");
}

/* ---- in-process implementation ---------------------------------------- */

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
	h->logits = ip_logits;
	h->state_bytes = ip_state_bytes;
	h->save = ip_save;
	h->load = ip_load;
	h->destroy = ip_destroy;
	h->respawn = ip_respawn;
}

/* ---- checks on any host's answers ------------------------------------- */

/* Names go into JSON, file headers and terminal lines: keep them to a
 * conservative printable set so none of those need escaping rules. */
static int name_ok(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	if (n == 0 || n == cap)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || c == '+'))
			return 0;
	}
	return 1;
}

static int check_plan(const struct kr_plan *p, struct kerr *err)
{
	if (!name_ok(p->name, sizeof p->name) || !name_ok(p->version, sizeof p->version))
		return kerr_set(err, "recipe.bad_plan",
				"plan name/version must be 1..%d bytes of [A-Za-z0-9._+-]", KR_NAME_MAX - 1);
	if (p->batch <= 0 || p->batch > RECIPE_BATCH_MAX)
		return kerr_set(err, "recipe.bad_plan", "plan.batch %d outside 1..%d", p->batch,
				RECIPE_BATCH_MAX);
	if (p->seq_len <= 0 || p->seq_len > RECIPE_SEQ_LEN_MAX)
		return kerr_set(err, "recipe.bad_plan", "plan.seq_len %d outside 1..%d", p->seq_len,
				RECIPE_SEQ_LEN_MAX);
	if (p->eval_batch <= 0 || p->eval_batch > RECIPE_EVAL_BATCH_MAX)
		return kerr_set(err, "recipe.bad_plan", "plan.eval_batch %d outside 1..%d",
				p->eval_batch, RECIPE_EVAL_BATCH_MAX);
	if (p->steps <= 0 || p->steps > RECIPE_STEPS_MAX)
		return kerr_set(err, "recipe.bad_plan", "plan.steps %lld outside 1..%lld",
				(long long)p->steps, (long long)RECIPE_STEPS_MAX);
	if (p->ckpt_every < 0 || p->ckpt_every > p->steps)
		return kerr_set(err, "recipe.bad_plan", "plan.ckpt_every %lld outside 0..steps",
				(long long)p->ckpt_every);
	if (p->params < 0)
		return kerr_set(err, "recipe.bad_plan", "plan.params %lld is negative",
				(long long)p->params);
	return 0;
}

int recipe_host_create(struct recipe_host *h, const struct kr_env *env, struct kr_plan *plan,
		       struct kerr *err)
{
	memset(plan, 0, sizeof *plan);
	h->vocab_size = env->vocab_size;
	if (h->create(h, env, plan, err) < 0)
		return -1;
	/* The plan crossed the boundary: terminate its strings before reading. */
	plan->name[KR_NAME_MAX - 1] = '\0';
	plan->version[KR_NAME_MAX - 1] = '\0';
	if (check_plan(plan, err) < 0) {
		recipe_host_destroy(h);
		return -1;
	}
	return 0;
}

int recipe_host_state_bytes(struct recipe_host *h, size_t *n, struct kerr *err)
{
	if (h->state_bytes(h, n, err) < 0)
		return -1;
	if (*n == 0 || *n > RECIPE_STATE_BYTES_MAX)
		return kerr_set(err, "recipe.bad_state_size", "recipe state of %zu bytes outside 1..%zu",
				*n, RECIPE_STATE_BYTES_MAX);
	return 0;
}

int recipe_host_restart(struct recipe_host *h, const struct kr_env *env, const struct kr_plan *want,
			const void *state, size_t n, struct kerr *err)
{
	struct kr_plan plan;
	size_t now;

	if (!h->respawn)
		return kerr_set(err, "recipe.restart", "this recipe host cannot restart its recipe");
	if (h->respawn(h, err) < 0 || recipe_host_create(h, env, &plan, err) < 0)
		return -1;
	if (memcmp(&plan, want, sizeof plan))
		return kerr_set(err, "recipe.plan_changed",
				"the recipe declared another plan after a restart (%s %s, %lld steps): a plan must "
				"depend only on the scale, seed and vocabulary",
				plan.name, plan.version, (long long)plan.steps);
	if (recipe_host_state_bytes(h, &now, err) < 0)
		return -1;
	if (now != n)
		return kerr_set(err, "recipe.bad_state_size", "state size changed from %zu to %zu bytes across a restart",
				n, now);
	return h->load(h, state, n, err);
}

void recipe_host_destroy(struct recipe_host *h)
{
	if (h && h->destroy)
		h->destroy(h);
}
