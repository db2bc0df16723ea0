/* bench_gemm.c: the recipe's gemm (kernels.c) on one thread, each kernel
 * this CPU has, against OpenBLAS's sgemm on the same shapes in the same
 * run: with OPENBLAS_CORETYPE as pinned (Haswell in this environment), and
 * in a child process without it, so OpenBLAS picks its best kernel for this
 * CPU (the variable is read once, when the library loads). Every product is
 * checked against the recipe's; prints GFLOP/s, asserts nothing but the
 * check. usage: bench_gemm [REPEATS] */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kernels.h"

#define BENCH_REPEATS 5
#define CHECK_REL_MAX 1e-4 /* OpenBLAS sums in its own order: close, not equal */
#define PACK_ALIGN 64      /* bytes; every shape below packs to a multiple of it */

/* M x N x K: square, and the cpu scale's lm head (B*T rows, V = 4096, C = 128). */
static const int shapes[][3] = { { 768, 768, 768 }, { 1024, 4096, 128 } };

char *openblas_get_corename(void);
void openblas_set_num_threads(int n);

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static float *pattern(size_t n, unsigned mul)
{
	float *x = malloc(n * sizeof *x);

	for (size_t i = 0; i < n && x; i++)
		x[i] = (float)((int)(i * mul % 2001) - 1000) / 1000.0f;
	return x;
}

/* Best of repeats, in GFLOP/s; which = 0 recipe, 1 OpenBLAS. */
static double best_gflops(int which, int M, int N, int K, const float *A, const float *B, float *C,
			  struct kn_scratch *ks, int repeats)
{
	double best = 1e30;
	struct kn_view a = { A, K, 1 }, b = { B, N, 1 };

	for (int r = 0; r < repeats; r++) {
		double t0 = now_s();
		if (which == 0)
			kn_gemm(M, N, K, a, b, C, N, 0, ks);
		else
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, K, B, N, 0.0f, C,
				    N);
		double dt = now_s() - t0;
		best = dt < best ? dt : best;
	}
	return 2.0 * M * N * K / best * 1e-9;
}

static double max_rel(const float *x, const float *ref, size_t n)
{
	double m = 0, scale = 0;

	for (size_t i = 0; i < n; i++)
		scale = fabs(ref[i]) > scale ? fabs(ref[i]) : scale;
	for (size_t i = 0; i < n; i++)
		m = fabs(x[i] - ref[i]) / scale > m ? fabs(x[i] - ref[i]) / scale : m;
	return m;
}

/* Runs every shape; only_blas: the child's part. Returns 0 if every check held. */
static int run(int repeats, int only_blas)
{
	const char *ct = getenv("OPENBLAS_CORETYPE");
	int bad = 0;

	omp_set_num_threads(1);
	openblas_set_num_threads(1);
	for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
		int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
		float *A = pattern((size_t)M * K, 7919), *B = pattern((size_t)K * N, 104729);
		float *C = malloc((size_t)M * N * sizeof *C), *R = malloc((size_t)M * N * sizeof *R);
		/* the micro-kernels load packed panels aligned (kernels.c) */
		struct kn_scratch ks = { aligned_alloc(PACK_ALIGN, kn_pack_a_floats(M, K) * sizeof(float)),
					 aligned_alloc(PACK_ALIGN, kn_pack_b_floats(N, K) * sizeof(float)), 0, 0 };
		if (!A || !B || !C || !R || !ks.pa || !ks.pb) {
			fprintf(stderr, "bench_gemm: out of memory\n");
			exit(1);
		}
		struct kn_view a = { A, K, 1 }, b = { B, N, 1 };
		kn_gemm_ref(M, N, K, a, b, R, N, 0);
		for (int wide = 1; wide >= 0 && !only_blas; wide--) {
			const char *prev = kn_isa();
			kn_set_avx512(wide);
			if (!wide && !strcmp(kn_isa(), prev))
				break; /* a CPU without AVX-512 has one kernel */
			double g = best_gflops(0, M, N, K, A, B, C, &ks, repeats);
			int same = !memcmp(C, R, (size_t)M * N * sizeof *C);
			printf("gemm %4dx%4dx%4d  recipe   %-8s %6.1f GFLOP/s  bits %s\n", M, N, K, kn_isa(), g,
			       same ? "= reference" : "DIFFER");
			bad |= !same;
		}
		kn_set_avx512(1);
		double g = best_gflops(1, M, N, K, A, B, C, &ks, repeats), e = max_rel(C, R, (size_t)M * N);
		printf("gemm %4dx%4dx%4d  openblas %-8s %6.1f GFLOP/s  (OPENBLAS_CORETYPE=%s)  max rel diff %.1e %s\n", M,
		       N, K, openblas_get_corename(), g, ct ? ct : "unset", e, e <= CHECK_REL_MAX ? "ok" : "BAD");
		bad |= e > CHECK_REL_MAX;
		free(A), free(B), free(C), free(R), free(ks.pa), free(ks.pb);
	}
	return bad;
}

int main(int argc, char **argv)
{
	int repeats = argc > 1 && atoi(argv[1]) > 0 ? atoi(argv[1]) : BENCH_REPEATS;
	int only_blas = argc > 2 && !strcmp(argv[2], "--openblas-only"), bad, st = 0;
	char reps[16];
	pid_t pid;

	bad = run(repeats, only_blas);
	if (only_blas || !getenv("OPENBLAS_CORETYPE"))
		return bad;
	/* OpenBLAS's own choice for this CPU, in a child with the variable unset */
	snprintf(reps, sizeof reps, "%d", repeats);
	fflush(stdout);
	if ((pid = fork()) == 0) {
		unsetenv("OPENBLAS_CORETYPE");
		execl("/proc/self/exe", argv[0], reps, "--openblas-only", (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return 1;
	return bad | WEXITSTATUS(st);
}
