/* kingsample.c: each king's short sample (kingsample.h): the fixed draw,
 * the command that makes it, the check of its output, and the table. The
 * table is created here (CREATE TABLE IF NOT EXISTS) rather than in
 * vstate.c's versioned schema, as the ledger's is: it is additive, and an
 * older state gains it when a service first starts on it. */
#include "validator/kingsample.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/hash.h"

static const char table_sql[] =
	"CREATE TABLE IF NOT EXISTS king_samples(tag TEXT PRIMARY KEY, ckpt_sha256 TEXT NOT NULL,"
	" prompt TEXT NOT NULL, text TEXT NOT NULL, tokens_json TEXT NOT NULL, temperature REAL NOT NULL,"
	" seed INTEGER NOT NULL, made_at TEXT NOT NULL)";

int kingsample_ensure(struct vstate *s, struct kerr *err)
{
	if (sqlite3_exec(s->db, table_sql, NULL, NULL, NULL) != SQLITE_OK)
		return vstate_sql_error(s, "create king_samples table", err);
	return 0;
}

static int prepare(struct vstate *s, const char *sql, sqlite3_stmt **st, struct kerr *err)
{
	if (kingsample_ensure(s, err) < 0)
		return -1;
	if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
		return vstate_sql_error(s, "king_samples", err);
	return 0;
}

static const char *col_text(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	return t ? (const char *)t : "";
}

int kingsample_next(struct vstate *s, const char *const *skip, size_t nskip, char tag[RECIPEREPO_TAG_MAX],
		    int *found, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	int r, rc = -1;

	*found = 0;
	tag[0] = '\0';
	if (prepare(s,
		    "SELECT tag FROM kings WHERE submission_id IS NOT NULL AND submission_id <> ''"
		    " AND tag NOT IN (SELECT tag FROM king_samples) ORDER BY id",
		    &st, err) < 0)
		return -1;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		const char *t = col_text(st, 0);
		size_t i = 0;

		while (i < nskip && strcmp(skip[i], t))
			i++;
		if (i < nskip || strlen(t) >= RECIPEREPO_TAG_MAX)
			continue;
		snprintf(tag, RECIPEREPO_TAG_MAX, "%s", t);
		*found = 1;
		break;
	}
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		goto out_sql;
	rc = 0;
	goto out;
out_sql:
	vstate_sql_error(s, "read kings without a sample", err);
out:
	sqlite3_finalize(st);
	return rc;
}

void kingsample_argv(const char *karpa, const char *state_dir, const char *tag, const char *scale, int threads,
		     char buf[64], const char *argv[KINGSAMPLE_ARGV_MAX])
{
	/* the numbers, each NUL-terminated in its own 16 bytes of buf */
	char *tokens = buf, *temp = buf + 16, *seed = buf + 32, *thr = buf + 48;
	const char *a[] = { karpa, "sample", "--king", tag, "--state", state_dir, "--prompt", KINGSAMPLE_PROMPT,
			    "--tokens", tokens, "--temperature", temp, "--seed", seed, "--threads", thr,
			    "--scale", scale, "--json", NULL };

	_Static_assert(sizeof a / sizeof a[0] <= KINGSAMPLE_ARGV_MAX, "KINGSAMPLE_ARGV_MAX is too small");
	snprintf(tokens, 16, "%d", KINGSAMPLE_TOKENS);
	snprintf(temp, 16, "%g", KINGSAMPLE_TEMPERATURE);
	snprintf(seed, 16, "%d", KINGSAMPLE_SEED);
	snprintf(thr, 16, "%d", threads > 0 ? threads : 1);
	memcpy(argv, a, sizeof a);
}

/* The one JSON object the command printed: the first line that starts '{'
 * (the command prints nothing else on stdout, but a line of its own would
 * not hide the object). */
static json_t *output_object(const char *out, size_t n)
{
	const char *p = out, *end = out + n, *nl;

	while (p < end && *p != '{') {
		if (!(nl = memchr(p, '\n', (size_t)(end - p))))
			return NULL;
		p = nl + 1;
	}
	if (p >= end)
		return NULL;
	nl = memchr(p, '\n', (size_t)(end - p));
	return json_loadb(p, nl ? (size_t)(nl - p) : (size_t)(end - p), JSON_REJECT_DUPLICATES, NULL);
}

/* The generated ids as JSON text: KINGSAMPLE_TOKENS integers that fit a
 * token id. NULL when tokens is anything else. Caller frees. */
static char *tokens_text(const json_t *tokens)
{
	size_t i;
	json_t *v;

	if (json_array_size(tokens) != KINGSAMPLE_TOKENS)
		return NULL;
	json_array_foreach(tokens, i, v)
		if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > UINT16_MAX)
			return NULL;
	return json_dumps(tokens, JSON_COMPACT);
}

struct put_args {
	const char *tag, *ckpt, *text, *tokens;
};

static int put_fn(struct vstate *s, void *arg, struct kerr *err)
{
	const struct put_args *a = arg;
	char now[VSTATE_TIME_BYTES];
	sqlite3_stmt *st = NULL;
	int rc = -1;

	vstate_now_iso(now);
	if (prepare(s,
		    "INSERT OR IGNORE INTO king_samples(tag, ckpt_sha256, prompt, text, tokens_json, temperature,"
		    " seed, made_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
		    &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, a->tag, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, a->ckpt, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, KINGSAMPLE_PROMPT, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, a->text, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, a->tokens, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 6, KINGSAMPLE_TEMPERATURE);
	sqlite3_bind_int64(st, 7, KINGSAMPLE_SEED);
	sqlite3_bind_text(st, 8, now, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		vstate_sql_error(s, "store a king's sample", err);
	else
		rc = 0;
	sqlite3_finalize(st);
	return rc;
}

int kingsample_put(struct vstate *s, const char *tag, const char *out, size_t n, struct kerr *err)
{
	json_t *o = output_object(out, n);
	const char *king = json_string_value(json_object_get(o, "king"));
	const char *prompt = json_string_value(json_object_get(o, "prompt"));
	const char *text = json_string_value(json_object_get(o, "text"));
	const char *ckpt = json_string_value(json_object_get(o, "ckpt_sha256"));
	json_t *t = json_object_get(o, "temperature"), *seed = json_object_get(o, "seed");
	char *tokens = NULL;
	struct put_args a;
	int rc = -1;

	if (!o) {
		kerr_set(err, "kingsample.bad_output", "king %s: the sample command printed no JSON object", tag);
		goto out;
	}
	if (!king || strcmp(king, tag) || !prompt || strcmp(prompt, KINGSAMPLE_PROMPT) || !text || !ckpt ||
	    !hash_is_hex(ckpt, HASH_HEX_BYTES - 1) || !json_is_number(t) ||
	    fabs(json_number_value(t) - KINGSAMPLE_TEMPERATURE) > 1e-9 || !json_is_integer(seed) ||
	    json_integer_value(seed) != KINGSAMPLE_SEED || !(tokens = tokens_text(json_object_get(o, "tokens")))) {
		kerr_set(err, "kingsample.bad_output",
			 "king %s: the sample command printed another sample than asked for (king, prompt, tokens,"
			 " temperature or seed differ)",
			 tag);
		goto out;
	}
	a = (struct put_args){ tag, ckpt, text, tokens };
	rc = vstate_tx(s, put_fn, &a, err);
out:
	free(tokens);
	json_decref(o);
	return rc;
}

int kingsample_get(struct vstate *s, const char *tag, json_t **out, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	json_t *tokens;
	int r, rc = -1;

	*out = NULL;
	if (prepare(s,
		    "SELECT ckpt_sha256, prompt, text, tokens_json, temperature, seed, made_at FROM king_samples"
		    " WHERE tag = ?1",
		    &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, tag, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_DONE) {
		kerr_set(err, "kingsample.pending", "king %.80s has no sample yet: the service makes one when no"
			 " judgment is running", tag);
		goto out;
	}
	if (r != SQLITE_ROW) {
		vstate_sql_error(s, "read a king's sample", err);
		goto out;
	}
	tokens = json_loads(col_text(st, 3), 0, NULL);
	*out = json_pack("{s:s, s:s, s:s, s:o, s:f, s:I, s:s, s:s}", "tag", tag, "prompt", col_text(st, 1), "text",
			 col_text(st, 2), "tokens", tokens ? tokens : json_array(), "temperature",
			 sqlite3_column_double(st, 4), "seed", (json_int_t)sqlite3_column_int64(st, 5), "ckpt_sha256",
			 col_text(st, 0), "made_at", col_text(st, 6));
	if (!*out) {
		kerr_set(err, "kingsample.nomem", "out of memory for a king's sample");
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

int kingsample_have(struct vstate *s, const char *tag, int *have, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	int r;

	*have = 0;
	if (prepare(s, "SELECT 1 FROM king_samples WHERE tag = ?1", &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, tag, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	*have = r == SQLITE_ROW;
	sqlite3_finalize(st);
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		return vstate_sql_error(s, "read a king's sample", err);
	return 0;
}
