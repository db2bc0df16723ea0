/* stall_step: training step 2 never returns and uses no CPU, as a deadlock
 * among a recipe's threads would. Expect recipe.timeout from the harness's
 * stall bound (TRAIN_STALL_FACTOR), long before the host's own limit. */
#include <time.h>

#include "sandbox/recipe_api.h"

void attack_train(int64_t step)
{
	while (step == 2) {
		struct timespec t = { 1000, 0 };
		nanosleep(&t, NULL);
	}
}
