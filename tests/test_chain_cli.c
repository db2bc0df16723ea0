/* test_chain_cli.c: `karpa chain keys import` and `karpa chain extrinsic`
 * through the binary, read back by polkadot-js: for an sr25519 and an
 * ed25519 hotkey, polkadot-js decodes the extrinsic to the call that was
 * asked for, rebuilds the signing payload itself from the same chain state,
 * and verifies the signature against the signer the extrinsic names; a
 * flipped byte in the signature fails that check. Fails (never skips) when
 * node or the npm packages are missing: scripts/setup.sh installs them. */
#include "testutil.h"

#include <jansson.h>

#include "util/fsutil.h"

#define OUT_CAP (64u << 10)

static char *dir, *out, npm[FS_PATH_MAX];

static int setup(void **unused)
{
	struct kerr e = { 0 };
	char probe[FS_PATH_MAX + 64];

	(void)unused;
	dir = tu_mkdtemp();
	out = malloc(OUT_CAP);
	if (fs_cache_dir(npm, sizeof npm, &e) < 0)
		return -1;
	strncat(npm, "/npm", sizeof npm - strlen(npm) - 1);
	snprintf(probe, sizeof probe, "%s/node_modules/@polkadot/types/package.json", npm);
	if (!fs_exists(probe))
		fail_msg("@polkadot/types is not installed in %s: run scripts/setup.sh", npm);
	return out ? 0 : -1;
}

static int teardown(void **unused)
{
	(void)unused;
	tu_rmdir(dir);
	free(out);
	return 0;
}

/* polkadot-js's verdict on ext (its last line, parsed; caller decrefs). */
static json_t *verify(const char *state, const char *ext)
{
	const char *src = getenv("KARPA_SRC") ? getenv("KARPA_SRC") : ".";
	const char *last;
	json_error_t je;
	json_t *j;

	tu_run_want(out, OUT_CAP, 0, "KARPA_NPM_DIR='%s' timeout 120 node '%s/tests/chain_verify_extrinsic.mjs' %s %s", npm,
		    src, state, ext);
	last = strrchr(out, '{');
	assert_non_null(last);
	j = json_loads(last, 0, &je);
	if (!j)
		fail_msg("polkadot-js answered no JSON (%s):\n%s", je.text, out);
	return j;
}

static void one_scheme(const char *scheme, const char *seed, const char *want_type)
{
	char key[FS_PATH_MAX], state[FS_PATH_MAX], ext[4096], bad[4096], ss58[64];
	const char *src = getenv("KARPA_SRC") ? getenv("KARPA_SRC") : ".";
	json_t *j, *args;
	FILE *f;
	size_t n;

	snprintf(key, sizeof key, "%s/%s.key", dir, scheme);
	snprintf(state, sizeof state, "%s/%s-state.json", dir, scheme);
	tu_run_want(out, OUT_CAP, 0, "%s chain keys import --scheme %s --seed %s --out %s", tu_karpa(), scheme, seed, key);
	tu_run_want(out, OUT_CAP, 0, "%s chain keys show %s --json", tu_karpa(), key);
	{
		json_t *k = tu_out_json(out);
		snprintf(ss58, sizeof ss58, "%s", json_string_value(json_object_get(k, "ss58_address")));
		json_decref(k);
	}
	f = fopen(state, "w");
	assert_non_null(f);
	fprintf(f,
		"{\"metadata\": \"%s/../shared/chain/subtensor-devnet-metadata.scale\", \"spec_version\": 351,"
		" \"transaction_version\": 1, \"genesis_hash\": \"0x%s\", \"block_number\": 5000,"
		" \"block_hash\": \"0x%s\", \"nonce\": 3}\n",
		src, "ab5c3ad0a3ea2a8d6a5da27e3f9ba1f2c0e5d4d1a8b2c3e4f5a6b7c8d9e0f1a2",
		"cd0c1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7");
	fclose(f);
	tu_run_want(out, OUT_CAP, 0, "%s chain extrinsic --chain-state %s --hotkey %s --netuid 16 --weights 0=1,1=0.5,5=0.00002"
				     " --version-key 1234 | tail -1",
		    tu_karpa(), state, key);
	n = strcspn(out, "\n");
	assert_true(n > 2 && n < sizeof ext);
	memcpy(ext, out, n);
	ext[n] = 0;

	j = verify(state, ext);
	assert_string_equal(json_string_value(json_object_get(j, "method")), "setWeights");
	assert_string_equal(json_string_value(json_object_get(j, "signer")), ss58);
	assert_string_equal(json_string_value(json_object_get(j, "scheme")), want_type);
	assert_int_equal(json_integer_value(json_object_get(j, "nonce")), 3);
	args = json_object_get(j, "args");
	assert_int_equal(json_integer_value(json_array_get(args, 0)), 16);
	assert_int_equal(json_integer_value(json_array_get(json_array_get(args, 2), 0)), 65535);
	assert_int_equal(json_integer_value(json_array_get(json_array_get(args, 2), 1)), 32768);
	assert_int_equal(json_integer_value(json_array_get(json_array_get(args, 2), 2)), 1);
	assert_true(json_is_true(json_object_get(j, "valid")));
	json_decref(j);

	/* One signature byte flipped: the same extrinsic no longer verifies.
	 * Layout: "0x", the compact length (2 bytes here), the version, the
	 * address variant and its 32-byte key, the signature variant, then the
	 * 64 signature bytes; the flip is in signature byte 59. */
	snprintf(bad, sizeof bad, "%s", ext);
	{
		char *p = bad + 2 + 2 * (2 + 1 + 1 + 32 + 1 + 59);
		*p = *p == '0' ? '1' : '0';
	}
	j = verify(state, bad);
	assert_false(json_is_true(json_object_get(j, "valid")));
	json_decref(j);
}

static void test_sr25519_extrinsic_verified_by_polkadot(void **unused)
{
	(void)unused;
	one_scheme("sr25519", "0x9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "Sr25519");
}

static void test_ed25519_extrinsic_verified_by_polkadot(void **unused)
{
	(void)unused;
	one_scheme("ed25519", "0x4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb", "Ed25519");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sr25519_extrinsic_verified_by_polkadot),
		cmocka_unit_test(test_ed25519_extrinsic_verified_by_polkadot),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
