/* test_miner_knobs.c: the miner's knob space (src/miner/knobs.c): every
 * knob's patch applies to the pristine recipe with `git apply --check` and
 * changes the right value, the bounds and the budget hold (in GPU seconds
 * at the gpu-* scales), and the rationale names the change; and whether
 * this machine can mine at a scale (miner_device_check). */
#include "testutil.h"

#include "harness/calibrate.h"
#include "miner/knobs.h"
#include "miner/miner.h"

static const char *src(void)
{
	return getenv("KARPA_SRC") ? getenv("KARPA_SRC") : ".";
}

/* A git checkout of the pristine recipe. */
static char *checkout(void)
{
	char *d = tu_mkdtemp(), out[4096];

	assert_int_equal(tu_run(out, sizeof out,
				"cp %s/recipe/*.c %s/recipe/*.h %s && cd %s && git init -q && git add . && "
				"git -c user.email=t@t -c user.name=t commit -qm pristine",
				src(), src(), d, d),
			 0);
	return d;
}

static void read_king(const char *dir, struct knob_values *kv)
{
	struct kerr err = { { 0 }, { 0 } };

	if (knob_read(dir, "tiny", kv, &err) < 0)
		fail_msg("%s: %s", err.code, err.msg);
}

static void test_read_values(void **state)
{
	char *d = checkout();
	struct knob_values kv;

	read_king(d, &kv);
	assert_true(fabs(kv.v[KNOB_LR] - 3e-3) < 1e-9);
	assert_int_equal((int)kv.v[KNOB_WARMUP], 5);
	assert_int_equal((int)kv.v[KNOB_STEPS], 30);
	assert_int_equal((int)kv.v[KNOB_WIDTH], 64);
	assert_int_equal((int)kv.v[KNOB_BATCH], 4);
	assert_int_equal(kv.heads, 2);
	assert_true(kv.v[KNOB_LR_DECAY] == 1.0 && kv.v[KNOB_WD_EMBED] == 1.0);
	assert_true(fabs(kv.v[KNOB_BETA2] - 0.95) < 1e-9);
	for (int k = 0; k < KNOB_COUNT; k++)
		assert_true(kv.avail[k]);
	tu_rmdir(d);
}

/* Every knob, one step each way where the space allows: the diff applies
 * to the pristine tree, the edited value reads back, the rationale says it. */
static void test_each_knob_diff(void **state)
{
	char *d = checkout(), out[8192], patch[FS_PATH_MAX], rat[4096];
	struct knob_values kv, after;
	struct kerr err = { { 0 }, { 0 } };
	int tried = 0;

	read_king(d, &kv);
	for (int k = 0; k < KNOB_COUNT; k++)
		for (int dir = -1; dir <= 1; dir += 2) {
			struct knob_point p = { 0 };
			double nv = knob_step_in((enum knob_id)k, kv.v[k], dir, &kv);
			char *diff = NULL;
			size_t len;
			if (nv == kv.v[k])
				continue;
			knob_point_with(&p, &kv, (enum knob_id)k, nv);
			assert_int_equal(p.n, 1);
			assert_int_equal(knob_apply(d, "tiny", &p, &kv, &diff, &len, rat, sizeof rat, &err), 0);
			assert_true(len > 0);
			read_king(d, &after);
			if (k == KNOB_BATCH || k == KNOB_CONTEXT)
				assert_true(after.v[KNOB_STEPS] < kv.v[KNOB_STEPS] || after.v[KNOB_STEPS] > kv.v[KNOB_STEPS]);
			assert_true(fabs(after.v[k] - nv) <= 1e-6 * fabs(nv));
			assert_non_null(strstr(rat, knob_get((enum knob_id)k)->name));
			assert_non_null(strstr(rat, "Why: "));
			assert_non_null(strstr(diff, knob_get((enum knob_id)k)->file));
			assert_int_equal(knob_reset(d, &err), 0);
			snprintf(patch, sizeof patch, "%s/../k%d%d.diff", d, k, dir + 1);
			assert_int_equal(fs_write_atomic(patch, diff, len, &err), 0);
			assert_int_equal(tu_run(out, sizeof out, "cd %s && git apply --check %s", d, patch), 0);
			unlink(patch);
			free(diff);
			tried++;
		}
	assert_true(tried >= KNOB_COUNT);
	tu_rmdir(d);
}

/* Several knobs at once, the schedule and decay code paths, and a round
 * trip of the point's text. */
static void test_point_combined(void **state)
{
	char *d = checkout(), rat[4096], s[256], *diff = NULL;
	struct knob_values kv, after;
	struct knob_point p = { 0 }, q;
	struct kerr err = { { 0 }, { 0 } };
	size_t len;

	read_king(d, &kv);
	knob_point_with(&p, &kv, KNOB_LR, 0.002);
	knob_point_with(&p, &kv, KNOB_LR_DECAY, 0.5);
	knob_point_with(&p, &kv, KNOB_WD_EMBED, 0);
	knob_point_with(&p, &kv, KNOB_BETA1, 0.8);
	assert_int_equal(knob_point_check(&p, &kv, &err), 0);
	assert_int_equal(knob_point_format(&p, s, sizeof s), 0);
	assert_string_equal(s, "lr=0.002,lr_decay=0.5,wd_embed=0,beta1=0.8");
	assert_int_equal(knob_point_parse(s, &q, &err), 0);
	assert_int_equal(q.n, 4);
	assert_int_equal(knob_apply(d, "tiny", &p, &kv, &diff, &len, rat, sizeof rat, &err), 0);
	read_king(d, &after);
	assert_true(after.v[KNOB_LR_DECAY] == 0.5 && after.v[KNOB_WD_EMBED] == 0 && fabs(after.v[KNOB_BETA1] - 0.8) < 1e-9);
	assert_non_null(strstr(diff, "gpt.c"));
	assert_non_null(strstr(rat, "0.003 -> 0.002"));
	/* Back to the king's value removes the knob from the point. */
	knob_point_with(&p, &kv, KNOB_LR, kv.v[KNOB_LR]);
	assert_int_equal(p.n, 3);
	free(diff);
	assert_int_equal(knob_reset(d, &err), 0);
	assert_int_equal(knob_point_parse("lr=abc", &q, &err), -1);
	assert_string_equal(err.code, "miner.bad_point");
	assert_int_equal(knob_point_parse("nosuch=1", &q, &err), -1);
	tu_rmdir(d);
}

static void test_bounds_and_budget(void **state)
{
	char *d = checkout();
	struct knob_values kv;
	struct knob_point p = { 0 };
	struct kerr err = { { 0 }, { 0 } };
	double v;

	read_king(d, &kv);
	/* Steps never leave a knob's bounds. */
	for (int k = 0; k < KNOB_COUNT; k++) {
		v = kv.v[k];
		for (int i = 0; i < 200; i++)
			v = knob_step_in((enum knob_id)k, v, 1, &kv);
		assert_true(v <= knob_get((enum knob_id)k)->hi);
		v = kv.v[k];
		for (int i = 0; i < 200; i++)
			v = knob_step_in((enum knob_id)k, v, -1, &kv);
		assert_true(v >= knob_get((enum knob_id)k)->lo);
	}
	knob_point_with(&p, &kv, KNOB_LR, 1.0);
	assert_int_equal(knob_point_check(&p, &kv, &err), -1);
	assert_string_equal(err.code, "miner.knob_bounds");
	memset(&p, 0, sizeof p);
	knob_point_with(&p, &kv, KNOB_WIDTH, 72); /* not a multiple of 16 */
	assert_int_equal(knob_point_check(&p, &kv, &err), -1);
	assert_string_equal(err.code, "miner.knob_bounds");
	memset(&p, 0, sizeof p);
	knob_point_with(&p, &kv, KNOB_STEPS, 60); /* twice the king's cost */
	assert_int_equal(knob_point_check(&p, &kv, &err), -1);
	assert_string_equal(err.code, "miner.knob_budget");
	memset(&p, 0, sizeof p);
	knob_point_with(&p, &kv, KNOB_WARMUP, 20); /* over half of 30 steps */
	assert_int_equal(knob_point_check(&p, &kv, &err), -1);
	/* A batch doubled halves the steps: same tokens, within the budget. */
	memset(&p, 0, sizeof p);
	knob_point_with(&p, &kv, KNOB_BATCH, 8);
	assert_int_equal(knob_point_check(&p, &kv, &err), 0);
	/* An anchor the king rewrote makes the knob unavailable. */
	kv.avail[KNOB_LR_DECAY] = 0;
	memset(&p, 0, sizeof p);
	knob_point_with(&p, &kv, KNOB_LR_DECAY, 0.5);
	assert_int_equal(knob_point_check(&p, &kv, &err), -1);
	assert_string_equal(err.code, "miner.knob_anchor");
	tu_rmdir(d);
}

static void test_hostile_checkout(void **state)
{
	char *d = tu_mkdtemp(), path[FS_PATH_MAX];
	struct knob_values kv;
	struct kerr err = { { 0 }, { 0 } };
	const char junk[] = "static int x = { \"tiny\", 1, 2 };\n";

	snprintf(path, sizeof path, "%s/config.c", d);
	assert_int_equal(fs_write_atomic(path, junk, strlen(junk), &err), 0);
	snprintf(path, sizeof path, "%s/gpt.c", d);
	assert_int_equal(fs_write_atomic(path, junk, strlen(junk), &err), 0);
	assert_int_equal(knob_read(d, "tiny", &kv, &err), -1);
	assert_string_equal(err.code, "miner.knob_anchor");
	assert_int_equal(knob_read(d, "nosuch", &kv, &err), -1);
	assert_string_equal(err.code, "scale.unknown");
	/* refused before any file is read: no folder needed */
	assert_int_equal(knob_read("/nonexistent-king", "nosuch", &kv, &err), -1);
	assert_string_equal(err.code, "scale.unknown");
	tu_rmdir(d);
}

/* A king's text edited by sed in file, then read at tiny: refused with
 * code, or read with exactly knob off unavailable. */
struct edited_king {
	const char *file, *sed;
	const char *code; /* NULL: the read succeeds */
	enum knob_id off;
};

static void expect_edited_king(const struct edited_king *c, size_t i)
{
	char *d = checkout(), out[256];
	struct knob_values kv;
	struct kerr err = { { 0 }, { 0 } };
	int rc;

	if (tu_run(out, sizeof out, "cd %s && sed -i '%s' %s && ! git diff --quiet", d, c->sed, c->file))
		fail_msg("case %zu: the sed changed nothing", i);
	rc = knob_read(d, "tiny", &kv, &err);
	if (c->code) {
		if (rc != -1 || strcmp(err.code, c->code))
			fail_msg("case %zu: want %s, got %d %s: %s", i, c->code, rc, err.code, err.msg);
	} else {
		if (rc < 0)
			fail_msg("case %zu: %s: %s", i, err.code, err.msg);
		for (int k = 0; k < KNOB_COUNT; k++)
			if (kv.avail[k] != (k != (int)c->off))
				fail_msg("case %zu: knob %s is %savailable", i, knob_get((enum knob_id)k)->name,
					 kv.avail[k] ? "" : "un");
	}
	tu_rmdir(d);
}

/* A king's values are a stranger's: one outside its knob's bounds (or no
 * number) makes the knob unavailable, and a shape outside them is
 * miner.knob_range, before the cost model multiplies it. */
static void test_king_values_out_of_range(void **state)
{
	static const struct edited_king cases[] = {
		{ "config.c",
		  "s/{ \"tiny\", 64, 2, 2, 64, 4, 30, 5, 10, 3e-3f }/{ \"tiny\", 64, 2, 2, 64, 4, 30, 5, 10, 5.0f }/", NULL,
		  KNOB_LR },
		{ "config.c", "s/c->weight_decay = 0.1f;/c->weight_decay = 1e300;/", NULL, KNOB_WD },
		{ "config.c", "s/c->beta2 = 0.95f;/c->beta2 = NAN;/", NULL, KNOB_BETA2 },
		{ "config.c", "s/{ \"tiny\", 64, 2, 2, 64, 4, 30,/{ \"tiny\", 64, 2, 2, 64000000, 4, 30,/",
		  "miner.knob_range", KNOB_COUNT },
		{ "config.c", "s/{ \"tiny\", 64, 2, 2, 64, 4, 30,/{ \"tiny\", 64, 2, 2, 64, 4, 1e400,/", "miner.knob_range",
		  KNOB_COUNT },
		{ "config.c", "s/{ \"tiny\", 64, 2, 2, 64, 4, 30,/{ \"tiny\", 64, 2, 3, 64, 4, 30,/", "miner.knob_range",
		  KNOB_COUNT },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		expect_edited_king(&cases[i], i);
}

/* An anchor the miner would edit in one place and read in another makes
 * its knob unavailable (found by fuzz_knobs): two lr_decay forms, two
 * gpt_tensor_decays forms, a hyperparameter line whose value runs on past
 * its number or that is not the field's only assignment; a row field that
 * is not a number, or a second row of the scale's name, leaves no row. */
static void test_ambiguous_anchors(void **state)
{
	static const struct edited_king cases[] = {
		{ "gpt.c", "s|^float gpt_lr|/* \\treturn c->lr;\\n} */\\nfloat gpt_lr|", NULL, KNOB_LR_DECAY },
		{ "gpt.c",
		  "s|^int gpt_tensor_decays(int i)|int gpt_x(int i) {\\n\\treturn i == 4 \\|\\| i == 6 \\|\\| i == 10 "
		  "\\|\\| i == 12;\\n}\\nint gpt_tensor_decays(int i)|",
		  NULL, KNOB_WD_EMBED },
		{ "config.c", "s|c->beta2 = 0.95f;|c->beta2 = 0.95f + 0.0f;|", NULL, KNOB_BETA2 },
		{ "config.c", "s|{ \"tiny\", 64, 2, 2, 64, 4, 30, 5, 10,|{ \"tiny\", 64, 2, 2, 64, 4, 30, 5, 10 + 0,|",
		  "miner.knob_anchor", KNOB_COUNT },
		/* a second assignment, deeper, that would take effect over the
		 * one the miner edits */
		{ "config.c", "s|^\\tc->beta2 = 0.95f;|\\tc->beta2 = 0.95f;\\n\\tif (row->T > 0)\\n\\t\\tc->beta2 = 0.9f;|", NULL,
		  KNOB_BETA2 },
		/* a row value the config sets again after taking it */
		{ "config.c", "s|^\\tc->steps = row->steps;|\\tc->steps = row->steps;\\n\\tif (row->T > 0)\\n\\t\\tc->steps = 30;|",
		  NULL, KNOB_STEPS },
		/* an early return in gpt_lr before the tail the knob edits */
		{ "gpt.c", "s|^\\treturn c->lr;$|\\tif (step > 20)\\n\\t\\treturn 0.5f * c->lr;\\n\\treturn c->lr;|", NULL,
		  KNOB_LR_DECAY },
		/* and in gpt_tensor_decays before the line it edits */
		{ "gpt.c", "s|^\\t/\\* wte, wpe, qkvw, attprojw, fcw, fcprojw \\*/|\\tif (i > 12)\\n\\t\\treturn 0;|", NULL,
		  KNOB_WD_EMBED },
		/* a row of that name commented out before the real one */
		{ "config.c", "s|^\\t{ \"tiny\", 64,|\\t/* { \"tiny\", 32, 1, 1, 32, 2, 9, 1, 3, 1e-3f }, */\\n\\t{ \"tiny\", 64,|",
		  "miner.knob_anchor", KNOB_COUNT },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		expect_edited_king(&cases[i], i);
}

/* At the gpu-* scales a budget unit is a reference GPU's second: the king
 * itself fits the cap there, and would be thousands of times over it
 * counted in CPU seconds (which refused every point a GPU miner tried). */
static void test_gpu_scale_budget(void **state)
{
	char *d = checkout();
	struct knob_values kv;
	struct knob_point king = { 0 };
	struct kerr err = { { 0 }, { 0 } };

	for (int i = 0; i < 2; i++) {
		const char *scale = i ? "gpu-254m" : "gpu-125m";

		if (knob_read(d, scale, &kv, &err) < 0)
			fail_msg("%s: %s: %s", scale, err.code, err.msg);
		assert_true(kv.ref_gflops == calib_gflops(&calib_ref_gpu, calib_ref_gpu.ref_ms));
		if (knob_point_check(&king, &kv, &err) < 0)
			fail_msg("%s: the king itself: %s: %s", scale, err.code, err.msg);
		kv.ref_gflops = calib_gflops(&calib_ref_cpu, calib_ref_cpu.ref_ms);
		assert_int_equal(knob_point_check(&king, &kv, &err), -1);
		assert_string_equal(err.code, "miner.knob_budget");
	}
	read_king(d, &kv);
	assert_true(kv.ref_gflops == calib_gflops(&calib_ref_cpu, calib_ref_cpu.ref_ms));
	tu_rmdir(d);
}

/* The scale's FLOPs cap at the prover's tier (PROTOCOL 4: an unverified
 * proof's FLOPs count double): knob_read plans at the unverified tier, a
 * verified miner has the whole cap, and an alpha outside (0, 1] is taken
 * as unverified. The cap binds a point the king's own 1.5x leaves room
 * for once the scale's budget is made small. */
static void test_cap_at_the_tier(void **state)
{
	char *d = checkout();
	struct knob_values kv;
	struct knob_point king = { 0 };
	struct kerr err = { { 0 }, { 0 } };
	const double bad[] = { 0.0, -0.5, 1.5, NAN };
	double whole, f;

	(void)state;
	read_king(d, &kv);
	assert_true(kv.alpha == KNOB_ALPHA_UNVERIFIED);
	assert_true(knob_flops_cap(&kv) == kv.budget_units * kv.ref_gflops * 1e9 * 0.5);
	kv.alpha = 1.0;
	whole = knob_flops_cap(&kv);
	assert_true(whole == kv.budget_units * kv.ref_gflops * 1e9);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		kv.alpha = bad[i];
		assert_true(knob_flops_cap(&kv) == whole / 2);
	}
	/* the king's own point between half the cap and the whole of it */
	f = knob_point_flops(&king, &kv);
	kv.budget_units = 1.5 * f / (kv.ref_gflops * 1e9);
	kv.alpha = 1.0;
	assert_int_equal(knob_point_check(&king, &kv, &err), 0);
	kv.alpha = KNOB_ALPHA_UNVERIFIED;
	assert_int_equal(knob_point_check(&king, &kv, &err), -1);
	assert_string_equal(err.code, "miner.knob_budget");
	tu_rmdir(d);
}

/* The trials and proofs of a gpu-* scale need a GPU; the CPU scales do not
 * look. The GPU is a fake driver tree laid out as /proc/driver/nvidia. */
static void test_device_check(void **state)
{
	char *root = tu_mkdtemp();
	struct kerr err = { { 0 }, { 0 } };

	assert_int_equal(miner_device_check("tiny", root, &err), 0);
	assert_int_equal(miner_device_check("gpu-125m", root, &err), -1);
	assert_string_equal(err.code, "miner.no_gpu");
	assert_non_null(strstr(err.msg, "gpu-125m"));
	tu_put(root, "driver/nvidia/gpus/0000:00:06.0/information", "Model: \t NVIDIA H100 PCIe\n");
	tu_put(root, "driver/nvidia/version", "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.159.04  Tue Oct 28 2025\n");
	assert_int_equal(miner_device_check("gpu-254m", root, &err), 0);
	tu_rmdir(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_values),	  cmocka_unit_test(test_each_knob_diff),
		cmocka_unit_test(test_point_combined),	  cmocka_unit_test(test_bounds_and_budget),
		cmocka_unit_test(test_hostile_checkout),
		cmocka_unit_test(test_king_values_out_of_range),
		cmocka_unit_test(test_ambiguous_anchors),  cmocka_unit_test(test_gpu_scale_budget), cmocka_unit_test(test_cap_at_the_tier),
		cmocka_unit_test(test_device_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
