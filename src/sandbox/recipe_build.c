/* recipe_build.c: compile a recipe folder into a runner with the pinned
 * flags. Sources are hashed in sorted order so the cache key, and the
 * proof's record of it, do not depend on directory order. */
#include "sandbox/recipe_build.h"
#include "judge/symcheck.h"
#include "sandbox/build_cache.h"
#include "sandbox/buildbox.h"
#include "util/log.h"
#include "util/proc.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef KARPA_RECIPE_FLAGS
#error "KARPA_RECIPE_FLAGS must come from the Makefile (the one place the pinned flags live)"
#endif
#ifndef KARPA_SRC_DIR
#error "KARPA_SRC_DIR must come from the Makefile"
#endif
#ifndef KARPA_LINK_FLAGS
#error "KARPA_LINK_FLAGS must come from the Makefile"
#endif
#if !defined(KARPA_RECIPE_FLAGS_AARCH64) || !defined(KARPA_LINK_FLAGS_AARCH64)
#error "KARPA_RECIPE_FLAGS_AARCH64 and KARPA_LINK_FLAGS_AARCH64 must come from the Makefile"
#endif
#if !defined(KARPA_NVCC) || !defined(KARPA_NVCC_FLAGS) || !defined(KARPA_CUDA_FLAGS) || !defined(KARPA_CUDA_LINK)
#error "KARPA_NVCC, KARPA_NVCC_FLAGS, KARPA_CUDA_FLAGS and KARPA_CUDA_LINK must come from the Makefile"
#endif

#if defined(__x86_64__)
#define NATIVE_ISA "x86_64"
#elif defined(__aarch64__)
#define NATIVE_ISA "aarch64"
#else
#define NATIVE_ISA "unknown"
#endif

/* What a build is for: the compiler, its pinned flags and, for a runner
 * this machine cannot execute, the user-mode emulator that runs it. The
 * emulator is given "-L /": the guest's loader and every library are the
 * machine's own packages for that ISA (Debian multiarch), one consistent
 * set, never the cross compiler's sysroot mixed with them. A CUDA build
 * (recipe_build_cuda) also names nvcc and its flags. */
struct target {
	const char *isa;
	const char *cc;
	const char *objcopy; /* binutils' for the ISA: makes the recipe's definitions local */
	const char *flags;
	const char *link;
	const char *emulator; /* NULL: runs natively */
	const char *nvcc;     /* NULL: no CUDA part */
	const char *nvcc_flags;
};

static const struct target native = { NATIVE_ISA, "cc", "objcopy", KARPA_RECIPE_FLAGS, KARPA_LINK_FLAGS, NULL, NULL,
				      NULL };
static const struct target cross[] = {
	{ "aarch64", "aarch64-linux-gnu-gcc", "aarch64-linux-gnu-objcopy", KARPA_RECIPE_FLAGS_AARCH64,
	  KARPA_LINK_FLAGS_AARCH64, "qemu-aarch64", NULL, NULL },
};
static const struct target cuda = { NATIVE_ISA, "cc", "objcopy", KARPA_CUDA_FLAGS, KARPA_CUDA_LINK, NULL, KARPA_NVCC,
				    KARPA_NVCC_FLAGS };

/* What the harness calls in a recipe (recipe_api.h): the only definitions
 * a recipe's objects keep global in its runner. */
const char *const recipe_build_api_symbols[] = {
	"kr_create",	  "kr_destroy",	   "kr_train_step", "kr_train_step_traced", "kr_gemm_record",
	"kr_logits",	  "kr_state_bytes", "kr_state_save", "kr_state_load",	    NULL,
};

const char *recipe_build_native_isa(void)
{
	return NATIVE_ISA;
}

const char *recipe_build_src_dir(void)
{
	const char *s = getenv("KARPA_SRC");

	return s && *s ? s : KARPA_SRC_DIR;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* They are part of the build's identity: a runner cached before a harness
 * change must not be reused after it. The .c files are compiled, in this
 * order, before the recipe's own. */
const char *const recipe_build_harness_files[] = {
	"runner/main.c",	       "src/sandbox/recipe_wire.c",  "src/sandbox/recipe_wire.h",
	"src/sandbox/recipe_api.h", "src/sandbox/sandbox_inner.c", "src/sandbox/sandbox_inner.h",
	"src/sandbox/recipe_trace.c", "src/sandbox/recipe_trace.h", "src/sandbox/gemmtab.c",
	"src/sandbox/gemmtab.h",      "src/util/kerr.c",            "src/util/kerr.h",
	NULL,
};

int recipe_build_is_harness_name(const char *name, size_t n)
{
	for (const char *const *f = recipe_build_harness_files; *f; f++) {
		const char *base = strrchr(*f, '/');
		base = base ? base + 1 : *f;
		if (strlen(base) == n && !memcmp(base, name, n))
			return 1;
	}
	return 0;
}

static int hash_file_into(struct hash_ctx *hc, const char *label, const char *path, struct kerr *err)
{
	char *text;
	size_t len;
	uint64_t len64;

	if (fs_read_all(path, RECIPE_SOURCE_BYTES_MAX, &text, &len, err) < 0)
		return -1;
	len64 = len;
	hash_update(hc, label, strlen(label) + 1);
	hash_update(hc, &len64, sizeof len64);
	hash_update(hc, text, len);
	free(text);
	return 0;
}

static int ends_with(const char *n, const char *suffix)
{
	size_t l = strlen(n), k = strlen(suffix);

	return l > k && !strcmp(n + l - k, suffix);
}

/* A recipe's sources: .c and .h files; in its CUDA part also .cu and .cuh. */
static int is_source(const char *n, int cuda_part)
{
	return n[0] != '.' && (ends_with(n, ".c") || ends_with(n, ".h") ||
			       (cuda_part && (ends_with(n, ".cu") || ends_with(n, ".cuh"))));
}

/* A source's name reaches the compiler's command line as it is: one that
 * begins with '-' is an option, one with '@' a file of options (gcc's
 * -wrapper runs any program), whatever else the recipe says. The patch
 * rules (reciperepo_path_check) allow no such name; a recipe folder from
 * elsewhere (a king a validator served, karpa train --recipe DIR) is held
 * to the same here. */
static int source_name_ok(const char *n)
{
	if (!(isalnum((unsigned char)n[0]) || n[0] == '_'))
		return 0;
	for (; *n; n++)
		if (!(isalnum((unsigned char)*n) || *n == '_' || *n == '.' || *n == '-'))
			return 0;
	return 1;
}

/* Compiled (as opposed to included) sources. */
static int is_unit(const char *n)
{
	return ends_with(n, ".c") || ends_with(n, ".cu");
}

#define RECIPE_CUDA_DIR "cuda"

/* How objects and runners are made, beyond the flags: harness units never
 * see the recipe's folder, recipe units compile in it (C units reach it by
 * -iquote); the recipe's objects are merged, renamed and made local. Part of
 * every cache key: change it with any of these. */
#define BUILD_RULES "build rules 3: iquote, units compiled in the folder, merge, rename, localize"

/* What a compile or link of a recipe may take: a recipe is untrusted
 * source, and the compiler runs on the validator's machine. Address space
 * (macros that expand without end, templates in a CUDA unit; nvcc's whole
 * chain for the recipe's kernels peaks near 200 MB) and the size of any
 * file written (a 64 GiB initialised array is a few bytes of C and 64 GiB
 * of object: the assembler is stopped with SIGXFSZ). */
#define BUILD_AS_BYTES (4ull << 30)
#define BUILD_FSIZE_BYTES (1ull << 30)
/* What a whole build may take: the per-file cap alone let 256 units of
 * `char a[1 << 30] = { 1 };` write 256 GiB into the cache, and 600 s per
 * compile made 42 hours. A recipe's objects together (reused or not, so
 * that the verdict does not depend on the cache), and the CPU time of
 * every compile and the link together (RLIMIT_CPU on each, the rest of
 * the budget): a recipe that takes more is the recipe's doing, whatever
 * the machine's load. The wall clock is only a backstop, three times the
 * CPU budget: a build stopped by it (recipe.build_slow) had a machine too
 * busy to run it, which is no verdict on the recipe. The project's own
 * recipe takes a few MiB and, with its CUDA part, a few minutes. */
#define BUILD_OBJS_BYTES (1ull << 30)
#define BUILD_CPU_MS (1200 * 1000L)
#define BUILD_WALL_MS (3600 * 1000L)
#define BUILD_CALL_MS (1800 * 1000L)

#ifdef KARPA_TEST_HOOKS
static int skip_symcheck;
static uint64_t build_fsize_bytes = BUILD_FSIZE_BYTES;
static uint64_t build_objs_bytes = BUILD_OBJS_BYTES;
static long build_wall_ms = BUILD_WALL_MS;
static long build_cpu_ms = BUILD_CPU_MS;

void recipe_build_test_budget(uint64_t objs_bytes, long wall_ms, long cpu_ms)
{
	build_objs_bytes = objs_bytes ? objs_bytes : BUILD_OBJS_BYTES;
	build_wall_ms = wall_ms ? wall_ms : BUILD_WALL_MS;
	build_cpu_ms = cpu_ms ? cpu_ms : BUILD_CPU_MS;
}

void recipe_build_test_skip_symcheck(int on)
{
	skip_symcheck = on;
}

void recipe_build_test_fsize(uint64_t bytes)
{
	build_fsize_bytes = bytes ? bytes : BUILD_FSIZE_BYTES;
}
#else
#define skip_symcheck 0
#define build_fsize_bytes BUILD_FSIZE_BYTES
#define build_objs_bytes BUILD_OBJS_BYTES
#define build_wall_ms BUILD_WALL_MS
#define build_cpu_ms BUILD_CPU_MS
#endif

/* Milliseconds a compiler call may take: its own cap, or what is left of
 * the build's since t0, whichever is less; 0 when nothing is left. */
static long call_ms(const struct timespec *t0)
{
	struct timespec now;
	long used, left;

	clock_gettime(CLOCK_MONOTONIC, &now);
	used = (long)(now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
	left = build_wall_ms - used;
	return left <= 0 ? 0 : left < BUILD_CALL_MS ? left : BUILD_CALL_MS;
}

/* Adds the sources of dir (prefix "" or "cuda/") to names. */
static int list_sources(const char *dir, const char *prefix, int cuda_build, char ***names, size_t *n,
			struct kerr *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = -1;

	if (!d)
		return kerr_errno(err, "recipe.no_sources", dir);
	while ((e = readdir(d))) {
		char **p;
		if (!is_source(e->d_name, cuda_build))
			continue;
		if (!source_name_ok(e->d_name)) {
			kerr_set(err, "recipe.bad_name", "%s%.128s: a source file is named [A-Za-z0-9_][A-Za-z0-9_.-]*",
				 prefix, e->d_name);
			goto out;
		}
		if (cuda_build && !prefix[0] && !strcmp(e->d_name, RECIPE_BUILD_CPU_API_FILE))
			continue;
		if (*n == RECIPE_SOURCES_MAX) {
			kerr_set(err, "recipe.too_large", "%s: more than %d source files", dir, RECIPE_SOURCES_MAX);
			goto out;
		}
		if (!(p = realloc(*names, (*n + 1) * sizeof **names))) {
			kerr_set(err, "recipe.nomem", "out of memory");
			goto out;
		}
		*names = p;
		if (asprintf(&p[*n], "%s%s", prefix, e->d_name) < 0) {
			kerr_set(err, "recipe.nomem", "out of memory");
			goto out;
		}
		(*n)++;
	}
	rc = 0;
out:
	closedir(d);
	return rc;
}

/* Lists and hashes the folder's sources (and, for a CUDA build, those of
 * its cuda/ part, named "cuda/..."); names sorted bytewise. Then the
 * harness files. dir NULL: a harness program, the harness files alone. */
static int hash_sources(const char *dir, const char *const *harness, const struct target *t, const char *compiler,
			char digest[HASH_HEX_BYTES], char ***names_out, size_t *n_out, struct kerr *err)
{
	char **names = NULL, part[FS_PATH_MAX];
	size_t n = 0;
	struct hash_ctx hc;
	uint8_t out[HASH_BYTES];
	int rc = -1;

	if (dir && list_sources(dir, "", t->nvcc != NULL, &names, &n, err) < 0)
		goto out;
	if (dir && t->nvcc) {
		if (fs_join(part, sizeof part, err, "%s/%s", dir, RECIPE_CUDA_DIR) < 0)
			goto out;
		if (access(part, R_OK | X_OK) < 0) {
			kerr_set(err, "recipe.no_cuda", "%s: the recipe has no CUDA part (a %s/ folder): it runs on the CPU only",
				 dir, RECIPE_CUDA_DIR);
			goto out;
		}
		if (list_sources(part, RECIPE_CUDA_DIR "/", 1, &names, &n, err) < 0)
			goto out;
	}
	if (dir && n == 0) {
		kerr_set(err, "recipe.no_sources", "%s: no .c or .h files", dir);
		goto out;
	}
	if (n)
		qsort(names, n, sizeof *names, cmp_str);
	hash_begin(&hc);
	hash_update(&hc, t->flags, strlen(t->flags) + 1);
	hash_update(&hc, t->link, strlen(t->link) + 1);
	hash_update(&hc, compiler, strlen(compiler) + 1);
	hash_update(&hc, BUILD_RULES, sizeof BUILD_RULES);
	if (dir && !skip_symcheck)
		hash_update(&hc, SYMCHECK_POLICY, sizeof SYMCHECK_POLICY);
	else if (dir)
		hash_update(&hc, "no symbol check", sizeof "no symbol check");
	/* Another ISA is another build even where its flags and compiler
	 * banner would not tell; the native key stays what it always was. */
	if (t->emulator)
		hash_update(&hc, t->isa, strlen(t->isa) + 1);
	if (t->nvcc)
		hash_update(&hc, t->nvcc_flags, strlen(t->nvcc_flags) + 1);
	for (size_t i = 0; i < n; i++) {
		char path[FS_PATH_MAX];

		if (fs_join(path, sizeof path, err, "%s/%s", dir, names[i]) < 0 ||
		    hash_file_into(&hc, names[i], path, err) < 0)
			goto out;
	}
	for (const char *const *f = harness; *f; f++) {
		char path[FS_PATH_MAX];

		if (fs_join(path, sizeof path, err, "%s/%s", recipe_build_src_dir(), *f) < 0 ||
		    hash_file_into(&hc, *f, path, err) < 0)
			goto out;
	}
	hash_end(&hc, out);
	hash_hex(out, digest);
	*names_out = names;
	*n_out = n;
	names = NULL;
	rc = 0;
out:
	if (names) {
		for (size_t i = 0; i < n; i++)
			free(names[i]);
		free(names);
	}
	return rc;
}

#define ARGV_MAX (RECIPE_SOURCES_MAX + 96)

/* Appends the whitespace-separated words of flags (the Makefile's pinned
 * strings: no quoting in them) to argv; the words live in buf. */
static int add_words(const char **argv, int *argc, char *buf, size_t cap, const char *flags, struct kerr *err)
{
	char *save = NULL;

	if (strlen(flags) >= cap)
		return kerr_set(err, "recipe.too_large", "pinned flags longer than %zu bytes", cap);
	snprintf(buf, cap, "%s", flags);
	for (char *w = strtok_r(buf, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (*argc >= ARGV_MAX - 1)
			return kerr_set(err, "recipe.too_large", "build command has more than %d words", ARGV_MAX);
		argv[(*argc)++] = w;
	}
	return 0;
}

/* The compiler's identity, part of the cache key: a runner built by another
 * compiler version is another build. */
static void compiler_version(const char *cc, char *out, size_t cap)
{
	const char *argv[] = { cc, "--version", NULL };
	struct proc_opts po = { .timeout_ms = 30000, .out_bytes_max = 4096, .err_bytes_max = 4096 };
	struct proc_result pr;
	struct kerr e;

	snprintf(out, cap, "unknown");
	if (proc_run(argv, &po, &pr, &e) == 0 && pr.exit_code == 0)
		proc_first_line(pr.out, out, cap);
	proc_result_free(&pr);
}

/* The first line of the compiler's output that names an error. */
static void first_error_line(const char *log, char *out, size_t cap)
{
	/* gcc says "error:", the assembler "Error:" */
	const char *lower = strstr(log, "error"), *upper = strstr(log, "Error:");
	const char *at = !lower || (upper && upper < lower) ? upper : lower;
	const char *start = at;

	if (!at) {
		proc_first_line(log, out, cap);
		return;
	}
	while (start > log && start[-1] != '\n')
		start--;
	proc_first_line(start, out, cap);
}

/* After the compiler's name. */
/* -pipe: the assembler reads the compiler's output from a pipe, so its
 * messages name "{standard input}", not a file in the builder's folder. */
static const char *const cc_fixed[] = { "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Wno-unused-parameter",
					"-pipe" };

/* Writes what the compiler said to the build log beside the cache entry
 * (best effort: the log is for people). */
static void write_log(const char *log, const struct proc_result *pr)
{
	FILE *f = fopen(log, "w");

	if (!f)
		return;
	fwrite(pr->out, 1, pr->out_len, f);
	fwrite(pr->err, 1, pr->err_len, f);
	fclose(f);
}

/* ---- the object cache ----------------------------------------------------
 * A miner's patch usually touches one file (a knob in config.c), and every
 * runner used to be compiled whole: about 5 CPU-s at -O3, paid by each of
 * the miner's experiments and by each judgment. Each .c file is now
 * compiled on its own into CACHE/objs/<key>.o, and reused while its key
 * holds. The key covers what can change the object: the compiler, the
 * pinned flags, the file's bytes and every header of the recipe folder and
 * of the harness. That is all a .c file can include by a quoted name when
 * every quoted include names a .h file, which objects_cacheable checks
 * (an #include of a .c file or through a macro turns reuse off for that
 * build). System headers come with the compiler's identity. Paths are
 * mapped (-ffile-prefix-map) so an object does not carry the folder it was
 * built from. */

/* Every quoted #include in text names a .h file (or, in a CUDA build, a
 * .cuh file); no include is computed. */
static int includes_plain(const char *text, int cuda_build)
{
	for (const char *p = text; (p = strchr(p, '#')); p++) {
		const char *q = p + 1, *end;
		while (*q == ' ' || *q == '\t')
			q++;
		if (strncmp(q, "include", 7))
			continue;
		for (q += 7; *q == ' ' || *q == '\t'; q++)
			;
		if (*q == '<')
			continue;
		if (*q != '"' || !(end = strchr(q + 1, '"')) || end - q < 4 || memchr(q, '\n', (size_t)(end - q)) ||
		    (strncmp(end - 2, ".h", 2) && (!cuda_build || end - q < 6 || strncmp(end - 4, ".cuh", 4))))
			return 0;
	}
	return 1;
}

struct objkeys {
	uint8_t headers[HASH_BYTES]; /* compiler, flags and every header */
	int cacheable;
};

static int hash_headers(const char *recipe_dir, char *const *names, size_t n, const char *const *harness,
			const struct target *t, const char *compiler, struct objkeys *k, struct kerr *err)
{
	struct hash_ctx hc;

	k->cacheable = 1;
	hash_begin(&hc);
	hash_update(&hc, t->flags, strlen(t->flags) + 1);
	hash_update(&hc, compiler, strlen(compiler) + 1);
	/* the build's rules: an object or runner made under older ones is
	 * never reused */
	hash_update(&hc, BUILD_RULES, sizeof BUILD_RULES);
	if (t->emulator)
		hash_update(&hc, t->isa, strlen(t->isa) + 1);
	if (t->nvcc)
		hash_update(&hc, t->nvcc_flags, strlen(t->nvcc_flags) + 1);
	for (size_t i = 0; i < n; i++) {
		char path[FS_PATH_MAX], *text;
		size_t len;
		int header = ends_with(names[i], ".h") || ends_with(names[i], ".cuh");

		if (fs_join(path, sizeof path, err, "%s/%s", recipe_dir, names[i]) < 0 ||
		    fs_read_all(path, RECIPE_SOURCE_BYTES_MAX, &text, &len, err) < 0)
			return -1;
		k->cacheable &= includes_plain(text, t->nvcc != NULL);
		if (header) {
			hash_update(&hc, names[i], strlen(names[i]) + 1);
			hash_update(&hc, &len, sizeof len);
			hash_update(&hc, text, len);
		}
		free(text);
	}
	for (const char *const *f = harness; *f; f++) {
		char path[FS_PATH_MAX];
		if (strcmp(*f + strlen(*f) - 2, ".h"))
			continue;
		if (fs_join(path, sizeof path, err, "%s/%s", recipe_build_src_dir(), *f) < 0 ||
		    hash_file_into(&hc, *f, path, err) < 0)
			return -1;
	}
	hash_end(&hc, k->headers);
	return 0;
}

/* Where the object of source `path` (named `label` in the key) lives:
 * CACHE/objs/<key>.o when the build is cacheable, else in the build's own
 * folder (tmpdir), compiled afresh. */
static int object_path(const struct objkeys *k, const char *cache, const char *tmpdir, const char *label,
		       const char *path, int idx, char out[FS_PATH_MAX], struct kerr *err)
{
	struct hash_ctx hc;
	uint8_t d[HASH_BYTES];
	char hex[HASH_HEX_BYTES];

	if (!k->cacheable)
		return fs_join(out, FS_PATH_MAX, err, "%s/%03d.o", tmpdir, idx);
	hash_begin(&hc);
	hash_update(&hc, k->headers, sizeof k->headers);
	if (hash_file_into(&hc, label, path, err) < 0)
		return -1;
	hash_end(&hc, d);
	hash_hex(d, hex);
	return fs_join(out, FS_PATH_MAX, err, "%s/objs/%s.o", cache, hex);
}

/* One build's running state, shared by its compiles, merge and link. */
struct job {
	struct timespec t0;     /* its start: the budget runs from here */
	double *cpu_s;          /* CPU seconds its calls used so far (proc_result.cpu_s) */
	const char *label;      /* what is built, in messages */
	const char *log;        /* build.log */
	struct buildbox box;    /* what the tools may touch (buildbox.h) */
	const char *env[2];     /* TMPDIR in the build's own folder, which the box lets them write */
	char tmpdir_env[FS_PATH_MAX + 8];
};

/* CPU milliseconds the build has left of its budget (<= 0: none). */
static long cpu_left_ms(const struct job *j)
{
	return build_cpu_ms - (long)(*j->cpu_s * 1000.0);
}

/* The budget spent: the recipe's doing (a verdict), or the machine's (the
 * wall-clock backstop: no verdict). */
static int over_budget(const struct job *j, struct kerr *err)
{
	if (cpu_left_ms(j) <= 0)
		return kerr_set(err, "recipe.build_failed", "%s: the build used its %ld s of compiler CPU time", j->label,
				build_cpu_ms / 1000);
	return kerr_set(err, "recipe.build_slow",
			"%s: the build ran past %ld s of wall-clock time having used %.0f s of its %ld s of CPU time:"
			" this machine is too busy to build it; no verdict (try again when it is less loaded)",
			j->label, build_wall_ms / 1000, *j->cpu_s, build_cpu_ms / 1000);
}

/* Runs argv (a compile or the link) in the job's box; on failure the
 * compiler's first error line becomes recipe.build_failed. The log keeps
 * what it said. */
static int run_cc_in(const char **argv, const char *cwd, const struct job *j, struct kerr *err)
{
	/* Its own group: a timeout ends cc1, as1 and ld with the driver. */
	struct proc_opts po = { .cwd = cwd, .env = j->env, .timeout_ms = (int)call_ms(&j->t0),
				.out_bytes_max = 1u << 16, .err_bytes_max = 1u << 16, .own_group = 1,
				.limit_as_bytes = BUILD_AS_BYTES, .limit_fsize_bytes = build_fsize_bytes };
	long cpu_ms = cpu_left_ms(j);
	struct proc_result pr;
	int rc = -1;

	memset(&pr, 0, sizeof pr);
	if (!po.timeout_ms || cpu_ms <= 0)
		return over_budget(j, err);
	/* each process of the call gets what the build has left, rounded up:
	 * the call's own processes together are held by the check after */
	po.limit_cpu_s = (unsigned)((cpu_ms + 999) / 1000);
	if (buildbox_run(&j->box, argv, &po, &pr, err) < 0)
		goto out;
	/* the call's own CPU, its killed group's included (proc.h): another
	 * child of this process cannot count against the recipe */
	*j->cpu_s += pr.cpu_s;
	write_log(j->log, &pr);
	if (pr.timed_out || (pr.exit_code != 0 && cpu_left_ms(j) <= 0)) {
		over_budget(j, err);
		goto out;
	}
	if (pr.exit_code != 0) {
		char first[512];
		first_error_line(pr.err_len ? pr.err : pr.out, first, sizeof first);
		kerr_set(err, "recipe.build_failed", "%s: %s", j->label, first);
		goto out;
	}
	if (cpu_left_ms(j) <= 0) {
		over_budget(j, err);
		goto out;
	}
	rc = 0;
out:
	proc_result_free(&pr);
	return rc;
}

static int run_cc(const char **argv, const struct job *j, struct kerr *err)
{
	return run_cc_in(argv, NULL, j, err);
}

/* path, made absolute against our working directory. */
static int absolute(const char *path, char *out, size_t cap, struct kerr *err)
{
	char cwd[FS_PATH_MAX];

	if (path[0] == '/')
		return fs_join(out, cap, err, "%s", path);
	if (!getcwd(cwd, sizeof cwd))
		return kerr_errno(err, "recipe.build_failed", "the working directory");
	return fs_join(out, cap, err, "%s/%s", cwd, path);
}

/* The compile of one source into obj (through a temporary name, so a
 * reader of the cache sees a whole object or none). rel: the source's
 * name in recipe_dir, for a recipe unit. */
static int compile_one(const struct target *t, const char *src_path, const char *rel, const char *obj,
		       const char *recipe_dir, const struct job *j, struct kerr *err)
{
	const char *argv[ARGV_MAX];
	char fbuf[2048], inc_src[FS_PATH_MAX + 2], inc_dir[16], map_src[FS_PATH_MAX + 32], tmp[FS_PATH_MAX + 32];
	char inc_cuda[16], src[FS_PATH_MAX], out[FS_PATH_MAX];
	/* A recipe unit compiles in the recipe's folder under its relative
	 * name, so that neither its diagnostics (in a verdict's message) nor
	 * its __FILE__ hold the builder's path: the paths it is given are
	 * absolute. */
	int argc = 0, cu = ends_with(src_path, ".cu"), in_recipe = recipe_dir && rel;

	if (absolute(recipe_build_src_dir(), src, sizeof src, err) < 0 || absolute(obj, out, sizeof out, err) < 0)
		return -1;

	if (cu) {
		/* nvcc drives the host compiler itself; the prefix maps are gcc's */
		argv[argc++] = t->nvcc;
		if (add_words(argv, &argc, fbuf, sizeof fbuf, t->nvcc_flags, err) < 0)
			return -1;
	} else {
		argv[argc++] = t->cc;
		for (size_t i = 0; i < sizeof cc_fixed / sizeof cc_fixed[0]; i++)
			argv[argc++] = cc_fixed[i];
		if (add_words(argv, &argc, fbuf, sizeof fbuf, t->flags, err) < 0)
			return -1;
	}
	snprintf(inc_src, sizeof inc_src, "-I%s/src", src);
	/* the harness's units are named as given (from our working directory) */
	snprintf(map_src, sizeof map_src, "-ffile-prefix-map=%s=karpa", recipe_build_src_dir());
	/* A recipe's folders are searched for quoted includes only, and never
	 * by a harness unit: a recipe file named seccomp.h or sodium.h must not
	 * stand in for the system's header in the harness. nvcc has no -iquote;
	 * its units are the recipe's own. */
	snprintf(inc_dir, sizeof inc_dir, "%s.", cu ? "-I" : "-iquote");
	snprintf(inc_cuda, sizeof inc_cuda, "%s%s", cu ? "-I" : "-iquote", RECIPE_CUDA_DIR);
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", out, (long)getpid());
	argv[argc++] = inc_src;
	if (in_recipe)
		argv[argc++] = inc_dir;
	if (in_recipe && t->nvcc)
		argv[argc++] = inc_cuda;
	if (!cu)
		argv[argc++] = map_src;
	argv[argc++] = "-c";
	argv[argc++] = in_recipe ? rel : src_path;
	argv[argc++] = "-o";
	argv[argc++] = tmp;
	argv[argc] = NULL;
	if (run_cc_in(argv, in_recipe ? recipe_dir : NULL, j, err) < 0) {
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, obj) < 0) {
		kerr_errno(err, "fs.rename", obj);
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* The harness files whose functions the CUDA part may call: those behind
 * the harness headers it may include (gemmtab.h, and kerr.h beneath it). */
static const char *const api_units[] = { "src/sandbox/gemmtab.c", "src/util/kerr.c" };

/* The symbol check (symcheck.h) over the recipe's objects, objs[first..no),
 * compiled in the order of the unit names among names[0..n); the harness
 * objects before them, compiled from harness's units, offer api_units'
 * definitions. */
static int check_symbols(const struct target *t, const char *const *harness, char *const *names, size_t n,
			 char (*objs)[FS_PATH_MAX], int no, int first, const char *label, struct kerr *err)
{
	struct symcheck_obj sobj[SYMCHECK_OBJECTS_MAX];
	const char *api[sizeof api_units / sizeof api_units[0] + 1];
	size_t ns = 0, na = 0;
	int o = 0;

	for (const char *const *h = harness; *h && o < first; h++) {
		if (!is_unit(*h))
			continue;
		for (size_t k = 0; k < sizeof api_units / sizeof api_units[0]; k++)
			if (!strcmp(*h, api_units[k]))
				api[na++] = objs[o];
		o++;
	}
	api[na] = NULL;
	for (size_t i = 0; i < n && o < no; i++) {
		const char *name = names[i];
		size_t len = strlen(name);

		if (!is_unit(name))
			continue;
		if (ns == SYMCHECK_OBJECTS_MAX)
			return kerr_set(err, "recipe.too_large", "%s: too many source files", label);
		sobj[ns].path = objs[o++];
		sobj[ns].name = name;
		if (!t->nvcc || strncmp(name, RECIPE_CUDA_DIR "/", strlen(RECIPE_CUDA_DIR) + 1))
			sobj[ns].kind = SYMCHECK_C;
		else
			sobj[ns].kind = len > 3 && !strcmp(name + len - 3, ".cu") ? SYMCHECK_CUDA_CXX : SYMCHECK_CUDA_C;
		ns++;
	}
	if (symcheck_objects(sobj, ns, api, err) < 0) {
		kerr_prefix(err, "%s", label);
		return -1;
	}
	return 0;
}

/* The recipe's objects objs[first..no) as one object, dir/recipe.o, in
 * which every definition but the recipe API's is renamed "recipe.NAME"
 * and made local: no recipe function or datum can stand in for a
 * library's or the harness's in the runner (a seccomp_load that loads
 * nothing, a crypto_generichash that hashes nothing), whatever its name or
 * binding (GNU unique and common symbols stay global under objcopy -G, and
 * a COMDAT group keeps its signature unless renamed). References out of
 * the recipe stay undefined for the link; the symbol check has read them,
 * and reads the result. dir is the build's private folder. */
static int merge_recipe(const struct target *t, char (*objs)[FS_PATH_MAX], int first, int no, const char *dir,
			char out[FS_PATH_MAX], const struct job *j, struct kerr *err)
{
	const char *argv[ARGV_MAX];
	char renames[FS_PATH_MAX], opt[FS_PATH_MAX + 32];
	int argc = 0;

	if (fs_join(out, FS_PATH_MAX, err, "%s/recipe.o", dir) < 0 ||
	    fs_join(renames, sizeof renames, err, "%s/renames.txt", dir) < 0)
		return -1;
	argv[argc++] = t->cc;
	argv[argc++] = "-r";
	argv[argc++] = "-nostdlib";
	argv[argc++] = "-o";
	argv[argc++] = out;
	for (int i = first; i < no; i++) {
		if (argc >= ARGV_MAX - 1)
			return kerr_set(err, "recipe.too_large", "%s: too many source files", j->label);
		argv[argc++] = objs[i];
	}
	argv[argc] = NULL;
	if (run_cc(argv, j, err) < 0 ||
	    symcheck_rename_list(out, recipe_build_api_symbols, renames, err) < 0)
		return -1;
	argc = 0;
	snprintf(opt, sizeof opt, "--redefine-syms=%s", renames);
	argv[argc++] = t->objcopy;
	argv[argc++] = opt;
	for (const char *const *a = recipe_build_api_symbols; *a; a++) {
		argv[argc++] = "-G";
		argv[argc++] = *a;
	}
	argv[argc++] = out;
	argv[argc] = NULL;
	if (run_cc(argv, j, err) < 0 || symcheck_exports(out, recipe_build_api_symbols, err) < 0)
		return -1;
	return 0;
}

/* Builds the runner: each harness .c (or .cu) file, then each of the
 * recipe's, into an object (reused from the cache when its key holds), then
 * one link with the pinned link flags. No shell anywhere. recipe_dir NULL:
 * a harness program; label names what is built in messages. */
static int compile(const struct target *t, const char *recipe_dir, const char *label, char *const *names, size_t n,
		   const char *const *harness, const char *compiler, const char *cache, const char *outdir,
		   const char *out_path, const char *log, int *reused, struct kerr *err)
{
	const char *argv[ARGV_MAX];
	char fbuf[2048], lbuf[1024], tmpdir[FS_PATH_MAX], objdir[FS_PATH_MAX], mergedir[FS_PATH_MAX];
	char(*objs)[FS_PATH_MAX] = calloc(n + 8, sizeof *objs); /* harness objects, then the recipe's */
	/* A recipe object compiled here goes to the build's own folder, and
	 * into the cache (dest) once the runner links: a recipe refused leaves
	 * nothing there, and no other build sees an object of one that failed. */
	char(*dest)[FS_PATH_MAX] = calloc(n + 8, sizeof *dest);
	const char *src = recipe_build_src_dir();
	struct objkeys k;
	struct job j = { .label = label, .log = log, .box = { -1, 0 } };
	double cpu_used = 0;
	uint64_t obj_bytes = 0;
	int argc = 0, no = 0, rc = -1, made_tmp = 0, first_recipe = 0;

	*reused = 0;
	clock_gettime(CLOCK_MONOTONIC, &j.t0);
	j.cpu_s = &cpu_used;
	if (!objs || !dest) {
		free(objs);
		free(dest);
		return kerr_set(err, "recipe.nomem", "out of memory");
	}
	if (hash_headers(recipe_dir, names, n, harness, t, compiler, &k, err) < 0 ||
	    fs_join(objdir, sizeof objdir, err, "%s/objs", cache) < 0 || fs_mkdir_p(objdir, err) < 0 ||
	    fs_join(tmpdir, sizeof tmpdir, err, "%s/objs.%ld", outdir, (long)getpid()) < 0)
		goto out;
	if (fs_mkdir_p(tmpdir, err) < 0)
		goto out;
	made_tmp = 1;
	{
		/* The tools read the harness and the recipe, and write in the
		 * object cache (the harness's objects) and this build's folder. */
		const char *read[] = { src, recipe_dir, NULL };
		const char *write[] = { outdir, objdir, NULL };
		/* prlimit(1) starts each of them (proc.h); nvcc last, NULL when none */
		const char *tools[] = { "prlimit", t->cc, t->objcopy, t->nvcc, NULL };
		const char *flags[] = { t->flags, t->link, t->nvcc_flags, NULL };

		if (buildbox_open(&j.box, read, write, tools, flags, err) < 0)
			goto out;
		snprintf(j.tmpdir_env, sizeof j.tmpdir_env, "TMPDIR=%s", tmpdir);
		j.env[0] = j.tmpdir_env;
	}
	for (int pass = 0; pass < 2; pass++) {
		const char *const *list = pass ? NULL : harness;
		size_t count = pass ? n : 0;

		if (pass)
			first_recipe = no;

		if (!pass)
			while (list[count])
				count++;
		for (size_t i = 0; i < count; i++) {
			const char *name = pass ? names[i] : list[i];
			char path[FS_PATH_MAX];

			if (!is_unit(name))
				continue;
			if (no >= (int)n + 8) {
				kerr_set(err, "recipe.too_large", "%s: too many source files", label);
				goto out;
			}
			if (fs_join(path, sizeof path, err, "%s/%s", pass ? recipe_dir : src, name) < 0 ||
			    object_path(&k, cache, tmpdir, name, path, no, objs[no], err) < 0)
				goto out;
			if (k.cacheable && access(objs[no], R_OK) == 0) {
				build_cache_touch(objs[no]);
				(*reused)++;
			} else {
				if (pass && k.cacheable) {
					memcpy(dest[no], objs[no], sizeof dest[no]);
					if (fs_join(objs[no], sizeof objs[no], err, "%s/%03d.o", tmpdir, no) < 0)
						goto out;
				}
				if (compile_one(t, path, pass ? name : NULL, objs[no], pass ? recipe_dir : NULL, &j, err) < 0)
					goto out;
			}
			no++;
			if (pass) {
				struct stat sb;

				obj_bytes += stat(objs[no - 1], &sb) == 0 ? (uint64_t)sb.st_size : 0;
				if (obj_bytes > build_objs_bytes) {
					kerr_set(err, "recipe.too_large", "%s: its objects pass %llu MiB at %s", label,
						 (unsigned long long)(build_objs_bytes >> 20), name);
					goto out;
				}
			}
		}
	}
	if (recipe_dir && !skip_symcheck && check_symbols(t, harness, names, n, objs, no, first_recipe, label, err) < 0)
		goto out;
	if (recipe_dir) {
		char merged[FS_PATH_MAX];

		/* in the build's folder, which a sweep clears if the build is killed */
		if (fs_join(mergedir, sizeof mergedir, err, "%s/merge", tmpdir) < 0)
			goto out;
		if (mkdir(mergedir, 0700) < 0) {
			kerr_errno(err, "recipe.build_failed", mergedir);
			goto out;
		}
		if (merge_recipe(t, objs, first_recipe, no, mergedir, merged, &j, err) < 0)
			goto out;
		snprintf(objs[first_recipe], sizeof objs[first_recipe], "%s", merged);
		no = first_recipe + 1;
	}
	argv[argc++] = t->cc;
	for (size_t i = 0; i < sizeof cc_fixed / sizeof cc_fixed[0]; i++)
		argv[argc++] = cc_fixed[i];
	if (add_words(argv, &argc, fbuf, sizeof fbuf, t->flags, err) < 0)
		goto out;
	argv[argc++] = "-o";
	argv[argc++] = out_path;
	for (int i = 0; i < no; i++) {
		if (argc >= ARGV_MAX - 64) {
			kerr_set(err, "recipe.too_large", "%s: too many source files", label);
			goto out;
		}
		argv[argc++] = objs[i];
	}
	if (add_words(argv, &argc, lbuf, sizeof lbuf, t->link, err) < 0)
		goto out;
	argv[argc] = NULL;
	if (run_cc(argv, &j, err) < 0) {
		unlink(out_path);
		goto out;
	}
	/* the cache is a saving: an object that cannot move there is made
	 * again next time */
	for (int i = 0; i < (int)n + 8; i++) {
		char made[FS_PATH_MAX];

		if (dest[i][0] && snprintf(made, sizeof made, "%s/%03d.o", tmpdir, i) < (int)sizeof made)
			rename(made, dest[i]);
	}
	rc = 0;
out:
	if (made_tmp)
		fs_rm_rf(tmpdir);
	buildbox_close(&j.box);
	free(objs);
	free(dest);
	return rc;
}

/* Each new runner makes room: the cache keeps the recently used ones
 * (build_cache.h). A prune that fails costs disk, not the build. */
static void prune(const char *cache)
{
	struct build_cache_pruned p;
	struct kerr why = { { 0 }, { 0 } };
	int swept;

	/* a full cache sheds its least recently used runner at every build:
	 * routine, so said nowhere (a failure is) */
	if (build_cache_prune(cache, BUILD_CACHE_RUNNERS_KEEP, BUILD_CACHE_RUNNERS_BYTES, BUILD_CACHE_OBJECTS_KEEP,
			      BUILD_CACHE_IDLE_S, &p, &why) < 0)
		log_msg(LOG_WARN, "recipe", "%s: %s (the build cache was not pruned)", why.code, why.msg);
	if ((swept = build_cache_sweep(cache, BUILD_CACHE_STALE_S)) > 0)
		log_msg(LOG_PROGRESS, "recipe", "build cache: removed %d temporaries of builds that were killed", swept);
}

/* The target for isa: NULL or the native name is the native build. */
static const struct target *find_target(const char *isa, struct kerr *err)
{
	char names[128];
	size_t off = (size_t)snprintf(names, sizeof names, "%s", native.isa);

	if (!isa || !strcmp(isa, native.isa))
		return &native;
	for (size_t i = 0; i < sizeof cross / sizeof cross[0]; i++)
		if (!strcmp(isa, cross[i].isa))
			return &cross[i];
	for (size_t i = 0; i < sizeof cross / sizeof cross[0] && off < sizeof names; i++)
		off += (size_t)snprintf(names + off, sizeof names - off, ", %s", cross[i].isa);
	kerr_set(err, "recipe.bad_isa", "no runner can be built for ISA '%.40s' here (ISAs: %s)", isa, names);
	return NULL;
}

/* A cross build needs its compiler and its emulator: said before anything
 * is hashed or compiled, with what to install. */
static int target_tools(const struct target *t, struct recipe_build_info *info, struct kerr *err)
{
	char cc[FS_PATH_MAX];
	const char *argv[] = { info->emulator, "--version", NULL };
	struct proc_opts po = { .timeout_ms = 30000, .out_bytes_max = 4096, .err_bytes_max = 4096 };
	struct proc_result pr;
	struct kerr e;

	if (!t->emulator) {
		/* without them every build fails, the validator's trouble and
		 * not a recipe's: said as such, not as a failed compile */
		if (proc_find_on_path(t->cc, cc, sizeof cc) < 0 || proc_find_on_path(t->objcopy, cc, sizeof cc) < 0)
			return kerr_set(err, "recipe.no_build_tools",
					"a runner is built with %s and %s, and one of them is not on PATH: install gcc and"
					" binutils (scripts/setup.sh)",
					t->cc, t->objcopy);
		return 0;
	}
	if (proc_find_on_path(t->cc, cc, sizeof cc) < 0 || proc_find_on_path(t->objcopy, cc, sizeof cc) < 0 ||
	    proc_find_on_path(t->emulator, info->emulator, sizeof info->emulator) < 0)
		return kerr_set(err, "recipe.no_cross_tools",
				"a runner for %s needs %s, %s and %s on PATH: install gcc-aarch64-linux-gnu, qemu-user "
				"and the arm64 libraries (scripts/setup.sh, docs/determinism.md)",
				t->isa, t->cc, t->objcopy, t->emulator);
	snprintf(info->emulator_version, sizeof info->emulator_version, "unknown");
	if (proc_run(argv, &po, &pr, &e) == 0 && pr.exit_code == 0)
		proc_first_line(pr.out, info->emulator_version, sizeof info->emulator_version);
	proc_result_free(&pr);
	return 0;
}

/* The CUDA part's compiler, said before anything is hashed, with what to
 * install; its version line ("... release 13.0, V13.0.88") for the record. */
static int cuda_tools(const struct target *t, struct recipe_build_info *info, struct kerr *err)
{
	const char *argv[] = { t->nvcc, "--version", NULL };
	struct proc_opts po = { .timeout_ms = 30000, .out_bytes_max = 4096, .err_bytes_max = 4096 };
	struct proc_result pr;
	struct kerr e;
	const char *rel;

	if (!t->nvcc[0] || access(t->nvcc, X_OK) < 0)
		return kerr_set(err, "recipe.no_cuda_tools",
				"a GPU runner needs the CUDA toolkit's nvcc, which this karpa was built without: install "
				"the toolkit and rebuild (docs/gpu.md)");
	snprintf(info->nvcc, sizeof info->nvcc, "unknown");
	if (proc_run(argv, &po, &pr, &e) == 0 && pr.exit_code == 0 && (rel = strstr(pr.out, "release")))
		proc_first_line(rel, info->nvcc, sizeof info->nvcc);
	proc_result_free(&pr);
	return 0;
}

/* Builds exe into the cache: the runner of recipe_dir with the harness
 * files, or (recipe_dir NULL) a harness program from the harness files
 * alone. */
static int build_for(const char *recipe_dir, const char *const *harness, const char *exe, const struct target *t,
		     struct recipe_build_info *info, struct kerr *err)
{
	char cache[FS_PATH_MAX], outdir[FS_PATH_MAX], tmp[FS_PATH_MAX], log[FS_PATH_MAX];
	/* messages name the recipe's files by their names in it: a verdict
	 * carries no builder's path */
	const char *label = recipe_dir ? "the recipe" : harness[0];
	char **names = NULL, ident[sizeof info->compiler + sizeof info->nvcc + FS_PATH_MAX + 8];
	size_t n = 0;
	int rc = -1;

	snprintf(info->isa, sizeof info->isa, "%s", t->isa);
	info->cuda = t->nvcc != NULL;
	snprintf(info->flags, sizeof info->flags, "%s", t->flags);
	compiler_version(t->cc, info->compiler, sizeof info->compiler);
	/* the toolchain's identity in every key: for a GPU runner, nvcc's too
	 * (a toolkit upgrade must not reuse runners or objects) */
	if (t->nvcc)
		snprintf(ident, sizeof ident, "%s | %s %s", info->compiler, t->nvcc, info->nvcc);
	else
		snprintf(ident, sizeof ident, "%s", info->compiler);
	if (hash_sources(recipe_dir, harness, t, ident, info->source_digest, &names, &n, err) < 0)
		return -1;
	if (fs_cache_dir(cache, sizeof cache, err) < 0 ||
	    fs_join(outdir, sizeof outdir, err, "%s/recipes/%s", cache, info->source_digest) < 0 ||
	    fs_join(info->runner, sizeof info->runner, err, "%s/%s", outdir, exe) < 0 ||
	    fs_join(tmp, sizeof tmp, err, "%s/%s.tmp.%ld", outdir, exe, (long)getpid()) < 0 ||
	    fs_join(log, sizeof log, err, "%s/build.log", outdir) < 0)
		goto out;
	/* pinned before it is looked for: a prune in another process then
	 * cannot take it between the look and the start */
	if ((info->pin = build_cache_pin(outdir, err)) < 0)
		goto out;
	if (access(info->runner, X_OK) == 0) {
		build_cache_touch(outdir);
		info->cached = 1;
		rc = 0;
		goto out;
	}
	if (compile(t, recipe_dir, label, names, n, harness, ident, cache, outdir, tmp, log, &info->objects_reused,
		    err) < 0) {
		/* The usual cause: the ISA's libraries are not installed. */
		if (t->emulator && !strcmp(err->code, "recipe.build_failed"))
			kerr_prefix(err, "building the %s runner (its libraries come from the arm64 packages: "
					 "scripts/setup.sh)", t->isa);
		prune(cache);
		goto out;
	}
	if (rename(tmp, info->runner) < 0) {
		kerr_errno(err, "fs.rename", info->runner);
		unlink(tmp);
		goto out;
	}
	prune(cache);
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (rc < 0)
		recipe_build_release(info);
	return rc;
}

void recipe_build_release(struct recipe_build_info *info)
{
	build_cache_unpin(info->pin);
	info->pin = -1;
}

int recipe_build_isa(const char *recipe_dir, const char *isa, struct recipe_build_info *info, struct kerr *err)
{
	const struct target *t;

	memset(info, 0, sizeof *info);
	info->pin = -1;
	if (!(t = find_target(isa, err)) || target_tools(t, info, err) < 0)
		return -1;
	return build_for(recipe_dir, recipe_build_harness_files, "karpa-recipe", t, info, err);
}

int recipe_build_cuda(const char *recipe_dir, struct recipe_build_info *info, struct kerr *err)
{
	memset(info, 0, sizeof *info);
	info->pin = -1;
	if (cuda_tools(&cuda, info, err) < 0)
		return -1;
	return build_for(recipe_dir, recipe_build_harness_files, "karpa-recipe-cuda", &cuda, info, err);
}

/* The GPU calibration program: its one source and the headers it reads
 * the harness's constants from, all in its key. */
static const char *const gpucalib_files[] = {
	"src/harness/gpucalib_tool.cu",
	"src/harness/calibrate.h",
	"src/util/kerr.h",
	NULL,
};

int recipe_build_gpucalib(struct recipe_build_info *info, struct kerr *err)
{
	memset(info, 0, sizeof *info);
	info->pin = -1;
	if (cuda_tools(&cuda, info, err) < 0)
		return -1;
	return build_for(NULL, gpucalib_files, "karpa-gpucalib", &cuda, info, err);
}

int recipe_build(const char *recipe_dir, struct recipe_build_info *info, struct kerr *err)
{
	return recipe_build_isa(recipe_dir, NULL, info, err);
}

void recipe_build_launcher(const struct recipe_build_info *info, const char *words[RECIPE_LAUNCHER_WORDS])
{
	int i = 0;

	if (info->emulator[0]) {
		words[i++] = info->emulator;
		words[i++] = "-L";
		words[i++] = "/";
	}
	words[i] = NULL;
}

int recipe_default_runner(char *out, size_t cap, struct kerr *err)
{
	char self[FS_PATH_MAX];
	const char *env = getenv("KARPA_RUNNER");
	ssize_t n;
	char *slash;

	if (env && *env) {
		if (fs_join(out, cap, err, "%s", env) < 0)
			return -1;
	} else {
		n = readlink("/proc/self/exe", self, sizeof self - 1);
		if (n < 0)
			return kerr_errno(err, "recipe.no_runner", "/proc/self/exe");
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash)
			*slash = '\0';
		if (fs_join(out, cap, err, "%s/karpa-recipe", self) < 0)
			return -1;
	}
	if (access(out, X_OK) < 0)
		return kerr_set(err, "recipe.no_runner", "%s: the recipe runner is missing (run make, or set KARPA_RUNNER)",
				out);
	return 0;
}
