/* metadata.h: a runtime's metadata (RuntimeMetadataPrefixed, versions 14,
 * 15 and 16) read far enough for the adapter: the portable type registry,
 * each pallet's name, index, call and error enums, and the signed
 * (transaction) extensions of a v4 extrinsic in order. Everything the
 * extrinsic builder encodes by index comes from here, never from a
 * constant. Hostile metadata (lengths past the end, dangling or cyclic
 * type references, too much to hold) gives a reason code; the parse is
 * bounded in time, memory and depth. */
#ifndef KARPA_CHAIN_METADATA_H
#define KARPA_CHAIN_METADATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/kerr.h"

#define META_MAGIC 0x6174656du           /* "meta", little endian */
#define META_BYTES_MAX (32u << 20)       /* a runtime's metadata is ~0.3-2 MB */
#define META_ARENA_BYTES_MAX (96u << 20) /* what the parsed form may hold */
#define META_DEPTH_MAX 64                /* type nesting followed at most */
#define META_WALK_STEPS_MAX 4096         /* types visited by one walk at most */

enum meta_typedef {
	META_COMPOSITE = 0,
	META_VARIANT = 1,
	META_SEQUENCE = 2,
	META_ARRAY = 3,
	META_TUPLE = 4,
	META_PRIMITIVE = 5,
	META_COMPACT = 6,
	META_BITSEQ = 7,
};

/* scale-info's TypeDefPrimitive, in its encoding order. */
enum meta_prim {
	META_BOOL = 0, META_CHAR, META_STR, META_U8, META_U16, META_U32, META_U64, META_U128,
	META_U256, META_I8, META_I16, META_I32, META_I64, META_I128, META_I256,
};

struct meta_field {
	const char *name;      /* NULL for a tuple-struct field */
	const char *type_name; /* the Rust spelling, NULL when absent */
	uint32_t type;
};

struct meta_variant {
	const char *name;
	uint8_t index; /* the byte on the wire */
	uint32_t nfields;
	struct meta_field *fields;
};

struct meta_param {
	const char *name;
	bool has_type;
	uint32_t type;
};

struct meta_type {
	const char *path; /* "sp_runtime::multiaddress::MultiAddress"; "" when none */
	uint32_t nparams;
	struct meta_param *params;
	enum meta_typedef def;
	uint32_t n;                    /* fields, variants, tuple items, or array length */
	struct meta_field *fields;     /* META_COMPOSITE */
	struct meta_variant *variants; /* META_VARIANT */
	uint32_t *items;               /* META_TUPLE */
	uint32_t elem;                 /* sequence, array, compact; bit store */
	uint32_t order;                /* bit order */
	enum meta_prim prim;
};

struct meta_pallet {
	const char *name;
	uint8_t index;
	bool has_calls, has_errors;
	uint32_t calls_type, errors_type;
};

/* One signed extension: what goes in the extrinsic (type) and what only
 * the signing payload carries (additional; "implicit" in V16). */
struct meta_extension {
	const char *identifier;
	uint32_t type, additional;
};

struct meta_arena;

struct meta {
	uint8_t version; /* 14, 15 or 16 */
	uint32_t ntypes;
	struct meta_type *types; /* indexed by type id */
	uint32_t npallets;
	struct meta_pallet *pallets;
	uint32_t address_type, signature_type;
	uint32_t nextensions; /* those of a v4 extrinsic, in wire order */
	struct meta_extension *extensions;
	struct meta_arena *arena;
};

/* A call found by name: the two bytes that start its encoding and its
 * arguments in wire order. */
struct meta_call {
	uint8_t pallet_index, call_index;
	const struct meta_variant *variant;
};

/* Parses len bytes (copied where kept; buf may be freed after). Codes:
 * meta.bad_magic, meta.unsupported_version, meta.truncated (and the
 * scale.* codes of the reader), meta.bad_type_id, meta.bad_type_ref,
 * meta.bad_typedef, meta.bad_extensions, meta.trailing, meta.too_large. */
int meta_parse(const void *buf, size_t len, struct meta **out, struct kerr *e);
int meta_load(const char *path, struct meta **out, struct kerr *e);
void meta_free(struct meta *m);

const struct meta_type *meta_type(const struct meta *m, uint32_t id); /* NULL past the end */
const struct meta_pallet *meta_pallet_by_name(const struct meta *m, const char *name);
const struct meta_pallet *meta_pallet_by_index(const struct meta *m, uint8_t index);
const struct meta_variant *meta_variant_by_name(const struct meta_type *t, const char *name);
const struct meta_variant *meta_variant_by_index(const struct meta_type *t, uint8_t index);

/* meta.no_pallet, meta.no_calls (the pallet has none), meta.no_call. */
int meta_find_call(const struct meta *m, const char *pallet, const char *call, struct meta_call *out,
		   struct kerr *e);
/* The name of error variant error_index of pallet pallet_index, or NULL
 * when the metadata has none. A DispatchError::Module is { index: u8,
 * error: [u8; 4] }: pallet_index is its index, error_index the first of
 * its four error bytes. */
const char *meta_error_name(const struct meta *m, uint8_t pallet_index, uint8_t error_index);

/* Follows newtypes (one-field composites) and one-item tuples to the type
 * that decides the encoding; meta.too_deep on a cycle. */
int meta_unwrap(const struct meta *m, uint32_t id, uint32_t *out, struct kerr *e);
/* Whether a value of type id encodes as no bytes at all (unit, empty
 * composites and tuples, zero-length arrays, PhantomData); meta.too_deep
 * on a cycle. */
int meta_zero_sized(const struct meta *m, uint32_t id, bool *zero, struct kerr *e);

#endif
