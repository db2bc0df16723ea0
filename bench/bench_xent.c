/* bench_xent.c: the evaluator's cross-entropy (src/harness/xent.c) on one
 * thread, each path this CPU runs, against PyTorch's
 * torch.nn.functional.cross_entropy on CPU (float32, one thread) on the
 * same shapes in the same run. Every vector path's losses are checked
 * against the scalar path's bits. Prints nanoseconds per logit and ratios;
 * asserts nothing but the check. usage: bench_xent [REPEATS] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness/xent.h"

#define BENCH_REPEATS 3
#define POSITIONS 1024

/* The cpu scale's vocabulary and GPT-2's (the GPU scales). */
static const int vocabs[] = { 4096, 50257 };

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* PyTorch's seconds for one cross-entropy over n x V float32 logits, the
 * best of `reps`; a negative value when the peer cannot run. */
static double torch_seconds(int n, int V, int reps)
{
	char cmd[1024];
	double s = -1;
	FILE *p;

	snprintf(cmd, sizeof cmd,
		 "/usr/bin/python3 -c 'import time, torch\n"
		 "torch.set_num_threads(1)\n"
		 "g = torch.Generator().manual_seed(1)\n"
		 "x = torch.rand(%d, %d, generator=g) * 8 - 4\n"
		 "t = torch.randint(0, %d, (%d,), generator=g)\n"
		 "best = 1e9\n"
		 "for _ in range(%d):\n"
		 "    a = time.perf_counter(); torch.nn.functional.cross_entropy(x, t, reduction=\"none\"); "
		 "best = min(best, time.perf_counter() - a)\n"
		 "print(best)' 2>/dev/null",
		 n, V, V, n, reps + 1);
	if (!(p = popen(cmd, "r")))
		return -1;
	if (fscanf(p, "%lf", &s) != 1)
		s = -1;
	if (pclose(p) != 0)
		s = -1;
	return s;
}

int main(int argc, char **argv)
{
	int reps = argc > 1 ? atoi(argv[1]) : BENCH_REPEATS, rc = 0;

	if (reps < 1)
		reps = 1;
	printf("bench_xent: %d positions per call, best of %d, one thread; default path %s\n", POSITIONS, reps,
	       xent_path_name(xent_path()));
	for (size_t a = 0; a < sizeof vocabs / sizeof vocabs[0]; a++) {
		int V = vocabs[a];
		float *lg = malloc((size_t)POSITIONS * V * sizeof *lg);
		uint16_t *tg = malloc(POSITIONS * sizeof *tg);
		double *ref = malloc(POSITIONS * sizeof *ref), *got = malloc(POSITIONS * sizeof *got), scalar_s = 0;
		uint64_t x = 0x9e3779b97f4a7c15ull;

		if (!lg || !tg || !ref || !got) {
			fprintf(stderr, "bench_xent: out of memory\n");
			return 1;
		}
		for (size_t i = 0; i < (size_t)POSITIONS * V; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			lg[i] = (float)((double)(x >> 11) * 0x1p-53 * 8.0 - 4.0);
		}
		for (int i = 0; i < POSITIONS; i++)
			tg[i] = (uint16_t)((size_t)i * 7919u % (size_t)V);
		for (int p = XENT_SCALAR; p <= XENT_AVX512; p++) {
			double best = 1e30;
			if (xent_force((enum xent_path)p) < 0) {
				printf("  V %-6d %-7s not on this CPU\n", V, xent_path_name((enum xent_path)p));
				continue;
			}
			for (int r = 0; r < reps; r++) {
				double t0 = now_s();
				if (xent_positions(lg, tg, POSITIONS, V, p == XENT_SCALAR ? ref : got) < 0) {
					fprintf(stderr, "bench_xent: non-finite logits\n");
					return 1;
				}
				t0 = now_s() - t0;
				best = t0 < best ? t0 : best;
			}
			if (p == XENT_SCALAR)
				scalar_s = best;
			else if (memcmp(ref, got, POSITIONS * sizeof *ref)) {
				printf("  V %-6d %-7s DIFFERS from the scalar path\n", V, xent_path_name((enum xent_path)p));
				rc = 1;
				continue;
			}
			printf("  V %-6d %-7s %7.3f ns/logit  %5.2fx scalar\n", V, xent_path_name((enum xent_path)p),
			       1e9 * best / ((double)POSITIONS * V), scalar_s / best);
		}
		{
			double ts = torch_seconds(POSITIONS, V, reps), best_s = 1e30;
			xent_force(xent_path_available(XENT_AVX512) ? XENT_AVX512
				   : xent_path_available(XENT_AVX2) ? XENT_AVX2 : XENT_SCALAR);
			for (int r = 0; r < reps; r++) {
				double t0 = now_s();
				xent_positions(lg, tg, POSITIONS, V, got);
				t0 = now_s() - t0;
				best_s = t0 < best_s ? t0 : best_s;
			}
			if (ts > 0)
				printf("  V %-6d torch   %7.3f ns/logit  (float32); karpa's widest path takes %.2fx torch's time\n",
				       V, 1e9 * ts / ((double)POSITIONS * V), best_s / ts);
			else
				printf("  V %-6d torch   not available (/usr/bin/python3 with torch)\n", V);
		}
		free(lg);
		free(tg);
		free(ref);
		free(got);
	}
	return rc;
}
