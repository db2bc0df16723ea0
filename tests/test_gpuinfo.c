/* test_gpuinfo.c: the GPU's model and driver read from the NVIDIA driver's
 * /proc files, on fake trees laid out as the driver lays them out (the
 * files' text as an H100 machine has it): no driver, one or two GPUs taken
 * in bus-id order, a file without the key, an unreadable entry, and a file
 * that, like the driver's, reports a size of 0 (a FIFO here). */
#include "testutil.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "harness/gpuinfo.h"

static char *root;

static const char *const h100_info =
	"Model: \t\t NVIDIA H100 80GB HBM3\n"
	"IRQ:   \t\t 34\n"
	"GPU UUID: \t GPU-6c1f0e4e-0000-0000-0000-000000000000\n"
	"Bus Location: \t 0000:00:06.0\n";

static void no_driver_is_no_gpu(void **st)
{
	struct gpuinfo g;
	struct kerr err;

	(void)st;
	assert_int_equal(gpuinfo_read(root, &g, &err), 0);
	assert_int_equal(g.count, 0);
	assert_string_equal(g.model, "");
	assert_string_equal(g.driver, "");
}

/* The driver's files report a size of 0 and have text, as a pipe does: rel
 * is made a FIFO that a child fills once; reaped by fifo_done. */
static pid_t put_fifo(const char *rel, const char *text)
{
	char path[FS_PATH_MAX];
	pid_t pid;

	snprintf(path, sizeof path, "%s/%s", root, rel);
	assert_int_equal(mkfifo(path, 0600), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(path, O_WRONLY);
		_exit(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text) ? 0 : 1);
	}
	return pid;
}

static void fifo_done(pid_t pid, const char *rel)
{
	char path[FS_PATH_MAX];
	int status = 0;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	snprintf(path, sizeof path, "%s/%s", root, rel);
	unlink(path);
}

static void model_and_driver(void **st)
{
	struct gpuinfo g;
	struct kerr err;
	pid_t writer;

	(void)st;
	tu_put(root, "driver/nvidia/gpus/0000:00:06.0/information", h100_info);
	writer = put_fifo("driver/nvidia/version",
			  "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.159.04  Tue Oct 28 06:18:43 UTC 2025\n"
			  "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n");
	assert_int_equal(gpuinfo_read(root, &g, &err), 0);
	fifo_done(writer, "driver/nvidia/version");
	assert_string_equal(g.driver, "580.159.04");
	tu_put(root, "driver/nvidia/version",
	    "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.159.04  Tue Oct 28 06:18:43 UTC 2025\n");
	assert_int_equal(gpuinfo_read(root, &g, &err), 0);
	assert_int_equal(g.count, 1);
	assert_string_equal(g.model, "NVIDIA H100 80GB HBM3");
	assert_string_equal(g.driver, "580.159.04");
	/* a second GPU earlier on the bus comes first; no Model line: unknown */
	tu_put(root, "driver/nvidia/gpus/0000:00:05.0/information", "IRQ: 33\n");
	assert_int_equal(gpuinfo_read(root, &g, &err), 0);
	assert_int_equal(g.count, 2);
	assert_string_equal(g.model, "unknown");
}

static void unreadable_entry_is_an_error(void **st)
{
	char path[FS_PATH_MAX];
	struct gpuinfo g;
	struct kerr err;

	(void)st;
	/* an information "file" that is a folder cannot be read */
	snprintf(path, sizeof path, "%s/driver/nvidia/gpus/0000:00:04.0/information", root);
	assert_int_equal(fs_mkdir_p(path, &err), 0);
	assert_int_equal(gpuinfo_read(root, &g, &err), -1);
	assert_string_equal(err.code, "gpu.info");
}

static int setup(void **st)
{
	(void)st;
	root = tu_mkdtemp();
	return 0;
}

static int teardown(void **st)
{
	(void)st;
	tu_rmdir(root);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(no_driver_is_no_gpu),
		cmocka_unit_test(model_and_driver),
		cmocka_unit_test(unreadable_entry_is_an_error),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
