/* test_keys.c: an identity survives a write/read round trip, is created 0600
 * and never overwritten, is refused when others can read it, when the file
 * is malformed or when its public key does not match its seed; signatures
 * verify only for the right key and the exact bytes. */
#include "testutil.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>

#include "proof/keys.h"
#include "util/hash.h"

static char *dir;

static int setup(void **s)
{
	(void)s;
	assert_int_equal(hash_init_lib(), 0);
	dir = tu_mkdtemp();
	return 0;
}

static int teardown(void **s)
{
	(void)s;
	tu_rmdir(dir);
	return 0;
}

static void path_of(char *out, const char *name)
{
	snprintf(out, FS_PATH_MAX, "%s/%s", dir, name);
	unlink(out);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void generate_then_load_gives_the_same_identity(void **s)
{
	char p[FS_PATH_MAX], hex[KEYS_PK_HEX_BYTES];
	struct keys a, b;
	struct kerr err;
	struct stat sb;
	char *text;
	size_t len;

	(void)s;
	path_of(p, "id.key");
	assert_int_equal(keys_generate(p, &a, &err), 0);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(keys_load(p, &b, &err), 0);
	assert_memory_equal(a.pk, b.pk, KEYS_PK_BYTES);
	assert_memory_equal(a.sk, b.sk, KEYS_SK_BYTES);
	assert_string_equal(a.pk_hex, b.pk_hex);
	keys_hex_encode(a.pk, KEYS_PK_BYTES, hex);
	assert_string_equal(hex, a.pk_hex);

	/* The documented format: magic, public key, seed (first half of sk). */
	assert_int_equal(fs_read_all(p, 4096, &text, &len, &err), 0);
	assert_int_equal(len, 17 + 65 + 65);
	assert_memory_equal(text, "karpa-ed25519-v1\n", 17);
	assert_memory_equal(text + 17, a.pk_hex, 64);
	free(text);

	/* No temporary left beside it. */
	char tmp[FS_PATH_MAX];
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p, (long)getpid());
	assert_false(fs_exists(tmp));
	keys_wipe(&a);
	keys_wipe(&b);
	for (size_t i = 0; i < sizeof a; i++)
		assert_int_equal(((unsigned char *)&a)[i], 0);
}

static void generate_refuses_to_overwrite(void **s)
{
	char p[FS_PATH_MAX];
	struct keys a, b, c;
	struct kerr err;

	(void)s;
	path_of(p, "once.key");
	assert_int_equal(keys_generate(p, &a, &err), 0);
	assert_int_equal(keys_generate(p, &b, &err), -1);
	assert_string_equal(err.code, "keys.exists");
	assert_int_equal(keys_load(p, &c, &err), 0);
	assert_memory_equal(a.pk, c.pk, KEYS_PK_BYTES);
	keys_wipe(&a);
	keys_wipe(&c);
}

static void group_or_other_access_is_refused(void **s)
{
	static const mode_t modes[] = { 0644, 0640, 0604, 0660, 0602 };
	char p[FS_PATH_MAX];
	struct keys k;
	struct kerr err;

	(void)s;
	path_of(p, "loose.key");
	assert_int_equal(keys_generate(p, &k, &err), 0);
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		assert_int_equal(chmod(p, modes[i]), 0);
		assert_int_equal(keys_load(p, &k, &err), -1);
		assert_string_equal(err.code, "keys.bad_permissions");
		assert_non_null(strstr(err.msg, "chmod 600"));
		assert_non_null(strstr(err.msg, p));
	}
	assert_int_equal(chmod(p, 0400), 0); /* read-only for the owner is fine */
	assert_int_equal(keys_load(p, &k, &err), 0);
	keys_wipe(&k);
}

static void missing_file_is_keys_missing(void **s)
{
	char p[FS_PATH_MAX];
	struct keys k;
	struct kerr err;

	(void)s;
	path_of(p, "absent.key");
	assert_int_equal(keys_load(p, &k, &err), -1);
	assert_string_equal(err.code, "keys.missing");
}

static void malformed_files_are_refused(void **s)
{
	char p[FS_PATH_MAX], good[512], bad[1024];
	struct keys k;
	struct kerr err;
	char *text;
	size_t len;

	(void)s;
	path_of(p, "src.key");
	assert_int_equal(keys_generate(p, &k, &err), 0);
	assert_int_equal(fs_read_all(p, 4096, &text, &len, &err), 0);
	snprintf(good, sizeof good, "%s", text);
	free(text);
	const char *pk = good + 17, *seed = good + 17 + 65;
	char upper[65];
	for (int i = 0; i < 64; i++)
		upper[i] = (char)((seed[i] >= 'a' && seed[i] <= 'f') ? seed[i] - 32 : seed[i]);
	upper[64] = '\0';

	const char *cases[8];
	char store[8][1024];
	int n = 0;
	snprintf(store[n], sizeof store[n], "karpa-ed25519-v2\n%.64s\n%.64s\n", pk, seed), cases[n] = store[n], n++;
	snprintf(store[n], sizeof store[n], "karpa-ed25519-v1\n%.64s\n%.63s\n", pk, seed), cases[n] = store[n], n++;
	snprintf(store[n], sizeof store[n], "karpa-ed25519-v1\n%.64s\n", pk), cases[n] = store[n], n++;
	snprintf(store[n], sizeof store[n], "karpa-ed25519-v1\n%.64s\n%.64s\nextra\n", pk, seed), cases[n] = store[n],
		n++;
	snprintf(store[n], sizeof store[n], "karpa-ed25519-v1\n%.64s\n%s\n", pk, upper), cases[n] = store[n], n++;
	snprintf(store[n], sizeof store[n], "karpa-ed25519-v1\n%.64s\n%.62szz\n", pk, seed), cases[n] = store[n], n++;
	snprintf(store[n], sizeof store[n], "%s", ""), cases[n] = store[n], n++;
	memset(store[n], 'a', 600), store[n][600] = '\0', cases[n] = store[n], n++;
	for (int i = 0; i < n; i++) {
		path_of(bad, "bad.key");
		write_file(bad, cases[i], 0600);
		assert_int_equal(keys_load(bad, &k, &err), -1);
		assert_string_equal(err.code, "keys.parse");
	}
	/* Without the final newline the file is still the same key. */
	path_of(bad, "nonl.key");
	good[strlen(good) - 1] = '\0';
	write_file(bad, good, 0600);
	assert_int_equal(keys_load(bad, &k, &err), 0);
	keys_wipe(&k);
	sodium_memzero(good, sizeof good);
}

static void public_key_of_another_seed_is_a_mismatch(void **s)
{
	char p1[FS_PATH_MAX], p2[FS_PATH_MAX], mixed[FS_PATH_MAX], text[512];
	struct keys a, b, k;
	struct kerr err;
	char *t2;
	size_t len;

	(void)s;
	path_of(p1, "a.key");
	path_of(p2, "b.key");
	assert_int_equal(keys_generate(p1, &a, &err), 0);
	assert_int_equal(keys_generate(p2, &b, &err), 0);
	assert_int_equal(fs_read_all(p2, 4096, &t2, &len, &err), 0);
	/* a's public key with b's seed */
	snprintf(text, sizeof text, "karpa-ed25519-v1\n%s\n%.64s\n", a.pk_hex, t2 + 17 + 65);
	free(t2);
	path_of(mixed, "mixed.key");
	write_file(mixed, text, 0600);
	assert_int_equal(keys_load(mixed, &k, &err), -1);
	assert_string_equal(err.code, "keys.mismatch");
	keys_wipe(&a);
	keys_wipe(&b);
}

static void signatures_verify_only_for_the_key_and_bytes(void **s)
{
	char p1[FS_PATH_MAX], p2[FS_PATH_MAX];
	const char msg[] = "manifest bytes to be signed";
	uint8_t copy[sizeof msg], sig[KEYS_SIG_BYTES], sig2[KEYS_SIG_BYTES];
	struct keys a, b;
	struct kerr err;

	(void)s;
	path_of(p1, "sa.key");
	path_of(p2, "sb.key");
	assert_int_equal(keys_generate(p1, &a, &err), 0);
	assert_int_equal(keys_generate(p2, &b, &err), 0);
	assert_int_equal(keys_sign(&a, msg, sizeof msg, sig), 0);
	assert_int_equal(keys_verify(a.pk, msg, sizeof msg, sig, &err), 0);

	/* another key's signature over the same bytes */
	assert_int_equal(keys_sign(&b, msg, sizeof msg, sig2), 0);
	assert_int_equal(keys_verify(a.pk, msg, sizeof msg, sig2, &err), -1);
	assert_string_equal(err.code, "keys.bad_signature");
	assert_int_equal(keys_verify(b.pk, msg, sizeof msg, sig, &err), -1);
	assert_string_equal(err.code, "keys.bad_signature");

	/* one flipped message bit, anywhere */
	for (size_t i = 0; i < sizeof msg; i += 5) {
		memcpy(copy, msg, sizeof msg);
		copy[i] ^= 0x10;
		assert_int_equal(keys_verify(a.pk, copy, sizeof copy, sig, &err), -1);
		assert_string_equal(err.code, "keys.bad_signature");
	}
	/* one flipped signature bit; a shorter message */
	sig[17] ^= 1;
	assert_int_equal(keys_verify(a.pk, msg, sizeof msg, sig, &err), -1);
	sig[17] ^= 1;
	assert_int_equal(keys_verify(a.pk, msg, sizeof msg - 1, sig, &err), -1);
	assert_int_equal(keys_verify(a.pk, msg, sizeof msg, sig, &err), 0);
	keys_wipe(&a);
	keys_wipe(&b);
}

static void hex_is_exact_and_lowercase(void **s)
{
	uint8_t in[4] = { 0x00, 0xab, 0x7f, 0xff }, out[4];
	char hex[9];

	(void)s;
	keys_hex_encode(in, 4, hex);
	assert_string_equal(hex, "00ab7fff");
	assert_int_equal(keys_hex_decode(hex, out, 4), 0);
	assert_memory_equal(in, out, 4);
	assert_int_equal(keys_hex_decode("00AB7FFF", out, 4), -1);
	assert_int_equal(keys_hex_decode("00ab7ff", out, 4), -1);
	assert_int_equal(keys_hex_decode("00ab7fff00", out, 4), -1);
	assert_int_equal(keys_hex_decode("00ab7fg0", out, 4), -1);
	assert_int_equal(keys_hex_decode("00ab:7ff", out, 4), -1);
	assert_int_equal(keys_hex_decode(NULL, out, 4), -1);
}

/* `karpa keygen` end to end: exit codes 0/1/2, stdout is the public key,
 * --json is one object, and the error line carries the reason code.
 * Skipped until the binary has the subcommand. */
static void keygen_command_contract(void **s)
{
	char out[4096], p[FS_PATH_MAX], want[256];
	const char *bin = tu_karpa();
	struct keys k;
	struct kerr err;

	(void)s;
	if (tu_run(out, sizeof out, "%s keygen --help", bin) != 0 || !strstr(out, "keygen --out"))
		fail_msg("`karpa keygen --help` does not describe keygen --out:\n%s", out);
	path_of(p, "cli.key");
	assert_int_equal(tu_run(out, sizeof out, "%s keygen --out %s", bin, p), 0);
	assert_int_equal(keys_load(p, &k, &err), 0);
	snprintf(want, sizeof want, "%s\n", k.pk_hex);
	assert_string_equal(out, want);

	assert_int_equal(tu_run(out, sizeof out, "%s keygen --show %s --json", bin, p), 0);
	/* The envelope every --json object carries: version and ok. */
	snprintf(want, sizeof want, "{\"file\":\"%s\",\"ok\":true,\"public_key\":\"%s\",\"version\":1}\n", p,
		 k.pk_hex);
	assert_string_equal(out, want);

	assert_int_equal(tu_run(out, sizeof out, "%s keygen --out %s", bin, p), 1);
	assert_non_null(strstr(out, "karpa: keys.exists: "));
	assert_int_equal(chmod(p, 0644), 0);
	assert_int_equal(tu_run(out, sizeof out, "%s keygen --show %s", bin, p), 1);
	assert_non_null(strstr(out, "karpa: keys.bad_permissions: "));
	assert_null(strstr(out, k.pk_hex));
	assert_int_equal(tu_run(out, sizeof out, "%s keygen", bin), 2);
	assert_int_equal(tu_run(out, sizeof out, "%s keygen --out %s --show %s", bin, p, p), 2);
	assert_int_equal(tu_run(out, sizeof out, "%s keygen --show %s extra", bin, p), 2);
	keys_wipe(&k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(generate_then_load_gives_the_same_identity),
		cmocka_unit_test(generate_refuses_to_overwrite),
		cmocka_unit_test(group_or_other_access_is_refused),
		cmocka_unit_test(missing_file_is_keys_missing),
		cmocka_unit_test(malformed_files_are_refused),
		cmocka_unit_test(public_key_of_another_seed_is_a_mismatch),
		cmocka_unit_test(signatures_verify_only_for_the_key_and_bytes),
		cmocka_unit_test(hex_is_exact_and_lowercase),
		cmocka_unit_test(keygen_command_contract),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
