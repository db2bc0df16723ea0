/* pretok.c: GPT-2's pre-tokenization as a state machine (see pretok.h).
 * The rule, as the reference JS encoder writes it:
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * Alternatives are tried in order at each position and the first that
 * matches wins; each quantifier is greedy. Never allocates. */
#include "data/pretok.h"

#include <utf8proc.h>

/* Longest UTF-8 encoding of one code point. */
#define UTF8_BYTES_MAX 4

static enum pretok_class ascii_class(uint8_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return PRETOK_LETTER;
	if (c >= '0' && c <= '9')
		return PRETOK_NUMBER;
	/* ECMAScript \s in ASCII: TAB LF VT FF CR and SPACE. Not 0x1C..0x1F,
	 * which Python's \s would include. */
	if (c == ' ' || (c >= '\t' && c <= '\r'))
		return PRETOK_SPACE;
	return PRETOK_OTHER;
}

enum pretok_class pretok_class_of(int32_t cp)
{
	if (cp >= 0 && cp < 0x80)
		return ascii_class((uint8_t)cp);
	if (cp < 0 || cp > 0x10FFFF)
		return PRETOK_OTHER;
	/* ECMAScript's \s is WhiteSpace (TAB VT FF SP U+FEFF and every Zs)
	 * plus LineTerminator (LF CR U+2028 U+2029). U+0085 is Unicode
	 * White_Space but not JS \s, so it stays "other". */
	if (cp == 0xFEFF || cp == 0x2028 || cp == 0x2029)
		return PRETOK_SPACE;
	switch (utf8proc_category(cp)) {
	case UTF8PROC_CATEGORY_LU:
	case UTF8PROC_CATEGORY_LL:
	case UTF8PROC_CATEGORY_LT:
	case UTF8PROC_CATEGORY_LM:
	case UTF8PROC_CATEGORY_LO:
		return PRETOK_LETTER;
	case UTF8PROC_CATEGORY_ND:
	case UTF8PROC_CATEGORY_NL:
	case UTF8PROC_CATEGORY_NO:
		return PRETOK_NUMBER;
	case UTF8PROC_CATEGORY_ZS:
		return PRETOK_SPACE;
	default:
		return PRETOK_OTHER;
	}
}

/* Decodes the code point at s[pos] and returns its byte length; an invalid
 * or truncated sequence is one byte of class OTHER, which keeps the split
 * total (every byte lands in exactly one piece). */
static inline size_t cp_at(const uint8_t *s, size_t len, size_t pos, enum pretok_class *cls)
{
	utf8proc_int32_t cp;
	utf8proc_ssize_t n;
	size_t avail = len - pos;

	if (s[pos] < 0x80) {
		*cls = ascii_class(s[pos]);
		return 1;
	}
	n = utf8proc_iterate(s + pos, (utf8proc_ssize_t)(avail < UTF8_BYTES_MAX ? avail : UTF8_BYTES_MAX),
			     &cp);
	if (n <= 0) {
		*cls = PRETOK_OTHER;
		return 1;
	}
	*cls = pretok_class_of(cp);
	return (size_t)n;
}

/* 's 't 'm 'd (2 bytes) and 're 've 'll (3 bytes): the ASCII apostrophe
 * only, lower case only, matched wherever a piece starts. */
static size_t contraction(const uint8_t *s, size_t len, size_t pos)
{
	uint8_t x, y;

	if (s[pos] != '\'' || pos + 1 >= len)
		return 0;
	x = s[pos + 1];
	if (x == 's' || x == 't' || x == 'm' || x == 'd')
		return 2;
	if (pos + 2 >= len)
		return 0;
	y = s[pos + 2];
	if ((x == 'r' && y == 'e') || (x == 'v' && y == 'e') || (x == 'l' && y == 'l'))
		return 3;
	return 0;
}

size_t pretok_piece(const uint8_t *s, size_t len, size_t pos)
{
	enum pretok_class c0, c;
	size_t p, n, last, count;

	n = contraction(s, len, pos);
	if (n)
		return n;
	p = pos + cp_at(s, len, pos, &c0);
	/* " ?X+": one leading U+0020 joins a following run of letters, numbers
	 * or others; before whitespace (or at the end) it is whitespace. */
	if (s[pos] == ' ' && p < len) {
		n = cp_at(s, len, p, &c);
		if (c != PRETOK_SPACE) {
			c0 = c;
			p += n;
		}
	}
	if (c0 != PRETOK_SPACE) {
		while (p < len) {
			n = cp_at(s, len, p, &c);
			if (c != c0)
				break;
			p += n;
		}
		return p - pos;
	}
	/* "\s+(?!\S)|\s+": a run of whitespace that reaches the end of the
	 * text is taken whole; a longer run followed by non-space gives back
	 * its last code point (so " word" keeps its space); a single one is
	 * taken by the plain \s+. */
	last = pos;
	count = 1;
	while (p < len) {
		n = cp_at(s, len, p, &c);
		if (c != PRETOK_SPACE)
			break;
		last = p;
		p += n;
		count++;
	}
	if (p == len || count == 1)
		return p - pos;
	return last - pos;
}
