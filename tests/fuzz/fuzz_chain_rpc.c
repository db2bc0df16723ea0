/* fuzz_chain_rpc.c: a subtensor node's answer as the chain client reads it
 * (src/chain/rpc.c, rpc_errors.c): every byte of a JSON-RPC answer comes
 * from the endpoint. The pure parser takes the body for request id 1; an
 * accepted result then goes through every typed decoder the wrappers use.
 * Each must end in a value or a chain.* reason code. */
#include "fuzz.h"
#include "chain/rpc.h"

#define FUZZ_HEX_BYTES_MAX 4096

static void code_ok(int rc, const struct kerr *err)
{
	/* a refusal always names itself as the chain's */
	if (rc < 0)
		FUZZ_ASSERT(!strncmp(err->code, "chain.", 6) && err->msg[0]);
	else
		FUZZ_ASSERT(rc == 0);
}

static void decoders(const json_t *res)
{
	struct chain_header h;
	struct chain_runtime_version v;
	uint8_t hash[CHAIN_HASH_BYTES], *b = NULL;
	size_t n = 0;
	uint64_t nonce;
	long index;
	struct kerr err;
	int rc;

	rc = chain_rpc_hex_decode(res, "fuzz", FUZZ_HEX_BYTES_MAX, &b, &n, &err);
	code_ok(rc, &err);
	FUZZ_ASSERT(rc < 0 ? b == NULL : (b != NULL && n <= FUZZ_HEX_BYTES_MAX));
	free(b);
	code_ok(chain_rpc_decode_hash(res, "fuzz", hash, &err), &err);
	code_ok(chain_rpc_decode_header(res, &h, &err), &err);
	rc = chain_rpc_decode_runtime_version(res, &v, &err);
	code_ok(rc, &err);
	FUZZ_ASSERT(strlen(v.spec_name) < sizeof v.spec_name);
	code_ok(chain_rpc_decode_nonce(res, &nonce, &err), &err);
	memset(hash, 0, sizeof hash);
	rc = chain_rpc_decode_block_find(res, hash, &index, &err);
	code_ok(rc, &err);
	FUZZ_ASSERT(index >= -1 && (rc == 0 || index == -1));
	/* a result that is itself an error object decodes to a code too */
	FUZZ_ASSERT(chain_rpc_error_decode(res, &err) == -1 && !strncmp(err.code, "chain.", 6));
	FUZZ_ASSERT(!strchr(err.msg, '\n'));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *res = NULL;
	struct kerr err;
	int rc;

	kerr_clear(&err);
	rc = chain_rpc_parse_answer((const char *)data, size, 1, &res, &err);
	code_ok(rc, &err);
	if (rc < 0) {
		FUZZ_ASSERT(res == NULL);
		FUZZ_ASSERT(!strchr(err.msg, '\n'));
		fuzz_note("answer", &err);
		return 0;
	}
	FUZZ_ASSERT(res != NULL);
	decoders(res);
	json_decref(res);
	return 0;
}
