#!/usr/bin/env bash
# isa.sh: the recipe's state after a few tiny-scale steps, bit for bit, from
# three builds: x86-64 with the pinned AVX2 flags, x86-64 portable (plain C,
# KARPA_PORTABLE), and aarch64 portable, cross-compiled with Debian's
# gcc-aarch64-linux-gnu and run under qemu-user (docs/determinism.md).
# Prints each build's state digest; exits 1 if any differs, 2 if a tool is
# missing (scripts/setup.sh installs them).
# usage: tests/cross/isa.sh OUTDIR [STEPS]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:?usage: isa.sh OUTDIR [STEPS]}
steps=${2:-3}
mkdir -p "$out"
for tool in cc aarch64-linux-gnu-gcc qemu-aarch64 sha256sum; do
	command -v "$tool" >/dev/null || { echo "isa.sh: $tool is missing (run scripts/setup.sh)" >&2; exit 2; }
done
# The pinned flag sets come from the Makefile, the one place they live.
avx2_flags=$(make -s --no-print-directory print-RECIPE_FLAGS_AVX2)
portable_flags=$(make -s --no-print-directory print-RECIPE_FLAGS_PORTABLE)
common="-std=c11 -D_GNU_SOURCE -Isrc -Irecipe -Wall -Wextra -Werror -Wno-unused-parameter"
src="recipe/*.c tests/cross/digest.c"
# shellcheck disable=SC2086 # the flag strings are word lists
{
	cc $common $avx2_flags $src -o "$out/digest-x86_64-avx2" -lm
	cc $common $portable_flags $src -o "$out/digest-x86_64-portable" -lm
	aarch64-linux-gnu-gcc $common $portable_flags $src -o "$out/digest-aarch64-portable" -lm
}
run() {
	local name=$1
	shift
	local t0=$SECONDS
	"$@" "$out/$name.state" "$steps" >"$out/$name.log"
	printf '%-18s %s  (%ds)\n' "$name" "$(sha256sum <"$out/$name.state" | cut -c1-64)" $((SECONDS - t0))
}
run x86_64-avx2 "$out/digest-x86_64-avx2"
run x86_64-portable "$out/digest-x86_64-portable"
# The cross toolchain's own sysroot, whole: its loader with its libc, libm
# and libgomp. LD_LIBRARY_PATH keeps that loader from reaching past the
# sysroot into /lib/aarch64-linux-gnu, where a machine with Debian's arm64
# packages (scripts/setup.sh, for the whole aarch64 proof of
# tests/test_cross_isa.c) has another build of glibc: a loader of one
# build with the libc of the other was seen to run a 2-second step for
# minutes without ending (docs/determinism.md).
run aarch64-portable qemu-aarch64 -L /usr/aarch64-linux-gnu -E LD_LIBRARY_PATH=/lib "$out/digest-aarch64-portable"
rc=0
for name in x86_64-portable aarch64-portable; do
	if ! cmp -s "$out/x86_64-avx2.state" "$out/$name.state" || ! cmp -s "$out/x86_64-avx2.log" "$out/$name.log"; then
		echo "isa.sh: $name differs from x86_64-avx2" >&2
		diff "$out/x86_64-avx2.log" "$out/$name.log" >&2 || true
		rc=1
	fi
done
[ $rc -eq 0 ] && echo "isa.sh: $steps steps, every loss, lr and state byte equal on all three builds"
exit $rc
