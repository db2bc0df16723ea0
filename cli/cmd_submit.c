/* cmd_submit.c: the miner's side of a validator service: `karpa submit URL
 * BUNDLE.tar [--wait]` uploads a proof and, with --wait, follows it to its
 * verdict; `karpa status URL` shows the king, the queue and the lineage.
 * Owns these commands' output; the transfer is net/client.c's. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmds.h"
#include "net/client.h"
#include "util/fsutil.h"
#include "util/kerr.h"
#include "util/plot.h"

#define SUBMIT_POLL_S 2
#define SUBMIT_LATER_S 15     /* the first wait after a "later", doubling ... */
#define SUBMIT_LATER_MAX_S 120 /* ... to at most this */
#define SUBMIT_FAULTS_MAX 3
#define SUBMIT_UPLOADS_MAX 12 /* tries of one upload, as of held checkpoints (CLIENT_HELD_UPLOADS_MAX) */
#define URL_MAX 2048

static const char submit_usage[] =
	"usage: karpa submit URL BUNDLE.tar [--held DIR] [--wait] [--timeout S] [--quiet] [--json]\n"
	"Uploads a proof bundle (karpa prove --tar) to a validator service at URL\n"
	"(e.g. http://127.0.0.1:8370) and prints its submission id.\n"
	"  --held DIR   where the proof's held checkpoints are (karpa prove --out B: B.held):\n"
	"               the ones the validator asks for are sent (docs/bundle.md)\n"
	"  --wait       follow it until its verdict, and print the verdict\n"
	"  --timeout S  give up waiting after S seconds (default 86400): with --wait, a validator\n"
	"               that says \"later\" (its queue full, busy, down) is asked again within it\n"
	"               (15 s doubling to 2 minutes, 12 tries at most)\n"
	"  --quiet      no upload progress\n"
	"  --json       one JSON object on stdout: the submission (with --wait, its verdict)\n";

static const char status_usage[] =
	"usage: karpa status URL [--json]\n"
	"Shows a validator service's king, its queue and the lineage of kings.\n";

static const char *str(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));
	return v ? v : "";
}

static void print_verdict(json_t *it)
{
	json_t *j = json_object_get(it, "judgment");

	printf("verdict %s%s%s\n", str(it, "verdict"), *str(it, "code") ? ": " : "", str(it, "code"));
	if (j) {
		double h = json_number_value(json_object_get(j, "hidden_bpb"));
		double k = json_number_value(json_object_get(j, "king_bpb"));
		if (json_object_get(j, "hidden_bpb") && json_object_get(j, "king_bpb"))
			printf("hidden val_bpb %.4f (king %.4f)\n", h, k);
		if (*str(j, "reason"))
			printf("  %s\n", str(j, "reason"));
		if (json_object_get(j, "challenge_seed"))
			printf("challenge: prove again with --seed %" JSON_INTEGER_FORMAT "\n",
			       json_integer_value(json_object_get(j, "challenge_seed")));
	}
	printf("corpus entry %s\n", str(it, "submission"));
}

/* How long to wait after the n-th "later" in a row: 15 s, doubling to at
 * most 2 minutes. */
static unsigned later_s(int n)
{
	unsigned s = SUBMIT_LATER_S;

	while (n-- > 0 && s < SUBMIT_LATER_MAX_S)
		s *= 2;
	return s > SUBMIT_LATER_MAX_S ? SUBMIT_LATER_MAX_S : s;
}

/* With --wait, after the n-th failed upload in a row: 1 after waiting
 * when the validator said "later" (no room, busy, down; client_later),
 * the upload may be sent again and time is left, else 0. Sent again at
 * most SUBMIT_UPLOADS_MAX times (a refusal after the body costs a whole
 * bundle each time); a 5xx that is the validator's own fault rather than
 * a lack of room, SUBMIT_FAULTS_MAX times in a row (it may fail the same
 * bundle the same way every time); a validator never reached
 * (client.connect before any answer) not at all: a wrong URL, most
 * likely. */
static int wait_later(const struct kerr *err, long status, int n, int *faults, int answered, time_t t0,
		      double timeout)
{
	unsigned s = later_s(n);

	if (!client_later(err, status) || n + 1 >= SUBMIT_UPLOADS_MAX ||
	    (!answered && !strcmp(err->code, "client.connect")))
		return 0;
	if (status >= 500 && status != 503 && !client_no_room(err) && !client_busy(err)) {
		if (++*faults >= SUBMIT_FAULTS_MAX)
			return 0;
	} else {
		*faults = 0;
	}
	if (difftime(time(NULL), t0) + s > timeout)
		return 0;
	fprintf(stderr, "karpa submit: the validator says later (%s: %s): trying again in %u s\n", err->code, err->msg,
		s);
	sleep(s);
	return 1;
}

int cmd_submit(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "wait", no_argument, 0, 'w' },	 { "timeout", required_argument, 0, 't' },
		{ "quiet", no_argument, 0, 'q' },	 { "json", no_argument, 0, 'j' },
		{ "help", no_argument, 0, 'h' },	 { "held", required_argument, 0, 'H' },
		{ 0, 0, 0, 0 },
	};
	struct client_opts co;
	struct kerr err = { { 0 }, { 0 } };
	char url[URL_MAX], item_url[URL_MAX];
	json_t *it = NULL;
	long status = 0;
	int wait = 0, as_json = 0, c;
	double timeout = 86400;
	const char *held = NULL;
	int warned = 0, held_laters = 0;
	time_t t0, held_at = 0;

	client_opts_default(&co);
	co.progress = isatty(STDERR_FILENO);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'w': wait = 1; break;
		case 't': timeout = atof(optarg); break;
		case 'q': co.progress = 0; break;
		case 'j': as_json = 1; break;
		case 'H': held = optarg; break;
		case 'h': fputs(submit_usage, stdout); return EXIT_OK;
		default: fputs(submit_usage, stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc - 2 || !(timeout > 0)) {
		fputs(submit_usage, stderr);
		return EXIT_USAGE;
	}
	t0 = time(NULL);
	if (client_url(url, sizeof url, argv[optind], "/v1/submissions", &err) < 0)
		return cli_fail_json(&err, as_json, NULL);
	/* without --wait a "later" is the answer: the caller decides */
	for (int n = 0, faults = 0, answered = 0; client_post_submission(url, argv[optind + 1], &co, &it, &status, &err) < 0;
	     n++) {
		answered |= status > 0;
		if (!wait || !wait_later(&err, status, n, &faults, answered, t0, timeout))
			return cli_fail_json(&err, as_json, NULL);
	}
	if (!as_json)
		printf("submitted %s (%s%s)\n", str(it, "id"), str(it, "state"),
		       status == 200 ? ", already known" : "");
	for (struct client_held_tally tally = { 0 };;) {
		json_t *next = NULL;
		int sent = 0;

		/* the held checkpoints its judgment draws, when it waits for them */
		if (client_held_wanted(it) && time(NULL) >= held_at) {
			if (!held) {
				if (!warned++)
					fprintf(stderr, "karpa submit: the validator asks for held checkpoints of %s: submit again with"
							" --held DIR (the proof's BUNDLE.held)\n", str(it, "id"));
			} else if (client_send_held(url, it, held, &co, &tally, &sent, &status, &err) < 0) {
				/* with --wait a "later" is waited out, as an upload's */
				if (!wait || !client_later(&err, status) || difftime(time(NULL), t0) > timeout) {
					json_decref(it);
					return cli_fail_json(&err, as_json, NULL);
				}
				held_at = time(NULL) + later_s(held_laters);
				fprintf(stderr, "karpa submit: held checkpoints: the validator says later (%s): sending"
						" them again in %u s\n",
					err.code, later_s(held_laters++));
			} else {
				held_laters = 0;
				if (!as_json)
					fprintf(stderr, "  sent %d held checkpoint%s\n", sent, sent == 1 ? "" : "s");
			}
		}
		if (!wait || !strcmp(str(it, "state"), "done"))
			break;
		if (difftime(time(NULL), t0) > timeout) {
			json_decref(it);
			kerr_set(&err, "client.timeout", "no verdict after %.0f s", timeout);
			return cli_fail_json(&err, as_json, NULL);
		}
		sleep(SUBMIT_POLL_S);
		if (client_url(item_url, sizeof item_url, argv[optind], "/v1/submissions/", &err) < 0 ||
		    strlen(item_url) + strlen(str(it, "id")) >= sizeof item_url) {
			json_decref(it);
			return cli_fail_json(&err, as_json, NULL);
		}
		strcat(item_url, str(it, "id"));
		if (client_get_json(item_url, &co, &next, &status, &err) < 0) {
			json_decref(it);
			return cli_fail_json(&err, as_json, NULL);
		}
		if (!as_json && strcmp(str(next, "state"), str(it, "state")))
			fprintf(stderr, "  %s%s%s\n", str(next, "state"), *str(next, "check") ? ": " : "",
				str(next, "check"));
		json_decref(it);
		it = next;
	}
	if (as_json)
		return cli_print_json(it, JSON_SORT_KEYS, NULL) < 0 ? EXIT_FAIL : EXIT_OK;
	if (wait)
		print_verdict(it);
	json_decref(it);
	return EXIT_OK;
}

/* The lineage as a curve: hidden val_bpb per king, in crowning order. */
static void print_lineage(json_t *kings)
{
	size_t n = json_array_size(kings), i;
	double *x = calloc(n ? n : 1, sizeof *x), *y = calloc(n ? n : 1, sizeof *y);
	struct kerr err = { { 0 }, { 0 } };
	json_t *k;

	if (!x || !y) {
		free(x);
		free(y);
		return;
	}
	printf("\nlineage (%zu king%s)\n", n, n == 1 ? "" : "s");
	json_array_foreach(kings, i, k) {
		json_t *h = json_object_get(k, "hidden_bpb");
		x[i] = (double)i;
		y[i] = json_is_number(h) ? json_number_value(h) : NAN;
		printf("  %-16s %s  hidden %s%.4f  %s\n", str(k, "tag"), str(k, "crowned_at"),
		       json_is_number(h) ? "" : "(none) ", json_is_number(h) ? y[i] : 0.0,
		       *str(k, "miner") ? str(k, "miner") : "");
	}
	if (n >= 2) {
		struct plot_curve pc = { x, y, n, x, n, "hidden val_bpb of each king", "king", "bpb" };
		plot_term(stdout, &pc, 48, 8, &err);
	}
	free(x);
	free(y);
}

int cmd_status(int argc, char **argv)
{
	struct client_opts co;
	struct kerr err = { { 0 }, { 0 } };
	char url[URL_MAX];
	json_t *king = NULL, *queue = NULL, *lineage = NULL, *o;
	long status = 0;
	int as_json = 0, rc = cli_json_arg(argc, argv, "h", &as_json);

	if (rc >= 0) {
		fputs(status_usage, rc ? stderr : stdout);
		return rc;
	}
	client_opts_default(&co);
	co.tries = 2;
	if (client_url(url, sizeof url, argv[optind], "/v1/king", &err) < 0 ||
	    client_get_json(url, &co, &king, &status, &err) < 0 ||
	    client_url(url, sizeof url, argv[optind], "/v1/queue", &err) < 0 ||
	    client_get_json(url, &co, &queue, &status, &err) < 0 ||
	    client_url(url, sizeof url, argv[optind], "/v1/lineage", &err) < 0 ||
	    client_get_json(url, &co, &lineage, &status, &err) < 0) {
		json_decref(king);
		json_decref(queue);
		return cli_fail_json(&err, as_json, NULL);
	}
	if (as_json) {
		o = json_pack("{s:o, s:o, s:o}", "king", king, "queue", queue, "lineage",
			      json_incref(json_object_get(lineage, "kings")));
		json_decref(lineage);
		return cli_print_json(o, JSON_SORT_KEYS, NULL) < 0 ? EXIT_FAIL : EXIT_OK;
	}
	printf("king %s (%.12s)  scale %s\n", str(king, "tag"), str(king, "commit"), str(king, "scale"));
	if (json_is_number(json_object_get(king, "hidden_bpb")))
		printf("  hidden val_bpb %.4f", json_number_value(json_object_get(king, "hidden_bpb")));
	if (json_is_object(json_object_get(king, "noise_floor")))
		printf("  noise margin %.4f",
		       json_number_value(json_object_get(json_object_get(king, "noise_floor"), "margin")));
	printf("\nqueue: %" JSON_INTEGER_FORMAT " queued", json_integer_value(json_object_get(queue, "queued")));
	if (json_integer_value(json_object_get(queue, "held_waiting")) > 0)
		printf(" (%" JSON_INTEGER_FORMAT " waiting for held checkpoints)",
		       json_integer_value(json_object_get(queue, "held_waiting")));
	printf(", %" JSON_INTEGER_FORMAT " judging, %" JSON_INTEGER_FORMAT " done\n",
	       json_integer_value(json_object_get(queue, "judging")), json_integer_value(json_object_get(queue, "done")));
	print_lineage(json_object_get(lineage, "kings"));
	json_decref(king);
	json_decref(queue);
	json_decref(lineage);
	return EXIT_OK;
}
