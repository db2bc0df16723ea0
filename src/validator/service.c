/* service.c: the validator service's life (service.h): recovery on start,
 * the supervisor loop that hands queued submissions to judging workers
 * and settles them when they exit, and the epoch clock. The HTTP handlers
 * are service_api.c's.
 *
 * Crash safety rests on three owners, each with its own journal: king.c
 * (a merge is finished or undone by validator_open), queue.c (a row is
 * done only once its verdict is recorded; a judging row of a dead worker
 * is settled by queue_recover), ledger.c (an epoch is appended whole in one
 * transaction). The service adds no state of its own beyond the upload
 * folder, which it empties on start: a body that was not acknowledged was
 * never promised. */
#include "validator/service.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>
#include <limits.h>

#include "harness/scale.h"
#include "judge/dispute.h"
#include "judge/judge.h"
#include "proof/bundle.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "chain/chainweights.h"
#include "util/version.h"
#include "validator/expcorpus.h"
#include "validator/heldwait.h"
#include "validator/kingsample.h"
#include "validator/ledger.h"
#include "validator/service_int.h"
#include "validator/validator.h"
#include "validator/weights.h"

#define SVC_WORKERS_MAX 64
/* A submission whose judge keeps dying (not a verdict: the judge itself
 * failed) is given up after this many attempts, with service.judge_failed. */
#define SVC_ATTEMPTS_MAX 3
#define SVC_TICK_NS (200 * 1000 * 1000L)
/* A judgment the machine could not start is tried again after 1 s, then
 * 2, 4, ... up to this: not every tick, and not given up (the submission
 * did nothing wrong). */
#define SVC_START_BACKOFF_MAX_S 60.0
/* ... but a submission whose own judgment failed to start this many times
 * in a row, for --start-give-up seconds, is given up: a cause that is its
 * alone (its log's path taken by a folder) would otherwise hold the head
 * of the queue, and every submission behind it, for good. */
#define SVC_START_FAILS_MIN 3
/* The judgment's JSON on its stdout is small; a bound keeps a broken child
 * from making us read without limit. */
#define SVC_RESULT_BYTES_MAX (1u << 20)
/* A king's sample is 40 tokens of a model the judge already ran: seconds.
 * One that takes longer than this is stuck, and is killed. */
#define SVC_SAMPLE_DEADLINE_S 600.0

void service_opts_default(struct service_opts *o)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	memset(o, 0, sizeof *o);
	o->listen = "127.0.0.1:8370";
	o->workers = 1;
	o->epoch_s = 3600.0;
	o->judge_threads = n > 0 ? (int)n : 1;
	o->max_pending_per_miner = 4;
	o->max_pending_per_address = 16;
	o->max_queued = 256;
	o->held_share = SERVICE_HELD_SHARE_DEFAULT;
	o->held_timeout_s = 3600.0;
	o->start_give_up_s = 600.0;
	http_limits_default(&o->limits);
	o->limits.max_body = 0;
}

static int share_of(int cap, double share)
{
	double v = floor((double)cap * share);

	return v >= 1.0 ? (int)v : 1;
}

void service_held_caps(const struct service_opts *o, int *all, int *per_address)
{
	*all = share_of(o->max_queued, o->held_share);
	*per_address = share_of(o->max_pending_per_address, o->held_share);
}

uint64_t service_upload_cap(const char *scale)
{
	return scale_on_gpu(scale) ? bundle_tar_bytes_max() : (uint64_t)256 << 20;
}

int service_keeps_upload(const char *verdict, const char *code)
{
	/* a judgment that never started has no evidence to keep: its log
	 * lines are the service's */
	return (!strcmp(verdict, "error") && strcmp(code, "service.start_failed")) || dispute_subject(code);
}

void svc_lock(struct svc *s)
{
	pthread_mutex_lock(&s->db);
}

void svc_unlock(struct svc *s)
{
	pthread_mutex_unlock(&s->db);
}

void svc_event(struct svc *s, const char *event, json_t *data)
{
	char *txt;

	json_object_set_new(data, "at", json_integer((json_int_t)time(NULL)));
	txt = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
	if (txt) {
		if (s->events)
			http_sse_publish(s->events, event, txt);
		log_msg(LOG_NOTICE, "serve", "%s %s", event, txt);
		free(txt);
	}
	json_decref(data);
}

/* ------------------------------------------------------------ folders */

/* Uploads land in STATE/uploads/tmp and are renamed to
 * STATE/uploads/<sha256>.tar once acknowledged. Whatever is in tmp at
 * start was never acknowledged (an upload file, a verification's copy of
 * a bundle): removed. */
static int prepare_dirs(struct svc *s, struct kerr *err)
{
	char up[FS_PATH_MAX];
	DIR *d;
	struct dirent *e;
	int removed = 0;

	if (fs_join(up, sizeof up, err, "%s/uploads", s->o.state_dir) < 0 ||
	    fs_join(s->store_tmp, sizeof s->store_tmp, err, "%s/uploads/tmp", s->o.state_dir) < 0 ||
	    fs_join(s->work, sizeof s->work, err, "%s/work/service", s->o.state_dir) < 0 ||
	    fs_mkdir_p(s->store_tmp, err) < 0 || fs_mkdir_p(s->work, err) < 0)
		return -1;
	if (!(d = opendir(s->store_tmp)))
		return kerr_errno(err, "service.io", s->store_tmp);
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0)
			removed++;
		else if (errno == EISDIR) {
			char p[FS_PATH_MAX];

			if (fs_join(p, sizeof p, err, "%s/%s", s->store_tmp, e->d_name) == 0 && fs_rm_rf(p) == 0)
				removed++;
		}
	}
	closedir(d);
	if (removed)
		log_msg(LOG_NOTICE, "serve", "removed %d unacknowledged upload%s left by the last run",
			removed, removed == 1 ? "" : "s");
	return 0;
}

/* ------------------------------------------------------------ workers */

struct job {
	pid_t pid;
	char id[QUEUE_ID_BYTES];
	char manifest[HASH_HEX_BYTES];
	char path[FS_PATH_MAX]; /* the uploaded tar */
	char out[FS_PATH_MAX], log[FS_PATH_MAX];
	int attempts;
	struct timespec t0;
	int err_fd;   /* the judgment's stderr (progress lines), read here */
	int log_fd;   /* ... and copied to its log */
	char line[256];
	size_t used;
	uint64_t owed; /* disk room claimed for its copy of the bundle (http_disk_owe) */
};

/* The judgment runs with --progress: "judge: <check>" before each check.
 * Those lines move the queue row's current check (what GET
 * /v1/submissions/ID and the dashboard show); every byte also goes to the
 * judgment's log. */
static void progress_line(struct svc *s, struct job *j)
{
	const char *p = j->line;
	struct kerr err = { 0 };

	if (strncmp(p, "judge: ", 7))
		return;
	p += 7;
	if (!*p || strlen(p) >= QUEUE_CHECK_MAX || strpbrk(p, " :,"))
		return;
	svc_lock(s);
	if (queue_progress(&s->vs, j->id, p, &err) < 0)
		log_msg(LOG_WARN, "serve", "%s: %s (%s)", j->id, err.msg, err.code);
	svc_unlock(s);
	svc_event(s, "check", json_pack("{s:s, s:s}", "id", j->id, "check", p));
}

static void read_progress(struct svc *s, struct job *j)
{
	char buf[4096];
	ssize_t n;

	while (j->err_fd >= 0 && (n = read(j->err_fd, buf, sizeof buf)) > 0) {
		if (write(j->log_fd, buf, (size_t)n) < 0) {
			/* the log is for the operator; progress goes on without it */
		}
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				j->line[j->used] = '\0';
				progress_line(s, j);
				j->used = 0;
			} else if (j->used + 1 < sizeof j->line) {
				j->line[j->used++] = buf[i];
			}
		}
	}
}

static void close_job_fds(struct job *j)
{
	if (j->err_fd >= 0)
		close(j->err_fd);
	if (j->log_fd >= 0)
		close(j->log_fd);
	j->err_fd = j->log_fd = -1;
}

static double since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + 1e-9 * (double)(t.tv_nsec - t0->tv_nsec);
}

/* argv in a child process, its stdout to out_path (created), its stderr
 * to err_fd. The child dies with the service (PR_SET_PDEATHSIG). */
static int spawn(const char *const *argv, const char *out_path, int err_fd, pid_t *pid, const char *what,
		 struct kerr *err)
{
	pid_t parent = getpid();

	if ((*pid = fork()) < 0)
		return kerr_errno(err, "service.fork", what);
	if (*pid == 0) {
		int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent || out < 0)
			_exit(127);
		dup2(out, STDOUT_FILENO);
		dup2(err_fd, STDERR_FILENO);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return 0;
}

/* One judgment in its own process: `karpa judge STATE TAR --json`, the
 * same command an operator runs by hand, so the service adds no second
 * judging path. It dies with the service (PR_SET_PDEATHSIG): a judgment
 * the service can no longer settle is judged again on the next start. */
static int start_job(struct svc *s, struct job *j, const struct queue_item *it, struct kerr *err)
{
	char threads[16], deadline[32], held[FS_PATH_MAX];
	const char *argv[16];
	pid_t pid;
	int n = 0, pfd[2];

	memset(j, 0, sizeof *j);
	j->err_fd = j->log_fd = -1;
	snprintf(j->id, sizeof j->id, "%s", it->id);
	snprintf(j->manifest, sizeof j->manifest, "%s", it->manifest_sha256);
	snprintf(j->path, sizeof j->path, "%s", it->path);
	j->attempts = it->attempts;
	if (fs_join(j->out, sizeof j->out, err, "%s/%s.json", s->work, it->id) < 0 ||
	    fs_join(j->log, sizeof j->log, err, "%s/%s.log", s->work, it->id) < 0)
		return -1;
	snprintf(threads, sizeof threads, "%d", s->o.judge_threads);
	argv[n++] = s->self_exe;
	argv[n++] = "judge";
	argv[n++] = s->o.state_dir;
	argv[n++] = it->path;
	argv[n++] = "--json";
	argv[n++] = "--progress";
	argv[n++] = "--threads";
	argv[n++] = threads;
	if (s->o.judge_deadline_s > 0) {
		snprintf(deadline, sizeof deadline, "%.0f", s->o.judge_deadline_s);
		argv[n++] = "--deadline";
		argv[n++] = deadline;
	}
	/* the miner's held checkpoints, when it was asked for any (the row
	 * was claimed, so every one it was asked for is in) */
	if (svc_held_dir(it->path, held, sizeof held, err) < 0)
		return -1;
	if (fs_is_dir(held)) {
		/* the service's own files, verified on arrival: linked, not
		 * copied again */
		argv[n++] = "--held";
		argv[n++] = held;
		argv[n++] = "--held-link";
	}
	argv[n] = NULL;
	if ((j->log_fd = open(j->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return kerr_errno(err, "service.io", j->log);
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		close_job_fds(j);
		return kerr_errno(err, "service.fork", "pipe for a judgment");
	}
	clock_gettime(CLOCK_MONOTONIC, &j->t0);
	if (spawn(argv, j->out, pfd[1], &pid, "fork of a judgment", err) < 0) {
		close(pfd[0]);
		close(pfd[1]);
		close_job_fds(j);
		return -1;
	}
	close(pfd[1]);
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	j->err_fd = pfd[0];
	j->pid = pid;
	return 0;
}

/* The judgment's verdict from its --json output; 0 when there is one. */
static int read_verdict(const struct job *j, char *verdict, size_t vcap, char *code, size_t ccap,
			char *sub_id, size_t icap, char *new_king, size_t kcap)
{
	json_error_t je;
	json_t *o = json_load_file(j->out, 0, &je);
	const char *v, *c, *id, *nk;
	int rc = -1;

	if (!o)
		return -1;
	v = json_string_value(json_object_get(o, "verdict"));
	c = json_string_value(json_object_get(o, "code"));
	id = json_string_value(json_object_get(o, "id"));
	nk = json_string_value(json_object_get(o, "new_king"));
	if (v && id && expcorpus_verdict_valid(v)) {
		snprintf(verdict, vcap, "%s", v);
		snprintf(code, ccap, "%s", c ? c : "");
		snprintf(sub_id, icap, "%s", id);
		snprintf(new_king, kcap, "%s", nk ? nk : "");
		rc = 0;
	}
	json_decref(o);
	return rc;
}

int svc_held_dir(const char *tar_path, char *out, size_t cap, struct kerr *err)
{
	size_t n = strlen(tar_path);

	if (n < 4 || strcmp(tar_path + n - 4, ".tar"))
		return kerr_set(err, "service.io", "%s: an upload's name ends in .tar", tar_path);
	return fs_join(out, cap, err, "%.*s.held", (int)(n - 4), tar_path);
}

/* A judged submission's tar and held checkpoints, once its verdict is
 * recorded, unless service_keeps_upload keeps them. A crash between the
 * two leaves them; sweep_uploads removes them at the next start. 1 when
 * something was removed. */
static int drop_upload(const char *path, const char *id, const char *verdict, const char *code)
{
	char held[FS_PATH_MAX];
	struct kerr err = { 0 };
	int removed = 0;

	if (service_keeps_upload(verdict, code))
		return 0;
	if (unlink(path) == 0)
		removed = 1;
	else if (errno != ENOENT)
		log_msg(LOG_WARN, "serve", "%s: removing its judged upload %s: %s", id, path, strerror(errno));
	if (svc_held_dir(path, held, sizeof held, &err) == 0 && fs_is_dir(held)) {
		fs_rm_rf(held);
		removed = 1;
	}
	return removed;
}

/* A judgment's output and log (STATE/work/service/<id>.{json,log}) stay
 * as long as its upload does: the evidence of a kept verdict together,
 * and nothing for one whose verdict and judgment are in the corpus. */
static void drop_work(const char *work, const char *id)
{
	static const char *const ext[] = { "json", "log" };

	for (size_t i = 0; i < sizeof ext / sizeof *ext; i++) {
		char path[FS_PATH_MAX];

		if (snprintf(path, sizeof path, "%s/%s.%s", work, id, ext[i]) < (int)sizeof path &&
		    unlink(path) < 0 && errno != ENOENT)
			log_msg(LOG_WARN, "serve", "%s: removing its judgment's %s: %s", id, path, strerror(errno));
	}
}

/* Bytes under path: a file's size, or the files' under a folder (links
 * not followed; a held folder is two levels deep). */
static uint64_t disk_bytes(const char *path, int depth)
{
	struct stat sb;
	struct dirent *e;
	uint64_t n = 0;
	DIR *d;

	if (lstat(path, &sb) < 0)
		return 0;
	if (S_ISREG(sb.st_mode))
		return (uint64_t)sb.st_size;
	if (!S_ISDIR(sb.st_mode) || depth > 4 || !(d = opendir(path)))
		return 0;
	while ((e = readdir(d))) {
		char sub[FS_PATH_MAX];

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) < (int)sizeof sub)
			n += disk_bytes(sub, depth + 1);
	}
	closedir(d);
	return n;
}

struct trim {
	const char *work;
	uint64_t cap, kept;
	int removed;
};

static int trim_one(const struct queue_item *it, void *arg)
{
	struct trim *t = arg;
	struct kerr err = { 0 };
	char held[FS_PATH_MAX];
	uint64_t n;

	if (!service_keeps_upload(it->verdict, it->reason_code))
		return 0;
	if (svc_held_dir(it->path, held, sizeof held, &err) < 0)
		held[0] = '\0';
	n = disk_bytes(it->path, 0) + (held[0] ? disk_bytes(held, 0) : 0);
	if (!n)
		return 0;
	if (t->kept + n <= t->cap) {
		t->kept += n;
		return 0;
	}
	if (unlink(it->path) < 0 && errno != ENOENT) {
		log_msg(LOG_WARN, "serve", "%s: removing its kept upload %s: %s", it->id, it->path, strerror(errno));
		return 0;
	}
	if (held[0])
		fs_rm_rf(held);
	drop_work(t->work, it->id);
	t->removed++;
	log_msg(LOG_NOTICE, "serve", "%s: its kept upload (%s, %.1f MiB) removed: kept uploads over %.0f MiB", it->id,
		it->reason_code, (double)n / (1 << 20), (double)t->cap / (1 << 20));
	return 0;
}

/* The uploads kept for a dispute or the operator (service_keeps_upload)
 * take disk that anyone who can sign a bundle decides on: a checkpoint
 * whose digest is not the log's is a replay rejection after one hash, and
 * its tar would stay for good, until the disk reserve refused every
 * upload. The judgments that kept failing (the operator's to read, and
 * not a sender's to make) are kept first, then the latest finished, up to
 * keep_bytes in all; the others are removed. Their verdicts stay in the
 * queue and the corpus: only the evidence goes. Each call walks every
 * refusal the queue has finished, two stats each: cheap next to the
 * judgment that precedes it, though it grows with the queue. */
static void trim_kept(struct svc *s)
{
	struct trim t = { .work = s->work, .cap = s->o.keep_bytes };
	struct kerr err = { 0 };

	svc_lock(s);
	if (queue_each_done_refusal(&s->vs, trim_one, &t, &err) < 0)
		log_msg(LOG_WARN, "serve", "trimming the kept uploads: %s (%s)", err.msg, err.code);
	svc_unlock(s);
}

/* At start: the tars of submissions already judged (a crash after the
 * verdict, before drop_upload; states from before uploads were dropped),
 * and tars with no queue row at all (a crash, or a failed commit, between
 * the rename and the row: never acknowledged, so no miner waits on them).
 * A tar's name is its SHA-256, and its queue id is derived from it. */
static int sweep_uploads(struct svc *s, struct kerr *err)
{
	char up[FS_PATH_MAX], path[FS_PATH_MAX], id[QUEUE_ID_BYTES];
	struct queue_item it;
	struct kerr qerr = { 0 };
	struct dirent *e;
	DIR *d;
	int removed = 0, orphans = 0;

	if (fs_join(up, sizeof up, err, "%s/uploads", s->o.state_dir) < 0)
		return -1;
	if (!(d = opendir(up)))
		return kerr_errno(err, "service.io", up);
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);

		/* <sha256>.tar, or <sha256>.held whose tar went first */
		if (!((n == 64 + 4 && !strcmp(e->d_name + 64, ".tar")) || (n == 64 + 5 && !strcmp(e->d_name + 64, ".held"))))
			continue;
		snprintf(id, sizeof id, "q-%.24s", e->d_name);
		if (queue_get(&s->vs, id, &it, &qerr) < 0 && !strcmp(qerr.code, "queue.not_found") &&
		    fs_join(path, sizeof path, &qerr, "%s/%.64s.tar", up, e->d_name) == 0) {
			/* "rejected" is a verdict drop_upload never keeps for */
			orphans += drop_upload(path, id, "rejected", "");
			kerr_clear(&qerr);
			continue;
		}
		if (qerr.code[0] || strcmp(it.state, "done") ||
		    strncmp(it.sha256, e->d_name, 64) ||
		    fs_join(path, sizeof path, &qerr, "%s/%.64s.tar", up, e->d_name) < 0) {
			kerr_clear(&qerr);
			continue;
		}
		removed += drop_upload(path, id, it.verdict, it.reason_code);
	}
	closedir(d);
	if (removed)
		log_msg(LOG_NOTICE, "serve", "removed %d upload%s judged before the last run stopped", removed,
			removed == 1 ? "" : "s");
	if (orphans)
		log_msg(LOG_NOTICE, "serve", "removed %d upload%s with no queue row (never acknowledged)", orphans,
			orphans == 1 ? "" : "s");
	return 0;
}

/* At start: judgment outputs and logs whose upload is gone (drop_work's
 * rule; a crash between the verdict and drop_work, states from before
 * they were dropped). Queued and judging rows keep theirs: the next
 * judgment writes over them. A sample's files are kingsample's. */
static int sweep_work(struct svc *s, struct kerr *err)
{
	struct queue_item it;
	struct dirent *e;
	int removed = 0;
	DIR *d;

	if (!(d = opendir(s->work)))
		return kerr_errno(err, "service.io", s->work);
	while ((e = readdir(d))) {
		char id[QUEUE_ID_BYTES];
		const char *dot = strrchr(e->d_name, '.');
		struct kerr qerr = { 0 };
		size_t n = dot ? (size_t)(dot - e->d_name) : 0;

		if (!dot || strncmp(e->d_name, "q-", 2) || n >= sizeof id || (strcmp(dot, ".json") && strcmp(dot, ".log")))
			continue;
		memcpy(id, e->d_name, n);
		id[n] = '\0';
		if (queue_get(&s->vs, id, &it, &qerr) < 0) {
			if (strcmp(qerr.code, "queue.not_found"))
				continue;
		} else if (strcmp(it.state, "done") ||
			   (service_keeps_upload(it.verdict, it.reason_code) && access(it.path, F_OK) == 0)) {
			continue;
		}
		if (unlinkat(dirfd(d), e->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	if (removed)
		log_msg(LOG_NOTICE, "serve", "removed %d judgment file%s (output, log) of verdicts already recorded",
			removed, removed == 1 ? "" : "s");
	return 0;
}

/* A judgment that stopped with judge.held_needed (its output lists what it
 * drew and lacked: the judge's draws changed since the upload, or a file
 * went missing) asks the miner again rather than counting as a failed
 * attempt: 1 when asked, 0 when this was not that (or asking failed, which
 * is logged: the row then goes the usual way). The caller holds the lock. */
static int held_reask(struct svc *s, const struct job *j)
{
	struct heldwait_need need[JUDGE_HELD_NEEDS_MAX];
	struct kerr err = { 0 };
	json_t *o = json_load_file(j->out, 0, NULL), *a, *e;
	size_t i;
	int n = 0, ok;

	a = json_object_get(o, "held_needed");
	ok = json_is_array(a) && json_array_size(a) >= 1 && json_array_size(a) <= JUDGE_HELD_NEEDS_MAX &&
	     !strcmp(json_string_value(json_object_get(o, "code")) ? json_string_value(json_object_get(o, "code")) : "",
		     "judge.held_needed");
	json_array_foreach(ok ? a : NULL, i, e) {
		const char *name = json_string_value(json_object_get(e, "name"));
		const char *sha = json_string_value(json_object_get(e, "sha256"));
		json_int_t bytes = json_integer_value(json_object_get(e, "bytes"));

		if (!name || strlen(name) > BUNDLE_NAME_MAX || bundle_ckpt_step(name) < 0 ||
		    !hash_is_hex(sha, HASH_HEX_BYTES - 1) || bytes <= 0) {
			ok = 0;
			break;
		}
		memset(&need[n], 0, sizeof need[n]);
		snprintf(need[n].name, sizeof need[n].name, "%s", name);
		snprintf(need[n].sha256, sizeof need[n].sha256, "%s", sha);
		need[n].bytes = (uint64_t)bytes;
		n++;
	}
	json_decref(o);
	if (!ok)
		return 0;
	if (heldwait_reask(&s->vs, j->id, need, n, &err) < 0) {
		log_msg(LOG_WARN, "serve", "%s: asking its miner again for %d held checkpoint%s: %s (%s)", j->id, n,
			n == 1 ? "" : "s", err.msg, err.code);
		return 0;
	}
	log_msg(LOG_NOTICE, "serve", "%s: its judgment draws %d held checkpoint%s the wait did not have (first %s): "
		"asked its miner again", j->id, n, n == 1 ? "" : "s", need[0].name);
	return 1;
}

/* A worker exited: record its verdict, or find it in the corpus (the
 * child recorded it and died before printing), ask its miner again for
 * held checkpoints, or queue it again. */
static void settle_job(struct svc *s, struct job *j, int status)
{
	char verdict[QUEUE_VERDICT_MAX] = "", code[KERR_CODE_MAX] = "", sub[VSTATE_ID_BYTES] = "";
	char new_king[RECIPEREPO_TAG_MAX] = "";
	struct expcorpus_entry e;
	struct kerr err = { 0 };
	int have = read_verdict(j, verdict, sizeof verdict, code, sizeof code, sub, sizeof sub, new_king,
				sizeof new_king) == 0;
	double wall = since(&j->t0);
	int reasked = 0;

	/* the judgment is over, and its copy of the bundle gone with it */
	http_disk_owe(s->http, -(int64_t)j->owed);
	j->owed = 0;
	svc_lock(s);
	if (!have) {
		expcorpus_entry_blank(&e);
		/* a challenge answer whose worker died between recording it and
		 * the merge is not done: judged again, it resumes there */
		if (expcorpus_get(&s->vs, j->manifest, &e, &err) == 0 &&
		    expcorpus_settlement_interrupted(&s->vs, &e, &err) == 0) {
			snprintf(verdict, sizeof verdict, "%s", e.verdict);
			snprintf(code, sizeof code, "%s", e.reason_code);
			snprintf(sub, sizeof sub, "%s", e.id);
			have = 1;
		}
		expcorpus_entry_free(&e);
		kerr_clear(&err);
	}
	if (have) {
		if (queue_finish(&s->vs, j->id, verdict, code, sub, &err) < 0) {
			log_msg(LOG_WARN, "serve", "%s: recording its verdict: %s (%s)", j->id, err.msg, err.code);
		} else if (!service_keeps_upload(verdict, code)) {
			drop_upload(j->path, j->id, verdict, code);
			drop_work(s->work, j->id);
		}
	} else if (j->attempts < SVC_ATTEMPTS_MAX && (reasked = held_reask(s, j))) {
		/* judged once they are in, or ended by --held-timeout; each ask
		 * is an attempt, so a judgment that keeps asking still ends */
	} else if (j->attempts >= SVC_ATTEMPTS_MAX) {
		snprintf(verdict, sizeof verdict, "error");
		snprintf(code, sizeof code, "service.judge_failed");
		if (queue_finish(&s->vs, j->id, verdict, code, "", &err) < 0)
			log_msg(LOG_WARN, "serve", "%s: %s (%s)", j->id, err.msg, err.code);
	} else if (queue_requeue(&s->vs, j->id, &err) < 0) {
		log_msg(LOG_WARN, "serve", "%s: queueing again: %s (%s)", j->id, err.msg, err.code);
	}
	s->judged += have;
	s->judge_wall_s += wall;
	svc_unlock(s);
	if (reasked)
		svc_event(s, "held_asked", json_pack("{s:s, s:i}", "id", j->id, "attempt", j->attempts));
	else if (have || verdict[0])
		svc_event(s, "verdict",
			  json_pack("{s:s, s:s, s:s, s:s, s:f}", "id", j->id, "submission", sub, "verdict",
				    verdict, "code", code, "wall_s", wall));
	else if (!reasked)
		log_msg(LOG_WARN, "serve", "%s: judgment ended without a verdict (%s %d, attempt %d): queued again; see %s",
			j->id, WIFSIGNALED(status) ? "signal" : "exit",
			WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), j->attempts, j->log);
	if (new_king[0])
		svc_event(s, "king", json_pack("{s:s, s:s}", "tag", new_king, "submission", sub));
	if (verdict[0] && service_keeps_upload(verdict, code))
		trim_kept(s);
	j->pid = 0;
}

static void reap(struct svc *s, struct job *jobs, int n)
{
	for (int i = 0; i < n; i++) {
		int st = 0;
		if (jobs[i].pid <= 0)
			continue;
		read_progress(s, &jobs[i]);
		if (waitpid(jobs[i].pid, &st, WNOHANG) == jobs[i].pid) {
			read_progress(s, &jobs[i]);
			close_job_fds(&jobs[i]);
			settle_job(s, &jobs[i], st);
		}
	}
}

/* A claimed item whose judgment could not be started: every cause
 * start_job has (fork, a pipe, its log in STATE/work/service) is most
 * likely the machine's, so the item keeps its place and its attempts
 * (queue_unclaim), and no judgment starts until the backoff ends. Counting
 * the attempt instead failed an honest submission in three ticks;
 * requeueing it with no wait re-claimed it five times a second. Only when
 * the same item has failed to start for --start-give-up seconds is it
 * given up, so that the submissions behind it are judged. */
static void start_failed(struct svc *s, const struct queue_item *it, const struct kerr *why)
{
	struct kerr err = { 0 };
	double failing;
	int rc;

	s->start_backoff_s = s->start_backoff_s > 0 ? s->start_backoff_s * 2 : 1;
	if (s->start_backoff_s > SVC_START_BACKOFF_MAX_S)
		s->start_backoff_s = SVC_START_BACKOFF_MAX_S;
	clock_gettime(CLOCK_MONOTONIC, &s->start_after);
	s->start_after.tv_sec += (time_t)s->start_backoff_s;
	if (strcmp(s->start_fail_id, it->id)) {
		snprintf(s->start_fail_id, sizeof s->start_fail_id, "%s", it->id);
		clock_gettime(CLOCK_MONOTONIC, &s->start_fail_t0);
		s->start_fails = 0;
	}
	s->start_fails++;
	failing = since(&s->start_fail_t0);
	if (s->o.start_give_up_s > 0 && s->start_fails >= SVC_START_FAILS_MIN && failing >= s->o.start_give_up_s) {
		svc_lock(s);
		rc = queue_finish(&s->vs, it->id, "error", "service.start_failed", "", &err);
		svc_unlock(s);
		log_msg(LOG_WARN, "serve", "%s: its judgment could not start %d times in %.0f s: %s (%s); given up"
			" (service.start_failed) so that the queue moves on: fix the cause; the same bundle is"
			" answered with this verdict from now on, so its miner proves again", it->id, s->start_fails, failing, why->msg, why->code);
		if (rc < 0) {
			log_msg(LOG_WARN, "serve", "%s: recording it given up: %s (%s)", it->id, err.msg, err.code);
		} else {
			drop_upload(it->path, it->id, "error", "service.start_failed");
			drop_work(s->work, it->id);
			svc_event(s, "verdict", json_pack("{s:s, s:s, s:s, s:s, s:f}", "id", it->id, "submission", "",
							  "verdict", "error", "code", "service.start_failed",
							  "wall_s", 0.0));
		}
		s->start_fail_id[0] = '\0';
		return;
	}
	svc_lock(s);
	rc = queue_unclaim(&s->vs, it->id, &err);
	svc_unlock(s);
	log_msg(LOG_WARN, "serve", "%s: its judgment could not start: %s (%s); it keeps its place in the queue,"
		" and judgments start again in %.0f s", it->id, why->msg, why->code, s->start_backoff_s);
	if (rc < 0)
		log_msg(LOG_WARN, "serve", "%s: putting it back in the queue: %s (%s)", it->id, err.msg, err.code);
}

static void start_jobs(struct svc *s, struct job *jobs, int n)
{
	if (since(&s->start_after) < 0)
		return;
	for (int i = 0; i < n; i++) {
		struct queue_item it;
		struct kerr err = { 0 };
		int got = 0;

		if (jobs[i].pid > 0)
			continue;
		svc_lock(s);
		if (queue_claim(&s->vs, (long long)getpid(), &it, &got, &err) < 0) {
			svc_unlock(s);
			log_msg(LOG_WARN, "serve", "claiming a submission: %s (%s)", err.msg, err.code);
			return;
		}
		svc_unlock(s);
		if (!got)
			return;
		if (start_job(s, &jobs[i], &it, &err) < 0) {
			start_failed(s, &it, &err);
			return;
		}
		s->start_backoff_s = 0;
		s->start_fail_id[0] = '\0';
		/* its copy of the bundle is written beside the uploads: room
		 * an upload must not take meanwhile */
		jobs[i].owed = it.bytes;
		http_disk_owe(s->http, (int64_t)it.bytes);
		svc_event(s, "judging", json_pack("{s:s, s:s, s:i}", "id", it.id, "miner", it.miner,
						  "attempt", it.attempts));
	}
}

/* -------------------------------------------------------- king samples */

/* Each king's short sample (kingsample.h) is made by `karpa sample` in a
 * child process, like a judgment: the model is the king's recipe code,
 * which never runs in the service. One at a time, and only while no
 * judgment runs (judgments come first; a sample takes seconds), so the
 * HTTP threads never wait on a model. The sample is stored when the child
 * exits, in one transaction; a failed one is logged and left until the
 * next start. */
struct sampler {
	pid_t pid;
	char tag[RECIPEREPO_TAG_MAX];
	char out[FS_PATH_MAX], log[FS_PATH_MAX];
	struct timespec t0;
};

int svc_sample_failed(const struct svc *s, const char *tag)
{
	for (size_t i = 0; i < s->nsample_failed; i++)
		if (!strcmp(s->sample_failed[i], tag))
			return 1;
	return 0;
}

static void sample_failed(struct svc *s, struct sampler *sm, const struct kerr *e)
{
	svc_lock(s);
	if (s->nsample_failed < SVC_SAMPLE_FAILED_MAX)
		snprintf(s->sample_failed[s->nsample_failed++], RECIPEREPO_TAG_MAX, "%s", sm->tag);
	svc_unlock(s);
	log_msg(LOG_WARN, "serve", "sample of king %s: %s (%s); see %s; tried again on the next start", sm->tag,
		e->msg, e->code, sm->log);
}

static void sample_start(struct svc *s, struct sampler *sm, const struct job *jobs, int n)
{
	const char *skip[SVC_SAMPLE_FAILED_MAX], *argv[KINGSAMPLE_ARGV_MAX];
	char nums[64];
	struct kerr err = { 0 };
	int found = 0, log_fd;

	if (sm->pid > 0)
		return;
	for (int i = 0; i < n; i++)
		if (jobs[i].pid > 0)
			return;
	svc_lock(s);
	for (size_t i = 0; i < s->nsample_failed; i++)
		skip[i] = s->sample_failed[i];
	if (s->nsample_failed >= SVC_SAMPLE_FAILED_MAX ||
	    kingsample_next(&s->vs, skip, s->nsample_failed, sm->tag, &found, &err) < 0) {
		svc_unlock(s);
		if (err.code[0])
			log_msg(LOG_WARN, "serve", "finding a king to sample: %s (%s)", err.msg, err.code);
		return;
	}
	svc_unlock(s);
	if (!found)
		return;
	if (fs_join(sm->out, sizeof sm->out, &err, "%s/sample-%s.json", s->work, sm->tag) < 0 ||
	    fs_join(sm->log, sizeof sm->log, &err, "%s/sample-%s.log", s->work, sm->tag) < 0)
		goto fail;
	if ((log_fd = open(sm->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
		kerr_errno(&err, "service.io", sm->log);
		goto fail;
	}
	kingsample_argv(s->self_exe, s->o.state_dir, sm->tag, s->vs.scale, s->o.judge_threads, nums, argv);
	clock_gettime(CLOCK_MONOTONIC, &sm->t0);
	if (spawn(argv, sm->out, log_fd, &sm->pid, "fork of a king's sample", &err) < 0) {
		close(log_fd);
		sm->pid = 0;
		goto fail;
	}
	close(log_fd);
	return;
fail:
	sample_failed(s, sm, &err);
}

static void sample_reap(struct svc *s, struct sampler *sm)
{
	struct kerr err = { 0 };
	char *text = NULL;
	size_t len = 0;
	int st = 0, rc;

	if (sm->pid <= 0)
		return;
	if (since(&sm->t0) > SVC_SAMPLE_DEADLINE_S)
		kill(sm->pid, SIGKILL); /* reaped below or on the next tick */
	if (waitpid(sm->pid, &st, WNOHANG) != sm->pid)
		return;
	sm->pid = 0;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		kerr_set(&err, "kingsample.failed", "karpa sample ended with %s %d",
			 WIFSIGNALED(st) ? "signal" : "exit", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
		sample_failed(s, sm, &err);
		return;
	}
	if (fs_read_file(sm->out, KINGSAMPLE_OUTPUT_BYTES_MAX, 0, &text, &len, &err) < 0) {
		sample_failed(s, sm, &err);
		return;
	}
	svc_lock(s);
	rc = kingsample_put(&s->vs, sm->tag, text, len, &err);
	svc_unlock(s);
	free(text);
	if (rc < 0) {
		sample_failed(s, sm, &err);
		return;
	}
	unlink(sm->out);
	unlink(sm->log);
	svc_event(s, "sample", json_pack("{s:s, s:f}", "tag", sm->tag, "wall_s", since(&sm->t0)));
}

/* ------------------------------------------------------------- epochs */

/* Epoch k (k >= 1) closes at epoch0 + k * epoch_s; epoch0 is the first
 * start of the service on this state, kept in meta. After downtime every
 * epoch that has ended is closed, in order, each now: a close computes its
 * vector as of the moment it runs (weights_close_epoch), so the epochs
 * missed share one vector and one closing time in the ledger. */
static int epoch0(struct svc *s, time_t *t0, struct kerr *err)
{
	char v[32];

	if (vstate_meta_get(&s->vs, "service_epoch0", v, sizeof v, err) == 0) {
		*t0 = (time_t)strtoll(v, NULL, 10);
		return 0;
	}
	kerr_clear(err);
	*t0 = time(NULL);
	snprintf(v, sizeof v, "%lld", (long long)*t0);
	return vstate_meta_set(&s->vs, "service_epoch0", v, err);
}

/* How often the service records that it is up (meta service_alive_at):
 * a restart moves the held checkpoints' waits by the time it was down,
 * and the time since the last record counts as down, so it is short (one
 * small transaction). */
#define SVC_ALIVE_EVERY_S 5

static int alive_now(struct svc *s, struct kerr *err)
{
	char iso[VSTATE_TIME_BYTES];

	vstate_now_iso(iso);
	return vstate_meta_set(&s->vs, "service_alive_at", iso, err);
}

static int restart_held(struct svc *s, struct kerr *err)
{
	char alive[VSTATE_TIME_BYTES] = "";
	struct kerr miss = { 0 };

	if (vstate_meta_get(&s->vs, "service_alive_at", alive, sizeof alive, &miss) < 0)
		alive[0] = '\0'; /* never recorded: a state's first service */
	/* recorded at once: a service that stops again before its first
	 * record would otherwise move the waits by this downtime twice */
	return heldwait_restart(&s->vs, alive, err) < 0 ? -1 : alive_now(s, err);
}

/* Submissions whose miner did not hand over the held checkpoints their
 * judgment draws within --held-timeout: rejected with
 * service.held_missing, nothing judged, their files removed. Looked at
 * once a second. */
static void expire_held(struct svc *s, time_t *last)
{
	char ids[16][QUEUE_ID_BYTES];
	struct queue_item it;
	struct kerr err = { 0 };
	time_t now = time(NULL), prev = *last;
	int n = 0;

	if (now == prev)
		return;
	*last = now;
	svc_lock(s);
	/* the first look, and then every few seconds */
	if (prev == 0 || now / SVC_ALIVE_EVERY_S != prev / SVC_ALIVE_EVERY_S) {
		if (alive_now(s, &err) < 0) {
			log_msg(LOG_WARN, "serve", "recording that the service is up: %s (%s)", err.msg, err.code);
			kerr_clear(&err);
		}
	}
	if (heldwait_expire(&s->vs, s->o.held_timeout_s, ids, (int)(sizeof ids / sizeof ids[0]), &n, &err) < 0) {
		svc_unlock(s);
		log_msg(LOG_WARN, "serve", "ending held checkpoints' waits: %s (%s)", err.msg, err.code);
		return;
	}
	for (int i = 0; i < n; i++)
		if (queue_get(&s->vs, ids[i], &it, &err) == 0)
			drop_upload(it.path, it.id, "rejected", "service.held_missing");
	svc_unlock(s);
	for (int i = 0; i < n; i++)
		svc_event(s, "verdict",
			  json_pack("{s:s, s:s, s:s, s:s, s:f}", "id", ids[i], "submission", "", "verdict", "rejected", "code",
				    "service.held_missing", "wall_s", 0.0));
}

static void close_epochs(struct svc *s, time_t t0)
{
	long long last = 0, len = llround(s->o.epoch_s);
	struct kerr err = { 0 };
	time_t now = time(NULL);

	for (;;) {
		struct weights w;
		struct weights_sink sink;

		svc_lock(s);
		if (ledger_last_epoch(&s->vs, &last, &err) < 0) {
			svc_unlock(s);
			log_msg(LOG_WARN, "serve", "epochs: %s (%s)", err.msg, err.code);
			return;
		}
		if (t0 + (time_t)((last + 1) * len) > now) {
			svc_unlock(s);
			return;
		}
		memset(&w, 0, sizeof w);
		sink = ledger_sink(&s->vs);
		/* the grid, the vector and the ledger entry commit together */
		if (weights_close_epoch(&s->vs, last + 1, len, &sink, &w, &err) < 0) {
			svc_unlock(s);
			log_msg(LOG_WARN, "serve", "closing epoch %lld: %s (%s)", last + 1, err.msg, err.code);
			return;
		}
		svc_unlock(s);
		/* after the ledger's commit, and never waited for: a chain that is
		 * down or refuses costs the ledger nothing */
		if (s->chain)
			chainsink_offer(s->chain, &w);
		svc_event(s, "epoch", json_pack("{s:I, s:s, s:I}", "epoch", (json_int_t)(last + 1),
						"closed_at", w.closed_at, "miners", (json_int_t)w.n));
		weights_free(&w);
	}
}

/* ------------------------------------------------------------ the run */

static int write_port(const char *path, int port, struct kerr *err)
{
	char buf[16];
	int n = snprintf(buf, sizeof buf, "%d\n", port);

	return fs_write_atomic(path, buf, (size_t)n, err);
}

int service_run(const struct service_opts *o, volatile sig_atomic_t *stop, struct kerr *err)
{
	struct svc *s = calloc(1, sizeof *s);
	struct job jobs[SVC_WORKERS_MAX];
	struct sampler sm = { 0 };
	char state_abs[PATH_MAX];
	struct queue_recovery rec = { 0 };
	time_t t0 = 0, held_t = 0;
	int rc = -1, opened = 0, search_opened = 0, nw;
	ssize_t len;

	if (!s)
		return kerr_set(err, "service.nomem", "out of memory");
	memset(jobs, 0, sizeof jobs);
	pthread_mutex_init(&s->db, NULL);
	pthread_mutex_init(&s->bundle, NULL);
	pthread_mutex_init(&s->search, NULL);
	s->o = *o;
	/* judgments and git run in other folders: every path from here is absolute */
	if (!realpath(o->state_dir, state_abs)) {
		kerr_errno(err, "service.io", o->state_dir);
		goto out;
	}
	s->o.state_dir = state_abs;
	nw = o->workers < 1 ? 1 : o->workers > SVC_WORKERS_MAX ? SVC_WORKERS_MAX : o->workers;
	if (!(o->epoch_s >= 1.0)) {
		kerr_set(err, "service.usage", "--epoch-seconds must be at least 1");
		goto out;
	}
	s->started = time(NULL);
	if (o->self_exe)
		snprintf(s->self_exe, sizeof s->self_exe, "%s", o->self_exe);
	else if ((len = readlink("/proc/self/exe", s->self_exe, sizeof s->self_exe - 1)) > 0)
		s->self_exe[len] = '\0';
	else {
		kerr_errno(err, "service.io", "/proc/self/exe");
		goto out;
	}
	/* validator_open settles any merge a crash interrupted (king.c) */
	if (validator_open(s->o.state_dir, &s->vs, err) < 0)
		goto out;
	opened = 1;
	if (vstate_open(s->o.state_dir, &s->search_vs, err) < 0)
		goto out;
	search_opened = 1;
	if (!s->o.limits.max_body)
		s->o.limits.max_body = service_upload_cap(s->vs.scale);
	if (!s->o.keep_bytes)
		s->o.keep_bytes = SVC_KEEP_UPLOADS * s->o.limits.max_body;
	/* below one upload, every kept upload would be removed as it is
	 * kept: the dispute it is kept for could never be run */
	if (s->o.keep_bytes < s->o.limits.max_body) {
		kerr_set(err, "service.usage", "--keep-mb %.0f is less than one upload (--max-upload-mb %.0f): raise it,"
			 " or lower --max-upload-mb", (double)s->o.keep_bytes / (1 << 20),
			 (double)s->o.limits.max_body / (1 << 20));
		goto out;
	}
	if (prepare_dirs(s, err) < 0 || queue_ensure(&s->vs, err) < 0 ||
	    queue_recover(&s->vs, &rec, err) < 0 || sweep_uploads(s, err) < 0 || sweep_work(s, err) < 0 ||
	    restart_held(s, err) < 0 || kingsample_ensure(&s->vs, err) < 0 || epoch0(s, &t0, err) < 0)
		goto out;
	if (o->chain_url) {
		struct chainsink_opts co = { 0 };
		uint64_t vk = 0;

		co.endpoint = o->chain_url;
		co.netuid = (uint16_t)o->netuid;
		co.hotkey = o->chain_hotkey;
		if (chain_version_key_parse(KARPA_VERSION, &vk, err) < 0)
			goto out;
		co.version_key = vk;
		if (chainsink_start(&s->chain, &co, &s->vs, &s->db, err) < 0)
			goto out;
		log_msg(LOG_NOTICE, "serve", "weights also go to subnet %d at %s", o->netuid, o->chain_url);
	}
	log_msg(LOG_NOTICE, "serve", "recovered: %d judgment%s finished from the corpus, %d queued again; %d waiting",
		rec.finished, rec.finished == 1 ? "" : "s", rec.requeued, rec.queued);
	if (!(s->events = http_sse_new())) {
		kerr_set(err, "service.nomem", "out of memory for the event hub");
		goto out;
	}
	trim_kept(s);
	s->o.limits.hide_path = s->o.state_dir;
	if (http_start(&s->http, o->listen, svc_routes, svc_nroutes, &s->o.limits, s->store_tmp, s, err) < 0)
		goto out;
	log_msg(LOG_NOTICE, "serve", "serving %s on port %d (%d worker%s, epochs of %.0f s, uploads up to %.0f MiB)",
		s->o.state_dir, http_port(s->http), nw, nw == 1 ? "" : "s", o->epoch_s,
		(double)s->o.limits.max_body / (1 << 20));
	if (o->port_file && write_port(o->port_file, http_port(s->http), err) < 0)
		goto out;
	while (!*stop) {
		struct timespec tick = { 0, SVC_TICK_NS };
		reap(s, jobs, nw);
		start_jobs(s, jobs, nw);
		sample_reap(s, &sm);
		sample_start(s, &sm, jobs, nw);
		expire_held(s, &held_t);
		close_epochs(s, t0);
		nanosleep(&tick, NULL);
	}
	log_msg(LOG_NOTICE, "serve", "stopping");
	rc = 0;
out:
	if (s->http)
		http_stop(s->http);
	/* a judgment still running is judged again on the next start */
	for (int i = 0; i < SVC_WORKERS_MAX; i++)
		if (jobs[i].pid > 0) {
			kill(jobs[i].pid, SIGTERM);
			waitpid(jobs[i].pid, NULL, 0);
			close_job_fds(&jobs[i]);
		}
	if (sm.pid > 0) { /* made again on the next start */
		kill(sm.pid, SIGTERM);
		waitpid(sm.pid, NULL, 0);
	}
	chainsink_stop(s->chain); /* after the send in flight, if any */
	if (s->events)
		http_sse_free(s->events);
	if (opened)
		vstate_close(&s->vs);
	if (search_opened)
		vstate_close(&s->search_vs);
	pthread_mutex_destroy(&s->db);
	pthread_mutex_destroy(&s->search);
	pthread_mutex_destroy(&s->bundle);
	free(s);
	return rc;
}
