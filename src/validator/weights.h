/* weights.h: the epoch's weight vector over miner keys (PROTOCOL 7,
 * docs/weights.md) and the sinks it goes to. Owns the rule (decisive,
 * confirmed improvements earn in proportion to their hidden-bpb gain times
 * alpha, decaying with age; copies are credited to the earliest submission;
 * nothing else earns), its determinism (the same corpus gives the same
 * bytes on any validator), and the normalisation Bittensor's validators
 * apply before set_weights (divide by the maximum, round half to even to
 * u16, drop zeros), so a chain sink can send the vector unchanged. */
#ifndef KARPA_WEIGHTS_H
#define KARPA_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "proof/keys.h"
#include "util/kerr.h"
#include "validator/expcorpus.h"
#include "validator/vstate.h"

/* Half-life of an improvement's credit, in epochs: a king change keeps
 * earning for a few days at the default epoch length, so the standing
 * king's miner is paid while the recipe is theirs, and old gains fade so a
 * stalled network does not pay for last month's work forever. */
#define WEIGHTS_HALF_LIFE_EPOCHS 8
/* The epoch length a state gets at its first close unless told otherwise:
 * a Bittensor subnet's tempo (360 blocks of 12 s), the cadence at which its
 * validators set weights. */
#define WEIGHTS_EPOCH_SECONDS_DEFAULT 4320
#define WEIGHTS_EPOCH_SECONDS_MAX (366LL * 86400)
/* Kings rows read per epoch: one per king change; a million would be a
 * corrupt table, not a network. */
#define WEIGHTS_ENTRIES_MAX (1u << 20)
/* Hops along credited_to to the earliest submission: the corpus writes
 * the earliest claim at the time, which may itself be credited on (a claim
 * that copied another key's model), so a few; more means hand-edited rows,
 * and a cycle must not hang the epoch. The judge's copy rule follows the
 * same chain (EXPCORPUS_CREDIT_HOPS_MAX). */
#define WEIGHTS_CREDIT_HOPS_MAX EXPCORPUS_CREDIT_HOPS_MAX
/* meta keys of the epoch grid, written once, at the first close. */
#define WEIGHTS_META_EPOCH_SECONDS "epoch_seconds"
#define WEIGHTS_META_EPOCH0_START "epoch0_start"

struct weights_entry {
	char miner[KEYS_PK_HEX_BYTES];
	double score;  /* before normalisation */
	uint16_t u16;  /* normalised; entries with 0 are dropped */
};

struct weights {
	long long epoch;
	char closed_at[VSTATE_TIME_BYTES];
	size_t n;                      /* entries, sorted by miner key (bytewise) */
	struct weights_entry *e;       /* owned; weights_free */
};
void weights_free(struct weights *w);

/* The vector for epoch (closing at closed_at, ISO-8601 UTC) from the
 * corpus as it stands. weights.no_grid, weights.corrupt, vstate.db */
int weights_compute(struct vstate *s, long long epoch, const char *closed_at, struct weights *out,
		    struct kerr *err);
/* Canonical JSON of the vector (sorted keys, fixed float format): the bytes
 * the ledger hashes and signs. Caller frees. */
char *weights_canonical(const struct weights *w);

/* The epoch grid (docs/weights.md, "Epochs"): grid epoch n is the
 * half-open interval [epoch0_start + n*L, epoch0_start + (n+1)*L) with
 * L = epoch_seconds. Fixed at the state's first close (epoch0_start =
 * that close's time minus L, so the first close ends grid epoch 0) and
 * never changed, since every age is measured on it. epoch_seconds 0: the
 * stored length, else WEIGHTS_EPOCH_SECONDS_DEFAULT; a nonzero one that
 * differs from the stored length is weights.grid. Runs in the caller's
 * transaction when there is one. weights.grid, vstate.db */
int weights_grid_ensure(struct vstate *s, long long epoch_seconds, const char *closed_at, struct kerr *err);
/* The stored grid: length in seconds and epoch0_start as Unix seconds.
 * weights.no_grid before the first close, weights.corrupt, vstate.db */
int weights_grid_get(struct vstate *s, long long *epoch_seconds, long long *epoch0_start_unix,
		     struct kerr *err);
/* "YYYY-MM-DDTHH:MM:SSZ" (the state's one time format) to Unix seconds,
 * strictly: -1 for anything else. Calendar arithmetic, no time zone. */
int weights_time_parse(const char *iso, long long *unix_s);

/* Where a closed epoch's vector goes. The local ledger (ledger.h) is the
 * embedded default; the chain adapter is another. */
struct weights_sink {
	const char *name;
	int (*submit)(void *ctx, const struct weights *w, struct kerr *err);
	void *ctx;
};

/* Closes `epoch` now: in one transaction, fixes the grid if this is the
 * first close (weights_grid_ensure), computes the vector as of now and
 * hands it to the sink, so the grid, the vector and the sink's record
 * commit together or not at all. out is filled (weights_free) on success.
 * The sink's codes, weights.* */
int weights_close_epoch(struct vstate *s, long long epoch, long long epoch_seconds, const struct weights_sink *sink,
			struct weights *out, struct kerr *err);

#endif
