/* shard.h: token shards in llm.c's .bin format (fixed harness).
 * Header: 256 little-endian int32; [0] magic 20240520, [1] version 1,
 * [2] token count; then count uint16 tokens. Owns reading and writing that
 * format and nothing else; never trusts a header count it has not checked
 * against the file size. */
#ifndef KARPA_SHARD_H
#define KARPA_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "util/kerr.h"

#define SHARD_MAGIC 20240520
#define SHARD_VERSION 1
#define SHARD_HEADER_INTS 256
#define SHARD_HEADER_BYTES (SHARD_HEADER_INTS * 4)
/* llm.c keeps shards at 100M tokens; ours are smaller so that the cpu scale
 * exercises multi-shard code paths. */
#define SHARD_TOKENS_MAX ((size_t)100 * 1000 * 1000)

/* Writes tokens atomically to path. */
int shard_write(const char *path, const uint16_t *tokens, size_t n, struct kerr *err);
/* Reads a whole shard; caller frees *tokens. Reason codes: shard.bad_magic,
 * shard.bad_version, shard.truncated, shard.too_large, fs.*. */
int shard_read(const char *path, uint16_t **tokens, size_t *n, struct kerr *err);
/* Validates the header of an in-memory image (used by --from and verify). */
int shard_parse(const void *buf, size_t len, const uint16_t **tokens, size_t *n, struct kerr *err);
/* The n tokens shard_parse found (little-endian, maybe unaligned) into out,
 * in host order. */
void shard_copy_tokens(const uint16_t *le, size_t n, uint16_t *out);

#endif
