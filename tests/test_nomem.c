/* test_nomem.c: every allocation a module makes can fail, one at a time.
 * This binary is linked with the linker's --wrap for malloc, calloc,
 * realloc, strdup and strndup (Makefile: WRAP_test_nomem), so the project's own
 * calls go through a counter that fails the Nth; libraries' allocations
 * inside jansson, SQLite or libc are not counted. For N = 1, 2, ... each
 * subject must end in an error with its out-of-memory code (or that of a
 * module it calls: fs.nomem for a file it reads), or succeed
 * with the very result it gives without the counter (an allocation it can
 * do without: the tokenizer's per-thread cache), never crash, and leak
 * nothing, which LeakSanitizer checks when the binary exits; once N is
 * past the subject's allocations it succeeds. */
#include "testutil.h"

#include <stdatomic.h>

#include "bundle_fixture.h"
#include "data/bpe.h"
#include "data/texts.h"
#include "harness/checkpoint.h"
#include "harness/trainlog.h"
#include "judge/diffscan.h"
#include "judge/trace.h"
#include "util/fsutil.h"
#include "util/growbuf.h"

#define SWEEP_MAX 100000 /* allocations a subject may make before the sweep calls it unbounded */

static atomic_long fail_at; /* 0: never */
static atomic_long counted;

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);

static int fail_now(void)
{
	long at = atomic_load(&fail_at);

	return at && atomic_fetch_add(&counted, 1) + 1 == at;
}

void *__wrap_malloc(size_t n)
{
	return fail_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t k, size_t n)
{
	return fail_now() ? NULL : __real_calloc(k, n);
}

void *__wrap_realloc(void *p, size_t n)
{
	return fail_now() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
	return fail_now() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
	return fail_now() ? NULL : __real_strndup(s, n);
}

static int ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), k = strlen(tail);

	return n >= k && !strcmp(s + n - k, tail);
}

/* Runs fn with the Nth counted allocation failing, for N = 1, 2, ...,
 * until a run makes fewer than N allocations: then it must succeed. Every
 * run before must fail with code or another module's *.nomem, or succeed
 * (fn checks its result against the one it gives without failures). */
static void sweep(const char *name, int (*fn)(struct kerr *err), const char *code)
{
	long n, absorbed = 0, own = 0;

	atomic_store(&fail_at, 0); /* a subject that crashed in the test before left it set */

	for (n = 1; n < SWEEP_MAX; n++) {
		struct kerr err = { { 0 }, { 0 } };
		long made;
		int rc;

		atomic_store(&counted, 0);
		atomic_store(&fail_at, n);
		rc = fn(&err);
		atomic_store(&fail_at, 0);
		made = atomic_load(&counted);
		if (made < n) {
			if (rc < 0)
				fail_msg("%s: failed with no allocation refused: %s: %s", name, err.code, err.msg);
			break;
		}
		if (rc == 0) {
			absorbed++;
			continue;
		}
		/* its own code, or the out-of-memory code of a module it calls
		 * (fs.nomem for a file it reads): never another reason */
		if (strcmp(err.code, code) && !ends_with(err.code, ".nomem") && !ends_with(err.code, ".oom"))
			fail_msg("%s: allocation %ld refused: %s (%s), want %s", name, n, err.code, err.msg, code);
		own += !strcmp(err.code, code);
	}
	assert_true(n < SWEEP_MAX);
	print_message("   %-8s %ld allocations refused in turn: %ld ended in %s, %ld in a callee's, %ld done without\n",
		      name, n - 1, own, code, n - 1 - own - absorbed, absorbed);
	assert_true(own > 0); /* the subject's own code is reached: the sweep tested it */
}

/* ---- subjects: each frees all it made, whatever the outcome ---------- */

static int growbuf_subject(struct kerr *err)
{
	static const char chunk[1000] = { 'x' };
	struct growbuf b;
	int rc = 0;

	growbuf_init(&b, 1u << 20);
	for (int i = 0; i < 400 && rc == 0; i++)
		rc = growbuf_append(&b, chunk, sizeof chunk, err);
	growbuf_free(&b);
	return rc;
}

static int trace_subject(struct kerr *err)
{
	static const char manifest[] = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";
	struct recipe_trace_rec recs[8];
	struct trace_doc d;
	int rc = 0;

	memset(recs, 0, sizeof recs);
	for (int i = 0; i < 8; i++)
		snprintf(recs[i].name, sizeof recs[i].name, "op%d", i);
	trace_doc_init(&d, manifest, "validator", 0, 10, 1);
	for (int s = 0; s < 40 && rc == 0; s++)
		rc = trace_doc_add(&d, 10 + s, 3.5f, 1e-3f, recs, 8, err);
	trace_doc_free(&d);
	return rc;
}

static const char *const docs[] = {
	"The Fulton County Grand Jury said Friday an investigation of recent primary elections produced no evidence.",
	"The jury further said in term-end presentments that the City Executive Committee deserves praise.",
	"It recommended that Fulton legislators act to have these laws studied and revised to the end of modernizing.",
	"The grand jury commented on a number of other topics, among them the Atlanta and Fulton County purchasing.",
};

static struct bpe_tokens bpe_want; /* docs[1] encoded by the tokenizer trained without failures */

static int bpe_subject(struct kerr *err)
{
	size_t lens[sizeof docs / sizeof docs[0]];
	struct bpe *b = NULL;
	struct bpe_tokens t = { 0 };
	int rc;

	for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
		lens[i] = strlen(docs[i]);
	rc = bpe_train(docs, lens, sizeof docs / sizeof docs[0], 300, 1, &b, err);
	if (rc == 0)
		rc = bpe_encode(b, docs[1], lens[1], &t, err);
	if (rc == 0 && bpe_want.ids &&
	    (t.n != bpe_want.n || memcmp(t.ids, bpe_want.ids, t.n * sizeof *t.ids)))
		rc = kerr_set(err, "test.wrong", "encoded otherwise than without failures");
	if (rc == 0 && !bpe_want.ids)
		bpe_want = t, t = (struct bpe_tokens){ 0 };
	bpe_tokens_free(&t);
	bpe_free(b);
	return rc;
}

static char *workdir; /* the group's files */

/* A checkpoint written, then read back whole: the same state. */
static int ckpt_subject(struct kerr *err)
{
	static uint8_t st[4096];
	struct ckpt_meta m, got;
	char path[FS_PATH_MAX], sha[HASH_HEX_BYTES];
	void *back = NULL;
	size_t n = 0;
	int rc;

	for (size_t i = 0; i < sizeof st; i++)
		st[i] = (uint8_t)(i * 7);
	memset(&m, 0, sizeof m);
	m.format = CKPT_FORMAT;
	strcpy(m.recipe, "karpa-gpt");
	strcpy(m.recipe_version, "0.1.0");
	strcpy(m.scale, "tiny");
	m.step = 12;
	m.seed = 1;
	memset(m.data_digest, 'a', 64);
	memset(m.tokenizer_digest, 'b', 64);
	m.vocab_size = 512;
	m.state_bytes = sizeof st;
	snprintf(path, sizeof path, "%s/s.ckpt", workdir);
	rc = ckpt_write(path, &m, st, sizeof st, sha, err);
	if (rc == 0)
		rc = ckpt_read(path, &got, &back, &n, sha, err);
	if (rc == 0 && (n != sizeof st || memcmp(back, st, n)))
		rc = kerr_set(err, "test.wrong", "read back otherwise than written");
	free(back);
	return rc;
}

/* A folder of texts: plain files and JSON lines. */
static int texts_subject(struct kerr *err)
{
	struct corpus c = { 0 };
	char path[FS_PATH_MAX];
	int rc;

	snprintf(path, sizeof path, "%s/texts", workdir);
	rc = texts_load_path(&c, path, err);
	if (rc == 0 && c.n != 5)
		rc = kerr_set(err, "test.wrong", "%zu documents, want 5", c.n);
	texts_free(&c);
	return rc;
}

static struct fx bundle_fx; /* a sealed bundle (bundle_fixture.h) */
static char *recipe_src;      /* recipe/gpt.c's text */
static size_t recipe_len;

/* The sealed bundle verified: signature, attestation, every digest, the log's chain. */
static int bundle_subject(struct kerr *err)
{
	struct bundle_report r;
	int rc;

	memset(&r, 0, sizeof r);
	rc = bundle_verify(bundle_fx.dir, &r, err);
	bundle_report_free(&r);
	return rc;
}

/* The judge's take of it (a copy, each file hashed as copied) and the
 * copy verified; the copy is removed whatever happens. */
static int take_subject(struct kerr *err)
{
	static struct bundle_taken t;
	struct bundle_report r;
	char dst[FS_PATH_MAX];
	int rc;

	memset(&r, 0, sizeof r);
	snprintf(dst, sizeof dst, "%s/taken", workdir);
	rc = bundle_take(bundle_fx.dir, dst, &t, err);
	if (rc == 0)
		rc = bundle_verify_taken(&t, &r, err);
	bundle_report_free(&r);
	fs_rm_rf(dst);
	return rc;
}

/* Its hash-chained train.log read and checked. */
static int trainlog_subject(struct kerr *err)
{
	char path[FS_PATH_MAX];
	struct trainlog_summary ts;

	fx_path(&bundle_fx, "train.log", path);
	if (trainlog_verify(path, &ts, err) < 0)
		return -1;
	if (strcmp(ts.head, bundle_fx.head))
		return kerr_set(err, "test.wrong", "another head than the log's");
	return 0;
}

/* The recipe's largest file through the patch scan's lexer and rules,
 * then a file whose pragma is an operator (its operand lexed again). A
 * finding of judge.oom is the scan running out: the judge takes it as no
 * verdict. */
static int diffscan_subject(struct kerr *err)
{
	static const char pragma_op[] = "void f(float *x, int n)\n{\n\t_Pragma(\"omp parallel for\")\n"
					"\tfor (int i = 0; i < n; i++)\n\t\tx[i] = 0;\n}\n";
	struct diffscan_finding found[8];
	int n = diffscan_c_file("gpt.c", recipe_src, recipe_len, found, 8, err);

	if (n == 0)
		n = diffscan_c_file("zero.c", pragma_op, sizeof pragma_op - 1, found, 8, err);
	if (n > 0 && !strcmp(found[0].code, "judge.oom"))
		return kerr_set(err, "judge.oom", "%s", found[0].what);
	if (n > 0)
		return kerr_set(err, "test.wrong", "a finding in honest code: %s %s", found[0].code, found[0].what);
	return n;
}

static int setup(void **state)
{
	static const char jsonl[] = "{\"text\":\"one\"}\n{\"text\":\"two\"}\n{\"text\":\"three\"}\n";
	char p[FS_PATH_MAX];
	struct kerr err = { { 0 }, { 0 } };

	(void)state;
	workdir = tu_mkdtemp();
	snprintf(p, sizeof p, "%s/texts/sub", workdir);
	assert_int_equal(fs_mkdir_p(p, &err), 0);
	snprintf(p, sizeof p, "%s/texts/a.txt", workdir);
	assert_int_equal(fs_write_atomic(p, "The first document.\n", 20, &err), 0);
	snprintf(p, sizeof p, "%s/texts/sub/b.txt", workdir);
	assert_int_equal(fs_write_atomic(p, "The second one, a folder down.\n", 31, &err), 0);
	snprintf(p, sizeof p, "%s/texts/c.jsonl", workdir);
	assert_int_equal(fs_write_atomic(p, jsonl, strlen(jsonl), &err), 0);
	fx_build(&bundle_fx);
	snprintf(p, sizeof p, "%s/recipe/gpt.c", getenv("KARPA_SRC") ? getenv("KARPA_SRC") : ".");
	assert_int_equal(fs_read_all(p, 1u << 20, &recipe_src, &recipe_len, &err), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fx_free(&bundle_fx);
	free(recipe_src);
	tu_rmdir(workdir);
	return 0;
}

/* bpe's sweep compares with a reference: the tokenizer trained, and docs[1]
 * encoded, without failures */
static void bpe_before(void)
{
	struct kerr err = { { 0 }, { 0 } };

	assert_int_equal(bpe_subject(&err), 0);
	assert_non_null(bpe_want.ids);
}

static void bpe_after(void)
{
	bpe_tokens_free(&bpe_want);
}

struct subject {
	const char *name;
	int (*fn)(struct kerr *err);
	const char *code; /* the out-of-memory code it must reach */
	void (*before)(void), (*after)(void);
};

static const struct subject subjects[] = {
	{ "growbuf", growbuf_subject, "growbuf.nomem", NULL, NULL },
	{ "trace", trace_subject, "trace.nomem", NULL, NULL },
	{ "bpe", bpe_subject, "bpe.nomem", bpe_before, bpe_after },
	{ "ckpt", ckpt_subject, "ckpt.nomem", NULL, NULL },
	{ "texts", texts_subject, "texts.nomem", NULL, NULL },
	{ "bundle", bundle_subject, "bundle.nomem", NULL, NULL },
	{ "take", take_subject, "bundle.nomem", NULL, NULL },
	{ "trainlog", trainlog_subject, "log.nomem", NULL, NULL },
	{ "diffscan", diffscan_subject, "judge.oom", NULL, NULL },
};
#define SUBJECTS (sizeof subjects / sizeof subjects[0])

static void test_subject(void **state)
{
	const struct subject *t = *state;

	atomic_store(&fail_at, 0);
	if (t->before)
		t->before();
	sweep(t->name, t->fn, t->code);
	if (t->after)
		t->after();
}

int main(void)
{
	struct CMUnitTest tests[SUBJECTS];

	for (size_t i = 0; i < SUBJECTS; i++)
		tests[i] = (struct CMUnitTest){ .name = subjects[i].name, .test_func = test_subject,
						.initial_state = (void *)&subjects[i] };
	return cmocka_run_group_tests(tests, setup, teardown);
}
