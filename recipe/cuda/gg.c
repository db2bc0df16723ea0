/* gg.c: the GPT on the GPU (gg.h). Layout, allocation, forward, backward
 * and the update; the arithmetic lives in gk_*.cu and cuBLASLt (gm.c). */
#include "gg.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "gm.h"

enum { T_WTE, T_WPE, T_LN1W, T_LN1B, T_QKVW, T_QKVB, T_ATTPROJW, T_ATTPROJB, T_LN2W, T_LN2B,
       T_FCW, T_FCB, T_FCPROJW, T_FCPROJB, T_LNFW, T_LNFB };

struct gg_acts {
	void *encoded;           /* [N,C] */
	void *ln1, *qkv, *atty;  /* [L,N,C], [L,N,3C], [L,N,C] */
	float *ln1_mean, *ln1_rstd, *lse; /* [L,N], [L,N], [L,B,NH,T] */
	void *res2, *ln2;        /* [L,N,C] */
	float *ln2_mean, *ln2_rstd;
	void *fch, *fchg;        /* [L,N,4C] */
	void *res3;              /* [L,N,C] */
	void *lnf;               /* [N,C] */
	float *lnf_mean, *lnf_rstd;
	float *logits;           /* [N,Vp] */
	void *dlogits;           /* [N,Vp] */
	float *losses;           /* [N] */
	void *tmp, *dres, *dc;   /* [N,C] */
	void *dqkv, *d4c;        /* [N,3C], [N,4C] */
	float *scratch;          /* reductions */
};

struct gg {
	struct gpt_config cfg;
	enum gk_prec prec;
	size_t esz; /* activation element bytes */
	int Vp;     /* vocabulary padded to 64 columns for the logits' rows */
	/* rows of the tied lm head's products: Vp in bf16 runs (zero rows
	 * after V in the bf16 copy), V in fp32 runs; see head_rows_for */
	int head_rows;
	size_t nparams, sizes[GPT_NUM_TENSORS], offs[GPT_NUM_TENSORS];
	float *params, *grads, *m, *v;
	/* bf16 copy of params (bf16 runs): wte padded to head_rows rows, then
	 * the other tensors; params itself in fp32 runs */
	void *wlow;
	struct gg_acts a;
	int *d_inputs, *d_targets, *d_ids, *d_start, *d_pos;
	int *h_inputs, *h_targets, *h_ids, *h_start, *h_pos, *h_count;
	float *h_losses;
	struct gm *gm;
	cudaStream_t stream;
	int64_t step;
	enum gg_gelu gelu; /* where the fc layer's GELU runs (create sets the recipe's) */
	char err[GG_ERR_MAX];
};

static int fail(struct gg *g, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(g->err, sizeof g->err, fmt, ap);
	va_end(ap);
	return -1;
}

/* A CUDA runtime call or the last launch, with the step that failed. */
#define CK(call)                                                                              \
	do {                                                                                  \
		cudaError_t ce_ = (call);                                                     \
		if (ce_ != cudaSuccess)                                                       \
			return fail(g, "%s: %s (%s:%d)", #call, cudaGetErrorString(ce_), __FILE__, \
				    __LINE__);                                                \
	} while (0)
#define LAUNCHED(what) CK(cudaGetLastError())
#define MM(call)                                                                              \
	do {                                                                                  \
		if ((call) < 0)                                                               \
			return fail(g, "%s", gm_error(g->gm));                                \
	} while (0)

const struct gpt_config *gg_config(const struct gg *g) { return &g->cfg; }
enum gk_prec gg_prec(const struct gg *g) { return g->prec; }
size_t gg_nparams(const struct gg *g) { return g->nparams; }
const char *gg_error(const struct gg *g) { return g->err; }
int64_t gg_step(const struct gg *g) { return g->step; }
void gg_set_step(struct gg *g, int64_t step) { g->step = step; }
const char *gg_gemm_record(const struct gg *g) { return gm_record(g->gm); }
int gg_gemm_algos(const struct gg *g) { return gm_algos(g->gm); }

int gg_pin_gemm(struct gg *g, const char *text)
{
	MM(gm_pin(g->gm, text));
	return 0;
}

static const char *const gelu_names[] = { "kernel", "epilogue" };

int gg_set_gelu_name(struct gg *g, const char *name)
{
	for (int i = 0; i < (int)(sizeof gelu_names / sizeof *gelu_names); i++)
		if (!strcmp(name, gelu_names[i])) {
			g->gelu = (enum gg_gelu)i;
			return 0;
		}
	return fail(g, "GELU path '%s': expected kernel or epilogue", name);
}

const char *gg_gelu_name(const struct gg *g) { return gelu_names[g->gelu]; }

/* ---------------------------------------------------------- allocation */

static void *dalloc(struct gg *g, size_t bytes, int *bad)
{
	void *p = NULL;

	if (*bad)
		return NULL;
	if (cudaMalloc(&p, bytes ? bytes : 16) != cudaSuccess) {
		cudaGetLastError();
		fail(g, "out of GPU memory allocating %zu bytes", bytes);
		*bad = 1;
		return NULL;
	}
	return p;
}

/* The lm head's products run on head_rows output rows. cuBLASLt's
 * heuristic gives a vocabulary of 50257 rows slower kernels than the other
 * products (docs/gpu.md); 50304 = Vp rows take the same ones. So bf16 runs
 * keep wte's bf16 copy with Vp - V zero rows after it. The weight
 * gradient then comes out with Vp rows too: rows V..Vp-1 are exactly zero
 * (dlogits' padding columns are zeros) and land on the start of wpe's
 * gradient, which follows wte's in the layout and which the embedding's
 * backward overwrites whole at the end of the step. That needs wpe to span
 * the padding: otherwise, and in fp32 runs (parity with the CPU engine),
 * the head keeps V rows. */
static int head_rows_for(const struct gg *g)
{
	const struct gpt_config *c = &g->cfg;
	int fits = g->offs[T_WPE] == g->offs[T_WTE] + g->sizes[T_WTE] &&
		   g->sizes[T_WPE] >= (size_t)(g->Vp - c->V) * c->C;

	return g->prec == GK_BF16 && fits ? g->Vp : c->V;
}

/* Elements of padding after wte in the bf16 copy. */
static size_t low_pad(const struct gg *g)
{
	return (size_t)(g->head_rows - g->cfg.V) * g->cfg.C;
}

static size_t maxz(size_t a, size_t b)
{
	return a > b ? a : b;
}

static int alloc_all(struct gg *g)
{
	const struct gpt_config *c = &g->cfg;
	struct gg_acts *a = &g->a;
	size_t N = (size_t)c->B * c->T, C = c->C, L = c->L, e = g->esz, sc;
	int bad = 0;

	g->params = dalloc(g, g->nparams * 4, &bad);
	g->grads = dalloc(g, g->nparams * 4, &bad);
	g->m = dalloc(g, g->nparams * 4, &bad);
	g->v = dalloc(g, g->nparams * 4, &bad);
	g->wlow = g->prec == GK_BF16 ? dalloc(g, (g->nparams + low_pad(g)) * 2, &bad) : g->params;
	a->encoded = dalloc(g, N * C * e, &bad);
	a->ln1 = dalloc(g, L * N * C * e, &bad);
	a->qkv = dalloc(g, L * N * 3 * C * e, &bad);
	a->atty = dalloc(g, L * N * C * e, &bad);
	a->ln1_mean = dalloc(g, L * N * 4, &bad);
	a->ln1_rstd = dalloc(g, L * N * 4, &bad);
	a->lse = dalloc(g, L * N * c->NH * 4, &bad);
	a->res2 = dalloc(g, L * N * C * e, &bad);
	a->ln2 = dalloc(g, L * N * C * e, &bad);
	a->ln2_mean = dalloc(g, L * N * 4, &bad);
	a->ln2_rstd = dalloc(g, L * N * 4, &bad);
	a->fch = dalloc(g, L * N * 4 * C * e, &bad);
	a->fchg = dalloc(g, L * N * 4 * C * e, &bad);
	a->res3 = dalloc(g, L * N * C * e, &bad);
	a->lnf = dalloc(g, N * C * e, &bad);
	a->lnf_mean = dalloc(g, N * 4, &bad);
	a->lnf_rstd = dalloc(g, N * 4, &bad);
	a->logits = dalloc(g, N * g->Vp * 4, &bad);
	a->dlogits = dalloc(g, N * g->Vp * e, &bad);
	a->losses = dalloc(g, N * 4, &bad);
	a->tmp = dalloc(g, N * C * e, &bad);
	a->dres = dalloc(g, N * C * e, &bad);
	a->dc = dalloc(g, N * C * e, &bad);
	a->dqkv = dalloc(g, N * 3 * C * e, &bad);
	a->d4c = dalloc(g, N * 4 * C * e, &bad);
	sc = maxz(gk_layernorm_scratch_floats((int)N, (int)C), gk_colsum_scratch_floats((int)N, 4 * (int)C));
	sc = maxz(sc, gk_attn_scratch_floats(c->B, c->T, c->NH));
	a->scratch = dalloc(g, sc * 4, &bad);
	g->d_inputs = dalloc(g, N * sizeof(int), &bad);
	g->d_targets = dalloc(g, N * sizeof(int), &bad);
	g->d_ids = dalloc(g, N * sizeof(int), &bad);
	g->d_start = dalloc(g, (N + 1) * sizeof(int), &bad);
	g->d_pos = dalloc(g, N * sizeof(int), &bad);
	if (bad)
		return -1;
	g->h_inputs = malloc(N * sizeof(int));
	g->h_targets = malloc(N * sizeof(int));
	g->h_ids = malloc(N * sizeof(int));
	g->h_start = malloc((N + 1) * sizeof(int));
	g->h_pos = malloc(N * sizeof(int));
	g->h_count = calloc((size_t)c->V + 1, sizeof(int));
	g->h_losses = malloc(N * sizeof(float));
	if (!g->h_inputs || !g->h_targets || !g->h_ids || !g->h_start || !g->h_pos || !g->h_count ||
	    !g->h_losses)
		return fail(g, "out of host memory");
	return 0;
}

void gg_destroy(struct gg *g)
{
	if (!g)
		return;
	struct gg_acts *a = &g->a;
	void *dev[] = { g->params, g->grads, g->m, g->v, a->encoded, a->ln1, a->qkv, a->atty,
			a->ln1_mean, a->ln1_rstd, a->lse, a->res2, a->ln2, a->ln2_mean, a->ln2_rstd,
			a->fch, a->fchg, a->res3, a->lnf, a->lnf_mean, a->lnf_rstd, a->logits,
			a->dlogits, a->losses, a->tmp, a->dres, a->dc, a->dqkv, a->d4c, a->scratch,
			g->d_inputs, g->d_targets, g->d_ids, g->d_start, g->d_pos };
	for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++)
		if (dev[i])
			cudaFree(dev[i]);
	if (g->wlow && g->wlow != g->params)
		cudaFree(g->wlow);
	gm_destroy(g->gm);
	if (g->stream)
		cudaStreamDestroy(g->stream);
	free(g->h_inputs);
	free(g->h_targets);
	free(g->h_ids);
	free(g->h_start);
	free(g->h_pos);
	free(g->h_count);
	free(g->h_losses);
	free(g);
}

/* bf16 runs read the weights through their bf16 copy: refresh it. The
 * padding rows after wte are zeroed once at creation and never written. */
static int sync_low(struct gg *g)
{
	if (g->prec == GK_BF16) {
		size_t wte = g->sizes[T_WTE];
		gk_cast_bf16(g->wlow, g->params, wte, g->stream);
		gk_cast_bf16((char *)g->wlow + (wte + low_pad(g)) * 2, g->params + wte,
			     g->nparams - wte, g->stream);
		LAUNCHED("cast");
	}
	return 0;
}

/* init: the weights from gpt_init_params(cfg, seed); else zeros, for a
 * state that is loaded next (gg_alloc). */
static struct gg *create(const struct gpt_config *cfg, enum gk_prec prec, uint64_t seed, int init, char *err)
{
	struct gg *g;
	float *host = NULL;
	char gerr[GM_ERR_MAX];
	size_t off = 0;

	if (!(g = calloc(1, sizeof *g))) {
		snprintf(err, GG_ERR_MAX, "out of memory");
		return NULL;
	}
	g->cfg = *cfg;
	g->prec = prec;
	/* the products' epilogues: 2% faster per step at gpu-254m than the
	 * separate kernels, the same tanh GELU (docs/gpu.md, run 8) */
	g->gelu = GG_GELU_EPILOGUE;
	g->esz = gk_elt_bytes(prec);
	g->Vp = (cfg->V + 63) / 64 * 64;
	if (cfg->C % 8 || cfg->C % cfg->NH || !gk_attn_supported(cfg->C / cfg->NH) || cfg->B < 1 ||
	    cfg->T < 1 || cfg->V < 2) {
		snprintf(err, GG_ERR_MAX,
			 "the GPU recipe needs C a multiple of 8 and of NH with a supported head size "
			 "(C %d, NH %d)", cfg->C, cfg->NH);
		free(g);
		return NULL;
	}
	gpt_tensor_sizes(cfg, g->sizes);
	for (int i = 0; i < GPT_NUM_TENSORS; i++) {
		g->offs[i] = off;
		off += g->sizes[i];
	}
	g->nparams = off;
	g->head_rows = head_rows_for(g);
	if (cudaStreamCreateWithFlags(&g->stream, cudaStreamNonBlocking) != cudaSuccess) {
		snprintf(err, GG_ERR_MAX, "no CUDA device: %s", cudaGetErrorString(cudaGetLastError()));
		free(g);
		return NULL;
	}
	if (!(g->gm = gm_create(g->stream, gerr))) {
		snprintf(err, GG_ERR_MAX, "%s", gerr);
		goto fail;
	}
	if (alloc_all(g) < 0)
		goto fail_msg;
	if (init && !(host = malloc(g->nparams * sizeof *host))) {
		fail(g, "out of host memory for %zu parameters", g->nparams);
		goto fail_msg;
	}
	if (init)
		gpt_init_params(cfg, seed, host);
	if ((init ? cudaMemcpy(g->params, host, g->nparams * 4, cudaMemcpyHostToDevice)
		  : cudaMemset(g->params, 0, g->nparams * 4)) != cudaSuccess ||
	    cudaMemset(g->m, 0, g->nparams * 4) != cudaSuccess ||
	    cudaMemset(g->v, 0, g->nparams * 4) != cudaSuccess ||
	    cudaMemset(g->grads, 0, g->nparams * 4) != cudaSuccess ||
	    (g->wlow != g->params && cudaMemset(g->wlow, 0, (g->nparams + low_pad(g)) * 2) != cudaSuccess)) {
		fail(g, "uploading the initial weights: %s", cudaGetErrorString(cudaGetLastError()));
		goto fail_msg;
	}
	free(host);
	host = NULL;
	if (sync_low(g) < 0 || cudaStreamSynchronize(g->stream) != cudaSuccess)
		goto fail_msg;
	return g;
fail_msg:
	snprintf(err, GG_ERR_MAX, "%s", g->err);
fail:
	free(host);
	gg_destroy(g);
	return NULL;
}

struct gg *gg_create(const struct gpt_config *cfg, enum gk_prec prec, uint64_t seed, char *err)
{
	return create(cfg, prec, seed, 1, err);
}

struct gg *gg_alloc(const struct gpt_config *cfg, enum gk_prec prec, char *err)
{
	return create(cfg, prec, 0, 0, err);
}

/* ------------------------------------------------------ forward/backward */

/* Weights as the products read them (bf16 copy or fp32 master) and as
 * fp32 (LayerNorm gains and biases are read in fp32 by the kernels). */
static const void *W(const struct gg *g, int t, size_t elt_off)
{
	size_t at = g->offs[t] + elt_off + (t == T_WTE ? 0 : low_pad(g));

	return (const char *)g->wlow + at * (g->prec == GK_BF16 ? 2 : 4);
}
static float *P(const struct gg *g, float *base, int t, size_t elt_off)
{
	return base + g->offs[t] + elt_off;
}
static void *AT(const struct gg *g, void *base, size_t elt_off)
{
	return (char *)base + elt_off * g->esz;
}

/* Forward over B x T inputs already on the device; logits fp32 [B*T, Vp]. */
static int forward(struct gg *g, int B, int T)
{
	const struct gpt_config *c = &g->cfg;
	struct gg_acts *a = &g->a;
	size_t Nmax = (size_t)c->B * c->T, C = c->C;
	int N = B * T, iC = c->C;
	cudaStream_t s = g->stream;

	gk_encoder_fwd(g->prec, a->encoded, g->d_inputs, W(g, T_WTE, 0), W(g, T_WPE, 0), B, T, iC, s);
	LAUNCHED("encoder");
	for (int l = 0; l < c->L; l++) {
		void *res = l == 0 ? a->encoded : AT(g, a->res3, (l - 1) * Nmax * C);
		void *ln1 = AT(g, a->ln1, l * Nmax * C), *qkv = AT(g, a->qkv, l * Nmax * 3 * C);
		void *atty = AT(g, a->atty, l * Nmax * C), *res2 = AT(g, a->res2, l * Nmax * C);
		void *ln2 = AT(g, a->ln2, l * Nmax * C), *fch = AT(g, a->fch, l * Nmax * 4 * C);
		void *fchg = AT(g, a->fchg, l * Nmax * 4 * C), *res3 = AT(g, a->res3, l * Nmax * C);
		float *lse = a->lse + l * Nmax * c->NH;

		gk_layernorm_fwd(g->prec, ln1, a->ln1_mean + l * Nmax, a->ln1_rstd + l * Nmax, res,
				 P(g, g->params, T_LN1W, l * C), P(g, g->params, T_LN1B, l * C), N, iC, s);
		LAUNCHED("ln1");
		MM(gm_linear_fwd(g->gm, g->prec, qkv, 0, 3 * iC, ln1, W(g, T_QKVW, l * 3 * C * C),
				 W(g, T_QKVB, l * 3 * C), N, iC, 3 * iC));
		gk_attn_fwd(g->prec, atty, lse, qkv, B, T, iC, c->NH, s);
		LAUNCHED("attention");
		MM(gm_linear_fwd(g->gm, g->prec, a->tmp, 0, iC, atty, W(g, T_ATTPROJW, l * C * C),
				 W(g, T_ATTPROJB, l * C), N, iC, iC));
		gk_residual_fwd(g->prec, res2, res, a->tmp, (size_t)N * C, s);
		LAUNCHED("residual");
		gk_layernorm_fwd(g->prec, ln2, a->ln2_mean + l * Nmax, a->ln2_rstd + l * Nmax, res2,
				 P(g, g->params, T_LN2W, l * C), P(g, g->params, T_LN2B, l * C), N, iC, s);
		LAUNCHED("ln2");
		if (g->gelu == GG_GELU_EPILOGUE) {
			MM(gm_linear_fwd_gelu(g->gm, g->prec, fchg, fch, ln2, W(g, T_FCW, l * 4 * C * C),
					      W(g, T_FCB, l * 4 * C), N, iC, 4 * iC));
		} else {
			MM(gm_linear_fwd(g->gm, g->prec, fch, 0, 4 * iC, ln2, W(g, T_FCW, l * 4 * C * C),
					 W(g, T_FCB, l * 4 * C), N, iC, 4 * iC));
			gk_gelu_fwd(g->prec, fchg, fch, (size_t)N * 4 * C, s);
			LAUNCHED("gelu");
		}
		MM(gm_linear_fwd(g->gm, g->prec, a->tmp, 0, iC, fchg, W(g, T_FCPROJW, l * 4 * C * C),
				 W(g, T_FCPROJB, l * C), N, 4 * iC, iC));
		gk_residual_fwd(g->prec, res3, res2, a->tmp, (size_t)N * C, s);
		LAUNCHED("residual");
	}
	gk_layernorm_fwd(g->prec, a->lnf, a->lnf_mean, a->lnf_rstd,
			 AT(g, a->res3, (c->L - 1) * Nmax * C), P(g, g->params, T_LNFW, 0),
			 P(g, g->params, T_LNFB, 0), N, iC, s);
	LAUNCHED("lnf");
	MM(gm_linear_fwd(g->gm, g->prec, a->logits, 1, g->Vp, a->lnf, W(g, T_WTE, 0), NULL, N, iC,
			 g->head_rows));
	return 0;
}

/* Group the step's positions by token id for the embedding's backward
 * (gk_encoder_bwd): a counting sort, so positions stay ascending. */
static int upload_buckets(struct gg *g, int N)
{
	int V = g->cfg.V, nb = 0, *cnt = g->h_count;

	memset(cnt, 0, ((size_t)V + 1) * sizeof *cnt);
	for (int i = 0; i < N; i++)
		cnt[g->h_inputs[i]]++;
	g->h_start[0] = 0;
	for (int id = 0; id < V; id++)
		if (cnt[id]) {
			g->h_ids[nb] = id;
			g->h_start[nb + 1] = g->h_start[nb] + cnt[id];
			cnt[id] = g->h_start[nb]; /* now the next free slot of this bucket */
			nb++;
		}
	for (int i = 0; i < N; i++)
		g->h_pos[cnt[g->h_inputs[i]]++] = i;
	CK(cudaMemcpyAsync(g->d_ids, g->h_ids, (size_t)nb * sizeof(int), cudaMemcpyHostToDevice,
			   g->stream));
	CK(cudaMemcpyAsync(g->d_start, g->h_start, ((size_t)nb + 1) * sizeof(int),
			   cudaMemcpyHostToDevice, g->stream));
	CK(cudaMemcpyAsync(g->d_pos, g->h_pos, (size_t)N * sizeof(int), cudaMemcpyHostToDevice,
			   g->stream));
	return nb;
}

/* Every gradient, overwritten, for the last full-shape forward. */
static int backward(struct gg *g, int nbuckets)
{
	const struct gpt_config *c = &g->cfg;
	struct gg_acts *a = &g->a;
	size_t Nmax = (size_t)c->B * c->T, C = c->C;
	int N = c->B * c->T, iC = c->C;
	cudaStream_t s = g->stream;
	enum gk_prec p = g->prec;

	gk_crossentropy(p, a->dlogits, a->losses, a->logits, g->d_targets, N, c->V, g->Vp,
			1.0f / (float)N, s);
	LAUNCHED("crossentropy");
	/* lm head (tied): dlnf = dlogits wte; dwte = dlogits^T lnf (the encoder adds later) */
	MM(gm_linear_bwd_data(g->gm, p, a->dc, a->dlogits, g->Vp, W(g, T_WTE, 0), N, iC,
			      g->head_rows));
	MM(gm_linear_bwd_weight(g->gm, p, P(g, g->grads, T_WTE, 0), a->dlogits, g->Vp, a->lnf, N, iC,
				g->head_rows));
	CK(cudaMemsetAsync(a->dres, 0, (size_t)N * C * g->esz, s));
	gk_layernorm_bwd(p, a->dres, P(g, g->grads, T_LNFW, 0), P(g, g->grads, T_LNFB, 0), a->dc,
			 AT(g, a->res3, (c->L - 1) * Nmax * C), P(g, g->params, T_LNFW, 0), a->lnf_mean,
			 a->lnf_rstd, N, iC, a->scratch, s);
	LAUNCHED("lnf backward");
	for (int l = c->L - 1; l >= 0; l--) {
		void *res = l == 0 ? a->encoded : AT(g, a->res3, (l - 1) * Nmax * C);
		void *ln1 = AT(g, a->ln1, l * Nmax * C), *qkv = AT(g, a->qkv, l * Nmax * 3 * C);
		void *atty = AT(g, a->atty, l * Nmax * C), *res2 = AT(g, a->res2, l * Nmax * C);
		void *ln2 = AT(g, a->ln2, l * Nmax * C), *fch = AT(g, a->fch, l * Nmax * 4 * C);
		void *fchg = AT(g, a->fchg, l * Nmax * 4 * C);
		float *lse = a->lse + l * Nmax * c->NH;

		/* dres holds d(residual3): the MLP branch, then LN2 adds into it */
		if (g->gelu == GG_GELU_EPILOGUE)
			MM(gm_linear_bwd_data_dgelu(g->gm, p, a->d4c, a->dres, iC, W(g, T_FCPROJW, l * 4 * C * C),
						    fch, N, 4 * iC, iC));
		else
			MM(gm_linear_bwd_data(g->gm, p, a->d4c, a->dres, iC, W(g, T_FCPROJW, l * 4 * C * C), N,
					      4 * iC, iC));
		MM(gm_linear_bwd_weight(g->gm, p, P(g, g->grads, T_FCPROJW, l * 4 * C * C), a->dres, iC,
					fchg, N, 4 * iC, iC));
		gk_colsum(p, P(g, g->grads, T_FCPROJB, l * C), a->dres, N, iC, a->scratch, s);
		LAUNCHED("colsum");
		if (g->gelu != GG_GELU_EPILOGUE) {
			gk_gelu_bwd(p, a->d4c, fch, a->d4c, (size_t)N * 4 * C, s);
			LAUNCHED("gelu backward");
		}
		MM(gm_linear_bwd_data(g->gm, p, a->dc, a->d4c, 4 * iC, W(g, T_FCW, l * 4 * C * C), N, iC,
				      4 * iC));
		MM(gm_linear_bwd_weight(g->gm, p, P(g, g->grads, T_FCW, l * 4 * C * C), a->d4c, 4 * iC,
					ln2, N, iC, 4 * iC));
		gk_colsum(p, P(g, g->grads, T_FCB, l * 4 * C), a->d4c, N, 4 * iC, a->scratch, s);
		LAUNCHED("colsum");
		gk_layernorm_bwd(p, a->dres, P(g, g->grads, T_LN2W, l * C), P(g, g->grads, T_LN2B, l * C),
				 a->dc, res2, P(g, g->params, T_LN2W, l * C), a->ln2_mean + l * Nmax,
				 a->ln2_rstd + l * Nmax, N, iC, a->scratch, s);
		LAUNCHED("ln2 backward");
		/* dres holds d(residual2): the attention branch, then LN1 adds */
		MM(gm_linear_bwd_data(g->gm, p, a->dc, a->dres, iC, W(g, T_ATTPROJW, l * C * C), N, iC,
				      iC));
		MM(gm_linear_bwd_weight(g->gm, p, P(g, g->grads, T_ATTPROJW, l * C * C), a->dres, iC,
					atty, N, iC, iC));
		gk_colsum(p, P(g, g->grads, T_ATTPROJB, l * C), a->dres, N, iC, a->scratch, s);
		LAUNCHED("colsum");
		gk_attn_bwd(p, a->dqkv, a->dc, qkv, atty, lse, c->B, c->T, iC, c->NH, a->scratch, s);
		LAUNCHED("attention backward");
		MM(gm_linear_bwd_data(g->gm, p, a->dc, a->dqkv, 3 * iC, W(g, T_QKVW, l * 3 * C * C), N,
				      iC, 3 * iC));
		MM(gm_linear_bwd_weight(g->gm, p, P(g, g->grads, T_QKVW, l * 3 * C * C), a->dqkv,
					3 * iC, ln1, N, iC, 3 * iC));
		gk_colsum(p, P(g, g->grads, T_QKVB, l * 3 * C), a->dqkv, N, 3 * iC, a->scratch, s);
		LAUNCHED("colsum");
		gk_layernorm_bwd(p, a->dres, P(g, g->grads, T_LN1W, l * C), P(g, g->grads, T_LN1B, l * C),
				 a->dc, res, P(g, g->params, T_LN1W, l * C), a->ln1_mean + l * Nmax,
				 a->ln1_rstd + l * Nmax, N, iC, a->scratch, s);
		LAUNCHED("ln1 backward");
	}
	gk_encoder_bwd(p, P(g, g->grads, T_WTE, 0), P(g, g->grads, T_WPE, 0), a->dres, g->d_ids,
		       g->d_start, g->d_pos, nbuckets, c->B, c->T, iC, s);
	LAUNCHED("encoder backward");
	return 0;
}

/* The mean loss, summed on the host in row order as the CPU engine does. */
static int mean_loss(struct gg *g, int N, float *loss)
{
	float total = 0.0f;

	CK(cudaMemcpyAsync(g->h_losses, g->a.losses, (size_t)N * 4, cudaMemcpyDeviceToHost,
			   g->stream));
	CK(cudaStreamSynchronize(g->stream));
	for (int i = 0; i < N; i++)
		total += g->h_losses[i];
	*loss = total * (1.0f / (float)N);
	return 0;
}

static int upload_inputs(struct gg *g, int N)
{
	CK(cudaMemcpyAsync(g->d_inputs, g->h_inputs, (size_t)N * sizeof(int), cudaMemcpyHostToDevice,
			   g->stream));
	CK(cudaMemcpyAsync(g->d_targets, g->h_targets, (size_t)N * sizeof(int),
			   cudaMemcpyHostToDevice, g->stream));
	return 0;
}

int gg_forward_backward(struct gg *g, const int *inputs, const int *targets, float *loss)
{
	int N = g->cfg.B * g->cfg.T, nb;

	memcpy(g->h_inputs, inputs, (size_t)N * sizeof(int));
	memcpy(g->h_targets, targets, (size_t)N * sizeof(int));
	if (upload_inputs(g, N) < 0 || (nb = upload_buckets(g, N)) < 0 ||
	    forward(g, g->cfg.B, g->cfg.T) < 0 || backward(g, nb) < 0)
		return -1;
	return mean_loss(g, N, loss);
}

static int adamw(struct gg *g, float lr, int64_t t)
{
	const struct gpt_config *c = &g->cfg;
	/* the CPU engine's bias corrections, computed the same way */
	float bc1 = 1.0f - (float)pow(c->beta1, (double)t);
	float bc2_sqrt = (float)sqrt(1.0 - pow(c->beta2, (double)t));

	for (int i = 0; i < GPT_NUM_TENSORS; i++) {
		float wd = gpt_tensor_decays(i) ? c->weight_decay : 0.0f;
		size_t o = g->offs[i];
		gk_adamw(g->params + o, g->grads + o, g->m + o, g->v + o, g->sizes[i], lr, c->beta1,
			 c->beta2, c->eps, wd, bc1, bc2_sqrt, g->stream);
		LAUNCHED("adamw");
	}
	return sync_low(g);
}

int gg_train_step(struct gg *g, int64_t step, const uint16_t *tokens, float *loss, float *lr)
{
	const struct gpt_config *c = &g->cfg;
	int B = c->B, T = c->T, N = B * T, nb;
	float rate;

	if (step < 0)
		return fail(g, "step %lld is negative", (long long)step);
	for (int b = 0; b < B; b++)
		for (int t = 0; t < T; t++) {
			g->h_inputs[b * T + t] = tokens[(size_t)b * (T + 1) + t];
			g->h_targets[b * T + t] = tokens[(size_t)b * (T + 1) + t + 1];
		}
	if (upload_inputs(g, N) < 0 || (nb = upload_buckets(g, N)) < 0 || forward(g, B, T) < 0 ||
	    backward(g, nb) < 0)
		return -1;
	rate = gpt_lr(c, step);
	if (adamw(g, rate, step + 1) < 0 || mean_loss(g, N, loss) < 0)
		return -1;
	g->step = step + 1;
	*lr = rate;
	return 0;
}

int gg_logits(struct gg *g, const uint16_t *tokens, int rows, int T, float *logits)
{
	const struct gpt_config *c = &g->cfg;

	if (rows < 1 || T < 1 || T > c->T)
		return fail(g, "logits shape rows %d x T %d: need rows >= 1, 1 <= T <= %d", rows, T, c->T);
	for (int r0 = 0; r0 < rows; r0 += c->B) {
		int n = rows - r0 < c->B ? rows - r0 : c->B;
		for (size_t i = 0; i < (size_t)n * T; i++)
			g->h_inputs[i] = tokens[(size_t)r0 * T + i];
		CK(cudaMemcpyAsync(g->d_inputs, g->h_inputs, (size_t)n * T * sizeof(int),
				   cudaMemcpyHostToDevice, g->stream));
		if (forward(g, n, T) < 0)
			return -1;
		CK(cudaMemcpy2DAsync(logits + (size_t)r0 * T * c->V, (size_t)c->V * 4, g->a.logits,
				     (size_t)g->Vp * 4, (size_t)c->V * 4, (size_t)n * T,
				     cudaMemcpyDeviceToHost, g->stream));
		CK(cudaStreamSynchronize(g->stream));
	}
	return 0;
}

int gg_get(struct gg *g, float *params, float *grads, float *m, float *v)
{
	size_t b = g->nparams * 4;

	CK(cudaStreamSynchronize(g->stream));
	if (params)
		CK(cudaMemcpy(params, g->params, b, cudaMemcpyDeviceToHost));
	if (grads)
		CK(cudaMemcpy(grads, g->grads, b, cudaMemcpyDeviceToHost));
	if (m)
		CK(cudaMemcpy(m, g->m, b, cudaMemcpyDeviceToHost));
	if (v)
		CK(cudaMemcpy(v, g->v, b, cudaMemcpyDeviceToHost));
	return 0;
}

int gg_set(struct gg *g, const float *params, const float *m, const float *v)
{
	size_t b = g->nparams * 4;

	CK(cudaStreamSynchronize(g->stream));
	CK(cudaMemcpy(g->params, params, b, cudaMemcpyHostToDevice));
	CK(cudaMemcpy(g->m, m, b, cudaMemcpyHostToDevice));
	CK(cudaMemcpy(g->v, v, b, cudaMemcpyHostToDevice));
	if (sync_low(g) < 0)
		return -1;
	CK(cudaStreamSynchronize(g->stream));
	return 0;
}
