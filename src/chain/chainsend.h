/* chainsend.h: an epoch's weights sent to a subtensor node. Owns the
 * sending protocol: the runtime (version, metadata cached by spec_version,
 * genesis, a finalised block for the era's birth, the nonce), the miners'
 * uids (a miner's Karpa key is its hotkey: Uids(netuid, key bytes)), the
 * choice between set_weights and commit_weights (CommitRevealWeightsEnabled),
 * the pending commits kept through a store the caller provides, their
 * reveal in subtensor's window with the uids checked again, and following
 * each submission into a block to read how its dispatch ended
 * (docs/chain.md, "Sending weights"). Never sees a secret (chain_signer). */
#ifndef KARPA_CHAIN_SEND_H
#define KARPA_CHAIN_SEND_H

#include <stddef.h>
#include <stdint.h>

#include "chain/events.h"
#include "chain/extrinsic.h"
#include "chain/rpc.h"
#include "chain/signer.h"
#include "util/kerr.h"

#define CHAIN_SALT_LEN 8                  /* u16 items, as Bittensor's SDK */
#define CHAIN_FOLLOW_MS_DEFAULT 60000     /* five 12-second blocks */
#define CHAIN_POLL_MS_DEFAULT 2000
#define CHAIN_FOLLOW_BLOCKS_MAX 64        /* blocks looked through for one submission */
#define CHAIN_COMMITS_MAX 64              /* pending commits read back at most */
#define CHAIN_LOCATE_BLOCKS_MAX 512       /* blocks one reveal pass looks through for one commit */
#define CHAIN_COMMIT_BODY_BYTES_MAX (2u << 20)

/* One miner of the epoch: its account (the 32 bytes of its Karpa ed25519
 * key, which it registered as its hotkey) and its score (any non-negative
 * scale; normalised to u16 after the unregistered are dropped). */
struct chain_miner {
	uint8_t account[32];
	double score;
};

/* Where pending commits are kept (validator/chainsink.c keeps them in the
 * state database). Bodies are JSON written and read by this module; key is
 * the commit hash in hex. put replaces a body with the same key. */
struct chain_commit_store {
	int (*put)(void *ctx, const char *key, uint16_t netuid, const char *body, struct kerr *e);
	int (*del)(void *ctx, const char *key, struct kerr *e);
	/* At most CHAIN_COMMITS_MAX bodies of netuid, oldest first; the caller
	 * frees each and the array. */
	int (*list)(void *ctx, uint16_t netuid, char ***bodies, size_t *n, struct kerr *e);
	void *ctx;
};

struct chain_send_opts {
	const char *endpoint;
	uint16_t netuid;
	uint64_t version_key;
	uint32_t era_period;  /* 0: CHAIN_ERA_PERIOD_DEFAULT */
	long follow_ms;       /* look for the submission this long (0: the default; <0: do not follow) */
	long poll_ms;         /* between looks (0: the default) */
	const struct chain_rpc_opts *rpc; /* NULL: chain_rpc_opts_default */
	const struct chain_commit_store *store; /* needed when commit-reveal is on */
};

/* What one submission did. */
struct chain_send_report {
	const char *call;       /* "set_weights", "commit_weights", "reveal_weights"; NULL: nothing sent */
	long long epoch;
	size_t n;               /* uids sent */
	uint16_t *uids, *vals;  /* owned (chain_send_report_free) */
	size_t dropped;         /* miners without a uid on the subnet */
	uint64_t version_key;
	int commit_reveal;
	uint16_t salt[CHAIN_SALT_LEN];
	uint8_t commit_hash[CHAIN_HASH_BYTES];
	uint8_t *call_bytes, *xt; /* owned: the call and the signed extrinsic */
	size_t call_len, xt_len;
	int submitted;
	uint8_t tx_hash[CHAIN_HASH_BYTES];
	uint64_t sent_head;     /* the best block before it was sent */
	uint64_t sent_final;    /* the final block it was signed at: it lands after it */
	uint64_t era_death;     /* it lands before this block or never */
	int landed;             /* found in a block */
	uint64_t block;
	long index;
	struct chain_dispatch dispatch;
};
void chain_send_report_free(struct chain_send_report *r);

/* What a pass over the pending commits did. */
struct chain_reveal_report {
	int pending;   /* commits kept, before the pass */
	int revealed;  /* reveals that landed with ExtrinsicSuccess */
	int waiting;   /* not yet in their window */
	int expired;   /* past their window: dropped */
	int moved;     /* a uid changed hands since the commit: dropped */
	int lost;      /* never landed while its era lasted: dropped */
	int failed;    /* a reveal refused; the first failure is in the kerr */
};

struct chain_sender;

/* Connects nothing yet; signer is copied (its ctx must outlive the sender). */
int chain_sender_open(struct chain_sender **out, const struct chain_send_opts *o, const struct chain_signer *signer,
		      struct kerr *e);
void chain_sender_close(struct chain_sender *s);

/* Sends epoch's weights: maps miners to uids (a miner without one is
 * dropped with a warning), then set_weights, or commit_weights with a fresh
 * salt (the commit kept in the store before it is submitted) when the
 * subnet has commit-reveal on. dry_run builds and signs everything and
 * submits and stores nothing. *rep is filled as far as it got, also on
 * failure. Nothing to send (no registered miner with a weight) is 0 with
 * rep->call NULL. Codes: chain.* from the node (chain-rpc.md), the
 * dispatch error of a failed extrinsic, chain.not_included (not seen in a
 * block within follow_ms), chain.dispatch_unknown (in a block, no outcome
 * event), chain.commit_store, chain.events_*. */
int chain_send_weights(struct chain_sender *s, long long epoch, const struct chain_miner *miners, size_t n,
		       int dry_run, struct chain_send_report *rep, struct kerr *e);

/* Reveals the pending commits whose window is open (subtensor: the commit's
 * subnet epoch plus RevealPeriodEpochs, an epoch being Tempo + 1 blocks
 * offset by netuid + 1). The window is that of the block the commit is in
 * now, on the node's best chain: the commit's extrinsic is looked up again
 * (a reorganisation may have moved it or sent it back to the pool), and a
 * reveal waits until that block is finalised, unless finality stalls into
 * the window's last quarter (chain.commit_not_final, logged). Drops those
 * past their window (chain.reveal_expired, logged; one whose block is not
 * final only once even its era's last block's window has passed), those
 * whose extrinsic's era ended, finalised, without it landing
 * (chain.commit_lost, logged: no reveal, no fee) and those one of whose
 * uids is now held by another account (chain.reveal_uid_moved, logged: the
 * hash binds the uids, so the commit cannot be revealed without them). 0
 * when every reveal attempted landed. */
int chain_send_reveals(struct chain_sender *s, struct chain_reveal_report *rep, struct kerr *e);

/* subtensor's get_epoch_index: (block + netuid + 1) / (tempo + 1). */
uint64_t chain_subnet_epoch(uint16_t netuid, uint16_t tempo, uint64_t block);

#endif
