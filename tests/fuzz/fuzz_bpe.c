/* fuzz_bpe.c: the tokenizer on arbitrary bytes. The vocabulary is learned
 * once, at start, from the seed corpus (tests/fuzz/corpus/bpe), so merges
 * exist for the encoder to apply; every input must encode and decode back
 * to itself byte for byte (bpe.h: invalid UTF-8 still round-trips). */
#include <dirent.h>

#include "fuzz.h"
#include "data/bpe.h"

#define FUZZ_BPE_VOCAB 512
#define FUZZ_BPE_DOCS 64

static struct bpe *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[512], path[1024], *text[FUZZ_BPE_DOCS];
	size_t len[FUZZ_BPE_DOCS], n = 0;
	struct kerr err;
	struct dirent *e;
	DIR *d;

	snprintf(dir, sizeof dir, "%s/corpus/bpe", fuzz_src());
	if (!(d = opendir(dir))) {
		fprintf(stderr, "fuzz_bpe: %s: no seed corpus to learn a vocabulary from\n", dir);
		abort();
	}
	while ((e = readdir(d)) && n < FUZZ_BPE_DOCS) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (fs_read_all(path, 1u << 20, &text[n], &len[n], &err) == 0)
			n++;
	}
	closedir(d);
	if (bpe_train((const char *const *)text, len, n, FUZZ_BPE_VOCAB, 1, &tok, &err) < 0) {
		fprintf(stderr, "fuzz_bpe: %s\n", err.msg);
		abort();
	}
	for (size_t i = 0; i < n; i++)
		free(text[i]);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bpe_tokens t = { 0 };
	struct kerr err;
	char *back = NULL;
	size_t blen = 0;

	FUZZ_ASSERT(bpe_encode(tok, (const char *)data, size, &t, &err) == 0);
	for (size_t i = 0; i < t.n; i++)
		FUZZ_ASSERT(t.ids[i] < bpe_vocab_size(tok) && t.ids[i] != bpe_eot(tok));
	FUZZ_ASSERT(bpe_decode(tok, t.ids, t.n, &back, &blen, &err) == 0);
	FUZZ_ASSERT(blen == size && (size == 0 || !memcmp(back, data, size)));
	free(back);
	bpe_tokens_free(&t);
	return 0;
}
