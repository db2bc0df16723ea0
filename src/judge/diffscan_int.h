/* diffscan_int.h: what the diff scan's file scanner (diffscan.c), its
 * declaration reading (diffscan_decl.c) and its folder walk
 * (diffscan_tree.c) share, and nothing else includes: one file's scan
 * state, the declarations gathered across a tree, and their resolution.
 * The public interface is diffscan.h. */
#ifndef KARPA_DIFFSCAN_INT_H
#define KARPA_DIFFSCAN_INT_H

#include <stddef.h>
#include <string.h>

#include "judge/clex.h"
#include "judge/diffscan.h"
#include "util/kerr.h"

/* Braces or parentheses nested deeper than this refuse the file
 * (judge.too_large): the scope walks keep a fixed stack, and a level they
 * could not track would lose what it opened. Honest code nests a handful. */
#define DIFFSCAN_NEST_MAX 256

/* Nested conditional directives a CUDA file may open (GCC allows more;
 * a recipe needs a few). */
#define DIFFSCAN_COND_MAX 64

struct toks {
	struct clex_tok *v;
	size_t n, cap;
};

/* DECL_LOCAL: a definition with internal linkage (static, or in C++'s
 * unnamed namespace), which satisfies no declaration elsewhere. */
enum decl_kind { DECL_DECLARED, DECL_DEFINED, DECL_LOCAL, DECL_MACRO };

struct decl {
	char *name;
	char file[128];
	int line;
	enum decl_kind kind;
};

/* Every function name the recipe declares or defines, across its files. */
struct decls {
	struct decl *v;
	size_t n, cap;
	int oom;
};

struct scan {
	const char *file;
	struct diffscan_finding *out;
	int cap, n;
	const struct clex_tok *define; /* the macro name while checking a #define body */
	char **tree;                   /* flat file names of the recipe, or NULL */
	size_t ntree;
	struct decls *decls;           /* functions declared and defined, or NULL */
	const struct clex_tok *mparams; /* a function-like macro's parameters */
	size_t nmparams;
	int cuda;                      /* a file of the CUDA part (diffscan_cuda.h) */
	int cxx;                       /* of it, C++ for nvcc (.cu, .cuh) */
	char **top;                    /* for a CUDA file, the flat files at the top */
	size_t ntop;
	const struct clex_tok *all;    /* the file's whole token stream, directives included */
	size_t nall;
	/* A CUDA file's code structure where each conditional directive opened:
	 * its branches must keep it (diffscan.md, "The CUDA part"). */
	int brace, paren;
	int low_brace, low_paren;      /* the lowest either went in the file */
	int high_brace, high_paren;    /* and the highest */
	const struct clex_tok *last_code;
	struct toks *code;             /* the code tokens read so far */
	struct {
		int brace, paren, cplusplus;
		int low_brace, low_paren; /* the lowest either went in this branch */
		size_t code;
	} cond[DIFFSCAN_COND_MAX];
	int ncond;
};

static inline int ds_in_list(const char *const *list, size_t n, const char *s, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(list[i]) == len && !memcmp(list[i], s, len))
			return 1;
	return 0;
}

static inline int ds_punct(const struct clex_tok *t, const char *p)
{
	return t->kind == CLEX_PUNCT && clex_is(t, p);
}

/* A C11 or GNU keyword. */
int diffscan_is_keyword(const struct clex_tok *t);
/* Records a finding at t with its text (and note, if any) in s->out. */
void diffscan_find_tok(struct scan *s, const char *code, const struct clex_tok *t, const char *note);

/* Reads the declarations in v[a..b) (a file's code, or a macro body) into
 * s->decls, and finds there what no declaration may be: a nested function
 * (judge.nested_function), an allocator defined (judge.constructor), a
 * typedef of a function type (judge.extern), a macro parameter as a
 * declarator (judge.macro_hides). */
void diffscan_decl_scan(struct scan *s, const struct clex_tok *v, size_t a, size_t b);
/* Records one name in d; an allocation failure sets d->oom, which
 * diffscan_decls_resolve reports. */
void diffscan_decl_add(struct decls *d, const char *file, const struct clex_tok *t, enum decl_kind kind);

/* Scans one file's text with s's rules (s->cuda, s->cxx) and tree; the
 * number of findings written to s->out, or -1 with err. */
int diffscan_scan_text(struct scan *s, const char *text, size_t len, struct kerr *err);
/* .cu and .cuh: C++ for nvcc. */
int diffscan_is_cxx_name(const char *n);
/* Across a tree: every declared function is defined somewhere in it. Fills
 * f with the first violation and returns 1; 0 when there is none; -1 with
 * err (judge.oom). */
int diffscan_decls_resolve(struct decls *d, struct diffscan_finding *f, struct kerr *err);
void diffscan_decls_free(struct decls *d);

#endif
