/* gm.h: the GPU recipe's matrix products, through cuBLASLt. Owns the
 * cuBLASLt handle, its workspace, and the algorithm chosen for each product
 * shape: chosen once (the first time a shape is seen, or eagerly by
 * gm_prepare), then reused for every call, so a run never changes kernels
 * midway and two runs on the same GPU model run the same kernels. The
 * choices are kept as text (gm_record) for the state blob and the logs.
 *
 * Shapes are row-major, as in the CPU engine (recipe/layers.c):
 *   linear forward   out[N, OC] = inp[N, IC] w[OC, IC]^T (+ bias[OC])
 *   backward, data   dinp[N, IC] = dout[N, OC] w[OC, IC]
 *   backward, weight dw[OC, IC] = dout[N, OC]^T inp[N, IC]   (fp32, overwritten)
 * fp32 runs compute in plain fp32 (no TF32: the parity runs need it);
 * bf16 runs take bf16 operands and accumulate in fp32. Split-K reductions
 * that work in place in the output are excluded, so every reduction order
 * is fixed by the chosen algorithm (docs/gpu.md, "Determinism"). */
#ifndef KARPA_GM_H
#define KARPA_GM_H

#include <stddef.h>

#include <cuda_runtime_api.h>

#include "gk.h"

#define GM_ERR_MAX 256
#define GM_RECORD_MAX 4096

struct gm;

/* Returns NULL with a reason in err (GM_ERR_MAX bytes). */
struct gm *gm_create(cudaStream_t stream, char *err);
void gm_destroy(struct gm *g);

/* Every function returns 0, or -1 with the reason in gm_error(g).
 * Operands are activation-typed (enum gk_prec) unless named float.
 * ld_out / ld_dout: the row stride of out / dout in elements (>= OC), so
 * the lm head can write a vocabulary padded to a multiple of 64. out_f32:
 * the product is written as fp32 (the logits) instead of the activation
 * type. bias may be NULL; it has the output's type. */
int gm_linear_fwd(struct gm *g, enum gk_prec p, void *out, int out_f32, int ld_out,
		  const void *inp, const void *w, const void *bias, int N, int IC, int OC);
int gm_linear_bwd_data(struct gm *g, enum gk_prec p, void *dinp, const void *dout, int ld_dout,
		       const void *w, int N, int IC, int OC);
int gm_linear_bwd_weight(struct gm *g, enum gk_prec p, float *dw, const void *dout, int ld_dout,
			 const void *inp, int N, int IC, int OC);

const char *gm_error(const struct gm *g);
/* One line per chosen algorithm: the product, its shape, and cuBLASLt's
 * algorithm id, tile, stages, split-K, reduction scheme, swizzle and custom
 * option. NUL-terminated, at most GM_RECORD_MAX bytes (longer is cut). */
const char *gm_record(const struct gm *g);
/* Number of algorithms chosen so far. */
int gm_algos(const struct gm *g);

#endif
