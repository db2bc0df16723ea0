/* chain_fixture.h: what the chain key tests share: a scratch folder made
 * once per test binary and hex helpers that fail the test on bad input. */
#ifndef KARPA_CHAIN_FIXTURE_H
#define KARPA_CHAIN_FIXTURE_H

#include "testutil.h"

#include <sodium.h>

#include "util/hash.h"

static char *chain_dir;

static int chain_setup(void **state)
{
	(void)state;
	chain_dir = tu_mkdtemp();
	return hash_init_lib() == 0 ? 0 : -1;
}

static int chain_teardown(void **state)
{
	(void)state;
	tu_rmdir(chain_dir);
	return 0;
}

/* Decodes hex into at most cap bytes; returns how many. */
static size_t chain_unhex(const char *hex, uint8_t *bin, size_t cap)
{
	size_t got = 0;

	assert_int_equal(sodium_hex2bin(bin, cap, hex, strlen(hex), NULL, &got, NULL), 0);
	return got;
}

#endif
