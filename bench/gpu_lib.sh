# gpu_lib.sh: what bench/gpu_e2e.sh and bench/gpu_miner.sh share, sourced
# by both on the GPU host: their arguments, the toolchain a recipe build
# needs there, and the short king they start from. Each function says what
# it sets; a failure exits the script with the status gpu.sh reads (2: a
# usage or setup error, 3: the stage cannot run on this host).

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

# gpu_toolchain WHO CACHE: a recipe build on this host needs a C and a C++
# compiler and the nvcc karpa was built with (the pack's toolchain.txt);
# without them says what is missing (WHO builds the recipe) and exits 3.
# Then points the compilers at the pack's headers and link names
# (sysroot/) and karpa at the sources and its build cache.
gpu_toolchain() {
	local nvcc missing=
	nvcc=$(sed -n 's/^nvcc //p' "$PACK/toolchain.txt" 2>/dev/null)
	command -v cc >/dev/null || missing="$missing a C compiler (cc);"
	command -v g++ >/dev/null || missing="$missing a C++ compiler (g++, nvcc's host compiler);"
	[ -n "$nvcc" ] && [ -x "$nvcc" ] || missing="$missing nvcc at '${nvcc:-?}';"
	if [ -n "$missing" ]; then
		say "SKIPPED: $1 builds the recipe, and this host lacks$missing"
		exit 3
	fi
	say "toolchain: $(cc --version | head -1); $("$nvcc" --version | grep -o 'release [^,]*')"
	export CPATH="$PACK/sysroot/include${CPATH:+:$CPATH}"
	export LIBRARY_PATH="$PACK/sysroot/lib${LIBRARY_PATH:+:$LIBRARY_PATH}"
	export KARPA_SRC=$PWD KARPA_CACHE="$2"
}

# gpu_short_king DIR STEPS CKPT: the project's recipe in DIR with
# gpu-125m's row shortened to STEPS steps, a checkpoint every CKPT (a
# gpu-125m checkpoint is 1.5 GB, and every run keeps at least eight).
gpu_short_king() {
	rm -rf "$1" && cp -r recipe "$1" || exit 2
	sed -i "s/{ \"gpu-125m\", 768, 12, 12, 1024, 16, 300, 30, 38, 6e-4f }/{ \"gpu-125m\", 768, 12, 12, 1024, 16, $2, 8, $3, 6e-4f }/" \
		"$1/config.c"
	grep -q "\"gpu-125m\", 768, 12, 12, 1024, 16, $2, 8, $3," "$1/config.c" || {
		say "FAIL: recipe/config.c's gpu-125m row is not the one this script shortens"
		exit 2
	}
}
