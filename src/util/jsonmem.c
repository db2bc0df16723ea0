/* jsonmem.c: jansson's allocator with a count of failures (jsonmem.h). */
#include "util/jsonmem.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>

static _Thread_local unsigned long failures;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void *counting_malloc(size_t n)
{
	void *p = malloc(n);

	if (!p)
		failures++;
	return p;
}

static void install(void)
{
	json_set_alloc_funcs(counting_malloc, free);
}

unsigned long jsonmem_begin(void)
{
	pthread_once(&once, install);
	return failures;
}

int jsonmem_failed(unsigned long mark)
{
	return failures != mark;
}

int jsonmem_loadb(const char *text, size_t len, json_t **out, json_error_t *je, const char *nomem_code,
		  struct kerr *err)
{
	const unsigned long mark = jsonmem_begin();

	*out = json_loadb(text, len, JSON_REJECT_DUPLICATES, je);
	if (!jsonmem_failed(mark))
		return 0;
	json_decref(*out);
	*out = NULL;
	return kerr_set(err, nomem_code, "out of memory reading it");
}

char *jsonmem_dumps(const json_t *o, size_t flags, const char *nomem_code, struct kerr *err)
{
	const unsigned long mark = jsonmem_begin();
	char *s = json_dumps(o, flags);

	if (s && !jsonmem_failed(mark))
		return s;
	free(s);
	kerr_set(err, nomem_code, "out of memory writing its canonical form");
	return NULL;
}
