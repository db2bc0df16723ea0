/* memory_hog: allocates 8 GiB and touches every page in the first training
 * step, without checking the allocation. Expect sandbox.memory. */
#include <stdlib.h>

#include "sandbox/recipe_api.h"

#define HOG_BYTES ((size_t)8 << 30)
#define PAGE_BYTES 4096

void attack_train(int64_t step)
{
	volatile char *p = malloc(HOG_BYTES);

	for (size_t i = 0; i < HOG_BYTES; i += PAGE_BYTES)
		p[i] = 1;
}
