/* diffscan_cuda.c: the CUDA part's rules for check 1 (see diffscan_cuda.h
 * and docs/diffscan.md, "The CUDA part"). The tables say what a file of
 * cuda/ may name beyond a flat recipe file; the asm check reads an inline
 * asm template as both assemblers would; the C++ pass finds the code C++
 * runs before main, which a C file can only ask for with an attribute. */
#include "judge/diffscan_cuda.h"
#include "judge/diffscan_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The toolkit's headers for the runtime, bf16/fp16/fp8 types, wmma and
 * cuBLASLt. Not cuda.h: the driver API can load modules from files and
 * look up any driver function by name. */
static const char *const angle_headers[] = {
	"cuda_runtime.h", "cuda_runtime_api.h", "cuda_bf16.h", "cuda_fp16.h", "cuda_fp8.h", "mma.h", "cublasLt.h",
};

/* The harness headers the project's CUDA part is built against: the recipe
 * API and the parser of the pinned algorithm table (gm.c). */
static const char *const harness_headers[] = { "sandbox/recipe_api.h", "sandbox/gemmtab.h" };

/* Runtime and cuBLASLt calls that leave the process's own GPU context:
 * memory or handles shared with other processes, files (cuBLASLt's and the
 * runtime's loggers, libraries loaded by path), host code run on the
 * driver's threads, the driver's own tables, and clocks. */
/* Every entry is a prefix: the runtime exports per-thread-stream and
 * versioned spellings (cudaLaunchHostFunc_ptsz, _v2) of the same call. A
 * graph node of any type (cudaGraphAddNode) can be a host node. */
static const char *const denied_prefixes[] = {
	"cudaLaunchHostFunc", "cudaStreamAddCallback", "cudaGraphAddHostNode", "cudaGraphHostNodeSetParams",
	"cudaGraphExecHostNodeSetParams", "cudaGraphAddNode", "cudaGraphNodeSetParams", "cudaGraphExecNodeSetParams",
	"cudaGraphDebugDotPrint", "cudaDeviceRegisterAsyncNotification", "cudaGetExportTable",
	"cudaEventElapsedTime", "clock64", "cudaIpc", "cudaGetDriverEntryPoint", "cudaImportExternal",
	"cudaExternal", "cudaDestroyExternal", "cudaSignalExternal", "cudaWaitExternal", "cudaMemPoolExport",
	"cudaMemPoolImport", "cudaGraphics", "cudaLibrary", "cudaLogs", "cudaUserObject",
	"cudaGraphRetainUserObject", "cublasLtLogger", "cublasLogger", "cublasSetLogger", "cublasGetLogger",
};

/* CUDA's keywords, types and device intrinsics spelled with a reserved
 * "__" (those spelled __NAME__, like __global__, pass as feature macros
 * do in a flat file). None of them reaches the host. */
static const char *const reserved_names[] = {
	"__cplusplus",	 "__syncthreads", "__syncthreads_count", "__syncthreads_and", "__syncthreads_or",
	"__syncwarp",	 "__activemask",  "__threadfence",	   "__threadfence_block", "__ldg",
	"__ldca",	 "__ldcg",	  "__ldcs",		   "__ldlu",		  "__ldcv",
	"__stwb",	 "__stcg",	  "__stcs",		   "__stwt",		  "__fdividef",
	"__expf",	 "__exp10f",	  "__logf",		   "__log2f",		  "__log10f",
	"__powf",	 "__sinf",	  "__cosf",		   "__tanf",		  "__sincosf",
	"__saturatef",	 "__popc",	  "__popcll",		   "__clz",		  "__clzll",
	"__ffs",	 "__ffsll",	  "__brev",		   "__brevll",		  "__byte_perm",
	"__mul24",	 "__umul24",	  "__mulhi",		   "__umulhi",		  "__mul64hi",
	"__umul64hi",	 "__sad",	  "__usad",		   "__hadd",		  "__rhadd",
	"__uhadd",	 "__urhadd",	  "__isnan",		   "__isinf",		  "__finite",
	"__isGlobal",	 "__isShared",	  "__isConstant",	   "__isLocal",		  "__nv_bfloat16",
	"__nv_bfloat162", "__half",	  "__half2",
};

static const char *const reserved_prefixes[] = {
	"__hadd", "__hsub", "__hmul", "__hfma", "__hdiv", "__dp4a", "__dp2a", "__threadfence", "__ushort_as",
	"__short_as", "__longlong_as", "__hiloint", "__syncthreads",
	"__nv_",   "__shfl_",	"__ballot_", "__all_",	  "__any_",	"__match_", "__reduce_", "__cvta_",
	"__float", "__int2",	"__int_as",  "__uint2",	  "__uint_as",	"__ll2",    "__ull2",	 "__double",
	"__half",  "__bfloat1", "__floats2", "__fadd_",	  "__fsub_",	"__fmul_",  "__fdiv_",	 "__fsqrt_",
	"__frcp_", "__frsqrt_", "__fmaf_",   "__fma_",	  "__dadd_",	"__dsub_",  "__dmul_",	 "__ddiv_",
	"__drcp_", "__dsqrt_",	"__funnelshift_", "__vabs", "__vadd", "__vsub", "__habs",  "__hfma",
	"__hmul",  "__hsub",	"__hdiv",    "__hneg",	  "__hmax",	"__hmin",   "__heq",	 "__hne",
	"__hlt",   "__hgt",	"__hle",     "__hge",	  "__low2",	"__high2",  "__halves2", "__lows2",
	"__highs2",
};

/* PTX instructions by their first component (mma.sync.aligned... is mma).
 * Data movement, arithmetic, conversions, barriers and the tensor-core
 * operations: everything a kernel computes with, and bra for a wait loop
 * inside one statement. Not call, ret or exit (control flow is C++'s),
 * nanosleep or pmevent. The x86 assembler
 * knows a few of these names (mov, and, add), none of which can leave the
 * process; any other line fails to assemble on the host. */
static const char *const ptx_ops[] = {
	"mma",	   "wgmma",   "ldmatrix", "stmatrix", "movmatrix", "cp",	     "ld",	   "ldu",
	"st",	   "mov",     "cvt",	  "cvta",     "fence",	   "membar",	     "bar",	   "barrier",
	"mbarrier", "shfl",   "vote",	  "match",    "redux",	   "activemask",     "elect",	   "atom",
	"red",	   "setp",    "selp",	  "set",      "add",	   "sub",	     "mul",	   "mad",
	"mul24",   "mad24",   "sad",	  "fma",      "div",	   "rem",	     "rcp",	   "sqrt",
	"rsqrt",   "ex2",     "lg2",	  "tanh",     "sin",	   "cos",	     "max",	   "min",
	"bra", /* a wait loop's branch to its own label (mbarrier.try_wait); no x86 instruction */
	"getctarank", "mapa", "trap", /* thread block clusters (sm_90), and a kernel's abort */
	"abs",	   "neg",     "copysign", "and",      "or",	   "xor",	     "not",	   "cnot",
	"shl",	   "shr",     "prmt",	  "bfe",      "bfi",	   "bfind",	     "brev",	   "clz",
	"popc",	   "lop3",    "shf",	  "testp",    "griddepcontrol", "setmaxnreg", "prefetch", "prefetchu",
	"applypriority", "discard", "createpolicy", "isspacep", "dp4a", "dp2a", "fns",
};

/* Special registers that read a clock or a performance counter. */
static const char *const ptx_clocks[] = { "clock", "globaltimer", "%pm", "envreg" };

static int has_prefix_in(const char *const *list, size_t n, const char *s, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(list[i]);

		if (len >= l && !memcmp(s, list[i], l))
			return 1;
	}
	return 0;
}

int dscuda_angle_ok(const char *p, size_t n)
{
	return ds_in_list(angle_headers, COUNT(angle_headers), p, n);
}

int dscuda_harness_header_ok(const char *p, size_t n)
{
	return ds_in_list(harness_headers, COUNT(harness_headers), p, n);
}

int dscuda_denied(const char *s, size_t n)
{
	/* The driver API, cuInit to cuGetProcAddress: cu and a capital. */
	if (n > 2 && s[0] == 'c' && s[1] == 'u' && s[2] >= 'A' && s[2] <= 'Z')
		return 1;
	return has_prefix_in(denied_prefixes, COUNT(denied_prefixes), s, n);
}

int dscuda_reserved_ok(const char *s, size_t n)
{
	return ds_in_list(reserved_names, COUNT(reserved_names), s, n) ||
	       has_prefix_in(reserved_prefixes, COUNT(reserved_prefixes), s, n);
}

/* ------------------------------------------------------------------ */
/* Inline asm                                                          */

#define ASM_TEMPLATE_MAX 8192

/* Appends one plain "..." literal's bytes, escapes decoded, to buf. Only
 * the escapes an asm template needs: any other could spell a byte the
 * scan would have to decode as the assembler does. */
static const char *decode(const struct clex_tok *t, char *buf, size_t *n)
{
	if (t->len < 2 || t->p[0] != '"')
		return "asm template with a prefixed string literal";
	for (size_t i = 1; i + 1 < t->len; i++) {
		char c = t->p[i];

		if (c == '\\') {
			char e = t->p[++i];

			c = e == 'n' ? '\n' : e == 't' ? '\t' : e == '\\' || e == '"' || e == '\'' ? e : 0;
			if (!c)
				return "escape other than \\n \\t \\\\ \\\" \\' in an asm template";
		}
		if (*n >= ASM_TEMPLATE_MAX)
			return "asm template over 8 KiB";
		buf[(*n)++] = c;
	}
	return NULL;
}

static int blank(char c)
{
	return c == ' ' || c == '\t';
}

/* One instruction (a piece between newlines and semicolons), trimmed. */
static const char *check_piece(const char *p, size_t n, char *bad, size_t cap)
{
	size_t k = 0, m;

	while (n && (blank(p[n - 1]) || p[n - 1] == '}'))
		n--;
	while (k < n && (blank(p[k]) || p[k] == '{'))
		k++;
	if (k == n)
		return NULL;
	snprintf(bad, cap, "%.*s", (int)(n - k < 80 ? n - k : 80), p + k);
	for (size_t i = 0; i < COUNT(ptx_clocks); i++)
		if (memmem(p + k, n - k, ptx_clocks[i], strlen(ptx_clocks[i])))
			return "asm reads a clock or a performance counter";
	/* a label: name followed by ':' */
	m = k;
	while (m < n && (p[m] == '_' || p[m] == '$' || p[m] == '%' || p[m] == '=' ||
			 (p[m] >= 'a' && p[m] <= 'z') || (p[m] >= 'A' && p[m] <= 'Z') || (m > k && p[m] >= '0' && p[m] <= '9')))
		m++;
	if (m > k && m < n && p[m] == ':') {
		k = m + 1;
		while (k < n && blank(p[k]))
			k++;
		if (k == n)
			return NULL;
	}
	/* a guard predicate: @p or @!p */
	if (p[k] == '@') {
		while (k < n && !blank(p[k]))
			k++;
		while (k < n && blank(p[k]))
			k++;
		if (k == n)
			return "asm guard without an instruction";
	}
	/* Past the label, a ':' is the assembler's label syntax again
	 * ("mov.x: syscall" is a label to GAS and then its instruction);
	 * PTX writes only "::" (ld.global.L2::128B). */
	for (size_t i = k; i < n; i++) {
		if (p[i] != ':')
			continue;
		if (i + 1 < n && p[i + 1] == ':')
			i++;
		else
			return "asm label the PTX grammar does not have";
	}
	m = k;
	while (m < n && !blank(p[m]))
		m++;
	if (m - k == 4 && !memcmp(p + k, ".reg", 4))
		return NULL; /* a register declaration inside { } */
	{
		size_t h = k;

		while (h < m && p[h] != '.')
			h++;
		if (h > k && ds_in_list(ptx_ops, COUNT(ptx_ops), p + k, h - k))
			return NULL;
	}
	return "asm instruction outside the PTX allowlist";
}

const char *dscuda_asm_template(const struct clex_tok *v, size_t n, char *bad, size_t cap)
{
	static char buf[ASM_TEMPLATE_MAX];
	size_t len = 0, a = 0;
	const char *why;

	bad[0] = '\0';
	if (n == 0)
		return "asm without a string literal template written out";
	for (size_t i = 0; i < n; i++)
		if ((why = decode(&v[i], buf, &len)))
			return why;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && buf[i] != '\n' && buf[i] != ';')
			continue;
		if ((why = check_piece(buf + a, i - a, bad, cap)))
			return why;
		a = i + 1;
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* C++ that runs before main                                           */

enum scope { SC_NS, SC_CLASS, SC_INIT, SC_OTHER };

#define NEST_MAX DIFFSCAN_NEST_MAX /* deeper files are refused by diffscan.c */
#define TYPES_MAX 4096

struct cx {
	const struct clex_tok *v;
	size_t n;
	const struct dscuda_sink *sink;
	enum scope sc[NEST_MAX];
	const struct clex_tok *cname[NEST_MAX]; /* a class scope's name, or NULL */
	int depth;
	const struct clex_tok **types; /* the names the file declares as types */
	size_t ntypes;
};

static int is_w(const struct clex_tok *t, const char *s)
{
	return t->kind == CLEX_IDENT && clex_is(t, s);
}

static int same(const struct clex_tok *a, const struct clex_tok *b)
{
	return a->len == b->len && !memcmp(a->p, b->p, a->len);
}

static enum scope cur(const struct cx *c)
{
	if (c->depth == 0)
		return SC_NS;
	return c->depth <= NEST_MAX ? c->sc[c->depth - 1] : SC_OTHER;
}

static void report(const struct cx *c, const char *code, const struct clex_tok *t, const char *note)
{
	c->sink->find(c->sink->ctx, code, t, note);
}

/* Words whose parenthesised operand is an attribute, a size or a type,
 * never a call: alignas(16), __launch_bounds__(256), sizeof(x). A list,
 * not every __x__: a recipe may name its own function __go__. */
static int operand_word(const struct clex_tok *t)
{
	static const char *const words[] = { "alignas",	      "alignof",      "sizeof",		  "_Alignof",
					     "_Alignas",      "__alignof",    "__alignof__",	  "__attribute__",
					     "__attribute",   "noexcept",     "static_assert",	  "_Static_assert",
					     "__launch_bounds__", "__align__" };

	return t->kind == CLEX_IDENT && ds_in_list(words, COUNT(words), t->p, t->len);
}

/* Token texts in any fixed order, for the sorted list of types. */
static int cmp_tok(const void *a, const void *b)
{
	const struct clex_tok *x = *(const struct clex_tok *const *)a, *y = *(const struct clex_tok *const *)b;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->p, y->p, x->len);
}

/* Type names a declarator's "T (*p)" may follow: the builtin ones and the
 * usual typedefs of the allowed headers; the file's own come from
 * collect_types. */
static int is_type(const struct cx *c, const struct clex_tok *t)
{
	static const char *const words[] = {
		"void",	    "char",	"short",     "int",	  "long",	 "float",	"double",
		"signed",   "unsigned", "bool",	     "auto",	  "size_t",	 "ssize_t",	"ptrdiff_t",
		"intptr_t", "uintptr_t", "int8_t",   "int16_t",	  "int32_t",	 "int64_t",	"uint8_t",
		"uint16_t", "uint32_t", "uint64_t",  "dim3",	  "cudaStream_t", "cudaError_t", "cudaEvent_t",
		"__nv_bfloat16", "__half",
	};

	if (!t || t->kind != CLEX_IDENT)
		return 0;
	if (ds_in_list(words, COUNT(words), t->p, t->len))
		return 1;
	return c->ntypes && bsearch(&t, c->types, c->ntypes, sizeof *c->types, cmp_tok) != NULL;
}

static size_t skip_group(const struct clex_tok *v, size_t i, size_t b, const char *open, const char *close)
{
	int depth = 0;

	for (; i < b; i++) {
		if (ds_punct(&v[i], open))
			depth++;
		else if (ds_punct(&v[i], close) && --depth == 0)
			return i + 1;
	}
	return b;
}

static void add_type(struct cx *c, const struct clex_tok *t)
{
	if (c->types && c->ntypes < TYPES_MAX && t->kind == CLEX_IDENT)
		c->types[c->ntypes++] = t;
}

/* The names the file declares as types: struct, class, union or enum
 * NAME; typename T; using NAME = ...; and a typedef's name (the one after
 * "(*" in a pointer's typedef, else the last before ';' or '['). Without
 * memory for the list every such name counts as a callee, which refuses
 * more, never less. */
static void collect_types(struct cx *c)
{
	const struct clex_tok *v = c->v;

	c->types = malloc(TYPES_MAX * sizeof *c->types);
	for (size_t k = 0; c->types && k + 1 < c->n; k++) {
		if (is_w(&v[k], "struct") || is_w(&v[k], "class") || is_w(&v[k], "union") || is_w(&v[k], "enum") ||
		    is_w(&v[k], "typename")) {
			size_t j = k + 1;

			while (j + 1 < c->n && operand_word(&v[j]) && ds_punct(&v[j + 1], "("))
				j = skip_group(v, j + 1, c->n, "(", ")");
			if (j < c->n)
				add_type(c, &v[j]);
		} else if (is_w(&v[k], "using") && k + 2 < c->n && ds_punct(&v[k + 2], "=")) {
			add_type(c, &v[k + 1]);
		} else if (is_w(&v[k], "typedef")) {
			const struct clex_tok *name = NULL;
			size_t j = k + 1;
			int pd = 0;

			for (; j < c->n && !(pd == 0 && ds_punct(&v[j], ";")); j++) {
				pd += ds_punct(&v[j], "(") - ds_punct(&v[j], ")");
				if (ds_punct(&v[j], "(") && j + 2 < c->n && (ds_punct(&v[j + 1], "*") || ds_punct(&v[j + 1], "&")) &&
				    v[j + 2].kind == CLEX_IDENT && !name)
					name = &v[j + 2];
				if (pd == 0 && v[j].kind == CLEX_IDENT && !name && j + 1 < c->n &&
				    (ds_punct(&v[j + 1], ";") || ds_punct(&v[j + 1], "[")))
					name = &v[j];
			}
			if (name)
				add_type(c, name);
			k = j;
		}
	}
	if (c->ntypes)
		qsort(c->types, c->ntypes, sizeof *c->types, cmp_tok);
}

/* template <...>, access labels (public:), and the specifiers a member or
 * a function carries before its name (__device__, inline, explicit). */
static size_t skip_lead(const struct clex_tok *v, size_t a, size_t b)
{
	static const char *const spec[] = { "inline",	    "explicit",	     "constexpr",	"static",
					    "virtual",	    "friend",	     "__inline",	"__inline__",
					    "__extension__", "__host__",     "__device__",	"__global__",
					    "__forceinline__", "__noinline__", "__managed__", "__constant__" };

	while (a < b) {
		if (is_w(&v[a], "template") && a + 1 < b && ds_punct(&v[a + 1], "<")) {
			int depth = 0;

			for (a++; a < b; a++) {
				depth += ds_punct(&v[a], "<") - ds_punct(&v[a], ">") - 2 * ds_punct(&v[a], ">>");
				if (depth <= 0) {
					a++;
					break;
				}
			}
		} else if ((is_w(&v[a], "public") || is_w(&v[a], "private") || is_w(&v[a], "protected")) &&
			   a + 1 < b && ds_punct(&v[a + 1], ":")) {
			a += 2;
		} else if (v[a].kind == CLEX_IDENT && ds_in_list(spec, COUNT(spec), v[a].p, v[a].len)) {
			a++;
		} else if (operand_word(&v[a]) && a + 1 < b && ds_punct(&v[a + 1], "(")) {
			a = skip_group(v, a + 1, b, "(", ")");
		} else {
			break;
		}
	}
	return a;
}

/* using N = T; where T is a function type declares functions through N
 * unseen, as a typedef of a function type does: a '(' that is neither a
 * pointer's "(*" nor the parameter list after one. */
static void check_using(const struct cx *c, size_t a, size_t b)
{
	const struct clex_tok *v = c->v;
	int angle = 0;

	if (a + 2 >= b || v[a + 1].kind != CLEX_IDENT || !ds_punct(&v[a + 2], "="))
		return;
	for (size_t k = a + 3; k < b; k++) {
		angle += ds_punct(&v[k], "<") - ds_punct(&v[k], ">") - 2 * ds_punct(&v[k], ">>");
		if (angle > 0 || !ds_punct(&v[k], "("))
			continue;
		if (ds_punct(&v[k - 1], ")") || (k + 1 < b && (ds_punct(&v[k + 1], "*") || ds_punct(&v[k + 1], "&"))))
			continue;
		report(c, "judge.extern", &v[a + 1], "(alias of a function type declares functions unseen)");
		return;
	}
}

/* The index after the '>' matching the '<' at v[k], brackets counted
 * outside parentheses only (T<(1 > 0)>), or b. */
static size_t skip_angles(const struct clex_tok *v, size_t k, size_t b)
{
	int angle = 0, pd = 0;

	for (; k < b; k++) {
		pd += ds_punct(&v[k], "(") - ds_punct(&v[k], ")");
		if (pd)
			continue;
		angle += ds_punct(&v[k], "<") - ds_punct(&v[k], ">") - 2 * ds_punct(&v[k], ">>");
		if (angle <= 0)
			return k + 1;
	}
	return b;
}

/* A declaration is written "type name ...": two names before its first
 * '(', '{', '=', ';', '[' or ':', or a type and a pointer's "(*". A
 * constructor has one name ("S(int)"), and so does a macro standing in for
 * a member or a class head ("CTOR() { }", "CLASS(S) { ... }"), which the
 * scan cannot expand. */
static int typed_decl(const struct cx *c, size_t a, size_t b)
{
	const struct clex_tok *v = c->v, *last = NULL;
	int names = 0;
	size_t k;

	for (k = a; k < b; k++) {
		const struct clex_tok *t = &v[k];

		if (operand_word(t) && k + 1 < b && ds_punct(&v[k + 1], "(")) {
			k = skip_group(v, k + 1, b, "(", ")") - 1;
			continue;
		}
		if (ds_punct(t, "(") || ds_punct(t, "{") || ds_punct(t, "=") || ds_punct(t, ";") ||
		    ds_punct(t, "[") || ds_punct(t, ":"))
			break;
		if (ds_punct(t, "<")) {
			k = skip_angles(v, k, b) - 1; /* a template's arguments: one type */
			continue;
		}
		if (t->kind == CLEX_IDENT) {
			names++;
			last = t;
		}
	}
	if (names >= 2)
		return 1;
	return names == 1 && k + 1 < b && ds_punct(&v[k], "(") && (ds_punct(&v[k + 1], "*") || ds_punct(&v[k + 1], "&")) &&
	       is_type(c, last);
}

/* Assignment and increment operators: in an initialiser they run an
 * operator the library may forward to the recipe. */
static int assigns(const struct clex_tok *t)
{
	static const char *const ops[] = { "=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>=", "++", "--" };

	return t->kind == CLEX_PUNCT && ds_in_list(ops, COUNT(ops), t->p, t->len);
}

/* Tokens a call can end with before its '(': a name, a template's
 * arguments (f<int>()), a parenthesised or subscripted callee. */
static int callee_end(const struct clex_tok *t)
{
	return t->kind == CLEX_IDENT || ds_punct(t, ")") || ds_punct(t, "]") || ds_punct(t, ">") || ds_punct(t, ">>");
}

/* Whether the group closed at v[close] is a pointer declarator after a
 * type, "T (*p)", so that a '(' after it opens its function type's
 * parameters; otherwise "(f)(" and "(*fp)(" call. */
static int pointer_group(const struct cx *c, size_t a, size_t close)
{
	const struct clex_tok *v = c->v;
	int depth = 0;

	for (size_t o = close + 1; o-- > a;) {
		depth += ds_punct(&v[o], ")") - ds_punct(&v[o], "(");
		if (depth == 0)
			return o > a && o + 1 < close && (ds_punct(&v[o + 1], "*") || ds_punct(&v[o + 1], "&")) &&
			       is_type(c, &v[o - 1]);
	}
	return 0;
}

/* Whether v[a..b) has a '(' outside alignas(...) and the like. */
static int has_paren(const struct clex_tok *v, size_t a, size_t b)
{
	for (size_t k = a; k < b; k++) {
		if (operand_word(&v[k]) && k + 1 < b && ds_punct(&v[k + 1], "(")) {
			k = skip_group(v, k + 1, b, "(", ")") - 1;
			continue;
		}
		if (ds_punct(&v[k], "("))
			return 1;
	}
	return 0;
}

/* One declaration at namespace or class scope, v[a..b): what C++ would run
 * to initialise it, before main for a namespace-scope object. */
static void check_decl(const struct cx *c, size_t a, size_t b, enum scope sc, const struct clex_tok *cname)
{
	const struct clex_tok *v = c->v;
	int pd = 0, after_eq = 0, declarator = 0, in_decl = 0;

	a = skip_lead(v, a, b);
	if (a >= b)
		return;
	if (is_w(&v[a], "using")) {
		check_using(c, a, b);
		return;
	}
	if (is_w(&v[a], "typedef") || is_w(&v[a], "namespace") || is_w(&v[a], "template") || is_w(&v[a], "enum") ||
	    is_w(&v[a], "static_assert"))
		return;
	if (sc == SC_CLASS &&
	    (ds_punct(&v[a], "~") || (cname && a + 1 < b && same(&v[a], cname) && ds_punct(&v[a + 1], "(")))) {
		report(c, "judge.constructor", &v[a],
		       "(constructor or destructor: C++ runs it for every object, a global's before main)");
		return;
	}
	if ((sc == SC_CLASS || has_paren(v, a, b)) && !typed_decl(c, a, b)) {
		report(c, "judge.constructor", &v[a],
		       "(a declaration without a type and a name: a constructor, or a macro standing in for one)");
		return;
	}
	for (size_t k = a; k < b; k++) {
		const struct clex_tok *t = &v[k], *prev = k > a ? &v[k - 1] : NULL;

		if (after_eq && assigns(t)) {
			/* *it = 42 runs a library operator= that may call the recipe */
			report(c, "judge.constructor", t, "(an assignment in an initialiser at namespace or class scope)");
			return;
		} else if (pd == 0 && ds_punct(t, "=")) {
			after_eq = 1;
		} else if (pd == 0 && ds_punct(t, ",")) {
			after_eq = 0;
			declarator = 0;
		} else if (ds_punct(t, ")")) {
			pd -= pd > 0;
			if (pd < in_decl)
				in_decl = 0;
		} else if (ds_punct(t, "(")) {
			int call = 0, pointer = k + 1 < b && (ds_punct(&v[k + 1], "*") || ds_punct(&v[k + 1], "&"));

			if (prev && operand_word(prev)) {
				k = skip_group(v, k, b, "(", ")") - 1;
				continue;
			}
			if (prev && is_w(prev, "operator") && k + 1 < b && ds_punct(&v[k + 1], ")")) {
				k++; /* the "()" of the name operator() */
				continue;
			}
			/* operator()'s parameters follow its "()" */
			int functor = prev && ds_punct(prev, ")") && k >= a + 3 && ds_punct(&v[k - 2], "(") &&
				      is_w(&v[k - 3], "operator");

			if (!prev) {
				call = 0;
			} else if ((prev->kind == CLEX_IDENT || ds_punct(prev, ">") || functor) && !after_eq && pd == 0 &&
				   !declarator && !(pointer && is_type(c, prev))) {
				/* the name's parameters (f<float>( for a specialisation),
				 * or a direct initialiser, whose calls the cases below see */
				declarator = 1;
				in_decl = 1;
			} else if (after_eq) {
				call = callee_end(prev);
			} else if (prev->kind == CLEX_IDENT) {
				/* int (*cb)(int) declares; f(x) and f(&x) call */
				call = !(pointer && is_type(c, prev));
			} else if (ds_punct(prev, ")")) {
				call = !pointer_group(c, a, k - 1);
			} else {
				call = callee_end(prev);
			}
			if (call) {
				report(c, "judge.constructor", prev,
				       "(a call in an initialiser at namespace or class scope runs before main)");
				return;
			}
			pd++;
		}
	}
}

/* Inside braces that initialise a namespace- or class-scope object:
 * nothing may be called, nothing assigned but a designator's ".x = 1". */
static void check_init_assign(const struct cx *c, size_t k)
{
	const struct clex_tok *v = c->v;

	if (!assigns(&v[k]))
		return;
	if (ds_punct(&v[k], "=") && k >= 2 && v[k - 1].kind == CLEX_IDENT && ds_punct(&v[k - 2], "."))
		return;
	report(c, "judge.constructor", &v[k], "(an assignment in an initialiser at namespace scope)");
}

static void check_init_paren(const struct cx *c, size_t k)
{
	const struct clex_tok *prev = k > 0 ? &c->v[k - 1] : NULL;

	if (!prev || operand_word(prev))
		return;
	if (callee_end(prev))
		report(c, "judge.constructor", prev, "(a call in an initialiser at namespace scope runs before main)");
}

/* struct [alignas(...)] [NAME] [final] { or : bases {: a class's head,
 * whatever its bases hold; anything else after the keyword (a '*', a
 * second name, a '(') is a function returning the struct or an object. */
static int class_head(const struct clex_tok *v, size_t f, size_t i, const struct clex_tok **cname)
{
	size_t k = f + 1;

	while (k + 1 < i && operand_word(&v[k]) && ds_punct(&v[k + 1], "("))
		k = skip_group(v, k + 1, i, "(", ")");
	if (k < i && v[k].kind == CLEX_IDENT && !is_w(&v[k], "final"))
		*cname = &v[k++];
	if (k < i && ds_punct(&v[k], "<"))
		k = skip_angles(v, k, i); /* an explicit specialisation: T<(1)> */
	if (k < i && is_w(&v[k], "final"))
		k++;
	return k == i || ds_punct(&v[k], ":");
}

/* The scope a '{' at v[i] opens, the statement before it being v[a..i). */
static enum scope opens(const struct cx *c, size_t a, size_t i, const struct clex_tok **cname)
{
	const struct clex_tok *v = c->v;
	size_t f = skip_lead(v, a, i);
	int pd = 0;

	*cname = NULL;
	if (f < i && is_w(&v[f], "typedef"))
		f++;
	/* after template <... = 256>, where '=' is a default argument */
	for (size_t k = f; k < i; k++) {
		pd += ds_punct(&v[k], "(") - ds_punct(&v[k], ")");
		if (pd == 0 && ds_punct(&v[k], "="))
			return SC_INIT;
	}
	if (pd > 0)
		return SC_INIT; /* int v(0 + int{f()}): a braced value inside parentheses */
	if (f < i && (is_w(&v[f], "namespace") || (is_w(&v[f], "inline") && f + 1 < i && is_w(&v[f + 1], "namespace"))))
		return SC_NS;
	/* extern "C" { opens a linkage block; extern "C" int f() { a body */
	if (f + 2 == i && is_w(&v[f], "extern") && v[f + 1].kind == CLEX_STRING)
		return SC_NS;
	if (f < i && (is_w(&v[f], "struct") || is_w(&v[f], "class") || is_w(&v[f], "union"))) {
		const struct clex_tok *name = NULL;

		if (class_head(v, f, i, &name)) {
			*cname = name;
			return SC_CLASS;
		}
	}
	if (has_paren(v, f, i))
		return SC_OTHER; /* a function's body */
	if (f < i && is_w(&v[f], "enum"))
		return SC_OTHER;
	return f < i ? SC_INIT : SC_OTHER; /* T x{...}, or a bare block */
}

static void push(struct cx *c, enum scope sc, const struct clex_tok *cname)
{
	if (c->depth < NEST_MAX) {
		c->sc[c->depth] = sc;
		c->cname[c->depth] = cname;
	}
	c->depth++;
}

void dscuda_cxx_scan(const struct clex_tok *v, size_t n, const struct dscuda_sink *sink)
{
	struct cx c = { .v = v, .n = n, .sink = sink };
	size_t start = 0;
	int pd = 0;

	collect_types(&c);

	for (size_t i = 0; i < n; i++) {
		enum scope sc = cur(&c);
		int decl_scope = sc == SC_NS || sc == SC_CLASS;
		const struct clex_tok *cname = c.depth > 0 && c.depth <= NEST_MAX ? c.cname[c.depth - 1] : NULL;

		if (v[i].kind != CLEX_PUNCT)
			continue;
		if (sc == SC_INIT)
			check_init_assign(&c, i);
		if (ds_punct(&v[i], "(")) {
			if (sc == SC_INIT)
				check_init_paren(&c, i);
			pd++;
		} else if (ds_punct(&v[i], ")")) {
			pd -= pd > 0;
		} else if (ds_punct(&v[i], "{")) {
			const struct clex_tok *name = NULL;
			enum scope next = SC_OTHER;

			if (sc == SC_INIT) {
				next = SC_INIT;
			} else if (decl_scope) {
				next = opens(&c, start, i, &name);
				if (next == SC_OTHER || next == SC_INIT)
					check_decl(&c, start, i, sc, cname);
			}
			push(&c, next, name);
			start = i + 1;
			pd = 0;
		} else if (ds_punct(&v[i], "}")) {
			if (decl_scope && i > start)
				check_decl(&c, start, i, sc, cname);
			c.depth -= c.depth > 0;
			start = i + 1;
			pd = 0;
			/* [] { ... }(): an initialiser's lambda, called on the spot */
			if ((cur(&c) == SC_NS || cur(&c) == SC_CLASS) && i + 1 < n && ds_punct(&v[i + 1], "("))
				report(&c, "judge.constructor", &v[i],
				       "(a call in an initialiser at namespace or class scope runs before main)");
		} else if (ds_punct(&v[i], ";") && pd == 0) {
			if (decl_scope)
				check_decl(&c, start, i, sc, cname);
			start = i + 1;
		}
	}
	if (cur(&c) == SC_NS || cur(&c) == SC_CLASS)
		check_decl(&c, start, n, cur(&c), NULL);
	free(c.types);
}
