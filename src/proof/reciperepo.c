/* reciperepo.c: the canonical recipe repository (PROTOCOL 1.1) through the
 * git CLI. Owns the git environment (no user or system configuration, no
 * hooks, no templates, fixed identity) and the one runner that applies it,
 * which king.c uses too; creating the repository, king tags,
 * exports, the patch path policy and applying patches. Never runs code from
 * a repository and never writes outside the folders it is handed. */
#include "proof/reciperepo.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/scale.h"
#include "sandbox/recipe_build.h"
#include "util/fsutil.h"
#include "util/hash.h"
#include "util/proc.h"

#define GIT_ARGS_MAX 64
#define GIT_ENV_MAX 48
#define LIST_OUT_BYTES_MAX (16u << 20) /* tag listings: ~300 bytes per king */
#define SHOW_PATH_MAX 160 /* how much of a hostile path a message repeats */

/* ------------------------------------------------------------------ git */

/* Configuration pinned on every call so that nothing outside the
 * repository (user or system config, attributes, excludes, hooks, signing)
 * can change what git records or prints. */
static const char *const git_config[] = {
	"-c", "user.name=" RECIPEREPO_IDENT_NAME,
	"-c", "user.email=" RECIPEREPO_IDENT_EMAIL,
	"-c", "commit.gpgSign=false",
	"-c", "tag.gpgSign=false",
	"-c", "core.autocrlf=false",
	"-c", "core.safecrlf=false",
	"-c", "core.attributesFile=/dev/null",
	"-c", "core.excludesFile=/dev/null",
	"-c", "core.hooksPath=/dev/null",
	"-c", "core.fsmonitor=false",
	"-c", "core.quotePath=true",
	"-c", "gc.auto=0",
	"-c", "maintenance.auto=false",
	"-c", "init.defaultBranch=" RECIPEREPO_BRANCH,
};

/* Environment: every inherited GIT_* variable is removed (git reads
 * dozens: another repository, index, object store, identity, exec path,
 * hash, attribute source, traces), then the pinned ones set; no user
 * configuration; messages in C locale so that their text can be parsed. */
static const char *const git_env[] = {
	"GIT_*", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_ATTR_NOSYSTEM=1",
	"HOME=/nonexistent", "XDG_CONFIG_HOME", "LC_ALL=C", "LANGUAGE", "GIT_TERMINAL_PROMPT=0",
	"GIT_NO_REPLACE_OBJECTS=1", "GIT_OPTIONAL_LOCKS=0",
};

static int abs_dir(const char *dir, char out[FS_PATH_MAX], char parent[FS_PATH_MAX], struct kerr *err)
{
	char *slash;

	if (!realpath(dir, out))
		return kerr_errno(err, errno == ENOENT ? "recipe.not_found" : "fs.stat", dir);
	if (!fs_is_dir(out))
		return kerr_set(err, "recipe.not_found", "%s: not a directory", dir);
	snprintf(parent, FS_PATH_MAX, "%s", out);
	slash = strrchr(parent, '/');
	if (slash == parent)
		parent[1] = '\0';
	else if (slash)
		*slash = '\0';
	return 0;
}

int reciperepo_git(const char *repo, const char *const *args, const struct reciperepo_git_opts *opts,
		   struct proc_result *res, struct kerr *err)
{
	static const struct reciperepo_git_opts none;
	const struct reciperepo_git_opts *c = opts ? opts : &none;
	const char *reason = c->reason ? c->reason : "recipe.git";
	const char *argv[GIT_ARGS_MAX], *env[GIT_ENV_MAX];
	char cwd[FS_PATH_MAX], parent[FS_PATH_MAX], ceil[FS_PATH_MAX + 32], wt[FS_PATH_MAX + 16];
	char idx[FS_PATH_MAX + 32], adate[64], cdate[64];
	size_t na = 0, ne = 0;
	struct proc_opts o = { .stdin_data = c->in, .stdin_len = c->in_len, .out_bytes_max = c->out_max,
			       .timeout_ms = RECIPEREPO_GIT_TIMEOUT_MS };

	memset(res, 0, sizeof *res);
	if (abs_dir(repo, cwd, parent, err) < 0) {
		if (c->reason) /* the caller's module owns the failure */
			snprintf(err->code, sizeof err->code, "%s", c->reason);
		return -1;
	}
	argv[na++] = "git";
	for (size_t i = 0; i < sizeof git_config / sizeof git_config[0]; i++)
		argv[na++] = git_config[i];
	if (c->work_tree) {
		if (fs_join(wt, sizeof wt, err, "--work-tree=%s", c->work_tree) < 0)
			return -1;
		argv[na++] = wt;
	}
	for (size_t i = 0; args[i]; i++) {
		if (na + 1 >= GIT_ARGS_MAX)
			return kerr_set(err, reason, "too many git arguments");
		argv[na++] = args[i];
	}
	argv[na] = NULL;
	for (size_t i = 0; i < sizeof git_env / sizeof git_env[0]; i++)
		env[ne++] = git_env[i];
	/* Without a ceiling, a folder that is not a repository but sits inside
	 * one would silently act on the outer repository. */
	snprintf(ceil, sizeof ceil, "GIT_CEILING_DIRECTORIES=%s", parent);
	env[ne++] = ceil;
	if (c->index_file) {
		if (fs_join(idx, sizeof idx, err, "GIT_INDEX_FILE=%s", c->index_file) < 0)
			return -1;
		env[ne++] = idx;
	}
	if (c->date) {
		snprintf(adate, sizeof adate, "GIT_AUTHOR_DATE=%s", c->date);
		snprintf(cdate, sizeof cdate, "GIT_COMMITTER_DATE=%s", c->date);
		env[ne++] = adate;
		env[ne++] = cdate;
	}
	env[ne] = NULL;
	o.cwd = cwd;
	o.env = env;
	if (proc_run(argv, &o, res, err) < 0)
		return -1;
	/* a git that did not end by itself has nothing a caller reads: its
	 * output is freed here, as on every -1 */
	if (res->timed_out) {
		proc_result_free(res);
		return kerr_set(err, reason, "git %s: no answer within %d ms", args[0], RECIPEREPO_GIT_TIMEOUT_MS);
	}
	if (res->term_signal) {
		int sig = res->term_signal;

		proc_result_free(res);
		return kerr_set(err, reason, "git %s: killed by signal %d", args[0], sig);
	}
	return 0;
}

/* Turns a failed git call into a reason: recipe.not_a_repo when the folder
 * is not a repository, else recipe.git with git's first error line. */
static int git_failed(const char *where, const char *what, const struct proc_result *res, struct kerr *err)
{
	char line[512];

	proc_first_line(res->err, line, sizeof line);
	if (strstr(res->err, "not a git repository"))
		return kerr_set(err, "recipe.not_a_repo", "%s: not a git repository", where);
	return kerr_set(err, "recipe.git", "%s: git %s failed (exit %d): %s", where, what, res->exit_code, line);
}

/* Runs git in repo and requires exit 0. */
static int git_ok(const char *repo, const struct reciperepo_git_opts *o, const char *what, const char *const *args,
		  struct kerr *err)
{
	struct proc_result res;
	int rc = -1;

	if (reciperepo_git(repo, args, o, &res, err) < 0)
		goto out;
	if (res.exit_code != 0) {
		git_failed(repo, what, &res, err);
		goto out;
	}
	rc = 0;
out:
	proc_result_free(&res);
	return rc;
}

/* ---------------------------------------------------------- path policy */

/* Copies at most SHOW_PATH_MAX bytes of an untrusted name into out with
 * anything unprintable shown as '?', so a message stays one safe line. */
static void show(const char *p, size_t n, char *out, size_t cap)
{
	size_t k = 0, lim = n < SHOW_PATH_MAX ? n : SHOW_PATH_MAX;

	for (size_t i = 0; i < lim && k + 4 < cap; i++)
		out[k++] = (p[i] >= 0x20 && p[i] < 0x7f) ? p[i] : '?';
	if (lim < n && k + 4 < cap) {
		memcpy(out + k, "...", 3);
		k += 3;
	}
	out[k] = '\0';
}

static int name_char(int c)
{
	return isalnum(c) || c == '_' || c == '.' || c == '-';
}

static int ends_with(const char *s, size_t n, const char *suf)
{
	size_t l = strlen(suf);

	return n >= l && !memcmp(s + n - l, suf, l);
}

/* One file name p[0..n) of the recipe, flat: [A-Za-z0-9_.-]+, not
 * starting with '.' or '-', ending in one of exts (what names them in the
 * message). shown: the whole path, for messages. */
static int name_check(const char *p, size_t n, const char *shown, const char *const *exts, size_t nexts,
		      const char *what, struct kerr *err)
{
	int ext = 0;

	if (n > RECIPEREPO_NAME_MAX)
		return kerr_set(err, "patch.bad_path", "%s: name longer than %d bytes", shown, RECIPEREPO_NAME_MAX);
	if (p[0] == '.' || p[0] == '-')
		return kerr_set(err, "patch.bad_path", "%s: name starts with '%c'", shown, p[0]);
	for (size_t i = 0; i < n; i++)
		if (!name_char((unsigned char)p[i]))
			return kerr_set(err, "patch.bad_path", "%s: only [A-Za-z0-9_.-] in names", shown);
	for (size_t i = 0; i < nexts; i++)
		ext |= ends_with(p, n, exts[i]) && n > strlen(exts[i]);
	if (!ext)
		return kerr_set(err, "patch.bad_path", "%s: not %s", shown, what);
	return 0;
}

/* What a patch may touch: the flat files, and the CUDA part's sources, the
 * files cuda_copyable carries from a source. */
static const char *const flat_exts[] = { ".c", ".h", ".md" };
static const char *const cuda_exts[] = { ".c", ".h", ".cu", ".cuh" };

static int path_check_n(const char *p, size_t n, struct kerr *err)
{
	char s[SHOW_PATH_MAX + 8];

	show(p, n, s, sizeof s);
	if (n == 0)
		return kerr_set(err, "patch.bad_path", "empty path");
	if (p[0] == '/')
		return kerr_set(err, "patch.bad_path", "%s: absolute path", s);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && p[j] != '/')
			j++;
		if (j - i == 2 && p[i] == '.' && p[i + 1] == '.')
			return kerr_set(err, "patch.bad_path", "%s: \"..\" leaves the recipe", s);
		i = j + 1;
	}
	if ((n >= 4 && !memcmp(p, "src/", 4)) || (n == 3 && !memcmp(p, "src", 3)))
		return kerr_set(err, "patch.touches_harness", "%s: under src/, the fixed harness", s);
	{
		/* A file named like a harness file the runner is built with would
		 * shadow it (recipe_build_harness_files, PROTOCOL 2). */
		const char *slash = memrchr(p, '/', n);
		const char *base = slash ? slash + 1 : p;
		if (recipe_build_is_harness_name(base, n - (size_t)(base - p)))
			return kerr_set(err, "patch.touches_harness", "%s: a harness file name", s);
	}
	if (memchr(p, '/', n)) {
		/* The CUDA part, cuda/NAME, is the one folder: one level, the
		 * same names, and CUDA C++ besides C (check 1 scans both). */
		size_t d = sizeof RECIPEREPO_CUDA_DIR; /* "cuda/" */

		if (n <= d || memcmp(p, RECIPEREPO_CUDA_DIR "/", d) || memchr(p + d, '/', n - d))
			return kerr_set(err, "patch.bad_path",
					"%s: recipe files are flat, no subdirectories but " RECIPEREPO_CUDA_DIR "/", s);
		return name_check(p + d, n - d, s, cuda_exts, sizeof cuda_exts / sizeof cuda_exts[0],
				  "a file of the CUDA part (*.c, *.h, *.cu, *.cuh)", err);
	}
	return name_check(p, n, s, flat_exts, sizeof flat_exts / sizeof flat_exts[0], "a recipe file (*.c, *.h, *.md)",
			  err);
}

int reciperepo_path_check(const char *path, struct kerr *err)
{
	return path_check_n(path, strlen(path), err);
}

int reciperepo_tree_check(const char *repo, const char *commit, struct kerr *err)
{
	/* a tree that fits the file cap lists in far less */
	const struct reciperepo_git_opts o = { .out_max = 1u << 20 };
	const char *args[] = { "ls-tree", "-r", "-l", "-z", "--full-tree", commit, NULL };
	struct proc_result res;
	const char *p, *end;
	size_t files = 0;
	uint64_t bytes = 0;
	int rc = -1;

	if (!hash_is_hex(commit, RECIPEREPO_COMMIT_HEX - 1))
		return kerr_set(err, "recipe.bad_tree", "'%.64s' is not a commit id", commit);
	if (reciperepo_git(repo, args, &o, &res, err) < 0)
		return -1;
	if (res.exit_code != 0) {
		git_failed(repo, "ls-tree", &res, err);
		goto out;
	}
	if (res.out_truncated) {
		kerr_set(err, "recipe.bad_tree", "its listing is over 1 MiB: not a recipe");
		goto out;
	}
	end = res.out + res.out_len;
	for (p = res.out; p < end; p += strlen(p) + 1) {
		/* "<mode> <type> <object> <size, padded>\t<path>" */
		const char *tab = memchr(p, '\t', (size_t)(end - p));
		const char *path = tab ? tab + 1 : "", *obj = p + 12, *num;
		struct kerr why = { 0 };
		char shown[SHOW_PATH_MAX + 8], *e;
		unsigned long long size;

		show(path, strnlen(path, (size_t)(end - path)), shown, sizeof shown);
		if (!tab || strncmp(p, "100644 blob ", 12)) {
			kerr_set(err, "recipe.bad_tree", "%s: not a plain file (%.6s): a king is plain files", shown, p);
			goto out;
		}
		if (strcmp(path, "Makefile") && reciperepo_path_check(path, &why) < 0) {
			kerr_set(err, "recipe.bad_tree", "%s: no recipe file may be named so (%s)", shown, why.msg);
			goto out;
		}
		if (++files > RECIPEREPO_TREE_FILES_MAX) {
			kerr_set(err, "recipe.bad_tree", "more than %d files: not a recipe", RECIPEREPO_TREE_FILES_MAX);
			goto out;
		}
		/* the object id, then the size right-aligned in spaces */
		num = memchr(obj, ' ', (size_t)(tab - obj));
		while (num && num < tab && *num == ' ')
			num++;
		errno = 0;
		size = num && num < tab && isdigit((unsigned char)*num) ? strtoull(num, &e, 10) : 0;
		if (!num || num >= tab || !isdigit((unsigned char)*num) || errno || e != tab) {
			kerr_set(err, "recipe.bad_tree", "%s: git's listing gives no size", shown);
			goto out;
		}
		if (size > RECIPEREPO_TREE_BYTES_MAX - bytes) {
			kerr_set(err, "recipe.bad_tree", "%s: %llu bytes take the tree past %u bytes: not a recipe", shown,
				 size, RECIPEREPO_TREE_BYTES_MAX);
			goto out;
		}
		bytes += size;
	}
	rc = 0;
out:
	proc_result_free(&res);
	return rc;
}

/* Regular files of dir (and of its CUDA part at the top) into *files,
 * *bytes; anything else is reciperepo_apply's to have refused. */
static int dir_count(const char *dir, int top, size_t *files, uint64_t *bytes, struct kerr *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = 0;

	if (!d)
		return kerr_errno(err, "recipe.io", dir);
	while (rc == 0 && (e = readdir(d))) {
		char path[FS_PATH_MAX];
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fs_join(path, sizeof path, err, "%s/%s", dir, e->d_name) < 0) {
			rc = -1;
			break;
		}
		if (lstat(path, &st) < 0) {
			rc = kerr_errno(err, "recipe.io", path);
			break;
		}
		if (S_ISDIR(st.st_mode) && top && !strcmp(e->d_name, RECIPEREPO_CUDA_DIR)) {
			rc = dir_count(path, 0, files, bytes, err);
		} else if (S_ISREG(st.st_mode)) {
			(*files)++;
			*bytes += (uint64_t)st.st_size;
		}
	}
	closedir(d);
	return rc;
}

int reciperepo_dir_check(const char *dir, struct kerr *err)
{
	size_t files = 0;
	uint64_t bytes = 0;

	if (dir_count(dir, 1, &files, &bytes, err) < 0)
		return -1;
	if (files > RECIPEREPO_TREE_FILES_MAX)
		return kerr_set(err, "patch.tree_too_large",
				"the patched recipe holds %zu files, over %d: more than a miner takes from a king", files,
				RECIPEREPO_TREE_FILES_MAX);
	if (bytes > RECIPEREPO_TREE_BYTES_MAX)
		return kerr_set(err, "patch.tree_too_large",
				"the patched recipe holds %llu bytes, over %u: more than a miner takes from a king",
				(unsigned long long)bytes, RECIPEREPO_TREE_BYTES_MAX);
	return 0;
}

/* ---------------------------------------------------------- diff parser */

struct scan {
	const char *p, *end;
	const char *line; /* current line, without its '\n' */
	size_t len;
	size_t lineno;
	char file[SHOW_PATH_MAX + 8]; /* current section's path, for messages */
	size_t files;
	int headers;      /* ---/+++ seen in this section: hunks may follow */
	int after_hunk;   /* the previous line closed a hunk */
	struct reciperepo_parts *parts; /* NULL: not asked */
};

static int next_line(struct scan *s)
{
	const char *nl;

	if (s->p >= s->end)
		return 0;
	nl = memchr(s->p, '\n', (size_t)(s->end - s->p));
	s->line = s->p;
	s->len = nl ? (size_t)(nl - s->p) : (size_t)(s->end - s->p);
	s->p = nl ? nl + 1 : s->end;
	s->lineno++;
	return 1;
}

/* Whether the line after the current one begins with pre. */
static int next_starts(const struct scan *s, const char *pre)
{
	size_t l = strlen(pre);

	return (size_t)(s->end - s->p) >= l && !memcmp(s->p, pre, l);
}

static int starts(const struct scan *s, const char *pre)
{
	size_t l = strlen(pre);

	return s->len >= l && !memcmp(s->line, pre, l);
}

/* A name from a header line: strip is 1 for a/ b/ prefixed names (---,
 * +++, diff --git), which git applies with -p1. */
/* Which runner builds the checked path name[0..n): the GPU runner the
 * CUDA part, the CPU runner recipe.c, both the other flat sources; the
 * .md files neither. The first path of each part is kept for messages. */
static void note_part(struct reciperepo_parts *p, const char *name, size_t n, const char *shown)
{
	size_t api = strlen(RECIPE_BUILD_CPU_API_FILE);
	unsigned bit;
	char *first;

	if (n > sizeof RECIPEREPO_CUDA_DIR && !memcmp(name, RECIPEREPO_CUDA_DIR "/", sizeof RECIPEREPO_CUDA_DIR)) {
		bit = RECIPEREPO_PART_CUDA;
		first = p->cuda;
	} else if (n == api && !memcmp(name, RECIPE_BUILD_CPU_API_FILE, api)) {
		bit = RECIPEREPO_PART_CPU;
		first = p->cpu;
	} else if (ends_with(name, n, ".md")) {
		return;
	} else {
		bit = RECIPEREPO_PART_SHARED;
		first = NULL;
	}
	if (first && !(p->mask & bit))
		snprintf(first, sizeof p->cuda, "%s", shown);
	p->mask |= bit;
}

static int check_name(struct scan *s, const char *name, size_t n, int strip, struct kerr *err)
{
	char shown[SHOW_PATH_MAX + 8];
	const char *slash;

	show(name, n, shown, sizeof shown);
	if (n && name[0] == '"')
		return kerr_set(err, "patch.bad_path", "%s (line %zu): quoted name, not a recipe file", shown,
				s->lineno);
	if (strip && n == 9 && !memcmp(name, "/dev/null", 9))
		return 0;
	if (strip && n && name[0] != '/') {
		/* ".." before stripping too: "../x.c" must not become "x.c" */
		if (n >= 3 && !memcmp(name, "../", 3))
			return kerr_set(err, "patch.bad_path", "%s (line %zu): \"..\" leaves the recipe", shown,
					s->lineno);
		slash = memchr(name, '/', n);
		if (!slash)
			return kerr_set(err, "patch.parse", "%s (line %zu): name without the a/ or b/ prefix",
					shown, s->lineno);
		n -= (size_t)(slash + 1 - name);
		name = slash + 1;
	}
	if (path_check_n(name, n, err) < 0) {
		kerr_prefix(err, "line %zu", s->lineno);
		return -1;
	}
	show(name, n, s->file, sizeof s->file);
	if (s->parts)
		note_part(s->parts, name, n, s->file);
	return 0;
}

/* "diff --git a/X b/Y": recipe names never hold spaces, so exactly two. */
static int git_header(struct scan *s, struct kerr *err)
{
	const char *r = s->line + 11, *e = s->line + s->len, *sp;
	char shown[SHOW_PATH_MAX + 8];

	sp = memchr(r, ' ', (size_t)(e - r));
	if (!sp || memchr(sp + 1, ' ', (size_t)(e - sp - 1)) || sp == r || sp + 1 == e) {
		show(r, (size_t)(e - r), shown, sizeof shown);
		return kerr_set(err, "patch.bad_path", "%s (line %zu): not two plain names", shown, s->lineno);
	}
	if (check_name(s, r, (size_t)(sp - r), 1, err) < 0)
		return -1;
	return check_name(s, sp + 1, (size_t)(e - sp - 1), 1, err);
}

/* Only plain files: 100644. Symlinks, executables, submodules refused. */
static int check_mode(struct scan *s, const char *m, size_t n, struct kerr *err)
{
	char shown[32];

	while (n && (m[n - 1] == ' ' || m[n - 1] == '\r'))
		n--;
	if (n == 6 && !memcmp(m, "100644", 6))
		return 0;
	show(m, n < 16 ? n : 16, shown, sizeof shown);
	if (n == 6 && !memcmp(m, "120000", 6))
		return kerr_set(err, "patch.bad_mode", "%s (line %zu): a symlink (mode 120000)", s->file, s->lineno);
	if (n == 6 && !memcmp(m, "160000", 6))
		return kerr_set(err, "patch.bad_mode", "%s (line %zu): a submodule (mode 160000)", s->file,
				s->lineno);
	if (n == 6 && !memcmp(m, "100755", 6))
		return kerr_set(err, "patch.bad_mode", "%s (line %zu): an executable (mode 100755)", s->file,
				s->lineno);
	return kerr_set(err, "patch.bad_mode", "%s (line %zu): mode %s, only 100644", s->file, s->lineno, shown);
}

/* "---"/"+++" name: up to a tab (traditional diffs append a timestamp). */
static int file_line(struct scan *s, struct kerr *err)
{
	const char *r = s->line + 4;
	size_t n = s->len - 4;
	const char *tab = memchr(r, '\t', n);

	if (tab)
		n = (size_t)(tab - r);
	return check_name(s, r, n, 1, err);
}

static int parse_count(const char **p, const char *e, unsigned long *v)
{
	unsigned long x = 0;
	const char *q = *p;

	if (q >= e || !isdigit((unsigned char)*q))
		return -1;
	while (q < e && isdigit((unsigned char)*q)) {
		if (x > 100000000ul)
			return -1;
		x = x * 10 + (unsigned long)(*q++ - '0');
	}
	*p = q;
	*v = x;
	return 0;
}

/* "@@ -a[,b] +c[,d] @@": returns the old and new line counts. */
static int hunk_counts(const struct scan *s, unsigned long *old_n, unsigned long *new_n)
{
	const char *q = s->line + 3, *e = s->line + s->len;
	unsigned long start;

	*old_n = *new_n = 1;
	if (q >= e || *q++ != '-' || parse_count(&q, e, &start) < 0)
		return -1;
	if (q < e && *q == ',' && (q++, parse_count(&q, e, old_n) < 0))
		return -1;
	if (q + 1 >= e || *q++ != ' ' || *q++ != '+' || parse_count(&q, e, &start) < 0)
		return -1;
	if (q < e && *q == ',' && (q++, parse_count(&q, e, new_n) < 0))
		return -1;
	return q + 3 <= e && !memcmp(q, " @@", 3) ? 0 : -1;
}

/* Consumes a hunk's body by its counts, so that body lines that look like
 * headers ("--- x" removing "-- x") are never taken for headers. */
static int hunk(struct scan *s, struct kerr *err)
{
	unsigned long old_n, new_n;
	size_t at = s->lineno;

	if (!s->headers)
		return kerr_set(err, "patch.parse", "line %zu: hunk without ---/+++ file header", s->lineno);
	if (hunk_counts(s, &old_n, &new_n) < 0)
		return kerr_set(err, "patch.parse", "line %zu: malformed hunk header", s->lineno);
	while (old_n || new_n) {
		if (!next_line(s))
			return kerr_set(err, "patch.parse", "%s: hunk at line %zu is truncated", s->file, at);
		char c = s->len ? s->line[0] : ' '; /* an empty line is blank context */
		if (c == ' ' && old_n && new_n) {
			old_n--;
			new_n--;
		} else if (c == '-' && old_n) {
			old_n--;
		} else if (c == '+' && new_n) {
			new_n--;
		} else if (c != '\\') {
			return kerr_set(err, "patch.parse", "%s: line %zu does not fit the hunk at line %zu",
					s->file, s->lineno, at);
		}
	}
	if (s->p < s->end && s->p[0] == '\\')
		next_line(s); /* "\ No newline at end of file" after the last line */
	s->after_hunk = 1;
	return 0;
}

static int blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isspace((unsigned char)p[i]))
			return 0;
	return 1;
}

static int new_section(struct scan *s, struct kerr *err)
{
	if (++s->files > RECIPEREPO_PATCH_FILES_MAX)
		return kerr_set(err, "patch.too_large", "more than %d file sections", RECIPEREPO_PATCH_FILES_MAX);
	s->headers = 0;
	return 0;
}

/* One line outside a hunk. Unknown lines (a commit message, a diffstat, a
 * signature) are skipped, as git apply skips them. */
static int header_line(struct scan *s, struct kerr *err)
{
	static const char *const mode_heads[] = { "new file mode ", "deleted file mode ", "old mode ",
						  "new mode " };
	/* every header git apply reads a name from: "rename old" and "rename
	 * new" are its older spellings of "rename from" and "rename to", and a
	 * name this scan did not see would escape the path and part rules */
	static const char *const name_heads[] = { "rename from ", "rename to ", "rename old ", "rename new ",
						  "copy from ",	  "copy to " };
	int after = s->after_hunk;

	s->after_hunk = 0;
	/* git would drop a change line past the hunk's counts; the patch then
	 * says more than it does, so it is refused */
	if (after && s->len && (s->line[0] == '+' || s->line[0] == '-') && !starts(s, "--- ") &&
	    !(s->len == 3 && !memcmp(s->line, "-- ", 3)))
		return kerr_set(err, "patch.parse", "%s: line %zu is past the end of its hunk", s->file,
				s->lineno);

	if (starts(s, "diff --git "))
		return new_section(s, err) < 0 ? -1 : git_header(s, err);
	if (starts(s, "--- ")) {
		int in_git_header = s->files && !s->headers;
		if (!next_starts(s, "+++ ")) {
			if (in_git_header)
				return kerr_set(err, "patch.parse", "line %zu: '---' without '+++'", s->lineno);
			return 0; /* prose, as in a commit message: git skips it too */
		}
		if (!in_git_header && new_section(s, err) < 0) /* a traditional diff */
			return -1;
		if (file_line(s, err) < 0)
			return -1;
		next_line(s);
		if (file_line(s, err) < 0)
			return -1;
		s->headers = 1;
		return 0;
	}
	if (starts(s, "@@ "))
		return hunk(s, err);
	if (starts(s, "GIT binary patch") || starts(s, "Binary files "))
		return kerr_set(err, "patch.binary", "%s (line %zu): binary patch", s->files ? s->file : "?",
				s->lineno);
	for (size_t i = 0; i < sizeof mode_heads / sizeof mode_heads[0]; i++)
		if (starts(s, mode_heads[i])) {
			size_t l = strlen(mode_heads[i]);
			return check_mode(s, s->line + l, s->len - l, err);
		}
	for (size_t i = 0; i < sizeof name_heads / sizeof name_heads[0]; i++)
		if (starts(s, name_heads[i])) {
			size_t l = strlen(name_heads[i]);
			return check_name(s, s->line + l, s->len - l, 0, err);
		}
	if (starts(s, "index ")) {
		const char *sp = memchr(s->line + 6, ' ', s->len - 6);
		if (sp)
			return check_mode(s, sp + 1, (size_t)(s->line + s->len - sp - 1), err);
	}
	return 0;
}

int reciperepo_patch_check(const char *patch, size_t len, struct kerr *err)
{
	return reciperepo_patch_parts(patch, len, NULL, err);
}

int reciperepo_patch_parts(const char *patch, size_t len, struct reciperepo_parts *parts, struct kerr *err)
{
	struct scan s = { .p = patch, .end = patch + len, .parts = parts };

	if (parts)
		memset(parts, 0, sizeof *parts);

	if (len > RECIPEREPO_PATCH_BYTES_MAX)
		return kerr_set(err, "patch.too_large", "patch of %zu bytes exceeds the limit of %u", len,
				RECIPEREPO_PATCH_BYTES_MAX);
	if (len == 0 || blank(patch, len))
		return kerr_set(err, "patch.empty", "the patch is empty");
	if (memchr(patch, '\0', len))
		return kerr_set(err, "patch.binary", "the patch holds NUL bytes");
	while (next_line(&s))
		if (header_line(&s, err) < 0)
			return -1;
	if (s.files == 0)
		return kerr_set(err, "patch.parse", "no file headers (diff --git or ---/+++) in the patch");
	return 0;
}

int reciperepo_parts_fit(const struct reciperepo_parts *parts, const char *scale, struct kerr *err)
{
	if (scale_on_gpu(scale) && (parts->mask & RECIPEREPO_PART_CPU))
		return kerr_set(err, "patch.untested_part",
				"the patch changes %s, which the GPU runner that proves scale %s does not build: prove "
				"a change to the CPU runner's API at a CPU scale, without the rest (docs/recipe-repo.md)",
				parts->cpu, scale);
	if (!scale_on_gpu(scale) && (parts->mask & RECIPEREPO_PART_CUDA))
		return kerr_set(err, "patch.untested_part",
				"the patch changes %s, in the CUDA part, which the CPU runner that proves scale %s does "
				"not build: prove a change to the CUDA part at a gpu-* scale, without the rest "
				"(docs/recipe-repo.md)",
				parts->cuda, scale);
	return 0;
}

/* ----------------------------------------------------------------- tags */

int reciperepo_parse_tag(const char *tag, unsigned v[3])
{
	const char *p = tag;

	if (strncmp(p, "recipe-v", 8))
		return -1;
	p += 8;
	for (int i = 0; i < 3; i++) {
		unsigned long x = 0;
		int digits = 0;
		if (!isdigit((unsigned char)*p) || (p[0] == '0' && isdigit((unsigned char)p[1])))
			return -1;
		while (isdigit((unsigned char)*p)) {
			if (++digits > 9)
				return -1;
			x = x * 10 + (unsigned long)(*p++ - '0');
		}
		v[i] = (unsigned)x;
		if (*p != (i < 2 ? '.' : '\0'))
			return -1;
		p++;
	}
	return 0;
}

/* A tag name we would pass to git: ref-safe and never an option. */
static int tag_ok(const char *tag, struct kerr *err)
{
	size_t n = strlen(tag);
	char s[SHOW_PATH_MAX + 8];

	show(tag, n, s, sizeof s);
	if (n == 0 || n >= RECIPEREPO_TAG_MAX || tag[0] == '-' || tag[0] == '.' || strstr(tag, "..") ||
	    ends_with(tag, n, ".lock") || tag[n - 1] == '.')
		return kerr_set(err, "recipe.unknown_tag", "'%s': not a tag name", s);
	for (size_t i = 0; i < n; i++)
		if (!name_char((unsigned char)tag[i]))
			return kerr_set(err, "recipe.unknown_tag", "'%s': not a tag name", s);
	return 0;
}

int reciperepo_resolve(const char *repo, const char *tag, char commit[RECIPEREPO_COMMIT_HEX], struct kerr *err)
{
	struct proc_result res;
	char ref[RECIPEREPO_TAG_MAX + 32];
	const char *args[] = { "rev-parse", "-q", "--verify", ref, NULL };
	int rc = -1;
	size_t n;

	commit[0] = '\0';
	if (tag_ok(tag, err) < 0)
		return -1;
	snprintf(ref, sizeof ref, "refs/tags/%s^{commit}", tag);
	if (reciperepo_git(repo, args, NULL, &res, err) < 0)
		goto out;
	if (res.exit_code != 0) {
		if (strstr(res.err, "not a git repository"))
			git_failed(repo, "rev-parse", &res, err);
		else
			kerr_set(err, "recipe.unknown_tag", "%s: no tag %s naming a commit", repo, tag);
		goto out;
	}
	n = strcspn(res.out, "\n");
	res.out[n] = '\0';
	if (!hash_is_hex(res.out, RECIPEREPO_COMMIT_HEX - 1)) {
		kerr_set(err, "recipe.git", "%s: rev-parse %s gave no SHA-1 commit id (SHA-256 repositories "
			 "are not supported)", repo, tag);
		goto out;
	}
	memcpy(commit, res.out, n);
	commit[n] = '\0';
	rc = 0;
out:
	proc_result_free(&res);
	return rc;
}

static int cmp_tag(const void *a, const void *b)
{
	const struct reciperepo_tag *x = a, *y = b;

	for (int i = 0; i < 3; i++)
		if (x->version[i] != y->version[i])
			return x->version[i] < y->version[i] ? -1 : 1;
	return 0;
}

/* One for-each-ref record (NUL-separated fields, rec[n] == '\0') into a
 * tag entry; 0 when it names a king. Fields: name, type, id, peeled type,
 * peeled id, subject, peeled subject. */
#define TAG_FIELDS 7
static int tag_entry(char *rec, size_t n, struct reciperepo_tag *t)
{
	char *f[TAG_FIELDS], *p = rec, *e = rec + n;
	const char *commit, *subject;

	for (int k = 0; k < TAG_FIELDS; k++) {
		f[k] = p;
		if (k + 1 == TAG_FIELDS)
			break;
		char *z = memchr(p, '\0', (size_t)(e - p));
		if (!z)
			return -1;
		p = z + 1;
	}
	if (memchr(f[TAG_FIELDS - 1], '\0', (size_t)(e - f[TAG_FIELDS - 1])))
		return -1;
	if (strlen(f[0]) >= RECIPEREPO_TAG_MAX || reciperepo_parse_tag(f[0], t->version) < 0)
		return -1;
	if (!strcmp(f[1], "commit")) {
		commit = f[2];
		subject = f[5];
	} else if (!strcmp(f[1], "tag") && !strcmp(f[3], "commit")) {
		commit = f[4];
		subject = f[6];
	} else {
		return -1; /* a tag of a tree, a blob or another tag is no king */
	}
	if (!hash_is_hex(commit, RECIPEREPO_COMMIT_HEX - 1))
		return -1;
	snprintf(t->tag, sizeof t->tag, "%s", f[0]);
	snprintf(t->commit, sizeof t->commit, "%s", commit);
	snprintf(t->subject, sizeof t->subject, "%s", subject);
	return 0;
}

int reciperepo_list_tags(const char *repo, struct reciperepo_tag **tags, size_t *n, struct kerr *err)
{
	const char *args[] = { "for-each-ref",
			       "--format=%(refname:strip=2)%00%(objecttype)%00%(objectname)%00%(*objecttype)"
			       "%00%(*objectname)%00%(subject)%00%(*subject)",
			       "refs/tags/", NULL };
	const struct reciperepo_git_opts o = { .out_max = LIST_OUT_BYTES_MAX };
	struct proc_result res;
	struct reciperepo_tag *out = NULL;
	size_t cap = 0, k = 0;
	int rc = -1;

	*tags = NULL;
	*n = 0;
	if (reciperepo_git(repo, args, &o, &res, err) < 0)
		goto out;
	if (res.exit_code != 0) {
		git_failed(repo, "for-each-ref", &res, err);
		goto out;
	}
	if (res.out_truncated) {
		kerr_set(err, "recipe.git", "%s: tag listing exceeds %u bytes", repo, LIST_OUT_BYTES_MAX);
		goto out;
	}
	for (char *p = res.out, *e = res.out + res.out_len; p < e;) {
		char *nl = memchr(p, '\n', (size_t)(e - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(e - p);
		if (nl)
			*nl = '\0'; /* the capture itself ends in '\0' */
		if (k == cap) {
			size_t nc = cap ? cap * 2 : 16;
			struct reciperepo_tag *nt = realloc(out, nc * sizeof *nt);
			if (!nt) {
				kerr_set(err, "recipe.nomem", "out of memory listing tags");
				goto out;
			}
			out = nt;
			cap = nc;
		}
		if (tag_entry(p, len, &out[k]) == 0)
			k++;
		p = nl ? nl + 1 : e;
	}
	if (k > 1)
		qsort(out, k, sizeof *out, cmp_tag);
	*tags = out;
	*n = k;
	out = NULL;
	rc = 0;
out:
	free(out);
	proc_result_free(&res);
	return rc;
}

int reciperepo_latest_tag(const char *repo, char tag[RECIPEREPO_TAG_MAX], struct kerr *err)
{
	struct reciperepo_tag *t;
	size_t n;

	tag[0] = '\0';
	if (reciperepo_list_tags(repo, &t, &n, err) < 0)
		return -1;
	if (n == 0) {
		free(t);
		return kerr_set(err, "recipe.no_tags", "%s: no recipe-vX.Y.Z tag", repo);
	}
	snprintf(tag, RECIPEREPO_TAG_MAX, "%s", t[n - 1].tag);
	free(t);
	return 0;
}

/* --------------------------------------------------------------- export */

int reciperepo_export(const char *repo, const char *tag, const char *dest, struct kerr *err)
{
	char commit[RECIPEREPO_COMMIT_HEX], idx[FS_PATH_MAX] = "", wt[FS_PATH_MAX], parent[FS_PATH_MAX];
	struct fs_stage st = { 0 };
	int rc = -1;

	if (fs_exists(dest))
		return kerr_set(err, "recipe.dest_exists", "%s: already exists (export needs a fresh folder)", dest);
	if (reciperepo_resolve(repo, tag, commit, err) < 0)
		return -1;
	if (fs_stage_begin(&st, dest, err) < 0)
		return -1;
	/* A private index beside the staging folder: the repository's own index
	 * is never touched, so exports can run while others read the repo. */
	if (abs_dir(st.tmp, wt, parent, err) < 0 ||
	    fs_join(idx, sizeof idx, err, "%s.index", wt) < 0)
		goto out;
	{
		struct reciperepo_git_opts o = { .index_file = idx };
		const char *read_args[] = { "read-tree", commit, NULL };
		if (git_ok(repo, &o, "read-tree", read_args, err) < 0)
			goto out;
		o.work_tree = wt;
		const char *co_args[] = { "checkout-index", "-a", NULL };
		if (git_ok(repo, &o, "checkout-index", co_args, err) < 0)
			goto out;
	}
	if (fs_stage_commit(&st, 0, err) < 0)
		goto out;
	rc = 0;
out:
	if (idx[0])
		unlink(idx);
	fs_stage_abort(&st);
	return rc;
}

/* ----------------------------------------------------------------- init */

static const char readme_text[] =
	"# The Karpa recipe\n"
	"\n"
	"This repository is the canonical training recipe of a Karpa network. Every\n"
	"tag `recipe-vX.Y.Z` marks a king: the recipe that every proof is measured\n"
	"against. `recipe-v0.1.0` is the deliberately plain baseline.\n"
	"\n"
	"## Build\n"
	"\n"
	"The recipe is C built by `karpa` against the harness header\n"
	"`src/sandbox/recipe_api.h` with the pinned toolchain flags; the flags are\n"
	"part of the protocol and are recorded in every proof. There is nothing to\n"
	"build by hand.\n"
	"\n"
	"## Train\n"
	"\n"
	"    karpa train --recipe DIR --scale cpu --data D --seed 1 --threads 2 --out RUN\n"
	"\n"
	"where DIR is an export of a tag (or a patched copy of one) and D a data\n"
	"folder made by `karpa data prepare`.\n"
	"\n"
	"## What a patch may change\n"
	"\n"
	"Anything of training that is not the harness (protocol section 2): the\n"
	"model, its initialisation, the optimizer, schedules, batch and sequence\n"
	"shapes, kernels, precision. The tokenizer, the data and its order, the\n"
	"evaluation of val_bpb, the budget and calibration, logging, checkpoints\n"
	"and bundles are fixed and live outside this repository.\n"
	"\n"
	"A patch is a unified diff in git format that touches only files named\n"
	"`[A-Za-z0-9_.-]+`: at the root of this repository ending in `.c`, `.h`\n"
	"or `.md`, and in the CUDA part, `cuda/`, ending in `.c`, `.h`, `.cu` or\n"
	"`.cuh`. No other subdirectories, no symlinks, no executable modes, no\n"
	"binary patches, at most 256 KiB. GPU proofs train with the CUDA part and\n"
	"validators replay them with it.\n";

static int copyable(const char *name)
{
	struct kerr ignored;

	return !strcmp(name, "Makefile") || reciperepo_path_check(name, &ignored) == 0;
}

/* A file of the CUDA part (cuda/, docs/gpu.md): C, CUDA C++ and their
 * headers, named as recipe files are; what GPU proofs and their replays
 * build with recipe_build_cuda, and what patches may touch there
 * (path_check_n). */
static int cuda_copyable(const char *name)
{
	struct kerr ignored;
	size_t n = strlen(name);

	return n > 0 &&
	       name_check(name, n, name, cuda_exts, sizeof cuda_exts / sizeof cuda_exts[0], "", &ignored) == 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists the files of recipe_src that belong in the repository, sorted.
 * Caller frees names and the array. */
static int list_sources(const char *src, int (*keep)(const char *), char ***names, size_t *n, struct kerr *err)
{
	DIR *d = opendir(src);
	struct dirent *de;
	char **v = NULL, path[FS_PATH_MAX];
	size_t k = 0;
	int rc = -1;

	*names = NULL;
	*n = 0;
	if (!d)
		return kerr_errno(err, "recipe.not_found", src);
	v = calloc(RECIPE_SOURCES_MAX, sizeof *v);
	if (!v) {
		kerr_set(err, "recipe.nomem", "out of memory");
		goto out;
	}
	while ((de = readdir(d))) {
		struct stat sb;
		if (!keep(de->d_name))
			continue;
		if (fs_join(path, sizeof path, err, "%s/%s", src, de->d_name) < 0)
			goto out;
		if (lstat(path, &sb) < 0) {
			kerr_errno(err, "fs.stat", path);
			goto out;
		}
		if (!S_ISREG(sb.st_mode)) {
			kerr_set(err, "recipe.bad_source", "%s: not a regular file (symlinks are not recipe files)", path);
			goto out;
		}
		if (k == RECIPE_SOURCES_MAX) {
			kerr_set(err, "recipe.too_large", "%s: more than %d recipe files", src, RECIPE_SOURCES_MAX);
			goto out;
		}
		if (!(v[k++] = strdup(de->d_name))) {
			kerr_set(err, "recipe.nomem", "out of memory");
			goto out;
		}
	}
	qsort(v, k, sizeof *v, cmp_str);
	*names = v;
	*n = k;
	v = NULL;
	rc = 0;
out:
	if (v) {
		for (size_t i = 0; i < k; i++)
			free(v[i]);
		free(v);
	}
	closedir(d);
	return rc;
}

/* Copies the files of src that keep() takes into dir. *csrc counts the .c
 * files among them. */
static int copy_sources(const char *src, const char *dir, int (*keep)(const char *), size_t *csrc, int *readme,
			struct kerr *err)
{
	char **names = NULL, from[FS_PATH_MAX], to[FS_PATH_MAX];
	size_t n = 0;
	int rc = -1;

	if (list_sources(src, keep, &names, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char *buf = NULL;
		size_t len = 0, l = strlen(names[i]);
		*csrc += l > 2 && !strcmp(names[i] + l - 2, ".c");
		*readme |= !strcmp(names[i], "README.md");
		if (fs_join(from, sizeof from, err, "%s/%s", src, names[i]) < 0 ||
		    fs_join(to, sizeof to, err, "%s/%s", dir, names[i]) < 0 ||
		    fs_read_all(from, RECIPE_SOURCE_BYTES_MAX, &buf, &len, err) < 0)
			goto out;
		int w = fs_write_atomic(to, buf, len, err);
		free(buf);
		if (w < 0)
			goto out;
	}
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

/* Copies the sources into dir, and the CUDA part (src/cuda) when there is
 * one; writes README.md when there is none. */
static int fill(const char *src, const char *dir, struct kerr *err)
{
	char from[FS_PATH_MAX], to[FS_PATH_MAX];
	struct stat sb;
	size_t csrc = 0, ccuda = 0;
	int readme = 0, cuda_readme = 0;

	if (copy_sources(src, dir, copyable, &csrc, &readme, err) < 0)
		return -1;
	if (csrc == 0)
		return kerr_set(err, "recipe.no_sources", "%s: no .c files", src);
	if (fs_join(from, sizeof from, err, "%s/%s", src, RECIPEREPO_CUDA_DIR) < 0 ||
	    fs_join(to, sizeof to, err, "%s/%s", dir, RECIPEREPO_CUDA_DIR) < 0)
		return -1;
	/* a real folder only: a link would copy whatever it points at */
	if (lstat(from, &sb) == 0 && !S_ISDIR(sb.st_mode))
		return kerr_set(err, "recipe.bad_source", "%s: not a folder (symlinks are not recipe files)", from);
	if (fs_is_dir(from) &&
	    (fs_mkdir_p(to, err) < 0 || copy_sources(from, to, cuda_copyable, &ccuda, &cuda_readme, err) < 0))
		return -1;
	if (!readme && (fs_join(to, sizeof to, err, "%s/README.md", dir) < 0 ||
			fs_write_atomic(to, readme_text, sizeof readme_text - 1, err) < 0))
		return -1;
	return 0;
}

static int empty_or_absent(const char *dir, struct kerr *err)
{
	DIR *d;
	struct dirent *de;
	int entries = 0;

	if (!fs_exists(dir))
		return 0;
	if (!fs_is_dir(dir))
		return kerr_set(err, "recipe.exists", "%s: exists and is not a directory", dir);
	d = opendir(dir);
	if (!d)
		return kerr_errno(err, "recipe.exists", dir);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			entries++;
	closedir(d);
	if (entries)
		return kerr_set(err, "recipe.exists", "%s: not empty (a recipe repository starts in a fresh folder)",
				dir);
	return 0;
}

int reciperepo_init(const char *dir, const char *recipe_src, struct kerr *err)
{
	struct fs_stage st = { 0 };
	char wt[FS_PATH_MAX], parent[FS_PATH_MAX];
	const char *init_args[] = { "init", "-q", "-b", RECIPEREPO_BRANCH, "--template=", ".", NULL };
	const char *add_args[] = { "add", "-A", "--", ".", NULL };
	const char *commit_args[] = { "commit", "-q", "--no-verify", "-m", RECIPEREPO_FIRST_MESSAGE, NULL };
	const char *tag_args[] = { "tag", "-a", "-m", RECIPEREPO_FIRST_MESSAGE, RECIPEREPO_FIRST_TAG, NULL };
	int rc = -1;

	if (empty_or_absent(dir, err) < 0)
		return -1;
	if (!fs_is_dir(recipe_src))
		return kerr_set(err, "recipe.not_found", "%s: no recipe folder", recipe_src);
	if (fs_stage_begin(&st, dir, err) < 0)
		return -1;
	if (fill(recipe_src, st.tmp, err) < 0 || abs_dir(st.tmp, wt, parent, err) < 0)
		goto out;
	{
		/* The fixed date makes the commit and tag ids a function of the
		 * recipe bytes alone (RECIPEREPO_FIRST_DATE). */
		const struct reciperepo_git_opts o = { .date = RECIPEREPO_FIRST_DATE };
		if (git_ok(wt, &o, "init", init_args, err) < 0 || git_ok(wt, &o, "add", add_args, err) < 0 ||
		    git_ok(wt, &o, "commit", commit_args, err) < 0 || git_ok(wt, &o, "tag", tag_args, err) < 0)
			goto out;
	}
	if (fs_stage_commit(&st, 0, err) < 0)
		goto out;
	rc = 0;
out:
	fs_stage_abort(&st);
	return rc;
}

/* ---------------------------------------------------------------- apply */

/* What git apply --numstat -z says it would touch, against the policy:
 * defence in depth should git read a header our parser did not. */
static int numstat_check(const char *out, size_t len, struct kerr *err)
{
	const char *p = out, *e = out + len;

	while (p < e) {
		const char *z = memchr(p, '\0', (size_t)(e - p));
		const char *tab1, *tab2;
		if (!z)
			return kerr_set(err, "patch.parse", "git apply --numstat: unterminated record");
		tab1 = memchr(p, '\t', (size_t)(z - p));
		tab2 = tab1 ? memchr(tab1 + 1, '\t', (size_t)(z - tab1 - 1)) : NULL;
		if (!tab2)
			return kerr_set(err, "patch.parse", "git apply --numstat: malformed record");
		if (p[0] == '-') {
			char shown[SHOW_PATH_MAX + 8];
			show(tab2 + 1, (size_t)(z - tab2 - 1), shown, sizeof shown);
			return kerr_set(err, "patch.binary", "%s: binary patch", shown);
		}
		if (tab2 + 1 == z) { /* rename or copy: old\0new\0 follow */
			for (int i = 0; i < 2; i++) {
				const char *name = z + 1;
				if (name >= e || !(z = memchr(name, '\0', (size_t)(e - name))))
					return kerr_set(err, "patch.parse", "git apply --numstat: truncated rename");
				if (path_check_n(name, (size_t)(z - name), err) < 0)
					return -1;
			}
		} else if (path_check_n(tab2 + 1, (size_t)(z - tab2 - 1), err) < 0) {
			return -1;
		}
		p = z + 1;
	}
	return 0;
}

/* git apply's complaint as a reason: the first hunk that does not apply,
 * with its file and line, or the file that is missing or in the way. */
static int apply_failed(const struct proc_result *res, struct kerr *err)
{
	const char *e = res->err, *m;
	char line[512], name[SHOW_PATH_MAX + 8];

	if ((m = strstr(e, "error: patch failed: "))) {
		m += strlen("error: patch failed: ");
		const char *colon = NULL;
		size_t n = strcspn(m, "\n");
		for (size_t i = 0; i < n; i++)
			if (m[i] == ':')
				colon = m + i;
		if (colon) {
			show(m, (size_t)(colon - m), name, sizeof name);
			return kerr_set(err, "patch.conflict", "%s line %ld: hunk does not apply to the king", name,
					strtol(colon + 1, NULL, 10));
		}
	}
	proc_first_line(e, line, sizeof line);
	if (strstr(e, "corrupt patch") || strstr(e, "No valid patches") || strstr(e, "patch fragment without"))
		return kerr_set(err, "patch.parse", "git apply: %s", line);
	if ((m = strstr(e, "error: ")) != NULL) {
		m += 7;
		show(m, strcspn(m, "\n"), line, sizeof line);
	}
	return kerr_set(err, "patch.conflict", "%s", line[0] ? line : "git apply refused the patch");
}

int reciperepo_apply_bytes(const char *dest, const char *patch, size_t len, const char *what, struct kerr *err)
{
	/* Each step is fed the patch on stdin: git applies exactly the bytes
	 * that were checked, whatever happens to a file meanwhile. The first
	 * lists the paths git would touch, the second checks, the last applies. */
	static const char *const stat_args[] = { "apply", "--numstat", "-z", "-", NULL };
	static const char *const check_args[] = { "apply", "--check", "--whitespace=nowarn", "-", NULL };
	static const char *const apply_args[] = { "apply", "--whitespace=nowarn", "-", NULL };
	static const char *const *const steps[] = { stat_args, check_args, apply_args };
	struct proc_result res = { 0 };
	struct reciperepo_git_opts o = { 0 };
	int rc = -1;

	if (len > RECIPEREPO_PATCH_BYTES_MAX)
		return kerr_set(err, "patch.too_large", "%s: %zu bytes, at most %u", what, len, RECIPEREPO_PATCH_BYTES_MAX);
	if (reciperepo_patch_check(patch, len, err) < 0) {
		kerr_prefix(err, "%s", what);
		return -1;
	}
	o.in = patch;
	o.in_len = len;
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		proc_result_free(&res);
		if (reciperepo_git(dest, steps[i], &o, &res, err) < 0)
			goto out;
		if (res.exit_code != 0) {
			apply_failed(&res, err);
			goto out;
		}
		if (steps[i] == stat_args && numstat_check(res.out, res.out_len, err) < 0)
			goto out;
	}
	rc = 0;
out:
	proc_result_free(&res);
	return rc;
}

int reciperepo_apply(const char *dest, const char *patch_path, struct kerr *err)
{
	char *patch = NULL;
	size_t len = 0;
	int rc;

	if (fs_read_all(patch_path, RECIPEREPO_PATCH_BYTES_MAX, &patch, &len, err) < 0) {
		if (!strcmp(err->code, "fs.too_large"))
			snprintf(err->code, sizeof err->code, "patch.too_large");
		return -1;
	}
	rc = reciperepo_apply_bytes(dest, patch, len, patch_path, err);
	free(patch);
	return rc;
}
