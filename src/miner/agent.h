/* agent.h: the external proposer (`karpa miner run --proposer agent`,
 * docs/program.md). Owns the exchange with an agent program: one JSON
 * request on its stdin, one JSON answer on its stdout (a unified diff, a
 * rationale, a one-line description), its time and size limits, and every
 * way that exchange can fail, each a reason code that the loop records as
 * the experiment's crash before it goes on. Never applies, trains nor talks
 * to a validator: the loop (miner.c) does. */
#ifndef KARPA_MINER_AGENT_H
#define KARPA_MINER_AGENT_H

#include <jansson.h>
#include <stddef.h>

#include "util/kerr.h"

#define AGENT_ANSWER_BYTES_MAX (1u << 20)
#define AGENT_DESC_MAX 200

struct agent_answer {
	char *diff;       /* unified diff against the king checkout (owned) */
	size_t diff_len;
	char *rationale;  /* markdown for the proof's rationale.md (owned) */
	char desc[AGENT_DESC_MAX]; /* one line for results.tsv */
};

/* Runs `sh -c cmd` with request (serialised) on stdin, at most timeout_s
 * seconds, and parses its answer. miner.agent_timeout, miner.agent_failed
 * (non-zero exit or killed: the message carries its first stderr line),
 * miner.agent_bad_json (not one JSON object, or over the size limit),
 * miner.agent_no_diff (no "diff" string, or an empty one). */
int agent_propose(const char *cmd, int timeout_s, json_t *request, struct agent_answer *a, struct kerr *err);
void agent_answer_free(struct agent_answer *a);

#endif
