/* causality.c: the causality audit. Buffers for one probe (two token grids
 * and two logits grids) are allocated once and reused by every probe; the
 * draws of probe k come only from its own stream, so a failure report names
 * a probe anyone holding the seed can rebuild. */
#include "judge/causality.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness/evaluate.h"
#include "harness/xent.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/rng.h"

struct bufs {
	uint16_t *a, *b; /* rows x T tokens: as sampled, and with the future replaced */
	float *la, *lb;  /* rows x T x V logits */
};

static double now_s(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int check_opts(const struct causality_opts *o, size_t ntokens, int *rows, struct kerr *err)
{
	size_t row_bytes, nwin;

	if (o->vocab_size < 2 || o->vocab_size > 65536 || o->T < 1 || o->T > RECIPE_SEQ_LEN_MAX || o->call_rows < 1 ||
	    o->call_rows > RECIPE_EVAL_BATCH_MAX || o->probes < 0 || o->probes > CAUSALITY_PROBES_MAX)
		return kerr_set(err, "causality.bad_shape",
				"vocab %d, T %d, rows per call %d, probes %d are not an audit's shape", o->vocab_size,
				o->T, o->call_rows, o->probes);
	/* The evaluator's own rule, so calls look the same. */
	row_bytes = (size_t)o->T * (size_t)o->vocab_size * sizeof(float);
	if (row_bytes > EVAL_LOGITS_BYTES_MAX)
		return kerr_set(err, "causality.bad_shape", "one row of logits (%zu bytes) exceeds %zu", row_bytes,
				EVAL_LOGITS_BYTES_MAX);
	*rows = o->call_rows;
	while ((size_t)*rows * row_bytes > EVAL_LOGITS_BYTES_MAX)
		*rows /= 2;
	nwin = ntokens > 0 ? (ntokens - 1) / (size_t)o->T : 0;
	if (nwin < (size_t)*rows)
		return kerr_set(err, "causality.too_short", "split of %zu tokens holds %zu windows of %d, need %d",
				ntokens, nwin, o->T, *rows);
	return 0;
}

/* Fills b->a with `rows` consecutive evaluation windows and b->b with its
 * altered twin; returns the probe row and cut through *pr and *p. */
static int build_probe(const struct causality_opts *o, int k, int rows, const uint16_t *tokens, size_t ntokens,
		       struct bufs *b, int *pr, int *p, size_t *start, struct kerr *err)
{
	const int T = o->T, V = o->vocab_size;
	size_t nwin = (ntokens - 1) / (size_t)T, w0;
	struct rng g;

	rng_init(&g, o->seed, CAUSALITY_PURPOSE, (uint64_t)k);
	w0 = (size_t)rng_below(&g, nwin - (size_t)rows + 1);
	/* Probe 0 keeps its whole row and changes only the others: the pure
	 * cross-row check, including the last position, whose target is the
	 * next window's first token; so its row is never the call's last. */
	*pr = (int)rng_below(&g, (uint64_t)(k == 0 && rows > 1 ? rows - 1 : rows));
	*p = (k == 0 || T < 2) ? T - 1 : (int)rng_below(&g, (uint64_t)T - 1);
	*start = (w0 + (size_t)*pr) * (size_t)T;
	memcpy(b->a, tokens + w0 * (size_t)T, (size_t)rows * (size_t)T * sizeof *tokens);
	for (size_t i = 0; i < (size_t)rows * (size_t)T; i++)
		if (b->a[i] >= V)
			return kerr_set(err, "causality.bad_token", "token %u at split offset %zu is >= vocab %d",
					b->a[i], w0 * (size_t)T + i, V);
	for (int j = 0; j < rows; j++) {
		/* Natural text from another window, so the changed future looks
		 * like any other text to a recipe that inspects it. */
		size_t src = (size_t)rng_below(&g, nwin) * (size_t)T;
		uint16_t *ra = b->a + (size_t)j * T, *rb = b->b + (size_t)j * T;
		for (int t = 0; t < T; t++) {
			uint16_t x = ra[t], y = tokens[src + (size_t)t];
			if (j == *pr && t <= *p) {
				rb[t] = x;
				continue;
			}
			if (y == x || y >= V)
				y = (uint16_t)((x + 1 + rng_below(&g, (uint64_t)V - 1)) % (uint64_t)V);
			rb[t] = y;
		}
	}
	return 0;
}

static double max_abs_diff(const float *x, const float *y, size_t n)
{
	double m = 0;

	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)x[i] - (double)y[i]);
		if (memcmp(&x[i], &y[i], sizeof x[i]) && !(d > 0))
			d = INFINITY; /* NaN on either side, or -0 vs +0: a change all the same */
		if (d > m)
			m = d;
	}
	return m;
}

/* Probe row positions 0..p must carry the same bits in both answers. */
static int compare(const struct causality_opts *o, int k, int rows, int pr, int p, size_t start, const struct bufs *b,
		   struct kerr *err)
{
	const size_t V = (size_t)o->vocab_size;
	const float *xa = b->la + (size_t)pr * o->T * V, *xb = b->lb + (size_t)pr * o->T * V;

	for (int t = 0; t <= p; t++) {
		if (!memcmp(xa + (size_t)t * V, xb + (size_t)t * V, V * sizeof(float)))
			continue;
		return kerr_set(err, "judge.causality",
				"probe %d (split offset %zu, row %d of %d): logits at position %d changed, max |diff| "
				"%.1e over positions 0..%d, when %s",
				k, start, pr, rows, t, max_abs_diff(xa, xb, (size_t)(p + 1) * V), p,
				p == o->T - 1 ? "only the other rows of the call were replaced"
					      : "tokens after the cut (and the other rows) were replaced");
	}
	return 0;
}

int causality_audit(struct recipe_host *h, struct recipe_host *h_alt, const struct causality_opts *opts,
		    const uint16_t *tokens, size_t ntokens, struct causality_report *r, struct kerr *err)
{
	struct causality_opts o = *opts;
	struct bufs b = {0};
	double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
	int rows = 0, rc = -1;
	size_t ntok, nlog;

	memset(r, 0, sizeof *r);
	if (!h_alt)
		h_alt = h;
	if (o.probes == 0)
		o.probes = CAUSALITY_PROBES;
	if (check_opts(&o, ntokens, &rows, err) < 0)
		goto out;
	r->rows_per_call = rows;
	ntok = (size_t)rows * (size_t)o.T;
	nlog = ntok * (size_t)o.vocab_size; /* <= EVAL_LOGITS_BYTES_MAX / 4 by check_opts */
	if (!(b.a = malloc(ntok * sizeof *b.a)) || !(b.b = malloc(ntok * sizeof *b.b)) ||
	    !(b.la = malloc(nlog * sizeof *b.la)) || !(b.lb = malloc(nlog * sizeof *b.lb))) {
		kerr_set(err, "causality.nomem", "out of memory for %d rows of %d x %d logits", rows, o.T,
			 o.vocab_size);
		goto out;
	}
	for (int k = 0; k < o.probes; k++) {
		int pr, p;
		size_t start;
		if (build_probe(&o, k, rows, tokens, ntokens, &b, &pr, &p, &start, err) < 0 ||
		    h->logits(h, b.a, rows, o.T, b.la, err) < 0 || h_alt->logits(h_alt, b.b, rows, o.T, b.lb, err) < 0)
			goto out;
		r->calls += 2;
		if (compare(&o, k, rows, pr, p, start, &b, err) < 0)
			goto out;
		r->probes++;
		r->positions_compared += p + 1;
	}
	rc = 0;
out:
	r->wall_s = now_s(CLOCK_MONOTONIC) - w0;
	r->cpu_s = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
	free(b.a);
	free(b.b);
	free(b.la);
	free(b.lb);
	return rc;
}

/* ---- the audit inside the scored evaluation ---------------------------- */

int causality_watch_init(struct causality_watch *w, struct recipe_host *h_alt, const struct causality_opts *o,
			 uint64_t ncalls, int rows, const uint16_t *tokens, size_t ntokens, struct kerr *err)
{
	struct rng g;
	int want;

	memset(w, 0, sizeof *w);
	w->h_alt = h_alt;
	w->o = *o;
	w->tokens = tokens;
	w->ntokens = ntokens;
	want = o->probes ? o->probes : CAUSALITY_PROBES;
	if (!h_alt || o->vocab_size < 2 || o->vocab_size > 65536 || o->T < 1 || o->T > RECIPE_SEQ_LEN_MAX || rows < 1 ||
	    want < 0 || want > CAUSALITY_PROBES_MAX || ntokens < (size_t)o->T + 1)
		return kerr_set(err, "causality.bad_shape", "vocab %d, T %d, rows %d, probes %d, %zu tokens: not an audit",
				o->vocab_size, o->T, rows, want, ntokens);
	if ((uint64_t)want > ncalls)
		want = (int)ncalls;
	w->cap_tokens = (size_t)rows * (size_t)o->T;
	if (!(w->calls = malloc((size_t)(want ? want : 1) * sizeof *w->calls)) ||
	    !(w->rec = calloc((size_t)(want ? want : 1), sizeof *w->rec)) ||
	    !(w->twins = malloc((size_t)(want ? want : 1) * w->cap_tokens * sizeof *w->twins)) ||
	    !(w->digests = malloc((size_t)(want ? want : 1) * (size_t)o->T * HASH_BYTES)) ||
	    !(w->lt = malloc(w->cap_tokens * (size_t)o->vocab_size * sizeof *w->lt))) {
		causality_watch_free(w);
		return kerr_set(err, "causality.nomem", "out of memory for %d rows of %d x %d logits", rows, o->T,
				o->vocab_size);
	}
	/* Distinct calls, drawn from the seed's own stream. */
	rng_init(&g, o->seed, CAUSALITY_PURPOSE "-calls", 0);
	while (w->nprobes < want) {
		uint64_t c = rng_below(&g, ncalls);
		int dup = 0;
		for (int i = 0; i < w->nprobes; i++)
			dup |= w->calls[i] == c;
		if (!dup)
			w->calls[w->nprobes++] = c;
	}
	for (int i = 1; i < w->nprobes; i++) /* insertion sort: a handful of entries */
		for (int j = i; j > 0 && w->calls[j - 1] > w->calls[j]; j--) {
			uint64_t t = w->calls[j];
			w->calls[j] = w->calls[j - 1];
			w->calls[j - 1] = t;
		}
	w->rep.rows_per_call = rows;
	return 0;
}

/* The twin of a scored call: probe row pr kept at positions 0..p, every
 * other token natural text from a random window of the split at the same
 * position, forced to differ from the original. */
static void build_twin(struct causality_watch *w, struct rng *g, const uint16_t *in, int rows, int T, int pr, int p,
		       uint16_t *twin)
{
	const int V = w->o.vocab_size;
	size_t nwin = (w->ntokens - 1) / (size_t)w->o.T;

	for (int j = 0; j < rows; j++) {
		size_t src = (size_t)rng_below(g, nwin) * (size_t)w->o.T;
		const uint16_t *ra = in + (size_t)j * T;
		uint16_t *rb = twin + (size_t)j * T;
		for (int t = 0; t < T; t++) {
			uint16_t x = ra[t], y = w->tokens[src + (size_t)t];
			if (j == pr && t <= p) {
				rb[t] = x;
				continue;
			}
			if (y == x || y >= V)
				y = (uint16_t)((x + 1 + rng_below(g, (uint64_t)V - 1)) % (uint64_t)V);
			rb[t] = y;
		}
	}
}

/* The digests of row pr's positions 0..p of a rows x T x V logits grid. */
static void position_digests(const float *logits, int T, int V, int pr, int p, uint8_t *out)
{
	for (int t = 0; t <= p; t++)
		hash_buf(logits + ((size_t)pr * (size_t)T + (size_t)t) * (size_t)V, (size_t)V * sizeof(float),
			 out + (size_t)t * HASH_BYTES);
}

int causality_watch_call(void *arg, uint64_t call, const uint16_t *in, int rows, int T, const float *logits,
			 struct kerr *err)
{
	struct causality_watch *w = arg;
	struct causality_rec *r;
	struct rng g;
	int k;
	double t0 = now_s(CLOCK_MONOTONIC);

	if (w->next >= w->nprobes || w->calls[w->next] != call)
		return 0;
	k = w->next++;
	if ((size_t)rows * (size_t)T > w->cap_tokens || T > w->o.T || T < 1)
		return kerr_set(err, "causality.bad_shape", "call %llu of %d x %d is larger than the audit's buffers",
				(unsigned long long)call, rows, T);
	r = &w->rec[k];
	r->call = call;
	r->rows = rows;
	r->T = T;
	rng_init(&g, w->o.seed, CAUSALITY_PURPOSE, (uint64_t)k);
	/* As the standalone audit: probe 0 is the pure cross-row probe where
	 * the call has another row after the probe row. */
	r->pr = (int)rng_below(&g, (uint64_t)(k == 0 && rows > 1 ? rows - 1 : rows));
	r->p = (k == 0 || T < 2) ? T - 1 : (int)rng_below(&g, (uint64_t)T - 1);
	build_twin(w, &g, in, rows, T, r->pr, r->p, w->twins + (size_t)k * w->cap_tokens);
	position_digests(logits, T, w->o.vocab_size, r->pr, r->p, w->digests + (size_t)k * (size_t)w->o.T * HASH_BYTES);
	w->recorded = k + 1;
	w->rep.wall_s += now_s(CLOCK_MONOTONIC) - t0;
	return 0;
}

int causality_watch_finish(struct causality_watch *w, struct kerr *err)
{
	const int V = w->o.vocab_size;
	uint8_t d[HASH_BYTES];

	for (int k = 0; k < w->recorded; k++) {
		const struct causality_rec *r = &w->rec[k];
		const uint8_t *want = w->digests + (size_t)k * (size_t)w->o.T * HASH_BYTES;
		double t0 = now_s(CLOCK_MONOTONIC);

		if (w->start_alt && !w->alt_started) {
			if (w->start_alt(w->start_arg, err) < 0)
				return -1;
			w->alt_started = 1;
		}
		if (w->h_alt->logits(w->h_alt, w->twins + (size_t)k * w->cap_tokens, r->rows, r->T, w->lt, err) < 0)
			return -1;
		w->rep.calls++;
		for (int t = 0; t <= r->p; t++) {
			hash_buf(w->lt + ((size_t)r->pr * (size_t)r->T + (size_t)t) * (size_t)V, (size_t)V * sizeof(float),
				 d);
			if (memcmp(d, want + (size_t)t * HASH_BYTES, HASH_BYTES) != 0) {
				const char *when = r->p == r->T - 1 ? "only the other rows of the call were replaced"
								    : "tokens after the cut (and the other rows) were "
								      "replaced";

				/* The scoring call, not a split offset: under a
				 * secret window order the call's rows are not the
				 * split's consecutive windows, and the order stays
				 * secret. Call, row and cut are the seed's draws;
				 * the first position that changed is the child's
				 * choice (a few bits out of the hidden split), so
				 * only the validator's log has it. */
				log_msg(LOG_WARN, "judge", "probe %d (scoring call %llu, row %d of %d): logits at position %d "
					"changed, when %s", k, (unsigned long long)r->call, r->pr, r->rows, t, when);
				return kerr_set(err, "judge.causality",
						"probe %d (scoring call %llu, row %d of %d): logits changed within positions "
						"0..%d, when %s; the validator's log names the position",
						k, (unsigned long long)r->call, r->pr, r->rows, r->p, when);
			}
		}
		w->rep.probes++;
		w->rep.positions_compared += r->p + 1;
		w->rep.wall_s += now_s(CLOCK_MONOTONIC) - t0;
	}
	return 0;
}

/* ---- aimed probes ------------------------------------------------------ */

/* One aimed probe: a scored position of a full window, where that window
 * sat in the scoring (its call, row and the call's row count) and which
 * twin call carries it. */
struct aim_probe {
	size_t win;
	int p;
	uint64_t call;
	int row, nrows, twin;
};

/* The cumulative draw weights of the targets of the full windows: the
 * squared gain over the reference, capped, or every target alike when no
 * target gains. Returns the total. */
static double aim_weights(const struct causality_aim *a, size_t n, double *cum)
{
	double mean = 0, total = 0;

	if (!a->ref_nats) {
		for (size_t t = 0; t < n; t++)
			mean += a->nats[t];
		mean /= (double)n;
	}
	for (size_t t = 0; t < n; t++) {
		double g = (a->ref_nats ? a->ref_nats[t] : mean) - a->nats[t];
		if (!(g > 0)) /* NaN too */
			g = 0;
		if (g > CAUSALITY_GAIN_CAP)
			g = CAUSALITY_GAIN_CAP;
		total += g * g;
		cum[t] = total;
	}
	if (total > 0)
		return total;
	for (size_t t = 0; t < n; t++)
		cum[t] = (double)(t + 1);
	return (double)n;
}

/* The first target whose cumulative weight exceeds u. */
static size_t aim_find(const double *cum, size_t n, double u)
{
	size_t lo = 0, hi = n - 1;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cum[mid] > u)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Draws up to `want` probes in distinct windows. A draw that lands on a
 * window already probed is drawn again, a bounded number of times. */
static int aim_draw(const struct causality_watch *w, const struct causality_aim *a, const uint32_t *inv, int want,
		    const double *cum, double total, struct aim_probe *pr)
{
	const int T = w->o.T;
	size_t n = a->full * (size_t)T;
	struct rng g;
	int got = 0;

	rng_init(&g, w->o.seed, CAUSALITY_AIM_PURPOSE, 0);
	for (int tries = 0; got < want && tries < 8 * want; tries++) {
		double u = rng_uniform(&g) * total;
		size_t t, idx;
		int dup = 0;

		/* a product rounded up to the total would land on the last
		 * target, whatever its weight */
		t = aim_find(cum, n, u < total ? u : nextafter(total, 0));
		for (int i = 0; i < got; i++)
			dup |= pr[i].win == t / (size_t)T;
		if (dup)
			continue;
		pr[got].win = t / (size_t)T;
		pr[got].p = (int)(t % (size_t)T);
		idx = inv[pr[got].win];
		pr[got].call = idx / (size_t)a->rows;
		pr[got].row = (int)(idx % (size_t)a->rows);
		pr[got].nrows = a->full - pr[got].call * (size_t)a->rows < (size_t)a->rows
					? (int)(a->full - pr[got].call * (size_t)a->rows)
					: a->rows;
		got++;
	}
	return got;
}

/* The token at row r, position t of scoring call `call`. */
static uint16_t aim_scored_token(const struct causality_watch *w, const struct causality_aim *a, uint64_t call, int r,
				 int t)
{
	size_t idx = call * (size_t)a->rows + (size_t)r;
	size_t win = a->order ? a->order[idx] : idx;

	return w->tokens[win * (size_t)w->o.T + (size_t)t];
}

/* Whether probe k's kept tokens (its window's 0..cut, at its row) differ
 * at every position from what probe i's scoring call held in that row: in
 * i's twin that row stands for i's neighbour, which must be replaced
 * whole, as a drawn probe's twin replaces every other row. */
static int aim_kept_differs(const struct causality_watch *w, const struct causality_aim *a, const struct aim_probe *k,
			    const struct aim_probe *i)
{
	for (int t = 0; t <= k->p; t++)
		if (w->tokens[k->win * (size_t)w->o.T + (size_t)t] == aim_scored_token(w, a, i->call, k->row, t))
			return 0;
	return 1;
}

/* Packs the probes into twin calls: a twin call has one call shape, at most
 * one probe a row (each at the row its window was scored in, the shape an
 * honest recipe's answer may depend on), at most one probe from any
 * scoring call, and no probe whose kept tokens match, at any position,
 * what another's scoring call held in that row. Returns the number of
 * twin calls. */
static int aim_pack(const struct causality_watch *w, const struct causality_aim *a, struct aim_probe *pr, int n)
{
	int calls = 0;

	for (int i = 0; i < n; i++) {
		pr[i].twin = -1;
		for (int c = 0; c < calls && pr[i].twin < 0; c++) {
			int fits = 1;
			for (int k = 0; k < i && fits; k++)
				if (pr[k].twin == c)
					fits = pr[k].nrows == pr[i].nrows && pr[k].row != pr[i].row &&
					       pr[k].call != pr[i].call && aim_kept_differs(w, a, &pr[k], &pr[i]) &&
					       aim_kept_differs(w, a, &pr[i], &pr[k]);
			if (fits)
				pr[i].twin = c;
		}
		if (pr[i].twin < 0)
			pr[i].twin = calls++;
	}
	return calls;
}

/* Twin call c: each probe's row kept up to its cut; every other token
 * natural text from a random window at the same position, forced to differ
 * from what every probe's scoring call held there. */
static void aim_build(const struct causality_watch *w, const struct causality_aim *a, const struct aim_probe *pr, int n,
		      int c, struct rng *g, uint16_t *twin, int *nrows)
{
	const int T = w->o.T, V = w->o.vocab_size;
	size_t nwin = (w->ntokens - 1) / (size_t)T;
	int keep[RECIPE_EVAL_BATCH_MAX];

	*nrows = 0;
	for (int r = 0; r < RECIPE_EVAL_BATCH_MAX; r++)
		keep[r] = -1;
	for (int i = 0; i < n; i++)
		if (pr[i].twin == c) {
			*nrows = pr[i].nrows;
			keep[pr[i].row] = i;
		}
	for (int r = 0; r < *nrows; r++) {
		size_t src = (size_t)rng_below(g, nwin) * (size_t)T;
		uint16_t *row = twin + (size_t)r * T;
		for (int t = 0; t < T; t++) {
			uint16_t y = w->tokens[src + (size_t)t];
			int clash = 1;
			if (keep[r] >= 0 && t <= pr[keep[r]].p) {
				row[t] = w->tokens[pr[keep[r]].win * (size_t)T + (size_t)t];
				continue;
			}
			/* V >= 2 and at most RECIPE_EVAL_BATCH_MAX tokens to
			 * avoid: a few redraws find one almost always; where
			 * they do not, the position stays as drawn and only
			 * that position of that probe is weaker. */
			for (int tries = 0; clash && tries < 32; tries++) {
				clash = y >= V;
				for (int i = 0; i < n && !clash; i++)
					clash = pr[i].twin == c && aim_scored_token(w, a, pr[i].call, r, t) == y;
				if (clash)
					y = (uint16_t)rng_below(g, (uint64_t)V);
			}
			row[t] = y;
		}
	}
}

/* Probe i's scored losses at positions 0..p against the twin's. Where
 * they differ, the operator's log gets the window, row, cut and position,
 * and the refusal (which the corpus serves) only the probe's number: the
 * scoring child, which has read the hidden split, can steer every draw to
 * one position by making it the only one that gains, so the window and
 * cut would be bits of its choosing, and the row a part of the secret
 * order. */
static int aim_compare(const struct causality_watch *w, const struct causality_aim *a, const struct aim_probe *pr,
		       int i, double *nats, struct kerr *err)
{
	const int T = w->o.T, V = w->o.vocab_size, p = pr[i].p;
	const double *want = a->nats + pr[i].win * (size_t)T;
	const uint16_t *tg = w->tokens + pr[i].win * (size_t)T + 1;
	int bad = xent_positions(w->lt + (size_t)pr[i].row * (size_t)T * (size_t)V, tg, p + 1, V, nats) < 0;

	int t = 0;

	while (!bad && t <= p && !memcmp(&nats[t], &want[t], sizeof nats[t]))
		t++;
	if (!bad && t > p)
		return 0;
	log_msg(LOG_WARN, "judge",
		"aimed probe %d: window %zu (split offset %zu), row %d of %d, cut %d: %s at position %d, when %s", i,
		pr[i].win, pr[i].win * (size_t)T, pr[i].row, pr[i].nrows, p,
		bad ? "a non-finite logit in the twin" : "the scored loss changed", bad ? 0 : t,
		p == T - 1 ? "only the other rows of the call were replaced"
			   : "tokens after the cut (and the other rows) were replaced");
	return kerr_set(err, "judge.causality",
			"aimed probe %d (drawn after the scoring, where the candidate gained): a scored loss changed when "
			"later tokens and the other rows of its call were replaced; the validator's log names the "
			"position",
			i);
}

int causality_watch_aim(struct causality_watch *w, const struct causality_aim *a, struct kerr *err)
{
	const int T = w->o.T;
	int want = a->probes ? a->probes : CAUSALITY_AIMED, n = 0, calls = 0, rc = -1;
	size_t ntg = a->full * (size_t)T;
	struct aim_probe *pr = NULL;
	double *cum = NULL, *nats = NULL, t0 = now_s(CLOCK_MONOTONIC);
	uint32_t *inv = NULL;
	uint16_t *twin = NULL;
	struct rng g;

	if (want < 0 || want > CAUSALITY_AIMED_MAX || a->rows < 1 || a->rows > RECIPE_EVAL_BATCH_MAX ||
	    (size_t)a->rows * (size_t)T > w->cap_tokens || !a->nats || a->full > (w->ntokens - 1) / (size_t)T)
		return kerr_set(err, "causality.bad_shape", "%d aimed probes over %zu windows in calls of %d rows",
				want, a->full, a->rows);
	if ((size_t)want > a->full)
		want = (int)a->full;
	if (want == 0)
		return 0;
	if (!(pr = calloc((size_t)want, sizeof *pr)) || !(cum = malloc(ntg * sizeof *cum)) ||
	    !(inv = malloc(a->full * sizeof *inv)) || !(twin = malloc(w->cap_tokens * sizeof *twin)) ||
	    !(nats = malloc((size_t)T * sizeof *nats))) {
		kerr_set(err, "causality.nomem", "out of memory for aimed probes over %zu targets", ntg);
		goto out;
	}
	for (size_t i = 0; i < a->full; i++)
		inv[i] = UINT32_MAX;
	for (size_t i = 0; i < a->full; i++) {
		size_t win = a->order ? a->order[i] : i;
		if (win >= a->full || inv[win] != UINT32_MAX) {
			kerr_set(err, "causality.bad_shape", "the window order is not a permutation of %zu windows",
				 a->full);
			goto out;
		}
		inv[win] = (uint32_t)i;
	}
	n = aim_draw(w, a, inv, want, cum, aim_weights(a, ntg, cum), pr);
	calls = aim_pack(w, a, pr, n);
	rng_init(&g, w->o.seed, CAUSALITY_AIM_PURPOSE, 1);
	for (int c = 0; c < calls; c++) {
		int nrows;
		aim_build(w, a, pr, n, c, &g, twin, &nrows);
		if (w->start_alt && !w->alt_started) {
			if (w->start_alt(w->start_arg, err) < 0)
				goto out;
			w->alt_started = 1;
		}
		if (w->h_alt->logits(w->h_alt, twin, nrows, T, w->lt, err) < 0)
			goto out;
		w->rep.aimed_calls++;
		for (int i = 0; i < n; i++) {
			if (pr[i].twin != c)
				continue;
			if (aim_compare(w, a, pr, i, nats, err) < 0)
				goto out;
			w->rep.aimed++;
			w->rep.positions_compared += pr[i].p + 1;
		}
	}
	rc = 0;
out:
	w->rep.aimed_s += now_s(CLOCK_MONOTONIC) - t0;
	w->rep.wall_s += now_s(CLOCK_MONOTONIC) - t0;
	free(pr);
	free(cum);
	free(inv);
	free(twin);
	free(nats);
	return rc;
}

void causality_watch_free(struct causality_watch *w)
{
	free(w->calls);
	free(w->rec);
	free(w->twins);
	free(w->digests);
	free(w->lt);
	w->calls = NULL;
	w->rec = NULL;
	w->twins = NULL;
	w->digests = NULL;
	w->lt = NULL;
}
