/* cmd_keygen.c: `karpa keygen --out FILE | --show FILE [--json]`. Creates a
 * miner identity (keys.c) or shows the public half of one. Prints only the
 * public key; the secret never reaches stdout or stderr. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "proof/keys.h"
#include "util/kerr.h"

static const char usage_text[] =
	"usage: karpa keygen --out FILE [--json]    create a new Ed25519 identity (mode 0600, never overwritten)\n"
	"       karpa keygen --show FILE [--json]   print the public key of an existing identity\n"
	"Prints the public key as 64 hex digits; --json prints {\"file\":...,\"public_key\":...}.\n";

static int usage(int rc)
{
	fputs(usage_text, rc ? stderr : stdout);
	return rc;
}

static int print_key(const char *file, const struct keys *k, int as_json)
{
	if (as_json) {
		json_t *o = json_pack("{s:s, s:s}", "public_key", k->pk_hex, "file", file);

		if (cli_print_json(o, JSON_SORT_KEYS, NULL) < 0) {
			fprintf(stderr, "karpa: keygen.json: cannot encode the output\n");
			return EXIT_FAIL;
		}
	} else {
		puts(k->pk_hex);
	}
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
}

int cmd_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, 0, 'o' }, { "show", required_argument, 0, 's' },
		{ "json", no_argument, 0, 'j' },       { "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *out = NULL, *show = NULL;
	struct keys k;
	struct kerr err;
	int as_json = 0, c, rc;

	kerr_clear(&err);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 's': show = optarg; break;
		case 'j': as_json = 1; break;
		case 'h': return usage(EXIT_OK);
		default: return usage(EXIT_USAGE);
		}
	}
	if (optind != argc || !out == !show)
		return usage(EXIT_USAGE);
	if (out ? keys_generate(out, &k, &err) < 0 : keys_load(show, &k, &err) < 0)
		return cli_fail(&err);
	rc = print_key(out ? out : show, &k, as_json);
	keys_wipe(&k);
	return rc;
}
