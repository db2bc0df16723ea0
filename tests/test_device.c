/* test_device.c: a GPU proof's environment.device (src/proof/device.h).
 * The prover's object carries the gemm table as lines; the replay's
 * reader gives back exactly the table that went in, "" for a CPU proof or
 * a GPU proof without a table, and refuses with device.bad_gemm anything a
 * forged manifest could put there instead, leaving no half-read pin. */
#include "testutil.h"

#include "proof/device.h"
#include "sandbox/gemmtab.h"

static const char table[] =
	"karpa-gemm-1 cublaslt=130100\n"
	"bwd_data NN m=768 n=16384 k=2304 lda=768 ldb=2304 ldd=768 ab=bf16 d=bf16 epi=none compute=f32 algo=66 "
	"tile=20 stages=35 splitk=1 red=0 swizzle=0 custom=0 inner=0 cluster=0\n"
	"fwd TN m=2304 n=16384 k=768 lda=768 ldb=768 ldd=2304 ab=bf16 d=bf16 epi=bias compute=f32 algo=66 "
	"tile=20 stages=35 splitk=1 red=0 swizzle=0 custom=0 inner=12 cluster=7\n";

static const struct gpuinfo h100 = { 1, "NVIDIA H100 80GB HBM3", "580.159.04" };

/* A manifest whose environment.device is dev (stolen). */
static json_t *manifest_with(json_t *dev)
{
	json_t *m = json_pack("{s:i, s:{s:s}}", "protocol", 1, "environment", "compiler", "cc");

	assert_non_null(m);
	if (dev)
		json_object_set_new(json_object_get(m, "environment"), "device", dev);
	return m;
}

/* The pin read back from m must be refused, and leave text empty. */
static void pin_refused(json_t *m, const char *why)
{
	char *text = malloc(KR_GEMM_MAX);
	struct kerr err = { "", "" };

	assert_non_null(text);
	snprintf(text, KR_GEMM_MAX, "stale");
	assert_int_equal(device_gemm_pin(m, text, &err), -1);
	print_message("%-34s -> %s: %s\n", why, err.code, err.msg);
	assert_string_equal(err.code, "device.bad_gemm");
	assert_string_equal(text, "");
	json_decref(m);
	free(text);
}

static void round_trip(void **state)
{
	json_t *dev = device_json(&h100, "Cuda compilation tools, release 13.0", table), *m, *lines;
	char *text = malloc(KR_GEMM_MAX), *dump;
	struct kerr err;

	(void)state;
	assert_true(dev && text);
	assert_string_equal(json_string_value(json_object_get(dev, "kind")), "cuda");
	assert_string_equal(json_string_value(json_object_get(dev, "gpu")), h100.model);
	lines = json_object_get(dev, "gemm");
	assert_int_equal(json_array_size(lines), 3);
	assert_string_equal(json_string_value(json_array_get(lines, 0)), "karpa-gemm-1 cublaslt=130100");
	/* through the manifest's own encoding and back */
	m = manifest_with(dev);
	dump = json_dumps(m, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(m);
	m = json_loads(dump, 0, NULL);
	assert_non_null(m);
	assert_int_equal(device_gemm_pin(m, text, &err), 0);
	assert_string_equal(text, table);
	json_decref(m);
	free(dump);
	/* no table: no gemm key, and no pin */
	dev = device_json(&h100, "nvcc", "");
	assert_null(json_object_get(dev, "gemm"));
	m = manifest_with(dev);
	snprintf(text, KR_GEMM_MAX, "stale");
	assert_int_equal(device_gemm_pin(m, text, &err), 0);
	assert_string_equal(text, "");
	json_decref(m);
	/* a CPU proof: no device at all */
	m = manifest_with(NULL);
	snprintf(text, KR_GEMM_MAX, "stale");
	assert_int_equal(device_gemm_pin(m, text, &err), 0);
	assert_string_equal(text, "");
	json_decref(m);
	free(text);
}

/* device.gemm as a forged manifest could have it. */
static json_t *forged(const char *edit)
{
	json_t *dev = device_json(&h100, "nvcc", table), *lines = json_object_get(dev, "gemm");

	if (!strcmp(edit, "string"))
		json_object_set_new(dev, "gemm", json_string(table));
	else if (!strcmp(edit, "empty"))
		json_array_clear(lines);
	else if (!strcmp(edit, "number"))
		json_array_set_new(lines, 1, json_integer(7));
	else if (!strcmp(edit, "newline"))
		json_array_set_new(lines, 1, json_string("fwd TN\nm=1"));
	else if (!strcmp(edit, "nul"))
		json_array_set_new(lines, 1, json_stringn("fwd TN\0m=1", 10));
	else if (!strcmp(edit, "order"))
		json_array_append(lines, json_array_get(lines, 1));
	else if (!strcmp(edit, "row"))
		json_array_set_new(lines, 2, json_string("fwd TN m=1"));
	else if (!strcmp(edit, "header"))
		json_array_remove(lines, 0);
	if (!strcmp(edit, "long")) {
		char big[GEMMTAB_LINE_MAX + 8];
		memset(big, 'a', sizeof big - 1);
		big[sizeof big - 1] = '\0';
		json_array_set_new(lines, 1, json_string(big));
	}
	if (!strcmp(edit, "many"))
		for (int i = 0; i < GEMMTAB_ROWS_MAX + 1; i++)
			json_array_append(lines, json_array_get(lines, 1));
	return manifest_with(dev);
}

static void forged_refused(void **state)
{
	(void)state;
	pin_refused(forged("string"), "a string, not lines");
	pin_refused(forged("empty"), "no lines");
	pin_refused(forged("number"), "a line that is a number");
	pin_refused(forged("newline"), "a line with a newline");
	pin_refused(forged("nul"), "a line with a NUL");
	pin_refused(forged("long"), "a line longer than any row");
	pin_refused(forged("order"), "a repeated row");
	pin_refused(forged("row"), "a malformed row");
	pin_refused(forged("header"), "no header");
	pin_refused(forged("many"), "more lines than a table has");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(forged_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
