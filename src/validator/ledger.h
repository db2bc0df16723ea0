/* ledger.h: the local ledger, the embedded weights sink: an append-only
 * table of closed epochs in the state database, each entry hash-chained to
 * the one before it and signed with the validator's Ed25519 key
 * (STATE/validator.key, created on first use, 0600). Owns the entry
 * format, appending (one transaction, so an epoch is recorded whole or not
 * at all), and verification: an edited, dropped, inserted or reordered
 * entry is caught and named (docs/weights.md, "The ledger"). */
#ifndef KARPA_LEDGER_H
#define KARPA_LEDGER_H

#include <jansson.h>

#include "util/kerr.h"
#include "validator/vstate.h"
#include "validator/weights.h"

/* STATE/<this>: the validator's Ed25519 identity (keys.h format). */
#define LEDGER_KEY_NAME "validator.key"
/* The prev_hash of epoch 1. */
#define LEDGER_ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"
/* Domain separation: the signed message is this string, its NUL, then the
 * entry hash's 32 bytes, so a ledger signature can never be replayed as a
 * signature over anything else this key signs. */
#define LEDGER_SIG_CONTEXT "karpa ledger entry v1"
/* meta key: "<epoch> <hash>" of the newest entry, written with it; a
 * dropped tail is caught against it (docs/weights.md, "The ledger"). */
#define LEDGER_META_HEAD "ledger_head"
/* A body is one miner line per key; this is far beyond any subnet. */
#define LEDGER_BODY_BYTES_MAX (64u << 20)

/* Appends the epoch's vector: entry hash = SHA-256(prev_hash || canonical
 * bytes), signed. The epoch must be the next one (ledger.epoch_order).
 * ledger.epoch_order, ledger.key, ledger.nomem, vstate.db */
int ledger_append(struct vstate *s, const struct weights *w, struct kerr *err);
/* A weights_sink that appends to this state's ledger. */
struct weights_sink ledger_sink(struct vstate *s);
/* The last closed epoch (0 when none). */
int ledger_last_epoch(struct vstate *s, long long *epoch, struct kerr *err);
/* Walks every entry from the first: chain, hashes, signatures, epoch
 * order. ledger.tampered (names the first bad epoch and what is wrong). */
int ledger_verify(struct vstate *s, long long *entries, struct kerr *err);
/* Entries as a JSON array (epoch, closed_at, weights, prev_hash, hash,
 * signature, validator key), oldest first; epoch > 0 for just that one. */
int ledger_export(struct vstate *s, long long epoch, json_t **out, struct kerr *err);
/* ledger_export after ledger_verify, both in one read snapshot: what is
 * sent on from the ledger (`karpa chain weights`) is what was signed, not
 * a row edited or damaged since. ledger.tampered, then as above. */
int ledger_export_verified(struct vstate *s, long long epoch, json_t **out, struct kerr *err);

#endif
