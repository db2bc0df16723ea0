/* scan_fixture.h: what the diff scan's tests share: one scan's findings,
 * looking a code up in them, and printing them when a case fails. */
#ifndef KARPA_SCAN_FIXTURE_H
#define KARPA_SCAN_FIXTURE_H

#include "../testutil.h"

#include "judge/diffscan.h"

#define FINDINGS_CAP 64

struct result {
	int n;
	struct diffscan_finding f[FINDINGS_CAP];
	struct kerr err;
};

typedef int (*scan_fn)(const char *name, const char *text, size_t len, struct diffscan_finding *out, int cap,
		       struct kerr *err);

static inline void scan_with(scan_fn fn, const char *name, const char *text, struct result *r)
{
	memset(r, 0, sizeof *r);
	r->n = fn(name, text, strlen(text), r->f, FINDINGS_CAP, &r->err);
}

/* Index of the first finding with this code (and what in its construct,
 * when what is not NULL), or -1. */
static inline int scan_has(const struct result *r, const char *code, const char *what)
{
	for (int i = 0; i < r->n; i++)
		if (!strcmp(r->f[i].code, code) && (!what || strstr(r->f[i].what, what)))
			return i;
	return -1;
}

static inline void scan_dump(const struct result *r)
{
	for (int i = 0; i < r->n; i++)
		fprintf(stderr, "  finding %s:%d %s [%s]\n", r->f[i].file, r->f[i].line, r->f[i].code,
			r->f[i].what);
	if (r->n < 0)
		fprintf(stderr, "  error %s: %s\n", r->err.code, r->err.msg);
}

#endif
