/* fuzz_manifest.c: a bundle's manifest.json as a validator reads it, and
 * its canonical form.
 *
 * Verification: bundle_verify on a folder holding the input as
 * manifest.json beside every other file of a real, small, valid bundle
 * (tests/fuzz/fixture/signed, made by tests/bundle_fixture.h: checkpoints
 * of a few bytes, a hash-chained log, a mock attestation). Each input is
 * signed with that bundle's test miner key before the call, so a mutated
 * manifest naming that miner passes the signature and reaches every later
 * check (fields, file digests, log chain and head, kept checkpoints,
 * attestation binding), not only the parser.
 *
 * Canonical form: whatever JSON object parses, its canonical bytes parse
 * back to an object with the same canonical bytes, or a sealed bundle
 * could fail its own verification. */
#include <jansson.h>

#include "fuzz.h"
#include "proof/bundle.h"
#include "proof/keys.h"
#include "util/fsutil.h"

static char dir[512], manifest[600], sig_path[600];
static struct keys key;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *files[] = { "attestation.json", "calibration.json", "patch.diff", "rationale.md", "train.log",
				"checkpoints/final.ckpt", "checkpoints/step_000004.ckpt",
				"checkpoints/step_000008.ckpt", "checkpoints/step_000012.ckpt",
				"checkpoints/step_000016.ckpt", "checkpoints/step_000020.ckpt" };
	char path[1024];
	struct kerr err;

	fuzz_fixture_dir("bundle", "signed", files, sizeof files / sizeof files[0], dir, sizeof dir);
	/* git keeps no 0600 mode, and keys_load refuses a key others can read:
	 * the test key is copied beside the fixture with the mode a key has. */
	{
		char src[1024], *text = NULL;
		size_t n = 0;
		int fd;
		snprintf(src, sizeof src, "%s/fixture/signed/test-miner.key", fuzz_src());
		snprintf(path, sizeof path, "%s.key", dir);
		if (fs_read_all(src, 4096, &text, &n, &err) < 0 ||
		    (fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0 || write(fd, text, n) != (ssize_t)n ||
		    fchmod(fd, 0600) < 0 || close(fd) < 0) {
			fprintf(stderr, "fuzz_manifest: cannot copy the test key to %s\n", path);
			abort();
		}
		free(text);
	}
	if (keys_load(path, &key, &err) < 0) {
		fprintf(stderr, "fuzz_manifest: %s\n", err.msg);
		abort();
	}
	snprintf(manifest, sizeof manifest, "%s/%s", dir, BUNDLE_MANIFEST);
	snprintf(sig_path, sizeof sig_path, "%s/%s", dir, BUNDLE_SIG);
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
	char hex[KEYS_SIG_HEX_BYTES + 1];
	uint8_t sig[KEYS_SIG_BYTES];
	struct bundle_report r;
	struct kerr err;

	canonical_is_stable(data, size);
	fuzz_write(manifest, data, size);
	FUZZ_ASSERT(keys_sign(&key, data, size, sig) == 0);
	keys_hex_encode(sig, KEYS_SIG_BYTES, hex);
	hex[KEYS_SIG_HEX_BYTES - 1] = '\n';
	fuzz_write(sig_path, hex, KEYS_SIG_HEX_BYTES);
	memset(&err, 0, sizeof err);
	if (bundle_verify(dir, &r, &err) == 0)
		FUZZ_ASSERT(r.manifest && r.tier == ATTEST_UNVERIFIED); /* a mock attestation earns no more */
	else
		FUZZ_ASSERT(err.code[0]);
	fuzz_note("bundle_verify", &err);
	bundle_report_free(&r);
	return 0;
}
