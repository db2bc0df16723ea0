/* sleeper: sleeps forever in kr_logits, using no CPU. Expect
 * recipe.timeout from the host's per-call wall clock. */
#include <time.h>

#include "sandbox/recipe_api.h"

void attack_logits(void)
{
	for (;;) {
		struct timespec t = { 1000, 0 };
		nanosleep(&t, NULL);
	}
}
