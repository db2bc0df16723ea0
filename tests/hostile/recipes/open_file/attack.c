/* open_file: reads /etc/passwd with open(2) in kr_create. Expect
 * sandbox.violation: the inner allowlist has no open. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "sandbox/recipe_api.h"

int attack_create(const struct kr_env *env, char *name)
{
	char buf[64];
	int fd = open("/etc/passwd", O_RDONLY);

	if (fd >= 0 && read(fd, buf, sizeof buf) > 0)
		snprintf(name, KR_NAME_MAX, "leaked");
	return 0;
}
