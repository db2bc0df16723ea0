/* kingsample.h: a short sample of each king's model, shown beside the
 * lineage chart (docs/validator.md, "The lineage's models"). Owns the one
 * fixed prompt and draw every validator uses, the `karpa sample` command
 * line that makes a sample (the model is the king's recipe code, so it runs
 * in a child process behind the recipe host and its sandbox, never in the
 * service), the check of what that command printed, and the table that
 * keeps each sample once made:
 *
 *   king_samples(tag PRIMARY KEY, ckpt_sha256, prompt, text, tokens_json,
 *                temperature, seed, made_at)
 *
 * A row is written once, in one transaction, and never changed: the same
 * checkpoint, prompt, temperature and seed give the same tokens, so
 * `karpa sample --king TAG --state STATE` with the options below prints
 * the same text. */
#ifndef KARPA_KINGSAMPLE_H
#define KARPA_KINGSAMPLE_H

#include <jansson.h>

#include "proof/reciperepo.h"
#include "validator/vstate.h"

/* A few words of English that any model of the corpus continues. */
#define KINGSAMPLE_PROMPT "The history of the"
#define KINGSAMPLE_TOKENS 40
#define KINGSAMPLE_TEMPERATURE 0.8
#define KINGSAMPLE_SEED 1
/* What `karpa sample --json` prints for 40 tokens is about 1 KB. */
#define KINGSAMPLE_OUTPUT_BYTES_MAX (64u << 10)
/* argv of kingsample_argv, its NULL included. */
#define KINGSAMPLE_ARGV_MAX 24

/* Creates the table where absent. Idempotent. vstate.* */
int kingsample_ensure(struct vstate *s, struct kerr *err);

/* The oldest king crowned by a proof (the first king has no model) that has
 * no sample yet and is not in skip[0..nskip); *found 0 when none. vstate.* */
int kingsample_next(struct vstate *s, const char *const *skip, size_t nskip, char tag[RECIPEREPO_TAG_MAX],
		    int *found, struct kerr *err);

/* The command that makes king tag's sample: karpa (the binary to run)
 * sample --king TAG --state STATE with the fixed prompt and draw, --scale
 * of the state, --threads threads, --json. Strings point into the
 * arguments and into buf (the numbers), which outlives argv's use. */
void kingsample_argv(const char *karpa, const char *state_dir, const char *tag, const char *scale, int threads,
		     char buf[64], const char *argv[KINGSAMPLE_ARGV_MAX]);

/* Stores king tag's sample from what kingsample_argv's command printed on
 * its stdout (out, n bytes: a JSON object on one line). The object must be
 * that king's sample with the fixed prompt, tokens, temperature and seed:
 * kingsample.bad_output when it is not. A sample already stored is kept
 * (the same inputs give the same bytes). vstate.* */
int kingsample_put(struct vstate *s, const char *tag, const char *out, size_t n, struct kerr *err);

/* King tag's sample as the API serves it: {tag, prompt, text, tokens (the
 * generated token ids), temperature, seed, ckpt_sha256, made_at}; caller
 * decrefs. kingsample.pending when none is stored, vstate.* */
int kingsample_get(struct vstate *s, const char *tag, json_t **out, struct kerr *err);

/* *have 1 when king tag has a stored sample. vstate.* */
int kingsample_have(struct vstate *s, const char *tag, int *have, struct kerr *err);

#endif
