/* main.c: the karpa CLI's dispatcher. Thin by design: every subcommand
 * lives in its own cmd_*.c and calls into the library. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "util/hash.h"
#include "util/jsonmem.h"
#include "util/kerr.h"
#include "util/version.h"
#include "sandbox/recipe_api.h"
#include "proof/bundle.h"
#include "util/termtext.h"

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "data", cmd_data, "prepare, verify and show tokenized data folders" },
	{ "train", cmd_train, "train the recipe at a scale and report val_bpb" },
	{ "eval", cmd_eval, "evaluate a checkpoint's val_bpb on a split" },
	{ "sample", cmd_sample, "write text from a checkpoint (or a king's model) after a prompt" },
	{ "recipe", cmd_recipe, "create and inspect the canonical recipe repository" },
	{ "keygen", cmd_keygen, "create an Ed25519 identity or show its public key" },
	{ "prove", cmd_prove, "turn a recipe patch into a signed, attested proof bundle" },
	{ "bundle", cmd_bundle, "verify a proof bundle, or show its summary and loss curve" },
	{ "validator", cmd_validator, "create a validator state folder; show king, noise floor, verdict counts; close an epoch" },
	{ "judge", cmd_judge, "judge a proof bundle: checks, verdict, king rule" },
	{ "dispute", cmd_dispute, "locate and trace where a proof's replay disagrees with its log; compare traces" },
	{ "noise-floor", cmd_noise_floor, "measure the king's noise floor (sigma, margin) at the state's scale" },
	{ "corpus", cmd_corpus, "search, show, export and cite the experiment corpus" },
	{ "ledger", cmd_ledger, "show, verify and export the signed ledger of epoch weights" },
	{ "submit", cmd_submit, "upload a proof bundle to a validator service; follow it to its verdict" },
	{ "status", cmd_status, "a validator service's king, queue and lineage" },
	{ "miner", cmd_miner, "search the recipe's knobs, prove and submit what beats the king (miner run)" },
	{ "chain", cmd_chain, "Bittensor: chain keys (import, show), offline extrinsics, weights sent to a subnet" },
	{ "bench", cmd_bench, "benchmarks (engine)" },
};

int cli_fail(const struct kerr *err)
{
	/* Under --json a failure is a JSON object too, unless the command
	 * already printed its own. */
	if (cli_json_mode() && !cli_json_printed())
		cli_print_json(json_pack("{s:i, s:b, s:s, s:s}", "version", CLI_JSON_VERSION, "ok", 0, "code",
					 err->code[0] ? err->code : "error", "message", err->msg),
			       JSON_SORT_KEYS, NULL);
	{
		/* a message may quote what a server, a node or a bundle said */
		char msg[KERR_MSG_MAX];

		snprintf(msg, sizeof msg, "%s", err->msg);
		fprintf(stderr, "karpa: %s: %s\n", err->code[0] ? err->code : "error", termtext_clean(msg, '?'));
	}
	return EXIT_FAIL;
}

/* A usage error under --json: the envelope, so a program reading stdout
 * always gets one object. */
static int usage_json(const char *cmd, int rc)
{
	if (rc == EXIT_USAGE && cli_json_mode() && !cli_json_printed())
		cli_print_json(json_pack("{s:i, s:b, s:s, s:s}", "version", CLI_JSON_VERSION, "ok", 0, "code", "cli.usage",
					 "message", "bad arguments: see the usage on stderr or `karpa <command> --help`"),
			       JSON_SORT_KEYS, NULL);
	(void)cmd;
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: karpa <command> [args]   (karpa <command> --help for details; karpa --version)\n\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
	if (hash_init_lib() < 0) {
		fprintf(stderr, "karpa: sodium.init: libsodium failed to initialise\n");
		return EXIT_FAIL;
	}
	/* Writes past a file-size limit must fail with EFBIG (reported as
	 * fs.disk_full), not kill the process halfway through an atomic write. */
	signal(SIGXFSZ, SIG_IGN);
	/* jansson's allocator, counting failures, set before any thread runs */
	(void)jsonmem_begin();
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("karpa %s (protocol %d, recipe API %s)\n", KARPA_VERSION, BUNDLE_PROTOCOL,
		       KARPA_RECIPE_API_VERSION);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	for (int i = 2; i < argc; i++)
		if (!strcmp(argv[i], "--json"))
			cli_set_json_mode(1);
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (!strcmp(argv[1], commands[i].name))
			return usage_json(commands[i].name, commands[i].fn(argc - 1, argv + 1));
	fprintf(stderr, "karpa: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
