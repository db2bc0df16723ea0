/* pretok.h: GPT-2's pre-tokenization, the split of text into pieces that BPE
 * merges never cross. Owns the exact rule the reference JS encoder applies
 * (its regular expression with the `u` flag) rewritten as a state machine
 * over UTF-8 code points. Never allocates and never rejects input: a byte that
 * is not valid UTF-8 is one code point of class "other", so every byte string
 * splits into pieces that concatenate back to it. */
#ifndef KARPA_PRETOK_H
#define KARPA_PRETOK_H

#include <stddef.h>
#include <stdint.h>

/* The four classes the rule distinguishes: \p{L}, \p{N}, JavaScript's \s,
 * and everything else (including invalid bytes). */
enum pretok_class {
	PRETOK_LETTER = 0,
	PRETOK_NUMBER = 1,
	PRETOK_SPACE = 2,
	PRETOK_OTHER = 3,
};

/* Class of one Unicode scalar value (any int32; out-of-range is OTHER). */
enum pretok_class pretok_class_of(int32_t cp);

/* Byte length (>= 1) of the piece that starts at text[pos]; pos < len.
 * Splitting a text: for (p = 0; p < len; p += pretok_piece(t, len, p)). */
size_t pretok_piece(const uint8_t *text, size_t len, size_t pos);

#endif
