/* fuzz_chain_scale.c: the SCALE reader (src/chain/scale.c) on any bytes.
 * The input is a program: each byte picks a read (u8..u128, bool, option,
 * compact, length, string, Vec<u16>) applied to the bytes after it, until
 * the reader fails or the input ends.
 *
 * Checks: a read never goes past the input; a compact that reads is
 * canonical (re-encoding it gives exactly the bytes consumed); a Vec<u16>
 * that reads re-encodes to exactly its bytes; a failure always carries a
 * scale.* code and stays failed. */
#include "fuzz.h"
#include "chain/scale.h"

static void reencodes(const uint8_t *start, size_t used, int (*put)(struct scale_writer *, const void *),
		      const void *arg)
{
	struct scale_writer w;
	struct kerr e;

	scale_writer_init(&w, 1u << 20, &e);
	FUZZ_ASSERT(put(&w, arg) == 0);
	FUZZ_ASSERT(w.len == used && !memcmp(w.buf, start, used));
	scale_writer_free(&w);
}

static int put_compact(struct scale_writer *w, const void *v)
{
	return scale_put_compact(w, *(const uint64_t *)v);
}

struct vec {
	const uint16_t *v;
	size_t n;
};

static int put_vec(struct scale_writer *w, const void *p)
{
	const struct vec *v = p;

	return scale_put_vec_u16(w, v->v, v->n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scale_reader r;
	struct kerr e;

	memset(&e, 0, sizeof e);
	scale_reader_init(&r, data, size, &e);
	while (scale_remaining(&r) > 0) {
		uint8_t op, u8;
		uint16_t u16, *v;
		uint32_t u32;
		uint64_t u64, hi;
		bool b;
		size_t n, before;
		const uint8_t *s;

		scale_read_u8(&r, &op);
		before = r.off;
		switch (op % 10) {
		case 0: scale_read_u8(&r, &u8); break;
		case 1: scale_read_u16(&r, &u16); break;
		case 2: scale_read_u32(&r, &u32); break;
		case 3: scale_read_u128(&r, &u64, &hi); break;
		case 4: scale_read_bool(&r, &b); break;
		case 5: scale_read_option(&r, &b); break;
		case 6:
			if (scale_read_compact(&r, &u64) == 0)
				reencodes(data + before, r.off - before, put_compact, &u64);
			break;
		case 7:
			if (scale_read_len(&r, op >> 4, &n) == 0)
				FUZZ_ASSERT(n * (op >> 4 ? op >> 4 : 1) <= scale_remaining(&r));
			break;
		case 8:
			if (scale_read_str(&r, &s, &n) == 0)
				FUZZ_ASSERT(s >= data && s + n <= data + size);
			break;
		default:
			if (scale_read_vec_u16(&r, 4096, &v, &n) == 0) {
				struct vec vv = { v, n };
				reencodes(data + before, r.off - before, put_vec, &vv);
			}
			free(v);
		}
		FUZZ_ASSERT(r.off <= size);
		if (r.failed)
			break;
	}
	if (r.failed) {
		FUZZ_ASSERT(!strncmp(e.code, "scale.", 6));
		FUZZ_ASSERT(scale_remaining(&r) == 0);
		fuzz_note("scale", &e);
	}
	return 0;
}
