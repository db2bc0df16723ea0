/* service_fixture.h: a `karpa validator serve` for tests: started from the
 * sanitizer build (KARPA_BIN) on a free loopback port, its output in a log
 * file, stopped by the test. Shared by the service, dashboard and sample
 * tests. Include after testutil.h. */
#ifndef KARPA_SERVICE_FIXTURE_H
#define KARPA_SERVICE_FIXTURE_H

#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "validator/vstate.h"

#define SF_ARGS_MAX 24

struct sf_service {
	pid_t pid;
	char url[64];                /* http://127.0.0.1:PORT */
	char portf[FS_PATH_MAX], log[FS_PATH_MAX];
};

static inline const char *sf_san_karpa(void)
{
	return tu_karpa_san();
}

/* Serves state with the given extra options (NULL-terminated), files in
 * dir; fails the test with the service's log when no port appears in 30 s. */
static inline void sf_start(struct sf_service *sv, const char *dir, const char *state,
			    const char *const *extra)
{
	const char *argv[SF_ARGS_MAX];
	char log[4096] = "";
	struct stat sb;
	FILE *f;
	int n = 0, port = 0;

	snprintf(sv->portf, sizeof sv->portf, "%s/port", dir);
	snprintf(sv->log, sizeof sv->log, "%s/serve.log", dir);
	unlink(sv->portf);
	argv[n++] = sf_san_karpa();
	argv[n++] = "validator";
	argv[n++] = "serve";
	argv[n++] = state;
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "--port-file";
	argv[n++] = sv->portf;
	for (int i = 0; extra && extra[i] && n < SF_ARGS_MAX - 1; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	sv->pid = fork();
	assert_true(sv->pid >= 0);
	if (sv->pid == 0) {
		int fd = open(sv->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		dup2(fd, 1);
		dup2(fd, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < 600 && stat(sv->portf, &sb) < 0; i++)
		usleep(50 * 1000);
	if (!(f = fopen(sv->portf, "r")) || fscanf(f, "%d", &port) != 1) {
		tu_run(log, sizeof log, "cat %s", sv->log);
		fail_msg("the service did not start:\n%s", log);
	}
	fclose(f);
	snprintf(sv->url, sizeof sv->url, "http://127.0.0.1:%d", port);
}

/* Sends sig and waits; with SIGTERM the service must exit 0. */
static inline void sf_stop(struct sf_service *sv, int sig)
{
	char log[4096] = "";
	int st = 0;

	if (sv->pid <= 0)
		return;
	kill(sv->pid, sig);
	waitpid(sv->pid, &st, 0);
	sv->pid = 0;
	if (sig == SIGTERM && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
		tu_run(log, sizeof log, "tail -c 3000 %s", sv->log);
		fail_msg("the service did not stop cleanly (status %d):\n%s", st, log);
	}
}

/* Runs sql on state's database beside the running service (a fault or a
 * placeholder row a test plants); fails the test with SQLite's message. */
static inline void sf_state_sql(const char *state, const char *sql)
{
	char db[FS_PATH_MAX];
	sqlite3 *h = NULL;

	snprintf(db, sizeof db, "%s/%s", state, VSTATE_DB);
	assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(h, 10000);
	if (sqlite3_exec(h, sql, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(h));
	sqlite3_close(h);
}

/* The integer the first row of a query of the state's database gives (-1:
 * no row), for what the API does not show (a worker's pid). */
static inline long long sf_state_int(const char *state, const char *sql)
{
	char db[FS_PATH_MAX];
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	long long v = -1;
	int rc;

	snprintf(db, sizeof db, "%s/%s", state, VSTATE_DB);
	assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_busy_timeout(h, 10000);
	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(h));
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE)
		fail_msg("%s: %s", sql, sqlite3_errmsg(h));
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

#endif
