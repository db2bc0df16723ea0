/* test_fsutil.c: the streaming atomic file (fs_atomic) and the one-call
 * write built on it: a commit shows the whole new file and leaves no
 * temporary, an abort leaves the old file and no temporary, a no-replace
 * commit refuses an existing name, and a process killed between the write
 * and the rename leaves the old file under the name. The directory fsync
 * after the rename is not observable from here; under strace, test_commit
 * shows fsync(file), rename(tmp, name), open(dir), fsync(dir), in that
 * order. */
#include "testutil.h"

#include <limits.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "util/fsutil.h"

static char *dir;

static int setup(void **state)
{
	(void)state;
	dir = tu_mkdtemp();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_rmdir(dir);
	return 0;
}

static void put(const char *path, const char *text)
{
	struct kerr err = { 0 };

	if (fs_write_atomic(path, text, strlen(text), &err) < 0)
		fail_msg("fs_write_atomic: %s: %s", err.code, err.msg);
}

static void assert_content(const char *path, const char *want)
{
	struct kerr err = { 0 };
	char *got;
	size_t n;

	if (fs_read_all(path, 1 << 20, &got, &n, &err) < 0)
		fail_msg("read %s: %s: %s", path, err.code, err.msg);
	assert_string_equal(got, want);
	free(got);
}

static void test_commit(void **state)
{
	char path[FS_PATH_MAX];
	struct fs_atomic a;
	struct kerr err = { 0 };
	struct stat sb;

	(void)state;
	snprintf(path, sizeof path, "%s/out.txt", dir);
	put(path, "old\n");
	assert_int_equal(fs_atomic_open(&a, path, 0600, 0, &err), 0);
	assert_int_equal(fs_atomic_write(&a, "new ", 4, &err), 0);
	fprintf(fs_atomic_stream(&a), "line %d\n", 2);
	/* Not visible before the commit. */
	assert_content(path, "old\n");
	assert_int_equal(tu_entries(dir), 2);
	assert_int_equal(fs_atomic_commit(&a, &err), 0);
	assert_content(path, "new line 2\n");
	assert_int_equal(tu_entries(dir), 1);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	/* Committed: abort is a no-op, a second commit refused. */
	fs_atomic_abort(&a);
	assert_content(path, "new line 2\n");
	assert_int_equal(fs_atomic_commit(&a, &err), -1);
	assert_string_equal(err.code, "fs.atomic");
}

static void test_abort(void **state)
{
	char path[FS_PATH_MAX];
	struct fs_atomic a;
	struct kerr err = { 0 };

	(void)state;
	snprintf(path, sizeof path, "%s/out.txt", dir);
	put(path, "old\n");
	assert_int_equal(fs_atomic_open(&a, path, 0644, 0, &err), 0);
	assert_int_equal(fs_atomic_write(&a, "half", 4, &err), 0);
	fs_atomic_abort(&a);
	fs_atomic_abort(&a);
	assert_content(path, "old\n");
	assert_int_equal(tu_entries(dir), 1);
	/* An absent file stays absent. */
	snprintf(path, sizeof path, "%s/never.txt", dir);
	assert_int_equal(fs_atomic_open(&a, path, 0644, 0, &err), 0);
	fs_atomic_abort(&a);
	assert_false(fs_exists(path));
	assert_int_equal(tu_entries(dir), 1);
}

static void test_no_replace(void **state)
{
	char path[FS_PATH_MAX];
	struct fs_atomic a;
	struct kerr err = { 0 };

	(void)state;
	snprintf(path, sizeof path, "%s/key", dir);
	put(path, "first\n");
	assert_int_equal(fs_atomic_open(&a, path, 0600, FS_ATOMIC_NO_REPLACE, &err), 0);
	assert_int_equal(fs_atomic_write(&a, "second\n", 7, &err), 0);
	assert_int_equal(fs_atomic_commit(&a, &err), -1);
	assert_string_equal(err.code, "fs.exists");
	assert_content(path, "first\n");
	assert_int_equal(tu_entries(dir), 1);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(fs_atomic_open(&a, path, 0600, FS_ATOMIC_NO_REPLACE, &err), 0);
	assert_int_equal(fs_atomic_write(&a, "second\n", 7, &err), 0);
	assert_int_equal(fs_atomic_commit(&a, &err), 0);
	assert_content(path, "second\n");
	assert_int_equal(tu_entries(dir), 1);
}

/* A child that wrote the whole new file (flushed and fsynced: the worst
 * case, everything but the rename done) and then dies without cleanup
 * (_exit, as a crash): the name still holds the old file. */
static void test_crash_before_rename(void **state)
{
	char path[FS_PATH_MAX];
	int st;
	pid_t pid;

	(void)state;
	snprintf(path, sizeof path, "%s/out.txt", dir);
	put(path, "old\n");
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct fs_atomic a;
		struct kerr err = { 0 };
		if (fs_atomic_open(&a, path, 0644, 0, &err) < 0 || fs_atomic_write(&a, "new\n", 4, &err) < 0 ||
		    fflush(fs_atomic_stream(&a)) != 0 || fsync(fileno(fs_atomic_stream(&a))) < 0)
			_exit(2);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_content(path, "old\n");
	/* The dead writer's temporary is all that is left of it. */
	assert_int_equal(tu_entries(dir), 2);
}

/* A failed open leaves nothing, and says where. */
static void test_open_fails(void **state)
{
	char path[FS_PATH_MAX];
	struct fs_atomic a;
	struct kerr err = { 0 };

	(void)state;
	snprintf(path, sizeof path, "%s/no/such/dir/out.txt", dir);
	assert_int_equal(fs_atomic_open(&a, path, 0644, 0, &err), -1);
	assert_string_equal(err.code, "fs.create");
	assert_non_null(strstr(err.msg, "out.txt.tmp."));
}

/* fs_fsync_path takes a regular file another process wrote; a missing
 * name or a symbolic link (a rename target must be the file itself) is
 * refused with the path named. */
static void test_fsync_path(void **state)
{
	char path[FS_PATH_MAX], link[FS_PATH_MAX];
	struct kerr err = { 0 };

	(void)state;
	snprintf(path, sizeof path, "%s/written.bundle", dir);
	snprintf(link, sizeof link, "%s/link.bundle", dir);
	put(path, "bundle\n");
	assert_int_equal(fs_fsync_path(path, &err), 0);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(fs_fsync_path(link, &err), -1);
	assert_string_equal(err.code, "fs.open");
	assert_non_null(strstr(err.msg, "link.bundle"));
	kerr_clear(&err);
	unlink(path);
	assert_int_equal(fs_fsync_path(path, &err), -1);
	assert_string_equal(err.code, "fs.open");
}

/* fs_resolve: spellings of one place that does not exist yet, through a
 * symlink (one whose target does not exist yet too) and .. (one that
 * climbs out of the missing part back to a link too), give one string; a
 * link loop, an empty path and a removed working folder are refused;
 * fs_within tells a folder from a sibling that
 * shares its prefix. */
static void test_resolve(void **state)
{
	char real[PATH_MAX], want[FS_PATH_MAX], got[FS_PATH_MAX], p[FS_PATH_MAX], cwd[PATH_MAX];
	struct kerr err = { 0 };
	static const char *const same[] = { "%s/a/new", "%s/a/./new/", "%s/a//new", "%s/b/../a/new", "%s/lnk/new",
					    "%s/a/x/y/../../new", "%s/nope/../a/new", "%s/dangling",
					    "%s/nope/../lnk/new", "%s/nope/../dangling", "%s/x/y/../../lnk/new" };

	(void)state;
	assert_non_null(realpath(dir, real));
	snprintf(p, sizeof p, "%s/a", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof p, "%s/b", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof p, "%s/lnk", dir);
	assert_int_equal(symlink("a", p), 0);
	snprintf(p, sizeof p, "%s/dangling", dir);
	assert_int_equal(symlink("lnk/new", p), 0); /* to a place that does not exist yet */
	snprintf(p, sizeof p, "%s/loop", dir);
	assert_int_equal(symlink("loop", p), 0);
	snprintf(want, sizeof want, "%s/a/new", real);
	for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
		snprintf(p, sizeof p, same[i], dir);
		if (fs_resolve(p, got, sizeof got, &err) < 0)
			fail_msg("%s: %s: %s", p, err.code, err.msg);
		if (strcmp(got, want))
			fail_msg("%s resolved to %s, want %s", p, got, want);
	}
	/* relative: from the working directory */
	assert_non_null(getcwd(cwd, sizeof cwd));
	assert_int_equal(chdir(dir), 0);
	assert_int_equal(fs_resolve("lnk/new", got, sizeof got, &err), 0);
	assert_int_equal(fs_resolve("fresh", p, sizeof p, &err), 0);
	assert_int_equal(chdir(cwd), 0);
	assert_string_equal(got, want);
	snprintf(want, sizeof want, "%s/fresh", real);
	assert_string_equal(p, want);
	assert_int_equal(fs_resolve("/", got, sizeof got, &err), 0);
	assert_string_equal(got, "/");
	assert_int_equal(fs_resolve("/..", got, sizeof got, &err), 0);
	assert_string_equal(got, "/");
	/* hundreds of missing folders climbed out of again: each .. a restart,
	 * not a deeper call (a recursion of 16 KB frames overflowed the stack) */
	{
		size_t k = (size_t)snprintf(p, sizeof p, "%s", dir);

		while (k + 16 < 3500)
			k += (size_t)snprintf(p + k, sizeof p - k, "/n/..");
		snprintf(p + k, sizeof p - k, "/x");
		assert_int_equal(fs_resolve(p, got, sizeof got, &err), 0);
		snprintf(want, sizeof want, "%s/x", real);
		assert_string_equal(got, want);
	}
	/* a working folder removed from under the process: refused, not
	 * walked up from forever */
	snprintf(p, sizeof p, "%s/gone", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	assert_int_equal(chdir(p), 0);
	assert_int_equal(rmdir(p), 0);
	assert_int_equal(fs_resolve("fresh", got, sizeof got, &err), -1);
	assert_int_equal(chdir(cwd), 0);
	assert_string_equal(err.code, "fs.stat");
	snprintf(p, sizeof p, "%s/loop/x", dir);
	assert_int_equal(fs_resolve(p, got, sizeof got, &err), -1);
	assert_string_equal(err.code, "fs.stat"); /* ELOOP */
	assert_int_equal(fs_resolve("", got, sizeof got, &err), -1);
	assert_string_equal(err.code, "fs.bad_path");
	assert_true(fs_within("/x/a/new", "/x/a"));
	assert_true(fs_within("/x/a", "/x/a"));
	assert_true(fs_within("/x/a", "/"));
	assert_false(fs_within("/x/ab", "/x/a"));
	assert_false(fs_within("/x", "/x/a"));
}

/* The bounds every path and read in the tree goes through: a join past
 * the buffer is refused, not cut (a cut path names another file), and a
 * file longer than the caller's bound is refused, not read in part. */
static void test_bounds(void **state)
{
	char small[16], p[FS_PATH_MAX], *text = NULL;
	struct kerr err = { 0 };
	size_t n = 0;

	(void)state;
	assert_int_equal(fs_join(small, sizeof small, &err, "%s/%s", "fifteen-bytes..", "x"), -1);
	assert_string_equal(err.code, "fs.path_too_long");
	assert_int_equal(fs_join(small, sizeof small, &err, "%s", "fifteen-bytes.."), 0);
	assert_string_equal(small, "fifteen-bytes..");
	snprintf(p, sizeof p, "%s/ten", dir);
	put(p, "0123456789");
	assert_int_equal(fs_read_all(p, 9, &text, &n, &err), -1);
	assert_string_equal(err.code, "fs.too_large");
	assert_null(text);
	assert_int_equal(fs_read_all(p, 10, &text, &n, &err), 0);
	assert_int_equal(n, 10);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_before_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fsync_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounds, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
