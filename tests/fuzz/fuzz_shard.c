/* fuzz_shard.c: token shards (llm.c .bin) from bytes, in memory and from a
 * file: the header count must be checked against the size before any read. */
#include "fuzz.h"
#include "data/shard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint16_t *tok;
	uint16_t *owned = NULL;
	size_t n = 0, n2 = 0;
	struct kerr err;
	char path[512];
	int a, b;

	a = shard_parse(data, size, &tok, &n, &err);
	if (a == 0) {
		/* every token the parser hands out lies inside the input */
		FUZZ_ASSERT(n == 0 || ((const uint8_t *)tok >= data && (const uint8_t *)(tok + n) <= data + size));
		volatile uint16_t sink = 0;
		for (size_t i = 0; i < n; i++)
			sink ^= tok[i];
		(void)sink;
	}
	snprintf(path, sizeof path, "%s/s.bin", fuzz_scratch());
	fuzz_write(path, data, size);
	b = shard_read(path, &owned, &n2, &err);
	/* the two readers agree on what a shard is */
	FUZZ_ASSERT(a == b);
	if (b == 0) {
		FUZZ_ASSERT(n2 == n);
		FUZZ_ASSERT(n == 0 || !memcmp(owned, tok, n * sizeof *tok));
	}
	free(owned);
	return 0;
}
