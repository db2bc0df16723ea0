/* recipe_build.h: turning a recipe folder into a `karpa-recipe` runner
 * (fixed harness, PROTOCOL 4.2). Owns the pinned toolchain flags, the one
 * list of harness files compiled into every runner, the build cache (keyed
 * by the SHA-256 of every source byte, the harness files, the compiler's
 * version and the compile and link flags), the object cache under it (one
 * object per .c file, reused across builds while the file, every header
 * and the toolchain are unchanged) and the record of what built it.
 * Compiles without a shell; never runs what it built. */
#ifndef KARPA_RECIPE_BUILD_H
#define KARPA_RECIPE_BUILD_H

#include <stddef.h>

#include "util/fsutil.h"
#include "util/hash.h"
#include "util/kerr.h"

#define RECIPE_SOURCES_MAX 256
#define RECIPE_SOURCE_BYTES_MAX (4u << 20)

struct recipe_build_info {
	char runner[FS_PATH_MAX];        /* the built executable */
	char source_digest[HASH_HEX_BYTES]; /* SHA-256 over (name, bytes) of every source, sorted */
	char compiler[256];              /* first line of `cc --version` */
	char flags[512];                 /* the pinned flags, verbatim */
	int cached;                      /* 1 when an earlier identical build was reused */
	int objects_reused;              /* else: objects taken from the object cache, not compiled */
};

/* Builds the .c files of recipe_dir (and its headers) with the runner into the cache.
 * Reason codes: recipe.no_sources, recipe.build_failed (with the compiler's
 * first error line), recipe.too_large, fs.*. */
int recipe_build(const char *recipe_dir, struct recipe_build_info *info, struct kerr *err);

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
