/* journal.c: results.tsv and the experiment folders (journal.h). */
#include "miner/journal.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JOURNAL_TSV_MAX (64u << 20)

static void copy_field(char *dst, size_t cap, const char *src)
{
	size_t i;

	for (i = 0; i + 1 < cap && src[i]; i++)
		dst[i] = (src[i] == '\t' || src[i] == '\n' || src[i] == '\r') ? ' ' : src[i];
	dst[i] = 0;
}

static double num_field(const char *s)
{
	char *end;
	double v;

	if (!strcmp(s, "-"))
		return NAN;
	v = strtod(s, &end);
	return end == s ? NAN : v;
}

static int push(struct journal *j, const struct journal_row *r, struct kerr *err)
{
	if (j->n == j->cap) {
		size_t cap = j->cap ? 2 * j->cap : 64;
		struct journal_row *n = realloc(j->rows, cap * sizeof *n);
		if (!n)
			return kerr_set(err, "miner.nomem", "out of memory");
		j->rows = n;
		j->cap = cap;
	}
	j->rows[j->n++] = *r;
	return 0;
}

/* One TSV line into a row; -1 when it is not one (miner.journal). */
static int parse_line(char *line, struct journal_row *r)
{
	char *f[8], *save = NULL, *t;
	int n = 0;

	memset(r, 0, sizeof *r);
	for (t = strtok_r(line, "\t", &save); t && n < 8; t = strtok_r(NULL, "\t", &save))
		f[n++] = t;
	if (n < 7 || (r->exp = atoi(f[0])) <= 0)
		return -1;
	copy_field(r->commit, sizeof r->commit, f[1]);
	copy_field(r->rung, sizeof r->rung, f[2]);
	copy_field(r->point, sizeof r->point, f[3]);
	r->val_bpb = num_field(f[4]);
	r->tok_per_s = num_field(f[5]);
	copy_field(r->status, sizeof r->status, f[6]);
	copy_field(r->desc, sizeof r->desc, n > 7 ? f[7] : "");
	return 0;
}

int journal_path(const struct journal *j, int exp, const char *name, char *out, size_t cap, struct kerr *err)
{
	if (name)
		return fs_join(out, cap, err, "%s/experiments/%04d/%s", j->work, exp, name);
	return fs_join(out, cap, err, "%s/experiments/%04d", j->work, exp);
}

static const struct journal_row *by_exp(const struct journal *j, int exp)
{
	for (size_t i = 0; i < j->n; i++)
		if (j->rows[i].exp == exp)
			return &j->rows[i];
	return NULL;
}

int journal_open(struct journal *j, const char *work, struct kerr *err)
{
	char path[FS_PATH_MAX], *text = NULL, *line, *save = NULL;
	size_t len;
	DIR *d;
	struct dirent *de;

	memset(j, 0, sizeof *j);
	j->next_exp = 1;
	if (snprintf(j->work, sizeof j->work, "%s", work) >= (int)sizeof j->work)
		return kerr_set(err, "fs.path_too_long", "%s: path too long", work);
	if (fs_join(path, sizeof path, err, "%s/experiments", work) < 0 || fs_mkdir_p(path, err) < 0 ||
	    fs_join(path, sizeof path, err, "%s/results.tsv", work) < 0)
		return -1;
	if (fs_exists(path)) {
		if (fs_read_all(path, JOURNAL_TSV_MAX, &text, &len, err) < 0)
			return -1;
		line = strtok_r(text, "\n", &save);
		if (!line || strcmp(line, JOURNAL_COLUMNS)) {
			free(text);
			return kerr_set(err, "miner.journal", "%s: not a miner's results table (header differs)", path);
		}
		for (line = strtok_r(NULL, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			struct journal_row r;
			if (parse_line(line, &r) < 0 || j->n >= JOURNAL_ROWS_MAX) {
				free(text);
				journal_close(j);
				return kerr_set(err, "miner.journal", "%s: a row is not exp<TAB>commit<TAB>...", path);
			}
			if (push(j, &r, err) < 0) {
				free(text);
				journal_close(j);
				return -1;
			}
			if (r.exp >= j->next_exp)
				j->next_exp = r.exp + 1;
		}
		free(text);
	}
	/* Folders without a row were cut short: their results are unknown,
	 * so they go, and their numbers are not reused. */
	if (fs_join(path, sizeof path, err, "%s/experiments", work) < 0 || !(d = opendir(path)))
		return journal_close(j), kerr_errno(err, "fs.open", path);
	while ((de = readdir(d))) {
		int e = atoi(de->d_name);
		char sub[FS_PATH_MAX];
		if (e <= 0)
			continue;
		if (e >= j->next_exp)
			j->next_exp = e + 1;
		if (!by_exp(j, e) && journal_path(j, e, NULL, sub, sizeof sub, err) == 0) {
			fs_rm_rf(sub);
			j->dropped++;
		}
	}
	closedir(d);
	return 0;
}

void journal_close(struct journal *j)
{
	free(j->rows);
	j->rows = NULL;
	j->n = j->cap = 0;
}

const struct journal_row *journal_find(const struct journal *j, const char *commit, const char *rung,
				       const char *point)
{
	for (size_t i = 0; i < j->n; i++)
		if (!strcmp(j->rows[i].commit, commit) && !strcmp(j->rows[i].rung, rung) &&
		    !strcmp(j->rows[i].point, point))
			return &j->rows[i];
	return NULL;
}

int journal_begin(struct journal *j, int *exp, char *dir, size_t cap, struct kerr *err)
{
	*exp = j->next_exp++;
	if (journal_path(j, *exp, NULL, dir, cap, err) < 0)
		return -1;
	fs_rm_rf(dir);
	return fs_mkdir_p(dir, err);
}

static void put_num(FILE *f, double v, const char *fmt)
{
	if (isfinite(v))
		fprintf(f, fmt, v);
	else
		fputc('-', f);
}

static int write_tsv(const struct journal *j, struct kerr *err)
{
	char path[FS_PATH_MAX];
	struct fs_atomic a;
	FILE *f;

	if (fs_join(path, sizeof path, err, "%s/results.tsv", j->work) < 0 ||
	    fs_atomic_open(&a, path, 0644, 0, err) < 0)
		return -1;
	f = fs_atomic_stream(&a);
	fprintf(f, "%s\n", JOURNAL_COLUMNS);
	for (size_t i = 0; i < j->n; i++) {
		const struct journal_row *r = &j->rows[i];
		fprintf(f, "%04d\t%s\t%s\t%s\t", r->exp, r->commit, r->rung, r->point);
		put_num(f, r->val_bpb, "%.6f");
		fputc('\t', f);
		put_num(f, r->tok_per_s, "%.0f");
		fprintf(f, "\t%s\t%s\n", r->status, r->desc);
	}
	return fs_atomic_commit(&a, err);
}

int journal_record(struct journal *j, const struct journal_row *r, struct kerr *err)
{
	struct journal_row c = *r;
	char path[FS_PATH_MAX], st[700];
	size_t i;

	copy_field(c.commit, sizeof c.commit, r->commit);
	copy_field(c.rung, sizeof c.rung, r->rung);
	copy_field(c.point, sizeof c.point, r->point);
	copy_field(c.status, sizeof c.status, r->status);
	copy_field(c.desc, sizeof c.desc, r->desc);
	if (!c.commit[0])
		snprintf(c.commit, sizeof c.commit, "-");
	for (i = 0; i < j->n && j->rows[i].exp != c.exp; i++)
		;
	if (i < j->n)
		j->rows[i] = c;
	else if (push(j, &c, err) < 0)
		return -1;
	/* The folder's status first: a kill between the two leaves a status
	 * file ahead of the table, never a row without its folder. */
	snprintf(st, sizeof st, "%s\n%s\n", c.status, c.desc);
	if (journal_path(j, c.exp, NULL, path, sizeof path, err) == 0 && fs_is_dir(path) &&
	    (journal_path(j, c.exp, "status", path, sizeof path, err) < 0 || fs_write_atomic(path, st, strlen(st), err) < 0))
		return -1;
	return write_tsv(j, err);
}
