/* test_chain_keys.c: the primitives under the chain keys against published
 * vectors (Keccak-f[1600] through SHA3-256, Strobe-128's conformance test,
 * Merlin's transcript tests), SS58 against known Substrate addresses and
 * hostile text, the chain key file (0600, never overwritten, refused when
 * readable by others, damaged or mismatched), Bittensor wallet import
 * (hotkey JSON, $NACL coldkey) and `karpa chain keys`. */
#include "chain_fixture.h"

#include <sodium.h>
#include <sys/stat.h>

#include "chain/chainkey.h"
#include "chain/keccak.h"
#include "chain/merlin.h"
#include "chain/ss58.h"
#include "chain/strobe.h"
#include "chain/wallet.h"
#include "util/jsonmem.h"

#define OUT_CAP 8192
/* Argon2i's minimum cost: files the tests seal themselves, except one that
 * uses the real wallet cost. */
#define TEST_OPS 3ULL
#define TEST_MEM 8192

/* //Alice's sr25519 mini secret and public key (`subkey inspect //Alice`). */
static const char alice_seed[] = "e5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a";
static const char alice_pub[] = "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d";
static const char alice_ss58[] = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

/* Alice's keyfile JSON sealed as a "$NACL" coldkey with password
 * "correct horse" (see wallet_coldkey_nacl). */
static const char coldkey_fixture[] =
	"244e41434c0102030405060708090a0b0c0d0e0f101112131415161718f6a18a828c04ecb9341c11f36f37709a290ed9"
	"e77a58ca3b42d47331e88ea81e22eb74292f0ca2108128de6e1f60cc1b61eee8ce43be601422fc825348f3cbafa3c670"
	"b4fa8c736fd7b0fbfbc884086396295c1930f0cd29f6c1b79e44f82920095d53a59e58058af7ecb4036e4e0c87b3c634"
	"e37d674ea49b755bf2e49afcaa08fd0db6336bc954120a032285710ad7db4f4cb9a55dc2ff634d127d67b7e76903ece2"
	"00f8e5eb68bb9b1a1a92c8c06fc2389e8b6b239e23bc38580e2fc42c1c39e83ddc47de978b73a4b6f926032ed5151408"
	"a0c8be5a0c06ce38ca9dfdecaab90e37de8031a9ed0eac6e5338e8ac23f997b222f8fe64015e48";

static char out[OUT_CAP];

static void unhex(const char *hex, uint8_t *bin, size_t n)
{
	assert_int_equal(chain_unhex(hex, bin, n), n);
}

static void assert_hex(const uint8_t *bin, size_t n, const char *want)
{
	char got[256];

	assert_true(2 * n < sizeof got);
	sodium_bin2hex(got, sizeof got, bin, n);
	assert_string_equal(got, want);
}

static void write_file(const char *path, const void *p, size_t n, unsigned mode)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* ---------------------------------------------------------------- Keccak */

/* SHA3-256 of a short message through the permutation: one block, FIPS 202's
 * domain bits 01 then pad10*1. */
static void sha3_256_one_block(const char *msg, uint8_t digest[32])
{
	uint8_t st[KECCAK_STATE_BYTES] = { 0 };
	size_t n = strlen(msg);

	assert_true(n < 136);
	for (size_t i = 0; i < n; i++)
		st[i] ^= (uint8_t)msg[i];
	st[n] ^= 0x06;
	st[135] ^= 0x80;
	keccak_f1600(st);
	memcpy(digest, st, 32);
}

static void keccak_matches_fips202(void **unused)
{
	uint8_t st[KECCAK_STATE_BYTES] = { 0 }, d[32];

	(void)unused;
	/* The zero state permuted once: lane 0 is 0xf1258f7940e1dde7 (the
	 * Keccak team's KeccakF-1600 intermediate values), stored little-endian. */
	keccak_f1600(st);
	assert_hex(st, 8, "e7dde140798f25f1");
	sha3_256_one_block("", d);
	assert_hex(d, 32, "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a");
	sha3_256_one_block("abc", d);
	assert_hex(d, 32, "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532");
}

/* ---------------------------------------------------------------- Strobe, Merlin */

/* Strobe-128's conformance test, as merlin's strobe.rs runs it against
 * strobe-rs; the two PRF outputs are the published values. */
static void strobe_conformance(void **unused)
{
	struct strobe128 s;
	uint8_t msg[1024], prf[32];

	(void)unused;
	memset(msg, 99, sizeof msg);
	strobe128_init(&s, (const uint8_t *)"Conformance Test Protocol", 25);
	strobe128_meta_ad(&s, (const uint8_t *)"ms", 2, 0);
	strobe128_meta_ad(&s, (const uint8_t *)"g", 1, 1);
	strobe128_ad(&s, msg, sizeof msg, 0);
	strobe128_meta_ad(&s, (const uint8_t *)"prf", 3, 0);
	strobe128_prf(&s, prf, sizeof prf, 0);
	assert_hex(prf, 32, "b48e645ca17c667fd5206ba57a6a228d72d8e1903814d3f17f622996d7cfefb0");
	strobe128_meta_ad(&s, (const uint8_t *)"key", 3, 0);
	strobe128_key(&s, prf, sizeof prf, 0);
	strobe128_meta_ad(&s, (const uint8_t *)"prf", 3, 0);
	strobe128_prf(&s, prf, sizeof prf, 0);
	assert_hex(prf, 32, "07e45cce8078cee259e3e375bb85d75610e2d1e1201c5f645045a194edd49ff8");
}

/* merlin's equivalence_simple and equivalence_complex transcripts, with the
 * challenge values published beside them (gtank/merlin, curve25519-voi). */
static void merlin_transcript_vectors(void **unused)
{
	struct merlin_transcript t;
	uint8_t c[32], big[1024];

	(void)unused;
	merlin_init(&t, "test protocol");
	merlin_append(&t, "some label", (const uint8_t *)"some data", 9);
	merlin_challenge(&t, "challenge", c, sizeof c);
	assert_hex(c, 32, "d5a21972d0d5fe320c0d263fac7fffb8145aa640af6e9bca177c03c7efcf0615");

	memset(big, 99, sizeof big);
	merlin_init(&t, "test protocol");
	merlin_append(&t, "step1", (const uint8_t *)"some data", 9);
	for (int i = 0; i < 32; i++) {
		merlin_challenge(&t, "challenge", c, sizeof c);
		merlin_append(&t, "bigdata", big, sizeof big);
		merlin_append(&t, "challengedata", c, sizeof c);
	}
	assert_hex(c, 32, "a8c933f54fae76e3f9bea93648c1308e7dfa2152dd51674ff3ca438351cf003c");
}

/* The RNG is bound to the transcript, the witness and the randomness (the
 * property merlin's transcript_rng_is_bound_to_transcript_and_witnesses
 * checks), and leaves the transcript unchanged. */
static void merlin_rng_binds_its_inputs(void **unused)
{
	struct merlin_transcript t1, t2;
	struct merlin_rng r;
	uint8_t rnd[32] = { 7 }, a[32], b[32], before[32], after[32];

	(void)unused;
	merlin_init(&t1, "rng test");
	merlin_append(&t1, "com", (const uint8_t *)"commitment 1", 12);
	t2 = t1;
	merlin_challenge(&t2, "c", before, sizeof before);
	t2 = t1;

	merlin_rng_begin(&t1, &r);
	merlin_rng_rekey(&r, "witness", (const uint8_t *)"w1", 2);
	merlin_rng_finalize(&r, rnd);
	merlin_rng_fill(&r, a, sizeof a);
	merlin_rng_begin(&t1, &r);
	merlin_rng_rekey(&r, "witness", (const uint8_t *)"w1", 2);
	merlin_rng_finalize(&r, rnd);
	merlin_rng_fill(&r, b, sizeof b);
	assert_memory_equal(a, b, 32);
	merlin_rng_begin(&t1, &r);
	merlin_rng_rekey(&r, "witness", (const uint8_t *)"w2", 2);
	merlin_rng_finalize(&r, rnd);
	merlin_rng_fill(&r, b, sizeof b);
	assert_memory_not_equal(a, b, 32);
	rnd[0] = 8;
	merlin_rng_begin(&t1, &r);
	merlin_rng_rekey(&r, "witness", (const uint8_t *)"w1", 2);
	merlin_rng_finalize(&r, rnd);
	merlin_rng_fill(&r, b, sizeof b);
	assert_memory_not_equal(a, b, 32);
	merlin_rng_wipe(&r);
	merlin_challenge(&t1, "c", after, sizeof after);
	assert_memory_equal(before, after, 32);
}

/* ---------------------------------------------------------------- SS58 */

static void ss58_known_addresses(void **unused)
{
	uint8_t pub[32], back[32];
	char addr[SS58_ADDRESS_MAX];
	struct kerr err = { { 0 }, { 0 } };
	uint16_t prefix = 0;

	(void)unused;
	unhex(alice_pub, pub, 32);
	assert_int_equal(ss58_encode(pub, 42, addr, sizeof addr, &err), 0);
	assert_string_equal(addr, alice_ss58);
	/* Alice on Polkadot (0) and Kusama (2), as polkadot-js prints them. */
	assert_int_equal(ss58_encode(pub, 0, addr, sizeof addr, &err), 0);
	assert_string_equal(addr, "15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5");
	assert_int_equal(ss58_encode(pub, 2, addr, sizeof addr, &err), 0);
	assert_string_equal(addr, "HNZata7iMYWmk5RvZRTiAsSDhV8366zq2YGb3tLH5Upf74F");
	assert_int_equal(ss58_decode(alice_ss58, back, &prefix, &err), 0);
	assert_memory_equal(back, pub, 32);
	assert_int_equal(prefix, 42);
	/* The two-byte form round-trips over its range's edges. */
	for (unsigned p = 62; p <= SS58_PREFIX_MAX; p += (p < 300 ? 1 : 997)) {
		assert_int_equal(ss58_encode(pub, (uint16_t)p, addr, sizeof addr, &err), 0);
		assert_int_equal(ss58_decode(addr, back, &prefix, &err), 0);
		assert_int_equal(prefix, p);
		assert_memory_equal(back, pub, 32);
	}
	assert_int_equal(ss58_encode(pub, SS58_PREFIX_MAX + 1, addr, sizeof addr, &err), -1);
	assert_string_equal(err.code, "ss58.bad_prefix");
	assert_int_equal(ss58_encode(pub, 42, addr, 20, &err), -1);
	assert_string_equal(err.code, "ss58.too_long");
}

/* Base58 of any bytes, for payloads the encoder would never write. */
static void b58(const uint8_t *raw, size_t n, char *text, size_t cap)
{
	static const char abc[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
	uint8_t d[128] = { 0 };
	size_t nd = 0, z = 0, k = 0;

	while (z < n && !raw[z])
		z++;
	for (size_t i = z; i < n; i++) {
		unsigned carry = raw[i];

		for (size_t j = 0; j < nd; j++) {
			carry += (unsigned)d[j] << 8;
			d[j] = (uint8_t)(carry % 58);
			carry /= 58;
		}
		for (; carry; carry /= 58)
			d[nd++] = (uint8_t)(carry % 58);
	}
	assert_true(z + nd < cap);
	for (; k < z; k++)
		text[k] = '1';
	for (size_t j = 0; j < nd; j++)
		text[k++] = abc[d[nd - 1 - j]];
	text[k] = '\0';
}

/* prefix bytes || account_len bytes of 5 || checksum, decoded: 0 or -1
 * (with ss58.bad_prefix or ss58.bad_length as the framing says). */
static int crafted(const char *prefix, size_t plen, size_t account_len)
{
	uint8_t full[64], h[64], pub[32];
	char text[128];
	crypto_generichash_state st;
	struct kerr err = { { 0 }, { 0 } };
	size_t n = plen + account_len;
	int rc;

	memcpy(full, prefix, plen);
	memset(full + plen, 5, account_len);
	crypto_generichash_init(&st, NULL, 0, 64);
	crypto_generichash_update(&st, (const uint8_t *)"SS58PRE", 7);
	crypto_generichash_update(&st, full, n);
	crypto_generichash_final(&st, h, 64);
	memcpy(full + n, h, 2);
	b58(full, n + 2, text, sizeof text);
	rc = ss58_decode(text, pub, NULL, &err);
	if (rc < 0 && strcmp(err.code, account_len == 32 ? "ss58.bad_prefix" : "ss58.bad_length"))
		fail_msg("%s: unexpected %s (%s)", text, err.code, err.msg);
	return rc;
}

static void ss58_refuses_hostile_text(void **unused)
{
	static const struct {
		const char *addr, *code;
	} cases[] = {
		{ "", "ss58.bad_length" },
		{ "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQ0", "ss58.bad_char" }, /* '0' */
		{ "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQl", "ss58.bad_char" }, /* 'l' */
		{ "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQ ", "ss58.bad_char" },
		{ "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ", "ss58.bad_checksum" },
		{ "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQ", "ss58.bad_length" },
		{ "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQYY", "ss58.bad_length" },
		{ "1111111111111111111111111111111111111111111111111111111111111", "ss58.bad_length" },
		{ "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", "ss58.too_long" },
	};
	uint8_t pub[32];
	struct kerr err = { { 0 }, { 0 } };

	(void)unused;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		kerr_clear(&err);
		if (ss58_decode(cases[i].addr, pub, NULL, &err) != -1 || strcmp(err.code, cases[i].code))
			fail_msg("case %zu (%s): got \"%s\", want %s", i, cases[i].addr, err.code, cases[i].code);
	}
	/* Payloads with a valid checksum where only the framing is wrong. */
	assert_int_equal(crafted("\xc0", 1, 32), -1); /* first byte >= 128 */
	assert_int_equal(crafted("\x4a\x80", 2, 32), -1); /* prefix 42 spelled in two bytes */
	assert_int_equal(crafted("\x2a", 1, 33), -1); /* a 33-byte account */
	assert_int_equal(crafted("\x2a", 1, 32), 0);  /* the control: prefix 42, 32 bytes */
}

/* ---------------------------------------------------------------- the key file */

static void key_file_round_trip_and_refusals(void **unused)
{
	char path[FS_PATH_MAX], text[512];
	uint8_t seed[32];
	struct chain_key k, back;
	struct chain_signer sg;
	struct kerr err = { { 0 }, { 0 } };
	struct stat sb;
	FILE *f;
	size_t n;

	(void)unused;
	unhex(alice_seed, seed, 32);
	for (int scheme = 0; scheme < 2; scheme++) {
		snprintf(path, sizeof path, "%s/k%d", chain_dir, scheme);
		assert_int_equal(chain_key_from_seed((enum chain_scheme)scheme, seed, &k, &err), 0);
		assert_int_equal(chain_key_save(path, &k, &err), 0);
		assert_int_equal(stat(path, &sb), 0);
		assert_int_equal(sb.st_mode & 0777, 0600);
		assert_int_equal(chain_key_load(path, &back, &err), 0);
		assert_int_equal(back.scheme, scheme);
		assert_memory_equal(back.pub, k.pub, 32);
		assert_int_equal(chain_key_signer(&back, &sg), 0);
		assert_int_equal(sg.scheme, scheme);
		assert_memory_equal(sg.pub, k.pub, 32);
		/* Never overwritten. */
		assert_int_equal(chain_key_save(path, &k, &err), -1);
		assert_string_equal(err.code, "chainkey.exists");
		chain_key_wipe(&back);
	}
	/* The sr25519 key is Alice's; the ed25519 one is libsodium's. */
	assert_int_equal(chain_key_from_seed(CHAIN_SCHEME_SR25519, seed, &k, &err), 0);
	assert_hex(k.pub, 32, alice_pub);

	snprintf(path, sizeof path, "%s/k1", chain_dir);
	assert_non_null(f = fopen(path, "r"));
	n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[n] = '\0';
	assert_non_null(strstr(text, "karpa-chain-key-v1\nscheme sr25519\npublic d43593c7"));

	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(chain_key_load(path, &back, &err), -1);
	assert_string_equal(err.code, "chainkey.bad_permissions");
	assert_int_equal(chmod(path, 0600), 0);

	snprintf(path, sizeof path, "%s/nothing", chain_dir);
	assert_int_equal(chain_key_load(path, &back, &err), -1);
	assert_string_equal(err.code, "chainkey.missing");
	snprintf(path, sizeof path, "%s/no/such/folder/k", chain_dir);
	assert_int_equal(chain_key_save(path, &k, &err), -1);
	assert_string_equal(err.code, "chainkey.create");
}

/* Damaged files: each refused with its reason, never a key. */
static void key_file_refuses_damage(void **unused)
{
	char good[512], bad[600], path[FS_PATH_MAX];
	struct chain_key k;
	struct kerr err = { { 0 }, { 0 } };
	static const struct {
		const char *from, *to, *code;
	} edits[] = {
		{ "karpa-chain-key-v1", "karpa-chain-key-v2", "chainkey.parse" },
		{ "scheme sr25519", "scheme sr25518", "chainkey.bad_scheme" },
		{ "scheme sr25519", "scheme ed25519", "chainkey.mismatch" },
		{ "public d4", "public D4", "chainkey.parse" },
		{ "public d4", "public d5", "chainkey.mismatch" },
		{ "seed e5", "seed e6", "chainkey.mismatch" },
		{ "seed e5", "seed  e5", "chainkey.parse" },
		{ "\npublic", "\nextra x\npublic", "chainkey.parse" },
		{ "0a\n", "0a\n\n", "chainkey.parse" },
	};

	(void)unused;
	snprintf(good, sizeof good, "karpa-chain-key-v1\nscheme sr25519\npublic %s\nseed %s\n", alice_pub, alice_seed);
	snprintf(path, sizeof path, "%s/good", chain_dir);
	write_file(path, good, strlen(good), 0600);
	assert_int_equal(chain_key_load(path, &k, &err), 0);
	for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
		const char *at = strstr(good, edits[i].from);

		assert_non_null(at);
		snprintf(bad, sizeof bad, "%.*s%s%s", (int)(at - good), good, edits[i].to, at + strlen(edits[i].from));
		snprintf(path, sizeof path, "%s/bad%zu", chain_dir, i);
		write_file(path, bad, strlen(bad), 0600);
		kerr_clear(&err);
		if (chain_key_load(path, &k, &err) != -1 || strcmp(err.code, edits[i].code))
			fail_msg("edit %zu: got \"%s\" (%s), want %s", i, err.code, err.msg, edits[i].code);
	}
	/* Too large to be a key file. */
	memset(bad, 'a', sizeof bad);
	snprintf(path, sizeof path, "%s/big", chain_dir);
	write_file(path, bad, sizeof bad, 0600);
	assert_int_equal(chain_key_load(path, &k, &err), -1);
	assert_string_equal(err.code, "chainkey.parse");
	/* Without the last newline is still the file; a symlink is not. */
	snprintf(path, sizeof path, "%s/nonl", chain_dir);
	write_file(path, good, strlen(good) - 1, 0600);
	assert_int_equal(chain_key_load(path, &k, &err), 0);
	snprintf(bad, sizeof bad, "%s/link", chain_dir);
	assert_int_equal(symlink(path, bad), 0);
	assert_int_equal(chain_key_load(bad, &k, &err), -1);
	assert_string_equal(err.code, "chainkey.open");
}

/* ---------------------------------------------------------------- wallets */

static void hotkey_json(char *buf, size_t cap, const char *seed, const char *pub, const char *ss58)
{
	snprintf(buf, cap,
		 "{\"accountId\": \"0x%s\", \"publicKey\": \"0x%s\", \"privateKey\": \"0x%0128d\", "
		 "\"secretPhrase\": \"bottom drive obey lake curtain smoke basket hold race lonely fit walk\", "
		 "\"secretSeed\": \"0x%s\", \"ss58Address\": \"%s\"}",
		 pub, pub, 0, seed, ss58);
}

/* A wallet folder chain_dir/NAME holding Alice as hotkeys/HOTKEY. */
static void alice_wallet(const char *name, const char *hotkey, char *wallet, size_t cap)
{
	char path[FS_PATH_MAX], json[1024];
	struct kerr err = { { 0 }, { 0 } };

	snprintf(wallet, cap, "%s/%s", chain_dir, name);
	snprintf(path, sizeof path, "%s/hotkeys", wallet);
	assert_int_equal(fs_mkdir_p(path, &err), 0);
	hotkey_json(json, sizeof json, alice_seed, alice_pub, alice_ss58);
	snprintf(path, sizeof path, "%s/hotkeys/%s", wallet, hotkey);
	write_file(path, json, strlen(json), 0600);
}

static void wallet_hotkey_import(void **unused)
{
	char wallet[FS_PATH_MAX];
	struct chain_key k;
	struct kerr err = { { 0 }, { 0 } };

	(void)unused;
	alice_wallet("wallet", "default", wallet, sizeof wallet);
	assert_int_equal(wallet_import_hotkey(wallet, NULL, &k, &err), 0);
	assert_int_equal(k.scheme, CHAIN_SCHEME_SR25519);
	assert_hex(k.pub, 32, alice_pub);

	assert_int_equal(wallet_import_hotkey(wallet, "miner1", &k, &err), -1);
	assert_string_equal(err.code, "wallet.missing");
	assert_int_equal(wallet_import_hotkey(wallet, "../coldkey", &k, &err), -1);
	assert_string_equal(err.code, "wallet.bad_name");
	assert_int_equal(wallet_import_hotkey(wallet, "..", &k, &err), -1);
	assert_string_equal(err.code, "wallet.bad_name");
}

static int seed_seen, blocks_seen;

/* jsonmem's observer: a freed block that still holds the seed's text. */
static void look_for_seed(const void *block, size_t n)
{
	static const char hex[] = "E5BE9A5092B81BCA64BE81D2";

	blocks_seen++;
	if (n >= sizeof hex - 1 && memmem(block, n, hex, sizeof hex - 1))
		seed_seen++;
}

static void wallet_json_refusals(void **unused)
{
	char json[1024], other_pub[65];
	uint8_t seed[32], pub[32];
	struct chain_key k;
	struct kerr err = { { 0 }, { 0 } };
	static const struct {
		const char *json, *code;
	} cases[] = {
		{ "[]", "wallet.parse" },
		{ "{", "wallet.parse" },
		{ "{\"secretSeed\": 7}", "wallet.parse" },
		{ "{\"secretSeed\": \"0x12\"}", "wallet.parse" },
		{ "{\"secretPhrase\": \"bottom drive obey lake\"}", "wallet.no_seed" },
		{ "{\"publicKey\": \"0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d\"}", "wallet.no_seed" },
		{ "{\"secretSeed\": \"0xe5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a\", "
		  "\"secretSeed\": \"0xe5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a\"}", "wallet.parse" },
		{ "{\"secretSeed\": \"0xe5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a\", "
		  "\"ss58Address\": \"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ\"}", "ss58.bad_checksum" },
		{ "{\"secretSeed\": \"0xe5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a\", "
		  "\"ss58Address\": \"5DcjVUSFQsUSFDCMFNSFYRwBYgya7BEcoA47F5pkphi8NXnu\"}", "wallet.mismatch" },
	};

	(void)unused;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		kerr_clear(&err);
		if (wallet_key_from_json(cases[i].json, strlen(cases[i].json), &k, &err) != -1 ||
		    strcmp(err.code, cases[i].code))
			fail_msg("case %zu: got \"%s\" (%s), want %s", i, err.code, err.msg, cases[i].code);
	}
	/* A publicKey or accountId of another key. */
	memset(seed, 1, sizeof seed);
	sr25519_from_seed(seed, &k.sr, pub);
	sodium_bin2hex(other_pub, sizeof other_pub, pub, 32);
	hotkey_json(json, sizeof json, alice_seed, other_pub, alice_ss58);
	assert_int_equal(wallet_key_from_json(json, strlen(json), &k, &err), -1);
	assert_string_equal(err.code, "wallet.mismatch");
	/* Without the optional fields, the seed alone (no 0x, upper case).
	 * No block jansson frees still holds it: its lexer copies each token
	 * into buffers of its own, which jsonmem's free wipes. */
	snprintf(json, sizeof json, "{\"secretSeed\": \"E5BE9A5092B81BCA64BE81D212E7F2F9EBA183BB7A90954F7B76361F6EDB5C0A\"}");
	seed_seen = blocks_seen = 0;
	jsonmem_test_observe_free(look_for_seed);
	assert_int_equal(wallet_key_from_json(json, strlen(json), &k, &err), 0);
	jsonmem_test_observe_free(NULL);
	assert_int_equal(seed_seen, 0);
	assert_true(blocks_seen > 0); /* the parse went through jsonmem's allocator */
	assert_hex(k.pub, 32, alice_pub);
}

/* A coldkey sealed to btwallet's format: "$NACL", a 24-byte nonce, then
 * crypto_secretbox_easy under Argon2i(password, the fixed salt). The real
 * cost (8 passes, 512 MiB) runs once; the rest use the minimum. */
static void wallet_coldkey_nacl(void **unused)
{
	char wallet[FS_PATH_MAX], path[FS_PATH_MAX], key_path[FS_PATH_MAX], json[1024], *plain = NULL;
	uint8_t *sealed = NULL;
	size_t sealed_len = 0, plain_len = 0;
	struct chain_key k;
	struct kerr err = { { 0 }, { 0 } };
	double t0;

	(void)unused;
	hotkey_json(json, sizeof json, alice_seed, alice_pub, alice_ss58);
	assert_int_equal(wallet_nacl_seal(json, strlen(json), "correct horse", TEST_OPS, TEST_MEM, &sealed,
					  &sealed_len, &err), 0);
	assert_int_equal(sealed_len, 5 + 24 + 16 + strlen(json));
	assert_memory_equal(sealed, "$NACL", 5);
	assert_int_equal(wallet_nacl_open(sealed, sealed_len, "correct horse", TEST_OPS, TEST_MEM, &plain, &plain_len,
					  &err), 0);
	assert_int_equal(plain_len, strlen(json));
	assert_string_equal(plain, json);
	sodium_free(plain);
	assert_int_equal(wallet_nacl_open(sealed, sealed_len, "wrong horse", TEST_OPS, TEST_MEM, &plain, &plain_len,
					  &err), -1);
	assert_string_equal(err.code, "wallet.password");
	sealed[sealed_len - 1] ^= 1;
	assert_int_equal(wallet_nacl_open(sealed, sealed_len, "correct horse", TEST_OPS, TEST_MEM, &plain, &plain_len,
					  &err), -1);
	assert_string_equal(err.code, "wallet.password");
	assert_int_equal(wallet_nacl_open(sealed, 5 + 24 + 15, "correct horse", TEST_OPS, TEST_MEM, &plain, &plain_len,
					  &err), -1);
	assert_string_equal(err.code, "wallet.bad_format");
	assert_int_equal(wallet_nacl_open((const uint8_t *)"$ANSIBLE_VAULT;1.1;AES256\n", 26, "x", TEST_OPS, TEST_MEM,
					  &plain, &plain_len, &err), -1);
	assert_string_equal(err.code, "wallet.legacy");
	assert_int_equal(wallet_nacl_open((const uint8_t *)"gAAAAABk", 8, "x", TEST_OPS, TEST_MEM, &plain, &plain_len,
					  &err), -1);
	assert_string_equal(err.code, "wallet.legacy");
	free(sealed);

	/* The real wallet cost: a coldkey sealed outside this code base (Python
	 * ctypes over libsodium: crypto_pwhash Argon2i v1.3 of "correct horse"
	 * under btwallet's salt, 8 passes, 512 MiB; nonce 01..18;
	 * crypto_secretbox_easy), as btwallet's encrypt_keyfile_data lays it out. */
	assert_int_equal(WALLET_NACL_OPSLIMIT, crypto_pwhash_argon2i_OPSLIMIT_SENSITIVE);
	assert_int_equal(WALLET_NACL_MEMLIMIT, crypto_pwhash_argon2i_MEMLIMIT_SENSITIVE);
	{
		uint8_t box[sizeof coldkey_fixture / 2];

		unhex(coldkey_fixture, box, sizeof box);
		snprintf(wallet, sizeof wallet, "%s/cold", chain_dir);
		assert_int_equal(fs_mkdir_p(wallet, &err), 0);
		snprintf(path, sizeof path, "%s/coldkey", wallet);
		write_file(path, box, sizeof box, 0600);
	}
	assert_int_equal(wallet_import_coldkey(wallet, NULL, &k, &err), -1);
	assert_string_equal(err.code, "wallet.encrypted");
	/* Opened end to end by the CLI (the release binary: one Argon2i run). */
	snprintf(path, sizeof path, "%s/coldpw", chain_dir);
	write_file(path, "correct horse\n", 14, 0600);
	/* The right password on a machine short of the 512 MiB Argon2i needs
	 * (here: 448 MiB of address space in all) is the machine's trouble,
	 * said as such, and no key is written. */
	tu_run_want(out, sizeof out, 1,
		    "ulimit -v 458752 && %s chain keys import --wallet %s --coldkey --password-file %s"
		    " --out %s/cold.key --json",
		    tu_karpa(), wallet, path, chain_dir);
	{
		json_t *j = tu_out_json(out);

		assert_string_equal(tu_jstr(j, "code"), "wallet.kdf");
		json_decref(j);
	}
	snprintf(key_path, sizeof key_path, "%s/cold.key", chain_dir);
	assert_false(fs_exists(key_path));
	t0 = tu_now_s();
	tu_run_want(out, sizeof out, 0, "%s chain keys import --wallet %s --coldkey --password-file %s --out %s/cold.key",
		    tu_karpa(), wallet, path, chain_dir);
	fprintf(stderr, "chain_keys: Argon2i at the wallet cost took %.1f s\n", tu_now_s() - t0);
	assert_non_null(strstr(out, alice_ss58));
	assert_null(strstr(out, alice_seed));
	snprintf(path, sizeof path, "%s/coldkey", wallet);
	/* An unencrypted coldkey is plain JSON. */
	write_file(path, json, strlen(json), 0600);
	assert_int_equal(wallet_import_coldkey(wallet, NULL, &k, &err), 0);
	assert_hex(k.pub, 32, alice_pub);
}

/* ---------------------------------------------------------------- the CLI */

static void cli_import_and_show(void **unused)
{
	char wallet[FS_PATH_MAX], path[FS_PATH_MAX], json[1024];
	json_t *j;
	struct kerr err = { { 0 }, { 0 } };

	(void)unused;
	tu_run_want(out, sizeof out, 0, "%s chain keys import --scheme sr25519 --seed 0x%s --out %s/cli.key", tu_karpa(),
		    alice_seed, chain_dir);
	assert_non_null(strstr(out, "scheme sr25519\npublic 0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d\nss58 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY\n"));
	assert_null(strstr(out, alice_seed));
	tu_run_want(out, sizeof out, 0, "%s chain keys show %s/cli.key --json", tu_karpa(), chain_dir);
	j = tu_out_json(out);
	assert_string_equal(tu_jstr(j, "ss58_address"), alice_ss58);
	assert_string_equal(tu_jstr(j, "scheme"), "sr25519");
	json_decref(j);
	assert_null(strstr(out, alice_seed));
	/* Never overwrites; refuses a bad seed, scheme or combination. */
	tu_run_want(out, sizeof out, 1, "%s chain keys import --scheme sr25519 --seed %s --out %s/cli.key", tu_karpa(),
		    alice_seed, chain_dir);
	assert_non_null(strstr(out, "chainkey.exists"));
	tu_run_want(out, sizeof out, 1, "%s chain keys import --scheme sr25519 --seed 12 --out %s/x.key", tu_karpa(), chain_dir);
	assert_non_null(strstr(out, "chain.bad_seed"));
	tu_run_want(out, sizeof out, 1, "%s chain keys import --scheme ecdsa --seed %s --out %s/x.key", tu_karpa(),
		    alice_seed, chain_dir);
	assert_non_null(strstr(out, "chainkey.bad_scheme"));
	tu_run_want(out, sizeof out, 2, "%s chain keys import --seed %s --out %s/x.key", tu_karpa(), alice_seed, chain_dir);
	tu_run_want(out, sizeof out, 2, "%s chain keys import --scheme sr25519 --seed %s --wallet %s --out %s/x.key",
		    tu_karpa(), alice_seed, chain_dir, chain_dir);
	tu_run_want(out, sizeof out, 2, "%s chain frobnicate", tu_karpa());
	tu_run_want(out, sizeof out, 0, "%s chain --help", tu_karpa());
	assert_non_null(strstr(out, "karpa chain keys show FILE"));
	/* ed25519 from the same seed: libsodium's public key. */
	tu_run_want(out, sizeof out, 0, "%s chain keys import --scheme ed25519 --seed %s --out %s/ed.key --json",
		    tu_karpa(), alice_seed, chain_dir);
	j = tu_out_json(out);
	assert_string_equal(tu_jstr(j, "scheme"), "ed25519");
	json_decref(j);
	/* From a wallet's hotkey. */
	alice_wallet("w2", "validator", wallet, sizeof wallet);
	hotkey_json(json, sizeof json, alice_seed, alice_pub, alice_ss58);
	tu_run_want(out, sizeof out, 0, "%s chain keys import --wallet %s --hotkey validator --out %s/hk.key", tu_karpa(),
		    wallet, chain_dir);
	assert_non_null(strstr(out, alice_ss58));
	tu_run_want(out, sizeof out, 1, "%s chain keys import --wallet %s --out %s/hk2.key", tu_karpa(), wallet, chain_dir);
	assert_non_null(strstr(out, "wallet.missing"));
	/* A coldkey sealed at the minimum cost is refused by the CLI's real
	 * cost: the wrong key, so the box does not open. */
	{
		uint8_t *sealed = NULL;
		size_t n = 0;

		assert_int_equal(wallet_nacl_seal(json, strlen(json), "pw", TEST_OPS, TEST_MEM, &sealed, &n, &err), 0);
		snprintf(path, sizeof path, "%s/coldkey", wallet);
		write_file(path, sealed, n, 0600);
		free(sealed);
		snprintf(path, sizeof path, "%s/pw", chain_dir);
		write_file(path, "pw\n", 3, 0600);
		tu_run_want(out, sizeof out, 1, "%s chain keys import --wallet %s --coldkey --out %s/ck.key", tu_karpa(),
			    wallet, chain_dir);
		assert_non_null(strstr(out, "wallet.encrypted"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(keccak_matches_fips202),
		cmocka_unit_test(strobe_conformance),
		cmocka_unit_test(merlin_transcript_vectors),
		cmocka_unit_test(merlin_rng_binds_its_inputs),
		cmocka_unit_test(ss58_known_addresses),
		cmocka_unit_test(ss58_refuses_hostile_text),
		cmocka_unit_test(key_file_round_trip_and_refusals),
		cmocka_unit_test(key_file_refuses_damage),
		cmocka_unit_test(wallet_hotkey_import),
		cmocka_unit_test(wallet_json_refusals),
		cmocka_unit_test(wallet_coldkey_nacl),
		cmocka_unit_test(cli_import_and_show),
	};
	return cmocka_run_group_tests(tests, chain_setup, chain_teardown);
}
