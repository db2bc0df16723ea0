/* rng.h: the counter-based random streams of a run (PROTOCOL 2: data order
 * given a seed is fixed). A stream is named by (seed, purpose, index), so any
 * draw can be recomputed without replaying the ones before it, and two
 * purposes never share a stream. Never reads the clock or any global state. */
#ifndef KARPA_RNG_H
#define KARPA_RNG_H

#include <stdint.h>

#define RNG_PURPOSE_MAX 64 /* purposes are short fixed names like "data" */

struct rng {
	uint64_t state;
};

/* The starting state of stream (seed, purpose, index): the first 8 bytes
 * (little-endian) of SHA-256("karpa-rng-1" 0x00 purpose 0x00 le64(seed)
 * le64(index)). purpose is truncated at RNG_PURPOSE_MAX bytes. */
uint64_t rng_stream(uint64_t seed, const char *purpose, uint64_t index);
void rng_init(struct rng *r, uint64_t seed, const char *purpose, uint64_t index);

/* splitmix64 step: add the golden-ratio increment, then mix. */
uint64_t rng_next_u64(struct rng *r);
/* Uniform double in [0, 1) from the top 53 bits. */
double rng_uniform(struct rng *r);
/* Uniform integer in [0, n) without modulo bias (rejection); n must be > 0. */
uint64_t rng_below(struct rng *r, uint64_t n);

#endif
