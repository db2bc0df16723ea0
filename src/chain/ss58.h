/* ss58.h: SS58 addresses of 32-byte account ids (Substrate's
 * ss58-registry format): base58 of prefix || account || the first two
 * bytes of blake2b-512("SS58PRE" || prefix || account). Owns encoding and
 * the strict decoding of untrusted text; never allocates. */
#ifndef KARPA_CHAIN_SS58_H
#define KARPA_CHAIN_SS58_H

#include <stddef.h>
#include <stdint.h>

#include "util/kerr.h"

#define SS58_ACCOUNT_BYTES 32
#define SS58_PREFIX_SUBSTRATE 42 /* the generic Substrate prefix, which Bittensor uses */
#define SS58_PREFIX_MAX 16383    /* 14 bits: the two-byte form's range */
#define SS58_ADDRESS_MAX 64      /* a buffer for any address this module writes, NUL included */

/* Writes the address of account under prefix (one-byte form below 64,
 * two-byte form up to SS58_PREFIX_MAX) into out. ss58.bad_prefix past the
 * range; ss58.too_long when cap is too small. */
int ss58_encode(const uint8_t account[SS58_ACCOUNT_BYTES], uint16_t prefix, char *out, size_t cap,
		struct kerr *err);
/* Decodes addr into account and *prefix (may be NULL). Refuses, by reason:
 * ss58.too_long (over SS58_ADDRESS_MAX - 1 characters), ss58.bad_char (not
 * base58), ss58.bad_length (not a 32-byte account), ss58.bad_prefix (first
 * byte >= 128, or a two-byte form spelling a prefix below 64),
 * ss58.bad_checksum. */
int ss58_decode(const char *addr, uint8_t account[SS58_ACCOUNT_BYTES], uint16_t *prefix, struct kerr *err);

#endif
