/* sandbox.c: the outer layer of the recipe sandbox (docs/sandbox.md). Runs
 * in the forked child before it execs the runner, so everything here stays
 * in force for the runner's loader, its library constructors and any
 * recipe constructor, which run before the runner can apply the inner
 * allowlist. A layer the kernel does not offer is recorded, never faked; a
 * layer that is required and missing stops the child before exec. */
#include "sandbox/sandbox.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/sockios.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/landlock.h"
#include "sandbox/recipe_pipe.h"
#include "sandbox/recipe_wire.h"
#include "sandbox/sandbox_inner.h"
#include "util/fsutil.h"

/* The hard CPU limit trails the soft one so a runner gets SIGXCPU (a clear
 * cause) before the kernel's SIGKILL. */
#define SANDBOX_CPU_GRACE_S 1
/* How long sandbox_explain waits for a child that just broke its pipe to
 * become reapable: normally microseconds. */
#define SANDBOX_REAP_WAIT_MS 200
/* Bounds on what is read from the runner's ELF file. */
#define SANDBOX_PHDRS_MAX 64
#define SANDBOX_INTERP_MAX 256
#define SANDBOX_ENV_VARS 5
/* A GPU runner's extra variables: the GPU flag, CUDA_CACHE_DISABLE,
 * CUDA_DEVICE_ORDER, CUDA_VISIBLE_DEVICES when given, and LD_LIBRARY_PATH. */
#define SANDBOX_GPU_ENV_VARS 5
#define SANDBOX_CUDA_VISIBLE "CUDA_VISIBLE_DEVICES="
/* The child's own /proc files a GPU runner's rules name, held open from
 * the rule to the runner's end (sandbox.c, pin_proc). */
#define SANDBOX_PIN_FDS 4
#define SANDBOX_LD_PATH_MAX 4096
/* Library files taken from one LD_LIBRARY_PATH folder at most. */
#define SANDBOX_GPU_LIBS_MAX 1024
/* Landlock confines truncation from ABI 3 and device ioctls from ABI 5: a
 * GPU runner, whose opens for writing seccomp lets through, needs both. */
#define SANDBOX_GPU_LANDLOCK_ABI 5

/* Written by the child, read by the validator: a shared anonymous page. */
struct sandbox_shared {
	volatile int done;
	uint32_t applied;
	int landlock_abi;
	char notes[SANDBOX_NOTE_MAX];
};

struct sandbox {
	struct sandbox_config cfg;
	char runner[FS_PATH_MAX];
	char interp[SANDBOX_INTERP_MAX];
	pid_t parent;
	int ruleset_fd; /* Landlock, built once in the validator; -1 when unavailable */
	int landlock_abi;
	uint32_t landlock_bits;
	char env_store[SANDBOX_ENV_VARS + SANDBOX_GPU_ENV_VARS - 1][64];
	char ld_path[SANDBOX_LD_PATH_MAX]; /* "LD_LIBRARY_PATH=..." for a GPU runner */
	char *envp[SANDBOX_ENV_VARS + SANDBOX_GPU_ENV_VARS + 1];
	struct sandbox_shared *sh;
	/* In the child only: O_PATH descriptors of the /proc entries its
	 * rules name, kept open across exec (see pin_proc). */
	int pin_fd[SANDBOX_PIN_FDS];
	int npin;
};

void sandbox_config_default(struct sandbox_config *c, int threads)
{
	memset(c, 0, sizeof *c);
	c->cpu_seconds = SANDBOX_CPU_SECONDS_DEFAULT;
	c->memory_bytes = SANDBOX_MEMORY_BYTES_DEFAULT;
	c->nofile = SANDBOX_NOFILE_DEFAULT;
	c->threads = threads > 0 ? threads : 1;
	c->timeout_ms = SANDBOX_TIMEOUT_MS_DEFAULT;
}

void sandbox_config_validator(struct sandbox_config *c, int threads)
{
	sandbox_config_default(c, threads);
	c->require_landlock = 1;
	c->require_namespaces = 1;
}

/* ---- validator side: built once, before any fork ---------------------- */

/* The runner's PT_INTERP (the dynamic loader the kernel opens at exec),
 * so Landlock can allow executing exactly that file. "" for a static runner. */
static int find_interp(const char *path, char *out, size_t cap, struct kerr *err)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph[SANDBOX_PHDRS_MAX];
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = -1;

	out[0] = '\0';
	if (fd < 0)
		return kerr_errno(err, "sandbox.runner", path);
	if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) ||
	    eh.e_phnum > SANDBOX_PHDRS_MAX) {
		kerr_set(err, "sandbox.runner", "%s: not a 64-bit ELF executable", path);
		goto out;
	}
	if (pread(fd, ph, eh.e_phnum * sizeof ph[0], (off_t)eh.e_phoff) != (ssize_t)(eh.e_phnum * sizeof ph[0])) {
		kerr_set(err, "sandbox.runner", "%s: program headers cut short", path);
		goto out;
	}
	for (int i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type != PT_INTERP)
			continue;
		if (ph[i].p_filesz < 2 || ph[i].p_filesz >= cap ||
		    pread(fd, out, ph[i].p_filesz, (off_t)ph[i].p_offset) != (ssize_t)ph[i].p_filesz ||
		    out[ph[i].p_filesz - 1] != '\0') {
			out[0] = '\0';
			kerr_set(err, "sandbox.runner", "%s: bad interpreter path", path);
			goto out;
		}
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

/* The NVIDIA device nodes a CUDA context uses: the control node, the
 * GPUs and unified memory. Not the MIG capabilities (nvidia-caps), the
 * UVM tools, modeset or NVSwitch nodes. */
static int gpu_device_name(const char *n)
{
	if (!strcmp(n, "nvidiactl") || !strcmp(n, "nvidia-uvm"))
		return 1;
	if (strncmp(n, "nvidia", 6) || !n[6])
		return 0;
	for (const char *p = n + 6; *p; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return 1;
}

/* Why a GPU rule could not be added, for the child's note or sandbox_new. */
struct ll_why {
	char path[FS_PATH_MAX];
	int err;
};

/* A rule on one of the child's own /proc entries, whose descriptor stays
 * open (not close-on-exec) for the runner's life: procfs makes a new inode
 * each time an unused entry is looked up again, and a Landlock rule holds
 * the inode it was made on, so an entry dropped from the cache under
 * memory pressure (GBs of checkpoints through the page cache) would come
 * back without its rule, and the driver's next thread would fail. An open
 * descriptor keeps the entry, and its inode, in place. */
static int pin_proc(struct sandbox *sb, int ruleset, const char *path, uint64_t access, struct ll_why *why)
{
	struct landlock_path_beneath_attr pb = { .allowed_access = access };
	struct stat st;

	if (sb->npin == SANDBOX_PIN_FDS) {
		snprintf(why->path, sizeof why->path, "%s", path);
		why->err = EMFILE;
		return -1;
	}
	pb.parent_fd = open(path, O_PATH);
	if (pb.parent_fd < 0)
		goto fail;
	if (fstat(pb.parent_fd, &st) == 0 && !S_ISDIR(st.st_mode))
		pb.allowed_access &= ~(uint64_t)LL_DIR_ONLY;
	if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0)
		goto fail;
	sb->pin_fd[sb->npin++] = pb.parent_fd;
	return 0;
fail:
	snprintf(why->path, sizeof why->path, "%s", path);
	why->err = errno;
	if (pb.parent_fd >= 0)
		close(pb.parent_fd);
	return -1;
}

static int ll_allow_why(int fd, const char *path, uint64_t access, struct ll_why *why)
{
	if (ll_allow(fd, path, access) == 0)
		return 0;
	snprintf(why->path, sizeof why->path, "%s", path);
	why->err = errno;
	return -1;
}

/* The loader's libraries in one LD_LIBRARY_PATH folder: a rule per file
 * named lib*.so*, never the folder, so a folder such as / or a home grants
 * nothing but the libraries in it. */
static int ll_allow_libs(int fd, const char *dir, struct ll_why *why)
{
	char path[FS_PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;
	int rc = 0, n = 0;

	if (dir[0] != '/' || !(d = opendir(dir)))
		return 0; /* relative, absent or unreadable: the loader finds nothing there either */
	while (!rc && (de = readdir(d)) && n < SANDBOX_GPU_LIBS_MAX) {
		if (strncmp(de->d_name, "lib", 3) || !strstr(de->d_name, ".so"))
			continue;
		if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= sizeof path ||
		    stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		rc = ll_allow_why(fd, path, LANDLOCK_ACCESS_FS_READ_FILE, why);
		n++;
	}
	closedir(d);
	return rc;
}

/* A GPU runner's extra paths: what the CUDA driver read, wrote and ioctl'd
 * in a traced run (docs/gpu.md), and the libraries of LD_LIBRARY_PATH,
 * where the toolkit's and driver's may be. The child's own /proc entry
 * (own_proc) can only be named in the child; sandbox_new builds the rest
 * once to refuse a setting that cannot work, with the path named. Paths
 * this system lacks are skipped by ll_allow. */
static int landlock_gpu(struct sandbox *sb, int fd, int abi, int own_proc, struct ll_why *why)
{
	static const char *const read_dirs[] = { "/proc/driver/nvidia", "/sys/devices", "/sys/bus/pci/devices",
						 "/etc/nvidia", "/usr/share/nvidia", "/usr/local/cuda",
						 "/usr/local/nvidia" };
	static const char *const read_files[] = { "/proc/cpuinfo", "/proc/devices", "/proc/sys/vm/mmap_min_addr" };
	static const char *const own_files[] = { "/proc/self/maps", "/proc/self/status" };
	uint64_t dev = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE | (abi >= 5 ? LL_FS_IOCTL_DEV : 0);
	char path[FS_PATH_MAX], dirs[SANDBOX_LD_PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;
	int rc = 0;

	for (size_t i = 0; !rc && i < sizeof read_dirs / sizeof read_dirs[0]; i++)
		rc = ll_allow_why(fd, read_dirs[i], LL_READ, why);
	for (size_t i = 0; !rc && i < sizeof read_files / sizeof read_files[0]; i++)
		rc = ll_allow_why(fd, read_files[i], LANDLOCK_ACCESS_FS_READ_FILE, why);
	for (size_t i = 0; !rc && own_proc && i < sizeof own_files / sizeof own_files[0]; i++)
		rc = pin_proc(sb, fd, own_files[i], LANDLOCK_ACCESS_FS_READ_FILE, why);
	/* The driver names each thread it starts by writing (O_TRUNC) its
	 * own /proc/self/task/<tid>/comm, and a refusal fails its first call
	 * with "OS call failed" (docs/sandbox.md, "A GPU runner"). The threads
	 * do not exist yet, so the grant is the child's task/ folder: writes
	 * to its own threads' files, never another process's, and no reads
	 * there (mountinfo, cgroup and net/ would describe the host). */
	if (!rc && own_proc)
		rc = pin_proc(sb, fd, "/proc/self/task",
			      LANDLOCK_ACCESS_FS_WRITE_FILE | (abi >= 3 ? LL_FS_TRUNCATE : 0), why);
	if (!rc && (d = opendir("/dev"))) {
		while (!rc && (de = readdir(d)))
			if (gpu_device_name(de->d_name) &&
			    (size_t)snprintf(path, sizeof path, "/dev/%s", de->d_name) < sizeof path &&
			    lstat(path, &st) == 0 && S_ISCHR(st.st_mode))
				rc = ll_allow_why(fd, path, dev, why);
		closedir(d);
	}
	/* sb->ld_path is "LD_LIBRARY_PATH=a:b:..." */
	snprintf(dirs, sizeof dirs, "%s", strchr(sb->ld_path, '=') ? strchr(sb->ld_path, '=') + 1 : "");
	for (char *save = NULL, *dir = strtok_r(dirs, ":", &save); !rc && dir; dir = strtok_r(NULL, ":", &save))
		rc = ll_allow_libs(fd, dir, why);
	return rc;
}

/* Read-only system libraries and CPU topology, and execute for the runner
 * and its loader; nothing else on the filesystem, for any access. A GPU
 * runner's ruleset is built again in its child, with landlock_gpu's paths
 * (in_child). */
static void build_landlock(struct sandbox *sb, int in_child, struct ll_why *why)
{
	static const char *const lib_dirs[] = { "/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib",
						"/sys/devices/system/cpu" };
	int abi = ll_abi(), fd = -1, ok = 1;
	unsigned handles = 0;

	sb->ruleset_fd = -1;
	sb->landlock_abi = abi;
	if (abi <= 0)
		return;
	fd = ll_ruleset_new(abi, &handles);
	if (handles & LL_HANDLES_NET)
		sb->landlock_bits |= SANDBOX_LANDLOCK_NET;
	if (handles & LL_HANDLES_SCOPE)
		sb->landlock_bits |= SANDBOX_LANDLOCK_SCOPE;
	if (fd < 0)
		goto fail;
	for (size_t i = 0; i < sizeof lib_dirs / sizeof lib_dirs[0]; i++)
		ok = ok && ll_allow(fd, lib_dirs[i], LL_READ) == 0;
	ok = ok && ll_allow(fd, "/etc/ld.so.cache", LANDLOCK_ACCESS_FS_READ_FILE) == 0;
	ok = ok && ll_allow(fd, sb->runner, LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_EXECUTE) == 0;
	if (sb->interp[0])
		ok = ok && ll_allow(fd, sb->interp, LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_EXECUTE) == 0;
	if (sb->cfg.gpu)
		ok = ok && landlock_gpu(sb, fd, abi, in_child, why) == 0;
	if (!ok)
		goto fail;
	/* Never 0 to 3: the child's pipes and the bulk region (recipe_wire.h)
	 * are dup'd there before prepare, and would replace the ruleset. */
	if (fd <= WIRE_BULK_FD) {
		int hi = fcntl(fd, F_DUPFD_CLOEXEC, WIRE_BULK_FD + 1);
		close(fd);
		fd = hi;
	}
	sb->ruleset_fd = fd;
	sb->landlock_bits |= SANDBOX_LANDLOCK;
	return;
fail:
	if (fd >= 0)
		close(fd);
	sb->landlock_bits = 0;
}

int sandbox_new(struct sandbox **out, const struct sandbox_config *cfg, const char *runner_path,
		struct kerr *err)
{
	struct ll_why why = { "", 0 };
	struct sandbox *sb;

	*out = NULL;
	if (cfg->threads < 1 || cfg->threads > 4096 || cfg->nofile < 4 || cfg->timeout_ms < 0 || cfg->deadline_ms < 0)
		return kerr_set(err, "sandbox.config", "sandbox: threads %d, nofile %u or timeout %lld out of range",
				cfg->threads, cfg->nofile, (long long)cfg->timeout_ms);
	if (!runner_path || runner_path[0] != '/' || access(runner_path, X_OK) < 0)
		return kerr_set(err, "sandbox.runner", "%s: the runner must be an absolute path to an executable",
				runner_path ? runner_path : "(null)");
	if (!(sb = calloc(1, sizeof *sb)))
		return kerr_set(err, "sandbox.nomem", "out of memory");
	sb->sh = mmap(NULL, sizeof *sb->sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sb->sh == MAP_FAILED) {
		free(sb);
		return kerr_errno(err, "sandbox.nomem", "mmap");
	}
	sb->cfg = *cfg;
	sb->parent = getpid();
	sb->ruleset_fd = -1;
	if (fs_join(sb->runner, sizeof sb->runner, err, "%s", runner_path) < 0 ||
	    find_interp(sb->runner, sb->interp, sizeof sb->interp, err) < 0) {
		sandbox_free(sb);
		return -1;
	}
	/* The child's whole environment: the validator's must not leak in. */
	snprintf(sb->env_store[0], sizeof sb->env_store[0], "%s=1", SANDBOX_INNER_ENV);
	snprintf(sb->env_store[1], sizeof sb->env_store[1], "OMP_NUM_THREADS=%d", cfg->threads);
	snprintf(sb->env_store[2], sizeof sb->env_store[2], "OPENBLAS_NUM_THREADS=%d", cfg->threads);
	/* Spinning OpenMP workers between calls compete with the validator's
	 * own threads for the same cores (docs/recipe-api.md). */
	snprintf(sb->env_store[3], sizeof sb->env_store[3], "OMP_WAIT_POLICY=PASSIVE");
	/* A num_threads clause cannot ask for more: the recipe's threads are
	 * the validator's to give, and RLIMIT_NPROC binds no uid 0. */
	snprintf(sb->env_store[4], sizeof sb->env_store[4], "OMP_THREAD_LIMIT=%d", cfg->threads);
	for (int i = 0; i < SANDBOX_ENV_VARS; i++)
		sb->envp[i] = sb->env_store[i];
	sb->envp[SANDBOX_ENV_VARS] = NULL;
	if (cfg->gpu) {
		/* the driver and toolkit libraries may live outside the loader's
		 * cache: the one variable taken from the validator's environment */
		const char *ld = getenv("LD_LIBRARY_PATH");
		snprintf(sb->env_store[SANDBOX_ENV_VARS], sizeof sb->env_store[0], "%s=1", SANDBOX_INNER_GPU_ENV);
		if ((size_t)snprintf(sb->ld_path, sizeof sb->ld_path, "LD_LIBRARY_PATH=%s", ld ? ld : "") >=
		    sizeof sb->ld_path) {
			kerr_set(err, "sandbox.config", "sandbox: LD_LIBRARY_PATH is longer than %d bytes",
				 SANDBOX_LD_PATH_MAX - 17);
			sandbox_free(sb);
			return -1;
		}
		/* no kernel cache under a home the runner cannot write: the
		 * runner's kernels are built for the GPU ahead of time */
		snprintf(sb->env_store[SANDBOX_ENV_VARS + 1], sizeof sb->env_store[0], "CUDA_CACHE_DISABLE=1");
		/* CUDA's device 0 is then the first GPU in bus order, the one
		 * whose model gpuinfo reads and a replay is matched on */
		snprintf(sb->env_store[SANDBOX_ENV_VARS + 2], sizeof sb->env_store[0], "CUDA_DEVICE_ORDER=PCI_BUS_ID");
		int n = SANDBOX_ENV_VARS + 3;
		if (cfg->cuda_visible_devices) {
			const char *v = cfg->cuda_visible_devices;
			size_t len = strlen(v);

			/* indices, GPU- UUIDs and commas: nothing else for the
			 * driver to parse. Not a MIG instance: the profile does
			 * not grant /dev/nvidia-caps, which opening one needs. */
			if (len + sizeof SANDBOX_CUDA_VISIBLE > sizeof sb->env_store[0] ||
			    strspn(v, "0123456789abcdefABCDEFGPU-,") != len) {
				kerr_set(err, "sandbox.config",
					 "sandbox: CUDA_VISIBLE_DEVICES '%.64s' is not a short list of GPU indices or "
					 "GPU- UUIDs (MIG instances are not granted); --no-sandbox runs the recipe "
					 "unconfined", v);
				sandbox_free(sb);
				return -1;
			}
			snprintf(sb->env_store[n++], sizeof sb->env_store[0], SANDBOX_CUDA_VISIBLE "%s", v);
		}
		for (int i = SANDBOX_ENV_VARS; i < n; i++)
			sb->envp[i] = sb->env_store[i];
		sb->envp[n++] = sb->ld_path;
		sb->envp[n] = NULL;
	}
	build_landlock(sb, 0, &why);
	if (cfg->gpu && sb->landlock_abi >= SANDBOX_GPU_LANDLOCK_ABI && sb->ruleset_fd < 0 && why.path[0]) {
		kerr_set(err, "sandbox.config", "sandbox: a GPU runner's rule for %s: %s", why.path, strerror(why.err));
		sandbox_free(sb);
		return -1;
	}
	if ((cfg->require_landlock && sb->ruleset_fd < 0) ||
	    (cfg->gpu && (sb->ruleset_fd < 0 || sb->landlock_abi < SANDBOX_GPU_LANDLOCK_ABI))) {
		kerr_set(err, "sandbox.unavailable", "sandbox: Landlock %s (this kernel's ABI: %d)",
			 cfg->gpu ? "ABI 5 or later (truncation and device ioctls) confines a GPU runner, and is missing"
				  : "is required and not available",
			 sb->landlock_abi);
		sandbox_free(sb);
		return -1;
	}
	*out = sb;
	return 0;
}

void sandbox_free(struct sandbox *sb)
{
	if (!sb)
		return;
	if (sb->ruleset_fd >= 0)
		close(sb->ruleset_fd);
	if (sb->sh && sb->sh != MAP_FAILED)
		munmap(sb->sh, sizeof *sb->sh);
	free(sb);
}

/* ---- child side: between fork and exec -------------------------------- */

static void note(struct sandbox_shared *sh, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct sandbox_shared *sh, const char *fmt, ...)
{
	size_t used = strnlen(sh->notes, sizeof sh->notes - 1);
	va_list ap;

	if (used && used + 2 < sizeof sh->notes) {
		memcpy(sh->notes + used, "; ", 3);
		used += 2;
	}
	va_start(ap, fmt);
	vsnprintf(sh->notes + used, sizeof sh->notes - used, fmt, ap);
	va_end(ap);
}

/* Killed on sight, whatever the arguments: networking, other processes,
 * the kernel's administrative surface, privilege changes, and every way
 * of changing the filesystem. execve stays: the child still has to exec the
 * runner (Landlock limits what it may exec; the inner layer forbids it). */
static const int deny_always[] = {
	SCMP_SYS(socket), SCMP_SYS(socketpair), SCMP_SYS(connect), SCMP_SYS(bind), SCMP_SYS(listen),
	SCMP_SYS(accept), SCMP_SYS(accept4), SCMP_SYS(sendto), SCMP_SYS(sendmsg), SCMP_SYS(sendmmsg),
	SCMP_SYS(ptrace), SCMP_SYS(process_vm_readv), SCMP_SYS(process_vm_writev), SCMP_SYS(pidfd_open),
	SCMP_SYS(pidfd_getfd), SCMP_SYS(kcmp),
	SCMP_SYS(fork), SCMP_SYS(vfork), SCMP_SYS(execveat),
	SCMP_SYS(mount), SCMP_SYS(umount2), SCMP_SYS(pivot_root), SCMP_SYS(chroot), SCMP_SYS(move_mount),
	SCMP_SYS(open_tree), SCMP_SYS(fsopen), SCMP_SYS(fsconfig), SCMP_SYS(fsmount), SCMP_SYS(fspick),
	SCMP_SYS(mount_setattr), SCMP_SYS(unshare), SCMP_SYS(setns),
	SCMP_SYS(setuid), SCMP_SYS(setgid), SCMP_SYS(setreuid), SCMP_SYS(setregid), SCMP_SYS(setresuid),
	SCMP_SYS(setresgid), SCMP_SYS(setgroups), SCMP_SYS(setfsuid), SCMP_SYS(setfsgid), SCMP_SYS(capset),
	SCMP_SYS(init_module), SCMP_SYS(finit_module), SCMP_SYS(delete_module), SCMP_SYS(kexec_load),
	SCMP_SYS(kexec_file_load), SCMP_SYS(reboot), SCMP_SYS(swapon), SCMP_SYS(swapoff), SCMP_SYS(bpf),
	SCMP_SYS(perf_event_open), SCMP_SYS(keyctl), SCMP_SYS(add_key), SCMP_SYS(request_key),
	SCMP_SYS(sethostname), SCMP_SYS(setdomainname), SCMP_SYS(settimeofday), SCMP_SYS(clock_settime),
	SCMP_SYS(clock_adjtime), SCMP_SYS(adjtimex), SCMP_SYS(iopl), SCMP_SYS(ioperm), SCMP_SYS(acct),
	SCMP_SYS(quotactl), SCMP_SYS(syslog), SCMP_SYS(vhangup), SCMP_SYS(userfaultfd),
	SCMP_SYS(fanotify_init), SCMP_SYS(open_by_handle_at), SCMP_SYS(name_to_handle_at),
	SCMP_SYS(io_uring_setup), SCMP_SYS(io_uring_enter), SCMP_SYS(io_uring_register),
	SCMP_SYS(setrlimit), SCMP_SYS(setpriority), SCMP_SYS(sched_setscheduler), SCMP_SYS(sched_setparam),
	SCMP_SYS(sched_setattr), SCMP_SYS(ioprio_set), SCMP_SYS(migrate_pages), SCMP_SYS(move_pages),
	SCMP_SYS(creat), SCMP_SYS(openat2), SCMP_SYS(unlink), SCMP_SYS(unlinkat), SCMP_SYS(rename),
	SCMP_SYS(renameat), SCMP_SYS(renameat2), SCMP_SYS(mkdir), SCMP_SYS(mkdirat), SCMP_SYS(rmdir),
	SCMP_SYS(link), SCMP_SYS(linkat), SCMP_SYS(symlink), SCMP_SYS(symlinkat), SCMP_SYS(chmod),
	SCMP_SYS(fchmod), SCMP_SYS(fchmodat), SCMP_SYS(chown), SCMP_SYS(fchown), SCMP_SYS(lchown),
	SCMP_SYS(fchownat), SCMP_SYS(truncate), SCMP_SYS(ftruncate), SCMP_SYS(utime), SCMP_SYS(utimes),
	SCMP_SYS(utimensat), SCMP_SYS(futimesat), SCMP_SYS(setxattr), SCMP_SYS(lsetxattr),
	SCMP_SYS(fsetxattr), SCMP_SYS(removexattr), SCMP_SYS(lremovexattr), SCMP_SYS(fremovexattr),
	SCMP_SYS(fallocate), SCMP_SYS(mknod), SCMP_SYS(mknodat),
};

/* The first system call number the deny list above was not written
 * against (451, cachestat, Linux 6.5: harmless, refused all the same), and
 * a bound past any kernel's table today: the numbers between fail closed. */
#define SANDBOX_SYSCALLS_REVIEWED 451
#define SANDBOX_SYSCALLS_BOUND 600

/* Opening for anything but reading: each bit its own rule (rules OR). */
static const int open_write_bits[] = { O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND };

/* What the CUDA driver tries and can do without (a traced GPU runner,
 * docs/gpu.md): refused with an error rather than a kill in a GPU sandbox. */
static const int gpu_refused[] = {
	SCMP_SYS(mkdir),
	SCMP_SYS(symlink),
};

/* What the driver cannot do without (docs/sandbox.md, "A GPU runner"): a
 * Unix socket it binds to an abstract name and listens on (its "uvmfd"
 * server), allowed in a GPU sandbox. The name lives in the sandbox's own
 * network namespace (required for a GPU runner), a path is refused by
 * Landlock (no MAKE_SOCK anywhere), and connect is refused whatever the
 * address, so nobody can reach the server and it reaches nobody. */
static const int gpu_allowed[] = {
	SCMP_SYS(bind),
	SCMP_SYS(listen),
	SCMP_SYS(accept),
	SCMP_SYS(accept4),
};

static int in_list(const int *list, size_t n, int nr)
{
	for (size_t i = 0; i < n; i++)
		if (list[i] == nr)
			return 1;
	return 0;
}

/* The outer layer's rule for one of deny_always in a GPU sandbox: the
 * socket calls the driver needs as above, the MPS client's connect
 * answered as when no MPS daemon runs (ENOENT, which the driver takes),
 * unlink as when the name is not there, and every other socket family
 * refused. */
static int gpu_rule(scmp_filter_ctx ctx, int nr)
{
	if (in_list(gpu_allowed, sizeof gpu_allowed / sizeof gpu_allowed[0], nr))
		return 0;
	if (nr == SCMP_SYS(socket))
		return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), nr, 1, SCMP_A0(SCMP_CMP_NE, AF_UNIX));
	/* The driver unlinks its socket's name before binding it (an empty
	 * path for an abstract name) and gives up on any answer but ENOENT. */
	if (nr == SCMP_SYS(connect) || nr == SCMP_SYS(unlink))
		return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOENT), nr, 0);
	if (in_list(gpu_refused, sizeof gpu_refused / sizeof gpu_refused[0], nr))
		return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), nr, 0);
	return seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, nr, 0);
}

/* A GPU runner opens its device files read-write: the open rules are left
 * to Landlock, which then confines every write (sandbox_new refuses a GPU
 * sandbox without it). */
static int outer_rules(scmp_filter_ctx ctx, pid_t self, int gpu)
{
	const uint32_t kill = SCMP_ACT_KILL_PROCESS;
	int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, kill);

	for (size_t i = 0; !rc && i < sizeof deny_always / sizeof deny_always[0]; i++)
		rc = gpu ? gpu_rule(ctx, deny_always[i]) : seccomp_rule_add(ctx, kill, deny_always[i], 0);
	for (size_t i = 0; !rc && !gpu && i < sizeof open_write_bits / sizeof open_write_bits[0]; i++) {
		scmp_datum_t b = (scmp_datum_t)open_write_bits[i];
		rc = seccomp_rule_add(ctx, kill, SCMP_SYS(openat), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, b, b));
		rc = rc ? rc : seccomp_rule_add(ctx, kill, SCMP_SYS(open), 1, SCMP_A1(SCMP_CMP_MASKED_EQ, b, b));
	}
	/* Threads yes (libgomp, OpenBLAS); new processes no. clone3 hides its
	 * flags in memory: ENOSYS sends glibc back to clone. */
	rc = rc ? rc : seccomp_rule_add(ctx, kill, SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0));
	rc = rc ? rc : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	/* Reading one's own limits is fine; changing any is not. */
	rc = rc ? rc : seccomp_rule_add(ctx, kill, SCMP_SYS(prlimit64), 1, SCMP_A2(SCMP_CMP_NE, 0));
	/* Signals only to itself (abort(), raise()): the validator runs as the
	 * same user, and kill(-1) as root would reach every process. */
	rc = rc ? rc : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(kill), 1, SCMP_A0(SCMP_CMP_NE, (scmp_datum_t)self));
	rc = rc ? rc : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(tgkill), 1, SCMP_A0(SCMP_CMP_NE, (scmp_datum_t)self));
	rc = rc ? rc : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(rt_sigqueueinfo), 1, SCMP_A0(SCMP_CMP_NE, (scmp_datum_t)self));
	rc = rc ? rc : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(rt_tgsigqueueinfo), 1, SCMP_A0(SCMP_CMP_NE, (scmp_datum_t)self));
	rc = rc ? rc : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(tkill), 0);
	rc = rc ? rc : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(pidfd_send_signal), 0);
	/* Nor by the back door: a descriptor's owner gets SIGIO, or any signal
	 * F_SETSIG names, when it becomes ready, and the owner may be any pid. */
	rc = rc ? rc : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(fcntl), 1, SCMP_A1(SCMP_CMP_EQ, F_SETOWN));
	rc = rc ? rc : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(fcntl), 1, SCMP_A1(SCMP_CMP_EQ, F_SETOWN_EX));
	rc = rc ? rc : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(fcntl), 1, SCMP_A1(SCMP_CMP_EQ, F_SETSIG));
	rc = rc ? rc : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_EQ, FIOSETOWN));
	rc = rc ? rc : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_EQ, SIOCSPGRP));
	/* Code that runs before the runner's main (a constructor, an IFUNC
	 * resolver) meets this layer alone, and can keep the inner one from
	 * loading at all (it may rewrite main): whatever guards the host must
	 * be here too. Pinning CPUs, but for the caller itself: the validator
	 * pinned to one core stays pinned, and so does every judgment it
	 * starts after. */
	rc = rc ? rc : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(sched_setaffinity), 1, SCMP_A0(SCMP_CMP_NE, 0));
	/* Holes punched in a shared mapping: the bulk region, under the host's copy. */
	rc = rc ? rc : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(madvise), 1, SCMP_A2(SCMP_CMP_EQ, MADV_REMOVE));
	/* Watching folders Landlock keeps it from listing reports the names
	 * made there (the validator's uploads, its state). */
	rc = rc ? rc : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(inotify_init), 0);
	rc = rc ? rc : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(inotify_init1), 0);
	rc = rc ? rc : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(inotify_add_watch), 0);
	/* The parent-death signal the sandbox set: cleared, a child outlives a
	 * validator that crashed. */
	rc = rc ? rc : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(prctl), 1, SCMP_A0(SCMP_CMP_EQ, PR_SET_PDEATHSIG));
	/* System calls newer than this list was written against fail closed,
	 * as on a kernel without them (ENOSYS): fchmodat2 (452) changes a
	 * file's mode, setxattrat (463) its attributes, file_setattr (469,
	 * Linux 6.17) its flags, all where Landlock does not look; the next
	 * one may do worse. Their numbers are one table on every architecture
	 * (since 424), and libseccomp need not know their names. */
	for (int nr = SANDBOX_SYSCALLS_REVIEWED; !rc && nr < SANDBOX_SYSCALLS_BOUND; nr++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0);
	return rc;
}

/* Compiles the denylist to a BPF program now, while allocating is still
 * possible (RLIMIT_AS comes later and the validator may be far above it),
 * so that loading it last is a single prctl. */
static int outer_compile(struct sandbox_shared *sh, int gpu, struct sock_fprog *prog)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int fd = -1, rc = -1, e;
	off_t size;

	if (!ctx) {
		note(sh, "seccomp_init failed");
		return -1;
	}
	if ((e = outer_rules(ctx, getpid(), gpu)) < 0) {
		note(sh, "seccomp rule: %s", strerror(-e));
		goto out;
	}
	fd = memfd_create("karpa-sandbox-bpf", MFD_CLOEXEC);
	if (fd < 0 || seccomp_export_bpf(ctx, fd) < 0 || (size = lseek(fd, 0, SEEK_END)) <= 0 ||
	    size % (off_t)sizeof(struct sock_filter) || size > (off_t)(BPF_MAXINSNS * sizeof(struct sock_filter))) {
		note(sh, "seccomp export failed");
		goto out;
	}
	prog->filter = malloc((size_t)size);
	if (!prog->filter || pread(fd, prog->filter, (size_t)size, 0) != size) {
		note(sh, "seccomp program read failed");
		goto out;
	}
	prog->len = (unsigned short)(size / (off_t)sizeof(struct sock_filter));
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	seccomp_release(ctx);
	return rc;
}

/* A user namespace made unprivileged keeps the caller's ids inside. */
static void map_ids(uid_t uid, gid_t gid)
{
	char line[64];
	int fd;

	if ((fd = open("/proc/self/setgroups", O_WRONLY | O_CLOEXEC)) >= 0) {
		(void)!write(fd, "deny", 4);
		close(fd);
	}
	snprintf(line, sizeof line, "%u %u 1\n", (unsigned)uid, (unsigned)uid);
	if ((fd = open("/proc/self/uid_map", O_WRONLY | O_CLOEXEC)) >= 0) {
		(void)!write(fd, line, strlen(line));
		close(fd);
	}
	snprintf(line, sizeof line, "%u %u 1\n", (unsigned)gid, (unsigned)gid);
	if ((fd = open("/proc/self/gid_map", O_WRONLY | O_CLOEXEC)) >= 0) {
		(void)!write(fd, line, strlen(line));
		close(fd);
	}
}

static uint32_t namespaces(struct sandbox_shared *sh)
{
	const int ns = CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS;
	uid_t uid = getuid();
	gid_t gid = getgid();

	if (unshare(ns) == 0)
		return SANDBOX_NETNS;
	if (unshare(CLONE_NEWUSER | ns) == 0) {
		map_ids(uid, gid);
		return SANDBOX_NETNS | SANDBOX_USERNS;
	}
	note(sh, "namespaces unavailable: %s", strerror(errno));
	return 0;
}

/* Empties the bounding set (so exec cannot hand root its capabilities back)
 * and the current sets. Best effort: an unprivileged validator has none. */
static uint32_t drop_caps(struct sandbox_shared *sh)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	int ok = 1;

	for (int c = 0; c <= 63; c++) {
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) == 0)
			continue;
		if (errno != EINVAL)
			ok = 0;
		break;
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	memset(data, 0, sizeof data);
	if (syscall(SYS_capset, &hdr, data) < 0)
		ok = 0;
	if (!ok)
		note(sh, "capabilities not fully dropped: %s", strerror(errno));
	return ok ? SANDBOX_CAPS : 0;
}

static int limits(const struct sandbox_config *c, struct sandbox_shared *sh)
{
	struct rlimit cpu = { c->cpu_seconds, (rlim_t)c->cpu_seconds + SANDBOX_CPU_GRACE_S };
	struct rlimit as = { c->memory_bytes, c->memory_bytes };
	rlim_t nf = c->gpu && c->nofile < SANDBOX_GPU_NOFILE ? SANDBOX_GPU_NOFILE : c->nofile;
	struct rlimit zero = { 0, 0 }, nofile = { nf, nf };
	/* the driver reserves address space the size of the GPU's memory and
	 * more: an address-space limit would only stop it starting */
	int limit_as = c->memory_bytes && !c->gpu;

	if ((c->cpu_seconds && setrlimit(RLIMIT_CPU, &cpu) < 0) || (limit_as && setrlimit(RLIMIT_AS, &as) < 0) ||
	    setrlimit(RLIMIT_FSIZE, &zero) < 0 || setrlimit(RLIMIT_CORE, &zero) < 0 ||
	    setrlimit(RLIMIT_NOFILE, &nofile) < 0) {
		note(sh, "setrlimit: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int cmp_fd(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

static void close_from(unsigned lo, unsigned hi)
{
	if (lo > hi || close_range(lo, hi, 0) == 0)
		return;
	for (unsigned fd = lo; fd <= hi && fd < 65536; fd++)
		close((int)fd);
}

/* Everything above the bulk region's descriptor (recipe_wire.h; the pipe
 * host puts it there, or closes that number) but the pinned /proc ones. */
static void close_others(struct sandbox *sb)
{
	unsigned lo = WIRE_BULK_FD + 1;

	qsort(sb->pin_fd, (size_t)sb->npin, sizeof sb->pin_fd[0], cmp_fd);
	for (int i = 0; i < sb->npin; i++) {
		if ((unsigned)sb->pin_fd[i] > lo)
			close_from(lo, (unsigned)sb->pin_fd[i] - 1);
		lo = (unsigned)sb->pin_fd[i] + 1;
	}
	close_from(lo, ~0U);
}

/* RLIMIT_FSIZE 0 turns any write to a regular file into SIGXFSZ: a stderr
 * that is a log file would kill an honest recipe's first message. */
static uint32_t tame_stderr(void)
{
	struct stat st;
	int fd;

	if (fstat(2, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	dup2(fd, 2);
	close(fd);
	return SANDBOX_STDERR_NULL;
}

int sandbox_prepare(void *arg)
{
	extern char **environ;
	struct sandbox *sb = arg;
	struct sandbox_shared *sh = sb->sh;
	struct sock_fprog prog = { 0 };
	uint32_t ap = 0;

	sh->done = 0;
	sh->applied = 0;
	sh->notes[0] = '\0';
	sh->landlock_abi = sb->landlock_abi;
	/* Out of the validator's process group (its terminal's signals, and
	 * kill(0) from the child), and dead when the validator dies. */
	if (setsid() >= 0 && prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == 0) {
		if (getppid() != sb->parent)
			return -1;
		ap |= SANDBOX_SESSION;
	}
	ap |= tame_stderr();
	if (outer_compile(sh, sb->cfg.gpu, &prog) < 0)
		return -1;
	/* a GPU runner's ruleset names this child's own /proc entry */
	if (sb->cfg.gpu) {
		struct ll_why why = { "", 0 };
		sb->npin = 0;
		if (sb->ruleset_fd >= 0)
			close(sb->ruleset_fd);
		build_landlock(sb, 1, &why);
		if (sb->ruleset_fd < 0) {
			note(sh, "landlock: a GPU runner's rule for %s: %s", why.path[0] ? why.path : "(ruleset)",
			     strerror(why.err));
			return -1;
		}
	}
	ap |= namespaces(sh);
	/* A GPU runner's own task/ files include net/: the sandbox's network
	 * namespace, never the validator's. */
	if ((sb->cfg.require_namespaces || sb->cfg.gpu) && !(ap & SANDBOX_NETNS))
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		note(sh, "no_new_privs: %s", strerror(errno));
		return -1;
	}
	ap |= SANDBOX_NNP;
	if (sb->ruleset_fd >= 0 && syscall(SYS_landlock_restrict_self, sb->ruleset_fd, 0) == 0) {
		ap |= sb->landlock_bits;
	} else if (sb->ruleset_fd >= 0) {
		note(sh, "landlock: %s", strerror(errno));
		/* a GPU runner's writes are Landlock's alone to confine */
		if (sb->cfg.require_landlock || sb->cfg.gpu)
			return -1;
	} else {
		note(sh, "landlock unavailable (ABI %d)", sb->landlock_abi);
	}
	ap |= drop_caps(sh);
	environ = sb->envp;
	ap |= SANDBOX_ENV;
	close_others(sb);
	ap |= SANDBOX_FDS;
	if (limits(&sb->cfg, sh) < 0)
		return -1;
	ap |= SANDBOX_RLIMITS;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0) {
		note(sh, "seccomp: %s", strerror(errno));
		return -1;
	}
	ap |= SANDBOX_SECCOMP;
	if (sb->cfg.gpu)
		ap |= SANDBOX_GPU;
	sh->applied = ap;
	sh->done = 1;
	return 0; /* prog.filter is dropped with the address space at exec */
}

/* ---- validator side: starting, reporting, explaining ------------------ */

int sandbox_spawn(struct sandbox *sb, struct recipe_host *h, struct kerr *err)
{
	sb->sh->done = 0;
	/* Captured: what a recipe prints is kept (the last few KiB, for
	 * sandbox_explain) and never reaches the validator's stderr. */
	if (recipe_host_pipe_captured(h, sb->runner, sandbox_prepare, sb, err) < 0)
		return -1;
	if (recipe_pipe_set_timeout(h, sb->cfg.timeout_ms) < 0 || recipe_pipe_set_deadline(h, sb->cfg.deadline_ms) < 0) {
		recipe_host_destroy(h);
		return kerr_set(err, "sandbox.config", "sandbox: timeout %lld ms refused", (long long)sb->cfg.timeout_ms);
	}
	return 0;
}

void sandbox_report(const struct sandbox *sb, struct sandbox_report *r)
{
	memset(r, 0, sizeof *r);
	r->done = sb->sh->done;
	r->applied = sb->sh->applied;
	r->landlock_abi = sb->landlock_abi;
	memcpy(r->notes, sb->sh->notes, sizeof r->notes);
	r->notes[sizeof r->notes - 1] = '\0';
}

void sandbox_describe(uint32_t applied, char *buf, size_t cap)
{
	static const char *const names[] = { "fds", "rlimits", "session", "netns", "userns", "nnp", "caps",
					     "landlock", "landlock-net", "landlock-scope", "seccomp", "env",
					     "stderr-null", "gpu" };
	size_t off = 0;

	if (cap)
		buf[0] = '\0';
	for (size_t i = 0; i < sizeof names / sizeof names[0] && off < cap; i++)
		if (applied & (1u << i))
			off += (size_t)snprintf(buf + off, cap - off, "%s%s", off ? " " : "", names[i]);
}

/* The end of what the recipe printed, if anything: often the reason. */
#define SANDBOX_TAIL_IN_MSG 160

static int recode(struct kerr *err, const char *code, const char *why, const struct recipe_child_exit *ce,
		  struct recipe_host *h)
{
	char was[KERR_MSG_MAX], tail[SANDBOX_TAIL_IN_MSG + 1];

	snprintf(was, sizeof was, "%s", err->msg);
	if (recipe_pipe_stderr_tail(h, tail, sizeof tail) > 0)
		return kerr_set(err, code, "%s (%s; %s; the recipe's last output: \"%s\")", why, ce->desc, was, tail);
	return kerr_set(err, code, "%s (%s; %s)", why, ce->desc, was);
}

void sandbox_on_fail(void *sb, struct recipe_host *h, struct kerr *err)
{
	if (sb && h->impl && !strncmp(err->code, "recipe.", 7))
		sandbox_explain(sb, h, err);
}

int sandbox_explain(const struct sandbox *sb, struct recipe_host *h, struct kerr *err)
{
	struct recipe_child_exit ce;
	struct kerr e2;
	int sig;

	if (!strcmp(err->code, "recipe.timeout") || !strcmp(err->code, "recipe.deadline") ||
	    recipe_pipe_child_status(h, SANDBOX_REAP_WAIT_MS, &ce, &e2) < 0)
		return -1;
	/* not done: the preparation refused; done, the exit is the runner's
	 * own (a recipe may exit 125), which is no setup failure */
	if (ce.state == RECIPE_CHILD_EXITED && ce.code == RECIPE_PIPE_EXIT_PREPARE && !sb->sh->done)
		return recode(err, "sandbox.setup", sb->sh->notes[0] ? sb->sh->notes : "sandbox refused to start", &ce, h);
	if (ce.state == RECIPE_CHILD_EXITED && ce.exec_errno)
		return recode(err, "sandbox.setup", "the runner could not be executed in the sandbox", &ce, h);
	if (ce.state != RECIPE_CHILD_SIGNALED || ce.timed_out)
		return -1;
	sig = ce.code;
	if (sig == SIGSYS)
		return recode(err, "sandbox.violation", "the recipe made a system call the sandbox forbids", &ce, h);
	if (sig == SIGXCPU || (sig == SIGKILL && sb->cfg.cpu_seconds && ce.cpu_seconds >= sb->cfg.cpu_seconds))
		return recode(err, "sandbox.cpu_limit", "the recipe used up its CPU time", &ce, h);
	if (sig == SIGXFSZ)
		return recode(err, "sandbox.file_limit", "the recipe tried to grow a file", &ce, h);
	if ((sig == SIGSEGV || sig == SIGBUS) && sb->cfg.memory_bytes && !sb->cfg.gpu)
		return recode(err, "sandbox.memory",
			      "the recipe crashed under its memory limit (an allocation past it fails)", &ce, h);
	return -1;
}
