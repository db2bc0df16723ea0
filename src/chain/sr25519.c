/* sr25519.c: schnorrkel's Schnorr signature over ristretto255, written from
 * w3f/schnorrkel (src/keys.rs expand_ed25519, src/sign.rs, src/context.rs)
 * and checked against @scure/sr25519 byte for byte. The transcript of a
 * signature over message m by key A:
 *   Merlin("SigningContext"); append("", "substrate"); append("sign-bytes", m);
 *   append("proto-name", "Schnorr-sig"); append("sign:pk", A);
 *   r = wide(rng(rekey("signing", nonce), finalize(random)).fill(64));
 *   R = r B; append("sign:R", R); k = wide(challenge("sign:c", 64));
 *   s = k a + r; signature R || s with bit 7 of byte 63 set.
 * Verification recomputes k and checks s B - k A == R as encodings. */
#include <string.h>

#include <sodium.h>

#include "chain/merlin.h"
#include "chain/sr25519.h"

#define WIDE_BYTES 64 /* challenge and witness bytes, reduced mod l */

/* l = 2^252 + 27742317777372353535851937790883648493, little-endian. */
static const uint8_t group_order[32] = {
	0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
};

/* 1 when the little-endian s is below l (schnorrkel's from_canonical_bytes). */
static int scalar_canonical(const uint8_t s[32])
{
	for (int i = 31; i >= 0; i--) {
		if (s[i] != group_order[i])
			return s[i] < group_order[i];
	}
	return 0;
}

/* A canonical ristretto255 encoding. libsodium 1.0.18 decodes an encoding
 * with bit 255 set as if it were clear; curve25519-dalek (schnorrkel) and
 * @noble/curves refuse it, and so must we, or one key has two spellings. */
static int point_canonical(const uint8_t p[32])
{
	return !(p[31] & 0x80) && crypto_core_ristretto255_is_valid_point(p);
}

void sr25519_from_seed(const uint8_t seed[SR25519_SEED_BYTES], struct sr25519_secret *sk,
		       uint8_t pub[SR25519_PUB_BYTES])
{
	uint8_t h[crypto_hash_sha512_BYTES], key[32];

	crypto_hash_sha512(h, seed, SR25519_SEED_BYTES);
	memcpy(key, h, 32);
	key[0] &= 248;
	key[31] &= 63;
	key[31] |= 64;
	/* Divide by the cofactor 8: a 3-bit right shift of the 256-bit number.
	 * The clamp's low bits are zero, so nothing is lost, and the result is
	 * below 2^252 < l: already reduced. */
	for (int i = 0; i < 31; i++)
		sk->key[i] = (uint8_t)((key[i] >> 3) | (key[i + 1] << 5));
	sk->key[31] = (uint8_t)(key[31] >> 3);
	memcpy(sk->nonce, h + 32, 32);
	/* key * B is never the identity: bit 251 of the scalar is set. */
	crypto_scalarmult_ristretto255_base(pub, sk->key);
	sodium_memzero(h, sizeof h);
	sodium_memzero(key, sizeof key);
}

/* The transcript shared by signer and verifier, up to the public key. */
static int transcript_begin(struct merlin_transcript *t, const uint8_t pub[SR25519_PUB_BYTES],
			    const uint8_t *msg, size_t len, struct kerr *err)
{
	if (len > UINT32_MAX)
		return kerr_set(err, "sr25519.message_too_long", "sr25519: a %zu-byte message is over Merlin's 2^32 - 1",
				len);
	merlin_init(t, "SigningContext");
	merlin_append(t, "", (const uint8_t *)SR25519_CONTEXT, sizeof SR25519_CONTEXT - 1);
	merlin_append(t, "sign-bytes", msg, len);
	merlin_append(t, "proto-name", (const uint8_t *)"Schnorr-sig", 11);
	merlin_append(t, "sign:pk", pub, SR25519_PUB_BYTES);
	return 0;
}

static void challenge_scalar(struct merlin_transcript *t, const uint8_t R[32], uint8_t k[32])
{
	uint8_t wide[WIDE_BYTES];

	merlin_append(t, "sign:R", R, 32);
	merlin_challenge(t, "sign:c", wide, sizeof wide);
	crypto_core_ristretto255_scalar_reduce(k, wide);
}

int sr25519_sign(const struct sr25519_secret *sk, const uint8_t pub[SR25519_PUB_BYTES], const uint8_t *msg,
		 size_t len, const uint8_t *random, uint8_t sig[SR25519_SIG_BYTES], struct kerr *err)
{
	struct merlin_transcript t;
	struct merlin_rng rng;
	uint8_t fresh[SR25519_RANDOM_BYTES], wide[WIDE_BYTES], r[32], k[32], ka[32];
	int rc = -1;

	if (transcript_begin(&t, pub, msg, len, err) < 0)
		return -1;
	if (!random) {
		randombytes_buf(fresh, sizeof fresh);
		random = fresh;
	}
	merlin_rng_begin(&t, &rng);
	merlin_rng_rekey(&rng, "signing", sk->nonce, sizeof sk->nonce);
	merlin_rng_finalize(&rng, random);
	merlin_rng_fill(&rng, wide, sizeof wide);
	crypto_core_ristretto255_scalar_reduce(r, wide);
	/* r == 0 (probability 2^-252) is the only way this fails. */
	if (crypto_scalarmult_ristretto255_base(sig, r) != 0) {
		kerr_set(err, "sr25519.sign_failed", "sr25519: the witness nonce reduced to zero");
		goto out;
	}
	challenge_scalar(&t, sig, k);
	crypto_core_ristretto255_scalar_mul(ka, k, sk->key);
	crypto_core_ristretto255_scalar_add(sig + 32, ka, r);
	sig[63] |= 0x80;
	rc = 0;
out:
	merlin_wipe(&t);
	merlin_rng_wipe(&rng);
	sodium_memzero(fresh, sizeof fresh);
	sodium_memzero(wide, sizeof wide);
	sodium_memzero(r, sizeof r);
	sodium_memzero(ka, sizeof ka);
	return rc;
}

int sr25519_verify(const uint8_t pub[SR25519_PUB_BYTES], const uint8_t *msg, size_t len,
		   const uint8_t sig[SR25519_SIG_BYTES], struct kerr *err)
{
	static const uint8_t identity[32] = { 0 };
	struct merlin_transcript t;
	uint8_t s[32], k[32], sb[32], ka[32], want[32];


	if (!(sig[63] & 0x80))
		return kerr_set(err, "sr25519.not_marked",
				"sr25519: byte 63 lacks the schnorrkel marker bit (an Ed25519 or legacy signature?)");
	memcpy(s, sig + 32, 32);
	s[31] &= 0x7f;
	if (!scalar_canonical(s))
		return kerr_set(err, "sr25519.noncanonical_scalar", "sr25519: the signature's s is not below the group order");
	if (!point_canonical(pub) || sodium_memcmp(pub, identity, 32) == 0)
		return kerr_set(err, "sr25519.bad_public_key",
				"sr25519: the public key is not a ristretto255 encoding of a non-identity point");
	if (!point_canonical(sig))
		return kerr_set(err, "sr25519.bad_signature", "sr25519: the signature's R is not a ristretto255 encoding");
	if (transcript_begin(&t, pub, msg, len, err) < 0)
		return -1;
	challenge_scalar(&t, sig, k);
	/* Either product is the identity only for a zero scalar; the identity
	 * encodes as 32 zero bytes, which the subtraction accepts. */
	if (crypto_scalarmult_ristretto255_base(sb, s) != 0)
		memset(sb, 0, sizeof sb);
	if (crypto_scalarmult_ristretto255(ka, k, pub) != 0)
		memset(ka, 0, sizeof ka);
	if (crypto_core_ristretto255_sub(want, sb, ka) != 0 || sodium_memcmp(want, sig, 32) != 0)
		return kerr_set(err, "sr25519.bad_signature", "sr25519: the signature does not verify for this key and message");
	return 0;
}

void sr25519_wipe(struct sr25519_secret *sk)
{
	sodium_memzero(sk, sizeof *sk);
}
