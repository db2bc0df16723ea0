/* test_diffscan.c: the diff scan against recipe files that try to escape a
 * pure function of their inputs. Each case names the attack and asserts the
 * reason code it must get; the clean cases (an honest recipe file, the
 * project's own recipe) assert zero findings, so a scan that refuses
 * everything fails here too. */
#include "scan_fixture.h"

#include <sys/stat.h>

static void scan(const char *text, struct result *r)
{
	scan_with(diffscan_c_file, "attack.c", text, r);
}

/* Index of the first finding with this code, or -1. */
static int has(const struct result *r, const char *code)
{
	return scan_has(r, code, NULL);
}

/* The scan must report `code`, and the construct must mention `what`. */
static void expect(const char *text, const char *code, const char *what)
{
	struct result r;
	int i;

	scan(text, &r);
	i = has(&r, code);
	if (i < 0)
		scan_dump(&r);
	assert_true(i >= 0);
	if (what)
		assert_non_null(strstr(r.f[i].what, what));
}

static void expect_clean(const char *text)
{
	struct result r;

	scan(text, &r);
	if (r.n != 0)
		scan_dump(&r);
	assert_int_equal(r.n, 0);
}

/* ---- processes, system calls, assembly ---- */

static void test_syscall_inline(void **state)
{
	expect("#include <stdlib.h>\nvoid f(void) { syscall(1, 1, \"x\", 1); }\n", "judge.forbidden_call",
	       "syscall");
}

static void test_asm_volatile(void **state)
{
	expect("void f(void) { asm volatile(\"syscall\" ::: \"memory\"); }\n", "judge.inline_asm", "asm");
}

static void test_gnu_asm(void **state)
{
	expect("int f(int x) { __asm__ __volatile__(\"\" : \"+r\"(x)); return x; }\n", "judge.inline_asm",
	       "__asm__");
}

static void test_system_via_function_pointer(void **state)
{
	expect("#include <stdlib.h>\nint (*p)(const char *) = &system;\n", "judge.forbidden_call",
	       "system");
}

/* ---- sockets, files, dynamic loading ---- */

static void test_socket(void **state)
{
	expect("int f(void) { return socket(2, 1, 0); }\n", "judge.forbidden_call", "socket");
}

static void test_fopen(void **state)
{
	expect("#include <stdio.h>\nvoid f(void) { FILE *x = fopen(\"/etc/passwd\", \"r\"); (void)x; }\n",
	       "judge.forbidden_call", "fopen");
}

static void test_extern_open(void **state)
{
	const char *t = "extern int open(const char *, int, ...);\n"
			"int f(void) { return open(\"/etc/shadow\", 0); }\n";
	struct result r;

	expect(t, "judge.extern", "extern");
	scan(t, &r);
	assert_int_equal(r.f[has(&r, "judge.extern")].line, 1);
	assert_true(has(&r, "judge.forbidden_call") >= 0);
}

static void test_extern_unlisted_symbol(void **state)
{
	/* Not in the denylist: only the extern ban stops this one. */
	expect("extern long splice_helper_x(int);\n", "judge.extern", "extern");
}

static void test_dlopen(void **state)
{
	expect("void *f(void) { return dlopen(\"libc.so.6\", 2); }\n", "judge.forbidden_call", "dlopen");
}

static void test_constructor(void **state)
{
	expect("__attribute__((constructor)) static void early(void) { }\n", "judge.constructor",
	       "constructor");
	expect("static void __attribute__((__destructor__)) late(void) { }\n", "judge.constructor",
	       "__destructor__");
	expect("#define CTOR __attribute__((constructor))\nCTOR static void e(void) { }\n",
	       "judge.constructor", "constructor");
	expect("#define ATTR __attribute__\nATTR((constructor)) static void e(void) { }\n",
	       "judge.forbidden_attribute", "__attribute__");
	expect("int x __attribute__((section(\".init_array\")));\n", "judge.forbidden_attribute",
	       "section");
	expect("[[gnu::constructor]] void e(void) { }\n", "judge.forbidden_attribute", "[[");
}

/* ---- includes ---- */

static void test_include_socket_header(void **state)
{
	expect("#include <sys/socket.h>\n", "judge.forbidden_include", "<sys/socket.h>");
	expect("#include <unistd.h>\n", "judge.forbidden_include", "<unistd.h>");
	expect("#include \"/etc/passwd\"\n", "judge.forbidden_include", "/etc/passwd");
}

static void test_include_harness_by_path(void **state)
{
	expect("#include \"../../src/harness/evaluate.h\"\n", "judge.forbidden_include",
	       "../../src/harness/evaluate.h");
	expect("#include \"harness/evaluate.h\"\n", "judge.forbidden_include", "harness/evaluate.h");
}

static void test_include_computed_and_next(void **state)
{
	expect("#define H <sys/mman.h>\n#include H\n", "judge.forbidden_include", "#include");
	expect("#include_next <stdio.h>\n", "judge.forbidden_include", "include_next");
	expect("#import <stdio.h>\n", "judge.forbidden_include", "import");
}

/* ---- macros ---- */

static void test_macro_token_paste(void **state)
{
	expect("#define F fop##en\nvoid *f(void) { return F(\"x\", \"r\"); }\n", "judge.token_paste",
	       "##");
	expect("#define CAT(a, b) a##b\nint x = CAT(1, 2);\n", "judge.token_paste", "##");
	expect("#define STR(a) #a\nconst char *s = STR(x);\n", "judge.token_paste", "#");
}

static void test_macro_alias(void **state)
{
	expect("#define G fopen\nvoid *f(void) { return G(\"x\", \"r\"); }\n", "judge.macro_hides",
	       "fopen");
	/* A block comment is one space: the directive goes on after it. */
	expect("#define G /* a\n comment */ fopen\n", "judge.macro_hides", "fopen");
	expect("#undef fopen\n", "judge.macro_hides", "fopen");
	expect("#define extern static\n", "judge.macro_hides", "extern");
	expect("#define getenv my_getenv\n", "judge.macro_hides", "getenv");
}

/* ---- splicing and spellings ---- */

static void test_line_continuation_in_identifier(void **state)
{
	struct result r;

	expect("void *f(void) { return fop\\\nen(\"x\", \"r\"); }\n", "judge.forbidden_call", "fopen");
	/* GCC splices across blanks after the backslash too. */
	expect("void *f(void) { return fop\\  \nen(\"x\", \"r\"); }\n", "judge.forbidden_call", "fopen");
	expect("#inc\\\nlude <sys/socket.h>\n", "judge.forbidden_include", "sys/socket.h");
	expect("# \\\n  define G \\\n fopen\n", "judge.macro_hides", "fopen");
	/* The finding names the physical line the identifier starts on. */
	scan("int a;\nvoid *f(void) { return fop\\\nen(0, 0); }\n", &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.f[0].line, 2);
	/* A // comment continued by a backslash is still a comment. */
	expect_clean("// a note \\\n fopen(\"x\", \"r\");\nint x;\n");
}

static void test_trigraph_digraph(void **state)
{
	expect("?\?=include <unistd.h>\n", "judge.obfuscation", "trigraph");
	expect("const char *s = \"fop?\?/\"en\";\n", "judge.obfuscation", "trigraph");
	expect("%:include <unistd.h>\n", "judge.obfuscation", "digraph");
	expect("int a<:4:>;\n", "judge.obfuscation", "digraph");
	expect("void f(void) <% %>\n", "judge.obfuscation", "digraph");
}

static void test_ucn_and_non_ascii(void **state)
{
	expect("void *f(void) { return f\\u006Fpen(0, 0); }\n", "judge.obfuscation", "universal");
	expect("int caf\xc3\xa9 = 1;\n", "judge.obfuscation", "non-ASCII");
	expect("int x; /* \xe2\x80\xae reversed */\n", "judge.obfuscation", "bidirectional");
	expect("const char *s = R\"(x)\";\n", "judge.obfuscation", "raw string");
	/* Non-ASCII text in comments and strings is fine. */
	expect_clean("/* caf\xc3\xa9 */ const char *s = \"na\xc3\xafve \\u00e9\";\n");
}

static void test_nul_and_lone_cr(void **state)
{
	struct result r;
	const char t[] = "void *f(void) { return fo\0pen(0, 0); }\n";

	memset(&r, 0, sizeof r);
	r.n = diffscan_c_file("nul.c", t, sizeof t - 1, r.f, FINDINGS_CAP, &r.err);
	assert_true(has(&r, "judge.obfuscation") >= 0);
	expect("// note\rvoid *p = 0;\n", "judge.obfuscation", "carriage return");
	expect_clean("int a;\r\nint b;\r\n");
}

/* ---- pragmas ---- */

static void test_pragma_gcc_optimize(void **state)
{
	expect("#pragma GCC optimize(\"O0\")\n", "judge.forbidden_pragma", "GCC optimize");
	expect("#pragma STDC FP_CONTRACT ON\n", "judge.forbidden_pragma", "STDC");
	expect("#pragma weak open\n", "judge.forbidden_pragma", "weak");
	expect("_Pragma(\"GCC optimize(\\\"O0\\\")\") void f(void) { }\n", "judge.forbidden_pragma",
	       "GCC optimize");
	expect("#define P(x) _Pragma(x)\n", "judge.forbidden_pragma", "_Pragma");
	/* an operand that destringizes to what does not lex (an open string) */
	expect("_Pragma(\"omp \\\"x\") void f(void) { }\n", "judge.forbidden_pragma", "operand does not lex");
	expect("#pragma omp parallel if(getenv(\"X\") != 0)\n", "judge.forbidden_call", "getenv");
	expect_clean("_Pragma(\"omp parallel for\")\n#pragma GCC unroll 4\n#pragma GCC ivdep\n#pragma once\n");
}

/* ---- impurity: environment, clocks, randomness ---- */

static void test_getenv(void **state)
{
	expect("#include <stdlib.h>\nint f(void) { return getenv(\"KARPA_X\") != 0; }\n",
	       "judge.forbidden_call", "getenv");
}

static void test_time(void **state)
{
	expect("long f(void) { return (long)time(0); }\n", "judge.forbidden_call", "time");
	expect("double f(void) { return omp_get_wtime(); }\n", "judge.forbidden_call", "omp_get_wtime");
	expect("unsigned long long f(void) { return __rdtsc(); }\n", "judge.forbidden_call", "__rdtsc");
	expect("unsigned long long f(void) { return __builtin_ia32_rdtsc(); }\n", "judge.forbidden_call",
	       "__builtin_ia32_rdtsc");
}

static void test_rand(void **state)
{
	expect("int f(void) { return rand(); }\n", "judge.forbidden_call", "rand");
	expect("int f(unsigned *v) { return _rdrand32_step(v); }\n", "judge.forbidden_call", "_rdrand32");
}

static void test_reserved_and_directives(void **state)
{
	expect("long f(void) { return __libc_open64(0, 0); }\n", "judge.forbidden_call", "__libc_open64");
	expect("#ident \"x\"\n", "judge.forbidden_directive", "ident");
	expect("int f(void) { return __sync_fetch_and_add(&f, 1); }\n", "judge.forbidden_call",
	       "__sync_fetch_and_add");
	/* choosing a kernel by the CPU's instructions is allowed; other cpu builtins are not */
	expect_clean("int f(void) { return __builtin_cpu_supports(\"avx512f\"); }\n");
	expect("void f(void) { __builtin_cpu_init(); }\n", "judge.forbidden_call", "__builtin_cpu_init");
	/* The compiler opens what __has_include names, and its diagnostics
	 * quote a line of the file a line directive names: both with the
	 * validator's rights (STATE/secret's existence, or a line of it). */
	expect("#if __has_include(\"/etc/hostname\")\nint x;\n#endif\n", "judge.forbidden_call", "__has_include");
	expect("#if __has_include_next(<stdio.h>)\n#endif\n", "judge.forbidden_call", "__has_include_next");
	expect("#line 1 \"/etc/hostname\"\nint x = ;\n", "judge.forbidden_directive", "line");
	expect("# 1 \"/etc/hostname\"\nint x = ;\n", "judge.forbidden_directive", "1");
	expect("#define F \"/etc/hostname\"\n#line 1 F\n", "judge.forbidden_directive", "line");
	expect_clean("#line 40\nint x;\n#\n# 12\nint y;\n");
	/* A lone '#' as the file's last token is a null directive, read
	 * without a look past the tokens: at every count of tokens before it,
	 * so that it lands at the end of the token array's every size. */
	{
		static char text[2200 * 2 + 4];

		for (size_t n = 0; n < 2200; n++) {
			for (size_t i = 0; i < n; i++)
				memcpy(text + 2 * i, "; ", 2);
			memcpy(text + 2 * n, "\n#", 3);
			expect_clean(text);
		}
	}
}

/* ---- lexing: words inside comments and literals never count ---- */

static void test_literals_hide_nothing_and_count_nothing(void **state)
{
	/* A quote inside a character literal does not open a string. */
	expect("char q = '\"'; void *f(void) { return fopen(0, 0); } char r = '\"';\n",
	       "judge.forbidden_call", "fopen");
	/* Comment markers inside a string do not open a comment. */
	expect("const char *a = \"/*\"; void *f(void) { return fopen(0, 0); } const char *b = \"*/\";\n",
	       "judge.forbidden_call", "fopen");
	expect("const char *a = \"\\\"\"; void *f(void) { return fopen(0, 0); }\n", "judge.forbidden_call",
	       "fopen");
	expect_clean("const char *a = \"fopen socket \\\" system\"; char c = '\\''; /* getenv */\n"
		     "const char *b = u8\"dlopen\"; const int *w = (const int *)L\"fork\"; int l = L'x';\n");
	/* Members spelled like functions name the member, not the function. */
	expect_clean("int f(struct io *s) { return s->read + (*s).write; }\n"
		     "struct io g = { .read = 1 };\n");
	/* Declaring such a member is refused: the scan does not parse
	 * declarations, and a recipe can always pick another name. */
	expect("struct io { int read; };\n", "judge.forbidden_call", "read");
}

static void test_unterminated(void **state)
{
	struct result r;

	scan("int x; /* never closed\nint y;\n", &r);
	assert_int_equal(r.n, -1);
	assert_string_equal(r.err.code, "judge.lex");
	assert_non_null(strstr(r.err.msg, "attack.c"));
	assert_non_null(strstr(r.err.msg, "line 1"));
	scan("const char *s = \"open\nint y;\n", &r);
	assert_int_equal(r.n, -1);
	assert_string_equal(r.err.code, "judge.lex");
	scan("char c = 'x;\n", &r);
	assert_int_equal(r.n, -1);
	assert_string_equal(r.err.code, "judge.lex");
}

/* ---- an honest recipe file ---- */

static const char clean_recipe[] =
	"/* mlp.c: a small two-layer perceptron for the recipe.\n"
	" * We never call fopen, socket or getenv here: the harness hands us\n"
	" * every byte we see. // not a comment start inside a comment\n"
	" */\n"
	"#include \"sandbox/recipe_api.h\"\n"
	"#include \"mlp.h\"\n"
	"\n"
	"#include <cblas.h>\n"
	"#include <immintrin.h>\n"
	"#include <math.h>\n"
	"#include <omp.h>\n"
	"#include <stdio.h>\n"
	"#include <stdlib.h>\n"
	"#include <string.h>\n"
	"\n"
	"#define MLP_HIDDEN 256 /* hidden width: two AVX2 registers per 16 */\n"
	"#define MLP_MIN(a, b) ((a) < (b) ? (a) : (b))\n"
	"static const char *const mlp_note = \"no socket, no system(), no fork\";\n"
	"\n"
	"struct mlp {\n"
	"\tfloat *w1, *w2;\n"
	"\tint d_in, d_out;\n"
	"};\n"
	"\n"
	"static inline float gelu(float x)\n"
	"{\n"
	"\treturn 0.5f * x * (1.0f + tanhf(0.7978845608f * (x + 0.044715f * x * x * x)));\n"
	"}\n"
	"\n"
	"/* out[N,D] = gelu(inp[N,C] @ w1[C,D]) */\n"
	"static void mlp_forward(const struct mlp *m, const float *inp, float *out, int N)\n"
	"{\n"
	"\tcblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, MLP_HIDDEN, m->d_in, 1.0f, inp,\n"
	"\t\t    m->d_in, m->w1, MLP_HIDDEN, 0.0f, out, MLP_HIDDEN);\n"
	"#pragma omp parallel for schedule(static)\n"
	"\tfor (int i = 0; i < N * MLP_HIDDEN; i++)\n"
	"\t\tout[i] = gelu(out[i]);\n"
	"}\n"
	"\n"
	"static float dot8(const float *a, const float *b) __attribute__((always_inline, unused));\n"
	"static float dot8(const float *a, const float *b)\n"
	"{\n"
	"\t__m256 s = _mm256_mul_ps(_mm256_loadu_ps(a), _mm256_loadu_ps(b));\n"
	"\tfloat t[8] __attribute__((aligned(32)));\n"
	"\t_mm256_store_ps(t, s);\n"
	"\treturn t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];\n"
	"}\n"
	"\n"
	"/* Plain reference for the tests: same order of summation. */\n"
	"static float dot8_ref(const float *a, const float *b)\n"
	"{\n"
	"\tfloat s = 0.0f;\n"
	"\n"
	"\tfor (int k = 0; k < 8; k++)\n"
	"\t\ts += a[k] * b[k];\n"
	"\treturn s;\n"
	"}\n"
	"\n"
	"int mlp_check(const struct mlp *m, char *err)\n"
	"{\n"
	"\tif (__builtin_expect(m->d_in <= 0, 0)) {\n"
	"\t\tsnprintf(err, KR_ERR_MAX, \"mlp: bad width %d ('socket' \\\"fopen\\\")\", m->d_in);\n"
	"\t\treturn -1;\n"
	"\t}\n"
	"\tfprintf(stderr, \"mlp: %d threads, %s\\n\", omp_get_max_threads(), mlp_note);\n"
	"\treturn MLP_MIN(0, m->d_out) + (int)sqrtf(0.0f) + (int)(dot8(m->w1, m->w2) - dot8_ref(m->w1, m->w2));\n"
	"}\n";

static void test_clean_recipe_passes(void **state)
{
	int lines = 0;

	for (const char *p = clean_recipe; *p; p++)
		lines += *p == '\n';
	assert_true(lines >= 60);
	expect_clean(clean_recipe);
}

static void test_findings_respect_cap(void **state)
{
	struct diffscan_finding f[2];
	struct kerr err = { 0 };
	const char *t = "int a = rand(); int b = rand(); int c = rand(); int d = rand();\n";

	assert_int_equal(diffscan_c_file("cap.c", t, strlen(t), f, 2, &err), 2);
	assert_string_equal(f[1].file, "cap.c");
}

/* ---- whole trees ---- */

static void put(const char *dir, const char *name, const char *text)
{
	char p[FS_PATH_MAX];
	struct kerr err = { 0 };

	snprintf(p, sizeof p, "%s/%s", dir, name);
	assert_int_equal(fs_write_atomic(p, text, strlen(text), &err), 0);
}

static void test_tree(void **state)
{
	char *dir = tu_mkdtemp(), p[FS_PATH_MAX], q[FS_PATH_MAX];
	struct kerr err = { 0 };

	put(dir, "mlp.c", clean_recipe);
	put(dir, "mlp.h", "#pragma once\nstruct mlp;\nint mlp_check(const struct mlp *m, char *err);\n");
	put(dir, "README.md", "we call fopen in prose only\n");
	assert_int_equal(diffscan_tree(dir, &err), 0);

	/* A quoted include must name a file of the recipe itself. */
	put(dir, "b.c", "#include \"recipe_api.h\"\n");
	assert_int_equal(diffscan_tree(dir, &err), -1);
	assert_string_equal(err.code, "judge.forbidden_include");
	assert_non_null(strstr(err.msg, "b.c:1: #include \"recipe_api.h\""));

	/* First finding of the first file in name order, as file:line: construct: reason. */
	put(dir, "b.c", "int x;\nint y;\nlong t(void) { return time(0); }\n");
	put(dir, "c.c", "void *d(void) { return dlopen(0, 0); }\n");
	assert_int_equal(diffscan_tree(dir, &err), -1);
	assert_string_equal(err.code, "judge.forbidden_call");
	assert_non_null(strstr(err.msg, "b.c:3: time: "));

	put(dir, "b.c", "int x;\n");
	put(dir, "c.c", "/* open\n");
	assert_int_equal(diffscan_tree(dir, &err), -1);
	assert_string_equal(err.code, "judge.lex");
	assert_non_null(strstr(err.msg, "c.c"));

	/* A symlink would let "#include \"x.h\"" reach any file. */
	snprintf(p, sizeof p, "%s/c.c", dir);
	unlink(p);
	snprintf(p, sizeof p, "%s/x.h", dir);
	snprintf(q, sizeof q, "%s/mlp.h", dir);
	assert_int_equal(symlink(q, p), 0);
	assert_int_equal(diffscan_tree(dir, &err), -1);
	assert_string_equal(err.code, "judge.not_regular");
	unlink(p);
	assert_int_equal(diffscan_tree(dir, &err), 0);
	tu_rmdir(dir);
}

static void test_tree_too_large(void **state)
{
	char *dir = tu_mkdtemp(), p[FS_PATH_MAX];
	struct kerr err = { 0 };
	FILE *f;

	snprintf(p, sizeof p, "%s/big.c", dir);
	f = fopen(p, "w");
	assert_non_null(f);
	for (size_t i = 0; i <= DIFFSCAN_FILE_BYTES_MAX / 16; i++)
		fputs("int a_______b;\n\n", f);
	fclose(f);
	assert_int_equal(diffscan_tree(dir, &err), -1);
	assert_string_equal(err.code, "judge.too_large");
	tu_rmdir(dir);
}

/* Scans a one-file tree (plus a header) and returns the reason code, ""
 * when it passes; *msg gets the message. */
static void tree_code(const char *c_text, const char *h_text, char *code, char *msg)
{
	char *dir = tu_mkdtemp();
	struct kerr err = { 0 };

	put(dir, "a.c", c_text);
	if (h_text)
		put(dir, "a.h", h_text);
	diffscan_tree(dir, &err);
	strcpy(code, err.code);
	strcpy(msg, err.msg);
	if (*code)
		fprintf(stderr, "  tree: %s: %s\n", code, msg);
	tu_rmdir(dir);
}

static void expect_tree(const char *c_text, const char *h_text, const char *code, const char *what)
{
	char got[KERR_CODE_MAX], msg[KERR_MSG_MAX];

	tree_code(c_text, h_text, got, msg);
	assert_string_equal(got, code);
	if (what)
		assert_non_null(strstr(msg, what));
}

/* Without extern, a prototype still declares a library function: every
 * function the recipe declares, the recipe must define. */
static void test_prototype_without_extern(void **state)
{
	expect_tree("#include \"a.h\"\nlong f(void) { return splice_x(1); }\n", "long splice_x(int);\n",
		    "judge.extern", "a.h:1: splice_x (declared but never given an external definition");
	/* Block scope, after a comma, inside a statement expression, with a
	 * parenthesised name, returning a function pointer. */
	expect_tree("void f(void) { int getfoo_x(void); getfoo_x(); }\n", NULL, "judge.extern", "getfoo_x");
	expect_tree("void f(void) { int a = 1, getfoo_y(void); (void)a; }\n", NULL, "judge.extern",
		    "getfoo_y");
	expect_tree("int f(void) { return ({ int getfoo_z(void); getfoo_z(); }); }\n", NULL, "judge.extern",
		    "getfoo_z");
	expect_tree("size_t (getfoo_w)(void);\n", NULL, "judge.extern", "getfoo_w");
	expect_tree("void (*getfoo_v(int))(void);\n", NULL, "judge.extern", "getfoo_v");
	expect_tree("__attribute__((unused)) static int getfoo_u(void);\n", NULL, "judge.extern", "getfoo_u");
	/* Macros standing in a declarator or writing the declaration. */
	expect_tree("#define PROTO(n) n(void)\nint PROTO(getfoo_t);\n", NULL, "judge.macro_hides", "PROTO");
	expect_tree("#define N getfoo_s\nint N(void);\n", NULL, "judge.macro_hides", "N (a macro");
	expect_tree("#define D int getfoo_r(void)\nD;\n", NULL, "judge.extern", "getfoo_r");
	expect("#define DECL(n) int n(void);\nDECL(getfoo_q)\n", "judge.macro_hides", "argument");
	/* A static definition serves its own file only; a macro's name makes
	 * a definition elsewhere a different function. */
	{
		char code[KERR_CODE_MAX], msg[KERR_MSG_MAX];

		tree_code("int wordexp(const char *w, void *p, int f);\nint run(void) { return wordexp(\"\", 0, 0); }\n",
			  "static int wordexp(void) { return 0; }\nint h(void) { return wordexp(); }\n", code, msg);
		assert_string_equal(code, "judge.extern");
		assert_non_null(strstr(msg, "wordexp"));
	}
	expect_tree("#define N wordexp\nint N(const char *w, void *p, int f);\n", "int N(void);\n",
		    "judge.macro_hides", "N (a macro");
	/* OpenMP's and OpenBLAS's own controls: the host name in an affinity
	 * report, the process's CPU affinity */
	expect("#include <omp.h>\nvoid f(char *b) { omp_capture_affinity(b, 64, \"%H %P\"); }\n", "judge.forbidden_call",
	       "omp_capture_affinity");
	expect("#include <cblas.h>\nint f(void *set) { return openblas_setaffinity(0, 8, set); }\n", "judge.forbidden_call",
	       "openblas_setaffinity");
	expect_clean("#include <cblas.h>\n#include <omp.h>\nvoid f(int n) { openblas_set_num_threads(n); omp_set_num_threads(n); }\n");
	/* GCC's nested functions make the stack executable */
	expect_tree("int outer(int y) {\n\tint add(int x) { return x + y; }\n\treturn add(1);\n}\n", NULL,
		    "judge.nested_function", "add");
	/* An #include in the middle of a statement supplies part of it. */
	expect_tree("int\n#include \"a.h\"\n(const char *, void *, int);\n", "wordexp\n", "judge.obfuscation",
		    "#include");
	/* Types that declare functions without a declarator. */
	expect("typedef int fnt(void);\nfnt getfoo_p;\n", "judge.extern", "typedef");
	expect("__typeof__(printf) getfoo_o;\n", "judge.extern", "__typeof__");

	/* Honest declarations: defined prototypes, pointers, pointer typedefs,
	 * calls, casts, control statements, initialisers, array sizes. */
	expect_tree("#include \"a.h\"\n"
		    "#define SQ(x) ((x) * (x))\n"
		    "typedef float (*act_fn)(float);\n"
		    "static float relu(float x);\n"
		    "static float relu(float x) { return x > 0 ? x : 0; }\n"
		    "static act_fn act = relu;\n"
		    "float (*pick(int i))(float) { return i ? relu : act; }\n"
		    "int a_run(int n)\n{\n\tfloat buf[SQ(4)] = { 0 };\n\tint (*fp)(int) = a_run;\n"
		    "\tfor (int i = 0; i < n; i++) {\n\t\tif (i) buf[i] = relu((float)i);\n\t\telse buf[0] = SQ(2);\n"
		    "\t}\n\treturn n ? fp(n - 1) + (int)pick(0)(buf[0]) : (int)sizeof(buf);\n}\n",
		    "#pragma once\nint a_run(int n);\n", "", NULL);
}

/* The project's own recipe must pass: if it does not, either the recipe or
 * the policy is wrong, and the message says which construct. */
static void test_project_recipe_passes(void **state)
{
	const char *src = getenv("KARPA_SRC") ? getenv("KARPA_SRC") : ".";
	char dir[FS_PATH_MAX];
	struct kerr err = { 0 };

	snprintf(dir, sizeof dir, "%s/recipe", src);
	if (!fs_is_dir(dir))
		fail_msg("%s: the project's recipe is missing (set KARPA_SRC to the source tree)", dir);
	if (diffscan_tree(dir, &err) != 0)
		fprintf(stderr, "  project recipe: %s: %s\n", err.code, err.msg);
	assert_string_equal(err.code, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_syscall_inline),
		cmocka_unit_test(test_asm_volatile),
		cmocka_unit_test(test_gnu_asm),
		cmocka_unit_test(test_system_via_function_pointer),
		cmocka_unit_test(test_socket),
		cmocka_unit_test(test_fopen),
		cmocka_unit_test(test_extern_open),
		cmocka_unit_test(test_extern_unlisted_symbol),
		cmocka_unit_test(test_dlopen),
		cmocka_unit_test(test_constructor),
		cmocka_unit_test(test_include_socket_header),
		cmocka_unit_test(test_include_harness_by_path),
		cmocka_unit_test(test_include_computed_and_next),
		cmocka_unit_test(test_macro_token_paste),
		cmocka_unit_test(test_macro_alias),
		cmocka_unit_test(test_line_continuation_in_identifier),
		cmocka_unit_test(test_trigraph_digraph),
		cmocka_unit_test(test_ucn_and_non_ascii),
		cmocka_unit_test(test_nul_and_lone_cr),
		cmocka_unit_test(test_pragma_gcc_optimize),
		cmocka_unit_test(test_getenv),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_rand),
		cmocka_unit_test(test_reserved_and_directives),
		cmocka_unit_test(test_literals_hide_nothing_and_count_nothing),
		cmocka_unit_test(test_unterminated),
		cmocka_unit_test(test_clean_recipe_passes),
		cmocka_unit_test(test_findings_respect_cap),
		cmocka_unit_test(test_tree),
		cmocka_unit_test(test_tree_too_large),
		cmocka_unit_test(test_prototype_without_extern),
		cmocka_unit_test(test_project_recipe_passes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
