/* fuzz_trace.c: a dispute trace document, read from the other party
 * (trace_doc_parse), then compared with itself: every accepted document
 * keeps its bounds and agrees with itself on every step. */
#include "fuzz.h"
#include "judge/trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trace_doc d;
	struct trace_diff diff;
	struct kerr err;

	memset(&err, 0, sizeof err);
	if (trace_doc_parse((const char *)data, size, &d, &err) < 0) {
		FUZZ_ASSERT(err.code[0] && d.steps == NULL && d.nsteps == 0);
		fuzz_note("trace_doc_parse", &err);
		return 0;
	}
	FUZZ_ASSERT(d.nsteps <= TRACE_STEPS_MAX && d.nrecs <= TRACE_RECORDS_MAX && d.threads >= 1);
	for (int i = 0; i < d.nsteps; i++)
		FUZZ_ASSERT(d.steps[i].step == d.from_step + i && d.steps[i].n <= RECIPE_TRACE_MAX);
	FUZZ_ASSERT(trace_compare(&d, &d, &diff, &err) == 0 && !diff.differ);
	trace_doc_free(&d);
	return 0;
}
