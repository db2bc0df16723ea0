/* fsutil.c: atomic file and directory writes. Every write that can be seen
 * under its final name is complete and durable; a crash leaves old or new. */
#include "util/fsutil.h"
#include "util/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fs_join(char *out, size_t cap, struct kerr *err, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, cap, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap)
		return kerr_set(err, "fs.path_too_long", "path too long (%d bytes)", n);
	return 0;
}

int fs_open_regular(const char *path, int flags, struct stat *sb, struct kerr *err)
{
	struct stat own;
	int fd, fl;

	if (!sb)
		sb = &own;
	/* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
	 * writer that never comes; on a regular file it changes nothing. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | (flags & O_NOFOLLOW));
	if (fd < 0) {
		int saved = errno; /* callers may tell ENOENT apart */

		if (saved == ELOOP && (flags & O_NOFOLLOW))
			kerr_set(err, "fs.not_regular", "%s: a symbolic link, not a regular file", path);
		else
			kerr_errno(err, "fs.open", path);
		errno = saved;
		return -1;
	}
	if (fstat(fd, sb) < 0) {
		kerr_errno(err, "fs.stat", path);
		close(fd);
		return -1;
	}
	if (!S_ISREG(sb->st_mode)) {
		kerr_set(err, "fs.not_regular", "%s: not a regular file (a FIFO, device, socket or directory)", path);
		close(fd);
		return -1;
	}
	if ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		kerr_errno(err, "fs.open", path);
		close(fd);
		return -1;
	}
	return fd;
}

int fs_read_file(const char *path, size_t bytes_max, int flags, char **out, size_t *len, struct kerr *err)
{
	int rc = -1, fd;
	struct stat sb;
	char *buf = NULL;
	size_t got = 0;

	*out = NULL;
	fd = fs_open_regular(path, flags, &sb, err);
	if (fd < 0)
		return -1;
	if ((uint64_t)sb.st_size > bytes_max) {
		kerr_set(err, "fs.too_large", "%s: %lld bytes exceeds the limit of %zu",
			 path, (long long)sb.st_size, bytes_max);
		goto out;
	}
	buf = malloc((size_t)sb.st_size + 1);
	if (!buf) {
		kerr_set(err, "fs.nomem", "%s: out of memory", path);
		goto out;
	}
	while (got < (size_t)sb.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)sb.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			kerr_errno(err, "fs.read", path);
			goto out;
		}
		if (r == 0)
			break; /* file shrank while reading: return what is there */
		got += (size_t)r;
	}
	buf[got] = '\0';
	*out = buf;
	buf = NULL;
	if (len)
		*len = got;
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

int fs_read_all(const char *path, size_t bytes_max, char **out, size_t *len, struct kerr *err)
{
	return fs_read_file(path, bytes_max, 0, out, len, err);
}

int fs_write_fd(int fd, const void *buf, size_t len, const char *what, struct kerr *err)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return kerr_errno(err, errno == ENOSPC || errno == EFBIG || errno == EDQUOT ? "fs.disk_full" : "fs.write",
					  what);
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int fs_fsync_dir(const char *dir, struct kerr *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return kerr_errno(err, "fs.open", dir);
	if (fsync(fd) < 0 && errno != EINVAL) {
		close(fd);
		return kerr_errno(err, "fs.fsync", dir);
	}
	close(fd);
	return 0;
}

int fs_fsync_path(const char *path, struct kerr *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return kerr_errno(err, "fs.open", path);
	if (fsync(fd) < 0) {
		close(fd);
		return kerr_errno(err, "fs.fsync", path);
	}
	close(fd);
	return 0;
}

int fs_copy_file_bounded(const char *src, const char *dst, uint64_t bytes_max, char *hex, uint64_t *bytes,
			 struct kerr *err)
{
	char buf[1 << 16];
	struct hash_bulk c = { NULL };
	uint8_t d[HASH_BYTES];
	uint64_t done = 0;
	int in = fs_open_regular(src, O_NOFOLLOW, NULL, err), out = -1, rc = -1;

	if (in < 0)
		return -1;
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (out < 0) {
		kerr_errno(err, errno == EEXIST ? "fs.exists" : "fs.create", dst);
		goto out;
	}
	if (hex && hash_bulk_begin(&c, err) < 0)
		goto out;
	for (;;) {
		ssize_t r = read(in, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			kerr_errno(err, "fs.read", src);
			goto out;
		}
		if (r == 0)
			break;
		/* Counted as read, not as stat said: a file that grows while
		 * it is copied stops at the limit instead of filling the disk. */
		if ((uint64_t)r > bytes_max - done) {
			kerr_set(err, "fs.too_large", "%s: more than the limit of %llu bytes", src,
				 (unsigned long long)bytes_max);
			goto out;
		}
		done += (uint64_t)r;
		if (hex)
			hash_bulk_update(&c, buf, (size_t)r);
		if (fs_write_fd(out, buf, (size_t)r, dst, err) < 0)
			goto out;
	}
	if (fsync(out) < 0) {
		kerr_errno(err, "fs.fsync", dst);
		goto out;
	}
	if (hex) {
		hash_bulk_end(&c, d);
		hash_hex(d, hex);
	}
	if (bytes)
		*bytes = done;
	rc = 0;
out:
	hash_bulk_drop(&c);
	close(in);
	if (out >= 0)
		close(out);
	if (rc < 0 && out >= 0)
		unlink(dst);
	return rc;
}

int fs_copy_file_hashed(const char *src, const char *dst, char *hex, struct kerr *err)
{
	return fs_copy_file_bounded(src, dst, UINT64_MAX, hex, NULL, err);
}

int fs_copy_file(const char *src, const char *dst, struct kerr *err)
{
	return fs_copy_file_hashed(src, dst, NULL, err);
}

static int parent_of(const char *path, char *out, size_t cap, struct kerr *err)
{
	char tmp[FS_PATH_MAX];

	if (fs_join(tmp, sizeof tmp, err, "%s", path) < 0)
		return -1;
	return fs_join(out, cap, err, "%s", dirname(tmp));
}

int fs_atomic_open(struct fs_atomic *a, const char *path, unsigned mode, unsigned flags, struct kerr *err)
{
	/* distinct temporaries within one process, whichever thread opens them
	 * (the harness writes a checkpoint beside a restart) */
	static _Atomic unsigned counter;
	int fd;

	memset(a, 0, sizeof *a);
	a->flags = flags;
	if (fs_join(a->path, sizeof a->path, err, "%s", path) < 0 ||
	    fs_join(a->tmp, sizeof a->tmp, err, "%s.tmp.%ld.%u", path, (long)getpid(), counter++) < 0)
		return -1;
	/* O_EXCL: a temporary is never shared, even with a crashed run's. */
	unlink(a->tmp);
	fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 07777);
	if (fd < 0)
		return kerr_errno(err, errno == EACCES || errno == EROFS ? "fs.unwritable" : "fs.create", a->tmp);
	if (fchmod(fd, mode & 07777) < 0 || !(a->f = fdopen(fd, "w"))) {
		kerr_errno(err, "fs.create", a->tmp);
		close(fd);
		unlink(a->tmp);
		return -1;
	}
	return 0;
}

static int write_errno(struct kerr *err, const char *what)
{
	return kerr_errno(err, errno == ENOSPC || errno == EFBIG || errno == EDQUOT ? "fs.disk_full" : "fs.write", what);
}

int fs_atomic_write(struct fs_atomic *a, const void *buf, size_t len, struct kerr *err)
{
	if (!a->f)
		return kerr_set(err, "fs.atomic", "%s: not open for writing", a->path);
	if (len && fwrite(buf, 1, len, a->f) != len)
		return write_errno(err, a->tmp);
	return 0;
}

FILE *fs_atomic_stream(struct fs_atomic *a)
{
	return a->f;
}

int fs_atomic_commit(struct fs_atomic *a, struct kerr *err)
{
	char dir[FS_PATH_MAX];
	FILE *f = a->f;
	int rc = -1;

	if (!f)
		return kerr_set(err, "fs.atomic", "%s: not open for writing", a->path);
	a->f = NULL;
	if (fflush(f) != 0 || ferror(f)) {
		write_errno(err, a->tmp);
		fclose(f);
		goto out;
	}
	if (fsync(fileno(f)) < 0) {
		kerr_errno(err, "fs.fsync", a->tmp);
		fclose(f);
		goto out;
	}
	if (fclose(f) != 0) {
		write_errno(err, a->tmp);
		goto out;
	}
	if (parent_of(a->path, dir, sizeof dir, err) < 0)
		goto out;
	if (a->flags & FS_ATOMIC_NO_REPLACE) {
		/* link fails on an existing name where rename would replace it. */
		if (link(a->tmp, a->path) < 0) {
			if (errno == EEXIST)
				kerr_set(err, "fs.exists", "%s: already exists", a->path);
			else
				kerr_errno(err, "fs.rename", a->path);
			goto out;
		}
		unlink(a->tmp);
	} else if (rename(a->tmp, a->path) < 0) {
		kerr_errno(err, "fs.rename", a->path);
		goto out;
	}
	/* The rename is itself a write to the directory: durable only once the
	 * directory is synced too. */
	rc = fs_fsync_dir(dir, err);
out:
	if (rc < 0)
		unlink(a->tmp); /* absent after a successful rename */
	return rc;
}

void fs_atomic_abort(struct fs_atomic *a)
{
	int saved = errno;

	if (a->f) {
		fclose(a->f);
		a->f = NULL;
		unlink(a->tmp);
	}
	errno = saved;
}

int fs_write_atomic(const char *path, const void *buf, size_t len, struct kerr *err)
{
	struct fs_atomic a;

	if (fs_atomic_open(&a, path, 0644, 0, err) < 0)
		return -1;
	if (fs_atomic_write(&a, buf, len, err) < 0 || fs_atomic_commit(&a, err) < 0) {
		fs_atomic_abort(&a);
		return -1;
	}
	return 0;
}

int fs_mkdir_p(const char *path, struct kerr *err)
{
	char tmp[FS_PATH_MAX];
	size_t n;

	if (fs_join(tmp, sizeof tmp, err, "%s", path) < 0)
		return -1;
	n = strlen(tmp);
	for (size_t i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		char c = tmp[i];
		tmp[i] = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return kerr_errno(err, "fs.mkdir", tmp);
		tmp[i] = c;
	}
	if (!fs_is_dir(path))
		return kerr_set(err, "fs.mkdir", "%s: exists and is not a directory", path);
	return 0;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p) < 0 && errno != ENOENT ? -1 : 0;
}

#define FS_RESOLVE_LINKS_MAX 40 /* dangling links followed, as the kernel's ELOOP bound */

int fs_resolve(const char *path0, char *out, size_t cap, struct kerr *err)
{
	/* a restart resolves a new path (a link's target, or where a ..
	 * landed) built from the old one: two buffers, so it never reads the
	 * one it writes */
	char head[FS_PATH_MAX], real[PATH_MAX], turn[2][FS_PATH_MAX], *cut;
	const char *path = path0, *rest;
	struct stat sb;
	int links = 0, t = 0;
	size_t n;

	if (!path || !*path)
		return kerr_set(err, "fs.bad_path", "an empty path names no place");
restart:
	rest = "";
	if (fs_join(head, sizeof head, err, "%s", path) < 0)
		return -1;
	/* shorten to the longest prefix that exists; rest is what follows it */
	while (!realpath(head, real)) {
		if ((errno != ENOENT && errno != ENOTDIR) || !strcmp(head, ".") || !strcmp(head, "/"))
			return kerr_errno(err, "fs.stat", head); /* "." too: a working folder removed */
		if (lstat(head, &sb) == 0 && S_ISLNK(sb.st_mode)) {
			/* a link to what does not exist yet: where it will be is
			 * where its target will be */
			char target[FS_PATH_MAX];
			ssize_t len = readlink(head, target, sizeof target - 1);

			if (len < 0)
				return kerr_errno(err, "fs.stat", head);
			target[len] = '\0';
			if (++links > FS_RESOLVE_LINKS_MAX)
				return kerr_set(err, "fs.bad_path", "%s: more than %d links", path0, FS_RESOLVE_LINKS_MAX);
			cut = strrchr(head, '/');
			if (target[0] == '/' || !cut)
				n = (size_t)snprintf(turn[t], sizeof turn[t], "%s%s%s", target, *rest ? "/" : "", rest);
			else
				n = (size_t)snprintf(turn[t], sizeof turn[t], "%.*s/%s%s%s", (int)(cut - head), head, target,
						     *rest ? "/" : "", rest);
			if (n >= sizeof turn[t])
				return kerr_set(err, "fs.path_too_long", "%s: its link's target is too long", path0);
			path = turn[t];
			t ^= 1;
			goto restart;
		}
		cut = strrchr(head, '/');
		if (!cut) {
			rest = path;
			snprintf(head, sizeof head, ".");
			continue;
		}
		rest = path + (cut - head) + 1;
		if (cut == head) {
			snprintf(head, sizeof head, "/");
			continue;
		}
		*cut = '\0';
	}
	if (fs_join(out, cap, err, "%s", real) < 0)
		return -1;
	/* the missing part goes by name: it holds no links; but a .. that
	 * climbs out of it lands where things exist again, and what follows is
	 * resolved afresh from there (a link among it is followed): one ..
	 * fewer each time */
	while (*rest) {
		size_t len = strcspn(rest, "/");

		if ((len == 1 && rest[0] == '.') || len == 0) {
			/* nothing */
		} else if (len == 2 && rest[0] == '.' && rest[1] == '.') {
			cut = strrchr(out, '/');
			if (cut)
				cut[cut == out] = '\0'; /* "/" stays "/" */
			rest += len + (rest[len] == '/');
			if (!*rest)
				break;
			if ((size_t)snprintf(turn[t], sizeof turn[t], "%s/%s", out, rest) >= sizeof turn[t])
				return kerr_set(err, "fs.path_too_long", "%s: longer than %zu bytes resolved", path0,
						sizeof turn[t] - 1);
			path = turn[t];
			t ^= 1;
			goto restart;
		} else {
			n = strlen(out);
			if (n + (out[n - 1] != '/') + len + 1 > cap)
				return kerr_set(err, "fs.path_too_long", "%s: longer than %zu bytes resolved", path0, cap - 1);
			if (out[n - 1] != '/')
				out[n++] = '/';
			memcpy(out + n, rest, len);
			out[n + len] = '\0';
		}
		rest += len + (rest[len] == '/');
	}
	return 0;
}

int fs_within(const char *a, const char *b)
{
	size_t n = strlen(b);

	if (strncmp(a, b, n))
		return 0;
	return a[n] == '\0' || a[n] == '/' || (n && b[n - 1] == '/');
}

int fs_rm_rf(const char *path)
{
	if (!fs_exists(path))
		return 0;
	return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int fs_exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0;
}

int fs_is_dir(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

int fs_stage_begin(struct fs_stage *st, const char *final, struct kerr *err)
{
	char dir[FS_PATH_MAX];

	memset(st, 0, sizeof *st);
	if (fs_join(st->final, sizeof st->final, err, "%s", final) < 0 ||
	    fs_join(st->tmp, sizeof st->tmp, err, "%s.tmp.%ld", final, (long)getpid()) < 0 ||
	    parent_of(final, dir, sizeof dir, err) < 0)
		return -1;
	if (fs_mkdir_p(dir, err) < 0) {
		kerr_prefix(err, "cannot create the output's parent");
		return -1;
	}
	fs_rm_rf(st->tmp);
	if (mkdir(st->tmp, 0755) < 0)
		return kerr_errno(err, errno == EACCES || errno == EROFS ? "fs.unwritable" : "fs.mkdir",
				  st->tmp);
	st->active = 1;
	return 0;
}

int fs_stage_commit(struct fs_stage *st, int replace, struct kerr *err)
{
	char dir[FS_PATH_MAX], old[FS_PATH_MAX];

	if (!st->active)
		return kerr_set(err, "fs.stage", "%s: staging directory not active", st->final);
	if (fs_fsync_dir(st->tmp, err) < 0 || parent_of(st->final, dir, sizeof dir, err) < 0)
		return -1;
	if (fs_exists(st->final)) {
		if (!replace && rmdir(st->final) < 0)
			return kerr_set(err, "fs.exists",
					"%s: already exists and is not empty (remove it or choose another --out)",
					st->final);
		if (replace) {
			/* Move the old tree aside first so the final name always holds a
			 * complete tree; the old one is removed after the swap. */
			if (fs_join(old, sizeof old, err, "%s.old.%ld", st->final, (long)getpid()) < 0)
				return -1;
			fs_rm_rf(old);
			if (rename(st->final, old) < 0)
				return kerr_errno(err, "fs.rename", st->final);
			if (rename(st->tmp, st->final) < 0) {
				int saved = errno;
				rename(old, st->final);
				errno = saved;
				return kerr_errno(err, "fs.rename", st->final);
			}
			fs_rm_rf(old);
			st->active = 0;
			return fs_fsync_dir(dir, err);
		}
	}
	if (rename(st->tmp, st->final) < 0)
		return kerr_errno(err, "fs.rename", st->final);
	st->active = 0;
	return fs_fsync_dir(dir, err);
}

void fs_stage_abort(struct fs_stage *st)
{
	if (st->active)
		fs_rm_rf(st->tmp);
	st->active = 0;
}

int fs_cache_dir(char *out, size_t cap, struct kerr *err)
{
	const char *k = getenv("KARPA_CACHE"), *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");

	if (k && *k)
		return fs_join(out, cap, err, "%s", k);
	if (x && *x)
		return fs_join(out, cap, err, "%s/karpa", x);
	if (h && *h)
		return fs_join(out, cap, err, "%s/.cache/karpa", h);
	return kerr_set(err, "fs.no_cache_dir", "no cache directory: set KARPA_CACHE or HOME");
}
