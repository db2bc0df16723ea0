/* crash.h: fault injection for crash-safety and race tests. Owns the two
 * switches: in a build with KARPA_TEST_HOOKS (the sanitizer build the tests
 * run), crash_point(name) ends the process at once with _exit(CRASH_EXIT)
 * when the environment's CRASH_ENV names that point, skipping every
 * cleanup as kill -9 would; and it holds the process there when
 * CRASH_WAIT_ENV reads "name:PATH": it creates PATH.reached, then waits
 * until PATH exists, so a test can run another process in between (two
 * judgments of one state interleaved at a chosen point); a test that
 * failed before releasing it leaves no process behind, as after
 * CRASH_WAIT_MAX_S the wait ends as a crash would. In the release
 * build it compiles to nothing, so a release binary cannot be told to
 * crash or wait by its environment. */
#ifndef KARPA_CRASH_H
#define KARPA_CRASH_H

#define CRASH_ENV "KARPA_CRASH_AT"
#define CRASH_WAIT_ENV "KARPA_WAIT_AT"
#define CRASH_EXIT 99
#define CRASH_WAIT_MAX_S 600

#ifdef KARPA_TEST_HOOKS
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline void crash_wait(const char *name)
{
	const char *at = getenv(CRASH_WAIT_ENV), *path;
	char reached[4096];
	size_t n = strlen(name);
	int fd;

	if (!at || strncmp(at, name, n) || at[n] != ':')
		return;
	path = at + n + 1;
	snprintf(reached, sizeof reached, "%s.reached", path);
	if ((fd = open(reached, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)) >= 0)
		close(fd);
	for (long waited_ms = 0; access(path, F_OK) != 0; waited_ms += 20) {
		if (waited_ms >= CRASH_WAIT_MAX_S * 1000L)
			_exit(CRASH_EXIT);
		usleep(20 * 1000);
	}
}

static inline void crash_point(const char *name)
{
	const char *at = getenv(CRASH_ENV);

	if (at && !strcmp(at, name))
		_exit(CRASH_EXIT);
	crash_wait(name);
}
#else
static inline void crash_point(const char *name)
{
	(void)name;
}
#endif

#endif
