/* test_gemm_pin.c: the matrix-product algorithms recorded and pinned
 * (docs/gpu.md, "Which algorithms"). Needs a CUDA device: bench/gpu.sh runs
 * it on the GPU machine; CI only builds it.
 *
 * - gm: a table recorded by one context and pinned in a fresh one gives
 *   the same table and bit-identical products, in both precisions, on the
 *   model's shapes; a pin whose algorithm this GPU or library does not
 *   have, or that breaks gm's rules, fails with a message naming the
 *   product, and leaves the context as created.
 * - the CUDA runner (KARPA_CUDA_RUNNER): create, steps and logits with the
 *   table the first run reported, through kr_env.gemm on the wire, give
 *   the same losses and logits bit for bit and report the same table; a
 *   bogus pin fails create with the product named.
 * Each check prints a PASS/FAIL line and the test goes on, so one GPU run
 * reports every failure.
 *   KARPA_CUDA_RUNNER=/abs/path/karpa-recipe-cuda test_gemm_pin */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "gm.h"
#include "gpu_test.h"
#include "sandbox/recipe_host.h"
#include "sandbox/recipe_pipe.h"

static int g_fails;

static void check(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s gemm-pin ", ok ? "PASS" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	g_fails += !ok;
}

#define CK(call) GT_CK(call)

/* ---- gm: the products of a few model shapes ---------------------------- */

/* A product case: the three of one layer shape, N rows of IC in, OC out
 * with row stride ld (the lm head's padded vocabulary). */
struct shape {
	int N, IC, OC, ld;
};

static const struct shape shapes[] = {
	{ 2048, 256, 768, 768 },   /* the parity shape's qkv */
	{ 2048, 256, 1000, 1024 }, /* its lm head, V padded */
	{ 4096, 768, 3072, 3072 }, /* GPT-2 small's MLP at N 4096 */
	{ 512, 768, 50304, 50304 } /* GPT-2's lm head on 50304 rows */
};
#define NSHAPES (sizeof shapes / sizeof shapes[0])

/* Device buffers for one shape, inputs random (bf16-rounded where bf16). */
struct bufs {
	void *inp, *w, *bias, *dout, *out;
	size_t out_bytes;
};

static void *dev_random(size_t n, size_t esz, uint64_t *rng)
{
	void *d = NULL, *h = malloc(n * esz);

	assert_non_null(h);
	for (size_t i = 0; i < n; i++) {
		float v = (float)(2 * gt_urand(rng) - 1);
		if (esz == 2)
			((uint16_t *)h)[i] = gt_f2bf(v);
		else
			((float *)h)[i] = v;
	}
	CK(cudaMalloc(&d, n * esz));
	CK(cudaMemcpy(d, h, n * esz, cudaMemcpyHostToDevice));
	free(h);
	return d;
}

static void bufs_make(struct bufs *b, const struct shape *s, enum gk_prec p, uint64_t seed)
{
	size_t e = gk_elt_bytes(p), big = (size_t)s->N * (s->ld > s->IC ? s->ld : s->IC);

	b->inp = dev_random((size_t)s->N * s->IC, e, &seed);
	b->w = dev_random((size_t)s->OC * s->IC, e, &seed);
	b->bias = dev_random((size_t)s->OC, e, &seed);
	b->dout = dev_random((size_t)s->N * s->ld, e, &seed);
	/* room for any of the products' outputs, fp32 at most */
	b->out_bytes = 4 * (big > (size_t)s->OC * s->IC ? big : (size_t)s->OC * s->IC);
	CK(cudaMalloc(&b->out, b->out_bytes));
}

static void bufs_free(struct bufs *b)
{
	CK(cudaFree(b->inp));
	CK(cudaFree(b->w));
	CK(cudaFree(b->bias));
	CK(cudaFree(b->dout));
	CK(cudaFree(b->out));
}

/* Runs product k (0 forward with bias, 1 forward to fp32, 2 backward
 * data, 3 backward weight) into a poisoned output and returns its bytes
 * (caller frees). */
static unsigned char *run_product(struct gm *g, enum gk_prec p, const struct shape *s, struct bufs *b, int k,
				  size_t *n)
{
	size_t e = gk_elt_bytes(p);
	unsigned char *h;
	int rc;

	CK(cudaMemset(b->out, 0xff, b->out_bytes));
	switch (k) {
	case 0:
		rc = gm_linear_fwd(g, p, b->out, 0, s->ld, b->inp, b->w, b->bias, s->N, s->IC, s->OC);
		*n = (size_t)s->N * s->ld * e;
		break;
	case 1:
		rc = gm_linear_fwd(g, p, b->out, 1, s->ld, b->inp, b->w, NULL, s->N, s->IC, s->OC);
		*n = (size_t)s->N * s->ld * 4;
		break;
	case 2:
		rc = gm_linear_bwd_data(g, p, b->out, b->dout, s->ld, b->w, s->N, s->IC, s->OC);
		*n = (size_t)s->N * s->IC * e;
		break;
	default:
		rc = gm_linear_bwd_weight(g, p, b->out, b->dout, s->ld, b->inp, s->N, s->IC, s->OC);
		*n = (size_t)s->OC * s->IC * 4;
		break;
	}
	if (rc < 0) {
		check(0, "product %d N=%d IC=%d OC=%d: %s", k, s->N, s->IC, s->OC, gm_error(g));
		*n = 0;
		return NULL;
	}
	CK(cudaDeviceSynchronize());
	h = malloc(*n);
	assert_non_null(h);
	CK(cudaMemcpy(h, b->out, *n, cudaMemcpyDeviceToHost));
	return h;
}

static struct gm *new_gm(cudaStream_t s)
{
	char err[GM_ERR_MAX] = "";
	struct gm *g = gm_create(s, err);

	if (!g)
		fail_msg("gm_create: %s", err);
	return g;
}

/* Every product of every shape in both precisions on a (unpinned) and b
 * (pinned to a's table): the same bits, and b chooses nothing new. */
static void pinned_products_same_bits(void **state)
{
	cudaStream_t st;
	struct gm *a, *b;
	char *table;
	int rows;

	(void)state;
	CK(cudaStreamCreate(&st));
	a = new_gm(st);
	b = new_gm(st);
	/* a: choose by the heuristic (every product once), keeping the outputs */
	unsigned char *out[2][NSHAPES][4];
	size_t len[2][NSHAPES][4];
	for (int pi = 0; pi < 2; pi++)
		for (size_t si = 0; si < NSHAPES; si++) {
			struct bufs bb;
			enum gk_prec p = pi ? GK_BF16 : GK_F32;
			bufs_make(&bb, &shapes[si], p, 11 + si);
			for (int k = 0; k < 4; k++)
				out[pi][si][k] = run_product(a, p, &shapes[si], &bb, k, &len[pi][si][k]);
			bufs_free(&bb);
		}
	table = strdup(gm_record(a));
	rows = gm_algos(a);
	assert_non_null(table);
	printf("   recorded table (%d products, %d rebuilt with other bytes than the heuristic's):\n%s", rows,
	       gm_rebuilt_differs(a), table);
	check(rows == 2 * (int)NSHAPES * 4, "%d products recorded (want %d)", rows, 2 * (int)NSHAPES * 4);
	/* b: pinned to a's table before any product */
	if (gm_pin(b, table) < 0) {
		check(0, "gm_pin of the recorded table: %s", gm_error(b));
	} else {
		check(gm_algos(b) == rows, "pinned %d products at creation", gm_algos(b));
		check(!strcmp(gm_record(b), table), "the pinned context reports the recorded table");
		for (int pi = 0; pi < 2; pi++)
			for (size_t si = 0; si < NSHAPES; si++) {
				struct bufs bb;
				enum gk_prec p = pi ? GK_BF16 : GK_F32;
				bufs_make(&bb, &shapes[si], p, 11 + si);
				for (int k = 0; k < 4; k++) {
					size_t n = 0;
					unsigned char *got = run_product(b, p, &shapes[si], &bb, k, &n);
					int same = got && out[pi][si][k] && n == len[pi][si][k] &&
						   !memcmp(got, out[pi][si][k], n);
					check(same, "%s N=%d IC=%d OC=%d product %d: pinned output %s", pi ? "bf16" : "f32",
					      shapes[si].N, shapes[si].IC, shapes[si].OC, k,
					      same ? "bit-identical" : "DIFFERS");
					free(got);
				}
				bufs_free(&bb);
			}
		check(gm_algos(b) == rows && !strcmp(gm_record(b), table),
		      "the pinned context chose nothing new (%d products)", gm_algos(b));
	}
	for (int pi = 0; pi < 2; pi++)
		for (size_t si = 0; si < NSHAPES; si++)
			for (int k = 0; k < 4; k++)
				free(out[pi][si][k]);
	gm_destroy(a);
	gm_destroy(b);
	free(table);
	CK(cudaStreamDestroy(st));
	if (g_fails)
		fail_msg("%d checks failed", g_fails);
}

/* table with field `key` of its first row set to value (text owned by the
 * caller). */
static char *edit_first_row(const char *table, const char *key, const char *value)
{
	const char *row = strchr(table, '\n') + 1, *at, *end;
	char pat[32], *out = malloc(strlen(table) + 64);

	assert_non_null(out);
	snprintf(pat, sizeof pat, " %s=", key);
	at = strstr(row, pat);
	assert_non_null(at);
	at += strlen(pat);
	end = at + strcspn(at, " \n");
	sprintf(out, "%.*s%s%s", (int)(at - table), table, value, end);
	return out;
}

/* A pin that cannot hold fails with the product named, and the context is
 * as created: nothing pinned, and products still choose as without one. */
static void bogus_pins_fail_clearly(void **state)
{
	struct {
		const char *what, *key, *value, *key2, *value2, *want;
	} cases[] = {
		{ "an algorithm id no library has", "algo", "99999", NULL, NULL, "pinned " },
		{ "a tile this algorithm lacks", "tile", "9999", NULL, NULL, "pinned " },
		{ "an in-place split-K", "splitk", "4", "red", "1", "in place" },
		{ "a type gm does not use", "ab", "f16", NULL, NULL, "f32 or bf16" },
		{ "an epilogue gm does not use", "epi", "gelu", NULL, NULL, "epilogue" },
	};
	cudaStream_t st;
	struct gm *a;
	struct bufs bb;
	char *table;
	size_t n;

	(void)state;
	CK(cudaStreamCreate(&st));
	a = new_gm(st);
	bufs_make(&bb, &shapes[0], GK_BF16, 5);
	for (int k = 0; k < 4; k++)
		free(run_product(a, GK_BF16, &shapes[0], &bb, k, &n));
	table = strdup(gm_record(a));
	gm_destroy(a);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *t1 = edit_first_row(table, cases[i].key, cases[i].value), *bad = t1;
		struct gm *g = new_gm(st);
		int rc;

		if (cases[i].key2) {
			bad = edit_first_row(t1, cases[i].key2, cases[i].value2);
			free(t1);
		}
		rc = gm_pin(g, bad);
		check(rc < 0 && strstr(gm_error(g), cases[i].want) && strstr(gm_error(g), " m="),
		      "%s: refused: %s", cases[i].what, rc < 0 ? gm_error(g) : "(accepted)");
		check(gm_algos(g) == 0, "%s: nothing pinned after the refusal", cases[i].what);
		free(run_product(g, GK_BF16, &shapes[0], &bb, 0, &n));
		check(n > 0 && gm_algos(g) == 1, "%s: the context still chooses by itself", cases[i].what);
		gm_destroy(g);
		free(bad);
	}
	{
		struct gm *g = new_gm(st);
		int rc = gm_pin(g, "karpa-gemm-1 cublaslt=1\nfwd TN\n");
		check(rc < 0 && strstr(gm_error(g), "pinned gemm table"), "a malformed table: %s",
		      rc < 0 ? gm_error(g) : "(accepted)");
		gm_destroy(g);
	}
	bufs_free(&bb);
	free(table);
	CK(cudaStreamDestroy(st));
	if (g_fails)
		fail_msg("%d checks failed", g_fails);
}

/* ---- the runner: kr_env.gemm through the wire ------------------------- */

#define STEPS 2

struct run {
	int ok;
	float loss[STEPS];
	float *logits;
	size_t nlogits;
	char at_create[KR_GEMM_MAX], at_end[KR_GEMM_MAX];
	struct kerr err;
};

static void tokens(uint16_t *t, size_t n, unsigned salt, int vocab)
{
	uint32_t x = 2463534242u ^ salt;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		t[i] = (uint16_t)(x % (unsigned)vocab);
	}
}

/* create (pinned to pin, or not), STEPS steps, one logits call of rows. */
static void drive(const char *scale, int vocab, int rows, const char *pin, struct run *o)
{
	const char *runner = getenv("KARPA_CUDA_RUNNER");
	struct kr_env env = { .seed = 7, .threads = 1, .vocab_size = vocab, .scale = scale, .gemm = pin };
	struct recipe_host h;
	struct kr_plan plan;
	uint16_t *tok = NULL;
	float lr;

	memset(o, 0, sizeof *o);
	if (!runner || runner[0] != '/')
		fail_msg("set KARPA_CUDA_RUNNER to the CUDA runner's absolute path");
	if (recipe_host_pipe(&h, runner, NULL, NULL, &o->err) < 0)
		fail_msg("spawn: %s: %s", o->err.code, o->err.msg);
	if (recipe_host_create(&h, &env, &plan, &o->err) < 0 || recipe_host_gemm(&h, o->at_create, &o->err) < 0)
		goto out;
	tok = malloc((size_t)plan.batch * (plan.seq_len + 1) * sizeof *tok);
	o->nlogits = (size_t)rows * plan.seq_len * vocab;
	o->logits = malloc(o->nlogits * sizeof *o->logits);
	assert_true(tok && o->logits);
	for (int s = 0; s < STEPS; s++) {
		tokens(tok, (size_t)plan.batch * (plan.seq_len + 1), (unsigned)s, vocab);
		if (h.train_step(&h, s, tok, &o->loss[s], &lr, &o->err) < 0)
			goto out;
	}
	tokens(tok, (size_t)rows * plan.seq_len, 99, vocab);
	if (h.logits(&h, tok, rows, plan.seq_len, o->logits, &o->err) < 0 ||
	    recipe_host_gemm(&h, o->at_end, &o->err) < 0)
		goto out;
	o->ok = 1;
out:
	recipe_host_destroy(&h);
	free(tok);
}

static void runner_pins(const char *scale, int vocab, int rows)
{
	static struct run first, pinned, bogus;
	char *bad;

	printf("   scale %s\n", scale);
	drive(scale, vocab, rows, NULL, &first);
	if (!first.ok)
		fail_msg("unpinned run: %s: %s", first.err.code, first.err.msg);
	check(first.at_create[0] == '\0', "%s: no products before the first step: table \"%.40s\"", scale,
	      first.at_create);
	printf("   %s table:\n%s", scale, first.at_end);
	drive(scale, vocab, rows, first.at_end, &pinned);
	check(pinned.ok, "%s: pinned run: %s %s", scale, pinned.err.code, pinned.err.msg);
	if (pinned.ok) {
		check(!strcmp(pinned.at_create, first.at_end), "%s: the pinned runner reports the table at create",
		      scale);
		check(!strcmp(pinned.at_end, first.at_end), "%s: and the same table at the end", scale);
		check(!memcmp(pinned.loss, first.loss, sizeof first.loss), "%s: losses %.7f %.7f pinned, %.7f %.7f: %s",
		      scale, pinned.loss[0], pinned.loss[1], first.loss[0], first.loss[1],
		      !memcmp(pinned.loss, first.loss, sizeof first.loss) ? "bit-identical" : "DIFFER");
		check(pinned.nlogits == first.nlogits &&
			      !memcmp(pinned.logits, first.logits, first.nlogits * sizeof *first.logits),
		      "%s: %zu logits pinned against unpinned: %s", scale, first.nlogits,
		      !memcmp(pinned.logits, first.logits, first.nlogits * sizeof *first.logits) ? "bit-identical"
											 : "DIFFER");
	}
	bad = edit_first_row(first.at_end, "algo", "99999");
	drive(scale, vocab, rows, bad, &bogus);
	check(!bogus.ok && !strcmp(bogus.err.code, "recipe.failed") && strstr(bogus.err.msg, "pinned ") &&
		      strstr(bogus.err.msg, " m="),
	      "%s: a bogus pin fails create: %s: %s", scale, bogus.err.code, bogus.err.msg);
	free(bad);
	free(first.logits);
	free(pinned.logits);
	free(bogus.logits);
}

static void runner_tiny(void **state)
{
	(void)state;
	runner_pins("tiny", 320, 3);
	if (g_fails)
		fail_msg("%d checks failed", g_fails);
}

static void runner_gpu125m(void **state)
{
	(void)state;
	runner_pins("gpu-125m", 50257, 1);
	if (g_fails)
		fail_msg("%d checks failed", g_fails);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pinned_products_same_bits),
		cmocka_unit_test(bogus_pins_fail_clearly),
		cmocka_unit_test(runner_tiny),
		cmocka_unit_test(runner_gpu125m),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
