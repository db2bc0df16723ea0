#!/usr/bin/env bash
# test.sh: the README's test command. Sets up, builds with -Werror, then
# builds again with ASan+UBSan and runs every test, then replays every fuzz
# target's seed corpus and fuzzes each for a few seconds (docs/fuzzing.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
make -j"$(nproc)"
make -j"$(nproc)" test
make -j"$(nproc)" fuzz-check
