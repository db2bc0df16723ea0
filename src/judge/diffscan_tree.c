/* diffscan_tree.c: check 1 over a patched recipe's folder (see
 * diffscan.h): which files are sources, the tree's limits, the flat files
 * with the C rules, the CUDA part with its own, the flat headers again as
 * C++ when a CUDA file can include them, and the declarations resolved
 * across all of them. What one file may hold is diffscan.c's. */
#include "judge/diffscan.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "judge/diffscan_int.h"
#include "util/fsutil.h"

static int ends_with(const char *n, size_t l, const char *suf)
{
	size_t k = strlen(suf);

	return l > k && !strcmp(n + l - k, suf);
}

/* .c and .h; in the CUDA part also .cu and .cuh */
static int is_source_name(const char *n, int cuda)
{
	size_t l = strlen(n);

	return n[0] != '.' && (ends_with(n, l, ".c") || ends_with(n, l, ".h") ||
			       (cuda && (ends_with(n, l, ".cu") || ends_with(n, l, ".cuh"))));
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted source names of dir; every one must be a regular file. */
static int list_sources(const char *dir, int cuda, char ***names, size_t *n, struct kerr *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[FS_PATH_MAX];
	struct stat st;
	int rc = -1;

	*names = NULL;
	*n = 0;
	if (!d)
		return kerr_errno(err, "judge.io", dir);
	while ((e = readdir(d))) {
		char **nv;

		if (!is_source_name(e->d_name, cuda))
			continue;
		if (*n >= DIFFSCAN_TREE_FILES_MAX) {
			kerr_set(err, "judge.too_large", "%s: more than %d source files", dir,
				 DIFFSCAN_TREE_FILES_MAX);
			goto out;
		}
		if (fs_join(path, sizeof path, err, "%s/%s", dir, e->d_name) < 0)
			goto out;
		if (lstat(path, &st) < 0) {
			kerr_errno(err, "judge.io", path);
			goto out;
		}
		if (!S_ISREG(st.st_mode)) {
			kerr_set(err, "judge.not_regular", "%s: not a regular file (a link or a folder)",
				 e->d_name);
			goto out;
		}
		nv = realloc(*names, (*n + 1) * sizeof *nv);
		if (!nv || !(nv[*n] = strdup(e->d_name))) {
			if (nv)
				*names = nv;
			kerr_set(err, "judge.oom", "%s: out of memory listing files", dir);
			goto out;
		}
		*names = nv;
		(*n)++;
	}
	qsort(*names, *n, sizeof **names, cmp_names);
	rc = 0;
out:
	closedir(d);
	return rc;
}

/* The finding with the lowest line (the first a reader would meet). */
static const struct diffscan_finding *first_finding(const struct diffscan_finding *f, int n)
{
	const struct diffscan_finding *best = &f[0];

	for (int i = 1; i < n; i++)
		if (f[i].line < best->line)
			best = &f[i];
	return best;
}

/* The recipe's CUDA part, a folder beside the flat files (docs/gpu.md). */
#define DIFFSCAN_CUDA_DIR "cuda"

/* Scans the files names[0..n) of dir/sub, sub being "" or "cuda/", with
 * the tree's names for quoted includes; -1 with err on the first finding. */
static int scan_files(const char *dir, const char *sub, char **names, size_t n, struct scan *proto,
		      struct diffscan_finding *found, size_t *total, struct kerr *err)
{
	char path[FS_PATH_MAX], shown[160], *text = NULL;
	size_t len = 0;
	int rc = -1;

	for (size_t i = 0; i < n; i++) {
		struct scan s = *proto;
		struct stat st;
		int nf;

		snprintf(shown, sizeof shown, "%s%s", sub, names[i]);
		s.file = shown;
		s.cxx = s.cuda && diffscan_is_cxx_name(names[i]);
		if (fs_join(path, sizeof path, err, "%s/%s", dir, shown) < 0)
			goto out;
		if (lstat(path, &st) < 0) {
			kerr_errno(err, "judge.io", path);
			goto out;
		}
		if ((size_t)st.st_size > DIFFSCAN_FILE_BYTES_MAX || *total + (size_t)st.st_size > DIFFSCAN_TREE_BYTES_MAX) {
			kerr_set(err, "judge.too_large", "%s: %lld bytes (file limit %u, tree limit %u)", shown,
				 (long long)st.st_size, DIFFSCAN_FILE_BYTES_MAX, DIFFSCAN_TREE_BYTES_MAX);
			goto out;
		}
		*total += (size_t)st.st_size;
		free(text);
		text = NULL;
		if (fs_read_all(path, DIFFSCAN_FILE_BYTES_MAX, &text, &len, err) < 0)
			goto out;
		nf = diffscan_scan_text(&s, text, len, err);
		if (nf < 0)
			goto out;
		if (nf > 0) {
			const struct diffscan_finding *f = first_finding(found, nf);

			kerr_set(err, f->code, "%s:%d: %s: %s", f->file, f->line, f->what,
				 diffscan_code_reason(f->code));
			goto out;
		}
	}
	rc = 0;
out:
	free(text);
	return rc;
}

static int rescan_headers(const char *dir, char **names, size_t n, char **cnames, size_t nc,
			  struct diffscan_finding *found, struct kerr *err)
{
	struct scan cxx = { .out = found, .cap = DIFFSCAN_FINDING_MAX, .tree = names, .ntree = n, .cuda = 1,
			    .top = cnames, .ntop = nc };
	char **headers = calloc(n ? n : 1, sizeof *headers);
	size_t nh = 0, ignored = 0;
	int rc;

	if (!headers)
		return kerr_set(err, "judge.oom", "%s: out of memory", dir);
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(names[i]);

		if (l > 2 && !strcmp(names[i] + l - 2, ".h"))
			headers[nh++] = names[i];
	}
	rc = scan_files(dir, "", headers, nh, &cxx, found, &ignored, err);
	free(headers);
	return rc;
}

/* The CUDA part's sources, when the recipe has one: a real folder (a link
 * would let the scan read one tree and the build another). */
static int list_cuda(const char *dir, char ***names, size_t *n, struct kerr *err)
{
	char path[FS_PATH_MAX];
	struct stat st;

	*names = NULL;
	*n = 0;
	if (fs_join(path, sizeof path, err, "%s/" DIFFSCAN_CUDA_DIR, dir) < 0)
		return -1;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : kerr_errno(err, "judge.io", path);
	if (!S_ISDIR(st.st_mode))
		return kerr_set(err, "judge.not_regular", DIFFSCAN_CUDA_DIR ": not a folder (a link or a file)");
	return list_sources(path, 1, names, n, err);
}

int diffscan_tree(const char *dir, struct kerr *err)
{
	struct diffscan_finding *found = calloc(DIFFSCAN_FINDING_MAX, sizeof *found);
	char **names = NULL, **cnames = NULL;
	struct decls decls = { 0 };
	size_t n = 0, nc = 0, total = 0;
	int rc = -1, r;

	if (!found) {
		kerr_set(err, "judge.oom", "%s: out of memory", dir);
		goto out;
	}
	if (list_sources(dir, 0, &names, &n, err) < 0 || list_cuda(dir, &cnames, &nc, err) < 0)
		goto out;
	if (n + nc > DIFFSCAN_TREE_FILES_MAX) {
		kerr_set(err, "judge.too_large", "%s: %zu source files, over %d", dir, n + nc, DIFFSCAN_TREE_FILES_MAX);
		goto out;
	}
	{
		struct scan flat = { .out = found, .cap = DIFFSCAN_FINDING_MAX, .tree = names, .ntree = n,
				     .decls = &decls };
		struct scan cuda = flat;

		cuda.cuda = 1;
		cuda.tree = cnames;
		cuda.ntree = nc;
		cuda.top = names;
		cuda.ntop = n;
		if (scan_files(dir, "", names, n, &flat, found, &total, err) < 0 ||
		    scan_files(dir, DIFFSCAN_CUDA_DIR "/", cnames, nc, &cuda, found, &total, err) < 0)
			goto out;
		/* A flat header a CUDA file includes is compiled as C++ there:
		 * it is held to the CUDA part's C++ rules too (its declarations
		 * were recorded in the first pass). */
		if (nc && rescan_headers(dir, names, n, cnames, nc, found, err) < 0)
			goto out;
	}
	r = diffscan_decls_resolve(&decls, found, err);
	if (r < 0)
		goto out;
	if (r > 0) {
		kerr_set(err, found->code, "%s:%d: %s: %s", found->file, found->line, found->what,
			 diffscan_code_reason(found->code));
		goto out;
	}
	rc = 0;
out:
	diffscan_decls_free(&decls);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	for (size_t i = 0; i < nc; i++)
		free(cnames[i]);
	free(cnames);
	free(found);
	return rc;
}
