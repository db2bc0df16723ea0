/* events.h: a block's System::Events, decoded with the runtime's metadata
 * far enough to say how one extrinsic's dispatch ended. Every event record
 * is walked through the type registry (frame_system::EventRecord: phase,
 * event, topics), so events of any pallet are stepped over by their types,
 * never by a table here; only System's ExtrinsicSuccess and ExtrinsicFailed
 * (and, in the latter, DispatchError's variant and a Module error's pallet
 * and error index) are read for meaning. Hostile bytes or metadata give a
 * reason code: the walk is bounded in depth and in steps. */
#ifndef KARPA_CHAIN_EVENTS_H
#define KARPA_CHAIN_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "chain/metadata.h"
#include "util/kerr.h"

#define CHAIN_EVENTS_STEPS_MAX (1u << 22) /* values visited in one block's events */
#define CHAIN_EVENTS_NAME_BYTES 64

enum chain_outcome {
	CHAIN_OUTCOME_NONE = 0, /* no ExtrinsicSuccess/Failed for that index */
	CHAIN_OUTCOME_SUCCESS,
	CHAIN_OUTCOME_FAILED,
};

struct chain_dispatch {
	enum chain_outcome outcome;
	/* ExtrinsicFailed: DispatchError's variant ("Module", "BadOrigin",
	 * "Token", ...); for Module, the pallet index and the first error byte
	 * (what chain_rpc_dispatch_error and meta_error_name take). */
	char error_variant[CHAIN_EVENTS_NAME_BYTES];
	int is_module;
	uint8_t pallet_index, error_index;
	uint32_t nevents; /* records in the block, all decoded */
};

/* Decodes the SCALE value of System::Events (Vec<EventRecord>) at a block
 * and reports the outcome of the extrinsic at xt_index (its position in
 * the block's body: phase ApplyExtrinsic(xt_index)). Codes:
 * chain.events_unsupported (the metadata has no frame_system::EventRecord
 * of the expected shape), chain.events_decode (bytes that do not follow
 * the types, a variant index the type does not have, trailing bytes, past
 * META_DEPTH_MAX or CHAIN_EVENTS_STEPS_MAX, or two outcome events for the
 * extrinsic asked about). */
int chain_events_outcome(const struct meta *m, const uint8_t *buf, size_t len, uint32_t xt_index,
			 struct chain_dispatch *out, struct kerr *e);

#endif
