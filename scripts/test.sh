#!/usr/bin/env bash
# test.sh: the README's test command. Sets up, builds with -Werror, then
# builds again with ASan+UBSan and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
make -j"$(nproc)"
make -j"$(nproc)" test
