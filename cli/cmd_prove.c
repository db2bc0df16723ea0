/* cmd_prove.c: `karpa prove`: flags in, prove_run, a summary out. */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "proof/prove.h"

static const char usage_text[] =
	"usage: karpa prove --recipe REPO --king TAG --patch FILE --rationale FILE --key FILE\n"
	"                   --data DIR --scale S --out BUNDLE [--tar FILE] [--seed N] [--threads T]\n"
	"                   [--budget UNITS] [--runner-isa ISA | --device cuda] [--hold | --keep-all]\n"
	"                   [--mock-attestation] [--no-sandbox] [--progress] [--json]\n"
	"Applies the patch to the king, builds it, calibrates, trains under the seed and budget,\n"
	"evaluates val_bpb on the public split, and writes a signed, attested bundle.\n"
	"--runner-isa aarch64 builds the recipe for aarch64 and trains and evaluates under qemu-user:\n"
	"a proof made on aarch64 that validators replay natively (docs/determinism.md).\n"
	"--device cuda trains the recipe's CUDA part on this machine's GPU, calibrates with a bf16\n"
	"GEMM on the GPU and records the GPU's model in the manifest; the gpu-* scales require it\n"
	"(docs/gpu.md, docs/calibration.md).\n"
	"--hold keeps only the last intermediate checkpoint in the bundle and the others in\n"
	"BUNDLE.held, for a validator to ask for the ones it draws (the default at the gpu-* scales,\n"
	"whose checkpoints are GBs each); --keep-all keeps every one in the bundle (docs/bundle.md).\n"
	"The recipe trains in the validator's sandbox: the king's code is every past winner's, not\n"
	"yours. --no-sandbox runs it with your user's rights (docs/sandbox.md, \"Outside a judgment\").\n";

int cmd_prove(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "recipe", required_argument, 0, 'r' }, { "king", required_argument, 0, 'K' },
		{ "patch", required_argument, 0, 'p' },	 { "rationale", required_argument, 0, 'R' },
		{ "key", required_argument, 0, 'k' },	 { "data", required_argument, 0, 'd' },
		{ "scale", required_argument, 0, 's' },	 { "out", required_argument, 0, 'o' },
		{ "tar", required_argument, 0, 'T' },	 { "seed", required_argument, 0, 'S' },
		{ "threads", required_argument, 0, 't' }, { "budget", required_argument, 0, 'b' },
		{ "mock-attestation", no_argument, 0, 'M' }, { "progress", no_argument, 0, 'P' },
		{ "json", no_argument, 0, 'j' },	 { "help", no_argument, 0, 'h' },
		{ "runner-isa", required_argument, 0, 'I' }, { "device", required_argument, 0, 'D' },
		{ "hold", no_argument, 0, 'H' },	 { "keep-all", no_argument, 0, 'A' },
		{ "no-sandbox", no_argument, 0, 'U' },	 { 0, 0, 0, 0 },
	};
	struct prove_opts o = { .seed = PROVE_SEED_DEFAULT, .threads = 1, .progress = isatty(2),
				.hold = PROVE_HOLD_BY_SCALE };
	struct prove_result r;
	struct kerr err = { { 0 }, { 0 } };
	int as_json = 0, c;

	o.threads = cli_default_threads(CLI_THREADS_MAX);
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r': o.recipe_repo = optarg; break;
		case 'K': o.king = optarg; break;
		case 'p': o.patch = optarg; break;
		case 'R': o.rationale = optarg; break;
		case 'k': o.key = optarg; break;
		case 'd': o.data = optarg; break;
		case 's': o.scale = optarg; break;
		case 'o': o.out = optarg; break;
		case 'T': o.tar = optarg; break;
		case 'S':
			if (cli_parse_u64(optarg, 0, ((uint64_t)1 << 53) - 1, &o.seed) < 0) {
				fprintf(stderr, "karpa prove: --seed must be an integer in 0..2^53-1\n");
				return EXIT_USAGE;
			}
			break;
		case 't':
			if (cli_threads_arg("prove", optarg, &o.threads) < 0)
				return EXIT_USAGE;
			break;
		case 'b': {
			char *end;
			/* The whole argument must be the number: "5x" is a typo, not 5. */
			o.budget_units = strtod(optarg, &end);
			if (end == optarg || *end || !isfinite(o.budget_units) || !(o.budget_units > 0)) {
				fprintf(stderr, "karpa prove: --budget must be a positive number of units\n");
				return EXIT_USAGE;
			}
			break;
		}
		case 'M': o.force_mock = 1; break;
		case 'I': o.runner_isa = optarg; break;
		case 'D':
			if (strcmp(optarg, "cpu") && strcmp(optarg, "cuda")) {
				fprintf(stderr, "karpa prove: --device is cpu or cuda\n");
				return EXIT_USAGE;
			}
			o.cuda = !strcmp(optarg, "cuda");
			break;
		case 'H': o.hold = 1; break;
		case 'A': o.hold = 0; break;
		case 'U': o.no_sandbox = 1; break;
		case 'P': o.progress = 1; break;
		case 'j': as_json = 1; break;
		case 'h': fputs(usage_text, stdout); return EXIT_OK;
		default: fputs(usage_text, stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc || !o.recipe_repo || !o.king || !o.patch || !o.rationale || !o.key || !o.data ||
	    !o.scale || !o.out) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	if (prove_run(&o, &r, &err) < 0)
		return cli_fail(&err);
	if (as_json) {
		cli_print_json(json_pack("{s:s, s:s, s:s, s:f, s:f, s:I, s:f, s:f, s:f, s:i, s:s}", "bundle", o.out,
					 "manifest_sha256", r.manifest_sha256, "attestation", r.attest_kind, "alpha",
					 r.alpha, "val_bpb", r.val_bpb, "steps", (json_int_t)r.steps, "train_s",
					 r.train_s, "allowed_s", r.allowed_s, "wall_s", r.wall_s, "held", r.held,
					 "sandbox", r.sandbox),
			       JSON_SORT_KEYS, "prove.nomem");
	}
	else
		printf("bundle    %s\nmanifest  %s\nval_bpb   %.4f (public split)\nsteps     %lld\ntraining  %.1f s of "
		       "%.1f s allowed%s\nattest    %s%s\nrecipe    %s\n",
		       o.out, r.manifest_sha256, r.val_bpb, (long long)r.steps, r.train_s, r.allowed_s,
		       r.alpha < 1.0 ? " (the budget halved: an unverified proof's compute counts double)" : "",
		       r.attest_kind, r.alpha < 1.0 ? " (UNVERIFIED tier, alpha 0.5)" : "", r.sandbox);
	if (!as_json && r.held)
		printf("held      %d checkpoints in %s%s: keep them until the verdict\n", r.held, o.out, PROVE_HELD_SUFFIX);
	return EXIT_OK;
}
