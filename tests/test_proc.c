/* test_proc.c: running children from argument vectors: exit codes,
 * captured and bounded output, stdin, working directory, environment
 * changes, time limits, and a child that will not read its stdin. */
#include "testutil.h"

#include <signal.h>
#include <sys/stat.h>

#include "util/proc.h"

static void run_ok(const char *const *argv, const struct proc_opts *o, struct proc_result *r)
{
	struct kerr err = { 0 };

	if (proc_run(argv, o, r, &err) < 0)
		fail_msg("%s: %s", err.code, err.msg);
}

static void exit_codes_and_both_streams(void **state)
{
	const char *argv[] = { "sh", "-c", "echo out; echo err >&2; exit 3", NULL };
	struct proc_result r;

	(void)state;
	run_ok(argv, NULL, &r);
	assert_int_equal(r.exit_code, 3);
	assert_int_equal(r.term_signal, 0);
	assert_string_equal(r.out, "out\n");
	assert_string_equal(r.err, "err\n");
	proc_result_free(&r);
}

static void stdin_is_fed_and_dev_null_otherwise(void **state)
{
	const char *cat[] = { "cat", NULL };
	struct proc_opts o = { .stdin_data = "hello\0world", .stdin_len = 11 };
	struct proc_result r;

	(void)state;
	run_ok(cat, &o, &r);
	assert_int_equal(r.exit_code, 0);
	assert_int_equal(r.out_len, 11);
	assert_memory_equal(r.out, "hello\0world", 11);
	proc_result_free(&r);
	run_ok(cat, NULL, &r); /* no stdin data: end of file at once, no hang */
	assert_int_equal(r.exit_code, 0);
	assert_int_equal(r.out_len, 0);
	proc_result_free(&r);
}

static void large_stdin_to_a_child_that_does_not_read(void **state)
{
	const char *argv[] = { "true", NULL };
	size_t n = 4u << 20; /* far beyond a pipe's buffer */
	char *big = calloc(1, n);
	struct proc_opts o = { .stdin_len = n };
	struct proc_result r;

	(void)state;
	assert_non_null(big);
	o.stdin_data = big;
	run_ok(argv, &o, &r); /* EPIPE, not SIGPIPE: we are still here */
	assert_int_equal(r.exit_code, 0);
	proc_result_free(&r);
	free(big);
	/* and a large round trip through cat works both ways at once */
	const char *cat[] = { "cat", NULL };
	n = 3u << 20;
	big = malloc(n);
	assert_non_null(big);
	for (size_t i = 0; i < n; i++)
		big[i] = (char)(i * 31 + 7);
	o = (struct proc_opts){ .stdin_data = big, .stdin_len = n, .out_bytes_max = n };
	run_ok(cat, &o, &r);
	assert_int_equal(r.out_len, n);
	assert_false(r.out_truncated);
	assert_memory_equal(r.out, big, n);
	proc_result_free(&r);
	free(big);
}

static void output_beyond_the_limit_is_dropped(void **state)
{
	const char *argv[] = { "head", "-c", "3000000", "/dev/zero", NULL };
	struct proc_opts o = { .out_bytes_max = 1000 };
	struct proc_result r;

	(void)state;
	run_ok(argv, &o, &r);
	assert_int_equal(r.exit_code, 0); /* it ran to the end */
	assert_int_equal(r.out_len, 1000);
	assert_true(r.out_truncated);
	assert_false(r.err_truncated);
	proc_result_free(&r);
}

static void cwd_and_environment_changes(void **state)
{
	char *dir = tu_mkdtemp();
	char real[FS_PATH_MAX];
	const char *pwd[] = { "pwd", "-P", NULL };
	const char *env[] = { "sh", "-c", "echo \"${KARPA_T1-unset} ${KARPA_T2-unset}\"", NULL };
	const char *changes[] = { "KARPA_T1=one", "KARPA_T2", NULL };
	struct proc_opts o = { .cwd = dir };
	struct proc_result r;

	(void)state;
	assert_non_null(realpath(dir, real));
	run_ok(pwd, &o, &r);
	strncat(real, "\n", sizeof real - strlen(real) - 1);
	assert_string_equal(r.out, real);
	proc_result_free(&r);
	setenv("KARPA_T2", "inherited", 1);
	o = (struct proc_opts){ .env = changes };
	run_ok(env, &o, &r);
	assert_string_equal(r.out, "one unset\n");
	proc_result_free(&r);
	run_ok(env, NULL, &r);
	assert_string_equal(r.out, "unset inherited\n");
	proc_result_free(&r);
	/* "PREFIX*" removes every inherited name it starts, and only those;
	 * a set after it stands */
	{
		const char *pre[] = { "sh", "-c", "echo \"${KARPA_T1-unset} ${KARPA_T2-unset} ${KARPAX-unset}\"", NULL };
		const char *star[] = { "KARPA_T*", "KARPA_T1=set", NULL };

		setenv("KARPA_T1", "inherited", 1);
		setenv("KARPAX", "kept", 1);
		o = (struct proc_opts){ .env = star };
		run_ok(pre, &o, &r);
		assert_string_equal(r.out, "set unset kept\n");
		proc_result_free(&r);
		unsetenv("KARPA_T1");
		unsetenv("KARPAX");
	}
	unsetenv("KARPA_T2");
	tu_rmdir(dir);
}

static void timeouts_signals_and_missing_programs(void **state)
{
	const char *slow[] = { "sleep", "5", NULL };
	const char *selfkill[] = { "sh", "-c", "kill -TERM $$", NULL };
	const char *missing[] = { "karpa-no-such-program", NULL };
	struct proc_opts o = { .timeout_ms = 200 };
	struct proc_result r;
	struct kerr err = { 0 };

	(void)state;
	run_ok(slow, &o, &r);
	assert_true(r.timed_out);
	assert_int_equal(r.term_signal, SIGKILL);
	assert_int_equal(r.exit_code, -1);
	proc_result_free(&r);
	run_ok(selfkill, NULL, &r);
	assert_int_equal(r.term_signal, SIGTERM);
	proc_result_free(&r);
	assert_int_equal(proc_run(missing, NULL, &r, &err), -1);
	assert_string_equal(err.code, "proc.spawn");
	assert_non_null(strstr(err.msg, "karpa-no-such-program"));
	proc_result_free(&r);
	o = (struct proc_opts){ .cwd = "/nonexistent-karpa-dir" };
	const char *t[] = { "true", NULL };
	assert_int_equal(proc_run(t, &o, &r, &err), -1);
	assert_string_equal(err.code, "proc.spawn");
	proc_result_free(&r);
}

/* Whether pid is gone or a zombie (killed, waiting for whoever adopted it). */
static int dead(pid_t pid)
{
	char path[64], buf[256], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (!(f = fopen(path, "r")))
		return 1;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

static pid_t grandchild_after_timeout(int own_group, const char *pidfile)
{
	char script[512];
	const char *argv[] = { "sh", "-c", script, NULL };
	struct proc_opts o = { .timeout_ms = 300, .own_group = own_group };
	struct proc_result r;
	FILE *f;
	int pid = 0;

	snprintf(script, sizeof script, "sleep 30 >/dev/null 2>&1 & echo $! > %s; wait", pidfile);
	run_ok(argv, &o, &r);
	assert_true(r.timed_out);
	proc_result_free(&r);
	assert_non_null(f = fopen(pidfile, "r"));
	assert_int_equal(fscanf(f, "%d", &pid), 1);
	fclose(f);
	return (pid_t)pid;
}

/* A timeout ends the child's whole group when it leads one (a compiler
 * driver and its cc1), and only the child when it does not. */
static void own_group_timeout_kills_grandchildren(void **state)
{
	char *dir = tu_mkdtemp(), pidfile[FS_PATH_MAX];
	pid_t g;
	int gone = 0;

	(void)state;
	snprintf(pidfile, sizeof pidfile, "%s/pid", dir);
	g = grandchild_after_timeout(1, pidfile);
	for (int i = 0; i < 200 && !(gone = dead(g)); i++)
		usleep(10000);
	assert_true(gone);
	g = grandchild_after_timeout(0, pidfile);
	usleep(100000);
	assert_false(dead(g)); /* the contrast: a plain child's sleep lives on */
	kill(g, SIGKILL);
	tu_rmdir(dir);
}

/* Limits bind the child and what it starts: the shell sees them, and its
 * child (a compiler's as, here head) is stopped at the file size. The
 * same command without limits sees the inherited ones. */
static void limits_bind_the_child_and_its_children(void **state)
{
	char *dir = tu_mkdtemp(), cmd[FS_PATH_MAX + 128];
	const char *argv[] = { "sh", "-c", cmd, NULL };
	struct proc_opts o = { .limit_as_bytes = 1ull << 30, .limit_fsize_bytes = 1u << 20 };
	struct proc_result r;
	struct stat sb;

	(void)state;
	snprintf(cmd, sizeof cmd, "ulimit -v; ulimit -f; head -c 2097152 /dev/zero > %s/f; echo $?", dir);
	run_ok(argv, &o, &r);
	/* KiB of address space, 512-byte blocks of file, and 128 + SIGXFSZ */
	assert_string_equal(r.out, "1048576\n2048\n153\n");
	proc_result_free(&r);
	snprintf(cmd, sizeof cmd, "%s/f", dir);
	assert_int_equal(stat(cmd, &sb), 0);
	assert_int_equal(sb.st_size, 1 << 20);
	snprintf(cmd, sizeof cmd, "ulimit -f");
	run_ok(argv, NULL, &r);
	assert_string_not_equal(r.out, "2048\n");
	proc_result_free(&r);
	tu_rmdir(dir);
}

/* RLIMIT_CPU binds each process of the child's tree: a grandchild that
 * spins is stopped by SIGXCPU after a second of CPU, and the CPU it used
 * is the child's (it waited for it). A grandchild nobody waits for, its
 * group killed at the timeout, is counted too: read before the kill. */
static void cpu_limit_binds_and_is_counted(void **state)
{
	const char *argv[] = { "sh", "-c", "ulimit -t; sh -c 'while :; do :; done'; echo $?", NULL };
	const char *orphan[] = { "sh", "-c", "sh -c 'while :; do :; done' & wait", NULL };
	struct proc_opts o = { .limit_cpu_s = 1, .timeout_ms = 60000 };
	struct proc_opts g = { .own_group = 1, .timeout_ms = 1500 };
	struct proc_result r;

	(void)state;
	run_ok(argv, &o, &r);
	/* seconds, and 128 + SIGXCPU */
	assert_string_equal(r.out, "1\n152\n");
	assert_int_equal(r.timed_out, 0);
	assert_true(r.cpu_s >= 0.9);
	proc_result_free(&r);
	run_ok(orphan, &g, &r);
	assert_int_equal(r.timed_out, 1);
	/* the spinner's share of 1.5 s on a machine that may be busy; the
	 * waiting shell alone used next to none */
	if (!(r.cpu_s >= 0.3))
		fail_msg("the killed group's CPU: %.3f s", r.cpu_s);
	proc_result_free(&r);
}

static void programs_are_found_on_path(void **state)
{
	char out[FS_PATH_MAX], *saved = getenv("PATH") ? strdup(getenv("PATH")) : NULL;

	(void)state;
	setenv("PATH", "relative:/nonexistent:/bin:/usr/bin", 1);
	assert_int_equal(proc_find_on_path("sh", out, sizeof out), 0);
	assert_string_equal(out, "/bin/sh");
	assert_int_equal(proc_find_on_path("karpa-no-such-tool", out, sizeof out), -1);
	assert_string_equal(out, "");
	/* a name with a slash is itself, when it is executable */
	assert_int_equal(proc_find_on_path("/bin/sh", out, sizeof out), 0);
	assert_string_equal(out, "/bin/sh");
	assert_int_equal(proc_find_on_path("/etc/passwd", out, sizeof out), -1);
	if (saved)
		setenv("PATH", saved, 1);
	else
		unsetenv("PATH");
	free(saved);
}

static void first_line(void **state)
{
	char out[8];

	(void)state;
	proc_first_line("abc\ndef", out, sizeof out);
	assert_string_equal(out, "abc");
	proc_first_line("abcdefghijkl", out, sizeof out);
	assert_string_equal(out, "abcdefg");
	proc_first_line(NULL, out, sizeof out);
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(exit_codes_and_both_streams),
		cmocka_unit_test(stdin_is_fed_and_dev_null_otherwise),
		cmocka_unit_test(large_stdin_to_a_child_that_does_not_read),
		cmocka_unit_test(output_beyond_the_limit_is_dropped),
		cmocka_unit_test(cwd_and_environment_changes),
		cmocka_unit_test(timeouts_signals_and_missing_programs),
		cmocka_unit_test(own_group_timeout_kills_grandchildren),
		cmocka_unit_test(limits_bind_the_child_and_its_children),
		cmocka_unit_test(cpu_limit_binds_and_is_counted),
		cmocka_unit_test(programs_are_found_on_path),
		cmocka_unit_test(first_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
