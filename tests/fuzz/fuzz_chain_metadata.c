/* fuzz_chain_metadata.c: runtime metadata as an endpoint serves it
 * (src/chain/metadata.c), then the extrinsic builder on whatever parsed.
 * Seeds: small V14, V15 and V16 blobs written by test_chain_metadata.c
 * (KARPA_CHAIN_SEED_DIR) with the subtensor calls, errors and extensions.
 *
 * Checks: a refusal carries a meta.* or scale.* code; metadata that parses
 * has every type reference inside the registry (lookups never return NULL
 * for a referenced id); every walk over types (unwrap, zero-size) ends;
 * error names resolve for every index; and when SubtensorModule's
 * set_weights is there, building and signing the call ends in an extrinsic
 * or a reason code, never a crash. */
#include "fuzz.h"
#include "chain/extrinsic.h"
#include "chain/metadata.h"

static int zero_sign(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[64], struct kerr *e)
{
	memset(sig, 0x5a, 64);
	return 0;
}

static void walk(const struct meta *m)
{
	struct kerr e;
	uint32_t id;
	bool z;

	for (uint32_t i = 0; i < m->ntypes; i++) {
		const struct meta_type *t = meta_type(m, i);

		FUZZ_ASSERT(t);
		if (meta_unwrap(m, i, &id, &e) == 0)
			FUZZ_ASSERT(meta_type(m, id));
		meta_zero_sized(m, i, &z, &e);
		if (t->def == META_SEQUENCE || t->def == META_ARRAY || t->def == META_COMPACT)
			FUZZ_ASSERT(meta_type(m, t->elem));
	}
	for (uint32_t i = 0; i < m->npallets; i++) {
		const struct meta_pallet *p = &m->pallets[i];

		FUZZ_ASSERT(p->name);
		if (p->has_calls)
			FUZZ_ASSERT(meta_type(m, p->calls_type));
		for (int k = 0; k < 256; k++)
			meta_error_name(m, p->index, (uint8_t)k);
	}
	for (uint32_t i = 0; i < m->nextensions; i++)
		FUZZ_ASSERT(m->extensions[i].identifier && meta_type(m, m->extensions[i].type) &&
			    meta_type(m, m->extensions[i].additional));
}

static void build(const struct meta *m)
{
	const uint16_t uids[] = { 0, 1, 5 }, vals[] = { 65535, 32768, 1 };
	struct chain_signer s = { .scheme = CHAIN_SCHEME_ED25519, .sign = zero_sign };
	struct chain_tx tx;
	struct scale_writer call, ext;
	struct kerr e;

	memset(&tx, 0, sizeof tx);
	memset(&e, 0, sizeof e);
	tx.era_period = CHAIN_ERA_PERIOD_DEFAULT;
	tx.block_number = 1000;
	scale_writer_init(&call, CHAIN_CALL_BYTES_MAX, &e);
	scale_writer_init(&ext, CHAIN_EXTRINSIC_BYTES_MAX, &e);
	if (chain_call_set_weights(m, 16, uids, vals, 3, 1234, &call, &e) == 0) {
		FUZZ_ASSERT(call.len >= 2);
		if (chain_extrinsic_signed(m, &tx, call.buf, call.len, &s, &ext, &e) == 0)
			FUZZ_ASSERT(ext.len > call.len + 64);
		else
			FUZZ_ASSERT(e.code[0]);
	} else {
		FUZZ_ASSERT(e.code[0]);
	}
	fuzz_note("extrinsic", &e);
	scale_writer_free(&call);
	scale_writer_free(&ext);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct meta *m = NULL;
	struct kerr e;

	memset(&e, 0, sizeof e);
	if (meta_parse(data, size, &m, &e) < 0) {
		FUZZ_ASSERT(!m);
		FUZZ_ASSERT(!strncmp(e.code, "meta.", 5) || !strncmp(e.code, "scale.", 6));
		fuzz_note("meta_parse", &e);
		return 0;
	}
	FUZZ_ASSERT(m->version >= 14 && m->version <= 16);
	walk(m);
	build(m);
	meta_free(m);
	return 0;
}
