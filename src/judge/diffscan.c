/* diffscan.c: the forbidden-construct part of judgment check 1 (see
 * diffscan.h and docs/diffscan.md), one file at a time. Owns the
 * allowlists and denylists a patched recipe's C text is held to, applied
 * to tokens from clex.c, so that words in comments and strings never count
 * and a spliced or pasted identifier always does; the declarations a
 * file makes are read by diffscan_decl.c, the CUDA part's own rules are
 * diffscan_cuda.c's, the folder walk diffscan_tree.c's. Never
 * compiles, expands or runs anything: it is a cheap first filter in front
 * of the sandbox, not a replacement for it. */
#include "judge/diffscan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "judge/clex.h"
#include "judge/diffscan_cuda.h"
#include "judge/diffscan_int.h"

/* ------------------------------------------------------------------ */
/* Policy tables (each decision and its reason is in docs/diffscan.md) */

/* Headers from the C library's pure parts, OpenMP, CBLAS and the x86
 * intrinsics. stdio.h and stdlib.h also declare forbidden functions; the
 * call denylist catches their use. */
static const char *const allowed_angle[] = {
	"stddef.h", "stdint.h",  "stdbool.h", "string.h", "math.h",      "float.h",      "limits.h",
	"stdlib.h", "stdio.h",   "assert.h",  "omp.h",    "cblas.h",     "immintrin.h",  "x86intrin.h",
	"stdalign.h", "errno.h", "stdarg.h",  "inttypes.h",
};

#define RECIPE_API_INCLUDE "sandbox/recipe_api.h"

/* Identifiers a recipe may not name: the way out of a pure function of its
 * inputs (processes, memory mappings, signals, sockets, files, environment,
 * dynamic loading, clocks, randomness, identity of the machine). */
static const char *const denied_names[] = {
	/* processes and privileges */
	"syscall", "fork", "vfork", "clone", "clone3", "execl", "execle", "execlp", "execv", "execve",
	"execvp", "execvpe", "execveat", "fexecve", "system", "popen", "pclose", "kill", "killpg",
	"tkill", "tgkill", "ptrace", "prctl", "arch_prctl", "wait", "waitpid", "waitid", "wait3",
	"wait4", "exit", "_exit", "_Exit", "quick_exit", "atexit", "at_quick_exit", "on_exit",
	"daemon", "setsid", "setpgid", "setuid", "setgid", "seteuid", "setegid", "setreuid",
	"setresuid", "unshare", "setns", "personality", "seccomp", "setrlimit", "prlimit", "chroot",
	"pivot_root", "mount", "umount", "umount2", "reboot", "sched_setaffinity",
	"sched_setscheduler", "nice", "setpriority",
	/* who and where the process is: a pure function must not ask */
	"getpid", "getppid", "gettid", "getuid", "geteuid", "getgid", "getegid", "uname",
	"gethostname", "sysconf", "get_nprocs", "get_nprocs_conf", "getauxval",
	/* memory mappings and shared memory */
	"mmap", "mmap64", "munmap", "mremap", "mprotect", "pkey_mprotect", "madvise", "mlock",
	"mlock2", "munlock", "mlockall", "munlockall", "mincore", "brk", "sbrk", "shmget", "shmat",
	"shmdt", "shmctl", "memfd_create", "process_vm_readv", "process_vm_writev", "userfaultfd",
	/* signals, non-local jumps, sleeping */
	"signal", "sigaction", "sigprocmask", "sigsuspend", "sigaltstack", "raise", "alarm",
	"setitimer", "getitimer", "pause", "setjmp", "longjmp", "sigsetjmp", "siglongjmp", "_setjmp",
	"_longjmp", "sleep", "usleep", "nanosleep", "clock_nanosleep",
	/* sockets and name lookup */
	"socket", "socketpair", "connect", "bind", "listen", "accept", "accept4", "send", "sendto",
	"sendmsg", "sendmmsg", "sendfile", "sendfile64", "recv", "recvfrom", "recvmsg", "recvmmsg",
	"getaddrinfo", "freeaddrinfo", "getnameinfo", "gethostbyname", "gethostbyname2",
	"gethostbyaddr", "setsockopt", "getsockopt", "shutdown", "getpeername", "getsockname",
	"select", "pselect", "poll", "ppoll",
	/* files, descriptors and reading input (writing a log line is allowed) */
	"fopen", "fopen64", "freopen", "fdopen", "fmemopen", "open_memstream", "open", "open64",
	"openat", "openat2", "creat", "read", "readv", "pread", "pread64", "preadv", "write", "writev",
	"pwrite", "pwrite64", "pwritev", "close", "fclose", "unlink", "unlinkat", "remove", "rename",
	"renameat", "renameat2", "link", "linkat", "symlink", "symlinkat", "readlink", "readlinkat",
	"mkdir", "mkdirat", "rmdir", "opendir", "fdopendir", "readdir", "readdir64", "scandir",
	"closedir", "stat", "stat64", "lstat", "fstat", "fstatat", "statx", "statfs", "fstatfs",
	"access", "faccessat", "euidaccess", "chdir", "fchdir", "chmod", "fchmod", "fchmodat", "chown",
	"fchown", "lchown", "truncate", "ftruncate", "tmpfile", "tmpnam", "tempnam", "mkstemp",
	"mkstemps", "mkostemp", "mkostemps", "mkdtemp", "mktemp", "dup", "dup2", "dup3", "pipe",
	"pipe2", "mkfifo", "mknod", "fwrite", "fread", "fgets", "fgetc", "getc", "getchar", "gets",
	"getline", "getdelim", "scanf", "fscanf", "vscanf", "vfscanf", "ungetc", "fseek", "fseeko",
	"ftell", "ftello", "rewind", "fileno", "dprintf", "vdprintf", "realpath", "getcwd", "ioctl",
	"fcntl", "flock", "lockf", "fsync", "fdatasync", "sync", "syncfs", "splice", "vmsplice",
	"copy_file_range", "utime", "utimes", "futimens", "utimensat", "glob", "ftw", "nftw",
	"shm_open", "shm_unlink", "mq_open", "sem_open", "msgget", "semget",
	/* the same through GNU names stdio.h and stdlib.h declare under
	 * _GNU_SOURCE: 64-bit twins, cookies, terminals, the login */
	"freopen64", "tmpfile64", "fgetpos", "fsetpos", "fgetpos64", "fsetpos64", "fseeko64", "ftello64",
	"fopencookie", "open_wmemstream", "fcloseall", "getw", "putw", "tmpnam_r", "ctermid", "cuserid",
	"canonicalize_file_name", "posix_openpt", "getpt", "ptsname", "ptsname_r", "grantpt", "unlockpt",
	"getloadavg", "getlogin", "getlogin_r", "lseek", "lseek64", "process_madvise", "process_mrelease",
	"strfry", /* shuffles with a generator seeded from the clock and the pid */
	"_Fork",
	/* environment */
	"getenv", "secure_getenv", "setenv", "unsetenv", "putenv", "clearenv", "environ",
	/* dynamic loading */
	"dlopen", "dlmopen", "dlsym", "dlvsym", "dlclose", "dlerror", "dladdr", "dlinfo",
	"dl_iterate_phdr",
	/* clocks: a recipe that can read time can behave differently when timed */
	"time", "clock", "clock_gettime", "clock_getres", "gettimeofday", "timespec_get", "times",
	"getrusage", "ftime", "localtime", "localtime_r", "gmtime", "gmtime_r", "mktime", "timegm",
	"omp_get_wtime", "omp_get_wtick",
	/* OpenMP's affinity reports print the host name and the pid */
	"omp_capture_affinity", "omp_display_affinity", "omp_set_affinity_format", "omp_get_affinity_format",
	"omp_display_env", "omp_get_num_procs", "omp_get_place_proc_ids", "omp_get_place_num_procs", "stime", "settimeofday", "adjtime", "tzset", "ctime", "ctime_r",
	"getdate", "getdate_r", "timelocal",
	/* randomness other than streams derived from the run's seed */
	"rand", "rand_r", "srand", "random", "random_r", "srandom", "srandom_r", "initstate",
	"setstate", "drand48", "erand48", "lrand48", "nrand48", "mrand48", "jrand48", "srand48",
	"seed48", "lcong48", "getrandom", "getentropy",
};

/* Families denied by prefix: every member is as bad as the first. */
static const char *const denied_prefixes[] = {
	"posix_spawn", "pthread_", "thrd_", "epoll_", "inotify_", "fanotify_", "io_uring_", "inet_",
	"arc4random", "_rdrand", "_rdseed", "_rdtsc", "_writefsbase", "_writegsbase", "_readfsbase",
	"_readgsbase", "_rdpid", "sched_set", "clock_", "timer_", "timerfd_", "pidfd_", "mkstemp", "mkostemp",
	"mktemp", "mkdtemp",
	/* glibc's exported internals: _IO_popen, _dl_find_object */
	"_IO_", "_dl_",
	/* OpenBLAS's own controls: CPU affinity (what sched_set* does), the
	 * machine's processors and configuration; a recipe uses cblas_* */
	"openblas_", "goto_",
};

/* Names a denied prefix covers that a recipe may still use. */
static const char *const allowed_despite_prefix[] = { "openblas_set_num_threads" };

/* Families denied by suffix: stdio's unlocked twins of calls on a FILE. */
static const char *const denied_suffixes[] = { "_unlocked" };

/* Builtins with no side effect beyond the value they compute or a hint.
 * __builtin_cpu_supports picks a kernel at run time (the recipe's AVX-512
 * gemm). It does tell a recipe which CPU it runs on, but a recipe that
 * computes differently by CPU fails spot replay on the validator's machine,
 * and every kernel must give the same bits (docs/determinism.md). */
static const char *const allowed_builtins[] = {
	"__builtin_expect",   "__builtin_prefetch",  "__builtin_assume_aligned", "__builtin_unreachable",
	"__builtin_ctz",      "__builtin_ctzl",      "__builtin_ctzll",          "__builtin_clz",
	"__builtin_clzl",     "__builtin_clzll",     "__builtin_popcount",       "__builtin_popcountl",
	"__builtin_popcountll", "__builtin_cpu_supports",
};

/* Reserved (double-underscore) spellings that are GNU keywords or
 * feature tests, not library internals. Not __has_include: the compiler
 * opens whatever path it names, with the validator's rights (whether a
 * file exists there, and a FIFO would hold the build), and a recipe's
 * headers are known without asking. */
static const char *const allowed_reserved[] = {
	"__restrict", "__restrict__", "__inline", "__inline__", "__extension__", "__alignof", "__alignof__", "__const", "__const__", "__volatile",
	"__volatile__", "__signed", "__signed__", "__label__", "__real__", "__imag__", "__auto_type",
	"__int128", "__fp16", "__bf16", "__float128", "__func__", "__FUNCTION__",
	"__PRETTY_FUNCTION__", "__thread", "__has_attribute", "__has_builtin",
	"__VA_ARGS__", "__VA_OPT__",
};

/* Attributes that only shape code generation or diagnostics. */
static const char *const allowed_attributes[] = {
	"aligned", "packed", "unused", "always_inline", "noinline", "flatten", "hot", "cold", "pure",
	"const", "noreturn", "nonnull", "returns_nonnull", "malloc", "alloc_size", "alloc_align",
	"assume_aligned", "warn_unused_result", "vector_size", "may_alias", "format", "nothrow",
	"target", "deprecated", "fallthrough", "noclone",
};

/* C++'s alternative tokens: words the C lexer reads as names, operators
 * to nvcc (compl S() is a destructor). */
static const char *const alt_tokens[] = {
	"and", "and_eq", "bitand", "bitor", "compl", "not", "not_eq", "or", "or_eq", "xor", "xor_eq",
};

/* Attributes that run code before main or after exit. */
static const char *const constructor_attributes[] = { "constructor", "destructor", "init_priority" };

/* Keywords (C11 and GNU): redefining one changes what every later line means. */
static const char *const keywords[] = {
	"auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else",
	"enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register",
	"restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch", "typedef",
	"union", "unsigned", "void", "volatile", "while", "_Alignas", "_Alignof", "_Atomic", "_Bool",
	"_Complex", "_Generic", "_Imaginary", "_Noreturn", "_Static_assert", "_Thread_local", "asm",
	"typeof", "_Pragma", "defined",
};

static const char *const reasons[][2] = {
	{ "judge.lex", "unterminated comment or literal" },
	{ "judge.too_large", "file or tree over the scan's size limit" },
	{ "judge.not_regular", "recipe entry is not a regular file" },
	{ "judge.io", "recipe folder could not be read" },
	{ "judge.oom", "out of memory while scanning" },
	{ "judge.obfuscation", "spelling no honest recipe needs (trigraph, digraph, UCN, odd bytes)" },
	{ "judge.forbidden_include", "include outside the allowlist" },
	{ "judge.forbidden_call", "names a function outside what a pure recipe may use" },
	{ "judge.inline_asm", "inline assembly" },
	{ "judge.forbidden_pragma", "pragma other than omp, GCC unroll, GCC ivdep, once" },
	{ "judge.constructor", "code that runs before main or after exit" },
	{ "judge.forbidden_attribute", "attribute outside the allowlist" },
	{ "judge.extern", "declares a symbol from outside the recipe (extern, undefined prototype, typeof)" },
	{ "judge.macro_hides", "macro that defines, hides or redefines a forbidden name" },
	{ "judge.token_paste", "# or ## in a macro body (builds names the scan cannot see)" },
	{ "judge.forbidden_directive", "preprocessor directive outside the allowlist" },
	{ "judge.nested_function", "a function defined inside a function (GCC then makes the stack executable)" },
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const char *diffscan_code_reason(const char *code)
{
	for (size_t i = 0; i < COUNT(reasons); i++)
		if (!strcmp(reasons[i][0], code))
			return reasons[i][1];
	return "forbidden construct";
}

int diffscan_is_keyword(const struct clex_tok *t)
{
	return t->kind == CLEX_IDENT && ds_in_list(keywords, COUNT(keywords), t->p, t->len);
}

static int has_prefix(const char *s, size_t len, const char *pre)
{
	size_t n = strlen(pre);

	return len >= n && !memcmp(s, pre, n);
}

static int denied(const char *s, size_t len)
{
	if (ds_in_list(denied_names, COUNT(denied_names), s, len))
		return 1;
	if (ds_in_list(allowed_despite_prefix, COUNT(allowed_despite_prefix), s, len))
		return 0;
	for (size_t i = 0; i < COUNT(denied_prefixes); i++)
		if (has_prefix(s, len, denied_prefixes[i]))
			return 1;
	for (size_t i = 0; i < COUNT(denied_suffixes); i++) {
		size_t n = strlen(denied_suffixes[i]);

		if (len > n && !memcmp(s + len - n, denied_suffixes[i], n))
			return 1;
	}
	return 0;
}

/* __m128, __m256i, __m512d, __mmask16: the intrinsics' vector types. */
static int is_vector_type(const char *s, size_t len)
{
	size_t k = 3;

	if (!has_prefix(s, len, "__m"))
		return 0;
	if (has_prefix(s, len, "__mmask"))
		k = 7;
	if (k >= len || s[k] < '0' || s[k] > '9')
		return 0;
	while (k < len && s[k] >= '0' && s[k] <= '9')
		k++;
	while (k < len && s[k] >= 'a' && s[k] <= 'z')
		k++;
	return k == len;
}

/* A reserved "__x" name is fine when it is a GNU keyword, a vector type or
 * a predefined feature macro spelled __NAME__ (__AVX2__, __x86_64__). */
static int reserved_ok(const char *s, size_t len)
{
	if (ds_in_list(allowed_reserved, COUNT(allowed_reserved), s, len) || is_vector_type(s, len))
		return 1;
	return len > 4 && s[len - 1] == '_' && s[len - 2] == '_';
}

static int is_asm(const char *s, size_t len)
{
	return (len == 3 && !memcmp(s, "asm", 3)) || (len == 5 && !memcmp(s, "__asm", 5)) ||
	       (len == 7 && !memcmp(s, "__asm__", 7));
}

/* ------------------------------------------------------------------ */
/* Findings                                                            */

/* Printable copy of a token's text for a message (bytes >= 0x80 and
 * control characters become '?', long tokens are cut). */
static void tok_text(const struct clex_tok *t, char *buf, size_t cap)
{
	size_t n = t->len < cap - 1 ? t->len : cap - 1;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)t->p[i];
		buf[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	buf[n] = '\0';
}

static void find(struct scan *s, const char *code, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void find(struct scan *s, const char *code, int line, const char *fmt, ...)
{
	struct diffscan_finding *f;
	va_list ap;

	if (s->n >= s->cap || !s->out)
		return;
	f = &s->out[s->n++];
	memset(f, 0, sizeof *f);
	snprintf(f->code, sizeof f->code, "%s", code);
	snprintf(f->file, sizeof f->file, "%s", s->file);
	f->line = line;
	va_start(ap, fmt);
	vsnprintf(f->what, sizeof f->what, fmt, ap);
	va_end(ap);
}

void diffscan_find_tok(struct scan *s, const char *code, const struct clex_tok *t, const char *note)
{
	char txt[96];

	tok_text(t, txt, sizeof txt);
	find(s, code, t->line, "%s%s%s", txt, note ? " " : "", note ? note : "");
}

static int toks_append(struct toks *tk, const struct clex_tok *v, size_t n, struct kerr *err)
{
	if (tk->n + n > tk->cap) {
		size_t cap = tk->cap ? tk->cap : 1024;
		struct clex_tok *nv;

		while (cap < tk->n + n)
			cap *= 2;
		nv = realloc(tk->v, cap * sizeof *nv);
		if (!nv)
			return kerr_set(err, "judge.oom", "lexer: out of memory for tokens");
		tk->v = nv;
		tk->cap = cap;
	}
	memcpy(tk->v + tk->n, v, n * sizeof *v);
	tk->n += n;
	return 0;
}

static int lex_all(struct clex *lx, const char *text, size_t len, struct toks *tk, struct kerr *err)
{
	struct clex_tok t;
	int r;

	if (clex_init(lx, text, len, err) < 0)
		return -1;
	while ((r = clex_next(lx, &t, err)) == 1)
		if (toks_append(tk, &t, 1, err) < 0)
			return -1;
	return r;
}

/* ------------------------------------------------------------------ */
/* Token checks                                                        */

static size_t check_ident(struct scan *s, const struct clex_tok *v, size_t i, size_t b);

/* General checks over tokens [a, b): odd spellings, forbidden names, asm,
 * extern, attributes, _Pragma, C23 [[attributes]]. */
static void check_range(struct scan *s, const struct clex_tok *v, size_t a, size_t b)
{
	size_t i = a;

	while (i < b) {
		const struct clex_tok *t = &v[i];

		if (t->kind == CLEX_ODD) {
			diffscan_find_tok(s, "judge.obfuscation", t, t->why);
		} else if (t->kind == CLEX_IDENT) {
			/* s->open and .open = name a member, never the function:
			 * storing the function there would name it elsewhere. */
			if (i > a && (ds_punct(&v[i - 1], ".") || ds_punct(&v[i - 1], "->"))) {
				i++;
				continue;
			}
			i = check_ident(s, v, i, b);
			continue;
		} else if (ds_punct(t, "[") && i + 1 < b && ds_punct(&v[i + 1], "[")) {
			find(s, "judge.forbidden_attribute", t->line, "[[ (C23 attribute syntax)");
		} else if (s->cuda && t->kind == CLEX_CHAR && !t->ws && i > a && v[i - 1].kind == CLEX_NUMBER) {
			/* 1'000 is one number to nvcc and a number and a character
			 * literal to this lexer, which could swallow code up to the
			 * next apostrophe */
			diffscan_find_tok(s, "judge.obfuscation", t, "(C++14 digit separator)");
		}
		i++;
	}
}

static void check_attr_name(struct scan *s, const struct clex_tok *t)
{
	const char *p = t->p;
	size_t n = t->len;

	if (n > 4 && has_prefix(p, n, "__") && p[n - 1] == '_' && p[n - 2] == '_') {
		p += 2;
		n -= 4;
	}
	if (ds_in_list(constructor_attributes, COUNT(constructor_attributes), p, n))
		diffscan_find_tok(s, "judge.constructor", t, "(attribute)");
	else if (!ds_in_list(allowed_attributes, COUNT(allowed_attributes), p, n))
		diffscan_find_tok(s, "judge.forbidden_attribute", t, "(attribute)");
}

/* __attribute__((name, name(args), ...)) at v[i]; returns the index after
 * it. The list must be written out in place: a macro standing in for the
 * list or a name would hide what it asks for. */
static size_t check_attribute(struct scan *s, const struct clex_tok *v, size_t i, size_t b)
{
	int depth = 2, expect = 1;

	if (i + 2 >= b || !ds_punct(&v[i + 1], "(") || !ds_punct(&v[i + 2], "(")) {
		diffscan_find_tok(s, "judge.forbidden_attribute", &v[i], "without its list written out");
		return i + 1;
	}
	for (size_t k = i + 3; k < b; k++) {
		const struct clex_tok *t = &v[k];

		if (ds_punct(t, "(")) {
			depth++;
		} else if (ds_punct(t, ")")) {
			if (--depth == 0)
				return k + 1;
		} else if (depth > 2) {
			check_range(s, v, k, k + 1);
		} else if (ds_punct(t, ",")) {
			expect = 1;
		} else if (expect && t->kind == CLEX_IDENT) {
			check_attr_name(s, t);
			expect = 0;
		} else {
			diffscan_find_tok(s, "judge.forbidden_attribute", t, "(malformed attribute list)");
		}
	}
	diffscan_find_tok(s, "judge.forbidden_attribute", &v[i], "(unbalanced attribute list)");
	return b;
}

/* The pragma policy on the tokens after "pragma": omp (OpenMP, whose
 * clauses get the general checks), GCC unroll, GCC ivdep and once. */
static void check_pragma(struct scan *s, const struct clex_tok *v, size_t a, size_t b, int line)
{
	char w0[48] = "", w1[48] = "";

	if (a == b)
		return;
	if (v[a].kind == CLEX_IDENT && clex_is(&v[a], "omp")) {
		check_range(s, v, a + 1, b);
		return;
	}
	if (v[a].kind == CLEX_IDENT && clex_is(&v[a], "once") && a + 1 == b)
		return;
	if (s->cuda && v[a].kind == CLEX_IDENT && clex_is(&v[a], "unroll")) {
		check_range(s, v, a + 1, b); /* nvcc's #pragma unroll [N] */
		return;
	}
	if (clex_is(&v[a], "GCC") && a + 1 < b &&
	    (clex_is(&v[a + 1], "unroll") || clex_is(&v[a + 1], "ivdep"))) {
		check_range(s, v, a + 2, b);
		return;
	}
	tok_text(&v[a], w0, sizeof w0);
	if (a + 1 < b)
		tok_text(&v[a + 1], w1, sizeof w1);
	find(s, "judge.forbidden_pragma", line, "pragma %s%s%s", w0, *w1 ? " " : "", w1);
}

/* _Pragma("...") at v[i]: the operand must be a string literal written
 * out, and its text passes the same policy as #pragma. */
static size_t check_pragma_op(struct scan *s, const struct clex_tok *v, size_t i, size_t b)
{
	const struct clex_tok *str = i + 2 < b ? &v[i + 2] : NULL;
	struct clex lx = { 0 };
	struct toks tk = { 0 };
	struct kerr err = { 0 };
	char *text = NULL;
	size_t n = 0, q;

	if (i + 3 >= b || !ds_punct(&v[i + 1], "(") || str->kind != CLEX_STRING ||
	    !ds_punct(&v[i + 3], ")")) {
		diffscan_find_tok(s, "judge.forbidden_pragma", &v[i], "without a string literal operand");
		return i + 1;
	}
	q = (size_t)((const char *)memchr(str->p, '"', str->len) - str->p);
	text = malloc(str->len);
	if (!text) { /* the scan's trouble, not the recipe's: no verdict (judge.c) */
		diffscan_find_tok(s, "judge.oom", &v[i], "(out of memory)");
		return i + 4;
	}
	/* Destringize (C11 6.10.9): \" and \\ lose their backslash. */
	for (size_t k = q + 1; k + 1 < str->len; k++) {
		if (str->p[k] == '\\' && (str->p[k + 1] == '"' || str->p[k + 1] == '\\'))
			k++;
		text[n++] = str->p[k];
	}
	if (lex_all(&lx, text, n, &tk, &err) < 0) {
		if (!strcmp(err.code, "judge.oom"))
			diffscan_find_tok(s, "judge.oom", &v[i], "(out of memory)");
		else
			diffscan_find_tok(s, "judge.forbidden_pragma", &v[i], "(operand does not lex)");
	} else {
		for (size_t k = 0; k < tk.n; k++)
			tk.v[k].line = v[i].line;
		check_pragma(s, tk.v, 0, tk.n, v[i].line);
	}
	free(tk.v);
	clex_free(&lx);
	free(text);
	return i + 4;
}

/* The index after the ')' closing the asm statement's '(' at v[k]; it
 * stops early at what no asm statement holds (';', a brace, another asm),
 * which keeps a file of unclosed statements linear. */
static size_t asm_end(const struct clex_tok *v, size_t k, size_t b)
{
	int depth = 0;

	for (size_t i = k; i < b; i++) {
		if (ds_punct(&v[i], "(")) {
			depth++;
		} else if (ds_punct(&v[i], ")")) {
			if (--depth == 0)
				return i + 1;
		} else if (ds_punct(&v[i], ";") || ds_punct(&v[i], "{") || ds_punct(&v[i], "}") ||
			   (v[i].kind == CLEX_IDENT && is_asm(v[i].p, v[i].len))) {
			return i;
		}
	}
	return b;
}

/* asm [volatile] ("template" : operands) in a CUDA file: the template is
 * PTX from the allowlist (dscuda_asm_template); the operands get the
 * general checks. Returns the index after the statement's ')'. */
static size_t check_asm_cuda(struct scan *s, const struct clex_tok *v, size_t i, size_t b)
{
	size_t k = i + 1, a, end, line_end = b;
	char bad[96];
	const char *why;

	/* In code an asm statement may span lines: read it over the rest of
	 * the file, not the line (a macro body is one logical line). */
	if (!s->define && s->all && v >= s->all && v < s->all + s->nall)
		b = s->nall - (size_t)(v - s->all);

	while (k < b && v[k].kind == CLEX_IDENT &&
	       (clex_is(&v[k], "volatile") || clex_is(&v[k], "__volatile__") || clex_is(&v[k], "__volatile")))
		k++;
	if (k >= b || !ds_punct(&v[k], "(")) {
		diffscan_find_tok(s, "judge.inline_asm", &v[i], "(only asm(\"PTX\" ...) statements)");
		return i + 1;
	}
	end = asm_end(v, k, b);
	for (size_t d = k + 1; d < end; d++)
		if (v[d].bol && ds_punct(&v[d], "#")) {
			/* #if 0 "x" #endif: the compiler keeps one branch's literals */
			diffscan_find_tok(s, "judge.inline_asm", &v[i], "(a directive inside an asm statement)");
			return end < line_end ? end : line_end;
		}
	a = ++k;
	while (k < b && v[k].kind == CLEX_STRING)
		k++;
	/* the template ends at its operands or the statement's end: a macro
	 * after the literals would continue it unseen */
	if (k < b && !ds_punct(&v[k], ":") && !ds_punct(&v[k], ")")) {
		diffscan_find_tok(s, "judge.inline_asm", &v[k], "(asm template not written out as literals alone)");
		return end < line_end ? end : line_end;
	}
	why = dscuda_asm_template(v + a, k - a, bad, sizeof bad);
	if (why)
		find(s, "judge.inline_asm", v[i].line, "%s%s(%s)", bad, bad[0] ? " " : "", why);
	/* the operands on this line; later lines get the line's checks */
	if (end - 1 > k && k < line_end)
		check_range(s, v, k, end - 1 < line_end ? end - 1 : line_end);
	return end < line_end ? end : line_end;
}

/* extern "C" (a linkage block or declaration) and extern __shared__ (a
 * kernel's dynamic shared memory) are how CUDA C++ is written; a function
 * declared either way must still be defined in the recipe. */
static int cuda_extern_ok(const struct clex_tok *v, size_t i, size_t b)
{
	return i + 1 < b && ((v[i + 1].kind == CLEX_STRING && clex_is(&v[i + 1], "\"C\"")) ||
			     (v[i + 1].kind == CLEX_IDENT && clex_is(&v[i + 1], "__shared__")));
}

/* extern "C" T name(...); declares a function; extern "C" { opens a
 * block, whose declarations are read like any. Anything else (extern "C"
 * char wordexp[]; or a function type through a template) declares an
 * object with C linkage, which links to a library function of its name.
 * Read to the statement's end, across lines. */
static int extern_c_declares_function(const struct scan *s, const struct clex_tok *v, size_t i, size_t b)
{
	int angle = 0, pd = 0;

	if (!s->define && s->all && v >= s->all && v < s->all + s->nall)
		b = s->nall - (size_t)(v - s->all);
	if (i + 2 < b && ds_punct(&v[i + 2], "{"))
		return 1;
	for (size_t k = i + 2; k < b; k++) {
		if (v[k].bol && ds_punct(&v[k], "#"))
			continue;
		/* another extern ends the look: one declaration has one, and
		 * the scan stays linear in a file of them */
		if ((pd == 0 && (ds_punct(&v[k], ";") || ds_punct(&v[k], "{") || ds_punct(&v[k], "="))) ||
		    (v[k].kind == CLEX_IDENT && clex_is(&v[k], "extern")))
			return 0;
		if (pd == 0)
			angle += ds_punct(&v[k], "<") - ds_punct(&v[k], ">") - 2 * ds_punct(&v[k], ">>");
		if (ds_punct(&v[k], "(")) {
			/* name( declares a function; T (*p) an object, a pointer */
			if (pd == 0 && angle <= 0 && k > i + 2 && v[k - 1].kind == CLEX_IDENT &&
			    !(k + 1 < b && (ds_punct(&v[k + 1], "*") || ds_punct(&v[k + 1], "&"))))
				return 1;
			pd++;
		} else if (ds_punct(&v[k], ")")) {
			pd -= pd > 0;
		}
	}
	return 0;
}

static size_t check_ident(struct scan *s, const struct clex_tok *v, size_t i, size_t b)
{
	const struct clex_tok *t = &v[i];

	if (is_asm(t->p, t->len)) {
		if (s->cuda)
			return check_asm_cuda(s, v, i, b);
		diffscan_find_tok(s, "judge.inline_asm", t, NULL);
	} else if (clex_is(t, "extern")) {
		if (!s->cuda || !cuda_extern_ok(v, i, b))
			diffscan_find_tok(s, "judge.extern", t, NULL);
		else if (v[i + 1].kind == CLEX_STRING && !extern_c_declares_function(s, v, i, b))
			diffscan_find_tok(s, "judge.extern", t,
				 "\"C\" (declares an object: with C linkage it can name a library function)");
	} else if (s->cuda && clex_is(t, "namespace") && i + 1 < b && clex_is(&v[i + 1], "std")) {
		diffscan_find_tok(s, "judge.extern", &v[i + 1], "(reopening namespace std hooks the library's own calls)");
	} else if (s->cuda && clex_is(t, "decltype")) {
		diffscan_find_tok(s, "judge.extern", t, "(can declare a function without a prototype)");
	} else if (s->cuda && clex_is(t, "operator") &&
		   !(i + 2 < b && ds_punct(&v[i + 1], "(") && ds_punct(&v[i + 2], ")"))) {
		/* conversions, overloaded operators, literals and allocation
		 * functions run where no call is written, before main in a
		 * namespace-scope initialiser; a functor's operator() runs only
		 * where a call is written */
		diffscan_find_tok(s, "judge.constructor", t, "(an operator function runs where no call is written)");
	} else if (s->cuda && ds_in_list(alt_tokens, COUNT(alt_tokens), t->p, t->len)) {
		diffscan_find_tok(s, "judge.obfuscation", t, "(C++ alternative token: compl is ~, and is &&)");
	} else if (clex_is(t, "typeof") || clex_is(t, "__typeof") || clex_is(t, "__typeof__")) {
		/* typeof(printf) name; declares a function with no declarator. */
		diffscan_find_tok(s, "judge.extern", t, "(can declare a function without a prototype)");
	} else if (clex_is(t, "__attribute__") || clex_is(t, "__attribute")) {
		return check_attribute(s, v, i, b);
	} else if (clex_is(t, "_Pragma")) {
		return check_pragma_op(s, v, i, b);
	} else if (has_prefix(t->p, t->len, "__builtin_")) {
		if (!ds_in_list(allowed_builtins, COUNT(allowed_builtins), t->p, t->len))
			diffscan_find_tok(s, "judge.forbidden_call", t, "(builtin outside the allowlist)");
	} else if (denied(t->p, t->len) || (s->cuda && dscuda_denied(t->p, t->len))) {
		if (s->define) {
			char name[64];

			tok_text(s->define, name, sizeof name);
			find(s, "judge.macro_hides", t->line, "#define %s ... %.*s", name,
			     (int)(t->len < 64 ? t->len : 64), t->p);
		} else {
			diffscan_find_tok(s, "judge.forbidden_call", t, NULL);
		}
	} else if (has_prefix(t->p, t->len, "__") && !reserved_ok(t->p, t->len) &&
		   !(s->cuda && dscuda_reserved_ok(t->p, t->len))) {
		diffscan_find_tok(s, "judge.forbidden_call", t, "(reserved implementation name)");
	}
	return i + 1;
}

/* ------------------------------------------------------------------ */
/* Directives                                                          */

/* name.h, or in the CUDA part also name.cuh */
static int flat_header_ok(const char *p, size_t n, int cuda)
{
	int h = n >= 3 && !memcmp(p + n - 2, ".h", 2), cuh = cuda && n >= 5 && !memcmp(p + n - 4, ".cuh", 4);

	if (p[0] == '.' || (!h && !cuh))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			 c == '_' || c == '-' || c == '.';

		if (!ok || (c == '.' && i + 1 < n && p[i + 1] == '.'))
			return 0;
	}
	return 1;
}

static int in_names(char *const *names, size_t count, const char *p, size_t n)
{
	for (size_t i = 0; i < count; i++)
		if (strlen(names[i]) == n && !memcmp(names[i], p, n))
			return 1;
	return 0;
}

/* A quoted header the build finds in the recipe: beside the file, or for
 * the CUDA part also at the top (both folders are on its include path). */
static int in_tree(const struct scan *s, const char *p, size_t n)
{
	return in_names(s->tree, s->ntree, p, n) || (s->cuda && in_names(s->top, s->ntop, p, n));
}

static void check_include(struct scan *s, const struct clex_tok *v, size_t a, size_t b)
{
	const struct clex_tok *d = &v[a + 1], *h = a + 2 < b ? &v[a + 2] : NULL;
	const char *p;
	size_t n;

	if (!clex_is(d, "include")) {
		diffscan_find_tok(s, "judge.forbidden_include", d, "(only #include is allowed)");
		return;
	}
	if (!h || h->kind != CLEX_HEADER) {
		find(s, "judge.forbidden_include", d->line, "#include without a literal header name");
		return;
	}
	/* int / #include "name.h" / (...); : a header supplying part of a
	 * statement is read by the scan as a statement of its own */
	if (s->last_code && !ds_punct(s->last_code, ";") && !ds_punct(s->last_code, "{") &&
	    !ds_punct(s->last_code, "}"))
		diffscan_find_tok(s, "judge.obfuscation", d, "(an #include inside a statement)");
	p = h->p + 1;
	n = h->len - 2;
	if (h->p[0] != '<' && n > 4 && !memcmp(p + n - 4, ".cuh", 4) && !s->cxx)
		find(s, "judge.forbidden_include", h->line, "#include %.*s (a .cuh is C++: include it from .cu or .cuh)",
		     (int)h->len, h->p);
	if (h->p[0] == '<') {
		if (!ds_in_list(allowed_angle, COUNT(allowed_angle), p, n) && !(s->cuda && dscuda_angle_ok(p, n)))
			find(s, "judge.forbidden_include", h->line, "#include %.*s", (int)h->len, h->p);
	} else if ((n == strlen(RECIPE_API_INCLUDE) && !memcmp(p, RECIPE_API_INCLUDE, n)) ||
		   (s->cuda && dscuda_harness_header_ok(p, n))) {
		;
	} else if (!flat_header_ok(p, n, s->cuda)) {
		find(s, "judge.forbidden_include", h->line, "#include %.*s", (int)h->len, h->p);
	} else if (s->tree && !in_tree(s, p, n)) {
		find(s, "judge.forbidden_include", h->line, "#include %.*s (not a file of the recipe)",
		     (int)h->len, h->p);
	}
	check_range(s, v, a + 3, b);
}

static int redefinable(const struct clex_tok *t)
{
	return !ds_in_list(keywords, COUNT(keywords), t->p, t->len) && !denied(t->p, t->len) &&
	       !is_asm(t->p, t->len) && !has_prefix(t->p, t->len, "__");
}

/* In the CUDA part the scope walk reads braces, parentheses and '=' as the
 * compiler will: a macro body must not stand in for one of them (#define
 * OPEN {, #define EQ =), so its brackets balance and no '=' sits outside
 * them. */
static void check_macro_shape(struct scan *s, const struct clex_tok *name, const struct clex_tok *v, size_t k,
			      size_t b)
{
	int depth = 0, bad = 0;

	for (size_t i = k; i < b && !bad; i++) {
		if (ds_punct(&v[i], "(") || ds_punct(&v[i], "{") || ds_punct(&v[i], "["))
			depth++;
		else if (ds_punct(&v[i], ")") || ds_punct(&v[i], "}") || ds_punct(&v[i], "]"))
			bad = --depth < 0;
		else if (depth == 0 && ds_punct(&v[i], "="))
			bad = 1;
	}
	if (bad || depth)
		diffscan_find_tok(s, "judge.macro_hides", name,
			 "(a macro body with unbalanced brackets or a bare '=' changes the code's structure unseen)");
}

/* #define NAME body / #define NAME(params) body, and #undef NAME. */
/* C11's minimum translation limit (5.2.4.1); honest macros take a handful,
 * and the limit keeps checking a macro body linear in its length. */
#define MACRO_PARAMS_MAX 127

static void check_define(struct scan *s, const struct clex_tok *v, size_t a, size_t b, int undef)
{
	const struct clex_tok *name = a + 2 < b ? &v[a + 2] : NULL;
	size_t k;

	if (!name || name->kind != CLEX_IDENT) {
		check_range(s, v, a + 2, b);
		return;
	}
	if (!redefinable(name))
		find(s, "judge.macro_hides", name->line, "#%s %.*s", undef ? "undef" : "define",
		     (int)(name->len < 64 ? name->len : 64), name->p);
	k = a + 3;
	if (undef)
		return;
	if (!(k < b && ds_punct(&v[k], "(") && !v[k].ws))
		diffscan_decl_add(s->decls, s->file, name, DECL_MACRO); /* #define N wordexp: N(...) declares wordexp */
	if (k < b && ds_punct(&v[k], "(") && !v[k].ws) {
		s->mparams = &v[k + 1];
		while (k < b && !ds_punct(&v[k], ")"))
			k++;
		s->nmparams = (size_t)(&v[k] - s->mparams);
		k++;
		diffscan_decl_add(s->decls, s->file, name, DECL_MACRO);
		/* Tokens include the commas: n parameters take 2n - 1. */
		if (s->nmparams > 2 * MACRO_PARAMS_MAX) {
			diffscan_find_tok(s, "judge.macro_hides", name, "(more than 127 macro parameters)");
			s->mparams = NULL;
			s->nmparams = 0;
			return;
		}
	}
	/* In the CUDA part, # alone may name a failing call in a message
	 * (#call): it makes a string literal, and _Pragma, asm and #include
	 * take only literals written out, so it can spell nothing they read. */
	for (size_t i = k; i < b; i++) {
		if (ds_punct(&v[i], "##") || (ds_punct(&v[i], "#") && !s->cuda))
			diffscan_find_tok(s, "judge.token_paste", &v[i], "in a macro body");
		else if (s->cuda && ds_punct(&v[i], "~"))
			diffscan_find_tok(s, "judge.constructor", &v[i], "in a macro body (can write a destructor)");
	}
	if (s->cuda)
		check_macro_shape(s, name, v, k, b);
	s->define = name;
	check_range(s, v, k, b);
	diffscan_decl_scan(s, v, k < b ? k : b, b);
	s->define = NULL;
	s->mparams = NULL;
	s->nmparams = 0;
}

static const char *const opening_conditionals[] = { "if", "ifdef", "ifndef" };
static const char *const other_conditionals[] = { "elif", "elifdef", "elifndef", "else", "endif" };

/* In the CUDA part a conditional directive sits between statements, and
 * every branch keeps the braces and parentheses its #if found: it closes
 * none of them and leaves none open. The scan reads all branches at once,
 * so a dead "}; void f() {" would put a live constructor in a function
 * body to the scan's eyes, and a dead typedef would swallow a live
 * statement. */
/* The C/C++ header idiom: #ifdef __cplusplus / extern "C" { / #endif, and
 * its closing } likewise. Both the scan and nvcc read the branch; gcc
 * drops both halves of the pair. */
static int linkage_branch(const struct scan *s, size_t from)
{
	const struct clex_tok *c = s->code->v + from;
	size_t n = s->code->n - from;

	return (n == 3 && clex_is(&c[0], "extern") && clex_is(&c[1], "\"C\"") && ds_punct(&c[2], "{")) ||
	       (n == 1 && ds_punct(&c[0], "}"));
}

static void check_conditional(struct scan *s, const struct clex_tok *v, size_t a, size_t b)
{
	const struct clex_tok *lc = s->last_code, *d = &v[a + 1];
	int opening = ds_in_list(opening_conditionals, COUNT(opening_conditionals), d->p, d->len);

	if (!opening && !ds_in_list(other_conditionals, COUNT(other_conditionals), d->p, d->len))
		return;
	if (lc && !ds_punct(lc, ";") && !ds_punct(lc, "{") && !ds_punct(lc, "}"))
		diffscan_find_tok(s, "judge.obfuscation", d, "(a conditional inside a statement)");
	if (opening) {
		if (s->ncond >= DIFFSCAN_COND_MAX) {
			diffscan_find_tok(s, "judge.too_large", d, "(conditionals nested too deep)");
			return;
		}
		s->cond[s->ncond].brace = s->cond[s->ncond].low_brace = s->brace;
		s->cond[s->ncond].paren = s->cond[s->ncond].low_paren = s->paren;
		s->cond[s->ncond].code = s->code->n;
		/* #ifdef __cplusplus, #if defined(__cplusplus) */
		s->cond[s->ncond].cplusplus = 0;
		for (size_t k = a + 2; k < b; k++)
			s->cond[s->ncond].cplusplus |= clex_is(&v[k], "__cplusplus");
		s->ncond++;
		return;
	}
	if (s->ncond == 0)
		return; /* the compiler refuses an #endif without #if */
	if ((s->cond[s->ncond - 1].brace != s->brace || s->cond[s->ncond - 1].paren != s->paren ||
	     s->cond[s->ncond - 1].low_brace < s->brace || s->cond[s->ncond - 1].low_paren < s->paren) &&
	    !(s->cond[s->ncond - 1].cplusplus && clex_is(d, "endif") && linkage_branch(s, s->cond[s->ncond - 1].code)))
		diffscan_find_tok(s, "judge.obfuscation", d, "(conditional branches that differ in braces or parentheses)");
	/* the next branch starts from the #if's structure again */
	s->cond[s->ncond - 1].low_brace = s->cond[s->ncond - 1].brace;
	s->cond[s->ncond - 1].low_paren = s->cond[s->ncond - 1].paren;
	if (clex_is(d, "endif"))
		s->ncond--;
}

static const char *const plain_directives[] = {
	"if", "ifdef", "ifndef", "elif", "elifdef", "elifndef", "else", "endif", "line",
};

/* Whether a line directive's operands v[a..b) are anything but numbers:
 * a file name, or a macro that might expand to one. */
static int line_names_file(const struct clex_tok *v, size_t a, size_t b)
{
	for (size_t i = a; i < b; i++)
		if (v[i].kind != CLEX_NUMBER)
			return 1;
	return 0;
}

/* The directive whose '#' is v[a] and whose logical line ends before v[b]. */
static void check_directive(struct scan *s, const struct clex_tok *v, size_t a, size_t b)
{
	const struct clex_tok *d = &v[a + 1];

	/* d is past the tokens when the '#' is the last one: a null directive */
	if (a + 1 < b && (d->kind == CLEX_NUMBER || clex_is(d, "line")) && line_names_file(v, a + 2, b)) {
		/* the compiler's diagnostics quote the source line from the file
		 * a line directive names: any file the validator can read */
		diffscan_find_tok(s, "judge.forbidden_directive", d, "(a line directive naming a file)");
		return;
	}
	if (a + 1 == b || d->kind == CLEX_NUMBER) { /* null directive, GCC line marker */
		check_range(s, v, a + 1, b);
		return;
	}
	if (d->kind != CLEX_IDENT) {
		check_range(s, v, a + 1, b);
		if (d->kind != CLEX_ODD)
			diffscan_find_tok(s, "judge.forbidden_directive", d, NULL);
		return;
	}
	if (clex_is(d, "include") || clex_is(d, "include_next") || clex_is(d, "import")) {
		check_include(s, v, a, b);
	} else if (clex_is(d, "define") || clex_is(d, "undef")) {
		check_define(s, v, a, b, clex_is(d, "undef"));
	} else if (clex_is(d, "pragma")) {
		check_pragma(s, v, a + 2, b, d->line);
	} else if (clex_is(d, "error") || clex_is(d, "warning")) {
		/* Free text for a human: only odd spellings matter here. */
		for (size_t i = a + 2; i < b; i++)
			if (v[i].kind == CLEX_ODD)
				diffscan_find_tok(s, "judge.obfuscation", &v[i], v[i].why);
	} else if (ds_in_list(plain_directives, COUNT(plain_directives), d->p, d->len)) {
		check_range(s, v, a + 2, b);
		if (s->cuda)
			check_conditional(s, v, a, b);
	} else {
		diffscan_find_tok(s, "judge.forbidden_directive", d, NULL);
	}
}

/* ------------------------------------------------------------------ */
/* Whole files                                                         */

/* Byte-level spellings that change what the compiler sees before any
 * lexing: trigraphs (-std=c11 enables them; "??/" is a backslash, so it can
 * splice lines or escape a quote), NUL bytes (GCC drops them), a lone CR and
 * bidirectional-override characters (code that reads differently than it
 * compiles). Anywhere in the file, comments and strings included. */
static void check_bytes(struct scan *s, const char *text, size_t len)
{
	int line = 1;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c == '\n')
			line++;
		else if (c == '?' && i + 2 < len && text[i + 1] == '?' && strchr("=/'()!<>-", text[i + 2]) &&
			 text[i + 2])
			find(s, "judge.obfuscation", line, "??%c (trigraph)", text[i + 2]);
		else if (c == '\0')
			find(s, "judge.obfuscation", line, "NUL byte");
		else if (c == '\r' && (i + 1 >= len || text[i + 1] != '\n'))
			find(s, "judge.obfuscation", line, "carriage return without a newline");
		else if (c == 0xe2 && i + 2 < len && (unsigned char)text[i + 1] == 0x80 &&
			 (unsigned char)text[i + 2] >= 0xaa && (unsigned char)text[i + 2] <= 0xae)
			find(s, "judge.obfuscation", line, "bidirectional override character");
		else if (c == 0xe2 && i + 2 < len && (unsigned char)text[i + 1] == 0x81 &&
			 (unsigned char)text[i + 2] >= 0xa6 && (unsigned char)text[i + 2] <= 0xa9)
			find(s, "judge.obfuscation", line, "bidirectional isolate character");
	}
}

/* Inside parentheses each argument, as the preprocessor splits them at
 * commas, keeps its braces and brackets balanced: DROP({) or SWAP(x, })
 * would move a scope where a macro's expansion puts it, not where the
 * scan reads it. */
static void check_paren_args(struct scan *s, const struct clex_tok *v, size_t n)
{
	int depth[DIFFSCAN_NEST_MAX], nd = 0, reported = 0;

	for (size_t k = 0; k < n && !reported; k++) {
		if (ds_punct(&v[k], "(")) {
			if (nd < DIFFSCAN_NEST_MAX)
				depth[nd] = 0;
			nd++;
		} else if (ds_punct(&v[k], ")")) {
			if (nd > 0 && nd <= DIFFSCAN_NEST_MAX && depth[nd - 1] != 0)
				reported = 1;
			nd -= nd > 0;
		} else if (nd > 0 && nd <= DIFFSCAN_NEST_MAX) {
			if (ds_punct(&v[k], ",") && depth[nd - 1] != 0)
				reported = 1;
			depth[nd - 1] += ds_punct(&v[k], "{") + ds_punct(&v[k], "[") - ds_punct(&v[k], "}") -
					 ds_punct(&v[k], "]");
			if (depth[nd - 1] < 0)
				reported = 1;
		}
		if (reported)
			diffscan_find_tok(s, "judge.obfuscation", &v[k],
				 "(braces split across a parenthesised argument: a macro could move the scope)");
	}
}

static void cuda_finding(void *ctx, const char *code, const struct clex_tok *t, const char *note)
{
	diffscan_find_tok(ctx, code, t, note);
}

int diffscan_scan_text(struct scan *s, const char *text, size_t len, struct kerr *err)
{
	struct clex lx = { 0 };
	struct toks tk = { 0 }, code = { 0 };
	size_t i = 0;
	int rc = -1;

	if (len > DIFFSCAN_FILE_BYTES_MAX) {
		kerr_set(err, "judge.too_large", "%s: %zu bytes, over %u", s->file, len,
			 DIFFSCAN_FILE_BYTES_MAX);
		goto out;
	}
	check_bytes(s, text, len);
	if (lex_all(&lx, text, len, &tk, err) < 0) {
		/* A trigraph or NUL found above can be what broke the lexing
		 * ("??/" escaping a quote): report the cause, not the symptom. */
		if (s->n > 0) {
			kerr_clear(err);
			rc = s->n;
			goto out;
		}
		kerr_prefix(err, "%s", s->file);
		goto out;
	}
	s->all = tk.v;
	s->nall = tk.n;
	s->code = &code;
	while (i < tk.n) {
		size_t j = i + 1;

		while (j < tk.n && !tk.v[j].bol)
			j++;
		if (tk.v[i].kind == CLEX_PUNCT && clex_is(&tk.v[i], "#")) {
			check_directive(s, tk.v, i, j);
		} else {
			check_range(s, tk.v, i, j);
			if (toks_append(&code, &tk.v[i], j - i, err) < 0)
				goto out;
			for (size_t k = i; k < j; k++) {
				s->brace += ds_punct(&tk.v[k], "{") - ds_punct(&tk.v[k], "}");
				s->paren += ds_punct(&tk.v[k], "(") - ds_punct(&tk.v[k], ")");
				if (s->brace < s->low_brace)
					s->low_brace = s->brace;
				if (s->brace > s->high_brace)
					s->high_brace = s->brace;
				if (s->paren > s->high_paren)
					s->high_paren = s->paren;
				if (s->paren < s->low_paren)
					s->low_paren = s->paren;
				for (int c = 0; c < s->ncond; c++) {
					if (s->brace < s->cond[c].low_brace)
						s->cond[c].low_brace = s->brace;
					if (s->paren < s->cond[c].low_paren)
						s->cond[c].low_paren = s->paren;
				}
			}
			s->last_code = &tk.v[j - 1];
		}
		i = j;
	}
	s->all = NULL;
	s->code = NULL;
	if (s->high_brace > DIFFSCAN_NEST_MAX || s->high_paren > DIFFSCAN_NEST_MAX)
		find(s, "judge.too_large", tk.n ? tk.v[tk.n - 1].line : 1,
		     "(braces or parentheses nested deeper than %d)", DIFFSCAN_NEST_MAX);
	if (s->brace || s->paren || s->low_brace < 0 || s->low_paren < 0)
		find(s, "judge.obfuscation", tk.n ? tk.v[tk.n - 1].line : 1,
		     "(the file's braces or parentheses do not balance: a header would close a scope unseen)");
	if (s->cuda)
		check_paren_args(s, code.v, code.n);
	/* Declarations are read from the code alone, directives removed, as
	 * the compiler reads the statements. */
	diffscan_decl_scan(s, code.v, 0, code.n);
	if (s->cuda) {
		struct dscuda_sink sink = { .find = cuda_finding, .ctx = s };

		dscuda_cxx_scan(code.v, code.n, &sink);
	}
	rc = s->n;
out:
	free(code.v);
	free(tk.v);
	clex_free(&lx);
	return rc;
}

int diffscan_c_file(const char *name, const char *text, size_t len, struct diffscan_finding *out, int cap,
		    struct kerr *err)
{
	struct scan s = { .file = name, .out = out, .cap = cap };

	return diffscan_scan_text(&s, text, len, err);
}

int diffscan_name_denied(const char *name, int cuda)
{
	size_t n = strlen(name);

	return denied(name, n) || (cuda && dscuda_denied(name, n));
}

int diffscan_is_cxx_name(const char *n)
{
	size_t l = strlen(n);

	return (l > 3 && !strcmp(n + l - 3, ".cu")) || (l > 4 && !strcmp(n + l - 4, ".cuh"));
}

int diffscan_cuda_file(const char *name, const char *text, size_t len, struct diffscan_finding *out, int cap,
		       struct kerr *err)
{
	struct scan s = { .file = name, .out = out, .cap = cap, .cuda = 1, .cxx = diffscan_is_cxx_name(name) };

	return diffscan_scan_text(&s, text, len, err);
}
