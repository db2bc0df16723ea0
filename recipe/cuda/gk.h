/* gk.h: the GPU recipe's own kernels (everything but the matrix products,
 * which go through cuBLASLt in gm.h). Owns one host entry point per kernel;
 * each launches on the given stream and returns at once (check
 * cudaGetLastError after). C-callable, so the model, the tests and the
 * benchmarks are plain C.
 *
 * Storage precision: activations live in one type per run, fp32 (GK_F32) or
 * bf16 (GK_BF16); a "void *" below is such an activation buffer. Arithmetic
 * is fp32 everywhere. Parameters, their gradients and the AdamW moments are
 * always fp32 ("float *"); in bf16 runs the matrix products read a bf16 copy
 * of the weights (gk_cast_bf16).
 *
 * Determinism (docs/gpu.md): no kernel here uses atomics in a reduction that
 * feeds a result; every sum runs in a fixed order set by the launch shape,
 * and launch shapes depend only on the arguments, so the same inputs on the
 * same GPU model give the same bits. Row-major throughout: [N, C] means N
 * rows of C contiguous elements. */
#ifndef KARPA_GK_H
#define KARPA_GK_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

enum gk_prec { GK_F32 = 0, GK_BF16 = 1 };

/* Bytes per activation element. */
size_t gk_elt_bytes(enum gk_prec p);

/* ---------------------------------------------------------------- casts */

/* dst[i] = bf16(src[i]), round to nearest even. */
void gk_cast_bf16(void *dst, const float *src, size_t n, cudaStream_t s);
/* dst[i] = float(src[i]) for activations of precision p (a copy for GK_F32). */
void gk_to_f32(enum gk_prec p, float *dst, const void *src, size_t n, cudaStream_t s);

/* ------------------------------------------------------------ embedding */

/* out[b,t,:] = wte[tok[b*T+t],:] + wpe[t,:]; wte [V,C] and wpe [T,C] are
 * activation-typed (the bf16 weight copy in bf16 runs). out [B*T, C]. */
void gk_encoder_fwd(enum gk_prec p, void *out, const int *tok, const void *wte, const void *wpe,
		    int B, int T, int C, cudaStream_t s);

/* Backward of the embedding, deterministic without atomics.
 *   dwpe[t,c] = sum over b = 0..B-1, in that order, of dout[b*T+t, c] (overwritten)
 *   dwte[id,c] += sum over the positions of bucket k, in list order, of dout[pos, c]
 * The host groups positions by token id: bucket k (0 <= k < nbuckets) has
 * token id ids[k] and positions pos[start[k] .. start[k+1]-1] (ascending;
 * start has nbuckets+1 entries). Buckets hold distinct ids, so each dwte row
 * is written by one thread block. dwte accumulates (the tied lm head has
 * already written its part); dwpe is overwritten. */
void gk_encoder_bwd(enum gk_prec p, float *dwte, float *dwpe, const void *dout, const int *ids,
		    const int *start, const int *pos, int nbuckets, int B, int T, int C,
		    cudaStream_t s);

/* ------------------------------------------------------------ layernorm */

#define GK_LN_EPS 1e-5f

/* out = (inp - mean) * rstd * w + b per row; mean and rstd [N] are kept for
 * backward. Variance is the biased one (divide by C), as in the CPU engine. */
void gk_layernorm_fwd(enum gk_prec p, void *out, float *mean, float *rstd, const void *inp,
		      const float *w, const float *b, int N, int C, cudaStream_t s);

/* dinp += d(loss)/d(inp) (accumulates: the residual stream's gradient);
 * dw, db [C] are overwritten with the sums over all N rows. scratch holds at
 * least gk_layernorm_scratch_floats(N, C) floats. */
void gk_layernorm_bwd(enum gk_prec p, void *dinp, float *dw, float *db, const void *dout,
		      const void *inp, const float *w, const float *mean, const float *rstd,
		      int N, int C, float *scratch, cudaStream_t s);
size_t gk_layernorm_scratch_floats(int N, int C);

/* ------------------------------------------------------- pointwise ops */

/* GPT-2's GELU: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
void gk_gelu_fwd(enum gk_prec p, void *out, const void *inp, size_t n, cudaStream_t s);
/* dinp = dout * gelu'(inp); dinp may be the same buffer as dout. */
void gk_gelu_bwd(enum gk_prec p, void *dinp, const void *inp, const void *dout, size_t n,
		 cudaStream_t s);
/* out = a + b; out may alias a or b. */
void gk_residual_fwd(enum gk_prec p, void *out, const void *a, const void *b, size_t n,
		     cudaStream_t s);
/* acc += x: the residual stream's gradient takes a branch's input gradient. */
void gk_accumulate(enum gk_prec p, void *acc, const void *x, size_t n, cudaStream_t s);

/* --------------------------------------------------------- reductions */

/* out[j] = sum over rows i = 0..N-1 of dy[i*OC + j] (bias gradients),
 * overwritten; fixed two-stage order. scratch holds at least
 * gk_colsum_scratch_floats(N, OC) floats. */
void gk_colsum(enum gk_prec p, float *out, const void *dy, int N, int OC, float *scratch,
	       cudaStream_t s);
size_t gk_colsum_scratch_floats(int N, int OC);

/* -------------------------------------------------------- the loss */

/* Fused softmax cross entropy over fp32 logits [N, ldv] (the first V
 * columns are the vocabulary; ldv >= V is padding, never read):
 *   losses[i]   = logsumexp(logits[i,:V]) - logits[i, targets[i]]
 *   dlogits[i,j] = (softmax(logits[i,:V])[j] - (j == targets[i])) * dscale, j < V
 *   dlogits[i,j] = 0 for V <= j < ldv
 * dlogits is activation-typed [N, ldv]. dscale is 1/N for a mean loss. */
void gk_crossentropy(enum gk_prec p, void *dlogits, float *losses, const float *logits,
		     const int *targets, int N, int V, int ldv, float dscale, cudaStream_t s);

/* --------------------------------------------------------- optimizer */

/* AdamW, torch.optim.AdamW's update, element by element, with the CPU
 * engine's exact operation order and no contraction (recipe/adamw.c), so a
 * GPU step and a CPU step on the same inputs give the same bits:
 *   p *= 1 - lr*wd; m += (1-b1)(g - m); v = v*b2 + (1-b2)*g*g;
 *   p -= (lr/bc1) * m / (sqrt(v)/bc2_sqrt + eps) */
void gk_adamw(float *p, const float *g, float *m, float *v, size_t n, float lr, float b1,
	      float b2, float eps, float wd, float bc1, float bc2_sqrt, cudaStream_t s);

/* -------------------------------------------------------- attention */

/* Causal multi-head attention, flash style: scores never reach device
 * memory. qkv [B*T, 3C]: row (b,t) holds q (columns 0..C-1), k (C..2C-1),
 * v (2C..3C-1); head h uses columns h*hs .. h*hs+hs-1 of each, hs = C/NH.
 * Scale 1/sqrt(hs). Supported head sizes: gk_attn_supported.
 *   out [B*T, C]: head h's output in columns h*hs..
 *   lse [B, NH, T] fp32: each query row's log-sum-exp of its scaled scores,
 *   kept for backward. */
int gk_attn_supported(int hs);
void gk_attn_fwd(enum gk_prec p, void *out, float *lse, const void *qkv, int B, int T, int C,
		 int NH, cudaStream_t s);

/* dqkv [B*T, 3C] (overwritten) from dout [B*T, C], the forward's qkv, out
 * and lse. scratch holds at least gk_attn_scratch_floats(B, T, NH) floats.
 * No atomics: dK and dV are summed per key block over query blocks, dQ per
 * query block over key blocks, each in a fixed order. */
void gk_attn_bwd(enum gk_prec p, void *dqkv, const void *dout, const void *qkv, const void *out,
		 const float *lse, int B, int T, int C, int NH, float *scratch, cudaStream_t s);
size_t gk_attn_scratch_floats(int B, int T, int NH);
/* Attention's code paths, simplest first; each is deterministic, and they
 * agree up to rounding:
 *   GK_ATTN_PLAIN  fp32 FMAs; every shape and precision
 *   GK_ATTN_WMMA   tensor cores through nvcuda::wmma, score tiles through
 *                  shared memory
 *   GK_ATTN_MMA    tensor cores through mma.sync, score tiles in registers
 * The two tensor-core paths need bf16, hs 64, T a multiple of 64 and
 * 16-byte-aligned buffers. gk_attn_set_path sets the fastest path allowed
 * (process-wide; GK_ATTN_MMA by default): a call runs it where it applies,
 * else the next simpler one that does. */
enum gk_attn_path { GK_ATTN_PLAIN = 0, GK_ATTN_WMMA = 1, GK_ATTN_MMA = 2 };
void gk_attn_set_path(enum gk_attn_path path);
/* The same by name ("plain", "wmma", "mma", as in KARPA_GPU_ATTN): 0, or
 * -1 with nothing changed for another name. */
int gk_attn_set_path_name(const char *name);
const char *gk_attn_path_name(enum gk_attn_path path);
/* The path a call with these arguments runs, given aligned buffers. */
enum gk_attn_path gk_attn_path_for(enum gk_prec p, int T, int C, int NH);

#ifdef __cplusplus
}
#endif

#endif
