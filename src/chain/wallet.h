/* wallet.h: importing a key from a Bittensor wallet (bittensor-wallet /
 * btwallet): the hotkey file DIR/hotkeys/NAME, a JSON object with
 * secretSeed, publicKey, ss58Address (and secretPhrase, privateKey,
 * accountId), and the coldkey DIR/coldkey, that JSON sealed as
 * "$NACL" || nonce(24) || secretbox(JSON) under an Argon2i key (fixed salt,
 * libsodium's OPSLIMIT/MEMLIMIT_SENSITIVE). Owns reading and checking those
 * files; never writes them, never prints a secret. */
#ifndef KARPA_CHAIN_WALLET_H
#define KARPA_CHAIN_WALLET_H

#include <stddef.h>
#include <stdint.h>

#include "chain/chainkey.h"
#include "util/kerr.h"

#define WALLET_HOTKEY_DEFAULT "default"
#define WALLET_FILE_BYTES_MAX 65536 /* a keyfile is under 1 KiB */

/* The key in a wallet keyfile's JSON (sr25519, from secretSeed). Refuses
 * with wallet.parse (not a JSON object, or a field of the wrong shape),
 * wallet.no_seed (no secretSeed: a phrase-only or public-only file),
 * wallet.mismatch (publicKey, accountId or ss58Address is not the seed's). */
int wallet_key_from_json(const char *json, size_t len, struct chain_key *k, struct kerr *err);
/* Opens a "$NACL" keyfile with password. wallet.bad_format (too short, or
 * not "$NACL"), wallet.legacy (ansible-vault or fernet: re-encrypt it with
 * a current btcli), wallet.kdf (Argon2i could not run: memory),
 * wallet.password (wrong password or damaged file). *plain (caller wipes
 * and frees, *plain_len bytes, NUL-terminated) on success. ops and mem are
 * the Argon2i limits: WALLET_NACL_OPSLIMIT and WALLET_NACL_MEMLIMIT for a
 * real wallet; tests pass smaller ones to files they seal themselves. */
#define WALLET_NACL_OPSLIMIT 8ULL          /* crypto_pwhash_argon2i_OPSLIMIT_SENSITIVE */
#define WALLET_NACL_MEMLIMIT 536870912ULL  /* crypto_pwhash_argon2i_MEMLIMIT_SENSITIVE: 512 MiB */
int wallet_nacl_open(const uint8_t *data, size_t len, const char *password, unsigned long long ops, size_t mem,
		     char **plain, size_t *plain_len, struct kerr *err);
/* Seals json as a "$NACL" keyfile would be (tests, and docs' examples);
 * caller frees *out. */
int wallet_nacl_seal(const char *json, size_t len, const char *password, unsigned long long ops, size_t mem,
		     uint8_t **out, size_t *out_len, struct kerr *err);

/* DIR/hotkeys/NAME (name NULL: "default"); NAME must be a plain file name
 * (wallet.bad_name). wallet.missing when the file is not there. */
int wallet_import_hotkey(const char *dir, const char *name, struct chain_key *k, struct kerr *err);
/* DIR/coldkey, opened with password when encrypted (wallet.encrypted when
 * it is and password is NULL). */
int wallet_import_coldkey(const char *dir, const char *password, struct chain_key *k, struct kerr *err);

#endif
