#!/usr/bin/env bash
# search_median.sh: how many experiments and how much wall time the built-in
# search needs to find a decisive improvement on recipe-v0.1.0 (issue 15's
# measurement), as a median over runs with different miner seeds.
#
# One set of data and one validator state (king and noise floor, as in the
# demo) are made once; each run copies the state, starts a service on a free
# loopback port and one search miner (--seed i, one thread, as in the demo)
# and stops when the king changes or after --minutes. The miner is alone:
# in the demo a second miner competes for the cores and for the crown, so
# these times are a lower bound on the demo's.
#
#   bash bench/search_median.sh [--runs N] [--minutes M] [--scale cpu|tiny] [--seeds N] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

runs=3 minutes=20 scale=cpu seeds=3 out=runs/search-median
while [ $# -gt 0 ]; do
	case "$1" in
	--runs) runs=$2; shift 2 ;;
	--minutes) minutes=$2; shift 2 ;;
	--scale) scale=$2; shift 2 ;;
	--seeds) seeds=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	*) echo "search_median.sh: unknown option $1" >&2; exit 2 ;;
	esac
done

K=${KARPA:-$PWD/build/karpa}
py=/usr/bin/python3
threads=$(nproc)
[ -x "$K" ] || { echo "search_median.sh: build first (make)" >&2; exit 1; }

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

rm -rf "$out"
mkdir -p "$out"
out=$(realpath "$out")
t0=$(date +%s)
$K data prepare --scale "$scale" --out "$out/data" --hidden-out "$out/hidden" >/dev/null
$K validator init "$out/base" --data "$out/data" --hidden "$out/hidden" --scale "$scale" >/dev/null
$K noise-floor "$out/base" --seeds "$seeds" --threads "$threads" --json >"$out/noise.json"
echo "prepared in $(( $(date +%s) - t0 )) s: $(cat "$out/noise.json")"

king_json() { curl -s "$1/v1/king"; }
field() { "$py" -c "import json,sys; k=json.load(sys.stdin); print(k.get('$1') if k.get('$1') is not None else '')"; }

printf 'run seed experiments full_runs wall_s genesis_hidden new_hidden king\n' >"$out/results.txt"
for i in $(seq "$runs"); do
	r="$out/run-$i"
	mkdir -p "$r"
	cp -a "$out/base" "$r/validator"
	$K validator serve "$r/validator" --listen 127.0.0.1:0 --port-file "$r/port" --workers 1 \
		--judge-threads "$threads" --epoch-seconds 600 >"$r/validator.log" 2>&1 &
	svc=$!
	pids+=("$svc")
	for _ in $(seq 100); do [ -s "$r/port" ] && break; sleep 0.1; done
	url="http://127.0.0.1:$(cat "$r/port")"
	genesis=$(king_json "$url" | field hidden_bpb)
	$K keygen --out "$r/miner.key" >/dev/null
	s0=$(date +%s)
	$K miner run --validator "$url" --key "$r/miner.key" --work "$r/miner" --data "$out/data" \
		--minutes "$minutes" --threads 1 --seed "$i" >"$r/miner.log" 2>&1 &
	m=$!
	pids+=("$m")
	tag=recipe-v0.1.0
	while kill -0 "$m" 2>/dev/null; do
		sleep 5
		tag=$(king_json "$url" | field tag)
		[ "$tag" != recipe-v0.1.0 ] && break
	done
	wall=$(( $(date +%s) - s0 ))
	kill "$m" 2>/dev/null || true
	wait "$m" 2>/dev/null || true
	new=$(king_json "$url" | field hidden_bpb)
	kill -TERM "$svc" 2>/dev/null || true
	wait "$svc" 2>/dev/null || true
	# experiments up to and including the one crowned: the last one submitted
	# (a submission judged not decisive keeps its row too, but the search
	# went on after it)
	exp=$(awk -F'\t' 'NR > 1 && ($7 == "king" || $7 == "submitted") { n = NR - 1 } END { print n + 0 }' \
		"$r/miner/results.tsv" 2>/dev/null)
	full=$(awk -F'\t' -v stop="$exp" 'NR > 1 && NR - 1 <= stop && $3 == "full"' "$r/miner/results.tsv" | wc -l)
	[ "$tag" = recipe-v0.1.0 ] && exp="none" && wall="${wall}+"
	printf '%s %s %s %s %s %s %s %s\n' "$i" "$i" "$exp" "$full" "$wall" "$genesis" "$new" "$tag" | tee -a "$out/results.txt"
done
echo
column -t "$out/results.txt"
"$py" - "$out/results.txt" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]).read().splitlines()[1:]]
found = [r for r in rows if r[2] != "none"]
print(f"{len(found)} of {len(rows)} runs found a decisive improvement that became king")
if found:
    print("median experiments %.1f, median wall %.0f s, median hidden val_bpb gain %.4f" % (
        statistics.median(int(r[2]) for r in found), statistics.median(int(r[4]) for r in found),
        statistics.median(float(r[5]) - float(r[6]) for r in found)))
PY
