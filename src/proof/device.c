/* device.c: environment.device, written by the prover and read back by a
 * replay (device.h). The table travels as an array of lines so that a
 * manifest stays readable; reading it back joins the lines and parses the
 * text with the runner's own strict parser. */
#include "proof/device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/gemmtab.h"

json_t *device_json(const struct gpuinfo *g, const char *nvcc, const char *gemm)
{
	json_t *d = json_pack("{s:s, s:s, s:s, s:i, s:s}", "kind", "cuda", "gpu", g->model, "driver", g->driver,
			      "gpus", g->count, "nvcc", nvcc);
	json_t *lines;

	if (!d || !gemm || !gemm[0])
		return d;
	if (!(lines = json_array()) || json_object_set_new(d, "gemm", lines) < 0) {
		json_decref(d);
		return NULL;
	}
	for (const char *p = gemm; *p;) {
		size_t n = strcspn(p, "\n");
		if (json_array_append_new(lines, json_stringn(p, n)) < 0) {
			json_decref(d);
			return NULL;
		}
		p += n + (p[n] == '\n');
	}
	return d;
}

int device_gemm_pin(const json_t *manifest, char text[KR_GEMM_MAX], struct kerr *err)
{
	json_t *dev = json_object_get(json_object_get(manifest, "environment"), "device");
	json_t *lines = json_object_get(dev, "gemm");
	struct gemmtab *t = NULL;
	size_t at = 0, i;
	json_t *v;
	int rc = -1;

	text[0] = '\0';
	if (!lines)
		return 0;
	if (!json_is_array(lines) || json_array_size(lines) < 1 || json_array_size(lines) > GEMMTAB_ROWS_MAX + 1)
		return kerr_set(err, "device.bad_gemm",
				"environment.device.gemm is not an array of 1..%d lines", GEMMTAB_ROWS_MAX + 1);
	json_array_foreach(lines, i, v) {
		const char *s = json_string_value(v);
		size_t n = s ? json_string_length(v) : 0;

		/* a line may not carry its own newline, or a NUL that jansson keeps */
		if (!s || n >= GEMMTAB_LINE_MAX || memchr(s, '\n', n) || strlen(s) != n) {
			kerr_set(err, "device.bad_gemm", "environment.device.gemm[%zu] is not one line of at most %d bytes",
				 i, GEMMTAB_LINE_MAX - 1);
			goto out;
		}
		/* 129 lines of under 320 bytes fit KR_GEMM_MAX (gemmtab.h) */
		memcpy(text + at, s, n);
		text[at + n] = '\n';
		at += n + 1;
	}
	text[at] = '\0';
	if (!(t = malloc(sizeof *t))) {
		kerr_set(err, "device.nomem", "out of memory for a gemm table");
		goto out;
	}
	if (gemmtab_parse(text, at, t, err) < 0) {
		kerr_prefix(err, "environment.device.gemm");
		snprintf(err->code, sizeof err->code, "device.bad_gemm");
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		text[0] = '\0';
	free(t);
	return rc;
}
