/* fuzz_patch.c: the unified-diff path policy (reciperepo_patch_check), the
 * first thing a validator runs on a stranger's patch.diff. */
#include "fuzz.h"
#include "proof/reciperepo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kerr err;

	memset(&err, 0, sizeof err);
	if (reciperepo_patch_check((const char *)data, size, &err) < 0)
		FUZZ_ASSERT(err.code[0] && memchr(err.msg, 0, sizeof err.msg));
	return 0;
}
