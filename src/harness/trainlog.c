/* trainlog.c: writing and verifying the hash-chained training log. Each line
 * goes out in one write(2), so a crash can only leave a partial last line,
 * which the verifier reports as log.parse. Lines are fsynced at checkpoints
 * and at close (docs/harness.md has the measured cost of fsync per line). */
#include "harness/trainlog.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fsutil.h"
#include "util/jsonmem.h"

#define TRAINLOG_DUMP_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17))

/* Adds prev, serializes canonically, appends one line, advances the chain.
 * Takes ownership of o. */
static int emit(struct trainlog *l, json_t *o, struct kerr *err)
{
	char *s = NULL;
	size_t n;
	int rc = -1;

	if (!o || json_object_set_new(o, "prev", json_string(l->prev)) < 0) {
		kerr_set(err, "log.encode", "%s: cannot encode record (non-finite number?)", l->path);
		goto out;
	}
	if (!(s = json_dumps(o, TRAINLOG_DUMP_FLAGS))) {
		kerr_set(err, "log.encode", "%s: cannot serialize record", l->path);
		goto out;
	}
	n = strlen(s);
	if (n + 1 > TRAINLOG_LINE_MAX) {
		kerr_set(err, "log.encode", "%s: record of %zu bytes exceeds %d", l->path, n,
			 TRAINLOG_LINE_MAX);
		goto out;
	}
	hash_buf_hex(s, n, l->prev);
	s[n] = '\n'; /* replaces the NUL: the line goes out in one write */
	if (fs_write_fd(l->fd, s, n + 1, l->path, err) < 0)
		goto out;
	l->lines++;
	rc = 0;
out:
	free(s);
	json_decref(o);
	return rc;
}

int trainlog_open(struct trainlog *l, const char *path, const struct trainlog_header *h,
		  struct kerr *err)
{
	json_t *o;

	memset(l, 0, sizeof *l);
	l->fd = -1;
	if (fs_join(l->path, sizeof l->path, err, "%s", path) < 0)
		return -1;
	memcpy(l->prev, TRAINLOG_GENESIS, HASH_HEX_BYTES);
	l->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
	if (l->fd < 0)
		return kerr_errno(err, "fs.create", path);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:I, s:I, s:i, s:i}", "event",
		      "header", "format", TRAINLOG_FORMAT, "harness", TRAINLOG_HARNESS_VERSION,
		      "recipe", h->recipe, "recipe_version", h->recipe_version, "seed",
		      (json_int_t)h->seed, "scale", h->scale, "data", h->data_digest, "tokenizer",
		      h->tokenizer_digest, "steps", (json_int_t)h->steps, "params",
		      (json_int_t)h->params, "batch", h->batch, "seq_len", h->seq_len);
	if (emit(l, o, err) < 0) {
		close(l->fd);
		l->fd = -1;
		return -1;
	}
	return 0;
}

int trainlog_step(struct trainlog *l, int64_t step, uint64_t tokens, double lr, double loss,
		  double wall_ms, double tok_per_s, struct kerr *err)
{
	return emit(l,
		    json_pack("{s:s, s:I, s:I, s:f, s:f, s:f, s:f}", "event", "step", "step",
			      (json_int_t)step, "tokens", (json_int_t)tokens, "lr", lr, "loss", loss,
			      "wall_ms", wall_ms, "tok_per_s", tok_per_s),
		    err);
}

static int sync_fd(struct trainlog *l, struct kerr *err)
{
	if (fsync(l->fd) < 0)
		return kerr_errno(err, "fs.fsync", l->path);
	return 0;
}

int trainlog_checkpoint(struct trainlog *l, int64_t step, const char *file,
			const char *sha256_hex, struct kerr *err)
{
	if (emit(l,
		 json_pack("{s:s, s:I, s:s, s:s}", "event", "checkpoint", "step", (json_int_t)step,
			   "file", file, "sha256", sha256_hex),
		 err) < 0)
		return -1;
	return sync_fd(l, err);
}

int trainlog_eval(struct trainlog *l, const char *split, double val_bpb, double loss,
		  uint64_t tokens, uint64_t bytes, struct kerr *err)
{
	return emit(l,
		    json_pack("{s:s, s:s, s:f, s:f, s:I, s:I}", "event", "eval", "split", split,
			      "val_bpb", val_bpb, "loss", loss, "tokens", (json_int_t)tokens, "bytes",
			      (json_int_t)bytes),
		    err);
}

int trainlog_close(struct trainlog *l, struct kerr *err)
{
	int rc = 0;

	if (l->fd < 0)
		return 0;
	if (sync_fd(l, err) < 0)
		rc = -1;
	close(l->fd);
	l->fd = -1;
	return rc;
}

/* ---- reading ----------------------------------------------------------- */

int trainlog_iter_open(struct trainlog_iter *it, const char *path, struct kerr *err)
{
	struct stat sb;

	memset(it, 0, sizeof *it);
	it->fd = -1;
	if (fs_join(it->path, sizeof it->path, err, "%s", path) < 0)
		return -1;
	it->fd = fs_open_regular(path, O_NOFOLLOW, &sb, err);
	if (it->fd < 0)
		return -1;
	it->size = (uint64_t)sb.st_size;
	if (it->size > TRAINLOG_BYTES_MAX) {
		kerr_set(err, "fs.too_large", "%s: %llu bytes exceeds the limit of %zu", path,
			 (unsigned long long)it->size, TRAINLOG_BYTES_MAX);
		trainlog_iter_close(it);
		return -1;
	}
	if (!(it->buf = malloc(TRAINLOG_LINE_MAX + 1))) {
		kerr_set(err, "fs.nomem", "%s: out of memory", path);
		trainlog_iter_close(it);
		return -1;
	}
	return 0;
}

void trainlog_iter_close(struct trainlog_iter *it)
{
	if (it->fd >= 0)
		close(it->fd);
	it->fd = -1;
	free(it->buf);
	it->buf = NULL;
	json_decref(it->obj);
	it->obj = NULL;
}

/* Refills buf after the unread bytes; sets eof at the end of the file. */
static int fill(struct trainlog_iter *it, struct kerr *err)
{
	ssize_t r;

	memmove(it->buf, it->buf + it->start, it->end - it->start);
	it->end -= it->start;
	it->start = 0;
	do
		r = read(it->fd, it->buf + it->end, TRAINLOG_LINE_MAX - it->end);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return kerr_errno(err, "fs.read", it->path);
	if (r == 0 || (it->bytes += (uint64_t)r) > TRAINLOG_BYTES_MAX)
		it->eof = 1; /* a file that grew past the limit is read no further */
	it->end += (size_t)r;
	return 0;
}

static double real_or_nan(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

static int64_t int_or(json_t *o, const char *k, int64_t dflt)
{
	json_t *v = json_object_get(o, k);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

static void type_record(struct trainlog_rec *r)
{
	static const struct {
		const char *name;
		enum trainlog_kind kind;
	} kinds[] = { { "header", TRAINLOG_REC_HEADER }, { "step", TRAINLOG_REC_STEP },
		      { "checkpoint", TRAINLOG_REC_CHECKPOINT }, { "eval", TRAINLOG_REC_EVAL } };
	json_t *o = r->obj;

	r->event = json_string_value(json_object_get(o, "event"));
	for (size_t i = 0; r->event && i < sizeof kinds / sizeof kinds[0]; i++)
		if (!strcmp(r->event, kinds[i].name))
			r->kind = kinds[i].kind;
	r->step = int_or(o, "step", -1);
	r->tokens = int_or(o, "tokens", -1);
	r->lr = real_or_nan(o, "lr");
	r->loss = real_or_nan(o, "loss");
	r->wall_ms = real_or_nan(o, "wall_ms");
	r->tok_per_s = real_or_nan(o, "tok_per_s");
	r->val_bpb = real_or_nan(o, "val_bpb");
	r->file = json_string_value(json_object_get(o, "file"));
	r->sha256 = json_string_value(json_object_get(o, "sha256"));
	r->split = json_string_value(json_object_get(o, "split"));
}

int trainlog_iter_next(struct trainlog_iter *it, struct trainlog_rec *r, struct kerr *err)
{
	const char *nl;
	json_error_t je;
	size_t n;

	memset(r, 0, sizeof *r);
	json_decref(it->obj);
	it->obj = NULL;
	if (!it->buf)
		return kerr_set(err, "log.parse", "%s: not open", it->path);
	while (!(nl = memchr(it->buf + it->start, '\n', it->end - it->start)) && !it->eof &&
	       it->end - it->start < TRAINLOG_LINE_MAX)
		if (fill(it, err) < 0)
			return -1;
	if (!nl && it->start == it->end)
		return 0;
	n = nl ? (size_t)(nl - (it->buf + it->start)) : it->end - it->start;
	it->lineno++;
	if (!nl)
		return kerr_set(err, "log.parse", "%s: line %lld %s", it->path, (long long)it->lineno,
				n >= TRAINLOG_LINE_MAX ? "is too long" : "has no newline (truncated write?)");
	if (n == 0)
		return kerr_set(err, "log.parse", "%s: line %lld is empty", it->path, (long long)it->lineno);
	r->lineno = it->lineno;
	r->line = it->buf + it->start;
	r->len = n;
	it->start += n + 1;
	if (jsonmem_loadb(r->line, n, &it->obj, &je, "log.nomem", err) < 0) {
		kerr_prefix(err, "%s: line %lld", it->path, (long long)it->lineno);
		return -1;
	}
	if (!it->obj || !json_is_object(it->obj))
		return kerr_set(err, "log.parse", "%s: line %lld: not a JSON object%s%s", it->path,
				(long long)it->lineno, it->obj ? "" : ": ", it->obj ? "" : je.text);
	r->obj = it->obj;
	type_record(r);
	return 1;
}

/* ---- verification ----------------------------------------------------- */

static int check_record(json_t *o, int64_t lineno, struct trainlog_summary *s, json_int_t *tokens,
			double *wall, struct kerr *err)
{
	const char *ev = json_string_value(json_object_get(o, "event"));

	if (!ev)
		return kerr_set(err, "log.parse", "line %lld: no \"event\" field", (long long)lineno);
	if (lineno == 1) {
		const char *fmt = json_string_value(json_object_get(o, "format"));
		if (strcmp(ev, "header") != 0 || !fmt || strcmp(fmt, TRAINLOG_FORMAT) != 0)
			return kerr_set(err, "log.no_header", "line 1 is not a %s header record",
					TRAINLOG_FORMAT);
		return 0;
	}
	if (!strcmp(ev, "header"))
		return kerr_set(err, "log.bad_order", "line %lld: second header record", (long long)lineno);
	if (!strcmp(ev, "step")) {
		json_t *st = json_object_get(o, "step"), *tk = json_object_get(o, "tokens");
		json_t *wm = json_object_get(o, "wall_ms");
		if (!json_is_integer(st) || !json_is_integer(tk) || !json_is_real(wm) ||
		    !json_is_real(json_object_get(o, "loss")) || !json_is_real(json_object_get(o, "lr")))
			return kerr_set(err, "log.parse", "line %lld: step record lacks a field",
					(long long)lineno);
		if (json_integer_value(st) != s->last_step + 1)
			return kerr_set(err, "log.bad_order", "line %lld: step %lld follows step %lld",
					(long long)lineno, (long long)json_integer_value(st),
					(long long)s->last_step);
		if (json_integer_value(tk) < *tokens || json_real_value(wm) < *wall)
			return kerr_set(err, "log.bad_order", "line %lld: tokens or wall_ms went backwards",
					(long long)lineno);
		s->last_step = json_integer_value(st);
		s->steps++;
		*tokens = json_integer_value(tk);
		*wall = json_real_value(wm);
	} else if (!strcmp(ev, "checkpoint")) {
		const char *sha = json_string_value(json_object_get(o, "sha256"));
		if (!hash_is_hex(sha, HASH_HEX_BYTES - 1) || !json_is_integer(json_object_get(o, "step")))
			return kerr_set(err, "log.parse", "line %lld: checkpoint record lacks sha256 or step",
					(long long)lineno);
		s->checkpoints++;
	}
	return 0;
}

/* One record: canonical JSON whose prev is the running head. */
static int check_line(const struct trainlog_rec *rec, char head[HASH_HEX_BYTES], struct trainlog_summary *s,
		      json_int_t *tokens, double *wall, struct kerr *err)
{
	const char *prev;
	char *again;
	int rc = -1;

	if (!(again = jsonmem_dumps(rec->obj, TRAINLOG_DUMP_FLAGS, "log.nomem", err))) {
		kerr_prefix(err, "line %lld", (long long)rec->lineno);
		goto out;
	}
	if (strlen(again) != rec->len || memcmp(again, rec->line, rec->len) != 0) {
		kerr_set(err, "log.not_canonical", "line %lld: not in canonical form", (long long)rec->lineno);
		goto out;
	}
	prev = json_string_value(json_object_get(rec->obj, "prev"));
	if (!prev || strcmp(prev, head) != 0) {
		kerr_set(err, "log.chain_broken", "line %lld: prev does not match the hash of line %lld",
			 (long long)rec->lineno, (long long)rec->lineno - 1);
		goto out;
	}
	if (check_record(rec->obj, rec->lineno, s, tokens, wall, err) < 0)
		goto out;
	hash_buf_hex(rec->line, rec->len, head);
	rc = 0;
out:
	free(again);
	return rc;
}

int trainlog_verify(const char *path, struct trainlog_summary *s, struct kerr *err)
{
	struct trainlog_iter it;
	struct trainlog_rec rec;
	char head[HASH_HEX_BYTES];
	json_int_t tokens = 0;
	double wall = 0;
	int rc = -1, r;

	memset(s, 0, sizeof *s);
	s->last_step = -1;
	memcpy(head, TRAINLOG_GENESIS, HASH_HEX_BYTES);
	if (trainlog_iter_open(&it, path, err) < 0)
		return -1;
	while ((r = trainlog_iter_next(&it, &rec, err)) == 1) {
		if (check_line(&rec, head, s, &tokens, &wall, err) < 0) {
			kerr_prefix(err, "%s", path);
			goto out;
		}
		s->lines++;
	}
	if (r < 0)
		goto out;
	if (s->lines == 0) {
		kerr_set(err, "log.no_header", "%s: empty log", path);
		goto out;
	}
	memcpy(s->head, head, HASH_HEX_BYTES);
	rc = 0;
out:
	trainlog_iter_close(&it);
	return rc;
}
