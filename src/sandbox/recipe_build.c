/* recipe_build.c: compile a recipe folder into a runner with the pinned
 * flags. Sources are hashed in sorted order so the cache key, and the
 * proof's record of it, do not depend on directory order. */
#include "sandbox/recipe_build.h"
#include "util/proc.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	"src/sandbox/recipe_trace.c", "src/sandbox/recipe_trace.h",
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

static int is_source(const char *n)
{
	size_t l = strlen(n);

	return n[0] != '.' && l > 2 && (!strcmp(n + l - 2, ".c") || !strcmp(n + l - 2, ".h"));
}

/* Lists and hashes the folder's .c/.h files; names sorted bytewise. */
static int hash_sources(const char *dir, const char *compiler, char digest[HASH_HEX_BYTES], char ***names_out,
			size_t *n_out, struct kerr *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0;
	struct hash_ctx hc;
	uint8_t out[HASH_BYTES];
	int rc = -1;

	if (!d)
		return kerr_errno(err, "recipe.no_sources", dir);
	while ((e = readdir(d))) {
		if (!is_source(e->d_name))
			continue;
		if (n == RECIPE_SOURCES_MAX) {
			kerr_set(err, "recipe.too_large", "%s: more than %d source files", dir, RECIPE_SOURCES_MAX);
			goto out;
		}
		char **p = realloc(names, (n + 1) * sizeof *names);
		if (!p || !(p[n] = strdup(e->d_name))) {
			names = p ? p : names;
			kerr_set(err, "recipe.nomem", "out of memory");
			goto out;
		}
		names = p;
		n++;
	}
	if (n == 0) {
		kerr_set(err, "recipe.no_sources", "%s: no .c or .h files", dir);
		goto out;
	}
	qsort(names, n, sizeof *names, cmp_str);
	hash_begin(&hc);
	hash_update(&hc, KARPA_RECIPE_FLAGS, sizeof KARPA_RECIPE_FLAGS);
	hash_update(&hc, KARPA_LINK_FLAGS, sizeof KARPA_LINK_FLAGS);
	hash_update(&hc, compiler, strlen(compiler) + 1);
	for (size_t i = 0; i < n; i++) {
		char path[FS_PATH_MAX];

		if (fs_join(path, sizeof path, err, "%s/%s", dir, names[i]) < 0 ||
		    hash_file_into(&hc, names[i], path, err) < 0)
			goto out;
	}
	for (const char *const *f = recipe_build_harness_files; *f; f++) {
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
	closedir(d);
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
static void compiler_version(char *out, size_t cap)
{
	const char *argv[] = { "cc", "--version", NULL };
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
	const char *at = strstr(log, "error");
	const char *start = at;

	if (!at) {
		proc_first_line(log, out, cap);
		return;
	}
	while (start > log && start[-1] != '\n')
		start--;
	proc_first_line(start, out, cap);
}

static const char *const cc_fixed[] = { "cc", "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Wno-unused-parameter" };

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

/* Compiles the runner: cc, the pinned flags, the harness files, the
 * recipe's .c files, the link flags, as an argument vector (no shell). */
static int compile(const char *recipe_dir, char *const *names, size_t n, const char *out_path, const char *log,
		   struct kerr *err)
{
	const char *argv[ARGV_MAX];
	char fbuf[2048], lbuf[1024], inc_src[FS_PATH_MAX + 2], inc_dir[FS_PATH_MAX + 2];
	char(*paths)[FS_PATH_MAX] = calloc(n + 8, sizeof *paths); /* harness .c files, then the recipe's */
	struct proc_opts po = { .timeout_ms = 600000, .out_bytes_max = 1u << 16, .err_bytes_max = 1u << 16 };
	struct proc_result pr;
	const char *src = recipe_build_src_dir();
	int argc = 0, np = 0, rc = -1;

	memset(&pr, 0, sizeof pr);
	if (!paths)
		return kerr_set(err, "recipe.nomem", "out of memory");
	for (size_t i = 0; i < sizeof cc_fixed / sizeof cc_fixed[0]; i++)
		argv[argc++] = cc_fixed[i];
	if (add_words(argv, &argc, fbuf, sizeof fbuf, KARPA_RECIPE_FLAGS, err) < 0)
		goto out;
	snprintf(inc_src, sizeof inc_src, "-I%s/src", src);
	snprintf(inc_dir, sizeof inc_dir, "-I%s", recipe_dir);
	argv[argc++] = inc_src;
	argv[argc++] = inc_dir;
	argv[argc++] = "-o";
	argv[argc++] = out_path;
	for (const char *const *f = recipe_build_harness_files; *f; f++)
		if (!strcmp(*f + strlen(*f) - 2, ".c")) {
			if (np >= 8 || fs_join(paths[np], FS_PATH_MAX, err, "%s/%s", src, *f) < 0)
				goto out;
			argv[argc++] = paths[np++];
		}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(names[i] + strlen(names[i]) - 2, ".c"))
			continue;
		if (argc >= ARGV_MAX - 64) {
			kerr_set(err, "recipe.too_large", "%s: too many source files", recipe_dir);
			goto out;
		}
		if (fs_join(paths[np], FS_PATH_MAX, err, "%s/%s", recipe_dir, names[i]) < 0)
			goto out;
		argv[argc++] = paths[np++];
	}
	if (add_words(argv, &argc, lbuf, sizeof lbuf, KARPA_LINK_FLAGS, err) < 0)
		goto out;
	argv[argc] = NULL;
	if (proc_run(argv, &po, &pr, err) < 0)
		goto out;
	write_log(log, &pr);
	if (pr.exit_code != 0) {
		char first[512];
		first_error_line(pr.err_len ? pr.err : pr.out, first, sizeof first);
		unlink(out_path);
		kerr_set(err, "recipe.build_failed", "%s: %s%s", recipe_dir, first,
			 pr.timed_out ? " (the compiler ran past its time limit)" : "");
		goto out;
	}
	rc = 0;
out:
	proc_result_free(&pr);
	free(paths);
	return rc;
}

int recipe_build(const char *recipe_dir, struct recipe_build_info *info, struct kerr *err)
{
	char cache[FS_PATH_MAX], outdir[FS_PATH_MAX], tmp[FS_PATH_MAX], log[FS_PATH_MAX];
	char **names = NULL;
	size_t n = 0;
	int rc = -1;

	memset(info, 0, sizeof *info);
	snprintf(info->flags, sizeof info->flags, "%s", KARPA_RECIPE_FLAGS);
	compiler_version(info->compiler, sizeof info->compiler);
	if (hash_sources(recipe_dir, info->compiler, info->source_digest, &names, &n, err) < 0)
		return -1;
	if (fs_cache_dir(cache, sizeof cache, err) < 0 ||
	    fs_join(outdir, sizeof outdir, err, "%s/recipes/%s", cache, info->source_digest) < 0 ||
	    fs_join(info->runner, sizeof info->runner, err, "%s/karpa-recipe", outdir) < 0 ||
	    fs_join(tmp, sizeof tmp, err, "%s/karpa-recipe.tmp.%ld", outdir, (long)getpid()) < 0 ||
	    fs_join(log, sizeof log, err, "%s/build.log", outdir) < 0)
		goto out;
	if (access(info->runner, X_OK) == 0) {
		info->cached = 1;
		rc = 0;
		goto out;
	}
	if (fs_mkdir_p(outdir, err) < 0 || compile(recipe_dir, names, n, tmp, log, err) < 0)
		goto out;
	if (rename(tmp, info->runner) < 0) {
		kerr_errno(err, "fs.rename", info->runner);
		unlink(tmp);
		goto out;
	}
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
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
