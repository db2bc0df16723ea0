/* test_miner_e2e.c: `karpa miner run` against a live `karpa validator
 * serve` at the tiny scale, over loopback. The built-in search finds a
 * decisive patch by itself, proves it, submits it, answers the challenge
 * seed and becomes king, all without a person; the agent proposer records
 * every way an agent can fail (bad JSON, a timeout, a diff that does not
 * apply, a non-zero exit) as a crash and goes on to the example agent's
 * real proposals; a killed and restarted miner repeats nothing; a
 * validator that goes away while the miner answers a challenge costs the
 * answer nothing.
 *
 * The service runs the sanitizer build, its judgments and the miners the
 * release build. One fixture for the group; the cases run in order. */
#include "testutil.h"

#include <jansson.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "harness/calibrate.h"
#include "proof/attest.h"
#include "service_fixture.h"
#include "util/crash.h"

#define OUT_CAP (256u << 10)
#define THREADS 2

struct fx {
	char *tmp, *out;
	char data[FS_PATH_MAX], hidden[FS_PATH_MAX], state[FS_PATH_MAX], key[FS_PATH_MAX], akey[FS_PATH_MAX],
		rkey[FS_PATH_MAX];
	struct sf_service sv;
};

static struct fx g;

#define run(want, ...) tu_run_want(g.out, OUT_CAP, (want), __VA_ARGS__)

static int setup(void **unused)
{
	const char *const opts[] = { "--workers", "1", "--judge-threads", "2", "--judge-bin", tu_karpa(), NULL };

	(void)unused;
	g.out = malloc(OUT_CAP);
	g.tmp = tu_mkdtemp();
	snprintf(g.data, sizeof g.data, "%s/data", g.tmp);
	snprintf(g.hidden, sizeof g.hidden, "%s/hidden", g.tmp);
	snprintf(g.state, sizeof g.state, "%s/state", g.tmp);
	snprintf(g.key, sizeof g.key, "%s/miner.key", g.tmp);
	snprintf(g.akey, sizeof g.akey, "%s/agent.key", g.tmp);
	snprintf(g.rkey, sizeof g.rkey, "%s/restart.key", g.tmp);
	tu_validator(g.out, OUT_CAP, g.data, g.hidden, g.state, 2, THREADS);
	/* A fixed secret, so that what the validator draws depends only on
	 * the bundle. The challenge seed still differs from run to run: it is
	 * drawn from the secret and the manifest's digest, which carries the
	 * miner's fresh key and the run's timings (case 1 allows for that). */
	run(0, "printf '%%s' karpa-test-miner-e2e-fixed-secre > %s/secret && chmod 600 %s/secret", g.state,
	    g.state);
	run(0, "%s keygen --out %s", tu_karpa(), g.key);
	run(0, "%s keygen --out %s", tu_karpa(), g.akey);
	run(0, "%s keygen --out %s", tu_karpa(), g.rkey);
	sf_start(&g.sv, g.tmp, g.state, opts);
	return 0;
}

static int teardown(void **unused)
{
	(void)unused;
	sf_stop(&g.sv, SIGTERM);
	tu_rmdir(g.tmp);
	free(g.out);
	return 0;
}

/* The rows of WORK/results.tsv with the given status. */
static int rows_with(const char *work, const char *status)
{
	char cmd[FS_PATH_MAX + 128];

	snprintf(cmd, sizeof cmd, "awk -F'\\t' 'NR > 1 && $7 == \"%s\"' %s/results.tsv | wc -l", status, work);
	run(0, "%s", cmd);
	return atoi(g.out);
}

/* The proof tars and held checkpoints left in WORK's judged experiments:
 * a final verdict other than a replay's rejection (a dispute's subject)
 * leaves none. */
static int judged_tars_left(const char *work)
{
	run(0, "for d in %s/experiments/*/; do [ -f $d/verdict.json ] && ! grep -q '\"judge.replay_' $d/verdict.json &&"
	       " ls $d | grep '[.]tar$\\|[.]held$'; done | wc -l",
	    work);
	return atoi(g.out);
}

/* 1. The search: a king change found, proved and confirmed by the miner.
 * Its first decisive idea at tiny (30 -> 45 steps, about 0.011 bpb against
 * a margin of 0.009) does not clear the margin under every challenge seed,
 * and the seed is a fresh draw on every run: a miner whose confirmation
 * failed goes on searching, as a real one does, for up to five more
 * rounds of four experiments. */
static void test_search_finds_a_king(void **unused)
{
	char work[FS_PATH_MAX];
	json_t *st, *k;
	int kings = 0, rounds = 0;

	(void)unused;
	snprintf(work, sizeof work, "%s/search", g.tmp);
	while (kings == 0 && rounds++ < 6) {
		run(0, "%s miner run --validator %s --key %s --work %s --data %s --experiments 4 --threads %d",
		    tu_karpa(), g.sv.url, g.key, work, g.data, THREADS);
		print_message("%s", g.out);
		kings = rows_with(work, "king");
	}
	print_message("   a king after %d round(s) of the search\n", rounds);
	assert_true(kings >= 1);
	run(0, "%s validator status %s --json", tu_karpa(), g.state);
	st = tu_out_json(g.out);
	k = json_object_get(st, "king");
	assert_non_null(strstr(json_string_value(json_object_get(k, "tag")), "recipe-v0.1."));
	assert_string_not_equal(json_string_value(json_object_get(k, "tag")), "recipe-v0.1.0");
	json_decref(st);
	/* The crowned patch is the miner's own diff, with its rationale. */
	run(0, "git -C %s/recipe log -1 --format=%%B recipe-v0.1.1", g.state);
	assert_non_null(strstr(g.out, "miner-proposal: mk"));
	run(0, "ls %s/experiments/*/verdict.json", work);
	assert_int_equal(judged_tars_left(work), 0);
}

/* 2. A restarted miner repeats nothing it has a result for. */
static void test_restart_repeats_nothing(void **unused)
{
	char work[FS_PATH_MAX];

	(void)unused;
	snprintf(work, sizeof work, "%s/search", g.tmp);
	run(0, "cut -f2-4 %s/results.tsv | sort | uniq -d | wc -l", work);
	assert_int_equal(atoi(g.out), 0);
	run(0, "%s miner run --validator %s --key %s --work %s --data %s --experiments 2 --threads %d", tu_karpa(),
	    g.sv.url, g.key, work, g.data, THREADS);
	assert_non_null(strstr(g.out, "resuming: "));
	run(0, "cut -f2-4 %s/results.tsv | sort | uniq -d | wc -l", work);
	assert_int_equal(atoi(g.out), 0);
}

/* 3. Agents: each failure is a crash row with its reason code; the loop goes
 * on, and the example agent's proposals are trained. */
static void test_agent_failures_and_example(void **unused)
{
	static const struct {
		const char *name, *script, *code;
	} bad[] = {
		{ "junk", "echo not json", "miner.agent_bad_json" },
		{ "slow", "sleep 30", "miner.agent_timeout" },
		{ "nodiff", "echo '{\"rationale\": \"x\"}'", "miner.agent_no_diff" },
		{ "badpatch", "printf '%s' '{\"diff\": \"--- a/nope.c\\n+++ b/nope.c\\n@@ -1 +1 @@\\n-a\\n+b\\n\"}'",
		  "miner.agent_patch" },
		{ "exit", "echo broken >&2; exit 3", "miner.agent_failed" },
	};
	char work[FS_PATH_MAX], agent[FS_PATH_MAX];

	(void)unused;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(work, sizeof work, "%s/agent-%s", g.tmp, bad[i].name);
		snprintf(agent, sizeof agent, "%s/agent-%s.sh", g.tmp, bad[i].name);
		{
			FILE *f = fopen(agent, "w");
			assert_non_null(f);
			fprintf(f, "#!/bin/sh\ncat >/dev/null\n%s\n", bad[i].script);
			fclose(f);
			assert_int_equal(chmod(agent, 0755), 0);
		}
		run(0, "%s miner run --validator %s --key %s --work %s --data %s --experiments 1 --threads %d"
		       " --proposer agent --agent %s --agent-timeout 2",
		    tu_karpa(), g.sv.url, g.akey, work, g.data, THREADS, agent);
		assert_int_equal(rows_with(work, "crash"), 1);
		run(0, "grep -c '%s' %s/results.tsv", bad[i].code, work);
	}
	/* The request tells the agent its tier's share of the budget: an
	 * unverified prover's compute counts double, so tiny's 120 units are
	 * 60 for it, and the FLOPs ceiling likewise (PROTOCOL 4,
	 * docs/program.md). */
	{
		char req[FS_PATH_MAX];
		json_t *q, *b;

		snprintf(work, sizeof work, "%s/agent-request", g.tmp);
		snprintf(agent, sizeof agent, "%s/agent-request.sh", g.tmp);
		snprintf(req, sizeof req, "%s/request.json", g.tmp);
		{
			FILE *f = fopen(agent, "w");
			assert_non_null(f);
			fprintf(f, "#!/bin/sh\ncat >'%s'\necho not json\n", req);
			fclose(f);
			assert_int_equal(chmod(agent, 0755), 0);
		}
		run(0, "%s miner run --validator %s --key %s --work %s --data %s --experiments 1 --threads %d"
		       " --proposer agent --agent %s --agent-timeout 5",
		    tu_karpa(), g.sv.url, g.akey, work, g.data, THREADS, agent);
		q = tu_load_json(req);
		b = json_object_get(q, "budget");
		/* the tier as the miner finds it (0.5 here, unless this machine
		 * has TDX or SEV-SNP) */
		{
			char kind[32];
			double alpha;

			assert_int_equal(attest_detect(NULL, kind, NULL), 0);
			alpha = attest_kind_alpha(kind, 0);
			assert_true(json_number_value(json_object_get(b, "alpha")) == alpha);
			assert_true(json_number_value(json_object_get(b, "units")) == 120.0 * alpha);
			assert_true(fabs(json_number_value(json_object_get(b, "flops")) -
					 120.0 * alpha * CALIB_REF_GFLOPS * 1e9) < 1.0);
		}
		json_decref(q);
	}
	/* A machine that cannot build or confine a recipe stops the miner
	 * with the reason, as the search does: not a crash of the agent's
	 * diff, which would refuse that diff on this king for good
	 * (miner.agent_repeat) and leave the miner idling. Played by a PATH
	 * without objcopy. */
	snprintf(work, sizeof work, "%s/agent-notools", g.tmp);
	run(0, "mkdir -p %s/notools && for f in /usr/bin/* /bin/*; do ln -sf \"$f\" %s/notools/; done;"
	       " rm -f %s/notools/objcopy",
	    g.tmp, g.tmp, g.tmp);
	run(1, "PATH=%s/notools %s miner run --validator %s --key %s --work %s --data %s --experiments 1 --threads %d"
	       " --proposer agent --agent %s/agents/knob-agent",
	    g.tmp, tu_karpa(), g.sv.url, g.akey, work, g.data, THREADS,
	    getenv("KARPA_SRC") ? getenv("KARPA_SRC") : ".");
	assert_non_null(strstr(g.out, "recipe.no_build_tools"));
	assert_int_equal(rows_with(work, "crash"), 0);
	/* --hold: its proof keeps all but one checkpoint back, and sends the
	 * validator the ones it draws when asked */
	snprintf(work, sizeof work, "%s/agent-knob", g.tmp);
	run(0, "%s miner run --validator %s --key %s --work %s --data %s --experiments 2 --threads %d"
	       " --proposer agent --agent %s/agents/knob-agent --hold",
	    tu_karpa(), g.sv.url, g.akey, work, g.data, THREADS, getenv("KARPA_SRC") ? getenv("KARPA_SRC") : ".");
	print_message("%s", g.out);
	assert_non_null(strstr(g.out, "its proof holds"));
	assert_int_equal(rows_with(work, "crash"), 0);
	run(0, "grep -c 'verdict [a-z_]*.*(submission q-' %s/results.tsv", work);
	assert_int_equal(judged_tars_left(work), 0);
	run(0, "ls %s/experiments/0001/patch.diff %s/experiments/0002/train.log", work, work);
	run(0, "grep -c '^+' %s/experiments/0001/patch.diff", work);
}

/* A miner in WORK (under the group's folder) killed at crash point `at`
 * with its first proof recorded as sent, then restarted: it says `said`,
 * the row gets its verdict, and no judged tar is left. has_id: whether the
 * submission id was kept before the kill. */
static void restart_case(const char *name, const char *at, int has_id, const char *said)
{
	char work[FS_PATH_MAX];
	const char *src = getenv("KARPA_SRC") ? getenv("KARPA_SRC") : ".";

	snprintf(work, sizeof work, "%s/%s", g.tmp, name);
	run(CRASH_EXIT, "KARPA_CRASH_AT=%s %s miner run --validator %s --key %s --work %s --data %s"
			" --experiments 3 --threads %d --proposer agent --agent %s/agents/knob-agent",
	    at, tu_karpa_san(), g.sv.url, g.rkey, work, g.data, THREADS, src);
	assert_int_equal(rows_with(work, "submitted"), 1);
	run(0, "grep -c 'awaiting its verdict' %s/results.tsv", work);
	run(0, "test %s \"$(ls %s/experiments/*/proof-id 2>/dev/null)\"", has_id ? "-n" : "-z", work);
	run(0, "%s miner run --validator %s --key %s --work %s --data %s --experiments 1 --threads %d"
	       " --proposer agent --agent %s/agents/knob-agent",
	    tu_karpa(), g.sv.url, g.rkey, work, g.data, THREADS, src);
	print_message("%s", g.out);
	assert_non_null(strstr(g.out, said));
	run(1, "grep -c 'awaiting its verdict' %s/results.tsv", work);
	run(0, "grep -c 'verdict [a-z_]*.*(submission q-' %s/results.tsv", work);
	assert_int_equal(judged_tars_left(work), 0);
}

/* 4. Killed while it waits for a verdict (the crash point right after the
 * upload), the restarted miner follows the same submission to its verdict
 * instead of leaving the row awaiting one forever. */
static void test_restart_follows_a_submission(void **unused)
{
	(void)unused;
	restart_case("restart", "miner_after_submit", 1, "made before a restart");
}

/* 4b. Killed after the row says it awaits a verdict and before the upload
 * (so no submission id was kept), the restarted miner sends the same proof
 * again and follows it: the row was left awaiting for good, and its tar on
 * disk. */
static void test_restart_sends_an_unsent_proof(void **unused)
{
	(void)unused;
	restart_case("unsent", "miner_before_submit", 0, "sending its proof again, proved before a restart");
}

#define PLACEHOLDER_ID "q-000000000000000000000000"
#define ZEROS64 "0000000000000000000000000000000000000000000000000000000000000000"

/* 5. A validator whose queue is full for this miner is waited out: the
 * miner says so, sends the proof again, and follows it to its verdict once
 * there is room, instead of losing the experiment. The cap met here is the
 * per-address one (--max-pending-per-ip 1: 429, which the client does not
 * retry), filled by a placeholder row from this address waiting for held
 * checkpoints, which no worker claims; the queue's cap in all (503
 * service.queue_full, met after the client's own retries) and the per-key
 * one take the same path (queue_full in src/miner/miner.c). */
static void test_full_queue_is_waited_out(void **unused)
{
	const char *const full[] = { "--workers", "1", "--judge-threads", "2", "--judge-bin", tu_karpa(),
				     "--max-pending-per-ip", "1", NULL };
	const char *const normal[] = { "--workers", "1", "--judge-threads", "2", "--judge-bin", tu_karpa(), NULL };
	const char *src = getenv("KARPA_SRC") ? getenv("KARPA_SRC") : ".";
	char work[FS_PATH_MAX], log[FS_PATH_MAX], cmd[4 * FS_PATH_MAX], key[FS_PATH_MAX];
	int st = 0, seen = 0;
	pid_t pid;

	(void)unused;
	snprintf(work, sizeof work, "%s/full", g.tmp);
	snprintf(log, sizeof log, "%s/full.log", g.tmp);
	snprintf(key, sizeof key, "%s/full.key", g.tmp);
	run(0, "%s keygen --out %s", tu_karpa(), key);
	sf_stop(&g.sv, SIGTERM);
	sf_start(&g.sv, g.tmp, g.state, full);
	sf_state_sql(g.state, "INSERT INTO queue(id, sha256, manifest_sha256, bytes, miner, king_tag, path, remote, state, received_at)"
		  " VALUES ('" PLACEHOLDER_ID "', '" ZEROS64 "', '" ZEROS64 "', 0, '" ZEROS64 "', 'recipe-v0.1.0',"
		  " '/nonexistent', '127.0.0.1', 'queued', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));"
		  "INSERT INTO held_wait(queue_id, needs_json, asked_at, ready)"
		  " VALUES ('" PLACEHOLDER_ID "', '[]', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), 0)");
	snprintf(cmd, sizeof cmd,
		 "exec %s miner run --validator %s --key %s --work %s --data %s --experiments 3 --threads %d"
		 " --proposer agent --agent %s/agents/knob-agent > %s 2>&1",
		 tu_karpa(), g.sv.url, key, work, g.data, THREADS, src, log);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 900 && !seen; i++) {
		run(0, "grep -c 'the validator did not take it now (service.address_queue_full)' %s || true", log);
		seen = atoi(g.out) > 0;
		if (!seen && waitpid(pid, &st, WNOHANG) == pid) {
			pid = 0;
			break;
		}
		if (!seen)
			sleep(1);
	}
	sf_state_sql(g.state, "DELETE FROM held_wait WHERE queue_id = '" PLACEHOLDER_ID "';"
		  "DELETE FROM queue WHERE id = '" PLACEHOLDER_ID "'");
	if (!seen) {
		if (pid > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
		}
		run(0, "cat %s", log);
		fail_msg("the miner never met the full queue:\n%s", g.out);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	run(0, "cat %s", log);
	print_message("%s", g.out);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	run(0, "grep -c 'verdict [a-z_]*.*(submission q-' %s/results.tsv", work);
	sf_stop(&g.sv, SIGTERM);
	sf_start(&g.sv, g.tmp, g.state, normal);
}

/* 6. A validator that goes away while the miner answers a challenge is
 * asked again (the row is not written off), and a miner killed meanwhile
 * sends the answer it proved again on its next start, rather than proving
 * it a second time (other bytes: a second submission); it follows it to
 * a final verdict. A validator of its own, on the first king, where the
 * search's first decisive idea is challenged. */
static void test_challenge_answer_waits_for_its_validator(void **unused)
{
	const char *const opts[] = { "--workers", "1", "--judge-threads", "2", "--judge-bin", tu_karpa(), NULL };
	char dir[FS_PATH_MAX], state[FS_PATH_MAX], work[FS_PATH_MAX], log[FS_PATH_MAX], cmd[4 * FS_PATH_MAX];
	struct sf_service sv;
	char answered[64];
	int st = 0, seen = 0, asked = 0;
	pid_t pid = 0;

	(void)unused;
	snprintf(dir, sizeof dir, "%s/ch", g.tmp);
	snprintf(state, sizeof state, "%s/state", dir);
	snprintf(work, sizeof work, "%s/work", dir);
	snprintf(log, sizeof log, "%s/miner.log", dir);
	run(0, "mkdir -p %s && %s validator init %s --data %s --hidden %s --scale tiny", dir, tu_karpa(), state, g.data,
	    g.hidden);
	tu_fix_secret(g.out, OUT_CAP, state);
	run(0, "%s noise-floor %s --seeds 2 --threads %d --json", tu_karpa(), state, THREADS);
	sf_start(&sv, dir, state, opts);
	snprintf(cmd, sizeof cmd,
		 "exec %s miner run --validator %s --key %s --work %s --data %s --experiments 4 --threads %d >> %s 2>&1",
		 tu_karpa(), sv.url, g.key, work, g.data, THREADS, log);
	/* rounds of the search until one of its ideas is challenged (test 1:
	 * the first round, as a rule); the validator goes as soon as the
	 * miner starts its answer */
	for (int round = 0; round < 5 && !seen; round++) {
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
			_exit(127);
		}
		for (int i = 0; i < 6000 && !seen; i++) {
			seen = tu_run(NULL, 0, "grep -q 'challenged, proving again with seed' %s", log) == 0;
			if (!seen && waitpid(pid, &st, WNOHANG) == pid) {
				pid = 0;
				break;
			}
			if (!seen)
				usleep(100 * 1000);
		}
	}
	if (seen)
		sf_stop(&sv, SIGTERM);
	/* proved, the answer meets no validator: asked again, not given up */
	for (int i = 0; i < 1500 && seen && !asked && pid > 0; i++) {
		asked = tu_run(NULL, 0, "grep -q 'did not take it now (client.connect); sending it again' %s", log) == 0;
		if (!asked)
			usleep(200 * 1000);
	}
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	if (!seen || !asked) {
		run(0, "cat %s; cat %s/results.tsv 2>/dev/null || true", log, work);
		if (!seen)
			sf_stop(&sv, SIGTERM);
		fail_msg("%s:\n%s", !seen ? "no challenge was answered" : "the answer was not sent again", g.out);
	}
	run(0, "grep -c 'awaiting its verdict' %s/results.tsv", work);
	run(0, "ls %s/experiments/*/challenge.tar %s/experiments/*/challenge-seed", work, work);
	print_message("%s", g.out);
	/* "experiment NNNN: challenged": the one answered */
	run(0, "grep -o 'experiment [0-9]*: challenged' %s | head -n 1", log);
	snprintf(answered, sizeof answered, "%.*s", (int)strcspn(g.out, "\n"), g.out);
	/* back: the restarted miner sends the answer it has and follows it */
	sf_start(&sv, dir, state, opts);
	run(0, "%s miner run --validator %s --key %s --work %s --data %s --experiments 1 --threads %d", tu_karpa(),
	    sv.url, g.key, work, g.data, THREADS);
	print_message("%s", g.out);
	sf_stop(&sv, SIGTERM);
	assert_non_null(strstr(g.out, "sending its challenge answer again, proved before a restart"));
	/* not proved a second time (the run's one new experiment may be
	 * challenged in its turn: another number) */
	assert_null(strstr(g.out, answered));
	run(1, "grep -c 'awaiting its verdict' %s/results.tsv", work);
	/* the challenged row's final word: crowned, or the challenge failed */
	run(0, "grep -c 'verdict \\(accepted_king\\|challenge_failed\\)' %s/results.tsv", work);
	/* and nothing of its proofs left behind: tars, held folders, a killed
	 * proof's work and staging folders */
	run(0, "find %s/experiments -name 'proof.*' -o -name 'challenge.*' | wc -l", work);
	assert_string_equal(g.out, "0\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_search_finds_a_king),
		cmocka_unit_test(test_restart_repeats_nothing),
		cmocka_unit_test(test_agent_failures_and_example),
		cmocka_unit_test(test_restart_follows_a_submission),
		cmocka_unit_test(test_restart_sends_an_unsent_proof),
		cmocka_unit_test(test_full_queue_is_waited_out),
		cmocka_unit_test(test_challenge_answer_waits_for_its_validator),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
