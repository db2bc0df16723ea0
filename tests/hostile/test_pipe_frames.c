/* test_pipe_frames.c: malformed frames on the recipe pipe. The host treats
 * every byte from the runner as hostile (recipe_wire.h): each way a runner
 * can break the framing must end in its documented code (docs/sandbox.md,
 * "Reason codes"), quickly, without a crash, a hang or an allocation the
 * runner sized. The fake runner is this test binary itself, started by the
 * pipe host with KARPA_FAKE_RUNNER naming what it should send back to the
 * first request (or, for the *_later modes, to the one after create). */
#include "../testutil.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "sandbox/recipe_host.h"
#include "sandbox/recipe_pipe.h"
#include "sandbox/recipe_wire.h"

#define CALL_TIMEOUT_MS 1500 /* the host's per-call limit in every case */
#define CASE_WALL_MS_MAX 8000 /* far above any honest failure, far below a hang */
#define FAKE_SLEEP_S 30       /* how long a "hanging" runner hangs */

/* The harness's restart, its two halves one after the other. */
static int restart(struct recipe_host *h, const struct kr_env *env, const struct kr_plan *want, const void *state,
		   size_t n, struct kerr *err)
{
	if (recipe_host_restart_spawn(h, err) < 0)
		return -1;
	return recipe_host_restart_load(h, env, want, state, n, err);
}

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

/* Reads one request with its payload (*p, caller frees); -1 on EOF. */
static int fake_read_payload(struct wire_hdr *h, char **p)
{
	if (wire_read_full(0, h, sizeof *h) < 0 || h->len > ((uint64_t)1 << 20) || !(*p = malloc(h->len + 1)))
		return -1;
	return wire_read_full(0, *p, h->len);
}

/* A canonical two-row table, and a text of it made bad for each gemm_*
 * mode's answer. */
static const char gemm_good[] =
	"karpa-gemm-1 cublaslt=130100\n"
	"bwd_data NN m=64 n=256 k=192 lda=64 ldb=192 ldd=64 ab=f32 d=f32 epi=none compute=f32 algo=21 tile=15 "
	"stages=6 splitk=1 red=0 swizzle=1 custom=0 inner=0 cluster=0\n"
	"fwd TN m=192 n=256 k=64 lda=64 ldb=64 ldd=192 ab=f32 d=f32 epi=bias compute=f32 algo=66 tile=18 "
	"stages=21 splitk=1 red=0 swizzle=0 custom=0 inner=0 cluster=0\n";

static void fake_gemm_answer(const char *mode, uint32_t type)
{
	struct wire_hdr h = { WIRE_MAGIC, WIRE_OK | type, 0 };
	char text[sizeof gemm_good];

	memcpy(text, gemm_good, sizeof text);
	if (!strcmp(mode, "gemm_oversized_later")) {
		h.len = KR_GEMM_MAX; /* one byte more than the host takes */
		wire_write_full(1, &h, sizeof h);
		sleep(FAKE_SLEEP_S);
	} else if (!strcmp(mode, "gemm_short_later")) {
		h.len = sizeof text - 1;
		wire_write_full(1, &h, sizeof h);
		wire_write_full(1, text, 40); /* then the close */
	} else if (!strcmp(mode, "gemm_nul_later")) {
		text[60] = '\0';
		wire_send(1, WIRE_OK | type, text, sizeof text - 1);
	} else if (!strcmp(mode, "gemm_cut_later")) {
		wire_send(1, WIRE_OK | type, text, sizeof text - 2); /* the last newline lost */
	} else if (!strcmp(mode, "gemm_malformed_later")) {
		memcpy(strstr(text, "m=64 "), "m=00 ", 5);
		wire_send(1, WIRE_OK | type, text, sizeof text - 1);
	} else if (!strcmp(mode, "gemm_good_later")) {
		wire_send(1, WIRE_OK | type, text, sizeof text - 1);
	}
}

/* Answers to a logits call through the bulk region (recipe_wire.h) of one
 * row of 8 at the test's vocabulary: a count that is not the call's, the
 * floats inline as if no region existed, or (bulk_shrink_later) honest
 * floats after trying to shrink the region under the host's mapping. */
static void fake_bulk_answer(const char *mode, uint32_t type)
{
	struct wire_bulk b = { (uint64_t)8 * 320 * sizeof(float) };
	float *m;

	if (!strcmp(mode, "bulk_count_later")) {
		b.bytes -= sizeof(float);
		wire_send(1, WIRE_OK | type, &b, sizeof b);
	} else if (!strcmp(mode, "bulk_inline_later")) {
		static float inline_logits[8 * 320];
		wire_send(1, WIRE_OK | type, inline_logits, sizeof inline_logits);
	} else if (!strcmp(mode, "bulk_shrink_later")) {
		/* the seal refuses the shrink; were it allowed, the host would see
		 * 2.0, or die of SIGBUS reading past the end */
		float v = ftruncate(WIRE_BULK_FD, 0) == 0 ? 2.0f : 1.0f;
		m = mmap(NULL, b.bytes, PROT_READ | PROT_WRITE, MAP_SHARED, WIRE_BULK_FD, 0);
		if (m == MAP_FAILED)
			return;
		for (size_t i = 0; i < b.bytes / sizeof *m; i++)
			m[i] = v;
		wire_send(1, WIRE_OK | type, &b, sizeof b);
	}
}

/* The runner: answers the request named by mode with a broken frame. */
static int fake_runner(const char *mode)
{
	struct wire_hdr req, h = { WIRE_MAGIC, 0, 0 };
	struct wire_plan plan;
	int later = strstr(mode, "_later") != NULL;

	if (!strcmp(mode, "exit"))
		return 0; /* closes both pipes before reading anything */
	if (!strcmp(mode, "exit127"))
		return 127; /* the code a failed exec leaves, from a runner that did exec */
	if (!strncmp(mode, "honest", 6)) {
		/* create answered with a plan of batch 2 ("honest") or 3 ("honest3"),
		 * state_bytes with 16, gemm with the table create pinned, as the
		 * runner decodes it (the wire's round trip); then EOF ends it */
		static struct wire_create_text txt;
		struct kr_env got = { 0 };
		struct kerr why;
		uint64_t v = 16;
		char *p = NULL;
		for (; fake_read_payload(&req, &p) == 0; free(p), p = NULL) {
			fake_plan(&plan, strcmp(mode, "honest3") ? 2 : 3);
			if (req.type == WIRE_CREATE && wire_create_decode(p, req.len, &got, &txt, &why) < 0)
				wire_send(1, WIRE_ERR, why.msg, strlen(why.msg));
			else if (req.type == WIRE_CREATE)
				wire_send(1, WIRE_OK | WIRE_CREATE, &plan, sizeof plan);
			else if (req.type == WIRE_STATE_BYTES)
				wire_send(1, WIRE_OK | WIRE_STATE_BYTES, &v, sizeof v);
			else if (req.type == WIRE_GEMM)
				wire_send(1, WIRE_OK | WIRE_GEMM, got.gemm, got.gemm ? strlen(got.gemm) : 0);
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
	} else if (!strncmp(mode, "gemm_", 5)) {
		fake_gemm_answer(mode, req.type);
	} else if (!strncmp(mode, "bulk_", 5)) {
		fake_bulk_answer(mode, req.type);
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

static const struct kr_env env = { .seed = 1, .threads = 1, .vocab_size = 320, .scale = "tiny" };
/* The caller's gemm text before a call: a refused answer must leave it so. */
static char gemm_seen[KR_GEMM_MAX];

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
	} else if (o.rc == 0 && !strncmp(mode, "gemm_", 5)) {
		snprintf(gemm_seen, sizeof gemm_seen, "untouched");
		o.rc = recipe_host_gemm(h, gemm_seen, &err);
		if (o.rc < 0)
			assert_string_equal(gemm_seen, "untouched");
	} else if (o.rc == 0 && !strncmp(mode, "bulk_", 5)) {
		static float logits[8 * 320];
		const uint16_t toks[8] = { 0 };
		assert_int_equal(recipe_pipe_set_bulk_min(h, 0), 0);
		memset(logits, 0, sizeof logits);
		o.rc = h->logits(h, toks, 1, 8, logits, &err);
		if (o.rc == 0)
			for (size_t i = 0; i < 8 * 320; i++)
				assert_true(logits[i] == 1.0f);
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

/* Logits through the bulk region: the runner's count must be the call's
 * exactly, the answer must not come inline, and the region cannot be
 * shrunk under the host's mapping (its seal), so an honest answer after
 * the attempt is read whole. */
static void test_bulk_region(void **state)
{
	struct recipe_host h;
	struct outcome o;

	(void)state;
	expect_case("bulk_count_later", "recipe.protocol");
	expect_case("bulk_inline_later", "recipe.protocol");
	o = run_case("bulk_shrink_later", &h);
	print_message("%-18s -> %-22s %4lld ms  %s\n", "bulk_shrink_later", o.rc ? o.code : "ok", (long long)o.wall_ms,
		      o.msg);
	assert_int_equal(o.rc, 0);
	recipe_host_destroy(&h);
}

/* A validator started with its standard input closed: pipe2 hands out
 * descriptor 0, which must not become the child's stdin by accident (a
 * dup2 onto itself keeps close-on-exec, and the runner starts without
 * its requests). The host moves its pipes above the bulk region first. */
static void test_std_fds_closed(void **state)
{
	struct recipe_host h;
	struct outcome o;
	int saved = dup(0);

	(void)state;
	assert_true(saved > 2);
	assert_int_equal(close(0), 0);
	o = run_case("bulk_shrink_later", &h);
	assert_int_equal(dup2(saved, 0), 0);
	close(saved);
	print_message("%-18s -> %-22s %4lld ms  %s\n", "stdin closed", o.rc ? o.code : "ok", (long long)o.wall_ms,
		      o.msg);
	assert_int_equal(o.rc, 0);
	recipe_host_destroy(&h);
}

/* A runner that closes early: before reading, in the middle of a header, in
 * the middle of a payload. */
static void test_closes_early(void **state)
{
	expect_case("exit", "recipe.died");
	expect_case("short_header", "recipe.died");
	expect_case("short_payload", "recipe.died");
}

/* A runner that exits 127 after it started died; a runner that could not
 * be executed at all is told apart (recipe.exec, with the reason), since
 * the child reports a failed exec itself rather than by its exit code. */
static void test_exec_failure_is_not_an_exit_code(void **state)
{
	struct recipe_host h;
	struct recipe_child_exit ce;
	struct kr_plan plan;
	struct kerr err = { 0 };
	char *dir = tu_mkdtemp(), path[FS_PATH_MAX];

	(void)state;
	expect_case("exit127", "recipe.died");
	run_case("exit127", &h);
	assert_int_equal(recipe_pipe_child_status(&h, 1000, &ce, &err), 0);
	assert_int_equal(ce.state, RECIPE_CHILD_EXITED);
	assert_int_equal(ce.code, 127);
	assert_int_equal(ce.exec_errno, 0);
	recipe_host_destroy(&h);

	/* a file that is not executable: the fork works, the exec does not */
	snprintf(path, sizeof path, "%s/runner", dir);
	assert_int_equal(fs_write_atomic(path, "not a program\n", 14, &err), 0);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(recipe_host_pipe(&h, path, NULL, NULL, &err), 0);
	assert_int_equal(recipe_host_create(&h, &env, &plan, &err), -1);
	print_message("%-18s -> %-22s %s\n", "not executable", err.code, err.msg);
	assert_string_equal(err.code, "recipe.exec");
	assert_non_null(strstr(err.msg, strerror(EACCES)));
	assert_int_equal(recipe_pipe_child_status(&h, 1000, &ce, &err), 0);
	assert_int_equal(ce.code, 127);
	assert_int_equal(ce.exec_errno, EACCES);
	assert_non_null(strstr(ce.desc, "exec failed"));
	recipe_host_destroy(&h);
	tu_rmdir(dir);
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

/* The recipe's gemm table (kr_gemm_record) is hostile text from the
 * runner: a length over the bound is refused before a byte of it is read,
 * a cut frame is a death, and a NUL, a lost last newline or a malformed row
 * is recipe.bad_gemm; the caller's text is untouched in every case. */
static void test_gemm_record(void **state)
{
	struct recipe_host h;
	struct outcome o;

	(void)state;
	o = run_case("gemm_oversized_later", &h);
	assert_string_equal(o.code, "recipe.protocol");
	assert_true(o.wall_ms < CALL_TIMEOUT_MS);
	recipe_host_destroy(&h);
	expect_case("gemm_short_later", "recipe.died");
	expect_case("gemm_nul_later", "recipe.bad_gemm");
	expect_case("gemm_cut_later", "recipe.bad_gemm");
	expect_case("gemm_malformed_later", "recipe.bad_gemm");
	o = run_case("gemm_good_later", &h);
	assert_int_equal(o.rc, 0);
	assert_string_equal(gemm_seen, gemm_good);
	recipe_host_destroy(&h);
}

/* kr_env.gemm across the wire: what create pins is what the runner
 * decodes (the honest fake echoes it back through WIRE_GEMM), "" and NULL
 * are no table, and the host refuses a pin that is not a canonical table
 * or has no NUL within KR_GEMM_MAX before anything is sent (the fake
 * answers create with a bad plan, which the host would report). */
static void test_gemm_pin_on_the_wire(void **state)
{
	struct recipe_host h;
	struct kr_plan plan;
	struct kr_env pinned = env;
	struct kerr err = { "", "" };
	struct outcome o = run_case("honest", &h);
	char *huge = malloc(KR_GEMM_MAX + 1);

	(void)state;
	assert_int_equal(o.rc, 0);
	assert_non_null(huge);
	assert_int_equal(recipe_host_gemm(&h, gemm_seen, &err), 0);
	assert_string_equal(gemm_seen, "");
	pinned.gemm = gemm_good;
	assert_int_equal(setenv("KARPA_FAKE_RUNNER", "honest", 1), 0);
	assert_int_equal(h.respawn(&h, &err), 0);
	assert_int_equal(recipe_host_create(&h, &pinned, &plan, &err), 0);
	assert_int_equal(recipe_host_gemm(&h, gemm_seen, &err), 0);
	assert_string_equal(gemm_seen, gemm_good);
	/* a restart's create carries the pin to the fresh runner (whose load
	 * then fails: the fake keeps no state) */
	{
		char st[16] = { 0 };
		assert_int_equal(restart(&h, &pinned, &plan, st, sizeof st, &err), -1);
		assert_string_equal(err.code, "recipe.failed");
		snprintf(gemm_seen, sizeof gemm_seen, "before");
		assert_int_equal(recipe_host_gemm(&h, gemm_seen, &err), 0);
		assert_string_equal(gemm_seen, gemm_good);
	}
	recipe_host_destroy(&h);

	pinned.gemm = "karpa-gemm-1 cublaslt=1\nfwd TN m=0\n";
	assert_int_equal(setenv("KARPA_FAKE_RUNNER", "bad_plan", 1), 0);
	assert_int_equal(recipe_host_pipe(&h, self, NULL, NULL, &err), 0);
	assert_int_equal(recipe_host_create(&h, &pinned, &plan, &err), -1);
	assert_string_equal(err.code, "recipe.bad_gemm");
	print_message("malformed pin -> %s: %s\n", err.code, err.msg);
	memset(huge, 'a', KR_GEMM_MAX + 1);
	pinned.gemm = huge;
	assert_int_equal(recipe_host_create(&h, &pinned, &plan, &err), -1);
	assert_string_equal(err.code, "recipe.bad_gemm");
	/* the runner never saw either: it still answers create as it would */
	assert_int_equal(recipe_host_create(&h, &env, &plan, &err), -1);
	assert_string_equal(err.code, "recipe.bad_plan");
	assert_int_equal(unsetenv("KARPA_FAKE_RUNNER"), 0);
	recipe_host_destroy(&h);
	free(huge);
}

/* The CREATE payload's two ends, without a pipe: a round trip keeps every
 * field, and a payload that is short, announces texts over their bounds,
 * disagrees with its length, holds a NUL or sets unknown bits is
 * wire.bad_create with the runner's env and texts untouched. */
static void test_create_payload(void **state)
{
	static struct wire_create_text txt, before;
	struct kr_env in = { .seed = 42, .threads = 3, .vocab_size = 320, .scale = "gpu-125m", .state_follows = 1,
			     .gemm = gemm_good };
	struct kr_env out, out0;
	struct wire_create c;
	struct kerr err;
	size_t sl = strlen(in.scale), gl = strlen(in.gemm), n = sizeof c + sl + gl;
	char *buf = malloc(n + 8);

	(void)state;
	assert_non_null(buf);
	assert_int_equal(wire_create_encode(&in, &c, &err), 0);
	memcpy(buf, &c, sizeof c);
	memcpy(buf + sizeof c, in.scale, sl);
	memcpy(buf + sizeof c + sl, in.gemm, gl);
	assert_int_equal(wire_create_decode(buf, n, &out, &txt, &err), 0);
	assert_true(out.seed == 42 && out.threads == 3 && out.vocab_size == 320 && out.state_follows == 1);
	assert_string_equal(out.scale, "gpu-125m");
	assert_string_equal(out.gemm, gemm_good);
	/* without a table: NULL on the far side */
	in.gemm = "";
	assert_int_equal(wire_create_encode(&in, &c, &err), 0);
	assert_int_equal(c.gemm_len, 0);
	memcpy(buf, &c, sizeof c);
	assert_int_equal(wire_create_decode(buf, sizeof c + sl, &out, &txt, &err), 0);
	assert_null(out.gemm);

	/* hostile payloads, each against the same good one */
	in.gemm = gemm_good;
	assert_int_equal(wire_create_encode(&in, &c, &err), 0);
	memset(&out0, 0x5a, sizeof out0);
	memset(&before, 0x5a, sizeof before);
	for (int k = 0; k < 7; k++) {
		struct wire_create h = c;
		uint64_t len = n;
		memcpy(buf + sizeof c + sl, in.gemm, gl);
		if (k == 0)
			len = sizeof c - 1;                  /* shorter than the head */
		else if (k == 1)
			h.gemm_len = WIRE_GEMM_MAX + 1;      /* a table over the bound */
		else if (k == 2)
			h.scale_len = WIRE_SCALE_MAX + 1;    /* a scale over the bound */
		else if (k == 3)
			len = n - 1;                         /* truncated: the head says more */
		else if (k == 4)
			buf[sizeof c + sl + 10] = '\0';      /* a NUL inside the table */
		else if (k == 5)
			h.flags |= 2;                        /* an unknown flag */
		else
			h.reserved = 1;
		memcpy(buf, &h, sizeof h);
		out = out0;
		memcpy(&txt, &before, sizeof txt);
		assert_int_equal(wire_create_decode(buf, len, &out, &txt, &err), -1);
		print_message("create payload case %d -> %s: %s\n", k, err.code, err.msg);
		assert_string_equal(err.code, "wire.bad_create");
		assert_memory_equal(&out, &out0, sizeof out);
		assert_memory_equal(&txt, &before, sizeof txt);
	}
	/* the host's end refuses what the wire cannot carry */
	{
		char *huge = malloc(KR_GEMM_MAX), scale[WIRE_SCALE_MAX + 2];
		assert_non_null(huge);
		memset(huge, 'a', KR_GEMM_MAX);
		in.gemm = huge;
		assert_int_equal(wire_create_encode(&in, &c, &err), -1);
		assert_string_equal(err.code, "recipe.bad_gemm");
		memset(scale, 's', sizeof scale - 1);
		scale[sizeof scale - 1] = '\0';
		in.gemm = NULL;
		in.scale = scale;
		assert_int_equal(wire_create_encode(&in, &c, &err), -1);
		assert_string_equal(err.code, "recipe.bad_scale");
		free(huge);
	}
	free(buf);
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
	assert_int_equal(restart(&h, &env, &plan, st, sizeof st, &err), -1);
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

	assert_int_equal(restart(&none, &env, &plan, NULL, 0, &err), -1);
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
		cmocka_unit_test(test_exec_failure_is_not_an_exit_code),
		cmocka_unit_test(test_garbage_and_wrong_type), cmocka_unit_test(test_oversized_length),
		cmocka_unit_test(test_bad_content),      cmocka_unit_test(test_after_timeout),
		cmocka_unit_test(test_plan_changed_across_restart), cmocka_unit_test(test_host_refusals),
		cmocka_unit_test(test_traced_step),      cmocka_unit_test(test_gemm_record),
		cmocka_unit_test(test_gemm_pin_on_the_wire), cmocka_unit_test(test_create_payload),
		cmocka_unit_test(test_bulk_region),      cmocka_unit_test(test_std_fds_closed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
