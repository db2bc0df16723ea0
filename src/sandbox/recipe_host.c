/* recipe_host.c: the checks every host's answers go through, and the
 * restart. With the sandboxed pipe host (docs/harness.md) they are a
 * security boundary; the in-process host (recipe_inproc.c, tests only) runs
 * the same checks. */
#include "sandbox/recipe_host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/gemmtab.h"
#include "util/termtext.h"

void recipe_host_err(struct kerr *err, const char *code, const char *what, const char *kr_err)
{
	char line[KR_ERR_MAX];
	size_t i;

	for (i = 0; i + 1 < sizeof line && kr_err && kr_err[i]; i++)
		line[i] = kr_err[i];
	line[i] = '\0';
	termtext_clean(line, ' ');
	kerr_set(err, code, "recipe %s failed: %s", what, i ? line : "(no reason given)");
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

/* A table that crossed the boundary (or is about to): canonical, or
 * recipe.bad_gemm. */
static int check_gemm(const char *text, size_t len, const char *whose, struct kerr *err)
{
	struct gemmtab *t = malloc(sizeof *t);
	int rc;

	if (!t)
		return kerr_set(err, "recipe.nomem", "out of memory for a gemm table");
	rc = gemmtab_parse(text, len, t, err);
	free(t);
	if (rc < 0) {
		kerr_prefix(err, "%s gemm table", whose);
		snprintf(err->code, sizeof err->code, "recipe.bad_gemm");
	}
	return rc;
}

int recipe_host_create(struct recipe_host *h, const struct kr_env *env, struct kr_plan *plan,
		       struct kerr *err)
{
	size_t gl = env->gemm ? strnlen(env->gemm, KR_GEMM_MAX) : 0;

	memset(plan, 0, sizeof *plan);
	if (gl == KR_GEMM_MAX)
		return kerr_set(err, "recipe.bad_gemm", "the gemm table to pin has no NUL within %d bytes", KR_GEMM_MAX);
	if (gl && check_gemm(env->gemm, gl, "the pinned", err) < 0)
		return -1;
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

int recipe_host_restart_spawn(struct recipe_host *h, struct kerr *err)
{
	if (!h->respawn)
		return kerr_set(err, "recipe.restart", "this recipe host cannot restart its recipe");
	return h->respawn(h, err);
}

int recipe_host_restart_load(struct recipe_host *h, const struct kr_env *env, const struct kr_plan *want,
			     const void *state, size_t n, struct kerr *err)
{
	struct kr_plan plan;
	struct kr_env again = *env;
	size_t now;

	again.state_follows = 1;
	if (recipe_host_create(h, &again, &plan, err) < 0)
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

int recipe_host_train_traced(struct recipe_host *h, int64_t step, const uint16_t *tokens, float *loss, float *lr,
			     struct recipe_trace_rec *recs, uint32_t cap, uint32_t *n, struct kerr *err)
{
	int overflow = 0;
	uint32_t bad;

	*n = 0;
	if (!h->train_traced)
		return kerr_set(err, "recipe.no_trace", "this recipe host cannot trace a step");
	if (h->train_traced(h, step, tokens, loss, lr, recs, cap, n, &overflow, err) < 0)
		return -1;
	if (overflow)
		return kerr_set(err, "recipe.trace_overflow", "step %lld: the recipe traced more than %u tensors",
				(long long)step, cap);
	for (uint32_t i = 0; i < *n; i++)
		recs[i].name[KR_TRACE_NAME_MAX - 1] = '\0';
	if (recipe_trace_check(recs, *n, &bad) < 0)
		return kerr_set(err, "recipe.bad_trace",
				"step %lld: trace record %u ('%s') is not phase.where.op.tensor in [A-Za-z0-9_.] "
				"with at most 2^40 elements",
				(long long)step, bad, recs[bad].name);
	return 0;
}

int recipe_host_gemm(struct recipe_host *h, char text[KR_GEMM_MAX], struct kerr *err)
{
	char *buf;
	size_t len = 0;
	int rc = -1;

	if (!h->gemm) {
		text[0] = '\0';
		return 0;
	}
	if (!(buf = malloc(KR_GEMM_MAX)))
		return kerr_set(err, "recipe.nomem", "out of memory for a gemm table");
	buf[0] = '\0';
	if (h->gemm(h, buf, KR_GEMM_MAX, &len, err) < 0)
		goto out;
	if (len >= KR_GEMM_MAX || memchr(buf, '\0', len)) {
		kerr_set(err, "recipe.bad_gemm", "the recipe's gemm table holds a NUL byte or is over %d bytes",
			 KR_GEMM_MAX - 1);
		goto out;
	}
	if (len && check_gemm(buf, len, "the recipe's", err) < 0)
		goto out;
	memcpy(text, buf, len);
	text[len] = '\0';
	rc = 0;
out:
	free(buf);
	return rc;
}

void recipe_host_destroy(struct recipe_host *h)
{
	if (h && h->destroy)
		h->destroy(h);
}
