/* brown.c: Brown Corpus "Form C" (word/tag tokens, one sentence-like unit per
 * line, blank lines between paragraphs) back to running text. Owns every
 * spacing and quoting rule listed in docs/corpus.md; each rule below says
 * which habit of the tagged files it undoes. Never adds a word, never reads
 * or writes files. */
#include "data/brown.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* What a token does to the spaces around it. */
enum kind {
	K_WORD,     /* spaces on both sides */
	K_PUNCT,    /* , . ; : ? ! ) ]  - glued to what precedes */
	K_OPEN_BR,  /* ( [             - glued to what follows */
	K_OPEN_DQ,  /* ``              - written '"', glued to what follows */
	K_CLOSE_DQ, /* ''              - written '"', glued to what precedes */
	K_SQ,       /* '               - a single quote, side decided per paragraph */
	K_OPEN_SQ,
	K_CLOSE_SQ,
	K_JOIN,     /* / -             - glued on both sides: "1960-1962", "counts/minute" */
	K_CONTR,    /* n't 's 're ...  - a split contraction, glued to what precedes */
};

struct tok {
	const char *w; /* the word, tag removed; points into the source */
	size_t n;
	enum kind k;
	int bol; /* first token of a line */
};

struct para {
	struct tok *t;
	size_t n, cap;
};

struct outbuf {
	char *p;
	size_t n, cap;
};

/* Brown splits none of its contractions ("didn't", "I'm" are single tokens),
 * but other taggers' output does; rejoining them costs nothing. */
static const char *const contraction_suffix[] = { "n't", "'s", "'re", "'ve", "'ll", "'d", "'m" };

static int word_is(const struct tok *t, const char *s)
{
	return t->n == strlen(s) && memcmp(t->w, s, t->n) == 0;
}

static int ieq(const char *a, size_t n, const char *b)
{
	if (strlen(b) != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char x = a[i] >= 'A' && a[i] <= 'Z' ? (char)(a[i] + 32) : a[i];
		if (x != b[i])
			return 0;
	}
	return 1;
}

static enum kind classify(const char *w, size_t n)
{
	if (n == 1 && strchr(",.;:?!)]", w[0]))
		return K_PUNCT;
	if (n == 1 && (w[0] == '(' || w[0] == '['))
		return K_OPEN_BR;
	if (n == 1 && (w[0] == '/' || w[0] == '-'))
		return K_JOIN;
	if (n == 1 && w[0] == '\'')
		return K_SQ;
	if (n == 2 && w[0] == '`' && w[1] == '`')
		return K_OPEN_DQ;
	if (n == 2 && w[0] == '\'' && w[1] == '\'')
		return K_CLOSE_DQ;
	for (size_t i = 0; i < sizeof contraction_suffix / sizeof *contraction_suffix; i++)
		if (ieq(w, n, contraction_suffix[i]))
			return K_CONTR;
	return K_WORD;
}

static int para_push(struct para *p, const char *w, size_t n, struct kerr *err)
{
	if (p->n == p->cap) {
		size_t ncap = p->cap ? p->cap * 2 : 256;
		struct tok *nt = realloc(p->t, ncap * sizeof *nt);
		if (!nt)
			return kerr_set(err, "brown.nomem", "out of memory");
		p->t = nt;
		p->cap = ncap;
	}
	p->t[p->n++] = (struct tok){ w, n, classify(w, n), 0 };
	return 0;
}

static int out_put(struct outbuf *o, const char *s, size_t n, struct kerr *err)
{
	if (o->n + n + 1 > o->cap) {
		size_t ncap = o->cap ? o->cap : 4096;
		char *np;
		while (ncap < o->n + n + 1)
			ncap *= 2;
		np = realloc(o->p, ncap);
		if (!np)
			return kerr_set(err, "brown.nomem", "out of memory");
		o->p = np;
		o->cap = ncap;
	}
	memcpy(o->p + o->n, s, n);
	o->n += n;
	o->p[o->n] = '\0';
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Paragraph rewriting passes, in order                                     */
/* ------------------------------------------------------------------------ */

/* Every line-final ; ? ! : is doubled in these files ("; ;"), as are a few
 * commas after numerals; the original text had one. */
static void drop_doubled(struct para *p)
{
	size_t j = 0;

	for (size_t i = 0; i < p->n; i++) {
		const struct tok *t = &p->t[i];
		if (j > 0 && t->k == K_PUNCT && t->w[0] != '.' && t->w[0] != ')' &&
		    t->w[0] != ']' && p->t[j - 1].n == 1 && p->t[j - 1].w[0] == t->w[0])
			continue;
		p->t[j++] = *t;
	}
	p->n = j;
}

/* A lone ' opens or closes a single quotation. Its neighbours decide when
 * they can: nothing or punctuation after it closes; nothing, an opening
 * mark or , ; : before it opens. Between two words ('pro' letters than
 * 'con') the quotes alternate within the line. Context first and a fresh
 * count per line, because a few quotations in the files are never closed
 * and parity alone would flip every later quote of the paragraph. */
static void resolve_single_quotes(struct para *p)
{
	int open = 0;

	for (size_t i = 0; i < p->n; i++) {
		const struct tok *prev = i > 0 ? &p->t[i - 1] : NULL;
		const struct tok *next = i + 1 < p->n ? &p->t[i + 1] : NULL;

		if (p->t[i].bol)
			open = 0;
		if (p->t[i].k != K_SQ)
			continue;
		if (!next || next->k == K_PUNCT || next->k == K_CLOSE_DQ)
			open = 0;
		else if (!prev || prev->k == K_OPEN_DQ || prev->k == K_OPEN_BR ||
			 (prev->k == K_PUNCT && strchr(",;:", prev->w[0])))
			open = 1;
		else
			open = !open;
		p->t[i].k = open ? K_OPEN_SQ : K_CLOSE_SQ;
	}
}

static int is_closing(const struct tok *t)
{
	return t->k == K_CLOSE_DQ || t->k == K_CLOSE_SQ;
}

/* Brown always puts . , ? ! after a closing quote (`no '' .`); edited
 * American English, which the corpus samples, prints them inside ("no."). */
static void move_into_quotes(struct para *p)
{
	size_t i = 0;

	while (i < p->n) {
		size_t j = i;
		if (!is_closing(&p->t[i])) {
			i++;
			continue;
		}
		while (j < p->n && is_closing(&p->t[j]))
			j++;
		if (j < p->n && p->t[j].k == K_PUNCT && p->t[j].n == 1 &&
		    strchr(".,", p->t[j].w[0]) && i > 0 && p->t[i - 1].n == 1 &&
		    strchr("?!", p->t[i - 1].w[0])) {
			/* "Who Cares?" already ends in its own mark: a comma or
			 * period would double it ("Cares?,"), so it goes. */
			memmove(&p->t[j], &p->t[j + 1], (p->n - j - 1) * sizeof *p->t);
			p->n--;
		} else if (j < p->n && p->t[j].k == K_PUNCT && p->t[j].n == 1 &&
			   strchr(".,?!", p->t[j].w[0])) {
			struct tok mark = p->t[j];
			memmove(&p->t[i + 1], &p->t[i], (j - i) * sizeof *p->t);
			p->t[i] = mark;
			j++;
		}
		i = j;
	}
}

static int glue_after(enum kind k)
{
	return k == K_OPEN_BR || k == K_OPEN_DQ || k == K_OPEN_SQ || k == K_JOIN;
}

static int glue_before(enum kind k)
{
	return k == K_PUNCT || k == K_CLOSE_DQ || k == K_CLOSE_SQ || k == K_JOIN || k == K_CONTR;
}

/* Writes the paragraph; a sentence period after a word that already ends in
 * one ("etc. ." from "etc." closing a sentence) is dropped. */
static int emit(struct para *p, struct outbuf *o, size_t *paragraphs, struct kerr *err)
{
	const struct tok *prev = NULL;

	drop_doubled(p);
	resolve_single_quotes(p);
	move_into_quotes(p);
	if (p->n == 0)
		return 0;
	if (o->n > 0 && out_put(o, "\n\n", 2, err) < 0)
		return -1;
	for (size_t i = 0; i < p->n; i++) {
		const struct tok *t = &p->t[i];
		const char *w = t->w;
		size_t n = t->n;

		if (prev && word_is(t, ".") && prev->w[prev->n - 1] == '.')
			continue;
		if (prev && !glue_after(prev->k) && !glue_before(t->k) && out_put(o, " ", 1, err) < 0)
			return -1;
		if (t->k == K_OPEN_DQ || t->k == K_CLOSE_DQ) {
			w = "\"";
			n = 1;
		}
		if (out_put(o, w, n, err) < 0)
			return -1;
		prev = t;
	}
	(*paragraphs)++;
	p->n = 0;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Lines                                                                    */
/* ------------------------------------------------------------------------ */

static int is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

/* Appends a line's tokens to p; *hl counts tokens whose tag carries -hl. */
static int read_line(const char *s, size_t n, struct para *p, size_t *ntok, size_t *hl,
		     struct kerr *err)
{
	size_t i = 0;

	*ntok = *hl = 0;
	while (i < n) {
		size_t a, b, slash;
		while (i < n && is_space(s[i]))
			i++;
		if (i == n)
			break;
		a = i;
		while (i < n && !is_space(s[i]))
			i++;
		b = i;
		/* The tag follows the last slash: "1/2/cd" is the word "1/2",
		 * "//in" the word "/". A token without a tag stays whole. */
		slash = b;
		while (slash > a && s[slash - 1] != '/')
			slash--;
		if (slash > a + 1) {
			if (memmem(s + slash, b - slash, "-hl", 3))
				(*hl)++;
			b = slash - 1;
		}
		if (para_push(p, s + a, b - a, err) < 0)
			return -1;
		p->t[p->n - 1].bol = *ntok == 0;
		(*ntok)++;
	}
	return 0;
}

static int check_bytes(const char *src, size_t len, struct kerr *err)
{
	size_t line = 1, col = 0;

	for (size_t i = 0; i < len; i++, col++) {
		unsigned char ch = (unsigned char)src[i];
		if (ch == '\n') {
			line++;
			col = 0;
			continue;
		}
		if ((ch < 0x20 && ch != '\t' && ch != '\r') || ch == 0x7f)
			return kerr_set(err, "brown.format", "control byte 0x%02x on line %zu", ch,
					line);
		if (col >= BROWN_LINE_BYTES_MAX)
			return kerr_set(err, "brown.format", "line %zu is over %u bytes", line,
					BROWN_LINE_BYTES_MAX);
	}
	return 0;
}

int brown_detok(const char *src, size_t len, char **out, size_t *out_len, struct brown_stats *st,
		struct kerr *err)
{
	struct brown_stats local = { 0 };
	struct para p = { 0 };
	struct outbuf o = { 0 };
	size_t pos = 0;
	int rc = -1;

	*out = NULL;
	if (!st)
		st = &local;
	memset(st, 0, sizeof *st);
	if (check_bytes(src, len, err) < 0)
		goto out;
	while (pos < len) {
		const char *nl = memchr(src + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - src) : len, ntok, hl, before = p.n;

		if (read_line(src + pos, end - pos, &p, &ntok, &hl, err) < 0)
			goto out;
		pos = end + 1;
		if (ntok == 0) { /* blank line: paragraph break */
			if (emit(&p, &o, &st->paragraphs, err) < 0)
				goto out;
			continue;
		}
		st->tokens += ntok;
		st->lines++;
		/* A headline ("Merger/nn-hl proposed/vbn-hl") often shares a block
		 * with the text under it; it stands alone, as it was printed. */
		if (2 * hl > ntok) {
			/* Two views of disjoint ranges of p.t: what came before in
			 * the block, then the headline itself. */
			struct para body = { p.t, before, p.cap };
			struct para head = { p.t + before, ntok, ntok };
			if (emit(&body, &o, &st->paragraphs, err) < 0 ||
			    emit(&head, &o, &st->paragraphs, err) < 0)
				goto out;
			st->headings++;
			p.n = 0;
		}
	}
	if (emit(&p, &o, &st->paragraphs, err) < 0)
		goto out;
	if (o.n == 0) {
		kerr_set(err, "brown.empty", "no tokens");
		goto out;
	}
	if (out_put(&o, "\n", 1, err) < 0)
		goto out;
	*out = o.p;
	*out_len = o.n;
	o.p = NULL;
	rc = 0;
out:
	free(p.t);
	free(o.p);
	return rc;
}
