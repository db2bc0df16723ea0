/* gemmtab.h: the table of matrix-product algorithms a GPU recipe chose
 * through cuBLASLt, in its one canonical text form. Owns the format, its
 * bounds and its strict parser: the GPU runner writes it (kr_gemm_record),
 * the host checks it, the prover signs it into the manifest, and a replay
 * hands it back to its runner to pin (kr_env.gemm, docs/gpu.md). Plain C:
 * no CUDA, no JSON, so every side (a runner too) can link it.
 *
 * The text, every line ending in '\n':
 *   karpa-gemm-1 cublaslt=130000
 *   fwd TN m=2304 n=16384 k=768 lda=768 ldb=768 ldd=2304 ab=bf16 d=bf16 epi=bias compute=f32
 *       algo=66 tile=... stages=... splitk=1 red=0 swizzle=0 custom=0 inner=0 cluster=0
 * (a row is one line; wrapped here). A row is a product, column-major
 * D[m,n] = op(A) op(B) (+ epilogue), and the configuration that rebuilds
 * its algorithm with cublasLtMatmulAlgoInit and
 * cublasLtMatmulAlgoConfigSetAttribute. Rows are sorted by their shape, no
 * two with one shape. cublaslt is the library version that chose them
 * (cublasLtGetVersion), for messages only. Only the canonical text of a
 * table parses: the same table has one text, byte for byte. */
#ifndef KARPA_GEMMTAB_H
#define KARPA_GEMMTAB_H

#include <stddef.h>
#include <stdint.h>

#include "sandbox/recipe_api.h"
#include "util/kerr.h"

#define GEMMTAB_FORMAT "karpa-gemm-1"
/* A training step has 15 products (5 forward, 10 backward), an evaluation
 * adds five per new row count: 128 is far above both. */
#define GEMMTAB_ROWS_MAX 128
/* An op name with its NUL: [a-z0-9_], 1..15 bytes. */
#define GEMMTAB_OP_MAX 16
/* The longest canonical row line, newline included: every number at its
 * widest (293 bytes); the header is shorter. */
#define GEMMTAB_LINE_MAX 320
/* The whole text with its NUL: the wire's bound (kr_env.gemm). */
#define GEMMTAB_TEXT_MAX KR_GEMM_MAX

_Static_assert(GEMMTAB_ROWS_MAX * GEMMTAB_LINE_MAX + GEMMTAB_LINE_MAX < GEMMTAB_TEXT_MAX,
	       "a full table must fit the wire's bound");

/* Names, not cuBLAS's numbers: the text stays readable and this file free
 * of CUDA. The CUDA side maps them (recipe/cuda/gm.c). */
enum gemmtab_type { GEMMTAB_F32, GEMMTAB_F16, GEMMTAB_BF16, GEMMTAB_TYPES };
/* gelu_aux_bias: bias, then GELU, the GELU's input stored beside the
 * output; dgelu: the product times the GELU's derivative at a stored input
 * (the fc layer's forward and backward with the GELU fused, gm.h). */
enum gemmtab_epi { GEMMTAB_EPI_NONE, GEMMTAB_EPI_BIAS, GEMMTAB_EPI_GELU, GEMMTAB_EPI_GELU_BIAS,
		   GEMMTAB_EPI_BGRADB, GEMMTAB_EPI_GELU_AUX_BIAS, GEMMTAB_EPI_DGELU, GEMMTAB_EPIS };
enum gemmtab_compute { GEMMTAB_COMPUTE_F32, GEMMTAB_COMPUTES };

/* The product: what a row is looked up by. */
struct gemmtab_shape {
	char op[GEMMTAB_OP_MAX]; /* the recipe's name for it ("fwd", "bwd_data", ...) */
	int ta, tb;              /* 1: the operand is transposed ('T') */
	int32_t m, n, k;         /* >= 1 */
	int32_t lda, ldb, ldd;   /* >= the stored operand's rows */
	int ab, d;               /* enum gemmtab_type: A and B, then C and D */
	int epi;                 /* enum gemmtab_epi */
	int compute;             /* enum gemmtab_compute; the scale type is fp32 */
};

/* cuBLASLt's algorithm configuration (cublasLtMatmulAlgoConfigAttributes_t),
 * each field at its attribute's width. */
struct gemmtab_algo {
	int32_t id;      /* CUBLASLT_ALGO_CONFIG_ID, >= 0 */
	uint32_t tile;   /* TILE_ID */
	uint32_t stages; /* STAGES_ID */
	int32_t splitk;  /* SPLITK_NUM, >= 0 */
	uint32_t red;    /* REDUCTION_SCHEME */
	uint32_t swizzle; /* CTA_SWIZZLING */
	uint32_t custom; /* CUSTOM_OPTION */
	uint16_t inner;  /* INNER_SHAPE_ID */
	uint16_t cluster; /* CLUSTER_SHAPE_ID */
};

struct gemmtab_row {
	struct gemmtab_shape s;
	struct gemmtab_algo a;
};

struct gemmtab {
	uint64_t lib; /* cublasLtGetVersion() of the library that chose the rows */
	int n;
	struct gemmtab_row rows[GEMMTAB_ROWS_MAX];
};

/* Parses len bytes of text (no NUL among them) into t. Anything but a
 * canonical text within the bounds above is gemm.bad_table, naming the
 * line and what is wrong; t is written only on success. "" is no table:
 * refused here, callers test for it first. */
int gemmtab_parse(const char *text, size_t len, struct gemmtab *t, struct kerr *err);

/* The canonical text of t, NUL-terminated in buf (cap bytes), rows in
 * shape order whatever t's order; *len its length (may be NULL).
 * gemm.bad_table when a row is out of the format's bounds or two rows
 * share a shape, gemm.too_large when cap is too small; buf is then "". */
int gemmtab_format(const struct gemmtab *t, char *buf, size_t cap, size_t *len, struct kerr *err);

/* One row as its line (with '\n'), NUL-terminated in buf
 * (GEMMTAB_LINE_MAX + 1 bytes); the row is not checked. Returns the length. */
size_t gemmtab_format_row(const struct gemmtab_row *r, char *buf, size_t cap);

/* Adds r to t (in any order: gemmtab_format sorts). gemm.bad_table for a
 * row out of bounds or a shape t already has, gemm.too_large when t is
 * full; t is then unchanged. */
int gemmtab_add(struct gemmtab *t, const struct gemmtab_row *r, struct kerr *err);

/* The row of shape s in t, or NULL. */
const struct gemmtab_row *gemmtab_find(const struct gemmtab *t, const struct gemmtab_shape *s);

/* Orders shapes (op, then transposes, sizes, strides, types, epilogue,
 * compute): <0, 0, >0. */
int gemmtab_shape_cmp(const struct gemmtab_shape *a, const struct gemmtab_shape *b);

/* The names the text uses ("bf16", "bias", "f32"); "?" out of range. */
const char *gemmtab_type_name(int t);
const char *gemmtab_epi_name(int e);

#endif
