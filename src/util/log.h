/* log.h: the one way library code says anything to a person. Owns the
 * message levels and the sink; the program that links the library (the
 * CLI, later the service) installs its own sink, so library code never
 * chooses a stream, a format or whether anything is shown at all. Never
 * used for results (those are return values) or errors (struct kerr). */
#ifndef KARPA_LOG_H
#define KARPA_LOG_H

enum log_level {
	LOG_PROGRESS = 0, /* where a long operation is: shown when the caller asked for progress */
	LOG_NOTICE = 1,   /* something the person must know about the result (a mock attestation) */
	LOG_WARN = 2      /* something went wrong that did not stop the operation */
};

#define LOG_LINE_MAX 1024 /* a longer message is cut there */

/* component: "judge", "prove", "data", ... ; line: one line, no newline. */
typedef void (*log_sink_fn)(void *arg, enum log_level level, const char *component, const char *line);

/* Installs the sink (NULL: the default, which writes "component: line" to
 * stderr). Not thread-safe: install once, before work starts. */
void log_set_sink(log_sink_fn fn, void *arg);

void log_msg(enum log_level level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
