/* fuzz_knobs.c: a king's config.c and gpt.c as the miner reads them
 * (knob_read_texts) and edits them (knob_edit). A king's text is what a
 * validator serves, so it is a stranger's. Input: config.c's text, a NUL,
 * gpt.c's text. For each scale the texts have a row for: a king that reads
 * has every available knob's value inside its bounds; each available knob
 * stepped one way and the other gives a point whose check and cost are
 * defined, and a point that passes its check edits into texts that read
 * back with that knob at the point's value. */
#include <math.h>

#include "fuzz.h"
#include "miner/knobs.h"

static char *dup_n(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);

	FUZZ_ASSERT(s);
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* The value the edited texts must hold for k: a float knob is written
 * with four significant digits. */
static int reads_back(const struct knob *kb, double want, double got)
{
	if (kb->integer)
		return got == want;
	return fabs(got - want) <= 1e-3 * fabs(want) + 1e-12;
}

static void one_scale(const char *cfg, const char *gpt, const char *scale)
{
	struct knob_values king, again;
	struct kerr err;

	memset(&err, 0, sizeof err);
	if (knob_read_texts(cfg, gpt, scale, &king, &err) < 0) {
		FUZZ_ASSERT(err.code[0] && memchr(err.msg, 0, sizeof err.msg));
		return;
	}
	for (int k = 0; k < KNOB_COUNT; k++) {
		const struct knob *kb = knob_get((enum knob_id)k);

		if (!king.avail[k])
			continue;
		FUZZ_ASSERT(isfinite(king.v[k]) && king.v[k] >= kb->lo && king.v[k] <= kb->hi);
		for (int dir = -1; dir <= 1; dir += 2) {
			struct knob_point p = { 0 };
			double v = knob_step_in((enum knob_id)k, king.v[k], dir, &king), flops;
			char *c2, *g2;

			knob_point_with(&p, &king, (enum knob_id)k, v);
			flops = knob_point_flops(&p, &king);
			FUZZ_ASSERT(isfinite(flops) && flops >= 0);
			if (knob_point_check(&p, &king, &err) < 0) {
				FUZZ_ASSERT(err.code[0]);
				continue;
			}
			c2 = strdup(cfg);
			g2 = strdup(gpt);
			FUZZ_ASSERT(c2 && g2);
			if (knob_edit(&c2, &g2, scale, &p, &king, &err) == 0) {
				if (knob_read_texts(c2, g2, scale, &again, &err) < 0) {
					fprintf(stderr, "%s %s=%g: the edit does not read: %s\n", scale, kb->name, v, err.msg);
					abort();
				}
				if (again.avail[k] && !reads_back(kb, v, again.v[k])) {
					fprintf(stderr, "%s %s: edited to %.17g, reads %.17g\n", scale, kb->name, v, again.v[k]);
					abort();
				}
			} else {
				FUZZ_ASSERT(err.code[0]);
			}
			free(c2);
			free(g2);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t n = nul ? (size_t)(nul - data) : size;
	char *cfg = dup_n(data, n), *gpt = nul ? dup_n(nul + 1, size - n - 1) : dup_n(data, 0);

	one_scale(cfg, gpt, "tiny");
	one_scale(cfg, gpt, "cpu");
	free(cfg);
	free(gpt);
	return 0;
}
