/* test_gpucalib.c: the GPU calibration's C side, without a GPU. Its
 * program's one line is read like any untrusted input: an honest line
 * passes with its figures; malformed, oversized, non-finite or inconsistent
 * lines are refused with gpucalib.bad_output. The program is run as a
 * child (fake programs here stand in for it), and where karpa was built
 * with the CUDA toolkit the real one is built from the harness source
 * (recipe_build_gpucalib) and run: on a machine without a GPU it must fail
 * with a message naming CUDA, never print a figure. */
#include "testutil.h"

#include <sys/stat.h>

#include "harness/gpucalib.h"
#include "sandbox/recipe_build.h"
#include "util/hash.h"

static char *work;

#define GPU_NAME "NVIDIA H100 80GB HBM3"

/* The rate a median gives, as the program computes it. */
static double tflops_of(double ms)
{
	return 2.0 * CALIB_GPU_N * CALIB_GPU_N * (double)CALIB_GPU_N / (ms * 1e9);
}

/* A line in the program's format with the figures written as given. */
static void line_text(char *out, size_t cap, const char *median, const char *min, const char *max,
		      const char *tflops, const char *gpu)
{
	snprintf(out, cap,
		 "{\"n\":%d,\"repeats\":%d,\"median_ms\":%s,\"min_ms\":%s,\"max_ms\":%s,\"tflops\":%s,\"gpu\":\"%s\"}\n",
		 CALIB_GPU_N, CALIB_GPU_REPEATS, median, min, max, tflops, gpu);
}

static void line_of(char *out, size_t cap, double median, double min, double max, double tflops, const char *gpu)
{
	char t[4][32];

	snprintf(t[0], sizeof t[0], "%.17g", median);
	snprintf(t[1], sizeof t[1], "%.17g", min);
	snprintf(t[2], sizeof t[2], "%.17g", max);
	snprintf(t[3], sizeof t[3], "%.17g", tflops);
	line_text(out, cap, t[0], t[1], t[2], t[3], gpu);
}

/* The line the program prints for a median of ms. */
static void line_for(char *out, size_t cap, double ms, const char *gpu)
{
	line_of(out, cap, ms, ms * 0.99, ms * 1.02, tflops_of(ms), gpu);
}

static const char *parse_code(const char *line, struct gpucalib *c)
{
	static struct kerr err;

	kerr_clear(&err);
	if (gpucalib_parse(line, strlen(line), c, &err) == 0)
		return "";
	print_message("    refused: %s: %s\n", err.code, err.msg);
	return err.code;
}

static void honest_line_is_read(void **st)
{
	char line[GPUCALIB_LINE_MAX];
	struct gpucalib c;

	(void)st;
	line_for(line, sizeof line, 1.4123, GPU_NAME);
	assert_string_equal(parse_code(line, &c), "");
	assert_string_equal(c.gpu, GPU_NAME);
	assert_true(c.median_ms == 1.4123);
	assert_true(c.min_ms == 1.4123 * 0.99 && c.max_ms == 1.4123 * 1.02);
	assert_true(fabs(c.tflops - 778.53) < 0.01);
	/* without its newline too */
	line[strlen(line) - 1] = '\0';
	assert_string_equal(parse_code(line, &c), "");
	/* the record calibration.json keeps reads back to the same figures */
	{
		json_t *j = gpucalib_json(&c);
		struct gpucalib back;
		struct kerr err;

		assert_non_null(j);
		assert_int_equal(gpucalib_from_json(j, &back, &err), 0);
		assert_memory_equal(&back, &c, sizeof c);
		json_decref(j);
	}
}

/* One honest line with `from` replaced by `to` (first occurrence). */
static void edited(char *out, size_t cap, const char *from, const char *to)
{
	char line[GPUCALIB_LINE_MAX];
	const char *at;

	line_for(line, sizeof line, 1.5, GPU_NAME);
	at = strstr(line, from);
	assert_non_null(at);
	snprintf(out, cap, "%.*s%s%s", (int)(at - line), line, to, at + strlen(from));
}

static void malformed_lines_are_refused(void **st)
{
	static const char *const lines[] = {
		"",
		"\n",
		"hello\n",
		"[1, 2]\n",
		"{\"n\":8192}\n",
		"NaN\n",
	};
	static const char *const edits[][2] = {
		{ ",\"tflops\"", ",\"tflopz\"" },
		{ "{\"n\"", "{\"algo\":7,\"n\"" },
		{ "{\"n\":8192", "{\"n\":8192,\"n\":8192" },
		{ "{\"n\":8192", "{\"n\":8192.0" },
		{ "\"gpu\":\"", "\"gpu\":7,\"x\":\"" },
		{ "{\"n\":8192", "{\"n\":4096" },
		{ "\"repeats\":51", "\"repeats\":50" },
	};
	char line[4 * GPUCALIB_LINE_MAX], two[2 * GPUCALIB_LINE_MAX], e[GPUCALIB_LINE_MAX];
	struct gpucalib c;

	(void)st;
	for (size_t i = 0; i < sizeof lines / sizeof *lines; i++)
		assert_string_equal(parse_code(lines[i], &c), "gpucalib.bad_output");
	/* two lines, or one and an empty one */
	line_for(line, sizeof line, 1.5, GPU_NAME);
	snprintf(two, sizeof two, "%s%s", line, line);
	assert_string_equal(parse_code(two, &c), "gpucalib.bad_output");
	snprintf(two, sizeof two, "%s\n", line);
	assert_string_equal(parse_code(two, &c), "gpucalib.bad_output");
	/* something after the object */
	line[strlen(line) - 1] = '\0';
	snprintf(two, sizeof two, "%s x\n", line);
	assert_string_equal(parse_code(two, &c), "gpucalib.bad_output");
	/* a key missing, one more, one twice, a number of the wrong type;
	 * another shape or repeat count than the harness's */
	for (size_t i = 0; i < sizeof edits / sizeof *edits; i++) {
		edited(e, sizeof e, edits[i][0], edits[i][1]);
		assert_string_equal(parse_code(e, &c), "gpucalib.bad_output");
	}
}

/* A valid JSON object, but longer than the program's line can be. */
static void oversized_output_is_refused(void **st)
{
	char line[GPUCALIB_LINE_MAX], big[2 * GPUCALIB_LINE_MAX];
	struct gpucalib c;
	size_t n;

	(void)st;
	line_for(line, sizeof line, 1.5, GPU_NAME);
	n = strlen(line);
	memset(big, ' ', sizeof big);
	memcpy(big + GPUCALIB_LINE_MAX + 1 - n, line, n);
	big[GPUCALIB_LINE_MAX + 1] = '\0';
	assert_string_equal(parse_code(big, &c), "gpucalib.bad_output");
	/* one byte shorter is within the bound and reads */
	assert_string_equal(parse_code(big + 1, &c), "");
}

static void nonfinite_figures_are_refused(void **st)
{
	char e[GPUCALIB_LINE_MAX], tf[32];
	struct gpucalib c;

	(void)st;
	/* JSON has no NaN or infinity; an overflowing number is no figure either */
	snprintf(tf, sizeof tf, "%.17g", tflops_of(1.5));
	line_text(e, sizeof e, "1.5", "1.4", "1.6", tf, GPU_NAME);
	assert_string_equal(parse_code(e, &c), "");
	line_text(e, sizeof e, "NaN", "1.4", "1.6", tf, GPU_NAME);
	assert_string_equal(parse_code(e, &c), "gpucalib.bad_output");
	line_text(e, sizeof e, "1.5", "1.4", "1e999", tf, GPU_NAME);
	assert_string_equal(parse_code(e, &c), "gpucalib.bad_output");
	line_text(e, sizeof e, "1.5", "1.4", "Infinity", tf, GPU_NAME);
	assert_string_equal(parse_code(e, &c), "gpucalib.bad_output");
	line_text(e, sizeof e, "1.5", "-Infinity", "1.6", tf, GPU_NAME);
	assert_string_equal(parse_code(e, &c), "gpucalib.bad_output");
	/* gpucalib_check itself, on figures no parser gives */
	{
		struct gpucalib g = { GPU_NAME, 1.5, 1.4, INFINITY, 0 };
		struct kerr err;

		g.tflops = tflops_of(1.5);
		assert_int_equal(gpucalib_check(&g, &err), -1);
		assert_string_equal(err.code, "gpucalib.bad_output");
		g.max_ms = 1.6;
		g.median_ms = NAN;
		assert_int_equal(gpucalib_check(&g, &err), -1);
		g.median_ms = 1.5;
		assert_int_equal(gpucalib_check(&g, &err), 0);
	}
}

static void inconsistent_figures_are_refused(void **st)
{
	char line[GPUCALIB_LINE_MAX], name[GPUCALIB_NAME_MAX + 8];
	struct gpucalib c;

	(void)st;
	/* a rate the median does not give: one part in 1e6 off, or the rate
	 * of a faster median */
	line_of(line, sizeof line, 1.5, 1.4, 1.6, tflops_of(1.5) * (1 + 1e-6), GPU_NAME);
	assert_string_equal(parse_code(line, &c), "gpucalib.bad_output");
	line_of(line, sizeof line, 1.5, 1.4, 1.6, tflops_of(1.4), GPU_NAME);
	assert_string_equal(parse_code(line, &c), "gpucalib.bad_output");
	line_of(line, sizeof line, 1.5, 1.4, 1.6, tflops_of(1.5), GPU_NAME);
	assert_string_equal(parse_code(line, &c), "");
	/* min above the median, the median above max */
	line_of(line, sizeof line, 1.5, 1.6, 1.7, tflops_of(1.5), GPU_NAME);
	assert_string_equal(parse_code(line, &c), "gpucalib.bad_output");
	line_of(line, sizeof line, 1.5, 1.4, 1.45, tflops_of(1.5), GPU_NAME);
	assert_string_equal(parse_code(line, &c), "gpucalib.bad_output");
	/* zero and negative times */
	line_of(line, sizeof line, 1.5, 0, 1.6, tflops_of(1.5), GPU_NAME);
	assert_string_equal(parse_code(line, &c), "gpucalib.bad_output");
	line_of(line, sizeof line, 1.5, -1, 1.6, tflops_of(1.5), GPU_NAME);
	assert_string_equal(parse_code(line, &c), "gpucalib.bad_output");
	line_of(line, sizeof line, -1.5, -1.6, -1.4, tflops_of(-1.5), GPU_NAME);
	assert_string_equal(parse_code(line, &c), "gpucalib.bad_output");
	/* consistent, but faster than any GPU (0.01 ms: 110 PFLOP/s) or slower
	 * than one a proof could train on */
	line_for(line, sizeof line, 0.01, GPU_NAME);
	assert_string_equal(parse_code(line, &c), "gpucalib.bad_output");
	line_for(line, sizeof line, 0.06, GPU_NAME); /* 18.3 PFLOP/s, under the bound */
	assert_string_equal(parse_code(line, &c), "");
	line_for(line, sizeof line, GPUCALIB_MS_MAX, GPU_NAME);
	assert_string_equal(parse_code(line, &c), "gpucalib.bad_output");
	/* names: empty, a control byte, a byte beyond ASCII, too long */
	line_for(line, sizeof line, 1.5, "");
	assert_string_equal(parse_code(line, &c), "gpucalib.bad_output");
	line_for(line, sizeof line, 1.5, "NVIDIA\\u0001H100");
	assert_string_equal(parse_code(line, &c), "gpucalib.bad_output");
	line_for(line, sizeof line, 1.5, "NVIDIA H100 \\u00e9");
	assert_string_equal(parse_code(line, &c), "gpucalib.bad_output");
	memset(name, 'A', GPUCALIB_NAME_MAX);
	name[GPUCALIB_NAME_MAX] = '\0';
	line_for(line, sizeof line, 1.5, name);
	assert_string_equal(parse_code(line, &c), "gpucalib.bad_output");
	name[GPUCALIB_NAME_MAX - 1] = '\0'; /* the longest name kept */
	line_for(line, sizeof line, 1.5, name);
	assert_string_equal(parse_code(line, &c), "");
}

/* A fake calibration program: a shell script with body. */
static void fake_tool(char *path, const char *name, const char *body)
{
	FILE *f;

	snprintf(path, FS_PATH_MAX, "%s/%s", work, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	assert_int_equal(chmod(path, 0755), 0);
}

static void the_program_runs_as_a_child(void **st)
{
	char tool[FS_PATH_MAX], line[GPUCALIB_LINE_MAX], body[2 * GPUCALIB_LINE_MAX];
	struct gpucalib c;
	struct kerr err;

	(void)st;
	line_for(line, sizeof line, 1.25, GPU_NAME);
	line[strlen(line) - 1] = '\0';
	snprintf(body, sizeof body, "printf '%%s\\n' '%s'", line);
	fake_tool(tool, "honest", body);
	assert_int_equal(gpucalib_run(tool, &c, &err), 0);
	assert_true(c.median_ms == 1.25);
	assert_string_equal(c.gpu, GPU_NAME);
	/* a failure is the program's own message, with its status */
	fake_tool(tool, "fails", "echo 'karpa-gpucalib: allocating A: out of memory' >&2; exit 3");
	assert_int_equal(gpucalib_run(tool, &c, &err), -1);
	assert_string_equal(err.code, "gpucalib.failed");
	assert_non_null(strstr(err.msg, "exited 3"));
	assert_non_null(strstr(err.msg, "allocating A: out of memory"));
	fake_tool(tool, "killed", "kill -9 $$");
	assert_int_equal(gpucalib_run(tool, &c, &err), -1);
	assert_string_equal(err.code, "gpucalib.failed");
	assert_non_null(strstr(err.msg, "signal 9"));
	/* a figure and a failure is a failure */
	snprintf(body, sizeof body, "printf '%%s\\n' '%s'; exit 1", line);
	fake_tool(tool, "half", body);
	assert_int_equal(gpucalib_run(tool, &c, &err), -1);
	assert_string_equal(err.code, "gpucalib.failed");
	/* a flood of output is cut at the bound and refused, not kept */
	fake_tool(tool, "flood", "yes '{}' | head -c 100000");
	assert_int_equal(gpucalib_run(tool, &c, &err), -1);
	assert_string_equal(err.code, "gpucalib.bad_output");
	/* no program at all */
	snprintf(tool, sizeof tool, "%s/absent", work);
	assert_int_equal(gpucalib_run(tool, &c, &err), -1);
}

/* The real program, from the harness source, by the recipe build's
 * machinery: one executable in the build cache, reused while its source,
 * the constants' header and the toolchain are unchanged. It cannot succeed
 * without a GPU; where there is none it fails with CUDA's reason. */
static void the_real_program_builds_where_nvcc_is(void **st)
{
	struct recipe_build_info bi, again;
	struct gpucalib c;
	struct kerr err;

	(void)st;
	if (recipe_build_gpucalib(&bi, &err) < 0) {
		if (!strcmp(err.code, "recipe.no_cuda_tools")) {
			print_message("   %s\n", err.msg);
			skip();
		}
		fail_msg("%s: %s", err.code, err.msg);
	}
	assert_int_equal(bi.cuda, 1);
	assert_non_null(strstr(bi.nvcc, "release"));
	assert_non_null(strstr(bi.runner, "/karpa-gpucalib"));
	assert_int_equal(access(bi.runner, X_OK), 0);
	assert_int_equal(recipe_build_gpucalib(&again, &err), 0);
	assert_int_equal(again.cached, 1);
	assert_string_equal(again.runner, bi.runner);
	if (gpucalib_run(bi.runner, &c, &err) == 0) {
		print_message("   a GPU: %s, median %.4f ms, %.1f TFLOP/s\n", c.gpu, c.median_ms, c.tflops);
		return;
	}
	print_message("   %s: %s\n", err.code, err.msg);
	assert_string_equal(err.code, "gpucalib.failed");
	assert_non_null(strstr(err.msg, "karpa-gpucalib: "));
}

static int setup(void **st)
{
	(void)st;
	hash_init_lib();
	work = tu_mkdtemp_own_cache();
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
		cmocka_unit_test(honest_line_is_read),
		cmocka_unit_test(malformed_lines_are_refused),
		cmocka_unit_test(oversized_output_is_refused),
		cmocka_unit_test(nonfinite_figures_are_refused),
		cmocka_unit_test(inconsistent_figures_are_refused),
		cmocka_unit_test(the_program_runs_as_a_child),
		cmocka_unit_test(the_real_program_builds_where_nvcc_is),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
