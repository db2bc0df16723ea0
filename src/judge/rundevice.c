/* rundevice.c: which runner and sandbox profile check a proof
 * (rundevice.h; docs/gpu.md, "The validator at GPU scales"). */
#include "judge/rundevice.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/scale.h"
#include "proof/device.h"
#include "sandbox/recipe_pipe.h"

/* The manifest's text is the miner's: a model name is compared whole and
 * shown only when it is plain printable text of a sane length. */
static int plain_text(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= GPUINFO_TEXT_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	return 1;
}

/* why: what needs the GPU; todo: where it can be done instead. */
static int read_gpu(const char *proc_root, struct rundevice *d, const char *why, const char *todo, struct kerr *err)
{
	struct gpuinfo g;

	if (gpuinfo_read(proc_root, &g, err) < 0)
		return -1;
	if (g.count == 0)
		return kerr_set(err, "device.no_gpu",
				"%s, and this validator has no NVIDIA GPU (no driver in /proc/driver/nvidia): %s", why,
				todo);
	/* two GPUs whose model nobody can read are not known to be alike */
	if (!strcmp(g.model, GPUINFO_UNKNOWN))
		return kerr_set(err, "device.gpu_model",
				"%s, and this validator's GPU model cannot be read from its driver "
				"(/proc/driver/nvidia/gpus/*/information has no Model line): check the driver",
				why);
	d->cuda = 1;
	snprintf(d->gpu, sizeof d->gpu, "%s", g.model);
	snprintf(d->driver, sizeof d->driver, "%s", g.driver);
	return 0;
}

int rundevice_for_manifest(const json_t *manifest, const char *proc_root, struct rundevice *d, struct kerr *err)
{
	const json_t *dev = json_object_get(json_object_get(manifest, "environment"), "device");
	const char *kind, *model, *driver, *scale;
	char why[2 * GPUINFO_TEXT_MAX];

	memset(d, 0, sizeof *d);
	/* the gpu-* scales are proved on a GPU (prove.device): a CPU proof
	 * there would only buy hours of replaying GPT-2 on the CPU */
	scale = json_string_value(json_object_get(json_object_get(manifest, "config"), "scale"));
	if (!dev && scale_on_gpu(scale))
		return kerr_set(err, "device.scale",
				"the proof is at the %.32s scale and says no GPU: the gpu-* scales are proved with "
				"--device cuda and replayed on a GPU of the proof's model",
				scale);
	if (!dev)
		return 0;
	kind = json_string_value(json_object_get(dev, "kind"));
	model = json_string_value(json_object_get(dev, "gpu"));
	driver = json_string_value(json_object_get(dev, "driver"));
	if (!json_is_object(dev) || !kind || strcmp(kind, "cuda") || !model || !plain_text(model) ||
	    !strcmp(model, GPUINFO_UNKNOWN))
		return kerr_set(err, "device.unknown",
				"the manifest's environment.device is not a CUDA GPU with a model name: this "
				"validator replays CPU proofs and CUDA proofs only");
	snprintf(why, sizeof why, "the proof ran on a GPU (%s)", model);
	if (read_gpu(proc_root, d, why, "it is judged by a validator with one of the same model", err) < 0)
		return -1;
	/* The model decides the bits: the recipe's kernels are built for it and
	 * cuBLASLt picks per model. A driver release does not enter the bits of
	 * code built ahead of time for the model, so it is shown, not required. */
	if (strcmp(model, d->gpu))
		return kerr_set(err, "device.gpu_model",
				"the proof ran on a %s, this validator has a %s: a GPU proof is replayed bit for bit "
				"only on its own model, by a validator that has one",
				model, d->gpu);
	snprintf(d->proof_driver, sizeof d->proof_driver, "%s", driver && plain_text(driver) ? driver : "");
	/* the algorithms the proof ran with, so the replay runs the same ones
	 * whatever this validator's cuBLASLt would pick (docs/gpu.md) */
	if (!(d->gemm = malloc(KR_GEMM_MAX)))
		return kerr_set(err, "device.nomem", "out of memory for the proof's algorithm table");
	if (device_gemm_pin(manifest, d->gemm, err) < 0)
		return -1;
	if (!d->gemm[0]) {
		free(d->gemm);
		d->gemm = NULL;
	}
	return 0;
}

int rundevice_for_scale(const char *scale, const char *proc_root, struct rundevice *d, struct kerr *err)
{
	char why[96];

	memset(d, 0, sizeof *d);
	if (!scale_on_gpu(scale))
		return 0;
	snprintf(why, sizeof why, "the %.32s scale trains on a GPU", scale);
	return read_gpu(proc_root, d, why, "run it on a machine with an NVIDIA GPU", err);
}

int rundevice_sandbox(const struct rundevice *d, const char *recipe_dir, struct sandbox_config *cfg,
		      struct sandbox **sb, struct recipe_build_info *bi, struct kerr *err)
{
	struct recipe_build_info own;
	int64_t t0 = recipe_pipe_now_ms();

	if (!bi)
		bi = &own;
	*sb = NULL;
	if ((d->cuda ? recipe_build_cuda(recipe_dir, bi, err) : recipe_build(recipe_dir, bi, err)) < 0)
		return -1;
	/* the build has budgets of its own, in CPU time (recipe_build.h): its
	 * wall time, which a busy machine stretches, is not the recipe's to
	 * pay from the deadline of what it runs */
	if (cfg->deadline_ms > 0)
		cfg->deadline_ms += recipe_pipe_now_ms() - t0;
	cfg->gpu = d->cuda;
	return sandbox_new(sb, cfg, bi->runner, err);
}

const char *rundevice_name(const struct rundevice *d)
{
	return d->cuda ? "cuda" : recipe_build_native_isa();
}

void rundevice_free(struct rundevice *d)
{
	free(d->gemm);
	d->gemm = NULL;
}
