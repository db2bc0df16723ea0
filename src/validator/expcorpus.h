/* expcorpus.h: the experiment corpus (PROTOCOL 1.2): every judged
 * submission, accepted or not, with its rationale, patch, digests, every
 * check's outcome, metrics and verdict, under a stable id; full-text search
 * (FTS5, bm25), filters, export (JSON lines, CSV) and a citation string.
 * Lives in the validator's database (vstate.h). Never builds SQL from input;
 * never deletes an entry. */
#ifndef KARPA_EXPCORPUS_H
#define KARPA_EXPCORPUS_H

#include <stdint.h>
#include <stdio.h>

#include "proof/keys.h"
#include "proof/reciperepo.h"
#include "validator/vstate.h"
#include "util/hash.h"
#include "util/kerr.h"

/* "k-" + 12 hex of the manifest digest; on the (48-bit) prefix colliding
 * with an earlier, different manifest the id grows by 4 hex digits until
 * unique, so it stays stable once given. Longest: "k-" + 64 hex. */
#define EXPCORPUS_ID_PREFIX "k-"
#define EXPCORPUS_ID_HEX 12
#define EXPCORPUS_ID_BYTES VSTATE_ID_BYTES
#define EXPCORPUS_VERDICT_MAX 24
#define EXPCORPUS_NAME_MAX 64 /* a check's name, an attestation kind */
/* A rationale is prose (prove limits it to this) and a patch is code. */
#define EXPCORPUS_RATIONALE_BYTES_MAX (64u << 10)
#define EXPCORPUS_PATCH_BYTES_MAX RECIPEREPO_PATCH_BYTES_MAX
/* The judge's pipeline has five stages with a few checks each. */
#define EXPCORPUS_CHECKS_MAX 64
#define EXPCORPUS_LIMIT_DEFAULT 20
#define EXPCORPUS_LIMIT_MAX 1000
#define EXPCORPUS_QUERY_BYTES_MAX 1024
/* SQLite virtual-machine steps one search may take (counted by its
 * progress handler, in EXPCORPUS_OPS_TICK steps), then
 * expcorpus.query_too_costly: a query matching every row of a large corpus
 * ranks them all, and a service runs one search at a time. Measured: a
 * query matching 200 rows takes 5,000 to 8,000 steps, so this ranks about
 * half a million matches. */
#define EXPCORPUS_SEARCH_OPS_MAX ((uint64_t)16 << 20)
#define EXPCORPUS_OPS_TICK 1000
#define EXPCORPUS_SNIPPET_MAX 512
#define EXPCORPUS_CITE_MAX 512

/* Verdicts (the schema checks this set). */
#define EXPCORPUS_ACCEPTED_KING "accepted_king"
#define EXPCORPUS_NOT_DECISIVE "not_decisive"
#define EXPCORPUS_CHALLENGE_PENDING "challenge_pending"
#define EXPCORPUS_CHALLENGE_FAILED "challenge_failed"
#define EXPCORPUS_REJECTED "rejected"

struct expcorpus_check {
	char name[EXPCORPUS_NAME_MAX];  /* "diff_scan", "attest", ... */
	char outcome[8];                /* pass | fail | skipped */
	char code[KERR_CODE_MAX];       /* reason code, "" on pass */
	char message[KERR_MSG_MAX];
	double cpu_s;                   /* NAN when not measured */
};

/* One submission. Reals are NAN and seeds -1 when absent (stored as NULL).
 * On record: id, judged_at and credited_to are computed and ignored if set;
 * received_at defaults to now. On get: rationale, patch and checks are
 * allocated; free with expcorpus_entry_free. */
struct expcorpus_entry {
	char id[EXPCORPUS_ID_BYTES];
	char manifest_sha256[HASH_HEX_BYTES];
	char patch_sha256[HASH_HEX_BYTES];
	char miner[KEYS_PK_HEX_BYTES];
	char king_tag[RECIPEREPO_TAG_MAX];
	int64_t seed;
	char scale[VSTATE_SCALE_MAX];
	char *rationale, *patch; /* text; invalid UTF-8 is stored as U+FFFD */
	char received_at[VSTATE_TIME_BYTES];
	char judged_at[VSTATE_TIME_BYTES]; /* when the current verdict was set */
	char verdict[EXPCORPUS_VERDICT_MAX];
	char reason_code[KERR_CODE_MAX];
	char reason[KERR_MSG_MAX];
	double claimed_public_bpb, public_bpb, hidden_bpb, king_bpb, margin;
	char attest_kind[EXPCORPUS_NAME_MAX];
	double alpha, proof_cpu_s, judge_cpu_s;
	char credited_to[EXPCORPUS_ID_BYTES];  /* "" when this is the earliest */
	char challenge_of[EXPCORPUS_ID_BYTES]; /* "" unless a challenge re-proof */
	int64_t challenge_seed;
	char final_sha256[HASH_HEX_BYTES];     /* the proof's final checkpoint; "" unknown */
	/* On record only, not stored: the final checkpoint alone names the
	 * trained model for the credit rule (king_final_names_model), as
	 * expcorpus_earlier_claim's final_alone. */
	int final_alone;
	struct expcorpus_check *checks;
	size_t n_checks;
};

/* An entry with every optional field absent (NAN, -1, ""). */
void expcorpus_entry_blank(struct expcorpus_entry *e);
void expcorpus_entry_free(struct expcorpus_entry *e);
int expcorpus_verdict_valid(const char *verdict);

/* Records a judged submission, its checks and its search row in one
 * transaction (nested inside the caller's, if any). Fills out_id with the
 * stable id. Credit: credited_to names the earliest recorded submission
 * with the same patch digest, or the same trained model
 * (expcorpus_earlier_claim, with e->final_alone), against the same king
 * whose verdict is not
 * `rejected` (a proof that failed verification establishes nothing, so it
 * cannot claim an idea); a challenge answer's names the submission it
 * answers.
 * expcorpus.duplicate when the manifest digest is already recorded (a
 * replay; the message names the earlier id), expcorpus.invalid for a
 * malformed field, expcorpus.too_large. */
int expcorpus_record(struct vstate *s, const struct expcorpus_entry *e, const struct expcorpus_check *checks,
		     size_t n_checks, char out_id[EXPCORPUS_ID_BYTES], struct kerr *err);

/* A later verdict (challenge outcome, merge): verdict, reason code and
 * reason change together with the search row and judged_at.
 * expcorpus.not_found. */
int expcorpus_update_verdict(struct vstate *s, const char *id, const char *verdict, const char *reason_code,
			     const char *reason, struct kerr *err);
/* The same for a submission whose challenge is settled, only while it is
 * still challenge_pending (else nothing changes, and 0): two answers to
 * one challenge judged at once must not undo each other's settlement. */
int expcorpus_settle_pending(struct vstate *s, const char *id, const char *verdict, const char *reason_code,
			     const char *reason, struct kerr *err);

/* Whether e is a challenge answer whose settlement was cut short: the
 * answer recorded challenge_pending (the judge records it so before the
 * merge it leads to) while the submission it answers is still pending.
 * Judged again, such an answer resumes at the settlement (the judge), and
 * a queue row whose worker died there is judged again rather than done
 * (the service). 1 yes, 0 no, -1 on a read error. */
int expcorpus_settlement_interrupted(struct vstate *s, const struct expcorpus_entry *e, struct kerr *err);

/* One search result. rank is bm25 (lower is better; 0 without a query). */
struct expcorpus_hit {
	char id[EXPCORPUS_ID_BYTES];
	char verdict[EXPCORPUS_VERDICT_MAX];
	char reason_code[KERR_CODE_MAX];
	char miner[KEYS_PK_HEX_BYTES];
	char king_tag[RECIPEREPO_TAG_MAX];
	char received_at[VSTATE_TIME_BYTES];
	double hidden_bpb, rank;
	char snippet[EXPCORPUS_SNIPPET_MAX]; /* matched text, hits in [..] */
	double judge_cpu_s; /* NAN when not recorded */
};

struct expcorpus_query {
	const char *text;    /* FTS5 query; NULL or "" lists newest first */
	const char *verdict; /* NULL: any */
	const char *since;   /* "YYYY-MM-DD" or full UTC time; NULL: any */
	int limit;           /* 0: EXPCORPUS_LIMIT_DEFAULT */
	uint64_t ops_max;    /* 0: EXPCORPUS_SEARCH_OPS_MAX */
};

/* Best first. Caller frees *hits. expcorpus.bad_query carries SQLite's
 * message for a malformed FTS5 query; expcorpus.invalid for bad filters;
 * expcorpus.query_too_costly for one past its steps (ops_max). */
int expcorpus_search(struct vstate *s, const struct expcorpus_query *q, struct expcorpus_hit **hits, size_t *n,
		     struct kerr *err);

/* Full entry with checks, by id or by full manifest digest. */
int expcorpus_get(struct vstate *s, const char *id, struct expcorpus_entry *e, struct kerr *err);

/* A submission's current verdict alone, by id or full manifest digest:
 * what the settlement paths read, without the patch, rationale and checks
 * expcorpus_get loads. expcorpus.not_found. */
struct expcorpus_verdict {
	char verdict[EXPCORPUS_VERDICT_MAX];
	char reason_code[KERR_CODE_MAX];
	char reason[KERR_MSG_MAX];
};
int expcorpus_verdict_of(struct vstate *s, const char *id, struct expcorpus_verdict *v, struct kerr *err);

/* The earliest answer to the challenge of original_id that settles it:
 * one the judge found not decisive or settled failed (not_decisive,
 * challenge_failed), or one it refused (rejected) with a reason code that
 * settles (settles(code) true): its id and code, "" for none. A judgment
 * killed between recording such an answer and settling its original left
 * the original pending; the next answer finds this one (else a second
 * answer, re-signed, would be a second draw at confirming). */
int expcorpus_refused_answer(struct vstate *s, const char *original_id, int (*settles)(const char *code),
			     char out_id[EXPCORPUS_ID_BYTES], char code[KERR_CODE_MAX], struct kerr *err);

/* The judge's questions about earlier submissions, asked here so that the
 * submissions table has one owner. out_id is "" when there is none.
 *
 * The challenge_pending submission this one answers: the same patch by the
 * same miner on the same king, whose challenge seed is `seed` (the oldest
 * if several). */
int expcorpus_pending_challenge(struct vstate *s, const char *patch_sha256, const char *miner, const char *king_tag,
				uint64_t seed, char out_id[EXPCORPUS_ID_BYTES], struct kerr *err);
/* The earliest claim on a patch when it is another key's (PROTOCOL 6
 * Credit): the first submission of the same patch, or of the same trained
 * model, against the same king. The model is the final checkpoint
 * (final_sha256, may be NULL or "") when final_alone, else that checkpoint
 * with the same hidden score to the bit (hidden_bpb; NAN matches none):
 * every patch that changes only the evaluation trains the king's own
 * model, and each is another idea (king_final_names_model). Counted are
 * the submissions
 * recorded before the submission `before` (NULL: any time) whose verdict
 * is not rejected (a proof that failed its checks establishes nothing),
 * if its miner is not `miner`; "" when there is none or it is `miner`'s
 * own (a copy recorded after it does not make its author a copier).
 * Whose it is: the end of its credit (credited_to followed, at most
 * EXPCORPUS_CREDIT_HOPS_MAX times), as the weights pay it: an own claim
 * that was itself a copy of another key's model is that key's.
 * Every other verdict counts, challenge_failed and not_decisive included:
 * the idea was shown first by someone else. */
#define EXPCORPUS_CREDIT_HOPS_MAX 16
int expcorpus_earlier_claim(struct vstate *s, const char *patch_sha256, const char *final_sha256,
			    double hidden_bpb, int final_alone, const char *king_tag, const char *miner,
			    const char *before, char out_id[EXPCORPUS_ID_BYTES], struct kerr *err);

/* Counts of submissions by verdict, in the order of expcorpus_verdicts,
 * challenge answers left out: an answer's outcome is settled onto the
 * submission it answers, so each king change (and each failed challenge)
 * counts once. *answers (may be NULL) gets the number of answers. */
#define EXPCORPUS_VERDICTS 5
extern const char *const expcorpus_verdicts[EXPCORPUS_VERDICTS];
int expcorpus_counts(struct vstate *s, long long counts[EXPCORPUS_VERDICTS], long long *answers,
		     struct kerr *err);

/* Per miner key: submissions, kings won (accepted_king), the judge's CPU
 * seconds spent on them, and the last submission's time; by key. The
 * service's /v1/miners and /metrics read it. */
struct expcorpus_miner {
	char miner[KEYS_PK_HEX_BYTES];
	long long submissions, kings;
	double judge_cpu_s;
	char last_at[VSTATE_TIME_BYTES];
};
/* The keys after `after` (NULL: from the first), at most limit of them
 * (0: all). Caller frees *out. */
int expcorpus_miners(struct vstate *s, const char *after, size_t limit, struct expcorpus_miner **out, size_t *n,
		     struct kerr *err);
/* The judge's CPU seconds over every miner's submissions: the sum of
 * expcorpus_miners' judge_cpu_s, in one row, without listing them (the
 * service's /metrics). */
int expcorpus_judge_cpu_s(struct vstate *s, double *total, struct kerr *err);

enum expcorpus_format { EXPCORPUS_JSONL, EXPCORPUS_CSV };
/* Every entry in recording order (docs/corpus-guide.md lists the columns). */
int expcorpus_export(struct vstate *s, enum expcorpus_format fmt, FILE *out, struct kerr *err);

/* The citation string, a stable format:
 *   Karpa corpus, submission <id> (manifest sha256 <64 hex>, verdict
 *   <verdict>[: <reason_code>]), judged <YYYY-MM-DD>
 * (one line). */
int expcorpus_cite(struct vstate *s, const char *id, char out[EXPCORPUS_CITE_MAX], struct kerr *err);
/* The same from an entry already loaded. */
void expcorpus_cite_entry(const struct expcorpus_entry *e, char out[EXPCORPUS_CITE_MAX]);

/* JSON form of one entry (with checks), as exported and shown. Caller
 * json_decref's; NULL on allocation failure. */
struct json_t;
struct json_t *expcorpus_entry_json(const struct expcorpus_entry *e);

#endif
