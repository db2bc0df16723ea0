/* chainstate.c: the chain-state file and the operator's weight and salt
 * text (see chainstate.h). Every field is checked for presence, type and
 * range; a hash is exactly 32 bytes of hex with an optional 0x. */
#include "chain/chainstate.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/fsutil.h"

static int bad(struct kerr *e, const char *path, const char *field, const char *what)
{
	return kerr_set(e, "chain.state", "%s: \"%s\" %s", path, field, what);
}

static int get_u64(json_t *root, const char *path, const char *field, uint64_t max, int required, uint64_t *out,
		   struct kerr *e)
{
	json_t *v = json_object_get(root, field);

	if (!v && !required)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
		return bad(e, path, field, "is missing or not an integer in range");
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int hex_nibble(int c)
{
	c = tolower(c);
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int get_hash(json_t *root, const char *path, const char *field, uint8_t out[CHAIN_HASH_BYTES],
		    struct kerr *e)
{
	const char *s = json_string_value(json_object_get(root, field));

	if (s && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	if (!s || strlen(s) != 2 * CHAIN_HASH_BYTES)
		return bad(e, path, field, "is not a 32-byte hash in hex");
	for (size_t i = 0; i < CHAIN_HASH_BYTES; i++) {
		int hi = hex_nibble((unsigned char)s[2 * i]), lo = hex_nibble((unsigned char)s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return bad(e, path, field, "is not a 32-byte hash in hex");
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static int load_meta(json_t *root, const char *path, struct chain_state *st, struct kerr *e)
{
	const char *rel = json_string_value(json_object_get(root, "metadata"));
	char full[FS_PATH_MAX], dir[FS_PATH_MAX];
	const char *slash;

	if (!rel || !*rel)
		return bad(e, path, "metadata", "is missing or not a path");
	if (rel[0] == '/' || !(slash = strrchr(path, '/'))) {
		snprintf(full, sizeof full, "%s", rel);
	} else {
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
		if (fs_join(full, sizeof full, e, "%s/%s", dir, rel) < 0)
			return -1;
	}
	return meta_load(full, &st->meta, e);
}

int chain_state_load(const char *path, struct chain_state *st, struct kerr *e)
{
	char *text = NULL;
	size_t n = 0;
	json_t *root = NULL;
	json_error_t je;
	uint64_t spec = 0, txv = 0, period = CHAIN_ERA_PERIOD_DEFAULT;
	struct chain_tx *tx = &st->tx;
	int rc = -1;

	memset(st, 0, sizeof *st);
	if (fs_read_all(path, CHAIN_STATE_BYTES_MAX, &text, &n, e) < 0)
		goto out;
	root = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(root)) {
		kerr_set(e, "chain.state", "%s: not a JSON object (%s)", path, je.text);
		goto out;
	}
	if (get_u64(root, path, "spec_version", UINT32_MAX, 1, &spec, e) < 0 ||
	    get_u64(root, path, "transaction_version", UINT32_MAX, 1, &txv, e) < 0 ||
	    get_u64(root, path, "block_number", UINT64_MAX, 1, &tx->block_number, e) < 0 ||
	    get_u64(root, path, "nonce", UINT32_MAX, 1, &tx->nonce, e) < 0 ||
	    get_u64(root, path, "era_period", CHAIN_ERA_PERIOD_MAX, 0, &period, e) < 0 ||
	    get_u64(root, path, "tip", UINT64_MAX, 0, &tx->tip, e) < 0 ||
	    get_hash(root, path, "genesis_hash", tx->genesis_hash, e) < 0 ||
	    get_hash(root, path, "block_hash", tx->block_hash, e) < 0 || load_meta(root, path, st, e) < 0)
		goto out;
	tx->spec_version = (uint32_t)spec;
	tx->tx_version = (uint32_t)txv;
	tx->era_period = (uint32_t)period;
	rc = 0;
out:
	if (rc < 0)
		chain_state_free(st);
	json_decref(root);
	free(text);
	return rc;
}

void chain_state_free(struct chain_state *st)
{
	meta_free(st->meta);
	st->meta = NULL;
}

int chain_weights_parse(const char *text, uint16_t *uids, double *weights, size_t cap, size_t *n, struct kerr *e)
{
	const char *p = text;

	*n = 0;
	while (p && *p) {
		char *end;
		unsigned long uid;
		double w;

		if (*n == cap)
			return kerr_set(e, "chain.weights_syntax", "more than %zu weights", cap);
		if (*p < '0' || *p > '9')
			return kerr_set(e, "chain.weights_syntax", "weight %zu: expected UID=W at \"%.20s\"", *n, p);
		uid = strtoul(p, &end, 10);
		if (uid > UINT16_MAX || *end != '=')
			return kerr_set(e, "chain.weights_syntax", "weight %zu: uid is not 0..65535 followed by '='",
					*n);
		p = end + 1;
		if (!(*p >= '0' && *p <= '9') && *p != '.')
			return kerr_set(e, "chain.weights_syntax", "weight %zu (uid %lu): W is not a number >= 0", *n,
					uid);
		w = strtod(p, &end);
		if (end == p || !isfinite(w) || (*end && *end != ','))
			return kerr_set(e, "chain.weights_syntax", "weight %zu (uid %lu): W is not a finite number", *n,
					uid);
		uids[*n] = (uint16_t)uid;
		weights[*n] = w;
		(*n)++;
		p = *end ? end + 1 : end;
		if (*end == ',' && !*p)
			return kerr_set(e, "chain.weights_syntax", "a trailing comma");
	}
	if (*n == 0)
		return kerr_set(e, "chain.weights_syntax", "no weights given (UID=W,...)");
	return 0;
}

int chain_salt_parse(const char *hex, uint16_t *salt, size_t cap, size_t *n, struct kerr *e)
{
	size_t len = hex ? strlen(hex) : 0;

	*n = 0;
	if (hex && hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X')) {
		hex += 2;
		len -= 2;
	}
	if (len == 0 || len % 4 || len / 4 > cap)
		return kerr_set(e, "chain.salt", "the salt is not 1..%zu groups of four hex digits", cap);
	for (size_t i = 0; i < len / 4; i++) {
		unsigned v = 0;

		for (size_t k = 0; k < 4; k++) {
			int d = hex_nibble((unsigned char)hex[4 * i + k]);

			if (d < 0)
				return kerr_set(e, "chain.salt", "the salt has a non-hex digit at %zu", 4 * i + k);
			v = v << 4 | (unsigned)d;
		}
		salt[i] = (uint16_t)v;
	}
	*n = len / 4;
	return 0;
}
