/* rpc.h: the transport to a subtensor node: JSON-RPC 2.0 over HTTP POST
 * (libcurl, jansson), typed wrappers of the calls the adapter makes, and
 * the node's errors decoded into reason codes (docs/chain-rpc.md). Owns
 * timeouts, the answer size cap (enforced while streaming), retries with
 * backoff for transport failures and HTTP 5xx/429 only, and the request id
 * check. Never resubmits an extrinsic the node may already hold; never
 * trusts an answer's size, type or id. */
#ifndef KARPA_CHAIN_RPC_H
#define KARPA_CHAIN_RPC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util/kerr.h"

#define CHAIN_HASH_BYTES 32
#define CHAIN_RPC_TRIES_MAX 20
/* Answers other than the metadata: the largest is a runtime version with
 * its API list (a few KiB); 1 MiB leaves room and still bounds a hostile
 * endpoint. */
#define CHAIN_RPC_BODY_BYTES_DEFAULT (1u << 20)
/* Decoded metadata (subtensor's is about 300 KB); its answer is hex, so
 * the body cap for state_getMetadata is twice this plus the envelope. */
#define CHAIN_RPC_METADATA_BYTES_DEFAULT (8u << 20)
#define CHAIN_RPC_METADATA_BYTES_MAX (64u << 20)
/* Storage values the adapter reads are tiny; a larger one is refused. */
#define CHAIN_RPC_STORAGE_BYTES_MAX (64u << 10)
#define CHAIN_RPC_EXTRINSIC_BYTES_MAX (1u << 20)
#define CHAIN_RPC_SS58_CHARS_MAX 64
/* A block body: Substrate's default block length limit is 5 MiB, twice
 * that in hex, with room for the envelope and header. */
#define CHAIN_RPC_BLOCK_BODY_BYTES_MAX (12u << 20)
#define CHAIN_RPC_BLOCK_EXTRINSICS_MAX 65536
/* JSON values in one answer, counted before it is parsed: jansson keeps
 * each in its own allocation, so twelve MiB of `[0,0,0,...]` cost about
 * 200 MiB of heap, and the metadata's 64 MiB cap more than 2 GiB. Every
 * answer the adapter reads is a few strings, or a block's extrinsics. */
#define CHAIN_RPC_JSON_VALUES_MAX (2 * CHAIN_RPC_BLOCK_EXTRINSICS_MAX)

struct chain_rpc_opts {
	int tries;                /* attempts in all for a call that may be repeated (default 4) */
	long timeout_ms;          /* one attempt, connect to last byte (default 30000) */
	long connect_timeout_ms;  /* TCP (and TLS) connect of one attempt (default 5000) */
	size_t body_bytes_max;    /* answer body cap, all calls but the metadata (default above) */
	size_t metadata_bytes_max; /* decoded metadata cap (default above, at most ..._MAX) */
	long backoff_base_ms;     /* first retry waits in [base/2, base] (default 250) */
	long backoff_max_ms;      /* a wait's upper bound before jitter (default 8000) */
	long retry_after_max_ms;  /* a 429/503's Retry-After is honoured up to this (default 30000) */
	/* How to wait between attempts; NULL sleeps. Tests record the waits. */
	void (*sleep_ms)(void *ctx, long ms);
	void *sleep_ctx;
};
void chain_rpc_opts_default(struct chain_rpc_opts *o);

/* One client: one endpoint, one kept-alive connection. Not shared between
 * threads (each thread opens its own). */
struct chain_rpc;

/* url: http:// or https:// (chain.rpc_url otherwise). o may be NULL for
 * the defaults; it is copied. Caller closes. */
int chain_rpc_open(struct chain_rpc **out, const char *url, const struct chain_rpc_opts *o, struct kerr *err);
void chain_rpc_close(struct chain_rpc *r);

/* What the last call did: attempts made (1 when it was not retried), the
 * waits between them, and the HTTP status of its last answer (0: none). */
struct chain_rpc_stats {
	int attempts;
	long waited_ms;
	long http_status;
};
void chain_rpc_last_stats(const struct chain_rpc *r, struct chain_rpc_stats *s);

/* Whether a failed attempt may be made again. */
enum chain_rpc_retry {
	CHAIN_RPC_IDEMPOTENT, /* reads: transport failures, HTTP 5xx and 429 are retried */
	CHAIN_RPC_AT_MOST_ONCE, /* submission: retried only when the node cannot have seen it */
};

/* One call: sends {"jsonrpc":"2.0","id":N,"method":method,"params":params}
 * (params is stolen; NULL sends []) and returns the answer's result
 * (caller decrefs; JSON null is returned as a json_null()). body_max 0 uses
 * opts.body_bytes_max. */
int chain_rpc_call(struct chain_rpc *r, const char *method, json_t *params, enum chain_rpc_retry retry,
		   size_t body_max, json_t **result, struct kerr *err);

/* ------------------------------------------------------------ wrappers */

/* chain_getBlockHash(number); chain.block_unknown when the node has no
 * such block (it answers null). */
int chain_rpc_block_hash(struct chain_rpc *r, uint64_t number, uint8_t hash[CHAIN_HASH_BYTES], struct kerr *err);
/* chain_getBlockHash(): the best block's hash. */
int chain_rpc_best_hash(struct chain_rpc *r, uint8_t hash[CHAIN_HASH_BYTES], struct kerr *err);

struct chain_header {
	uint64_t number;
	uint8_t parent[CHAIN_HASH_BYTES];
};
/* chain_getHeader(hash) (hash NULL: the best block). */
int chain_rpc_header(struct chain_rpc *r, const uint8_t *hash, struct chain_header *h, struct kerr *err);

#define CHAIN_SPEC_NAME_BYTES 64
struct chain_runtime_version {
	uint32_t spec_version;
	uint32_t transaction_version;
	char spec_name[CHAIN_SPEC_NAME_BYTES]; /* "node-subtensor"; truncated if longer */
};
/* state_getRuntimeVersion(at) (at NULL: the best block). */
int chain_rpc_runtime_version(struct chain_rpc *r, const uint8_t *at, struct chain_runtime_version *v,
			      struct kerr *err);
/* state_getMetadata(at): the SCALE metadata bytes, hex decoded; caller
 * frees. chain.rpc_too_large past opts.metadata_bytes_max. */
int chain_rpc_metadata(struct chain_rpc *r, const uint8_t *at, uint8_t **bytes, size_t *len, struct kerr *err);
/* state_getStorage(key, at): *present 0 when the node answers null (no
 * value); else the value in *val (caller frees; at most
 * CHAIN_RPC_STORAGE_BYTES_MAX). */
int chain_rpc_storage(struct chain_rpc *r, const uint8_t *key, size_t key_len, const uint8_t *at, uint8_t **val,
		      size_t *len, int *present, struct kerr *err);
/* system_accountNextIndex(ss58): the next nonce, counting the node's pool. */
int chain_rpc_account_next_index(struct chain_rpc *r, const char *ss58, uint64_t *nonce, struct kerr *err);
/* author_submitExtrinsic(0x-hex of xt, the whole encoded extrinsic with its
 * length prefix): the transaction hash, checked to be blake2b-256(xt).
 * Made at most once past the point where the node could have read it: a
 * timeout, a dropped connection or a 5xx after sending is
 * chain.submit_unknown (docs/chain-rpc.md says what to do). */
int chain_rpc_submit(struct chain_rpc *r, const uint8_t *xt, size_t len, uint8_t tx_hash[CHAIN_HASH_BYTES],
		     struct kerr *err);

/* chain_getBlock(block): the position of the extrinsic named tx_hash
 * (blake2b-256 of its bytes) in that block's body, or *index -1 when it is
 * not there. With the block's System.Events (chain_storage_key_system_events)
 * this says whether a submission landed and how its dispatch ended. */
int chain_rpc_find_extrinsic(struct chain_rpc *r, const uint8_t block[CHAIN_HASH_BYTES],
			     const uint8_t tx_hash[CHAIN_HASH_BYTES], long *index, struct kerr *err);

/* ------------------------------------------------ pure answer handling */

/* One answer body for request `id`: 0 with *result (caller decrefs), or -1
 * with a protocol code (chain.rpc_bad_json, chain.rpc_bad_id) or the
 * decoded chain error. Pure: the fuzz target's entry point. */
int chain_rpc_parse_answer(const char *body, size_t len, uint64_t id, json_t **result, struct kerr *err);
/* A JSON-RPC error object to a reason code (always returns -1). */
int chain_rpc_error_decode(const json_t *error, struct kerr *err);
/* Subtensor's CustomTransactionError (InvalidTransaction::Custom(code)):
 * the reason code and the variant's name (NULL for a code subtensor does
 * not define: the reason code is then chain.custom_error). */
const char *chain_rpc_custom_error(unsigned code, const char **variant);

/* Typed decoders of a result (what the wrappers use; pure). */
int chain_rpc_hex_decode(const json_t *v, const char *what, size_t bytes_max, uint8_t **out, size_t *len,
			 struct kerr *err);
int chain_rpc_decode_hash(const json_t *v, const char *what, uint8_t hash[CHAIN_HASH_BYTES], struct kerr *err);
int chain_rpc_decode_header(const json_t *v, struct chain_header *h, struct kerr *err);
int chain_rpc_decode_runtime_version(const json_t *v, struct chain_runtime_version *rv, struct kerr *err);
int chain_rpc_decode_nonce(const json_t *v, uint64_t *nonce, struct kerr *err);
int chain_rpc_decode_block_find(const json_t *v, const uint8_t tx_hash[CHAIN_HASH_BYTES], long *index,
				struct kerr *err);

/* ------------------------------------------------------ dispatch errors */

/* Names a module error from the runtime metadata: the pallet's and the
 * error variant's names for (pallet index, error index). Returns 0 and
 * fills both, or -1 when the metadata has no such error. The metadata
 * reader provides it; this module never parses metadata. */
typedef int (*chain_error_lookup_fn)(void *ctx, uint8_t pallet_index, uint8_t error_index, char *pallet,
				     size_t pallet_cap, char *name, size_t name_cap);
/* DispatchError::Module { index, error[0] } to a reason code (always
 * returns -1): SubtensorModule's weight errors by name
 * (SettingWeightsTooFast -> chain.setting_weights_too_fast, ...), any
 * other as chain.dispatch_error with "Pallet.Variant" in the message. */
int chain_rpc_dispatch_error(uint8_t pallet_index, uint8_t error_index, chain_error_lookup_fn lookup, void *ctx,
			     struct kerr *err);

#endif
