/* jsonmem.h: whether jansson ran out of memory. jansson reports a refused
 * allocation inside a parse as a syntax error, or returns a document
 * missing what it could not copy; a reader of untrusted JSON must not
 * take either for a finding about its input. jsonmem hands jansson an
 * allocator that notes, per thread, an allocation that failed. Owns that
 * allocator and the note; installing it is safe at any time, since it
 * frees with free(). */
#ifndef KARPA_JSONMEM_H
#define KARPA_JSONMEM_H

/* Installs the allocator (once) and clears this thread's note: call it
 * before the jansson calls whose memory is to be checked. */
void jsonmem_begin(void);
/* Whether an allocation jansson made on this thread failed since
 * jsonmem_begin. */
int jsonmem_failed(void);

#endif
