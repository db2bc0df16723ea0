/* rpc_errors.c: a subtensor node's refusals as reason codes. Owns the
 * tables from Substrate's author RPC error codes, its InvalidTransaction
 * texts, subtensor's CustomTransactionError numbers and its pallet's error
 * names to the codes docs/chain-rpc.md explains. Never prints; never lets
 * a node's text choose a code except through these tables. */
#include "chain/rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/termtext.h"

/* How much of a node's own text a message quotes. */
#define NODE_TEXT_CHARS_MAX 200

/* Substrate's author RPC error codes (sc-rpc-api author/error.rs: base
 * 1000 plus an offset). */
enum {
	AUTHOR_BAD_FORMAT = 1001,
	AUTHOR_VERIFICATION = 1002,
	POOL_INVALID_TX = 1010,
	POOL_UNKNOWN_VALIDITY = 1011,
	POOL_TEMPORARILY_BANNED = 1012,
	POOL_ALREADY_IMPORTED = 1013,
	POOL_TOO_LOW_PRIORITY = 1014,
	POOL_CYCLE_DETECTED = 1015,
	POOL_IMMEDIATELY_DROPPED = 1016,
	POOL_UNACTIONABLE = 1018,
	POOL_NO_TAGS = 1019,
	POOL_INVALID_BLOCK_ID = 1020,
	POOL_FUTURE_TX = 1021,
	JSONRPC_PARSE = -32700,
	JSONRPC_INVALID_REQUEST = -32600,
	JSONRPC_METHOD_NOT_FOUND = -32601,
	JSONRPC_INVALID_PARAMS = -32602,
};

/* InvalidTransaction's texts (sp-runtime transaction_validity.rs, the
 * From<InvalidTransaction> for &str), which the node sends as the error's
 * data. Custom(n) is sent as "Custom error: n" instead. */
static const struct {
	const char *text;
	const char *code;
} invalid_texts[] = {
	{ "Transaction is outdated", "chain.nonce_stale" },
	{ "Transaction will be valid in the future", "chain.nonce_future" },
	{ "Transaction has a bad signature", "chain.bad_signature" },
	{ "Transaction has an ancient birth block", "chain.ancient_birth_block" },
	{ "Inability to pay some fees (e.g. account balance too low)", "chain.payment" },
	{ "Transaction would exhaust the block limits", "chain.exhausts_resources" },
	{ "Transaction call is not expected", "chain.call_invalid" },
	{ "Invalid signing address", "chain.bad_signature" },
};

/* Subtensor's CustomTransactionError (common/src/transaction_error.rs at
 * opentensor/subtensor 14bc6f9f, unchanged in meaning since the devnet
 * runtime of the metadata fixture). The numbers are explicit in subtensor
 * (BadRequest is 255), so a table by number is exact. Variants a weights
 * caller can meet have their own code; the staking, serving and swap ones
 * share chain.custom_error with their name in the message. */
static const struct {
	unsigned num;
	const char *variant;
	const char *code;
} custom_errors[] = {
	{ 0, "ColdkeyInSwapSchedule", "chain.coldkey_swap" },
	{ 1, "StakeAmountTooLow", "chain.stake_too_low" },
	{ 2, "BalanceTooLow", "chain.custom_error" },
	{ 3, "SubnetNotExists", "chain.no_subnet" },
	{ 4, "HotkeyAccountDoesntExist", "chain.not_registered" },
	{ 5, "NotEnoughStakeToWithdraw", "chain.custom_error" },
	/* SettingWeightsTooFast, CommittingWeightsTooFast and
	 * NetworkTxRateLimitExceeded all become this in the extension */
	{ 6, "RateLimitExceeded", "chain.setting_weights_too_fast" },
	{ 7, "InsufficientLiquidity", "chain.custom_error" },
	{ 8, "SlippageTooHigh", "chain.custom_error" },
	{ 9, "TransferDisallowed", "chain.custom_error" },
	{ 10, "HotKeyNotRegisteredInNetwork", "chain.not_registered" },
	{ 11, "InvalidIpAddress", "chain.custom_error" },
	{ 12, "ServingRateLimitExceeded", "chain.custom_error" },
	{ 13, "InvalidPort", "chain.custom_error" },
	{ 14, "ZeroMaxAmount", "chain.custom_error" },
	{ 15, "InvalidRevealRound", "chain.reveal_window" },
	{ 16, "CommitNotFound", "chain.commit_not_found" },
	{ 17, "CommitBlockNotInRevealRange", "chain.reveal_window" },
	{ 18, "InputLengthsUnequal", "chain.weights_invalid" },
	/* HotKeyNotRegisteredInSubNet */
	{ 19, "UidNotFound", "chain.not_registered" },
	{ 20, "EvmKeyAssociateRateLimitExceeded", "chain.custom_error" },
	{ 21, "ColdkeySwapDisputed", "chain.coldkey_swap" },
	{ 22, "InvalidRealAccount", "chain.custom_error" },
	{ 23, "FailedShieldedTxParsing", "chain.custom_error" },
	{ 24, "InvalidShieldedTxPubKeyHash", "chain.custom_error" },
	{ 25, "NonAssociatedColdKey", "chain.custom_error" },
	{ 26, "DelegateTakeTooLow", "chain.custom_error" },
	{ 27, "DelegateTakeTooHigh", "chain.custom_error" },
	{ 255, "BadRequest", "chain.bad_request" },
};

/* SubtensorModule's dispatch errors (pallets/subtensor/src/macros/
 * errors.rs) that setting weights can end in. Matched by name, never by
 * index: the metadata gives the index of each runtime. */
static const struct {
	const char *name;
	const char *code;
} weight_errors[] = {
	{ "SettingWeightsTooFast", "chain.setting_weights_too_fast" },
	{ "CommittingWeightsTooFast", "chain.setting_weights_too_fast" },
	{ "NetworkTxRateLimitExceeded", "chain.setting_weights_too_fast" },
	{ "NeuronNoValidatorPermit", "chain.no_validator_permit" },
	{ "CommitRevealEnabled", "chain.commit_reveal_enabled" },
	{ "CommitRevealDisabled", "chain.commit_reveal_disabled" },
	{ "NotEnoughStakeToSetWeights", "chain.stake_too_low" },
	{ "HotKeyNotRegisteredInSubNet", "chain.not_registered" },
	{ "HotKeyNotRegisteredInNetwork", "chain.not_registered" },
	{ "HotKeyAccountNotExists", "chain.not_registered" },
	{ "SubnetNotExists", "chain.no_subnet" },
	{ "MechanismDoesNotExist", "chain.no_subnet" },
	{ "IncorrectWeightVersionKey", "chain.weights_version_key" },
	{ "WeightVecNotEqualSize", "chain.weights_invalid" },
	{ "DuplicateUids", "chain.weights_invalid" },
	{ "UidVecContainInvalidOne", "chain.weights_invalid" },
	{ "WeightVecLengthIsLow", "chain.weights_invalid" },
	{ "MaxWeightExceeded", "chain.weights_invalid" },
	{ "UidsLengthExceedUidsInSubNet", "chain.weights_invalid" },
	{ "InputLengthsUnequal", "chain.weights_invalid" },
	{ "NoWeightsCommitFound", "chain.commit_not_found" },
	{ "InvalidRevealCommitHashNotMatch", "chain.commit_mismatch" },
	{ "RevealTooEarly", "chain.reveal_window" },
	{ "ExpiredWeightCommit", "chain.reveal_window" },
	{ "InvalidRevealRound", "chain.reveal_window" },
	{ "TooManyUnrevealedCommits", "chain.too_many_commits" },
	{ "IncorrectCommitRevealVersion", "chain.commit_reveal_version" },
};

/* The node's text, quoted on one line and bounded. */
static void quote(char *out, size_t cap, const char *s)
{
	size_t n = 0;

	for (; s && *s && n + 1 < cap && n < NODE_TEXT_CHARS_MAX; s++)
		out[n++] = *s;
	out[n] = '\0';
	termtext_clean(out, ' ');
}

const char *chain_rpc_custom_error(unsigned code, const char **variant)
{
	for (size_t i = 0; i < sizeof custom_errors / sizeof *custom_errors; i++)
		if (custom_errors[i].num == code) {
			if (variant)
				*variant = custom_errors[i].variant;
			return custom_errors[i].code;
		}
	if (variant)
		*variant = NULL;
	return "chain.custom_error";
}

/* "Custom error: N" with N a decimal u8, or -1. */
static int custom_number(const char *data)
{
	static const char pre[] = "Custom error: ";
	char *end;
	long n;

	if (!data || strncmp(data, pre, sizeof pre - 1))
		return -1;
	data += sizeof pre - 1;
	if (*data < '0' || *data > '9')
		return -1;
	n = strtol(data, &end, 10);
	return *end || n < 0 || n > 255 ? -1 : (int)n;
}

static int invalid_tx(const char *data, struct kerr *err)
{
	char q[NODE_TEXT_CHARS_MAX + 1];
	int n = custom_number(data);

	if (n >= 0) {
		const char *variant;
		const char *code = chain_rpc_custom_error((unsigned)n, &variant);

		if (variant)
			return kerr_set(err, code, "node refused the transaction: subtensor %s (Custom error: %d)",
					variant, n);
		return kerr_set(err, code, "node refused the transaction: Custom error: %d, not one subtensor defines",
				n);
	}
	quote(q, sizeof q, data);
	for (size_t i = 0; data && i < sizeof invalid_texts / sizeof *invalid_texts; i++)
		if (!strcmp(data, invalid_texts[i].text))
			return kerr_set(err, invalid_texts[i].code, "node refused the transaction: %s", q);
	return kerr_set(err, "chain.invalid_tx", "node refused the transaction: Invalid Transaction: %s",
			q[0] ? q : "(no reason given)");
}

int chain_rpc_error_decode(const json_t *error, struct kerr *err)
{
	const json_t *jc = json_object_get(error, "code");
	const char *msg = json_string_value(json_object_get(error, "message"));
	const json_t *jd = json_object_get(error, "data");
	const char *data = json_string_value(jd);
	char m[NODE_TEXT_CHARS_MAX + 1], d[NODE_TEXT_CHARS_MAX + 1];
	json_int_t code;

	if (!json_is_object(error) || !json_is_integer(jc) || !msg)
		return kerr_set(err, "chain.rpc_bad_json", "the node's error is not {code: integer, message: string}");
	code = json_integer_value(jc);
	quote(m, sizeof m, msg);
	quote(d, sizeof d, data);
	switch (code) {
	case POOL_INVALID_TX:
		return invalid_tx(data, err);
	case POOL_UNKNOWN_VALIDITY:
		return kerr_set(err, "chain.unknown_validity", "node cannot tell whether the transaction is valid: %s",
				d[0] ? d : m);
	case POOL_TEMPORARILY_BANNED:
		return kerr_set(err, "chain.tx_banned", "node: %s (it refused these exact bytes recently)", m);
	case POOL_ALREADY_IMPORTED:
		return kerr_set(err, "chain.tx_already_imported", "node: %s", m);
	case POOL_TOO_LOW_PRIORITY:
		return kerr_set(err, "chain.priority_too_low",
				"node: %s (a transaction with the same nonce is already in its pool)", m);
	case POOL_CYCLE_DETECTED:
	case POOL_IMMEDIATELY_DROPPED:
	case POOL_UNACTIONABLE:
	case POOL_NO_TAGS:
	case POOL_INVALID_BLOCK_ID:
	case POOL_FUTURE_TX:
		return kerr_set(err, "chain.pool_rejected", "node's pool refused the transaction (%lld): %s%s%s",
				(long long)code, m, d[0] ? ": " : "", d);
	case AUTHOR_BAD_FORMAT:
	case AUTHOR_VERIFICATION:
		return kerr_set(err, "chain.bad_extrinsic", "node cannot decode the extrinsic (%lld): %s%s%s",
				(long long)code, m, d[0] ? ": " : "", d);
	case JSONRPC_METHOD_NOT_FOUND:
		return kerr_set(err, "chain.rpc_method", "node does not serve the method: %s", m);
	case JSONRPC_INVALID_PARAMS:
	case JSONRPC_PARSE:
	case JSONRPC_INVALID_REQUEST:
		return kerr_set(err, "chain.rpc_refused", "node refused the request (%lld): %s%s%s", (long long)code,
				m, d[0] ? ": " : "", d);
	default:
		return kerr_set(err, "chain.rpc_error", "node error %lld: %s%s%s", (long long)code, m,
				d[0] ? ": " : "", d);
	}
}

int chain_rpc_dispatch_error(uint8_t pallet_index, uint8_t error_index, chain_error_lookup_fn lookup, void *ctx,
			     struct kerr *err)
{
	char pallet[64] = "", name[96] = "", qp[sizeof pallet], qn[sizeof name];

	if (!lookup || lookup(ctx, pallet_index, error_index, pallet, sizeof pallet, name, sizeof name) < 0 ||
	    !pallet[0] || !name[0])
		return kerr_set(err, "chain.dispatch_error",
				"extrinsic failed: module error (pallet %u, error %u), not in the runtime metadata",
				pallet_index, error_index);
	pallet[sizeof pallet - 1] = name[sizeof name - 1] = '\0';
	quote(qp, sizeof qp, pallet); /* names come from the node's metadata */
	quote(qn, sizeof qn, name);
	if (!strcmp(pallet, "SubtensorModule"))
		for (size_t i = 0; i < sizeof weight_errors / sizeof *weight_errors; i++)
			if (!strcmp(name, weight_errors[i].name))
				return kerr_set(err, weight_errors[i].code, "extrinsic failed: %s::%s", qp, qn);
	return kerr_set(err, "chain.dispatch_error", "extrinsic failed: %s::%s (pallet %u, error %u)", qp, qn,
			pallet_index, error_index);
}
