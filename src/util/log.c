/* log.c: the sink library messages go to. Formats each message into one
 * bounded line, replaces control bytes (a message may carry text from a
 * bundle), and hands it to the installed sink. */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>

#include "util/termtext.h"

static void stderr_sink(void *arg, enum log_level level, const char *component, const char *line)
{
	(void)arg;
	fprintf(stderr, "%s: %s%s\n", component, level == LOG_WARN ? "warning: " : "", line);
}

static log_sink_fn sink = stderr_sink;
static void *sink_arg;

void log_set_sink(log_sink_fn fn, void *arg)
{
	sink = fn ? fn : stderr_sink;
	sink_arg = fn ? arg : NULL;
}

void log_msg(enum log_level level, const char *component, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	termtext_clean(line, ' ');
	sink(sink_arg, level, component, line);
}
