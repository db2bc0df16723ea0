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
 *
 * Every change is one transaction; nothing is half-written. */
#ifndef KARPA_VSTATE_H
#define KARPA_VSTATE_H

#include <sqlite3.h>
#include <stdint.h>

#include "util/fsutil.h"
#include "util/hash.h"
#include "util/kerr.h"

#define VSTATE_SCHEMA_VERSION 1
#define VSTATE_DB "state.db"
#define VSTATE_SECRET_BYTES 32

struct vstate {
	char dir[FS_PATH_MAX];
	char recipe[FS_PATH_MAX];  /* STATE/recipe */
	char data[FS_PATH_MAX];    /* public data folder path (as configured) */
	char hidden[FS_PATH_MAX];  /* hidden data folder path */
	char scale[32];
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
 * (vstate.schema), loads the secret, runs crash recovery (king.c). */
int vstate_open(const char *dir, struct vstate *s, struct kerr *err);
void vstate_close(struct vstate *s);

/* Runs fn inside BEGIN IMMEDIATE ... COMMIT, rolling back on failure. */
int vstate_tx(struct vstate *s, int (*fn)(struct vstate *s, void *arg, struct kerr *err), void *arg,
	      struct kerr *err);

/* Copies a file into the content-addressed store (write once, atomic). */
int vstate_store_file(struct vstate *s, const char *path, char sha256_hex[HASH_HEX_BYTES], struct kerr *err);

#endif
