/* reciperepo.h: the canonical recipe repository (PROTOCOL 1.1), driven
 * through the git CLI. Owns the one pinned git runner (king.c uses it too),
 * creating the repository from the project's recipe folder, resolving king
 * tags, exporting a king into a work folder, the patch path policy, and
 * applying a miner's patch. Never runs anything from the repository; never
 * writes outside the folders it is given. */
#ifndef KARPA_RECIPEREPO_H
#define KARPA_RECIPEREPO_H

#include <stddef.h>

#include "util/kerr.h"

#define RECIPEREPO_FIRST_TAG "recipe-v0.1.0"
#define RECIPEREPO_TAG_MAX 64
#define RECIPEREPO_COMMIT_HEX 41
#define RECIPEREPO_PATCH_BYTES_MAX (256u << 10) /* a recipe patch is code, not data */
#define RECIPEREPO_PATCH_FILES_MAX 256 /* file sections in one patch */
/* A king's whole tree, every kind of file in it (notes, the CUDA part, the
 * Makefile): what the validator's judge lets a patch make (check 1,
 * reciperepo_dir_check) and what a miner checks out of a king
 * (reciperepo_tree_check), one bound for both, so that no king the network
 * crowns is one its miners refuse. Check 1 bounds sources tighter still
 * (DIFFSCAN_TREE_*); the rest is notes. */
#define RECIPEREPO_TREE_FILES_MAX 520
#define RECIPEREPO_TREE_BYTES_MAX (64u << 20)
/* The recipe's CUDA part (docs/recipe-repo.md): the one folder of the
 * repository, patched by proof like the flat files, under check 1's CUDA
 * rules (docs/diffscan.md). */
#define RECIPEREPO_CUDA_DIR "cuda"
#define RECIPEREPO_NAME_MAX 128 /* a recipe file name; longer is not a recipe file */
#define RECIPEREPO_SUBJECT_MAX 256
#define RECIPEREPO_BRANCH "main"
#define RECIPEREPO_FIRST_MESSAGE "recipe v0.1.0: the plain baseline"
/* The identity every commit and tag of the canonical repository carries. */
#define RECIPEREPO_IDENT_NAME "karpa"
#define RECIPEREPO_IDENT_EMAIL "karpa@localhost"
/* The author, committer and tagger instant of the first commit and tag
 * (2025-01-01T00:00:00Z, git's raw form). Fixed so that the same recipe
 * source always gives the same recipe-v0.1.0 commit and tag ids: every
 * node can create the canonical repository independently and agree. */
#define RECIPEREPO_FIRST_DATE "1735689600 +0000"
/* A git child that runs longer than this is stuck (a lock, a prompt). */
#define RECIPEREPO_GIT_TIMEOUT_MS 120000

/* One king tag, as listed by reciperepo_list_tags. */
struct reciperepo_tag {
	char tag[RECIPEREPO_TAG_MAX];
	char commit[RECIPEREPO_COMMIT_HEX];    /* the commit it names (peeled) */
	char subject[RECIPEREPO_SUBJECT_MAX];  /* that commit's subject line */
	unsigned version[3];                   /* X, Y, Z */
};

struct proc_result;

/* How one git call runs beyond its arguments; every field may be 0. */
struct reciperepo_git_opts {
	const char *work_tree;  /* --work-tree, or NULL */
	const char *index_file; /* GIT_INDEX_FILE, or NULL */
	const char *date;       /* author and committer date (git's raw form), or NULL for now */
	const void *in;         /* stdin bytes, or NULL */
	size_t in_len;
	size_t out_max;         /* stdout capture limit; 0: proc's default */
	const char *reason;     /* reason code for failures; NULL: recipe.git */
};

/* Runs git with args (NULL-terminated) in the repository or folder repo,
 * under a pinned configuration and environment: no user or system config,
 * no hooks, attributes, excludes or signing, fixed identity, C locale, and
 * git never searches above repo's parent. opts may be NULL. Returns 0 when
 * git ran (check res->exit_code; caller frees res with proc_result_free),
 * -1 when it could not run, timed out or was killed (res then holds
 * nothing to free). */
int reciperepo_git(const char *repo, const char *const *args, const struct reciperepo_git_opts *opts,
		   struct proc_result *res, struct kerr *err);

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
 * limit. patch.too_large, patch.bad_path (names the path), patch.parse.
 * Also patch.touches_harness (under src/ or a harness file name),
 * patch.bad_mode (symlink, executable, submodule), patch.binary,
 * patch.empty. Policy and parser: docs/recipe-repo.md. */
int reciperepo_patch_check(const char *patch, size_t len, struct kerr *err);

/* What a patch changes, by the runner that builds it: the flat sources
 * both runners build, recipe.c (the CPU runner's API), the CUDA part (the
 * GPU runner's). .md files are in none. */
#define RECIPEREPO_PART_SHARED 1u
#define RECIPEREPO_PART_CPU 2u
#define RECIPEREPO_PART_CUDA 4u
struct reciperepo_parts {
	unsigned mask;  /* RECIPEREPO_PART_* */
	char cpu[200];  /* the first path in each part, for messages */
	char cuda[200];
};
/* reciperepo_patch_check, and the parts the patch's paths fall in. */
int reciperepo_patch_parts(const char *patch, size_t len, struct reciperepo_parts *parts, struct kerr *err);
/* A patch proved at scale changes only what that scale's runner builds,
 * so that no code reaches a king without a proof that built it:
 * patch.untested_part names the first path outside it. */
int reciperepo_parts_fit(const struct reciperepo_parts *parts, const char *scale, struct kerr *err);
/* git apply --check then apply in dest; patch.conflict names the first
 * hunk that does not apply (file and line). */
int reciperepo_apply(const char *dest, const char *patch_path, struct kerr *err);
/* The same for patch bytes already read (what: their name in messages):
 * a judge applies the bytes it hashed and scanned, not a file read again. */
int reciperepo_apply_bytes(const char *dest, const char *patch, size_t len, const char *what, struct kerr *err);

/* Every recipe-vX.Y.Z tag in version order, oldest first; other tags and
 * tags not naming a commit are ignored. Caller frees *tags. recipe.no_tags
 * is not an error here: *n is 0. */
int reciperepo_list_tags(const char *repo, struct reciperepo_tag **tags, size_t *n, struct kerr *err);
/* Parses a canonical "recipe-vX.Y.Z" (decimal, no leading zeros, each part
 * below 10^9); 0 and fills v, else -1. */
int reciperepo_parse_tag(const char *tag, unsigned v[3]);
/* The path policy for one repository-relative name (what a patch may
 * touch): patch.touches_harness or patch.bad_path, naming the path. */
int reciperepo_path_check(const char *path, struct kerr *err);
/* Whether commit's tree in repo is a recipe a miner may build: at most
 * RECIPEREPO_TREE_FILES_MAX plain files (mode 100644: no symlink,
 * executable, submodule) at paths reciperepo_path_check allows, or the
 * Makefile reciperepo_init copies, RECIPEREPO_TREE_BYTES_MAX in all. A king
 * comes from a validator, which may be hostile: a file named @o.c is read
 * by the compiler as options, a symlink makes a header of any file the
 * miner can read, and a blob of zeros a few KiB in the bundle fills the
 * disk once checked out; this reads the tree's listing, not its files.
 * recipe.bad_tree names the first entry that is not. */
int reciperepo_tree_check(const char *repo, const char *commit, struct kerr *err);
/* A patched recipe folder (the judge's, after reciperepo_apply) within
 * RECIPEREPO_TREE_FILES_MAX regular files and RECIPEREPO_TREE_BYTES_MAX,
 * its CUDA part's included: patch.tree_too_large, naming the count. */
int reciperepo_dir_check(const char *dir, struct kerr *err);

#endif
