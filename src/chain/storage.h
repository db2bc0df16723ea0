/* storage.h: Substrate storage keys and the few subtensor storage values the
 * adapter reads. A key is twox128(pallet) ++ twox128(item) ++ one hashed
 * part per map key (Identity, Twox64Concat, Blake2_128Concat); the names
 * and hashers of SubtensorModule's items are taken from subtensor's source
 * (docs/chain-rpc.md). Owns hashing and decoding only: never talks to a
 * node, never trusts a value's length. */
#ifndef KARPA_CHAIN_STORAGE_H
#define KARPA_CHAIN_STORAGE_H

#include <stddef.h>
#include <stdint.h>

#include "util/kerr.h"

#define CHAIN_STORAGE_TWOX128_BYTES 16
#define CHAIN_STORAGE_TWOX64_BYTES 8
#define CHAIN_STORAGE_BLAKE2_128_BYTES 16
#define CHAIN_STORAGE_ACCOUNT_BYTES 32 /* AccountId32 */
#define CHAIN_STORAGE_PREFIX_BYTES 32
/* A prefix plus two map keys of at most an AccountId32 each, hashed: room
 * for every key this adapter builds, with margin. */
#define CHAIN_STORAGE_KEY_BYTES_MAX 160
#define CHAIN_STORAGE_NAME_BYTES_MAX 64 /* pallet and item names */

/* Storage map hashers (the metadata's StorageHasher variants this adapter
 * builds keys with). */
enum chain_hasher {
	CHAIN_HASHER_IDENTITY,
	CHAIN_HASHER_TWOX64_CONCAT,
	CHAIN_HASHER_BLAKE2_128_CONCAT,
};

struct chain_storage_key {
	uint8_t b[CHAIN_STORAGE_KEY_BYTES_MAX];
	size_t len;
};

/* xxHash64 with seeds 0 and 1, each written little-endian: Substrate's twox. */
void chain_storage_twox128(const void *p, size_t n, uint8_t out[CHAIN_STORAGE_TWOX128_BYTES]);
void chain_storage_twox64(const void *p, size_t n, uint8_t out[CHAIN_STORAGE_TWOX64_BYTES]);
/* blake2b with a 16-byte output and no key (libsodium). */
void chain_storage_blake2_128(const void *p, size_t n, uint8_t out[CHAIN_STORAGE_BLAKE2_128_BYTES]);

/* k = twox128(pallet) ++ twox128(item). chain.storage_key when a name is
 * empty or longer than CHAIN_STORAGE_NAME_BYTES_MAX. */
int chain_storage_prefix(struct chain_storage_key *k, const char *pallet, const char *item, struct kerr *err);
/* Appends hasher(part) to k. chain.storage_key when k would overflow. */
int chain_storage_append(struct chain_storage_key *k, enum chain_hasher h, const void *part, size_t n,
			 struct kerr *err);

/* ------------------------------------------------- SubtensorModule items */

/* CommitRevealWeightsEnabled: map Identity(netuid: u16) -> bool, ValueQuery,
 * default true (subtensor's DefaultCommitRevealWeightsEnabled). */
int chain_storage_key_commit_reveal(uint16_t netuid, struct chain_storage_key *k, struct kerr *err);
/* Uids: double map Identity(netuid: u16), Blake2_128Concat(hotkey) -> u16,
 * OptionQuery: no value means the hotkey is not registered on the subnet. */
int chain_storage_key_uids(uint16_t netuid, const uint8_t hotkey[CHAIN_STORAGE_ACCOUNT_BYTES],
			   struct chain_storage_key *k, struct kerr *err);
/* Keys: double map Identity(netuid: u16), Identity(uid: u16) -> AccountId32,
 * ValueQuery, default the all-zero account (subtensor's DefaultKey). */
int chain_storage_key_keys(uint16_t netuid, uint16_t uid, struct chain_storage_key *k, struct kerr *err);

/* Tempo: map Identity(netuid: u16) -> u16, ValueQuery, default the
 * runtime's InitialTempo (CHAIN_TEMPO_DEFAULT): a subnet epoch's length is
 * tempo + 1 blocks. */
#define CHAIN_TEMPO_DEFAULT 360
int chain_storage_key_tempo(uint16_t netuid, struct chain_storage_key *k, struct kerr *err);
/* RevealPeriodEpochs: map Twox64Concat(netuid: u16) -> u64, ValueQuery,
 * default 1 (DefaultRevealPeriodEpochs): a commit is revealed that many
 * subnet epochs after the one it landed in. */
#define CHAIN_REVEAL_PERIOD_DEFAULT 1
int chain_storage_key_reveal_period(uint16_t netuid, struct chain_storage_key *k, struct kerr *err);

/* System::Events: a plain value (no map key), the block's event records;
 * read at a block's hash, decoded with the runtime's metadata. */
int chain_storage_key_system_events(struct chain_storage_key *k, struct kerr *err);

/* Decoders of the raw value state_getStorage returned (present 0: the node
 * answered null). Each refuses a value of the wrong length with
 * chain.storage_value, naming the item. */
int chain_storage_commit_reveal_value(const uint8_t *v, size_t n, int present, int *enabled, struct kerr *err);
/* *registered 0 (and *uid 0) when absent. */
int chain_storage_uid_value(const uint8_t *v, size_t n, int present, int *registered, uint16_t *uid,
			    struct kerr *err);
/* *assigned 0 when absent or the all-zero default: no hotkey holds the uid. */
int chain_storage_hotkey_value(const uint8_t *v, size_t n, int present, uint8_t hotkey[CHAIN_STORAGE_ACCOUNT_BYTES],
			       int *assigned, struct kerr *err);

/* Tempo and RevealPeriodEpochs values: the default when absent. */
int chain_storage_tempo_value(const uint8_t *v, size_t n, int present, uint16_t *tempo, struct kerr *err);
int chain_storage_reveal_period_value(const uint8_t *v, size_t n, int present, uint64_t *epochs, struct kerr *err);

#endif
