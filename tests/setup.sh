#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks, then configures and builds
# gst-sharedmatrix in ./build, and exports the variables that use the
# plugin, library, typelib and Python overrides straight from the build tree.
# Sourced by examples/demo.sh and tests/run.sh, and by users
# (`source tests/setup.sh`): the strict part runs in a subshell, so the
# caller's shell options (set -e, pipefail, nounset) are left as they were
# and a failed step returns 1 instead of closing the terminal.

SHAREDMATRIX_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$SHAREDMATRIX_ROOT/build}"

DEBIAN_PACKAGES=(
  meson ninja-build pkg-config gcc libc6-dev
  libglib2.0-dev libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad
  gobject-introspection libgirepository1.0-dev gir1.2-gstreamer-1.0
  python3-gi python3-gst-1.0 python3-numpy python3-pytest
  valgrind clang-14 libclang-rt-14-dev gi-docgen nats-server libnats-dev
)

# The CUDA backend is built when nvcc is found (meson needs it on PATH).
if [ -x /usr/local/cuda/bin/nvcc ] && [[ ":$PATH:" != *":/usr/local/cuda/bin:"* ]]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi

# Installs those of the Debian packages named that are missing (also used
# by tests/bench/run.sh for what only the benchmark needs).
sm_install_debian () {
  local missing=() p SUDO=""
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "setup: installing ${missing[*]}"
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

(
  set -euo pipefail
  sm_install_debian "${DEBIAN_PACKAGES[@]}"

  if [ ! -f "$BUILD_DIR/build.ninja" ]; then
    meson setup "$BUILD_DIR" "$SHAREDMATRIX_ROOT" ${MESON_ARGS:-} >/dev/null
  fi
  ninja -C "$BUILD_DIR" >/dev/null
)
# (not `( … ) || …`: set -e is ignored inside a list tested with ||)
_sm_setup_status=$?
if [ "$_sm_setup_status" -ne 0 ]; then
  echo "setup: failed (see above)" >&2
  unset _sm_setup_status
  return 1 2>/dev/null || exit 1
fi
unset _sm_setup_status

# Use the plugin, library, typelib and Python overrides straight from the
# build tree (the same as `meson devenv -C build`).
export GST_PLUGIN_PATH="$BUILD_DIR/plugin/elements${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
export LD_LIBRARY_PATH="$BUILD_DIR/plugin/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export GI_TYPELIB_PATH="$BUILD_DIR/plugin/lib${GI_TYPELIB_PATH:+:$GI_TYPELIB_PATH}"
export PYTHONPATH="$SHAREDMATRIX_ROOT/plugin/python${PYTHONPATH:+:$PYTHONPATH}"
