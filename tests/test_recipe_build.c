/* test_recipe_build.c: building a recipe folder into a runner. The build is
 * an argument vector, not a shell line, so a folder whose name holds a
 * quote, a space or a dollar sign builds like any other; the cache key
 * covers the sources and the toolchain, so an unchanged folder is reused
 * and a changed one is rebuilt; a recipe that does not compile is refused
 * with the compiler's first error line; a patch to one file recompiles that
 * file only. A prover's runner for aarch64 is an aarch64 executable in a
 * cache entry of its own, and trains and answers under its emulator. Where
 * the CUDA toolkit is installed, the GPU runner builds from the recipe's
 * CUDA part, and from a patched one that passes check 1. */
#include "testutil.h"

#include <elf.h>
#include <fcntl.h>

#include "judge/diffscan.h"
#include "sandbox/landlock.h"
#include "sandbox/recipe_build.h"
#include "sandbox/recipe_pipe.h"

static char *work;

static void copy_bigram(const char *dir)
{
	char from[FS_PATH_MAX], to[FS_PATH_MAX], *text;
	size_t n;
	struct kerr err;

	assert_int_equal(fs_mkdir_p(dir, &err), 0);
	snprintf(from, sizeof from, "%s/tests/hostile/recipes/bigram/bigram.c", recipe_build_src_dir());
	snprintf(to, sizeof to, "%s/bigram.c", dir);
	assert_int_equal(fs_read_all(from, 1 << 20, &text, &n, &err), 0);
	assert_int_equal(fs_write_atomic(to, text, n, &err), 0);
	free(text);
}

static void odd_folder_names_build_without_a_shell(void **st)
{
	char dir[FS_PATH_MAX], marker[FS_PATH_MAX];
	struct recipe_build_info a, b;
	struct kerr err;

	(void)st;
	/* If this name ever reached a shell, `$(touch ...)` would run. */
	snprintf(marker, sizeof marker, "%s/pwned", work);
	snprintf(dir, sizeof dir, "%s/it's a $(touch pwned) recipe", work);
	copy_bigram(dir);
	if (recipe_build(dir, &a, &err) < 0)
		fail_msg("%s: %s", err.code, err.msg);
	assert_int_equal(access(a.runner, X_OK), 0);
	assert_false(fs_exists(marker));
	assert_true(strlen(a.compiler) > 0 && strcmp(a.compiler, "unknown"));
	/* Unchanged: the cached runner. */
	assert_int_equal(recipe_build(dir, &b, &err), 0);
	assert_int_equal(b.cached, 1);
	assert_string_equal(a.source_digest, b.source_digest);
}

static void harness_names_are_known(void **st)
{
	(void)st;
	assert_int_equal(recipe_build_is_harness_name("recipe_api.h", 12), 1);
	assert_int_equal(recipe_build_is_harness_name("sandbox_inner.c", 15), 1);
	assert_int_equal(recipe_build_is_harness_name("main.c", 6), 1);
	assert_int_equal(recipe_build_is_harness_name("gpt.c", 5), 0);
	assert_int_equal(recipe_build_is_harness_name("recipe_api.hh", 13), 0);
}

/* The bigram recipe plus name.c holding src: its build fails with code,
 * and the message holds each needle and not the folder's path; no runner
 * is left. */
static void expect_build_refused(const char *name, const char *src, const char *code, const char *needle,
				 const char *needle2)
{
	char dir[FS_PATH_MAX], p[FS_PATH_MAX];
	struct recipe_build_info bi;
	struct kerr err;

	snprintf(dir, sizeof dir, "%s/%s", work, name);
	copy_bigram(dir);
	snprintf(p, sizeof p, "%s/%s.c", dir, name);
	assert_int_equal(fs_write_atomic(p, src, strlen(src), &err), 0);
	assert_int_equal(recipe_build(dir, &bi, &err), -1);
	if (strcmp(err.code, code) || !strstr(err.msg, needle) || (needle2 && !strstr(err.msg, needle2)))
		fail_msg("%s: want %s naming '%s', got %s: %s", name, code, needle, err.code, err.msg);
	/* a verdict's message names the recipe's files, not the builder's folder */
	if (strstr(err.msg, dir))
		fail_msg("%s: the message holds the build folder: %s", name, err.msg);
	assert_int_equal(access(bi.runner, X_OK), -1);
}

/* The functions a runner keeps global are exactly those recipe_api.h
 * declares: one left out would fail every link, one too many would let a
 * recipe stand in for it. */
static void api_symbols_match_the_header(void **st)
{
	char path[FS_PATH_MAX], *text, *p;
	size_t len, declared = 0, listed = 0;
	struct kerr err;

	(void)st;
	snprintf(path, sizeof path, "%s/src/sandbox/recipe_api.h", recipe_build_src_dir());
	assert_int_equal(fs_read_all(path, 1u << 20, &text, &len, &err), 0);
	for (p = text; (p = strstr(p, "kr_")); p++) {
		size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyz_");
		char name[64];
		int found = 0;

		/* a declaration: at a line's start after its return type */
		if (p[n] != '(' || n >= sizeof name || p == text || (p[-1] != ' ' && p[-1] != '*'))
			continue;
		memcpy(name, p, n);
		name[n] = '\0';
		for (const char *const *a = recipe_build_api_symbols; *a; a++)
			found |= !strcmp(*a, name);
		if (!found)
			fail_msg("recipe_api.h declares %s, which recipe_build_api_symbols lacks", name);
		declared++;
	}
	for (const char *const *a = recipe_build_api_symbols; *a; a++)
		listed++;
	assert_int_equal(declared, listed);
	assert_true(declared >= 9);
	free(text);
}

static void compile_errors_are_reported(void **st)
{
	char dir[FS_PATH_MAX];
	struct recipe_build_info bi;
	struct kerr err;

	(void)st;
	expect_build_refused("broken", "int broken(void) { return undeclared_thing; }\n", "recipe.build_failed",
			     "broken.c", "undeclared_thing");
	/* A call to a function no header declares would link against the C
	 * library behind check 1's back (GCC 12 with -std=c11 only warns). */
	expect_build_refused("implicit", "long peek(int fd) { return pidfd_getfd(fd, 0, 0); }\n", "recipe.build_failed",
			     "implicit", "pidfd_getfd");
	/* Declared by an allowed header, denied by no list, and still not on
	 * the allowlist of what a recipe may call: the symbol check, before the
	 * link. */
	expect_build_refused("unlisted",
			     "#include <stdlib.h>\nint opt(char **o, char *const *t, char **v) { return getsubopt(o, t, v); }\n",
			     "recipe.bad_symbol", "unlisted.c references getsubopt", NULL);
	/* A nested function whose address escapes needs an executable stack
	 * (a trampoline): the pinned flags refuse it. */
	expect_build_refused("tramp",
			     "int apply(int (*f)(int), int x);\nint apply(int (*f)(int), int x) { return f(x); }\n"
			     "int outer(int k) { int add(int x) { return x + k; } return apply(add, 1); }\n",
			     "recipe.build_failed", "trampoline", NULL);
	/* A few bytes of C that make a 256 MiB object: the assembler is
	 * stopped at the cap on what a build may write (64 MiB here, 1 GiB in
	 * a release build) and nothing of it is kept. */
	recipe_build_test_fsize(64u << 20);
	expect_build_refused("huge", "char huge[1L << 28] = { 1 };\n", "recipe.build_failed", "File size limit", NULL);
	recipe_build_test_fsize(0);
	/* A name the compiler would read as options (@FILE) or as an option:
	 * refused before any compiler runs, whatever the folder's origin. */
	expect_build_refused("@opts", "-wrapper /bin/false,x\n", "recipe.bad_name", "@opts.c", NULL);
	expect_build_refused("-fplugin=x", "int x;\n", "recipe.bad_name", "-fplugin=x.c", NULL);
	/* No sources at all. */
	snprintf(dir, sizeof dir, "%s/empty", work);
	assert_int_equal(fs_mkdir_p(dir, &err), 0);
	assert_int_equal(recipe_build(dir, &bi, &err), -1);
	assert_string_equal(err.code, "recipe.no_sources");
}

/* A whole build has a budget besides each file's: its recipe objects
 * together (a few bytes of C each make a large object), and the CPU time
 * of every compiler call together, a verdict on the recipe; the wall
 * clock is a backstop whose end is the machine's trouble (no verdict). A
 * recipe refused leaves no object in the cache: its objects move there
 * only once the runner links. */
static void a_build_has_a_budget(void **st)
{
	char cache[FS_PATH_MAX], before[64], after[64];
	struct kerr err;

	(void)st;
	assert_int_equal(fs_cache_dir(cache, sizeof cache, &err), 0);
	assert_int_equal(tu_run(before, sizeof before, "mkdir -p %s/objs && ls %s/objs | wc -l", cache, cache), 0);
	recipe_build_test_budget(2u << 20, 0, 0);
	expect_build_refused("fat", "char fat_a[3 << 20] = { 1 };\n", "recipe.too_large", "pass 2 MiB at fat.c", NULL);
	/* a millisecond of CPU: spent by the first compile */
	recipe_build_test_budget(0, 0, 1);
	expect_build_refused("costly", "int costly_x;\n", "recipe.build_failed", "of compiler CPU time", NULL);
	recipe_build_test_budget(0, 1, 0);
	expect_build_refused("slow", "int slow_x;\n", "recipe.build_slow", "too busy", NULL);
	recipe_build_test_budget(0, 0, 0);
	assert_int_equal(tu_run(after, sizeof after, "ls %s/objs | wc -l", cache), 0);
	assert_string_equal(after, before);
}

static void write_in(const char *dir, const char *name, const char *text)
{
	char p[FS_PATH_MAX];
	struct kerr err;

	snprintf(p, sizeof p, "%s/%s", dir, name);
	assert_int_equal(fs_write_atomic(p, text, strlen(text), &err), 0);
}

/* The compiler reads a stranger's sources: what check 1 would refuse (an
 * absolute #include, an .incbin) the build alone lets through, and the
 * box (buildbox.h) must then keep the tools to the recipe, the harness and
 * the system. A file beside the cache, under the same user, is out of
 * reach; the same bytes inside the recipe's folder build. */
static void the_compiler_reads_only_the_recipe(void **st)
{
	/* each form, and what its tool says when refused: the assembler
	 * reads from a pipe, and names no file of the builder's */
	static const char *const forms[][3] = {
		{ "#include \"%s/secret.h\"\nint karpa_probe(void) { return KARPA_SECRET; }\n", "Permission denied",
		  NULL },
		{ "__asm__(\".pushsection .rodata\\n.incbin \\\"%s/secret.h\\\"\\n.popsection\");\n",
		  "Error: file not found", "{standard input}" },
	};
	const char *secret = "#define KARPA_SECRET 7\n";
	char priv[FS_PATH_MAX], dir[FS_PATH_MAX], src[2 * FS_PATH_MAX];
	struct recipe_build_info bi;
	struct kerr err;

	(void)st;
	if (!ll_abi())
		skip(); /* a kernel without Landlock builds unconfined: docs/sandbox.md */
	snprintf(priv, sizeof priv, "%s/private", work);
	assert_int_equal(fs_mkdir_p(priv, &err), 0);
	write_in(priv, "secret.h", secret);
	for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
		char name[32];

		snprintf(name, sizeof name, "reach%zu", i);
		snprintf(src, sizeof src, forms[i][0], priv);
		expect_build_refused(name, src, "recipe.build_failed", forms[i][1], forms[i][2]);
		/* the same bytes in the recipe's own folder: the form itself builds */
		snprintf(dir, sizeof dir, "%s/%s", work, name);
		write_in(dir, "secret.h", secret);
		snprintf(src, sizeof src, forms[i][0], dir);
		snprintf(name + strlen(name), sizeof name - strlen(name), ".c");
		write_in(dir, name, src);
		if (recipe_build(dir, &bi, &err) < 0)
			fail_msg("%s inside the recipe: %s: %s", name, err.code, err.msg);
	}
	/* of /etc, the box grants what the tools read (the loader's cache),
	 * not the rest: an error line would carry a file's text out */
	expect_build_refused("etc", "#include \"/etc/passwd\"\nint karpa_probe(void) { return 0; }\n",
			     "recipe.build_failed", "Permission denied", NULL);
}

static int build_reused(const char *dir)
{
	struct recipe_build_info bi;
	struct kerr err;

	if (recipe_build(dir, &bi, &err) < 0)
		fail_msg("%s: %s: %s", dir, err.code, err.msg);
	assert_int_equal(bi.cached, 0);
	return bi.objects_reused;
}

/* A patch that touches one .c file recompiles that file only: the harness's
 * six objects and the untouched recipe file come from the object cache. A
 * changed header, or a .c file included by name, recompiles everything. */
static void objects_are_reused_per_file(void **st)
{
	char a[FS_PATH_MAX], b[FS_PATH_MAX], c[FS_PATH_MAX], d[FS_PATH_MAX];

	(void)st;
	snprintf(a, sizeof a, "%s/obj-a", work);
	snprintf(b, sizeof b, "%s/obj-b", work);
	snprintf(c, sizeof c, "%s/obj-c", work);
	snprintf(d, sizeof d, "%s/obj-d", work);
	copy_bigram(a);
	write_in(a, "extra.c", "int extra_value(void) { return 1; }\n");
	/* extra.c is new; the rest may come from the first case's build */
	assert_true(build_reused(a) <= 7);
	copy_bigram(b);
	write_in(b, "extra.c", "int extra_value(void) { return 2; }\n");
	assert_int_equal(build_reused(b), 7);
	copy_bigram(c);
	write_in(c, "extra.c", "int extra_value(void) { return 3; }\n");
	write_in(c, "extra.h", "#define EXTRA 3\n");
	assert_int_equal(build_reused(c), 0);
	copy_bigram(d);
	write_in(d, "extra.c", "#include \"more.c\"\nint extra_value(void) { return MORE; }\n");
	write_in(d, "more.c", "#define MORE 4\n");
	assert_int_equal(build_reused(d), 0);
	write_in(d, "more.c", "#define MORE 5\n");
	assert_int_equal(build_reused(d), 0);
}

static int elf_machine(const char *path)
{
	Elf64_Ehdr eh;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(read(fd, &eh, sizeof eh), (ssize_t)sizeof eh);
	close(fd);
	assert_memory_equal(eh.e_ident, ELFMAG, SELFMAG);
	return eh.e_machine;
}

/* The same folder built natively and for aarch64: two runners, two cache
 * keys, each for its ISA; the aarch64 one creates, trains (two steps) and
 * gives logits (through OpenBLAS) under qemu-aarch64, and again after a
 * respawn, which must start it the same way. */
static void aarch64_runner_for_a_prover(void **st)
{
	char dir[FS_PATH_MAX];
	struct recipe_build_info nat, arm, again;
	const char *launch[RECIPE_LAUNCHER_WORDS];
	struct kr_env env = { .seed = 3, .threads = 2, .vocab_size = 64, .scale = "tiny" };
	struct kr_plan plan;
	struct recipe_host h;
	struct kerr err;
	uint16_t *tok;
	float loss, lr, *logits;
	size_t nt;

	(void)st;
	snprintf(dir, sizeof dir, "%s/cross", work);
	copy_bigram(dir);
	if (recipe_build(dir, &nat, &err) < 0 || recipe_build_isa(dir, "aarch64", &arm, &err) < 0)
		fail_msg("%s: %s (scripts/setup.sh installs the aarch64 toolchain and libraries)", err.code, err.msg);
	assert_string_equal(nat.isa, recipe_build_native_isa());
	assert_string_equal(nat.emulator, "");
	recipe_build_launcher(&nat, launch);
	assert_null(launch[0]);
	assert_string_equal(arm.isa, "aarch64");
	assert_string_not_equal(arm.source_digest, nat.source_digest);
	assert_string_not_equal(arm.runner, nat.runner);
	assert_int_equal(elf_machine(arm.runner), EM_AARCH64);
	assert_int_equal(elf_machine(nat.runner), strcmp(nat.isa, "x86_64") ? EM_AARCH64 : EM_X86_64);
	assert_non_null(strstr(arm.compiler, "aarch64"));
	assert_non_null(strstr(arm.flags, "-DKARPA_PORTABLE"));
	assert_null(strstr(arm.flags, "-mavx2"));
	assert_true(arm.emulator[0] == '/' && access(arm.emulator, X_OK) == 0);
	assert_non_null(strstr(arm.emulator_version, "qemu"));
	assert_int_equal(recipe_build_isa(dir, "aarch64", &again, &err), 0);
	assert_int_equal(again.cached, 1);
	assert_string_equal(again.runner, arm.runner);
	recipe_build_launcher(&arm, launch);
	assert_string_equal(launch[0], arm.emulator);
	assert_null(launch[3]);
	assert_int_equal(recipe_host_pipe_launched(&h, launch, arm.runner, &err), 0);
	for (int round = 0; round < 2; round++) {
		if (round && h.respawn(&h, &err) < 0)
			fail_msg("respawn: %s: %s", err.code, err.msg);
		if (recipe_host_create(&h, &env, &plan, &err) < 0)
			fail_msg("create under the emulator: %s: %s", err.code, err.msg);
		nt = (size_t)plan.batch * (size_t)(plan.seq_len + 1);
		tok = calloc(nt, sizeof *tok);
		logits = calloc((size_t)plan.seq_len * (size_t)env.vocab_size, sizeof *logits);
		assert_true(tok && logits);
		for (size_t i = 0; i < nt; i++)
			tok[i] = (uint16_t)((i * 37u + i % 5u) % (unsigned)env.vocab_size);
		for (int s = 0; s < 2; s++)
			assert_int_equal(h.train_step(&h, s, tok, &loss, &lr, &err), 0);
		assert_true(isfinite(loss) && loss > 0);
		assert_int_equal(h.logits(&h, tok, 1, plan.seq_len, logits, &err), 0);
		assert_true(isfinite(logits[0]));
		free(tok);
		free(logits);
	}
	recipe_host_destroy(&h);
}

/* A GPU runner from the source tree's recipe: its top-level files but
 * recipe.c, and its cuda/ part with nvcc; an executable, cached under a key
 * of its own, linked against cuBLASLt. It cannot run here (no GPU: that is
 * bench/gpu.sh's); a recipe without a CUDA part is refused. Skipped where
 * karpa was built without the CUDA toolkit. */
static void cuda_runner_from_a_recipe_folder(void **st)
{
	char dir[FS_PATH_MAX], own[FS_PATH_MAX];
	struct recipe_build_info gpu, again, cpu;
	struct kerr err;

	(void)st;
	snprintf(own, sizeof own, "%s/recipe", recipe_build_src_dir());
	if (recipe_build_cuda(own, &gpu, &err) < 0) {
		if (!strcmp(err.code, "recipe.no_cuda_tools")) {
			print_message("   %s\n", err.msg);
			skip();
		}
		fail_msg("%s: %s", err.code, err.msg);
	}
	assert_int_equal(gpu.cuda, 1);
	assert_non_null(strstr(gpu.nvcc, "release"));
	assert_non_null(strstr(gpu.runner, "karpa-recipe-cuda"));
	assert_int_equal(elf_machine(gpu.runner), strcmp(gpu.isa, "x86_64") ? EM_AARCH64 : EM_X86_64);
	assert_int_equal(recipe_build_cuda(own, &again, &err), 0);
	assert_int_equal(again.cached, 1);
	assert_string_equal(again.runner, gpu.runner);
	/* the CPU build of the same folder is another runner */
	assert_int_equal(recipe_build(own, &cpu, &err), 0);
	assert_int_equal(cpu.cuda, 0);
	assert_string_not_equal(cpu.source_digest, gpu.source_digest);
	snprintf(dir, sizeof dir, "%s/no-cuda", work);
	copy_bigram(dir);
	assert_int_equal(recipe_build_cuda(dir, &again, &err), -1);
	assert_string_equal(err.code, "recipe.no_cuda");

	/* A patched CUDA part (a kernel file changed, as a patch to cuda/ may)
	 * passes check 1 and builds: that file alone is compiled again. */
	{
		char out[256], patched[FS_PATH_MAX], kernels[FS_PATH_MAX + 32];
		struct recipe_build_info p;
		const char *add = "\n/* a patch's kernel */\n"
				  "__global__ void probe_add(float *x, int n)\n{\n"
				  "\tint i = blockIdx.x * blockDim.x + threadIdx.x;\n\tif (i < n)\n\t\tx[i] += 1.0f;\n}\n";
		int fd;

		snprintf(patched, sizeof patched, "%s/patched", work);
		assert_int_equal(tu_run(out, sizeof out, "cp -r '%s' '%s'", own, patched), 0);
		snprintf(kernels, sizeof kernels, "%s/cuda/gk_kernels.cu", patched);
		fd = open(kernels, O_WRONLY | O_APPEND);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, add, strlen(add)), (ssize_t)strlen(add));
		close(fd);
		if (diffscan_tree(patched, &err) < 0)
			fail_msg("check 1 on the patched CUDA part: %s: %s", err.code, err.msg);
		if (recipe_build_cuda(patched, &p, &err) < 0)
			fail_msg("%s: %s", err.code, err.msg);
		assert_int_equal(p.cached, 0);
		assert_string_not_equal(p.source_digest, gpu.source_digest);
		print_message("   patched CUDA part: %d objects reused\n", p.objects_reused);
		assert_true(p.objects_reused > 0);
	}
}

/* Only the ISAs in the table; a launcher's first word is an absolute path. */
static void unknown_isas_and_launchers_are_refused(void **st)
{
	char dir[FS_PATH_MAX];
	struct recipe_build_info bi;
	struct recipe_host h;
	struct kerr err;
	const char *relative[] = { "qemu-aarch64", NULL };

	(void)st;
	snprintf(dir, sizeof dir, "%s/isa", work);
	copy_bigram(dir);
	assert_int_equal(recipe_build_isa(dir, "riscv64", &bi, &err), -1);
	assert_string_equal(err.code, "recipe.bad_isa");
	assert_int_equal(recipe_host_pipe_launched(&h, relative, "/bin/true", &err), -1);
	assert_string_equal(err.code, "recipe.spawn");
}

/* PATH, KARPA_CACHE and KARPA_RUNNER as they were before a test that
 * changes them, put back even when it fails. */
static char *saved_env[3];
static const char *const saved_names[3] = { "PATH", "KARPA_CACHE", "KARPA_RUNNER" };

static int save_env(void **st)
{
	(void)st;
	for (int i = 0; i < 3; i++)
		saved_env[i] = getenv(saved_names[i]) ? strdup(getenv(saved_names[i])) : NULL;
	return 0;
}

static int restore_env(void **st)
{
	(void)st;
	for (int i = 0; i < 3; i++) {
		if (saved_env[i])
			setenv(saved_names[i], saved_env[i], 1);
		else
			unsetenv(saved_names[i]);
		free(saved_env[i]);
		saved_env[i] = NULL;
	}
	return 0;
}

/* Missing tools are the machine's trouble, not the recipe's: said as such
 * before anything is hashed, compiled or cached (the cache folder is not
 * even made), and so is a runner that is not where it is looked for. */
static void missing_tools_and_runner_are_named(void **st)
{
	char dir[FS_PATH_MAX], empty[FS_PATH_MAX], cache[FS_PATH_MAX], runner[FS_PATH_MAX];
	struct recipe_build_info bi;
	struct kerr err;

	(void)st;
	snprintf(dir, sizeof dir, "%s/tools", work);
	copy_bigram(dir);
	snprintf(empty, sizeof empty, "%s/empty-bin", work);
	assert_int_equal(fs_mkdir_p(empty, &err), 0);
	snprintf(cache, sizeof cache, "%s/untouched-cache", work);
	setenv("KARPA_CACHE", cache, 1);
	setenv("PATH", empty, 1);
	assert_int_equal(recipe_build(dir, &bi, &err), -1);
	assert_string_equal(err.code, "recipe.no_build_tools");
	if (strcmp(recipe_build_native_isa(), "aarch64")) {
		assert_int_equal(recipe_build_isa(dir, "aarch64", &bi, &err), -1);
		assert_string_equal(err.code, "recipe.no_cross_tools");
	}
	assert_false(fs_exists(cache));

	snprintf(runner, sizeof runner, "%s/no-such-runner", work);
	setenv("KARPA_RUNNER", runner, 1);
	assert_int_equal(recipe_default_runner(runner, sizeof runner, &err), -1);
	assert_string_equal(err.code, "recipe.no_runner");
	assert_non_null(strstr(err.msg, "no-such-runner"));
	/* a file that is there but cannot be run is no runner either */
	snprintf(runner, sizeof runner, "%s/tools/bigram.c", work);
	setenv("KARPA_RUNNER", runner, 1);
	assert_int_equal(recipe_default_runner(runner, sizeof runner, &err), -1);
	assert_string_equal(err.code, "recipe.no_runner");
}

static int setup(void **st)
{
	(void)st;
	hash_init_lib();
	/* A cache of its own: what the test counts as reused is its own doing. */
	work = tu_mkdtemp_own_cache();
	return 0;
}

static int teardown(void **st)
{
	(void)st;
	tu_rmdir(work);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(odd_folder_names_build_without_a_shell),
		cmocka_unit_test(harness_names_are_known),
		cmocka_unit_test(api_symbols_match_the_header),
		cmocka_unit_test(compile_errors_are_reported),
		cmocka_unit_test(a_build_has_a_budget),
		cmocka_unit_test(the_compiler_reads_only_the_recipe),
		cmocka_unit_test(objects_are_reused_per_file),
		cmocka_unit_test(aarch64_runner_for_a_prover),
		cmocka_unit_test(unknown_isas_and_launchers_are_refused),
		cmocka_unit_test_setup_teardown(missing_tools_and_runner_are_named, save_env, restore_env),
		cmocka_unit_test(cuda_runner_from_a_recipe_folder),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
