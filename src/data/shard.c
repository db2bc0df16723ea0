/* shard.c: llm.c .bin token shards. The header's count is checked against
 * the real file size before anything is allocated or trusted. */
#include "data/shard.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "util/fsutil.h"

static int32_t rd32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return (int32_t)le32toh(v);
}

int shard_parse(const void *buf, size_t len, const uint16_t **tokens, size_t *n, struct kerr *err)
{
	const unsigned char *p = buf;
	int32_t magic, version, count;

	if (len < SHARD_HEADER_BYTES)
		return kerr_set(err, "shard.truncated", "%zu bytes is shorter than the %d-byte header",
				len, SHARD_HEADER_BYTES);
	magic = rd32(p);
	version = rd32(p + 4);
	count = rd32(p + 8);
	if (magic != SHARD_MAGIC)
		return kerr_set(err, "shard.bad_magic", "magic %d, expected %d (not an llm.c token shard)",
				magic, SHARD_MAGIC);
	if (version != SHARD_VERSION)
		return kerr_set(err, "shard.bad_version", "version %d, only version %d (uint16 tokens) is supported",
				version, SHARD_VERSION);
	if (count < 0 || (size_t)count > SHARD_TOKENS_MAX)
		return kerr_set(err, "shard.too_large", "token count %d outside 0..%zu", count,
				SHARD_TOKENS_MAX);
	if (len - SHARD_HEADER_BYTES < (size_t)count * 2)
		return kerr_set(err, "shard.truncated", "header says %d tokens but only %zu bytes follow",
				count, len - SHARD_HEADER_BYTES);
	if (len - SHARD_HEADER_BYTES > (size_t)count * 2)
		return kerr_set(err, "shard.trailing", "%zu bytes after the %d tokens the header declares",
				len - SHARD_HEADER_BYTES - (size_t)count * 2, count);
	*tokens = (const uint16_t *)(p + SHARD_HEADER_BYTES);
	*n = (size_t)count;
	return 0;
}

void shard_copy_tokens(const uint16_t *le, size_t n, uint16_t *out)
{
	for (size_t i = 0; i < n; i++) {
		uint16_t v;
		memcpy(&v, (const char *)le + 2 * i, 2); /* le may be unaligned */
		out[i] = le16toh(v);
	}
}

int shard_write(const char *path, const uint16_t *tokens, size_t n, struct kerr *err)
{
	unsigned char *buf;
	int32_t hdr[SHARD_HEADER_INTS] = { 0 };
	int rc;

	if (n > SHARD_TOKENS_MAX)
		return kerr_set(err, "shard.too_large", "%s: %zu tokens exceeds %zu", path, n,
				SHARD_TOKENS_MAX);
	buf = malloc(SHARD_HEADER_BYTES + n * 2);
	if (!buf)
		return kerr_set(err, "shard.nomem", "%s: out of memory", path);
	hdr[0] = (int32_t)htole32(SHARD_MAGIC);
	hdr[1] = (int32_t)htole32(SHARD_VERSION);
	hdr[2] = (int32_t)htole32((uint32_t)n);
	memcpy(buf, hdr, sizeof hdr);
	for (size_t i = 0; i < n; i++) {
		uint16_t t = htole16(tokens[i]);
		memcpy(buf + SHARD_HEADER_BYTES + 2 * i, &t, 2);
	}
	rc = fs_write_atomic(path, buf, SHARD_HEADER_BYTES + n * 2, err);
	free(buf);
	return rc;
}

int shard_read(const char *path, uint16_t **tokens, size_t *n, struct kerr *err)
{
	char *buf = NULL;
	size_t len;
	const uint16_t *t;
	int rc = -1;

	*tokens = NULL;
	if (fs_read_all(path, SHARD_HEADER_BYTES + SHARD_TOKENS_MAX * 2, &buf, &len, err) < 0)
		return -1;
	if (shard_parse(buf, len, &t, n, err) < 0) {
		kerr_prefix(err, "%s", path);
		goto out;
	}
	*tokens = malloc(*n * 2 + 2);
	if (!*tokens) {
		kerr_set(err, "shard.nomem", "%s: out of memory", path);
		goto out;
	}
	shard_copy_tokens(t, *n, *tokens);
	rc = 0;
out:
	free(buf);
	return rc;
}
