#!/usr/bin/env bash
# Runs every test binary given, in order, and prints a summary. A test
# binary is a cmocka group; its own output names each case. cmocka counts a
# skipped case as passed, so a skip fails the run here: a test that cannot
# run is a test that does not guard anything.
set -u
fail=()
for t in "$@"; do
	name=$(basename "$t")
	echo "== $name"
	start=$(date +%s)
	log=$(mktemp)
	"$t" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	if [ "$rc" -ne 0 ]; then
		fail+=("$name")
	elif grep -q '\[  SKIPPED \]' "$log"; then
		echo "   $name skipped a case: failing it"
		fail+=("$name(skipped)")
	fi
	rm -f "$log"
	echo "   ($(( $(date +%s) - start ))s)"
done
echo
if [ ${#fail[@]} -gt 0 ]; then
	echo "FAILED: ${fail[*]}"
	exit 1
fi
echo "all $# test binaries passed"
