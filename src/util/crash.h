/* crash.h: fault injection for crash-safety tests. Owns the one switch:
 * in a build with KARPA_TEST_HOOKS (the sanitizer build the tests run),
 * crash_point(name) ends the process at once with _exit(CRASH_EXIT) when
 * the environment's CRASH_ENV names that point, skipping every cleanup as
 * kill -9 would; in the release build it compiles to nothing, so a release
 * binary cannot be told to crash by its environment. */
#ifndef KARPA_CRASH_H
#define KARPA_CRASH_H

#define CRASH_ENV "KARPA_CRASH_AT"
#define CRASH_EXIT 99

#ifdef KARPA_TEST_HOOKS
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline void crash_point(const char *name)
{
	const char *at = getenv(CRASH_ENV);

	if (at && !strcmp(at, name))
		_exit(CRASH_EXIT);
}
#else
static inline void crash_point(const char *name)
{
	(void)name;
}
#endif

#endif
