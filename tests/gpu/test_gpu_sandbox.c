/* test_gpu_sandbox.c: the CUDA runner under the validator's sandbox with
 * the GPU profile (docs/sandbox.md, "A GPU runner"), against the same
 * runner unsandboxed: create, two training steps and a logits call must
 * give the same bits both ways, at the tiny scale (fp32 on the GPU) and at
 * gpu-125m (bf16, GPT-2 small), and the report must show the GPU profile
 * with Landlock and both seccomp layers.
 * On a failure it prints the sandbox's explanation; the system call a
 * seccomp kill refused is in the kernel log (bench/gpu.sh prints it).
 *   KARPA_CUDA_RUNNER=/abs/path/karpa-recipe-cuda test_gpu_sandbox */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/recipe_pipe.h"
#include "sandbox/sandbox.h"

#define STEPS 2

/* A scale and its vocabulary; logits rows are limited to keep the pipe's
 * load small at gpu-125m (one row is 1024 x 50257 floats). */
struct scale {
	const char *name;
	int vocab;
	int rows_max;
};

struct run {
	int ok;
	char stage[16];
	struct kerr err;
	struct sandbox_report rep;
	float loss[STEPS];
	float *logits;
	size_t nlogits;
};

static void tokens(uint16_t *t, size_t n, unsigned salt, int vocab)
{
	uint32_t x = 2463534242u ^ salt;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		t[i] = (uint16_t)(x % (unsigned)vocab);
	}
}

static void drive(const char *runner, struct sandbox *sb, const struct scale *sc, struct run *o)
{
	struct recipe_host h;
	struct kr_env env = { .seed = 7, .threads = 1, .vocab_size = sc->vocab, .scale = sc->name };
	struct kr_plan plan;
	uint16_t *tok = NULL;
	int rows;
	float lr;

	memset(o, 0, sizeof *o);
	if ((sb ? sandbox_spawn(sb, &h, &o->err) : recipe_host_pipe(&h, runner, NULL, NULL, &o->err)) < 0)
		fail_msg("spawn: %s: %s", o->err.code, o->err.msg);
	snprintf(o->stage, sizeof o->stage, "create");
	if (recipe_host_create(&h, &env, &plan, &o->err) < 0)
		goto fail;
	rows = plan.batch < sc->rows_max ? plan.batch : sc->rows_max;
	tok = malloc((size_t)plan.batch * (plan.seq_len + 1) * sizeof *tok);
	o->nlogits = (size_t)rows * plan.seq_len * sc->vocab;
	o->logits = malloc(o->nlogits * sizeof *o->logits);
	assert_true(tok && o->logits);
	snprintf(o->stage, sizeof o->stage, "train_step");
	for (int s = 0; s < STEPS; s++) {
		tokens(tok, (size_t)plan.batch * (plan.seq_len + 1), (unsigned)s, sc->vocab);
		if (h.train_step(&h, s, tok, &o->loss[s], &lr, &o->err) < 0)
			goto fail;
	}
	snprintf(o->stage, sizeof o->stage, "logits");
	tokens(tok, (size_t)rows * plan.seq_len, 99, sc->vocab);
	if (h.logits(&h, tok, rows, plan.seq_len, o->logits, &o->err) < 0)
		goto fail;
	o->ok = 1;
	goto done;
fail:
	if (sb)
		sandbox_explain(sb, &h, &o->err);
done:
	if (sb)
		sandbox_report(sb, &o->rep);
	recipe_host_destroy(&h);
	free(tok);
}

static void same_under_gpu_sandbox(const struct scale *sc)
{
	const char *runner = getenv("KARPA_CUDA_RUNNER");
	struct sandbox_config cfg;
	struct sandbox *sb;
	struct kerr err;
	struct run plain, boxed;
	char have[200];

	printf("   scale %s\n", sc->name);
	if (!runner || runner[0] != '/')
		fail_msg("set KARPA_CUDA_RUNNER to the CUDA runner's absolute path");
	drive(runner, NULL, sc, &plain);
	if (!plain.ok)
		fail_msg("unsandboxed %s: %s: %s", plain.stage, plain.err.code, plain.err.msg);
	sandbox_config_default(&cfg, 1);
	cfg.gpu = 1;
	cfg.memory_bytes = 0;
	if (sandbox_new(&sb, &cfg, runner, &err) < 0)
		fail_msg("sandbox_new: %s: %s", err.code, err.msg);
	drive(runner, sb, sc, &boxed);
	sandbox_describe(boxed.rep.applied, have, sizeof have);
	printf("   sandbox layers: %s (Landlock ABI %d)%s%s\n", have, boxed.rep.landlock_abi,
	       boxed.rep.notes[0] ? "; notes: " : "", boxed.rep.notes);
	if (!boxed.ok)
		fail_msg("sandboxed %s: %s: %s", boxed.stage, boxed.err.code, boxed.err.msg);
	printf("   losses %.7f %.7f unsandboxed, %.7f %.7f sandboxed\n", plain.loss[0], plain.loss[1],
	       boxed.loss[0], boxed.loss[1]);
	assert_true(boxed.rep.applied & SANDBOX_GPU);
	assert_true(boxed.rep.applied & SANDBOX_LANDLOCK);
	assert_true(boxed.rep.applied & SANDBOX_SECCOMP);
	assert_memory_equal(plain.loss, boxed.loss, sizeof plain.loss);
	assert_int_equal(plain.nlogits, boxed.nlogits);
	assert_memory_equal(plain.logits, boxed.logits, plain.nlogits * sizeof *plain.logits);
	printf("   %zu logits bit-identical\n", plain.nlogits);
	sandbox_free(sb);
	free(plain.logits);
	free(boxed.logits);
}

static void tiny_same_under_gpu_sandbox(void **state)
{
	static const struct scale tiny = { "tiny", 320, 64 };

	(void)state;
	same_under_gpu_sandbox(&tiny);
}

static void gpu125m_same_under_gpu_sandbox(void **state)
{
	static const struct scale g = { "gpu-125m", 50257, 1 };

	(void)state;
	same_under_gpu_sandbox(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tiny_same_under_gpu_sandbox),
		cmocka_unit_test(gpu125m_same_under_gpu_sandbox),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
