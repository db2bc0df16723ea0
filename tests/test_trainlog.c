/* test_trainlog.c: the training log's hash chain verifies as written and
 * breaks, at the right line, when a line is edited, deleted or swapped. */
#include "testutil.h"

#include <fcntl.h>
#include <math.h>
#include <time.h>

#include "harness/trainlog.h"

static char *dir;
static char good[FS_PATH_MAX];

static int write_log(const char *path, int steps)
{
	struct trainlog l;
	struct kerr err;
	struct trainlog_header h = {
		.recipe = "karpa-gpt", .recipe_version = "0.1.0", .scale = "tiny", .seed = 7,
		.data_digest = "d1", .tokenizer_digest = "t1", .steps = steps, .params = 1000,
		.batch = 4, .seq_len = 16,
	};
	char sha[HASH_HEX_BYTES];

	memset(sha, 'e', 64);
	sha[64] = '\0';
	if (trainlog_open(&l, path, &h, &err) < 0)
		return -1;
	for (int s = 0; s < steps; s++) {
		/* Awkward reals on purpose: they must round-trip through canonical form. */
		if (trainlog_step(&l, s, (uint64_t)(s + 1) * 64, 3e-4f * (float)(s + 1) / 3.0f,
				  (float)(5.5 / (s + 1.0)), 0.1 + s * 1.37, 64 / 1.3e-3, &err) < 0)
			return -1;
		if (s % 4 == 3 && trainlog_checkpoint(&l, s + 1, "checkpoints/x.ckpt", sha, &err) < 0)
			return -1;
	}
	if (trainlog_eval(&l, "val", 1.234567890123, 2.5, 1000, 4000, &err) < 0)
		return -1;
	return trainlog_close(&l, &err);
}

static int setup(void **s)
{
	(void)s;
	hash_init_lib();
	dir = tu_mkdtemp();
	snprintf(good, sizeof good, "%s/good.log", dir);
	assert_int_equal(write_log(good, 10), 0);
	return 0;
}

static int teardown(void **s)
{
	(void)s;
	tu_rmdir(dir);
	return 0;
}

/* Splits the good log into lines; returns count. Caller frees text. */
static int lines_of(char **text, char *line[64], size_t len[64])
{
	size_t n;
	struct kerr err;
	int k = 0;
	char *p;

	assert_int_equal(fs_read_all(good, 1 << 20, text, &n, &err), 0);
	p = *text;
	while (*p && k < 64) {
		char *nl = strchr(p, '\n');
		assert_non_null(nl);
		line[k] = p;
		len[k] = (size_t)(nl - p) + 1;
		k++;
		p = nl + 1;
	}
	return k;
}

static void write_lines(const char *path, char **line, size_t *len, int k)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	for (int i = 0; i < k; i++)
		assert_int_equal(fwrite(line[i], 1, len[i], f), len[i]);
	fclose(f);
}

static void expect(const char *path, const char *code, const char *line_tag)
{
	struct trainlog_summary s;
	struct kerr err;

	assert_int_equal(trainlog_verify(path, &s, &err), -1);
	assert_string_equal(err.code, code);
	if (line_tag)
		assert_non_null(strstr(err.msg, line_tag));
}

static void test_verify_good(void **s)
{
	struct trainlog_summary sum;
	struct kerr err;
	char *text, *line[64];
	size_t len[64];
	int k;

	(void)s;
	assert_int_equal(trainlog_verify(good, &sum, &err), 0);
	k = lines_of(&text, line, len);
	/* header + 10 steps + 2 checkpoints + eval */
	assert_int_equal(k, 14);
	assert_int_equal(sum.lines, 14);
	assert_int_equal(sum.steps, 10);
	assert_int_equal(sum.last_step, 9);
	assert_int_equal(sum.checkpoints, 2);
	/* The head is the hash of the last line, and line 2's prev is line 1's hash. */
	{
		char h[HASH_HEX_BYTES], want[80];
		hash_buf_hex(line[k - 1], len[k - 1] - 1, h);
		assert_string_equal(sum.head, h);
		hash_buf_hex(line[0], len[0] - 1, h);
		snprintf(want, sizeof want, "\"prev\":\"%s\"", h);
		assert_non_null(strstr(line[1], want));
		assert_non_null(strstr(line[0], "\"prev\":\"" TRAINLOG_GENESIS "\""));
		assert_non_null(strstr(line[0], "\"event\":\"header\""));
	}
	free(text);
}

static void test_same_inputs_same_bytes(void **s)
{
	char p[FS_PATH_MAX], *a, *b;
	size_t na, nb;
	struct kerr err;

	(void)s;
	snprintf(p, sizeof p, "%s/again.log", dir);
	assert_int_equal(write_log(p, 10), 0);
	assert_int_equal(fs_read_all(good, 1 << 20, &a, &na, &err), 0);
	assert_int_equal(fs_read_all(p, 1 << 20, &b, &nb, &err), 0);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, na);
	free(a);
	free(b);
	/* An existing log is never reopened for writing. */
	assert_int_equal(write_log(p, 1), -1);
}

static void test_edited_line(void **s)
{
	char *text, *line[64], p[FS_PATH_MAX], *hit;
	size_t len[64];
	int k;

	(void)s;
	k = lines_of(&text, line, len);
	/* Step 4 is file line 7 (header, steps 0-3, one checkpoint before it).
	 * Change its token count 320 -> 330: still canonical, still ordered. */
	hit = strstr(line[6], "\"tokens\":320,");
	assert_non_null(hit);
	hit[10] = '3';
	snprintf(p, sizeof p, "%s/edited.log", dir);
	write_lines(p, line, len, k);
	/* The edited line still parses; the next line's prev no longer matches. */
	expect(p, "log.chain_broken", "line 8");
	free(text);
}

static void test_deleted_line(void **s)
{
	char *text, *line[64], p[FS_PATH_MAX];
	size_t len[64];
	int k;

	(void)s;
	k = lines_of(&text, line, len);
	memmove(&line[3], &line[4], (size_t)(k - 4) * sizeof line[0]);
	memmove(&len[3], &len[4], (size_t)(k - 4) * sizeof len[0]);
	snprintf(p, sizeof p, "%s/deleted.log", dir);
	write_lines(p, line, len, k - 1);
	expect(p, "log.chain_broken", "line 4");
	/* Deleting the last line keeps a valid (shorter) chain: the head changes,
	 * which is why the bundle manifest records the head. */
	free(text);
	k = lines_of(&text, line, len);
	write_lines(p, line, len, k - 1);
	{
		struct trainlog_summary sum;
		struct kerr err;
		assert_int_equal(trainlog_verify(p, &sum, &err), 0);
	}
	free(text);
}

static void test_swapped_lines(void **s)
{
	char *text, *line[64], p[FS_PATH_MAX], *t;
	size_t len[64], tl;
	int k;

	(void)s;
	k = lines_of(&text, line, len);
	t = line[2], line[2] = line[3], line[3] = t;
	tl = len[2], len[2] = len[3], len[3] = tl;
	snprintf(p, sizeof p, "%s/swapped.log", dir);
	write_lines(p, line, len, k);
	expect(p, "log.chain_broken", "line 3");
	free(text);
}

static void test_parse_failures(void **s)
{
	char *text, *line[64], p[FS_PATH_MAX];
	size_t len[64];
	int k;

	(void)s;
	k = lines_of(&text, line, len);
	snprintf(p, sizeof p, "%s/partial.log", dir);
	len[k - 1] -= 10; /* a torn final write */
	write_lines(p, line, len, k);
	expect(p, "log.parse", "line 14");
	/* Not canonical: a space after the opening brace. */
	{
		FILE *f = fopen(p, "wb");
		fputs("{ \"event\":\"header\"}\n", f);
		fclose(f);
		expect(p, "log.not_canonical", "line 1");
		f = fopen(p, "wb");
		fclose(f);
		expect(p, "log.no_header", NULL);
	}
	/* A log that starts at a step record has no header. */
	write_lines(p, line + 1, len + 1, 3);
	expect(p, "log.chain_broken", "line 1");
	free(text);
}

static void test_nonfinite_refused(void **s)
{
	struct trainlog l;
	struct kerr err;
	struct trainlog_header h = { .recipe = "r", .recipe_version = "1", .scale = "tiny",
				     .data_digest = "d", .tokenizer_digest = "t" };
	char p[FS_PATH_MAX];

	(void)s;
	snprintf(p, sizeof p, "%s/nan.log", dir);
	assert_int_equal(trainlog_open(&l, p, &h, &err), 0);
	assert_int_equal(trainlog_step(&l, 0, 1, 0.1, NAN, 1, 1, &err), -1);
	assert_string_equal(err.code, "log.encode");
	assert_int_equal(trainlog_close(&l, &err), 0);
}

/* Not an assertion on speed: prints what fsync per line would cost, the
 * figure docs/harness.md quotes for the fsync-at-checkpoints choice. */
static void test_measure_fsync(void **s)
{
	struct timespec a, b;
	char p[FS_PATH_MAX];
	int fd;
	const char line[] = "{\"event\":\"step\",\"loss\":1.0}\n";
	double ms;

	(void)s;
	snprintf(p, sizeof p, "%s/fsync.bin", dir);
	fd = open(p, O_WRONLY | O_CREAT | O_APPEND, 0644);
	assert_true(fd >= 0);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(write(fd, line, sizeof line - 1), (ssize_t)(sizeof line - 1));
		assert_int_equal(fsync(fd), 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	close(fd);
	ms = ((b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6) / 50;
	print_message("fsync per log line: %.3f ms\n", ms);
}

/* The iterator yields every record of a log, typed, with its bytes and
 * line number; a log many times its line buffer streams through. */
static void test_iter_records(void **s)
{
	char p[FS_PATH_MAX];
	struct trainlog_iter it;
	struct trainlog_rec r;
	struct kerr err = { 0 };
	int64_t steps = 0, ckpts = 0, evals = 0, lines = 0;
	int got;

	(void)s;
	snprintf(p, sizeof p, "%s/long.log", dir);
	assert_int_equal(write_log(p, 400), 0); /* ~100 KiB: the buffer is TRAINLOG_LINE_MAX */
	assert_int_equal(trainlog_iter_open(&it, p, &err), 0);
	while ((got = trainlog_iter_next(&it, &r, &err)) == 1) {
		assert_int_equal(r.lineno, ++lines);
		assert_true(r.len > 0 && r.line[r.len - 1] == '}');
		assert_non_null(r.obj);
		switch (r.kind) {
		case TRAINLOG_REC_HEADER:
			assert_int_equal(r.lineno, 1);
			assert_string_equal(r.event, "header");
			break;
		case TRAINLOG_REC_STEP:
			assert_int_equal(r.step, steps);
			assert_int_equal(r.tokens, (steps + 1) * 64);
			assert_true(r.loss == (double)(float)(5.5 / (steps + 1.0)));
			assert_true(isfinite(r.lr) && isfinite(r.wall_ms) && isfinite(r.tok_per_s));
			steps++;
			break;
		case TRAINLOG_REC_CHECKPOINT:
			assert_int_equal(r.step, steps);
			assert_string_equal(r.file, "checkpoints/x.ckpt");
			assert_int_equal(strlen(r.sha256), 64);
			ckpts++;
			break;
		case TRAINLOG_REC_EVAL:
			assert_string_equal(r.split, "val");
			assert_true(r.val_bpb == 1.234567890123);
			evals++;
			break;
		default:
			fail_msg("line %lld: untyped record", (long long)r.lineno);
		}
	}
	assert_int_equal(got, 0);
	assert_int_equal(steps, 400);
	assert_int_equal(ckpts, 100);
	assert_int_equal(evals, 1);
	assert_int_equal(trainlog_iter_next(&it, &r, &err), 0); /* stays at the end */
	trainlog_iter_close(&it);
	trainlog_iter_close(&it);
}

/* Writes text to p and returns what the iterator says about its lines:
 * the code of the first failure (and its message in msg), or "" when every
 * line is a record. */
static const char *iter_verdict(const char *p, const char *text, size_t n, char msg[KERR_MSG_MAX])
{
	static char code[KERR_CODE_MAX];
	struct trainlog_iter it;
	struct trainlog_rec r;
	struct kerr err = { 0 };
	FILE *f = fopen(p, "wb");
	int got;

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, n, f), n);
	fclose(f);
	if (trainlog_iter_open(&it, p, &err) < 0)
		goto done;
	while ((got = trainlog_iter_next(&it, &r, &err)) == 1)
		;
	trainlog_iter_close(&it);
	if (got == 0)
		err.code[0] = '\0';
done:
	snprintf(code, sizeof code, "%s", err.code);
	snprintf(msg, KERR_MSG_MAX, "%s", err.msg);
	return code;
}

/* Framing and JSON failures, each naming its line; an untyped record is a
 * record (what it means is its reader's business). */
static void test_iter_refusals(void **s)
{
	char p[FS_PATH_MAX], msg[KERR_MSG_MAX], *lng;
	size_t n = TRAINLOG_LINE_MAX + 8;

#define VERDICT(text) iter_verdict(p, text, strlen(text), msg)
	(void)s;
	snprintf(p, sizeof p, "%s/bad.log", dir);
	assert_string_equal(VERDICT(""), "");
	assert_string_equal(VERDICT("{\"event\":\"x\"}\n{}\n"), "");
	assert_string_equal(VERDICT("{}\n{\"a\":1}"), "log.parse");
	assert_non_null(strstr(msg, "line 2 has no newline"));
	assert_string_equal(VERDICT("{}\n\n{}\n"), "log.parse");
	assert_non_null(strstr(msg, "line 2 is empty"));
	assert_string_equal(VERDICT("[1]\n"), "log.parse");
	assert_non_null(strstr(msg, "line 1: not a JSON object"));
	assert_string_equal(VERDICT("{\"a\":1,\"a\":2}\n"), "log.parse");
	lng = malloc(n);
	assert_non_null(lng);
	memset(lng, ' ', n);
	lng[0] = '{';
	lng[n - 2] = '}';
	lng[n - 1] = '\n';
	assert_string_equal(iter_verdict(p, lng, n, msg), "log.parse");
	assert_non_null(strstr(msg, "line 1 is too long"));
	free(lng);
#undef VERDICT
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verify_good),
		cmocka_unit_test(test_same_inputs_same_bytes),
		cmocka_unit_test(test_edited_line),
		cmocka_unit_test(test_deleted_line),
		cmocka_unit_test(test_swapped_lines),
		cmocka_unit_test(test_parse_failures),
		cmocka_unit_test(test_nonfinite_refused),
		cmocka_unit_test(test_measure_fsync),
		cmocka_unit_test(test_iter_records),
		cmocka_unit_test(test_iter_refusals),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
