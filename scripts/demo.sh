#!/usr/bin/env bash
# demo.sh: the README's main job. Today: prepare the Brown Corpus at the cpu
# scale (miner folder + the validator's hidden split), verify it, train
# recipe v0.1.0 for about a minute with progress, and evaluate the final
# checkpoint on the public and hidden splits. Everything lands in runs/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
make -j"$(nproc)"

out=runs/demo
threads=$(nproc)
rm -rf "$out"
mkdir -p "$out"
echo "== data: Brown Corpus -> train/val (miner) and hidden (validator)"
build/karpa data prepare --scale cpu --out "$out/data" --hidden-out "$out/hidden" --progress
build/karpa data verify "$out/data"
build/karpa data verify "$out/hidden"
build/karpa data show "$out/hidden"
echo
echo "== train: recipe v0.1.0 at the cpu scale"
build/karpa train --scale cpu --data "$out/data" --seed 1 --threads "$threads" --out "$out/run" --progress
echo
echo "== eval: the final checkpoint on both splits"
build/karpa eval --ckpt "$out/run/final.ckpt" --data "$out/data" --split val --threads "$threads"
build/karpa eval --ckpt "$out/run/final.ckpt" --data "$out/hidden" --split hidden --threads "$threads"
echo
echo "demo finished: explore $out (train.log, result.json, checkpoints)"
