/* merlin.c: the Merlin transcript protocol as dalek-cryptography/merlin
 * defines it: every message framed as meta-AD(label) || meta-AD(LE32(len))
 * then AD(message); challenges as meta-AD(label) || meta-AD(LE32(len)) then
 * PRF. Checked against merlin's published transcript vectors. */
#include <assert.h>
#include <string.h>

#include <sodium.h>

#include "chain/merlin.h"

static const char merlin_protocol[] = "Merlin v1.0";

static void le32(uint8_t out[4], size_t v)
{
	assert(v <= UINT32_MAX);
	for (int i = 0; i < 4; i++)
		out[i] = (uint8_t)(v >> (8 * i));
}

static void label_with_length(struct strobe128 *s, const char *label, size_t len)
{
	uint8_t n[4];

	le32(n, len);
	strobe128_meta_ad(s, (const uint8_t *)label, strlen(label), 0);
	strobe128_meta_ad(s, n, sizeof n, 1);
}

void merlin_init(struct merlin_transcript *t, const char *label)
{
	strobe128_init(&t->s, (const uint8_t *)merlin_protocol, sizeof merlin_protocol - 1);
	merlin_append(t, "dom-sep", (const uint8_t *)label, strlen(label));
}

void merlin_append(struct merlin_transcript *t, const char *label, const uint8_t *msg, size_t len)
{
	label_with_length(&t->s, label, len);
	strobe128_ad(&t->s, msg, len, 0);
}

void merlin_challenge(struct merlin_transcript *t, const char *label, uint8_t *out, size_t len)
{
	label_with_length(&t->s, label, len);
	strobe128_prf(&t->s, out, len, 0);
}

void merlin_wipe(struct merlin_transcript *t)
{
	strobe128_wipe(&t->s);
}

void merlin_rng_begin(const struct merlin_transcript *t, struct merlin_rng *r)
{
	memcpy(&r->s, &t->s, sizeof r->s);
}

void merlin_rng_rekey(struct merlin_rng *r, const char *label, const uint8_t *witness, size_t len)
{
	label_with_length(&r->s, label, len);
	strobe128_key(&r->s, witness, len, 0);
}

void merlin_rng_finalize(struct merlin_rng *r, const uint8_t random[MERLIN_RNG_RANDOM_BYTES])
{
	strobe128_meta_ad(&r->s, (const uint8_t *)"rng", 3, 0);
	strobe128_key(&r->s, random, MERLIN_RNG_RANDOM_BYTES, 0);
}

/* merlin's TranscriptRng::fill_bytes: the request length alone is the
 * meta-AD (no label), then PRF. */
void merlin_rng_fill(struct merlin_rng *r, uint8_t *out, size_t len)
{
	uint8_t n[4];

	le32(n, len);
	strobe128_meta_ad(&r->s, n, sizeof n, 0);
	strobe128_prf(&r->s, out, len, 0);
}

void merlin_rng_wipe(struct merlin_rng *r)
{
	strobe128_wipe(&r->s);
}
