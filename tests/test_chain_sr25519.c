/* test_chain_sr25519.c: sr25519 as schnorrkel and Substrate define it.
 * Public keys from known mini secrets (Substrate's test vector, //Alice's
 * seed, @scure/sr25519's), signatures published by @scure/sr25519 and
 * polkadot-js, every refusal of the verifier by its reason, the signer seam,
 * and the golden test under node: for the same seeds, polkadot-js and
 * @scure/sr25519 (pinned by scripts/setup.sh) derive the same public keys
 * and SS58 addresses, scure's signature with the same randomness equals
 * ours byte for byte, polkadot-js verifies ours and we verify theirs. */
#include "chain_fixture.h"

#include <sodium.h>
#include <sys/mman.h>

#include "chain/chainkey.h"
#include "chain/sr25519.h"
#include "chain/ss58.h"

#define OUT_CAP 65536
#define GOLDEN_TIMEOUT_S 120

static char out[OUT_CAP];


static void hex_of(const uint8_t *bin, size_t n, char *hex)
{
	sodium_bin2hex(hex, 2 * n + 1, bin, n);
}

static void pub_of(const char *seed_hex, uint8_t pub[32])
{
	struct sr25519_secret sk;
	uint8_t seed[32];

	assert_int_equal(chain_unhex(seed_hex, seed, 32), 32);
	sr25519_from_seed(seed, &sk, pub);
	sr25519_wipe(&sk);
}

static void public_keys_from_known_seeds(void **unused)
{
	static const struct {
		const char *seed, *pub;
	} v[] = {
		/* Substrate's sp-core sr25519 test_vector_should_work */
		{ "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
		  "44a996beb1eef7bdcab976ab6d2ca26104834164ecf28fb375600576fcc6eb0f" },
		/* //Alice (`subkey inspect //Alice`: secret seed, public key) */
		{ "e5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a",
		  "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d" },
		/* @scure/sr25519's secretFromSeed test */
		{ "fac7959dbfe72f052e5a0c3c8d6530f202b02fd8f9f5ca3580ec8deb7797479e",
		  "46ebddef8cd9bb167dc30878d7113b7e168e6f0646beffd77d69d39bad76b47a" },
	};
	uint8_t pub[32];
	char hex[65];

	(void)unused;
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		pub_of(v[i].seed, pub);
		hex_of(pub, 32, hex);
		assert_string_equal(hex, v[i].pub);
	}
}

/* @scure/sr25519's sign test: zero randomness, a fixed signature. */
static void signature_with_fixed_randomness(void **unused)
{
	struct sr25519_secret sk;
	struct kerr err = { { 0 }, { 0 } };
	uint8_t seed[32], pub[32], sig[64], again[64], zero[32] = { 0 }, other[32] = { 1 };
	char hex[129];
	const char *msg = "this is a message";

	(void)unused;
	chain_unhex("fac7959dbfe72f052e5a0c3c8d6530f202b02fd8f9f5ca3580ec8deb7797479e", seed, 32);
	sr25519_from_seed(seed, &sk, pub);
	assert_int_equal(sr25519_sign(&sk, pub, (const uint8_t *)msg, strlen(msg), zero, sig, &err), 0);
	hex_of(sig, 64, hex);
	assert_string_equal(hex, "dc4831339346dc294d21dd6efa22c078b6eb6602a30fb9c67540c1fb4e20936e"
				 "17489f36dbe14aec6d2b1e56d979f7b420ca34143aca1691db0bab9535c49a86");
	assert_int_equal(sr25519_verify(pub, (const uint8_t *)msg, strlen(msg), sig, &err), 0);
	/* Other randomness, another valid signature; none (NULL), fresh bytes. */
	assert_int_equal(sr25519_sign(&sk, pub, (const uint8_t *)msg, strlen(msg), other, again, &err), 0);
	assert_memory_not_equal(sig, again, 64);
	assert_int_equal(sr25519_verify(pub, (const uint8_t *)msg, strlen(msg), again, &err), 0);
	assert_int_equal(sr25519_sign(&sk, pub, (const uint8_t *)msg, strlen(msg), NULL, again, &err), 0);
	assert_memory_not_equal(sig, again, 64);
	assert_int_equal(sr25519_verify(pub, (const uint8_t *)msg, strlen(msg), again, &err), 0);
	sr25519_wipe(&sk);
}

/* Signatures made elsewhere (polkadot-js, as @scure/sr25519's tests carry them). */
static void verifies_published_signatures(void **unused)
{
	static const struct {
		const char *pub, *msg, *sig;
		int ok;
	} v[] = {
		{ "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d",
		  "I hereby verify that I control 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
		  "1037eb7e51613d0dcf5930ae518819c87d655056605764840d9280984e1b7063"
		  "c4566b55bf292fcab07b369d01095879b50517beca4d26e6a65866e25fec0d83", 1 },
		{ "f84d048da2ddae2d9d8fd6763f469566e8817a26114f39408de15547f6d47805", "<Bytes>message to sign</Bytes>",
		  "48ce2c90e08651adfc8ecef84e916f6d1bb51ebebd16150ee12df247841a5437"
		  "951ea0f9d632ca165e6ab391532e75e701be6a1caa88c8a6bcca3511f55b4183", 1 },
		{ "f84d048da2ddae2d9d8fd6763f469566e8817a26114f39408de15547f6d47805", "message to sign",
		  "48ce2c90e08651adfc8ecef84e916f6d1bb51ebebd16150ee12df247841a5437"
		  "951ea0f9d632ca165e6ab391532e75e701be6a1caa88c8a6bcca3511f55b4183", 0 },
	};
	struct kerr err = { { 0 }, { 0 } };
	uint8_t pub[32], sig[64];

	(void)unused;
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		chain_unhex(v[i].pub, pub, 32);
		chain_unhex(v[i].sig, sig, 64);
		kerr_clear(&err);
		assert_int_equal(sr25519_verify(pub, (const uint8_t *)v[i].msg, strlen(v[i].msg), sig, &err),
				 v[i].ok ? 0 : -1);
		if (!v[i].ok)
			assert_string_equal(err.code, "sr25519.bad_signature");
	}
}

#define expect_refusal(pub, msg, len, sig, code) expect_refusal_at(__LINE__, pub, msg, len, sig, code)
static void expect_refusal_at(int line, const uint8_t pub[32], const uint8_t *msg, size_t len, const uint8_t sig[64],
			      const char *code)
{
	struct kerr err = { { 0 }, { 0 } };

	if (sr25519_verify(pub, msg, len, sig, &err) != -1 || strcmp(err.code, code))
		fail_msg("line %d: want %s, got \"%s\" (%s)", line, code, err.code, err.msg);
}

/* Every way a signature, message or key can be wrong, by its reason. */
static void verifier_refuses_tampering(void **unused)
{
	/* l, little-endian: s = l is the smallest non-canonical scalar. */
	static const char order_hex[] = "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";
	struct sr25519_secret sk;
	uint8_t seed[32] = { 42 }, pub[32], other[32], sig[64], bad[64], badpub[32], msg[300];
	struct kerr err = { { 0 }, { 0 } };

	(void)unused;
	for (size_t i = 0; i < sizeof msg; i++)
		msg[i] = (uint8_t)i;
	sr25519_from_seed(seed, &sk, pub);
	assert_int_equal(sr25519_sign(&sk, pub, msg, sizeof msg, NULL, sig, &err), 0);
	assert_int_equal(sr25519_verify(pub, msg, sizeof msg, sig, &err), 0);
	/* message: one bit, one byte fewer, empty */
	msg[7] ^= 1;
	expect_refusal(pub, msg, sizeof msg, sig, "sr25519.bad_signature");
	msg[7] ^= 1;
	expect_refusal(pub, msg, sizeof msg - 1, sig, "sr25519.bad_signature");
	expect_refusal(pub, msg, 0, sig, "sr25519.bad_signature");
	/* each byte of the signature */
	for (int i = 0; i < 64; i++) {
		memcpy(bad, sig, 64);
		bad[i] ^= (uint8_t)(i == 63 ? 0x01 : 0x10);
		expect_refusal(pub, msg, sizeof msg, bad, i < 32 ? "sr25519.bad_signature" : i == 63 && (bad[63] & 0x7f) >= 0x10
							   ? "sr25519.noncanonical_scalar" : "sr25519.bad_signature");
	}
	/* the marker cleared: an Ed25519-shaped signature */
	memcpy(bad, sig, 64);
	bad[63] &= 0x7f;
	expect_refusal(pub, msg, sizeof msg, bad, "sr25519.not_marked");
	/* s + l: the same scalar, not canonical (malleability) */
	memcpy(bad, sig, 64);
	chain_unhex(order_hex, bad + 32, 32);
	bad[63] |= 0x80;
	expect_refusal(pub, msg, sizeof msg, bad, "sr25519.noncanonical_scalar");
	/* s = 0 and R = identity: the degenerate signature */
	memset(bad, 0, 64);
	bad[63] = 0x80;
	expect_refusal(pub, msg, sizeof msg, bad, "sr25519.bad_signature");
	/* R not an encoding (all ones is non-canonical) */
	memcpy(bad, sig, 64);
	memset(bad, 0xff, 32);
	expect_refusal(pub, msg, sizeof msg, bad, "sr25519.bad_signature");
	/* another key; a key that is no point; the identity as key */
	seed[0] = 43;
	sr25519_from_seed(seed, &sk, other);
	expect_refusal(other, msg, sizeof msg, sig, "sr25519.bad_signature");
	memset(badpub, 0xff, 32);
	expect_refusal(badpub, msg, sizeof msg, sig, "sr25519.bad_public_key");
	memset(badpub, 0, 32);
	expect_refusal(badpub, msg, sizeof msg, sig, "sr25519.bad_public_key");
	/* a public key with its sign bit set is not canonical in ristretto255 */
	memcpy(badpub, pub, 32);
	badpub[31] |= 0x80;
	expect_refusal(badpub, msg, sizeof msg, sig, "sr25519.bad_public_key");
	sr25519_wipe(&sk);
}

/* Merlin frames a message with a u32 length, so a longer one can be
 * neither signed nor checked. The message is a mapping no byte of which
 * can be read: the refusal must come before any of it is. */
static void message_over_u32_is_refused(void **unused)
{
	const size_t len = (size_t)UINT32_MAX + 1;
	struct sr25519_secret sk;
	struct kerr err = { { 0 }, { 0 } };
	uint8_t seed[32] = { 9 }, pub[32], sig[64], one = 0;
	void *msg = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	(void)unused;
	assert_true(msg != MAP_FAILED);
	sr25519_from_seed(seed, &sk, pub);
	memset(sig, 0xa5, sizeof sig);
	assert_int_equal(sr25519_sign(&sk, pub, msg, len, NULL, sig, &err), -1);
	assert_string_equal(err.code, "sr25519.message_too_long");
	for (int i = 0; i < 64; i++) /* no half-made signature left behind */
		assert_int_equal(sig[i], 0xa5);
	/* a well-formed signature, so that only the length can be refused */
	assert_int_equal(sr25519_sign(&sk, pub, &one, 1, NULL, sig, &err), 0);
	expect_refusal(pub, msg, len, sig, "sr25519.message_too_long");
	assert_int_equal(munmap(msg, len), 0);
	sr25519_wipe(&sk);
}

/* The seam the extrinsic builder signs through: both schemes verify. */
static void signer_seam_signs_for_both_schemes(void **unused)
{
	struct chain_key k;
	struct chain_signer sg;
	struct kerr err = { { 0 }, { 0 } };
	uint8_t seed[32] = { 7 }, sig[64];
	const uint8_t msg[] = "extrinsic payload";

	(void)unused;
	assert_int_equal(chain_key_from_seed(CHAIN_SCHEME_SR25519, seed, &k, &err), 0);
	assert_int_equal(chain_key_signer(&k, &sg), 0);
	assert_int_equal(sg.sign(sg.ctx, msg, sizeof msg, sig, &err), 0);
	assert_int_equal(sr25519_verify(sg.pub, msg, sizeof msg, sig, &err), 0);
	assert_int_equal(chain_key_from_seed(CHAIN_SCHEME_ED25519, seed, &k, &err), 0);
	assert_int_equal(chain_key_signer(&k, &sg), 0);
	assert_int_equal(sg.scheme, CHAIN_SCHEME_ED25519);
	assert_int_equal(sg.sign(sg.ctx, msg, sizeof msg, sig, &err), 0);
	assert_int_equal(crypto_sign_verify_detached(sig, msg, sizeof msg, sg.pub), 0);
	k.scheme = (enum chain_scheme)7;
	assert_int_equal(chain_key_signer(&k, &sg), -1);
	chain_key_wipe(&k);
}

/* ---------------------------------------------------------------- golden */

#define GOLDEN_CASES 12

struct golden {
	enum chain_scheme scheme;
	uint8_t seed[32], random[32], pub[32], sig[64];
	uint8_t msg[600];
	size_t len;
	char ss58[SS58_ADDRESS_MAX];
};

static struct golden cases[GOLDEN_CASES];

static void make_cases(void)
{
	static const size_t lens[] = { 0, 1, 32, 255, 256, 257, 600 };
	static const uint8_t stream_seed[randombytes_SEEDBYTES] = { 'k', 'a', 'r', 'p', 'a' };
	uint8_t bytes[GOLDEN_CASES * (32 + 32 + 600)];
	struct kerr err = { { 0 }, { 0 } };

	randombytes_buf_deterministic(bytes, sizeof bytes, stream_seed);
	for (int i = 0; i < GOLDEN_CASES; i++) {
		struct golden *g = &cases[i];
		const uint8_t *b = bytes + (size_t)i * (32 + 32 + 600);
		struct chain_key k;
		struct chain_signer sg;

		g->scheme = i % 4 == 3 ? CHAIN_SCHEME_ED25519 : CHAIN_SCHEME_SR25519;
		memcpy(g->seed, b, 32);
		if (i == 0)
			chain_unhex("e5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a", g->seed, 32);
		if (i == 1)
			memset(g->seed, 0, 32);
		memcpy(g->random, b + 32, 32);
		if (i == 2)
			memset(g->random, 0, 32);
		g->len = lens[i % (sizeof lens / sizeof lens[0])];
		memcpy(g->msg, b + 64, g->len);
		assert_int_equal(chain_key_from_seed(g->scheme, g->seed, &k, &err), 0);
		memcpy(g->pub, k.pub, 32);
		if (g->scheme == CHAIN_SCHEME_SR25519) {
			assert_int_equal(sr25519_sign(&k.sr, k.pub, g->msg, g->len, g->random, g->sig, &err), 0);
		} else {
			assert_int_equal(chain_key_signer(&k, &sg), 0);
			assert_int_equal(sg.sign(sg.ctx, g->msg, g->len, g->sig, &err), 0);
		}
		assert_int_equal(ss58_encode(k.pub, SS58_PREFIX_SUBSTRATE, g->ss58, sizeof g->ss58, &err), 0);
		chain_key_wipe(&k);
	}
}

static json_t *hexj(const uint8_t *bin, size_t n)
{
	char hex[2 * 600 + 1];

	hex_of(bin, n, hex);
	return json_string(hex);
}

static void write_cases(const char *path)
{
	json_t *arr = json_array();

	for (int i = 0; i < GOLDEN_CASES; i++) {
		struct golden *g = &cases[i];
		json_t *o = json_object();

		json_object_set_new(o, "scheme", json_string(chain_scheme_name(g->scheme)));
		json_object_set_new(o, "seed", hexj(g->seed, 32));
		json_object_set_new(o, "random", hexj(g->random, 32));
		json_object_set_new(o, "message", hexj(g->msg, g->len));
		json_object_set_new(o, "pub", hexj(g->pub, 32));
		json_object_set_new(o, "sig", hexj(g->sig, 64));
		json_object_set_new(o, "ss58", json_string(g->ss58));
		json_array_append_new(arr, o);
	}
	assert_int_equal(json_dump_file(arr, path, 0), 0);
	json_decref(arr);
}

static void expect_hex(json_t *o, const char *key, const uint8_t *want, size_t n, int i)
{
	char hex[129];

	hex_of(want, n, hex);
	if (strcmp(tu_jstr(o, key), hex))
		fail_msg("case %d (%s): %s is %s, ours %s", i, chain_scheme_name(cases[i].scheme), key, tu_jstr(o, key), hex);
}

static void expect_true(json_t *o, const char *key, int i)
{
	if (!json_is_true(json_object_get(o, key)))
		fail_msg("case %d (%s): %s is not true", i, chain_scheme_name(cases[i].scheme), key);
}

static void check_answer(json_t *o, int i)
{
	struct golden *g = &cases[i];
	struct kerr err = { { 0 }, { 0 } };
	uint8_t theirs[64];

	expect_hex(o, "pub", g->pub, 32, i);
	expect_hex(o, "keyring_pub", g->pub, 32, i);
	expect_hex(o, "decoded", g->pub, 32, i);
	if (strcmp(tu_jstr(o, "ss58"), g->ss58))
		fail_msg("case %d: polkadot-js address %s, ours %s", i, tu_jstr(o, "ss58"), g->ss58);
	expect_true(o, "verifies_ours", i);
	expect_true(o, "refuses_tampered", i);
	expect_true(o, "signature_verify", i);
	assert_int_equal(chain_unhex(tu_jstr(o, "theirs"), theirs, 64), 64);
	if (g->scheme == CHAIN_SCHEME_SR25519) {
		expect_hex(o, "scure_pub", g->pub, 32, i);
		expect_hex(o, "scure_sig", g->sig, 64, i);
		expect_true(o, "scure_verifies_ours", i);
		if (sr25519_verify(g->pub, g->msg, g->len, theirs, &err) < 0)
			fail_msg("case %d: polkadot-js's signature does not verify here: %s (%s)", i, err.code, err.msg);
		theirs[10] ^= 4;
		assert_int_equal(sr25519_verify(g->pub, g->msg, g->len, theirs, &err), -1);
	} else {
		/* Ed25519 is deterministic: theirs is ours. */
		expect_hex(o, "theirs", g->sig, 64, i);
	}
}

static void golden_against_polkadot_js(void **unused)
{
	char npm[FS_PATH_MAX], in[FS_PATH_MAX], outp[FS_PATH_MAX];
	const char *src = getenv("KARPA_SRC") ? getenv("KARPA_SRC") : ".";
	static const char *const modules[] = { "@polkadot/util-crypto", "@polkadot/keyring", "@scure/sr25519", NULL };
	json_error_t je;
	json_t *ans;
	int rc;

	(void)unused;
	tu_npm_node(npm, modules);
	make_cases();
	snprintf(in, sizeof in, "%s/cases.json", chain_dir);
	snprintf(outp, sizeof outp, "%s/answers.json", chain_dir);
	write_cases(in);
	rc = tu_run(out, sizeof out, "KARPA_NPM_DIR='%s' timeout %d node '%s/tests/chain_sr25519_golden.mjs' '%s' '%s'", npm,
		    GOLDEN_TIMEOUT_S, src, in, outp);
	if (rc != 0)
		fail_msg("the node side failed (exit %d):\n%s", rc, out);
	fprintf(stderr, "%s", out);
	ans = json_load_file(outp, 0, &je);
	if (!json_is_array(ans) || json_array_size(ans) != GOLDEN_CASES)
		fail_msg("node wrote no answers for the %d cases (%s)", GOLDEN_CASES, je.text);
	for (int i = 0; i < GOLDEN_CASES; i++)
		check_answer(json_array_get(ans, (size_t)i), i);
	json_decref(ans);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(public_keys_from_known_seeds),
		cmocka_unit_test(signature_with_fixed_randomness),
		cmocka_unit_test(verifies_published_signatures),
		cmocka_unit_test(verifier_refuses_tampering),
		cmocka_unit_test(message_over_u32_is_refused),
		cmocka_unit_test(signer_seam_signs_for_both_schemes),
		cmocka_unit_test(golden_against_polkadot_js),
	};
	return cmocka_run_group_tests(tests, chain_setup, chain_teardown);
}
