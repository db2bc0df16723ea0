/* recipe_select.c: which recipe host a command drives. The built-in recipe
 * runs in-process; any --recipe folder is built with the pinned flags and
 * runs in its own process behind the pipe host (docs/recipe-api.md). */
#include <stdio.h>

#include "cmds.h"
#include "harness/recipe_build.h"
#include "harness/recipe_pipe.h"

int cli_recipe_host(const char *recipe_dir, struct recipe_host *h, int progress, struct kerr *err)
{
	struct recipe_build_info bi;

	if (!recipe_dir) {
		recipe_host_inproc(h);
		return 0;
	}
	if (recipe_build(recipe_dir, &bi, err) < 0)
		return -1;
	if (progress)
		fprintf(stderr, "recipe: %s built%s (sources %.16s...)\n", recipe_dir, bi.cached ? " (cached)" : "",
			bi.source_digest);
	return recipe_host_pipe(h, bi.runner, NULL, NULL, err);
}
