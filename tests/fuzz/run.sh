#!/usr/bin/env bash
# run.sh BINDIR SECONDS NAME...: for each fuzz target, replays its seed
# corpus (tests/fuzz/corpus/NAME, every input once: -runs=0), then fuzzes
# it for SECONDS with new inputs kept in a scratch folder under BINDIR (the
# seed corpus in the tree is only read). Prints the target's last status
# line (executions, coverage) and fails on the first crash, leak, UB report
# or timeout; the input that caused it is left as BINDIR/artifacts/NAME-*.
set -euo pipefail
cd "$(dirname "$0")/../.."
bindir=$1 secs=$2
shift 2
export KARPA_FUZZ_DIR="$PWD/tests/fuzz"
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# The largest input worth trying for each format: a little above the
# biggest real seed, so mutations reach every field without wasting
# executions on bulk.
max_len() {
	case $1 in
	tar) echo 65536 ;;
	attest | ckpt | trainlog | manifest | datamanifest | patch | diffscan) echo 16384 ;;
	shard) echo 8192 ;;
	*) echo 4096 ;;
	esac
}

# Seeds kept elsewhere in the tree, not copied: the recipe's own sources are
# the real C files the lexer and the diff scan read.
more_seeds() {
	case $1 in
	diffscan) echo recipe ;;
	esac
}

mkdir -p "$bindir/artifacts" "$bindir/work"
for name in "$@"; do
	bin="$bindir/fuzz_$name" seeds="tests/fuzz/corpus/$name" work="$bindir/work/$name"
	[ -d "$seeds" ] || { echo "fuzz: $name has no seed corpus $seeds" >&2; exit 1; }
	opts=(-max_len="$(max_len "$name")" -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$bindir/artifacts/$name-")
	[ -f "tests/fuzz/$name.dict" ] && opts+=(-dict="tests/fuzz/$name.dict")
	"$bin" "${opts[@]}" -runs=0 "$seeds" $(more_seeds "$name") >"$bindir/work/$name.replay.log" 2>&1 || {
		cat "$bindir/work/$name.replay.log" >&2
		echo "fuzz: $name fails on its seed corpus" >&2
		exit 1
	}
	[ "$secs" -gt 0 ] || { echo "fuzz: $name replayed $(ls "$seeds" | wc -l) seeds"; continue; }
	rm -rf "$work" && mkdir -p "$work"
	"$bin" "${opts[@]}" -max_total_time="$secs" -print_final_stats=1 "$work" "$seeds" $(more_seeds "$name") >"$bindir/work/$name.log" 2>&1 || {
		tail -n 60 "$bindir/work/$name.log" >&2
		echo "fuzz: $name found a failure (log: $bindir/work/$name.log)" >&2
		exit 1
	}
	last=$(grep -E '^#[0-9]+' "$bindir/work/$name.log" | tail -n 1)
	rate=$(grep -E '^stat::average_exec_per_sec' "$bindir/work/$name.log" | awk '{print $2}')
	echo "fuzz: $name ok: $last (average exec/s $rate)"
done
