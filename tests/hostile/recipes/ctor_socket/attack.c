/* ctor_socket: opens a socket from a constructor, before the runner's main
 * (and so before the inner layer). Expect sandbox.violation from the outer
 * layer. */
#include <sys/socket.h>

#include "sandbox/recipe_api.h"

__attribute__((constructor)) static void early(void)
{
	(void)socket(AF_INET, SOCK_STREAM, 0);
}
