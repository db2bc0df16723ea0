/* cmd_corpus.c: `karpa corpus STATE search|show|export|cite`: the
 * experiment corpus for researchers (docs/corpus-guide.md). Owns these
 * commands' output contract (--json: one object, "version":1). Miner text
 * is hostile: human output never passes a control character through to
 * the terminal. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "validator/expcorpus.h"
#include "validator/validator.h"
#include "validator/vstate.h"
#include "util/fsutil.h"
#include "util/kerr.h"

int cmd_corpus(int argc, char **argv);

#define CORPUS_JSON_VERSION 1

static const char usage_text[] =
	"usage: karpa corpus STATE search [QUERY] [--verdict V] [--since DATE] [--limit N] [--json]\n"
	"       karpa corpus STATE show ID [--json]\n"
	"       karpa corpus STATE export --format jsonl|csv [--out FILE]\n"
	"       karpa corpus STATE cite ID\n"
	"\n"
	"Every submission a validator judged, accepted or not (docs/corpus-guide.md).\n"
	"  search   full-text search, best match first (FTS5 syntax: words, \"phrases\",\n"
	"           prefix*, AND/OR/NOT, column:word for rationale, patch, verdict,\n"
	"           reason_code, reason). Without QUERY: newest first.\n"
	"    --verdict V   accepted_king, not_decisive, challenge_pending,\n"
	"                  challenge_failed or rejected\n"
	"    --since DATE  received on or after YYYY-MM-DD (or a full UTC time)\n"
	"    --limit N     at most N results (default 20, at most 1000)\n"
	"  show     one entry with its checks, rationale and patch\n"
	"  export   every entry, as JSON lines or CSV (stdout unless --out)\n"
	"  cite     the citation string of an entry\n"
	"ID is a corpus id (k-0123456789ab) or a full manifest sha256.\n";

static int usage(int rc)
{
	fputs(usage_text, rc ? stderr : stdout);
	return rc;
}

/* Text for a terminal: C0 and C1 controls (escape sequences) become '?',
 * except newline and tab when keep_lines is set. */
static void put_safe(const char *t, int keep_lines)
{
	const unsigned char *p = (const unsigned char *)t;

	for (; *p; p++) {
		if (*p == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F) {
			fputc('?', stdout);
			p++;
		} else if ((*p < 0x20 && !(keep_lines && (*p == '\n' || *p == '\t'))) || *p == 0x7F) {
			fputc(*p == '\n' ? ' ' : '?', stdout);
		} else {
			fputc(*p, stdout);
		}
	}
}

/* ---------------------------------------------------------------- search */

static void print_hits_text(const struct expcorpus_hit *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		printf("%s  %-17s %-24s %.10s  ", h[i].id, h[i].verdict, h[i].reason_code[0] ? h[i].reason_code : "-",
		       h[i].received_at);
		if (isfinite(h[i].hidden_bpb))
			printf("hidden %.4f  ", h[i].hidden_bpb);
		put_safe(h[i].snippet, 0);
		fputc('\n', stdout);
	}
	if (!n)
		fprintf(stderr, "karpa corpus: no matches\n");
}

static json_t *hits_json(const struct expcorpus_query *q, const struct expcorpus_hit *h, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(
			arr, json_pack("{s:s, s:s, s:o, s:o, s:o, s:s, s:o, s:f, s:s}", "id", h[i].id, "verdict",
				       h[i].verdict, "reason_code",
				       h[i].reason_code[0] ? json_string(h[i].reason_code) : json_null(), "miner",
				       h[i].miner[0] ? json_string(h[i].miner) : json_null(), "king_tag",
				       h[i].king_tag[0] ? json_string(h[i].king_tag) : json_null(), "received_at",
				       h[i].received_at, "hidden_bpb",
				       isfinite(h[i].hidden_bpb) ? json_real(h[i].hidden_bpb) : json_null(), "rank",
				       h[i].rank, "snippet", h[i].snippet));
	return json_pack("{s:i, s:s?, s:s?, s:s?, s:I, s:o}", "version", CORPUS_JSON_VERSION, "query", q->text,
			 "verdict", q->verdict, "since", q->since, "count", (json_int_t)n, "hits", arr);
}

static int corpus_search(struct vstate *s, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "verdict", required_argument, 0, 'v' }, { "since", required_argument, 0, 's' },
		{ "limit", required_argument, 0, 'n' },	  { "json", no_argument, 0, 'j' },
		{ "help", no_argument, 0, 'h' },	  { 0, 0, 0, 0 },
	};
	struct expcorpus_query q = { 0 };
	struct expcorpus_hit *hits = NULL;
	struct kerr err = { { 0 }, { 0 } };
	size_t n;
	int as_json = 0, c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'v': q.verdict = optarg; break;
		case 's': q.since = optarg; break;
		case 'n':
			if (cli_parse_int(optarg, 1, EXPCORPUS_LIMIT_MAX, &q.limit) < 0) {
				fprintf(stderr, "karpa corpus: --limit must be 1..%d\n", EXPCORPUS_LIMIT_MAX);
				return EXIT_USAGE;
			}
			break;
		case 'j': as_json = 1; break;
		case 'h': return usage(EXIT_OK);
		default: return usage(EXIT_USAGE);
		}
	}
	if (argc - optind > 1)
		return usage(EXIT_USAGE);
	q.text = optind < argc ? argv[optind] : NULL;
	if (expcorpus_search(s, &q, &hits, &n, &err) < 0)
		return cli_fail(&err);
	if (as_json)
		cli_print_json(hits_json(&q, hits, n), JSON_PRESERVE_ORDER, NULL);
	else
		print_hits_text(hits, n);
	free(hits);
	return EXIT_OK;
}

/* ---------------------------------------------------------------- show */

static void print_real(const char *label, double v)
{
	if (isfinite(v))
		printf("%-19s %.6f\n", label, v);
}

static void print_field(const char *label, const char *v)
{
	if (v && *v) {
		printf("%-19s ", label);
		put_safe(v, 0);
		fputc('\n', stdout);
	}
}

static void print_entry_text(const struct expcorpus_entry *e)
{
	char cite[EXPCORPUS_CITE_MAX];

	print_field("id", e->id);
	print_field("manifest sha256", e->manifest_sha256);
	print_field("patch sha256", e->patch_sha256);
	print_field("final ckpt", e->final_sha256);
	print_field("miner", e->miner);
	print_field("king", e->king_tag);
	if (e->seed >= 0)
		printf("%-19s %lld\n", "seed", (long long)e->seed);
	print_field("scale", e->scale);
	print_field("received", e->received_at);
	print_field("judged", e->judged_at);
	print_field("verdict", e->verdict);
	print_field("reason code", e->reason_code);
	print_field("reason", e->reason);
	print_real("claimed public bpb", e->claimed_public_bpb);
	print_real("public bpb", e->public_bpb);
	print_real("hidden bpb", e->hidden_bpb);
	print_real("king bpb", e->king_bpb);
	print_real("margin", e->margin);
	print_field("attestation", e->attest_kind);
	print_real("alpha", e->alpha);
	print_real("proof cpu s", e->proof_cpu_s);
	print_real("judge cpu s", e->judge_cpu_s);
	print_field("credited to", e->credited_to);
	print_field("challenge of", e->challenge_of);
	if (e->challenge_seed >= 0)
		printf("%-19s %lld\n", "challenge seed", (long long)e->challenge_seed);
	printf("checks\n");
	for (size_t i = 0; i < e->n_checks; i++) {
		const struct expcorpus_check *c = &e->checks[i];
		printf("  %2zu  %-7s ", i, c->outcome);
		put_safe(c->name, 0);
		if (c->code[0]) {
			fputs("  ", stdout);
			put_safe(c->code, 0);
		}
		if (c->message[0]) {
			fputs(": ", stdout);
			put_safe(c->message, 0);
		}
		if (isfinite(c->cpu_s))
			printf("  (%.3f cpu s)", c->cpu_s);
		fputc('\n', stdout);
	}
	expcorpus_cite_entry(e, cite);
	printf("cite\n  %s\n\nrationale\n", cite);
	put_safe(e->rationale, 1);
	printf("\n\npatch\n");
	put_safe(e->patch, 1);
	fputc('\n', stdout);
}

static int corpus_show(struct vstate *s, int argc, char **argv)
{
	struct kerr err = { { 0 }, { 0 } };
	struct expcorpus_entry e;
	char cite[EXPCORPUS_CITE_MAX];
	int as_json = 0, c;

	if ((c = cli_json_arg(argc, argv, "h", &as_json)) >= 0)
		return usage(c);
	if (expcorpus_get(s, argv[optind], &e, &err) < 0)
		return cli_fail(&err);
	if (as_json) {
		json_t *o = expcorpus_entry_json(&e), *top = json_object();
		expcorpus_cite_entry(&e, cite);
		json_object_set_new(top, "version", json_integer(CORPUS_JSON_VERSION));
		json_object_set_new(top, "citation", json_string(cite));
		json_object_set_new(top, "entry", o ? o : json_null());
		cli_print_json(top, JSON_PRESERVE_ORDER, NULL);
	} else {
		print_entry_text(&e);
	}
	expcorpus_entry_free(&e);
	return EXIT_OK;
}

/* ---------------------------------------------------------------- export, cite */

/* Through fs_atomic (temporary, fsync, rename, fsync of the directory): an
 * export file is whole or absent, and a finished export survives a power
 * cut. */
static int export_to(struct vstate *s, enum expcorpus_format fmt, const char *path, struct kerr *err)
{
	struct fs_atomic a;

	if (!path)
		return expcorpus_export(s, fmt, stdout, err);
	if (fs_atomic_open(&a, path, 0644, 0, err) < 0)
		return -1;
	if (expcorpus_export(s, fmt, fs_atomic_stream(&a), err) < 0 || fs_atomic_commit(&a, err) < 0) {
		fs_atomic_abort(&a);
		return -1;
	}
	return 0;
}

static int corpus_export(struct vstate *s, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, 0, 'f' }, { "out", required_argument, 0, 'o' },
		{ "help", no_argument, 0, 'h' },	 { 0, 0, 0, 0 },
	};
	struct kerr err = { { 0 }, { 0 } };
	const char *format = NULL, *out = NULL;
	enum expcorpus_format fmt;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': format = optarg; break;
		case 'o': out = optarg; break;
		case 'h': return usage(EXIT_OK);
		default: return usage(EXIT_USAGE);
		}
	}
	if (optind != argc || !format)
		return usage(EXIT_USAGE);
	if (!strcmp(format, "jsonl"))
		fmt = EXPCORPUS_JSONL;
	else if (!strcmp(format, "csv"))
		fmt = EXPCORPUS_CSV;
	else {
		fprintf(stderr, "karpa corpus: --format must be jsonl or csv\n");
		return EXIT_USAGE;
	}
	if (export_to(s, fmt, out, &err) < 0)
		return cli_fail(&err);
	return EXIT_OK;
}

static int corpus_cite(struct vstate *s, int argc, char **argv)
{
	struct kerr err = { { 0 }, { 0 } };
	char cite[EXPCORPUS_CITE_MAX];

	if (argc != 2)
		return usage(EXIT_USAGE);
	if (expcorpus_cite(s, argv[1], cite, &err) < 0)
		return cli_fail(&err);
	puts(cite);
	return EXIT_OK;
}

int cmd_corpus(int argc, char **argv)
{
	struct kerr err = { { 0 }, { 0 } };
	struct vstate s;
	const char *sub;
	int rc;

	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")))
		return usage(EXIT_OK);
	if (argc < 3)
		return usage(EXIT_USAGE);
	sub = argv[2];
	if (strcmp(sub, "search") && strcmp(sub, "show") && strcmp(sub, "export") && strcmp(sub, "cite")) {
		fprintf(stderr, "karpa corpus: unknown subcommand '%s'\n", sub);
		return usage(EXIT_USAGE);
	}
	if (validator_open(argv[1], &s, &err) < 0)
		return cli_fail(&err);
	if (!strcmp(sub, "search"))
		rc = corpus_search(&s, argc - 2, argv + 2);
	else if (!strcmp(sub, "show"))
		rc = corpus_show(&s, argc - 2, argv + 2);
	else if (!strcmp(sub, "export"))
		rc = corpus_export(&s, argc - 2, argv + 2);
	else
		rc = corpus_cite(&s, argc - 2, argv + 2);
	vstate_close(&s);
	return rc;
}
