/* recipe_wire.h: the recipe API carried over a pair of pipes (fixed harness).
 * Owns the framing and payload layouts shared by the host (recipe_pipe.c)
 * and the runner (runner/main.c) that wraps a recipe in its own process.
 * One request per API call, one response per request, both in host byte
 * order (host and runner are always the same machine). The host treats
 * every response byte as hostile: lengths are checked against what the
 * request implies before anything is read. */
#ifndef KARPA_RECIPE_WIRE_H
#define KARPA_RECIPE_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "sandbox/recipe_api.h"
#include "util/kerr.h"

#define WIRE_MAGIC 0x3157524bu /* "KRW1" */

enum wire_type {
	WIRE_CREATE = 1,
	WIRE_TRAIN = 2,
	WIRE_LOGITS = 3,
	WIRE_STATE_BYTES = 4,
	WIRE_SAVE = 5,
	WIRE_LOAD = 6,
	WIRE_QUIT = 7,
	WIRE_TRAIN_TRACED = 8,
	WIRE_GEMM = 9,
	WIRE_LOGITS_BULK = 10, /* the large payloads through the bulk region, below */
	WIRE_SAVE_BULK = 11,
	WIRE_LOAD_BULK = 12,
	WIRE_OK = 0x100,  /* response: OK | request type */
	WIRE_ERR = 0x200, /* response: payload is a reason (<= KR_ERR_MAX bytes) */
};

struct wire_hdr {
	uint32_t magic;
	uint32_t type;
	uint64_t len; /* payload bytes that follow */
};

/* CREATE payload: this struct, then scale_len bytes of scale name, then
 * gemm_len bytes of kr_env.gemm (0: none). Texts travel without a NUL
 * and may not contain one. */
struct wire_create {
	uint64_t seed;
	int32_t threads;
	int32_t vocab_size;
	uint32_t scale_len;
	uint32_t flags; /* WIRE_CREATE_* */
	uint32_t gemm_len;
	uint32_t reserved; /* 0 */
};
#define WIRE_CREATE_STATE_FOLLOWS 1u /* kr_env.state_follows */
#define WIRE_SCALE_MAX 64
#define WIRE_GEMM_MAX (KR_GEMM_MAX - 1) /* bytes of gemm text on the wire */

/* The texts a decoded CREATE points into (the runner's, per request). */
struct wire_create_text {
	char scale[WIRE_SCALE_MAX + 1];
	char gemm[WIRE_GEMM_MAX + 1];
};

/* GEMM: no payload. Response: the recipe's kr_gemm_record text, at most
 * WIRE_GEMM_MAX bytes, no NUL (0 bytes: none). */

/* CREATE response payload: the plan, fields fixed-width. */
struct wire_plan {
	char name[KR_NAME_MAX];
	char version[KR_NAME_MAX];
	int32_t batch, seq_len, eval_batch, pad;
	int64_t steps, ckpt_every, params;
};

/* TRAIN payload: this struct, then ntokens uint16 tokens. Response: two floats. */
struct wire_train {
	int64_t step;
	uint64_t ntokens;
};
struct wire_train_resp {
	float loss, lr;
};

/* TRAIN_TRACED payload: as TRAIN. Response: wire_train_resp, then
 * wire_trace_count, then count recipe_trace_rec (recipe_trace.h). */
struct wire_trace_count {
	uint32_t count;
	uint32_t overflow; /* the recipe named more tensors than RECIPE_TRACE_MAX */
};
struct wire_trace_head {
	struct wire_train_resp r;
	struct wire_trace_count c;
};

/* LOGITS payload: this struct, then rows*T uint16. Response: rows*T*V floats. */
struct wire_logits {
	int32_t rows, T;
};

/* The bulk region: a shared-memory file the host makes and the runner
 * inherits as descriptor WIRE_BULK_FD, which the host sizes (never smaller:
 * it is sealed against shrinking) before each request that uses it. At the
 * GPU scales a call's logits are 400 MB and a state 1.5 GB, which a pipe
 * moves at about 1 GB/s; through the region the runner writes them once
 * and the host copies them out once (docs/recipe-api.md, "Large
 * payloads"). The host copies before it reads, so what it scores, audits
 * or hashes is a snapshot the runner can no longer change.
 *
 *   LOGITS_BULK  payload as LOGITS; the runner puts the floats at the
 *                region's start. Response: wire_bulk, bytes = rows*T*V*4.
 *   SAVE_BULK    payload: wire_bulk, the state's size; the runner saves
 *                into the region. Response: wire_bulk, the same size.
 *   LOAD_BULK    the host has put the state at the region's start; payload:
 *                wire_bulk, its size. Response: none. */
#define WIRE_BULK_FD 3
struct wire_bulk {
	uint64_t bytes;
};

/* CREATE's fixed part for env; the texts follow it as they are. Refuses
 * a scale longer than WIRE_SCALE_MAX (recipe.bad_scale) or a gemm table
 * without a NUL within KR_GEMM_MAX bytes (recipe.bad_gemm); c is then
 * untouched. */
int wire_create_encode(const struct kr_env *env, struct wire_create *c, struct kerr *err);
/* A CREATE payload of len bytes into env, whose scale and gemm point into
 * txt. wire.bad_create when the payload is shorter than its fixed part,
 * its texts' lengths are over their bounds or disagree with len, a text
 * holds a NUL, or a flag or the reserved word is unknown; env and txt are
 * then untouched. The runner's side of wire_create_encode. */
int wire_create_decode(const void *payload, uint64_t len, struct kr_env *env, struct wire_create_text *txt,
		       struct kerr *err);

/* Reads/writes exactly n bytes, retrying on EINTR; -1 on EOF or error. */
int wire_read_full(int fd, void *buf, size_t n);
int wire_write_full(int fd, const void *buf, size_t n);
/* Header + payload in two writes (payload may be NULL when len is 0). */
int wire_send(int fd, uint32_t type, const void *payload, uint64_t len);
/* Header + two payload pieces (a struct, then a bulk array). */
int wire_send2(int fd, uint32_t type, const void *a, uint64_t alen, const void *b, uint64_t blen);

#endif
