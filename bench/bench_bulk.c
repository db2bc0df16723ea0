/* bench_bulk.c: what moving the GPU scales' large payloads between the
 * runner and the harness costs (src/sandbox/recipe_pipe.c), through the pipe
 * against the bulk region (recipe_wire.h), in the same run: a call's logits
 * at gpu-125m's evaluation shape (2 rows of 1024 positions at GPT-2's 50257
 * entries, 412 MB) and a state save and load of gpu-125m's size (1.49 GB).
 * The runner is this program started again by the pipe host, answering as
 * runner/main.c does without computing: for the pipe it fills a fresh
 * buffer and writes it (main.c allocates one per call), for the region it
 * fills the region. Each figure is the median of the calls' wall times,
 * the first call of each kind left out. Asserts only that the bytes
 * arrive. usage: bench_bulk [CALLS [STATE_MB]] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/recipe_host.h"
#include "sandbox/recipe_pipe.h"
#include "sandbox/recipe_wire.h"

#define BULK_VOCAB 50257
#define BULK_ROWS 2
#define BULK_T 1024
#define BULK_CALLS_DEFAULT 5
#define BULK_STATE_MB_DEFAULT 1493
#define BULK_CALLS_MAX 64
#define BULK_FAKE_ENV "KARPA_BENCH_BULK_RUNNER"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- the runner ----------------------------------------------------------- */

static void *region(uint64_t need)
{
	static void *m;
	static size_t len;
	struct stat st;

	if (m && len >= need)
		return m;
	if (fstat(WIRE_BULK_FD, &st) < 0 || (uint64_t)st.st_size < need)
		return NULL;
	if (m)
		munmap(m, len);
	m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, WIRE_BULK_FD, 0);
	len = m == MAP_FAILED ? 0 : (size_t)st.st_size;
	return m == MAP_FAILED ? (m = NULL) : m;
}

static int fake_runner(uint64_t state_bytes)
{
	struct wire_plan plan = { .batch = 1, .seq_len = BULK_T, .eval_batch = BULK_ROWS, .steps = 1, .params = 1 };
	const uint64_t lbytes = (uint64_t)BULK_ROWS * BULK_T * BULK_VOCAB * sizeof(float);
	struct wire_hdr h;
	char *p = NULL;

	snprintf(plan.name, sizeof plan.name, "bench-bulk");
	snprintf(plan.version, sizeof plan.version, "0");
	while (wire_read_full(0, &h, sizeof h) == 0) {
		struct wire_bulk b = { 0 };
		void *out;

		free(p);
		if (!(p = malloc(h.len ? h.len : 1)) || wire_read_full(0, p, h.len) < 0)
			return 1;
		switch (h.type) {
		case WIRE_CREATE: wire_send(1, WIRE_OK | h.type, &plan, sizeof plan); break;
		case WIRE_STATE_BYTES: wire_send(1, WIRE_OK | h.type, &state_bytes, sizeof state_bytes); break;
		case WIRE_LOGITS:
		case WIRE_SAVE:
			/* as main.c: a fresh buffer per call, filled, written */
			b.bytes = h.type == WIRE_LOGITS ? lbytes : state_bytes;
			if (!(out = malloc(b.bytes)))
				return 1;
			memset(out, 0x3c, b.bytes);
			wire_send(1, WIRE_OK | h.type, out, b.bytes);
			free(out);
			break;
		case WIRE_LOGITS_BULK:
		case WIRE_SAVE_BULK:
			b.bytes = h.type == WIRE_LOGITS_BULK ? lbytes : state_bytes;
			if (!(out = region(b.bytes)))
				return 1;
			memset(out, 0x3c, b.bytes);
			wire_send(1, WIRE_OK | h.type, &b, sizeof b);
			break;
		case WIRE_LOAD:
			wire_send(1, WIRE_OK | h.type, NULL, 0);
			break;
		case WIRE_LOAD_BULK:
			/* the recipe reads the state once: touch every page */
			memcpy(&b, p, sizeof b);
			if (!(out = region(b.bytes)))
				return 1;
			for (uint64_t i = 0; i < b.bytes; i += 4096)
				if (((volatile char *)out)[i] != 0x3c)
					return 1;
			wire_send(1, WIRE_OK | h.type, NULL, 0);
			break;
		case WIRE_QUIT: free(p); return 0;
		default: return 1;
		}
	}
	free(p);
	return 0;
}

/* ---- the host ------------------------------------------------------------- */

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median seconds of calls 2..n of one kind (0 logits, 1 save, 2 load). */
static double measure(struct recipe_host *h, int kind, int n, void *buf, size_t state, struct kerr *err)
{
	static const uint16_t toks[BULK_ROWS * BULK_T];
	double t[BULK_CALLS_MAX];

	for (int i = 0; i <= n; i++) {
		double t0 = now_s();
		int rc = kind == 0 ? h->logits(h, toks, BULK_ROWS, BULK_T, buf, err)
			 : kind == 1 ? h->save(h, buf, state, err)
				     : h->load(h, buf, state, err);
		if (rc < 0)
			return -1;
		if (i)
			t[i - 1] = now_s() - t0;
	}
	if (kind != 2 && ((unsigned char *)buf)[0] != 0x3c)
		return -1;
	qsort(t, (size_t)n, sizeof t[0], cmp_d);
	return t[n / 2];
}

int main(int argc, char **argv)
{
	const char *fake = getenv(BULK_FAKE_ENV);
	int calls = argc > 1 ? atoi(argv[1]) : BULK_CALLS_DEFAULT;
	long mb = argc > 2 ? atol(argv[2]) : BULK_STATE_MB_DEFAULT;
	const size_t lbytes = (size_t)BULK_ROWS * BULK_T * BULK_VOCAB * sizeof(float);
	static const char *const what[3] = { "logits", "state save", "state load" };
	double sec[2][3];
	char self[4096];
	void *buf;
	size_t state;

	if (fake)
		return fake_runner(strtoull(fake, NULL, 10));
	if (calls < 1 || calls > BULK_CALLS_MAX || mb < 1) {
		fprintf(stderr, "usage: bench_bulk [CALLS (1..%d) [STATE_MB]]\n", BULK_CALLS_MAX);
		return 2;
	}
	state = (size_t)mb * 1000000;
	ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
	if (sl <= 0)
		return 2;
	self[sl] = '\0';
	if (!(buf = malloc(state > lbytes ? state : lbytes)))
		return 2;
	memset(buf, 0x3c, state > lbytes ? state : lbytes);
	printf("bench_bulk: logits %d x %d x %d (%.0f MB) and a %.0f MB state, %d calls each, median after one\n",
	       BULK_ROWS, BULK_T, BULK_VOCAB, lbytes / 1e6, state / 1e6, calls);
	for (int path = 0; path < 2; path++) {
		struct recipe_host h;
		struct kerr err = { { 0 }, { 0 } };
		struct kr_env env = { .seed = 1, .threads = 1, .vocab_size = BULK_VOCAB, .scale = "gpu-125m" };
		struct kr_plan plan;
		char sb[32];

		snprintf(sb, sizeof sb, "%zu", state);
		setenv(BULK_FAKE_ENV, sb, 1);
		if (recipe_host_pipe(&h, self, NULL, NULL, &err) < 0 || recipe_host_create(&h, &env, &plan, &err) < 0) {
			fprintf(stderr, "bench_bulk: %s: %s\n", err.code, err.msg);
			return 1;
		}
		unsetenv(BULK_FAKE_ENV);
		if (recipe_pipe_set_bulk_min(&h, path ? 0 : UINT64_MAX) < 0) {
			fprintf(stderr, "bench_bulk: no bulk region on this kernel\n");
			return 1;
		}
		for (int k = 0; k < 3; k++)
			if ((sec[path][k] = measure(&h, k, calls, buf, state, &err)) < 0) {
				fprintf(stderr, "bench_bulk: %s: %s: %s\n", what[k], err.code, err.msg);
				return 1;
			}
		recipe_host_destroy(&h);
	}
	for (int k = 0; k < 3; k++) {
		double n = k ? (double)state : (double)lbytes;
		printf("%-10s pipe %7.3f s (%5.2f GB/s)   bulk region %7.3f s (%5.2f GB/s)   %.2fx\n", what[k],
		       sec[0][k], n / sec[0][k] / 1e9, sec[1][k], n / sec[1][k] / 1e9, sec[0][k] / sec[1][k]);
	}
	free(buf);
	return 0;
}
