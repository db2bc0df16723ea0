/* slow_logits: sleeps a little in every kr_logits call, each call well
 * under any per-call timeout, so only an overall deadline ends the many
 * calls of an evaluation. Expect recipe.deadline. */
#include <time.h>

#include "sandbox/recipe_api.h"

#define NAP_NS 250000000L /* 0.25 s a call */

void attack_logits(void)
{
	struct timespec t = { 0, NAP_NS };

	nanosleep(&t, NULL);
}
