/* test_recipe_build.c: building a recipe folder into a runner. The build is
 * an argument vector, not a shell line, so a folder whose name holds a
 * quote, a space or a dollar sign builds like any other; the cache key
 * covers the sources and the toolchain, so an unchanged folder is reused
 * and a changed one is rebuilt; a recipe that does not compile is refused
 * with the compiler's first error line. */
#include "testutil.h"

#include "sandbox/recipe_build.h"

static char *work;

static void copy_bigram(const char *dir)
{
	char from[FS_PATH_MAX], to[FS_PATH_MAX], *text;
	size_t n;
	struct kerr err;

	assert_int_equal(fs_mkdir_p(dir, &err), 0);
	snprintf(from, sizeof from, "%s/tests/hostile/recipes/bigram/bigram.c", recipe_build_src_dir());
	snprintf(to, sizeof to, "%s/bigram.c", dir);
	assert_int_equal(fs_read_all(from, 1 << 20, &text, &n, &err), 0);
	assert_int_equal(fs_write_atomic(to, text, n, &err), 0);
	free(text);
}

static void odd_folder_names_build_without_a_shell(void **st)
{
	char dir[FS_PATH_MAX], marker[FS_PATH_MAX];
	struct recipe_build_info a, b;
	struct kerr err;

	(void)st;
	/* If this name ever reached a shell, `$(touch ...)` would run. */
	snprintf(marker, sizeof marker, "%s/pwned", work);
	snprintf(dir, sizeof dir, "%s/it's a $(touch pwned) recipe", work);
	copy_bigram(dir);
	if (recipe_build(dir, &a, &err) < 0)
		fail_msg("%s: %s", err.code, err.msg);
	assert_int_equal(access(a.runner, X_OK), 0);
	assert_false(fs_exists(marker));
	assert_true(strlen(a.compiler) > 0 && strcmp(a.compiler, "unknown"));
	/* Unchanged: the cached runner. */
	assert_int_equal(recipe_build(dir, &b, &err), 0);
	assert_int_equal(b.cached, 1);
	assert_string_equal(a.source_digest, b.source_digest);
}

static void harness_names_are_known(void **st)
{
	(void)st;
	assert_int_equal(recipe_build_is_harness_name("recipe_api.h", 12), 1);
	assert_int_equal(recipe_build_is_harness_name("sandbox_inner.c", 15), 1);
	assert_int_equal(recipe_build_is_harness_name("main.c", 6), 1);
	assert_int_equal(recipe_build_is_harness_name("gpt.c", 5), 0);
	assert_int_equal(recipe_build_is_harness_name("recipe_api.hh", 13), 0);
}

static void compile_errors_are_reported(void **st)
{
	char dir[FS_PATH_MAX], p[FS_PATH_MAX];
	struct recipe_build_info bi;
	struct kerr err;
	const char *bad = "int broken(void) { return undeclared_thing; }\n";

	(void)st;
	snprintf(dir, sizeof dir, "%s/broken", work);
	copy_bigram(dir);
	snprintf(p, sizeof p, "%s/broken.c", dir);
	assert_int_equal(fs_write_atomic(p, bad, strlen(bad), &err), 0);
	assert_int_equal(recipe_build(dir, &bi, &err), -1);
	assert_string_equal(err.code, "recipe.build_failed");
	assert_non_null(strstr(err.msg, "broken.c"));
	assert_non_null(strstr(err.msg, "undeclared_thing"));
	assert_int_equal(access(bi.runner, X_OK), -1);
	/* No sources at all. */
	snprintf(dir, sizeof dir, "%s/empty", work);
	assert_int_equal(fs_mkdir_p(dir, &err), 0);
	assert_int_equal(recipe_build(dir, &bi, &err), -1);
	assert_string_equal(err.code, "recipe.no_sources");
}

static int setup(void **st)
{
	(void)st;
	hash_init_lib();
	work = tu_mkdtemp();
	return 0;
}

static int teardown(void **st)
{
	(void)st;
	tu_rmdir(work);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(odd_folder_names_build_without_a_shell),
		cmocka_unit_test(harness_names_are_known),
		cmocka_unit_test(compile_errors_are_reported),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
