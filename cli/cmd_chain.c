/* cmd_chain.c: `karpa chain ...`, the Bittensor (subtensor) adapter's
 * commands: a dispatcher over subcommands, and `chain keys` (import a chain
 * key from a seed or a Bittensor wallet; show its public key and SS58
 * address). Prints only public keys; a seed given on the command line is
 * wiped from argv once read. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "chain/chainkey.h"
#include "chain/ss58.h"
#include "chain/wallet.h"
#include "cmds.h"
#include "proof/keys.h"
#include "util/fsutil.h"
#include "util/kerr.h"

#define PASSWORD_BYTES_MAX 4096

static const char usage_text[] =
	"usage: karpa chain keys import --scheme sr25519|ed25519 --seed HEX --out FILE [--json]\n"
	"       karpa chain keys import --wallet DIR [--hotkey NAME] --out FILE [--json]\n"
	"       karpa chain keys import --wallet DIR --coldkey --password-file PW --out FILE [--json]\n"
	"       karpa chain keys show FILE [--json]\n"
	"       karpa chain extrinsic --chain-state FILE --hotkey FILE --netuid N --weights UID=W,... (--help)\n"
	"       karpa chain weights STATE --endpoint URL --netuid N --hotkey FILE [--epoch N] [--dry-run] (--help)\n"
	"\n"
	"Chain keys sign Karpa's weights on Bittensor (docs/chain-keys.md).\n"
	"  import  writes FILE (mode 0600, never overwritten) from a 32-byte seed\n"
	"          (64 hex digits, 0x optional: an sr25519 mini secret as Substrate's\n"
	"          `subkey inspect` prints it, or an ed25519 seed), or from a Bittensor\n"
	"          wallet folder: its hotkey hotkeys/NAME (default \"default\"), or with\n"
	"          --coldkey its coldkey, opened with the password on PW's first line\n"
	"  show    prints the scheme, the public key in hex and its SS58 address\n"
	"          (prefix 42)\n"
	"  --json  print one JSON object on stdout\n";

static int usage(int rc)
{
	fputs(usage_text, rc ? stderr : stdout);
	return rc;
}

static int print_key(const char *file, const struct chain_key *k, int as_json)
{
	char pub_hex[2 + 2 * CHAIN_KEY_PUB_BYTES + 1] = "0x", addr[SS58_ADDRESS_MAX];
	struct kerr err = { { 0 }, { 0 } };

	keys_hex_encode(k->pub, sizeof k->pub, pub_hex + 2);
	if (ss58_encode(k->pub, SS58_PREFIX_SUBSTRATE, addr, sizeof addr, &err) < 0)
		return cli_fail(&err);
	if (as_json) {
		json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:i}", "file", file, "scheme", chain_scheme_name(k->scheme),
				      "public_key", pub_hex, "ss58_address", addr, "ss58_prefix", SS58_PREFIX_SUBSTRATE);

		if (cli_print_json(o, JSON_SORT_KEYS, "chain.nomem") < 0)
			return EXIT_FAIL;
	} else {
		printf("scheme %s\npublic %s\nss58 %s\n", chain_scheme_name(k->scheme), pub_hex, addr);
	}
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
}

/* 64 hex digits, 0x optional, either case; the argument is wiped after. */
static int parse_seed(char *hex, uint8_t seed[CHAIN_KEY_SEED_BYTES])
{
	const char *s = strncmp(hex, "0x", 2) ? hex : hex + 2;
	size_t bin_len = 0;
	int rc = 0;

	if (strlen(s) != 2 * CHAIN_KEY_SEED_BYTES ||
	    sodium_hex2bin(seed, CHAIN_KEY_SEED_BYTES, s, strlen(s), NULL, &bin_len, NULL) != 0 ||
	    bin_len != CHAIN_KEY_SEED_BYTES)
		rc = -1;
	sodium_memzero(hex, strlen(hex));
	return rc;
}

/* The first line of path, without its line end; caller wipes and frees. */
static int read_password(const char *path, char **pw, struct kerr *err)
{
	size_t len = 0;

	if (fs_read_all(path, PASSWORD_BYTES_MAX, pw, &len, err) < 0) {
		kerr_prefix(err, "--password-file");
		return -1;
	}
	(*pw)[strcspn(*pw, "\r\n")] = '\0';
	return 0;
}

struct import_args {
	const char *scheme, *out, *wallet, *hotkey, *password_file;
	char *seed;
	int coldkey, as_json;
};

static int import_key(const struct import_args *a, struct chain_key *k, struct kerr *err)
{
	enum chain_scheme scheme;
	uint8_t seed[CHAIN_KEY_SEED_BYTES];
	char *pw = NULL;
	int rc;

	if (a->seed) {
		if (chain_scheme_parse(a->scheme, &scheme, err) < 0)
			return -1;
		if (parse_seed(a->seed, seed) < 0)
			return kerr_set(err, "chain.bad_seed", "--seed must be 64 hex digits (32 bytes), 0x optional");
		rc = chain_key_from_seed(scheme, seed, k, err);
		sodium_memzero(seed, sizeof seed);
		return rc;
	}
	if (!a->coldkey)
		return wallet_import_hotkey(a->wallet, a->hotkey, k, err);
	if (a->password_file && read_password(a->password_file, &pw, err) < 0)
		return -1;
	rc = wallet_import_coldkey(a->wallet, pw, k, err);
	if (pw) {
		sodium_memzero(pw, strlen(pw));
		free(pw);
	}
	return rc;
}

static int keys_import(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "scheme", required_argument, 0, 's' }, { "seed", required_argument, 0, 'k' },
		{ "out", required_argument, 0, 'o' },    { "wallet", required_argument, 0, 'w' },
		{ "hotkey", required_argument, 0, 'H' }, { "coldkey", no_argument, 0, 'c' },
		{ "password-file", required_argument, 0, 'p' }, { "json", no_argument, 0, 'j' },
		{ "help", no_argument, 0, 'h' },         { 0, 0, 0, 0 },
	};
	struct import_args a = { 0 };
	struct kerr err = { { 0 }, { 0 } };
	struct chain_key k;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': a.scheme = optarg; break;
		case 'k': a.seed = optarg; break;
		case 'o': a.out = optarg; break;
		case 'w': a.wallet = optarg; break;
		case 'H': a.hotkey = optarg; break;
		case 'c': a.coldkey = 1; break;
		case 'p': a.password_file = optarg; break;
		case 'j': a.as_json = 1; break;
		case 'h': return usage(EXIT_OK);
		default: return usage(EXIT_USAGE);
		}
	}
	/* Exactly one source; the scheme goes with a seed, the hotkey name and
	 * the coldkey's password with a wallet. */
	if (optind != argc || !a.out || !a.seed == !a.wallet || (a.seed && !a.scheme) ||
	    (a.wallet && a.scheme) || (a.coldkey && a.hotkey) || (!a.coldkey && a.password_file) ||
	    (a.seed && (a.hotkey || a.coldkey))) {
		if (a.seed)
			sodium_memzero(a.seed, strlen(a.seed));
		return usage(EXIT_USAGE);
	}
	if (import_key(&a, &k, &err) < 0)
		return cli_fail(&err);
	if (chain_key_save(a.out, &k, &err) < 0) {
		chain_key_wipe(&k);
		return cli_fail(&err);
	}
	rc = print_key(a.out, &k, a.as_json);
	chain_key_wipe(&k);
	return rc;
}

static int keys_show(int argc, char **argv)
{
	struct kerr err = { { 0 }, { 0 } };
	struct chain_key k;
	int as_json = 0, rc;

	if ((rc = cli_json_arg(argc, argv, "h", &as_json)) >= 0)
		return usage(rc);
	if (chain_key_load(argv[optind], &k, &err) < 0)
		return cli_fail(&err);
	rc = print_key(argv[optind], &k, as_json);
	chain_key_wipe(&k);
	return rc;
}

static int cmd_keys(int argc, char **argv)
{
	if (argc < 2)
		return usage(EXIT_USAGE);
	if (!strcmp(argv[1], "import"))
		return keys_import(argc - 1, argv + 1);
	if (!strcmp(argv[1], "show"))
		return keys_show(argc - 1, argv + 1);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return usage(EXIT_OK);
	fprintf(stderr, "karpa chain keys: unknown subcommand '%s'\n", argv[1]);
	return usage(EXIT_USAGE);
}

int cmd_chain(int argc, char **argv)
{
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")))
		return usage(EXIT_OK);
	if (argc < 2)
		return usage(EXIT_USAGE);
	if (!strcmp(argv[1], "keys"))
		return cmd_keys(argc - 1, argv + 1);
	if (!strcmp(argv[1], "extrinsic"))
		return cmd_chain_extrinsic(argc - 1, argv + 1);
	if (!strcmp(argv[1], "weights"))
		return cmd_chain_weights(argc - 1, argv + 1);
	fprintf(stderr, "karpa chain: unknown subcommand '%s'\n", argv[1]);
	return usage(EXIT_USAGE);
}
