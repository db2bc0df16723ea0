/* cmd_sample.c: `karpa sample`. What a checkpoint's model writes after a
 * prompt (harness/sample.h does the work): from a checkpoint file, or from
 * a king of a validator state (its crowning checkpoint from the store and
 * its recipe exported from the state's repository). Owns the command's
 * output: the prompt and the text (streamed token by token to a terminal),
 * or one JSON object. The recipe runs behind the pipe host like every
 * other recipe call; it is never linked into karpa. */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "harness/sample.h"
#include "harness/train.h"
#include "proof/reciperepo.h"
#include "sandbox/recipe_host.h"
#include "util/fsutil.h"
#include "util/kerr.h"
#include "validator/lineage.h"
#include "validator/validator.h"

static const char usage_text[] =
	"usage: karpa sample --ckpt FILE --data DIR --prompt TEXT [--tokens N] [--temperature T]\n"
	"                    [--seed S] [--recipe DIR] [--scale S] [--threads T] [--no-sandbox] [--json]\n"
	"       karpa sample --king TAG --state STATE --prompt TEXT [options as above]\n"
	"\n"
	"Loads a checkpoint into its recipe (built-in, or --recipe DIR built and run in its own\n"
	"process) and writes N tokens after the prompt, each drawn from softmax(logits / T) with\n"
	"a stream seeded by --seed: the same checkpoint, prompt and options give the same text.\n"
	"With --king, the checkpoint that crowned king TAG of validator state STATE, its recipe\n"
	"exported from STATE/recipe, and (unless --data) the state's data folder; the king's code\n"
	"then runs in the sandbox a validator judges in, Landlock and namespaces required.\n"
	"  --data DIR        the data folder whose tokenizer the checkpoint was trained with\n"
	"  --tokens N        tokens to generate, 1..4096 (default 64)\n"
	"  --temperature T   0 (greedy) .. 100 (default 1)\n"
	"  --seed S          0 .. 2^53-1 (default 1)\n"
	"  --scale S         refuse a checkpoint of any other scale\n"
	"  --threads T       the recipe's threads (default: online CPUs; the text does not depend on it)\n"
	"  --no-sandbox      without --king: run the recipe with your user's rights instead of in\n"
	"                    the validator's sandbox layers (docs/sandbox.md)\n"
	"  --json            one JSON object: the prompt's and the generated tokens, the text, and\n"
	"                    how the recipe was sandboxed\n";

static int usage(int rc)
{
	fputs(usage_text, rc ? stderr : stdout);
	return rc;
}

#define NOMEM "sample.nomem"
#define CMD "karpa sample"

struct args {
	const char *ckpt, *data, *recipe, *scale, *king, *state, *prompt;
	int tokens, threads, as_json, no_sandbox;
	double temperature;
	uint64_t seed;
};

/* Writes each token's bytes as it is drawn (a terminal sees it appear). */
static void stream_token(void *arg, uint16_t id, const uint8_t *bytes, size_t n)
{
	(void)arg;
	(void)id;
	fwrite(bytes, 1, n, stdout);
	fflush(stdout);
}

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "ckpt", required_argument, 0, 'c' },	      { "data", required_argument, 0, 'd' },
		{ "recipe", required_argument, 0, 'r' },      { "scale", required_argument, 0, 'S' },
		{ "king", required_argument, 0, 'k' },	      { "state", required_argument, 0, 's' },
		{ "prompt", required_argument, 0, 'p' },      { "tokens", required_argument, 0, 'n' },
		{ "temperature", required_argument, 0, 'T' }, { "seed", required_argument, 0, 'e' },
		{ "threads", required_argument, 0, 't' },     { "json", no_argument, 0, 'j' },
		{ "no-sandbox", no_argument, 0, 'U' },	      { "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	char *end;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': a->ckpt = optarg; break;
		case 'd': a->data = optarg; break;
		case 'r': a->recipe = optarg; break;
		case 'S': a->scale = optarg; break;
		case 'k': a->king = optarg; break;
		case 's': a->state = optarg; break;
		case 'p': a->prompt = optarg; break;
		case 'j': a->as_json = 1; break;
		case 'U': a->no_sandbox = 1; break;
		case 'h': return usage(EXIT_OK);
		case 'n':
			if (cli_parse_int(optarg, 1, SAMPLE_TOKENS_MAX, &a->tokens) < 0) {
				fprintf(stderr, CMD ": --tokens must be 1..%d\n", SAMPLE_TOKENS_MAX);
				return EXIT_USAGE;
			}
			break;
		case 'T':
			a->temperature = strtod(optarg, &end);
			if (end == optarg || *end || !(a->temperature >= 0 && a->temperature <= SAMPLE_TEMPERATURE_MAX)) {
				fprintf(stderr, CMD ": --temperature must be a number in 0..%g\n", SAMPLE_TEMPERATURE_MAX);
				return EXIT_USAGE;
			}
			break;
		case 'e':
			if (cli_parse_u64(optarg, 0, TRAIN_SEED_MAX, &a->seed) < 0) {
				fprintf(stderr, CMD ": --seed must be 0..%llu\n", (unsigned long long)TRAIN_SEED_MAX);
				return EXIT_USAGE;
			}
			break;
		case 't':
			if (cli_threads_arg("sample", optarg, &a->threads) < 0)
				return EXIT_USAGE;
			break;
		default:
			fprintf(stderr, CMD ": unknown or incomplete option '%s'\n", argv[optind - 1]);
			return usage(EXIT_USAGE);
		}
	}
	if (optind != argc) {
		fprintf(stderr, CMD ": unexpected argument '%s'\n", argv[optind]);
		return usage(EXIT_USAGE);
	}
	if (!a->prompt || (!a->ckpt == !a->king) || (a->king && !a->state) || (a->state && !a->king) ||
	    (a->ckpt && !a->data)) {
		fprintf(stderr, CMD ": --prompt and either --ckpt with --data or --king with --state are required\n");
		return usage(EXIT_USAGE);
	}
	if (a->king && a->no_sandbox) {
		fprintf(stderr, CMD ": --king runs a king's code on a validator, which is never unconfined: "
			    "no --no-sandbox\n");
		return usage(EXIT_USAGE);
	}
	if (strlen(a->prompt) > SAMPLE_PROMPT_BYTES_MAX) {
		fprintf(stderr, CMD ": --prompt is longer than %u bytes\n", SAMPLE_PROMPT_BYTES_MAX);
		return EXIT_USAGE;
	}
	return -1;
}

/* --king: the crowning checkpoint (path into the store), the king's recipe
 * exported into work (built by cli_recipe_host), the state's data folder
 * unless --data named one (copied into data_buf). */
static int resolve_king(struct args *a, const char *work, char ckpt[FS_PATH_MAX], char recipe[FS_PATH_MAX],
			char data_buf[FS_PATH_MAX], struct kerr *err)
{
	struct vstate s;
	char digest[HASH_HEX_BYTES];
	int rc = -1;

	if (validator_open(a->state, &s, err) < 0)
		return -1;
	if (lineage_model_path(&s, a->king, ckpt, digest, err) < 0 ||
	    fs_join(recipe, FS_PATH_MAX, err, "%s/recipe", work) < 0 ||
	    reciperepo_export(s.recipe, a->king, recipe, err) < 0)
		goto out;
	if (!a->data) {
		snprintf(data_buf, FS_PATH_MAX, "%s", s.data);
		a->data = data_buf;
	}
	a->ckpt = ckpt;
	if (!a->recipe)
		a->recipe = recipe;
	rc = 0;
out:
	vstate_close(&s);
	return rc;
}

static json_t *ids_json(const uint16_t *ids, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_integer(ids[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static int print_json(const struct args *a, const struct sample_result *r, const char *box, struct kerr *err)
{
	char *text = NULL, *prompt = NULL;
	json_t *o;

	if (sample_utf8(r->text, r->text_len, &text, err) < 0 ||
	    sample_utf8(a->prompt, strlen(a->prompt), &prompt, err) < 0) {
		free(text);
		return -1;
	}
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:f, s:i, s:s, s:o, s:o, s:s}", "ckpt", a->ckpt,
		      "ckpt_sha256", r->ckpt_sha256, "recipe", r->recipe, "recipe_version", r->recipe_version, "scale",
		      r->scale, "step", (json_int_t)r->step, "seed", (json_int_t)a->seed, "temperature",
		      a->temperature, "context_max", r->context_max, "prompt", prompt, "prompt_tokens",
		      ids_json(r->prompt_ids, r->n_prompt), "tokens", ids_json(r->ids, r->n), "text", text);
	if (o && a->king)
		json_object_set_new(o, "king", json_string(a->king));
	if (o)
		json_object_set_new(o, "sandbox", json_string(box));
	free(text);
	free(prompt);
	cli_print_json(o, JSON_SORT_KEYS, NOMEM);
	return 0;
}

int cmd_sample(int argc, char **argv)
{
	struct args a = { .tokens = SAMPLE_TOKENS_DEFAULT, .temperature = SAMPLE_TEMPERATURE_DEFAULT, .seed = 1,
			  .threads = cli_default_threads(CLI_THREADS_MAX) };
	char ckpt[FS_PATH_MAX], recipe[FS_PATH_MAX], data_buf[FS_PATH_MAX], *work = NULL;
	struct sample_opts so;
	struct sample_result r = { 0 };
	struct dataset d;
	struct recipe_host h;
	struct runbox rb = { 0 };
	char box[320];
	struct kerr err = { { 0 }, { 0 } };
	int rc, data_open = 0, streaming;

	if ((rc = parse_args(argc, argv, &a)) >= 0)
		return rc;
	rc = EXIT_FAIL;
	if (a.king) {
		char tmpl[FS_PATH_MAX];
		snprintf(tmpl, sizeof tmpl, "%s/karpa-sample-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		if (!(work = mkdtemp(tmpl))) {
			kerr_errno(&err, "fs.mkdir", tmpl);
			goto fail;
		}
		if (!(work = strdup(tmpl))) {
			fs_rm_rf(tmpl);
			kerr_set(&err, NOMEM, "out of memory");
			goto fail;
		}
		if (resolve_king(&a, work, ckpt, recipe, data_buf, &err) < 0)
			goto fail;
	}
	if (dataset_open(a.data, &d, &err) < 0)
		goto fail;
	data_open = 1;
	/* On a validator (--king) as a judgment runs a recipe: required layers */
	if (cli_recipe_host(a.recipe, a.king ? RUNBOX_VALIDATOR : a.no_sandbox ? RUNBOX_OFF : RUNBOX_ON, a.threads,
			    &rb, &h, 0, &err) < 0)
		goto fail;
	streaming = !a.as_json && isatty(STDOUT_FILENO);
	memset(&so, 0, sizeof so);
	so.ckpt_path = a.ckpt;
	so.data = &d;
	so.prompt = a.prompt;
	so.prompt_len = strlen(a.prompt);
	so.tokens = a.tokens;
	so.temperature = a.temperature;
	so.seed = a.seed;
	so.threads = a.threads;
	so.scale = a.scale;
	so.on_fail = runbox_explain;
	so.on_fail_arg = &rb;
	if (streaming) {
		fputs(a.prompt, stdout);
		fflush(stdout);
		so.on_token = stream_token;
	}
	if (sample_run(&so, &h, &r, &err) < 0) {
		if (streaming)
			putchar('\n');
		goto fail;
	}
	runbox_describe(&rb, box, sizeof box);
	if (a.as_json) {
		if (print_json(&a, &r, box, &err) < 0)
			goto fail;
	} else {
		if (!streaming) {
			fputs(a.prompt, stdout);
			fwrite(r.text, 1, r.text_len, stdout);
		}
		putchar('\n');
	}
	rc = EXIT_OK;
	goto out;
fail:
	rc = cli_fail_json(&err, a.as_json, NOMEM);
out:
	runbox_free(&rb);
	sample_result_free(&r);
	if (data_open)
		dataset_close(&d);
	if (work) {
		fs_rm_rf(work);
		free(work);
	}
	return rc;
}
