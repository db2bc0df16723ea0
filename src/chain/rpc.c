/* rpc.c: JSON-RPC 2.0 over HTTP POST to a subtensor node (libcurl easy
 * API, one handle per client so the connection is kept between calls).
 * Owns the attempt loop (timeouts, the streamed size cap, retries with
 * jittered exponential backoff for transport failures and HTTP 5xx/429),
 * the answer's envelope and id check, and the typed wrappers. Never
 * retries a submission past the point where the node may have read it. */
#include "chain/rpc.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/growbuf.h"
#include "util/hash.h"
#include "util/jsonmem.h"
#include "util/retry_after.h"
#include "util/termtext.h"

#define RPC_URL_BYTES_MAX 2048
/* The JSON envelope around a hex answer: {"jsonrpc":"2.0","result":"0x","id":N}. */
#define RPC_ENVELOPE_BYTES 256

struct chain_rpc {
	CURL *c;
	char url[RPC_URL_BYTES_MAX];
	struct chain_rpc_opts o;
	uint64_t next_id;
	struct chain_rpc_stats last;
};

void chain_rpc_opts_default(struct chain_rpc_opts *o)
{
	memset(o, 0, sizeof *o);
	o->tries = 4;
	o->timeout_ms = 30000;
	o->connect_timeout_ms = 5000;
	o->body_bytes_max = CHAIN_RPC_BODY_BYTES_DEFAULT;
	o->metadata_bytes_max = CHAIN_RPC_METADATA_BYTES_DEFAULT;
	o->backoff_base_ms = 250;
	o->backoff_max_ms = 8000;
	o->retry_after_max_ms = 30000;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_ok;

static void curl_init_once(void)
{
	curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

int chain_rpc_open(struct chain_rpc **out, const char *url, const struct chain_rpc_opts *o, struct kerr *err)
{
	struct chain_rpc *r;

	*out = NULL;
	if (!url || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) ||
	    strlen(url) >= RPC_URL_BYTES_MAX)
		return kerr_set(err, "chain.rpc_url", "endpoint must be an http:// or https:// URL under %d bytes",
				RPC_URL_BYTES_MAX);
	if (hash_init_lib() < 0)
		return kerr_set(err, "chain.rpc_nomem", "libsodium cannot start");
	pthread_once(&curl_once, curl_init_once);
	if (!curl_ok)
		return kerr_set(err, "chain.rpc_connect", "libcurl cannot start");
	if (!(r = calloc(1, sizeof *r)))
		return kerr_set(err, "chain.rpc_nomem", "out of memory");
	if (!(r->c = curl_easy_init())) {
		free(r);
		return kerr_set(err, "chain.rpc_connect", "libcurl cannot start");
	}
	snprintf(r->url, sizeof r->url, "%s", url);
	if (o)
		r->o = *o;
	else
		chain_rpc_opts_default(&r->o);
	if (r->o.tries < 1)
		r->o.tries = 1;
	if (r->o.tries > CHAIN_RPC_TRIES_MAX)
		r->o.tries = CHAIN_RPC_TRIES_MAX;
	if (r->o.metadata_bytes_max == 0 || r->o.metadata_bytes_max > CHAIN_RPC_METADATA_BYTES_MAX)
		r->o.metadata_bytes_max = CHAIN_RPC_METADATA_BYTES_MAX;
	if (r->o.body_bytes_max == 0)
		r->o.body_bytes_max = CHAIN_RPC_BODY_BYTES_DEFAULT;
	r->next_id = 1;
	*out = r;
	return 0;
}

void chain_rpc_close(struct chain_rpc *r)
{
	if (!r)
		return;
	curl_easy_cleanup(r->c);
	free(r);
}

void chain_rpc_last_stats(const struct chain_rpc *r, struct chain_rpc_stats *s)
{
	*s = r->last;
}

/* ------------------------------------------------------------ transport */

/* One attempt's answer, capped while it streams in. */
struct answer {
	struct growbuf body;
	int too_big, nomem;
	long retry_after_s;
};

static size_t on_body(char *p, size_t sz, size_t nm, void *cls)
{
	struct answer *a = cls;
	struct kerr e;

	if (growbuf_append(&a->body, p, sz * nm, &e) < 0) {
		a->too_big = !strcmp(e.code, "growbuf.too_large");
		a->nomem = !a->too_big;
		return 0; /* curl stops the transfer: nothing past the cap is kept */
	}
	return sz * nm;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *cls)
{
	struct answer *a = cls;

	/* a value it cannot use leaves 0: the backoff applies */
	retry_after_line(p, sz * nm, time(NULL), &a->retry_after_s);
	return sz * nm;
}

/* Equal jitter: the k-th wait (k from 0) is uniform in [d/2, d] with
 * d = min(max, base * 2^k), so clients that failed together do not come
 * back together, and no wait is shorter than half the nominal one. */
static long backoff_ms(const struct chain_rpc_opts *o, int k, long retry_after_s)
{
	long d = o->backoff_base_ms > 0 ? o->backoff_base_ms : 1;
	long ra_ms;

	for (int i = 0; i < k && d < o->backoff_max_ms; i++)
		d *= 2;
	if (d > o->backoff_max_ms && o->backoff_max_ms > 0)
		d = o->backoff_max_ms;
	d = d / 2 + (long)randombytes_uniform((uint32_t)(d - d / 2 + 1));
	/* the server knows better when it will have room, up to a bound */
	ra_ms = retry_after_s > o->retry_after_max_ms / 1000 ? o->retry_after_max_ms : retry_after_s * 1000;
	return ra_ms > d ? ra_ms : d;
}

static void wait_ms(struct chain_rpc *r, long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };

	r->last.waited_ms += ms;
	if (r->o.sleep_ms) {
		r->o.sleep_ms(r->o.sleep_ctx, ms);
		return;
	}
	while (nanosleep(&t, &t) < 0 && errno == EINTR)
		;
}

/* What one attempt came to. */
enum outcome {
	OUT_ANSWER,      /* a 2xx (or an error status with a JSON-RPC body): parse it */
	OUT_FINAL,       /* err set, no retry helps */
	OUT_RETRY,       /* err set, the node has not seen the request: any call may retry */
	OUT_RETRY_READ,  /* err set, the node may have seen it: only a read may retry */
};

static enum outcome classify(struct chain_rpc *r, CURLcode rc, struct answer *a, const char *errbuf,
			     struct kerr *err)
{
	long st = 0;

	curl_easy_getinfo(r->c, CURLINFO_RESPONSE_CODE, &st);
	r->last.http_status = st;
	if (a->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
		kerr_set(err, "chain.rpc_too_large", "%s: answer over %zu bytes, refused", r->url, a->body.max);
		return OUT_FINAL;
	}
	if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL) {
		kerr_set(err, "chain.rpc_url", "%s: %s", r->url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
		return OUT_FINAL;
	}
	if (rc == CURLE_OUT_OF_MEMORY || a->nomem) {
		kerr_set(err, "chain.rpc_nomem", "%s: out of memory", r->url);
		return OUT_FINAL;
	}
	if (rc != CURLE_OK) {
		int timeout = rc == CURLE_OPERATION_TIMEDOUT;

		kerr_set(err, timeout ? "chain.rpc_timeout" : "chain.rpc_connect", "%s: %s", r->url,
			 errbuf[0] ? errbuf : curl_easy_strerror(rc));
		/* No connection was made, so nothing was sent: even a submission
		 * may go again. Any later failure (a timeout included, which may
		 * strike after the node has read the request) may not. */
		if (rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_PROXY)
			return OUT_RETRY;
		return OUT_RETRY_READ;
	}
	if (st == 429) {
		/* a rate limiter turned the request away before the node took it */
		kerr_set(err, "chain.rpc_http", "%s: HTTP 429 (rate limited)", r->url);
		return OUT_RETRY;
	}
	if (st >= 500) {
		kerr_set(err, "chain.rpc_http", "%s: HTTP %ld", r->url, st);
		return OUT_RETRY_READ;
	}
	if (st >= 200 && st < 300)
		return OUT_ANSWER;
	kerr_set(err, "chain.rpc_http", "%s: HTTP %ld", r->url, st);
	return OUT_FINAL;
}

static int attempt(struct chain_rpc *r, const char *req, size_t req_len, int fresh, struct answer *a, CURLcode *rc,
		   char *errbuf)
{
	struct curl_slist *hdrs = NULL;

	/* "Expect:" off: a node need not answer 100-continue, and waiting
	 * for it would cost a second per large submission. */
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	hdrs = hdrs ? curl_slist_append(hdrs, "Expect:") : NULL;
	if (!hdrs)
		return -1;
	curl_easy_reset(r->c); /* keeps the connection cache; forgets the last call's options */
	curl_easy_setopt(r->c, CURLOPT_URL, r->url);
	curl_easy_setopt(r->c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(r->c, CURLOPT_FOLLOWLOCATION, 0L);
	/* libcurl silently sends a request again when a reused connection
	 * dies before the answer: a second submission nobody asked for. On a
	 * fresh connection it never does. */
	curl_easy_setopt(r->c, CURLOPT_FRESH_CONNECT, fresh ? 1L : 0L);
	curl_easy_setopt(r->c, CURLOPT_CONNECTTIMEOUT_MS, r->o.connect_timeout_ms);
	curl_easy_setopt(r->c, CURLOPT_TIMEOUT_MS, r->o.timeout_ms);
	curl_easy_setopt(r->c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(r->c, CURLOPT_POST, 1L);
	curl_easy_setopt(r->c, CURLOPT_POSTFIELDS, req);
	curl_easy_setopt(r->c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req_len);
	/* refused before the body when the node declares a larger one */
	curl_easy_setopt(r->c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)a->body.max);
	curl_easy_setopt(r->c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(r->c, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(r->c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(r->c, CURLOPT_HEADERDATA, a);
	curl_easy_setopt(r->c, CURLOPT_ERRORBUFFER, errbuf);
	errbuf[0] = '\0';
	*rc = curl_easy_perform(r->c);
	curl_slist_free_all(hdrs);
	return 0;
}

int chain_rpc_call(struct chain_rpc *r, const char *method, json_t *params, enum chain_rpc_retry retry,
		   size_t body_max, json_t **result, struct kerr *err)
{
	struct answer a = { 0 };
	json_t *req = NULL;
	char *text = NULL;
	char errbuf[CURL_ERROR_SIZE];
	enum outcome out = OUT_FINAL;
	int rc = -1;

	*result = NULL;
	memset(&r->last, 0, sizeof r->last);
	if (!params)
		params = json_array();
	growbuf_init(&a.body, body_max ? body_max : r->o.body_bytes_max);
	for (int k = 0; k < r->o.tries; k++) {
		uint64_t id = r->next_id++;
		CURLcode cc;

		if (k)
			wait_ms(r, backoff_ms(&r->o, k - 1, a.retry_after_s));
		json_decref(req);
		free(text);
		text = NULL;
		req = json_pack("{s:s,s:I,s:s,s:O}", "jsonrpc", "2.0", "id", (json_int_t)id, "method", method,
				"params", params);
		if (!req || !(text = json_dumps(req, JSON_COMPACT))) {
			kerr_set(err, "chain.rpc_nomem", "%s: cannot build the request", method);
			goto out;
		}
		growbuf_reset(&a.body);
		a.too_big = a.nomem = 0;
		a.retry_after_s = 0;
		r->last.attempts++;
		if (attempt(r, text, strlen(text), retry == CHAIN_RPC_AT_MOST_ONCE, &a, &cc, errbuf) < 0) {
			kerr_set(err, "chain.rpc_nomem", "%s: out of memory", method);
			goto out;
		}
		out = classify(r, cc, &a, errbuf, err);
		if (out == OUT_ANSWER) {
			rc = chain_rpc_parse_answer(a.body.buf ? a.body.buf : "", a.body.len, id, result, err);
			goto out;
		}
		if (out == OUT_FINAL || (out == OUT_RETRY_READ && retry == CHAIN_RPC_AT_MOST_ONCE))
			break;
	}
	kerr_prefix(err, "%s", method);
	if (retry == CHAIN_RPC_AT_MOST_ONCE && out == OUT_RETRY_READ) {
		char why[KERR_MSG_MAX];

		snprintf(why, sizeof why, "%s", err->msg);
		kerr_set(err, "chain.submit_unknown",
			 "%s: the node may or may not have taken the extrinsic; not resent (check the account's "
			 "nonce or the transaction hash before signing again)",
			 why);
	}
out:
	json_decref(params);
	json_decref(req);
	free(text);
	growbuf_free(&a.body);
	return rc;
}

/* ------------------------------------------------------------ answers */

/* Messages are one line: jansson's error text quotes the input it choked on. */
static void one_line(char *s)
{
	termtext_clean(s, ' ');
}

int chain_rpc_parse_answer(const char *body, size_t len, uint64_t id, json_t **result, struct kerr *err)
{
	json_error_t je;
	json_t *j, *jid, *res, *e;
	int rc = -1;

	*result = NULL;
	if (jsonmem_values_over(body, len, CHAIN_RPC_JSON_VALUES_MAX))
		return kerr_set(err, "chain.rpc_too_large", "answer holds more than %d JSON values, refused unparsed",
				CHAIN_RPC_JSON_VALUES_MAX);
	/* jansson bounds nesting (2048 levels) and refuses trailing bytes */
	j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		kerr_set(err, "chain.rpc_bad_json", "answer is not JSON: %s", je.text);
		one_line(err->msg);
		return -1;
	}
	jid = json_object_get(j, "id");
	res = json_object_get(j, "result");
	e = json_object_get(j, "error");
	if (!json_is_object(j) || !json_is_string(json_object_get(j, "jsonrpc")) ||
	    strcmp(json_string_value(json_object_get(j, "jsonrpc")), "2.0")) {
		kerr_set(err, "chain.rpc_bad_json", "answer is not a JSON-RPC 2.0 object");
		goto out;
	}
	if (!res == !e) {
		kerr_set(err, "chain.rpc_bad_json", "answer has %s", res ? "both result and error" : "neither result nor error");
		goto out;
	}
	/* A node that could not read the request answers with id null. */
	if (e && json_is_null(jid)) {
		chain_rpc_error_decode(e, err);
		goto out;
	}
	if (!json_is_integer(jid) || json_integer_value(jid) < 0 || (uint64_t)json_integer_value(jid) != id) {
		kerr_set(err, "chain.rpc_bad_id", "answer is for request id %s, not %llu",
			 json_is_integer(jid) ? "another" : "a non-integer", (unsigned long long)id);
		goto out;
	}
	if (e) {
		chain_rpc_error_decode(e, err);
		goto out;
	}
	*result = json_incref(res);
	rc = 0;
out:
	json_decref(j);
	return rc;
}

static int nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int chain_rpc_hex_decode(const json_t *v, const char *what, size_t bytes_max, uint8_t **out, size_t *len,
			 struct kerr *err)
{
	const char *s = json_string_value(v);
	size_t n = json_string_length(v), bytes;
	uint8_t *b;

	*out = NULL;
	*len = 0;
	if (!s)
		return kerr_set(err, "chain.rpc_bad_type", "%s: want a 0x-hex string", what);
	if (n < 2 || s[0] != '0' || s[1] != 'x' || n % 2)
		return kerr_set(err, "chain.rpc_bad_hex", "%s: not 0x followed by an even number of hex digits", what);
	bytes = (n - 2) / 2;
	if (bytes > bytes_max)
		return kerr_set(err, "chain.rpc_too_large", "%s: %zu bytes, over the %zu allowed", what, bytes,
				bytes_max);
	if (!(b = malloc(bytes ? bytes : 1)))
		return kerr_set(err, "chain.rpc_nomem", "%s: out of memory for %zu bytes", what, bytes);
	for (size_t i = 0; i < bytes; i++) {
		int hi = nibble(s[2 + 2 * i]), lo = nibble(s[3 + 2 * i]);

		if (hi < 0 || lo < 0) {
			free(b);
			return kerr_set(err, "chain.rpc_bad_hex", "%s: a non-hex digit at offset %zu", what, 2 + 2 * i);
		}
		b[i] = (uint8_t)(hi << 4 | lo);
	}
	*out = b;
	*len = bytes;
	return 0;
}

int chain_rpc_decode_hash(const json_t *v, const char *what, uint8_t hash[CHAIN_HASH_BYTES], struct kerr *err)
{
	uint8_t *b;
	size_t n;

	if (chain_rpc_hex_decode(v, what, CHAIN_HASH_BYTES, &b, &n, err) < 0)
		return -1;
	if (n != CHAIN_HASH_BYTES) {
		free(b);
		return kerr_set(err, "chain.rpc_bad_hex", "%s: %zu bytes, not a %d-byte hash", what, n, CHAIN_HASH_BYTES);
	}
	memcpy(hash, b, CHAIN_HASH_BYTES);
	free(b);
	return 0;
}

/* A block number as Substrate writes it: "0x" and 1 to 16 hex digits. */
static int hex_u64(const json_t *v, const char *what, uint64_t *out, struct kerr *err)
{
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	uint64_t x = 0;

	if (!s)
		return kerr_set(err, "chain.rpc_bad_type", "%s: want a 0x-hex number", what);
	if (n < 3 || n > 18 || s[0] != '0' || s[1] != 'x')
		return kerr_set(err, "chain.rpc_bad_hex", "%s: not 0x and 1 to 16 hex digits", what);
	for (size_t i = 2; i < n; i++) {
		int d = nibble(s[i]);

		if (d < 0)
			return kerr_set(err, "chain.rpc_bad_hex", "%s: a non-hex digit", what);
		x = x << 4 | (uint64_t)d;
	}
	*out = x;
	return 0;
}

int chain_rpc_decode_header(const json_t *v, struct chain_header *h, struct kerr *err)
{
	if (!json_is_object(v))
		return kerr_set(err, "chain.rpc_bad_type", "chain_getHeader: want a header object");
	if (hex_u64(json_object_get(v, "number"), "header number", &h->number, err) < 0)
		return -1;
	return chain_rpc_decode_hash(json_object_get(v, "parentHash"), "header parentHash", h->parent, err);
}

static int u32_field(const json_t *o, const char *key, uint32_t *out, struct kerr *err)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > (json_int_t)UINT32_MAX)
		return kerr_set(err, "chain.rpc_bad_type", "runtime version: %s is not a u32", key);
	*out = (uint32_t)json_integer_value(v);
	return 0;
}

int chain_rpc_decode_runtime_version(const json_t *v, struct chain_runtime_version *rv, struct kerr *err)
{
	const char *name;

	memset(rv, 0, sizeof *rv);
	if (!json_is_object(v))
		return kerr_set(err, "chain.rpc_bad_type", "state_getRuntimeVersion: want an object");
	if (u32_field(v, "specVersion", &rv->spec_version, err) < 0 ||
	    u32_field(v, "transactionVersion", &rv->transaction_version, err) < 0)
		return -1;
	name = json_string_value(json_object_get(v, "specName"));
	for (size_t i = 0; name && name[i] && i + 1 < sizeof rv->spec_name; i++)
		rv->spec_name[i] = (unsigned char)name[i] < 0x20 ? '?' : name[i];
	return 0;
}

int chain_rpc_decode_nonce(const json_t *v, uint64_t *nonce, struct kerr *err)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return kerr_set(err, "chain.rpc_bad_type", "system_accountNextIndex: want a non-negative integer");
	*nonce = (uint64_t)json_integer_value(v);
	return 0;
}

int chain_rpc_decode_block_find(const json_t *v, const uint8_t tx_hash[CHAIN_HASH_BYTES], long *index,
				struct kerr *err)
{
	const json_t *xts = json_object_get(json_object_get(v, "block"), "extrinsics");
	size_t n = json_array_size(xts);

	*index = -1;
	if (!json_is_array(xts))
		return kerr_set(err, "chain.rpc_bad_type", "chain_getBlock: want {block: {extrinsics: [..]}}");
	if (n > CHAIN_RPC_BLOCK_EXTRINSICS_MAX)
		return kerr_set(err, "chain.rpc_too_large", "chain_getBlock: %zu extrinsics, over %d", n,
				CHAIN_RPC_BLOCK_EXTRINSICS_MAX);
	for (size_t i = 0; i < n; i++) {
		uint8_t *b, h[CHAIN_HASH_BYTES];
		size_t len;

		if (chain_rpc_hex_decode(json_array_get(xts, i), "chain_getBlock extrinsic",
					 CHAIN_RPC_BLOCK_BODY_BYTES_MAX / 2, &b, &len, err) < 0)
			return -1;
		crypto_generichash(h, sizeof h, b, len, NULL, 0);
		free(b);
		if (!sodium_memcmp(h, tx_hash, sizeof h)) {
			*index = (long)i;
			return 0;
		}
	}
	return 0;
}

/* ------------------------------------------------------------ wrappers */

static json_t *hex_json(const uint8_t *b, size_t n)
{
	char *s = malloc(2 * n + 3);
	json_t *j;

	if (!s)
		return NULL;
	s[0] = '0';
	s[1] = 'x';
	sodium_bin2hex(s + 2, 2 * n + 1, b, n);
	j = json_string(s);
	free(s);
	return j;
}

/* [first?, at?]: the optional leading value (stolen) and the optional
 * block hash, as the state_* and chain_* calls take them. */
static int params_at(int has_first, json_t *first, const uint8_t *at, json_t **out, struct kerr *err)
{
	json_t *p = json_array();

	*out = NULL;
	if (!p)
		json_decref(first);
	if (!p || (has_first && json_array_append_new(p, first) < 0) ||
	    (at && json_array_append_new(p, hex_json(at, CHAIN_HASH_BYTES)) < 0)) {
		json_decref(p);
		return kerr_set(err, "chain.rpc_nomem", "out of memory for the request");
	}
	*out = p;
	return 0;
}

static int hash_call(struct chain_rpc *r, json_t *params, uint8_t hash[CHAIN_HASH_BYTES], struct kerr *err)
{
	json_t *res;
	int rc;

	if (chain_rpc_call(r, "chain_getBlockHash", params, CHAIN_RPC_IDEMPOTENT, 0, &res, err) < 0)
		return -1;
	if (json_is_null(res))
		rc = kerr_set(err, "chain.block_unknown", "chain_getBlockHash: the node has no such block");
	else
		rc = chain_rpc_decode_hash(res, "chain_getBlockHash", hash, err);
	json_decref(res);
	return rc;
}

int chain_rpc_block_hash(struct chain_rpc *r, uint64_t number, uint8_t hash[CHAIN_HASH_BYTES], struct kerr *err)
{
	if (number > (uint64_t)UINT32_MAX) /* subtensor's BlockNumber is a u32 */
		return kerr_set(err, "chain.block_unknown", "block %llu: past a u32 block number",
				(unsigned long long)number);
	json_t *params;

	if (params_at(1, json_integer((json_int_t)number), NULL, &params, err) < 0)
		return -1;
	return hash_call(r, params, hash, err);
}

int chain_rpc_best_hash(struct chain_rpc *r, uint8_t hash[CHAIN_HASH_BYTES], struct kerr *err)
{
	json_t *params;

	if (params_at(0, NULL, NULL, &params, err) < 0)
		return -1;
	return hash_call(r, params, hash, err);
}

int chain_rpc_header(struct chain_rpc *r, const uint8_t *hash, struct chain_header *h, struct kerr *err)
{
	json_t *res, *params;
	int rc;

	if (params_at(0, NULL, hash, &params, err) < 0 ||
	    chain_rpc_call(r, "chain_getHeader", params, CHAIN_RPC_IDEMPOTENT, 0, &res, err) < 0)
		return -1;
	if (json_is_null(res))
		rc = kerr_set(err, "chain.block_unknown", "chain_getHeader: the node has no such block");
	else
		rc = chain_rpc_decode_header(res, h, err);
	json_decref(res);
	return rc;
}

int chain_rpc_find_extrinsic(struct chain_rpc *r, const uint8_t block[CHAIN_HASH_BYTES],
			     const uint8_t tx_hash[CHAIN_HASH_BYTES], long *index, struct kerr *err)
{
	json_t *res, *params;
	int rc;

	*index = -1;
	if (params_at(0, NULL, block, &params, err) < 0 ||
	    chain_rpc_call(r, "chain_getBlock", params, CHAIN_RPC_IDEMPOTENT, CHAIN_RPC_BLOCK_BODY_BYTES_MAX, &res,
			   err) < 0)
		return -1;
	if (json_is_null(res))
		rc = kerr_set(err, "chain.block_unknown", "chain_getBlock: the node has no such block");
	else
		rc = chain_rpc_decode_block_find(res, tx_hash, index, err);
	json_decref(res);
	return rc;
}

int chain_rpc_runtime_version(struct chain_rpc *r, const uint8_t *at, struct chain_runtime_version *v,
			      struct kerr *err)
{
	json_t *res, *params;
	int rc;

	if (params_at(0, NULL, at, &params, err) < 0 ||
	    chain_rpc_call(r, "state_getRuntimeVersion", params, CHAIN_RPC_IDEMPOTENT, 0, &res, err) < 0)
		return -1;
	rc = chain_rpc_decode_runtime_version(res, v, err);
	json_decref(res);
	return rc;
}

int chain_rpc_metadata(struct chain_rpc *r, const uint8_t *at, uint8_t **bytes, size_t *len, struct kerr *err)
{
	size_t max = r->o.metadata_bytes_max;
	json_t *res, *params;
	int rc;

	*bytes = NULL;
	*len = 0;
	if (params_at(0, NULL, at, &params, err) < 0 ||
	    chain_rpc_call(r, "state_getMetadata", params, CHAIN_RPC_IDEMPOTENT, 2 * max + RPC_ENVELOPE_BYTES, &res,
			   err) < 0)
		return -1;
	rc = chain_rpc_hex_decode(res, "state_getMetadata", max, bytes, len, err);
	json_decref(res);
	return rc;
}

int chain_rpc_storage(struct chain_rpc *r, const uint8_t *key, size_t key_len, const uint8_t *at, uint8_t **val,
		      size_t *len, int *present, struct kerr *err)
{
	json_t *res, *params;
	int rc = 0;

	*val = NULL;
	*len = 0;
	*present = 0;
	if (!key || key_len == 0 || key_len > CHAIN_RPC_STORAGE_BYTES_MAX)
		return kerr_set(err, "chain.rpc_params", "state_getStorage: a key of %zu bytes", key_len);
	if (params_at(1, hex_json(key, key_len), at, &params, err) < 0 ||
	    chain_rpc_call(r, "state_getStorage", params, CHAIN_RPC_IDEMPOTENT, 0, &res, err) < 0)
		return -1;
	if (!json_is_null(res)) {
		rc = chain_rpc_hex_decode(res, "state_getStorage", CHAIN_RPC_STORAGE_BYTES_MAX, val, len, err);
		*present = rc == 0;
	}
	json_decref(res);
	return rc;
}

int chain_rpc_account_next_index(struct chain_rpc *r, const char *ss58, uint64_t *nonce, struct kerr *err)
{
	json_t *res;
	int rc;

	/* base58's alphabet only: the address is checked in full by whoever made it */
	if (!ss58 || !ss58[0] || strlen(ss58) > CHAIN_RPC_SS58_CHARS_MAX ||
	    strspn(ss58, "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz") != strlen(ss58))
		return kerr_set(err, "chain.rpc_params", "system_accountNextIndex: not an SS58 address");
	json_t *params;

	if (params_at(1, json_string(ss58), NULL, &params, err) < 0 ||
	    chain_rpc_call(r, "system_accountNextIndex", params, CHAIN_RPC_IDEMPOTENT, 0, &res, err) < 0)
		return -1;
	rc = chain_rpc_decode_nonce(res, nonce, err);
	json_decref(res);
	return rc;
}

/* A submission that failed once the node had answered with something
 * that is no JSON-RPC error (a body that does not parse, another id, an
 * answer too large, a hash that is not the transaction's): the node read
 * the request and may hold the extrinsic, so its fate is unknown, as
 * after a timeout: a caller that took it for refused would forget a
 * commit the chain may hold, never to reveal it. The message names the
 * transaction's hash in every such case. -1 always. */
static int submit_failed(const uint8_t want[CHAIN_HASH_BYTES], struct kerr *err)
{
	static const char *const answered[] = { "chain.rpc_bad_json", "chain.rpc_bad_id", "chain.rpc_too_large",
						"chain.rpc_bad_hex",  "chain.rpc_bad_type", "chain.rpc_bad_answer" };
	char h[2 * CHAIN_HASH_BYTES + 1];

	for (size_t i = 0; i < sizeof answered / sizeof *answered; i++) {
		if (!strcmp(err->code, answered[i])) {
			char why[KERR_MSG_MAX];

			snprintf(why, sizeof why, "%s", err->msg);
			kerr_set(err, "chain.submit_unknown",
				 "%s: the node answered unreadably and may or may not hold the extrinsic; not resent "
				 "(check the account's nonce or the transaction hash before signing again)",
				 why);
			break;
		}
	}
	if (!strcmp(err->code, "chain.submit_unknown")) {
		sodium_bin2hex(h, sizeof h, want, CHAIN_HASH_BYTES);
		kerr_prefix(err, "transaction 0x%s", h);
	}
	return -1;
}

int chain_rpc_submit(struct chain_rpc *r, const uint8_t *xt, size_t len, uint8_t tx_hash[CHAIN_HASH_BYTES],
		     struct kerr *err)
{
	uint8_t want[CHAIN_HASH_BYTES];
	json_t *res, *params;
	int rc;

	if (len == 0 || len > CHAIN_RPC_EXTRINSIC_BYTES_MAX)
		return kerr_set(err, "chain.rpc_params", "author_submitExtrinsic: %zu bytes (1 to %u)", len,
				CHAIN_RPC_EXTRINSIC_BYTES_MAX);
	if (params_at(1, hex_json(xt, len), NULL, &params, err) < 0)
		return -1;
	/* the pool names a transaction by BlakeTwo256 of its encoded bytes */
	crypto_generichash(want, sizeof want, xt, len, NULL, 0);
	if (chain_rpc_call(r, "author_submitExtrinsic", params, CHAIN_RPC_AT_MOST_ONCE, 0, &res, err) < 0)
		return submit_failed(want, err);
	rc = chain_rpc_decode_hash(res, "author_submitExtrinsic", tx_hash, err);
	if (rc == 0 && sodium_memcmp(tx_hash, want, sizeof want))
		rc = kerr_set(err, "chain.rpc_bad_answer",
			      "author_submitExtrinsic: the node names the transaction by another hash than "
			      "blake2b-256 of its bytes");
	json_decref(res);
	return rc < 0 ? submit_failed(want, err) : 0;
}
