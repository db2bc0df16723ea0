/* gm.h: the GPU recipe's matrix products, through cuBLASLt. Owns the
 * cuBLASLt handle, its workspace, and the algorithm of each product shape:
 * chosen once (the first time a shape is seen) or pinned from a table at
 * creation (gm_pin), then reused for every call, so a run never changes
 * kernels midway. The algorithms in use form a gemmtab table (gm_record,
 * src/sandbox/gemmtab.h) that a proof records and its replay pins, so the
 * replay runs the proof's kernels whatever its library's heuristic would
 * pick (docs/gpu.md, "Which algorithms").
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
#include "sandbox/gemmtab.h"

#define GM_ERR_MAX 256

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

/* The fc layer with its GELU in cuBLASLt's epilogue, in place of the
 * product and gk_gelu_fwd / gk_gelu_bwd (one pass over the N x OC
 * activation less each way; gg's GG_GELU_EPILOGUE):
 *   forward   out[N, OC] = GELU(inp w^T + bias), pre[N, OC] = inp w^T + bias
 *             (the GELU's input, for the backward; row stride OC)
 *   backward  dpre[N, IC] = (dout w)[N, IC] * GELU'(pre[N, IC])
 * Both in the activation type; IC and OC multiples of 8. Whether
 * cuBLASLt's GELU is the recipe's (the tanh form, gk_gelu_fwd) is what
 * tests/gpu/test_gm.c checks against the kernels. */
int gm_linear_fwd_gelu(struct gm *g, enum gk_prec p, void *out, void *pre, const void *inp, const void *w,
		       const void *bias, int N, int IC, int OC);
int gm_linear_bwd_data_dgelu(struct gm *g, enum gk_prec p, void *dpre, const void *dout, int ld_dout,
			     const void *w, const void *pre, int N, int IC, int OC);

const char *gm_error(const struct gm *g);

/* Pins the algorithms of a table (gemmtab text, as gm_record gives it,
 * possibly from another run on another library): each row's product gets
 * the algorithm its configuration rebuilds (cublasLtMatmulAlgoInit, then
 * every configuration attribute), checked by cublasLtMatmulAlgoCheck on
 * this GPU and library, and is never chosen again. Products no row names
 * are chosen as without a pin. Before the first product only. -1 with the
 * reason in gm_error, naming the row's product, when the text does not
 * parse, a row is not one of gm's products (op, transposes, types,
 * epilogue), reduces split-K in place, or its algorithm is not available
 * here (the check's status, both library versions); nothing is pinned
 * then. */
int gm_pin(struct gm *g, const char *text);

/* Every algorithm in use, pinned or chosen, as canonical gemmtab text: the
 * header with this library's version, rows sorted by product. The rows
 * describe exactly what runs: a heuristic's choice is itself rebuilt from
 * its row before its first use, as a pinned one is. */
const char *gm_record(const struct gm *g);
/* Number of algorithms in use (pinned or chosen). */
int gm_algos(const struct gm *g);
/* Heuristic choices whose rebuilt algorithm differed in its bytes from the
 * heuristic's (the rebuilt one runs either way): for the GPU tests' log. */
int gm_rebuilt_differs(const struct gm *g);
/* Heuristic choices whose row did not rebuild into an algorithm this GPU
 * accepts: run as the heuristic gave them (a pin of such a row holds when
 * the heuristic gives that configuration again). */
int gm_unrebuilt(const struct gm *g);

#endif
