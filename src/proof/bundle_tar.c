/* bundle_tar.c: a bundle's transport form, one ustar file (libarchive), the
 * directory walk shared with sealing and verification, and the take: the
 * validator's own hashed copy of a directory or a .tar. Unpacking reads
 * the whole archive once to check every entry and every byte count before
 * anything touches the disk, then extracts into a staging directory that
 * appears under its final name only when complete. Never follows a link,
 * never keeps the archive's modes, owners or times. */
#include "proof/bundle.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Directories are implied by file names, so an honest archive has at most
 * one directory per file; anything beyond that is padding an attacker uses
 * to make us work. */
#define TAR_ENTRIES_MAX (2 * BUNDLE_FILES_MAX)
#define TAR_BLOCK_BYTES 10240 /* ustar record size: libarchive's default */
#define TAR_HEADER_BYTES 512
#define COPY_BYTES (1u << 16)
/* Headers, padding and the end marker on top of the data: generous. */
#define TAR_OVERHEAD_BYTES ((uint64_t)TAR_ENTRIES_MAX * 3 * TAR_HEADER_BYTES + 2 * TAR_BLOCK_BYTES)
#define WALK_DIRS_MAX BUNDLE_FILES_MAX

uint64_t bundle_tar_bytes_max(void)
{
	return BUNDLE_BYTES_MAX + TAR_OVERHEAD_BYTES;
}

/* ---- names -------------------------------------------------------------- */

static int name_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
	       c == '_' || c == '-';
}

int bundle_name_check(const char *name, struct kerr *err)
{
	size_t n = name ? strnlen(name, BUNDLE_NAME_MAX + 1) : 0;
	const char *p;
	int depth = 0;

	if (n == 0)
		return kerr_set(err, "bundle.tar_name", "empty entry name");
	if (name[0] == '/')
		return kerr_set(err, "bundle.tar_traversal", "absolute entry name \"%.*s\"", BUNDLE_NAME_MAX, name);
	if (n > BUNDLE_NAME_MAX)
		return kerr_set(err, "bundle.tar_name", "entry name longer than %d bytes", BUNDLE_NAME_MAX);
	for (p = name; *p;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);

		if (len == 2 && p[0] == '.' && p[1] == '.')
			return kerr_set(err, "bundle.tar_traversal", "entry \"%s\" climbs out with \"..\"", name);
		if (len == 0 || (len == 1 && p[0] == '.'))
			return kerr_set(err, "bundle.tar_name", "entry \"%s\" has an empty or \".\" component", name);
		for (size_t i = 0; i < len; i++)
			if (!name_char_ok(p[i]))
				return kerr_set(err, "bundle.tar_name",
						"entry \"%s\": byte 0x%02x is not in [A-Za-z0-9._-]", name,
						(unsigned char)p[i]);
		if (++depth > BUNDLE_DEPTH_MAX)
			return kerr_set(err, "bundle.tar_name", "entry \"%s\" is deeper than %d", name,
					BUNDLE_DEPTH_MAX);
		p += len;
		if (*p == '/')
			p++;
		if (slash && !*p)
			return kerr_set(err, "bundle.tar_name", "entry \"%s\" ends with '/'", name);
	}
	return 0;
}

/* ---- walking a bundle directory --------------------------------------- */

static int cmp_name(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

/* Sorting moves names; sizes travel with them through this pair. */
struct named {
	char name[BUNDLE_NAME_MAX + 1];
	uint64_t bytes;
};

static int walk(const char *root, const char *rel, struct bundle_files *f, int *dirs,
		struct kerr *err)
{
	char path[FS_PATH_MAX], child[FS_PATH_MAX];
	struct dirent *e;
	DIR *d;
	int rc = -1;

	if (++*dirs > WALK_DIRS_MAX)
		return kerr_set(err, "bundle.too_many_files", "%s: more than %d directories", root, WALK_DIRS_MAX);
	if (fs_join(path, sizeof path, err, "%s%s%s", root, *rel ? "/" : "", rel) < 0)
		return -1;
	if (!(d = opendir(path)))
		return kerr_errno(err, "fs.open", path);
	while ((e = readdir(d))) {
		struct stat sb;
		char full[FS_PATH_MAX];

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fs_join(child, sizeof child, err, "%s%s%s", rel, *rel ? "/" : "", e->d_name) < 0 ||
		    fs_join(full, sizeof full, err, "%s/%s", root, child) < 0)
			goto out;
		if (bundle_name_check(child, err) < 0) {
			snprintf(err->code, sizeof err->code, "bundle.file_name");
			kerr_prefix(err, "%s", root);
			goto out;
		}
		if (lstat(full, &sb) < 0) {
			kerr_errno(err, "fs.stat", full);
			goto out;
		}
		if (S_ISDIR(sb.st_mode)) {
			if (walk(root, child, f, dirs, err) < 0)
				goto out;
		} else if (S_ISREG(sb.st_mode)) {
			if (f->n >= BUNDLE_FILES_MAX) {
				kerr_set(err, "bundle.too_many_files", "%s: more than %d files", root,
					 BUNDLE_FILES_MAX);
				goto out;
			}
			snprintf(f->name[f->n], sizeof f->name[f->n], "%s", child);
			f->bytes[f->n++] = (uint64_t)sb.st_size;
		} else {
			kerr_set(err, "bundle.file_type", "%s: %s is not a regular file or directory%s", root, child,
				 S_ISLNK(sb.st_mode) ? " (symlink)" : "");
			goto out;
		}
	}
	rc = 0;
out:
	closedir(d);
	return rc;
}

int bundle_list(const char *dir, struct bundle_files *f, struct kerr *err)
{
	struct named *tmp;
	int dirs = 0;

	memset(f, 0, sizeof *f);
	if (walk(dir, "", f, &dirs, err) < 0)
		return -1;
	if (!(tmp = calloc((size_t)f->n + 1, sizeof *tmp)))
		return kerr_set(err, "bundle.nomem", "out of memory");
	for (int i = 0; i < f->n; i++) {
		memcpy(tmp[i].name, f->name[i], sizeof tmp[i].name);
		tmp[i].bytes = f->bytes[i];
	}
	qsort(tmp, (size_t)f->n, sizeof *tmp, cmp_name); /* name is the first member */
	for (int i = 0; i < f->n; i++) {
		memcpy(f->name[i], tmp[i].name, sizeof tmp[i].name);
		f->bytes[i] = tmp[i].bytes;
	}
	free(tmp);
	return 0;
}

/* ---- packing -------------------------------------------------------------- */

/* A full disk is the same condition whichever writer meets it. */
static const char *pack_code(struct archive *a)
{
	int e = archive_errno(a);

	return e == ENOSPC || e == EFBIG || e == EDQUOT ? "fs.disk_full" : "bundle.pack";
}

static int pack_file(struct archive *a, const char *dir, const char *name, uint64_t bytes, char *buf,
		     struct kerr *err)
{
	char path[FS_PATH_MAX];
	struct archive_entry *e = NULL;
	uint64_t done = 0;
	int fd = -1, rc = -1;

	if (fs_join(path, sizeof path, err, "%s/%s", dir, name) < 0)
		return -1;
	if ((fd = fs_open_regular(path, O_NOFOLLOW, NULL, err)) < 0)
		return -1;
	if (!(e = archive_entry_new())) {
		kerr_set(err, "bundle.nomem", "out of memory");
		goto out;
	}
	/* Fixed owner, mode and time: the same directory packs to the same bytes. */
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)bytes);
	archive_entry_set_mtime(e, 0, 0);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	if (archive_write_header(a, e) != ARCHIVE_OK) {
		kerr_set(err, pack_code(a), "%s: %s", name, archive_error_string(a));
		goto out;
	}
	while (done < bytes) {
		size_t want = bytes - done < COPY_BYTES ? (size_t)(bytes - done) : COPY_BYTES;
		ssize_t r = read(fd, buf, want);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			kerr_errno(err, "fs.read", path);
			goto out;
		}
		if (r == 0) {
			kerr_set(err, "bundle.pack", "%s shrank while being packed", path);
			goto out;
		}
		if (archive_write_data(a, buf, (size_t)r) != r) {
			kerr_set(err, pack_code(a), "%s: %s", name, archive_error_string(a));
			goto out;
		}
		done += (uint64_t)r;
	}
	rc = 0;
out:
	archive_entry_free(e);
	close(fd);
	return rc;
}

/* The listed files' bytes in all, UINT64_MAX past it: sizes are the
 * filesystem's (sparse files can claim exabytes), so a plain sum could
 * wrap below the bundle limit. */
static uint64_t files_total(const struct bundle_files *f)
{
	uint64_t total = 0;

	for (int i = 0; i < f->n; i++) {
		if (f->bytes[i] > UINT64_MAX - total)
			return UINT64_MAX;
		total += f->bytes[i];
	}
	return total;
}

int bundle_pack(const char *dir, const char *tar_path, struct kerr *err)
{
	struct bundle_files *f = calloc(1, sizeof *f);
	char tmp[FS_PATH_MAX], parent[FS_PATH_MAX], *buf = malloc(COPY_BYTES), *slash;
	struct archive *a = NULL;
	uint64_t total = 0;
	int fd = -1, rc = -1;

	if (!f || !buf) {
		kerr_set(err, "bundle.nomem", "out of memory");
		goto out;
	}
	if (bundle_list(dir, f, err) < 0 || fs_join(tmp, sizeof tmp, err, "%s.tmp", tar_path) < 0 ||
	    fs_join(parent, sizeof parent, err, "%s", tar_path) < 0)
		goto out;
	total = files_total(f);
	if (total > BUNDLE_BYTES_MAX) {
		kerr_set(err, "bundle.too_large", "%s: %llu bytes exceeds %llu", dir, (unsigned long long)total,
			 (unsigned long long)BUNDLE_BYTES_MAX);
		goto out;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
		kerr_errno(err, "fs.create", tmp);
		goto out;
	}
	if (!(a = archive_write_new()) || archive_write_set_format_ustar(a) != ARCHIVE_OK ||
	    archive_write_open_fd(a, fd) != ARCHIVE_OK) {
		kerr_set(err, "bundle.pack", "%s: %s", tmp, a ? archive_error_string(a) : "out of memory");
		goto out;
	}
	for (int i = 0; i < f->n; i++)
		if (pack_file(a, dir, f->name[i], f->bytes[i], buf, err) < 0) {
			kerr_prefix(err, "%s", tar_path);
			goto out;
		}
	if (archive_write_close(a) != ARCHIVE_OK) {
		kerr_set(err, pack_code(a), "%s: %s", tmp, archive_error_string(a));
		goto out;
	}
	if (fsync(fd) < 0) {
		kerr_errno(err, "fs.fsync", tmp);
		goto out;
	}
	if (rename(tmp, tar_path) < 0) {
		kerr_errno(err, "fs.rename", tar_path);
		goto out;
	}
	slash = strrchr(parent, '/');
	if (slash)
		*(slash == parent ? slash + 1 : slash) = '\0';
	rc = fs_fsync_dir(slash ? parent : ".", err);
out:
	if (a)
		archive_write_free(a);
	if (fd >= 0)
		close(fd);
	if (rc < 0 && fd >= 0)
		unlink(tmp);
	free(buf);
	free(f);
	return rc;
}

/* ---- unpacking: pass 1, the listing ------------------------------------ */

struct tar_entry {
	char name[BUNDLE_NAME_MAX + 1];
	int is_dir;
	uint64_t bytes;
};

struct tar_list {
	int n, files;
	uint64_t total;
	struct tar_entry e[TAR_ENTRIES_MAX];
};

static struct archive *reader_open(int fd, const char *tar_path, struct kerr *err)
{
	struct archive *a = archive_read_new();

	if (!a) {
		kerr_set(err, "bundle.nomem", "out of memory");
		return NULL;
	}
	/* Plain tar only: no compression filters, so sizes on disk bound work. */
	if (lseek(fd, 0, SEEK_SET) < 0 || archive_read_support_format_tar(a) != ARCHIVE_OK ||
	    archive_read_open_fd(a, fd, TAR_BLOCK_BYTES) != ARCHIVE_OK) {
		kerr_set(err, "bundle.tar", "%s: %s", tar_path, archive_error_string(a));
		archive_read_free(a);
		return NULL;
	}
	return a;
}

/* Maps a libarchive failure to our code: running out of bytes is truncation. */
static int tar_fail(struct archive *a, const char *tar_path, const char *what, struct kerr *err)
{
	const char *msg = archive_error_string(a);

	if (msg && (strstr(msg, "runcated") || strstr(msg, "premature") || strstr(msg, "Premature")))
		return kerr_set(err, "bundle.tar_truncated", "%s: %s: %s", tar_path, what, msg);
	return kerr_set(err, "bundle.tar", "%s: %s: %s", tar_path, what, msg ? msg : "unreadable");
}

/* Headers that may precede an entry's own (pax records, GNU long names)
 * and how much of a pax record set is searched for sparse keys. */
#define RAW_CHAIN_MAX 8
#define RAW_PAX_BYTES_MAX (64u << 10)

static uint64_t raw_octal(const unsigned char *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n && p[i] >= '0' && p[i] <= '7'; i++)
		v = v << 3 | (uint64_t)(p[i] - '0');
	return v;
}

/* Whether the raw headers of the entry starting at pos declare sparse data:
 * a GNU 'S' type flag, or a pax record set with GNU.sparse.* keys. Read
 * from the file itself because libarchive turns a sparse entry whose map
 * is empty or covers the whole file into a plain file, which would then
 * fail later with a vaguer code (or pass). A chain it cannot walk is left
 * to libarchive, which refuses malformed headers on its own. */
static int raw_sparse(int fd, la_int64_t pos)
{
	unsigned char h[TAR_HEADER_BYTES], *pax = NULL;
	int sparse = 0;

	for (int i = 0; i < RAW_CHAIN_MAX && pos >= 0 && !sparse; i++) {
		uint64_t size;

		if (pread(fd, h, sizeof h, (off_t)pos) != (ssize_t)sizeof h)
			break;
		size = raw_octal(h + 124, 12);
		if (h[156] == 'S') {
			sparse = 1;
		} else if (h[156] == 'x' || h[156] == 'g') {
			size_t n = size < RAW_PAX_BYTES_MAX ? (size_t)size : RAW_PAX_BYTES_MAX;
			ssize_t got;

			if (!(pax = malloc(n + 1)))
				break;
			got = pread(fd, pax, n, (off_t)pos + TAR_HEADER_BYTES);
			sparse = got > 0 && memmem(pax, (size_t)got, "GNU.sparse.", 11) != NULL;
			free(pax);
			pax = NULL;
		} else if (h[156] != 'L' && h[156] != 'K') {
			break; /* the entry's own header, and not sparse */
		}
		pos += TAR_HEADER_BYTES + (la_int64_t)((size + TAR_HEADER_BYTES - 1) / TAR_HEADER_BYTES * TAR_HEADER_BYTES);
	}
	return sparse;
}

/* "./name" is how `tar -C DIR -cf X.tar .` names DIR/name, and "./" or "."
 * DIR itself: the prefix is dropped and the root skipped (1). Nothing else
 * is rewritten; the name check refuses ".." and every other "." form. */
static int strip_dot(const char **name, mode_t type)
{
	if (!strcmp(*name, ".") || !strcmp(*name, "./"))
		return type == AE_IFDIR ? 1 : 0;
	if (!strncmp(*name, "./", 2) && (*name)[2])
		*name += 2;
	return 0;
}

/* Type, name and size of one header; appends it to the listing. Returns 1,
 * appending nothing, for the archive's root directory entry. */
static int check_entry(struct archive_entry *e, struct tar_list *l, const char *tar_path, struct kerr *err)
{
	const char *name = archive_entry_pathname(e);
	struct tar_entry *t;
	mode_t type = archive_entry_filetype(e);
	size_t n;
	la_int64_t size;

	if (!name)
		return kerr_set(err, "bundle.tar_name", "%s: an entry has no name", tar_path);
	if (type == AE_IFDIR && strip_dot(&name, type) == 1) {
		if (archive_entry_size_is_set(e) && archive_entry_size(e) != 0)
			return kerr_set(err, "bundle.tar_type", "%s: the root directory entry carries data", tar_path);
		return 1;
	}
	strip_dot(&name, type);
	if (archive_entry_hardlink(e))
		return kerr_set(err, "bundle.tar_hardlink", "%s: %.*s is a hard link", tar_path, BUNDLE_NAME_MAX, name);
	if (type == AE_IFLNK || archive_entry_symlink(e))
		return kerr_set(err, "bundle.tar_symlink", "%s: %.*s is a symlink", tar_path, BUNDLE_NAME_MAX, name);
	if ((type != AE_IFREG && type != AE_IFDIR) || archive_entry_sparse_count(e) > 0)
		return kerr_set(err, "bundle.tar_type", "%s: %.*s is not a plain file or directory (type 0%o)",
				tar_path, BUNDLE_NAME_MAX, name, (unsigned)type);
	if (l->n >= TAR_ENTRIES_MAX || (type == AE_IFREG && l->files >= BUNDLE_FILES_MAX))
		return kerr_set(err, "bundle.tar_too_many", "%s: more than %d files or %d entries", tar_path,
				BUNDLE_FILES_MAX, TAR_ENTRIES_MAX);
	t = &l->e[l->n];
	n = strnlen(name, BUNDLE_NAME_MAX + 2);
	if (type == AE_IFDIR && n > 0 && n <= BUNDLE_NAME_MAX + 1 && name[n - 1] == '/')
		n--; /* "checkpoints/" names the directory "checkpoints" */
	if (n > BUNDLE_NAME_MAX)
		return kerr_set(err, "bundle.tar_name", "%s: an entry name is longer than %d bytes", tar_path,
				BUNDLE_NAME_MAX);
	memcpy(t->name, name, n);
	t->name[n] = '\0';
	if (bundle_name_check(t->name, err) < 0) {
		kerr_prefix(err, "%s", tar_path);
		return -1;
	}
	size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
	if (size < 0 || (uint64_t)size > BUNDLE_BYTES_MAX || l->total + (uint64_t)size > BUNDLE_BYTES_MAX)
		return kerr_set(err, "bundle.tar_too_large", "%s: %s declares %lld bytes (limit %llu in all)",
				tar_path, t->name, (long long)size, (unsigned long long)BUNDLE_BYTES_MAX);
	if (type == AE_IFDIR && size != 0)
		return kerr_set(err, "bundle.tar_type", "%s: directory %s carries data", tar_path, t->name);
	t->is_dir = type == AE_IFDIR;
	t->bytes = (uint64_t)size;
	l->total += t->bytes;
	l->files += !t->is_dir;
	l->n++;
	return 0;
}

/* Reads an entry's data and checks it is exactly the declared size. With
 * out >= 0 the bytes are written there, and with h they are hashed in the
 * same pass. */
static int entry_data(struct archive *a, const struct tar_entry *t, int out, struct hash_bulk *h,
		      const char *tar_path, struct kerr *err)
{
	uint64_t got = 0;

	for (;;) {
		const void *buf;
		size_t len;
		la_int64_t off;
		int r = archive_read_data_block(a, &buf, &len, &off);

		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK)
			return tar_fail(a, tar_path, t->name, err);
		if (off < 0 || (uint64_t)off != got)
			return kerr_set(err, "bundle.tar_type", "%s: %s has holes (sparse data)", tar_path, t->name);
		if (len > t->bytes - got)
			return kerr_set(err, "bundle.tar_too_large", "%s: %s has more data than its header says",
					tar_path, t->name);
		if (out >= 0 && fs_write_fd(out, buf, len, t->name, err) < 0)
			return -1;
		if (h)
			hash_bulk_update(h, buf, len);
		got += len;
	}
	if (got != t->bytes)
		return kerr_set(err, "bundle.tar_truncated", "%s: %s has %llu of %llu bytes", tar_path, t->name,
				(unsigned long long)got, (unsigned long long)t->bytes);
	return 0;
}

/* Whether a file entry lies somewhere under directory entry d. */
static int holds_a_file(const struct tar_list *l, const struct tar_entry *d)
{
	size_t n = strlen(d->name);

	for (int j = 0; j < l->n; j++)
		if (!l->e[j].is_dir && !strncmp(l->e[j].name, d->name, n) && l->e[j].name[n] == '/')
			return 1;
	return 0;
}

/* No two entries with one name, no file used as a directory, and no
 * directory without a file under it: a bundle's folders are its files'
 * (a directory copy makes no others), and an empty one named like a held
 * checkpoint would stand where the judge looks for that file. */
static int check_names(const struct tar_list *l, const char *tar_path, struct kerr *err)
{
	for (int i = 0; i < l->n; i++)
		for (int j = 0; j < l->n; j++) {
			const struct tar_entry *a = &l->e[i], *b = &l->e[j];
			size_t n = strlen(a->name);

			if (i < j && !strcmp(a->name, b->name) && !(a->is_dir && b->is_dir))
				return kerr_set(err, "bundle.tar_duplicate", "%s: %s appears twice", tar_path, a->name);
			if (!a->is_dir && i != j && !strncmp(a->name, b->name, n) && b->name[n] == '/')
				return kerr_set(err, "bundle.tar_duplicate", "%s: %s is a file and a directory",
						tar_path, a->name);
		}
	for (int i = 0; i < l->n; i++)
		if (l->e[i].is_dir && !holds_a_file(l, &l->e[i]))
			return kerr_set(err, "bundle.tar_empty_dir",
					"%s: directory %s holds no file (a bundle's folders are those of its files)",
					tar_path, l->e[i].name);
	return 0;
}

static int pass_list(int fd, const char *tar_path, struct tar_list *l, struct kerr *err)
{
	struct archive *a = reader_open(fd, tar_path, err);
	struct archive_entry *e;
	la_int64_t end_data = 0;
	int r, rc = -1;

	if (!a)
		return -1;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		int c;

		if (raw_sparse(fd, archive_read_header_position(a))) {
			kerr_set(err, "bundle.tar_type", "%s: %.*s is a sparse file", tar_path, BUNDLE_NAME_MAX,
				 archive_entry_pathname(e) ? archive_entry_pathname(e) : "an entry");
			goto out;
		}
		if ((c = check_entry(e, l, tar_path, err)) < 0 ||
		    (c == 0 && entry_data(a, &l->e[l->n - 1], -1, NULL, tar_path, err) < 0))
			goto out;
		end_data = archive_filter_bytes(a, 0);
	}
	if (r != ARCHIVE_EOF) {
		tar_fail(a, tar_path, l->n ? "after the last complete entry" : "first header", err);
		goto out;
	}
	/* libarchive takes a clean cut at an entry boundary for the end of the
	 * archive; the end marker (a zero block) tells the two apart. */
	if (archive_filter_bytes(a, 0) < end_data + TAR_HEADER_BYTES) {
		kerr_set(err, "bundle.tar_truncated", "%s: no end-of-archive marker after %d entries", tar_path,
			 l->n);
		goto out;
	}
	rc = check_names(l, tar_path, err);
out:
	archive_read_free(a);
	return rc;
}

/* ---- unpacking: pass 2, extraction ------------------------------------- */

/* mkdir with our mode, not the archive's nor the umask's. */
static int make_dir(const char *path, struct kerr *err)
{
	struct stat sb;

	if (mkdir(path, 0755) < 0) {
		if (errno != EEXIST)
			return kerr_errno(err, "fs.mkdir", path);
		if (lstat(path, &sb) < 0 || !S_ISDIR(sb.st_mode))
			return kerr_set(err, "bundle.tar_duplicate", "%s exists and is not a directory", path);
		return 0;
	}
	if (chmod(path, 0755) < 0)
		return kerr_errno(err, "fs.chmod", path);
	return 0;
}

/* Creates every directory on the way to root/name (name included if dir). */
static int make_parents(const char *root, const char *name, int include_last, struct kerr *err)
{
	char path[FS_PATH_MAX];
	size_t base = strlen(root) + 1;

	if (fs_join(path, sizeof path, err, "%s/%s", root, name) < 0)
		return -1;
	for (size_t i = base; path[i]; i++) {
		if (path[i] != '/')
			continue;
		path[i] = '\0';
		if (make_dir(path, err) < 0)
			return -1;
		path[i] = '/';
	}
	return include_last ? make_dir(path, err) : 0;
}

/* What bundle_take_deferred leaves unhashed: the intermediate checkpoints. */
static int deferrable(const char *name)
{
	return !strncmp(name, "checkpoints/step_", 17);
}

/* Writes one entry under root; hex (NULL: nothing is hashed) receives the
 * SHA-256 of the bytes written. */
static int extract_file(struct archive *a, const char *root, const struct tar_entry *t, const char *tar_path,
			char *hex, struct kerr *err)
{
	char path[FS_PATH_MAX];
	struct hash_bulk h = { NULL };
	uint8_t d[HASH_BYTES];
	int fd, rc = -1;

	if (make_parents(root, t->name, 0, err) < 0 || fs_join(path, sizeof path, err, "%s/%s", root, t->name) < 0)
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return kerr_errno(err, errno == EEXIST ? "bundle.tar_duplicate" : "fs.create", path);
	if (fchmod(fd, 0644) < 0) {
		kerr_errno(err, "fs.chmod", path);
		goto out;
	}
	if ((hex && hash_bulk_begin(&h, err) < 0) || entry_data(a, t, fd, hex ? &h : NULL, tar_path, err) < 0)
		goto out;
	if (fsync(fd) < 0) {
		kerr_errno(err, "fs.fsync", path);
		goto out;
	}
	if (hex) {
		hash_bulk_end(&h, d);
		hash_hex(d, hex);
	}
	rc = 0;
out:
	hash_bulk_drop(&h);
	close(fd);
	return rc;
}

/* hex[i] receives the digest of entry i (directories, and with defer the
 * deferrable entries: unchanged). */
static int pass_extract(int fd, const char *tar_path, const struct tar_list *l, const char *root, int defer,
			char (*hex)[HASH_HEX_BYTES], struct kerr *err)
{
	struct archive *a = reader_open(fd, tar_path, err);
	struct archive_entry *e;
	int i = 0, r, rc = -1;

	if (!a)
		return -1;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		struct tar_list one;
		int c;

		/* The file may have changed since pass 1: the entry must be the same one. */
		one.n = one.files = 0;
		one.total = 0;
		if ((c = check_entry(e, &one, tar_path, err)) == 1 && !raw_sparse(fd, archive_read_header_position(a)))
			continue; /* the root directory, skipped in pass 1 too */
		if (c != 0 || i >= l->n || raw_sparse(fd, archive_read_header_position(a)) ||
		    strcmp(one.e[0].name, l->e[i].name) || one.e[0].is_dir != l->e[i].is_dir ||
		    one.e[0].bytes != l->e[i].bytes) {
			kerr_set(err, "bundle.tar", "%s changed while it was being unpacked", tar_path);
			goto out;
		}
		if (l->e[i].is_dir ? make_parents(root, l->e[i].name, 1, err) < 0
				   : extract_file(a, root, &l->e[i], tar_path,
						  defer && deferrable(l->e[i].name) ? NULL : hex[i], err) < 0)
			goto out;
		i++;
	}
	if (r != ARCHIVE_EOF || i != l->n) {
		kerr_set(err, "bundle.tar", "%s changed while it was being unpacked", tar_path);
		goto out;
	}
	rc = 0;
out:
	archive_read_free(a);
	return rc;
}

/* Unpacks tar_path into dir_out; with t, also lists the copy into t with
 * the digest of every file as it was extracted (with defer, of every file
 * but the deferrable ones, marked unhashed). */
static int unpack(const char *tar_path, const char *dir_out, struct bundle_taken *t, int defer, struct kerr *err)
{
	struct tar_list *l = calloc(1, sizeof *l);
	char (*hex)[HASH_HEX_BYTES] = calloc(TAR_ENTRIES_MAX, HASH_HEX_BYTES);
	struct fs_stage st = { 0 };
	struct stat sb;
	int fd = -1, rc = -1;

	if (!l || !hex) {
		kerr_set(err, "bundle.nomem", "out of memory");
		goto out;
	}
	/* Without blocking: a FIFO given as the bundle is refused, not waited on. */
	if ((fd = fs_open_regular(tar_path, 0, &sb, err)) < 0) {
		snprintf(err->code, sizeof err->code, "%s",
			 !strcmp(err->code, "fs.not_regular") ? "bundle.not_regular"
			 : errno == ENOENT		      ? "bundle.not_found"
							      : "bundle.tar");
		goto out;
	}
	if ((uint64_t)sb.st_size > bundle_tar_bytes_max()) {
		kerr_set(err, "bundle.tar_too_large", "%s: %lld bytes exceeds the bundle limit", tar_path,
			 (long long)sb.st_size);
		goto out;
	}
	if (pass_list(fd, tar_path, l, err) < 0)
		goto out;
	if (fs_stage_begin(&st, dir_out, err) < 0)
		goto out;
	if (chmod(st.tmp, 0755) < 0) {
		kerr_errno(err, "fs.chmod", st.tmp);
		goto out;
	}
	if (pass_extract(fd, tar_path, l, st.tmp, defer, hex, err) < 0 || fs_stage_commit(&st, 0, err) < 0)
		goto out;
	if (t) {
		/* The copy's listing (ours: no byte of it is read again), each
		 * name given the digest its entry had on the way in. */
		if (fs_join(t->dir, sizeof t->dir, err, "%s", dir_out) < 0 || bundle_list(dir_out, &t->f, err) < 0)
			goto out;
		for (int i = 0; i < t->f.n; i++) {
			int j = 0;

			while (j < l->n && (l->e[j].is_dir || strcmp(l->e[j].name, t->f.name[i])))
				j++;
			if (j == l->n) {
				kerr_set(err, "bundle.copy_changed", "%s: %s appeared in the copy", dir_out,
					 t->f.name[i]);
				goto out;
			}
			t->unhashed[i] = defer && deferrable(t->f.name[i]);
			if (!t->unhashed[i])
				memcpy(t->sha256[i], hex[j], HASH_HEX_BYTES);
		}
	}
	rc = 0;
out:
	fs_stage_abort(&st);
	if (fd >= 0)
		close(fd);
	free(hex);
	free(l);
	return rc;
}

int bundle_unpack(const char *tar_path, const char *dir_out, struct kerr *err)
{
	return unpack(tar_path, dir_out, NULL, 0, err);
}

/* ---- taking a bundle: the validator's own copy -------------------------- */

/* A directory, file by file in bundle_list's order: each copied and hashed
 * in one read, counted against what is left of BUNDLE_BYTES_MAX as it is
 * read (a file may grow after the listing). */
static int take_dir(const char *src, const char *dst_dir, int defer, struct bundle_taken *t, struct kerr *err)
{
	struct fs_stage st = { 0 };
	uint64_t total = 0;
	int rc = -1;

	if (bundle_list(src, &t->f, err) < 0)
		return -1;
	total = files_total(&t->f);
	if (total > BUNDLE_BYTES_MAX)
		return kerr_set(err, "bundle.too_large", "%s: %llu bytes exceeds %llu", src,
				(unsigned long long)total, (unsigned long long)BUNDLE_BYTES_MAX);
	if (fs_stage_begin(&st, dst_dir, err) < 0)
		return -1;
	if (chmod(st.tmp, 0755) < 0) {
		kerr_errno(err, "fs.chmod", st.tmp);
		goto out;
	}
	total = 0;
	for (int i = 0; i < t->f.n; i++) {
		char from[FS_PATH_MAX], to[FS_PATH_MAX];

		if (fs_join(from, sizeof from, err, "%s/%s", src, t->f.name[i]) < 0 ||
		    fs_join(to, sizeof to, err, "%s/%s", st.tmp, t->f.name[i]) < 0 ||
		    make_parents(st.tmp, t->f.name[i], 0, err) < 0)
			goto out;
		t->unhashed[i] = defer && deferrable(t->f.name[i]);
		if (fs_copy_file_bounded(from, to, BUNDLE_BYTES_MAX - total, t->unhashed[i] ? NULL : t->sha256[i],
					 &t->f.bytes[i], err) < 0) {
			/* Swapped for a link or a FIFO, or grown, since the listing. */
			if (!strcmp(err->code, "fs.not_regular"))
				snprintf(err->code, sizeof err->code, "bundle.file_type");
			else if (!strcmp(err->code, "fs.too_large"))
				snprintf(err->code, sizeof err->code, "bundle.too_large");
			goto out;
		}
		total += t->f.bytes[i];
	}
	if (fs_stage_commit(&st, 0, err) < 0)
		goto out;
	rc = fs_join(t->dir, sizeof t->dir, err, "%s", dst_dir);
out:
	fs_stage_abort(&st);
	return rc;
}

static int take(const char *src, const char *dst_dir, int defer, struct bundle_taken *t, struct kerr *err)
{
	struct stat sb;

	memset(t, 0, sizeof *t);
	if (stat(src, &sb) < 0)
		return kerr_errno(err, errno == ENOENT ? "bundle.not_found" : "fs.stat", src);
	return S_ISDIR(sb.st_mode) ? take_dir(src, dst_dir, defer, t, err) : unpack(src, dst_dir, t, defer, err);
}

int bundle_take(const char *src, const char *dst_dir, struct bundle_taken *t, struct kerr *err)
{
	return take(src, dst_dir, 0, t, err);
}

int bundle_take_deferred(const char *src, const char *dst_dir, struct bundle_taken *t, struct kerr *err)
{
	return take(src, dst_dir, 1, t, err);
}

/* ---- a bundle as a directory ------------------------------------------- */

int bundle_dir_open(const char *path, struct bundle_dir *d, struct kerr *err)
{
	return bundle_dir_open_at(path, NULL, d, err);
}

int bundle_dir_open_at(const char *path, const char *tmp_base, struct bundle_dir *d, struct kerr *err)
{
	const char *base = tmp_base ? tmp_base : getenv("TMPDIR");
	char dst[FS_PATH_MAX];

	memset(d, 0, sizeof *d);
	if (fs_join(d->tmp, sizeof d->tmp, err, "%s/karpa-bundle-XXXXXX", base && *base ? base : "/tmp") < 0)
		return -1;
	if (!mkdtemp(d->tmp)) {
		kerr_errno(err, "fs.mkdir", d->tmp);
		d->tmp[0] = '\0';
		return -1;
	}
	if (fs_join(dst, sizeof dst, err, "%s/bundle", d->tmp) < 0 || bundle_take(path, dst, &d->t, err) < 0) {
		bundle_dir_close(d);
		return -1;
	}
	return 0;
}

void bundle_dir_close(struct bundle_dir *d)
{
	if (d->tmp[0])
		fs_rm_rf(d->tmp);
	d->tmp[0] = '\0';
}
