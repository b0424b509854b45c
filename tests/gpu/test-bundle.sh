#!/usr/bin/env bash
# CI test of the GPU check (meson test 'gpu-bundle', suite 'gpu-bundle'):
# makes the bundle from this build (tests/gpu/bundle.sh), then runs its
# run.sh the way a bare GPU machine would, here without a GPU: in a chroot
# that holds the bundle and nothing else but glibc (the loader, libc, libm,
# libpthread, libdl, librt), bash and the coreutils run.sh uses. No GLib,
# no GStreamer, no libstdc++, no /usr/local/cuda, no driver. So every
# library the programs and plugins load must come from the bundle, and the
# GPU steps must skip with their "no usable GPU" reason while everything
# else passes. Needs root (chroot, a mount namespace for /proc); no network.
#
# Usage: test-bundle.sh --build-dir DIR --work DIR [--cuda-backend yes|no]
# Exit 77 (skip) only when a prerequisite is missing: nvcc, a build with
# the CUDA backend, root, chroot/unshare.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD="" WORK="" CUDA_BACKEND=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) BUILD="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    --cuda-backend) CUDA_BACKEND="$2"; shift 2 ;;
    *) echo "test-bundle.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[ -n "$BUILD" ] && [ -n "$WORK" ] || { echo "usage: $0 --build-dir DIR --work DIR" >&2; exit 2; }

skip() { echo "SKIP: $*"; exit 77; }
if ! command -v nvcc >/dev/null && [ ! -x /usr/local/cuda/bin/nvcc ]; then
  skip "nvcc is not installed (neither on PATH nor /usr/local/cuda/bin): no CUDA build to bundle"
fi
[ "$CUDA_BACKEND" = no ] && skip "this build has no CUDA backend (configured with -Dcuda=disabled, or nvcc was missing then)"
[ "$(id -u)" -eq 0 ] || skip "the bare-machine run needs root (chroot, mount namespace)"
for tool in chroot unshare mount ldd objdump; do
  command -v "$tool" >/dev/null || skip "$tool is not installed"
done
unshare -m true 2>/dev/null || skip "cannot create a mount namespace here (unshare -m failed)"

t_start=$SECONDS
rm -rf "$WORK"
mkdir -p "$WORK"
ROOTFS="$WORK/root"
BUNDLE="$ROOTFS/repo/.gpu-bundle"

"$HERE/bundle.sh" --build-dir "$BUILD" --out "$BUNDLE"

# The bare machine: glibc, bash and the coreutils run.sh needs. Only glibc
# (and bash's libtinfo, which nothing in the bundle uses) go to the system
# library folders: a tool that needs more (mkdir: libselinux, libpcre2,
# which GLib needs too) runs through a wrapper that hands its own libraries
# to the loader, so that they cannot stand in for missing bundle libraries.
glibc_libs=()
for name in libc.so.6 libm.so.6 libpthread.so.0 libdl.so.2 librt.so.1; do
  for dir in /lib/x86_64-linux-gnu /lib64 /usr/lib/x86_64-linux-gnu /lib/aarch64-linux-gnu; do
    if [ -e "$dir/$name" ]; then glibc_libs+=("$dir/$name"); break; fi
  done
done
loader="$(ldd /bin/sh | awk '$1 ~ /^\// && /ld-linux/ {print $1}')"
copy_in() {
  [ -e "$ROOTFS$2" ] && return
  mkdir -p "$ROOTFS$(dirname "$2")"
  cp -L "$1" "$ROOTFS$2"
}
copy_in "$loader" "$loader"
for f in "${glibc_libs[@]}"; do copy_in "$f" "$f"; done
for t in bash env timeout date mkdir tee uname nproc cat rm getconf; do
  bin="$(command -v "$t")"
  own=()
  while read -r name arrow lib _; do
    [ "$arrow" = "=>" ] || continue
    case "$name" in
      libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*) ;;
      libtinfo.so.*) copy_in "$lib" "$lib" ;;
      *) own+=("$lib") ;;
    esac
  done < <(ldd "$bin")
  for d in /bin /usr/bin; do
    if [ ${#own[@]} -eq 0 ]; then
      copy_in "$bin" "$d/$t"
    else
      tooldir="/usr/libexec/bare-tools"
      copy_in "$bin" "$tooldir/$t"
      for l in "${own[@]}"; do copy_in "$l" "$tooldir/lib/$(basename "$l")"; done
      mkdir -p "$ROOTFS$d"
      printf '#!/bin/bash\nexec %s --library-path %s %s "$@"\n' \
        "$loader" "$tooldir/lib" "$tooldir/$t" > "$ROOTFS$d/$t"
      chmod +x "$ROOTFS$d/$t"
    fi
  done
done
mkdir -p "$ROOTFS/proc" "$ROOTFS/dev" "$ROOTFS/tmp" "$ROOTFS/out"
chmod 1777 "$ROOTFS/tmp"
mknod -m 666 "$ROOTFS/dev/null" c 1 3
mknod -m 666 "$ROOTFS/dev/zero" c 1 5
mknod -m 444 "$ROOTFS/dev/urandom" c 1 9

echo "bare root: $(du -sh "$ROOTFS" | cut -f1), of which the bundle $(du -sh "$BUNDLE" | cut -f1);" \
     "outside the bundle:"
(cd "$ROOTFS" && find . -path ./repo -prune -o -type f -print | sort | sed 's/^\./  /')

# run.sh, from the repository root, as on the GPU machine; OUT=/out
rc=0
unshare -m sh -c 'mount -t proc proc "$1/proc" && exec chroot "$1" /usr/bin/env -i \
    PATH=/usr/bin:/bin HOME=/tmp OUT=/out GPU_CHECK_QUICK=1 \
    /bin/bash -c "cd /repo && .gpu-bundle/run.sh"' sh "$ROOTFS" || rc=$?

echo
echo "=== checks of the bare run (exit status $rc)"
fails=0
check() {
  if eval "$2"; then echo "ok:   $1"; else echo "FAIL: $1"; fails=$((fails + 1)); fi
}
SUM="$ROOTFS/out/summary.txt"
LIBS="$ROOTFS/out/libraries.log"
check "run.sh exits 0" '[ "$rc" -eq 0 ]'
check "summary.txt written" '[ -s "$SUM" ]'
check "the last line counts no failure" 'tail -1 "$SUM" | grep -Eq "^[0-9]+ passed, 0 failed, [0-9]+ skipped$"'
for s in libraries kernel-emulation cpu-kernels bench-cpu; do
  check "step $s passes" "grep -Eq '^  $s +[0-9]+ s  ok\$' \"\$SUM\""
done
check "step cuda skips: no usable GPU" "grep -Eq '^  cuda +[0-9]+ s  SKIP: the CUDA tests need a usable CUDA device: .*no GPU is usable: no NVIDIA driver' \"\$SUM\""
check "step bench-cuda skips: no usable GPU" "grep -Eq '^  bench-cuda +[0-9]+ s  SKIP: bench-cuda: nothing measured: .*no GPU is usable' \"\$SUM\""
check "step nvidia-smi skips" "grep -Eq '^  nvidia-smi +[0-9]+ s  SKIP: nvidia-smi not found' \"\$SUM\""
# every library resolved from the bundle, or glibc's
check "every library from the bundle or glibc" \
  '! grep "=>" "$LIBS" | grep -Ev "=> /repo/\.gpu-bundle/lib(-fallback)?/|=> (/usr)?/lib(64)?/[^ ]*/?(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|ld-linux[^ ]*) " | grep .'
check "no library missing" '! grep -q "not found" "$LIBS"'
check "GLib and GStreamer loaded from the bundle" \
  'grep -q "libglib-2.0.so.0 => /repo/.gpu-bundle/lib/" "$LIBS" && grep -q "libgstreamer-1.0.so.0 => /repo/.gpu-bundle/lib/" "$LIBS"'

echo "gpu-bundle test: $((SECONDS - t_start)) s"
if [ "$fails" -gt 0 ]; then
  echo "$fails check(s) failed; the bare run's logs: $ROOTFS/out/"
  echo "0 passed, 1 failed"
  exit 1
fi
echo "1 passed, 0 failed"
