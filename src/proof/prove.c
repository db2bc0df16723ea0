/* prove.c: the proof test (PROTOCOL 4). Every step's output goes into a
 * private work folder beside the bundle; the bundle is assembled in a
 * staging folder and renamed into place only after it is sealed (and the
 * optional tar packed from it). A failure at any step leaves neither a
 * bundle, nor a tar, nor the work folder. */
#include "proof/prove.h"

#include <archive.h>
#include <dirent.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "data/bpe.h"
#include "data/dataset.h"
#include "harness/blas_dl.h"
#include "harness/gpuinfo.h"
#include "sandbox/recipe_build.h"
#include "sandbox/runbox.h"
#include "harness/scale.h"
#include "harness/train.h"
#include "proof/attest.h"
#include "proof/bundle.h"
#include "proof/device.h"
#include "proof/keys.h"
#include "judge/plausible.h"
#include "proof/reciperepo.h"
#include "util/fsutil.h"
#include "util/log.h"

static void say(const struct prove_opts *o, const char *fmt, const char *arg)
{
	if (o->progress) {
		char line[LOG_LINE_MAX];
		snprintf(line, sizeof line, fmt, arg);
		log_msg(LOG_PROGRESS, "prove", "%s", line);
	}
}

static void cpu_model(char *out, size_t cap)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];

	snprintf(out, cap, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		if (!strncmp(line, "model name", 10)) {
			char *v = strchr(line, ':');
			if (v) {
				v += 1 + strspn(v + 1, " \t");
				v[strcspn(v, "\n")] = '\0';
				snprintf(out, cap, "%s", v);
			}
			break;
		}
	}
	fclose(f);
}

/* What built and ran the proof (PROTOCOL 4.2). runner_isa is the ISA the
 * recipe ran on; a runner built for another ISA than the machine's names
 * the emulator that ran it (docs/determinism.md). */
/* A GPU proof's device (proof/device.h): the GPU, the toolkit that built
 * the runner and the algorithms its products ran with; a bitwise replay
 * needs the same GPU and pins the same algorithms (docs/gpu.md). */
static json_t *environment_json(const struct recipe_build_info *bi, const char *blas_config,
				 const struct gpuinfo *g, const char *gemm)
{
	char cpu[256];
	struct utsname u;
	json_t *env;

	cpu_model(cpu, sizeof cpu);
	if (uname(&u) < 0)
		memset(&u, 0, sizeof u);
	env = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:{s:s, s:s, s:s, s:s}}", "compiler", bi->compiler,
			 "flags", bi->flags, "recipe_source_sha256", bi->source_digest, "cpu", cpu, "cpus",
			 (json_int_t)sysconf(_SC_NPROCESSORS_ONLN), "kernel", u.release, "libs", "libsodium",
			 sodium_version_string(), "openblas", blas_config, "jansson", JANSSON_VERSION,
			 "libarchive", archive_version_string());
	if (env)
		json_object_set_new(env, "runner_isa", json_string(bi->isa));
	if (env && bi->emulator[0])
		json_object_set_new(env, "runner_emulator", json_string(bi->emulator_version));
	if (env && bi->cuda)
		json_object_set_new(env, "device", device_json(g, bi->nvcc, gemm));
	return env;
}

static json_t *calib_json(const struct calib *c)
{
	return json_pack("{s:i, s:f, s:f, s:f, s:f}", "threads", c->threads, "median_ms", c->median_ms, "min_ms",
			 c->min_ms, "max_ms", c->max_ms, "gflops", c->gflops);
}

/* A GPU proof is calibrated by the GPU calibration alone: the CPU's SGEMM
 * says nothing about how fast the GPU trains (docs/calibration.md). */
static const struct calib_ref *proof_ref(const struct prove_opts *o)
{
	return o->cuda ? &calib_ref_gpu : &calib_ref_cpu;
}

static double before_ms(const struct prove_opts *o, const struct prove_result *r)
{
	return o->cuda ? r->gpu_before.median_ms : r->before.median_ms;
}

static double after_ms(const struct prove_opts *o, const struct prove_result *r)
{
	return o->cuda ? r->gpu_after.median_ms : r->after.median_ms;
}

/* One calibration of the proof's machine: the fixed SGEMM, or the GPU
 * calibration program (tool) for a GPU proof. */
static int calibrate(const struct prove_opts *o, const char *tool, struct calib *c, struct gpucalib *g,
		     struct kerr *err)
{
	return o->cuda ? gpucalib_run(tool, g, err) : calib_measure(o->threads, c, err);
}

static int write_json_file(const char *path, json_t *j, struct kerr *err)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
	int rc;

	if (!s)
		return kerr_set(err, "prove.nomem", "cannot encode %s", path);
	rc = fs_write_atomic(path, s, strlen(s), err);
	free(s);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The run's intermediate checkpoint names, sorted (= step order). */
static int list_intermediates(const char *dir, char ***names, int *n, struct kerr *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	*names = NULL;
	*n = 0;
	if (!d)
		return kerr_errno(err, "prove.run", dir);
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "step_", 5))
			continue;
		char **p = realloc(*names, (size_t)(*n + 1) * sizeof **names);
		if (!p) {
			closedir(d);
			return kerr_set(err, "prove.nomem", "out of memory");
		}
		*names = p;
		if (!((*names)[*n] = strdup(e->d_name))) {
			closedir(d);
			return kerr_set(err, "prove.nomem", "out of memory");
		}
		(*n)++;
	}
	closedir(d);
	if (*n)
		qsort(*names, (size_t)*n, sizeof **names, cmp_str);
	return 0;
}

struct work {
	char dir[FS_PATH_MAX], recipe[FS_PATH_MAX], run[FS_PATH_MAX];
};

static int build_and_train(const struct prove_opts *o, const struct work *w, struct recipe_build_info *bi,
			   struct train_result *tr, struct prove_result *r, struct kerr *err)
{
	struct recipe_host host;
	struct runbox rb;
	struct train_opts to = { .data_dir = o->data, .scale = o->scale, .out_dir = w->run, .seed = o->seed,
				 .threads = o->threads, .progress = o->progress, .plot = o->progress };
	struct recipe_build_info tool;
	int rc;

	say(o, "building the patched recipe (pinned flags, for %s)",
	    o->cuda ? "the GPU" : o->runner_isa ? o->runner_isa : recipe_build_native_isa());
	if ((o->cuda ? recipe_build_cuda(w->recipe, bi, err) : recipe_build_isa(w->recipe, o->runner_isa, bi, err)) < 0)
		return -1;
	memset(&tool, 0, sizeof tool);
	tool.pin = -1;
	if (o->cuda) {
		say(o, "building the GPU calibration (%s)", "bf16 GEMM through cuBLASLt");
		if (recipe_build_gpucalib(&tool, err) < 0)
			return -1;
	}
	say(o, "calibrating: %s", o->cuda ? "bf16 GEMM on the GPU, median of repeats" : "fixed SGEMM, median of repeats");
	if (calibrate(o, tool.runner, &r->before, &r->gpu_before, err) < 0)
		goto fail;
	say(o, "training under seed and budget (%s)", o->scale);
	/* The king's code is every past winner's, and the patch may be a
	 * proposer's: neither is the miner's to trust (docs/sandbox.md). */
	if (runbox_spawn(&rb, bi, o->threads, o->no_sandbox ? RUNBOX_OFF : RUNBOX_ON, &host, err) < 0)
		goto fail;
	to.on_fail = runbox_explain;
	to.on_fail_arg = &rb;
	rc = train_run(&to, &host, tr, err); /* destroys host */
	runbox_describe(&rb, r->sandbox, sizeof r->sandbox);
	runbox_free(&rb);
	if (rc < 0)
		goto fail;
	say(o, "the recipe ran %s", r->sandbox);
	say(o, "calibrating again: %s", "after training");
	rc = calibrate(o, tool.runner, &r->after, &r->gpu_after, err);
	recipe_build_release(&tool);
	return rc;
fail:
	recipe_build_release(&tool);
	return -1;
}

/* Budget (PROTOCOL 4.3): the recipe's training time against the ceiling,
 * calibrated by the slower of the two measurements (calib_budget, the rule
 * the judge applies), at this machine's tier: an unverified proof's time
 * counts 1 / alpha, double (PROTOCOL 4). The judge's other budget rules,
 * the model-FLOPs cap among them, run on the sealed bundle (judge_preview),
 * at the tier the sealed evidence earns. */
static int check_budget(const struct prove_opts *o, const struct train_result *tr, struct prove_result *r,
			double budget, struct kerr *err)
{
	struct calib_budget cb;

	calib_budget(proof_ref(o), budget, before_ms(o, r), after_ms(o, r), &cb);
	r->train_s = tr->train_ms / 1e3;
	r->allowed_s = cb.allowed_s * r->alpha;
	if (r->train_s > r->allowed_s)
		return kerr_set(err, "prove.over_budget",
				"training took %.1f s, the budget of %g units allows %.1f s on this machine "
				"(calibration %.2f ms vs reference %.2f ms%s): declare fewer steps",
				r->train_s, budget, r->allowed_s, cb.calib_ms, proof_ref(o)->ref_ms,
				r->alpha < 1.0 ? "; halved: an unverified proof's compute counts double" : "");
	return 0;
}

/* The judge's log plausibility check (the calibrations' agreement, the
 * budget in time and in model FLOPs, the physical limit) on the sealed
 * bundle, before anything is packed or renamed: a proof validators would
 * refuse is refused here, with the judge's reason code. */
static int judge_preview(const struct prove_opts *o, const char *dir, double alpha, struct kerr *err)
{
	struct dataset d;
	struct plausible_report pr;
	int rc;

	if (dataset_open(o->data, &d, err) < 0)
		return -1;
	rc = plausible_check(dir, bpe_vocab_size(d.tok), alpha, &pr, err);
	dataset_close(&d);
	if (rc < 0) {
		kerr_prefix(err, "validators would refuse this proof");
		return -1;
	}
	plausible_report_free(&pr);
	return 0;
}

/* Held checkpoint names[i] (i < n - 1, all but the last): moved into the
 * work folder's held/ (renamed to OUT.held once the bundle is), listed in
 * held with the size and the digest the log records for it. */
static int hold_one(const struct work *w, const char *name, const struct bundle_ckpt_rec *rec, int nrec, json_t *held,
		    struct kerr *err)
{
	char src[FS_PATH_MAX], dst[FS_PATH_MAX], rel[BUNDLE_NAME_MAX + 1];
	struct stat sb;
	int64_t step;
	int j;

	snprintf(rel, sizeof rel, "checkpoints/%s", name);
	step = bundle_ckpt_step(rel);
	for (j = 0; j < nrec && rec[j].step != step; j++)
		;
	if (step < 0 || j == nrec)
		return kerr_set(err, "prove.run", "%s: the log records no checkpoint of this name", name);
	/* moved, not copied: the run folder is this proof's own and goes with
	 * it, and at gpu-254m a copy would be 3 GB a checkpoint */
	if (fs_join(src, sizeof src, err, "%s/checkpoints/%s", w->run, name) < 0 ||
	    fs_join(dst, sizeof dst, err, "%s/held/%s", w->dir, rel) < 0)
		return -1;
	if (rename(src, dst) < 0)
		return kerr_errno(err, "prove.io", dst);
	if (stat(dst, &sb) < 0)
		return kerr_errno(err, "prove.run", dst);
	json_object_set_new(held, rel, json_pack("{s:I, s:s}", "bytes", (json_int_t)sb.st_size, "sha256", rec[j].sha));
	return 0;
}

static int stage_files(const struct prove_opts *o, const struct work *w, const char *stage,
		       const struct train_result *tr, const struct prove_result *r, double budget,
		       json_t **keep_out, json_t **held_out, struct kerr *err)
{
	char src[FS_PATH_MAX], dst[FS_PATH_MAX], **names = NULL;
	int n = 0, nrec = 0, rc = -1, hold = o->hold == PROVE_HOLD_BY_SCALE ? scale_on_gpu(o->scale) : o->hold;
	struct bundle_ckpt_rec *rec = NULL;
	json_t *cal = NULL, *keep = json_array(), *held = json_object();

	if (fs_join(dst, sizeof dst, err, "%s/patch.diff", stage) < 0 || fs_copy_file(o->patch, dst, err) < 0 ||
	    fs_join(dst, sizeof dst, err, "%s/rationale.md", stage) < 0 ||
	    fs_copy_file(o->rationale, dst, err) < 0 ||
	    fs_join(src, sizeof src, err, "%s/train.log", w->run) < 0 ||
	    fs_join(dst, sizeof dst, err, "%s/train.log", stage) < 0 || fs_copy_file(src, dst, err) < 0 ||
	    fs_join(dst, sizeof dst, err, "%s/checkpoints", stage) < 0 || fs_mkdir_p(dst, err) < 0 ||
	    fs_join(src, sizeof src, err, "%s/final.ckpt", w->run) < 0 ||
	    fs_join(dst, sizeof dst, err, "%s/checkpoints/final.ckpt", stage) < 0 || fs_copy_file(src, dst, err) < 0)
		goto out;
	/* A GPU calibration says so, and which GPU; each measurement keeps
	 * the program's line (n and repeats in it). */
	if (o->cuda)
		cal = json_pack("{s:s, s:s, s:o, s:o, s:f, s:f, s:f, s:f}", "device", calib_ref_gpu.device, "gpu",
				r->gpu_before.gpu, "before", gpucalib_json(&r->gpu_before), "after",
				gpucalib_json(&r->gpu_after), "ref_ms", CALIB_GPU_REF_MS, "budget_units", budget,
				"allowed_s", r->allowed_s, "train_s", r->train_s);
	else
		cal = json_pack("{s:o, s:o, s:f, s:f, s:f, s:f, s:i, s:i}", "before", calib_json(&r->before), "after",
				calib_json(&r->after), "ref_ms", CALIB_REF_MS, "budget_units", budget, "allowed_s",
				r->allowed_s, "train_s", r->train_s, "n", CALIB_N, "repeats", CALIB_REPEATS);
	if (fs_join(dst, sizeof dst, err, "%s/calibration.json", stage) < 0 || write_json_file(dst, cal, err) < 0)
		goto out;
	/* Every intermediate is kept or held: which segments are replayed is
	 * drawn by the validator after submission (PROTOCOL 5.5). Held, all but
	 * the last wait in OUT.held for the validator to ask for them. */
	if (fs_join(src, sizeof src, err, "%s/checkpoints", w->run) < 0 || list_intermediates(src, &names, &n, err) < 0)
		goto out;
	if (hold && n > 1) {
		if (fs_join(src, sizeof src, err, "%s/train.log", w->run) < 0 ||
		    bundle_log_checkpoints(src, &rec, &nrec, err) < 0 ||
		    fs_join(dst, sizeof dst, err, "%s/held/checkpoints", w->dir) < 0 || fs_mkdir_p(dst, err) < 0)
			goto out;
	}
	for (int i = 0; i < n; i++) {
		if (hold && i < n - 1) {
			if (hold_one(w, names[i], rec, nrec, held, err) < 0)
				goto out;
			continue;
		}
		if (fs_join(src, sizeof src, err, "%s/checkpoints/%s", w->run, names[i]) < 0 ||
		    fs_join(dst, sizeof dst, err, "%s/checkpoints/%s", stage, names[i]) < 0 ||
		    fs_copy_file(src, dst, err) < 0)
			goto out;
		json_array_append_new(keep, json_integer(i));
	}
	*keep_out = keep;
	*held_out = held;
	keep = held = NULL;
	rc = 0;
out:
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(rec);
	json_decref(cal);
	json_decref(keep);
	json_decref(held);
	return rc;
}

static json_t *manifest_body(const struct prove_opts *o, const char *commit, const char *patch_hex,
			     const struct keys *k, const struct recipe_build_info *bi, const struct train_result *tr,
			     const struct prove_result *r, double budget, const char *blas_config,
			     const struct gpuinfo *g, json_t *keep, json_t *held)
{
	json_t *m = json_pack("{s:i, s:s, s:{s:s, s:s}, s:s, s:s, s:{s:I, s:s, s:i, s:f, s:s, s:s}, s:o,"
			 " s:{s:f, s:f, s:f, s:f}, s:{s:I, s:I, s:I, s:f, s:f, s:f, s:s, s:s, s:s},"
			 " s:{s:s}, s:o}",
			 "protocol", BUNDLE_PROTOCOL, "kind", "karpa-bundle", "king", "tag", o->king, "commit", commit,
			 "patch_sha256", patch_hex, "miner", k->pk_hex, "config", "seed", (json_int_t)o->seed, "scale",
			 o->scale, "threads", o->threads, "budget_units", budget, "data_manifest_sha256",
			 tr->data_digest, "tokenizer_sha256", tr->tokenizer_digest, "environment",
			 environment_json(bi, blas_config, g, tr->gemm), "calibration", "before_ms", before_ms(o, r), "after_ms",
			 after_ms(o, r), "ref_ms", proof_ref(o)->ref_ms, "allowed_s", r->allowed_s, "results", "steps",
			 (json_int_t)tr->steps, "tokens", (json_int_t)tr->tokens, "params", (json_int_t)tr->params,
			 "train_s", r->train_s, "val_bpb", tr->val.val_bpb, "val_loss", tr->val.loss, "final_ckpt",
			 "checkpoints/final.ckpt", "recipe", tr->recipe, "recipe_version", tr->recipe_version, "log",
			 "head", tr->log_head, "keep", keep);

	/* held only when there are any: a bundle keeping every checkpoint is
	 * the same bytes it was before checkpoints could be held */
	if (m && json_object_size(held))
		json_object_set(m, "held", held);
	json_decref(held);
	return m;
}

/* The digest and attestation kind of the sealed manifest in dir. */
static int read_sealed(const char *dir, struct prove_result *r, struct kerr *err)
{
	char path[FS_PATH_MAX], *text = NULL;
	size_t len;
	json_t *a;
	const char *kind;

	if (fs_join(path, sizeof path, err, "%s/%s", dir, BUNDLE_MANIFEST) < 0 ||
	    fs_read_all(path, BUNDLE_MANIFEST_BYTES_MAX, &text, &len, err) < 0)
		return -1;
	hash_buf_hex(text, len, r->manifest_sha256);
	a = json_loadb(text, len, 0, NULL);
	kind = json_string_value(json_object_get(json_object_get(a, "attestation"), "kind"));
	snprintf(r->attest_kind, sizeof r->attest_kind, "%s", kind ? kind : "?");
	json_decref(a);
	free(text);
	return 0;
}

int prove_run(const struct prove_opts *o, struct prove_result *r, struct kerr *err)
{
	struct keys k;
	struct work w;
	struct recipe_build_info bi;
	struct train_result tr;
	struct fs_stage st = { 0 };
	struct attest_opts ao = { .tsm_root = o->tsm_root, .force_mock = o->force_mock, .progress = o->progress };
	const struct scale *sc;
	const struct blas_dl *blas;
	struct gpuinfo gpu = { 0, "", "" };
	char commit[RECIPEREPO_COMMIT_HEX], patch_hex[HASH_HEX_BYTES], *patch = NULL, *rationale = NULL;
	struct reciperepo_parts parts;
	size_t patch_len, rat_len;
	double budget, t0 = (double)time(NULL);
	json_t *m = NULL, *keep = NULL, *held = NULL;
	char held_dir[FS_PATH_MAX], held_src[FS_PATH_MAX];
	int rc = -1, have_work = 0, have_tar = 0;

	memset(r, 0, sizeof *r);
	memset(&k, 0, sizeof k);
	memset(&bi, 0, sizeof bi);
	bi.pin = -1; /* the patched recipe's runner, pinned until the proof is sealed */
	if (!(sc = scale_find(o->scale, err)))
		return -1;
	budget = o->budget_units > 0 ? o->budget_units : sc->budget_units;
	/* The gpu-* scales are the CUDA part's (PROTOCOL 8); a GPU proof is made
	 * on a GPU this machine has, and records which. */
	if (!o->cuda && scale_on_gpu(o->scale))
		return kerr_set(err, "prove.device", "the %s scale trains on a GPU: add --device cuda", o->scale);
	if (o->cuda && o->runner_isa)
		return kerr_set(err, "prove.device", "--device cuda builds for this machine's GPU: drop --runner-isa");
	if (o->cuda && gpuinfo_read(NULL, &gpu, err) < 0)
		return -1;
	if (o->cuda && gpu.count == 0)
		return kerr_set(err, "prove.no_gpu",
				"--device cuda: this machine has no NVIDIA GPU (no driver in /proc/driver/nvidia)");
	/* Cheap checks first: a missing key or a bad patch must not cost a build. */
	if (keys_load(o->key, &k, err) < 0 || blas_dl_get(&blas, err) < 0)
		goto out;
	if (fs_exists(o->out)) {
		kerr_set(err, "prove.out_exists", "%s already exists: choose another --out", o->out);
		goto out;
	}
	/* Same rule for the transport file, so that a failed proof removes only
	 * a tar it wrote itself. */
	if (o->tar && fs_exists(o->tar)) {
		kerr_set(err, "prove.out_exists", "%s already exists: choose another --tar", o->tar);
		goto out;
	}
	if (fs_join(held_dir, sizeof held_dir, err, "%s%s", o->out, PROVE_HELD_SUFFIX) < 0)
		goto out;
	if (fs_exists(held_dir)) {
		kerr_set(err, "prove.out_exists", "%s already exists (an earlier proof's held checkpoints): choose another --out",
			 held_dir);
		goto out;
	}
	if (fs_read_all(o->patch, RECIPEREPO_PATCH_BYTES_MAX, &patch, &patch_len, err) < 0 ||
	    reciperepo_patch_parts(patch, patch_len, &parts, err) < 0 || reciperepo_parts_fit(&parts, o->scale, err) < 0)
		goto out;
	if (fs_read_all(o->rationale, PROVE_RATIONALE_BYTES_MAX, &rationale, &rat_len, err) < 0)
		goto out;
	if (rat_len == 0) {
		kerr_set(err, "prove.no_rationale", "%s: the rationale is empty; say why the patch should help",
			 o->rationale);
		goto out;
	}
	hash_buf_hex(patch, patch_len, patch_hex);
	/* The tier is known before any training: the budget it leaves is what
	 * the run is held to (check_budget). */
	{
		char kind[32];

		if (attest_detect(&ao, kind, err) < 0)
			goto out;
		r->alpha = attest_kind_alpha(kind, o->cuda);
	}
	if (reciperepo_resolve(o->recipe_repo, o->king, commit, err) < 0)
		goto out;
	if (fs_join(w.dir, sizeof w.dir, err, "%s.work.%ld", o->out, (long)getpid()) < 0 ||
	    fs_join(w.recipe, sizeof w.recipe, err, "%s/recipe", w.dir) < 0 ||
	    fs_join(w.run, sizeof w.run, err, "%s/run", w.dir) < 0)
		goto out;
	fs_rm_rf(w.dir);
	if (fs_mkdir_p(w.dir, err) < 0) {
		kerr_prefix(err, "--out %s: cannot create the work folder beside it", o->out);
		goto out;
	}
	have_work = 1;
	say(o, "checking out %s and applying the patch", o->king);
	if (reciperepo_export(o->recipe_repo, o->king, w.recipe, err) < 0 ||
	    reciperepo_apply(w.recipe, o->patch, err) < 0)
		goto out;
	if (build_and_train(o, &w, &bi, &tr, r, err) < 0 || check_budget(o, &tr, r, budget, err) < 0)
		goto out;
	say(o, "writing the bundle %s", o->out);
	if (fs_stage_begin(&st, o->out, err) < 0 || stage_files(o, &w, st.tmp, &tr, r, budget, &keep, &held, err) < 0)
		goto out;
	r->held = (int)json_object_size(held);
	m = manifest_body(o, commit, patch_hex, &k, &bi, &tr, r, budget, blas->get_config(), &gpu, keep, held);
	keep = held = NULL;
	if (!m) {
		kerr_set(err, "prove.nomem", "cannot build the manifest");
		goto out;
	}
	if (bundle_seal(st.tmp, m, &k, &ao, err) < 0 || read_sealed(st.tmp, r, err) < 0)
		goto out;
	/* the tier the sealed evidence earned, which the preview holds the run
	 * to (hardware that came or went during training changes it) */
	r->alpha = attest_kind_alpha(r->attest_kind, o->cuda);
	/* An overridden budget is an experiment: validators refuse it anyway
	 * (judge.budget_units), so there is nothing to preview. */
	if (budget == sc->budget_units && judge_preview(o, st.tmp, r->alpha, err) < 0)
		goto out;
	/* Everything that can fail happens on the staged tree: the transport file
	 * is packed from it (same names, same bytes) before the rename, so a full
	 * disk while packing leaves no bundle behind. */
	if (o->tar) {
		if (bundle_pack(st.tmp, o->tar, err) < 0)
			goto out;
		have_tar = 1;
	}
	/* The held checkpoints move beside the bundle before it is committed:
	 * a bundle that names held files never exists without them. */
	if (r->held && (fs_join(held_src, sizeof held_src, err, "%s/held", w.dir) < 0 || rename(held_src, held_dir) < 0)) {
		if (!err->code[0])
			kerr_errno(err, "prove.io", held_dir);
		goto out;
	}
	if (fs_stage_commit(&st, 0, err) < 0) {
		if (r->held)
			fs_rm_rf(held_dir);
		goto out;
	}
	r->val_bpb = tr.val.val_bpb;
	r->steps = tr.steps;
	r->wall_s = (double)time(NULL) - t0;
	rc = 0;
out:
	fs_stage_abort(&st);
	if (have_work)
		fs_rm_rf(w.dir);
	if (rc < 0 && have_tar)
		unlink(o->tar);
	json_decref(m);
	json_decref(keep);
	free(patch);
	free(rationale);
	keys_wipe(&k);
	recipe_build_release(&bi);
	return rc;
}
