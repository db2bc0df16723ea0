/* test_pipe_frames.c: malformed frames on the recipe pipe. The host treats
 * every byte from the runner as hostile (recipe_wire.h): each way a runner
 * can break the framing must end in its documented code (docs/sandbox.md,
 * "Reason codes"), quickly, without a crash, a hang or an allocation the
 * runner sized. The fake runner is this test binary itself, started by the
 * pipe host with KARPA_FAKE_RUNNER naming what it should send back to the
 * first request (or, for the *_later modes, to the one after create). */
#include "../testutil.h"

#include "sandbox/recipe_host.h"
#include "sandbox/recipe_pipe.h"
#include "sandbox/recipe_wire.h"

#define CALL_TIMEOUT_MS 1500 /* the host's per-call limit in every case */
#define CASE_WALL_MS_MAX 8000 /* far above any honest failure, far below a hang */
#define FAKE_SLEEP_S 30       /* how long a "hanging" runner hangs */

static char self[FS_PATH_MAX];

/* ---- the fake runner -------------------------------------------------- */

/* Reads one request and discards its payload; -1 on EOF. */
static int fake_read_request(struct wire_hdr *h)
{
	char sink[4096];

	if (wire_read_full(0, h, sizeof *h) < 0)
		return -1;
	for (uint64_t left = h->len; left > 0;) {
		size_t n = left < sizeof sink ? (size_t)left : sizeof sink;
		if (wire_read_full(0, sink, n) < 0)
			return -1;
		left -= n;
	}
	return 0;
}

static void fake_plan(struct wire_plan *p, int batch)
{
	memset(p, 0, sizeof *p);
	snprintf(p->name, sizeof p->name, "fake");
	snprintf(p->version, sizeof p->version, "0.0.1");
	p->batch = batch;
	p->seq_len = 8;
	p->eval_batch = 1;
	p->steps = 10;
	p->ckpt_every = 5;
	p->params = 100;
}

/* The runner: answers the request named by mode with a broken frame. */
static int fake_runner(const char *mode)
{
	struct wire_hdr req, h = { WIRE_MAGIC, 0, 0 };
	struct wire_plan plan;
	int later = strstr(mode, "_later") != NULL;

	if (!strcmp(mode, "exit"))
		return 0; /* closes both pipes before reading anything */
	if (!strncmp(mode, "honest", 6)) {
		/* create answered with a plan of batch 2 ("honest") or 3 ("honest3"),
		 * state_bytes with 16; then EOF ends it */
		uint64_t v = 16;
		for (; fake_read_request(&req) == 0;) {
			fake_plan(&plan, strcmp(mode, "honest3") ? 2 : 3);
			if (req.type == WIRE_CREATE)
				wire_send(1, WIRE_OK | WIRE_CREATE, &plan, sizeof plan);
			else if (req.type == WIRE_STATE_BYTES)
				wire_send(1, WIRE_OK | WIRE_STATE_BYTES, &v, sizeof v);
			else
				wire_send(1, WIRE_ERR, "unexpected", 10);
		}
		return 0;
	}
	if (fake_read_request(&req) < 0)
		return 1;
	if (later) {
		/* an honest create first */
		fake_plan(&plan, 2);
		wire_send(1, WIRE_OK | WIRE_CREATE, &plan, sizeof plan);
		if (fake_read_request(&req) < 0)
			return 1;
	}
	if (!strcmp(mode, "short_header")) {
		h.type = WIRE_OK | req.type;
		wire_write_full(1, &h, 8);
	} else if (!strcmp(mode, "short_header_hang")) {
		h.type = WIRE_OK | req.type;
		wire_write_full(1, &h, 8);
		sleep(FAKE_SLEEP_S);
	} else if (!strcmp(mode, "silent")) {
		sleep(FAKE_SLEEP_S);
	} else if (!strcmp(mode, "garbage")) {
		static const char junk[] = "GARBAGE GARBAGE GARBAGE GARBAGE";
		wire_write_full(1, junk, sizeof junk);
	} else if (!strcmp(mode, "wrong_type")) {
		h.type = WIRE_OK | WIRE_TRAIN; /* an answer to a request not made */
		h.len = sizeof(struct wire_train_resp);
		wire_write_full(1, &h, sizeof h);
	} else if (!strcmp(mode, "request_type")) {
		h.type = req.type; /* a request echoed back, without the OK bit */
		wire_write_full(1, &h, sizeof h);
	} else if (!strcmp(mode, "oversized") || !strcmp(mode, "oversized_later")) {
		h.type = WIRE_OK | req.type;
		h.len = (uint64_t)1 << 62; /* would be 4 EiB if believed */
		wire_write_full(1, &h, sizeof h);
		sleep(FAKE_SLEEP_S);
	} else if (!strcmp(mode, "err_oversized")) {
		h.type = WIRE_ERR;
		h.len = KR_ERR_MAX;
		wire_write_full(1, &h, sizeof h);
		sleep(FAKE_SLEEP_S);
	} else if (!strcmp(mode, "err_control")) {
		static const char why[] = "bad\x1b[31m\nnews\x7f!";
		wire_send(1, WIRE_ERR, why, sizeof why - 1);
	} else if (!strcmp(mode, "short_payload")) {
		fake_plan(&plan, 2);
		h.type = WIRE_OK | req.type;
		h.len = sizeof plan;
		wire_write_full(1, &h, sizeof h);
		wire_write_full(1, &plan, sizeof plan / 2);
	} else if (!strcmp(mode, "bad_plan")) {
		fake_plan(&plan, 0);
		wire_send(1, WIRE_OK | req.type, &plan, sizeof plan);
	} else if (!strcmp(mode, "huge_state_later")) {
		uint64_t v = (uint64_t)RECIPE_STATE_BYTES_MAX + 1;
		wire_send(1, WIRE_OK | req.type, &v, sizeof v);
	} else if (!strncmp(mode, "trace_", 6)) {
		/* answers to a traced step (recipe_wire.h): a head, then records */
		struct wire_trace_head hd = { { 1.0f, 0.5f }, { 1, 0 } };
		struct recipe_trace_rec r[6];
		uint32_t sent = 1;
		memset(r, 0, sizeof r);
		for (int i = 0; i < 6; i++)
			snprintf(r[i].name, sizeof r[i].name, "fwd.L0.op.t%d", i);
		if (!strcmp(mode, "trace_count_later"))
			hd.c.count = 2; /* announces two, sends one */
		else if (!strcmp(mode, "trace_over_cap_later"))
			hd.c.count = sent = 6; /* the host allows 4 */
		else if (!strcmp(mode, "trace_bad_name_later"))
			snprintf(r[0].name, sizeof r[0].name, "fwd.L0..t");
		else if (!strcmp(mode, "trace_no_nul_later"))
			memset(r[0].name, 'a', sizeof r[0].name);
		else if (!strcmp(mode, "trace_huge_n_later"))
			r[0].n = (uint64_t)1 << 63;
		else if (!strcmp(mode, "trace_overflow_later"))
			hd.c.overflow = 1;
		wire_send2(1, WIRE_OK | req.type, &hd, sizeof hd, r, sent * sizeof *r);
	} else if (!strcmp(mode, "garbage_later")) {
		static const char junk[64] = { 0x4b, 0x52, 0x57, 0x31, 0xff, 0xff, 0xff, 0xff };
		wire_write_full(1, junk, sizeof junk);
	}
	/* then close: whatever the host still waits for never comes */
	return 0;
}

/* ---- the host side ------------------------------------------------------ */

struct outcome {
	int rc;
	char code[KERR_CODE_MAX];
	char msg[KERR_MSG_MAX];
	int64_t wall_ms;
};

static const struct kr_env env = { 1, 1, 320, "tiny", 0 };

/* Starts the fake runner in mode, and makes the call the mode breaks:
 * create, or for *_later modes create then state_bytes. */
static struct outcome run_case(const char *mode, struct recipe_host *h)
{
	struct outcome o = { 0 };
	struct kr_plan plan;
	struct kerr err = { 0 };
	int64_t t0 = recipe_pipe_now_ms();
	size_t n = 0;

	assert_int_equal(setenv("KARPA_FAKE_RUNNER", mode, 1), 0);
	assert_int_equal(recipe_host_pipe(h, self, NULL, NULL, &err), 0);
	assert_int_equal(unsetenv("KARPA_FAKE_RUNNER"), 0);
	assert_int_equal(recipe_pipe_set_timeout(h, CALL_TIMEOUT_MS), 0);
	o.rc = recipe_host_create(h, &env, &plan, &err);
	if (o.rc == 0 && !strncmp(mode, "trace_", 6)) {
		uint16_t toks[2 * 9] = { 0 }; /* the fake plan: batch 2, seq_len 8 */
		struct recipe_trace_rec recs[4];
		uint32_t nrec = 0;
		float loss, lr;
		o.rc = recipe_host_train_traced(h, 0, toks, &loss, &lr, recs, 4, &nrec, &err);
	} else if (o.rc == 0 && strstr(mode, "_later")) {
		assert_string_equal(plan.name, "fake");
		o.rc = recipe_host_state_bytes(h, &n, &err);
	}
	o.wall_ms = recipe_pipe_now_ms() - t0;
	snprintf(o.code, sizeof o.code, "%s", err.code);
	snprintf(o.msg, sizeof o.msg, "%s", err.msg);
	return o;
}

static void expect_case(const char *mode, const char *code)
{
	struct recipe_host h;
	struct outcome o = run_case(mode, &h);

	print_message("%-18s -> %-22s %4lld ms  %s\n", mode, o.code, (long long)o.wall_ms, o.msg);
	assert_int_equal(o.rc, -1);
	assert_string_equal(o.code, code);
	assert_true(o.wall_ms < CASE_WALL_MS_MAX);
	recipe_host_destroy(&h); /* must end the runner, even a sleeping one */
}

/* A runner that closes early: before reading, in the middle of a header, in
 * the middle of a payload. */
static void test_closes_early(void **state)
{
	expect_case("exit", "recipe.died");
	expect_case("short_header", "recipe.died");
	expect_case("short_payload", "recipe.died");
}

/* A runner that stops talking: the call's limit ends it. */
static void test_silent(void **state)
{
	expect_case("silent", "recipe.timeout");
	expect_case("short_header_hang", "recipe.timeout");
}

/* Bytes that are not a frame, or a frame that answers something else. */
static void test_garbage_and_wrong_type(void **state)
{
	expect_case("garbage", "recipe.protocol");
	expect_case("wrong_type", "recipe.protocol");
	expect_case("request_type", "recipe.protocol");
	expect_case("garbage_later", "recipe.protocol");
}

/* A length the request does not imply is refused before anything is read or
 * allocated: the runner then sleeps, so a host that believed it would hang
 * until the timeout instead of failing at once. */
static void test_oversized_length(void **state)
{
	struct recipe_host h;
	struct outcome o;

	o = run_case("oversized", &h);
	assert_string_equal(o.code, "recipe.protocol");
	assert_true(o.wall_ms < CALL_TIMEOUT_MS);
	recipe_host_destroy(&h);
	o = run_case("oversized_later", &h);
	assert_string_equal(o.code, "recipe.protocol");
	assert_true(o.wall_ms < CALL_TIMEOUT_MS);
	recipe_host_destroy(&h);
	o = run_case("err_oversized", &h);
	assert_string_equal(o.code, "recipe.protocol");
	assert_true(o.wall_ms < CALL_TIMEOUT_MS);
	recipe_host_destroy(&h);
}

/* Well-framed answers whose content is out of bounds. */
static void test_bad_content(void **state)
{
	struct recipe_host h;
	struct outcome o;

	expect_case("bad_plan", "recipe.bad_plan");
	expect_case("huge_state_later", "recipe.bad_state_size");
	/* An error reason is one printable line: control bytes become spaces. */
	o = run_case("err_control", &h);
	assert_string_equal(o.code, "recipe.failed");
	assert_non_null(strstr(o.msg, "bad [31m news !"));
	for (const char *p = o.msg; *p; p++)
		assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p != 0x7f);
	recipe_host_destroy(&h);
}

/* A traced step's answer: the record count must match the bytes, stay
 * within what the host asked for, and every record must be a name of the
 * allowed shape with a bounded count (docs/dispute.md). */
static void test_traced_step(void **state)
{
	(void)state;
	expect_case("trace_count_later", "recipe.protocol");
	expect_case("trace_over_cap_later", "recipe.protocol");
	expect_case("trace_bad_name_later", "recipe.bad_trace");
	expect_case("trace_no_nul_later", "recipe.bad_trace");
	expect_case("trace_huge_n_later", "recipe.bad_trace");
	expect_case("trace_overflow_later", "recipe.trace_overflow");
}

/* A restarted recipe must declare the same plan: the harness's segments
 * (each a function of its checkpoint) depend on it. */
static void test_plan_changed_across_restart(void **state)
{
	struct recipe_host h;
	struct kr_plan plan;
	struct kerr err = { 0 };
	struct outcome o = run_case("honest", &h);
	char st[16] = { 0 };

	assert_int_equal(o.rc, 0);
	assert_int_equal(recipe_host_create(&h, &env, &plan, &err), 0);
	/* the same runner, respawned, now answers with another plan */
	assert_int_equal(setenv("KARPA_FAKE_RUNNER", "honest3", 1), 0);
	assert_int_equal(recipe_host_restart(&h, &env, &plan, st, sizeof st, &err), -1);
	assert_int_equal(unsetenv("KARPA_FAKE_RUNNER"), 0);
	assert_string_equal(err.code, "recipe.plan_changed");
	recipe_host_destroy(&h);
}

/* The host's own refusals: a scale name longer than the wire carries, a
 * runner path longer than the host keeps, a restart of a host that cannot
 * restart, a child status asked of a host that has no child. */
static void test_host_refusals(void **state)
{
	struct recipe_host h, none = { 0 };
	struct recipe_child_exit ce;
	struct kr_plan plan;
	struct kr_env longer = env;
	struct kerr err = { 0 };
	char name[WIRE_SCALE_MAX + 2], *path = malloc(8192);
	struct outcome o = run_case("honest", &h);

	assert_int_equal(o.rc, 0);
	memset(name, 's', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	longer.scale = name;
	assert_int_equal(recipe_host_create(&h, &longer, &plan, &err), -1);
	assert_string_equal(err.code, "recipe.bad_scale");
	recipe_host_destroy(&h);

	assert_non_null(path);
	memset(path, 'x', 8191);
	path[0] = '/';
	path[8191] = '\0';
	assert_int_equal(recipe_host_pipe(&h, path, NULL, NULL, &err), -1);
	assert_string_equal(err.code, "recipe.spawn");
	free(path);

	assert_int_equal(recipe_host_restart(&none, &env, &plan, NULL, 0, &err), -1);
	assert_string_equal(err.code, "recipe.restart");
	none.kind = "inproc";
	assert_int_equal(recipe_pipe_child_status(&none, 0, &ce, &err), -1);
	assert_string_equal(err.code, "recipe.not_pipe");
}

/* After a timeout killed the runner, every later call fails at once with
 * recipe.died, and the child's end is on record. */
static void test_after_timeout(void **state)
{
	struct recipe_host h;
	struct recipe_child_exit ce;
	struct kerr err = { 0 };
	struct outcome o = run_case("silent", &h);
	size_t n;
	int64_t t0;

	assert_string_equal(o.code, "recipe.timeout");
	t0 = recipe_pipe_now_ms();
	assert_int_equal(h.state_bytes(&h, &n, &err), -1);
	assert_string_equal(err.code, "recipe.died");
	assert_true(recipe_pipe_now_ms() - t0 < 100);
	assert_int_equal(recipe_pipe_child_status(&h, 0, &ce, &err), 0);
	assert_int_equal(ce.state, RECIPE_CHILD_SIGNALED);
	assert_int_equal(ce.timed_out, 1);
	recipe_host_destroy(&h);
}

int main(void)
{
	const char *mode = getenv("KARPA_FAKE_RUNNER");
	ssize_t n;

	if (mode)
		return fake_runner(mode);
	n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		return 1;
	self[n] = '\0';
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_closes_early),     cmocka_unit_test(test_silent),
		cmocka_unit_test(test_garbage_and_wrong_type), cmocka_unit_test(test_oversized_length),
		cmocka_unit_test(test_bad_content),      cmocka_unit_test(test_after_timeout),
		cmocka_unit_test(test_plan_changed_across_restart), cmocka_unit_test(test_host_refusals),
		cmocka_unit_test(test_traced_step),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
