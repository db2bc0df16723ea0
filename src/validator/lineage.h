/* lineage.h: the lineage's models (the whitepaper's fourth artifact): for
 * each king, the checkpoint that crowned it, found in the content store
 * through the crowning submission's manifest. Owns that lookup, which the
 * service (GET /v1/kings/TAG/model) and `karpa sample --king` share.
 * Reads only; never writes the state. */
#ifndef KARPA_LINEAGE_H
#define KARPA_LINEAGE_H

#include "util/fsutil.h"
#include "util/hash.h"
#include "util/kerr.h"
#include "validator/vstate.h"

/* The stored final checkpoint of the submission that crowned king `tag`:
 * its path in STATE/store and its SHA-256. The manifest read on the way is
 * checked against its own digest (the store's name for it), and the
 * checkpoint's size against the manifest's entry; its content is not
 * hashed again (the store is write once, and a checkpoint carries its own
 * digest, which ckpt_read verifies before anything loads it).
 * lineage.not_found: no king has this tag (or it is not a recipe tag).
 * lineage.no_model: the king has no crowning proof (the first king).
 * lineage.model_missing: the crowning bundle's manifest or checkpoint is
 * not in the store (kept before the store held bundles, or the store was
 * damaged). lineage.bad_manifest: the stored manifest is not a manifest
 * with a checkpoints/final.ckpt entry. vstate.store_corrupt: a stored
 * object is not the bytes its name says. vstate.*, expcorpus.* */
int lineage_model_path(struct vstate *s, const char *tag, char path[FS_PATH_MAX], char digest_hex[HASH_HEX_BYTES],
		       struct kerr *err);

#endif
