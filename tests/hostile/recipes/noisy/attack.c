/* noisy: writes 4 MiB to stdout and 4 MiB to stderr in every training
 * step, then trains as usual. A validator under a service manager has a
 * pipe for its stderr; none of this may reach it. Expect the recipe to
 * work, with its output dropped. */
#include <string.h>
#include <unistd.h>

#include "sandbox/recipe_api.h"

#define NOISE_BYTES (4u << 20)
#define CHUNK 65536

void attack_train(int64_t step)
{
	static char buf[CHUNK];

	(void)step;
	memset(buf, 'x', sizeof buf);
	buf[sizeof buf - 1] = '\n';
	for (unsigned done = 0; done < NOISE_BYTES; done += CHUNK) {
		(void)!write(1, buf, sizeof buf);
		(void)!write(2, buf, sizeof buf);
	}
	memcpy(buf, "noisy: the last words\n", 22);
	(void)!write(2, buf, 22);
}
