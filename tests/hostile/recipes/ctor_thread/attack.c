/* ctor_thread: starts a thread from a constructor, before the runner's main
 * loads the inner layer, and has it make a call the inner layer forbids
 * and the outer one allows (getppid) once create has run, that is after
 * the inner layer is in force. Expect sandbox.violation: the inner layer
 * covers every thread of the runner, not only the one that loaded it. A
 * name of "escaped" would say the thread kept only the outer layer. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/recipe_api.h"

static atomic_int go, done;
static long got = -1;

static void *early_thread(void *arg)
{
	(void)arg;
	while (!atomic_load(&go))
		;
	got = syscall(SYS_getppid);
	atomic_store(&done, 1);
	return NULL;
}

__attribute__((constructor)) static void early(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, early_thread, NULL) == 0)
		pthread_detach(t);
}

int attack_create(const struct kr_env *env, char *name)
{
	(void)env;
	atomic_store(&go, 1);
	while (!atomic_load(&done))
		;
	snprintf(name, KR_NAME_MAX, "%s", got > 0 ? "escaped" : "refused");
	return 0;
}
