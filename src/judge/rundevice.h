/* rundevice.h: where a validator runs a recipe to check a proof or to
 * measure a king. A CPU proof is replayed by the recipe's CPU runner in the
 * sandbox's CPU profile. A proof made on a GPU (the manifest's
 * environment.device) is replayed, bit for bit, only on a GPU of the same
 * model: by the recipe's CUDA part (recipe_build_cuda) in the sandbox's GPU
 * profile; the gpu-* scales are measured the same way (docs/gpu.md, "The
 * validator at GPU scales"). Owns that choice, its refusals and building the
 * runner with its sandbox; the judge, disputes and the noise floor share it. */
#ifndef KARPA_RUNDEVICE_H
#define KARPA_RUNDEVICE_H

#include <jansson.h>

#include "harness/gpuinfo.h"
#include "sandbox/recipe_build.h"
#include "sandbox/sandbox.h"
#include "util/kerr.h"

struct rundevice {
	int cuda;                          /* 1: the CUDA runner in the GPU profile */
	char gpu[GPUINFO_TEXT_MAX];        /* this validator's GPU model (cuda) */
	char driver[GPUINFO_TEXT_MAX];     /* and its driver */
	char proof_driver[GPUINFO_TEXT_MAX]; /* the proof's driver ("" if none): shown, not required */
	/* The proof's cuBLASLt algorithms to pin in every child that replays
	 * it (kr_env.gemm; NULL: none recorded, or not a GPU proof). Owned:
	 * rundevice_free. */
	char *gemm;
};

/* From a manifest (its environment.device; none: a CPU proof), against
 * this machine's GPU as gpuinfo_read(proc_root) finds it, with the proof's
 * algorithm table to pin (device_gemm_pin). Codes: device.unknown (a
 * device object this validator cannot replay on: a kind other than
 * "cuda", no model), device.no_gpu (a GPU proof, and this validator has no
 * NVIDIA GPU), device.gpu_model (another model: its kernels and cuBLASLt's
 * would round differently), device.scale (a gpu-* scale proof without a
 * device), device.bad_gemm, device.nomem, gpu.info. d
 * needs rundevice_free whatever the result. */
int rundevice_for_manifest(const json_t *manifest, const char *proc_root, struct rundevice *d, struct kerr *err);

/* For a king measured at a scale (the noise floor): the gpu-* scales run
 * on this machine's GPU (device.no_gpu without one), the others on the CPU. */
int rundevice_for_scale(const char *scale, const char *proc_root, struct rundevice *d, struct kerr *err);

/* Builds recipe_dir's runner for d (recipe_build or recipe_build_cuda, with
 * their codes) and makes its sandbox from cfg, whose gpu flag this sets and
 * whose deadline (when set) it moves on by the build's wall time: a build
 * stretched by a busy machine takes nothing from what the recipe may run.
 * bi may be NULL. */
int rundevice_sandbox(const struct rundevice *d, const char *recipe_dir, struct sandbox_config *cfg,
		      struct sandbox **sb, struct recipe_build_info *bi, struct kerr *err);

/* What the report shows as the replay's machine: "cuda" or the CPU's ISA. */
const char *rundevice_name(const struct rundevice *d);

void rundevice_free(struct rundevice *d);

#endif
