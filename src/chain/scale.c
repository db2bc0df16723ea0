/* scale.c: the SCALE codec (see scale.h). Little-endian fixed integers,
 * compact integers in their four modes, length-prefixed vectors. Reads
 * never go past the buffer and never allocate from a length that the
 * remaining bytes cannot back. */
#include "chain/scale.h"

#include <stdlib.h>
#include <string.h>

/* ---- reader ----------------------------------------------------------- */

void scale_reader_init(struct scale_reader *r, const void *buf, size_t len, struct kerr *err)
{
	r->buf = buf;
	r->len = buf ? len : 0;
	r->off = 0;
	r->err = err;
	r->failed = 0;
}

size_t scale_remaining(const struct scale_reader *r)
{
	return r->failed ? 0 : r->len - r->off;
}

int scale_fail(struct scale_reader *r, const char *code, const char *what)
{
	if (!r->failed && r->err)
		kerr_set(r->err, code, "%s at byte %zu", what, r->off);
	r->failed = 1;
	return -1;
}

static int take(struct scale_reader *r, size_t n, const uint8_t **p)
{
	if (r->failed)
		return -1;
	if (n > r->len - r->off)
		return scale_fail(r, "scale.truncated", "input ends early");
	*p = r->buf + r->off;
	r->off += n;
	return 0;
}

static uint64_t le(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = n; i-- > 0;)
		v = (v << 8) | p[i];
	return v;
}

int scale_read_u8(struct scale_reader *r, uint8_t *v)
{
	const uint8_t *p;

	*v = 0;
	if (take(r, 1, &p) < 0)
		return -1;
	*v = p[0];
	return 0;
}

int scale_read_u16(struct scale_reader *r, uint16_t *v)
{
	const uint8_t *p;

	*v = 0;
	if (take(r, 2, &p) < 0)
		return -1;
	*v = (uint16_t)le(p, 2);
	return 0;
}

int scale_read_u32(struct scale_reader *r, uint32_t *v)
{
	const uint8_t *p;

	*v = 0;
	if (take(r, 4, &p) < 0)
		return -1;
	*v = (uint32_t)le(p, 4);
	return 0;
}

int scale_read_u64(struct scale_reader *r, uint64_t *v)
{
	const uint8_t *p;

	*v = 0;
	if (take(r, 8, &p) < 0)
		return -1;
	*v = le(p, 8);
	return 0;
}

int scale_read_u128(struct scale_reader *r, uint64_t *lo, uint64_t *hi)
{
	const uint8_t *p;

	*lo = *hi = 0;
	if (take(r, 16, &p) < 0)
		return -1;
	*lo = le(p, 8);
	*hi = le(p + 8, 8);
	return 0;
}

int scale_read_bool(struct scale_reader *r, bool *v)
{
	uint8_t b;

	*v = false;
	if (scale_read_u8(r, &b) < 0)
		return -1;
	if (b > 1)
		return scale_fail(r, "scale.bad_bool", "bool byte is neither 0 nor 1");
	*v = b == 1;
	return 0;
}

/* Mode 0b11: the upper six bits give the byte count less four. */
static int compact_big(struct scale_reader *r, uint8_t first, uint64_t *v)
{
	size_t n = (size_t)(first >> 2) + 4;
	const uint8_t *p;

	if (take(r, n, &p) < 0)
		return -1;
	for (size_t i = 8; i < n; i++)
		if (p[i])
			return scale_fail(r, "scale.overflow", "compact integer wider than 64 bits");
	if (p[n - 1] == 0)
		return scale_fail(r, "scale.noncanonical", "compact integer has a zero top byte");
	*v = le(p, n < 8 ? n : 8);
	if (*v <= SCALE_COMPACT_FOUR_MAX)
		return scale_fail(r, "scale.noncanonical", "compact integer fits a shorter mode");
	return 0;
}

int scale_read_compact(struct scale_reader *r, uint64_t *v)
{
	const uint8_t *p;
	uint8_t first;

	*v = 0;
	if (scale_read_u8(r, &first) < 0)
		return -1;
	switch (first & 3) {
	case 0:
		*v = first >> 2;
		return 0;
	case 1:
		if (take(r, 1, &p) < 0)
			return -1;
		*v = ((uint64_t)first | (uint64_t)p[0] << 8) >> 2;
		if (*v <= SCALE_COMPACT_SINGLE_MAX)
			return scale_fail(r, "scale.noncanonical", "compact integer fits a shorter mode");
		return 0;
	case 2:
		if (take(r, 3, &p) < 0)
			return -1;
		*v = ((uint64_t)first | le(p, 3) << 8) >> 2;
		if (*v <= SCALE_COMPACT_TWO_MAX)
			return scale_fail(r, "scale.noncanonical", "compact integer fits a shorter mode");
		return 0;
	default:
		return compact_big(r, first, v);
	}
}

int scale_read_compact_u32(struct scale_reader *r, uint32_t *v)
{
	uint64_t x;

	*v = 0;
	if (scale_read_compact(r, &x) < 0)
		return -1;
	if (x > UINT32_MAX)
		return scale_fail(r, "scale.overflow", "compact integer wider than 32 bits");
	*v = (uint32_t)x;
	return 0;
}

int scale_read_option(struct scale_reader *r, bool *some)
{
	uint8_t b;

	*some = false;
	if (scale_read_u8(r, &b) < 0)
		return -1;
	if (b > 1)
		return scale_fail(r, "scale.bad_option", "option tag is neither 0 nor 1");
	*some = b == 1;
	return 0;
}

int scale_read_len(struct scale_reader *r, size_t elem_bytes_min, size_t *count)
{
	uint64_t n;
	size_t per = elem_bytes_min ? elem_bytes_min : 1;

	*count = 0;
	if (scale_read_compact(r, &n) < 0)
		return -1;
	if (n > (uint64_t)(scale_remaining(r) / per))
		return scale_fail(r, "scale.length", "length prefix exceeds the bytes left");
	*count = (size_t)n;
	return 0;
}

int scale_read_bytes(struct scale_reader *r, void *out, size_t n)
{
	const uint8_t *p;

	if (take(r, n, &p) < 0) {
		memset(out, 0, n);
		return -1;
	}
	memcpy(out, p, n);
	return 0;
}

int scale_read_view(struct scale_reader *r, size_t n, const uint8_t **view)
{
	*view = NULL;
	return take(r, n, view);
}

int scale_read_str(struct scale_reader *r, const uint8_t **s, size_t *n)
{
	*s = NULL;
	if (scale_read_len(r, 1, n) < 0)
		return -1;
	return take(r, *n, s);
}

int scale_skip(struct scale_reader *r, size_t n)
{
	const uint8_t *p;

	return take(r, n, &p);
}

int scale_read_vec_u16(struct scale_reader *r, size_t count_max, uint16_t **v, size_t *count)
{
	size_t n;

	*v = NULL;
	*count = 0;
	if (scale_read_len(r, 2, &n) < 0)
		return -1;
	if (n > count_max)
		return scale_fail(r, "scale.too_long", "vector longer than allowed");
	if (n == 0)
		return 0;
	*v = malloc(n * sizeof **v);
	if (!*v)
		return scale_fail(r, "scale.nomem", "out of memory for a vector");
	for (size_t i = 0; i < n; i++)
		scale_read_u16(r, &(*v)[i]); /* cannot fail: the length was checked */
	*count = n;
	return 0;
}

/* ---- writer ----------------------------------------------------------- */

void scale_writer_init(struct scale_writer *w, size_t bytes_max, struct kerr *err)
{
	memset(w, 0, sizeof *w);
	w->bytes_max = bytes_max;
	w->err = err;
}

void scale_writer_free(struct scale_writer *w)
{
	free(w->buf);
	w->buf = NULL;
	w->len = w->cap = 0;
}

void scale_writer_reset(struct scale_writer *w)
{
	w->len = 0;
	w->failed = 0;
}

static int wfail(struct scale_writer *w, const char *code, const char *what)
{
	if (!w->failed && w->err)
		kerr_set(w->err, code, "%s (%zu bytes written)", what, w->len);
	w->failed = 1;
	return -1;
}

int scale_put_bytes(struct scale_writer *w, const void *p, size_t n)
{
	if (w->failed)
		return -1;
	if (n > w->bytes_max - w->len)
		return wfail(w, "scale.too_large", "encoding over its size limit");
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap : 64;
		uint8_t *nb;

		while (cap < w->len + n)
			cap = cap > w->bytes_max / 2 ? w->bytes_max : cap * 2;
		nb = realloc(w->buf, cap);
		if (!nb)
			return wfail(w, "scale.nomem", "out of memory for an encoding");
		w->buf = nb;
		w->cap = cap;
	}
	if (n)
		memcpy(w->buf + w->len, p, n);
	w->len += n;
	return 0;
}

static int put_le(struct scale_writer *w, uint64_t v, size_t n)
{
	uint8_t b[8];

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	return scale_put_bytes(w, b, n);
}

int scale_put_u8(struct scale_writer *w, uint8_t v)
{
	return put_le(w, v, 1);
}

int scale_put_u16(struct scale_writer *w, uint16_t v)
{
	return put_le(w, v, 2);
}

int scale_put_u32(struct scale_writer *w, uint32_t v)
{
	return put_le(w, v, 4);
}

int scale_put_u64(struct scale_writer *w, uint64_t v)
{
	return put_le(w, v, 8);
}

int scale_put_u128(struct scale_writer *w, uint64_t lo, uint64_t hi)
{
	put_le(w, lo, 8);
	return put_le(w, hi, 8);
}

int scale_put_bool(struct scale_writer *w, bool v)
{
	return put_le(w, v ? 1 : 0, 1);
}

size_t scale_compact_encode(uint64_t v, uint8_t out[SCALE_COMPACT_BYTES_MAX])
{
	size_t n = 0;

	if (v <= SCALE_COMPACT_SINGLE_MAX) {
		out[0] = (uint8_t)(v << 2);
		return 1;
	}
	if (v <= SCALE_COMPACT_TWO_MAX) {
		uint16_t x = (uint16_t)(v << 2 | 1);
		out[0] = (uint8_t)x;
		out[1] = (uint8_t)(x >> 8);
		return 2;
	}
	if (v <= SCALE_COMPACT_FOUR_MAX) {
		uint32_t x = (uint32_t)(v << 2 | 2);
		for (size_t i = 0; i < 4; i++)
			out[i] = (uint8_t)(x >> (8 * i));
		return 4;
	}
	for (uint64_t x = v; x; x >>= 8)
		out[1 + n++] = (uint8_t)x;
	out[0] = (uint8_t)((n - 4) << 2 | 3);
	return n + 1;
}

int scale_put_compact(struct scale_writer *w, uint64_t v)
{
	uint8_t b[SCALE_COMPACT_BYTES_MAX];

	return scale_put_bytes(w, b, scale_compact_encode(v, b));
}

int scale_put_option_none(struct scale_writer *w)
{
	return scale_put_u8(w, 0);
}

int scale_put_option_some(struct scale_writer *w)
{
	return scale_put_u8(w, 1);
}

int scale_put_enum(struct scale_writer *w, uint8_t variant_index)
{
	return scale_put_u8(w, variant_index);
}

int scale_put_vec_u16(struct scale_writer *w, const uint16_t *v, size_t count)
{
	scale_put_compact(w, count);
	for (size_t i = 0; i < count; i++)
		scale_put_u16(w, v[i]);
	return w->failed ? -1 : 0;
}

int scale_put_str(struct scale_writer *w, const void *s, size_t n)
{
	scale_put_compact(w, n);
	return scale_put_bytes(w, s, n);
}
