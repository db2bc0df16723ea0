/* sandbox.h: the validator's outer sandbox for untrusted recipe code
 * (PROTOCOL 5.4, docs/sandbox.md). Owns what is done to the recipe's child
 * process between fork and exec (fds, rlimits, namespaces, capabilities,
 * Landlock, a seccomp denylist, a fresh environment) and the mapping from how
 * that child ended to a stable reason code. Never runs recipe code in the
 * validator's own process; the inner allowlist is src/sandbox/sandbox_inner.h. */
#ifndef KARPA_SANDBOX_H
#define KARPA_SANDBOX_H

#include <stdint.h>

#include "sandbox/recipe_host.h"
#include "util/kerr.h"

/* Defaults for a hidden eval or spot replay at cpu scale. */
#define SANDBOX_CPU_SECONDS_DEFAULT 3600u               /* an hour of CPU across all threads */
#define SANDBOX_MEMORY_BYTES_DEFAULT ((uint64_t)4 << 30) /* cpu-scale state plus eval logits fit in 4 GiB */
#define SANDBOX_NOFILE_DEFAULT 16u                       /* the loader opens one library at a time */
#define SANDBOX_TIMEOUT_MS_DEFAULT ((int64_t)600 * 1000)  /* one call (a step, a logits batch) */

struct sandbox_config {
	uint32_t cpu_seconds;   /* RLIMIT_CPU soft (SIGXCPU); the hard limit is one second later (SIGKILL). 0: none */
	uint64_t memory_bytes;  /* RLIMIT_AS; 0: none */
	uint32_t nofile;        /* RLIMIT_NOFILE */
	int threads;            /* OMP_NUM_THREADS and OPENBLAS_NUM_THREADS in the child */
	int64_t timeout_ms;     /* wall clock per call (recipe_pipe_set_timeout); 0: none */
	int64_t deadline_ms;    /* every child's overall deadline, recipe_pipe_now_ms() clock
				   (recipe_pipe_set_deadline): a judgment's; 0: none */
	int require_namespaces; /* refuse to start when no network namespace can be made */
	int require_landlock;   /* refuse to start when Landlock is unavailable */
	/* The runner drives an NVIDIA GPU through the CUDA driver (docs/sandbox.md,
	 * "A GPU runner"): Landlock also grants the device files (read, write,
	 * ioctl) and the /proc and /sys files the driver reads, and confines
	 * the writes that seccomp then lets through; the address-space limit is
	 * dropped (the driver reserves the GPU's address space) and nofile is
	 * at least SANDBOX_GPU_NOFILE. Needs Landlock: refused without it. */
	int gpu;
	/* With gpu: the caller's CUDA_VISIBLE_DEVICES, passed to the runner
	 * (a miner that runs one process per GPU); NULL: not set, the first
	 * GPU in bus order. Indices and GPU- UUIDs, at most 42 bytes; not a
	 * MIG instance, whose /dev/nvidia-caps the profile does not grant
	 * (sandbox.config otherwise). A validator sets none. */
	const char *cuda_visible_devices;
};

#define SANDBOX_GPU_NOFILE 256u /* the driver holds a few dozen descriptors */

/* What was applied in the last child, as bits (sandbox_report). */
enum sandbox_layer {
	SANDBOX_FDS = 1u << 0,        /* every fd but 0-2 and the bulk region (3) closed */
	SANDBOX_RLIMITS = 1u << 1,    /* CPU, address space, file size 0, nofile, core 0 */
	SANDBOX_SESSION = 1u << 2,    /* own session; killed when the validator dies */
	SANDBOX_NETNS = 1u << 3,      /* new network, IPC and UTS namespaces */
	SANDBOX_USERNS = 1u << 4,     /* ... made through a new user namespace */
	SANDBOX_NNP = 1u << 5,        /* no_new_privs */
	SANDBOX_CAPS = 1u << 6,       /* capability bounding, effective and permitted sets emptied */
	SANDBOX_LANDLOCK = 1u << 7,   /* filesystem: read libraries only, execute only the runner */
	SANDBOX_LANDLOCK_NET = 1u << 8,    /* Landlock also refuses TCP bind/connect (ABI >= 4) */
	SANDBOX_LANDLOCK_SCOPE = 1u << 9,  /* ... and signals/abstract sockets outside (ABI >= 6) */
	SANDBOX_SECCOMP = 1u << 10,   /* the outer seccomp denylist */
	SANDBOX_ENV = 1u << 11,       /* environment replaced */
	SANDBOX_STDERR_NULL = 1u << 12, /* stderr was a regular file (RLIMIT_FSIZE 0 would kill on write): /dev/null */
	SANDBOX_GPU = 1u << 13          /* the GPU runner's profile (sandbox_config.gpu) */
};

#define SANDBOX_NOTE_MAX 256

struct sandbox_report {
	int done;                     /* 1 once the last child finished its preparation */
	uint32_t applied;             /* enum sandbox_layer bits */
	int landlock_abi;             /* 0 when unavailable */
	char notes[SANDBOX_NOTE_MAX]; /* why an optional layer is missing, or why setup failed */
};

struct sandbox;

void sandbox_config_default(struct sandbox_config *c, int threads);
/* The default, with Landlock and the network namespace required: what a
 * validator runs untrusted recipes under (judgment, dispute, noise floor).
 * Without Landlock a recipe's constructors could read the hidden split,
 * and a recipe that has read it can pass the causality audit while
 * scoring with future tokens; so a machine that cannot confine the child
 * does not judge (sandbox.unavailable) rather than judge weakly. */
void sandbox_config_validator(struct sandbox_config *c, int threads);

/* Prepares a sandbox for runner_path (checked executable, its ELF
 * interpreter found for the Landlock rules). One sandbox may start many
 * children, one at a time. Codes: sandbox.config, sandbox.runner, sandbox.nomem. */
int sandbox_new(struct sandbox **out, const struct sandbox_config *cfg, const char *runner_path,
		struct kerr *err);
void sandbox_free(struct sandbox *sb);

/* The recipe_pipe_prepare_fn: runs in the forked child, arg is the sandbox.
 * Returns -1 (the child then exits RECIPE_PIPE_EXIT_PREPARE) when a required
 * layer cannot be applied; the reason lands in the report's notes. */
int sandbox_prepare(void *sb);

/* Starts the sandbox's runner behind a pipe host with sandbox_prepare, the
 * configured per-call timeout and overall deadline, and its stdout and
 * stderr captured (recipe_host_pipe_captured): nothing it prints reaches the
 * validator's stderr. Codes from recipe_host_pipe. */
int sandbox_spawn(struct sandbox *sb, struct recipe_host *h, struct kerr *err);

/* What the last child applied. Valid once it has answered a request. */
void sandbox_report(const struct sandbox *sb, struct sandbox_report *r);
/* Names the bits: "fds rlimits netns ...". */
void sandbox_describe(uint32_t applied, char *buf, size_t cap);

/* After a call on a sandboxed host failed with err: when the child's end
 * explains the failure, rewrites err's code. Always returns -1.
 *   SIGSYS                                  -> sandbox.violation
 *   SIGXCPU, or SIGKILL at the CPU limit    -> sandbox.cpu_limit
 *   SIGXFSZ                                 -> sandbox.file_limit
 *   SIGSEGV/SIGBUS under a memory limit     -> sandbox.memory
 *   setup refused / exec failed             -> sandbox.setup
 * recipe.timeout, recipe.deadline, recipe.protocol and recipe.failed are
 * kept otherwise. A rewritten message ends with the last printable bytes
 * the recipe wrote to its stdout or stderr (at most 160). */
int sandbox_explain(const struct sandbox *sb, struct recipe_host *h, struct kerr *err);

/* sandbox_explain for a train_opts.on_fail or sample_opts.on_fail hook (arg:
 * the sandbox), called before the run destroys its host: only a recipe.*
 * failure on a host that still has its child is explained. */
void sandbox_on_fail(void *sb, struct recipe_host *h, struct kerr *err);

#endif
