/* fuzz_datamanifest.c: a data folder's manifest.json (dataset_open), beside
 * a real small folder's tokenizer and shards so that digests in a mutated
 * seed still match and the split and shard checks run; an accepted folder
 * is then loaded split by split, as training and evaluation do. */
#include <jansson.h>

#include "fuzz.h"
#include "data/bpe.h"
#include "data/dataset.h"

static char dir[512], manifest[600];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *files[] = { "tokenizer.json", "karpa_train_000000.bin", "karpa_val_000000.bin" };

	fuzz_fixture_dir("data", "data", files, sizeof files / sizeof files[0], dir, sizeof dir);
	snprintf(manifest, sizeof manifest, "%s/%s", dir, DATASET_MANIFEST);
	return 0;
}

static void one(const void *text, size_t len)
{
	struct dataset d;
	struct kerr err;

	fuzz_write(manifest, text, len);
	memset(&err, 0, sizeof err);
	if (dataset_open(dir, &d, &err) < 0) {
		FUZZ_ASSERT(err.code[0]);
		fuzz_note("dataset_open", &err);
		return;
	}
	/* The tokens dataset_open verified are the ones every caller uses. */
	for (int s = 0; s < DATASET_SPLITS_MAX; s++) {
		const uint16_t *t = NULL;
		size_t n = 0;
		if (d.split[s].present && dataset_tokens(&d, (enum dataset_split_id)s, &t, &n, &err) == 0) {
			FUZZ_ASSERT(n == d.split[s].tokens);
			for (size_t i = 0; i < n; i++)
				FUZZ_ASSERT(t[i] < bpe_vocab_size(d.tok));
		}
	}
	dataset_close(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *m = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	char *canon = NULL;

	one(data, size);
	/* Most mutations break the canonical layout and stop there; the same
	 * JSON laid out the way data prepare writes it (dataset.c) reaches the
	 * checks of values, tokenizer, splits and shards. */
	if (m && (canon = json_dumps(m, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(6))) &&
	    (strlen(canon) != size || memcmp(canon, data, size)))
		one(canon, strlen(canon));
	free(canon);
	json_decref(m);
	return 0;
}
