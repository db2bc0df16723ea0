/* agent.c: the external proposer (agent.h). */
#include "miner/agent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/proc.h"

static void one_line(char *dst, size_t cap, const char *src)
{
	size_t n = 0;

	for (; src && *src && n + 1 < cap; src++)
		dst[n++] = (*src == '\n' || *src == '\r' || *src == '\t') ? ' ' : *src;
	dst[n] = 0;
}

int agent_propose(const char *cmd, int timeout_s, json_t *request, struct agent_answer *a, struct kerr *err)
{
	const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
	struct proc_opts po = { 0 };
	struct proc_result res = { 0 };
	json_error_t je;
	json_t *ans = NULL, *d, *r;
	char *in = NULL, line[240];
	int rc = -1;

	memset(a, 0, sizeof *a);
	if (!(in = json_dumps(request, JSON_COMPACT))) {
		kerr_set(err, "miner.agent_bad_json", "could not serialise the request");
		goto out;
	}
	po.stdin_data = in;
	po.stdin_len = strlen(in);
	po.out_bytes_max = AGENT_ANSWER_BYTES_MAX;
	po.err_bytes_max = 64u << 10;
	po.timeout_ms = timeout_s * 1000;
	if (proc_run(argv, &po, &res, err) < 0)
		goto out;
	proc_first_line(res.err, line, sizeof line);
	if (res.timed_out) {
		kerr_set(err, "miner.agent_timeout", "the agent gave no answer within %d s", timeout_s);
		goto out;
	}
	if (res.exit_code != 0) {
		kerr_set(err, "miner.agent_failed", "the agent %s %d: %s", res.exit_code < 0 ? "was killed by signal" : "exited",
			 res.exit_code < 0 ? res.term_signal : res.exit_code, line[0] ? line : "(no message)");
		goto out;
	}
	if (res.out_truncated) {
		kerr_set(err, "miner.agent_bad_json", "the answer exceeds %u bytes", AGENT_ANSWER_BYTES_MAX);
		goto out;
	}
	if (!(ans = json_loadb(res.out, res.out_len, 0, &je)) || !json_is_object(ans)) {
		kerr_set(err, "miner.agent_bad_json", "the answer is not one JSON object: %s",
			 ans ? "another JSON value" : je.text);
		goto out;
	}
	d = json_object_get(ans, "diff");
	if (!json_is_string(d) || json_string_length(d) == 0) {
		kerr_set(err, "miner.agent_no_diff", "the answer has no \"diff\" (a unified diff against the checkout)");
		goto out;
	}
	r = json_object_get(ans, "rationale");
	a->diff_len = json_string_length(d);
	a->diff = malloc(a->diff_len + 1);
	a->rationale = strdup(json_is_string(r) ? json_string_value(r) : "(the agent gave no rationale)\n");
	if (!a->diff || !a->rationale) {
		kerr_set(err, "miner.agent_bad_json", "out of memory");
		goto out;
	}
	memcpy(a->diff, json_string_value(d), a->diff_len + 1);
	one_line(a->desc, sizeof a->desc, json_string_value(json_object_get(ans, "description")));
	if (!a->desc[0])
		one_line(a->desc, sizeof a->desc, a->rationale);
	rc = 0;
out:
	if (rc < 0)
		agent_answer_free(a);
	json_decref(ans);
	proc_result_free(&res);
	free(in);
	return rc;
}

void agent_answer_free(struct agent_answer *a)
{
	free(a->diff);
	free(a->rationale);
	a->diff = a->rationale = NULL;
	a->diff_len = 0;
}
