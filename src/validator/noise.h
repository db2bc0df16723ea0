/* noise.h: the noise floor (PROTOCOL 6): how much the king's hidden
 * val_bpb moves from seed to seed alone, and so what margin a candidate
 * must clear. Owns training the king at N seeds, the statistics, and the
 * noise row plus the king's hidden score, written in one transaction.
 * Never runs the recipe in the validator's process. */
#ifndef KARPA_NOISE_H
#define KARPA_NOISE_H

#include "sandbox/recipe_pipe.h"
#include "proof/reciperepo.h"
#include "validator/vstate.h"
#include "util/kerr.h"

#define NOISE_SEEDS_DEFAULT 10 /* PROTOCOL 6 */
#define NOISE_SEEDS_MIN 2      /* one value has no spread */
#define NOISE_SEEDS_MAX 1000   /* each seed is a full training run */
#define NOISE_MARGIN_SIGMAS 2.0
#define NOISE_FORMAT "karpa-noise-1"

struct noise_opts {
	int seeds;    /* N >= NOISE_SEEDS_MIN; seeds 1..N are trained */
	int threads;
	int progress; /* one line per seed on stderr */
	/* Applied in each recipe child before exec (sandbox_prepare). NULL runs
	 * the king without a sandbox, as tests do. */
	recipe_pipe_prepare_fn prepare;
	void *prepare_arg;
	/* Called once with the built runner, before the first child starts,
	 * so a sandbox made for that runner can become prepare_arg. May be NULL. */
	int (*runner_ready)(const char *runner_path, void *prepare_arg, struct kerr *err);
};

struct noise_result {
	char king_tag[RECIPEREPO_TAG_MAX];
	char scale[VSTATE_SCALE_MAX];
	int seeds;
	double *hidden_bpb;      /* [seeds], index i is seed i + 1; noise_result_free */
	double *public_bpb;      /* [seeds] */
	double mean, sigma, margin;
	double king_hidden_bpb;  /* the value at seed PROVE_SEED_DEFAULT */
	double wall_s;
};

/* Trains the current king at seeds 1..N at the state's scale on its public
 * data, evaluates each final checkpoint on the hidden split, and stores
 * sigma (sample standard deviation, n - 1), margin = 2 sigma and the values
 * as a noise row; the king's hidden_bpb becomes its value at seed 1.
 * noise.too_few_seeds, noise.too_many_seeds, noise.king_changed (a merge
 * landed meanwhile), noise.nonfinite, recipe.*, train.*, dataset.*, vstate.*. */
int noise_floor(struct vstate *s, const struct noise_opts *o, struct noise_result *r, struct kerr *err);
void noise_result_free(struct noise_result *r);

/* Sample standard deviation (n - 1) of v[0..n), two-pass; NAN when n < 2. */
double noise_sample_sd(const double *v, int n, double *mean);

#endif
