/* retry_after.h: what an HTTP reply's Retry-After asks of a client, in
 * seconds: delta-seconds ("120") or an HTTP-date ("Sun, 06 Nov 1994
 * 08:49:37 GMT", taken relative to now). Only parses: each caller applies
 * its own cap and its own backoff. */
#ifndef KARPA_RETRY_AFTER_H
#define KARPA_RETRY_AFTER_H

#include <stddef.h>
#include <time.h>

#include "util/kerr.h"

/* Larger values read as this (68 years): no caller waits that long, and no
 * arithmetic on it overflows. */
#define RETRY_AFTER_SATURATE_S 2147483647L

/* The header's value (surrounding blanks allowed) in *seconds: a date in
 * the past is 0. retry_after.bad for anything else (empty, negative, a
 * fraction, trailing text, a malformed or impossible date). */
int retry_after_parse(const char *value, time_t now, long *seconds, struct kerr *err);

/* A header line as libcurl's header callback hands it (n bytes, no NUL,
 * "Retry-After: 5\r\n"): 1 with *seconds when it is a Retry-After with a
 * value retry_after_parse takes, else 0 (another header, or a value to
 * ignore: the caller's backoff applies). */
int retry_after_line(const char *line, size_t n, time_t now, long *seconds);

#endif
