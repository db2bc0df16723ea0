/* write_file: creates /tmp/karpa-sandbox-escape-<seed> in kr_create.
 * Expect sandbox.violation and no such file. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "sandbox/recipe_api.h"

int attack_create(const struct kr_env *env, char *name)
{
	char path[128];
	int fd;

	snprintf(path, sizeof path, "/tmp/karpa-sandbox-escape-%llu", (unsigned long long)env->seed);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0 && write(fd, "escaped\n", 8) == 8)
		close(fd);
	return 0;
}
