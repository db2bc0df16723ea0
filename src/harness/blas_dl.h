/* blas_dl.h: OpenBLAS, resolved at run time.
 * Owns loading libopenblas with dlopen instead of linking it, so that
 * processes that never use BLAS do not start its threads: Debian's pthread
 * build starts its worker pool in the library's constructor, and the pool
 * spin-waits for about 0.1 CPU-second after start-up, which every judge run
 * would pay in the CPU time the protocol bounds. The calibration and the
 * proof's environment record are the only users in libkarpa. The recipe
 * runner keeps OpenBLAS on its link line for a recipe that calls it (the
 * king recipe does not, so the linker drops it). cblas.h gives the types
 * only; nothing here is a link-time dependency. */
#ifndef KARPA_BLAS_DL_H
#define KARPA_BLAS_DL_H

#include <cblas.h>

#include "util/kerr.h"

/* What libkarpa calls, typed from cblas.h. */
struct blas_dl {
	__typeof__(&cblas_sgemm) sgemm;
	__typeof__(&openblas_set_num_threads) set_num_threads;
	__typeof__(&openblas_get_config) get_config;
};

/* Loads the first of names (NULL-terminated) that loads and has every
 * symbol above; blas.missing, naming the package to install, when none
 * does. The library stays loaded. */
int blas_dl_open(const char *const *names, struct blas_dl *b, struct kerr *err);
/* The process's OpenBLAS: the first call loads it (the soname Debian's
 * libopenblas0-* packages install, then the build's own library folder);
 * every call after gives the same table, or the same error. Thread-safe. */
int blas_dl_get(const struct blas_dl **b, struct kerr *err);

#endif
