/* recipe_trace.c: the collector of a traced step. It runs in the recipe's
 * process, so it is plain and bounded: a digest and a norm per tensor, no
 * allocation. */
#include "sandbox/recipe_trace.h"

#include <math.h>
#include <sodium.h>
#include <string.h>

static int name_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
	       ch == '.';
}

static void on_tensor(void *arg, const char *name, const float *x, size_t n)
{
	struct recipe_trace *t = arg;
	struct recipe_trace_rec *r;
	double ss = 0;
	size_t k;

	if (t->n >= t->cap) {
		t->overflow = 1;
		return;
	}
	r = &t->recs[t->n++];
	memset(r, 0, sizeof *r);
	for (k = 0; name && name[k] && k < sizeof r->name - 1; k++)
		r->name[k] = name_char(name[k]) ? name[k] : '?';
	r->n = x ? n : 0;
	for (k = 0; k < r->n; k++)
		ss += (double)x[k] * (double)x[k];
	r->l2 = sqrt(ss);
	crypto_generichash(r->digest, sizeof r->digest, (const unsigned char *)x, r->n * sizeof *x, NULL, 0);
}

struct kr_tracer recipe_trace_begin(struct recipe_trace *t, struct recipe_trace_rec *recs, uint32_t cap)
{
	struct kr_tracer tr = { on_tensor, t };

	t->recs = recs;
	t->n = 0;
	t->cap = cap;
	t->overflow = 0;
	return tr;
}

int recipe_trace_check(const struct recipe_trace_rec *recs, uint32_t n, uint32_t *bad)
{
	for (uint32_t i = 0; i < n; i++) {
		const char *s = recs[i].name;
		size_t len = strnlen(s, sizeof recs[i].name);
		int dots = 0, ok = len > 0 && len < sizeof recs[i].name && s[0] != '.' && s[len - 1] != '.';

		for (size_t k = 0; ok && k < len; k++) {
			ok = name_char(s[k]) && !(s[k] == '.' && s[k + 1] == '.');
			dots += s[k] == '.';
		}
		if (!ok || dots != 3 || recs[i].n > RECIPE_TRACE_ELEMS_MAX) {
			*bad = i;
			return -1;
		}
	}
	return 0;
}
