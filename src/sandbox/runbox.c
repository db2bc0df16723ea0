/* runbox.c: a recipe run outside a judgment, under the sandbox (runbox.h). */
#include "sandbox/runbox.h"

#include <stdio.h>
#include <string.h>

#include "sandbox/recipe_pipe.h"

int runbox_spawn(struct runbox *rb, const struct recipe_build_info *bi, int threads, enum runbox_mode mode,
		 struct recipe_host *h, struct kerr *err)
{
	struct sandbox_config cfg;

	memset(rb, 0, sizeof *rb);
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
	}
	cfg.gpu = bi->cuda;
	if (sandbox_new(&rb->sb, &cfg, bi->runner, err) < 0) {
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

	if (rb->sb && h->impl && !strncmp(err->code, "recipe.", 7))
		sandbox_explain(rb->sb, h, err);
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
