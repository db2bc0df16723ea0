/* fuzz.h: what the libFuzzer targets share. Most parsers in the project take
 * a path, not bytes, because what they verify lives on disk; a target writes
 * its input into a private scratch folder (on /dev/shm when there is one, so
 * that a run does not wear a disk) and calls the real entry point on it.
 * Every target fails loudly (abort) on a broken invariant, which libFuzzer
 * reports as a crash with the input that caused it. */
#ifndef KARPA_FUZZ_H
#define KARPA_FUZZ_H

#include <fcntl.h>
#include <sys/stat.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/fsutil.h"
#include "util/kerr.h"

/* Prints why and aborts: an invariant of the code under test broke. */
#define FUZZ_ASSERT(cond)                                                                 \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                          \
		}                                                                         \
	} while (0)

static inline void fuzz_scratch_remove(void);

/* This process's scratch folder, made on first use and also handed to the
 * code under test as TMPDIR (bundle_dir_open unpacks a tar there). */
static inline const char *fuzz_scratch(void)
{
	static char dir[256];

	if (!dir[0]) {
		const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");

		snprintf(dir, sizeof dir, "%s/karpa-fuzz-XXXXXX", base);
		if (!mkdtemp(dir)) {
			perror("fuzz: mkdtemp");
			abort();
		}
		setenv("TMPDIR", dir, 1);
		atexit(fuzz_scratch_remove);
	}
	return dir;
}

static inline void fuzz_scratch_remove(void)
{
	fs_rm_rf(fuzz_scratch());
}

/* scratch/name, made fresh (removed first). */
static inline const char *fuzz_fresh_dir(const char *name, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s", fuzz_scratch(), name);
	fs_rm_rf(out);
	if (mkdir(out, 0700) < 0) {
		perror("fuzz: mkdir");
		abort();
	}
	return out;
}

/* Writes exactly n bytes to path (plain write: speed over durability). */
static inline void fuzz_write(const char *path, const void *buf, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	const char *p = buf;

	if (fd < 0) {
		perror(path);
		abort();
	}
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w <= 0) {
			perror(path);
			abort();
		}
		p += w;
		n -= (size_t)w;
	}
	close(fd);
}

/* With KARPA_FUZZ_VERBOSE set, says why an input was refused: how to see
 * whether a seed gets as deep into the code as it should. */
static inline void fuzz_note(const char *what, const struct kerr *err)
{
	if (getenv("KARPA_FUZZ_VERBOSE"))
		fprintf(stderr, "%s: %s: %s\n", what, err->code, err->msg);
}

/* Copies a seed file (a real one from the corpus) into the scratch tree. */
static inline void fuzz_copy(const char *src, const char *dst)
{
	struct kerr err;

	if (fs_copy_file(src, dst, &err) < 0) {
		fprintf(stderr, "fuzz: %s\n", err.msg);
		abort();
	}
}

static inline const char *fuzz_src(void);

/* scratch/name made fresh and holding copies of tests/fuzz/fixture/FIXTURE/
 * FILES[0..n): the real files a target's input sits beside. */
static inline const char *fuzz_fixture_dir(const char *name, const char *fixture, const char *const *files,
					   size_t n, char *out, size_t cap)
{
	char src[1024], dst[1024];

	fuzz_fresh_dir(name, out, cap);
	for (size_t i = 0; i < n; i++) {
		snprintf(src, sizeof src, "%s/fixture/%s/%s", fuzz_src(), fixture, files[i]);
		snprintf(dst, sizeof dst, "%s/%s", out, files[i]);
		if (strchr(files[i], '/')) {
			*strrchr(dst, '/') = '\0';
			mkdir(dst, 0700);
			snprintf(dst, sizeof dst, "%s/%s", out, files[i]);
		}
		fuzz_copy(src, dst);
	}
	return out;
}

/* The folder the target's fixed inputs live in: $KARPA_FUZZ_DIR (the
 * repository's tests/fuzz, set by the Makefile) or ./tests/fuzz. */
static inline const char *fuzz_src(void)
{
	const char *d = getenv("KARPA_FUZZ_DIR");

	return d && *d ? d : "tests/fuzz";
}

#endif
