/* brown.h: one Brown Corpus file (POS-tagged "Form C", as distributed with
 * NLTK) back to readable running text. Owns the detokenization rules written
 * down in docs/corpus.md; never invents words, only drops tags and decides
 * spacing, quote characters and paragraph breaks. Pure: no I/O. */
#ifndef KARPA_BROWN_H
#define KARPA_BROWN_H

#include <stddef.h>

#include "util/kerr.h"

/* The longest sentence line in the corpus is about 3 kB; a line is a
 * paragraph's worth of tokens at most, so 1 MiB means a broken file. */
#define BROWN_LINE_BYTES_MAX (1u << 20)

struct brown_stats {
	size_t tokens;     /* word/tag tokens read, punctuation included */
	size_t lines;      /* non-blank lines (Brown's sentence units) */
	size_t paragraphs; /* paragraphs written, headings included */
	size_t headings;   /* lines set apart as headings (-hl tags) */
};

/* Detokenizes src (len bytes) into *out (caller frees, NUL-terminated, *out_len
 * excludes the NUL). Paragraphs are separated by "\n\n"; the text ends with
 * one "\n". st may be NULL. Fails with brown.format on a control byte or an
 * over-long line, brown.empty when there are no tokens. */
int brown_detok(const char *src, size_t len, char **out, size_t *out_len, struct brown_stats *st,
		struct kerr *err);

#endif
