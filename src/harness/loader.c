/* loader.c: data order. Each step has its own counter-based stream, so a
 * batch never depends on how many draws earlier steps made. */
#include "harness/loader.h"

#include <string.h>

#include "util/rng.h"

/* A row longer than this is not a sequence length any scale uses; bounding
 * it keeps B*(T+1) far from overflow. */
#define LOADER_ROW_TOKENS_MAX (1 << 20)
#define LOADER_ROWS_MAX (1 << 20)

int loader_batch(uint64_t seed, int64_t step, int B, int T, const uint16_t *tokens, size_t ntokens,
		 uint16_t *out, struct kerr *err)
{
	struct rng r;
	size_t row = (size_t)T + 1;

	if (B <= 0 || B > LOADER_ROWS_MAX || T <= 0 || T >= LOADER_ROW_TOKENS_MAX || step < 0)
		return kerr_set(err, "loader.bad_shape", "batch %d x seq_len %d at step %lld is not a valid shape",
				B, T, (long long)step);
	if (ntokens < row)
		return kerr_set(err, "loader.too_short",
				"train split has %zu tokens, fewer than one row of seq_len+1 = %zu", ntokens, row);
	rng_init(&r, seed, LOADER_PURPOSE, (uint64_t)step);
	for (int b = 0; b < B; b++) {
		uint64_t start = rng_below(&r, (uint64_t)(ntokens - row) + 1);
		memcpy(out + (size_t)b * row, tokens + start, row * sizeof *tokens);
	}
	return 0;
}
