/* hlosses.c: the king's hidden losses file. A one-line JSON header, then
 * the losses as little-endian IEEE doubles, so the bits the evaluator added
 * are the bits read back. The store names a file by its SHA-256; reading
 * checks it again, so a flipped byte is caught before a loss is used. */
#include "validator/hlosses.h"

#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/fsutil.h"
#include "util/hash.h"

#define HEADER_MAX 1024

static void put_le64(unsigned char *p, double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof u);
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(u >> (8 * i));
}

static double get_le64(const unsigned char *p)
{
	uint64_t u = 0;
	double d;

	for (int i = 7; i >= 0; i--)
		u = u << 8 | p[i];
	memcpy(&d, &u, sizeof d);
	return d;
}

static uint64_t bits(double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof u);
	return u;
}

static int meta_key(char *out, size_t cap, const char *owner, struct kerr *err)
{
	if (!owner[0] || (size_t)snprintf(out, cap, "%s%s", HLOSSES_META_PREFIX, owner) >= cap)
		return kerr_set(err, "hlosses.bad", "owner '%.40s' is not a losses owner", owner);
	return 0;
}

int hlosses_save(struct vstate *s, const struct hlosses *l, struct kerr *err)
{
	char key[HLOSSES_OWNER_MAX + 32], tmp[FS_PATH_MAX], hex[HASH_HEX_BYTES];
	char bitshex[17], *head = NULL;
	unsigned char *buf = NULL;
	size_t hlen, len;
	json_t *h = NULL;
	int rc = -1, wrote = 0;

	if (meta_key(key, sizeof key, l->owner, err) < 0)
		return -1;
	if (l->targets == 0 || l->targets > HLOSSES_TARGETS_MAX || l->seq_len < 1 || !l->nats)
		return kerr_set(err, "hlosses.bad", "%" PRIu64 " targets in windows of %d: not a scoring", l->targets,
				l->seq_len);
	snprintf(bitshex, sizeof bitshex, "%016" PRIx64, bits(l->bpb));
	h = json_pack("{s:s, s:s, s:s, s:i, s:I, s:s}", "format", HLOSSES_FORMAT, "owner", l->owner, "hidden_digest",
		      l->hidden_digest, "seq_len", l->seq_len, "targets", (json_int_t)l->targets, "bpb_bits", bitshex);
	if (!h || !(head = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS))) {
		kerr_set(err, "hlosses.bad", "out of memory for the losses header");
		goto out;
	}
	hlen = strlen(head) + 1;
	len = hlen + (size_t)l->targets * 8;
	if (!(buf = malloc(len))) {
		kerr_set(err, "hlosses.bad", "out of memory for %zu bytes of losses", len);
		goto out;
	}
	memcpy(buf, head, hlen - 1);
	buf[hlen - 1] = '\n';
	for (uint64_t i = 0; i < l->targets; i++)
		put_le64(buf + hlen + 8 * i, l->nats[i]);
	if (fs_join(tmp, sizeof tmp, err, "%s/work/hlosses-%ld.tmp", s->dir, (long)getpid()) < 0 ||
	    fs_write_atomic(tmp, buf, len, err) < 0)
		goto out;
	wrote = 1;
	if (vstate_store_file(s, tmp, hex, err) < 0 || vstate_meta_set(s, key, hex, err) < 0)
		goto out;
	rc = 0;
out:
	if (wrote)
		unlink(tmp);
	json_decref(h);
	free(head);
	free(buf);
	return rc;
}

static int corrupt(const char *owner, const char *what, struct kerr *err)
{
	return kerr_set(err, "hlosses.corrupt", "the hidden losses of %s: %s; the judge scores in full until the king's "
				"losses are written again (karpa noise-floor)", owner, what);
}

int hlosses_load(struct vstate *s, const char *owner, struct hlosses *l, struct kerr *err)
{
	char key[HLOSSES_OWNER_MAX + 32], hex[HASH_HEX_BYTES], got[HASH_HEX_BYTES], path[FS_PATH_MAX], bh[17];
	char *text = NULL, *nl;
	size_t len;
	json_t *h = NULL;
	json_int_t targets, seq;
	const char *fmt, *own, *dig, *bs;
	uint64_t u;
	int rc = -1;

	memset(l, 0, sizeof *l);
	if (meta_key(key, sizeof key, owner, err) < 0)
		return -1;
	if (vstate_meta_get(s, key, hex, sizeof hex, err) < 0) {
		if (!strcmp(err->code, "vstate.meta_missing"))
			kerr_set(err, "hlosses.missing", "no hidden losses recorded for %s", owner);
		return -1;
	}
	if (vstate_store_path(s, hex, path, err) < 0)
		return corrupt(owner, "its entry is not a digest", err);
	if (fs_read_file(path, HEADER_MAX + HLOSSES_TARGETS_MAX * 8, O_NOFOLLOW, &text, &len, err) < 0) {
		kerr_set(err, "hlosses.missing", "the hidden losses of %s are not in the store: %s", owner, err->msg);
		return -1;
	}
	hash_buf_hex(text, len, got);
	if (strcmp(got, hex)) {
		corrupt(owner, "the file's digest is not the one recorded", err);
		goto out;
	}
	if (!(nl = memchr(text, '\n', len < HEADER_MAX ? len : HEADER_MAX)) ||
	    !(h = json_loadb(text, (size_t)(nl - text), JSON_REJECT_DUPLICATES, NULL)) ||
	    json_unpack(h, "{s:s, s:s, s:s, s:I, s:I, s:s}", "format", &fmt, "owner", &own, "hidden_digest", &dig,
			"seq_len", &seq, "targets", &targets, "bpb_bits", &bs) < 0 ||
	    strcmp(fmt, HLOSSES_FORMAT) || strcmp(own, owner) || strlen(dig) != HASH_HEX_BYTES - 1 || seq < 1 ||
	    targets < 1 || (uint64_t)targets > HLOSSES_TARGETS_MAX || strlen(bs) != 16 ||
	    sscanf(bs, "%16" SCNx64, &u) != 1) {
		corrupt(owner, "its header is not this owner's", err);
		goto out;
	}
	snprintf(bh, sizeof bh, "%016" PRIx64, u);
	if (strcmp(bh, bs) || len - (size_t)(nl + 1 - text) != (size_t)targets * 8) {
		corrupt(owner, "its length or score does not match its header", err);
		goto out;
	}
	if (!(l->nats = malloc((size_t)targets * sizeof *l->nats))) {
		kerr_set(err, "hlosses.bad", "out of memory for %lld losses", (long long)targets);
		goto out;
	}
	for (json_int_t i = 0; i < targets; i++)
		l->nats[i] = get_le64((const unsigned char *)nl + 1 + 8 * i);
	snprintf(l->owner, sizeof l->owner, "%s", owner);
	snprintf(l->hidden_digest, sizeof l->hidden_digest, "%s", dig);
	l->seq_len = (int)seq;
	l->targets = (uint64_t)targets;
	memcpy(&l->bpb, &u, sizeof u);
	rc = 0;
out:
	json_decref(h);
	free(text);
	return rc;
}

double hlosses_sum_bpb(const double *nats, uint64_t targets, int seq_len, const uint16_t *tokens,
		       const uint32_t *token_bytes)
{
	double total = 0;
	uint64_t bytes = 0;

	for (uint64_t w = 0; w < targets; w += (uint64_t)seq_len) {
		uint64_t end = w + (uint64_t)seq_len < targets ? w + (uint64_t)seq_len : targets;
		double row = 0;
		for (uint64_t t = w; t < end; t++)
			row += nats[t];
		total += row;
	}
	for (uint64_t t = 0; t < targets; t++)
		bytes += token_bytes[tokens[t + 1]];
	return bytes ? total / (M_LN2 * (double)bytes) : NAN;
}

int hlosses_bind(const struct hlosses *l, const char *hidden_digest, const uint16_t *tokens, uint64_t targets,
		 const uint32_t *token_bytes, double bpb, struct kerr *err)
{
	double sum;

	if (strcmp(l->hidden_digest, hidden_digest))
		return kerr_set(err, "hlosses.stale", "the losses of %s are of hidden data %.16s..., this is %.16s...",
				l->owner, l->hidden_digest, hidden_digest);
	if (l->targets != targets)
		return kerr_set(err, "hlosses.stale", "the losses of %s cover %" PRIu64 " targets, the split %" PRIu64,
				l->owner, l->targets, targets);
	sum = hlosses_sum_bpb(l->nats, l->targets, l->seq_len, tokens, token_bytes);
	if (bits(sum) != bits(bpb) || bits(l->bpb) != bits(bpb))
		return kerr_set(err, "hlosses.stale", "the losses of %s add up to %.17g, the king's score is %.17g",
				l->owner, sum, bpb);
	return 0;
}

uint64_t hlosses_targets(size_t n, uint64_t targets_max)
{
	uint64_t all = n > 0 ? (uint64_t)n - 1 : 0;

	return targets_max && targets_max < all ? targets_max : all;
}

void hlosses_free(struct hlosses *l)
{
	free(l->nats);
	l->nats = NULL;
}
