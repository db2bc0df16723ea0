/* cmd_eval.c: `karpa eval`. Verifies a checkpoint, loads it into the recipe
 * and scores a split with the harness's evaluator. Owns the eval command's
 * output contract (--json: one object) and its per-window losses file
 * (--per-window-out: what the sequential judge pairs, docs/judging-checks.md). */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "sandbox/recipe_host.h"
#include "harness/train.h"
#include "util/fsutil.h"
#include "util/kerr.h"

#define WINDOWS_FORMAT "karpa-window-losses-1" /* the --per-window-out file */

static const char usage_text[] =
	"usage: karpa eval --ckpt FILE --data DIR --split val|hidden [--threads T] [--tokens N]\n"
	"                  [--recipe DIR] [--per-window-out FILE] [--no-sandbox] [--json]\n"
	"\n"
	"Verifies a checkpoint, loads it into the recipe (built-in, or --recipe DIR built and run in\n"
	"its own process) and reports val_bpb\n"
	"on a split of a prepared data folder (the hidden split only exists in a\n"
	"validator's folder).\n"
	"  --threads T   worker threads (default: online CPUs; results do not depend on it)\n"
	"  --tokens N    score only the first N targets (default: the scale's, see docs/data.md)\n"
	"  --per-window-out FILE  also write each window's cross-entropy (nats, its targets' sum),\n"
	"                one a line in split order, under a '#' header (format " WINDOWS_FORMAT ")\n"
	"  --no-sandbox  run the recipe with your user's rights instead of in the validator's\n"
	"                sandbox layers (docs/sandbox.md): only for code you have read\n"
	"  --json        print the result as one JSON object on stdout\n";

static int usage(int rc)
{
	fputs(usage_text, rc ? stderr : stdout);
	return rc;
}

#define NOMEM "eval.nomem" /* the --json answer when the report cannot be encoded */

static json_t *report_json(const struct eval_report *r, const char *ckpt, const char *box)
{
	return json_pack("{s:b, s:s, s:f, s:f, s:I, s:I, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s}",
			 "ok", 1, "split", dataset_split_name(r->split), "val_bpb", r->res.val_bpb,
			 "loss", r->res.loss, "targets", (json_int_t)r->res.targets, "bytes",
			 (json_int_t)r->res.bytes, "ckpt", ckpt, "ckpt_sha256", r->ckpt_sha256,
			 "recipe", r->recipe, "recipe_version", r->recipe_version, "step",
			 (json_int_t)r->step, "seed", (json_int_t)r->seed, "scale", r->scale, "data",
			 r->data_digest, "sandbox", box);
}

/* Each window's sum of its targets' nats (seq_len of them; the short last
 * window's fewer), added in split order as the evaluator adds a row. */
static int write_windows(const char *path, const struct eval_report *r, const double *nats, struct kerr *err)
{
	struct fs_atomic a;
	FILE *f;
	uint64_t T = (uint64_t)r->seq_len, n = r->res.targets, full = n / T;

	if (fs_atomic_open(&a, path, 0644, 0, err) < 0)
		return -1;
	f = fs_atomic_stream(&a);
	fprintf(f, "# %s\n# ckpt_sha256 %s\n# recipe %s %s\n# scale %s\n# step %" PRId64 "\n# seed %" PRIu64 "\n",
		WINDOWS_FORMAT, r->ckpt_sha256, r->recipe, r->recipe_version, r->scale, r->step, r->seed);
	fprintf(f, "# data %s\n# split %s\n# seq_len %d\n# eval_batch %d\n# targets %" PRIu64 "\n# bytes %" PRIu64
		"\n# full_windows %" PRIu64 "\n# tail_targets %" PRIu64 "\n# val_bpb %.17g\n",
		r->data_digest, dataset_split_name(r->split), r->seq_len, r->eval_batch, n, r->res.bytes, full,
		n - full * T, r->res.val_bpb);
	for (uint64_t w = 0; w < n; w += T) {
		uint64_t end = w + T < n ? w + T : n;
		double row = 0;
		for (uint64_t t = w; t < end; t++)
			row += nats[t];
		fprintf(f, "%.17g\n", row);
	}
	return fs_atomic_commit(&a, err);
}

/* The data folder, open, and room for every target of sid it could score. */
static int open_windows(const char *data, enum dataset_split_id sid, struct dataset *d, double **nats,
			struct kerr *err)
{
	const uint16_t *toks;
	size_t n;

	*nats = NULL;
	if (dataset_open(data, d, err) < 0)
		return -1;
	if (dataset_tokens(d, sid, &toks, &n, err) < 0) {
		dataset_close(d);
		return -1;
	}
	if (!(*nats = calloc(n > 1 ? n - 1 : 1, sizeof **nats))) {
		dataset_close(d);
		return kerr_set(err, "eval.nomem", "out of memory for %zu losses", n);
	}
	return 0;
}

int cmd_eval(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ckpt", required_argument, 0, 'c' },	 { "recipe", required_argument, 0, 'r' },
			 { "data", required_argument, 0, 'd' },
		{ "split", required_argument, 0, 's' },	 { "threads", required_argument, 0, 't' },
		{ "tokens", required_argument, 0, 'n' }, { "json", no_argument, 0, 'j' },
		{ "per-window-out", required_argument, 0, 'w' }, { "no-sandbox", no_argument, 0, 'U' },
		{ "help", no_argument, 0, 'h' },	 { 0, 0, 0, 0 },
	};
	const char *ckpt = NULL, *data = NULL, *split = NULL, *recipe = NULL, *win_out = NULL;
	int threads = cli_default_threads(CLI_THREADS_MAX);
	uint64_t cap = 0;
	struct eval_report rep;
	struct recipe_host h;
	struct runbox rb = { 0 };
	enum runbox_mode mode = RUNBOX_ON;
	char box[320];
	struct kerr err = { { 0 }, { 0 } };
	enum dataset_split_id sid;
	struct dataset d;
	double *nats = NULL;
	int as_json = 0, c, rc;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': ckpt = optarg; break;
		case 'r': recipe = optarg; break;
		case 'd': data = optarg; break;
		case 's': split = optarg; break;
		case 'w': win_out = optarg; break;
		case 'U': mode = RUNBOX_OFF; break;
		case 'j': as_json = 1; break;
		case 'h': return usage(EXIT_OK);
		case 't':
			if (cli_threads_arg("eval", optarg, &threads) < 0)
				return EXIT_USAGE;
			break;
		case 'n':
			if (cli_parse_u64(optarg, 1, UINT64_MAX, &cap) < 0) {
				fprintf(stderr, "karpa eval: --tokens must be a positive integer\n");
				return EXIT_USAGE;
			}
			break;
		default:
			fprintf(stderr, "karpa eval: unknown or incomplete option '%s'\n", argv[optind - 1]);
			return usage(EXIT_USAGE);
		}
	}
	if (!ckpt || !data || !split || optind != argc) {
		fprintf(stderr, "karpa eval: --ckpt, --data and --split are required\n");
		return usage(EXIT_USAGE);
	}
	if (!strcmp(split, "val"))
		sid = SPLIT_VAL;
	else if (!strcmp(split, "hidden"))
		sid = SPLIT_HIDDEN;
	else {
		fprintf(stderr, "karpa eval: --split must be val or hidden\n");
		return usage(EXIT_USAGE);
	}
	if (win_out && open_windows(data, sid, &d, &nats, &err) < 0)
		return cli_fail_json(&err, as_json, NOMEM);
	rc = cli_recipe_host(recipe, mode, threads, &rb, &h, 0, &err);
	if (rc == 0)
		rc = train_eval_checkpoint_data(ckpt, win_out ? &d : NULL, data, sid, threads, cap, nats, &h,
						runbox_explain, &rb, &rep, &err);
	runbox_describe(&rb, box, sizeof box);
	runbox_free(&rb);
	if (rc == 0 && win_out)
		rc = write_windows(win_out, &rep, nats, &err);
	if (win_out)
		dataset_close(&d);
	free(nats);
	if (rc < 0)
		return cli_fail_json(&err, as_json, NOMEM);
	if (as_json) {
		cli_print_json(report_json(&rep, ckpt, box), JSON_SORT_KEYS, NOMEM);
		return EXIT_OK;
	}
	printf("val_bpb %.6f on %s  (loss %.4f over %llu targets, %llu bytes)\n", rep.res.val_bpb,
	       split, rep.res.loss, (unsigned long long)rep.res.targets,
	       (unsigned long long)rep.res.bytes);
	printf("checkpoint %s: recipe %s %s, scale %s, step %lld, sha256 %.16s...\n", ckpt,
	       rep.recipe, rep.recipe_version, rep.scale, (long long)rep.step, rep.ckpt_sha256);
	return EXIT_OK;
}
