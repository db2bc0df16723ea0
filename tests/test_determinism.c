/* test_determinism.c: recipe v0.1.0 trains to the same bits whatever the
 * thread count and whatever gemm kernel the CPU runs (PROTOCOL 2: a run is
 * a pure function of its inputs), the seed matters, and the state blob
 * round-trips and refuses foreign blobs. */
#include "testutil.h"

#include "kernels.h"
#include "sandbox/recipe_api.h"
#include "sandbox/recipe_pipe.h"

#define DET_STEPS 3
#define DET_VOCAB 320 /* the tiny scale's tokenizer size */

/* Trains the tiny config DET_STEPS steps on fixed tokens and returns its
 * state (caller frees). */
static uint8_t *train_state(uint64_t seed, int threads, size_t *n)
{
	struct kr_env env = { .seed = seed, .threads = threads, .vocab_size = DET_VOCAB,
			      .scale = "tiny" };
	struct kr_recipe *r;
	struct kr_plan plan;
	char err[KR_ERR_MAX] = "";
	uint64_t x = 88172645463325252ull;
	float loss, lr;

	assert_int_equal(kr_create(&env, &r, &plan, err), 0);
	size_t nt = (size_t)plan.batch * (plan.seq_len + 1);
	uint16_t *tok = malloc(nt * sizeof *tok);
	assert_non_null(tok);
	for (int s = 0; s < DET_STEPS; s++) {
		for (size_t i = 0; i < nt; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			tok[i] = (uint16_t)(x % DET_VOCAB);
		}
		assert_int_equal(kr_train_step(r, s, tok, &loss, &lr, err), 0);
		assert_true(loss > 0 && loss < 20);
	}
	*n = kr_state_bytes(r);
	uint8_t *buf = malloc(*n);
	assert_non_null(buf);
	assert_int_equal(kr_state_save(r, buf, *n, err), 0);
	free(tok);
	kr_destroy(r);
	return buf;
}

static void thread_count_does_not_change_bits(void **state)
{
	size_t n1, n2, n3;
	uint8_t *s1 = train_state(5, 1, &n1), *s2 = train_state(5, 2, &n2), *s3 = train_state(5, 3, &n3);

	(void)state;
	assert_int_equal(n1, n2);
	assert_int_equal(n1, n3);
	assert_memory_equal(s1, s2, n1);
	assert_memory_equal(s1, s3, n1);
	free(s1);
	free(s2);
	free(s3);
}

/* The AVX-512 gemm kernel (where the CPU has it) and the AVX2 one train to
 * the same bits: each output element keeps its one accumulator and its
 * order whatever the register width (docs/determinism.md). */
static void gemm_kernel_does_not_change_bits(void **state)
{
	size_t n1, n2;
	const char *wide, *narrow;
	uint8_t *s1, *s2;

	(void)state;
	kn_set_avx512(1);
	wide = kn_isa();
	s1 = train_state(5, 2, &n1);
	kn_set_avx512(0);
	narrow = kn_isa();
	s2 = train_state(5, 2, &n2);
	kn_set_avx512(1);
	print_message("gemm kernels that ran: %s, %s (%s)\n", wide, narrow,
		      strcmp(wide, narrow) ? "compared" : "this CPU has only one");
	assert_int_equal(n1, n2);
	assert_memory_equal(s1, s2, n1);
	free(s1);
	free(s2);
}

static void same_inputs_same_bits_and_seed_matters(void **state)
{
	size_t n1, n2, n3;
	uint8_t *a = train_state(5, 2, &n1), *b = train_state(5, 2, &n2), *c = train_state(6, 2, &n3);

	(void)state;
	assert_memory_equal(a, b, n1);
	assert_int_equal(n1, n3);
	assert_memory_not_equal(a, c, n1);
	free(a);
	free(b);
	free(c);
}

/* Loading a state into a fresh recipe reproduces the saved one exactly, and
 * the next step from it matches the next step of the original. */
static void state_roundtrips(void **state)
{
	struct kr_env env = { .seed = 9, .threads = 2, .vocab_size = DET_VOCAB, .scale = "tiny" };
	struct kr_recipe *a, *b;
	struct kr_plan plan;
	char err[KR_ERR_MAX] = "";
	float la, lb, lr;

	(void)state;
	assert_int_equal(kr_create(&env, &a, &plan, err), 0);
	env.seed = 10;
	assert_int_equal(kr_create(&env, &b, &plan, err), 0);
	size_t nt = (size_t)plan.batch * (plan.seq_len + 1), n = kr_state_bytes(a);
	uint16_t *tok = calloc(nt, sizeof *tok);
	uint8_t *sa = malloc(n), *sb = malloc(n);
	assert_non_null(tok);
	for (size_t i = 0; i < nt; i++)
		tok[i] = (uint16_t)(i * 7 % DET_VOCAB);
	assert_int_equal(kr_train_step(a, 0, tok, &la, &lr, err), 0);
	assert_int_equal(kr_state_save(a, sa, n, err), 0);
	assert_int_equal(kr_state_load(b, sa, n, err), 0);
	assert_int_equal(kr_state_save(b, sb, n, err), 0);
	assert_memory_equal(sa, sb, n);
	assert_int_equal(kr_train_step(a, 1, tok, &la, &lr, err), 0);
	assert_int_equal(kr_train_step(b, 1, tok, &lb, &lr, err), 0);
	assert_true(la == lb);
	free(tok);
	free(sa);
	free(sb);
	kr_destroy(a);
	kr_destroy(b);
}

/* The saved state of a recipe just created with env (caller frees): in
 * process, or over the pipe to the runner under test when pipe. */
static uint8_t *fresh_state(struct kr_env env, int pipe, size_t *n)
{
	struct kr_plan plan;
	uint8_t *buf;

	if (pipe) {
		struct recipe_host h;
		struct kerr err = { { 0 }, { 0 } };

		memset(&h, 0, sizeof h);
		if (recipe_host_pipe(&h, getenv("KARPA_RUNNER"), NULL, NULL, &err) < 0 ||
		    recipe_host_create(&h, &env, &plan, &err) < 0 || recipe_host_state_bytes(&h, n, &err) < 0)
			fail_msg("runner %s: %s: %s", getenv("KARPA_RUNNER"), err.code, err.msg);
		assert_non_null(buf = malloc(*n));
		if (h.save(&h, buf, *n, &err) < 0)
			fail_msg("save: %s: %s", err.code, err.msg);
		recipe_host_destroy(&h);
	} else {
		struct kr_recipe *r;
		char err[KR_ERR_MAX] = "";

		assert_int_equal(kr_create(&env, &r, &plan, err), 0);
		*n = kr_state_bytes(r);
		assert_non_null(buf = malloc(*n));
		assert_int_equal(kr_state_save(r, buf, *n, err), 0);
		kr_destroy(r);
	}
	return buf;
}

/* A recipe told a state follows skips its random init, in process and
 * over the wire: two seeds then give the same (zero) state where a normal
 * create gives two; what it runs from after the load is the loaded state,
 * so its next step is the original's. */
static void state_follows_skips_only_the_init(void **state)
{
	struct kr_env env = { .seed = 9, .threads = 2, .vocab_size = DET_VOCAB, .scale = "tiny", .state_follows = 1 };
	struct kr_recipe *a, *b;
	struct kr_plan plan;
	char err[KR_ERR_MAX] = "";
	float la, lb, lr;
	size_t n, n2;

	(void)state;
	assert_non_null(getenv("KARPA_RUNNER"));
	for (int pipe = 0; pipe < 2; pipe++) {
		uint8_t *s9, *s10, *init9, *init10;

		s9 = fresh_state(env, pipe, &n);
		env.seed = 10;
		s10 = fresh_state(env, pipe, &n2);
		env.state_follows = 0;
		init10 = fresh_state(env, pipe, &n2);
		env.seed = 9;
		init9 = fresh_state(env, pipe, &n2);
		env.state_follows = 1;
		assert_int_equal(n, n2);
		assert_memory_equal(s9, s10, n);
		assert_memory_not_equal(init9, init10, n);
		assert_memory_not_equal(s9, init9, n);
		print_message("   %s: a create told a state follows skips the init (%zu state bytes)\n",
			      pipe ? "over the pipe to the runner" : "in process", n);
		free(s9);
		free(s10);
		free(init9);
		free(init10);
	}
	env.state_follows = 0;
	assert_int_equal(kr_create(&env, &a, &plan, err), 0);
	env.state_follows = 1;
	assert_int_equal(kr_create(&env, &b, &plan, err), 0);
	size_t nt = (size_t)plan.batch * (plan.seq_len + 1);
	uint16_t *tok = calloc(nt, sizeof *tok);
	uint8_t *sa = malloc(n);
	assert_non_null(tok);
	assert_non_null(sa);
	for (size_t i = 0; i < nt; i++)
		tok[i] = (uint16_t)(i * 11 % DET_VOCAB);
	assert_int_equal(kr_train_step(a, 0, tok, &la, &lr, err), 0);
	assert_int_equal(kr_state_save(a, sa, n, err), 0);
	assert_int_equal(kr_state_load(b, sa, n, err), 0);
	assert_int_equal(kr_train_step(a, 1, tok, &la, &lr, err), 0);
	assert_int_equal(kr_train_step(b, 1, tok, &lb, &lr, err), 0);
	assert_true(la == lb);
	free(tok);
	free(sa);
	kr_destroy(a);
	kr_destroy(b);
}

/* Large payloads go through the bulk region (recipe_wire.h) instead of the
 * pipe: the same runner answers with the same bits either way, logits,
 * saved states and a state loaded into it alike. */
static void pipe_and_bulk_region_same_bits(void **state)
{
	struct kr_env env = { .seed = 4, .threads = 2, .vocab_size = DET_VOCAB, .scale = "tiny" };
	struct recipe_host h[2];
	struct kerr err = { { 0 }, { 0 } };
	struct kr_plan plan;
	float *lg[2], loss[2], first[2], lr;
	uint8_t *st[2], *init;
	uint16_t *tok;
	size_t n = 0, nt, nl;

	(void)state;
	assert_non_null(getenv("KARPA_RUNNER"));
	for (int i = 0; i < 2; i++) {
		memset(&h[i], 0, sizeof h[i]);
		if (recipe_host_pipe(&h[i], getenv("KARPA_RUNNER"), NULL, NULL, &err) < 0 ||
		    recipe_host_create(&h[i], &env, &plan, &err) < 0 || recipe_host_state_bytes(&h[i], &n, &err) < 0)
			fail_msg("runner %s: %s: %s", getenv("KARPA_RUNNER"), err.code, err.msg);
		/* the first through the pipe alone, the second through the region alone */
		assert_int_equal(recipe_pipe_set_bulk_min(&h[i], i ? 0 : UINT64_MAX), 0);
	}
	nt = (size_t)plan.batch * (plan.seq_len + 1);
	nl = (size_t)2 * plan.seq_len * DET_VOCAB;
	assert_non_null(tok = malloc(nt * sizeof *tok));
	for (size_t i = 0; i < nt; i++)
		tok[i] = (uint16_t)(i * 37 % DET_VOCAB);
	/* the untrained state, the one loaded back below */
	assert_non_null(init = malloc(n));
	if (h[0].save(&h[0], init, n, &err) < 0)
		fail_msg("save: %s: %s", err.code, err.msg);
	for (int i = 0; i < 2; i++) {
		assert_non_null(lg[i] = malloc(nl * sizeof *lg[i]));
		assert_non_null(st[i] = malloc(n));
		for (int s = 0; s < 2; s++)
			if (h[i].train_step(&h[i], s, tok, s ? &loss[i] : &first[i], &lr, &err) < 0)
				fail_msg("train: %s: %s", err.code, err.msg);
		if (h[i].logits(&h[i], tok, 2, plan.seq_len, lg[i], &err) < 0 || h[i].save(&h[i], st[i], n, &err) < 0)
			fail_msg("logits/save: %s: %s", err.code, err.msg);
	}
	assert_true(first[0] == first[1] && loss[0] == loss[1] && first[0] != loss[0]);
	assert_memory_equal(lg[0], lg[1], nl * sizeof *lg[0]);
	assert_memory_equal(st[0], st[1], n);
	assert_memory_not_equal(init, st[0], n);
	/* the untrained state loaded into both, through the pipe and through
	 * the region: the first step's loss again, and the same state after */
	for (int i = 0; i < 2; i++)
		if (h[i].load(&h[i], init, n, &err) < 0 || h[i].train_step(&h[i], 0, tok, &loss[i], &lr, &err) < 0 ||
		    h[i].save(&h[i], st[i], n, &err) < 0)
			fail_msg("load/train/save: %s: %s", err.code, err.msg);
	assert_true(loss[0] == first[0] && loss[1] == first[0]);
	assert_memory_equal(st[0], st[1], n);
	/* and each went the way it was meant to: logits, two saves and a load
	 * through the region, nothing through it for the other */
	assert_int_equal(recipe_pipe_bulk_calls(&h[0]), 0);
	assert_int_equal(recipe_pipe_bulk_calls(&h[1]), 4);
	print_message("   %zu logits and a %zu-byte state the same through the pipe and the bulk region\n", nl, n);
	for (int i = 0; i < 2; i++) {
		recipe_host_destroy(&h[i]);
		free(lg[i]);
		free(st[i]);
	}
	free(init);
	free(tok);
}

/* A blob from another recipe, version or shape is refused with a message
 * that says which. */
static void foreign_state_is_refused(void **state)
{
	struct kr_env env = { .seed = 1, .threads = 1, .vocab_size = DET_VOCAB, .scale = "tiny" };
	struct kr_recipe *r, *big;
	struct kr_plan plan;
	char err[KR_ERR_MAX] = "";

	(void)state;
	assert_int_equal(kr_create(&env, &r, &plan, err), 0);
	size_t n = kr_state_bytes(r);
	uint8_t *s = malloc(n);
	assert_int_equal(kr_state_save(r, s, n, err), 0);

	s[0] ^= 1; /* magic */
	assert_int_equal(kr_state_load(r, s, n, err), -1);
	assert_non_null(strstr(err, "bad magic"));
	s[0] ^= 1;
	s[16] = '9'; /* version "9.1.0" */
	assert_int_equal(kr_state_load(r, s, n, err), -1);
	assert_non_null(strstr(err, "9.1.0"));
	s[16] = '0';
	assert_int_equal(kr_state_load(r, s, n - 4, err), -1);
	assert_non_null(strstr(err, "shape"));
	assert_int_equal(kr_state_load(r, s, 10, err), -1);

	env.vocab_size = DET_VOCAB + 1; /* same scale, another shape */
	assert_int_equal(kr_create(&env, &big, &plan, err), 0);
	assert_int_equal(kr_state_load(big, s, n, err), -1);
	assert_non_null(strstr(err, "does not match"));
	assert_int_equal(kr_state_load(r, s, n, err), 0);

	free(s);
	kr_destroy(r);
	kr_destroy(big);
}

static void unknown_scale_and_bad_tokens_fail(void **state)
{
	struct kr_env env = { .seed = 1, .threads = 1, .vocab_size = DET_VOCAB, .scale = "huge" };
	struct kr_recipe *r = NULL;
	struct kr_plan plan;
	char err[KR_ERR_MAX] = "";
	float loss, lr, logits[1];

	(void)state;
	assert_int_equal(kr_create(&env, &r, &plan, err), -1);
	assert_non_null(strstr(err, "scale"));
	env.scale = "tiny";
	assert_int_equal(kr_create(&env, &r, &plan, err), 0);
	uint16_t *tok = calloc((size_t)plan.batch * (plan.seq_len + 1), sizeof *tok);
	tok[5] = DET_VOCAB;
	assert_int_equal(kr_train_step(r, 0, tok, &loss, &lr, err), -1);
	assert_non_null(strstr(err, "token 5"));
	assert_int_equal(kr_logits(r, tok, 1, plan.seq_len + 1, logits, err), -1);
	free(tok);
	kr_destroy(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(thread_count_does_not_change_bits),
		cmocka_unit_test(gemm_kernel_does_not_change_bits),
		cmocka_unit_test(same_inputs_same_bits_and_seed_matters),
		cmocka_unit_test(state_roundtrips),
		cmocka_unit_test(state_follows_skips_only_the_init),
		cmocka_unit_test(pipe_and_bulk_region_same_bits),
		cmocka_unit_test(foreign_state_is_refused),
		cmocka_unit_test(unknown_scale_and_bad_tokens_fail),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
