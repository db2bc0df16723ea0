/* recipe_build.c: compile a recipe folder into a runner with the pinned
 * flags. Sources are hashed in sorted order so the cache key, and the
 * proof's record of it, do not depend on directory order. */
#include "harness/recipe_build.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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

/* The harness files compiled into every runner. They are part of the
 * build's identity: a runner cached before a harness change must not be
 * reused after it. */
static const char *const harness_files[] = {
	"runner/main.c",	       "src/harness/recipe_wire.c",  "src/harness/recipe_wire.h",
	"src/harness/recipe_api.h", "src/harness/sandbox_inner.c", "src/harness/sandbox_inner.h",
};

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
static int hash_sources(const char *dir, char digest[HASH_HEX_BYTES], char ***names_out, size_t *n_out,
			struct kerr *err)
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
	for (size_t i = 0; i < n; i++) {
		char path[FS_PATH_MAX];

		if (fs_join(path, sizeof path, err, "%s/%s", dir, names[i]) < 0 ||
		    hash_file_into(&hc, names[i], path, err) < 0)
			goto out;
	}
	for (size_t i = 0; i < sizeof harness_files / sizeof harness_files[0]; i++) {
		char path[FS_PATH_MAX];

		if (fs_join(path, sizeof path, err, "%s/%s", recipe_build_src_dir(), harness_files[i]) < 0 ||
		    hash_file_into(&hc, harness_files[i], path, err) < 0)
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

/* Runs a shell-free command line through /bin/sh -c with output to a log;
 * the command is assembled from our own paths and pinned flags only, and
 * every path is single-quoted. Returns the exit status. */
static int run_logged(const char *cmd, const char *log)
{
	char full[16384];
	int st;

	snprintf(full, sizeof full, "%s >'%s' 2>&1", cmd, log);
	st = system(full);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int quoted_ok(const char *s)
{
	return !strchr(s, '\'');
}

static void first_error_line(const char *log, char *out, size_t cap)
{
	FILE *f = fopen(log, "r");
	char line[1024];

	snprintf(out, cap, "see %s", log);
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		if (strstr(line, "error")) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(out, cap, "%s", line);
			break;
		}
	}
	fclose(f);
}

int recipe_build(const char *recipe_dir, struct recipe_build_info *info, struct kerr *err)
{
	char cache[FS_PATH_MAX], outdir[FS_PATH_MAX], tmp[FS_PATH_MAX], log[FS_PATH_MAX];
	char cmd[16384], first[512];
	char **names = NULL;
	size_t n = 0, off;
	const char *src = recipe_build_src_dir();
	FILE *f;
	int rc = -1;

	memset(info, 0, sizeof *info);
	snprintf(info->flags, sizeof info->flags, "%s", KARPA_RECIPE_FLAGS);
	if (!quoted_ok(recipe_dir) || !quoted_ok(src))
		return kerr_set(err, "recipe.bad_path", "paths with a single quote are not supported");
	if (hash_sources(recipe_dir, info->source_digest, &names, &n, err) < 0)
		return -1;
	f = popen("cc --version 2>/dev/null", "r");
	if (f) {
		if (fgets(info->compiler, sizeof info->compiler, f))
			info->compiler[strcspn(info->compiler, "\n")] = '\0';
		pclose(f);
	}
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
	if (fs_mkdir_p(outdir, err) < 0)
		goto out;
	off = (size_t)snprintf(cmd, sizeof cmd,
			       "cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter %s -I'%s/src' -I'%s' "
			       "-o '%s' '%s/runner/main.c' '%s/src/harness/recipe_wire.c' "
			       "'%s/src/harness/sandbox_inner.c'",
			       KARPA_RECIPE_FLAGS, src, recipe_dir, tmp, src, src, src);
	for (size_t i = 0; i < n && off < sizeof cmd; i++) {
		size_t l = strlen(names[i]);
		if (strcmp(names[i] + l - 2, ".c"))
			continue;
		if (!quoted_ok(names[i])) {
			kerr_set(err, "recipe.bad_path", "%s: file name with a single quote", names[i]);
			goto out;
		}
		off += (size_t)snprintf(cmd + off, sizeof cmd - off, " '%s/%s'", recipe_dir, names[i]);
	}
	if (off >= sizeof cmd - 256) {
		kerr_set(err, "recipe.too_large", "%s: build command too long", recipe_dir);
		goto out;
	}
	snprintf(cmd + off, sizeof cmd - off, " %s", KARPA_LINK_FLAGS);
	if (run_logged(cmd, log) != 0) {
		first_error_line(log, first, sizeof first);
		unlink(tmp);
		kerr_set(err, "recipe.build_failed", "%s: %s", recipe_dir, first);
		goto out;
	}
	if (rename(tmp, info->runner) < 0) {
		kerr_errno(err, "fs.rename", info->runner);
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
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	char *slash;

	if (n < 0)
		return kerr_errno(err, "recipe.no_runner", "/proc/self/exe");
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	if (fs_join(out, cap, err, "%s/karpa-recipe", self) < 0)
		return -1;
	if (access(out, X_OK) < 0)
		return kerr_set(err, "recipe.no_runner", "%s: the recipe runner is missing (run make)", out);
	return 0;
}
