/* validator.c: opening a validator's state and settling it. Kept apart from
 * vstate.c so that the state database depends on nothing above it (king.c
 * depends on the corpus, which depends on the state): the room's files form
 * a line, vstate <- expcorpus <- king <- validator, not a circle. */
#include "validator/validator.h"

#include "validator/king.h"

int validator_open(const char *dir, struct vstate *s, struct kerr *err)
{
	if (vstate_open(dir, s, err) < 0)
		return -1;
	/* After the schema check and before any caller sees s, an interrupted
	 * king change (the merges journal) is finished or undone. */
	if (king_recover(s, err) < 0) {
		vstate_close(s);
		return -1;
	}
	return 0;
}
