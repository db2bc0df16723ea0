/* fuzz_tar.c: a bundle as the .tar a stranger sends (bundle_verify on the
 * file): every entry checked before anything is extracted, then extraction
 * into a staging folder under TMPDIR and the verification of what came out.
 * After each input the scratch folder must hold nothing but the input: an
 * entry written outside the staging folder, or a staging folder left
 * behind, is a finding. */
#include <dirent.h>

#include "fuzz.h"
#include "proof/bundle.h"

static char tar[512];

static int entries(const char *d)
{
	DIR *dh = opendir(d);
	struct dirent *e;
	int n = 0;

	FUZZ_ASSERT(dh);
	while ((e = readdir(dh)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(dh);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bundle_report r;
	struct kerr err;

	if (!tar[0])
		snprintf(tar, sizeof tar, "%s/in.tar", fuzz_scratch());
	fuzz_write(tar, data, size);
	memset(&err, 0, sizeof err);
	if (bundle_verify(tar, &r, &err) < 0)
		FUZZ_ASSERT(err.code[0]);
	fuzz_note("bundle_verify", &err);
	bundle_report_free(&r);
	FUZZ_ASSERT(entries(fuzz_scratch()) == 1);
	return 0;
}
