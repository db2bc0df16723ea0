/* wallet.c: Bittensor wallet keyfiles, read as opentensor/btwallet writes
 * them (src/keyfile.rs: serialized_keypair_to_keyfile_data,
 * encrypt_keyfile_data, keyfile_data_is_encrypted_*). The key comes from
 * secretSeed alone (Substrate's sr25519 Pair::from_seed, as btwallet's
 * Keypair::create_from_seed); every public field present must agree with
 * it, so a file whose parts disagree is refused rather than half-trusted. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "chain/ss58.h"
#include "chain/wallet.h"
#include "util/fsutil.h"
#include "util/jsonmem.h"

#define NACL_MAGIC "$NACL"
#define NACL_MAGIC_BYTES 5
/* btwallet's NACL_SALT: b"\x13q\x83\xdf\xf1Z\t\xbc\x9c\x90\xb5Q\x879\xe9\xb1". */
static const uint8_t nacl_salt[crypto_pwhash_SALTBYTES] = {
	0x13, 0x71, 0x83, 0xdf, 0xf1, 0x5a, 0x09, 0xbc, 0x9c, 0x90, 0xb5, 0x51, 0x87, 0x39, 0xe9, 0xb1,
};

/* "0x" (optional) then 64 hex digits of either case, as btwallet reads them. */
static int hex32(const char *s, uint8_t out[32])
{
	size_t bin_len = 0;

	if (!strncmp(s, "0x", 2))
		s += 2;
	if (strlen(s) != 64)
		return -1;
	if (sodium_hex2bin(out, 32, s, 64, NULL, &bin_len, NULL) != 0 || bin_len != 32)
		return -1;
	return 0;
}

/* A string field, NULL when absent or null; -1 when another type. */
static int opt_string(json_t *o, const char *name, const char **out)
{
	json_t *v = json_object_get(o, name);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -1;
	*out = json_string_value(v);
	return 0;
}

/* jansson frees its strings without wiping them: the secret fields are
 * zeroed in place before the object goes. */
static void wipe_strings(json_t *o)
{
	const char *name;
	json_t *v;

	json_object_foreach(o, name, v) {
		if (json_is_string(v))
			sodium_memzero((char *)json_string_value(v), json_string_length(v));
	}
}

static int check_public(json_t *o, const struct chain_key *k, struct kerr *err)
{
	static const char *const hex_fields[] = { "publicKey", "accountId" };
	const char *s;
	uint8_t pub[32];

	for (size_t i = 0; i < sizeof hex_fields / sizeof hex_fields[0]; i++) {
		if (opt_string(o, hex_fields[i], &s) < 0 || (s && hex32(s, pub) < 0))
			return kerr_set(err, "wallet.parse", "%s is not 0x and 64 hex digits", hex_fields[i]);
		if (s && sodium_memcmp(pub, k->pub, 32) != 0)
			return kerr_set(err, "wallet.mismatch", "%s is not the public key of secretSeed", hex_fields[i]);
	}
	if (opt_string(o, "ss58Address", &s) < 0)
		return kerr_set(err, "wallet.parse", "ss58Address is not a string");
	if (s) {
		if (ss58_decode(s, pub, NULL, err) < 0) {
			kerr_prefix(err, "ss58Address");
			return -1;
		}
		if (sodium_memcmp(pub, k->pub, 32) != 0)
			return kerr_set(err, "wallet.mismatch", "ss58Address is not the address of secretSeed");
	}
	return 0;
}

int wallet_key_from_json(const char *json, size_t len, struct chain_key *k, struct kerr *err)
{
	json_error_t jerr;
	json_t *o;
	const char *seed_s, *phrase;
	uint8_t seed[32];
	int rc = -1;

	jsonmem_begin(); /* its free wipes the lexer's own copies of the seed */
	o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	memset(k, 0, sizeof *k);
	if (!o || !json_is_object(o)) {
		/* jerr.text may quote the input: only the position is kept. */
		kerr_set(err, "wallet.parse", "not a JSON object (line %d, column %d)", o ? 1 : jerr.line,
			 o ? 1 : jerr.column);
		goto out;
	}
	if (opt_string(o, "secretSeed", &seed_s) < 0 || opt_string(o, "secretPhrase", &phrase) < 0) {
		kerr_set(err, "wallet.parse", "secretSeed or secretPhrase is not a string");
		goto out;
	}
	if (!seed_s) {
		kerr_set(err, "wallet.no_seed", "the keyfile has no secretSeed%s",
			 phrase ? " (only a mnemonic, which this importer does not derive)" : "");
		goto out;
	}
	if (hex32(seed_s, seed) < 0) {
		kerr_set(err, "wallet.parse", "secretSeed is not 0x and 64 hex digits");
		goto out;
	}
	if (chain_key_from_seed(CHAIN_SCHEME_SR25519, seed, k, err) < 0 || check_public(o, k, err) < 0)
		goto out;
	rc = 0;
out:
	if (o) {
		wipe_strings(o);
		json_decref(o);
	}
	sodium_memzero(seed, sizeof seed);
	sodium_memzero(&jerr, sizeof jerr); /* its text may quote the input */
	if (rc < 0)
		chain_key_wipe(k);
	return rc;
}

/* ---------------------------------------------------------------- $NACL */

static int derive(uint8_t key[crypto_secretbox_KEYBYTES], const char *password, unsigned long long ops, size_t mem,
		  struct kerr *err)
{
	if (crypto_pwhash(key, crypto_secretbox_KEYBYTES, password, strlen(password), nacl_salt, ops, mem,
			  crypto_pwhash_ALG_ARGON2I13) != 0)
		return kerr_set(err, "wallet.kdf", "Argon2i (%llu passes, %zu MiB) could not run: out of memory?", ops,
				mem >> 20);
	return 0;
}

int wallet_nacl_open(const uint8_t *data, size_t len, const char *password, unsigned long long ops, size_t mem,
		     char **plain, size_t *plain_len, struct kerr *err)
{
	const size_t head = NACL_MAGIC_BYTES + crypto_secretbox_NONCEBYTES;
	uint8_t key[crypto_secretbox_KEYBYTES];
	char *out = NULL;
	size_t n;
	int rc = -1;

	*plain = NULL;
	if (len >= 14 && !memcmp(data, "$ANSIBLE_VAULT", 14))
		return kerr_set(err, "wallet.legacy", "an ansible-vault keyfile: re-encrypt it with a current btcli first");
	if (len >= 6 && !memcmp(data, "gAAAAA", 6))
		return kerr_set(err, "wallet.legacy", "a legacy fernet keyfile: re-encrypt it with a current btcli first");
	if (len < NACL_MAGIC_BYTES || memcmp(data, NACL_MAGIC, NACL_MAGIC_BYTES) != 0)
		return kerr_set(err, "wallet.bad_format", "not a \"$NACL\" keyfile");
	if (len < head + crypto_secretbox_MACBYTES || len > WALLET_FILE_BYTES_MAX)
		return kerr_set(err, "wallet.bad_format", "a \"$NACL\" keyfile of %zu bytes is truncated or too large", len);
	n = len - head - crypto_secretbox_MACBYTES;
	if (derive(key, password, ops, mem, err) < 0)
		goto out;
	if (!(out = sodium_malloc(n + 1))) {
		kerr_set(err, "wallet.nomem", "no memory for a %zu-byte keyfile", n);
		goto out;
	}
	if (crypto_secretbox_open_easy((uint8_t *)out, data + head, len - head, data + NACL_MAGIC_BYTES, key) != 0) {
		kerr_set(err, "wallet.password", "the keyfile does not open: wrong password, or a damaged file");
		goto out;
	}
	out[n] = '\0';
	*plain = out;
	*plain_len = n;
	out = NULL;
	rc = 0;
out:
	sodium_memzero(key, sizeof key);
	sodium_free(out);
	return rc;
}

int wallet_nacl_seal(const char *json, size_t len, const char *password, unsigned long long ops, size_t mem,
		     uint8_t **out, size_t *out_len, struct kerr *err)
{
	const size_t head = NACL_MAGIC_BYTES + crypto_secretbox_NONCEBYTES;
	uint8_t key[crypto_secretbox_KEYBYTES], *buf;

	*out = NULL;
	if (len > WALLET_FILE_BYTES_MAX - head - crypto_secretbox_MACBYTES)
		return kerr_set(err, "wallet.bad_format", "%zu bytes is too much for a keyfile", len);
	if (!(buf = malloc(head + crypto_secretbox_MACBYTES + len)))
		return kerr_set(err, "wallet.nomem", "no memory to seal a keyfile");
	if (derive(key, password, ops, mem, err) < 0) {
		free(buf);
		return -1;
	}
	memcpy(buf, NACL_MAGIC, NACL_MAGIC_BYTES);
	randombytes_buf(buf + NACL_MAGIC_BYTES, crypto_secretbox_NONCEBYTES);
	crypto_secretbox_easy(buf + head, (const uint8_t *)json, len, buf + NACL_MAGIC_BYTES, key);
	sodium_memzero(key, sizeof key);
	*out = buf;
	*out_len = head + crypto_secretbox_MACBYTES + len;
	return 0;
}

/* ---------------------------------------------------------------- files */

static int read_keyfile(const char *path, char **data, size_t *len, struct kerr *err)
{
	if (fs_read_file(path, WALLET_FILE_BYTES_MAX, 0, data, len, err) == 0)
		return 0;
	if (!strcmp(err->code, "fs.open") && errno == ENOENT)
		return kerr_set(err, "wallet.missing", "%s: no such keyfile", path);
	return -1;
}

static void free_secret(char *p, size_t len)
{
	if (p) {
		sodium_memzero(p, len);
		free(p);
	}
}

static int import_file(const char *path, const char *password, struct chain_key *k, struct kerr *err)
{
	char *data = NULL, *plain = NULL;
	size_t len = 0, plain_len = 0;
	int rc = -1;

	memset(k, 0, sizeof *k);
	if (read_keyfile(path, &data, &len, err) < 0)
		goto out;
	if (len && data[0] == '{') {
		rc = wallet_key_from_json(data, len, k, err);
	} else if (!password) {
		kerr_set(err, "wallet.encrypted", "%s: the keyfile is encrypted; give its password", path);
	} else if (wallet_nacl_open((const uint8_t *)data, len, password, WALLET_NACL_OPSLIMIT, WALLET_NACL_MEMLIMIT,
				    &plain, &plain_len, err) == 0) {
		rc = wallet_key_from_json(plain, plain_len, k, err);
	}
	if (rc < 0)
		kerr_prefix(err, "%s", path);
out:
	free_secret(data, len);
	if (plain) {
		sodium_memzero(plain, plain_len);
		sodium_free(plain);
	}
	return rc;
}

int wallet_import_hotkey(const char *dir, const char *name, struct chain_key *k, struct kerr *err)
{
	char path[FS_PATH_MAX];

	memset(k, 0, sizeof *k);
	if (!name)
		name = WALLET_HOTKEY_DEFAULT;
	if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		return kerr_set(err, "wallet.bad_name", "hotkey name \"%.64s\" is not a plain file name", name);
	if (fs_join(path, sizeof path, err, "%s/hotkeys/%s", dir, name) < 0)
		return -1;
	return import_file(path, NULL, k, err);
}

int wallet_import_coldkey(const char *dir, const char *password, struct chain_key *k, struct kerr *err)
{
	char path[FS_PATH_MAX];

	memset(k, 0, sizeof *k);
	if (fs_join(path, sizeof path, err, "%s/coldkey", dir) < 0)
		return -1;
	return import_file(path, password, k, err);
}
