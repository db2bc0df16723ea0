/* test_gemmtab.c: the algorithm table's text (src/sandbox/gemmtab.h), with
 * no CUDA: a table formats to one canonical text whatever its rows' order,
 * that text parses back to the same table, and every way a text can stray
 * from canonical (what a hostile runner or a forged manifest could send)
 * is refused with gemm.bad_table, leaving the caller's table untouched. */
#include "testutil.h"

#include "sandbox/gemmtab.h"

/* A training step's products at the tiny fp32 shape, and two at bf16. */
static void sample(struct gemmtab *t)
{
	static const struct gemmtab_row rows[] = {
		{ { "fwd", 1, 0, 192, 256, 64, 64, 64, 192, GEMMTAB_F32, GEMMTAB_F32, GEMMTAB_EPI_BIAS, GEMMTAB_COMPUTE_F32 },
		  { 66, 18, 21, 1, 0, 0, 0, 0, 0 } },
		{ { "bwd_weight", 0, 1, 64, 192, 256, 64, 192, 64, GEMMTAB_F32, GEMMTAB_F32, GEMMTAB_EPI_NONE,
		    GEMMTAB_COMPUTE_F32 },
		  { 24, 20, 8, 4, 2, 1, 3, 0, 0 } },
		{ { "bwd_data", 0, 0, 64, 256, 192, 64, 192, 64, GEMMTAB_F32, GEMMTAB_F32, GEMMTAB_EPI_NONE,
		    GEMMTAB_COMPUTE_F32 },
		  { 21, 15, 6, 1, 0, 1, 0, 0, 0 } },
		{ { "fwd", 1, 0, 50304, 16384, 768, 768, 768, 50304, GEMMTAB_BF16, GEMMTAB_F32, GEMMTAB_EPI_NONE,
		    GEMMTAB_COMPUTE_F32 },
		  { 66, 4294967295u, 4294967295u, 2147483647, 4294967295u, 4294967295u, 4294967295u, 65535, 65535 } },
		{ { "fwd", 1, 0, 2304, 16384, 768, 768, 768, 2304, GEMMTAB_BF16, GEMMTAB_BF16, GEMMTAB_EPI_BIAS,
		    GEMMTAB_COMPUTE_F32 },
		  { 66, 20, 35, 1, 0, 0, 0, 12, 7 } },
	};

	memset(t, 0, sizeof *t);
	t->lib = 130100;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		t->rows[t->n++] = rows[i];
}

static char *format(const struct gemmtab *t)
{
	char *buf = malloc(GEMMTAB_TEXT_MAX);
	struct kerr err;
	size_t len = 0;

	assert_non_null(buf);
	if (gemmtab_format(t, buf, GEMMTAB_TEXT_MAX, &len, &err) < 0)
		fail_msg("%s: %s", err.code, err.msg);
	assert_int_equal(len, strlen(buf));
	return buf;
}

/* Formats, parses back, formats again: the same bytes, the same rows (in
 * shape order), whatever order the rows were given in. */
static void round_trip(void **state)
{
	struct gemmtab *t = calloc(1, sizeof *t), *back = calloc(1, sizeof *back), *rev = calloc(1, sizeof *rev);
	struct kerr err;
	char *text, *again, *text_rev;

	(void)state;
	assert_true(t && back && rev);
	sample(t);
	text = format(t);
	print_message("%s", text);
	assert_int_equal(strncmp(text, "karpa-gemm-1 cublaslt=130100\nbwd_data NN m=64 n=256 k=192 lda=64 ldb=192 "
				       "ldd=64 ab=f32 d=f32 epi=none compute=f32 algo=21 tile=15 stages=6 splitk=1 "
				       "red=0 swizzle=1 custom=0 inner=0 cluster=0\nbwd_weight NT ", 176), 0);
	assert_int_equal(gemmtab_parse(text, strlen(text), back, &err), 0);
	assert_int_equal(back->n, t->n);
	assert_true(back->lib == 130100);
	for (int i = 0; i < t->n; i++) {
		const struct gemmtab_row *r = gemmtab_find(back, &t->rows[i].s);
		assert_non_null(r);
		assert_memory_equal(&r->a, &t->rows[i].a, sizeof r->a);
	}
	again = format(back);
	assert_string_equal(again, text);
	/* the same rows in the reverse order: the same text */
	rev->lib = t->lib;
	for (int i = t->n - 1; i >= 0; i--)
		assert_int_equal(gemmtab_add(rev, &t->rows[i], &err), 0);
	text_rev = format(rev);
	assert_string_equal(text_rev, text);
	/* an empty table is its header alone, and parses */
	rev->n = 0;
	free(text_rev);
	text_rev = format(rev);
	assert_string_equal(text_rev, "karpa-gemm-1 cublaslt=130100\n");
	assert_int_equal(gemmtab_parse(text_rev, strlen(text_rev), back, &err), 0);
	assert_int_equal(back->n, 0);
	free(text);
	free(again);
	free(text_rev);
	free(t);
	free(back);
	free(rev);
}

/* The text with one edit (the first occurrence of from replaced by to) must
 * be refused with gemm.bad_table, and the table handed in left as it was. */
static void refused(const char *text, const char *from, const char *to, const char *why);

/* The fc layer's products with the GELU fused (gm_linear_fwd_gelu,
 * gm_linear_bwd_data_dgelu) are rows like any other: their epilogues are
 * named in the text and parse back to the same shapes, ordered after the
 * unfused product of the same sizes. */
static void fused_gelu_rows(void **state)
{
	static const struct gemmtab_row rows[] = {
		{ { "fwd", 1, 0, 3072, 16384, 768, 768, 768, 3072, GEMMTAB_BF16, GEMMTAB_BF16,
		    GEMMTAB_EPI_GELU_AUX_BIAS, GEMMTAB_COMPUTE_F32 },
		  { 66, 24, 35, 1, 0, 0, 7, 0, 5 } },
		{ { "bwd_data", 0, 0, 3072, 16384, 768, 3072, 768, 3072, GEMMTAB_BF16, GEMMTAB_BF16,
		    GEMMTAB_EPI_DGELU, GEMMTAB_COMPUTE_F32 },
		  { 66, 24, 35, 1, 0, 0, 7, 0, 5 } },
		{ { "fwd", 1, 0, 3072, 16384, 768, 768, 768, 3072, GEMMTAB_BF16, GEMMTAB_BF16, GEMMTAB_EPI_BIAS,
		    GEMMTAB_COMPUTE_F32 },
		  { 66, 24, 35, 1, 0, 0, 7, 0, 5 } },
	};
	struct gemmtab *t = calloc(1, sizeof *t), *back = calloc(1, sizeof *back);
	struct kerr err;
	char *text;

	(void)state;
	assert_true(t && back);
	t->lib = 130100;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		assert_int_equal(gemmtab_add(t, &rows[i], &err), 0);
	text = format(t);
	assert_non_null(strstr(text, " epi=gelu_aux_bias "));
	assert_non_null(strstr(text, " epi=dgelu "));
	assert_true(strstr(text, " epi=bias ") < strstr(text, " epi=gelu_aux_bias "));
	assert_int_equal(gemmtab_parse(text, strlen(text), back, &err), 0);
	assert_int_equal(back->n, 3);
	for (int i = 0; i < back->n; i++) {
		const struct gemmtab_row *r = gemmtab_find(back, &rows[i].s);
		assert_non_null(r);
		assert_int_equal(r->s.epi, rows[i].s.epi);
	}
	refused(text, "epi=dgelu", "epi=dgelu_bgrad", "an epilogue gm does not name");
	free(text);
	free(t);
	free(back);
}

static void refused(const char *text, const char *from, const char *to, const char *why)
{
	char *bad = malloc(GEMMTAB_TEXT_MAX + 64);
	const char *at = strstr(text, from);
	struct gemmtab *t = malloc(sizeof *t), *before = malloc(sizeof *before);
	struct kerr err = { "", "" };

	assert_true(bad && t && before);
	assert_non_null(at);
	snprintf(bad, GEMMTAB_TEXT_MAX + 64, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
	memset(t, 0x5a, sizeof *t);
	memcpy(before, t, sizeof *t);
	assert_int_equal(gemmtab_parse(bad, strlen(bad), t, &err), -1);
	print_message("%-40s -> %s: %s\n", why, err.code, err.msg);
	assert_string_equal(err.code, "gemm.bad_table");
	assert_memory_equal(t, before, sizeof *t); /* nothing half-applied */
	free(bad);
	free(t);
	free(before);
}

static void malformed_refused(void **state)
{
	struct gemmtab *t = calloc(1, sizeof *t);
	char *text;

	(void)state;
	assert_non_null(t);
	sample(t);
	text = format(t);
	refused(text, "karpa-gemm-1", "karpa-gemm-2", "another format");
	refused(text, "cublaslt=130100", "cublaslt=0130100", "a header number with a leading zero");
	refused(text, "cublaslt=130100", "cublaslt=", "a header without its version");
	refused(text, "m=64 ", "m=064 ", "a leading zero");
	refused(text, "m=64 ", "m=+64 ", "a sign");
	refused(text, "m=64 ", "m=0 ", "an empty product");
	refused(text, "m=64 ", "m=2147483648 ", "a size beyond int32");
	refused(text, "inner=0 ", "inner=65536 ", "an inner shape beyond uint16");
	refused(text, "tile=15 ", "tile=4294967296 ", "a tile beyond uint32");
	refused(text, "lda=64 ", "lda=63 ", "a leading dimension below its rows");
	refused(text, "ab=f32", "ab=f64", "an unknown type");
	refused(text, "epi=none", "epi=relu", "an unknown epilogue");
	refused(text, "compute=f32", "compute=tf32", "an unknown compute type");
	refused(text, "NN", "NX", "a transpose that is neither N nor T");
	refused(text, "bwd_data", "Bwd_data", "an op outside [a-z0-9_]");
	refused(text, "bwd_data", "a_name_longer_than_fifteen", "an op too long");
	refused(text, " ldb=192", "  ldb=192", "two spaces");
	refused(text, " ldb=192", "", "a missing field");
	refused(text, " ldb=192 ldd=64", " ldd=64 ldb=192", "fields out of order");
	refused(text, "cluster=0\n", "cluster=0 extra=1\n", "an extra field");
	refused(text, "splitk=1", "split=1", "a misspelt key");
	refused(text, "\nbwd_weight", "\n\nbwd_weight", "an empty line");
	refused(text, "\nbwd_weight", "\r\nbwd_weight", "a carriage return");
	refused(text, "algo=21", "algo=2\x01", "a control byte");
	refused(text, "algo=21", "algo=\xc3\xa9", "a byte above ASCII");
	/* the rows are sorted by op name: moving a row breaks the order */
	refused(text, "bwd_data", "zzz", "rows out of order");
	free(text);
	free(t);
}

/* Whole-text refusals: empty, cut short, a NUL inside, too long, a
 * repeated row, more rows than the table holds. */
static void bounds_refused(void **state)
{
	struct gemmtab *t = calloc(1, sizeof *t), *got = calloc(1, sizeof *got);
	struct gemmtab_row r;
	struct kerr err;
	char *text, *big = malloc(GEMMTAB_TEXT_MAX + 1), line[GEMMTAB_LINE_MAX + 1];
	size_t len, at;

	(void)state;
	assert_true(t && got && big);
	sample(t);
	text = format(t);
	len = strlen(text);
	assert_int_equal(gemmtab_parse(text, 0, got, &err), -1);
	assert_string_equal(err.code, "gemm.bad_table");
	/* cut anywhere but after a newline: the last line has none */
	assert_int_equal(gemmtab_parse(text, len - 1, got, &err), -1);
	assert_string_equal(err.code, "gemm.bad_table");
	assert_non_null(strstr(err.msg, "newline"));
	assert_int_equal(gemmtab_parse(text, len / 2, got, &err), -1);
	/* a NUL inside: the length says more than the string holds */
	text[40] = '\0';
	assert_int_equal(gemmtab_parse(text, len, got, &err), -1);
	assert_string_equal(err.code, "gemm.bad_table");
	text[40] = 'x';
	/* a repeated row: the same line twice */
	at = (size_t)(strchr(text, '\n') - text) + 1;
	{
		size_t l1 = (size_t)(strchr(text + at, '\n') - (text + at)) + 1;
		snprintf(big, GEMMTAB_TEXT_MAX, "%.*s%.*s%s", (int)(at + l1), text, (int)l1, text + at, text + at + l1);
		assert_int_equal(gemmtab_parse(big, strlen(big), got, &err), -1);
		assert_string_equal(err.code, "gemm.bad_table");
	}
	/* 129 distinct rows: one more than a table holds */
	r = t->rows[0];
	at = (size_t)snprintf(big, GEMMTAB_TEXT_MAX, "karpa-gemm-1 cublaslt=1\n");
	for (int i = 0; i <= GEMMTAB_ROWS_MAX; i++) {
		r.s.n = i + 1;
		at += gemmtab_format_row(&r, line, sizeof line);
		strcat(big, line);
	}
	assert_true(at < GEMMTAB_TEXT_MAX);
	assert_int_equal(gemmtab_parse(big, at, got, &err), -1);
	assert_string_equal(err.code, "gemm.bad_table");
	assert_non_null(strstr(err.msg, "more rows"));
	/* over the text bound, whatever it holds */
	memset(big, 'a', GEMMTAB_TEXT_MAX);
	big[GEMMTAB_TEXT_MAX - 1] = '\n';
	assert_int_equal(gemmtab_parse(big, GEMMTAB_TEXT_MAX, got, &err), -1);
	assert_string_equal(err.code, "gemm.bad_table");
	free(text);
	free(big);
	free(t);
	free(got);
}

/* gemmtab_add refuses a repeated shape, a row out of bounds and a full
 * table, leaving the table as it was; gemmtab_format refuses a table that
 * was filled by hand with a repeated shape, and a buffer too small. */
static void add_and_format_refusals(void **state)
{
	struct gemmtab *t = calloc(1, sizeof *t);
	struct gemmtab_row r;
	struct kerr err;
	char small[64];
	int n;

	(void)state;
	assert_non_null(t);
	sample(t);
	n = t->n;
	assert_int_equal(gemmtab_add(t, &t->rows[0], &err), -1);
	assert_string_equal(err.code, "gemm.bad_table");
	r = t->rows[0];
	r.s.lda = 1;
	assert_int_equal(gemmtab_add(t, &r, &err), -1);
	assert_string_equal(err.code, "gemm.bad_table");
	r = t->rows[0];
	memset(r.s.op, 'x', sizeof r.s.op); /* no NUL: must not be read past */
	assert_int_equal(gemmtab_add(t, &r, &err), -1);
	assert_string_equal(err.code, "gemm.bad_table");
	assert_int_equal(t->n, n);
	/* a full table of the widest rows (every number at its most digits,
	 * the longest names) fits the text bound */
	t->n = 0;
	memset(&r, 0, sizeof r);
	snprintf(r.s.op, sizeof r.s.op, "abcdefghijklmno");
	r.s.ta = r.s.tb = 1;
	r.s.m = r.s.n = r.s.lda = r.s.ldb = r.s.ldd = INT32_MAX;
	r.s.ab = r.s.d = GEMMTAB_BF16;
	r.s.epi = GEMMTAB_EPI_GELU_AUX_BIAS; /* the longest epilogue name */
	r.a = (struct gemmtab_algo){ INT32_MAX, UINT32_MAX, UINT32_MAX, INT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX,
				     UINT16_MAX, UINT16_MAX };
	for (int i = 0; i < GEMMTAB_ROWS_MAX; i++) {
		r.s.k = 2000000000 + i;
		assert_int_equal(gemmtab_add(t, &r, &err), 0);
	}
	r.s.k = 5;
	assert_int_equal(gemmtab_add(t, &r, &err), -1);
	assert_string_equal(err.code, "gemm.too_large");
	assert_int_equal(t->n, GEMMTAB_ROWS_MAX);
	t->lib = UINT64_MAX;
	{
		char *buf = format(t), line[GEMMTAB_LINE_MAX + 1];
		size_t w = gemmtab_format_row(&r, line, sizeof line);
		print_message("widest row %zu bytes (at most %d), full table %zu bytes (at most %d)\n", w,
			      GEMMTAB_LINE_MAX, strlen(buf), GEMMTAB_TEXT_MAX - 1);
		assert_true(w <= GEMMTAB_LINE_MAX);
		assert_int_equal(gemmtab_parse(buf, strlen(buf), t, &err), 0);
		free(buf);
	}
	sample(t);
	t->rows[1] = t->rows[0];
	assert_int_equal(gemmtab_format(t, small, sizeof small, NULL, &err), -1);
	assert_string_equal(err.code, "gemm.bad_table");
	sample(t);
	assert_int_equal(gemmtab_format(t, small, sizeof small, NULL, &err), -1);
	assert_string_equal(err.code, "gemm.too_large");
	assert_string_equal(small, "");
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(fused_gelu_rows),
		cmocka_unit_test(malformed_refused),
		cmocka_unit_test(bounds_refused),
		cmocka_unit_test(add_and_format_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
