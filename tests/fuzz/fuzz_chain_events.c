/* fuzz_chain_events.c: a block's System.Events as a node serves them
 * (src/chain/events.c), decoded with subtensor's devnet metadata (the
 * fixture beside the repository: ../shared/chain from the tree's root,
 * where run.sh runs). The input's first byte is the extrinsic index asked
 * about; the rest is the SCALE value. Seeds: events written by
 * test_chain_send.c from the fixture's types (KARPA_CHAIN_SEED_DIR).
 *
 * Checks: a refusal carries a chain.events_* code; an accepted value
 * reports an outcome in range, no more records than bytes, and module
 * indices only for a failure; every input ends (the walk is bounded). */
#include "fuzz.h"
#include "chain/events.h"
#include "chain/metadata.h"

static struct meta *fixture(void)
{
	static struct meta *m;
	const char *dir = getenv("KARPA_FUZZ_DIR");
	char path[FS_PATH_MAX];
	struct kerr e;

	if (m)
		return m;
	snprintf(path, sizeof path, "%s/../../../shared/chain/subtensor-devnet-metadata.scale", dir ? dir : "tests/fuzz");
	if (meta_load(path, &m, &e) < 0) {
		fprintf(stderr, "fuzz_chain_events: the metadata fixture %s: %s (%s)\n", path, e.msg, e.code);
		abort();
	}
	return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct chain_dispatch d;
	struct kerr e;

	if (size < 1)
		return 0;
	memset(&e, 0, sizeof e);
	if (chain_events_outcome(fixture(), data + 1, size - 1, data[0], &d, &e) < 0) {
		FUZZ_ASSERT(!strncmp(e.code, "chain.events_", 13));
		fuzz_note("chain_events_outcome", &e);
		return 0;
	}
	FUZZ_ASSERT(d.outcome == CHAIN_OUTCOME_NONE || d.outcome == CHAIN_OUTCOME_SUCCESS ||
		    d.outcome == CHAIN_OUTCOME_FAILED);
	FUZZ_ASSERT(d.nevents <= size);
	FUZZ_ASSERT(!d.is_module || d.outcome == CHAIN_OUTCOME_FAILED);
	FUZZ_ASSERT(memchr(d.error_variant, 0, sizeof d.error_variant));
	return 0;
}
