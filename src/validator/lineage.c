/* lineage.c: from a king's tag to the checkpoint that crowned it. The path
 * is kings row -> crowning submission (its corpus entry) -> the digest of
 * its manifest.json -> the stored manifest -> its files entry for the
 * final checkpoint -> the stored checkpoint. judge.c stores every file of
 * an accepted bundle (manifest.json among them) under its SHA-256, and the
 * corpus entry's manifest_sha256 is the digest of those manifest bytes, so
 * each hop is a lookup by content. Nothing here trusts a name it read: a
 * digest from the manifest becomes a path only through vstate_store_path. */
#include "validator/lineage.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "proof/bundle.h"
#include "proof/reciperepo.h"
#include "validator/expcorpus.h"

/* The crowning submission of king tag ("" for a king without one). */
static int crowning_submission(struct vstate *s, const char *tag, char id[VSTATE_ID_BYTES], struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	unsigned v[3];
	int rc = -1, r;

	id[0] = '\0';
	if (!tag || strlen(tag) >= RECIPEREPO_TAG_MAX || reciperepo_parse_tag(tag, v) < 0)
		return kerr_set(err, "lineage.not_found", "'%.80s' is not a recipe tag (recipe-vX.Y.Z)", tag ? tag : "");
	if (sqlite3_prepare_v2(s->db, "SELECT submission_id FROM kings WHERE tag = ?1", -1, &st, NULL) != SQLITE_OK)
		return vstate_sql_error(s, "read kings", err);
	sqlite3_bind_text(st, 1, tag, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_DONE) {
		kerr_set(err, "lineage.not_found", "no king %s in this validator's lineage", tag);
		goto out;
	}
	if (r != SQLITE_ROW) {
		vstate_sql_error(s, "read kings", err);
		goto out;
	}
	if (sqlite3_column_type(st, 0) == SQLITE_TEXT) {
		const char *t = (const char *)sqlite3_column_text(st, 0);
		if (strlen(t) >= VSTATE_ID_BYTES) {
			kerr_set(err, "lineage.bad_manifest", "king %s: submission id is %zu bytes", tag, strlen(t));
			goto out;
		}
		snprintf(id, VSTATE_ID_BYTES, "%s", t);
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

/* The stored manifest with digest hex, read whole and checked against it. */
static int read_manifest(struct vstate *s, const char *tag, const char *hex, json_t **out, struct kerr *err)
{
	char path[FS_PATH_MAX], have[HASH_HEX_BYTES], *text = NULL;
	size_t len = 0;

	*out = NULL;
	if (vstate_store_path(s, hex, path, err) < 0)
		return -1;
	if (!fs_exists(path))
		return kerr_set(err, "lineage.model_missing", "king %s: its bundle's manifest %.16s... is not in the store",
				tag, hex);
	if (fs_read_file(path, BUNDLE_MANIFEST_BYTES_MAX, O_NOFOLLOW, &text, &len, err) < 0)
		return -1;
	hash_buf_hex(text, len, have);
	if (strcmp(have, hex)) {
		free(text);
		return kerr_set(err, "vstate.store_corrupt", "%s: content digest is %s", path, have);
	}
	*out = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	free(text);
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return kerr_set(err, "lineage.bad_manifest", "king %s: stored manifest %.16s... is not a JSON object", tag,
				hex);
	}
	return 0;
}

int lineage_model_path(struct vstate *s, const char *tag, char path[FS_PATH_MAX], char digest_hex[HASH_HEX_BYTES],
		       struct kerr *err)
{
	struct expcorpus_entry e;
	char id[VSTATE_ID_BYTES];
	json_t *m = NULL, *f, *sha, *bytes;
	struct stat sb;
	int rc = -1;

	path[0] = digest_hex[0] = '\0';
	expcorpus_entry_blank(&e);
	if (crowning_submission(s, tag, id, err) < 0)
		goto out;
	if (!id[0]) {
		kerr_set(err, "lineage.no_model", "king %s was not crowned by a proof: it has no model", tag);
		goto out;
	}
	if (expcorpus_get(s, id, &e, err) < 0 || read_manifest(s, tag, e.manifest_sha256, &m, err) < 0)
		goto out;
	f = json_object_get(json_object_get(m, "files"), BUNDLE_FINAL_CKPT);
	sha = json_object_get(f, "sha256");
	bytes = json_object_get(f, "bytes");
	if (!json_is_string(sha) || !json_is_integer(bytes) || json_integer_value(bytes) < 0 ||
	    !hash_is_hex(json_string_value(sha), HASH_HEX_BYTES - 1)) {
		kerr_set(err, "lineage.bad_manifest", "king %s: manifest %.16s... has no well-formed files entry for %s",
			 tag, e.manifest_sha256, BUNDLE_FINAL_CKPT);
		goto out;
	}
	if (vstate_store_path(s, json_string_value(sha), path, err) < 0)
		goto out;
	if (stat(path, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		kerr_set(err, "lineage.model_missing", "king %s: its checkpoint %.16s... is not in the store", tag,
			 json_string_value(sha));
		goto out;
	}
	if ((uint64_t)sb.st_size != (uint64_t)json_integer_value(bytes)) {
		kerr_set(err, "vstate.store_corrupt", "%s: %lld bytes, the manifest says %lld", path,
			 (long long)sb.st_size, (long long)json_integer_value(bytes));
		goto out;
	}
	snprintf(digest_hex, HASH_HEX_BYTES, "%s", json_string_value(sha));
	rc = 0;
out:
	if (rc < 0)
		path[0] = digest_hex[0] = '\0';
	json_decref(m);
	expcorpus_entry_free(&e);
	return rc;
}
