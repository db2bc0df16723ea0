/* test_miner_journal.c: the miner's work-folder record (src/miner/journal.c):
 * append, resume after a simulated kill (no experiment repeated, the cut
 * experiment's folder dropped), the TSV columns, a hostile table. */
#include "testutil.h"

#include "harness/calibrate.h"
#include "miner/journal.h"
#include "miner/search.h"

static void row(struct journal_row *r, int exp, const char *rung, const char *point, double bpb, const char *status)
{
	memset(r, 0, sizeof *r);
	r->exp = exp;
	snprintf(r->commit, sizeof r->commit, "%s", "d77e2de73effc550ff450b5fd7169528b44fcdba");
	snprintf(r->rung, sizeof r->rung, "%s", rung);
	snprintf(r->point, sizeof r->point, "%s", point);
	r->val_bpb = bpb;
	r->tok_per_s = 1234;
	snprintf(r->status, sizeof r->status, "%s", status);
	snprintf(r->desc, sizeof r->desc, "a\tdescription\nwith breaks");
}

static void test_append_and_columns(void **state)
{
	char *w = tu_mkdtemp(), dir[FS_PATH_MAX], path[FS_PATH_MAX], *text;
	struct journal j;
	struct journal_row r;
	struct kerr err = { { 0 }, { 0 } };
	size_t len;
	int exp;

	assert_int_equal(journal_open(&j, w, &err), 0);
	assert_int_equal(journal_begin(&j, &exp, dir, sizeof dir, &err), 0);
	assert_int_equal(exp, 1);
	row(&r, exp, "short", "king", 4.5, "baseline");
	assert_int_equal(journal_record(&j, &r, &err), 0);
	assert_int_equal(journal_begin(&j, &exp, dir, sizeof dir, &err), 0);
	row(&r, exp, "short", "lr=0.0045", NAN, "crash");
	assert_int_equal(journal_record(&j, &r, &err), 0);
	/* A status change replaces the row. */
	snprintf(r.status, sizeof r.status, "discard");
	assert_int_equal(journal_record(&j, &r, &err), 0);
	assert_int_equal((int)j.n, 2);
	snprintf(path, sizeof path, "%s/results.tsv", w);
	assert_int_equal(fs_read_all(path, 1 << 20, &text, &len, &err), 0);
	assert_true(!strncmp(text, "exp\tcommit\trung\tpoint\tval_bpb\ttok_per_s\tstatus\tdescription\n", 59));
	assert_non_null(strstr(text, "0001\td77e2de73effc550ff450b5fd7169528b44fcdba\tshort\tking\t4.500000\t1234\tbaseline\ta "
				     "description with breaks\n"));
	assert_non_null(strstr(text, "0002\td77e2de73effc550ff450b5fd7169528b44fcdba\tshort\tlr=0.0045\t-\t1234\tdiscard\t"));
	free(text);
	snprintf(path, sizeof path, "%s/experiments/0002/status", w);
	assert_int_equal(fs_read_all(path, 1 << 20, &text, &len, &err), 0);
	assert_true(!strncmp(text, "discard\n", 8));
	free(text);
	journal_close(&j);
	tu_rmdir(w);
}

/* The tiny scale's recipe-v0.1.0 values. */
static void tiny_king(struct knob_values *kv)
{
	memset(kv, 0, sizeof *kv);
	kv->v[KNOB_LR] = 3e-3, kv->v[KNOB_WARMUP] = 5, kv->v[KNOB_STEPS] = 30, kv->v[KNOB_BATCH] = 4;
	kv->v[KNOB_CONTEXT] = 64, kv->v[KNOB_WIDTH] = 64, kv->v[KNOB_DEPTH] = 2, kv->v[KNOB_LR_DECAY] = 1;
	kv->v[KNOB_WD] = 0.1, kv->v[KNOB_WD_EMBED] = 1, kv->v[KNOB_INIT_STD] = 0.02, kv->v[KNOB_BETA1] = 0.9;
	kv->v[KNOB_BETA2] = 0.95, kv->v[KNOB_EPS] = 1e-8, kv->heads = 2, kv->vocab = 320, kv->budget_units = 120;
	kv->ref_gflops = calib_gflops(&calib_ref_cpu, calib_ref_cpu.ref_ms); /* a CPU scale's unit */
	for (int k = 0; k < KNOB_COUNT; k++)
		kv->avail[k] = 1;
}

/* A kill mid-experiment: the folder exists, no row. On reopen the folder is
 * dropped, its number not reused, the recorded experiments are found and the
 * search does not propose them again. */
static void test_resume_after_kill(void **state)
{
	char *w = tu_mkdtemp(), dir[FS_PATH_MAX], cut[FS_PATH_MAX];
	struct journal j;
	struct journal_row r;
	struct kerr err = { { 0 }, { 0 } };
	struct knob_values kv;
	struct search_king sk;
	struct proposal p;
	int exp;

	tiny_king(&kv);
	sk = (struct search_king){ "d77e2de73effc550ff450b5fd7169528b44fcdba", &kv, 4.4, 0.0, 0 };

	assert_int_equal(journal_open(&j, w, &err), 0);
	assert_int_equal(search_next(7, &j, &sk, NULL, NULL, &p), 1);
	assert_string_equal(p.rung, "short");
	assert_string_equal(p.point_s, "king");
	assert_int_equal(journal_begin(&j, &exp, dir, sizeof dir, &err), 0);
	row(&r, exp, p.rung, p.point_s, 4.5, "baseline");
	assert_int_equal(journal_record(&j, &r, &err), 0);
	assert_int_equal(search_next(7, &j, &sk, NULL, NULL, &p), 1);
	assert_string_equal(p.rung, "short");
	assert_string_not_equal(p.point_s, "king");
	assert_int_equal(journal_begin(&j, &exp, cut, sizeof cut, &err), 0);
	/* killed here: no row for experiment 2 */
	journal_close(&j);

	assert_int_equal(journal_open(&j, w, &err), 0);
	assert_int_equal(j.dropped, 1);
	assert_false(fs_exists(cut));
	assert_int_equal((int)j.n, 1);
	assert_non_null(journal_find(&j, sk.commit, "short", "king"));
	{
		struct proposal q;
		char first[256];
		/* The same proposal again (it has no result), never the baseline. */
		assert_int_equal(search_next(7, &j, &sk, NULL, NULL, &q), 1);
		assert_string_equal(q.point_s, p.point_s);
		snprintf(first, sizeof first, "%s", q.point_s);
		assert_int_equal(journal_begin(&j, &exp, dir, sizeof dir, &err), 0);
		assert_int_equal(exp, 3);
		row(&r, exp, q.rung, q.point_s, 4.3, "keep");
		assert_int_equal(journal_record(&j, &r, &err), 0);
		journal_close(&j);
		assert_int_equal(journal_open(&j, w, &err), 0);
		/* A screened point that beat the baseline goes to its full run. */
		assert_int_equal(search_next(7, &j, &sk, NULL, NULL, &q), 1);
		assert_string_equal(q.rung, "full");
		assert_string_equal(q.point_s, first);
		row(&r, 4, "full", first, 4.6, "discard");
		assert_int_equal(journal_record(&j, &r, &err), 0);
		/* Nothing recorded is proposed again. */
		for (int i = 0; i < 40 && search_next(7, &j, &sk, NULL, NULL, &q) == 1; i++) {
			assert_null(journal_find(&j, sk.commit, q.rung, q.point_s));
			row(&r, 5 + i, q.rung, q.point_s, 4.7, "discard");
			assert_int_equal(journal_record(&j, &r, &err), 0);
		}
	}
	journal_close(&j);
	tu_rmdir(w);
}

/* The search learns per arm (a knob moved one way): lowering the steps
 * hurt, which says nothing about raising them; a learning rate that won its
 * short run but not its full run by the margin falls behind untried arms. */
/* Records one finished experiment on king commit. */
static void record_on(struct journal *j, const char *commit, const char *rung, const char *point, double bpb,
		      const char *status)
{
	char dir[FS_PATH_MAX];
	struct journal_row r;
	struct kerr err = { { 0 }, { 0 } };
	int exp;

	assert_int_equal(journal_begin(j, &exp, dir, sizeof dir, &err), 0);
	row(&r, exp, rung, point, bpb, status);
	snprintf(r.commit, sizeof r.commit, "%s", commit);
	assert_int_equal(journal_record(j, &r, &err), 0);
}

static void record(struct journal *j, const char *rung, const char *point, double bpb, const char *status)
{
	record_on(j, "d77e2de73effc550ff450b5fd7169528b44fcdba", rung, point, bpb, status);
}

/* A journal in a new folder (its path in *w) for the tiny king whose
 * public score is 4.4 and margin 0.05. */
static void tiny_search(char **w, struct journal *j, struct knob_values *kv, struct search_king *sk)
{
	struct kerr err = { { 0 }, { 0 } };

	*w = tu_mkdtemp();
	tiny_king(kv);
	*sk = (struct search_king){ "d77e2de73effc550ff450b5fd7169528b44fcdba", kv, 4.4, 0.05, 0 };
	assert_int_equal(journal_open(j, *w, &err), 0);
}

static void test_search_learns_per_arm(void **state)
{
	char *w;
	struct journal j;
	struct knob_values kv;
	struct search_king sk;
	struct proposal p;

	tiny_search(&w, &j, &kv, &sk);
	record(&j, "short", "king", 4.5, "baseline");
	/* Untried, "steps up" leads on its prior. */
	assert_int_equal(search_next(7, &j, &sk, NULL, NULL, &p), 1);
	assert_string_equal(p.rung, "short");
	assert_int_equal(p.point.n, 1);
	assert_int_equal(p.point.set[0].k, KNOB_STEPS);
	assert_true(p.point.set[0].v > 30);
	/* A bad "steps down" does not demote "steps up". */
	record(&j, "short", "steps=24", 4.8, "discard");
	assert_int_equal(search_next(7, &j, &sk, NULL, NULL, &p), 1);
	assert_int_equal(p.point.set[0].k, KNOB_STEPS);
	assert_true(p.point.set[0].v > 30);
	/* lr up wins its short run by far, then its full run by less than the
	 * margin: its arm now scores below the untried ones. */
	record(&j, "short", "lr=0.0045", 4.2, "keep");
	assert_int_equal(search_next(7, &j, &sk, NULL, NULL, &p), 1);
	assert_string_equal(p.rung, "full");
	assert_string_equal(p.point_s, "lr=0.0045");
	record(&j, "full", "lr=0.0045", 4.41, "discard");
	for (int i = 0; i < 6; i++) {
		assert_int_equal(search_next(7, &j, &sk, NULL, NULL, &p), 1);
		assert_non_null(strstr(p.why, "prior"));
		assert_null(strstr(p.point_s, "lr=0.00675"));
		record(&j, p.rung, p.point_s, 4.6, "discard");
	}
	journal_close(&j);
	tu_rmdir(w);
}

/* A baseline that crashed is run again, and the first that finishes is
 * the one screened points are scored against (a crash row first in the
 * journal once left every point scored against nothing, every point
 * discarded). One that crashes SEARCH_BASELINE_TRIES times ends the
 * search with the reason; so does the king's own full run when the
 * validator has no public score. */
static void test_crashed_baseline_is_run_again(void **state)
{
	char *w;
	struct journal j;
	struct knob_values kv;
	struct search_king sk;
	struct proposal p;

	(void)state;
	tiny_search(&w, &j, &kv, &sk);
	record(&j, "short", "king", NAN, "crash");
	assert_int_equal(search_next(7, &j, &sk, NULL, NULL, &p), 1);
	assert_string_equal(p.rung, "short");
	assert_int_equal(p.point.n, 0);
	assert_non_null(strstr(p.why, "again"));
	record(&j, "short", "king", 4.5, "baseline");
	assert_int_equal(search_next(7, &j, &sk, NULL, NULL, &p), 1);
	assert_int_equal(p.point.n, 1);
	record(&j, "short", p.point_s, 4.2, "keep");
	/* it beat the baseline that finished: promoted to its full run */
	assert_int_equal(search_next(7, &j, &sk, NULL, NULL, &p), 1);
	assert_string_equal(p.rung, "full");
	assert_non_null(strstr(p.why, "beat the king's 4.5000"));
	/* another king whose baseline always crashes */
	sk.commit = "0000000000000000000000000000000000000001";
	for (int i = 0; i < SEARCH_BASELINE_TRIES; i++) {
		assert_int_equal(search_next(7, &j, &sk, NULL, NULL, &p), 1);
		assert_string_equal(p.rung, "short");
		assert_int_equal(p.point.n, 0);
		record_on(&j, sk.commit, "short", "king", NAN, "crash");
	}
	assert_int_equal(search_next(7, &j, &sk, NULL, NULL, &p), -1);
	assert_non_null(strstr(p.why, "short run crashed 3 times"));
	/* a new start (its rows begin after these) tries it again */
	sk.since = j.n;
	assert_int_equal(search_next(7, &j, &sk, NULL, NULL, &p), 1);
	assert_string_equal(p.rung, "short");
	/* no public score: the king's own full run, likewise; a full run
	 * that finished and a short one that keeps crashing name the short */
	sk.commit = "0000000000000000000000000000000000000002";
	sk.public_bpb = NAN;
	for (int i = 0; i < SEARCH_BASELINE_TRIES; i++) {
		assert_int_equal(search_next(7, &j, &sk, NULL, NULL, &p), 1);
		assert_string_equal(p.rung, "full");
		record_on(&j, sk.commit, "full", "king", NAN, "crash");
	}
	assert_int_equal(search_next(7, &j, &sk, NULL, NULL, &p), -1);
	assert_non_null(strstr(p.why, "full run crashed 3 times"));
	sk.commit = "0000000000000000000000000000000000000003";
	record_on(&j, sk.commit, "full", "king", 4.4, "baseline");
	for (int i = 0; i < SEARCH_BASELINE_TRIES; i++)
		record_on(&j, sk.commit, "short", "king", NAN, "crash");
	assert_int_equal(search_next(7, &j, &sk, NULL, NULL, &p), -1);
	assert_non_null(strstr(p.why, "short run crashed 3 times"));
	journal_close(&j);
	tu_rmdir(w);
}

static void test_hostile_table(void **state)
{
	char *w = tu_mkdtemp(), path[FS_PATH_MAX];
	struct journal j;
	struct kerr err = { { 0 }, { 0 } };
	const char bad_head[] = "not\ta\ttable\n", bad_row[] = JOURNAL_COLUMNS "\nzzz\tonly\n";

	snprintf(path, sizeof path, "%s/results.tsv", w);
	assert_int_equal(fs_write_atomic(path, bad_head, strlen(bad_head), &err), 0);
	assert_int_equal(journal_open(&j, w, &err), -1);
	assert_string_equal(err.code, "miner.journal");
	assert_int_equal(fs_write_atomic(path, bad_row, strlen(bad_row), &err), 0);
	assert_int_equal(journal_open(&j, w, &err), -1);
	assert_string_equal(err.code, "miner.journal");
	tu_rmdir(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_and_columns),
		cmocka_unit_test(test_search_learns_per_arm),
		cmocka_unit_test(test_crashed_baseline_is_run_again),
		cmocka_unit_test(test_resume_after_kill),
		cmocka_unit_test(test_hostile_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
