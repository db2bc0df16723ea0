/* kill_parent: sends SIGTERM to the validator (its pid handed over as the
 * seed) from kr_create. The signal must be refused; the recipe goes on. */
#include <signal.h>

#include "sandbox/recipe_api.h"

int attack_create(const struct kr_env *env, char *name)
{
	if (kill((pid_t)env->seed, SIGTERM) == 0)
		return -1;
	return 0;
}
