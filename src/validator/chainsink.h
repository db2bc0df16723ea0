/* chainsink.h: the chain as a validator's second weights sink. Owns the
 * pending-commit table in the state database (chain_commits: the commits
 * of commit-reveal, kept so that a restart still reveals), the conversion
 * of an epoch's vector (miner keys in hex) to chain miners, and, for
 * `validator serve --chain`, a worker thread that sends each closed
 * epoch's weights and attempts the pending reveals without ever holding up
 * or failing the ledger (docs/chain.md, "Sending weights"). */
#ifndef KARPA_CHAINSINK_H
#define KARPA_CHAINSINK_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "chain/chainsend.h"
#include "util/kerr.h"
#include "validator/vstate.h"
#include "validator/weights.h"

#define CHAINSINK_CODES_MAX 32 /* distinct failure codes counted for /metrics */
/* While commits wait, reveals are also tried this often between epochs: a
 * reveal window (one subnet epoch, about 72 minutes at tempo 360) may be
 * shorter than the service's epoch. */
#define CHAINSINK_REVEAL_EVERY_S 300

/* The pending-commit store over s's database: st is what chainsend takes
 * (its ctx is this struct, which must outlive it). lock (may be NULL) is
 * held around each statement: the service shares one connection between
 * threads. */
struct chainsink_store {
	struct chain_commit_store st;
	struct vstate *s;
	pthread_mutex_t *lock;
};
void chainsink_store_init(struct chainsink_store *cs, struct vstate *s, pthread_mutex_t *lock);

/* w's miners as chain miners (the key's 32 bytes, the score); caller frees.
 * chainsink.bad_miner for a key that is not 64 hex digits. */
int chainsink_miners(const struct weights *w, struct chain_miner **out, size_t *n, struct kerr *e);

struct chainsink_opts {
	const char *endpoint;
	uint16_t netuid;
	const char *hotkey; /* a chain key file (karpa chain keys import) */
	uint64_t version_key;
	long follow_ms, poll_ms; /* 0: chainsend's defaults */
};

struct chainsink;

/* Loads the key and starts the worker; nothing is sent until an epoch is
 * offered. The key's codes (chainkey.*), chainsink.thread. */
int chainsink_start(struct chainsink **out, const struct chainsink_opts *o, struct vstate *vs, pthread_mutex_t *db,
		    struct kerr *e);
/* Hands the worker a copy of w (an epoch the ledger has recorded) and
 * returns at once; a vector still waiting is replaced by the newer one. */
void chainsink_offer(struct chainsink *c, const struct weights *w);
/* Prometheus text: submissions, landed, failures by reason code, dropped
 * miners, reveals. */
void chainsink_metrics(struct chainsink *c, FILE *f);
/* Stops the worker (after the send in flight, if any) and wipes the key. */
void chainsink_stop(struct chainsink *c);

#endif
