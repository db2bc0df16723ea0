/* journal.h: the miner's work-folder record of every experiment, negatives
 * included (docs/miner.md, "The work folder"). Owns WORK/results.tsv (one
 * row per experiment, rewritten atomically at every change, so a kill at
 * any instant leaves the old table or the new one) and WORK/experiments/
 * NNNN/ (the diff, the rationale, the train log, the status). The table is
 * the truth: an experiment folder with no row was cut short by a kill and is
 * removed on open, and an experiment with a row is never run again. */
#ifndef KARPA_MINER_JOURNAL_H
#define KARPA_MINER_JOURNAL_H

#include <stddef.h>

#include "util/fsutil.h"
#include "util/kerr.h"

/* The table's header line: the columns, in order. */
#define JOURNAL_COLUMNS "exp\tcommit\trung\tpoint\tval_bpb\ttok_per_s\tstatus\tdescription"
#define JOURNAL_ROWS_MAX 100000

/* status: keep | discard | crash | submitted | king (a verdict other than a
 * king leaves `submitted`, with the verdict in the description). */
struct journal_row {
	int exp;
	char commit[48];   /* the king commit the experiment ran on */
	char rung[8];      /* short | full */
	char point[256];   /* knob_point_format */
	double val_bpb;    /* public split; NAN when none */
	double tok_per_s;  /* training throughput; NAN when none */
	char status[16];
	char desc[512];    /* one line: tabs and newlines become spaces */
};

struct journal {
	char work[FS_PATH_MAX];
	struct journal_row *rows;
	size_t n, cap;
	int next_exp;
	int dropped; /* folders of interrupted experiments removed on open */
};

int journal_open(struct journal *j, const char *work, struct kerr *err);
void journal_close(struct journal *j);
/* The row of (commit, rung, point), or NULL: what the loop checks before it
 * runs anything. */
const struct journal_row *journal_find(const struct journal *j, const char *commit, const char *rung,
				       const char *point);
/* A fresh experiment folder WORK/experiments/NNNN (removed first if a kill
 * left it): *exp its number, dir its path. */
int journal_begin(struct journal *j, int *exp, char *dir, size_t cap, struct kerr *err);
/* Adds r (or replaces the row with r->exp) and rewrites results.tsv; also
 * writes the experiment folder's `status` file. */
int journal_record(struct journal *j, const struct journal_row *r, struct kerr *err);
/* Path of a file in experiment exp's folder. */
int journal_path(const struct journal *j, int exp, const char *name, char *out, size_t cap, struct kerr *err);

#endif
