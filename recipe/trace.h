/* trace.h: what the recipe reports to a tracer (recipe_api.h,
 * kr_train_step_traced): the name and order of every tensor of a training
 * step, so that a dispute can name the first layer and operation on which
 * two replays of the step differ. Reads the model's buffers after the fact;
 * never changes them. */
#ifndef RECIPE_TRACE_H
#define RECIPE_TRACE_H

#include "gpt.h"
#include "sandbox/recipe_api.h"

/* The forward activations of the last training-shape forward, in the order
 * gpt_forward computes them. Call before gpt_backward, which overwrites the
 * logits with their gradient. */
void gpt_trace_forward(const struct gpt *g, const struct kr_tracer *t);
/* The per-token losses, the logits' gradient and every parameter gradient,
 * in the order gpt_backward computes them. */
void gpt_trace_backward(const struct gpt *g, const struct kr_tracer *t);
/* The learning rate used, then every parameter and its two moments after
 * the AdamW update, in the order gpt_adamw updates them. */
void gpt_trace_update(const struct gpt *g, float lr, const struct kr_tracer *t);

#endif
