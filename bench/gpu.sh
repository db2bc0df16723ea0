#!/usr/bin/env bash
# gpu.sh: the GPU issue's prepared check (docs/gpu.md). Two halves:
#
#   bash bench/gpu.sh --pack     here, on a machine with the CUDA toolkit:
#                                builds `make gpu`, and gathers into .gpu/ the
#                                binaries, the few shared libraries a bare GPU
#                                machine may lack, and Brown in GPT-2 tokens.
#   bash bench/gpu.sh [OUTDIR]   on the GPU machine, with .gpu/ beside it:
#                                the GPU tests, the throughput benchmark with
#                                its determinism check, and the PyTorch peer on
#                                the same GPU; logs and OUTDIR/gpu-results.txt.
#
# Every stage has its own time limit and the script goes on after a failure,
# so one run reports everything; the exit status says whether all passed.
set -u
cd "$(dirname "$0")/.."
PACK=.gpu

if [ "${1:-}" = "--pack" ]; then
	set -e
	BUILD=${BUILD:-build-gpu}
	make BUILD="$BUILD" -j"$(nproc)" gpu "$BUILD/karpa"
	rm -rf "$PACK" && mkdir -p "$PACK/bin" "$PACK/lib" "$PACK/data"
	cp "$BUILD"/gpu/tests/gpu/test_* "$BUILD"/gpu/bench/gpu/bench_gpu "$BUILD/karpa-recipe-cuda" "$PACK/bin/"
	rm -f "$PACK"/bin/*.o "$PACK"/bin/*.d
	# shared libraries outside the C runtime and the CUDA libraries, which the
	# GPU machine's own toolkit provides
	for b in "$PACK"/bin/*; do
		ldd "$b" | awk '$3 ~ /^\// {print $3}'
	done | sort -u | grep -Ev '/(libc|libm|libdl|librt|libpthread|ld-linux[^/]*|libstdc\+\+|libgcc_s|libcublas[^/]*|libcuda)\.so' |
		while read -r lib; do cp -L "$lib" "$PACK/lib/"; done
	"$BUILD/karpa" data prepare --scale gpu-125m --out "$PACK/data/brown" >/dev/null
	du -sh "$PACK"; ls "$PACK/bin" "$PACK/lib"
	exit 0
fi

OUT=${1:-gpu-out}
mkdir -p "$OUT"
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
	note "$name: $([ $rc -eq 0 ] && echo PASS || echo "FAIL rc=$rc") ($(( $(date +%s) - t0 ))s)"
	grep -h '^bench \|^determinism \|rel err\|mean |bf16' "$tmp" >>"$RES" || true
	rm -f "$tmp"
	[ $rc -eq 0 ] || fails+=("$name")
}
# cuBLASLt comes from the GPU machine's toolkit, or from PyTorch's wheels
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
	$(python3 -c 'import nvidia.cublas, os; print(os.path.dirname(nvidia.cublas.__file__) + "/lib")' 2>/dev/null); do
	[ -e "$d/libcublasLt.so.13" ] && OURLIB="$OURLIB:$d"
done

note "gpu.sh $(date -u +%FT%TZ)"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader | sed 's/^/gpu: /' | tee -a "$RES"
[ -d "$PACK/bin" ] || { note "no $PACK/bin: run 'bash bench/gpu.sh --pack' on the build machine first"; exit 2; }

# in order of what matters most if time runs out
KARPA_GK_BENCH=1 stage kernels 45 env LD_LIBRARY_PATH="$OURLIB" "$PACK/bin/test_gk_kernels"
KARPA_GK_BENCH=1 stage attention 60 env LD_LIBRARY_PATH="$OURLIB" "$PACK/bin/test_gk_attn"
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
KARPA_GPU_OUT="$OUT" KARPA_GPU_TOKENS="$BROWN" stage parity 90 env LD_LIBRARY_PATH="$OURLIB" "$PACK/bin/test_gpu_parity"
stage karpa-125m 60 env LD_LIBRARY_PATH="$OURLIB" "$PACK/bin/bench_gpu" --scale gpu-125m --batch 16 --steps 20 --warmup 3 --tokens "$BROWN" --twice
if [ "${GPU_SKIP_TORCH:-0}" != 1 ]; then
	stage torch-125m 75 python3 bench/gpu_torch.py --scale gpu-125m --batch 16 --steps 30 --warmup 3 --tokens "$BROWN"
fi
stage karpa-254m 45 env LD_LIBRARY_PATH="$OURLIB" "$PACK/bin/bench_gpu" --scale gpu-254m --batch 16 --steps 20 --warmup 3 --tokens "$BROWN"
if [ "${GPU_SKIP_TORCH:-0}" != 1 ]; then
	stage torch-254m 75 python3 bench/gpu_torch.py --scale gpu-254m --batch 16 --steps 30 --warmup 3 --tokens "$BROWN"
fi
note "total $(( $(date +%s) - start ))s; failed: ${fails[*]:-none}"
[ ${#fails[@]} -eq 0 ]
