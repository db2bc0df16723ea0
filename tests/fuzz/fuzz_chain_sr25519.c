/* fuzz_chain_sr25519.c: sr25519 verification on hostile bytes
 * (src/chain/sr25519.c): input = public key (32) || signature (64) ||
 * message. Whatever the bytes, verify answers 0 or a reason code and never
 * reads out of bounds. Then the same bytes as a seed, randomness and
 * message: our own signature must verify, and with one bit flipped must not. */
#include "fuzz.h"
#include "chain/sr25519.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sr25519_secret sk;
	struct kerr err;
	uint8_t pub[SR25519_PUB_BYTES], sig[SR25519_SIG_BYTES];
	const uint8_t *msg;
	size_t len;

	if (size < SR25519_PUB_BYTES + SR25519_SIG_BYTES)
		return 0;
	msg = data + SR25519_PUB_BYTES + SR25519_SIG_BYTES;
	len = size - SR25519_PUB_BYTES - SR25519_SIG_BYTES;
	memset(&err, 0, sizeof err);
	if (sr25519_verify(data, msg, len, data + SR25519_PUB_BYTES, &err) < 0) {
		FUZZ_ASSERT(err.code[0] && memchr(err.msg, 0, sizeof err.msg));
		fuzz_note("verify", &err);
	}
	sr25519_from_seed(data, &sk, pub);
	FUZZ_ASSERT(sr25519_sign(&sk, pub, msg, len, data + SR25519_PUB_BYTES, sig, &err) == 0);
	FUZZ_ASSERT(sr25519_verify(pub, msg, len, sig, &err) == 0);
	sig[data[0] % SR25519_SIG_BYTES] ^= (uint8_t)(1u << (data[1] % 8));
	FUZZ_ASSERT(sr25519_verify(pub, msg, len, sig, &err) < 0);
	sr25519_wipe(&sk);
	return 0;
}
