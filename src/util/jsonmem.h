/* jsonmem.h: whether jansson ran out of memory. jansson reports a refused
 * allocation inside a parse as a syntax error, or returns a document
 * missing what it could not copy; a reader of untrusted JSON must not
 * take either for a finding about its input. jsonmem hands jansson an
 * allocator that counts, per thread, the allocations that failed. Owns
 * that allocator and the count; installing it is safe at any time, since
 * it frees with free(). */
#ifndef KARPA_JSONMEM_H
#define KARPA_JSONMEM_H

/* Installs the allocator (once) and gives this thread's mark: call it
 * before the jansson calls whose memory is to be checked. Marks nest: a
 * reader inside another's span leaves the outer one's mark as it was. */
unsigned long jsonmem_begin(void);
/* Whether an allocation jansson made on this thread failed since mark. */
int jsonmem_failed(unsigned long mark);

#endif
