/* fuzz_wire.c: the recipe wire as the host reads it (recipe_pipe.c): every
 * response byte comes from the untrusted recipe process. The child here is
 * a stand-in forked through the real spawn path: its prepare hook writes
 * the input to the response pipe, closes it and reads requests until the
 * host hangs up, so the host sees exactly the input and then end of file.
 * The host then makes the calls a run makes (create, a train step, a
 * traced step, logits, state size, save, load, the gemm table); each consumes the
 * responses it finds, and each must end in a result or a clean recipe.*
 * error. */
#include <signal.h>
#include <sys/wait.h>

#include "fuzz.h"
#include "sandbox/gemmtab.h"
#include "sandbox/recipe_host.h"
#include "sandbox/recipe_pipe.h"

#define FUZZ_VOCAB 64
#define FUZZ_BULK_MAX (1u << 16) /* largest buffer a call here allocates */

struct feed {
	const uint8_t *data;
	size_t size;
};

static int feed_child(void *arg)
{
	const struct feed *f = arg;
	char sink[4096];
	size_t off = 0;

	while (off < f->size) {
		ssize_t w = write(1, f->data + off, f->size - off);
		if (w <= 0)
			_exit(0);
		off += (size_t)w;
	}
	close(1);
	/* Without an exec, O_CLOEXEC closes nothing: the child still holds the
	 * write end of its own request pipe and would never see end of file. */
	close_range(3, ~0u, 0);
	while (read(0, sink, sizeof sink) > 0)
		;
	_exit(0); /* never the runner: and no atexit handlers of the fuzzer in the child */
}

static void calls(struct recipe_host *h)
{
	struct kr_env env = { .seed = 1, .threads = 1, .vocab_size = FUZZ_VOCAB, .scale = "tiny" };
	struct kr_plan plan;
	struct kerr err;
	uint64_t tokens;
	size_t n;
	void *buf;

	memset(&err, 0, sizeof err);
	if (recipe_host_create(h, &env, &plan, &err) < 0) {
		FUZZ_ASSERT(!strncmp(err.code, "recipe.", 7));
		fuzz_note("create", &err);
		return;
	}
	/* what the host checked: the plan is one a run could use */
	FUZZ_ASSERT(plan.batch > 0 && plan.seq_len > 0 && plan.steps >= 1);
	FUZZ_ASSERT(memchr(plan.name, 0, sizeof plan.name) && memchr(plan.version, 0, sizeof plan.version));
	tokens = (uint64_t)plan.batch * (uint64_t)(plan.seq_len + 1);
	if (tokens <= FUZZ_BULK_MAX / 2) {
		uint16_t *t = calloc(tokens, 2);
		float loss, lr;
		FUZZ_ASSERT(t);
		h->train_step(h, 0, t, &loss, &lr, &err);
		{
			/* a traced step: the records' count and names come from the child */
			struct recipe_trace_rec recs[4];
			uint32_t nrec = 0;
			if (recipe_host_train_traced(h, 1, t, &loss, &lr, recs, 4, &nrec, &err) == 0) {
				uint32_t bad;
				FUZZ_ASSERT(nrec <= 4 && recipe_trace_check(recs, nrec, &bad) == 0);
			}
		}
		free(t);
	}
	{
		int T = plan.seq_len < 4 ? plan.seq_len : 4;
		uint16_t t[4] = { 0 };
		float *logits = calloc((size_t)T * FUZZ_VOCAB, sizeof *logits);
		FUZZ_ASSERT(logits);
		h->logits(h, t, 1, T, logits, &err);
		free(logits);
	}
	if (recipe_host_state_bytes(h, &n, &err) == 0 && n <= FUZZ_BULK_MAX) {
		buf = calloc(1, n ? n : 1);
		FUZZ_ASSERT(buf);
		if (h->save(h, buf, n, &err) == 0)
			h->load(h, buf, n, &err);
		free(buf);
	}
	{
		/* the gemm table: a canonical one, or a refusal and nothing written */
		static char text[KR_GEMM_MAX];
		struct gemmtab *t = malloc(sizeof *t);
		FUZZ_ASSERT(t);
		snprintf(text, sizeof text, "untouched");
		if (recipe_host_gemm(h, text, &err) == 0)
			FUZZ_ASSERT(!text[0] || gemmtab_parse(text, strlen(text), t, &err) == 0);
		else
			FUZZ_ASSERT(!strncmp(err.code, "recipe.", 7) && !strcmp(text, "untouched"));
		free(t);
	}
	fuzz_note("last call", &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct feed f = { data, size };
	struct recipe_host h;
	struct kerr err;

	/* a response larger than a pipe's buffer would need a reader first */
	if (size > 32768)
		return 0;
	if (recipe_host_pipe(&h, "/nonexistent-runner", feed_child, &f, &err) < 0) {
		fprintf(stderr, "fuzz_wire: %s\n", err.msg);
		abort();
	}
	calls(&h);
	recipe_host_destroy(&h);
	return 0;
}
