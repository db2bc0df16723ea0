/* test_rundevice.c: which runner checks a proof (src/judge/rundevice.c).
 * A CPU proof runs on the CPU; a GPU proof only on a GPU of its model,
 * refused by name otherwise (no GPU, another model, a device object this
 * validator does not know, a model nobody can read); the gpu-* scales need
 * a GPU. The machine's GPU is a fake driver tree laid out as the NVIDIA
 * driver lays out /proc/driver/nvidia. */
#include "testutil.h"

#include <jansson.h>

#include "judge/rundevice.h"
#include "proof/device.h"
#include "sandbox/recipe_pipe.h"
#include "sandbox/sandbox.h"

static char *root;

static void have_gpu(const char *model_line)
{
	char info[256];

	snprintf(info, sizeof info, "%sBus Location: \t 0000:00:06.0\n", model_line);
	tu_put(root, "driver/nvidia/gpus/0000:00:06.0/information", info);
	tu_put(root, "driver/nvidia/version", "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.159.04  Tue Oct 28 2025\n");
}

/* A manifest whose environment.device is dev (stolen; NULL: a CPU proof). */
static json_t *manifest(json_t *dev)
{
	json_t *env = json_pack("{s:s}", "runner_isa", "x86_64");

	if (dev)
		json_object_set_new(env, "device", dev);
	return json_pack("{s:o}", "environment", env);
}

static json_t *cuda(const char *model, const char *driver)
{
	return json_pack("{s:s, s:s, s:s, s:i}", "kind", "cuda", "gpu", model, "driver", driver, "gpus", 1);
}

static void expect(json_t *m, const char *code)
{
	struct rundevice d;
	struct kerr err = { 0 };

	assert_int_equal(rundevice_for_manifest(m, root, &d, &err), code ? -1 : 0);
	if (code)
		assert_string_equal(err.code, code);
	json_decref(m);
}

static void cpu_proof_runs_on_the_cpu(void **st)
{
	struct rundevice d;
	struct kerr err;
	json_t *m = manifest(NULL);

	(void)st;
	have_gpu("Model: \t\t NVIDIA H100 80GB HBM3\n");
	assert_int_equal(rundevice_for_manifest(m, root, &d, &err), 0);
	assert_int_equal(d.cuda, 0);
	assert_string_equal(rundevice_name(&d), recipe_build_native_isa());
	json_decref(m);
}

static void gpu_proof_without_a_gpu(void **st)
{
	(void)st;
	expect(manifest(cuda("NVIDIA H100 80GB HBM3", "580.159.04")), "device.no_gpu");
}

static void gpu_proof_on_its_model(void **st)
{
	struct rundevice d;
	struct kerr err;
	json_t *m = manifest(cuda("NVIDIA H100 80GB HBM3", "575.51.03"));

	(void)st;
	have_gpu("Model: \t\t NVIDIA H100 80GB HBM3\n");
	assert_int_equal(rundevice_for_manifest(m, root, &d, &err), 0);
	assert_int_equal(d.cuda, 1);
	assert_string_equal(d.gpu, "NVIDIA H100 80GB HBM3");
	assert_string_equal(d.driver, "580.159.04");
	/* another driver release is shown, not refused */
	assert_string_equal(d.proof_driver, "575.51.03");
	assert_string_equal(rundevice_name(&d), "cuda");
	json_decref(m);
}

/* The proof's cuBLASLt table comes along for every child to pin; one
 * that does not parse is the proof's fault (device.bad_gemm). */
static void gpu_proof_brings_its_algorithms(void **st)
{
	static const char table[] =
		"karpa-gemm-1 cublaslt=130100\n"
		"fwd TN m=2304 n=16384 k=768 lda=768 ldb=768 ldd=2304 ab=bf16 d=bf16 epi=bias compute=f32 algo=66 "
		"tile=20 stages=35 splitk=1 red=0 swizzle=0 custom=0 inner=12 cluster=7\n";
	const struct gpuinfo h100 = { 1, "NVIDIA H100 80GB HBM3", "580.159.04" };
	struct rundevice d;
	struct kerr err;
	json_t *m = manifest(device_json(&h100, "release 13.0", table));

	(void)st;
	have_gpu("Model: \t\t NVIDIA H100 80GB HBM3\n");
	assert_int_equal(rundevice_for_manifest(m, root, &d, &err), 0);
	assert_non_null(d.gemm);
	assert_string_equal(d.gemm, table);
	rundevice_free(&d);
	assert_null(d.gemm);
	json_decref(m);
	/* none recorded: no pin */
	m = manifest(device_json(&h100, "release 13.0", ""));
	assert_int_equal(rundevice_for_manifest(m, root, &d, &err), 0);
	assert_null(d.gemm);
	rundevice_free(&d);
	json_decref(m);
	/* a forged line */
	m = manifest(device_json(&h100, "release 13.0", table));
	json_array_set_new(json_object_get(json_object_get(json_object_get(m, "environment"), "device"), "gemm"), 1,
			   json_string("fwd TN m=1 algo=66; rm -rf /"));
	assert_int_equal(rundevice_for_manifest(m, root, &d, &err), -1);
	assert_string_equal(err.code, "device.bad_gemm");
	rundevice_free(&d);
	json_decref(m);
}

static void gpu_proof_on_another_model(void **st)
{
	(void)st;
	have_gpu("Model: \t\t NVIDIA H100 80GB HBM3\n");
	expect(manifest(cuda("NVIDIA H200", "580.159.04")), "device.gpu_model");
	/* the PCIe card is another model than the SXM one */
	expect(manifest(cuda("NVIDIA H100 PCIe", "580.159.04")), "device.gpu_model");
}

static void unreadable_model_matches_nothing(void **st)
{
	(void)st;
	have_gpu("");
	expect(manifest(cuda("NVIDIA H100 80GB HBM3", "580.159.04")), "device.gpu_model");
	/* and a proof that says "unknown" is not a model */
	expect(manifest(cuda("unknown", "580.159.04")), "device.unknown");
}

static void unknown_devices_refused(void **st)
{
	char long_name[GPUINFO_TEXT_MAX + 8];

	(void)st;
	have_gpu("Model: \t\t NVIDIA H100 80GB HBM3\n");
	expect(manifest(json_pack("{s:s, s:s}", "kind", "rocm", "gpu", "NVIDIA H100 80GB HBM3")), "device.unknown");
	expect(manifest(json_pack("{s:s}", "kind", "cuda")), "device.unknown");
	expect(manifest(json_pack("{s:s, s:i}", "kind", "cuda", "gpu", 7)), "device.unknown");
	expect(manifest(json_string("cuda")), "device.unknown");
	expect(manifest(cuda("NVIDIA H100 80GB HBM3\n\x1b[2J", "580")), "device.unknown");
	expect(manifest(cuda("", "580")), "device.unknown");
	memset(long_name, 'H', sizeof long_name - 1);
	long_name[sizeof long_name - 1] = '\0';
	expect(manifest(cuda(long_name, "580")), "device.unknown");
}

/* A CPU proof at a GPU scale is refused before anything is built. */
static void gpu_scale_needs_a_gpu_proof(void **st)
{
	json_t *m = manifest(NULL);

	(void)st;
	have_gpu("Model: \t\t NVIDIA H100 80GB HBM3\n");
	json_object_set_new(m, "config", json_pack("{s:s}", "scale", "gpu-125m"));
	expect(m, "device.scale");
	m = manifest(NULL);
	json_object_set_new(m, "config", json_pack("{s:s}", "scale", "cpu"));
	expect(m, NULL);
}

static void scales(void **st)
{
	struct rundevice d;
	struct kerr err;

	(void)st;
	assert_int_equal(rundevice_for_scale("cpu", root, &d, &err), 0);
	assert_int_equal(d.cuda, 0);
	assert_int_equal(rundevice_for_scale("gpu-125m", root, &d, &err), -1);
	assert_string_equal(err.code, "device.no_gpu");
	have_gpu("Model: \t\t NVIDIA H100 80GB HBM3\n");
	assert_int_equal(rundevice_for_scale("gpu-254m", root, &d, &err), 0);
	assert_int_equal(d.cuda, 1);
	assert_string_equal(d.gpu, "NVIDIA H100 80GB HBM3");
	assert_int_equal(rundevice_for_scale("tiny", root, &d, &err), 0);
	assert_int_equal(d.cuda, 0);
}

/* The GPU runner is built from the recipe's cuda/ folder: a recipe
 * without one cannot be replayed on the GPU, and makes no sandbox. */
static void gpu_runner_needs_a_cuda_part(void **st)
{
	struct rundevice d = { .cuda = 1 };
	struct sandbox_config cfg;
	struct sandbox *sb = (struct sandbox *)&d;
	struct kerr err = { 0 };
	char dir[FS_PATH_MAX];

	(void)st;
	snprintf(dir, sizeof dir, "%s/recipe", root);
	tu_put(root, "recipe/recipe.c", "int unused;\n");
	sandbox_config_default(&cfg, 1);
	assert_int_equal(rundevice_sandbox(&d, dir, &cfg, &sb, NULL, &err), -1);
	assert_null(sb);
	if (strcmp(err.code, "recipe.no_cuda") && strcmp(err.code, "recipe.no_cuda_tools"))
		fail_msg("expected recipe.no_cuda(_tools), got %s: %s", err.code, err.msg);
}

/* The build's wall time is not taken from the deadline of what the recipe
 * runs: a judgment's deadline moves on by it, so a build that a busy
 * machine stretched (it has its own budget, in CPU time) cannot make the
 * recipe's calls run out of time. A fresh build (a byte of the recipe
 * changed: no cached runner) takes seconds. */
static void the_build_takes_nothing_from_the_deadline(void **st)
{
	const char *src = getenv("KARPA_SRC") ? getenv("KARPA_SRC") : ".";
	struct rundevice d = { 0 };
	struct sandbox_config cfg;
	struct sandbox *sb = NULL;
	struct kerr err = { 0 };
	char dir[FS_PATH_MAX];
	int64_t t0, took, moved;

	(void)st;
	snprintf(dir, sizeof dir, "%s/recipe", root);
	assert_int_equal(tu_run(NULL, 0, "cp -r %s/recipe %s && printf '/* %ld %lld */\\n' >> %s/gpt.c", src, root,
				(long)getpid(), (long long)recipe_pipe_now_ms(), dir),
			 0);
	sandbox_config_default(&cfg, 1);
	t0 = recipe_pipe_now_ms();
	cfg.deadline_ms = t0 + 1000;
	if (rundevice_sandbox(&d, dir, &cfg, &sb, NULL, &err) < 0)
		fail_msg("%s: %s", err.code, err.msg);
	took = recipe_pipe_now_ms() - t0;
	moved = cfg.deadline_ms - (t0 + 1000);
	print_message("   build and sandbox %lld ms, deadline moved on %lld ms\n", (long long)took, (long long)moved);
	assert_true(took > 200);
	assert_true(moved <= took && moved >= took / 2);
	sandbox_free(sb);
}

/* Each test gets its own machine: a fresh, empty /proc stand-in. */
static int setup(void **st)
{
	*st = root = tu_mkdtemp();
	return 0;
}

static int teardown(void **st)
{
	tu_rmdir(*st);
	root = NULL;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(cpu_proof_runs_on_the_cpu, setup, teardown),
		cmocka_unit_test_setup_teardown(gpu_proof_without_a_gpu, setup, teardown),
		cmocka_unit_test_setup_teardown(gpu_proof_on_its_model, setup, teardown),
		cmocka_unit_test_setup_teardown(gpu_proof_brings_its_algorithms, setup, teardown),
		cmocka_unit_test_setup_teardown(gpu_proof_on_another_model, setup, teardown),
		cmocka_unit_test_setup_teardown(unreadable_model_matches_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(unknown_devices_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(gpu_scale_needs_a_gpu_proof, setup, teardown),
		cmocka_unit_test_setup_teardown(scales, setup, teardown),
		cmocka_unit_test_setup_teardown(gpu_runner_needs_a_cuda_part, setup, teardown),
		cmocka_unit_test_setup_teardown(the_build_takes_nothing_from_the_deadline, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
