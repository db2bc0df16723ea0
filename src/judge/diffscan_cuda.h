/* diffscan_cuda.h: check 1's rules for a recipe's CUDA part (cuda/), used
 * by diffscan.c only. Owns what a file there may use beyond a flat recipe
 * file (docs/diffscan.md, "The CUDA part"): the toolkit's headers, the
 * runtime and cuBLASLt calls that stay inside the process's own GPU
 * context, the device intrinsics, inline PTX from an allowlist of
 * instructions, and the C++ that runs no recipe code before main. Like the
 * rest of the scan it reads tokens and runs nothing. */
#ifndef KARPA_DIFFSCAN_CUDA_H
#define KARPA_DIFFSCAN_CUDA_H

#include <stddef.h>

#include "judge/clex.h"

/* An angle include a CUDA file may use besides a flat file's. */
int dscuda_angle_ok(const char *p, size_t n);
/* A harness header the CUDA part is built against ("sandbox/gemmtab.h"). */
int dscuda_harness_header_ok(const char *p, size_t n);
/* Runtime, driver and cuBLASLt names that reach outside the process's GPU
 * context (other processes' memory, files, host callbacks, clocks, symbol
 * lookup), on top of a flat file's denylist. */
int dscuda_denied(const char *s, size_t n);
/* A reserved "__name" that is a CUDA keyword, type or device intrinsic. */
int dscuda_reserved_ok(const char *s, size_t n);

/* The template of an inline asm statement: the adjacent string literal
 * tokens v[0..n). NULL when each of its instructions is PTX from the
 * allowlist; else why not, with the offending instruction in bad. */
const char *dscuda_asm_template(const struct clex_tok *v, size_t n, char *bad, size_t cap);

/* Where a finding goes: code, the token it is about, a note. */
struct dscuda_sink {
	void (*find)(void *ctx, const char *code, const struct clex_tok *t, const char *note);
	void *ctx;
};

/* C++ that runs recipe code before main or behind the scan's back, over a
 * file's code tokens (directives removed): constructors and destructors of
 * the recipe's classes, replaced allocation functions, and initialisers at
 * namespace or class scope that call anything (judge.constructor); aliases
 * of function types (judge.extern). */
void dscuda_cxx_scan(const struct clex_tok *v, size_t n, const struct dscuda_sink *sink);

#endif
