/* cmd_bench.c: `karpa bench engine`. Times the built-in recipe's training
 * step (forward, backward, AdamW) on the benchmark shape with random tokens,
 * through the recipe host like every other caller.
 * Owns the bench command's output contract (--json: one object). Never
 * asserts a speed; bench/run.sh sets the figure beside PyTorch's. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cmds.h"
#include "sandbox/recipe_build.h"
#include "sandbox/recipe_pipe.h"
#include "util/fsutil.h"
#include "util/kerr.h"

/* The benchmark model's vocabulary: the cpu scale's tokenizer size. */
#define BENCH_VOCAB 4096
#define BENCH_SEED 1
#define BENCH_STEPS_DEFAULT 10
#define BENCH_WARMUP_DEFAULT 2
#define BENCH_STEPS_MAX 100000

static const char usage_text[] =
	"usage: karpa bench engine [--threads T] [--steps N] [--warmup N] [--json]\n"
	"\n"
	"Times training steps (forward, backward, AdamW) of the recipe's \"bench\" config\n"
	"(d_model 256, 4 layers, 4 heads, context 256, vocab 4096, batch 8) on random tokens\n"
	"and prints tokens/s and ms/step.\n"
	"  --threads T   worker threads (default 1)\n"
	"  --steps N     timed steps (default 10), after --warmup N untimed ones (default 2)\n"
	"  --json        print one JSON object on stdout\n";

static int usage(int rc)
{
	fputs(usage_text, rc ? stderr : stdout);
	return rc;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* xorshift64: the benchmark's tokens only need to be arbitrary and fixed. */
static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* The recipe runs where every recipe runs: in its runner, behind the pipe
 * host (the recipe is never linked into karpa). The per-step cost of the
 * pipe (one batch of tokens out, two floats back) is microseconds. */
static int bench_engine(int threads, int steps, int warmup, int as_json)
{
	struct kr_env env = { .seed = BENCH_SEED, .threads = threads, .vocab_size = BENCH_VOCAB,
			      .scale = "bench" };
	struct recipe_host h;
	struct kr_plan plan;
	struct kerr err = { 0 };
	char runner[FS_PATH_MAX];
	uint16_t *tok = NULL;
	uint64_t rs = 0x2545f4914f6cdd1dull;
	float loss = 0, lr = 0;
	double t0 = 0, dt;
	int rc = EXIT_FAIL, have_host = 0;

	memset(&h, 0, sizeof h);
	if (recipe_default_runner(runner, sizeof runner, &err) < 0 ||
	    recipe_host_pipe(&h, runner, NULL, NULL, &err) < 0)
		goto fail;
	have_host = 1;
	if (recipe_host_create(&h, &env, &plan, &err) < 0)
		goto fail;
	size_t n = (size_t)plan.batch * (size_t)(plan.seq_len + 1);
	if (!(tok = malloc(n * sizeof *tok))) {
		kerr_set(&err, "bench.nomem", "out of memory for %zu tokens", n);
		goto fail;
	}
	for (size_t i = 0; i < n; i++)
		tok[i] = (uint16_t)(xorshift(&rs) % BENCH_VOCAB);
	for (int s = 0; s < warmup + steps; s++) {
		if (s == warmup)
			t0 = now_s();
		if (h.train_step(&h, s, tok, &loss, &lr, &err) < 0)
			goto fail;
	}
	dt = now_s() - t0;
	recipe_host_destroy(&h);
	have_host = 0;
	{
		double ms = dt * 1000.0 / steps, tps = (double)plan.batch * plan.seq_len * steps / dt;
		struct rusage ru;
		double rss_mb;
		getrusage(RUSAGE_CHILDREN, &ru); /* the runner, reaped by destroy */
		rss_mb = (double)ru.ru_maxrss / 1024.0;
		if (as_json) {
			json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:I, s:f, s:f, s:f, s:f}",
					      "bench", "engine", "impl", "karpa", "recipe", plan.name,
					      "recipe_version", plan.version, "threads", threads, "steps",
					      steps, "batch", plan.batch, "seq_len", plan.seq_len, "params",
					      (json_int_t)plan.params, "ms_per_step", ms, "tokens_per_s", tps,
					      "peak_rss_mb", rss_mb, "loss", (double)loss);
			cli_print_json(o, JSON_SORT_KEYS, NULL);
		} else {
			printf("karpa engine threads=%d  %.1f ms/step  %.0f tok/s  params %lld  peak rss %.0f MB\n",
			       threads, ms, tps, (long long)plan.params, rss_mb);
		}
	}
	rc = EXIT_OK;
	goto out;
fail:
	rc = cli_fail(&err);
out:
	free(tok);
	if (have_host)
		recipe_host_destroy(&h);
	return rc;
}

int cmd_bench(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "threads", required_argument, NULL, 't' }, { "steps", required_argument, NULL, 's' },
		{ "warmup", required_argument, NULL, 'w' },  { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },          { NULL, 0, NULL, 0 },
	};
	int threads = 1, steps = BENCH_STEPS_DEFAULT, warmup = BENCH_WARMUP_DEFAULT, as_json = 0, c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (cli_threads_arg("bench", optarg, &threads) < 0)
				return usage(EXIT_USAGE);
			break;
		case 's':
			if (cli_parse_int(optarg, 1, BENCH_STEPS_MAX, &steps) < 0)
				return usage(EXIT_USAGE);
			break;
		case 'w':
			if (cli_parse_int(optarg, 0, BENCH_STEPS_MAX, &warmup) < 0)
				return usage(EXIT_USAGE);
			break;
		case 'j':
			as_json = 1;
			break;
		case 'h':
			return usage(EXIT_OK);
		default:
			return usage(EXIT_USAGE);
		}
	}
	if (optind != argc - 1 || strcmp(argv[optind], "engine"))
		return usage(EXIT_USAGE);
	return bench_engine(threads, steps, warmup, as_json);
}
