/* bench_gpu.c: training throughput of the GPU recipe (recipe/cuda/) at a
 * GPU scale, the figure bench/gpu.sh sets beside PyTorch's on the same GPU
 * (bench/gpu_torch.py, the same model and the same FLOPs count). Prints
 * progress (step, loss, tokens/s, ETA), then one line starting with
 * "bench karpa". With --twice it trains twice from the same seed and
 * compares digests of the final weights and moments: the determinism check
 * at full size.
 *
 *   bench_gpu --scale gpu-254m [--batch 16] [--steps 30] [--warmup 5]
 *             [--prec bf16|fp32] [--tokens shard.bin] [--twice] */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime_api.h>

#include "config.h"
#include "gg.h"
#include "gpt.h"

#define GPT2_VOCAB 50257
/* H100 SXM dense bf16 tensor rate, vendor datasheet: MFU's denominator. */
#define H100_BF16_PEAK 989.4e12

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* An llm.c shard's tokens (header: 256 int32, magic 20240520, version 1,
 * count), or NULL. */
static uint16_t *read_shard(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	int32_t h[256];
	uint16_t *t = NULL;

	if (!f)
		return NULL;
	if (fread(h, 4, 256, f) == 256 && h[0] == 20240520 && h[1] == 1 && h[2] > 0 &&
	    (t = malloc((size_t)h[2] * 2)) && fread(t, 2, (size_t)h[2], f) == (size_t)h[2])
		*n = (size_t)h[2];
	else {
		free(t);
		t = NULL;
	}
	fclose(f);
	return t;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

/* the GELU path the timed runs took (gg's default unless --gelu) */
static const char *gelu_ran = "?";

struct opts {
	const char *scale, *tokens, *gelu;
	int batch, steps, warmup, twice;
	enum gk_prec prec;
};

/* One timed run; returns tokens/s, or -1. Writes the weights' digest. */
static double run(const struct opts *o, const struct gpt_config *c, const uint16_t *data,
		  size_t ndata, uint64_t *digest, float *last_loss)
{
	char err[GG_ERR_MAX];
	struct gg *g = gg_create(c, o->prec, 1337, err);
	size_t rowtok = (size_t)c->B * (c->T + 1), np;
	uint16_t *tok = malloc(rowtok * sizeof *tok);
	uint64_t st = gpt_rng_key(42, "bench-tokens", 0);
	double t0 = 0, tps = -1;
	float loss = 0, lr;
	float *buf = NULL;

	if (!g || !tok) {
		fprintf(stderr, "bench_gpu: %s\n", g ? "out of memory" : err);
		goto out;
	}
	if (o->gelu && gg_set_gelu_name(g, o->gelu) < 0) {
		fprintf(stderr, "bench_gpu: --gelu: %s\n", gg_error(g));
		goto out;
	}
	gelu_ran = gg_gelu_name(g);
	for (int s = 0; s < o->warmup + o->steps; s++) {
		for (size_t i = 0; i < rowtok; i++)
			tok[i] = data ? data[((size_t)s * rowtok + i) % ndata]
				      : (uint16_t)(gpt_rng_next(&st) % (uint64_t)c->V);
		if (s == o->warmup)
			t0 = now();
		if (gg_train_step(g, s, tok, &loss, &lr) < 0) {
			fprintf(stderr, "bench_gpu: step %d: %s\n", s, gg_error(g));
			goto out;
		}
		if (s >= o->warmup && ((s - o->warmup + 1) % 10 == 0 || s + 1 == o->warmup + o->steps)) {
			int done = s - o->warmup + 1;
			double el = now() - t0, r = done * (double)c->B * c->T / el;
			fprintf(stderr, "  step %4d/%d loss %.4f  %.0f tok/s  ETA %.0f s\n", done, o->steps,
				loss, r, (o->steps - done) * el / done);
		}
	}
	tps = (double)o->steps * c->B * c->T / (now() - t0);
	*last_loss = loss;
	np = gg_nparams(g);
	if (!(buf = malloc(np * 4 * 3)) || gg_get(g, buf, NULL, buf + np, buf + 2 * np) < 0) {
		fprintf(stderr, "bench_gpu: reading the weights back failed\n");
		tps = -1;
		goto out;
	}
	*digest = fnv(0xcbf29ce484222325ull, buf, np * 4 * 3);
	fprintf(stderr, "matmul algorithms:\n%s", gg_gemm_record(g));
out:
	free(buf);
	free(tok);
	gg_destroy(g);
	return tps;
}

int main(int argc, char **argv)
{
	struct opts o = { "gpu-125m", NULL, NULL, 0, 30, 5, 0, GK_BF16 };
	struct gpt_config c;
	char err[256];
	uint16_t *data = NULL;
	size_t ndata = 0, free_b = 0, total_b = 0;
	uint64_t d1 = 0, d2 = 0;
	float l1 = 0, l2 = 0;
	double tps, fpt, pmat;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--twice"))
			o.twice = 1;
		else if (v && !strcmp(a, "--scale"))
			o.scale = v, i++;
		else if (v && !strcmp(a, "--tokens"))
			o.tokens = v, i++;
		else if (v && !strcmp(a, "--batch"))
			o.batch = atoi(v), i++;
		else if (v && !strcmp(a, "--steps"))
			o.steps = atoi(v), i++;
		else if (v && !strcmp(a, "--warmup"))
			o.warmup = atoi(v), i++;
		else if (v && !strcmp(a, "--gelu"))
			o.gelu = v, i++;
		else if (v && !strcmp(a, "--prec"))
			o.prec = strcmp(v, "fp32") ? GK_BF16 : GK_F32, i++;
		else {
			fprintf(stderr, "usage: bench_gpu [--scale S] [--batch B] [--steps N] [--warmup W] "
					"[--prec bf16|fp32] [--gelu kernel|epilogue] [--tokens shard.bin] [--twice]\n");
			return 2;
		}
	}
	/* KARPA_GPU_ATTN=plain|wmma|mma caps the attention path: bench/gpu.sh
	 * falls back to a simpler one when the fastest fails its own test */
	const char *attn = getenv("KARPA_GPU_ATTN");
	if (attn && gk_attn_set_path_name(attn) != 0) {
		fprintf(stderr, "bench_gpu: KARPA_GPU_ATTN=%s: expected plain, wmma or mma\n", attn);
		return 2;
	}
	if (gpt_config_for_scale(o.scale, GPT2_VOCAB, &c, err) < 0) {
		fprintf(stderr, "bench_gpu: %s\n", err);
		return 2;
	}
	if (o.batch > 0)
		c.B = o.batch;
	if (o.steps < 1 || o.warmup < 0) {
		fprintf(stderr, "bench_gpu: --steps must be >= 1 and --warmup >= 0\n");
		return 2;
	}
	if (o.tokens && !(data = read_shard(o.tokens, &ndata))) {
		fprintf(stderr, "bench_gpu: %s is not a readable llm.c shard\n", o.tokens);
		return 2;
	}
	tps = run(&o, &c, data, ndata, &d1, &l1);
	if (tps < 0)
		return 1;
	cudaMemGetInfo(&free_b, &total_b);
	if (o.twice && run(&o, &c, data, ndata, &d2, &l2) < 0)
		return 1;
	/* model FLOPs per token: 6 per weight in a product (the lm head's V*C
	 * included) plus causal attention, 6*L*T*C (half of 12*L*T*C) */
	pmat = (double)c.L * 12 * c.C * c.C + (double)c.V * c.C;
	fpt = 6 * pmat + 6.0 * c.L * c.T * c.C;
	printf("bench karpa scale=%s prec=%s B=%d T=%d attn=%s gelu=%s tokens/s=%.0f ms/step=%.2f "
	       "MFU=%.1f%% loss=%.4f flops/token=%.4g\n",
	       o.scale, o.prec == GK_BF16 ? "bf16" : "fp32", c.B, c.T,
	       gk_attn_path_name(gk_attn_path_for(o.prec, c.T, c.C, c.NH)), gelu_ran, tps,
	       1e3 * c.B * c.T / tps, 100 * tps * fpt / H100_BF16_PEAK, l1, fpt);
	if (o.twice)
		printf("determinism %s: digest %016llx then %016llx, loss %.6f then %.6f\n",
		       d1 == d2 ? "identical" : "DIFFER", (unsigned long long)d1,
		       (unsigned long long)d2, l1, l2);
	free(data);
	return o.twice && d1 != d2 ? 1 : 0;
}
