/* runbox.h: recipe runs outside a judgment, sandboxed (docs/sandbox.md,
 * "Outside a judgment"). A miner's proof and trials run code the miner did
 * not write: the king's (every merged winner's patch) and whatever its
 * proposer wrote; `karpa train`, `eval` and `sample` run any recipe folder
 * they are given, and a validator's service runs the king's recipe to
 * sample it. Owns starting such a runner under the validator's sandbox
 * layers with limits for the caller, the opt-out and its reasons, and the
 * one-line account of what confined the run. */
#ifndef KARPA_RUNBOX_H
#define KARPA_RUNBOX_H

#include <stddef.h>
#include <stdint.h>

#include "sandbox/recipe_build.h"
#include "sandbox/recipe_host.h"
#include "sandbox/sandbox.h"
#include "util/kerr.h"

enum runbox_mode {
	/* Sandboxed with what the kernel offers: the layers a validator
	 * applies, Landlock and the network namespace when available (the GPU
	 * profile needs both, Landlock at ABI 5, and is refused without them),
	 * no CPU-time cap (a proof's length is its budget's business), the
	 * validator's per-call wall-clock limit, and the caller's
	 * CUDA_VISIBLE_DEVICES for a GPU runner. */
	RUNBOX_ON = 0,
	/* Unconfined, with the user's rights (--no-sandbox). */
	RUNBOX_OFF,
	/* A validator's own run of a king (its sample): the validator's
	 * configuration, Landlock and the network namespace required
	 * (sandbox_config_validator). Both modes cap the address space at
	 * RUNBOX_MEMORY_BYTES. */
	RUNBOX_VALIDATOR,
};

/* The address-space cap of a run here: twice the largest state a recipe
 * may declare, so that a gpu-* checkpoint evaluated or sampled on the CPU
 * fits (a judgment's 4 GiB fits the CPU scales it replays). */
#define RUNBOX_MEMORY_BYTES (2 * (uint64_t)RECIPE_STATE_BYTES_MAX)

struct runbox {
	enum runbox_mode mode;
	struct sandbox *sb; /* NULL: the runner runs unconfined (see why) */
	char why[96];       /* why unconfined: "--no-sandbox", "runs under qemu-aarch64" */
};

/* Starts bi's runner (bi->runner alone is read for a native CPU runner)
 * behind h under mode, with threads for OpenMP. A runner built for another
 * ISA starts under its emulator, unconfined: the inner seccomp layer
 * cannot be set up through user-mode emulation (refused under
 * RUNBOX_VALIDATOR: sandbox.unavailable). Codes: sandbox.* (with what to
 * do), recipe.* from the pipe host. */
int runbox_spawn(struct runbox *rb, const struct recipe_build_info *bi, int threads, enum runbox_mode mode,
		 struct recipe_host *h, struct kerr *err);

/* After a call on h failed with err (a recipe.* code): the sandbox's
 * reading of how the child ended (sandbox_on_fail), with the --no-sandbox
 * hint for a layer the kernel refused under RUNBOX_ON; err unchanged when
 * unconfined or failed for another reason. Fits train_opts.on_fail and
 * sample_opts.on_fail, whose arg is the runbox. */
void runbox_explain(void *rb, struct recipe_host *h, struct kerr *err);

/* "sandboxed: fds rlimits ... seccomp env" once the child has answered a
 * request, or "not sandboxed (WHY)"; "sandboxed: not started" before.
 * Layers the kernel refused are named after "missing:". */
void runbox_describe(const struct runbox *rb, char *buf, size_t cap);

void runbox_free(struct runbox *rb);

#endif
