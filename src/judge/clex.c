/* clex.c: the diff scan's C lexer (see clex.h). Owns agreeing with the
 * compiler about where comments, literals and identifiers begin and end.
 * Never reports findings itself: odd spellings come back as CLEX_ODD tokens
 * and the caller decides. Wherever GCC would lex something more leniently
 * than this file does (an unterminated quote in a skipped #if 0 block), this
 * file fails instead, so a disagreement can only reject, never let through. */
#include "judge/clex.h"

#include <stdlib.h>
#include <string.h>

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\f' || c == '\v';
}

static int is_ident_start(unsigned char c)
{
	/* GCC accepts '$' in identifiers by default; so must we, or "a$b"
	 * would lex as three tokens here and one in the compiler. */
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$';
}

static int is_ident_char(unsigned char c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9');
}

static int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* Phase 2: a backslash, then blanks, then a newline ("\n" or "\r\n") vanish.
 * GCC splices across trailing blanks too (with a warning), so we do. */
static size_t splice_len(const char *s, size_t n, size_t i)
{
	size_t j = i + 1;

	while (j < n && is_blank(s[j]))
		j++;
	if (j < n && s[j] == '\n')
		return j + 1 - i;
	if (j + 1 < n && s[j] == '\r' && s[j + 1] == '\n')
		return j + 2 - i;
	return 0;
}

int clex_init(struct clex *lx, const char *text, size_t len, struct kerr *err)
{
	size_t i = 0, o = 0;
	int line = 1;

	memset(lx, 0, sizeof *lx);
	lx->buf = malloc(len + 1);
	lx->lines = malloc((len + 1) * sizeof *lx->lines);
	if (!lx->buf || !lx->lines) {
		clex_free(lx);
		return kerr_set(err, "judge.oom", "lexer: out of memory for %zu bytes", len);
	}
	while (i < len) {
		size_t sp = text[i] == '\\' ? splice_len(text, len, i) : 0;

		if (sp) {
			i += sp;
			line++;
			continue;
		}
		if (text[i] == '\r' && i + 1 < len && text[i + 1] == '\n') {
			i++;
			continue;
		}
		lx->lines[o] = line;
		lx->buf[o++] = text[i];
		if (text[i] == '\n')
			line++;
		i++;
	}
	lx->buf[o] = '\0';
	lx->lines[o] = line;
	lx->len = o;
	lx->bol = 1;
	return 0;
}

void clex_free(struct clex *lx)
{
	free(lx->buf);
	free(lx->lines);
	lx->buf = NULL;
	lx->lines = NULL;
}

int clex_is(const struct clex_tok *t, const char *s)
{
	size_t n = strlen(s);

	return t->len == n && !memcmp(t->p, s, n);
}

/* Skips blanks, newlines and comments; -1 on an unterminated comment. */
static int skip_space(struct clex *lx, struct kerr *err)
{
	const char *b = lx->buf;

	while (lx->pos < lx->len) {
		char c = b[lx->pos];

		if (c == '\n') {
			lx->bol = 1;
			lx->ws = 1;
			lx->dir = 0;
			lx->pos++;
		} else if (is_blank(c) || c == '\r') {
			/* A lone CR is rejected by the caller's byte scan. */
			lx->ws = 1;
			lx->pos++;
		} else if (c == '/' && b[lx->pos + 1] == '*') {
			const char *end = NULL;
			size_t from = lx->pos + 2;

			for (size_t k = from; k + 1 < lx->len; k++)
				if (b[k] == '*' && b[k + 1] == '/') {
					end = b + k;
					break;
				}
			if (!end)
				return kerr_set(err, "judge.lex", "line %d: unterminated /* comment",
						lx->lines[lx->pos]);
			/* A block comment is one space, even across lines: it never
			 * ends a directive (phase 3 comes before phase 4). */
			lx->pos = (size_t)(end - b) + 2;
			lx->ws = 1;
		} else if (c == '/' && b[lx->pos + 1] == '/') {
			while (lx->pos < lx->len && b[lx->pos] != '\n')
				lx->pos++;
			lx->ws = 1;
		} else {
			break;
		}
	}
	return 0;
}

/* A quoted literal starting at buf[q] (the quote); -1 if it meets a newline
 * or the end first. Escapes skip one character: "\"" and '\'' stay inside. */
static int lex_quoted(struct clex *lx, size_t q, size_t *end, struct kerr *err)
{
	char quote = lx->buf[q];
	size_t k = q + 1;

	while (k < lx->len && lx->buf[k] != quote && lx->buf[k] != '\n') {
		if (lx->buf[k] == '\\' && k + 1 < lx->len && lx->buf[k + 1] != '\n')
			k++;
		k++;
	}
	if (k >= lx->len || lx->buf[k] != quote)
		return kerr_set(err, "judge.lex", "line %d: unterminated %s literal", lx->lines[q],
				quote == '"' ? "string" : "character");
	*end = k + 1;
	return 0;
}

/* A header name after #include: up to the closing '>' or '"' on the same
 * line, with no escapes (a backslash is an ordinary character there). */
static int lex_header(struct clex *lx, size_t *end)
{
	char close = lx->buf[lx->pos] == '<' ? '>' : '"';

	for (size_t k = lx->pos + 1; k < lx->len && lx->buf[k] != '\n'; k++)
		if (lx->buf[k] == close) {
			*end = k + 1;
			return 1;
		}
	return 0;
}

/* A pp-number (C11 6.4.8): digits, letters, '_', '.', and a sign right
 * after e, E, p or P. "0x1p-3f" and even "1e+fopen" are one token. */
static size_t lex_number(const char *b, size_t len, size_t k)
{
	while (k < len) {
		unsigned char c = (unsigned char)b[k];

		if ((c == '+' || c == '-') && strchr("eEpP", b[k - 1]))
			k++;
		else if (is_ident_char(c) || c == '.')
			k++;
		else
			break;
	}
	return k;
}

static const char *const puncts[] = {
	"%:%:", "...", "<<=", ">>=", "->", "++", "--", "<<", ">>", "<=", ">=", "==", "!=", "&&",
	"||",   "*=",  "/=",  "%=",  "+=", "-=", "&=", "^=", "|=", "##", "<:", ":>", "<%", "%>",
	"%:",
};

static int is_digraph(const char *s, size_t n)
{
	return (n == 2 && (!memcmp(s, "<:", 2) || !memcmp(s, ":>", 2) || !memcmp(s, "<%", 2) ||
			   !memcmp(s, "%>", 2) || !memcmp(s, "%:", 2))) ||
	       (n == 4 && !memcmp(s, "%:%:", 4));
}

static size_t lex_punct(const char *b, size_t len, size_t k)
{
	for (size_t i = 0; i < sizeof puncts / sizeof puncts[0]; i++) {
		size_t n = strlen(puncts[i]);

		if (k + n <= len && !memcmp(b + k, puncts[i], n))
			return k + n;
	}
	return k + 1;
}

static int prefix_of_literal(const char *s, size_t n)
{
	return (n == 1 && (*s == 'L' || *s == 'u' || *s == 'U')) || (n == 2 && !memcmp(s, "u8", 2));
}

static int prefix_of_raw(const char *s, size_t n)
{
	return (n == 1 && *s == 'R') || (n == 2 && (!memcmp(s, "LR", 2) || !memcmp(s, "uR", 2) ||
						    !memcmp(s, "UR", 2))) ||
	       (n == 3 && !memcmp(s, "u8R", 3));
}

/* An identifier at buf[k]; may turn into a literal (u8"x"), or an odd token
 * when a universal character name or a non-ASCII byte is part of it. */
static int lex_ident(struct clex *lx, struct clex_tok *t, size_t k, size_t *end, struct kerr *err)
{
	const char *b = lx->buf;
	size_t e = k;

	while (e < lx->len && is_ident_char((unsigned char)b[e]))
		e++;
	if (e < lx->len && b[e] == '\\' && (b[e + 1] == 'u' || b[e + 1] == 'U')) {
		t->kind = CLEX_ODD;
		t->why = "universal character name in an identifier";
		*end = e + 2;
		return 0;
	}
	if (e < lx->len && (unsigned char)b[e] >= 0x80) {
		t->kind = CLEX_ODD;
		t->why = "non-ASCII byte in an identifier";
		while (e < lx->len && ((unsigned char)b[e] >= 0x80 || is_ident_char((unsigned char)b[e])))
			e++;
		*end = e;
		return 0;
	}
	if (e < lx->len && (b[e] == '"' || b[e] == '\'') && prefix_of_literal(b + k, e - k)) {
		t->kind = b[e] == '"' ? CLEX_STRING : CLEX_CHAR;
		return lex_quoted(lx, e, end, err);
	}
	if (e < lx->len && b[e] == '"' && prefix_of_raw(b + k, e - k)) {
		t->kind = CLEX_ODD;
		/* In C11 mode GCC reads this as an identifier and a plain
		 * string, and so do we; flagged because in a gnu mode it would
		 * be a raw string that lexes differently. */
		t->why = "raw string literal prefix";
		*end = e;
		return 0;
	}
	t->kind = CLEX_IDENT;
	*end = e;
	return 0;
}

/* Classifies and measures the token at lx->pos (after blanks). */
static int lex_one(struct clex *lx, struct clex_tok *t, size_t *end, struct kerr *err)
{
	const char *b = lx->buf;
	size_t k = lx->pos;
	unsigned char c = (unsigned char)b[k];

	if (lx->dir == 2 && (c == '<' || c == '"') && lex_header(lx, end)) {
		t->kind = CLEX_HEADER;
		return 0;
	}
	if (lx->dir == 2 && c == '"')
		return kerr_set(err, "judge.lex", "line %d: unterminated header name", lx->lines[k]);
	if (is_ident_start(c))
		return lex_ident(lx, t, k, end, err);
	if (is_digit(c) || (c == '.' && is_digit((unsigned char)b[k + 1]))) {
		t->kind = CLEX_NUMBER;
		*end = lex_number(b, lx->len, k + 1);
		return 0;
	}
	if (c == '"' || c == '\'') {
		t->kind = c == '"' ? CLEX_STRING : CLEX_CHAR;
		return lex_quoted(lx, k, end, err);
	}
	if (c == '\\' && (b[k + 1] == 'u' || b[k + 1] == 'U')) {
		t->kind = CLEX_ODD;
		t->why = "universal character name outside a literal";
		*end = k + 2;
		return 0;
	}
	if (c >= 0x80 || c == '\0') {
		t->kind = CLEX_ODD;
		t->why = c ? "non-ASCII byte outside a comment or literal" : "NUL byte";
		*end = k + 1;
		while (c && *end < lx->len && (unsigned char)b[*end] >= 0x80)
			(*end)++;
		return 0;
	}
	*end = lex_punct(b, lx->len, k);
	t->kind = CLEX_PUNCT;
	if (is_digraph(b + k, *end - k)) {
		t->kind = CLEX_ODD;
		t->why = "digraph";
	}
	return 0;
}

int clex_next(struct clex *lx, struct clex_tok *t, struct kerr *err)
{
	size_t end = 0;

	if (skip_space(lx, err) < 0)
		return -1;
	memset(t, 0, sizeof *t);
	if (lx->pos >= lx->len)
		return 0;
	t->p = lx->buf + lx->pos;
	t->line = lx->lines[lx->pos];
	t->bol = lx->bol;
	t->ws = lx->ws;
	if (lex_one(lx, t, &end, err) < 0)
		return -1;
	t->len = end - lx->pos;
	lx->pos = end;
	/* Track "# include" so the next token is read as a header name. */
	if (t->kind == CLEX_PUNCT && t->bol && clex_is(t, "#"))
		lx->dir = 1;
	else if (lx->dir == 1 && t->kind == CLEX_IDENT &&
		 (clex_is(t, "include") || clex_is(t, "include_next") || clex_is(t, "import")))
		lx->dir = 2;
	else
		lx->dir = 0;
	lx->bol = 0;
	lx->ws = 0;
	return 1;
}
