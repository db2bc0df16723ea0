/* cmd_noise.c: `karpa noise-floor STATE`. Parses flags, opens the
 * validator state, runs noise_floor (which sandboxes every run of the king
 * itself), prints. Owns the command's output contract (--json: one object, format
 * karpa-noise-1). */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "harness/train.h"
#include "validator/noise.h"
#include "validator/validator.h"
#include "validator/vstate.h"
#include "util/kerr.h"

static const char usage_text[] =
	"usage: karpa noise-floor STATE [--seeds N] [--threads T] [--progress] [--json]\n"
	"\n"
	"Measures the current king's noise floor: trains it N times at the state's\n"
	"scale on its public data (run 1 at seed 1, the others at seeds drawn from\n"
	"the validator secret), evaluates each run on the hidden split,\n"
	"and stores sigma (sample standard deviation) and margin = 2 sigma with the\n"
	"king; the king's hidden score becomes its seed-1 value. Every run is\n"
	"sandboxed.\n"
	"  --seeds N     seeds to train, at least 2 (default 10)\n"
	"  --threads T   worker threads per run (default: online CPUs)\n"
	"  --progress    one line per seed on stderr even when it is not a terminal\n"
	"  --json        print the result as one JSON object on stdout\n";

static int usage(int rc)
{
	fputs(usage_text, rc ? stderr : stdout);
	return rc;
}

#define NOMEM "noise.nomem" /* the --json answer when the result cannot be encoded */

static json_t *result_json(const struct noise_result *r)
{
	json_t *hid = json_array(), *pub = json_array();

	for (int i = 0; hid && pub && i < r->seeds; i++) {
		json_array_append_new(hid, json_real(r->hidden_bpb[i]));
		json_array_append_new(pub, json_real(r->public_bpb[i]));
	}
	return json_pack("{s:b, s:s, s:s, s:s, s:i, s:o, s:o, s:f, s:f, s:f, s:f, s:f, s:i, s:i}", "ok", 1, "format",
			 NOISE_FORMAT, "king", r->king_tag, "scale", r->scale, "seeds", r->seeds, "hidden_bpb", hid,
			 "public_bpb", pub, "mean", r->mean, "sigma", r->sigma, "margin", r->margin,
			 "king_hidden_bpb", r->king_hidden_bpb, "wall_s", r->wall_s, "causality_probes",
			 r->causality_probes, "causality_aimed", r->causality_aimed);
}

int cmd_noise_floor(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seeds", required_argument, 0, 'n' }, { "threads", required_argument, 0, 't' },
		{ "progress", no_argument, 0, 'p' },    { "json", no_argument, 0, 'j' },
		{ "help", no_argument, 0, 'h' },        { 0, 0, 0, 0 },
	};
	struct noise_opts o = { .seeds = NOISE_SEEDS_DEFAULT, .threads = cli_default_threads(CLI_THREADS_MAX) };
	struct noise_result r = { 0 };
	struct vstate s = { 0 };
	struct kerr err = { { 0 }, { 0 } };
	int as_json = 0, c, rc;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (cli_parse_int(optarg, NOISE_SEEDS_MIN, NOISE_SEEDS_MAX, &o.seeds) < 0) {
				fprintf(stderr, "karpa noise-floor: --seeds must be %d..%d\n", NOISE_SEEDS_MIN,
					NOISE_SEEDS_MAX);
				return EXIT_USAGE;
			}
			break;
		case 't':
			if (cli_threads_arg("noise-floor", optarg, &o.threads) < 0)
				return EXIT_USAGE;
			break;
		case 'p': o.progress = 1; break;
		case 'j': as_json = 1; break;
		case 'h': return usage(EXIT_OK);
		default:
			fprintf(stderr, "karpa noise-floor: unknown or incomplete option '%s'\n", argv[optind - 1]);
			return usage(EXIT_USAGE);
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "karpa noise-floor: one STATE folder is required\n");
		return usage(EXIT_USAGE);
	}
	o.progress = o.progress || isatty(STDERR_FILENO);
	if (validator_open(argv[optind], &s, &err) < 0)
		return cli_fail_json(&err, as_json, NOMEM);
	rc = noise_floor(&s, &o, &r, &err);
	vstate_close(&s);
	if (rc < 0)
		return cli_fail_json(&err, as_json, NOMEM);
	if (as_json) {
		cli_print_json(result_json(&r), JSON_SORT_KEYS, NOMEM);
	} else {
		printf("noise floor of %s at scale %s over %d seeds: mean hidden bpb %.6f, sigma %.6f, margin %.6f\n",
		       r.king_tag, r.scale, r.seeds, r.mean, r.sigma, r.margin);
		printf("king hidden bpb (seed 1) %.6f; measured in %.1f s; causality audit: %d probes and %d aimed "
		       "probes, all passed\n",
		       r.king_hidden_bpb, r.wall_s, r.causality_probes, r.causality_aimed);
	}
	noise_result_free(&r);
	return EXIT_OK;
}
