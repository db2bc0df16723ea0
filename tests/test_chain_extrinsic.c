/* test_chain_extrinsic.c: calls and signed extrinsics
 * (src/chain/extrinsic.c). The README's known set_weights encoding; a call
 * moved in the metadata is followed; Substrate's era vectors; and, for
 * the same seed, metadata, chain state and call, the call bytes, signing
 * payload, commit hash and whole signed extrinsic equal polkadot-js's
 * (tests/chain_polkadot.mjs under node, packages from scripts/setup.sh)
 * byte for byte: ed25519, mortal and immortal, short payloads and long
 * ones (signed through their blake2b-256). Refusals: an extension that
 * carries unknown data, a call whose arguments changed shape, an address
 * or signature type that is not MultiAddress / MultiSignature. Fails,
 * never skips, when node or the packages are missing. */
#include "chain_tx_fixture.h"

#include "chain/extrinsic.h"
#include "chain/metadata.h"

#define POLKADOT_TYPES "npm/node_modules/@polkadot/types/package.json"
#define OUT_CAP (1u << 20)

static struct meta *g_meta;

static int group_setup(void **state)
{
	struct kerr e = { 0 };

	if (meta_load(cf_metadata_path(), &g_meta, &e) < 0) {
		fprintf(stderr, "%s: %s\n", e.code, e.msg);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	meta_free(g_meta);
	return 0;
}

static void readme_set_weights_encoding(void **state)
{
	const uint16_t uids[] = { 0, 1, 5 }, vals[] = { 65535, 32768, 1 };
	const char *want = "0x070010000c0000010005000cffff00800100d204000000000000";
	struct scale_writer w;
	struct kerr e = { 0 };
	char hex[256];

	scale_writer_init(&w, CHAIN_CALL_BYTES_MAX, &e);
	if (chain_call_set_weights(g_meta, 16, uids, vals, 3, 1234, &w, &e) < 0)
		fail_msg("%s: %s", e.code, e.msg);
	cf_hex(w.buf, w.len, hex);
	assert_string_equal(hex, want);
	scale_writer_free(&w);
}

static void a_moved_call_is_encoded_where_the_metadata_says(void **state)
{
	const uint16_t uids[] = { 0 }, vals[] = { 1 };
	size_t n, at;
	uint8_t *b = cf_metadata_bytes(&n);
	struct meta *m = NULL;
	struct scale_writer w;
	struct kerr e = { 0 };

	at = cf_set_weights_index_offset(b, n);
	assert_int_equal(b[at], 0);
	b[at] = 0xc8;
	assert_int_equal(meta_parse(b, n, &m, &e), 0);
	scale_writer_init(&w, CHAIN_CALL_BYTES_MAX, &e);
	assert_int_equal(chain_call_set_weights(m, 16, uids, vals, 1, 0, &w, &e), 0);
	assert_int_equal(w.buf[0], 7);
	assert_int_equal(w.buf[1], 0xc8);
	scale_writer_free(&w);
	meta_free(m);
	free(b);
}

static void era_matches_substrate(void **state)
{
	uint8_t b[2];

	assert_int_equal(chain_era_encode(0, 12345, b), 1);
	assert_int_equal(b[0], 0);
	/* sp_runtime::generic::Era's own tests */
	assert_int_equal(chain_era_encode(64, 42, b), 2);
	assert_int_equal(b[0], 5 + 42 % 16 * 16);
	assert_int_equal(b[1], 42 / 16);
	assert_int_equal(chain_era_encode(32768, 20000, b), 2);
	assert_int_equal(b[0], 14 + 2500 % 16 * 16);
	assert_int_equal(b[1], 2500 / 16);
	/* 128 at block 1000: phase 104 */
	assert_int_equal(chain_era_encode(128, 1000, b), 2);
	assert_int_equal(b[0], 0x86);
	assert_int_equal(b[1], 0x06);
	/* 100 rounds up to 128; 1 up to 4; past 2^16 down to 2^16 */
	uint8_t c[2];
	chain_era_encode(100, 1000, c);
	assert_memory_equal(b, c, 2);
	chain_era_encode(1, 7, b);
	assert_int_equal(b[0], 1 | (7 % 4) << 4);
	chain_era_encode(1u << 20, 5, b);
	chain_era_encode(1u << 16, 5, c);
	assert_memory_equal(b, c, 2);

	/* birth: the block itself up to period 4096; quantised above */
	assert_true(chain_era_birth(128, 1000) == 1000);
	assert_true(chain_era_birth(4096, 123457) == 123457);
	assert_true(chain_era_birth(32768, 20003) == 20000);
	assert_true(chain_era_birth(0, 20003) == 0);
	chain_era_encode(32768, 20003, b);
	chain_era_encode(32768, 20000, c);
	assert_memory_equal(b, c, 2);
}

/* ---- polkadot-js goldens ---------------------------------------------- */

struct gcase {
	const char *call;
	uint8_t seed;
	uint16_t netuid;
	size_t n, n_salt;
	uint64_t version_key;
	uint32_t period;
	uint64_t block, nonce, tip;
	uint32_t spec, txv;
};

static const struct gcase cases[] = {
	{ "set_weights", 1, 16, 3, 0, 1234, 128, 1000, 5, 0, 351, 1 },
	{ "set_weights", 1, 16, 3, 0, 1234, 0, 1000, 5, 0, 351, 1 },
	{ "set_weights", 2, 3, 120, 0, 9010002, 128, 4999999, 70000, 0, 351, 1 },
	{ "set_weights", 2, 3, 120, 0, 9010002, 0, 4999999, 70000, 0, 351, 1 },
	{ "set_weights", 3, 65535, 0, 0, 0, 64, 42, 0, 1000000, 200, 7 },
	{ "set_weights", 4, 1, 2, 0, 7, 100, 123456789, 1u << 30, 5, 351, 1 },
	{ "commit_weights", 5, 16, 40, 8, 2003004, 128, 77777, 9, 0, 351, 1 },
	{ "commit_weights", 5, 16, 40, 8, 2003004, 0, 77777, 9, 0, 351, 1 },
	{ "reveal_weights", 5, 16, 40, 8, 2003004, 128, 77800, 10, 0, 351, 1 },
	{ "reveal_weights", 6, 16, 1, 1, 1, 32768, 20000, 1, 0, 351, 1 },
};

#define NCASES (sizeof cases / sizeof cases[0])

struct built {
	char call[1 << 14], payload[1 << 14], extrinsic[1 << 14], pub[80], commit[80];
	size_t payload_len, signed_len;
};

static void case_vectors(const struct gcase *c, uint16_t *uids, uint16_t *vals, uint16_t *salt)
{
	for (size_t i = 0; i < c->n; i++) {
		uids[i] = (uint16_t)(i * 7 + c->seed);
		vals[i] = (uint16_t)(i * 7919 + 1);
	}
	for (size_t i = 0; i < c->n_salt; i++)
		salt[i] = (uint16_t)(i * 31 + 5);
}

static void case_tx(const struct gcase *c, struct chain_tx *tx)
{
	memset(tx, 0, sizeof *tx);
	tx->spec_version = c->spec;
	tx->tx_version = c->txv;
	for (int i = 0; i < 32; i++) {
		tx->genesis_hash[i] = (uint8_t)(0x10 + i);
		tx->block_hash[i] = (uint8_t)(0xa0 ^ (i * 5) ^ c->seed);
	}
	tx->block_number = c->block;
	tx->era_period = c->period;
	tx->nonce = c->nonce;
	tx->tip = c->tip;
}

static void build(const struct gcase *c, struct built *out)
{
	uint16_t uids[256], vals[256], salt[64];
	uint8_t seed[32], hash[32];
	struct cf_ed25519 key;
	struct chain_signer s;
	struct chain_tx tx;
	struct scale_writer call, payload, ext;
	struct kerr e = { 0 };
	int rc;

	memset(seed, c->seed, sizeof seed);
	cf_signer(seed, &key, &s);
	case_vectors(c, uids, vals, salt);
	case_tx(c, &tx);
	scale_writer_init(&call, CHAIN_CALL_BYTES_MAX, &e);
	scale_writer_init(&payload, CHAIN_EXTRINSIC_BYTES_MAX, &e);
	scale_writer_init(&ext, CHAIN_EXTRINSIC_BYTES_MAX, &e);
	out->commit[0] = '\0';
	if (!strcmp(c->call, "set_weights")) {
		rc = chain_call_set_weights(g_meta, c->netuid, uids, vals, c->n, c->version_key, &call, &e);
	} else {
		assert_int_equal(chain_commit_hash(key.pk, c->netuid, uids, vals, c->n, salt, c->n_salt,
						   c->version_key, hash, &e), 0);
		cf_hex(hash, 32, out->commit);
		if (!strcmp(c->call, "commit_weights"))
			rc = chain_call_commit_weights(g_meta, c->netuid, hash, &call, &e);
		else
			rc = chain_call_reveal_weights(g_meta, c->netuid, uids, vals, c->n, salt, c->n_salt,
						       c->version_key, &call, &e);
	}
	if (rc < 0 || chain_signing_payload(g_meta, &tx, call.buf, call.len, &payload, &e) < 0 ||
	    chain_extrinsic_signed(g_meta, &tx, call.buf, call.len, &s, &ext, &e) < 0)
		fail_msg("%s: %s", e.code, e.msg);
	cf_hex(call.buf, call.len, out->call);
	cf_hex(payload.buf, payload.len, out->payload);
	cf_hex(ext.buf, ext.len, out->extrinsic);
	cf_hex(key.pk, 32, out->pub);
	out->payload_len = payload.len;
	out->signed_len = key.last_len;
	assert_int_equal(key.calls, 1);
	scale_writer_free(&call);
	scale_writer_free(&payload);
	scale_writer_free(&ext);
}

static json_t *u16_array(const uint16_t *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_integer(v[i]));
	return a;
}

static json_t *case_json(const struct gcase *c, const struct built *b)
{
	uint16_t uids[256], vals[256], salt[64];
	struct chain_tx tx;
	char seed[80], genesis[80], block_hash[80];
	uint8_t sb[32];
	json_t *args = json_object(), *j;

	memset(sb, c->seed, sizeof sb);
	cf_hex(sb, 32, seed);
	case_vectors(c, uids, vals, salt);
	case_tx(c, &tx);
	cf_hex(tx.genesis_hash, 32, genesis);
	cf_hex(tx.block_hash, 32, block_hash);
	json_object_set_new(args, "netuid", json_integer(c->netuid));
	if (!strcmp(c->call, "set_weights")) {
		json_object_set_new(args, "dests", u16_array(uids, c->n));
		json_object_set_new(args, "weights", u16_array(vals, c->n));
		json_object_set_new(args, "version_key", json_integer((json_int_t)c->version_key));
	} else if (!strcmp(c->call, "commit_weights")) {
		json_object_set_new(args, "commit_hash", json_string(b->commit));
	} else {
		json_object_set_new(args, "uids", u16_array(uids, c->n));
		json_object_set_new(args, "values", u16_array(vals, c->n));
		json_object_set_new(args, "salt", u16_array(salt, c->n_salt));
		json_object_set_new(args, "version_key", json_integer((json_int_t)c->version_key));
	}
	j = json_pack("{s:s, s:s, s:o, s:I, s:I, s:s, s:I, s:s, s:I, s:I, s:I}", "seed", seed, "call", c->call,
		      "args", args, "spec", (json_int_t)c->spec, "txv", (json_int_t)c->txv, "genesis", genesis,
		      "block", (json_int_t)c->block, "block_hash", block_hash, "period", (json_int_t)c->period,
		      "nonce", (json_int_t)c->nonce, "tip", (json_int_t)c->tip);
	if (strcmp(c->call, "set_weights"))
		json_object_set_new(j, "commit",
				    json_pack("{s:I, s:o, s:o, s:o, s:I}", "netuid", (json_int_t)c->netuid, "uids",
					      u16_array(uids, c->n), "values", u16_array(vals, c->n), "salt",
					      u16_array(salt, c->n_salt), "version_key", (json_int_t)c->version_key));
	return j;
}

static void polkadot_js_builds_the_same_bytes(void **state)
{
	static struct built b[NCASES];
	char npm[FS_PATH_MAX], probe[FS_PATH_MAX + 64], *dir = tu_mkdtemp(), in[FS_PATH_MAX + 32];
	char *out = malloc(OUT_CAP);
	const char *src = getenv("KARPA_SRC");
	json_t *cases_j = json_array(), *root, *res;
	json_error_t je;
	struct kerr e = { 0 };
	int long_ones = 0, short_ones = 0;

	assert_non_null(out);
	assert_int_equal(fs_cache_dir(npm, sizeof npm, &e), 0);
	strncat(npm, "/npm", sizeof npm - strlen(npm) - 1);
	snprintf(probe, sizeof probe, "%s/node_modules/@polkadot/types/package.json", npm);
	if (!fs_exists(probe))
		fail_msg("@polkadot/types is not installed in %s: run scripts/setup.sh", npm);
	if (tu_run(out, OUT_CAP, "node --version") != 0)
		fail_msg("node is not available (%s): run scripts/setup.sh", out);

	for (size_t i = 0; i < NCASES; i++) {
		build(&cases[i], &b[i]);
		json_array_append_new(cases_j, case_json(&cases[i], &b[i]));
		if (b[i].payload_len > CHAIN_PAYLOAD_HASHED_OVER) {
			assert_int_equal(b[i].signed_len, 32); /* the digest was signed */
			long_ones++;
		} else {
			assert_int_equal(b[i].signed_len, b[i].payload_len);
			short_ones++;
		}
	}
	assert_true(long_ones >= 3 && short_ones >= 3);
	root = json_pack("{s:s, s:o}", "metadata", cf_metadata_path(), "cases", cases_j);
	snprintf(in, sizeof in, "%s/cases.json", dir);
	assert_int_equal(json_dump_file(root, in, 0), 0);
	json_decref(root);

	tu_run_want(out, OUT_CAP, 0, "KARPA_NPM_DIR='%s' timeout 120 node '%s/tests/chain_polkadot.mjs' '%s'", npm,
		    src && *src ? src : ".", in);
	/* the results are the last line; anything node said before is noise */
	{
		size_t len = strlen(out);
		char *last;

		while (len && out[len - 1] == '\n')
			out[--len] = '\0';
		last = strrchr(out, '\n');
		res = json_loads(last ? last + 1 : out, 0, &je);
	}
	if (!json_is_array(res) || json_array_size(res) != NCASES)
		fail_msg("chain_polkadot.mjs printed no %zu results (%s):\n%s", NCASES, je.text, out);
	for (size_t i = 0; i < NCASES; i++) {
		json_t *r = json_array_get(res, i);

		print_message("case %zu: %s period %u, payload %zu bytes\n", i, cases[i].call, cases[i].period,
			      b[i].payload_len);
		assert_string_equal(b[i].pub, tu_jstr(r, "pub"));
		assert_string_equal(b[i].call, tu_jstr(r, "call"));
		assert_string_equal(b[i].payload, tu_jstr(r, "payload"));
		if (b[i].commit[0])
			assert_string_equal(b[i].commit, tu_jstr(r, "commit_hash"));
		assert_string_equal(b[i].extrinsic, tu_jstr(r, "extrinsic"));
	}
	json_decref(res);
	free(out);
	tu_rmdir(dir);
}

/* ---- refusals --------------------------------------------------------- */

static struct meta *fresh(void)
{
	struct meta *m = NULL;
	struct kerr e = { 0 };

	assert_int_equal(meta_load(cf_metadata_path(), &m, &e), 0);
	return m;
}

/* The id of some u32 primitive in m (CheckSpecVersion's additional). */
static uint32_t a_u32(const struct meta *m)
{
	for (uint32_t i = 0; i < m->ntypes; i++)
		if (m->types[i].def == META_PRIMITIVE && m->types[i].prim == META_U32)
			return i;
	fail_msg("no u32 in the metadata");
	return 0;
}

static int sign_once(struct meta *m, struct kerr *e)
{
	const uint16_t uids[] = { 1 }, vals[] = { 1 };
	uint8_t seed[32] = { 9 };
	struct cf_ed25519 key;
	struct chain_signer s;
	struct chain_tx tx;
	struct scale_writer call, ext;
	int rc;

	cf_signer(seed, &key, &s);
	memset(&tx, 0, sizeof tx);
	tx.era_period = CHAIN_ERA_PERIOD_DEFAULT;
	scale_writer_init(&call, CHAIN_CALL_BYTES_MAX, e);
	scale_writer_init(&ext, CHAIN_EXTRINSIC_BYTES_MAX, e);
	rc = chain_call_set_weights(m, 1, uids, vals, 1, 0, &call, e);
	if (rc == 0)
		rc = chain_extrinsic_signed(m, &tx, call.buf, call.len, &s, &ext, e);
	scale_writer_free(&call);
	scale_writer_free(&ext);
	return rc;
}

static void unknown_extension_with_data_is_refused(void **state)
{
	struct meta *m = fresh();
	struct kerr e = { 0 };
	uint32_t i;

	assert_int_equal(sign_once(m, &e), 0);
	for (i = 0; i < m->nextensions; i++)
		if (!strcmp(m->extensions[i].identifier, "SubtensorTransactionExtension"))
			break;
	assert_true(i < m->nextensions);
	m->extensions[i].type = a_u32(m); /* now it would carry four bytes */
	assert_int_equal(sign_once(m, &e), -1);
	assert_string_equal(e.code, "chain.unknown_extension");
	m->extensions[i].type = m->extensions[0].type;
	m->extensions[i].additional = a_u32(m);
	assert_int_equal(sign_once(m, &e), -1);
	assert_string_equal(e.code, "chain.unknown_extension");
	/* a known one that gained data is refused the same way */
	m->extensions[i].additional = m->extensions[0].additional;
	assert_int_equal(sign_once(m, &e), 0);
	assert_string_equal(m->extensions[6].identifier, "CheckWeight");
	m->extensions[6].type = a_u32(m);
	assert_int_equal(sign_once(m, &e), -1);
	assert_string_equal(e.code, "chain.unknown_extension");
	meta_free(m);
}

static void changed_call_shape_is_refused(void **state)
{
	struct meta *m = fresh();
	struct meta_call c;
	struct kerr e = { 0 };
	struct meta_field *f;
	uint32_t saved;

	assert_int_equal(meta_find_call(m, CHAIN_PALLET, "set_weights", &c, &e), 0);
	f = (struct meta_field *)c.variant->fields;
	saved = f[3].type;
	f[3].type = a_u32(m); /* version_key: u32 instead of u64 */
	assert_int_equal(sign_once(m, &e), -1);
	assert_string_equal(e.code, "chain.call_shape");
	f[3].type = saved;
	f[1].name = "uids"; /* renamed argument */
	assert_int_equal(sign_once(m, &e), -1);
	assert_string_equal(e.code, "chain.call_shape");
	f[1].name = "dests";
	((struct meta_variant *)c.variant)->nfields = 3;
	assert_int_equal(sign_once(m, &e), -1);
	assert_string_equal(e.code, "chain.call_shape");
	((struct meta_variant *)c.variant)->nfields = 4;
	assert_int_equal(sign_once(m, &e), 0);
	/* a node's metadata that names one argument twice (and leaves one
	 * out), or lists them in another order with each of its right type:
	 * either would have the validator sign bytes another call reads */
	f[2].name = "dests";
	assert_int_equal(sign_once(m, &e), -1);
	assert_string_equal(e.code, "chain.call_shape");
	assert_non_null(strstr(e.msg, "argument 2 is dests"));
	f[2].name = "weights";
	{
		struct meta_field t = f[1];

		f[1] = f[2];
		f[2] = t;
		assert_int_equal(sign_once(m, &e), -1);
		assert_string_equal(e.code, "chain.call_shape");
		f[2] = f[1];
		f[1] = t;
	}
	assert_int_equal(sign_once(m, &e), 0);

	{
		static uint16_t big[CHAIN_VEC_MAX + 1];
		struct scale_writer w;

		scale_writer_init(&w, CHAIN_CALL_BYTES_MAX, &e);
		assert_int_equal(chain_call_set_weights(m, 1, big, big, CHAIN_VEC_MAX + 1, 0, &w, &e), -1);
		assert_string_equal(e.code, "chain.weights_length");
		scale_writer_free(&w);
	}
	meta_free(m);
}

static void foreign_address_and_signature_types_are_refused(void **state)
{
	struct meta *m = fresh();
	struct kerr e = { 0 };
	uint32_t addr = m->address_type, sig = m->signature_type;

	m->address_type = a_u32(m);
	assert_int_equal(sign_once(m, &e), -1);
	assert_string_equal(e.code, "chain.unsupported_address");
	m->address_type = addr;
	m->signature_type = a_u32(m);
	assert_int_equal(sign_once(m, &e), -1);
	assert_string_equal(e.code, "chain.unsupported_signature");
	m->signature_type = sig;
	assert_int_equal(sign_once(m, &e), 0);
	meta_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(readme_set_weights_encoding),
		cmocka_unit_test(a_moved_call_is_encoded_where_the_metadata_says),
		cmocka_unit_test(era_matches_substrate),
		cmocka_unit_test(polkadot_js_builds_the_same_bytes),
		cmocka_unit_test(unknown_extension_with_data_is_refused),
		cmocka_unit_test(changed_call_shape_is_refused),
		cmocka_unit_test(foreign_address_and_signature_types_are_refused),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
