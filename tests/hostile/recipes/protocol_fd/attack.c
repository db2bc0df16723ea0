/* protocol_fd: writes garbage to the runner's real protocol fd (the dup of
 * the original fd 1, which is fd 3 in a sandboxed runner) before the step's
 * answer. Expect recipe.protocol. */
#include <unistd.h>

#include "sandbox/recipe_api.h"

#define RUNNER_PROTOCOL_FD 3

void attack_train(int64_t step)
{
	static const char junk[32] = "not a wire header, just junk...";

	(void)!write(RUNNER_PROTOCOL_FD, junk, sizeof junk);
}
