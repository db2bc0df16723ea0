/* systrace.c: what a program asks of the kernel, for designing the GPU
 * runner's sandbox profile (docs/sandbox.md, docs/gpu.md). The CUDA driver
 * is driven through system calls that cannot be read off a machine without
 * a GPU, and the GPU machine has no strace, so the GPU check traces the
 * runner itself: every system call of the program and of every thread and
 * process it starts, with a count and an error count; each path opened,
 * made, linked, removed, read as a link or checked, with its flags and
 * result (an errno name when it failed); each socket's family and type and
 * each address bound or connected to, with the result; every other call
 * that failed, by name and error; each ioctl request; each mmap protection
 * and flag pair.
 *
 *   systrace OUTFILE PROGRAM [ARGS...]
 *
 * PROGRAM inherits this process's descriptors and environment, and its
 * exit status is passed through, so systrace can stand in for a runner
 * (KARPA_RUNNER pointing at a script that execs it). x86-64 only. A
 * diagnostic: job-control stops of the traced program are not honoured
 * (SIGSTOP and SIGTRAP are taken as the tracer's own). */
#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_NR 512
#define MAX_KEYS 4096
#define MAX_TIDS 8192

/* One distinct thing seen (a path and flags, an ioctl request, an mmap
 * protection/flags pair) and how often. */
struct seen {
	char what[300];
	unsigned long count;
};

static unsigned long g_calls[MAX_NR], g_errors[MAX_NR];
static struct seen g_keys[MAX_KEYS];
static int g_nkeys;
/* Per thread: the system call it is in, and what it was asked (written at
 * entry, noted with the result at exit). */
static struct {
	pid_t tid;
	long nr;
	char pending[256];
} g_tids[MAX_TIDS];

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	char buf[sizeof g_keys[0].what];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	for (int i = 0; i < g_nkeys; i++)
		if (!strcmp(g_keys[i].what, buf)) {
			g_keys[i].count++;
			return;
		}
	if (g_nkeys < MAX_KEYS) {
		memcpy(g_keys[g_nkeys].what, buf, sizeof buf);
		g_keys[g_nkeys++].count = 1;
	}
}

/* The tracee's string at addr (at most 255 bytes). */
static void peek_str(pid_t pid, unsigned long addr, char *out, size_t cap)
{
	size_t n = 0;

	while (n + sizeof(long) < cap) {
		long w;
		errno = 0;
		w = ptrace(PTRACE_PEEKDATA, pid, (void *)(addr + n), NULL);
		if (errno)
			break;
		memcpy(out + n, &w, sizeof w);
		if (memchr(&w, 0, sizeof w))
			return;
		n += sizeof w;
	}
	out[n] = '\0';
}

static int tid_slot(pid_t tid)
{
	for (int i = 0; i < MAX_TIDS; i++) {
		int k = (int)(((unsigned)tid * 2654435761u + (unsigned)i) % MAX_TIDS);
		if (g_tids[k].tid == tid)
			return k;
		if (g_tids[k].tid == 0) {
			g_tids[k].tid = tid;
			g_tids[k].nr = -1; /* no entry seen: an exit stop counts nothing */
			return k;
		}
	}
	return -1;
}

/* A socket address in the tracee: its family, and a Unix socket's path
 * ("@name" for the abstract namespace). */
static void peek_addr(pid_t pid, unsigned long addr, unsigned long len, char *out, size_t cap)
{
	struct sockaddr_un un;
	size_t n = len < sizeof un ? len : sizeof un;

	memset(&un, 0, sizeof un);
	for (size_t i = 0; i < n; i += sizeof(long)) {
		long w;
		errno = 0;
		w = ptrace(PTRACE_PEEKDATA, pid, (void *)(addr + i), NULL);
		if (errno)
			break;
		memcpy((char *)&un + i, &w, i + sizeof w <= sizeof un ? sizeof w : sizeof un - i);
	}
	if (un.sun_family == AF_UNIX)
		snprintf(out, cap, "unix %s%.100s", un.sun_path[0] ? "" : "@", un.sun_path + !un.sun_path[0]);
	else
		snprintf(out, cap, "family %d", un.sun_family);
}

static void on_stop(pid_t pid)
{
	struct __ptrace_syscall_info si;
	int k = tid_slot(pid);

	if (ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof si, &si) <= 0)
		return;
	if (si.op == PTRACE_SYSCALL_INFO_ENTRY) {
		long nr = (long)si.entry.nr;
		const uint64_t *a = si.entry.args;
		char path[256], path2[256], scratch[256], *pend = k >= 0 ? g_tids[k].pending : scratch;
		size_t pcap = sizeof scratch;

		if (k >= 0) {
			g_tids[k].nr = nr;
			g_tids[k].pending[0] = '\0';
		}
		if (nr < 0 || nr >= MAX_NR)
			return;
		g_calls[nr]++;
		/* noted at exit, with the result */
		if (nr == SYS_openat || nr == SYS_open) {
			peek_str(pid, nr == SYS_openat ? a[1] : a[0], path, sizeof path);
			snprintf(pend, pcap, "open %.200s flags 0x%llx", path,
				 (unsigned long long)(nr == SYS_openat ? a[2] : a[1]));
		} else if (nr == SYS_mkdir || nr == SYS_unlink || nr == SYS_readlink || nr == SYS_access ||
			   nr == SYS_stat || nr == SYS_lstat) {
			char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, (int)nr);
			peek_str(pid, a[0], path, sizeof path);
			snprintf(pend, pcap, "%s %.200s", name ? name : "?", path);
			free(name);
		} else if (nr == SYS_symlink) {
			peek_str(pid, a[0], path, sizeof path);
			peek_str(pid, a[1], path2, sizeof path2);
			snprintf(pend, pcap, "symlink %.100s -> %.100s", path2, path);
		} else if (nr == SYS_socket) {
			snprintf(pend, pcap, "socket domain %llu type 0x%llx", (unsigned long long)a[0],
				 (unsigned long long)a[1]);
		} else if (nr == SYS_bind || nr == SYS_connect) {
			peek_addr(pid, a[1], a[2], path, sizeof path);
			snprintf(pend, pcap, "%s %s", nr == SYS_bind ? "bind" : "connect", path);
		} else if (nr == SYS_ioctl) {
			note("ioctl request 0x%llx", (unsigned long long)a[1]);
		} else if (nr == SYS_mmap) {
			/* MAP_ANONYMOUS (0x20): no descriptor */
			note("mmap prot 0x%llx flags 0x%llx%s", (unsigned long long)a[2],
			     (unsigned long long)a[3], a[3] & 0x20 ? "" : " of a descriptor");
		} else if (nr == SYS_clone) {
			note("clone flags 0x%llx", (unsigned long long)a[0]);
		}
	} else if (si.op == PTRACE_SYSCALL_INFO_EXIT && k >= 0 && g_tids[k].nr >= 0 && g_tids[k].nr < MAX_NR) {
		if (si.exit.is_error)
			g_errors[g_tids[k].nr]++;
		if (g_tids[k].pending[0]) {
			const char *en = si.exit.is_error ? strerrorname_np((int)-si.exit.rval) : NULL;
			note("%s -> %s", g_tids[k].pending, si.exit.is_error ? (en ? en : "error") : "ok");
			g_tids[k].pending[0] = '\0';
		} else if (si.exit.is_error) {
			/* any other call that failed, by name and error: a refusal
			 * shows here whatever the call */
			const char *en = strerrorname_np((int)-si.exit.rval);
			char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, (int)g_tids[k].nr);
			note("call %s -> %s", name ? name : "?", en ? en : "error");
			free(name);
		}
	}
}

static int report(const char *path, int status)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		perror(path);
		return -1;
	}
	fprintf(f, "exit status 0x%x\n", status);
	for (int nr = 0; nr < MAX_NR; nr++)
		if (g_calls[nr]) {
			char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
			fprintf(f, "syscall %-22s nr %3d calls %8lu errors %lu\n", name ? name : "?", nr,
				g_calls[nr], g_errors[nr]);
			free(name);
		}
	for (int i = 0; i < g_nkeys; i++)
		fprintf(f, "%s (x%lu)\n", g_keys[i].what, g_keys[i].count);
	return fclose(f);
}

int main(int argc, char **argv)
{
	pid_t root;
	int status = 0, root_status = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: systrace OUTFILE PROGRAM [ARGS...]\n");
		return 2;
	}
	if ((root = fork()) < 0) {
		perror("fork");
		return 2;
	}
	if (root == 0) {
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		raise(SIGSTOP);
		execvp(argv[2], argv + 2);
		perror(argv[2]);
		_exit(127);
	}
	if (waitpid(root, &status, 0) < 0 || !WIFSTOPPED(status)) {
		fprintf(stderr, "systrace: the child did not stop\n");
		return 2;
	}
	if (ptrace(PTRACE_SETOPTIONS, root, NULL,
		   (void *)(long)(PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK |
				  PTRACE_O_TRACEVFORK | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL)) < 0) {
		perror("systrace: PTRACE_SETOPTIONS");
		kill(root, SIGKILL);
		return 2;
	}
	ptrace(PTRACE_SYSCALL, root, NULL, NULL);
	for (;;) {
		pid_t pid = waitpid(-1, &status, __WALL);
		int sig = 0;

		if (pid < 0) {
			if (errno == EINTR)
				continue;
			break; /* ECHILD: everything has ended */
		}
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			if (pid == root)
				root_status = status;
			continue;
		}
		if (!WIFSTOPPED(status))
			continue;
		if (WSTOPSIG(status) == (SIGTRAP | 0x80))
			on_stop(pid);
		else if (status >> 16 == 0 && WSTOPSIG(status) != SIGSTOP && WSTOPSIG(status) != SIGTRAP)
			sig = WSTOPSIG(status); /* a real signal: deliver it */
		ptrace(PTRACE_SYSCALL, pid, NULL, (void *)(long)sig);
	}
	if (report(argv[1], root_status) < 0)
		return 2;
	if (WIFEXITED(root_status))
		return WEXITSTATUS(root_status);
	return 128 + WTERMSIG(root_status);
}
