/* metadata.c: reads RuntimeMetadataPrefixed V14..V16 (see metadata.h).
 * The layouts follow frame-metadata's v14.rs, v15.rs and v16.rs; the whole
 * blob is walked to its last byte (apis, outer enums, custom values) so
 * that a layout mistake or a truncated blob is caught here, not later as
 * a wrong call index. The parsed form lives in one arena with a cap;
 * nothing recurses while parsing, and the few walks over type references
 * afterwards carry a depth bound (references may form cycles). */
#include "chain/metadata.h"

#include <stdlib.h>
#include <string.h>

#include "chain/scale.h"
#include "util/fsutil.h"

#define ARENA_CHUNK_BYTES (256u << 10)

/* ---- arena ------------------------------------------------------------ */

struct chunk {
	struct chunk *next;
	size_t used, cap;
	max_align_t data[];
};

struct meta_arena {
	struct chunk *head;
	size_t total;
};

static void arena_free(struct meta_arena *a)
{
	if (!a)
		return;
	for (struct chunk *c = a->head, *n; c; c = n) {
		n = c->next;
		free(c);
	}
	free(a);
}

/* Zeroed memory, or NULL when the cap is reached or malloc fails. */
static void *arena_alloc(struct meta_arena *a, size_t n)
{
	struct chunk *c = a->head;

	n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
	if (n == 0)
		n = sizeof(max_align_t);
	if (!c || c->cap - c->used < n) {
		size_t cap = n > ARENA_CHUNK_BYTES ? n : ARENA_CHUNK_BYTES;

		if (cap > META_ARENA_BYTES_MAX - a->total)
			return NULL;
		c = calloc(1, sizeof *c + cap);
		if (!c)
			return NULL;
		c->cap = cap;
		c->next = a->head;
		a->head = c;
		a->total += cap;
	}
	c->used += n;
	return (char *)c->data + c->used - n;
}

/* ---- parser state ----------------------------------------------------- */

struct mp {
	struct scale_reader r;
	struct meta *m;
	uint8_t v; /* metadata version */
};

static void *alloc(struct mp *p, size_t count, size_t size)
{
	void *q;

	if (p->r.failed)
		return NULL;
	if (count && size > SIZE_MAX / count) {
		scale_fail(&p->r, "meta.too_large", "metadata needs more memory than allowed");
		return NULL;
	}
	q = arena_alloc(p->m->arena, count * size);
	if (!q)
		scale_fail(&p->r, "meta.too_large", "metadata needs more memory than allowed");
	return q;
}

/* A String, copied NUL-terminated. */
static const char *str(struct mp *p)
{
	const uint8_t *s;
	size_t n;
	char *out;

	if (scale_read_str(&p->r, &s, &n) < 0)
		return NULL;
	out = alloc(p, n + 1, 1);
	if (out)
		memcpy(out, s, n);
	return out;
}

static void skip_str(struct mp *p)
{
	const uint8_t *s;
	size_t n;

	scale_read_str(&p->r, &s, &n);
}

static void skip_strs(struct mp *p) /* Vec<String>: docs */
{
	size_t n;

	scale_read_len(&p->r, 1, &n);
	for (size_t i = 0; i < n && !p->r.failed; i++)
		skip_str(p);
}

static const char *opt_str(struct mp *p)
{
	bool some;

	if (scale_read_option(&p->r, &some) < 0 || !some)
		return NULL;
	return str(p);
}

static uint32_t ty(struct mp *p) /* a type reference: Compact<u32> */
{
	uint32_t id;

	scale_read_compact_u32(&p->r, &id);
	return id;
}

/* ---- the type registry ------------------------------------------------ */

static void path(struct mp *p, struct meta_type *t)
{
	const uint8_t *seg[64];
	size_t len[64], n, total = 0;
	char *out;

	t->path = "";
	if (scale_read_len(&p->r, 1, &n) < 0)
		return;
	if (n > 64) {
		scale_fail(&p->r, "meta.bad_typedef", "type path has more than 64 segments");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (scale_read_str(&p->r, &seg[i], &len[i]) < 0)
			return;
		total += len[i] + 2;
	}
	if (!n || !(out = alloc(p, total + 1, 1)))
		return;
	t->path = out;
	for (size_t i = 0; i < n; i++) {
		if (i) {
			memcpy(out, "::", 2);
			out += 2;
		}
		memcpy(out, seg[i], len[i]);
		out += len[i];
	}
}

static struct meta_field *fields(struct mp *p, uint32_t *count)
{
	struct meta_field *f;
	size_t n;

	*count = 0;
	/* name tag, type, type-name tag, docs: four bytes at least each */
	if (scale_read_len(&p->r, 4, &n) < 0 || !(f = alloc(p, n, sizeof *f)))
		return NULL;
	for (size_t i = 0; i < n && !p->r.failed; i++) {
		f[i].name = opt_str(p);
		f[i].type = ty(p);
		f[i].type_name = opt_str(p);
		skip_strs(p);
	}
	*count = (uint32_t)n;
	return f;
}

static void variants(struct mp *p, struct meta_type *t)
{
	struct meta_variant *v;
	size_t n;

	if (scale_read_len(&p->r, 4, &n) < 0 || !(v = alloc(p, n, sizeof *v)))
		return;
	for (size_t i = 0; i < n && !p->r.failed; i++) {
		v[i].name = str(p);
		v[i].fields = fields(p, &v[i].nfields);
		scale_read_u8(&p->r, &v[i].index);
		skip_strs(p);
	}
	t->variants = v;
	t->n = (uint32_t)n;
}

static void typedef_(struct mp *p, struct meta_type *t)
{
	uint8_t tag, prim;
	size_t n;

	if (scale_read_u8(&p->r, &tag) < 0)
		return;
	t->def = tag;
	switch (tag) {
	case META_COMPOSITE:
		t->fields = fields(p, &t->n);
		break;
	case META_VARIANT:
		variants(p, t);
		break;
	case META_SEQUENCE:
	case META_COMPACT:
		t->elem = ty(p);
		break;
	case META_ARRAY:
		scale_read_u32(&p->r, &t->n);
		t->elem = ty(p);
		break;
	case META_TUPLE:
		if (scale_read_len(&p->r, 1, &n) < 0 || !(t->items = alloc(p, n, sizeof *t->items)))
			return;
		for (size_t i = 0; i < n && !p->r.failed; i++)
			t->items[i] = ty(p);
		t->n = (uint32_t)n;
		break;
	case META_PRIMITIVE:
		if (scale_read_u8(&p->r, &prim) < 0)
			return;
		if (prim > META_I256)
			scale_fail(&p->r, "meta.bad_typedef", "unknown primitive type");
		t->prim = prim;
		break;
	case META_BITSEQ:
		t->elem = ty(p);
		t->order = ty(p);
		break;
	default:
		scale_fail(&p->r, "meta.bad_typedef", "unknown type definition kind");
	}
}

static void registry(struct mp *p)
{
	struct meta *m = p->m;
	size_t n;

	/* id, path, params, kind, one more byte, docs: six bytes at least */
	if (scale_read_len(&p->r, 6, &n) < 0 || !(m->types = alloc(p, n, sizeof *m->types)))
		return;
	for (size_t i = 0; i < n && !p->r.failed; i++) {
		struct meta_type *t = &m->types[i];
		size_t np;

		/* scale-info numbers types 0, 1, 2...: an id is its position,
		 * which makes every lookup an index. */
		if (ty(p) != i && !p->r.failed) {
			scale_fail(&p->r, "meta.bad_type_id", "type ids are not 0, 1, 2, ...");
			return;
		}
		path(p, t);
		if (scale_read_len(&p->r, 2, &np) < 0 || !(t->params = alloc(p, np, sizeof *t->params)))
			return;
		for (size_t j = 0; j < np && !p->r.failed; j++) {
			t->params[j].name = str(p);
			scale_read_option(&p->r, &t->params[j].has_type);
			if (t->params[j].has_type)
				t->params[j].type = ty(p);
		}
		t->nparams = (uint32_t)np;
		typedef_(p, t);
		skip_strs(p);
	}
	m->ntypes = (uint32_t)n;
}

/* ---- pallets ---------------------------------------------------------- */

static void item_deprecation(struct mp *p) /* V16 ItemDeprecationInfo */
{
	uint8_t tag;

	if (scale_read_u8(&p->r, &tag) < 0)
		return;
	if (tag == 2) {
		skip_str(p); /* note */
		opt_str(p);  /* since */
	} else if (tag > 2) {
		scale_fail(&p->r, "meta.bad_typedef", "unknown deprecation tag");
	}
}

static void enum_deprecation(struct mp *p) /* V16 EnumDeprecationInfo */
{
	size_t n;
	uint8_t key, tag;

	scale_read_len(&p->r, 2, &n);
	for (size_t i = 0; i < n && !p->r.failed; i++) {
		scale_read_u8(&p->r, &key);
		scale_read_u8(&p->r, &tag);
		if (tag == 2) {
			skip_str(p);
			opt_str(p);
		} else if (tag != 1) {
			scale_fail(&p->r, "meta.bad_typedef", "unknown variant deprecation tag");
		}
	}
}

/* Option<{ ty, [V16] deprecation }>: calls, events, errors. */
static bool opt_enum(struct mp *p, uint32_t *type)
{
	bool some;

	*type = 0;
	if (scale_read_option(&p->r, &some) < 0 || !some)
		return false;
	*type = ty(p);
	if (p->v >= 16)
		enum_deprecation(p);
	return true;
}

static void storage(struct mp *p)
{
	bool some;
	size_t n, nh;
	uint8_t modifier, kind;

	if (scale_read_option(&p->r, &some) < 0 || !some)
		return;
	skip_str(p); /* prefix */
	scale_read_len(&p->r, 5, &n);
	for (size_t i = 0; i < n && !p->r.failed; i++) {
		skip_str(p);
		scale_read_u8(&p->r, &modifier);
		scale_read_u8(&p->r, &kind);
		if (kind == 0) {
			ty(p);
		} else if (kind == 1) {
			scale_read_len(&p->r, 1, &nh);
			scale_skip(&p->r, nh); /* hashers: one byte each */
			ty(p);
			ty(p);
		} else {
			scale_fail(&p->r, "meta.bad_typedef", "unknown storage entry kind");
		}
		skip_str(p); /* default value: Vec<u8> */
		skip_strs(p);
		if (p->v >= 16)
			item_deprecation(p);
	}
}

static void constants(struct mp *p)
{
	size_t n;

	scale_read_len(&p->r, 4, &n);
	for (size_t i = 0; i < n && !p->r.failed; i++) {
		skip_str(p);
		ty(p);
		skip_str(p); /* value */
		skip_strs(p);
		if (p->v >= 16)
			item_deprecation(p);
	}
}

static void params(struct mp *p) /* Vec<{ name, ty }> */
{
	size_t n;

	scale_read_len(&p->r, 2, &n);
	for (size_t i = 0; i < n && !p->r.failed; i++) {
		skip_str(p);
		ty(p);
	}
}

static void v16_pallet_extras(struct mp *p)
{
	size_t n;

	scale_read_len(&p->r, 3, &n); /* associated types */
	for (size_t i = 0; i < n && !p->r.failed; i++) {
		skip_str(p);
		ty(p);
		skip_strs(p);
	}
	scale_read_len(&p->r, 37, &n); /* view functions */
	for (size_t i = 0; i < n && !p->r.failed; i++) {
		scale_skip(&p->r, 32); /* id */
		skip_str(p);
		params(p);
		ty(p);
		skip_strs(p);
		item_deprecation(p);
	}
}

static void pallets(struct mp *p)
{
	struct meta *m = p->m;
	size_t n;

	if (scale_read_len(&p->r, 7, &n) < 0 || !(m->pallets = alloc(p, n, sizeof *m->pallets)))
		return;
	for (size_t i = 0; i < n && !p->r.failed; i++) {
		struct meta_pallet *pl = &m->pallets[i];
		uint32_t event;

		pl->name = str(p);
		storage(p);
		pl->has_calls = opt_enum(p, &pl->calls_type);
		opt_enum(p, &event);
		constants(p);
		pl->has_errors = opt_enum(p, &pl->errors_type);
		if (p->v >= 16)
			v16_pallet_extras(p);
		scale_read_u8(&p->r, &pl->index);
		if (p->v >= 15)
			skip_strs(p);
		if (p->v >= 16)
			item_deprecation(p);
	}
	m->npallets = (uint32_t)n;
}

/* ---- the extrinsic ---------------------------------------------------- */

static struct meta_extension *extension_list(struct mp *p, size_t *count)
{
	struct meta_extension *x;
	size_t n;

	*count = 0;
	if (scale_read_len(&p->r, 3, &n) < 0 || !(x = alloc(p, n, sizeof *x)))
		return NULL;
	for (size_t i = 0; i < n && !p->r.failed; i++) {
		x[i].identifier = str(p);
		x[i].type = ty(p);
		x[i].additional = ty(p);
	}
	*count = n;
	return x;
}

/* V14 names the address and signature types only as parameters of the
 * UncheckedExtrinsic type. */
static int v14_param(const struct meta *m, uint32_t ext_ty, const char *name, uint32_t *out)
{
	const struct meta_type *t = meta_type(m, ext_ty);

	for (uint32_t i = 0; t && i < t->nparams; i++)
		if (t->params[i].has_type && t->params[i].name && !strcmp(t->params[i].name, name)) {
			*out = t->params[i].type;
			return 0;
		}
	return -1;
}

static void extrinsic_v14_v15(struct mp *p, uint32_t *ext_ty)
{
	struct meta *m = p->m;
	uint8_t version;
	size_t n;

	if (p->v == 14) {
		*ext_ty = ty(p);
		scale_read_u8(&p->r, &version);
	} else {
		scale_read_u8(&p->r, &version);
		m->address_type = ty(p);
		ty(p); /* call */
		m->signature_type = ty(p);
		ty(p); /* extra */
	}
	m->extensions = extension_list(p, &n);
	m->nextensions = (uint32_t)n;
	if (!p->r.failed && version != 4)
		scale_fail(&p->r, "meta.unsupported_extrinsic", "the runtime's extrinsic version is not 4");
}

static void extrinsic_v16(struct mp *p)
{
	struct meta *m = p->m;
	const uint8_t *versions;
	struct meta_extension *all;
	uint32_t *v0 = NULL;
	size_t nv, nmap, nall, n0 = 0;

	if (scale_read_str(&p->r, &versions, &nv) < 0)
		return;
	if (!memchr(versions, 4, nv))
		scale_fail(&p->r, "meta.unsupported_extrinsic", "the runtime does not take version 4 extrinsics");
	m->address_type = ty(p);
	ty(p); /* call */
	m->signature_type = ty(p);
	/* BTreeMap<u8, Vec<Compact<u32>>>: version 0 is the set a v4 extrinsic uses */
	scale_read_len(&p->r, 2, &nmap);
	for (size_t i = 0; i < nmap && !p->r.failed; i++) {
		uint8_t ver;
		size_t k;

		scale_read_u8(&p->r, &ver);
		if (scale_read_len(&p->r, 1, &k) < 0)
			return;
		if (ver == 0) {
			if (!(v0 = alloc(p, k, sizeof *v0)))
				return;
			n0 = k;
			for (size_t j = 0; j < k; j++)
				v0[j] = ty(p);
		} else {
			for (size_t j = 0; j < k; j++)
				ty(p);
		}
	}
	all = extension_list(p, &nall);
	if (p->r.failed)
		return;
	if (!v0) {
		scale_fail(&p->r, "meta.bad_extensions", "no transaction extensions for version 0 (v4 extrinsics)");
		return;
	}
	if (!(m->extensions = alloc(p, n0, sizeof *m->extensions)))
		return;
	for (size_t j = 0; j < n0; j++) {
		if (v0[j] >= nall) {
			scale_fail(&p->r, "meta.bad_extensions", "a transaction extension index is out of range");
			return;
		}
		m->extensions[j] = all[v0[j]];
	}
	m->nextensions = (uint32_t)n0;
}

/* ---- after the extrinsic: read only to prove the layout --------------- */

static void apis(struct mp *p)
{
	size_t n, nm;
	uint32_t version;

	scale_read_len(&p->r, 3, &n);
	for (size_t i = 0; i < n && !p->r.failed; i++) {
		skip_str(p);
		scale_read_len(&p->r, 4, &nm);
		for (size_t j = 0; j < nm && !p->r.failed; j++) {
			skip_str(p);
			params(p);
			ty(p);
			skip_strs(p);
			if (p->v >= 16)
				item_deprecation(p);
		}
		skip_strs(p);
		if (p->v >= 16) {
			scale_read_compact_u32(&p->r, &version);
			item_deprecation(p);
		}
	}
}

static void tail(struct mp *p)
{
	size_t n;

	if (p->v == 14 || p->v == 15)
		ty(p); /* the runtime type */
	if (p->v == 14)
		return;
	apis(p);
	ty(p); /* outer enums: call, event, error */
	ty(p);
	ty(p);
	scale_read_len(&p->r, 3, &n); /* custom: BTreeMap<String, { ty, value }> */
	for (size_t i = 0; i < n && !p->r.failed; i++) {
		skip_str(p);
		ty(p);
		skip_str(p);
	}
}

/* ---- checks after the parse ------------------------------------------- */

static int ref_ok(const struct meta *m, uint32_t id)
{
	return id < m->ntypes;
}

static int type_refs_ok(const struct meta *m, const struct meta_type *t)
{
	for (uint32_t j = 0; j < t->nparams; j++)
		if (t->params[j].has_type && !ref_ok(m, t->params[j].type))
			return 0;
	switch (t->def) {
	case META_COMPOSITE:
		for (uint32_t j = 0; j < t->n; j++)
			if (!ref_ok(m, t->fields[j].type))
				return 0;
		return 1;
	case META_VARIANT:
		for (uint32_t j = 0; j < t->n; j++)
			for (uint32_t k = 0; k < t->variants[j].nfields; k++)
				if (!ref_ok(m, t->variants[j].fields[k].type))
					return 0;
		return 1;
	case META_TUPLE:
		for (uint32_t j = 0; j < t->n; j++)
			if (!ref_ok(m, t->items[j]))
				return 0;
		return 1;
	case META_SEQUENCE:
	case META_ARRAY:
	case META_COMPACT:
		return ref_ok(m, t->elem);
	case META_BITSEQ:
		return ref_ok(m, t->elem) && ref_ok(m, t->order);
	default:
		return 1;
	}
}

static int check_refs(const struct meta *m, struct kerr *e)
{
	for (uint32_t i = 0; i < m->ntypes; i++)
		if (!type_refs_ok(m, &m->types[i]))
			return kerr_set(e, "meta.bad_type_ref", "type %u refers to a type that does not exist", i);
	for (uint32_t i = 0; i < m->npallets; i++) {
		const struct meta_pallet *pl = &m->pallets[i];

		if ((pl->has_calls && !ref_ok(m, pl->calls_type)) || (pl->has_errors && !ref_ok(m, pl->errors_type)))
			return kerr_set(e, "meta.bad_type_ref", "pallet %s refers to a type that does not exist",
					pl->name);
	}
	for (uint32_t i = 0; i < m->nextensions; i++)
		if (!ref_ok(m, m->extensions[i].type) || !ref_ok(m, m->extensions[i].additional))
			return kerr_set(e, "meta.bad_type_ref", "extension %s refers to a type that does not exist",
					m->extensions[i].identifier);
	if (!ref_ok(m, m->address_type) || !ref_ok(m, m->signature_type))
		return kerr_set(e, "meta.bad_type_ref", "the extrinsic's address or signature type does not exist");
	return 0;
}

/* ---- entry points ----------------------------------------------------- */

static int header(struct mp *p, struct kerr *e)
{
	uint32_t magic;

	if (scale_read_u32(&p->r, &magic) < 0 || scale_read_u8(&p->r, &p->v) < 0)
		return kerr_set(e, "meta.truncated", "metadata shorter than its header");
	if (magic != META_MAGIC)
		return kerr_set(e, "meta.bad_magic", "metadata does not start with \"meta\"");
	if (p->v < 14 || p->v > 16)
		return kerr_set(e, "meta.unsupported_version", "metadata version %u (14, 15 and 16 are read)", p->v);
	return 0;
}

static int body(struct mp *p, struct kerr *e)
{
	uint32_t ext_ty = 0;

	registry(p);
	pallets(p);
	if (p->v == 16)
		extrinsic_v16(p);
	else
		extrinsic_v14_v15(p, &ext_ty);
	tail(p);
	if (p->r.failed) {
		if (!strcmp(e->code, "scale.truncated") || !strcmp(e->code, "scale.length"))
			snprintf(e->code, sizeof e->code, "%s", "meta.truncated");
		return -1;
	}
	if (scale_remaining(&p->r))
		return kerr_set(e, "meta.trailing", "%zu bytes after the end of the metadata", scale_remaining(&p->r));
	if (p->v == 14 && !ref_ok(p->m, ext_ty))
		return kerr_set(e, "meta.bad_type_ref", "the extrinsic type does not exist");
	if (p->v == 14 && (v14_param(p->m, ext_ty, "Address", &p->m->address_type) < 0 ||
			   v14_param(p->m, ext_ty, "Signature", &p->m->signature_type) < 0))
		return kerr_set(e, "meta.bad_extensions", "the extrinsic type names no Address or Signature");
	return check_refs(p->m, e);
}

int meta_parse(const void *buf, size_t len, struct meta **out, struct kerr *e)
{
	struct mp p;
	int rc = -1;

	*out = NULL;
	memset(&p, 0, sizeof p);
	if (len > META_BYTES_MAX)
		return kerr_set(e, "meta.too_large", "metadata of %zu bytes (at most %u)", len, META_BYTES_MAX);
	p.m = calloc(1, sizeof *p.m);
	if (!p.m || !(p.m->arena = calloc(1, sizeof *p.m->arena))) {
		kerr_set(e, "meta.too_large", "out of memory");
		goto out;
	}
	scale_reader_init(&p.r, buf, len, e);
	if (header(&p, e) < 0 || body(&p, e) < 0)
		goto out;
	p.m->version = p.v;
	*out = p.m;
	p.m = NULL;
	rc = 0;
out:
	meta_free(p.m);
	return rc;
}

int meta_load(const char *path_, struct meta **out, struct kerr *e)
{
	char *buf = NULL;
	size_t n = 0;
	int rc;

	*out = NULL;
	if (fs_read_all(path_, META_BYTES_MAX, &buf, &n, e) < 0)
		return -1;
	rc = meta_parse(buf, n, out, e);
	if (rc < 0)
		kerr_prefix(e, "%s", path_);
	free(buf);
	return rc;
}

void meta_free(struct meta *m)
{
	if (!m)
		return;
	arena_free(m->arena);
	free(m);
}

/* ---- lookups ---------------------------------------------------------- */

const struct meta_type *meta_type(const struct meta *m, uint32_t id)
{
	return id < m->ntypes ? &m->types[id] : NULL;
}

const struct meta_pallet *meta_pallet_by_name(const struct meta *m, const char *name)
{
	for (uint32_t i = 0; i < m->npallets; i++)
		if (m->pallets[i].name && !strcmp(m->pallets[i].name, name))
			return &m->pallets[i];
	return NULL;
}

const struct meta_pallet *meta_pallet_by_index(const struct meta *m, uint8_t index)
{
	for (uint32_t i = 0; i < m->npallets; i++)
		if (m->pallets[i].index == index)
			return &m->pallets[i];
	return NULL;
}

const struct meta_variant *meta_variant_by_name(const struct meta_type *t, const char *name)
{
	if (!t || t->def != META_VARIANT)
		return NULL;
	for (uint32_t i = 0; i < t->n; i++)
		if (t->variants[i].name && !strcmp(t->variants[i].name, name))
			return &t->variants[i];
	return NULL;
}

const struct meta_variant *meta_variant_by_index(const struct meta_type *t, uint8_t index)
{
	if (!t || t->def != META_VARIANT)
		return NULL;
	for (uint32_t i = 0; i < t->n; i++)
		if (t->variants[i].index == index)
			return &t->variants[i];
	return NULL;
}

int meta_find_call(const struct meta *m, const char *pallet, const char *call, struct meta_call *out,
		   struct kerr *e)
{
	const struct meta_pallet *pl = meta_pallet_by_name(m, pallet);
	const struct meta_variant *v;

	memset(out, 0, sizeof *out);
	if (!pl)
		return kerr_set(e, "meta.no_pallet", "the runtime has no pallet %s", pallet);
	if (!pl->has_calls)
		return kerr_set(e, "meta.no_calls", "pallet %s has no calls", pallet);
	v = meta_variant_by_name(meta_type(m, pl->calls_type), call);
	if (!v)
		return kerr_set(e, "meta.no_call", "pallet %s has no call %s", pallet, call);
	out->pallet_index = pl->index;
	out->call_index = v->index;
	out->variant = v;
	return 0;
}

const char *meta_error_name(const struct meta *m, uint8_t pallet_index, uint8_t error_index)
{
	const struct meta_pallet *pl = meta_pallet_by_index(m, pallet_index);
	const struct meta_variant *v;

	if (!pl || !pl->has_errors)
		return NULL;
	v = meta_variant_by_index(meta_type(m, pl->errors_type), error_index);
	return v ? v->name : NULL;
}

int meta_unwrap(const struct meta *m, uint32_t id, uint32_t *out, struct kerr *e)
{
	for (int depth = 0; depth < META_DEPTH_MAX; depth++) {
		const struct meta_type *t = meta_type(m, id);

		if (!t)
			return kerr_set(e, "meta.bad_type_ref", "type %u does not exist", id);
		if (t->def == META_COMPOSITE && t->n == 1)
			id = t->fields[0].type;
		else if (t->def == META_TUPLE && t->n == 1)
			id = t->items[0];
		else {
			*out = id;
			return 0;
		}
	}
	return kerr_set(e, "meta.too_deep", "type %u nests more than %d newtypes (a cycle?)", id, META_DEPTH_MAX);
}

/* steps bounds the whole walk: a type with two fields that both refer
 * back to it would otherwise take 2^depth steps. */
static int zero_sized(const struct meta *m, uint32_t id, int depth, int *steps, bool *zero, struct kerr *e)
{
	const struct meta_type *t = meta_type(m, id);
	bool z = true;

	*zero = false;
	if (!t)
		return kerr_set(e, "meta.bad_type_ref", "type %u does not exist", id);
	if (depth >= META_DEPTH_MAX || --*steps < 0)
		return kerr_set(e, "meta.too_deep", "type %u nests deeper than %d (a cycle?)", id, META_DEPTH_MAX);
	switch (t->def) {
	case META_COMPOSITE:
		for (uint32_t i = 0; i < t->n && z; i++)
			if (zero_sized(m, t->fields[i].type, depth + 1, steps, &z, e) < 0)
				return -1;
		break;
	case META_TUPLE:
		for (uint32_t i = 0; i < t->n && z; i++)
			if (zero_sized(m, t->items[i], depth + 1, steps, &z, e) < 0)
				return -1;
		break;
	case META_ARRAY:
		if (t->n && zero_sized(m, t->elem, depth + 1, steps, &z, e) < 0)
			return -1;
		break;
	default:
		z = false; /* a variant has its index byte; the rest carry data */
	}
	*zero = z;
	return 0;
}

int meta_zero_sized(const struct meta *m, uint32_t id, bool *zero, struct kerr *e)
{
	int steps = META_WALK_STEPS_MAX;

	return zero_sized(m, id, 0, &steps, zero, e);
}
