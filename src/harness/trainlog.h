/* trainlog.h: the training log, a hash chain of JSON lines (fixed harness,
 * PROTOCOL 4.4). Owns the record format, the chain rule and its verifier.
 * Never rewrites a line once written: the log is append-only.
 *
 * Every line is one canonical JSON object (jansson, compact, sorted keys,
 * reals printed with 17 significant digits so they round-trip exactly) with
 * a "prev" field: the SHA-256 hex of the previous line's bytes (without its
 * newline). Line 1 is the header record naming the run; its prev is 64 zeros.
 * The chain head is the SHA-256 of the last line. */
#ifndef KARPA_TRAINLOG_H
#define KARPA_TRAINLOG_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "util/hash.h"
#include "util/kerr.h"

#define TRAINLOG_FORMAT "karpa-log-1"
/* Version of the fixed harness that wrote the log (PROTOCOL 1: a harness
 * change bumps the recipe tag's minor version). */
#define TRAINLOG_HARNESS_VERSION "0.1.0"
/* A gpu-254m run logs ~20k steps of ~250 bytes; 256 MiB is ample. */
#define TRAINLOG_BYTES_MAX ((size_t)256 << 20)
#define TRAINLOG_LINE_MAX 4096 /* records are a few hundred bytes */
/* Every record carries its 64-hex prev and ends in a newline: a log of B
 * bytes holds at most B / TRAINLOG_RECORD_BYTES_MIN valid records. */
#define TRAINLOG_RECORD_BYTES_MIN 65
#define TRAINLOG_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"

struct trainlog_header {
	const char *recipe, *recipe_version, *scale;
	uint64_t seed;
	const char *data_digest, *tokenizer_digest;
	int64_t steps, params;
	int batch, seq_len;
};

struct trainlog {
	int fd;
	char path[4096];
	char prev[HASH_HEX_BYTES]; /* hash of the last line written: the chain head */
	int64_t lines;
};

/* Creates path (refusing an existing file) and writes the header record. */
int trainlog_open(struct trainlog *l, const char *path, const struct trainlog_header *h,
		  struct kerr *err);
/* {"event":"step","step","tokens","lr","loss","wall_ms","tok_per_s","prev"} */
int trainlog_step(struct trainlog *l, int64_t step, uint64_t tokens, double lr, double loss,
		  double wall_ms, double tok_per_s, struct kerr *err);
/* {"event":"checkpoint","step","file","sha256","prev"}, then fsync. */
int trainlog_checkpoint(struct trainlog *l, int64_t step, const char *file,
			const char *sha256_hex, struct kerr *err);
/* {"event":"eval","split","val_bpb","loss","tokens","bytes","prev"} */
int trainlog_eval(struct trainlog *l, const char *split, double val_bpb, double loss,
		  uint64_t tokens, uint64_t bytes, struct kerr *err);
/* fsyncs and closes; safe to call twice. */
int trainlog_close(struct trainlog *l, struct kerr *err);

struct trainlog_summary {
	int64_t lines;
	int64_t steps;        /* step records */
	int64_t last_step;    /* -1 if none */
	int64_t checkpoints;
	char head[HASH_HEX_BYTES];
};

/* Walks a log and checks: every line is canonical JSON (log.parse,
 * log.not_canonical), line 1 is a header (log.no_header), every prev matches
 * the line before (log.chain_broken), step records count 0,1,2,... with
 * nondecreasing tokens and wall_ms (log.bad_order). Messages name the line. */
int trainlog_verify(const char *path, struct trainlog_summary *s, struct kerr *err);

/* Reading a log, one record at a time: the one reader of its lines. It frames
 * lines (each ends in a newline, is not empty and is shorter than
 * TRAINLOG_LINE_MAX), parses each as one JSON object (duplicate keys
 * refused) and types it by its "event"; it checks nothing else (the chain
 * and the order are trainlog_verify's, the claims plausibility's). Streams:
 * at most one line is held, whatever the file's size (TRAINLOG_BYTES_MAX at
 * most). The file is opened as a regular file without following a final
 * symlink. */
enum trainlog_kind {
	TRAINLOG_REC_OTHER = 0, /* no "event" string, or an event not below */
	TRAINLOG_REC_HEADER,
	TRAINLOG_REC_STEP,
	TRAINLOG_REC_CHECKPOINT,
	TRAINLOG_REC_EVAL,
};

/* Every pointer is the iterator's and lives until the next call. Typed
 * fields are filled for their kind when present with the right JSON type;
 * otherwise step is -1 and reals are NAN, strings NULL. */
struct trainlog_rec {
	int64_t lineno;       /* 1-based */
	const char *line;     /* the line's bytes, without the newline */
	size_t len;
	json_t *obj;          /* the parsed object */
	enum trainlog_kind kind;
	const char *event;
	int64_t step;         /* step, checkpoint */
	int64_t tokens;       /* step (eval: tokens scored) */
	double lr, loss, wall_ms, tok_per_s; /* step (loss also eval) */
	const char *file, *sha256;           /* checkpoint */
	const char *split;                   /* eval */
	double val_bpb;                      /* eval */
};

struct trainlog_iter {
	int fd;
	char path[4096];
	char *buf;           /* TRAINLOG_LINE_MAX + 1 bytes */
	size_t start, end;   /* unread bytes are buf[start..end) */
	int eof;
	uint64_t bytes;      /* read so far */
	uint64_t size;       /* the file's size when opened */
	int64_t lineno;
	json_t *obj;
};

/* log.* and fs.* codes (fs.too_large past TRAINLOG_BYTES_MAX). */
int trainlog_iter_open(struct trainlog_iter *it, const char *path, struct kerr *err);
/* 1 with the next record in *r, 0 at the end, -1 on error: log.parse for a
 * line that is unterminated, empty, too long or not a JSON object (the
 * message names the line); fs.read. */
int trainlog_iter_next(struct trainlog_iter *it, struct trainlog_rec *r, struct kerr *err);
/* Safe twice, and on an iterator whose open failed. */
void trainlog_iter_close(struct trainlog_iter *it);

#endif
