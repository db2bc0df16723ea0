/* fuzz_manifest.c: a bundle's manifest.json as a validator reads it
 * (bundle_verify on a folder holding the fuzzed manifest beside a real
 * bundle's signature and small files: parse, canonical form, fields,
 * signature, file digests), and the canonical form itself: whatever JSON
 * object parses, its canonical bytes parse back to an object with the same
 * canonical bytes, or a sealed bundle could fail its own verification. */
#include <jansson.h>

#include "fuzz.h"
#include "protocol/bundle.h"

static char dir[512], manifest[600];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* the real bundle's small files: a mutated manifest that keeps its
	 * signature checks past it into the file digests */
	const char *files[] = { BUNDLE_SIG, "calibration.json", "patch.diff", "rationale.md", "train.log" };

	fuzz_fixture_dir("bundle", "bundle", files, sizeof files / sizeof files[0], dir, sizeof dir);
	snprintf(manifest, sizeof manifest, "%s/%s", dir, BUNDLE_MANIFEST);
	return 0;
}

static void canonical_is_stable(const uint8_t *data, size_t size)
{
	json_t *a = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL), *b = NULL;
	char *da = NULL, *db = NULL;

	if (!json_is_object(a))
		goto out;
	if (!(da = bundle_manifest_dump(a)))
		goto out; /* refused to encode (seal reports bundle.encode) */
	b = json_loads(da, JSON_REJECT_DUPLICATES, NULL);
	FUZZ_ASSERT(json_is_object(b));
	db = bundle_manifest_dump(b);
	FUZZ_ASSERT(db && !strcmp(da, db));
	/* the input was canonical exactly when it equals its canonical bytes */
	if (strlen(da) == size && !memcmp(da, data, size))
		FUZZ_ASSERT(json_equal(a, b));
out:
	free(da);
	free(db);
	json_decref(a);
	json_decref(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bundle_report r;
	struct kerr err;

	canonical_is_stable(data, size);
	fuzz_write(manifest, data, size);
	memset(&err, 0, sizeof err);
	/* No input can pass: the signature is over the real manifest only. */
	FUZZ_ASSERT(bundle_verify(dir, &r, &err) < 0 && err.code[0]);
	fuzz_note("bundle_verify", &err);
	bundle_report_free(&r);
	return 0;
}
