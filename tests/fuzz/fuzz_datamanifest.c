/* fuzz_datamanifest.c: a data folder's manifest.json (dataset_open), beside
 * a real small folder's tokenizer and shards so that digests in a mutated
 * seed still match and the split and shard checks run; an accepted folder
 * is then loaded split by split, as training and evaluation do. */
#include "fuzz.h"
#include "harness/bpe.h"
#include "harness/dataset.h"

static char dir[512], manifest[600];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *files[] = { "tokenizer.json", "karpa_train_000000.bin", "karpa_val_000000.bin" };

	fuzz_fixture_dir("data", "data", files, sizeof files / sizeof files[0], dir, sizeof dir);
	snprintf(manifest, sizeof manifest, "%s/%s", dir, DATASET_MANIFEST);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dataset d;
	struct kerr err;

	fuzz_write(manifest, data, size);
	memset(&err, 0, sizeof err);
	if (dataset_open(dir, &d, &err) < 0) {
		FUZZ_ASSERT(err.code[0]);
		fuzz_note("dataset_open", &err);
		return 0;
	}
	for (int s = 0; s < DATASET_SPLITS_MAX; s++) {
		uint16_t *t = NULL;
		size_t n = 0;
		if (d.split[s].present && dataset_load_split(&d, (enum dataset_split_id)s, &t, &n, &err) == 0) {
			FUZZ_ASSERT(n == d.split[s].tokens);
			for (size_t i = 0; i < n; i++)
				FUZZ_ASSERT(t[i] < bpe_vocab_size(d.tok));
		}
		free(t);
	}
	dataset_close(&d);
	return 0;
}
