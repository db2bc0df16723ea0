/* buildbox.c: Landlock for the build's tools (see buildbox.h). */
#include "sandbox/buildbox.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/landlock.h"
#include "util/fsutil.h"

/* Where a Debian toolchain lives, read-only and executable. /etc is read
 * only: the loader's cache and the compiler's configuration. */
static const char *const system_dirs[] = { "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32" };
static const char *const etc_files[] = { "/etc/ld.so.cache", "/etc/localtime" };
#define RX (LL_READ | LANDLOCK_ACCESS_FS_EXECUTE)

/* A tool's installation: /usr/local/cuda-13.0 for its bin/nvcc, the tool's
 * own folder when it is not in a bin/, never "/" (a tool in /bin of a
 * system without merged /usr gets /bin alone). */
static int tool_prefix(const char *tool, char *out, size_t cap)
{
	char found[FS_PATH_MAX], real[PATH_MAX], *slash;

	if (proc_find_on_path(tool, found, sizeof found) < 0 || !realpath(found, real) || !(slash = strrchr(real, '/')))
		return -1;
	*slash = '\0';
	slash = strrchr(real, '/');
	if (slash && slash != real && !strcmp(slash, "/bin"))
		*slash = '\0';
	if (!real[0])
		return -1;
	return (size_t)snprintf(out, cap, "%s", real) < cap ? 0 : -1;
}

static int allow(struct buildbox *bb, const char *path, uint64_t access, struct kerr *err)
{
	if (ll_allow(bb->fd, path, access & ll_fs_rights(bb->abi)) == 0)
		return 0;
	return kerr_set(err, "sandbox.setup", "the build's Landlock rule for %s: %s", path, strerror(errno));
}

/* The operator's own search paths, read beneath: the compiler's and the
 * linker's variables (a toolkit's headers, a library in /opt), and the
 * loader's, which the tools themselves may need. Relative entries are
 * skipped (they would name folders of the recipe's choosing). */
static int allow_env_paths(struct buildbox *bb, struct kerr *err)
{
	static const char *const vars[] = { "CPATH", "C_INCLUDE_PATH", "CPLUS_INCLUDE_PATH", "LIBRARY_PATH",
					    "LD_LIBRARY_PATH" };

	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
		const char *v = getenv(vars[i]);
		char dirs[4096], *save = NULL;

		if (!v || (size_t)snprintf(dirs, sizeof dirs, "%s", v) >= sizeof dirs)
			continue;
		for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save))
			if (d[0] == '/' && allow(bb, d, LL_READ, err) < 0)
				return -1;
	}
	return 0;
}

/* -I/dir and -L/dir in the pinned flags: a library's headers or its link
 * name outside /usr. */
static int allow_flag_paths(struct buildbox *bb, const char *const *flags, struct kerr *err)
{
	for (const char *const *f = flags; f && *f; f++) {
		char words[4096], *save = NULL;

		if ((size_t)snprintf(words, sizeof words, "%s", *f) >= sizeof words)
			continue;
		for (char *w = strtok_r(words, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
			if ((!strncmp(w, "-I/", 3) || !strncmp(w, "-L/", 3)) && allow(bb, w + 2, LL_READ, err) < 0)
				return -1;
	}
	return 0;
}

int buildbox_open(struct buildbox *bb, const char *const *read, const char *const *write, const char *const *tools,
		  const char *const *flags, struct kerr *err)
{
	const uint64_t rw = ~(uint64_t)LANDLOCK_ACCESS_FS_EXECUTE;
	unsigned handles;
	char prefix[FS_PATH_MAX];

	bb->fd = -1;
	bb->abi = ll_abi();
	if (!bb->abi)
		return 0;
	bb->fd = ll_ruleset_new(bb->abi, &handles);
	if (bb->fd < 0)
		return kerr_errno(err, "sandbox.setup", "a Landlock ruleset for the build");
	for (size_t i = 0; i < sizeof system_dirs / sizeof system_dirs[0]; i++)
		if (allow(bb, system_dirs[i], RX, err) < 0)
			goto fail;
	/* Of /etc, what the tools read (measured with strace: gcc, its cross
	 * build and nvcc read the loader's cache, nvcc the local time): not the
	 * rest, which holds what a build has no business with (/etc/shadow
	 * under a validator running as root, host keys) and which an error
	 * line or a sample could carry out. */
	for (size_t i = 0; i < sizeof etc_files / sizeof etc_files[0]; i++)
		if (access(etc_files[i], F_OK) == 0 && allow(bb, etc_files[i], LANDLOCK_ACCESS_FS_READ_FILE, err) < 0)
			goto fail;
	if (allow(bb, "/dev/null", LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE | LL_FS_TRUNCATE, err) < 0)
		goto fail;
	for (const char *const *t = tools; t && *t; t++)
		if (tool_prefix(*t, prefix, sizeof prefix) == 0 && allow(bb, prefix, RX, err) < 0)
			goto fail;
	if (allow_env_paths(bb, err) < 0 || allow_flag_paths(bb, flags, err) < 0)
		goto fail;
	for (const char *const *r = read; r && *r; r++)
		if (allow(bb, *r, LL_READ, err) < 0)
			goto fail;
	for (const char *const *w = write; w && *w; w++)
		if (allow(bb, *w, rw, err) < 0)
			goto fail;
	return 0;
fail:
	buildbox_close(bb);
	return -1;
}

void buildbox_close(struct buildbox *bb)
{
	if (bb->fd >= 0)
		close(bb->fd);
	bb->fd = -1;
}

struct boxed {
	const struct buildbox *bb;
	const char *const *argv;
	const struct proc_opts *po;
	struct proc_result *pr;
	struct kerr *err;
	int rc;
};

/* No new privileges and the domain, on this thread alone (both are the
 * thread's, not the process's); then the tool, which inherits them. */
static void *boxed_main(void *arg)
{
	struct boxed *b = arg;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || syscall(SYS_landlock_restrict_self, b->bb->fd, 0) < 0) {
		kerr_errno(b->err, "sandbox.setup", "confining the build's tools (Landlock)");
		return NULL;
	}
	b->rc = proc_run(b->argv, b->po, b->pr, b->err);
	return NULL;
}

int buildbox_run(const struct buildbox *bb, const char *const *argv, const struct proc_opts *po,
		 struct proc_result *pr, struct kerr *err)
{
	struct boxed b = { bb, argv, po, pr, err, -1 };
	pthread_t th;
	int e;

	if (bb->fd < 0)
		return proc_run(argv, po, pr, err);
	memset(pr, 0, sizeof *pr);
	pr->exit_code = -1;
	e = pthread_create(&th, NULL, boxed_main, &b);
	if (e)
		return kerr_set(err, "sandbox.setup", "a thread for the build's tools: %s", strerror(e));
	pthread_join(th, NULL);
	return b.rc;
}
