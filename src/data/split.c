/* split.c: the keyed-hash split rule. See split.h for why it is per document. */
#include "data/split.h"

#include <sodium.h>
#include <string.h>

enum dataset_split_id split_of(const char *doc_id, const char *key)
{
	unsigned char k[crypto_generichash_KEYBYTES];
	unsigned char h[16];
	uint64_t x = 0;
	double u;

	/* The key is hashed to the fixed key size so any string works as a key. */
	crypto_generichash(k, sizeof k, (const unsigned char *)key, strlen(key), NULL, 0);
	crypto_generichash(h, sizeof h, (const unsigned char *)doc_id, strlen(doc_id), k, sizeof k);
	for (int i = 0; i < 8; i++)
		x = (x << 8) | h[i];
	u = (double)(x >> 11) / (double)(1ull << 53);
	if (u < SPLIT_HIDDEN_FRACTION)
		return SPLIT_HIDDEN;
	if (u < SPLIT_HIDDEN_FRACTION + SPLIT_VAL_FRACTION)
		return SPLIT_VAL;
	return SPLIT_TRAIN;
}

void split_key_digest(const char *key, char out[HASH_HEX_BYTES])
{
	hash_buf_hex(key, strlen(key), out);
}
