/* landlock.h: the kernel's Landlock, as this project uses it. Owns asking
 * which ABI the kernel offers, making a ruleset that handles every right
 * that ABI knows (so whatever no rule grants is refused), and adding a rule
 * beneath a path. The policies, which paths get which rights, stay with
 * their users: sandbox.c for a recipe's runner, buildbox.c for the
 * compiler that reads a recipe. */
#ifndef KARPA_LANDLOCK_H
#define KARPA_LANDLOCK_H

#include <linux/landlock.h>
#include <stdint.h>

/* Rights newer than the installed headers may know (kernel ABI values). */
#define LL_FS_TRUNCATE (1ULL << 14)  /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#define LL_NET_BIND_TCP (1ULL << 0)  /* ABI 4 */
#define LL_NET_CONNECT_TCP (1ULL << 1)
#define LL_SCOPE_ABSTRACT_UNIX (1ULL << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ULL << 1)

/* Reading a file, and listing a folder's entries beneath a rule. */
#define LL_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)

/* Rights that only a folder can be given (the kernel refuses a rule that
 * grants them on a file with EINVAL); ll_allow drops them for a file. */
#define LL_DIR_ONLY (LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE | \
		     LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |       \
		     LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |    \
		     LANDLOCK_ACCESS_FS_MAKE_SYM)

/* What a ruleset made by ll_ruleset_new handles beyond the filesystem. */
enum {
	LL_HANDLES_NET = 1u << 0,   /* every TCP bind and connect is refused (ABI >= 4) */
	LL_HANDLES_SCOPE = 1u << 1, /* no signals to, no abstract sockets with, anything outside (ABI >= 6) */
};

/* The kernel's Landlock ABI version; 0 when it has none (or it is off). */
int ll_abi(void);

/* Every filesystem right ABI abi knows: a ruleset handling these refuses
 * them wherever no rule grants them. */
uint64_t ll_fs_rights(int abi);

/* A ruleset for abi (>= 1) handling ll_fs_rights(abi), TCP from ABI 4 and
 * the scopes from ABI 6, with no rules yet. Returns its descriptor
 * (close-on-exec), or -1 with errno; *handles gets LL_HANDLES_* bits. */
int ll_ruleset_new(int abi, unsigned *handles);

/* Grants access beneath path (or on it, for a file: then LL_DIR_ONLY is
 * dropped). A path this system lacks is skipped (0): a library folder one
 * distribution has and another does not. -1 with errno otherwise. */
int ll_allow(int ruleset, const char *path, uint64_t access);

#endif
