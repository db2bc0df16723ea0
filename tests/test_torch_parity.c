/* test_torch_parity.c: recipe v0.1.0's GPT agrees with the same model in
 * PyTorch (tests/torch_parity.py) on the same weights and batch: logits,
 * loss, every parameter gradient, and the loss and parameters after 10
 * AdamW steps with the warmup schedule.
 *
 * Tolerance: |c - t| <= 1e-4 * |t| + 1e-4 * max|t| over the array. The
 * relative term is the brief's 1e-4; the absolute floor scales with the
 * array so an element that is tiny next to its neighbours (a gradient that
 * nearly cancels) is judged against the array's float32 rounding, not its
 * own magnitude. */
#include "testutil.h"

#include <math.h>

#include "gpt.h"
#include "sandbox/recipe_api.h"

#define PAR_STEPS 10
#define PAR_RTOL 1e-4
#define PAR_ATOL_REL 1e-4

static void write_raw(const char *dir, const char *name, const void *p, size_t n)
{
	char path[FS_PATH_MAX];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static float *read_floats(const char *dir, const char *name, size_t n)
{
	char path[FS_PATH_MAX];
	float *p = malloc(n * sizeof *p);
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	assert_non_null(p);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("%s was not written by torch_parity.py", path);
	assert_int_equal(fread(p, sizeof *p, n, f), n);
	assert_int_equal(fgetc(f), EOF);
	fclose(f);
	return p;
}

/* Returns the worst |c-t| / allowed ratio (<= 1 passes) and prints it. */
static double compare(const char *what, const float *c, const float *t, size_t n)
{
	double tmax = 0, worst = 0;
	size_t at = 0;

	for (size_t i = 0; i < n; i++)
		tmax = fmax(tmax, fabs(t[i]));
	for (size_t i = 0; i < n; i++) {
		double allowed = PAR_RTOL * fabs(t[i]) + PAR_ATOL_REL * tmax;
		double r = fabs((double)c[i] - t[i]) / (allowed > 0 ? allowed : 1e-30);
		if (!(r <= worst)) {
			worst = r;
			at = i;
		}
	}
	printf("   %-12s n=%-7zu worst/allowed %.3f at %zu (c %.8g t %.8g)\n", what, n, worst, at,
	       (double)c[at], (double)t[at]);
	return worst;
}

static void gpt_matches_torch(void **state)
{
	struct gpt_config cfg = { .V = 128, .C = 32, .L = 2, .NH = 2, .T = 16, .B = 2,
				  .steps = PAR_STEPS, .warmup_steps = 4, .lr = 1e-2f, .beta1 = 0.9f,
				  .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f,
				  .init_std = 0.1f };
	char err[KR_ERR_MAX] = "", out[4096], cfgtxt[512];
	const char *src = getenv("KARPA_SRC");
	struct gpt *g;
	char *dir = tu_mkdtemp();
	int N = cfg.B * cfg.T, tok[2 * 17];
	uint64_t rs = gpt_rng_key(7, "test.tokens", 0);

	(void)state;
	/* a larger init than GPT-2's makes every layer matter to the logits */
	assert_non_null(g = gpt_create(&cfg, 42, 2, err));
	for (int i = 0; i < cfg.B * (cfg.T + 1); i++)
		tok[i] = (int)(gpt_rng_next(&rs) % (uint64_t)cfg.V);
	for (int b = 0; b < cfg.B; b++)
		for (int t = 0; t < cfg.T; t++) {
			g->inputs[b * cfg.T + t] = tok[b * (cfg.T + 1) + t];
			g->targets[b * cfg.T + t] = tok[b * (cfg.T + 1) + t + 1];
		}
	snprintf(cfgtxt, sizeof cfgtxt, "%d %d %d %d %d %d %lld %d %.9g %.9g %.9g %.9g %.9g\n", cfg.V,
		 cfg.C, cfg.L, cfg.NH, cfg.T, cfg.B, (long long)cfg.warmup_steps, PAR_STEPS,
		 (double)cfg.lr, (double)cfg.weight_decay, (double)cfg.beta1, (double)cfg.beta2,
		 (double)cfg.eps);
	write_raw(dir, "config.txt", cfgtxt, strlen(cfgtxt));
	write_raw(dir, "params.bin", g->params, g->nparams * sizeof(float));
	write_raw(dir, "tokens.bin", tok, sizeof tok);

	int rc = tu_run(out, sizeof out, "/usr/bin/python3 '%s/tests/torch_parity.py' '%s'",
			src && *src ? src : ".", dir);
	if (rc == 3)
		fail_msg("PyTorch is not installed for /usr/bin/python3: run scripts/setup.sh (%s)", out);
	if (rc != 0)
		fail_msg("torch_parity.py failed (%d): %s", rc, out);

	gpt_forward(g, g->inputs, cfg.B, cfg.T, NULL);
	float *tl = read_floats(dir, "logits.bin", (size_t)N * cfg.V);
	assert_true(compare("logits", g->a.logits, tl, (size_t)N * cfg.V) <= 1.0);
	float loss = gpt_backward(g, g->targets);
	float *tloss = read_floats(dir, "loss.bin", 1);
	assert_true(compare("loss", &loss, tloss, 1) <= 1.0);
	float *tg = read_floats(dir, "grads.bin", g->nparams);
	size_t off = 0;
	for (int i = 0; i < GPT_NUM_TENSORS; i++) {
		char name[32];
		snprintf(name, sizeof name, "grad[%d]", i);
		assert_true(compare(name, g->grads + off, tg + off, g->sizes[i]) <= 1.0);
		off += g->sizes[i];
	}

	for (int s = 0; s < PAR_STEPS; s++) {
		gpt_forward(g, g->inputs, cfg.B, cfg.T, NULL);
		gpt_backward(g, g->targets);
		gpt_adamw(g, gpt_lr(&cfg, s), s + 1);
	}
	gpt_forward(g, g->inputs, cfg.B, cfg.T, NULL);
	loss = gpt_backward(g, g->targets);
	float *tloss10 = read_floats(dir, "loss10.bin", 1);
	assert_true(compare("loss@10", &loss, tloss10, 1) <= 1.0);
	assert_true(loss < tloss[0]); /* training on one batch must lower its loss */
	/* Parameters after 10 steps, tensor by tensor. The key bias is left out:
	 * its gradient is exactly zero in exact arithmetic (softmax ignores a
	 * shift shared by a row's scores), so both sides hold rounding noise
	 * there, and Adam scales noise of either sign up to a full lr step. */
	float *tp = read_floats(dir, "params10.bin", g->nparams);
	off = 0;
	for (int i = 0; i < GPT_NUM_TENSORS; i++) {
		char name[32];
		snprintf(name, sizeof name, "param@10[%d]", i);
		if (i == 5) { /* qkvb [L,3C]: compare q and v parts of each layer */
			for (int l = 0; l < cfg.L; l++) {
				size_t q = off + (size_t)l * 3 * cfg.C, v = q + 2 * (size_t)cfg.C;
				assert_true(compare("qkvb.q@10", g->params + q, tp + q, cfg.C) <= 1.0);
				assert_true(compare("qkvb.v@10", g->params + v, tp + v, cfg.C) <= 1.0);
			}
		} else {
			assert_true(compare(name, g->params + off, tp + off, g->sizes[i]) <= 1.0);
		}
		off += g->sizes[i];
	}

	free(tl);
	free(tloss);
	free(tg);
	free(tloss10);
	free(tp);
	gpt_destroy(g);
	tu_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(gpt_matches_torch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
