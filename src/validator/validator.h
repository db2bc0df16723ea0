/* validator.h: a validator's state as every command and the judge use it:
 * opened (vstate.c) and then settled, so no caller ever sees an interrupted
 * king change. The one way into a state outside vstate.c's and king.c's own
 * tests: vstate knows nothing of the king rule, and the king rule owns its
 * recovery; this file is where the two meet. */
#ifndef KARPA_VALIDATOR_H
#define KARPA_VALIDATOR_H

#include "validator/vstate.h"
#include "util/kerr.h"

/* vstate_open, then king_recover: every merge a crash left 'prepared' in the
 * journal is finished or undone before this returns (docs/king.md). Close
 * with vstate_close. vstate.*, king.inconsistent, king.lock, king.git. */
int validator_open(const char *dir, struct vstate *s, struct kerr *err);

#endif
