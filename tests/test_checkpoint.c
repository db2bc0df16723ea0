/* test_checkpoint.c: the checkpoint container round-trips, and every kind of
 * damage is refused with its own reason code before the state is trusted. */
#include "testutil.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "harness/checkpoint.h"
#include "util/hash.h"

#define STATE_BYTES 10000

static char *dir;
static char path[FS_PATH_MAX];
static uint8_t state[STATE_BYTES];

static void meta_fill(struct ckpt_meta *m)
{
	memset(m, 0, sizeof *m);
	m->format = CKPT_FORMAT;
	strcpy(m->recipe, "karpa-gpt");
	strcpy(m->recipe_version, "0.1.0");
	strcpy(m->scale, "tiny");
	m->step = 40;
	m->seed = 1337;
	memset(m->data_digest, 'a', 64);
	memset(m->tokenizer_digest, 'b', 64);
	m->vocab_size = 512;
	m->state_bytes = STATE_BYTES;
}

static void plan_fill(struct kr_plan *p)
{
	memset(p, 0, sizeof *p);
	strcpy(p->name, "karpa-gpt");
	strcpy(p->version, "0.1.0");
}

static int setup(void **s)
{
	struct ckpt_meta m;
	struct kerr err;

	(void)s;
	hash_init_lib();
	dir = tu_mkdtemp();
	snprintf(path, sizeof path, "%s/a.ckpt", dir);
	for (int i = 0; i < STATE_BYTES; i++)
		state[i] = (uint8_t)(i * 31 + 7);
	meta_fill(&m);
	assert_int_equal(ckpt_write(path, &m, state, STATE_BYTES, NULL, &err), 0);
	return 0;
}

static int teardown(void **s)
{
	(void)s;
	tu_rmdir(dir);
	return 0;
}

/* Copies the good file to a new one, applying edit(buf, &len). */
static const char *variant(const char *name, void (*edit)(uint8_t *b, size_t *n, size_t arg), size_t arg)
{
	static char out[FS_PATH_MAX];
	char *buf;
	size_t n;
	struct kerr err;

	assert_int_equal(fs_read_all(path, 1 << 20, &buf, &n, &err), 0);
	buf = realloc(buf, n + 64);
	edit((uint8_t *)buf, &n, arg);
	snprintf(out, sizeof out, "%s/%s", dir, name);
	assert_int_equal(fs_write_atomic(out, buf, n, &err), 0);
	free(buf);
	return out;
}

static const char *read_code(const char *p)
{
	static struct kerr err;
	struct ckpt_meta m;
	void *st = (void *)1;
	size_t n = 99;

	kerr_clear(&err);
	if (ckpt_read(p, &m, &st, &n, NULL, &err) == 0) {
		free(st);
		return "ok";
	}
	assert_null(st);
	assert_int_equal(n, 0);
	return err.code;
}

static void test_round_trip(void **s)
{
	struct ckpt_meta m, want;
	struct kerr err;
	void *st;
	size_t n;
	char sha[HASH_HEX_BYTES], file_sha[HASH_HEX_BYTES], wrote[HASH_HEX_BYTES];
	char p2[FS_PATH_MAX];

	(void)s;
	meta_fill(&want);
	assert_int_equal(ckpt_read(path, &m, &st, &n, sha, &err), 0);
	assert_int_equal(n, STATE_BYTES);
	assert_memory_equal(st, state, STATE_BYTES);
	assert_string_equal(m.recipe, want.recipe);
	assert_string_equal(m.recipe_version, want.recipe_version);
	assert_string_equal(m.scale, "tiny");
	assert_int_equal(m.step, 40);
	assert_int_equal(m.seed, 1337);
	assert_string_equal(m.data_digest, want.data_digest);
	assert_string_equal(m.tokenizer_digest, want.tokenizer_digest);
	assert_int_equal(m.vocab_size, 512);
	assert_int_equal(m.format, CKPT_FORMAT);
	free(st);
	/* The reported digest is the digest of the file's bytes, as written. */
	assert_int_equal(hash_file_hex(path, file_sha, NULL, &err), 0);
	assert_string_equal(sha, file_sha);
	snprintf(p2, sizeof p2, "%s/b.ckpt", dir);
	assert_int_equal(ckpt_write(p2, &want, state, STATE_BYTES, wrote, &err), 0);
	assert_string_equal(wrote, file_sha); /* same inputs, same bytes */
	/* and its trailer is the SHA-256 of everything before it, computed
	 * here apart from the one pass the writer and reader share */
	{
		char *bytes = NULL;
		size_t len = 0;
		uint8_t d[HASH_BYTES];
		assert_int_equal(fs_read_all(path, 1u << 20, &bytes, &len, &err), 0);
		assert_true(len > HASH_BYTES);
		hash_buf(bytes, len - HASH_BYTES, d);
		assert_memory_equal(d, bytes + len - HASH_BYTES, HASH_BYTES);
		free(bytes);
	}
	/* No temporary file is left behind. */
	snprintf(p2, sizeof p2, "%s/b.ckpt.tmp", dir);
	assert_false(fs_exists(p2));
}

static void flip(uint8_t *b, size_t *n, size_t at)
{
	(void)n;
	b[at] ^= 0x01;
}

static void flip_from_end(uint8_t *b, size_t *n, size_t back)
{
	b[*n - back] ^= 0x80;
}

static void cut(uint8_t *b, size_t *n, size_t keep)
{
	(void)b;
	*n = keep;
}

static void cut_back(uint8_t *b, size_t *n, size_t drop)
{
	(void)b;
	*n -= drop;
}

static void append(uint8_t *b, size_t *n, size_t k)
{
	memset(b + *n, 0, k);
	*n += k;
}

static void set_hlen(uint8_t *b, size_t *n, size_t v)
{
	(void)n;
	for (int i = 0; i < 4; i++)
		b[8 + i] = (uint8_t)(v >> (8 * i));
}

static size_t offset_of(const char *needle)
{
	char *buf, *hit;
	size_t n, off;
	struct kerr err;

	assert_int_equal(fs_read_all(path, 1 << 20, &buf, &n, &err), 0);
	hit = memmem(buf, n, needle, strlen(needle));
	assert_non_null(hit);
	off = (size_t)(hit - buf);
	free(buf);
	return off;
}

static void test_corruption_codes(void **s)
{
	(void)s;
	/* A byte of the recipe name inside the header: only the digest notices. */
	assert_string_equal(read_code(variant("hdr", flip, offset_of("karpa-gpt") + 2)),
			    "ckpt.digest_mismatch");
	/* A byte in the middle of the state. */
	assert_string_equal(read_code(variant("state", flip_from_end, 32 + STATE_BYTES / 2)),
			    "ckpt.digest_mismatch");
	/* A byte of the trailer itself. */
	assert_string_equal(read_code(variant("digest", flip_from_end, 5)), "ckpt.digest_mismatch");
	assert_string_equal(read_code(variant("magic", flip, 3)), "ckpt.bad_magic");
	assert_string_equal(read_code(variant("cut_half", cut_back, STATE_BYTES / 2)), "ckpt.truncated");
	assert_string_equal(read_code(variant("cut_trailer", cut_back, 1)), "ckpt.truncated");
	assert_string_equal(read_code(variant("cut_hdr", cut, 40)), "ckpt.truncated");
	assert_string_equal(read_code(variant("cut_5", cut, 5)), "ckpt.bad_magic");
	assert_string_equal(read_code(variant("empty", cut, 0)), "ckpt.bad_magic");
	assert_string_equal(read_code(variant("longer", append, 7)), "ckpt.bad_size");
	/* A hostile header length is refused before anything is allocated. */
	assert_string_equal(read_code(variant("hlen_huge", set_hlen, 0xfffffff0u)), "ckpt.bad_header");
	assert_string_equal(read_code(variant("hlen_past_end", set_hlen, 60000)), "ckpt.truncated");
	assert_string_equal(read_code("/nonexistent/x.ckpt"), "fs.open");
}

static const char *header_code(const char *p)
{
	static struct kerr err;
	struct ckpt_meta m;

	kerr_clear(&err);
	return ckpt_read_header(p, &m, &err) == 0 ? "ok" : err.code;
}

static const char *known_code(const char *p)
{
	static struct kerr err;
	struct ckpt_meta m;
	void *st = NULL;
	size_t n = 0;

	kerr_clear(&err);
	if (ckpt_read_known(p, &m, &st, &n, &err) < 0)
		return err.code;
	free(st);
	return "ok";
}

/* A file longer than any state may be whose header does not parse, so no
 * declared size holds it: refused by its size before anything reads the
 * state (the file is sparse; reading it would take minutes). */
static void test_oversized_file(void **s)
{
	const char *p = variant("huge", flip, 12); /* the header's opening brace */

	(void)s;
	assert_int_equal(truncate(p, (off_t)(CKPT_STATE_BYTES_MAX + (1u << 20))), 0);
	assert_string_equal(header_code(p), "ckpt.too_large");
	assert_string_equal(read_code(p), "ckpt.too_large");
	assert_int_equal(unlink(p), 0);
}

/* The reads for a caller that holds the file's digest: the same framing
 * and header checks, the same meta and state, and no digest verified (the
 * caller's digest stands for the bytes). */
static void test_header_and_known_reads(void **s)
{
	struct ckpt_meta full, hdr, known;
	struct kerr err;
	void *st = NULL, *st2 = NULL;
	size_t n = 0, n2 = 0;

	(void)s;
	assert_int_equal(ckpt_read(path, &full, &st, &n, NULL, &err), 0);
	assert_int_equal(ckpt_read_header(path, &hdr, &err), 0);
	assert_int_equal(ckpt_read_known(path, &known, &st2, &n2, &err), 0);
	assert_memory_equal(&full, &hdr, sizeof full);
	assert_memory_equal(&full, &known, sizeof full);
	assert_int_equal(n2, n);
	assert_memory_equal(st2, st, n);
	free(st);
	free(st2);
	/* Framing and sizes are still checked ... */
	assert_string_equal(header_code(variant("h_cut_half", cut_back, STATE_BYTES / 2)), "ckpt.truncated");
	assert_string_equal(header_code(variant("h_longer", append, 7)), "ckpt.bad_size");
	assert_string_equal(header_code(variant("h_magic", flip, 3)), "ckpt.bad_magic");
	assert_string_equal(header_code(variant("h_hlen", set_hlen, 0xfffffff0u)), "ckpt.bad_header");
	assert_string_equal(known_code(variant("k_cut_trailer", cut_back, 1)), "ckpt.truncated");
	/* ... a header that does not parse is its own error, with no digest to
	 * speak first ... */
	assert_string_equal(header_code(variant("h_hdr", flip, offset_of("\"step\"") + 1)), "ckpt.bad_header");
	/* ... and a changed state byte is not these reads' to see. */
	assert_string_equal(header_code(variant("h_state", flip_from_end, 32 + STATE_BYTES / 2)), "ok");
	assert_string_equal(known_code(variant("k_state", flip_from_end, 32 + STATE_BYTES / 2)), "ok");
}

static void test_compat_checks(void **s)
{
	struct ckpt_meta m;
	struct kr_plan p;
	struct kerr err;
	char tok[HASH_HEX_BYTES];

	(void)s;
	meta_fill(&m);
	plan_fill(&p);
	memset(tok, 'b', 64);
	tok[64] = '\0';
	assert_int_equal(ckpt_check(&m, &p, 512, tok, &err), 0);
	strcpy(p.name, "other-recipe");
	assert_int_equal(ckpt_check(&m, &p, 512, tok, &err), -1);
	assert_string_equal(err.code, "ckpt.recipe_mismatch");
	plan_fill(&p);
	strcpy(p.version, "0.1.1");
	assert_int_equal(ckpt_check(&m, &p, 512, tok, &err), -1);
	assert_string_equal(err.code, "ckpt.recipe_mismatch");
	plan_fill(&p);
	assert_int_equal(ckpt_check(&m, &p, 4096, tok, &err), -1);
	assert_string_equal(err.code, "ckpt.data_mismatch");
	tok[0] = 'c';
	assert_int_equal(ckpt_check(&m, &p, 512, tok, &err), -1);
	assert_string_equal(err.code, "ckpt.data_mismatch");
}

static void test_write_refuses_bad_meta(void **s)
{
	struct ckpt_meta m;
	struct kerr err;
	char p[FS_PATH_MAX];

	(void)s;
	snprintf(p, sizeof p, "%s/bad.ckpt", dir);
	meta_fill(&m);
	assert_int_equal(ckpt_write(p, &m, state, STATE_BYTES - 1, NULL, &err), -1);
	assert_string_equal(err.code, "ckpt.bad_header");
	m.seed = (uint64_t)1 << 60;
	assert_int_equal(ckpt_write(p, &m, state, STATE_BYTES, NULL, &err), -1);
	assert_string_equal(err.code, "ckpt.bad_header");
	assert_false(fs_exists(p));
}

/* ckpt_digest is the digest of the file ckpt_write would write, for any
 * header and state; a change to one byte of state or header changes it;
 * what ckpt_write refuses it refuses too. */
static void test_digest_without_file(void **s)
{
	struct ckpt_meta m;
	struct kerr err;
	char p[FS_PATH_MAX], wrote[HASH_HEX_BYTES], file_sha[HASH_HEX_BYTES], d[HASH_HEX_BYTES], d2[HASH_HEX_BYTES];
	uint8_t other[STATE_BYTES];

	(void)s;
	meta_fill(&m);
	assert_int_equal(ckpt_digest(&m, state, STATE_BYTES, d, &err), 0);
	assert_int_equal(hash_file_hex(path, file_sha, NULL, &err), 0);
	assert_string_equal(d, file_sha); /* setup's file, written by ckpt_write */

	memcpy(other, state, sizeof other);
	other[STATE_BYTES / 2] ^= 1;
	m.step = 41;
	snprintf(p, sizeof p, "%s/digest.ckpt", dir);
	assert_int_equal(ckpt_digest(&m, other, STATE_BYTES, d2, &err), 0);
	assert_string_not_equal(d2, d);
	assert_int_equal(ckpt_write(p, &m, other, STATE_BYTES, wrote, &err), 0);
	assert_int_equal(hash_file_hex(p, file_sha, NULL, &err), 0);
	assert_string_equal(d2, wrote);
	assert_string_equal(d2, file_sha);
	m.step = 40; /* the header alone changes it too */
	assert_int_equal(ckpt_digest(&m, other, STATE_BYTES, d2, &err), 0);
	assert_string_not_equal(d2, wrote);
	assert_string_not_equal(d2, d);

	assert_int_equal(ckpt_digest(&m, state, STATE_BYTES - 1, d2, &err), -1);
	assert_string_equal(err.code, "ckpt.bad_header");
	m.seed = (uint64_t)1 << 60;
	assert_int_equal(ckpt_digest(&m, state, STATE_BYTES, d2, &err), -1);
	assert_string_equal(err.code, "ckpt.bad_header");
}

/* A header that is valid JSON but claims another format version. */
static void test_other_format(void **s)
{
	struct ckpt_meta m;
	struct kerr err;
	char p[FS_PATH_MAX];

	(void)s;
	snprintf(p, sizeof p, "%s/fmt.ckpt", dir);
	meta_fill(&m);
	m.format = 2;
	assert_int_equal(ckpt_write(p, &m, state, STATE_BYTES, NULL, &err), 0);
	assert_string_equal(read_code(p), "ckpt.bad_format");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_corruption_codes),
		cmocka_unit_test(test_header_and_known_reads),
		cmocka_unit_test(test_oversized_file),
		cmocka_unit_test(test_compat_checks),
		cmocka_unit_test(test_write_refuses_bad_meta),
		cmocka_unit_test(test_digest_without_file),
		cmocka_unit_test(test_other_format),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
