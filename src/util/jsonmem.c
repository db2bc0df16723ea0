/* jsonmem.c: jansson's allocator with a note of failures (jsonmem.h). */
#include "util/jsonmem.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>

static _Thread_local int failed;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void *noting_malloc(size_t n)
{
	void *p = malloc(n);

	if (!p)
		failed = 1;
	return p;
}

static void install(void)
{
	json_set_alloc_funcs(noting_malloc, free);
}

void jsonmem_begin(void)
{
	pthread_once(&once, install);
	failed = 0;
}

int jsonmem_failed(void)
{
	return failed;
}
