/* socket_connect: connects to 127.0.0.1 on the port the test listens on
 * (handed over as the seed). Expect sandbox.violation and no connection. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "sandbox/recipe_api.h"

int attack_create(const struct kr_env *env, char *name)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)env->seed) };
	int s = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0)
		return -1;
	return 0;
}
