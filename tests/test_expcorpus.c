/* test_expcorpus.c: the experiment corpus against a real validator state
 * (SQLite file, FTS5) in a temporary folder: record/get round trip, replay
 * refusal with nothing half-written, credit for identical patches, search
 * (words, patch text, reason codes, ranking, filters, bad syntax), later
 * verdicts, export formats, citations, and an injected mid-transaction
 * failure. The last test drives the CLI. */
#include "fixtures.h"

#include <jansson.h>
#include <math.h>
#include <time.h>

#include "validator/expcorpus.h"
#include "validator/validator.h"
#include "validator/vstate.h"
#include "util/fsutil.h"
#include "util/hash.h"

struct fixture {
	char *tmp;
	char state[FS_PATH_MAX];
	struct vstate s;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	struct kerr err = { 0 };
	char src[FS_PATH_MAX], data[FS_PATH_MAX], hidden[FS_PATH_MAX];

	assert_int_equal(hash_init_lib(), 0);
	f->tmp = tu_mkdtemp();
	fx_state_inputs(f->tmp, src, data, hidden);
	snprintf(f->state, sizeof f->state, "%s/state", f->tmp);
	{
		struct vstate_init_opts o = { f->state, src, data, hidden, "tiny" };
		if (vstate_init(&o, &err) < 0)
			fail_msg("vstate_init: %s: %s", err.code, err.msg);
	}
	assert_int_equal(validator_open(f->state, &f->s, &err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vstate_close(&f->s);
	tu_rmdir(f->tmp);
	free(f);
	return 0;
}

static long long count(struct vstate *s, const char *q)
{
	sqlite3_stmt *st;
	long long n;

	assert_int_equal(sqlite3_prepare_v2(s->db, q, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void rows(struct vstate *s, long long out[3])
{
	out[0] = count(s, "SELECT count(*) FROM submissions");
	out[1] = count(s, "SELECT count(*) FROM checks");
	out[2] = count(s, "SELECT count(*) FROM corpus_fts");
}

/* An entry whose manifest digest is the hash of `name`, miner the hash of
 * `miner`, patch digest the hash of the patch. */
static void entry(struct expcorpus_entry *e, const char *name, const char *miner, const char *patch,
		  const char *rationale, const char *verdict, const char *reason_code, const char *received_at)
{
	expcorpus_entry_blank(e);
	hash_buf_hex(name, strlen(name), e->manifest_sha256);
	hash_buf_hex(miner, strlen(miner), e->miner);
	hash_buf_hex(patch, strlen(patch), e->patch_sha256);
	e->patch = (char *)patch;
	e->rationale = (char *)rationale;
	snprintf(e->verdict, sizeof e->verdict, "%s", verdict);
	snprintf(e->reason_code, sizeof e->reason_code, "%s", reason_code ? reason_code : "");
	snprintf(e->received_at, sizeof e->received_at, "%s", received_at ? received_at : "");
	snprintf(e->king_tag, sizeof e->king_tag, "recipe-v0.1.0");
	snprintf(e->scale, sizeof e->scale, "tiny");
	e->seed = 1337;
}

static void record_ok(struct fixture *f, const struct expcorpus_entry *e, const struct expcorpus_check *c, size_t n,
		      char id[EXPCORPUS_ID_BYTES])
{
	struct kerr err = { 0 };

	if (expcorpus_record(&f->s, e, c, n, id, &err) < 0)
		fail_msg("expcorpus_record: %s: %s", err.code, err.msg);
}

static const struct expcorpus_check three_checks[3] = {
	{ "diff_scan", "pass", "", "", 0.01 },
	{ "attest", "pass", "", "", 0.02 },
	{ "hidden_eval", "fail", "judge.not_decisive", "hidden bpb 1.9 not below king 1.85 - margin", NAN },
};

/* A recorded entry comes back field for field, with its checks in order,
 * by id and by manifest digest; the id is k- + 12 hex of the manifest. */
static void test_record_get_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct expcorpus_entry e, g;
	struct kerr err = { 0 };
	char id[EXPCORPUS_ID_BYTES], want[EXPCORPUS_ID_BYTES];

	entry(&e, "m1", "alice", "--- a/gpt.c\n+++ b/gpt.c\n", "Longer warmup.", EXPCORPUS_NOT_DECISIVE,
	      "judge.not_decisive", "2026-11-25T10:00:00Z");
	snprintf(e.reason, sizeof e.reason, "not decisive");
	e.claimed_public_bpb = 1.91;
	e.public_bpb = 1.9100001;
	e.hidden_bpb = 1.9;
	e.king_bpb = 1.85;
	e.margin = 0.02;
	e.alpha = 0.5;
	e.proof_cpu_s = 120.0;
	e.judge_cpu_s = 1.5;
	snprintf(e.attest_kind, sizeof e.attest_kind, "mock");
	record_ok(f, &e, three_checks, 3, id);
	snprintf(want, sizeof want, "k-%.12s", e.manifest_sha256);
	assert_string_equal(id, want);

	assert_int_equal(expcorpus_get(&f->s, id, &g, &err), 0);
	assert_string_equal(g.id, id);
	assert_string_equal(g.manifest_sha256, e.manifest_sha256);
	assert_string_equal(g.patch_sha256, e.patch_sha256);
	assert_string_equal(g.miner, e.miner);
	assert_string_equal(g.king_tag, "recipe-v0.1.0");
	assert_int_equal(g.seed, 1337);
	assert_string_equal(g.rationale, "Longer warmup.");
	assert_string_equal(g.patch, e.patch);
	assert_string_equal(g.received_at, "2026-11-25T10:00:00Z");
	assert_int_equal(strlen(g.judged_at), 20);
	assert_string_equal(g.verdict, EXPCORPUS_NOT_DECISIVE);
	assert_string_equal(g.reason_code, "judge.not_decisive");
	assert_string_equal(g.reason, "not decisive");
	assert_true(g.claimed_public_bpb == 1.91 && g.public_bpb == 1.9100001 && g.hidden_bpb == 1.9);
	assert_true(g.king_bpb == 1.85 && g.margin == 0.02 && g.alpha == 0.5);
	assert_true(g.proof_cpu_s == 120.0 && g.judge_cpu_s == 1.5);
	assert_string_equal(g.attest_kind, "mock");
	assert_string_equal(g.credited_to, "");
	assert_string_equal(g.challenge_of, "");
	assert_int_equal(g.challenge_seed, -1);
	assert_int_equal(g.n_checks, 3);
	for (int i = 0; i < 3; i++) {
		assert_string_equal(g.checks[i].name, three_checks[i].name);
		assert_string_equal(g.checks[i].outcome, three_checks[i].outcome);
		assert_string_equal(g.checks[i].code, three_checks[i].code);
		assert_string_equal(g.checks[i].message, three_checks[i].message);
	}
	assert_true(g.checks[0].cpu_s == 0.01 && isnan(g.checks[2].cpu_s));
	expcorpus_entry_free(&g);

	assert_int_equal(expcorpus_get(&f->s, e.manifest_sha256, &g, &err), 0);
	assert_string_equal(g.id, id);
	expcorpus_entry_free(&g);
	assert_int_equal(expcorpus_get(&f->s, "k-000000000000", &g, &err), -1);
	assert_string_equal(err.code, "expcorpus.not_found");
}

/* The same manifest twice is a replay: refused, and no row of any table
 * changes. */
static void test_duplicate_refused(void **state)
{
	struct fixture *f = *state;
	struct expcorpus_entry e;
	struct kerr err = { 0 };
	char id[EXPCORPUS_ID_BYTES], id2[EXPCORPUS_ID_BYTES] = "";
	long long before[3], after[3];

	entry(&e, "m1", "alice", "patch", "r", EXPCORPUS_REJECTED, "judge.stale", NULL);
	record_ok(f, &e, three_checks, 3, id);
	rows(&f->s, before);
	assert_int_equal(expcorpus_record(&f->s, &e, three_checks, 2, id2, &err), -1);
	assert_string_equal(err.code, "expcorpus.duplicate");
	assert_non_null(strstr(err.msg, id));
	assert_string_equal(id2, "");
	rows(&f->s, after);
	assert_memory_equal(before, after, sizeof before);
	assert_int_equal(before[0], 1);
	assert_int_equal(before[1], 3);
	assert_int_equal(before[2], 1);
}

/* An identical patch from another key is credited to the earliest holder;
 * a rejected (unverified) proof never holds the credit. */
static void test_credit(void **state)
{
	struct fixture *f = *state;
	struct expcorpus_entry e, g;
	struct kerr err = { 0 };
	char a[EXPCORPUS_ID_BYTES], b[EXPCORPUS_ID_BYTES], r[EXPCORPUS_ID_BYTES], c[EXPCORPUS_ID_BYTES],
		d[EXPCORPUS_ID_BYTES];

	entry(&e, "m-a", "alice", "PATCH P", "mine", EXPCORPUS_NOT_DECISIVE, NULL, "2026-11-01T00:00:00Z");
	record_ok(f, &e, NULL, 0, a);
	entry(&e, "m-b", "bob", "PATCH P", "copied", EXPCORPUS_NOT_DECISIVE, NULL, "2026-11-02T00:00:00Z");
	record_ok(f, &e, NULL, 0, b);
	assert_int_equal(expcorpus_get(&f->s, b, &g, &err), 0);
	assert_string_equal(g.credited_to, a);
	expcorpus_entry_free(&g);
	assert_int_equal(expcorpus_get(&f->s, a, &g, &err), 0);
	assert_string_equal(g.credited_to, "");
	expcorpus_entry_free(&g);

	entry(&e, "m-r", "mallory", "PATCH Q", "claim", EXPCORPUS_REJECTED, "attest.sig_invalid",
	      "2026-11-03T00:00:00Z");
	record_ok(f, &e, NULL, 0, r);
	entry(&e, "m-c", "carol", "PATCH Q", "real", EXPCORPUS_CHALLENGE_PENDING, NULL, "2026-11-04T00:00:00Z");
	record_ok(f, &e, NULL, 0, c);
	entry(&e, "m-d", "dave", "PATCH Q", "again", EXPCORPUS_NOT_DECISIVE, NULL, "2026-11-05T00:00:00Z");
	record_ok(f, &e, NULL, 0, d);
	assert_int_equal(expcorpus_get(&f->s, c, &g, &err), 0);
	assert_string_equal(g.credited_to, "");
	expcorpus_entry_free(&g);
	assert_int_equal(expcorpus_get(&f->s, d, &g, &err), 0);
	assert_string_equal(g.credited_to, c);
	expcorpus_entry_free(&g);

	/* On a later king, the same patch is a new claim, as the judge has
	 * it: alice's proof of P against the old king, not decisive there,
	 * must not take the credit for erin's crowning on this one. Erin's
	 * answer is credited to the original it answers, not to erin's first
	 * proof of P on this king. */
	entry(&e, "m-e0", "erin", "PATCH P", "first try", EXPCORPUS_NOT_DECISIVE, NULL, "2026-11-05T12:00:00Z");
	snprintf(e.king_tag, sizeof e.king_tag, "recipe-v0.1.1");
	record_ok(f, &e, NULL, 0, r);
	assert_int_equal(expcorpus_get(&f->s, r, &g, &err), 0);
	assert_string_equal(g.credited_to, "");
	expcorpus_entry_free(&g);
	entry(&e, "m-e", "erin", "PATCH P", "on the new king", EXPCORPUS_CHALLENGE_PENDING, NULL,
	      "2026-11-06T00:00:00Z");
	snprintf(e.king_tag, sizeof e.king_tag, "recipe-v0.1.1");
	record_ok(f, &e, NULL, 0, a);
	assert_int_equal(expcorpus_get(&f->s, a, &g, &err), 0);
	assert_string_equal(g.credited_to, r);
	expcorpus_entry_free(&g);
	entry(&e, "m-e2", "erin", "PATCH P", "on the new king", EXPCORPUS_ACCEPTED_KING, NULL, "2026-11-07T00:00:00Z");
	snprintf(e.king_tag, sizeof e.king_tag, "recipe-v0.1.1");
	snprintf(e.challenge_of, sizeof e.challenge_of, "%s", a);
	e.seed = 99;
	record_ok(f, &e, NULL, 0, b);
	assert_int_equal(expcorpus_get(&f->s, b, &g, &err), 0);
	assert_string_equal(g.credited_to, a);
	expcorpus_entry_free(&g);
}

#define SCORE 1.875 /* the hidden score of the rows below that share a model */

/* expcorpus_earlier_claim on the named patch and miner, before `before`,
 * the final checkpoint naming the model alone when by_final. */
static void claim_by(struct fixture *f, const char *patch, const char *final, double hidden, int by_final,
		     const char *king, const char *miner, const char *before, const char *want)
{
	struct kerr err = { 0 };
	char p[HASH_HEX_BYTES], m[HASH_HEX_BYTES], out[EXPCORPUS_ID_BYTES] = "x";

	hash_buf_hex(patch, strlen(patch), p);
	hash_buf_hex(miner, strlen(miner), m);
	if (expcorpus_earlier_claim(&f->s, p, final, hidden, by_final, king, m, before, out, &err) < 0)
		fail_msg("earlier_claim: %s: %s", err.code, err.msg);
	assert_string_equal(out, want);
}

static void claim_before(struct fixture *f, const char *patch, const char *final, double hidden, const char *king,
			 const char *miner, const char *before, const char *want)
{
	claim_by(f, patch, final, hidden, 0, king, miner, before, want);
}

static void claim_is(struct fixture *f, const char *patch, const char *final, const char *king, const char *miner,
		     const char *want)
{
	claim_before(f, patch, final, SCORE, king, miner, NULL, want);
}

/* The same trained model under another patch text (a comment added to a
 * published patch, retrained: the same final checkpoint, scored the same)
 * is the same claim for the copy rule and the credit, on the same king
 * only; the same checkpoint scored otherwise is the same model when the
 * checkpoint alone names it (it is not the king's own), another idea when
 * it does not; a rejected proof's checkpoint claims nothing; the digest
 * is stored and validated. */
static void test_copy_by_final_checkpoint(void **state)
{
	struct fixture *f = *state;
	struct expcorpus_entry e, g;
	struct kerr err = { 0 };
	char fin[HASH_HEX_BYTES], other[HASH_HEX_BYTES], a[EXPCORPUS_ID_BYTES], b[EXPCORPUS_ID_BYTES],
		r[EXPCORPUS_ID_BYTES];

	hash_buf_hex("final F", 7, fin);
	hash_buf_hex("final G", 7, other);
	entry(&e, "f-a", "alice", "PATCH P", "found", EXPCORPUS_CHALLENGE_PENDING, NULL, "2026-11-01T00:00:00Z");
	snprintf(e.final_sha256, sizeof e.final_sha256, "%s", fin);
	e.hidden_bpb = SCORE;
	record_ok(f, &e, NULL, 0, a);
	assert_int_equal(expcorpus_get(&f->s, a, &g, &err), 0);
	assert_string_equal(g.final_sha256, fin);
	expcorpus_entry_free(&g);

	/* bob's patch text differs, his model does not */
	claim_is(f, "PATCH P /* mine */", fin, "recipe-v0.1.0", "bob", a);
	claim_is(f, "PATCH P /* mine */", NULL, "recipe-v0.1.0", "bob", "");
	claim_is(f, "PATCH P /* mine */", other, "recipe-v0.1.0", "bob", "");
	claim_is(f, "PATCH P /* mine */", fin, "recipe-v0.1.1", "bob", "");
	claim_is(f, "PATCH P /* again */", fin, "recipe-v0.1.0", "alice", "");
	/* the same checkpoint under another evaluation: another idea when
	 * that checkpoint is the king's own model (every evaluation-only idea
	 * trains it), the same model when it is not (a thief who took the
	 * discoverer's checkpoints and changed how they are scored) */
	claim_before(f, "PATCH T (eval temperature)", fin, nextafter(SCORE, 2.0), "recipe-v0.1.0", "bob", NULL, "");
	claim_before(f, "PATCH T (eval temperature)", fin, NAN, "recipe-v0.1.0", "bob", NULL, "");
	claim_by(f, "PATCH T (eval temperature)", fin, nextafter(SCORE, 2.0), 1, "recipe-v0.1.0", "bob", NULL, a);
	claim_by(f, "PATCH T (eval temperature)", fin, NAN, 1, "recipe-v0.1.0", "bob", NULL, a);
	claim_by(f, "PATCH T (eval temperature)", other, SCORE, 1, "recipe-v0.1.0", "bob", NULL, "");
	claim_by(f, "PATCH T (eval temperature)", fin, SCORE, 1, "recipe-v0.1.1", "bob", NULL, "");
	entry(&e, "f-b", "bob", "PATCH P /* mine */", "mine", EXPCORPUS_NOT_DECISIVE, "judge.copy",
	      "2026-11-02T00:00:00Z");
	snprintf(e.final_sha256, sizeof e.final_sha256, "%s", fin);
	e.hidden_bpb = SCORE;
	record_ok(f, &e, NULL, 0, b);
	assert_int_equal(expcorpus_get(&f->s, b, &g, &err), 0);
	assert_string_equal(g.credited_to, a);
	expcorpus_entry_free(&g);
	/* bob's own patch again, retrained to another model: his earliest
	 * claim is his copy of alice's model, so the claim is alice's (the end
	 * of its credit, which the weights pay), not bob's own */
	{
		char third[HASH_HEX_BYTES];

		hash_buf_hex("final H", 7, third);
		claim_is(f, "PATCH P /* mine */", third, "recipe-v0.1.0", "bob", a);
		claim_is(f, "PATCH P /* mine */", third, "recipe-v0.1.0", "alice", "");
	}
	entry(&e, "f-t", "carol", "PATCH T (eval temperature)", "eval", EXPCORPUS_NOT_DECISIVE, NULL,
	      "2026-11-02T12:00:00Z");
	snprintf(e.final_sha256, sizeof e.final_sha256, "%s", fin);
	e.hidden_bpb = SCORE - 0.25;
	record_ok(f, &e, NULL, 0, r);
	assert_int_equal(expcorpus_get(&f->s, r, &g, &err), 0);
	assert_string_equal(g.credited_to, "");
	expcorpus_entry_free(&g);
	entry(&e, "f-u", "carol", "PATCH U (eval scale)", "eval", EXPCORPUS_NOT_DECISIVE, NULL, "2026-11-02T13:00:00Z");
	snprintf(e.final_sha256, sizeof e.final_sha256, "%s", fin);
	e.hidden_bpb = SCORE - 0.125;
	e.final_alone = 1;
	record_ok(f, &e, NULL, 0, r);
	assert_int_equal(expcorpus_get(&f->s, r, &g, &err), 0);
	assert_string_equal(g.credited_to, a);
	expcorpus_entry_free(&g);
	/* before a row, only the rows recorded before it count: the settle
	 * check of an answer asks about its original, which is alice's */
	claim_before(f, "PATCH P /* mine */", fin, SCORE, "recipe-v0.1.0", "bob", b, a);
	claim_before(f, "PATCH P", fin, SCORE, "recipe-v0.1.0", "alice", a, "");
	claim_before(f, "PATCH P", fin, SCORE, "recipe-v0.1.0", "alice", b, "");

	/* a rejected proof naming a checkpoint establishes nothing */
	entry(&e, "f-r", "mallory", "PATCH R", "forged", EXPCORPUS_REJECTED, "bundle.sig_invalid",
	      "2026-11-03T00:00:00Z");
	snprintf(e.final_sha256, sizeof e.final_sha256, "%s", other);
	record_ok(f, &e, NULL, 0, r);
	claim_is(f, "PATCH S", other, "recipe-v0.1.0", "dave", "");
	entry(&e, "f-d", "dave", "PATCH S", "real", EXPCORPUS_NOT_DECISIVE, NULL, "2026-11-04T00:00:00Z");
	snprintf(e.final_sha256, sizeof e.final_sha256, "%s", other);
	record_ok(f, &e, NULL, 0, r);
	assert_int_equal(expcorpus_get(&f->s, r, &g, &err), 0);
	assert_string_equal(g.credited_to, "");
	expcorpus_entry_free(&g);

	entry(&e, "f-x", "erin", "PATCH X", "bad", EXPCORPUS_NOT_DECISIVE, NULL, NULL);
	snprintf(e.final_sha256, sizeof e.final_sha256, "%.63sZ", fin);
	assert_int_equal(expcorpus_record(&f->s, &e, NULL, 0, r, &err), -1);
	assert_string_equal(err.code, "expcorpus.invalid");
	assert_non_null(strstr(err.msg, "final_sha256"));
}

/* One king change is two rows, the decisive submission and its challenge
 * answer, both accepted_king once settled: counted once. A failed
 * challenge likewise. */
static void test_counts_one_king_change_once(void **state)
{
	struct fixture *f = *state;
	struct expcorpus_entry e;
	long long counts[EXPCORPUS_VERDICTS], answers = -1;
	struct kerr err = { 0 };
	char orig[EXPCORPUS_ID_BYTES], ans[EXPCORPUS_ID_BYTES], o2[EXPCORPUS_ID_BYTES], a2[EXPCORPUS_ID_BYTES];

	entry(&e, "k-orig", "alice", "PATCH K", "decisive", EXPCORPUS_CHALLENGE_PENDING, NULL, "2026-12-01T00:00:00Z");
	record_ok(f, &e, NULL, 0, orig);
	entry(&e, "k-answer", "alice", "PATCH K", "decisive", EXPCORPUS_ACCEPTED_KING, NULL, "2026-12-02T00:00:00Z");
	snprintf(e.challenge_of, sizeof e.challenge_of, "%s", orig);
	record_ok(f, &e, NULL, 0, ans);
	assert_int_equal(expcorpus_update_verdict(&f->s, orig, EXPCORPUS_ACCEPTED_KING, "", "confirmed", &err), 0);
	/* a second answer to the same challenge, judged at once and settled
	 * after the first one crowned it, leaves the crowned original as is */
	assert_int_equal(expcorpus_settle_pending(&f->s, orig, EXPCORPUS_CHALLENGE_FAILED, "king.stale", "late", &err), 0);
	{
		struct expcorpus_entry got;

		assert_int_equal(expcorpus_get(&f->s, orig, &got, &err), 0);
		assert_string_equal(got.verdict, EXPCORPUS_ACCEPTED_KING);
		expcorpus_entry_free(&got);
	}
	entry(&e, "f-orig", "bob", "PATCH F", "lucky", EXPCORPUS_CHALLENGE_PENDING, NULL, "2026-12-03T00:00:00Z");
	record_ok(f, &e, NULL, 0, o2);
	entry(&e, "f-answer", "bob", "PATCH F", "lucky", EXPCORPUS_CHALLENGE_FAILED, "judge.challenge_failed",
	      "2026-12-04T00:00:00Z");
	snprintf(e.challenge_of, sizeof e.challenge_of, "%s", o2);
	record_ok(f, &e, NULL, 0, a2);
	assert_int_equal(expcorpus_settle_pending(&f->s, o2, EXPCORPUS_CHALLENGE_FAILED, "judge.challenge_failed",
						  "not decisive under the challenge seed", &err),
			 0);
	assert_int_equal(expcorpus_counts(&f->s, counts, &answers, &err), 0);
	for (int i = 0; i < EXPCORPUS_VERDICTS; i++) {
		long long want = !strcmp(expcorpus_verdicts[i], EXPCORPUS_ACCEPTED_KING) ||
				 !strcmp(expcorpus_verdicts[i], EXPCORPUS_CHALLENGE_FAILED);
		if (counts[i] != want)
			fail_msg("%s counted %lld times, want %lld", expcorpus_verdicts[i], counts[i], want);
	}
	assert_int_equal(answers, 2);
}

/* Five entries to search: rationale words, patch text, reason codes. */
static void corpus5(struct fixture *f, char ids[5][EXPCORPUS_ID_BYTES])
{
	struct expcorpus_entry e;

	entry(&e, "s1", "alice", "+\tlr_warmup_steps = 200;\n", "Raise the warmup: warmup warmup helps small models.",
	      EXPCORPUS_NOT_DECISIVE, "judge.not_decisive", "2026-10-01T00:00:00Z");
	record_ok(f, &e, three_checks, 3, ids[0]);
	entry(&e, "s2", "bob", "+\tswiglu_forward(x);\n", "Swap GELU for SwiGLU in the MLP; one mention of warmup.",
	      EXPCORPUS_ACCEPTED_KING, NULL, "2026-10-15T00:00:00Z");
	record_ok(f, &e, NULL, 0, ids[1]);
	entry(&e, "s3", "carol", "+\trmsnorm_forward(out, x, eps);\n", "Replace layernorm.", EXPCORPUS_REJECTED,
	      "judge.stale", "2026-11-01T00:00:00Z");
	record_ok(f, &e, NULL, 0, ids[2]);
	entry(&e, "s4", "dave", "+\tint tied = 1;\n", "Tie embeddings to save parameters.", EXPCORPUS_REJECTED,
	      "attest.sig_invalid", "2026-11-20T00:00:00Z");
	record_ok(f, &e, NULL, 0, ids[3]);
	entry(&e, "s5", "erin", "+\tfloat beta2 = 0.95f;\n", "Lower Adam beta2 with the longer warmup.",
	      EXPCORPUS_CHALLENGE_PENDING, NULL, "2026-11-25T00:00:00Z");
	record_ok(f, &e, NULL, 0, ids[4]);
}

static size_t search(struct fixture *f, const char *text, const char *verdict, const char *since,
		     struct expcorpus_hit **hits)
{
	struct expcorpus_query q = { text, verdict, since, 0, 0 };
	struct kerr err = { 0 };
	size_t n;

	if (expcorpus_search(&f->s, &q, hits, &n, &err) < 0)
		fail_msg("search '%s': %s: %s", text, err.code, err.msg);
	return n;
}

static int has(const struct expcorpus_hit *h, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(h[i].id, id))
			return 1;
	return 0;
}

/* Search finds by rationale words, patch text and reason code, ranks by
 * bm25, and filters by verdict and date. */
static void test_search(void **state)
{
	struct fixture *f = *state;
	char ids[5][EXPCORPUS_ID_BYTES];
	struct expcorpus_hit *h;
	size_t n;

	corpus5(f, ids);
	/* every search row is linked to its own submission (rowid = seq) */
	assert_int_equal(count(&f->s, "SELECT count(*) FROM corpus_fts f JOIN submissions s"
				      " ON s.seq = f.rowid AND s.id = f.id"),
			 5);
	n = search(f, "warmup", NULL, NULL, &h);
	assert_int_equal(n, 3);
	assert_string_equal(h[0].id, ids[0]); /* three mentions and in the patch */
	assert_true(h[0].rank <= h[1].rank && h[1].rank <= h[2].rank);
	assert_non_null(strstr(h[0].snippet, "[warmup]"));
	free(h);

	n = search(f, "rmsnorm_forward", NULL, NULL, &h);
	assert_int_equal(n, 1);
	assert_string_equal(h[0].id, ids[2]);
	free(h);

	n = search(f, "reason_code:\"judge.stale\"", NULL, NULL, &h);
	assert_int_equal(n, 1);
	assert_string_equal(h[0].id, ids[2]);
	assert_string_equal(h[0].reason_code, "judge.stale");
	free(h);

	n = search(f, "swi*", NULL, NULL, &h);
	assert_int_equal(n, 1);
	assert_string_equal(h[0].id, ids[1]);
	free(h);

	n = search(f, "warmup NOT beta2", NULL, NULL, &h);
	assert_int_equal(n, 2);
	assert_false(has(h, n, ids[4]));
	free(h);

	n = search(f, "warmup OR embeddings", EXPCORPUS_REJECTED, NULL, &h);
	assert_int_equal(n, 1);
	assert_string_equal(h[0].id, ids[3]);
	free(h);

	n = search(f, "warmup", NULL, "2026-10-15", &h);
	assert_int_equal(n, 2);
	assert_false(has(h, n, ids[0]));
	free(h);

	/* no query: newest first, filters still apply */
	n = search(f, NULL, EXPCORPUS_REJECTED, NULL, &h);
	assert_int_equal(n, 2);
	assert_string_equal(h[0].id, ids[3]);
	assert_string_equal(h[1].id, ids[2]);
	free(h);
	{
		struct expcorpus_query q = { "", NULL, NULL, 2, 0 };
		struct kerr err = { 0 };
		assert_int_equal(expcorpus_search(&f->s, &q, &h, &n, &err), 0);
		assert_int_equal(n, 2);
		assert_string_equal(h[0].id, ids[4]);
		free(h);
	}
}

/* Malformed FTS5 syntax and bad filters are reported with a reason code,
 * not a crash. */
static void test_bad_query(void **state)
{
	struct fixture *f = *state;
	char ids[5][EXPCORPUS_ID_BYTES];
	const char *bad[] = { "warmup AND", "\"unterminated", "judge.stale", "nosuchcolumn:x", "(a OR" };
	struct expcorpus_hit *h = (struct expcorpus_hit *)1;
	struct kerr err = { 0 };
	size_t n;

	corpus5(f, ids);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct expcorpus_query q = { bad[i], NULL, NULL, 0, 0 };
		kerr_clear(&err);
		assert_int_equal(expcorpus_search(&f->s, &q, &h, &n, &err), -1);
		assert_string_equal(err.code, "expcorpus.bad_query");
		assert_null(h);
	}
	{
		struct expcorpus_query q = { "warmup", "maybe", NULL, 0, 0 };
		assert_int_equal(expcorpus_search(&f->s, &q, &h, &n, &err), -1);
		assert_string_equal(err.code, "expcorpus.invalid");
		q.verdict = NULL;
		q.since = "yesterday";
		assert_int_equal(expcorpus_search(&f->s, &q, &h, &n, &err), -1);
		assert_string_equal(err.code, "expcorpus.invalid");
		q.since = NULL;
		q.limit = EXPCORPUS_LIMIT_MAX + 1;
		assert_int_equal(expcorpus_search(&f->s, &q, &h, &n, &err), -1);
		assert_string_equal(err.code, "expcorpus.invalid");
	}
}

/* A later verdict changes the row, its search row and judged_at together. */
static void test_update_verdict(void **state)
{
	struct fixture *f = *state;
	char ids[5][EXPCORPUS_ID_BYTES];
	struct expcorpus_entry g;
	struct expcorpus_hit *h;
	struct kerr err = { 0 };
	size_t n;

	corpus5(f, ids);
	assert_int_equal(expcorpus_update_verdict(&f->s, ids[4], EXPCORPUS_CHALLENGE_FAILED, "judge.challenge_failed",
						  "challenge seed run not decisive", &err),
			 0);
	assert_int_equal(expcorpus_get(&f->s, ids[4], &g, &err), 0);
	assert_string_equal(g.verdict, EXPCORPUS_CHALLENGE_FAILED);
	assert_string_equal(g.reason_code, "judge.challenge_failed");
	assert_string_equal(g.rationale, "Lower Adam beta2 with the longer warmup.");
	/* The verdict alone reads the same row, by id and by manifest. */
	{
		struct expcorpus_verdict v;

		assert_int_equal(expcorpus_verdict_of(&f->s, g.manifest_sha256, &v, &err), 0);
		assert_string_equal(v.verdict, EXPCORPUS_CHALLENGE_FAILED);
		assert_string_equal(v.reason_code, "judge.challenge_failed");
		assert_string_equal(v.reason, "challenge seed run not decisive");
		assert_int_equal(expcorpus_verdict_of(&f->s, ids[3], &v, &err), 0);
		assert_string_not_equal(v.verdict, EXPCORPUS_CHALLENGE_FAILED);
		assert_int_equal(expcorpus_verdict_of(&f->s, "k-ffffffffffff", &v, &err), -1);
		assert_string_equal(err.code, "expcorpus.not_found");
	}
	expcorpus_entry_free(&g);
	n = search(f, "reason_code:\"judge.challenge_failed\"", NULL, NULL, &h);
	assert_int_equal(n, 1);
	assert_string_equal(h[0].id, ids[4]);
	free(h);
	n = search(f, "beta2", EXPCORPUS_CHALLENGE_PENDING, NULL, &h);
	assert_int_equal(n, 0);
	free(h);
	n = search(f, "beta2", NULL, NULL, &h); /* still one search row, not two */
	assert_int_equal(n, 1);
	free(h);
	assert_int_equal(count(&f->s, "SELECT count(*) FROM corpus_fts"), 5);
	assert_int_equal(expcorpus_update_verdict(&f->s, "k-ffffffffffff", EXPCORPUS_REJECTED, "x", "y", &err), -1);
	assert_string_equal(err.code, "expcorpus.not_found");
	assert_int_equal(expcorpus_update_verdict(&f->s, ids[4], "won", "x", "y", &err), -1);
	assert_string_equal(err.code, "expcorpus.invalid");
}

/* A judgment's reasons can name files under the state folder (its work
 * folder); the corpus, served to anyone, records them with the folder's
 * path as STATE, in the reason, the checks and a later verdict's reason,
 * also cut short, and when the state was opened through a link. */
static void test_state_paths_are_hidden(void **state)
{
	struct fixture *f = *state;
	struct expcorpus_entry e, g;
	struct expcorpus_check ck[1] = { { "hidden_eval", "fail", "fs.read", "", NAN } };
	struct kerr err = { 0 };
	char id[EXPCORPUS_ID_BYTES], want[KERR_MSG_MAX];

	assert_true(strlen(f->s.dir) >= 8); /* long enough to be hidden */
	entry(&e, "m-paths", "alice", "--- a/gpt.c\n+++ b/gpt.c\n", "Paths.", EXPCORPUS_REJECTED, "fs.read", NULL);
	snprintf(e.reason, sizeof e.reason, "cannot read %s/work/judge-7/final.ckpt (and %s/x)", f->s.dir, f->s.dir);
	snprintf(ck[0].message, sizeof ck[0].message, "open %s/work/judge-7/bundle: no such file", f->s.dir);
	record_ok(f, &e, ck, 1, id);
	assert_int_equal(expcorpus_get(&f->s, id, &g, &err), 0);
	assert_string_equal(g.reason, "cannot read STATE/work/judge-7/final.ckpt (and STATE/x)");
	assert_string_equal(g.checks[0].message, "open STATE/work/judge-7/bundle: no such file");
	expcorpus_entry_free(&g);
	snprintf(want, sizeof want, "gone: %s/work/judge-9", f->s.dir);
	assert_int_equal(expcorpus_update_verdict(&f->s, id, EXPCORPUS_REJECTED, "fs.read", want, &err), 0);
	assert_int_equal(expcorpus_get(&f->s, id, &g, &err), 0);
	assert_string_equal(g.reason, "gone: STATE/work/judge-9");
	expcorpus_entry_free(&g);
	/* a reason cut to its buffer (KERR_MSG_MAX - 1 bytes) inside the
	 * folder's path; one that is not full keeps such a tail, its own */
	{
		size_t keep = strlen(f->s.dir) - 3, pad = KERR_MSG_MAX - 1 - keep;
		char *cut = malloc(KERR_MSG_MAX + 8);

		assert_non_null(cut);
		memset(cut, 'x', pad);
		memcpy(cut + pad, f->s.dir, keep);
		cut[pad + keep] = '\0';
		assert_int_equal(strlen(cut), KERR_MSG_MAX - 1);
		assert_int_equal(expcorpus_update_verdict(&f->s, id, EXPCORPUS_REJECTED, "fs.read", cut, &err), 0);
		assert_int_equal(expcorpus_get(&f->s, id, &g, &err), 0);
		assert_non_null(strstr(g.reason, "xSTATE"));
		assert_null(strstr(g.reason, f->s.dir + 1));
		expcorpus_entry_free(&g);
		snprintf(want, sizeof want, "no such file: %.*s", (int)keep, f->s.dir);
		assert_int_equal(expcorpus_update_verdict(&f->s, id, EXPCORPUS_REJECTED, "fs.read", want, &err), 0);
		assert_int_equal(expcorpus_get(&f->s, id, &g, &err), 0);
		assert_string_equal(g.reason, want);
		expcorpus_entry_free(&g);
		free(cut);
	}
	/* the state opened through a link: vstate_open resolves it, so the
	 * folder every path is built from, and hidden, is the real one */
	{
		char alias[FS_PATH_MAX];
		struct vstate s2;

		snprintf(alias, sizeof alias, "%s-alias", f->s.dir);
		assert_int_equal(symlink(f->s.dir, alias), 0);
		assert_int_equal(vstate_open(alias, &s2, &err), 0);
		assert_string_equal(s2.dir, f->s.dir);
		snprintf(want, sizeof want, "gone: %s/a", f->s.dir);
		assert_int_equal(expcorpus_update_verdict(&s2, id, EXPCORPUS_REJECTED, "fs.read", want, &err), 0);
		vstate_close(&s2);
		assert_int_equal(unlink(alias), 0);
		assert_int_equal(expcorpus_get(&f->s, id, &g, &err), 0);
		assert_string_equal(g.reason, "gone: STATE/a");
		expcorpus_entry_free(&g);
	}
}

/* A search past its database steps is refused (expcorpus.query_too_costly,
 * the connection usable after it); within them, or under the default, the
 * same query answers. */
static void test_search_cost_bounded(void **state)
{
	struct fixture *f = *state;
	struct expcorpus_query q = { "learning* OR rate* OR warmup*", NULL, NULL, 50, 2000 };
	struct expcorpus_hit *h = NULL;
	struct kerr err = { 0 };
	size_t n = 0;

	for (int i = 0; i < 200; i++) {
		struct expcorpus_entry e;
		char name[32], id[EXPCORPUS_ID_BYTES];

		snprintf(name, sizeof name, "m-cost-%d", i);
		entry(&e, name, "alice", "--- a/gpt.c\n+++ b/gpt.c\n", "A learning rate warmup, again.",
		      EXPCORPUS_REJECTED, "judge.not_decisive", NULL);
		record_ok(f, &e, NULL, 0, id);
	}
	assert_int_equal(expcorpus_search(&f->s, &q, &h, &n, &err), -1);
	assert_string_equal(err.code, "expcorpus.query_too_costly");
	assert_null(h);
	q.ops_max = 0; /* the default */
	if (expcorpus_search(&f->s, &q, &h, &n, &err) < 0)
		fail_msg("%s: %s", err.code, err.msg);
	assert_int_equal(n, 50);
	free(h);
	q.text = "warmup";
	q.limit = 5;
	assert_int_equal(expcorpus_search(&f->s, &q, &h, &n, &err), 0);
	assert_int_equal(n, 5);
	free(h);
}

/* /metrics's judge CPU total is what /v1/miners' per-key figures add up
 * to, read in one row. */
static void test_judge_cpu_total(void **state)
{
	struct fixture *f = *state;
	static const char *const who[3] = { "alice", "bob", "alice" };
	static const double cpu[3] = { 1.5, 2.25, 4.0 };
	struct expcorpus_entry e;
	struct expcorpus_miner *m = NULL;
	struct kerr err = { 0 };
	char id[EXPCORPUS_ID_BYTES], name[16];
	double total = -1, sum = 0;
	size_t n = 0;

	assert_int_equal(expcorpus_judge_cpu_s(&f->s, &total, &err), 0);
	assert_true(total == 0);
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof name, "cpu%d", i);
		entry(&e, name, who[i], "+x\n", "CPU.", EXPCORPUS_NOT_DECISIVE, "judge.not_decisive", NULL);
		e.judge_cpu_s = cpu[i];
		record_ok(f, &e, NULL, 0, id);
	}
	assert_int_equal(expcorpus_judge_cpu_s(&f->s, &total, &err), 0);
	assert_int_equal(expcorpus_miners(&f->s, NULL, 0, &m, &n, &err), 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++)
		sum += m[i].judge_cpu_s;
	/* by pages of one, in key order, then none */
	{
		struct expcorpus_miner *p1 = NULL, *p2 = NULL, *p3 = NULL;
		size_t n1 = 0, n2 = 0, n3 = 9;

		assert_int_equal(expcorpus_miners(&f->s, NULL, 1, &p1, &n1, &err), 0);
		assert_int_equal(n1, 1);
		assert_string_equal(p1[0].miner, m[0].miner);
		assert_int_equal(expcorpus_miners(&f->s, p1[0].miner, 1, &p2, &n2, &err), 0);
		assert_int_equal(n2, 1);
		assert_string_equal(p2[0].miner, m[1].miner);
		assert_true(p2[0].judge_cpu_s == m[1].judge_cpu_s);
		assert_int_equal(expcorpus_miners(&f->s, p2[0].miner, 1, &p3, &n3, &err), 0);
		assert_int_equal(n3, 0);
		free(p1);
		free(p2);
		free(p3);
	}
	free(m);
	assert_true(total == 7.75 && sum == 7.75);
}

static int settles_judge_codes(const char *code)
{
	return !strncmp(code, "judge.", 6);
}

/* The answer that ends a challenge whose original was left pending (a
 * judgment killed between the two writes): a refusal whose code settles,
 * and an answer found not decisive, whatever its code; not a refusal that
 * may be the validator's trouble. */
static void test_refused_answer_finds_what_ends_it(void **state)
{
	struct fixture *f = *state;
	struct expcorpus_entry e;
	struct kerr err = { 0 };
	char orig[EXPCORPUS_ID_BYTES], a1[EXPCORPUS_ID_BYTES], a2[EXPCORPUS_ID_BYTES], got[EXPCORPUS_ID_BYTES];
	char code[KERR_CODE_MAX];

	entry(&e, "end-orig", "alice", "+end\n", "End.", EXPCORPUS_CHALLENGE_PENDING, NULL, NULL);
	record_ok(f, &e, NULL, 0, orig);
	entry(&e, "end-a1", "alice", "+end\n", "End.", EXPCORPUS_REJECTED, "recipe.spawn", NULL);
	snprintf(e.challenge_of, sizeof e.challenge_of, "%s", orig);
	record_ok(f, &e, NULL, 0, a1);
	assert_int_equal(expcorpus_refused_answer(&f->s, orig, settles_judge_codes, got, code, &err), 0);
	assert_string_equal(got, "");
	entry(&e, "end-a2", "alice", "+end\n", "End.", EXPCORPUS_NOT_DECISIVE, "judge.not_decisive", NULL);
	snprintf(e.challenge_of, sizeof e.challenge_of, "%s", orig);
	record_ok(f, &e, NULL, 0, a2);
	assert_int_equal(expcorpus_refused_answer(&f->s, orig, settles_judge_codes, got, code, &err), 0);
	assert_string_equal(got, a2);
	assert_string_equal(code, "judge.not_decisive");
}

/* A king change is two accepted_king rows, the original and the answer
 * that confirmed it: /v1/miners counts one king won. */
static void test_miners_count_a_crowning_once(void **state)
{
	struct fixture *f = *state;
	struct expcorpus_entry e;
	struct expcorpus_miner *m = NULL;
	struct kerr err = { 0 };
	char orig[EXPCORPUS_ID_BYTES], ans[EXPCORPUS_ID_BYTES];
	size_t n = 0;

	entry(&e, "crown-orig", "alice", "+crown\n", "Crown.", EXPCORPUS_CHALLENGE_PENDING, NULL, NULL);
	record_ok(f, &e, NULL, 0, orig);
	entry(&e, "crown-answer", "alice", "+crown\n", "Crown.", EXPCORPUS_ACCEPTED_KING, NULL, NULL);
	snprintf(e.challenge_of, sizeof e.challenge_of, "%s", orig);
	record_ok(f, &e, NULL, 0, ans);
	assert_int_equal(expcorpus_update_verdict(&f->s, orig, EXPCORPUS_ACCEPTED_KING, "", "confirmed", &err), 0);
	assert_int_equal(expcorpus_miners(&f->s, NULL, 0, &m, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(m[0].submissions, 2);
	assert_int_equal(m[0].kings, 1);
	free(m);
}

/* The injected failure of the third check's insert leaves no row in any
 * table: submission, checks and search row are one transaction. */
static void test_midway_failure_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	struct expcorpus_entry e;
	struct kerr err = { 0 };
	char id[EXPCORPUS_ID_BYTES];
	long long before[3], after[3];

	entry(&e, "first", "alice", "p0", "r0", EXPCORPUS_REJECTED, "judge.stale", NULL);
	record_ok(f, &e, three_checks, 3, id);
	rows(&f->s, before);
	assert_int_equal(sqlite3_exec(f->s.db,
				      "CREATE TEMP TRIGGER inject BEFORE INSERT ON checks WHEN NEW.idx = 2"
				      " BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	entry(&e, "second", "bob", "p1", "r1", EXPCORPUS_NOT_DECISIVE, NULL, NULL);
	assert_int_equal(expcorpus_record(&f->s, &e, three_checks, 3, id, &err), -1);
	assert_non_null(strstr(err.msg, "injected failure"));
	rows(&f->s, after);
	assert_memory_equal(before, after, sizeof before);
	assert_int_equal(count(&f->s, "SELECT count(*) FROM submissions WHERE manifest_sha256 LIKE '%'"), 1);
	/* the connection is usable and the same record goes in once the fault
	 * is gone */
	assert_int_equal(sqlite3_exec(f->s.db, "DROP TRIGGER inject", NULL, NULL, NULL), SQLITE_OK);
	record_ok(f, &e, three_checks, 3, id);
	rows(&f->s, after);
	assert_int_equal(after[0], before[0] + 1);
	assert_int_equal(after[1], before[1] + 3);
	assert_int_equal(after[2], before[2] + 1);
}

/* Malformed fields are refused before anything is written; invalid UTF-8
 * is stored as U+FFFD; a 12-hex id collision gets a longer id. */
static void test_validation_and_ids(void **state)
{
	struct fixture *f = *state;
	struct expcorpus_entry e, g;
	struct expcorpus_check bad = { "attest", "maybe", "", "", 0 };
	struct kerr err = { 0 };
	char id[EXPCORPUS_ID_BYTES], id2[EXPCORPUS_ID_BYTES];

	entry(&e, "v1", "alice", "p", "r", "won", NULL, NULL);
	assert_int_equal(expcorpus_record(&f->s, &e, NULL, 0, id, &err), -1);
	assert_string_equal(err.code, "expcorpus.invalid");
	entry(&e, "v1", "alice", "p", "r", EXPCORPUS_REJECTED, NULL, NULL);
	assert_int_equal(expcorpus_record(&f->s, &e, &bad, 1, id, &err), -1);
	assert_string_equal(err.code, "expcorpus.invalid");
	e.manifest_sha256[3] = 'X';
	assert_int_equal(expcorpus_record(&f->s, &e, NULL, 0, id, &err), -1);
	assert_string_equal(err.code, "expcorpus.invalid");
	entry(&e, "v1", "alice", "p", "r", EXPCORPUS_REJECTED, NULL, "26-11-25");
	assert_int_equal(expcorpus_record(&f->s, &e, NULL, 0, id, &err), -1);
	assert_string_equal(err.code, "expcorpus.invalid");
	entry(&e, "v1", "alice", "p", "r", EXPCORPUS_REJECTED, NULL, NULL);
	snprintf(e.challenge_of, sizeof e.challenge_of, "k-0123456789ab"); /* not recorded */
	assert_int_equal(expcorpus_record(&f->s, &e, NULL, 0, id, &err), -1);
	assert_string_equal(err.code, "expcorpus.invalid");
	assert_int_equal(count(&f->s, "SELECT count(*) FROM submissions"), 0);

	entry(&e, "v1", "alice", "p", "bad byte \xff here \xc0\xaf", EXPCORPUS_REJECTED, NULL, NULL);
	record_ok(f, &e, NULL, 0, id);
	assert_int_equal(expcorpus_get(&f->s, id, &g, &err), 0);
	assert_string_equal(g.rationale, "bad byte \xef\xbf\xbd here \xef\xbf\xbd\xef\xbf\xbd");
	expcorpus_entry_free(&g);

	/* a reason that grows past its field when cleaned comes back cut at a
	 * character boundary, so the entry still serialises as JSON */
	entry(&e, "v2", "alice", "p", "r", EXPCORPUS_REJECTED, "judge.x", NULL);
	memset(e.reason, 0xff, 700);
	e.reason[700] = '\0';
	record_ok(f, &e, NULL, 0, id);
	assert_int_equal(expcorpus_get(&f->s, id, &g, &err), 0);
	assert_int_equal(strlen(g.reason) % 3, 0);
	assert_true(strlen(g.reason) > 700);
	{
		json_t *j = expcorpus_entry_json(&g);
		char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
		assert_non_null(t);
		free(t);
		json_decref(j);
	}
	expcorpus_entry_free(&g);

	/* two manifests sharing their first 12 hex digits */
	entry(&e, "c1", "alice", "p", "r", EXPCORPUS_REJECTED, NULL, NULL);
	memcpy(e.manifest_sha256, "abcdefabcdef0000", 16);
	record_ok(f, &e, NULL, 0, id);
	assert_string_equal(id, "k-abcdefabcdef");
	memcpy(e.manifest_sha256, "abcdefabcdef1111", 16);
	record_ok(f, &e, NULL, 0, id2);
	assert_string_equal(id2, "k-abcdefabcdef1111");
	/* a challenge re-proof names the entry it answers */
	entry(&e, "c2", "alice", "p", "r", EXPCORPUS_ACCEPTED_KING, NULL, NULL);
	snprintf(e.challenge_of, sizeof e.challenge_of, "%s", id);
	e.challenge_seed = 424242;
	record_ok(f, &e, NULL, 0, id2);
	assert_int_equal(expcorpus_get(&f->s, id2, &g, &err), 0);
	assert_string_equal(g.challenge_of, id);
	assert_int_equal(g.challenge_seed, 424242);
	expcorpus_entry_free(&g);
}

/* One past a bound: refused before any row of any table is written. */
static void expect_too_large(struct fixture *f, const struct expcorpus_entry *e, const struct expcorpus_check *c,
			     size_t n)
{
	struct kerr err = { 0 };
	char id[EXPCORPUS_ID_BYTES] = "";
	long long before[3], after[3];

	rows(&f->s, before);
	assert_int_equal(expcorpus_record(&f->s, e, c, n, id, &err), -1);
	assert_string_equal(err.code, "expcorpus.too_large");
	assert_string_equal(id, "");
	rows(&f->s, after);
	assert_memory_equal(before, after, sizeof before);
}

/* A miner writes the rationale and the patch, and the judge decides how
 * many checks it ran; the corpus is served and searched, so each has a
 * bound. At the bound an entry is recorded, one past it is refused. */
static void test_size_bounds(void **state)
{
	struct fixture *f = *state;
	struct expcorpus_entry e;
	struct expcorpus_check ck[EXPCORPUS_CHECKS_MAX + 1];
	static char big[EXPCORPUS_PATCH_BYTES_MAX + 2];
	char id[EXPCORPUS_ID_BYTES];

	for (size_t i = 0; i < EXPCORPUS_PATCH_BYTES_MAX + 1; i++) /* words, as FTS sees real text */
		big[i] = i % 8 == 7 ? ' ' : 'x';
	big[EXPCORPUS_RATIONALE_BYTES_MAX + 1] = '\0';
	entry(&e, "big-rationale", "alice", "p", big, EXPCORPUS_REJECTED, NULL, NULL);
	expect_too_large(f, &e, NULL, 0);
	big[EXPCORPUS_RATIONALE_BYTES_MAX] = '\0';
	record_ok(f, &e, NULL, 0, id);

	big[EXPCORPUS_RATIONALE_BYTES_MAX] = big[EXPCORPUS_RATIONALE_BYTES_MAX + 1] = 'x';
	big[EXPCORPUS_PATCH_BYTES_MAX + 1] = '\0';
	entry(&e, "big-patch", "alice", big, "r", EXPCORPUS_REJECTED, NULL, NULL);
	expect_too_large(f, &e, NULL, 0);
	big[EXPCORPUS_PATCH_BYTES_MAX] = '\0';
	entry(&e, "big-patch", "alice", big, "r", EXPCORPUS_REJECTED, NULL, NULL);
	record_ok(f, &e, NULL, 0, id);

	for (size_t i = 0; i < EXPCORPUS_CHECKS_MAX + 1; i++) {
		memset(&ck[i], 0, sizeof ck[i]);
		snprintf(ck[i].name, sizeof ck[i].name, "check_%zu", i);
		snprintf(ck[i].outcome, sizeof ck[i].outcome, "pass");
	}
	entry(&e, "many-checks", "alice", "p", "r", EXPCORPUS_REJECTED, NULL, NULL);
	expect_too_large(f, &e, ck, EXPCORPUS_CHECKS_MAX + 1);
	record_ok(f, &e, ck, EXPCORPUS_CHECKS_MAX, id);
	assert_int_equal(count(&f->s, "SELECT count(*) FROM submissions"), 3);
}

static char *export_to_string(struct fixture *f, enum expcorpus_format fmt)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	struct kerr err = { 0 };

	assert_non_null(m);
	if (expcorpus_export(&f->s, fmt, m, &err) < 0)
		fail_msg("export: %s: %s", err.code, err.msg);
	fclose(m);
	return buf;
}

/* JSON lines: one object per entry, in recording order, every line valid
 * JSON with the documented fields. */
static void test_export_jsonl(void **state)
{
	struct fixture *f = *state;
	char ids[5][EXPCORPUS_ID_BYTES], *text, *line, *save = NULL;
	int i = 0;

	corpus5(f, ids);
	text = export_to_string(f, EXPCORPUS_JSONL);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save), i++) {
		json_error_t je;
		json_t *o = json_loads(line, 0, &je);
		if (!o)
			fail_msg("line %d: %s", i, je.text);
		assert_true(i < 5);
		assert_string_equal(json_string_value(json_object_get(o, "id")), ids[i]);
		assert_true(json_is_string(json_object_get(o, "rationale")));
		assert_true(json_is_string(json_object_get(o, "patch")));
		assert_true(json_is_array(json_object_get(o, "checks")));
		assert_true(json_is_null(json_object_get(o, "hidden_bpb")));
		assert_int_equal(json_integer_value(json_object_get(o, "seed")), 1337);
		if (i == 0) {
			assert_int_equal(json_array_size(json_object_get(o, "checks")), 3);
			assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(o, "checks"), 2),
									   "code")),
					    "judge.not_decisive");
		}
		json_decref(o);
	}
	assert_int_equal(i, 5);
	free(text);
}

/* A minimal RFC 4180 reader for the test: fields of one record. */
static const char *csv_next(const char *p, char *field, size_t cap, int *end_of_record)
{
	size_t o = 0;

	if (*p == '"') {
		for (p++;; p++) {
			assert_true(*p != '\0');
			if (*p == '"' && p[1] == '"')
				p++;
			else if (*p == '"') {
				p++;
				break;
			}
			if (o + 1 < cap)
				field[o++] = *p;
		}
	} else {
		while (*p && *p != ',' && *p != '\r')
			if (o + 1 < cap)
				field[o++] = *p++;
	}
	field[o] = '\0';
	if (*p == ',') {
		*end_of_record = 0;
		return p + 1;
	}
	assert_true(p[0] == '\r' && p[1] == '\n');
	*end_of_record = 1;
	return p + 2;
}

/* CSV: a header naming the columns, then one record per entry; text with
 * commas, quotes and newlines survives quoting. */
static void test_export_csv(void **state)
{
	struct fixture *f = *state;
	struct expcorpus_entry e;
	char id[EXPCORPUS_ID_BYTES], *text, field[1024];
	const char *tricky = "Commas, \"quotes\" and\nnewlines\r\nall survive";
	const char *p;
	int end = 0, col = 0, rationale_col = -1, checks_col = -1, id_col = -1;

	entry(&e, "csv1", "alice", "+ x, y\n", tricky, EXPCORPUS_REJECTED, "judge.stale", NULL);
	record_ok(f, &e, three_checks, 3, id);
	text = export_to_string(f, EXPCORPUS_CSV);
	p = text;
	do {
		p = csv_next(p, field, sizeof field, &end);
		if (!strcmp(field, "rationale"))
			rationale_col = col;
		if (!strcmp(field, "checks"))
			checks_col = col;
		if (!strcmp(field, "id"))
			id_col = col;
		col++;
	} while (!end);
	assert_int_equal(col, 28);
	assert_int_equal(id_col, 0);
	assert_true(rationale_col > 0 && checks_col > 0);
	col = 0;
	do {
		p = csv_next(p, field, sizeof field, &end);
		if (col == 0)
			assert_string_equal(field, id);
		if (col == rationale_col)
			assert_string_equal(field, tricky);
		if (col == checks_col)
			assert_string_equal(field, "diff_scan:pass;attest:pass;hidden_eval:fail:judge.not_decisive");
		col++;
	} while (!end);
	assert_int_equal(col, 28);
	assert_int_equal(*p, '\0');
	free(text);
}

/* The citation string has one fixed form. */
static void test_cite(void **state)
{
	struct fixture *f = *state;
	struct expcorpus_entry e;
	struct kerr err = { 0 };
	char id[EXPCORPUS_ID_BYTES], got[EXPCORPUS_CITE_MAX], want[EXPCORPUS_CITE_MAX], today[VSTATE_TIME_BYTES];

	vstate_now_iso(today);
	entry(&e, "cite1", "alice", "p", "r", EXPCORPUS_REJECTED, "judge.stale", NULL);
	record_ok(f, &e, NULL, 0, id);
	assert_int_equal(expcorpus_cite(&f->s, id, got, &err), 0);
	snprintf(want, sizeof want, "Karpa corpus, submission %s (manifest sha256 %s, verdict rejected: judge.stale), judged %.10s",
		 id, e.manifest_sha256, today);
	if (strcmp(got, want)) { /* midnight between the two clocks */
		vstate_now_iso(today);
		snprintf(want, sizeof want,
			 "Karpa corpus, submission %s (manifest sha256 %s, verdict rejected: judge.stale), judged %.10s", id,
			 e.manifest_sha256, today);
	}
	assert_string_equal(got, want);
	entry(&e, "cite2", "bob", "p2", "r", EXPCORPUS_ACCEPTED_KING, NULL, NULL);
	record_ok(f, &e, NULL, 0, id);
	assert_int_equal(expcorpus_cite(&f->s, id, got, &err), 0);
	assert_non_null(strstr(got, "verdict accepted_king), judged 20"));
	assert_int_equal(strncmp(got, "Karpa corpus, submission k-", 27), 0);
}

/* The CLI: validator status and corpus search/show/export/cite over the
 * same state (needs the commands wired into cli/main.c). */
static void test_cli(void **state)
{
	struct fixture *f = *state;
	char ids[5][EXPCORPUS_ID_BYTES], out[1 << 16], path[FS_PATH_MAX];
	json_t *o;
	json_error_t je;
	const char *k = tu_karpa();

	corpus5(f, ids);
	assert_int_equal(tu_run(out, sizeof out, "%s validator status '%s' --json", k, f->state), 0);
	o = json_loads(out, 0, &je);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "king"), "tag")), "recipe-v0.1.0");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "submissions"), "rejected")), 2);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "submissions"), "total")), 5);
	json_decref(o);

	assert_int_equal(tu_run(out, sizeof out, "%s corpus '%s' search warmup --json --limit 2", k, f->state), 0);
	o = json_loads(out, 0, &je);
	assert_non_null(o);
	assert_int_equal(json_integer_value(json_object_get(o, "count")), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(o, "hits"), 0), "id")),
			    ids[0]);
	json_decref(o);
	assert_int_equal(tu_run(out, sizeof out, "%s corpus '%s' search 'warmup AND'", k, f->state), 1);
	assert_non_null(strstr(out, "expcorpus.bad_query"));
	assert_int_equal(tu_run(out, sizeof out, "%s corpus '%s' show %s", k, f->state, ids[2]), 0);
	assert_non_null(strstr(out, "judge.stale"));
	assert_non_null(strstr(out, "rmsnorm_forward"));
	assert_int_equal(tu_run(out, sizeof out, "%s corpus '%s' cite %s", k, f->state, ids[2]), 0);
	assert_int_equal(strncmp(out, "Karpa corpus, submission ", 25), 0);
	snprintf(path, sizeof path, "%s/corpus.csv", f->tmp);
	assert_int_equal(tu_run(out, sizeof out, "%s corpus '%s' export --format csv --out '%s'", k, f->state, path), 0);
	assert_int_equal(tu_run(out, sizeof out, "head -c 3 '%s'", path), 0);
	assert_string_equal(out, "id,");
	assert_int_equal(tu_run(out, sizeof out, "%s corpus '%s' export --format xml", k, f->state), 2);
	assert_int_equal(tu_run(out, sizeof out, "%s corpus '%s' show k-000000000000", k, f->state), 1);
	assert_non_null(strstr(out, "expcorpus.not_found"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_record_get_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_credit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_by_final_checkpoint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_search, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_query, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update_verdict, setup, teardown),
		cmocka_unit_test_setup_teardown(test_midway_failure_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_paths_are_hidden, setup, teardown),
		cmocka_unit_test_setup_teardown(test_search_cost_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_judge_cpu_total, setup, teardown),
		cmocka_unit_test_setup_teardown(test_miners_count_a_crowning_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_answer_finds_what_ends_it, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validation_and_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_size_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export_jsonl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export_csv, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counts_one_king_change_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cli, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
