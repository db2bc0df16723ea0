/* growbuf.c: the capped, growing buffer (growbuf.h). */
#include "util/growbuf.h"

#include <stdlib.h>
#include <string.h>

/* The first allocation: most replies fit. */
#define GROWBUF_FIRST_BYTES 4096

void growbuf_init(struct growbuf *b, size_t max)
{
	memset(b, 0, sizeof *b);
	b->max = max;
}

int growbuf_append(struct growbuf *b, const void *p, size_t n, struct kerr *err)
{
	if (n > b->max || b->len > b->max - n)
		return kerr_set(err, "growbuf.too_large", "%zu bytes would pass the limit of %zu", b->len + n, b->max);
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : GROWBUF_FIRST_BYTES;
		char *m;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > b->max + 1) /* never more than the cap and its NUL */
			cap = b->max + 1;
		if (!(m = realloc(b->buf, cap)))
			return kerr_set(err, "growbuf.nomem", "out of memory for %zu bytes", cap);
		b->buf = m;
		b->cap = cap;
	}
	if (n)
		memcpy(b->buf + b->len, p, n);
	b->len += n;
	b->buf[b->len] = '\0';
	return 0;
}

void growbuf_reset(struct growbuf *b)
{
	b->len = 0;
	if (b->buf)
		b->buf[0] = '\0';
}

void growbuf_free(struct growbuf *b)
{
	free(b->buf);
	growbuf_init(b, b->max);
}
