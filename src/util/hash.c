/* hash.c: SHA-256 through libsodium, and through OpenSSL for bulk data. The
 * state buffer in hash.h is sized for crypto_hash_sha256_state; a static
 * assert keeps that honest. */
#include "util/hash.h"
#include "util/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdio.h>
#include <unistd.h>

_Static_assert(sizeof(crypto_hash_sha256_state) <= sizeof(((struct hash_ctx *)0)->state),
	       "hash_ctx too small for libsodium's sha256 state");

int hash_init_lib(void)
{
	return sodium_init() < 0 ? -1 : 0;
}

void hash_begin(struct hash_ctx *c)
{
	crypto_hash_sha256_init((crypto_hash_sha256_state *)c->state);
}

void hash_update(struct hash_ctx *c, const void *p, size_t n)
{
	crypto_hash_sha256_update((crypto_hash_sha256_state *)c->state, p, n);
}

void hash_end(struct hash_ctx *c, uint8_t out[HASH_BYTES])
{
	crypto_hash_sha256_final((crypto_hash_sha256_state *)c->state, out);
}

void hash_buf(const void *p, size_t n, uint8_t out[HASH_BYTES])
{
	crypto_hash_sha256(out, p, n);
}

void hash_hex(const uint8_t d[HASH_BYTES], char out[HASH_HEX_BYTES])
{
	static const char hx[] = "0123456789abcdef";

	for (int i = 0; i < HASH_BYTES; i++) {
		out[2 * i] = hx[d[i] >> 4];
		out[2 * i + 1] = hx[d[i] & 15];
	}
	out[64] = '\0';
}

void hash_buf_hex(const void *p, size_t n, char out[HASH_HEX_BYTES])
{
	uint8_t d[HASH_BYTES];

	hash_buf(p, n, d);
	hash_hex(d, out);
}

int hash_bulk_begin(struct hash_bulk *b, struct kerr *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	b->md = NULL;
	if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		return kerr_set(err, "hash.nomem", "out of memory for a SHA-256 context");
	}
	b->md = md;
	return 0;
}

void hash_bulk_update(struct hash_bulk *b, const void *p, size_t n)
{
	/* SHA-256's update cannot fail on a context that initialised */
	(void)EVP_DigestUpdate(b->md, p, n);
}

void hash_bulk_end(struct hash_bulk *b, uint8_t out[HASH_BYTES])
{
	unsigned int n = HASH_BYTES;

	(void)EVP_DigestFinal_ex(b->md, out, &n);
	hash_bulk_drop(b);
}

int hash_bulk_copy(struct hash_bulk *dst, const struct hash_bulk *src, struct kerr *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	dst->md = NULL;
	if (!md || EVP_MD_CTX_copy_ex(md, src->md) != 1) {
		EVP_MD_CTX_free(md);
		return kerr_set(err, "hash.nomem", "out of memory for a SHA-256 context");
	}
	dst->md = md;
	return 0;
}

void hash_bulk_drop(struct hash_bulk *b)
{
	EVP_MD_CTX_free(b->md);
	b->md = NULL;
}

int hash_file_hex(const char *path, char out[HASH_HEX_BYTES], uint64_t *bytes, struct kerr *err)
{
	struct hash_bulk c;
	uint8_t d[HASH_BYTES];
	unsigned char buf[1 << 16];
	uint64_t total = 0;
	/* Regular files only, opened without blocking: a FIFO put where a file
	 * was listed would hold the caller forever. */
	int fd = fs_open_regular(path, 0, NULL, err);

	if (fd < 0)
		return -1;
	if (hash_bulk_begin(&c, err) < 0) {
		close(fd);
		return -1;
	}
	for (;;) {
		ssize_t r = read(fd, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			close(fd);
			hash_bulk_drop(&c);
			return kerr_errno(err, "fs.read", path);
		}
		if (r == 0)
			break;
		hash_bulk_update(&c, buf, (size_t)r);
		total += (uint64_t)r;
	}
	close(fd);
	hash_bulk_end(&c, d);
	hash_hex(d, out);
	if (bytes)
		*bytes = total;
	return 0;
}

int hash_is_hex(const char *s, size_t n)
{
	if (!s)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0; /* a NUL before n ends here too */
	return s[n] == '\0';
}
