/* recipe_wire.c: full reads and writes on pipes. Shared by both ends. */
#include "sandbox/recipe_wire.h"

#include <errno.h>
#include <unistd.h>

int wire_read_full(int fd, void *buf, size_t n)
{
	char *p = buf;

	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int wire_write_full(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int wire_send2(int fd, uint32_t type, const void *a, uint64_t alen, const void *b, uint64_t blen)
{
	struct wire_hdr h = { WIRE_MAGIC, type, alen + blen };

	if (wire_write_full(fd, &h, sizeof h) < 0)
		return -1;
	if (alen && wire_write_full(fd, a, alen) < 0)
		return -1;
	if (blen && wire_write_full(fd, b, blen) < 0)
		return -1;
	return 0;
}

int wire_send(int fd, uint32_t type, const void *payload, uint64_t len)
{
	return wire_send2(fd, type, payload, len, NULL, 0);
}
