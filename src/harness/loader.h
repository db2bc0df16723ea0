/* loader.h: the data order of a training run (fixed harness, PROTOCOL 2).
 * Owns which tokens the recipe sees at each step: a pure function of (seed,
 * step, B, T, the train split's tokens). The recipe cannot influence it and
 * never sees the split itself, only the rows handed to it. */
#ifndef KARPA_LOADER_H
#define KARPA_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "util/kerr.h"

#define LOADER_PURPOSE "data" /* rng_stream purpose for the data order */

/* Fills out[B*(T+1)] with B rows of T+1 consecutive tokens. Row r's start is
 * the r-th draw of rng_stream(seed, "data", step), uniform over
 * [0, ntokens - (T+1)] (rng_below(ntokens - T)). Windows are independent
 * draws with replacement: no epoch bookkeeping, so step s can be recomputed
 * from nothing but its inputs (spot replay needs exactly that).
 * Reason codes: loader.bad_shape, loader.too_short. */
int loader_batch(uint64_t seed, int64_t step, int B, int T, const uint16_t *tokens, size_t ntokens,
		 uint16_t *out, struct kerr *err);

#endif
