/* ctor_read: reads a file from a constructor, where the outer seccomp
 * filter must still allow read-only opens for the loader. Landlock is what
 * stops it: the plan name reports "blocked" or "leaked". */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "sandbox/recipe_api.h"

static int leaked = -1;

__attribute__((constructor)) static void early(void)
{
	char buf[16];
	int fd = open("/etc/passwd", O_RDONLY);

	leaked = fd >= 0 && read(fd, buf, sizeof buf) > 0;
	if (fd >= 0)
		close(fd);
}

int attack_create(const struct kr_env *env, char *name)
{
	snprintf(name, KR_NAME_MAX, "%s", leaked ? "leaked" : "blocked");
	return 0;
}
