#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks, then configures and builds
# gst-sharedmatrix in ./build. Sourced by examples/demo.sh and tests/run.sh.
set -euo pipefail

SHAREDMATRIX_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$SHAREDMATRIX_ROOT/build}"

DEBIAN_PACKAGES=(
  meson ninja-build pkg-config gcc libc6-dev
  libglib2.0-dev libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gobject-introspection libgirepository1.0-dev gir1.2-gstreamer-1.0
  python3-gi python3-gst-1.0 python3-numpy python3-pytest valgrind clang-14
  libclang-rt-14-dev gi-docgen nats-server libnats-dev
)

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The CUDA backend is built when nvcc is found (meson needs it on PATH).
if [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  meson setup "$BUILD_DIR" "$SHAREDMATRIX_ROOT" ${MESON_ARGS:-} >/dev/null
fi
ninja -C "$BUILD_DIR" >/dev/null

# Use the plugin, library and typelib straight from the build tree.
export GST_PLUGIN_PATH="$BUILD_DIR/plugin/elements${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
export LD_LIBRARY_PATH="$BUILD_DIR/plugin/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export GI_TYPELIB_PATH="$BUILD_DIR/plugin/lib${GI_TYPELIB_PATH:+:$GI_TYPELIB_PATH}"
