/* gpucalib.h: the GPU calibration (fixed harness, PROTOCOL 4.3;
 * docs/calibration.md). Owns running the harness's calibration program
 * (src/harness/gpucalib_tool.cu: a bf16 GEMM through cuBLASLt, timed with
 * CUDA events, one line of JSON on stdout), reading that line with bounds
 * on every figure, and the record of one measurement as a proof keeps it
 * in calibration.json and the judge reads it back. The program is a child
 * process: karpa itself never links CUDA. Building it is
 * recipe_build_gpucalib's (sandbox/recipe_build.h); the constants and the
 * budget rule are calibrate.h's. */
#ifndef KARPA_GPUCALIB_H
#define KARPA_GPUCALIB_H

#include <stddef.h>

#include "harness/calibrate.h"
#include "util/kerr.h"

struct json_t;

/* A device name: cudaDeviceProp's is at most 255 bytes; real ones are
 * about 30 ("NVIDIA H100 80GB HBM3"). */
#define GPUCALIB_NAME_MAX 128
/* The program's whole stdout: one line of about 200 bytes. */
#define GPUCALIB_LINE_MAX 1024
/* Sanity bounds on one product's time, whatever the GPU: no chip does
 * 2 x 8192^3 FLOPs faster than at GPUCALIB_TFLOPS_MAX (20 PFLOP/s, about
 * 25 times an H100's dense bf16 peak), and one taking longer than
 * GPUCALIB_MS_MAX (a minute) is no GPU a proof could train on. */
#define GPUCALIB_TFLOPS_MAX 20000.0
#define GPUCALIB_MS_MAX 60000.0
/* The program starts CUDA, fills 256 MiB and runs 61 products of about
 * 1.4 ms: seconds at most; this bounds a hung driver. */
#define GPUCALIB_TIMEOUT_MS 120000

/* One measurement, as the program prints it (n and repeats are the
 * harness's, checked on reading and not kept). */
struct gpucalib {
	char gpu[GPUCALIB_NAME_MAX]; /* cudaGetDeviceProperties' name of the GPU it ran on */
	double median_ms, min_ms, max_ms;
	double tflops; /* 2 n^3 / median */
};

/* Runs the program at tool (no arguments, no shell) and reads its line.
 * Codes: gpucalib.failed (it exited other than 0, was killed or ran past
 * GPUCALIB_TIMEOUT_MS; the message carries its first line on stderr),
 * gpucalib.bad_output (gpucalib_parse), proc.*. */
int gpucalib_run(const char *tool, struct gpucalib *c, struct kerr *err);

/* Reads the program's stdout (len bytes, not necessarily NUL-terminated):
 * exactly one line (a final newline allowed) of at most GPUCALIB_LINE_MAX
 * bytes, a JSON object with exactly the keys n, repeats, median_ms, min_ms,
 * max_ms, tflops and gpu, n and repeats the harness's, the figures passing
 * gpucalib_check. Anything else is gpucalib.bad_output. */
int gpucalib_parse(const char *out, size_t len, struct gpucalib *c, struct kerr *err);

/* The figures bounded and consistent: the name 1 to GPUCALIB_NAME_MAX - 1
 * printable ASCII bytes; 0 < min <= median <= max <= GPUCALIB_MS_MAX, all
 * finite; tflops = 2 n^3 / median to 1e-9 relative and at most
 * GPUCALIB_TFLOPS_MAX. gpucalib.bad_output otherwise. */
int gpucalib_check(const struct gpucalib *c, struct kerr *err);

/* The record calibration.json keeps: the program's line as parsed, n and
 * repeats included, so the judge reads it as prove did. NULL: no memory. */
struct json_t *gpucalib_json(const struct gpucalib *c);
/* Reads such a record (the same keys and rules as gpucalib_parse). */
int gpucalib_from_json(struct json_t *o, struct gpucalib *c, struct kerr *err);

#endif
