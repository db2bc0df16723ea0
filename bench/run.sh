#!/usr/bin/env bash
# run.sh BUILD_DIR: every benchmark beside its peer, on this machine, now.
# gemm: bench_gemm, the recipe's gemm against OpenBLAS's best on this CPU.
# xent: bench_xent, the evaluator's cross-entropy paths against PyTorch's
# cross_entropy on CPU.
# engine: `karpa bench engine` (recipe v0.1.0's training step) against the
# same model in PyTorch (bench/bench_engine.py) at 1 and 2 threads, then the
# ratio of karpa's best against torch's best. Prints figures; asserts nothing.
# ckpt: bench_ckpt, a checkpoint written and read back against the disk and
# one SHA-256 pass (the floor).
# bulk: bench_bulk, a GPU-scale call's logits and a state between the runner
# and the harness through the pipe against the bulk region.
# Not here: bench/bench_service.sh (the validator service under upload and
# GET load during a judgment) takes minutes of proving and a judgment's CPU.
set -u
build=${1:-build}
karpa="$build/karpa"
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
steps=${BENCH_STEPS:-10}

field() { sed -n "s/.*\"$1\": *\([0-9.]*\).*/\1/p"; }

best_k=0; best_t=0
for t in 1 2; do
	k=$("$karpa" bench engine --threads "$t" --steps "$steps" --json | field tokens_per_s)
	p=$("$py" "$here/bench_engine.py" --threads "$t" --steps "$steps" --json | field tokens_per_s)
	if [ -z "$k" ] || [ -z "$p" ]; then
		echo "engine  threads=$t  failed (karpa '${k}', torch '${p}')"
		continue
	fi
	printf 'engine  threads=%d  karpa %.0f tok/s  torch %.0f tok/s  ratio %.2f\n' "$t" "$k" "$p" \
		"$(echo "$k / $p" | bc -l)"
	best_k=$(echo "if ($k > $best_k) $k else $best_k" | bc -l)
	best_t=$(echo "if ($p > $best_t) $p else $best_t" | bc -l)
done
if [ "$(echo "$best_t > 0" | bc -l)" = 1 ]; then
	printf 'engine  best       karpa %.0f tok/s  torch %.0f tok/s  ratio %.2f\n' "$best_k" "$best_t" \
		"$(echo "$best_k / $best_t" | bc -l)"
fi

# tokenizer: our BPE encoder on the Brown Corpus against the npm package's own
# JS encoder (gpt-3-encoder under node), one core each.
if [ -x "$build/rel/bench/bench_bpe" ]; then
	"$build/rel/bench/bench_bpe"
fi

# gemm: the recipe's kernels (AVX-512 where the CPU has it, AVX2) against
# OpenBLAS on one core, pinned OPENBLAS_CORETYPE and OpenBLAS's own choice
# (docs/determinism.md, "Speed").
if [ -x "$build/rel/bench/bench_gemm" ]; then
	"$build/rel/bench/bench_gemm"
fi

# the evaluator's cross-entropy: every path this CPU runs, and torch's
if [ -x "$build/rel/bench/bench_xent" ]; then
	"$build/rel/bench/bench_xent"
fi

# a checkpoint's write and verified read (256 MB) against the disk and one
# SHA-256 pass over the same bytes: the harness's cost beyond the floor
if [ -x "$build/rel/bench/bench_ckpt" ]; then
	"$build/rel/bench/bench_ckpt" 256 "${TMPDIR:-/tmp}"
fi

# gpu-125m's evaluation call (412 MB of logits) and a 512 MB state between
# the runner and the harness: the pipe against the bulk region
if [ -x "$build/rel/bench/bench_bulk" ]; then
	"$build/rel/bench/bench_bulk" 3 512
fi
