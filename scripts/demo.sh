#!/usr/bin/env bash
# demo.sh: the README's main job. A live Karpa network on one machine, at the
# cpu scale, on the Brown Corpus: a validator service on a free loopback port
# and two miners that search for improvements by themselves (the built-in
# search, and the example agent), for a fixed time; a third client submits a
# cheating bundle. At the end: what each miner did, the lineage of kings, the
# epoch weights from the signed ledger, and a corpus search. Everything stays
# in runs/demo/ (or --out DIR) to explore; the step-by-step walk through the
# protocol is scripts/walkthrough.sh.
#
#   bash scripts/demo.sh [--minutes M] [--scale cpu|tiny] [--seeds N] [--out DIR]
#                        [--secret FILE]
#
# --secret FILE gives the validator that 32-byte secret instead of a fresh
# one. The noise floor's runs after the first train at seeds drawn from it,
# and at tiny over two seeds about one draw in ten gives a margin near 0.25
# bpb, which no two-minute search clears: the tests' network run pins it.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=10
scale=cpu
seeds=3
out=runs/demo
secret=
usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
	case $1 in
	--minutes) minutes=$2; shift 2 ;;
	--scale) scale=$2; shift 2 ;;
	--seeds) seeds=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--secret) secret=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "demo.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
	esac
done

bash scripts/setup.sh
make -j"$(nproc)" >/dev/null

K=$PWD/build/karpa
threads=$(nproc)
py=/usr/bin/python3
banner() { printf '\n== %s\n' "$*"; }
start=$(date +%s)
elapsed() { local s=$(( $(date +%s) - start )); printf '%02d:%02d' $((s / 60)) $((s % 60)); }

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

rm -rf "$out"
mkdir -p "$out"

banner "1. data: the Brown Corpus -> public folder (train, val) and the validator's hidden folder"
$K data prepare --scale "$scale" --out "$out/data" --hidden-out "$out/hidden" --progress >/dev/null
$K data show "$out/data"

banner "2. validator: recipe-v0.1.0 is king; its noise floor over $seeds seeds sets the margin"
$K validator init "$out/validator" --data "$out/data" --hidden "$out/hidden" --scale "$scale" >/dev/null
if [ -n "$secret" ]; then
	if [ "$(stat -c %s "$secret")" != 32 ]; then
		echo "demo.sh: --secret $secret: a validator secret is 32 bytes" >&2
		exit 2
	fi
	install -m 600 "$secret" "$out/validator/secret"
fi
echo "noise floor with $seeds seeds (the protocol's default is 10; fewer here to keep the demo short)"
$K noise-floor "$out/validator" --seeds "$seeds" --threads "$threads" --progress
$K validator serve "$out/validator" --listen 127.0.0.1:0 --port-file "$out/port" --workers 1 \
	--judge-threads "$threads" --epoch-seconds 60 >"$out/validator.log" 2>&1 &
svc=$!
pids+=("$svc")
for _ in $(seq 100); do [ -s "$out/port" ] && break; sleep 0.1; done
[ -s "$out/port" ] || { echo "the validator service did not start:"; tail "$out/validator.log"; exit 1; }
url="http://127.0.0.1:$(cat "$out/port")"
echo "validator service at $url (log: $out/validator.log)"
echo "dashboard: $url/   (open it in a browser while the demo runs)"
$K validator status "$out/validator"

for who in search agent cheat; do $K keygen --out "$out/$who.key" >/dev/null; done

banner "3. a third client submits a cheating bundle: a patch that opens a socket"
# Proved honestly against the king (the proof itself is valid) and
# submitted; the validator must refuse it without running it.
git clone -q "$out/validator/recipe" "$out/cheat-recipe"
printf '\n#include <sys/socket.h>\nint exfiltrate(void) { return socket(2, 1, 0); }\n' >>"$out/cheat-recipe/adamw.c"
git -C "$out/cheat-recipe" diff >"$out/cheat.patch"
echo "Faster optimizer state handling." >"$out/cheat.md"
cat "$out/cheat.patch"
(
	nice -n 10 $K prove --recipe "$out/validator/recipe" --king recipe-v0.1.0 --patch "$out/cheat.patch" \
		--rationale "$out/cheat.md" --key "$out/cheat.key" --data "$out/data" --scale "$scale" \
		--out "$out/bundle-cheat" --tar "$out/bundle-cheat.tar" --threads "$threads"
	$K submit "$url" "$out/bundle-cheat.tar" --wait --quiet --json
) >"$out/cheat.log" 2>&1 || true
if grep -q '"verdict"' "$out/cheat.log"; then
	grep '"verdict"' "$out/cheat.log" | tail -1 | "$py" -c \
		"import json,sys; j=json.load(sys.stdin); print('verdict:', j.get('verdict'), j.get('code') or (j.get('judgment') or {}).get('reason_code'), '-', (j.get('judgment') or {}).get('reason', ''))"
else
	echo "the cheating client failed before the validator saw it:"; tail -3 "$out/cheat.log"
fi

banner "4. two miners search for $minutes minutes, each on one core; neither is told what works"
$K miner run --validator "$url" --key "$out/search.key" --work "$out/miner-search" --data "$out/data" \
	--minutes "$minutes" --threads 1 --seed "${KARPA_DEMO_SEED:-1}" >"$out/miner-search.log" 2>&1 &
m1=$!
$K miner run --validator "$url" --key "$out/agent.key" --work "$out/miner-agent" --data "$out/data" \
	--minutes "$minutes" --threads 1 --proposer agent --agent "$PWD/agents/knob-agent" \
	--program docs/program.md >"$out/miner-agent.log" 2>&1 &
m2=$!
pids+=("$m1" "$m2")
echo "miner 1: the built-in search (log: $out/miner-search.log)"
echo "miner 2: agents/knob-agent through --proposer agent (log: $out/miner-agent.log)"

# rows WORK STATUSES [RUNG]: experiments in WORK/results.tsv with one of the
# statuses (all when empty), on that rung (any when absent).
rows() { [ -f "$1/results.tsv" ] && awk -F'\t' -v s="$2" -v r="${3:-}" 'NR > 1 && (s == "" || index(" " s " ", " " $7 " ")) && (r == "" || $3 == r)' "$1/results.tsv" | wc -l || echo 0; }
king() { curl -s "$url/v1/king" | "$py" -c "import json,sys; k=json.load(sys.stdin); print(k['tag'], '%.4f' % (k.get('hidden_bpb') or 0))" 2>/dev/null || echo "?"; }
last() { grep '^miner: ' "$1" 2>/dev/null | tail -1 | cut -c8-110; }
while kill -0 "$m1" 2>/dev/null || kill -0 "$m2" 2>/dev/null; do
	sleep 20
	printf '[%s] king %s | search %s exp: %s | agent %s exp: %s\n' "$(elapsed)" "$(king)" \
		"$(rows "$out/miner-search" "")" "$(last "$out/miner-search.log")" \
		"$(rows "$out/miner-agent" "")" "$(last "$out/miner-agent.log")"
done
wait "$m1" || echo "miner 1 stopped with an error: see $out/miner-search.log"
wait "$m2" || echo "miner 2 stopped with an error: see $out/miner-agent.log"
# Let the service close one more epoch with everything judged, then stop it.
sleep 2
kill -TERM "$svc" 2>/dev/null || true
wait "$svc" 2>/dev/null || true

banner "5. what each miner did (results.tsv: every experiment, negatives included; kept: full runs that beat the king by the margin)"
printf '%-8s %5s %5s %9s %5s %6s\n' miner run kept submitted kings crash
for who in search agent; do
	w="$out/miner-$who"
	printf '%-8s %5s %5s %9s %5s %6s\n' "$who" "$(rows "$w" "")" "$(rows "$w" "keep submitted king" full)" \
		"$(rows "$w" "submitted king")" "$(rows "$w" "king")" "$(rows "$w" "crash")"
done
for who in search agent; do
	printf '%-8s %s\n' "$who" "$(grep -h '^miner: compute' "$out/miner-$who.log" | cut -c8- || echo '-')"
done

banner "6. the lineage of kings"
$K validator status "$out/validator"
git -C "$out/validator/recipe" log -n 8 --oneline --decorate --tags main

banner "7. epoch weights (the signed ledger)"
$K ledger "$out/validator" verify
$K ledger "$out/validator" show | tail -12

banner "8. the corpus: every judged submission, searchable"
$K corpus "$out/validator" search "steps OR warmup OR learning" | head -20 || true

kings=$(git -C "$out/validator/recipe" tag -l 'recipe-v*' | wc -l)
echo
echo "demo finished in $(elapsed): $((kings - 1)) king change(s). Explore $out: validator/ (state.db, recipe/),"
echo "miner-*/results.tsv and experiments/ (every diff, log and verdict), *.log."
if [ "$kings" -lt 2 ]; then
	echo "no miner found a decisive improvement in $minutes minutes: try --minutes $((minutes * 2))"
	exit 3
fi
