/* The symbol check: every name a recipe object leaves for the linker to
 * resolve is the recipe's own, a harness function the recipe API offers, or
 * on the allowlist below. The lists and why each family is there:
 * docs/symcheck.md. */
#include "judge/symcheck.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "judge/diffscan.h"
#include "util/fsutil.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------ */
/* The allowlist                                                       */

/* The C library's pure parts behind the headers check 1 allows (string.h,
 * stdlib.h, stdio.h's formatting and its writes to stdout and stderr,
 * assert.h, errno.h, inttypes.h). Anything else those headers declare is
 * refused here even where the denylist does not name it. */
static const char *const libc_names[] = {
	/* string.h */
	"memcpy", "memmove", "memset", "memcmp", "memchr", "memrchr", "memmem", "mempcpy", "bcmp", "strlen",
	"strnlen", "strcmp", "strncmp", "strcpy", "strncpy", "stpcpy", "stpncpy", "strcat", "strncat", "strchr",
	"strrchr", "strchrnul", "strstr", "strcasestr", "strspn", "strcspn", "strpbrk", "strtok", "strtok_r",
	"strsep", "strdup", "strndup", "strerror", "strerror_r", "strcasecmp", "strncasecmp", "strverscmp", "memccpy",
	/* stdlib.h: memory, sorting, arithmetic, number parsing */
	"malloc", "calloc", "realloc", "reallocarray", "free", "aligned_alloc", "posix_memalign", "qsort",
	"qsort_r", "bsearch", "abs", "labs", "llabs", "div", "ldiv", "lldiv", "atoi", "atol", "atoll", "atof",
	"strtol", "strtoll", "strtoul", "strtoull", "strtof", "strtod", "strtold", "strfromf", "strfromd", "strfroml",
	"abort",
	/* stdio.h: formatting, and writing to the streams the runner already has */
	"printf", "fprintf", "sprintf", "snprintf", "vprintf", "vfprintf", "vsprintf", "vsnprintf", "asprintf",
	"vasprintf", "sscanf", "vsscanf", "puts", "fputs", "putchar", "fputc", "putc", "fflush", "perror",
	"stdout", "stderr",
	/* assert.h, errno.h, inttypes.h */
	"__assert_fail", "__assert_perror_fail", "__errno_location", "imaxabs", "imaxdiv", "strtoimax",
	"strtoumax",
};

/* math.h, each also with its float, long double and _FloatN forms, and
 * the classification helpers its macros call. */
static const char *const math_names[] = {
	"acos", "asin", "atan", "atan2", "cos", "sin", "tan", "acosh", "asinh", "atanh", "cosh", "sinh", "tanh",
	"sincos", "exp", "exp2", "exp10", "expm1", "log", "log2", "log10", "log1p", "logb", "ilogb", "pow",
	"sqrt", "cbrt", "hypot", "erf", "erfc", "lgamma", "lgamma_r", "tgamma", "gamma", "ceil", "floor",
	"trunc", "round", "roundeven", "lround", "llround", "rint", "lrint", "llrint", "nearbyint", "fmod",
	"remainder", "remquo", "drem", "copysign", "nan", "nextafter", "nexttoward", "nextup", "nextdown",
	"fdim", "fmax", "fmin", "fmaxmag", "fminmag", "fma", "fabs", "frexp", "ldexp", "modf", "scalbn",
	"scalbln", "scalb", "significand", "j0", "j1", "jn", "y0", "y1", "yn", "finite", "isinf", "isnan",
	"fmaximum", "fminimum", "fmaximum_num", "fminimum_num", "fmaximum_mag", "fminimum_mag", "fmaximum_mag_num",
	"fminimum_mag_num", "llogb", "fromfp", "ufromfp", "fromfpx", "ufromfpx", "totalorder", "totalordermag",
	"canonicalize", "getpayload", "setpayload", "setpayloadsig", "fadd", "fsub", "fmul", "fdiv", "ffma",
	"fsqrt", "dadd", "dsub", "dmul", "ddiv", "dfma", "dsqrt",
	"__fpclassify", "__signbit", "__isinf", "__isnan", "__finite", "__iseqsig", "__issignaling",
};

/* The suffixes of math.h's other forms: float, long double and the
 * _FloatN types, before a reentrant _r (lgammaf_r). */
static const char *const math_suffixes[] = { "f", "l", "f32", "f64", "f128", "f32x", "f64x" };

/* What GCC's code calls on its own: the GOT, the CPU model
 * __builtin_cpu_supports reads, the stack protector, TLS, and libgcc's
 * arithmetic (complex, 128-bit integers, half and bfloat16 conversions, and
 * aarch64's quad-precision long double). */
static const char *const runtime_names[] = {
	"_GLOBAL_OFFSET_TABLE_", "__cpu_model", "__cpu_features2", "__cpu_indicator_init", "__stack_chk_fail",
	"__stack_chk_guard", "__chk_fail", "__tls_get_addr", "__muldc3", "__mulsc3", "__mulxc3", "__multc3",
	"__divdc3", "__divsc3", "__divxc3", "__divtc3", "__powisf2", "__powidf2", "__powixf2", "__popcountdi2",
	"__popcountti2", "__paritydi2", "__parityti2", "__clzdi2", "__clzti2", "__ctzdi2", "__ctzti2",
	"__ffsdi2", "__ffsti2", "__bswapsi2", "__bswapdi2", "__divti3", "__modti3", "__udivti3", "__umodti3",
	"__udivmodti4", "__multi3", "__floattisf", "__floattidf", "__floatuntisf", "__floatuntidf", "__fixsfti",
	"__fixdfti", "__fixunssfti", "__fixunsdfti", "__extendhfsf2", "__extendhfdf2", "__truncsfhf2",
	"__truncdfhf2", "__extendbfsf2", "__truncsfbf2", "__truncdfbf2", "__addtf3", "__subtf3", "__multf3",
	"__divtf3", "__negtf2", "__extenddftf2", "__extendsftf2", "__trunctfdf2", "__trunctfsf2", "__fixtfsi",
	"__fixtfdi", "__fixunstfsi", "__fixunstfdi", "__floatsitf", "__floatditf", "__floatunsitf",
	"__floatunditf", "__eqtf2", "__netf2", "__lttf2", "__letf2", "__gttf2", "__getf2", "__unordtf2",
	"__divmodti4", "__floattixf", "__fixxfti", "__floatuntixf", "__fixunsxfti", "__floattitf", "__fixtfti",
	"__floatuntitf", "__fixunstfti", "__extendhfxf2", "__truncxfhf2", "__extendhftf2", "__trunctfhf2",
	"__floattihf", "__fixhfti", "__floatuntihf", "__fixunshfti", "__extendxftf2", "__trunctfxf2",
	"openblas_set_num_threads",
};

/* What GCC writes for a call the recipe spelled otherwise, so the
 * denylist, which reads the source's spelling, does not apply:
 * fprintf(stderr, "text\n") and fputs become fwrite. A recipe that names
 * fwrite is still refused by check 1. */
static const char *const rewritten_names[] = { "fwrite" };

/* OpenMP's C API (omp.h) for host threads, locks, schedules, tasks and
 * memory. Not: the clocks, the affinity and place reports, the device and
 * target calls (which load libgomp's offload plugins), pausing the
 * runtime; nor libgomp's Fortran twins (omp_get_wtime_). */
static const char *const omp_names[] = {
	"omp_set_num_threads", "omp_get_num_threads", "omp_get_max_threads", "omp_get_thread_num",
	"omp_in_parallel", "omp_set_dynamic", "omp_get_dynamic", "omp_set_nested", "omp_get_nested",
	"omp_init_lock", "omp_init_lock_with_hint", "omp_destroy_lock", "omp_set_lock", "omp_unset_lock",
	"omp_test_lock", "omp_init_nest_lock", "omp_init_nest_lock_with_hint", "omp_destroy_nest_lock",
	"omp_set_nest_lock", "omp_unset_nest_lock", "omp_test_nest_lock", "omp_set_schedule", "omp_get_schedule",
	"omp_get_thread_limit", "omp_set_max_active_levels", "omp_get_max_active_levels",
	"omp_get_supported_active_levels", "omp_get_level", "omp_get_ancestor_thread_num", "omp_get_team_size",
	"omp_get_active_level", "omp_in_final", "omp_get_cancellation", "omp_get_proc_bind",
	"omp_get_max_task_priority", "omp_set_num_teams", "omp_get_max_teams", "omp_get_num_teams",
	"omp_get_team_num", "omp_set_teams_thread_limit", "omp_get_teams_thread_limit", "omp_fulfill_event",
	"omp_init_allocator", "omp_destroy_allocator", "omp_set_default_allocator", "omp_get_default_allocator",
	"omp_alloc", "omp_aligned_alloc", "omp_calloc", "omp_aligned_calloc", "omp_realloc", "omp_free",
};

/* The CUDA runtime a kernel library needs: memory and copies, streams,
 * events, graphs, launches and their configuration, errors, and the
 * device's attributes by number. Not (besides check 1's CUDA denylist):
 * the device's properties and PCI identity, the driver's version, free
 * memory (which shows other processes' use), device selection masks,
 * graphics interop and the profiler. */
static const char *const cuda_prefixes[] = {
	"cudaMalloc", "cudaFree", "cudaMemcpy", "cudaMemset", "cudaMemPrefetch", "cudaMemAdvise", "cudaMemPool",
	"cudaStream", "cudaEvent", "cudaGraph", "cudaLaunch", "cudaFunc", "cudaOccupancy", "cudaHostAlloc",
	"cudaHostRegister", "cudaHostUnregister", "cudaHostGetDevicePointer",
};
static const char *const cuda_names[] = {
	"cudaGetLastError", "cudaPeekAtLastError", "cudaGetErrorString", "cudaGetErrorName",
	"cudaDeviceSynchronize", "cudaGetDevice", "cudaSetDevice", "cudaGetDeviceCount", "cudaDeviceGetAttribute",
	"cudaDeviceSetLimit", "cudaDeviceGetLimit", "cudaDeviceSetCacheConfig", "cudaDeviceGetCacheConfig",
	"cudaDeviceGetStreamPriorityRange", "cudaDeviceGetDefaultMemPool", "cudaDeviceGetMemPool",
	"cudaGetSymbolAddress", "cudaGetSymbolSize", "cudaPointerGetAttributes", "cudaRuntimeGetVersion",
	"cudaGetFuncBySymbol", "cudaGetKernel", "cudaThreadExchangeStreamCaptureMode",
};
/* Within those families, what the exclusions above name (graphics
 * interop; the rest of cudaGraphics is on check 1's CUDA denylist). */
static const char *const cuda_excluded[] = { "cudaEventCreateFromEGLSync" };

/* Whole families: libgcc's atomics (aarch64's outline atomics, libatomic's
 * generic ones) and CBLAS. */
static const char *const c_prefixes[] = { "__aarch64_", "__atomic_", "cblas_" };

/* The entry points GCC's OpenMP lowering calls in libgomp: parallel
 * regions, work sharing, synchronisation and tasks on the host. Not
 * GOMP_target* and GOMP_offload* (devices), nor GOMP_error/GOMP_warning
 * (which print for the program). */
static const char *const gomp_prefixes[] = {
	"GOMP_parallel", "GOMP_loop_", "GOMP_barrier", "GOMP_critical_", "GOMP_atomic_", "GOMP_single_",
	"GOMP_sections", "GOMP_ordered_", "GOMP_task", "GOMP_doacross_", "GOMP_teams", "GOMP_cancel",
	"GOMP_workshare_", "GOMP_scope_", "GOMP_alloc", "GOMP_free",
};

/* What nvcc's host code calls for a .cu file: registering its kernels with
 * the runtime (and unregistering them at exit, through atexit, which the
 * denylist otherwise refuses), launching them, and the C++ ABI of
 * exceptions, guarded statics and operator new. */
static const char *const cxx_names[] = {
	"__cudaRegisterFatBinary", "__cudaRegisterFatBinaryEnd", "__cudaUnregisterFatBinary",
	"__cudaRegisterFunction", "__cudaRegisterVar", "__cudaRegisterManagedVar", "__cudaRegisterSurface",
	"__cudaRegisterTexture", "__cudaInitModule", "__cudaPushCallConfiguration", "__cudaPopCallConfiguration",
	"__cudaLaunchKernel", "__cudaGetKernel", "atexit", "__cxa_atexit", "__dso_handle", "_Unwind_Resume",
	"__gxx_personality_v0", "__cxa_guard_acquire", "__cxa_guard_release", "__cxa_guard_abort",
	"__cxa_pure_virtual", "__cxa_deleted_virtual", "__cxa_begin_catch", "__cxa_end_catch", "__cxa_rethrow",
	"__cxa_allocate_exception", "__cxa_free_exception", "__cxa_throw", "__cxa_throw_bad_array_new_length",
	"__cxa_call_terminate", "_ZSt9terminatev", "_ZSt7nothrow", "_Znwm", "_Znam", "_ZdlPv", "_ZdaPv",
	"_ZdlPvm", "_ZdaPvm", "_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t", "_ZdlPvRKSt9nothrow_t",
	"_ZdaPvRKSt9nothrow_t", "_ZnwmSt11align_val_t", "_ZnamSt11align_val_t", "_ZdlPvSt11align_val_t",
	"_ZdaPvSt11align_val_t", "_ZdlPvmSt11align_val_t", "_ZdaPvmSt11align_val_t",
};

/* The type information of the ABI's own classes and of std's exceptions,
 * which thrown and caught exceptions name. */
static const char *const cxx_prefixes[] = { "_ZTVN10__cxxabiv1", "_ZTIN10__cxxabiv1", "_ZTISt", "_ZTSSt" };

/* The type information of a fundamental type, and of a pointer to one
 * (throw 42: _ZTIi; a const char *: _ZTIPKc), which libsupc++ defines. */
static int cxx_fundamental_typeinfo(const char *s)
{
	const char *p = s + 4;

	if (strncmp(s, "_ZTI", 4))
		return 0;
	if (*p == 'P')
		p += 1 + (p[1] == 'K');
	return p[0] && !p[1] && strchr("vwbcahstijlmxynofdegz", p[0]);
}

static int in_list(const char *const *list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i], s))
			return 1;
	return 0;
}

static int has_prefix_in(const char *const *list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strncmp(s, list[i], strlen(list[i])))
			return 1;
	return 0;
}

/* A math.h name: a base, or a base with one of math_suffixes, either of
 * them perhaps followed by _r. */
static int math_name(const char *s)
{
	char base[64];
	size_t n = strlen(s);

	if (n >= sizeof base)
		return 0;
	memcpy(base, s, n + 1);
	if (n > 2 && !strcmp(base + n - 2, "_r")) {
		n -= 2;
		base[n] = '\0';
	}
	if (in_list(math_names, COUNT(math_names), base))
		return 1;
	for (size_t i = 0; i < COUNT(math_suffixes); i++) {
		size_t k = strlen(math_suffixes[i]);

		if (n > k && !strcmp(base + n - k, math_suffixes[i])) {
			char stem[64];

			memcpy(stem, base, n - k);
			stem[n - k] = '\0';
			if (in_list(math_names, COUNT(math_names), stem))
				return 1;
		}
	}
	return 0;
}

/* libmvec's vector forms GCC calls for a vectorized loop of a math
 * function: _ZGV, an ISA letter, N or M, a lane count, the parameters,
 * _ and the scalar name (_ZGVdN8v_expf). */
static int libmvec_name(const char *s)
{
	const char *p = s + 4;

	if (strncmp(s, "_ZGV", 4) || !*p)
		return 0;
	p++;
	if (*p != 'N' && *p != 'M')
		return 0;
	for (p++; *p >= '0' && *p <= '9'; p++)
		;
	while (*p && *p != '_')
		p++;
	return *p == '_' && math_name(p + 1);
}

/* std::__throw_bad_alloc() and its kin: _ZSt, a length, __throw_. */
static int cxx_throw_helper(const char *s)
{
	const char *p = s + 4;

	if (strncmp(s, "_ZSt", 4) || !(*p >= '0' && *p <= '9'))
		return 0;
	while (*p >= '0' && *p <= '9')
		p++;
	return !strncmp(p, "__throw_", 8);
}

/* A CUDA runtime function from the lists, or a cuBLASLt one (cublasLt and
 * a capital: its whole API computes on the process's own GPU context; its
 * loggers are on check 1's CUDA denylist). */
static int cuda_api_name(const char *s)
{
	if (!strncmp(s, "cublasLt", 8) && s[8] >= 'A' && s[8] <= 'Z')
		return 1;
	if (has_prefix_in(cuda_excluded, COUNT(cuda_excluded), s))
		return 0;
	return in_list(cuda_names, COUNT(cuda_names), s) || has_prefix_in(cuda_prefixes, COUNT(cuda_prefixes), s);
}

static int c_allowed(const char *s)
{
	if (in_list(libc_names, COUNT(libc_names), s) || math_name(s) || libmvec_name(s) ||
	    in_list(runtime_names, COUNT(runtime_names), s) || in_list(rewritten_names, COUNT(rewritten_names), s) ||
	    in_list(omp_names, COUNT(omp_names), s) || has_prefix_in(c_prefixes, COUNT(c_prefixes), s) ||
	    has_prefix_in(gomp_prefixes, COUNT(gomp_prefixes), s))
		return 1;
	/* glibc's redirected and checked twins of an allowed function:
	 * __isoc99_sscanf, __isoc23_strtol, __snprintf_chk */
	if (!strncmp(s, "__isoc99_", 9) || !strncmp(s, "__isoc23_", 9))
		return in_list(libc_names, COUNT(libc_names), s + 9);
	if (!strncmp(s, "__", 2) && strlen(s) > 6 && !strcmp(s + strlen(s) - 4, "_chk")) {
		char base[64];
		size_t n = strlen(s) - 6;

		if (n >= sizeof base)
			return 0;
		memcpy(base, s + 2, n);
		base[n] = '\0';
		return in_list(libc_names, COUNT(libc_names), base);
	}
	return 0;
}

int symcheck_allowed(const char *name, enum symcheck_kind kind)
{
	if (c_allowed(name))
		return 1;
	if (kind >= SYMCHECK_CUDA_C && cuda_api_name(name))
		return 1;
	return kind == SYMCHECK_CUDA_CXX &&
	       (in_list(cxx_names, COUNT(cxx_names), name) || has_prefix_in(cxx_prefixes, COUNT(cxx_prefixes), name) ||
		cxx_throw_helper(name) || cxx_fundamental_typeinfo(name));
}

/* Whether a reference from an object of kind may resolve to name: the
 * denylist first, except for what nvcc's own code calls. */
static const char *reference_refused(const char *name, enum symcheck_kind kind)
{
	int compiler_emits = in_list(rewritten_names, COUNT(rewritten_names), name) ||
			     (kind == SYMCHECK_CUDA_CXX && in_list(cxx_names, COUNT(cxx_names), name));

	if (!compiler_emits && diffscan_name_denied(name, kind != SYMCHECK_C))
		return "which check 1 refuses (docs/diffscan.md, the call denylist)";
	if (!symcheck_allowed(name, kind))
		return "which is not on the list of library functions a recipe may reference (docs/symcheck.md); "
		       "a recipe can define its own";
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Reading objects                                                     */

struct names {
	char **v;
	size_t n, cap;
};

static void names_free(struct names *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof *s);
}

static int names_add(struct names *s, const char *name, size_t *total, struct kerr *err)
{
	if (++*total > SYMCHECK_SYMBOLS_MAX)
		return kerr_set(err, "recipe.too_large", "the recipe's objects hold more than %u symbols",
				SYMCHECK_SYMBOLS_MAX);
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		char **v = realloc(s->v, cap * sizeof *v);

		if (!v)
			return kerr_set(err, "recipe.nomem", "out of memory");
		s->v = v;
		s->cap = cap;
	}
	if (!(s->v[s->n] = strdup(name)))
		return kerr_set(err, "recipe.nomem", "out of memory");
	s->n++;
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_sort(struct names *s)
{
	if (s->n)
		qsort(s->v, s->n, sizeof *s->v, cmp_name);
}

static int names_has(const struct names *s, const char *name)
{
	return s->n && bsearch(&name, s->v, s->n, sizeof *s->v, cmp_name) != NULL;
}

/* The global and weak symbols of one relocatable object: definitions into
 * def (when not NULL), references into undef (when not NULL). */
/* Sections whose entries the loader calls before main or after exit. */
static int runs_outside_main(const char *name, unsigned type)
{
	static const char *const prefixes[] = { ".init_array", ".preinit_array", ".fini_array", ".ctors", ".dtors",
						".init", ".fini" };

	if (type == SHT_INIT_ARRAY || type == SHT_PREINIT_ARRAY || type == SHT_FINI_ARRAY)
		return 1;
	for (size_t i = 0; i < COUNT(prefixes); i++) {
		size_t n = strlen(prefixes[i]);
		if (!strncmp(name, prefixes[i], n) && (name[n] == '\0' || name[n] == '.'))
			return 1;
	}
	return 0;
}

/* refuse_early: a C object (not the CUDA part, whose nvcc registration
 * runs from a constructor) may hold no code the loader runs before main
 * (constructors, IFUNC resolvers): the runner applies its inner filter in
 * main, and code before it could disable the filter or read what the
 * outer layers allow. The diff scan refuses the spellings; this is the
 * object's word for it. */
static int read_object(const char *path, const char *label, struct names *def, struct names *undef, size_t *total,
		       int refuse_early, struct kerr *err)
{
	Elf *e = NULL;
	Elf_Scn *scn = NULL;
	int fd = -1, rc = -1, symtabs = 0;
	size_t shnum = 0;
	GElf_Ehdr eh;

	if (elf_version(EV_CURRENT) == EV_NONE) {
		kerr_set(err, "recipe.build_failed", "libelf: %s", elf_errmsg(-1));
		goto out;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		kerr_errno(err, "recipe.build_failed", path);
		goto out;
	}
	if (!(e = elf_begin(fd, ELF_C_READ, NULL)) || elf_kind(e) != ELF_K_ELF || !gelf_getehdr(e, &eh) ||
	    eh.e_type != ET_REL) {
		kerr_set(err, "recipe.build_failed", "%s: its object is not a relocatable ELF file (%s)", label,
			 elf_errmsg(-1));
		goto out;
	}
	/* a compiler's object always has one; a file cut short has none left */
	if (elf_getshdrnum(e, &shnum) != 0 || shnum == 0)
		goto bad;
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;
		size_t count;

		if (!gelf_getshdr(scn, &sh))
			goto bad;
		if (refuse_early) {
			const char *sname = elf_strptr(e, eh.e_shstrndx, sh.sh_name);

			if (!sname)
				goto bad;
			if (runs_outside_main(sname, sh.sh_type)) {
				kerr_set(err, "recipe.bad_symbol", "%s has a %.64s section: code the loader runs before main "
					 "or after exit", label, sname);
				goto out;
			}
		}
		if (sh.sh_type != SHT_SYMTAB)
			continue;
		symtabs++;
		if (!(d = elf_getdata(scn, NULL)) || !sh.sh_entsize)
			goto bad;
		count = sh.sh_size / sh.sh_entsize;
		for (size_t i = 1; i < count; i++) {
			GElf_Sym sym;
			const char *name;

			if (!gelf_getsym(d, (int)i, &sym) || !(name = elf_strptr(e, sh.sh_link, sym.st_name)))
				goto bad;
			if (refuse_early && GELF_ST_TYPE(sym.st_info) == STT_GNU_IFUNC) {
				kerr_set(err, "recipe.bad_symbol", "%s defines %.64s as an IFUNC: its resolver runs before "
					 "main", label, *name ? name : "a symbol");
				goto out;
			}
			if (GELF_ST_BIND(sym.st_info) == STB_LOCAL || !*name)
				continue;
			if (sym.st_shndx == SHN_UNDEF ? undef && names_add(undef, name, total, err) < 0
						      : def && names_add(def, name, total, err) < 0)
				goto out;
		}
	}
	if (symtabs == 1) {
		rc = 0;
		goto out;
	}
bad:
	kerr_set(err, "recipe.build_failed", "%s: its object's symbol table cannot be read (%s)", label, elf_errmsg(-1));
out:
	if (e)
		elf_end(e);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ------------------------------------------------------------------ */
/* The check                                                           */

int symcheck_objects(const struct symcheck_obj *objs, size_t n, const char *const *api, struct kerr *err)
{
	struct names own = { 0 }, offered = { 0 }, *undef = NULL;
	char first[512] = "";
	size_t total = 0, bad = 0;
	int rc = -1;

	if (n > SYMCHECK_OBJECTS_MAX)
		return kerr_set(err, "recipe.too_large", "%zu recipe objects (at most %d)", n, SYMCHECK_OBJECTS_MAX);
	if (!(undef = calloc(n ? n : 1, sizeof *undef)))
		return kerr_set(err, "recipe.nomem", "out of memory");
	for (size_t i = 0; i < n; i++)
		if (read_object(objs[i].path, objs[i].name, &own, &undef[i], &total, objs[i].kind == SYMCHECK_C, err) < 0)
			goto out;
	for (const char *const *a = api; a && *a; a++)
		if (read_object(*a, *a, &offered, NULL, &total, 0, err) < 0)
			goto out;
	names_sort(&own);
	names_sort(&offered);
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < undef[i].n; k++) {
			const char *s = undef[i].v[k], *why;

			if (names_has(&own, s) || (objs[i].kind != SYMCHECK_C && names_has(&offered, s)))
				continue;
			if ((why = reference_refused(s, objs[i].kind)) && !bad++)
				snprintf(first, sizeof first, "%s references %s, %s", objs[i].name, s, why);
		}
	if (bad) {
		if (bad > 1)
			kerr_set(err, "recipe.bad_symbol", "%s (and %zu more)", first, bad - 1);
		else
			kerr_set(err, "recipe.bad_symbol", "%s", first);
		goto out;
	}
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		names_free(&undef[i]);
	free(undef);
	names_free(&own);
	names_free(&offered);
	return rc;
}

/* ------------------------------------------------------------------ */
/* The merged object                                                   */

static int kept(const char *const *keep, const char *name)
{
	for (; *keep; keep++)
		if (!strcmp(*keep, name))
			return 1;
	return 0;
}

int symcheck_rename_list(const char *obj, const char *const *keep, const char *list_path, struct kerr *err)
{
	struct names def = { 0 };
	char *text = NULL;
	size_t total = 0, len = 0, cap = 0;
	int rc = -1;

	if (read_object(obj, "the merged recipe", &def, NULL, &total, 0, err) < 0)
		goto out;
	names_sort(&def);
	for (size_t i = 0; i < def.n; i++) {
		size_t need = 2 * strlen(def.v[i]) + sizeof SYMCHECK_RENAME_PREFIX + 2;

		if (kept(keep, def.v[i]) || (i && !strcmp(def.v[i], def.v[i - 1])))
			continue;
		if (len + need + 1 > cap) {
			size_t ncap = 2 * (len + need + 1) + 4096;
			char *t = realloc(text, ncap);

			if (!t) {
				kerr_set(err, "recipe.nomem", "out of memory");
				goto out;
			}
			text = t;
			cap = ncap;
		}
		len += (size_t)snprintf(text + len, cap - len, "%s %s%s\n", def.v[i], SYMCHECK_RENAME_PREFIX, def.v[i]);
	}
	rc = fs_write_atomic(list_path, text ? text : "", len, err);
out:
	free(text);
	names_free(&def);
	return rc;
}

int symcheck_exports(const char *obj, const char *const *keep, struct kerr *err)
{
	struct names def = { 0 };
	size_t total = 0;
	int rc = -1;

	if (read_object(obj, "the merged recipe", &def, NULL, &total, 0, err) < 0)
		goto out;
	for (size_t i = 0; i < def.n; i++)
		if (!kept(keep, def.v[i]) && strncmp(def.v[i], SYMCHECK_RENAME_PREFIX, strlen(SYMCHECK_RENAME_PREFIX))) {
			kerr_set(err, "recipe.bad_symbol",
				 "the merged recipe still defines %s where the runner's other code could reach it",
				 def.v[i]);
			goto out;
		}
	rc = 0;
out:
	names_free(&def);
	return rc;
}
