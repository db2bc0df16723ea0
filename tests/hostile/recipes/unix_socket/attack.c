/* unix_socket: does what the CUDA driver does at its first call (a traced
 * GPU runner showed it; docs/sandbox.md, "A GPU runner"): a Unix socket
 * bound to an abstract name and listened on, after unlinking that name,
 * which the GPU profile must allow. Then what that must not open up, each
 * of which works without the sandbox: connecting to a socket the validator
 * listens on, by path and by abstract name (both named from the test's
 * pid), binding a socket to a path, and sockets of other families. Once
 * from a constructor (the outer layer alone) and once from create (both
 * layers). The name says what worked: "sock.bound-early-sock.bound" is the
 * right outcome; a "+..." would be an escape. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sandbox/recipe_api.h"

/* A path, or an abstract name when it starts with '@'. */
static socklen_t unix_addr(struct sockaddr_un *a, const char *name)
{
	size_t n = strlen(name);

	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	if (n >= sizeof a->sun_path)
		n = sizeof a->sun_path - 1;
	memcpy(a->sun_path, name, n);
	if (name[0] == '@')
		a->sun_path[0] = '\0';
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (name[0] != '@'));
}

static int reach(const char *name)
{
	struct sockaddr_un a;
	socklen_t len = unix_addr(&a, name);
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), ok;

	if (s < 0)
		return 0;
	ok = connect(s, (struct sockaddr *)&a, len) == 0;
	close(s);
	return ok;
}

static int family_opens(int family, int type)
{
	int s = socket(family, type | SOCK_CLOEXEC, 0);

	if (s < 0)
		return 0;
	close(s);
	return 1;
}

static void add(char *name, const char *what)
{
	strncat(name, what, KR_NAME_MAX - strlen(name) - 1);
}

/* Every probe, named from id (the test's pid): "sock.bound" is right. */
static void probe(unsigned long long id, char *name)
{
	char own[64], path[96];
	struct sockaddr_un a;
	socklen_t len;
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), p;

	snprintf(name, KR_NAME_MAX, "%s", s >= 0 ? "sock" : "nosock");
	snprintf(own, sizeof own, "@karpa-uvmfd-test-%d", (int)getpid());
	len = unix_addr(&a, own);
	/* the driver unlinks the name first (an empty path for an abstract
	 * one) and gives up unless that says ENOENT */
	if (s >= 0 && (unlink(a.sun_path) == 0 || errno == ENOENT) && bind(s, (struct sockaddr *)&a, len) == 0 &&
	    listen(s, 4) == 0)
		add(name, ".bound");
	snprintf(path, sizeof path, "/tmp/karpa-sandbox-unix-%llu", id);
	if (reach(path))
		add(name, "+path");
	snprintf(path, sizeof path, "@karpa-sandbox-abs-%llu", id);
	if (reach(path))
		add(name, "+abstract");
	snprintf(path, sizeof path, "/tmp/karpa-sandbox-bind-%llu", id);
	len = unix_addr(&a, path);
	p = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (p >= 0 && bind(p, (struct sockaddr *)&a, len) == 0)
		add(name, "+pathbind");
	if (family_opens(AF_INET, SOCK_STREAM))
		add(name, "+inet");
	if (family_opens(AF_NETLINK, SOCK_RAW))
		add(name, "+netlink");
	if (family_opens(AF_VSOCK, SOCK_STREAM))
		add(name, "+vsock");
	if (p >= 0)
		close(p);
	if (s >= 0)
		close(s);
}

/* The same from a constructor, before the runner's main loads the inner
 * layer: the outer layer alone must hold. The test's pid is the parent's
 * here (no pid namespace), which getppid gives before main. */
static char early[KR_NAME_MAX];

__attribute__((constructor)) static void probe_early(void)
{
	probe((unsigned long long)getppid(), early);
}

int attack_create(const struct kr_env *env, char *name)
{
	probe((unsigned long long)env->seed, name);
	add(name, "-early-");
	add(name, early);
	return 0;
}
