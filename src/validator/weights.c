/* weights.c: the epoch's weight vector (PROTOCOL 7, docs/weights.md): the
 * earning rule over the kings table and the corpus, the epoch grid ages are
 * measured on, the Bittensor normalisation, and the canonical bytes the
 * ledger signs. Never reads a clock or a locale while computing: the
 * vector is a pure function of the rows, the grid and the closing time, so
 * two validators with the same corpus produce the same bytes. */
#include "validator/weights.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/crash.h"
#include "util/hash.h"
#include "validator/expcorpus.h"

/* 0.5^(r/8) for r = 0..7, correctly rounded (hex literals: exact in every
 * compiler). The decay is 2^-(age/8) = ldexp(table[age % 8], -(age / 8)):
 * a table and an exact power of two instead of pow(), whose last bit may
 * differ between C libraries and would break "the same bytes on any
 * validator". A different half-life needs a new table. */
_Static_assert(WEIGHTS_HALF_LIFE_EPOCHS == 8, "decay table is for a half-life of 8 epochs");
static const double decay_frac[WEIGHTS_HALF_LIFE_EPOCHS] = {
	0x1.0000000000000p+0, 0x1.d5818dcfba487p-1, 0x1.ae89f995ad3adp-1, 0x1.8ace5422aa0dbp-1,
	0x1.6a09e667f3bcdp-1, 0x1.4bfdad5362a27p-1, 0x1.306fe0a31b715p-1, 0x1.172b83c7d517bp-1,
};

/* Bittensor's u16 weight scale (the maximum becomes this). */
#define U16_SCALE 65535.0
/* The time format: "YYYY-MM-DDTHH:MM:SSZ". */
#define ISO_LEN 20

/* ---------------------------------------------------------------- helpers */

static void text_col(sqlite3_stmt *st, int col, char *out, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(out, cap, "%s", t ? (const char *)t : "");
}

void weights_free(struct weights *w)
{
	free(w->e);
	w->e = NULL;
	w->n = 0;
}

/* ---------------------------------------------------------------- time */

static int digits(const char *p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar:
 * shift the year to start in March so the leap day is the year's last,
 * then count whole 400-year eras (146097 days each). */
static long long days_from_civil(long long y, int m, int d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int weights_time_parse(const char *iso, long long *unix_s)
{
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h, mi, sec;

	if (!iso || strlen(iso) != ISO_LEN || iso[4] != '-' || iso[7] != '-' || iso[10] != 'T' || iso[13] != ':' ||
	    iso[16] != ':' || iso[19] != 'Z')
		return -1;
	if (digits(iso, 4, &y) < 0 || digits(iso + 5, 2, &mo) < 0 || digits(iso + 8, 2, &d) < 0 ||
	    digits(iso + 11, 2, &h) < 0 || digits(iso + 14, 2, &mi) < 0 || digits(iso + 17, 2, &sec) < 0)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap(y)) || h > 23 || mi > 59 || sec > 59)
		return -1;
	*unix_s = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	return 0;
}

static void time_format(long long t, char out[VSTATE_TIME_BYTES])
{
	long long days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400), secs = t - days * 86400;
	/* civil_from_days, the inverse of days_from_civil above. */
	long long z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097, doe = z - era * 146097;
	long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365, y = yoe + era * 400;
	long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
	int d = (int)(doy - (153 * mp + 2) / 5 + 1), m = (int)(mp < 10 ? mp + 3 : mp - 9);

	y += m <= 2;
	snprintf(out, VSTATE_TIME_BYTES, "%04lld-%02d-%02dT%02lld:%02lld:%02lldZ", y, m, d, secs / 3600,
		 secs / 60 % 60, secs % 60);
}

/* Floor division: grid epochs before epoch0_start are negative. */
static long long floor_div(long long a, long long b)
{
	long long q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* ---------------------------------------------------------------- grid */

int weights_grid_get(struct vstate *s, long long *epoch_seconds, long long *epoch0_start_unix, struct kerr *err)
{
	char len[32], start[VSTATE_TIME_BYTES + 8], *end;
	long long v;

	if (vstate_meta_get(s, WEIGHTS_META_EPOCH_SECONDS, len, sizeof len, err) < 0 ||
	    vstate_meta_get(s, WEIGHTS_META_EPOCH0_START, start, sizeof start, err) < 0) {
		if (!strcmp(err->code, "vstate.meta_missing"))
			return kerr_set(err, "weights.no_grid", "%s: no epoch has been closed yet (no epoch grid)",
					s->dir);
		return -1;
	}
	v = strtoll(len, &end, 10);
	if (end == len || *end || v < 1 || v > WEIGHTS_EPOCH_SECONDS_MAX)
		return kerr_set(err, "weights.corrupt", "%s: meta %s '%.31s' is not 1..%lld seconds", s->dir,
				WEIGHTS_META_EPOCH_SECONDS, len, WEIGHTS_EPOCH_SECONDS_MAX);
	if (weights_time_parse(start, epoch0_start_unix) < 0)
		return kerr_set(err, "weights.corrupt", "%s: meta %s '%.28s' is not a UTC time", s->dir,
				WEIGHTS_META_EPOCH0_START, start);
	*epoch_seconds = v;
	return 0;
}

struct grid_args {
	long long epoch_seconds;
	const char *closed_at;
};

static int grid_tx(struct vstate *s, void *arg, struct kerr *err)
{
	const struct grid_args *a = arg;
	long long have_len, start, close_s, len = a->epoch_seconds ? a->epoch_seconds : WEIGHTS_EPOCH_SECONDS_DEFAULT;
	char buf[32], start_iso[VSTATE_TIME_BYTES];

	if (weights_grid_get(s, &have_len, &start, err) == 0) {
		if (a->epoch_seconds && a->epoch_seconds != have_len)
			return kerr_set(err, "weights.grid",
					"%s: the epoch length is %lld s, fixed at the first close (asked for %lld s):"
					" every age is measured on it",
					s->dir, have_len, a->epoch_seconds);
		return 0;
	}
	if (strcmp(err->code, "weights.no_grid"))
		return -1;
	if (len < 1 || len > WEIGHTS_EPOCH_SECONDS_MAX)
		return kerr_set(err, "weights.grid", "epoch length %lld s: not 1..%lld", len, WEIGHTS_EPOCH_SECONDS_MAX);
	if (weights_time_parse(a->closed_at, &close_s) < 0)
		return kerr_set(err, "weights.grid", "closing time '%.24s' is not a UTC time", a->closed_at);
	time_format(close_s - len, start_iso);
	snprintf(buf, sizeof buf, "%lld", len);
	if (vstate_meta_set(s, WEIGHTS_META_EPOCH_SECONDS, buf, err) < 0 ||
	    vstate_meta_set(s, WEIGHTS_META_EPOCH0_START, start_iso, err) < 0)
		return -1;
	return 0;
}

int weights_grid_ensure(struct vstate *s, long long epoch_seconds, const char *closed_at, struct kerr *err)
{
	struct grid_args a = { epoch_seconds, closed_at };

	return vstate_tx(s, grid_tx, &a, err);
}

/* ---------------------------------------------------------------- the rule */

/* One king change that earns: credited miner, and its score. */
struct credit {
	char miner[KEYS_PK_HEX_BYTES];
	char submission_id[VSTATE_ID_BYTES]; /* the tie-breaker: unique */
	long long accepted_s;
	double score;
};

/* Sum order: miner, then acceptance time, then submission id. A total
 * order on values alone, so the row order in the table (insertion order,
 * rowids) never reaches the floating-point sums. strcmp compares as
 * unsigned char: bytewise. */
static int credit_cmp(const void *pa, const void *pb)
{
	const struct credit *a = pa, *b = pb;
	int c = strcmp(a->miner, b->miner);

	if (c)
		return c;
	if (a->accepted_s != b->accepted_s)
		return a->accepted_s < b->accepted_s ? -1 : 1;
	return strcmp(a->submission_id, b->submission_id);
}

/* The miner the credit of submission `id` belongs to: follow credited_to
 * to the earliest submission of the patch (PROTOCOL 6 Credit: a copy
 * re-signed by another key earns nothing). */
static int credited_miner(struct vstate *s, sqlite3_stmt *st, const char *id, char miner[KEYS_PK_HEX_BYTES],
			  struct kerr *err)
{
	char cur[VSTATE_ID_BYTES], next[VSTATE_ID_BYTES];

	snprintf(cur, sizeof cur, "%s", id);
	for (int hop = 0; hop <= WEIGHTS_CREDIT_HOPS_MAX; hop++) {
		int r;
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, cur, -1, SQLITE_TRANSIENT);
		r = sqlite3_step(st);
		if (r == SQLITE_DONE)
			return kerr_set(err, "weights.corrupt", "%s: submission %s (a credit target) is missing", s->dir,
					cur);
		if (r != SQLITE_ROW)
			return vstate_sql_error(s, "read credit", err);
		text_col(st, 1, next, sizeof next);
		if (!next[0] || !strcmp(next, cur)) {
			text_col(st, 0, miner, KEYS_PK_HEX_BYTES);
			return 0;
		}
		snprintf(cur, sizeof cur, "%s", next);
	}
	return kerr_set(err, "weights.corrupt", "%s: submission %s: credited_to goes on for more than %d hops", s->dir,
			id, WEIGHTS_CREDIT_HOPS_MAX);
}

/* 0.5^(age / half-life), age >= 0 whole epochs. */
static double decay(long long age)
{
	long long q = age / WEIGHTS_HALF_LIFE_EPOCHS;

	/* Beyond 2^-1100 every double is 0; ldexp would say so too, but the
	 * int argument must not overflow. */
	if (q > 1100)
		return 0.0;
	return ldexp(decay_frac[age % WEIGHTS_HALF_LIFE_EPOCHS], -(int)q);
}

/* The earning king changes up to closed_at, one credit each. The kings
 * row is the unit: one row per king change, carrying the improvement (the
 * lower of its two runs' gains over the old king, the protocol-seed run's
 * and the challenge answer's) and alpha; its submission
 * (the confirming challenge answer) must be accepted_king. The submission
 * it answers is accepted_king too but has no kings row of its own, so a
 * king change is counted once. */
static int collect(struct vstate *s, const char *closed_at, long long len, long long start, struct credit **out,
		   size_t *n, struct kerr *err)
{
	static const char sql[] =
		"SELECT k.id, k.improvement, k.alpha, k.created_at, k.submission_id FROM kings k"
		" JOIN submissions sub ON sub.id = k.submission_id WHERE sub.verdict = 'accepted_king'";
	sqlite3_stmt *st = NULL, *cst = NULL;
	struct credit *v = NULL;
	size_t cap = 0;
	long long close_s;
	int r, rc = -1;

	*out = NULL;
	*n = 0;
	if (weights_time_parse(closed_at, &close_s) < 0)
		return kerr_set(err, "weights.corrupt", "closing time '%.24s' is not a UTC time", closed_at);
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "SELECT miner, credited_to FROM submissions WHERE id = ?", -1, &cst, NULL) !=
		    SQLITE_OK) {
		vstate_sql_error(s, "read kings", err);
		goto out;
	}
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		long long id = sqlite3_column_int64(st, 0);
		double imp = sqlite3_column_double(st, 1), alpha = sqlite3_column_double(st, 2);
		char created[VSTATE_TIME_BYTES + 8];
		struct credit *c;

		if (*n >= WEIGHTS_ENTRIES_MAX) {
			kerr_set(err, "weights.corrupt", "%s: more than %u earning kings", s->dir, WEIGHTS_ENTRIES_MAX);
			goto out;
		}
		if (*n == cap) {
			void *p = realloc(v, (cap = cap ? 2 * cap : 16) * sizeof *v);
			if (!p) {
				kerr_set(err, "weights.nomem", "out of memory reading kings");
				goto out;
			}
			v = p;
		}
		c = &v[*n];
		memset(c, 0, sizeof *c);
		text_col(st, 3, created, sizeof created);
		text_col(st, 4, c->submission_id, sizeof c->submission_id);
		/* king.c never records these (king.bad_metrics); a row that has
		 * them was not written by a merge, and paying on it would be
		 * paying on a forgery. Stop and say which. */
		if (sqlite3_column_type(st, 1) == SQLITE_NULL || sqlite3_column_type(st, 2) == SQLITE_NULL ||
		    !isfinite(imp) || imp <= 0 || !isfinite(alpha) || alpha <= 0 || alpha > 1) {
			kerr_set(err, "weights.corrupt", "%s: kings row %lld: improvement %g, alpha %g (a merge records"
				 " improvement > 0 and alpha in (0, 1])", s->dir, id, imp, alpha);
			goto out;
		}
		if (weights_time_parse(created, &c->accepted_s) < 0) {
			kerr_set(err, "weights.corrupt", "%s: kings row %lld: created_at '%.24s' is not a UTC time", s->dir,
				 id, created);
			goto out;
		}
		/* Crowned at or after the close: the next epoch's. */
		if (c->accepted_s >= close_s)
			continue;
		if (credited_miner(s, cst, c->submission_id, c->miner, err) < 0)
			goto out;
		if (!hash_is_hex(c->miner, KEYS_PK_HEX_BYTES - 1)) {
			kerr_set(err, "weights.corrupt", "%s: submission %s: miner '%.70s' is not a public key", s->dir,
				 c->submission_id, c->miner);
			goto out;
		}
		/* Age in whole grid epochs between the one the king was crowned
		 * in and the one this close ends (the one holding its last
		 * second); kings crowned at or after the close were skipped
		 * above, so age >= 0. Two multiplications in a fixed order;
		 * the build has no FP contraction (-ffp-contract=off), so no
		 * compiler fuses them differently. */
		{
			long long age = floor_div(close_s - 1 - start, len) - floor_div(c->accepted_s - start, len);
			c->score = imp * alpha * decay(age < 0 ? 0 : age);
		}
		(*n)++;
	}
	if (r != SQLITE_DONE) {
		vstate_sql_error(s, "read kings", err);
		goto out;
	}
	*out = v;
	v = NULL;
	rc = 0;
out:
	sqlite3_finalize(st);
	sqlite3_finalize(cst);
	free(v);
	if (rc < 0)
		*n = 0;
	return rc;
}

/* Bittensor's normalisation before set_weights: divide by the maximum,
 * scale to 65535, round half to even (rint in the default rounding mode,
 * which no code here changes), drop zeros. Entries are compacted in place,
 * keeping their miner order. */
static void normalise(struct weights *w)
{
	double max = 0;
	size_t k = 0;

	for (size_t i = 0; i < w->n; i++)
		if (w->e[i].score > max)
			max = w->e[i].score;
	for (size_t i = 0; i < w->n; i++) {
		double u = max > 0 ? rint(w->e[i].score / max * U16_SCALE) : 0;
		if (u < 1)
			continue;
		w->e[k] = w->e[i];
		w->e[k].u16 = (uint16_t)(u > U16_SCALE ? U16_SCALE : u);
		k++;
	}
	w->n = k;
}

int weights_compute(struct vstate *s, long long epoch, const char *closed_at, struct weights *out,
		    struct kerr *err)
{
	struct credit *c = NULL;
	size_t n = 0;
	long long len, start;
	int rc = -1;

	memset(out, 0, sizeof *out);
	if (epoch < 1)
		return kerr_set(err, "weights.corrupt", "epoch %lld: epochs count from 1", epoch);
	if (!closed_at || strlen(closed_at) >= sizeof out->closed_at)
		return kerr_set(err, "weights.corrupt", "closing time is not a UTC time");
	out->epoch = epoch;
	snprintf(out->closed_at, sizeof out->closed_at, "%s", closed_at);
	if (weights_grid_get(s, &len, &start, err) < 0 || collect(s, closed_at, len, start, &c, &n, err) < 0)
		goto out;
	if (n)
		qsort(c, n, sizeof *c, credit_cmp);
	/* One entry per miner; its score the sum of its credits in the
	 * sorted order. */
	if (n && !(out->e = calloc(n, sizeof *out->e))) {
		kerr_set(err, "weights.nomem", "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (out->n == 0 || strcmp(out->e[out->n - 1].miner, c[i].miner)) {
			snprintf(out->e[out->n].miner, sizeof out->e[0].miner, "%s", c[i].miner);
			out->e[out->n++].score = 0;
		}
		out->e[out->n - 1].score += c[i].score;
	}
	normalise(out);
	rc = 0;
out:
	free(c);
	if (rc < 0)
		weights_free(out);
	return rc;
}

/* ---------------------------------------------------------------- bytes */

/* {"closed_at":"...","epoch":N,"half_life_epochs":8,"version":1,
 *  "weights":[{"miner":"<hex>","score":<%.17g>,"u16":N},...]}
 * Written by hand, not by a JSON library: the bytes are the contract (keys
 * sorted, no spaces, %.17g so a score reads back as the same double), and
 * every value is a hex key, a checked time or a number, so nothing needs
 * escaping. */
#define CANON_HEAD_MAX 160
#define CANON_ENTRY_MAX (KEYS_PK_HEX_BYTES + 96)

char *weights_canonical(const struct weights *w)
{
	size_t cap, off = 0;
	char *b;
	int r;

	if (w->n > WEIGHTS_ENTRIES_MAX || strlen(w->closed_at) != ISO_LEN)
		return NULL;
	cap = CANON_HEAD_MAX + w->n * CANON_ENTRY_MAX;
	if (!(b = malloc(cap)))
		return NULL;
	r = snprintf(b, cap, "{\"closed_at\":\"%s\",\"epoch\":%lld,\"half_life_epochs\":%d,\"version\":1,\"weights\":[",
		     w->closed_at, w->epoch, WEIGHTS_HALF_LIFE_EPOCHS);
	if (r < 0 || (size_t)r >= cap)
		goto fail;
	off = (size_t)r;
	for (size_t i = 0; i < w->n; i++) {
		if (!hash_is_hex(w->e[i].miner, KEYS_PK_HEX_BYTES - 1) || !isfinite(w->e[i].score))
			goto fail;
		r = snprintf(b + off, cap - off, "%s{\"miner\":\"%s\",\"score\":%.17g,\"u16\":%u}", i ? "," : "",
			     w->e[i].miner, w->e[i].score, (unsigned)w->e[i].u16);
		if (r < 0 || (size_t)r >= cap - off)
			goto fail;
		off += (size_t)r;
	}
	r = snprintf(b + off, cap - off, "]}");
	if (r < 0 || (size_t)r >= cap - off)
		goto fail;
	return b;
fail:
	free(b);
	return NULL;
}

/* ---------------------------------------------------------------- close */

struct close_args {
	long long epoch, epoch_seconds;
	const char *closed_at;
	const struct weights_sink *sink;
	struct weights *out;
};

static int close_tx(struct vstate *s, void *arg, struct kerr *err)
{
	struct close_args *a = arg;

	if (weights_grid_ensure(s, a->epoch_seconds, a->closed_at, err) < 0 ||
	    weights_compute(s, a->epoch, a->closed_at, a->out, err) < 0)
		return -1;
	if (a->sink->submit(a->sink->ctx, a->out, err) < 0) {
		weights_free(a->out);
		return -1;
	}
	/* the vector and the sink's record are written, nothing committed */
	crash_point("epoch_before_commit");
	return 0;
}

int weights_close_epoch(struct vstate *s, long long epoch, long long epoch_seconds, const struct weights_sink *sink,
			struct weights *out, struct kerr *err)
{
	char now[VSTATE_TIME_BYTES];
	struct close_args a = { epoch, epoch_seconds, now, sink, out };

	memset(out, 0, sizeof *out);
	vstate_now_iso(now);
	if (vstate_tx(s, close_tx, &a, err) < 0) {
		weights_free(out);
		return -1;
	}
	return 0;
}
