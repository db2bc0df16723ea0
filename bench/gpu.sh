#!/usr/bin/env bash
# gpu.sh: the GPU issue's prepared check (docs/gpu.md). Two halves:
#
#   bash bench/gpu.sh --pack     here, on a machine with the CUDA toolkit:
#                                builds `make gpu`, and gathers into .gpu/ the
#                                binaries, the few shared libraries a bare GPU
#                                machine may lack, and Brown in GPT-2 tokens,
#                                and packs it as .gpu.tar.xz (the one file
#                                to carry over).
#   bash bench/gpu.sh [OUTDIR]   on the GPU machine, with .gpu/ beside it:
#                                the GPU tests, the throughput benchmark with
#                                its determinism check, and the PyTorch peer on
#                                the same GPU; logs and OUTDIR/gpu-results.txt.
#
# Every stage has its own time limit and the script goes on after a failure,
# so one run reports everything; the exit status says whether all passed.
# GPU_DEADLINE (seconds, default 540) bounds the whole run; GPU_STAGES
# (names, space-separated) runs only those stages; GPU_SKIP_TORCH=1 leaves
# out the PyTorch peer. GPU_STAGES=e2e runs bench/gpu_e2e.sh (a GPU proof
# and its judgment at gpu-125m, minutes) and GPU_STAGES=miner runs
# bench/gpu_miner.sh (a miner against a validator service), which no other
# run includes. GPU_REHEARSE=1 GPU_STAGES="e2e miner" runs those two at
# tiny on the CPU from the same pack, on the build machine: the pack and
# the stages' wiring checked before GPU time is spent on them.
set -u
cd "$(dirname "$0")/.."
PACK=.gpu

if [ "${1:-}" = "--pack" ]; then
	set -e
	BUILD=${BUILD:-build-gpu}
	make BUILD="$BUILD" -j"$(nproc)" gpu "$BUILD/karpa"
	rm -rf "$PACK" && mkdir -p "$PACK/bin" "$PACK/lib" "$PACK/data"
	cp "$BUILD"/gpu/tests/gpu/test_* "$BUILD"/gpu/bench/gpu/bench_gpu "$BUILD"/gpu/bench/gpu/systrace \
		"$BUILD/karpa-recipe-cuda" "$BUILD/karpa-gpucalib" \
		"$BUILD/karpa" "$PACK/bin/"
	rm -f "$PACK"/bin/*.o "$PACK"/bin/*.d
	# shared libraries outside the C runtime and the CUDA libraries, which the
	# GPU machine's own toolkit provides
	for b in "$PACK"/bin/*; do
		ldd "$b" | awk '$3 ~ /^\// {print $3}'
	done | sort -u | grep -Ev '/(libc|libm|libdl|librt|libpthread|ld-linux[^/]*|libstdc\+\+|libgcc_s|libcublas[^/]*|libcuda)\.so' |
		while read -r lib; do cp -L "$lib" "$PACK/lib/"; done
	"$BUILD/karpa" data prepare --scale gpu-125m --out "$PACK/data/brown" --hidden-out "$PACK/data/brown-hidden" \
		>/dev/null
	# what a validator on the GPU machine builds a patched recipe with
	# (bench/gpu_e2e.sh): the nvcc karpa was built with, and the headers and
	# link names of the libraries the runner links that a bare machine lacks
	echo "nvcc $(make -s --no-print-directory print-NVCC)" >"$PACK/toolchain.txt"
	mkdir -p "$PACK/sysroot/include" "$PACK/sysroot/lib"
	cp -r /usr/include/seccomp.h /usr/include/seccomp-syscalls.h /usr/include/sodium.h /usr/include/sodium \
		"$PACK/sysroot/include/"
	for l in seccomp sodium; do
		cp -L "$(gcc -print-file-name="lib$l.so")" "$PACK/sysroot/lib/lib$l.so"
	done
	# tiny with its hidden split: what a rehearsal of the e2e and miner
	# stages on a CPU runs (GPU_REHEARSE=1, below)
	"$BUILD/karpa" data prepare --scale tiny --out "$PACK/data/tiny" --hidden-out "$PACK/data/tiny-hidden" >/dev/null
	# the GPU runner as a validator builds it from a recipe folder
	# (recipe_build_cuda); training fails here, without a GPU, after the build
	cache=$(mktemp -d)
	KARPA_CACHE="$cache" "$BUILD/karpa" train --scale tiny --data "$PACK/data/tiny" --seed 1 \
		--out "$cache/run" --device cuda >/dev/null 2>&1 || true
	cp "$(ls "$cache"/recipes/*/karpa-recipe-cuda | head -1)" "$PACK/bin/karpa-recipe-cuda-built"
	rm -rf "$cache"
	# what travels to the GPU machine is size-limited: carry the archive
	tar -cf - "$PACK" | xz -9 -T2 >"$PACK.tar.xz"
	du -sh "$PACK" "$PACK.tar.xz"; ls "$PACK/bin" "$PACK/lib"
	exit 0
fi

if [ ! -d "$PACK/bin" ] && [ -f "$PACK.tar.xz" ]; then
	tar -xJf "$PACK.tar.xz" 2>/dev/null ||
		python3 -c "import tarfile; tarfile.open('$PACK.tar.xz').extractall('.')" || exit 2
fi

OUT=${1:-gpu-out}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
RES="$OUT/gpu-results.txt"
: >"$RES"
# our binaries find the packed libraries first; PyTorch keeps its own environment
OURLIB="$PWD/$PACK/lib:${LD_LIBRARY_PATH:-}"
export PYTHONUNBUFFERED=1
BROWN=$(ls "$PACK"/data/brown/*train*.bin 2>/dev/null | head -1)
start=$(date +%s)
DEADLINE=${GPU_DEADLINE:-540}
fails=()

LOG="$OUT/gpu.log"
: >"$LOG"
note() { echo "$*" | tee -a "$RES"; }
# stage NAME LIMIT_S COMMAND...: runs one stage into the one log (the GPU
# machine hands back only a few files), records its status
stage() {
	local name=$1 limit=$2 t0 rc tmp left
	shift 2
	# GPU_STAGES="a b ...": run only these (a quick rerun of a few stages);
	# e2e and miner take minutes and run only when named
	if [ -n "${GPU_STAGES:-}" ] && [[ " $GPU_STAGES " != *" $name "* ]]; then
		return
	fi
	if [ -z "${GPU_STAGES:-}" ] && { [ "$name" = e2e ] || [ "$name" = miner ]; }; then
		return
	fi
	t0=$(date +%s)
	# the whole script keeps inside GPU_DEADLINE seconds: a stage gets what is left
	left=$(( DEADLINE - (t0 - start) ))
	if [ "$left" -lt 15 ]; then
		note "$name: SKIPPED (${left}s left of ${DEADLINE}s)"
		fails+=("$name(skipped)")
		return
	fi
	[ "$limit" -gt "$left" ] && limit=$left
	tmp=$(mktemp)
	echo "== $name (limit ${limit}s, at +$((t0 - start))s)" | tee -a "$LOG"
	timeout "$limit" "$@" >"$tmp" 2>&1
	rc=$?
	cat "$tmp" >>"$LOG"
	tail -n 30 "$tmp"
	# rc 3: the stage could not run here and says why (bench/gpu_e2e.sh)
	note "$name: $([ $rc -eq 0 ] && echo PASS || { [ $rc -eq 3 ] && echo "SKIPPED rc=3"; } || echo "FAIL rc=$rc") ($(( $(date +%s) - t0 ))s)"
	grep -h '^bench \|^determinism \|rel err\|mean |bf16\|^   wte:\|^FAIL\|^   sandbox\|^   losses\|bit-identical\|^ERROR\|^gpucalib' "$tmp" >>"$RES" || true
	rm -f "$tmp"
	[ $rc -eq 0 ] || fails+=("$name")
}
# cuBLASLt comes from the GPU machine's toolkit, or from PyTorch's wheels
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
	$(python3 -c 'import nvidia.cublas, os; print(os.path.dirname(nvidia.cublas.__file__) + "/lib")' 2>/dev/null); do
	[ -e "$d/libcublasLt.so.13" ] && OURLIB="$OURLIB:$d"
done

note "gpu.sh $(date -u +%FT%TZ)"
if command -v nvidia-smi >/dev/null; then
	nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader | sed 's/^/gpu: /' | tee -a "$RES"
else
	note "gpu: none here (no nvidia-smi)${GPU_REHEARSE:+; GPU_REHEARSE=$GPU_REHEARSE}"
fi
[ -d "$PACK/bin" ] || { note "no $PACK/bin: run 'bash bench/gpu.sh --pack' on the build machine first"; exit 2; }
note "toolchain: cc $(command -v cc >/dev/null && cc --version | head -1 || echo absent); nvcc $(
	n=$(sed -n 's/^nvcc //p' "$PACK/toolchain.txt" 2>/dev/null); [ -x "$n" ] && "$n" --version | grep -o 'release [^,]*' || echo "absent (${n:-?})")"

# in order of what matters most if time runs out
KARPA_GK_BENCH=1 stage kernels 45 env LD_LIBRARY_PATH="$OURLIB" "$PACK/bin/test_gk_kernels"
stage gemm 75 env LD_LIBRARY_PATH="$OURLIB" "$PACK/bin/test_gm"
# the recorded algorithms pinned again: the same bits, and bogus pins refused
stage gemm-pin 75 env LD_LIBRARY_PATH="$OURLIB" KARPA_CUDA_RUNNER="$PWD/$PACK/bin/karpa-recipe-cuda" \
	"$PACK/bin/test_gemm_pin"
KARPA_GK_BENCH=1 stage attention 90 env LD_LIBRARY_PATH="$OURLIB" "$PACK/bin/test_gk_attn"
# the model runs on the fastest attention path that passed its test: wmma
# when only mma checks failed, plain otherwise (a crash prints no FAIL line)
if [[ " ${fails[*]:-} " == *" attention "* ]]; then
	attn_fails=$(sed -n '/^== attention /,/^== /p' "$LOG" | grep '^FAIL ' || true)
	if [ -n "$attn_fails" ] && ! grep -qv 'path=mma' <<<"$attn_fails"; then
		export KARPA_GPU_ATTN=wmma
	else
		export KARPA_GPU_ATTN=plain
	fi
	note "attention failed: the model runs the $KARPA_GPU_ATTN attention path (KARPA_GPU_ATTN=$KARPA_GPU_ATTN)"
fi
# the GPU calibration (docs/calibration.md): the harness's bf16 8192^3 GEMM
# timed twice; its median on the reference H100 is CALIB_GPU_REF_MS
KARPA_GPUCALIB="$PWD/$PACK/bin/karpa-gpucalib" stage gpucalib 60 env LD_LIBRARY_PATH="$OURLIB" "$PACK/bin/test_gpucalib"
KARPA_GPU_OUT="$OUT" KARPA_GPU_TOKENS="$BROWN" stage parity 90 env LD_LIBRARY_PATH="$OURLIB" "$PACK/bin/test_gpu_parity"
stage karpa-125m 60 env LD_LIBRARY_PATH="$OURLIB" "$PACK/bin/bench_gpu" --scale gpu-125m --batch 16 --steps 20 --warmup 3 --tokens "$BROWN" --twice
if [ "${GPU_SKIP_TORCH:-0}" != 1 ]; then
	stage torch-125m 75 python3 bench/gpu_torch.py --scale gpu-125m --batch 16 --steps 30 --warmup 3 --tokens "$BROWN"
fi
stage karpa-254m 45 env LD_LIBRARY_PATH="$OURLIB" "$PACK/bin/bench_gpu" --scale gpu-254m --batch 16 --steps 20 --warmup 3 --tokens "$BROWN" --twice
if [ "${GPU_SKIP_TORCH:-0}" != 1 ]; then
	stage torch-254m 75 python3 bench/gpu_torch.py --scale gpu-254m --batch 16 --steps 30 --warmup 3 --tokens "$BROWN"
fi
# the CUDA runner under the validator's sandbox, GPU profile, against the
# same runner unsandboxed, all of it traced from outside the sandbox: a
# call the profile refuses shows as "-> EACCES" (or EPERM, or EFBIG for the
# file-size limit) in the trace, whose table also counts every call's
# errors; a seccomp kill names its system call in the kernel log
stage gpu-sandbox 90 env LD_LIBRARY_PATH="$OURLIB" KARPA_CUDA_RUNNER="$PWD/$PACK/bin/karpa-recipe-cuda" \
	"$PACK/bin/systrace" "$OUT/systrace-sandbox.txt" "$PACK/bin/test_gpu_sandbox"
grep -E -- '-> E' "$OUT/systrace-sandbox.txt" 2>/dev/null | grep -Ev 'ENOENT|futex -> EAGAIN' | sed 's/^/gpu-sandbox refused: /' |
	tee -a "$RES" "$LOG"
if [[ " ${fails[*]:-} " == *" gpu-sandbox "* ]]; then
	dmesg 2>/dev/null | grep -iE 'seccomp|audit.*syscall|landlock' | tail -n 8 | sed 's/^/gpu-sandbox kernel log: /' |
		tee -a "$RES" "$LOG"
fi
# what the GPU runner asks of the kernel (for its sandbox profile): a tiny
# training run, fp32 on the GPU, with the runner under the tracer. This
# stage and the next run the runner outside the sandbox (--no-sandbox):
# KARPA_RUNNER names a CPU runner to karpa, whose sandbox then takes the
# CPU profile, which has no GPU device in it, so a GPU runner there dies
# at create (recipe.died); the sandboxed GPU runner is gpu-sandbox's and
# the e2e's to check
printf '#!/bin/sh\nexec "%s" "%s" "%s" "$@"\n' "$PWD/$PACK/bin/systrace" \
	"$OUT/systrace-cuda-runner.txt" "$PWD/$PACK/bin/karpa-recipe-cuda" >/tmp/karpa-traced-runner
chmod +x /tmp/karpa-traced-runner
rm -rf /tmp/karpa-gpu-tiny
stage systrace 60 env LD_LIBRARY_PATH="$OURLIB" KARPA_RUNNER=/tmp/karpa-traced-runner \
	"$PACK/bin/karpa" train --scale tiny --data "$PACK/data/tiny" --seed 1 --out /tmp/karpa-gpu-tiny --no-sandbox
# the runner built from the recipe folder trains tiny to the same final
# checkpoint as the Makefile's (the systrace stage's run)
rm -rf /tmp/karpa-gpu-tiny-built
stage built-runner 60 env LD_LIBRARY_PATH="$OURLIB" KARPA_RUNNER="$PWD/$PACK/bin/karpa-recipe-cuda-built" \
	"$PACK/bin/karpa" train --scale tiny --data "$PACK/data/tiny" --seed 1 --out /tmp/karpa-gpu-tiny-built \
	--no-sandbox
for d in /tmp/karpa-gpu-tiny /tmp/karpa-gpu-tiny-built; do
	[ -f "$d/final.ckpt" ] && note "tiny final.ckpt $(sha256sum "$d/final.ckpt" | cut -c1-16) ($d)"
done
# the harness with the GPU runner: a miner's whole training run at
# gpu-125m (data order, log, checkpoints, val_bpb on the first 64K val
# targets: the harness scores full logits, 13 GB of them at this size)
TRAIN=/tmp/karpa-gpu-train
rm -rf "$TRAIN"
stage train-125m 150 env LD_LIBRARY_PATH="$OURLIB" KARPA_RUNNER="$PWD/$PACK/bin/karpa-recipe-cuda" \
	"$PACK/bin/karpa" train --scale gpu-125m --data "$PACK/data/brown" --seed 1 --out "$TRAIN" \
	--eval-tokens 65536 --progress
if [ -f "$TRAIN/result.json" ]; then
	sed 's/^/train-125m result: /' "$TRAIN/result.json" | tee -a "$RES"
	ls -l "$TRAIN" "$TRAIN"/checkpoints 2>/dev/null | tail -n 14 | tee -a "$LOG"
fi
# the fc layer's GELU in separate kernels (gg.h, GG_GELU_KERNEL), the path a
# GELU without a cuBLASLt epilogue takes, against the recipe's epilogues
# (karpa-254m above): its speed in the same run, then the parity test with it
stage karpa-254m-kernels 45 env LD_LIBRARY_PATH="$OURLIB" "$PACK/bin/bench_gpu" --scale gpu-254m --batch 16 --steps 20 --warmup 3 --tokens "$BROWN" --gelu kernel --twice
KARPA_GPU_GELU=kernel KARPA_GPU_TOKENS="$BROWN" stage parity-kernels 90 env LD_LIBRARY_PATH="$OURLIB" "$PACK/bin/test_gpu_parity"
# a GPU proof and its judgment at gpu-125m, end to end: its own call,
# GPU_DEADLINE=590 GPU_STAGES=e2e (the script clears its old results)
stage e2e 585 env LD_LIBRARY_PATH="$OURLIB" bash bench/gpu_e2e.sh "$PACK" "$OUT"
[[ " ${GPU_STAGES:-} " == *" e2e "* ]] && for f in e2e-noise.json e2e-prove.json e2e.json; do
	[ -s "$OUT/$f" ] && sed "s/^/$f: /" "$OUT/$f" | tr -d '\n' | cut -c1-1500 | tee -a "$RES" && echo | tee -a "$RES"
done
# a miner at gpu-125m against a validator service with a noise floor on
# loopback (e2e's, when it ran before on this host): its own command too,
# GPU_DEADLINE=590 GPU_STAGES=miner (MINER_MINUTES, default 3)
stage miner 585 env LD_LIBRARY_PATH="$OURLIB" bash bench/gpu_miner.sh "$PACK" "$OUT"
note "total $(( $(date +%s) - start ))s; failed: ${fails[*]:-none}"
[ ${#fails[@]} -eq 0 ]
