/* madv_remove: punches a hole in shared memory with madvise(MADV_REMOVE),
 * what a runner would do to the bulk region (recipe_wire.h) under the
 * host's mapping so that the host's copy faults pages in again, maybe where
 * memory has run out. Here on a shared anonymous mapping, where it works
 * without the sandbox. The inner layer refuses it (EPERM): expect
 * "refused"; "punched" would say it went through. */
#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>

#include "sandbox/recipe_api.h"

int attack_create(const struct kr_env *env, char *name)
{
	size_t len = (size_t)1 << 20;
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int rc;

	(void)env;
	if (m == MAP_FAILED) {
		snprintf(name, KR_NAME_MAX, "nomap");
		return 0;
	}
	m[0] = 1;
	rc = madvise(m, len, MADV_REMOVE);
	snprintf(name, KR_NAME_MAX, "%s", rc == 0 ? "punched" : errno == EPERM ? "refused" : "failed");
	munmap(m, len);
	return 0;
}
