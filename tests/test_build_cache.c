/* test_build_cache.c: the build cache keeps the recently used runners and
 * objects and removes the rest (build_cache.h): least recently used first,
 * never one used within the idle time whatever the count, never a name the
 * cache did not make; a touched entry counts as used now. A killed build's
 * temporaries are swept, a running one's are not. */
#include "testutil.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "sandbox/build_cache.h"
#include "util/fsutil.h"

#define DAY (24L * 3600L)

static char *cache;

static void hex_name(int i, char out[65])
{
	snprintf(out, 65, "%064x", i);
}

/* Makes an entry last used `age` seconds ago. */
static void put(const char *rel, int is_dir, long age, char path[FS_PATH_MAX])
{
	struct timespec t[2];

	snprintf(path, FS_PATH_MAX, "%s/%s", cache, rel);
	if (is_dir) {
		assert_int_equal(tu_run(NULL, 0, "mkdir -p '%s' && echo runner > '%s/karpa-recipe'", path, path), 0);
	} else {
		assert_int_equal(tu_run(NULL, 0, "mkdir -p \"$(dirname '%s')\" && echo obj > '%s'", path, path), 0);
	}
	t[0].tv_sec = t[1].tv_sec = time(NULL) - age;
	t[0].tv_nsec = t[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
}

static void test_prune_by_last_use(void **s)
{
	char p[FS_PATH_MAX], name[65], rel[FS_PATH_MAX], runners[6][FS_PATH_MAX], objs[8][FS_PATH_MAX];
	char stray[FS_PATH_MAX], tmpobj[FS_PATH_MAX];
	struct build_cache_pruned got;
	struct kerr err;

	(void)s;
	cache = tu_mkdtemp();
	/* six runners used 1..6 days ago, the newest one an hour ago */
	for (int i = 0; i < 6; i++) {
		hex_name(i, name);
		snprintf(rel, sizeof rel, "recipes/%s", name);
		put(rel, 1, i == 0 ? 3600 : (long)(i + 1) * DAY, runners[i]);
	}
	/* eight objects, two of them used within the day */
	for (int i = 0; i < 8; i++) {
		hex_name(100 + i, name);
		snprintf(rel, sizeof rel, "objs/%s.o", name);
		put(rel, 0, i < 2 ? 60L * (i + 1) : (long)(i + 1) * DAY, objs[i]);
	}
	/* names the cache never makes stay, however old */
	put("recipes/not-a-digest", 1, 30 * DAY, stray);
	hex_name(999, name);
	snprintf(rel, sizeof rel, "objs/%s.o.tmp", name);
	put(rel, 0, 30 * DAY, tmpobj);

	assert_int_equal(build_cache_prune(cache, 2, 1, DAY, &got, &err), 0);
	assert_int_equal(got.runners, 4);
	/* keep 1 object by count, but the second is used within the day too */
	assert_int_equal(got.objects, 6);
	for (int i = 0; i < 6; i++)
		assert_int_equal(fs_exists(runners[i]), i < 2);
	for (int i = 0; i < 8; i++)
		assert_int_equal(fs_exists(objs[i]), i < 2);
	assert_true(fs_exists(stray));
	assert_true(fs_exists(tmpobj));

	/* nothing idle beyond the count: nothing goes */
	assert_int_equal(build_cache_prune(cache, 0, 0, 30L * DAY + 60, &got, &err), 0);
	assert_int_equal(got.runners + got.objects, 0);
	/* a touched entry is used now: it survives a prune that keeps none,
	 * while the runner last used an hour ago goes */
	build_cache_touch(runners[1]);
	assert_int_equal(build_cache_prune(cache, 0, 0, 1800, &got, &err), 0);
	assert_int_equal(got.runners, 1);
	assert_int_equal(got.objects, 0);
	assert_false(fs_exists(runners[0]));
	assert_true(fs_exists(runners[1]) && fs_exists(objs[0]) && fs_exists(objs[1]));

	/* an empty or missing cache is nothing to do */
	snprintf(p, sizeof p, "%s/nowhere", cache);
	assert_int_equal(build_cache_prune(p, 0, 0, 0, &got, &err), 0);
	assert_int_equal(got.runners + got.objects, 0);
	tu_rmdir(cache);
	cache = NULL;
}

/* A pid that was a process and is no longer one. */
static long dead_pid(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	return (long)pid;
}

/* A killed build's temporaries go: its process is gone, or they are older
 * than the stale time whoever holds the pid now. A live build's stay, and
 * so do the runner, its log and any name a build does not make. */
static void test_sweep_killed_builds(void **s)
{
	char hex[65], rel[FS_PATH_MAX], gone[5][FS_PATH_MAX], kept[7][FS_PATH_MAX];
	long dead = dead_pid();

	(void)s;
	cache = tu_mkdtemp();
	hex_name(7, hex);
	snprintf(rel, sizeof rel, "recipes/%s/objs.%ld", hex, dead);
	put(rel, 1, 0, gone[0]);
	snprintf(rel, sizeof rel, "recipes/%s/objs.%ld", hex, (long)getppid());
	put(rel, 1, 3 * 3600, gone[1]);
	snprintf(rel, sizeof rel, "recipes/%s/karpa-recipe.tmp.%ld", hex, dead);
	put(rel, 0, 0, gone[2]);
	snprintf(rel, sizeof rel, "objs/%s.o.tmp.%ld", hex, dead);
	put(rel, 0, 0, gone[3]);
	/* a live build's, fresh */
	snprintf(rel, sizeof rel, "recipes/%s/objs.%ld", hex, (long)getpid());
	put(rel, 1, 60, kept[0]);
	snprintf(rel, sizeof rel, "recipes/%s/karpa-recipe", hex);
	put(rel, 0, 0, kept[1]);
	snprintf(rel, sizeof rel, "objs/%s.o.tmp", hex);
	put(rel, 0, 3 * 3600, kept[2]);
	snprintf(rel, sizeof rel, "objs/%s.o", hex);
	put(rel, 0, 3 * 3600, kept[3]);
	snprintf(rel, sizeof rel, "recipes/not-a-digest/objs.%ld", dead);
	put(rel, 1, 3 * 3600, kept[4]);
	snprintf(rel, sizeof rel, "recipes/%s/objsX.%ld", hex, dead);
	put(rel, 1, 3 * 3600, kept[5]);
	snprintf(rel, sizeof rel, "recipes/%s/run.tmp.%ldx", hex, dead);
	put(rel, 0, 3 * 3600, kept[6]);

	assert_int_equal(build_cache_sweep(cache, 2 * 3600), 4);
	for (int i = 0; i < 4; i++)
		if (fs_exists(gone[i]))
			fail_msg("%s was left", gone[i]);
	for (int i = 0; i < 7; i++)
		if (!fs_exists(kept[i]))
			fail_msg("%s was removed", kept[i]);
	assert_int_equal(build_cache_sweep(cache, 2 * 3600), 0);
	tu_rmdir(cache);
	cache = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prune_by_last_use),
		cmocka_unit_test(test_sweep_killed_builds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
