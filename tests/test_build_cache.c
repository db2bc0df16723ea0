/* test_build_cache.c: the build cache keeps the recently used runners and
 * objects and removes the rest (build_cache.h): least recently used first,
 * never one used within the idle time whatever the count, never a name the
 * cache did not make; a touched entry counts as used now. */
#include "testutil.h"

#include <fcntl.h>
#include <sys/stat.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prune_by_last_use),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
