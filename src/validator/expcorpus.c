/* expcorpus.c: the experiment corpus on top of the validator's database
 * (tables submissions, checks, corpus_fts; schema in vstate.c). Owns
 * recording a judged submission in one transaction, later verdicts, search,
 * export and citations. Every statement is fixed text with bound
 * parameters; miner text is cleaned to valid UTF-8 before it is stored so
 * that every export is valid JSON. */
#include "validator/expcorpus.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const expcorpus_verdicts[EXPCORPUS_VERDICTS] = {
	EXPCORPUS_ACCEPTED_KING, EXPCORPUS_NOT_DECISIVE, EXPCORPUS_CHALLENGE_PENDING, EXPCORPUS_CHALLENGE_FAILED,
	EXPCORPUS_REJECTED,
};

/* The columns of an entry, in the order entry_from_row reads them. */
#define ENTRY_COLS                                                                                        \
	"id, manifest_sha256, patch_sha256, miner, king_tag, seed, scale, rationale, patch, received_at,"   \
	" judged_at, verdict, reason_code, reason, claimed_public_bpb, public_bpb, hidden_bpb, king_bpb,"    \
	" margin, attest_kind, alpha, proof_cpu_s, judge_cpu_s, credited_to, challenge_of, challenge_seed,"    \
	" final_sha256"

/* bm25 column weights (id, rationale, patch, verdict, reason_code, reason):
 * the rationale is what a researcher wrote to be read, so its words count
 * double; the verdict word is on every row and says little. */
#define RANK_EXPR "bm25(corpus_fts, 0.0, 2.0, 1.0, 0.5, 1.0, 1.0)"
/* Words of context around a hit in a snippet. */
#define SNIPPET_TOKENS "12"

/* ---------------------------------------------------------------- text */

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, size_t left)
{
	size_t n;
	uint32_t cp, min;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xE0) == 0xC0)
		n = 2, cp = p[0] & 0x1F, min = 0x80;
	else if ((p[0] & 0xF0) == 0xE0)
		n = 3, cp = p[0] & 0x0F, min = 0x800;
	else if ((p[0] & 0xF8) == 0xF0)
		n = 4, cp = p[0] & 0x07, min = 0x10000;
	else
		return 0;
	if (n > left)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

/* A copy with every invalid byte replaced by U+FFFD. NULL on allocation
 * failure. Caller frees. */
static char *utf8_clean(const char *s)
{
	static const char repl[] = "\xEF\xBF\xBD";
	size_t len = strlen(s), o = 0;
	char *out;

	/* Worst case every byte becomes three. */
	if (len > (SIZE_MAX - 1) / 3)
		return NULL;
	out = malloc(len * 3 + 1);
	if (!out)
		return NULL;
	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq((const unsigned char *)s + i, len - i);
		if (n) {
			memcpy(out + o, s + i, n);
			o += n;
			i += n;
		} else {
			memcpy(out + o, repl, 3);
			o += 3;
			i++;
		}
	}
	out[o] = '\0';
	return out;
}

/* A UTF-8-clean copy of text (utf8_clean) with the state folder's path
 * shown as "STATE" (a judgment's reasons can name files under its work
 * folder, and they are served to anyone by /v1/corpus). s->dir is the
 * folder as the kernel resolves it (vstate_open), the form every path a
 * judgment builds starts with. Hidden before cleaning: a folder whose
 * name is not UTF-8 reads otherwise once cleaned. NULL on allocation
 * failure. */
static char *clean_hidden(const struct vstate *s, const char *text)
{
	/* reasons and check messages come from a kerr: KERR_MSG_MAX - 1
	 * bytes is one that was cut */
	size_t cap = strlen(text) + 1 >= KERR_MSG_MAX ? strlen(text) + 1 : KERR_MSG_MAX;
	char *raw = strdup(text), *out;

	if (!raw)
		return NULL;
	kerr_hide_path(raw, cap, s->dir);
	out = utf8_clean(raw);
	free(raw);
	return out;
}

static int is_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* "YYYY-MM-DD", or with time "YYYY-MM-DDTHH:MM:SSZ" when full is set
 * (or allowed, full < 0). Shape only: the point is that string order is
 * time order. */
static int is_time(const char *s, int full)
{
	size_t n = strlen(s);

	if (!(n == 10 || n == 20) || (full > 0 && n != 20) || (full == 0 && n != 10))
		return 0;
	if (!is_digits(s, 4) || s[4] != '-' || !is_digits(s + 5, 2) || s[7] != '-' || !is_digits(s + 8, 2))
		return 0;
	if (n == 10)
		return 1;
	return s[10] == 'T' && is_digits(s + 11, 2) && s[13] == ':' && is_digits(s + 14, 2) && s[16] == ':' &&
	       is_digits(s + 17, 2) && s[19] == 'Z';
}

static int is_id(const char *s)
{
	size_t n = strlen(s);

	if (n < 2 + EXPCORPUS_ID_HEX || n > 2 + 64 || strncmp(s, EXPCORPUS_ID_PREFIX, 2))
		return 0;
	return hash_is_hex(s + 2, n - 2);
}

/* A fixed-size field must hold its terminator. */
#define TERMINATED(f) (memchr((f), '\0', sizeof(f)) != NULL)

int expcorpus_verdict_valid(const char *verdict)
{
	for (int i = 0; i < EXPCORPUS_VERDICTS; i++)
		if (verdict && !strcmp(verdict, expcorpus_verdicts[i]))
			return 1;
	return 0;
}

void expcorpus_entry_blank(struct expcorpus_entry *e)
{
	memset(e, 0, sizeof *e);
	e->seed = -1;
	e->challenge_seed = -1;
	e->claimed_public_bpb = e->public_bpb = e->hidden_bpb = e->king_bpb = e->margin = NAN;
	e->alpha = e->proof_cpu_s = e->judge_cpu_s = NAN;
}

void expcorpus_entry_free(struct expcorpus_entry *e)
{
	free(e->rationale);
	free(e->patch);
	free(e->checks);
	e->rationale = e->patch = NULL;
	e->checks = NULL;
	e->n_checks = 0;
}

/* ---------------------------------------------------------------- binding */

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s && *s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

static void bind_real(sqlite3_stmt *st, int i, double v)
{
	if (isfinite(v))
		sqlite3_bind_double(st, i, v);
	else
		sqlite3_bind_null(st, i);
}

static void bind_i64(sqlite3_stmt *st, int i, int64_t v)
{
	if (v >= 0)
		sqlite3_bind_int64(st, i, v);
	else
		sqlite3_bind_null(st, i);
}

/* Copies a column into a fixed field, cutting at a character boundary:
 * stored text is valid UTF-8, so the only invalid sequence a truncation can
 * leave is at the end, and JSON output must never see it. */
static void col_copy(sqlite3_stmt *st, int col, char *out, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	size_t n, i = 0;

	snprintf(out, cap, "%s", t ? (const char *)t : "");
	n = strlen(out);
	while (i < n) {
		size_t k = utf8_seq((const unsigned char *)out + i, n - i);
		if (!k)
			break;
		i += k;
	}
	out[i] = '\0';
}

static char *col_dup(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	return strdup(t ? (const char *)t : "");
}

static double col_real(sqlite3_stmt *st, int col)
{
	return sqlite3_column_type(st, col) == SQLITE_NULL ? NAN : sqlite3_column_double(st, col);
}

static int64_t col_i64(sqlite3_stmt *st, int col)
{
	return sqlite3_column_type(st, col) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, col);
}

static int prepare(struct vstate *s, const char *sql, sqlite3_stmt **st, const char *what, struct kerr *err)
{
	if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK) {
		*st = NULL;
		return vstate_sql_error(s, what, err);
	}
	return 0;
}

/* ---------------------------------------------------------------- record */

/* The miner-controlled text of one record, cleaned. */
struct clean {
	char *king_tag, *scale, *rationale, *patch, *reason_code, *reason, *attest_kind;
	char **check_text; /* name, code, message per check */
};

static void clean_free(struct clean *c, size_t n_checks)
{
	free(c->king_tag), free(c->scale), free(c->rationale), free(c->patch);
	free(c->reason_code), free(c->reason), free(c->attest_kind);
	if (c->check_text)
		for (size_t i = 0; i < 3 * n_checks; i++)
			free(c->check_text[i]);
	free(c->check_text);
	memset(c, 0, sizeof *c);
}

static int validate(const struct expcorpus_entry *e, const struct expcorpus_check *checks, size_t n,
		    struct kerr *err)
{
	if (!TERMINATED(e->manifest_sha256) || !hash_is_hex(e->manifest_sha256, HASH_HEX_BYTES - 1))
		return kerr_set(err, "expcorpus.invalid", "manifest_sha256: not 64 lowercase hex digits");
	if (!TERMINATED(e->patch_sha256) || !hash_is_hex(e->patch_sha256, HASH_HEX_BYTES - 1))
		return kerr_set(err, "expcorpus.invalid", "patch_sha256: not 64 lowercase hex digits");
	if (!TERMINATED(e->final_sha256) || (e->final_sha256[0] && !hash_is_hex(e->final_sha256, HASH_HEX_BYTES - 1)))
		return kerr_set(err, "expcorpus.invalid", "final_sha256: not empty nor 64 lowercase hex digits");
	if (!TERMINATED(e->miner) || (e->miner[0] && !hash_is_hex(e->miner, KEYS_PK_HEX_BYTES - 1)))
		return kerr_set(err, "expcorpus.invalid", "miner: not a 64-hex public key");
	if (!TERMINATED(e->verdict) || !expcorpus_verdict_valid(e->verdict))
		return kerr_set(err, "expcorpus.invalid", "verdict: '%.24s' is not a verdict", e->verdict);
	if (!TERMINATED(e->received_at) || (e->received_at[0] && !is_time(e->received_at, 1)))
		return kerr_set(err, "expcorpus.invalid", "received_at: not YYYY-MM-DDTHH:MM:SSZ");
	if (!TERMINATED(e->challenge_of) || (e->challenge_of[0] && !is_id(e->challenge_of)))
		return kerr_set(err, "expcorpus.invalid", "challenge_of: not a corpus id");
	if (!TERMINATED(e->king_tag) || !TERMINATED(e->scale) || !TERMINATED(e->reason_code) ||
	    !TERMINATED(e->reason) || !TERMINATED(e->attest_kind))
		return kerr_set(err, "expcorpus.invalid", "an unterminated text field");
	if (e->rationale && strlen(e->rationale) > EXPCORPUS_RATIONALE_BYTES_MAX)
		return kerr_set(err, "expcorpus.too_large", "rationale: over %u bytes", EXPCORPUS_RATIONALE_BYTES_MAX);
	if (e->patch && strlen(e->patch) > EXPCORPUS_PATCH_BYTES_MAX)
		return kerr_set(err, "expcorpus.too_large", "patch: over %u bytes", EXPCORPUS_PATCH_BYTES_MAX);
	if (n > EXPCORPUS_CHECKS_MAX)
		return kerr_set(err, "expcorpus.too_large", "%zu checks, at most %d", n, EXPCORPUS_CHECKS_MAX);
	for (size_t i = 0; i < n; i++) {
		const struct expcorpus_check *c = &checks[i];
		if (!TERMINATED(c->name) || !TERMINATED(c->outcome) || !TERMINATED(c->code) ||
		    !TERMINATED(c->message) || !c->name[0])
			return kerr_set(err, "expcorpus.invalid", "check %zu: empty or unterminated field", i);
		if (strcmp(c->outcome, "pass") && strcmp(c->outcome, "fail") && strcmp(c->outcome, "skipped"))
			return kerr_set(err, "expcorpus.invalid", "check %zu: outcome '%.8s' is not pass|fail|skipped", i,
					c->outcome);
	}
	return 0;
}

static int clean_all(const struct vstate *s, const struct expcorpus_entry *e, const struct expcorpus_check *checks,
		     size_t n, struct clean *c, struct kerr *err)
{
	memset(c, 0, sizeof *c);
	c->king_tag = utf8_clean(e->king_tag);
	c->scale = utf8_clean(e->scale);
	c->rationale = utf8_clean(e->rationale ? e->rationale : "");
	c->patch = utf8_clean(e->patch ? e->patch : "");
	c->reason_code = utf8_clean(e->reason_code);
	c->reason = clean_hidden(s, e->reason);
	c->attest_kind = utf8_clean(e->attest_kind);
	c->check_text = calloc(3 * n + 1, sizeof *c->check_text);
	if (!c->king_tag || !c->scale || !c->rationale || !c->patch || !c->reason_code || !c->reason ||
	    !c->attest_kind || !c->check_text)
		return kerr_set(err, "expcorpus.oom", "out of memory cleaning a record");
	for (size_t i = 0; i < n; i++) {
		c->check_text[3 * i] = utf8_clean(checks[i].name);
		c->check_text[3 * i + 1] = utf8_clean(checks[i].code);
		c->check_text[3 * i + 2] = clean_hidden(s, checks[i].message);
		if (!c->check_text[3 * i] || !c->check_text[3 * i + 1] || !c->check_text[3 * i + 2])
			return kerr_set(err, "expcorpus.oom", "out of memory cleaning a record");
	}
	return 0;
}

struct record_args {
	const struct expcorpus_entry *e;
	const struct expcorpus_check *checks;
	size_t n;
	const struct clean *c;
	char *out_id;
};

/* Single-column text lookup: 1 found (copied into out), 0 none, -1 error. */
static int lookup1(struct vstate *s, const char *sql, const char *a, char *out, size_t cap, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	int r, rc = -1;

	if (prepare(s, sql, &st, "lookup", err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		col_copy(st, 0, out, cap);
		rc = 1;
	} else if (r == SQLITE_DONE) {
		rc = 0;
	} else {
		vstate_sql_error(s, "lookup", err);
	}
	sqlite3_finalize(st);
	return rc;
}

/* Stable id: the shortest prefix (from 12 hex, in steps of 4) not already
 * held by a different manifest. */
static int choose_id(struct vstate *s, const char *manifest, char id[EXPCORPUS_ID_BYTES], struct kerr *err)
{
	char other[HASH_HEX_BYTES];

	for (int len = EXPCORPUS_ID_HEX; len <= 64; len += 4) {
		int r;
		snprintf(id, EXPCORPUS_ID_BYTES, "%s%.*s", EXPCORPUS_ID_PREFIX, len, manifest);
		r = lookup1(s, "SELECT manifest_sha256 FROM submissions WHERE id = ?", id, other, sizeof other, err);
		if (r < 0)
			return -1;
		if (r == 0)
			return 0;
	}
	return kerr_set(err, "expcorpus.duplicate", "manifest %s: every id is taken", manifest);
}

static int first_id(struct vstate *s, sqlite3_stmt *st, char out[EXPCORPUS_ID_BYTES], const char *what,
		    struct kerr *err);

static int insert_submission(struct vstate *s, const struct record_args *a, const char *id,
			     const char *credited, const char *received, const char *now, struct kerr *err)
{
	const struct expcorpus_entry *e = a->e;
	const struct clean *c = a->c;
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (prepare(s,
		    "INSERT INTO submissions(" ENTRY_COLS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,"
		    " ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27)",
		    &st, "insert submission", err) < 0)
		return -1;
	bind_text(st, 1, id);
	bind_text(st, 2, e->manifest_sha256);
	bind_text(st, 3, e->patch_sha256);
	bind_text(st, 4, e->miner);
	bind_text(st, 5, c->king_tag);
	bind_i64(st, 6, e->seed);
	bind_text(st, 7, c->scale);
	sqlite3_bind_text(st, 8, c->rationale, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, c->patch, -1, SQLITE_STATIC);
	bind_text(st, 10, received);
	bind_text(st, 11, now);
	bind_text(st, 12, e->verdict);
	bind_text(st, 13, c->reason_code);
	bind_text(st, 14, c->reason);
	bind_real(st, 15, e->claimed_public_bpb);
	bind_real(st, 16, e->public_bpb);
	bind_real(st, 17, e->hidden_bpb);
	bind_real(st, 18, e->king_bpb);
	bind_real(st, 19, e->margin);
	bind_text(st, 20, c->attest_kind);
	bind_real(st, 21, e->alpha);
	bind_real(st, 22, e->proof_cpu_s);
	bind_real(st, 23, e->judge_cpu_s);
	bind_text(st, 24, credited);
	bind_text(st, 25, e->challenge_of);
	bind_i64(st, 26, e->challenge_seed);
	bind_text(st, 27, e->final_sha256);
	if (sqlite3_step(st) != SQLITE_DONE) {
		vstate_sql_error(s, "insert submission", err);
		if ((sqlite3_extended_errcode(s->db) & 0xff) == SQLITE_CONSTRAINT)
			kerr_set(err, "expcorpus.invalid", "submission %s: %s (challenge_of must name a recorded id)",
				 id, sqlite3_errmsg(s->db));
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

static int insert_checks(struct vstate *s, const struct record_args *a, const char *id, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (prepare(s,
		    "INSERT INTO checks(submission_id, idx, name, outcome, code, message, cpu_s)"
		    " VALUES(?, ?, ?, ?, ?, ?, ?)",
		    &st, "insert check", err) < 0)
		return -1;
	for (size_t i = 0; i < a->n; i++) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		bind_text(st, 1, id);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
		bind_text(st, 3, a->c->check_text[3 * i]);
		bind_text(st, 4, a->checks[i].outcome);
		bind_text(st, 5, a->c->check_text[3 * i + 1]);
		bind_text(st, 6, a->c->check_text[3 * i + 2]);
		bind_real(st, 7, a->checks[i].cpu_s);
		if (sqlite3_step(st) != SQLITE_DONE) {
			vstate_sql_error(s, "insert check", err);
			kerr_prefix(err, "check %zu (%s)", i, a->checks[i].name);
			goto out;
		}
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

/* The search row shares its rowid with the submission's seq. */
static int fts_write(struct vstate *s, sqlite3_int64 seq, const char *id, const char *rationale, const char *patch,
		     const char *verdict, const char *reason_code, const char *reason, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (prepare(s, "DELETE FROM corpus_fts WHERE rowid = ?", &st, "fts delete", err) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, seq);
	if (sqlite3_step(st) != SQLITE_DONE) {
		vstate_sql_error(s, "fts delete", err);
		goto out;
	}
	sqlite3_finalize(st);
	if (prepare(s,
		    "INSERT INTO corpus_fts(rowid, id, rationale, patch, verdict, reason_code, reason)"
		    " VALUES(?, ?, ?, ?, ?, ?, ?)",
		    &st, "fts insert", err) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, seq);
	bind_text(st, 2, id);
	bind_text(st, 3, rationale);
	bind_text(st, 4, patch);
	bind_text(st, 5, verdict);
	bind_text(st, 6, reason_code);
	bind_text(st, 7, reason);
	if (sqlite3_step(st) != SQLITE_DONE) {
		vstate_sql_error(s, "fts insert", err);
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

static int record_tx(struct vstate *s, void *arg, struct kerr *err)
{
	struct record_args *a = arg;
	const struct expcorpus_entry *e = a->e;
	char id[EXPCORPUS_ID_BYTES], credited[EXPCORPUS_ID_BYTES] = "", now[VSTATE_TIME_BYTES];
	char received[VSTATE_TIME_BYTES];
	sqlite3_int64 seq;
	int r;

	r = lookup1(s, "SELECT id FROM submissions WHERE manifest_sha256 = ?", e->manifest_sha256, id, sizeof id,
		    err);
	if (r < 0)
		return -1;
	if (r > 0)
		return kerr_set(err, "expcorpus.duplicate", "manifest %.16s...: already recorded as %s (a replay)",
				e->manifest_sha256, id);
	if (choose_id(s, e->manifest_sha256, id, err) < 0)
		return -1;
	vstate_now_iso(now);
	snprintf(received, sizeof received, "%s", e->received_at[0] ? e->received_at : now);
	/* The judge's rule (expcorpus_earlier_claim): the earliest claim on
	 * the same king, by patch or by trained model.
	 * Across kings, an early proof of a patch that was not
	 * decisive then would take the credit for its crowning on a later king
	 * by someone else. An answer is credited to the submission it answers,
	 * its own miner's. */
	if (e->challenge_of[0]) {
		snprintf(credited, sizeof credited, "%s", e->challenge_of);
	} else {
		sqlite3_stmt *st = NULL;

		if (prepare(s,
			    "SELECT id FROM submissions WHERE (patch_sha256 = ?1 OR (final_sha256 = ?3 AND"
			    " (?5 OR hidden_bpb = ?4))) AND king_tag = ?2 AND verdict <> '" EXPCORPUS_REJECTED "'"
			    " ORDER BY seq LIMIT 1",
			    &st, "credit", err) < 0)
			return -1;
		sqlite3_bind_text(st, 1, e->patch_sha256, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, e->king_tag, -1, SQLITE_STATIC);
		bind_text(st, 3, e->final_sha256);
		bind_real(st, 4, e->hidden_bpb);
		sqlite3_bind_int(st, 5, e->final_alone != 0);
		if (first_id(s, st, credited, "credit", err) < 0)
			return -1;
	}
	if (insert_submission(s, a, id, credited, received, now, err) < 0)
		return -1;
	seq = sqlite3_last_insert_rowid(s->db); /* before the checks' inserts move it */
	if (insert_checks(s, a, id, err) < 0 ||
	    fts_write(s, seq, id, a->c->rationale, a->c->patch, e->verdict, a->c->reason_code, a->c->reason, err) < 0)
		return -1;
	snprintf(a->out_id, EXPCORPUS_ID_BYTES, "%s", id);
	return 0;
}

int expcorpus_record(struct vstate *s, const struct expcorpus_entry *e, const struct expcorpus_check *checks,
		     size_t n_checks, char out_id[EXPCORPUS_ID_BYTES], struct kerr *err)
{
	struct clean c = { 0 };
	struct record_args a = { e, checks, n_checks, &c, out_id };
	int rc = -1;

	if (validate(e, checks, n_checks, err) < 0 || clean_all(s, e, checks, n_checks, &c, err) < 0)
		goto out;
	rc = vstate_tx(s, record_tx, &a, err);
out:
	clean_free(&c, n_checks);
	return rc;
}

/* ---------------------------------------------------------------- update */

struct update_args {
	const char *id, *verdict;
	char *reason_code, *reason;
	int only_pending; /* change it only while it is challenge_pending */
};

static int update_tx(struct vstate *s, void *arg, struct kerr *err)
{
	const struct update_args *a = arg;
	sqlite3_stmt *st = NULL;
	sqlite3_int64 seq;
	char now[VSTATE_TIME_BYTES], *rationale = NULL, *patch = NULL;
	const char *now_verdict;
	int rc = -1, r;

	if (prepare(s, "SELECT seq, rationale, patch, verdict FROM submissions WHERE id = ?", &st, "read submission",
		    err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, a->id, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r != SQLITE_ROW) {
		if (r == SQLITE_DONE)
			kerr_set(err, "expcorpus.not_found", "%.80s: no such submission", a->id);
		else
			vstate_sql_error(s, "read submission", err);
		goto out;
	}
	seq = sqlite3_column_int64(st, 0);
	now_verdict = (const char *)sqlite3_column_text(st, 3);
	if (a->only_pending && (!now_verdict || strcmp(now_verdict, EXPCORPUS_CHALLENGE_PENDING))) {
		rc = 0; /* settled already, by another answer's judgment */
		goto out;
	}
	rationale = col_dup(st, 1);
	patch = col_dup(st, 2);
	sqlite3_finalize(st);
	st = NULL;
	if (!rationale || !patch) {
		kerr_set(err, "expcorpus.oom", "out of memory");
		goto out;
	}
	vstate_now_iso(now);
	if (prepare(s, "UPDATE submissions SET verdict = ?, reason_code = ?, reason = ?, judged_at = ? WHERE seq = ?",
		    &st, "update verdict", err) < 0)
		goto out;
	bind_text(st, 1, a->verdict);
	bind_text(st, 2, a->reason_code);
	bind_text(st, 3, a->reason);
	bind_text(st, 4, now);
	sqlite3_bind_int64(st, 5, seq);
	if (sqlite3_step(st) != SQLITE_DONE) {
		vstate_sql_error(s, "update verdict", err);
		goto out;
	}
	if (fts_write(s, seq, a->id, rationale, patch, a->verdict, a->reason_code, a->reason, err) < 0)
		goto out;
	rc = 0;
out:
	sqlite3_finalize(st);
	free(rationale);
	free(patch);
	return rc;
}

static int update_verdict(struct vstate *s, const char *id, const char *verdict, const char *reason_code,
			  const char *reason, int only_pending, struct kerr *err)
{
	struct update_args a = { id, verdict, NULL, NULL, only_pending };
	int rc = -1;

	if (!expcorpus_verdict_valid(verdict))
		return kerr_set(err, "expcorpus.invalid", "verdict: '%.24s' is not a verdict", verdict ? verdict : "");
	if (!id || !is_id(id))
		return kerr_set(err, "expcorpus.not_found", "%.80s: not a corpus id", id ? id : "");
	if (reason_code && strlen(reason_code) >= KERR_CODE_MAX)
		return kerr_set(err, "expcorpus.invalid", "reason_code: too long");
	if (reason && strlen(reason) >= KERR_MSG_MAX)
		return kerr_set(err, "expcorpus.invalid", "reason: too long");
	a.reason_code = utf8_clean(reason_code ? reason_code : "");
	a.reason = clean_hidden(s, reason ? reason : "");
	if (!a.reason_code || !a.reason) {
		kerr_set(err, "expcorpus.oom", "out of memory");
		goto out;
	}
	rc = vstate_tx(s, update_tx, &a, err);
out:
	free(a.reason_code);
	free(a.reason);
	return rc;
}

int expcorpus_update_verdict(struct vstate *s, const char *id, const char *verdict, const char *reason_code,
			     const char *reason, struct kerr *err)
{
	return update_verdict(s, id, verdict, reason_code, reason, 0, err);
}

int expcorpus_settle_pending(struct vstate *s, const char *id, const char *verdict, const char *reason_code,
			     const char *reason, struct kerr *err)
{
	return update_verdict(s, id, verdict, reason_code, reason, 1, err);
}

/* ---------------------------------------------------------------- read */

int expcorpus_settlement_interrupted(struct vstate *s, const struct expcorpus_entry *e, struct kerr *err)
{
	struct expcorpus_verdict orig;

	if (!e->challenge_of[0] || strcmp(e->verdict, EXPCORPUS_CHALLENGE_PENDING))
		return 0;
	if (expcorpus_verdict_of(s, e->challenge_of, &orig, err) < 0)
		return -1;
	return !strcmp(orig.verdict, EXPCORPUS_CHALLENGE_PENDING);
}

static int entry_from_row(sqlite3_stmt *st, struct expcorpus_entry *e, struct kerr *err)
{
	expcorpus_entry_blank(e);
	col_copy(st, 0, e->id, sizeof e->id);
	col_copy(st, 1, e->manifest_sha256, sizeof e->manifest_sha256);
	col_copy(st, 2, e->patch_sha256, sizeof e->patch_sha256);
	col_copy(st, 3, e->miner, sizeof e->miner);
	col_copy(st, 4, e->king_tag, sizeof e->king_tag);
	e->seed = col_i64(st, 5);
	col_copy(st, 6, e->scale, sizeof e->scale);
	e->rationale = col_dup(st, 7);
	e->patch = col_dup(st, 8);
	col_copy(st, 9, e->received_at, sizeof e->received_at);
	col_copy(st, 10, e->judged_at, sizeof e->judged_at);
	col_copy(st, 11, e->verdict, sizeof e->verdict);
	col_copy(st, 12, e->reason_code, sizeof e->reason_code);
	col_copy(st, 13, e->reason, sizeof e->reason);
	e->claimed_public_bpb = col_real(st, 14);
	e->public_bpb = col_real(st, 15);
	e->hidden_bpb = col_real(st, 16);
	e->king_bpb = col_real(st, 17);
	e->margin = col_real(st, 18);
	col_copy(st, 19, e->attest_kind, sizeof e->attest_kind);
	e->alpha = col_real(st, 20);
	e->proof_cpu_s = col_real(st, 21);
	e->judge_cpu_s = col_real(st, 22);
	col_copy(st, 23, e->credited_to, sizeof e->credited_to);
	col_copy(st, 24, e->challenge_of, sizeof e->challenge_of);
	e->challenge_seed = col_i64(st, 25);
	col_copy(st, 26, e->final_sha256, sizeof e->final_sha256);
	if (!e->rationale || !e->patch) {
		expcorpus_entry_free(e);
		return kerr_set(err, "expcorpus.oom", "out of memory");
	}
	return 0;
}

/* checks_st: "SELECT name, outcome, code, message, cpu_s FROM checks WHERE
 * submission_id = ? ORDER BY idx", reset here. */
static int load_checks(struct vstate *s, sqlite3_stmt *checks_st, struct expcorpus_entry *e, struct kerr *err)
{
	size_t cap = 0;
	int r;

	sqlite3_reset(checks_st);
	sqlite3_bind_text(checks_st, 1, e->id, -1, SQLITE_TRANSIENT);
	while ((r = sqlite3_step(checks_st)) == SQLITE_ROW) {
		struct expcorpus_check *c;
		if (e->n_checks == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct expcorpus_check *p = realloc(e->checks, ncap * sizeof *p);
			if (!p)
				return kerr_set(err, "expcorpus.oom", "out of memory");
			e->checks = p;
			cap = ncap;
		}
		c = &e->checks[e->n_checks++];
		col_copy(checks_st, 0, c->name, sizeof c->name);
		col_copy(checks_st, 1, c->outcome, sizeof c->outcome);
		col_copy(checks_st, 2, c->code, sizeof c->code);
		col_copy(checks_st, 3, c->message, sizeof c->message);
		c->cpu_s = col_real(checks_st, 4);
	}
	if (r != SQLITE_DONE)
		return vstate_sql_error(s, "read checks", err);
	return 0;
}

#define CHECKS_SQL "SELECT name, outcome, code, message, cpu_s FROM checks WHERE submission_id = ? ORDER BY idx"

/* Binds a submission's id or manifest digest as ?1 and steps to its row. */
static int one_submission(struct vstate *s, sqlite3_stmt *st, const char *id, const char *what, struct kerr *err)
{
	int r;

	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_DONE)
		return kerr_set(err, "expcorpus.not_found", "%.80s: no such submission", id);
	if (r != SQLITE_ROW)
		return vstate_sql_error(s, what, err);
	return 0;
}

int expcorpus_get(struct vstate *s, const char *id, struct expcorpus_entry *e, struct kerr *err)
{
	sqlite3_stmt *st = NULL, *cst = NULL;
	int rc = -1;

	expcorpus_entry_blank(e);
	if (prepare(s, "SELECT " ENTRY_COLS " FROM submissions WHERE id = ?1 OR manifest_sha256 = ?1", &st,
		    "read submission", err) < 0 ||
	    prepare(s, CHECKS_SQL, &cst, "read checks", err) < 0)
		goto out;
	if (one_submission(s, st, id, "read submission", err) < 0 || entry_from_row(st, e, err) < 0)
		goto out;
	if (load_checks(s, cst, e, err) < 0) {
		expcorpus_entry_free(e);
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	sqlite3_finalize(cst);
	return rc;
}

int expcorpus_verdict_of(struct vstate *s, const char *id, struct expcorpus_verdict *v, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	memset(v, 0, sizeof *v);
	if (prepare(s, "SELECT verdict, reason_code, reason FROM submissions WHERE id = ?1 OR manifest_sha256 = ?1",
		    &st, "read verdict", err) < 0)
		return -1;
	if (one_submission(s, st, id, "read verdict", err) < 0)
		goto out;
	col_copy(st, 0, v->verdict, sizeof v->verdict);
	col_copy(st, 1, v->reason_code, sizeof v->reason_code);
	col_copy(st, 2, v->reason, sizeof v->reason);
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

/* A query for one submission id about a patch, a miner and a king: the
 * three bound as ?1, ?2, ?3 (the caller binds the rest, then first_id). */
static int id_query(struct vstate *s, const char *sql, const char *patch_sha256, const char *miner,
		    const char *king_tag, sqlite3_stmt **st, const char *what, struct kerr *err)
{
	if (prepare(s, sql, st, what, err) < 0)
		return -1;
	sqlite3_bind_text(*st, 1, patch_sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(*st, 2, miner, -1, SQLITE_STATIC);
	sqlite3_bind_text(*st, 3, king_tag, -1, SQLITE_STATIC);
	return 0;
}

/* Steps a bound query once: out gets its first column, "" when there is
 * no row. Finalizes st. */
static int first_id(struct vstate *s, sqlite3_stmt *st, char out[EXPCORPUS_ID_BYTES], const char *what,
		    struct kerr *err)
{
	int r = sqlite3_step(st);

	out[0] = '\0';
	if (r == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(out, EXPCORPUS_ID_BYTES, "%s", (const char *)sqlite3_column_text(st, 0));
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		vstate_sql_error(s, what, err);
	sqlite3_finalize(st);
	return r == SQLITE_ROW || r == SQLITE_DONE ? 0 : -1;
}

int expcorpus_pending_challenge(struct vstate *s, const char *patch_sha256, const char *miner, const char *king_tag,
				uint64_t seed, char out_id[EXPCORPUS_ID_BYTES], struct kerr *err)
{
	sqlite3_stmt *st = NULL;

	out_id[0] = '\0';
	if (id_query(s,
		     "SELECT id FROM submissions WHERE verdict = '" EXPCORPUS_CHALLENGE_PENDING "'"
		     " AND patch_sha256 = ?1 AND miner = ?2 AND king_tag = ?3 AND challenge_seed = ?4"
		     " ORDER BY received_at LIMIT 1",
		     patch_sha256, miner, king_tag, &st, "challenge lookup", err) < 0)
		return -1;
	sqlite3_bind_int64(st, 4, (sqlite3_int64)seed);
	return first_id(s, st, out_id, "challenge lookup", err);
}

int expcorpus_refused_answer(struct vstate *s, const char *original_id, int (*settles)(const char *code),
			     char out_id[EXPCORPUS_ID_BYTES], char code[KERR_CODE_MAX], struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	int r;

	out_id[0] = code[0] = '\0';
	if (prepare(s,
		    "SELECT id, coalesce(reason_code, ''), verdict = '" EXPCORPUS_REJECTED "' FROM submissions"
		    " WHERE challenge_of = ?1 AND verdict IN ('" EXPCORPUS_REJECTED "', '" EXPCORPUS_NOT_DECISIVE "', '"
		    EXPCORPUS_CHALLENGE_FAILED "') ORDER BY seq",
		    &st, "answer lookup", err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, original_id, -1, SQLITE_STATIC);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		const char *c = (const char *)sqlite3_column_text(st, 1);

		if (c && (!sqlite3_column_int(st, 2) || settles(c))) {
			snprintf(out_id, EXPCORPUS_ID_BYTES, "%s", (const char *)sqlite3_column_text(st, 0));
			snprintf(code, KERR_CODE_MAX, "%s", c);
			r = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return r == SQLITE_DONE ? 0 : vstate_sql_error(s, "answer lookup", err);
}

int expcorpus_earlier_claim(struct vstate *s, const char *patch_sha256, const char *final_sha256,
			    double hidden_bpb, int final_alone, const char *king_tag, const char *miner,
			    const char *before, char out_id[EXPCORPUS_ID_BYTES], struct kerr *err)
{
	sqlite3_stmt *st = NULL;

	out_id[0] = '\0';
	if (id_query(s,
		     /* the earliest claim, whoever made it, and only then
		      * whether it is another key's: a copy of the first
		      * claim must not make its author's own resubmission a
		      * copy of the copy; by patch, or by trained model under
		      * another patch text. Whose it is: the end of its
		      * credit, as the weights follow it (weights.c,
		      * credited_miner), so that a claim of one's own that was
		      * itself a copy of another key's model does not crown
		      * one key while the epoch pays the other */
		     "WITH RECURSIVE first(id) AS (SELECT id FROM submissions"
		     " WHERE (patch_sha256 = ?1 OR (final_sha256 = ?5 AND (?7 OR hidden_bpb = ?6))) AND king_tag = ?3"
		     " AND verdict <> '" EXPCORPUS_REJECTED "'"
		     " AND (?4 IS NULL OR seq < (SELECT seq FROM submissions WHERE id = ?4))"
		     " ORDER BY seq LIMIT 1),"
		     " credit(id, miner, next, hop) AS (SELECT s.id, s.miner, s.credited_to, 0 FROM submissions AS s"
		     " JOIN first AS f ON s.id = f.id UNION ALL SELECT s.id, s.miner, s.credited_to, c.hop + 1"
		     " FROM credit AS c JOIN submissions AS s ON s.id = c.next WHERE c.next <> c.id AND c.hop < ?8)"
		     " SELECT id FROM (SELECT id, miner FROM credit ORDER BY hop DESC LIMIT 1) WHERE miner <> ?2",
		     patch_sha256, miner, king_tag, &st, "credit lookup", err) < 0)
		return -1;
	if (before)
		sqlite3_bind_text(st, 4, before, -1, SQLITE_STATIC);
	bind_text(st, 5, final_sha256);
	bind_real(st, 6, hidden_bpb);
	sqlite3_bind_int(st, 7, final_alone != 0);
	sqlite3_bind_int(st, 8, EXPCORPUS_CREDIT_HOPS_MAX);
	return first_id(s, st, out_id, "credit lookup", err);
}

int expcorpus_counts(struct vstate *s, long long counts[EXPCORPUS_VERDICTS], long long *answers,
		     struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	int rc = -1, r;

	memset(counts, 0, EXPCORPUS_VERDICTS * sizeof counts[0]);
	if (answers)
		*answers = 0;
	/* A challenge answer's outcome is also the verdict of the submission
	 * it answers (the judge settles that one): counting both would count
	 * one king change, or one failed challenge, twice. */
	if (prepare(s,
		    "SELECT verdict, count(*), challenge_of IS NOT NULL FROM submissions"
		    " GROUP BY verdict, challenge_of IS NOT NULL",
		    &st, "count", err) < 0)
		return -1;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);

		if (sqlite3_column_int(st, 2)) {
			if (answers)
				*answers += sqlite3_column_int64(st, 1);
			continue;
		}
		for (int i = 0; i < EXPCORPUS_VERDICTS; i++)
			if (v && !strcmp(v, expcorpus_verdicts[i]))
				counts[i] = sqlite3_column_int64(st, 1);
	}
	if (r != SQLITE_DONE) {
		vstate_sql_error(s, "count", err);
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

int expcorpus_miners(struct vstate *s, const char *after, size_t limit, struct expcorpus_miner **out, size_t *n,
		     struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	struct expcorpus_miner *v = NULL, *nv;
	size_t cap = 0;
	int rc = -1, r;

	*out = NULL;
	*n = 0;
	if (prepare(s,
		    /* a crowning is its original's: the answer that confirmed
		     * it is accepted_king too, and counted it twice */
		    "SELECT miner, count(*), sum(verdict = 'accepted_king' AND challenge_of IS NULL), total(judge_cpu_s),"
		    " max(received_at) FROM submissions WHERE miner > ?1 GROUP BY miner ORDER BY miner LIMIT ?2",
		    &st, "miners", err) < 0)
		return -1;
	/* a range of submissions_by_miner: every key sorts after '' (a NULL
	 * miner after none), and a page stops reading at its limit */
	sqlite3_bind_text(st, 1, after ? after : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, limit ? (sqlite3_int64)limit : -1);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		const char *m = (const char *)sqlite3_column_text(st, 0), *at;
		if (*n == cap) {
			cap = cap ? 2 * cap : 16;
			if (!(nv = realloc(v, cap * sizeof *v))) {
				kerr_set(err, "expcorpus.oom", "out of memory listing miners");
				goto out;
			}
			v = nv;
		}
		memset(&v[*n], 0, sizeof v[*n]);
		snprintf(v[*n].miner, sizeof v[*n].miner, "%s", m ? m : "");
		v[*n].submissions = sqlite3_column_int64(st, 1);
		v[*n].kings = sqlite3_column_int64(st, 2);
		v[*n].judge_cpu_s = sqlite3_column_double(st, 3);
		at = (const char *)sqlite3_column_text(st, 4);
		snprintf(v[*n].last_at, sizeof v[*n].last_at, "%s", at ? at : "");
		(*n)++;
	}
	if (r != SQLITE_DONE) {
		vstate_sql_error(s, "miners", err);
		goto out;
	}
	*out = v;
	v = NULL;
	rc = 0;
out:
	if (rc < 0)
		*n = 0;
	free(v);
	sqlite3_finalize(st);
	return rc;
}

int expcorpus_judge_cpu_s(struct vstate *s, double *total, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	*total = 0;
	if (prepare(s, "SELECT total(judge_cpu_s) FROM submissions WHERE miner IS NOT NULL", &st, "judge cpu", err) < 0)
		return -1;
	if (sqlite3_step(st) != SQLITE_ROW) {
		vstate_sql_error(s, "judge cpu", err);
		goto out;
	}
	*total = sqlite3_column_double(st, 0);
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

/* ---------------------------------------------------------------- search */

#define HIT_COLS "s.id, s.verdict, s.reason_code, s.miner, s.king_tag, s.received_at, s.hidden_bpb"
#define FILTERS "(?2 IS NULL OR s.verdict = ?2) AND (?3 IS NULL OR s.received_at >= ?3)"

static const char search_sql[] =
	"SELECT " HIT_COLS ", " RANK_EXPR ", snippet(corpus_fts, -1, '[', ']', '...', " SNIPPET_TOKENS "),"
	" s.judge_cpu_s FROM corpus_fts JOIN submissions s ON s.seq = corpus_fts.rowid"
	" WHERE corpus_fts MATCH ?1 AND " FILTERS " ORDER BY 8, s.seq LIMIT ?4";
/* Without a query: newest first, the rationale's opening as the snippet.
 * ?1 is unused here and bound to NULL, so both texts take the same binds. */
static const char list_sql[] = "SELECT " HIT_COLS ", 0.0, substr(s.rationale, 1, 160), s.judge_cpu_s"
			       " FROM submissions s WHERE " FILTERS
			       " ORDER BY s.received_at DESC, s.seq DESC LIMIT ?4";

/* A snippet on one line, ready to print. */
static void flatten(char *p)
{
	for (; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
}

static int search_tick(void *arg)
{
	uint64_t *left = arg;

	if (*left < EXPCORPUS_OPS_TICK)
		return 1; /* interrupts the statement */
	*left -= EXPCORPUS_OPS_TICK;
	return 0;
}

int expcorpus_search(struct vstate *s, const struct expcorpus_query *q, struct expcorpus_hit **hits, size_t *n,
		     struct kerr *err)
{
	uint64_t ops_max = q->ops_max ? q->ops_max : EXPCORPUS_SEARCH_OPS_MAX, left = ops_max;
	int has_text = q->text && q->text[0];
	int limit = q->limit ? q->limit : EXPCORPUS_LIMIT_DEFAULT, r, rc = -1;
	sqlite3_stmt *st = NULL;
	struct expcorpus_hit *out = NULL;
	size_t count = 0;

	*hits = NULL;
	*n = 0;
	if (limit < 1 || limit > EXPCORPUS_LIMIT_MAX)
		return kerr_set(err, "expcorpus.invalid", "limit %d: must be 1..%d", limit, EXPCORPUS_LIMIT_MAX);
	if (q->verdict && !expcorpus_verdict_valid(q->verdict))
		return kerr_set(err, "expcorpus.invalid", "verdict '%.24s': one of accepted_king, not_decisive, "
				"challenge_pending, challenge_failed, rejected", q->verdict);
	if (q->since && !is_time(q->since, -1))
		return kerr_set(err, "expcorpus.invalid", "since '%.24s': YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ",
				q->since);
	if (has_text && strlen(q->text) > EXPCORPUS_QUERY_BYTES_MAX)
		return kerr_set(err, "expcorpus.bad_query", "query over %d bytes", EXPCORPUS_QUERY_BYTES_MAX);
	out = calloc((size_t)limit, sizeof *out);
	if (!out)
		return kerr_set(err, "expcorpus.oom", "out of memory");
	if (prepare(s, has_text ? search_sql : list_sql, &st, "search", err) < 0)
		goto out;
	bind_text(st, 1, has_text ? q->text : NULL);
	bind_text(st, 2, q->verdict);
	bind_text(st, 3, q->since);
	sqlite3_bind_int(st, 4, limit);
	sqlite3_progress_handler(s->db, EXPCORPUS_OPS_TICK, search_tick, &left);
	while ((r = sqlite3_step(st)) == SQLITE_ROW && count < (size_t)limit) {
		struct expcorpus_hit *h = &out[count++];
		col_copy(st, 0, h->id, sizeof h->id);
		col_copy(st, 1, h->verdict, sizeof h->verdict);
		col_copy(st, 2, h->reason_code, sizeof h->reason_code);
		col_copy(st, 3, h->miner, sizeof h->miner);
		col_copy(st, 4, h->king_tag, sizeof h->king_tag);
		col_copy(st, 5, h->received_at, sizeof h->received_at);
		h->hidden_bpb = col_real(st, 6);
		h->rank = sqlite3_column_double(st, 7);
		col_copy(st, 8, h->snippet, sizeof h->snippet);
		flatten(h->snippet);
		h->judge_cpu_s = col_real(st, 9);
	}
	sqlite3_progress_handler(s->db, 0, NULL, NULL);
	if (r != SQLITE_DONE && r != SQLITE_ROW) {
		/* With a query, the one input SQLite parses is the query: its
		 * complaint ("fts5: syntax error near ...") is the user's to read. */
		if ((r & 0xff) == SQLITE_INTERRUPT)
			kerr_set(err, "expcorpus.query_too_costly",
				 "search '%.200s' took more than %llu steps of the database: narrow it (fewer OR terms, "
				 "longer prefixes, a verdict or since filter)",
				 has_text ? q->text : "", (unsigned long long)ops_max);
		else if (has_text && (r & 0xff) == SQLITE_ERROR)
			kerr_set(err, "expcorpus.bad_query", "search '%.200s': %s", q->text, sqlite3_errmsg(s->db));
		else
			vstate_sql_error(s, "search", err);
		goto out;
	}
	*hits = out;
	*n = count;
	out = NULL;
	rc = 0;
out:
	sqlite3_finalize(st);
	free(out);
	return rc;
}

/* ---------------------------------------------------------------- export */

static json_t *real_or_null(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static json_t *text_or_null(const char *t)
{
	return t && *t ? json_string(t) : json_null();
}

static json_t *i64_or_null(int64_t v)
{
	return v >= 0 ? json_integer((json_int_t)v) : json_null();
}

json_t *expcorpus_entry_json(const struct expcorpus_entry *e)
{
	json_t *o = json_object(), *cs = json_array();

	if (!o || !cs)
		goto fail;
	/* Field order is the documented column order (JSON_PRESERVE_ORDER). */
	json_object_set_new(o, "id", json_string(e->id));
	json_object_set_new(o, "manifest_sha256", json_string(e->manifest_sha256));
	json_object_set_new(o, "patch_sha256", json_string(e->patch_sha256));
	json_object_set_new(o, "miner", text_or_null(e->miner));
	json_object_set_new(o, "king_tag", text_or_null(e->king_tag));
	json_object_set_new(o, "seed", i64_or_null(e->seed));
	json_object_set_new(o, "scale", text_or_null(e->scale));
	json_object_set_new(o, "received_at", json_string(e->received_at));
	json_object_set_new(o, "judged_at", json_string(e->judged_at));
	json_object_set_new(o, "verdict", json_string(e->verdict));
	json_object_set_new(o, "reason_code", text_or_null(e->reason_code));
	json_object_set_new(o, "reason", text_or_null(e->reason));
	json_object_set_new(o, "claimed_public_bpb", real_or_null(e->claimed_public_bpb));
	json_object_set_new(o, "public_bpb", real_or_null(e->public_bpb));
	json_object_set_new(o, "hidden_bpb", real_or_null(e->hidden_bpb));
	json_object_set_new(o, "king_bpb", real_or_null(e->king_bpb));
	json_object_set_new(o, "margin", real_or_null(e->margin));
	json_object_set_new(o, "attest_kind", text_or_null(e->attest_kind));
	json_object_set_new(o, "alpha", real_or_null(e->alpha));
	json_object_set_new(o, "proof_cpu_s", real_or_null(e->proof_cpu_s));
	json_object_set_new(o, "judge_cpu_s", real_or_null(e->judge_cpu_s));
	json_object_set_new(o, "credited_to", text_or_null(e->credited_to));
	json_object_set_new(o, "challenge_of", text_or_null(e->challenge_of));
	json_object_set_new(o, "challenge_seed", i64_or_null(e->challenge_seed));
	json_object_set_new(o, "final_sha256", text_or_null(e->final_sha256));
	for (size_t i = 0; i < e->n_checks; i++) {
		const struct expcorpus_check *c = &e->checks[i];
		json_t *cj = json_pack("{s:I, s:s, s:s, s:o, s:o, s:o}", "idx", (json_int_t)i, "name", c->name,
				       "outcome", c->outcome, "code", text_or_null(c->code), "message",
				       text_or_null(c->message), "cpu_s", real_or_null(c->cpu_s));
		if (!cj)
			goto fail;
		json_array_append_new(cs, cj);
	}
	json_object_set_new(o, "checks", cs);
	cs = NULL;
	json_object_set_new(o, "rationale", json_string(e->rationale ? e->rationale : ""));
	json_object_set_new(o, "patch", json_string(e->patch ? e->patch : ""));
	return o;
fail:
	json_decref(cs);
	json_decref(o);
	return NULL;
}

/* RFC 4180: every text field quoted, quotes doubled; newlines kept inside
 * the quotes. Numbers bare, absent values empty. */
static void csv_text(FILE *f, const char *t)
{
	fputc('"', f);
	for (; t && *t; t++) {
		if (*t == '"')
			fputc('"', f);
		fputc(*t, f);
	}
	fputc('"', f);
}

/* Shortest decimal that reads back to the same double. */
static void csv_real(FILE *f, double v)
{
	char buf[40];

	if (!isfinite(v))
		return;
	snprintf(buf, sizeof buf, "%.15g", v);
	if (strtod(buf, NULL) != v)
		snprintf(buf, sizeof buf, "%.17g", v);
	fputs(buf, f);
}

static void csv_i64(FILE *f, int64_t v)
{
	if (v >= 0)
		fprintf(f, "%lld", (long long)v);
}

static const char csv_header[] =
	"id,manifest_sha256,patch_sha256,miner,king_tag,seed,scale,received_at,judged_at,verdict,reason_code,"
	"reason,claimed_public_bpb,public_bpb,hidden_bpb,king_bpb,margin,attest_kind,alpha,proof_cpu_s,"
	"judge_cpu_s,credited_to,challenge_of,challenge_seed,final_sha256,checks,rationale,patch\r\n";

static void csv_row(FILE *f, const struct expcorpus_entry *e)
{
	const char *texts1[] = { e->id, e->manifest_sha256, e->patch_sha256, e->miner, e->king_tag };
	const char *texts2[] = { e->received_at, e->judged_at, e->verdict, e->reason_code, e->reason };
	const double reals[] = { e->claimed_public_bpb, e->public_bpb, e->hidden_bpb, e->king_bpb, e->margin };
	const double costs[] = { e->alpha, e->proof_cpu_s, e->judge_cpu_s };

	for (size_t i = 0; i < 5; i++)
		csv_text(f, texts1[i]), fputc(',', f);
	csv_i64(f, e->seed), fputc(',', f);
	csv_text(f, e->scale), fputc(',', f);
	for (size_t i = 0; i < 5; i++)
		csv_text(f, texts2[i]), fputc(',', f);
	for (size_t i = 0; i < 5; i++)
		csv_real(f, reals[i]), fputc(',', f);
	csv_text(f, e->attest_kind), fputc(',', f);
	for (size_t i = 0; i < 3; i++)
		csv_real(f, costs[i]), fputc(',', f);
	csv_text(f, e->credited_to), fputc(',', f);
	csv_text(f, e->challenge_of), fputc(',', f);
	csv_i64(f, e->challenge_seed), fputc(',', f);
	csv_text(f, e->final_sha256), fputc(',', f);
	/* checks as name:outcome[:code] joined by ';' (details in jsonl) */
	fputc('"', f);
	for (size_t i = 0; i < e->n_checks; i++) {
		const struct expcorpus_check *c = &e->checks[i];
		fprintf(f, "%s%s:%s", i ? ";" : "", c->name, c->outcome);
		if (c->code[0])
			fprintf(f, ":%s", c->code);
	}
	fputc('"', f);
	fputc(',', f);
	csv_text(f, e->rationale), fputc(',', f);
	csv_text(f, e->patch);
	fputs("\r\n", f);
}

int expcorpus_export(struct vstate *s, enum expcorpus_format fmt, FILE *out, struct kerr *err)
{
	sqlite3_stmt *st = NULL, *cst = NULL;
	struct expcorpus_entry e;
	int own = sqlite3_get_autocommit(s->db), rc = -1, r;

	/* One read transaction: the export is a consistent snapshot even while
	 * the judge keeps recording (WAL). Inside a caller's transaction that
	 * one already is. */
	if (own && sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return vstate_sql_error(s, "begin export", err);
	if (prepare(s, "SELECT " ENTRY_COLS " FROM submissions ORDER BY seq", &st, "export", err) < 0 ||
	    prepare(s, CHECKS_SQL, &cst, "export checks", err) < 0)
		goto out;
	if (fmt == EXPCORPUS_CSV)
		fputs(csv_header, out);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		if (entry_from_row(st, &e, err) < 0)
			goto out;
		if (load_checks(s, cst, &e, err) < 0) {
			expcorpus_entry_free(&e);
			goto out;
		}
		if (fmt == EXPCORPUS_CSV) {
			csv_row(out, &e);
		} else {
			json_t *j = expcorpus_entry_json(&e);
			if (!j || json_dumpf(j, out, JSON_COMPACT | JSON_PRESERVE_ORDER) < 0) {
				json_decref(j);
				expcorpus_entry_free(&e);
				kerr_set(err, "expcorpus.export", "%s: cannot write JSON", e.id);
				goto out;
			}
			json_decref(j);
			fputc('\n', out);
		}
		expcorpus_entry_free(&e);
	}
	if (r != SQLITE_DONE) {
		vstate_sql_error(s, "export", err);
		goto out;
	}
	if (fflush(out) != 0 || ferror(out)) {
		kerr_errno(err, "expcorpus.export", "write");
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	sqlite3_finalize(cst);
	if (own)
		sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	return rc;
}

/* ---------------------------------------------------------------- cite */

void expcorpus_cite_entry(const struct expcorpus_entry *e, char out[EXPCORPUS_CITE_MAX])
{
	snprintf(out, EXPCORPUS_CITE_MAX, "Karpa corpus, submission %s (manifest sha256 %s, verdict %s%s%s), judged %.10s",
		 e->id, e->manifest_sha256, e->verdict, e->reason_code[0] ? ": " : "", e->reason_code, e->judged_at);
}

int expcorpus_cite(struct vstate *s, const char *id, char out[EXPCORPUS_CITE_MAX], struct kerr *err)
{
	struct expcorpus_entry e;

	if (expcorpus_get(s, id, &e, err) < 0)
		return -1;
	expcorpus_cite_entry(&e, out);
	expcorpus_entry_free(&e);
	return 0;
}
