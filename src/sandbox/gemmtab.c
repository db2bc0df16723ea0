/* gemmtab.c: the algorithm table's text (gemmtab.h). The parser reads a
 * line into fields, then formats the row again and requires the same
 * bytes: whatever parses is canonical by construction, with no second
 * grammar to keep in step with the formatter. */
#include "sandbox/gemmtab.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[GEMMTAB_TYPES] = { "f32", "f16", "bf16" };
static const char *const epi_names[GEMMTAB_EPIS] = { "none",	 "bias",	  "gelu", "gelu_bias",
						      "bgradb", "gelu_aux_bias", "dgelu" };
static const char *const compute_names[GEMMTAB_COMPUTES] = { "f32" };

/* The row's key=value fields after "op TT", in their one order. */
enum { F_M, F_N, F_K, F_LDA, F_LDB, F_LDD, F_AB, F_D, F_EPI, F_COMPUTE, F_ALGO, F_TILE, F_STAGES,
       F_SPLITK, F_RED, F_SWIZZLE, F_CUSTOM, F_INNER, F_CLUSTER, F_COUNT };
static const char *const field_names[F_COUNT] = {
	"m", "n", "k", "lda", "ldb", "ldd", "ab", "d", "epi", "compute", "algo", "tile", "stages",
	"splitk", "red", "swizzle", "custom", "inner", "cluster",
};

const char *gemmtab_type_name(int t)
{
	return t >= 0 && t < GEMMTAB_TYPES ? type_names[t] : "?";
}

const char *gemmtab_epi_name(int e)
{
	return e >= 0 && e < GEMMTAB_EPIS ? epi_names[e] : "?";
}

static const char *compute_name(int c)
{
	return c >= 0 && c < GEMMTAB_COMPUTES ? compute_names[c] : "?";
}

size_t gemmtab_format_row(const struct gemmtab_row *r, char *buf, size_t cap)
{
	const struct gemmtab_shape *s = &r->s;
	const struct gemmtab_algo *a = &r->a;
	int w = snprintf(buf, cap,
			 "%.*s %c%c m=%" PRId32 " n=%" PRId32 " k=%" PRId32 " lda=%" PRId32 " ldb=%" PRId32
			 " ldd=%" PRId32 " ab=%s d=%s epi=%s compute=%s algo=%" PRId32 " tile=%" PRIu32
			 " stages=%" PRIu32 " splitk=%" PRId32 " red=%" PRIu32 " swizzle=%" PRIu32
			 " custom=%" PRIu32 " inner=%u cluster=%u\n",
			 (int)strnlen(s->op, GEMMTAB_OP_MAX), s->op, s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', s->m, s->n, s->k, s->lda, s->ldb, s->ldd,
			 gemmtab_type_name(s->ab), gemmtab_type_name(s->d), gemmtab_epi_name(s->epi),
			 compute_name(s->compute), a->id, a->tile, a->stages, a->splitk, a->red, a->swizzle,
			 a->custom, (unsigned)a->inner, (unsigned)a->cluster);

	if (w < 0)
		return 0;
	return (size_t)w < cap ? (size_t)w : cap ? cap - 1 : 0;
}

static int op_ok(const char *op)
{
	size_t n = strnlen(op, GEMMTAB_OP_MAX);

	if (n == 0 || n == GEMMTAB_OP_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((op[i] >= 'a' && op[i] <= 'z') || (op[i] >= '0' && op[i] <= '9') || op[i] == '_'))
			return 0;
	return 1;
}

/* What is wrong with r, or NULL: the bounds a row must keep anywhere. */
static const char *row_problem(const struct gemmtab_row *r)
{
	const struct gemmtab_shape *s = &r->s;

	if (!op_ok(s->op))
		return "the op name is not 1..15 bytes of [a-z0-9_]";
	if ((s->ta != 0 && s->ta != 1) || (s->tb != 0 && s->tb != 1))
		return "a transpose is neither N nor T";
	if (s->m < 1 || s->n < 1 || s->k < 1)
		return "m, n and k must be at least 1";
	/* column-major: A is m x k stored as (ta ? k x m : m x k), so its
	 * leading dimension covers the stored rows; likewise B and D */
	if (s->lda < (s->ta ? s->k : s->m) || s->ldb < (s->tb ? s->n : s->k) || s->ldd < s->m)
		return "a leading dimension is smaller than its operand's rows";
	if (s->ab < 0 || s->ab >= GEMMTAB_TYPES || s->d < 0 || s->d >= GEMMTAB_TYPES)
		return "an unknown type";
	if (s->epi < 0 || s->epi >= GEMMTAB_EPIS)
		return "an unknown epilogue";
	if (s->compute < 0 || s->compute >= GEMMTAB_COMPUTES)
		return "an unknown compute type";
	if (r->a.id < 0 || r->a.splitk < 0)
		return "a negative algorithm id or split-K";
	return NULL;
}

static int cmp_int(int64_t a, int64_t b)
{
	return a < b ? -1 : a > b;
}

int gemmtab_shape_cmp(const struct gemmtab_shape *a, const struct gemmtab_shape *b)
{
	const int64_t x[] = { a->ta, a->tb, a->m, a->n, a->k, a->lda, a->ldb, a->ldd, a->ab, a->d, a->epi, a->compute };
	const int64_t y[] = { b->ta, b->tb, b->m, b->n, b->k, b->lda, b->ldb, b->ldd, b->ab, b->d, b->epi, b->compute };
	int c = strncmp(a->op, b->op, GEMMTAB_OP_MAX);

	for (size_t i = 0; !c && i < sizeof x / sizeof x[0]; i++)
		c = cmp_int(x[i], y[i]);
	return c;
}

const struct gemmtab_row *gemmtab_find(const struct gemmtab *t, const struct gemmtab_shape *s)
{
	for (int i = 0; i < t->n; i++)
		if (!gemmtab_shape_cmp(&t->rows[i].s, s))
			return &t->rows[i];
	return NULL;
}

int gemmtab_add(struct gemmtab *t, const struct gemmtab_row *r, struct kerr *err)
{
	const char *why = row_problem(r);
	char line[GEMMTAB_LINE_MAX + 1];

	if (why) {
		gemmtab_format_row(r, line, sizeof line);
		line[strcspn(line, "\n")] = '\0';
		return kerr_set(err, "gemm.bad_table", "row '%s': %s", line, why);
	}
	if (gemmtab_find(t, &r->s))
		return kerr_set(err, "gemm.bad_table", "a second row for the product %s m=%d n=%d k=%d", r->s.op,
				(int)r->s.m, (int)r->s.n, (int)r->s.k);
	if (t->n >= GEMMTAB_ROWS_MAX)
		return kerr_set(err, "gemm.too_large", "more than %d products in the table", GEMMTAB_ROWS_MAX);
	t->rows[t->n++] = *r;
	return 0;
}

static size_t format_header(uint64_t lib, char *buf, size_t cap)
{
	int w = snprintf(buf, cap, "%s cublaslt=%" PRIu64 "\n", GEMMTAB_FORMAT, lib);

	return w < 0 ? 0 : (size_t)w;
}

int gemmtab_format(const struct gemmtab *t, char *buf, size_t cap, size_t *len, struct kerr *err)
{
	int order[GEMMTAB_ROWS_MAX];
	char line[GEMMTAB_LINE_MAX + 1];
	size_t at, w;

	if (cap)
		buf[0] = '\0';
	if (len)
		*len = 0;
	if (t->n < 0 || t->n > GEMMTAB_ROWS_MAX)
		return kerr_set(err, "gemm.bad_table", "a table of %d rows (0..%d)", t->n, GEMMTAB_ROWS_MAX);
	/* insertion sort of at most 128 indices: shape order, duplicates adjacent */
	for (int i = 0; i < t->n; i++) {
		int j = i;
		const char *why = row_problem(&t->rows[i]);

		if (why) {
			gemmtab_format_row(&t->rows[i], line, sizeof line);
			line[strcspn(line, "\n")] = '\0';
			return kerr_set(err, "gemm.bad_table", "row '%s': %s", line, why);
		}
		for (; j > 0 && gemmtab_shape_cmp(&t->rows[order[j - 1]].s, &t->rows[i].s) > 0; j--)
			order[j] = order[j - 1];
		order[j] = i;
	}
	for (int i = 1; i < t->n; i++)
		if (!gemmtab_shape_cmp(&t->rows[order[i - 1]].s, &t->rows[order[i]].s))
			return kerr_set(err, "gemm.bad_table", "two rows for the product %s m=%d n=%d k=%d",
					t->rows[order[i]].s.op, (int)t->rows[order[i]].s.m, (int)t->rows[order[i]].s.n,
					(int)t->rows[order[i]].s.k);
	at = format_header(t->lib, line, sizeof line);
	if (at >= cap)
		goto small;
	memcpy(buf, line, at + 1);
	for (int i = 0; i < t->n; i++) {
		w = gemmtab_format_row(&t->rows[order[i]], line, sizeof line);
		if (at + w >= cap)
			goto small;
		memcpy(buf + at, line, w + 1);
		at += w;
	}
	if (len)
		*len = at;
	return 0;
small:
	buf[0] = '\0';
	return kerr_set(err, "gemm.too_large", "the table's text does not fit %zu bytes", cap);
}

/* ---- parsing ----------------------------------------------------------- */

/* A decimal of 1..20 digits no larger than max. Canonical spelling (no
 * leading zero) is left to the re-format comparison. */
static int num(const char *s, size_t n, uint64_t max, uint64_t *v)
{
	uint64_t x = 0;

	if (n == 0 || n > 20)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned char)s[i] - '0';
		if (d > 9 || x > (UINT64_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	if (x > max)
		return -1;
	*v = x;
	return 0;
}

static int name(const char *s, size_t n, const char *const *names, int count)
{
	for (int i = 0; i < count; i++)
		if (strlen(names[i]) == n && !memcmp(names[i], s, n))
			return i;
	return -1;
}

/* The value of field f from the token "f=value" (tok, n bytes). */
static int field(int f, const char *tok, size_t n, struct gemmtab_row *r)
{
	size_t kl = strlen(field_names[f]);
	const char *v = tok + kl + 1;
	size_t vn;
	uint64_t x = 0;
	int k;

	if (n <= kl || memcmp(tok, field_names[f], kl) || tok[kl] != '=')
		return -1;
	vn = n - kl - 1;
	switch (f) {
	case F_AB:
	case F_D:
		if ((k = name(v, vn, type_names, GEMMTAB_TYPES)) < 0)
			return -1;
		*(f == F_AB ? &r->s.ab : &r->s.d) = k;
		return 0;
	case F_EPI:
		return (r->s.epi = name(v, vn, epi_names, GEMMTAB_EPIS)) < 0 ? -1 : 0;
	case F_COMPUTE:
		return (r->s.compute = name(v, vn, compute_names, GEMMTAB_COMPUTES)) < 0 ? -1 : 0;
	case F_INNER:
	case F_CLUSTER:
		if (num(v, vn, UINT16_MAX, &x) < 0)
			return -1;
		*(f == F_INNER ? &r->a.inner : &r->a.cluster) = (uint16_t)x;
		return 0;
	case F_TILE:
	case F_STAGES:
	case F_RED:
	case F_SWIZZLE:
	case F_CUSTOM: {
		uint32_t *dst[] = { [F_TILE] = &r->a.tile, [F_STAGES] = &r->a.stages, [F_RED] = &r->a.red,
				    [F_SWIZZLE] = &r->a.swizzle, [F_CUSTOM] = &r->a.custom };
		if (num(v, vn, UINT32_MAX, &x) < 0)
			return -1;
		*dst[f] = (uint32_t)x;
		return 0;
	}
	default: {
		int32_t *dst[] = { [F_M] = &r->s.m, [F_N] = &r->s.n, [F_K] = &r->s.k, [F_LDA] = &r->s.lda,
				   [F_LDB] = &r->s.ldb, [F_LDD] = &r->s.ldd, [F_ALGO] = &r->a.id, [F_SPLITK] = &r->a.splitk };
		if (num(v, vn, INT32_MAX, &x) < 0)
			return -1;
		*dst[f] = (int32_t)x;
		return 0;
	}
	}
}

/* One row line (without its '\n'): "op TT f=v ...". Returns 0, or -1
 * with what is wrong in why (why_cap bytes). */
static int parse_row(const char *line, size_t n, struct gemmtab_row *r, char *why, size_t why_cap)
{
	const char *tok[F_COUNT + 3];
	size_t tlen[F_COUNT + 3];
	int nt = 0;

	memset(r, 0, sizeof *r);
	/* split on single spaces: an empty token (two spaces, a space at an
	 * end) is a malformed row */
	for (const char *p = line, *end = line + n; nt < F_COUNT + 3;) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		tok[nt] = p;
		tlen[nt++] = (size_t)((sp ? sp : end) - p);
		if (!sp)
			break;
		p = sp + 1;
	}
	if (nt != F_COUNT + 2) {
		snprintf(why, why_cap, "%d space-separated fields, a row has %d", nt, F_COUNT + 2);
		return -1;
	}
	if (tlen[0] == 0 || tlen[0] >= GEMMTAB_OP_MAX) {
		snprintf(why, why_cap, "the op name is not 1..%d bytes", GEMMTAB_OP_MAX - 1);
		return -1;
	}
	memcpy(r->s.op, tok[0], tlen[0]);
	if (tlen[1] != 2 || (tok[1][0] != 'N' && tok[1][0] != 'T') || (tok[1][1] != 'N' && tok[1][1] != 'T')) {
		snprintf(why, why_cap, "the transposes are not two of N and T");
		return -1;
	}
	r->s.ta = tok[1][0] == 'T';
	r->s.tb = tok[1][1] == 'T';
	for (int f = 0; f < F_COUNT; f++)
		if (field(f, tok[f + 2], tlen[f + 2], r) < 0) {
			snprintf(why, why_cap, "field %d is not %s=VALUE with a known or in-range value", f + 3,
				 field_names[f]);
			return -1;
		}
	return 0;
}

static int bad(struct kerr *err, int line_no, const char *what)
{
	return kerr_set(err, "gemm.bad_table", "line %d: %s", line_no, what);
}

int gemmtab_parse(const char *text, size_t len, struct gemmtab *t, struct kerr *err)
{
	struct gemmtab *tmp = NULL;
	char again[GEMMTAB_LINE_MAX + 1];
	const char *p = text, *end = text + len;
	int line_no = 0, rc = -1;

	if (len == 0)
		return kerr_set(err, "gemm.bad_table", "an empty table (no header line)");
	if (len >= GEMMTAB_TEXT_MAX)
		return kerr_set(err, "gemm.bad_table", "%zu bytes of table, more than %d", len, GEMMTAB_TEXT_MAX - 1);
	if (text[len - 1] != '\n')
		return kerr_set(err, "gemm.bad_table", "the last line has no newline: a truncated table");
	for (size_t i = 0; i < len; i++)
		if (text[i] != '\n' && ((unsigned char)text[i] < 0x20 || (unsigned char)text[i] > 0x7e))
			return kerr_set(err, "gemm.bad_table", "byte %zu is 0x%02x: the table is printable ASCII", i,
					(unsigned char)text[i]);
	if (!(tmp = calloc(1, sizeof *tmp)))
		return kerr_set(err, "gemm.nomem", "out of memory for a table");
	for (; p < end; p++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)(nl - p);
		const char *why;

		line_no++;
		if (n + 1 > GEMMTAB_LINE_MAX) {
			bad(err, line_no, "longer than any row");
			goto out;
		}
		if (line_no == 1) {
			static const char pre[] = GEMMTAB_FORMAT " cublaslt=";
			if (n < sizeof pre - 1 || memcmp(p, pre, sizeof pre - 1) ||
			    num(p + sizeof pre - 1, n - (sizeof pre - 1), UINT64_MAX, &tmp->lib) < 0 ||
			    format_header(tmp->lib, again, sizeof again) != n + 1 || memcmp(again, p, n + 1)) {
				bad(err, line_no, "not the header '" GEMMTAB_FORMAT " cublaslt=VERSION'");
				goto out;
			}
		} else {
			struct gemmtab_row r;
			char msg[96];
			if (parse_row(p, n, &r, msg, sizeof msg) < 0) {
				bad(err, line_no, msg);
				goto out;
			}
			if ((why = row_problem(&r))) {
				bad(err, line_no, why);
				goto out;
			}
			if (gemmtab_format_row(&r, again, sizeof again) != n + 1 || memcmp(again, p, n + 1)) {
				bad(err, line_no, "not in canonical form (a leading zero, a value out of range?)");
				goto out;
			}
			if (tmp->n && gemmtab_shape_cmp(&tmp->rows[tmp->n - 1].s, &r.s) >= 0) {
				bad(err, line_no, "rows out of order or repeated (sorted by op, then shape)");
				goto out;
			}
			if (tmp->n == GEMMTAB_ROWS_MAX) {
				bad(err, line_no, "more rows than the table holds (128)");
				goto out;
			}
			tmp->rows[tmp->n++] = r;
		}
		p = nl;
	}
	memcpy(t, tmp, sizeof *t);
	rc = 0;
out:
	free(tmp);
	return rc;
}
