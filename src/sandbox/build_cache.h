/* build_cache.h: keeping the recipe build cache (recipe_build.h) bounded.
 * Owns the rule for what leaves it: entries are ranked by last use (their
 * modification time, which recipe_build sets on every reuse), the newest
 * BUILD_CACHE_RUNNERS_KEEP runners and BUILD_CACHE_OBJECTS_KEEP objects
 * stay, and nothing used within BUILD_CACHE_IDLE_S goes whatever the
 * count: a judgment or a training run may still start children from a
 * runner it built hours ago. A miner builds one runner per experiment and
 * a validator one per new patch, so without this the cache only grows. */
#ifndef KARPA_BUILD_CACHE_H
#define KARPA_BUILD_CACHE_H

#include "util/kerr.h"

#define BUILD_CACHE_RUNNERS_KEEP 64  /* recipes/<digest>/: a runner and its build log, about 1 MB */
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

/* Removes the runner folders beyond keep_runners and the objects beyond
 * keep_objects, least recently used first, never one used within idle_s
 * seconds. Anything else in the cache (temporaries, other folders) is left
 * alone. An entry that cannot be removed is skipped (the next prune tries
 * again); -1 (fs.*) only when a folder of the cache cannot be listed. */
int build_cache_prune(const char *cache, int keep_runners, int keep_objects, long idle_s,
		      struct build_cache_pruned *out, struct kerr *err);

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
