/* knobs.c: the knob space (knobs.h): the table, reading a king's values
 * from its text, and turning a point into edits, a diff and a rationale. */
#include "miner/knobs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/calibrate.h"
#include "harness/scale.h"
#include "proof/reciperepo.h"
#include "util/fsutil.h"
#include "util/proc.h"

#define KNOB_FILE_MAX (1u << 20)
#define KNOB_DIFF_MAX (256u << 10) /* prove's patch limit */

/* The scale row's fields, in config.c's order after the name. */
enum row_field { ROW_C, ROW_L, ROW_NH, ROW_T, ROW_B, ROW_STEPS, ROW_WARMUP, ROW_CKPT, ROW_LR, ROW_N };

static const struct knob knobs[KNOB_COUNT] = {
	[KNOB_LR] = { "lr", "config.c", 1e-4, 3e-2, 0, 1.5, 0, 0,
		      "a higher peak learning rate makes more progress per step in a short budget",
		      "a lower peak learning rate steadies a loss that is noisy after warmup" },
	[KNOB_WARMUP] = { "warmup", "config.c", 0, 4000, 1, 2.0, 0, 0,
			  "a longer warmup protects the early steps from Adam's large first updates",
			  "a shorter warmup spends more of the budget at the peak learning rate" },
	[KNOB_LR_DECAY] = { "lr_decay", "gpt.c", 0, 1, 0, 0, 0.5, 0,
			    "less decay keeps the learning rate high for longer",
			    "decaying the learning rate towards the end anneals the weights into a lower loss" },
	[KNOB_STEPS] = { "steps", "config.c", 1, 1000000, 1, 1.5, 0, 0,
			 "more steps see more tokens within the budget",
			 "fewer steps free budget; only useful combined with a larger model" },
	[KNOB_BATCH] = { "batch", "config.c", 1, 256, 1, 2.0, 0, 0,
			 "larger batches give a less noisy gradient (steps cut to keep the tokens equal)",
			 "smaller batches give more optimizer steps for the same tokens" },
	[KNOB_CONTEXT] = { "context", "config.c", 16, 2048, 1, 2.0, 0, 0,
			   "a longer context lets the model use more history (steps cut to keep the tokens equal)",
			   "a shorter context gives more steps for the same tokens" },
	[KNOB_WIDTH] = { "width", "config.c", 16, 4096, 1, 1.25, 0, 0,
			 "a wider model has more capacity per token",
			 "a narrower model is cheaper per step" },
	[KNOB_DEPTH] = { "depth", "config.c", 1, 48, 1, 0, 1, 0,
			 "one more layer adds capacity and composition",
			 "one layer fewer makes each step cheaper" },
	[KNOB_WD] = { "weight_decay", "config.c", 0, 0.5, 0, 2.0, 0, 0,
		      "more weight decay regularises the matrices",
		      "less weight decay lets a short run fit faster" },
	[KNOB_WD_EMBED] = { "wd_embed", "gpt.c", 0, 1, 1, 0, 1, 0,
			    "decaying the embeddings too regularises the rare tokens",
			    "not decaying the embeddings keeps rare tokens' vectors from shrinking" },
	[KNOB_INIT_STD] = { "init_std", "config.c", 0.002, 0.2, 0, 1.5, 0, 0,
			    "a larger init scale starts the network further from uniform",
			    "a smaller init scale keeps the early activations tame" },
	[KNOB_BETA1] = { "beta1", "config.c", 0.5, 0.99, 0, 2.0, 0, 1,
			 "a larger beta1 averages the gradient over more steps",
			 "a smaller beta1 reacts faster in a short run" },
	[KNOB_BETA2] = { "beta2", "config.c", 0.8, 0.9999, 0, 2.0, 0, 1,
			 "a larger beta2 gives a steadier second-moment estimate",
			 "a smaller beta2 adapts the step size faster" },
	[KNOB_EPS] = { "eps", "config.c", 1e-12, 1e-4, 0, 10.0, 0, 0,
		       "a larger eps damps the update of parameters with tiny gradients",
		       "a smaller eps keeps Adam's per-parameter scaling exact" },
};

/* config.c's hyperparameter lines, by knob. */
static const char *cfg_name(enum knob_id k)
{
	switch (k) {
	case KNOB_WD: return "weight_decay";
	case KNOB_INIT_STD: return "init_std";
	case KNOB_BETA1: return "beta1";
	case KNOB_BETA2: return "beta2";
	case KNOB_EPS: return "eps";
	default: return NULL;
	}
}

/* gpt.c's anchors: the pristine texts and the miner's forms. */
static const char LR_CONST[] = "\treturn c->lr;\n}";
static const char LR_DECAY_MARK[] = "\t/* miner knob lr_decay: linear decay to ";
static const char WD_ALL[] = "\treturn i == 0 || i == 1 || i == 4 || i == 6 || i == 10 || i == 12;";
static const char WD_MATRICES[] = "\treturn i == 4 || i == 6 || i == 10 || i == 12;";

const struct knob *knob_get(enum knob_id id)
{
	return (unsigned)id < KNOB_COUNT ? &knobs[id] : NULL;
}

enum knob_id knob_by_name(const char *name)
{
	for (int i = 0; i < KNOB_COUNT; i++)
		if (!strcmp(knobs[i].name, name))
			return (enum knob_id)i;
	return KNOB_COUNT;
}

/* ------------------------------------------------------------ text */

/* The value as the recipe's text writes a float: 4 significant digits, a
 * point or exponent, the f suffix. */
static void fmt_float(char *out, size_t cap, double v)
{
	char b[48];

	snprintf(b, sizeof b, "%.4g", v);
	if (!strpbrk(b, ".en"))
		strcat(b, ".0");
	snprintf(out, cap, "%sf", b);
}

static double round4(double v)
{
	char b[48];

	snprintf(b, sizeof b, "%.4g", v);
	return strtod(b, NULL);
}

/* Replaces [a, a + n) of *text with rep. */
static int splice(char **text, size_t a, size_t n, const char *rep, struct kerr *err)
{
	size_t len = strlen(*text), r = strlen(rep);
	char *out = malloc(len - n + r + 1);

	if (!out)
		return kerr_set(err, "miner.nomem", "out of memory");
	memcpy(out, *text, a);
	memcpy(out + a, rep, r);
	memcpy(out + a + r, *text + a + n, len - a - n + 1);
	free(*text);
	*text = out;
	return 0;
}

/* How many times pat occurs in text, counting to 2. */
static int occurs(const char *text, const char *pat)
{
	const char *p = strstr(text, pat);

	return !p ? 0 : strstr(p + strlen(pat), pat) ? 2 : 1;
}

/* The scale's row in config.c: the span between "{ " and " }" of the line
 * `{ "<scale>", ... },`, split into its comma-separated fields. */
struct row {
	size_t a, n; /* span of the fields, after the name */
	char f[ROW_N][32];
};

static int row_find(const char *text, const char *scale, struct row *r)
{
	char pat[64];
	const char *p, *end, *s;
	int i = 0;

	snprintf(pat, sizeof pat, "{ \"%s\", ", scale);
	/* one row of that name: a second (one commented out first, say)
	 * would be read and edited while the other takes effect */
	if (occurs(text, pat) != 1 || !(p = strstr(text, pat)))
		return -1;
	p += strlen(pat);
	if (!(end = strstr(p, " }")) || memchr(p, '\n', (size_t)(end - p)))
		return -1;
	r->a = (size_t)(p - text);
	r->n = (size_t)(end - p);
	for (s = p; i < ROW_N && s < end; i++) {
		const char *c = memchr(s, ',', (size_t)(end - s));
		size_t l = (size_t)((c ? c : end) - s);
		char *e;

		while (l && s[l - 1] == ' ')
			l--;
		if (l == 0 || l >= sizeof r->f[0])
			return -1;
		memcpy(r->f[i], s, l);
		r->f[i][l] = 0;
		/* each field one number (and its f): an edit rewrites the row
		 * from its fields, so a field that is not one would read back
		 * otherwise */
		(void)strtod(r->f[i], &e);
		if (e == r->f[i])
			return -1;
		if (*e == 'f')
			e++;
		if (*e)
			return -1;
		s = c ? c + 1 : end;
		while (c && s < end && *s == ' ')
			s++;
	}
	return i == ROW_N && s == end ? 0 : -1;
}

/* How many times c->NAME occurs in text as that field (not a longer
 * name's prefix), counting to 2. */
static int field_uses(const char *text, const char *name)
{
	char pat[64];
	const char *p = text;
	int n = 0;

	snprintf(pat, sizeof pat, "c->%s", name);
	while (n < 2 && (p = strstr(p, pat))) {
		char next = p[strlen(pat)];

		p += strlen(pat);
		if (!(next == '_' || (next >= 'a' && next <= 'z') || (next >= 'A' && next <= 'Z') ||
		      (next >= '0' && next <= '9')))
			n++;
	}
	return n;
}

/* "c->NAME = <number>f;", a line of its own and the field's only use in
 * the file: the span of the number. A second assignment (deeper in an if,
 * say) would take effect while the miner edited and read this one, and
 * its patch would not do what its rationale says. */
static int cfg_find(const char *text, const char *name, size_t *a, size_t *n, double *v)
{
	char pat[64], *e;
	const char *p;

	snprintf(pat, sizeof pat, "\n\tc->%s = ", name);
	if (field_uses(text, name) != 1 || !(p = strstr(text, pat)))
		return -1;
	p += strlen(pat);
	/* the span is one number (and its f): the edit replaces it whole */
	*v = strtod(p, &e);
	if (e == p)
		return -1;
	if (*e == 'f')
		e++;
	if (*e != ';')
		return -1;
	*a = (size_t)(p - text);
	*n = (size_t)(e - p);
	return 0;
}

/* gpt.c's functions the knobs edit, as the recipe writes their heads. */
static const char LR_HEAD[] = "\nfloat gpt_lr(const struct gpt_config *c, int64_t step)\n{\n";
static const char WD_HEAD[] = "\nint gpt_tensor_decays(int i)\n{\n";

/* Whether the function whose head is `head` (there once) has `returns`
 * return statements, `anchor` among them: what the miner edits is then
 * what decides. An early return (`if (step > X) return 0.5f * c->lr;`
 * before the constant tail) would read as the pristine form while another
 * path took effect, and the patch would not do what its rationale says. */
static int sole_path(const char *text, const char *head, const char *anchor, int returns)
{
	const char *b = strstr(text, head), *e, *p, *in;
	int n = 0;

	if (!b || occurs(text, head) != 1 || !(e = strstr(b + strlen(head), "\n}")))
		return 0;
	for (p = b; (p = strstr(p, "return")) && p < e; p += 6)
		n++;
	in = strstr(b, anchor);
	return n == returns && in && in < e + 2;
}

/* The lr_decay region: the pristine constant tail or the miner's form, up
 * to and including the function's closing brace. Exactly one of either
 * form, and gpt_lr's last of its two returns (sole_path), or the knob is
 * not there: with two, an edit of one and a read of the other would
 * disagree. */
static int decay_find(const char *text, size_t *a, size_t *n, double *v)
{
	const char *p = strstr(text, LR_CONST), *e;

	if (occurs(text, LR_CONST) + occurs(text, LR_DECAY_MARK) != 1 ||
	    !sole_path(text, LR_HEAD, p ? LR_CONST : LR_DECAY_MARK, 2))
		return -1;

	if (p) {
		*a = (size_t)(p - text);
		*n = strlen(LR_CONST);
		*v = 1.0;
		return 0;
	}
	if (!(p = strstr(text, LR_DECAY_MARK)) || !(e = strstr(p, "\n}")))
		return -1;
	*a = (size_t)(p - text);
	*n = (size_t)(e + 2 - p);
	*v = strtod(p + strlen(LR_DECAY_MARK), NULL);
	return 0;
}

static int read_text(const char *dir, const char *file, char **text, struct kerr *err)
{
	char path[FS_PATH_MAX];
	size_t len;

	if (fs_join(path, sizeof path, err, "%s/%s", dir, file) < 0)
		return -1;
	return fs_read_all(path, KNOB_FILE_MAX, text, &len, err);
}

static int write_text(const char *dir, const char *file, const char *text, struct kerr *err)
{
	char path[FS_PATH_MAX];

	if (fs_join(path, sizeof path, err, "%s/%s", dir, file) < 0)
		return -1;
	return fs_write_atomic(path, text, strlen(text), err);
}

/* ------------------------------------------------------------ reading */

/* A king's text is a stranger's (a validator serves it): its values are
 * held to the knob space before anything reasons from them. A knob whose
 * value is outside its bounds (or no number: nan, inf) is unavailable,
 * since a move from it would leave the space; the shape the cost model
 * multiplies (steps, batch, context, width, depth, heads) must be inside,
 * or nothing the miner computes about a point means anything
 * (miner.knob_range). */
static int check_range(struct knob_values *kv, const char *scale, struct kerr *err)
{
	static const enum knob_id shape[] = { KNOB_STEPS, KNOB_BATCH, KNOB_CONTEXT, KNOB_WIDTH, KNOB_DEPTH };

	for (size_t i = 0; i < sizeof shape / sizeof shape[0]; i++) {
		const struct knob *k = &knobs[shape[i]];
		double v = kv->v[shape[i]];

		if (!(isfinite(v) && v >= k->lo && v <= k->hi && v == floor(v)))
			return kerr_set(err, "miner.knob_range",
					"the king's %s row has %s = %g, outside the %g..%g a miner reasons about", scale,
					k->name, v, k->lo, k->hi);
	}
	if (kv->heads < 1 || kv->heads > KNOB_HEADS_MAX || (int)kv->v[KNOB_WIDTH] % kv->heads)
		return kerr_set(err, "miner.knob_range", "the king's %s row has %d heads for width %d", scale,
				kv->heads, (int)kv->v[KNOB_WIDTH]);
	for (int k = 0; k < KNOB_COUNT; k++)
		if (kv->avail[k] && !(isfinite(kv->v[k]) && kv->v[k] >= knobs[k].lo && kv->v[k] <= knobs[k].hi))
			kv->avail[k] = 0;
	return 0;
}

int knob_read(const char *checkout, const char *scale, struct knob_values *kv, struct kerr *err)
{
	char *cfg = NULL, *gpt = NULL;
	int rc = -1;

	memset(kv, 0, sizeof *kv);
	/* the cheap refusal first: an unknown scale reads no file */
	if (!scale_find(scale, err))
		return -1;
	if (read_text(checkout, "config.c", &cfg, err) == 0 && read_text(checkout, "gpt.c", &gpt, err) == 0) {
		rc = knob_read_texts(cfg, gpt, scale, kv, err);
		if (rc < 0 && !strcmp(err->code, "miner.knob_anchor"))
			kerr_prefix(err, "%s", checkout);
	}
	free(cfg);
	free(gpt);
	return rc;
}

/* The knobs a scale's row holds, and the config field each row value
 * is given to. */
static const struct {
	enum knob_id k;
	const char *field, *row;
} row_knobs[] = {
	{ KNOB_LR, "lr", "lr" },	     { KNOB_WARMUP, "warmup_steps", "warmup" }, { KNOB_STEPS, "steps", "steps" },
	{ KNOB_BATCH, "B", "B" },	     { KNOB_CONTEXT, "T", "T" },		{ KNOB_WIDTH, "C", "C" },
	{ KNOB_DEPTH, "L", "L" },
};

/* Whether the config takes field from the row and sets it nowhere else:
 * a second assignment (deeper in an if, say) would take effect while the
 * miner edited the row, and its patch would not do what it says. */
static int from_row(const char *cfg, const char *field, const char *row)
{
	char pat[96];

	snprintf(pat, sizeof pat, "\n\tc->%s = row->%s;", field, row);
	return field_uses(cfg, field) == 1 && occurs(cfg, pat) == 1;
}

int knob_read_texts(const char *cfg, const char *gpt, const char *scale, struct knob_values *kv, struct kerr *err)
{
	const struct scale *sc;
	struct row r;
	size_t a, n;

	memset(kv, 0, sizeof *kv);
	if (!(sc = scale_find(scale, err)))
		return -1;
	kv->vocab = sc->vocab;
	kv->budget_units = sc->budget_units;
	kv->alpha = KNOB_ALPHA_UNVERIFIED;
	/* at the gpu-* scales a unit is a reference GPU's second, not the CPU's */
	kv->ref_gflops = scale_on_gpu(scale) ? calib_gflops(&calib_ref_gpu, calib_ref_gpu.ref_ms)
					     : calib_gflops(&calib_ref_cpu, calib_ref_cpu.ref_ms);
	if (row_find(cfg, scale, &r) < 0)
		return kerr_set(err, "miner.knob_anchor", "config.c: no row for scale '%s' in the recipe's form", scale);
	kv->v[KNOB_LR] = strtod(r.f[ROW_LR], NULL);
	kv->v[KNOB_WARMUP] = strtod(r.f[ROW_WARMUP], NULL);
	kv->v[KNOB_STEPS] = strtod(r.f[ROW_STEPS], NULL);
	kv->v[KNOB_BATCH] = strtod(r.f[ROW_B], NULL);
	kv->v[KNOB_CONTEXT] = strtod(r.f[ROW_T], NULL);
	kv->v[KNOB_WIDTH] = strtod(r.f[ROW_C], NULL);
	kv->v[KNOB_DEPTH] = strtod(r.f[ROW_L], NULL);
	for (size_t i = 0; i < sizeof row_knobs / sizeof row_knobs[0]; i++)
		kv->avail[row_knobs[i].k] = from_row(cfg, row_knobs[i].field, row_knobs[i].row);
	kv->heads = atoi(r.f[ROW_NH]);
	for (int k = 0; k < KNOB_COUNT; k++) {
		double v;
		if (cfg_name((enum knob_id)k) && cfg_find(cfg, cfg_name((enum knob_id)k), &a, &n, &v) == 0) {
			kv->v[k] = v;
			kv->avail[k] = 1;
		}
	}
	if (decay_find(gpt, &a, &n, &kv->v[KNOB_LR_DECAY]) == 0)
		kv->avail[KNOB_LR_DECAY] = 1;
	/* one of the two forms, once (see decay_find) */
	if (occurs(gpt, WD_ALL) + occurs(gpt, WD_MATRICES) == 1 &&
	    sole_path(gpt, WD_HEAD, strstr(gpt, WD_ALL) ? WD_ALL : WD_MATRICES, 1)) {
		kv->v[KNOB_WD_EMBED] = strstr(gpt, WD_ALL) ? 1 : 0;
		kv->avail[KNOB_WD_EMBED] = 1;
	}
	return check_range(kv, scale, err);
}

/* ------------------------------------------------------------ points */

void knob_point_with(struct knob_point *p, const struct knob_values *king, enum knob_id k, double v)
{
	int i, j;

	for (i = 0; i < p->n && p->set[i].k < k; i++)
		;
	if (i < p->n && p->set[i].k == k) {
		if (v == king->v[k]) {
			for (j = i; j + 1 < p->n; j++)
				p->set[j] = p->set[j + 1];
			p->n--;
		} else
			p->set[i].v = v;
		return;
	}
	if (v == king->v[k] || p->n >= KNOB_POINT_MAX)
		return;
	for (j = p->n; j > i; j--)
		p->set[j] = p->set[j - 1];
	p->set[i].k = k;
	p->set[i].v = v;
	p->n++;
}

double knob_point_value(const struct knob_point *p, const struct knob_values *king, enum knob_id k)
{
	for (int i = 0; i < p->n; i++)
		if (p->set[i].k == k)
			return p->set[i].v;
	return king->v[k];
}

int knob_point_format(const struct knob_point *p, char *out, size_t cap)
{
	size_t len = 0;

	if (cap)
		out[0] = 0;
	if (p->n == 0)
		return snprintf(out, cap, "king") < (int)cap ? 0 : -1;
	for (int i = 0; i < p->n; i++) {
		int w = snprintf(out + len, cap - len, "%s%s=%.6g", i ? "," : "", knobs[p->set[i].k].name, p->set[i].v);
		if (w < 0 || (size_t)w >= cap - len)
			return -1;
		len += (size_t)w;
	}
	return 0;
}

int knob_point_parse(const char *s, struct knob_point *p, struct kerr *err)
{
	char buf[512], *tok, *save = NULL;
	struct knob_values none;

	memset(p, 0, sizeof *p);
	memset(&none, 0, sizeof none);
	if (!strcmp(s, "king"))
		return 0;
	if (strlen(s) >= sizeof buf)
		return kerr_set(err, "miner.bad_point", "point too long");
	strcpy(buf, s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '='), *end;
		enum knob_id k;
		double v;
		if (!eq)
			return kerr_set(err, "miner.bad_point", "'%.40s': not knob=value", tok);
		*eq = 0;
		if ((k = knob_by_name(tok)) == KNOB_COUNT)
			return kerr_set(err, "miner.bad_point", "'%.40s': no such knob", tok);
		v = strtod(eq + 1, &end);
		if (end == eq + 1 || *end || !isfinite(v))
			return kerr_set(err, "miner.bad_point", "%s: '%.40s' is not a number", tok, eq + 1);
		/* none.v is 0 for every knob: a parsed 0 must still be kept. */
		none.v[k] = v == 0 ? 1 : 0;
		knob_point_with(p, &none, k, v);
	}
	return 0;
}

static int width_unit(const struct knob_values *king)
{
	return 8 * (king->heads > 0 ? king->heads : 1);
}

double knob_step_in(enum knob_id k, double v, int dir, const struct knob_values *king)
{
	const struct knob *kb = &knobs[k];
	double n;

	if (k == KNOB_WIDTH) {
		int u = width_unit(king), d = (int)lround(v * 0.25 / u) * u;
		n = v + (dir > 0 ? 1 : -1) * (d > u ? d : u);
	} else if (kb->one_minus)
		n = 1.0 - (dir > 0 ? (1.0 - v) / kb->mul : (1.0 - v) * kb->mul);
	else if (kb->add > 0)
		n = v + (dir > 0 ? kb->add : -kb->add);
	else if (v == 0 && dir > 0)
		n = kb->integer ? 1 : kb->lo > 0 ? kb->lo : 0.01;
	else
		n = dir > 0 ? v * kb->mul : v / kb->mul;
	n = kb->integer ? (double)llround(n) : round4(n);
	if (kb->integer && n == v)
		n = v + (dir > 0 ? 1 : -1);
	if (k == KNOB_WD && dir < 0 && n < 0.01)
		n = 0; /* halving never reaches 0: the last step down is off */
	if (n < kb->lo || n > kb->hi)
		return v;
	return n;
}

double knob_step(enum knob_id k, double v, int dir)
{
	struct knob_values kv;

	memset(&kv, 0, sizeof kv);
	kv.heads = 1;
	return knob_step_in(k, v, dir, &kv);
}

/* The scale row the point gives: the coupled knobs trade steps for tokens
 * per step. */
struct shape {
	double C, L, T, B, steps, warmup, lr;
};

static void point_shape(const struct knob_point *p, const struct knob_values *king, struct shape *s)
{
	double kB = king->v[KNOB_BATCH], kT = king->v[KNOB_CONTEXT];

	s->C = knob_point_value(p, king, KNOB_WIDTH);
	s->L = knob_point_value(p, king, KNOB_DEPTH);
	s->T = knob_point_value(p, king, KNOB_CONTEXT);
	s->B = knob_point_value(p, king, KNOB_BATCH);
	s->steps = (double)llround(knob_point_value(p, king, KNOB_STEPS) * (kB * kT) / (s->B * s->T));
	if (s->steps < 1)
		s->steps = 1;
	s->warmup = knob_point_value(p, king, KNOB_WARMUP);
	s->lr = knob_point_value(p, king, KNOB_LR);
}

static double shape_flops(const struct shape *s, int vocab)
{
	double C = s->C, L = s->L, T = s->T;
	double params = vocab * C + T * C + L * (12 * C * C + 13 * C) + 2 * C;

	return 6 * params * s->B * T * s->steps;
}

double knob_point_flops(const struct knob_point *p, const struct knob_values *king)
{
	struct shape s;

	point_shape(p, king, &s);
	return shape_flops(&s, king->vocab);
}

int knob_point_check(const struct knob_point *p, const struct knob_values *king, struct kerr *err)
{
	struct knob_point none = { 0 };
	struct shape s;
	double f, cap, own;

	for (int i = 0; i < p->n; i++) {
		const struct knob *kb = &knobs[p->set[i].k];
		if (!king->avail[p->set[i].k])
			return kerr_set(err, "miner.knob_anchor", "%s: the king's %s no longer has this knob's code",
					kb->name, kb->file);
		if (!(p->set[i].v >= kb->lo && p->set[i].v <= kb->hi))
			return kerr_set(err, "miner.knob_bounds", "%s=%g outside %g..%g", kb->name, p->set[i].v, kb->lo,
					kb->hi);
	}
	point_shape(p, king, &s);
	if (king->heads < 1 || fmod(s.C, width_unit(king)) != 0)
		return kerr_set(err, "miner.knob_bounds", "width %g: not a multiple of 8 x %d heads", s.C, king->heads);
	if (s.warmup * 2 > s.steps)
		return kerr_set(err, "miner.knob_bounds", "warmup %g over half of %g steps", s.warmup, s.steps);
	f = shape_flops(&s, king->vocab);
	cap = knob_flops_cap(king);
	own = knob_point_flops(&none, king) * KNOB_COST_MAX;
	if (f > cap || f > own)
		return kerr_set(err, "miner.knob_budget", "%.3g model FLOPs over the %s cap %.3g", f,
				f > cap ? "scale budget's" : "miner's (1.5 x the king)", f > cap ? cap : own);
	return 0;
}

double knob_alpha(const struct knob_values *king)
{
	return king->alpha > 0 && king->alpha <= 1.0 ? king->alpha : KNOB_ALPHA_UNVERIFIED;
}

double knob_flops_cap(const struct knob_values *king)
{
	return king->budget_units * king->ref_gflops * 1e9 * knob_alpha(king);
}

void knob_point_shorten(struct knob_point *p, const struct knob_values *king, int div)
{
	double st = knob_point_value(p, king, KNOB_STEPS), wu = knob_point_value(p, king, KNOB_WARMUP);
	struct knob_values any = *king;

	/* Set even when equal to the king's, so the short variant never
	 * collapses into the full one. */
	any.v[KNOB_STEPS] = -1;
	any.v[KNOB_WARMUP] = -1;
	knob_point_with(p, &any, KNOB_STEPS, st / div >= 2 ? (double)llround(st / div) : 2);
	knob_point_with(p, &any, KNOB_WARMUP, (double)llround(wu / div));
}

/* ------------------------------------------------------------ apply */

static int set_row_field(struct row *r, enum row_field f, double v, int is_float)
{
	char b[32];

	if (is_float)
		fmt_float(b, sizeof b, v);
	else
		snprintf(b, sizeof b, "%lld", (long long)llround(v));
	if (strtod(r->f[f], NULL) == strtod(b, NULL))
		return 0;
	snprintf(r->f[f], sizeof r->f[f], "%s", b);
	return 1;
}

static int edit_config(char **cfg, const char *scale, const struct knob_point *p, const struct knob_values *king,
		       struct kerr *err)
{
	struct row r;
	struct shape s;
	char line[ROW_N * 34];
	size_t len = 0, a, n;
	double old;
	int changed = 0;

	if (row_find(*cfg, scale, &r) < 0)
		return kerr_set(err, "miner.knob_anchor", "config.c: no row for scale '%s'", scale);
	point_shape(p, king, &s);
	changed |= set_row_field(&r, ROW_C, s.C, 0);
	changed |= set_row_field(&r, ROW_L, s.L, 0);
	changed |= set_row_field(&r, ROW_T, s.T, 0);
	changed |= set_row_field(&r, ROW_B, s.B, 0);
	changed |= set_row_field(&r, ROW_STEPS, s.steps, 0);
	changed |= set_row_field(&r, ROW_WARMUP, s.warmup, 0);
	changed |= set_row_field(&r, ROW_LR, s.lr, 1);
	/* The recipe refuses a checkpoint interval beyond its steps. */
	if (strtod(r.f[ROW_CKPT], NULL) > s.steps)
		changed |= set_row_field(&r, ROW_CKPT, s.steps, 0);
	if (changed) {
		for (int i = 0; i < ROW_N; i++)
			len += (size_t)snprintf(line + len, sizeof line - len, "%s%s", i ? ", " : "", r.f[i]);
		if (splice(cfg, r.a, r.n, line, err) < 0)
			return -1;
	}
	for (int i = 0; i < p->n; i++) {
		const char *name = cfg_name(p->set[i].k);
		char b[48];
		if (!name)
			continue;
		if (cfg_find(*cfg, name, &a, &n, &old) < 0)
			return kerr_set(err, "miner.knob_anchor", "config.c: no line 'c->%s = ...;'", name);
		fmt_float(b, sizeof b, p->set[i].v);
		if (splice(cfg, a, n, b, err) < 0)
			return -1;
	}
	return 0;
}

static int edit_gpt(char **gpt, const struct knob_point *p, const struct knob_values *king, struct kerr *err)
{
	double d = knob_point_value(p, king, KNOB_LR_DECAY), e = knob_point_value(p, king, KNOB_WD_EMBED), old;
	size_t a, n;
	char *w;

	if (d != king->v[KNOB_LR_DECAY]) {
		char rep[512], f[48];
		if (decay_find(*gpt, &a, &n, &old) < 0)
			return kerr_set(err, "miner.knob_anchor", "gpt.c: gpt_lr's constant tail is not there");
		fmt_float(f, sizeof f, d);
		if (d == 1.0)
			snprintf(rep, sizeof rep, "%s", LR_CONST);
		else
			snprintf(rep, sizeof rep,
				 "%s%.4g of the peak at the last step */\n"
				 "\treturn c->lr * (1.0f - (1.0f - %s) * (float)(step - c->warmup_steps) /\n"
				 "\t\t\t(float)(c->steps > c->warmup_steps ? c->steps - c->warmup_steps : 1));\n}",
				 LR_DECAY_MARK, d, f);
		if (splice(gpt, a, n, rep, err) < 0)
			return -1;
	}
	if (e != king->v[KNOB_WD_EMBED]) {
		const char *from = e ? WD_MATRICES : WD_ALL, *to = e ? WD_ALL : WD_MATRICES;
		if (!(w = strstr(*gpt, from)))
			return kerr_set(err, "miner.knob_anchor", "gpt.c: gpt_tensor_decays is not in the recipe's form");
		if (splice(gpt, (size_t)(w - *gpt), strlen(from), to, err) < 0)
			return -1;
	}
	return 0;
}

int knob_edit(char **cfg, char **gpt, const char *scale, const struct knob_point *p, const struct knob_values *king,
	      struct kerr *err)
{
	return edit_config(cfg, scale, p, king, err) < 0 || edit_gpt(gpt, p, king, err) < 0 ? -1 : 0;
}

void knob_rationale(char *rat, size_t cap, const char *scale, const struct knob_point *p,
		      const struct knob_values *king)
{
	size_t len = 0;
	struct shape s;

	point_shape(p, king, &s);
	len += (size_t)snprintf(rat + len, cap - len, "Recipe knobs changed by the karpa miner's search (scale %s):\n\n",
				scale);
	for (int i = 0; i < p->n && len < cap; i++) {
		const struct knob *kb = &knobs[p->set[i].k];
		double was = king->v[p->set[i].k], now = p->set[i].v;
		len += (size_t)snprintf(rat + len, cap - len, "- %s in %s: %.6g -> %.6g. Why: %s", kb->name, kb->file, was,
					now, now > was ? kb->why_up : kb->why_down);
		if ((p->set[i].k == KNOB_BATCH || p->set[i].k == KNOB_CONTEXT) && len < cap)
			len += (size_t)snprintf(rat + len, cap - len, " (steps %.0f, tokens per run unchanged)", s.steps);
		if (len < cap)
			len += (size_t)snprintf(rat + len, cap - len, ".\n");
	}
}

int knob_apply(const char *checkout, const char *scale, const struct knob_point *p,
	       const struct knob_values *king, char **diff, size_t *diff_len, char *rat, size_t rat_cap,
	       struct kerr *err)
{
	const char *argv[] = { "diff", "--no-color", "--no-ext-diff", "--src-prefix=a/", "--dst-prefix=b/", NULL };
	const struct reciperepo_git_opts go = { .out_max = KNOB_DIFF_MAX + 1, .reason = "miner.git" };
	struct proc_result res;
	char *cfg = NULL, *gpt = NULL;
	int rc = -1;

	*diff = NULL;
	*diff_len = 0;
	if (read_text(checkout, "config.c", &cfg, err) < 0 || read_text(checkout, "gpt.c", &gpt, err) < 0 ||
	    knob_edit(&cfg, &gpt, scale, p, king, err) < 0 || write_text(checkout, "config.c", cfg, err) < 0 ||
	    write_text(checkout, "gpt.c", gpt, err) < 0)
		goto out;
	if (reciperepo_git(checkout, argv, &go, &res, err) < 0)
		goto out;
	if (res.exit_code != 0 || res.out_truncated) {
		char line[200];
		proc_first_line(res.err, line, sizeof line);
		kerr_set(err, "miner.git", "%s: git diff failed: %s", checkout, res.out_truncated ? "diff too large" : line);
		proc_result_free(&res);
		goto out;
	}
	*diff = res.out;
	*diff_len = res.out_len;
	res.out = NULL;
	proc_result_free(&res);
	knob_rationale(rat, rat_cap, scale, p, king);
	rc = 0;
out:
	free(cfg);
	free(gpt);
	return rc;
}

int knob_reset(const char *checkout, struct kerr *err)
{
	const char *argv[] = { "checkout", "-q", "--", ".", NULL };
	const struct reciperepo_git_opts go = { .reason = "miner.git" };
	struct proc_result res;

	if (reciperepo_git(checkout, argv, &go, &res, err) < 0)
		return -1;
	if (res.exit_code != 0) {
		char line[200];
		proc_first_line(res.err, line, sizeof line);
		proc_result_free(&res);
		return kerr_set(err, "miner.git", "%s: git checkout failed: %s", checkout, line);
	}
	proc_result_free(&res);
	return 0;
}
