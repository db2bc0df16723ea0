/* test_gpu_scripts.c: the GPU stages' scripts (bench/gpu_e2e.sh and
 * bench/gpu_miner.sh, which bench/gpu.sh runs on a GPU host) rehearsed at
 * the tiny scale on the CPU (GPU_REHEARSE=1, bench/gpu_lib.sh). CI has no
 * GPU, and a GPU run is costly: a flag renamed, a file moved or a step that
 * no longer hands the next one what it needs must fail here, not there.
 * The rehearsal runs every command the GPU run does, with the same flags
 * but the scale, the device and the data: a validator with its noise
 * floor, a patch proved with its checkpoints held back and judged with
 * the ones the judge draws, then a miner against that validator's service
 * finding, proving and submitting by itself. */
#include "testutil.h"

#include <jansson.h>
#include <stdlib.h>

#include "judge/judge.h"

#define OUT_CAP (512u << 10)

static char *out;

#define run(want, ...) tu_run_want(out, OUT_CAP, (want), __VA_ARGS__)

static const char *src_dir(void)
{
	const char *s = getenv("KARPA_SRC");

	return s ? s : ".";
}

/* A rehearsal pack: the release karpa and tiny data with a hidden split,
 * where a real pack has the GPU build and Brown in GPT-2 tokens. */
static void make_pack(const char *tmp)
{
	run(0, "mkdir -p %s/pack/bin %s/pack/data && ln -s \"$(readlink -f %s)\" %s/pack/bin/karpa", tmp, tmp,
	    tu_karpa(), tmp);
	run(0, "%s data prepare --scale tiny --out %s/pack/data/tiny --hidden-out %s/pack/data/tiny-hidden", tu_karpa(),
	    tmp, tmp);
}

static json_t *load(const char *path)
{
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);

	if (!j)
		fail_msg("%s: %s", path, je.text);
	return j;
}

/* Occurrences of needle in hay. */
static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* needle is in what the last command printed; else the test fails with
 * its end, which says why (a failure in CI is seen only once). */
static void expect_in(const char *needle)
{
	size_t n = strlen(out);

	if (!strstr(out, needle))
		fail_msg("\"%s\" is not in the output; its end:\n%s", needle, out + (n > 10000 ? n - 10000 : 0));
}

static void rehearse_e2e_then_miner(void **unused)
{
	char *tmp = tu_mkdtemp();
	char path[FS_PATH_MAX];
	json_int_t held;
	json_t *j;
	int sent, drew;

	(void)unused;
	make_pack(tmp);
	/* a proof and its judgment; a king of 24 steps, which the miner's
	 * first knob (more steps) beats by far more than the margin, so that
	 * its third experiment is a submission */
	run(0, "cd %s && GPU_REHEARSE=1 E2E_STEPS=24 E2E_WORK=%s/e2e E2E_THREADS=2 bash bench/gpu_e2e.sh %s/pack %s/out 2>&1", src_dir(),
	    tmp, tmp, tmp);
	assert_non_null(strstr(out, "REHEARSAL at tiny on the CPU"));
	assert_non_null(strstr(out, "the patch (lr)"));
	snprintf(path, sizeof path, "%s/out/e2e-prove.json", tmp);
	j = load(path);
	assert_true(json_is_true(json_object_get(j, "ok")));
	/* held back, as at the gpu-* scales: every intermediate but the last */
	held = json_integer_value(json_object_get(j, "held"));
	assert_true(held >= 6);
	json_decref(j);
	snprintf(path, sizeof path, "%s/out/e2e.json", tmp);
	j = load(path);
	print_message("   e2e: %s (%s), %lld held checkpoint(s) taken\n", tu_jstr(j, "verdict"), tu_jstr(j, "code"),
		      (long long)json_integer_value(json_object_get(j, "held_taken")));
	assert_true(json_is_true(json_object_get(j, "ok")));
	/* spot when not decisive, binding when decisive: either ran */
	assert_true(!strcmp(tu_jstr(json_object_get(j, "replay"), "mode"), "spot") ||
		    !strcmp(tu_jstr(json_object_get(j, "replay"), "mode"), "binding"));
	/* it took at least the held checkpoints the replayed segments start
	 * from (segment s starts at the s-th checkpoint; 1..held are held back,
	 * segment 0 starts from the seed and the last from the bundle's), and
	 * at most what a judgment draws; the key is absent when it took none */
	{
		const char *segs = tu_jstr(json_object_get(j, "replay"), "segments");
		json_int_t least = 0, took = json_integer_value(json_object_get(j, "held_taken"));
		char *end;
		for (const char *q = segs; *q; q = end) {
			long seg = strtol(q, &end, 10);
			assert_true(end != q);
			least += seg >= 1 && seg <= held;
			while (*end == ' ')
				end++;
		}
		assert_true(took >= least && took <= JUDGE_HELD_NEEDS_MAX);
	}
	json_decref(j);
	snprintf(path, sizeof path, "%s/e2e/noise.json", tmp);
	assert_int_equal(access(path, F_OK), 0);

	/* a miner against the validator the e2e left, served on loopback */
	/* three experiments: the king's short run, the first knob's (more
	 * steps) and its full run, which is proved, submitted, challenged and
	 * judged again; bounded by count, not by a slow machine's minutes */
	run(0, "cd %s && GPU_REHEARSE=1 E2E_WORK=%s/e2e MINER_WORK=%s/miner MINER_THREADS=2 MINER_MINUTES=10 MINER_EXPERIMENTS=3 "
	       "bash bench/gpu_miner.sh %s/pack %s/out 2>&1",
	    src_dir(), tmp, tmp, tmp, tmp);
	expect_in("validator: the one bench/gpu_e2e.sh left, with its noise floor");
	expect_in("its proof holds");
	/* submitted, challenged, proved again with the challenge seed (its
	 * checkpoints held too), judged: crowned, or, when the challenge
	 * seed's run does not hold the gain, challenge_failed (the protocol
	 * at work either way; which one depends on the drawn seed) */
	expect_in("challenge.held");
	if (!strstr(out, "verdict accepted_king"))
		expect_in("verdict challenge_failed");
	/* held checkpoints are sent when a judgment draws some. It draws none
	 * when its spot segment is the first or the last and its binding one
	 * the first (a few in a hundred; the draw is keyed by the validator's
	 * secret): the service's log says which, per submission received */
	sent = count(out, " the validator drew");
	run(0, "grep -c 'received {.*\"held\":[1-9]' %s/miner/validator.log || true", tmp);
	drew = atoi(out);
	print_message("   miner: %d submission(s) drew held checkpoints, %d sending(s)\n", drew, sent);
	if (drew ? sent < drew : sent != 0)
		fail_msg("%d submission(s) drew held checkpoints and the miner sent them %d time(s)", drew, sent);
	run(0, "grep -c 'received {.*\"held\":' %s/miner/validator.log || true", tmp);
	assert_int_equal(atoi(out), 2); /* the proof and its challenge's answer */
	/* the journal: the king's short run, then points of the search */
	run(0, "tail -n +2 %s/out/miner-results.tsv | wc -l", tmp);
	assert_int_equal(atoi(out), 3);
	/* submitted and judged: a verdict, and no proof left once judged */
	run(0, "ls %s/miner/mine/experiments/*/verdict.json | wc -l", tmp);
	assert_true(atoi(out) >= 1);
	run(0, "find %s/miner/mine/experiments -name '*.tar' -o -name '*.held' | wc -l", tmp);
	assert_string_equal(out, "0\n");
	run(0, "ls %s/e2e/state/uploads | grep -c '[.]tar$\\|[.]held$' || true", tmp);
	assert_string_equal(out, "0\n");
	tu_rmdir(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rehearse_e2e_then_miner),
	};
	int rc;

	out = malloc(OUT_CAP);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	free(out);
	return rc;
}
