/* test_cross_isa.c: the recipe trains to the same bits on another ISA.
 * Runs tests/cross/isa.sh: three tiny-scale steps built for x86-64 with the
 * pinned AVX2 flags, for x86-64 portable, and for aarch64 portable (under
 * qemu-user); every loss, learning rate and state byte must agree. The
 * output lists each build's state digest. */
#include "testutil.h"

#define CROSS_STEPS 3

static void aarch64_matches_x86_64(void **state)
{
	const char *src = getenv("KARPA_SRC");
	static char out[1 << 16];
	char *dir = tu_mkdtemp();
	int rc;

	(void)state;
	assert_non_null(src);
	rc = tu_run(out, sizeof out, "bash %s/tests/cross/isa.sh %s %d", src, dir, CROSS_STEPS);
	print_message("%s", out);
	tu_rmdir(dir);
	if (rc != 0)
		fail_msg("tests/cross/isa.sh exited %d", rc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(aarch64_matches_x86_64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
