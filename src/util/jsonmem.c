/* jsonmem.c: jansson's allocator with a count of failures, and its free
 * that wipes (jsonmem.h). */
#include "util/jsonmem.h"

#include <jansson.h>
#include <malloc.h>
#include <pthread.h>
#include <sodium.h>
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

#ifdef KARPA_TEST_HOOKS
static void (*observer)(const void *, size_t);

void jsonmem_test_observe_free(void (*fn)(const void *block, size_t bytes))
{
	observer = fn;
}
#endif

/* Every block jansson frees is wiped first: its lexer keeps each token's
 * raw text in buffers of its own, which a caller cannot reach to wipe,
 * and a wallet's secretSeed is such a token. A block from before the
 * install (plain malloc) is wiped the same way. */
static void wiping_free(void *p)
{
	size_t n;

	if (!p)
		return;
	n = malloc_usable_size(p);
	sodium_memzero(p, n);
#ifdef KARPA_TEST_HOOKS
	if (observer)
		observer(p, n);
#endif
	free(p);
}

static void install(void)
{
	json_set_alloc_funcs(counting_malloc, wiping_free);
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

int jsonmem_values_over(const char *text, size_t len, size_t max)
{
	size_t n = 1;
	int in_str = 0;

	/* each value but the first follows a `[`, `{`, `,` or `:` outside a
	 * string (a separator in malformed JSON counts too; the parse
	 * refuses that anyway) */
	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if ((c == '[' || c == '{' || c == ',' || c == ':') && ++n > max) {
			return 1;
		}
	}
	return 0;
}
