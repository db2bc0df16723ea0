/* auditeval.c: a split scored with the causality audit on its own calls
 * (auditeval.h). */
#include "judge/auditeval.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "judge/causality.h"

#define AUDITEVAL_SEED_TEXT_MAX 192

uint64_t auditeval_keyed_seed(const uint8_t *key, size_t key_len, const char *context, const char *bound)
{
	unsigned char in[2 * AUDITEVAL_SEED_TEXT_MAX], out[8];
	size_t cl = strnlen(context, AUDITEVAL_SEED_TEXT_MAX), bl = strnlen(bound, AUDITEVAL_SEED_TEXT_MAX);
	uint64_t seed = 0;

	memcpy(in, context, cl);
	memcpy(in + cl, bound, bl);
	crypto_generichash(out, sizeof out, in, cl + bl, key, key_len);
	for (int i = 0; i < 8; i++)
		seed = seed << 8 | out[i];
	return seed;
}

static int start_twin(void *arg, struct kerr *err)
{
	struct auditeval_twin *t = arg;

	return t->start(t->arg, &t->h, &t->plan, err);
}

int auditeval_split(struct recipe_host *h, struct auditeval_twin *twin, const struct kr_plan *plan,
		    const struct dataset *d, enum dataset_split_id split, const struct auditeval_opts *o,
		    struct eval_result *res, struct auditeval_audited *au, struct recipe_host **failed,
		    struct kerr *err)
{
	const uint16_t *toks = NULL;
	uint32_t *tbytes = NULL;
	size_t n;
	int vocab = 0, rc = -1, watching = 0, rows = 1, due = 0;
	uint64_t calls, made;
	struct eval_opts eo = { .threads = o->threads,
				.targets_max = o->targets_max,
				.order = o->order,
				.stopper = o->stop,
				.target_nats = o->target_nats,
				.tail_always = o->tail_always };
	struct eval_observer ob;
	struct causality_watch w;
	struct causality_opts co = { .vocab_size = h->vocab_size, .T = plan->seq_len, .seed = o->audit_seed };

	memset(au, 0, sizeof *au);
	*failed = NULL;
	if (dataset_tokens(d, split, &toks, &n, err) < 0 || evaluate_token_bytes(d->tok, &tbytes, &vocab, err) < 0)
		goto out;
	if (twin) {
		if (evaluate_calls(plan, vocab, n, eo.targets_max, &calls, &rows, err) < 0 ||
		    causality_watch_init(&w, &twin->h, &co, calls, rows, toks, n, err) < 0)
			goto out;
		w.start_alt = start_twin;
		w.start_arg = twin;
		watching = 1;
		ob.after_call = causality_watch_call;
		ob.arg = &w;
		eo.observer = &ob;
	}
	if (evaluate_tokens(h, plan, tbytes, vocab, toks, n, &eo, res, err) < 0) {
		if (strcmp(err->code, "judge.causality"))
			*failed = h;
		goto out;
	}
	/* The twins only now that every scoring call is answered: nothing
	 * about them can show in the gaps between those calls. */
	if (watching && causality_watch_finish(&w, err) < 0) {
		if (strcmp(err->code, "judge.causality") && w.alt_started)
			*failed = &twin->h;
		goto out;
	}
	/* A stop comes only after a call of full windows: every call before it
	 * held `rows` of them; a short last window scored after the stop
	 * (tail_always) was one more call. */
	made = res->stopped ? (res->windows - (uint64_t)res->tail_scored + (uint64_t)rows - 1) / (uint64_t)rows +
				      (uint64_t)res->tail_scored
			    : UINT64_MAX;
	for (int i = 0; watching && i < w.nprobes; i++)
		due += w.calls[i] < made;
	if (watching && w.rep.probes != due) {
		kerr_set(err, "judge.causality", "the audit probed %d of its %d calls", w.rep.probes, due);
		goto out;
	}
	/* Aimed probes need every window's loss: a stopped scoring is not
	 * decisive, so what it gained matters to no verdict. */
	if (watching && o->aimed && o->target_nats && !res->stopped) {
		size_t full, rem;
		int tail;
		struct causality_aim aim = { .nats = o->target_nats, .ref_nats = o->ref_nats, .order = o->order,
					     .rows = rows, .probes = o->aimed };
		if (evaluate_windows(plan, n, eo.targets_max, &full, &tail, &rem, err) < 0)
			goto out;
		aim.full = full;
		if (causality_watch_aim(&w, &aim, err) < 0) {
			if (strcmp(err->code, "judge.causality") && w.alt_started)
				*failed = &twin->h;
			goto out;
		}
	}
	if (watching) {
		au->probes = w.rep.probes;
		au->aimed = w.rep.aimed;
		au->aimed_calls = w.rep.aimed_calls;
		au->aimed_s = w.rep.aimed_s;
	}
	rc = 0;
out:
	if (watching)
		causality_watch_free(&w);
	free(tbytes);
	return rc;
}
