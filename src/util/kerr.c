/* kerr.c: filling struct kerr. Truncates silently: a message is for humans,
 * the code is the contract. */
#include "util/kerr.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int kerr_set(struct kerr *e, const char *code, const char *fmt, ...)
{
	char msg[KERR_MSG_MAX];
	va_list ap;

	if (!e)
		return -1;
	/* formatted apart first: a caller may quote e's own message (or
	 * code) in the new one, which vsnprintf into it would overwrite as
	 * it reads */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(e->code, sizeof e->code, "%s", code);
	memcpy(e->msg, msg, sizeof msg);
	return -1;
}

void kerr_prefix(struct kerr *e, const char *fmt, ...)
{
	char pre[KERR_MSG_MAX], old[KERR_MSG_MAX], both[2 * KERR_MSG_MAX + 2];
	va_list ap;

	if (!e)
		return;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof pre, fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof old);
	snprintf(both, sizeof both, "%s: %s", pre, old);
	memcpy(e->msg, both, sizeof e->msg - 1);
	e->msg[sizeof e->msg - 1] = '\0';
}

int kerr_is_nomem(const struct kerr *e)
{
	size_t n = strnlen(e->code, sizeof e->code);

	return (n > 6 && !memcmp(e->code + n - 6, ".nomem", 6)) || (n > 4 && !memcmp(e->code + n - 4, ".oom", 4));
}

void kerr_clear(struct kerr *e)
{
	if (e) {
		e->code[0] = '\0';
		e->msg[0] = '\0';
	}
}

void kerr_hide_path(char *text, size_t cap, const char *path)
{
	size_t n = path ? strlen(path) : 0, len;
	/* a text that fills its buffer may have been cut there, inside the
	 * path: only then is a tail that starts the path the path's. A text
	 * that merely ends with a prefix of it (a client's own request path
	 * quoted in a 404) must not say so, or the path could be guessed a
	 * byte at a time. */
	int cut = text && cap && strlen(text) + 1 >= cap;
	char *r, *w;

	if (n < KERR_HIDE_MIN || !text)
		return;
	/* "STATE" is shorter than any path hidden, so writing never overtakes
	 * reading */
	for (r = w = text; *r;) {
		if (!strncmp(r, path, n)) {
			memcpy(w, "STATE", 5);
			w += 5;
			r += n;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	if (!cut)
		return;
	len = (size_t)(w - text);
	for (size_t k = n - 1; k >= KERR_HIDE_MIN; k--)
		if (k <= len && !strncmp(text + len - k, path, k)) {
			memcpy(text + len - k, "STATE", 6);
			break;
		}
}

int kerr_errno(struct kerr *e, const char *code, const char *what)
{
	int saved = errno;

	return kerr_set(e, code, "%s: %s", what, strerror(saved));
}
