/* jsonmem.h: whether jansson ran out of memory. jansson reports a refused
 * allocation inside a parse as a syntax error, or returns a document
 * missing what it could not copy; a reader of untrusted JSON must not
 * take either for a finding about its input. jsonmem hands jansson an
 * allocator that counts, per thread, the allocations that failed, and a
 * free that wipes each block first (secrets parsed from JSON, a wallet's
 * seed, also sit in jansson's own lexer buffers). Owns that allocator and
 * the count; installing it is safe at any time, since it frees with
 * free(). */
#ifndef KARPA_JSONMEM_H
#define KARPA_JSONMEM_H

#include <jansson.h>
#include <stddef.h>

#include "util/kerr.h"

/* Installs the allocator (once) and gives this thread's mark: call it
 * before the jansson calls whose memory is to be checked. Marks nest: a
 * reader inside another's span leaves the outer one's mark as it was. */
unsigned long jsonmem_begin(void);
/* Whether an allocation jansson made on this thread failed since mark. */
int jsonmem_failed(unsigned long mark);

/* json_loadb of untrusted text, duplicate keys refused, with its two
 * failures told apart. 0: *out is the document, or NULL when the text is
 * not JSON (je says why). -1: jansson ran short of memory on the way,
 * whatever it returned; *out is NULL and err says nomem_code, "out of
 * memory reading it" (the caller prefixes what "it" is). */
int jsonmem_loadb(const char *text, size_t len, json_t **out, json_error_t *je, const char *nomem_code,
		  struct kerr *err);
/* json_dumps of a document read from JSON (so nothing in it is
 * unwritable): NULL, with err saying nomem_code, "out of memory writing its
 * canonical form", when it failed or any allocation on the way did. A
 * canonical form compared with a miner's bytes must never be a short one. */
char *jsonmem_dumps(const json_t *o, size_t flags, const char *nomem_code, struct kerr *err);

/* Whether text holds more than max JSON values, counted without parsing:
 * jansson keeps each value in allocations of its own, so a body of
 * `[0,0,0,...]` costs about 17 times its size in heap; a reader of
 * untrusted JSON whose answers hold few values refuses such a body before
 * parsing it. */
int jsonmem_values_over(const char *text, size_t len, size_t max);

#ifdef KARPA_TEST_HOOKS
/* Calls fn with every block jansson frees, once it is wiped and before
 * it goes back (NULL: none); the sanitizer build's tests only. */
void jsonmem_test_observe_free(void (*fn)(const void *block, size_t bytes));
#endif

#endif
