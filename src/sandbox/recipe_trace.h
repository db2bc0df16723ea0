/* recipe_trace.h: the harness's side of a traced training step (recipe_api.h,
 * kr_train_step_traced). Owns the trace record (a tensor's name, element
 * count, norm and BLAKE2b-128 digest: never its data) and the collector that
 * fills a caller's array of them, in the recipe's process (the runner or an
 * in-process host). What the host receives from a sandboxed runner is
 * checked again by the host (recipe_trace_check). */
#ifndef KARPA_RECIPE_TRACE_H
#define KARPA_RECIPE_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "sandbox/recipe_api.h"

#define RECIPE_TRACE_DIGEST_BYTES 16
/* Records one traced step may carry: the project's recipe names 22 + 59
 * per layer (140 for two layers); a bound keeps a confused recipe from
 * filling memory. */
#define RECIPE_TRACE_MAX 8192
/* Elements one traced tensor may claim: far above any model here. */
#define RECIPE_TRACE_ELEMS_MAX ((uint64_t)1 << 40)

struct recipe_trace_rec {
	char name[KR_TRACE_NAME_MAX];                 /* NUL-terminated, [A-Za-z0-9_.] */
	uint64_t n;                                   /* float elements */
	double l2;                                    /* sqrt(sum x^2), for people */
	uint8_t digest[RECIPE_TRACE_DIGEST_BYTES];    /* BLAKE2b-128 of the n floats' bytes */
};

/* Fills recs (cap of them) from the recipe's tracer calls. A name outside
 * the charset has the offending bytes replaced by '?', which the host's
 * check then refuses; calls past cap set `overflow`. */
struct recipe_trace {
	struct recipe_trace_rec *recs;
	uint32_t n, cap;
	int overflow;
};

/* Points t at recs and returns the tracer to hand the recipe. */
struct kr_tracer recipe_trace_begin(struct recipe_trace *t, struct recipe_trace_rec *recs, uint32_t cap);

/* 0 when every one of the n records has a NUL-terminated name of the
 * allowed charset, in the shape "phase.where.op.tensor", and at most
 * RECIPE_TRACE_ELEMS_MAX elements; else -1 with the first bad record's
 * index in *bad. */
int recipe_trace_check(const struct recipe_trace_rec *recs, uint32_t n, uint32_t *bad);

#endif
