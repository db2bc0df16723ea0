/* test_build_cache.c: the build cache keeps the recently used runners and
 * objects and removes the rest (build_cache.h): least recently used first,
 * runners by count and by bytes but never a pinned one, objects never one
 * used within the idle time whatever the count, never a name the cache did
 * not make; a touched entry counts as used now. A killed build's
 * temporaries are swept, a running one's are not. */
#include "testutil.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "sandbox/build_cache.h"
#include "util/fsutil.h"

#define DAY (24L * 3600L)
#define ALL_BYTES (1ull << 40)

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

	assert_int_equal(build_cache_prune(cache, 2, ALL_BYTES, 1, DAY, &got, &err), 0);
	assert_int_equal(got.runners, 4);
	/* keep 1 object by count, but the second is used within the day too */
	assert_int_equal(got.objects, 6);
	for (int i = 0; i < 6; i++)
		assert_int_equal(fs_exists(runners[i]), i < 2);
	for (int i = 0; i < 8; i++)
		assert_int_equal(fs_exists(objs[i]), i < 2);
	assert_true(fs_exists(stray));
	assert_true(fs_exists(tmpobj));

	/* objects used within the idle time stay whatever the count */
	assert_int_equal(build_cache_prune(cache, 2, ALL_BYTES, 0, 30L * DAY + 60, &got, &err), 0);
	assert_int_equal(got.runners + got.objects, 0);
	/* a touched runner is used now: it is the one a prune that keeps one
	 * keeps, while the runner last used an hour ago goes; a prune that
	 * keeps none still keeps the newest */
	build_cache_touch(runners[1]);
	assert_int_equal(build_cache_prune(cache, 1, ALL_BYTES, 0, 1800, &got, &err), 0);
	assert_int_equal(got.runners, 1);
	assert_int_equal(got.objects, 0);
	assert_false(fs_exists(runners[0]));
	assert_true(fs_exists(runners[1]) && fs_exists(objs[0]) && fs_exists(objs[1]));
	assert_int_equal(build_cache_prune(cache, 0, 0, 0, 1800, &got, &err), 0);
	assert_int_equal(got.runners, 0);
	assert_true(fs_exists(runners[1]));

	/* an empty or missing cache is nothing to do */
	snprintf(p, sizeof p, "%s/nowhere", cache);
	assert_int_equal(build_cache_prune(p, 0, 0, 0, 0, &got, &err), 0);
	assert_int_equal(got.runners + got.objects, 0);
	tu_rmdir(cache);
	cache = NULL;
}

/* Runners weigh: the newest stay while they fit the bytes, whatever their
 * number, and the newest of all stays even alone over them. */
static void test_prune_by_bytes(void **s)
{
	char name[65], rel[FS_PATH_MAX], runners[5][FS_PATH_MAX];
	struct build_cache_pruned got;
	struct kerr err;

	(void)s;
	cache = tu_mkdtemp();
	/* five runners of 1 MiB each (a runner and a log), newest first */
	for (int i = 0; i < 5; i++) {
		hex_name(i, name);
		snprintf(rel, sizeof rel, "recipes/%s", name);
		put(rel, 1, (long)(i + 1) * 60, runners[i]);
		assert_int_equal(tu_run(NULL, 0, "head -c 1048000 /dev/zero > '%s/karpa-recipe' && echo log > '%s/build.log'"
					  " && touch -d @%ld '%s'",
					  runners[i], runners[i], (long)time(NULL) - (long)(i + 1) * 60, runners[i]),
				 0);
	}
	/* three fit in 3 MiB and a little; a file in a subfolder (a build's
	 * objects) does not count */
	assert_int_equal(tu_run(NULL, 0, "mkdir '%s/objs.1' && head -c 5000000 /dev/zero > '%s/objs.1/x.o'", runners[0],
				runners[0]),
			 0);
	assert_int_equal(build_cache_prune(cache, 64, 3ull << 20, 0, DAY, &got, &err), 0);
	assert_int_equal(got.runners, 2);
	for (int i = 0; i < 5; i++)
		assert_int_equal(fs_exists(runners[i]), i < 3);
	/* the newest alone is over a budget of one byte: it stays */
	assert_int_equal(build_cache_prune(cache, 64, 1, 0, DAY, &got, &err), 0);
	assert_int_equal(got.runners, 2);
	assert_true(fs_exists(runners[0]));
	assert_false(fs_exists(runners[1]) || fs_exists(runners[2]));
	tu_rmdir(cache);
	cache = NULL;
}

/* A pinned runner stays whatever its rank, until its pin goes; a pin on a
 * folder a prune removed makes it anew. The pin is a descriptor past the
 * standard three, closed on exec. */
static void test_pinned_runner_stays(void **s)
{
	char name[65], rel[FS_PATH_MAX], old[FS_PATH_MAX], newest[FS_PATH_MAX];
	struct build_cache_pruned got;
	struct kerr err;
	int pin;

	(void)s;
	cache = tu_mkdtemp();
	hex_name(1, name);
	snprintf(rel, sizeof rel, "recipes/%s", name);
	put(rel, 1, 10 * DAY, old);
	hex_name(2, name);
	snprintf(rel, sizeof rel, "recipes/%s", name);
	put(rel, 1, 60, newest);
	pin = build_cache_pin(old, &err);
	assert_true(pin > 2);
	assert_true(fcntl(pin, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(build_cache_prune(cache, 1, ALL_BYTES, 0, DAY, &got, &err), 0);
	assert_int_equal(got.runners, 0);
	assert_true(fs_exists(old));
	/* a second pin (another judgment of the same recipe) shares it */
	{
		int again = build_cache_pin(old, &err);

		assert_true(again > 2);
		build_cache_unpin(pin);
		assert_int_equal(build_cache_prune(cache, 1, ALL_BYTES, 0, DAY, &got, &err), 0);
		assert_true(fs_exists(old));
		build_cache_unpin(again);
	}
	assert_int_equal(build_cache_prune(cache, 1, ALL_BYTES, 0, DAY, &got, &err), 0);
	assert_int_equal(got.runners, 1);
	assert_false(fs_exists(old));
	/* pinned again after it went: made anew, empty (the build fills it) */
	pin = build_cache_pin(old, &err);
	assert_true(pin > 2);
	assert_true(fs_exists(old));
	build_cache_unpin(pin);
	build_cache_unpin(1); /* no pin: nothing is closed */
	assert_int_equal(fcntl(1, F_GETFD) >= 0, 1);
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
		cmocka_unit_test(test_prune_by_bytes),
		cmocka_unit_test(test_pinned_runner_stays),
		cmocka_unit_test(test_sweep_killed_builds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
