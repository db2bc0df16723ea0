#!/usr/bin/env bash
# bench_service.sh BUILD_DIR: the validator service under load, on loopback
# (issue 14, "Performance"). Asserts nothing; prints figures.
#
#  1. prepares, once, under build-bench/cache: cpu-scale data, a validator
#     state with a noise floor of 2 seeds (a judgment refuses a king
#     without one, and phase 4 needs a judgment that runs), a miner key and
#     one real cpu-scale proof bundle as a tar (scripts/demo.sh's 1.5x
#     learning-rate patch). This takes minutes on two cores; reruns reuse it.
#  2. for each N in 10 and 50: a fresh copy of the state, the service on
#     127.0.0.1:0 with the limits raised (no per-address rate limit, room
#     for N uploads and wrk's connections), N concurrent curl uploads of the
#     bundle: acknowledged (202 new, 200 already received; the bytes are the
#     same, so they share one submission id), MB and MB/s, and the service's
#     peak RSS (VmHWM) before and after: uploads stream to disk, so the peak
#     must not grow with N.
#  3. after the 50 uploads, the queued bundle is being judged (two cores of
#     training): wrk on GET /v1/king, 200 connections, 2 threads, 15 s,
#     p50, p99 and requests/s, and how busy the machine was meanwhile.
# The summary goes to stdout and build-bench/bench_service.txt.
#
# Too slow for `make bench` (bench/run.sh): minutes of proving the first
# time, and a judgment's worth of CPU every time. Run it by hand:
#   bash bench/bench_service.sh build
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
K="$PWD/$build/karpa"
out=$PWD/build-bench
cache=$out/cache
run=$out/run
threads=2
py=/usr/bin/python3
[ -x "$K" ] || { echo "bench_service: no $K (make BUILD=$build first)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "bench_service: wrk is missing (apt-get install wrk)" >&2; exit 1; }
mkdir -p "$out"

# Only what this script started is stopped, by its process id.
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	pids=()
}
# forget PID...: processes that have ended and were waited for (their ids
# may be reused by others: never signal them again)
forget() {
	local keep=() p q drop
	for p in "${pids[@]}"; do
		drop=0
		for q in "$@"; do [ "$p" = "$q" ] && drop=1; done
		[ $drop = 1 ] || keep+=("$p")
	done
	pids=("${keep[@]}")
}
trap cleanup EXIT
trap 'exit 130' INT TERM

jget() { "$py" -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {}, {'d': d}))" "$1"; }
hwm_kb() { awk '$1 == "VmHWM:" { print $2 }' "/proc/$1/status"; }
mb() { echo "scale=1; $1 / 1024" | bc; }
now() { date +%s.%N; }
# busy and total jiffies of the whole machine (/proc/stat's cpu line)
cpu_jiffies() { awk '/^cpu /{ t=0; for (i=2;i<=NF;i++) t+=$i; print t-$5-$6, t }' /proc/stat; }
# CPU seconds used so far by a process and all its descendants
tree_cpu_s() {
	local tck
	tck=$(getconf CLK_TCK)
	# /proc/PID/stat: the comm field (2) may hold spaces: cut after ") "
	for f in /proc/[0-9]*/stat; do
		s=$(cat "$f" 2>/dev/null) || continue
		echo "${f//[^0-9]/} ${s##*) }"
	done | awk -v root="$1" -v tck="$tck" '
		{ ppid[$1]=$3; cpu[$1]=$13+$14+$15+$16 }
		END { for (p in ppid) { q=p; while (q != "" && q != root && q > 1) q=ppid[q];
			if (q == root) s+=cpu[p] } printf "%.1f\n", s/tck }'
}

# ------------------------------------------------------------ 1. prepare
# Prepared in place (the state links its data by absolute path, so it
# cannot be moved); .done marks a cache that is complete.
if [ ! -f "$cache/.done" ]; then
	echo "== preparing cpu-scale data, state (noise floor, 2 seeds) and one proof bundle (minutes)"
	t0=$(now)
	tmp=$cache
	rm -rf "$tmp"
	mkdir -p "$tmp"
	"$K" data prepare --scale cpu --out "$tmp/data" --hidden-out "$tmp/hidden" >/dev/null
	"$K" validator init "$tmp/state" --data "$tmp/data" --hidden "$tmp/hidden" --scale cpu >/dev/null
	"$K" noise-floor "$tmp/state" --seeds 2 --threads "$threads"
	"$K" keygen --out "$tmp/miner.key" >/dev/null
	git clone -q "$tmp/state/recipe" "$tmp/miner-recipe"
	line=$(grep -n '{ "cpu",' "$tmp/miner-recipe/config.c" | head -1 | cut -d: -f1)
	sed -i "${line}s/\([0-9.]*e-[0-9]*f\) }/\1 * 1.5f }/" "$tmp/miner-recipe/config.c"
	git -C "$tmp/miner-recipe" diff > "$tmp/lr.patch"
	[ -s "$tmp/lr.patch" ] || { echo "bench_service: the learning-rate patch is empty" >&2; exit 1; }
	printf 'Raise the cpu-scale learning rate by 1.5x (the service benchmark bundle).\n' > "$tmp/lr.md"
	"$K" prove --recipe "$tmp/state/recipe" --king recipe-v0.1.0 --patch "$tmp/lr.patch" \
		--rationale "$tmp/lr.md" --key "$tmp/miner.key" --data "$tmp/data" --scale cpu \
		--out "$tmp/bundle" --tar "$tmp/bundle.tar" --seed 1 --threads "$threads" --mock-attestation
	"$K" bundle verify "$tmp/bundle.tar" >/dev/null
	touch "$cache/.done"
	printf 'prepared in %.0f s\n' "$(echo "$(now) - $t0" | bc)"
fi
tar_bytes=$(stat -c %s "$cache/bundle.tar")
echo "== bundle: $cache/bundle.tar, $tar_bytes bytes ($(mb $((tar_bytes / 1024))) MiB)"

# ------------------------------------------------------- 2. serve, upload
load0=$(cut -d' ' -f1-3 /proc/loadavg)
rm -rf "$run"
mkdir -p "$run"
svc=""
url=""
serve() { # serve NAME [OPTION...]: a fresh copy of the state, served; sets svc and url
	local d=$run/$1
	shift
	mkdir -p "$d"
	cp -a "$cache/state" "$d/state"
	"$K" validator serve "$d/state" --listen 127.0.0.1:0 --port-file "$d/port" --workers 1 \
		--judge-threads "$threads" --rate-per-s 0 --max-conns-per-ip 256 --max-uploads 64 --max-uploads-per-ip 64 "$@" \
		> "$d/serve.log" 2>&1 &
	svc=$!
	pids+=("$svc")
	for _ in $(seq 150); do
		[ -s "$d/port" ] && break
		kill -0 "$svc" 2>/dev/null || { cat "$d/serve.log" >&2; exit 1; }
		sleep 0.2
	done
	[ -s "$d/port" ] || { echo "bench_service: the service did not start" >&2; cat "$d/serve.log" >&2; exit 1; }
	url=http://127.0.0.1:$(cat "$d/port")
	curl -sf "$url/v1/king" >/dev/null
}
stop_service() {
	kill -TERM "$svc"
	wait "$svc" 2>/dev/null || true
	forget "$svc"
}

declare -A R
# post FILE OUT: one upload, streamed from the file (-T: --data-binary @
# would hold the whole bundle in each curl's memory, 50 of them at once)
post() {
	curl -s -o "$2.json" -w '%{http_code} %{size_upload}\n' --max-time 600 -X POST \
		-H 'Content-Type: application/x-tar' -T "$1" "$url/v1/submissions" > "$2.code" 2>&1
}
# upload N: N concurrent uploads against a fresh service. Its judge is
# /bin/false: the one submission the N uploads make is not judged here (the
# judgment would take the two cores from the uploads, and for longer in the
# 50-upload run than in the 10-upload one: the figures would not compare);
# phase 3 measures the service while a judgment runs.
upload() {
	local n=$1 d=$run/up$1 t0 t1 ups=() i
	serve "up$n" --judge-bin /bin/false
	R[hwm0_$n]=$(hwm_kb "$svc")
	t0=$(now)
	for i in $(seq "$n"); do
		post "$cache/bundle.tar" "$d/up-$i" &
		ups+=($!)
		pids+=($!)
	done
	wait "${ups[@]}" || true
	forget "${ups[@]}"
	t1=$(now)
	R[hwm1_$n]=$(hwm_kb "$svc")
	R[wall_$n]=$(echo "$t1 - $t0" | bc)
	R[c202_$n]=$(cat "$d"/*.code | grep -c '^202 ' || true)
	R[c200_$n]=$(cat "$d"/*.code | grep -c '^200 ' || true)
	R[other_$n]=$(cat "$d"/*.code | grep -vc '^20[02] ' || true)
	R[bytes_$n]=$(awk '{ s += $2 } END { printf "%.0f", s }' "$d"/*.code)
	R[ids_$n]=$("$py" -c "
import json, sys
ids = set()
for f in sys.argv[1:]:
    try:
        ids.add(json.load(open(f))['id'])
    except (ValueError, KeyError, OSError):
        pass
print(len(ids))" "$d"/up-*.json)
	printf 'uploads %2d: %s x 202, %s x 200, %s other; %s MB in %.2f s; peak RSS %s -> %s KiB\n' \
		"$n" "${R[c202_$n]}" "${R[c200_$n]}" "${R[other_$n]}" \
		"$(echo "scale=1; ${R[bytes_$n]} / 1000000" | bc)" "${R[wall_$n]}" "${R[hwm0_$n]}" "${R[hwm1_$n]}"
	if [ "${R[other_$n]}" != 0 ]; then
		echo "  refused or failed:"; grep -vh '^20[02] ' "$d"/*.code | sort | uniq -c | sed 's/^/    /'
		for i in $(seq "$n"); do grep -q '^20[02] ' "$d/up-$i.code" || { head -c 300 "$d/up-$i.json"; echo; break; }; done
	fi
}

echo "== 10 concurrent uploads"
upload 10
stop_service
echo "== 50 concurrent uploads"
upload 50
stop_service

# ------------------------------------------- 3. GET /v1/king during a judgment
# A fresh service with its real judge; one upload of the bundle (202), whose
# judgment starts at once: wrk runs while it trains on the two cores.
echo "== wrk on GET /v1/king while the bundle is judged"
serve judged
mkdir -p "$run/judged/up"
hwm_j0=$(hwm_kb "$svc")
post "$cache/bundle.tar" "$run/judged/up/one"
code_j=$(cut -d' ' -f1 "$run/judged/up/one.code")
q0=""
for _ in $(seq 100); do
	q0=$(curl -s "$url/v1/queue")
	[ "$(echo "$q0" | jget "d['judging']")" -ge 1 ] && break
	sleep 0.1
done
check0=$(echo "$q0" | jget "next(iter([i.get('check', '') for i in d['recent'] if i['state'] == 'judging']), '')")
state0=$(echo "$q0" | jget "'judging' if d['judging'] else 'queued=%d' % d['queued']")
read -r b0 t0j < <(cpu_jiffies)
c0=$(tree_cpu_s "$svc")
wrk -t2 -c200 -d15s --latency "$url/v1/king" > "$run/wrk.txt" 2>&1 &
wrkpid=$!
pids+=("$wrkpid")
wait "$wrkpid" || true
forget "$wrkpid"
read -r b1 t1j < <(cpu_jiffies)
c1=$(tree_cpu_s "$svc")
q1=$(curl -s "$url/v1/queue")
state1=$(echo "$q1" | jget "'judging' if d['judging'] else 'queued=%d done=%d' % (d['queued'], d.get('done', 0))")
check1=$(echo "$q1" | jget "next(iter([i.get('check', '') for i in d['recent'] if i['state'] == 'judging']), '')")
hwm_wrk=$(hwm_kb "$svc")
cat "$run/wrk.txt"
p50=$(awk '$1 == "50%" { print $2 }' "$run/wrk.txt")
p99=$(awk '$1 == "99%" { print $2 }' "$run/wrk.txt")
rps=$(awk '$1 == "Requests/sec:" { print $2 }' "$run/wrk.txt")
non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$run/wrk.txt")
sockerr=$(grep 'Socket errors' "$run/wrk.txt" || true)
busy=$(echo "scale=0; 100 * ($b1 - $b0) / ($t1j - $t0j)" | bc)
svc_cpu=$(echo "$c1 - $c0" | bc)
stop_service
trap - EXIT
cleanup

# ---------------------------------------------------------------- summary
{
	echo "bench_service: the validator service on loopback, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(uname -n)"
	echo "load average at the start: $load0 (other work on the machine skews every figure)"
	echo "bundle: cpu scale, $tar_bytes bytes; service: --workers 1 --judge-threads $threads --rate-per-s 0 --max-conns-per-ip 256 --max-uploads 64 --max-uploads-per-ip 64"
	printf '%-26s %14s %14s\n' "" "10 uploads" "50 uploads"
	printf '%-26s %14s %14s\n' "acknowledged (2xx)" "$((R[c202_10] + R[c200_10]))/10" "$((R[c202_50] + R[c200_50]))/50"
	printf '%-26s %14s %14s\n' "  202 new / 200 repeat" "${R[c202_10]} / ${R[c200_10]}" "${R[c202_50]} / ${R[c200_50]}"
	printf '%-26s %14s %14s\n' "  refused or failed" "${R[other_10]}" "${R[other_50]}"
	printf '%-26s %14s %14s\n' "distinct submission ids" "${R[ids_10]}" "${R[ids_50]}"
	printf '%-26s %14.1f %14.1f\n' "MB uploaded" "$(echo "${R[bytes_10]} / 1000000" | bc -l)" "$(echo "${R[bytes_50]} / 1000000" | bc -l)"
	printf '%-26s %14.2f %14.2f\n' "wall seconds" "${R[wall_10]}" "${R[wall_50]}"
	printf '%-26s %14.1f %14.1f\n' "aggregate MB/s" "$(echo "${R[bytes_10]} / 1000000 / ${R[wall_10]}" | bc -l)" \
		"$(echo "${R[bytes_50]} / 1000000 / ${R[wall_50]}" | bc -l)"
	printf '%-26s %14s %14s\n' "service VmHWM before, KiB" "${R[hwm0_10]}" "${R[hwm0_50]}"
	printf '%-26s %14s %14s\n' "service VmHWM after, KiB" "${R[hwm1_10]}" "${R[hwm1_50]}"
	echo "(upload runs: the service's judge is /bin/false; the submission is judged in the next run only)"
	echo "GET /v1/king under wrk (-t2 -c200 -d15s) on a fresh service during the bundle's judgment"
	echo "  (upload: $code_j; queue at wrk start: $state0${check0:+ at $check0}; at its end: $state1${check1:+ at $check1}):"
	echo "  p50 $p50  p99 $p99  requests/s $rps  non-2xx ${non2xx:-0}${sockerr:+  $sockerr}"
	echo "  machine CPU busy ${busy}% of $(nproc) cores; service + judge tree ${svc_cpu} CPU s in the 15 s"
	echo "  service VmHWM $hwm_j0 KiB at start, $hwm_wrk KiB after the upload and wrk"
} | tee "$out/bench_service.txt"
