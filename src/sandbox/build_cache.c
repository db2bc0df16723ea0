/* build_cache.c: pruning the recipe build cache by last use (build_cache.h).
 * Only names the cache itself makes are candidates: recipes/<64 hex>
 * folders and objs/<64 hex>.o files, so a path someone else put there is
 * never removed. */
#include "sandbox/build_cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/fsutil.h"
#include "util/hash.h"
#include "util/log.h"

struct entry {
	char path[FS_PATH_MAX];
	struct timespec used;
	unsigned long long bytes; /* a runner folder's files; 0 for an object */
};

void build_cache_touch(const char *path)
{
	(void)utimensat(AT_FDCWD, path, NULL, 0);
}

static int no_locks(int e)
{
	return e == ENOLCK || e == EOPNOTSUPP || e == ENOSYS;
}

int build_cache_pin(const char *dir, struct kerr *err)
{
	/* a prune can remove the folder between the open and the lock, and
	 * a build can make it anew: a few rounds settle any such race */
	for (int round = 0; round < 8; round++) {
		struct stat held, now;
		int fd, pin;

		if (fs_mkdir_p(dir, err) < 0)
			return -1;
		if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
			if (errno == ENOENT)
				continue;
			return kerr_errno(err, "fs.open", dir);
		}
		/* at least 3: a process started with stdin closed must not
		 * take its pin for standard input, nor hand it to a child */
		pin = fd < 3 ? fcntl(fd, F_DUPFD_CLOEXEC, 3) : fd;
		if (pin != fd)
			close(fd);
		if (pin < 0)
			return kerr_errno(err, "fs.open", dir);
		while (flock(pin, LOCK_SH) < 0) {
			/* a filesystem without locks: no pin, and the prune
			 * keeps what was used within the idle time instead */
			if (no_locks(errno)) {
				static int said;

				if (!said++)
					log_msg(LOG_WARN, "recipe",
						"%s: the build cache's filesystem takes no locks (%s): runners in use"
						" cannot be pinned, so every one used in the last day is kept, past"
						" the cache's 4 GiB if need be",
						dir, strerror(errno));
				break;
			}
			if (errno != EINTR) {
				kerr_errno(err, "fs.lock", dir);
				close(pin);
				return -1;
			}
		}
		if (fstat(pin, &held) == 0 && stat(dir, &now) == 0 && held.st_dev == now.st_dev &&
		    held.st_ino == now.st_ino)
			return pin;
		close(pin);
	}
	return kerr_set(err, "fs.lock", "%s: removed again and again while it was pinned", dir);
}

void build_cache_unpin(int fd)
{
	if (fd > 2)
		close(fd); /* the only descriptor of its open file: the lock goes with it */
}

/* The bytes of the regular files directly in a runner folder (the runner,
 * its log; a build's objects folder is its own until the rename). */
static unsigned long long folder_bytes(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	unsigned long long sum = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		struct stat sb;

		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode))
			sum += (unsigned long long)sb.st_size;
	}
	closedir(d);
	return sum;
}

/* Removes a runner folder nobody pins: 1 removed, 0 pinned or not
 * removable. The exclusive lock is held through the removal, so a pin
 * taken meanwhile waits, then finds the folder gone (build_cache_pin). On
 * a filesystem without locks nothing is pinned, and a folder used since
 * cutoff stays instead. */
static int remove_unpinned(const struct entry *e, time_t cutoff)
{
	int fd = open(e->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW), removed = 0;

	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0 || (no_locks(errno) && e->used.tv_sec <= cutoff))
		removed = fs_rm_rf(e->path) == 0;
	close(fd);
	return removed;
}

/* Newest first; ties by path so the order never depends on readdir's. */
static int newer_first(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->used.tv_sec != y->used.tv_sec)
		return x->used.tv_sec > y->used.tv_sec ? -1 : 1;
	if (x->used.tv_nsec != y->used.tv_nsec)
		return x->used.tv_nsec > y->used.tv_nsec ? -1 : 1;
	return strcmp(x->path, y->path);
}

/* A name this cache made: 64 lowercase hex digits, then `suffix`. */
static int cache_name(const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);
	char digest[HASH_HEX_BYTES];

	if (n != HASH_HEX_BYTES - 1 + s || strcmp(name + HASH_HEX_BYTES - 1, suffix))
		return 0;
	memcpy(digest, name, HASH_HEX_BYTES - 1);
	digest[HASH_HEX_BYTES - 1] = '\0';
	return hash_is_hex(digest, HASH_HEX_BYTES - 1);
}

/* Lists dir's entries named as the cache names them, of the given type.
 * A missing folder is an empty one. */
static int list(const char *dir, const char *suffix, int want_dir, struct entry **out, size_t *n, struct kerr *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t cap = 0;
	int rc = -1;

	*out = NULL;
	*n = 0;
	if (!d)
		return errno == ENOENT ? 0 : kerr_errno(err, "fs.open", dir);
	while ((de = readdir(d))) {
		struct entry e;
		struct stat sb;

		if (!cache_name(de->d_name, suffix) ||
		    fs_join(e.path, sizeof e.path, err, "%s/%s", dir, de->d_name) < 0)
			continue;
		if (lstat(e.path, &sb) < 0 || (want_dir ? !S_ISDIR(sb.st_mode) : !S_ISREG(sb.st_mode)))
			continue;
		e.used = sb.st_mtim;
		e.bytes = want_dir ? folder_bytes(e.path) : 0;
		if (*n == cap) {
			struct entry *grown = realloc(*out, (cap = cap ? 2 * cap : 64) * sizeof *grown);
			if (!grown) {
				kerr_set(err, "fs.nomem", "%s: out of memory listing the cache", dir);
				goto out;
			}
			*out = grown;
		}
		(*out)[(*n)++] = e;
	}
	rc = 0;
out:
	closedir(d);
	if (rc < 0) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

/* The entries of sub, newest first. */
static int ranked(const char *cache, const char *sub, const char *suffix, int is_dir, struct entry **e, size_t *n,
		  struct kerr *err)
{
	char dir[FS_PATH_MAX];

	if (fs_join(dir, sizeof dir, err, "%s/%s", cache, sub) < 0 || list(dir, suffix, is_dir, e, n, err) < 0)
		return -1;
	if (*n > 1)
		qsort(*e, *n, sizeof **e, newer_first);
	return 0;
}

/* A pinned runner stays and still counts, so a pinned giant leaves less
 * room for the rest rather than letting the cache grow past the bytes. */
static int prune_runners(const char *cache, int keep, unsigned long long bytes, long idle_s, int *removed,
			 struct kerr *err)
{
	struct entry *e = NULL;
	size_t n = 0;
	unsigned long long kept = 0;
	int nkept = 0;
	time_t cutoff = time(NULL) - (time_t)idle_s;

	*removed = 0;
	if (ranked(cache, "recipes", "", 1, &e, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int fits = nkept < keep && e[i].bytes <= bytes - kept && kept <= bytes;

		if (i > 0 && !fits && remove_unpinned(&e[i], cutoff)) {
			(*removed)++;
			continue;
		}
		nkept++;
		kept += e[i].bytes;
	}
	free(e);
	return 0;
}

static int prune_objects(const char *cache, int keep, long idle_s, int *removed, struct kerr *err)
{
	struct entry *e = NULL;
	size_t n = 0;
	time_t cutoff = time(NULL) - (time_t)idle_s;

	*removed = 0;
	if (ranked(cache, "objs", ".o", 0, &e, &n, err) < 0)
		return -1;
	for (size_t i = keep > 0 ? (size_t)keep : 0; i < n; i++)
		if (e[i].used.tv_sec <= cutoff && unlink(e[i].path) == 0)
			(*removed)++;
	free(e);
	return 0;
}

int build_cache_prune(const char *cache, int keep_runners, unsigned long long runner_bytes, int keep_objects,
		      long idle_s, struct build_cache_pruned *out, struct kerr *err)
{
	struct build_cache_pruned p = { 0, 0 };
	int rc = prune_runners(cache, keep_runners, runner_bytes, idle_s, &p.runners, err);

	if (rc == 0)
		rc = prune_objects(cache, keep_objects, idle_s, &p.objects, err);
	if (out)
		*out = p;
	return rc;
}

/* The pid in a temporary's name (`objs.<pid>`, `<name>.tmp.<pid>`), or 0
 * when the name is not one a build makes. */
static long temp_pid(const char *name)
{
	const char *dot = strrchr(name, '.'), *p;
	long pid = 0;

	if (!dot || !dot[1] || !((dot - name == 4 && !strncmp(name, "objs", 4)) ||
				 (dot - name > 4 && !strncmp(dot - 4, ".tmp", 4))))
		return 0;
	for (p = dot + 1; *p; p++) {
		if (*p < '0' || *p > '9' || pid > 99999999)
			return 0;
		pid = pid * 10 + (*p - '0');
	}
	return pid;
}

static int sweep_dir(const char *dir, time_t cutoff)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int removed = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char path[FS_PATH_MAX];
		struct stat sb;
		long pid = temp_pid(de->d_name);

		if (pid <= 0 || (size_t)snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= sizeof path ||
		    lstat(path, &sb) < 0 || (!S_ISDIR(sb.st_mode) && !S_ISREG(sb.st_mode)))
			continue;
		if (sb.st_mtime > cutoff && (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
			continue; /* its build may still be running */
		if ((S_ISDIR(sb.st_mode) ? fs_rm_rf(path) : unlink(path)) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}

int build_cache_sweep(const char *cache, long stale_s)
{
	char dir[FS_PATH_MAX];
	struct entry *e = NULL;
	struct kerr err;
	size_t n = 0;
	time_t cutoff = time(NULL) - (time_t)stale_s;
	int removed = 0;

	if ((size_t)snprintf(dir, sizeof dir, "%s/objs", cache) < sizeof dir)
		removed += sweep_dir(dir, cutoff);
	if ((size_t)snprintf(dir, sizeof dir, "%s/recipes", cache) >= sizeof dir || list(dir, "", 1, &e, &n, &err) < 0)
		return removed;
	for (size_t i = 0; i < n; i++)
		removed += sweep_dir(e[i].path, cutoff);
	free(e);
	return removed;
}
