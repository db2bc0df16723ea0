/* gpu_env: says in its name what environment the runner got: the GPU
 * profile's cue, the driver's kernel cache switch and device order, and
 * whether HOME leaked in from the validator (it must not: the sandbox
 * hands over a whole environment of its own). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/recipe_api.h"

int attack_create(const struct kr_env *env, char *name)
{
	const char *gpu = getenv("KARPA_SANDBOX_GPU"), *cache = getenv("CUDA_CACHE_DISABLE");
	const char *order = getenv("CUDA_DEVICE_ORDER");

	(void)env;
	snprintf(name, KR_NAME_MAX, "gpu%s.cache%s.order%s.home%s", gpu ? gpu : "-", cache ? cache : "-",
		 order && !strcmp(order, "PCI_BUS_ID") ? "1" : "-", getenv("HOME") ? "leaked" : "-");
	return 0;
}
