#!/usr/bin/env bash
# gpu_miner.sh: a miner at gpu-125m on the GPU machine, against a live
# validator service on loopback (issue 18; docs/gpu.md, "A miner at the
# gpu-* scales"). bench/gpu.sh runs it as its miner stage, only when named
# (GPU_STAGES=miner: it takes minutes):
#
#   a validator at gpu-125m whose king is the project's recipe on the short
#   schedule bench/gpu_e2e.sh uses (MINER_STEPS steps), served on
#   127.0.0.1; then `karpa miner run` for MINER_MINUTES minutes: it fetches
#   the king, builds the recipe's CUDA part and trains on the GPU (the
#   king's own full run first, as its baseline, then its knob points, each
#   held to the budget in reference-GPU seconds). Its journal
#   (results.tsv) and the validator's status end up on stdout.
#
# The king's noise floor is not measured here (two seeds take about three
# minutes at this scale, bench/gpu_e2e.sh measures it): the margin the
# miner is told is then 0, and what it would submit is judged by a
# validator that cannot yet crown anyone. What this checks is the miner's
# side: king, build, GPU training, budget, journal.
#
# usage: bash bench/gpu_miner.sh PACK OUT     (PACK: .gpu, unpacked)
set -u
source "$(dirname "$0")/gpu_lib.sh" || exit 2
say() { echo "miner-gpu: $*" >&2; }
gpu_args gpu_miner.sh "$@"
W=${MINER_WORK:-/tmp/karpa-gpu-miner}
STEPS=${MINER_STEPS:-48}
CKPT=${MINER_CKPT:-6}
MINUTES=${MINER_MINUTES:-3}
T=${MINER_THREADS:-8}

gpu_toolchain "the miner" "$W/cache"
rm -rf "$W" && mkdir -p "$W" || exit 2
gpu_short_king "$W/recipe-src" "$STEPS" "$CKPT"
"$K" validator init "$W/state" --data "$PACK/data/brown" --hidden "$PACK/data/brown-hidden" \
	--scale gpu-125m --recipe-src "$W/recipe-src" >/dev/null || exit 1

svc=
cleanup() { [ -n "$svc" ] && kill "$svc" 2>/dev/null && wait "$svc" 2>/dev/null; }
trap cleanup EXIT
"$K" validator serve "$W/state" --listen 127.0.0.1:0 --port-file "$W/port" --workers 1 \
	--judge-threads "$T" >"$W/validator.log" 2>&1 &
svc=$!
for _ in $(seq 100); do [ -s "$W/port" ] && break; sleep 0.1; done
[ -s "$W/port" ] || { say "FAIL: the validator service did not start"; tail "$W/validator.log" >&2; exit 1; }
url="http://127.0.0.1:$(cat "$W/port")"
say "validator at $url, king: the recipe at $STEPS steps; the miner runs for $MINUTES minutes"

"$K" keygen --out "$W/miner.key" >/dev/null || exit 1
t0=$SECONDS
"$K" miner run --validator "$url" --key "$W/miner.key" --work "$W/mine" --data "$PACK/data/brown" \
	--minutes "$MINUTES" --threads "$T" --progress
rc=$?
say "the miner ended rc=$rc after $((SECONDS - t0)) s"
echo "== results.tsv"
cat "$W/mine/results.tsv" 2>/dev/null
cp "$W/mine/results.tsv" "$OUT/miner-results.tsv" 2>/dev/null
echo "== validator"
"$K" validator status "$W/state"
tail -n 20 "$W/validator.log"
exit $rc
