/* trainlog.c: writing and verifying the hash-chained training log. Each line
 * goes out in one write(2), so a crash can only leave a partial last line,
 * which the verifier reports as log.parse. Lines are fsynced at checkpoints
 * and at close (docs/harness.md has the measured cost of fsync per line). */
#include "harness/trainlog.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/fsutil.h"

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

/* One line: canonical JSON whose prev is the running head. */
static int check_line(const char *line, size_t n, int64_t lineno, char head[HASH_HEX_BYTES],
		      struct trainlog_summary *s, json_int_t *tokens, double *wall, struct kerr *err)
{
	json_error_t je;
	json_t *o = json_loadb(line, n, JSON_REJECT_DUPLICATES, &je);
	const char *prev;
	char *again = NULL;
	int rc = -1;

	if (!o || !json_is_object(o)) {
		kerr_set(err, "log.parse", "line %lld: not a JSON object%s%s", (long long)lineno,
			 o ? "" : ": ", o ? "" : je.text);
		goto out;
	}
	again = json_dumps(o, TRAINLOG_DUMP_FLAGS);
	if (!again || strlen(again) != n || memcmp(again, line, n) != 0) {
		kerr_set(err, "log.not_canonical", "line %lld: not in canonical form", (long long)lineno);
		goto out;
	}
	prev = json_string_value(json_object_get(o, "prev"));
	if (!prev || strcmp(prev, head) != 0) {
		kerr_set(err, "log.chain_broken", "line %lld: prev does not match the hash of line %lld",
			 (long long)lineno, (long long)lineno - 1);
		goto out;
	}
	if (check_record(o, lineno, s, tokens, wall, err) < 0)
		goto out;
	hash_buf_hex(line, n, head);
	rc = 0;
out:
	free(again);
	json_decref(o);
	return rc;
}

int trainlog_verify(const char *path, struct trainlog_summary *s, struct kerr *err)
{
	char *text = NULL, head[HASH_HEX_BYTES];
	size_t len = 0, pos = 0;
	json_int_t tokens = 0;
	double wall = 0;
	int rc = -1;

	memset(s, 0, sizeof *s);
	s->last_step = -1;
	memcpy(head, TRAINLOG_GENESIS, HASH_HEX_BYTES);
	if (fs_read_all(path, TRAINLOG_BYTES_MAX, &text, &len, err) < 0)
		return -1;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n;
		if (!nl) {
			kerr_set(err, "log.parse", "%s: line %lld has no newline (truncated write?)", path,
				 (long long)s->lines + 1);
			goto out;
		}
		n = (size_t)(nl - (text + pos));
		if (n == 0 || n >= TRAINLOG_LINE_MAX) {
			kerr_set(err, "log.parse", "%s: line %lld is empty or too long", path,
				 (long long)s->lines + 1);
			goto out;
		}
		if (check_line(text + pos, n, s->lines + 1, head, s, &tokens, &wall, err) < 0) {
			kerr_prefix(err, "%s", path);
			goto out;
		}
		s->lines++;
		pos += n + 1;
	}
	if (s->lines == 0) {
		kerr_set(err, "log.no_header", "%s: empty log", path);
		goto out;
	}
	memcpy(s->head, head, HASH_HEX_BYTES);
	rc = 0;
out:
	free(text);
	return rc;
}
