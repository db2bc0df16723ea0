/* scale.h: the SCALE codec (Substrate's byte format) as far as the chain
 * adapter needs it: a bounded reader and a growable, capped writer.
 * Every read is checked against the bytes left; a length prefix larger than
 * what remains is refused before anything is allocated. Both sides are
 * sticky: the first failure is kept in the kerr and later calls do nothing,
 * so a parser may check once per structure. Never trusts a count. */
#ifndef KARPA_CHAIN_SCALE_H
#define KARPA_CHAIN_SCALE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/kerr.h"

/* Compact integers: the two low bits of the first byte pick the mode. */
#define SCALE_COMPACT_SINGLE_MAX 63u          /* 0b00: one byte, value << 2 */
#define SCALE_COMPACT_TWO_MAX 16383u          /* 0b01: two bytes */
#define SCALE_COMPACT_FOUR_MAX 1073741823u    /* 0b10: four bytes */
#define SCALE_COMPACT_BYTES_MAX 9             /* 0b11 for a u64: prefix + 8 */

struct scale_reader {
	const uint8_t *buf;
	size_t len, off;
	struct kerr *err; /* the first failure; may be NULL */
	int failed;
};

void scale_reader_init(struct scale_reader *r, const void *buf, size_t len, struct kerr *err);
size_t scale_remaining(const struct scale_reader *r);
/* Fails the reader with code and message (sticky; returns -1). */
int scale_fail(struct scale_reader *r, const char *code, const char *what);

/* scale.truncated when the bytes run out. */
int scale_read_u8(struct scale_reader *r, uint8_t *v);
int scale_read_u16(struct scale_reader *r, uint16_t *v);
int scale_read_u32(struct scale_reader *r, uint32_t *v);
int scale_read_u64(struct scale_reader *r, uint64_t *v);
int scale_read_u128(struct scale_reader *r, uint64_t *lo, uint64_t *hi);
/* scale.bad_bool for a byte other than 0 or 1. */
int scale_read_bool(struct scale_reader *r, bool *v);
/* Compact<u64>: scale.overflow past 64 bits, scale.noncanonical when a
 * shorter mode would have held the value (two encodings of one number
 * would give one extrinsic two hashes). */
int scale_read_compact(struct scale_reader *r, uint64_t *v);
int scale_read_compact_u32(struct scale_reader *r, uint32_t *v);
/* Option tag: scale.bad_option for a byte other than 0 (None) or 1. */
int scale_read_option(struct scale_reader *r, bool *some);
/* A vector's length prefix; scale.length when count * elem_bytes_min is
 * more than the bytes left (elem_bytes_min 0 is taken as 1 byte, so even a
 * vector of zero-sized items cannot claim more items than bytes). */
int scale_read_len(struct scale_reader *r, size_t elem_bytes_min, size_t *count);
/* n bytes copied (a fixed array), or viewed in place (no copy). */
int scale_read_bytes(struct scale_reader *r, void *out, size_t n);
int scale_read_view(struct scale_reader *r, size_t n, const uint8_t **view);
/* Vec<u8> / String as a view into the buffer (not NUL-terminated). */
int scale_read_str(struct scale_reader *r, const uint8_t **s, size_t *n);
int scale_skip(struct scale_reader *r, size_t n);
/* Vec<u16>, at most count_max items, into a malloc'd array (caller frees;
 * NULL when empty). scale.too_long past count_max, scale.nomem. */
int scale_read_vec_u16(struct scale_reader *r, size_t count_max, uint16_t **v, size_t *count);

struct scale_writer {
	uint8_t *buf;
	size_t len, cap, bytes_max;
	struct kerr *err;
	int failed;
};

/* bytes_max bounds the encoding: scale.too_large past it. */
void scale_writer_init(struct scale_writer *w, size_t bytes_max, struct kerr *err);
void scale_writer_free(struct scale_writer *w);
void scale_writer_reset(struct scale_writer *w); /* len 0, keeps the buffer */

int scale_put_bytes(struct scale_writer *w, const void *p, size_t n);
int scale_put_u8(struct scale_writer *w, uint8_t v);
int scale_put_u16(struct scale_writer *w, uint16_t v);
int scale_put_u32(struct scale_writer *w, uint32_t v);
int scale_put_u64(struct scale_writer *w, uint64_t v);
int scale_put_u128(struct scale_writer *w, uint64_t lo, uint64_t hi);
int scale_put_bool(struct scale_writer *w, bool v);
int scale_put_compact(struct scale_writer *w, uint64_t v);
/* Option: None is one 0 byte; Some is 1 and then the value (caller's). */
int scale_put_option_none(struct scale_writer *w);
int scale_put_option_some(struct scale_writer *w);
int scale_put_enum(struct scale_writer *w, uint8_t variant_index);
int scale_put_vec_u16(struct scale_writer *w, const uint16_t *v, size_t count);
int scale_put_str(struct scale_writer *w, const void *s, size_t n); /* Vec<u8> */

/* The canonical compact encoding of v into out (up to
 * SCALE_COMPACT_BYTES_MAX bytes); returns its length. */
size_t scale_compact_encode(uint64_t v, uint8_t out[SCALE_COMPACT_BYTES_MAX]);

#endif
