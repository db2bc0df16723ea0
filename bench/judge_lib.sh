# judge_lib.sh: sourced by the judge benchmarks (judge_cost.sh,
# seqtest_record.sh) from the source root. The karpa binary they run, and
# the candidates the miner's knob search makes, each an edit of one scale's
# row in a recipe folder's config.c:
#   comment      a comment on the row (the king itself)
#   lr-half      the learning rate halved
#   steps-2of3   the steps cut to two thirds
#   lr-1.5x      the learning rate raised by 1.5x (the demo's improvement)

# bench_setup NAME BUILD_DIR SCALE: sets K (BUILD_DIR's karpa), threads
# (THREADS, default 1), py, scale, and out (build-bench/NAME-SCALE, made
# empty); exits when the binary is not built.
bench_setup() {
	K="$PWD/$2/karpa"
	threads=${THREADS:-1}
	py=/usr/bin/python3
	scale=$3
	out=$PWD/build-bench/$1-$scale
	[ -x "$K" ] || { echo "$1: no $K (make BUILD=$2 first)" >&2; exit 1; }
	rm -rf "$out"
	mkdir -p "$out"
}

# bench_knob DIR SCALE NAME: edits DIR/config.c in place; fails when the
# row is not there or the edit changes nothing.
bench_knob() {
	local dir=$1 scale=$2 name=$3 line expr
	case $name in
	comment) expr='s|$| /* the same row */|' ;;
	lr-half) expr='s/\([0-9.]*e-[0-9]*f\) }/\1 * 0.5f }/' ;;
	steps-2of3) expr='s/^\(\s*{ "[a-z0-9-]*", [0-9]*, [0-9]*, [0-9]*, [0-9]*, [0-9]*, \)\([0-9]*\),/\1\2 * 2 \/ 3,/' ;;
	lr-1.5x) expr='s/\([0-9.]*e-[0-9]*f\) }/\1 * 1.5f }/' ;;
	*) echo "bench_knob: no candidate '$name'" >&2; return 1 ;;
	esac
	line=$(grep -n "{ \"$scale\"," "$dir/config.c" | head -1 | cut -d: -f1)
	[ -n "$line" ] || { echo "bench_knob: $dir/config.c has no row for $scale" >&2; return 1; }
	cp "$dir/config.c" "$dir/config.c.orig"
	sed -i "${line}${expr}" "$dir/config.c"
	if cmp -s "$dir/config.c" "$dir/config.c.orig"; then
		echo "bench_knob: $name changes nothing in $dir/config.c" >&2
		rm -f "$dir/config.c.orig"
		return 1
	fi
	rm -f "$dir/config.c.orig"
}
