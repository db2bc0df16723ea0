/* chainweights.c: weights for set_weights / commit_weights (see
 * chainweights.h). The arithmetic is the SDK's, step for step, in double
 * precision: w / max, times 65535, rounded with the current rounding mode
 * (round half to even, as Python's round()); no fused multiply-add (the
 * build has -ffp-contract=off), so the bits match. */
#include "chain/chainweights.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int check(const uint16_t *uids, size_t n_uids, const double *w, size_t n_w, struct kerr *e)
{
	uint8_t seen[CHAIN_WEIGHTS_MAX / 8] = { 0 }; /* one bit per uid */

	if (n_uids != n_w)
		return kerr_set(e, "chain.weights_length", "%zu uids but %zu weights", n_uids, n_w);
	if (n_uids == 0 || n_uids > CHAIN_WEIGHTS_MAX)
		return kerr_set(e, "chain.weights_length", "%zu weights (1 to %u)", n_uids, CHAIN_WEIGHTS_MAX);
	for (size_t i = 0; i < n_w; i++)
		if (!isfinite(w[i]) || w[i] < 0)
			return kerr_set(e, "chain.weights_negative", "weight %zu (uid %u) is %g: weights are finite and >= 0",
					i, uids[i], w[i]);
	for (size_t i = 0; i < n_uids; i++) {
		if (seen[uids[i] / 8] & (1u << (uids[i] % 8)))
			return kerr_set(e, "chain.weights_duplicate", "uid %u appears twice", uids[i]);
		seen[uids[i] / 8] |= (uint8_t)(1u << (uids[i] % 8));
	}
	return 0;
}

int chain_weights_u16(const uint16_t *uids, size_t n_uids, const double *weights, size_t n_weights,
		      uint16_t *out_uids, uint16_t *out_vals, size_t *out_n, struct kerr *e)
{
	double max = 0;
	size_t k = 0;

	*out_n = 0;
	if (check(uids, n_uids, weights, n_weights, e) < 0)
		return -1;
	for (size_t i = 0; i < n_weights; i++)
		max = weights[i] > max ? weights[i] : max;
	if (max == 0)
		return 0; /* nothing to set on chain */
	for (size_t i = 0; i < n_weights; i++) {
		double scaled = weights[i] / max;
		double v = nearbyint(scaled * (double)CHAIN_WEIGHT_U16_MAX);

		if (v != 0) {
			out_uids[k] = uids[i];
			out_vals[k] = (uint16_t)v;
			k++;
		}
	}
	*out_n = k;
	return 0;
}

int chain_version_key(unsigned major, unsigned minor, unsigned patch, uint64_t *key, struct kerr *e)
{
	*key = 0;
	if (major > CHAIN_VERSION_PART_MAX || minor > CHAIN_VERSION_PART_MAX || patch > CHAIN_VERSION_PART_MAX)
		return kerr_set(e, "chain.version_key", "version %u.%u.%u: each part is at most %u", major, minor,
				patch, CHAIN_VERSION_PART_MAX);
	*key = (uint64_t)major * 1000000u + (uint64_t)minor * 1000u + patch;
	return 0;
}

int chain_version_key_parse(const char *s, uint64_t *key, struct kerr *e)
{
	unsigned long part[3];
	const char *p = s;
	char *end;

	*key = 0;
	for (int i = 0; i < 3; i++) {
		if (!p || *p < '0' || *p > '9')
			return kerr_set(e, "chain.version_key", "version \"%s\" is not MAJOR.MINOR.PATCH", s ? s : "");
		part[i] = strtoul(p, &end, 10);
		if (part[i] > CHAIN_VERSION_PART_MAX || (i < 2 && *end != '.') || (i == 2 && *end))
			return kerr_set(e, "chain.version_key", "version \"%s\" is not MAJOR.MINOR.PATCH (parts <= %u)",
					s, CHAIN_VERSION_PART_MAX);
		p = end + 1;
	}
	return chain_version_key((unsigned)part[0], (unsigned)part[1], (unsigned)part[2], key, e);
}
