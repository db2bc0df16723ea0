/* reciperepo.h: the canonical recipe repository (PROTOCOL 1.1), driven
 * through the git CLI. Owns creating it from the project's recipe folder,
 * resolving king tags, exporting a king into a work folder, the patch path
 * policy, and applying a miner's patch. Never runs anything from the
 * repository; never writes outside the folders it is given. */
#ifndef KARPA_RECIPEREPO_H
#define KARPA_RECIPEREPO_H

#include <stddef.h>

#include "util/kerr.h"

#define RECIPEREPO_FIRST_TAG "recipe-v0.1.0"
#define RECIPEREPO_TAG_MAX 64
#define RECIPEREPO_COMMIT_HEX 41
#define RECIPEREPO_PATCH_BYTES_MAX (256u << 10) /* a recipe patch is code, not data */

/* git init at dir (refusing a non-empty dir), copy the recipe folder's
 * files (recipe_src: the project's recipe/), write README.md on how to build
 * and train it, commit, tag RECIPEREPO_FIRST_TAG. */
int reciperepo_init(const char *dir, const char *recipe_src, struct kerr *err);
/* Tag -> full commit id (recipe.unknown_tag). */
int reciperepo_resolve(const char *repo, const char *tag, char commit[RECIPEREPO_COMMIT_HEX], struct kerr *err);
/* The highest recipe-vX.Y.Z tag by version order (the king). */
int reciperepo_latest_tag(const char *repo, char tag[RECIPEREPO_TAG_MAX], struct kerr *err);
/* Exports the tree at tag into dest (created; must not exist). */
int reciperepo_export(const char *repo, const char *tag, const char *dest, struct kerr *err);
/* Path policy on a unified diff: every touched path (old and new) is a flat
 * file of the recipe (*.c, *.h, *.md at the repository root), no absolute
 * paths, no "..", no binary patches, no mode changes to executables, size
 * limit. patch.too_large, patch.bad_path (names the path), patch.parse. */
int reciperepo_patch_check(const char *patch, size_t len, struct kerr *err);
/* git apply --check then apply in dest; patch.conflict names the first
 * hunk that does not apply (file and line). */
int reciperepo_apply(const char *dest, const char *patch_path, struct kerr *err);

#endif
