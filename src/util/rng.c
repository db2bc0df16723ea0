/* rng.c: counter-based streams. SHA-256 separates purposes (a typo in a
 * purpose name cannot alias another stream); splitmix64 then gives a cheap
 * sequence within a stream. Output is a pure function of the inputs. */
#include "util/rng.h"

#include <string.h>

#include "util/hash.h"

#define RNG_DOMAIN "karpa-rng-1" /* versioned so a future scheme cannot collide */

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

uint64_t rng_stream(uint64_t seed, const char *purpose, uint64_t index)
{
	uint8_t buf[sizeof RNG_DOMAIN + RNG_PURPOSE_MAX + 1 + 16], d[HASH_BYTES];
	size_t plen = strnlen(purpose, RNG_PURPOSE_MAX), n = 0;
	uint64_t v = 0;

	memcpy(buf, RNG_DOMAIN, sizeof RNG_DOMAIN); /* includes the NUL separator */
	n += sizeof RNG_DOMAIN;
	memcpy(buf + n, purpose, plen);
	n += plen;
	buf[n++] = 0;
	put_le64(buf + n, seed);
	put_le64(buf + n + 8, index);
	n += 16;
	hash_buf(buf, n, d);
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)d[i] << (8 * i);
	return v;
}

void rng_init(struct rng *r, uint64_t seed, const char *purpose, uint64_t index)
{
	r->state = rng_stream(seed, purpose, index);
}

uint64_t rng_next_u64(struct rng *r)
{
	uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

double rng_uniform(struct rng *r)
{
	return (double)(rng_next_u64(r) >> 11) * (1.0 / 9007199254740992.0); /* 2^-53 */
}

uint64_t rng_below(struct rng *r, uint64_t n)
{
	/* Values below `threshold` would make some residues more likely than
	 * others; (2^64 - n) mod n of them are rejected. Expected draws < 2. */
	uint64_t threshold = (0 - n) % n, x;

	do
		x = rng_next_u64(r);
	while (x < threshold);
	return x % n;
}
