/* fuzz_chain_ss58.c: SS58 addresses and Bittensor wallet keyfile JSON, the
 * text an operator pastes or a wallet folder holds (src/chain/ss58.c,
 * src/chain/wallet.c). The input is an address when it has no '{', else a
 * keyfile. A decoded address must encode back to the very same text (one
 * spelling per account and prefix); a refusal must carry a reason code. */
#include "fuzz.h"
#include "chain/chainkey.h"
#include "chain/ss58.h"
#include "chain/wallet.h"

#define FUZZ_SS58_TEXT_MAX 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[FUZZ_SS58_TEXT_MAX + 1], again[SS58_ADDRESS_MAX];
	uint8_t account[SS58_ACCOUNT_BYTES];
	struct chain_key k;
	struct kerr err;
	uint16_t prefix = 0;

	memset(&err, 0, sizeof err);
	if (memchr(data, '{', size)) {
		if (wallet_key_from_json((const char *)data, size, &k, &err) < 0) {
			FUZZ_ASSERT(err.code[0] && memchr(err.msg, 0, sizeof err.msg));
			fuzz_note("wallet", &err);
		}
		chain_key_wipe(&k);
		return 0;
	}
	if (size > FUZZ_SS58_TEXT_MAX)
		size = FUZZ_SS58_TEXT_MAX;
	memcpy(text, data, size);
	text[size] = '\0';
	if (ss58_decode(text, account, &prefix, &err) < 0) {
		FUZZ_ASSERT(err.code[0] && memchr(err.msg, 0, sizeof err.msg));
		fuzz_note("ss58", &err);
		return 0;
	}
	FUZZ_ASSERT(prefix <= SS58_PREFIX_MAX);
	FUZZ_ASSERT(ss58_encode(account, prefix, again, sizeof again, &err) == 0);
	FUZZ_ASSERT(strcmp(again, text) == 0);
	return 0;
}
