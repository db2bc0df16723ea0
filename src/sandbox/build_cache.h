/* build_cache.h: keeping the recipe build cache (recipe_build.h) bounded.
 * Owns the rule for what leaves it: entries are ranked by last use (their
 * modification time, which recipe_build sets on every reuse). Runners:
 * the newest stay while they number at most BUILD_CACHE_RUNNERS_KEEP and
 * weigh at most BUILD_CACHE_RUNNERS_BYTES together, and a runner in use
 * stays whatever its rank: every process that builds or finds one pins
 * its folder (a shared flock, build_cache_pin) for as long as it may
 * start it, hours for a judgment or a training run. Objects (the
 * harness's, small): the newest BUILD_CACHE_OBJECTS_KEEP stay, and none
 * used within BUILD_CACHE_IDLE_S goes whatever the count, since a build
 * links the ones it found. A miner builds one runner per experiment and
 * a validator one per new patch, so without this the cache only grows;
 * and a patch's runner can be as large as the build's budget (a GiB), so
 * a count alone let hostile patches keep tens of GiB on a validator's
 * disk. */
#ifndef KARPA_BUILD_CACHE_H
#define KARPA_BUILD_CACHE_H

#include "util/kerr.h"

#define BUILD_CACHE_RUNNERS_KEEP 64  /* recipes/<digest>/: a runner and its build log, about 1 MB */
#define BUILD_CACHE_RUNNERS_BYTES (4ull << 30)
#define BUILD_CACHE_OBJECTS_KEEP 1024 /* objs/<key>.o: tens of KB each */
#define BUILD_CACHE_IDLE_S (24L * 3600L)
/* A temporary older than this is a killed build's, whoever holds its pid
 * now: a build's whole budget is 20 minutes (recipe_build.c). */
#define BUILD_CACHE_STALE_S (2L * 3600L)

struct build_cache_pruned {
	int runners, objects; /* entries removed */
};

/* Marks a cache entry (a runner's folder or an object) used now. Best
 * effort: an entry whose time cannot be set is only pruned sooner. */
void build_cache_touch(const char *path);

/* Pins the runner folder dir (recipes/<digest>, made when missing): a
 * descriptor holding a shared flock on it, at least 3 and close-on-exec,
 * which build_cache_unpin (or the process's end) lets go (on a filesystem
 * without locks, the descriptor alone: the prune's idle time guards it). A prune that
 * removed dir while this waited for the lock is seen (dir no longer names
 * the folder locked), and the folder is made and pinned anew. -1 (fs.*)
 * on failure. */
int build_cache_pin(const char *dir, struct kerr *err);
/* Lets a pin go; a descriptor below 3 is no pin, and nothing is done. */
void build_cache_unpin(int fd);

/* Removes the runner folders beyond keep_runners or beyond runner_bytes
 * in all (the newest always stays) that nobody pins (on a filesystem
 * without locks, that were not used within idle_s seconds), and the
 * objects beyond keep_objects not used within idle_s seconds; least
 * recently used first. Anything else in the cache (temporaries, other folders) is left
 * alone. An entry that cannot be removed is skipped (the next prune tries
 * again); -1 (fs.*) only when a folder of the cache cannot be listed. */
int build_cache_prune(const char *cache, int keep_runners, unsigned long long runner_bytes, int keep_objects,
		      long idle_s, struct build_cache_pruned *out, struct kerr *err);

/* A build's temporaries outlive it only when it is killed (a judgment
 * past its time): its folder of objects (recipes/<digest>/objs.<pid>, up
 * to the build's 1 GiB budget), its runner before the rename
 * (recipes/<digest>/<name>.tmp.<pid>) and a harness object before its
 * rename (objs/<digest>.o.tmp.<pid>). One is stale when its process is
 * gone, or when it is older than stale_s whoever holds the pid now (a
 * build's whole budget is 20 minutes). Removes the stale ones and returns
 * how many; a live build's are left alone. */
int build_cache_sweep(const char *cache, long stale_s);

#endif
