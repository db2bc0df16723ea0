/* sandbox_inner.h: the runner's own seccomp allowlist (fixed harness), the
 * inner of the sandbox's two layers (docs/sandbox.md). The runner applies it
 * to itself at the top of main(), after the dynamic loader and every library
 * constructor have run and before any recipe function is called. Never
 * loosens anything: seccomp filters only stack. */
#ifndef KARPA_SANDBOX_INNER_H
#define KARPA_SANDBOX_INNER_H

#include <stddef.h>

/* The environment variable that asks the runner for the inner layer; the
 * validator's outer layer sets it to "1" in the child's fresh environment. */
#define SANDBOX_INNER_ENV "KARPA_SANDBOX"
/* Set to "1" beside it for a runner that drives a GPU (sandbox_config.gpu):
 * the allowlist then also lets the CUDA driver's calls through. */
#define SANDBOX_INNER_GPU_ENV "KARPA_SANDBOX_GPU"

/* Applies the allowlist when the environment asks for it. Returns 1 when
 * applied, 0 when not asked, -1 on failure with a reason in why (the runner
 * must then exit: a sandbox that was asked for and is missing is an error). */
int sandbox_inner_apply(char *why, size_t cap);

/* Applies the allowlist unconditionally (tests and the runner use the same
 * filter), with the GPU driver's calls when gpu is set. Same returns as
 * above, never 0. */
int sandbox_inner_load(int gpu, char *why, size_t cap);

#endif
