/* cmd_data.c: `karpa data prepare|verify|show`. Parses flags, calls
 * dataset.c, prints. Owns the data commands' output contract (--json). */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "data/bpe.h"
#include "data/dataset.h"
#include "util/kerr.h"

#define FROM_MAX 256

static const char usage_text[] =
	"usage: karpa data prepare --scale tiny|cpu|gpu-125m|gpu-254m [--from PATH...] --out DIR\n"
	"                          [--hidden-out DIR] [--split-key KEY] [--threads T] [--progress] [--json]\n"
	"       karpa data verify DIR [--json]\n"
	"       karpa data show DIR [--json]\n";

static int usage(int rc)
{
	fputs(usage_text, rc ? stderr : stdout);
	return rc;
}

static json_t *split_json(const struct dataset_split_info *si)
{
	return json_pack("{s:I, s:I, s:I, s:f, s:I}", "documents", (json_int_t)si->documents, "tokens",
			 (json_int_t)si->tokens, "bytes", (json_int_t)si->bytes, "bytes_per_token",
			 si->tokens ? (double)si->bytes / (double)si->tokens : 0.0, "shards",
			 (json_int_t)si->nshards);
}

static int print_dataset(const struct dataset *d, int as_json)
{
	if (as_json) {
		json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:{}}", "dir", d->dir, "manifest_sha256", d->digest,
				      "tokenizer_sha256", d->tokenizer_digest, "vocab_size",
				      bpe_vocab_size(d->tok), "splits");
		for (int s = 0; s < DATASET_SPLITS_MAX; s++)
			if (d->split[s].present)
				json_object_set_new(json_object_get(o, "splits"), dataset_split_name(s),
						    split_json(&d->split[s]));
		cli_print_json(o, JSON_SORT_KEYS, NULL);
		return EXIT_OK;
	}
	printf("data folder  %s\nmanifest     %s\ntokenizer    %s (%d tokens)\n\n", d->dir, d->digest,
	       d->tokenizer_digest, bpe_vocab_size(d->tok));
	printf("%-8s %10s %12s %12s %12s %7s\n", "split", "documents", "tokens", "bytes", "bytes/token", "shards");
	for (int s = 0; s < DATASET_SPLITS_MAX; s++) {
		const struct dataset_split_info *si = &d->split[s];
		if (!si->present)
			continue;
		printf("%-8s %10llu %12llu %12llu %12.3f %7zu\n", dataset_split_name(s),
		       (unsigned long long)si->documents, (unsigned long long)si->tokens,
		       (unsigned long long)si->bytes, si->tokens ? (double)si->bytes / (double)si->tokens : 0.0,
		       si->nshards);
	}
	return EXIT_OK;
}

static int data_prepare(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "scale", required_argument, 0, 's' },	{ "from", required_argument, 0, 'f' },
		{ "out", required_argument, 0, 'o' },	{ "hidden-out", required_argument, 0, 'H' },
		{ "split-key", required_argument, 0, 'k' }, { "threads", required_argument, 0, 't' },
		{ "progress", no_argument, 0, 'p' },	{ "json", no_argument, 0, 'j' },
		{ "help", no_argument, 0, 'h' },	{ 0, 0, 0, 0 },
	};
	const char *from[FROM_MAX + 1] = { 0 };
	struct dataset_prepare_opts o = { .threads = cli_default_threads(CLI_THREADS_MAX), .progress = isatty(2) };
	struct kerr err = { { 0 }, { 0 } };
	struct dataset d;
	int nfrom = 0, as_json = 0, c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': o.scale = optarg; break;
		case 'f':
			if (nfrom == FROM_MAX) {
				fprintf(stderr, "karpa data prepare: at most %d --from inputs\n", FROM_MAX);
				return EXIT_USAGE;
			}
			from[nfrom++] = optarg;
			break;
		case 'o': o.out = optarg; break;
		case 'H': o.hidden_out = optarg; break;
		case 'k': o.split_key = optarg; break;
		case 't':
			if (cli_threads_arg("data prepare", optarg, &o.threads) < 0)
				return EXIT_USAGE;
			break;
		case 'p': o.progress = 1; break;
		case 'j': as_json = 1; break;
		case 'h': return usage(EXIT_OK);
		default: return usage(EXIT_USAGE);
		}
	}
	if (!o.scale || !o.out || optind != argc)
		return usage(EXIT_USAGE);
	o.from = from;
	if (dataset_prepare(&o, &err) < 0)
		return cli_fail(&err);
	/* Report what was written by reading it back: the summary is then a
	 * statement about the folder, not about our intentions. */
	if (dataset_open(o.out, &d, &err) < 0)
		return cli_fail(&err);
	rc = print_dataset(&d, as_json);
	dataset_close(&d);
	return rc;
}

static int data_open_cmd(int argc, char **argv, int verify)
{
	struct kerr err = { { 0 }, { 0 } };
	struct dataset d;
	int as_json = 0, c, rc;

	if ((c = cli_json_arg(argc, argv, "", &as_json)) >= 0)
		return usage(c);
	if (dataset_open(argv[optind], &d, &err) < 0)
		return cli_fail_json(&err, as_json, NULL);
	if (verify && !as_json)
		printf("ok: %s verified (manifest %s)\n", d.dir, d.digest);
	else if (verify)
		printf("{\"ok\":true,\"manifest_sha256\":\"%s\"}\n", d.digest);
	rc = verify ? EXIT_OK : print_dataset(&d, as_json);
	dataset_close(&d);
	return rc;
}

int cmd_data(int argc, char **argv)
{
	if (argc < 2)
		return usage(EXIT_USAGE);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return usage(EXIT_OK);
	if (!strcmp(argv[1], "prepare"))
		return data_prepare(argc - 1, argv + 1);
	if (!strcmp(argv[1], "verify"))
		return data_open_cmd(argc - 1, argv + 1, 1);
	if (!strcmp(argv[1], "show"))
		return data_open_cmd(argc - 1, argv + 1, 0);
	fprintf(stderr, "karpa data: unknown subcommand '%s'\n", argv[1]);
	return usage(EXIT_USAGE);
}
