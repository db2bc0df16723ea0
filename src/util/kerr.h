/* kerr.h: the error value every fallible library call fills.
 * Owns the reason-code + one-line-message convention; never prints. Reason
 * codes are stable dotted strings ("shard.bad_magic") and form a contract. */
#ifndef KARPA_KERR_H
#define KARPA_KERR_H

#include <stddef.h>

#define KERR_CODE_MAX 64
#define KERR_MSG_MAX 768

struct kerr {
	char code[KERR_CODE_MAX]; /* stable reason code, "" when no error */
	char msg[KERR_MSG_MAX];   /* one line for a human, names file/field */
};

/* Sets code and message; always returns -1 so callers can `return kerr_set(..)`. */
int kerr_set(struct kerr *e, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prepends "prefix: " to the message, keeping the code. */
void kerr_prefix(struct kerr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kerr_clear(struct kerr *e);
/* Whether e says memory ran out (a code ending in .nomem or .oom, any
 * module's): the machine's trouble, never a finding about an input. */
int kerr_is_nomem(const struct kerr *e);
/* Sets code from errno-bearing failures: "<code>" with "<what>: strerror". */
int kerr_errno(struct kerr *e, const char *code, const char *what);

/* The shortest path kerr_hide_path hides: a shorter one ("/srv/v") would
 * rewrite unrelated text, and names nothing of note. */
#define KERR_HIDE_MIN 8
/* Replaces, in place, every occurrence of path in text by "STATE": a
 * message a stranger reads (an HTTP error, a corpus reason) should not
 * carry an operator's folder. When text fills its buffer of cap bytes (it
 * may have been cut there), a tail of it that starts path (at least
 * KERR_HIDE_MIN bytes) goes too; a text that is not full keeps such a
 * tail, which is then no cut path but the text's own (a client's request
 * quoted back). Never grows text; a NULL or short path changes nothing. */
void kerr_hide_path(char *text, size_t cap, const char *path);

#endif
