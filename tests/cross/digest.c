/* digest.c: trains the recipe a few steps at the tiny scale on fixed tokens
 * and writes its state blob, for comparing builds and ISAs bit for bit
 * (tests/cross/isa.sh, docs/determinism.md). Links the recipe alone: no
 * harness, no libraries but libc, libm and OpenMP, so it cross-builds with
 * nothing but a cross compiler. Prints one line per step (loss and lr as
 * hex floats); the blob goes to the file named by its argument. */
#include <stdio.h>
#include <stdlib.h>

#include "sandbox/recipe_api.h"

#define DIGEST_VOCAB 320 /* the tiny scale's tokenizer size */
#define DIGEST_SEED 11

int main(int argc, char **argv)
{
	struct kr_env env = { .seed = DIGEST_SEED, .threads = 2, .vocab_size = DIGEST_VOCAB, .scale = "tiny" };
	struct kr_recipe *r;
	struct kr_plan plan;
	char err[KR_ERR_MAX] = "";
	uint64_t x = 88172645463325252ull;
	int steps = argc > 2 ? atoi(argv[2]) : 0;
	float loss, lr;
	uint16_t *tok;
	uint8_t *blob;
	size_t nt, n;
	FILE *f;

	if (argc != 3 || steps <= 0) {
		fprintf(stderr, "usage: digest STATE_OUT STEPS\n");
		return 2;
	}
	if (kr_create(&env, &r, &plan, err) != 0) {
		fprintf(stderr, "digest: %s\n", err);
		return 1;
	}
	nt = (size_t)plan.batch * (size_t)(plan.seq_len + 1);
	if (!(tok = malloc(nt * sizeof *tok)))
		return 1;
	for (int s = 0; s < steps; s++) {
		for (size_t i = 0; i < nt; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			tok[i] = (uint16_t)(x % DIGEST_VOCAB);
		}
		if (kr_train_step(r, s, tok, &loss, &lr, err) != 0) {
			fprintf(stderr, "digest: step %d: %s\n", s, err);
			return 1;
		}
		printf("step %d loss %a lr %a\n", s, (double)loss, (double)lr);
	}
	n = kr_state_bytes(r);
	if (!(blob = malloc(n)) || kr_state_save(r, blob, n, err) != 0) {
		fprintf(stderr, "digest: state: %s\n", err);
		return 1;
	}
	if (!(f = fopen(argv[1], "wb")) || fwrite(blob, 1, n, f) != n || fclose(f) != 0) {
		perror(argv[1]);
		return 1;
	}
	free(blob);
	free(tok);
	kr_destroy(r);
	return 0;
}
