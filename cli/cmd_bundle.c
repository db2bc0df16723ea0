/* cmd_bundle.c: `karpa bundle verify|show`. Calls bundle.c and plot.c and
 * prints. Owns the bundle commands' output contract (verify --json: one
 * object, "version":1). show never hides a failed verification: the verdict
 * comes first and the exit status follows it. */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "harness/trainlog.h"
#include "proof/bundle.h"
#include "util/plot.h"
#include "util/fsutil.h"
#include "util/kerr.h"


#define BUNDLE_JSON_VERSION 1
/* The terminal plot needs no more points than it has dots; the log of a
 * long run is read whole but only this many step records are kept. */
#define CURVE_POINTS_MAX (1u << 22)

static const char usage_text[] =
	"usage: karpa bundle verify BUNDLE [--json]\n"
	"       karpa bundle show BUNDLE [--svg FILE]\n"
	"\n"
	"BUNDLE is a bundle directory or its .tar transport file.\n"
	"  verify       check manifest, signature, file digests, log chain, kept\n"
	"               checkpoints and attestation; exit 0 only if all hold\n"
	"  show         verify, then summarise the run and draw its loss curve;\n"
	"               also writes the curve as SVG (default BUNDLE.loss.svg)\n"
	"  --json       verify: print one JSON object on stdout\n"
	"  --svg FILE   show: where to write the SVG\n";

static int usage(int rc)
{
	fputs(usage_text, rc ? stderr : stdout);
	return rc;
}

static const char *tier_name(enum attest_tier t)
{
	return t == ATTEST_VERIFIED ? "verified" : "unverified";
}

static int bundle_verify_cmd(int argc, char **argv)
{
	struct kerr err = { { 0 }, { 0 } };
	struct bundle_report r;
	int as_json = 0, c;

	if ((c = cli_json_arg(argc, argv, "h", &as_json)) >= 0)
		return usage(c);
	if (bundle_verify(argv[optind], &r, &err) < 0) {
		if (as_json)
			cli_print_json(json_pack("{s:i, s:b, s:s, s:s}", "version", BUNDLE_JSON_VERSION, "ok", 0, "code",
					         err.code, "message", err.msg), JSON_SORT_KEYS, NULL);
		bundle_report_free(&r);
		return cli_fail(&err);
	}
	if (as_json)
		cli_print_json(json_pack("{s:i, s:b, s:s, s:s, s:s, s:{s:s, s:s, s:f}}", "version", BUNDLE_JSON_VERSION,
				         "ok", 1, "manifest_sha256", r.manifest_sha256, "miner", r.miner, "log_head",
				         r.log_head, "attestation", "kind", r.attest_kind, "tier", tier_name(r.tier),
				         "alpha", r.alpha), JSON_SORT_KEYS, NULL);
	else
		printf("ok: %s verified (manifest %s, miner %.16s..., attestation %s, %s, alpha %.2f)\n",
		       argv[optind], r.manifest_sha256, r.miner, r.attest_kind, tier_name(r.tier), r.alpha);
	bundle_report_free(&r);
	return EXIT_OK;
}

/* ---- show -------------------------------------------------------------- */

static const char *str_at(const json_t *m, const char *obj, const char *key)
{
	const json_t *o = obj ? json_object_get(m, obj) : m;
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "?";
}

/* A scalar member as text: "?" when absent, so a thin manifest still prints. */
static void scalar(const json_t *v, char *out, size_t cap)
{
	if (json_is_integer(v))
		snprintf(out, cap, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(out, cap, "%.6g", json_real_value(v));
	else if (json_is_string(v))
		snprintf(out, cap, "%s", json_string_value(v));
	else if (json_is_boolean(v))
		snprintf(out, cap, "%s", json_is_true(v) ? "true" : "false");
	else
		snprintf(out, cap, "?");
}

/* "key value  key value ..." for every scalar member of an object. */
static void print_members(const char *label, const json_t *o)
{
	const char *k;
	json_t *v;
	char buf[256];

	printf("%-11s", label);
	if (!json_is_object(o)) {
		printf("?\n");
		return;
	}
	json_object_foreach((json_t *)o, k, v) {
		if (json_is_object(v) || json_is_array(v))
			continue;
		scalar(v, buf, sizeof buf);
		printf(" %s %s", k, buf);
	}
	putchar('\n');
}

static void print_summary(const char *path, const json_t *m, const struct bundle_report *r, int ok)
{
	const json_t *res = json_object_get(m, "results"), *cfg = json_object_get(m, "config");
	const json_t *wall = json_object_get(res, "wall_s") ? json_object_get(res, "wall_s")
							    : json_object_get(res, "train_s");
	char a[64], b[64], c[64], d[64], e[64];

	printf("bundle      %s\nmanifest    %s\n", path, r->manifest_sha256);
	printf("miner       %s\n", str_at(m, NULL, "miner"));
	printf("king        %s (commit %s)\n", str_at(m, "king", "tag"), str_at(m, "king", "commit"));
	printf("patch       %s\n", str_at(m, NULL, "patch_sha256"));
	scalar(json_object_get(cfg, "seed"), a, sizeof a);
	scalar(json_object_get(cfg, "scale"), b, sizeof b);
	scalar(json_object_get(cfg, "threads"), c, sizeof c);
	scalar(json_object_get(cfg, "budget_units"), d, sizeof d);
	printf("config      seed %s  scale %s  threads %s  budget %s units\n", a, b, c, d);
	scalar(json_object_get(res, "steps"), a, sizeof a);
	scalar(json_object_get(res, "tokens"), b, sizeof b);
	scalar(wall, c, sizeof c);
	scalar(json_object_get(res, "val_bpb"), d, sizeof d);
	printf("results     steps %s  tokens %s  %s %s s\n", a, b,
	       json_object_get(res, "wall_s") ? "wall" : "train", c);
	printf("val_bpb     %s\n", d);
	print_members("calibration", json_object_get(m, "calibration"));
	scalar(json_object_get(json_object_get(m, "log"), "lines"), e, sizeof e);
	printf("log head    %s%s%s%s\n", str_at(m, "log", "head"), strcmp(e, "?") ? " (" : "",
	       strcmp(e, "?") ? e : "", strcmp(e, "?") ? " lines)" : "");
	if (ok)
		printf("attestation %s  tier %s  alpha %.2f\n", r->attest_kind, tier_name(r->tier), r->alpha);
	else
		printf("attestation %s  (not verified)\n", str_at(m, "attestation", "kind"));
	if (!strcmp(str_at(m, "attestation", "kind"), "mock"))
		printf("            *** MOCK ATTESTATION: no confidential-compute hardware vouches for this run;\n"
		       "            *** unverified tier, alpha 0.5, its claimed compute counts double\n");
}

static void print_files(const json_t *m)
{
	const char *name;
	json_t *v;
	long long total = 0;

	printf("files\n");
	json_object_foreach(json_object_get(m, "files"), name, v) {
		long long n = json_integer_value(json_object_get(v, "bytes"));
		printf("  %14lld  %s\n", n, name);
		total += n;
	}
	printf("  %14lld  total (plus %s, %s, %s)\n", total, BUNDLE_MANIFEST, BUNDLE_SIG, ATTEST_FILE);
}

struct curve {
	double *x, *y, *marks;
	size_t n, cap, nmarks, mcap;
};

/* Grows *a (and *b in step, when given) to hold one more value. */
static int grow(double **a, double **b, size_t n, size_t *cap)
{
	size_t nc;
	double *p;

	if (n < *cap)
		return 0;
	nc = *cap ? 2 * *cap : 256;
	if (nc > CURVE_POINTS_MAX || !(p = realloc(*a, nc * sizeof *p)))
		return -1;
	*a = p;
	if (b) {
		if (!(p = realloc(*b, nc * sizeof *p)))
			return -1;
		*b = p;
	}
	*cap = nc;
	return 0;
}

/* Loss per step and checkpoint steps from train.log. */
static int read_curve(const char *dir, struct curve *cv, struct kerr *err)
{
	char path[FS_PATH_MAX];
	struct trainlog_iter it;
	struct trainlog_rec rec;
	int r;

	if (fs_join(path, sizeof path, err, "%s/train.log", dir) < 0 || trainlog_iter_open(&it, path, err) < 0)
		return -1;
	while ((r = trainlog_iter_next(&it, &rec, err)) == 1) {
		/* Step record s ends with s+1 steps done, which is how checkpoint
		 * records count: plotting at s+1 puts both on one axis. */
		if (rec.kind == TRAINLOG_REC_STEP && grow(&cv->x, &cv->y, cv->n, &cv->cap) == 0) {
			cv->x[cv->n] = (double)rec.step + 1;
			cv->y[cv->n++] = rec.loss;
		} else if (rec.kind == TRAINLOG_REC_CHECKPOINT && grow(&cv->marks, NULL, cv->nmarks, &cv->mcap) == 0) {
			cv->marks[cv->nmarks++] = (double)rec.step;
		}
	}
	trainlog_iter_close(&it);
	return r < 0 ? -1 : 0;
}

static void svg_path_for(const char *bundle, char *out, size_t cap)
{
	size_t n = strlen(bundle);

	while (n > 1 && bundle[n - 1] == '/')
		n--;
	snprintf(out, cap, "%.*s.loss.svg", (int)n, bundle);
}

static void show_curve(const char *dir, const char *svg, const json_t *m)
{
	struct kerr err = { { 0 }, { 0 } };
	struct curve cv = { 0 };
	char title[128];

	snprintf(title, sizeof title, "train loss, %s", str_at(m, "king", "tag"));
	if (read_curve(dir, &cv, &err) < 0) {
		printf("\n(no loss curve: %s)\n", err.msg);
		goto out;
	}
	if (cv.n == 0) {
		printf("\n(no loss curve: the log has no step records)\n");
		goto out;
	}
	struct plot_curve pc = { .x = cv.x, .y = cv.y, .n = cv.n, .marks = cv.marks, .nmarks = cv.nmarks,
				 .title = title, .xlabel = "steps", .ylabel = "loss" };
	putchar('\n');
	if (plot_term(stdout, &pc, PLOT_TERM_WIDTH, PLOT_TERM_HEIGHT, &err) < 0)
		printf("(no loss curve: %s)\n", err.msg);
	if (plot_svg(svg, &pc, &err) < 0)
		fprintf(stderr, "karpa: %s: %s\n", err.code, err.msg);
	else
		printf("\nloss curve written to %s\n", svg);
out:
	free(cv.x);
	free(cv.y);
	free(cv.marks);
}

static int bundle_show_cmd(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "svg", required_argument, 0, 's' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	struct kerr err = { { 0 }, { 0 } }, verr = { { 0 }, { 0 } };
	struct bundle_report r = { 0 };
	struct bundle_dir d;
	char svg[FS_PATH_MAX];
	const char *svg_opt = NULL;
	int c, ok;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 's')
			svg_opt = optarg;
		else
			return usage(c == 'h' ? EXIT_OK : EXIT_USAGE);
	}
	if (optind != argc - 1)
		return usage(EXIT_USAGE);
	if (svg_opt)
		snprintf(svg, sizeof svg, "%s", svg_opt);
	else
		svg_path_for(argv[optind], svg, sizeof svg);
	if (bundle_dir_open(argv[optind], &d, &err) < 0)
		return cli_fail(&err);
	ok = bundle_verify_taken(&d.t, &r, &verr) == 0;
	if (ok)
		printf("verified    ok\n");
	else
		printf("verified    FAILED  %s: %s\n", verr.code, verr.msg);
	if (r.manifest) {
		print_summary(argv[optind], r.manifest, &r, ok);
		print_files(r.manifest);
		show_curve(d.t.dir, svg, r.manifest);
	}
	bundle_report_free(&r);
	bundle_dir_close(&d);
	return ok ? EXIT_OK : cli_fail(&verr);
}

int cmd_bundle(int argc, char **argv)
{
	if (argc < 2)
		return usage(EXIT_USAGE);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return usage(EXIT_OK);
	if (!strcmp(argv[1], "verify"))
		return bundle_verify_cmd(argc - 1, argv + 1);
	if (!strcmp(argv[1], "show"))
		return bundle_show_cmd(argc - 1, argv + 1);
	fprintf(stderr, "karpa bundle: unknown subcommand '%s'\n", argv[1]);
	return usage(EXIT_USAGE);
}
