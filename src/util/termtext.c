/* termtext.c: see termtext.h. */
#include "util/termtext.h"

#include <stddef.h>

/* The length of the well-formed UTF-8 sequence at p (1..4), or 0: a stray
 * continuation, an overlong form, a surrogate, past U+10FFFF, or cut short
 * by the string's end. The ranges of the second byte are RFC 3629's. */
static size_t utf8_len(const unsigned char *p)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xBF;
	size_t n;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4;
	else
		return 0;
	if (c == 0xE0)
		lo = 0xA0;
	else if (c == 0xED)
		hi = 0x9F;
	else if (c == 0xF0)
		lo = 0x90;
	else if (c == 0xF4)
		hi = 0x8F;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
	return n;
}

/* The bidirectional controls: U+061C, U+200E, U+200F, U+202A..U+202E,
 * U+2066..U+2069. Not commands, but each reorders what follows it on the
 * line, so a message could show a reader other than what it says. */
static int is_bidi(const unsigned char *p, size_t n)
{
	if (n == 2)
		return p[0] == 0xD8 && p[1] == 0x9C;
	if (n != 3 || p[0] != 0xE2)
		return 0;
	return (p[1] == 0x80 && (p[2] == 0x8E || p[2] == 0x8F || (p[2] >= 0xAA && p[2] <= 0xAE))) ||
	       (p[1] == 0x81 && p[2] >= 0xA6 && p[2] <= 0xA9);
}

char *termtext_clean(char *s, char repl)
{
	unsigned char *p = (unsigned char *)s;

	while (*p) {
		size_t n = utf8_len(p);
		/* C2 80..C2 9F: the C1 controls, well-formed but commands */
		int c1 = n == 2 && p[0] == 0xC2 && p[1] <= 0x9F;

		if (n == 1 && (*p < 0x20 || *p == 0x7F))
			*p = (unsigned char)repl;
		if (n == 0)
			n = 1, *p = (unsigned char)repl;
		if (c1 || is_bidi(p, n))
			for (size_t i = 0; i < n; i++)
				p[i] = (unsigned char)repl;
		p += n;
	}
	return s;
}

char *termtext_utf8(char *s, char repl)
{
	unsigned char *p = (unsigned char *)s;

	while (*p) {
		size_t n = utf8_len(p);

		if (n == 0)
			n = 1, *p = (unsigned char)repl;
		p += n;
	}
	return s;
}
