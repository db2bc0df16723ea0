/* cmd_train.c: `karpa train`. Parses flags, picks the recipe host, calls
 * train_run, prints. Owns the train command's output contract (--json: one
 * object, format karpa-result-1, the same object as RUNDIR/result.json). */
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "sandbox/recipe_host.h"
#include "harness/train.h"
#include "util/kerr.h"

static const char usage_text[] =
	"usage: karpa train --scale SCALE --data DIR --seed N --out RUNDIR [--threads T]\n"
	"                   [--recipe DIR] [--runner-isa ISA | --device cuda] [--eval-tokens N] [--final-only]\n"
	"                   [--no-sandbox] [--progress] [--json]\n"
	"\n"
	"Trains the recipe at a scale on a prepared data folder, checkpoints into\n"
	"RUNDIR, evaluates val_bpb on the val split and writes RUNDIR/result.json.\n"
	"RUNDIR must not exist (or be empty); it appears only when the run is complete.\n"
	"SCALE: tiny, cpu, gpu-125m or gpu-254m (the gpu scales with --device cuda).\n"
	"  --threads T       worker threads (default: online CPUs; results do not depend on it)\n"
	"  --recipe DIR      a recipe folder, built with the pinned flags and run in its own process\n"
	"  --runner-isa ISA  build the recipe for ISA (aarch64) and run it under qemu-user\n"
	"                    (docs/determinism.md); without --recipe, the source tree's recipe\n"
	"  --device cuda     build the recipe's CUDA part and train on the GPU (docs/gpu.md)\n"
	"  --eval-tokens N   score only the first N val targets (default: the scale's, see docs/data.md)\n"
	"  --final-only      no checkpoints but the final one: a screening run, faster at the gpu\n"
	"                    scales, that binds no segments and so can never be proved\n"
	"  --no-sandbox      run the recipe with your user's rights instead of in the validator's\n"
	"                    sandbox layers (docs/sandbox.md): only for code you have read\n"
	"  --progress        progress lines and the loss plot even when stderr is not a terminal\n"
	"  --json            print the result as one JSON object on stdout\n";

static int usage(int rc)
{
	fputs(usage_text, rc ? stderr : stdout);
	return rc;
}

#define NOMEM "train.nomem" /* the --json answer when the result cannot be encoded */

int cmd_train(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "scale", required_argument, 0, 's' },	  { "data", required_argument, 0, 'd' },
		{ "seed", required_argument, 0, 'S' },	  { "threads", required_argument, 0, 't' },
		{ "out", required_argument, 0, 'o' },	  { "recipe", required_argument, 0, 'r' },
		{ "eval-tokens", required_argument, 0, 'e' }, { "progress", no_argument, 0, 'p' },
		{ "runner-isa", required_argument, 0, 'I' }, { "device", required_argument, 0, 'D' },
		{ "json", no_argument, 0, 'j' },	  { "help", no_argument, 0, 'h' },
		{ "final-only", no_argument, 0, 'F' },	  { "no-sandbox", no_argument, 0, 'U' },
		{ 0, 0, 0, 0 },
	};
	struct train_opts o = { .threads = cli_default_threads(CLI_THREADS_MAX) };
	struct train_result res;
	struct recipe_host h;
	struct runbox rb;
	struct kerr err = { { 0 }, { 0 } };
	const char *recipe = NULL, *isa = NULL, *device = "cpu";
	char box[320];
	enum runbox_mode mode = RUNBOX_ON;
	int as_json = 0, have_seed = 0, c, rc;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': o.scale = optarg; break;
		case 'd': o.data_dir = optarg; break;
		case 'o': o.out_dir = optarg; break;
		case 'r': recipe = optarg; break;
		case 'I': isa = optarg; break;
		case 'D': device = optarg; break;
		case 'p': o.progress = 1; break;
		case 'F': o.final_only = 1; break;
		case 'U': mode = RUNBOX_OFF; break;
		case 'j': as_json = 1; break;
		case 'h': return usage(EXIT_OK);
		case 'S':
			if (cli_parse_u64(optarg, 0, TRAIN_SEED_MAX, &o.seed) < 0) {
				fprintf(stderr, "karpa train: --seed must be an integer 0..%llu\n",
					(unsigned long long)TRAIN_SEED_MAX);
				return EXIT_USAGE;
			}
			have_seed = 1;
			break;
		case 't':
			if (cli_threads_arg("train", optarg, &o.threads) < 0)
				return EXIT_USAGE;
			break;
		case 'e':
			if (cli_parse_u64(optarg, 1, UINT64_MAX, &o.eval_targets_max) < 0) {
				fprintf(stderr, "karpa train: --eval-tokens must be a positive integer\n");
				return EXIT_USAGE;
			}
			break;
		default:
			fprintf(stderr, "karpa train: unknown or incomplete option '%s'\n", argv[optind - 1]);
			return usage(EXIT_USAGE);
		}
	}
	if (!o.scale || !o.data_dir || !o.out_dir || !have_seed || optind != argc) {
		fprintf(stderr, "karpa train: --scale, --data, --seed and --out are required\n");
		return usage(EXIT_USAGE);
	}
	if ((strcmp(device, "cpu") && strcmp(device, "cuda")) || (isa && !strcmp(device, "cuda"))) {
		fprintf(stderr, "karpa train: --device is cpu or cuda, and cuda takes no --runner-isa\n");
		return usage(EXIT_USAGE);
	}
	o.plot = o.progress || isatty(STDERR_FILENO);
	if ((!strcmp(device, "cuda") ? cli_recipe_host_cuda(recipe, mode, o.threads, &rb, &h, o.progress, &err)
				     : cli_recipe_host_isa(recipe, isa, mode, o.threads, &rb, &h, o.progress, &err)) < 0)
		return cli_fail_json(&err, as_json, NOMEM);
	o.on_fail = runbox_explain;
	o.on_fail_arg = &rb;
	rc = train_run(&o, &h, &res, &err); /* destroys h */
	runbox_describe(&rb, box, sizeof box);
	runbox_free(&rb);
	if (rc < 0)
		return cli_fail_json(&err, as_json, NOMEM);
	if (o.progress)
		fprintf(stderr, "the recipe ran %s\n", box);
	if (as_json) {
		json_t *j = train_result_json(&res);
		if (j)
			json_object_set_new(j, "ok", json_true());
		cli_print_json(j, JSON_SORT_KEYS, NOMEM);
		return EXIT_OK;
	}
	printf("val_bpb %.6f  (val loss %.4f over %llu targets, %llu bytes)\n", res.val.val_bpb,
	       res.val.loss, (unsigned long long)res.val.targets, (unsigned long long)res.val.bytes);
	printf("recipe %s %s, scale %s, seed %llu: %lld steps, %llu tokens, %lld params, %.1f s\n",
	       res.recipe, res.recipe_version, res.scale, (unsigned long long)res.seed,
	       (long long)res.steps, (unsigned long long)res.tokens, (long long)res.params,
	       res.wall_ms / 1e3);
	printf("run folder %s (final.ckpt %.16s..., log head %.16s...)\n", o.out_dir,
	       res.final_sha256, res.log_head);
	printf("recipe ran %s\n", box);
	return EXIT_OK;
}
