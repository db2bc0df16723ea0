/* fuzz_diffscan.c: the C lexer and the diff scan on any bytes, as the text
 * of one file of a patched recipe: a flat C file, and a CUDA C++ file of
 * its cuda/ folder (asm templates, the C++ scope walk). The lexer is also
 * walked on its own to its end, so that a token stream the scan stops
 * early on is still lexed. */
#include "fuzz.h"
#include "judge/clex.h"
#include "judge/diffscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diffscan_finding f[8];
	struct clex lx;
	struct clex_tok t;
	struct kerr err;
	int n;

	memset(&err, 0, sizeof err);
	n = diffscan_c_file("fuzz.c", (const char *)data, size, f, (int)(sizeof f / sizeof f[0]), &err);
	FUZZ_ASSERT(n >= -1 && n <= (int)(sizeof f / sizeof f[0]));
	for (int i = 0; i < n; i++)
		FUZZ_ASSERT(f[i].code[0] && memchr(f[i].what, 0, sizeof f[i].what));
	memset(&err, 0, sizeof err);
	n = diffscan_cuda_file("fuzz.cu", (const char *)data, size, f, (int)(sizeof f / sizeof f[0]), &err);
	FUZZ_ASSERT(n >= -1 && n <= (int)(sizeof f / sizeof f[0]));
	for (int i = 0; i < n; i++)
		FUZZ_ASSERT(f[i].code[0] && memchr(f[i].what, 0, sizeof f[i].what));
	if (clex_init(&lx, (const char *)data, size, &err) == 0) {
		size_t guard = 0;
		int r;
		while ((r = clex_next(&lx, &t, &err)) > 0) {
			FUZZ_ASSERT(++guard <= size + 1); /* every token consumes input */
			FUZZ_ASSERT(t.p >= lx.buf && t.p + t.len <= lx.buf + lx.len);
		}
		clex_free(&lx);
	}
	return 0;
}
