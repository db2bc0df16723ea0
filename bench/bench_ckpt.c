/* bench_ckpt.c: a checkpoint's cost in the harness (src/harness/
 * checkpoint.c): ckpt_write (write, hash, fsync, rename) and ckpt_read
 * (read and verify) of a state of the given size, against the floor on this
 * machine in the same run: the same bytes written and synced with one pass
 * of OpenSSL's SHA-256 over them, then read back and hashed once. At the GPU
 * scales a state is GBs (gpu-125m: 1.49 GB; docs/gpu.md), so what the
 * harness adds over that floor is what a checkpoint costs beyond the disk
 * and the hash. Also ckpt_digest, the same container hashed without the
 * file (a replay's end check), against ckpt_write's time, and the pipe a state crosses between the runner and the
 * harness (twice per checkpoint): a child writes the state, this process
 * reads it non-blocking with poll as recipe_pipe.c does, with the kernel's
 * default 64 KiB buffer and with the 1 MiB the harness asks for. Prints
 * MB/s and ratios; asserts nothing but that the read gives back what was
 * written. usage: bench_ckpt [MB [DIR]] */
#include <fcntl.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness/checkpoint.h"
#include "util/hash.h"

#define BENCH_MB_DEFAULT 256
#define BENCH_CHUNK ((size_t)8 << 20)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The floor: write + fsync with one SHA-256 pass, then read + one pass. */
static int floor_s(const char *path, const unsigned char *buf, size_t n, unsigned char *back, double *w, double *r)
{
	unsigned char d[32];
	unsigned int dl;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	double t0 = now_s();
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600), ok = fd >= 0 && md;

	for (size_t off = 0; ok && off < n; off += BENCH_CHUNK) {
		size_t k = n - off < BENCH_CHUNK ? n - off : BENCH_CHUNK;
		ok = EVP_DigestInit_ex(md, off ? NULL : EVP_sha256(), NULL) == 1 &&
		     EVP_DigestUpdate(md, buf + off, k) == 1 && write(fd, buf + off, k) == (ssize_t)k;
	}
	ok = ok && EVP_DigestFinal_ex(md, d, &dl) == 1 && fsync(fd) == 0;
	if (fd >= 0)
		close(fd);
	*w = now_s() - t0;
	t0 = now_s();
	fd = ok ? open(path, O_RDONLY) : -1;
	ok = fd >= 0 && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;
	for (size_t off = 0; ok && off < n; off += BENCH_CHUNK) {
		size_t k = n - off < BENCH_CHUNK ? n - off : BENCH_CHUNK;
		ok = read(fd, back + off, k) == (ssize_t)k && EVP_DigestUpdate(md, back + off, k) == 1;
	}
	ok = ok && EVP_DigestFinal_ex(md, d, &dl) == 1;
	if (fd >= 0)
		close(fd);
	*r = now_s() - t0;
	EVP_MD_CTX_free(md);
	unlink(path);
	return ok ? 0 : -1;
}

/* Seconds to move n bytes of buf from a child through a pipe of the given
 * buffer size (0: the kernel's default) into back; -1 on failure. */
static double pipe_s(const unsigned char *buf, unsigned char *back, size_t n, int size)
{
	int p[2], status = 0;
	size_t got = 0;
	double t0;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	if (size && fcntl(p[1], F_SETPIPE_SZ, size) < 0)
		perror("bench_ckpt: F_SETPIPE_SZ");
	t0 = now_s();
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		size_t off = 0;
		close(p[0]);
		while (off < n) {
			ssize_t w = write(p[1], buf + off, n - off);
			if (w <= 0)
				_exit(1);
			off += (size_t)w;
		}
		_exit(0);
	}
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	while (got < n) {
		struct pollfd f = { p[0], POLLIN, 0 };
		ssize_t r = read(p[0], back + got, n - got);
		if (r > 0)
			got += (size_t)r;
		else if (r == 0 || poll(&f, 1, -1) < 0)
			break;
	}
	close(p[0]);
	waitpid(pid, &status, 0);
	return got == n && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? now_s() - t0 : -1;
}

int main(int argc, char **argv)
{
	size_t mb = argc > 1 ? strtoul(argv[1], NULL, 10) : BENCH_MB_DEFAULT, n = mb << 20, got = 0;
	const char *dir = argc > 2 ? argv[2] : ".";
	struct ckpt_meta m = { .format = CKPT_FORMAT, .step = 38, .seed = 1, .vocab_size = 50257 };
	char path[4096], floor_path[4096], sha[HASH_HEX_BYTES];
	unsigned char *buf = malloc(n ? n : 1), *back;
	void *state = NULL;
	double tw, tr, td, fw, fr, t0;
	char dsha[HASH_HEX_BYTES];
	struct kerr err;
	int rc = 1;

	/* back is not shared with the pipe's writer (MADV_DONTFORK): filling
	 * it after the fork would otherwise copy every page, which is the
	 * benchmark's cost and not the harness's (its runner is exec'd) */
	back = mmap(NULL, n ? n : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (back == MAP_FAILED || madvise(back, n ? n : 1, MADV_DONTFORK) < 0)
		back = NULL;
	if (!mb || !buf || !back || hash_init_lib() < 0) {
		fprintf(stderr, "bench_ckpt: give a size in MB (and memory for two copies of it)\n");
		goto out;
	}
	snprintf(path, sizeof path, "%s/bench_ckpt.%ld.ckpt", dir, (long)getpid());
	snprintf(floor_path, sizeof floor_path, "%s/bench_ckpt.%ld.raw", dir, (long)getpid());
	for (size_t i = 0; i < n; i++)
		buf[i] = (unsigned char)(i * 2654435761u >> 13);
	snprintf(m.recipe, sizeof m.recipe, "karpa-gpt");
	snprintf(m.recipe_version, sizeof m.recipe_version, "0.1.0");
	snprintf(m.scale, sizeof m.scale, "gpu-125m");
	memset(m.data_digest, 'a', HASH_HEX_BYTES - 1);
	memset(m.tokenizer_digest, 'b', HASH_HEX_BYTES - 1);
	m.state_bytes = n;
	if (floor_s(floor_path, buf, n, back, &fw, &fr) < 0) {
		perror("bench_ckpt: floor");
		goto out;
	}
	t0 = now_s();
	if (ckpt_write(path, &m, buf, n, sha, &err) < 0)
		goto fail;
	tw = now_s() - t0;
	t0 = now_s();
	if (ckpt_read(path, &m, &state, &got, sha, &err) < 0)
		goto fail;
	tr = now_s() - t0;
	if (got != n || memcmp(state, buf, n)) {
		fprintf(stderr, "bench_ckpt: the read gave other bytes than were written\n");
		goto out;
	}
	t0 = now_s();
	if (ckpt_digest(&m, buf, n, dsha, &err) < 0)
		goto fail;
	td = now_s() - t0;
	if (strcmp(dsha, sha)) {
		fprintf(stderr, "bench_ckpt: ckpt_digest is not the written file's digest\n");
		goto out;
	}
	printf("ckpt  %zu MB  write %.2f s (%.0f MB/s)  floor %.2f s  ratio %.2f\n", mb, tw, mb / tw, fw, tw / fw);
	printf("ckpt  %zu MB  digest without the file %.2f s (%.0f MB/s)  write/digest %.2f\n", mb, td, mb / td,
	       tw / td);
	printf("ckpt  %zu MB  read  %.2f s (%.0f MB/s)  floor %.2f s  ratio %.2f\n", mb, tr, mb / tr, fr, tr / fr);
	/* back is warm (the floor's read filled it): no page faults timed */
	fw = pipe_s(buf, back, n, 0);
	fr = pipe_s(buf, back, n, 1 << 20);
	if (fw <= 0 || fr <= 0 || memcmp(back, buf, n)) {
		fprintf(stderr, "bench_ckpt: the pipe did not carry the state\n");
		goto out;
	}
	printf("pipe  %zu MB  64 KiB buffer %.2f s (%.0f MB/s)  1 MiB %.2f s (%.0f MB/s)  ratio %.2f\n", mb, fw, mb / fw,
	       fr, mb / fr, fw / fr);
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "bench_ckpt: %s: %s\n", err.code, err.msg);
out:
	unlink(path);
	free(state);
	free(buf);
	if (back)
		munmap(back, n ? n : 1);
	return rc;
}
