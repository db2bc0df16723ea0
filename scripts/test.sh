#!/usr/bin/env bash
# test.sh: the README's test command. Sets up, builds with -Werror, then
# builds again with ASan+UBSan and runs every test, then replays every fuzz
# target's seed corpus and fuzzes each for a few seconds (docs/fuzzing.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
make -j"$(nproc)"
# the GPU recipe, its tests and benchmark build where the CUDA toolkit is
# installed (they run only on a GPU: bench/gpu.sh); skipped cleanly elsewhere
make -j"$(nproc)" gpu
make -j"$(nproc)" test
make -j"$(nproc)" fuzz-check
# a short live network (tiny scale, two minutes of search): the demo's path,
# which must end with a king change a miner found itself, under the tests'
# pinned validator secret (demo.sh --secret says why)
bash scripts/demo.sh --scale tiny --minutes 2 --seeds 2 --out runs/ci-network --secret tests/validator.secret
