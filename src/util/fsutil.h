/* fsutil.h: files on disk, never half-written.
 * Owns bounded reads, atomic writes (tmp + fsync + rename + fsync dir) and
 * staging directories that appear under their final name only when complete. */
#ifndef KARPA_FSUTIL_H
#define KARPA_FSUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/kerr.h"

#define FS_PATH_MAX 4096

/* Opens path for reading only if it is a regular file, and never blocks
 * doing so: a FIFO, device, socket or directory fails at once with
 * fs.not_regular (so does a symlink when flags has O_NOFOLLOW; no other flag
 * is honoured). Returns the descriptor (blocking reads, close-on-exec), or -1.
 * sb (may be NULL) receives the file's fstat. Every file that comes from a
 * bundle or another untrusted place is opened this way. */
struct stat;
int fs_open_regular(const char *path, int flags, struct stat *sb, struct kerr *err);
/* Reads a whole regular file (opened by fs_open_regular with flags); fails
 * with fs.too_large beyond bytes_max. Caller frees *out (NUL-terminated for
 * convenience; *len excludes the NUL). */
int fs_read_file(const char *path, size_t bytes_max, int flags, char **out, size_t *len, struct kerr *err);
/* fs_read_file following symlinks: for the validator's and miner's own files. */
int fs_read_all(const char *path, size_t bytes_max, char **out, size_t *len, struct kerr *err);
/* A file written in a stream and seen under its name only when whole and
 * durable: fs_atomic_open creates "<path>.tmp.<pid>.<n>" beside it (same
 * directory, so the rename is atomic); writes go there; fs_atomic_commit
 * flushes, fsyncs the file, renames it over path and fsyncs the directory
 * (without that last step a power cut may forget the rename); abort removes
 * the temporary. A crash at any point leaves the old file (or none) under
 * path, never part of the new one. Every atomic write goes through here. */
#define FS_ATOMIC_NO_REPLACE 1u /* commit refuses an existing path (fs.exists) */
struct fs_atomic {
	FILE *f; /* the temporary, open for writing; NULL once committed or aborted */
	unsigned flags;
	char path[FS_PATH_MAX], tmp[FS_PATH_MAX];
};
/* mode is the new file's (exactly: umask is overridden by fchmod). */
int fs_atomic_open(struct fs_atomic *a, const char *path, unsigned mode, unsigned flags, struct kerr *err);
int fs_atomic_write(struct fs_atomic *a, const void *buf, size_t len, struct kerr *err);
/* The temporary as a stdio stream, for writers that print; errors show at commit. */
FILE *fs_atomic_stream(struct fs_atomic *a);
int fs_atomic_commit(struct fs_atomic *a, struct kerr *err);
/* Safe after commit and twice; keeps errno. */
void fs_atomic_abort(struct fs_atomic *a);
/* Writes path atomically in one call (fs_atomic, mode 0644, replacing). */
int fs_write_atomic(const char *path, const void *buf, size_t len, struct kerr *err);
/* Writes fully and fsyncs an open descriptor (used for large streamed files). */
int fs_write_fd(int fd, const void *buf, size_t len, const char *what, struct kerr *err);
int fs_fsync_dir(const char *dir, struct kerr *err);
/* fsyncs a file another process wrote (git, a compiler) before it is
 * renamed into place: a rename that outlives a crash must not name an
 * empty file. fs.open, fs.fsync. */
int fs_fsync_path(const char *path, struct kerr *err);
/* Copies a regular file to dst (created 0644, fsynced; dst must not exist). */
int fs_copy_file(const char *src, const char *dst, struct kerr *err);
/* The same, refusing a source that is a symlink or not a regular file
 * (fs.not_regular), and giving the SHA-256 of the bytes written (hex may be
 * NULL, and then nothing is hashed): copied and hashed in one pass. */
int fs_copy_file_hashed(const char *src, const char *dst, char *hex, struct kerr *err);
/* fs_copy_file_hashed that stops with fs.too_large once more than bytes_max
 * bytes were read, and gives the count copied (bytes may be NULL): the copy
 * of untrusted files, whose size can change between a listing and a read. */
int fs_copy_file_bounded(const char *src, const char *dst, uint64_t bytes_max, char *hex, uint64_t *bytes,
			 struct kerr *err);
int fs_mkdir_p(const char *path, struct kerr *err);
/* The absolute form of a path that need not exist yet: its longest existing
 * prefix resolved (symlinks, . and ..) by realpath, the rest normalised by
 * name. Two spellings of one place give one string, so outputs that must
 * not overlap can be compared before anything is written. */
int fs_resolve(const char *path, char *out, size_t cap, struct kerr *err);
/* Whether resolved path a is b or lies under it (both from fs_resolve). */
int fs_within(const char *a, const char *b);
int fs_rm_rf(const char *path);
int fs_exists(const char *path);
int fs_is_dir(const char *path);

/* A staging directory beside `final` ("<final>.tmp.<pid>"). Commit renames it
 * over `final` (refusing to replace a non-empty directory unless replace is
 * set) and fsyncs the parent; abort removes it. */
struct fs_stage {
	char final[FS_PATH_MAX];
	char tmp[FS_PATH_MAX];
	int active;
};
int fs_stage_begin(struct fs_stage *st, const char *final, struct kerr *err);
int fs_stage_commit(struct fs_stage *st, int replace, struct kerr *err);
void fs_stage_abort(struct fs_stage *st);

/* snprintf into a fixed path buffer; fails with fs.path_too_long. */
int fs_join(char *out, size_t cap, struct kerr *err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Directory of the user cache ($KARPA_CACHE, else $XDG_CACHE_HOME/karpa, else ~/.cache/karpa). */
int fs_cache_dir(char *out, size_t cap, struct kerr *err);

#endif
