/* cmd_chain_send.c: `karpa chain weights STATE`: one ledger epoch's weights
 * sent to a subtensor node (src/chain/chainsend.h), or with --dry-run
 * built, signed and printed without sending. Owns the command line and the
 * reading of the ledger entry; pending commits live in STATE's database
 * (validator/chainsink.h), so the next run (or `validator serve --chain`)
 * reveals them. Prints no secret. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain/chainkey.h"
#include "chain/chainsend.h"
#include "chain/chainweights.h"
#include "cmds.h"
#include "proof/keys.h"
#include "util/version.h"
#include "validator/chainsink.h"
#include "validator/ledger.h"
#include "validator/validator.h"

static const char usage_text[] =
	"usage: karpa chain weights STATE --endpoint URL --netuid N --hotkey FILE [--epoch N]\n"
	"                           [--version-key K] [--dry-run]\n"
	"Sends a closed epoch's weights (default: the last in STATE's ledger) to a subtensor node:\n"
	"set_weights, or commit_weights when the subnet has commit-reveal on (the commit is kept in\n"
	"STATE and revealed by a later run in its window; every run first reveals what is due).\n"
	"The whole ledger is verified first (as `karpa ledger STATE verify`): a damaged one is refused.\n"
	"  --endpoint URL     the node's HTTP(S) JSON-RPC endpoint\n"
	"  --netuid N         the subnet (16 on testnet)\n"
	"  --hotkey FILE      a chain key file (karpa chain keys import): the registered validator hotkey\n"
	"  --epoch N          the ledger epoch to send\n"
	"  --version-key K    an integer or MAJOR.MINOR.PATCH (default: this build's version, " KARPA_VERSION ")\n"
	"  --dry-run          print the call (uids, values, version key) and the signed extrinsic in\n"
	"                     hex on the last line; submit and keep nothing\n";

static int usage(int rc)
{
	fputs(usage_text, rc ? stderr : stdout);
	return rc;
}

static void print_hex(const char *label, const uint8_t *p, size_t n)
{
	if (label)
		printf("%s ", label);
	fputs("0x", stdout);
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
	putchar('\n');
}

static void print_u16s(const char *label, const uint16_t *v, size_t n)
{
	printf("%s", label);
	for (size_t i = 0; i < n; i++)
		printf("%s%u", i ? "," : " ", v[i]);
	putchar('\n');
}

/* The entry's miners as chain miners. */
static int entry_miners(json_t *entry, struct chain_miner **out, size_t *n, struct kerr *e)
{
	json_t *w = json_object_get(entry, "weights");
	size_t cnt = json_array_size(w);
	struct chain_miner *m = calloc(cnt ? cnt : 1, sizeof *m);

	*out = NULL;
	*n = 0;
	if (!m)
		return kerr_set(e, "chain.nomem", "out of memory");
	for (size_t i = 0; i < cnt; i++) {
		json_t *o = json_array_get(w, i);
		const char *k = json_string_value(json_object_get(o, "miner"));

		if (!k || strlen(k) != 64 || keys_hex_decode(k, m[i].account, 32) != 0 ||
		    !json_is_number(json_object_get(o, "score"))) {
			free(m);
			return kerr_set(e, "chainsink.bad_miner", "ledger entry: weight %zu has no 64-hex miner or no score", i);
		}
		m[i].score = json_number_value(json_object_get(o, "score"));
	}
	*out = m;
	*n = cnt;
	return 0;
}

struct args {
	const char *state, *endpoint, *hotkey, *version;
	uint64_t netuid, epoch;
	int dry;
};

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "endpoint", required_argument, 0, 'u' }, { "netuid", required_argument, 0, 'n' },
		{ "hotkey", required_argument, 0, 'k' },   { "epoch", required_argument, 0, 'e' },
		{ "version-key", required_argument, 0, 'v' }, { "dry-run", no_argument, 0, 'd' },
		{ "help", no_argument, 0, 'h' },           { 0, 0, 0, 0 },
	};
	const char *netuid = NULL, *epoch = NULL;
	int c;

	memset(a, 0, sizeof *a);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'u': a->endpoint = optarg; break;
		case 'n': netuid = optarg; break;
		case 'k': a->hotkey = optarg; break;
		case 'e': epoch = optarg; break;
		case 'v': a->version = optarg; break;
		case 'd': a->dry = 1; break;
		case 'h': return usage(EXIT_OK);
		default: return usage(EXIT_USAGE);
		}
	}
	if (optind != argc - 1 || !a->endpoint || !a->hotkey || !netuid ||
	    cli_parse_u64(netuid, 0, UINT16_MAX, &a->netuid) < 0 ||
	    (epoch && cli_parse_u64(epoch, 1, INT64_MAX, &a->epoch) < 0)) {
		fputs("karpa chain weights: STATE, --endpoint, --netuid (0..65535) and --hotkey are required\n", stderr);
		return usage(EXIT_USAGE);
	}
	a->state = argv[optind];
	return -1;
}

static int version_key(const char *text, uint64_t *key, struct kerr *e)
{
	if (!text)
		return chain_version_key_parse(KARPA_VERSION, key, e);
	if (strchr(text, '.'))
		return chain_version_key_parse(text, key, e);
	if (cli_parse_u64(text, 0, INT64_MAX, key) < 0)
		return kerr_set(e, "chain.version_key", "--version-key \"%s\" is not an integer or MAJOR.MINOR.PATCH",
				text);
	return 0;
}

static void print_report(const struct chain_send_report *r, int dry)
{
	printf("call %s (commit-reveal %s)\n", r->call, r->commit_reveal ? "on" : "off");
	print_u16s("uids", r->uids, r->n);
	print_u16s("values", r->vals, r->n);
	printf("version_key %llu\n", (unsigned long long)r->version_key);
	if (r->commit_reveal) {
		print_u16s("salt", r->salt, CHAIN_SALT_LEN);
		print_hex("commit_hash", r->commit_hash, sizeof r->commit_hash);
	}
	if (r->call_bytes)
		print_hex("call_bytes", r->call_bytes, r->call_len);
	if (!dry && r->submitted) {
		print_hex("submitted", r->tx_hash, sizeof r->tx_hash);
		if (r->landed)
			printf("landed in block %llu (extrinsic %ld): %s\n", (unsigned long long)r->block, r->index,
			       r->dispatch.outcome == CHAIN_OUTCOME_SUCCESS ? "success" : "failed");
	}
	if (r->xt)
		print_hex(NULL, r->xt, r->xt_len);
}

int cmd_chain_weights(int argc, char **argv)
{
	struct args a;
	struct kerr e = { { 0 }, { 0 } };
	struct vstate vs;
	struct chainsink_store store;
	struct chain_key k;
	struct chain_signer signer;
	struct chain_send_opts so = { 0 };
	struct chain_sender *s = NULL;
	struct chain_send_report rep;
	struct chain_miner *m = NULL;
	json_t *entries = NULL, *entry;
	size_t n = 0;
	int rc = parse_args(argc, argv, &a), opened = 0, keyed = 0;

	if (rc >= 0)
		return rc;
	rc = EXIT_FAIL;
	memset(&rep, 0, sizeof rep);
	if (version_key(a.version, &so.version_key, &e) < 0 || chain_key_load(a.hotkey, &k, &e) < 0)
		goto out;
	keyed = 1;
	if (chain_key_signer(&k, &signer) < 0) {
		kerr_set(&e, "chain.sign", "%s: a key scheme this build cannot sign with", a.hotkey);
		goto out;
	}
	if (validator_open(a.state, &vs, &e) < 0)
		goto out;
	opened = 1;
	if (ledger_export_verified(&vs, (long long)a.epoch, &entries, &e) < 0)
		goto out;
	if (!(entry = json_array_get(entries, json_array_size(entries) - 1))) {
		kerr_set(&e, "ledger.not_found", "%s: the ledger has no closed epoch yet", a.state);
		goto out;
	}
	if (entry_miners(entry, &m, &n, &e) < 0)
		goto out;
	chainsink_store_init(&store, &vs, NULL);
	so.endpoint = a.endpoint;
	so.netuid = (uint16_t)a.netuid;
	so.store = &store.st;
	if (chain_sender_open(&s, &so, &signer, &e) < 0)
		goto out;
	if (!a.dry) {
		struct chain_reveal_report rr;
		struct kerr e1 = { { 0 }, { 0 } };

		if (chain_send_reveals(s, &rr, &e1) < 0)
			fprintf(stderr, "karpa chain weights: reveals: %s: %s\n", e1.code, e1.msg);
		if (rr.pending)
			printf("reveals: %d kept, %d revealed, %d waiting, %d expired, %d uid moved, %d failed\n",
			       rr.pending, rr.revealed, rr.waiting, rr.expired, rr.moved, rr.failed);
	}
	printf("epoch %lld: %zu miner%s\n", (long long)json_integer_value(json_object_get(entry, "epoch")), n,
	       n == 1 ? "" : "s");
	if (chain_send_weights(s, json_integer_value(json_object_get(entry, "epoch")), m, n, a.dry, &rep, &e) < 0) {
		if (rep.call && rep.xt)
			print_report(&rep, a.dry);
		goto out;
	}
	if (rep.dropped)
		printf("dropped %zu miner%s without a uid on subnet %llu\n", rep.dropped, rep.dropped == 1 ? "" : "s",
		       (unsigned long long)a.netuid);
	if (!rep.call)
		printf("nothing to send: no registered miner has a weight\n");
	else
		print_report(&rep, a.dry);
	rc = fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
out:
	chain_send_report_free(&rep);
	chain_sender_close(s);
	free(m);
	json_decref(entries);
	if (opened)
		vstate_close(&vs);
	if (keyed)
		chain_key_wipe(&k);
	return rc == EXIT_OK || !e.code[0] ? rc : cli_fail(&e);
}
