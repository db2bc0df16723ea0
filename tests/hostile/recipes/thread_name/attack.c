/* thread_name: does what the CUDA driver does when it starts a thread
 * (a traced GPU runner showed it; docs/gpu.md): opens its own
 * /proc/self/task/<tid>/comm for writing and names the thread. A driver
 * that cannot do so fails its first call, so the GPU profile must allow
 * it. Then it tries what that grant must not reach, each of which works
 * without the sandbox: reading the validator's /proc entry (its pid
 * handed over as the seed), reading its own thread's mountinfo (the
 * host's mounts) through the granted task/ folder, and writing its own
 * process-wide oom_score_adj. The name says what worked: "named" alone is
 * the right outcome; a "+..." would be an escape. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/recipe_api.h"

static int write_path(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int ok;

	if (fd < 0)
		return 0;
	ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	close(fd);
	return ok;
}

static int read_path(const char *path)
{
	char buf[64];
	int fd = open(path, O_RDONLY | O_CLOEXEC), ok;

	if (fd < 0)
		return 0;
	ok = read(fd, buf, sizeof buf) > 0;
	close(fd);
	return ok;
}

struct probe {
	int named, mounts;
};

static void *worker(void *arg)
{
	struct probe *p = arg;
	char path[96];
	long tid = (long)syscall(SYS_gettid);

	snprintf(path, sizeof path, "/proc/self/task/%ld/comm", tid);
	p->named = write_path(path, "karpa-gpu-w\n");
	snprintf(path, sizeof path, "/proc/self/task/%ld/mountinfo", tid);
	p->mounts = read_path(path);
	return NULL;
}

int attack_create(const struct kr_env *env, char *name)
{
	struct probe p = { 0, 0 };
	char path[96];
	pthread_t t;

	if (pthread_create(&t, NULL, worker, &p) == 0)
		pthread_join(t, NULL);
	snprintf(name, KR_NAME_MAX, "%s", p.named ? "named" : "unnamed");
	if (p.mounts)
		strncat(name, "+mounts", KR_NAME_MAX - strlen(name) - 1);
	snprintf(path, sizeof path, "/proc/%llu/status", (unsigned long long)env->seed);
	if (read_path(path))
		strncat(name, "+validator", KR_NAME_MAX - strlen(name) - 1);
	if (write_path("/proc/self/oom_score_adj", "1000\n"))
		strncat(name, "+oom", KR_NAME_MAX - strlen(name) - 1);
	return 0;
}
