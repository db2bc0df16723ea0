/* test_vstate.c: the validator's state folder against real SQLite files and
 * a real git repository in temporary folders: init and what it creates,
 * refusals, the schema version check, the secret's protection,
 * transactions (including nested ones) and the write-once store. */
#include "fixtures.h"

#include <math.h>
#include <sys/stat.h>

#include "proof/reciperepo.h"
#include "validator/vstate.h"
#include "util/fsutil.h"
#include "util/hash.h"

struct fixture {
	char *tmp;
	char src[FS_PATH_MAX], data[FS_PATH_MAX], hidden[FS_PATH_MAX], state[FS_PATH_MAX];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);

	assert_int_equal(hash_init_lib(), 0);
	f->tmp = tu_mkdtemp();
	fx_state_inputs(f->tmp, f->src, f->data, f->hidden);
	snprintf(f->state, sizeof f->state, "%s/state", f->tmp);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	tu_rmdir(f->tmp);
	free(f);
	return 0;
}

static struct vstate_init_opts opts_of(const struct fixture *f)
{
	struct vstate_init_opts o = { f->state, f->src, f->data, f->hidden, "tiny" };
	return o;
}

static void init_ok(const struct fixture *f)
{
	struct vstate_init_opts o = opts_of(f);
	struct kerr err = { 0 };

	if (vstate_init(&o, &err) < 0)
		fail_msg("vstate_init: %s: %s", err.code, err.msg);
}

static void sql(struct vstate *s, const char *q)
{
	char *msg = NULL;

	if (sqlite3_exec(s->db, q, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", q, msg);
}

static long long count(struct vstate *s, const char *table_sql)
{
	sqlite3_stmt *st;
	long long n;

	assert_int_equal(sqlite3_prepare_v2(s->db, table_sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* vstate_init creates the database, recipe repository (king recipe-v0.1.0),
 * store, work folder, data links and a private 32-byte secret. */
static void test_init_creates_everything(void **state)
{
	struct fixture *f = *state;
	struct vstate s;
	struct vstate_king k;
	struct kerr err = { 0 };
	char p[FS_PATH_MAX], commit[RECIPEREPO_COMMIT_HEX], buf[64], link[FS_PATH_MAX];
	struct stat sb;
	ssize_t n;
	static const uint8_t zero[VSTATE_SECRET_BYTES];

	init_ok(f);
	const char *names[] = { "state.db", "recipe/.git", "recipe/gpt.c", "store", "work" };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(p, sizeof p, "%s/%s", f->state, names[i]);
		assert_true(fs_exists(p));
	}
	snprintf(p, sizeof p, "%s/secret", f->state);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(sb.st_size, VSTATE_SECRET_BYTES);
	snprintf(p, sizeof p, "%s/hidden", f->state);
	n = readlink(p, link, sizeof link - 1);
	assert_true(n > 0);
	link[n] = '\0';
	assert_non_null(strstr(link, "/hidden"));

	assert_int_equal(vstate_open(f->state, &s, &err), 0);
	assert_memory_not_equal(s.secret, zero, sizeof zero);
	assert_string_equal(s.scale, "tiny");
	assert_non_null(strstr(s.data, "/data"));
	assert_non_null(strstr(s.hidden, "/hidden"));
	assert_int_equal(vstate_king_current(&s, &k, &err), 0);
	assert_string_equal(k.tag, RECIPEREPO_FIRST_TAG);
	assert_int_equal(reciperepo_resolve(s.recipe, RECIPEREPO_FIRST_TAG, commit, &err), 0);
	assert_string_equal(k.commit, commit);
	assert_true(isnan(k.hidden_bpb));
	assert_int_equal(vstate_meta_get(&s, "schema_version", buf, sizeof buf, &err), 0);
	assert_int_equal(atoi(buf), VSTATE_SCHEMA_VERSION);
	/* WAL and foreign keys are on for every connection vstate opens. */
	{
		sqlite3_stmt *st;
		assert_int_equal(sqlite3_prepare_v2(s.db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
		sqlite3_finalize(st);
	}
	assert_int_equal(count(&s, "PRAGMA foreign_keys"), 1);
	vstate_close(&s);
}

/* An existing non-empty folder is refused and left as it was; an empty one
 * is filled. */
static void test_init_refuses_nonempty(void **state)
{
	struct fixture *f = *state;
	struct vstate_init_opts o = opts_of(f);
	struct kerr err = { 0 };
	char p[FS_PATH_MAX];

	assert_int_equal(fs_mkdir_p(f->state, &err), 0);
	tu_put(f->state, "notes.txt", "mine\n");
	assert_int_equal(vstate_init(&o, &err), -1);
	assert_string_equal(err.code, "vstate.exists");
	snprintf(p, sizeof p, "%s/state.db", f->state);
	assert_false(fs_exists(p));
	snprintf(p, sizeof p, "%s/notes.txt", f->state);
	assert_true(fs_exists(p));
	assert_int_equal(unlink(p), 0);
	init_ok(f); /* now empty: accepted */
	/* and a second init over the created state is refused */
	assert_int_equal(vstate_init(&o, &err), -1);
	assert_string_equal(err.code, "vstate.exists");
}

/* The hidden split must not be the public folder; both must exist. */
static void test_init_refuses_bad_data(void **state)
{
	struct fixture *f = *state;
	struct vstate_init_opts o = opts_of(f);
	struct kerr err = { 0 };
	char missing[FS_PATH_MAX];

	o.hidden = f->data;
	assert_int_equal(vstate_init(&o, &err), -1);
	assert_string_equal(err.code, "vstate.hidden_is_public");
	snprintf(missing, sizeof missing, "%s/nope", f->tmp);
	o.hidden = missing;
	assert_int_equal(vstate_init(&o, &err), -1);
	assert_string_equal(err.code, "vstate.no_data");
	assert_false(fs_exists(f->state));
}

/* Missing or oversized required options are refused before anything is
 * made: no state folder, no staging folder beside it. */
static void test_init_refuses_usage(void **state)
{
	struct fixture *f = *state;
	char scale[VSTATE_SCALE_MAX + 1];
	struct kerr err = { 0 };

	memset(scale, 's', sizeof scale - 1);
	scale[sizeof scale - 1] = '\0';
	for (int c = 0; c < 5; c++) {
		struct vstate_init_opts o = opts_of(f);
		switch (c) {
		case 0: o.dir = ""; break;
		case 1: o.recipe_src = NULL; break;
		case 2: o.scale = NULL; break;
		case 3: o.scale = scale; break; /* would not fit struct vstate's scale */
		case 4: o.data = ""; break;
		}
		assert_int_equal(vstate_init(&o, &err), -1);
		assert_string_equal(err.code, "vstate.usage");
		assert_false(fs_exists(f->state));
	}
	/* only the three input folders fx_state_inputs made */
	assert_int_equal(tu_entries(f->tmp), 3);
}

/* A database whose schema_version is not this build's is refused. */
static void test_open_checks_schema(void **state)
{
	struct fixture *f = *state;
	struct vstate s;
	struct kerr err = { 0 };

	init_ok(f);
	assert_int_equal(vstate_open(f->state, &s, &err), 0);
	sql(&s, "UPDATE meta SET value = '999' WHERE key = 'schema_version'");
	vstate_close(&s);
	assert_int_equal(vstate_open(f->state, &s, &err), -1);
	assert_string_equal(err.code, "vstate.schema");
	assert_null(s.db);

	assert_int_equal(vstate_open(f->tmp, &s, &err), -1);
	assert_string_equal(err.code, "vstate.not_found");
}

/* A database file that is not ours (garbage) is a schema failure, not a
 * crash. */
static void test_open_garbage_db(void **state)
{
	struct fixture *f = *state;
	struct vstate s;
	struct kerr err = { 0 };
	char p[FS_PATH_MAX];

	init_ok(f);
	snprintf(p, sizeof p, "%s/state.db", f->state);
	assert_int_equal(unlink(p), 0);
	tu_put(f->state, "state.db", "this is not a database, just some text long enough to look like a header....");
	assert_int_equal(vstate_open(f->state, &s, &err), -1);
	assert_true(!strcmp(err.code, "vstate.schema") || !strcmp(err.code, "vstate.db"));
}

/* A secret others can read is refused, like ssh refuses such keys. */
static void test_secret_mode(void **state)
{
	struct fixture *f = *state;
	struct vstate s;
	struct kerr err = { 0 };
	char p[FS_PATH_MAX];

	init_ok(f);
	snprintf(p, sizeof p, "%s/secret", f->state);
	assert_int_equal(chmod(p, 0644), 0);
	assert_int_equal(vstate_open(f->state, &s, &err), -1);
	assert_string_equal(err.code, "vstate.secret_mode");
	assert_int_equal(chmod(p, 0600), 0);
	assert_int_equal(truncate(p, 16), 0);
	assert_int_equal(vstate_open(f->state, &s, &err), -1);
	assert_string_equal(err.code, "vstate.secret");
}

static int insert_noise_then(struct vstate *s, void *arg, struct kerr *err)
{
	const int *fail_after = arg;

	if (sqlite3_exec(s->db, "INSERT INTO noise(king_tag, scale, seeds, sigma, margin) VALUES('recipe-v0.1.0',"
				"'tiny', 10, 0.01, 0.02)",
			 NULL, NULL, NULL) != SQLITE_OK)
		return vstate_sql_error(s, "insert", err);
	if (*fail_after)
		return kerr_set(err, "test.fail", "failing on purpose");
	return 0;
}

struct nested {
	int inner_fails;
};

static int outer_tx(struct vstate *s, void *arg, struct kerr *err)
{
	const struct nested *n = arg;
	int no = 0;
	struct kerr inner = { 0 };

	if (insert_noise_then(s, &no, err) < 0)
		return -1;
	/* the inner transaction's failure is handled here: only it rolls back */
	if (vstate_tx(s, insert_noise_then, (void *)&n->inner_fails, &inner) < 0)
		assert_string_equal(inner.code, "test.fail");
	return 0;
}

/* vstate_tx commits on success, leaves nothing on failure; nested calls
 * are savepoints that roll back alone. */
static void test_tx(void **state)
{
	struct fixture *f = *state;
	struct vstate s;
	struct kerr err = { 0 };
	int yes = 1, no = 0;
	struct nested inner_fails = { 1 }, inner_ok = { 0 };

	init_ok(f);
	assert_int_equal(vstate_open(f->state, &s, &err), 0);
	assert_int_equal(vstate_tx(&s, insert_noise_then, &yes, &err), -1);
	assert_string_equal(err.code, "test.fail");
	assert_int_equal(count(&s, "SELECT count(*) FROM noise"), 0);
	assert_int_equal(vstate_tx(&s, insert_noise_then, &no, &err), 0);
	assert_int_equal(count(&s, "SELECT count(*) FROM noise"), 1);
	assert_int_equal(vstate_tx(&s, outer_tx, &inner_fails, &err), 0);
	assert_int_equal(count(&s, "SELECT count(*) FROM noise"), 2);
	assert_int_equal(vstate_tx(&s, outer_tx, &inner_ok, &err), 0);
	assert_int_equal(count(&s, "SELECT count(*) FROM noise"), 4);
	assert_int_equal(count(&s, "SELECT count(*) FROM noise WHERE king_tag = 'recipe-v0.1.0' AND seeds = 10"
			       " AND abs(margin - 0.02) < 1e-12"), 4);
	vstate_close(&s);
}

/* A meta value too long for its table is refused and not written; one too
 * long for the reader's buffer is refused, not cut short. A state whose
 * kings table is empty has no king, rather than a zeroed one. */
static void test_meta_limits_and_no_king(void **state)
{
	struct fixture *f = *state;
	struct vstate s;
	struct vstate_king k;
	struct kerr err = { 0 };
	char buf[8], *big;

	init_ok(f);
	assert_int_equal(vstate_open(f->state, &s, &err), 0);
	/* vstate.c's META_VALUE_MAX is FS_PATH_MAX: a value holds a path */
	assert_non_null(big = malloc(FS_PATH_MAX + 1));
	memset(big, 'v', FS_PATH_MAX);
	big[FS_PATH_MAX] = '\0';
	assert_int_equal(vstate_meta_set(&s, "note", big, &err), -1);
	assert_string_equal(err.code, "vstate.meta_too_long");
	assert_int_equal(vstate_meta_get(&s, "note", buf, sizeof buf, &err), -1);
	assert_string_equal(err.code, "vstate.meta_missing");
	big[FS_PATH_MAX - 1] = '\0'; /* the longest that fits */
	assert_int_equal(vstate_meta_set(&s, "note", big, &err), 0);
	free(big);
	assert_int_equal(vstate_meta_set(&s, "short", "1234567", &err), 0);
	assert_int_equal(vstate_meta_get(&s, "short", buf, sizeof buf, &err), 0);
	assert_string_equal(buf, "1234567");
	assert_int_equal(vstate_meta_set(&s, "short", "12345678", &err), 0);
	assert_int_equal(vstate_meta_get(&s, "short", buf, sizeof buf, &err), -1);
	assert_string_equal(err.code, "vstate.meta_too_long");

	sql(&s, "DELETE FROM kings");
	assert_int_equal(vstate_king_current(&s, &k, &err), -1);
	assert_string_equal(err.code, "vstate.no_king");
	vstate_close(&s);
}

/* Writes body to DIR/name, gives its path and digest. */
static void put_file(const char *dir, const char *name, const char *body, char path[FS_PATH_MAX],
		     char hex[HASH_HEX_BYTES])
{
	tu_put(dir, name, body);
	snprintf(path, FS_PATH_MAX, "%s/%s", dir, name);
	hash_buf_hex(body, strlen(body), hex);
}

/* The store names a file by its digest, accepts the same bytes again, and
 * stops on an entry whose bytes no longer match its name. */
static void test_store(void **state)
{
	struct fixture *f = *state;
	struct vstate s;
	struct kerr err = { 0 };
	char src[FS_PATH_MAX], dst[FS_PATH_MAX], hex[HASH_HEX_BYTES], again[HASH_HEX_BYTES], want[HASH_HEX_BYTES];
	const char *body = "checkpoint bytes\n";

	init_ok(f);
	assert_int_equal(vstate_open(f->state, &s, &err), 0);
	put_file(f->tmp, "ckpt.bin", body, src, want);
	assert_int_equal(vstate_store_file(&s, src, hex, &err), 0);
	assert_string_equal(hex, want);
	snprintf(dst, sizeof dst, "%s/store/%s", f->state, hex);
	assert_true(fs_exists(dst));
	assert_int_equal(vstate_store_file(&s, src, again, &err), 0);
	assert_string_equal(again, hex);
	/* damage the stored copy: the store refuses to pretend */
	assert_int_equal(unlink(dst), 0);
	tu_put(f->state, "store/x", "tampered");
	{
		char from[FS_PATH_MAX];
		snprintf(from, sizeof from, "%s/store/x", f->state);
		assert_int_equal(rename(from, dst), 0);
	}
	assert_int_equal(vstate_store_file(&s, src, again, &err), -1);
	assert_string_equal(err.code, "vstate.store_corrupt");
	/* no temporary files are left behind */
	{
		char out[4096];
		assert_int_equal(tu_run(out, sizeof out, "ls -A '%s/store' | grep -c tmp", f->state), 1);
	}
	vstate_close(&s);
}

/* A file whose digest the caller holds is linked into the store: the same
 * entry vstate_store_file makes, the same inode as the source (nothing
 * copied), accepted again, and a damaged entry is still refused. */
static void test_store_known(void **state)
{
	struct fixture *f = *state;
	struct vstate s;
	struct kerr err = { 0 };
	struct stat a, b;
	char src[FS_PATH_MAX], dst[FS_PATH_MAX], hex[HASH_HEX_BYTES], other[FS_PATH_MAX];
	const char *body = "a taken checkpoint\n";

	init_ok(f);
	assert_int_equal(vstate_open(f->state, &s, &err), 0);
	put_file(f->state, "work/ckpt.bin", body, src, hex);
	assert_int_equal(vstate_store_known(&s, src, hex, &err), 0);
	snprintf(dst, sizeof dst, "%s/store/%s", f->state, hex);
	assert_int_equal(stat(src, &a), 0);
	assert_int_equal(stat(dst, &b), 0);
	assert_true(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
	assert_int_equal(vstate_store_known(&s, src, hex, &err), 0);
	/* the source's name goes (a judgment's work folder is removed); the entry stays */
	assert_int_equal(unlink(src), 0);
	assert_true(fs_exists(dst));
	/* an entry that no longer holds its bytes is refused, as by vstate_store_file */
	assert_int_equal(unlink(dst), 0);
	tu_put(f->state, "store/x", "tampered");
	snprintf(other, sizeof other, "%s/store/x", f->state);
	assert_int_equal(rename(other, dst), 0);
	tu_put(f->state, "work/ckpt.bin", body);
	assert_int_equal(vstate_store_known(&s, src, hex, &err), -1);
	assert_string_equal(err.code, "vstate.store_corrupt");
	vstate_close(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_init_creates_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_refuses_nonempty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_refuses_bad_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_refuses_usage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_checks_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_garbage_db, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secret_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_meta_limits_and_no_king, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_known, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
