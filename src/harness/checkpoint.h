/* checkpoint.h: the checkpoint container (fixed harness, PROTOCOL 2).
 * Owns the file layout around the recipe's opaque state and every check made
 * before that state is handed back to a recipe. Never interprets the state;
 * never allocates from a size it has not checked against the file's size.
 *
 * Layout: "KARPACK1" | le32 header_len | header (canonical JSON, header_len
 * bytes) | state (header.state_bytes bytes) | SHA-256 of all bytes before it. */
#ifndef KARPA_CHECKPOINT_H
#define KARPA_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "sandbox/recipe_api.h"
#include "util/hash.h"
#include "util/kerr.h"

#define CKPT_MAGIC "KARPACK1"
#define CKPT_MAGIC_BYTES 8
#define CKPT_FORMAT 1
/* The header is a dozen short fields (a few hundred bytes); 64 KiB is a
 * generous ceiling that still refuses a hostile length before reading it. */
#define CKPT_HEADER_BYTES_MAX 65536
/* Same ceiling as RECIPE_STATE_BYTES_MAX (gpu-254m with optimizer state is
 * about 4 GiB): a checkpoint is read into memory whole. */
#define CKPT_STATE_BYTES_MAX ((uint64_t)16 << 30)
#define CKPT_SCALE_MAX 32

struct ckpt_meta {
	int format;                            /* CKPT_FORMAT */
	char recipe[KR_NAME_MAX];              /* plan.name */
	char recipe_version[KR_NAME_MAX];      /* plan.version */
	char scale[CKPT_SCALE_MAX];
	int64_t step;                          /* optimizer steps completed */
	uint64_t seed;
	char data_digest[HASH_HEX_BYTES];      /* dataset the run trained on */
	char tokenizer_digest[HASH_HEX_BYTES];
	int vocab_size;
	uint64_t state_bytes;
};

/* Writes path atomically (fs_atomic: temporary, fsync, rename, fsync dir). sha256_hex
 * (may be NULL) receives the digest of the whole file as written: the value
 * the training log records. */
int ckpt_write(const char *path, const struct ckpt_meta *m, const void *state, size_t n,
	       char sha256_hex[HASH_HEX_BYTES], struct kerr *err);

/* The digest ckpt_write would give for (m, state), without writing
 * anything: for a check that only compares a state's container with a
 * recorded digest (a replay's end), which at the GPU scales saves writing
 * and syncing gigabytes. */
int ckpt_digest(const struct ckpt_meta *m, const void *state, size_t n, char sha256_hex[HASH_HEX_BYTES],
		struct kerr *err);

/* Reads and verifies a container: ckpt.bad_magic, ckpt.truncated (file
 * shorter than its header declares), ckpt.bad_size (longer), ckpt.too_large,
 * ckpt.bad_header, ckpt.digest_mismatch, fs.*. On success *state (caller
 * frees) holds meta.state_bytes bytes and sha256_hex (may be NULL) the whole
 * file's digest. */
int ckpt_read(const char *path, struct ckpt_meta *m, void **state, size_t *n,
	      char sha256_hex[HASH_HEX_BYTES], struct kerr *err);
/* As ckpt_read for a file whose whole-file SHA-256 the caller already holds
 * and has checked against what it must be (a validator's taken copy of a
 * bundle: hashed as it was copied, never written since, its digest held to
 * the signed log): frame, header and sizes are checked, nothing is hashed
 * again, so the trailer is not checked either. */
int ckpt_read_known(const char *path, struct ckpt_meta *m, void **state, size_t *n, struct kerr *err);
/* The frame and header only (ckpt.bad_magic, ckpt.truncated, ckpt.bad_size,
 * ckpt.too_large, ckpt.bad_header): what a file's header says, for a caller
 * that binds its content by a digest it already holds. */
int ckpt_read_header(const char *path, struct ckpt_meta *m, struct kerr *err);

/* May this checkpoint be loaded by the running recipe on this data?
 * ckpt.recipe_mismatch: name or version differ from the plan.
 * ckpt.data_mismatch: vocab size or tokenizer digest differ. The data digest
 * is deliberately not compared: a validator evaluates on its own folder. */
int ckpt_check(const struct ckpt_meta *m, const struct kr_plan *plan, int vocab_size,
	       const char *tokenizer_digest, struct kerr *err);

#endif
