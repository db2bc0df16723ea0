/* common.c: helpers every subcommand shares: printing the --json object,
 * the failure object, parsing numeric flags and the --json/--help flags of
 * one-argument commands, the default thread count.
 * Owns the envelope every command's --json output shares (one compact line,
 * reals with 17 significant digits, "version" and "ok" in every object,
 * failures included) and the --threads flag's one spelling; a command owns
 * the rest of its object. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cmds.h"
#include "util/kerr.h"

static int json_mode, json_printed;

void cli_set_json_mode(int on)
{
	json_mode = on;
}

int cli_json_mode(void)
{
	return json_mode;
}

int cli_json_printed(void)
{
	return json_printed;
}

int cli_print_json(json_t *o, size_t flags, const char *nomem_code)
{
	char *t;
	int rc;

	/* The envelope every --json object shares: its version and whether the
	 * command succeeded (a command's own "ok":false stands). */
	if (json_is_object(o)) {
		if (!json_object_get(o, "version"))
			json_object_set_new(o, "version", json_integer(CLI_JSON_VERSION));
		if (!json_object_get(o, "ok"))
			json_object_set_new(o, "ok", json_true());
	}
	json_printed = 1;
	t = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17) | flags) : NULL;
	rc = t ? 0 : -1;
	if (t)
		puts(t);
	else
		printf("{\"code\":\"%s\",\"message\":\"out of memory encoding the result\",\"ok\":false,"
		       "\"version\":%d}\n",
		       nomem_code ? nomem_code : "cli.nomem", CLI_JSON_VERSION);
	free(t);
	json_decref(o);
	return rc;
}

int cli_fail_json(const struct kerr *err, int as_json, const char *nomem_code)
{
	if (as_json && !json_printed)
		cli_print_json(json_pack("{s:i, s:b, s:s, s:s}", "version", CLI_JSON_VERSION, "ok", 0, "code", err->code,
					 "message", err->msg),
			       JSON_SORT_KEYS, nomem_code);
	return cli_fail(err);
}

int cli_threads_arg(const char *cmd, const char *arg, int *threads)
{
	if (cli_parse_int(arg, 1, CLI_THREADS_MAX, threads) == 0)
		return 0;
	fprintf(stderr, "karpa %s: --threads must be 1..%d\n", cmd, CLI_THREADS_MAX);
	return -1;
}

int cli_json_arg(int argc, char **argv, const char *shortopts, int *as_json)
{
	static const struct option opts[] = {
		{ "json", no_argument, 0, 'j' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
		if (c == 'j')
			*as_json = 1;
		else
			return c == 'h' ? EXIT_OK : EXIT_USAGE;
	}
	return optind == argc - 1 ? -1 : EXIT_USAGE;
}

int cli_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	/* strtoull would accept a sign (and wrap "-1"); a count never has one. */
	if (!*s || *s == '-' || *s == '+')
		return -1;
	v = strtoull(s, &end, 10);
	if (*end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

int cli_parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v;

	if (!*s)
		return -1;
	v = strtol(s, &end, 10);
	if (*end || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

int cli_default_threads(int max)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 && n <= max ? (int)n : 1;
}
