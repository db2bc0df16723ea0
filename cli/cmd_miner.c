/* cmd_miner.c: `karpa miner run`: flags in, miner_run, a summary out
 * (docs/miner.md). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "miner/miner.h"
#include "proof/prove.h"
#include "util/kerr.h"

static const char usage_text[] =
	"usage: karpa miner run --validator URL --key FILE --work DIR --data DIR\n"
	"                       [--experiments N] [--minutes M] [--seed S] [--threads T] [--hold] [--no-sandbox]\n"
	"                       [--verdict-timeout S] [--progress]\n"
	"Searches the recipe's knobs against a validator's king: trains each idea locally at the\n"
	"validator's scale, keeps one only when its public val_bpb beats the king's by the noise\n"
	"margin, then proves it, submits it and follows its verdict (answering a challenge).\n"
	"Every experiment is recorded in DIR/results.tsv and DIR/experiments/; a restarted miner\n"
	"goes on where it stopped.\n"
	"  --data DIR        the public data folder of the validator's scale (karpa data prepare)\n"
	"  --experiments N   stop after N new experiments (default: no limit)\n"
	"  --minutes M       start no experiment after M minutes (default: no limit)\n"
	"  --seed S          the search's seed (tie-breaks; training always uses the king's seed)\n"
	"  --threads T       training threads (default: online CPUs)\n"
	"  --proposer P      search (built in, the default) or agent\n"
	"  --agent CMD       with --proposer agent: the program to ask (run with sh -c; one JSON\n"
	"                    request on stdin, one JSON answer on stdout: docs/program.md)\n"
	"  --agent-timeout S seconds one proposal may take (default 300)\n"
	"  --program FILE    the agents' instructions sent with each request (default docs/program.md)\n"
	"  --verdict-timeout S  seconds to send one proof and follow it to its verdict, a validator\n"
	"                    that is down or full asked again meanwhile (default 86400); past it the\n"
	"                    proof waits for the next start\n"
	"  --hold            proofs hold their checkpoints back and send the validator the ones it\n"
	"                    draws (the default at the gpu-* scales; docs/bundle.md)\n"
	"  --no-sandbox      train trials and proofs unconfined: the king's code and the proposer's\n"
	"                    patches then run with your user's rights (docs/sandbox.md)\n";

int cmd_miner(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "validator", required_argument, 0, 'v' }, { "key", required_argument, 0, 'k' },
		{ "work", required_argument, 0, 'w' },	    { "data", required_argument, 0, 'd' },
		{ "experiments", required_argument, 0, 'n' }, { "minutes", required_argument, 0, 'm' },
		{ "seed", required_argument, 0, 'S' },	    { "threads", required_argument, 0, 't' },
		{ "progress", no_argument, 0, 'P' },	    { "help", no_argument, 0, 'h' },
		{ "proposer", required_argument, 0, 'p' },  { "agent", required_argument, 0, 'a' },
		{ "agent-timeout", required_argument, 0, 'T' }, { "program", required_argument, 0, 'g' },
		{ "hold", no_argument, 0, 'H' },	    { "no-sandbox", no_argument, 0, 'U' },
		{ "verdict-timeout", required_argument, 0, 'V' },
		{ 0, 0, 0, 0 },
	};
	struct miner_opts o = { .seed = 1, .verdict_timeout_s = 86400, .proposer = "search", .agent_timeout_s = 300,
				.program = "docs/program.md", .hold = PROVE_HOLD_BY_SCALE };
	struct miner_stats st;
	struct kerr err = { { 0 }, { 0 } };
	char *end;
	int c;

	o.threads = cli_default_threads(CLI_THREADS_MAX);
	if (argc < 2 || strcmp(argv[1], "run")) {
		if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
			fputs(usage_text, stdout);
			return EXIT_OK;
		}
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	argc--;
	argv++;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'v': o.validator = optarg; break;
		case 'k': o.key = optarg; break;
		case 'w': o.work = optarg; break;
		case 'd': o.data = optarg; break;
		case 'n':
			if (cli_parse_int(optarg, 1, 1000000, &o.experiments) < 0) {
				fprintf(stderr, "karpa miner: --experiments must be 1..1000000\n");
				return EXIT_USAGE;
			}
			break;
		case 'm':
			o.minutes = strtod(optarg, &end);
			if (end == optarg || *end || !isfinite(o.minutes) || !(o.minutes > 0)) {
				fprintf(stderr, "karpa miner: --minutes must be a positive number\n");
				return EXIT_USAGE;
			}
			break;
		case 'S':
			if (cli_parse_u64(optarg, 0, ((uint64_t)1 << 53) - 1, &o.seed) < 0) {
				fprintf(stderr, "karpa miner: --seed must be an integer in 0..2^53-1\n");
				return EXIT_USAGE;
			}
			break;
		case 't':
			if (cli_threads_arg("miner", optarg, &o.threads) < 0)
				return EXIT_USAGE;
			break;
		case 'P': o.progress = 1; break;
		case 'p': o.proposer = optarg; break;
		case 'a': o.agent = optarg; break;
		case 'g': o.program = optarg; break;
		case 'H': o.hold = 1; break;
		case 'U': o.no_sandbox = 1; break;
		case 'T':
			if (cli_parse_int(optarg, 1, 86400, &o.agent_timeout_s) < 0) {
				fprintf(stderr, "karpa miner: --agent-timeout must be 1..86400 seconds\n");
				return EXIT_USAGE;
			}
			break;
		case 'V': {
			int v;

			if (cli_parse_int(optarg, 1, 30 * 86400, &v) < 0) {
				fprintf(stderr, "karpa miner: --verdict-timeout must be 1..2592000 seconds\n");
				return EXIT_USAGE;
			}
			o.verdict_timeout_s = v;
			break;
		}
		case 'h': fputs(usage_text, stdout); return EXIT_OK;
		default: fputs(usage_text, stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc || !o.validator || !o.key || !o.work || !o.data) {
		fprintf(stderr, "karpa miner run: --validator, --key, --work and --data are required\n");
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	if (strcmp(o.proposer, "search") && strcmp(o.proposer, "agent")) {
		fprintf(stderr, "karpa miner run: --proposer must be search or agent\n");
		return EXIT_USAGE;
	}
	if (!strcmp(o.proposer, "agent") && !o.agent) {
		fprintf(stderr, "karpa miner run: --proposer agent needs --agent CMD (see agents/knob-agent)\n");
		return EXIT_USAGE;
	}
	if (miner_run(&o, &st, &err) < 0)
		return cli_fail(&err);
	printf("miner: %d experiments run (%d crashed), %d kept, %d submitted, %d kings%s\n", st.run, st.crashed,
	       st.kept, st.submitted, st.kings, st.exhausted ? "; the search is exhausted" : "");
	if (st.train_s + st.prove_s + st.challenge_s > 0) {
		double all = st.train_s + st.prove_s + st.challenge_s;
		printf("miner: compute %.0f s: short runs and baselines %.0f%%, full runs (each a proof) %.0f%%,"
		       " challenge answers %.0f%%\n",
		       all, 100 * st.train_s / all, 100 * st.prove_s / all, 100 * st.challenge_s / all);
	}
	printf("results %s/results.tsv\n", o.work);
	return EXIT_OK;
}
