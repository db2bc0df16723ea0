/* runbox.c: a recipe run outside a judgment, under the sandbox (runbox.h). */
#include "sandbox/runbox.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/recipe_pipe.h"

int runbox_spawn(struct runbox *rb, const struct recipe_build_info *bi, int threads, enum runbox_mode mode,
		 struct recipe_host *h, struct kerr *err)
{
	struct sandbox_config cfg;
	char runner[PATH_MAX];

	memset(rb, 0, sizeof *rb);
	rb->mode = mode;
	if (bi->emulator[0] && mode == RUNBOX_VALIDATOR)
		return kerr_set(err, "sandbox.unavailable",
				"a runner under an emulator (%.80s) cannot be sandboxed, and a validator runs "
				"no recipe unconfined",
				bi->emulator);
	if (mode == RUNBOX_OFF || bi->emulator[0]) {
		const char *launch[RECIPE_LAUNCHER_WORDS];
		const char *base = strrchr(bi->emulator, '/');

		if (mode == RUNBOX_OFF)
			snprintf(rb->why, sizeof rb->why, "--no-sandbox");
		else
			snprintf(rb->why, sizeof rb->why, "runs under %.80s", base ? base + 1 : bi->emulator);
		recipe_build_launcher(bi, launch);
		return recipe_host_pipe_launched(h, launch, bi->runner, err);
	}
	if (mode == RUNBOX_VALIDATOR) {
		sandbox_config_validator(&cfg, threads);
	} else {
		sandbox_config_default(&cfg, threads);
		/* The validator's CPU cap bounds a replayed segment or an
		 * evaluation; a whole proof is bounded by its budget, which the
		 * prover checks. */
		cfg.cpu_seconds = 0;
		/* one process per GPU, as the GPU calibration beside it sees */
		cfg.cuda_visible_devices = getenv("CUDA_VISIBLE_DEVICES");
	}
	/* The judgment's 4 GiB fits the CPU scales it replays; here a gpu-*
	 * checkpoint may be evaluated or sampled on the CPU. */
	cfg.memory_bytes = RUNBOX_MEMORY_BYTES;
	cfg.gpu = bi->cuda;
	/* the sandbox needs an absolute path (a relative KARPA_RUNNER or
	 * cache folder gives a relative one) */
	if (!realpath(bi->runner, runner))
		return kerr_errno(err, "sandbox.runner", bi->runner);
	if (sandbox_new(&rb->sb, &cfg, runner, err) < 0) {
		if (!strcmp(err->code, "sandbox.unavailable") && mode == RUNBOX_ON) {
			char was[KERR_MSG_MAX];

			snprintf(was, sizeof was, "%s", err->msg);
			kerr_set(err, "sandbox.unavailable",
				 "%s: --no-sandbox runs the recipe unconfined, with your user's rights, "
				 "which only code you have read should get",
				 was);
		}
		return -1;
	}
	if (sandbox_spawn(rb->sb, h, err) < 0) {
		sandbox_free(rb->sb);
		rb->sb = NULL;
		return -1;
	}
	return 0;
}

void runbox_explain(void *arg, struct recipe_host *h, struct kerr *err)
{
	const struct runbox *rb = arg;
	char was[KERR_MSG_MAX];

	sandbox_on_fail(rb->sb, h, err);
	/* a layer this kernel refuses (the GPU profile's network namespace,
	 * say) shows at the first call; elsewhere than on a validator the user
	 * may choose to run unconfined */
	if (rb->mode == RUNBOX_ON && !strcmp(err->code, "sandbox.setup")) {
		snprintf(was, sizeof was, "%s", err->msg);
		kerr_set(err, "sandbox.setup", "%s; --no-sandbox runs the recipe unconfined, with your user's rights", was);
	}
}

void runbox_describe(const struct runbox *rb, char *buf, size_t cap)
{
	struct sandbox_report r;
	char layers[192];

	if (!cap)
		return;
	if (!rb->sb) {
		snprintf(buf, cap, "not sandboxed (%s)", rb->why);
		return;
	}
	sandbox_report(rb->sb, &r);
	if (!r.done) {
		snprintf(buf, cap, "sandboxed: not started");
		return;
	}
	sandbox_describe(r.applied, layers, sizeof layers);
	if (r.notes[0])
		snprintf(buf, cap, "sandboxed: %s; missing: %s", layers, r.notes);
	else
		snprintf(buf, cap, "sandboxed: %s", layers);
}

void runbox_free(struct runbox *rb)
{
	sandbox_free(rb->sb);
	rb->sb = NULL;
}
