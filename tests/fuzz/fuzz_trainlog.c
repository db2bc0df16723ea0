/* fuzz_trainlog.c: train.log, read by its two walkers: the hash-chain check
 * (trainlog_verify) and the judge's plausibility walk (plausible_check),
 * which reads it beside a real bundle's manifest.json and calibration.json
 * so that the walk gets past the header into the step records. */
#include "fuzz.h"
#include "harness/trainlog.h"
#include "judge/plausible.h"

#define FUZZ_VOCAB 320 /* the tiny scale's tokenizer, as in the fixture */

static char dir[512], log_path[600];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *files[] = { "manifest.json", "calibration.json" };

	fuzz_fixture_dir("bundle", "proof", files, sizeof files / sizeof files[0], dir, sizeof dir);
	snprintf(log_path, sizeof log_path, "%s/train.log", dir);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trainlog_summary s;
	struct plausible_report r;
	struct kerr err;

	fuzz_write(log_path, data, size);
	memset(&err, 0, sizeof err);
	if (trainlog_verify(log_path, &s, &err) == 0)
		FUZZ_ASSERT(s.lines >= 1 && s.steps <= s.lines && s.last_step < s.lines);
	else
		FUZZ_ASSERT(err.code[0]);
	fuzz_note("trainlog_verify", &err);
	memset(&err, 0, sizeof err);
	if (plausible_check(dir, FUZZ_VOCAB, PLAUSIBLE_ALPHA_UNVERIFIED, &r, &err) == 0)
		plausible_report_free(&r);
	else
		FUZZ_ASSERT(err.code[0]);
	fuzz_note("plausible_check", &err);
	return 0;
}
