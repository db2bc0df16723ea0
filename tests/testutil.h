/* testutil.h: shared helpers for the cmocka tests: temporary folders that
 * clean themselves, running the karpa binary and capturing its exit code and
 * output, and locating cached inputs prepared by scripts/setup.sh. */
#ifndef KARPA_TESTUTIL_H
#define KARPA_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <time.h>

#include "util/fsutil.h"

/* A fresh directory under $TMPDIR; caller frees with tu_rmdir. */
static inline char *tu_mkdtemp(void)
{
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *p = malloc(FS_PATH_MAX);

	assert_non_null(p);
	snprintf(p, FS_PATH_MAX, "%s/karpa-test-XXXXXX", base);
	assert_non_null(mkdtemp(p));
	return p;
}

static inline void tu_rmdir(char *p)
{
	if (p) {
		fs_rm_rf(p);
		free(p);
	}
}

/* A fresh work folder whose cache/ is KARPA_CACHE from now on: what a test
 * builds or downloads is its own doing, and never the user's cache. Freed
 * with tu_rmdir. */
static inline char *tu_mkdtemp_own_cache(void)
{
	char *dir = tu_mkdtemp(), cache[FS_PATH_MAX];

	snprintf(cache, sizeof cache, "%s/cache", dir);
	setenv("KARPA_CACHE", cache, 1);
	return dir;
}

/* Writes text as root/rel, making its folders (a fake /proc tree, a
 * recipe folder). */
static inline void tu_put(const char *root, const char *rel, const char *text)
{
	char path[FS_PATH_MAX], dir[FS_PATH_MAX];
	struct kerr err;

	snprintf(path, sizeof path, "%s/%s", root, rel);
	snprintf(dir, sizeof dir, "%s", path);
	*strrchr(dir, '/') = '\0';
	assert_int_equal(fs_mkdir_p(dir, &err), 0);
	assert_int_equal(fs_write_atomic(path, text, strlen(text), &err), 0);
}

/* Entries in dir other than . and ..: a scratch file left behind shows here. */
static inline int tu_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

/* The release karpa binary by default (fast); KARPA_BIN (sanitized) when a
 * test wants sanitizers on the CLI path. */
static inline const char *tu_karpa(void)
{
	const char *b = getenv("KARPA_REL_BIN");

	return b ? b : "build/karpa";
}

/* The sanitized karpa (KARPA_BIN): the build with crash points (util/crash.h). */
static inline const char *tu_karpa_san(void)
{
	const char *b = getenv("KARPA_BIN");

	return b ? b : "build/san/karpa";
}

/* Runs a shell command line, captures stdout+stderr (into out, may be NULL)
 * and returns the exit status (or -1 on a signal). */
static inline int tu_run(char *out, size_t cap, const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	FILE *f;
	size_t n = 0;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	strncat(cmd, " 2>&1", sizeof cmd - strlen(cmd) - 1);
	f = popen(cmd, "r");
	assert_non_null(f);
	if (out && cap) {
		n = fread(out, 1, cap - 1, f);
		out[n] = '\0';
	} else {
		char sink[4096];
		while (fread(sink, 1, sizeof sink, f) > 0)
			;
	}
	st = pclose(f);
	if (!WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* Monotonic seconds, for tests that report their own timings. */
static inline double tu_now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* tu_run into out, failing the test with the output when the exit status is
 * not `want` (want < 0: any status, returned). */
static inline int tu_run_want(char *out, size_t cap, int want, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static inline int tu_run_want(char *out, size_t cap, int want, const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	rc = tu_run(out, cap, "%s", cmd);
	if (want >= 0 && rc != want)
		fail_msg("`%s` exited %d (want %d):\n%s", cmd, rc, want, out);
	return rc;
}

/* The npm cache of scripts/setup.sh (fs_cache_dir()/npm) into npm, once
 * every module in the NULL-terminated list has its package.json there and
 * node runs; otherwise the test fails with what is missing. */
static inline void tu_npm_node(char npm[FS_PATH_MAX], const char *const *modules)
{
	char probe[FS_PATH_MAX + 64], out[256];
	struct kerr err = { { 0 }, { 0 } };

	if (fs_cache_dir(npm, FS_PATH_MAX, &err) < 0)
		fail_msg("no cache folder: %s (%s)", err.msg, err.code);
	strncat(npm, "/npm", FS_PATH_MAX - strlen(npm) - 1);
	for (size_t i = 0; modules && modules[i]; i++) {
		snprintf(probe, sizeof probe, "%s/node_modules/%s/package.json", npm, modules[i]);
		if (access(probe, F_OK) != 0)
			fail_msg("%s is not in %s: run scripts/setup.sh", modules[i], npm);
	}
	if (tu_run(out, sizeof out, "node --version") != 0)
		fail_msg("node is not available (%s): run scripts/setup.sh", out);
}

/* A fixed validator secret for tests that measure a noise floor: the
 * floor's runs after the first train at seeds drawn from the secret
 * (noise_seed), so with a fresh one each test's margin would be another
 * draw, and at tiny the draw is heavy-tailed (0.003 to 0.025 bpb over two
 * seeds mostly; one seed in six gave 0.25, and a test once drew 2.2, which
 * no gain clears). This one gives 0.0097 over two, near the 0.0089 the
 * tests' gains were sized against (seeds 1 and 2, before the draw). */
#define TU_VALIDATOR_SECRET "karpa-test-validator-secret-11.." /* tests/validator.secret's bytes */
static inline void tu_fix_secret(char *out, size_t cap, const char *state)
{
	tu_run_want(out, cap, 0, "printf '%%s' '" TU_VALIDATOR_SECRET "' > %s/secret && chmod 600 %s/secret", state, state);
}

/* A validator for end-to-end judge tests: tiny data with a hidden split
 * (data, hidden), a state folder and a noise floor of `seeds` seeds. */
static inline void tu_validator(char *out, size_t cap, const char *data, const char *hidden, const char *state,
				int seeds, int threads)
{
	tu_run_want(out, cap, 0, "%s data prepare --scale tiny --out %s --hidden-out %s", tu_karpa(), data, hidden);
	tu_run_want(out, cap, 0, "%s validator init %s --data %s --hidden %s --scale tiny", tu_karpa(), state, data,
		    hidden);
	tu_fix_secret(out, cap, state);
	tu_run_want(out, cap, 0, "%s noise-floor %s --seeds %d --threads %d --json", tu_karpa(), state, seeds,
		    threads);
}

/* The JSON object a --json command printed: the first line starting '{'.
 * Caller decrefs. */
static inline json_t *tu_out_json(const char *out)
{
	const char *p = out;
	json_error_t je;
	json_t *j;

	while (p && *p && *p != '{') {
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	if (!p || !*p)
		fail_msg("no JSON object in the output:\n%s", out);
	j = json_loadb(p, strcspn(p, "\n"), 0, &je);
	if (!j)
		fail_msg("bad JSON (%s) in the output:\n%s", je.text, out);
	return j;
}

/* A JSON file, failing the test with the parser's reason. Caller decrefs. */
static inline json_t *tu_load_json(const char *path)
{
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);

	if (!j)
		fail_msg("%s: %s", path, je.text);
	return j;
}

static inline const char *tu_jstr(json_t *j, const char *k)
{
	json_t *v = json_object_get(j, k);

	return json_is_string(v) ? json_string_value(v) : "";
}

static inline double tu_jnum(json_t *j, const char *k)
{
	json_t *v = json_object_get(j, k);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

#endif
