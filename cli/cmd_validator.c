/* cmd_validator.c: `karpa validator init|status|epoch`: creating a
 * validator's state folder, reporting what it holds (king, noise floor,
 * verdict counts), and closing an epoch by hand (weights to the ledger). Owns these commands' output contract (--json: one object,
 * "version":1); the state itself belongs to vstate.c. */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "data/dataset.h"
#include "util/log.h"
#include "validator/king.h"
#include "sandbox/recipe_build.h"
#include "harness/scale.h"
#include "validator/expcorpus.h"
#include "validator/ledger.h"
#include "validator/validator.h"
#include "validator/vstate.h"
#include "validator/weights.h"
#include "util/fsutil.h"
#include "util/kerr.h"


/* A hidden split cut from a published corpus is public by subtraction:
 * the miners' folder holds train and val, and the corpus less those is the
 * hidden split, whatever the split key. Fine for one machine's network and
 * for tests; a validator of a real network prepares its data from text it
 * does not publish (docs/data.md). */
static void warn_public_hidden(const char *hidden)
{
	if (dataset_public_source(hidden) == 1)
		log_msg(LOG_NOTICE, "validator",
			"the hidden split was cut from a published corpus: any miner can recover it as the corpus less "
			"the train and val splits, whatever the split key. Prepare a network's data from text you do "
			"not publish (karpa data prepare --from, docs/data.md)");
}

int cmd_validator(int argc, char **argv);

#define VALIDATOR_JSON_VERSION 1

static const char usage_text[] =
	"usage: karpa validator init STATE --data DIR --hidden DIR --scale S [--recipe-src DIR] [--json]\n"
	"       karpa validator status STATE [--json]\n"
	"       karpa validator epoch STATE [--epoch-seconds S] [--json]\n"
	"       karpa validator serve STATE [--listen ADDR:PORT] ... (serve --help)\n"
	"\n"
	"  init     create a validator state folder: database, canonical recipe\n"
	"           repository (king recipe-v0.1.0), secret, bundle store.\n"
	"           STATE must not exist or be empty.\n"
	"    --data DIR        public data folder (train + public val split)\n"
	"    --hidden DIR      hidden val folder (held by validators only)\n"
	"    --scale S         the scale judged (tiny, cpu, ...)\n"
	"    --recipe-src DIR  recipe sources for recipe-v0.1.0 (default: the\n"
	"                      project's recipe/)\n"
	"  status   current king (tag, commit, hidden val_bpb), its noise floor\n"
	"           and the number of submissions by verdict\n"
	"  epoch    close the next epoch now: compute the weight vector from the\n"
	"           corpus and append it to the signed ledger (docs/weights.md)\n"
	"    --epoch-seconds S  the epoch length, fixed at the first close\n"
	"                       (default 4320, a subnet tempo); ages are\n"
	"                       measured in these epochs\n"
	"  --json   print one JSON object on stdout\n";

static int usage(int rc)
{
	fputs(usage_text, rc ? stderr : stdout);
	return rc;
}

static json_t *real_or_null(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static int validator_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "recipe-src", required_argument, 0, 'r' }, { "data", required_argument, 0, 'd' },
		{ "hidden", required_argument, 0, 'H' },     { "scale", required_argument, 0, 's' },
		{ "json", no_argument, 0, 'j' },	     { "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	struct vstate_init_opts o = { 0 };
	struct kerr err = { { 0 }, { 0 } };
	struct vstate s;
	struct vstate_king k;
	char recipe_src[FS_PATH_MAX];
	int as_json = 0, c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r': o.recipe_src = optarg; break;
		case 'd': o.data = optarg; break;
		case 'H': o.hidden = optarg; break;
		case 's': o.scale = optarg; break;
		case 'j': as_json = 1; break;
		case 'h': return usage(EXIT_OK);
		default: return usage(EXIT_USAGE);
		}
	}
	if (optind != argc - 1 || !o.data || !o.hidden || !o.scale)
		return usage(EXIT_USAGE);
	o.dir = argv[optind];
	if (!scale_find(o.scale, &err))
		return cli_fail(&err);
	if (!o.recipe_src) {
		if (fs_join(recipe_src, sizeof recipe_src, &err, "%s/recipe", recipe_build_src_dir()) < 0)
			return cli_fail(&err);
		o.recipe_src = recipe_src;
	}
	if (vstate_init(&o, &err) < 0 || validator_open(o.dir, &s, &err) < 0)
		return cli_fail(&err);
	warn_public_hidden(o.hidden);
	if (vstate_king_current(&s, &k, &err) < 0) {
		vstate_close(&s);
		return cli_fail(&err);
	}
	if (as_json)
		cli_print_json(json_pack("{s:i, s:s, s:s, s:s, s:s}", "version", VALIDATOR_JSON_VERSION, "state", o.dir,
				         "king", k.tag, "commit", k.commit, "scale", s.scale), JSON_PRESERVE_ORDER, NULL);
	else
		printf("state     %s\nking      %s (%s)\nscale     %s\nnext      measure the king's noise floor\n",
		       o.dir, k.tag, k.commit, s.scale);
	vstate_close(&s);
	return EXIT_OK;
}

#define LINEAGE_MAX 16 /* kings drawn: the newest ones */
#define LINEAGE_BAR 40  /* characters for the largest improvement over the first king drawn */

/* The lineage of kings, drawn: one bar per king, its length the hidden bpb
 * gained over the oldest king shown, so every merge is visibly a step. */
static void print_lineage(struct vstate *s)
{
	struct vstate_king kings[LINEAGE_MAX];
	struct kerr err;
	size_t n;
	double base, best = 0;

	if (vstate_kings(s, kings, LINEAGE_MAX, &n, &err) < 0 || n == 0 || !isfinite(kings[0].hidden_bpb))
		return;
	base = kings[0].hidden_bpb;
	for (size_t i = 0; i < n; i++)
		if (isfinite(kings[i].hidden_bpb) && base - kings[i].hidden_bpb > best)
			best = base - kings[i].hidden_bpb;
	printf("lineage     (hidden val_bpb; bar: gain over %s)\n", kings[0].tag);
	for (size_t i = 0; i < n; i++) {
		int w = 0;
		if (!isfinite(kings[i].hidden_bpb)) {
			printf("  %-16s      -\n", kings[i].tag);
			continue;
		}
		if (best > 0)
			w = (int)(LINEAGE_BAR * (base - kings[i].hidden_bpb) / best + 0.5);
		printf("  %-16s %.4f |", kings[i].tag, kings[i].hidden_bpb);
		for (int j = 0; j < w; j++)
			fputs("\u2588", stdout);
		printf("%s\n", i + 1 == n ? "  <- king" : "");
	}
}

static void print_status_text(const char *dir, const struct vstate *s, const struct vstate_king *k,
			      const struct vstate_noise *n, const long long counts[EXPCORPUS_VERDICTS],
			      long long answers)
{
	long long total = 0;

	printf("state       %s\nscale       %s\nking        %s\ncommit      %s\n", dir, s->scale, k->tag, k->commit);
	if (isfinite(k->hidden_bpb))
		printf("hidden bpb  %.6f\n", k->hidden_bpb);
	else
		printf("hidden bpb  not measured\n");
	if (n->present)
		printf("noise       sigma %.6f, margin %.6f (%d seeds, scale %s, %s%s%s)\n", n->sigma, n->margin,
		       n->seeds, n->scale, n->created_at, strcmp(n->king_tag, k->tag) ? ", inherited from " : "",
		       strcmp(n->king_tag, k->tag) ? n->king_tag : "");
	else
		printf("noise       not measured\n");
	printf("submissions\n");
	for (int i = 0; i < EXPCORPUS_VERDICTS; i++) {
		printf("  %-18s %lld\n", expcorpus_verdicts[i], counts[i]);
		total += counts[i];
	}
	printf("  %-18s %lld\n", "total", total);
	if (answers)
		printf("challenge answers %lld (each counted with the submission it answers)\n", answers);
}

static int validator_status(int argc, char **argv)
{
	struct kerr err = { { 0 }, { 0 } };
	struct vstate s;
	struct vstate_king k;
	struct vstate_noise n;
	long long counts[EXPCORPUS_VERDICTS], total = 0, answers = 0;
	int as_json = 0, c, rc = EXIT_FAIL;

	if ((c = cli_json_arg(argc, argv, "h", &as_json)) >= 0)
		return usage(c);
	if (validator_open(argv[optind], &s, &err) < 0)
		return cli_fail(&err);
	/* The floor the judge uses (king.c's rule): a new king's own, or the
	 * one it inherits from an earlier king until its own is measured. */
	if (vstate_king_current(&s, &k, &err) < 0 || king_noise_in_force(&s, k.tag, &n, &err) < 0 ||
	    expcorpus_counts(&s, counts, &answers, &err) < 0) {
		cli_fail(&err);
		goto out;
	}
	if (as_json) {
		json_t *subs = json_object(), *noise = json_null();
		for (int i = 0; i < EXPCORPUS_VERDICTS; i++) {
			json_object_set_new(subs, expcorpus_verdicts[i], json_integer(counts[i]));
			total += counts[i];
		}
		json_object_set_new(subs, "total", json_integer(total));
		json_object_set_new(subs, "challenge_answers", json_integer(answers));
		if (n.present) {
			json_decref(noise);
			noise = json_pack("{s:s, s:i, s:o, s:o, s:s, s:s}", "scale", n.scale, "seeds", n.seeds, "sigma",
					  real_or_null(n.sigma), "margin", real_or_null(n.margin), "created_at",
					  n.created_at, "king", n.king_tag);
		}
		cli_print_json(json_pack("{s:i, s:s, s:s, s:{s:s, s:s, s:o, s:o, s:s}, s:o, s:o}", "version",
				         VALIDATOR_JSON_VERSION, "state", argv[optind], "scale", s.scale, "king", "tag",
				         k.tag, "commit", k.commit, "hidden_bpb", real_or_null(k.hidden_bpb), "public_bpb",
				         real_or_null(k.public_bpb), "created_at", k.created_at, "noise", noise,
				         "submissions", subs), JSON_PRESERVE_ORDER, NULL);
	} else {
		print_status_text(argv[optind], &s, &k, &n, counts, answers);
		print_lineage(&s);
	}
	rc = EXIT_OK;
out:
	vstate_close(&s);
	return rc;
}

static int validator_epoch(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "epoch-seconds", required_argument, 0, 'e' },
		{ "json", no_argument, 0, 'j' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	struct kerr err = { { 0 }, { 0 } };
	struct vstate s;
	struct weights w = { 0 };
	struct weights_sink sink;
	long long last;
	uint64_t len = 0;
	int as_json = 0, c, rc = EXIT_FAIL;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'e':
			if (cli_parse_u64(optarg, 1, (uint64_t)WEIGHTS_EPOCH_SECONDS_MAX, &len) < 0) {
				fprintf(stderr, "karpa validator: --epoch-seconds must be 1..%lld\n",
					WEIGHTS_EPOCH_SECONDS_MAX);
				return usage(EXIT_USAGE);
			}
			break;
		case 'j': as_json = 1; break;
		case 'h': return usage(EXIT_OK);
		default: return usage(EXIT_USAGE);
		}
	}
	if (optind != argc - 1)
		return usage(EXIT_USAGE);
	if (validator_open(argv[optind], &s, &err) < 0)
		return cli_fail(&err);
	sink = ledger_sink(&s);
	/* A close racing this one fails cleanly: the ledger refuses an epoch
	 * that is not the next (ledger.epoch_order). */
	if (ledger_last_epoch(&s, &last, &err) < 0 ||
	    weights_close_epoch(&s, last + 1, (long long)len, &sink, &w, &err) < 0) {
		cli_fail(&err);
		goto out;
	}
	if (as_json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < w.n; i++)
			json_array_append_new(arr, json_pack("{s:s, s:f, s:i}", "miner", w.e[i].miner, "score",
							     w.e[i].score, "u16", (int)w.e[i].u16));
		cli_print_json(json_pack("{s:i, s:I, s:s, s:o}", "version", VALIDATOR_JSON_VERSION, "epoch",
					 (json_int_t)w.epoch, "closed_at", w.closed_at, "weights", arr),
			       JSON_PRESERVE_ORDER, NULL);
	} else {
		printf("epoch %lld closed at %s: %zu miner%s weighted (karpa ledger %s show)\n", w.epoch, w.closed_at,
		       w.n, w.n == 1 ? "" : "s", argv[optind]);
		for (size_t i = 0; i < w.n; i++)
			printf("  %s  %5u  %.6g\n", w.e[i].miner, (unsigned)w.e[i].u16, w.e[i].score);
	}
	rc = EXIT_OK;
out:
	weights_free(&w);
	vstate_close(&s);
	return rc;
}

int cmd_validator(int argc, char **argv)
{
	if (argc < 2)
		return usage(EXIT_USAGE);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))
		return usage(EXIT_OK);
	if (!strcmp(argv[1], "init"))
		return validator_init(argc - 1, argv + 1);
	if (!strcmp(argv[1], "serve"))
		return validator_serve(argc - 1, argv + 1);
	if (!strcmp(argv[1], "status"))
		return validator_status(argc - 1, argv + 1);
	if (!strcmp(argv[1], "epoch"))
		return validator_epoch(argc - 1, argv + 1);
	fprintf(stderr, "karpa validator: unknown subcommand '%s'\n", argv[1]);
	return usage(EXIT_USAGE);
}
