/* ctor_host: from a constructor, before the runner's main and so before
 * the inner layer (which a constructor may keep from loading), the calls
 * that reach past the recipe's own process into the host's: pinning the
 * validator's CPUs and its own by pid (not 0), punching a hole in a shared
 * mapping (what would be done to the bulk region), watching a folder,
 * clearing the parent-death signal, and file_setattr (469, Linux 6.17) on
 * the validator's own test file. Each result is one letter of the plan
 * name: 'r' refused as the outer layer refuses it, anything else says what
 * went through. Expect "rrrrrr". */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/recipe_api.h"

static char got[8] = "??????";

/* 'r' when the call failed with want, 'x' when it went through, 'e' for
 * another error */
static char seen(long rc, int want)
{
	return rc == 0 || rc > 0 ? 'x' : errno == want ? 'r' : 'e';
}

__attribute__((constructor)) static void early(void)
{
	cpu_set_t one;
	struct {
		uint64_t xflags;
		uint32_t extsize, nextents, projid, cowextsize;
	} fa = { 0 };
	char victim[64];
	size_t len = (size_t)1 << 16;
	char *m;

	CPU_ZERO(&one);
	CPU_SET(0, &one);
	got[0] = seen(sched_setaffinity(getppid(), sizeof one, &one), EPERM);
	got[1] = seen(sched_setaffinity(getpid(), sizeof one, &one), EPERM);
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m != MAP_FAILED) {
		m[0] = 1;
		got[2] = seen(madvise(m, len, MADV_REMOVE), EPERM);
		munmap(m, len);
	}
	got[3] = seen(inotify_init1(0), EPERM);
	got[4] = seen(prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0), EPERM);
	/* the test made this file, the validator's, outside every rule */
	snprintf(victim, sizeof victim, "/tmp/karpa-ctor-host-%d", (int)getppid());
	fa.xflags = 0x80; /* FS_XFLAG_NODUMP */
	got[5] = seen(syscall(469, AT_FDCWD, victim, &fa, sizeof fa, 0), ENOSYS);
}

int attack_create(const struct kr_env *env, char *name)
{
	(void)env;
	snprintf(name, KR_NAME_MAX, "%s", got);
	return 0;
}
