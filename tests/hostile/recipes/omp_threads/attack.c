/* omp_threads: asks OpenMP for 64 threads with a num_threads clause,
 * which overrides OMP_NUM_THREADS, and says in its name how many it got.
 * The sandbox's OMP_THREAD_LIMIT must hold it to the threads it was given:
 * RLIMIT_NPROC does not bind a validator running as root. */
#include <omp.h>
#include <stdio.h>

#include "sandbox/recipe_api.h"

int attack_create(const struct kr_env *env, char *name)
{
	int got = 0;

	(void)env;
#pragma omp parallel num_threads(64)
	{
#pragma omp single
		got = omp_get_num_threads();
	}
	snprintf(name, KR_NAME_MAX, "threads%d", got);
	return 0;
}
