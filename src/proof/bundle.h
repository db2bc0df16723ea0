/* bundle.h: the proof bundle (PROTOCOL 4, "Bundle"). Owns the layout, the
 * sealing step (file digests -> canonical manifest -> attestation binding
 * the manifest's digest -> the miner's signature over the manifest bytes),
 * the transport form (one ustar file via libarchive) and verification.
 * Never extracts a tar entry before the whole archive has been checked.
 *
 * Layout of a bundle directory:
 *   manifest.json      canonical JSON, the exact bytes signed
 *   manifest.sig       hex Ed25519 signature over manifest.json, newline
 *   attestation.json   evidence binding SHA-256(manifest.json) (attest.h)
 *   patch.diff rationale.md train.log calibration.json
 *   checkpoints/final.ckpt  checkpoints/step_NNNNNN.ckpt (the kept ones)
 * manifest.json lists the SHA-256 of every file except itself, its signature
 * and the attestation (which cannot be listed: it binds the manifest). */
#ifndef KARPA_BUNDLE_H
#define KARPA_BUNDLE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "proof/attest.h"
#include "proof/keys.h"
#include "util/fsutil.h"
#include "util/hash.h"
#include "util/kerr.h"

#define BUNDLE_PROTOCOL 1
#define BUNDLE_MANIFEST "manifest.json"
#define BUNDLE_SIG "manifest.sig"
#define BUNDLE_FILES_MAX 64
#define BUNDLE_NAME_MAX 128
/* A cpu-scale bundle is about a hundred MB (every kept checkpoint holds the
 * optimizer state); gpu-254m checkpoints are ~3 GB each, and keeping every
 * one of at least eight is beyond this cap: docs/bundle.md, "Kept
 * checkpoints", says what the GPU scales need instead. */
#define BUNDLE_BYTES_MAX ((uint64_t)16 << 30)
/* The largest .tar the safe reader takes: BUNDLE_BYTES_MAX of files plus
 * the ustar headers and padding of the most entries it allows. */
uint64_t bundle_tar_bytes_max(void);
#define BUNDLE_MANIFEST_BYTES_MAX (1u << 20)
/* "checkpoints/final.ckpt" is two deep; a little room, no more, so a hostile
 * archive cannot make us build deep trees. */
#define BUNDLE_DEPTH_MAX 4
#define BUNDLE_FINAL_CKPT "checkpoints/final.ckpt"
/* Files every bundle must list (besides the kept checkpoints). */
#define BUNDLE_REQUIRED_FILES { "patch.diff", "rationale.md", "train.log", "calibration.json", BUNDLE_FINAL_CKPT }


/* Seals a staged bundle directory: fills manifest["files"] with the digest of
 * every other file (recursively, names sorted), sets manifest["attestation"]
 * = {"kind": detected kind}, writes manifest.json (canonical: compact,
 * sorted keys), produces attestation.json, writes manifest.sig. Takes a
 * reference to manifest (the caller keeps its own). */
int bundle_seal(const char *dir, json_t *manifest, const struct keys *k, const struct attest_opts *ao,
		struct kerr *err);

/* One ustar file from a bundle directory (atomic), and back. Unpacking
 * checks every entry first (regular files and directories only, names
 * relative without "..", no duplicates, count, per-file and total size) and
 * then extracts into a staging directory renamed to dir_out. */
int bundle_pack(const char *dir, const char *tar_path, struct kerr *err);
int bundle_unpack(const char *tar_path, const char *dir_out, struct kerr *err);

struct bundle_report {
	char manifest_sha256[HASH_HEX_BYTES];
	char miner[KEYS_PK_HEX_BYTES];
	char attest_kind[32];
	enum attest_tier tier;
	double alpha;
	char log_head[HASH_HEX_BYTES];
	json_t *manifest; /* owned: parsed manifest.json */
};

/* Verifies a bundle directory or .tar, taken first (bundle_take, under
 * $TMPDIR): manifest canonical form, signature,
 * every listed file present with its digest and no unlisted files, the log
 * hash chain and its head, checkpoint digests against the chain, the kept
 * checkpoints are the ones the head selects, attestation binding and tier.
 * Stable reason codes (docs/bundle.md): bundle.*, log.*, attest.*. */
int bundle_verify(const char *path, struct bundle_report *r, struct kerr *err);
/* The same, with the copy under tmp_base instead of $TMPDIR (NULL: $TMPDIR):
 * a service verifies on the disk whose room it counts. */
int bundle_verify_at(const char *path, const char *tmp_base, struct bundle_report *r, struct kerr *err);
void bundle_report_free(struct bundle_report *r);
/* Whether the manifest in dir (canonical) is signed by the miner key it
 * names, and patch.diff and rationale.md are the bytes it lists: a
 * judgment's attribution before the full verification (no other file or
 * log checked). bundle.sig_*, bundle.manifest_*, bundle.file_digest. */
int bundle_signed(const char *dir, struct kerr *err);

/* ---- helpers shared by bundle.c, bundle_tar.c and the CLI -------------- */

/* A name inside a bundle: relative, '/'-separated, components of
 * [A-Za-z0-9._-] other than "." and "..", at most BUNDLE_NAME_MAX bytes and
 * BUNDLE_DEPTH_MAX components. bundle.tar_traversal (absolute or ".."),
 * bundle.tar_name (anything else wrong). */
int bundle_name_check(const char *name, struct kerr *err);
/* A log's checkpoint records, in order (the last one is final.ckpt's): the
 * log must be one trainlog_verify accepted. *out is the caller's to free.
 * bundle.ckpt_chain (too many records), log.* */
struct bundle_ckpt_rec {
	int64_t step;
	char sha[HASH_HEX_BYTES];
};
int bundle_log_checkpoints(const char *log, struct bundle_ckpt_rec **out, int *n, struct kerr *err);
/* Copies held checkpoint `name` (an entry of manifest.held) from src to
 * dst (created), held to the entry's size and SHA-256 as it is copied:
 * bundle.held_digest (other bytes: the wrong folder or a damaged file),
 * bundle.held_bad (no such entry, or one without size and digest), fs.*.
 * The manifest must be a verified one (bundle_verify binds held to the
 * log); dst is the caller's own copy of the bundle. With may_link, src
 * is a file no one else can write (a validator service's own upload):
 * dst is a hard link to it, checked the same way, which saves writing
 * gigabytes again; a copy where the two are not on one filesystem. Never
 * link a file its sender can still change: the copy is what makes the
 * judged bytes the validator's own. */
int bundle_held_take(const json_t *manifest, const char *name, const char *src, const char *dst, int may_link,
		     struct kerr *err);
/* The step of an intermediate checkpoint's name in a bundle,
 * "checkpoints/step_NNNNNN.ckpt" (at least six digits, no leading zero
 * beyond them); -1 for any other name. */
int64_t bundle_ckpt_step(const char *name);

/* The regular files under dir, relative names sorted bytewise. Refuses
 * symlinks and other non-regular entries (bundle.file_type), bad names
 * (bundle.file_name), more than BUNDLE_FILES_MAX files (bundle.too_many_files). */
struct bundle_files {
	int n;
	char name[BUNDLE_FILES_MAX][BUNDLE_NAME_MAX + 1];
	uint64_t bytes[BUNDLE_FILES_MAX];
};
int bundle_list(const char *dir, struct bundle_files *f, struct kerr *err);

/* The validator's own copy of a bundle: every check reads only bytes the
 * validator owns (docs/bundle.md, "Taking a bundle"). A directory is copied
 * file by file, each hashed in the same pass that copies it; a .tar is
 * unpacked (bundle_unpack's checks), each entry hashed as it is extracted.
 * Both land in a staging directory renamed to dst_dir (which must not
 * exist). Nothing the sender does to its files after the take changes what
 * is verified or used. Refuses symlinks and other non-regular files
 * (bundle.file_type; bundle.tar_* in a .tar), more than BUNDLE_BYTES_MAX in
 * all (bundle.too_large), and what bundle_list refuses. */
struct bundle_taken {
	char dir[FS_PATH_MAX];                         /* the copy: dst_dir */
	struct bundle_files f;                         /* its files, names sorted */
	char sha256[BUNDLE_FILES_MAX][HASH_HEX_BYTES]; /* of the bytes copied, in f's order; "" while unhashed */
	unsigned char unhashed[BUNDLE_FILES_MAX];      /* 1: copied, not hashed yet (bundle_take_deferred) */
	char listed[BUNDLE_FILES_MAX][HASH_HEX_BYTES]; /* an unhashed file's digest in the verified manifest */
	/* Held checkpoints taken into dir since (bundle_taken_held), outside
	 * the listing f, which stays what the sender's bundle held. */
	int n_held;
	char held_name[BUNDLE_FILES_MAX][BUNDLE_NAME_MAX + 1];
	char held_sha256[BUNDLE_FILES_MAX][HASH_HEX_BYTES]; /* hashed as taken, held to the manifest */
};
int bundle_take(const char *src, const char *dst_dir, struct bundle_taken *t, struct kerr *err);
/* bundle_take that copies (or extracts) a bundle's intermediate checkpoints
 * (checkpoints/step_*.ckpt) without hashing them: a judgment that cannot
 * change the king reads two of them at most, and hashing the rest was a
 * third of its CPU time at the cpu scale. The copy is still the
 * validator's own, so a file hashed later from it is the file taken.
 * bundle_verify_taken then checks an unhashed file's size and notes its
 * listed digest; bundle_taken_hash holds the file to that digest when it
 * is first read. */
int bundle_take_deferred(const char *src, const char *dst_dir, struct bundle_taken *t, struct kerr *err);
/* Whether the take copied `name` (hashed or not) or took it as a held
 * checkpoint: what the bundle holds, whatever else stands at its path. */
int bundle_taken_has(const struct bundle_taken *t, const char *name);
/* The verified manifest's digest of `name` while the take has not hashed
 * it (bundle_take_deferred), else NULL: what a header-only read of the
 * file is held to until its bytes are read. */
const char *bundle_taken_listed(const struct bundle_taken *t, const char *name);
/* Hashes the taken copy of `name` if it is not hashed yet and holds it to
 * its listed digest (bundle.file_digest); after bundle_verify_taken only. */
int bundle_taken_hash(struct bundle_taken *t, const char *name, struct kerr *err);
/* bundle_taken_hash of every file still unhashed: before a verdict that
 * can change the king, and before a bundle is kept whole. */
int bundle_taken_hash_all(struct bundle_taken *t, struct kerr *err);
/* Files of the take not hashed (yet). */
int bundle_taken_unhashed(const struct bundle_taken *t);
/* bundle_verify of a taken copy: every file digest compared with the
 * manifest is the take's, and the manifest verified must be the bytes the
 * take hashed (bundle.copy_changed otherwise: something wrote into the
 * validator's copy). */
int bundle_verify_taken(struct bundle_taken *t, struct bundle_report *r, struct kerr *err);
/* The take's SHA-256 (hex) of the file named `name` (relative, as listed:
 * "checkpoints/final.ckpt"; a held checkpoint once bundle_taken_held took
 * it), or NULL when the take has no such file or has not hashed it
 * (bundle_take_deferred). The
 * digest of the validator's own bytes: a check that needs a file's digest
 * asks here instead of hashing it again. */
const char *bundle_taken_sha256(const struct bundle_taken *t, const char *name);

/* bundle_held_take of held checkpoint `name` from src into the take's
 * dir, whose digest (the one hash the take makes, held to the verified
 * manifest's entry) then stands for the file as bundle_taken_sha256 does
 * for the others: a replay that starts from it reads it without hashing it
 * again. bundle.held_bad as well for a name taken twice. */
int bundle_taken_held(struct bundle_taken *t, const json_t *manifest, const char *name, const char *src,
		      int may_link, struct kerr *err);

/* A bundle taken under $TMPDIR (removed by bundle_dir_close): for the CLI
 * and bundle_verify. t.dir is the copy. */
struct bundle_dir {
	char tmp[FS_PATH_MAX];
	struct bundle_taken t;
};
int bundle_dir_open(const char *path, struct bundle_dir *d, struct kerr *err);
/* The same under tmp_base (NULL: $TMPDIR, else /tmp). */
int bundle_dir_open_at(const char *path, const char *tmp_base, struct bundle_dir *d, struct kerr *err);
void bundle_dir_close(struct bundle_dir *d);

/* The canonical serialization of the manifest (compact, sorted keys, reals
 * with 17 significant digits): the exact bytes signed. Caller frees. */
char *bundle_manifest_dump(const json_t *manifest);

#endif
