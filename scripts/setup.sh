#!/usr/bin/env bash
# Installs what building and testing zmqpool needs on a Debian machine and
# skips what is already there: libzmq3-dev (the reference libzmq), a C/C++
# toolchain, pkg-config, valgrind, and cbindgen at the pinned version.
set -euo pipefail

CBINDGEN_VERSION=0.29.4
packages=(libzmq3-dev pkg-config gcc g++ make valgrind patchelf)
# `--bench`: also the allocators the benchmarks compare against.
if [ "${1:-}" = "--bench" ]; then
  packages+=(libmimalloc2.0 libjemalloc2 python3)
fi

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

if ! cbindgen --version 2>/dev/null | grep -q " ${CBINDGEN_VERSION}$"; then
  cargo install --locked --quiet cbindgen --version "$CBINDGEN_VERSION"
fi
rustup component list --installed 2>/dev/null | grep -q clippy || rustup component add clippy rustfmt
echo "setup: libzmq $(pkg-config --modversion libzmq), $(cbindgen --version), $(valgrind --version)"
