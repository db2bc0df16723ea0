/* vstate.h: a validator's state folder (PROTOCOL 5, 6, 1.2). Owns its
 * layout and the one SQLite database (WAL) holding kings, submissions,
 * checks, verdicts, noise floors, challenges and the experiment corpus
 * (FTS5), plus the content-addressed store of accepted bundle files.
 *
 * STATE/state.db            the database (schema in vstate.c, versioned)
 * STATE/recipe/             the canonical recipe repository (git)
 * STATE/data -> public data folder (train+val), STATE/hidden -> hidden folder
 * STATE/store/<sha256>      bundle files by digest (write once)
 * STATE/secret              the validator secret (challenge seeds), 0600
 * STATE/work/               scratch for judgments (safe to delete)
 * STATE/king.lock           held (flock) for the whole of a king change
 *
 * Every change is one transaction; nothing is half-written. */
#ifndef KARPA_VSTATE_H
#define KARPA_VSTATE_H

#include <sqlite3.h>
#include <stdint.h>

#include "proof/keys.h"
#include "proof/reciperepo.h"
#include "util/fsutil.h"
#include "util/hash.h"
#include "util/kerr.h"

#define VSTATE_SCHEMA_VERSION 5
#define VSTATE_DB "state.db"
#define VSTATE_SECRET_BYTES 32
/* A corpus id: "k-" + up to 64 hex + NUL (EXPCORPUS_ID_BYTES). */
#define VSTATE_ID_BYTES (2 + 64 + 1)
/* A writer holds the database for one short transaction; a reader (corpus
 * CLI beside a running validator) waits this long before vstate.busy. */
#define VSTATE_BUSY_TIMEOUT_MS 10000
/* UTC ISO-8601 to the second, "2026-11-25T12:34:56Z" + NUL. */
#define VSTATE_TIME_BYTES 21
#define VSTATE_SCALE_MAX 32

struct vstate {
	char dir[FS_PATH_MAX];
	char recipe[FS_PATH_MAX];  /* STATE/recipe */
	char data[FS_PATH_MAX];    /* public data folder path (as configured) */
	char hidden[FS_PATH_MAX];  /* hidden data folder path */
	char scale[VSTATE_SCALE_MAX];
	uint8_t secret[VSTATE_SECRET_BYTES];
	sqlite3 *db;
};

struct vstate_init_opts {
	const char *dir, *recipe_src, *data, *hidden, *scale;
};

/* Creates STATE: database with schema, recipe repository (reciperepo_init
 * from recipe_src, tagging recipe-v0.1.0 as the first king), secret.
 * Refuses an existing non-empty folder (vstate.exists). */
int vstate_init(const struct vstate_init_opts *o, struct kerr *err);
/* Opens STATE (WAL, foreign keys, busy timeout), checks the schema version
 * (vstate.schema: none, or newer than this build's), upgrades an older one
 * in place in one transaction (vstate.c's migrations), loads the secret. Settles nothing: an interrupted king
 * change may still be journaled. Callers outside the validator room's own
 * tests open through validator_open (validator.h), which runs king.c's
 * recovery before anything reads the state. */
int vstate_open(const char *dir, struct vstate *s, struct kerr *err);
void vstate_close(struct vstate *s);

/* Creates the queue table, its indexes and the held checkpoints' waits
 * (heldwait.h) where absent (for queue.c's
 * queue_ensure; the definition lives with the rest of the schema in
 * vstate.c). Idempotent; runs inside the caller's transaction if any. */
int vstate_queue_schema(struct vstate *s, struct kerr *err);

/* Runs fn inside BEGIN IMMEDIATE ... COMMIT, rolling back on failure. */
int vstate_tx(struct vstate *s, int (*fn)(struct vstate *s, void *arg, struct kerr *err), void *arg,
	      struct kerr *err);

/* Copies a file into the content-addressed store (write once, atomic). */
int vstate_store_file(struct vstate *s, const char *path, char sha256_hex[HASH_HEX_BYTES], struct kerr *err);
/* As vstate_store_file for a file the validator owns whose SHA-256 it
 * already holds (a taken bundle's file: hashed and fsynced as it was
 * copied, never written since): hard-linked into the store under that
 * digest, so its bytes are neither copied nor hashed again. Where no link
 * can be made (another filesystem), it is copied as vstate_store_file does
 * and the copy's digest must be the one given (vstate.store_corrupt). */
int vstate_store_known(struct vstate *s, const char *path, const char *sha256_hex, struct kerr *err);
/* Where the store keeps the object with this digest (STATE/store/<hex>),
 * whether or not it is there. vstate.bad_digest when hex is not 64
 * lowercase hex digits: a digest read from a manifest never names a path
 * outside the store. */
int vstate_store_path(struct vstate *s, const char *sha256_hex, char path[FS_PATH_MAX], struct kerr *err);

/* Now as UTC ISO-8601 (gmtime_r), the one time format of the state. */
void vstate_now_iso(char out[VSTATE_TIME_BYTES]);

/* One row of `kings`; absent reals are NAN. */
struct vstate_king {
	long long id;
	char tag[RECIPEREPO_TAG_MAX];
	char commit[RECIPEREPO_COMMIT_HEX];
	double hidden_bpb, public_bpb, improvement, alpha;
	char submission_id[VSTATE_ID_BYTES];
	char miner[KEYS_PK_HEX_BYTES];
	char created_at[VSTATE_TIME_BYTES];
};
/* The current king: the row with the highest id (vstate.no_king if none). */
int vstate_king_current(struct vstate *s, struct vstate_king *k, struct kerr *err);
/* The lineage: the newest (at most cap) kings, oldest first. */
int vstate_kings(struct vstate *s, struct vstate_king *out, size_t cap, size_t *n, struct kerr *err);

/* One row of `noise` (written by noise.c; the floor in force is
 * king_noise_in_force's answer); present is 0 when there is none. */
struct vstate_noise {
	int present;
	char king_tag[RECIPEREPO_TAG_MAX];
	char scale[VSTATE_SCALE_MAX];
	int seeds;
	double sigma, margin;
	char created_at[VSTATE_TIME_BYTES];
};

/* meta table access (string values; vstate.meta_missing when absent). */
int vstate_meta_get(struct vstate *s, const char *key, char *out, size_t cap, struct kerr *err);
int vstate_meta_set(struct vstate *s, const char *key, const char *value, struct kerr *err);

/* Fills err with vstate.db (or vstate.busy) and SQLite's message about
 * `what`; returns -1. For modules that share the database. */
int vstate_sql_error(struct vstate *s, const char *what, struct kerr *err);

#endif
