/* extrinsic.c: calls, commit hash, era, signing payload and the signed v4
 * extrinsic (see extrinsic.h). The layout is Substrate's
 * UncheckedExtrinsic v4: compact length, 0x84, address, signature, the
 * extensions' explicit data, the call; the signature covers the call, the
 * explicit data and the extensions' additional (implicit) data, hashed
 * with blake2b-256 first when longer than 256 bytes. */
#include "chain/extrinsic.h"

#include <sodium.h>
#include <string.h>

/* ---- calls ------------------------------------------------------------ */

enum arg_kind { ARG_U16, ARG_U64, ARG_VEC_U16, ARG_H256 };

struct arg {
	const char *name;
	enum arg_kind kind;
	uint64_t u;
	const uint16_t *v;
	size_t n;
	const uint8_t *h;
};

static const char *const kind_names[] = { "u16", "u64", "Vec<u16>", "[u8; 32]" };

static int is_prim(const struct meta *m, uint32_t id, enum meta_prim want)
{
	struct kerr ignored;
	const struct meta_type *t;

	if (meta_unwrap(m, id, &id, &ignored) < 0)
		return 0;
	t = meta_type(m, id);
	return t->def == META_PRIMITIVE && t->prim == want;
}

/* Whether type id encodes the way kind is written here. */
static int shape_ok(const struct meta *m, uint32_t id, enum arg_kind kind)
{
	struct kerr ignored;
	const struct meta_type *t;

	if (meta_unwrap(m, id, &id, &ignored) < 0)
		return 0;
	t = meta_type(m, id);
	switch (kind) {
	case ARG_U16:
		return is_prim(m, id, META_U16);
	case ARG_U64:
		return is_prim(m, id, META_U64);
	case ARG_VEC_U16:
		return t->def == META_SEQUENCE && is_prim(m, t->elem, META_U16);
	default:
		return t->def == META_ARRAY && t->n == CHAIN_HASH_BYTES && is_prim(m, t->elem, META_U8);
	}
}

static int put_arg(struct scale_writer *w, const struct arg *a)
{
	switch (a->kind) {
	case ARG_U16:
		return scale_put_u16(w, (uint16_t)a->u);
	case ARG_U64:
		return scale_put_u64(w, a->u);
	case ARG_VEC_U16:
		return scale_put_vec_u16(w, a->v, a->n);
	default:
		return scale_put_bytes(w, a->h, CHAIN_HASH_BYTES);
	}
}

/* The call's two index bytes and its arguments: the metadata must list
 * exactly these arguments, by name, in this order, each of its encoding.
 * The metadata is the node's word, and the signature does not cover it
 * (CheckMetadataHash is sent disabled): matched loosely (each field named
 * like some argument), a node could reorder the fields or name one
 * argument twice and have the validator sign bytes that another call of
 * the same runtime reads as its own arguments. */
static int encode_call(const struct meta *m, const char *name, const struct arg *args, size_t nargs,
		       struct scale_writer *w, struct kerr *e)
{
	struct meta_call c;
	size_t start = w->len;

	if (meta_find_call(m, CHAIN_PALLET, name, &c, e) < 0)
		return -1;
	if (c.variant->nfields != nargs)
		return kerr_set(e, "chain.call_shape", "%s takes %u arguments in this runtime (expected %zu)", name,
				c.variant->nfields, nargs);
	for (size_t i = 0; i < nargs; i++)
		if (args[i].kind == ARG_VEC_U16 && args[i].n > CHAIN_VEC_MAX)
			return kerr_set(e, "chain.weights_length", "%s: %s has %zu items (at most %u)", name,
					args[i].name, args[i].n, CHAIN_VEC_MAX);
	scale_put_u8(w, c.pallet_index);
	scale_put_u8(w, c.call_index);
	for (uint32_t f = 0; f < c.variant->nfields; f++) {
		const struct meta_field *fd = &c.variant->fields[f];
		const struct arg *a = &args[f];

		if (!fd->name || strcmp(fd->name, a->name) || !shape_ok(m, fd->type, a->kind)) {
			w->len = start;
			return kerr_set(e, "chain.call_shape",
					"%s: argument %u is %s in this runtime's metadata, where this adapter encodes %s as"
					" %s",
					name, f, fd->name ? fd->name : "unnamed", a->name, kind_names[a->kind]);
		}
		put_arg(w, a);
	}
	if (w->failed) {
		w->len = start;
		return -1;
	}
	return 0;
}

int chain_call_set_weights(const struct meta *m, uint16_t netuid, const uint16_t *uids, const uint16_t *vals,
			   size_t n, uint64_t version_key, struct scale_writer *call, struct kerr *e)
{
	const struct arg args[] = {
		{ .name = "netuid", .kind = ARG_U16, .u = netuid },
		{ .name = "dests", .kind = ARG_VEC_U16, .v = uids, .n = n },
		{ .name = "weights", .kind = ARG_VEC_U16, .v = vals, .n = n },
		{ .name = "version_key", .kind = ARG_U64, .u = version_key },
	};

	return encode_call(m, "set_weights", args, sizeof args / sizeof args[0], call, e);
}

int chain_call_commit_weights(const struct meta *m, uint16_t netuid, const uint8_t hash[CHAIN_HASH_BYTES],
			      struct scale_writer *call, struct kerr *e)
{
	const struct arg args[] = {
		{ .name = "netuid", .kind = ARG_U16, .u = netuid },
		{ .name = "commit_hash", .kind = ARG_H256, .h = hash },
	};

	return encode_call(m, "commit_weights", args, sizeof args / sizeof args[0], call, e);
}

int chain_call_reveal_weights(const struct meta *m, uint16_t netuid, const uint16_t *uids, const uint16_t *vals,
			      size_t n, const uint16_t *salt, size_t n_salt, uint64_t version_key,
			      struct scale_writer *call, struct kerr *e)
{
	const struct arg args[] = {
		{ .name = "netuid", .kind = ARG_U16, .u = netuid },
		{ .name = "uids", .kind = ARG_VEC_U16, .v = uids, .n = n },
		{ .name = "values", .kind = ARG_VEC_U16, .v = vals, .n = n },
		{ .name = "salt", .kind = ARG_VEC_U16, .v = salt, .n = n_salt },
		{ .name = "version_key", .kind = ARG_U64, .u = version_key },
	};

	return encode_call(m, "reveal_weights", args, sizeof args / sizeof args[0], call, e);
}

int chain_commit_hash(const uint8_t account[32], uint16_t netuid, const uint16_t *uids, const uint16_t *vals,
		      size_t n, const uint16_t *salt, size_t n_salt, uint64_t version_key,
		      uint8_t out[CHAIN_HASH_BYTES], struct kerr *e)
{
	struct scale_writer w;
	int rc = -1;

	memset(out, 0, CHAIN_HASH_BYTES);
	if (n > CHAIN_VEC_MAX || n_salt > CHAIN_VEC_MAX)
		return kerr_set(e, "chain.weights_length", "commit of %zu weights and %zu salt items (at most %u)", n,
				n_salt, CHAIN_VEC_MAX);
	scale_writer_init(&w, CHAIN_CALL_BYTES_MAX, e);
	scale_put_bytes(&w, account, 32);
	scale_put_u16(&w, netuid);
	scale_put_vec_u16(&w, uids, n);
	scale_put_vec_u16(&w, vals, n);
	scale_put_vec_u16(&w, salt, n_salt);
	if (scale_put_u64(&w, version_key) < 0)
		goto out;
	crypto_generichash(out, CHAIN_HASH_BYTES, w.buf, w.len, NULL, 0);
	rc = 0;
out:
	scale_writer_free(&w);
	return rc;
}

/* ---- era -------------------------------------------------------------- */

/* Substrate's Era::mortal: the period as a power of two in [4, 2^16],
 * and the phase quantised so that it fits the 12 bits it is given. */
static void era_mortal(uint32_t period, uint64_t block_number, uint64_t *p_out, uint64_t *phase_out,
		       uint64_t *quantum_out)
{
	uint64_t p = 4, quantum;

	while (p < period && p < CHAIN_ERA_PERIOD_MAX)
		p <<= 1;
	quantum = p >> 12 ? p >> 12 : 1;
	*p_out = p;
	*quantum_out = quantum;
	*phase_out = block_number % p / quantum * quantum;
}

size_t chain_era_encode(uint32_t period, uint64_t block_number, uint8_t out[2])
{
	uint64_t p, phase, quantum, code;
	unsigned tz = 0;

	if (period == 0) {
		out[0] = 0;
		return 1;
	}
	era_mortal(period, block_number, &p, &phase, &quantum);
	for (uint64_t x = p; !(x & 1); x >>= 1)
		tz++;
	code = (tz - 1 < 1 ? 1 : tz - 1 > 15 ? 15 : tz - 1) | (phase / quantum) << 4;
	out[0] = (uint8_t)code;
	out[1] = (uint8_t)(code >> 8);
	return 2;
}

uint64_t chain_era_birth(uint32_t period, uint64_t block_number)
{
	uint64_t p, phase, quantum, from;

	if (period == 0)
		return 0;
	era_mortal(period, block_number, &p, &phase, &quantum);
	from = block_number > phase ? block_number : phase;
	return (from - phase) / p * p + phase;
}

uint64_t chain_era_death(uint32_t period, uint64_t block_number)
{
	uint64_t p, phase, quantum;

	if (period == 0)
		return UINT64_MAX;
	era_mortal(period, block_number, &p, &phase, &quantum);
	return chain_era_birth(period, block_number) + p;
}

/* ---- signed extensions ------------------------------------------------ */

/* What this file writes for an extension: its explicit data (in the
 * extrinsic and the payload) and its additional data (payload only). */
enum part { NOTHING, ERA, NONCE, TIP, MODE_OFF, SPEC, TXV, GENESIS, BIRTH_HASH, NO_HASH };

struct known_ext {
	const char *identifier;
	enum part extra, additional;
};

static const struct known_ext known[] = {
	{ "CheckNonZeroSender", NOTHING, NOTHING },
	{ "CheckSpecVersion", NOTHING, SPEC },
	{ "CheckTxVersion", NOTHING, TXV },
	{ "CheckGenesis", NOTHING, GENESIS },
	{ "CheckMortality", ERA, BIRTH_HASH },
	{ "CheckEra", ERA, BIRTH_HASH },
	{ "CheckNonce", NONCE, NOTHING },
	{ "CheckWeight", NOTHING, NOTHING },
	{ "ChargeTransactionPayment", TIP, NOTHING },
	/* mode Disabled, and so no metadata hash in the payload */
	{ "CheckMetadataHash", MODE_OFF, NO_HASH },
};

static int put_part(struct scale_writer *w, enum part part, const struct chain_tx *tx)
{
	uint8_t era[2];

	switch (part) {
	case NOTHING:
		return 0;
	case ERA:
		return scale_put_bytes(w, era, chain_era_encode(tx->era_period, tx->block_number, era));
	case NONCE:
		return scale_put_compact(w, tx->nonce);
	case TIP:
		return scale_put_compact(w, tx->tip);
	case MODE_OFF:
		return scale_put_u8(w, 0);
	case SPEC:
		return scale_put_u32(w, tx->spec_version);
	case TXV:
		return scale_put_u32(w, tx->tx_version);
	case GENESIS:
		return scale_put_bytes(w, tx->genesis_hash, CHAIN_HASH_BYTES);
	case BIRTH_HASH:
		return scale_put_bytes(w, tx->era_period ? tx->block_hash : tx->genesis_hash, CHAIN_HASH_BYTES);
	default:
		return scale_put_option_none(w);
	}
}

/* The parts of extension x; an unknown one passes only when the metadata
 * shows it carries nothing either way (subtensor's own extensions). A
 * known one that should carry nothing is checked the same way: a runtime
 * that gave it data would be signed wrongly otherwise. */
static int ext_parts(const struct meta *m, const struct meta_extension *x, enum part *extra, enum part *additional,
		     struct kerr *e)
{
	bool z1 = true, z2 = true;

	*extra = *additional = NOTHING;
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (!strcmp(known[i].identifier, x->identifier)) {
			*extra = known[i].extra;
			*additional = known[i].additional;
		}
	if ((*extra == NOTHING && meta_zero_sized(m, x->type, &z1, e) < 0) ||
	    (*additional == NOTHING && meta_zero_sized(m, x->additional, &z2, e) < 0))
		return -1;
	if (!z1 || !z2)
		return kerr_set(e, "chain.unknown_extension",
				"signed extension %s carries data this adapter cannot encode", x->identifier);
	return 0;
}

static int put_extensions(const struct meta *m, const struct chain_tx *tx, int additional, struct scale_writer *w,
			  struct kerr *e)
{
	for (uint32_t i = 0; i < m->nextensions; i++) {
		enum part ex, add;

		if (ext_parts(m, &m->extensions[i], &ex, &add, e) < 0)
			return -1;
		put_part(w, additional ? add : ex, tx);
	}
	return w->failed ? -1 : 0;
}

int chain_signing_payload(const struct meta *m, const struct chain_tx *tx, const uint8_t *call, size_t call_len,
			  struct scale_writer *payload, struct kerr *e)
{
	scale_put_bytes(payload, call, call_len);
	if (put_extensions(m, tx, 0, payload, e) < 0 || put_extensions(m, tx, 1, payload, e) < 0)
		return -1;
	return 0;
}

/* ---- the extrinsic ---------------------------------------------------- */

/* MultiAddress::Id(AccountId32): the variant's index from the metadata. */
static int put_address(const struct meta *m, const uint8_t pub[32], struct scale_writer *w, struct kerr *e)
{
	const struct meta_variant *v = meta_variant_by_name(meta_type(m, m->address_type), "Id");

	if (!v || v->nfields != 1 || !shape_ok(m, v->fields[0].type, ARG_H256))
		return kerr_set(e, "chain.unsupported_address", "the runtime's address type has no Id(AccountId32)");
	scale_put_enum(w, v->index);
	return scale_put_bytes(w, pub, 32);
}

static int signature_variant(const struct meta *m, enum chain_scheme scheme, uint8_t *index, struct kerr *e)
{
	const char *name = scheme == CHAIN_SCHEME_ED25519 ? "Ed25519" : "Sr25519";
	const struct meta_variant *v = meta_variant_by_name(meta_type(m, m->signature_type), name);

	if (!v)
		return kerr_set(e, "chain.unsupported_signature", "the runtime's signature type has no %s", name);
	*index = v->index;
	return 0;
}

static int sign_payload(const struct scale_writer *payload, const struct chain_signer *s, uint8_t sig[64],
			struct kerr *e)
{
	uint8_t digest[CHAIN_HASH_BYTES];

	if (payload->len > CHAIN_PAYLOAD_HASHED_OVER) {
		crypto_generichash(digest, sizeof digest, payload->buf, payload->len, NULL, 0);
		return s->sign(s->ctx, digest, sizeof digest, sig, e);
	}
	return s->sign(s->ctx, payload->buf, payload->len, sig, e);
}

int chain_extrinsic_signed(const struct meta *m, const struct chain_tx *tx, const uint8_t *call, size_t call_len,
			   const struct chain_signer *signer, struct scale_writer *out, struct kerr *e)
{
	struct scale_writer payload, body;
	uint8_t sig[64], sig_index = 0;
	int rc = -1;

	scale_writer_init(&payload, CHAIN_EXTRINSIC_BYTES_MAX, e);
	scale_writer_init(&body, CHAIN_EXTRINSIC_BYTES_MAX, e);
	if (signature_variant(m, signer->scheme, &sig_index, e) < 0 ||
	    chain_signing_payload(m, tx, call, call_len, &payload, e) < 0 || sign_payload(&payload, signer, sig, e) < 0)
		goto out;
	scale_put_u8(&body, CHAIN_EXTRINSIC_V4_SIGNED);
	if (put_address(m, signer->pub, &body, e) < 0)
		goto out;
	scale_put_enum(&body, sig_index);
	scale_put_bytes(&body, sig, sizeof sig);
	if (put_extensions(m, tx, 0, &body, e) < 0 || scale_put_bytes(&body, call, call_len) < 0)
		goto out;
	scale_put_compact(out, body.len);
	if (scale_put_bytes(out, body.buf, body.len) < 0)
		goto out;
	rc = 0;
out:
	sodium_memzero(sig, sizeof sig);
	scale_writer_free(&payload);
	scale_writer_free(&body);
	return rc;
}
