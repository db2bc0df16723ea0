/* storage.c: Substrate storage keys (twox and blake2 hashers) and the
 * SubtensorModule values the adapter reads. Pure functions of their input:
 * never talks to a node, never reads a value past its checked length. */
#include "chain/storage.h"

#include <sodium.h>
#include <string.h>
#include <xxhash.h>

/* Storage prefixes are the pallet's name in the runtime (construct_runtime)
 * and the item's name in the pallet, as the metadata spells them. */
#define SUBTENSOR_PALLET "SubtensorModule"

static void put_le64(uint8_t *out, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(v >> (8 * i));
}

void chain_storage_twox64(const void *p, size_t n, uint8_t out[CHAIN_STORAGE_TWOX64_BYTES])
{
	put_le64(out, XXH64(p, n, 0));
}

void chain_storage_twox128(const void *p, size_t n, uint8_t out[CHAIN_STORAGE_TWOX128_BYTES])
{
	put_le64(out, XXH64(p, n, 0));
	put_le64(out + 8, XXH64(p, n, 1));
}

void chain_storage_blake2_128(const void *p, size_t n, uint8_t out[CHAIN_STORAGE_BLAKE2_128_BYTES])
{
	crypto_generichash(out, CHAIN_STORAGE_BLAKE2_128_BYTES, p, n, NULL, 0);
}

int chain_storage_prefix(struct chain_storage_key *k, const char *pallet, const char *item, struct kerr *err)
{
	size_t np = pallet ? strnlen(pallet, CHAIN_STORAGE_NAME_BYTES_MAX + 1) : 0;
	size_t ni = item ? strnlen(item, CHAIN_STORAGE_NAME_BYTES_MAX + 1) : 0;

	k->len = 0;
	if (np == 0 || np > CHAIN_STORAGE_NAME_BYTES_MAX || ni == 0 || ni > CHAIN_STORAGE_NAME_BYTES_MAX)
		return kerr_set(err, "chain.storage_key", "storage prefix: pallet and item names must be 1 to %d bytes",
				CHAIN_STORAGE_NAME_BYTES_MAX);
	chain_storage_twox128(pallet, np, k->b);
	chain_storage_twox128(item, ni, k->b + CHAIN_STORAGE_TWOX128_BYTES);
	k->len = CHAIN_STORAGE_PREFIX_BYTES;
	return 0;
}

int chain_storage_append(struct chain_storage_key *k, enum chain_hasher h, const void *part, size_t n,
			 struct kerr *err)
{
	size_t hashed = h == CHAIN_HASHER_TWOX64_CONCAT	      ? CHAIN_STORAGE_TWOX64_BYTES
			: h == CHAIN_HASHER_BLAKE2_128_CONCAT ? CHAIN_STORAGE_BLAKE2_128_BYTES
							      : 0;

	if (h != CHAIN_HASHER_IDENTITY && h != CHAIN_HASHER_TWOX64_CONCAT && h != CHAIN_HASHER_BLAKE2_128_CONCAT)
		return kerr_set(err, "chain.storage_key", "storage key: unknown hasher %d", (int)h);
	if (k->len > CHAIN_STORAGE_KEY_BYTES_MAX || n > CHAIN_STORAGE_KEY_BYTES_MAX ||
	    hashed + n > CHAIN_STORAGE_KEY_BYTES_MAX - k->len)
		return kerr_set(err, "chain.storage_key", "storage key: over %d bytes", CHAIN_STORAGE_KEY_BYTES_MAX);
	if (h == CHAIN_HASHER_TWOX64_CONCAT)
		chain_storage_twox64(part, n, k->b + k->len);
	else if (h == CHAIN_HASHER_BLAKE2_128_CONCAT)
		chain_storage_blake2_128(part, n, k->b + k->len);
	k->len += hashed;
	if (n)
		memcpy(k->b + k->len, part, n);
	k->len += n;
	return 0;
}

/* ------------------------------------------------- SubtensorModule items */

/* NetUid and uids are u16 newtypes: SCALE writes them as 2 bytes LE. */
static void le16(uint8_t out[2], uint16_t v)
{
	out[0] = (uint8_t)v;
	out[1] = (uint8_t)(v >> 8);
}

int chain_storage_key_commit_reveal(uint16_t netuid, struct chain_storage_key *k, struct kerr *err)
{
	uint8_t n[2];

	le16(n, netuid);
	if (chain_storage_prefix(k, SUBTENSOR_PALLET, "CommitRevealWeightsEnabled", err) < 0)
		return -1;
	return chain_storage_append(k, CHAIN_HASHER_IDENTITY, n, sizeof n, err);
}

int chain_storage_key_uids(uint16_t netuid, const uint8_t hotkey[CHAIN_STORAGE_ACCOUNT_BYTES],
			   struct chain_storage_key *k, struct kerr *err)
{
	uint8_t n[2];

	le16(n, netuid);
	if (chain_storage_prefix(k, SUBTENSOR_PALLET, "Uids", err) < 0 ||
	    chain_storage_append(k, CHAIN_HASHER_IDENTITY, n, sizeof n, err) < 0)
		return -1;
	return chain_storage_append(k, CHAIN_HASHER_BLAKE2_128_CONCAT, hotkey, CHAIN_STORAGE_ACCOUNT_BYTES, err);
}

int chain_storage_key_keys(uint16_t netuid, uint16_t uid, struct chain_storage_key *k, struct kerr *err)
{
	uint8_t n[2], u[2];

	le16(n, netuid);
	le16(u, uid);
	if (chain_storage_prefix(k, SUBTENSOR_PALLET, "Keys", err) < 0 ||
	    chain_storage_append(k, CHAIN_HASHER_IDENTITY, n, sizeof n, err) < 0)
		return -1;
	return chain_storage_append(k, CHAIN_HASHER_IDENTITY, u, sizeof u, err);
}

int chain_storage_key_tempo(uint16_t netuid, struct chain_storage_key *k, struct kerr *err)
{
	uint8_t n[2];

	le16(n, netuid);
	if (chain_storage_prefix(k, SUBTENSOR_PALLET, "Tempo", err) < 0)
		return -1;
	return chain_storage_append(k, CHAIN_HASHER_IDENTITY, n, sizeof n, err);
}

int chain_storage_key_reveal_period(uint16_t netuid, struct chain_storage_key *k, struct kerr *err)
{
	uint8_t n[2];

	le16(n, netuid);
	if (chain_storage_prefix(k, SUBTENSOR_PALLET, "RevealPeriodEpochs", err) < 0)
		return -1;
	return chain_storage_append(k, CHAIN_HASHER_TWOX64_CONCAT, n, sizeof n, err);
}

int chain_storage_key_system_events(struct chain_storage_key *k, struct kerr *err)
{
	return chain_storage_prefix(k, "System", "Events", err);
}

int chain_storage_commit_reveal_value(const uint8_t *v, size_t n, int present, int *enabled, struct kerr *err)
{
	*enabled = 1; /* ValueQuery: an unset netuid reads as the default, on */
	if (!present)
		return 0;
	if (n != 1 || v[0] > 1)
		return kerr_set(err, "chain.storage_value",
				"CommitRevealWeightsEnabled: want one byte 0x00 or 0x01, got %zu bytes", n);
	*enabled = v[0];
	return 0;
}

int chain_storage_uid_value(const uint8_t *v, size_t n, int present, int *registered, uint16_t *uid,
			    struct kerr *err)
{
	*registered = 0;
	*uid = 0;
	if (!present)
		return 0;
	if (n != 2)
		return kerr_set(err, "chain.storage_value", "Uids: want a 2-byte u16, got %zu bytes", n);
	*uid = (uint16_t)(v[0] | (uint16_t)v[1] << 8);
	*registered = 1;
	return 0;
}

int chain_storage_hotkey_value(const uint8_t *v, size_t n, int present, uint8_t hotkey[CHAIN_STORAGE_ACCOUNT_BYTES],
			       int *assigned, struct kerr *err)
{
	static const uint8_t zero[CHAIN_STORAGE_ACCOUNT_BYTES];

	memset(hotkey, 0, CHAIN_STORAGE_ACCOUNT_BYTES);
	*assigned = 0;
	if (!present)
		return 0;
	if (n != CHAIN_STORAGE_ACCOUNT_BYTES)
		return kerr_set(err, "chain.storage_value", "Keys: want a %d-byte account, got %zu bytes",
				CHAIN_STORAGE_ACCOUNT_BYTES, n);
	memcpy(hotkey, v, n);
	*assigned = memcmp(v, zero, sizeof zero) != 0;
	return 0;
}

int chain_storage_tempo_value(const uint8_t *v, size_t n, int present, uint16_t *tempo, struct kerr *err)
{
	*tempo = CHAIN_TEMPO_DEFAULT;
	if (!present)
		return 0;
	if (n != 2)
		return kerr_set(err, "chain.storage_value", "Tempo: want a 2-byte u16, got %zu bytes", n);
	*tempo = (uint16_t)(v[0] | (uint16_t)v[1] << 8);
	return 0;
}

int chain_storage_reveal_period_value(const uint8_t *v, size_t n, int present, uint64_t *epochs, struct kerr *err)
{
	*epochs = CHAIN_REVEAL_PERIOD_DEFAULT;
	if (!present)
		return 0;
	if (n != 8)
		return kerr_set(err, "chain.storage_value", "RevealPeriodEpochs: want an 8-byte u64, got %zu bytes", n);
	*epochs = 0;
	for (int i = 7; i >= 0; i--)
		*epochs = *epochs << 8 | v[i];
	return 0;
}
