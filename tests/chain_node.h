/* chain_node.h: a local subtensor-like JSON-RPC node for the chain tests:
 * libmicrohttpd on 127.0.0.1 and a free port, in the test's own process
 * (so it ends with the test at the latest; cn_stop ends it sooner). It
 * answers the calls the adapter makes from scripted state (blocks, runtime
 * version, the devnet metadata fixture, a storage map, a nonce) the way a
 * Substrate node does (sc-rpc's error codes and texts), fails on script
 * (HTTP 5xx/429, junk, a wrong id, an oversized or stalled answer, a
 * dropped connection, any JSON-RPC error), and records every request so
 * that tests can assert what the client sent. Include after testutil.h. */
#ifndef KARPA_CHAIN_NODE_H
#define KARPA_CHAIN_NODE_H

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>

#include "chain/storage.h"

#define CN_REQS_MAX 512
#define CN_FAULTS_MAX 32
#define CN_STORAGE_MAX 32
#define CN_BODY_BYTES_MAX (4u << 20)  /* a request body the node reads */
#define CN_PARAMS_CHARS_MAX 4096      /* params kept per recorded request */
#define CN_SPEC_VERSION 351           /* the metadata fixture's runtime */
#define CN_TX_VERSION 1
#define CN_INCLUDED_MAX 64
/* Every block's first extrinsic, standing for the timestamp inherent. */
#define CN_INHERENT_HEX "0x280403000b"

enum cn_fault_kind {
	CN_HTTP_500,          /* HTTP 500, empty body */
	CN_HTTP_503_RETRY,    /* HTTP 503 with Retry-After: cn.retry_after_s */
	CN_HTTP_429,          /* HTTP 429 (a rate limiter in front of the node) */
	CN_HTTP_404,          /* HTTP 404: a wrong path, never worth retrying */
	CN_GARBAGE,           /* 200 with bytes that are not JSON */
	CN_WRONG_ID,          /* a well-formed answer for another request id */
	CN_WRONG_TYPE,        /* result 42 where the method returns a string or object */
	CN_BAD_HEX,           /* a result string that is not 0x-hex */
	CN_OVERSIZED,         /* a valid answer of cn.oversize_bytes, Content-Length declared */
	CN_OVERSIZED_CHUNKED, /* the same, chunked: no length known up front */
	CN_STALL,             /* answers after cn.stall_ms (or never, when stopped first) */
	CN_DROP,              /* closes the connection without an answer */
	CN_RPC_ERROR,         /* a JSON-RPC error object (code, message, data) */
	CN_WRONG_HASH,        /* a well-formed 32-byte hash that is not the right one */
};

struct cn_fault {
	char method[48]; /* "" matches every method */
	enum cn_fault_kind kind;
	int count;
	long long code;
	char message[128], data[160];
};

struct cn_req {
	char method[64];
	char params[CN_PARAMS_CHARS_MAX];
	long long id;
};

/* Called for each extrinsic the node accepts (outside its lock, on a
 * server thread: it must not fail a cmocka test; record and assert
 * later), with the block it will land in at index 1, after the inherent.
 * Returns that block's System.Events value as 0x-hex (malloc'd; the node
 * frees it), or NULL for none. */
typedef char *(*cn_submit_hook)(void *ctx, const uint8_t *xt, size_t len, uint32_t block);

struct cn_node {
	struct MHD_Daemon *d;
	int port;
	char url[64];
	pthread_mutex_t mu;
	atomic_int stopping;
	/* scripted state */
	uint32_t head;
	uint32_t spec_version, tx_version;
	uint8_t *metadata;
	size_t metadata_len;
	uint64_t nonce;
	uint32_t finalized_lag; /* chain_getFinalizedHead: head - this */
	/* cn_reorg: blocks from fork_from on are fork `fork`'s (other hashes) */
	uint32_t fork_from, fork;
	cn_submit_hook on_submit;
	void *on_submit_ctx;
	char events_key[2 + 2 * CHAIN_STORAGE_PREFIX_BYTES + 1]; /* System.Events, 0x-hex */
	char storage_key[CN_STORAGE_MAX][256], storage_val[CN_STORAGE_MAX][256];
	int nstorage;
	struct cn_fault faults[CN_FAULTS_MAX];
	int nfaults;
	size_t oversize_bytes;
	long stall_ms;
	long retry_after_s;
	/* what it received */
	struct cn_req reqs[CN_REQS_MAX];
	int nreqs;
	char *submitted; /* the last extrinsic hex submitted and accepted */
	/* Each accepted submission makes a block of its own (head + 1) holding
	 * an inherent and it: enough for a client to find where it landed. */
	struct {
		uint32_t block;
		char *hex;
		char *events; /* System.Events at that block, 0x-hex; NULL: none */
	} included[CN_INCLUDED_MAX];
	int nincluded;
};

/* ------------------------------------------------------------ state */

/* Block n's hash: any fixed 32 bytes per n serve; these are blake2b-256 of
 * a label and n, so parents chain and no two blocks collide. */
static inline void cn_block_hash(uint32_t n, uint8_t out[32])
{
	uint8_t in[20] = "karpa-test-block";

	in[16] = (uint8_t)n;
	in[17] = (uint8_t)(n >> 8);
	in[18] = (uint8_t)(n >> 16);
	in[19] = (uint8_t)(n >> 24);
	crypto_generichash(out, 32, in, sizeof in, NULL, 0);
}

/* Block num's hash on the node's current chain: cn_block_hash's until the
 * first reorganisation, a fork's own from the block it forked at on. */
static inline void cn_node_hash(const struct cn_node *n, uint32_t num, uint8_t out[32])
{
	cn_block_hash(num, out);
	if (n->fork && num >= n->fork_from) {
		uint8_t tag[4] = { (uint8_t)n->fork, (uint8_t)(n->fork >> 8), (uint8_t)(n->fork >> 16),
				   (uint8_t)(n->fork >> 24) };

		crypto_generichash(out, 32, out, 32, tag, sizeof tag);
	}
}

static inline void cn_hex(const uint8_t *b, size_t n, char *out)
{
	out[0] = '0';
	out[1] = 'x';
	sodium_bin2hex(out + 2, 2 * n + 1, b, n);
}

static inline json_t *cn_hex_json(const uint8_t *b, size_t n)
{
	char *s = malloc(2 * n + 3);
	json_t *j;

	if (!s) /* server threads cannot fail a cmocka test */
		abort();
	cn_hex(b, n, s);
	j = json_string(s);
	free(s);
	return j;
}

/* The metadata fixture beside the repository: $KARPA_SRC/../shared/chain
 * (or ./../shared when run from the source tree, as the Makefile does). */
static inline void cn_metadata_path(char *out, size_t cap)
{
	const char *src = getenv("KARPA_SRC") ? getenv("KARPA_SRC") : ".";

	snprintf(out, cap, "%s/../shared/chain/subtensor-devnet-metadata.scale", src);
}

/* Sets storage[key_hex] = val_hex ("0x.."; NULL removes it). */
static inline void cn_storage_set(struct cn_node *n, const char *key_hex, const char *val_hex)
{
	pthread_mutex_lock(&n->mu);
	for (int i = 0; i < n->nstorage; i++)
		if (!strcmp(n->storage_key[i], key_hex)) {
			if (val_hex)
				snprintf(n->storage_val[i], sizeof n->storage_val[i], "%s", val_hex);
			else {
				n->nstorage--;
				memcpy(n->storage_key[i], n->storage_key[n->nstorage], sizeof n->storage_key[i]);
				memcpy(n->storage_val[i], n->storage_val[n->nstorage], sizeof n->storage_val[i]);
			}
			pthread_mutex_unlock(&n->mu);
			return;
		}
	if (val_hex && n->nstorage >= CN_STORAGE_MAX) {
		pthread_mutex_unlock(&n->mu);
		fail_msg("chain node: more than %d storage values", CN_STORAGE_MAX);
	}
	if (val_hex) {
		snprintf(n->storage_key[n->nstorage], sizeof n->storage_key[0], "%s", key_hex);
		snprintf(n->storage_val[n->nstorage], sizeof n->storage_val[0], "%s", val_hex);
		n->nstorage++;
	}
	pthread_mutex_unlock(&n->mu);
}

/* The next `count` calls of method ("" any) fail as kind. */
static inline void cn_fail(struct cn_node *n, const char *method, enum cn_fault_kind kind, int count)
{
	int k = 0;

	pthread_mutex_lock(&n->mu);
	for (int i = 0; i < n->nfaults; i++) /* spent faults make room */
		if (n->faults[i].count > 0)
			n->faults[k++] = n->faults[i];
	n->nfaults = k;
	if (n->nfaults >= CN_FAULTS_MAX) {
		pthread_mutex_unlock(&n->mu); /* never fail a test holding the lock */
		fail_msg("chain node: more than %d faults scripted", CN_FAULTS_MAX);
	}
	memset(&n->faults[n->nfaults], 0, sizeof n->faults[0]);
	snprintf(n->faults[n->nfaults].method, sizeof n->faults[0].method, "%s", method);
	n->faults[n->nfaults].kind = kind;
	n->faults[n->nfaults].count = count;
	n->nfaults++;
	pthread_mutex_unlock(&n->mu);
}

/* The next `count` calls of method answer the JSON-RPC error (code,
 * message, data; data NULL: none), as a Substrate node words it. */
static inline void cn_fail_rpc(struct cn_node *n, const char *method, int count, long long code, const char *message,
			       const char *data)
{
	struct cn_fault *f;

	cn_fail(n, method, CN_RPC_ERROR, count);
	pthread_mutex_lock(&n->mu);
	f = &n->faults[n->nfaults - 1];
	f->code = code;
	snprintf(f->message, sizeof f->message, "%s", message);
	snprintf(f->data, sizeof f->data, "%s", data ? data : "");
	pthread_mutex_unlock(&n->mu);
}

static inline int cn_count(struct cn_node *n, const char *method)
{
	int c = 0;

	pthread_mutex_lock(&n->mu);
	for (int i = 0; i < n->nreqs; i++)
		c += !strcmp(n->reqs[i].method, method);
	pthread_mutex_unlock(&n->mu);
	return c;
}

/* A reorganisation: the chain from block `from` on is a new fork (new
 * hashes), and each extrinsic that was in one of its blocks is in block
 * `to` instead (0: in none, back in the pool). The head stays. */
static inline void cn_reorg(struct cn_node *n, uint32_t from, uint32_t to)
{
	pthread_mutex_lock(&n->mu);
	n->fork++;
	n->fork_from = from;
	for (int i = 0; i < n->nincluded; i++)
		if (n->included[i].block >= from)
			n->included[i].block = to;
	pthread_mutex_unlock(&n->mu);
}

/* The i-th request received (a copy). */
static inline struct cn_req cn_req_at(struct cn_node *n, int i)
{
	struct cn_req r;

	pthread_mutex_lock(&n->mu);
	if (i < 0 || i >= n->nreqs) {
		int have = n->nreqs;

		pthread_mutex_unlock(&n->mu);
		fail_msg("chain node: request %d asked for, %d received", i, have);
	}
	r = n->reqs[i];
	pthread_mutex_unlock(&n->mu);
	return r;
}

static inline void cn_forget(struct cn_node *n)
{
	pthread_mutex_lock(&n->mu);
	n->nreqs = 0;
	n->nfaults = 0;
	for (int i = 0; i < n->nincluded; i++) {
		free(n->included[i].hex);
		free(n->included[i].events);
	}
	n->nincluded = 0;
	pthread_mutex_unlock(&n->mu);
}

/* ------------------------------------------------------------ answers */

static inline struct MHD_Response *cn_text(const char *s)
{
	return MHD_create_response_from_buffer(strlen(s), (void *)s, MHD_RESPMEM_MUST_COPY);
}

static inline enum MHD_Result cn_send(struct MHD_Connection *c, unsigned status, struct MHD_Response *resp)
{
	enum MHD_Result r;

	MHD_add_response_header(resp, "Content-Type", "application/json");
	r = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return r;
}

/* {"jsonrpc":"2.0","id":id,"result"|"error":v} (v stolen). */
static inline enum MHD_Result cn_reply(struct MHD_Connection *c, json_t *id, const char *field, json_t *v)
{
	json_t *j = json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(), field, v);
	char *s = json_dumps(j, JSON_COMPACT);
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);

	json_decref(j);
	return cn_send(c, 200, resp);
}

static inline enum MHD_Result cn_error(struct MHD_Connection *c, json_t *id, long long code, const char *message,
				       const char *data)
{
	json_t *e = json_pack("{s:I,s:s}", "code", (json_int_t)code, "message", message);

	if (data && data[0])
		json_object_set_new(e, "data", json_string(data));
	return cn_reply(c, id, "error", e);
}

struct cn_big {
	size_t total, sent;
	char head[96];
	size_t head_len;
};

/* A valid answer whose result is a long string of zeros, streamed. */
static inline ssize_t cn_big_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct cn_big *b = cls;
	size_t n = 0;

	if (b->sent >= b->total)
		return MHD_CONTENT_READER_END_OF_STREAM;
	while (n < max && b->sent < b->total) {
		if (b->sent < b->head_len)
			buf[n] = b->head[b->sent];
		else if (b->sent == b->total - 2)
			buf[n] = '"';
		else if (b->sent == b->total - 1)
			buf[n] = '}';
		else
			buf[n] = '0';
		n++;
		b->sent++;
	}
	return (ssize_t)n;
}

static inline enum MHD_Result cn_oversized(struct cn_node *n, struct MHD_Connection *c, long long id, int chunked)
{
	struct cn_big *b = calloc(1, sizeof *b);
	struct MHD_Response *resp;

	if (!b)
		return MHD_NO;
	b->head_len = (size_t)snprintf(b->head, sizeof b->head, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":\"0x", id);
	b->total = n->oversize_bytes > b->head_len + 2 ? n->oversize_bytes : b->head_len + 2;
	if ((b->total - b->head_len - 2) % 2) /* an even number of hex digits */
		b->total++;
	resp = MHD_create_response_from_callback(chunked ? MHD_SIZE_UNKNOWN : b->total, 64 * 1024, cn_big_read, b,
						 free);
	return cn_send(c, 200, resp);
}

static inline void cn_stall(struct cn_node *n)
{
	for (long t = 0; t < n->stall_ms && !atomic_load(&n->stopping); t += 5)
		usleep(5000);
}

/* The scripted fault for method, or -1; takes one from its count. */
static inline int cn_take_fault(struct cn_node *n, const char *method, struct cn_fault *out)
{
	int kind = -1;

	pthread_mutex_lock(&n->mu);
	for (int i = 0; i < n->nfaults; i++) {
		struct cn_fault *f = &n->faults[i];

		if (f->count > 0 && (!f->method[0] || !strcmp(f->method, method))) {
			f->count--;
			*out = *f;
			kind = (int)f->kind;
			break;
		}
	}
	pthread_mutex_unlock(&n->mu);
	return kind;
}

static inline json_t *cn_header(const struct cn_node *n, uint32_t num)
{
	uint8_t parent[32] = { 0 }, root[32] = { 0 };
	char nb[24];

	if (num > 0)
		cn_node_hash(n, num - 1, parent);
	snprintf(nb, sizeof nb, "0x%x", num);
	return json_pack("{s:o,s:s,s:o,s:o,s:{s:[]}}", "parentHash", cn_hex_json(parent, 32), "number", nb,
			 "stateRoot", cn_hex_json(root, 32), "extrinsicsRoot", cn_hex_json(root, 32), "digest",
			 "logs");
}

/* The block number whose hash is hex, or -1. */
static inline long cn_find_block(struct cn_node *n, const char *hex)
{
	uint8_t h[32];
	char want[67];

	for (uint32_t i = 0; hex && i <= n->head; i++) {
		cn_node_hash(n, i, h);
		cn_hex(h, 32, want);
		if (!strcmp(want, hex))
			return (long)i;
	}
	return -1;
}

static inline int cn_is_hex(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n < 2 || s[0] != '0' || s[1] != 'x' || n % 2)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (!strchr("0123456789abcdef", s[i]))
			return 0;
	return 1;
}

/* A method's real answer from the scripted state. */
static inline enum MHD_Result cn_method(struct cn_node *n, struct MHD_Connection *c, json_t *id, const char *m,
					json_t *params)
{
	json_t *p0 = json_array_get(params, 0);
	size_t np = json_array_size(params);

	if (!strcmp(m, "chain_getBlockHash")) {
		uint8_t h[32];

		if (np == 0) {
			cn_node_hash(n, n->head, h);
			return cn_reply(c, id, "result", cn_hex_json(h, 32));
		}
		if (!json_is_integer(p0) || json_integer_value(p0) < 0)
			return cn_error(c, id, -32602, "Invalid params", NULL);
		if (json_integer_value(p0) > n->head)
			return cn_reply(c, id, "result", json_null());
		cn_node_hash(n, (uint32_t)json_integer_value(p0), h);
		return cn_reply(c, id, "result", cn_hex_json(h, 32));
	}
	if (!strcmp(m, "chain_getFinalizedHead")) {
		uint8_t h[32];

		cn_node_hash(n, n->head > n->finalized_lag ? n->head - n->finalized_lag : 0, h);
		return cn_reply(c, id, "result", cn_hex_json(h, 32));
	}
	if (!strcmp(m, "chain_getHeader")) {
		long num = np == 0 ? (long)n->head : cn_find_block(n, json_string_value(p0));

		return cn_reply(c, id, "result", num < 0 ? json_null() : cn_header(n, (uint32_t)num));
	}
	if (!strcmp(m, "chain_getBlock")) {
		long num = np == 0 ? (long)n->head : cn_find_block(n, json_string_value(p0));
		json_t *xts;

		if (num < 0)
			return cn_reply(c, id, "result", json_null());
		xts = json_pack("[s]", CN_INHERENT_HEX);
		pthread_mutex_lock(&n->mu);
		for (int i = 0; i < n->nincluded; i++)
			if (n->included[i].block == (uint32_t)num)
				json_array_append_new(xts, json_string(n->included[i].hex));
		pthread_mutex_unlock(&n->mu);
		return cn_reply(c, id, "result",
				json_pack("{s:{s:o,s:o},s:n}", "block", "header", cn_header(n, (uint32_t)num), "extrinsics",
					  xts, "justifications"));
	}
	if (!strcmp(m, "state_getRuntimeVersion"))
		return cn_reply(c, id, "result",
				json_pack("{s:s,s:s,s:i,s:I,s:i,s:[[s,i]],s:I,s:i}", "specName", "node-subtensor",
					  "implName", "node-subtensor", "authoringVersion", 1, "specVersion",
					  (json_int_t)n->spec_version, "implVersion", 1, "apis", "0xdf6acb689907609b",
					  5, "transactionVersion", (json_int_t)n->tx_version, "stateVersion", 1));
	if (!strcmp(m, "state_getMetadata"))
		return cn_reply(c, id, "result", cn_hex_json(n->metadata, n->metadata_len));
	if (!strcmp(m, "state_getStorage")) {
		const char *k = json_string_value(p0);

		if (!cn_is_hex(k))
			return cn_error(c, id, -32602, "Invalid params", "invalid hex");
		pthread_mutex_lock(&n->mu);
		if (!strcmp(k, n->events_key) && np > 1) {
			long num = cn_find_block(n, json_string_value(json_array_get(params, 1)));

			for (int i = 0; num >= 0 && i < n->nincluded; i++)
				if (n->included[i].block == (uint32_t)num && n->included[i].events) {
					json_t *v = json_string(n->included[i].events);

					pthread_mutex_unlock(&n->mu);
					return cn_reply(c, id, "result", v);
				}
		}
		for (int i = 0; i < n->nstorage; i++)
			if (!strcmp(n->storage_key[i], k)) {
				json_t *v = json_string(n->storage_val[i]);

				pthread_mutex_unlock(&n->mu);
				return cn_reply(c, id, "result", v);
			}
		pthread_mutex_unlock(&n->mu);
		return cn_reply(c, id, "result", json_null());
	}
	if (!strcmp(m, "system_accountNextIndex")) {
		if (!json_is_string(p0))
			return cn_error(c, id, -32602, "Invalid params", NULL);
		return cn_reply(c, id, "result", json_integer((json_int_t)n->nonce));
	}
	if (!strcmp(m, "author_submitExtrinsic")) {
		const char *x = json_string_value(p0);
		size_t bl = x ? (strlen(x) - 2) / 2 : 0;
		uint8_t *b, h[32];

		if (!cn_is_hex(x) || bl == 0)
			return cn_error(c, id, 1001, "Extrinsic has invalid format: Could not decode", NULL);
		if (!(b = malloc(bl)))
			return MHD_NO;
		sodium_hex2bin(b, bl, x + 2, 2 * bl, NULL, NULL, NULL);
		crypto_generichash(h, 32, b, bl, NULL, 0);
		{
			char *events = n->on_submit ? n->on_submit(n->on_submit_ctx, b, bl, n->head + 1) : NULL;

			free(b);
			pthread_mutex_lock(&n->mu);
			free(n->submitted);
			n->submitted = strdup(x);
			n->nonce++;
			if (n->nincluded < CN_INCLUDED_MAX) {
				n->head++;
				n->included[n->nincluded].block = n->head;
				n->included[n->nincluded].events = events;
				n->included[n->nincluded++].hex = strdup(x);
			} else {
				free(events);
			}
		}
		pthread_mutex_unlock(&n->mu);
		return cn_reply(c, id, "result", cn_hex_json(h, 32));
	}
	return cn_error(c, id, -32601, "Method not found", NULL);
}

static inline enum MHD_Result cn_fault_answer(struct cn_node *n, struct MHD_Connection *c, json_t *id,
					      const struct cn_fault *f)
{
	struct MHD_Response *resp;
	long long iid = json_integer_value(id);

	switch (f->kind) {
	case CN_HTTP_500:
		return cn_send(c, 500, cn_text(""));
	case CN_HTTP_503_RETRY: {
		char ra[24];

		resp = cn_text("{}");
		snprintf(ra, sizeof ra, "%ld", n->retry_after_s);
		MHD_add_response_header(resp, "Retry-After", ra);
		return cn_send(c, 503, resp);
	}
	case CN_HTTP_429:
		return cn_send(c, 429, cn_text("Too Many Requests"));
	case CN_HTTP_404:
		return cn_send(c, 404, cn_text("Not Found"));
	case CN_GARBAGE:
		return cn_send(c, 200, cn_text("<html>\x01\xff{\"jsonrpc\":"));
	case CN_WRONG_ID: {
		json_t *other = json_integer((json_int_t)(iid + 1000));
		enum MHD_Result r = cn_reply(c, other, "result", json_string("0x00"));

		json_decref(other);
		return r;
	}
	case CN_WRONG_TYPE:
		return cn_reply(c, id, "result", json_integer(42));
	case CN_BAD_HEX:
		return cn_reply(c, id, "result", json_string("0xzz12"));
	case CN_OVERSIZED:
	case CN_OVERSIZED_CHUNKED:
		return cn_oversized(n, c, iid, f->kind == CN_OVERSIZED_CHUNKED);
	case CN_STALL:
		cn_stall(n);
		return cn_reply(c, id, "result", json_null());
	case CN_DROP:
		return MHD_NO;
	case CN_RPC_ERROR:
		return cn_error(c, id, f->code, f->message, f->data);
	case CN_WRONG_HASH: {
		uint8_t zero[32] = { 0 };

		return cn_reply(c, id, "result", cn_hex_json(zero, 32));
	}
	}
	return MHD_NO;
}

struct cn_body {
	char *buf;
	size_t len;
	int too_big;
};

static inline enum MHD_Result cn_on_request(void *cls, struct MHD_Connection *c, const char *url,
					    const char *method, const char *version, const char *upload,
					    size_t *upload_size, void **con_cls)
{
	struct cn_node *n = cls;
	struct cn_body *b = *con_cls;
	struct cn_fault f;
	json_t *req, *id, *params;
	const char *m;
	enum MHD_Result r;

	if (!b) {
		if (!(b = calloc(1, sizeof *b)))
			return MHD_NO;
		*con_cls = b;
		return MHD_YES;
	}
	if (*upload_size) {
		if (b->len + *upload_size > CN_BODY_BYTES_MAX)
			b->too_big = 1;
		else {
			char *p = realloc(b->buf, b->len + *upload_size + 1);

			if (!p)
				return MHD_NO;
			b->buf = p;
			memcpy(b->buf + b->len, upload, *upload_size);
			b->len += *upload_size;
			b->buf[b->len] = '\0';
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, "POST"))
		return cn_send(c, 405, cn_text(""));
	req = b->too_big || !b->buf ? NULL : json_loadb(b->buf, b->len, 0, NULL);
	if (!req)
		return cn_error(c, NULL, -32700, "Parse error", NULL);
	id = json_object_get(req, "id");
	m = json_string_value(json_object_get(req, "method"));
	params = json_object_get(req, "params");
	if (!m || !json_is_array(params)) {
		r = cn_error(c, id, -32600, "Invalid request", NULL);
		json_decref(req);
		return r;
	}
	pthread_mutex_lock(&n->mu);
	if (n->nreqs < CN_REQS_MAX) {
		struct cn_req *q = &n->reqs[n->nreqs++];
		char *ps = json_dumps(params, JSON_COMPACT);

		snprintf(q->method, sizeof q->method, "%s", m);
		snprintf(q->params, sizeof q->params, "%s", ps ? ps : "");
		q->id = json_integer_value(id);
		free(ps);
	}
	pthread_mutex_unlock(&n->mu);
	if (cn_take_fault(n, m, &f) >= 0)
		r = cn_fault_answer(n, c, id, &f);
	else
		r = cn_method(n, c, id, m, params);
	json_decref(req);
	return r;
}

static inline void cn_on_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
	struct cn_body *b = *con_cls;

	if (b) {
		free(b->buf);
		free(b);
		*con_cls = NULL;
	}
}

/* Starts the node on 127.0.0.1:0 with the metadata fixture loaded; fails
 * the test when the fixture or a port is missing. */
static inline void cn_start(struct cn_node *n)
{
	struct sockaddr_in sa = { 0 };
	const union MHD_DaemonInfo *di;
	char path[FS_PATH_MAX];
	struct kerr e;

	memset(n, 0, sizeof *n);
	assert_true(sodium_init() >= 0);
	pthread_mutex_init(&n->mu, NULL);
	n->head = 100;
	n->spec_version = CN_SPEC_VERSION;
	n->tx_version = CN_TX_VERSION;
	n->nonce = 7;
	n->oversize_bytes = 2u << 20;
	n->stall_ms = 5000;
	n->retry_after_s = 1;
	{
		struct chain_storage_key k;

		assert_int_equal(chain_storage_key_system_events(&k, &e), 0);
		cn_hex(k.b, k.len, n->events_key);
	}
	cn_metadata_path(path, sizeof path);
	if (fs_read_all(path, 64u << 20, (char **)&n->metadata, &n->metadata_len, &e) < 0)
		fail_msg("the metadata fixture %s is missing (%s): set KARPA_SRC to the repository beside shared/",
			 path, e.msg);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	n->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
				cn_on_request, n, MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&sa,
				MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_NOTIFY_COMPLETED, cn_on_done, n,
				MHD_OPTION_END);
	assert_non_null(n->d);
	di = MHD_get_daemon_info(n->d, MHD_DAEMON_INFO_BIND_PORT);
	assert_non_null(di);
	n->port = di->port;
	snprintf(n->url, sizeof n->url, "http://127.0.0.1:%d/", n->port);
}

static inline void cn_stop(struct cn_node *n)
{
	atomic_store(&n->stopping, 1);
	if (n->d)
		MHD_stop_daemon(n->d);
	n->d = NULL;
	cn_forget(n);
	free(n->metadata);
	free(n->submitted);
	n->metadata = NULL;
	n->submitted = NULL;
	pthread_mutex_destroy(&n->mu);
}

#endif
