/* gpu_test.h: what the GPU tests share on the host side: bf16 conversions
 * that round as the device does (to nearest even, NaN kept quiet), a
 * seeded splitmix64 stream, so references see exactly the device's inputs,
 * and the check of a CUDA runtime call. */
#ifndef KARPA_GPU_TEST_H
#define KARPA_GPU_TEST_H

#include <stdint.h>
#include <string.h>

static inline uint16_t gt_f2bf(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((u >> 16) | 0x40);
	u += 0x7fffu + ((u >> 16) & 1u);
	return (uint16_t)(u >> 16);
}

static inline float gt_bf2f(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;

	memcpy(&f, &u, 4);
	return f;
}

/* Uniform in (0, 1) from the stream *st (splitmix64). */
static inline double gt_urand(uint64_t *st)
{
	uint64_t z = (*st += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}

/* A CUDA runtime call that must succeed, else the test fails there (cmocka's
 * fail_msg: include cmocka.h and cuda_runtime_api.h first). */
#define GT_CK(call)                                                                          \
	do {                                                                                 \
		cudaError_t e_ = (call);                                                     \
		if (e_ != cudaSuccess)                                                       \
			fail_msg("%s -> %s (line %d)", #call, cudaGetErrorString(e_), __LINE__); \
	} while (0)

#endif
