/* noise.h: the noise floor (PROTOCOL 6): how much the king's hidden
 * val_bpb moves from seed to seed alone, and so what margin a candidate
 * must clear. Owns training the king at N seeds, the statistics, and the
 * noise row plus the king's hidden score, written in one transaction.
 * Never runs the recipe in the validator's process, and never outside the
 * sandbox (sandbox.h): that is decided here, not by the caller. */
#ifndef KARPA_NOISE_H
#define KARPA_NOISE_H

#include <stdint.h>

#include "proof/reciperepo.h"
#include "validator/king.h"
#include "validator/hlosses.h"
#include "validator/vstate.h"
#include "util/kerr.h"

#define NOISE_SEEDS_DEFAULT 10 /* PROTOCOL 6 */
#define NOISE_SEEDS_MIN 2      /* one value has no spread */
#define NOISE_SEEDS_MAX 1000   /* each seed is a full training run */
#define NOISE_MARGIN_SIGMAS 2.0
/* The least margin (king.h): a recipe that learns nothing and does its
 * work at evaluation has sigma 0. */
#define NOISE_MARGIN_MIN KING_MARGIN_MIN
#define NOISE_FORMAT "karpa-noise-1"

/* No field turns the sandbox off: every run of the king (former miner
 * code) goes through a sandbox noise_floor makes itself, whoever calls it. */
struct noise_opts {
	int seeds;    /* N >= NOISE_SEEDS_MIN runs: seed 1, then noise_seed(2..N) */
	int threads;
	int progress; /* one line per seed on stderr */
};

/* The seed of the floor's run n (1-based): run 1 is PROVE_SEED_DEFAULT,
 * the king's protocol score; every other is drawn from the validator's
 * secret over "karpa noise seed v1", the king's tag and n, in the range
 * challenge seeds take (KING_SEED_MIN..KING_SEED_MAX). Small public
 * seeds 2..N let a king's recipe tell its noise runs from its scoring run
 * and a challenge by the seed alone, and widen its own margin there. */
#define NOISE_SEED_CONTEXT "karpa noise seed v1"
uint64_t noise_seed(const uint8_t secret[VSTATE_SECRET_BYTES], const char *king_tag, int n);

struct noise_result {
	char king_tag[RECIPEREPO_TAG_MAX];
	char scale[VSTATE_SCALE_MAX];
	int seeds;
	double *hidden_bpb;      /* [seeds], index i is run i + 1's; noise_result_free */
	double *public_bpb;      /* [seeds] */
	uint64_t *seed;          /* [seeds]: run i + 1's seed (noise_seed) */
	double mean, sigma, margin;
	double king_hidden_bpb;  /* the value at seed PROVE_SEED_DEFAULT */
	/* that run's final checkpoint digest: the king's own model, which a
	 * patch that changes only the evaluation trains (king_info.baseline);
	 * "" when that seed was not run */
	char king_final[HASH_HEX_BYTES];
	/* That run's hidden losses, target by target: stored with the floor
	 * as the king's (hlosses.h), what the sequential judge pairs with;
	 * nats NULL: none (not stored). */
	struct hlosses king_losses;
	double wall_s;
	uint32_t sandbox_applied; /* enum sandbox_layer bits applied in the last run's child */
	/* The causality audit's probes over every seed's hidden evaluation
	 * (each scored in a secret window order with its twin, as a judgment
	 * scores: validator/noise.c), all passed. */
	int causality_probes;
	int causality_aimed; /* its aimed probes (causality.h): the protocol seed's gains from its own mean
				loss, every other seed's over the protocol seed's losses */
};

/* Trains the current king N times (run 1 at seed 1, run n at noise_seed(n))
 * at the state's scale on its public
 * data, evaluates each final checkpoint on the hidden split (in a window
 * order drawn from the validator secret, with the causality audit and its
 * twin child, judge/auditeval.h: judge.causality when the king reads the
 * future), and stores
 * sigma (sample standard deviation, n - 1), margin = noise_margin(sigma) and the values
 * as a noise row; the king's hidden_bpb becomes its value at seed 1. Each
 * training run and each evaluation is its own sandboxed child (default
 * sandbox_config for o->threads).
 * noise.too_few_seeds, noise.too_many_seeds, king.stale (a merge landed
 * meanwhile), noise.nonfinite, sandbox.*, recipe.*, train.*, dataset.*,
 * vstate.*. */
int noise_floor(struct vstate *s, const struct noise_opts *o, struct noise_result *r, struct kerr *err);
/* Stores a measured floor for the king whose kings row is king_id: the
 * noise row, the king's score (king_record_noise_score) and its hidden
 * losses when r has them, in one transaction, so none is ever written
 * without the others. king.stale
 * when king_id is no longer the current king; vstate.*. */
int noise_store(struct vstate *s, long long king_id, const struct noise_result *r, struct kerr *err);
void noise_result_free(struct noise_result *r);

/* Sample standard deviation (n - 1) of v[0..n), two-pass; NAN when n < 2. */
double noise_sample_sd(const double *v, int n, double *mean);
/* The margin for a spread sigma: NOISE_MARGIN_SIGMAS sigma, at least
 * NOISE_MARGIN_MIN; NAN for a sigma that is not finite or is negative. */
double noise_margin(double sigma);

#endif
