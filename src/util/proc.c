/* proc.c: child processes from argument vectors (posix_spawnp), never via a
 * shell. One poll loop feeds stdin and drains stdout and stderr together so
 * that neither side can deadlock on a full pipe; output past the caller's
 * limit is read and dropped, so a chatty child still runs to completion. */
#include "util/proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define CAPTURE_INITIAL_BYTES 4096
#define READ_CHUNK_BYTES 16384

struct capture {
	char *buf;
	size_t len, cap, max;
	int truncated;
};

static int capture_add(struct capture *c, const char *p, size_t n)
{
	size_t room = c->max - c->len;

	if (n > room) {
		c->truncated = 1;
		n = room;
	}
	if (c->len + n + 1 > c->cap) {
		size_t want = c->cap ? c->cap : CAPTURE_INITIAL_BYTES;
		while (want < c->len + n + 1)
			want *= 2;
		if (want > c->max + 1)
			want = c->max + 1;
		char *nb = realloc(c->buf, want);
		if (!nb)
			return -1;
		c->buf = nb;
		c->cap = want;
	}
	memcpy(c->buf + c->len, p, n);
	c->len += n;
	c->buf[c->len] = '\0';
	return 0;
}

static int name_matches(const char *entry, const char *change)
{
	size_t n = strcspn(change, "=");

	if (!change[n] && n && change[n - 1] == '*') /* "PREFIX*" */
		return !strncmp(entry, change, n - 1) && strchr(entry + n - 1, '=');
	return !strncmp(entry, change, n) && entry[n] == '=';
}

/* environ with the caller's changes applied. Caller frees the array only
 * (the strings belong to environ or to the caller). */
static char **build_env(const char *const *changes, struct kerr *err)
{
	size_t n_env = 0, n_chg = 0, k = 0;
	char **out;

	while (environ && environ[n_env])
		n_env++;
	while (changes && changes[n_chg])
		n_chg++;
	if (n_chg > PROC_ENV_MAX) {
		kerr_set(err, "proc.spawn", "%zu environment changes exceed the limit of %d", n_chg, PROC_ENV_MAX);
		return NULL;
	}
	out = calloc(n_env + n_chg + 1, sizeof *out);
	if (!out) {
		kerr_set(err, "proc.nomem", "out of memory for the child's environment");
		return NULL;
	}
	for (size_t i = 0; i < n_env; i++) {
		int drop = 0;
		for (size_t j = 0; j < n_chg && !drop; j++)
			drop = name_matches(environ[i], changes[j]);
		if (!drop)
			out[k++] = environ[i];
	}
	for (size_t j = 0; j < n_chg; j++)
		if (strchr(changes[j], '='))
			out[k++] = (char *)changes[j];
	out[k] = NULL;
	return out;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Drains one readable descriptor; closes it at end of file. */
static int drain(int *fd, struct capture *c, struct kerr *err)
{
	char chunk[READ_CHUNK_BYTES];
	ssize_t r = read(*fd, chunk, sizeof chunk);

	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (r < 0)
		return kerr_errno(err, "proc.io", "reading the child's output");
	if (r == 0) {
		close_fd(fd);
		return 0;
	}
	if (capture_add(c, chunk, (size_t)r) < 0)
		return kerr_set(err, "proc.nomem", "out of memory capturing the child's output");
	return 0;
}

/* CPU seconds the members of process group pgrp other than its leader
 * have used, their waited-for children's included, read from /proc. */
static double group_cpu_s(pid_t pgrp)
{
	DIR *d = opendir("/proc");
	long tick = sysconf(_SC_CLK_TCK);
	struct dirent *e;
	double sum = 0;

	if (!d || tick <= 0) {
		if (d)
			closedir(d);
		return 0;
	}
	while ((e = readdir(d))) {
		char path[64], buf[1024], *p;
		unsigned long long ut, st, cut, cst;
		long long grp;
		size_t n;
		FILE *f;

		if (e->d_name[0] < '1' || e->d_name[0] > '9' || atoll(e->d_name) == (long long)pgrp)
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[n] = '\0';
		/* "pid (comm) state ppid pgrp ...": comm may hold anything but
		 * ends at the last ')'; utime is the 14th field */
		if (!(p = strrchr(buf, ')')) ||
		    sscanf(p + 1, " %*c %*d %lld %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu", &grp, &ut, &st,
			   &cut, &cst) != 5 ||
		    grp != (long long)pgrp)
			continue;
		sum += (double)(ut + st + cut + cst) / (double)tick;
	}
	closedir(d);
	return sum;
}

/* Feeds stdin, drains both outputs, enforces the deadline. */
static int pump(pid_t pid, int *in_fd, int *out_fd, int *err_fd, const struct proc_opts *o,
		struct capture *co, struct capture *ce, int *timed_out, double *group_cpu, struct kerr *err)
{
	const char *in = o->stdin_data;
	size_t in_off = 0;
	long long deadline = o->timeout_ms > 0 ? now_ms() + o->timeout_ms : 0;

	while (*out_fd >= 0 || *err_fd >= 0 || *in_fd >= 0) {
		struct pollfd p[3];
		int np = 0, wait_ms = -1, in_i = -1, out_i = -1, err_i = -1;

		if (*in_fd >= 0 && in_off >= o->stdin_len)
			close_fd(in_fd); /* all fed: the child sees end of file */
		if (*in_fd >= 0) {
			in_i = np;
			p[np++] = (struct pollfd){ .fd = *in_fd, .events = POLLOUT };
		}
		if (*out_fd >= 0) {
			out_i = np;
			p[np++] = (struct pollfd){ .fd = *out_fd, .events = POLLIN };
		}
		if (*err_fd >= 0) {
			err_i = np;
			p[np++] = (struct pollfd){ .fd = *err_fd, .events = POLLIN };
		}
		if (np == 0)
			break;
		if (deadline) {
			long long left = deadline - now_ms();
			if (left <= 0) {
				/* the group while its leader is unreaped: the id
				 * cannot have been reused; what its members used is
				 * read first, since once killed no one reaps them */
				if (o->own_group) {
					kill(-pid, SIGSTOP);
					*group_cpu = group_cpu_s(pid);
				}
				kill(o->own_group ? -pid : pid, SIGKILL);
				*timed_out = 1;
				return 0; /* a grandchild may hold the pipes: stop reading */
			}
			wait_ms = left > 60000 ? 60000 : (int)left;
		}
		int r = poll(p, (nfds_t)np, wait_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return kerr_errno(err, "proc.io", "poll");
		if (in_i >= 0 && p[in_i].revents) {
			ssize_t w = write(*in_fd, in + in_off, o->stdin_len - in_off);
			if (w > 0)
				in_off += (size_t)w;
			else if (w < 0 && errno != EINTR && errno != EAGAIN)
				close_fd(in_fd); /* EPIPE: the child stopped reading, its choice */
		}
		if (out_i >= 0 && p[out_i].revents && drain(out_fd, co, err) < 0)
			return -1;
		if (err_i >= 0 && p[err_i].revents && drain(err_fd, ce, err) < 0)
			return -1;
	}
	return 0;
}

static int make_pipe(int fds[2], struct kerr *err)
{
	if (pipe2(fds, O_CLOEXEC) < 0)
		return kerr_errno(err, "proc.spawn", "pipe");
	return 0;
}

/* argv behind `prlimit --as=N --fsize=N --` when o asks for limits (see
 * proc_opts); argv itself otherwise. NULL when out of memory; the caller
 * frees what is not argv. */
static const char **with_limits(const char *const *argv, const struct proc_opts *o, char as[40], char fs[40],
				char cpu[40])
{
	size_t n = 0, k = 0;
	const char **v;

	if (!o->limit_as_bytes && !o->limit_fsize_bytes && !o->limit_cpu_s)
		return (const char **)argv;
	while (argv[n])
		n++;
	if (!(v = calloc(n + 6, sizeof *v)))
		return NULL;
	v[k++] = "prlimit";
	if (o->limit_as_bytes) {
		snprintf(as, 40, "--as=%llu", (unsigned long long)o->limit_as_bytes);
		v[k++] = as;
	}
	if (o->limit_fsize_bytes) {
		snprintf(fs, 40, "--fsize=%llu", (unsigned long long)o->limit_fsize_bytes);
		v[k++] = fs;
	}
	if (o->limit_cpu_s) {
		/* soft then hard: SIGXCPU says why (a compiler prints "CPU time
		 * limit exceeded"), SIGKILL a second later ends one that ignores it */
		snprintf(cpu, 40, "--cpu=%u:%u", o->limit_cpu_s, o->limit_cpu_s + 1);
		v[k++] = cpu;
	}
	v[k++] = "--";
	memcpy(v + k, argv, (n + 1) * sizeof *v);
	return v;
}

/* The spawn itself: descriptors, directory, signal state, environment. */
static int spawn(const char *const *argv_in, const struct proc_opts *o, int in_r, int out_w, int err_w,
		 const sigset_t *child_mask, pid_t *pid, struct kerr *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t def;
	char as[40], fs[40], cpu[40];
	const char **argv = with_limits(argv_in, o, as, fs, cpu);
	char **envp = argv ? build_env(o->env, err) : NULL;
	int rc = -1, e;

	if (!argv)
		return kerr_set(err, "proc.nomem", "out of memory");
	if (!envp) {
		if (argv != (const char **)argv_in)
			free(argv);
		return -1;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	if (in_r >= 0)
		posix_spawn_file_actions_adddup2(&fa, in_r, 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out_w, 1);
	posix_spawn_file_actions_adddup2(&fa, err_w, 2);
	if (o->cwd)
		posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
	/* The child starts with our original mask and default SIGPIPE even though
	 * this thread blocks SIGPIPE while it feeds the child. */
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	posix_spawnattr_setsigmask(&at, child_mask);
	posix_spawnattr_setsigdefault(&at, &def);
	if (o->own_group)
		posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
					      (o->own_group ? POSIX_SPAWN_SETPGROUP : 0));
	e = posix_spawnp(pid, argv[0], &fa, &at, (char *const *)argv, envp);
	if (e != 0) {
		kerr_set(err, "proc.spawn", "%s: cannot run%s%s: %s%s", argv[0], o->cwd ? " in " : "",
			 o->cwd ? o->cwd : "", strerror(e),
			 argv != (const char **)argv_in ? " (prlimit sets the limits asked for: install util-linux)" : "");
		goto out;
	}
	rc = 0;
out:
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	free(envp);
	if (argv != (const char **)argv_in)
		free(argv);
	return rc;
}

static void reap(pid_t pid, struct proc_result *res)
{
	struct rusage ru;
	int st;

	while (wait4(pid, &st, 0, &ru) < 0)
		if (errno != EINTR)
			return;
	res->cpu_s += (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
		      1e-6 * (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
	if (WIFEXITED(st))
		res->exit_code = WEXITSTATUS(st);
	else if (WIFSIGNALED(st))
		res->term_signal = WTERMSIG(st);
}

int proc_run(const char *const *argv, const struct proc_opts *opts, struct proc_result *res,
	     struct kerr *err)
{
	static const struct proc_opts none;
	const struct proc_opts *o = opts ? opts : &none;
	struct capture co = { .max = o->out_bytes_max ? o->out_bytes_max : PROC_CAPTURE_BYTES_DEFAULT };
	struct capture ce = { .max = o->err_bytes_max ? o->err_bytes_max : PROC_CAPTURE_BYTES_DEFAULT };
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, errp[2] = { -1, -1 };
	sigset_t pipe_set, old_mask, pending_before, pending_after;
	pid_t pid = -1;
	int rc = -1, masked = 0;

	memset(res, 0, sizeof *res);
	res->exit_code = -1;
	if (!argv || !argv[0])
		return kerr_set(err, "proc.spawn", "empty argument vector");
	if (capture_add(&co, "", 0) < 0 || capture_add(&ce, "", 0) < 0) {
		kerr_set(err, "proc.nomem", "out of memory");
		goto out;
	}
	if ((o->stdin_data && make_pipe(in, err) < 0) || make_pipe(out, err) < 0 || make_pipe(errp, err) < 0)
		goto out;
	if (in[1] >= 0)
		fcntl(in[1], F_SETFL, fcntl(in[1], F_GETFL) | O_NONBLOCK);
	/* Block SIGPIPE on this thread only, so a child that exits without
	 * reading its stdin costs us an EPIPE, not the process. */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigpending(&pending_before);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
	masked = 1;
	if (spawn(argv, o, in[0], out[1], errp[1], &old_mask, &pid, err) < 0)
		goto out;
	close_fd(&in[0]);
	close_fd(&out[1]);
	close_fd(&errp[1]);
	if (pump(pid, &in[1], &out[0], &errp[0], o, &co, &ce, &res->timed_out, &res->cpu_s, err) < 0) {
		kill(o->own_group ? -pid : pid, SIGKILL);
		close_fd(&out[0]);
		close_fd(&errp[0]);
		reap(pid, res);
		goto out;
	}
	close_fd(&in[1]);
	close_fd(&out[0]);
	close_fd(&errp[0]);
	reap(pid, res);
	rc = 0;
out:
	if (masked) {
		sigpending(&pending_after);
		if (sigismember(&pending_after, SIGPIPE) && !sigismember(&pending_before, SIGPIPE)) {
			struct timespec zero = { 0, 0 };
			sigtimedwait(&pipe_set, NULL, &zero);
		}
		pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	}
	close_fd(&in[0]);
	close_fd(&in[1]);
	close_fd(&out[0]);
	close_fd(&out[1]);
	close_fd(&errp[0]);
	close_fd(&errp[1]);
	res->out = co.buf;
	res->out_len = co.len;
	res->out_truncated = co.truncated;
	res->err = ce.buf;
	res->err_len = ce.len;
	res->err_truncated = ce.truncated;
	return rc;
}

void proc_result_free(struct proc_result *res)
{
	if (!res)
		return;
	free(res->out);
	free(res->err);
	res->out = res->err = NULL;
	res->out_len = res->err_len = 0;
}

void proc_first_line(const char *buf, char *out, size_t cap)
{
	size_t n = 0;

	if (!cap)
		return;
	while (buf && buf[n] && buf[n] != '\n' && n + 1 < cap)
		n++;
	if (n)
		memcpy(out, buf, n);
	out[n] = '\0';
}

int proc_find_on_path(const char *name, char *out, size_t cap)
{
	const char *path = getenv("PATH");
	char dirs[4096], *save = NULL;

	if (strchr(name, '/')) {
		if ((size_t)snprintf(out, cap, "%s", name) < cap && access(out, X_OK) == 0)
			return 0;
		out[0] = '\0';
		return -1;
	}
	snprintf(dirs, sizeof dirs, "%s", path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		if (d[0] != '/' || (size_t)snprintf(out, cap, "%s/%s", d, name) >= cap)
			continue;
		if (access(out, X_OK) == 0)
			return 0;
	}
	out[0] = '\0';
	return -1;
}
