/* hlosses.h: the king's hidden losses, target by target (docs/judging-checks.md,
 * "The sequential hidden evaluation"). Owns their file (one per scoring, in
 * the write-once content store) and the meta entry that names it for an
 * owner: a king ("king TAG") or a decisive submission waiting to be crowned
 * ("submission MANIFEST_SHA256"). Owns the proof that a file is the one the
 * king was scored with: its digest, its header, and its sum, which must give
 * the king's recorded hidden score bit for bit. Anything less is not used:
 * the judge then scores the candidate in full, as without a cache. */
#ifndef KARPA_HLOSSES_H
#define KARPA_HLOSSES_H

#include <stddef.h>
#include <stdint.h>

#include "validator/vstate.h"
#include "util/kerr.h"

#define HLOSSES_FORMAT "karpa-hidden-losses-1"
#define HLOSSES_META_PREFIX "hidden_losses "
#define HLOSSES_OWNER_MAX 160
#define HLOSSES_TARGETS_MAX ((uint64_t)1 << 24) /* 128 MiB of doubles at most */

struct hlosses {
	char owner[HLOSSES_OWNER_MAX];          /* "king TAG" or "submission HEX" */
	char hidden_digest[HASH_HEX_BYTES];     /* the hidden folder's data digest */
	int seq_len;                            /* the windows they were scored in */
	uint64_t targets;
	double bpb;                             /* what they add up to, bit for bit */
	double *nats;                           /* [targets], split order; owned */
};

/* Writes l to the store and points meta "hidden_losses OWNER" at it (in
 * the caller's transaction when there is one). hlosses.bad, vstate.*, fs.*. */
int hlosses_save(struct vstate *s, const struct hlosses *l, struct kerr *err);

/* Reads the losses of owner. hlosses.missing (no entry, or its file is
 * gone), hlosses.corrupt (the file's digest, header or length is not what
 * was written). */
int hlosses_load(struct vstate *s, const char *owner, struct hlosses *l, struct kerr *err);

/* Binds l to a scoring: the same owner-independent facts (hidden digest,
 * targets), and its sum over its own windows of tokens[0..targets] is bpb,
 * bit for bit (the king's recorded hidden score). hlosses.stale otherwise. */
int hlosses_bind(const struct hlosses *l, const char *hidden_digest, const uint16_t *tokens, uint64_t targets,
		 const uint32_t *token_bytes, double bpb, struct kerr *err);

/* What targets tokens[1..targets] add up to in windows of seq_len, as the
 * evaluator adds them (evaluate.h): the bits of val_bpb. */
double hlosses_sum_bpb(const double *nats, uint64_t targets, int seq_len, const uint16_t *tokens,
		       const uint32_t *token_bytes);

/* Targets scored from a split of n tokens with the scale's cap (0: all). */
uint64_t hlosses_targets(size_t n, uint64_t targets_max);

void hlosses_free(struct hlosses *l);

#endif
