/* retry_after.c: Retry-After values (retry_after.h). Dates are parsed by
 * hand in the one form RFC 9110 requires senders to use (IMF-fixdate),
 * not with strptime, whose month and day names follow the locale. */
#include "util/retry_after.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define LINE_VALUE_MAX 64

static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
				      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };

static int name_index(const char *s, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" (exactly) as a time; -1 otherwise. */
static int imf_fixdate(const char *v, time_t *out)
{
	char day[4], mon[4];
	struct tm tm = { 0 };
	int d, y, h, mi, s, used = -1;
	time_t t;

	if (sscanf(v, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n", day, &d, mon, &y, &h, &mi, &s, &used) != 7 ||
	    used < 0 || v[used] != '\0' || strlen(v) != 29)
		return -1;
	if (name_index(day, days, 7) < 0 || (tm.tm_mon = name_index(mon, months, 12)) < 0 || d < 1 || d > 31 ||
	    y < 1970 || h > 23 || mi > 59 || s > 60)
		return -1;
	tm.tm_mday = d;
	tm.tm_year = y - 1900;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	if ((t = timegm(&tm)) == (time_t)-1)
		return -1;
	gmtime_r(&t, &tm);
	if (tm.tm_mday != d) /* 31 Feb and the like */
		return -1;
	*out = t;
	return 0;
}

int retry_after_parse(const char *value, time_t now, long *seconds, struct kerr *err)
{
	char v[LINE_VALUE_MAX];
	size_t a = 0, b = strlen(value);
	time_t t;

	while (a < b && isblank((unsigned char)value[a]))
		a++;
	while (b > a && isspace((unsigned char)value[b - 1]))
		b--;
	if (a == b || b - a >= sizeof v)
		return kerr_set(err, "retry_after.bad", "Retry-After '%.40s' is neither seconds nor an HTTP date", value);
	memcpy(v, value + a, b - a);
	v[b - a] = '\0';
	if (isdigit((unsigned char)v[0])) {
		long s = 0;

		for (const char *p = v; *p; p++) {
			int d;

			if (!isdigit((unsigned char)*p))
				return kerr_set(err, "retry_after.bad", "Retry-After '%s' is not a whole number of seconds",
						v);
			d = *p - '0';
			s = s > (RETRY_AFTER_SATURATE_S - d) / 10 ? RETRY_AFTER_SATURATE_S : s * 10 + d;
		}
		*seconds = s;
		return 0;
	}
	if (imf_fixdate(v, &t) < 0)
		return kerr_set(err, "retry_after.bad", "Retry-After '%s' is neither seconds nor an HTTP date", v);
	*seconds = t <= now ? 0 : t - now > RETRY_AFTER_SATURATE_S ? RETRY_AFTER_SATURATE_S : (long)(t - now);
	return 0;
}

int retry_after_line(const char *line, size_t n, time_t now, long *seconds)
{
	static const char name[] = "retry-after:";
	char v[LINE_VALUE_MAX];
	struct kerr err;
	size_t k;

	if (n <= sizeof name - 1 || strncasecmp(line, name, sizeof name - 1))
		return 0;
	k = n - (sizeof name - 1);
	if (k >= sizeof v)
		return 0;
	memcpy(v, line + sizeof name - 1, k);
	v[k] = '\0';
	return retry_after_parse(v, now, seconds, &err) == 0;
}
