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
#include "validator/vstate.h"

/* Half-life of an improvement's credit, in epochs. */
#define WEIGHTS_HALF_LIFE_EPOCHS 8

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
 * corpus as it stands. weights.db */
int weights_compute(struct vstate *s, long long epoch, const char *closed_at, struct weights *out,
		    struct kerr *err);
/* Canonical JSON of the vector (sorted keys, fixed float format): the bytes
 * the ledger hashes and signs. Caller frees. */
char *weights_canonical(const struct weights *w);

/* Where a closed epoch's vector goes. The local ledger (ledger.h) is the
 * embedded default; the chain adapter is another. */
struct weights_sink {
	const char *name;
	int (*submit)(void *ctx, const struct weights *w, struct kerr *err);
	void *ctx;
};

#endif
