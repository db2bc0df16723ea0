/* fixtures.h: test fixtures several test files share and that need the
 * library: writing a small file, the inputs of a validator state (a
 * stand-in recipe, data and hidden folders), generated word-salad text for
 * a tiny data folder, and a fake recipe (a bigram counter: fast, and its
 * state is easy to reason about and to edit). Each test keeps its own plan
 * and loss rule; only what is the same logic lives here. */
#ifndef KARPA_FIXTURES_H
#define KARPA_FIXTURES_H

#include "testutil.h"

#include <math.h>

#include "sandbox/recipe_host.h"
#include "util/fsutil.h"
#include "util/kerr.h"

/* ---- files ---------------------------------------------------------------- */

/* The stand-in recipe's gpt.c: patches in the tests are written against it. */
#define FX_GPT_C "/* gpt.c: a stand-in recipe */\nint gpt_steps = 1;\n"
#define FX_GPT_H "extern int gpt_steps;\n"

/* What vstate_init needs, under tmp: tmp/recipe-src holding the stand-in
 * recipe (gpt.c, gpt.h) and empty tmp/data and tmp/hidden folders. Fills
 * src, data and hidden with their paths. */
static inline void fx_state_inputs(const char *tmp, char src[FS_PATH_MAX], char data[FS_PATH_MAX],
				   char hidden[FS_PATH_MAX])
{
	struct kerr err = { 0 };

	snprintf(src, FS_PATH_MAX, "%s/recipe-src", tmp);
	snprintf(data, FS_PATH_MAX, "%s/data", tmp);
	snprintf(hidden, FS_PATH_MAX, "%s/hidden", tmp);
	assert_int_equal(fs_mkdir_p(src, &err), 0);
	assert_int_equal(fs_mkdir_p(data, &err), 0);
	assert_int_equal(fs_mkdir_p(hidden, &err), 0);
	tu_put(src, "gpt.c", FX_GPT_C);
	tu_put(src, "gpt.h", FX_GPT_H);
}

/* ---- generated text ------------------------------------------------------- */

/* Word salad: docs files named <prefix>NN.txt, each words_per_doc words
 * drawn by xorshift64 from words, a sentence ending every sentence_words
 * words. The same spec always gives the same bytes. */
struct fx_texts {
	const char *const *words;
	size_t nwords;
	uint64_t seed; /* nonzero */
	int docs, words_per_doc, sentence_words;
	const char *prefix;
};

static inline void fx_write_texts(const char *dir, const struct fx_texts *t)
{
	uint64_t x = t->seed;

	for (int d = 0; d < t->docs; d++) {
		char path[FS_PATH_MAX];
		FILE *f;
		snprintf(path, sizeof path, "%s/%s%02d.txt", dir, t->prefix, d);
		assert_non_null(f = fopen(path, "w"));
		for (int w = 0; w < t->words_per_doc; w++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			fprintf(f, "%s%s", t->words[x % t->nwords],
				w % t->sentence_words == t->sentence_words - 1 ? ".\n" : " ");
		}
		fclose(f);
	}
}

/* A tiny-scale data folder from generated text: texts go to work/txt, the
 * data to work/data (its path into data), the hidden split to work/hidden.
 * Returns karpa's exit status; its output goes to out. */
static inline int fx_prepare_tiny(const char *work, const struct fx_texts *t, char *data, size_t cap,
				  char *out, size_t out_cap)
{
	char txt[FS_PATH_MAX];

	snprintf(txt, sizeof txt, "%s/txt", work);
	snprintf(data, cap, "%s/data", work);
	assert_int_equal(fs_mkdir_p(txt, NULL), 0);
	fx_write_texts(txt, t);
	return tu_run(out, out_cap, "%s data prepare --scale tiny --from %s --out %s --hidden-out %s/hidden",
		      tu_karpa(), txt, data, work);
}

/* ---- a failure hook (recipe_host_fail_fn) --------------------------------- */

/* What fx_on_fail saw: the host it expects (set by the test), how often it
 * was called, and whether that host still had its implementation then. */
struct fx_fail {
	struct recipe_host *h;
	int calls, saw_live_host;
};

/* Does what a sandbox does there (runbox_explain): reads the host, which
 * must not be destroyed yet, and rewrites the code, "explained (was
 * CODE)". arg: a struct fx_fail. */
static inline void fx_on_fail(void *arg, struct recipe_host *h, struct kerr *err)
{
	struct fx_fail *f = arg;
	char was[KERR_CODE_MAX];

	f->calls++;
	f->saw_live_host = h == f->h && h->impl != NULL;
	snprintf(was, sizeof was, "%s", err->code);
	kerr_set(err, "sandbox.violation", "explained (was %s)", was);
}

/* ---- a fake recipe: bigram counts ------------------------------------------ */

/* The counter's state. A test's own state struct may begin with one (the
 * functions below see h->impl as a struct fx_bigram). */
struct fx_bigram {
	int V;
	float *counts; /* V x V, then one float: steps taken */
};

/* Allocates zeroed counts for a vocabulary of V. */
static inline void fx_bigram_init(struct fx_bigram *b, int V)
{
	b->V = V;
	b->counts = calloc((size_t)V * V + 1, sizeof(float));
	assert_non_null(b->counts);
}

/* log P(y | x) with add-one smoothing. */
static inline double fx_bigram_logp(const struct fx_bigram *b, int x, int y)
{
	double row = 0;

	for (int v = 0; v < b->V; v++)
		row += b->counts[(size_t)x * b->V + v];
	return log((b->counts[(size_t)x * b->V + y] + 1.0) / (row + b->V));
}

/* One training step on rows x (T + 1) tokens: the summed negative log
 * likelihood of the T targets of every row before counting them, then the
 * counts and the step counter. */
static inline double fx_bigram_step(struct fx_bigram *b, const uint16_t *t, int rows, int T)
{
	double nll = 0;

	for (int r = 0; r < rows; r++)
		for (int i = 0; i < T; i++)
			nll -= fx_bigram_logp(b, t[r * (T + 1) + i], t[r * (T + 1) + i + 1]);
	for (int r = 0; r < rows; r++)
		for (int i = 0; i < T; i++)
			b->counts[(size_t)t[r * (T + 1) + i] * b->V + t[r * (T + 1) + i + 1]] += 1;
	b->counts[(size_t)b->V * b->V] += 1;
	return nll;
}

static inline int fx_bigram_logits(struct recipe_host *h, const uint16_t *t, int rows, int T, float *out,
				   struct kerr *err)
{
	struct fx_bigram *b = h->impl;

	(void)err;
	for (int i = 0; i < rows * T; i++) {
		const float *c = b->counts + (size_t)t[i] * b->V;
		double row = 0;
		for (int v = 0; v < b->V; v++)
			row += c[v];
		for (int v = 0; v < b->V; v++)
			out[(size_t)i * b->V + v] = (float)log((c[v] + 1.0) / (row + b->V));
	}
	return 0;
}

static inline int fx_bigram_bytes(struct recipe_host *h, size_t *n, struct kerr *err)
{
	struct fx_bigram *b = h->impl;

	(void)err;
	*n = ((size_t)b->V * b->V + 1) * sizeof(float);
	return 0;
}

static inline int fx_bigram_save(struct recipe_host *h, void *buf, size_t n, struct kerr *err)
{
	(void)err;
	memcpy(buf, ((struct fx_bigram *)h->impl)->counts, n);
	return 0;
}

static inline int fx_bigram_load(struct recipe_host *h, const void *buf, size_t n, struct kerr *err)
{
	(void)err;
	memcpy(((struct fx_bigram *)h->impl)->counts, buf, n);
	return 0;
}

/* Frees the counts and h->impl itself (the test's state, allocated whole). */
static inline void fx_bigram_destroy(struct recipe_host *h)
{
	struct fx_bigram *b = h->impl;

	if (b)
		free(b->counts);
	free(b);
	h->impl = NULL;
}

static inline int fx_bigram_respawn(struct recipe_host *h, struct kerr *err)
{
	(void)err;
	fx_bigram_destroy(h);
	return 0;
}

/* Fills h with the bigram host around the test's own create (which must
 * allocate h->impl beginning with a struct fx_bigram) and train step. */
static inline void fx_bigram_host(struct recipe_host *h,
				  int (*create)(struct recipe_host *, const struct kr_env *, struct kr_plan *,
						struct kerr *),
				  int (*train_step)(struct recipe_host *, int64_t, const uint16_t *, float *, float *,
						    struct kerr *))
{
	memset(h, 0, sizeof *h);
	h->kind = "fake";
	h->create = create;
	h->train_step = train_step;
	h->logits = fx_bigram_logits;
	h->state_bytes = fx_bigram_bytes;
	h->save = fx_bigram_save;
	h->load = fx_bigram_load;
	h->destroy = fx_bigram_destroy;
	h->respawn = fx_bigram_respawn;
}

#endif
