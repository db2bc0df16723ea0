/* test_dashboard.c: the dashboard (GET /) in a real browser. A tiny
 * validator state is given a king change and a handful of judged
 * submissions by hand (no proving: the kings and noise rows in SQL as the
 * ledger tests do, the corpus rows through expcorpus_record so that they
 * are searchable), `karpa validator serve` runs on a free loopback port,
 * and tests/dashboard_test.mjs drives Debian's headless Chromium through
 * puppeteer-core: the lineage chart's two king markers, the verdict rows,
 * the detail panel, corpus search, then a real bundle submitted and its
 * verdict shown live from /v1/events without a reload, with no console
 * error anywhere. The screenshots are kept (the path is printed).
 *
 * The new king has a model: the bundle's own trained checkpoint, stored
 * with a manifest that lists it as the crowning bundle's would, so the
 * service makes its short sample (a `karpa sample` child) and serves it at
 * GET /v1/kings/recipe-v0.1.1/sample, the same text `karpa sample --king`
 * prints, and the page shows it beside the chart.
 *
 * The bundle is proved against recipe-v0.1.0 while the king is already
 * recipe-v0.1.1, so its judgment ends at the first check with judge.stale:
 * a real verdict through the real queue and worker, in a second or two. */
#include "corpus_rows.h"
#include "service_fixture.h"

#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <sys/stat.h>

#include "net/client.h"
#include "proof/bundle.h"
#include "validator/expcorpus.h"
#include "validator/kingsample.h"

#define OUT_CAP (256u << 10)
#define THREADS 2
/* node's own limit is 150 s (the script's watchdog); this is the shell's */
#define BROWSER_TIMEOUT_S 180

struct fx {
	char *tmp;
	char data[FS_PATH_MAX], hidden[FS_PATH_MAX], state[FS_PATH_MAX], clone[FS_PATH_MAX],
		key[FS_PATH_MAX], bundle[FS_PATH_MAX];
	char shots[FS_PATH_MAX]; /* kept after the test: the screenshots */
	char accepted_id[EXPCORPUS_ID_BYTES];
	char model_manifest[HASH_HEX_BYTES]; /* the accepted row's: lists the king's model */
	int verdicts;            /* corpus rows made by hand */
	struct sf_service sv;
	char *out;
};

static struct fx g;

#define run(want, ...) tu_run_want(g.out, OUT_CAP, (want), __VA_ARGS__)

/* An ISO time `min` minutes before now. */
static void ago(char out[VSTATE_TIME_BYTES], int min)
{
	time_t t = time(NULL) - (time_t)min * 60;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, VSTATE_TIME_BYTES, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---------------------------------------------------------- the state */

struct seed_row {
	const char *miner, *verdict, *code, *reason, *rationale;
	int min_ago;
	double hidden_bpb, judge_cpu_s;
	int failed_check; /* index of the check that failed, -1 when all passed */
};

static const char *const check_names[] = { "diff_scan", "attest_verify", "log_plausibility", "hidden_eval",
					   "spot_replay" };

static const struct seed_row rows[] = {
	{ "bob", "not_decisive", "judge.not_decisive", "hidden val_bpb 4.1905 against the king's 4.1931: inside the margin 0.0089",
	  "Weight decay 0.05 on the embedding table as well as the blocks.", 150, 4.1905, 39.1, -1 },
	{ "carol", "rejected", "judge.claim_mismatch", "claimed public val_bpb 4.1502, recomputed 4.1880 (tolerance 0.0005)",
	  "A larger peak learning rate, 3e-3, with the same schedule.", 120, NAN, 12.4, 3 },
	{ "alice", "accepted_king", "", "decisive: hidden val_bpb 4.1712 against the king's 4.1931 (margin 0.0089)",
	  "Warmup over the first 10% of steps, then cosine decay: the loss spikes early without it.", 75, 4.1712,
	  46.8, -1 },
	{ "bob", "rejected", "judge.forbidden_call", "names a function outside what a pure recipe may use: fopen",
	  "Read the learning rate schedule from a file.", 40, NAN, 0.4, 0 },
	{ "dave", "not_decisive", "judge.not_decisive", "hidden val_bpb 4.1705 against the king's 4.1712: inside the margin 0.0089",
	  "Gradient clipping at 1.0 on top of the warmup.", 20, 4.1705, 44.0, -1 },
	{ "carol", "challenge_failed", "judge.challenge_failed", "under the challenge seed the improvement does not clear the margin",
	  "Label smoothing 0.1 in the loss.", 10, 4.1689, 88.1, -1 },
};

static void record(struct vstate *vs, const struct seed_row *r, char out_id[EXPCORPUS_ID_BYTES])
{
	struct expcorpus_entry e;
	struct expcorpus_check ck[5];
	struct kerr err = { 0 };
	char patch[512];
	size_t n = 0;

	expcorpus_entry_blank(&e);
	snprintf(patch, sizeof patch,
		 "diff --git a/config.c b/config.c\n--- a/config.c\n+++ b/config.c\n@@ -40,3 +40,3 @@\n"
		 " /* %s */\n-\t.warmup = 0,\n+\t.warmup = 3,\n",
		 r->rationale);
	hash_buf_hex(r->rationale, strlen(r->rationale), e.manifest_sha256);
	if (!strcmp(r->verdict, "accepted_king"))
		snprintf(e.manifest_sha256, sizeof e.manifest_sha256, "%s", g.model_manifest);
	hash_buf_hex(patch, strlen(patch), e.patch_sha256);
	snprintf(e.miner, sizeof e.miner, "%s", cr_miner(r->miner));
	snprintf(e.king_tag, sizeof e.king_tag, "%s", r->min_ago > 70 ? "recipe-v0.1.0" : "recipe-v0.1.1");
	snprintf(e.scale, sizeof e.scale, "tiny");
	snprintf(e.verdict, sizeof e.verdict, "%s", r->verdict);
	snprintf(e.reason_code, sizeof e.reason_code, "%s", r->code);
	snprintf(e.reason, sizeof e.reason, "%s", r->reason);
	snprintf(e.attest_kind, sizeof e.attest_kind, "mock");
	ago(e.received_at, r->min_ago);
	e.seed = 1;
	e.rationale = (char *)r->rationale;
	e.patch = patch;
	e.hidden_bpb = r->hidden_bpb;
	e.king_bpb = r->min_ago > 70 ? 4.1931 : 4.1712;
	e.margin = 0.0089;
	e.alpha = 0.5;
	e.judge_cpu_s = r->judge_cpu_s;
	e.proof_cpu_s = 41.0;
	for (int i = 0; i < 5; i++) {
		int failed = i == r->failed_check, skipped = r->failed_check >= 0 && i > r->failed_check;
		memset(&ck[n], 0, sizeof ck[n]);
		snprintf(ck[n].name, sizeof ck[n].name, "%s", check_names[i]);
		snprintf(ck[n].outcome, sizeof ck[n].outcome, "%s", failed ? "fail" : skipped ? "skipped" : "pass");
		if (failed) {
			snprintf(ck[n].code, sizeof ck[n].code, "%s", r->code);
			snprintf(ck[n].message, sizeof ck[n].message, "%s", r->reason);
		}
		ck[n++].cpu_s = skipped ? NAN : r->judge_cpu_s / 5;
	}
	if (expcorpus_record(vs, &e, ck, n, out_id, &err) < 0)
		fail_msg("expcorpus_record: %s: %s", err.code, err.msg);
}

/* The proof's trained checkpoint in the store, with a manifest that lists
 * it as checkpoints/final.ckpt (what the judge stores of a crowning
 * bundle; not the bundle's own manifest, which the live submission of the
 * same bundle records). */
static void store_model(struct vstate *vs)
{
	char ckpt[FS_PATH_MAX], man[FS_PATH_MAX], hex[HASH_HEX_BYTES], text[512];
	uint64_t bytes = 0;
	struct kerr err = { 0 };

	snprintf(ckpt, sizeof ckpt, "%s/proof/" BUNDLE_FINAL_CKPT, g.tmp);
	snprintf(man, sizeof man, "%s/model-manifest.json", g.tmp);
	if (hash_file_hex(ckpt, hex, &bytes, &err) < 0 || vstate_store_file(vs, ckpt, hex, &err) < 0)
		fail_msg("storing %s: %s: %s", ckpt, err.code, err.msg);
	snprintf(text, sizeof text, "{\"files\":{\"" BUNDLE_FINAL_CKPT "\":{\"bytes\":%llu,\"sha256\":\"%s\"}}}",
		 (unsigned long long)bytes, hex);
	if (fs_write_atomic(man, text, strlen(text), &err) < 0 || vstate_store_file(vs, man, g.model_manifest, &err) < 0)
		fail_msg("storing the manifest: %s: %s", err.code, err.msg);
}

/* The first king scored three hours ago with a noise floor, the judged
 * rows above, and a king change to recipe-v0.1.1 seventy minutes ago on
 * alice's accepted submission. validator_open checks the newest kings row
 * against git: the new tag names the first king's commit (the rows are all
 * the page reads). */
static void seed_state(void)
{
	struct vstate vs;
	struct kerr err = { 0 };
	char t0[VSTATE_TIME_BYTES], t1[VSTATE_TIME_BYTES], sql[1024], id[EXPCORPUS_ID_BYTES];

	if (validator_open(g.state, &vs, &err) < 0)
		fail_msg("validator_open: %s: %s", err.code, err.msg);
	ago(t0, 180);
	ago(t1, 70);
	snprintf(sql, sizeof sql,
		 "UPDATE kings SET hidden_bpb = 4.1931, public_bpb = 4.1887, created_at = '%s' WHERE tag = 'recipe-v0.1.0';"
		 "INSERT INTO noise(king_tag, scale, seeds, sigma, margin, values_json, created_at)"
		 " VALUES('recipe-v0.1.0', 'tiny', 2, 0.00443, 0.0089, '[4.1930, 4.1867]', '%s')",
		 t0, t0);
	cr_exec(&vs, sql);
	store_model(&vs);
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		record(&vs, &rows[i], id);
		if (!strcmp(rows[i].verdict, "accepted_king"))
			snprintf(g.accepted_id, sizeof g.accepted_id, "%s", id);
	}
	g.verdicts = (int)(sizeof rows / sizeof rows[0]);
	cr_king(&vs, "recipe-v0.1.1", g.accepted_id, "alice", 0.0219, 0.5, t1);
	cr_exec(&vs, "UPDATE kings SET hidden_bpb = 4.1712, public_bpb = 4.1690,"
		     " commit_id = (SELECT commit_id FROM kings WHERE tag = 'recipe-v0.1.0') WHERE tag = 'recipe-v0.1.1'");
	vstate_close(&vs);
	run(0, "git -C %s/recipe tag recipe-v0.1.1 recipe-v0.1.0", g.state);
}

/* ------------------------------------------------------- the service */

static void serve(void)
{
	const char *const opts[] = { "--epoch-seconds", "3", "--workers", "1", "--judge-threads", "2",
				     "--judge-bin", tu_karpa(), NULL };

	sf_start(&g.sv, g.tmp, g.state, opts);
}

static int setup(void **unused)
{
	char patch[FS_PATH_MAX], rat[FS_PATH_MAX], dir[FS_PATH_MAX];
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	(void)unused;
	assert_int_equal(hash_init_lib(), 0);
	g.out = malloc(OUT_CAP);
	g.tmp = tu_mkdtemp();
	snprintf(g.data, sizeof g.data, "%s/data", g.tmp);
	snprintf(g.hidden, sizeof g.hidden, "%s/hidden", g.tmp);
	snprintf(g.state, sizeof g.state, "%s/state", g.tmp);
	snprintf(g.clone, sizeof g.clone, "%s/clone", g.tmp);
	snprintf(g.key, sizeof g.key, "%s/miner.key", g.tmp);
	snprintf(g.bundle, sizeof g.bundle, "%s/b.tar", g.tmp);
	snprintf(patch, sizeof patch, "%s/p.diff", g.tmp);
	snprintf(rat, sizeof rat, "%s/rationale.md", g.tmp);
	snprintf(dir, sizeof dir, "%s/proof", g.tmp);
	snprintf(g.shots, sizeof g.shots, "%s/karpa-dashboard-XXXXXX", base);
	assert_non_null(mkdtemp(g.shots));
	/* tu_validator without its noise floor: the floor is a row here */
	run(0, "%s data prepare --scale tiny --out %s --hidden-out %s", tu_karpa(), g.data, g.hidden);
	run(0, "%s validator init %s --data %s --hidden %s --scale tiny", tu_karpa(), g.state, g.data, g.hidden);
	run(0, "%s keygen --out %s", tu_karpa(), g.key);
	/* the bundle, proved against the first king before the change */
	run(0, "git clone -q %s/recipe %s && git -C %s checkout -q --detach recipe-v0.1.0", g.state, g.clone, g.clone);
	run(0, "sed -i -e 's|^/\\* tiny: seconds under sanitizers|/* tiny (dashboard): seconds under sanitizers|' "
	       "%s/config.c && git -C %s diff > %s",
	    g.clone, g.clone, patch);
	run(0, "printf 'A comment, submitted while the dashboard watches.\\n' > %s", rat);
	run(0, "%s prove --recipe %s/recipe --king recipe-v0.1.0 --patch %s --rationale %s --key %s --data %s"
	       " --scale tiny --out %s --tar %s --mock-attestation --threads %d",
	    tu_karpa(), g.state, patch, rat, g.key, g.data, dir, g.bundle, THREADS);
	seed_state();
	serve();
	return 0;
}

static int teardown(void **unused)
{
	(void)unused;
	sf_stop(&g.sv, SIGTERM);
	tu_rmdir(g.tmp);
	free(g.out);
	return 0;
}

/* ---------------------------------------------------------- the page */

/* The text between open and close in s, hashed as the browser does for
 * CSP ("sha256-" + base64). */
static void csp_hash(const char *s, const char *open, const char *close, char out[64])
{
	const char *a = strstr(s, open), *b;
	uint8_t d[HASH_BYTES];

	assert_non_null(a);
	a += strlen(open);
	assert_non_null(b = strstr(a, close));
	hash_buf(a, (size_t)(b - a), d);
	memcpy(out, "sha256-", 7);
	sodium_bin2base64(out + 7, 64 - 7, d, sizeof d, sodium_base64_VARIANT_ORIGINAL);
}

/* GET / with curl: the page, typed, with a policy that allows exactly
 * its own style and script blocks and this origin; the other methods are
 * refused with the one error shape. */
static void page_and_its_policy(void **unused)
{
	char hdr[FS_PATH_MAX], body[FS_PATH_MAX], style[64], script[64], want[160];
	char *text = NULL;
	size_t len = 0;
	struct kerr err = { 0 };

	(void)unused;
	snprintf(hdr, sizeof hdr, "%s/page.headers", g.tmp);
	snprintf(body, sizeof body, "%s/page.html", g.tmp);
	run(0, "curl -s -D %s -o %s -w '%%{http_code}' %s/", hdr, body, g.sv.url);
	assert_string_equal(g.out, "200");
	assert_int_equal(fs_read_all(body, 1 << 20, &text, &len, &err), 0);
	assert_non_null(strstr(text, "<title>Karpa validator</title>"));
	assert_non_null(strstr(text, "</html>"));
	csp_hash(text, "<style>", "</style>", style);
	csp_hash(text, "<script>", "</script>", script);
	free(text);
	run(0, "tr -d '\\r' < %s", hdr);
	assert_non_null(strstr(g.out, "Content-Type: text/html; charset=utf-8"));
	assert_non_null(strstr(g.out, "X-Content-Type-Options: nosniff"));
	snprintf(want, sizeof want, "script-src '%s'; style-src '%s'; connect-src 'self'", script, style);
	if (!strstr(g.out, "Content-Security-Policy: default-src 'none'; ") || !strstr(g.out, want))
		fail_msg("want a policy with %s, got:\n%s", want, g.out);
	assert_null(strstr(g.out, "unsafe-inline"));
	run(0, "curl -s -w ' %%{http_code}' -X POST %s/", g.sv.url);
	assert_non_null(strstr(g.out, "http.method"));
	run(0, "curl -s -w ' %%{http_code}' %s/index.html", g.sv.url);
	assert_non_null(strstr(g.out, "http.not_found"));
}

/* The new king's sample: made by the service on its own (no judgment is
 * running), served with the fixed prompt and draw, the text `karpa sample
 * --king` prints with the same options, and kept in the state. The first
 * king has no model, so no sample. */
static void king_sample_is_made_and_served(void **unused)
{
	char url[256], cmd[1024];
	const char *argv[KINGSAMPLE_ARGV_MAX];
	char nums[64];
	json_t *j = NULL, *k;
	struct client_opts o;
	struct kerr err = { 0 };
	struct vstate vs;
	long status = 0;
	size_t len = 0;
	int have = 0;

	(void)unused;
	client_opts_default(&o);
	o.tries = 1;
	snprintf(url, sizeof url, "%s/v1/kings/recipe-v0.1.1/sample", g.sv.url);
	for (int i = 0; i < 600; i++, usleep(100 * 1000)) {
		json_decref(j);
		j = NULL;
		if (client_get_json(url, &o, &j, &status, &err) == 0)
			break;
		if (strcmp(err.code, "kingsample.pending"))
			fail_msg("GET %s: %ld %s: %s", url, status, err.code, err.msg);
	}
	if (status != 200) {
		run(-1, "tail -n 20 %s", g.sv.log);
		fail_msg("no sample after 60 s; the service's log ends:\n%s", g.out);
	}
	assert_string_equal(tu_jstr(j, "tag"), "recipe-v0.1.1");
	assert_string_equal(tu_jstr(j, "prompt"), KINGSAMPLE_PROMPT);
	assert_true(tu_jnum(j, "temperature") == KINGSAMPLE_TEMPERATURE);
	assert_int_equal((int)tu_jnum(j, "seed"), KINGSAMPLE_SEED);
	assert_int_equal(json_array_size(json_object_get(j, "tokens")), KINGSAMPLE_TOKENS);
	assert_true(strlen(tu_jstr(j, "text")) > 0);
	/* reproducible: the command an operator would run prints the same */
	kingsample_argv(tu_karpa(), g.state, "recipe-v0.1.1", "tiny", THREADS, nums, argv);
	for (int i = 0; argv[i]; i++)
		len += (size_t)snprintf(cmd + len, sizeof cmd - len, "'%s' ", argv[i]);
	run(0, "%s", cmd);
	k = tu_out_json(g.out);
	assert_string_equal(tu_jstr(k, "text"), tu_jstr(j, "text"));
	assert_true(json_equal(json_object_get(k, "tokens"), json_object_get(j, "tokens")));
	json_decref(k);
	json_decref(j);
	/* in the lineage, and kept in the state */
	snprintf(url, sizeof url, "%s/v1/lineage", g.sv.url);
	assert_int_equal(client_get_json(url, &o, &j, &status, &err), 0);
	k = json_object_get(j, "kings");
	assert_true(json_is_false(json_object_get(json_array_get(k, 0), "sample")));
	assert_true(json_is_true(json_object_get(json_array_get(k, 1), "sample")));
	json_decref(j);
	assert_int_equal(vstate_open(g.state, &vs, &err), 0);
	assert_int_equal(kingsample_have(&vs, "recipe-v0.1.1", &have, &err), 0);
	vstate_close(&vs);
	assert_int_equal(have, 1);
	/* none for the first king, and none for a tag that is no king */
	snprintf(url, sizeof url, "%s/v1/kings/recipe-v0.1.0/sample", g.sv.url);
	assert_int_equal(client_get_json(url, &o, &j, &status, &err), -1);
	assert_int_equal(status, 404);
	assert_string_equal(err.code, "lineage.no_model");
	snprintf(url, sizeof url, "%s/v1/kings/recipe-v9.0.0/sample", g.sv.url);
	assert_int_equal(client_get_json(url, &o, &j, &status, &err), -1);
	assert_int_equal(status, 404);
	assert_string_equal(err.code, "lineage.not_found");
}

/* The browser: everything the page shows, and a live verdict. */
static void browser_shows_the_validator_live(void **unused)
{
	static const char *const modules[] = { "puppeteer-core", NULL };
	char npm[FS_PATH_MAX], script[FS_PATH_MAX];
	const char *src = getenv("KARPA_SRC") ? getenv("KARPA_SRC") : ".";
	const char *chromium = getenv("KARPA_CHROMIUM") ? getenv("KARPA_CHROMIUM") : "/usr/bin/chromium";
	double t0;
	int rc;

	(void)unused;
	tu_npm_node(npm, modules);
	if (access(chromium, X_OK) != 0)
		fail_msg("%s is missing: run scripts/setup.sh (Debian's chromium)", chromium);
	snprintf(script, sizeof script, "%s/tests/dashboard_test.mjs", src);
	t0 = tu_now_s();
	rc = tu_run(g.out, OUT_CAP,
		    "KARPA_NPM_DIR='%s' KARPA_CHROMIUM='%s' timeout %d node '%s' --url %s --out '%s' --karpa '%s'"
		    " --bundle '%s' --verdicts %d --accepted '%s'",
		    npm, chromium, BROWSER_TIMEOUT_S, script, g.sv.url, g.shots, tu_karpa(), g.bundle, g.verdicts,
		    g.accepted_id);
	fprintf(stderr, "%s", g.out);
	fprintf(stderr, "dashboard: browser test took %.1f s; screenshots in %s\n", tu_now_s() - t0, g.shots);
	if (rc != 0) {
		run(-1, "tail -n 40 %s", g.sv.log);
		fail_msg("the browser test failed (exit %d); the service's log ends:\n%s", rc, g.out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(page_and_its_policy),
		cmocka_unit_test(king_sample_is_made_and_served),
		cmocka_unit_test(browser_shows_the_validator_live),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
