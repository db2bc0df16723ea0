/* stdout_garbage: prints to stdout and writes fd 1 directly in every step.
 * The runner points fd 1 at stderr before any recipe code runs, so the
 * protocol is untouched: expect the recipe to work. */
#include <stdio.h>
#include <unistd.h>

#include "sandbox/recipe_api.h"

void attack_train(int64_t step)
{
	printf("KRW1 not a frame %lld\n", (long long)step);
	fflush(stdout);
	(void)!write(1, "\x4b\x52\x57\x31garbage\n", 12);
}
