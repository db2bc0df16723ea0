/* symcheck.h: the symbol check, check 1's link-time half. Owns deciding,
 * from the object files a recipe build compiled, whether every name the
 * recipe's code reaches outside the recipe is one a recipe may reach: a
 * function of the libraries on the allowlist (docs/symcheck.md), never one
 * check 1's denylist refuses. It reads what the compiler resolved, after
 * every macro and every conditional, so a spelling the diff scan misread
 * cannot hide a call. Run by every recipe build (recipe_build.c) before
 * the link, which then keeps the recipe's own definitions local; reads
 * ELF with libelf and runs nothing. */
#ifndef KARPA_SYMCHECK_H
#define KARPA_SYMCHECK_H

#include <stddef.h>

#include "util/kerr.h"

/* How an object was compiled, which sets what it may reference. */
enum symcheck_kind {
	SYMCHECK_C,        /* a flat recipe file: C library, OpenMP, CBLAS */
	SYMCHECK_CUDA_C,   /* C in cuda/: the above, the CUDA runtime and cuBLASLt */
	SYMCHECK_CUDA_CXX, /* .cu in cuda/: the above, and the C++ ABI nvcc's code calls */
};

struct symcheck_obj {
	const char *path; /* the object file */
	const char *name; /* its source, as messages name it: "gpt.c", "cuda/gk_kernels.cu" */
	enum symcheck_kind kind;
};

/* Part of every runner's cache key: a runner built under an older list is
 * built and checked again. Change it with any list. */
#define SYMCHECK_POLICY "symcheck 2"

/* Objects and undefined names beyond these are not a recipe build. */
#define SYMCHECK_OBJECTS_MAX 1024
#define SYMCHECK_SYMBOLS_MAX (1u << 20)

/* Checks the recipe's objects. api: harness objects whose global
 * definitions the CUDA part may reference (those behind the harness
 * headers it may include), NULL-terminated, or NULL. Returns 0, or -1 with
 * recipe.bad_symbol naming the object and the name, or recipe.build_failed
 * when an object cannot be read as ELF. */
int symcheck_objects(const struct symcheck_obj *objs, size_t n, const char *const *api, struct kerr *err);

/* What the build prefixes to every recipe definition but the API's in the
 * merged recipe object: no library or harness name can match it. */
#define SYMCHECK_RENAME_PREFIX "recipe."

/* For the build's merged recipe object obj: writes to list_path, for
 * objcopy --redefine-syms, one "NAME recipe.NAME" line per definition that
 * is not local (global, weak, GNU unique, common) and not in keep
 * (NULL-terminated). */
int symcheck_rename_list(const char *obj, const char *const *keep, const char *list_path, struct kerr *err);

/* The merged object after renaming: every definition that is not local is
 * in keep or carries SYMCHECK_RENAME_PREFIX; recipe.bad_symbol otherwise. */
int symcheck_exports(const char *obj, const char *const *keep, struct kerr *err);

/* Whether name is on the allowlist for kind, before the denylist is
 * consulted: for tests and the docs' examples. */
int symcheck_allowed(const char *name, enum symcheck_kind kind);

#endif
