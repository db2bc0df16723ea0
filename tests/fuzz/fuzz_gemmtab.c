/* fuzz_gemmtab.c: the gemm table's text (src/sandbox/gemmtab.h) as a
 * hostile runner or a forged manifest hands it over. A text that parses is
 * canonical: formatting the table gives back exactly its bytes, and every
 * row goes into a fresh table again; a refusal carries a gemm.* code. */
#include "fuzz.h"
#include "sandbox/gemmtab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct gemmtab t, again;
	static char text[GEMMTAB_TEXT_MAX];
	struct kerr err;
	size_t len = 0;

	if (gemmtab_parse((const char *)data, size, &t, &err) < 0) {
		FUZZ_ASSERT(!strncmp(err.code, "gemm.", 5));
		fuzz_note("gemmtab_parse", &err);
		return 0;
	}
	FUZZ_ASSERT(t.n >= 0 && t.n <= GEMMTAB_ROWS_MAX);
	FUZZ_ASSERT(gemmtab_format(&t, text, sizeof text, &len, &err) == 0);
	FUZZ_ASSERT(len == size && !memcmp(text, data, size));
	memset(&again, 0, sizeof again);
	for (int i = 0; i < t.n; i++)
		FUZZ_ASSERT(gemmtab_add(&again, &t.rows[i], &err) == 0);
	return 0;
}
