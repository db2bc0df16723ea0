/* buildbox.h: the compiler's confinement while it reads a recipe. The
 * compiler is trusted code, but its input is a stranger's: an #include, an
 * .incbin or a #line that check 1 (diffscan.h) does not catch would have
 * it read any file the validator can, its secret key among them, and quote
 * it into an object or a diagnostic. Under a buildbox the compiler, the
 * assembler and the linker read the system's toolchain and the folders
 * named, write only the build's own folders, and reach nothing over TCP
 * (Landlock, landlock.h). Owns the ruleset and the thread each tool is
 * started from: Landlock confines the thread that asks and what it starts,
 * so the restriction lands on the tool and never on the validator's other
 * threads. */
#ifndef KARPA_BUILDBOX_H
#define KARPA_BUILDBOX_H

#include "util/kerr.h"
#include "util/proc.h"

struct buildbox {
	int fd;  /* the Landlock ruleset; -1: the tools run unconfined */
	int abi; /* the kernel's Landlock ABI; 0: it has none */
};

/* A ruleset granting: reading and executing beneath the system's program
 * folders (/usr, /bin, /sbin, /lib*) and beneath each tool's installation
 * (the folder above the bin/ it lives in, found on PATH); reading /etc,
 * the absolute folders of CPATH, C_INCLUDE_PATH, CPLUS_INCLUDE_PATH,
 * LIBRARY_PATH and LD_LIBRARY_PATH, each -I/dir and -L/dir in the
 * strings of flags, and beneath each folder of read; every file right
 * beneath each folder of write, and /dev/null. Lists end with NULL; a
 * NULL list is empty.
 * A kernel without Landlock gives an unconfined box (fd -1, 0 returned):
 * the caller says so where it matters. Errors: sandbox.setup (a rule the
 * kernel refused, with the path). */
int buildbox_open(struct buildbox *bb, const char *const *read, const char *const *write, const char *const *tools,
		  const char *const *flags, struct kerr *err);

/* proc_run(argv, po, pr) from a thread confined to bb. pr is always
 * initialised. Errors: proc_run's, and sandbox.setup when the thread could
 * not be started or confined (then nothing ran). */
int buildbox_run(const struct buildbox *bb, const char *const *argv, const struct proc_opts *po,
		 struct proc_result *pr, struct kerr *err);

/* Closes the ruleset; bb may be unopened (fd -1) or zeroed by the caller. */
void buildbox_close(struct buildbox *bb);

#endif
