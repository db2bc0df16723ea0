#!/usr/bin/env bash
# gpu_e2e.sh: a GPU proof and its judgment at gpu-125m on Brown, end to end,
# on the GPU machine (issue 18; docs/gpu.md, "The validator at GPU
# scales"). bench/gpu.sh runs it as its e2e stage, alone in its own call
# (GPU_STAGES=e2e: it takes minutes), from the packed tree:
#
#   a validator at gpu-125m whose king is the project's recipe with a short
#   schedule (E2E_STEPS steps, a checkpoint every E2E_CKPT: a gpu-125m
#   checkpoint is 1.5 GB and every run keeps at least eight), its noise
#   floor over two seeds on the GPU, a miner's patch proved with --device
#   cuda, then `karpa judge`: check 1 on the patch, hidden evaluation and
#   replay on the GPU by the patched recipe's CUDA part in the sandbox's GPU
#   profile. Every karpa call shows its progress; the verdict, the costs and
#   the replay's device end up in OUT/e2e.json and on stdout.
#
# The patch (E2E_PATCH): gelu-erf (the default) is a kernel patch, the exact
# GELU in cuda/gk_kernels.cu, with cuda/gg.c back on the GELU kernels since
# cuBLASLt's GELU epilogue is the tanh form (bench/gpu/e2e-gelu-erf.diff; test_diffscan_cuda
# checks that it applies and passes check 1's scan), so the validator builds
# and replays a CUDA part the miner changed; lr raises the peak learning
# rate in config.c, which the CUDA runner compiles too. The king is left
# with its noise floor in E2E_WORK, where bench/gpu_miner.sh finds it.
#
# A validator builds the patched recipe itself, so this needs a C compiler
# and nvcc on the GPU machine (the one karpa was built with: the pack's
# toolchain.txt); the pack carries the few headers and libraries the runner
# links against (sysroot/). Without them the stage says what is missing and
# exits 3 (gpu.sh reports SKIPPED). It needs most of a 10-minute command:
# GPU_DEADLINE=590 GPU_STAGES=e2e bash bench/gpu.sh OUT (310 s on an H100).
# GPU_REHEARSE=1 runs every step at tiny on the CPU (bench/gpu_lib.sh,
# gpu_scale): the scripts' own check, which CI runs.
# When a command's time limit ends it before the judgment, E2E_RESUME=1 in
# the next command on the same host keeps what finished (the validator
# with its noise floor, the sealed bundle: each step leaves its JSON in the
# work folder once it succeeded) and goes on from the first step that did
# not.
#
# usage: bash bench/gpu_e2e.sh PACK OUT     (PACK: .gpu, unpacked)
set -u
source "$(dirname "$0")/gpu_lib.sh" || exit 2
say() { echo "e2e: $*" >&2; }
gpu_args gpu_e2e.sh "$@"
W=${E2E_WORK:-/tmp/karpa-gpu-e2e$GPU_TAG}
STEPS=${E2E_STEPS:-48}
# the recipe's checkpoint interval: at least the harness's own gap (steps
# / 8), so every run, a patch's with more steps too, keeps eight segments
CKPT=${E2E_CKPT:-$STEPS}
T=${E2E_THREADS:-8}

step() {
	local t0=$SECONDS rc
	say "$1"
	shift
	"$@"
	rc=$?
	say "  rc=$rc in $((SECONDS - t0)) s"
	return $rc
}

gpu_toolchain "a validator" "$W/cache"
PATCH=${E2E_PATCH:-$E2E_PATCH_DEFAULT}
case $PATCH in gelu-erf | lr) ;; *)
	say "E2E_PATCH is gelu-erf or lr, not '$PATCH'"
	exit 2
	;;
esac

# done NAME: the JSON a finished step left in the work folder, copied to OUT
done_step() {
	[ "${E2E_RESUME:-0}" = 1 ] && [ -s "$W/$1.json" ] || return 1
	cp "$W/$1.json" "$OUT/e2e-$1.json"
	say "$1: done in an earlier run (E2E_RESUME=1), kept"
}
rm -f "$OUT"/e2e*.json
if [ "${E2E_RESUME:-0}" = 1 ] && [ -d "$W" ]; then
	say "resuming in $W"
else
	rm -rf "$W" && mkdir -p "$W" || exit 2
fi
# the short king: the project's recipe, gpu-125m's row with fewer steps
gpu_short_king "$W/recipe-src" "$STEPS" "$CKPT"

if ! done_step noise; then
	rm -rf "$W/state"
	step "validator at $SCALE, king: the recipe at $STEPS steps" \
		"$K" validator init "$W/state" --data "$DATA" --hidden "$HIDDEN" \
		--scale "$SCALE" --recipe-src "$W/recipe-src" || exit 1
	step "noise floor: two seeds (${DEVICE[*]:-on the CPU})" \
		"$K" noise-floor "$W/state" --seeds 2 --threads "$T" --progress --json >"$OUT/e2e-noise.json" || exit 1
	cp "$OUT/e2e-noise.json" "$W/noise.json"
fi
cat "$OUT/e2e-noise.json"

if ! done_step prove; then
	rm -rf "$W/miner" "$W/bundle" "$W/bundle.held" "$W"/bundle.work.* "$W/miner.key"
	"$K" keygen --out "$W/miner.key" >/dev/null || exit 1
	git clone -q "$W/state/recipe" "$W/miner" || exit 1
	if [ "$PATCH" = gelu-erf ]; then
		# a miner: the king's CUDA part with the exact GELU
		git -C "$W/miner" apply "$PWD/bench/gpu/e2e-gelu-erf.diff" || {
			say "FAIL: bench/gpu/e2e-gelu-erf.diff does not apply to the king"
			exit 2
		}
		echo "The exact GELU, x Phi(x), in the CUDA part's GELU kernels (cuda/gk_kernels.cu) in place of the tanh approximation: the function the GELU paper defines, at the cost of an erf per element in a kernel that is bound by memory, and of the products' fused GELU epilogue (cuBLASLt's is the tanh form), so cuda/gg.c runs the kernels again." >"$W/rationale.md"
	else
		# a miner: the king's recipe with a higher learning rate
		sed -i "s/$STEPS, $WARMUP, $CKPT, $LR }/$STEPS, $WARMUP, $CKPT, $LR_HIGH }/" "$W/miner/config.c"
		echo "A short schedule learns faster with a higher peak learning rate." >"$W/rationale.md"
	fi
	git -C "$W/miner" diff >"$W/patch.diff"
	[ -s "$W/patch.diff" ] || { say "FAIL: the patch is empty"; exit 2; }
	say "the patch ($PATCH): $(git -C "$W/miner" diff --stat | tail -1)"
	# --hold is the default at the gpu-* scales; said here so that a
	# rehearsal holds them too
	step "prove the patch (${DEVICE[*]:-on the CPU}), its checkpoints held back" \
		"$K" prove --recipe "$W/state/recipe" --king recipe-v0.1.0 --patch "$W/patch.diff" \
		--rationale "$W/rationale.md" --key "$W/miner.key" --data "$DATA" --scale "$SCALE" \
		--out "$W/bundle" ${DEVICE[@]+"${DEVICE[@]}"} --hold --mock-attestation --threads "$T" --progress --json >"$OUT/e2e-prove.json" ||
		exit 1
	cp "$OUT/e2e-prove.json" "$W/prove.json"
fi
cat "$OUT/e2e-prove.json"
du -sh "$W/bundle" "$W/bundle.held" 2>/dev/null
# the proof holds its checkpoints back (the default at the gpu-* scales):
# the judge copies in the ones its draws need from bundle.held
step "judge it: hidden evaluation and replay (on the proof's device), sandboxed" \
	"$K" judge "$W/state" "$W/bundle" --held "$W/bundle.held" --threads "$T" --progress --json >"$OUT/e2e.json"
rc=$?
cat "$OUT/e2e.json"
"$K" validator status "$W/state"
df -h "$W" | tail -1 >&2
exit $rc
