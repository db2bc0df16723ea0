/* cmd_ledger.c: `karpa ledger STATE show|verify|export`: the local ledger
 * of closed epochs (docs/weights.md). Owns these commands' output contract
 * (--json: one object, "version":1); the ledger itself belongs to
 * src/validator/ledger.c. Read-only: closing an epoch is
 * `karpa validator epoch`. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "validator/ledger.h"
#include "validator/validator.h"
#include "validator/vstate.h"
#include "util/kerr.h"

int cmd_ledger(int argc, char **argv);

#define LEDGER_JSON_VERSION 1
#define EPOCH_ARG_MAX 1000000000000ULL

static const char usage_text[] =
	"usage: karpa ledger STATE show [--epoch N] [--json]\n"
	"       karpa ledger STATE verify [--json]\n"
	"       karpa ledger STATE export [--epoch N]\n"
	"\n"
	"The validator's local ledger: one hash-chained, signed entry per closed\n"
	"epoch holding its weight vector (docs/weights.md). Epochs are closed by\n"
	"`karpa validator epoch STATE` (and by the service).\n"
	"  show     one epoch's vector (default: the newest) with its hashes\n"
	"  verify   walk every entry: epoch order, hash chain, hashes, signatures\n"
	"           against STATE/validator.key; exit 1 with ledger.tampered\n"
	"           naming the first bad epoch\n"
	"  export   every entry (or --epoch N) as one JSON object on stdout, with\n"
	"           each entry's exact signed body\n"
	"  --epoch N  one epoch (1, 2, ...)\n"
	"  --json     print one JSON object on stdout\n";

static int usage(int rc)
{
	fputs(usage_text, rc ? stderr : stdout);
	return rc;
}

/* Flags after the subcommand: --epoch N, --json, --help. Returns -1 to go
 * on, else the exit code. */
static int parse(int argc, char **argv, int allow_epoch, long long *epoch, int *as_json)
{
	static const struct option opts[] = {
		{ "epoch", required_argument, 0, 'e' },
		{ "json", no_argument, 0, 'j' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	uint64_t v;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'e':
			if (!allow_epoch || cli_parse_u64(optarg, 1, EPOCH_ARG_MAX, &v) < 0) {
				fprintf(stderr, "karpa ledger: --epoch must be an epoch number (1, 2, ...)\n");
				return usage(EXIT_USAGE);
			}
			*epoch = (long long)v;
			break;
		case 'j': *as_json = 1; break;
		case 'h': return usage(EXIT_OK);
		default: return usage(EXIT_USAGE);
		}
	}
	return optind == argc ? -1 : usage(EXIT_USAGE);
}

static void print_entry_text(json_t *e)
{
	json_t *w = json_object_get(e, "weights"), *x;
	size_t i;

	printf("epoch       %lld\nclosed at   %s\nhash        %s\nprev hash   %s\nvalidator   %s\n",
	       (long long)json_integer_value(json_object_get(e, "epoch")), json_string_value(json_object_get(e, "closed_at")),
	       json_string_value(json_object_get(e, "hash")), json_string_value(json_object_get(e, "prev_hash")),
	       json_string_value(json_object_get(e, "validator_pk")));
	printf("weights     %zu miner%s\n", json_array_size(w), json_array_size(w) == 1 ? "" : "s");
	json_array_foreach(w, i, x)
	{
		printf("  %s  %5lld  %.6g\n", json_string_value(json_object_get(x, "miner")),
		       (long long)json_integer_value(json_object_get(x, "u16")),
		       json_number_value(json_object_get(x, "score")));
	}
}

static int ledger_show(struct vstate *s, long long epoch, int as_json)
{
	struct kerr err = { { 0 }, { 0 } };
	json_t *arr = NULL, *e;

	if (!epoch) {
		if (ledger_last_epoch(s, &epoch, &err) < 0)
			return cli_fail(&err);
		if (!epoch) {
			kerr_set(&err, "ledger.not_found", "%s: no epoch closed yet (karpa validator epoch STATE)", s->dir);
			return cli_fail(&err);
		}
	}
	if (ledger_export(s, epoch, &arr, &err) < 0)
		return cli_fail(&err);
	e = json_array_get(arr, 0);
	if (as_json) {
		cli_print_json(json_pack("{s:i, s:O}", "version", LEDGER_JSON_VERSION, "entry", e), JSON_SORT_KEYS,
			       "ledger.nomem");
	} else {
		print_entry_text(e);
	}
	json_decref(arr);
	return EXIT_OK;
}

static int ledger_verify_cmd(struct vstate *s, int as_json)
{
	struct kerr err = { { 0 }, { 0 } };
	long long n, last;

	if (ledger_verify(s, &n, &err) < 0 || ledger_last_epoch(s, &last, &err) < 0)
		return cli_fail(&err);
	if (as_json)
		cli_print_json(json_pack("{s:i, s:I, s:I}", "version", LEDGER_JSON_VERSION, "entries", (json_int_t)n,
					 "last_epoch", (json_int_t)last),
			       JSON_SORT_KEYS, "ledger.nomem");
	else
		printf("ledger ok: %lld entr%s, chain and signatures verified\n", n, n == 1 ? "y" : "ies");
	return EXIT_OK;
}

static int ledger_export_cmd(struct vstate *s, long long epoch)
{
	struct kerr err = { { 0 }, { 0 } };
	json_t *arr;

	if (ledger_export(s, epoch, &arr, &err) < 0)
		return cli_fail(&err);
	cli_print_json(json_pack("{s:i, s:o}", "version", LEDGER_JSON_VERSION, "entries", arr), JSON_SORT_KEYS,
		       "ledger.nomem");
	return EXIT_OK;
}

int cmd_ledger(int argc, char **argv)
{
	struct kerr err = { { 0 }, { 0 } };
	struct vstate s;
	long long epoch = 0;
	const char *sub;
	int as_json = 0, rc;

	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")))
		return usage(EXIT_OK);
	if (argc < 3)
		return usage(EXIT_USAGE);
	sub = argv[2];
	if (strcmp(sub, "show") && strcmp(sub, "verify") && strcmp(sub, "export")) {
		fprintf(stderr, "karpa ledger: unknown subcommand '%s'\n", sub);
		return usage(EXIT_USAGE);
	}
	if ((rc = parse(argc - 2, argv + 2, strcmp(sub, "verify") != 0, &epoch, &as_json)) >= 0)
		return rc;
	if (validator_open(argv[1], &s, &err) < 0)
		return cli_fail(&err);
	if (!strcmp(sub, "show"))
		rc = ledger_show(&s, epoch, as_json);
	else if (!strcmp(sub, "verify"))
		rc = ledger_verify_cmd(&s, as_json);
	else
		rc = ledger_export_cmd(&s, epoch);
	vstate_close(&s);
	return rc;
}
