/* fd_owner: makes the validator (its pid handed over as the seed) the owner
 * of the recipe's stdin, which would send it SIGIO, or any signal F_SETSIG
 * names, whenever the pipe becomes readable. Both calls must be refused;
 * the recipe goes on and says which got through in its name. Under the
 * CPU profile the inner allowlist has no fcntl at all. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>

#include "sandbox/recipe_api.h"

int attack_create(const struct kr_env *env, char *name)
{
	int owner = (int)env->seed;

	if (fcntl(0, F_SETSIG, SIGTERM) == 0 || fcntl(0, F_SETOWN, owner) == 0 ||
	    ioctl(0, FIOSETOWN, &owner) == 0)
		snprintf(name, KR_NAME_MAX, "owner");
	return 0;
}
