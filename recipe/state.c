/* state.c: the state blob's header (state.h). */
#include "state.h"

#include <stdio.h>
#include <string.h>

#include "sandbox/recipe_api.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the state blob stores floats as little-endian memory images"
#endif

size_t gpt_state_bytes(size_t nparams)
{
	return GPT_STATE_HEADER_BYTES + 3 * nparams * sizeof(float);
}

void gpt_state_header(const struct gpt_config *c, size_t nparams, int64_t step, uint8_t *h)
{
	uint32_t u32[6] = { GPT_STATE_FORMAT, (uint32_t)c->V, (uint32_t)c->C, (uint32_t)c->L,
			    (uint32_t)c->NH, (uint32_t)c->T };
	uint64_t np = nparams;
	size_t o = 2 * GPT_STATE_TAG_BYTES;

	memset(h, 0, GPT_STATE_HEADER_BYTES);
	memcpy(h, RECIPE_NAME, strlen(RECIPE_NAME));
	memcpy(h + GPT_STATE_TAG_BYTES, RECIPE_VERSION, strlen(RECIPE_VERSION));
	memcpy(h + o, u32, sizeof u32);
	o += sizeof u32;
	memcpy(h + o, &np, 8);
	memcpy(h + GPT_STATE_HEADER_BYTES - 8, &step, 8);
}

int gpt_state_check(const struct gpt_config *c, size_t nparams, const void *buf, size_t n,
		    int64_t *step, char *err)
{
	const uint8_t *p = buf;
	uint8_t want[GPT_STATE_HEADER_BYTES];

	gpt_state_header(c, nparams, 0, want);
	if (n < GPT_STATE_HEADER_BYTES || memcmp(p, want, GPT_STATE_TAG_BYTES)) {
		snprintf(err, KR_ERR_MAX, "state is not a %s state (bad magic)", RECIPE_NAME);
		return -1;
	}
	if (memcmp(p + GPT_STATE_TAG_BYTES, want + GPT_STATE_TAG_BYTES, GPT_STATE_TAG_BYTES + 4)) {
		snprintf(err, KR_ERR_MAX, "state is from %s %.16s format %u, this is %s format %u",
			 RECIPE_NAME, (const char *)p + GPT_STATE_TAG_BYTES,
			 (unsigned)(p[32] | p[33] << 8 | p[34] << 16 | (unsigned)p[35] << 24),
			 RECIPE_VERSION, GPT_STATE_FORMAT);
		return -1;
	}
	if (memcmp(p, want, GPT_STATE_HEADER_BYTES - 8) || n != gpt_state_bytes(nparams)) {
		uint32_t s[5];
		memcpy(s, p + 36, sizeof s);
		snprintf(err, KR_ERR_MAX,
			 "state shape V %u C %u L %u NH %u T %u (%zu bytes) does not match the model's "
			 "V %d C %d L %d NH %d T %d (%zu bytes)",
			 s[0], s[1], s[2], s[3], s[4], n, c->V, c->C, c->L, c->NH, c->T,
			 gpt_state_bytes(nparams));
		return -1;
	}
	memcpy(step, p + GPT_STATE_HEADER_BYTES - 8, 8);
	if (*step < 0) {
		snprintf(err, KR_ERR_MAX, "state step %lld is negative", (long long)*step);
		return -1;
	}
	return 0;
}
