/* keys.c: Ed25519 identities on disk (libsodium). Owns the key file format
 * (KEYS_MAGIC line, public key hex, 32-byte seed hex), the rule that a key
 * file is 0600 and never overwritten, and detached signatures. Never leaves
 * secret bytes in a buffer it does not wipe, and never prints them. */
#include "proof/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fsutil.h"
#include "util/hash.h"

#define KEYS_MAGIC "karpa-ed25519-v1"
#define KEYS_SEED_BYTES 32
/* magic + 64 + 64 hex digits + three newlines is 147 bytes; anything far
 * larger is not a key file, and a fixed bound keeps secrets on the stack. */
#define KEYS_FILE_BYTES_MAX 512

_Static_assert(KEYS_SEED_BYTES == crypto_sign_SEEDBYTES, "seed size");
_Static_assert(KEYS_PK_BYTES == crypto_sign_PUBLICKEYBYTES, "public key size");
_Static_assert(KEYS_SK_BYTES == crypto_sign_SECRETKEYBYTES, "secret key size");
_Static_assert(KEYS_SIG_BYTES == crypto_sign_BYTES, "signature size");

/* ---------------------------------------------------------------- hex */

void keys_hex_encode(const uint8_t *in, size_t n, char *out)
{
	sodium_bin2hex(out, 2 * n + 1, in, n);
}

/* Lowercase only: one spelling per value, so a digest or key written in
 * hex compares equal as text wherever it appears. */
int keys_hex_decode(const char *hex, uint8_t *out, size_t n)
{
	size_t bin_len = 0;
	const char *end = NULL;

	if (!hash_is_hex(hex, 2 * n))
		return -1;
	if (sodium_hex2bin(out, n, hex, 2 * n, NULL, &bin_len, &end) != 0 || bin_len != n)
		return -1;
	return 0;
}

/* ---------------------------------------------------------------- files */

static void fill_from_seed(struct keys *k, const uint8_t seed[KEYS_SEED_BYTES])
{
	crypto_sign_seed_keypair(k->pk, k->sk, seed);
	keys_hex_encode(k->pk, KEYS_PK_BYTES, k->pk_hex);
}

/* Writes the file through fs_atomic (a private 0600 temporary, fsynced, then
 * link()ed to the final name: link fails with EEXIST instead of replacing,
 * so an existing identity is never overwritten, and the final name only
 * ever shows a complete file). */
int keys_generate(const char *path, struct keys *k, struct kerr *err)
{
	char text[KEYS_FILE_BYTES_MAX];
	char seed_hex[2 * KEYS_SEED_BYTES + 1];
	uint8_t seed[KEYS_SEED_BYTES];
	struct fs_atomic a = { 0 };
	int rc = -1, n;

	memset(k, 0, sizeof *k);
	if (sodium_init() < 0)
		return kerr_set(err, "keys.sodium", "libsodium failed to initialise");
	if (fs_exists(path))
		return kerr_set(err, "keys.exists", "%s: a key file already exists; refusing to overwrite it", path);

	randombytes_buf(seed, sizeof seed);
	fill_from_seed(k, seed);
	keys_hex_encode(seed, sizeof seed, seed_hex);
	n = snprintf(text, sizeof text, "%s\n%s\n%s\n", KEYS_MAGIC, k->pk_hex, seed_hex);

	/* 0600 from the first byte; FS_ATOMIC_NO_REPLACE commits by link(), so
	 * an identity that appeared meanwhile is never overwritten. */
	if (fs_atomic_open(&a, path, 0600, FS_ATOMIC_NO_REPLACE, err) < 0) {
		char why[KERR_MSG_MAX];
		snprintf(why, sizeof why, "%s", err->msg);
		kerr_set(err, "keys.create", "%s: cannot create the key file: %s", path, why);
		goto out;
	}
	/* Unbuffered: the seed goes straight to the file and never sits in a
	 * stdio buffer that is freed without being wiped. */
	setvbuf(fs_atomic_stream(&a), NULL, _IONBF, 0);
	if (fs_atomic_write(&a, text, (size_t)n, err) < 0)
		goto out;
	if (fs_atomic_commit(&a, err) < 0) {
		if (!strcmp(err->code, "fs.exists"))
			kerr_set(err, "keys.exists", "%s: a key file already exists; refusing to overwrite it", path);
		goto out;
	}
	rc = 0;
out:
	fs_atomic_abort(&a);
	sodium_memzero(text, sizeof text);
	sodium_memzero(seed_hex, sizeof seed_hex);
	sodium_memzero(seed, sizeof seed);
	if (rc < 0)
		keys_wipe(k);
	return rc;
}

/* Reads the whole (small) file into buf; the caller wipes buf. */
static int read_key_file(const char *path, char *buf, size_t cap, size_t *len, struct kerr *err)
{
	struct stat sb;
	size_t got = 0;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return kerr_set(err, "keys.missing", "%s: no key file (create one with `karpa keygen --out %s`)",
					path, path);
		return kerr_errno(err, "keys.open", path);
	}
	if (fstat(fd, &sb) < 0) {
		kerr_errno(err, "keys.open", path);
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		kerr_set(err, "keys.parse", "%s: not a regular file", path);
		goto out;
	}
	/* Any group or other bit: a secret others could read (or replace) is
	 * not an identity. */
	if (sb.st_mode & 077) {
		kerr_set(err, "keys.bad_permissions", "%s: mode %04o lets others access the secret key; run `chmod 600 %s`",
			 path, (unsigned)(sb.st_mode & 07777), path);
		goto out;
	}
	while (got < cap) {
		ssize_t r = read(fd, buf + got, cap - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			kerr_errno(err, "keys.open", path);
			goto out;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	if (got == cap) {
		kerr_set(err, "keys.parse", "%s: larger than %d bytes, not a key file", path, KEYS_FILE_BYTES_MAX - 1);
		goto out;
	}
	buf[got] = '\0';
	*len = got;
	rc = 0;
out:
	close(fd);
	return rc;
}

/* Splits "magic\npk\nseed\n" (final newline optional) in place. */
static int split_lines(char *buf, size_t len, char *line[3])
{
	size_t start = 0;
	int n = 0;

	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	for (size_t i = 0; i <= len; i++) {
		if (i < len && buf[i] != '\n')
			continue;
		if (n == 3)
			return -1;
		buf[i] = '\0';
		line[n++] = buf + start;
		start = i + 1;
	}
	return n == 3 ? 0 : -1;
}

int keys_load(const char *path, struct keys *k, struct kerr *err)
{
	char buf[KEYS_FILE_BYTES_MAX];
	char *line[3];
	uint8_t seed[KEYS_SEED_BYTES], pk[KEYS_PK_BYTES];
	size_t len = 0;
	int rc = -1;

	memset(k, 0, sizeof *k);
	if (read_key_file(path, buf, sizeof buf, &len, err) < 0)
		goto out;
	if (split_lines(buf, len, line) < 0) {
		kerr_set(err, "keys.parse", "%s: expected three lines (format, public key, secret seed)", path);
		goto out;
	}
	if (strcmp(line[0], KEYS_MAGIC) != 0) {
		kerr_set(err, "keys.parse", "%s: first line is not \"%s\"", path, KEYS_MAGIC);
		goto out;
	}
	if (keys_hex_decode(line[1], pk, sizeof pk) < 0) {
		kerr_set(err, "keys.parse", "%s: line 2 is not a 64-digit lowercase hex public key", path);
		goto out;
	}
	if (keys_hex_decode(line[2], seed, sizeof seed) < 0) {
		kerr_set(err, "keys.parse", "%s: line 3 is not a 64-digit lowercase hex secret seed", path);
		goto out;
	}
	fill_from_seed(k, seed);
	if (sodium_memcmp(k->pk, pk, sizeof pk) != 0) {
		kerr_set(err, "keys.mismatch", "%s: the public key on line 2 does not belong to the secret seed", path);
		goto out;
	}
	rc = 0;
out:
	sodium_memzero(buf, sizeof buf);
	sodium_memzero(seed, sizeof seed);
	if (rc < 0)
		keys_wipe(k);
	return rc;
}

void keys_wipe(struct keys *k)
{
	if (k)
		sodium_memzero(k, sizeof *k);
}

/* ---------------------------------------------------------------- signatures */

int keys_sign(const struct keys *k, const void *msg, size_t n, uint8_t sig[KEYS_SIG_BYTES])
{
	return crypto_sign_detached(sig, NULL, msg, n, k->sk) == 0 ? 0 : -1;
}

int keys_verify(const uint8_t pk[KEYS_PK_BYTES], const void *msg, size_t n, const uint8_t sig[KEYS_SIG_BYTES],
		struct kerr *err)
{
	char hex[KEYS_PK_HEX_BYTES];

	if (crypto_sign_verify_detached(sig, msg, n, pk) == 0)
		return 0;
	keys_hex_encode(pk, KEYS_PK_BYTES, hex);
	return kerr_set(err, "keys.bad_signature", "signature is not by key %.16s... over these %zu bytes", hex, n);
}
