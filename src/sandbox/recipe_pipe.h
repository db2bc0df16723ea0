/* recipe_pipe.h: the recipe host whose recipe runs in a child process
 * (a `karpa-recipe` runner) and answers over pipes. Owns spawning, the
 * request/response exchange, every bound on what the child may send, the
 * per-call wall-clock limit, an overall deadline, the bounded capture of a
 * child's stderr and the record of how the child ended.
 * The child inherits only its two pipes, stderr (or a third pipe for it)
 * and the bulk region (recipe_wire.h) through which large payloads go. */
#ifndef KARPA_RECIPE_PIPE_H
#define KARPA_RECIPE_PIPE_H

#include <stddef.h>
#include <stdint.h>

#include "sandbox/recipe_host.h"

/* Called in the child after fork and before exec: the place where a
 * sandbox (rlimits, namespaces, seccomp) is applied. Returns 0 to proceed;
 * on -1 the child exits with RECIPE_PIPE_EXIT_PREPARE. */
typedef int (*recipe_pipe_prepare_fn)(void *arg);

/* Exit codes of the child before the runner takes over. */
#define RECIPE_PIPE_EXIT_PREPARE 125 /* prepare_fn refused */
#define RECIPE_PIPE_EXIT_EXEC 127    /* exec of the runner failed (and the child says so:
					* recipe_child_exit.exec_errno; a recipe exiting 127 itself
					* is a recipe that died) */

/* Bytes of a captured child's stderr kept (the newest), for messages. */
#define RECIPE_PIPE_TAIL_BYTES 4096

/* Starts runner_path and fills h with the pipe implementation. The child's
 * stderr is the host's (a miner sees what its own recipe prints). */
int recipe_host_pipe(struct recipe_host *h, const char *runner_path, recipe_pipe_prepare_fn prepare,
		     void *prepare_arg, struct kerr *err);
/* The same with the child's stderr (and so its stdout, which the runner
 * points there) captured: the host drains it while it waits and keeps only
 * the last RECIPE_PIPE_TAIL_BYTES, so nothing an untrusted recipe prints
 * reaches the host's stderr or grows its memory. */
int recipe_host_pipe_captured(struct recipe_host *h, const char *runner_path, recipe_pipe_prepare_fn prepare,
			      void *prepare_arg, struct kerr *err);

/* Words a launcher may put before the runner's path. */
#define RECIPE_PIPE_LAUNCH_MAX 3

/* Starts runner_path through a launcher: argv is launcher's words (NULL-
 * terminated, at most RECIPE_PIPE_LAUNCH_MAX, the first an absolute path;
 * none: the runner itself, as recipe_host_pipe), then runner_path. It is
 * how a prover runs a runner built for another ISA under its user-mode
 * emulator (recipe_build_launcher). It takes no prepare function, so no
 * sandbox: it is for the prover's own recipe only, never the validator's
 * untrusted one. A respawn launches the same way. */
int recipe_host_pipe_launched(struct recipe_host *h, const char *const *launcher, const char *runner_path,
			      struct kerr *err);

/* Wall-clock limit for each call (request sent to response fully read);
 * 0 means none, the default. A call that overruns kills the child and fails
 * with recipe.timeout; every later call fails with recipe.died. */
int recipe_pipe_set_timeout(struct recipe_host *h, int64_t timeout_ms);
/* The limit in force (0: none), or -1 for a host that is not a pipe. */
int64_t recipe_pipe_timeout(const struct recipe_host *h);

/* Payloads of at least this many bytes (logits of a call, a state) go
 * through the bulk region rather than the pipe (recipe_wire.h). */
#define RECIPE_PIPE_BULK_MIN_BYTES ((uint64_t)1 << 20)

/* Sets that threshold for h: 0 sends every logits, save and load through
 * the region, UINT64_MAX none (tests and benchmarks hold the two paths to
 * the same bits and compare their speed). Returns -1 for a host that is not
 * a pipe, or whose region could not be made at spawn. Either way, and once
 * the region cannot grow to a payload's size (a file-size limit, no
 * memory), the pipe carries everything, as before the region existed. */
int recipe_pipe_set_bulk_min(struct recipe_host *h, uint64_t bytes);

/* How many payloads h's bulk region has carried since spawn (tests check
 * that the path they mean to exercise ran); -1 for a host that is not a
 * pipe. */
int64_t recipe_pipe_bulk_calls(const struct recipe_host *h);

/* An overall deadline for the host, on recipe_pipe_now_ms()'s clock (0:
 * none, the default): each call's limit becomes the earlier of its own
 * timeout and this instant, a call that reaches it kills the child and fails
 * with recipe.deadline, and a call begun after it fails at once the same
 * way. This is what bounds a whole judgment, however many calls it makes. */
int recipe_pipe_set_deadline(struct recipe_host *h, int64_t until_ms);
/* CLOCK_MONOTONIC in milliseconds: the deadline's clock. */
int64_t recipe_pipe_now_ms(void);

/* The newest captured stderr bytes (at most cap-1, non-printable bytes as
 * spaces, NUL-terminated); "" for a host that does not capture. Returns the
 * length. */
size_t recipe_pipe_stderr_tail(struct recipe_host *h, char *buf, size_t cap);

enum recipe_child_state {
	RECIPE_CHILD_RUNNING = 0, /* still alive after the wait allowed */
	RECIPE_CHILD_EXITED = 1,  /* code is the exit status */
	RECIPE_CHILD_SIGNALED = 2 /* code is the signal number */
};

/* How the child ended, for the caller to turn into a reason code (the
 * sandbox maps SIGSYS, SIGXCPU, ... to its own codes). */
struct recipe_child_exit {
	int state;           /* enum recipe_child_state */
	int code;            /* exit status or signal number */
	int timed_out;       /* 1 when the host killed it for overrunning a call */
	double cpu_seconds;  /* user + system time of the child and its threads */
	long maxrss_kb;      /* peak resident set */
	int exec_errno;      /* the runner could not be executed (exit 127 with this errno); 0 otherwise */
	char desc[96];       /* "exited 0", "killed by SIGSYS", "exec failed: ...", "running" */
};

/* Waits up to wait_ms for the child to end (a child that just broke its
 * pipe is usually a few microseconds from being reapable) and fills out.
 * Never kills. Returns -1 (recipe.not_pipe) for a host of another kind. */
int recipe_pipe_child_status(struct recipe_host *h, int wait_ms, struct recipe_child_exit *out,
			     struct kerr *err);

#endif
