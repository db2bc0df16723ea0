/* protocol_fd: writes garbage to the runner's real protocol fd (the dup of
 * the original fd 1: the first pipe above stderr, since the bulk region
 * holds fd 3) before the step's answer. Expect recipe.protocol. */
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/recipe_api.h"

void attack_train(int64_t step)
{
	static const char junk[32] = "not a wire header, just junk...";
	struct stat st;

	(void)step;
	for (int fd = 3; fd < 16; fd++)
		if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode)) {
			(void)!write(fd, junk, sizeof junk);
			return;
		}
}
