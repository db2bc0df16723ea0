/* checkpoint.c: the container's writer and its verifying reader. Checks run
 * in the order that gives the most useful reason: framing and declared sizes
 * against the real file size first (nothing is allocated from an unchecked
 * length), then the digest over every byte, then the header's meaning. */
#include "harness/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fsutil.h"
#include "util/jsonmem.h"

#define CKPT_PREFIX_BYTES (CKPT_MAGIC_BYTES + 4) /* magic + le32 header length */
/* Seeds travel as JSON integers; above 2^53 common JSON readers lose digits. */
#define CKPT_SEED_MAX ((uint64_t)1 << 53)
#define CKPT_IO_CHUNK ((size_t)1 << 20)

static char *header_json(const struct ckpt_meta *m, struct kerr *err)
{
	unsigned long jm;
	json_t *o;
	char *s = NULL;

	if (m->seed >= CKPT_SEED_MAX || m->state_bytes > CKPT_STATE_BYTES_MAX) {
		kerr_set(err, "ckpt.bad_header", "seed or state_bytes out of range");
		return NULL;
	}
	jm = jsonmem_begin();
	o = json_pack("{s:i, s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:i, s:I}", "format", m->format,
		      "recipe", m->recipe, "recipe_version", m->recipe_version, "scale", m->scale,
		      "step", (json_int_t)m->step, "seed", (json_int_t)m->seed, "data", m->data_digest,
		      "tokenizer", m->tokenizer_digest, "vocab_size", m->vocab_size, "state_bytes",
		      (json_int_t)m->state_bytes);
	if (jsonmem_failed(jm))
		kerr_set(err, "ckpt.nomem", "out of memory encoding the header");
	else if (!o)
		kerr_set(err, "ckpt.bad_header", "cannot encode the header (invalid UTF-8 in a name?)");
	else if (!(s = jsonmem_dumps(o, JSON_COMPACT | JSON_SORT_KEYS, "ckpt.nomem", err)))
		kerr_prefix(err, "header");
	json_decref(o);
	return s;
}

static int copy_str(char *dst, size_t cap, const char *src, const char *field, struct kerr *err)
{
	if (strlen(src) >= cap)
		return kerr_set(err, "ckpt.bad_header", "header field %s longer than %zu bytes", field,
				cap - 1);
	memcpy(dst, src, strlen(src) + 1);
	return 0;
}

static int parse_header(const char *buf, size_t len, struct ckpt_meta *m, struct kerr *err)
{
	json_error_t je;
	json_t *o;
	const char *recipe, *version, *scale, *data, *tok;
	json_int_t format, step, seed, vocab, state;
	unsigned long jm;
	int rc = -1;

	memset(m, 0, sizeof *m);
	jm = jsonmem_begin();
	if (jsonmem_loadb(buf, len, &o, &je, "ckpt.nomem", err) < 0) {
		kerr_prefix(err, "header");
		return -1;
	}
	if (!o)
		return kerr_set(err, "ckpt.bad_header", "header is not JSON: %s", je.text);
	if (json_unpack_ex(o, &je, JSON_STRICT, "{s:I, s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:I, s:I}",
			   "format", &format, "recipe", &recipe, "recipe_version", &version, "scale",
			   &scale, "step", &step, "seed", &seed, "data", &data, "tokenizer", &tok,
			   "vocab_size", &vocab, "state_bytes", &state) < 0) {
		if (jsonmem_failed(jm)) /* the strict check's key table, short of memory */
			kerr_set(err, "ckpt.nomem", "out of memory reading the header");
		else
			kerr_set(err, "ckpt.bad_header", "header fields: %s", je.text);
		goto out;
	}
	if (format != CKPT_FORMAT) {
		kerr_set(err, "ckpt.bad_format", "container format %lld, this harness reads %d",
			 (long long)format, CKPT_FORMAT);
		goto out;
	}
	if (step < 0 || seed < 0 || (uint64_t)seed >= CKPT_SEED_MAX || vocab <= 0 || vocab > 65536 ||
	    state <= 0 || (uint64_t)state > CKPT_STATE_BYTES_MAX) {
		kerr_set(err, "ckpt.bad_header", "step, seed, vocab_size or state_bytes out of range");
		goto out;
	}
	if (copy_str(m->recipe, sizeof m->recipe, recipe, "recipe", err) < 0 ||
	    copy_str(m->recipe_version, sizeof m->recipe_version, version, "recipe_version", err) < 0 ||
	    copy_str(m->scale, sizeof m->scale, scale, "scale", err) < 0 ||
	    copy_str(m->data_digest, sizeof m->data_digest, data, "data", err) < 0 ||
	    copy_str(m->tokenizer_digest, sizeof m->tokenizer_digest, tok, "tokenizer", err) < 0)
		goto out;
	m->format = (int)format;
	m->step = step;
	m->seed = (uint64_t)seed;
	m->vocab_size = (int)vocab;
	m->state_bytes = (uint64_t)state;
	rc = 0;
out:
	json_decref(o);
	return rc;
}

/* One part of the container: hashed, and written when there is a file
 * (a is NULL for ckpt_digest). */
static int emit_part(struct fs_atomic *a, struct hash_bulk *c, const void *p, size_t n, struct kerr *err)
{
	hash_bulk_update(c, p, n);
	return a ? fs_atomic_write(a, p, n, err) : 0;
}

/* The two digests of a container whose contents before the trailer went
 * into body: d, the trailer's (body's own), and whole, the file's with the
 * trailer t (NULL: d itself, as when writing). One pass over the state,
 * which at the GPU scales is GBs (docs/gpu.md): the file's digest
 * continues a copy of the body's context. body is ended here. */
static int end_digests(struct hash_bulk *body, const uint8_t *t, uint8_t d[HASH_BYTES], uint8_t whole[HASH_BYTES],
		       struct kerr *err)
{
	struct hash_bulk file;

	if (hash_bulk_copy(&file, body, err) < 0) {
		hash_bulk_drop(body);
		return -1;
	}
	hash_bulk_end(body, d);
	hash_bulk_update(&file, t ? t : d, HASH_BYTES);
	hash_bulk_end(&file, whole);
	return 0;
}

/* The container of (m, state) in one pass: written to path (atomically)
 * when there is one, and its whole-file digest either way. ckpt_write and
 * ckpt_digest are both this function, so a digest made without a file is
 * the digest of the file ckpt_write would have written. */
static int container(const char *path, const struct ckpt_meta *m, const void *state, size_t n,
		     char sha256_hex[HASH_HEX_BYTES], struct kerr *err)
{
	char *hdr = NULL;
	uint8_t prefix[CKPT_PREFIX_BYTES], d[HASH_BYTES], whole[HASH_BYTES];
	struct hash_bulk body = { NULL };
	struct fs_atomic a = { 0 }, *file = path ? &a : NULL;
	size_t hlen;
	int rc = -1;

	if (n != m->state_bytes) {
		kerr_set(err, "ckpt.bad_header", "%s: state is %zu bytes, header says %llu", path ? path : "checkpoint",
			 n, (unsigned long long)m->state_bytes);
		return -1;
	}
	if (!(hdr = header_json(m, err)))
		return -1;
	hlen = strlen(hdr);
	memcpy(prefix, CKPT_MAGIC, CKPT_MAGIC_BYTES);
	for (int i = 0; i < 4; i++)
		prefix[CKPT_MAGIC_BYTES + i] = (uint8_t)(hlen >> (8 * i));
	if ((file && fs_atomic_open(file, path, 0644, 0, err) < 0) || hash_bulk_begin(&body, err) < 0)
		goto out;
	if (emit_part(file, &body, prefix, sizeof prefix, err) < 0 || emit_part(file, &body, hdr, hlen, err) < 0 ||
	    emit_part(file, &body, state, n, err) < 0 || end_digests(&body, NULL, d, whole, err) < 0)
		goto out;
	if (file && (fs_atomic_write(file, d, sizeof d, err) < 0 || fs_atomic_commit(file, err) < 0))
		goto out;
	if (sha256_hex)
		hash_hex(whole, sha256_hex);
	rc = 0;
out:
	hash_bulk_drop(&body);
	fs_atomic_abort(&a);
	free(hdr);
	return rc;
}

int ckpt_write(const char *path, const struct ckpt_meta *m, const void *state, size_t n,
	       char sha256_hex[HASH_HEX_BYTES], struct kerr *err)
{
	return container(path, m, state, n, sha256_hex, err);
}

int ckpt_digest(const struct ckpt_meta *m, const void *state, size_t n, char sha256_hex[HASH_HEX_BYTES],
		struct kerr *err)
{
	return container(NULL, m, state, n, sha256_hex, err);
}

static int read_exact(int fd, void *buf, size_t n, const char *path, struct kerr *err)
{
	char *p = buf;

	while (n > 0) {
		ssize_t r = read(fd, p, n > CKPT_IO_CHUNK ? CKPT_IO_CHUNK : n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return kerr_errno(err, "fs.read", path);
		if (r == 0)
			return kerr_set(err, "ckpt.truncated", "%s: file shrank while reading", path);
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Checks framing against the file size; leaves the header text in *hdr. */
static int read_frame(int fd, const char *path, uint64_t fsize, char **hdr, uint32_t *hlen,
		      struct kerr *err)
{
	uint8_t prefix[CKPT_PREFIX_BYTES];

	if (fsize < CKPT_PREFIX_BYTES + HASH_BYTES)
		return kerr_set(err, fsize >= CKPT_MAGIC_BYTES ? "ckpt.truncated" : "ckpt.bad_magic",
				"%s: %llu bytes is too short for a checkpoint", path,
				(unsigned long long)fsize);
	if (read_exact(fd, prefix, sizeof prefix, path, err) < 0)
		return -1;
	if (memcmp(prefix, CKPT_MAGIC, CKPT_MAGIC_BYTES) != 0)
		return kerr_set(err, "ckpt.bad_magic", "%s: not a karpa checkpoint (magic is not %s)",
				path, CKPT_MAGIC);
	*hlen = 0;
	for (int i = 0; i < 4; i++)
		*hlen |= (uint32_t)prefix[CKPT_MAGIC_BYTES + i] << (8 * i);
	if (*hlen == 0 || *hlen > CKPT_HEADER_BYTES_MAX)
		return kerr_set(err, "ckpt.bad_header", "%s: header length %u outside 1..%d", path,
				*hlen, CKPT_HEADER_BYTES_MAX);
	if ((uint64_t)CKPT_PREFIX_BYTES + *hlen + HASH_BYTES > fsize)
		return kerr_set(err, "ckpt.truncated", "%s: header length %u runs past the end of the file",
				path, *hlen);
	if (!(*hdr = malloc(*hlen)))
		return kerr_set(err, "ckpt.nomem", "%s: out of memory", path);
	return read_exact(fd, *hdr, *hlen, path, err);
}

/* d: SHA-256 of everything before the trailer (what the trailer must hold);
 * whole: SHA-256 of the file including the trailer (what the log records). */
static int digests(const char *hdr, uint32_t hlen, const uint8_t *state, size_t n, const uint8_t stored[HASH_BYTES],
		   uint8_t d[HASH_BYTES], uint8_t whole[HASH_BYTES], struct kerr *err)
{
	struct hash_bulk body;
	uint8_t prefix[CKPT_PREFIX_BYTES];

	memcpy(prefix, CKPT_MAGIC, CKPT_MAGIC_BYTES);
	for (int i = 0; i < 4; i++)
		prefix[CKPT_MAGIC_BYTES + i] = (uint8_t)(hlen >> (8 * i));
	if (hash_bulk_begin(&body, err) < 0)
		return -1;
	hash_bulk_update(&body, prefix, sizeof prefix);
	hash_bulk_update(&body, hdr, hlen);
	hash_bulk_update(&body, state, n);
	return end_digests(&body, stored, d, whole, err);
}

/* What a read checks: the whole container (hashing it), everything but the
 * digests (the caller knows the file's), or the frame and header only. */
enum read_mode { READ_VERIFY, READ_KNOWN, READ_HEADER };

static int read_container(const char *path, enum read_mode mode, struct ckpt_meta *m, void **state, size_t *n,
			  char sha256_hex[HASH_HEX_BYTES], struct kerr *err)
{
	struct kerr perr;
	struct stat sb;
	uint8_t d[HASH_BYTES], stored[HASH_BYTES], whole[HASH_BYTES];
	char *hdr = NULL;
	uint8_t *buf = NULL;
	uint32_t hlen = 0;
	uint64_t fsize, avail;
	int fd, rc = -1, parsed;

	if (state)
		*state = NULL;
	if (n)
		*n = 0;
	fd = fs_open_regular(path, 0, &sb, err);
	if (fd < 0)
		return -1;
	fsize = (uint64_t)sb.st_size;
	if (read_frame(fd, path, fsize, &hdr, &hlen, err) < 0)
		goto out;
	avail = fsize - CKPT_PREFIX_BYTES - hlen - HASH_BYTES;
	/* A header that does not parse may be a flipped byte: let the digest
	 * speak first. One that parses gives the size to hold the file to. */
	parsed = parse_header(hdr, hlen, m, &perr) == 0;
	if (parsed && m->state_bytes > avail) {
		kerr_set(err, "ckpt.truncated", "%s: header declares %llu state bytes, file holds %llu",
			 path, (unsigned long long)m->state_bytes, (unsigned long long)avail);
		goto out;
	}
	if (parsed && m->state_bytes < avail) {
		kerr_set(err, "ckpt.bad_size", "%s: %llu bytes after the declared end of the state",
			 path, (unsigned long long)(avail - m->state_bytes));
		goto out;
	}
	if (avail > CKPT_STATE_BYTES_MAX) {
		kerr_set(err, "ckpt.too_large", "%s: state of %llu bytes exceeds the limit of %llu", path,
			 (unsigned long long)avail, (unsigned long long)CKPT_STATE_BYTES_MAX);
		goto out;
	}
	if (mode != READ_VERIFY && !parsed) {
		*err = perr;
		kerr_prefix(err, "%s", path);
		goto out;
	}
	if (mode == READ_HEADER) {
		rc = 0;
		goto out;
	}
	if (!(buf = malloc(avail ? (size_t)avail : 1))) {
		kerr_set(err, "ckpt.nomem", "%s: out of memory for %llu state bytes", path,
			 (unsigned long long)avail);
		goto out;
	}
	if (read_exact(fd, buf, (size_t)avail, path, err) < 0 ||
	    read_exact(fd, stored, sizeof stored, path, err) < 0)
		goto out;
	if (mode == READ_VERIFY && digests(hdr, hlen, buf, (size_t)avail, stored, d, whole, err) < 0)
		goto out;
	if (mode == READ_VERIFY && memcmp(d, stored, HASH_BYTES) != 0) {
		kerr_set(err, "ckpt.digest_mismatch", "%s: SHA-256 trailer does not match the contents",
			 path);
		goto out;
	}
	if (!parsed) {
		*err = perr;
		kerr_prefix(err, "%s", path);
		goto out;
	}
	if (sha256_hex && mode == READ_VERIFY)
		hash_hex(whole, sha256_hex);
	*state = buf;
	*n = (size_t)avail;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	free(hdr);
	close(fd);
	return rc;
}

int ckpt_read(const char *path, struct ckpt_meta *m, void **state, size_t *n, char sha256_hex[HASH_HEX_BYTES],
	      struct kerr *err)
{
	return read_container(path, READ_VERIFY, m, state, n, sha256_hex, err);
}

int ckpt_read_known(const char *path, struct ckpt_meta *m, void **state, size_t *n, struct kerr *err)
{
	return read_container(path, READ_KNOWN, m, state, n, NULL, err);
}

int ckpt_read_header(const char *path, struct ckpt_meta *m, struct kerr *err)
{
	return read_container(path, READ_HEADER, m, NULL, NULL, NULL, err);
}

int ckpt_check(const struct ckpt_meta *m, const struct kr_plan *plan, int vocab_size,
	       const char *tokenizer_digest, struct kerr *err)
{
	if (strcmp(m->recipe, plan->name) != 0 || strcmp(m->recipe_version, plan->version) != 0)
		return kerr_set(err, "ckpt.recipe_mismatch",
				"checkpoint is from recipe %s %s, the running recipe is %s %s", m->recipe,
				m->recipe_version, plan->name, plan->version);
	if (m->vocab_size != vocab_size)
		return kerr_set(err, "ckpt.data_mismatch",
				"checkpoint vocab_size %d, the data's tokenizer has %d", m->vocab_size,
				vocab_size);
	if (strcmp(m->tokenizer_digest, tokenizer_digest) != 0)
		return kerr_set(err, "ckpt.data_mismatch",
				"checkpoint tokenizer %.12s..., the data's tokenizer is %.12s...",
				m->tokenizer_digest, tokenizer_digest);
	return 0;
}
