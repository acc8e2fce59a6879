#!/usr/bin/env bash
# Installs what building and testing zmqpool needs on a Debian 12 machine
# that has Rust (from rustup: Debian's rustc is older than the crate's
# rust-version), and skips what is already there.
#
#   setup.sh                  libzmq3-dev (the reference libzmq), the real
#                             clients the tests use (cppzmq-dev, libczmq-dev),
#                             a C/C++ toolchain, pkg-config, valgrind,
#                             patchelf, python3 with venv (pyzmq from PyPI),
#                             clippy and rustfmt, and
#                             cbindgen at the pinned version
#   setup.sh --bench          also Debian's mimalloc and jemalloc (baselines)
#   setup.sh --libzmq-source  also what building Debian's libzmq from its
#                             source package needs (make check-libzmq): the
#                             deb-src entry, autotools, libzmq's build deps
set -euo pipefail

CBINDGEN_VERSION=0.29.4
packages=(libzmq3-dev libczmq-dev cppzmq-dev pkg-config gcc g++ make valgrind patchelf python3 python3-venv)
source_packages=false
case "${1:-}" in
  --bench) packages+=(libmimalloc2.0 libjemalloc2) ;;
  --libzmq-source)
    source_packages=true
    packages+=(dpkg-dev autoconf automake libtool libpgm-dev libsodium-dev libnorm-dev
               libkrb5-dev libbsd-dev) ;;
  "") ;;
  *) echo "setup.sh: unknown option $1" >&2; exit 2 ;;
esac

# Root runs apt-get itself; anyone else needs sudo.
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 ||
    { echo "setup.sh: not root and no sudo: install ${packages[*]} as root" >&2; exit 1; }
  as_root=(sudo)
fi

apt_updated=false
apt_update() {
  $apt_updated || "${as_root[@]}" apt-get update -qq
  apt_updated=true
}

# apt-get source needs a deb-src entry; Debian 12 ships without one.
if $source_packages && ! grep -rqs '^Types:.*deb-src\|^deb-src ' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "setup.sh: adding a deb-src entry for bookworm (/etc/apt/sources.list.d/zmqpool-deb-src.sources)"
  printf '%s\n' 'Types: deb-src' 'URIs: http://deb.debian.org/debian' 'Suites: bookworm' \
    'Components: main' 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' |
    "${as_root[@]}" tee /etc/apt/sources.list.d/zmqpool-deb-src.sources >/dev/null
  apt_update
fi

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt_update
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

command -v cargo >/dev/null 2>&1 ||
  { echo "setup.sh: cargo not found: install Rust with rustup (https://rustup.rs)" >&2; exit 1; }
for component in clippy rustfmt; do
  rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
done
if ! cbindgen --version 2>/dev/null | grep -q " ${CBINDGEN_VERSION}$"; then
  cargo install --locked --quiet cbindgen --version "$CBINDGEN_VERSION"
fi
echo "setup: libzmq $(pkg-config --modversion libzmq), czmq $(pkg-config --modversion libczmq)," \
  "$(cbindgen --version), $(valgrind --version)"
