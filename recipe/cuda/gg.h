/* gg.h: the GPT on the GPU: parameters, AdamW state and activations in
 * device memory, forward and backward through gk.h's kernels and gm.h's
 * matrix products, in the CPU engine's order (recipe/gpt.c), so that an
 * fp32 run is the CPU engine's model up to rounding and a bf16 run is the
 * same model in mixed precision. Owns every device buffer of a run,
 * allocated once in gg_create; a step allocates nothing. */
#ifndef KARPA_GG_H
#define KARPA_GG_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "gk.h"
#include "gpt.h"

#define GG_ERR_MAX 256

struct gg;

/* Allocates on the current CUDA device and initialises the weights with
 * the CPU engine's gpt_init_params(cfg, seed), so both start from the same
 * bits. Returns NULL with a reason in err (GG_ERR_MAX bytes). */
struct gg *gg_create(const struct gpt_config *cfg, enum gk_prec prec, uint64_t seed, char *err);
/* The same buffers with every weight zero, for a state loaded next
 * (kr_env.state_follows: a restart at a checkpoint, an evaluation): skips
 * the CPU's initialisation of every weight, seconds at gpu-254m. */
struct gg *gg_alloc(const struct gpt_config *cfg, enum gk_prec prec, char *err);
void gg_destroy(struct gg *g);

const struct gpt_config *gg_config(const struct gg *g);
enum gk_prec gg_prec(const struct gg *g);
size_t gg_nparams(const struct gg *g);
/* Every function below returns 0, or -1 with the reason here. */
const char *gg_error(const struct gg *g);

/* One training step on cfg.B rows of cfg.T+1 tokens (host memory; ids
 * already checked < V): forward, the mean loss, backward, AdamW with the
 * schedule's rate at step (from 0). Writes the loss and the rate. */
int gg_train_step(struct gg *g, int64_t step, const uint16_t *tokens, float *loss, float *lr);

/* The pieces of a step, for the parity tests: forward on B x T inputs and
 * the loss against targets (host ints), then the gradients; no update. */
int gg_forward_backward(struct gg *g, const int *inputs, const int *targets, float *loss);

/* Next-token logits, fp32, for rows x T tokens into host memory
 * logits[(row*T + t)*V + v]; rows of any count go through cfg.B at a time. */
int gg_logits(struct gg *g, const uint16_t *tokens, int rows, int T, float *logits);

/* Host copies of the fp32 parameter, gradient and AdamW blocks (gg_nparams
 * floats each, in recipe/gpt.h's layout); and the parameters back in. */
int gg_get(struct gg *g, float *params, float *grads, float *m, float *v);
int gg_set(struct gg *g, const float *params, const float *m, const float *v);
int64_t gg_step(const struct gg *g);
void gg_set_step(struct gg *g, int64_t step);

/* The matrix-product algorithms in use so far: gemmtab text (gm_record). */
const char *gg_gemm_record(const struct gg *g);
/* Pins the products' algorithms to a table (gm_pin), before the first
 * step or logits call; "" or NULL pins nothing. */
int gg_pin_gemm(struct gg *g, const char *text);
/* Number of algorithms in use (gm_algos). */
int gg_gemm_algos(const struct gg *g);

/* Where the fc layer's GELU runs: GG_GELU_EPILOGUE, inside the products'
 * cuBLASLt epilogues (gm_linear_fwd_gelu, gm_linear_bwd_data_dgelu; the
 * default, and what the recipe's runner runs: measured faster on an H100,
 * docs/gpu.md), or GG_GELU_KERNEL, gk_gelu_fwd and gk_gelu_bwd beside the
 * products (the path for a GELU cuBLASLt has no epilogue for, such as the
 * exact erf form). The two agree up to rounding, not in bits. Set before
 * the first step; -1 with the reason in gg_error for another name than
 * "kernel" or "epilogue". */
enum gg_gelu { GG_GELU_KERNEL, GG_GELU_EPILOGUE };
int gg_set_gelu_name(struct gg *g, const char *name);
const char *gg_gelu_name(const struct gg *g);

#endif
