/* recipe_build.h: turning a recipe folder into a `karpa-recipe` runner
 * (fixed harness, PROTOCOL 4.2). Owns the pinned toolchain flags, the one
 * list of harness files compiled into every runner, the build cache (keyed
 * by the SHA-256 of every source byte, the harness files, the compiler's
 * version and the compile and link flags), the object cache under it (one
 * object per .c file, reused across builds while the file, every header
 * and the toolchain are unchanged) and the record of what built it; the
 * ISAs a runner can be built for, and the emulator that starts a runner
 * built for another ISA than this machine's (docs/determinism.md); and
 * the harness's GPU calibration program, built by the same machinery.
 * Compiles without a shell; never runs what it built. */
#ifndef KARPA_RECIPE_BUILD_H
#define KARPA_RECIPE_BUILD_H

#include <stddef.h>

#include "sandbox/recipe_pipe.h"
#include "util/fsutil.h"
#include "util/hash.h"
#include "util/kerr.h"

/* The CPU runner's implementation of the recipe API: the one flat file the
 * GPU runner leaves out (docs/gpu.md, "A recipe's CUDA part"). */
#define RECIPE_BUILD_CPU_API_FILE "recipe.c"

/* The recipe API's functions (recipe_api.h), NULL-terminated: in a runner
 * every other definition of the recipe's is local to it. */
extern const char *const recipe_build_api_symbols[];

#ifdef KARPA_TEST_HOOKS
/* Test builds only (there is no such switch in a release build): leaves
 * the symbol check (judge/symcheck.h) out of later builds when on, so that
 * the sandbox's tests can build the hostile recipes it would refuse and
 * show that the sandbox holds on its own. Such runners have cache keys of
 * their own. */
void recipe_build_test_skip_symcheck(int on);
/* The largest file a compile or link may write (0: the release value,
 * 1 GiB), so that a test shows the cap without writing a gigabyte. */
void recipe_build_test_fsize(uint64_t bytes);
/* What a whole build may take (0: the release values, 1 GiB of recipe
 * objects, an hour of wall clock, 20 minutes of compiler CPU time), so
 * that a test shows each cap. */
void recipe_build_test_budget(uint64_t objs_bytes, long wall_ms, long cpu_ms);
#endif

#define RECIPE_SOURCES_MAX 256
#define RECIPE_SOURCE_BYTES_MAX (4u << 20)

#define RECIPE_ISA_MAX 16
#define RECIPE_LAUNCHER_WORDS (RECIPE_PIPE_LAUNCH_MAX + 1) /* recipe_build_launcher's words and NULL */

struct recipe_build_info {
	char runner[FS_PATH_MAX];        /* the built executable */
	char isa[RECIPE_ISA_MAX];        /* what it was built for: "x86_64", "aarch64" */
	char emulator[FS_PATH_MAX];      /* the user-mode emulator that runs it; "" when native */
	char emulator_version[128];      /* the emulator's first line of --version */
	char source_digest[HASH_HEX_BYTES]; /* SHA-256 over (name, bytes) of every source, sorted */
	char compiler[256];              /* first line of `cc --version` */
	char flags[512];                 /* the pinned flags, verbatim */
	int cuda;                        /* 1: a GPU runner, built with the recipe's CUDA part */
	char nvcc[128];                  /* nvcc's release line, for a GPU runner */
	int cached;                      /* 1 when an earlier identical build was reused */
	int objects_reused;              /* else: objects taken from the object cache, not compiled */
	int pin;                         /* the runner's folder pinned (build_cache_pin) while this
					    process may start it; recipe_build_release lets it go */
};

/* Lets info's pin on its runner go (a process that builds runner after
 * runner, the miner, calls it once done with each; any other lets its
 * exit do it). Safe on an info whose build failed. */
void recipe_build_release(struct recipe_build_info *info);

/* Builds the .c files of recipe_dir (and its headers) with the runner into
 * the cache, for this machine's ISA: what the judge, the validator and the
 * noise floor run. Reason codes: recipe.no_sources, recipe.build_failed
 * (with the compiler's first error line), recipe.too_large, fs.*. */
int recipe_build(const char *recipe_dir, struct recipe_build_info *info, struct kerr *err);

/* The same for isa (NULL or recipe_build_native_isa(): the native build).
 * "aarch64" on an x86-64 machine cross-compiles with aarch64-linux-gnu-gcc
 * and the portable flags (the Makefile's RECIPE_FLAGS_AARCH64) against the
 * arm64 libraries, into its own cache entry (the ISA is in the key), and
 * fills info->emulator. Only a prover asks for another ISA: its proof is
 * then made on that ISA in everything the recipe computes. Extra codes:
 * recipe.bad_isa, recipe.no_cross_tools. */
int recipe_build_isa(const char *recipe_dir, const char *isa, struct recipe_build_info *info, struct kerr *err);

/* A GPU runner (`karpa-recipe-cuda`) from a recipe with a CUDA part: the
 * top-level .c files but recipe.c (the CPU implementation of the recipe
 * API), and every .c and .cu file of its cuda/ folder (the GPU one), built
 * with the pinned host and nvcc flags and linked against cuBLASLt and the
 * static CUDA runtime (docs/gpu.md, "A recipe's CUDA part"). Cached like
 * the CPU build, under its own key. Extra codes: recipe.no_cuda (no cuda/
 * folder), recipe.no_cuda_tools (karpa was built without nvcc). */
int recipe_build_cuda(const char *recipe_dir, struct recipe_build_info *info, struct kerr *err);

/* The harness's GPU calibration program (`karpa-gpucalib`, gpucalib.h)
 * from its source in the source tree, src/harness/gpucalib_tool.cu: built
 * like a GPU runner's CUDA part (the pinned nvcc flags, linked against
 * cuBLASLt and the static CUDA runtime) into the same cache, under a key
 * of its own (its source, the calibration constants' header, the flags
 * and both compilers' identities). info->runner is the program; no
 * recipe enters it. Codes: recipe.no_cuda_tools (karpa was built without
 * nvcc), recipe.build_failed, fs.*. */
int recipe_build_gpucalib(struct recipe_build_info *info, struct kerr *err);

/* The ISA this karpa was built for ("x86_64", "aarch64"). */
const char *recipe_build_native_isa(void);

/* The words that start info's runner before its path (for
 * recipe_host_pipe_launched), NULL-terminated: none for a native runner;
 * for another ISA its emulator with "-L /", so the guest's loader and
 * libraries are the machine's packages for that ISA. They point into info
 * and static strings. */
void recipe_build_launcher(const struct recipe_build_info *info, const char *words[RECIPE_LAUNCHER_WORDS]);

/* The runner of the project's own recipe: $KARPA_RUNNER when set (the
 * sanitizer build's tests use the release runner), else the one installed
 * beside the karpa binary. recipe.no_runner when it is not executable. */
int recipe_default_runner(char *out, size_t cap, struct kerr *err);

/* The project's source tree (harness headers and the runner's main). */
const char *recipe_build_src_dir(void);

/* The harness files compiled into every runner, relative to the source
 * tree, NULL-terminated. A recipe file with one of their base names would
 * shadow them, so the patch check refuses those names too. */
extern const char *const recipe_build_harness_files[];

/* 1 when name (n bytes, no '/') is the base name of a harness file. */
int recipe_build_is_harness_name(const char *name, size_t n);

#endif
