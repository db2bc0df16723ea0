/* test_shard.c: llm.c shard format: round trip and every malformed case. */
#include "testutil.h"

#include <endian.h>

#include "data/shard.h"

static void write_raw(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	fclose(f);
}

static void shard_round_trips_tokens(void **state)
{
	char *dir = tu_mkdtemp(), path[FS_PATH_MAX];
	uint16_t in[1000], *out;
	size_t n;
	struct kerr err;

	(void)state;
	for (int i = 0; i < 1000; i++)
		in[i] = (uint16_t)(i * 97 + 13);
	snprintf(path, sizeof path, "%s/a.bin", dir);
	assert_int_equal(shard_write(path, in, 1000, &err), 0);
	assert_int_equal(shard_read(path, &out, &n, &err), 0);
	assert_int_equal(n, 1000);
	assert_memory_equal(in, out, sizeof in);
	free(out);
	tu_rmdir(dir);
}

/* Builds a header image by hand, as llm.c's writer lays it out. */
static unsigned char *image(int32_t magic, int32_t version, int32_t count, size_t ntok, size_t *len)
{
	unsigned char *b = calloc(1, SHARD_HEADER_BYTES + ntok * 2);
	int32_t h[3] = { (int32_t)htole32(magic), (int32_t)htole32(version), (int32_t)htole32(count) };

	memcpy(b, h, sizeof h);
	*len = SHARD_HEADER_BYTES + ntok * 2;
	return b;
}

static void shard_rejects_wrong_magic(void **state)
{
	size_t len, n;
	unsigned char *b = image(20240521, 1, 4, 4, &len);
	const uint16_t *t;
	struct kerr err;

	(void)state;
	assert_int_equal(shard_parse(b, len, &t, &n, &err), -1);
	assert_string_equal(err.code, "shard.bad_magic");
	free(b);
}

static void shard_rejects_truncated_body_and_header(void **state)
{
	size_t len, n;
	unsigned char *b = image(SHARD_MAGIC, 1, 10, 4, &len);
	const uint16_t *t;
	struct kerr err;

	(void)state;
	assert_int_equal(shard_parse(b, len, &t, &n, &err), -1);
	assert_string_equal(err.code, "shard.truncated");
	assert_int_equal(shard_parse(b, 100, &t, &n, &err), -1);
	assert_string_equal(err.code, "shard.truncated");
	free(b);
}

static void shard_rejects_bad_version_negative_count_and_trailing_bytes(void **state)
{
	size_t len, n;
	const uint16_t *t;
	struct kerr err;
	unsigned char *b = image(SHARD_MAGIC, 2, 4, 4, &len);

	(void)state;
	assert_int_equal(shard_parse(b, len, &t, &n, &err), -1);
	assert_string_equal(err.code, "shard.bad_version");
	free(b);
	b = image(SHARD_MAGIC, 1, -5, 4, &len);
	assert_int_equal(shard_parse(b, len, &t, &n, &err), -1);
	assert_string_equal(err.code, "shard.too_large");
	free(b);
	b = image(SHARD_MAGIC, 1, 3, 4, &len);
	assert_int_equal(shard_parse(b, len, &t, &n, &err), -1);
	assert_string_equal(err.code, "shard.trailing");
	free(b);
}

static void shard_read_names_the_file(void **state)
{
	char *dir = tu_mkdtemp(), path[FS_PATH_MAX];
	size_t len, n;
	unsigned char *b = image(7, 1, 0, 0, &len);
	uint16_t *t;
	struct kerr err;

	(void)state;
	snprintf(path, sizeof path, "%s/bad.bin", dir);
	write_raw(path, b, len);
	assert_int_equal(shard_read(path, &t, &n, &err), -1);
	assert_string_equal(err.code, "shard.bad_magic");
	assert_non_null(strstr(err.msg, "bad.bin"));
	assert_null(t);
	free(b);
	tu_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(shard_round_trips_tokens),
		cmocka_unit_test(shard_rejects_wrong_magic),
		cmocka_unit_test(shard_rejects_truncated_body_and_header),
		cmocka_unit_test(shard_rejects_bad_version_negative_count_and_trailing_bytes),
		cmocka_unit_test(shard_read_names_the_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
