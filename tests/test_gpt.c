/* test_gpt.c: the recipe's layers and whole model compute the gradients of
 * their forward (finite differences), the fast gemm matches the reference
 * gemm bit for bit, and the model is causal.
 *
 * Gradient check: for a random direction d over one tensor x, the analytic
 * directional derivative <grad, d> is compared with the central difference
 * (f(x + h d) - f(x - h d)) / 2h of a scalar f computed in float32, f summed
 * in double. With h = 1e-2 and inputs of order 1 the truncation error is
 * O(h^2) ~ 1e-4 relative and float32 rounding of f adds ~1e-7 |f| / h; the
 * tolerance 2e-3 + 1e-2 * |fd| sits above both and far below the O(1)
 * error of a wrong formula (a missing term or factor). */
#include "testutil.h"

#include <math.h>

#include "gpt.h"
#include "sandbox/recipe_api.h"

#define FD_H 1e-2f
#define FD_ATOL 2e-3
#define FD_RTOL 1e-2

static uint64_t rng_state;

static float urand(void) /* uniform in [-1, 1) */
{
	return (float)((gpt_rng_next(&rng_state) >> 40) / 8388608.0 - 1.0);
}

static float *randv(size_t n, float scale)
{
	float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);

	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = urand() * scale;
	return p;
}

static double dotd(const float *a, const float *b, size_t n)
{
	double s = 0;

	for (size_t i = 0; i < n; i++)
		s += (double)a[i] * b[i];
	return s;
}

/* One directional check of tensor x (n floats) with analytic gradient g;
 * f re-runs the forward on ctx and returns the scalar. */
static void fd_check(const char *what, float *x, size_t n, const float *g, double (*f)(void *),
		     void *ctx)
{
	float *d = randv(n, 1.0f), *x0 = malloc(n * sizeof *x0);
	double an = dotd(g, d, n), fp, fm, fd;

	assert_non_null(x0);
	memcpy(x0, x, n * sizeof *x);
	for (size_t i = 0; i < n; i++)
		x[i] = x0[i] + FD_H * d[i];
	fp = f(ctx);
	for (size_t i = 0; i < n; i++)
		x[i] = x0[i] - FD_H * d[i];
	fm = f(ctx);
	memcpy(x, x0, n * sizeof *x);
	fd = (fp - fm) / (2.0 * FD_H);
	printf("   %-18s analytic %+.6e  numeric %+.6e\n", what, an, fd);
	if (!(fabs(an - fd) <= FD_ATOL + FD_RTOL * fabs(fd)))
		fail_msg("%s: analytic %g vs finite difference %g", what, an, fd);
	free(d);
	free(x0);
}

/* ------------------------------------------------------------ layers */

enum { LB = 2, LT = 5, LC = 8, LNH = 2, LOC = 12, LV = 11 };
#define LN (LB * LT)

struct lctx {
	int kind;
	float *in, *w, *b, *out, *mean, *rstd, *R, *att;
	int *tok;
	struct kn_scratch ks;
	struct ly_att_scratch as[4];
};

enum { K_LN, K_MM, K_ATT, K_GELU, K_ENC, K_CE };

static double lforward(void *p)
{
	struct lctx *c = p;
	size_t n = 0;

	switch (c->kind) {
	case K_LN:
		layernorm_forward(c->out, c->mean, c->rstd, c->in, c->w, c->b, LN, LC);
		n = (size_t)LN * LC;
		break;
	case K_MM:
		matmul_forward(c->out, c->in, c->w, c->b, LN, LC, LOC, &c->ks);
		n = (size_t)LN * LOC;
		break;
	case K_ATT:
		attention_forward(c->out, c->att, c->in, LB, LT, LC, LNH, c->as);
		n = (size_t)LN * LC;
		break;
	case K_GELU:
		gelu_forward(c->out, c->in, (size_t)LN * LC);
		n = (size_t)LN * LC;
		break;
	case K_ENC:
		encoder_forward(c->out, c->tok, c->w, c->b, LB, LT, LC);
		n = (size_t)LN * LC;
		break;
	case K_CE: {
		float tmp[LN * LV], losses[LN];
		memcpy(tmp, c->in, sizeof tmp);
		return crossentropy_forward_backward(tmp, losses, c->tok, LN, LV);
	}
	}
	return dotd(c->out, c->R, n);
}

static struct lctx *lctx_new(int kind)
{
	struct lctx *c = calloc(1, sizeof *c);

	assert_non_null(c);
	c->kind = kind;
	c->out = randv((size_t)LN * 3 * LC + LN * LOC, 0);
	c->mean = randv(LN, 0);
	c->rstd = randv(LN, 0);
	c->R = randv((size_t)LN * 3 * LC + LN * LOC, 1.0f);
	c->att = randv((size_t)LB * LNH * LT * LT, 0);
	c->tok = calloc(LN, sizeof *c->tok);
	for (int i = 0; i < LN; i++)
		c->tok[i] = (int)(gpt_rng_next(&rng_state) % LV);
	c->tok[3] = c->tok[7]; /* a repeated token exercises the encoder's scatter-add */
	c->ks.pa = randv(kn_pack_a_floats(64, 64), 0);
	c->ks.pb = randv(kn_pack_b_floats(64, 64), 0);
	for (int t = 0; t < 4; t++) {
		c->as[t].ks.pa = randv(ly_att_pack_floats(LT, LC / LNH), 0);
		c->as[t].ks.pb = randv(ly_att_pack_floats(LT, LC / LNH), 0);
		c->as[t].dp = randv((size_t)LT * LT, 0);
	}
	return c;
}

static void lctx_free(struct lctx *c)
{
	free(c->in), free(c->w), free(c->b), free(c->out), free(c->mean), free(c->rstd);
	free(c->R), free(c->att), free(c->tok), free(c->ks.pa), free(c->ks.pb);
	for (int t = 0; t < 4; t++)
		free(c->as[t].ks.pa), free(c->as[t].ks.pb), free(c->as[t].dp);
	free(c);
}

static void layernorm_gradients(void **state)
{
	struct lctx *c = lctx_new(K_LN);
	float *din = randv((size_t)LN * LC, 0), *dw = randv(LC, 0), *db = randv(LC, 0);
	float *partial = randv(ly_partial_floats(LN, 2 * LC), 0);

	(void)state;
	c->in = randv((size_t)LN * LC, 2.0f);
	c->w = randv(LC, 1.0f);
	c->b = randv(LC, 1.0f);
	lforward(c);
	layernorm_backward(din, dw, db, c->R, c->in, c->w, c->mean, c->rstd, LN, LC, partial);
	fd_check("layernorm.inp", c->in, (size_t)LN * LC, din, lforward, c);
	fd_check("layernorm.w", c->w, LC, dw, lforward, c);
	fd_check("layernorm.b", c->b, LC, db, lforward, c);
	free(din), free(dw), free(db), free(partial);
	lctx_free(c);
}

static void matmul_gradients(void **state)
{
	struct lctx *c = lctx_new(K_MM);
	float *din = randv((size_t)LN * LC, 0), *dw = randv((size_t)LOC * LC, 0), *db = randv(LOC, 0);
	float *partial = randv(ly_partial_floats(LN, LOC), 0);

	(void)state;
	c->in = randv((size_t)LN * LC, 1.0f);
	c->w = randv((size_t)LOC * LC, 1.0f);
	c->b = randv(LOC, 1.0f);
	matmul_backward(din, dw, db, c->R, c->in, c->w, LN, LC, LOC, &c->ks, partial);
	fd_check("matmul.inp", c->in, (size_t)LN * LC, din, lforward, c);
	fd_check("matmul.w", c->w, (size_t)LOC * LC, dw, lforward, c);
	fd_check("matmul.bias", c->b, LOC, db, lforward, c);
	free(din), free(dw), free(db), free(partial);
	lctx_free(c);
}

static void attention_gradients(void **state)
{
	struct lctx *c = lctx_new(K_ATT);
	float *dqkv = randv((size_t)LN * 3 * LC, 0);

	(void)state;
	c->in = randv((size_t)LN * 3 * LC, 1.5f);
	lforward(c);
	attention_backward(dqkv, c->R, c->in, c->att, LB, LT, LC, LNH, c->as);
	fd_check("attention.qkv", c->in, (size_t)LN * 3 * LC, dqkv, lforward, c);
	/* each third separately: q, k and v have different formulas */
	for (int part = 0; part < 3; part++) {
		float *g = randv((size_t)LN * 3 * LC, 0), *d = randv((size_t)LN * 3 * LC, 0);
		for (int r = 0; r < LN; r++)
			for (int j = 0; j < LC; j++)
				g[r * 3 * LC + part * LC + j] = dqkv[r * 3 * LC + part * LC + j];
		/* a direction confined to that third: zero the others through a masked copy */
		float *x0 = malloc((size_t)LN * 3 * LC * sizeof *x0);
		memcpy(x0, c->in, (size_t)LN * 3 * LC * sizeof *x0);
		double an = 0, fp, fm;
		for (int r = 0; r < LN; r++)
			for (int j = 0; j < LC; j++)
				d[r * 3 * LC + part * LC + j] = urand();
		an = dotd(g, d, (size_t)LN * 3 * LC);
		for (size_t i = 0; i < (size_t)LN * 3 * LC; i++)
			c->in[i] = x0[i] + FD_H * d[i];
		fp = lforward(c);
		for (size_t i = 0; i < (size_t)LN * 3 * LC; i++)
			c->in[i] = x0[i] - FD_H * d[i];
		fm = lforward(c);
		memcpy(c->in, x0, (size_t)LN * 3 * LC * sizeof *x0);
		double fd = (fp - fm) / (2.0 * FD_H);
		printf("   attention.%c       analytic %+.6e  numeric %+.6e\n", "qkv"[part], an, fd);
		assert_true(fabs(an - fd) <= FD_ATOL + FD_RTOL * fabs(fd));
		free(g), free(d), free(x0);
	}
	free(dqkv);
	lctx_free(c);
}

static void gelu_encoder_crossentropy_gradients(void **state)
{
	struct lctx *c = lctx_new(K_GELU);
	float *din = randv((size_t)LN * LC, 0);

	(void)state;
	c->in = randv((size_t)LN * LC, 3.0f);
	gelu_backward(din, c->in, c->R, (size_t)LN * LC);
	fd_check("gelu.inp", c->in, (size_t)LN * LC, din, lforward, c);
	lctx_free(c);

	c = lctx_new(K_ENC);
	float *dwte = randv((size_t)LV * LC, 0), *dwpe = randv((size_t)LT * LC, 0);
	c->w = randv((size_t)LV * LC, 1.0f);
	c->b = randv((size_t)LT * LC, 1.0f);
	encoder_backward(dwte, dwpe, c->R, c->tok, LB, LT, LC, LV);
	fd_check("encoder.wte", c->w, (size_t)LV * LC, dwte, lforward, c);
	fd_check("encoder.wpe", c->b, (size_t)LT * LC, dwpe, lforward, c);
	lctx_free(c);

	c = lctx_new(K_CE);
	float dl[LN * LV], losses[LN];
	c->in = randv((size_t)LN * LV, 3.0f);
	memcpy(dl, c->in, sizeof dl);
	crossentropy_forward_backward(dl, losses, c->tok, LN, LV);
	fd_check("crossentropy", c->in, (size_t)LN * LV, dl, lforward, c);
	free(din), free(dwte), free(dwpe);
	lctx_free(c);
}

/* ------------------------------------------------------------- model */

static struct gpt_config small_cfg(void)
{
	struct gpt_config c = { .V = 23, .C = 16, .L = 2, .NH = 2, .T = 7, .B = 2, .steps = 1,
				.warmup_steps = 1, .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.95f,
				.eps = 1e-8f, .weight_decay = 0.1f, .init_std = 0.3f };
	return c;
}

/* A head wider than the context and than a packed panel (hs 24 at T 16,
 * the shape a miner's search reached with width 48 and 2 heads): the
 * attention's packing space is sized for every gemm it runs, forward and
 * backward. It was sized for T as the rows, and the P V gemm's packed B
 * (hs columns) overran it: ASan's heap-buffer-overflow here, and in the
 * sandboxed runner a corrupted OpenMP team that waited for ever. */
static void attention_head_wider_than_context(void **state)
{
	struct gpt_config cfg = small_cfg();
	char err[KR_ERR_MAX];
	struct gpt *g;

	(void)state;
	cfg.C = 48;
	cfg.NH = 2;
	cfg.T = 16;
	cfg.L = 1;
	assert_non_null(g = gpt_create(&cfg, 5, 2, err));
	for (int i = 0; i < cfg.B * cfg.T; i++) {
		g->inputs[i] = (int)(gpt_rng_next(&rng_state) % cfg.V);
		g->targets[i] = (int)(gpt_rng_next(&rng_state) % cfg.V);
	}
	gpt_forward(g, g->inputs, cfg.B, cfg.T, NULL);
	assert_true(isfinite(gpt_backward(g, g->targets)));
	gpt_destroy(g);
}

static double model_loss(void *p)
{
	struct gpt *g = p;

	gpt_forward(g, g->inputs, g->cfg.B, g->cfg.T, NULL);
	return crossentropy_forward_backward(g->a.logits, g->a.losses, g->targets,
					     g->cfg.B * g->cfg.T, g->cfg.V);
}

static void model_gradients(void **state)
{
	struct gpt_config cfg = small_cfg();
	char err[KR_ERR_MAX];
	struct gpt *g = gpt_create(&cfg, 3, 2, err);
	size_t off = 0;
	static const char *names[GPT_NUM_TENSORS] = { "wte", "wpe", "ln1w", "ln1b", "qkvw", "qkvb",
						      "attprojw", "attprojb", "ln2w", "ln2b", "fcw",
						      "fcb", "fcprojw", "fcprojb", "lnfw", "lnfb" };

	(void)state;
	assert_non_null(g);
	/* non-trivial norms and biases, so their gradients are exercised */
	for (size_t i = 0; i < g->nparams; i++)
		g->params[i] += 0.1f * urand();
	for (int i = 0; i < cfg.B * cfg.T; i++) {
		g->inputs[i] = (int)(gpt_rng_next(&rng_state) % cfg.V);
		g->targets[i] = (int)(gpt_rng_next(&rng_state) % cfg.V);
	}
	gpt_forward(g, g->inputs, cfg.B, cfg.T, NULL);
	gpt_backward(g, g->targets);
	float *grads = malloc(g->nparams * sizeof *grads);
	memcpy(grads, g->grads, g->nparams * sizeof *grads);
	for (int i = 0; i < GPT_NUM_TENSORS; i++) {
		char what[32];
		snprintf(what, sizeof what, "model.%s", names[i]);
		fd_check(what, g->params + off, g->sizes[i], grads + off, model_loss, g);
		off += g->sizes[i];
	}
	free(grads);
	gpt_destroy(g);
}

/* -------------------------------------------------------------- gemm */

/* The packed AVX2 gemm and the scalar fmaf loop sum in the same order, so
 * they agree exactly, for every view (plain, transposed) and edge shape. */
/* One gemm kernel against the reference on every shape, transpose and
 * accumulate flag. */
static void gemm_shapes(void)
{
	static const int shapes[][3] = { { 1, 1, 1 }, { 6, 16, 5 }, { 7, 17, 3 }, { 50, 70, 33 },
					  { 97, 300, 64 }, { 13, 5, 129 }, { 12, 64, 40 } };
	for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
		int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
		float *A = randv((size_t)M * K, 1.0f), *B = randv((size_t)K * N, 1.0f);
		float *C1 = randv((size_t)M * N, 1.0f), *C2 = malloc((size_t)M * N * sizeof(float));
		struct kn_scratch ks = { randv(kn_pack_a_floats(M, K), 0), randv(kn_pack_b_floats(N, K), 0),
					 0, 0 };
		for (int tr = 0; tr < 4; tr++) {
			struct kn_view a = tr & 1 ? (struct kn_view){ A, 1, M } : (struct kn_view){ A, K, 1 };
			struct kn_view b = tr & 2 ? (struct kn_view){ B, 1, K } : (struct kn_view){ B, N, 1 };
			for (int acc = 0; acc < 2; acc++) {
				for (size_t i = 0; i < (size_t)M * N; i++)
					C1[i] = urand();
				memcpy(C2, C1, (size_t)M * N * sizeof(float));
				if (tr == 3)
					kn_gemm_serial(M, N, K, a, b, C1, N, acc, &ks);
				else
					kn_gemm(M, N, K, a, b, C1, N, acc, &ks);
				kn_gemm_ref(M, N, K, a, b, C2, N, acc);
				assert_memory_equal(C1, C2, (size_t)M * N * sizeof(float));
			}
		}
		free(A), free(B), free(C1), free(C2), free(ks.pa), free(ks.pb);
	}
}

/* Every micro-kernel this CPU can run (AVX-512 where it has it, AVX2, or
 * the portable one) matches the reference bit for bit; the output says
 * which ran. */
static void fast_gemm_matches_reference_bits(void **state)
{
	(void)state;
	for (int wide = 1; wide >= 0; wide--) {
		kn_set_avx512(wide);
		print_message("gemm kernel: %s\n", kn_isa());
		gemm_shapes();
	}
	kn_set_avx512(1);
}

/* ---------------------------------------------------------- causality */

/* Changing token t0 of a row leaves every logit before t0 bit-identical
 * (and changes the logits at t0). */
static void future_tokens_do_not_leak(void **state)
{
	struct kr_env env = { .seed = 2, .threads = 2, .vocab_size = 320, .scale = "tiny" };
	struct kr_recipe *r;
	struct kr_plan plan;
	char err[KR_ERR_MAX] = "";
	int T = 40, rows = 3, t0 = 23, V = 320;

	(void)state;
	assert_int_equal(kr_create(&env, &r, &plan, err), 0);
	uint16_t *tok = malloc((size_t)rows * T * sizeof *tok);
	float *a = malloc((size_t)rows * T * V * sizeof *a), *b = malloc((size_t)rows * T * V * sizeof *b);
	for (int i = 0; i < rows * T; i++)
		tok[i] = (uint16_t)(gpt_rng_next(&rng_state) % V);
	assert_int_equal(kr_logits(r, tok, rows, T, a, err), 0);
	tok[1 * T + t0] = (uint16_t)((tok[1 * T + t0] + 1) % V);
	assert_int_equal(kr_logits(r, tok, rows, T, b, err), 0);
	assert_memory_equal(a + (size_t)T * V, b + (size_t)T * V, (size_t)t0 * V * sizeof *a);
	assert_memory_not_equal(a + ((size_t)T + t0) * V, b + ((size_t)T + t0) * V, (size_t)V * sizeof *a);
	/* other rows are untouched */
	assert_memory_equal(a, b, (size_t)T * V * sizeof *a);
	assert_memory_equal(a + 2 * (size_t)T * V, b + 2 * (size_t)T * V, (size_t)T * V * sizeof *a);
	free(tok), free(a), free(b);
	kr_destroy(r);
}

/* More rows than the batch go through in chunks: each row's logits equal
 * those of the row scored alone. */
static void many_rows_match_single_rows(void **state)
{
	struct kr_env env = { .seed = 4, .threads = 2, .vocab_size = 320, .scale = "tiny" };
	struct kr_recipe *r;
	struct kr_plan plan;
	char err[KR_ERR_MAX] = "";
	int T = 9, V = 320, rows;

	(void)state;
	assert_int_equal(kr_create(&env, &r, &plan, err), 0);
	rows = 2 * plan.batch + 1;
	uint16_t *tok = malloc((size_t)rows * T * sizeof *tok);
	float *all = malloc((size_t)rows * T * V * sizeof *all), *one = malloc((size_t)T * V * sizeof *one);
	for (int i = 0; i < rows * T; i++)
		tok[i] = (uint16_t)(gpt_rng_next(&rng_state) % V);
	assert_int_equal(kr_logits(r, tok, rows, T, all, err), 0);
	for (int row = 0; row < rows; row++) {
		assert_int_equal(kr_logits(r, tok + (size_t)row * T, 1, T, one, err), 0);
		assert_memory_equal(all + (size_t)row * T * V, one, (size_t)T * V * sizeof *one);
	}
	free(tok), free(all), free(one);
	kr_destroy(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(layernorm_gradients),
		cmocka_unit_test(matmul_gradients),
		cmocka_unit_test(attention_gradients),
		cmocka_unit_test(gelu_encoder_crossentropy_gradients),
		cmocka_unit_test(model_gradients),
		cmocka_unit_test(attention_head_wider_than_context),
		cmocka_unit_test(fast_gemm_matches_reference_bits),
		cmocka_unit_test(future_tokens_do_not_leak),
		cmocka_unit_test(many_rows_match_single_rows),
	};
	rng_state = 12345;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
