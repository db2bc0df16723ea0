/* chainkey.c: chain keys on disk and in memory. The file is four lines of
 * text (docs/chain-keys.md):
 *   karpa-chain-key-v1
 *   scheme sr25519|ed25519
 *   public <64 lowercase hex>
 *   seed <64 lowercase hex>
 * The public key is redundant on purpose: a load that derives another one
 * names the file as damaged instead of signing with a stranger's key. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "chain/chainkey.h"
#include "proof/keys.h"
#include "util/fsutil.h"

#define CHAIN_KEY_MAGIC "karpa-chain-key-v1"
/* The four lines are under 200 bytes; a fixed bound keeps the secret on the stack. */
#define CHAIN_KEY_FILE_BYTES_MAX 512
#define CHAIN_KEY_LINES 4

_Static_assert(CHAIN_KEY_SEED_BYTES == crypto_sign_SEEDBYTES, "ed25519 seed size");
_Static_assert(CHAIN_KEY_SEED_BYTES == SR25519_SEED_BYTES, "sr25519 seed size");

const char *chain_scheme_name(enum chain_scheme scheme)
{
	switch (scheme) {
	case CHAIN_SCHEME_ED25519: return "ed25519";
	case CHAIN_SCHEME_SR25519: return "sr25519";
	}
	return NULL;
}

int chain_scheme_parse(const char *name, enum chain_scheme *out, struct kerr *err)
{
	if (name && !strcmp(name, "sr25519"))
		*out = CHAIN_SCHEME_SR25519;
	else if (name && !strcmp(name, "ed25519"))
		*out = CHAIN_SCHEME_ED25519;
	else
		return kerr_set(err, "chainkey.bad_scheme", "unknown key scheme \"%.32s\" (want sr25519 or ed25519)",
				name ? name : "");
	return 0;
}

int chain_key_from_seed(enum chain_scheme scheme, const uint8_t seed[CHAIN_KEY_SEED_BYTES], struct chain_key *k,
			struct kerr *err)
{
	memset(k, 0, sizeof *k);
	if (sodium_init() < 0)
		return kerr_set(err, "chainkey.sodium", "libsodium failed to initialise");
	k->scheme = scheme;
	memcpy(k->seed, seed, CHAIN_KEY_SEED_BYTES);
	switch (scheme) {
	case CHAIN_SCHEME_SR25519:
		sr25519_from_seed(seed, &k->sr, k->pub);
		return 0;
	case CHAIN_SCHEME_ED25519:
		crypto_sign_seed_keypair(k->pub, k->ed_sk, seed);
		return 0;
	}
	chain_key_wipe(k);
	return kerr_set(err, "chainkey.bad_scheme", "unknown key scheme %d", (int)scheme);
}

/* ---------------------------------------------------------------- the file */

int chain_key_save(const char *path, const struct chain_key *k, struct kerr *err)
{
	char text[CHAIN_KEY_FILE_BYTES_MAX], pub_hex[2 * CHAIN_KEY_PUB_BYTES + 1], seed_hex[2 * CHAIN_KEY_SEED_BYTES + 1];
	const char *scheme = chain_scheme_name(k->scheme);
	struct fs_atomic a = { 0 };
	int rc = -1, n;

	if (!scheme)
		return kerr_set(err, "chainkey.bad_scheme", "%s: the key has no scheme", path);
	keys_hex_encode(k->pub, sizeof k->pub, pub_hex);
	keys_hex_encode(k->seed, sizeof k->seed, seed_hex);
	n = snprintf(text, sizeof text, "%s\nscheme %s\npublic %s\nseed %s\n", CHAIN_KEY_MAGIC, scheme, pub_hex, seed_hex);
	if (fs_atomic_open(&a, path, 0600, FS_ATOMIC_NO_REPLACE, err) < 0) {
		kerr_prefix(err, "%s: cannot create the key file", path);
		snprintf(err->code, sizeof err->code, "%s", "chainkey.create");
		goto out;
	}
	/* Unbuffered: the seed never sits in a stdio buffer freed unwiped.
	 * NO_REPLACE commits by link(): a key that appeared meanwhile stays. */
	setvbuf(fs_atomic_stream(&a), NULL, _IONBF, 0);
	if (fs_atomic_write(&a, text, (size_t)n, err) == 0 && fs_atomic_commit(&a, err) == 0)
		rc = 0;
	else if (!strcmp(err->code, "fs.exists"))
		kerr_set(err, "chainkey.exists", "%s: a file is already there; refusing to overwrite a key", path);
out:
	fs_atomic_abort(&a);
	sodium_memzero(text, sizeof text);
	sodium_memzero(seed_hex, sizeof seed_hex);
	return rc;
}

/* Reads the small file into buf (NUL-terminated); the caller wipes buf. */
static int read_small(const char *path, char *buf, size_t cap, struct kerr *err)
{
	struct stat sb;
	ssize_t r;
	int fd, rc = -1;

	fd = fs_open_regular(path, O_NOFOLLOW, &sb, err);
	if (fd < 0) {
		if (!strcmp(err->code, "fs.not_regular"))
			return kerr_set(err, "chainkey.open", "%s: not a regular file (symlinks are refused)", path);
		if (errno == ENOENT)
			return kerr_set(err, "chainkey.missing", "%s: no key file (create one with `karpa chain keys import`)",
					path);
		return kerr_errno(err, "chainkey.open", path);
	}
	/* Any group or other bit: a secret others could read is not a key.
	 * Then one read: a regular file gives all it has up to cap, so a full
	 * buffer means a file too large to be a key. */
	if (sb.st_mode & 077) {
		kerr_set(err, "chainkey.bad_permissions", "%s: mode %04o lets others access the secret; run `chmod 600 %s`",
			 path, (unsigned)(sb.st_mode & 07777), path);
	} else {
		do
			r = read(fd, buf, cap);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			kerr_errno(err, "chainkey.open", path);
		else if ((size_t)r == cap)
			kerr_set(err, "chainkey.parse", "%s: larger than %zu bytes, not a chain key file", path, cap - 1);
		else
			buf[r] = '\0';
		rc = r >= 0 && (size_t)r < cap ? 0 : -1;
	}
	close(fd);
	return rc;
}

/* Splits buf into exactly CHAIN_KEY_LINES lines, each "<word> <value>"
 * after the first; the last newline is optional, nothing may follow it. */
static int split_lines(char *buf, char *line[CHAIN_KEY_LINES])
{
	char *p = buf;

	for (int i = 0; i < CHAIN_KEY_LINES; i++) {
		char *nl = strchr(p, '\n');

		line[i] = p;
		if (!nl)
			return i == CHAIN_KEY_LINES - 1 && *p ? 0 : -1;
		*nl = '\0';
		p = nl + 1;
	}
	return *p ? -1 : 0;
}

static const char *field(const char *line, const char *word)
{
	size_t n = strlen(word);

	return !strncmp(line, word, n) && line[n] == ' ' ? line + n + 1 : NULL;
}

int chain_key_load(const char *path, struct chain_key *k, struct kerr *err)
{
	char buf[CHAIN_KEY_FILE_BYTES_MAX], *line[CHAIN_KEY_LINES];
	const char *scheme_s, *pub_s, *seed_s;
	uint8_t pub[CHAIN_KEY_PUB_BYTES], seed[CHAIN_KEY_SEED_BYTES];
	enum chain_scheme scheme;
	int rc = -1;

	memset(k, 0, sizeof *k);
	if (read_small(path, buf, sizeof buf, err) < 0)
		goto out;
	if (split_lines(buf, line) < 0 || strcmp(line[0], CHAIN_KEY_MAGIC) != 0) {
		kerr_set(err, "chainkey.parse", "%s: not a chain key file (want \"%s\" and three lines)", path,
			 CHAIN_KEY_MAGIC);
		goto out;
	}
	scheme_s = field(line[1], "scheme");
	pub_s = field(line[2], "public");
	seed_s = field(line[3], "seed");
	if (!scheme_s || !pub_s || !seed_s) {
		kerr_set(err, "chainkey.parse", "%s: want lines \"scheme\", \"public\" and \"seed\" in that order", path);
		goto out;
	}
	if (chain_scheme_parse(scheme_s, &scheme, err) < 0) {
		kerr_prefix(err, "%s", path);
		goto out;
	}
	if (keys_hex_decode(pub_s, pub, sizeof pub) < 0 || keys_hex_decode(seed_s, seed, sizeof seed) < 0) {
		kerr_set(err, "chainkey.parse", "%s: public and seed must be 64 lowercase hex digits each", path);
		goto out;
	}
	if (chain_key_from_seed(scheme, seed, k, err) < 0)
		goto out;
	rc = sodium_memcmp(k->pub, pub, sizeof pub) == 0
		     ? 0
		     : kerr_set(err, "chainkey.mismatch", "%s: the public key does not belong to the seed (a damaged file?)",
				path);
out:
	if (rc < 0)
		chain_key_wipe(k);
	sodium_memzero(seed, sizeof seed);
	sodium_memzero(buf, sizeof buf);
	return rc;
}

/* ---------------------------------------------------------------- signing */

static int sign_sr25519(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[64], struct kerr *e)
{
	const struct chain_key *k = ctx;

	return sr25519_sign(&k->sr, k->pub, msg, len, NULL, sig, e);
}

static int sign_ed25519(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[64], struct kerr *e)
{
	const struct chain_key *k = ctx;

	if (crypto_sign_detached(sig, NULL, msg, len, k->ed_sk) != 0)
		return kerr_set(e, "chainkey.sign_failed", "ed25519: signing failed");
	return 0;
}

int chain_key_signer(const struct chain_key *k, struct chain_signer *out)
{
	memset(out, 0, sizeof *out);
	switch (k->scheme) {
	case CHAIN_SCHEME_SR25519: out->sign = sign_sr25519; break;
	case CHAIN_SCHEME_ED25519: out->sign = sign_ed25519; break;
	default: return -1;
	}
	out->scheme = k->scheme;
	memcpy(out->pub, k->pub, sizeof out->pub);
	/* The seam's ctx is not const; the sign functions never write through it. */
	out->ctx = (void *)k;
	return 0;
}

void chain_key_wipe(struct chain_key *k)
{
	if (k)
		sodium_memzero(k, sizeof *k);
}
