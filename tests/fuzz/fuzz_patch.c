/* fuzz_patch.c: the unified-diff path policy (reciperepo_patch_check), the
 * first thing a validator runs on a stranger's patch.diff, and the parts
 * its paths fall in (reciperepo_patch_parts): the same verdict, and a part
 * named for each runner that would have to build it. */
#include "fuzz.h"
#include "proof/reciperepo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reciperepo_parts parts;
	struct kerr err, err2;
	int rc;

	memset(&err, 0, sizeof err);
	memset(&err2, 0, sizeof err2);
	rc = reciperepo_patch_check((const char *)data, size, &err);
	if (rc < 0)
		FUZZ_ASSERT(err.code[0] && memchr(err.msg, 0, sizeof err.msg));
	FUZZ_ASSERT(reciperepo_patch_parts((const char *)data, size, &parts, &err2) == rc);
	if (rc == 0) {
		FUZZ_ASSERT(!(parts.mask & ~(RECIPEREPO_PART_SHARED | RECIPEREPO_PART_CPU | RECIPEREPO_PART_CUDA)));
		FUZZ_ASSERT(!(parts.mask & RECIPEREPO_PART_CUDA) || parts.cuda[0]);
		FUZZ_ASSERT(!(parts.mask & RECIPEREPO_PART_CPU) || parts.cpu[0]);
		FUZZ_ASSERT((reciperepo_parts_fit(&parts, "tiny", &err2) < 0) == !!(parts.mask & RECIPEREPO_PART_CUDA));
	}
	return 0;
}
