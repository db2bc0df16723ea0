/* chain_tx_fixture.h: what the chain call and extrinsic tests share: the subtensor metadata
 * fixture (../shared/chain beside the repository, or $KARPA_CHAIN_METADATA),
 * hex in and out, and a deterministic ed25519 signer from a seed
 * (libsodium), the test's stand-in for a loaded chain key. */
#ifndef KARPA_CHAIN_TX_FIXTURE_H
#define KARPA_CHAIN_TX_FIXTURE_H

#include "testutil.h"

#include <sodium.h>

#include "chain/scale.h"
#include "chain/signer.h"
#include "util/fsutil.h"

#define CHAIN_FIXTURE_NAME "subtensor-devnet-metadata.scale"

/* The fixture's path; fails the test when it cannot be found. */
static inline const char *cf_metadata_path(void)
{
	static char path[FS_PATH_MAX];
	const char *env = getenv("KARPA_CHAIN_METADATA");
	const char *src = getenv("KARPA_SRC");

	if (env && *env)
		snprintf(path, sizeof path, "%s", env);
	else
		snprintf(path, sizeof path, "%s/../shared/chain/" CHAIN_FIXTURE_NAME, src && *src ? src : ".");
	if (!fs_exists(path))
		fail_msg("the metadata fixture %s is missing (set KARPA_CHAIN_METADATA)", path);
	return path;
}

/* The fixture's bytes (caller frees). */
static inline uint8_t *cf_metadata_bytes(size_t *n)
{
	char *buf = NULL;
	struct kerr e;

	if (fs_read_all(cf_metadata_path(), 64u << 20, &buf, n, &e) < 0)
		fail_msg("%s: %s", e.code, e.msg);
	return (uint8_t *)buf;
}

static inline void cf_hex(const uint8_t *p, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";

	*out++ = '0';
	*out++ = 'x';
	for (size_t i = 0; i < n; i++) {
		*out++ = d[p[i] >> 4];
		*out++ = d[p[i] & 15];
	}
	*out = '\0';
}

/* "0x..." or bare hex into out (cap bytes); returns the byte count. */
static inline size_t cf_unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;

	if (s[0] == '0' && s[1] == 'x')
		s += 2;
	assert_int_equal(strlen(s) % 2, 0);
	for (; s[0] && s[1]; s += 2) {
		unsigned v;
		assert_true(n < cap);
		assert_int_equal(sscanf(s, "%2x", &v), 1);
		out[n++] = (uint8_t)v;
	}
	return n;
}

/* The offset of set_weights' variant index byte in the call enum: the
 * name ("set_weights" after its compact length 11 << 2), then its fields
 * walked with the reader, then the index. The first such name whose
 * index byte reads 0 is the call (events name theirs differently). */
static inline size_t cf_set_weights_index_offset(const uint8_t *b, size_t n)
{
	static const char pat[] = "\x2c" "set_weights";

	for (size_t i = 0; i + sizeof pat < n; i++) {
		struct scale_reader r;
		struct kerr e = { 0 };
		size_t nf, k;
		uint8_t idx;
		bool some;
		const uint8_t *s;
		uint32_t ty;

		if (memcmp(b + i, pat, sizeof pat - 1))
			continue;
		scale_reader_init(&r, b + i + sizeof pat - 1, n - i - (sizeof pat - 1), &e);
		scale_read_len(&r, 1, &nf);
		for (size_t f = 0; f < nf; f++) {
			scale_read_option(&r, &some);
			if (some)
				scale_read_str(&r, &s, &k);
			scale_read_compact_u32(&r, &ty);
			scale_read_option(&r, &some);
			if (some)
				scale_read_str(&r, &s, &k);
			scale_read_len(&r, 1, &k);
			for (size_t d = 0; d < k; d++)
				scale_read_str(&r, &s, &k);
		}
		if (nf == 4 && scale_read_u8(&r, &idx) == 0 && idx == 0)
			return i + sizeof pat - 1 + r.off - 1;
	}
	fail_msg("set_weights not found in the fixture");
	return 0;
}

struct cf_ed25519 {
	uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
	int calls;           /* sign calls so far */
	size_t last_len;     /* the length of the last message signed */
};

static int cf_ed25519_sign(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[64], struct kerr *e)
{
	struct cf_ed25519 *k = ctx;

	k->calls++;
	k->last_len = len;
	crypto_sign_detached(sig, NULL, msg, len, k->sk); /* cannot fail */
	return 0;
}

static inline void cf_signer(const uint8_t seed[32], struct cf_ed25519 *k, struct chain_signer *s)
{
	assert_true(sodium_init() >= 0);
	memset(k, 0, sizeof *k);
	assert_int_equal(crypto_sign_seed_keypair(k->pk, k->sk, seed), 0);
	s->scheme = CHAIN_SCHEME_ED25519;
	memcpy(s->pub, k->pk, 32);
	s->sign = cf_ed25519_sign;
	s->ctx = k;
}

#endif
