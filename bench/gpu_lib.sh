# gpu_lib.sh: what bench/gpu_e2e.sh and bench/gpu_miner.sh share, sourced
# by both on the GPU host: their arguments, the toolchain a recipe build
# needs there, and the short king they start from. Each function says what
# it sets; a failure exits the script with the status gpu.sh reads (2: a
# usage or setup error, 3: the stage cannot run on this host).

# A rehearsal (GPU_REHEARSE=1, gpu_scale below) works in its own default
# folders, so that a real run on the same host never picks up its tiny
# validator.
GPU_TAG=
[ "${GPU_REHEARSE:-0}" = 1 ] && GPU_TAG=-rehearsal

# gpu_args SCRIPT PACK OUT: sets PACK and OUT (absolute), K (the packed
# karpa), and moves to the repository root (the recipe's and the harness's
# sources, KARPA_SRC).
gpu_args() {
	if [ $# -ne 3 ] || [ ! -d "$2" ]; then
		echo "usage: bash bench/$1 PACK OUT (PACK: the unpacked .gpu folder)" >&2
		exit 2
	fi
	PACK=$(cd "$2" && pwd) || exit 2
	mkdir -p "$3" && OUT=$(cd "$3" && pwd) || exit 2
	cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
	K="$PACK/bin/karpa"
}

# gpu_scale: what the scripts run at, in SCALE, DEVICE (prove's device
# flags, an array), DATA and HIDDEN (the token shards), and the recipe's row
# for the scale (ROW, ROW_HEAD: its shape, WARMUP, LR and LR_HIGH: the lr
# patch's) and E2E_PATCH_DEFAULT. On the GPU host: gpu-125m on cuda, Brown
# in GPT-2 tokens, the kernel patch. A rehearsal proves the lr patch: a
# change to the CUDA part is refused at a CPU scale (patch.untested_part).
# GPU_REHEARSE=1: the same steps at tiny on the CPU, from a pack that holds
# bin/karpa and data/tiny{,-hidden} (tests/test_gpu_scripts.c makes one),
# so that a machine without a GPU checks the scripts' plumbing (every
# command, flag and file they hand on) before GPU time is spent on them.
gpu_scale() {
	if [ "${GPU_REHEARSE:-0}" = 1 ]; then
		SCALE=tiny DEVICE=() DATA=$PACK/data/tiny HIDDEN=$PACK/data/tiny-hidden
		ROW='{ "tiny", 64, 2, 2, 64, 4, 30, 5, 10, 3e-3f }' ROW_HEAD='"tiny", 64, 2, 2, 64, 4'
		WARMUP=5 LR=3e-3f LR_HIGH=4.5e-3f E2E_PATCH_DEFAULT=lr
	else
		SCALE=gpu-125m DEVICE=(--device cuda) DATA=$PACK/data/brown HIDDEN=$PACK/data/brown-hidden
		ROW='{ "gpu-125m", 768, 12, 12, 1024, 16, 300, 30, 38, 6e-4f }' ROW_HEAD='"gpu-125m", 768, 12, 12, 1024, 16'
		WARMUP=8 LR=6e-4f LR_HIGH=9e-4f E2E_PATCH_DEFAULT=gelu-erf
	fi
}

# gpu_toolchain WHO CACHE: a recipe build on this host needs a C and a C++
# compiler and the nvcc karpa was built with (the pack's toolchain.txt);
# without them says what is missing (WHO builds the recipe) and exits 3.
# Then points the compilers at the pack's headers and link names
# (sysroot/) and karpa at the sources and its build cache. A rehearsal
# builds the CPU part only: a C compiler is enough.
gpu_toolchain() {
	local nvcc missing=
	gpu_scale
	nvcc=$(sed -n 's/^nvcc //p' "$PACK/toolchain.txt" 2>/dev/null)
	command -v cc >/dev/null || missing="$missing a C compiler (cc);"
	if [ "${GPU_REHEARSE:-0}" != 1 ]; then
		command -v g++ >/dev/null || missing="$missing a C++ compiler (g++, nvcc's host compiler);"
		[ -n "$nvcc" ] && [ -x "$nvcc" ] || missing="$missing nvcc at '${nvcc:-?}';"
	fi
	if [ -n "$missing" ]; then
		say "SKIPPED: $1 builds the recipe, and this host lacks$missing"
		exit 3
	fi
	if [ "${GPU_REHEARSE:-0}" = 1 ]; then
		say "REHEARSAL at $SCALE on the CPU (GPU_REHEARSE=1): $(cc --version | head -1)"
	else
		say "toolchain: $(cc --version | head -1); $("$nvcc" --version | grep -o 'release [^,]*')"
	fi
	export CPATH="$PACK/sysroot/include${CPATH:+:$CPATH}"
	export LIBRARY_PATH="$PACK/sysroot/lib${LIBRARY_PATH:+:$LIBRARY_PATH}"
	export KARPA_SRC=$PWD KARPA_CACHE="$2"
}

# gpu_short_king DIR STEPS CKPT: the project's recipe in DIR with the
# scale's row (gpu_scale) shortened to STEPS steps, a checkpoint every CKPT
# (a gpu-125m checkpoint is 1.5 GB, and every run keeps at least eight).
gpu_short_king() {
	rm -rf "$1" && cp -r recipe "$1" || exit 2
	sed -i "s/$ROW/{ $ROW_HEAD, $2, $WARMUP, $3, $LR }/" "$1/config.c"
	grep -q "{ $ROW_HEAD, $2, $WARMUP, $3, $LR }" "$1/config.c" || {
		say "FAIL: recipe/config.c's $SCALE row is not the one this script shortens ($ROW)"
		exit 2
	}
}
