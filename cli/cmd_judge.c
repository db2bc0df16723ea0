/* cmd_judge.c: `karpa judge STATE BUNDLE`: one judgment, its checks and
 * costs, and the verdict. Exit 0 when a verdict was recorded (whatever it
 * is: a rejection is a successful judgment), 1 when none could be. */
#include <getopt.h>
#include <limits.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "judge/judge.h"
#include "validator/validator.h"

static const char usage_text[] =
	"usage: karpa judge STATE BUNDLE [--held DIR [--held-link]] [--threads T] [--deadline S]\n"
	"                   [--full-eval] [--progress] [--json]\n"
	"Runs the protocol's checks on a proof bundle (directory or .tar) in order, records the\n"
	"verdict in the corpus, and applies the king rule (challenge, then merge).\n"
	"The judgment ends by a wall-clock deadline computed from the proof's declared training\n"
	"time; --deadline S lowers it to at most S seconds.\n"
	"The hidden split is scored sequentially against the king's recorded losses and stops once\n"
	"the candidate cannot be decisive; --full-eval scores both splits in full (same verdicts).\n"
	"A bundle whose miner holds checkpoints (BUNDLE.held beside it, docs/bundle.md) needs the ones\n"
	"the judgment draws: --held DIR says where they are (judge.held_needed names them).\n"
	"--held-link hard-links them in rather than copying: only for files that nothing but this\n"
	"validator can write (its service's own uploads), never for a miner's folder.\n";

static json_t *result_json(const struct judge_result *r)
{
	json_t *checks = json_array(), *o;

	for (int i = 0; i < r->n_checks; i++)
		json_array_append_new(checks, json_pack("{s:s, s:s, s:s, s:f}", "name", r->checks[i].name, "outcome",
							r->checks[i].outcome, "code", r->checks[i].code, "cpu_s",
							r->checks[i].cpu_s));
	o = json_pack("{s:i, s:s, s:s, s:s, s:s, s:o, s:f, s:f, s:f}", "version", 1, "id", r->id, "verdict",
		      r->verdict, "code", r->code, "reason", r->reason, "checks", checks, "judge_cpu_s", r->judge_cpu_s,
		      "judge_wall_s", r->judge_wall_s, "proof_cpu_s", isfinite(r->proof_cpu_s) ? r->proof_cpu_s : 0.0);
	if (isfinite(r->hidden_bpb))
		json_object_set_new(o, "hidden_bpb", json_real(r->hidden_bpb));
	if (isfinite(r->public_bpb))
		json_object_set_new(o, "public_bpb", json_real(r->public_bpb));
	if (isfinite(r->king_bpb))
		json_object_set_new(o, "king_bpb", json_real(r->king_bpb));
	if (isfinite(r->margin))
		json_object_set_new(o, "margin", json_real(r->margin));
	if (r->challenge_seed)
		json_object_set_new(o, "challenge_seed", json_integer((json_int_t)r->challenge_seed));
	if (r->new_king[0])
		json_object_set_new(o, "new_king", json_string(r->new_king));
	if (r->replay_mode[0])
		json_object_set_new(o, "replay",
				    json_pack("{s:s, s:s, s:I, s:I, s:s, s:s}", "mode", r->replay_mode, "segments",
					      r->replay_segments, "steps", (json_int_t)r->replay_steps, "of_steps",
					      (json_int_t)r->proof_steps, "proof_isa", r->proof_isa, "replay_isa",
					      r->replay_isa));
	if (r->replay_device[0])
		json_object_set_new(o, "replay_gpu", json_string(r->replay_device));
	if (isfinite(r->proof_gpu_s) && r->proof_gpu_s > 0)
		json_object_set_new(o, "proof_gpu_s", json_real(r->proof_gpu_s));
	if (r->hidden_cache[0])
		json_object_set_new(o, "hidden_cache", json_string(r->hidden_cache));
	if (r->hidden_targets) {
		json_object_set_new(o, "hidden_partial", json_boolean(r->hidden_partial));
		json_object_set_new(o, "hidden_targets", json_integer((json_int_t)r->hidden_targets));
		json_object_set_new(o, "hidden_targets_all", json_integer((json_int_t)r->hidden_targets_all));
	}
	if (r->public_targets) {
		json_object_set_new(o, "public_partial", json_boolean(r->public_partial));
		json_object_set_new(o, "public_targets", json_integer((json_int_t)r->public_targets));
	}
	if (r->files_unkept)
		json_object_set_new(o, "checkpoints_unread", json_integer(r->files_unkept));
	if (r->held_taken)
		json_object_set_new(o, "held_taken", json_integer(r->held_taken));
	if (r->causality_probes)
		json_object_set_new(o, "causality_probes", json_integer(r->causality_probes));
	if (r->causality_aimed) {
		json_object_set_new(o, "causality_aimed", json_integer(r->causality_aimed));
		json_object_set_new(o, "causality_aimed_s", json_real(r->causality_aimed_s));
	}
	if (r->warning[0])
		json_object_set_new(o, "warning", json_string(r->warning));
	if (r->deadline_s > 0)
		json_object_set_new(o, "deadline_s", json_real(r->deadline_s));
	return o;
}

static void print_human(const struct judge_result *r)
{
	printf("submission %s\n", r->id);
	for (int i = 0; i < r->n_checks; i++)
		printf("  %-17s %-5s %7.2f s cpu  %s\n", r->checks[i].name, r->checks[i].outcome, r->checks[i].cpu_s,
		       r->checks[i].code);
	if (isfinite(r->hidden_bpb))
		printf("hidden val_bpb %.4f   king %.4f   margin %.4f\n", r->hidden_bpb, r->king_bpb, r->margin);
	if (r->hidden_partial)
		printf("  stopped early: %llu of %llu hidden targets scored (the candidate cannot be decisive)\n",
		       (unsigned long long)r->hidden_targets, (unsigned long long)r->hidden_targets_all);
	printf("verdict %s%s%s\n", r->verdict, r->code[0] ? ": " : "", r->code);
	if (r->reason[0])
		printf("  %s\n", r->reason);
	if (r->new_king[0])
		printf("new king %s\n", r->new_king);
	if (r->replay_mode[0] && r->proof_steps > 0)
		printf("replay: %s, segment%s %s: %lld of %lld steps (%.1f%%); proved on %s, replayed on %s%s%s\n",
		       r->replay_mode, strchr(r->replay_segments, ' ') ? "s" : "", r->replay_segments,
		       (long long)r->replay_steps, (long long)r->proof_steps,
		       100.0 * (double)r->replay_steps / (double)r->proof_steps, r->proof_isa, r->replay_isa,
		       r->replay_device[0] ? " " : "", r->replay_device);
	if (isfinite(r->proof_gpu_s) && r->proof_gpu_s > 0)
		printf("cost: judge %.1f s on the GPU, proof %.1f GPU-s (%.1f%%)\n", r->judge_wall_s, r->proof_gpu_s,
		       100.0 * r->judge_wall_s / r->proof_gpu_s);
	else if (isfinite(r->proof_cpu_s) && r->proof_cpu_s > 0)
		printf("cost: judge %.1f cpu-s, proof %.1f cpu-s (%.1f%%)\n", r->judge_cpu_s, r->proof_cpu_s,
		       100.0 * r->judge_cpu_s / r->proof_cpu_s);
}

int cmd_judge(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "threads", required_argument, 0, 't' }, { "progress", no_argument, 0, 'p' },
		{ "json", no_argument, 0, 'j' },	  { "help", no_argument, 0, 'h' },
		{ "deadline", required_argument, 0, 'd' }, { "full-eval", no_argument, 0, 'f' },
		{ "held", required_argument, 0, 'H' },	  { "held-link", no_argument, 0, 'L' },
		{ 0, 0, 0, 0 },
	};
	struct judge_opts o = { .threads = 1, .progress = isatty(2) };
	struct judge_result r;
	struct vstate s;
	struct kerr err = { { 0 }, { 0 } };
	int as_json = 0, c, rc;
	char state[PATH_MAX];

	o.threads = cli_default_threads(CLI_THREADS_MAX);
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (cli_threads_arg("judge", optarg, &o.threads) < 0)
				return EXIT_USAGE;
			break;
		case 'd':
		{
			char *end;
			o.deadline_s = strtod(optarg, &end);
			if (end == optarg || *end || !(o.deadline_s >= 1 && o.deadline_s <= 1e7)) {
				fprintf(stderr, "karpa judge: --deadline must be 1..1e7 seconds\n");
				return EXIT_USAGE;
			}
			break;
		}
		case 'p': o.progress = 1; break;
		case 'f': o.full_eval = 1; break;
		case 'H': o.held = optarg; break;
		case 'L': o.held_link = 1; break;
		case 'j': as_json = 1; break;
		case 'h': fputs(usage_text, stdout); return EXIT_OK;
		default: fputs(usage_text, stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc - 2) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	o.bundle = argv[optind + 1];
	/* The state by its absolute name: a merge runs git in the recipe
	 * repository with paths under the state, which a relative name would
	 * resolve against the wrong folder. */
	if (!realpath(argv[optind], state)) {
		kerr_errno(&err, "vstate.open", argv[optind]);
		return cli_fail(&err);
	}
	if (validator_open(state, &s, &err) < 0)
		return cli_fail(&err);
	rc = judge_run(&s, &o, &r, &err);
	vstate_close(&s);
	if (rc < 0 && as_json && r.n_held_needed > 0 && !strcmp(err.code, "judge.held_needed")) {
		/* what to ask the miner for, for a program (a validator service) */
		json_t *a = json_array();

		for (int i = 0; i < r.n_held_needed; i++)
			json_array_append_new(a, json_pack("{s:s, s:I, s:s}", "name", r.held_needed[i].name, "bytes",
							   (json_int_t)r.held_needed[i].bytes, "sha256",
							   r.held_needed[i].sha256));
		cli_print_json(json_pack("{s:i, s:b, s:s, s:s, s:o}", "version", CLI_JSON_VERSION, "ok", 0, "code",
					 err.code, "message", err.msg, "held_needed", a),
			       JSON_SORT_KEYS, "judge.nomem");
	}
	if (rc < 0)
		return cli_fail(&err);
	/* The verdict stands; this is for the operator. */
	if (r.warning[0])
		fprintf(stderr, "karpa judge: warning: %s\n", r.warning);
	if (as_json) {
		cli_print_json(result_json(&r), JSON_SORT_KEYS, "judge.nomem");
	} else {
		print_human(&r);
	}
	return EXIT_OK;
}
