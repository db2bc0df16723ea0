#!/usr/bin/env bash
# Runs every test binary given, in order, and prints a summary. A test
# binary is a cmocka group; its own output names each case.
set -u
fail=()
for t in "$@"; do
	echo "== $(basename "$t")"
	start=$(date +%s)
	if ! "$t"; then fail+=("$(basename "$t")"); fi
	echo "   ($(( $(date +%s) - start ))s)"
done
echo
if [ ${#fail[@]} -gt 0 ]; then
	echo "FAILED: ${fail[*]}"
	exit 1
fi
echo "all $# test binaries passed"
