/* busy_loop: spins forever in kr_train_step. Expect sandbox.cpu_limit. */
#include "sandbox/recipe_api.h"

void attack_train(int64_t step)
{
	volatile unsigned long n = 0;

	for (;;)
		n++;
}
