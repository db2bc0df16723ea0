/* layers.h: the GPT's layers, each a forward/backward pair with its shapes
 * (B batch, T time, C channels, N = B*T rows, OC output channels, NH heads,
 * V vocab). Owns every numerical formula of the model; never allocates.
 * Determinism: rows are split over threads, and every reduction over rows
 * (weight and bias gradients) goes through fixed chunks of LY_ROW_CHUNK rows
 * summed in chunk order, so no result depends on the thread count.
 * Gradient convention: every backward OVERWRITES the parameter gradients it
 * owns and its input gradient, except layernorm_backward, which ADDS into
 * dinp (the residual stream's gradient is shared by every block). */
#ifndef RECIPE_LAYERS_H
#define RECIPE_LAYERS_H

#include "kernels.h"

/* Rows per partial sum in row reductions: small enough to give every thread
 * work at the tiny scale, large enough to keep the partials few. */
#define LY_ROW_CHUNK 32
#define LY_LN_EPS 1e-5f
/* Causal attention works on blocks of this many query rows, each against
 * only the keys it can see (about 60% of the full T x T work at T=256). */
#define LY_ATT_QBLOCK 64

/* Partial-sum space for row reductions: partial_floats(N, width) floats. */
size_t ly_partial_floats(int N, int width);

/* Per-thread space for attention: one kn_scratch and one T x T buffer. */
struct ly_att_scratch {
	struct kn_scratch ks;
	float *dp; /* [T,T] */
};
size_t ly_att_pack_floats(int T, int hs);

void encoder_forward(float *out, const int *inp, const float *wte, const float *wpe, int B, int T,
		     int C);
void encoder_backward(float *dwte, float *dwpe, const float *dout, const int *inp, int B, int T,
		      int C, int V);

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
		       const float *b, int N, int C);
void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
			const float *w, const float *mean, const float *rstd, int N, int C,
			float *partial);

void matmul_forward(float *out, const float *inp, const float *w, const float *bias, int N, int C,
		    int OC, struct kn_scratch *ks);
void matmul_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
		     const float *w, int N, int C, int OC, struct kn_scratch *ks, float *partial);

void attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH,
		       struct ly_att_scratch *as);
void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att, int B,
			int T, int C, int NH, struct ly_att_scratch *as);

void gelu_forward(float *out, const float *inp, size_t n);
/* dinp may alias dout. */
void gelu_backward(float *dinp, const float *inp, const float *dout, size_t n);

void residual_forward(float *out, const float *a, const float *b, size_t n);

/* Softmax cross-entropy, forward and backward fused: turns logits [N,V] into
 * dloss/dlogits in place for a loss averaged over N rows, writes each row's
 * loss, and returns the mean (summed in row order). */
float crossentropy_forward_backward(float *logits, float *losses, const int *targets, int N, int V);

#endif
