/* fork: starts a second process in kr_create. Expect sandbox.violation. */
#include <unistd.h>

#include "sandbox/recipe_api.h"

int attack_create(const struct kr_env *env, char *name)
{
	pid_t p = fork();

	if (p == 0)
		_exit(0);
	return 0;
}
