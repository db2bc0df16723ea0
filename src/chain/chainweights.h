/* chainweights.h: a weight vector as Bittensor's validators put it on
 * chain (the SDK's convert_weights_and_uids_for_emit): max-normalised so
 * the largest weight is 65535, each value rounded half to even, zeros
 * dropped; and the version key major*10^6 + minor*10^3 + patch. Refuses
 * what the chain would refuse (duplicate uids, unequal lengths) rather
 * than sending it. Never reorders: the caller's uid order is kept. */
#ifndef KARPA_CHAIN_WEIGHTS_H
#define KARPA_CHAIN_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "util/kerr.h"

#define CHAIN_WEIGHT_U16_MAX 65535u
#define CHAIN_WEIGHTS_MAX 65536u     /* a uid is a u16: no more entries than uids */
#define CHAIN_VERSION_PART_MAX 999u  /* each of major, minor, patch */

/* uids[n_uids] and weights[n_weights] (non-negative, finite) into
 * out_uids/out_vals (room for n_uids each); *out_n the entries kept, 0
 * when every weight is zero (nothing to set). chain.weights_length
 * (unequal or zero lengths, or more than CHAIN_WEIGHTS_MAX),
 * chain.weights_duplicate, chain.weights_negative (or not finite). */
int chain_weights_u16(const uint16_t *uids, size_t n_uids, const double *weights, size_t n_weights,
		      uint16_t *out_uids, uint16_t *out_vals, size_t *out_n, struct kerr *e);

/* chain.version_key when a part is over CHAIN_VERSION_PART_MAX. */
int chain_version_key(unsigned major, unsigned minor, unsigned patch, uint64_t *key, struct kerr *e);
/* "MAJOR.MINOR.PATCH" (decimal) to its key; chain.version_key otherwise. */
int chain_version_key_parse(const char *s, uint64_t *key, struct kerr *e);

#endif
