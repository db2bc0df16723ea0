/* device.h: a GPU proof's manifest object environment.device (PROTOCOL
 * 4.2): the GPU's model and driver, the toolkit that built the runner, and
 * the matrix-product algorithms the runner ran with; and the one way a
 * replay reads those algorithms back to pin them (docs/gpu.md). CPU proofs
 * carry no device object. Never trusts a manifest: what it reads back is
 * parsed as strictly as the runner's own report. */
#ifndef KARPA_DEVICE_H
#define KARPA_DEVICE_H

#include <jansson.h>

#include "harness/gpuinfo.h"
#include "sandbox/recipe_api.h"
#include "util/kerr.h"

/* {"kind": "cuda", "gpu", "driver", "gpus", "nvcc"} and, when gemm is not
 * "", "gemm": the table's lines (canonical gemmtab text, each line without
 * its newline, the header first). NULL when out of memory. */
json_t *device_json(const struct gpuinfo *g, const char *nvcc, const char *gemm);

/* The table to pin when replaying the proof whose manifest this is, as
 * canonical text in text (KR_GEMM_MAX bytes), for kr_env.gemm: "" when the
 * manifest has no environment.device or its device has no gemm (a CPU
 * proof, or a GPU proof made before tables were recorded: the replay picks
 * algorithms as the proof did, by the heuristic). device.bad_gemm when
 * gemm is there but not an array of strings that join into a canonical
 * table; text is then "". */
int device_gemm_pin(const json_t *manifest, char text[KR_GEMM_MAX], struct kerr *err);

#endif
