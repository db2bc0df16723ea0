/* ss58.c: SS58 addresses, written from Substrate's sp-core crypto.rs
 * (to_ss58check_with_version / from_ss58check_with_version) and the SS58
 * registry's description. Base58 is Bitcoin's alphabet, leading zero bytes
 * spelled as '1'. Every count is bounded by SS58_ADDRESS_MAX, so hostile
 * text costs at most a fixed quadratic loop over 63 characters. */
#include <string.h>

#include <sodium.h>

#include "chain/ss58.h"

#define SS58_CHECKSUM_BYTES 2 /* for 32-byte accounts */
#define SS58_RAW_MAX (2 + SS58_ACCOUNT_BYTES + SS58_CHECKSUM_BYTES)
/* ceil(36 * log(256) / log(58)) = 50 digits at most for 36 raw bytes. */
#define SS58_DIGITS_MAX 50

static const char alphabet[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
static const uint8_t ss58_context[] = { 'S', 'S', '5', '8', 'P', 'R', 'E' };

static void checksum(const uint8_t *payload, size_t len, uint8_t out[SS58_CHECKSUM_BYTES])
{
	crypto_generichash_state st;
	uint8_t h[64];

	crypto_generichash_init(&st, NULL, 0, sizeof h);
	crypto_generichash_update(&st, ss58_context, sizeof ss58_context);
	crypto_generichash_update(&st, payload, len);
	crypto_generichash_final(&st, h, sizeof h);
	memcpy(out, h, SS58_CHECKSUM_BYTES);
}

/* Base58 of raw[0..len) into out (NUL-terminated). */
static int base58_encode(const uint8_t *raw, size_t len, char *out, size_t cap)
{
	uint8_t digits[SS58_DIGITS_MAX];
	size_t n = 0, zeros = 0;

	while (zeros < len && raw[zeros] == 0)
		zeros++;
	for (size_t i = zeros; i < len; i++) {
		unsigned carry = raw[i];

		for (size_t j = 0; j < n; j++) {
			carry += (unsigned)digits[j] << 8;
			digits[j] = (uint8_t)(carry % 58);
			carry /= 58;
		}
		while (carry) {
			if (n == sizeof digits)
				return -1;
			digits[n++] = (uint8_t)(carry % 58);
			carry /= 58;
		}
	}
	if (zeros + n + 1 > cap)
		return -1;
	memset(out, '1', zeros);
	for (size_t i = 0; i < n; i++)
		out[zeros + i] = alphabet[digits[n - 1 - i]];
	out[zeros + n] = '\0';
	return 0;
}

int ss58_encode(const uint8_t account[SS58_ACCOUNT_BYTES], uint16_t prefix, char *out, size_t cap,
		struct kerr *err)
{
	uint8_t raw[SS58_RAW_MAX];
	size_t n;

	if (prefix > SS58_PREFIX_MAX)
		return kerr_set(err, "ss58.bad_prefix", "ss58: prefix %u is over %u", prefix, SS58_PREFIX_MAX);
	if (prefix < 64) {
		raw[0] = (uint8_t)prefix;
		n = 1;
	} else {
		/* The 14 bits split as sp-core does: the low six bits after 0b01
		 * in the first byte, then the top bits with the lowest two. */
		raw[0] = (uint8_t)(((prefix & 0x00fc) >> 2) | 0x40);
		raw[1] = (uint8_t)((prefix >> 8) | ((prefix & 0x0003) << 6));
		n = 2;
	}
	memcpy(raw + n, account, SS58_ACCOUNT_BYTES);
	n += SS58_ACCOUNT_BYTES;
	checksum(raw, n, raw + n);
	n += SS58_CHECKSUM_BYTES;
	if (base58_encode(raw, n, out, cap) < 0)
		return kerr_set(err, "ss58.too_long", "ss58: the address does not fit in %zu bytes", cap);
	return 0;
}

static int digit_of(char c)
{
	const char *p = c ? strchr(alphabet, c) : NULL;

	return p ? (int)(p - alphabet) : -1;
}

/* Base58 text into raw, big-endian, leading '1's as zero bytes. */
static int base58_decode(const char *s, size_t slen, uint8_t *raw, size_t *len, struct kerr *err)
{
	uint8_t bytes[SS58_ADDRESS_MAX];
	size_t n = 0, zeros = 0;

	while (zeros < slen && s[zeros] == '1')
		zeros++;
	for (size_t i = zeros; i < slen; i++) {
		int d = digit_of(s[i]);
		unsigned carry;

		if (d < 0)
			return kerr_set(err, "ss58.bad_char", "ss58: character %zu is not in the base58 alphabet", i);
		carry = (unsigned)d;
		for (size_t j = 0; j < n; j++) {
			carry += (unsigned)bytes[j] * 58;
			bytes[j] = (uint8_t)carry;
			carry >>= 8;
		}
		while (carry) {
			bytes[n++] = (uint8_t)carry; /* n <= slen < SS58_ADDRESS_MAX: 58 < 256 */
			carry >>= 8;
		}
	}
	if (zeros + n > SS58_RAW_MAX || zeros + n < SS58_RAW_MAX - 1)
		return kerr_set(err, "ss58.bad_length", "ss58: %zu bytes decoded; a 32-byte account needs %d or %d",
				zeros + n, SS58_RAW_MAX - 1, SS58_RAW_MAX);
	memset(raw, 0, zeros);
	for (size_t i = 0; i < n; i++)
		raw[zeros + i] = bytes[n - 1 - i];
	*len = zeros + n;
	return 0;
}

int ss58_decode(const char *addr, uint8_t account[SS58_ACCOUNT_BYTES], uint16_t *prefix, struct kerr *err)
{
	uint8_t raw[SS58_RAW_MAX], sum[SS58_CHECKSUM_BYTES];
	size_t slen = strnlen(addr, SS58_ADDRESS_MAX), len = 0, plen;
	uint16_t ident;

	if (slen >= SS58_ADDRESS_MAX)
		return kerr_set(err, "ss58.too_long", "ss58: an address is at most %d characters", SS58_ADDRESS_MAX - 1);
	if (base58_decode(addr, slen, raw, &len, err) < 0)
		return -1;
	if (raw[0] < 64) {
		ident = raw[0];
		plen = 1;
	} else if (raw[0] < 128) {
		ident = (uint16_t)(((raw[0] << 2) | (raw[1] >> 6)) & 0xff);
		ident |= (uint16_t)((raw[1] & 0x3f) << 8);
		plen = 2;
		if (ident < 64)
			return kerr_set(err, "ss58.bad_prefix", "ss58: prefix %u spelled in the two-byte form", ident);
	} else {
		return kerr_set(err, "ss58.bad_prefix", "ss58: first byte 0x%02x is not a prefix (reserved)", raw[0]);
	}
	if (len != plen + SS58_ACCOUNT_BYTES + SS58_CHECKSUM_BYTES)
		return kerr_set(err, "ss58.bad_length", "ss58: a %zu-byte prefix leaves %zu bytes, not a 32-byte account",
				plen, len - plen);
	checksum(raw, plen + SS58_ACCOUNT_BYTES, sum);
	if (sodium_memcmp(sum, raw + plen + SS58_ACCOUNT_BYTES, SS58_CHECKSUM_BYTES) != 0)
		return kerr_set(err, "ss58.bad_checksum", "ss58: the checksum does not match (a mistyped address?)");
	memcpy(account, raw + plen, SS58_ACCOUNT_BYTES);
	if (prefix)
		*prefix = ident;
	return 0;
}
