/* trace.h: dispute traces (docs/dispute.md). Owns the document two parties
 * exchange when a replay disagrees: for each step of one segment, replayed
 * from the segment's kept checkpoint, the loss and learning rate the step
 * gave and the digest of every tensor the recipe traced, in computation
 * order; its JSON form (written atomically, read as hostile input); and
 * the comparison that names the first tensor, and so the first layer and
 * operation, on which two traces differ. */
#ifndef KARPA_TRACE_H
#define KARPA_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "sandbox/recipe_trace.h"
#include "util/hash.h"
#include "util/kerr.h"

#define TRACE_FORMAT "karpa-trace/1"
/* Bounds on a document from elsewhere: a two-layer step traces 140
 * tensors in about 12 KB of JSON and a segment is at most a few hundred
 * steps, so a trace is a few MB. The file bound also bounds what jansson
 * builds before the counts are checked (some tens of bytes of tree per
 * byte of text); the record bound is what that many bytes can hold. */
#define TRACE_FILE_BYTES_MAX ((size_t)64 << 20)
#define TRACE_STEPS_MAX 100000
#define TRACE_RECORDS_MAX ((size_t)1 << 20)
#define TRACE_SIDE_MAX 16
#define TRACE_MACHINE_MAX 64
/* The JSON values (jsonmem_values_over's count: keys count, and an empty
 * array one) a trace within the step and record bounds holds: a record is
 * an array of four, a step an object of four keys and values with its
 * tensors array, the document one of eight. A body over it is refused
 * before jansson builds it, at tens of bytes of heap per value (64 MiB of
 * `[0,0,...]` is 32M values; this bound is a fifth of that). */
#define TRACE_VALUES_MAX (5 * TRACE_RECORDS_MAX + 10 * (size_t)TRACE_STEPS_MAX + 32)

struct trace_step {
	int64_t step;
	float loss, lr;                  /* what the replayed step gave */
	uint32_t n;
	struct recipe_trace_rec *recs;   /* owned */
};

struct trace_doc {
	char manifest[HASH_HEX_BYTES];   /* SHA-256 of the bundle's manifest.json */
	char side[TRACE_SIDE_MAX];       /* who replayed: "validator", "miner", ... ([a-z0-9_-]) */
	char machine[TRACE_MACHINE_MAX]; /* ISA and vector path, for people */
	int segment;
	int64_t from_step;               /* the segment's first step: steps[i].step == from_step + i */
	int threads;
	int nsteps, cap;
	struct trace_step *steps;        /* owned */
	size_t nrecs;                    /* records over all steps */
};

/* Starts an empty document (nothing allocated yet). */
void trace_doc_init(struct trace_doc *d, const char *manifest, const char *side, int segment, int64_t from_step,
		    int threads);
/* Appends the next step (step must be from_step + nsteps); copies recs. */
int trace_doc_add(struct trace_doc *d, int64_t step, float loss, float lr, const struct recipe_trace_rec *recs,
		  uint32_t n, struct kerr *err);
void trace_doc_free(struct trace_doc *d);

/* JSON, temp + fsync + rename; trace.too_large when the text would pass
 * TRACE_FILE_BYTES_MAX (the other party could not read it). */
int trace_doc_write(const char *path, const struct trace_doc *d, struct kerr *err);
/* Parses a document from elsewhere: every field checked, every bound above
 * enforced (trace.bad). On failure d holds nothing. */
int trace_doc_parse(const char *text, size_t len, struct trace_doc *d, struct kerr *err);
int trace_doc_read(const char *path, struct trace_doc *d, struct kerr *err);

struct trace_diff {
	int differ;                      /* 0: every step both traces hold agrees */
	int64_t steps_compared;          /* steps both hold, from the segment's start */
	int64_t step;                    /* when differ: the first step with a difference */
	int loss_differs, lr_differs;    /* at that step */
	uint32_t index;                  /* the first differing record in that step */
	char name[KR_TRACE_NAME_MAX];    /* its name; "" when only loss or lr differ */
	char phase[8], where[16], op[24], tensor[24];
	uint64_t n;
	double l2_a, l2_b;
};

/* Compares a and b step by step, record by record. Codes:
 *   trace.other_bundle   they trace different bundles (manifest digests)
 *   trace.other_segment  different segments or start steps
 *   trace.layout         the same position holds different names: the two
 *                        replays did not run the same recipe code */
int trace_compare(const struct trace_doc *a, const struct trace_doc *b, struct trace_diff *out, struct kerr *err);

/* One line for people: "forward pass, layer 1, operation gelu, tensor out". */
void trace_diff_describe(const struct trace_diff *d, char *buf, size_t cap);

#endif
