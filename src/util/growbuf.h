/* growbuf.h: a byte buffer that grows (doubling) up to a cap its owner
 * sets, always NUL-terminated: a reply body as libcurl's write callback
 * hands it in, or a small request body as it streams. Owns its memory. A
 * body over the cap is refused, never truncated. */
#ifndef KARPA_GROWBUF_H
#define KARPA_GROWBUF_H

#include <stddef.h>

#include "util/kerr.h"

struct growbuf {
	char *buf;  /* NULL until the first append; then buf[len] == '\0' */
	size_t len, cap, max;
};

/* An empty buffer that holds at most max bytes. */
void growbuf_init(struct growbuf *b, size_t max);
/* Appends n bytes. growbuf.too_large when the content would pass max
 * (nothing is appended), growbuf.nomem. */
int growbuf_append(struct growbuf *b, const void *p, size_t n, struct kerr *err);
/* Empties the buffer, keeping its memory (the next attempt of a request). */
void growbuf_reset(struct growbuf *b);
void growbuf_free(struct growbuf *b);

#endif
