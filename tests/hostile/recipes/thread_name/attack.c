/* thread_name: does what the CUDA driver does when it starts a thread
 * (a traced GPU runner showed it; docs/gpu.md): opens its own
 * /proc/self/task/<tid>/comm for writing and names the thread. A driver
 * that cannot do so fails its first call, so the GPU profile must allow
 * it. Then it tries the same on the validator (its pid handed over as the
 * seed) and on its own process-wide files outside task/, which the profile
 * must refuse. The name says what worked: "named" alone is the right
 * outcome; "+validator" or "+oom" would be an escape. */
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

static void *worker(void *arg)
{
	char path[96];

	snprintf(path, sizeof path, "/proc/self/task/%ld/comm", (long)syscall(SYS_gettid));
	*(int *)arg = write_path(path, "karpa-gpu-w\n");
	return NULL;
}

int attack_create(const struct kr_env *env, char *name)
{
	char path[96];
	pthread_t t;
	int named = 0;

	if (pthread_create(&t, NULL, worker, &named) == 0)
		pthread_join(t, NULL);
	snprintf(name, KR_NAME_MAX, "%s", named ? "named" : "unnamed");
	snprintf(path, sizeof path, "/proc/%llu/comm", (unsigned long long)env->seed);
	if (write_path(path, "hijacked\n"))
		strncat(name, "+validator", KR_NAME_MAX - strlen(name) - 1);
	if (write_path("/proc/self/oom_score_adj", "1000\n"))
		strncat(name, "+oom", KR_NAME_MAX - strlen(name) - 1);
	return 0;
}
