/* gm.c: matrix products through cuBLASLt (gm.h). Each distinct product
 * (shape, types, transposes, epilogue) gets one cache entry holding its
 * descriptors and the algorithm cuBLASLt's heuristic picked the first time;
 * later calls only swap pointers. */
#include "gm.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cublasLt.h>

/* Hopper's recommended cuBLASLt workspace; split-K partials go here. */
#define GM_WORKSPACE ((size_t)32 << 20)
/* A training step has 4 products per layer and direction plus the lm head:
 * a few dozen shapes; eval adds one per row count. */
#define GM_CACHE 128

struct gm_key {
	int ta, tb, m, n, k, lda, ldb, ldd;
	int ab, d; /* cudaDataType_t */
	int bias;
};

struct gm_entry {
	struct gm_key key;
	cublasLtMatmulDesc_t op;
	cublasLtMatrixLayout_t a, b, d;
	cublasLtMatmulAlgo_t algo;
};

struct gm {
	cublasLtHandle_t lt;
	cudaStream_t stream;
	void *ws;
	struct gm_entry cache[GM_CACHE];
	int n;
	char err[GM_ERR_MAX];
	char rec[GM_RECORD_MAX];
	size_t rec_len;
};

static int fail(struct gm *g, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(g->err, sizeof g->err, fmt, ap);
	va_end(ap);
	return -1;
}

static void record(struct gm *g, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (g->rec_len + 1 >= sizeof g->rec)
		return;
	va_start(ap, fmt);
	w = vsnprintf(g->rec + g->rec_len, sizeof g->rec - g->rec_len, fmt, ap);
	va_end(ap);
	if (w > 0)
		g->rec_len += (size_t)w < sizeof g->rec - g->rec_len ? (size_t)w
								     : sizeof g->rec - g->rec_len - 1;
}

struct gm *gm_create(cudaStream_t stream, char *err)
{
	struct gm *g = calloc(1, sizeof *g);
	cublasStatus_t st;
	cudaError_t ce;

	if (!g) {
		snprintf(err, GM_ERR_MAX, "out of memory for the matmul context");
		return NULL;
	}
	g->stream = stream;
	if ((st = cublasLtCreate(&g->lt)) != CUBLAS_STATUS_SUCCESS) {
		snprintf(err, GM_ERR_MAX, "cublasLtCreate: %s", cublasLtGetStatusString(st));
		free(g);
		return NULL;
	}
	if ((ce = cudaMalloc(&g->ws, GM_WORKSPACE)) != cudaSuccess) {
		snprintf(err, GM_ERR_MAX, "cudaMalloc of the %zu-byte cuBLASLt workspace: %s",
			 GM_WORKSPACE, cudaGetErrorString(ce));
		cublasLtDestroy(g->lt);
		free(g);
		return NULL;
	}
	return g;
}

void gm_destroy(struct gm *g)
{
	if (!g)
		return;
	for (int i = 0; i < g->n; i++) {
		cublasLtMatrixLayoutDestroy(g->cache[i].a);
		cublasLtMatrixLayoutDestroy(g->cache[i].b);
		cublasLtMatrixLayoutDestroy(g->cache[i].d);
		cublasLtMatmulDescDestroy(g->cache[i].op);
	}
	cudaFree(g->ws);
	cublasLtDestroy(g->lt);
	free(g);
}

const char *gm_error(const struct gm *g)
{
	return g->err;
}

const char *gm_record(const struct gm *g)
{
	return g->rec;
}

int gm_algos(const struct gm *g)
{
	return g->n;
}

static const char *type_name(int t)
{
	return t == CUDA_R_32F ? "f32" : t == CUDA_R_16BF ? "bf16" : "?";
}

static void record_algo(struct gm *g, const char *what, const struct gm_entry *e)
{
	int32_t id = -1, tile = -1, stages = -1, splitk = -1, swz = -1, custom = -1;
	uint32_t red = 0;
	size_t got;

	cublasLtMatmulAlgoConfigGetAttribute(&e->algo, CUBLASLT_ALGO_CONFIG_ID, &id, sizeof id, &got);
	cublasLtMatmulAlgoConfigGetAttribute(&e->algo, CUBLASLT_ALGO_CONFIG_TILE_ID, &tile,
					     sizeof tile, &got);
	cublasLtMatmulAlgoConfigGetAttribute(&e->algo, CUBLASLT_ALGO_CONFIG_STAGES_ID, &stages,
					     sizeof stages, &got);
	cublasLtMatmulAlgoConfigGetAttribute(&e->algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &splitk,
					     sizeof splitk, &got);
	cublasLtMatmulAlgoConfigGetAttribute(&e->algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &red,
					     sizeof red, &got);
	cublasLtMatmulAlgoConfigGetAttribute(&e->algo, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING, &swz,
					     sizeof swz, &got);
	cublasLtMatmulAlgoConfigGetAttribute(&e->algo, CUBLASLT_ALGO_CONFIG_CUSTOM_OPTION, &custom,
					     sizeof custom, &got);
	record(g, "%s %c%c m=%d n=%d k=%d %s->%s%s: algo=%d tile=%d stages=%d splitk=%d red=%u swizzle=%d custom=%d\n",
	       what, e->key.ta ? 'T' : 'N', e->key.tb ? 'T' : 'N', e->key.m, e->key.n, e->key.k,
	       type_name(e->key.ab), type_name(e->key.d), e->key.bias ? " +bias" : "", id, tile,
	       stages, splitk, red, swz, custom);
}

/* Descriptors and the heuristic's first choice for a new product. */
static int build(struct gm *g, const char *what, const struct gm_key *k, struct gm_entry *e)
{
	cublasLtMatmulPreference_t pref = NULL;
	cublasLtMatmulHeuristicResult_t res;
	cublasComputeType_t ct = CUBLAS_COMPUTE_32F;
	cudaDataType_t scale = CUDA_R_32F;
	cublasOperation_t ta = k->ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb = k->tb ? CUBLAS_OP_T : CUBLAS_OP_N;
	/* in-place split-K reduces in the output; keep only the schemes that
	 * reduce in the workspace in a fixed order */
	uint32_t red = CUBLASLT_REDUCTION_SCHEME_NONE | CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE |
		       CUBLASLT_REDUCTION_SCHEME_OUTPUT_TYPE;
	uint32_t align = 16;
	size_t ws = GM_WORKSPACE;
	int nres = 0, rc = -1;
	cublasStatus_t st;

	memset(e, 0, sizeof *e);
	e->key = *k;
	/* rows, cols of the stored (not transposed) operands, column-major */
	if ((st = cublasLtMatmulDescCreate(&e->op, ct, scale)) ||
	    (st = cublasLtMatmulDescSetAttribute(e->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta)) ||
	    (st = cublasLtMatmulDescSetAttribute(e->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb)) ||
	    (st = cublasLtMatrixLayoutCreate(&e->a, (cudaDataType_t)k->ab, k->ta ? k->k : k->m,
					     k->ta ? k->m : k->k, k->lda)) ||
	    (st = cublasLtMatrixLayoutCreate(&e->b, (cudaDataType_t)k->ab, k->tb ? k->n : k->k,
					     k->tb ? k->k : k->n, k->ldb)) ||
	    (st = cublasLtMatrixLayoutCreate(&e->d, (cudaDataType_t)k->d, k->m, k->n, k->ldd))) {
		fail(g, "%s: cuBLASLt descriptor: %s", what, cublasLtGetStatusString(st));
		goto out;
	}
	if (k->bias) {
		cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
		if ((st = cublasLtMatmulDescSetAttribute(e->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi,
							 sizeof epi))) {
			fail(g, "%s: bias epilogue: %s", what, cublasLtGetStatusString(st));
			goto out;
		}
	}
	if ((st = cublasLtMatmulPreferenceCreate(&pref)) ||
	    (st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
						       &ws, sizeof ws)) ||
	    (st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK,
						       &red, sizeof red)) ||
	    (st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
						       &align, sizeof align)) ||
	    (st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
						       &align, sizeof align)) ||
	    (st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
						       &align, sizeof align)) ||
	    (st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
						       &align, sizeof align))) {
		fail(g, "%s: cuBLASLt preference: %s", what, cublasLtGetStatusString(st));
		goto out;
	}
	st = cublasLtMatmulAlgoGetHeuristic(g->lt, e->op, e->a, e->b, e->d, e->d, pref, 1, &res, &nres);
	if (st || nres < 1 || res.state != CUBLAS_STATUS_SUCCESS) {
		fail(g, "%s: cuBLASLt has no algorithm for %s%s m=%d n=%d k=%d (%s)", what,
		     type_name(k->ab), k->bias ? "+bias" : "", k->m, k->n, k->k,
		     cublasLtGetStatusString(st ? st : res.state));
		goto out;
	}
	e->algo = res.algo;
	record_algo(g, what, e);
	rc = 0;
out:
	if (pref)
		cublasLtMatmulPreferenceDestroy(pref);
	if (rc < 0) {
		if (e->a)
			cublasLtMatrixLayoutDestroy(e->a);
		if (e->b)
			cublasLtMatrixLayoutDestroy(e->b);
		if (e->d)
			cublasLtMatrixLayoutDestroy(e->d);
		if (e->op)
			cublasLtMatmulDescDestroy(e->op);
		memset(e, 0, sizeof *e);
	}
	return rc;
}

static int aligned(const void *p)
{
	return ((uintptr_t)p & 15) == 0;
}

/* D = op(A) op(B) (+ bias), column-major, beta = 0. */
static int mm(struct gm *g, const char *what, const struct gm_key *k, const void *A, const void *B,
	      void *D, const void *bias)
{
	struct gm_entry *e = NULL;
	const float one = 1.0f, zero = 0.0f;
	cublasStatus_t st;

	if (!aligned(A) || !aligned(B) || !aligned(D) || (bias && !aligned(bias)))
		return fail(g, "%s: an operand is not 16-byte aligned", what);
	for (int i = 0; i < g->n; i++)
		if (!memcmp(&g->cache[i].key, k, sizeof *k)) {
			e = &g->cache[i];
			break;
		}
	if (!e) {
		if (g->n == GM_CACHE)
			return fail(g, "%s: more than %d product shapes", what, GM_CACHE);
		if (build(g, what, k, &g->cache[g->n]) < 0)
			return -1;
		e = &g->cache[g->n++];
	}
	if (bias && (st = cublasLtMatmulDescSetAttribute(e->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
							 &bias, sizeof bias)))
		return fail(g, "%s: bias pointer: %s", what, cublasLtGetStatusString(st));
	st = cublasLtMatmul(g->lt, e->op, &one, A, e->a, B, e->b, &zero, D, e->d, D, e->d, &e->algo,
			    g->ws, GM_WORKSPACE, g->stream);
	if (st)
		return fail(g, "%s: cublasLtMatmul m=%d n=%d k=%d: %s", what, k->m, k->n, k->k,
			    cublasLtGetStatusString(st));
	return 0;
}

static int act_type(enum gk_prec p)
{
	return p == GK_BF16 ? CUDA_R_16BF : CUDA_R_32F;
}

static int dims_ok(struct gm *g, const char *what, int N, int IC, int OC, int ld)
{
	/* 16-byte alignment of every row needs multiples of 8 bf16 elements */
	if (N < 1 || IC < 1 || OC < 1 || ld < OC || IC % 8 || ld % 8)
		return fail(g, "%s: shape N %d IC %d OC %d ld %d (IC and ld must be multiples of 8)",
			    what, N, IC, OC, ld);
	return 0;
}

int gm_linear_fwd(struct gm *g, enum gk_prec p, void *out, int out_f32, int ld_out,
		  const void *inp, const void *w, const void *bias, int N, int IC, int OC)
{
	struct gm_key k;

	if (dims_ok(g, "linear forward", N, IC, OC, ld_out) < 0)
		return -1;
	if (bias && out_f32 && p != GK_F32)
		return fail(g, "linear forward: a bias needs the output in the activation type");
	memset(&k, 0, sizeof k);
	k.ta = 1;
	k.tb = 0;
	k.m = OC;
	k.n = N;
	k.k = IC;
	k.lda = IC;
	k.ldb = IC;
	k.ldd = ld_out;
	k.ab = act_type(p);
	k.d = out_f32 ? CUDA_R_32F : act_type(p);
	k.bias = bias != NULL;
	return mm(g, "linear forward", &k, w, inp, out, bias);
}

int gm_linear_bwd_data(struct gm *g, enum gk_prec p, void *dinp, const void *dout, int ld_dout,
		       const void *w, int N, int IC, int OC)
{
	struct gm_key k;

	if (dims_ok(g, "linear backward (data)", N, IC, OC, ld_dout) < 0)
		return -1;
	memset(&k, 0, sizeof k);
	k.m = IC;
	k.n = N;
	k.k = OC;
	k.lda = IC;
	k.ldb = ld_dout;
	k.ldd = IC;
	k.ab = k.d = act_type(p);
	return mm(g, "linear backward (data)", &k, w, dout, dinp, NULL);
}

int gm_linear_bwd_weight(struct gm *g, enum gk_prec p, float *dw, const void *dout, int ld_dout,
			 const void *inp, int N, int IC, int OC)
{
	struct gm_key k;

	if (dims_ok(g, "linear backward (weight)", N, IC, OC, ld_dout) < 0)
		return -1;
	memset(&k, 0, sizeof k);
	k.tb = 1;
	k.m = IC;
	k.n = OC;
	k.k = N;
	k.lda = IC;
	k.ldb = ld_dout;
	k.ldd = IC;
	k.ab = act_type(p);
	k.d = CUDA_R_32F;
	return mm(g, "linear backward (weight)", &k, inp, dout, dw, NULL);
}
