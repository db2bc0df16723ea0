/* test_cli.c: the CLI's contract across commands. Every --json output is
 * one object with "version" and "ok", failures and usage errors included;
 * --threads has one spelling of its limit everywhere; --version names the
 * project, protocol and recipe API versions. */
#include "testutil.h"

#include <jansson.h>

#include "proof/keys.h"
#include "util/hash.h"
#include "util/version.h"

#define OUT_CAP (64u << 10)

static char *work;
static char out[OUT_CAP];

/* stdout only: the JSON contract is about stdout. */
static int run_stdout(const char *fmt, const char *a, const char *b)
{
	char cmd[4096], inner[3072];

	snprintf(inner, sizeof inner, fmt, a, b);
	snprintf(cmd, sizeof cmd, "{ %s 2>/dev/null; }", inner);
	return tu_run(out, sizeof out, "%s", cmd);
}

static json_t *one_object(void)
{
	json_error_t je;
	json_t *o = json_loads(out, 0, &je);

	if (!o)
		fail_msg("stdout is not one JSON object (%s): %s", je.text, out);
	assert_int_equal(json_integer_value(json_object_get(o, "version")), 1);
	assert_true(json_is_boolean(json_object_get(o, "ok")));
	return o;
}

static void json_envelope_everywhere(void **st)
{
	char key[FS_PATH_MAX];
	struct keys k;
	struct kerr err;
	json_t *o;

	(void)st;
	snprintf(key, sizeof key, "%s/id.key", work);
	assert_int_equal(keys_generate(key, &k, &err), 0);
	/* success */
	assert_int_equal(run_stdout("%s keygen --show %s --json", tu_karpa(), key), 0);
	o = one_object();
	assert_true(json_is_true(json_object_get(o, "ok")));
	assert_string_equal(json_string_value(json_object_get(o, "public_key")), k.pk_hex);
	json_decref(o);
	/* a failure: the reason code in the object, exit 1 */
	assert_int_equal(run_stdout("%s keygen --show %s/missing.key --json", tu_karpa(), work), 1);
	o = one_object();
	assert_true(json_is_false(json_object_get(o, "ok")));
	assert_string_equal(json_string_value(json_object_get(o, "code")), "keys.missing");
	json_decref(o);
	/* a failure of a command that never printed JSON of its own before */
	assert_int_equal(run_stdout("%s corpus %s/no-state search x --json", tu_karpa(), work), 1);
	o = one_object();
	assert_true(json_is_false(json_object_get(o, "ok")));
	json_decref(o);
	/* a usage error: exit 2, cli.usage */
	assert_int_equal(run_stdout("%s judge --json%s", tu_karpa(), ""), 2);
	o = one_object();
	assert_string_equal(json_string_value(json_object_get(o, "code")), "cli.usage");
	json_decref(o);
	keys_wipe(&k);
}

static void threads_have_one_limit(void **st)
{
	static const char *const cmds[] = { "train --scale tiny --data d --seed 1 --out o", "eval --ckpt c --data d --split val",
					    "sample --ckpt c --data d --prompt x",
					    "prove", "judge s b", "noise-floor s", "data prepare --scale tiny --out o",
					    "bench engine" };

	(void)st;
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		assert_int_equal(tu_run(out, sizeof out, "%s %s --threads 0", tu_karpa(), cmds[i]), 2);
		if (!strstr(out, "--threads must be 1..256"))
			fail_msg("karpa %s --threads 0: %s", cmds[i], out);
		assert_int_equal(tu_run(out, sizeof out, "%s %s --threads 4x", tu_karpa(), cmds[i]), 2);
	}
}

static void version_names_everything(void **st)
{
	char want[128];

	(void)st;
	assert_int_equal(tu_run(out, sizeof out, "%s --version", tu_karpa()), 0);
	snprintf(want, sizeof want, "karpa %s (protocol 1, recipe API %s)\n", KARPA_VERSION, KARPA_RECIPE_API_VERSION);
	assert_string_equal(out, want);
}

static int setup(void **st)
{
	(void)st;
	hash_init_lib();
	work = tu_mkdtemp();
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
		cmocka_unit_test(json_envelope_everywhere),
		cmocka_unit_test(threads_have_one_limit),
		cmocka_unit_test(version_names_everything),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
