/* recipe_pipe.h: the recipe host whose recipe runs in a child process
 * (a `karpa-recipe` runner) and answers over pipes. Owns spawning, the
 * request/response exchange and every bound on what the child may send.
 * The child inherits only its two pipes and stderr. */
#ifndef KARPA_RECIPE_PIPE_H
#define KARPA_RECIPE_PIPE_H

#include "harness/recipe_host.h"

/* Called in the child after fork and before exec: the place where a
 * sandbox (rlimits, namespaces, seccomp) is applied. Returns 0 to proceed. */
typedef int (*recipe_pipe_prepare_fn)(void *arg);

/* Starts runner_path and fills h with the pipe implementation. */
int recipe_host_pipe(struct recipe_host *h, const char *runner_path, recipe_pipe_prepare_fn prepare,
		     void *prepare_arg, struct kerr *err);

#endif
