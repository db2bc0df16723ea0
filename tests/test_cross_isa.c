/* test_cross_isa.c: the recipe trains to the same bits on another ISA.
 * First tests/cross/isa.sh: three tiny-scale steps built for x86-64 with the
 * pinned AVX2 flags, for x86-64 portable, and for aarch64 portable (under
 * qemu-user); every loss, learning rate and state byte must agree. Then a
 * whole proof: one patch proved twice, natively and with the runner built
 * for aarch64 (`karpa prove --runner-isa aarch64`, run under qemu-aarch64),
 * must give the same checkpoints, losses and val_bpb, and the aarch64 proof
 * is judged by this machine's judge, whose spot replay must agree with it.
 * The output lists the digests from both ISAs. */
#include "testutil.h"

#include <jansson.h>

#define CROSS_STEPS 3
#define OUT_CAP (256u << 10)
#define THREADS 2
/* Noise floor seeds: the judge needs a floor; two is the least with a spread. */
#define NOISE_SEEDS 2
/* The patch: the tiny scale's 30 steps (warmup 5) become 9 (warmup 3, a
 * checkpoint every 2 steps, the most the harness allows at 9 steps), so the
 * proof under qemu takes a minute or two, most of it the public evaluation,
 * and a spot replay (at most 3 steps, clipped at its segment's end) runs a
 * whole segment and so also checks the digest of the checkpoint it ends in. */
#define TINY_ROW_SED                                                                                                   \
	"s/{ \"tiny\", 64, 2, 2, 64, 4, 30, 5, 10, 3e-3f }/{ \"tiny\", 64, 2, 2, 64, 4, 9, 3, 2, 3e-3f }/"

static void aarch64_matches_x86_64(void **state)
{
	const char *src = getenv("KARPA_SRC");
	static char out[1 << 16];
	char *dir = tu_mkdtemp();
	int rc;

	(void)state;
	assert_non_null(src);
	rc = tu_run(out, sizeof out, "bash %s/tests/cross/isa.sh %s %d", src, dir, CROSS_STEPS);
	print_message("%s", out);
	tu_rmdir(dir);
	if (rc != 0)
		fail_msg("tests/cross/isa.sh exited %d", rc);
}

/* manifest.files[name].sha256 */
static const char *file_sha(json_t *m, const char *name)
{
	json_t *v = json_object_get(json_object_get(json_object_get(m, "files"), name), "sha256");

	if (!json_is_string(v))
		fail_msg("the manifest has no digest for %s", name);
	return json_string_value(v);
}

static const char *env_str(json_t *m, const char *key)
{
	return tu_jstr(json_object_get(m, "environment"), key);
}

/* Every step record of a train.log, with its wall-clock fields dropped:
 * what is left (step, tokens, loss, lr) must be the same bits. */
static char *step_lines(const char *log)
{
	FILE *f = fopen(log, "r");
	size_t cap = 1 << 20, n = 0;
	char *out = calloc(1, cap), line[4096];

	assert_non_null(f);
	assert_non_null(out);
	while (fgets(line, sizeof line, f)) {
		json_t *j = json_loads(line, 0, NULL);

		if (j && !strcmp(tu_jstr(j, "event"), "step"))
			n += (size_t)snprintf(out + n, cap - n, "%.0f %.0f %.17g %.17g\n", tu_jnum(j, "step"),
					      tu_jnum(j, "tokens"), tu_jnum(j, "loss"), tu_jnum(j, "lr"));
		json_decref(j);
		assert_true(n < cap);
	}
	fclose(f);
	return out;
}

static void aarch64_proof_replays_on_x86_64(void **state)
{
	char *tmp = tu_mkdtemp(), *out = malloc(OUT_CAP);
	char data[FS_PATH_MAX], hidden[FS_PATH_MAX], vstate[FS_PATH_MAX], clone[FS_PATH_MAX], key[FS_PATH_MAX],
		patch[FS_PATH_MAX], why[FS_PATH_MAX], path[FS_PATH_MAX], bundle[2][FS_PATH_MAX], *steps[2];
	static const char *const isa[2] = { "x86_64", "aarch64" };
	json_t *m[2], *j, *checks, *replay;
	double t0, prove_s[2];
	int nckpt = 0;

	(void)state;
	assert_non_null(out);
	if (tu_run(out, OUT_CAP, "command -v aarch64-linux-gnu-gcc && command -v qemu-aarch64 && "
				 "test -e /usr/lib/aarch64-linux-gnu/libsodium.so") != 0)
		fail_msg("the aarch64 cross compiler, qemu-user or the arm64 libraries are missing: run "
			 "scripts/setup.sh (docs/determinism.md)");
	snprintf(data, sizeof data, "%s/data", tmp);
	snprintf(hidden, sizeof hidden, "%s/hidden", tmp);
	snprintf(vstate, sizeof vstate, "%s/state", tmp);
	snprintf(clone, sizeof clone, "%s/miner-recipe", tmp);
	snprintf(key, sizeof key, "%s/miner.key", tmp);
	snprintf(patch, sizeof patch, "%s/nine-steps.diff", tmp);
	snprintf(why, sizeof why, "%s/why.md", tmp);
	/* A cache of its own: the cross runner is built here, not taken from
	 * an earlier run's cache. */
	snprintf(path, sizeof path, "%s/cache", tmp);
	setenv("KARPA_CACHE", path, 1);
	tu_validator(out, OUT_CAP, data, hidden, vstate, NOISE_SEEDS, THREADS);
	tu_run_want(out, OUT_CAP, 0, "%s keygen --out %s", tu_karpa(), key);
	tu_run_want(out, OUT_CAP, 0,
		    "git clone -q %s/recipe %s && sed -i -e '%s' %s/config.c && git -C %s diff > %s && test -s %s && "
		    "echo 'Fewer steps, so a proof under an emulator stays short.' > %s",
		    vstate, clone, TINY_ROW_SED, clone, clone, patch, patch, why);
	for (int i = 0; i < 2; i++) {
		snprintf(bundle[i], sizeof bundle[i], "%s/bundle-%s", tmp, isa[i]);
		t0 = tu_now_s();
		tu_run_want(out, OUT_CAP, 0,
			    "%s prove --recipe %s/recipe --king recipe-v0.1.0 --patch %s --rationale %s --key %s "
			    "--data %s --scale tiny --out %s --mock-attestation --threads %d --seed 1 --json%s",
			    tu_karpa(), vstate, patch, why, key, data, bundle[i], THREADS,
			    i ? " --runner-isa aarch64" : "");
		prove_s[i] = tu_now_s() - t0;
		/* natively in the sandbox; under the emulator, unconfined, and said */
		if (i ? !strstr(out, "\"sandbox\":\"not sandboxed (runs under qemu-aarch64)\"")
		      : !strstr(out, "\"sandbox\":\"sandboxed: "))
			fail_msg("%s proof: %s", isa[i], out);
		snprintf(path, sizeof path, "%s/manifest.json", bundle[i]);
		m[i] = tu_load_json(path);
		snprintf(path, sizeof path, "%s/train.log", bundle[i]);
		steps[i] = step_lines(path);
		print_message("   %-8s proof: %.1f s wall (training %.1f s), runner %s%s%s\n", isa[i], prove_s[i],
			      tu_jnum(json_object_get(m[i], "results"), "train_s"), env_str(m[i], "runner_isa"),
			      i ? " under " : "", i ? env_str(m[i], "runner_emulator") : "");
	}
	assert_string_equal(env_str(m[0], "runner_isa"), "x86_64");
	assert_string_equal(env_str(m[1], "runner_isa"), "aarch64");
	assert_true(strstr(env_str(m[1], "compiler"), "aarch64") != NULL);
	/* The same run, bit for bit: every step's loss and lr, every checkpoint,
	 * the public val_bpb. */
	assert_string_equal(steps[0], steps[1]);
	assert_true(strlen(steps[0]) > 0);
	{
		const char *name;
		json_t *v;

		json_object_foreach(json_object_get(m[0], "files"), name, v) {
			if (strncmp(name, "checkpoints/", 12))
				continue;
			print_message("   %-28s x86_64 %s\n   %-28s aarch64 %s\n", name, file_sha(m[0], name), "",
				      file_sha(m[1], name));
			assert_string_equal(file_sha(m[0], name), file_sha(m[1], name));
			nckpt++;
		}
	}
	assert_int_equal(nckpt, 5); /* steps 2, 4, 6 and 8, and the final one at 9 */
	assert_true(tu_jnum(json_object_get(m[0], "results"), "val_bpb") ==
		    tu_jnum(json_object_get(m[1], "results"), "val_bpb"));
	print_message("   val_bpb (public) %.17g on both\n", tu_jnum(json_object_get(m[1], "results"), "val_bpb"));
	/* Judged here: every check passes, the spot replay included. */
	t0 = tu_now_s();
	tu_run_want(out, OUT_CAP, 0, "%s judge %s %s --json --threads %d", tu_karpa(), vstate, bundle[1], THREADS);
	j = tu_out_json(out);
	checks = json_object_get(j, "checks");
	replay = json_object_get(j, "replay");
	print_message("   judge: %.1f s wall, verdict %s %s, replay %s segment %s: %.0f of %.0f steps, proved on %s, "
		      "replayed on %s\n",
		      tu_now_s() - t0, tu_jstr(j, "verdict"), tu_jstr(j, "code"), tu_jstr(replay, "mode"),
		      tu_jstr(replay, "segments"), tu_jnum(replay, "steps"), tu_jnum(replay, "of_steps"),
		      tu_jstr(replay, "proof_isa"), tu_jstr(replay, "replay_isa"));
	assert_int_equal(json_array_size(checks), 5);
	for (size_t i = 0; i < json_array_size(checks); i++) {
		json_t *c = json_array_get(checks, i);
		if (strcmp(tu_jstr(c, "outcome"), "pass"))
			fail_msg("check %s: %s %s", tu_jstr(c, "name"), tu_jstr(c, "code"), tu_jstr(j, "reason"));
	}
	assert_string_equal(tu_jstr(json_array_get(checks, 4), "name"), "spot_replay");
	/* The spot segment is drawn from the validator's secret, which is fresh
	 * on every run: segments 0-3 hold two steps, the
	 * last one (8 to 9) one. */
	assert_true(tu_jnum(replay, "steps") == (atoi(tu_jstr(replay, "segments")) == 4 ? 1 : 2));
	assert_string_equal(tu_jstr(replay, "proof_isa"), "aarch64");
	assert_string_equal(tu_jstr(replay, "replay_isa"), "x86_64");
	json_decref(j);
	for (int i = 0; i < 2; i++) {
		json_decref(m[i]);
		free(steps[i]);
	}
	unsetenv("KARPA_CACHE");
	free(out);
	tu_rmdir(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(aarch64_matches_x86_64),
		cmocka_unit_test(aarch64_proof_replays_on_x86_64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
