/* events.c: System::Events walked through the metadata's type registry
 * (events.h). One bounded recursive walker steps over any value by its
 * type; the few values that carry meaning (the phase, System's two
 * dispatch events, DispatchError) are read on the way. */
#include "chain/events.h"

#include <stdio.h>
#include <string.h>

#include "chain/scale.h"

struct walk {
	const struct meta *m;
	struct scale_reader r;
	struct kerr *e;
	size_t steps;
	int own; /* the failure is this file's, not the SCALE reader's */
};

static int bad(struct walk *w, const char *fmt, const char *what)
{
	if (!w->r.failed) {
		kerr_set(w->e, "chain.events_decode", fmt, what);
		w->r.failed = 1;
		w->own = 1;
	}
	return -1;
}

static int reader_failed(struct walk *w)
{
	if (!w->r.failed)
		return 0;
	/* the reader's own code (scale.*) says what; the events code says where */
	if (!w->own) {
		char msg[KERR_MSG_MAX];

		snprintf(msg, sizeof msg, "%s (%s)", w->e->msg, w->e->code);
		kerr_set(w->e, "chain.events_decode", "System.Events: %s", msg);
	}
	return -1;
}

static const struct meta_type *type_of(struct walk *w, uint32_t id)
{
	const struct meta_type *t = meta_type(w->m, id);

	if (!t)
		bad(w, "System.Events: a type reference past the registry (%s)", "metadata");
	return t;
}

/* Compact of any width: a big-mode value may be a u128 or wider. */
static int skip_compact(struct walk *w)
{
	uint8_t b;

	if (scale_read_u8(&w->r, &b) < 0)
		return -1;
	switch (b & 3) {
	case 0: return 0;
	case 1: return scale_skip(&w->r, 1);
	case 2: return scale_skip(&w->r, 3);
	default: return scale_skip(&w->r, (size_t)(b >> 2) + 4);
	}
}

static int prim_bytes(enum meta_prim p)
{
	switch (p) {
	case META_BOOL: case META_U8: case META_I8: return 1;
	case META_U16: case META_I16: return 2;
	case META_CHAR: case META_U32: case META_I32: return 4;
	case META_U64: case META_I64: return 8;
	case META_U128: case META_I128: return 16;
	case META_U256: case META_I256: return 32;
	case META_STR: return -1;
	}
	return -2;
}

static int skip(struct walk *w, uint32_t id, int depth);

static int skip_fields(struct walk *w, const struct meta_field *f, uint32_t n, int depth)
{
	for (uint32_t i = 0; i < n; i++)
		if (skip(w, f[i].type, depth + 1) < 0)
			return -1;
	return 0;
}

static const struct meta_variant *read_variant(struct walk *w, const struct meta_type *t)
{
	const struct meta_variant *v;
	uint8_t idx;

	if (t->def != META_VARIANT) {
		bad(w, "System.Events: %s is not an enum", t->path[0] ? t->path : "a type");
		return NULL;
	}
	if (scale_read_u8(&w->r, &idx) < 0)
		return NULL;
	if (!(v = meta_variant_by_index(t, idx)))
		bad(w, "System.Events: a variant index that %s does not have", t->path[0] ? t->path : "an enum");
	return v;
}

static int skip(struct walk *w, uint32_t id, int depth)
{
	const struct meta_type *t;
	const struct meta_variant *v;
	size_t count;
	int pb;

	if (w->r.failed)
		return -1;
	if (depth > META_DEPTH_MAX)
		return bad(w, "System.Events: types nested deeper than the bound (%s)", "a cycle?");
	if (++w->steps > CHAIN_EVENTS_STEPS_MAX)
		return bad(w, "System.Events: more values than the bound (%s)", "hostile input?");
	if (!(t = type_of(w, id)))
		return -1;
	switch (t->def) {
	case META_COMPOSITE: return skip_fields(w, t->fields, t->n, depth);
	case META_VARIANT:
		if (!(v = read_variant(w, t)))
			return -1;
		return skip_fields(w, v->fields, v->nfields, depth);
	case META_SEQUENCE:
		if (scale_read_len(&w->r, 1, &count) < 0)
			return -1;
		for (size_t i = 0; i < count; i++)
			if (skip(w, t->elem, depth + 1) < 0)
				return -1;
		return 0;
	case META_ARRAY:
		for (uint32_t i = 0; i < t->n; i++)
			if (skip(w, t->elem, depth + 1) < 0)
				return -1;
		return 0;
	case META_TUPLE:
		for (uint32_t i = 0; i < t->n; i++)
			if (skip(w, t->items[i], depth + 1) < 0)
				return -1;
		return 0;
	case META_PRIMITIVE:
		if ((pb = prim_bytes(t->prim)) == -1) {
			const uint8_t *s;
			size_t n;

			return scale_read_str(&w->r, &s, &n);
		}
		if (pb < 0)
			return bad(w, "System.Events: an unknown primitive in %s", "the registry");
		return scale_skip(&w->r, (size_t)pb);
	case META_COMPACT: return skip_compact(w);
	case META_BITSEQ: {
		const struct meta_type *st = type_of(w, t->elem);
		uint64_t bits;
		int sb;

		if (!st || st->def != META_PRIMITIVE || (sb = prim_bytes(st->prim)) <= 0)
			return bad(w, "System.Events: a bit sequence with a store that is not an integer (%s)", "metadata");
		if (scale_read_compact(&w->r, &bits) < 0)
			return -1;
		{
			uint64_t words = bits / (8u * (unsigned)sb) + (bits % (8u * (unsigned)sb) != 0);

			if (words > scale_remaining(&w->r) / (unsigned)sb)
				return bad(w, "System.Events: a bit sequence longer than %s", "the bytes left");
			return scale_skip(&w->r, (size_t)words * (size_t)sb);
		}
	}
	}
	return bad(w, "System.Events: an unknown type kind in %s", "the registry");
}

/* The primitive a type stands for through newtypes, or -1. */
static int prim_of(struct walk *w, uint32_t id, enum meta_prim *p)
{
	uint32_t u;
	const struct meta_type *t;
	struct kerr e2;

	if (meta_unwrap(w->m, id, &u, &e2) < 0 || !(t = meta_type(w->m, u)) || t->def != META_PRIMITIVE)
		return -1;
	*p = t->prim;
	return 0;
}

/* DispatchError: the variant's name; for Module { index: u8, error: [u8; 4] }
 * (or the older error: u8) the two indices. */
static int read_dispatch_error(struct walk *w, uint32_t id, struct chain_dispatch *out, int depth)
{
	const struct meta_type *t = type_of(w, id), *mt, *at;
	const struct meta_variant *v;
	enum meta_prim p;
	uint32_t u;
	struct kerr e2;

	if (!t || !(v = read_variant(w, t)))
		return -1;
	snprintf(out->error_variant, sizeof out->error_variant, "%s", v->name);
	if (strcmp(v->name, "Module") || v->nfields != 1)
		return skip_fields(w, v->fields, v->nfields, depth);
	if (meta_unwrap(w->m, v->fields[0].type, &u, &e2) < 0 || !(mt = type_of(w, u)) || mt->def != META_COMPOSITE ||
	    mt->n != 2 || prim_of(w, mt->fields[0].type, &p) < 0 || p != META_U8)
		return bad(w, "System.Events: DispatchError::Module is not { index: u8, error }%s", "");
	if (scale_read_u8(&w->r, &out->pallet_index) < 0)
		return -1;
	if (prim_of(w, mt->fields[1].type, &p) == 0 && p == META_U8) {
		out->is_module = 1;
		return scale_read_u8(&w->r, &out->error_index);
	}
	at = type_of(w, mt->fields[1].type);
	if (!at || at->def != META_ARRAY || at->n < 1 || prim_of(w, at->elem, &p) < 0 || p != META_U8)
		return bad(w, "System.Events: ModuleError's error is not [u8; N]%s", "");
	out->is_module = 1;
	if (scale_read_u8(&w->r, &out->error_index) < 0)
		return -1;
	return scale_skip(&w->r, at->n - 1);
}

/* The event of one record: RuntimeEvent's variant is the pallet; System's
 * dispatch events are read when they belong to the extrinsic asked for. */
static int read_event(struct walk *w, uint32_t id, int ours, struct chain_dispatch *out)
{
	const struct meta_type *t = type_of(w, id), *pt;
	const struct meta_variant *pallet, *ev;

	if (!t || !(pallet = read_variant(w, t)))
		return -1;
	if (!ours || strcmp(pallet->name, "System") || pallet->nfields != 1)
		return skip_fields(w, pallet->fields, pallet->nfields, 1);
	if (!(pt = type_of(w, pallet->fields[0].type)) || !(ev = read_variant(w, pt)))
		return -1;
	/* one dispatch ends one way: a second outcome is not a block a node
	 * would serve, and whichever came last must not pass for the truth */
	if ((!strcmp(ev->name, "ExtrinsicSuccess") || !strcmp(ev->name, "ExtrinsicFailed")) &&
	    out->outcome != CHAIN_OUTCOME_NONE)
		return bad(w, "System.Events: two dispatch outcomes for one extrinsic (%s)", ev->name);
	if (!strcmp(ev->name, "ExtrinsicSuccess")) {
		out->outcome = CHAIN_OUTCOME_SUCCESS;
		return skip_fields(w, ev->fields, ev->nfields, 2);
	}
	if (!strcmp(ev->name, "ExtrinsicFailed") && ev->nfields >= 1) {
		out->outcome = CHAIN_OUTCOME_FAILED;
		if (read_dispatch_error(w, ev->fields[0].type, out, 2) < 0)
			return -1;
		return skip_fields(w, ev->fields + 1, ev->nfields - 1, 2);
	}
	return skip_fields(w, ev->fields, ev->nfields, 2);
}

/* frame_system::EventRecord { phase, event, topics } in the registry. */
static const struct meta_type *record_type(const struct meta *m)
{
	for (uint32_t i = 0; i < m->ntypes; i++) {
		const struct meta_type *t = &m->types[i];

		if (t->def == META_COMPOSITE && !strcmp(t->path, "frame_system::EventRecord") && t->n == 3 &&
		    t->fields[0].name && !strcmp(t->fields[0].name, "phase") && t->fields[1].name &&
		    !strcmp(t->fields[1].name, "event") && t->fields[2].name && !strcmp(t->fields[2].name, "topics"))
			return t;
	}
	return NULL;
}

int chain_events_outcome(const struct meta *m, const uint8_t *buf, size_t len, uint32_t xt_index,
			 struct chain_dispatch *out, struct kerr *e)
{
	const struct meta_type *rec = record_type(m), *pt;
	struct walk w = { .m = m, .e = e };
	size_t count;

	memset(out, 0, sizeof *out);
	if (!rec)
		return kerr_set(e, "chain.events_unsupported",
				"the runtime's metadata has no frame_system::EventRecord { phase, event, topics }");
	scale_reader_init(&w.r, buf, len, e);
	if (scale_read_len(&w.r, 1, &count) < 0)
		return reader_failed(&w);
	for (size_t i = 0; i < count; i++) {
		const struct meta_variant *ph;
		uint32_t at = 0;
		int ours = 0;

		if (!(pt = type_of(&w, rec->fields[0].type)) || !(ph = read_variant(&w, pt)))
			return reader_failed(&w);
		if (!strcmp(ph->name, "ApplyExtrinsic") && ph->nfields == 1) {
			enum meta_prim p;

			if (prim_of(&w, ph->fields[0].type, &p) < 0 || p != META_U32)
				return bad(&w, "System.Events: Phase::ApplyExtrinsic does not carry a u32%s", "");
			if (scale_read_u32(&w.r, &at) < 0)
				return reader_failed(&w);
			ours = at == xt_index;
		} else if (skip_fields(&w, ph->fields, ph->nfields, 1) < 0) {
			return reader_failed(&w);
		}
		if (read_event(&w, rec->fields[1].type, ours, out) < 0 || skip(&w, rec->fields[2].type, 1) < 0)
			return reader_failed(&w);
		out->nevents++;
	}
	if (w.r.failed)
		return reader_failed(&w);
	if (scale_remaining(&w.r))
		return kerr_set(e, "chain.events_decode", "System.Events: %zu bytes after the last record",
				scale_remaining(&w.r));
	return 0;
}
