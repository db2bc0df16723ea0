/* The symbol check against objects compiled here from hostile sources: the
 * calls a lexical scan could miss (declared by hand, as a hole in check 1
 * would let through), definitions that interpose on a library, the C++ and
 * CUDA tiers, and files that are not objects. */
#include "../testutil.h"

#include "judge/symcheck.h"
#include "util/kerr.h"

struct fx {
	char *dir;
	char objs[8][FS_PATH_MAX];
	struct symcheck_obj o[8];
	int n;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);

	assert_non_null(f);
	f->dir = tu_mkdtemp();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	tu_rmdir(f->dir);
	free(f);
	return 0;
}

/* Compiles src (C, or C++ when the name ends in .cc) into an object and
 * adds it to the fixture as kind. */
static const char *obj(struct fx *f, const char *name, enum symcheck_kind kind, const char *src)
{
	char out[4096], path[FS_PATH_MAX];
	int cxx = strlen(name) > 3 && !strcmp(name + strlen(name) - 3, ".cc");

	assert_true(f->n < 8);
	tu_put(f->dir, name, src);
	snprintf(path, sizeof path, "%s/%s", f->dir, name);
	snprintf(f->objs[f->n], FS_PATH_MAX, "%s/%s.o", f->dir, name);
	tu_run_want(out, sizeof out, 0, "%s -O2 -fopenmp -c -o '%s' '%s'",
		    cxx ? "g++ -std=c++17" : "cc -std=c11 -D_GNU_SOURCE", f->objs[f->n], path);
	f->o[f->n] = (struct symcheck_obj){ .path = f->objs[f->n], .name = name, .kind = kind };
	return f->objs[f->n++];
}

/* Runs the check over the fixture's objects: 0, or -1 with err. */
static int check(struct fx *f, const char *const *api, struct kerr *err)
{
	memset(err, 0, sizeof *err);
	return symcheck_objects(f->o, (size_t)f->n, api, err);
}

static void expect_refused(struct fx *f, const char *const *api, const char *code, const char *needle)
{
	struct kerr err;

	assert_int_equal(check(f, api, &err), -1);
	if (strcmp(err.code, code) || !strstr(err.msg, needle))
		fail_msg("want %s naming '%s', got %s: %s", code, needle, err.code, err.msg);
}

static void expect_passes(struct fx *f, const char *const *api)
{
	struct kerr err;

	if (check(f, api, &err) < 0)
		fail_msg("refused: %s: %s", err.code, err.msg);
}

/* What a recipe's C does: memory, strings, math, formatting, an OpenMP
 * loop, CBLAS, and the CPU check that picks a kernel. */
static void allowed_calls_pass(void **state)
{
	struct fx *f = *state;

	obj(f, "ok.c", SYMCHECK_C,
	    "#include <math.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n"
	    "void cblas_sscal(int, float, float *, int);\n"
	    "int kern(float *x, int n, char *buf) {\n"
	    "  float *t = calloc((size_t)n, sizeof *t);\n"
	    "  if (!t) return -1;\n"
	    "  memcpy(t, x, (size_t)n * sizeof *t);\n"
	    "#pragma omp parallel for\n"
	    "  for (int i = 0; i < n; i++) x[i] = expf(t[i]) + sqrtf(t[i]) + tanhf(t[i]);\n"
	    "  cblas_sscal(n, 2.0f, x, 1);\n"
	    "  snprintf(buf, 16, \"%g\", x[0]);\n"
	    "  fprintf(stderr, \"%d\\n\", __builtin_cpu_supports(\"avx2\"));\n"
	    "  free(t);\n  return (int)strlen(buf);\n}\n");
	expect_passes(f, NULL);
}

/* One C object alone, each refused with its needle in the message. */
struct lone {
	const char *name, *src, *needle;
	enum symcheck_kind kind; /* SYMCHECK_C unless given */
};

static void each_refused_alone(struct fx *f, const struct lone *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		f->n = 0;
		obj(f, v[i].name, v[i].kind, v[i].src);
		expect_refused(f, NULL, "recipe.bad_symbol", v[i].needle);
	}
}

/* One object alone that passes as kind `good` and is refused, naming
 * needle, as kind `bad`. */
static void passes_only_as(struct fx *f, const char *name, const char *src, enum symcheck_kind good,
			   enum symcheck_kind bad, const char *needle)
{
	f->n = 0;
	obj(f, name, good, src);
	expect_passes(f, NULL);
	f->o[0].kind = bad;
	expect_refused(f, NULL, "recipe.bad_symbol", needle);
}

/* Declared by hand, as a hole in the diff scan would let through: the
 * denylist still holds on the name the compiler resolved. */
static void denied_calls_refused(void **state)
{
	static const struct lone v[] = {
		{ "shell.c", "int system(const char *);\nint go(void) { return system(\"id\"); }\n",
		  "shell.c references system, which check 1 refuses", SYMCHECK_C },
		{ "env.c", "extern char **environ;\nchar *first(void) { return environ[0]; }\n",
		  "references environ, which check 1 refuses", SYMCHECK_C },
	};

	each_refused_alone(*state, v, sizeof v / sizeof v[0]);
}

/* Allowed headers declare more than the allowlist holds, and a hole in
 * the scan could declare anything: what is not on it is refused, denied or
 * not (wordexp's header is not allowed, so the denylist never needed it). */
static void unlisted_names_refused(void **state)
{
	static const struct lone v[] = {
		{ "opts.c",
		  "#include <stdlib.h>\nint opt(char **o, char *const *t, char **v) { return getsubopt(o, t, v); }\n",
		  "references getsubopt, which is not on the list", SYMCHECK_C },
		{ "wx.c", "int wordexp(const char *, void *, int);\nint go(void) { return wordexp(\"$(id)\", 0, 0); }\n",
		  "wx.c references wordexp, which is not on the list", SYMCHECK_C },
		{ "in.c", "#include <stdio.h>\nvoid *in(void) { return stdin; }\n", "references stdin", SYMCHECK_C },
	};

	each_refused_alone(*state, v, sizeof v / sizeof v[0]);
}

/* A recipe's own functions resolve across its files, and only there. */
static void own_definitions_resolve(void **state)
{
	struct fx *f = *state;

	obj(f, "a.c", SYMCHECK_C, "int helper(int);\nint top(int x) { return helper(x) + 1; }\n");
	expect_refused(f, NULL, "recipe.bad_symbol", "a.c references helper");
	obj(f, "b.c", SYMCHECK_C, "int helper(int x) { return 2 * x; }\n");
	expect_passes(f, NULL);
}

/* Code the loader runs before main (a constructor, an entry placed in
 * .init_array by hand, an IFUNC resolver) or after exit: the runner's
 * inner filter starts in main. The diff scan refuses the spellings; the
 * object is refused whatever spelled it. */
static void code_before_main_refused(void **state)
{
	static const struct lone early[] = {
		{ "ctor.c",
		  "static volatile int hit;\n__attribute__((constructor)) static void early(void) { hit = 1; }\n"
		  "int top(void) { return hit; }\n",
		  "ctor.c has a .init_array section", SYMCHECK_C },
		{ "arr.c",
		  "static volatile int hit;\nstatic void early(void) { hit = 1; }\n"
		  "__attribute__((section(\".preinit_array\"), used)) static void (*p)(void) = early;\n"
		  "int top(void) { return 1; }\n",
		  "arr.c has a .preinit_array section", SYMCHECK_C },
		{ "dtor.c",
		  "static volatile int hit;\n__attribute__((destructor)) static void late(void) { hit = 1; }\n"
		  "int top(void) { return hit; }\n",
		  "dtor.c has a .fini_array section", SYMCHECK_C },
		{ "ifunc.c",
		  "static int impl(void) { return 1; }\nstatic int (*resolve(void))(void) { return impl; }\n"
		  "int top(void) __attribute__((ifunc(\"resolve\")));\n",
		  "ifunc.c defines top as an IFUNC", SYMCHECK_C },
	};
	struct fx *f = *state;

	each_refused_alone(f, early, sizeof early / sizeof early[0]);
	f->n = 0;
	obj(f, "plain.c", SYMCHECK_C, "static int early(void) { return 1; }\nint top(void) { return early(); }\n");
	expect_passes(f, NULL);
}

/* A recipe may name its own functions as it likes, library names
 * included: its references resolve to its own, and the build makes every
 * definition but the recipe API's local, so no library or harness call
 * reaches them (tests/hostile/test_sandbox.c, interpose). */
static void own_library_names_resolve_to_the_recipe(void **state)
{
	struct fx *f = *state;

	obj(f, "math.c", SYMCHECK_C, "float expf(float x) { return x; }\nint cudaCheck(int e) { return e; }\n");
	obj(f, "use.c", SYMCHECK_C, "float expf(float);\nint cudaCheck(int);\n"
				    "float go(float x) { return expf(x) + (float)cudaCheck(1); }\n");
	expect_passes(f, NULL);
}

/* What GCC makes of a call the source spelled otherwise is judged as the
 * source: fprintf(stderr, "literal\n") becomes fwrite, which check 1
 * refuses by name. */
static void compiler_rewrites_pass(void **state)
{
	struct fx *f = *state;

	obj(f, "log.c", SYMCHECK_C, "#include <stdio.h>\n"
				    "void say(void) { fprintf(stderr, \"starting\\n\"); fputs(\"plain\\n\", stderr); }\n");
	expect_passes(f, NULL);
}

/* The C++ ABI that nvcc's host code calls is allowed in a .cu object
 * only; atexit, which its kernel registration calls, likewise. */
static void cxx_tier(void **state)
{
	passes_only_as(*state, "guard.cc",
		       "int g(int x) { return x * 3; }\nint f(int x) { static int s = g(x); return s; }\n",
		       SYMCHECK_CUDA_CXX, SYMCHECK_CUDA_C, "guard.cc references __cxa_guard_acquire");
	passes_only_as(*state, "exit.c",
		       "#include <stdlib.h>\nstatic void bye(void) {}\nint reg(void) { return atexit(bye); }\n",
		       SYMCHECK_CUDA_CXX, SYMCHECK_CUDA_C, "exit.c references atexit, which check 1 refuses");
}

/* The CUDA runtime and cuBLASLt in the CUDA part only, less what check 1
 * refuses there (the driver API, IPC); harness functions the CUDA part's
 * headers offer, and only to it. */
static void cuda_tier(void **state)
{
	static const struct lone denied[] = {
		{ "drv.c", "int cuMemAlloc_v2(void *, unsigned long);\nint up(void *p) { return cuMemAlloc_v2(p, 64); }\n",
		  "references cuMemAlloc_v2, which check 1 refuses", SYMCHECK_CUDA_C },
		{ "ipc.c",
		  "int cudaIpcOpenMemHandle(void **, void *, unsigned);\n"
		  "int up(void **p) { return cudaIpcOpenMemHandle(p, 0, 0); }\n",
		  "cudaIpcOpenMemHandle, which check 1 refuses", SYMCHECK_CUDA_C },
		{ "props.c", "int cudaGetDeviceProperties_v2(void *, int);\n"
			     "int up(void *p) { return cudaGetDeviceProperties_v2(p, 0); }\n",
		  "cudaGetDeviceProperties_v2, which is not on the list", SYMCHECK_CUDA_C },
	};
	struct fx *f = *state;
	const char *api[2];

	passes_only_as(f, "gpu.c",
		       "int cudaMalloc(void **, unsigned long);\nint cublasLtCreate(void **);\n"
		       "int up(void **p, void **h) { return cudaMalloc(p, 64) + cublasLtCreate(h); }\n",
		       SYMCHECK_CUDA_C, SYMCHECK_C, "gpu.c references cudaMalloc, which is not on the list");
	each_refused_alone(f, denied, sizeof denied / sizeof denied[0]);

	f->n = 0;
	obj(f, "tab.c", SYMCHECK_CUDA_C, "const char *tab_name(int);\n"
					 "const char *name(void) { return tab_name(1); }\n");
	api[0] = obj(f, "harness.c", SYMCHECK_C, "const char *tab_name(int t) { return t ? \"bf16\" : \"f32\"; }\n");
	api[1] = NULL;
	f->n = 1; /* harness.c is the harness's, not the recipe's */
	expect_passes(f, api);
	f->o[0].kind = SYMCHECK_C;
	expect_refused(f, api, "recipe.bad_symbol", "tab.c references tab_name");
}

/* The build's merged object: a C++ inline function's static is a GNU
 * unique symbol, which objcopy -G leaves global; renamed, nothing but the
 * API keeps a name the runner's other code could reach. */
static void merged_object_exports_only_the_api(void **state)
{
	struct fx *f = *state;
	static const char *const keep[] = { "kr_create", NULL };
	char list[FS_PATH_MAX], out[4096], *text;
	const char *o;
	size_t len;
	struct kerr err;

	o = obj(f, "m.cc", SYMCHECK_CUDA_CXX,
		"inline int &cnt() { static int x; return x; }\n"
		"int helper(int y) { return y + cnt(); }\n"
		"extern \"C\" int kr_create(void) { return helper(++cnt()); }\n");
	assert_int_equal(symcheck_exports(o, keep, &err), -1);
	assert_string_equal(err.code, "recipe.bad_symbol");
	snprintf(list, sizeof list, "%s/renames.txt", f->dir);
	assert_int_equal(symcheck_rename_list(o, keep, list, &err), 0);
	assert_int_equal(fs_read_all(list, 1 << 16, &text, &len, &err), 0);
	assert_non_null(strstr(text, "_ZZ3cntvE1x recipe._ZZ3cntvE1x\n"));
	assert_non_null(strstr(text, "_Z6helperi recipe._Z6helperi\n"));
	assert_null(strstr(text, "kr_create"));
	free(text);
	tu_run_want(out, sizeof out, 0, "objcopy --redefine-syms='%s' -G kr_create '%s'", list, o);
	if (symcheck_exports(o, keep, &err) < 0)
		fail_msg("%s: %s", err.code, err.msg);
}

/* The first refusal is named, and how many more there were. */
static void every_refusal_counted(void **state)
{
	struct fx *f = *state;

	obj(f, "many.c", SYMCHECK_C, "int getpid(void); int getppid(void); int getuid(void);\n"
				     "int who(void) { return getpid() + getppid() + getuid(); }\n");
	expect_refused(f, NULL, "recipe.bad_symbol", "(and 2 more)");
}

/* What is not a relocatable object is a build failure, named. */
static void non_objects_refused(void **state)
{
	struct fx *f = *state;
	char out[4096], path[FS_PATH_MAX];
	const char *o;
	FILE *in, *cut;
	char buf[200];

	tu_put(f->dir, "text.o", "not an object\n");
	snprintf(f->objs[0], FS_PATH_MAX, "%s/text.o", f->dir);
	f->o[0] = (struct symcheck_obj){ .path = f->objs[0], .name = "text.c", .kind = SYMCHECK_C };
	f->n = 1;
	expect_refused(f, NULL, "recipe.build_failed", "text.c: its object is not a relocatable ELF file");

	/* the first 200 bytes of a real object: its section headers are gone */
	f->n = 0;
	o = obj(f, "whole.c", SYMCHECK_C, "int whole(int x) { return x + 1; }\n");
	snprintf(path, sizeof path, "%s/cut.o", f->dir);
	assert_non_null(in = fopen(o, "rb"));
	assert_non_null(cut = fopen(path, "wb"));
	assert_int_equal(fread(buf, 1, sizeof buf, in), sizeof buf);
	assert_int_equal(fwrite(buf, 1, sizeof buf, cut), sizeof buf);
	fclose(in);
	fclose(cut);
	snprintf(f->objs[0], FS_PATH_MAX, "%s", path);
	expect_refused(f, NULL, "recipe.build_failed", "whole.c");

	/* a linked program is not one of the build's objects */
	snprintf(path, sizeof path, "%s/prog", f->dir);
	tu_put(f->dir, "prog.c", "int main(void) { return 0; }\n");
	tu_run_want(out, sizeof out, 0, "cc -o '%s' '%s/prog.c'", path, f->dir);
	snprintf(f->objs[0], FS_PATH_MAX, "%s", path);
	expect_refused(f, NULL, "recipe.build_failed", "not a relocatable ELF file");

	snprintf(f->objs[0], FS_PATH_MAX, "%s/missing.o", f->dir);
	expect_refused(f, NULL, "recipe.build_failed", "missing.o");
}

/* The families and twins by name: vector math of an allowed function, the
 * fortified and C99-redirected forms, OpenMP's host entry points only. */
static void allowlist_by_name(void **state)
{
	(void)state;
	assert_true(symcheck_allowed("_ZGVdN8v_expf", SYMCHECK_C));
	assert_true(symcheck_allowed("_ZGVbN2vv_pow", SYMCHECK_C));
	assert_false(symcheck_allowed("_ZGVdN8v_system", SYMCHECK_C));
	assert_false(symcheck_allowed("_ZGV", SYMCHECK_C));
	assert_true(symcheck_allowed("__snprintf_chk", SYMCHECK_C));
	assert_true(symcheck_allowed("__memcpy_chk", SYMCHECK_C));
	assert_false(symcheck_allowed("__system_chk", SYMCHECK_C));
	assert_false(symcheck_allowed("___chk", SYMCHECK_C));
	assert_true(symcheck_allowed("__isoc99_sscanf", SYMCHECK_C));
	assert_false(symcheck_allowed("__isoc99_fscanf", SYMCHECK_C));
	assert_true(symcheck_allowed("expl", SYMCHECK_C));
	assert_true(symcheck_allowed("exp2f", SYMCHECK_C));
	assert_false(symcheck_allowed("f", SYMCHECK_C));
	assert_true(symcheck_allowed("GOMP_parallel_loop_nonmonotonic_dynamic", SYMCHECK_C));
	assert_false(symcheck_allowed("GOMP_target_ext", SYMCHECK_C));
	assert_false(symcheck_allowed("GOMP_error", SYMCHECK_C));
	assert_false(symcheck_allowed("cudaMalloc", SYMCHECK_C));
	assert_true(symcheck_allowed("cudaMalloc", SYMCHECK_CUDA_C));
	assert_false(symcheck_allowed("cudart", SYMCHECK_CUDA_C));
	assert_false(symcheck_allowed("__cxa_atexit", SYMCHECK_CUDA_C));
	assert_true(symcheck_allowed("__cxa_atexit", SYMCHECK_CUDA_CXX));
	assert_true(symcheck_allowed("_ZSt20__throw_length_errorPKc", SYMCHECK_CUDA_CXX));
	assert_false(symcheck_allowed("_ZSt6systemPKc", SYMCHECK_CUDA_CXX));
	assert_false(symcheck_allowed("_ZSt", SYMCHECK_CUDA_CXX));
	/* math.h in all its forms, reentrant ones included */
	assert_true(symcheck_allowed("lgammaf_r", SYMCHECK_C));
	assert_true(symcheck_allowed("lgamma_r", SYMCHECK_C));
	assert_true(symcheck_allowed("sinf128", SYMCHECK_C));
	assert_true(symcheck_allowed("fmaximum_numf", SYMCHECK_C));
	assert_false(symcheck_allowed("systemf", SYMCHECK_C));
	/* libgcc's 128-bit division GCC 12 emits for a / b and a % b */
	assert_true(symcheck_allowed("__divmodti4", SYMCHECK_C));
	/* OpenMP by name: not its clocks, affinity reports, devices, or the
	 * Fortran twins */
	assert_true(symcheck_allowed("omp_get_thread_num", SYMCHECK_C));
	assert_false(symcheck_allowed("omp_get_wtime_", SYMCHECK_C));
	assert_false(symcheck_allowed("omp_display_affinity_", SYMCHECK_C));
	assert_false(symcheck_allowed("omp_target_alloc", SYMCHECK_C));
	assert_false(symcheck_allowed("omp_get_num_devices", SYMCHECK_C));
	/* the CUDA runtime by family: not the device's identity, free memory
	 * or graphics interop */
	assert_true(symcheck_allowed("cudaMemcpyAsync", SYMCHECK_CUDA_C));
	assert_true(symcheck_allowed("cudaStreamBeginCapture", SYMCHECK_CUDA_C));
	assert_true(symcheck_allowed("cudaDeviceGetAttribute", SYMCHECK_CUDA_C));
	assert_false(symcheck_allowed("cudaGetDeviceProperties_v2", SYMCHECK_CUDA_C));
	assert_false(symcheck_allowed("cudaDeviceGetPCIBusId", SYMCHECK_CUDA_C));
	assert_false(symcheck_allowed("cudaMemGetInfo", SYMCHECK_CUDA_C));
	assert_false(symcheck_allowed("cudaDriverGetVersion", SYMCHECK_CUDA_C));
	assert_false(symcheck_allowed("cudaGLRegisterBufferObject", SYMCHECK_CUDA_C));
	assert_false(symcheck_allowed("cudaEventCreateFromEGLSync", SYMCHECK_CUDA_C));
	assert_false(symcheck_allowed("cudaProfilerStart", SYMCHECK_CUDA_C));
	/* a thrown int, a caught const char * */
	assert_true(symcheck_allowed("_ZTIi", SYMCHECK_CUDA_CXX));
	assert_true(symcheck_allowed("_ZTIPKc", SYMCHECK_CUDA_CXX));
	assert_false(symcheck_allowed("_ZTI5Recip", SYMCHECK_CUDA_CXX));
	assert_false(symcheck_allowed("_ZTIi", SYMCHECK_CUDA_C));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(allowed_calls_pass, setup, teardown),
		cmocka_unit_test_setup_teardown(denied_calls_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(unlisted_names_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(own_definitions_resolve, setup, teardown),
		cmocka_unit_test_setup_teardown(own_library_names_resolve_to_the_recipe, setup, teardown),
		cmocka_unit_test_setup_teardown(code_before_main_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(compiler_rewrites_pass, setup, teardown),
		cmocka_unit_test_setup_teardown(cxx_tier, setup, teardown),
		cmocka_unit_test_setup_teardown(cuda_tier, setup, teardown),
		cmocka_unit_test_setup_teardown(merged_object_exports_only_the_api, setup, teardown),
		cmocka_unit_test_setup_teardown(every_refusal_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(non_objects_refused, setup, teardown),
		cmocka_unit_test(allowlist_by_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
