/* clex.h: a small lexer for C source as a C11 compiler sees it, for the diff
 * scan. Owns translation phases 2 and 3: line splicing (backslash, optional
 * blanks, newline, as GCC accepts it), comments, string and character
 * literals with prefixes and escapes, header names after #include, numbers,
 * identifiers and punctuators. Never expands macros and never guesses: what
 * it cannot lex the way a compiler would it either fails (unterminated
 * comment or literal: judge.lex) or hands back as a CLEX_ODD token. */
#ifndef KARPA_CLEX_H
#define KARPA_CLEX_H

#include <stddef.h>

#include "util/kerr.h"

enum clex_kind {
	CLEX_EOF = 0,
	CLEX_IDENT,
	CLEX_NUMBER,
	CLEX_STRING, /* with its prefix and quotes: u8"a\n" */
	CLEX_CHAR,   /* with its prefix and quotes: L'x' */
	CLEX_HEADER, /* <name> or "name" right after #include (no escapes inside) */
	CLEX_PUNCT,
	CLEX_ODD,    /* lexes, but no honest recipe writes it: see why */
};

struct clex_tok {
	enum clex_kind kind;
	const char *p;   /* into the spliced text; not NUL-terminated */
	size_t len;
	int line;        /* 1-based physical line of the first character */
	int bol;         /* first token of a logical line (a directive can start here) */
	int ws;          /* whitespace or a comment came right before */
	const char *why; /* CLEX_ODD only: "digraph", "universal character name", ... */
};

struct clex {
	char *buf;   /* the text after line splicing, NUL-terminated */
	int *lines;  /* physical line of every byte of buf */
	size_t len;
	size_t pos;
	int bol, ws;
	int dir;     /* 0, 1 after a directive's '#', 2 after "# include" */
};

/* Splices lines of text (len bytes, may hold NUL bytes) into lx. */
int clex_init(struct clex *lx, const char *text, size_t len, struct kerr *err);
/* Next token: 1 and *t filled, 0 at the end, -1 with judge.lex on an
 * unterminated comment or literal (the message names the line). */
int clex_next(struct clex *lx, struct clex_tok *t, struct kerr *err);
void clex_free(struct clex *lx);

/* Whether token t spells exactly s. */
int clex_is(const struct clex_tok *t, const char *s);

#endif
