/* exec_shell: replaces the runner with a shell in kr_create. Expect
 * sandbox.violation. */
#include <unistd.h>

#include "sandbox/recipe_api.h"

int attack_create(const struct kr_env *env, char *name)
{
	char *argv[] = { "/bin/sh", "-c", "true", NULL };
	char *envp[] = { NULL };

	execve("/bin/sh", argv, envp);
	return 0;
}
