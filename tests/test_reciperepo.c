/* test_reciperepo.c: the canonical recipe repository against real git
 * repositories in temporary folders: creation and its determinism, king
 * tags in version order, exports, the patch path policy and applying. */
#include "fixtures.h"

#include <dirent.h>
#include <sys/stat.h>

#include "proof/reciperepo.h"
#include "util/fsutil.h"

#define GPT_C                                                                                                \
	"/* gpt.c: a stand-in recipe file */\n"                                                              \
	"int a = 1;\n"                                                                                       \
	"int b = 2;\n"                                                                                       \
	"int c = 3;\n"                                                                                       \
	"int d = 4;\n"                                                                                       \
	"int e = 5;\n"

static char *slurp(const char *dir, const char *name)
{
	char p[FS_PATH_MAX], *buf = NULL;
	size_t len;
	struct kerr err = { 0 };

	snprintf(p, sizeof p, "%s/%s", dir, name);
	assert_int_equal(fs_read_all(p, 1 << 20, &buf, &len, &err), 0);
	return buf;
}

/* A fake recipe folder: what init copies and what it leaves behind. Of
 * the CUDA part (cuda/), its sources and headers, not its other files or
 * folders; of other folders, nothing. */
static void fake_recipe(const char *src, const char *gpt)
{
	static const char *const dirs[] = { "sub", "cuda", "cuda/deeper" };
	static const char *const files[][2] = {
		{ "gpt.h", "int gpt_steps(void);\n" },	 { "NOTES.md", "# notes\n" },
		{ "scratch.txt", "not a recipe file\n" },	 { "sub/deep.c", "int deep;\n" },
		{ "cuda/k.cu", "__global__ void k(void) {}\n" }, { "cuda/k.cuh", "#pragma once\n" },
		{ "cuda/run.c", "int run;\n" },		 { "cuda/notes.txt", "not a recipe file\n" },
		{ "cuda/.hidden.cu", "int hidden;\n" },	 { "cuda/deeper/x.cu", "int x;\n" },
	};
	char path[FS_PATH_MAX];

	tu_put(src, "gpt.c", gpt);
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", src, dirs[i]);
		assert_int_equal(mkdir(path, 0755), 0);
	}
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
		tu_put(src, files[i][0], files[i][1]);
}

struct fixture {
	char *tmp;
	char src[FS_PATH_MAX], repo[FS_PATH_MAX];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	struct kerr err = { 0 };

	f->tmp = tu_mkdtemp();
	snprintf(f->src, sizeof f->src, "%s/src", f->tmp);
	snprintf(f->repo, sizeof f->repo, "%s/repo", f->tmp);
	assert_int_equal(mkdir(f->src, 0755), 0);
	fake_recipe(f->src, GPT_C);
	if (reciperepo_init(f->repo, f->src, &err) < 0)
		fail_msg("init: %s: %s", err.code, err.msg);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	tu_rmdir(f->tmp);
	free(f);
	return 0;
}

/* Sorted names of the entries of dir, joined by spaces. */
static void list_dir(const char *dir, char *out, size_t cap)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, alphasort);

	assert_true(n >= 0);
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (strcmp(ents[i]->d_name, ".") && strcmp(ents[i]->d_name, "..")) {
			strncat(out, ents[i]->d_name, cap - strlen(out) - 1);
			strncat(out, " ", cap - strlen(out) - 1);
		}
		free(ents[i]);
	}
	free(ents);
}

static void expect(int rc, const struct kerr *err, const char *code, const char *in_msg)
{
	assert_int_equal(rc, -1);
	if (strcmp(err->code, code))
		fail_msg("expected %s, got %s: %s", code, err->code, err->msg);
	if (in_msg && !strstr(err->msg, in_msg))
		fail_msg("message '%s' does not name '%s'", err->msg, in_msg);
}

static void init_creates_the_first_tag(void **state)
{
	struct fixture *f = *state;
	struct kerr err = { 0 };
	char commit[RECIPEREPO_COMMIT_HEX], tag[RECIPEREPO_TAG_MAX], out[4096];
	struct reciperepo_tag *tags;
	size_t n;

	assert_int_equal(reciperepo_resolve(f->repo, RECIPEREPO_FIRST_TAG, commit, &err), 0);
	assert_int_equal(strlen(commit), 40);
	assert_int_equal(reciperepo_latest_tag(f->repo, tag, &err), 0);
	assert_string_equal(tag, "recipe-v0.1.0");
	assert_int_equal(reciperepo_list_tags(f->repo, &tags, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(tags[0].commit, commit);
	assert_string_equal(tags[0].subject, RECIPEREPO_FIRST_MESSAGE);
	free(tags);
	/* annotated, on branch main, and holding exactly the recipe files */
	assert_int_equal(tu_run(out, sizeof out, "git -C '%s' cat-file -t recipe-v0.1.0", f->repo), 0);
	assert_string_equal(out, "tag\n");
	assert_int_equal(tu_run(out, sizeof out, "git -C '%s' symbolic-ref HEAD", f->repo), 0);
	assert_string_equal(out, "refs/heads/main\n");
	assert_int_equal(tu_run(out, sizeof out, "git -C '%s' ls-tree --name-only recipe-v0.1.0", f->repo), 0);
	assert_string_equal(out, "NOTES.md\nREADME.md\ncuda\ngpt.c\ngpt.h\n");
	assert_int_equal(tu_run(out, sizeof out, "git -C '%s' ls-tree -r --name-only recipe-v0.1.0 cuda", f->repo), 0);
	assert_string_equal(out, "cuda/k.cu\ncuda/k.cuh\ncuda/run.c\n");
	char *readme = slurp(f->repo, "README.md");
	assert_non_null(strstr(readme, "karpa train --recipe DIR --scale cpu"));
	assert_non_null(strstr(readme, "src/sandbox/recipe_api.h"));
	free(readme);
	/* nothing left behind by staging */
	list_dir(f->tmp, out, sizeof out);
	assert_string_equal(out, "repo src ");
}

static void same_recipe_gives_the_same_commit(void **state)
{
	struct fixture *f = *state;
	struct kerr err = { 0 };
	char again[FS_PATH_MAX], other[FS_PATH_MAX], src2[FS_PATH_MAX];
	char c1[RECIPEREPO_COMMIT_HEX], c2[RECIPEREPO_COMMIT_HEX], c3[RECIPEREPO_COMMIT_HEX];
	char t1[128], t2[128];

	snprintf(again, sizeof again, "%s/again", f->tmp);
	sleep(1); /* a clock-dated commit would now differ */
	assert_int_equal(reciperepo_init(again, f->src, &err), 0);
	assert_int_equal(reciperepo_resolve(f->repo, RECIPEREPO_FIRST_TAG, c1, &err), 0);
	assert_int_equal(reciperepo_resolve(again, RECIPEREPO_FIRST_TAG, c2, &err), 0);
	assert_string_equal(c1, c2);
	/* the annotated tag object too */
	assert_int_equal(tu_run(t1, sizeof t1, "git -C '%s' rev-parse recipe-v0.1.0", f->repo), 0);
	assert_int_equal(tu_run(t2, sizeof t2, "git -C '%s' rev-parse recipe-v0.1.0", again), 0);
	assert_string_equal(t1, t2);
	/* one byte of recipe changes it */
	snprintf(src2, sizeof src2, "%s/src2", f->tmp);
	snprintf(other, sizeof other, "%s/other", f->tmp);
	assert_int_equal(mkdir(src2, 0755), 0);
	fake_recipe(src2, GPT_C "\n");
	assert_int_equal(reciperepo_init(other, src2, &err), 0);
	assert_int_equal(reciperepo_resolve(other, RECIPEREPO_FIRST_TAG, c3, &err), 0);
	assert_string_not_equal(c1, c3);
}

static void init_refuses_a_non_empty_dir_and_empty_sources(void **state)
{
	struct fixture *f = *state;
	struct kerr err = { 0 };
	char dir[FS_PATH_MAX], empty_src[FS_PATH_MAX];

	expect(reciperepo_init(f->repo, f->src, &err), &err, "recipe.exists", f->repo);
	snprintf(dir, sizeof dir, "%s/occupied", f->tmp);
	assert_int_equal(mkdir(dir, 0755), 0);
	tu_put(dir, "keep.txt", "mine\n");
	expect(reciperepo_init(dir, f->src, &err), &err, "recipe.exists", "occupied");
	char *kept = slurp(dir, "keep.txt");
	assert_string_equal(kept, "mine\n");
	free(kept);
	/* an existing empty folder is fine */
	snprintf(dir, sizeof dir, "%s/empty", f->tmp);
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(reciperepo_init(dir, f->src, &err), 0);
	/* a recipe folder without .c files is no recipe */
	snprintf(empty_src, sizeof empty_src, "%s/nosrc", f->tmp);
	assert_int_equal(mkdir(empty_src, 0755), 0);
	tu_put(empty_src, "README.md", "# nothing\n");
	snprintf(dir, sizeof dir, "%s/r2", f->tmp);
	expect(reciperepo_init(dir, empty_src, &err), &err, "recipe.no_sources", NULL);
	assert_false(fs_exists(dir));
	/* a CUDA part that is a link to somewhere else is no recipe folder */
	tu_put(empty_src, "gpt.c", "int gpt;\n");
	snprintf(dir, sizeof dir, "%s/nosrc/cuda", f->tmp);
	assert_int_equal(symlink("/etc", dir), 0);
	snprintf(dir, sizeof dir, "%s/r3", f->tmp);
	expect(reciperepo_init(dir, empty_src, &err), &err, "recipe.bad_source", "cuda");
	assert_false(fs_exists(dir));
}

static void tag_(const char *repo, const char *name)
{
	assert_int_equal(tu_run(NULL, 0, "git -C '%s' tag '%s' recipe-v0.1.0", repo, name), 0);
}

static void latest_tag_orders_versions_numerically(void **state)
{
	struct fixture *f = *state;
	struct kerr err = { 0 };
	char tag[RECIPEREPO_TAG_MAX];
	struct reciperepo_tag *tags;
	size_t n;

	tag_(f->repo, "recipe-v0.1.9");
	tag_(f->repo, "recipe-v0.1.10");
	tag_(f->repo, "recipe-v0.1.2");
	tag_(f->repo, "recipe-v0.01.99");  /* leading zero: not canonical */
	tag_(f->repo, "recipe-v0.1.99x");  /* trailing junk */
	tag_(f->repo, "recipe-v9.9");      /* two parts */
	tag_(f->repo, "zzz-release");
	assert_int_equal(reciperepo_latest_tag(f->repo, tag, &err), 0);
	assert_string_equal(tag, "recipe-v0.1.10");
	assert_int_equal(reciperepo_list_tags(f->repo, &tags, &n, &err), 0);
	assert_int_equal(n, 4);
	assert_string_equal(tags[0].tag, "recipe-v0.1.0");
	assert_string_equal(tags[1].tag, "recipe-v0.1.2");
	assert_string_equal(tags[2].tag, "recipe-v0.1.9");
	assert_string_equal(tags[3].tag, "recipe-v0.1.10");
	assert_string_equal(tags[3].commit, tags[0].commit); /* lightweight tags peel the same */
	free(tags);
	tag_(f->repo, "recipe-v0.2.0");
	assert_int_equal(reciperepo_latest_tag(f->repo, tag, &err), 0);
	assert_string_equal(tag, "recipe-v0.2.0");
}

static void parse_tag_is_strict(void **state)
{
	unsigned v[3];

	(void)state;
	assert_int_equal(reciperepo_parse_tag("recipe-v1.22.333", v), 0);
	assert_int_equal(v[0], 1);
	assert_int_equal(v[1], 22);
	assert_int_equal(v[2], 333);
	assert_int_equal(reciperepo_parse_tag("recipe-v1.2", v), -1);
	assert_int_equal(reciperepo_parse_tag("recipe-v1.2.3.4", v), -1);
	assert_int_equal(reciperepo_parse_tag("recipe-v01.2.3", v), -1);
	assert_int_equal(reciperepo_parse_tag("recipe-v1.2.-3", v), -1);
	assert_int_equal(reciperepo_parse_tag("recipe-v1.2.3456789012", v), -1);
	assert_int_equal(reciperepo_parse_tag("Recipe-v1.2.3", v), -1);
}

static void resolve_refuses_unknown_tags_and_non_repos(void **state)
{
	struct fixture *f = *state;
	struct kerr err = { 0 };
	char commit[RECIPEREPO_COMMIT_HEX], tag[RECIPEREPO_TAG_MAX];

	expect(reciperepo_resolve(f->repo, "recipe-v9.9.9", commit, &err), &err, "recipe.unknown_tag",
	       "recipe-v9.9.9");
	expect(reciperepo_resolve(f->repo, "--all", commit, &err), &err, "recipe.unknown_tag", NULL);
	expect(reciperepo_resolve(f->repo, "HEAD..main", commit, &err), &err, "recipe.unknown_tag", NULL);
	/* src sits beside the repository, not in it */
	expect(reciperepo_resolve(f->src, RECIPEREPO_FIRST_TAG, commit, &err), &err, "recipe.not_a_repo",
	       NULL);
	expect(reciperepo_latest_tag(f->src, tag, &err), &err, "recipe.not_a_repo", NULL);
	assert_int_equal(tu_run(NULL, 0, "git -C '%s' tag -d recipe-v0.1.0", f->repo), 0);
	expect(reciperepo_latest_tag(f->repo, tag, &err), &err, "recipe.no_tags", NULL);
}

static void export_gives_exactly_the_tracked_files(void **state)
{
	struct fixture *f = *state;
	struct kerr err = { 0 };
	char dest[FS_PATH_MAX], names[1024], status[256];
	struct stat sb;

	snprintf(dest, sizeof dest, "%s/king", f->tmp);
	tu_put(f->repo, "untracked.c", "int x;\n"); /* in the work tree only */
	assert_int_equal(reciperepo_export(f->repo, RECIPEREPO_FIRST_TAG, dest, &err), 0);
	list_dir(dest, names, sizeof names);
	assert_string_equal(names, "NOTES.md README.md cuda gpt.c gpt.h ");
	char *g = slurp(dest, "gpt.c");
	assert_string_equal(g, GPT_C);
	free(g);
	assert_int_equal(stat(dest, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	/* the repository's index and work tree are untouched */
	assert_int_equal(tu_run(status, sizeof status, "git -C '%s' status --porcelain", f->repo), 0);
	assert_string_equal(status, "?? untracked.c\n");
	list_dir(f->tmp, names, sizeof names);
	assert_string_equal(names, "king repo src ");
	expect(reciperepo_export(f->repo, RECIPEREPO_FIRST_TAG, dest, &err), &err, "recipe.dest_exists", "king");
	snprintf(dest, sizeof dest, "%s/none", f->tmp);
	expect(reciperepo_export(f->repo, "recipe-v0.9.0", dest, &err), &err, "recipe.unknown_tag", NULL);
	assert_false(fs_exists(dest));
}

/* A king as a hostile validator might serve it: each commit adds one entry
 * no recipe holds, on top of the first tag, and is refused, naming it. */
static void tree_check_refuses_what_no_recipe_holds(void **state)
{
	static const struct {
		const char *make, *name;
	} bad[] = {
		/* gcc reads @FILE as options: -wrapper runs a program */
		{ "printf -- '-wrapper /bin/sh,x.sh' > @o.c && git add -- @o.c", "@o.c" },
		{ "printf 'int x;' > ./-x.c && git add -- -x.c", "-x.c" },
		{ "ln -s /etc/passwd k.h && git add k.h", "k.h" },
		{ "printf 'int r;' > run.c && chmod +x run.c && git add run.c", "run.c" },
		{ "printf '* filter=x' > .gitattributes && git add .gitattributes", ".gitattributes" },
		{ "mkdir -p sub && printf 'int d;' > sub/deep.c && git add sub/deep.c", "sub/deep.c" },
		{ "printf 'x' > notes.txt && git add notes.txt", "notes.txt" },
	};
	struct fixture *f = *state;
	struct kerr err = { 0 };
	char commit[RECIPEREPO_COMMIT_HEX], out[256];

	assert_int_equal(reciperepo_resolve(f->repo, RECIPEREPO_FIRST_TAG, commit, &err), 0);
	if (reciperepo_tree_check(f->repo, commit, &err) < 0)
		fail_msg("the first tag's tree: %s: %s", err.code, err.msg);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(tu_run(out, sizeof out,
					"cd '%s' && git checkout -q --detach %s && %s && git -c user.name=t -c user.email=t@t"
					" commit -qm hostile && git rev-parse HEAD",
					f->repo, RECIPEREPO_FIRST_TAG, bad[i].make),
				 0);
		out[strcspn(out, "\n")] = '\0';
		expect(reciperepo_tree_check(f->repo, out, &err), &err, "recipe.bad_tree", bad[i].name);
	}
	expect(reciperepo_tree_check(f->repo, "HEAD", &err), &err, "recipe.bad_tree", "HEAD");
}

/* A king's size is read from git's listing: notes beyond a patch's 256
 * file sections are a king the validator can crown (and taken), but one
 * file more than RECIPEREPO_TREE_FILES_MAX, or a blob that takes the tree
 * past RECIPEREPO_TREE_BYTES_MAX (zeros: a few KiB in the bundle), is
 * refused before checkout; the judge holds a patched folder to the same
 * bound. */
static void tree_size_is_bounded_before_checkout(void **state)
{
	struct fixture *f = *state;
	struct kerr err = { 0 };
	char out[256], dir[FS_PATH_MAX];

	/* notes up to the bound in all: taken */
	assert_int_equal(tu_run(out, sizeof out,
				"cd '%s' && git checkout -q --detach %s && n=$(git ls-tree -r --name-only HEAD | wc -l)"
				" && for i in $(seq 1 $((%d - n))); do echo n > n$i.md; done"
				" && git add . && git -c user.name=t -c user.email=t@t commit -qm notes && git rev-parse HEAD",
				f->repo, RECIPEREPO_FIRST_TAG, RECIPEREPO_TREE_FILES_MAX),
			 0);
	out[strcspn(out, "\n")] = '\0';
	if (reciperepo_tree_check(f->repo, out, &err) < 0)
		fail_msg("%d files: %s: %s", RECIPEREPO_TREE_FILES_MAX, err.code, err.msg);
	/* one more: refused */
	assert_int_equal(tu_run(out, sizeof out,
				"cd '%s' && echo n > last.md && git add . && git -c user.name=t -c user.email=t@t commit -qm one"
				" && git tag recipe-v0.9.0 && git rev-parse HEAD",
				f->repo),
			 0);
	out[strcspn(out, "\n")] = '\0';
	expect(reciperepo_tree_check(f->repo, out, &err), &err, "recipe.bad_tree", "more than 520 files");
	/* the same folder as the judge sees it, patched: refused too, and one
	 * file fewer taken */
	snprintf(dir, sizeof dir, "%s/patched", f->tmp);
	assert_int_equal(reciperepo_export(f->repo, "recipe-v0.9.0", dir, &err), 0);
	expect(reciperepo_dir_check(dir, &err), &err, "patch.tree_too_large", "521 files, over 520");
	assert_int_equal(tu_run(NULL, 0, "rm '%s/last.md'", dir), 0);
	if (reciperepo_dir_check(dir, &err) < 0)
		fail_msg("%d files: %s: %s", RECIPEREPO_TREE_FILES_MAX, err.code, err.msg);
	/* bytes: a blob of zeros one byte past the bound, with the first
	 * tag's few KiB beside it */
	assert_int_equal(tu_run(out, sizeof out,
				"cd '%s' && git checkout -q --detach %s && head -c %u /dev/zero > big.md && git add big.md"
				" && git -c user.name=t -c user.email=t@t commit -qm big && git rev-parse HEAD && rm -f big.md",
				f->repo, RECIPEREPO_FIRST_TAG, RECIPEREPO_TREE_BYTES_MAX),
			 0);
	out[strcspn(out, "\n")] = '\0';
	expect(reciperepo_tree_check(f->repo, out, &err), &err, "recipe.bad_tree", "big.md");
	/* one file out for the one in: 520 files, over on bytes alone */
	assert_int_equal(tu_run(NULL, 0, "rm '%s/n1.md' && head -c %u /dev/zero > '%s/big.md'", dir,
				RECIPEREPO_TREE_BYTES_MAX, dir),
			 0);
	expect(reciperepo_dir_check(dir, &err), &err, "patch.tree_too_large", "bytes, over 67108864");
}

static const char clean_patch[] = "diff --git a/gpt.c b/gpt.c\n"
				  "index 1111111..2222222 100644\n"
				  "--- a/gpt.c\n"
				  "+++ b/gpt.c\n"
				  "@@ -2,3 +2,3 @@\n"
				  " int a = 1;\n"
				  "-int b = 2;\n"
				  "+int b = 20;\n"
				  " int c = 3;\n"
				  "diff --git a/adam.c b/adam.c\n"
				  "new file mode 100644\n"
				  "--- /dev/null\n"
				  "+++ b/adam.c\n"
				  "@@ -0,0 +1 @@\n"
				  "+int adam_beta1;\n";

static void export_king(struct fixture *f, char *dest, size_t cap)
{
	struct kerr err = { 0 };

	snprintf(dest, cap, "%s/work", f->tmp);
	assert_int_equal(reciperepo_export(f->repo, RECIPEREPO_FIRST_TAG, dest, &err), 0);
}

static void apply_file(struct fixture *f, const char *text, const char *dest, struct kerr *err, int *rc)
{
	char path[FS_PATH_MAX];

	snprintf(path, sizeof path, "%s/p.diff", f->tmp);
	assert_int_equal(fs_write_atomic(path, text, strlen(text), err), 0);
	*rc = reciperepo_apply(dest, path, err);
}

static void a_clean_patch_applies(void **state)
{
	struct fixture *f = *state;
	struct kerr err = { 0 };
	char dest[FS_PATH_MAX];
	int rc;

	export_king(f, dest, sizeof dest);
	apply_file(f, clean_patch, dest, &err, &rc);
	if (rc)
		fail_msg("%s: %s", err.code, err.msg);
	char *g = slurp(dest, "gpt.c"), *a = slurp(dest, "adam.c");
	assert_non_null(strstr(g, "int b = 20;\n"));
	assert_null(strstr(g, "int b = 2;\n"));
	assert_string_equal(a, "int adam_beta1;\n");
	free(g);
	free(a);
	/* applying again no longer fits: the new file is in the way */
	apply_file(f, clean_patch, dest, &err, &rc);
	expect(rc, &err, "patch.conflict", NULL);
	/* a pure rename passes both the parser and git's own path list */
	apply_file(f, "diff --git a/NOTES.md b/CHANGES.md\nsimilarity index 100%\nrename from NOTES.md\n"
		      "rename to CHANGES.md\n", dest, &err, &rc);
	if (rc)
		fail_msg("%s: %s", err.code, err.msg);
	char names[256];
	list_dir(dest, names, sizeof names);
	assert_string_equal(names, "CHANGES.md README.md adam.c cuda gpt.c gpt.h ");
}

/* The CUDA part takes patches too: a changed kernel and a new header, one
 * level down, and nothing deeper is created. */
static void a_cuda_patch_applies(void **state)
{
	static const char patch[] = "diff --git a/cuda/k.cu b/cuda/k.cu\n"
				    "--- a/cuda/k.cu\n+++ b/cuda/k.cu\n"
				    "@@ -1 +1,2 @@\n"
				    "+#include \"k2.cuh\"\n"
				    " __global__ void k(void) {}\n"
				    "diff --git a/cuda/k2.cuh b/cuda/k2.cuh\n"
				    "new file mode 100644\n--- /dev/null\n+++ b/cuda/k2.cuh\n"
				    "@@ -0,0 +1 @@\n+#pragma once\n";
	struct fixture *f = *state;
	struct kerr err = { 0 };
	char dest[FS_PATH_MAX], cdir[FS_PATH_MAX + 8], names[256];
	int rc;

	assert_int_equal(reciperepo_patch_check(patch, strlen(patch), &err), 0);
	export_king(f, dest, sizeof dest);
	apply_file(f, patch, dest, &err, &rc);
	if (rc)
		fail_msg("%s: %s", err.code, err.msg);
	snprintf(cdir, sizeof cdir, "%s/cuda", dest);
	char *k = slurp(cdir, "k.cu");
	assert_string_equal(k, "#include \"k2.cuh\"\n__global__ void k(void) {}\n");
	free(k);
	list_dir(cdir, names, sizeof names);
	assert_string_equal(names, "k.cu k.cuh k2.cuh run.c ");
}

/* git apply in a folder inside another repository would apply relative to
 * that repository's root and skip our files; the ceiling prevents it. */
static void apply_inside_another_repository(void **state)
{
	struct fixture *f = *state;
	struct kerr err = { 0 };
	char outer[FS_PATH_MAX], dest[FS_PATH_MAX];
	int rc;

	snprintf(outer, sizeof outer, "%s/outer", f->tmp);
	assert_int_equal(tu_run(NULL, 0, "git init -q '%s'", outer), 0);
	snprintf(dest, sizeof dest, "%s/work", outer);
	assert_int_equal(reciperepo_export(f->repo, RECIPEREPO_FIRST_TAG, dest, &err), 0);
	apply_file(f, clean_patch, dest, &err, &rc);
	if (rc)
		fail_msg("%s: %s", err.code, err.msg);
	char *g = slurp(dest, "gpt.c");
	assert_non_null(strstr(g, "int b = 20;\n"));
	free(g);
	char none[FS_PATH_MAX];
	snprintf(none, sizeof none, "%s/adam.c", outer);
	assert_false(fs_exists(none));
	/* and a folder inside a repository is not that repository */
	char commit[RECIPEREPO_COMMIT_HEX];
	expect(reciperepo_resolve(dest, RECIPEREPO_FIRST_TAG, commit, &err), &err, "recipe.not_a_repo", NULL);
}

static void a_conflicting_patch_names_file_and_line(void **state)
{
	struct fixture *f = *state;
	struct kerr err = { 0 };
	char dest[FS_PATH_MAX];
	int rc;
	static const char conflict[] = "diff --git a/gpt.h b/gpt.h\n"
				       "--- a/gpt.h\n"
				       "+++ b/gpt.h\n"
				       "@@ -1 +1 @@\n"
				       "-int gpt_steps(void);\n"
				       "+long gpt_steps(void);\n"
				       "diff --git a/gpt.c b/gpt.c\n"
				       "--- a/gpt.c\n"
				       "+++ b/gpt.c\n"
				       "@@ -4,3 +4,3 @@\n"
				       " int c = 3;\n"
				       "-int d = 40;\n"
				       "+int d = 41;\n"
				       " int e = 5;\n";

	export_king(f, dest, sizeof dest);
	apply_file(f, conflict, dest, &err, &rc);
	expect(rc, &err, "patch.conflict", "gpt.c line 4");
	/* nothing applied, not even the hunk that fit */
	char *h = slurp(dest, "gpt.h");
	assert_string_equal(h, "int gpt_steps(void);\n");
	free(h);
	/* a patch for a file the king lacks */
	apply_file(f, "--- a/nope.c\n+++ b/nope.c\n@@ -1 +1 @@\n-x\n+y\n", dest, &err, &rc);
	expect(rc, &err, "patch.conflict", "nope.c");
}

static void check(const char *patch, const char *code, const char *in_msg)
{
	struct kerr err = { 0 };

	expect(reciperepo_patch_check(patch, strlen(patch), &err), &err, code, in_msg);
}

static void patch_policy_refuses_the_harness(void **state)
{
	(void)state;
	check("diff --git a/src/harness/x.c b/src/harness/x.c\n--- a/src/harness/x.c\n+++ b/src/harness/x.c\n"
	      "@@ -1 +1 @@\n-a\n+b\n",
	      "patch.touches_harness", "src/harness/x.c");
	check("diff --git a/recipe_api.h b/recipe_api.h\nnew file mode 100644\n--- /dev/null\n+++ b/recipe_api.h\n"
	      "@@ -0,0 +1 @@\n+#define X 1\n",
	      "patch.touches_harness", "recipe_api.h");
	/* a traditional diff without the git header, same policy */
	check("--- a/src/util/proc.c\n+++ b/src/util/proc.c\n@@ -1 +1 @@\n-a\n+b\n", "patch.touches_harness",
	      "src/util/proc.c");
}

static void patch_policy_refuses_bad_paths(void **state)
{
	(void)state;
	check("diff --git a/../x.c b/../x.c\n--- a/../x.c\n+++ b/../x.c\n@@ -1 +1 @@\n-a\n+b\n", "patch.bad_path",
	      "../x.c");
	check("--- ../x.c\n+++ ../x.c\n@@ -1 +1 @@\n-a\n+b\n", "patch.bad_path", "../x.c");
	check("--- /etc/x.c\n+++ /etc/x.c\n@@ -1 +1 @@\n-a\n+b\n", "patch.bad_path", "/etc/x.c");
	check("diff --git a/sub/x.c b/sub/x.c\n--- a/sub/x.c\n+++ b/sub/x.c\n@@ -1 +1 @@\n-a\n+b\n", "patch.bad_path",
	      "sub/x.c");
	/* the CUDA part is one level of C and CUDA sources, named as recipe files */
	check("diff --git a/cuda/deeper/x.cu b/cuda/deeper/x.cu\n--- a/cuda/deeper/x.cu\n+++ b/cuda/deeper/x.cu\n"
	      "@@ -1 +1 @@\n-a\n+b\n",
	      "patch.bad_path", "cuda/deeper/x.cu");
	check("diff --git a/cuda/notes.md b/cuda/notes.md\n--- a/cuda/notes.md\n+++ b/cuda/notes.md\n"
	      "@@ -1 +1 @@\n-a\n+b\n",
	      "patch.bad_path", "cuda/notes.md");
	check("diff --git a/cuda/.k.cu b/cuda/.k.cu\n--- a/cuda/.k.cu\n+++ b/cuda/.k.cu\n@@ -1 +1 @@\n-a\n+b\n",
	      "patch.bad_path", "cuda/.k.cu");
	check("diff --git a/cuda/k.cu b/cuda/k.cu\nold mode 100644\nnew mode 100755\n", "patch.bad_mode", "cuda/k.cu");
	check("diff --git a/cuda/ b/cuda/\n--- a/cuda/\n+++ b/cuda/\n@@ -1 +1 @@\n-a\n+b\n", "patch.bad_path",
	      "cuda/");
	check("diff --git a/cudax/k.cu b/cudax/k.cu\n--- a/cudax/k.cu\n+++ b/cudax/k.cu\n@@ -1 +1 @@\n-a\n+b\n",
	      "patch.bad_path", "cudax/k.cu");
	check("diff --git a/cuda/recipe_wire.c b/cuda/recipe_wire.c\n--- a/cuda/recipe_wire.c\n"
	      "+++ b/cuda/recipe_wire.c\n@@ -1 +1 @@\n-a\n+b\n",
	      "patch.touches_harness", "cuda/recipe_wire.c");
	check("diff --git a/cuda/k.cu b/k.cu\nsimilarity index 100%\nrename from cuda/k.cu\nrename to k.cu\n",
	      "patch.bad_path", "k.cu");
	/* git's older spellings of a rename's names are names too */
	check("diff --git a/notes.md b/notes.md\nrename old Makefile\nrename new gone.md\n", "patch.bad_path",
	      "Makefile");
	check("diff --git a/notes.md b/notes.md\nrename old gpt.c\nrename new ../gpt.c\n", "patch.bad_path",
	      "../gpt.c");
	check("diff --git a/run.sh b/run.sh\n--- a/run.sh\n+++ b/run.sh\n@@ -1 +1 @@\n-a\n+b\n", "patch.bad_path",
	      "run.sh");
	check("diff --git a/Makefile b/Makefile\n--- a/Makefile\n+++ b/Makefile\n@@ -1 +1 @@\n-a\n+b\n",
	      "patch.bad_path", "Makefile");
	check("diff --git a/gpt.c b/gpt.c\nsimilarity index 90%\nrename from gpt.c\nrename to ../gpt.c\n",
	      "patch.bad_path", "../gpt.c");
	check("diff --git a/\"we ird.c\" b/\"we ird.c\"\n", "patch.bad_path", NULL);
	check("diff --git a/.gitattributes b/.gitattributes\n", "patch.bad_path", ".gitattributes");
	check("diff --git a/x.c b/x.c\n--- x.c\n+++ x.c\n@@ -1 +1 @@\n-a\n+b\n", "patch.parse", "x.c");
}

static void patch_policy_refuses_binary_modes_and_size(void **state)
{
	(void)state;
	check("diff --git a/w.c b/w.c\nnew file mode 100644\nindex 0000000..1111111\nGIT binary patch\nliteral 3\n"
	      "Kc${NkU;\n\nliteral 0\nKcmV+b0RR6000031\n",
	      "patch.binary", "w.c");
	check("diff --git a/w.c b/w.c\nindex 1111111..2222222 100644\nBinary files a/w.c and b/w.c differ\n",
	      "patch.binary", "w.c");
	check("diff --git a/link.c b/link.c\nnew file mode 120000\n--- /dev/null\n+++ b/link.c\n@@ -0,0 +1 @@\n"
	      "+/etc/passwd\n\\ No newline at end of file\n",
	      "patch.bad_mode", "link.c");
	check("diff --git a/gpt.c b/gpt.c\nold mode 100644\nnew mode 100755\n", "patch.bad_mode", "gpt.c");
	check("diff --git a/gpt.c b/gpt.c\nindex 1111111..2222222 120000\n--- a/gpt.c\n+++ b/gpt.c\n"
	      "@@ -1 +1 @@\n-a\n+b\n",
	      "patch.bad_mode", "symlink");

	struct kerr err = { 0 };
	size_t big = RECIPEREPO_PATCH_BYTES_MAX + 1;
	char *p = malloc(big);
	assert_non_null(p);
	memset(p, '+', big);
	memcpy(p, clean_patch, sizeof clean_patch - 1);
	expect(reciperepo_patch_check(p, big, &err), &err, "patch.too_large", NULL);
	free(p);
	char nul[] = "diff --git a/x.c b/x.c\n--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-a\n+\0b\n";
	expect(reciperepo_patch_check(nul, sizeof nul - 1, &err), &err, "patch.binary", NULL);
}

static void patch_policy_structure(void **state)
{
	struct kerr err = { 0 };

	(void)state;
	check("", "patch.empty", NULL);
	check("\n  \n", "patch.empty", NULL);
	check("just some words\n", "patch.parse", "no file headers");
	check("@@ -1 +1 @@\n-a\n+b\n", "patch.parse", "hunk without");
	check("diff --git a/x.c b/x.c\n--- a/x.c\n+++ b/x.c\n@@ -1,3 +1,3 @@\n a\n-b\n", "patch.parse", "truncated");
	check("diff --git a/x.c b/x.c\n--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-a\n+b\n+c\n", "patch.parse", NULL);
	assert_int_equal(reciperepo_patch_check(clean_patch, sizeof clean_patch - 1, &err), 0);
	/* body lines that look like headers are body lines: removing "-- a/../evil.c"
	 * and adding "++ b/../evil.c" is an edit of notes, not a new file */
	static const char lookalike[] = "From 1234 Mon Sep 17 00:00:00 2001\nSubject: notes\n\n"
					"--- ../a line of prose in the message\n---\n"
					" NOTES.md | 2 +-\n\n"
					"diff --git a/NOTES.md b/NOTES.md\n--- a/NOTES.md\n+++ b/NOTES.md\n"
					"@@ -1,2 +1,2 @@\n # notes\n--- a/../evil.c\n+++ b/../evil.c\n"
					"-- \n2.39.5\n";
	assert_int_equal(reciperepo_patch_check(lookalike, sizeof lookalike - 1, &err), 0);
	/* but a hunk that ends early leaves the next header exposed */
	check("diff --git a/NOTES.md b/NOTES.md\n--- a/NOTES.md\n+++ b/NOTES.md\n@@ -1 +1 @@\n-a\n+b\n"
	      "--- a/../evil.c\n+++ b/../evil.c\n@@ -1 +1 @@\n-a\n+b\n",
	      "patch.bad_path", "../evil.c");
}

/* The parts a patch's paths fall in, old and new names alike, and the
 * scales whose runner builds them. */
static unsigned parts_of(const char *patch, struct reciperepo_parts *p)
{
	struct kerr err = { 0 };

	if (reciperepo_patch_parts(patch, strlen(patch), p, &err) < 0)
		fail_msg("%s: %s", err.code, err.msg);
	return p->mask;
}

static void expect_fit(const struct reciperepo_parts *p, const char *scale, const char *code, const char *in_msg)
{
	struct kerr err = { 0 };
	int rc = reciperepo_parts_fit(p, scale, &err);

	if (!code && rc < 0)
		fail_msg("%s refused at %s: %s: %s", p->mask & RECIPEREPO_PART_CUDA ? p->cuda : p->cpu, scale, err.code,
			 err.msg);
	if (code)
		expect(rc, &err, code, in_msg);
}

static void patch_parts_and_the_scales_that_prove_them(void **state)
{
	struct reciperepo_parts p;

	(void)state;
	assert_int_equal(parts_of(clean_patch, &p), RECIPEREPO_PART_SHARED);
	expect_fit(&p, "tiny", NULL, NULL);
	expect_fit(&p, "gpu-125m", NULL, NULL);
	assert_int_equal(parts_of("--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-a\n+b\n", &p), 0);
	expect_fit(&p, "gpu-254m", NULL, NULL);

	assert_int_equal(parts_of("diff --git a/cuda/gk_kernels.cu b/cuda/gk_kernels.cu\n--- a/cuda/gk_kernels.cu\n"
				  "+++ b/cuda/gk_kernels.cu\n@@ -1 +1 @@\n-a\n+b\n"
				  "--- a/config.c\n+++ b/config.c\n@@ -1 +1 @@\n-a\n+b\n",
				  &p),
			 RECIPEREPO_PART_CUDA | RECIPEREPO_PART_SHARED);
	expect_fit(&p, "gpu-125m", NULL, NULL);
	expect_fit(&p, "cpu", "patch.untested_part", "cuda/gk_kernels.cu");
	expect_fit(&p, "tiny", "patch.untested_part", "scale tiny");

	/* recipe.c only by its old name: a rename away from it is a change to it */
	assert_int_equal(parts_of("diff --git a/recipe.c b/api2.c\nrename from recipe.c\nrename to api2.c\n", &p),
			 RECIPEREPO_PART_CPU | RECIPEREPO_PART_SHARED);
	expect_fit(&p, "cpu", NULL, NULL);
	expect_fit(&p, "gpu-254m", "patch.untested_part", "recipe.c");
	/* the same in git's older spelling, under another section's name: a
	 * rename git applies, so a part the scan must see */
	assert_int_equal(parts_of("diff --git a/notes.md b/notes.md\nrename old recipe.c\nrename new cuda/moved.cu\n", &p),
			 RECIPEREPO_PART_CPU | RECIPEREPO_PART_CUDA);
	expect_fit(&p, "gpu-254m", "patch.untested_part", "recipe.c");
	expect_fit(&p, "cpu", "patch.untested_part", "cuda/moved.cu");
	/* a new file in the CUDA part, from /dev/null */
	assert_int_equal(parts_of("diff --git a/cuda/x.cuh b/cuda/x.cuh\nnew file mode 100644\n--- /dev/null\n"
				  "+++ b/cuda/x.cuh\n@@ -0,0 +1 @@\n+#pragma once\n",
				  &p),
			 RECIPEREPO_PART_CUDA);
	expect_fit(&p, "tiny", "patch.untested_part", "cuda/x.cuh");
	/* a name like the CUDA folder's is a flat file */
	assert_int_equal(parts_of("--- a/cuda.h\n+++ b/cuda.h\n@@ -1 +1 @@\n-a\n+b\n", &p), RECIPEREPO_PART_SHARED);
}

static void apply_checks_policy_and_size_first(void **state)
{
	struct fixture *f = *state;
	struct kerr err = { 0 };
	char dest[FS_PATH_MAX], path[FS_PATH_MAX];
	int rc;

	export_king(f, dest, sizeof dest);
	apply_file(f,
		   "diff --git a/src/harness/x.c b/src/harness/x.c\nnew file mode 100644\n--- /dev/null\n"
		   "+++ b/src/harness/x.c\n@@ -0,0 +1 @@\n+int evil;\n",
		   dest, &err, &rc);
	expect(rc, &err, "patch.touches_harness", "src/harness/x.c");
	snprintf(path, sizeof path, "%s/src", dest);
	assert_false(fs_exists(path));
	/* oversize through the file path */
	size_t big = RECIPEREPO_PATCH_BYTES_MAX + 100;
	char *p = malloc(big + 1);
	assert_non_null(p);
	memset(p, 'x', big);
	p[big] = '\0';
	apply_file(f, p, dest, &err, &rc);
	free(p);
	expect(rc, &err, "patch.too_large", NULL);
}

/* The machine's troubles, told apart from a bad recipe or patch: a folder
 * that is not there, a repository git cannot read, a patched folder that
 * is gone. None leaves a half-made folder behind. */
static void missing_folders_and_a_damaged_repository(void **state)
{
	struct fixture *f = *state;
	struct kerr err = { 0 };
	char commit[RECIPEREPO_COMMIT_HEX], gone[FS_PATH_MAX], dest[FS_PATH_MAX], names[256], file[FS_PATH_MAX];

	snprintf(gone, sizeof gone, "%s/gone", f->tmp);
	snprintf(dest, sizeof dest, "%s/r", f->tmp);
	expect(reciperepo_init(dest, gone, &err), &err, "recipe.not_found", "no recipe folder");
	expect(reciperepo_resolve(gone, RECIPEREPO_FIRST_TAG, commit, &err), &err, "recipe.not_found", "gone");
	snprintf(file, sizeof file, "%s/gpt.c", f->src);
	expect(reciperepo_resolve(file, RECIPEREPO_FIRST_TAG, commit, &err), &err, "recipe.not_found",
	       "not a directory");
	expect(reciperepo_dir_check(gone, &err), &err, "recipe.io", "gone");
	list_dir(f->tmp, names, sizeof names);
	assert_string_equal(names, "repo src ");
	/* The tag still names its commit, whose tree object is lost (a disk
	 * error, an interrupted copy): git fails the checkout itself. */
	assert_int_equal(tu_run(NULL, 0,
				"t=$(git -C '%s' rev-parse 'recipe-v0.1.0^{tree}') && "
				"rm -f '%s/.git/objects/'$(echo $t | cut -c1-2)/$(echo $t | cut -c3-)",
				f->repo, f->repo),
			 0);
	assert_int_equal(reciperepo_resolve(f->repo, RECIPEREPO_FIRST_TAG, commit, &err), 0);
	snprintf(dest, sizeof dest, "%s/king", f->tmp);
	expect(reciperepo_export(f->repo, RECIPEREPO_FIRST_TAG, dest, &err), &err, "recipe.git", "read-tree");
	list_dir(f->tmp, names, sizeof names);
	assert_string_equal(names, "repo src ");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(init_creates_the_first_tag, setup, teardown),
		cmocka_unit_test_setup_teardown(same_recipe_gives_the_same_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(init_refuses_a_non_empty_dir_and_empty_sources, setup, teardown),
		cmocka_unit_test_setup_teardown(latest_tag_orders_versions_numerically, setup, teardown),
		cmocka_unit_test(parse_tag_is_strict),
		cmocka_unit_test_setup_teardown(resolve_refuses_unknown_tags_and_non_repos, setup, teardown),
		cmocka_unit_test_setup_teardown(export_gives_exactly_the_tracked_files, setup, teardown),
		cmocka_unit_test_setup_teardown(tree_check_refuses_what_no_recipe_holds, setup, teardown),
		cmocka_unit_test_setup_teardown(tree_size_is_bounded_before_checkout, setup, teardown),
		cmocka_unit_test_setup_teardown(a_clean_patch_applies, setup, teardown),
		cmocka_unit_test_setup_teardown(a_cuda_patch_applies, setup, teardown),
		cmocka_unit_test_setup_teardown(apply_inside_another_repository, setup, teardown),
		cmocka_unit_test_setup_teardown(a_conflicting_patch_names_file_and_line, setup, teardown),
		cmocka_unit_test(patch_policy_refuses_the_harness),
		cmocka_unit_test(patch_policy_refuses_bad_paths),
		cmocka_unit_test(patch_policy_refuses_binary_modes_and_size),
		cmocka_unit_test(patch_policy_structure),
		cmocka_unit_test(patch_parts_and_the_scales_that_prove_them),
		cmocka_unit_test_setup_teardown(apply_checks_policy_and_size_first, setup, teardown),
		cmocka_unit_test_setup_teardown(missing_folders_and_a_damaged_repository, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
