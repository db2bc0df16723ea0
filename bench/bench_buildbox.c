/* bench_buildbox.c: what confining the compiler costs a build
 * (src/sandbox/buildbox.c). Compiles one small C unit N times through
 * proc_run (unconfined) and through buildbox_run (a thread of its own,
 * no_new_privs and a Landlock domain for each call), interleaved so that
 * both see the same machine, and prints the median of each and their
 * ratio. A real build is a few such calls per recipe file (cc1, as) and a
 * link. Asserts nothing but that every compile succeeds.
 * usage: bench_buildbox [N] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/buildbox.h"
#include "util/fsutil.h"

#define BENCH_N_DEFAULT 21

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int one(const struct buildbox *bb, const char *const *argv, const struct proc_opts *po, double *secs)
{
	struct proc_result pr;
	struct kerr err;
	double t0 = now_s();
	int rc = bb ? buildbox_run(bb, argv, po, &pr, &err) : proc_run(argv, po, &pr, &err);

	*secs = now_s() - t0;
	if (rc < 0 || pr.exit_code != 0) {
		fprintf(stderr, "bench_buildbox: the compile failed: %s\n", rc < 0 ? err.msg : pr.err);
		proc_result_free(&pr);
		return -1;
	}
	proc_result_free(&pr);
	return 0;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : BENCH_N_DEFAULT, rc = 1, made = 0;
	char dir[] = "/tmp/bench-buildbox-XXXXXX", src[FS_PATH_MAX], obj[FS_PATH_MAX], tmpenv[FS_PATH_MAX + 8];
	const char *unit = "#include <stdio.h>\n#include <math.h>\n"
			   "double f(double x) { return sqrt(x) * 2.0; }\nint g(void) { return printf(\"%g\", f(2)); }\n";
	double *plain = calloc((size_t)(n > 0 ? n : 1), sizeof *plain), *boxed = calloc((size_t)(n > 0 ? n : 1), sizeof *boxed);
	struct buildbox bb = { -1, 0 };
	struct kerr err;
	FILE *f;

	if (n < 1 || !plain || !boxed || !mkdtemp(dir)) {
		fprintf(stderr, "usage: bench_buildbox [N >= 1]\n");
		goto out;
	}
	made = 1;
	snprintf(src, sizeof src, "%s/unit.c", dir);
	snprintf(obj, sizeof obj, "%s/unit.o", dir);
	snprintf(tmpenv, sizeof tmpenv, "TMPDIR=%s", dir);
	if (!(f = fopen(src, "w")) || fputs(unit, f) < 0 || fclose(f) != 0) {
		fprintf(stderr, "bench_buildbox: cannot write %s\n", src);
		goto out;
	}
	{
		const char *read[] = { dir, NULL }, *write[] = { dir, NULL }, *tools[] = { "cc", NULL };
		const char *cc[] = { "cc", "-O2", "-pipe", "-c", src, "-o", obj, NULL };
		const char *env[] = { tmpenv, NULL };
		struct proc_opts po = { .env = env, .timeout_ms = 60000 };

		if (buildbox_open(&bb, read, write, tools, NULL, &err) < 0) {
			fprintf(stderr, "bench_buildbox: %s: %s\n", err.code, err.msg);
			goto out;
		}
		if (bb.fd < 0)
			printf("bench_buildbox: this kernel has no Landlock: both columns are unconfined\n");
		for (int i = 0; i < n; i++)
			if (one(NULL, cc, &po, &plain[i]) < 0 || one(&bb, cc, &po, &boxed[i]) < 0)
				goto out;
	}
	qsort(plain, (size_t)n, sizeof *plain, cmp_d);
	qsort(boxed, (size_t)n, sizeof *boxed, cmp_d);
	printf("compile of one unit, median of %d (Landlock ABI %d)\n", n, bb.abi);
	printf("  unconfined  %8.2f ms\n  buildbox    %8.2f ms\n  ratio       %8.3f\n", plain[n / 2] * 1e3,
	       boxed[n / 2] * 1e3, boxed[n / 2] / plain[n / 2]);
	rc = 0;
out:
	buildbox_close(&bb);
	if (made) {
		unlink(src);
		unlink(obj);
		rmdir(dir);
	}
	free(plain);
	free(boxed);
	return rc;
}
