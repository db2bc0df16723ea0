/* recipe_select.c: which recipe host a command drives. Every recipe runs in
 * its own process behind the pipe host (docs/recipe-api.md): the built-in
 * one in the runner installed beside karpa, any --recipe folder in a runner
 * built from it with the pinned flags. The recipe is never linked into
 * karpa itself, and its process is sandboxed unless the user says not to
 * (sandbox/runbox.h): a recipe folder, the king's above all, is anyone's
 * code. */
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "sandbox/recipe_build.h"

int cli_recipe_host(const char *recipe_dir, enum runbox_mode mode, int threads, struct runbox *rb,
		    struct recipe_host *h, int progress, struct kerr *err)
{
	return cli_recipe_host_isa(recipe_dir, NULL, mode, threads, rb, h, progress, err);
}

int cli_recipe_host_isa(const char *recipe_dir, const char *isa, enum runbox_mode mode, int threads,
			struct runbox *rb, struct recipe_host *h, int progress, struct kerr *err)
{
	struct recipe_build_info bi;
	char own[FS_PATH_MAX];

	memset(rb, 0, sizeof *rb);
	if (isa && !strcmp(isa, recipe_build_native_isa()))
		isa = NULL;
	if (!recipe_dir && !isa) {
		memset(&bi, 0, sizeof bi);
		if (recipe_default_runner(bi.runner, sizeof bi.runner, err) < 0)
			return -1;
		return runbox_spawn(rb, &bi, threads, mode, h, err);
	}
	/* The installed runner is this machine's: another ISA builds the
	 * source tree's recipe folder. */
	if (!recipe_dir) {
		if (fs_join(own, sizeof own, err, "%s/recipe", recipe_build_src_dir()) < 0)
			return -1;
		recipe_dir = own;
	}
	if (recipe_build_isa(recipe_dir, isa, &bi, err) < 0)
		return -1;
	if (progress)
		fprintf(stderr, "recipe: %s built for %s%s (sources %.16s...)%s%s\n", recipe_dir, bi.isa,
			bi.cached ? " (cached)" : "", bi.source_digest, bi.emulator[0] ? ", runs under " : "",
			bi.emulator);
	return runbox_spawn(rb, &bi, threads, mode, h, err);
}

int cli_recipe_host_cuda(const char *recipe_dir, enum runbox_mode mode, int threads, struct runbox *rb,
			 struct recipe_host *h, int progress, struct kerr *err)
{
	struct recipe_build_info bi;
	char own[FS_PATH_MAX];

	memset(rb, 0, sizeof *rb);
	if (!recipe_dir) {
		if (fs_join(own, sizeof own, err, "%s/recipe", recipe_build_src_dir()) < 0)
			return -1;
		recipe_dir = own;
	}
	if (recipe_build_cuda(recipe_dir, &bi, err) < 0)
		return -1;
	if (progress)
		fprintf(stderr, "recipe: %s built for the GPU%s (sources %.16s..., nvcc %s)\n", recipe_dir,
			bi.cached ? " (cached)" : "", bi.source_digest, bi.nvcc);
	return runbox_spawn(rb, &bi, threads, mode, h, err);
}
