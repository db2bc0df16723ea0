/* keccak.c: Keccak-f[1600], 24 rounds of theta, rho, pi, chi and iota
 * (FIPS 202, algorithms 1-7), written from the specification. Lanes are
 * loaded and stored little-endian so that the byte view Strobe uses is the
 * standard one on every host. */
#include "chain/keccak.h"

#define KECCAK_ROUNDS 24

/* iota's round constants (FIPS 202, algorithm 5, rc(t) packed per round). */
static const uint64_t round_constants[KECCAK_ROUNDS] = {
	0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL,
	0x000000000000808bULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
	0x000000000000008aULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
	0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
	0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
	0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

/* rho's rotation offsets, indexed by lane x + 5y (FIPS 202, table 2). */
static const unsigned rho_offsets[25] = {
	0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43, 25, 39, 41, 45, 15, 21, 8, 18, 2, 61, 56, 14,
};

static uint64_t rotl(uint64_t v, unsigned n)
{
	return n ? (v << n) | (v >> (64 - n)) : v;
}

static void round_once(uint64_t a[25], uint64_t rc)
{
	uint64_t c[5], b[25];

	/* theta: each column's parity mixed into its neighbours */
	for (int x = 0; x < 5; x++)
		c[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
	for (int x = 0; x < 5; x++) {
		uint64_t d = c[(x + 4) % 5] ^ rotl(c[(x + 1) % 5], 1);

		for (int y = 0; y < 25; y += 5)
			a[x + y] ^= d;
	}
	/* rho and pi: lane (x, y) rotated and moved to (y, 2x + 3y) */
	for (int x = 0; x < 5; x++)
		for (int y = 0; y < 5; y++)
			b[y + 5 * ((2 * x + 3 * y) % 5)] = rotl(a[x + 5 * y], rho_offsets[x + 5 * y]);
	/* chi: the one non-linear step, row by row */
	for (int y = 0; y < 25; y += 5)
		for (int x = 0; x < 5; x++)
			a[x + y] = b[x + y] ^ (~b[(x + 1) % 5 + y] & b[(x + 2) % 5 + y]);
	/* iota */
	a[0] ^= rc;
}

void keccak_f1600(uint8_t state[KECCAK_STATE_BYTES])
{
	uint64_t a[25];

	for (int i = 0; i < 25; i++) {
		a[i] = 0;
		for (int j = 7; j >= 0; j--)
			a[i] = (a[i] << 8) | state[8 * i + j];
	}
	for (int r = 0; r < KECCAK_ROUNDS; r++)
		round_once(a, round_constants[r]);
	for (int i = 0; i < 25; i++)
		for (int j = 0; j < 8; j++)
			state[8 * i + j] = (uint8_t)(a[i] >> (8 * j));
}
