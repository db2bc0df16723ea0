/* fuzz_ckpt.c: the checkpoint container (magic, header length, canonical
 * JSON header, state, trailing digest) read from a file a miner wrote. */
#include "fuzz.h"
#include "harness/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ckpt_meta m;
	struct kerr err;
	char path[512], sha[HASH_HEX_BYTES];
	void *state = NULL;
	size_t n = 0;

	snprintf(path, sizeof path, "%s/c.ckpt", fuzz_scratch());
	fuzz_write(path, data, size);
	if (ckpt_read(path, &m, &state, &n, sha, &err) == 0) {
		/* a container accepted is never smaller than what it declares */
		FUZZ_ASSERT(n == m.state_bytes && n <= size);
		FUZZ_ASSERT(memchr(m.recipe, 0, sizeof m.recipe) && memchr(m.scale, 0, sizeof m.scale));
	} else {
		FUZZ_ASSERT(err.code[0]);
		fuzz_note("ckpt_read", &err);
	}
	free(state);
	return 0;
}
