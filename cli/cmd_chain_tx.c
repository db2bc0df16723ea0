/* cmd_chain_tx.c: `karpa chain extrinsic`: offline signing of a weight
 * extrinsic for an air-gapped operator, or to check against other tools.
 * Reads the chain state (chainstate.h), normalises the weights as
 * Bittensor's validators do, builds set_weights (or commit_weights when a
 * salt is given) and prints the signed extrinsic in 0x-hex on its last
 * line. Prints no secret; sends nothing anywhere. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain/chainstate.h"
#include "chain/chainweights.h"
#include "chain/extrinsic.h"
#include "cmds.h"
#include "chain/chainkey.h"
#include "util/kerr.h"

static const char usage_text[] =
	"usage: karpa chain extrinsic --chain-state FILE --hotkey FILE --netuid N --weights UID=W,...\n"
	"                             [--version-key K] [--commit-salt HEX]\n"
	"Signs SubtensorModule.set_weights (or commit_weights with --commit-salt) offline and prints\n"
	"the call, then the signed extrinsic in 0x-hex on the last line.\n"
	"  --chain-state FILE  JSON: metadata (path), spec_version, transaction_version, genesis_hash,\n"
	"                      block_number, block_hash (the era's birth block), nonce;\n"
	"                      optional era_period (default 128, 0 immortal) and tip\n"
	"  --hotkey FILE       a chain key file, sr25519 or ed25519 (karpa chain keys import)\n"
	"  --weights UID=W,... non-negative weights, max-normalised to u16 as Bittensor's SDK does\n"
	"  --version-key K     an integer, or MAJOR.MINOR.PATCH (default 0)\n"
	"  --commit-salt HEX   commit-reveal: four hex digits per u16 salt item; prints commit_weights\n";

static int usage(int rc)
{
	fputs(usage_text, rc ? stderr : stdout);
	return rc;
}

static void print_hex(const char *label, const uint8_t *p, size_t n)
{
	if (label)
		printf("%s: ", label);
	fputs("0x", stdout);
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
	putchar('\n');
}

struct args {
	const char *state, *hotkey, *weights, *version, *salt;
	uint64_t netuid, version_key;
};

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "chain-state", required_argument, 0, 's' }, { "hotkey", required_argument, 0, 'k' },
		{ "netuid", required_argument, 0, 'n' },      { "weights", required_argument, 0, 'w' },
		{ "version-key", required_argument, 0, 'v' }, { "commit-salt", required_argument, 0, 'c' },
		{ "help", no_argument, 0, 'h' },              { 0, 0, 0, 0 },
	};
	const char *netuid = NULL;
	int c;

	memset(a, 0, sizeof *a);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': a->state = optarg; break;
		case 'k': a->hotkey = optarg; break;
		case 'n': netuid = optarg; break;
		case 'w': a->weights = optarg; break;
		case 'v': a->version = optarg; break;
		case 'c': a->salt = optarg; break;
		case 'h': return usage(EXIT_OK);
		default: return usage(EXIT_USAGE);
		}
	}
	if (optind != argc || !a->state || !a->hotkey || !netuid || !a->weights ||
	    cli_parse_u64(netuid, 0, UINT16_MAX, &a->netuid) < 0) {
		fputs("karpa chain extrinsic: --chain-state, --hotkey, --netuid (0..65535) and --weights are required\n",
		      stderr);
		return usage(EXIT_USAGE);
	}
	return -1;
}

static int version_key(const char *text, uint64_t *key, struct kerr *e)
{
	*key = 0;
	if (!text)
		return 0;
	if (strchr(text, '.'))
		return chain_version_key_parse(text, key, e);
	if (cli_parse_u64(text, 0, UINT64_MAX, key) < 0)
		return kerr_set(e, "chain.version_key", "--version-key \"%s\" is not an integer or MAJOR.MINOR.PATCH",
				text);
	return 0;
}

/* The call: set_weights, or commit_weights over the salted hash. */
static int build_call(const struct args *a, const struct chain_state *st, const struct chain_key *k,
		      struct scale_writer *call, struct kerr *e)
{
	static uint16_t uids[CHAIN_WEIGHTS_MAX], vals[CHAIN_WEIGHTS_MAX], ou[CHAIN_WEIGHTS_MAX], salt[CHAIN_VEC_MAX];
	static double w[CHAIN_WEIGHTS_MAX];
	size_t n, kept, n_salt = 0;
	uint8_t hash[CHAIN_HASH_BYTES];

	if (chain_weights_parse(a->weights, uids, w, CHAIN_WEIGHTS_MAX, &n, e) < 0 ||
	    chain_weights_u16(uids, n, w, n, ou, vals, &kept, e) < 0 ||
	    (a->salt && chain_salt_parse(a->salt, salt, CHAIN_VEC_MAX, &n_salt, e) < 0))
		return -1;
	if (kept == 0)
		return kerr_set(e, "chain.weights_zero", "every weight is zero: nothing to set on chain");
	if (!a->salt)
		return chain_call_set_weights(st->meta, (uint16_t)a->netuid, ou, vals, kept, a->version_key, call, e);
	if (chain_commit_hash(k->pub, (uint16_t)a->netuid, ou, vals, kept, salt, n_salt, a->version_key, hash, e) < 0)
		return -1;
	print_hex("commit_hash", hash, sizeof hash);
	return chain_call_commit_weights(st->meta, (uint16_t)a->netuid, hash, call, e);
}

int cmd_chain_extrinsic(int argc, char **argv)
{
	struct args a;
	struct chain_state st = { 0 };
	struct chain_key k;
	struct chain_signer signer;
	struct scale_writer call, ext;
	struct kerr e;
	int rc = parse_args(argc, argv, &a), loaded = 0;

	if (rc >= 0)
		return rc;
	rc = EXIT_FAIL;
	kerr_clear(&e);
	scale_writer_init(&call, CHAIN_CALL_BYTES_MAX, &e);
	scale_writer_init(&ext, CHAIN_EXTRINSIC_BYTES_MAX, &e);
	if (version_key(a.version, &a.version_key, &e) < 0 || chain_state_load(a.state, &st, &e) < 0 ||
	    chain_key_load(a.hotkey, &k, &e) < 0)
		goto out;
	loaded = 1;
	if (chain_key_signer(&k, &signer) < 0) {
		kerr_set(&e, "chain.sign", "%s: a key scheme this build cannot sign with", a.hotkey);
		goto out;
	}
	if (build_call(&a, &st, &k, &call, &e) < 0)
		goto out;
	print_hex("call", call.buf, call.len);
	if (chain_extrinsic_signed(st.meta, &st.tx, call.buf, call.len, &signer, &ext, &e) < 0)
		goto out;
	print_hex(NULL, ext.buf, ext.len);
	rc = fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
out:
	if (loaded)
		chain_key_wipe(&k);
	scale_writer_free(&call);
	scale_writer_free(&ext);
	chain_state_free(&st);
	return rc == EXIT_OK || !e.code[0] ? rc : cli_fail(&e);
}
