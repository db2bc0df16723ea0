/* sandbox_inner.c: the runner's seccomp allowlist (docs/sandbox.md, inner
 * layer). By the time main() runs, the loader has mapped every library and
 * the constructors of libc, libgomp and OpenBLAS have run, so what is left is
 * pure computation plus talking over the already-open pipes. Anything not on
 * the list kills the whole process with SIGSYS, which the host reports as
 * sandbox.violation. Never allows opening a path, creating a socket or a
 * process, or executing a program; except that a runner driving a GPU
 * opens the driver's device files as it goes and serves on a Unix socket
 * no one can reach, so the GPU variant allows open, ioctl and Unix sockets
 * and leaves the paths to the outer layer's Landlock rules (docs/sandbox.md,
 * "A GPU runner"). */
#include "sandbox/sandbox_inner.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

/* Allowed whatever their arguments. Each line says who needs it. */
static const int always[] = {
	SCMP_SYS(read),           /* requests on fd 0 */
	SCMP_SYS(write),          /* responses on the protocol fd; recipe output on fd 1/2 */
	SCMP_SYS(readv),          /* glibc stdio */
	SCMP_SYS(writev),         /* glibc stdio and abort messages */
	SCMP_SYS(close),          /* stdio teardown at exit */
	SCMP_SYS(lseek),          /* glibc stdio flushing at exit */
	SCMP_SYS(fstat),          /* glibc stdio sizes its first buffer */
	SCMP_SYS(exit),           /* a thread ending (libgomp pool, OpenBLAS pool) */
	SCMP_SYS(exit_group),     /* the runner ending */
	SCMP_SYS(munmap),         /* free() of large blocks */
	SCMP_SYS(mremap),         /* realloc() of large blocks */
	SCMP_SYS(brk),            /* malloc() of small blocks */
	SCMP_SYS(mbind),          /* OpenBLAS binds its work buffers to the local NUMA node */
	SCMP_SYS(futex),          /* every lock and barrier (libgomp, OpenBLAS, glibc) */
	SCMP_SYS(sched_yield),    /* libgomp and OpenBLAS spin-waits */
	SCMP_SYS(sched_getaffinity), /* libgomp and OpenBLAS size their pools */
	SCMP_SYS(set_robust_list),   /* each new thread (glibc pthread_create) */
	SCMP_SYS(rseq),              /* each new thread registers restartable sequences (glibc >= 2.35) */
	SCMP_SYS(rt_sigprocmask),    /* pthread_create blocks signals around clone */
	SCMP_SYS(rt_sigaction),      /* abort() and recipes that handle SIGFPE */
	SCMP_SYS(rt_sigreturn),      /* returning from any signal handler */
	SCMP_SYS(sigaltstack),       /* new threads under some runtimes */
	SCMP_SYS(restart_syscall),   /* a sleep interrupted by a stop/continue */
	SCMP_SYS(getpid),            /* abort() / raise() */
	SCMP_SYS(gettid),            /* abort() / raise(), libgomp thread ids */
	SCMP_SYS(clock_gettime),     /* timers; normally the vDSO, this is its fallback */
	SCMP_SYS(clock_getres),
	SCMP_SYS(gettimeofday),
	SCMP_SYS(time),
	SCMP_SYS(nanosleep),         /* libgomp/OpenBLAS back-off sleeps */
	SCMP_SYS(clock_nanosleep),   /* same, via glibc's nanosleep() */
	SCMP_SYS(sysinfo),           /* glibc qsort() sizes its buffer from physical memory */
};

/* What the CUDA driver calls after the loader is done, as a traced GPU
 * runner showed (bench/gpu/systrace.c, docs/gpu.md): opening its device
 * and /proc and /sys files (Landlock decides which), ioctls and shared
 * mappings of the devices, event descriptors and pipes between its own
 * threads, and reading about the machine. */
static const int gpu_always[] = {
	SCMP_SYS(open), SCMP_SYS(openat), SCMP_SYS(ioctl), SCMP_SYS(stat), SCMP_SYS(lstat),
	SCMP_SYS(newfstatat), SCMP_SYS(statx), SCMP_SYS(access), SCMP_SYS(faccessat),
	SCMP_SYS(faccessat2), SCMP_SYS(readlink), SCMP_SYS(readlinkat), SCMP_SYS(getdents64),
	SCMP_SYS(pread64), SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(epoll_create1),
	SCMP_SYS(epoll_ctl), SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(eventfd2),
	SCMP_SYS(pipe2), SCMP_SYS(fcntl), SCMP_SYS(dup), SCMP_SYS(dup2), SCMP_SYS(dup3),
	SCMP_SYS(uname), SCMP_SYS(getuid), SCMP_SYS(geteuid), SCMP_SYS(getgid), SCMP_SYS(getegid),
	SCMP_SYS(sched_get_priority_max), SCMP_SYS(sched_get_priority_min), SCMP_SYS(get_mempolicy),
};

/* The driver's "uvmfd" server: a Unix socket bound to an abstract name in
 * the sandbox's own network namespace, listened on, never reached (the
 * outer layer and docs/sandbox.md say why that is safe). Its family is
 * checked in add_conditional. */
static const int gpu_sockets[] = {
	SCMP_SYS(bind), SCMP_SYS(listen), SCMP_SYS(setsockopt), SCMP_SYS(getsockopt),
	SCMP_SYS(getsockname), SCMP_SYS(accept), SCMP_SYS(accept4), SCMP_SYS(shutdown),
};

/* Tried by the driver and not needed: scratch links and folders. Refused
 * with an error it takes, where the plain allowlist would kill. */
static const int gpu_refused[] = {
	SCMP_SYS(mkdir), SCMP_SYS(symlink),
};

static int add(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned n, const struct scmp_arg_cmp *c)
{
	int rc = seccomp_rule_add_array(ctx, action, nr, n, c);

	return rc < 0 ? rc : 0;
}

/* Rules that look at arguments. A GPU runner already has newfstatat and
 * ioctl whole (gpu_always). */
static int add_conditional(scmp_filter_ctx ctx, int gpu)
{
	const scmp_datum_t self = (scmp_datum_t)getpid();
	struct scmp_arg_cmp noexec = SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0);
	struct scmp_arg_cmp thread = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD);
	struct scmp_arg_cmp empty_path = SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH);
	struct scmp_arg_cmp to_self = SCMP_A0(SCMP_CMP_EQ, self);
	struct scmp_arg_cmp not_self = SCMP_A0(SCMP_CMP_NE, self);
	struct scmp_arg_cmp pid0 = SCMP_A0(SCMP_CMP_EQ, 0);
	struct scmp_arg_cmp pid_other = SCMP_A0(SCMP_CMP_NE, 0);
	struct scmp_arg_cmp getonly[2] = { SCMP_A0(SCMP_CMP_EQ, 0), SCMP_A2(SCMP_CMP_EQ, 0) };
	struct scmp_arg_cmp punch = SCMP_A2(SCMP_CMP_EQ, MADV_REMOVE);
	struct scmp_arg_cmp no_punch = SCMP_A2(SCMP_CMP_NE, MADV_REMOVE);
	struct scmp_arg_cmp unix_family = SCMP_A0(SCMP_CMP_EQ, AF_UNIX);
	struct scmp_arg_cmp other_family = SCMP_A0(SCMP_CMP_NE, AF_UNIX);
	int rc = 0;

	/* glibc returns freed pages and thread stacks (MADV_DONTNEED, ...); but
	 * never MADV_REMOVE, which would punch holes in the bulk region
	 * (recipe_wire.h) under the host's mapping, for the host's copy to
	 * fault in again where memory may have run out since it sized it. */
	rc = rc ? rc : add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(madvise), 1, &no_punch);
	rc = rc ? rc : add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(madvise), 1, &punch);
	/* Memory, but never new executable pages: a recipe has no business
	 * generating code, and the loader is done. (A GPU runner can write
	 * its own pages through its task/ files, docs/sandbox.md: this is a
	 * guard against mistakes there, not a barrier.) */
	rc = rc ? rc : add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1, &noexec);
	rc = rc ? rc : add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1, &noexec);
	/* Threads only (libgomp creates its pool at the first parallel region,
	 * OpenBLAS at its first threaded call): a clone without CLONE_THREAD
	 * would be a new process. */
	rc = rc ? rc : add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1, &thread);
	/* clone3 passes its flags in memory, which a filter cannot read; ENOSYS
	 * makes glibc fall back to clone, whose flags it can. */
	rc = rc ? rc : add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0, NULL);
	/* glibc's fstat(fd) is newfstatat(fd, "", AT_EMPTY_PATH). */
	if (!gpu)
		rc = rc ? rc : add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(newfstatat), 1, &empty_path);
	/* raise()/abort() signal the process itself; nobody else. */
	rc = rc ? rc : add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1, &to_self);
	rc = rc ? rc : add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(tgkill), 1, &not_self);
	rc = rc ? rc : add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1, &to_self);
	rc = rc ? rc : add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(kill), 1, &not_self);
	/* libgomp pins threads only when asked (OMP_PROC_BIND); pinning itself
	 * is harmless, pinning another process is not. */
	rc = rc ? rc : add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sched_setaffinity), 1, &pid0);
	rc = rc ? rc : add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(sched_setaffinity), 1, &pid_other);
	/* getrlimit() (glibc, OpenBLAS stack sizing) reads its own limits;
	 * setting them is refused. */
	rc = rc ? rc : add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 2, getonly);
	/* A recipe must be a function of its seed: no entropy from the kernel.
	 * EPERM, not a kill, because glibc may probe it. */
	rc = rc ? rc : add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(getrandom), 0, NULL);
	/* isatty() on stdout when the recipe prints: "not a terminal" is true
	 * enough and keeps every ioctl out. */
	if (!gpu)
		rc = rc ? rc : add(ctx, SCMP_ACT_ERRNO(ENOTTY), SCMP_SYS(ioctl), 0, NULL);
	/* A GPU runner's sockets are Unix ones (gpu_sockets); connect answers
	 * as when no MPS daemon runs, and unlink as when the name is not
	 * there: the driver unlinks its socket's name before binding it and
	 * gives up on any other answer. */
	if (gpu) {
		rc = rc ? rc : add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, &unix_family);
		rc = rc ? rc : add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 1, &other_family);
		rc = rc ? rc : add(ctx, SCMP_ACT_ERRNO(ENOENT), SCMP_SYS(connect), 0, NULL);
		rc = rc ? rc : add(ctx, SCMP_ACT_ERRNO(ENOENT), SCMP_SYS(unlink), 0, NULL);
	}
	return rc;
}

int sandbox_inner_load(int gpu, char *why, size_t cap)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int rc = -1, e = 0;

	if (!ctx) {
		snprintf(why, cap, "sandbox_inner: seccomp_init failed");
		return -1;
	}
	/* A 32-bit or x32 system call number would dodge every rule below. */
	if ((e = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)) < 0)
		goto out;
	/* Every thread, not only the caller: a recipe's constructor may have
	 * started one before main, which would otherwise keep only the outer
	 * layer. */
	if ((e = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)) < 0)
		goto out;
	for (size_t i = 0; i < sizeof always / sizeof always[0]; i++)
		if ((e = add(ctx, SCMP_ACT_ALLOW, always[i], 0, NULL)) < 0)
			goto out;
	for (size_t i = 0; gpu && i < sizeof gpu_always / sizeof gpu_always[0]; i++)
		if ((e = add(ctx, SCMP_ACT_ALLOW, gpu_always[i], 0, NULL)) < 0)
			goto out;
	for (size_t i = 0; gpu && i < sizeof gpu_sockets / sizeof gpu_sockets[0]; i++)
		if ((e = add(ctx, SCMP_ACT_ALLOW, gpu_sockets[i], 0, NULL)) < 0)
			goto out;
	for (size_t i = 0; gpu && i < sizeof gpu_refused / sizeof gpu_refused[0]; i++)
		if ((e = add(ctx, SCMP_ACT_ERRNO(EACCES), gpu_refused[i], 0, NULL)) < 0)
			goto out;
	if ((e = add_conditional(ctx, gpu)) < 0)
		goto out;
	if ((e = seccomp_load(ctx)) < 0)
		goto out;
	rc = 1;
out:
	if (rc < 0)
		snprintf(why, cap, "sandbox_inner: seccomp filter not applied: %s", strerror(-e));
	seccomp_release(ctx);
	return rc;
}

int sandbox_inner_apply(char *why, size_t cap)
{
	const char *v = getenv(SANDBOX_INNER_ENV), *g = getenv(SANDBOX_INNER_GPU_ENV);

	if (!v || strcmp(v, "1"))
		return 0;
	return sandbox_inner_load(g && !strcmp(g, "1"), why, cap);
}
