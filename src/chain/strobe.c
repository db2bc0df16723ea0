/* strobe.c: the Strobe-128 duplex over Keccak-f[1600] as Merlin fixes it:
 * rate 166 bytes (200 - 2 * 128/8 - 2), the initial block
 * [1, R+2, 1, 0, 1, 96] || "STROBEv1.0.2" (no hyphen: the string merlin's
 * strobe.rs, schnorrkel and @scure/sr25519 all use), and the begin-op framing
 * that absorbs the previous op's start and the new flags. Written from the
 * Strobe specification and checked against the published conformance
 * vectors (tests/test_chain_keys.c). */
#include <assert.h>
#include <string.h>

#include <sodium.h>

#include "chain/strobe.h"

/* Security 128: the rate leaves 2 * 16 bytes of capacity and 2 of padding. */
#define STROBE_R 166

enum {
	FLAG_I = 1 << 0, /* inbound */
	FLAG_A = 1 << 1, /* application data */
	FLAG_C = 1 << 2, /* cipher: forces a permutation first */
	FLAG_T = 1 << 3, /* transport: never used by Merlin */
	FLAG_M = 1 << 4, /* meta */
	FLAG_K = 1 << 5, /* keytree: unused here, kept for the force rule */
};

static const char strobe_version[] = "STROBEv1.0.2";

static void run_f(struct strobe128 *s)
{
	s->st[s->pos] ^= s->pos_begin;
	s->st[s->pos + 1] ^= 0x04;
	s->st[STROBE_R + 1] ^= 0x80;
	keccak_f1600(s->st);
	s->pos = 0;
	s->pos_begin = 0;
}

static void absorb(struct strobe128 *s, const uint8_t *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		s->st[s->pos++] ^= data[i];
		if (s->pos == STROBE_R)
			run_f(s);
	}
}

static void overwrite(struct strobe128 *s, const uint8_t *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		s->st[s->pos++] = data[i];
		if (s->pos == STROBE_R)
			run_f(s);
	}
}

static void squeeze(struct strobe128 *s, uint8_t *out, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		out[i] = s->st[s->pos];
		s->st[s->pos++] = 0;
		if (s->pos == STROBE_R)
			run_f(s);
	}
}

static void begin_op(struct strobe128 *s, uint8_t flags, int more)
{
	uint8_t frame[2];

	if (more) {
		assert(s->cur_flags == flags);
		return;
	}
	assert(!(flags & FLAG_T));
	frame[0] = s->pos_begin;
	frame[1] = flags;
	s->pos_begin = (uint8_t)(s->pos + 1);
	s->cur_flags = flags;
	absorb(s, frame, sizeof frame);
	/* Output that depends on a key must come from a fresh permutation. */
	if ((flags & (FLAG_C | FLAG_K)) && s->pos != 0)
		run_f(s);
}

void strobe128_init(struct strobe128 *s, const uint8_t *label, size_t len)
{
	static const uint8_t head[6] = { 1, STROBE_R + 2, 1, 0, 1, 96 };

	memset(s, 0, sizeof *s);
	memcpy(s->st, head, sizeof head);
	memcpy(s->st + sizeof head, strobe_version, sizeof strobe_version - 1);
	keccak_f1600(s->st);
	strobe128_meta_ad(s, label, len, 0);
}

void strobe128_meta_ad(struct strobe128 *s, const uint8_t *data, size_t len, int more)
{
	begin_op(s, FLAG_M | FLAG_A, more);
	absorb(s, data, len);
}

void strobe128_ad(struct strobe128 *s, const uint8_t *data, size_t len, int more)
{
	begin_op(s, FLAG_A, more);
	absorb(s, data, len);
}

void strobe128_prf(struct strobe128 *s, uint8_t *out, size_t len, int more)
{
	begin_op(s, FLAG_I | FLAG_A | FLAG_C, more);
	squeeze(s, out, len);
}

void strobe128_key(struct strobe128 *s, const uint8_t *data, size_t len, int more)
{
	begin_op(s, FLAG_A | FLAG_C, more);
	overwrite(s, data, len);
}

void strobe128_wipe(struct strobe128 *s)
{
	sodium_memzero(s, sizeof *s);
}
