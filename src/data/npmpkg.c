/* npmpkg.c: fetch, verify and read npm package tarballs.
 * The registry's integrity string is the pin: a tarball is checked against it
 * when it arrives and again, in memory, every time it is opened, so a cached
 * file that rotted or was swapped is refused rather than read. Never runs a
 * shell, never runs package scripts, never writes outside <cache>/npm. */
#include "data/npmpkg.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/fsutil.h"

extern char **environ;

#define SRI_PREFIX "sha512-"
/* npm's own limit on package name length. */
#define NAME_BYTES_MAX 214
#define VERSION_BYTES_MAX 64
/* npm's log is only read to quote its last line in an error. */
#define NPM_LOG_BYTES_MAX (1u << 20)
#define NPM_LOG_QUOTE_MAX 240
#define WAIT_POLL_MS 20
#define READ_CHUNK_BYTES (64u << 10)

/* ------------------------------------------------------------------------ */
/* Names and paths                                                          */
/* ------------------------------------------------------------------------ */

static int name_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

/* A plain component of a package name: what npm accepts, and nothing that
 * could read as an option ("-x") or a path ("..", "."). */
static int name_part_ok(const char *s, size_t n)
{
	if (n == 0 || s[0] == '.' || s[0] == '-' || s[0] == '_')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!name_char(s[i]))
			return 0;
	return 1;
}

static int spec_check(const char *name, const char *version, struct kerr *err)
{
	size_t n = name ? strlen(name) : 0, vn = version ? strlen(version) : 0;
	const char *slash;

	if (n == 0 || n > NAME_BYTES_MAX)
		return kerr_set(err, "npmpkg.bad_spec", "npm package name has %zu bytes", n);
	if (name[0] == '@') {
		slash = strchr(name, '/');
		if (!slash || !name_part_ok(name + 1, (size_t)(slash - name - 1)) ||
		    !name_part_ok(slash + 1, strlen(slash + 1)))
			return kerr_set(err, "npmpkg.bad_spec", "bad scoped npm package name");
	} else if (!name_part_ok(name, n)) {
		return kerr_set(err, "npmpkg.bad_spec", "bad npm package name");
	}
	if (vn == 0 || vn > VERSION_BYTES_MAX || version[0] == '-' || version[0] == '.')
		return kerr_set(err, "npmpkg.bad_spec", "bad npm package version");
	for (size_t i = 0; i < vn; i++)
		if (!name_char(version[i]) && version[i] != '+')
			return kerr_set(err, "npmpkg.bad_spec", "bad npm package version");
	return 0;
}

/* npm pack names its output "<name>-<version>.tgz", a scope "@s/n" as "s-n". */
static int tarball_file(const char *name, const char *version, char *out, size_t cap,
			struct kerr *err)
{
	char flat[NAME_BYTES_MAX + 1];
	size_t j = 0;

	for (const char *s = name[0] == '@' ? name + 1 : name; *s && j < NAME_BYTES_MAX; s++)
		flat[j++] = *s == '/' ? '-' : *s;
	flat[j] = '\0';
	return fs_join(out, cap, err, "%s-%s.tgz", flat, version);
}

int npmpkg_cache_path(const char *name, const char *version, char *out, size_t cap,
		      struct kerr *err)
{
	char cache[FS_PATH_MAX], file[FS_PATH_MAX];

	if (spec_check(name, version, err) < 0 || fs_cache_dir(cache, sizeof cache, err) < 0 ||
	    tarball_file(name, version, file, sizeof file, err) < 0)
		return -1;
	return fs_join(out, cap, err, "%s/npm/%s", cache, file);
}

/* ------------------------------------------------------------------------ */
/* Integrity                                                                */
/* ------------------------------------------------------------------------ */

static void sri_of_digest(const unsigned char d[crypto_hash_sha512_BYTES],
			  char out[NPMPKG_INTEGRITY_MAX])
{
	memcpy(out, SRI_PREFIX, sizeof SRI_PREFIX - 1);
	sodium_bin2base64(out + sizeof SRI_PREFIX - 1, NPMPKG_INTEGRITY_MAX - (sizeof SRI_PREFIX - 1),
			  d, crypto_hash_sha512_BYTES, sodium_base64_VARIANT_ORIGINAL);
}

void npmpkg_integrity_buf(const void *p, size_t n, char out[NPMPKG_INTEGRITY_MAX])
{
	unsigned char d[crypto_hash_sha512_BYTES];

	crypto_hash_sha512(d, p, n);
	sri_of_digest(d, out);
}

int npmpkg_integrity_file(const char *path, char out[NPMPKG_INTEGRITY_MAX], struct kerr *err)
{
	crypto_hash_sha512_state st;
	unsigned char d[crypto_hash_sha512_BYTES], *chunk = NULL;
	int rc = -1, fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return kerr_errno(err, "fs.open", path);
	chunk = malloc(READ_CHUNK_BYTES);
	if (!chunk) {
		kerr_set(err, "fs.nomem", "%s: out of memory", path);
		goto out;
	}
	crypto_hash_sha512_init(&st);
	for (;;) {
		ssize_t r = read(fd, chunk, READ_CHUNK_BYTES);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			kerr_errno(err, "fs.read", path);
			goto out;
		}
		if (r == 0)
			break;
		crypto_hash_sha512_update(&st, chunk, (unsigned long long)r);
	}
	crypto_hash_sha512_final(&st, d);
	sri_of_digest(d, out);
	rc = 0;
out:
	free(chunk);
	close(fd);
	return rc;
}

/* Only a single sha512 entry is accepted: sha1 is too weak to pin data, and
 * a multi-hash SRI string would let the weaker entry decide. */
static int integrity_check_spec(const char *integrity, struct kerr *err)
{
	size_t n = integrity ? strlen(integrity) : 0;

	if (n <= sizeof SRI_PREFIX - 1 || n >= NPMPKG_INTEGRITY_MAX ||
	    strncmp(integrity, SRI_PREFIX, sizeof SRI_PREFIX - 1) != 0)
		return kerr_set(err, "npmpkg.bad_spec",
				"integrity must be one \"sha512-<base64>\" string");
	return 0;
}

static int integrity_mismatch(const char *path, const char *got, const char *want,
			      struct kerr *err)
{
	return kerr_set(err, "npmpkg.integrity",
			"%s: integrity mismatch (file has %.24s..., expected %.24s...); the file is "
			"corrupt or not the pinned package: delete it to fetch it again",
			path, got, want);
}

/* ------------------------------------------------------------------------ */
/* Fetching with npm pack                                                   */
/* ------------------------------------------------------------------------ */

/* The last non-empty line of npm's log, for the error message. */
static void log_tail(const char *log_path, char *out, size_t cap)
{
	struct kerr ignored;
	char *text = NULL;
	size_t len = 0, end, start;

	out[0] = '\0';
	if (fs_read_all(log_path, NPM_LOG_BYTES_MAX, &text, &len, &ignored) < 0)
		return;
	end = len;
	while (end > 0 && (text[end - 1] == '\n' || text[end - 1] == '\r' || text[end - 1] == ' '))
		end--;
	start = end;
	while (start > 0 && text[start - 1] != '\n')
		start--;
	snprintf(out, cap, "%.*s", (int)(end - start), text + start);
	for (char *s = out; *s; s++)
		if ((unsigned char)*s < 0x20)
			*s = ' ';
	free(text);
}

static int wait_child(pid_t pid, int *status, struct kerr *err)
{
	struct timespec nap = { 0, WAIT_POLL_MS * 1000000L };

	for (unsigned waited_ms = 0;; waited_ms += WAIT_POLL_MS) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return kerr_errno(err, "npmpkg.fetch", "waiting for npm");
		if (waited_ms >= NPMPKG_FETCH_TIMEOUT_MS) {
			kill(pid, SIGKILL);
			waitpid(pid, status, 0);
			return kerr_set(err, "npmpkg.fetch", "npm pack did not finish within %u s",
					NPMPKG_FETCH_TIMEOUT_MS / 1000);
		}
		nanosleep(&nap, NULL);
	}
}

/* Runs `npm pack <name>@<version> --pack-destination <dir>` without a shell;
 * its stdout and stderr go to <dir>/npm.log. */
static int run_npm_pack(const char *name, const char *version, const char *dir, struct kerr *err)
{
	char spec[NAME_BYTES_MAX + VERSION_BYTES_MAX + 2], log_path[FS_PATH_MAX],
		tail[NPM_LOG_QUOTE_MAX];
	char *argv[] = { "npm", "pack", spec, "--pack-destination", (char *)dir,
			 "--ignore-scripts", NULL };
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status = 0, rc;

	snprintf(spec, sizeof spec, "%s@%s", name, version);
	if (fs_join(log_path, sizeof log_path, err, "%s/npm.log", dir) < 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	rc = posix_spawnp(&pid, "npm", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return kerr_set(err, "npmpkg.fetch", "cannot run npm to fetch %s: %s", spec,
				strerror(rc));
	if (wait_child(pid, &status, err) < 0)
		return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		log_tail(log_path, tail, sizeof tail);
		return kerr_set(err, "npmpkg.fetch", "npm pack %s failed (status %d): %s", spec,
				WIFEXITED(status) ? WEXITSTATUS(status) : -1,
				tail[0] ? tail : "no output");
	}
	return 0;
}

/* Fetch into a private folder inside <cache>/npm (same file system, so the
 * final rename is atomic), verify there, then rename into place. */
static int fetch_into(const char *name, const char *version, const char *integrity,
		      const char *final, struct kerr *err)
{
	char dir[FS_PATH_MAX], tmp[FS_PATH_MAX], got_path[FS_PATH_MAX], file[FS_PATH_MAX],
		got[NPMPKG_INTEGRITY_MAX];
	char *slash;
	int rc = -1;

	if (fs_join(dir, sizeof dir, err, "%s", final) < 0)
		return -1;
	slash = strrchr(dir, '/');
	if (!slash)
		return kerr_set(err, "npmpkg.fetch", "%s: not an absolute cache path", final);
	*slash = '\0';
	if (fs_mkdir_p(dir, err) < 0 || fs_join(tmp, sizeof tmp, err, "%s/.fetch-XXXXXX", dir) < 0)
		return -1;
	if (!mkdtemp(tmp))
		return kerr_errno(err, "fs.mkdir", tmp);
	if (run_npm_pack(name, version, tmp, err) < 0 ||
	    tarball_file(name, version, file, sizeof file, err) < 0 ||
	    fs_join(got_path, sizeof got_path, err, "%s/%s", tmp, file) < 0)
		goto out;
	if (!fs_exists(got_path)) {
		kerr_set(err, "npmpkg.fetch", "npm pack %s@%s wrote no %s", name, version, file);
		goto out;
	}
	if (npmpkg_integrity_file(got_path, got, err) < 0)
		goto out;
	if (strcmp(got, integrity) != 0) {
		kerr_set(err, "npmpkg.integrity",
			 "%s@%s from the registry has integrity %.24s..., expected %.24s...: "
			 "refusing it",
			 name, version, got, integrity);
		goto out;
	}
	if (rename(got_path, final) < 0) {
		kerr_errno(err, "fs.rename", final);
		goto out;
	}
	rc = fs_fsync_dir(dir, err);
out:
	fs_rm_rf(tmp);
	return rc;
}

int npmpkg_fetch(const char *name, const char *version, const char *integrity, char *path_out,
		 size_t cap, struct kerr *err)
{
	char got[NPMPKG_INTEGRITY_MAX];

	if (sodium_init() < 0)
		return kerr_set(err, "npmpkg.crypto", "libsodium failed to initialise");
	if (integrity_check_spec(integrity, err) < 0 ||
	    npmpkg_cache_path(name, version, path_out, cap, err) < 0)
		return -1;
	if (!fs_exists(path_out))
		return fetch_into(name, version, integrity, path_out, err);
	if (npmpkg_integrity_file(path_out, got, err) < 0)
		return -1;
	if (strcmp(got, integrity) != 0)
		return integrity_mismatch(path_out, got, integrity, err);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Reading                                                                  */
/* ------------------------------------------------------------------------ */

int npmpkg_open(const char *path, const char *integrity, struct npmpkg *p, struct kerr *err)
{
	char got[NPMPKG_INTEGRITY_MAX];
	char *buf = NULL;
	size_t len = 0;

	memset(p, 0, sizeof *p);
	if (sodium_init() < 0)
		return kerr_set(err, "npmpkg.crypto", "libsodium failed to initialise");
	if (integrity_check_spec(integrity, err) < 0 ||
	    fs_join(p->path, sizeof p->path, err, "%s", path) < 0)
		return -1;
	if (fs_read_all(path, NPMPKG_TARBALL_BYTES_MAX, &buf, &len, err) < 0)
		return -1;
	npmpkg_integrity_buf(buf, len, got);
	if (strcmp(got, integrity) != 0) {
		free(buf);
		return integrity_mismatch(path, got, integrity, err);
	}
	p->buf = (unsigned char *)buf;
	p->len = len;
	return 0;
}

void npmpkg_close(struct npmpkg *p)
{
	free(p->buf);
	p->buf = NULL;
	p->len = 0;
}

static const char *strip_first(const char *name)
{
	const char *slash = strchr(name, '/');

	return slash ? slash + 1 : name;
}

static int too_big(const struct npmpkg *p, const char *name, size_t bytes_max, struct kerr *err)
{
	return kerr_set(err, "npmpkg.archive", "%s: member %s exceeds the limit of %zu bytes",
			p->path, name, bytes_max);
}

/* Reads the current entry's data, refusing more than bytes_max whatever the
 * header claims (a tar header's size is data, not a promise). */
static int read_entry(const struct npmpkg *p, struct archive *a, struct archive_entry *e,
		      const char *name, size_t bytes_max, char **out, size_t *len,
		      struct kerr *err)
{
	size_t cap = READ_CHUNK_BYTES, n = 0;
	char *buf = NULL;
	int rc = -1;

	if (archive_entry_size_is_set(e) && archive_entry_size(e) >= 0) {
		if ((uint64_t)archive_entry_size(e) > bytes_max)
			return too_big(p, name, bytes_max, err);
		cap = (size_t)archive_entry_size(e) + 1;
	}
	if (cap > bytes_max + 1)
		cap = bytes_max + 1;
	buf = malloc(cap);
	if (!buf)
		return kerr_set(err, "npmpkg.nomem", "%s: out of memory reading %s", p->path, name);
	for (;;) {
		la_ssize_t r;
		if (n + 1 == cap) {
			char probe, *nb;
			size_t ncap = cap * 2 < bytes_max + 1 ? cap * 2 : bytes_max + 1;
			if (ncap == cap) { /* full: any further byte breaks the bound */
				r = archive_read_data(a, &probe, 1);
				if (r > 0)
					too_big(p, name, bytes_max, err);
				else if (r < 0)
					kerr_set(err, "npmpkg.archive", "%s: damaged tarball at member %s: %s",
						 p->path, name, archive_error_string(a));
				else
					break;
				goto out;
			}
			nb = realloc(buf, ncap);
			if (!nb) {
				kerr_set(err, "npmpkg.nomem", "%s: out of memory", p->path);
				goto out;
			}
			buf = nb;
			cap = ncap;
		}
		r = archive_read_data(a, buf + n, cap - 1 - n);
		if (r < 0) {
			kerr_set(err, "npmpkg.archive", "%s: damaged tarball at member %s: %s", p->path,
				 name, archive_error_string(a));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*out = buf;
	buf = NULL;
	*len = n;
	rc = 0;
out:
	free(buf);
	return rc;
}

/* Walks the members; when `only` is set, every other member is skipped
 * unread, so the bounds apply to the wanted one alone. */
static int walk(const struct npmpkg *p, const struct npmpkg_limits *lim, const char *only,
		npmpkg_member_fn fn, void *ctx, struct kerr *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	size_t members = 0, total = 0;
	int rc = -1;

	if (!a)
		return kerr_set(err, "npmpkg.nomem", "%s: out of memory", p->path);
	archive_read_support_filter_gzip(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_memory(a, p->buf, p->len) != ARCHIVE_OK) {
		kerr_set(err, "npmpkg.archive", "%s: not a gzip tarball: %s", p->path,
			 archive_error_string(a));
		goto out;
	}
	for (;;) {
		int r = archive_read_next_header(a, &e);
		const char *name;
		char *data = NULL;
		size_t len = 0;

		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			kerr_set(err, "npmpkg.archive", "%s: damaged tarball after %zu members: %s",
				 p->path, members, archive_error_string(a));
			goto out;
		}
		if (++members > lim->members_max) {
			kerr_set(err, "npmpkg.archive", "%s: more than %zu members", p->path,
				 lim->members_max);
			goto out;
		}
		if (archive_entry_filetype(e) != AE_IFREG)
			continue;
		name = archive_entry_pathname(e);
		if (!name) {
			kerr_set(err, "npmpkg.archive", "%s: member without a name", p->path);
			goto out;
		}
		name = strip_first(name);
		if (only && strcmp(name, only) != 0)
			continue; /* next_header skips the unread data */
		if (read_entry(p, a, e, name, lim->member_bytes_max, &data, &len, err) < 0)
			goto out;
		total += len;
		if (total > lim->total_bytes_max) {
			free(data);
			kerr_set(err, "npmpkg.archive", "%s: members exceed %zu bytes in total",
				 p->path, lim->total_bytes_max);
			goto out;
		}
		r = fn(ctx, name, data, len, err);
		free(data);
		if (r < 0)
			goto out;
		if (r > 0)
			break;
	}
	rc = 0;
out:
	archive_read_free(a);
	return rc;
}

int npmpkg_each_member(const struct npmpkg *p, const struct npmpkg_limits *lim,
		       npmpkg_member_fn fn, void *ctx, struct kerr *err)
{
	return walk(p, lim, NULL, fn, ctx, err);
}

struct find_ctx {
	const char *member;
	char *out;
	size_t len;
};

static int find_one(void *vctx, const char *name, const char *data, size_t len, struct kerr *err)
{
	struct find_ctx *f = vctx;

	if (strcmp(name, f->member) != 0)
		return 0;
	f->out = malloc(len + 1);
	if (!f->out)
		return kerr_set(err, "npmpkg.nomem", "out of memory copying %s", name);
	memcpy(f->out, data, len + 1);
	f->len = len;
	return 1;
}

int npmpkg_read_member(const struct npmpkg *p, const char *member, size_t bytes_max, char **out,
		       size_t *len, struct kerr *err)
{
	/* Only the wanted member is read, so bytes_max bounds it and the total;
	 * a million entries is far past any real package. */
	struct npmpkg_limits lim = { bytes_max, 1u << 20, bytes_max };
	struct find_ctx f = { member, NULL, 0 };

	*out = NULL;
	if (walk(p, &lim, member, find_one, &f, err) < 0) {
		free(f.out);
		return -1;
	}
	if (!f.out)
		return kerr_set(err, "npmpkg.no_member", "%s: no member %s", p->path, member);
	*out = f.out;
	if (len)
		*len = f.len;
	return 0;
}
