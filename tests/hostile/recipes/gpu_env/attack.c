/* gpu_env: says in its name what environment the runner got: the GPU
 * profile's cue, the driver's kernel cache switch and device order, and
 * whether HOME leaked in from the validator (it must not: the sandbox
 * hands over a whole environment of its own), and the CUDA_VISIBLE_DEVICES
 * a miner's run passes on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/recipe_api.h"

int attack_create(const struct kr_env *env, char *name)
{
	const char *gpu = getenv("KARPA_SANDBOX_GPU"), *cache = getenv("CUDA_CACHE_DISABLE");
	const char *order = getenv("CUDA_DEVICE_ORDER"), *vis = getenv("CUDA_VISIBLE_DEVICES");

	(void)env;
	snprintf(name, KR_NAME_MAX, "gpu%s.cache%s.order%s.home%s.vis%s", gpu ? gpu : "-", cache ? cache : "-",
		 order && !strcmp(order, "PCI_BUS_ID") ? "1" : "-", getenv("HOME") ? "leaked" : "-", vis ? vis : "-");
	/* a plan name has no commas */
	for (char *c = name; *c; c++)
		if (*c == ',')
			*c = '+';
	return 0;
}
