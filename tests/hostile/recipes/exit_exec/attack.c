/* exit_exec: exits in kr_create with the code a failed exec of the runner
 * leaves (RECIPE_PIPE_EXIT_EXEC, 127). Expect recipe.died: the child says
 * when its exec failed, so a recipe cannot pass for a runner the sandbox
 * could not start (a miner stops on sandbox.setup). */
#include <unistd.h>

#include "sandbox/recipe_api.h"

int attack_create(const struct kr_env *env, char *name)
{
	(void)env;
	(void)name;
	_exit(127);
}
