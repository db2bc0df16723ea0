/* recipe_select.c: which recipe host a command drives. Every recipe runs in
 * its own process behind the pipe host (docs/recipe-api.md): the built-in
 * one in the runner installed beside karpa, any --recipe folder in a runner
 * built from it with the pinned flags. The recipe is never linked into
 * karpa itself. */
#include <stdio.h>

#include "cmds.h"
#include "sandbox/recipe_build.h"
#include "sandbox/recipe_pipe.h"

int cli_recipe_host(const char *recipe_dir, struct recipe_host *h, int progress, struct kerr *err)
{
	struct recipe_build_info bi;

	if (!recipe_dir) {
		char runner[FS_PATH_MAX];
		if (recipe_default_runner(runner, sizeof runner, err) < 0)
			return -1;
		return recipe_host_pipe(h, runner, NULL, NULL, err);
	}
	if (recipe_build(recipe_dir, &bi, err) < 0)
		return -1;
	if (progress)
		fprintf(stderr, "recipe: %s built%s (sources %.16s...)\n", recipe_dir, bi.cached ? " (cached)" : "",
			bi.source_digest);
	return recipe_host_pipe(h, bi.runner, NULL, NULL, err);
}
