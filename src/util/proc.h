/* proc.h: running another program as a child process, without a shell.
 * Owns spawning from an argument vector, feeding optional stdin bytes,
 * capturing stdout and stderr into bounded buffers, a wall-clock limit and
 * the exit status. Never builds a command line from strings; never lets a
 * child's output grow memory past the limits the caller names. */
#ifndef KARPA_PROC_H
#define KARPA_PROC_H

#include <stddef.h>
#include <stdint.h>

#include "util/kerr.h"

/* Default capture limit per stream when the caller gives 0: enough for a
 * tool's diagnostics or a listing, small enough to never matter. */
#define PROC_CAPTURE_BYTES_DEFAULT (1u << 20)
#define PROC_ENV_MAX 64 /* extra environment entries per call */

struct proc_opts {
	const char *cwd;               /* working directory; NULL inherits ours */
	/* Environment changes, NULL-terminated: "NAME=value" sets or replaces,
	 * "NAME" (no '=') removes, "PREFIX*" removes every NAME starting with
	 * PREFIX. Everything else is inherited. */
	const char *const *env;
	const void *stdin_data;        /* NULL: the child's stdin is /dev/null */
	size_t stdin_len;
	size_t out_bytes_max;          /* stdout kept, beyond it discarded (0: default) */
	size_t err_bytes_max;          /* stderr kept, likewise */
	int timeout_ms;                /* 0: no limit; past it the child gets SIGKILL */
	/* The child leads a process group of its own, and a timeout kills the
	 * whole group: a compiler driver's cc1 or ld would otherwise run on
	 * after its driver was killed. */
	int own_group;
	/* Resource limits the child and everything it starts run under
	 * (RLIMIT_AS, RLIMIT_FSIZE; 0: inherited). posix_spawn sets none, so
	 * the child is started through util-linux's prlimit(1), which sets
	 * them on itself and execs argv: a compiler's cc1 or as inherits
	 * them, which a prlimit(2) on the driver's pid after the spawn could
	 * not promise. */
	uint64_t limit_as_bytes;
	uint64_t limit_fsize_bytes;
	/* RLIMIT_CPU in seconds, for each process of the child's tree on its
	 * own (SIGXCPU, then SIGKILL a second later): CPU time, unlike a
	 * timeout, does not grow with the machine's load. */
	unsigned limit_cpu_s;
};

struct proc_result {
	int exit_code;      /* 0..255 when the child exited, else -1 */
	int term_signal;    /* the signal that ended it, else 0 */
	int timed_out;      /* 1 when we killed it for exceeding timeout_ms */
	/* CPU seconds, user and system, of the child and every descendant it
	 * waited for (wait4's); when a timeout killed its own group, also
	 * what the group's other members had used by then, which no one
	 * waits for: a compiler's cc1 or as outlives its killed driver. */
	double cpu_s;
	char *out;          /* captured stdout, NUL-terminated; proc_result_free frees */
	size_t out_len;
	int out_truncated;  /* 1 when stdout exceeded out_bytes_max */
	char *err;          /* captured stderr, likewise */
	size_t err_len;
	int err_truncated;
};

/* Runs argv[0] (looked up in PATH) with argv and waits for it. Returns 0
 * when the child ran to completion (whatever its exit code: inspect res) and
 * -1 with proc.spawn, proc.io or proc.nomem when it could not be run or
 * watched. The child's stdin is closed early without harm (no SIGPIPE here).
 * res is always initialised; free it with proc_result_free. */
int proc_run(const char *const *argv, const struct proc_opts *opts, struct proc_result *res,
	     struct kerr *err);
void proc_result_free(struct proc_result *res);

/* The first line of buf (up to cap-1 bytes, no newline), for messages. */
void proc_first_line(const char *buf, char *out, size_t cap);

/* The first executable name in PATH's folders (absolute ones only; PATH
 * unset or empty: /usr/local/bin:/usr/bin:/bin), as an absolute path in
 * out; a name with a '/' is itself. 0, else -1 with out empty. */
int proc_find_on_path(const char *name, char *out, size_t cap);

#endif
