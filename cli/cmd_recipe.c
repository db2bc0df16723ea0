/* cmd_recipe.c: `karpa recipe init|show`. Parses flags, calls
 * reciperepo.c, prints. Owns the recipe commands' output contract (--json:
 * one object; "tags" oldest first, "king" the highest version). */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "sandbox/recipe_build.h"
#include "proof/reciperepo.h"
#include "util/fsutil.h"
#include "util/kerr.h"

static const char usage_text[] =
	"usage: karpa recipe init DIR [--from RECIPE_SRC] [--json]\n"
	"       karpa recipe show DIR [--json]\n"
	"\n"
	"init  creates the canonical recipe repository in DIR (absent or empty) from\n"
	"      RECIPE_SRC (default: the project's recipe/ folder) and tags it\n"
	"      " RECIPEREPO_FIRST_TAG ". The same recipe always gives the same commit.\n"
	"show  lists the king tags of DIR in version order with commit and subject.\n";

static int usage(int rc)
{
	fputs(usage_text, rc ? stderr : stdout);
	return rc;
}

/* Shared flag parsing: DIR, optional --from, --json. Returns 0 to go on,
 * 1 after --help, -1 after a usage error (usage already printed). */
static int parse(int argc, char **argv, int allow_from, const char **dir, const char **from, int *as_json)
{
	static const struct option opts[] = {
		{ "from", required_argument, 0, 'f' },
		{ "json", no_argument, 0, 'j' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'j')
			*as_json = 1;
		else if (c == 'f' && allow_from)
			*from = optarg;
		else if (c == 'h')
			return usage(EXIT_OK), 1;
		else
			return usage(EXIT_USAGE), -1;
	}
	if (optind != argc - 1)
		return usage(EXIT_USAGE), -1;
	*dir = argv[optind];
	return 0;
}

static int recipe_init(int argc, char **argv)
{
	const char *dir = NULL, *from = NULL;
	char src[FS_PATH_MAX], commit[RECIPEREPO_COMMIT_HEX];
	struct kerr err = { { 0 }, { 0 } };
	int as_json = 0, p = parse(argc, argv, 1, &dir, &from, &as_json);

	if (p)
		return p > 0 ? EXIT_OK : EXIT_USAGE;
	if (!from) {
		if (fs_join(src, sizeof src, &err, "%s/recipe", recipe_build_src_dir()) < 0)
			return cli_fail_json(&err, as_json, NULL);
		from = src;
	}
	if (reciperepo_init(dir, from, &err) < 0 || reciperepo_resolve(dir, RECIPEREPO_FIRST_TAG, commit, &err) < 0)
		return cli_fail_json(&err, as_json, NULL);
	if (as_json)
		cli_print_json(json_pack("{s:b, s:s, s:s, s:s, s:s}", "ok", 1, "repo", dir, "from", from, "tag",
				         RECIPEREPO_FIRST_TAG, "commit", commit), JSON_SORT_KEYS, NULL);
	else
		printf("created %s from %s\n%s %s %s\n", dir, from, RECIPEREPO_FIRST_TAG, commit,
		       RECIPEREPO_FIRST_MESSAGE);
	return EXIT_OK;
}

static int recipe_show(int argc, char **argv)
{
	const char *dir = NULL, *from = NULL;
	struct kerr err = { { 0 }, { 0 } };
	struct reciperepo_tag *tags = NULL;
	size_t n = 0;
	int as_json = 0, p = parse(argc, argv, 0, &dir, &from, &as_json);

	if (p)
		return p > 0 ? EXIT_OK : EXIT_USAGE;
	if (reciperepo_list_tags(dir, &tags, &n, &err) < 0)
		return cli_fail_json(&err, as_json, NULL);
	if (as_json) {
		json_t *list = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "tag", tags[i].tag, "commit",
							      tags[i].commit, "subject", tags[i].subject));
		cli_print_json(json_pack("{s:b, s:s, s:s?, s:o}", "ok", 1, "repo", dir, "king",
				         n ? tags[n - 1].tag : NULL, "tags", list), JSON_SORT_KEYS, NULL);
	} else if (n == 0) {
		printf("%s: no recipe-vX.Y.Z tags\n", dir);
	} else {
		for (size_t i = 0; i < n; i++)
			printf("%-18s %s  %s%s\n", tags[i].tag, tags[i].commit, tags[i].subject,
			       i + 1 == n ? "  (king)" : "");
	}
	free(tags);
	return EXIT_OK;
}

int cmd_recipe(int argc, char **argv)
{
	if (argc < 2)
		return usage(EXIT_USAGE);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return usage(EXIT_OK);
	if (!strcmp(argv[1], "init"))
		return recipe_init(argc - 1, argv + 1);
	if (!strcmp(argv[1], "show"))
		return recipe_show(argc - 1, argv + 1);
	fprintf(stderr, "karpa recipe: unknown subcommand '%s'\n", argv[1]);
	return usage(EXIT_USAGE);
}
