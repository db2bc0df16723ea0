/* fopen_file: reads a system file through stdio in kr_create. Expect
 * sandbox.violation (fopen is openat underneath). */
#include <stdio.h>

#include "sandbox/recipe_api.h"

int attack_create(const struct kr_env *env, char *name)
{
	FILE *f = fopen("/etc/hostname", "r");

	if (f && fgets(name, KR_NAME_MAX, f))
		fclose(f);
	return 0;
}
