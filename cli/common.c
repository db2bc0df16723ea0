/* common.c: helpers every subcommand shares: printing the --json object,
 * the failure object, parsing numeric flags and the --json/--help flags of
 * one-argument commands, the default thread count.
 * Owns nothing of any command's output contract beyond the encoding (one
 * compact line, reals with 17 significant digits); never prints to stderr
 * except through cli_fail. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cmds.h"
#include "util/kerr.h"

int cli_print_json(json_t *o, size_t flags, const char *nomem_code)
{
	char *t = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17) | flags) : NULL;
	int rc = t ? 0 : -1;

	if (t)
		puts(t);
	else if (nomem_code)
		printf("{\"ok\":false,\"code\":\"%s\",\"message\":\"out of memory\"}\n", nomem_code);
	free(t);
	json_decref(o);
	return rc;
}

int cli_fail_json(const struct kerr *err, int as_json, const char *nomem_code)
{
	if (as_json)
		cli_print_json(json_pack("{s:b, s:s, s:s}", "ok", 0, "code", err->code, "message", err->msg),
			       JSON_SORT_KEYS, nomem_code);
	return cli_fail(err);
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
