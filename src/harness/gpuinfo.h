/* gpuinfo.h: which NVIDIA GPU this machine has, read from the driver's
 * /proc files (no CUDA: karpa itself never links it). A GPU proof records
 * it, and a validator compares it with its own before a bitwise replay,
 * which needs the same GPU model and driver libraries (docs/gpu.md). */
#ifndef KARPA_GPUINFO_H
#define KARPA_GPUINFO_H

#include "util/kerr.h"

#define GPUINFO_TEXT_MAX 128
/* The model of a GPU whose information file has no Model line. */
#define GPUINFO_UNKNOWN "unknown"

struct gpuinfo {
	int count;                      /* GPUs the driver lists; 0: none, or no driver */
	char model[GPUINFO_TEXT_MAX];   /* the first GPU's "Model:", e.g. "NVIDIA H100 80GB HBM3" */
	char driver[GPUINFO_TEXT_MAX];  /* the kernel module's version, e.g. "580.159.04" */
};

/* Reads proc_root/driver/nvidia (proc_root NULL: "/proc"): the version
 * file and gpus/<bus id>/information. A machine without the driver gives
 * count 0 and returns 0; -1 (gpu.info) only for a file that exists and
 * cannot be read. GPUs are taken in bus-id order. */
int gpuinfo_read(const char *proc_root, struct gpuinfo *g, struct kerr *err);

#endif
