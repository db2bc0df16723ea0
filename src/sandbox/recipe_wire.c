/* recipe_wire.c: full reads and writes on pipes, and the CREATE payload's
 * two ends. Shared by the host and the runner. */
#include "sandbox/recipe_wire.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

int wire_read_full(int fd, void *buf, size_t n)
{
	char *p = buf;

	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int wire_write_full(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int wire_send2(int fd, uint32_t type, const void *a, uint64_t alen, const void *b, uint64_t blen)
{
	struct wire_hdr h = { WIRE_MAGIC, type, alen + blen };

	if (wire_write_full(fd, &h, sizeof h) < 0)
		return -1;
	if (alen && wire_write_full(fd, a, alen) < 0)
		return -1;
	if (blen && wire_write_full(fd, b, blen) < 0)
		return -1;
	return 0;
}

int wire_send(int fd, uint32_t type, const void *payload, uint64_t len)
{
	return wire_send2(fd, type, payload, len, NULL, 0);
}

int wire_create_encode(const struct kr_env *env, struct wire_create *c, struct kerr *err)
{
	size_t sl = strnlen(env->scale, WIRE_SCALE_MAX + 1);
	size_t gl = env->gemm ? strnlen(env->gemm, KR_GEMM_MAX) : 0;

	if (sl > WIRE_SCALE_MAX)
		return kerr_set(err, "recipe.bad_scale", "scale name longer than %d bytes", WIRE_SCALE_MAX);
	if (gl > WIRE_GEMM_MAX)
		return kerr_set(err, "recipe.bad_gemm", "gemm table without a NUL within %d bytes", KR_GEMM_MAX);
	memset(c, 0, sizeof *c);
	c->seed = env->seed;
	c->threads = env->threads;
	c->vocab_size = env->vocab_size;
	c->scale_len = (uint32_t)sl;
	c->flags = env->state_follows ? WIRE_CREATE_STATE_FOLLOWS : 0;
	c->gemm_len = (uint32_t)gl;
	return 0;
}

int wire_create_decode(const void *payload, uint64_t len, struct kr_env *env, struct wire_create_text *txt,
		       struct kerr *err)
{
	const char *p = payload, *scale, *gemm;
	struct wire_create c;

	if (len < sizeof c)
		return kerr_set(err, "wire.bad_create", "create request of %llu bytes, shorter than its %zu-byte head",
				(unsigned long long)len, sizeof c);
	memcpy(&c, p, sizeof c);
	if (c.scale_len > WIRE_SCALE_MAX || c.gemm_len > WIRE_GEMM_MAX)
		return kerr_set(err, "wire.bad_create", "create request with a scale of %u or a gemm table of %u bytes "
				"(at most %d and %d)", c.scale_len, c.gemm_len, WIRE_SCALE_MAX, WIRE_GEMM_MAX);
	if (len != sizeof c + (uint64_t)c.scale_len + c.gemm_len)
		return kerr_set(err, "wire.bad_create", "create request of %llu bytes, its head announces %llu",
				(unsigned long long)len, (unsigned long long)(sizeof c + (uint64_t)c.scale_len + c.gemm_len));
	if (c.flags & ~WIRE_CREATE_STATE_FOLLOWS || c.reserved)
		return kerr_set(err, "wire.bad_create", "create request with unknown flags 0x%x or reserved 0x%x", c.flags,
				c.reserved);
	scale = p + sizeof c;
	gemm = scale + c.scale_len;
	if (memchr(scale, '\0', c.scale_len) || memchr(gemm, '\0', c.gemm_len))
		return kerr_set(err, "wire.bad_create", "create request with a NUL inside its scale or gemm text");
	/* checked whole: only now is anything written */
	memcpy(txt->scale, scale, c.scale_len);
	txt->scale[c.scale_len] = '\0';
	memcpy(txt->gemm, gemm, c.gemm_len);
	txt->gemm[c.gemm_len] = '\0';
	*env = (struct kr_env){ .seed = c.seed, .threads = c.threads, .vocab_size = c.vocab_size, .scale = txt->scale,
				.state_follows = !!(c.flags & WIRE_CREATE_STATE_FOLLOWS),
				.gemm = c.gemm_len ? txt->gemm : NULL };
	return 0;
}
