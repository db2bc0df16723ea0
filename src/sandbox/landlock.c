/* landlock.c: Landlock rulesets by raw system call (glibc has no wrappers).
 * See landlock.h. */
#include "sandbox/landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The ruleset attribute as of ABI 6; an older kernel is given a prefix. */
struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

int ll_abi(void)
{
	int abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);

	return abi > 0 ? abi : 0;
}

uint64_t ll_fs_rights(int abi)
{
	uint64_t fs = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1; /* ABI 1: bits 0..12 */

	if (abi >= 2)
		fs |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		fs |= LL_FS_TRUNCATE;
	if (abi >= 5)
		fs |= LL_FS_IOCTL_DEV;
	return fs;
}

int ll_ruleset_new(int abi, unsigned *handles)
{
	struct ll_ruleset_attr attr = { 0 };
	size_t attr_size = sizeof attr.handled_access_fs;

	*handles = 0;
	if (abi < 1) {
		errno = EOPNOTSUPP;
		return -1;
	}
	attr.handled_access_fs = ll_fs_rights(abi);
	if (abi >= 4) {
		/* no rules for TCP: every bind and connect is refused */
		attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
		attr_size = offsetof(struct ll_ruleset_attr, scoped);
		*handles |= LL_HANDLES_NET;
	}
	if (abi >= 6) {
		attr.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
		attr_size = sizeof attr;
		*handles |= LL_HANDLES_SCOPE;
	}
	return (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
}

int ll_allow(int ruleset, const char *path, uint64_t access)
{
	struct landlock_path_beneath_attr pb = { .allowed_access = access };
	struct stat st;
	int rc, saved;

	pb.parent_fd = open(path, O_PATH | O_CLOEXEC);
	if (pb.parent_fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(pb.parent_fd, &st) == 0 && !S_ISDIR(st.st_mode))
		pb.allowed_access &= ~(uint64_t)LL_DIR_ONLY;
	rc = (int)syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
	saved = errno;
	close(pb.parent_fd);
	errno = saved;
	return rc;
}
