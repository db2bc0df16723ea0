#!/usr/bin/env bash
# gpu_miner.sh: a miner at gpu-125m on the GPU machine, against a live
# validator service with a noise floor on loopback (issue 18; docs/gpu.md,
# "A miner at the gpu-* scales"). bench/gpu.sh runs it as its miner stage,
# only when named (GPU_STAGES=miner: it takes minutes):
#
#   a validator at gpu-125m whose king is the project's recipe on the short
#   schedule bench/gpu_e2e.sh uses (MINER_STEPS steps), with its noise
#   floor, served on 127.0.0.1 with the service's own upload cap for the
#   scale; then `karpa miner run` for MINER_MINUTES minutes: it fetches the
#   king, builds the recipe's CUDA part and trains on the GPU. The king's
#   public score comes with the noise floor, so the search starts at once:
#   the king's short run, then its knob points as short runs (the first,
#   by the search's prior, more steps), a point that beat the short run
#   promoted to a full run, which is a proof; one that beats the king by
#   the margin is submitted, judged by the service (hidden evaluation and
#   replay on the GPU), challenged, proved again with the challenge seed
#   and judged again. The minutes are checked between experiments, so a
#   submission under way is followed to its verdict. The journal
#   (results.tsv), the verdicts, the validator's status and lineage and the
#   disk left end up on stdout.
#
# The validator: the one bench/gpu_e2e.sh left in E2E_WORK, when it
# finished its noise floor there (GPU_STAGES=e2e in an earlier command on
# the same host: that saves the noise floor's three minutes; its judged
# bundle is removed for room), else MINER_STATE, else a new one whose
# noise floor is measured here first (two seeds, about three minutes on an
# H100). MINER_RESUME=1 keeps the miner's work folder from an earlier
# command (the miner resumes from its journal). A proof at gpu-125m holds
# eight 1.5 GB checkpoints: its bundle keeps two (3 GB), the miner the rest
# until the verdict, and the service asks for at most two of those; the
# validator and the miner drop each proof once judged.
#
# GPU_REHEARSE=1 runs it at tiny on the CPU (bench/gpu_lib.sh, gpu_scale).
#
# usage: bash bench/gpu_miner.sh PACK OUT     (PACK: .gpu, unpacked)
set -u
source "$(dirname "$0")/gpu_lib.sh" || exit 2
say() { echo "miner-gpu: $*" >&2; }
gpu_args gpu_miner.sh "$@"
W=${MINER_WORK:-/tmp/karpa-gpu-miner$GPU_TAG}
EW=${E2E_WORK:-/tmp/karpa-gpu-e2e$GPU_TAG}
STEPS=${MINER_STEPS:-48}
MINUTES=${MINER_MINUTES:-3}
# MINER_EXPERIMENTS=N: also stop after N experiments (a rehearsal's bound
# that does not depend on the machine's speed)
EXPERIMENTS=()
[ -n "${MINER_EXPERIMENTS:-}" ] && EXPERIMENTS=(--experiments "$MINER_EXPERIMENTS")
T=${MINER_THREADS:-8}

gpu_toolchain "the miner" "$W/cache"
if [ "${MINER_RESUME:-0}" = 1 ] && [ -d "$W" ]; then
	say "resuming in $W"
else
	rm -rf "$W" && mkdir -p "$W" || exit 2
fi
if [ -n "${MINER_STATE:-}" ]; then
	STATE=$MINER_STATE
	say "validator: $STATE (MINER_STATE)"
elif [ -s "$EW/noise.json" ] && [ -d "$EW/state" ]; then
	STATE=$EW/state
	rm -rf "$EW/bundle" "$EW/bundle.held" "$EW"/bundle.work.*
	say "validator: the one bench/gpu_e2e.sh left, with its noise floor ($EW/state; its judged bundle removed)"
elif [ -s "$W/noise.json" ] && [ -d "$W/state" ]; then
	STATE=$W/state
	say "validator: $STATE, with the noise floor an earlier command measured"
else
	STATE=$W/state
	rm -rf "$STATE"
	gpu_short_king "$W/recipe-src" "$STEPS" "$STEPS"
	"$K" validator init "$STATE" --data "$DATA" --hidden "$HIDDEN" \
		--scale "$SCALE" --recipe-src "$W/recipe-src" >/dev/null || exit 1
	t0=$SECONDS
	say "noise floor: two seeds (${DEVICE[*]:-on the CPU})"
	"$K" noise-floor "$STATE" --seeds 2 --threads "$T" --progress --json >"$W/noise.json.tmp" || exit 1
	mv "$W/noise.json.tmp" "$W/noise.json"
	say "  noise floor in $((SECONDS - t0)) s"
fi
cat "$STATE"/../noise.json 2>/dev/null
df -h "$W" | tail -1 >&2

svc=
cleanup() { [ -n "$svc" ] && kill "$svc" 2>/dev/null && wait "$svc" 2>/dev/null; }
trap cleanup EXIT
rm -f "$W/port"
"$K" validator serve "$STATE" --listen 127.0.0.1:0 --port-file "$W/port" --workers 1 \
	--judge-threads "$T" >"$W/validator.log" 2>&1 &
svc=$!
for _ in $(seq 100); do [ -s "$W/port" ] && break; sleep 0.1; done
[ -s "$W/port" ] || { say "FAIL: the validator service did not start"; tail "$W/validator.log" >&2; exit 1; }
url="http://127.0.0.1:$(cat "$W/port")"
say "validator at $url; the miner runs for $MINUTES minutes"

[ -s "$W/miner.key" ] || "$K" keygen --out "$W/miner.key" >/dev/null || exit 1
t0=$SECONDS
# --hold: the default at the gpu-* scales, said for a rehearsal
"$K" miner run --validator "$url" --key "$W/miner.key" --work "$W/mine" --data "$DATA" \
	--minutes "$MINUTES" ${EXPERIMENTS[@]+"${EXPERIMENTS[@]}"} --threads "$T" --hold --progress
rc=$?
say "the miner ended rc=$rc after $((SECONDS - t0)) s"
echo "== results.tsv"
cat "$W/mine/results.tsv" 2>/dev/null
cp "$W/mine/results.tsv" "$OUT/miner-results.tsv" 2>/dev/null
for v in "$W"/mine/experiments/*/verdict.json; do
	[ -f "$v" ] && echo "== $v" && tr -d '\n' <"$v" | cut -c1-1500 && echo
done
echo "== validator"
"$K" validator status "$STATE"
"$K" status "$url" 2>/dev/null | tail -n 20
grep -v '"check"' "$W/validator.log" | tail -n 30
ls -la "$STATE/uploads" "$W"/mine/experiments/*/ 2>/dev/null | grep '[.]tar$\|[.]held$'
df -h "$W" | tail -1 >&2
exit $rc
