/* test_chain_metadata.c: runtime metadata (src/chain/metadata.c). The
 * subtensor fixture (V16) read to its last byte: SubtensorModule at 7, its
 * weight calls and their arguments by name, its error names, the signed
 * extensions in the order polkadot-js lists them. Small V14, V15 and V16
 * blobs written here give the same answers. Hand-edited copies: a call
 * moved (the lookup follows), the pallet renamed (meta.no_pallet).
 * Hostile blobs (truncated anywhere, lengths past the end, dangling and
 * cyclic type references, trailing bytes) get a reason code. */
#include "chain_tx_fixture.h"

#include "chain/metadata.h"
#include "chain/scale.h"

/* The fixture's extensions, as @polkadot/types 16.5.6 lists them
 * (registry.signedExtensions). */
static const char *const fixture_extensions[] = {
	"CheckNonZeroSender", "CheckSpecVersion", "CheckTxVersion", "CheckGenesis",
	"CheckMortality", "CheckNonce", "CheckWeight", "ChargeTransactionPayment",
	"SubtensorTransactionExtension", "DrandPriority", "CheckMetadataHash",
};

static struct meta *load_fixture(void)
{
	struct meta *m = NULL;
	struct kerr e = { 0 };

	if (meta_load(cf_metadata_path(), &m, &e) < 0)
		fail_msg("%s: %s", e.code, e.msg);
	return m;
}

static void fixture_names_the_weight_calls(void **state)
{
	struct meta *m = load_fixture();
	struct meta_call c;
	struct kerr e = { 0 };
	const char *set_args[] = { "netuid", "dests", "weights", "version_key" };
	const char *reveal_args[] = { "netuid", "uids", "values", "salt", "version_key" };

	assert_int_equal(m->version, 16);
	assert_non_null(meta_pallet_by_name(m, "SubtensorModule"));
	assert_int_equal(meta_pallet_by_name(m, "SubtensorModule")->index, 7);

	assert_int_equal(meta_find_call(m, "SubtensorModule", "set_weights", &c, &e), 0);
	assert_int_equal(c.pallet_index, 7);
	assert_int_equal(c.call_index, 0);
	assert_int_equal(c.variant->nfields, 4);
	for (int i = 0; i < 4; i++)
		assert_string_equal(c.variant->fields[i].name, set_args[i]);

	assert_int_equal(meta_find_call(m, "SubtensorModule", "commit_weights", &c, &e), 0);
	assert_int_equal(c.call_index, 96);
	assert_string_equal(c.variant->fields[1].name, "commit_hash");

	assert_int_equal(meta_find_call(m, "SubtensorModule", "reveal_weights", &c, &e), 0);
	assert_int_equal(c.call_index, 97);
	assert_int_equal(c.variant->nfields, 5);
	for (int i = 0; i < 5; i++)
		assert_string_equal(c.variant->fields[i].name, reveal_args[i]);

	assert_int_equal(meta_find_call(m, "SubtensorModule", "no_such_call", &c, &e), -1);
	assert_string_equal(e.code, "meta.no_call");
	assert_int_equal(meta_find_call(m, "Nope", "set_weights", &c, &e), -1);
	assert_string_equal(e.code, "meta.no_pallet");
	((struct meta_pallet *)meta_pallet_by_name(m, "SubtensorModule"))->has_calls = false;
	assert_int_equal(meta_find_call(m, "SubtensorModule", "set_weights", &c, &e), -1);
	assert_string_equal(e.code, "meta.no_calls");
	meta_free(m);
}

static void fixture_lists_extensions_and_errors(void **state)
{
	struct meta *m = load_fixture();
	const size_t n = sizeof fixture_extensions / sizeof fixture_extensions[0];
	const struct meta_type *addr, *sig;
	const char *name;

	assert_int_equal(m->nextensions, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(m->extensions[i].identifier, fixture_extensions[i]);

	assert_string_equal(meta_error_name(m, 7, 0), "RootNetworkDoesNotExist");
	name = meta_error_name(m, 7, 1);
	assert_non_null(name);
	assert_null(meta_error_name(m, 7, 255));
	assert_null(meta_error_name(m, 250, 0));
	/* SettingWeightsTooFast is one of SubtensorModule's errors, by some index */
	{
		int found = 0;
		for (int i = 0; i < 256; i++) {
			const char *s = meta_error_name(m, 7, (uint8_t)i);
			found |= s && !strcmp(s, "SettingWeightsTooFast");
		}
		assert_true(found);
	}

	addr = meta_type(m, m->address_type);
	sig = meta_type(m, m->signature_type);
	assert_string_equal(addr->path, "sp_runtime::multiaddress::MultiAddress");
	assert_int_equal(meta_variant_by_name(addr, "Id")->index, 0);
	assert_string_equal(sig->path, "sp_runtime::MultiSignature");
	assert_int_equal(meta_variant_by_name(sig, "Ed25519")->index, 0);
	assert_int_equal(meta_variant_by_name(sig, "Sr25519")->index, 1);
	meta_free(m);
}

/* ---- hand-edited copies of the fixture -------------------------------- */

static void a_moved_call_is_followed(void **state)
{
	size_t n;
	uint8_t *b = cf_metadata_bytes(&n);
	size_t at = cf_set_weights_index_offset(b, n);
	struct meta *m = NULL;
	struct meta_call c;
	struct kerr e = { 0 };

	assert_int_equal(b[at], 0);
	b[at] = 0xc8; /* 200: no call of the pallet uses it */
	if (meta_parse(b, n, &m, &e) < 0)
		fail_msg("%s: %s", e.code, e.msg);
	assert_int_equal(meta_find_call(m, "SubtensorModule", "set_weights", &c, &e), 0);
	assert_int_equal(c.pallet_index, 7);
	assert_int_equal(c.call_index, 0xc8);
	meta_free(m);
	free(b);
}

static void a_renamed_pallet_is_refused(void **state)
{
	size_t n, hits = 0;
	uint8_t *b = cf_metadata_bytes(&n);
	struct meta *m = NULL;
	struct meta_call c;
	struct kerr e = { 0 };

	for (size_t i = 0; i + 15 <= n; i++)
		if (!memcmp(b + i, "SubtensorModule", 15)) {
			memcpy(b + i, "SubtensorMadule", 15);
			hits++;
		}
	assert_true(hits >= 1);
	if (meta_parse(b, n, &m, &e) < 0)
		fail_msg("%s: %s", e.code, e.msg);
	assert_null(meta_pallet_by_name(m, "SubtensorModule"));
	assert_int_equal(meta_find_call(m, "SubtensorModule", "set_weights", &c, &e), -1);
	assert_string_equal(e.code, "meta.no_pallet");
	meta_free(m);
	free(b);
}

static void expect_refused(const uint8_t *b, size_t n, const char *code)
{
	struct meta *m = NULL;
	struct kerr e = { 0 };

	if (meta_parse(b, n, &m, &e) == 0) {
		meta_free(m);
		fail_msg("metadata of %zu bytes parsed; want %s", n, code);
	}
	assert_null(m);
	if (code)
		assert_string_equal(e.code, code);
	else
		assert_true(e.code[0]);
}

static void truncated_fixture_is_refused_everywhere(void **state)
{
	size_t n;
	uint8_t *b = cf_metadata_bytes(&n);

	/* 0..64 byte by byte (the header and the first types), then cuts
	 * spread over the whole blob, then the last bytes */
	for (size_t cut = 0; cut < 64; cut++)
		expect_refused(b, cut, cut < 5 ? "meta.truncated" : NULL);
	for (size_t cut = 64; cut < n; cut += n / 97)
		expect_refused(b, cut, "meta.truncated");
	for (size_t cut = n - 16; cut < n; cut++)
		expect_refused(b, cut, "meta.truncated");
	free(b);
}

static void hostile_headers_and_tails_are_refused(void **state)
{
	size_t n;
	uint8_t *b = cf_metadata_bytes(&n);
	uint8_t *longer = malloc(n + 1);
	const uint8_t v13[] = { 'm', 'e', 't', 'a', 13, 0 };
	const uint8_t v17[] = { 'm', 'e', 't', 'a', 17, 0 };
	const uint8_t bad[] = { 'a', 't', 'e', 'm', 16, 0 };
	/* a registry of 2^30 types announced in a 9-byte blob */
	const uint8_t huge[] = { 'm', 'e', 't', 'a', 16, 0x02, 0x00, 0x00, 0x01 };

	expect_refused(v13, sizeof v13, "meta.unsupported_version");
	expect_refused(v17, sizeof v17, "meta.unsupported_version");
	expect_refused(bad, sizeof bad, "meta.bad_magic");
	expect_refused(huge, sizeof huge, "meta.truncated");
	memcpy(longer, b, n);
	longer[n] = 0;
	expect_refused(longer, n + 1, "meta.trailing");
	free(longer);
	free(b);
}

/* ---- small metadata written here -------------------------------------- */

enum {
	T_U8, T_U16, T_U64, T_VEC_U16, T_H256, T_ACCOUNT, T_CALL, T_ADDRESS, T_SIG64, T_SIGNATURE,
	T_UNIT, T_ERROR, T_EXTRINSIC, T_COMPACT, T_COUNT
};

struct mini {
	int version;
	uint32_t dangling;   /* when set: the call's netuid refers to this type id */
	int self_newtype;    /* when set: type T_UNIT is a newtype of itself */
	int skip_id;         /* when set: the type ids jump */
	int bad_prim;        /* when set: a primitive kind past i256 */
	int no_v4;           /* V16: the extrinsic versions lack 4 */
	int no_ext_v0;       /* V16: no extension list for version 0 */
};

static void w_str(struct scale_writer *w, const char *s)
{
	scale_put_str(w, s, strlen(s));
}

static void w_type_head(struct scale_writer *w, uint32_t id, const char *path)
{
	scale_put_compact(w, id);
	if (path) {
		scale_put_compact(w, 1);
		w_str(w, path);
	} else {
		scale_put_compact(w, 0);
	}
}

static void w_field(struct scale_writer *w, const char *name, uint32_t ty)
{
	if (name) {
		scale_put_option_some(w);
		w_str(w, name);
	} else {
		scale_put_option_none(w);
	}
	scale_put_compact(w, ty);
	scale_put_option_none(w); /* type name */
	scale_put_compact(w, 0);  /* docs */
}

static void w_prim(struct scale_writer *w, uint32_t id, enum meta_prim p)
{
	w_type_head(w, id, NULL);
	scale_put_compact(w, 0);
	scale_put_u8(w, META_PRIMITIVE);
	scale_put_u8(w, p);
	scale_put_compact(w, 0);
}

static void w_array(struct scale_writer *w, uint32_t id, uint32_t len, uint32_t elem)
{
	w_type_head(w, id, NULL);
	scale_put_compact(w, 0);
	scale_put_u8(w, META_ARRAY);
	scale_put_u32(w, len);
	scale_put_compact(w, elem);
	scale_put_compact(w, 0);
}

static void w_variant_head(struct scale_writer *w, uint32_t id, const char *path, uint32_t nvariants)
{
	w_type_head(w, id, path);
	scale_put_compact(w, 0);
	scale_put_u8(w, META_VARIANT);
	scale_put_compact(w, nvariants);
}

static void w_variant_end(struct scale_writer *w, uint8_t index)
{
	scale_put_u8(w, index);
	scale_put_compact(w, 1);
	w_str(w, "docs are skipped");
}

static void w_types(struct scale_writer *w, const struct mini *o)
{
	scale_put_compact(w, T_COUNT);
	w_prim(w, T_U8, o->bad_prim ? META_I256 + 1 : META_U8);
	w_prim(w, o->skip_id ? T_U16 + 5 : T_U16, META_U16);
	w_prim(w, T_U64, META_U64);
	w_type_head(w, T_VEC_U16, NULL);
	scale_put_compact(w, 0);
	scale_put_u8(w, META_SEQUENCE);
	scale_put_compact(w, T_U16);
	scale_put_compact(w, 0);
	w_array(w, T_H256, 32, T_U8);
	w_type_head(w, T_ACCOUNT, "sp_core::crypto::AccountId32");
	scale_put_compact(w, 0);
	scale_put_u8(w, META_COMPOSITE);
	scale_put_compact(w, 1);
	w_field(w, NULL, T_H256);
	scale_put_compact(w, 0);

	w_variant_head(w, T_CALL, "pallet_subtensor::pallet::Call", 3);
	w_str(w, "set_weights");
	scale_put_compact(w, 4);
	w_field(w, "netuid", o->dangling ? o->dangling : T_U16);
	w_field(w, "dests", T_VEC_U16);
	w_field(w, "weights", T_VEC_U16);
	w_field(w, "version_key", T_U64);
	w_variant_end(w, 0);
	w_str(w, "commit_weights");
	scale_put_compact(w, 2);
	w_field(w, "netuid", T_U16);
	w_field(w, "commit_hash", T_H256);
	w_variant_end(w, 96);
	w_str(w, "reveal_weights");
	scale_put_compact(w, 5);
	w_field(w, "netuid", T_U16);
	w_field(w, "uids", T_VEC_U16);
	w_field(w, "values", T_VEC_U16);
	w_field(w, "salt", T_VEC_U16);
	w_field(w, "version_key", T_U64);
	w_variant_end(w, 97);
	scale_put_compact(w, 0);

	w_variant_head(w, T_ADDRESS, "sp_runtime::multiaddress::MultiAddress", 1);
	w_str(w, "Id");
	scale_put_compact(w, 1);
	w_field(w, NULL, T_ACCOUNT);
	w_variant_end(w, 0);
	scale_put_compact(w, 0);
	w_array(w, T_SIG64, 64, T_U8);
	w_variant_head(w, T_SIGNATURE, "sp_runtime::MultiSignature", 2);
	w_str(w, "Ed25519");
	scale_put_compact(w, 1);
	w_field(w, NULL, T_SIG64);
	w_variant_end(w, 0);
	w_str(w, "Sr25519");
	scale_put_compact(w, 1);
	w_field(w, NULL, T_SIG64);
	w_variant_end(w, 1);
	scale_put_compact(w, 0);

	w_type_head(w, T_UNIT, NULL);
	scale_put_compact(w, 0);
	if (o->self_newtype) {
		scale_put_u8(w, META_COMPOSITE);
		scale_put_compact(w, 1);
		w_field(w, NULL, T_UNIT);
	} else {
		scale_put_u8(w, META_TUPLE);
		scale_put_compact(w, 0);
	}
	scale_put_compact(w, 0);

	w_variant_head(w, T_ERROR, "pallet_subtensor::pallet::Error", 2);
	w_str(w, "RootNetworkDoesNotExist");
	scale_put_compact(w, 0);
	w_variant_end(w, 0);
	w_str(w, "SettingWeightsTooFast");
	scale_put_compact(w, 0);
	w_variant_end(w, 1);
	scale_put_compact(w, 0);

	/* UncheckedExtrinsic<Address, Call, Signature, Extra>: V14 finds the
	 * address and signature types by these parameter names */
	w_type_head(w, T_EXTRINSIC, "sp_runtime::generic::UncheckedExtrinsic");
	scale_put_compact(w, 4);
	w_str(w, "Address");
	scale_put_option_some(w);
	scale_put_compact(w, T_ADDRESS);
	w_str(w, "Call");
	scale_put_option_some(w);
	scale_put_compact(w, T_CALL);
	w_str(w, "Signature");
	scale_put_option_some(w);
	scale_put_compact(w, T_SIGNATURE);
	w_str(w, "Extra");
	scale_put_option_none(w);
	scale_put_u8(w, META_COMPOSITE);
	scale_put_compact(w, 1);
	w_field(w, NULL, T_U8);
	scale_put_compact(w, 0);

	w_type_head(w, T_COMPACT, NULL);
	scale_put_compact(w, 0);
	scale_put_u8(w, META_COMPACT);
	scale_put_compact(w, T_U64);
	scale_put_compact(w, 0);
}

static void w_v16_enum_deprecation(struct scale_writer *w, int version)
{
	if (version >= 16)
		scale_put_compact(w, 0);
}

static void w_pallet(struct scale_writer *w, int version)
{
	w_str(w, "SubtensorModule");
	scale_put_option_some(w); /* storage: one plain entry */
	w_str(w, "SubtensorModule");
	scale_put_compact(w, 1);
	w_str(w, "CommitRevealWeightsEnabled");
	scale_put_u8(w, 1);       /* Default */
	scale_put_u8(w, 1);       /* Map */
	scale_put_compact(w, 1);
	scale_put_u8(w, 6);       /* Identity */
	scale_put_compact(w, T_U16);
	scale_put_compact(w, T_U8);
	scale_put_str(w, "\x01", 1);
	scale_put_compact(w, 0);
	if (version >= 16)
		scale_put_u8(w, 0); /* NotDeprecated */
	scale_put_option_some(w); /* calls */
	scale_put_compact(w, T_CALL);
	w_v16_enum_deprecation(w, version);
	scale_put_option_none(w); /* events */
	scale_put_compact(w, 1);  /* constants */
	w_str(w, "MaxWeights");
	scale_put_compact(w, T_U16);
	scale_put_str(w, "\xff\xff", 2);
	scale_put_compact(w, 0);
	if (version >= 16)
		scale_put_u8(w, 1); /* DeprecatedWithoutNote */
	scale_put_option_some(w); /* errors */
	scale_put_compact(w, T_ERROR);
	if (version >= 16) {
		scale_put_compact(w, 1); /* one deprecated variant, with a note */
		scale_put_u8(w, 0);
		scale_put_u8(w, 2);
		w_str(w, "old");
		scale_put_option_none(w);
		scale_put_compact(w, 0); /* associated types */
		scale_put_compact(w, 0); /* view functions */
	}
	scale_put_u8(w, 7);
	if (version >= 15)
		scale_put_compact(w, 0); /* docs */
	if (version >= 16)
		scale_put_u8(w, 0);
}

static void w_extension(struct scale_writer *w, const char *id, uint32_t ty, uint32_t add)
{
	w_str(w, id);
	scale_put_compact(w, ty);
	scale_put_compact(w, add);
}

static void w_extrinsic(struct scale_writer *w, const struct mini *o)
{
	int version = o->version;

	if (version == 14) {
		scale_put_compact(w, T_EXTRINSIC);
		scale_put_u8(w, 4);
	} else if (version == 15) {
		scale_put_u8(w, 4);
		scale_put_compact(w, T_ADDRESS);
		scale_put_compact(w, T_CALL);
		scale_put_compact(w, T_SIGNATURE);
		scale_put_compact(w, T_UNIT);
	} else {
		scale_put_str(w, o->no_v4 ? "\x05" : "\x04\x05", o->no_v4 ? 1 : 2);
		scale_put_compact(w, T_ADDRESS);
		scale_put_compact(w, T_CALL);
		scale_put_compact(w, T_SIGNATURE);
		scale_put_compact(w, 2); /* by version: 0 -> [1, 0]; 1 -> [0] */
		scale_put_u8(w, o->no_ext_v0 ? 2 : 0);
		scale_put_compact(w, 2);
		scale_put_compact(w, 1);
		scale_put_compact(w, 0);
		scale_put_u8(w, 1);
		scale_put_compact(w, 1);
		scale_put_compact(w, 0);
	}
	scale_put_compact(w, 2);
	if (version == 16) { /* listed in the other order: the map decides */
		w_extension(w, "CheckNonce", T_COMPACT, T_UNIT);
		w_extension(w, "CheckSpecVersion", T_UNIT, T_U8);
	} else {
		w_extension(w, "CheckSpecVersion", T_UNIT, T_U8);
		w_extension(w, "CheckNonce", T_COMPACT, T_UNIT);
	}
}

static void w_tail(struct scale_writer *w, int version)
{
	if (version <= 15)
		scale_put_compact(w, T_UNIT);
	if (version == 14)
		return;
	scale_put_compact(w, 1); /* one api, one method */
	w_str(w, "WeightsApi");
	scale_put_compact(w, 1);
	w_str(w, "get");
	scale_put_compact(w, 1);
	w_str(w, "netuid");
	scale_put_compact(w, T_U16);
	scale_put_compact(w, T_VEC_U16);
	scale_put_compact(w, 0);
	if (version >= 16)
		scale_put_u8(w, 0);
	scale_put_compact(w, 0);
	if (version >= 16) {
		scale_put_compact(w, 1);
		scale_put_u8(w, 0);
	}
	scale_put_compact(w, T_CALL); /* outer enums */
	scale_put_compact(w, T_UNIT);
	scale_put_compact(w, T_ERROR);
	scale_put_compact(w, 1); /* custom */
	w_str(w, "note");
	scale_put_compact(w, T_U8);
	scale_put_str(w, "\x07", 1);
}

static void mini_write(const struct mini *o, struct scale_writer *w)
{
	scale_writer_init(w, 1u << 20, NULL);
	scale_put_bytes(w, "meta", 4);
	scale_put_u8(w, (uint8_t)o->version);
	w_types(w, o);
	scale_put_compact(w, 1);
	w_pallet(w, o->version);
	w_extrinsic(w, o);
	w_tail(w, o->version);
	assert_false(w->failed);
}

/* With KARPA_CHAIN_SEED_DIR set, the blobs are also written there: how
 * tests/fuzz/corpus/chain_metadata/mini-v1{4,5,6}.scale were made. */
static void maybe_save_seed(const struct scale_writer *w, int version)
{
	const char *dir = getenv("KARPA_CHAIN_SEED_DIR");
	char path[FS_PATH_MAX];
	FILE *f;

	if (!dir || !*dir)
		return;
	snprintf(path, sizeof path, "%s/mini-v%d.scale", dir, version);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(w->buf, 1, w->len, f), w->len);
	assert_int_equal(fclose(f), 0);
}

static void v14_v15_v16_give_the_same_answers(void **state)
{
	for (int version = 14; version <= 16; version++) {
		struct mini o = { .version = version };
		struct scale_writer w;
		struct meta *m = NULL;
		struct meta_call c;
		struct kerr e = { 0 };

		mini_write(&o, &w);
		maybe_save_seed(&w, version);
		if (meta_parse(w.buf, w.len, &m, &e) < 0)
			fail_msg("V%d: %s: %s", version, e.code, e.msg);
		assert_int_equal(m->version, version);
		assert_int_equal(meta_find_call(m, "SubtensorModule", "set_weights", &c, &e), 0);
		assert_int_equal(c.pallet_index, 7);
		assert_int_equal(c.call_index, 0);
		assert_int_equal(meta_find_call(m, "SubtensorModule", "reveal_weights", &c, &e), 0);
		assert_int_equal(c.call_index, 97);
		assert_string_equal(c.variant->fields[3].name, "salt");
		assert_string_equal(meta_error_name(m, 7, 1), "SettingWeightsTooFast");
		assert_int_equal(m->address_type, T_ADDRESS);
		assert_int_equal(m->signature_type, T_SIGNATURE);
		assert_int_equal(m->nextensions, 2);
		assert_string_equal(m->extensions[0].identifier, "CheckSpecVersion");
		assert_string_equal(m->extensions[1].identifier, "CheckNonce");
		assert_int_equal(m->extensions[1].type, T_COMPACT);
		meta_free(m);

		/* and every truncation of it is refused */
		for (size_t cut = 0; cut < w.len; cut++)
			expect_refused(w.buf, cut, NULL);
		scale_writer_free(&w);
	}
}

static void dangling_and_cyclic_types_are_refused(void **state)
{
	struct mini dangling = { .version = 16, .dangling = 9999 };
	struct mini skip = { .version = 15, .skip_id = 1 };
	struct mini cyclic = { .version = 14, .self_newtype = 1 };
	struct scale_writer w;
	struct meta *m = NULL;
	struct kerr e = { 0 };
	uint32_t id;
	bool zero;

	mini_write(&dangling, &w);
	expect_refused(w.buf, w.len, "meta.bad_type_ref");
	scale_writer_free(&w);

	mini_write(&skip, &w);
	expect_refused(w.buf, w.len, "meta.bad_type_id");
	scale_writer_free(&w);

	{
		struct mini bad_prim = { .version = 14, .bad_prim = 1 };
		struct mini no_v4 = { .version = 16, .no_v4 = 1 };
		struct mini no_ext_v0 = { .version = 16, .no_ext_v0 = 1 };

		mini_write(&bad_prim, &w);
		expect_refused(w.buf, w.len, "meta.bad_typedef");
		scale_writer_free(&w);
		mini_write(&no_v4, &w);
		expect_refused(w.buf, w.len, "meta.unsupported_extrinsic");
		scale_writer_free(&w);
		mini_write(&no_ext_v0, &w);
		expect_refused(w.buf, w.len, "meta.bad_extensions");
		scale_writer_free(&w);
	}

	/* a type that wraps itself parses (the registry allows it) but no walk
	 * over it runs away */
	mini_write(&cyclic, &w);
	if (meta_parse(w.buf, w.len, &m, &e) < 0)
		fail_msg("%s: %s", e.code, e.msg);
	assert_int_equal(meta_unwrap(m, T_UNIT, &id, &e), -1);
	assert_string_equal(e.code, "meta.too_deep");
	assert_int_equal(meta_zero_sized(m, T_UNIT, &zero, &e), -1);
	assert_string_equal(e.code, "meta.too_deep");
	assert_int_equal(meta_zero_sized(m, T_ACCOUNT, &zero, &e), 0);
	assert_false(zero);
	meta_free(m);
	scale_writer_free(&w);
}

/* What a node sends is bounded twice: its bytes, and what its counts make
 * the parser allocate. The second is the attack a blob within the first
 * can mount: a registry of the smallest real types (u8 primitives, under
 * ten bytes each on the wire) whose parsed form is several times larger. */
static void oversized_metadata_is_refused(void **state)
{
	size_t n, nt = META_ARENA_BYTES_MAX / sizeof(struct meta_type) + 1;
	uint8_t *b = cf_metadata_bytes(&n), *big = calloc(1, (size_t)META_BYTES_MAX + 1);
	struct scale_writer w;

	assert_non_null(big);
	/* the fixture padded with zeros: at the bound the padding is what is
	 * refused, one byte past it the size */
	memcpy(big, b, n);
	expect_refused(big, META_BYTES_MAX, "meta.trailing");
	expect_refused(big, (size_t)META_BYTES_MAX + 1, "meta.too_large");

	scale_writer_init(&w, META_BYTES_MAX, NULL);
	scale_put_bytes(&w, "meta", 4);
	scale_put_u8(&w, 16);
	scale_put_compact(&w, nt);
	for (size_t i = 0; i < nt; i++)
		w_prim(&w, (uint32_t)i, META_U8);
	assert_false(w.failed);
	expect_refused(w.buf, w.len, "meta.too_large");
	scale_writer_free(&w);
	free(big);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fixture_names_the_weight_calls),
		cmocka_unit_test(fixture_lists_extensions_and_errors),
		cmocka_unit_test(a_moved_call_is_followed),
		cmocka_unit_test(a_renamed_pallet_is_refused),
		cmocka_unit_test(truncated_fixture_is_refused_everywhere),
		cmocka_unit_test(hostile_headers_and_tails_are_refused),
		cmocka_unit_test(v14_v15_v16_give_the_same_answers),
		cmocka_unit_test(dangling_and_cyclic_types_are_refused),
		cmocka_unit_test(oversized_metadata_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
