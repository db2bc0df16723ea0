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
