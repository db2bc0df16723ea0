/* exit_setup: exits in kr_create with the code the sandbox's preparation
 * uses for a refused layer (RECIPE_PIPE_EXIT_PREPARE, 125). Expect
 * recipe.died: a recipe must not pass for a machine that cannot be
 * sandboxed (a miner stops on sandbox.setup). */
#include <unistd.h>

#include "sandbox/recipe_api.h"

int attack_create(const struct kr_env *env, char *name)
{
	(void)env;
	(void)name;
	_exit(125);
}
