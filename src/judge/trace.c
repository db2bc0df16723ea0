/* trace.c: dispute trace documents. Floats that must compare bit for bit
 * (a step's loss and lr) travel as their IEEE bit pattern in hex, so JSON's
 * decimal numbers never round them; norms are only for people. */
#include "judge/trace.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/fsutil.h"
#include "util/jsonmem.h"

static void copy_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

static void machine_name(char *out, size_t cap)
{
#if defined(__x86_64__)
	__builtin_cpu_init();
	snprintf(out, cap, "x86_64 %s",
		 __builtin_cpu_supports("avx512f") ? "avx512f" : __builtin_cpu_supports("avx2") ? "avx2" : "sse2");
#elif defined(__aarch64__)
	snprintf(out, cap, "aarch64");
#else
	snprintf(out, cap, "other");
#endif
}

void trace_doc_init(struct trace_doc *d, const char *manifest, const char *side, int segment, int64_t from_step,
		    int threads)
{
	memset(d, 0, sizeof *d);
	copy_str(d->manifest, sizeof d->manifest, manifest);
	copy_str(d->side, sizeof d->side, side);
	machine_name(d->machine, sizeof d->machine);
	d->segment = segment;
	d->from_step = from_step;
	d->threads = threads;
}

int trace_doc_add(struct trace_doc *d, int64_t step, float loss, float lr, const struct recipe_trace_rec *recs,
		  uint32_t n, struct kerr *err)
{
	struct trace_step *s;

	if (step != d->from_step + d->nsteps || d->nsteps >= TRACE_STEPS_MAX || n > RECIPE_TRACE_MAX ||
	    d->nrecs + n > TRACE_RECORDS_MAX)
		return kerr_set(err, "trace.bad", "step %lld does not follow the trace's %d steps from %lld, or the "
				"trace is over its bounds", (long long)step, d->nsteps, (long long)d->from_step);
	if (d->nsteps == d->cap) {
		int cap = d->cap ? 2 * d->cap : 16;
		struct trace_step *p = realloc(d->steps, (size_t)cap * sizeof *p);
		if (!p)
			return kerr_set(err, "trace.nomem", "out of memory for a trace of %d steps", cap);
		d->steps = p;
		d->cap = cap;
	}
	s = &d->steps[d->nsteps];
	memset(s, 0, sizeof *s);
	if (n && !(s->recs = malloc((size_t)n * sizeof *recs)))
		return kerr_set(err, "trace.nomem", "out of memory for %u trace records", n);
	if (n)
		memcpy(s->recs, recs, (size_t)n * sizeof *recs);
	s->step = step;
	s->loss = loss;
	s->lr = lr;
	s->n = n;
	d->nsteps++;
	d->nrecs += n;
	return 0;
}

void trace_doc_free(struct trace_doc *d)
{
	for (int i = 0; d->steps && i < d->nsteps; i++)
		free(d->steps[i].recs);
	free(d->steps);
	d->steps = NULL;
	d->nsteps = d->cap = 0;
	d->nrecs = 0;
}

/* ---- JSON ------------------------------------------------------------- */

static void float_hex(float f, char out[9])
{
	uint32_t u;

	memcpy(&u, &f, sizeof u);
	snprintf(out, 9, "%08x", u);
}

static int nibble(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int hex_float(const char *s, float *f)
{
	uint32_t u = 0;

	if (!s || strlen(s) != 8)
		return -1;
	for (int i = 0; i < 8; i++) {
		int v = nibble(s[i]);
		if (v < 0)
			return -1;
		u = u << 4 | (uint32_t)v;
	}
	memcpy(f, &u, sizeof *f);
	return 0;
}

static json_t *step_json(const struct trace_step *s)
{
	char loss[9], lr[9], dig[2 * RECIPE_TRACE_DIGEST_BYTES + 1];
	json_t *o, *arr = json_array();

	float_hex(s->loss, loss);
	float_hex(s->lr, lr);
	for (uint32_t i = 0; arr && i < s->n; i++) {
		const struct recipe_trace_rec *r = &s->recs[i];
		for (int k = 0; k < RECIPE_TRACE_DIGEST_BYTES; k++)
			snprintf(dig + 2 * k, 3, "%02x", r->digest[k]);
		if (json_array_append_new(arr, json_pack("[s, I, o, s]", r->name, (json_int_t)r->n,
							 isfinite(r->l2) ? json_real(r->l2) : json_null(), dig)) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	o = json_pack("{s:I, s:s, s:s, s:o}", "step", (json_int_t)s->step, "loss_bits", loss, "lr_bits", lr, "tensors",
		      arr);
	return o;
}

int trace_doc_write(const char *path, const struct trace_doc *d, struct kerr *err)
{
	json_t *o, *steps = json_array();
	char *text = NULL;
	int rc = -1;

	for (int i = 0; steps && i < d->nsteps; i++)
		if (json_array_append_new(steps, step_json(&d->steps[i])) < 0) {
			json_decref(steps);
			steps = NULL;
		}
	o = steps ? json_pack("{s:s, s:s, s:s, s:s, s:i, s:I, s:i, s:o}", "format", TRACE_FORMAT, "manifest_sha256",
			      d->manifest, "side", d->side, "machine", d->machine, "segment", d->segment, "from_step",
			      (json_int_t)d->from_step, "threads", d->threads, "steps", steps)
		  : NULL;
	if (!o || !(text = json_dumps(o, JSON_COMPACT))) {
		kerr_set(err, "trace.nomem", "out of memory writing a trace of %d steps", d->nsteps);
		goto out;
	}
	if (strlen(text) > TRACE_FILE_BYTES_MAX) {
		kerr_set(err, "trace.too_large", "a trace of %zu bytes is over the %zu-byte bound a reader accepts: trace "
			 "fewer steps (--to)", strlen(text), TRACE_FILE_BYTES_MAX);
		goto out;
	}
	rc = fs_write_atomic(path, text, strlen(text), err);
out:
	free(text);
	json_decref(o);
	return rc;
}

static int bad(struct kerr *err, const char *what)
{
	return kerr_set(err, "trace.bad", "not a karpa trace: %s", what);
}

static int str_ok(const char *s, size_t cap, const char *extra)
{
	size_t n = s ? strlen(s) : cap;

	if (n == 0 || n >= cap)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || strchr(extra, s[i])))
			return 0;
	return 1;
}

/* Exactly 32 lowercase hex digits. */
static int parse_digest(const char *s, uint8_t out[RECIPE_TRACE_DIGEST_BYTES])
{
	if (!s || strlen(s) != 2 * RECIPE_TRACE_DIGEST_BYTES)
		return -1;
	for (int k = 0; k < RECIPE_TRACE_DIGEST_BYTES; k++) {
		int hi = nibble(s[2 * k]), lo = nibble(s[2 * k + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[k] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static int parse_step(json_t *js, struct trace_doc *d, struct recipe_trace_rec *buf, struct kerr *err)
{
	json_t *tensors = json_object_get(js, "tensors"), *t;
	json_t *step = json_object_get(js, "step");
	float loss, lr;
	size_t i, n;
	uint32_t badi;

	if (!json_is_integer(step) || !json_is_array(tensors) ||
	    hex_float(json_string_value(json_object_get(js, "loss_bits")), &loss) < 0 ||
	    hex_float(json_string_value(json_object_get(js, "lr_bits")), &lr) < 0)
		return bad(err, "a step needs step, loss_bits, lr_bits (8 hex digits) and tensors");
	if ((n = json_array_size(tensors)) > RECIPE_TRACE_MAX)
		return bad(err, "a step with more tensors than a recipe may trace");
	json_array_foreach(tensors, i, t)
	{
		json_t *name = json_array_get(t, 0), *cnt = json_array_get(t, 1), *l2 = json_array_get(t, 2);
		struct recipe_trace_rec *r = &buf[i];

		memset(r, 0, sizeof *r);
		if (json_array_size(t) != 4 || !json_is_string(name) || json_string_length(name) >= sizeof r->name ||
		    !json_is_integer(cnt) || json_integer_value(cnt) < 0 || !(json_is_number(l2) || json_is_null(l2)) ||
		    parse_digest(json_string_value(json_array_get(t, 3)), r->digest) < 0)
			return bad(err, "a tensor is [name, count, norm or null, 32 hex digits]");
		memcpy(r->name, json_string_value(name), json_string_length(name));
		r->n = (uint64_t)json_integer_value(cnt);
		r->l2 = json_is_number(l2) ? json_number_value(l2) : NAN;
	}
	if (recipe_trace_check(buf, (uint32_t)n, &badi) < 0)
		return bad(err, "a tensor name is not phase.where.op.tensor in [A-Za-z0-9_.]");
	if (json_integer_value(step) != d->from_step + d->nsteps)
		return bad(err, "steps are not consecutive from from_step");
	return trace_doc_add(d, json_integer_value(step), loss, lr, buf, (uint32_t)n, err);
}

int trace_doc_parse(const char *text, size_t len, struct trace_doc *d, struct kerr *err)
{
	json_t *o = NULL, *steps, *js, *seg, *from, *thr;
	struct recipe_trace_rec *buf = NULL;
	const char *manifest, *side, *machine;
	size_t i;
	int rc = -1;

	memset(d, 0, sizeof *d);
	if (len > TRACE_FILE_BYTES_MAX) {
		kerr_set(err, "trace.too_large", "a trace of %zu bytes is over the %zu-byte bound", len,
			 TRACE_FILE_BYTES_MAX);
		goto out;
	}
	if (jsonmem_values_over(text, len, TRACE_VALUES_MAX)) {
		kerr_set(err, "trace.too_large", "a trace of more than %zu JSON values, more than %zu records in %d "
			 "steps can hold", TRACE_VALUES_MAX, TRACE_RECORDS_MAX, TRACE_STEPS_MAX);
		goto out;
	}
	o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	steps = json_object_get(o, "steps");
	seg = json_object_get(o, "segment");
	from = json_object_get(o, "from_step");
	thr = json_object_get(o, "threads");
	manifest = json_string_value(json_object_get(o, "manifest_sha256"));
	side = json_string_value(json_object_get(o, "side"));
	machine = json_string_value(json_object_get(o, "machine"));
	if (!json_is_object(o) || !json_is_string(json_object_get(o, "format")) ||
	    strcmp(json_string_value(json_object_get(o, "format")), TRACE_FORMAT)) {
		bad(err, "no JSON object with format " TRACE_FORMAT);
		goto out;
	}
	if (!str_ok(manifest, HASH_HEX_BYTES, "") || strlen(manifest) != HASH_HEX_BYTES - 1 ||
	    !str_ok(side, TRACE_SIDE_MAX, "_-") || !str_ok(machine, TRACE_MACHINE_MAX, "_- ") ||
	    !json_is_integer(seg) || json_integer_value(seg) < 0 || json_integer_value(seg) > TRACE_STEPS_MAX ||
	    !json_is_integer(from) || json_integer_value(from) < 0 || json_integer_value(from) > ((json_int_t)1 << 40) ||
	    !json_is_integer(thr) || json_integer_value(thr) < 1 || json_integer_value(thr) > 4096 ||
	    !json_is_array(steps) || json_array_size(steps) > TRACE_STEPS_MAX) {
		bad(err, "manifest_sha256, side, machine, segment, from_step, threads or steps missing or out of range");
		goto out;
	}
	trace_doc_init(d, manifest, side, (int)json_integer_value(seg), json_integer_value(from),
		       (int)json_integer_value(thr));
	copy_str(d->machine, sizeof d->machine, machine);
	if (!(buf = malloc(RECIPE_TRACE_MAX * sizeof *buf))) {
		kerr_set(err, "trace.nomem", "out of memory reading a trace");
		goto out;
	}
	json_array_foreach(steps, i, js) if (parse_step(js, d, buf, err) < 0) goto out;
	rc = 0;
out:
	if (rc < 0) {
		trace_doc_free(d);
		memset(d, 0, sizeof *d);
	}
	free(buf);
	json_decref(o);
	return rc;
}

int trace_doc_read(const char *path, struct trace_doc *d, struct kerr *err)
{
	char *text = NULL;
	size_t len;
	int rc;

	memset(d, 0, sizeof *d);
	if (fs_read_all(path, TRACE_FILE_BYTES_MAX, &text, &len, err) < 0)
		return -1;
	rc = trace_doc_parse(text, len, d, err);
	free(text);
	return rc;
}

/* ---- comparison -------------------------------------------------------- */

static void split_name(struct trace_diff *o)
{
	char tmp[KR_TRACE_NAME_MAX], *parts[4] = { 0 }, *save = NULL, *p;
	int k = 0;

	copy_str(tmp, sizeof tmp, o->name);
	for (p = strtok_r(tmp, ".", &save); p && k < 4; p = strtok_r(NULL, ".", &save))
		parts[k++] = p;
	copy_str(o->phase, sizeof o->phase, parts[0]);
	copy_str(o->where, sizeof o->where, parts[1]);
	copy_str(o->op, sizeof o->op, parts[2]);
	copy_str(o->tensor, sizeof o->tensor, parts[3]);
}

static int bits_differ(float a, float b)
{
	return memcmp(&a, &b, sizeof a) != 0;
}

int trace_compare(const struct trace_doc *a, const struct trace_doc *b, struct trace_diff *o, struct kerr *err)
{
	int n = a->nsteps < b->nsteps ? a->nsteps : b->nsteps;

	memset(o, 0, sizeof *o);
	if (strcmp(a->manifest, b->manifest))
		return kerr_set(err, "trace.other_bundle", "the traces replay different bundles (%.16s... and %.16s...)",
				a->manifest, b->manifest);
	if (a->segment != b->segment || a->from_step != b->from_step)
		return kerr_set(err, "trace.other_segment",
				"the traces replay segment %d from step %lld and segment %d from step %lld: trace the same "
				"segment on both sides",
				a->segment, (long long)a->from_step, b->segment, (long long)b->from_step);
	for (int i = 0; i < n; i++) {
		const struct trace_step *sa = &a->steps[i], *sb = &b->steps[i];
		uint32_t m = sa->n < sb->n ? sa->n : sb->n;

		o->steps_compared = i + 1;
		for (uint32_t k = 0; k < m; k++) {
			const struct recipe_trace_rec *ra = &sa->recs[k], *rb = &sb->recs[k];
			if (strcmp(ra->name, rb->name))
				return kerr_set(err, "trace.layout",
						"step %lld, record %u: '%s' in one trace, '%s' in the other: the replays "
						"did not run the same recipe code",
						(long long)sa->step, k, ra->name, rb->name);
			if (ra->n != rb->n || memcmp(ra->digest, rb->digest, sizeof ra->digest)) {
				o->differ = 1;
				o->step = sa->step;
				o->index = k;
				o->n = ra->n;
				o->l2_a = ra->l2;
				o->l2_b = rb->l2;
				copy_str(o->name, sizeof o->name, ra->name);
				split_name(o);
				break;
			}
		}
		if (!o->differ && sa->n != sb->n)
			return kerr_set(err, "trace.layout", "step %lld: %u records in one trace, %u in the other",
					(long long)sa->step, sa->n, sb->n);
		o->loss_differs = bits_differ(sa->loss, sb->loss);
		o->lr_differs = bits_differ(sa->lr, sb->lr);
		if (!o->differ && (o->loss_differs || o->lr_differs)) {
			o->differ = 1;
			o->step = sa->step;
		}
		if (o->differ)
			return 0;
	}
	return 0;
}

void trace_diff_describe(const struct trace_diff *d, char *buf, size_t cap)
{
	const char *phase = !strcmp(d->phase, "fwd")   ? "forward pass"
			    : !strcmp(d->phase, "bwd") ? "backward pass"
			    : !strcmp(d->phase, "opt") ? "optimizer update"
						       : d->phase;

	if (!d->differ)
		snprintf(buf, cap, "no difference in %lld steps", (long long)d->steps_compared);
	else if (!d->name[0])
		snprintf(buf, cap, "step %lld: every traced tensor agrees but the step's %s differs", (long long)d->step,
			 d->lr_differs ? "learning rate" : "loss");
	else if (!strcmp(d->where, "model"))
		snprintf(buf, cap, "step %lld: %s, operation %s, tensor %s", (long long)d->step, phase, d->op, d->tensor);
	else
		snprintf(buf, cap, "step %lld: %s, layer %s, operation %s, tensor %s", (long long)d->step, phase,
			 d->where[0] == 'L' ? d->where + 1 : d->where, d->op, d->tensor);
}
