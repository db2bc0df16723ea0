/* cmd_dispute.c: `karpa dispute`: where a proof's replay disagrees with its
 * log (docs/dispute.md). Three forms, one per party and step:
 *   karpa dispute STATE BUNDLE          the validator: locate and trace
 *   karpa dispute trace BUNDLE ...      the other party: trace the same steps
 *   karpa dispute compare A B           the first tensor on which they differ
 * Exit 0 when the command did its work, whatever it found. */
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "judge/dispute.h"
#include "util/fsutil.h"
#include "validator/validator.h"

static const char usage_text[] =
	"usage: karpa dispute STATE BUNDLE [--held DIR] [--segment N] [--threads T] [--out FILE] [--progress] [--json]\n"
	"       karpa dispute trace BUNDLE --recipe REPO --data DIR --segment N --to STEP [--threads T]\n"
	"                     --out FILE [--held DIR] [--side NAME] [--progress] [--json]\n"
	"       karpa dispute compare TRACE_A TRACE_B [--json]\n"
	"The first form (a validator) finds the first segment of the proof whose replay differs from\n"
	"its log and traces it from its kept checkpoint through the first step that differs: every\n"
	"tensor's digest, layer by layer. The second form (the miner, or anyone) traces the same steps\n"
	"on its own machine; the third names the first tensor, layer and operation where two traces\n"
	"differ. Without --out the validator's trace goes to STATE/disputes/. A bundle whose miner holds\n"
	"checkpoints back needs them all: --held DIR (the proof's BUNDLE.held; docs/bundle.md).\n";

static json_t *report_json(const struct dispute_report *r, const char *out)
{
	json_t *o = json_pack("{s:s, s:i, s:I, s:s, s:i, s:b, s:i}", "manifest_sha256", r->manifest, "segments", r->nseg,
			      "steps", (json_int_t)r->steps, "checked", r->checked, "replays", r->replays, "agrees",
			      r->agrees, "segment", r->segment);

	if (r->segment >= 0)
		json_object_update_new(o, json_pack("{s:I, s:I, s:i, s:s}", "from_step", (json_int_t)r->from_step, "to_step",
						    (json_int_t)r->to_step, "trace_steps", r->trace_steps, "trace",
						    out ? out : ""));
	if (r->mismatch_step >= 0)
		json_object_set_new(o, "mismatch", json_pack("{s:I, s:s, s:s}", "step", (json_int_t)r->mismatch_step, "what",
							    r->mismatch_what, "message", r->mismatch_msg));
	json_object_set_new(o, "wall_s", json_real(r->wall_s));
	return o;
}

static void print_report(const struct dispute_report *r, const char *out, const char *bundle, int validator)
{
	printf("bundle %.16s...: %lld steps in %d segments\n", r->manifest, (long long)r->steps, r->nseg);
	if (r->checked[0])
		printf("replays (segment:length:result): %s\n", r->checked);
	if (r->segment < 0) {
		printf("every replay reproduces the log: nothing to dispute\n");
		return;
	}
	if (r->mismatch_step >= 0 && !strcmp(r->mismatch_what, "digest"))
		printf("segment %d (steps %lld..%lld): every step's loss and lr match the log, the state it ends in "
		       "does not\n  %s\n",
		       r->segment, (long long)r->from_step, (long long)r->mismatch_step - 1, r->mismatch_msg);
	else if (r->mismatch_step >= 0)
		printf("segment %d (steps %lld..): the first step that differs from the log is %lld (%s)\n  %s\n",
		       r->segment, (long long)r->from_step, (long long)r->mismatch_step, r->mismatch_what, r->mismatch_msg);
	else
		printf("segment %d: the traced steps reproduce the log\n", r->segment);
	printf("trace: steps %lld..%lld (%d) -> %s\n", (long long)r->from_step, (long long)r->to_step - 1, r->trace_steps,
	       out);
	if (validator && r->mismatch_step >= 0)
		printf("next: the miner traces the same steps on its machine, then either side compares:\n"
		       "  karpa dispute trace %s --recipe REPO --data DIR --segment %d --to %lld --out miner.json\n"
		       "  karpa dispute compare %s miner.json\n",
		       bundle, r->segment, (long long)r->to_step - 1, out);
}

static int run_dispute(struct dispute_opts *o, int as_json, int validator)
{
	struct dispute_report r;
	struct kerr err = { { 0 }, { 0 } };

	if (dispute_run(o, &r, &err) < 0)
		return cli_fail(&err);
	if (as_json)
		return cli_print_json(report_json(&r, r.segment >= 0 ? o->trace_out : NULL), JSON_SORT_KEYS, NULL) < 0
			       ? EXIT_FAIL
			       : EXIT_OK;
	print_report(&r, o->trace_out, o->bundle, validator);
	return EXIT_OK;
}

/* STATE/disputes/<bundle name>.validator.json */
static int default_out(const char *state, const char *bundle, char *out, size_t cap, struct kerr *err)
{
	char dir[FS_PATH_MAX], name[FS_PATH_MAX], *base, *dot;

	snprintf(name, sizeof name, "%s", bundle);
	base = basename(name);
	if ((dot = strstr(base, ".tar")) && !dot[4])
		*dot = '\0';
	if (fs_join(dir, sizeof dir, err, "%s/disputes", state) < 0 || fs_mkdir_p(dir, err) < 0)
		return -1;
	return fs_join(out, cap, err, "%s/%s.validator.json", dir, *base && strcmp(base, "/") ? base : "bundle");
}

static int compare(int argc, char **argv, int as_json)
{
	struct trace_doc a, b;
	struct trace_diff d;
	struct kerr err = { { 0 }, { 0 } };
	char line[256];
	int rc = EXIT_FAIL;

	if (argc != 2) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	memset(&b, 0, sizeof b);
	if (trace_doc_read(argv[0], &a, &err) < 0)
		return cli_fail(&err);
	if (trace_doc_read(argv[1], &b, &err) < 0 || trace_compare(&a, &b, &d, &err) < 0) {
		rc = cli_fail(&err);
		goto out;
	}
	trace_diff_describe(&d, line, sizeof line);
	if (as_json) {
		json_t *o = json_pack("{s:b, s:I, s:s, s:{s:s, s:i, s:s}, s:{s:s, s:i, s:s}}", "differ", d.differ,
				      "steps_compared", (json_int_t)d.steps_compared, "summary", line, "a", "side", a.side,
				      "threads", a.threads, "machine", a.machine, "b", "side", b.side, "threads", b.threads,
				      "machine", b.machine);
		if (d.differ)
			json_object_set_new(o, "first", json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:i, s:I, s:b, s:b}", "step",
								   (json_int_t)d.step, "name", d.name, "phase", d.phase,
								   "where", d.where, "op", d.op, "tensor", d.tensor, "index",
								   (int)d.index, "elements", (json_int_t)d.n, "loss_differs",
								   d.loss_differs, "lr_differs", d.lr_differs));
		rc = cli_print_json(o, JSON_SORT_KEYS, NULL) < 0 ? EXIT_FAIL : EXIT_OK;
		goto out;
	}
	printf("%s (%s, threads=%d, %s) against %s (%s, threads=%d, %s): %lld step%s compared\n", argv[0], a.side,
	       a.threads, a.machine, argv[1], b.side, b.threads, b.machine, (long long)d.steps_compared,
	       d.steps_compared == 1 ? "" : "s");
	printf("%s%s\n", d.differ ? "first difference: " : "", line);
	if (d.differ && d.name[0])
		printf("  %s: %llu elements, norm %.9g against %.9g\n", d.name, (unsigned long long)d.n, d.l2_a, d.l2_b);
	rc = EXIT_OK;
out:
	trace_doc_free(&a);
	trace_doc_free(&b);
	return rc;
}

int cmd_dispute(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "segment", required_argument, 0, 's' }, { "threads", required_argument, 0, 't' },
		{ "out", required_argument, 0, 'o' },	  { "recipe", required_argument, 0, 'r' },
		{ "data", required_argument, 0, 'd' },	  { "to", required_argument, 0, 'T' },
		{ "side", required_argument, 0, 'S' },	  { "progress", no_argument, 0, 'p' },
		{ "json", no_argument, 0, 'j' },	  { "help", no_argument, 0, 'h' },
		{ "held", required_argument, 0, 'H' },
		{ 0, 0, 0, 0 },
	};
	struct dispute_opts o = { .threads = cli_default_threads(CLI_THREADS_MAX), .segment = -1, .to_step = -1,
				  .progress = isatty(2) };
	struct kerr err = { { 0 }, { 0 } };
	char state[PATH_MAX], out[FS_PATH_MAX];
	const char *mode = argc > 1 ? argv[1] : "";
	int as_json = 0, c, rc, trace = !strcmp(mode, "trace"), cmp = !strcmp(mode, "compare");
	struct vstate s;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (cli_parse_int(optarg, 0, 1000000, &o.segment) < 0) {
				fprintf(stderr, "karpa dispute: --segment must be 0..1000000\n");
				return EXIT_USAGE;
			}
			break;
		case 'T':
		{
			uint64_t v;
			if (cli_parse_u64(optarg, 0, (uint64_t)1 << 40, &v) < 0) {
				fprintf(stderr, "karpa dispute: --to must be a step number\n");
				return EXIT_USAGE;
			}
			o.to_step = (int64_t)v;
			break;
		}
		case 't':
			if (cli_threads_arg("dispute", optarg, &o.threads) < 0)
				return EXIT_USAGE;
			break;
		case 'o': o.trace_out = optarg; break;
		case 'r': o.recipe_repo = optarg; break;
		case 'd': o.data = optarg; break;
		case 'S': o.side = optarg; break;
		case 'H': o.held = optarg; break;
		case 'p': o.progress = 1; break;
		case 'j': as_json = 1; break;
		case 'h': fputs(usage_text, stdout); return EXIT_OK;
		default: fputs(usage_text, stderr); return EXIT_USAGE;
		}
	}
	if (cmp)
		return compare(argc - optind - 1, argv + optind + 1, as_json);
	if (trace) {
		if (optind != argc - 2 || !o.recipe_repo || !o.data || o.segment < 0 || o.to_step < 0 || !o.trace_out) {
			fputs(usage_text, stderr);
			return EXIT_USAGE;
		}
		o.bundle = argv[optind + 1];
		o.side = o.side ? o.side : "miner";
		return run_dispute(&o, as_json, 0);
	}
	if (optind != argc - 2 || o.recipe_repo || o.data || o.to_step >= 0) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	o.bundle = argv[optind + 1];
	o.side = o.side ? o.side : "validator";
	if (!realpath(argv[optind], state)) {
		kerr_errno(&err, "vstate.open", argv[optind]);
		return cli_fail(&err);
	}
	if (validator_open(state, &s, &err) < 0)
		return cli_fail(&err);
	o.recipe_repo = s.recipe;
	o.data = s.data;
	if (!o.trace_out && default_out(state, o.bundle, out, sizeof out, &err) < 0) {
		vstate_close(&s);
		return cli_fail(&err);
	}
	if (!o.trace_out)
		o.trace_out = out;
	rc = run_dispute(&o, as_json, 1);
	vstate_close(&s);
	return rc;
}
