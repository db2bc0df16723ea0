/* gm.c: matrix products through cuBLASLt (gm.h). Each distinct product
 * (shape, types, transposes, epilogue) gets one cache entry holding its
 * descriptors and its algorithm; later calls only swap pointers. Every
 * algorithm that runs is built the same way, from its gemmtab row
 * (cublasLtMatmulAlgoInit, then the configuration attributes): a pinned
 * row from the table handed in, a new product from the row of the
 * heuristic's first choice. So the table is a complete account of what
 * ran, and a replay that pins it builds the same algorithms. */
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
 * a few dozen shapes; eval adds one per row count. The table holds as many. */
#define GM_CACHE GEMMTAB_ROWS_MAX

struct gm_key {
	int ta, tb, m, n, k, lda, ldb, ldd;
	int ab, d; /* cudaDataType_t */
	int epi;   /* enum gemmtab_epi: none, bias, gelu_aux_bias (fwd), dgelu (bwd_data) */
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
	int differs; /* heuristic choices whose rebuild differed in bytes */
	int unrebuilt; /* heuristic choices that would not rebuild: run as chosen */
	struct gemmtab tab; /* the rows of cache[0..n-1], in cache order */
	char err[GM_ERR_MAX];
	char rec[GEMMTAB_TEXT_MAX]; /* tab's canonical text, kept current */
};

static int fail(struct gm *g, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(g->err, sizeof g->err, fmt, ap);
	va_end(ap);
	return -1;
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
	g->tab.lib = cublasLtGetVersion();
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
	gemmtab_format(&g->tab, g->rec, sizeof g->rec, NULL, NULL);
	return g;
}

static void entry_free(struct gm_entry *e)
{
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

void gm_destroy(struct gm *g)
{
	if (!g)
		return;
	for (int i = 0; i < g->n; i++)
		entry_free(&g->cache[i]);
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

int gm_rebuilt_differs(const struct gm *g)
{
	return g->differs;
}

int gm_unrebuilt(const struct gm *g)
{
	return g->unrebuilt;
}

/* ---- products and their table rows ----------------------------------- */

/* gm's three products, by their transposes (the row's op names them). */
static const char *op_name(int ta, int tb)
{
	return ta && !tb ? "fwd" : !ta && !tb ? "bwd_data" : !ta && tb ? "bwd_weight" : "?";
}

static int tab_type(int cuda_type)
{
	return cuda_type == CUDA_R_16BF ? GEMMTAB_BF16 : GEMMTAB_F32;
}

static void key_to_shape(const struct gm_key *k, struct gemmtab_shape *s)
{
	memset(s, 0, sizeof *s);
	snprintf(s->op, sizeof s->op, "%s", op_name(k->ta, k->tb));
	s->ta = k->ta;
	s->tb = k->tb;
	s->m = k->m;
	s->n = k->n;
	s->k = k->k;
	s->lda = k->lda;
	s->ldb = k->ldb;
	s->ldd = k->ldd;
	s->ab = tab_type(k->ab);
	s->d = tab_type(k->d);
	s->epi = k->epi;
	s->compute = GEMMTAB_COMPUTE_F32;
}

/* A pinned row's product as gm's key, or what keeps it from being one of
 * gm's products. */
static const char *shape_to_key(const struct gemmtab_shape *s, struct gm_key *k)
{
	memset(k, 0, sizeof *k);
	if (strcmp(s->op, op_name(s->ta, s->tb)))
		return "its op is not gm's name for its transposes (fwd TN, bwd_data NN, bwd_weight NT)";
	if ((s->ab != GEMMTAB_F32 && s->ab != GEMMTAB_BF16) || (s->d != GEMMTAB_F32 && s->d != GEMMTAB_BF16))
		return "gm's products are f32 or bf16";
	if (s->epi != GEMMTAB_EPI_NONE && s->epi != GEMMTAB_EPI_BIAS && s->epi != GEMMTAB_EPI_GELU_AUX_BIAS &&
	    s->epi != GEMMTAB_EPI_DGELU)
		return "gm's products have no epilogue but a bias, gelu_aux_bias or dgelu";
	if ((s->epi == GEMMTAB_EPI_GELU_AUX_BIAS && strcmp(s->op, "fwd")) ||
	    (s->epi == GEMMTAB_EPI_DGELU && strcmp(s->op, "bwd_data")))
		return "gm fuses the GELU into fwd (gelu_aux_bias) and bwd_data (dgelu) only";
	if ((s->epi == GEMMTAB_EPI_GELU_AUX_BIAS || s->epi == GEMMTAB_EPI_DGELU) && (s->ldd % 8 || s->d != s->ab))
		return "a fused GELU's stored input needs ldd a multiple of 8 and the output in the operands' type";
	if (s->compute != GEMMTAB_COMPUTE_F32)
		return "gm's products compute in f32";
	k->ta = s->ta;
	k->tb = s->tb;
	k->m = s->m;
	k->n = s->n;
	k->k = s->k;
	k->lda = s->lda;
	k->ldb = s->ldb;
	k->ldd = s->ldd;
	k->ab = s->ab == GEMMTAB_BF16 ? CUDA_R_16BF : CUDA_R_32F;
	k->d = s->d == GEMMTAB_BF16 ? CUDA_R_16BF : CUDA_R_32F;
	k->epi = s->epi;
	return NULL;
}

/* The product's name in messages: "fwd TN m=.. n=.. k=.. bf16+bias". */
static void describe(const struct gm_key *k, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s %c%c m=%d n=%d k=%d %s%s%s", op_name(k->ta, k->tb), k->ta ? 'T' : 'N',
		 k->tb ? 'T' : 'N', k->m, k->n, k->k, gemmtab_type_name(tab_type(k->ab)), k->epi ? "+" : "",
		 k->epi ? gemmtab_epi_name(k->epi) : "");
}

/* Whether the product's epilogue reads or writes the GELU's input beside
 * its output (the aux matrix, laid out as D). */
static int has_aux(const struct gm_key *k)
{
	return k->epi == GEMMTAB_EPI_GELU_AUX_BIAS || k->epi == GEMMTAB_EPI_DGELU;
}

/* The configuration attributes, each at its width (cublasLt.h). */
#define GM_ATTRS 8
static void attr_table(struct gemmtab_algo *a, cublasLtMatmulAlgoConfigAttributes_t id[GM_ATTRS],
		       void *val[GM_ATTRS], size_t size[GM_ATTRS])
{
	const cublasLtMatmulAlgoConfigAttributes_t ids[GM_ATTRS] = {
		CUBLASLT_ALGO_CONFIG_TILE_ID,	      CUBLASLT_ALGO_CONFIG_STAGES_ID,
		CUBLASLT_ALGO_CONFIG_SPLITK_NUM,      CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME,
		CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING,   CUBLASLT_ALGO_CONFIG_CUSTOM_OPTION,
		CUBLASLT_ALGO_CONFIG_INNER_SHAPE_ID,  CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID,
	};
	void *const vals[GM_ATTRS] = { &a->tile, &a->stages, &a->splitk, &a->red, &a->swizzle, &a->custom, &a->inner,
				       &a->cluster };
	const size_t sizes[GM_ATTRS] = { sizeof a->tile,    sizeof a->stages, sizeof a->splitk, sizeof a->red,
					 sizeof a->swizzle, sizeof a->custom, sizeof a->inner,  sizeof a->cluster };

	memcpy(id, ids, sizeof ids);
	memcpy(val, vals, sizeof vals);
	memcpy(size, sizes, sizeof sizes);
}

/* An algorithm's configuration as its row. */
static int algo_to_row(struct gm *g, const char *what, const cublasLtMatmulAlgo_t *algo, struct gemmtab_algo *a)
{
	cublasLtMatmulAlgoConfigAttributes_t id[GM_ATTRS];
	void *val[GM_ATTRS];
	size_t size[GM_ATTRS], got = 0;
	cublasStatus_t st;

	memset(a, 0, sizeof *a);
	attr_table(a, id, val, size);
	if ((st = cublasLtMatmulAlgoConfigGetAttribute(algo, CUBLASLT_ALGO_CONFIG_ID, &a->id, sizeof a->id, &got)))
		return fail(g, "%s: reading the algorithm id: %s", what, cublasLtGetStatusString(st));
	for (int i = 0; i < GM_ATTRS; i++)
		if ((st = cublasLtMatmulAlgoConfigGetAttribute(algo, id[i], val[i], size[i], &got)))
			return fail(g, "%s: reading configuration attribute %d: %s", what, (int)id[i],
				    cublasLtGetStatusString(st));
	return 0;
}

/* The algorithm a row describes, for e's descriptors, checked on this GPU
 * and library: the one way an algorithm is made (pinned or chosen). */
static int row_to_algo(struct gm *g, const char *what, const struct gemmtab_algo *row, struct gm_entry *e)
{
	struct gemmtab_algo a = *row;
	cublasLtMatmulAlgoConfigAttributes_t id[GM_ATTRS];
	void *val[GM_ATTRS];
	size_t size[GM_ATTRS];
	cublasLtMatmulHeuristicResult_t chk;
	cublasStatus_t st;

	/* in-place split-K adds into the output in an order the run does not fix */
	if (a.splitk > 1 && (a.red & CUBLASLT_REDUCTION_SCHEME_INPLACE))
		return fail(g, "%s: algorithm %d reduces split-K in place, which is not deterministic", what, (int)a.id);
	if ((st = cublasLtMatmulAlgoInit(g->lt, CUBLAS_COMPUTE_32F, CUDA_R_32F, (cudaDataType_t)e->key.ab,
					 (cudaDataType_t)e->key.ab, (cudaDataType_t)e->key.d, (cudaDataType_t)e->key.d,
					 a.id, &e->algo)))
		return fail(g, "%s: algorithm %d is not one this library has: %s", what, (int)a.id,
			    cublasLtGetStatusString(st));
	attr_table(&a, id, val, size);
	for (int i = 0; i < GM_ATTRS; i++)
		if ((st = cublasLtMatmulAlgoConfigSetAttribute(&e->algo, id[i], val[i], size[i])))
			return fail(g, "%s: algorithm %d refuses configuration attribute %d: %s", what, (int)a.id,
				    (int)id[i], cublasLtGetStatusString(st));
	memset(&chk, 0, sizeof chk);
	if ((st = cublasLtMatmulAlgoCheck(g->lt, e->op, e->a, e->b, e->d, e->d, &e->algo, &chk)))
		return fail(g, "%s: algorithm %d tile %u stages %u is not available here: %s", what, (int)a.id,
			    (unsigned)a.tile, (unsigned)a.stages, cublasLtGetStatusString(st));
	if (chk.workspaceSize > GM_WORKSPACE)
		return fail(g, "%s: algorithm %d needs %zu bytes of workspace, gm has %zu", what, (int)a.id,
			    chk.workspaceSize, GM_WORKSPACE);
	return 0;
}

/* e's descriptors for key k (column-major: rows, cols of the stored, not
 * transposed, operands). */
static int descriptors(struct gm *g, const char *what, const struct gm_key *k, struct gm_entry *e)
{
	cublasOperation_t ta = k->ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb = k->tb ? CUBLAS_OP_T : CUBLAS_OP_N;
	cublasStatus_t st;

	memset(e, 0, sizeof *e);
	e->key = *k;
	if ((st = cublasLtMatmulDescCreate(&e->op, CUBLAS_COMPUTE_32F, CUDA_R_32F)) ||
	    (st = cublasLtMatmulDescSetAttribute(e->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta)) ||
	    (st = cublasLtMatmulDescSetAttribute(e->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb)) ||
	    (st = cublasLtMatrixLayoutCreate(&e->a, (cudaDataType_t)k->ab, k->ta ? k->k : k->m,
					     k->ta ? k->m : k->k, k->lda)) ||
	    (st = cublasLtMatrixLayoutCreate(&e->b, (cudaDataType_t)k->ab, k->tb ? k->n : k->k,
					     k->tb ? k->k : k->n, k->ldb)) ||
	    (st = cublasLtMatrixLayoutCreate(&e->d, (cudaDataType_t)k->d, k->m, k->n, k->ldd))) {
		entry_free(e);
		return fail(g, "%s: cuBLASLt descriptor: %s", what, cublasLtGetStatusString(st));
	}
	if (k->epi != GEMMTAB_EPI_NONE) {
		cublasLtEpilogue_t epi = k->epi == GEMMTAB_EPI_BIAS		 ? CUBLASLT_EPILOGUE_BIAS
					 : k->epi == GEMMTAB_EPI_GELU_AUX_BIAS ? CUBLASLT_EPILOGUE_GELU_AUX_BIAS
									       : CUBLASLT_EPILOGUE_DGELU;
		int64_t aux_ld = k->ldd;
		if ((st = cublasLtMatmulDescSetAttribute(e->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi)) ||
		    (has_aux(k) && (st = cublasLtMatmulDescSetAttribute(e->op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD,
									&aux_ld, sizeof aux_ld)))) {
			entry_free(e);
			return fail(g, "%s: %s epilogue: %s", what, gemmtab_epi_name(k->epi),
				    cublasLtGetStatusString(st));
		}
	}
	return 0;
}

/* The heuristic's first choice for e's product, as a row. */
static int choose(struct gm *g, const char *what, struct gm_entry *e, struct gemmtab_algo *row)
{
	cublasLtMatmulPreference_t pref = NULL;
	cublasLtMatmulHeuristicResult_t res;
	/* in-place split-K reduces in the output; keep only the schemes that
	 * reduce in the workspace in a fixed order */
	uint32_t red = CUBLASLT_REDUCTION_SCHEME_NONE | CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE |
		       CUBLASLT_REDUCTION_SCHEME_OUTPUT_TYPE;
	uint32_t align = 16;
	size_t ws = GM_WORKSPACE;
	int nres = 0, rc = -1;
	cublasStatus_t st;

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
		fail(g, "%s: cuBLASLt has no algorithm for it (%s)", what,
		     cublasLtGetStatusString(st ? st : res.state));
		goto out;
	}
	if (algo_to_row(g, what, &res.algo, row) < 0)
		goto out;
	e->algo = res.algo;
	rc = 0;
out:
	if (pref)
		cublasLtMatmulPreferenceDestroy(pref);
	return rc;
}

static int same_algo(const struct gemmtab_algo *a, const struct gemmtab_algo *b)
{
	return a->id == b->id && a->tile == b->tile && a->stages == b->stages && a->splitk == b->splitk &&
	       a->red == b->red && a->swizzle == b->swizzle && a->custom == b->custom && a->inner == b->inner &&
	       a->cluster == b->cluster;
}

/* A pinned row that does not rebuild (its product ran the heuristic's
 * algorithm as chosen, gm_unrebuilt): the pin holds when the heuristic
 * chooses exactly that configuration here too, and runs it as chosen;
 * otherwise the pin fails by name with the rebuild's reason. */
static int heuristic_is(struct gm *g, const char *what, struct gm_entry *e, const struct gemmtab_algo *pinned)
{
	char why[GM_ERR_MAX];
	struct gemmtab_algo got;

	snprintf(why, sizeof why, "%s", g->err);
	if (choose(g, what, e, &got) < 0 || !same_algo(&got, pinned)) {
		snprintf(g->err, sizeof g->err, "%s", why);
		return -1;
	}
	g->err[0] = '\0';
	g->unrebuilt++;
	return 0;
}

/* Adds the entry for key k as cache[n] and its row to the table: with
 * pinned, that algorithm; else the heuristic's, rebuilt from its row so
 * that the row is exactly what runs. */
static int add_entry(struct gm *g, const struct gm_key *k, const struct gemmtab_algo *pinned)
{
	struct gm_entry *e = &g->cache[g->n];
	struct gemmtab_row row;
	struct kerr ke = { "", "" };
	int n0 = g->tab.n;
	char what[96];

	describe(k, what, sizeof what);
	if (g->n == GM_CACHE)
		return fail(g, "%s: more than %d product shapes", what, GM_CACHE);
	if (descriptors(g, what, k, e) < 0)
		return -1;
	key_to_shape(k, &row.s);
	if (pinned) {
		row.a = *pinned;
		if (row_to_algo(g, what, &row.a, e) < 0 && heuristic_is(g, what, e, pinned) < 0)
			goto bad;
	} else {
		cublasLtMatmulAlgo_t heuristic;
		if (choose(g, what, e, &row.a) < 0)
			goto bad;
		heuristic = e->algo;
		if (row_to_algo(g, what, &row.a, e) < 0) {
			/* The run goes on with the heuristic's own algorithm and
			 * says so: its row is still recorded, and a replay that
			 * pins it fails create by name rather than differing. */
			fprintf(stderr, "gm: %s: the heuristic's algorithm does not rebuild from its configuration (%s); "
					"running it as chosen\n",
				what, gm_error(g));
			g->err[0] = '\0';
			e->algo = heuristic;
			g->unrebuilt++;
		}
		g->differs += memcmp(&heuristic, &e->algo, sizeof heuristic) != 0;
	}
	if (gemmtab_add(&g->tab, &row, &ke) < 0 ||
	    gemmtab_format(&g->tab, g->rec, sizeof g->rec, NULL, &ke) < 0) {
		g->tab.n = n0;
		gemmtab_format(&g->tab, g->rec, sizeof g->rec, NULL, NULL);
		fail(g, "%s: %s", what, ke.msg);
		goto bad;
	}
	g->n++;
	return 0;
bad:
	entry_free(e);
	return -1;
}

int gm_pin(struct gm *g, const char *text)
{
	struct gemmtab *t = NULL;
	struct kerr ke = { "", "" };
	size_t len = text ? strnlen(text, GEMMTAB_TEXT_MAX) : 0;
	int rc = -1;

	if (g->n)
		return fail(g, "gm_pin after %d products were chosen: pin before the first", g->n);
	if (!len)
		return 0;
	if (!(t = malloc(sizeof *t)))
		return fail(g, "out of memory for the pinned table");
	if (gemmtab_parse(text, len, t, &ke) < 0) {
		fail(g, "the pinned gemm table: %s", ke.msg);
		goto out;
	}
	for (int i = 0; i < t->n; i++) {
		struct gm_key k;
		const char *why = shape_to_key(&t->rows[i].s, &k);

		if (why) {
			const struct gemmtab_shape *sh = &t->rows[i].s;
			fail(g, "pinned row %d (%s %c%c m=%d n=%d k=%d): %s", i + 1, sh->op, sh->ta ? 'T' : 'N',
			     sh->tb ? 'T' : 'N', (int)sh->m, (int)sh->n, (int)sh->k, why);
			goto out;
		}
		if (add_entry(g, &k, &t->rows[i].a) < 0) {
			char why2[GM_ERR_MAX];
			snprintf(why2, sizeof why2, "%s", g->err);
			fail(g, "pinned %s (recorded with cuBLASLt %llu, this is %zu)", why2,
			     (unsigned long long)t->lib, cublasLtGetVersion());
			goto out;
		}
	}
	rc = 0;
out:
	if (rc < 0) {
		/* nothing pinned: the context is as created */
		for (int i = 0; i < g->n; i++)
			entry_free(&g->cache[i]);
		g->n = 0;
		g->tab.n = 0;
		gemmtab_format(&g->tab, g->rec, sizeof g->rec, NULL, NULL);
	}
	free(t);
	return rc;
}

static int aligned(const void *p)
{
	return ((uintptr_t)p & 15) == 0;
}

/* D = op(A) op(B) (+ bias), column-major, beta = 0, through k's epilogue;
 * aux: the GELU's input, written (gelu_aux_bias) or read (dgelu). */
static int mm(struct gm *g, const char *what, const struct gm_key *k, const void *A, const void *B,
	      void *D, const void *bias, const void *aux)
{
	struct gm_entry *e = NULL;
	const float one = 1.0f, zero = 0.0f;
	cublasStatus_t st;

	if (!aligned(A) || !aligned(B) || !aligned(D) || (bias && !aligned(bias)) || (aux && !aligned(aux)))
		return fail(g, "%s: an operand is not 16-byte aligned", what);
	if (has_aux(k) != (aux != NULL))
		return fail(g, "%s: the %s epilogue %s the GELU's input", what, gemmtab_epi_name(k->epi),
			    has_aux(k) ? "needs" : "takes no");
	for (int i = 0; i < g->n; i++)
		if (!memcmp(&g->cache[i].key, k, sizeof *k)) {
			e = &g->cache[i];
			break;
		}
	if (!e) {
		if (add_entry(g, k, NULL) < 0)
			return -1;
		e = &g->cache[g->n - 1];
	}
	if (bias && (st = cublasLtMatmulDescSetAttribute(e->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
							 &bias, sizeof bias)))
		return fail(g, "%s: bias pointer: %s", what, cublasLtGetStatusString(st));
	if (aux && (st = cublasLtMatmulDescSetAttribute(e->op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &aux,
							sizeof aux)))
		return fail(g, "%s: GELU input pointer: %s", what, cublasLtGetStatusString(st));
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

/* out[N, OC] (row stride ld_out, type d_type) = inp[N, IC] w[OC, IC]^T
 * through epilogue epi; pre: the GELU's input, written beside out. */
static int linear_fwd(struct gm *g, const char *what, enum gk_prec p, void *out, int d_type, int ld_out,
		      const void *inp, const void *w, const void *bias, void *pre, int epi, int N, int IC, int OC)
{
	struct gm_key k;

	if (dims_ok(g, what, N, IC, OC, ld_out) < 0)
		return -1;
	memset(&k, 0, sizeof k);
	k.ta = 1;
	k.m = OC;
	k.n = N;
	k.k = IC;
	k.lda = IC;
	k.ldb = IC;
	k.ldd = ld_out;
	k.ab = act_type(p);
	k.d = d_type;
	k.epi = epi;
	return mm(g, what, &k, w, inp, out, bias, pre);
}

int gm_linear_fwd(struct gm *g, enum gk_prec p, void *out, int out_f32, int ld_out,
		  const void *inp, const void *w, const void *bias, int N, int IC, int OC)
{
	if (bias && out_f32 && p != GK_F32)
		return fail(g, "linear forward: a bias needs the output in the activation type");
	return linear_fwd(g, "linear forward", p, out, out_f32 ? CUDA_R_32F : act_type(p), ld_out, inp, w, bias,
			  NULL, bias ? GEMMTAB_EPI_BIAS : GEMMTAB_EPI_NONE, N, IC, OC);
}

int gm_linear_fwd_gelu(struct gm *g, enum gk_prec p, void *out, void *pre, const void *inp, const void *w,
		       const void *bias, int N, int IC, int OC)
{
	if (!bias || !pre)
		return fail(g, "linear forward with GELU: needs the bias and the buffer for the GELU's input");
	return linear_fwd(g, "linear forward with GELU", p, out, act_type(p), OC, inp, w, bias, pre,
			  GEMMTAB_EPI_GELU_AUX_BIAS, N, IC, OC);
}

/* dinp[N, IC] = dout[N, OC] (row stride ld_dout) w[OC, IC] through
 * epilogue epi; pre: the GELU's input, read. */
static int linear_bwd_data(struct gm *g, const char *what, enum gk_prec p, void *dinp, const void *dout,
			   int ld_dout, const void *w, const void *pre, int epi, int N, int IC, int OC)
{
	struct gm_key k;

	if (dims_ok(g, what, N, IC, OC, ld_dout) < 0)
		return -1;
	memset(&k, 0, sizeof k);
	k.m = IC;
	k.n = N;
	k.k = OC;
	k.lda = IC;
	k.ldb = ld_dout;
	k.ldd = IC;
	k.ab = k.d = act_type(p);
	k.epi = epi;
	return mm(g, what, &k, w, dout, dinp, NULL, pre);
}

int gm_linear_bwd_data(struct gm *g, enum gk_prec p, void *dinp, const void *dout, int ld_dout,
		       const void *w, int N, int IC, int OC)
{
	return linear_bwd_data(g, "linear backward (data)", p, dinp, dout, ld_dout, w, NULL, GEMMTAB_EPI_NONE, N,
			       IC, OC);
}

int gm_linear_bwd_data_dgelu(struct gm *g, enum gk_prec p, void *dpre, const void *dout, int ld_dout,
			     const void *w, const void *pre, int N, int IC, int OC)
{
	if (!pre)
		return fail(g, "linear backward (data) with GELU: needs the GELU's input");
	return linear_bwd_data(g, "linear backward (data) with GELU", p, dpre, dout, ld_dout, w, pre,
			       GEMMTAB_EPI_DGELU, N, IC, OC);
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
	return mm(g, "linear backward (weight)", &k, inp, dout, dw, NULL, NULL);
}
