/* diffscan_decl.c: the diff scan's declaration reading (docs/diffscan.md,
 * "Extern and declarations"). Owns finding the functions a recipe's file
 * declares and defines (a statement-level reading of the token stream,
 * not a parser), the allocator names a recipe may not define, and the
 * check across a tree that every declared function has a definition in
 * it. diffscan.c calls it on each file's code and each macro body;
 * diffscan_tree.c resolves what a whole tree gathered. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "judge/clex.h"
#include "judge/diffscan_int.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Functions a recipe may not define: the C library's allocator. A
 * definition replaces it for the whole process, so the libraries' own
 * constructors (OpenBLAS, OpenMP, the CUDA runtime) would run recipe code
 * before main. */
static const char *const interposed[] = {
	"malloc", "calloc", "realloc", "reallocarray", "free", "aligned_alloc", "posix_memalign", "memalign",
	"valloc", "pvalloc", "malloc_usable_size",
};

/* Why: without `extern`, a plain prototype still declares an external
 * function ("long splice(int, ...);" links against the C library). So the
 * tree check requires every function declared in the recipe to be defined
 * in the recipe. This is a statement-level reading, not a parser: it finds
 * declarations that start with a specifier or a type name. */

/* Words that start a declaration. */
static const char *const decl_specifiers[] = {
	"void", "char", "short", "int", "long", "float", "double", "signed", "unsigned", "_Bool",
	"_Complex", "struct", "union", "enum", "const", "volatile", "restrict", "static", "extern",
	"register", "auto", "inline", "_Thread_local", "__thread", "_Noreturn", "_Alignas", "_Atomic",
	"typedef", "__int128", "__fp16", "__bf16", "__float128", "__inline", "__inline__",
	"__restrict", "__restrict__", "__const", "__const__", "__volatile", "__volatile__", "__signed",
	"__signed__", "__auto_type", "__extension__",
};

/* Words whose parenthesised operand is not a declarator. */
static const char *const paren_operators[] = {
	"__attribute__", "__attribute", "_Alignas", "_Atomic", "_Alignof", "__alignof", "__alignof__",
	"sizeof", "typeof", "__typeof", "__typeof__", "_Pragma", "_Static_assert", "asm", "__asm",
	"__asm__", "alignas", "__align__", "__launch_bounds__",
};

/* Braces nested deeper than this only lose the paren depth they restore. */
#define DECL_NEST_MAX DIFFSCAN_NEST_MAX

void diffscan_decl_add(struct decls *d, const char *file, const struct clex_tok *t, enum decl_kind kind)
{
	struct decl *e;

	if (!d || d->oom)
		return;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		struct decl *v = realloc(d->v, cap * sizeof *v);

		if (!v) {
			d->oom = 1;
			return;
		}
		d->v = v;
		d->cap = cap;
	}
	e = &d->v[d->n];
	e->name = strndup(t->p, t->len);
	if (!e->name) {
		d->oom = 1;
		return;
	}
	snprintf(e->file, sizeof e->file, "%s", file);
	e->line = t->line;
	e->kind = kind;
	d->n++;
}

void diffscan_decls_free(struct decls *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].name);
	free(d->v);
}

/* Index after the ')' matching the '(' at v[i] (or b). */
static size_t skip_parens(const struct clex_tok *v, size_t i, size_t b)
{
	int depth = 0;

	for (; i < b; i++) {
		if (ds_punct(&v[i], "("))
			depth++;
		else if (ds_punct(&v[i], ")") && --depth == 0)
			return i + 1;
	}
	return b;
}

static int is_paren_operator(const struct clex_tok *v, size_t i, size_t b)
{
	return v[i].kind == CLEX_IDENT && i + 1 < b && ds_punct(&v[i + 1], "(") &&
	       ds_in_list(paren_operators, COUNT(paren_operators), v[i].p, v[i].len);
}

static int is_word(const struct clex_tok *t, const char *const *list, size_t n)
{
	return t->kind == CLEX_IDENT && ds_in_list(list, n, t->p, t->len);
}

/* name( or (name)( : the name of a function declarator. (*name)( is a
 * pointer, an object, and does not count. */
static int function_declarator(const struct clex_tok *v, size_t a, size_t i, size_t b)
{
	/* The statement's first word is its type: "T (name)(void)". */
	if (i == a)
		return 0;
	if (i + 1 < b && ds_punct(&v[i + 1], "("))
		return 1;
	return i > a && ds_punct(&v[i - 1], "(") && i + 2 < b && ds_punct(&v[i + 1], ")") &&
	       ds_punct(&v[i + 2], "(");
}

static int is_macro_param(const struct scan *s, const struct clex_tok *t)
{
	for (size_t i = 0; i < s->nmparams; i++)
		if (s->mparams[i].kind == CLEX_IDENT && s->mparams[i].len == t->len &&
		    !memcmp(s->mparams[i].p, t->p, t->len))
			return 1;
	return 0;
}

/* A function declarator found: body, a definition follows; internal, it
 * has internal linkage; clink, C linkage. Only C declarations can reach
 * the C library (a C++ one has a mangled name no library symbol has); a
 * static one too, as GCC refers to a static function it never saw
 * defined by its plain name. */
static void decl_found(struct scan *s, const struct clex_tok *t, int body, int is_typedef, int internal, int clink)
{
	if (s->nmparams && is_macro_param(s, t)) {
		if (!body)
			diffscan_find_tok(s, "judge.macro_hides", t, "(macro declares a function named by its argument)");
		return;
	}
	if (is_typedef) {
		diffscan_find_tok(s, "judge.extern", t, "(typedef of a function type declares functions unseen)");
		return;
	}
	if (body && ds_in_list(interposed, COUNT(interposed), t->p, t->len)) {
		diffscan_find_tok(s, "judge.constructor", t, "(replaces the C library's allocator, which runs before main)");
		return;
	}
	if (!clink)
		return;
	diffscan_decl_add(s->decls, s->file, t, !body ? DECL_DECLARED : internal ? DECL_LOCAL : DECL_DEFINED);
}

/* Whether the statement at v[a] starts like a declaration: a specifier,
 * or a type name followed by a name, a '*' or "(name)(". */
static int starts_declaration(const struct clex_tok *v, size_t a, size_t b)
{
	const struct clex_tok *t = &v[a];

	if (t->kind != CLEX_IDENT)
		return 0;
	if (is_word(t, decl_specifiers, COUNT(decl_specifiers)))
		return 1;
	if (diffscan_is_keyword(t))
		return 0; /* return x; goto out; sizeof x; */
	if (a + 1 < b && (v[a + 1].kind == CLEX_IDENT || ds_punct(&v[a + 1], "*")))
		return 1;
	return a + 4 < b && ds_punct(&v[a + 1], "(") && v[a + 2].kind == CLEX_IDENT &&
	       ds_punct(&v[a + 3], ")") && ds_punct(&v[a + 4], "(");
}

/* In C++, "T x(1, 2)" is an object with a direct initialiser, not a
 * function: a parameter list holds no literal outside a default argument,
 * an array bound or a template's arguments (P<1> *). The '(' is v[i]. */
static int cxx_direct_init(const struct clex_tok *v, size_t i, size_t b)
{
	int paren = 0, bracket = 0, angle = 0, after_eq = 0;

	for (; i < b; i++) {
		const struct clex_tok *t = &v[i];

		paren += ds_punct(t, "(") - ds_punct(t, ")");
		bracket += ds_punct(t, "[") - ds_punct(t, "]");
		/* a template's brackets at the parameters' own level: X<(0 > 1), 1>
		 * keeps its '>' inside the parentheses */
		if (paren == 1 && bracket == 0)
			angle += ds_punct(t, "<") - (angle > 0 && ds_punct(t, ">"));
		if (paren == 0)
			return 0;
		if (paren == 1 && bracket == 0 && angle == 0 && ds_punct(t, ","))
			after_eq = 0;
		else if (paren == 1 && bracket == 0 && ds_punct(t, "="))
			after_eq = 1;
		else if (paren == 1 && bracket == 0 && angle == 0 && !after_eq &&
			 (t->kind == CLEX_NUMBER || t->kind == CLEX_STRING || t->kind == CLEX_CHAR))
			return 1;
	}
	return 0;
}

/* One statement v[a..b); body: a '{' follows it (a definition if it
 * declares a function). Records the first function declarator of each
 * comma-separated declarator, ignoring initialisers and array sizes. */
/* Where a statement sits, for decl_statement: in C++, inside an extern
 * "C" region (C linkage) or an unnamed namespace (internal linkage); in C,
 * inside a function body (where a definition is a GNU nested function). */
struct decl_where {
	int clink, anon, nested;
};

static void decl_statement(struct scan *s, const struct clex_tok *v, size_t a, size_t b, int body,
			   const struct decl_where *w)
{
	int paren = 0, bracket = 0, after_eq = 0, found = 0, is_typedef = 0, internal = 0, clink;

	while (a < b && (clex_is(&v[a], "__extension__") || is_paren_operator(v, a, b)))
		a = clex_is(&v[a], "__extension__") ? a + 1 : skip_parens(v, a + 1, b);
	/* ::size_t f(...), std::size_t f(...), T<int>::type f(...): in C++ a
	 * qualified type name; read from its last component */
	while (s->cxx && a < b) {
		size_t q = a;

		if (v[q].kind == CLEX_IDENT && q + 1 < b && ds_punct(&v[q + 1], "<"))
			for (int angle = 0; q + 1 < b; q++) {
				angle += ds_punct(&v[q + 1], "<") - ds_punct(&v[q + 1], ">") - 2 * ds_punct(&v[q + 1], ">>");
				if (angle <= 0) {
					q++;
					break;
				}
			}
		if (ds_punct(&v[q], ":") && q + 1 < b && ds_punct(&v[q + 1], ":") && q == a)
			a = q + 2; /* a leading :: */
		else if (q + 2 < b && (v[q].kind == CLEX_IDENT || ds_punct(&v[q], ">")) && ds_punct(&v[q + 1], ":") &&
			 ds_punct(&v[q + 2], ":"))
			a = q + 3; /* name:: or name<...>:: */
		else
			break;
	}
	if (a >= b || !starts_declaration(v, a, b))
		return;
	clink = !s->cxx || w->clink || (a + 1 < b && clex_is(&v[a], "extern") && v[a + 1].kind == CLEX_STRING);
	internal = s->cxx && w->anon;
	for (size_t i = a; i < b; i++) {
		const struct clex_tok *t = &v[i];

		if (is_paren_operator(v, i, b)) {
			i = skip_parens(v, i + 1, b) - 1;
		} else if (t->kind == CLEX_PUNCT) {
			paren += ds_punct(t, "(") - ds_punct(t, ")");
			bracket += ds_punct(t, "[") - ds_punct(t, "]");
			if (paren == 0 && bracket == 0 && ds_punct(t, ","))
				after_eq = found = 0;
			else if (paren == 0 && bracket == 0 && ds_punct(t, "="))
				after_eq = 1;
		} else if (t->kind == CLEX_IDENT && clex_is(t, "typedef")) {
			is_typedef = 1;
		} else if (t->kind == CLEX_IDENT && clex_is(t, "static") && !found) {
			internal = 1;
		} else if (t->kind == CLEX_IDENT && !after_eq && !found && bracket == 0 &&
			   !diffscan_is_keyword(t) &&
			   !is_word(t, decl_specifiers, COUNT(decl_specifiers)) &&
			   function_declarator(v, a, i, b)) {
			found = 1;
			/* an extern declaration is never an object's initialiser */
			if (s->cxx && !clex_is(&v[a], "extern") && i + 1 < b && cxx_direct_init(v, i + 1, b))
				continue;
			/* GCC's nested functions make the stack executable */
			if (body && w->nested)
				diffscan_find_tok(s, "judge.nested_function", t, "(a function defined inside a function)");
			decl_found(s, t, body, is_typedef, internal, clink);
		}
	}
}

/* Whether the '{' ending the statement v[a..i) opens an extern "C"
 * block (the '{' right after the string: extern "C" int f() { is a body). */
static int opens_linkage(const struct clex_tok *v, size_t a, size_t i)
{
	return a + 2 == i && clex_is(&v[a], "extern") && v[a + 1].kind == CLEX_STRING;
}

/* Whether it opens a namespace or a linkage block, whose declarations are
 * still at namespace scope. */
static int opens_namespace(const struct clex_tok *v, size_t a, size_t i)
{
	return a < i && ((v[a].kind == CLEX_IDENT && clex_is(&v[a], "namespace")) || opens_linkage(v, a, i));
}

/* Splits v[a..b) into statements at ';' (outside parentheses), '{' and
 * '}'. A brace inside parentheses (a statement expression) opens a fresh
 * statement level, so declarations hidden in ({ ... }) are seen too. In
 * C++ only declarations at namespace scope count, and at block scope
 * inside an extern "C" block: elsewhere a block-scope "T x(n);" is an
 * object, and a function C++ declares there has C++ linkage, which no C
 * library symbol has; inside extern "C" it has C linkage like any C
 * declaration. */
void diffscan_decl_scan(struct scan *s, const struct clex_tok *v, size_t a, size_t b)
{
	int stack[DECL_NEST_MAX], inner[DECL_NEST_MAX], clinks[DECL_NEST_MAX], anons[DECL_NEST_MAX], depth = 0, paren = 0,
						      blocks = 0;
	struct decl_where w = { 0, 0, 0 };
	size_t start = a;

	for (size_t i = a; i < b; i++) {
		const struct clex_tok *t = &v[i];

		if (t->kind != CLEX_PUNCT)
			continue;
		if (ds_punct(t, "(")) {
			paren++;
		} else if (ds_punct(t, ")")) {
			paren -= paren > 0;
		} else if (ds_punct(t, "{")) {
			int block = s->cxx && !opens_namespace(v, start, i);
			/* extern "C" { and extern "C" int f() { : C linkage inside,
			 * for declarations at block scope too */
			int linkage = s->cxx && start + 1 < i && clex_is(&v[start], "extern") &&
				      v[start + 1].kind == CLEX_STRING;
			int anon = s->cxx && start + 1 == i && clex_is(&v[start], "namespace");

			w.nested = !s->cxx && depth > 0;
			if (!s->cxx || !blocks || w.clink)
				decl_statement(s, v, start, i, i > start && ds_punct(&v[i - 1], ")"), &w);
			if (depth < DECL_NEST_MAX) {
				stack[depth] = paren;
				inner[depth] = block;
				clinks[depth] = linkage;
				anons[depth] = anon;
			}
			blocks += block;
			w.clink += linkage;
			w.anon += anon;
			depth++;
			paren = 0;
			start = i + 1;
		} else if (ds_punct(t, "}")) {
			w.nested = !s->cxx && depth > 0;
			if (!s->cxx || !blocks || w.clink)
				decl_statement(s, v, start, i, 0, &w);
			if (depth > 0) {
				depth--;
				paren = depth < DECL_NEST_MAX ? stack[depth] : 0;
				blocks -= depth < DECL_NEST_MAX ? inner[depth] : 0;
				w.clink -= depth < DECL_NEST_MAX ? clinks[depth] : 0;
				w.anon -= depth < DECL_NEST_MAX ? anons[depth] : 0;
			}
			start = i + 1;
		} else if (ds_punct(t, ";") && paren == 0) {
			w.nested = !s->cxx && depth > 0;
			if (!s->cxx || !blocks || w.clink)
				decl_statement(s, v, start, i, 0, &w);
			start = i + 1;
		}
	}
	w.nested = !s->cxx && depth > 0;
	if (!s->cxx || !blocks || w.clink)
		decl_statement(s, v, start, b, 0, &w);
}

static int cmp_decl_ptr(const void *a, const void *b)
{
	return strcmp((*(struct decl *const *)a)->name, (*(struct decl *const *)b)->name);
}

/* Across the whole tree: every declared function is defined somewhere in
 * it. A declared name that is a function-like macro is a macro standing in
 * a declarator. Fills f with the first violation; 0 when there is none. */
int diffscan_decls_resolve(struct decls *d, struct diffscan_finding *f, struct kerr *err)
{
	struct decl **known = NULL, key, *pkey = &key;
	size_t nk = 0;
	int found = 0;

	if (d->oom)
		return kerr_set(err, "judge.oom", "out of memory recording declarations");
	known = malloc((d->n + 1) * sizeof *known);
	if (!known)
		return kerr_set(err, "judge.oom", "out of memory resolving declarations");
	for (size_t i = 0; i < d->n; i++)
		if (d->v[i].kind != DECL_DECLARED)
			known[nk++] = &d->v[i];
	qsort(known, nk, sizeof *known, cmp_decl_ptr);
	for (size_t i = 0; i < d->n && !found; i++) {
		struct decl *e = &d->v[i], **hit;
		int macro = 0;

		if (e->kind != DECL_DECLARED)
			continue;
		key.name = e->name;
		hit = bsearch(&pkey, known, nk, sizeof *known, cmp_decl_ptr);
		if (hit) {
			/* Several entries may share the name: an external definition
			 * satisfies the declaration, unless a macro of that name
			 * anywhere can make the two different functions. */
			struct decl **lo = hit, **hi = hit;
			int defined = 0;

			while (lo > known && !strcmp((lo[-1])->name, e->name))
				lo--;
			while (hi + 1 < known + nk && !strcmp((hi[1])->name, e->name))
				hi++;
			/* a static definition serves its own file only */
			for (struct decl **p = lo; p <= hi; p++) {
				defined |= (*p)->kind == DECL_DEFINED ||
					   ((*p)->kind == DECL_LOCAL && !strcmp((*p)->file, e->file));
				macro |= (*p)->kind == DECL_MACRO;
			}
			if (defined && !macro)
				continue;
		}
		memset(f, 0, sizeof *f);
		snprintf(f->code, sizeof f->code, "%s", macro ? "judge.macro_hides" : "judge.extern");
		snprintf(f->file, sizeof f->file, "%s", e->file);
		f->line = e->line;
		snprintf(f->what, sizeof f->what, "%.100s %s", e->name,
			 macro ? "(a macro's name used as a declarator)"
			       : "(declared but never given an external definition in the recipe)");
		found = 1;
	}
	free(known);
	return found;
}
