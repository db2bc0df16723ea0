/* blas_dl.c: dlopen of OpenBLAS, once per process. */
#include "harness/blas_dl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* The pkg-config libdir the build compiled against: where the library is
 * when it is not on the loader's path (a build of OpenBLAS in its own
 * prefix). Debian's alternatives put libopenblas.so.0 on the path. */
#ifndef KARPA_BLAS_LIBDIR
#define KARPA_BLAS_LIBDIR ""
#endif
#define BLAS_SONAME "libopenblas.so.0"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct blas_dl loaded;
static struct kerr load_err;

int blas_dl_open(const char *const *names, struct blas_dl *b, struct kerr *err)
{
	char why[512] = "";

	/* The first failure is the one to report: the soname's, whose fix is
	 * the package; later names are fallbacks. */
	for (size_t i = 0; names[i]; i++) {
		void *h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
		const char *e = h ? NULL : dlerror();

		if (!h) {
			if (!why[0])
				snprintf(why, sizeof why, "%s", e ? e : names[i]);
			continue;
		}
		b->sgemm = (__typeof__(b->sgemm))dlsym(h, "cblas_sgemm");
		b->set_num_threads = (__typeof__(b->set_num_threads))dlsym(h, "openblas_set_num_threads");
		b->get_config = (__typeof__(b->get_config))dlsym(h, "openblas_get_config");
		if (b->sgemm && b->set_num_threads && b->get_config)
			return 0;
		if (!why[0])
			snprintf(why, sizeof why, "%s is not OpenBLAS (no cblas_sgemm, openblas_set_num_threads or "
				 "openblas_get_config)", names[i]);
		dlclose(h);
	}
	memset(b, 0, sizeof *b);
	return kerr_set(err, "blas.missing",
			"cannot load OpenBLAS (%s): install it (Debian: apt-get install libopenblas0-pthread)", why);
}

static void load_once(void)
{
	char in_libdir[512];
	const char *names[3] = { BLAS_SONAME, NULL, NULL };

	if (KARPA_BLAS_LIBDIR[0]) {
		snprintf(in_libdir, sizeof in_libdir, "%s/%s", KARPA_BLAS_LIBDIR, BLAS_SONAME);
		names[1] = in_libdir;
	}
	blas_dl_open(names, &loaded, &load_err);
}

int blas_dl_get(const struct blas_dl **b, struct kerr *err)
{
	pthread_once(&once, load_once);
	if (load_err.code[0]) {
		*err = load_err;
		return -1;
	}
	*b = &loaded;
	return 0;
}
